# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (installs the system's mount helper)
#
# 008-mount-helper - `mount -t cdpfs -o store=S SPEC MNT` and fstab lines
# (`mount -T FSTAB MNT`) through mount.cdpfs.  cdpfs is installed with
# `make install DESTDIR=$T/root`; /sbin/mount.cdpfs is a symlink made only
# for this test and removed by its trap (the test is skipped when a real
# /sbin/mount.cdpfs is already installed: it is not ours to replace).  The
# helper finds the installed cdpfs through CDPFS_BIN.
. "$(dirname "$0")/lib.sh"
require_cdpfs
[ "$(id -u)" = 0 ] || skip "mount(8) of a helper in /sbin needs root"
require_cmd mount "util-linux mount(8)"

HELPER_LINK=/sbin/mount.cdpfs
if [ -e "$HELPER_LINK" ] || [ -L "$HELPER_LINK" ]; then
	skip "'$HELPER_LINK' already exists ($(readlink -f "$HELPER_LINK")); not replacing an installed helper"
fi

ROOT=$T/root
if make -C "$SRCDIR" -s install DESTDIR="$ROOT" PREFIX=/usr/local >"$T/install.log" 2>&1; then
	HELPER=$ROOT/sbin/mount.cdpfs
	export CDPFS_BIN=$ROOT/usr/local/bin/cdpfs
	[ -x "$HELPER" ] || check_fail "make install DESTDIR put no mount.cdpfs in '$ROOT/sbin': $(find "$ROOT" -type f | tr '\n' ' ')"
	[ -x "$CDPFS_BIN" ] || check_fail "make install DESTDIR put no cdpfs in '$ROOT/usr/local/bin'"
	for m in cdpfs.8 mount.cdpfs.8; do
		[ -f "$ROOT/usr/local/share/man/man8/$m" ] || check_fail "make install did not install man page $m"
	done
else
	check_fail "make install DESTDIR=$ROOT failed: $(tail -n 5 "$T/install.log" | tr '\n' '|')"
	HELPER=$BUILD/mount.cdpfs
	export CDPFS_BIN=$CDPFS
fi
[ -x "$HELPER" ] || HELPER=$BUILD/mount.cdpfs
[ -x "$CDPFS_BIN" ] || CDPFS_BIN=$CDPFS
ln -s "$HELPER" "$HELPER_LINK"
at_exit "rm -f '$HELPER_LINK'"

DATA=$T/data
make_baseline "$DATA"
capture_start "$DATA"
checkpoint c1 "$DATA"
printf 'second\n' >"$DATA/second"
checkpoint c2 "$DATA"
capture_stop "$DATA"
read -r _ ts1 _ <<<"${CHECKPOINTS[0]}"

# mount_check LABEL MNT EXPECTED_MANIFEST SUBDIR: MNT is a cdpfs mount whose
# SUBDIR matches the manifest; then umount(8) it.
mount_check() {
	local label=$1 mnt=$2 exp=$3 sub=$4
	if ! is_mounted "$mnt"; then
		check_fail "$label: '$mnt' is not mounted after mount(8) returned 0"
		return
	fi
	findmnt -rn -M "$mnt" -o SOURCE,FSTYPE,OPTIONS
	findmnt -rn -M "$mnt" -o OPTIONS | grep -q '\bro\b' || check_fail "$label: the mount is not flagged ro"
	manifest "$mnt$sub" >"$T/$label.got" || check_fail "$label: manifest of the mount failed"
	compare_manifest "$exp" "$T/$label.got" "$label" || check_fail "$label: mounted tree differs"
	umount "$mnt" || check_fail "$label: umount(8) of '$mnt' failed"
	if is_mounted "$mnt"; then force_unmount "$mnt"; fi
	return 0
}

MNT=$T/mnt
mkdir -p "$MNT"
MOUNTS+=("$MNT")
log "mount -t cdpfs -o store=$STORE $HOST@latest $MNT"
if mount -t cdpfs -o "store=$STORE" "$HOST@latest" "$MNT"; then
	mount_check "mount-t-latest" "$MNT" "$T/m/c2.manifest" "$DATA"
else
	check_fail "mount -t cdpfs -o store=S $HOST@latest failed"
fi

log "mount -t cdpfs -o ro,store=$STORE $HOST:$DATA@@$ts1 $MNT"
if mount -t cdpfs -o "ro,store=$STORE" "$HOST:$DATA@@$ts1" "$MNT"; then
	mount_check "mount-t-dir-instant" "$MNT" "$T/m/c1.manifest" ""
else
	check_fail "mount -t cdpfs $HOST:$DATA@@$ts1 failed"
fi

log "mount -T fstab $MNT"
printf '# test fstab\n%s@latest %s cdpfs ro,noauto,store=%s 0 0\n' "$HOST" "$MNT" "$STORE" >"$T/fstab"
cat "$T/fstab"
if mount -T "$T/fstab" "$MNT"; then
	mount_check "fstab-latest" "$MNT" "$T/m/c2.manifest" "$DATA"
else
	check_fail "mount -T fstab failed for line: $(tail -n 1 "$T/fstab")"
fi

# a time with a space, written \040 in fstab
when=$(date -d "@${ts1%.*}" '+%Y-%m-%d %H:%M:%S')
when_ns=${ts1#*.}
printf '%s@%s.%s %s cdpfs ro,noauto,store=%s 0 0\n' "$HOST" "${when// /\\040}" "$when_ns" "$MNT" "$STORE" >"$T/fstab2"
cat "$T/fstab2"
if mount -T "$T/fstab2" "$MNT"; then
	mount_check "fstab-time-with-space" "$MNT" "$T/m/c1.manifest" "$DATA"
else
	check_fail "mount -T fstab with a local date-time failed: $(cat "$T/fstab2")"
fi

# errors through mount(8) are still one clear line and no mount
rc=0
mount -t cdpfs -o "store=$STORE" "no-such-host@latest" "$MNT" 2>"$T/err" || rc=$?
log "mount of an unknown host: exit $rc: $(tr '\n' '|' <"$T/err")"
[ "$rc" -ne 0 ] || check_fail "mount -t cdpfs of an unknown host succeeded"
grep -q "$HOST" "$T/err" || check_fail "mount -t cdpfs of an unknown host: the message does not list '$HOST'"
is_mounted "$MNT" && { check_fail "unknown host got mounted"; force_unmount "$MNT"; }
finish
