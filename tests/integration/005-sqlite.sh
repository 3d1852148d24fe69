# SPDX-License-Identifier: GPL-2.0-or-later
#
# 005-sqlite - crash consistency with a real database.  Two SQLite databases
# under capture, one in WAL mode and one in rollback-journal (DELETE) mode,
# synchronous=FULL, each get a stream of transactions, one row each, row id =
# sequence number.  For each transaction the instant before sqlite3 started
# and the instant after it returned are recorded.  At sampled instants (some
# between transactions, some inside one) the database is copied out of the
# mount with cp (with its -wal or -journal) and opened: PRAGMA
# integrity_check must say ok, and the rows must be exactly 1..k with every
# transaction whose COMMIT returned before the instant present and none
# that began after it.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed to run the database workload; scripts/install-deps installs it"

DATA=$T/data
make_baseline "$DATA"
NTX=${NTX:-120}
for mode in wal delete; do
	sqlite3 "$DATA/$mode.db" "PRAGMA journal_mode=$mode; CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB);
		INSERT INTO t VALUES(0, randomblob(100));" >/dev/null
done
capture_start "$DATA"

for mode in wal delete; do
	: >"$T/$mode.times"
	log "$NTX transactions on $mode.db"
	for i in $(seq 1 "$NTX"); do
		b=$(date +%s.%N)
		sqlite3 "$DATA/$mode.db" "PRAGMA synchronous=FULL; BEGIN IMMEDIATE;
			INSERT INTO t VALUES($i, randomblob(500 + ($i * 997) % 6000));
			UPDATE t SET payload = randomblob(200) WHERE id = $i / 2;
			COMMIT;" || fail "sqlite3 transaction $i on $mode.db failed on the capture mount"
		e=$(date +%s.%N)
		echo "$i $b $e" >>"$T/$mode.times"
	done
	r=$(sqlite3 "$DATA/$mode.db" "PRAGMA integrity_check; SELECT count(*) FROM t;" | tr '\n' ' ')
	[ "$r" = "ok $((NTX + 1)) " ] || check_fail "live $mode.db on the capture mount: integrity/count is '$r'"
done

# check_at MODE INSTANT LABEL: copy the db out of the mount at INSTANT and
# check it against the recorded begin/end instants.
check_at() {
	local mode=$1 at=$2 label=$3 mnt copy res ic n mn mx need_min max_ok
	mnt=$T/mnt/$mode-$label
	copy=$T/copy/$mode-$label
	mkdir -p "$copy"
	mount_at "$HOST:$DATA" "@$at" "$mnt"
	cp "$mnt/$mode.db" "$copy/" || check_fail "$mode@$label: cp of $mode.db out of the mount failed"
	[ -e "$mnt/$mode.db-wal" ] && { cp "$mnt/$mode.db-wal" "$copy/" || check_fail "$mode@$label: cp of -wal failed"; }
	[ -e "$mnt/$mode.db-journal" ] && { cp "$mnt/$mode.db-journal" "$copy/" || check_fail "$mode@$label: cp of -journal failed"; }
	umount_at "$mnt"
	res=$(sqlite3 "$copy/$mode.db" "PRAGMA integrity_check; SELECT count(*), min(id), max(id) FROM t WHERE id > 0;" 2>&1 | tr '\n' ' ')
	read -r ic cntline <<<"$res"
	IFS='|' read -r n mn mx <<<"$cntline"
	# need: every i with end < at; allowed: every i with begin < at
	need_min=$(awk -v at="$at" '$3 < at { k = $1 } END { print k + 0 }' "$T/$mode.times")
	max_ok=$(awk -v at="$at" '$2 < at { k = $1 } END { print k + 0 }' "$T/$mode.times")
	mx=${mx:-0}
	log "$mode@$label (@$at): integrity '$ic', rows $n ($mn..$mx); committed before: $need_min, begun before: $max_ok"
	if [ "$ic" != ok ]; then
		check_fail "$mode@$label @$at: PRAGMA integrity_check of the mounted copy says: $res"
		return
	fi
	[ "$n" = "$mx" ] || check_fail "$mode@$label @$at: rows are not contiguous 1..$mx (count $n)"
	[ "$mx" -ge "$need_min" ] || check_fail "$mode@$label @$at: transaction $need_min returned before the instant but the mounted copy ends at row $mx"
	[ "$mx" -le "$max_ok" ] || check_fail "$mode@$label @$at: row $mx is there but transaction $max_ok was the last that began before the instant"
}

for mode in wal delete; do
	step=$((NTX / 6))
	for k in $(seq "$step" "$step" "$NTX"); do
		read -r _ b e <<<"$(sed -n "${k}p" "$T/$mode.times")"
		# right after the COMMIT returned
		check_at "$mode" "$e" "after$k"
		# inside the transaction: between its begin and its end
		mid=$(awk -v b="$b" -v e="$e" 'BEGIN { printf "%.9f", b + (e - b) / 2 }')
		check_at "$mode" "$mid" "during$k"
	done
done
capture_stop "$DATA"
finish
