# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (the supervisor's restart within 5 s)
#
# 051-supervisor - a capture daemon killed with SIGKILL under load comes
# back by itself: its supervisor takes the dead mount off and starts a new
# daemon, whose resync closes the gap.  The supervisor is held (SIGSTOP)
# for a moment after the kill so that the outage can be seen: status says
# down and exits 1; once the supervisor runs on, capture is back within
# 5 s, status says capturing and exits 0, the gap starts within about a
# second before the kill and ends after it, the alert command got
# capture_died and capture_restarted, and every instant recorded after
# the restart mounts exactly.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

DATA=$T/data
make_baseline "$DATA"
cat >"$T/cdpfs.conf" <<CONF
# alerts of test 051
alert_command = cat >>'$T/alerts.jsonl'
rpo_warning = 30s
CONF
CAPTURE_FLAGS="--config $T/cdpfs.conf" capture_start "$DATA"

# load: appends through the mount, each by a new open (ENOTCONN while
# capture is down is expected and ignored)
(
	i=0
	while [ ! -e "$T/stop-load" ]; do
		printf 'line %d\n' "$i" >>"$DATA/load$((i % 4)).txt" 2>/dev/null || true
		i=$((i + 1))
	done
) &
load=$!
at_exit 'touch "$T/stop-load"; kill -CONT '"'"'$super'"'"' 2>/dev/null || true; wait '"$load"' 2>/dev/null || true'
sleep 1

daemon=$("$CDPFS" status --store "$STORE" --json | jq -r '.daemon.pid')
super=$(awk '{print $4}' "/proc/$daemon/stat")
[ "$(cat "/proc/$super/comm")" = cdpfs-supervise ] ||
	fail "the parent of the capture daemon $daemon is '$(cat "/proc/$super/comm")' (pid $super), expected the supervisor"
log "daemon $daemon, supervisor $super"

kill -STOP "$super"
killed=$(date +%s%N)
kill -KILL "$daemon"
sleep 0.5
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/down.json" || rc=$?
[ "$rc" -eq 1 ] || check_fail "status while the daemon is dead exited $rc, expected 1: $(head -c 400 "$T/down.json")"
state=$(jq -r --arg d "$DATA" '.dirs[] | select(.path == $d) | .state' "$T/down.json")
[ "$state" = down ] || check_fail "status while the daemon is dead says '$state', expected down"

resumed=$(date +%s%N)
kill -CONT "$super"
back=0
for i in $(seq 1 50); do
	rc=0
	"$CDPFS" status --store "$STORE" --json >"$T/up.json" 2>/dev/null || rc=$?
	if [ "$rc" -eq 0 ] && [ "$(jq -r --arg d "$DATA" '.dirs[] | select(.path == $d) | .state' "$T/up.json")" = capturing ]; then
		back=1
		break
	fi
	sleep 0.1
done
took=$((($(date +%s%N) - resumed) / 1000000))
[ $back = 1 ] || fail "capture not back within 5 s of the supervisor running on: $(head -c 600 "$T/up.json")"
log "capture back $took ms after the supervisor ran on"
new=$(jq -r '.daemon.pid' "$T/up.json")
[ "$new" != "$daemon" ] || check_fail "the daemon pid did not change ($new)"
record_daemon_pids
is_mounted "$DATA" || check_fail "'$DATA' is not mounted after the restart"

# the load runs on through the restart; the history after it is exact
sleep 1
touch "$T/stop-load"
wait "$load" 2>/dev/null || true
checkpoint quiet "$DATA"
printf 'after the restart\n' >>"$DATA/hello.txt"
rm -f "$DATA/load3.txt"
checkpoint after "$DATA"

# the gap: from within about a second before the kill, to after it
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
from=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[-1].from_ns] | first' "$T/hosts.json")
to=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[-1].to_ns] | first' "$T/hosts.json")
awk -v f="$from" -v k="$killed" 'BEGIN { exit !(f <= k && k - f < 1.6e9) }' ||
	check_fail "the gap should start within about a second before the kill (@$killed), got @$from"
awk -v t="$to" -v k="$killed" -v r="$resumed" 'BEGIN { exit !(t > r && t - r < 5e9) }' ||
	check_fail "the gap should end within 5 s after the supervisor ran on (@$resumed), got @$to (killed @$killed)"

# the alerts
for i in $(seq 1 20); do
	grep -q capture_restarted "$T/alerts.jsonl" 2>/dev/null && break
	sleep 0.1
done
[ -s "$T/alerts.jsonl" ] || fail "the alert command got nothing"
jq -e . "$T/alerts.jsonl" >/dev/null || check_fail "an alert is not valid JSON: $(head -c 400 "$T/alerts.jsonl")"
# (jq 1.6: -e looks at the last input only, so slurp)
jq -s -e --arg s "$STORE" 'any(.[]; .event == "capture_died" and .store == $s and .severity == "critical")' \
	"$T/alerts.jsonl" >/dev/null || check_fail "no capture_died alert: $(cat "$T/alerts.jsonl")"
jq -s -e 'any(.[]; .event == "capture_restarted")' "$T/alerts.jsonl" >/dev/null ||
	check_fail "no capture_restarted alert: $(cat "$T/alerts.jsonl")"
# each within 5 s of its cause
jq -s -e --argjson k "$killed" 'any(.[]; .event == "capture_died" and .time_ns - $k < 5e9)' \
	"$T/alerts.jsonl" >/dev/null || check_fail "capture_died came more than 5 s after the kill"

capture_stop "$DATA"
verify_checkpoints
finish
