//! FTPS settings: the certificate, the key and the RFC 4217 policy.
//!
//! One [`TlsConfig`] holds one OpenSSL acceptor (through native-tls). Every
//! control and data channel of every session is accepted with it, so a data
//! connection can resume the TLS session of its control connection, as
//! FileZilla, lftp and curl expect.
//!
//! ```no_run
//! use ftpdlib::tls::TlsConfig;
//!
//! # fn main() -> Result<(), ftpdlib::tls::TlsError> {
//! // the key may also sit in the certificate file: pass None
//! let mut tls = TlsConfig::from_pem_files("cert.pem".as_ref(), Some("key.pem".as_ref()))?;
//! tls.control_required = true; // no USER/PASS before AUTH TLS
//! tls.data_required = true; // no PASV/PORT before PROT P
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::Path;

/// Why a certificate or key could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    Io(String, std::io::Error),
    /// No `CERTIFICATE` block in the certificate file.
    NoCertificate(String),
    /// No private key block in the key file (or in the certificate file when no key file is given).
    NoKey(String),
    /// The key is encrypted; the server cannot ask for a passphrase.
    EncryptedKey(String),
    /// OpenSSL refused the certificate or key.
    Invalid(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Io(p, e) => write!(f, "can't read {p}: {e}"),
            TlsError::NoCertificate(p) => {
                write!(f, "{p} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            TlsError::NoKey(p) => write!(
                f,
                "{p} holds no PEM private key (-----BEGIN PRIVATE KEY-----); give the key with --keyfile"
            ),
            TlsError::EncryptedKey(p) => write!(
                f,
                "the private key in {p} is encrypted; decrypt it with \
                 `openssl pkey -in {p} -out key.pem` and use key.pem"
            ),
            TlsError::Invalid(why) => write!(f, "unusable certificate or key: {why}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// FTPS configuration: the acceptor and the policy switches.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: native_tls::TlsAcceptor,
    /// USER and PASS are refused until the control connection is secured
    /// (pyftpdlib's `tls_control_required`).
    pub control_required: bool,
    /// PASV, EPSV, PORT and EPRT are refused until `PROT P`
    /// (pyftpdlib's `tls_data_required`).
    pub data_required: bool,
    /// Implicit FTPS: TLS from the first byte of every control connection
    /// (the `ftps://`, port 990 style) instead of `AUTH TLS`.
    pub implicit: bool,
    /// How long a TLS handshake may take, on the control connection (from
    /// `AUTH` or, in implicit mode, from the connect) and on each data
    /// connection; a peer that has not finished by then is disconnected.
    /// Default 30 s (proftpd's `TLSTimeoutHandshake` plays the same part).
    /// The control idle timeout also applies while a handshake runs.
    pub handshake_timeout: std::time::Duration,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("control_required", &self.control_required)
            .field("data_required", &self.data_required)
            .field("implicit", &self.implicit)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Load a PEM certificate (chain) and its private key. With `keyfile`
    /// `None` the key is looked for in `certfile`. PKCS#8, PKCS#1 (`RSA
    /// PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`) keys are accepted.
    ///
    /// # Errors
    /// [`TlsError::Io`] when a file cannot be read, else as [`TlsConfig::from_pem`].
    pub fn from_pem_files(certfile: &Path, keyfile: Option<&Path>) -> Result<TlsConfig, TlsError> {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| TlsError::Io(p.display().to_string(), e));
        let cert = read(certfile)?;
        let (key, key_name) = match keyfile {
            Some(k) => (read(k)?, k.display().to_string()),
            None => (cert.clone(), certfile.display().to_string()),
        };
        Self::build(&cert, &certfile.display().to_string(), &key, &key_name)
    }

    /// Like [`TlsConfig::from_pem_files`], from PEM text in memory (`key`
    /// may be the same text as `cert` when it holds both).
    ///
    /// # Errors
    /// [`TlsError::NoCertificate`] or [`TlsError::NoKey`] when a PEM block
    /// is missing, [`TlsError::EncryptedKey`] for a passphrase-protected key,
    /// [`TlsError::Invalid`] when OpenSSL refuses the certificate or key
    /// (e.g. they do not match).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        Self::build(cert, "the certificate", key, "the key")
    }

    fn build(
        cert: &[u8],
        cert_name: &str,
        key: &[u8],
        key_name: &str,
    ) -> Result<TlsConfig, TlsError> {
        let certs = pem_blocks(cert, |label| label == "CERTIFICATE");
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(cert_name.to_string()));
        }
        if !pem_blocks(key, |l| l == "ENCRYPTED PRIVATE KEY").is_empty()
            || pem_blocks(key, |l| l.ends_with("PRIVATE KEY"))
                .iter()
                .any(|b| b.windows(9).any(|w| w == b"ENCRYPTED"))
        {
            return Err(TlsError::EncryptedKey(key_name.to_string()));
        }
        let Some(key_pem) = pem_blocks(key, |l| l.ends_with("PRIVATE KEY"))
            .into_iter()
            .next()
        else {
            return Err(TlsError::NoKey(key_name.to_string()));
        };
        let pkcs8 = pkcs8_key(&key_pem, key_name, &certs[0], cert_name)?;
        let chain: Vec<u8> = certs.concat();
        let identity = native_tls::Identity::from_pkcs8(&chain, &pkcs8)
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
        let acceptor = native_tls::TlsAcceptor::builder(identity)
            .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
            .build()
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
        Ok(TlsConfig {
            acceptor,
            control_required: false,
            data_required: false,
            implicit: false,
            handshake_timeout: std::time::Duration::from_secs(30),
        })
    }

    /// The acceptor shared by every control and data channel.
    pub fn acceptor(&self) -> &native_tls::TlsAcceptor {
        &self.acceptor
    }
}

/// The PEM key `key_pem` as PKCS#8, the only form native-tls takes:
/// PKCS#1 and SEC1 keys are converted, and the key must belong to the
/// certificate `leaf_pem`.
#[cfg(unix)]
fn pkcs8_key(
    key_pem: &[u8],
    key_name: &str,
    leaf_pem: &[u8],
    cert_name: &str,
) -> Result<Vec<u8>, TlsError> {
    let pkey = openssl::pkey::PKey::private_key_from_pem(key_pem)
        .map_err(|e| TlsError::Invalid(format!("{key_name}: {e}")))?;
    let leaf = openssl::x509::X509::from_pem(leaf_pem)
        .and_then(|c| c.public_key())
        .map_err(|e| TlsError::Invalid(format!("{cert_name}: {e}")))?;
    if !leaf.public_eq(&pkey) {
        return Err(TlsError::Invalid(format!(
            "the private key in {key_name} does not belong to the certificate in {cert_name}"
        )));
    }
    pkey.private_key_to_pem_pkcs8()
        .map_err(|e| TlsError::Invalid(format!("{key_name}: {e}")))
}

/// Windows (SChannel, no OpenSSL): the key must already be PKCS#8
/// (`BEGIN PRIVATE KEY`) and RSA, the one kind native-tls imports there;
/// whether it belongs to the certificate shows at the first handshake.
#[cfg(not(unix))]
fn pkcs8_key(
    key_pem: &[u8],
    key_name: &str,
    _leaf_pem: &[u8],
    _cert_name: &str,
) -> Result<Vec<u8>, TlsError> {
    if key_pem.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        Ok(key_pem.to_vec())
    } else {
        Err(TlsError::Invalid(format!(
            "the private key in {key_name} is not PKCS#8, the only form read on this system; \
             convert it with `openssl pkcs8 -topk8 -nocrypt -in {key_name} -out key.pem` \
             and use key.pem"
        )))
    }
}

/// A throwaway self-signed certificate and its key, as PEM `(cert, key)`:
/// EC P-256, valid from an hour ago (clock skew) for `days`, for the host
/// names and IP addresses in `names` (subjectAltName; the first is also the
/// CN), with the extensions strict verifiers expect of a server certificate.
/// A client can trust it by using it as its CA file. Meant for tests,
/// benchmarks and trying FTPS out.
///
/// # Errors
/// [`TlsError::Invalid`] when OpenSSL fails to build the certificate
/// (e.g. `names` is empty or holds an invalid name).
///
/// Unix only (it is made with OpenSSL, which the Windows build does not use).
#[cfg(unix)]
pub fn self_signed(names: &[&str], days: u32) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    use openssl::x509::extension::{
        BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
    };
    let invalid = |e: openssl::error::ErrorStack| TlsError::Invalid(e.to_string());
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
        .map_err(invalid)?;
    let key = openssl::ec::EcKey::generate(&group)
        .and_then(openssl::pkey::PKey::from_ec_key)
        .map_err(invalid)?;
    let mut name = openssl::x509::X509NameBuilder::new().map_err(invalid)?;
    name.append_entry_by_text("CN", names.first().copied().unwrap_or("localhost"))
        .map_err(invalid)?;
    let name = name.build();
    let mut b = openssl::x509::X509::builder().map_err(invalid)?;
    let mut serial = openssl::bn::BigNum::new().map_err(invalid)?;
    serial
        .rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .map_err(invalid)?;
    let serial = serial.to_asn1_integer().map_err(invalid)?;
    b.set_serial_number(&serial).map_err(invalid)?;
    b.set_version(2).map_err(invalid)?;
    b.set_subject_name(&name).map_err(invalid)?;
    b.set_issuer_name(&name).map_err(invalid)?;
    b.set_pubkey(&key).map_err(invalid)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hour_ago = i64::try_from(now).unwrap_or(i64::MAX) - 3600;
    let not_before = openssl::asn1::Asn1Time::from_unix(hour_ago).map_err(invalid)?;
    let not_after = openssl::asn1::Asn1Time::days_from_now(days).map_err(invalid)?;
    b.set_not_before(&not_before).map_err(invalid)?;
    b.set_not_after(&not_after).map_err(invalid)?;
    let exts = [
        BasicConstraints::new().critical().build(),
        KeyUsage::new().critical().digital_signature().build(),
        ExtendedKeyUsage::new().server_auth().build(),
        SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None)),
    ];
    for ext in exts {
        b.append_extension(ext.map_err(invalid)?).map_err(invalid)?;
    }
    if !names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for n in names {
            if n.parse::<std::net::IpAddr>().is_ok() {
                san.ip(n);
            } else {
                san.dns(n);
            }
        }
        let ext = san.build(&b.x509v3_context(None, None)).map_err(invalid)?;
        b.append_extension(ext).map_err(invalid)?;
    }
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .map_err(invalid)?;
    let cert = b.build().to_pem().map_err(invalid)?;
    let key = key.private_key_to_pem_pkcs8().map_err(invalid)?;
    Ok((cert, key))
}

/// The PEM blocks (with their BEGIN/END lines) whose label passes `want`.
fn pem_blocks(text: &[u8], want: impl Fn(&str) -> bool) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = want(label).then(|| (label.to_string(), format!("{line}\n")));
        } else if let Some((label, mut block)) = current.take() {
            block.push_str(line);
            block.push('\n');
            if line == format!("-----END {label}-----") {
                out.push(block.into_bytes());
            } else {
                current = Some((label, block));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
