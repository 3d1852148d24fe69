# SPDX-License-Identifier: GPL-2.0-or-later
#
# 033-policy-crash - the capture daemon is killed (SIGKILL) in the middle of
# a policy prune it runs by itself, and its supervisor brings capture back.
# A tree is captured with a burst of changes every second (each well inside
# its second, as in 031) and recorded instants; a snapshot of the live store
# tells how many crash points a whole prune has.  The daemon runs with
# CDPFS_CRASH_POINT=N (N random within the prune) and CDPFS_CRASH_ONCE, so
# only the first daemon dies.  `policy set --keep 1d:2s` (kept states known
# whatever "now" is); then:
#   - the daemon dies at its crash point and the supervisor restarts it
#     (capture.log says both);
#   - the restarted daemon applies the policy to its end (its "pruned
#     (policy)" line: the killed one logs none, every point precedes it);
#   - every recorded instant mounts exactly as the kept state it resolves
#     to, an instant before the first kept state is refused, the live
#     directory journals again (a new instant mounts as the live tree), and
#     `verify --data` is clean;
#   - on a terminal (script(1)), gc through the daemon and prune with the
#     store opened by cdpfs show a progress line per phase (with its
#     totals at the end), and neither does when stderr is not a terminal
#     or with --json.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

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

export CDPFS_POLICY_INTERVAL_S=2 CDPFS_POLICY_CHECK_S=1
NB=5
TS=()
align
# 1. the store up to its last burst, in a first session with no crash point
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
"$CDPFS" snapshot --store "$STORE" "$T/snap" >"$T/snap.out" 2>&1 ||
	fail "snapshot of the live store exited $?: $(cat "$T/snap.out")"
capture_stop "$DATA"
for _ in $(seq 1 100); do [ -e "$STORE/capture.sock" ] || break; sleep 0.1; done
[ -e "$STORE/capture.sock" ] && fail "the capture daemon did not exit after the stop"

full=$(CDPFS_CRASH_POINT=count "$CDPFS" prune --store "$T/snap" "$HOST" --keep 1d:2s --no-gc 2>&1 \
	>/dev/null | grep -c '^crash points:' || true)
[ "$full" -gt 2 ] || fail "a whole prune has too few crash points to test ($full)"
point=$((RANDOM % full + 1))
rm -rf "$T/snap"
log "a whole prune has $full crash points; the daemon dies at point $point"

E=2000000000
KEPT=()
for i in $(seq 0 $NB); do
	KEPT[i]=0
	if [ "$i" -eq "$NB" ] || [ $((TS[i] - TS[i] % E)) -ne $((TS[i + 1] - TS[i + 1] % E)) ]; then
		KEPT[i]=1
	fi
done
log "kept states: $(for i in $(seq 0 $NB); do [ "${KEPT[i]}" = 1 ] && printf 'p%d ' "$i"; done)"

# 2. a daemon that kills itself at that point of its first prune; its
# first operations come in a later 2 s interval than p$NB's
sleep 2.1
before=("${DAEMON_PIDS[@]}")
CDPFS_CRASH_POINT=$point CDPFS_CRASH_ONCE=$T/crashed capture_start "$DATA"
new_daemon_pids "${before[@]}"
log "capture processes: ${VICTIMS[*]}"
"$CDPFS" policy set --store "$STORE" "$HOST" --keep 1d:2s >"$T/policy.out" 2>&1 ||
	fail "policy set exited $?: $(cat "$T/policy.out")"
for _ in $(seq 1 100); do [ -e "$T/crashed" ] && break; sleep 0.1; done
[ -e "$T/crashed" ] || fail "the daemon did not reach crash point $point of its policy prune in 10 s"
for _ in $(seq 1 150); do grep -q "capture daemon restarted" "$STORE/capture.log" && break; sleep 0.1; done
grep -q "capture daemon restarted" "$STORE/capture.log" ||
	fail "the supervisor did not restart the daemon killed in its prune: $(tail -5 "$STORE/capture.log")"
grep -q "capture daemon (pid [0-9]*) of store .* was killed by signal 9" "$STORE/capture.log" || check_fail "capture.log does not say the daemon was killed: $(grep -i 'capture daemon' "$STORE/capture.log" | tail -3)"
record_daemon_pids

# 3. the restarted daemon prunes to the end: the pruned log line after the restart
done_=0
for _ in $(seq 1 100); do
	if sed -n '/capture daemon restarted/,$p' "$STORE/capture.log" | grep -q "pruned (policy)"; then
		done_=1
		break
	fi
	sleep 0.1
done
[ $done_ = 1 ] || fail "the restarted daemon did not apply the policy in 10 s: $(tail -5 "$STORE/capture.log")"

want_of() {
	local i=$1 j w=-1
	for j in $(seq 0 "$i"); do [ "${KEPT[j]}" = 1 ] && w=$j; done
	echo "$w"
}
for i in $(seq 0 $NB); do
	want=$(want_of "$i")
	mnt=$T/mnt/after-$i
	mkdir -p "$mnt"
	if [ "$want" -lt 0 ]; then
		if "$CDPFS" mount --store "$STORE" "$HOST$(at_of "${TS[i]}")" "$mnt" 2>/dev/null; then
			MOUNTS+=("$mnt")
			umount_at "$mnt"
			check_fail "p$i lies before every kept state but mounted"
		fi
		continue
	fi
	mount_at "$HOST" "$(at_of "${TS[i]}")" "$mnt"
	manifest "$mnt$DATA" >"$T/m/after-$i.got"
	umount_at "$mnt"
	compare_manifest "$T/m/p$want.manifest" "$T/m/after-$i.got" "p$i after the crash" ||
		check_fail "the instant of p$i does not mount as p$want (its kept state) after the daemon died in its prune"
done

printf 'after the crash\n' >"$DATA/after"
CHECKPOINTS=()
checkpoint live "$DATA"
verify_checkpoints
"$CDPFS" verify --store "$STORE" --data >"$T/verify.out" 2>&1 ||
	check_fail "verify --data after the daemon died in its prune exited $?: $(tail -3 "$T/verify.out")"

# 4. progress of prune and gc on a terminal (script(1) gives them one):
# through the daemon, then with the store opened by cdpfs itself
# progress_check LABEL FILE PATTERN...: each PATTERN is in FILE
progress_check() {
	local label=$1 file=$2 pat
	shift 2
	for pat in "$@"; do
		tr '\r' '\n' <"$file" | grep -q -- "$pat" ||
			check_fail "$label: no progress line '$pat' on the terminal: $(tr '\r' '\n' <"$file" | tail -5)"
	done
}
if command -v script >/dev/null; then
	script -qec "'$CDPFS' gc --store '$STORE' --threshold 0" /dev/null >"$T/gc.tty" 2>&1 ||
		check_fail "gc on a terminal (through the daemon) exited $?: $(cat "$T/gc.tty")"
	progress_check "gc through the daemon" "$T/gc.tty" "^cdpfs: gc: marking: [0-9]" \
		"^cdpfs: gc: sweeping: [0-9]" "^cdpfs: gc: compacting: \([0-9]*\) of \1 (100%)"
	tr '\r' '\n' <"$T/gc.tty" | grep -q "^gc: [0-9]* of [0-9]* chunks" ||
		check_fail "gc on a terminal printed no summary: $(cat "$T/gc.tty")"
fi
"$CDPFS" gc --store "$STORE" --threshold 0 >"$T/gc.out" 2>"$T/gc.err" || check_fail "gc exited $?"
[ -s "$T/gc.err" ] && check_fail "gc wrote to stderr when it is not a terminal: $(cat "$T/gc.err")"
capture_stop "$DATA"
if command -v script >/dev/null; then
	script -qec "'$CDPFS' prune --store '$STORE' '$HOST' --keep 1d:2s" /dev/null >"$T/prune.tty" 2>&1 ||
		check_fail "prune on a terminal exited $?: $(cat "$T/prune.tty")"
	progress_check "prune" "$T/prune.tty" "^cdpfs: prune: time entries: \([0-9]*\) of \1 (100%)" \
		"^cdpfs: prune: block versions: [1-9]" "^cdpfs: prune: inode versions: [1-9]" \
		"^cdpfs: gc: marking: [1-9]"
	script -qec "'$CDPFS' prune --store '$STORE' '$HOST' --keep 1d:2s --json" /dev/null >"$T/prune-json.tty" 2>&1 ||
		check_fail "prune --json on a terminal exited $?"
	grep -q "cdpfs: prune:" "$T/prune-json.tty" && check_fail "prune --json showed progress on the terminal"
fi
finish
