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
# One perl process does the writes, so that ~50 versions fit in about a
# second: no fork between a write and its instant.  It writes the expected
# content of both files at each version into $T/expect-*.i and the instant
# (CLOCK_REALTIME, taken 3 ms after the write returned, 3 ms before the next
# one) into $T/instants.
perl -MTime::HiRes=clock_gettime,CLOCK_REALTIME,usleep -e '
	my ($dir, $t, $n) = @ARGV;
	my $inplace = "\0" x 20000;
	my $versioned = "";
	open(my $log, ">", "$t/instants") or die "instants: $!\n";
	my $start = clock_gettime(CLOCK_REALTIME);
	for my $i (1 .. $n) {
		if ($i % 2) {
			$versioned = sprintf("version %03d %s\n", $i, ($i % 10) x ($i * 37 % 300));
			open(my $f, ">", "$dir/versioned") or die "versioned: $!\n";
			syswrite($f, $versioned) == length($versioned) or die "write: $!\n";
			close($f) or die "close: $!\n";
		} else {
			my $w = sprintf("v%03d", $i);
			open(my $f, "+<", "$dir/inplace") or die "inplace: $!\n";
			sysseek($f, 8190, 0) or die "seek: $!\n";
			syswrite($f, $w) == 4 or die "write: $!\n";
			close($f) or die "close: $!\n";
			substr($inplace, 8190, 4) = $w;
		}
		usleep(3000);
		printf $log "%d %.9f\n", $i, clock_gettime(CLOCK_REALTIME);
		for (["versioned", $versioned], ["inplace", $inplace]) {
			open(my $e, ">", "$t/expect-$_->[0].$i") or die "expect: $!\n";
			print $e $_->[1];
			close($e);
		}
		usleep(3000);
	}
	printf STDERR "%d versions in %.3f s\n", $n, clock_gettime(CLOCK_REALTIME) - $start;
' "$DATA" "$T" "$N" || fail "the write loop failed on the capture mount"
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
