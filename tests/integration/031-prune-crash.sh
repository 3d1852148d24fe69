# SPDX-License-Identifier: GPL-2.0-or-later
#
# 031-prune-crash - kill -9 of `cdpfs prune` and of `cdpfs gc` at random
# moments.  A stopped store holds a baseline and a burst of changes every
# second (each well inside its second), with recorded instants and
# manifests.  `--keep 1d:2s` keeps the newest state of every 2 s interval
# since the epoch, whatever "now" is, so the test knows the outcome.  Each
# of CDPFS_CRASH_ROUNDS rounds (default 4) starts from a copy of that store
# and kills the prune (odd rounds: prune with its gc) or the gc (even
# rounds: after a whole `prune --no-gc`) with SIGKILL at a random one of
# its crash points (CDPFS_CRASH_POINT=N, store/retain.c: after each logged
# batch, cut at 16 entries, and between the steps of a compaction); then
#   - the store opens and every recorded instant mounts exactly as either
#     its own state (not pruned yet) or the kept state it resolves to;
#   - `cdpfs verify` is clean (a crash leaves garbage at worst);
#   - the same command run again to its end gives exactly the kept states,
#     reclaims the space, and `verify --data` is clean;
# and in the last round `rebuild-index` (after `rm -rf index`) gives the
# same instants again.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

ROUNDS=${CDPFS_CRASH_ROUNDS:-4}
DATA=$T/data
make_baseline "$DATA"
head -c 512K /dev/urandom >"$DATA/big.bin"

ns_of() { local t=$1; echo "${t%.*}${t#*.}"; }
at_of() { echo "@${1:0:10}.${1:10}"; }
align() {
	local now frac
	now=$(date +%s%N)
	frac=$((now % 1000000000))
	sleep "$(printf '%d.%09d' $(((1300000000 - frac) / 1000000000)) $(((1300000000 - frac) % 1000000000)))"
}

NB=6
TS=()
align
capture_start "$DATA"
checkpoint p0 "$DATA"
read -r _ ts _ <<<"${CHECKPOINTS[0]}"
TS[0]=$(ns_of "$ts")
for i in $(seq 1 $NB); do
	align
	# written twice: the first version is seen by no state any rule keeps
	head -c 262144 /dev/urandom | dd of="$DATA/big.bin" bs=8192 seek=$(((i % 2) * 32)) conv=notrunc status=none
	head -c 262144 /dev/urandom | dd of="$DATA/big.bin" bs=8192 seek=$(((i % 2) * 32)) conv=notrunc status=none
	printf 'burst %d\n' "$i" >>"$DATA/hello.txt"
	rm -f "$DATA/f$((i - 1))"
	printf 'file %d\n' "$i" >"$DATA/f$i"
	checkpoint "p$i" "$DATA"
	read -r _ ts _ <<<"${CHECKPOINTS[$i]}"
	TS[i]=$(ns_of "$ts")
done
capture_stop "$DATA"
cp -a "$STORE" "$T/pristine"

E=2000000000
KEPT=()
for i in $(seq 0 $NB); do
	KEPT[i]=0
	if [ "$i" -eq "$NB" ] || [ $((TS[i] - TS[i] % E)) -ne $((TS[i + 1] - TS[i + 1] % E)) ]; then
		KEPT[i]=1
	fi
done
log "kept states: $(for i in $(seq 0 $NB); do [ "${KEPT[i]}" = 1 ] && printf 'p%d ' "$i"; done)"
want_of() {
	local i=$1 j w=-1
	for j in $(seq 0 "$i"); do [ "${KEPT[j]}" = 1 ] && w=$j; done
	echo "$w"
}

# check_instants LABEL EXACT: each instant mounts as its kept state, or
# (EXACT 0: after a crash) as its own state
check_instants() {
	local label=$1 exact=$2 i want mnt ok
	for i in $(seq 0 $NB); do
		want=$(want_of "$i")
		mnt=$T/mnt/$label-$i
		mkdir -p "$mnt"
		if [ "$want" -lt 0 ]; then
			if "$CDPFS" mount --store "$STORE" "$HOST$(at_of "${TS[i]}")" "$mnt" 2>/dev/null; then
				MOUNTS+=("$mnt")
				manifest "$mnt$DATA" >"$T/m/$label-$i.got"
				umount_at "$mnt"
				if [ "$exact" = 1 ] || ! cmp -s "$T/m/p$i.manifest" "$T/m/$label-$i.got"; then
					check_fail "$label: p$i lies before every kept state but mounted"
				fi
			fi
			continue
		fi
		mount_at "$HOST" "$(at_of "${TS[i]}")" "$mnt"
		manifest "$mnt$DATA" >"$T/m/$label-$i.got"
		umount_at "$mnt"
		ok=0
		cmp -s "$T/m/p$want.manifest" "$T/m/$label-$i.got" && ok=1
		[ "$exact" = 0 ] && cmp -s "$T/m/p$i.manifest" "$T/m/$label-$i.got" && ok=1
		if [ $ok = 0 ]; then
			compare_manifest "$T/m/p$want.manifest" "$T/m/$label-$i.got" "$label p$i" || true
			check_fail "$label: the instant of p$i mounts as neither p$want (kept) nor itself"
		fi
	done
}

# how many crash points a whole run has, on a copy
points() {
	CDPFS_CRASH_POINT=count "$@" 2>&1 >/dev/null | grep -c '^crash points:' || true
}
rm -rf "$STORE" && cp -a "$T/pristine" "$STORE"
full_prune=$(points "$CDPFS" prune --store "$STORE" "$HOST" --keep 1d:2s --threshold 0)
rm -rf "$STORE" && cp -a "$T/pristine" "$STORE"
"$CDPFS" prune --store "$STORE" "$HOST" --keep 1d:2s --no-gc >/dev/null || fail "prune --no-gc exited $?"
full_gc=$(points "$CDPFS" gc --store "$STORE" --threshold 0)
log "a whole prune has $full_prune crash points, a whole gc $full_gc"
[ "$full_prune" -gt 4 ] && [ "$full_gc" -gt 2 ] || fail "too few crash points to test"

for round in $(seq 1 "$ROUNDS"); do
	rm -rf "$STORE" && cp -a "$T/pristine" "$STORE"
	if [ $((round % 2)) = 1 ]; then
		what=prune
		cmd=("$CDPFS" prune --store "$STORE" "$HOST" --keep 1d:2s --threshold 0)
		full=$full_prune
	else
		what=gc
		"$CDPFS" prune --store "$STORE" "$HOST" --keep 1d:2s --no-gc >/dev/null ||
			fail "round $round: prune --no-gc exited $?"
		cmd=("$CDPFS" gc --store "$STORE" --threshold 0)
		full=$full_gc
	fi
	point=$((RANDOM % full + 1))
	rc=0
	CDPFS_CRASH_POINT=$point "${cmd[@]}" >"$T/run.out" 2>&1 || rc=$?
	[ "$rc" = 137 ] || check_fail "round $round: $what was not killed at crash point $point (exit $rc)"
	log "round $round: $what killed at crash point $point of $full"
	check_instants "r$round-crash" 0
	"$CDPFS" verify --store "$STORE" >"$T/verify.out" 2>&1 ||
		check_fail "round $round: verify after the killed $what exited $?: $(tail -3 "$T/verify.out")"
	"${cmd[@]}" >"$T/again.out" 2>&1 || check_fail "round $round: $what again exited $?: $(cat "$T/again.out")"
	check_instants "r$round-done" 1
	"$CDPFS" verify --store "$STORE" --data >"$T/verify.out" 2>&1 ||
		check_fail "round $round: verify --data after the whole $what exited $?: $(tail -3 "$T/verify.out")"
	before=$(du -sb "$T/pristine/segments" | cut -f1)
	after=$(du -sb "$STORE/segments" | cut -f1)
	[ "$after" -lt "$before" ] || check_fail "round $round: segments did not shrink ($before -> $after bytes)"
done

log "rebuild-index after the last round"
rm -rf "$STORE/index"
"$CDPFS" rebuild-index --store "$STORE" >"$T/rebuild.out" 2>&1 ||
	check_fail "rebuild-index exited $?: $(cat "$T/rebuild.out")"
check_instants rebuilt 1
finish
