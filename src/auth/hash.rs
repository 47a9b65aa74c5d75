//! Password hashes: verifying the stored forms operators use, and making
//! new ones.
//!
//! A stored hash is a PHC string or a crypt(3) string, told apart by its
//! prefix:
//!
//! | prefix | method | verified by |
//! |---|---|---|
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` | Argon2 (RFC 9106), the default for new hashes | the `argon2` crate |
//! | `$2b$`, `$2a$`, `$2y$`, `$2x$` | bcrypt | the `bcrypt` crate |
//! | `$6$`, `$5$` | sha512-crypt, sha256-crypt | the `sha-crypt` crate |
//! | `$y$`, `$gy$`, `$7$`, `$1$` | yescrypt, gost-yescrypt, scrypt, md5-crypt | the system's libxcrypt |
//! | `md5:<32 hex digits>` | **legacy**: unsalted MD5 of the password, pyftpdlib's tutorial | the `md5` crate |
//!
//! Comparisons of the computed and stored hash take the same time
//! wherever they differ, and [`verify_nobody`] spends the time of a real
//! check for a user that does not exist, so that the reply's timing does
//! not tell whether a user name exists.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Why a stored hash could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// The stored string is no hash this module knows (its prefix is
    /// unknown, or it is malformed); the text says which.
    Unsupported(String),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::Unsupported(why) => write!(f, "unusable password hash: {why}"),
        }
    }
}

impl std::error::Error for HashError {}

/// The methods a stored hash may use, by the prefix that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Argon2,
    Bcrypt,
    Sha512Crypt,
    Sha256Crypt,
    /// Any method of the system's libxcrypt (yescrypt and its relatives).
    Libxcrypt,
    /// `md5:<hex>`, pyftpdlib's tutorial.
    LegacyMd5,
}

fn method_of(stored: &str) -> Option<Method> {
    const PREFIXES: &[(&str, Method)] = &[
        ("$argon2id$", Method::Argon2),
        ("$argon2i$", Method::Argon2),
        ("$argon2d$", Method::Argon2),
        ("$2b$", Method::Bcrypt),
        ("$2a$", Method::Bcrypt),
        ("$2y$", Method::Bcrypt),
        ("$2x$", Method::Bcrypt),
        ("$6$", Method::Sha512Crypt),
        ("$5$", Method::Sha256Crypt),
        ("$y$", Method::Libxcrypt),
        ("$gy$", Method::Libxcrypt),
        ("$7$", Method::Libxcrypt),
        ("$1$", Method::Libxcrypt),
        ("md5:", Method::LegacyMd5),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| stored.starts_with(p))
        .map(|&(_, m)| m)
}

/// The most memory an Argon2 hash may ask for, in KiB (256 MiB; the
/// default is 19 MiB, RFC 9106's second option 64 MiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// The most work an Argon2 hash may ask for: memory (KiB) times passes
/// (1 GiB-pass, about 27 times the default's; of the order of a second).
pub const MAX_ARGON2_WORK: u64 = 1024 * 1024;
/// The highest bcrypt cost (2^16 rounds, 16 times cost 12's time).
pub const MAX_BCRYPT_COST: u32 = 16;
/// The most rounds of a sha512-crypt or sha256-crypt hash (200 times the
/// default 5000).
pub const MAX_SHA_CRYPT_ROUNDS: u64 = 1_000_000;

/// Check that `stored` is a hash [`verify`] can use (for a users file or
/// a database row, when it is loaded rather than at the first login).
///
/// The time and memory a check costs is set by the stored hash, and a
/// login attempt pays it, for a wrong password too (and for a user name
/// that does not exist: see [`verify_nobody`] and the users file's decoy);
/// so a hash that asks for more than [`MAX_ARGON2_MEMORY_KIB`],
/// [`MAX_ARGON2_WORK`], [`MAX_BCRYPT_COST`] or [`MAX_SHA_CRYPT_ROUNDS`] is
/// refused, rather than let each anonymous attempt take seconds or
/// gigabytes (an Argon2 `m=2097152` is 2 GiB per attempt, a bcrypt cost of
/// 31 days of CPU).
///
/// # Errors
/// [`HashError::Unsupported`] naming what is wrong.
pub fn check_format(stored: &str) -> Result<(), HashError> {
    let bad = |why: &str| Err(HashError::Unsupported(why.into()));
    match method_of(stored) {
        None => bad("unknown method (expected $argon2id$, $2b$, $6$, $5$, $y$ or md5:<hex>)"),
        Some(Method::Argon2) => match PasswordHash::new(stored) {
            Ok(h) if h.salt.is_some() && h.hash.is_some() => {
                let p = argon2::Params::try_from(&h)
                    .map_err(|e| HashError::Unsupported(format!("malformed argon2 hash: {e}")))?;
                let work = u64::from(p.m_cost()).saturating_mul(u64::from(p.t_cost()));
                if p.m_cost() > MAX_ARGON2_MEMORY_KIB || work > MAX_ARGON2_WORK {
                    bad(&format!(
                        "argon2 cost too high (m={} KiB, t={}): at most m={MAX_ARGON2_MEMORY_KIB} and m*t={MAX_ARGON2_WORK}, since every login attempt pays it",
                        p.m_cost(),
                        p.t_cost()
                    ))
                } else {
                    Ok(())
                }
            }
            Ok(_) => bad("argon2 hash without salt or output"),
            Err(e) => bad(&format!("malformed argon2 hash: {e}")),
        },
        Some(Method::LegacyMd5) => {
            let hex = &stored[4..];
            if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(())
            } else {
                bad("md5: must be followed by 32 hexadecimal digits")
            }
        }
        Some(
            m @ (Method::Bcrypt | Method::Sha512Crypt | Method::Sha256Crypt | Method::Libxcrypt),
        ) => {
            if stored.bytes().any(|b| b.is_ascii_whitespace() || b == b':') {
                return bad("a crypt string holds no spaces or colons");
            }
            // $2b$NN$...: the cost; $6$rounds=N$...: the rounds
            let field = stored.split('$').nth(2).unwrap_or("");
            match m {
                Method::Bcrypt => match field.parse::<u32>() {
                    Ok(c) if c <= MAX_BCRYPT_COST => Ok(()),
                    Ok(c) => bad(&format!(
                        "bcrypt cost {c} too high: at most {MAX_BCRYPT_COST}, since every login attempt pays it"
                    )),
                    Err(_) => bad("malformed bcrypt hash: no cost"),
                },
                Method::Sha512Crypt | Method::Sha256Crypt => match field.strip_prefix("rounds=") {
                    None => Ok(()),
                    Some(n) => match n.parse::<u64>() {
                        Ok(r) if r <= MAX_SHA_CRYPT_ROUNDS => Ok(()),
                        Ok(r) => bad(&format!(
                            "sha-crypt rounds={r} too high: at most {MAX_SHA_CRYPT_ROUNDS}, since every login attempt pays it"
                        )),
                        Err(_) => bad("malformed sha-crypt hash: rounds= is not a number"),
                    },
                },
                _ => Ok(()),
            }
        }
    }
}

/// Whether `password` matches the stored hash `stored` (see the module
/// docs for the accepted forms).
///
/// May take a good part of a second by design (the cost the hash was made
/// with): call it where blocking is fine (an [`super::Authorizer`] is).
///
/// # Errors
/// [`HashError::Unsupported`] when `stored` is no hash this module can
/// check (the login must then be refused, and the error logged).
pub fn verify(stored: &str, password: &[u8]) -> Result<bool, HashError> {
    let unsupported = |e: &dyn fmt::Display| HashError::Unsupported(e.to_string());
    // also where a hash is read at each login (a database row): never pay
    // a cost above the ceilings
    check_format(stored)?;
    match method_of(stored) {
        None => Err(HashError::Unsupported("unknown method".into())),
        Some(Method::Argon2) => {
            let parsed = PasswordHash::new(stored).map_err(|e| unsupported(&e))?;
            Ok(argon2::Argon2::default()
                .verify_password(password, &parsed)
                .is_ok())
        }
        Some(Method::Bcrypt) => bcrypt::verify(password, stored).map_err(|e| unsupported(&e)),
        Some(m @ (Method::Sha512Crypt | Method::Sha256Crypt)) => {
            // sha-crypt takes text; a password that is not UTF-8 can't match
            // a hash made from text, but goes through libxcrypt, which
            // takes bytes, so that the answer is the system's either way
            let Ok(text) = std::str::from_utf8(password) else {
                return verify_crypt(stored, password);
            };
            let checked = if m == Method::Sha512Crypt {
                sha_crypt::sha512_check(text, stored)
            } else {
                sha_crypt::sha256_check(text, stored)
            };
            match checked {
                Ok(()) => Ok(true),
                // sha-crypt 0.5 does not export its error type: its Debug
                // form tells a mismatch from a malformed string
                Err(e) => match format!("{e:?}") {
                    s if s == "HashMismatch" => Ok(false),
                    s => Err(HashError::Unsupported(s)),
                },
            }
        }
        Some(Method::Libxcrypt) => verify_crypt(stored, password),
        Some(Method::LegacyMd5) => {
            let given = format!("{:x}", md5::compute(password));
            Ok(constant_time_eq(
                stored[4..].to_ascii_lowercase().as_bytes(),
                given.as_bytes(),
            ))
        }
    }
}

/// Check `password` against any crypt(3) string through the system's
/// libxcrypt (the way `/etc/shadow` is checked, so every method the
/// system can make is accepted).
///
/// # Errors
/// [`HashError::Unsupported`] when libxcrypt does not know the method or
/// the string is malformed.
pub fn verify_crypt(stored: &str, password: &[u8]) -> Result<bool, HashError> {
    match crate::sys::crypt(password, stored) {
        Ok(computed) => Ok(constant_time_eq(stored.as_bytes(), computed.as_bytes())),
        Err(e) => Err(HashError::Unsupported(format!("crypt(3): {e}"))),
    }
}

/// Spend the time of checking `password` against a hash of the default
/// method, for a user name that does not exist (the refusal then takes as
/// long as a wrong password's).
pub fn verify_nobody(password: &[u8]) {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password(b"ftpdlib: no such user").unwrap_or_else(|_| DEFAULT_COST_HASH.into())
    });
    let _ = verify(dummy, password);
}

/// A new argon2id hash of `password` (PHC string, the `argon2` crate's
/// default parameters: 19 MiB, 2 passes, 1 lane, as OWASP recommends),
/// with a random 16-byte salt.
///
/// # Errors
/// [`HashError::Unsupported`] if the `argon2` crate refuses (a password
/// over its 4 GiB limit).
pub fn hash_password(password: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Unsupported(e.to_string()))
}

/// An argon2id hash with the default cost, for [`verify_nobody`] should
/// making one fail.
const DEFAULT_COST_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo";

/// Compare two byte strings in a time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ x);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests;
