# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (RPO and gap timing windows)
#
# 020-status - `cdpfs status` says whether each protected directory is
# captured right now and its RPO, with the exit status monitoring expects:
#   capturing (idle for 3 s: the heartbeat keeps the RPO near a second),
#   exit 0; --max-rpo below what it is makes it unhealthy; the daemon killed:
#   down, exit 1, the gap starting within 2 s of the kill; capture started
#   again: capturing; stopped: stopped, exit 0 (a stopped directory is not
#   counted).  --prometheus prints the same as metrics.  And `capture --stop`
#   without --store finds the store from the mount, and after a daemon
#   crash takes the dead mount off, saying so.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

DATA=$T/data
make_baseline "$DATA"
before=("${DAEMON_PIDS[@]}")
capture_start "$DATA"
new_daemon_pids "${before[@]}"
sleep 3
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/s1.json" || rc=$?
[ "$rc" -eq 0 ] || check_fail "status of an idle, captured directory exited $rc, expected 0: $(cat "$T/s1.json")"
[ "$(jq -r '.dirs[0].state' "$T/s1.json")" = capturing ] ||
	check_fail "expected state capturing, got: $(cat "$T/s1.json")"
rpo=$(jq '.dirs[0].rpo_s' "$T/s1.json")
awk -v r="$rpo" 'BEGIN { exit !(r >= 0 && r < 3) }' ||
	check_fail "idle for 3 s, the RPO should stay near the heartbeat (about 1 s), got $rpo s"
"$CDPFS" status --store "$STORE" >"$T/s1.txt" || check_fail "status (text) exited $?"
grep -q "capturing" "$T/s1.txt" && grep -q "^healthy" "$T/s1.txt" ||
	check_fail "status (text) does not say capturing and healthy: $(cat "$T/s1.txt")"
"$CDPFS" status --store "$STORE" --prometheus >"$T/s1.prom" || check_fail "status --prometheus exited $?"
grep -q "^cdpfs_capture_up{host=\"$HOST\",dir=\"$DATA\"} 1$" "$T/s1.prom" ||
	check_fail "status --prometheus lacks cdpfs_capture_up 1 for $DATA: $(head -c 600 "$T/s1.prom")"
grep -q '^# TYPE cdpfs_rpo_seconds gauge$' "$T/s1.prom" || check_fail "status --prometheus lacks the rpo gauge"
sleep 1.2
rc=0
"$CDPFS" status --store "$STORE" --max-rpo 0s >/dev/null || rc=$?
[ "$rc" -eq 1 ] || check_fail "status --max-rpo 0s exited $rc, expected 1 (an RPO above 0 is not healthy)"

killed=$(date +%s%N)
crash_capture "$DATA" "${VICTIMS[@]}"
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/s2.json" || rc=$?
[ "$rc" -eq 1 ] || check_fail "status after the daemon was killed exited $rc, expected 1"
[ "$(jq -r '.dirs[0].state' "$T/s2.json")" = down ] ||
	check_fail "after the kill expected state down, got: $(cat "$T/s2.json")"
gap=$(jq '.dirs[0].gap_since_ns' "$T/s2.json")
awk -v g="$gap" -v k="$killed" 'BEGIN { exit !(g <= k && k - g < 2.5e9) }' ||
	check_fail "the gap should start within about a second before the kill (@$killed ns), got @$gap"

capture_start "$DATA"
"$CDPFS" status --store "$STORE" --json >"$T/s3.json" || check_fail "status after the restart exited $?: $(cat "$T/s3.json")"
[ "$(jq -r '.dirs[0].state' "$T/s3.json")" = capturing ] ||
	check_fail "after the restart expected state capturing, got: $(cat "$T/s3.json")"
# --stop without --store: the capture mount names its store
env -u CDPFS_STORE "$CDPFS" capture --stop "$DATA" >"$T/stop.out" 2>&1 ||
	check_fail "capture --stop without --store exited $?: $(cat "$T/stop.out")"
is_mounted "$DATA" && check_fail "capture --stop without --store left the capture mount"
CAPTURED=()

# --stop after the daemon died: the dead mount is taken off, and it says so
before=("${DAEMON_PIDS[@]}")
capture_start "$DATA"
new_daemon_pids "${before[@]}"
kill_capture "${VICTIMS[@]}"
rc=0
env -u CDPFS_STORE "$CDPFS" capture --stop "$DATA" >"$T/stop2.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || check_fail "capture --stop of a dead capture exited $rc: $(cat "$T/stop2.out")"
grep -q "had died" "$T/stop2.out" || check_fail "capture --stop of a dead capture did not say what it did: $(cat "$T/stop2.out")"
is_mounted "$DATA" && check_fail "capture --stop of a dead capture left the dead mount"
CAPTURED=()
ls "$DATA" >/dev/null || check_fail "the directory is not plain again after --stop of a dead capture"
capture_start "$DATA"
capture_stop "$DATA"
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/s4.json" || rc=$?
[ "$rc" -eq 0 ] || check_fail "status with the directory stopped exited $rc, expected 0"
[ "$(jq -r '.dirs[0].state' "$T/s4.json")" = stopped ] ||
	check_fail "after the stop expected state stopped, got: $(cat "$T/s4.json")"
[ "$(jq '.daemon' "$T/s4.json")" = null ] || check_fail "after the stop status still reports a daemon"
finish
