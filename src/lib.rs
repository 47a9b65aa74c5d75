//! # ftpdlib
//!
//! An FTP server library and daemon.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod events;
pub mod fs;
pub mod proto;

pub use config::{ConcurrencyModel, ServerConfig};
pub mod data;
pub mod logging;
pub mod server;
pub mod session;
mod sys;
