# SPDX-License-Identifier: GPL-2.0-or-later
#
# 068-restore-apply-faults - restore and overlay apply, killed or out of
# space, are never taken for finished.  restore into a full tmpfs: a clear
# error and nothing left there.  restore killed -9 midway: DEST does not
# exist (the partial tree is beside it), and the same restore run again
# gives the whole tree.  restore --overwrite killed -9: its marker stays, a
# restore without --overwrite says DEST is partly restored, one with it
# finishes (the tree equals its manifest, no temporary file left).  overlay
# apply onto a full tmpfs, and killed -9: a clear error, the marker stays,
# a new apply is refused; a copy brought back by restore, the marker
# removed, the apply then brings the overlay's tree.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd inotifywait "waiting for the moment to kill (inotify-tools)"

DATA=$T/data
mkdir -p "$DATA/docs" "$DATA/sub/deep"
for i in $(seq 1 40); do head -c 1048576 /dev/urandom >"$DATA/docs/f$i.bin"; done
for i in $(seq 1 50); do printf 'small %d\n' "$i" >"$DATA/sub/deep/s$i.txt"; done
ln "$DATA/docs/f1.bin" "$DATA/sub/f1-link.bin"
capture_start "$DATA"
checkpoint base "$DATA"
BASE=${CHECKPOINTS[0]#* }; BASE=${BASE%% *}
SRC="$HOST:$DATA@@$BASE"
capture_stop "$DATA"
grep -v '^\. ' "$T/m/base.manifest" >"$T/base.files"
same_as_base() {   # DIR LABEL
	manifest "$1" | grep -v '^\. ' >"$T/got.files"
	compare_manifest "$T/base.files" "$T/got.files" "$2"
}
restore() { "$CDPFS" restore --store "$STORE" "$@"; }

# kill_when PATTERN DIR PID: kill -9 PID once an entry matching PATTERN is
# created in DIR (and a moment more, so that some of the work is done);
# fails if PID ended first
kill_when() {
	local w
	inotifywait -q -t 20 -e create -e moved_to --include "$1" "$2" >/dev/null 2>&1 &
	w=$!
	sleep 0.3   # the watch is set up (inotifywait has no ready signal)
	kill -CONT "$3"
	wait "$w" || { kill -9 "$3" 2>/dev/null; fail "no entry '$1' appeared in '$2' within 20 s"; }
	sleep 0.05
	kill -9 "$3" 2>/dev/null || check_fail "the process to kill ($3) had already ended"
	wait "$3" 2>/dev/null || true
}
# start_stopped CMD...: runs CMD in the background, stopped until kill_when
start_stopped() {
	(kill -STOP "$BASHPID"; exec "$@") >"$T/bg.out" 2>"$T/bg.err" &
	BG=$!
	at_exit "kill -9 $BG 2>/dev/null || true"
}

log "restore into a full disk"
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=16m tmpfs "$SMALL" || skip "cannot mount a tmpfs"
at_exit "umount '$SMALL' 2>/dev/null || umount -l '$SMALL'"
expect_fail "restore of 40 MiB into 16 MiB" restore "$SRC" "$SMALL/out"
grep -q "No space left on device" "$T/expect.err" && grep -q "nothing restored at '$SMALL/out'" "$T/expect.err" ||
	check_fail "restore into a full disk: expected 'No space left on device' and 'nothing restored at', got: $(cat "$T/expect.err")"
[ -z "$(ls -A "$SMALL")" ] || check_fail "restore into a full disk left: $(ls -A "$SMALL" | tr '\n' ' ')"

log "restore killed -9"
start_stopped "$CDPFS" restore --store "$STORE" "$SRC" "$T/r1"
kill_when 'r1\.cdpfs-restore-partial' "$T" "$BG"
[ -e "$T/r1" ] && check_fail "after restore was killed, '$T/r1' exists (a partial tree under the restored name)"
[ -d "$T/.r1.cdpfs-restore-partial" ] || check_fail "after restore was killed, no partial tree beside '$T/r1'"
log "partial tree: $(find "$T/.r1.cdpfs-restore-partial" -type f | wc -l) files"
restore "$SRC" "$T/r1" >"$T/r1.out" 2>"$T/r1.err" || check_fail "restore after the kill exited with $?: $(cat "$T/r1.err")"
[ -e "$T/.r1.cdpfs-restore-partial" ] && check_fail "the partial tree is still there after the restore ran again"
same_as_base "$T/r1" "restore after a kill" || check_fail "the tree restored after a kill differs from the instant's"

log "restore --overwrite killed -9"
cp -a "$T/r1" "$T/r2"
for f in "$T"/r2/docs/f*.bin; do : >"$f"; done
start_stopped "$CDPFS" restore --store "$STORE" --overwrite "$SRC" "$T/r2"
kill_when 'r2\.cdpfs-restore-incomplete' "$T" "$BG"
[ -e "$T/.r2.cdpfs-restore-incomplete" ] || check_fail "after restore --overwrite was killed, no marker beside '$T/r2'"
expect_fail "restore without --overwrite onto a partly restored tree" restore "$SRC" "$T/r2"
grep -q "'$T/r2' is partly restored" "$T/expect.err" || check_fail "the refusal does not say the tree is partly restored: $(cat "$T/expect.err")"
restore --overwrite "$SRC" "$T/r2" >/dev/null 2>"$T/r2.err" || check_fail "restore --overwrite after the kill exited with $?: $(cat "$T/r2.err")"
[ -e "$T/.r2.cdpfs-restore-incomplete" ] && check_fail "the marker is still there after restore --overwrite finished"
left=$(find "$T/r2" -name '*.cdpfs-restore-*' | head -n 3)
[ -z "$left" ] || check_fail "temporary files of the killed restore are left: $left"
same_as_base "$T/r2" "restore --overwrite after a kill" || check_fail "the tree restored with --overwrite after a kill differs from the instant's"

log "overlay with changes"
OVL=$T/ovl
mount_at "$HOST:$DATA" "@$BASE" "$OVL" "rw,overlay=ff"
for i in $(seq 1 40); do head -c 1048576 /dev/urandom | dd of="$OVL/docs/f$i.bin" bs=1M conv=notrunc status=none; done
mkdir "$OVL/new"
for i in $(seq 1 16); do head -c 1048576 /dev/urandom >"$OVL/new/n$i.bin"; done
rm "$OVL/sub/deep/s1.txt"
manifest "$OVL" | grep -v '^\. ' >"$T/ovl.files"
umount_at "$OVL"

log "overlay apply into a full disk"
SMALL2=$T/small2
mkdir -p "$SMALL2"
mount -t tmpfs -o size=46m tmpfs "$SMALL2" || skip "cannot mount a tmpfs"
at_exit "umount '$SMALL2' 2>/dev/null || umount -l '$SMALL2'"
cp -a "$T/r1" "$SMALL2/prod"   # 41 MiB of 46: the apply adds 16 MiB
rc=0
"$CDPFS" overlay --store "$STORE" apply ff "$SMALL2/prod" >"$T/a1.out" 2>"$T/a1.err" || rc=$?
log "apply into a full disk: exit $rc: $(head -c 400 "$T/a1.err")"
[ "$rc" != 0 ] || check_fail "overlay apply into a full disk exited 0"
grep -q "No space left on device" "$T/a1.err" && grep -q "'$SMALL2/prod' is partly applied" "$T/a1.err" ||
	check_fail "overlay apply into a full disk: expected 'No space left on device' and 'is partly applied', got: $(cat "$T/a1.err")"
grep -q "changes of overlay 'ff' applied" "$T/a1.out" && check_fail "overlay apply into a full disk reported its changes applied: $(cat "$T/a1.out")"
[ -e "$SMALL2/.prod.cdpfs-apply-incomplete" ] || check_fail "overlay apply into a full disk left no marker"
expect_fail "overlay apply onto a partly applied tree" "$CDPFS" overlay --store "$STORE" apply ff "$SMALL2/prod"
grep -q "'$SMALL2/prod' is partly applied" "$T/expect.err" || check_fail "the refusal does not say the tree is partly applied: $(cat "$T/expect.err")"

log "overlay apply killed -9"
cp -a "$T/r1" "$T/prod"
start_stopped "$CDPFS" overlay --store "$STORE" apply ff "$T/prod"
kill_when 'prod\.cdpfs-apply-incomplete' "$T" "$BG"
[ -e "$T/.prod.cdpfs-apply-incomplete" ] || check_fail "after overlay apply was killed, no marker beside '$T/prod'"
expect_fail "overlay apply after a kill" "$CDPFS" overlay --store "$STORE" apply ff "$T/prod"
grep -q "'$T/prod' is partly applied" "$T/expect.err" || check_fail "the refusal after a kill does not say the tree is partly applied: $(cat "$T/expect.err")"
log "the way back: restore, remove the marker, apply"
rm -rf "$T/prod"
restore "$SRC" "$T/prod" >/dev/null || check_fail "restore of production's base failed"
rm "$T/.prod.cdpfs-apply-incomplete"
"$CDPFS" overlay --store "$STORE" apply ff "$T/prod" >"$T/a2.out" 2>"$T/a2.err" ||
	check_fail "overlay apply after the way back exited with $?: $(cat "$T/a2.err")"
[ -e "$T/.prod.cdpfs-apply-incomplete" ] && check_fail "the marker is still there after the apply finished"
manifest "$T/prod" | grep -v '^\. ' >"$T/prod.files"
compare_manifest "$T/ovl.files" "$T/prod.files" "apply after the way back" ||
	check_fail "after the apply, production differs from the overlay"
finish
