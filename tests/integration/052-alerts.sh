# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (alerts within 5 s)
#
# 052-alerts - the alerts of a running capture daemon reach the alert
# command named by --config, one JSON object per event on its stdin, each
# within 5 s of its cause: the store's disk filled under capture (degraded,
# store_fill), and the RPO that then grows past the warning and the error
# thresholds (rpo_warning, rpo_error).  A bad configuration is refused with
# one line naming the file and the line.  The store lives on a small tmpfs.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

DATA=$T/data
mkdir -p "$DATA"
printf 'before\n' >"$DATA/small"

printf 'alert_command = true\nrpo_warning = soon\n' >"$T/bad.conf"
expect_fail "a bad configuration" "$CDPFS" capture --store "$STORE" --host "$HOST" \
	--config "$T/bad.conf" "$DATA"
grep -q "bad.conf' line 2" "$T/expect.err" || check_fail "the refusal does not name line 2 of the file: $(cat "$T/expect.err")"
expect_fail "a missing configuration" "$CDPFS" capture --store "$STORE" --host "$HOST" \
	--config "$T/none.conf" "$DATA"

SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=24m tmpfs "$SMALL" || skip "cannot mount a tmpfs for the store"
at_exit "umount '$SMALL' 2>/dev/null || umount -l '$SMALL'"
STORE=$SMALL/store
cat >"$T/cdpfs.conf" <<CONF
alert_command = cat >>'$T/alerts.jsonl'   # one JSON object per alert
rpo_warning = 2s
rpo_error = 4s
store_fill_percent = 60
unknown_key = is ignored, with a line on stderr
CONF
CAPTURE_FLAGS="--config $T/cdpfs.conf" capture_start "$DATA"

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

for i in 1 2 3; do
	head -c 10M /dev/urandom >"$DATA/f$i" || check_fail "the application's write of f$i failed"
done
sync "$DATA/f3" 2>/dev/null || true
full=$(date +%s%N)
grep -q "CAPTURE DEGRADED" "$STORE/capture.log" ||
	check_fail "the store did not fill up (the test's premise): $(tail -3 "$STORE/capture.log")"
has degraded || check_fail "no degraded alert within 5 s of the store filling up"
has store_fill || check_fail "no store_fill alert within 5 s"
has rpo_warning || check_fail "no rpo_warning alert within 5 s of the RPO passing 2 s"
has rpo_error 7 || check_fail "no rpo_error alert within 5 s of the RPO passing 4 s"
log "alerts: $(jq -r .event "$T/alerts.jsonl" | tr '\n' ' ')"
jq -s -e --arg d "$DATA" --arg h "$HOST" 'any(.[]; .event == "rpo_error" and .dir == $d and .host == $h)' \
	"$T/alerts.jsonl" >/dev/null || check_fail "the rpo_error alert does not name host and dir: $(cat "$T/alerts.jsonl")"
jq -s -e --argjson t "$full" 'any(.[]; .event == "degraded" and .severity == "critical" and .time_ns - $t < 5e9)' \
	"$T/alerts.jsonl" >/dev/null || check_fail "the degraded alert is not critical or came late: $(cat "$T/alerts.jsonl")"
capture_stop "$DATA"
finish
