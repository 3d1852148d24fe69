# SPDX-License-Identifier: GPL-2.0-or-later
#
# 017-busy-dir - capture refuses a directory that running programs already
# use: a descriptor opened before the mount, a memory mapping or a working
# directory inside it reaches the real files beneath the mount, so their
# writes would never reach the history, silently.  The refusal is one line
# naming each process and what it holds, nothing is mounted, and capture
# works once they are gone.  A second directory of the same store, asked
# of the running daemon over its socket, is refused the same way.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
OTHER=$T/other
mkdir -p "$DATA/sub" "$OTHER"
printf 'x\n' >"$DATA/sub/held"
kids=()
at_exit 'for k in "${kids[@]}"; do kill "$k" 2>/dev/null; done; wait 2>/dev/null || true'
(cd "$DATA/sub" && exec sleep 120) & kids+=($!)
sleep 120 3<"$DATA/sub/held" & kids+=($!)
sleep 0.3

expect_fail "capture of a directory in use" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$DATA"
grep -q "pid ${kids[0]} sleep: its working directory '$DATA/sub'" "$T/expect.err" ||
	check_fail "the refusal does not name pid ${kids[0]} and its working directory: $(cat "$T/expect.err")"
grep -q "pid ${kids[1]} sleep: open file '$DATA/sub/held' (fd 3)" "$T/expect.err" ||
	check_fail "the refusal does not name pid ${kids[1]} and its open file: $(cat "$T/expect.err")"
is_mounted "$DATA" && check_fail "'$DATA' is mounted after the refusal"

# the daemon runs (for another directory); a further directory in use is
# refused by it, for the same reason
capture_start "$OTHER"
expect_fail "capture of a directory in use, asked of the running daemon" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$DATA"
grep -q "pid ${kids[1]} sleep: open file" "$T/expect.err" ||
	check_fail "the daemon's refusal does not name pid ${kids[1]}: $(cat "$T/expect.err")"
is_mounted "$DATA" && check_fail "'$DATA' is mounted after the daemon's refusal"

# once they are gone, capture goes ahead and the history is exact
for k in "${kids[@]}"; do kill "$k"; done
wait 2>/dev/null || true
kids=()
capture_start "$DATA"
printf 'after\n' >>"$DATA/sub/held"
checkpoint after "$DATA"
capture_stop "$DATA"
capture_stop "$OTHER"
verify_checkpoints
finish
