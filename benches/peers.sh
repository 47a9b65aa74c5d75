#!/bin/sh
# The other FTP servers `cargo bench --bench ftpbench` compares against.
# Run as root (Debian/Ubuntu): `sh benches/peers.sh`.
#
# pyftpdlib (with pyopenssl for its FTPS handler and psutil for its
# benchmark script) comes from pip. pure-ftpd, vsftpd and proftpd all provide
# Debian's `ftp-server` and conflict with each other, so their packages are
# not installed but unpacked into target/peers/root (or $FTPBENCH_PEERS_DIR/root),
# together with the libraries they need that the system lacks; the bench runs
# the unpacked binaries with LD_LIBRARY_PATH pointing there and a
# configuration file it writes. Nothing is started and no service is set up.
# vsftpd authenticates local users only (PAM), so this also creates the
# system user `ftpbench` (password 12345, no login shell) that the bench logs
# in as on every server.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
peers=${FTPBENCH_PEERS_DIR:-$here/target/peers}
pkgs="pure-ftpd pure-ftpd-common vsftpd proftpd-core"

apt-get update
python3 -m pip install pyftpdlib pyopenssl psutil

if ! id -u ftpbench >/dev/null 2>&1; then
    useradd --system --create-home --home-dir /var/lib/ftpbench \
        --shell /usr/sbin/nologin ftpbench
fi
echo 'ftpbench:12345' | chpasswd

mkdir -p "$peers/debs"
rm -rf "$peers/root"
mkdir -p "$peers/root"
cd "$peers/debs"
chmod 777 . # apt-get download drops to the _apt user when it can

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# the library packages they depend on (transitively) that are not installed
want=$pkgs
todo=$pkgs
while [ -n "$todo" ]; do
    deps=$(apt-cache depends --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $todo |
        awk '/Depends:/ { print $2 }' | grep '^lib' | grep -v '[<>]' | sort -u)
    todo=
    for d in $deps; do
        case " $want " in *" $d "*) continue ;; esac
        if ! installed "$d"; then
            want="$want $d"
            todo="$todo $d"
        fi
    done
done

echo "unpacking: $want"
rm -f ./*.deb
apt-get download $want
for f in ./*.deb; do
    dpkg -x "$f" "$peers/root"
done

libs="$peers/root/usr/lib/x86_64-linux-gnu:$peers/root/lib/x86_64-linux-gnu"
libs="$libs:$peers/root/usr/lib/$(uname -m)-linux-gnu:$peers/root/lib/$(uname -m)-linux-gnu"
missing=0
for b in usr/sbin/pure-ftpd usr/bin/pure-pw usr/sbin/vsftpd usr/sbin/proftpd; do
    if LD_LIBRARY_PATH=$libs ldd "$peers/root/$b" | grep 'not found'; then
        echo "$b: libraries missing" >&2
        missing=1
    fi
done
for b in usr/sbin/pure-ftpd usr/sbin/vsftpd usr/sbin/proftpd; do
    echo "$peers/root/$b"
done
exit $missing
