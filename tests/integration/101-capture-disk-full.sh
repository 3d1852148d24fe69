# SPDX-License-Identifier: GPL-2.0-or-later
#
# 101-capture-disk-full - the store fills up under capture: the application
# keeps working (every write, fsync and close succeeds, the real files are
# intact), the capture log says so once, `cdpfs hosts` shows the gap; after
# space is freed a restart of capture resyncs and the latest instant equals
# the live tree again.  The store lives on a small tmpfs mounted by the test.
. "$(dirname "$0")/lib.sh"
require_cdpfs

SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=24m tmpfs "$SMALL" || skip "cannot mount a tmpfs for the store"
at_exit "umount '$SMALL' 2>/dev/null || umount -l '$SMALL'"
STORE=$SMALL/store

DATA=$T/data
mkdir -p "$DATA"
printf 'before\n' >"$DATA/small"
capture_start "$DATA"

for i in 1 2 3 4 5; do
	head -c 10M /dev/urandom >"$T/src$i"
	dd if="$T/src$i" of="$DATA/f$i" bs=1M conv=fsync status=none ||
		check_fail "the application's write of f$i failed while the store was full"
	cmp -s "$T/src$i" "$DATA/f$i" || check_fail "f$i differs from what was written"
done
printf 'after\n' >>"$DATA/small" || check_fail "append failed while the store was full"
grep -q "CAPTURE DEGRADED" "$STORE/capture.log" ||
	check_fail "the capture log does not say the store is full: $(tail -3 "$STORE/capture.log")"
# status tells: degraded, not healthy (exit 1), the gap's start
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/status.json" || rc=$?
[ "$rc" -eq 1 ] || check_fail "cdpfs status with the store full exited $rc, expected 1"
state=$(jq -r '.dirs[0].state' "$T/status.json")
[ "$state" = degraded ] || check_fail "cdpfs status with the store full: expected state degraded, got '$state': $(head -c 600 "$T/status.json")"
[ "$(jq '.dirs[0].gap_since_ns > 0' "$T/status.json")" = true ] ||
	check_fail "cdpfs status with the store full shows no gap start"
capture_stop "$DATA"

mount -o remount,size=200m "$SMALL" || fail "cannot grow the tmpfs"
capture_start "$DATA"
"$CDPFS" hosts --store "$STORE" | tee "$T/hosts.out"
checkpoint after-resync "$DATA"
capture_stop "$DATA"
verify_checkpoints
finish
