# SPDX-License-Identifier: GPL-2.0-or-later
#
# 018-rebuild-index - the segments are the log of the store and the index is
# derived from it (format 2): capture a tree through phases with recorded
# instants, stop, then
#   1. remove the index altogether: `cdpfs rebuild-index` rebuilds it from
#      the log, and every recorded instant mounts exactly as before;
#   2. put back an index that lags the log (a copy taken after the first
#      session, as a power cut that lost the index's unsynced tail leaves
#      it): the first mount brings it up to the log by itself;
#   3. rebuild while a capture runs: refused (exit 2), the store untouched;
#   4. a segment cut short in the middle of the log: the rebuild stops
#      there (exit 1, naming the segment), and the instants before the
#      damage still mount exactly.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
capture_start "$DATA"
checkpoint p1-baseline "$DATA"
head -c 3M /dev/urandom >"$DATA/big.bin"
printf 'phase two\n' >>"$DATA/hello.txt"
mkdir -p "$DATA/d2/e"
printf 'deep\n' >"$DATA/d2/e/f"
setfattr -n user.k -v v1 "$DATA/d2/e/f" 2>/dev/null || true
checkpoint p2-changed "$DATA"
capture_stop "$DATA"

cp -a "$STORE/index" "$T/index.session1"

capture_start "$DATA"
printf 'X' | dd of="$DATA/big.bin" bs=1 seek=1000000 conv=notrunc status=none
mv "$DATA/d2" "$DATA/d3"
rm -f "$DATA/hello.txt"
ln -s d3/e/f "$DATA/link"
truncate -s 12345 "$DATA/big.bin"
checkpoint p3-second-session "$DATA"
capture_stop "$DATA"

log "1. the index removed: rebuilt from the log"
rm -rf "$STORE/index"
"$CDPFS" rebuild-index --store "$STORE" >"$T/rebuild.out" 2>&1 ||
	check_fail "rebuild-index after the index was removed exited $?: $(cat "$T/rebuild.out")"
cat "$T/rebuild.out"
grep -q "rebuilt from the log" "$T/rebuild.out" ||
	check_fail "rebuild-index did not say what it did: $(cat "$T/rebuild.out")"
verify_checkpoints

log "2. an index that lags its log is brought up to it by the first opener"
rm -rf "$STORE/index"
cp -a "$T/index.session1" "$STORE/index"
verify_checkpoints

log "3. a rebuild while capture runs is refused, the store untouched"
capture_start "$DATA"
aside_before=$(ls -d "$STORE"/index.old-* 2>/dev/null | wc -l)
rc=0
"$CDPFS" rebuild-index --store "$STORE" >"$T/busy.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || check_fail "rebuild-index during capture exited $rc, expected 2: $(cat "$T/busy.out")"
grep -q "capture" "$T/busy.out" || check_fail "rebuild-index during capture did not name the reason: $(cat "$T/busy.out")"
[ "$(ls -d "$STORE"/index.old-* 2>/dev/null | wc -l)" -eq "$aside_before" ] ||
	check_fail "rebuild-index during capture moved the index aside"
[ -d "$STORE/index" ] || check_fail "rebuild-index during capture left no index"
capture_stop "$DATA"

log "4. a segment cut short in the middle of the log"
nseg=$(ls "$STORE/segments" | wc -l)
[ "$nseg" -ge 3 ] || check_fail "expected 3 or more segments (one per session), found $nseg"
second=$(ls "$STORE/segments" | sed -n 2p)
size=$(stat -c %s "$STORE/segments/$second")
truncate -s $((size / 2)) "$STORE/segments/$second"
rc=0
"$CDPFS" rebuild-index --store "$STORE" >"$T/damaged.out" 2>&1 || rc=$?
cat "$T/damaged.out"
[ "$rc" -eq 1 ] || check_fail "rebuild-index over a cut segment exited $rc, expected 1"
grep -q "damaged at segment ${second%.seg}" "$T/damaged.out" ||
	check_fail "rebuild-index did not name the damaged segment ${second%.seg}: $(cat "$T/damaged.out")"
# the first session's instants lie before the damage: still exact
verify_checkpoints 'p[12]-*'
finish
