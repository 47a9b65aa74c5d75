//! Telling every session of an in-process server that the server stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use mio::Waker;

/// A shutdown flag plus the wakers of the pollers that must notice it.
#[derive(Default)]
pub(crate) struct ShutdownSignal {
    flag: AtomicBool,
    wakers: Mutex<Vec<Weak<Waker>>>,
}

impl ShutdownSignal {
    /// Whether shutdown was triggered.
    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Wake `waker` on shutdown (at once if it was already triggered).
    pub(crate) fn subscribe(&self, waker: &Arc<Waker>) {
        let mut w = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|x| x.strong_count() > 0);
        w.push(Arc::downgrade(waker));
        drop(w);
        if self.is_set() {
            let _ = waker.wake();
        }
    }

    /// Set the flag and wake every subscribed poller.
    pub(crate) fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let wakers = self
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for w in wakers.iter().filter_map(Weak::upgrade) {
            let _ = w.wake();
        }
    }
}
