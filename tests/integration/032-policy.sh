# SPDX-License-Identifier: GPL-2.0-or-later
#
# 032-policy - the capture daemon applies the stored retention policy by
# itself.  With the schedule shortened (CDPFS_POLICY_INTERVAL_S=2,
# CDPFS_POLICY_CHECK_S=1):
#   1. with no policy nothing is removed: every recorded instant still
#      mounts exactly after several periods;
#   2. `cdpfs policy set HOST --keep 3s:all` (asked of the running daemon):
#      the daemon prunes on its schedule, hosts names it ("policy") and the
#      first instant moves up, the newest state mounts exactly;
#   3. a disk below the low-water mark (CDPFS_LOW_WATER_PCT=101: always)
#      makes a new daemon apply the policy at once, with a log line, and
#      hosts names the reason ("low space");
#   4. bad policies are refused with one line.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq

export CDPFS_POLICY_INTERVAL_S=2 CDPFS_POLICY_CHECK_S=1
DATA=$T/data
make_baseline "$DATA"
capture_start "$DATA"
checkpoint p0 "$DATA"
for i in 1 2 3; do
	printf 'step %d\n' "$i" >>"$DATA/hello.txt"
	head -c 100000 /dev/urandom >"$DATA/random.bin"
	checkpoint "p$i" "$DATA"
	sleep 0.5
done

log "1. no policy: nothing removed"
sleep 3
"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
[ "$(jq -c '.hosts[0].retention' "$T/hosts.json")" = null ] ||
	check_fail "a store with no policy was pruned: $(jq -c '.hosts[0].retention' "$T/hosts.json")"
verify_checkpoints

log "2. a policy, applied by the daemon on its schedule"
expect_fail "policy without --keep" "$CDPFS" policy set --store "$STORE" "$HOST"
expect_fail "policy with a bad rule" "$CDPFS" policy set --store "$STORE" "$HOST" --keep 3x:all
expect_fail "policy of an unknown host" "$CDPFS" policy set --store "$STORE" nosuchhost --keep 1d:all
"$CDPFS" policy set --store "$STORE" "$HOST" --keep 3s:all >"$T/policy.out" ||
	fail "policy set exited $?"
"$CDPFS" policy show --store "$STORE" "$HOST" --json >"$T/show.json"
[ "$(jq -c '.policies[0].rules' "$T/show.json")" = '["3s:all"]' ] ||
	check_fail "policy show does not show the policy: $(cat "$T/show.json")"
reason=
for _ in $(seq 1 60); do
	"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
	reason=$(jq -r '.hosts[0].retention.reason // empty' "$T/hosts.json")
	[ -n "$reason" ] && break
	sleep 0.2
done
[ "$reason" = policy ] || check_fail "the daemon did not apply the policy (reason '$reason')"
first=$(jq '.hosts[0].first_ns' "$T/hosts.json")
read -r _ ts3 _ <<<"${CHECKPOINTS[3]}"
read -r _ ts1 _ <<<"${CHECKPOINTS[1]}"
[ "$first" -gt "${ts1/./}" ] || check_fail "the first instant did not move past p1 ($first)"
checkpoint p4 "$DATA"
verify_checkpoints p4
grep -q "pruned (policy)" "$STORE/capture.log" || check_fail "the daemon's log does not say it pruned"

log "3. below the low-water mark: applied at once"
capture_stop "$DATA"
# a new daemon (with the new environment): the old one may still serve a
# file left open for a moment
for _ in $(seq 1 100); do [ -e "$STORE/capture.sock" ] || break; sleep 0.1; done
[ -e "$STORE/capture.sock" ] && fail "the capture daemon did not exit after the stop"
export CDPFS_LOW_WATER_PCT=101 CDPFS_POLICY_INTERVAL_S=100000
capture_start "$DATA"
printf 'after restart\n' >>"$DATA/hello.txt"
reason=
for _ in $(seq 1 60); do
	"$CDPFS" hosts --store "$STORE" --json >"$T/hosts.json"
	reason=$(jq -r '.hosts[0].retention.reason // empty' "$T/hosts.json")
	[ "$reason" = "low space" ] && break
	sleep 0.2
done
[ "$reason" = "low space" ] || check_fail "a low disk did not make the daemon apply the policy (reason '$reason')"
grep -q "below the low-water mark" "$STORE/capture.log" ||
	check_fail "the daemon's log does not say the disk is low"
"$CDPFS" hosts --store "$STORE" >"$T/hosts.out"
grep -q "low space" "$T/hosts.out" || check_fail "hosts does not say why it was pruned: $(cat "$T/hosts.out")"
"$CDPFS" policy set --store "$STORE" "$HOST" --none >/dev/null || check_fail "policy set --none exited $?"
"$CDPFS" policy show --store "$STORE" --json >"$T/show.json"
[ "$(jq -c '.policies[0].rules' "$T/show.json")" = '[]' ] || check_fail "the policy was not removed"
capture_stop "$DATA"
finish
