//! Process tables from `/proc`, shared by the tests.

/// The processes whose parent is `pid`, with their state letter from
/// `/proc/PID/stat` (`Z` for a zombie).
pub fn children_of(pid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == pid {
            out.push((p, state));
        }
    }
    out
}

/// The name (`comm`) of process `pid`; "" once it is gone.
pub fn comm_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// What every process descended from this one is doing, thread by thread
/// (state, kernel wait channel, current system call and, where readable,
/// kernel stack), for the message of a test that timed out waiting for a
/// server: a forked server that stopped answering shows where it waits.
pub fn descendants_report() -> String {
    let mut out = String::new();
    let mut todo = vec![std::process::id()];
    let mut seen = 0;
    while let Some(pid) = todo.pop() {
        seen += 1;
        if seen > 200 {
            out.push_str("(more processes left out)\n");
            break;
        }
        if pid != std::process::id() {
            out.push_str(&format!("process {pid} ({})\n", comm_of(pid)));
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for tid in tasks.iter().take(32) {
                let read = |what: &str| {
                    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/{what}"))
                        .map(|s| s.trim_end().to_string())
                        .unwrap_or_default()
                };
                let stat = read("stat");
                let state = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 2..].chars().next())
                    .unwrap_or('?');
                out.push_str(&format!(
                    "  thread {tid} ({}) state {state} wchan {} syscall {}\n",
                    read("comm"),
                    read("wchan"),
                    read("syscall"),
                ));
                for line in read("stack").lines().take(12) {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        todo.extend(children_of(pid).into_iter().map(|(p, _)| p));
    }
    out
}
