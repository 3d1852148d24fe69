# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (kill rounds under fsync load)
#
# 019-crash-fsync - kill -9 of the capture daemon at random moments under an
# fsync-heavy load (tests/tools/fsync_log: a block overwritten and a log
# line appended, both fdatasync'ed, per record, as a database does).  After
# each kill the dead mount is taken away and the past at latest must hold
# every record whose fsync returned (and at most the one in flight); then
# capture starts again on the same directory (a resync) and the next round
# kills it again.  CDPFS_CRASH_ROUNDS rounds (default 5; CI runs more).
. "$(dirname "$0")/lib.sh"
require_cdpfs

ROUNDS=${CDPFS_CRASH_ROUNDS:-5}
FSYNC_LOG=$(tool fsync_log)
DATA=$T/data
mkdir -p "$DATA"
for round in $(seq 1 "$ROUNDS"); do
	before=("${DAEMON_PIDS[@]}")
	capture_start "$DATA"
	new_daemon_pids "${before[@]}"
	rm -f "$DATA/wal" "$DATA/data"
	"$FSYNC_LOG" "$DATA" >"$T/acks.$round" 2>"$T/fsync_log.$round.err" &
	writer=$!
	# a random moment between 0.3 and 1.3 s into the load
	sleep "0.$((RANDOM % 10 + 3))"
	[ $((RANDOM % 2)) = 1 ] && sleep 0.5
	crash_capture "$DATA" "${VICTIMS[@]}"
	wait "$writer" || true
	last=$(awk '$1 == "ack" { n = $2 } END { if (n != "") print n }' "$T/acks.$round")
	if [ -z "$last" ]; then
		log "round $round: the daemon died before the first fsync returned; nothing to check"
		continue
	fi
	mnt=$T/mnt/round$round
	mount_at "$HOST" latest "$mnt"
	if out=$("$FSYNC_LOG" --check "$mnt$DATA" "$last"); then
		log "round $round: killed after $((last + 1)) acknowledged records: all at latest"
	else
		check_fail "round $round: killed after $((last + 1)) acknowledged records: $out"
	fi
	umount_at "$mnt"
done
finish
