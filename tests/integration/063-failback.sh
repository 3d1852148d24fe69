# SPDX-License-Identifier: GPL-2.0-or-later
#
# 063-failback - overlay diff and overlay apply: a kept overlay of a
# captured tree takes changes (a rewrite, one block of a 256 KiB file, a
# new file and tree, a delete, a directory renamed, a chmod, a new hard
# link, an xattr); two copies of the tree as it was at the base stand for
# production, where one file was changed since.  overlay diff lists the
# overlay's changes; apply --dry-run writes nothing; apply refuses the
# conflicting file (exit 1, listed) and brings everything else, so that
# the copy equals the overlay but for that file; apply --force onto the
# other copy makes it equal the overlay.  Bad input.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "reading --json"

DATA=$T/data
mkdir -p "$DATA/dir/inner" "$DATA/keep"
printf 'alpha\n' >"$DATA/a.txt"
head -c 262144 /dev/urandom >"$DATA/big.bin"
printf 'x\n' >"$DATA/dir/x"
printf 'deep\n' >"$DATA/dir/inner/deep"
printf 'keep\n' >"$DATA/keep/k"
printf 'gone\n' >"$DATA/gone.txt"
printf 'both sides\n' >"$DATA/conflict.txt"
capture_start "$DATA"
checkpoint base "$DATA"
BASE=${CHECKPOINTS[0]#* }; BASE=${BASE%% *}
# production at the base: two copies
cp -a "$DATA" "$T/prod1"
cp -a "$DATA" "$T/prod2"
printf 'live change after the base\n' >"$DATA/a.txt"   # production moves on

OVL=$T/ovl
mount_at "$HOST:$DATA" "@$BASE" "$OVL" "rw,overlay=fb"
printf 'alpha, rewritten in the overlay\n' >"$OVL/a.txt"
head -c 8192 /dev/urandom | dd of="$OVL/big.bin" bs=8192 seek=5 conv=notrunc status=none
printf 'new\n' >"$OVL/new.txt"
mkdir -p "$OVL/newdir/sub"
printf 'n\n' >"$OVL/newdir/sub/n"
rm "$OVL/gone.txt"
mv "$OVL/dir" "$OVL/dir2"
printf 'changed inside the moved dir\n' >>"$OVL/dir2/x"
chmod 0600 "$OVL/keep/k"
ln "$OVL/new.txt" "$OVL/newdir/new-link"
setfattr -n user.tag -v ovl "$OVL/keep/k"
printf 'overlay side\n' >>"$OVL/conflict.txt"
manifest "$OVL" >"$T/overlay.manifest"
umount_at "$OVL"

# production's copy 1 and 2 change conflict.txt since the base
printf 'production side\n' >>"$T/prod1/conflict.txt"
printf 'production side\n' >>"$T/prod2/conflict.txt"

log "overlay diff"
"$CDPFS" overlay --store "$STORE" diff fb >"$T/odiff.txt" || check_fail "overlay diff exited with $?"
log "overlay diff: $(tr '\n' '|' <"$T/odiff.txt")"
for want in "M $DATA/a.txt (" "M $DATA/big.bin (8192 bytes changed" "A $DATA/new.txt" \
	"A $DATA/newdir/sub/n" "D $DATA/gone.txt" "R $DATA/dir -> $DATA/dir2" \
	"M $DATA/dir2/x (" "m $DATA/keep/k (mode, xattr)" "A $DATA/newdir/new-link"; do
	grep -qF "$want" "$T/odiff.txt" || check_fail "overlay diff: no line '$want'"
done
"$CDPFS" overlay --store "$STORE" --json diff fb >"$T/odiff.json"
[ "$(jq .count "$T/odiff.json")" = "$(wc -l <"$T/odiff.txt")" ] || check_fail "overlay diff --json count differs from the text"
golden_check overlay-diff.json "$T/odiff.json"

log "overlay apply --dry-run"
manifest "$T/prod1" >"$T/prod1.before"
"$CDPFS" overlay --store "$STORE" apply fb "$T/prod1" --dry-run >"$T/dry.txt" || true
manifest "$T/prod1" | cmp -s - "$T/prod1.before" || check_fail "apply --dry-run changed the destination"
grep -q "^CONFLICT M $T/prod1/conflict.txt" "$T/dry.txt" || check_fail "apply --dry-run does not list the conflict: $(tr '\n' '|' <"$T/dry.txt")"

log "overlay apply with a conflict"
rc=0
"$CDPFS" overlay --store "$STORE" apply fb "$T/prod1" >"$T/apply.txt" 2>"$T/apply.err" || rc=$?
log "apply: exit $rc: $(tr '\n' '|' <"$T/apply.txt") $(cat "$T/apply.err")"
[ "$rc" = 1 ] || check_fail "apply with a conflict: expected exit 1, got $rc"
[ "$(grep -c '^CONFLICT' "$T/apply.txt")" = 1 ] || check_fail "apply: expected exactly one conflict, got: $(grep '^CONFLICT' "$T/apply.txt" | tr '\n' '|')"
grep -q "^CONFLICT M $T/prod1/conflict.txt (.*): changed in DEST since the base (size, mtime)$" "$T/apply.txt" ||
	check_fail "apply: conflict.txt is not the conflict, or without its reason"
grep -q 'production side' "$T/prod1/conflict.txt" && ! grep -q 'overlay side' "$T/prod1/conflict.txt" ||
	check_fail "apply wrote the conflicting file"
manifest "$T/prod1" | grep -v '^conflict.txt ' >"$T/prod1.after"
grep -v '^conflict.txt ' "$T/overlay.manifest" >"$T/overlay.noconflict"
compare_manifest "$T/overlay.noconflict" "$T/prod1.after" "apply onto prod1" ||
	check_fail "after apply, the destination differs from the overlay (conflict.txt aside)"
[ "$(stat -c %i "$T/prod1/new.txt")" = "$(stat -c %i "$T/prod1/newdir/new-link")" ] ||
	check_fail "apply: new.txt and newdir/new-link are not one file"

log "overlay apply --force"
"$CDPFS" overlay --store "$STORE" --json apply fb "$T/prod2" --force >"$T/force.json" ||
	check_fail "apply --force exited with $?"
[ "$(jq .conflicts "$T/force.json")" = 0 ] || check_fail "apply --force: $(jq .conflicts "$T/force.json") conflicts"
manifest "$T/prod2" >"$T/prod2.after"
compare_manifest "$T/overlay.manifest" "$T/prod2.after" "apply --force onto prod2" ||
	check_fail "after apply --force, the destination differs from the overlay"

expect_fail "overlay diff of an unknown overlay" "$CDPFS" overlay --store "$STORE" diff nosuch
expect_fail "overlay apply to a missing DEST" "$CDPFS" overlay --store "$STORE" apply fb "$T/none"
expect_fail "overlay apply without DEST" "$CDPFS" overlay --store "$STORE" apply fb
expect_fail "overlay --force without apply" "$CDPFS" overlay --store "$STORE" --force diff fb
mount_at "$HOST:$DATA" "@$BASE" "$OVL" "rw,overlay=fb"
expect_fail "overlay apply while mounted" "$CDPFS" overlay --store "$STORE" apply fb "$T/prod1"
umount_at "$OVL"
capture_stop "$DATA"
finish
