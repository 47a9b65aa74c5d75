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
//! use ftpdlib::ServerBuilder;
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
//! [`ServerBuilder`] takes the [`auth::Authorizer`], and optionally a
//! [`ServerConfig`], a [`fs::FilesystemFactory`] and an
//! [`events::EventHandler`]; [`FtpServer`] serves in the chosen
//! [`ConcurrencyModel`] until stopped ([`server::ShutdownHandle`],
//! [`FtpServer::serve_until_signalled`], or [`server::ServerProcess`] for a
//! server in a child process).
//!
//! ## Design
//!
//! The [`session`] is the protocol: it parses the control lines, keeps the
//! state (login, security, data channel, transfer), writes every reply,
//! owns every deadline, and decides which work may be slow and hands it out
//! as [`session::Action::Login`] and [`session::Action::Fs`] tasks. It does
//! no IO, so it is tested and fuzzed by scripting [`session::Input`]s. The
//! drivers in [`server`] only move bytes (control lines in, replies out, the
//! [`data`] pump between sockets and files) and run what the session asks
//! for: inline on a thread of its own (thread and process models), or on a
//! worker pool when sessions share a poll loop (poll and pre-fork models),
//! so that a slow authorizer or filesystem stalls no other session.
//!
//! ## Layout
//!
//! - [`proto`]: the pure protocol layer: command parsing and table, replies,
//!   control-line framing, virtual paths, listings, PORT/PASV codecs,
//!   permission letters.
//! - [`session`]: the sans-IO state machine; `session/commands/*` (login,
//!   security, info, files, data channel, transfers), `session/fs_work`
//!   (the filesystem tasks), `session/timers` (every deadline).
//! - [`fs`], [`auth`], [`events`]: the traits an embedder can implement
//!   (filesystem, authorizer, callbacks) and the built-in implementations.
//! - [`data`]: the transfer pump (ASCII conversion, zero-copy, throttling).
//! - [`server`]: the builder, the acceptor and connection limits, and the
//!   drivers (internal): `server/conn/*` (one connection's sockets, TLS and
//!   offloaded work), `server/poll` (the poll loop), `server/pool` (the
//!   worker and session thread pools), `server/process/*` (per-connection
//!   and pre-fork processes).
//! - [`shared`]: the memory every process of a server shares: per-user
//!   session slots and bandwidth, and the ban table.
//! - [`tls`]: FTPS certificates and policy (RFC 4217).
//! - [`config`]: [`ServerConfig`] and [`ConcurrencyModel`].
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
pub mod shared;
mod sys;
pub mod tls;

pub use config::{ConcurrencyModel, ServerConfig};
pub use server::{FtpServer, ServerBuilder};
