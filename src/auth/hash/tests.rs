//! Stored hashes made by other tools (Python's argon2-cffi, and crypt(3)
//! through Python's `crypt` module), checked here.

use super::*;

const PASSWORD: &[u8] = b"s3cret pass";

/// (hash of `PASSWORD`, what made it)
const FOREIGN: &[(&str, &str)] = &[
    (
        "$argon2id$v=19$m=19456,t=2,p=1$1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo",
        "argon2-cffi, argon2id",
    ),
    (
        "$argon2i$v=19$m=4096,t=2,p=1$Uy+ftWS4TNdX3mZrhLJDeg$X6nA5VmoacnPoTa69ckAHmTobTG19GSefDs3aALt1nM",
        "argon2-cffi, argon2i",
    ),
    (
        "$6$oQNn147N8A19n6f.$ZkseCKwreV86WXtu0639b7N05jsXeukBYfgJ8XkWKm1GBkdAu6yW1bqb5apSGjtIRkIQhdI1HKWV/ccJ358Ho/",
        "crypt(3), sha512-crypt",
    ),
    (
        "$5$i.WadRRYhsrdKYCN$/013fYPcBzPxNWYLhCr5DhRPopwhkZHuRApj8X75kNA",
        "crypt(3), sha256-crypt",
    ),
    (
        "$2b$12$7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2",
        "crypt(3), bcrypt",
    ),
    (
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$9D5RovS/HuknGI0.ktF/JBj1lhaH1xkbCFp3CJ3OVL/",
        "crypt(3), yescrypt",
    ),
    ("md5:5211da5c87b0c916f11bbeb561492eef", "hashlib.md5"),
    ("md5:5211DA5C87B0C916F11BBEB561492EEF", "hashlib.md5, upper case"),
];

#[test]
fn every_family_accepts_the_right_password_and_refuses_a_wrong_one() {
    for (stored, origin) in FOREIGN {
        assert_eq!(check_format(stored), Ok(()), "{origin}");
        assert_eq!(verify(stored, PASSWORD), Ok(true), "{origin}");
        assert_eq!(verify(stored, b"s3cret pasS"), Ok(false), "{origin}");
        assert_eq!(verify(stored, b""), Ok(false), "{origin}");
    }
}

#[test]
fn crypt_strings_also_verify_through_libxcrypt() {
    for (stored, origin) in FOREIGN.iter().filter(|(s, _)| s.starts_with('$')) {
        if stored.starts_with("$argon2") {
            continue; // libxcrypt has no argon2
        }
        assert_eq!(verify_crypt(stored, PASSWORD), Ok(true), "{origin}");
        assert_eq!(verify_crypt(stored, b"wrong"), Ok(false), "{origin}");
    }
}

#[test]
fn a_password_that_is_not_utf8_is_checked_not_refused() {
    let stored = crate::sys::crypt(b"caf\xe9", "$6$abcdefgh$").unwrap();
    assert_eq!(verify(&stored, b"caf\xe9"), Ok(true));
    assert_eq!(verify(&stored, b"cafe"), Ok(false));
}

#[test]
fn unknown_and_malformed_hashes_are_errors_not_refusals() {
    for bad in [
        "",
        "plaintext",
        "$argon2id$v=19$garbage",
        "md5:123",
        "md5:zz11da5c87b0c916f11bbeb561492eef",
        "$6$salt$has space",
    ] {
        assert!(check_format(bad).is_err(), "{bad:?}");
    }
    assert!(verify("plaintext", PASSWORD).is_err());
    assert!(verify("$argon2id$v=19$garbage", PASSWORD).is_err());
    assert!(verify("$y$garbage", PASSWORD).is_err());
    assert!(verify("md5:123", PASSWORD).is_err());
    // a NUL in the password cannot be passed to crypt(3)
    assert!(verify(FOREIGN[5].0, b"s3cret\0pass").is_err());
}

#[test]
fn new_hashes_are_salted_argon2id_that_verify() {
    let a = hash_password(PASSWORD).unwrap();
    let b = hash_password(PASSWORD).unwrap();
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert_ne!(a, b, "two hashes of one password share a salt");
    assert_eq!(verify(&a, PASSWORD), Ok(true));
    assert_eq!(verify(&a, b"other"), Ok(false));
    verify_nobody(PASSWORD);
}

#[test]
fn constant_time_eq_compares_whole_strings() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(constant_time_eq(b"", b""));
}

/// A stored hash sets what each login attempt costs, a wrong password's
/// (and an unknown user's, through the decoy) too: costs far above the
/// defaults are refused when the hash is read, and never paid by
/// `verify` (2 GiB per attempt, or days of CPU, otherwise).
#[test]
fn hashes_that_cost_too_much_per_attempt_are_refused() {
    const SALT_AND_OUTPUT: &str =
        "1JPUNM4h839aYqhlgwr1ZA$vZ1cGB8qmY6Xc8Sawfqb9tnbXno61o+LLfvUoCtlJbo";
    let bcrypt = "7yrbzE4qBfObfldmgueHLeinNv/WRV4YnHpQqQjQepBaRA2EOefI2";
    let sha = "oQNn147N8A19n6f.$ZkseCKwreV86WXtu0639b7N05jsXeukBYfgJ8XkWKm1GBkdAu6yW1bqb5apSGjtIRkIQhdI1HKWV/ccJ358Ho/";
    let too_costly = [
        format!("$argon2id$v=19$m=2097152,t=1,p=4${SALT_AND_OUTPUT}"),
        format!("$argon2id$v=19$m=4294967295,t=1,p=1${SALT_AND_OUTPUT}"),
        format!("$argon2id$v=19$m=19456,t=4294967295,p=1${SALT_AND_OUTPUT}"),
        format!("$argon2i$v=19$m=65536,t=100,p=1${SALT_AND_OUTPUT}"),
        format!("$2b$31${bcrypt}"),
        format!("$2y$17${bcrypt}"),
        format!("$6$rounds=999999999${sha}"),
        format!("$5$rounds=1000001${sha}"),
    ];
    for stored in &too_costly {
        let e = check_format(stored).expect_err(stored);
        assert!(e.to_string().contains("too high"), "{stored}: {e}");
        let t = std::time::Instant::now();
        assert!(verify(stored, PASSWORD).is_err(), "{stored}");
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{stored}");
    }
    let fine = [
        format!("$argon2id$v=19$m=65536,t=3,p=4${SALT_AND_OUTPUT}"),
        format!("$argon2id$v=19$m=262144,t=4,p=1${SALT_AND_OUTPUT}"),
        format!("$2b$16${bcrypt}"),
        format!("$6$rounds=1000000${sha}"),
        format!("$6$rounds=5000${sha}"),
    ];
    for stored in &fine {
        assert_eq!(check_format(stored), Ok(()), "{stored}");
    }
    assert!(check_format(&format!("$2b$xx${bcrypt}")).is_err());
    assert!(check_format(&format!("$6$rounds=lots${sha}")).is_err());
}
