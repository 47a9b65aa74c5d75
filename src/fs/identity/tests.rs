use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `nobody` on Debian; any unprivileged id works.
const NOBODY: u32 = 65534;

#[test]
fn a_switch_changes_only_the_calling_thread_and_is_undone() {
    if !is_root() {
        eprintln!("skipped: switching identities needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let id = Identity::new(NOBODY, NOBODY, vec![NOBODY]);

    let (entered, go_on) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = enter(&id).unwrap();
            std::fs::write(dir.path().join("as-nobody"), b"x").unwrap();
            let denied = std::fs::read(&secret).unwrap_err();
            assert_eq!(denied.kind(), io::ErrorKind::PermissionDenied);
            entered.wait(); // the other thread works meanwhile
            go_on.wait();
            drop(guard);
            std::fs::write(dir.path().join("as-root-again"), b"x").unwrap();
            assert_eq!(std::fs::read(&secret).unwrap(), b"root only");
        });
        entered.wait();
        // this thread was never switched
        std::fs::write(dir.path().join("as-root"), b"x").unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"root only");
        go_on.wait();
    });
    let owner = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().uid();
    assert_eq!(owner("as-nobody"), NOBODY);
    assert_eq!(owner("as-root"), 0);
    assert_eq!(owner("as-root-again"), 0);
}

#[test]
fn without_root_only_the_own_identity_can_be_entered() {
    if is_root() {
        // (what a root process may do is the test above)
        return;
    }
    let me = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    assert!(enter(&Identity::new(me, gid, vec![])).is_ok());
    let e = enter(&Identity::new(me + 1, gid, vec![])).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
}

/// The thread's effective capabilities, from `/proc/thread-self/status`.
fn cap_eff() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

/// A thread acting as a user keeps no capability: a new fsuid clears only
/// the filesystem ones, and `CAP_SYS_RESOURCE` (disk quotas, the blocks a
/// filesystem reserves for root), `CAP_SYS_ADMIN` and the others would
/// still let the user's operations do what the user may not. The switch
/// back gives them all back.
#[test]
fn a_switched_thread_has_no_capability_until_switched_back() {
    if !is_root() {
        eprintln!("skipped: switching identities needs root");
        return;
    }
    std::thread::spawn(|| {
        let before = cap_eff();
        assert_ne!(before, 0, "root has capabilities");
        let guard = enter(&Identity::new(NOBODY, NOBODY, vec![NOBODY])).unwrap();
        assert_eq!(cap_eff(), 0);
        drop(guard);
        assert_eq!(cap_eff(), before);
    })
    .join()
    .unwrap();
}

/// The filesystem uid of the calling thread.
fn fsuid() -> u32 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    uids.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// A thread started while another acts as a user copies that user's
/// credentials; started through `as_server`, it is the server, and the
/// starting thread is the user again afterwards.
#[test]
fn threads_started_as_the_server_from_a_users_operation_are_the_servers() {
    if !is_root() {
        eprintln!("skipped: switching identities needs root");
        return;
    }
    std::thread::spawn(|| {
        let caps = cap_eff();
        let _guard = enter(&Identity::new(NOBODY, NOBODY, vec![NOBODY])).unwrap();
        let inherited = std::thread::spawn(fsuid).join().unwrap();
        assert_eq!(inherited, NOBODY, "what the kernel does");
        let (uid, eff) = crate::sys::as_server(|| std::thread::spawn(|| (fsuid(), cap_eff())))
            .join()
            .unwrap();
        assert_eq!((uid, eff), (0, caps));
        assert_eq!((fsuid(), cap_eff()), (NOBODY, 0), "the user again");
        let nested = crate::sys::as_server(|| crate::sys::as_server(fsuid));
        assert_eq!(nested, 0);
        assert_eq!(fsuid(), NOBODY);
    })
    .join()
    .unwrap();
}

/// A listing read as a user in batches: every entry is read (in order)
/// while the thread acts as the user, and between batches the thread that
/// consumes them is the server again.
#[test]
fn listing_entries_are_read_as_the_user_in_batches() {
    if !is_root() {
        eprintln!("skipped: switching identities needs root");
        return;
    }
    const N: usize = 3 * ENTRIES_PER_SWITCH + 7;
    // each entry records the fsuid of the thread that read it
    let source = (0..N).map(|i| EntryInfo {
        name: i.to_string().into_bytes(),
        kind: crate::proto::listing::FileKind::File,
        size: 0,
        mode: 0o644,
        nlink: 1,
        uid: fsuid(),
        gid: 0,
        owner: None,
        group: None,
        mtime: 0,
        dev: 0,
        ino: i as u64,
        link_target: None,
    });
    let mut entries = EntriesAsUser::new(
        Box::new(source),
        Identity::new(NOBODY, NOBODY, vec![NOBODY]),
    );
    let mut seen = 0;
    for e in entries.by_ref() {
        assert_eq!(e.name, seen.to_string().into_bytes(), "in order");
        assert_eq!(e.uid, NOBODY, "entry {seen} was read as the server");
        assert_eq!(fsuid(), 0, "the consumer is the server between batches");
        seen += 1;
    }
    assert_eq!(seen, N);
    assert!(entries.next().is_none());
}
