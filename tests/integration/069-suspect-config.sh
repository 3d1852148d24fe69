# SPDX-License-Identifier: GPL-2.0-or-later
#
# 069-suspect-config - the suspect detection configured per directory in
# cdpfs.conf(5).  Bad values, a relative [DIR] section and a key that is
# not a suspect key inside one are refused, naming the line.  One daemon
# captures two directories, detection on by default and off in the [DIR]
# section of the first: an attack on 60 documents of the first (overwritten
# with random bytes, renamed to .locked) raises neither a suspect interval
# nor an alert; the same attack on the second raises one interval and one
# suspect_activity alert that names the second directory; the timeline of
# each directory has its own anomaly score (0 where detection is off).
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "reading --json"

DATA=$T/data
DATB=$T/datb
mkdir -p "$DATA/docs2" "$DATB"
# made before the capture: files of an earlier day, not new ones
for i in $(seq 1 60); do seq "$i" 3000 >"$DATA/docs2/e$i.txt"; done
for i in $(seq 1 60); do seq "$i" 3000 >"$DATB/b$i.txt"; done
suspects() { "$CDPFS" suspects --store "$STORE" --json "$HOST"; }

printf 'alert_command = true\nsuspect = maybe\n' >"$T/bad.conf"
expect_fail "a bad suspect value in the configuration" "$CDPFS" capture --store "$STORE" \
	--host "$HOST" --config "$T/bad.conf" "$DATA"
grep -q "bad.conf' line 2: bad value 'maybe' for suspect" "$T/expect.err" ||
	check_fail "the refusal does not name line 2 and its value: $(cat "$T/expect.err")"
printf 'suspect_hot = 0\n' >"$T/bad.conf"
expect_fail "a zero suspect_hot in the configuration" "$CDPFS" capture --store "$STORE" \
	--host "$HOST" --config "$T/bad.conf" "$DATA"
printf '[relative/dir]\nsuspect = off\n' >"$T/bad.conf"
expect_fail "a relative [DIR] section" "$CDPFS" capture --store "$STORE" \
	--host "$HOST" --config "$T/bad.conf" "$DATA"
grep -q "line 1: expected '\[/absolute/dir\]'" "$T/expect.err" || check_fail "the refusal of a relative section does not say what is expected: $(cat "$T/expect.err")"
printf '[/srv]\nrpo_warning = 1m\n' >"$T/bad.conf"
expect_fail "an rpo key in a [DIR] section" "$CDPFS" capture --store "$STORE" \
	--host "$HOST" --config "$T/bad.conf" "$DATA"
grep -q "line 2: 'rpo_warning' cannot be set per directory" "$T/expect.err" || check_fail "the refusal of rpo_warning in a section does not name it: $(cat "$T/expect.err")"

log "suspect = off for one directory"
: >"$T/alerts.jsonl"
printf "alert_command = cat >>'%s'\nsuspect = on\n[%s/]\nsuspect = off\n" "$T/alerts.jsonl" "$DATA" >"$T/off.conf"
CAPTURE_FLAGS="--config $T/off.conf" capture_start "$DATA" "$DATB"
for i in $(seq 1 60); do
	head -c 16384 /dev/urandom | dd of="$DATA/docs2/e$i.txt" bs=16384 conv=notrunc status=none
	mv "$DATA/docs2/e$i.txt" "$DATA/docs2/e$i.txt.locked"
done
sleep 1.1
n=$(suspects | jq .count)
[ "$n" = 0 ] || check_fail "with suspect = off for '$DATA' an attack on 60 files there raised $n suspect interval(s)"
grep -q suspect_activity "$T/alerts.jsonl" &&
	check_fail "with suspect = off for '$DATA' the alert command got: $(cat "$T/alerts.jsonl")"
for i in $(seq 1 60); do
	head -c 16384 /dev/urandom | dd of="$DATB/b$i.txt" bs=16384 conv=notrunc status=none
	mv "$DATB/b$i.txt" "$DATB/b$i.txt.locked"
done
for k in $(seq 1 30); do grep -q suspect_activity "$T/alerts.jsonl" && break; sleep 0.1; done
n=$(suspects | jq .count)
[ "$n" = 1 ] || check_fail "an attack on 60 files of '$DATB' (detection on) left $n suspect intervals, expected 1"
jq -s -e --arg d "$(readlink -f "$DATB")" '[.[] | select(.event == "suspect_activity")] |
	length == 1 and .[0].dir == $d' "$T/alerts.jsonl" >/dev/null ||
	check_fail "expected one suspect_activity alert naming '$DATB', got: $(cat "$T/alerts.jsonl")"
# the timeline's anomaly score, per directory
sa=$("$CDPFS" timeline --store "$STORE" --json --since -5m "$HOST:$DATA" | jq .totals.score)
sb=$("$CDPFS" timeline --store "$STORE" --json --since -5m "$HOST:$DATB" | jq .totals.score)
log "timeline score: $sa for '$DATA' (detection off), $sb for '$DATB'"
[ "$sa" = 0 ] && [ "$sb" -ge 60 ] 2>/dev/null ||
	check_fail "timeline scores: expected 0 for '$DATA' (off) and 60 or more for '$DATB', got $sa and $sb"
capture_stop "$DATA"
capture_stop "$DATB"
finish
