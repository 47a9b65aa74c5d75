//! An authorizer that checks a real database (the design card's "blocking
//! handler that calls a database"): users, password hashes, homes and
//! permissions in PostgreSQL, through `ftpdlib::auth::PgAuthorizer`.
//!
//! Run: `cargo run --features postgres --example db_ftpd -- URL [PORT]`,
//! e.g. `postgresql://ftpd:secret@localhost/ftpd` or
//! `host=/var/run/postgresql user=postgres dbname=postgres`.
//! It creates the tables when missing and the user `user` (password
//! `12345`, argon2id-hashed) sharing the current directory if there is no
//! such user yet; log in as user/12345. More users: `ftpdlib db add-user`
//! or SQL (see the README).
//!
//! The poll model serves every session on one thread, yet a slow database
//! stalls no one but the logins waiting for it: login checks run on worker
//! threads, never on the poll loop.

use ftpdlib::auth::hash::hash_password;
use ftpdlib::auth::pg::{NewUser, PgAuthorizer, PgError};
use ftpdlib::server::ServerBuilder;
use ftpdlib::ConcurrencyModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ftpdlib::logging::init(log::LevelFilter::Info, None)?;
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: db_ftpd URL [PORT] (URL: postgresql://user:password@host/dbname)")?;
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(2121);

    let users = PgAuthorizer::new(&url)?;
    users.init_schema()?; // CREATE TABLE IF NOT EXISTS
    let demo = NewUser::new(
        "user",
        hash_password(b"12345")?,
        std::env::current_dir()?,
        "elradfmwMT",
    );
    match users.add_user(&demo) {
        Ok(()) => log::info!("added the user 'user' (password 12345)"),
        // most likely there already is one: keep it as it is
        Err(PgError::Database(e)) => log::info!("user 'user' not added: {e}"),
        Err(e) => return Err(e.into()),
    }
    ServerBuilder::new(users)
        .configure(|c| c.concurrency = ConcurrencyModel::Poll)
        .bind(("0.0.0.0", port))?
        .serve_until_signalled()?;
    Ok(())
}
