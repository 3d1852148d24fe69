# SPDX-License-Identifier: GPL-2.0-or-later
#
# 001-smoke - the core loop end to end: a directory that already holds
# files is captured, changed, stopped; the latest instant is mounted both as
# HOST@latest (the dir at its absolute path) and as HOST:/dir@latest (the dir
# as the root) and must equal the live tree; `cdpfs hosts` lists the host;
# `cdpfs umount` unmounts.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
manifest "$DATA" >"$T/before-capture.manifest"

capture_start "$DATA"
checkpoint baseline "$DATA"
compare_manifest "$T/before-capture.manifest" "$T/m/baseline.manifest" "capture mount vs native" ||
	check_fail "the tree seen through the capture mount differs from the native tree"

printf 'new file\n' >"$DATA/new.txt"
printf 'more\n' >>"$DATA/hello.txt"
mkdir "$DATA/newdir"
printf 'inside\n' >"$DATA/newdir/f"
rm "$DATA/zeros.bin"
checkpoint changed "$DATA"

"$CDPFS" hosts --store "$STORE" >"$T/hosts.out" || check_fail "cdpfs hosts exited with $?"
cat "$T/hosts.out"
grep -q -- "$HOST" "$T/hosts.out" || check_fail "cdpfs hosts does not list host '$HOST'"
grep -q -- "$DATA" "$T/hosts.out" || check_fail "cdpfs hosts does not list the captured dir '$DATA'"
if "$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"; then
	jq . "$T/hosts.json" >/dev/null || check_fail "cdpfs hosts --json is not valid JSON: $(head -c 300 "$T/hosts.json")"
	grep -q -- "\"$HOST\"" "$T/hosts.json" || check_fail "cdpfs hosts --json does not name host '$HOST'"
else
	check_fail "cdpfs hosts --json exited non-zero"
fi

capture_stop "$DATA"
manifest "$DATA" >"$T/after-stop.manifest"
compare_manifest "$T/m/changed.manifest" "$T/after-stop.manifest" "native tree after stop" ||
	check_fail "the native tree after stop differs from what the capture mount showed"

mount_at "$HOST" latest "$T/mnt-latest"
ls -la "$T/mnt-latest$DATA"
manifest "$T/mnt-latest$DATA" >"$T/latest.got" || check_fail "manifest of mounted latest failed"
compare_manifest "$T/m/changed.manifest" "$T/latest.got" "$HOST@latest" ||
	check_fail "$HOST@latest differs from the tree at stop"
"$CDPFS" umount "$T/mnt-latest" || check_fail "cdpfs umount exited with $?"
if is_mounted "$T/mnt-latest"; then
	check_fail "cdpfs umount returned but the mount is still there"
else
	MOUNTS=()
fi

mount_at "$HOST:$DATA" latest "$T/mnt-root"
manifest "$T/mnt-root" >"$T/root.got" || check_fail "manifest of $HOST:$DATA@latest failed"
compare_manifest "$T/m/changed.manifest" "$T/root.got" "$HOST:$DATA@latest" ||
	check_fail "$HOST:$DATA@latest differs from the tree at stop"
umount_at "$T/mnt-root"

verify_checkpoints
finish
