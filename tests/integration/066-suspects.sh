# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (detection within 5 s of an attack)
#
# 066-suspects - ransomware caught as it starts, and no false alarm on
# ordinary work.  Benign workloads first, on a captured tree: untar of a
# source tree, gzip of a directory of logs (new random files, the
# originals deleted), a copy of already-compressed media, a log rotation;
# none may raise a suspect.  Then an attack: 200 documents overwritten with
# random bytes and renamed to .locked, in the background; cdpfs suspects
# must list it within 5 s of its start, with a last good instant at most
# 1 s before its first write (and before it), the files it hit, and the
# documents restored at that instant must equal their manifest before the
# attack, and the alert command of the configuration must get one
# suspect_activity alert naming the host and the directory; the timeline's
# anomaly score holds the attack.  (Per-directory configuration: 069; 60 s
# of pgbench is in the benchmarks, `--only suspectcost`: CI's time.)
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "reading --json"
require_cmd gzip "the gzip workload"

DATA=$T/data
mkdir -p "$DATA/docs" "$DATA/logs" "$DATA/rot" "$T/srcs/tree" "$T/media"
for i in $(seq 1 200); do seq "$i" 3000 >"$DATA/docs/d$i.txt"; done
for i in $(seq 1 20); do seq 1 5000 | sed "s/^/log line $i: /" >"$DATA/logs/l$i.log"; done
printf 'start\n' >"$DATA/rot/app.log"
for i in $(seq 1 300); do printf 'int f%d(void) { return %d; }\n' "$i" "$i" >"$T/srcs/tree/f$i.c"; done
tar -C "$T/srcs" -cf "$T/src.tar" tree
for i in $(seq 1 100); do head -c 65536 /dev/urandom >"$T/media/m$i.jpg"; done
cat >"$T/cdpfs.conf" <<CONF
alert_command = cat >>'$T/alerts.jsonl'
suspect = on
suspect_hot = 3
CONF
CAPTURE_FLAGS="--config $T/cdpfs.conf" capture_start "$DATA"

suspects() { "$CDPFS" suspects --store "$STORE" --json "$HOST"; }
no_suspect() {
	local n
	n=$(suspects | jq .count)
	[ "$n" = 0 ] || check_fail "$1 raised $n suspect(s): $(suspects | jq -c '.suspects[0] | {start, max_score, overwritten, renamed}')"
}
log "untar"
tar -C "$DATA" -xf "$T/src.tar"
no_suspect "untar of a source tree"
log "gzip of logs"
gzip "$DATA"/logs/*.log
no_suspect "gzip of a directory of logs"
log "compressed media"
cp -r "$T/media" "$DATA/media"
no_suspect "a copy of compressed media"
log "log rotation"
for r in 1 2 3; do
	for k in 4 3 2 1; do [ -e "$DATA/rot/app.log.$k" ] && mv "$DATA/rot/app.log.$k" "$DATA/rot/app.log.$((k + 1))"; done
	mv "$DATA/rot/app.log" "$DATA/rot/app.log.1"
	printf 'round %d\n' "$r" >"$DATA/rot/app.log"
done
no_suspect "a log rotation"
sleep 6   # the benign seconds leave the detection window
manifest "$DATA/docs" >"$T/docs.before"

log "attack"
t_attack=$(date +%s.%N)
(
	for i in $(seq 1 200); do
		head -c 16384 /dev/urandom | dd of="$DATA/docs/d$i.txt" bs=16384 conv=notrunc status=none
		mv "$DATA/docs/d$i.txt" "$DATA/docs/d$i.txt.locked"
	done
) &
ATTACK=$!
at_exit "kill $ATTACK 2>/dev/null || true"
found=
for k in $(seq 1 60); do
	if [ "$(suspects | jq .count)" = 1 ]; then found=$(date +%s.%N); break; fi
	sleep 0.1
done
wait "$ATTACK" || fail "the attack's loop failed"
[ -n "$found" ] || fail "no suspect recorded within 6 s of the attack's start"
awk -v a="$t_attack" -v f="$found" 'BEGIN { exit !(f - a <= 5.0) }' ||
	check_fail "the attack was flagged $(awk -v a="$t_attack" -v f="$found" 'BEGIN { print f - a }') s after its start (at most 5 s)"
sleep 1
suspects >"$T/suspects.json"
"$CDPFS" suspects --store "$STORE" "$HOST" >"$T/suspects.txt"
log "suspects: $(tr '\n' '|' <"$T/suspects.txt" | head -c 800)"
[ "$(jq .count "$T/suspects.json")" = 1 ] || check_fail "the attack gave $(jq .count "$T/suspects.json") suspect intervals, expected 1"
good_ns=$(grep -o '"last_good_ns": [0-9]*' "$T/suspects.json" | head -n 1 | grep -o '[0-9]*$')
attack_ns=$(awk -v a="$t_attack" 'BEGIN { split(a, p, "."); printf "%s%s", p[1], substr(p[2] "000000000", 1, 9) }')
[ "$good_ns" -ge $((attack_ns - 1000000000)) ] && [ "$good_ns" -le $((attack_ns + 1000000000)) ] ||
	check_fail "last good instant $good_ns is not within 1 s of the attack's start $attack_ns"
jq -e '.suspects[0] | .overwritten >= 100 and .renamed >= 100' "$T/suspects.json" >/dev/null ||
	check_fail "the suspect's figures are too low: $(jq -c '.suspects[0] | {overwritten, renamed}' "$T/suspects.json")"
jq -r '.suspects[0].top_files[0]' "$T/suspects.json" | grep -q "^$DATA/docs/d[0-9]*\.txt" ||
	check_fail "the suspect's first file is not a document: $(jq -c '.suspects[0].top_files' "$T/suspects.json")"

score=$("$CDPFS" timeline --store "$STORE" --json --since "@$t_attack" --per 1m "$HOST" | jq .totals.score)
log "timeline score since the attack: $score"
[ "$score" -ge 200 ] 2>/dev/null || check_fail "the timeline's anomaly score since the attack is '$score', expected 200 or more (200 files overwritten and renamed)"

log "restore to the last good instant"
at=$(jq -r '.suspects[0].last_good_at' "$T/suspects.json")
"$CDPFS" restore --store "$STORE" "$HOST:$DATA/docs@$at" "$T/docs-restored" >/dev/null ||
	check_fail "restore of docs at the last good instant failed"
manifest "$T/docs-restored" | grep -v '^\. ' >"$T/docs.restored"
grep -v '^\. ' "$T/docs.before" >"$T/docs.before.files"
compare_manifest "$T/docs.before.files" "$T/docs.restored" "docs at the last good instant" ||
	check_fail "the documents restored at the last good instant differ from before the attack"

log "alert"
for k in $(seq 1 30); do
	[ -e "$T/alerts.jsonl" ] && grep -q suspect_activity "$T/alerts.jsonl" && break
	sleep 0.1
done
log "alerts: $(cat "$T/alerts.jsonl" 2>/dev/null | head -c 800)"
[ "$(jq -s '[.[] | select(.event == "suspect_activity")] | length' "$T/alerts.jsonl" 2>/dev/null)" = 1 ] ||
	check_fail "expected one suspect_activity alert within 3 s, the alert command got: $(cat "$T/alerts.jsonl" 2>/dev/null)"
jq -s -e --arg h "$HOST" --arg d "$(readlink -f "$DATA")" --arg at "$at" '.[] | select(.event == "suspect_activity") |
	.host == $h and .dir == $d and .severity == "critical" and (.message | contains($at))' "$T/alerts.jsonl" >/dev/null ||
	check_fail "the suspect_activity alert does not name host '$HOST', dir '$DATA', severity critical and the last good instant $at: $(cat "$T/alerts.jsonl")"

expect_fail "suspects of an unknown host" "$CDPFS" suspects --store "$STORE" nosuch
expect_fail "suspects without a host" "$CDPFS" suspects --store "$STORE"
capture_stop "$DATA"
finish
