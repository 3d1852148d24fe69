# SPDX-License-Identifier: GPL-2.0-or-later
#
# 004-restart - capture, changes, stop; then changes made while nothing
# captures (a file added, one removed, one block of a large file modified, a
# rename, a chmod, a hard link added); then capture again.  The resync must
# journal the offline changes: the first instant after the restart equals
# the offline-changed tree, the instant before the stop still equals the old
# tree, later changes are captured as usual, and `cdpfs hosts` shows the
# time with no capture (a gap).
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
head -c 4M /dev/urandom >"$DATA/large.bin"
printf 'will be removed offline\n' >"$DATA/doomed"
printf 'will be renamed offline\n' >"$DATA/old-name"
ln "$DATA/old-name" "$DATA/old-name-link"

capture_start "$DATA"
checkpoint s1-baseline "$DATA"
printf 'online change\n' >>"$DATA/hello.txt"
printf 'online file\n' >"$DATA/online"
checkpoint s1-changed "$DATA"
capture_stop "$DATA"
stopped_at=$(date +%s.%N)

log "offline changes"
sleep 0.05
printf 'added offline\n' >"$DATA/offline-added"
mkdir "$DATA/offline-dir"
printf 'in offline dir\n' >"$DATA/offline-dir/f"
rm "$DATA/doomed"
printf 'OFFLINE-BLOCK' | dd of="$DATA/large.bin" bs=1 seek=$((1024 * 1024 + 5)) conv=notrunc status=none
mv "$DATA/old-name" "$DATA/sub/new-name"
chmod 0600 "$DATA/hello.txt"
ln "$DATA/online" "$DATA/online-link"
truncate -s 100 "$DATA/random.bin"
manifest "$DATA" >"$T/offline.manifest"
sleep 0.05
restart_begin=$(date +%s.%N)

capture_start "$DATA"
checkpoint s2-after-restart "$DATA"
compare_manifest "$T/offline.manifest" "$T/m/s2-after-restart.manifest" "capture mount after restart vs native" ||
	check_fail "after restart the capture mount shows something other than the native tree"
printf 'after restart\n' >"$DATA/after-restart"
printf 'X' | dd of="$DATA/large.bin" bs=1 seek=3000000 conv=notrunc status=none
rm "$DATA/sub/new-name"
checkpoint s2-changed "$DATA"

"$CDPFS" hosts --store "$STORE" >"$T/hosts.out" || check_fail "cdpfs hosts exited with $?"
cat "$T/hosts.out"
if "$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json" && jq . "$T/hosts.json" >/dev/null; then
	ngaps=$(jq '[.. | objects | select(has("gaps")) | .gaps | arrays | length] | add // 0' "$T/hosts.json")
	[ "$ngaps" -ge 1 ] || check_fail "cdpfs hosts --json shows no gap after a stop and a restart: $(head -c 600 "$T/hosts.json")"
else
	check_fail "cdpfs hosts --json failed or is not JSON"
fi
gap_from=$(jq -r '[.. | objects | select(has("gaps")) | .gaps | arrays | .[] | .from] | first // empty' "$T/hosts.json" 2>/dev/null || true)
if [ -n "$gap_from" ]; then
	hms=${gap_from:11:8}
	grep -q -- "$hms" "$T/hosts.out" ||
		check_fail "cdpfs hosts (text) does not show the gap that --json reports (from $gap_from, looked for '$hms')"
fi

verify_checkpoints
capture_stop "$DATA"
log "stopped at @$stopped_at, restart began at @$restart_begin"
finish
