# SPDX-License-Identifier: GPL-2.0-or-later
#
# 012-time-forms - every TIME form of the command contract, end to end
# through `cdpfs mount`: a history of two snapshots (tests/tools/
# snapshot_store, no capture needed) three seconds apart, and an instant S
# (a whole second) between them written as @S, @S.000000000, local
# 2025-12-02T12:33:07, '2025-12-02 12:33:07', with a fraction, with Z, with
# +08:00, -05:30, -0530, under another local zone (TZ), and relative -Ns; latest
# must give the second snapshot.  Each mount must show the first snapshot.
. "$(dirname "$0")/lib.sh"
require_cdpfs
SNAP=$BUILD/tests/snapshot_store
[ -x "$SNAP" ] || fail "'$SNAP' is not built (make builds tests/tools/*.c)"

DATA=$T/data
mkdir -p "$DATA"
printf 'one\n' >"$DATA/marker"
ts1=$("$SNAP" "$STORE" "$HOST" "$DATA") || fail "snapshot_store failed"
ts1=${ts1#@}
# S: the first whole second at least 0.5 s after ts1
S=$(( ${ts1%.*} + 1 ))
[ "${ts1#*.}" \< "500000000" ] || S=$((S + 1))
while [ "$(date +%s)" -lt $((S + 2)) ]; do sleep 0.1; done
printf 'two\n' >"$DATA/marker"
ts2=$("$SNAP" "$STORE" "$HOST" "$DATA") || fail "snapshot_store failed"
ts2=${ts2#@}
log "snapshot 1 at @$ts1, S = @$S, snapshot 2 at @$ts2"

# expect_marker TIME EXPECTED [ENV...]: mount HOST@TIME, marker must say EXPECTED
expect_marker() {
	local time=$1 want=$2 mnt got rc=0
	shift 2
	mnt=$T/mnt
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	env "$@" "$CDPFS" mount --store "$STORE" "$HOST:$DATA@$time" "$mnt" 2>"$T/err" || rc=$?
	if [ $rc -ne 0 ]; then
		check_fail "TIME '$time' ${*:+($*)}: mount failed: $(cat "$T/err")"
		return 0
	fi
	got=$(cat "$mnt/marker" 2>&1)
	if [ "$got" = "$want" ]; then
		log "TIME '$time' ${*:+($*)}: '$got' as expected"
	else
		check_fail "TIME '$time' ${*:+($*)}: marker is '$got', expected '$want'"
	fi
	umount_at "$mnt"
}

utc() { TZ=UTC date -d "@$S" "+$1"; }
utc_at() { TZ=UTC date -d "@$1" "+$2"; }
expect_marker "@$S" one
expect_marker "@$S.000000000" one
expect_marker "@$S.5" one
expect_marker "$(date -d "@$S" +%Y-%m-%dT%H:%M:%S)" one
expect_marker "$(date -d "@$S" '+%Y-%m-%d %H:%M:%S')" one
expect_marker "$(date -d "@$S" '+%Y-%m-%d %H:%M:%S').250" one
expect_marker "$(utc %Y-%m-%dT%H:%M:%SZ)" one
expect_marker "$(TZ=Asia/Shanghai date -d "@$S" +%Y-%m-%dT%H:%M:%S)+08:00" one
expect_marker "$(utc_at $((S - 19800)) %Y-%m-%dT%H:%M:%S)-05:30" one
expect_marker "$(utc_at $((S - 19800)) %Y-%m-%dT%H:%M:%S)-0530" one
expect_marker "$(TZ=Asia/Shanghai date -d "@$S" +%Y-%m-%dT%H:%M:%S)" one TZ=Asia/Shanghai
expect_marker "$(TZ=America/New_York date -d "@$S" '+%Y-%m-%d %H:%M:%S')" one TZ=America/New_York
expect_marker latest two
expect_marker "@$ts1" one
expect_marker "@$ts2" two
now=$(date +%s)
expect_marker "-$((now - S))s" one
finish
