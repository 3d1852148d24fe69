# SPDX-License-Identifier: GPL-2.0-or-later
#
# 057-isolation - faults confined to one protected directory do not stop
# the capture of another served by the same daemon.  A lives on a small
# tmpfs of its own, B on the test's filesystem; a writer appends to B all
# along.  A's filesystem is filled (the application gets ENOSPC, a short
# file stays, and the failed write's mtime is in the history too), then
# A's capture mount is taken away from outside (its session ends).  Through
# all of it B's writer sees no error, B stays capturing, status names A's
# state and B's, and every instant recorded of A (the full disk included)
# and of B mounts exactly.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "status is parsed with jq"

A=$T/a
B=$T/b
mkdir -p "$A" "$B"
mount -t tmpfs -o size=4m tmpfs "$A" || skip "cannot mount a tmpfs for directory A"
at_exit "umount '$A' 2>/dev/null || umount -l '$A'"
printf 'a\n' >"$A/a.txt"
make_baseline "$B"
capture_start "$A" "$B"

state() { jq -r --arg d "$1" '.dirs[] | select(.path == $d) | .state' "$2"; }

# checkpoint_b NAME: a checkpoint of B with its writer held (SIGSTOP takes
# effect once its append returned, so the instant is quiet)
checkpoint_b() {
	local i
	kill -STOP "$load"
	for i in $(seq 1 100); do
		[ "$(awk '{print $3}' "/proc/$load/stat")" = T ] && break
		sleep 0.01
	done
	checkpoint "$1" "$B"
	kill -CONT "$load"
}

(
	i=0
	while [ ! -e "$T/stop-load" ]; do
		printf 'line %d\n' "$i" >>"$B/load.txt" || echo "append $i failed" >>"$T/load.err"
		i=$((i + 1))
		sleep 0.01
	done
) &
load=$!
at_exit "touch '$T/stop-load'; kill -CONT $load 2>/dev/null; wait $load 2>/dev/null || true"
sleep 0.5
checkpoint_b b-start

# A's filesystem full: the application's error, nobody else's
rc=0
dd if=/dev/urandom of="$A/big" bs=64k count=200 status=none 2>"$T/dd.err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "No space left" "$T/dd.err" ||
	check_fail "filling A's 4 MiB tmpfs with 12.5 MiB: expected ENOSPC, got exit $rc: $(cat "$T/dd.err")"
sync "$A/big" 2>/dev/null || true
printf 'more\n' >>"$A/a.txt" 2>/dev/null || true
checkpoint a-full "$A"
checkpoint_b b-full
rm -f "$A/big"
printf 'after the fill\n' >>"$A/a.txt" || check_fail "A does not take writes once it has room again"
checkpoint a-after "$A"

"$CDPFS" status --store "$STORE" --json >"$T/mid.json" || check_fail "status with both captured exited $?: $(head -c 400 "$T/mid.json")"
[ "$(state "$A" "$T/mid.json")" = capturing ] || check_fail "A is '$(state "$A" "$T/mid.json")' after its disk filled, expected capturing"
[ "$(state "$B" "$T/mid.json")" = capturing ] || check_fail "B is '$(state "$B" "$T/mid.json")' after A's disk filled, expected capturing"

# A's session ends (its mount taken away from outside)
umount -l "$A" 2>/dev/null || fusermount3 -uz "$A"
# the tmpfs beneath is A's real directory again
for i in $(seq 1 50); do
	grep -q "'$A' was unmounted from outside" "$STORE/capture.log" && break
	sleep 0.1
done
grep -q "'$A' was unmounted from outside" "$STORE/capture.log" ||
	check_fail "the daemon did not notice A's session ending: $(tail -3 "$STORE/capture.log")"
sleep 0.5
rc=0
"$CDPFS" status --store "$STORE" --json >"$T/after.json" || rc=$?
[ "$(state "$B" "$T/after.json")" = capturing ] ||
	check_fail "B is '$(state "$B" "$T/after.json")' after A's session ended, expected capturing"
[ "$(state "$A" "$T/after.json")" = stopped ] ||
	check_fail "A is '$(state "$A" "$T/after.json")' after its session ended, expected stopped"
printf 'B goes on\n' >>"$B/hello.txt" || check_fail "B does not take writes after A's session ended"
rm "$B/zeros.bin"
checkpoint_b b-after
sleep 0.5
touch "$T/stop-load"
wait "$load" 2>/dev/null || true
[ -e "$T/load.err" ] && check_fail "B's writer saw errors: $(head -3 "$T/load.err")"
checkpoint b-end "$B"
CAPTURED=("$B")
capture_stop "$B"
verify_checkpoints
finish
