#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 150-cli-usage - the command line without any capture: help and version,
# --help on every verb, usage errors (exit 2, one line), and the mount
# errors that need no history: bad SPEC, bad or refused options, missing
# store, missing/non-directory/busy mount point.  Also mount.cdpfs's
# argument handling in fake mode (-f -v), which prints the cdpfs command it
# would run: store= pulled out, rw dropped.  The help of every verb is
# compared with its golden file (tests/golden/help/).
. "$(dirname "$0")/lib.sh"
require_cdpfs

MOUNT_HELPER=$BUILD/mount.cdpfs

# expect_usage LABEL CMD...: exit 2 and one "cdpfs:" line on stderr.
expect_usage() {
	local label=$1 rc=0
	shift
	"$@" >"$T/usage.out" 2>"$T/usage.err" || rc=$?
	log "$label: exit $rc, stderr: $(head -c 300 "$T/usage.err" | tr '\n' '|')"
	[ "$rc" -eq 2 ] || check_fail "$label: expected exit 2, got $rc"
	[ "$(wc -l <"$T/usage.err")" -eq 1 ] && grep -q '^cdpfs:' "$T/usage.err" ||
		check_fail "$label: expected one 'cdpfs:' line on stderr"
}

# expect_msg LABEL REGEX CMD...: as expect_fail, and the line matches REGEX.
expect_msg() {
	local label=$1 re=$2
	shift 2
	expect_fail "$label" "$@" || return 0
	grep -Eq -- "$re" "$T/expect.err" ||
		check_fail "$label: message does not match /$re/: $(cat "$T/expect.err")"
}

# ------------------------------------------------------------ help, version
"$CDPFS" help >"$T/help.out" || check_fail "cdpfs help exited $?"
for verb in capture mount umount hosts version help; do
	grep -q "^  $verb " "$T/help.out" || check_fail "cdpfs help does not list '$verb'"
	"$CDPFS" "$verb" --help >"$T/verb-help.out" 2>&1 ||
		check_fail "cdpfs $verb --help exited non-zero"
	grep -q "^usage: cdpfs $verb" "$T/verb-help.out" ||
		check_fail "cdpfs $verb --help does not start with its usage"
	"$CDPFS" help "$verb" | cmp -s - "$T/verb-help.out" ||
		check_fail "cdpfs help $verb differs from cdpfs $verb --help"
done
"$CDPFS" version | grep -Eq '^cdpfs [0-9]+\.[0-9]+' || check_fail "cdpfs version output"
# the help texts, byte for byte (mount's ends with fs/'s option list: only
# the part the cli writes is golden)
golden_check help/cdpfs.txt "$T/help.out"
rc=0
"$CDPFS" 2>"$T/noverb.err" || rc=$?
[ "$rc" -eq 2 ] || check_fail "cdpfs without a verb exited $rc, expected 2"
golden_check help/cdpfs.txt "$T/noverb.err"
for verb in capture mount umount hosts diff log restore timeline suspects overlay drill bisect verify snapshot pin unpin prune gc policy stats audit serve certs version help; do
	"$CDPFS" help "$verb" >"$T/help-$verb.out" || check_fail "cdpfs help $verb exited $?"
	golden_check "help/$verb.txt" "$T/help-$verb.out" "$([ "$verb" = mount ] && echo prefix)"
done
"$CDPFS" --help >/dev/null || check_fail "cdpfs --help exited non-zero"

# ------------------------------------------------------------ usage errors
expect_usage "no verb" "$CDPFS" nosuchverb
expect_usage "help of unknown verb" "$CDPFS" help nosuchverb
expect_usage "mount without mount point" "$CDPFS" mount h@latest
expect_usage "mount, unknown option" "$CDPFS" mount --bogus h@latest "$T"
expect_usage "mount -o without value" "$CDPFS" mount h@latest "$T" -o
expect_usage "capture without dir" "$CDPFS" capture --store "$STORE"
expect_usage "capture, bad --mem-limit" "$CDPFS" capture --mem-limit 12Q "$T"
expect_usage "hosts, extra argument" "$CDPFS" hosts extra
expect_usage "umount without mount point" "$CDPFS" umount

# ------------------------------------------------------------ mount errors
mkdir -p "$T/mnt" "$T/emptystore"
touch "$T/afile"
expect_msg "bad SPEC, no time" "no time" "$CDPFS" mount --store "$STORE" db01 "$T/mnt"
expect_msg "bad SPEC, relative dir" "absolute" "$CDPFS" mount --store "$STORE" db01:data@latest "$T/mnt"
expect_msg "bad SPEC, host" "not a host name" "$CDPFS" mount --store "$STORE" 'd b@latest' "$T/mnt"
expect_msg "bad SPEC, empty time" "empty time" "$CDPFS" mount --store "$STORE" db01@ "$T/mnt"
expect_msg "overlay= needs rw" "needs a writable overlay" "$CDPFS" mount --store "$STORE" -o overlay=k db01@latest "$T/mnt"
expect_msg "unknown -o" "unknown mount option 'frobnicate'" \
	"$CDPFS" mount --store "$STORE" -o ro,frobnicate db01@latest "$T/mnt"
expect_msg "missing mount point" "does not exist" \
	"$CDPFS" mount --store "$STORE" db01@latest "$T/nomnt"
expect_msg "mount point is a file" "not a directory" \
	"$CDPFS" mount --store "$STORE" db01@latest "$T/afile"
expect_msg "missing store" "no store at '$T/nostore'" \
	"$CDPFS" mount --store "$T/nostore" db01@latest "$T/mnt"
expect_msg "missing store from CDPFS_STORE" "no store at '$T/nostore2'" \
	env CDPFS_STORE="$T/nostore2" "$CDPFS" mount db01@latest "$T/mnt"
expect_msg "missing store from -o store=" "no store at '$T/nostore3'" \
	"$CDPFS" mount -o store="$T/nostore3" db01@latest "$T/mnt"
expect_msg "hosts of a missing store" "no store at" "$CDPFS" hosts --store "$T/nostore"

mkdir -p "$T/busy"
if mount -t tmpfs cdpfs-it-busy "$T/busy" 2>/dev/null; then
	at_exit "umount '$T/busy'"
	expect_msg "busy mount point" "is busy" "$CDPFS" mount --store "$STORE" db01@latest "$T/busy"
	expect_msg "umount of a non-cdpfs-made path" "not mounted" "$CDPFS" umount "$T/mnt"
else
	log "cannot mount a tmpfs here; busy mount point not checked"
fi
is_mounted "$T/mnt" && check_fail "a failed mount left '$T/mnt' mounted"

# ------------------------------------------------------------ mount.cdpfs
if [ -x "$MOUNT_HELPER" ]; then
	CDPFS_BIN=/bin/true "$MOUNT_HELPER" 'db01@2025-12-02 12:33' "$T/mnt" -f -v \
		-o rw,store=/x/store,nosuid,x-systemd.automount 2>"$T/helper.err" ||
		check_fail "mount.cdpfs -f exited non-zero"
	cat "$T/helper.err"
	grep -Fq "/bin/true 'mount' '--store' '/x/store' '-o' 'nosuid,x-systemd.automount' '--verbose' '--' 'db01@2025-12-02 12:33' '$T/mnt'" \
		"$T/helper.err" || check_fail "mount.cdpfs does not build the expected cdpfs command"
	CDPFS_BIN=/bin/true "$MOUNT_HELPER" db01@latest "$T/mnt" -f -v -o rw 2>"$T/helper2.err" ||
		check_fail "mount.cdpfs -f -o rw exited non-zero"
	grep -Fq "'mount' '--verbose' '--' 'db01@latest'" "$T/helper2.err" ||
		check_fail "mount.cdpfs passes mount(8)'s implicit rw on: $(cat "$T/helper2.err")"
	CDPFS_BIN=/bin/true "$MOUNT_HELPER" db01@latest "$T/mnt" -f -v -o rw,cow 2>"$T/helper4.err" ||
		check_fail "mount.cdpfs -f -o rw,cow exited non-zero"
	grep -Fq "'-o' 'rw' '--verbose' '--' 'db01@latest'" "$T/helper4.err" ||
		check_fail "mount.cdpfs: -o cow should become rw (a private overlay): $(cat "$T/helper4.err")"
	CDPFS_BIN=/bin/true "$MOUNT_HELPER" db01 "$T/mnt" -f -v -o rw,overlay=k1 2>"$T/helper5.err" ||
		check_fail "mount.cdpfs -f -o rw,overlay=k1 exited non-zero"
	grep -Fq "'-o' 'overlay=k1,rw'" "$T/helper5.err" ||
		check_fail "mount.cdpfs: -o overlay=NAME should bring rw along: $(cat "$T/helper5.err")"
	rc=0
	"$MOUNT_HELPER" >/dev/null 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || check_fail "mount.cdpfs without arguments exited 0"
	CDPFS_BIN="$T/missing-cdpfs" "$MOUNT_HELPER" db01@latest "$T/mnt" 2>"$T/helper3.err" && \
		check_fail "mount.cdpfs with a missing cdpfs binary exited 0"
	grep -q "cannot run" "$T/helper3.err" || check_fail "mount.cdpfs: no message for a missing cdpfs"
else
	log "no $MOUNT_HELPER; helper not checked"
fi

finish
