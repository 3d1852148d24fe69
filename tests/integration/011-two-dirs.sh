# SPDX-License-Identifier: GPL-2.0-or-later
#
# 011-two-dirs - several protected directories in one store: a second
# `cdpfs capture` of another directory while the first runs, a third
# directory under another host name, read-only mounts while all of them are
# captured.  HOST@T shows every directory of HOST at its absolute path;
# stopping one leaves the others protected; `cdpfs hosts` lists both hosts.
. "$(dirname "$0")/lib.sh"
require_cdpfs

A=$T/dir-a
B=$T/dir-b
C=$T/dir-c
make_baseline "$A"
make_baseline "$B"
make_baseline "$C"
printf 'only in b\n' >"$B/b-only"

capture_start "$A"
capture_start "$B"
HOST_MAIN=$HOST
HOST=${HOST_MAIN}x
capture_start "$C"
HOST=$HOST_MAIN

printf 'a1\n' >"$A/new"
printf 'b1\n' >"$B/new"
printf 'c1\n' >"$C/new"
sleep 0.02
t1=$(date +%s.%N)
manifest "$A" >"$T/a1"
manifest "$B" >"$T/b1"
manifest "$C" >"$T/c1"
sleep 0.02

# mount while all three are captured
mount_at "$HOST" "@$t1" "$T/mnt1"
manifest "$T/mnt1$A" >"$T/a1.got" && compare_manifest "$T/a1" "$T/a1.got" "dir a at t1" ||
	check_fail "dir a at t1 differs (mounted while capture runs)"
manifest "$T/mnt1$B" >"$T/b1.got" && compare_manifest "$T/b1" "$T/b1.got" "dir b at t1" ||
	check_fail "dir b at t1 differs (mounted while capture runs)"
[ -e "$T/mnt1$C" ] && check_fail "dir c of host ${HOST}x appears under host $HOST"
umount_at "$T/mnt1"
mount_at "${HOST}x" "@$t1" "$T/mnt1c"
manifest "$T/mnt1c$C" >"$T/c1.got" && compare_manifest "$T/c1" "$T/c1.got" "dir c at t1" ||
	check_fail "dir c (host ${HOST}x) at t1 differs"
umount_at "$T/mnt1c"

capture_stop "$A"
printf 'b2\n' >>"$B/new" || check_fail "dir b stopped working when dir a's capture stopped"
is_mounted "$B" || check_fail "dir b is no longer captured after stopping dir a"
sleep 0.02
t2=$(date +%s.%N)
manifest "$B" >"$T/b2"
sleep 0.02

"$CDPFS" hosts --store "$STORE" >"$T/hosts.out" || check_fail "cdpfs hosts failed"
cat "$T/hosts.out"
grep -q -- "$HOST " "$T/hosts.out" || grep -q -- "$HOST\$" "$T/hosts.out" || check_fail "hosts does not list $HOST"
grep -q -- "${HOST}x" "$T/hosts.out" || check_fail "hosts does not list ${HOST}x"

mount_at "$HOST" "@$t2" "$T/mnt2"
manifest "$T/mnt2$B" >"$T/b2.got" && compare_manifest "$T/b2" "$T/b2.got" "dir b at t2" ||
	check_fail "dir b at t2 differs"
manifest "$T/mnt2$A" >"$T/a2.got" && compare_manifest "$T/a1" "$T/a2.got" "dir a at t2 (stopped)" ||
	check_fail "dir a at t2 (after its stop) differs from its last state"
umount_at "$T/mnt2"
capture_stop "$B"
capture_stop "$C"
finish
