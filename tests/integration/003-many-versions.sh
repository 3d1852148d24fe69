# SPDX-License-Identifier: GPL-2.0-or-later
#
# 003-many-versions - one file rewritten about 50 times within about one
# second (truncating rewrites of varying length and in-place overwrites of
# one block), an instant recorded after each write; every instant is then
# mounted and must show exactly that version (content and size).  Checks
# that versions closer than a second apart are all kept and resolved.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
make_baseline "$DATA"
printf 'initial\n' >"$DATA/versioned"
head -c 20000 /dev/zero >"$DATA/inplace"
capture_start "$DATA"

N=${VERSIONS:-50}
: >"$T/instants"
start=$(date +%s.%N)
for i in $(seq 1 "$N"); do
	if [ $((i % 2)) -eq 1 ]; then
		# truncating rewrite, length varies so truncation is exercised
		printf 'version %03d %s\n' "$i" "$(head -c $((i * 37 % 300)) /dev/zero | tr '\0' "$((i % 10))")" >"$DATA/versioned"
	else
		printf 'v%03d' "$i" | dd of="$DATA/inplace" bs=1 seek=8190 conv=notrunc status=none
	fi
	sleep 0.005
	echo "$i $(date +%s.%N)" >>"$T/instants"
	cp "$DATA/versioned" "$T/expect-versioned.$i"
	cp "$DATA/inplace" "$T/expect-inplace.$i"
	sleep 0.005
done
end=$(date +%s.%N)
log "$N versions in $(echo "$end - $start" | bc 2>/dev/null || echo "$start..$end") s"
capture_stop "$DATA"

bad=0
while read -r i ts; do
	mnt=$T/mnt/$i
	mount_at "$HOST:$DATA" "@$ts" "$mnt"
	for f in versioned inplace; do
		if ! cmp -s "$T/expect-$f.$i" "$mnt/$f"; then
			bad=$((bad + 1))
			check_fail "version $i of '$f' at @$ts: expected $(head -c 60 "$T/expect-$f.$i" | od -An -c | head -1 | tr -s ' ') ($(stat -c %s "$T/expect-$f.$i") bytes), mounted has $(stat -c %s "$mnt/$f" 2>&1) bytes: $(head -c 60 "$mnt/$f" 2>&1 | od -An -c | head -1 | tr -s ' ')"
		fi
	done
	umount_at "$mnt"
done <"$T/instants"
log "$N instants checked, $bad mismatches"
finish
