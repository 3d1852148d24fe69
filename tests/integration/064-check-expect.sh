# SPDX-License-Identifier: GPL-2.0-or-later
#
# 064-check-expect - the shipped sqlite and postgres checks take --expect
# VALUE for their --query: a drill whose query answers the expected value
# passes, one that answers another value fails (a wrong answer, not an SQL
# error), and bisect with --expect finds the second a row count went
# wrong; --expect without --query is a usage error (exit 2).  The postgres
# check is run on a cluster of its own (no capture needed: the check only
# reads $CDPFS_ROOT), when PostgreSQL is installed.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "the sqlite check"
require_cmd jq "reading the drill reports"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

DATA=$T/data
mkdir -p "$DATA"
sqlite3 "$DATA/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY);" >/dev/null
capture_start "$DATA"
for i in 1 2 3; do sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i)"; done
good=$(record_instant)
sleep 1.1
sqlite3 "$DATA/app.db" "DELETE FROM t WHERE id = 2"
bad=$(record_instant)

rc=0
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$good" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' --expect 3 app.db" >"$T/pass.json" 2>"$T/pass.err" || rc=$?
[ "$rc" = 0 ] && [ "$(jq -r .result "$T/pass.json")" = pass ] ||
	check_fail "drill with the expected answer: exit $rc, result $(jq -r .result "$T/pass.json" 2>/dev/null): $(cat "$T/pass.err")"
rc=0
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$bad" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' --expect 3 app.db" >"$T/fail.json" 2>"$T/fail.err" || rc=$?
[ "$rc" != 0 ] && [ "$(jq -r .result "$T/fail.json")" = fail ] ||
	check_fail "drill with a wrong answer: expected a failed drill, got exit $rc, result $(jq -r .result "$T/fail.json" 2>/dev/null)"
jq -r '.checks[0].output_tail' "$T/fail.json" | grep -q "answered '2', expected '3'" ||
	check_fail "the failed check does not say what it got and expected: $(jq -c '.checks[0].output_tail' "$T/fail.json")"

rc=0
"$CDPFS" bisect --store "$STORE" "$HOST:$DATA" --good "@$good" --bad "@$bad" --timeout 30s \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' --expect 3 app.db" >"$T/bisect.out" 2>"$T/bisect.err" || rc=$?
record_daemon_pids
[ "$rc" = 0 ] || check_fail "bisect with --expect exited $rc: $(cat "$T/bisect.err")"
grep -q '^last good: ' "$T/bisect.out" || check_fail "bisect with --expect found no last good instant: $(tail -n 3 "$T/bisect.out")"

rc=0
CDPFS_ROOT=$DATA "$CHECKS/sqlite" --expect 3 app.db >/dev/null 2>"$T/usage.err" || rc=$?
[ "$rc" = 2 ] || check_fail "sqlite --expect without --query: expected exit 2, got $rc"
capture_stop "$DATA"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && id postgres >/dev/null 2>&1; then
	BASE=$(mktemp -d /tmp/cdpfs-it-pgx.XXXXXX)
	at_exit rm -rf "$BASE"
	chmod 0755 "$BASE"
	mkdir -p "$BASE/root/pg" "$BASE/tmp"
	chmod 1777 "$BASE/tmp"
	export TMPDIR=$BASE/tmp   # the check's socket directory: the server must reach it
	chown -R postgres: "$BASE/root"
	chmod 0700 "$BASE/root/pg"
	runuser -u postgres -- "$PGBIN/initdb" -N -A trust -U postgres -D "$BASE/root/pg" >"$T/initdb.log" 2>&1 ||
		fail "initdb failed: $(tail -n 5 "$T/initdb.log")"
	rc=0
	CDPFS_ROOT=$BASE/root "$CHECKS/postgres" --no-amcheck --query 'SELECT 6 * 7' --expect 42 pg >"$T/pg-pass.log" 2>&1 || rc=$?
	[ "$rc" = 0 ] || check_fail "postgres check with the expected answer exited $rc: $(tail -n 5 "$T/pg-pass.log" | tr '\n' '|')"
	rc=0
	CDPFS_ROOT=$BASE/root "$CHECKS/postgres" --no-amcheck --query 'SELECT 6 * 7' --expect 41 pg >"$T/pg-fail.log" 2>&1 || rc=$?
	[ "$rc" = 1 ] || check_fail "postgres check with a wrong answer: expected exit 1, got $rc"
	grep -q "answered '42', expected '41'" "$T/pg-fail.log" || check_fail "the postgres check does not say what it got: $(tail -n 3 "$T/pg-fail.log" | tr '\n' '|')"
	rc=0
	CDPFS_ROOT=$BASE/root "$CHECKS/postgres" --expect 42 pg >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || check_fail "postgres --expect without --query: expected exit 2, got $rc"
else
	log "NOTE: PostgreSQL is not installed: the postgres check's --expect is not run"
fi
finish
