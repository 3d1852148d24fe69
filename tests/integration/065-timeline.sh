# SPDX-License-Identifier: GPL-2.0-or-later
#
# 065-timeline - the activity summary the store keeps as it journals, read
# by cdpfs timeline: a workload of known counts (50 files created, 1 MiB
# written in whole blocks, 20 renames, 10 deletes, 5 files cut to zero)
# between two recorded instants must give exactly those totals, per second
# and per minute alike; a capture restarted within the same second keeps
# the first session's counts.  Per directory: a second protected directory
# of the host gets its own 7 creates, the first directory's timeline has
# the workload's counts alone and the host's both.  Bad input.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "reading --json"

DATA=$T/data
DATB=$T/datb
mkdir -p "$DATA/t" "$DATB"
for i in 1 2 3 4 5; do printf 'keep %d\n' "$i" >"$DATA/k$i"; done
capture_start "$DATA" "$DATB"
sleep 1.1   # the baseline's second is past
t0=$(record_instant)
for i in $(seq 1 50); do : >"$DATA/t/c$i"; done
dd if=/dev/urandom of="$DATA/big" bs=1M count=1 status=none
for i in $(seq 1 20); do mv "$DATA/t/c$i" "$DATA/t/r$i"; done
for i in $(seq 21 30); do rm "$DATA/t/c$i"; done
for i in 1 2 3 4 5; do : >"$DATA/k$i"; done
for i in $(seq 1 7); do : >"$DATB/n$i"; done
t1=$(record_instant)

tl() { "$CDPFS" timeline --store "$STORE" --json --since "@$t0" --until "@$t1" "$@" "$HOST:$DATA"; }
"$CDPFS" timeline --store "$STORE" --json --since "@$t0" --until "@$t1" --per 1s "$HOST" >"$T/per1s.json" ||
	fail "cdpfs timeline --per 1s exited with $?"
tl --per 1m >"$T/per1m.json" || fail "cdpfs timeline $HOST:$DATA --per 1m exited with $?"
log "per second: $(jq -c '.totals' "$T/per1s.json"), $(jq '.intervals | length' "$T/per1s.json") intervals"
# created: 50 files and big; renamed 20; deleted 10; truncated 5 (k1..k5);
# bytes: 1 MiB in whole blocks; anomaly score 0 (nothing random overwritten,
# no extension changed)
want='{"created":51,"deleted":10,"renamed":20,"truncated":5,"bytes":1048576,"score":0}'
got=$(tl --per 1s | jq -c '.totals | {created, deleted, renamed, truncated, bytes, score}')
[ "$got" = "$want" ] || check_fail "timeline totals per second: expected $want, got $got"
n=$(jq .totals.created "$T/per1s.json")
[ "$n" = 58 ] || check_fail "timeline of the host: expected 51 + 7 created (both directories), got $n"
got=$("$CDPFS" timeline --store "$STORE" --json --since "@$t0" --until "@$t1" --per 1s "$HOST:$DATB" |
	jq -c '.totals | {created, deleted, renamed, truncated, ops}')
[ "$got" = '{"created":7,"deleted":0,"renamed":0,"truncated":0,"ops":7}' ] ||
	check_fail "timeline of '$DATB': expected its 7 creates alone, got $got"
# a minute's record holds the seconds of the workload, and maybe a few ops
# of the same minutes before t0 or after t1: at least the same counts
jq -e --argjson w "$want" '.totals | .created >= $w.created and .renamed >= $w.renamed and
	.deleted >= $w.deleted and .truncated >= $w.truncated and .bytes >= $w.bytes' "$T/per1m.json" >/dev/null ||
	check_fail "timeline per minute has fewer than the workload's counts: $(jq -c .totals "$T/per1m.json")"
jq -e '[.intervals[] | .seconds == 1] | all' "$T/per1s.json" >/dev/null || check_fail "--per 1s intervals are not 1 s long"
ops=$(jq '.totals.ops' "$T/per1s.json")
[ "$ops" -ge 86 ] || check_fail "timeline: $ops operations, expected at least 86 (50 creates, 1+ writes, 20 renames, 10 deletes, 5 truncates)"
"$CDPFS" timeline --store "$STORE" --since "@$t0" --until "@$t1" --per 10s "$HOST" >"$T/text.out"
grep -q '^START .* SCORE$' "$T/text.out" || check_fail "timeline prints no table with a SCORE column: $(cat "$T/text.out")"

# a restart (often within the workload's second): a second's record keeps
# both sessions' counts, the new session adding to what the index holds
capture_stop "$DATA"
capture_stop "$DATB"
capture_start "$DATA"
for i in 1 2 3; do : >"$DATA/t/after$i"; done
b=$(record_instant)
n=$("$CDPFS" timeline --store "$STORE" --json --since "@$t0" --until "@$b" --per 1s "$HOST:$DATA" | jq .totals.created)
[ "$n" = 54 ] || check_fail "timeline of '$DATA' across a restart: expected 51 + 3 created, got $n"

expect_fail "timeline with a bad --per" "$CDPFS" timeline --store "$STORE" --per 1.5s "$HOST"
expect_fail "timeline of an unknown host" "$CDPFS" timeline --store "$STORE" nosuch
expect_fail "timeline of a directory that is not protected" "$CDPFS" timeline --store "$STORE" "$HOST:$DATA/t"
grep -q "its directories: " "$T/expect.err" || check_fail "the refusal does not list the host's directories: $(cat "$T/expect.err")"
expect_fail "timeline of a relative directory" "$CDPFS" timeline --store "$STORE" "$HOST:data"
expect_fail "timeline --since after --until" "$CDPFS" timeline --store "$STORE" --since -1m --until -2m "$HOST"
capture_stop "$DATA"
finish
