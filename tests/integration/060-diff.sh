# SPDX-License-Identifier: GPL-2.0-or-later
#
# 060-diff - cdpfs diff against ground truth: a phased workload on a captured
# tree, the manifest of the live tree recorded at each phase's instant; for
# each pair of instants (and one pair backwards) the change set that diff
# reports must equal the one computed from the two manifests (A, D, M, m, T
# by path; an R is a D of its old path and an A of its new one, a renamed
# directory's whole subtree included).  Also: the renames are reported as R,
# bytes changed of a block write, --stat, -- PATH filters, the --json golden
# file, and bad input.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd python3 "the ground truth of diff"

DATA=$T/data
make_baseline "$DATA"
mkdir -p "$DATA/tree/a" "$DATA/tree/b" "$DATA/gone"
for i in 1 2 3; do printf 'a%d\n' "$i" >"$DATA/tree/a/f$i"; printf 'g%d\n' "$i" >"$DATA/gone/g$i"; done
head -c 65536 /dev/urandom >"$DATA/tree/b/blob"
capture_start "$DATA"
checkpoint p0 "$DATA"

# p1: writes (one block of a 64 KiB file), creates, a new tree, chmod, an
# xattr, a truncate
printf 'rewritten\n' >"$DATA/hello.txt"
head -c 8192 /dev/urandom | dd of="$DATA/tree/b/blob" bs=8192 seek=3 conv=notrunc status=none
printf 'new\n' >"$DATA/new.txt"
mkdir -p "$DATA/newdir/inner"
printf 'x\n' >"$DATA/newdir/inner/x"
chmod 0600 "$DATA/random.bin"
setfattr -n user.tag -v p1 "$DATA/tree/a/f1"
truncate -s 1000 "$DATA/sub/deeper/numbers.txt"
checkpoint p1 "$DATA"

# p2: a file renamed, a directory renamed with a change inside it, a
# delete, a tree deleted, a file replaced by a directory, a rename over
# an existing file
mv "$DATA/new.txt" "$DATA/renamed.txt"
mv "$DATA/tree/a" "$DATA/tree/a2"
printf 'changed in moved dir\n' >>"$DATA/tree/a2/f2"
rm "$DATA/empty"
rm -r "$DATA/gone"
rm "$DATA/zeros.bin"
mkdir "$DATA/zeros.bin"
printf 'replacement\n' >"$DATA/.tmp"
mv "$DATA/.tmp" "$DATA/sub/one-byte"
checkpoint p2 "$DATA"

# p3: a hard link added, a symlink re-pointed, chown, mtime set, a file
# moved into another directory
ln "$DATA/renamed.txt" "$DATA/newdir/link"
rm "$DATA/sub/link-to-hello"
ln -s ../renamed.txt "$DATA/sub/link-to-hello"
chown 1234:5678 "$DATA/tree/b/blob"
touch -m -d '2001-02-03 04:05:06.123456789' "$DATA/tree/a2/f3"
mv "$DATA/tree/a2/f1" "$DATA/newdir/f1"
checkpoint p3 "$DATA"

# truth.py A.manifest B.manifest DIR: the change set from the manifests
cat >"$T/truth.py" <<'PY'
import sys
def load(p):
    m = {}
    for line in open(p):
        f = line.rstrip('\n').split(' ')
        d = {}
        for kv in f[1:]:
            k, _, v = kv.partition('=')
            d[k] = v
        d.pop('linkgroup', None)
        m[f[0]] = d
    return m
a, b, top = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
def full(p):
    return top if p == '.' else top.rstrip('/') + '/' + p
out = set()
for p in set(a) | set(b):
    if p not in b: out.add('D ' + full(p))
    elif p not in a: out.add('A ' + full(p))
    elif a[p]['type'] != b[p]['type']: out.add('T ' + full(p))
    elif a[p] != b[p]:
        content = any(a[p].get(k) != b[p].get(k) for k in ('sha256', 'target', 'rdev'))
        out.add(('M ' if content else 'm ') + full(p))
for c in sorted(out): print(c)
PY
# got.py A.manifest B.manifest DIR < diff.json: diff's changes in the same
# terms (R expanded into D and A with the manifests)
cat >"$T/got.py" <<'PY'
import json, sys
def paths(p, top):
    r = []
    for line in open(p):
        q = line.split(' ', 1)[0]
        r.append(top if q == '.' else top.rstrip('/') + '/' + q)
    return r
top = sys.argv[3]
pa, pb = paths(sys.argv[1], top), paths(sys.argv[2], top)
d = json.load(sys.stdin)
out, moved = set(), []
for c in d['changes']:
    if c['op'] == 'R':
        o, n = c['old_path'], c['path']
        moved.append(n)
        out.update('D ' + p for p in pa if p == o or p.startswith(o + '/'))
        out.update('A ' + p for p in pb if p == n or p.startswith(n + '/'))
for c in d['changes']:
    if c['op'] == 'R': continue
    if c['op'] in 'Mm' and any(c['path'] == n or c['path'].startswith(n + '/') for n in moved):
        continue
    out.add(c['op'] + ' ' + c['path'])
for c in sorted(out): print(c)
PY

names=(p0 p1 p2 p3)
declare -A AT
for c in "${CHECKPOINTS[@]}"; do read -r name ts dir <<<"$c"; AT[$name]=$ts; done
compare_pair() {
	local x=$1 y=$2
	"$CDPFS" diff --store "$STORE" --json "$HOST:$DATA@@${AT[$x]}" "@${AT[$y]}" >"$T/d-$x-$y.json" ||
		{ check_fail "cdpfs diff $x $y exited with $?"; return; }
	python3 "$T/truth.py" "$T/m/$x.manifest" "$T/m/$y.manifest" "$DATA" >"$T/truth-$x-$y"
	python3 "$T/got.py" "$T/m/$x.manifest" "$T/m/$y.manifest" "$DATA" <"$T/d-$x-$y.json" >"$T/got-$x-$y" ||
		{ check_fail "diff $x $y: --json output does not parse"; return; }
	if diff -u "$T/truth-$x-$y" "$T/got-$x-$y" >"$T/cmp-$x-$y"; then
		log "diff $x -> $y: $(wc -l <"$T/truth-$x-$y") changes, as the manifests say"
	else
		check_fail "diff $x -> $y differs from the manifests (-expected +got): $(tr '\n' '|' <"$T/cmp-$x-$y" | head -c 1500)"
	fi
}
for i in 0 1 2 3; do
	for j in 0 1 2 3; do
		[ "$i" -lt "$j" ] && compare_pair "${names[$i]}" "${names[$j]}"
	done
done
compare_pair p3 p0

# the same file under a new name is one R line; a block written is 8192 bytes
"$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p1]}" "@${AT[p2]}" >"$T/p1p2.txt"
log "diff p1 p2: $(tr '\n' '|' <"$T/p1p2.txt")"
grep -qxF "R $DATA/new.txt -> $DATA/renamed.txt" "$T/p1p2.txt" || check_fail "no 'R new.txt -> renamed.txt' line in: $(cat "$T/p1p2.txt")"
grep -qxF "R $DATA/tree/a -> $DATA/tree/a2" "$T/p1p2.txt" || check_fail "no 'R tree/a -> tree/a2' line"
grep -q "^M $DATA/tree/a2/f2 " "$T/p1p2.txt" || check_fail "the file changed inside the renamed directory is not 'M tree/a2/f2'"
grep -q "tree/a2/f1\|tree/a2/f3\|tree/a/f" "$T/p1p2.txt" && check_fail "entries that moved with their directory unchanged are listed"
grep -qxF "T $DATA/zeros.bin (f -> d)" "$T/p1p2.txt" || check_fail "no 'T zeros.bin (f -> d)' line"
"$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p0]}" "@${AT[p1]}" >"$T/p0p1.txt"
grep -qxF "M $DATA/tree/b/blob (8192 bytes changed; mtime)" "$T/p0p1.txt" || check_fail "one 8 KiB block written: expected 'M tree/b/blob (8192 bytes changed; mtime)', got: $(grep blob "$T/p0p1.txt")"
"$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p2]}" "@${AT[p3]}" >"$T/p2p3.txt"
grep -qxF "R $DATA/tree/a2/f1 -> $DATA/newdir/f1" "$T/p2p3.txt" || check_fail "a file moved to another directory is not an R line: $(tr '\n' '|' <"$T/p2p3.txt")"
grep -qxF "m $DATA/tree/b/blob (owner)" "$T/p2p3.txt" || check_fail "chown: expected 'm tree/b/blob (owner)', got: $(grep blob "$T/p2p3.txt")"

# latest, -- PATH filters (absolute and relative to DIR), --stat
"$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p0]}" latest -- tree "$DATA/newdir" >"$T/filtered.txt"
grep -v " $DATA/tree\| $DATA/newdir" "$T/filtered.txt" | grep -q . && check_fail "-- tree $DATA/newdir let other paths through: $(tr '\n' '|' <"$T/filtered.txt")"
grep -q "^A $DATA/newdir/inner/x$" "$T/filtered.txt" || check_fail "-- newdir: 'A newdir/inner/x' missing"
"$CDPFS" diff --store "$STORE" --stat "$HOST:$DATA@@${AT[p1]}" "@${AT[p2]}" >"$T/stat.txt"
log "stat: $(tr '\n' '|' <"$T/stat.txt")"
grep -q "^gone  *A 0  *D 4 " "$T/stat.txt" || check_fail "--stat: expected 4 deletions under gone"
grep -q "^total " "$T/stat.txt" || check_fail "--stat: no total line"

# golden --json of a small diff
"$CDPFS" diff --store "$STORE" --json --stat "$HOST:$DATA@@${AT[p2]}" "@${AT[p3]}" -- sub tree/b >"$T/golden.json"
golden_check diff.json "$T/golden.json"

# bad input: one line, non-zero exit
expect_fail "diff without T2" "$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p0]}"
expect_fail "diff of an unknown host" "$CDPFS" diff --store "$STORE" "nosuch:$DATA@@${AT[p0]}" latest
expect_fail "diff before the history" "$CDPFS" diff --store "$STORE" "$HOST:$DATA@2001-01-01T00:00" latest
expect_fail "diff with a bad time" "$CDPFS" diff --store "$STORE" "$HOST:$DATA@@${AT[p0]}" yesterday
expect_fail "diff of a missing dir" "$CDPFS" diff --store "$STORE" "$HOST:$DATA/none@@${AT[p0]}" latest
expect_fail "diff of a file" "$CDPFS" diff --store "$STORE" "$HOST:$DATA/hello.txt@@${AT[p0]}" latest
expect_fail "diff of a missing store" "$CDPFS" diff --store "$T/nostore" "$HOST:$DATA@@${AT[p0]}" latest

capture_stop "$DATA"
finish
