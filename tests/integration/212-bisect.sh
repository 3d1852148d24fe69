# SPDX-License-Identifier: GPL-2.0-or-later
#
# 212-bisect - `cdpfs bisect` finds the instant a SQLite database was
# corrupted, to the second.  Transactions run on a captured database, then
# one write (dd conv=notrunc) overwrites bytes of a b-tree page at a
# recorded instant, then other files keep changing.  Bisecting between an
# instant after the first transactions and the latest one with the sqlite
# check must bracket the corrupting write: last good before it returned,
# first bad not before it began, at most one second apart.  An interval
# whose ends disagree with the check gets one clear line.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
export TMPDIR=$T/tmp   # the bisect's mount points, where the runner's sweep looks
mkdir -p "$TMPDIR"
CHECK="$SRCDIR/scripts/checks/sqlite app.db"

DATA=$T/data
mkdir -p "$DATA"
# rollback journal, 4 KiB pages: page 2 is the table's first leaf
sqlite3 "$DATA/app.db" "PRAGMA page_size=4096; PRAGMA journal_mode=delete;
	CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);" >/dev/null
capture_start "$DATA"
for i in $(seq 1 4); do
	sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, printf('%.200c', 'a'))"
	sleep 0.3
done
good=$(record_instant)
for i in $(seq 5 12); do
	sqlite3 "$DATA/app.db" "INSERT INTO t VALUES($i, printf('%.200c', 'b'))"
	sleep 0.4
done
[ "$(sqlite3 "$DATA/app.db" 'PRAGMA integrity_check')" = ok ] || fail "the database is corrupt before the test corrupts it"
b=$(date +%s.%N)
# one write: the header and cell pointer array of the leaf page
head -c 64 /dev/urandom | dd of="$DATA/app.db" bs=64 seek=$((4096 / 64)) conv=notrunc status=none
e=$(date +%s.%N)
log "corrupted app.db between @$b and @$e"
[ "$(sqlite3 "$DATA/app.db" 'PRAGMA integrity_check' 2>&1)" != ok ] || fail "the dd did not corrupt the database"
for i in $(seq 1 8); do
	echo "after $i" >>"$DATA/other.log"
	sleep 0.4
done
bad=$(record_instant)

rc=0
"$CDPFS" bisect --store "$STORE" "$HOST:$DATA" --good "@$good" --bad "@$bad" --timeout 30s \
	--check "$CHECK" >"$T/bisect.out" 2>"$T/bisect.err" || rc=$?
record_daemon_pids
cat "$T/bisect.out"
[ "$rc" = 0 ] || fail "cdpfs bisect exited $rc: $(cat "$T/bisect.err")"
lg=$(sed -n 's/^last good: .*(@\([0-9.]*\),.*/\1/p' "$T/bisect.out")
fb=$(sed -n 's/^first bad: .*(@\([0-9.]*\),.*/\1/p' "$T/bisect.out")
[ -n "$lg" ] && [ -n "$fb" ] || fail "cdpfs bisect printed no last good / first bad instant"
log "bisect: last good @$lg, first bad @$fb; corruption between @$b and @$e"
awk -v lg="$lg" -v fb="$fb" -v b="$b" -v e="$e" 'BEGIN { exit !(lg < e && fb >= b && fb - lg <= 1.0000001) }' ||
	check_fail "bisect did not bracket the corruption to the second: last good @$lg, first bad @$fb, corruption @$b..@$e"
steps=$(grep -c '^step ' "$T/bisect.out")
mounted=$(grep '^step ' "$T/bisect.out" | grep -vc 'not mounted')
log "$steps steps, $mounted of them mounted"
grep -q 'not mounted' "$T/bisect.out" || log "note: no step reused a known state"
findmnt -rn -o TARGET | grep -q "^$TMPDIR/" && check_fail "a bisect mount is left under $TMPDIR"

# --json: one object, compared with its golden file (tests/golden/); a
# check that fails once the fourth line is in other.log
"$CDPFS" bisect --store "$STORE" "$HOST:$DATA" --good "@$e" --bad "@$bad" --json \
	--check '! grep -q "after 4" "$CDPFS_ROOT/other.log"' >"$T/bisect.json" 2>"$T/bisect.err" ||
	check_fail "cdpfs bisect --json exited non-zero: $(cat "$T/bisect.err")"
record_daemon_pids
golden_check bisect.json "$T/bisect.json"

# the ends must agree with the check, else one line
expect_fail "bisect with a bad --good" "$CDPFS" bisect --store "$STORE" "$HOST:$DATA" \
	--good "@$bad" --bad latest --check "$CHECK"
# a failed bisect keeps the logs of the checks it ran, and says where
kept=$(sed -n "s/.*check logs kept in '\([^']*\)'.*/\1/p" "$T/expect.err")
if [ -n "$kept" ] && ls "$kept"/step-*-check-*.log >/dev/null 2>&1; then
	rm -rf "$kept"
else
	check_fail "a bisect whose --good fails the check does not keep its check logs: $(cat "$T/expect.err")"
fi
expect_fail "bisect with a good --bad" "$CDPFS" bisect --store "$STORE" "$HOST:$DATA" \
	--good "@$good" --bad "@$b" --check true
kept=$(sed -n "s/.*check logs kept in '\([^']*\)'.*/\1/p" "$T/expect.err")
[ -z "$kept" ] || rm -rf "$kept"
expect_fail "bisect with --good after --bad" "$CDPFS" bisect --store "$STORE" "$HOST:$DATA" \
	--good "@$bad" --bad "@$good" --check true
# no mount point, log or reader directory is left otherwise
[ -z "$(ls "$TMPDIR")" ] || check_fail "bisect left files in TMPDIR: $(ls "$TMPDIR")"
capture_stop "$DATA"
finish
