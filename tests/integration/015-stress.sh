# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (heavy stress load)
#
# 015-stress - the product promise under concurrent load: the tree mounted
# at T equals the live tree at T.  A captured directory takes three runs of
# tests/tools/stress (fsstress-like: every journaled operation, processes
# colliding on one shared tree, writes and ftruncate through descriptors
# held open while other processes rename and unlink the files) with 16, 8
# and 4 processes and different seeds, each in rounds; at the end of each
# round, with no operation in flight, a checkpoint records the instant and
# the manifest of the live tree (mtimes and xattrs included).  Every
# checkpoint and `latest` are then mounted and must match.  ESTALE, EIO,
# ENOTCONN, EAGAIN, ECONNABORTED or EBADF from any operation fail the test
# (ext4 never returns them for this workload).
#
# Then determinism through capture: a single-process run with a fixed seed
# on a native directory and in the captured directory must give the same
# tree (manifests without mtimes, which differ) and the same per-op table.
# Collapse and insert range are left out of that run (-x): the Linux fuse
# module refuses them with EOPNOTSUPP on every FUSE mount, so they succeed
# natively only.  Under a sanitizer build the load is a third.
# STRESS_OPTS adds options to every stress run (see lib-stress.sh).
. "$(dirname "$0")/lib.sh"
require_cdpfs
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
checkpoint base "$DATA"

# three concurrent runs on the same, growing tree
stress_rounds p16 "$DATA" -p 16 -n $((1100 / SCALE)) -s 1501 -r 3
stress_check p16
stress_rounds p8 "$DATA" -p 8 -n $((1400 / SCALE)) -s 1502 -r 3
stress_check p8
stress_rounds p4 "$DATA" -p 4 -n $((2000 / SCALE)) -s 1503 -r 2
stress_check p4

# the same seed, one process, natively and through capture
SOLO_ARGS=(-p 1 -n $((2000 / SCALE)) -s 4242 -x collapse,insert)
NATIVE=$T/native-solo
mkdir "$NATIVE" "$DATA/solo"
# the same start: not the owner, mode or set-gid bit inherited from $DATA
chown 0:0 "$NATIVE" "$DATA/solo"
chmod 00755 "$NATIVE" "$DATA/solo"
"$STRESS" -d "$NATIVE" "${SOLO_ARGS[@]}" "${STRESS_EXTRA[@]}" >"$T/solo-native.out" 2>"$T/solo-native.err" ||
	check_fail "stress on the native directory exited $?: $(tail -n 3 "$T/solo-native.err")"
STRESS_RC=0
"$STRESS" -d "$DATA/solo" "${SOLO_ARGS[@]}" "${STRESS_EXTRA[@]}" >"$T/solo.out" 2>"$T/solo.err" || STRESS_RC=$?
stress_check solo
if ! diff -u "$T/solo-native.out" "$T/solo.out" >"$T/solo.table.diff"; then
	log "per-op tables differ (-native +capture):"
	cat "$T/solo.table.diff"
	check_fail "single-process stress: different op results natively and through capture"
fi
manifest -M "$NATIVE" >"$T/solo-native.manifest"
manifest -M "$DATA/solo" >"$T/solo-capture.manifest" ||
	check_fail "manifest of '$DATA/solo' through capture failed"
if compare_stress_manifest "$T/solo-native.manifest" "$T/solo-capture.manifest" \
	"single-process stress, native vs capture (no mtimes)"; then
	log "single-process stress: same tree natively and through capture ($(wc -l <"$T/solo-native.manifest") entries)"
else
	check_fail "single-process stress with one seed gives a different tree through capture"
fi

checkpoint end "$DATA"
capture_stop "$DATA"

verify_stress_checkpoints

# latest, after the stop, is the end of the run
if [ "${CDPFS_IT_DRYRUN:-0}" != 1 ]; then
	mount_at "$HOST" latest "$T/mnt/latest"
	manifest "$T/mnt/latest$DATA" >"$T/latest.got" || check_fail "manifest of the latest mount failed"
	if compare_stress_manifest "$T/m/end.manifest" "$T/latest.got" "latest vs the live tree at the end"; then
		log "latest: mounted tree matches the end of the run"
	else
		check_fail "latest: mounted tree differs from the live tree at the end"
	fi
	umount_at "$T/mnt/latest"
fi
finish
