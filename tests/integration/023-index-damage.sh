# SPDX-License-Identifier: GPL-2.0-or-later
#
# 023-index-damage - a damaged RocksDB index never reads as a hole.  A tree
# is captured and the capture stopped (its index is then in .sst tables);
# then, for every table file of the index, one copy of the store with
# bytes flipped in the table and one with the table cut to half its size:
#   - a mount of the copy either refuses to open, with one line naming the
#     damage ("corrupt", "unreadable index"), or mounts, and then every
#     file reads exactly or fails with EIO, every directory lists exactly or fails with EIO (never
#     zeros, never an empty or shorter listing), at least one read fails,
#     and the mount log says "unreadable index" with the column family;
#   - `cdpfs capture` on a copy with a table cut short refuses, with the
#     real cause ("corrupt", the table's name) on stderr, not "open for
#     writing by another process".
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
mkdir -p "$DATA/sub/deeper"
capture_start "$DATA"
for i in $(seq 1 40); do head -c 131072 /dev/urandom >"$DATA/f$i"; done
for i in $(seq 1 20); do printf 'small %s\n' "$i" >"$DATA/sub/s$i"; done
printf 'deep\n' >"$DATA/sub/deeper/d"
ln -s f1 "$DATA/link"
sync "$DATA/f1"
capture_stop "$DATA"
# the live tree, as the mounts must show it (in the store at latest)
(cd "$DATA" && find . -mindepth 1 | LC_ALL=C sort) >"$T/names.expected"

tables=("$STORE"/index/*.sst)
log "index tables: $(cd "$STORE/index" && ls -l -- *.sst | awk '{print $5, $9}' | tr '\n' ' ')"
[ ${#tables[@]} -ge 3 ] || fail "expected the stopped store's index in several .sst tables, found ${#tables[@]}"

# damage COPY TABLE MODE: flips bytes through TABLE (flip) or cuts it to
# half its size (trunc), in the copy COPY of the store
damage() {
	local f=$1/index/$2 mode=$3 size k off
	size=$(stat -c %s "$f")
	if [ "$mode" = flip ]; then
		for k in 1 2 3 4 5 6 7 8 9 10 11; do
			off=$((size * k / 12))
			printf '\xff\x00\xa5\x5a' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
		done
	else
		truncate -s $((size / 2)) "$f"
	fi
}

# check_tree MNT LABEL: prints the number of reads that failed with EIO;
# records a failure for any wrong byte, missing name or other error
check_tree() {
	local mnt=$1 label=$2 n=0 rel d
	while read -r rel; do
		if [ -d "$DATA/$rel" ] && [ ! -L "$DATA/$rel" ]; then
			if (cd "$DATA/$rel" && ls -A | LC_ALL=C sort) >"$T/ls.exp" &&
				ls -A "$mnt$DATA/$rel" >"$T/ls.got" 2>"$T/ls.err"; then
				LC_ALL=C sort -o "$T/ls.got" "$T/ls.got"
				cmp -s "$T/ls.exp" "$T/ls.got" ||
					check_fail "$label: directory '$rel' lists differently without an error: expected '$(tr '\n' ' ' <"$T/ls.exp")', got '$(tr '\n' ' ' <"$T/ls.got")'"
			elif grep -q 'Input/output error' "$T/ls.err"; then
				n=$((n + 1))
			else
				check_fail "$label: listing '$rel' failed, but not with EIO: $(head -c 300 "$T/ls.err")"
			fi
		elif [ -f "$DATA/$rel" ] && [ ! -L "$DATA/$rel" ]; then
			if cat "$mnt$DATA/$rel" >"$T/read.out" 2>"$T/read.err"; then
				cmp -s "$DATA/$rel" "$T/read.out" ||
					check_fail "$label: '$rel' read WRONG BYTES without an error (expected its captured content, $(stat -c %s "$DATA/$rel") bytes; got $(stat -c %s "$T/read.out") bytes, $(tr -d '\0' <"$T/read.out" | wc -c) of them non-zero)"
			elif grep -q 'Input/output error' "$T/read.err"; then
				n=$((n + 1))
			else
				check_fail "$label: reading '$rel' failed, but not with EIO: $(head -c 300 "$T/read.err")"
			fi
		fi
	done <"$T/names.expected"
	echo "$n"
}

# the clean store reads exactly (the check itself is sound)
mount_at "$HOST" latest "$T/mnt-clean"
eio=$(check_tree "$T/mnt-clean" "clean store")
[ "$eio" -eq 0 ] || check_fail "the undamaged store gave $eio EIO(s)"
umount_at "$T/mnt-clean"

STORE_SAVED=$STORE
for tab in "${tables[@]}"; do
	name=${tab##*/}
	for mode in flip trunc; do
		label="$name $mode"
		STORE=$T/damaged
		rm -rf "$STORE"
		cp -a "$STORE_SAVED" "$STORE"
		rm -f "$STORE"/*.log
		damage "$STORE" "$name" "$mode"
		mkdir -p "$T/mnt"
		rc=0
		"$CDPFS" mount --store "$STORE" -o "log=$T/mount.log" "$HOST@latest" "$T/mnt" \
			2>"$T/mount.err" || rc=$?
		if [ "$rc" -ne 0 ]; then
			log "$label: mount refused: $(head -c 300 "$T/mount.err")"
			[ "$(wc -l <"$T/mount.err")" -eq 1 ] && grep -Eq '^cdpfs: .*([Cc]orrupt|unreadable index)' "$T/mount.err" ||
				check_fail "$label: the mount refused, but not with one line saying 'corrupt' or 'unreadable index': $(head -c 400 "$T/mount.err" | tr '\n' '|')"
			continue
		fi
		MOUNTS+=("$T/mnt")
		record_daemon_pids
		eio=$(check_tree "$T/mnt" "$label")
		umount_at "$T/mnt"
		log "$label: mounted; $eio read(s) or listing(s) gave EIO"
		[ "$eio" -ge 1 ] ||
			check_fail "$label: the table is damaged, yet the mount opened and every read succeeded (expected an open error or EIO)"
		grep -q "unreadable index: column family '[a-z]*'" "$T/mount.log" ||
			check_fail "$label: expected the mount log to say 'unreadable index: column family ...', got: $(tail -n 3 "$T/mount.log" | tr '\n' '|')"
		rm -f "$T/mount.log"
	done
done

# capture refuses a store whose index it cannot open, with the real cause
STORE=$T/damaged
rm -rf "$STORE"
cp -a "$STORE_SAVED" "$STORE"
big=$(ls -S "$STORE"/index/*.sst | head -n 1)
damage "$STORE" "${big##*/}" trunc
mkdir -p "$T/newdir"
rc=0
"$CDPFS" capture --store "$STORE" --host "$HOST" "$T/newdir" 2>"$T/cap.err" || rc=$?
log "capture on a damaged index: exit $rc: $(head -c 400 "$T/cap.err" | tr '\n' '|')"
is_mounted "$T/newdir" && { CAPTURED+=("$T/newdir"); check_fail "capture started on a store whose index table '${big##*/}' is cut short"; }
[ "$rc" -ne 0 ] || check_fail "capture on a damaged index exited 0"
grep -q 'open for writing by another' "$T/cap.err" &&
	check_fail "capture on a damaged index blames another writer: $(cat "$T/cap.err")"
grep -q "^cdpfs: .*corrupt.*${big##*/}" "$T/cap.err" ||
	check_fail "expected capture's stderr to say 'corrupt' and name '${big##*/}', got: $(head -c 400 "$T/cap.err")"
STORE=$STORE_SAVED
finish
