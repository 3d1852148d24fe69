# SPDX-License-Identifier: GPL-2.0-or-later
#
# 070-drill-report - what an auditor reads in a drill's report (report
# format 2), on a captured directory drilled with the sqlite check: who ran
# it (user, uid), where (machine), with which versions (cdpfs, each check's
# CDPFS-VERSION), the requested and exact instant, the RPO and the RTO from
# one start, steps that are contiguous from the drill's start to its end
# (so the RTO is the sum of the steps before the answer) with the steps a
# check announced inside it, each check's expected and actual answer
# (--expect: a wrong answer fails the drill although the check exits 0),
# pre- and post-drill checks and a one-line conclusion; the same in
# report.md and in report.html, a page with its sections in order, a
# timeline bar, inline CSS and nothing it would load (no script, no URL),
# with a check's markup escaped; --show --html prints it; --list shows
# zoned instants with milliseconds; --export gives CSV and JSON since an
# instant; --verify says whether the archived reports are those written
# (and not after one is edited).
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
require_cmd jq "needed to read the JSON reports; scripts/install-deps installs it"
require_cmd python3 "needed to read the HTML page; scripts/install-deps installs it"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

DATA=$T/data
make_baseline "$DATA"
sqlite3 "$DATA/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
capture_start "$DATA"
for i in $(seq 1 10); do sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, 'row $i')"; done
at1=$(record_instant)
for i in $(seq 11 15); do sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, 'row $i')"; done

drill() { "$CDPFS" drill --store "$STORE" "$@"; }

# 1. a passing drill: the sqlite check with an expected answer, and a check
# that announces its version, two steps and the moment it answers
drill --json "$HOST:$DATA@@$at1" \
	--check "$CHECKS/sqlite --query 'SELECT count(*), max(id) FROM t' app.db" --expect '10|10' \
	--check 'echo "CDPFS-VERSION toy-db 1.2"; echo "CDPFS-STEP boot"; sleep 0.3; echo CDPFS-ANSWERING; echo "CDPFS-STEP query"; sleep 0.2; echo "<b>42</b> & more"' \
	--expect '<b>42</b> & more' >"$T/d1.json" 2>"$T/d1.err" || check_fail "a passing drill exited non-zero: $(cat "$T/d1.err")"
ID1=$(jq -r .id "$T/d1.json")
D1=$STORE/drills/$ID1
log "drill $ID1: $(jq -c '{result, conclusion, rto, rpo_ns}' "$T/d1.json")"
jq -e '.format == "cdpfs drill report 2" and .result == "pass" and .plan == null' "$T/d1.json" >/dev/null ||
	check_fail "drill 1: not a passing report of format 2: $(jq -c '{format, result, plan}' "$T/d1.json")"
jq -e --arg u "$(id -un)" --argjson uid "$(id -u)" --arg m "$(hostname)" --arg v "$("$CDPFS" version | awk '{ print $2 }')" \
	'.run_by.user == $u and .run_by.uid == $uid and .run_by.trigger == "command line" and .machine == $m and .versions.cdpfs == $v' \
	"$T/d1.json" >/dev/null ||
	check_fail "drill 1: who ran it, where or which cdpfs is wrong (want $(id -un)/$(id -u) on $(hostname)): $(jq -c '{run_by, machine, versions}' "$T/d1.json")"
jq -e '(.checks[0].version | startswith("SQLite ")) and .checks[1].version == "toy-db 1.2"' "$T/d1.json" >/dev/null ||
	check_fail "drill 1: the checks' versions are not reported: $(jq -c '[.checks[].version]' "$T/d1.json")"
jq -e '.checks[0].expected == "10|10" and .checks[0].answer == "10|10" and .checks[1].answer == "<b>42</b> & more"' "$T/d1.json" >/dev/null ||
	check_fail "drill 1: expected and actual answers: $(jq -c '[.checks[] | {expected, answer}]' "$T/d1.json")"
jq -e '.conclusion | startswith("PASS: ")' "$T/d1.json" >/dev/null || check_fail "drill 1: conclusion: $(jq -r .conclusion "$T/d1.json")"
for n in store host instant "capture at the instant" "check 1" "check 2" "room for the overlay"; do
	jq -e --arg n "$n" '[.pre_checks[] | select(.name == $n and .result == "ok")] | length == 1' "$T/d1.json" >/dev/null ||
		check_fail "drill 1: pre-drill check '$n' missing or not ok: $(jq -c .pre_checks "$T/d1.json")"
done
for n in "store read errors" unmount manifest; do
	jq -e --arg n "$n" '[.post_checks[] | select(.name == $n and .result == "ok")] | length == 1' "$T/d1.json" >/dev/null ||
		check_fail "drill 1: post-drill check '$n' missing or not ok: $(jq -c .post_checks "$T/d1.json")"
done

# the figures, with the integers taken exactly (python, not jq's doubles)
python3 - "$T/d1.json" >"$T/figures.out" 2>&1 <<'EOF' || check_fail "drill 1: the report's figures do not add up: $(tr '\n' '|' <"$T/figures.out")"
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
top = [s for s in r["steps"] if s["check"] is None]
names = [s["name"] for s in top]
want = ["pre-drill checks", "mount", "instant check", "check 1", "check 2", "manifest", "unmount", "post-drill checks"]
if names != want:
    bad.append("drill steps %s, expected %s" % (names, want))
if top[0]["start_ns"] != r["started_ns"] or top[-1]["end_ns"] != r["finished_ns"]:
    bad.append("steps run from %d to %d, the drill from %d to %d" % (top[0]["start_ns"], top[-1]["end_ns"], r["started_ns"], r["finished_ns"]))
for a, b in zip(top, top[1:]):
    if b["start_ns"] != a["end_ns"]:
        bad.append("step '%s' starts at %d, not where '%s' ended (%d)" % (b["name"], b["start_ns"], a["name"], a["end_ns"]))
    if a["end_ns"] < a["start_ns"]:
        bad.append("step '%s' ends before it starts" % a["name"])
total = sum(s["end_ns"] - s["start_ns"] for s in top)
if total != r["finished_ns"] - r["started_ns"]:
    bad.append("steps add up to %d ns, the drill took %d" % (total, r["finished_ns"] - r["started_ns"]))
if r["rpo_ns"] != r["requested_ns"] - r["mounted_ns"] or r["rpo_ns"] < 0:
    bad.append("rpo_ns %s is not requested - mounted" % r["rpo_ns"])
c1 = next(s for s in top if s["name"] == "check 1")
c2 = next(s for s in top if s["name"] == "check 2")
before = (c1["start_ns"] - r["started_ns"]) // 10**6
ans = r["rto"]["answering_ms"]
if not (before <= ans <= (c1["end_ns"] - r["started_ns"]) // 10**6):
    bad.append("RTO to answering %s ms is not inside check 1 (%d to %d ms from the start)" % (ans, before, (c1["end_ns"] - r["started_ns"]) // 10**6))
if ans != r["answering_ms"]:
    bad.append("rto.answering_ms %s differs from answering_ms %s" % (ans, r["answering_ms"]))
if r["rto"]["checks_passed_ms"] != (c2["end_ns"] - r["started_ns"]) // 10**6:
    bad.append("RTO to the last check %s ms is not the end of check 2 (%d ms)" % (r["rto"]["checks_passed_ms"], (c2["end_ns"] - r["started_ns"]) // 10**6))
subs = {s["name"]: s for s in r["steps"] if s["check"] == 2}
if set(subs) != {"check 2: boot", "check 2: query"}:
    bad.append("check 2's own steps: %s" % sorted(subs))
else:
    b, q = subs["check 2: boot"], subs["check 2: query"]
    if not (c2["start_ns"] <= b["start_ns"] <= b["end_ns"] == q["start_ns"] <= q["end_ns"] == c2["end_ns"]):
        bad.append("check 2's steps are not inside it in order")
    if b["duration_ms"] < 290 or q["duration_ms"] < 190:
        bad.append("check 2's steps are too short: boot %d ms, query %d ms (slept 300 and 200)" % (b["duration_ms"], q["duration_ms"]))
if not any(s["check"] == 1 and s["name"].startswith("check 1: recovery") for s in r["steps"]):
    bad.append("the sqlite check's recovery step is missing")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF

# 2. a wrong answer fails the drill although the check exits 0
expect_fail "drill with a wrong answer" drill "$HOST:$DATA@@$at1" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db" --expect 999
ID2=$(tail -n 1 "$STORE/drills/index" | cut -f1)
jq -e '.result == "fail" and .checks[0].result == "fail" and .checks[0].exit_status == 0 and .checks[0].answer == "10" and .rto.checks_passed_ms == null' \
	"$STORE/drills/$ID2/report.json" >/dev/null ||
	check_fail "drill 2: a wrong answer is not a failed check: $(jq -c '{result, rto, checks: [.checks[] | {result, exit_status, expected, answer}]}' "$STORE/drills/$ID2/report.json")"
jq -r .conclusion "$STORE/drills/$ID2/report.json" | grep -q "^FAIL: check 1 answered '10', expected '999'" ||
	check_fail "drill 2: conclusion: $(jq -r .conclusion "$STORE/drills/$ID2/report.json")"

# 3. the HTML page: self-contained, sections in order, the key fields
drill --show "$ID1" --html >"$T/show.html" || check_fail "drill --show --html exited $?"
cmp -s "$T/show.html" "$D1/report.html" || check_fail "drill --show --html differs from the archived report.html"
grep -Eiq '<script|https?:|src=|url\(|@import|<link|<img' "$D1/report.html" &&
	check_fail "report.html loads something or runs a script: $(grep -Eio '.{20}(<script|https?:|src=|url\(|@import|<link|<img).{20}' "$D1/report.html" | head -n 3 | tr '\n' '|')"
python3 - "$D1/report.html" "$ID1" "$(id -un)" "$(hostname)" >"$T/html.out" 2>&1 <<'EOF' || check_fail "report.html: $(tr '\n' '|' <"$T/html.out")"
import html.parser, sys
page, drill_id, user, machine = sys.argv[1:5]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.h2, self.text, self.stack, self.bars, self.bold = [], [], [], 0, 0
        self.cur = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self.cur = ""
        if tag == "div" and "timeline" in (a.get("class") or ""):
            self.bars += 1
        if tag == "b":
            self.bold += 1
    def handle_endtag(self, tag):
        if tag == "h2":
            self.h2.append(self.cur)
            self.cur = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur += data
        self.text.append(data)
p = P()
p.feed(open(page, encoding="utf-8").read())
bad = []
want = ["1. Basic information", "2. Participants", "3. Assets", "4. Overview", "5. Pre-drill checks",
        "6. Steps", "7. Post-drill checks", "8. Conclusion", "9. Appendix"]
if p.h2 != want:
    bad.append("sections %s, expected %s" % (p.h2, want))
if p.bars != 1:
    bad.append("%d timeline bars" % p.bars)
if p.bold:
    bad.append("a check's output became markup (<b>)")
text = " ".join(p.text)
for s in [drill_id, user, machine, "RPO proven", "RTO to the database answering", "RTO to the last check passing",
          "toy-db 1.2", "<b>42</b> & more", "PASS: ", "SELECT count(*), max(id) FROM t", "pre-drill checks", "unmount"]:
    if s not in text:
        bad.append("the page does not show '%s'" % s)
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
grep -q '@media print' "$D1/report.html" || check_fail "report.html has no print style"
# report.md: the same sections, in order
grep '^## ' "$D1/report.md" | tr '\n' '|' >"$T/md.sections"
[ "$(cat "$T/md.sections")" = "## 1. Basic information|## 2. Participants|## 3. Assets|## 4. Overview|## 5. Pre-drill checks|## 6. Steps|## 7. Post-drill checks|## 8. Conclusion|## 9. Appendix|" ] ||
	check_fail "report.md sections: $(cat "$T/md.sections")"
grep -q "| Run by | $(id -un) (uid $(id -u)" "$D1/report.md" || check_fail "report.md does not say who ran the drill"

# 4. --list: zoned instants with milliseconds
drill --list >"$T/list.out" || check_fail "drill --list exited $?"
grep -Eq "^$ID1 +$HOST +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}([+-][0-9]{2}:[0-9]{2}|Z) +pass " "$T/list.out" ||
	check_fail "drill --list does not show a zoned instant with milliseconds: $(grep "^$ID1" "$T/list.out")"

# 5. --export since an instant, CSV and JSON
drill --export --since "@$at1" >"$T/export.csv" || check_fail "drill --export exited $?"
head -n 1 "$T/export.csv" | grep -q '^id,plan,host,result,started,finished,requested,mounted,seq,rpo_s,rto_answering_s,rto_checks_s,user,uid,machine,report' ||
	check_fail "export CSV header: $(head -n 1 "$T/export.csv")"
python3 -c 'import csv, sys; rows = list(csv.DictReader(open(sys.argv[1], newline=""))); ok = len(rows) == 2 and rows[0]["id"] == sys.argv[2] and rows[0]["result"] == "pass" and rows[1]["result"] == "fail" and float(rows[0]["rto_answering_s"]) > 0 and rows[1]["rto_checks_s"] == "" and rows[0]["user"] == sys.argv[3]; sys.exit(0 if ok else 1)' \
	"$T/export.csv" "$ID1" "$(id -un)" || check_fail "export CSV rows: $(cat "$T/export.csv" | tr '\r\n' '  ')"
drill --export --since "@$(date +%s.%N)" --format json >"$T/export-none.json" || check_fail "drill --export --since now exited $?"
jq -e '.drills == []' "$T/export-none.json" >/dev/null || check_fail "export since now is not empty: $(cat "$T/export-none.json")"
drill --export --format json >"$T/export.json" || check_fail "drill --export --format json exited $?"
jq -e '(.drills | length) == 2' "$T/export.json" >/dev/null || check_fail "export JSON: not 2 drills"
golden_check drill/export.json "$T/export.json"

# 6. --verify: the archive as written, then one report edited
drill --verify "$ID1" >"$T/verify.out" || check_fail "drill --verify of an untouched drill exited $?: $(cat "$T/verify.out")"
grep -q '^verified: ' "$T/verify.out" || check_fail "drill --verify does not say verified: $(cat "$T/verify.out")"
cp "$D1/report.md" "$T/report.md.orig"
sed -i 's/: pass$/: pass (edited)/' "$D1/report.md"
rc=0
drill --verify "$ID1" >"$T/verify2.out" || rc=$?
[ "$rc" = 1 ] || check_fail "drill --verify of an edited report exited $rc, expected 1"
grep -q 'report.md .*CHANGED' "$T/verify2.out" || check_fail "drill --verify does not name the edited report: $(cat "$T/verify2.out")"
grep -q 'report.json .*as written' "$T/verify2.out" || check_fail "drill --verify: report.json should still be as written: $(cat "$T/verify2.out")"
cp "$T/report.md.orig" "$D1/report.md"

# 7. bad input: one line each
expect_fail "--html without --show" drill --html --list
expect_fail "--expect before any --check" drill "$HOST@@$at1" --expect 1 --check true
expect_fail "a bad export format" drill --export --format xml
expect_fail "--verify of an unknown drill" drill --verify 20010101T000000Z-x-0000
finish
