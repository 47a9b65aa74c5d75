//! Work that may block, run off a poll loop: login checks, filesystem tasks
//! and pieces of a transfer's file side go to the loop's worker pool, and
//! their results come back to the connection that asked (by index and
//! generation), so a slow authorizer or a slow mount stalls no other
//! session.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use mio::Registry;

use super::*;

/// The result of a job run off the poll loop, for the connection that asked.
pub(crate) enum Done {
    /// An [`Action::Login`] check.
    Login(LoginOutcome),
    /// An [`Action::Fs`] task.
    Fs(FsDone),
    /// A piece of a transfer's file side (storage that may be slow).
    File(FileDone),
}

impl Done {
    /// Release a result no connection will take (an upload's file is
    /// aborted, see [`FsDone::discard`]).
    pub(crate) fn discard(self) {
        match self {
            Done::Login(_) => {}
            Done::Fs(d) => d.discard(),
            Done::File(d) => d.discard(),
        }
    }
}

/// Runs work that may block (login checks, filesystem tasks, the file
/// side of transfers on storage that may be slow) on a thread pool and
/// hands the result back to the poll loop (keyed by connection), so a slow
/// authorizer or a slow mount stalls no other session.
///
/// Login checks have a pool of their own: a new client's login never waits
/// behind other sessions' work on a slow mount.
#[derive(Clone)]
pub(crate) struct Offload {
    pool: Arc<Pool>,
    logins: Arc<Pool>,
    results: crossbeam_channel::Sender<(usize, u64, Done)>,
    waker: Arc<mio::Waker>,
    key: (usize, u64),
}

impl Offload {
    /// A handle for connection `key` that runs filesystem jobs on `pool`
    /// and login checks on `logins`, and reports on `results`, waking `waker`.
    pub(crate) fn new(
        pool: Arc<Pool>,
        logins: Arc<Pool>,
        results: crossbeam_channel::Sender<(usize, u64, Done)>,
        waker: Arc<mio::Waker>,
        key: (usize, u64),
    ) -> Self {
        Offload {
            pool,
            logins,
            results,
            waker,
            key,
        }
    }

    /// Run `job` on the pool. Err: no thread could be started (the job was
    /// dropped, see [`Pool::execute`]).
    pub(super) fn submit(&self, job: impl FnOnce() -> Done + Send + 'static) -> io::Result<()> {
        self.submit_to(&self.pool, job)
    }

    /// Run a login check on the login pool (see [`Offload::submit`]).
    pub(super) fn submit_login(
        &self,
        job: impl FnOnce() -> Done + Send + 'static,
    ) -> io::Result<()> {
        self.submit_to(&self.logins, job)
    }

    fn submit_to(
        &self,
        pool: &Pool,
        job: impl FnOnce() -> Done + Send + 'static,
    ) -> io::Result<()> {
        let (tx, waker, (idx, gen)) = (self.results.clone(), Arc::clone(&self.waker), self.key);
        pool.execute(move || {
            let done = job();
            match tx.send((idx, gen, done)) {
                Ok(()) => {
                    let _ = waker.wake();
                }
                // the loop is gone: release what the result holds
                Err(e) => (e.0).2.discard(),
            }
        })
    }

    pub(super) fn submit_file(&self, job: FileJob) -> io::Result<()> {
        self.submit(move || Done::File(job.run()))
    }
}

impl Connection {
    /// Run login checks and filesystem work through `offload` instead of
    /// on the calling thread.
    pub(crate) fn set_offload(&mut self, offload: Offload) {
        self.offload = Some(offload);
    }

    /// The result of an offloaded job.
    pub(crate) fn job_done(&mut self, done: Done, registry: &Registry) {
        let now = Instant::now();
        match done {
            Done::File(d) => return self.file_done(d, registry),
            Done::Login(outcome) => {
                self.jobs_out = self.jobs_out.saturating_sub(1);
                self.feed(Input::LoginDone(outcome), registry, now);
            }
            Done::Fs(d) => {
                self.jobs_out = self.jobs_out.saturating_sub(1);
                self.feed(Input::FsDone(d), registry, now);
            }
        }
        if self.hot {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }

    /// A file job of the running transfer came back.
    pub(super) fn file_done(&mut self, done: FileDone, registry: &Registry) {
        let now = Instant::now();
        let Some(r) = &mut self.running else {
            done.discard();
            return;
        };
        r.transfer.file_done(done);
        if let Some(result) = r.ending.take() {
            self.finish_transfer(result, registry, now);
        } else {
            self.pump(registry, now);
        }
        self.resume_input(registry);
        self.finish_if_closing(registry);
    }
}
