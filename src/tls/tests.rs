use super::*;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

fn self_signed(key: &PKey<Private>) -> Vec<u8> {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build().to_pem().unwrap()
}

fn rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn ec() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A TLS configuration with a fresh self-signed certificate (for other modules' tests).
pub(crate) fn test_tls() -> TlsConfig {
    let (cert, key) = super::self_signed(&["localhost", "127.0.0.1"], 2).unwrap();
    TlsConfig::from_pem(&cert, &key).unwrap()
}

#[test]
fn generated_certificate_names_the_hosts() {
    let (cert, key) = super::self_signed(&["localhost", "127.0.0.1", "::1"], 3).unwrap();
    let x = X509::from_pem(&cert).unwrap();
    let sans: Vec<String> = x
        .subject_alt_names()
        .unwrap()
        .iter()
        .map(|n| {
            n.dnsname()
                .map(str::to_string)
                .or_else(|| n.ipaddress().map(|b| format!("{b:?}")))
                .unwrap()
        })
        .collect();
    assert_eq!(sans.len(), 3, "{sans:?}");
    assert!(sans.contains(&"localhost".to_string()));
    assert!(x.not_after() > Asn1Time::days_from_now(2).unwrap());
    assert!(x.not_after() < Asn1Time::days_from_now(4).unwrap());
    TlsConfig::from_pem(&cert, &key).unwrap();
}

#[test]
fn pkcs8_key_is_accepted() {
    let key = rsa();
    let cert = self_signed(&key);
    let pem = key.private_key_to_pem_pkcs8().unwrap();
    assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    let t = TlsConfig::from_pem(&cert, &pem).unwrap();
    assert!(!t.implicit && !t.control_required && !t.data_required);
}

#[test]
fn pkcs1_rsa_key_is_converted() {
    let key = rsa();
    let cert = self_signed(&key);
    let pem = key.rsa().unwrap().private_key_to_pem().unwrap();
    assert!(pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    TlsConfig::from_pem(&cert, &pem).unwrap();
}

#[test]
fn sec1_ec_key_is_converted() {
    let key = ec();
    let cert = self_signed(&key);
    let pem = key.ec_key().unwrap().private_key_to_pem().unwrap();
    assert!(pem.starts_with(b"-----BEGIN EC PRIVATE KEY-----"));
    TlsConfig::from_pem(&cert, &pem).unwrap();
}

#[test]
fn key_inside_the_certificate_file() {
    let key = rsa();
    let mut both = key.private_key_to_pem_pkcs8().unwrap();
    both.extend_from_slice(&self_signed(&key));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.pem");
    std::fs::write(&path, &both).unwrap();
    TlsConfig::from_pem_files(&path, None).unwrap();
}

#[test]
fn missing_pieces_are_named() {
    let key = rsa();
    let cert = self_signed(&key);
    let err = TlsConfig::from_pem(&cert, &cert).unwrap_err();
    assert!(matches!(err, TlsError::NoKey(_)), "{err}");
    let pem = key.private_key_to_pem_pkcs8().unwrap();
    let err = TlsConfig::from_pem(&pem, &pem).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate(_)), "{err}");
    let err = TlsConfig::from_pem_files("/nonexistent/cert.pem".as_ref(), None).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn encrypted_key_is_refused_with_the_command_to_decrypt_it() {
    let key = rsa();
    let cert = self_signed(&key);
    let pem = key
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"secret")
        .unwrap();
    let err = TlsConfig::from_pem(&cert, &pem).unwrap_err();
    assert!(matches!(err, TlsError::EncryptedKey(_)), "{err}");
    assert!(err.to_string().contains("openssl pkey"), "{err}");
}

#[test]
fn key_that_does_not_match_the_certificate_is_refused() {
    let cert = self_signed(&rsa());
    let other = rsa().private_key_to_pem_pkcs8().unwrap();
    let err = TlsConfig::from_pem(&cert, &other).unwrap_err();
    assert!(matches!(err, TlsError::Invalid(_)), "{err}");
}

#[test]
fn pem_blocks_are_split_by_label() {
    let text = b"junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
-----BEGIN RSA PRIVATE KEY-----\nBBBB\n-----END RSA PRIVATE KEY-----\n";
    let certs = pem_blocks(text, |l| l == "CERTIFICATE");
    assert_eq!(certs.len(), 1);
    assert!(String::from_utf8_lossy(&certs[0]).contains("AAAA"));
    let keys = pem_blocks(text, |l| l.ends_with("PRIVATE KEY"));
    assert_eq!(keys.len(), 1);
    assert!(String::from_utf8_lossy(&keys[0]).contains("BBBB"));
}
