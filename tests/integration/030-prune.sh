# SPDX-License-Identifier: GPL-2.0-or-later
#
# 030-prune - thinning ground truth, through a running capture daemon.
# A tree is captured through a burst of changes every half second (each
# well inside its half second, so no interval edge cuts one), with a recorded
# instant and manifest after each; a pin, a named overlay, a view kept
# mounted and the newest passing drill protect four of them.  Then
#   `cdpfs prune --keep 2s:all --keep 12s:4s --threshold 0` (while capture
#   runs) and, from the prune's own "now", the test works out which states
#   the rules keep (epoch-aligned 4 s intervals, the newest state of each,
#   the straddling interval to the finer rule, older than 12 s gone, the
#   protected ones kept) and requires every recorded instant to mount
#   exactly as the kept state at or before it, the instants before the
#   oldest kept state to be refused, the mounted view to read on unchanged,
#   space to come back (the sealed segment of the first session compacted),
#   `cdpfs verify --data` to be clean, hosts to show the oldest kept
#   instant, and `rebuild-index` after `rm -rf index` to give the same
#   instants.  A dry run before it removes nothing.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

DATA=$T/data
make_baseline "$DATA"
head -c 1M /dev/urandom >"$DATA/big.bin"
capture_start "$DATA"
# rewritten three times at once: the versions between are seen by no state
# the rules keep, so the first session's segment holds garbage
for _ in 1 2 3; do head -c 1M /dev/urandom | dd of="$DATA/big.bin" conv=notrunc status=none; done
capture_stop "$DATA"
# the second session writes into a new segment: the first one is sealed
capture_start "$DATA"

ns_of() { local t=$1; echo "${t%.*}${t#*.}"; }

# sleeps until 0.15 s into the next half second: a burst then ends well
# before the half second is over, so no interval edge cuts one
align() {
	local now frac wait
	now=$(date +%s%N)
	frac=$((now % 500000000))
	wait=$(((650000000 - frac) % 500000000))
	[ "$wait" -lt 50000000 ] && wait=$((wait + 500000000))
	sleep "0.$(printf '%09d' "$wait")"
}

NB=14
TS=()
for i in $(seq 1 $NB); do
	align
	head -c 262144 /dev/urandom | dd of="$DATA/big.bin" bs=8192 seek=$((i * 8)) conv=notrunc status=none
	printf 'burst %d\n' "$i" >>"$DATA/hello.txt"
	printf 'file %d\n' "$i" >"$DATA/f$i"
	checkpoint "p$i" "$DATA"
	read -r _ ts _ <<<"${CHECKPOINTS[$((i - 1))]}"
	TS[i]=$(ns_of "$ts")
done

# the protected ones: a pin on p1, a named overlay on p2, a view mounted
# on p3, the newest passing drill on p4
"$CDPFS" pin --store "$STORE" "$HOST@@${TS[1]:0:10}.${TS[1]:10}" --note "legal hold" >"$T/pin.out" ||
	fail "cdpfs pin exited $?: $(cat "$T/pin.out")"
grep -q "^pinned $HOST@@" "$T/pin.out" || check_fail "pin did not say what it pinned: $(cat "$T/pin.out")"
"$CDPFS" pin --store "$STORE" --list --json >"$T/pins.json"
[ "$(jq -r '.pins[0].note' "$T/pins.json")" = "legal hold" ] ||
	check_fail "pin --list --json does not show the pin: $(cat "$T/pins.json")"
mount_at "$HOST" "@${TS[2]:0:10}.${TS[2]:10}" "$T/ovl" "rw,overlay=keep2"
umount_at "$T/ovl"
mount_at "$HOST" "@${TS[3]:0:10}.${TS[3]:10}" "$T/held"
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@${TS[4]:0:10}.${TS[4]:10}" --check true \
	>"$T/drill.json" 2>"$T/drill.err" || fail "the drill on p4 exited $?: $(cat "$T/drill.err")"

log "dry run: nothing removed"
"$CDPFS" prune --store "$STORE" "$HOST" --keep 2s:all --keep 12s:4s --dry-run --json >"$T/dry.json" ||
	fail "prune --dry-run exited $?"
[ "$(jq .versions_removed "$T/dry.json")" -gt 0 ] ||
	check_fail "the dry run finds nothing to remove: $(cat "$T/dry.json")"
[ "$(jq .gc "$T/dry.json")" = null ] || check_fail "a dry run reports a gc"
verify_checkpoints p1

seg1_before=$(stat -c %s "$STORE/segments/00000001.seg")
log "prune while capture runs"
"$CDPFS" prune --store "$STORE" "$HOST" --keep 2s:all --keep 12s:4s --threshold 0 --json \
	>"$T/prune.json" 2>"$T/prune.err" || fail "prune exited $?: $(cat "$T/prune.err")"
cat "$T/prune.json"
NOW=$(jq .now_ns "$T/prune.json")

# which bursts the rules keep, from the prune's now
E=4000000000
fl() { echo $(($1 - $1 % E)); }
low1=$(fl $((NOW - 2000000000)))
low2=$(fl $((NOW - 12000000000)))
[ "$low2" -gt "$low1" ] && low2=$low1
win() { if [ "$1" -ge "$low1" ]; then echo 1; elif [ "$1" -ge "$low2" ]; then echo 2; else echo 0; fi; }
KEPT=()
for i in $(seq 1 $NB); do
	w=$(win "${TS[i]}")
	k=0
	if [ "$i" -eq "$NB" ] || [ "$w" = 1 ]; then
		k=1
	elif [ "$w" = 2 ]; then
		j=$((i + 1))
		if [ "$(win "${TS[j]}")" != 2 ] || [ "$(fl "${TS[j]}")" != "$(fl "${TS[i]}")" ]; then k=1; fi
	fi
	RULES_KEEP[i]=$k
	case $i in 1 | 2 | 3 | 4) k=1 ;; esac
	KEPT[i]=$k
done
log "kept bursts: $(for i in $(seq 1 $NB); do [ "${KEPT[i]}" = 1 ] && printf '%d ' "$i"; done)"
log "of which kept only because protected: $(for i in 1 2 3 4; do [ "${RULES_KEEP[i]}" = 0 ] && printf 'p%d ' "$i"; done)"
n_prot=0
for i in 1 2 3 4; do [ "${RULES_KEEP[i]}" = 0 ] && n_prot=$((n_prot + 1)); done
# 4 s intervals keep at most one of four states half a second apart
[ "$n_prot" -ge 2 ] || fail "the rules alone keep $((4 - n_prot)) of the 4 protected states: the test proves nothing"
[ "$(jq .states_protected "$T/prune.json")" -ge "$n_prot" ] ||
	check_fail "the prune says $(jq .states_protected "$T/prune.json") states were kept only as protected, expected $n_prot or more"

# every recorded instant mounts as the newest kept state at or before it
check_instants() {
	local label=$1 i j want mnt
	for i in $(seq 1 $NB); do
		want=0
		for j in $(seq 1 "$i"); do [ "${KEPT[j]}" = 1 ] && want=$j; done
		mnt=$T/mnt/$label-$i
		mkdir -p "$mnt"
		if [ "$want" = 0 ]; then
			if "$CDPFS" mount --store "$STORE" "$HOST@@${TS[i]:0:10}.${TS[i]:10}" "$mnt" 2>"$T/m.err"; then
				MOUNTS+=("$mnt")
				check_fail "$label: p$i is older than every kept state but mounted"
				umount_at "$mnt"
			fi
			continue
		fi
		mount_at "$HOST" "@${TS[i]:0:10}.${TS[i]:10}" "$mnt"
		manifest "$mnt$DATA" >"$T/m/$label-$i.got"
		compare_manifest "$T/m/p$want.manifest" "$T/m/$label-$i.got" "$label p$i -> p$want" ||
			check_fail "$label: the instant of p$i does not mount as kept state p$want"
		umount_at "$mnt"
	done
}
check_instants pruned

[ "$(jq .states_removed "$T/prune.json")" -gt 0 ] || check_fail "the prune removed no state"
[ "$(jq .versions_removed "$T/prune.json")" -gt 0 ] || check_fail "the prune removed no version"
[ "$(jq .gc.chunks_removed "$T/prune.json")" -gt 0 ] || check_fail "the gc removed no chunk"
[ "$(jq .gc.segments_compacted "$T/prune.json")" -ge 1 ] || check_fail "no segment was compacted"
seg1_after=$(stat -c %s "$STORE/segments/00000001.seg")
log "segment 1: $seg1_before -> $seg1_after bytes"
[ "$seg1_after" -lt "$seg1_before" ] || check_fail "segment 1 did not shrink ($seg1_before -> $seg1_after)"

manifest "$T/held$DATA" >"$T/m/held.got"
compare_manifest "$T/m/p3.manifest" "$T/m/held.got" "view mounted during the prune" ||
	check_fail "the view mounted during the prune changed under it"
umount_at "$T/held"
mkdir -p "$T/ovl2"
MOUNTS+=("$T/ovl2")
"$CDPFS" mount --store "$STORE" -o rw,overlay=keep2 "$HOST" "$T/ovl2" ||
	fail "the named overlay on p2 does not mount again after the prune"
manifest "$T/ovl2$DATA" >"$T/m/ovl2.got"
compare_manifest "$T/m/p2.manifest" "$T/m/ovl2.got" "named overlay resumed" ||
	check_fail "the named overlay's base changed"
umount_at "$T/ovl2"

"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
oldest=$(jq .oldest_kept_ns "$T/prune.json")
[ "$(jq ".hosts[0].first_ns" "$T/hosts.json")" = "$oldest" ] ||
	check_fail "hosts' first instant is not the oldest kept state ($oldest): $(cat "$T/hosts.json")"
[ "$(jq -c '[.hosts[0].retention.periods[].every]' "$T/hosts.json")" = '["4s","all"]' ] ||
	check_fail "hosts does not show the granularity of the periods (4s, then all): $(jq -c '.hosts[0].retention' "$T/hosts.json")"
"$CDPFS" hosts --store "$STORE" >"$T/hosts.out"
cat "$T/hosts.out"
grep -q "one state every 4s" "$T/hosts.out" || check_fail "hosts does not say the history is thinned to 4 s"
"$CDPFS" verify --store "$STORE" --data >"$T/verify.out" 2>&1 ||
	check_fail "verify --data after the prune exited $?: $(tail -5 "$T/verify.out")"

# stats: space and growth
"$CDPFS" stats --store "$STORE" "$HOST" --json >"$T/stats.json" || check_fail "stats exited $?"
jq -e '.hosts[0].logical_bytes > 0 and .hosts[0].growth_24h_bytes_per_day > 0 and
	.hosts[0].days_until_full != null and .stored_bytes > 0 and .compression_ratio >= 1 and
	.hosts[0].dirs[0].files > 10' "$T/stats.json" >/dev/null ||
	check_fail "stats --json lacks what it must say: $(cat "$T/stats.json")"
"$CDPFS" stats --store "$STORE" >"$T/stats.out" || check_fail "stats exited $?"
grep -q "full in" "$T/stats.out" || check_fail "stats does not say when the disk fills: $(cat "$T/stats.out")"

log "rebuild-index after prune and gc gives the same instants"
capture_stop "$DATA"
rm -rf "$STORE/index"
"$CDPFS" rebuild-index --store "$STORE" >"$T/rebuild.out" 2>&1 ||
	check_fail "rebuild-index exited $?: $(cat "$T/rebuild.out")"
check_instants rebuilt
# the audit trail holds the pin and each prune, with its rules and result
"$CDPFS" audit --store "$STORE" --action pin --json >"$T/audit-pin.json" || check_fail "audit --action pin exited $?"
jq -e '.records | length >= 1 and (.[0].args | test("note=legal hold")) and .[0].result == "ok"' \
	"$T/audit-pin.json" >/dev/null || check_fail "expected an audit record of the pin with its note and ok, got $(cat "$T/audit-pin.json")"
"$CDPFS" audit --store "$STORE" --action prune --json >"$T/audit-prune.json" || check_fail "audit --action prune exited $?"
jq -e '[.records[] | select(.args | test("keep=2s:all,12s:4s dry-run=0"))] | length >= 1' \
	"$T/audit-prune.json" >/dev/null || check_fail "expected an audit record of the prune with its rules, got $(cat "$T/audit-prune.json")"
finish
