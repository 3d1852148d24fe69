# SPDX-License-Identifier: GPL-2.0-or-later
#
# 056-disk-full-resume - the store's disk fills under load: at once
# `cdpfs status` says degraded (exit 1), `cdpfs hosts` says degraded, the
# degraded alert fires; the application never sees an error.  Once space
# is back (the tmpfs grown) the daemon resyncs by itself, with no restart:
# within 10 s status is healthy again, the degraded_cleared alert fires,
# the outage is a recorded gap (from the fill to the resync), and every
# instant recorded after it mounts exactly, while the load ran on through
# it all.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "status and alerts are parsed with jq"

SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=24m tmpfs "$SMALL" || skip "cannot mount a tmpfs for the store"
at_exit "umount '$SMALL' 2>/dev/null || umount -l '$SMALL'"
STORE=$SMALL/store
at_exit "cp '$STORE/capture.log' '$T/' 2>/dev/null || true"
DATA=$T/data
make_baseline "$DATA"
cat >"$T/cdpfs.conf" <<CONF
alert_command = cat >>'$T/alerts.jsonl'
CONF
CAPTURE_FLAGS="--config $T/cdpfs.conf" capture_start "$DATA"
daemon=$("$CDPFS" status --store "$STORE" --json | jq -r '.daemon.pid')

# has EVENT [SECONDS]: waits (default 5 s) for an alert EVENT
has() {
	local i
	for i in $(seq 1 $((${2:-5} * 10))); do
		[ -e "$T/alerts.jsonl" ] && jq -s -e --arg e "$1" 'any(.[]; .event == $e)' \
			"$T/alerts.jsonl" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# the load: appends through the mount; any error is the application's
(
	i=0
	while [ ! -e "$T/stop-load" ]; do
		printf 'line %d\n' "$i" >>"$DATA/load$((i % 3)).txt" || echo "append $i failed" >>"$T/load.err"
		i=$((i + 1))
		sleep 0.01
	done
) &
load=$!
at_exit "touch '$T/stop-load'; wait $load 2>/dev/null || true"

for i in 1 2 3; do
	head -c 10M /dev/urandom >"$DATA/f$i" || check_fail "the application's write of f$i failed while the store filled"
done
sync "$DATA/f3" 2>/dev/null || true
grep -q "CAPTURE DEGRADED" "$STORE/capture.log" ||
	fail "the store did not fill up (the test's premise): $(tail -3 "$STORE/capture.log")"
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/full.json" || rc=$?
[ "$rc" -eq 1 ] || check_fail "status with the store full exited $rc, expected 1"
[ "$(jq -r --arg d "$DATA" '.dirs[] | select(.path == $d) | .state' "$T/full.json")" = degraded ] ||
	check_fail "status with the store full does not say degraded: $(head -c 600 "$T/full.json")"
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts-full.json"
[ "$(jq -r --arg d "$DATA" '.hosts[].dirs[] | select(.path == $d) | .state' "$T/hosts-full.json")" = degraded ] ||
	check_fail "hosts with the store full does not say degraded: $(head -c 600 "$T/hosts-full.json")"
"$CDPFS" hosts --store "$STORE" | grep -q degraded ||
	check_fail "the hosts table with the store full does not say degraded: $("$CDPFS" hosts --store "$STORE")"
has degraded || check_fail "no degraded alert within 5 s of the store filling up"
since=$(jq -r '.daemon.degraded_since_ns' "$T/full.json")

# room again: the resync comes by itself
rm -f "$DATA/f2"
grown=$(date +%s%N)
mount -o remount,size=200m "$SMALL" || fail "cannot grow the tmpfs"
back=0
for i in $(seq 1 100); do
	rc=0
	"$CDPFS" status --store "$STORE" --json >"$T/up.json" 2>/dev/null || rc=$?
	if [ "$rc" -eq 0 ] && [ "$(jq -r --arg d "$DATA" '.dirs[] | select(.path == $d) | .state' "$T/up.json")" = capturing ]; then
		back=1
		break
	fi
	sleep 0.1
done
[ $back = 1 ] || fail "capture did not resume within 10 s of space coming back: $(head -c 600 "$T/up.json"); log: $(tail -3 "$STORE/capture.log")"
log "journaling resumed $((($(date +%s%N) - grown) / 1000000)) ms after the store grew"
[ "$(jq -r '.daemon.pid' "$T/up.json")" = "$daemon" ] || check_fail "the daemon changed (a restart, not a resume)"
has degraded_cleared || check_fail "no degraded_cleared alert after the resync"
grep -q "the journal of store '$STORE' records again" "$STORE/capture.log" ||
	check_fail "the capture log does not say the journal records again: $(tail -3 "$STORE/capture.log")"

sleep 1
touch "$T/stop-load"
wait "$load" 2>/dev/null || true
[ -e "$T/load.err" ] && check_fail "the application saw errors: $(head -3 "$T/load.err")"
checkpoint after-resume "$DATA"
printf 'after the resume\n' >>"$DATA/hello.txt"
head -c 3M /dev/urandom >"$DATA/f4"
rm "$DATA/f1"
checkpoint later "$DATA"

# the outage is a gap: from the fill to the resync
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
from=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[-1].from_ns] | first' "$T/hosts.json")
to=$(jq --arg d "$DATA" '[.hosts[].dirs[] | select(.path == $d) | .gaps[-1].to_ns] | first' "$T/hosts.json")
[ "$from" = "$since" ] || check_fail "the gap should start when the journal degraded (@$since), got @$from"
awk -v t="$to" -v g="$grown" 'BEGIN { exit !(t > g && t - g < 10e9) }' ||
	check_fail "the gap should end at the resync, after the store grew (@$grown), got @$to"
capture_stop "$DATA"
verify_checkpoints
finish
