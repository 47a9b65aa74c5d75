//! The thread pool of the thread-pool model: a thread per running job, up
//! to a cap, with idle threads given back.
//!
//! A job that finds no idle thread gets a new thread at once (below the
//! cap), so a session never waits for another one to end. A thread that has
//! waited `idle_timeout` for work exits while more than `floor` threads are
//! alive; the floor stays warm.
//!
//! One mutex guards the queue and every count, and a thread decides to exit
//! while holding it, with the queue empty: a job submitted while the last
//! idle thread times out is either seen by that thread before it leaves, or
//! finds it gone and starts a new one. No job is lost that way, and
//! [`Pool::join`] returns only when the queue is empty and every thread has
//! finished its last job.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How a [`Pool`] starts and keeps its threads.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// Thread name (at most 15 bytes show in `/proc/PID/task/*/comm`).
    pub name: String,
    /// Stack size of each thread, in bytes.
    pub stack_size: usize,
    /// Threads started up front and kept however long they idle.
    pub floor: usize,
    /// Most threads alive at once (at least 1).
    pub cap: usize,
    /// How long a thread above the floor waits for a job before it exits.
    pub idle_timeout: Duration,
    /// Idle threads kept ready beyond the floor while jobs come in: a job
    /// that takes one of the last ones has a new one started behind it, so
    /// the next job does not wait for a thread to be created.
    pub spare: usize,
}

/// Where [`Pool::submit`] left a job.
enum Submitted {
    /// An idle thread or a new one takes it.
    Running,
    /// Every thread the cap allows is busy: the first to finish takes it.
    AtCap,
    /// The OS refused a new thread: it waits in the queue for a busy one.
    WaitsForBusy(io::Error),
    /// The OS refused a new thread and none runs: the queue was dropped.
    Dropped(io::Error),
}

/// A pool that runs each job on a thread of its own (see the module docs).
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Waiting threads wait here for a job or for [`Pool::join`].
    work: Condvar,
    /// [`Pool::join`] waits here for the last thread to exit.
    all_gone: Condvar,
    config: PoolConfig,
}

/// Every count changes under the one lock. Waiting threads are `idle +
/// notified`: a submitted job moves one of them from `idle` to `notified`
/// and wakes it; whichever waiting thread wakes first takes the
/// notification.
struct State {
    queue: VecDeque<Job>,
    /// Waiting threads no job has been promised to.
    idle: usize,
    /// Notifications sent to waiting threads and not yet taken.
    notified: usize,
    /// Threads started and not yet exited (counted from before `spawn`).
    alive: usize,
    /// Spare threads started and not yet waiting for work.
    starting: usize,
    /// No more jobs come; threads exit once the queue is empty.
    closed: bool,
    /// The run of refused thread starts under way, if any.
    refusals: Option<Refusals>,
}

/// A run of refused thread starts whose jobs waited for a busy thread.
struct Refusals {
    /// When the run was last logged.
    logged: Instant,
    /// Refusals since then.
    since_logged: u64,
    /// Refusals in the whole run.
    total: u64,
}

/// How often a run of refused thread starts is logged (see
/// [`Pool::execute`]).
const REFUSALS_SUMMARY_EVERY: Duration = Duration::from_secs(10);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and the pool's own code does not panic
        // while holding it, so a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// Start `config.floor` threads (at most `config.cap`).
    ///
    /// Errors: the OS refused to start a thread (`std::thread::Builder::spawn`);
    /// the threads already started exit.
    pub(crate) fn new(mut config: PoolConfig) -> io::Result<Pool> {
        config.cap = config.cap.max(1);
        config.floor = config.floor.min(config.cap);
        let floor = config.floor;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                notified: 0,
                alive: 0,
                starting: 0,
                closed: false,
                refusals: None,
            }),
            work: Condvar::new(),
            all_gone: Condvar::new(),
            config,
        });
        let pool = Pool { shared };
        for _ in 0..floor {
            pool.shared.lock().alive += 1;
            if let Err(e) = spawn(&pool.shared, false) {
                pool.shared.lock().alive -= 1;
                return Err(e); // dropping `pool` lets the others exit
            }
        }
        Ok(pool)
    }

    /// Run `job` on an idle thread, or on a new one if none is idle and the
    /// cap allows it; at the cap, on the first thread whose job ends.
    ///
    /// Errors: no thread was running and the OS refused to start one
    /// (`std::thread::Builder::spawn`); the job was dropped without running.
    /// If threads are running, a refused start is only logged and the job
    /// waits for one of them.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        match self.submit(Box::new(job)) {
            Submitted::Running | Submitted::AtCap => Ok(()),
            Submitted::WaitsForBusy(e) => {
                self.refused(&e);
                Ok(())
            }
            Submitted::Dropped(e) => Err(e),
        }
    }

    /// Log a refused thread start whose job waits for a busy thread: the
    /// first of a run at once, then one line every [`REFUSALS_SUMMARY_EVERY`]
    /// with the count (a line per job wrote one per login and per file
    /// operation while the system's thread limit lasted).
    fn refused(&self, e: &io::Error) {
        let name = &self.shared.config.name;
        let now = Instant::now();
        let mut st = self.shared.lock();
        match &mut st.refusals {
            None => {
                st.refusals = Some(Refusals {
                    logged: now,
                    since_logged: 0,
                    total: 1,
                });
                drop(st);
                log::warn!("can't start a {name} thread ({e}); jobs wait for a busy one");
            }
            Some(r) => {
                r.total += 1;
                r.since_logged += 1;
                if now.duration_since(r.logged) >= REFUSALS_SUMMARY_EVERY {
                    let (n, over) = (r.since_logged, now.duration_since(r.logged));
                    r.logged = now;
                    r.since_logged = 0;
                    drop(st);
                    log::warn!(
                        "still can't start {name} threads ({e}): {n} more jobs waited for a busy one in {over:.0?}"
                    );
                }
            }
        }
    }

    /// Run `f(data)` on an idle thread, or on a new one if none is idle and
    /// the cap allows it; at the cap, on the first thread whose job ends.
    /// Unlike [`Pool::execute`], a job never waits for a busy thread when
    /// the OS refuses a new one: the threads of the thread-pool model run
    /// whole sessions, and the first to be free again may be hours away.
    ///
    /// Errors: the OS refused to start a thread
    /// (`std::thread::Builder::spawn`, e.g. `EAGAIN` at the process limit);
    /// `data` is given back, unused, for the caller to refuse the work.
    pub(crate) fn execute_now<T: Send + 'static>(
        &self,
        data: T,
        f: impl FnOnce(T) + Send + 'static,
    ) -> Result<(), (io::Error, T)> {
        // the job takes `data` from here when it runs; what no thread took
        // when the start failed is taken back (the job then does nothing)
        let slot = Arc::new(Mutex::new(Some(data)));
        let theirs = Arc::clone(&slot);
        let job = move || {
            let data = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(data) = data {
                f(data);
            }
        };
        let e = match self.submit(Box::new(job)) {
            Submitted::Running | Submitted::AtCap => return Ok(()),
            Submitted::WaitsForBusy(e) | Submitted::Dropped(e) => e,
        };
        let back = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match back {
            Some(data) => Err((e, data)),
            // a thread freed meanwhile took it
            None => Ok(()),
        }
    }

    /// Queue `job` and find it a thread.
    fn submit(&self, job: Job) -> Submitted {
        let mut st = self.shared.lock();
        st.queue.push_back(job);
        if st.idle > 0 {
            st.idle -= 1;
            st.notified += 1;
            self.shared.work.notify_one();
            self.keep_spares(st);
            return Submitted::Running;
        }
        if st.alive >= self.shared.config.cap {
            // every thread is busy: the first to finish takes the job
            return Submitted::AtCap;
        }
        st.alive += 1;
        drop(st);
        let Err(e) = spawn(&self.shared, false) else {
            let mut st = self.shared.lock();
            if let Some(r) = st.refusals.take() {
                log::warn!(
                    "{} threads start again ({} jobs waited for a busy one)",
                    self.shared.config.name,
                    r.total
                );
            }
            self.keep_spares(st);
            return Submitted::Running;
        };
        let mut st = self.shared.lock();
        st.alive -= 1;
        if st.alive > 0 {
            return Submitted::WaitsForBusy(e);
        }
        // nobody would ever run the queue: drop it (outside the lock)
        let dropped = std::mem::take(&mut st.queue);
        self.shared.all_gone.notify_all();
        drop(st);
        drop(dropped);
        Submitted::Dropped(e)
    }

    /// Start threads (outside the lock, after the job was handed out) until
    /// `spare` are idle or starting, within the cap. A refused start is
    /// logged at debug level: the next job then starts its own thread.
    fn keep_spares(&self, mut st: MutexGuard<'_, State>) {
        let cfg = &self.shared.config;
        let want = cfg
            .spare
            .saturating_sub(st.idle + st.starting)
            .min(cfg.cap.saturating_sub(st.alive));
        st.alive += want;
        st.starting += want;
        drop(st);
        for started in 0..want {
            if let Err(e) = spawn(&self.shared, true) {
                let mut st = self.shared.lock();
                st.alive -= want - started;
                st.starting -= want - started;
                log::debug!("can't start a spare {} thread: {e}", cfg.name);
                return;
            }
        }
    }

    /// Threads alive now (started and not yet exited).
    #[cfg(test)]
    fn alive(&self) -> usize {
        self.shared.lock().alive
    }

    /// Run every job submitted so far to its end, then return once every
    /// thread has exited.
    pub(crate) fn join(self) {
        let mut st = self.shared.lock();
        st.closed = true;
        self.shared.work.notify_all();
        while st.alive > 0 {
            st = self
                .shared
                .all_gone
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Pool {
    /// Without [`Pool::join`], threads exit once the queue is empty; nobody waits for them.
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        self.shared.work.notify_all();
    }
}

/// Start a pool thread; `spare`: counted in [`State::starting`] until it waits.
fn spawn(shared: &Arc<Shared>, spare: bool) -> io::Result<()> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(shared.config.name.clone())
        .stack_size(shared.config.stack_size)
        .spawn(move || work(&shared, spare))
        .map(drop)
}

/// Counts a thread out when it ends, even by a panic of the pool's own code.
struct Alive<'a> {
    shared: &'a Shared,
    counted: bool,
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if self.counted {
            st.alive -= 1;
        }
        if st.alive == 0 {
            self.shared.all_gone.notify_all();
        }
    }
}

/// A pool thread: run queued jobs, wait for more, exit when idle too long
/// above the floor or when the pool closes with nothing queued.
fn work(shared: &Shared, spare: bool) {
    let mut guard = Alive {
        shared,
        counted: true,
    };
    let cfg = &shared.config;
    let mut st = shared.lock();
    if spare {
        st.starting -= 1;
    }
    let mut idle_since = Instant::now();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                log::error!("a job on a {} thread panicked", cfg.name);
            }
            st = shared.lock();
            idle_since = Instant::now();
            continue;
        }
        if st.closed {
            break;
        }
        st.idle += 1;
        // wait until a job is promised to a waiting thread, the pool closes,
        // or (above the floor) the idle timeout passes
        loop {
            if st.notified > 0 {
                // any waiting thread may take any promise: the one it was
                // sent to finds none left and waits on, still counted in `idle`
                st.notified -= 1;
                break;
            }
            if st.closed || !st.queue.is_empty() {
                st.idle -= 1;
                break;
            }
            // (an idle timeout too long for an `Instant` never passes)
            let deadline = idle_since.checked_add(cfg.idle_timeout);
            st = if let (true, Some(deadline)) = (st.alive > cfg.floor, deadline) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // nothing queued, nothing promised: leave while
                    // holding the lock, so no job can miss this thread
                    st.idle -= 1;
                    st.alive -= 1;
                    guard.counted = false;
                    return;
                }
                shared
                    .work
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            } else {
                // the floor waits without a timeout; a wake-up re-checks it
                shared.work.wait(st).unwrap_or_else(|e| e.into_inner())
            };
        }
    }
    st.alive -= 1;
    guard.counted = false;
}

#[cfg(test)]
mod tests;
