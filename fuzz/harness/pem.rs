//! `pem`: [`TlsConfig::from_pem`] on arbitrary certificate and key text.
//!
//! The input is mixed with a real self-signed pair (made once per process)
//! so that the fuzzer starts next to valid PEM and DER: either side can be
//! raw input, the real text, the real text with bytes changed or cut, or a
//! PEM frame around input bytes.
//!
//! Invariants: no panic and no abort, whatever the bytes; the real pair
//! unchanged is accepted; a pair whose key does not belong to the
//! certificate is refused.

use std::sync::OnceLock;

use ftpdlib::tls::{self, TlsConfig};

use super::cursor::Cursor;

/// A real `(cert, key)` pair, or `None` if this machine cannot make one.
pub fn real_pair() -> Option<&'static (Vec<u8>, Vec<u8>)> {
    static PAIR: OnceLock<Option<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    PAIR.get_or_init(|| tls::self_signed(&["localhost", "127.0.0.1"], 30).ok())
        .as_ref()
}

/// A second, unrelated pair (for the mismatch check).
fn other_pair() -> Option<&'static (Vec<u8>, Vec<u8>)> {
    static PAIR: OnceLock<Option<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    PAIR.get_or_init(|| tls::self_signed(&["other"], 30).ok())
        .as_ref()
}

const LABELS: [&str; 6] = [
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "X509 CRL",
];

/// One side of the pair, built from the input around `real`.
fn side(c: &mut Cursor, real: &[u8]) -> Vec<u8> {
    match c.u8() % 6 {
        0 => c.bytes(255).to_vec(),
        1 => real.to_vec(),
        2 => {
            // Real text with a few bytes replaced.
            let mut v = real.to_vec();
            for _ in 0..(c.u8() % 8) {
                let at = usize::from(c.u16()) % v.len().max(1);
                if let Some(b) = v.get_mut(at) {
                    *b = c.u8();
                }
            }
            v
        }
        3 => {
            // Real text cut short, then input bytes.
            let at = usize::from(c.u16()) % (real.len() + 1);
            let mut v = real[..at].to_vec();
            v.extend_from_slice(c.bytes(64));
            v
        }
        4 => {
            // A PEM frame around input bytes (as base64-ish text or raw).
            let label = c.pick(&LABELS);
            let body = c.bytes(255);
            format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                String::from_utf8_lossy(body)
            )
            .into_bytes()
        }
        _ => {
            // Both real blocks in one text, in either order, with input between.
            let mut v = real.to_vec();
            v.extend_from_slice(c.bytes(32));
            v
        }
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let Some((cert, key)) = real_pair() else {
        // Without OpenSSL key generation only the raw bytes can be tried.
        let (a, b) = data.split_at(data.len() / 2);
        let _ = TlsConfig::from_pem(a, b);
        return;
    };
    let mut c = Cursor::new(data);
    let cert_side = side(&mut c, cert);
    let key_base = match other_pair() {
        Some((_, other_key)) if c.bool() => other_key,
        _ => key,
    };
    let key_side = side(&mut c, key_base);
    let result = TlsConfig::from_pem(&cert_side, &key_side);
    if cert_side == *cert && key_side == *key {
        assert!(
            result.is_ok(),
            "the real pair was refused: {:?}",
            result.err()
        );
    }
    if let Some((_, other_key)) = other_pair() {
        if cert_side == *cert && key_side == *other_key {
            assert!(result.is_err(), "a foreign key was accepted");
        }
    }
    // The same text as both certificate and key file (PEM bundles).
    let mut both = cert_side.clone();
    both.extend_from_slice(&key_side);
    let _ = TlsConfig::from_pem(&both, &both);
}
