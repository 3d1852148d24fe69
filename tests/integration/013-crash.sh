# SPDX-License-Identifier: GPL-2.0-or-later
#
# 013-crash - what a crash of the capture daemon may lose.  Data written and
# fsync'ed (fsync returned) must be in the store; data written without fsync
# must be there once the group commit period (50 ms) has passed, with room
# for the commit itself on a loaded machine (1 s in all).
# The daemon is killed with SIGKILL (by the pid this test recorded), the
# dead mount is lazily unmounted, and the past is mounted: the fsync'ed
# instant and the instant 1 s after the last unsynced write must both
# match the live tree of those instants.  Then capture restarts on the same
# dir: the resync must make the next instant equal the native tree, and the
# unclean end must show as a gap in `cdpfs hosts --json`.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
before=("${DAEMON_PIDS[@]}")
capture_start "$DATA"
new_daemon_pids "${before[@]}"
victims=("${VICTIMS[@]}")
log "capture daemon pid(s): ${victims[*]}"

printf 'synced\n' >"$DATA/synced"
head -c 300000 /dev/urandom | dd of="$DATA/synced-big" bs=64k iflag=fullblock conv=fsync status=none
sync "$DATA/synced"
checkpoint fsynced "$DATA"
printf 'unsynced\n' >"$DATA/unsynced"
printf 'X' | dd of="$DATA/random.bin" bs=1 seek=5000 conv=notrunc status=none
rm "$DATA/hello.txt"
sleep 1
checkpoint after-period "$DATA"

log "SIGKILL to the capture daemon ${victims[*]}"
crash_capture "$DATA" "${victims[@]}"
ls "$DATA" >/dev/null 2>&1 && log "note: '$DATA' still answers after the daemon was killed"
manifest "$DATA" >"$T/native-after-crash.manifest"

verify_checkpoints

# offline change, then restart after the crash
printf 'after crash\n' >"$DATA/after-crash"
manifest "$DATA" >"$T/native.manifest"
CHECKPOINTS=()
capture_start "$DATA"
checkpoint restarted "$DATA"
compare_manifest "$T/native.manifest" "$T/m/restarted.manifest" "capture mount after crash restart vs native" ||
	check_fail "after restart the capture mount differs from the native tree"
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json" || check_fail "cdpfs hosts --json failed"
ngaps=$(jq '[.. | objects | select(has("gaps")) | .gaps | arrays | length] | add // 0' "$T/hosts.json" 2>/dev/null || echo 0)
[ "$ngaps" -ge 1 ] || check_fail "no gap recorded for the time between the crash and the restart: $(head -c 500 "$T/hosts.json")"
verify_checkpoints
capture_stop "$DATA"
finish
