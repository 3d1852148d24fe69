# SPDX-License-Identifier: GPL-2.0-or-later
#
# 071-audit - the store's audit trail (STORE/audit/log): capture start and
# stop, mounts of the past read-only and as a named overlay, their
# unmounts, the overlay's removal, a refused mount, a verify run and a
# drill are each recorded once, by the process that did them, with its
# user and uid (a second user's record carries that user's), the machine,
# the arguments and the result; `cdpfs audit` filters by time, user and
# action, as text and JSON; `--verify` finds a changed, a removed and an
# inserted record and says at which line, reports a torn last record (a
# crash during an append) until the next record acknowledges it; `drill
# --verify` needs the drill's record; a drill killed before its report
# leaves its start record and no end.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
require_cmd jq "needed to read the JSON output; scripts/install-deps installs it"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR" "$T/mnt"
LOG=$STORE/audit/log

DATA=$T/data
make_baseline "$DATA"
sqlite3 "$DATA/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES(1);"
capture_start "$DATA"
echo more >>"$DATA/hello.txt"
at=$(record_instant)
t_start=$(date +%s.%N)

audit() { "$CDPFS" audit --store "$STORE" "$@"; }

# 1. actions, each recorded by the command that did it
MOUNTS+=("$T/mnt")
"$CDPFS" mount --store "$STORE" "$HOST@@$at" "$T/mnt" || fail "cannot mount $HOST@@$at"
record_daemon_pids
"$CDPFS" umount "$T/mnt" || fail "cannot unmount"
"$CDPFS" mount --store "$STORE" -o rw,overlay=audited "$HOST@@$at" "$T/mnt" || fail "cannot mount an overlay"
record_daemon_pids
"$CDPFS" umount "$T/mnt" || fail "cannot unmount the overlay"
"$CDPFS" overlay --store "$STORE" rm audited || check_fail "cannot remove the overlay"
expect_fail "a mount of an unknown host" "$CDPFS" mount --store "$STORE" "nosuchhost@latest" "$T/mnt"
"$CDPFS" verify --store "$STORE" >/dev/null || check_fail "verify exited $?"
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db" --expect 1 >"$T/drill.json" ||
	check_fail "the drill exited $?"
ID=$(jq -r .id "$T/drill.json")
capture_stop "$DATA"

audit --json >"$T/all.json" || fail "audit --json exited $?"
audit >"$T/all.txt" || fail "audit exited $?"
log "audit trail: $(tr '\n' '|' <"$T/all.txt" | head -c 2500)"
# action and result, in order (the drill's own mount and unmount included)
jq -r '.records[] | "\(.action) \(.result | split(":")[0])"' "$T/all.json" >"$T/actions"
cat >"$T/want" <<EOF
capture-start ok
mount ok
umount ok
mount ok
umount ok
overlay-rm ok
mount error
verify clean
drill-start started
mount ok
umount ok
drill pass
capture-stop ok
EOF
diff -u "$T/want" "$T/actions" >"$T/actions.diff" || check_fail "the audit trail does not hold each action once, in order: $(tr '\n' '|' <"$T/actions.diff")"
jq -e --arg u "$(id -un)" --argjson uid "$(id -u)" --arg m "$(hostname)" \
	'[.records[] | select(.user != $u or .uid != $uid or .machine != $m)] | length == 0' "$T/all.json" >/dev/null ||
	check_fail "a record does not name $(id -un) (uid $(id -u)) on $(hostname): $(jq -c '[.records[] | {user, uid, machine}] | unique' "$T/all.json")"
jq -e '.records[3].args | test("options=rw,overlay=audited")' "$T/all.json" >/dev/null ||
	check_fail "the overlay mount's record lacks its options: $(jq -r '.records[3].args' "$T/all.json")"
jq -e '.records[6].result | test("no capture of host .nosuchhost.")' "$T/all.json" >/dev/null ||
	check_fail "the refused mount's record lacks the reason: $(jq -r '.records[6].result' "$T/all.json")"
jq -e --arg id "$ID" '.records[8].args | test("id=" + $id + " ")' "$T/all.json" >/dev/null ||
	check_fail "the drill's start record lacks its ID: $(jq -r '.records[8].args' "$T/all.json")"
jq -e --arg id "$ID" '.records[11].args | test("id=" + $id) and test("report.json=[0-9a-f]{64}") and test("report.html=[0-9a-f]{64}")' "$T/all.json" >/dev/null ||
	check_fail "the drill's record lacks its ID or its reports' hashes: $(jq -r '.records[11].args' "$T/all.json")"
# every instant is UTC on disk, after the test began
! tail -n +2 "$LOG" | cut -f2 | grep -Evq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$' ||
	check_fail "a record's instant is not UTC with nanoseconds: $(tail -n +2 "$LOG" | cut -f2 | head -n 3 | tr '\n' ' ')"

# 2. filters
[ "$(audit --action mount --json | jq '.records | length')" = 4 ] || check_fail "--action mount does not give the 4 mounts"
[ "$(audit --user "$(id -un)" --json | jq '.records | length')" = 13 ] || check_fail "--user $(id -un) does not give all 13 records"
[ "$(audit --user "$(id -u)" --json | jq '.records | length')" = 13 ] || check_fail "--user $(id -u) does not give all 13 records"
audit --user nosuchuser | grep -q '^no audit record matches' || check_fail "--user of another user is not empty"
[ "$(audit --since "@$(date +%s.%N)" --json | jq '.records | length')" = 0 ] || check_fail "--since now is not empty"
[ "$(audit --since "@$t_start" --json | jq '.records | length')" = 12 ] ||
	check_fail "--since the first mount does not give the 12 records after capture began: $(audit --since "@$t_start" | wc -l)"

# 3. the chain verifies, the drill's reports too
audit --verify >"$T/v.out" || check_fail "audit --verify of an untouched trail exited $?: $(cat "$T/v.out")"
grep -q '13 records, chain intact' "$T/v.out" || check_fail "audit --verify: $(cat "$T/v.out")"
"$CDPFS" drill --store "$STORE" --verify "$ID" >/dev/null || check_fail "drill --verify of the drill exited $?"
cp "$LOG" "$T/log.orig"   # 14 records now: audit-verify recorded itself

# tamper LABEL LINE-WANTED PATTERN: verify must exit 1 and name that line
tamper_found() {
	local label=$1 line=$2 pattern=$3 rc=0
	audit --verify >"$T/tv.out" || rc=$?
	log "$label: exit $rc: $(tr '\n' '|' <"$T/tv.out")"
	[ "$rc" = 1 ] || check_fail "$label: audit --verify exited $rc, expected 1"
	grep -q "^line $line .*$pattern" "$T/tv.out" || check_fail "$label: audit --verify does not name line $line ($pattern): $(cat "$T/tv.out")"
	cp "$T/log.orig" "$LOG"
}
# a changed record: the refused mount made to look as if it succeeded
sed -i '8s/\terror: no capture[^\t]*\t/\tok\t/' "$LOG"
tamper_found "a changed record" 8 "changed"
# a removed record: the first unmount
sed -i '4d' "$LOG"
tamper_found "a removed record" 4 "missing"
# an inserted record: a copy of record 2 after it
sed -i '3p' "$LOG"
tamper_found "an inserted record" 4 "inserted"
# the drill's record edited: drill --verify fails too
sed -i "13s/report.md=[0-9a-f]\{64\}/report.md=$(printf '%064d' 0)/" "$LOG"
rc=0
"$CDPFS" drill --store "$STORE" --verify "$ID" >"$T/dv.out" || rc=$?
[ "$rc" = 1 ] && grep -q 'report.md .*CHANGED' "$T/dv.out" && grep -q 'does not verify' "$T/dv.out" ||
	check_fail "drill --verify with an edited audit record exited $rc: $(cat "$T/dv.out")"
cp "$T/log.orig" "$LOG"

# 4. a torn last record (a crash in the middle of an append)
printf '15\t2026-12-02T10:00:00.000000000Z\troot\t0\t-\tvm\t1\tmou' >>"$LOG"
rc=0
audit --verify >"$T/torn.out" || rc=$?
[ "$rc" = 1 ] && grep -q '^line 16: torn last record' "$T/torn.out" ||
	check_fail "a torn last record: exit $rc: $(cat "$T/torn.out")"
# the next append closes it and says so in the chain; the chain is whole again
"$CDPFS" verify --store "$STORE" >/dev/null || check_fail "verify exited $?"
rc=0
audit --verify >"$T/torn2.out" || rc=$?
[ "$rc" = 0 ] && grep -q '^line 16: note: torn record' "$T/torn2.out" ||
	check_fail "after a torn record, the next append: exit $rc: $(cat "$T/torn2.out")"
audit --action audit-torn-record --json | jq -e '.records | length == 1' >/dev/null ||
	check_fail "the torn record is not acknowledged by an audit-torn-record record"

# 5. another user's record carries that user's credentials
if id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	chmod o+rx "$T" "$STORE" "$STORE/audit"
	chmod o+rw "$LOG"
	runuser -u nobody -- "$CDPFS" audit --store "$STORE" --verify >/dev/null 2>"$T/nobody.err" ||
		check_fail "audit --verify as nobody exited $?: $(cat "$T/nobody.err")"
	audit --json | jq -e --argjson uid "$(id -u nobody)" '.records[-1] | .user == "nobody" and .uid == $uid and .action == "audit-verify"' >/dev/null ||
		check_fail "nobody's record: $(audit --json | jq -c '.records[-1] | {user, uid, action}')"
	chmod o+r,o-w "$LOG"
	# a user who cannot write the trail is told, and the action still runs
	runuser -u nobody -- "$CDPFS" audit --store "$STORE" --verify >/dev/null 2>"$T/nobody2.err" ||
		check_fail "audit --verify as nobody without write access exited $?"
	grep -q "warning: cannot record 'audit-verify' in the audit trail" "$T/nobody2.err" ||
		check_fail "a record that cannot be written is not reported: $(cat "$T/nobody2.err")"
else
	log "no user nobody or no runuser: the second user's record is not checked"
fi

# 6. a drill killed (kill -9) before its report: its start is there, no end
"$CDPFS" drill --store "$STORE" "$HOST:$DATA@@$at" --check 'sleep 31.25' >/dev/null 2>&1 &
dpid=$!
for _ in $(seq 1 100); do pgrep -f '^sleep 31.25' >/dev/null && break; sleep 0.1; done
kill -KILL "$dpid"
wait "$dpid" 2>/dev/null || true
for p in $(pgrep -f '^sleep 31.25'); do kill "$p" 2>/dev/null || true; done
record_daemon_pids
for m in $(findmnt -rn -o TARGET | grep "^$TMPDIR/" || true); do force_unmount "$m"; done
kid=$(audit --action drill-start --json | jq -r '.records[-1].args' | sed 's/^id=\([^ ]*\) .*/\1/')
audit --json | jq -e --arg id "$kid" '[.records[] | select(.action == "drill" and (.args | test("id=" + $id)))] | length == 0' >/dev/null ||
	check_fail "a killed drill has an end record"
[ -n "$kid" ] && audit --action drill-start | grep -q "id=$kid " ||
	check_fail "a drill killed before its report left no start in the audit trail"
audit --verify >/dev/null || check_fail "the chain does not verify after a killed drill"

# 7. bad input
expect_fail "audit --verify with a filter" audit --verify --action mount
expect_fail "audit of a directory that is no store" "$CDPFS" audit --store "$T/data"
printf 'not an audit log\n' >"$LOG"
expect_fail "audit of a log with another first line" audit
expect_fail "audit --verify of a log with another first line" audit --verify
finish
