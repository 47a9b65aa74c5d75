//! Data-channel transfers: a chunked, resumable pump that moves bytes
//! between a file (or a listing) and a data socket, usable from a blocking
//! thread or a poll loop alike, with ASCII conversion, zero-copy
//! `sendfile(2)` and throttling.

mod ascii;
mod throttle;
pub(crate) use throttle::PauseEnd;
mod transfer;

pub use transfer::{
    Direction, FileDone, FileJob, Pump, Source, Transfer, TransferCmd, TransferError,
};
