# SPDX-License-Identifier: GPL-2.0-or-later
#
# 210-drill - `cdpfs drill` end to end with the sqlite and files checks on a
# captured directory: a drill at a recorded instant passes, its report files
# exist and say so, its manifest lists the tree as it was then and has the
# SHA-256 the report gives, and the same instant drilled twice gives the
# same manifest; a check that writes on the overlay changes nothing in
# production; a failing check and a check past its --timeout make the drill
# exit non-zero with one line and a report that says fail; --keep keeps a
# named overlay; SIGINT ends a drill unmounted; --list and --show work;
# bad input gets one line.  No mount and no daemon outlive a drill.  The
# JSON of a report, of --list, of `overlay list` and of `hosts` is compared
# with its golden file (tests/golden/).
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
require_cmd jq "needed to read the JSON reports; scripts/install-deps installs it"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp   # the drills' mount points, where the runner's sweep looks
mkdir -p "$TMPDIR"

DATA=$T/data
make_baseline "$DATA"
mkdir "$DATA/empty-dir"
sqlite3 "$DATA/app.db" "PRAGMA journal_mode=wal; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);" >/dev/null
capture_start "$DATA"
for i in $(seq 1 20); do sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, 'row $i')"; done
(cd "$DATA" && sha256sum hello.txt sub/deeper/numbers.txt random.bin) >"$T/sums"
at1=$(record_instant)
# what the tree held at at1: path and size of every entry below the root
(cd "$DATA" && find . -mindepth 1 -printf '/%P %s %y\n' | sort) >"$T/at1.list"
for i in $(seq 21 30); do sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, 'row $i')"; done
printf 'changed after at1\n' >"$DATA/hello.txt"
rm "$DATA/random.bin"
sleep 0.05
manifest "$DATA" >"$T/prod.before"

drill() { "$CDPFS" drill --store "$STORE" "$@"; }
# no_leftovers LABEL JSON: the drill's mount is gone and its mount point removed
no_leftovers() {
	local mp
	mp=$(jq -r .mountpoint "$2")
	record_daemon_pids
	if is_mounted "$mp"; then check_fail "$1: drill mount '$mp' is still mounted"; MOUNTS+=("$mp"); fi
	[ -e "$mp" ] && check_fail "$1: drill mount point '$mp' was not removed"
	findmnt -rn -o TARGET | grep -q "^$TMPDIR/" && check_fail "$1: a mount under $TMPDIR is left"
	return 0
}

# 1. a passing drill: sqlite (with a query), files (with checksums), a writer
rc=0
drill --json "$HOST:$DATA@@$at1" \
	--check "$CHECKS/sqlite --query 'SELECT count(*), max(id) FROM t' app.db" \
	--check "$CHECKS/files --sums $T/sums hello.txt sub/link-to-hello empty" \
	--check 'echo overlay >"$CDPFS_ROOT/hello.txt" && rm "$CDPFS_ROOT/sub/one-byte" && test "$CDPFS_HOST" = '"$HOST"' && echo "time $CDPFS_TIME"' \
	--check "printf 'caf\\351 \\355\\240\\200 \\340\\200\\200 nul:\\000:after\\nlast line\\n'; : "$'\xe9' \
	>"$T/d1.json" 2>"$T/d1.err" || rc=$?
[ "$rc" = 0 ] || check_fail "a passing drill exited $rc: $(cat "$T/d1.err")"
jq . "$T/d1.json" >/dev/null || fail "drill --json is not valid JSON: $(head -c 300 "$T/d1.json")"
# strict JSON and UTF-8 (jq replaces bad bytes silently; Python does not)
python3 -c 'import json, sys; json.load(open(sys.argv[1], encoding="utf-8", errors="strict"))' "$T/d1.json" ||
	check_fail "drill --json is not strict UTF-8 JSON when a check prints bytes that are not UTF-8"
jq -r '.checks[3].output_tail' "$T/d1.json" | grep -q 'last line' ||
	check_fail "drill 1: the output tail stops at a NUL byte: $(jq -c '.checks[3].output_tail' "$T/d1.json")"
ID1=$(jq -r .id "$T/d1.json")
D1=$STORE/drills/$ID1
log "drill $ID1: $(jq -c '{result, seq, mounted, answering_ms, checks: [.checks[].result]}' "$T/d1.json")"
[ "$(jq -r .result "$T/d1.json")" = pass ] || check_fail "drill 1: result is not pass"
[ "$(jq -r '[.checks[].result] | join(",")' "$T/d1.json")" = pass,pass,pass,pass ] || check_fail "drill 1: not every check passed"
for f in report.json report.md manifest check-1.log check-2.log check-3.log; do
	[ -s "$D1/$f" ] || check_fail "drill 1: '$D1/$f' is missing or empty"
done
cmp -s "$T/d1.json" "$D1/report.json" || check_fail "drill 1: --json output differs from the archived report.json"
grep -q '^20|20$' "$D1/check-1.log" || check_fail "drill 1: the sqlite query did not see rows 1..20: $(tail -n 3 "$D1/check-1.log" | tr '\n' '|')"
grep -q '^CDPFS-ANSWERING$' "$D1/check-1.log" || check_fail "drill 1: the sqlite check did not print CDPFS-ANSWERING"
# the instants: asked = at1, mounted = newest change at or before it
want_ns=$(awk -v t="$at1" 'BEGIN { split(t, a, "."); printf "%s%s", a[1], substr(a[2] "000000000", 1, 9) }')
# (jq reads numbers as doubles: take the nanoseconds from the text)
jns() { grep -o "\"$1\": -\?[0-9]*" "$2" | head -n 1 | grep -o -- '-\?[0-9]*$'; }
req=$(jns requested_ns "$T/d1.json") mnt=$(jns mounted_ns "$T/d1.json") age=$(jns newest_change_age_ns "$T/d1.json")
[ "$req" = "$want_ns" ] || check_fail "drill 1: requested_ns $req is not the instant asked ($want_ns)"
[ "$mnt" -gt 0 ] && [ "$mnt" -le "$req" ] && [ "$age" -eq $((req - mnt)) ] && jq -e '.seq > 0' "$T/d1.json" >/dev/null ||
	check_fail "drill 1: mounted instant $mnt, age $age or seq are inconsistent with the request $req"
grep -q "^time @" "$D1/check-3.log" || check_fail "drill 1: CDPFS_TIME not set for the check"
# manifest: versioned, hashed as the report says, listing the tree at at1
head -n 1 "$D1/manifest" | grep -qxE 'cdpfs manifest 1 block_size=[0-9]+' || check_fail "drill 1: the manifest has no version line: $(head -n 1 "$D1/manifest")"
# hard links are part of the proof: both names, link count 2, one group
links=$(awk 'NR > 1 && $11 == 2 && $12 != "-" { print $12 }' "$D1/manifest" | sort -u)
[ "$(awk 'NR > 1 && $11 == 2 && $12 != "-"' "$D1/manifest" | wc -l)" -ge 2 ] && [ "$(echo "$links" | wc -l)" = 1 ] ||
	check_fail "drill 1: the manifest does not show the hard link as one group of two names: $(awk 'NR > 1 && $11 > 1' "$D1/manifest" | head -c 300)"
[ "$(jq -r .manifest.sha256 "$T/d1.json")" = "$(sha256sum <"$D1/manifest" | cut -d' ' -f1)" ] ||
	check_fail "drill 1: the report's manifest SHA-256 is not that of its manifest file"
tail -n +3 "$D1/manifest" | awk '{ print $1, $6, $2 }' | sed 's/ f$/ f/' | sort >"$T/m1.list"
sed -e 's/ l$/ l/' "$T/at1.list" | awk '{ t = $3; if (t == "d") $2 = "DIR"; print }' | sort >"$T/want.list"
awk '{ if ($3 == "d") $2 = "DIR"; print }' "$T/m1.list" | sort >"$T/got.list"
diff -u "$T/want.list" "$T/got.list" >"$T/list.diff" ||
	check_fail "drill 1: the manifest does not list the tree of the instant: $(head -n 20 "$T/list.diff" | tr '\n' '|')"
grep -q ' user.origin=626173656c696e65 ' "$D1/manifest" || check_fail "drill 1: the manifest lacks hello.txt's xattr"
no_leftovers "drill 1" "$T/d1.json"

# 2. the same instant again: the same manifest; production untouched
drill --json "$HOST:$DATA@@$at1" --check true >"$T/d2.json" 2>"$T/d2.err" ||
	check_fail "drill 2 exited non-zero: $(cat "$T/d2.err")"
[ "$(jq -r .manifest.sha256 "$T/d2.json")" = "$(jq -r .manifest.sha256 "$T/d1.json")" ] ||
	check_fail "the same instant drilled twice gives two manifests (a drill's writes leaked into the base?)"
jq -e '.answering_by == "end of the last check, all passed"' "$T/d2.json" >/dev/null ||
	check_fail "drill 2: answering is not the end of the last check"
golden_check drill/report.json "$T/d2.json"
manifest "$DATA" >"$T/prod.after"
compare_manifest "$T/prod.before" "$T/prod.after" "production after drills" ||
	check_fail "the production directory changed during the drills"

# 3. a failing check: non-zero exit, one line, report says fail
expect_fail "drill with a failing check" drill "$HOST:$DATA@@$at1" \
	--check true --check "$CHECKS/sqlite no-such.db"
ID3=$(tail -n 1 "$STORE/drills/index" | cut -f1)
jq -e '.result == "fail" and .checks[0].result == "pass" and .checks[1].result == "fail" and .checks[1].exit_status == 1 and .answering_ms == null' \
	"$STORE/drills/$ID3/report.json" >/dev/null || check_fail "drill 3: the report does not say fail: $(jq -c '{result, checks}' "$STORE/drills/$ID3/report.json")"
grep -q "no database 'no-such.db'" "$STORE/drills/$ID3/report.json" || check_fail "drill 3: the check's output tail is not in the report"
grep -q "^# cdpfs drill $ID3: fail" "$STORE/drills/$ID3/report.md" || check_fail "drill 3: report.md does not say fail"

# 4. a check past its timeout is killed, with its process group
t0=$(date +%s)
expect_fail "drill with a check past its timeout" drill --timeout 1s "$HOST:$DATA@@$at1" \
	--check 'sleep 60 & sleep 60; echo never'
ID4=$(tail -n 1 "$STORE/drills/index" | cut -f1)
[ $(($(date +%s) - t0)) -lt 15 ] || check_fail "drill 4: a 1 s timeout took $(($(date +%s) - t0)) s"
jq -e '.result == "fail" and .checks[0].result == "timeout"' "$STORE/drills/$ID4/report.json" >/dev/null ||
	check_fail "drill 4: the report does not say timeout"
pgrep -f 'sleep 60' >/dev/null && check_fail "drill 4: the check's processes outlived its timeout"

# 5. --keep: a named overlay, listed, mountable again, removable
drill --keep --json "$HOST:$DATA@@$at1" --check 'echo kept >"$CDPFS_ROOT/kept.txt"' >"$T/d5.json" ||
	check_fail "drill --keep exited non-zero"
ovl=$(jq -r .overlay.name "$T/d5.json")
"$CDPFS" overlay --store "$STORE" list | grep -q -- "$ovl" || check_fail "drill --keep: overlay '$ovl' is not listed"
"$CDPFS" overlay --store "$STORE" list --json >"$T/overlays.json" || check_fail "overlay list --json exited $?"
golden_check overlay-list.json "$T/overlays.json"
mkdir -p "$T/mnt-kept"
MOUNTS+=("$T/mnt-kept")
if "$CDPFS" mount --store "$STORE" -o "rw,overlay=$ovl" "$HOST:$DATA" "$T/mnt-kept"; then
	record_daemon_pids
	[ "$(cat "$T/mnt-kept/kept.txt" 2>/dev/null)" = kept ] || check_fail "drill --keep: the kept overlay lost the check's write"
	"$CDPFS" umount "$T/mnt-kept" || check_fail "cannot unmount the kept overlay"
else
	check_fail "drill --keep: cannot mount the kept overlay '$ovl' again"
fi
"$CDPFS" overlay --store "$STORE" rm "$ovl" || check_fail "cannot remove the kept overlay '$ovl'"

# 6. SIGINT: the check ends, the overlay is unmounted, the report says so
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at1" --check 'sleep 30' >"$T/d6.json" 2>"$T/d6.err" &
dpid=$!
for _ in $(seq 1 100); do pgrep -x -f 'sleep 30' >/dev/null && break; sleep 0.1; done
sleep 0.3
kill -INT "$dpid"
rc=0
wait "$dpid" || rc=$?
[ "$rc" = 130 ] || check_fail "an interrupted drill exited $rc, expected 130: $(cat "$T/d6.err")"
jq -e '.result == "interrupted"' "$T/d6.json" >/dev/null || check_fail "the interrupted drill's report does not say interrupted"
no_leftovers "interrupted drill" "$T/d6.json"

# 7. --list and --show
drill --list >"$T/list.out" || check_fail "drill --list exited non-zero"
cat "$T/list.out"
for id in "$ID1" "$ID3" "$ID4"; do grep -q "^$id " "$T/list.out" || check_fail "drill --list does not show $id"; done
grep -Eq "^  $HOST +[0-9]{4}-" "$T/list.out" || check_fail "drill --list has no 'last verified' date for $HOST"
drill --list --json >"$T/list.json" || check_fail "drill --list --json exited $?"
jq -e --arg h "$HOST" '(.drills | length) == 6 and .last_verified[$h].id != null' "$T/list.json" >/dev/null ||
	check_fail "drill --list --json: not 6 drills and a last verified one"
golden_check drill/list.json "$T/list.json"
drill --list --host nosuchhost | grep -q 'no drill recorded' || check_fail "drill --list --host of another host is not empty"
drill --show "$ID1" >"$T/show.md" || check_fail "drill --show exited $?"
head -n 1 "$T/show.md" | grep -qx "# cdpfs drill $ID1: pass" || check_fail "drill --show does not print the report"
drill --show "$ID1" --json | jq -e ".id == \"$ID1\"" >/dev/null || check_fail "drill --show --json does not print report.json"
head -n 1 "$STORE/drills/index" | grep -qx 'cdpfs drill index 1' || check_fail "the drill index has no version line"

# 8. bad input: one line each, and no report for a usage error
expect_fail "drill without --check" drill "$HOST@@$at1"
expect_fail "drill of an unknown host" drill "nosuchhost@latest" --check true
expect_fail "drill before the history" drill "$HOST@2001-01-01T00:00" --check true
expect_fail "drill --show of an unknown id" drill --show 20010101T000000Z-x-0000
expect_fail "drill with a bad timeout" drill --timeout 5x "$HOST@latest" --check true

# 9. an instant after capture stopped: the report says it was not captured
drill --json "$HOST:$DATA@@$at1" --check true >"$T/d-live.json" 2>/dev/null ||
	check_fail "a drill at at1 exited non-zero: $(cat "$T/d-live.json" | head -c 300)"
jq -e '.capture_gap == null' "$T/d-live.json" >/dev/null ||
	check_fail "a drill of a captured instant reports a capture gap: $(jq -c .capture_gap "$T/d-live.json")"
capture_stop "$DATA"
sleep 0.2
after_stop=$(record_instant)
drill --json "$HOST:$DATA@@$after_stop" --check true >"$T/d-gap.json" 2>/dev/null ||
	check_fail "a drill after the stop exited non-zero"
jq -e --arg d "$DATA" '.capture_gap.dir == $d and .capture_gap.to_ns == null' "$T/d-gap.json" >/dev/null ||
	check_fail "a drill of an instant after capture stopped does not report the gap: $(jq -c .capture_gap "$T/d-gap.json")"
grep -q 'not running' "$STORE/drills/$(jq -r .id "$T/d-gap.json")/report.md" ||
	check_fail "report.md of a drill after the stop does not say capture was not running"
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json" || check_fail "hosts --json exited $?"
golden_check hosts.json "$T/hosts.json"
finish
