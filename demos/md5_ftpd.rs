//! The tutorial's "Storing passwords as hash digests": an authorizer that
//! keeps md5 hex digests instead of clear-text passwords (a legacy scheme,
//! shown because the tutorial does; prefer a modern hash for real use).
//!
//! Run: `cargo run --example md5_ftpd -- [PORT]`; log in as user/12345.

use std::collections::HashMap;
use std::path::PathBuf;

use ftpdlib::auth::{Account, AuthError, Authorizer};
use ftpdlib::proto::perm::{PermTable, Perms};
use ftpdlib::server::ServerBuilder;

/// Users whose passwords are stored as md5 hex digests.
struct Md5Authorizer {
    users: HashMap<String, (String, PathBuf, Perms)>,
}

impl Authorizer for Md5Authorizer {
    fn authenticate(&self, username: &str, password: &str) -> Result<Account, AuthError> {
        let (digest, home, perms) = self.users.get(username).ok_or(AuthError::Failed)?;
        if format!("{:x}", md5::compute(password.as_bytes())) != *digest {
            return Err(AuthError::Failed);
        }
        Ok(Account::new(
            username,
            home.clone(),
            PermTable::uniform(*perms),
        ))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2121);
    // get a hash digest from a clear-text password
    let hash = format!("{:x}", md5::compute(b"12345"));
    let mut users = HashMap::new();
    users.insert(
        "user".to_string(),
        (hash, std::env::current_dir()?, Perms::parse("elradfmw")?),
    );
    ServerBuilder::new(Md5Authorizer { users })
        .bind(("0.0.0.0", port))?
        .serve_forever()?;
    Ok(())
}
