# SPDX-License-Identifier: GPL-2.0-or-later
#
# 010-corruption - damaged stores never give wrong bytes.  A history is
# journaled with tests/tools/snapshot_store (no capture needed), then:
#   - a copy of the store with bytes flipped inside its segment files is
#     mounted: every file reads either exactly as journaled or fails with
#     EIO, and at least one fails;
#   - a copy with a torn tail (garbage appended to the newest segment, as a
#     crash mid-append leaves it) mounts and reads exactly, and a writer
#     opening it journals a further snapshot that mounts exactly too.
. "$(dirname "$0")/lib.sh"
require_cdpfs
SNAP=$BUILD/tests/snapshot_store
[ -x "$SNAP" ] || fail "'$SNAP' is not built (make builds tests/tools/*.c)"

DATA=$T/data
mkdir -p "$DATA"
for i in $(seq 1 40); do head -c 65536 /dev/urandom >"$DATA/f$i"; done
printf 'small\n' >"$DATA/small"
ts1=$("$SNAP" "$STORE" "$HOST" "$DATA") || fail "snapshot_store failed"
manifest "$DATA" >"$T/snap1.manifest"
segs=("$STORE"/segments/*)
log "segments: $(ls -l "$STORE/segments" | tail -n +2 | tr '\n' '|')"
[ ${#segs[@]} -ge 1 ] || fail "no segment files in '$STORE/segments'"

# read_all MNT: each file reads as the original or fails with EIO
read_all() {
	local mnt=$1 f name eio=0 wrong=0
	for f in "$DATA"/*; do
		name=${f##*/}
		if cat "$mnt$DATA/$name" >"$T/read.out" 2>"$T/read.err"; then
			if ! cmp -s "$f" "$T/read.out"; then
				wrong=$((wrong + 1))
				check_fail "'$name' read WRONG BYTES without an error from a damaged store"
			fi
		else
			if grep -q 'Input/output error' "$T/read.err"; then
				eio=$((eio + 1))
			else
				check_fail "'$name' failed, but not with EIO: $(cat "$T/read.err")"
			fi
		fi
	done
	echo "$eio"
}

# flipped bytes
cp -a "$STORE" "$T/flipped"
big=$(ls -S "$T/flipped"/segments/* | head -n 1)
size=$(stat -c %s "$big")
log "flipping bytes in '$big' ($size bytes)"
for k in $(seq 1 12); do
	off=$((64 + (size - 64) * k / 13))
	printf '\xff\x00\xa5' | dd of="$big" bs=1 seek="$off" conv=notrunc status=none
done
STORE_SAVED=$STORE
STORE=$T/flipped
mount_at "$HOST" latest "$T/mnt-flipped" "log=$T/mount.log"
eio=$(read_all "$T/mnt-flipped")
log "flipped store: $eio of 41 files gave EIO"
[ "$eio" -ge 1 ] || check_fail "12 damaged spots in a segment, yet no file read gave EIO"
umount_at "$T/mnt-flipped"
# the mount daemon's log (-o log=FILE) names the damaged chunk, with the time
log "mount log: $(tail -n 2 "$T/mount.log" 2>/dev/null | tr '\n' '|')"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \[[0-9]+\] cdpfs: .*chunk [0-9a-f]{16}' "$T/mount.log" ||
	check_fail "expected the mount log '$T/mount.log' to name a corrupt chunk with a timestamp, got: $(tail -n 3 "$T/mount.log" 2>&1)"

# torn tail
STORE=$T/torn
cp -a "$STORE_SAVED" "$STORE"
newest=$(ls "$STORE"/segments/* | sort | tail -n 1)
{ printf 'CDPC\001\001\000\000'; head -c 300 /dev/urandom; } >>"$newest"
log "appended a torn record to '$newest'"
mount_at "$HOST" latest "$T/mnt-torn"
manifest "$T/mnt-torn$DATA" >"$T/torn.got"
compare_manifest "$T/snap1.manifest" "$T/torn.got" "store with a torn tail (reader)" ||
	check_fail "a store with a torn segment tail does not read exactly"
umount_at "$T/mnt-torn"
printf 'after the torn tail\n' >"$DATA/later"
head -c 100000 /dev/urandom >"$DATA/f1"
ts2=$("$SNAP" "$STORE" "$HOST" "$DATA") || check_fail "a writer could not open a store with a torn segment tail"
manifest "$DATA" >"$T/snap2.manifest"
mount_at "$HOST" "${ts1}" "$T/mnt-torn1"
manifest "$T/mnt-torn1$DATA" >"$T/torn1.got"
compare_manifest "$T/snap1.manifest" "$T/torn1.got" "torn store, first snapshot after recovery" ||
	check_fail "after a writer recovered the torn tail, the first snapshot reads differently"
umount_at "$T/mnt-torn1"
mount_at "$HOST" "${ts2}" "$T/mnt-torn2"
manifest "$T/mnt-torn2$DATA" >"$T/torn2.got"
compare_manifest "$T/snap2.manifest" "$T/torn2.got" "torn store, snapshot written after recovery" ||
	check_fail "the snapshot journaled after recovering a torn tail reads differently"
umount_at "$T/mnt-torn2"
STORE=$STORE_SAVED
finish
