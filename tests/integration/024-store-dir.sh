# SPDX-License-Identifier: GPL-2.0-or-later
#
# 024-store-dir - a store is created only in an empty or missing directory.
# `cdpfs capture --store DIR` on a directory that is not a cdpfs store and
# holds anything (files of its own; another program's RocksDB database; a
# FORMAT file that is not a cdpfs store's) is refused with one line and a
# non-zero exit, and nothing in DIR changes: the same names, sizes,
# modes, mtimes and contents before and after, and no mount.
. "$(dirname "$0")/lib.sh"
require_cdpfs
SNAP=$BUILD/tests/snapshot_store
[ -x "$SNAP" ] || fail "'$SNAP' is not built (make builds tests/tools/*.c)"

mkdir -p "$T/live" "$T/src"
printf 'x\n' >"$T/src/x"

# state DIR: every name under DIR with its type, size, mode, mtime and hash
state() {
	(cd "$1" && find . -printf '%p %y %s %m %T@\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# refused LABEL DIR: capture --store DIR must fail and leave DIR as it was
refused() {
	local label=$1 dir=$2
	state "$dir" >"$T/before"
	expect_fail "$label" "$CDPFS" capture --store "$dir" --host "$HOST" "$T/live" || true
	if is_mounted "$T/live"; then
		check_fail "$label: capture started and mounted '$T/live'"
		"$CDPFS" capture --store "$dir" --stop "$T/live" || force_unmount "$T/live"
	fi
	grep -q "not a cdpfs store" "$T/expect.err" ||
		check_fail "$label: expected stderr to say 'not a cdpfs store', got: $(cat "$T/expect.err")"
	state "$dir" >"$T/after"
	diff -u "$T/before" "$T/after" >"$T/state.diff" ||
		check_fail "$label: '$dir' changed although capture refused it: $(head -n 20 "$T/state.diff" | tr '\n' '|')"
}

# files of another program
mkdir -p "$T/files/sub"
printf 'keep me\n' >"$T/files/notes.txt"
printf 'deeper\n' >"$T/files/sub/data"
touch -d '2020-01-01 00:00:00' "$T/files" "$T/files/notes.txt"
refused "a directory of files" "$T/files"

# another program's RocksDB database (the files of one, at the top level)
"$SNAP" "$T/made" "$HOST" "$T/src" >/dev/null || fail "snapshot_store failed"
cp -a "$T/made/index" "$T/otherdb"
refused "another program's RocksDB" "$T/otherdb"

# a FORMAT that is not a cdpfs store's
mkdir -p "$T/fmt"
printf 'some other tool 3\n' >"$T/fmt/FORMAT"
refused "a foreign FORMAT file" "$T/fmt"

# an empty directory and a missing one are fine
mkdir -p "$T/empty"
STORE=$T/empty
capture_start "$T/live"
capture_stop "$T/live"
[ -f "$T/empty/FORMAT" ] || check_fail "capture into an empty directory made no store (no '$T/empty/FORMAT')"
finish
