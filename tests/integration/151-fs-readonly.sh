#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 151-fs-readonly - the time-travel mount as a filesystem: every write
# attempt fails with EROFS and changes nothing; a directory of 5000 entries
# lists completely, in one pass and after seekdir; hard links share st_ino;
# fifos and device nodes appear as such; a mount of the past made while
# capture runs stays fixed while the live tree changes; "latest" is fixed at
# mount time; `cdpfs umount` returns with the daemon gone; `cdpfs hosts`
# (text and --json) describes the capture; mount.cdpfs mounts read-only even
# with mount(8)'s implicit "-o rw".
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd python3 "directory and EROFS checks"

DATA=$T/data
make_baseline "$DATA"
mkdir -p "$DATA/big"
(cd "$DATA/big" && seq -f 'entry-%05g' 1 5000 | xargs touch)
mkfifo "$DATA/fifo"
mknod "$DATA/nulldev" c 1 3
capture_start "$DATA"
printf 'v1\n' >"$DATA/moving"
checkpoint v1 "$DATA"
t_v1=$(tail -n 1 <<<"${CHECKPOINTS[-1]}" | awk '{print $2}')

# -------------------------------------------------- a mount while capture runs
MNT=$T/mnt-v1
mount_at "$HOST" "@$t_v1" "$MNT"
M=$MNT$DATA
printf 'v2\n' >"$DATA/moving"
printf 'new\n' >"$DATA/after-v1"
sleep 0.3
[ "$(cat "$M/moving")" = v1 ] || check_fail "the mount of v1 shows '$(cat "$M/moving")' for moving, not v1"
[ -e "$M/after-v1" ] && check_fail "a file created after v1 appears in the mount of v1"
manifest "$M" >"$T/v1.got" || check_fail "manifest of the v1 mount failed"
compare_manifest "$T/m/v1.manifest" "$T/v1.got" "v1 while capture runs" ||
	check_fail "mount of v1 made while capture runs differs from the live tree at v1"

# -------------------------------------------------- EROFS on every write path
python3 - "$M" >"$T/erofs.out" 2>&1 <<'EOF' || check_fail "EROFS checks: $(cat "$T/erofs.out")"
import errno, os, sys
m = sys.argv[1]
f = os.path.join(m, "hello.txt")
d = os.path.join(m, "sub")
bad = []
def expect_erofs(label, fn):
    try:
        fn()
        bad.append(label + ": succeeded")
    except OSError as e:
        if e.errno != errno.EROFS:
            bad.append("%s: %s instead of EROFS" % (label, errno.errorcode.get(e.errno, e.errno)))
expect_erofs("open O_WRONLY", lambda: os.open(f, os.O_WRONLY))
expect_erofs("open O_RDWR", lambda: os.open(f, os.O_RDWR))
expect_erofs("open O_TRUNC", lambda: os.open(f, os.O_RDONLY | os.O_TRUNC))
expect_erofs("create", lambda: os.open(os.path.join(m, "new"), os.O_CREAT | os.O_WRONLY, 0o644))
expect_erofs("truncate", lambda: os.truncate(f, 0))
expect_erofs("mkdir", lambda: os.mkdir(os.path.join(m, "newdir")))
expect_erofs("rmdir", lambda: os.rmdir(os.path.join(d, "deeper")))
expect_erofs("unlink", lambda: os.unlink(f))
expect_erofs("rename", lambda: os.rename(f, f + ".x"))
expect_erofs("link", lambda: os.link(f, f + ".l"))
expect_erofs("symlink", lambda: os.symlink("x", os.path.join(m, "sl")))
expect_erofs("mknod fifo", lambda: os.mkfifo(os.path.join(m, "ff")))
expect_erofs("chmod", lambda: os.chmod(f, 0o600))
expect_erofs("chown", lambda: os.chown(f, 1, 1))
expect_erofs("utime", lambda: os.utime(f, (0, 0)))
expect_erofs("setxattr", lambda: os.setxattr(f, "user.x", b"1"))
expect_erofs("removexattr", lambda: os.removexattr(f, "user.origin"))
if os.access(f, os.W_OK):
    bad.append("access(W_OK) says writable")
fd = os.open(f, os.O_RDONLY)
if os.read(fd, 100) != b"hello\n":
    bad.append("read of hello.txt")
os.close(fd)
if os.getxattr(f, "user.origin") != b"baseline":
    bad.append("getxattr user.origin")
st = os.statvfs(m)
if not st.f_flag & os.ST_RDONLY:
    bad.append("statvfs does not say read-only")
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("all write attempts gave EROFS")
EOF
cat "$T/erofs.out"
[ "$(cat "$DATA/hello.txt")" = hello ] || check_fail "the live hello.txt changed"

# -------------------------------------------------- big directory, seekdir
python3 - "$M/big" >"$T/dir.out" 2>&1 <<'EOF' || check_fail "directory checks: $(cat "$T/dir.out")"
import os, sys
d = sys.argv[1]
names = os.listdir(d)
want = ["entry-%05d" % i for i in range(1, 5001)]
bad = []
if sorted(names) != want:
    bad.append("listdir: %d names, %d distinct, want 5000" % (len(names), len(set(names))))
with os.scandir(d) as it:
    n = sum(1 for e in it if e.is_file(follow_symlinks=False))
if n != 5000:
    bad.append("scandir: %d regular files" % n)
if bad:
    print("\n".join(bad)); sys.exit(1)
print("5000 entries listed")
EOF
cat "$T/dir.out"
cat >"$T/seek.c" <<'EOF'
#include <dirent.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	DIR *d = opendir(argv[1]);
	struct dirent *e;
	long pos = 0;
	char want[256] = "";
	int n = 0, m = 0;

	if (!d)
		return 2;
	while ((e = readdir(d))) {
		if (++n == 2500)
			pos = telldir(d);
		if (n == 2501)
			strcpy(want, e->d_name);
	}
	seekdir(d, pos);
	e = readdir(d);
	if (!e || strcmp(e->d_name, want)) {
		printf("seekdir: got %s, want %s\n", e ? e->d_name : "(end)", want);
		return 1;
	}
	rewinddir(d);
	while (readdir(d))
		m++;
	printf("%d entries, %d after rewind\n", n, m);
	return n == 5002 && m == 5002 ? 0 : 1;
}
EOF
if cc -o "$T/seek" "$T/seek.c"; then
	"$T/seek" "$M/big" || check_fail "telldir/seekdir/rewinddir on the mount"
fi

# -------------------------------------------------- inodes and special files
[ "$(stat -c %i "$M/hello.txt")" = "$(stat -c %i "$M/sub/hard-hello")" ] ||
	check_fail "hard links have different inode numbers"
[ "$(stat -c %h "$M/hello.txt")" = 2 ] || check_fail "hello.txt link count is not 2"
[ -p "$M/fifo" ] || check_fail "fifo is not a fifo in the mount"
[ "$(stat -c '%F %t:%T' "$M/nulldev")" = "character special file 1:3" ] ||
	check_fail "nulldev: $(stat -c '%F %t:%T' "$M/nulldev")"
[ "$(readlink "$M/sub/link-to-hello")" = ../hello.txt ] || check_fail "symlink target"

# -------------------------------------------------- block sizes of the disk beneath
# st_blksize and statfs f_bsize/f_frsize are those of the disk the data
# lives on (the store's), not the store's 8 KiB block; st_blocks as captured
want=$(stat -f -c '%s %S' "$STORE")
for f in hello.txt random.bin sparse.bin sub; do
	[ "$(stat -c %o "$M/$f")" = "${want%% *}" ] ||
		check_fail "read-only mount: st_blksize of $f is $(stat -c %o "$M/$f"), the store's disk says ${want%% *}"
done
[ "$(stat -f -c '%s %S' "$M")" = "$want" ] ||
	check_fail "read-only mount: statfs block sizes '$(stat -f -c '%s %S' "$M")', the store's disk says '$want'"
[ "$(stat -c %b "$M/sparse.bin")" = "$(stat -c %b "$DATA/sparse.bin")" ] ||
	check_fail "read-only mount: st_blocks of sparse.bin $(stat -c %b "$M/sparse.bin"), captured $(stat -c %b "$DATA/sparse.bin")"

# -------------------------------------------------- cdpfs umount waits
"$CDPFS" umount "$MNT" || check_fail "cdpfs umount exited $?"
is_mounted "$MNT" && check_fail "cdpfs umount returned with '$MNT' still mounted"
for p in /proc/[0-9]*; do
	case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in *"cdpfs mount"*"$MNT"*)
		grep -q '^State:.*Z' "$p/status" 2>/dev/null ||
			check_fail "daemon ${p#/proc/} of '$MNT' still running after cdpfs umount" ;;
	esac
done
MOUNTS=()

# -------------------------------------------------- latest is fixed at mount
mount_at "$HOST" latest "$T/mnt-latest"
printf 'v3\n' >"$DATA/moving"
sleep 0.3
[ "$(cat "$T/mnt-latest$DATA/moving")" = v2 ] ||
	check_fail "a mount of latest moved on: moving is '$(cat "$T/mnt-latest$DATA/moving")'"
umount_at "$T/mnt-latest"

# -------------------------------------------------- cdpfs hosts
"$CDPFS" hosts --store "$STORE" >"$T/hosts.txt" || check_fail "cdpfs hosts exited $?"
cat "$T/hosts.txt"
head -n 1 "$T/hosts.txt" | grep -q '^HOST  *DIRECTORY  *FIRST  *LATEST  *STATE  *LATE  *GAPS$' ||
	check_fail "cdpfs hosts header"
grep -E "^$HOST +$DATA +[0-9-]+ [0-9:]+ +[0-9-]+ [0-9:]+ +active" "$T/hosts.txt" >/dev/null ||
	check_fail "cdpfs hosts has no active row for $HOST $DATA"
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json" || check_fail "cdpfs hosts --json exited $?"
python3 - "$T/hosts.json" "$HOST" "$DATA" <<'EOF' || check_fail "cdpfs hosts --json content"
import json, sys
j = json.load(open(sys.argv[1]))
h = [h for h in j["hosts"] if h["name"] == sys.argv[2]][0]
d = [d for d in h["dirs"] if d["path"] == sys.argv[3]][0]
assert d["active"] is True and d["state"] == "active", d
assert h["first_ns"] > 0 and h["latest_ns"] >= h["first_ns"], h
assert isinstance(d["gaps"], list)
for k in ("first", "latest", "latest_seq", "dirs"):
    assert k in h, k
EOF

capture_stop "$DATA"
"$CDPFS" hosts --store "$STORE" | grep -E "^$HOST +$DATA .* stopped" >/dev/null ||
	check_fail "cdpfs hosts does not say stopped after capture --stop"

# -------------------------------------------------- mount.cdpfs
HELPER=$BUILD/mount.cdpfs
mkdir -p "$T/mnt-helper"
MOUNTS+=("$T/mnt-helper")
# As mount(8) calls it for `mount -t cdpfs SPEC DIR` with no options.
CDPFS_BIN=$CDPFS "$HELPER" "$HOST:$DATA@latest" "$T/mnt-helper" -o "rw,store=$STORE" ||
	check_fail "mount.cdpfs with mount(8)'s implicit rw exited $?"
if is_mounted "$T/mnt-helper"; then
	findmnt -rn -o OPTIONS -M "$T/mnt-helper" | grep -q '^ro' ||
		check_fail "mount.cdpfs mount is not read-only: $(findmnt -rn -o OPTIONS -M "$T/mnt-helper")"
	[ "$(cat "$T/mnt-helper/moving")" = v3 ] || check_fail "mount.cdpfs latest: moving is not v3"
	umount "$T/mnt-helper" || check_fail "umount(8) of a cdpfs mount failed"
else
	check_fail "mount.cdpfs returned but '$T/mnt-helper' is not mounted"
fi
if [ -x /sbin/mount.cdpfs ] && cmp -s /sbin/mount.cdpfs "$HELPER"; then
	CDPFS_BIN=$CDPFS mount -t cdpfs -o "store=$STORE" "$HOST@latest" "$T/mnt-helper" ||
		check_fail "mount -t cdpfs exited $?"
	is_mounted "$T/mnt-helper" && umount "$T/mnt-helper"
else
	log "NOTE: /sbin/mount.cdpfs is not this build's; mount -t cdpfs not run"
fi

verify_checkpoints
finish
