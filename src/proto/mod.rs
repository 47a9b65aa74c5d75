//! The pure protocol layer: no sockets, no files, no clock.
//!
//! Everything in here is a function of its inputs, so it is unit-tested
//! without any IO: command parsing and the command table, reply formatting,
//! control-line framing, virtual path arithmetic, wildcard patterns (NLST
//! and LIST arguments), the listing formats (LIST, NLST, MLSD/MLST), the
//! PORT/PASV/EPRT/EPSV codecs and the permission letters.

pub mod addr;
pub mod command;
pub(crate) mod glob;
pub mod line;
pub mod listing;
pub mod path;
pub mod perm;
pub mod reply;
