#!/bin/sh
# Where the client runs: pyftpdlib's benchmark script (`ftpbench -b
# concurrence -n 200 -s 10M`) against each ftpdlib model and pyftpdlib's
# async server, first with the server on one CPU and the client on the
# others (as with clients on other hosts), then both free to run on every
# CPU (as `cargo bench --bench ftpbench` runs them). Prints the medians of
# its `200 concurrent clients (STOR 10.0M file)` and `(connect, login)`
# seconds as a Markdown table.
#
#   sh benches/pinned.sh [RUNS] [DIR]
#
# RUNS: runs per server and placement (default 5); DIR: where the files go
# (default /var/tmp; /dev/shm for memory). Needs `cargo build --release`,
# taskset (util-linux), pyftpdlib, and the script that the ftpbench bench
# caches in target/ftpbench-src (run the bench once, or set
# FTPBENCH_SCRIPT). Uses loopback only; every server it starts is stopped.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
base=${2:-/var/tmp}
bin=$here/target/release/ftpdlib
script=${FTPBENCH_SCRIPT:-$(ls "$here"/target/ftpbench-src/pyftpdlib-*/scripts/ftpbench 2>/dev/null | tail -n 1)}
[ -x "$bin" ] || { echo "no $bin: cargo build --release" >&2; exit 1; }
[ -n "$script" ] && [ -f "$script" ] || { echo "no ftpbench script: run the ftpbench bench once, or set FTPBENCH_SCRIPT" >&2; exit 1; }
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { echo "needs 2 CPUs or more" >&2; exit 1; }
last=$((ncpu - 1))
all=0-$last
others=0-$((last - 1))

dir=$(mktemp -d "$base/pinned-XXXXXX")
chmod 777 "$dir"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME CPUS PORT: a server on CPUS, waited for (10 s at most)
start() {
    case $1 in
    pyftpdlib)
        taskset -c "$2" python3 -m pyftpdlib -i 127.0.0.1 -p "$3" -d "$dir" -u u -P p -w >/dev/null 2>&1 &
        ;;
    *)
        taskset -c "$2" "$bin" --concurrency "$1" -i 127.0.0.1 -p "$3" -d "$dir" -u u -P p -w \
            --max-cons 1000 --max-cons-per-ip 1000 >/dev/null 2>&1 &
        ;;
    esac
    server=$!
    i=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $3), 1).close()" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$1 did not start" >&2; exit 1; }
        sleep 0.1
    done
}

median() {
    tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "| server | STOR s, server on CPU $last, client on $others | STOR s, both on $all | connect+login s, pinned | connect+login s, both on $all |"
echo "|---|---:|---:|---:|---:|"
for name in multi-thread async multi-proc pre-fork pyftpdlib; do
    row="| $name"
    logins=""
    for place in pinned free; do
        if [ $place = pinned ]; then srv=$last; cli=$others; else srv=$all; cli=$all; fi
        port=$(free_port)
        start "$name" "$srv" "$port"
        stor=""
        login=""
        r=0
        while [ $r -lt "$runs" ]; do
            out=$(ulimit -n 4096 2>/dev/null; timeout 300 taskset -c "$cli" python3 -W ignore "$script" \
                -u u -p p -H 127.0.0.1 -P "$port" -b concurrence -n 200 -s 10M 2>&1) || true
            stor="$stor $(echo "$out" | awk '/concurrent clients \(STOR/ { print $(NF - 1) }')"
            login="$login $(echo "$out" | awk '/concurrent clients \(connect, login\)/ { print $(NF - 1) }')"
            r=$((r + 1))
        done
        kill "$server"
        wait "$server" 2>/dev/null || true
        server=""
        rm -rf "${dir:?}"/*
        row="$row | $(echo "$stor" | median)"
        logins="$logins | $(echo "$login" | median)"
    done
    echo "$row$logins |"
done
