//! # ftpdlib
//!
//! A fast, safe FTP server library and daemon with the features of Python's
//! pyftpdlib: RFC 959/1123/2389/2428/2640/3659, virtual users with
//! per-directory permissions, a filesystem confined to each user's home,
//! event callbacks, throttling, and selectable concurrency.
//!
//! ## Embedding a server
//!
//! ```no_run
//! use ftpdlib::auth::MemoryAuthorizer;
//! use ftpdlib::server::ServerBuilder;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let users = MemoryAuthorizer::new();
//!     users.add_user("user", "12345", "/srv/ftp", "elradfmwMT")?; // full access
//!     users.add_anonymous("/srv/ftp/pub")?; // read-only
//!     ServerBuilder::new(users)
//!         .configure(|c| c.max_cons = 256)
//!         .bind("0.0.0.0:2121")?
//!         .serve_forever()?;
//!     Ok(())
//! }
//! ```
//!
//! ## Layout
//!
//! - [`proto`]: the pure protocol layer (parsing, replies, listings, addresses, permissions).
//! - [`session`]: the sans-IO session state machine; all FTP behaviour lives there.
//! - [`fs`], [`auth`], [`events`]: the traits a user can implement (filesystem,
//!   authorizer, callbacks) and the built-in implementations.
//! - [`data`]: the transfer pump (ASCII conversion, sendfile, throttling).
//! - [`server`]: the acceptor, connection limits and the concurrency drivers.
//! - [`logging`]: pyftpdlib-style log lines.
#![deny(unsafe_code)]
#![warn(unreachable_pub, missing_docs)]

pub mod auth;
pub mod config;
pub mod data;
pub mod events;
pub mod fs;
pub mod logging;
pub mod proto;
pub mod server;
pub mod session;
mod sys;
pub mod tls;

pub use config::{ConcurrencyModel, ServerConfig};
pub use server::{FtpServer, ServerBuilder};
