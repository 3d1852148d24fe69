# SPDX-License-Identifier: GPL-2.0-or-later
#
# 001-smoke - the core loop end to end: a directory that already holds
# files is captured, changed, stopped; the latest instant is mounted both as
# HOST@latest (the dir at its absolute path) and as HOST:/dir@latest (the dir
# as the root) and must equal the live tree; `cdpfs hosts` lists the host;
# `cdpfs umount` unmounts.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
manifest "$DATA" >"$T/before-capture.manifest"

capture_start "$DATA"
checkpoint baseline "$DATA"
compare_manifest "$T/before-capture.manifest" "$T/m/baseline.manifest" "capture mount vs native" ||
	check_fail "the tree seen through the capture mount differs from the native tree"

printf 'new file\n' >"$DATA/new.txt"
printf 'more\n' >>"$DATA/hello.txt"
mkdir "$DATA/newdir"
printf 'inside\n' >"$DATA/newdir/f"
rm "$DATA/zeros.bin"
# a sparse file: 64 MiB with one 8 KiB block of data in the middle
truncate -s 64M "$DATA/sparse.img"
head -c 8192 /dev/urandom | dd of="$DATA/sparse.img" bs=8192 seek=4000 conv=notrunc status=none
sparse_blocks=$(stat -c %b "$DATA/sparse.img")
checkpoint changed "$DATA"

"$CDPFS" hosts --store "$STORE" >"$T/hosts.out" || check_fail "cdpfs hosts exited with $?"
cat "$T/hosts.out"
grep -q -- "$HOST" "$T/hosts.out" || check_fail "cdpfs hosts does not list host '$HOST'"
grep -q -- "$DATA" "$T/hosts.out" || check_fail "cdpfs hosts does not list the captured dir '$DATA'"
if "$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"; then
	jq . "$T/hosts.json" >/dev/null || check_fail "cdpfs hosts --json is not valid JSON: $(head -c 300 "$T/hosts.json")"
	grep -q -- "\"$HOST\"" "$T/hosts.json" || check_fail "cdpfs hosts --json does not name host '$HOST'"
else
	check_fail "cdpfs hosts --json exited non-zero"
fi

capture_stop "$DATA"
manifest "$DATA" >"$T/after-stop.manifest"
compare_manifest "$T/m/changed.manifest" "$T/after-stop.manifest" "native tree after stop" ||
	check_fail "the native tree after stop differs from what the capture mount showed"

mount_at "$HOST" latest "$T/mnt-latest"
ls -la "$T/mnt-latest$DATA"
manifest "$T/mnt-latest$DATA" >"$T/latest.got" || check_fail "manifest of mounted latest failed"
compare_manifest "$T/m/changed.manifest" "$T/latest.got" "$HOST@latest" ||
	check_fail "$HOST@latest differs from the tree at stop"
# st_blocks as ext4 had it, so du counts no holes and cp keeps them
got=$(stat -c %b "$T/mnt-latest$DATA/sparse.img")
[ "$got" = "$sparse_blocks" ] ||
	check_fail "st_blocks of the sparse file: expected $sparse_blocks as on the native fs, got $got"
# SEEK_DATA / SEEK_HOLE: where the data and the holes are, as natively
seeks() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out = []
for off in (0, 4096, 32768000, 32772096, 32776192, 67108863):
	for name, how in (("data", os.SEEK_DATA), ("hole", os.SEEK_HOLE)):
		try:
			out.append("%s@%d=%d" % (name, off, os.lseek(fd, off, how)))
		except OSError as e:
			out.append("%s@%d=%s" % (name, off, os.strerror(e.errno)))
print(" ".join(out))' "$1"
}
want=$(seeks "$DATA/sparse.img") got=$(seeks "$T/mnt-latest$DATA/sparse.img")
[ "$got" = "$want" ] || check_fail "SEEK_DATA/SEEK_HOLE on the sparse file: expected '$want' as on the native fs, got '$got'"
cp --sparse=auto "$T/mnt-latest$DATA/sparse.img" "$T/sparse.copy"
cmp -s "$DATA/sparse.img" "$T/sparse.copy" || check_fail "the copy of the sparse file differs"
copy_kib=$(du -k "$T/sparse.copy" | cut -f1)
[ "$copy_kib" -lt 1024 ] ||
	check_fail "cp of a 64 MiB file holding 8 KiB from the mount: expected a sparse copy (< 1024 KiB), got $copy_kib KiB"
"$CDPFS" umount "$T/mnt-latest" || check_fail "cdpfs umount exited with $?"
if is_mounted "$T/mnt-latest"; then
	check_fail "cdpfs umount returned but the mount is still there"
else
	MOUNTS=()
fi

mount_at "$HOST:$DATA" latest "$T/mnt-root"
manifest "$T/mnt-root" >"$T/root.got" || check_fail "manifest of $HOST:$DATA@latest failed"
compare_manifest "$T/m/changed.manifest" "$T/root.got" "$HOST:$DATA@latest" ||
	check_fail "$HOST:$DATA@latest differs from the tree at stop"
umount_at "$T/mnt-root"

verify_checkpoints
finish
