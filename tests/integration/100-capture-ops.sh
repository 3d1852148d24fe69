# SPDX-License-Identifier: GPL-2.0-or-later
#
# 100-capture-ops - the capture layer's journaling of each kind of change,
# checked at recorded instants: fallocate (punch hole, zero range, keep
# size, collapse), partial-block writes, O_APPEND, mmap writes, truncate
# shrink then extend, rename with RENAME_NOREPLACE and RENAME_EXCHANGE,
# hard links, ACLs (equivalent to the mode, granting more than it, default
# ACLs inherited, the umask as natively), xattrs, utimensat with
# UTIME_OMIT, files created by a non-root user in a setgid directory
# through a supplementary group; then stop, offline changes to existing
# blocks, a hard link and a removal, restart: the resync is in the next
# instant; and a second directory added to the running daemon.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd setpriv "creates files as nobody"
require_cmd fallocate "punches holes (util-linux)"
RENAMEAT2=$(tool renameat2)
MMAP_WRITE=$(tool mmap_write)

DATA=$T/data
mkdir -p "$DATA/sub" "$DATA/shared"
head -c 100000 /dev/urandom >"$DATA/blob"
printf 'hello\n' >"$DATA/hello"
chgrp users "$DATA/shared" && chmod 2775 "$DATA/shared"
chmod 0755 "$T"

capture_start "$DATA"
checkpoint baseline "$DATA"

# Data: partial blocks, holes, zero ranges, collapse.
head -c 70000 /dev/urandom >"$DATA/f"
printf 'XY' | dd of="$DATA/f" bs=1 seek=8191 conv=notrunc status=none
fallocate -p -o 5000 -l 20000 "$DATA/f"
fallocate -z -o 40000 -l 9000 "$DATA/f"
fallocate -n -o 0 -l 200000 "$DATA/f"
head -c 65536 /dev/urandom >"$DATA/c"
fallocate -c -o 8192 -l 16384 "$DATA/c" 2>/dev/null || true
checkpoint data "$DATA"

truncate -s 3000 "$DATA/blob"
truncate -s 50000 "$DATA/blob"
printf 'a%.0s' $(seq 1 100) >>"$DATA/hello"
"$MMAP_WRITE" "$DATA/blob" 20000 MMAPPED >/dev/null 2>&1 ||
	python3 -c "import mmap,sys
f=open(sys.argv[1],'r+b'); m=mmap.mmap(f.fileno(),0); m[20000:20007]=b'MMAPPED'; m.flush()" "$DATA/blob"
checkpoint truncate-mmap "$DATA"

# Namespace.
ln "$DATA/hello" "$DATA/sub/hello-link"
printf 'one\n' >"$DATA/x1"
printf 'two\n' >"$DATA/x2"
"$RENAMEAT2" exchange "$DATA/x1" "$DATA/x2" 2>/dev/null ||
	python3 -c "import ctypes,os,sys
libc=ctypes.CDLL(None,use_errno=True)
r=libc.renameat2(-100,sys.argv[1].encode(),-100,sys.argv[2].encode(),2)
sys.exit(0 if r==0 else 1)" "$DATA/x1" "$DATA/x2" || check_fail "RENAME_EXCHANGE failed"
mv "$DATA/x1" "$DATA/sub/moved"
mkdir -p "$DATA/deep/er/still"
mv "$DATA/deep" "$DATA/sub/"
ln -s ../hello "$DATA/sub/sym"
mkfifo "$DATA/fifo"
checkpoint namespace "$DATA"

# Attributes.
chmod 0640 "$DATA/hello"
setfattr -n user.color -v blue "$DATA/blob"
setfattr -n user.gone -v soon "$DATA/blob"
setfattr -x user.gone "$DATA/blob"
setfacl -m u:nobody:r "$DATA/f" 2>/dev/null || true
setfacl -b "$DATA/f" 2>/dev/null || true
touch -m -d '2001-02-03 04:05:06.789' "$DATA/c"
python3 -c "import os,sys; os.utime(sys.argv[1], ns=(1, os.stat(sys.argv[1]).st_mtime_ns))" "$DATA/c"
setpriv --reuid=nobody --regid=nogroup --groups=100 sh -c \
	"printf 'n\n' >'$DATA/shared/by-nobody' && mkdir '$DATA/shared/dir-by-nobody'" ||
	check_fail "nobody cannot create in a group-writable setgid dir"
[ "$(stat -c %U:%G "$DATA/shared/by-nobody")" = "nobody:users" ] ||
	check_fail "owner of a file created by nobody in a setgid dir: $(stat -c %U:%G "$DATA/shared/by-nobody")"
checkpoint attrs "$DATA"

# POSIX ACLs work through capture as natively: an ACL that grants more than
# the mode, default ACLs inherited on create (the umask then ignored), the
# umask applied elsewhere.  Ground truth: the same steps on a native dir.
if command -v setfacl >/dev/null; then
	acl_steps() {
		local d=$1
		mkdir "$d/acl" "$d/acl/inherit"
		printf 'for nobody\n' >"$d/acl/granted"
		chmod 0600 "$d/acl/granted"
		setfacl -m u:nobody:r "$d/acl/granted"
		setfacl -d -m u:nobody:rwx "$d/acl/inherit"
		(umask 022 && touch "$d/acl/inherit/file" && mkdir "$d/acl/inherit/dir" &&
			touch "$d/acl/plain" && umask 077 && touch "$d/acl/private")
		setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$d/acl/granted"
	}
	NATIVE_ACL=$T/native-acl
	mkdir -p "$NATIVE_ACL"
	want=$(acl_steps "$NATIVE_ACL" 2>&1)
	got=$(acl_steps "$DATA" 2>&1) || true
	[ "$got" = "$want" ] || check_fail "ACL grant through capture: expected '$want', got '$got'"
	for f in granted inherit/file inherit/dir plain private; do
		w=$(stat -c %a "$NATIVE_ACL/acl/$f")$(getfacl -cp "$NATIVE_ACL/acl/$f" 2>/dev/null | tr '\n' ' ')
		g=$(stat -c %a "$DATA/acl/$f")$(getfacl -cp "$DATA/acl/$f" 2>/dev/null | tr '\n' ' ')
		[ "$g" = "$w" ] || check_fail "acl/$f through capture: expected mode and ACL '$w', got '$g'"
	done
	checkpoint acls "$DATA"
fi

# Unlink of an open file, then writes to it: nothing of it may appear.
exec 7>"$DATA/doomed"
printf 'before\n' >&7
rm "$DATA/doomed"
printf 'after\n' >&7
exec 7>&-
checkpoint unlinked "$DATA"

capture_stop "$DATA"
# Offline: change blocks in place, add a link, remove a file.
printf 'OFFLINE' | dd of="$DATA/f" bs=1 seek=30000 conv=notrunc status=none
ln "$DATA/c" "$DATA/c-link"
rm "$DATA/x2"
capture_start "$DATA"
checkpoint resync "$DATA"

# A second directory joins the running daemon.
DATA2=$T/data2
mkdir -p "$DATA2" && printf 'second\n' >"$DATA2/s"
capture_start "$DATA2"
printf 'more\n' >>"$DATA2/s"
checkpoint second "$DATA2"
capture_stop "$DATA2"
capture_stop "$DATA"

verify_checkpoints
finish
