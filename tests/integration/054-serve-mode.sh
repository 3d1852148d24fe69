# SPDX-License-Identifier: GPL-2.0-or-later
#
# 054-serve-mode - `cdpfs capture --foreground` with no directory, the
# store's daemon that cdpfs-capture.service runs: started after a crashed
# session (supervisor and daemon killed together, so nothing restarted it,
# the dead mount left on the directory), it takes the dead mount off,
# resumes the crashed directory by itself (alert capture_restarted, a gap
# from the crash), tells systemd READY=1 on $NOTIFY_SOCKET, refuses a
# second serve daemon, answers --stop and keeps running, takes the
# directory again from `capture --ensure` (twice: the second is no error,
# a plain capture of it is), and stops cleanly on SIGTERM.  Every instant
# recorded before the crash and after the resume mounts exactly.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "status --json is parsed with jq"
require_cmd socat "the test listens on \$NOTIFY_SOCKET with socat"

DATA=$T/data
make_baseline "$DATA"
cat >"$T/cdpfs.conf" <<CONF
alert_command = cat >>'$T/alerts.jsonl'
CONF
capture_start "$DATA"
printf 'before the crash\n' >>"$DATA/hello.txt"
checkpoint before-crash "$DATA"

daemon=$("$CDPFS" status --store "$STORE" --json | jq -r '.daemon.pid')
super=$(awk '{print $4}' "/proc/$daemon/stat")
[ "$(cat "/proc/$super/comm")" = cdpfs-supervise ] ||
	fail "the parent of the capture daemon $daemon is '$(cat "/proc/$super/comm")', expected the supervisor"
killed=$(date +%s%N)
kill_capture "$super" "$daemon"
CAPTURED=()
stat "$DATA" >/dev/null 2>&1 && fail "the killed daemon's mount on '$DATA' still answers (the test's premise)"
is_mounted "$DATA" || fail "the dead capture mount on '$DATA' is gone (the test's premise)"
sleep 1   # the gap must start at the crash, not at the serve daemon's start

# the notify socket systemd would give (one datagram per line)
socat -u UNIX-RECV:"$T/notify.sock" OPEN:"$T/notify.out",creat,append &
notify=$!
at_exit "kill $notify 2>/dev/null; wait $notify 2>/dev/null"
for i in $(seq 1 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done

started=$(date +%s%N)
NOTIFY_SOCKET=$T/notify.sock "$CDPFS" capture --store "$STORE" --foreground \
	--config "$T/cdpfs.conf" >"$T/serve.log" 2>&1 &
serve=$!
DAEMON_PIDS+=("$serve")
CAPTURED+=("$DATA")
at_exit "kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null"

back=0
for i in $(seq 1 100); do
	rc=0
	"$CDPFS" status --store "$STORE" --json >"$T/up.json" 2>/dev/null || rc=$?
	if [ "$rc" -eq 0 ] && [ "$(jq -r --arg d "$DATA" '.dirs[] | select(.path == $d) | .state' "$T/up.json")" = capturing ]; then
		back=1
		break
	fi
	kill -0 "$serve" 2>/dev/null || fail "the serve-mode daemon exited: $(tail -5 "$T/serve.log")"
	sleep 0.1
done
[ $back = 1 ] || fail "the serve-mode daemon did not resume '$DATA' within 10 s: $(head -c 600 "$T/up.json"); log: $(tail -5 "$T/serve.log")"
log "resumed $((($(date +%s%N) - started) / 1000000)) ms after the serve daemon started"
[ "$(jq -r '.daemon.pid' "$T/up.json")" = "$serve" ] ||
	check_fail "status names daemon $(jq -r '.daemon.pid' "$T/up.json"), expected the serve daemon $serve"
for i in $(seq 1 30); do grep -q READY=1 "$T/notify.out" 2>/dev/null && break; sleep 0.1; done
grep -q READY=1 "$T/notify.out" 2>/dev/null ||
	check_fail "the serve daemon sent no READY=1 to \$NOTIFY_SOCKET (got: $(cat "$T/notify.out" 2>/dev/null))"
grep -q "dead capture mount taken off '$DATA'" "$T/serve.log" ||
	check_fail "the serve daemon's log does not say it took the dead mount off: $(tail -5 "$T/serve.log")"
for i in $(seq 1 30); do grep -q capture_restarted "$T/alerts.jsonl" 2>/dev/null && break; sleep 0.1; done
jq -s -e --arg d "$DATA" 'any(.[]; .event == "capture_restarted" and .dir == $d)' "$T/alerts.jsonl" \
	>/dev/null 2>&1 || check_fail "no capture_restarted alert for '$DATA': $(cat "$T/alerts.jsonl" 2>/dev/null)"

expect_fail "a second serve daemon" "$CDPFS" capture --store "$STORE" --foreground
grep -q "runs already" "$T/expect.err" || check_fail "the second serve daemon's refusal does not say one runs: $(cat "$T/expect.err")"

printf 'after the resume\n' >>"$DATA/hello.txt"
rm "$DATA/zeros.bin"
checkpoint after-resume "$DATA"

# --stop is answered and the serve daemon stays
capture_stop "$DATA"
sleep 0.5
kill -0 "$serve" 2>/dev/null || check_fail "the serve daemon exited when its last directory stopped"

# cdpfs-capture@.service's start: --ensure, twice
CAPTURE_FLAGS=--ensure capture_start "$DATA"
CAPTURE_FLAGS=--ensure capture_start "$DATA"
expect_fail "a plain capture of a captured directory" "$CDPFS" capture --store "$STORE" \
	--host "$HOST" "$DATA"
grep -q "already captured" "$T/expect.err" || check_fail "the refusal does not say '$DATA' is already captured: $(cat "$T/expect.err")"
printf 'after --ensure\n' >>"$DATA/hello.txt"
checkpoint after-ensure "$DATA"

kill -TERM "$serve"
rc=0
wait "$serve" || rc=$?
[ "$rc" -eq 0 ] || check_fail "the serve daemon exited $rc on SIGTERM, expected 0: $(tail -5 "$T/serve.log")"
is_mounted "$DATA" && fail "'$DATA' is still mounted after the serve daemon's SIGTERM"
CAPTURED=()
grep -q "capture of '$DATA' stopped" "$T/serve.log" ||
	check_fail "the serve daemon's log does not record the clean stop of '$DATA'"

# the gap of the crash: from its last heartbeat (at most about a second
# before the kill) to the resume, after the serve daemon started
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
from=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[0].from_ns] | first' "$T/hosts.json")
to=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[0].to_ns] | first' "$T/hosts.json")
awk -v f="$from" -v k="$killed" 'BEGIN { exit !(f <= k && k - f < 1.6e9) }' ||
	check_fail "the crash's gap should start within about a second before the kill (@$killed), got @$from"
awk -v t="$to" -v s="$started" 'BEGIN { exit !(t > s && t - s < 10e9) }' ||
	check_fail "the crash's gap should end after the serve daemon started (@$started), got @$to"
verify_checkpoints
finish
