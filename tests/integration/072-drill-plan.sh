# SPDX-License-Identifier: GPL-2.0-or-later
#
# 072-drill-plan - drill plans (a plans directory given by
# CDPFS_DRILL_PLANS): a plan run by hand writes a report that names the
# plan, its responsible and the trigger; the command the installed
# cdpfs-drill@.service runs (as systemd would start it: systemd is not
# PID 1 in CI's containers) skips a plan that is not due and runs one that
# is, the report naming the unit; `--plans` shows the last run, last pass,
# next due (24 h after the last run for daily, the calendar's next elapse
# for a calendar expression) and flags an overdue plan (exit 1); the
# precheck passes for a plan that can run and names what blocks the others
# (a missing check, an instant before the history) without mounting
# anything; a broken plan gets one line naming its file and line; the
# installed units pass systemd-analyze verify where it exists.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
require_cmd jq "needed to read the JSON output; scripts/install-deps installs it"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
PLANS=$T/plans
mkdir -p "$PLANS"
export CDPFS_DRILL_PLANS=$PLANS

DATA=$T/data
make_baseline "$DATA"
sqlite3 "$DATA/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES(1), (2), (3);"
capture_start "$DATA"
sleep 0.2

plan() {   # plan NAME PERIOD CHECK [INSTANT]
	cat >"$PLANS/$1.conf" <<EOF
# a plan of test 072
host = $HOST
dir = $DATA
store = $STORE
instant = ${4:-latest}
check = $3
expect = 3
timeout = 1m
period = $2
responsible = Test Owner <owner@example.org>
EOF
}
plan nightly daily "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db"
plan weekly 'Mon *-*-* 02:00' "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db"
plan nocheck daily "$T/no-such-check --query x"
plan ancient daily "$CHECKS/sqlite app.db" 2001-01-01T00:00
drill() { "$CDPFS" drill "$@"; }

# 1. before any run: every plan never ran and is overdue
rc=0
drill --plans --json >"$T/p0.json" || rc=$?
[ "$rc" = 1 ] || check_fail "--plans with never-run plans exited $rc, expected 1 (overdue)"
jq -e '(.plans | length) == 4 and ([.plans[] | select(.overdue == true and .last_run == null)] | length) == 4' "$T/p0.json" >/dev/null ||
	check_fail "--plans before any run: $(jq -c '[.plans[] | {name, overdue, last_run}]' "$T/p0.json")"

# 2. prechecks: mount nothing, say what would block
drill --plan nightly --precheck >"$T/pre1.out" || check_fail "precheck of a plan that can run exited $?: $(cat "$T/pre1.out")"
grep -q 'the drill can run' "$T/pre1.out" && grep -Eq 'ok +check 1 can run +sqlite3 .* installed' "$T/pre1.out" ||
	check_fail "precheck of nightly: $(cat "$T/pre1.out")"
rc=0
drill --plan nocheck --precheck --json >"$T/pre2.json" || rc=$?
[ "$rc" = 1 ] || check_fail "precheck of a plan with a missing check exited $rc, expected 1"
jq -e --arg p "$T/no-such-check" '.blocking == 1 and ([.checks[] | select(.name == "check 1" and .result == "failed" and (.detail | contains($p)))] | length) == 1' "$T/pre2.json" >/dev/null ||
	check_fail "precheck does not name the missing check: $(cat "$T/pre2.json")"
rc=0
drill --plan ancient --precheck >"$T/pre3.out" || rc=$?
[ "$rc" = 1 ] && grep -q 'failed .*before the history' "$T/pre3.out" ||
	check_fail "precheck of an instant before the history: exit $rc: $(cat "$T/pre3.out")"
findmnt -rn -o TARGET | grep -q "^$TMPDIR/" && check_fail "a precheck left a mount under $TMPDIR"
ls "$TMPDIR" | grep -q . && check_fail "a precheck made a mount point: $(ls "$TMPDIR")"
[ -e "$STORE/drills/index" ] && check_fail "a precheck archived a drill"

# 3. a plan run by hand
drill --plan nightly --json >"$T/d1.json" 2>"$T/d1.err" || check_fail "drill --plan nightly exited $?: $(cat "$T/d1.err")"
jq -e '.plan == "nightly" and .result == "pass" and .run_by.responsible == "Test Owner <owner@example.org>" and .run_by.trigger == "command line" and .checks[0].expected == "3" and .checks[0].answer == "3"' "$T/d1.json" >/dev/null ||
	check_fail "the report of a plan's drill: $(jq -c '{plan, result, run_by, checks: [.checks[] | {expected, answer}]}' "$T/d1.json")"
ID1=$(jq -r .id "$T/d1.json")

# 4. the installed units, and the command the service runs
make -s -C "$SRCDIR" install-units BUILD="$T/mk" PREFIX="$T/prefix" SYSCONFDIR="$T/etc" >"$T/install.out" 2>&1 ||
	fail "make install-units failed: $(cat "$T/install.out")"
UNITS=$T/prefix/lib/systemd/system
mkdir -p "$T/prefix/bin"
ln -sf "$CDPFS" "$T/prefix/bin/cdpfs"
[ -f "$UNITS/cdpfs-drill@.service" ] && [ -f "$UNITS/cdpfs-drill@.timer" ] || fail "make install-units did not install the units"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$UNITS/cdpfs-drill@nightly.service" "$UNITS/cdpfs-drill@nightly.timer" >"$T/verify.out" 2>&1 ||
		check_fail "systemd-analyze verify of the drill units: $(cat "$T/verify.out")"
else
	log "no systemd-analyze: the units are not verified"
fi
exec_start() {   # the service's ExecStart with %i as $1
	sed -n 's/^ExecStart=//p' "$UNITS/cdpfs-drill@.service" | sed "s/%i/$1/g"
}
grep -q -- "--plan %i --if-due" "$UNITS/cdpfs-drill@.service" || check_fail "the service does not run the plan when due"
as_the_timer() {   # as_the_timer PLAN: what systemd would run for cdpfs-drill@PLAN.service
	log "as cdpfs-drill@$1.service: $(exec_start "$1")"
	env INVOCATION_ID=072test CDPFS_DRILL_UNIT="cdpfs-drill@$1.service" sh -c "$(exec_start "$1")"
}
as_the_timer nightly >"$T/t1.out" 2>&1 || check_fail "the service's command for a plan that ran exited $?: $(cat "$T/t1.out")"
grep -q '^plan nightly is not due until ' "$T/t1.out" || check_fail "a plan that just ran is run again by the timer: $(cat "$T/t1.out")"
[ "$(grep -c nightly "$STORE/drills/index")" = 1 ] || check_fail "the timer ran a plan that was not due"
cp "$PLANS/nightly.conf" "$PLANS/fresh.conf"
as_the_timer fresh >"$T/t2.out" 2>&1 || check_fail "the service's command for a due plan exited $?: $(cat "$T/t2.out")"
ID2=$(awk -F'\t' '$10 == "fresh" { id = $1 } END { print id }' "$STORE/drills/index")
[ -n "$ID2" ] || check_fail "the timer did not run the due plan 'fresh': $(cat "$T/t2.out")"
[ -n "$ID2" ] && { jq -e '.plan == "fresh" and .result == "pass" and .run_by.trigger == "systemd (cdpfs-drill@fresh.service)"' "$STORE/drills/$ID2/report.json" >/dev/null ||
	check_fail "the timer's drill report: $(jq -c '{plan, result, run_by}' "$STORE/drills/$ID2/report.json")"; }

# 5. the schedule: next due, overdue
# a pass of plan 'stale' two days ago, and of 'weekly' on a known Tuesday
plan stale daily "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db"
two_days=$(( ($(date +%s) - 2 * 86400) * 1000000000 ))
tue=1764640800000000000   # Tue 2025-12-02 02:00:00 UTC
printf 'old-stale-0001\t%s\t%s\t%s\t1\tpass\t1000\t%s\t-\tstale\troot\t0\tvm\t0\t10\t20\n' "$HOST" $two_days $two_days $two_days >>"$STORE/drills/index"
printf 'old-weekly-0001\t%s\t%s\t%s\t1\tpass\t1000\t%s\t-\tweekly\troot\t0\tvm\t0\t10\t20\n' "$HOST" $tue $tue $tue >>"$STORE/drills/index"
rc=0
drill --plans --json >"$T/p1.json" || rc=$?
[ "$rc" = 1 ] || check_fail "--plans with an overdue plan exited $rc, expected 1"
jq -e --arg id "$ID1" '.plans[] | select(.name == "nightly") | .overdue == false and .state == "ok" and .last_run_id == $id and .last_result == "pass" and (.next_due_ns - .last_run_ns) == 86400000000000' "$T/p1.json" >/dev/null ||
	check_fail "--plans: nightly should be ok, due 24 h after its run: $(jq -c '.plans[] | select(.name == "nightly")' "$T/p1.json")"
jq -e '.plans[] | select(.name == "stale") | .overdue == true and .state == "OVERDUE" and .last_pass != null' "$T/p1.json" >/dev/null ||
	check_fail "--plans: a daily plan last passed two days ago is not overdue: $(jq -c '.plans[] | select(.name == "stale")' "$T/p1.json")"
if command -v systemd-analyze >/dev/null; then
	due=$(grep -o '"name": "weekly".*' "$T/p1.json" | grep -o '"next_due_ns": [0-9]*' | grep -o '[0-9]*$')
	[ "$(date -u -d "@$((due / 1000000000))" +%F.%a.%H%M)" = 2025-12-08.Mon.0200 ] ||
		check_fail "--plans: the calendar plan's next due after Tue 2025-12-02 is not Mon 2025-12-08 02:00 UTC: @$due"
	jq -e '.plans[] | select(.name == "weekly") | .overdue == true' "$T/p1.json" >/dev/null ||
		check_fail "--plans: a weekly calendar plan last passed a year ago is not overdue"
fi
drill --plans >"$T/p1.txt" || true
grep -Eq '^stale +.* OVERDUE$' "$T/p1.txt" && grep -q 'plan(s) overdue' "$T/p1.txt" ||
	check_fail "--plans text does not flag the overdue plan: $(cat "$T/p1.txt")"

# 6. the audit trail has the prechecks and the plan's drills
"$CDPFS" audit --store "$STORE" --action drill-precheck --json | jq -e '[.records[].result | split(":")[0]] == ["ok", "blocked", "blocked"]' >/dev/null ||
	check_fail "the prechecks are not in the audit trail: $("$CDPFS" audit --store "$STORE" --action drill-precheck)"
"$CDPFS" audit --store "$STORE" --action drill --json | jq -e --arg id "$ID1" '[.records[] | select(.args | test("id=" + $id + " plan=nightly"))] | length == 1' >/dev/null ||
	check_fail "the plan's drill is not in the audit trail with its plan"

# 7. bad plans and bad usage: one line each
printf 'host = h\nfrobnicate = yes\n' >"$T/broken.conf"
expect_fail "a plan with an unknown key" drill --plan-file "$T/broken.conf"
grep -q "line 2: unknown key 'frobnicate'" "$T/expect.err" || check_fail "the broken plan's line is not named: $(cat "$T/expect.err")"
printf 'host = h\ncheck = true\nperiod = sometimes never\n' >"$T/badperiod.conf"
expect_fail "a plan with a bad period" drill --plan-file "$T/badperiod.conf"
printf 'host = h\ncheck = true\nperiod = daily\ninstant = last-clean\n' >"$T/lastclean.conf"
expect_fail "a plan asking for last-clean" drill --plan-file "$T/lastclean.conf"
expect_fail "an unknown plan" drill --plan nosuchplan
expect_fail "a bad plan name" drill --plan ../etc
expect_fail "a plan and HOST@TIME" drill --plan nightly "$HOST@latest"
expect_fail "--precheck without a plan" drill --precheck
cp "$T/broken.conf" "$PLANS/broken.conf"
rc=0
drill --plans >"$T/p2.txt" || rc=$?
[ "$rc" = 1 ] && grep -q "unknown key 'frobnicate'" "$T/p2.txt" || check_fail "--plans with a broken plan: exit $rc: $(cat "$T/p2.txt")"
finish
