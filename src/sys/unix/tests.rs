//! Passing descriptors at the limit of open files.

use super::*;

/// In a forked child (its limit of open files is its own): a descriptor
/// passed while the process is at that limit is received with the
/// reserve's place, and reported lost without one.
#[test]
fn a_descriptor_passed_at_the_limit_of_open_files_takes_the_reserves_place() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (a, b) = UnixStream::pair().unwrap();
    let passed = std::fs::File::open("/dev/null").unwrap();
    match fork().unwrap() {
        Forked::Child => {
            let outcome = (|| -> Option<()> {
                let mut reserve = FdReserve::new();
                let mut none = FdReserve(None);
                // no descriptor more than the reserve's
                let lowest = (0..)
                    .find(|n| !std::path::Path::new(&format!("/proc/self/fd/{n}")).exists())?;
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
                setrlimit(Resource::RLIMIT_NOFILE, lowest, hard).ok()?;
                let mut payload = [0u8; 3];
                let first = recv_fd(&b, &mut payload, &mut reserve).ok()??;
                if !matches!(first, Received::Fd(_)) || payload != *b"one" {
                    return None;
                }
                // (the first kept open: no place is left) without a
                // reserve, the next one is lost
                let second = recv_fd(&b, &mut payload, &mut none).ok()??;
                (matches!(second, Received::Lost) && payload == *b"two").then_some(())
            })();
            exit_immediately(if outcome.is_some() { 0 } else { 1 })
        }
        Forked::Parent(pid) => {
            send_fd(&a, passed.as_fd(), b"one").unwrap();
            send_fd(&a, passed.as_fd(), b"two").unwrap();
            let status = nix::sys::wait::waitpid(pid, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
        }
    }
}
