# SPDX-License-Identifier: GPL-2.0-or-later
#
# 021-drill-read-errors - a drill is evidence only if every byte it read was
# good.  A tree is captured and stopped; on a copy of the store with bytes
# flipped in its segment, a drill whose check reads every file but ignores
# the errors (it exits 0) must fail with "store read errors": exit non-zero,
# report.json result "fail" and read_errors {count > 0, first naming the
# corrupt chunk, paths naming a damaged file}, report.md saying so, the
# drill index saying fail; on the clean store the same drill passes with
# read_errors count 0; `cdpfs bisect` over the damaged copy stops at the
# step whose mount met read errors, and says so.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "needed to read the JSON reports; scripts/install-deps installs it"
export TMPDIR=$T/tmp   # the drills' mount points
mkdir -p "$TMPDIR"

DATA=$T/data
mkdir -p "$DATA"
# Each file is written whole by one cp: head's small writes would leave
# superseded versions of half-filled blocks in the segment, which the past
# at $at never reads, so a flipped byte there would damage nothing read.
mkdir -p "$T/src"
for i in $(seq 1 30); do head -c 65536 /dev/urandom >"$T/src/f$i"; done
capture_start "$DATA"
cp "$T/src"/f* "$DATA"/
sync "$DATA/f1"
at=$(record_instant)
capture_stop "$DATA"

# reads every file, ignores every error: only the drill can see them
CHECK='for f in "$CDPFS_ROOT"/f*; do cat "$f" >/dev/null 2>&1; done; exit 0'

rc=0
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" --check "$CHECK" >"$T/clean.json" 2>"$T/clean.err" || rc=$?
[ "$rc" -eq 0 ] || check_fail "the drill on the clean store exited $rc: $(cat "$T/clean.err")"
[ "$(jq -r .result "$T/clean.json")" = pass ] && [ "$(jq -r .read_errors.count "$T/clean.json")" = 0 ] ||
	check_fail "clean drill: expected result pass and read_errors.count 0, got $(jq -c '{result, read_errors}' "$T/clean.json")"

BAD=$T/damaged
cp -a "$STORE" "$BAD"
rm -rf "$BAD/drills"
seg=$(ls -S "$BAD"/segments/*.seg | head -n 1)
size=$(stat -c %s "$seg")
for k in 2 4 6 8; do
	printf '\xff\x00\xa5\x5a' | dd of="$seg" bs=1 seek=$((size * k / 10)) conv=notrunc status=none
done

rc=0
"$CDPFS" drill --store "$BAD" --json "$HOST:$DATA@@$at" --check "$CHECK" >"$T/bad.json" 2>"$T/bad.err" || rc=$?
log "drill on the damaged store: exit $rc; $(jq -c '{result, error, read_errors}' "$T/bad.json" 2>&1)"
[ "$rc" -ne 0 ] || check_fail "a drill whose mount met read errors exited 0"
[ "$(jq -r .result "$T/bad.json")" = fail ] ||
	check_fail "damaged drill: expected result fail, got $(jq -r .result "$T/bad.json")"
jq -r .error "$T/bad.json" | grep -q '^store read errors: [1-9]' ||
	check_fail "damaged drill: expected error 'store read errors: N ...', got $(jq -r .error "$T/bad.json")"
[ "$(jq -r .read_errors.count "$T/bad.json")" -ge 1 ] ||
	check_fail "damaged drill: expected read_errors.count >= 1, got $(jq -c .read_errors "$T/bad.json")"
jq -r .read_errors.first "$T/bad.json" | grep -q 'corrupt chunk [0-9a-f]\{16\}' ||
	check_fail "damaged drill: expected read_errors.first to name the corrupt chunk, got $(jq -r .read_errors.first "$T/bad.json")"
jq -r '.read_errors.paths[]' "$T/bad.json" | grep -q '^/f[0-9]*$' ||
	check_fail "damaged drill: expected read_errors.paths to name a damaged file (/fN), got $(jq -c .read_errors.paths "$T/bad.json")"
id=$(jq -r .id "$T/bad.json")
grep -q '| store read errors | failed | [1-9]' "$BAD/drills/$id/report.md" ||
	check_fail "damaged drill: expected report.md to list the store read errors, got: $(grep -i 'read errors' "$BAD/drills/$id/report.md")"
grep -q "^$id	.*	fail	" "$BAD/drills/index" ||
	check_fail "damaged drill: expected its index line to say fail: $(grep "^$id" "$BAD/drills/index")"

# bisect stops at a step whose mount met read errors
rc=0
"$CDPFS" bisect --store "$BAD" "$HOST:$DATA" --good "@$at" --bad latest --timeout 30s \
	--check "$CHECK" >"$T/bisect.out" 2>"$T/bisect.err" || rc=$?
log "bisect on the damaged store: exit $rc: $(tr '\n' '|' <"$T/bisect.err")"
[ "$rc" -ne 0 ] || check_fail "bisect over unreadable data exited 0: $(cat "$T/bisect.out")"
grep -q 'store read errors: [1-9]' "$T/bisect.err" ||
	check_fail "bisect: expected it to stop saying 'store read errors: N', got: $(cat "$T/bisect.err")"
record_daemon_pids
findmnt -rn -o TARGET | grep -q "^$TMPDIR/" && check_fail "a drill or bisect mount under $TMPDIR is left"
finish
