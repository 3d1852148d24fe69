#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 152-mount-while-capturing - read-only mounts live next to a busy capture:
# a mount of an early instant keeps showing exactly that instant while the
# capture writes for a while (enough journal for the store to flush and
# compact under the reader, which must follow without EIO), and mounts of
# "latest" made during the writes each show a counter between the values
# written before and after the mount was made.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DURATION=${DURATION:-25}
DATA=$T/data
make_baseline "$DATA"
capture_start "$DATA"
printf '0\n' >"$DATA/counter"
checkpoint early "$DATA"
read -r _ t_early _ <<<"${CHECKPOINTS[-1]}"
mount_at "$HOST" "@$t_early" "$T/early"

# Writer: bumps the counter and churns files (about 1 MiB a round).
writer() {
	local i=0
	mkdir -p "$DATA/churn"
	while :; do
		i=$((i + 1))
		printf '%d\n' "$i" >"$DATA/counter.tmp" && mv "$DATA/counter.tmp" "$DATA/counter"
		head -c 262144 /dev/urandom >"$DATA/churn/f$((i % 50))"
		dd if=/dev/urandom of="$DATA/random.bin" bs=8192 count=1 seek=$((i % 12)) \
			conv=notrunc status=none
		[ -e "$T/stop-writer" ] && break
	done
}
writer &
WRITER=$!
at_exit "touch '$T/stop-writer'; wait $WRITER 2>/dev/null"

end=$((SECONDS + DURATION))
round=0
while [ $SECONDS -lt $end ]; do
	round=$((round + 1))
	manifest "$T/early$DATA" >"$T/early.got" 2>"$T/early.err" ||
		check_fail "round $round: manifest of the early mount failed: $(head -c 300 "$T/early.err")"
	compare_manifest "$T/m/early.manifest" "$T/early.got" "early, round $round" ||
		check_fail "round $round: the early mount changed while capture wrote"
	before=$(cat "$DATA/counter")
	mnt=$T/latest-$round
	mount_at "$HOST" latest "$mnt"
	after=$(cat "$DATA/counter")
	got=$(cat "$mnt$DATA/counter" 2>/dev/null || echo missing)
	if ! [[ $got =~ ^[0-9]+$ ]] || [ "$got" -lt "$before" ] || [ "$got" -gt "$after" ]; then
		check_fail "round $round: latest shows counter '$got', not within [$before, $after]"
	fi
	cmp -s "$mnt$DATA/hello.txt" "$DATA/hello.txt" || check_fail "round $round: hello.txt differs"
	"$CDPFS" umount "$mnt" || check_fail "round $round: cdpfs umount exited $?"
	MOUNTS=("$T/early")
	sleep 1
done
touch "$T/stop-writer"
wait "$WRITER" || true
log "$round rounds; counter reached $(cat "$DATA/counter")"

manifest "$T/early$DATA" >"$T/early.got" || check_fail "final manifest of the early mount failed"
compare_manifest "$T/m/early.manifest" "$T/early.got" "early, at the end" ||
	check_fail "the early mount changed by the end"
umount_at "$T/early"
capture_stop "$DATA"
finish
