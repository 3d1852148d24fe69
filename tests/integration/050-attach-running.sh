# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (late observations within 5 s)
#
# 050-attach-running - capture --attach-running of a directory that a
# running program already uses, and the safety net under every capture
# mount.  A writer started before capture holds a file open in DATA and
# has its working directory inside; it writes through the old descriptor
# and by relative path, which bypass the capture mount.  Each such change
# must reach the history within a few seconds (resynced by the watch of the
# filesystem underneath), be marked as seen late (cdpfs hosts, status), and
# every instant recorded after it must mount exactly as the real directory
# was.  A bind mount of DATA written by another process is caught the same
# way.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
mkdir -p "$DATA/sub"
printf 'first\n' >"$DATA/held.log"
printf 'base\n' >"$DATA/sub/other"

# the writer: fd 3 on held.log, cwd in DATA/sub; one command per line on
# its fifo, an ack line on the other once done
mkfifo "$T/cmd" "$T/ack"
(
	exec 3>>"$DATA/held.log"
	cd "$DATA/sub"
	while read -r c; do
		case $c in
		old*) printf 'through the old descriptor %s\n' "${c#old }" >&3 ;;
		rel*) printf 'by relative path %s\n' "${c#rel }" >>relative.txt ;;
		mkdir*) mkdir -p newdir && printf 'in a new dir\n' >newdir/f ;;
		rm*) rm -f other ;;
		quit) exit 0 ;;
		esac
		echo done >"$T/ack"
	done <"$T/cmd"
) &
writer=$!
exec 7>"$T/cmd"
at_exit 'exec 7>&- 2>/dev/null || true; kill '"$writer"' 2>/dev/null || true; wait 2>/dev/null || true'
# the real directory, reachable under the mount (ground truth)
exec 5<"$DATA"
REAL=/proc/$$/fd/5
ask() { echo "$1" >&7; read -r _ <"$T/ack"; }
# truth NAME: a checkpoint of DATA whose manifest is that of the real
# directory (what is beneath the mount, the writer's view)
truth() {
	local ts
	mkdir -p "$T/m"
	sleep 0.015
	ts=$(date +%s.%N)
	manifest "$REAL" >"$T/m/$1.manifest" || fail "manifest of the real '$DATA' failed"
	sleep 0.015
	CHECKPOINTS+=("$1 $ts $DATA")
	log "checkpoint $1 at @$ts ($(wc -l <"$T/m/$1.manifest") entries)"
}
ask "old 0"

# without --attach-running the writer is named and capture refused
expect_fail "capture of a directory in use" "$CDPFS" capture --store "$STORE" --host "$HOST" "$DATA"
grep -q "pid $writer" "$T/expect.err" || check_fail "the refusal does not name the writer (pid $writer): $(cat "$T/expect.err")"
grep -q -- "--attach-running" "$T/expect.err" || check_fail "the refusal does not mention --attach-running: $(cat "$T/expect.err")"

# a bind mount of DATA, made before capture: it reaches the real directory
mkdir -p "$T/bind"
mount --bind "$DATA" "$T/bind" || fail "cannot bind-mount '$DATA'"
at_exit 'umount -l "$T/bind" 2>/dev/null || true'

printf "alert_command = cat >>'%s'\n" "$T/alerts.jsonl" >"$T/cdpfs.conf"
CAPTURE_FLAGS="--attach-running --config $T/cdpfs.conf" capture_start "$DATA"

# late_count: the number of late observations of DATA in cdpfs hosts --json
late_count() {
	"$CDPFS" hosts --store "$STORE" --json | jq --arg d "$DATA" \
		'[.hosts[].dirs[] | select(.path == $d) | .late_count] | add // 0'
}
# wait_late: waits (at most 5 s) until DATA has more late observations
# than $n, then for them to settle; $n becomes the new count
wait_late() {
	local i m
	for i in $(seq 1 50); do
		m=$(late_count)
		if [ "$m" -gt "$n" ]; then
			log "late observations: $m after $((i / 10)).$((i % 10)) s"
			sleep 0.5
			n=$(late_count)
			return 0
		fi
		sleep 0.1
	done
	check_fail "expected more than $n late observation(s) of '$DATA' within 5 s, got $m"
}

n=0
truth start
for i in 1 2 3; do
	ask "old $i"
	wait_late
	truth "old$i"
done
ask "rel 1"
wait_late
truth rel1
ask "mkdir"
wait_late
truth newdir
ask "rm"
wait_late
truth removed

# a write through the capture mount is not a late observation
printf 'through the mount\n' >>"$DATA/sub/relative.txt"
sleep 1
[ "$(late_count)" -eq "$n" ] || check_fail "a write through the capture mount was counted late ($(late_count), expected $n)"
truth mounted

# a bind mount of the real directory (made before capture), written by
# another process
printf 'via a bind mount\n' >"$T/bind/bound.txt"
wait_late
umount "$T/bind"
truth bind

"$CDPFS" hosts --store "$STORE" >"$T/hosts.txt"
cat "$T/hosts.txt"
grep -Eq "$DATA .* $n \(last " "$T/hosts.txt" || check_fail "cdpfs hosts does not show $n late observations: $(cat "$T/hosts.txt")"
"$CDPFS" status --store "$STORE" --json >"$T/status.json" || true
jq -e --arg d "$DATA" --argjson n "$n" '.dirs[] | select(.path == $d) | .late_count == $n' \
	"$T/status.json" >/dev/null || check_fail "cdpfs status --json does not give late_count $n: $(head -c 600 "$T/status.json")"
"$CDPFS" status --store "$STORE" >"$T/status.txt" || true
grep -q "changes seen late" "$T/status.txt" || check_fail "cdpfs status does not mention the late changes: $(cat "$T/status.txt")"

# the alert command was told (at once for the first, then grouped)
jq -s -e --arg d "$DATA" 'any(.[]; .event == "late_observation" and .dir == $d)' "$T/alerts.jsonl" \
	>/dev/null 2>&1 || check_fail "no late_observation alert: $(cat "$T/alerts.jsonl" 2>/dev/null)"

echo quit >&7
exec 7>&-
wait "$writer" 2>/dev/null || true
exec 5<&-
capture_stop "$DATA"
verify_checkpoints
finish
