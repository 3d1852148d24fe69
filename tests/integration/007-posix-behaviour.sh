# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (inotify event timing)
#
# 007-posix-behaviour - applications must see the capture mount behave as
# the native filesystem.  The same probe runs on a native directory and on
# the captured one and their transcripts must be identical: permissions for
# a non-root user, hard links (attributes agree through both names at
# once), O_APPEND from two writers, mmap writes, unlink of an open file then
# further writes, utimensat with UTIME_OMIT, NAME_MAX names, deep paths near
# PATH_MAX, inotify events of changes made through the mount.  Then the
# past mount must reproduce the captured tree, and a read-only mount must
# refuse every write with EROFS.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd setpriv "runs the permission checks as nobody"
require_cmd inotifywait "checks inotify through the mount (inotify-tools)"
MMAP_WRITE=$(tool mmap_write)
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
chmod 0711 "$T"

# say WHAT CMD...: runs CMD, prints WHAT and "ok" or the error (no paths).
say() {
	local what=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	out=${out//$D/D}
	if [ $rc -eq 0 ]; then echo "$what: ok ${out:0:200}"; else echo "$what: fails: ${out##*: }"; fi
}

# probe DIR: the transcript of the behaviour checks, with DIR written as D.
probe() {
	D=$1
	cd "$D"
	# permissions as nobody
	printf 'secret\n' >private && chmod 0600 private
	printf 'public\n' >public && chmod 0644 public
	mkdir locked && chmod 0700 locked && printf 'x\n' >locked/f
	mkdir shared && chmod 1777 shared
	say "nobody reads 0600 root file" "${AS_NOBODY[@]}" cat "$D/private"
	say "nobody reads 0644 root file" "${AS_NOBODY[@]}" cat "$D/public"
	say "nobody writes 0644 root file" "${AS_NOBODY[@]}" sh -c "echo x >>'$D/public'"
	say "nobody lists 0700 dir" "${AS_NOBODY[@]}" ls "$D/locked"
	say "nobody creates in root dir" "${AS_NOBODY[@]}" touch "$D/nobody-file"
	say "nobody creates in sticky dir" "${AS_NOBODY[@]}" sh -c "echo mine >'$D/shared/nobody-file'"
	say "nobody chmods own file" "${AS_NOBODY[@]}" chmod 0640 "$D/shared/nobody-file"
	say "nobody chowns own file to root" "${AS_NOBODY[@]}" chown root "$D/shared/nobody-file"
	say "nobody removes root file in sticky dir" sh -c "echo r >'$D/shared/root-file' && ${AS_NOBODY[*]} rm -f '$D/shared/root-file'"
	say "nobody utimes root file" "${AS_NOBODY[@]}" touch -d 2001-01-01 "$D/public"
	say "nobody sets user xattr on root file" "${AS_NOBODY[@]}" setfattr -n user.x -v 1 "$D/public"
	say "stat of nobody file" stat -c '%U %G %a %s' "$D/shared/nobody-file"
	# hard links: attributes through both names at once
	printf 'linked\n' >hl-a
	ln hl-a hl-b
	chmod 0604 hl-a
	say "mode via other name" stat -c '%a %h' hl-b
	printf 'more\n' >>hl-b
	say "size via other name" stat -c '%s %h' hl-a
	touch -m -d '2002-02-02 02:02:02.5' hl-a
	say "mtime via other name" stat -c '%y' hl-b
	chown 7:8 hl-b
	say "owner via other name" stat -c '%u:%g' hl-a
	ln hl-b hl-c
	rm hl-a
	say "nlink after link and unlink" stat -c '%h' hl-c
	say "same inode" sh -c "[ \$(stat -c %i hl-b) = \$(stat -c %i hl-c) ] && echo same"
	# O_APPEND from two writers
	: >appended
	(for i in $(seq 1 300); do printf 'writer-A %05d ..............................................\n' "$i" >>appended; done) &
	local pa=$!
	(for i in $(seq 1 300); do printf 'writer-B %05d ..............................................\n' "$i" >>appended; done) &
	local pb=$!
	wait "$pa" "$pb"
	say "append line count" sh -c "wc -l <appended"
	say "append torn lines" sh -c "grep -cv '^writer-[AB] [0-9]\{5\} \.\{46\}\$' appended || true"
	say "append A in order" sh -c "grep '^writer-A' appended | sort -c && echo sorted"
	# mmap writes
	head -c 20000 /dev/zero >mapped
	say "mmap write" "$MMAP_WRITE" mapped 8190 MMAP-WRITE-ACROSS-A-BLOCK
	say "mmap write visible to read" sh -c "dd if=mapped bs=1 skip=8190 count=25 status=none"
	say "mmap size" stat -c %s mapped
	# unlink of an open file, then further writes and reads through the fd
	say "unlinked open file" bash -c 'exec 3<>gone; printf before >&3; rm gone; printf %s -after >&3; [ -e gone ] && echo still-there; cat /proc/self/fd/3; echo; stat -L -c %h /proc/self/fd/3; exec 3>&-'
	say "unlinked file gone" ls gone
	# utimensat with UTIME_OMIT either side
	printf 't\n' >times
	touch -a -d '2003-03-03 03:03:03.3' times
	touch -m -d '2004-04-04 04:04:04.4' times
	say "atime set, mtime omitted then mtime set, atime omitted" stat -c '%x|%y' times
	touch -a -d '2005-05-05 05:05:05.5' times
	say "mtime kept under UTIME_OMIT" stat -c '%y' times
	# chown(f, -1, -1) changes nothing but ctime, as Linux does
	printf 'c\n' >ctimed
	say "ctime after chown -1 -1" perl -MTime::HiRes=stat,sleep -e '
		my $before = (stat "ctimed")[10]; sleep 0.02;
		chown(-1, -1, "ctimed") or die "chown: $!\n";
		print((stat "ctimed")[10] > $before ? "updated" : "kept")'
	# NAME_MAX names
	local n255 n256
	n255=$(printf 'n%.0s' $(seq 1 255))
	n256=$(printf 'n%.0s' $(seq 1 256))
	say "create 255-byte name" sh -c "echo long >$n255"
	say "read 255-byte name" cat "$n255"
	say "create 256-byte name" sh -c "echo long >$n256"
	say "rename to 255-byte name" mv "$n255" "m${n255:1}"
	# deep paths close to PATH_MAX (4096), absolute
	local comp p=$D
	comp=$(printf 'd%.0s' $(seq 1 200))
	while [ $((${#p} + 201 + 20)) -lt 4096 ]; do p=$p/$comp; done
	say "mkdir deep" mkdir -p "$p"
	say "write at depth" sh -c "echo deep >'$p/file'"
	say "read at depth" cat "$p/file"
	say "path too long" sh -c "echo x >'$p/$comp'"
	say "deep via relative walk" bash -c "cd '$p' && cd '$comp' 2>/dev/null; mkdir -p rel/rel && echo r >rel/rel/f && cat rel/rel/f"
	# inotify on changes made through the mount
	mkdir watched
	printf 'w\n' >watched/existing
	# made before the watch: a directory made under a recursive watch is
	# only watched once inotifywait has read its event, which races
	mkdir watched/subdir
	inotifywait -m -r -e create,modify,delete,moved_from,moved_to,attrib,close_write \
		--format '%e %f' watched >"$T/inotify.out" 2>"$T/inotify.err" &
	local wpid=$! i
	for i in $(seq 1 300); do grep -q 'Watches established' "$T/inotify.err" && break; sleep 0.1; done
	printf 'new\n' >watched/created
	printf 'append\n' >>watched/existing
	mv watched/created watched/renamed
	chmod 0600 watched/renamed
	printf 's\n' >watched/subdir/in-sub
	rm watched/existing
	# a last event marks the end: the watcher is stopped only once it has
	# written every event before it (a loaded machine may be slow to read)
	mkdir watched/zz-end
	for i in $(seq 1 300); do grep -q 'zz-end' "$T/inotify.out" && break; sleep 0.1; done
	kill "$wpid"
	wait "$wpid" 2>/dev/null || true
	echo "inotify events:"
	sed 's/^/  /' "$T/inotify.out"
	cd /
}

mkdir -p "$T/native" "$T/data"
chmod 0755 "$T/native" "$T/data"
make_baseline "$T/data"
make_baseline "$T/native"
probe "$T/native" >"$T/native.transcript" 2>&1 || check_fail "probe of the native dir ended with $?"
cat "$T/native.transcript"
capture_start "$T/data"
probe "$T/data" >"$T/captured.transcript" 2>&1 || check_fail "probe of the captured dir ended with $?"
if diff -u "$T/native.transcript" "$T/captured.transcript"; then
	log "probe transcripts agree between native and capture mount"
else
	check_fail "the capture mount behaves differently from the native filesystem (diff above: -native +captured)"
fi
checkpoint after-probe "$T/data"
verify_checkpoints

# read-only: every write attempt through a past mount fails with EROFS
RO=$T/ro
mount_at "$HOST" latest "$RO"
R=$RO$T/data
erofs() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		check_fail "read-only mount: '$what' succeeded"
	elif ! grep -q 'Read-only file system' <<<"$out"; then
		check_fail "read-only mount: '$what' failed, but not with EROFS: $out"
	fi
}
erofs "create" touch "$R/new-file"
erofs "write" sh -c "echo x >>'$R/hello.txt'"
erofs "truncate" truncate -s 0 "$R/hello.txt"
erofs "mkdir" mkdir "$R/new-dir"
erofs "unlink" rm -f "$R/hello.txt"
erofs "rmdir" rmdir "$R/sub/deeper"
erofs "rename" mv "$R/hello.txt" "$R/renamed"
erofs "link" ln "$R/hello.txt" "$R/hard"
erofs "symlink" ln -s x "$R/sym"
erofs "chmod" chmod 0777 "$R/hello.txt"
erofs "chown" chown 1:1 "$R/hello.txt"
erofs "utimes" touch -d 2001-01-01 "$R/hello.txt"
erofs "setxattr" setfattr -n user.x -v 1 "$R/hello.txt"
erofs "removexattr" setfattr -x user.origin "$R/hello.txt"
erofs "mkfifo" mkfifo "$R/fifo"
erofs "open O_RDWR" sh -c "exec 3<>'$R/hello.txt'"
erofs "fallocate" fallocate -l 1M "$R/hello.txt"
umount_at "$RO"
capture_stop "$T/data"
finish
