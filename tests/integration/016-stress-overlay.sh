# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (heavy stress load)
#
# 016-stress-overlay - a writable overlay of an instant behaves like a
# native copy of that instant under the stress workload.  A captured
# directory gets a base from a multi-process run of tests/tools/stress;
# capture stops; a read-only mount of HOST@latest is copied natively
# (cp -a) and the same instant is mounted with -o rw (a private
# copy-on-write overlay).  The same single-process stress run (one seed) on
# the native copy and on the overlay must give the same per-op table and
# the same tree (manifests without mtimes, which differ).  Collapse and
# insert range are left out (-x): the Linux fuse module refuses them with
# EOPNOTSUPP on every FUSE mount.  A second pass, on a fresh copy and
# overlay, leaves RENAME_WHITEOUT out too, so that what differs beyond it
# shows as well (the first divergence ends a run's comparability).  Under
# a sanitizer build the load is a third.  STRESS_OPTS adds options to every
# stress run (see lib-stress.sh).
. "$(dirname "$0")/lib.sh"
require_cdpfs
[ "${CDPFS_IT_DRYRUN:-0}" = 1 ] && skip "a dry run has no instant to mount an overlay of"
. "$(dirname "$0")/lib-stress.sh"

if is_sanitizer_build; then
	SCALE=3
	log "sanitizer build: a third of the load"
else
	SCALE=1
fi

DATA=$T/data
make_baseline "$DATA"
capture_start "$DATA"
STRESS_RC=0
"$STRESS" -d "$DATA" -p 8 -n $((1000 / SCALE)) -s 1601 "${STRESS_EXTRA[@]}" >"$T/base.out" 2>"$T/base.err" || STRESS_RC=$?
stress_check base
capture_stop "$DATA"
mount_at "$HOST:$DATA" latest "$T/ro"
manifest "$T/ro" >"$T/ro.manifest" || check_fail "manifest of the read-only mount failed"

# overlay_pass NAME SEED DISABLED_OPS: a native copy of latest (cp -a of
# the read-only mount) and a fresh overlay of it; the same run on both.
overlay_pass() {
	local name=$1 seed=$2 disabled=$3 native=$T/native-$1 ov=$T/ov-$1 args
	log "pass $name: seed $seed, ops left out: $disabled"
	mkdir "$native"
	cp -a "$T/ro/." "$native/" || check_fail "pass $name: cp -a of the read-only mount failed"
	manifest "$native" >"$T/$name-native-base.manifest"
	compare_stress_manifest "$T/ro.manifest" "$T/$name-native-base.manifest" \
		"pass $name: native copy vs the read-only mount" ||
		check_fail "pass $name: cp -a of the read-only mount does not reproduce it"
	mount_at "$HOST:$DATA" latest "$ov" rw
	manifest -M "$native" >"$T/$name-native-start.manifest"
	manifest -M "$ov" >"$T/$name-ov-start.manifest" ||
		check_fail "pass $name: manifest of the fresh overlay failed"
	compare_stress_manifest "$T/$name-native-start.manifest" "$T/$name-ov-start.manifest" \
		"pass $name: fresh overlay vs the native copy (no mtimes)" ||
		check_fail "pass $name: a fresh overlay differs from the native copy of the same instant"

	args=(-v -p 1 -n $((3000 / SCALE)) -s "$seed" -x "$disabled")
	"$STRESS" -d "$native" "${args[@]}" "${STRESS_EXTRA[@]}" >"$T/$name-native.out" 2>"$T/$name-native.err" ||
		check_fail "pass $name: stress on the native copy exited $?: $(tail -n 3 "$T/$name-native.err")"
	STRESS_RC=0
	"$STRESS" -d "$ov" "${args[@]}" "${STRESS_EXTRA[@]}" >"$T/$name-ov.out" 2>"$T/$name-ov.err" || STRESS_RC=$?
	# the -v op log stays in the .err file; the check shows the table
	stress_check "$name-ov"
	if ! diff -u "$T/$name-native.out" "$T/$name-ov.out" >"$T/$name-table.diff"; then
		log "pass $name: per-op tables differ (-native +overlay):"
		grep '^[-+][a-z]' "$T/$name-table.diff" || true
		log "pass $name: the first ops with another result (< native, > overlay):"
		stress_divergence "$T/$name-native.err" "$T/$name-ov.err" | tee "$T/$name-first.diff"
		# ext4 keeps an inode's xattrs in one block: a setxattr that
		# overflows it is ENOSPC natively, while the overlay keeps xattrs
		# in its index with no such limit.  That difference alone is the
		# filesystem's capacity, not the overlay's behaviour; the trees
		# must still match below.
		if grep -m1 '^<' "$T/$name-first.diff" | grep -q 'setxattr .*: ENOSPC$'; then
			log "pass $name: natively ext4's xattr space of one inode filled (ENOSPC); the overlay has no such limit: not a failure"
		else
			check_fail "pass $name: different op results natively and on the overlay"
		fi
	fi
	manifest -M "$native" >"$T/$name-native-end.manifest"
	manifest -M "$ov" >"$T/$name-ov-end.manifest" ||
		check_fail "pass $name: manifest of the overlay after the run failed"
	if compare_stress_manifest "$T/$name-native-end.manifest" "$T/$name-ov-end.manifest" \
		"pass $name: overlay vs native copy after the same run (no mtimes)"; then
		log "pass $name: same tree on the overlay as on the native copy ($(wc -l <"$T/$name-native-end.manifest") entries)"
	else
		check_fail "pass $name: the same stress run gives another tree on the overlay than on a native copy"
	fi
	umount_at "$ov"
}

overlay_pass all 1602 collapse,insert
overlay_pass nowhiteout 1603 collapse,insert,rename_whiteout
umount_at "$T/ro"
finish
