# SPDX-License-Identifier: GPL-2.0-or-later
#
# 062-restore - cdpfs restore against ground truth: a tree (files, holes,
# hard links, symlinks, a fifo, a device node, xattrs, a POSIX ACL, modes,
# owners, times) captured, its manifest recorded at an instant, then
# changed; restore of the instant must equal that manifest.  A 2 GiB sparse
# file keeps its holes (only its data is allocated, the data bytes equal).
# Also: refusal to overwrite and --overwrite, --dry-run writes nothing, a
# restore into the captured directory itself (journaled through capture),
# a damaged chunk (an error naming the file, no file left at DEST), bad
# input.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd setfacl "POSIX ACLs"
require_cmd python3 "comparing sparse files"

DATA=$T/data
make_baseline "$DATA/tree"
mkfifo -m 0640 "$DATA/tree/fifo"
mknod -m 0600 "$DATA/tree/null-dev" c 1 3
mkdir -p "$DATA/tree/acl"
printf 'acl\n' >"$DATA/tree/acl/f"
setfacl -m u:1234:rw- "$DATA/tree/acl/f"
setfacl -d -m g:99:r-x "$DATA/tree/acl"
chown 4321:8765 "$DATA/tree/sub/one-byte"
ln "$DATA/tree/random.bin" "$DATA/tree/sub/link-to-random"
head -c 300000 /dev/urandom >"$DATA/tree/marker.bin"
capture_start "$DATA"
# the sparse file: 2 GiB, a few data regions
truncate -s 2G "$DATA/sparse2g"
for off in 0 123456789 1073741824 2147479000; do
	printf 'data at %d' "$off" | dd of="$DATA/sparse2g" bs=1 seek="$off" conv=notrunc status=none
done
chmod 4755 "$DATA/tree/random.bin"
checkpoint t1 "$DATA/tree"
T1=${CHECKPOINTS[0]#* }; T1=${T1%% *}

# the tree changes after t1
printf 'changed\n' >"$DATA/tree/hello.txt"
rm -r "$DATA/tree/sub"
setfacl -b "$DATA/tree/acl/f"
printf 'new\n' >"$DATA/tree/new"

log "restore of the tree at t1"
"$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree@@$T1" "$T/restored" >"$T/restore.out" ||
	fail "cdpfs restore exited with $?: $(cat "$T/restore.out")"
log "$(cat "$T/restore.out")"
manifest "$T/restored" >"$T/restored.manifest"
compare_manifest "$T/m/t1.manifest" "$T/restored.manifest" "restore of t1" ||
	check_fail "the restored tree differs from the tree at t1"
getfacl -p "$T/restored/acl/f" 2>/dev/null | grep -q '^user:1234:rw-' ||
	check_fail "the POSIX ACL of acl/f was not restored: $(getfacl -p "$T/restored/acl/f" 2>&1 | tr '\n' '|')"
[ "$(stat -c %i "$T/restored/random.bin")" = "$(stat -c %i "$T/restored/sub/link-to-random")" ] ||
	check_fail "random.bin and sub/link-to-random are not one file after the restore"
ls -a "$T/restored" | grep -q cdpfs-restore && check_fail "a temporary file was left in the restored tree"

log "restore of the sparse file"
"$CDPFS" restore --store "$STORE" --json "$HOST:$DATA/sparse2g@latest" "$T/sparse2g" >"$T/sparse.json" ||
	fail "restore of the sparse file exited with $?"
cat >"$T/sparse.py" <<'PY'
import os, sys
def regions(path):
    fd = os.open(path, os.O_RDONLY)
    size, off, r = os.fstat(fd).st_size, 0, []
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        r.append((d, h))
        off = h
    return fd, size, r
fa, sa, ra = regions(sys.argv[1])
fb, sb, rb = regions(sys.argv[2])
bad = []
if sa != sb: bad.append('size %d, expected %d' % (sb, sa))
# every data byte of the original is in the copy's data, with the same bytes
for d, h in ra:
    a = os.pread(fa, h - d, d)
    b = os.pread(fb, h - d, d)
    if a != b: bad.append('bytes differ in [%d, %d)' % (d, h))
# the copy's data lies within 8 KiB of the original's
for d, h in rb:
    if not any(d >= (x // 8192) * 8192 and h <= -(-y // 8192) * 8192 for x, y in ra):
        bad.append('copy has data at [%d, %d) where the original has a hole' % (d, h))
blocks = os.fstat(fb).st_blocks * 512
if blocks > 1 << 20: bad.append('copy allocates %d bytes (holes filled?)' % blocks)
print('; '.join(bad))
sys.exit(1 if bad else 0)
PY
python3 "$T/sparse.py" "$DATA/sparse2g" "$T/sparse2g" >"$T/sparse.out" ||
	check_fail "sparse file: $(cat "$T/sparse.out")"
[ "$(jq .hole_bytes "$T/sparse.json")" -gt 2000000000 ] || check_fail "restore --json: hole_bytes $(jq .hole_bytes "$T/sparse.json"), expected nearly 2 GiB"
golden_check restore.json "$T/sparse.json"

log "overwrite"
expect_fail "restore onto an existing DEST" \
	"$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree@@$T1" "$T/restored"
printf 'local change\n' >"$T/restored/hello.txt"
printf 'extra\n' >"$T/restored/extra"
"$CDPFS" restore --store "$STORE" --overwrite "$HOST:$DATA/tree@@$T1" "$T/restored" >"$T/over.out" ||
	check_fail "restore --overwrite exited with $?"
grep -q "1 entries already in" "$T/over.out" || check_fail "restore --overwrite does not count the kept entry: $(cat "$T/over.out")"
manifest "$T/restored" | grep -v '^extra ' >"$T/over.manifest"
compare_manifest "$T/m/t1.manifest" "$T/over.manifest" "restore --overwrite" ||
	check_fail "restore --overwrite did not bring the tree back to t1"

log "dry run"
"$CDPFS" restore --store "$STORE" --dry-run "$HOST:$DATA/tree@@$T1" "$T/dry" >"$T/dry.out" ||
	check_fail "restore --dry-run exited with $?"
[ -e "$T/dry" ] && check_fail "restore --dry-run wrote '$T/dry'"
grep -qxF "+ $T/dry/hello.txt (6 bytes)" "$T/dry.out" || check_fail "restore --dry-run does not list hello.txt: $(head -c 300 "$T/dry.out")"

log "restore into the captured directory"
"$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree/hello.txt@@$T1" "$DATA/tree/hello.restored" >/dev/null ||
	check_fail "restore into the captured directory exited with $?"
[ "$(cat "$DATA/tree/hello.restored")" = hello ] || check_fail "hello.restored holds '$(cat "$DATA/tree/hello.restored")'"
"$CDPFS" diff --store "$STORE" "$HOST:$DATA/tree@@$T1" latest -- hello.restored >"$T/journaled.txt"
grep -qxF "A $DATA/tree/hello.restored" "$T/journaled.txt" || check_fail "the restore into the captured directory is not in the history: $(cat "$T/journaled.txt")"

capture_stop "$DATA"

log "damaged chunk"
cp -a "$STORE" "$T/damaged"
python3 - "$DATA/tree/marker.bin" "$T/damaged/segments" <<'PY' || fail "cannot find marker.bin's data in the segments"
import os, sys
probe = open(sys.argv[1], 'rb').read()[100000:100064]
for name in sorted(os.listdir(sys.argv[2])):
    p = os.path.join(sys.argv[2], name)
    data = open(p, 'rb').read()
    i = data.find(probe)
    if i >= 0:
        with open(p, 'r+b') as f:
            f.seek(i + 10); f.write(b'\xff\x00\xa5')
        sys.exit(0)
sys.exit(1)
PY
# the store's line names the chunk, the last line the file
rc=0
"$CDPFS" restore --store "$T/damaged" "$HOST:$DATA/tree@@$T1" "$T/from-damaged" >"$T/damaged.out" 2>"$T/damaged.err" || rc=$?
log "restore over a damaged chunk: exit $rc, stderr: $(tr '\n' '|' <"$T/damaged.err")"
[ "$rc" = 1 ] || check_fail "restore over a damaged chunk: expected exit 1, got $rc"
grep -q "^cdpfs: corrupt chunk [0-9a-f]* in segment" "$T/damaged.err" || check_fail "no line names the damaged chunk"
tail -n 1 "$T/damaged.err" | grep -q "^cdpfs: cannot restore '$DATA/tree/marker.bin'" ||
	check_fail "the last line does not name marker.bin: $(tail -n 1 "$T/damaged.err")"
[ -e "$T/from-damaged/marker.bin" ] && check_fail "a damaged marker.bin was left at DEST"
ls -a "$T/from-damaged" 2>/dev/null | grep -q cdpfs-restore && check_fail "a temporary file was left beside the damaged file"

expect_fail "restore without DEST" "$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree@latest"
expect_fail "restore without a time" "$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree" "$T/x"
expect_fail "restore of a missing path" "$CDPFS" restore --store "$STORE" "$HOST:$DATA/none@latest" "$T/x"
expect_fail "restore into a missing directory" "$CDPFS" restore --store "$STORE" "$HOST:$DATA/tree@latest" "$T/no/such/dir"
finish
