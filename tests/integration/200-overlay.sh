# SPDX-License-Identifier: GPL-2.0-or-later
#
# 200-overlay - writable copy-on-write overlays of a past instant.  The
# ground truth is a native copy of the same instant: every operation is done
# on the native copy and on the overlay alike, and the two manifests must be
# equal (mtimes are then set alike on both, by utimensat through the
# overlay).  Then: the read-only mount of the same instant is unchanged; a
# named overlay keeps its changes across unmount and remount and is listed
# by `cdpfs overlay list`; a write in the middle of a large sparse file
# grows the overlay by about one block; permissions are enforced for an
# unprivileged user; a second mount of a name in use, an overlay of another
# directory, and a full disk under the overlay fail cleanly with the base
# intact; capture goes on undisturbed meanwhile.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd setfattr "apt-get install attr"
require_cmd sqlite3 "apt-get install sqlite3"

DATA=$T/data
chmod 0711 "$T"   # an unprivileged user must reach the mounts below
make_baseline "$DATA"
truncate -s 256M "$DATA/sparse.img"
head -c 8192 /dev/urandom | dd of="$DATA/sparse.img" bs=8192 seek=1000 conv=notrunc status=none
head -c 300000 /dev/urandom >"$DATA/pages.db"
mkdir -p "$DATA/tree/a/b" "$DATA/shared"
for i in 1 2 3 4 5; do printf 'leaf %s\n' "$i" >"$DATA/tree/a/b/leaf$i"; done
chmod 0755 "$DATA/shared"
printf 'root only\n' >"$DATA/shared/secret"
chmod 0600 "$DATA/shared/secret"
setfattr -n user.tag -v base "$DATA/hello.txt"
seq 1 5000 >"$DATA/config.txt"
if command -v setfacl >/dev/null; then
	printf 'acl\n' >"$DATA/shared/acl-readable"
	chmod 0600 "$DATA/shared/acl-readable"
	setfacl -m u:nobody:r "$DATA/shared/acl-readable"
fi

capture_start "$DATA"
checkpoint base "$DATA"
BASE_TS=$(awk '{print $2}' <<<"${CHECKPOINTS[0]}")
# capture goes on while overlays are mounted
printf 'after the base\n' >"$DATA/later.txt"

# ov_umount LABEL: cdpfs umount of $OV, which waits for its daemon
ov_umount() {
	"$CDPFS" umount "$OV" || check_fail "$1: cdpfs umount exited $?"
	local keep=() m
	for m in "${MOUNTS[@]}"; do [ "$m" = "$OV" ] || keep+=("$m"); done
	MOUNTS=("${keep[@]}")
}

RENAME=$(tool renameat2)
MMAPW=$(tool mmap_write)

# POSIX ACLs of the past are enforced on a read-only mount as they were
mount_at "$HOST:$DATA" "@$BASE_TS" "$T/ro-acl"
if command -v setfacl >/dev/null && command -v setpriv >/dev/null; then
	[ "$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$T/ro-acl/shared/acl-readable" 2>&1)" = acl ] ||
		check_fail "read-only mount: an ACL granting nobody read access was not honoured"
	setpriv --reuid=65534 --regid=65534 --clear-groups cat "$T/ro-acl/shared/secret" >/dev/null 2>&1 &&
		check_fail "read-only mount: nobody read a 0600 file that no ACL opens"
fi
umount_at "$T/ro-acl"

# The native truth: a copy of the base instant made from a read-only mount.
mount_at "$HOST:$DATA" "@$BASE_TS" "$T/ro"
NATIVE=$T/native
cp -a "$T/ro/." "$NATIVE/"
umount_at "$T/ro"
manifest "$NATIVE" >"$T/native-base.manifest"
compare_manifest "$T/m/base.manifest" "$T/native-base.manifest" "native copy of the base" ||
	fail "cp -a of the read-only mount does not reproduce the base"

OV=$T/ov
mount_at "$HOST:$DATA" "@$BASE_TS" "$OV" rw,overlay=ov1
[ -f "$OV/later.txt" ] && check_fail "the overlay of the base instant shows a file created after it"

# apply_ops DIR: the same operations, on the native copy and on the overlay
apply_ops() {
	local d=$1
	printf 'appended\n' >>"$d/hello.txt"
	# open(O_TRUNC) of a base file: shell redirection, as any config rewrite
	printf 'short\n' >"$d/config.txt"
	printf 'PAGE' | dd of="$d/pages.db" bs=1 seek=123457 conv=notrunc status=none
	head -c 8192 /dev/zero | tr '\0' 'q' | dd of="$d/pages.db" bs=8192 seek=20 conv=notrunc status=none
	# shrink then extend: the cut-off bytes must read as zeros
	truncate -s 5000 "$d/random.bin"
	truncate -s 90000 "$d/random.bin"
	mv "$d/sub/one-byte" "$d/one-byte-moved"
	mv "$d/tree/a" "$d/moved-a"
	printf 'x\n' >"$d/ex1"
	mkdir "$d/ex2"
	"$RENAME" exchange "$d/ex1" "$d/ex2"
	"$RENAME" noreplace "$d/hello.txt" "$d/ex1" 2>/dev/null && return 1
	rm "$d/zeros.bin"
	# RENAME_WHITEOUT (as overlayfs uses it): the old name becomes a
	# character device 0:0 of mode 0, listed and removable like any node
	"$RENAME" whiteout "$d/sub/link-to-hello" "$d/link-moved"
	printf 'w\n' >"$d/wo-a"
	"$RENAME" whiteout "$d/wo-a" "$d/empty"
	mkdir "$d/wo-dir"
	"$RENAME" whiteout "$d/wo-dir" "$d/sub/wo-dir-moved"
	rm "$d/wo-dir"
	"$RENAME" whiteout-noreplace "$d/link-moved" "$d/hello.txt" 2>/dev/null && return 1
	[ "$(stat -c '%F %a %t:%T %s' "$d/sub/link-to-hello")" = "character special file 0 0:0 0" ] || return 1
	ln "$d/moved-a/b/leaf1" "$d/leaf1-link"
	ln -s moved-a/b/leaf2 "$d/leaf2-sym"
	chmod 0640 "$d/moved-a/b/leaf3"
	chown 1234:4321 "$d/moved-a/b/leaf4"
	setfattr -n user.tag -v overlay "$d/hello.txt"
	setfattr -n user.new -v 1 "$d/moved-a/b/leaf5"
	setfattr -x user.tag "$d/hello.txt"
	setfattr -n user.tag2 -v again "$d/hello.txt"
	fallocate -p -o 8192 -l 16384 "$d/pages.db"
	fallocate -l 50000 "$d/ex2"
	mkfifo "$d/fifo"
	mkdir -p "$d/newdir/deeper"
	printf 'new\n' >"$d/newdir/deeper/file"
	rmdir "$d/sub/deeper" 2>/dev/null && return 1
	rm -r "$d/sub/deeper"
	head -c 20000 /dev/zero >"$d/mapped"
	"$MMAPW" "$d/mapped" 10000 "written through mmap"
	printf 'replaced\n' >"$d/replace.tmp"
	mv "$d/replace.tmp" "$d/moved-a/b/leaf2"
	sqlite3 "$d/app.db" "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);" >/dev/null
	sqlite3 "$d/app.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
	python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_WRONLY|os.O_APPEND); os.write(f, b"synced\n"); os.fsync(f); os.close(f)' "$d/hello.txt"
	# the same mtimes everywhere (utimensat through the overlay), so the
	# manifests compare content and shape
	find "$d" -exec touch -h -d @1700000000.123456789 {} +
}

apply_ops "$NATIVE" || fail "the operations failed on the native copy"
apply_ops "$OV" || check_fail "the operations failed on the overlay"
manifest "$NATIVE" >"$T/native-after.manifest"
manifest "$OV" >"$T/ov-after.manifest" || check_fail "manifest of the overlay failed"
compare_manifest "$T/native-after.manifest" "$T/ov-after.manifest" "overlay vs native after the same operations" ||
	check_fail "the overlay differs from a native filesystem after the same operations"
[ "$(sqlite3 "$OV/app.db" 'SELECT sum(x) FROM t; PRAGMA integrity_check;' | tr '\n' ' ')" = "6 ok " ] ||
	check_fail "sqlite3 on the overlay: expected sum 6 and integrity ok"
od -An -c -j 5000 -N 16 "$OV/random.bin" | grep -q '[^\\0 ]' &&
	check_fail "truncate then extend on the overlay resurrected old bytes"

# st_blocks as the native copy has them after the same operations: copy-up
# and truncates count what really holds data, not the size (files whose
# allocation both sides make alike; du -s is then compared as a whole)
for f in hello.txt config.txt pages.db random.bin sparse.img sparse.bin ex2 mapped \
	newdir/deeper/file moved-a/b/leaf2 newdir; do
	[ "$(stat -c %b "$OV/$f")" = "$(stat -c %b "$NATIVE/$f")" ] ||
		check_fail "overlay: st_blocks of $f is $(stat -c %b "$OV/$f"), natively $(stat -c %b "$NATIVE/$f")"
done

# st_blksize and statfs block sizes: those of the disk under the overlay
# (where new data lives), as a native file there says, not 8 KiB
want=$(stat -f -c '%s %S' "$STORE/overlays/ov1")
[ "$(stat -f -c '%s %S' "$OV")" = "$want" ] ||
	check_fail "overlay: statfs block sizes '$(stat -f -c '%s %S' "$OV")', the overlay's disk says '$want'"
for f in hello.txt random.bin pages.db newdir/deeper/file sub/link-to-hello newdir; do
	[ "$(stat -c %o "$OV/$f")" = "$(stat -c %o "$NATIVE/$f")" ] ||
		check_fail "overlay: st_blksize of $f is $(stat -c %o "$OV/$f"), natively $(stat -c %o "$NATIVE/$f")"
done

# COLLAPSE_RANGE and INSERT_RANGE never reach a FUSE daemon (the kernel's
# fuse_file_fallocate refuses every mode but KEEP_SIZE, PUNCH_HOLE and
# ZERO_RANGE): EOPNOTSUPP and the file unchanged, as documented
sum_before=$(sha256sum <"$OV/pages.db")
for m in -c -i; do
	fallocate "$m" -o 8192 -l 8192 "$OV/pages.db" 2>"$T/falloc.err" &&
		check_fail "fallocate $m on the overlay succeeded: docs/design.md says no FUSE mount can"
	grep -q "Operation not supported" "$T/falloc.err" ||
		check_fail "fallocate $m on the overlay: expected EOPNOTSUPP, got: $(cat "$T/falloc.err")"
done
[ "$(sha256sum <"$OV/pages.db")" = "$sum_before" ] || check_fail "a refused fallocate changed pages.db"

# a zero range far past any base data costs no index record per block
start=$(date +%s%N)
: >"$OV/huge"
fallocate -z -o 0 -l 64G "$OV/huge" || check_fail "fallocate -z of 64 GiB on the overlay failed"
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(stat -c %s "$OV/huge" 2>/dev/null)" = 68719476736 ] || check_fail "fallocate -z -l 64G: size is $(stat -c %s "$OV/huge" 2>&1)"
[ "$took_ms" -lt 5000 ] || check_fail "fallocate -z of 64 GiB on the overlay took $took_ms ms"
[ "$(dd if="$OV/huge" bs=4096 skip=8000000 count=1 status=none | tr -d '\0' | wc -c)" = 0 ] ||
	check_fail "a zeroed range of the overlay does not read as zeros"
rm "$OV/huge"

# mtime moves on write (checked alone, since apply_ops fixed all mtimes)
before=$(stat -c %Y "$OV/hello.txt")
sleep 1.1
printf 'more\n' >>"$OV/hello.txt"
after=$(stat -c %Y "$OV/hello.txt")
[ "$after" -gt "$before" ] || check_fail "write on the overlay did not move mtime ($before -> $after)"
manifest "$OV" >"$T/ov-final.manifest"

# --------------------------------------------- permissions, as a user
if command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	as_nobody cat "$OV/shared/secret" >/dev/null 2>&1 &&
		check_fail "an unprivileged user read a 0600 root file on the overlay"
	as_nobody sh -c "echo x > '$OV/shared/new'" 2>/dev/null &&
		check_fail "an unprivileged user created a file in a 0755 root directory on the overlay"
	as_nobody sh -c "echo x >> '$OV/pages.db'" 2>/dev/null &&
		check_fail "an unprivileged user wrote a 0644 root file on the overlay"
	chmod 1777 "$OV/shared"
	as_nobody sh -c "echo mine > '$OV/shared/new'" ||
		check_fail "an unprivileged user could not create a file in a 1777 directory on the overlay"
	[ "$(stat -c %u:%g "$OV/shared/new" 2>/dev/null)" = 65534:65534 ] ||
		check_fail "a file created by uid 65534: expected owner 65534:65534, got $(stat -c %u:%g "$OV/shared/new" 2>&1)"
	as_nobody rm -f "$OV/shared/secret" 2>/dev/null || true
	[ -e "$OV/shared/secret" ] || check_fail "the sticky bit did not keep an unprivileged user from removing root's file"
	chmod 0755 "$OV/shared"
	rm -f "$OV/shared/new"
	manifest "$OV" >"$T/ov-final.manifest"
else
	log "no setpriv: permissions not checked as a user"
fi

# ------------------------------------------ names in use, other dirs
mkdir -p "$T/ov-again"
expect_fail "second mount of a name in use" "$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 "$HOST:$DATA" "$T/ov-again"
grep -q "in use" "$T/expect.err" || check_fail "name in use: the message does not say so: $(cat "$T/expect.err")"
is_mounted "$T/ov-again" && { check_fail "a refused mount left '$T/ov-again' mounted"; force_unmount "$T/ov-again"; }

"$CDPFS" overlay --store "$STORE" list >"$T/list.out" || check_fail "cdpfs overlay list exited $?"
cat "$T/list.out"
grep -E "^ov1 .*mounted" "$T/list.out" >/dev/null || check_fail "overlay list does not show ov1 as mounted"
expect_fail "rm of a mounted overlay" "$CDPFS" overlay --store "$STORE" rm ov1

ov_umount "overlay ov1"

# another host in the same store, for "an overlay of another host"
OTHER=$T/other
mkdir -p "$OTHER"
printf 'other host\n' >"$OTHER/f"
"$CDPFS" capture --store "$STORE" --host other-host "$OTHER" || fail "capture of a second host exited $?"
CAPTURED+=("$OTHER")
expect_fail "overlay of another host" "$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 other-host "$T/ov-again"
grep -q "is of $HOST" "$T/expect.err" || check_fail "overlay of another host: the message does not name its host: $(cat "$T/expect.err")"
expect_fail "overlay of another host, with a time" "$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 other-host@latest "$T/ov-again"
capture_stop "$OTHER"
expect_fail "overlay of another directory" "$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 "$HOST@@$BASE_TS" "$T/ov-again"
expect_fail "named overlay at another instant" "$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 "$HOST:$DATA@latest" "$T/ov-again"

# --------------------------------------------- the base is untouched
mount_at "$HOST:$DATA" "@$BASE_TS" "$T/ro2"
manifest "$T/ro2" >"$T/ro-after.manifest"
compare_manifest "$T/m/base.manifest" "$T/ro-after.manifest" "read-only base after the overlay" ||
	check_fail "the read-only mount of the base instant changed after writing an overlay of it"
umount_at "$T/ro2"

# ------------------------------------------------ kept, then mounted again
MOUNTS+=("$OV")
"$CDPFS" mount --store "$STORE" -o rw,overlay=ov1 "$HOST:$DATA" "$OV" ||
	fail "mounting overlay ov1 again (no TIME) exited $?"
manifest "$OV" >"$T/ov-remount.manifest"
compare_manifest "$T/ov-final.manifest" "$T/ov-remount.manifest" "overlay ov1 mounted again" ||
	check_fail "the kept overlay lost or changed what was written before its unmount"

# a second overlay of the same instant, mounted at once, is independent
mount_at "$HOST:$DATA" "@$BASE_TS" "$T/ov2" rw
printf 'only in ov2\n' >"$T/ov2/hello.txt"
grep -q 'only in ov2' "$OV/hello.txt" && check_fail "a write to one overlay shows in another overlay of the same instant"
cmp -s "$T/ov2/random.bin" "$DATA/random.bin" || check_fail "a fresh overlay of the base does not read random.bin as the base has it"
umount_at "$T/ov2"

# a write in the middle of a 256 MiB sparse file grows the overlay by ~a block
ovdir=$STORE/overlays/ov1
printf 'warm' | dd of="$OV/hello.txt" bs=1 seek=0 conv=notrunc status=none
sync -f "$OV/hello.txt"
kib0=$(du -sk "$ovdir" | cut -f1)
head -c 8192 /dev/urandom | dd of="$OV/sparse.img" bs=8192 seek=30000 conv=notrunc status=none
sync -f "$OV/sparse.img"
kib1=$(du -sk "$ovdir" | cut -f1)
log "overlay size: ${kib0} KiB before, ${kib1} KiB after an 8 KiB write into a 256 MiB file"
[ $((kib1 - kib0)) -le 256 ] ||
	check_fail "an 8 KiB write into a 256 MiB sparse file grew the overlay by $((kib1 - kib0)) KiB (expected about 8)"
cmp -s <(dd if="$OV/sparse.img" bs=8192 skip=1000 count=1 status=none) \
	<(dd if="$DATA/sparse.img" bs=8192 skip=1000 count=1 status=none) ||
	check_fail "the base block of the sparse file reads differently through the overlay"
# du, cp --sparse and tar -S see the holes of a changed sparse file
printf 'X' | dd of="$OV/sparse.bin" bs=1 seek=819200 conv=notrunc status=none
[ "$(stat -c %b "$OV/sparse.bin")" = 16 ] ||
	check_fail "a 1 MiB file with two 4 KiB granules of data: st_blocks $(stat -c %b "$OV/sparse.bin"), expected 16"
[ "$(du -k "$OV/sparse.bin" | cut -f1)" = 8 ] || check_fail "du -k of the changed sparse file: $(du -k "$OV/sparse.bin")"
cp --sparse=always "$OV/sparse.bin" "$T/sparse.cp" || check_fail "cp --sparse=always from the overlay exited $?"
cmp -s "$OV/sparse.bin" "$T/sparse.cp" || check_fail "cp --sparse=always of the changed sparse file differs"
[ "$(du -k "$T/sparse.cp" | cut -f1)" -le 8 ] || check_fail "cp --sparse=always filled holes: $(du -k "$T/sparse.cp")"
(cd "$OV" && tar -S -cf "$T/sparse.tar" sparse.bin) || check_fail "tar -S on the overlay exited $?"
mkdir -p "$T/untar"
tar -xf "$T/sparse.tar" -C "$T/untar" || check_fail "tar -x of the sparse archive exited $?"
cmp -s "$OV/sparse.bin" "$T/untar/sparse.bin" || check_fail "tar -S round trip of the changed sparse file differs"
# (SEEK_DATA answers per 8 KiB block, so tar keeps at most two blocks)
[ "$(du -k "$T/untar/sparse.bin" | cut -f1)" -le 16 ] || check_fail "tar -S lost the holes: $(du -k "$T/untar/sparse.bin")"
# SEEK_DATA/SEEK_HOLE: the base's block, then the one the overlay wrote;
# tar -S then archives two blocks of the 256 MiB file, not all of it
python3 - "$OV/sparse.img" >"$T/seek.out" 2>&1 <<'EOF' || check_fail "SEEK_DATA/SEEK_HOLE on the overlay: $(cat "$T/seek.out")"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
got = [os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 1000 * 8192, os.SEEK_HOLE),
       os.lseek(fd, 1001 * 8192, os.SEEK_DATA), os.lseek(fd, 30000 * 8192, os.SEEK_HOLE)]
want = [1000 * 8192, 1001 * 8192, 30000 * 8192, 30001 * 8192]
if got != want:
    print("got", got, "expected", want)
    sys.exit(1)
EOF
(cd "$OV" && tar -S -cf "$T/img.tar" sparse.img) || check_fail "tar -S of sparse.img exited $?"
[ "$(stat -c %s "$T/img.tar")" -lt 1048576 ] ||
	check_fail "tar -S of a 256 MiB file with two data blocks made $(stat -c %s "$T/img.tar") bytes"
rm -f "$T/img.tar"
# while a handle is open for writing, pages written through a shared
# mapping may not have reached the daemon: SEEK_DATA must not skip them
python3 - "$OV/mapped.img" >"$T/mmseek.out" 2>&1 <<'EOF' || check_fail "SEEK_DATA with a dirty mapping: $(cat "$T/mmseek.out")"
import mmap, os, sys, time
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, 1 << 20)
m = mmap.mmap(fd, 1 << 20)
m[512 * 1024:512 * 1024 + 4] = b"mmap"
r = os.open(p, os.O_RDONLY)
try:
    d = os.lseek(r, 0, os.SEEK_DATA)
except OSError as e:
    d = e.strerror
if not isinstance(d, int) or d > 512 * 1024:
    print("SEEK_DATA found", d, "before the written page at", 512 * 1024)
    sys.exit(1)
m.close()
os.close(fd)
for i in range(40):   # the release reaches the daemon in the background
    d = os.lseek(r, 0, os.SEEK_DATA)
    if d == 512 * 1024:
        break
    time.sleep(0.05)
if d != 512 * 1024:
    print("after munmap and close, SEEK_DATA gives", d)
    sys.exit(1)
EOF
rm -f "$OV/mapped.img"
ov_umount "overlay ov1, mounted again"
"$CDPFS" overlay --store "$STORE" rm ov1 || check_fail "cdpfs overlay rm ov1 exited $?"
[ -e "$ovdir" ] && check_fail "cdpfs overlay rm left '$ovdir'"

# ------------------------------------------------ a private overlay goes
mount_at "$HOST:$DATA" "@$BASE_TS" "$OV" rw
printf 'scratch\n' >"$OV/scratch"
ov_umount "a private overlay"
left=$(find "$STORE/overlays" -mindepth 1 -maxdepth 1 | wc -l)
[ "$left" -eq 0 ] || check_fail "a private overlay was not discarded at unmount: $(ls -A "$STORE/overlays")"

# ----------------------------------------- a full disk under the overlay
SMALL=$T/small
mkdir -p "$SMALL"
if mount -t tmpfs -o size=3m cdpfs-test "$SMALL" 2>/dev/null; then
	at_exit "umount -l '$SMALL' 2>/dev/null || true"
	mount_at "$HOST:$DATA" "@$BASE_TS" "$OV" "rw,overlay=full,overlay_dir=$SMALL"
	rc=0
	head -c 8M /dev/urandom | dd of="$OV/big.new" bs=64k status=none 2>"$T/dd.err" || rc=$?
	[ "$rc" -ne 0 ] || check_fail "writing 8 MiB into an overlay on a 3 MiB disk succeeded"
	grep -q "No space left" "$T/dd.err" || check_fail "full overlay disk: expected ENOSPC, got: $(cat "$T/dd.err")"
	cmp -s "$OV/random.bin" "$DATA/random.bin" || check_fail "a full overlay disk made base files unreadable"
	ov_umount "the full overlay"
	mount_at "$HOST:$DATA" "@$BASE_TS" "$T/ro3"
	manifest "$T/ro3" >"$T/ro-full.manifest"
	compare_manifest "$T/m/base.manifest" "$T/ro-full.manifest" "base after a full overlay disk" ||
		check_fail "the base changed after its overlay's disk filled up"
	umount_at "$T/ro3"
	"$CDPFS" overlay --store "$STORE" rm full || check_fail "cdpfs overlay rm of the full overlay exited $?"
	umount "$SMALL" || check_fail "cannot unmount the small tmpfs"
else
	log "cannot mount a tmpfs here: full disk under an overlay not checked"
fi

# capture went on undisturbed
printf 'still captured\n' >"$DATA/after-overlays.txt"
checkpoint after "$DATA"
capture_stop "$DATA"
CHECKPOINTS=("${CHECKPOINTS[1]}")
verify_checkpoints
finish
