# SPDX-License-Identifier: GPL-2.0-or-later
#
# 006-bad-input - every bad input of the issue gives a non-zero exit, exactly
# one line on stderr starting "cdpfs:", nothing left mounted, and the store
# unchanged: unknown host (the message lists the known ones), TIME before
# the first baseline, in the future, malformed, a missing store (not
# created), an unreadable store, a store of another format version, a
# missing mount point, a busy mount point, capture of a directory already
# captured, capture of a path inside the store, and bad overlay options.
. "$(dirname "$0")/lib.sh"
require_cdpfs

DATA=$T/data
MNT=$T/mnt
mkdir -p "$MNT"
make_baseline "$DATA"
before_capture=$(record_instant)
capture_start "$DATA"
printf 'change\n' >"$DATA/changed"
checkpoint c1 "$DATA"

# -- capture errors, while capture runs
expect_fail "capture of a dir already captured" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$DATA"
is_mounted "$DATA" || check_fail "after a refused second capture, '$DATA' is no longer mounted"
printf 'still works\n' >"$DATA/after-refused" || check_fail "capture mount broken after a refused second capture"
rm "$DATA/after-refused"
mkdir -p "$STORE/inside"
expect_fail "capture of a path inside the store" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$STORE/inside"
is_mounted "$STORE/inside" && { check_fail "'$STORE/inside' got mounted"; force_unmount "$STORE/inside"; }
rmdir "$STORE/inside"
expect_fail "capture of the store itself" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$STORE"
is_mounted "$STORE" && { check_fail "the store itself got mounted"; force_unmount "$STORE"; }
expect_fail "capture of a missing dir" \
	"$CDPFS" capture --store "$STORE" --host "$HOST" "$T/no-such-dir"

capture_stop "$DATA"
checkpoint c2 "$DATA"
store_sums "$STORE" >"$T/sums.before"

# mount_fails LABEL ARGS...: cdpfs mount ARGS must fail cleanly, leave MNT
# unmounted and the store unchanged.
mount_fails() {
	local label=$1
	shift
	expect_fail "$label" "$CDPFS" mount "$@" || true
	if is_mounted "$MNT"; then
		check_fail "$label: '$MNT' is mounted after a failed mount"
		force_unmount "$MNT"
	fi
	store_unchanged "$label" "$T/sums.before" "$STORE" || true
}

mount_fails "unknown host" --store "$STORE" no-such-host@latest "$MNT"
grep -q -- "$HOST" "$T/expect.err" || check_fail "unknown host: the message does not list the known host '$HOST'"
mount_fails "unknown host, dir spec" --store "$STORE" "no-such-host:$DATA@latest" "$MNT"
mount_fails "dir never captured" --store "$STORE" "$HOST:/no/such/dir@latest" "$MNT"
mount_fails "TIME before the first baseline" --store "$STORE" "$HOST@@$before_capture" "$MNT"
mount_fails "TIME long before the first baseline" --store "$STORE" "$HOST@2001-01-01T00:00" "$MNT"
mount_fails "TIME in the future" --store "$STORE" "$HOST@@$(($(date +%s) + 3600))" "$MNT"
mount_fails "TIME in the future (date)" --store "$STORE" "$HOST@2099-01-01T00:00:00Z" "$MNT"
for bad in '2025-13-45T99:00' 'yesterday' '' '@' '@abc' '@1764649987.x' '2025-12-02T12:33:07+25:00' \
	'-10q' '12:33' '2025-12-02T12:33:07ZZ' '2025-02-30T00:00'; do
	mount_fails "malformed TIME '$bad'" --store "$STORE" "$HOST@$bad" "$MNT"
done
mount_fails "mount point missing" --store "$STORE" "$HOST@latest" "$T/no-such-mnt"
[ -e "$T/no-such-mnt" ] && check_fail "a failed mount created the missing mount point '$T/no-such-mnt'"
mount_fails "overlay= without rw refused" --store "$STORE" -o overlay=x "$HOST@latest" "$MNT"
mount_fails "bad overlay name refused" --store "$STORE" -o rw,overlay=../x "$HOST@latest" "$MNT"
mount_fails "-o rw before the history refused" --store "$STORE" -o rw "$HOST@@1000000000" "$MNT"
mount_fails "log file in a missing dir" --store "$STORE" -o "log=$T/no-such-dir/mount.log" "$HOST@latest" "$MNT"
grep -q "no-such-dir/mount.log" "$T/expect.err" || check_fail "log file in a missing dir: the message does not name the file: $(cat "$T/expect.err")"

# missing store: error, and nothing created
expect_fail "missing store (mount)" "$CDPFS" mount --store "$T/no-store" "$HOST@latest" "$MNT" || true
expect_fail "missing store (hosts)" "$CDPFS" hosts --store "$T/no-store" || true
[ -e "$T/no-store" ] && check_fail "a mount or hosts of a missing store created '$T/no-store'"
is_mounted "$MNT" && { check_fail "mounted from a missing store"; force_unmount "$MNT"; }
printf 'not a store\n' >"$T/file-store"
expect_fail "store is a regular file" "$CDPFS" hosts --store "$T/file-store" || true
mkdir "$T/empty-store"
expect_fail "store is an empty dir" "$CDPFS" mount --store "$T/empty-store" "$HOST@latest" "$MNT" || true
is_mounted "$MNT" && { check_fail "mounted from an empty dir as store"; force_unmount "$MNT"; }

# unreadable store: as nobody, with the store mode 0700 root
if command -v setpriv >/dev/null; then
	chmod 0711 "$T"
	chmod 0700 "$STORE"
	mkdir -p "$T/nobody-mnt" && chown nobody "$T/nobody-mnt"
	AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	if "${AS_NOBODY[@]}" test -x "$CDPFS"; then
		expect_fail "unreadable store (hosts)" "${AS_NOBODY[@]}" "$CDPFS" hosts --store "$STORE" || true
		expect_fail "unreadable store (mount)" "${AS_NOBODY[@]}" "$CDPFS" mount --store "$STORE" "$HOST@latest" "$T/nobody-mnt" || true
		is_mounted "$T/nobody-mnt" && { check_fail "nobody mounted an unreadable store"; force_unmount "$T/nobody-mnt"; }
	else
		log "NOTE: nobody cannot execute '$CDPFS' (a parent dir is not searchable); unreadable-store case not run"
	fi
	chmod 0755 "$STORE"
	store_unchanged "unreadable store" "$T/sums.before" "$STORE" || true
else
	log "NOTE: setpriv missing: unreadable-store case not run"
fi

# store of another format version: a copy with its FORMAT file edited
cp -a "$STORE" "$T/store-v"
if [ -f "$T/store-v/FORMAT" ]; then
	log "FORMAT file: $(head -c 200 "$T/store-v/FORMAT" | tr '\n' '|')"
	sed -i -E 's/[0-9]+/999/' "$T/store-v/FORMAT"
	grep -q 999 "$T/store-v/FORMAT" || printf '999\n' >"$T/store-v/FORMAT"
	store_sums "$T/store-v" >"$T/sums.v"
	expect_fail "store of another format version (mount)" "$CDPFS" mount --store "$T/store-v" "$HOST@latest" "$MNT" || true
	is_mounted "$MNT" && { check_fail "mounted a store of another format version"; force_unmount "$MNT"; }
	expect_fail "store of another format version (hosts)" "$CDPFS" hosts --store "$T/store-v" || true
	expect_fail "store of another format version (capture)" "$CDPFS" capture --store "$T/store-v" --host "$HOST" "$DATA" || true
	if is_mounted "$DATA"; then
		check_fail "capture into a store of another format version mounted '$DATA'"
		"$CDPFS" capture --store "$T/store-v" --stop "$DATA" || force_unmount "$DATA"
	fi
	store_unchanged "store of another format version" "$T/sums.v" "$T/store-v" || true
else
	check_fail "the store has no FORMAT file (files: $(ls "$T/store-v" | tr '\n' ' '))"
fi

# busy mount point: something is already mounted there
mount_at "$HOST" latest "$MNT"
expect_fail "mount point busy (already mounted)" "$CDPFS" mount --store "$STORE" "$HOST@latest" "$MNT" || true
[ "$(findmnt -rn -M "$MNT" | wc -l)" -le 1 ] || check_fail "a second mount was stacked on the busy '$MNT'"
ls "$MNT$DATA" >/dev/null || check_fail "the first mount on '$MNT' broke after a refused second mount"
umount_at "$MNT"
while is_mounted "$MNT"; do check_fail "stacked mount left on '$MNT'"; force_unmount "$MNT"; done
store_unchanged "busy mount point" "$T/sums.before" "$STORE" || true

# unknown subcommand and option: also one clean line
expect_fail "unknown subcommand" "$CDPFS" no-such-verb || true
expect_fail "unknown option" "$CDPFS" mount --no-such-option "$HOST@latest" "$MNT" || true

# nothing was damaged: the history still mounts right
verify_checkpoints
finish
