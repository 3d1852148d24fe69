# SPDX-License-Identifier: GPL-2.0-or-later
#
# 002-phases - every operation the capture layer journals, in phases, on a
# directory that already holds files.  After each phase the instant and the
# manifest of the live tree are recorded; at the end each instant is mounted
# and must match its manifest exactly (content, holes, size, mode, owner,
# mtime, nlink, symlink targets, xattrs, fifos and device nodes, link groups).
. "$(dirname "$0")/lib.sh"
require_cdpfs
RENAMEAT2=$(tool renameat2)

DATA=$T/data
make_baseline "$DATA"
# the 64 MiB file and a tree for the bulk phases are part of the baseline
head -c 64M /dev/urandom >"$DATA/big.bin"
mkdir "$DATA/bulk-old"
for i in $(seq 1 300); do printf 'old %d\n' "$i" >"$DATA/bulk-old/f$i"; done
manifest "$DATA" >"$T/native.manifest"

capture_start "$DATA"
checkpoint p00-baseline "$DATA"
compare_manifest "$T/native.manifest" "$T/m/p00-baseline.manifest" "capture mount vs native" ||
	check_fail "the tree seen through the capture mount differs from the native tree"

# p01: whole, partial-block, unaligned and block-crossing writes, appends
log "p01 writes"
printf 'rewritten\n' >"$DATA/hello.txt"
printf 'ABCDEFGHIJ' | dd of="$DATA/random.bin" bs=1 seek=100 conv=notrunc status=none
printf 'cross-block' | dd of="$DATA/random.bin" bs=1 seek=8187 conv=notrunc status=none
printf 'far' | dd of="$DATA/random.bin" bs=1 seek=65535 conv=notrunc status=none
head -c 12345 /dev/urandom | dd of="$DATA/zeros.bin" bs=12345 iflag=fullblock seek=1 conv=notrunc status=none
seq 1 1000 >>"$DATA/sub/deeper/numbers.txt"
printf 'Z' | dd of="$DATA/sparse.bin" bs=1 seek=1048575 conv=notrunc status=none
head -c 3000 /dev/urandom | dd of="$DATA/sparse.bin" bs=3000 iflag=fullblock seek=2 conv=notrunc status=none
checkpoint p01-writes "$DATA"

# p02: truncate shrink then extend (zeros, never old bytes), ftruncate,
# truncate(2) by path, O_TRUNC
log "p02 truncate"
head -c 40000 /dev/urandom >"$DATA/trunc.bin"
truncate -s 5000 "$DATA/trunc.bin"
truncate -s 50000 "$DATA/trunc.bin"
truncate -s 123 "$DATA/sub/deeper/numbers.txt"
perl -e 'truncate($ARGV[0], 9000) or die "truncate: $!\n"' "$DATA/random.bin"
perl -e 'truncate($ARGV[0], 30000) or die "truncate: $!\n"' "$DATA/random.bin"
: >"$DATA/sub/one-byte"
truncate -s 0 "$DATA/empty"
truncate -s 16384 "$DATA/empty"
checkpoint p02-truncate "$DATA"
cmp <(tail -c +5001 "$DATA/trunc.bin") <(head -c 45000 /dev/zero) || check_fail "live: bytes after shrink-then-extend are not zeros"

# p03: fallocate: allocate, keep-size, punch hole, zero range
log "p03 fallocate"
head -c 65536 /dev/urandom >"$DATA/falloc.bin"
fallocate -l 1048576 "$DATA/falloc.bin"
fallocate -n -o 1048576 -l 65536 "$DATA/falloc.bin"
fallocate -p -o 8192 -l 16384 "$DATA/falloc.bin"
fallocate -p -o 100 -l 50 "$DATA/falloc.bin"
if ! fallocate -z -o 40000 -l 10000 "$DATA/falloc.bin" 2>"$T/zr.err"; then
	log "NOTE: fallocate zero-range through the capture mount: $(cat "$T/zr.err")"
	mkdir -p "$T/native" && head -c 65536 /dev/zero >"$T/native/z" &&
		fallocate -z -o 100 -l 100 "$T/native/z" &&
		check_fail "fallocate zero-range works natively but fails through the capture mount: $(cat "$T/zr.err")"
fi
checkpoint p03-fallocate "$DATA"

# p04: create, mknod, mkfifo, mkdir, symlink, link
log "p04 create"
printf 'created\n' >"$DATA/created.txt"
install -m 0600 /dev/null "$DATA/created-0600"
mkfifo -m 0620 "$DATA/fifo"
mknod -m 0640 "$DATA/null-dev" c 1 3
mknod -m 0640 "$DATA/blk-dev" b 7 200
mkdir -p -m 0750 "$DATA/a/b/c/d"
printf 'deep\n' >"$DATA/a/b/c/d/file"
ln -s a/b/c/d/file "$DATA/symlink-rel"
ln -s /nonexistent/target "$DATA/symlink-dangling"
ln -s "$(printf 'x%.0s' $(seq 1 1000))" "$DATA/symlink-long"
ln "$DATA/created.txt" "$DATA/a/link-to-created"
ln "$DATA/created.txt" "$DATA/a/b/link2-to-created"
checkpoint p04-create "$DATA"

# p05: unlink, rmdir, rename (plain, over a file, across dirs, dirs,
# RENAME_NOREPLACE, RENAME_EXCHANGE of files and of a file and a dir)
log "p05 unlink rename"
rm "$DATA/a/b/link2-to-created"
rm "$DATA/sub/one-byte"
rmdir "$DATA/a/b/c/d" 2>/dev/null && check_fail "rmdir of a non-empty dir succeeded"
rm "$DATA/a/b/c/d/file"
rmdir "$DATA/a/b/c/d"
mv "$DATA/created-0600" "$DATA/sub/renamed-0600"
printf 'victim\n' >"$DATA/victim"
mv "$DATA/trunc.bin" "$DATA/victim"
mv "$DATA/a/b" "$DATA/sub/moved-dir"
"$RENAMEAT2" noreplace "$DATA/fifo" "$DATA/fifo-renamed" || check_fail "RENAME_NOREPLACE to a free name failed"
if "$RENAMEAT2" noreplace "$DATA/hello.txt" "$DATA/victim" 2>"$T/nr.err"; then
	check_fail "RENAME_NOREPLACE over an existing name succeeded"
else
	grep -q EEXIST "$T/nr.err" || check_fail "RENAME_NOREPLACE over an existing name: expected EEXIST, got $(cat "$T/nr.err")"
fi
printf 'left\n' >"$DATA/xa"
printf 'right side\n' >"$DATA/xb"
"$RENAMEAT2" exchange "$DATA/xa" "$DATA/xb" || check_fail "RENAME_EXCHANGE of two files failed"
[ "$(cat "$DATA/xa")" = "right side" ] || check_fail "live: RENAME_EXCHANGE did not swap contents"
mkdir "$DATA/xdir"
printf 'in xdir\n' >"$DATA/xdir/inside"
"$RENAMEAT2" exchange "$DATA/xa" "$DATA/xdir" || check_fail "RENAME_EXCHANGE of a file and a dir failed"
"$RENAMEAT2" exchange "$DATA/sub/renamed-0600" "$DATA/a/link-to-created" || check_fail "RENAME_EXCHANGE across dirs failed"
# RENAME_WHITEOUT leaves a whiteout (a character device 0/0) at the old
# name: a new inode, which must be in the history like any mknod
printf 'whited\n' >"$DATA/wa"
"$RENAMEAT2" whiteout "$DATA/wa" "$DATA/sub/wb" || check_fail "RENAME_WHITEOUT failed"
[ -c "$DATA/wa" ] || check_fail "live: RENAME_WHITEOUT left no whiteout at the old name"
# A RENAME_WHITEOUT that fails can still change the source directory:
# ext4 makes the whiteout first and, when it then refuses (a directory onto
# a non-empty one: ENOTEMPTY), puts the old entry back, which sets the
# directory's mtime and ctime.  Through capture the directory must show
# that change at once, as natively, and the history must have it.
# wo_fail DIR: the failed rename in DIR; sets WO_BEFORE and WO_AFTER, the
# mtime of DIR/wo before and after.
wo_fail() {
	local d=$1
	mkdir -p "$d/wo/wsrc" "$d/wo-full/keep"
	sleep 0.05
	WO_BEFORE=$(stat -c %.9Y "$d/wo")
	if "$RENAMEAT2" whiteout "$d/wo/wsrc" "$d/wo-full" 2>"$T/wo.err"; then
		check_fail "RENAME_WHITEOUT of a directory onto a non-empty one succeeded in '$d'"
	else
		grep -q ENOTEMPTY "$T/wo.err" ||
			check_fail "RENAME_WHITEOUT onto a non-empty directory: expected ENOTEMPTY, got $(cat "$T/wo.err")"
	fi
	WO_AFTER=$(stat -c %.9Y "$d/wo")
	[ -d "$d/wo/wsrc" ] || check_fail "a failed RENAME_WHITEOUT moved its source in '$d'"
}
mkdir "$T/native-wo"
wo_fail "$T/native-wo"
if [ "$WO_BEFORE" = "$WO_AFTER" ]; then
	log "natively a failed RENAME_WHITEOUT leaves its directory's mtime (not ext4?)"
	wo_fail "$DATA"
else
	log "natively a failed RENAME_WHITEOUT moves its directory's mtime, as ext4 does"
	wo_fail "$DATA"
	[ "$WO_BEFORE" != "$WO_AFTER" ] ||
		check_fail "live: after a failed RENAME_WHITEOUT the directory shows its old mtime through capture"
fi
checkpoint p05-rename "$DATA"

# p06: chmod, chown, utimens (UTIME_OMIT either side), xattrs
log "p06 attributes"
chmod 4751 "$DATA/random.bin"
chmod 1777 "$DATA/sub"
chmod 0000 "$DATA/empty"
chown 1234:5678 "$DATA/victim"
chown -h 4321:8765 "$DATA/symlink-rel"
chown 99 "$DATA/a"
touch -d '2001-02-03 04:05:06.123456789' "$DATA/zeros.bin"
touch -m -d '1999-12-31 23:59:59.999999999' "$DATA/sparse.bin"
touch -a -d '2011-11-11 11:11:11' "$DATA/victim"
touch -h -d '2005-05-05 05:05:05.5' "$DATA/symlink-dangling"
# the times just set on a symlink stay as set once the kernel's cached
# attributes expire (a readlink after setting them moved the atime)
touch -h -a -d @1081051444.25 "$DATA/symlink-rel"
sleep 1.2
got=$(stat -c %X "$DATA/symlink-rel")
case $got in 1081051444) ;; *) check_fail "live: symlink atime set to @1081051444.25 reads back as '$got'" ;; esac
touch -d '2003-03-03 03:03:03.000000003' "$DATA/sub/moved-dir"
setfattr -n user.one -v first "$DATA/created.txt"
setfattr -n user.two -v 0x00ff00ff "$DATA/created.txt"
setfattr -n user.empty "$DATA/created.txt"
setfattr -n user.dir -v d "$DATA/sub"
setfattr -n user.origin -v changed "$DATA/hello.txt"
setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' 'q')" "$DATA/random.bin"
setfattr -x user.origin "$DATA/sub/hard-hello" # same inode as hello.txt
checkpoint p06-attrs "$DATA"

# p07: files replaced under the same name (atomic rename over, delete and
# recreate, different type under the same name)
log "p07 replace"
printf 'replacement via rename\n' >"$DATA/.hello.tmp"
mv "$DATA/.hello.tmp" "$DATA/hello.txt"
rm "$DATA/victim"
printf 'recreated victim, other content\n' >"$DATA/victim"
rm "$DATA/created.txt"
mkdir "$DATA/created.txt"
rm "$DATA/symlink-rel"
printf 'was a symlink\n' >"$DATA/symlink-rel"
checkpoint p07-replace "$DATA"

# p08: 64 MiB file, scattered 8 KiB writes (aligned and unaligned)
log "p08 big file"
for i in $(seq 1 200); do
	blk=$(( (i * 2654435761) % 8192 ))
	if [ $((i % 3)) -eq 0 ]; then
		off=$(( blk * 8192 + (i * 37) % 8000 ))
		head -c 8192 /dev/urandom |
			dd of="$DATA/big.bin" bs=8192 iflag=fullblock oflag=seek_bytes seek=$off conv=notrunc status=none
	else
		head -c 8192 /dev/urandom | dd of="$DATA/big.bin" bs=8192 seek=$blk conv=notrunc status=none
	fi
done
checkpoint p08-big "$DATA"

# p09: thousands of small files created, then most deleted
log "p09 many files"
mkdir "$DATA/many"
for d in $(seq 1 10); do
	mkdir "$DATA/many/d$d"
	for i in $(seq 1 300); do printf '%d/%d\n' "$d" "$i" >"$DATA/many/d$d/f$i"; done
done
checkpoint p09-many-created "$DATA"
for d in $(seq 1 10); do
	for i in $(seq 1 300); do [ $((i % 7)) -eq 0 ] || rm "$DATA/many/d$d/f$i"; done
done
rm -r "$DATA/many/d10" "$DATA/bulk-old"
checkpoint p10-many-deleted "$DATA"

verify_checkpoints
capture_stop "$DATA"
finish
