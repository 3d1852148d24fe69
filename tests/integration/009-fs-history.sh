# SPDX-License-Identifier: GPL-2.0-or-later
#
# 009-fs-history - the time-travel mount (fs/) on its own, without the
# capture daemon: tests/tools/snapshot_store journals full snapshots of a
# directory into a store (one short capture session each); the directory is
# changed between snapshots.  Each snapshot's instant is mounted (as
# HOST@@T with the dir at its absolute path, and as HOST:DIR@@T) and must
# equal the manifest taken at that snapshot: content, holes, sizes, modes,
# owners, mtimes, nlink and link groups, symlinks, fifos, device nodes,
# xattrs, large and sparse files, many entries, deep paths.
. "$(dirname "$0")/lib.sh"
require_cdpfs
SNAP=$BUILD/tests/snapshot_store
[ -x "$SNAP" ] || fail "'$SNAP' is not built (make builds tests/tools/*.c)"

DATA=$T/data
make_baseline "$DATA"
mkfifo -m 0604 "$DATA/fifo"
mknod -m 0600 "$DATA/chr" c 1 5
mknod -m 0600 "$DATA/blk" b 7 9
truncate -s 200M "$DATA/huge-sparse"
printf 'middle' | dd of="$DATA/huge-sparse" bs=1 seek=$((100 * 1024 * 1024 + 3)) conv=notrunc status=none
head -c 3M /dev/urandom >"$DATA/three-mb"
ln -s "$(printf 'y%.0s' $(seq 1 2000))" "$DATA/long-symlink"
setfattr -n user.bin -v 0x000102 "$DATA/three-mb"
setfattr -n trusted.t -v secret "$DATA/three-mb"
chown 1000:2000 "$DATA/sub"
chmod 2755 "$DATA/sub"
mkdir "$DATA/many"
for i in $(seq 1 2500); do : >"$DATA/many/entry-$i"; done
deep=$DATA
for i in $(seq 1 30); do deep=$deep/level-$i; done
mkdir -p "$deep" && printf 'bottom\n' >"$deep/f"
touch -d '1970-01-01 00:00:01' "$DATA/empty"

n=0
PRE=()
snap() {
	n=$((n + 1))
	local ts
	PRE[$n]=$(date +%s.%N)
	ts=$("$SNAP" "$STORE" "$HOST" "$DATA") || fail "snapshot_store failed"
	ts=${ts#@}
	manifest "$DATA" >"$T/snap$n.manifest"
	CHECKPOINTS+=("snap$n $ts $DATA")
	log "snapshot $n at @$ts"
	sleep 0.02
}
snap
printf 'changed\n' >"$DATA/hello.txt"
rm -r "$DATA/many" "$DATA/chr"
head -c 100 /dev/urandom | dd of="$DATA/three-mb" bs=100 seek=7 conv=notrunc status=none
setfattr -x user.bin "$DATA/three-mb"
mv "$DATA/sub" "$DATA/sub-renamed"
snap
truncate -s 10 "$DATA/three-mb"
ln "$DATA/three-mb" "$DATA/three-mb-link"
mkdir "$DATA/new-dir"
snap

mkdir -p "$T/m"
i=0
for c in "${CHECKPOINTS[@]}"; do
	i=$((i + 1))
	cp "$T/snap$i.manifest" "$T/m/snap$i.manifest"
done
verify_checkpoints

# the dir as the root of the mount, at the first snapshot
read -r _ ts1 _ <<<"${CHECKPOINTS[0]}"
mount_at "$HOST:$DATA" "@$ts1" "$T/mnt-root"
manifest "$T/mnt-root" >"$T/root.got"
compare_manifest "$T/m/snap1.manifest" "$T/root.got" "$HOST:$DATA@@$ts1" ||
	check_fail "$HOST:$DATA@@$ts1 differs from snapshot 1"
cmp <(dd if="$T/mnt-root/huge-sparse" bs=1M skip=100 count=1 status=none) \
	<(dd if="$DATA/huge-sparse" bs=1M skip=100 count=1 status=none) ||
	check_fail "huge-sparse: block at 100 MiB differs"
umount_at "$T/mnt-root"

# between snapshots (after the first ended, before the second began): the
# earlier one still holds
ts2=${PRE[2]}
mid=$(awk -v a="$ts1" -v b="$ts2" 'BEGIN { printf "%.9f", a + (b - a) / 2 }')
mount_at "$HOST" "@$mid" "$T/mnt-mid"
manifest "$T/mnt-mid$DATA" >"$T/mid.got"
compare_manifest "$T/m/snap1.manifest" "$T/mid.got" "between snapshots 1 and 2" ||
	check_fail "an instant between snapshots 1 and 2 differs from snapshot 1"
umount_at "$T/mnt-mid"
finish
