# SPDX-License-Identifier: GPL-2.0-or-later
#
# 020-verify - `cdpfs verify` finds damage and names what it affects.  A
# tree is captured in two phases (so a file has versions at two instants)
# and the capture stopped; then:
#   - the clean store verifies, exit 0, with and without --data, and while
#     a capture of another directory writes to it (a reader: no lock);
#   - copies of it with bytes flipped in a segment (--data finds a
#     bad-chunk-data or, where a flip hit a record's header,
#     bad-chunk-header problem),
#     a segment cut short (outside-segment), the segment deleted
#     (missing-segment) and chunk locations deleted from the index
#     (missing-chunk): each exits 1, and names the damaged files by path
#     under the captured directory, with seqs and instants;
#   - --json is one object with "result": "problems" and the paths, and
#     for the deleted segment equals tests/golden/verify.json;
#   - an unknown host or a missing store exits 2.
. "$(dirname "$0")/lib.sh"
require_cdpfs
DEL=$BUILD/tests/index_del
[ -x "$DEL" ] || fail "'$DEL' is not built (make builds tests/tools/*.c)"

DATA=$T/data
mkdir -p "$DATA/sub"
capture_start "$DATA"
for i in $(seq 1 30); do head -c 65536 /dev/urandom >"$DATA/f$i"; done
head -c 65536 /dev/urandom >"$DATA/sub/inner"
sync "$DATA/f1"
sleep 0.2
head -c 16384 /dev/urandom | dd of="$DATA/f1" conv=notrunc status=none
sync "$DATA/f1"
capture_stop "$DATA"

# run_verify LABEL WANT_RC ARGS...: output in $T/verify.out
run_verify() {
	local label=$1 want=$2 rc=0
	shift 2
	"$CDPFS" verify "$@" >"$T/verify.out" 2>"$T/verify.err" || rc=$?
	log "$label: exit $rc: $(head -c 600 "$T/verify.out" | tr '\n' '|') $(head -c 200 "$T/verify.err")"
	[ "$rc" -eq "$want" ] || check_fail "$label: expected exit $want, got $rc: $(head -c 400 "$T/verify.out" "$T/verify.err" | tr '\n' '|')"
}

run_verify "clean store" 0 --store "$STORE"
grep -q "no problems" "$T/verify.out" || check_fail "clean store: expected 'no problems', got: $(cat "$T/verify.out")"
run_verify "clean store, --data" 0 --store "$STORE" --data
run_verify "clean store, one host, --json" 0 --store "$STORE" "$HOST" --data --json
grep -q '"result": "clean"' "$T/verify.out" || check_fail "clean --json: expected \"result\": \"clean\", got: $(cat "$T/verify.out")"
run_verify "unknown host" 2 --store "$STORE" nosuchhost
run_verify "missing store" 2 --store "$T/nostore"

# while a capture writes to the store: verify opens it as a reader
mkdir -p "$T/other"
capture_start "$T/other"
( for i in $(seq 1 50); do head -c 20000 /dev/urandom >"$T/other/w$i"; done ) &
writer=$!
run_verify "clean store under a running capture" 0 --store "$STORE" --data
wait "$writer"
capture_stop "$T/other"

seg=$(ls -S "$STORE"/segments/*.seg | head -n 1)
seg=${seg##*/}

# expect_damage LABEL KIND COPY ARGS...: exit 1, the kind, a damaged path
expect_damage() {
	local label=$1 kind=$2 copy=$3
	shift 3
	run_verify "$label" 1 --store "$copy" "$@"
	grep -Eq "^problem [0-9]+: ($kind):" "$T/verify.out" ||
		check_fail "$label: expected a '$kind' problem, got: $(head -c 500 "$T/verify.out")"
	grep -Eq "affects host '$HOST' '$DATA/(f[0-9]+|sub/inner)' \\(file [0-9]+\\): [0-9]+ version\\(s\\) from seq [0-9]+ \\([0-9]{4}-" "$T/verify.out" ||
		check_fail "$label: expected the report to name an affected file under '$DATA' with its seqs and instants, got: $(head -c 500 "$T/verify.out")"
}

# flipped bytes in the middle of a segment
cp -a "$STORE" "$T/flip"
f=$T/flip/segments/$seg
size=$(stat -c %s "$f")
for k in 3 5 7; do
	printf '\xff\x00\xa5\x5a' | dd of="$f" bs=1 seek=$((size * k / 10)) conv=notrunc status=none
done
expect_damage "flipped bytes, --data" 'bad-chunk-data|bad-chunk-header' "$T/flip" --data
run_verify "flipped bytes, --data --json" 1 --store "$T/flip" --data --json
grep -q '"result": "problems"' "$T/verify.out" && grep -Eq '"kind": "bad-chunk-(data|header)"' "$T/verify.out" &&
	grep -q "\"path\": \"$DATA/" "$T/verify.out" ||
	check_fail "flipped bytes --json: expected result problems, a bad-chunk-data/header kind and a path, got: $(head -c 600 "$T/verify.out")"

# a segment cut short
cp -a "$STORE" "$T/trunc"
truncate -s $((size / 2)) "$T/trunc/segments/$seg"
expect_damage "segment cut short" outside-segment "$T/trunc"

# a segment deleted
cp -a "$STORE" "$T/gone"
rm "$T/gone/segments/$seg"
expect_damage "segment deleted" missing-segment "$T/gone"
run_verify "segment deleted, --json" 1 --store "$T/gone" --json
# file ids and the count of names depend on how deep $T is (capture gives
# every directory above the captured one a file id): they are not compared
sed -E 's/"(fid|names)": [0-9]+/"\1": @N@/g' "$T/verify.out" >"$T/verify.norm"
golden_check verify.json "$T/verify.norm"

# chunk locations deleted from the index
cp -a "$STORE" "$T/nokey"
n=$("$DEL" "$T/nokey" chunk 50) || fail "index_del failed"
log "deleted $n chunk locations"
expect_damage "chunk locations deleted" missing-chunk "$T/nokey"
[ "$(grep -c '^problem [0-9]*: missing-chunk' "$T/verify.out")" -eq "$n" ] ||
	check_fail "chunk locations deleted: expected $n missing-chunk problems, got $(grep -c '^problem' "$T/verify.out")"
finish
