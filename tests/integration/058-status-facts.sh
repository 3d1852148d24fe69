# SPDX-License-Identifier: GPL-2.0-or-later
#
# 058-status-facts - what `cdpfs status` says beyond the state and the RPO,
# against a known workload: the write rate of the host over the last
# minute (120 appends of one block each: at least 120 operations and 120
# blocks in the minute, no more than 3 operations an append), the last
# verify (none, then the one just run, with --data, clean), the last
# passing drill (none, then the drill just run; a failing drill after it
# does not replace it), and the open alerts judged with --config's
# thresholds (store_fill at 1%, then capture_died and rpo_warning once the
# daemon is killed), in --json, the text and --prometheus.  The old keys
# stay as they were.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "status --json is parsed with jq"

DATA=$T/data
mkdir -p "$DATA"
printf 'x\n' >"$DATA/seed"
capture_start "$DATA"
status() { "$CDPFS" status --store "$STORE" "$@"; }
dir() { jq --arg d "$DATA" ".dirs[] | select(.path == \$d) | $1" "$T/s.json"; }

rc=0
status --json >"$T/s.json" || rc=$?
[ "$rc" -eq 0 ] || check_fail "status of a fresh capture exited $rc"
[ "$(jq -c 'keys' "$T/s.json")" = '["daemon","days_until_full","dirs","free_bytes","healthy","last_verify","max_rpo_s","now","now_ns","open_alerts","shipping","store","used_bytes"]' ] ||
	check_fail "status --json top-level keys: $(jq -c keys "$T/s.json")"
[ "$(jq -c '.dirs[0] | keys' "$T/s.json")" = '["complete","complete_ns","gap_since","gap_since_ns","healthy","host","host_write_bytes_per_s","host_write_ops_per_s","last_drill_pass","last_drill_pass_id","last_drill_pass_ns","late_count","late_last","late_last_ns","path","rpo_s","state"]' ] ||
	check_fail "status --json keys of a directory: $(jq -c '.dirs[0] | keys' "$T/s.json")"
[ "$(jq '.last_verify' "$T/s.json")" = null ] || check_fail "a store never verified has a last_verify: $(jq -c .last_verify "$T/s.json")"
[ "$(dir .last_drill_pass_ns)" = 0 ] || check_fail "a host never drilled has a last passing drill"
[ "$(jq '.open_alerts | length' "$T/s.json")" = 0 ] || check_fail "open alerts with nothing wrong: $(jq -c .open_alerts "$T/s.json")"
status | grep -q "never verified" || check_fail "the text does not say the store was never verified"

log "phase: workload"
# the known workload: 120 appends, each its own block
bs=8192
for i in $(seq 1 120); do
	head -c $bs /dev/urandom >>"$DATA/blocks"
done
sync "$DATA/blocks"
sleep 1.2   # the activity summary's second closes
status --json >"$T/s.json" || true
ops=$(dir .host_write_ops_per_s)
bytes=$(dir .host_write_bytes_per_s)
awk -v o="$ops" 'BEGIN { exit !(o * 60 >= 119.5 && o * 60 <= 3 * 120 + 10) }' ||
	check_fail "write rate: expected 120 to 370 operations in the last minute, status says $ops/s"
awk -v b="$bytes" -v bs=$bs 'BEGIN { exit !(b * 60 >= 120 * bs && b * 60 <= 140 * bs) }' ||
	check_fail "write rate: expected about $((120 * bs)) bytes in the last minute, status says $bytes/s"
status | grep -q "^host $HOST: writes " || check_fail "the text does not give the host's write rate: $(status)"

log "phase: verify"
# the last verify
before=$(date +%s%N)
"$CDPFS" verify --store "$STORE" --data >"$T/verify.out" || check_fail "verify of a sound store exited $?"
after=$(date +%s%N)
status --json >"$T/s.json" || true
jq -e --argjson b "$before" --argjson a "$after" '.last_verify | .data == true and .problems == 0 and .host == null and .finished_ns >= $b and .finished_ns <= $a + 1000' \
	"$T/s.json" >/dev/null || check_fail "last_verify after 'verify --data': $(jq -c .last_verify "$T/s.json") (ran @$before..@$after)"
status | grep -q "^last verify .*(every chunk read): clean$" || check_fail "the text does not give the last verify: $(status | grep -i verif)"
status --prometheus | grep -q '^cdpfs_last_verify_problems 0$' || check_fail "--prometheus lacks cdpfs_last_verify_problems 0"

log "phase: drills"
# the last passing drill, and a failing one after it
at=$(date +%s.%N)
sleep 0.1
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" --check "test -s \"\$CDPFS_ROOT/blocks\"" \
	>"$T/d1.json" 2>"$T/d1.err" || check_fail "a passing drill exited $?: $(cat "$T/d1.err")"
record_daemon_pids
id=$(jq -r .id "$T/d1.json")
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" --check false >"$T/d2.json" 2>/dev/null &&
	check_fail "a drill whose check fails exited 0"
status --json >"$T/s.json" || true
[ "$(dir .last_drill_pass_id)" = "\"$id\"" ] || check_fail "last_drill_pass_id: expected $id (the passing drill), got $(dir .last_drill_pass_id)"
[ "$(dir .last_drill_pass_ns)" = "$(jq .started_ns "$T/d1.json")" ] ||
	check_fail "last_drill_pass_ns: expected the drill's start $(jq .started_ns "$T/d1.json"), got $(dir .last_drill_pass_ns)"
status --prometheus | grep -q "^cdpfs_last_drill_pass_timestamp_seconds{host=\"$HOST\"} " ||
	check_fail "--prometheus lacks the last passing drill of $HOST"

log "phase: alerts"
# open alerts, with the thresholds of --config
printf 'store_fill_percent = 1\nrpo_warning = 2s\nrpo_error = 1h\n' >"$T/cdpfs.conf"
status --config "$T/cdpfs.conf" --json >"$T/s.json" || true
jq -e '.open_alerts == [{"event": "store_fill", "host": null, "dir": null}]' "$T/s.json" >/dev/null ||
	check_fail "open alerts with the store's disk above 1%: expected only store_fill, got $(jq -c .open_alerts "$T/s.json")"
expect_fail "status with a missing --config" "$CDPFS" status --store "$STORE" --config "$T/none.conf"

daemon=$(jq -r '.daemon.pid' "$T/s.json")
super=$(awk '{print $4}' "/proc/$daemon/stat")
[ "$(cat "/proc/$super/comm")" = cdpfs-supervise ] || fail "no supervisor above the daemon $daemon"
crash_capture "$DATA" "$super" "$daemon"
sleep 2.5
rc=0
status --config "$T/cdpfs.conf" --json >"$T/s.json" || rc=$?
[ "$rc" -eq 1 ] || check_fail "status after the crash exited $rc, expected 1"
jq -e --arg d "$DATA" --arg h "$HOST" '[.open_alerts[] | select(.dir == $d and .host == $h) | .event] | sort == ["capture_died", "rpo_warning"]' \
	"$T/s.json" >/dev/null || check_fail "open alerts after the crash: expected capture_died and rpo_warning for '$DATA', got $(jq -c .open_alerts "$T/s.json")"
{ status --config "$T/cdpfs.conf" || true; } | grep -q "^open alerts: .*capture_died $DATA" ||
	check_fail "the text does not list capture_died: $(status --config "$T/cdpfs.conf" | grep alert)"
{ status --config "$T/cdpfs.conf" --prometheus || true; } | grep -q "^cdpfs_open_alert{event=\"capture_died\",host=\"$HOST\",dir=\"$DATA\"} 1$" ||
	check_fail "--prometheus lacks cdpfs_open_alert for capture_died"
finish
