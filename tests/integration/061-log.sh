# SPDX-License-Identifier: GPL-2.0-or-later
#
# 061-log - cdpfs log against ground truth: a file created, rewritten,
# chmod'ed, renamed twice (once into another directory), given an xattr,
# truncated, hard-linked and unlinked, then deleted, an instant recorded
# after each step.  log of its first path (which no longer exists) must
# list exactly one version per journaled operation, in order, each with
# the kind of change, the path (from -> to for the renames), the size
# after, and an instant within its step; --since/--until cut the list;
# the --json golden file; bad input.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd python3 "the ground truth of log"

DATA=$T/data
mkdir -p "$DATA/sub"
printf 'other\n' >"$DATA/other"
capture_start "$DATA"

# step NAME: records the instant that ends step NAME in $T/steps
: >"$T/steps"
step() { printf '%s %s\n' "$1" "$(record_instant)" >>"$T/steps"; }
step start
printf 'v1\n' >"$DATA/f"; step create
printf 'second version, longer\n' >"$DATA/f"; step rewrite
chmod 0600 "$DATA/f"; step chmod
mv "$DATA/f" "$DATA/g"; step rename1
mv "$DATA/g" "$DATA/sub/h"; step rename2
setfattr -n user.tag -v x "$DATA/sub/h"; step xattr
truncate -s 5 "$DATA/sub/h"; step truncate
ln "$DATA/sub/h" "$DATA/link"; step link
rm "$DATA/link"; step unlink
printf 'noise\n' >>"$DATA/other"; step noise
rm "$DATA/sub/h"; step delete

# the versions expected: step, kinds, path (or from>to), size after
cat >"$T/expected" <<EOF2
create create $DATA/f 0
create write $DATA/f 3
rewrite truncate $DATA/f 0
rewrite write $DATA/f 23
chmod chmod $DATA/f 23
rename1 rename $DATA/f>$DATA/g 23
rename2 rename $DATA/g>$DATA/sub/h 23
xattr xattr $DATA/sub/h 23
truncate truncate $DATA/sub/h 5
link link $DATA/link 5
unlink unlink $DATA/link 5
delete delete $DATA/sub/h 0
EOF2

"$CDPFS" log --store "$STORE" --json "$HOST:$DATA/f" >"$T/log.json" ||
	fail "cdpfs log of a deleted file exited with $?"
"$CDPFS" log --store "$STORE" "$HOST:$DATA/f" >"$T/log.txt"
log "log: $(tr '\n' '|' <"$T/log.txt")"
cat >"$T/check.py" <<'PY'
import json, sys
steps = [l.split() for l in open(sys.argv[1])]
bounds = {}
prev = None
for name, ts in steps:
    t = int(ts.replace('.', ''))   # EPOCH.NANOSECONDS, 9 digits
    bounds[name] = (prev, t)
    prev = t
exp = [l.split() for l in open(sys.argv[2])]
d = json.load(open(sys.argv[3]))
v = d['versions']
bad = []
if len(v) != len(exp):
    bad.append('expected %d versions, got %d' % (len(exp), len(v)))
for i, (e, g) in enumerate(zip(exp, v)):
    step, kinds, path, size = e
    what = ','.join(g['what'])
    gpath = g['from'] + '>' + g['to'] if 'rename' in g['what'] else (g['to'] if 'link' in g['what'] else (g['from'] if 'unlink' in g['what'] else g['path']))
    if what != kinds or gpath != path or str(g['size']) != size:
        bad.append('version %d: expected %s %s size %s, got %s %s size %s' % (i + 1, kinds, path, size, what, gpath, g['size']))
    lo, hi = bounds[step]
    if not (lo < g['time_ns'] <= hi):
        bad.append('version %d (%s): instant %d not within step %s (%d, %d]' % (i + 1, kinds, g['time_ns'], step, lo, hi))
    if i and g['seq'] <= v[i - 1]['seq']:
        bad.append('version %d: seq %d not after %d' % (i + 1, g['seq'], v[i - 1]['seq']))
print('\n'.join(bad))
sys.exit(1 if bad else 0)
PY
python3 "$T/check.py" "$T/steps" "$T/expected" "$T/log.json" >"$T/check.out" ||
	check_fail "log of $DATA/f: $(tr '\n' '|' <"$T/check.out")"

# the same history from its last path, and cut by --since/--until
"$CDPFS" log --store "$STORE" --json "$HOST:$DATA/sub/h" >"$T/log2.json"
cmp -s <(jq -c '.versions' "$T/log.json") <(jq -c '.versions' "$T/log2.json") ||
	check_fail "log of sub/h (its last name) differs from the log of f (its first)"
ts_of() { awk -v s="$1" '$1 == s { print $2 }' "$T/steps"; }
"$CDPFS" log --store "$STORE" --json --since "@$(ts_of chmod)" --until "@$(ts_of xattr)" "$HOST:$DATA/f" >"$T/cut.json"
got=$(jq -r '[.versions[].what | join(",")] | join(" ")' "$T/cut.json")
[ "$got" = "rename rename xattr" ] || check_fail "--since chmod --until xattr: expected 'rename rename xattr', got '$got'"
# --until before the rename: the file at f then is the same file
"$CDPFS" log --store "$STORE" --json --until "@$(ts_of chmod)" "$HOST:$DATA/f" >"$T/until.json"
[ "$(jq '.count' "$T/until.json")" = 5 ] || check_fail "--until chmod: expected 5 versions, got $(jq '.count' "$T/until.json")"
# a file of the baseline, appended to once: the walk's versions, then a write
"$CDPFS" log --store "$STORE" --json "$HOST:$DATA/other" >"$T/other.json"
got=$(jq -r '[.versions[] | (.what | join(",")) + ":" + .path] | join(" ")' "$T/other.json")
[ "$got" = "baseline:$DATA/other baseline:$DATA/other write:$DATA/other" ] ||
	check_fail "log of 'other': expected its two baseline versions and one write, got '$got'"

"$CDPFS" log --store "$STORE" --json --since "@$(ts_of chmod)" --until "@$(ts_of rename2)" "$HOST:$DATA/f" >"$T/log-cut.json"
# a fid depends on how deep the test's directory is (the walk names each
# directory above it)
sed -E 's/"fid": [0-9]+/"fid": @N@/' "$T/log-cut.json" >"$T/golden.json"
golden_check log.json "$T/golden.json"

expect_fail "log of a path never used" "$CDPFS" log --store "$STORE" "$HOST:$DATA/never"
expect_fail "log without a path" "$CDPFS" log --store "$STORE" "$HOST"
expect_fail "log of a relative path" "$CDPFS" log --store "$STORE" "$HOST:rel/path"
expect_fail "log of an unknown host" "$CDPFS" log --store "$STORE" "nosuch:$DATA/f"
expect_fail "log with a bad --since" "$CDPFS" log --store "$STORE" --since soon "$HOST:$DATA/f"
expect_fail "log with --since after --until" "$CDPFS" log --store "$STORE" --since -1m --until -2m "$HOST:$DATA/f"

capture_stop "$DATA"
finish
