# SPDX-License-Identifier: GPL-2.0-or-later
#
# 022-snapshot - `cdpfs snapshot` copies a live store consistently.  A tree
# is captured in two sessions (two segments: the first sealed, hard-linked
# into the snapshot, the open one copied up to the index's durable offset);
# after a first phase (checkpoint: an instant and a manifest)
# a writer keeps changing files while `cdpfs snapshot` (made by the capture
# daemon) copies the store; then:
#   - the snapshot verifies clean with --data;
#   - mounted at the first phase's instant it equals that manifest;
#   - mounted at latest it equals the original store mounted at the same
#     instant (the snapshot's newest one);
#   - a snapshot of the stopped store (made by cdpfs itself) mounts the
#     final tree exactly; a non-empty DEST is refused.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
mkdir -p "$DATA/sub"
capture_start "$DATA"
for i in $(seq 1 20); do head -c 40000 /dev/urandom >"$DATA/f$i"; done
printf 'one\n' >"$DATA/sub/a"
# a second session writes a second segment: the first is then sealed
capture_stop "$DATA"
capture_start "$DATA"
head -c 40000 /dev/urandom >"$DATA/second"
checkpoint phase1 "$DATA"

( for i in $(seq 1 200); do
	head -c 30000 /dev/urandom >"$DATA/w$((i % 25))"
	printf '%s\n' "$i" >>"$DATA/sub/a"
done ) &
writer=$!
sleep 0.3
"$CDPFS" snapshot --store "$STORE" "$T/snap" >"$T/snap.out" 2>"$T/snap.err" ||
	check_fail "cdpfs snapshot of a live store failed: $(cat "$T/snap.err")"
wait "$writer"
capture_stop "$DATA"
manifest "$DATA" >"$T/final.manifest"

[ -f "$T/snap/FORMAT" ] && [ -d "$T/snap/index" ] ||
	fail "the snapshot has no FORMAT or index: $(ls -la "$T/snap" 2>&1 | tr '\n' '|')"
[ "$(stat -c %h "$T/snap/segments/00000001.seg")" -ge 2 ] ||
	check_fail "expected the sealed segment 00000001 hard-linked into the snapshot (same filesystem), got link count $(stat -c %h "$T/snap/segments/00000001.seg" 2>&1)"
[ "$(stat -c %h "$T/snap/segments/00000002.seg")" -eq 1 ] ||
	check_fail "expected the open segment 00000002 copied (link count 1), got $(stat -c %h "$T/snap/segments/00000002.seg" 2>&1)"
rc=0
"$CDPFS" verify --store "$T/snap" --data >"$T/verify.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || check_fail "the snapshot does not verify clean (exit $rc): $(head -c 600 "$T/verify.out")"

STORE_SAVED=$STORE
STORE=$T/snap
ts1=$(echo "${CHECKPOINTS[0]}" | cut -d' ' -f2)
mount_at "$HOST" "@$ts1" "$T/m-snap1"
manifest "$T/m-snap1$DATA" >"$T/snap1.got"
compare_manifest "$T/m/phase1.manifest" "$T/snap1.got" "snapshot at phase1" ||
	check_fail "the snapshot mounted at the first phase's instant differs from its manifest"
umount_at "$T/m-snap1"

# the instant of the newest operation the snapshot holds, as its mount says
mkdir -p "$T/m-snaplatest"
MOUNTS+=("$T/m-snaplatest")
"$CDPFS" mount -v --store "$T/snap" "$HOST@latest" "$T/m-snaplatest" >"$T/mount-v.out" 2>&1 ||
	fail "mount of the snapshot at latest failed: $(cat "$T/mount-v.out")"
newest=$(sed -n 's/.*(newest change \([^,]*\), seq.*/\1/p' "$T/mount-v.out" | head -n 1)
[ -n "$newest" ] || fail "cannot read the newest change from: $(cat "$T/mount-v.out")"
manifest "$T/m-snaplatest$DATA" >"$T/snaplatest.got"
umount_at "$T/m-snaplatest"
STORE=$STORE_SAVED
mount_at "$HOST" "$newest" "$T/m-orig"
manifest "$T/m-orig$DATA" >"$T/orig.got"
umount_at "$T/m-orig"
log "snapshot's newest instant $newest"
compare_manifest "$T/orig.got" "$T/snaplatest.got" "snapshot at latest vs the store at that instant" ||
	check_fail "the snapshot at latest differs from the original store at the same instant"

# a snapshot of the stopped store, made by cdpfs itself
"$CDPFS" snapshot --store "$STORE" "$T/snap2" >/dev/null 2>"$T/snap2.err" ||
	check_fail "cdpfs snapshot of a stopped store failed: $(cat "$T/snap2.err")"
STORE=$T/snap2
mount_at "$HOST" latest "$T/m-snap2"
manifest "$T/m-snap2$DATA" >"$T/snap2.got"
compare_manifest "$T/final.manifest" "$T/snap2.got" "snapshot of the stopped store" ||
	check_fail "the snapshot of the stopped store differs from the final tree"
umount_at "$T/m-snap2"
STORE=$STORE_SAVED
expect_fail "snapshot into a non-empty directory" "$CDPFS" snapshot --store "$STORE" "$T/snap2"
finish
