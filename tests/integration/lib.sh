# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib.sh - shared harness of the cdpfs integration tests, sourced by every
# tests/integration/NNN-name.sh.  It gives each test:
#   - $T, its own temp dir (from scripts/run-integration-tests, or made here),
#     $STORE (a store inside $T), $HOST (the host name captured), $CDPFS;
#   - a trap that, on every exit path, unmounts every mount the test made
#     (fusermount3 -u, then -uz as a last resort), stops every capture it
#     started (cdpfs capture --stop, then kill of the daemon pids it recorded
#     as a last resort) and runs the test's own at_exit commands;
#   - ground-truth helpers: record_instant, manifest, checkpoint (instant +
#     manifest of the live tree), verify_checkpoints (mount each instant,
#     require the same manifest), compare_manifest, mount_at, expect_fail.
# CDPFS_IT_DRYRUN=1 runs a test's operations on the native directory with no
# capture and no verification: a self-test of the scripts themselves.
# A test calls fail to stop at once, check_fail to record a failure and go
# on (so one run reports every mismatch), skip to exit 77, and finish last.
# Everything is logged to stdout with timestamps; the runner keeps the log on
# failure.

set -euo pipefail
shopt -s nullglob

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$SRCDIR/build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
CDPFS=${CDPFS:-$BUILD/cdpfs}
TEST_NAME=$(basename "$0" .sh)

if [ -z "${T:-}" ]; then
	T=$(mktemp -d "${TMPDIR:-/tmp}/cdpfs-it.$TEST_NAME.XXXXXX")
fi
T=$(cd "$T" && pwd)
export T
STORE=${STORE:-$T/store}
HOST=${HOST:-itest${TEST_NAME%%-*}}
TOOLS=$T/tools
printf "[%s] %s: temp dir %s, store %s, host %s\n" "$(date +%H:%M:%S.%3N)" "$TEST_NAME" "$T" "$STORE" "$HOST"

MOUNTS=()        # time-travel mounts made by this test, in order
CAPTURED=()      # directories this test put under capture
DAEMON_PIDS=()   # pids of cdpfs daemons started by this test (last resort)
AT_EXIT=()       # test's own clean-up commands, run first
CHECKPOINTS=()   # "name instant" pairs recorded by checkpoint
FAILURES=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
check_fail() { log "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
skip() { echo "SKIP: $*"; exit 77; }
at_exit() { AT_EXIT+=("$*"); }

# Ends a test: non-zero when check_fail was called.
finish() {
	if [ "$FAILURES" -ne 0 ]; then
		log "$TEST_NAME: $FAILURES check(s) failed"
		exit 1
	fi
	log "$TEST_NAME: all checks passed"
	exit 0
}

# is_mounted PATH: PATH is itself a mount point.
is_mounted() {
	findmnt -rn -M "$1" >/dev/null 2>&1
}

# cdpfs_cmdline PID: prints PID's command line when it is a cdpfs or
# mount.cdpfs process whose arguments name this test's temp dir.
cdpfs_cmdline() {
	local argv0 cmd
	argv0=
	{ IFS= read -r -d '' argv0 || true; } 2>/dev/null <"/proc/$1/cmdline" || return 1
	case ${argv0##*/} in cdpfs | mount.cdpfs) ;; *) return 1 ;; esac
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmd in *"$T"*) echo "$cmd"; return 0 ;; esac
	return 1
}

# Records the pids of the cdpfs daemons this test started (they keep the
# argv of the command that forked them, which names a path inside $T).
record_daemon_pids() {
	local p pid q known
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = "$$" ] && continue
		cdpfs_cmdline "$pid" >/dev/null || continue
		known=0
		for q in "${DAEMON_PIDS[@]}"; do [ "$q" = "$pid" ] && known=1; done
		[ $known = 1 ] || DAEMON_PIDS+=("$pid")
	done
	return 0
}

# pid_is_ours PID: still alive and still a cdpfs process of this test.
pid_is_ours() {
	cdpfs_cmdline "$1" >/dev/null
}

force_unmount() {
	local m=$1 i
	for i in 1 2 3; do
		is_mounted "$m" || return 0
		fusermount3 -u "$m" 2>/dev/null && return 0
		umount "$m" 2>/dev/null && return 0
		sleep 1
	done
	is_mounted "$m" || return 0
	log "cleanup: lazy unmount of '$m'"
	fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
}

cleanup() {
	local rc=$? i d p alive
	set +e
	trap - EXIT INT TERM
	for ((i = ${#AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${AT_EXIT[$i]}" || log "cleanup: '${AT_EXIT[$i]}' failed"
	done
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		force_unmount "${MOUNTS[$i]}"
	done
	for ((i = ${#CAPTURED[@]} - 1; i >= 0; i--)); do
		d=${CAPTURED[$i]}
		is_mounted "$d" || continue
		log "cleanup: stopping capture of '$d'"
		timeout 60 "$CDPFS" capture --store "$STORE" --stop "$d" ||
			log "cleanup: 'cdpfs capture --stop $d' failed"
		force_unmount "$d"
	done
	record_daemon_pids
	for i in $(seq 1 50); do
		alive=()
		for p in "${DAEMON_PIDS[@]}"; do pid_is_ours "$p" && alive+=("$p"); done
		[ ${#alive[@]} -eq 0 ] && break
		sleep 0.2
	done
	if [ ${#alive[@]} -ne 0 ]; then
		log "cleanup: daemons still alive after stop/unmount, killing: ${alive[*]}"
		for p in "${alive[@]}"; do ps -o pid,args -p "$p" || true; kill -TERM "$p"; done
		sleep 2
		for p in "${alive[@]}"; do pid_is_ours "$p" && kill -KILL "$p"; done
		[ "$rc" -eq 0 ] && rc=1 && log "FAIL: a cdpfs daemon outlived its unmount/stop"
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for p in "$STORE"/*.log; do
			log "last lines of the daemon log '$p':"
			tail -n 15 "$p"
		done
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted (SIGTERM, timeout?)"; exit 143' TERM
trap 'log "interrupted (SIGINT)"; exit 130' INT

# tool NAME: path of a helper built from tests/tools/NAME.c; built by make
# into build/tests/, or compiled here into $T/tools when make has not.
tool() {
	local name=$1
	if [ -x "$BUILD/tests/$name" ] && [ "$BUILD/tests/$name" -nt "$SRCDIR/tests/tools/$name.c" ]; then
		echo "$BUILD/tests/$name"
		return
	fi
	if [ ! -x "$TOOLS/$name" ]; then
		mkdir -p "$TOOLS"
		${CC:-cc} -std=gnu11 -O2 -D_GNU_SOURCE -o "$TOOLS/$name" \
			"$SRCDIR/tests/tools/$name.c" -lcrypto >&2 ||
			fail "cannot build test tool '$name'"
	fi
	echo "$TOOLS/$name"
}

require_cdpfs() {
	[ "${CDPFS_IT_DRYRUN:-0}" = 1 ] && return 0
	[ -x "$CDPFS" ] || fail "'$CDPFS' is not built (run make)"
	[ -e /dev/fuse ] || fail "/dev/fuse is missing: these tests need real FUSE mounts"
	command -v fusermount3 >/dev/null || fail "fusermount3 is missing (apt-get install fuse3)"
}

# require_cmd CMD REASON: skips the test when CMD is missing.
require_cmd() {
	command -v "$1" >/dev/null || skip "'$1' is not installed ($2)"
}

# ---------------------------------------------------------------- capture

# capture_start DIR...: protects the directories; fails unless capture
# returns 0 and every DIR is then a FUSE mount point.  CAPTURE_FLAGS (e.g.
# --attach-running) are passed to cdpfs capture.
capture_start() {
	local d abs=()
	for d in "$@"; do abs+=("$(readlink -f "$d")"); done
	if [ "${CDPFS_IT_DRYRUN:-0}" = 1 ]; then log "dry run: no capture of ${abs[*]}"; return 0; fi
	log "capture --store $STORE --host $HOST ${abs[*]}"
	CAPTURED+=("${abs[@]}")
	# shellcheck disable=SC2086  # CAPTURE_FLAGS: extra options, word-split
	"$CDPFS" capture --store "$STORE" --host "$HOST" ${CAPTURE_FLAGS:-} "${abs[@]}" ||
		fail "cdpfs capture of ${abs[*]} exited with $?"
	record_daemon_pids
	for d in "${abs[@]}"; do
		is_mounted "$d" || fail "cdpfs capture returned but '$d' is not a mount point"
	done
}

# capture_stop DIR: stops capture; fails unless DIR is then unmounted.
capture_stop() {
	local d
	d=$(readlink -f "$1")
	if [ "${CDPFS_IT_DRYRUN:-0}" = 1 ]; then log "dry run: no stop of $d"; return 0; fi
	log "capture --store $STORE --stop $d"
	"$CDPFS" capture --store "$STORE" --stop "$d" ||
		fail "cdpfs capture --stop '$d' exited with $?"
	is_mounted "$d" && fail "cdpfs capture --stop '$d' returned but '$d' is still mounted"
	local keep=() c
	for c in "${CAPTURED[@]}"; do [ "$c" = "$d" ] || keep+=("$c"); done
	CAPTURED=("${keep[@]}")
	return 0
}

# ---------------------------------------------------------------- mounts

# mount_at HOST TIME MNT [OPTS]: cdpfs mount of HOST@TIME (HOST may be
# HOST:/dir); fails unless it returns 0 with MNT mounted.
mount_at() {
	local host=$1 time=$2 mnt=$3 opts=${4:-}
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	if [ -n "$opts" ]; then
		"$CDPFS" mount --store "$STORE" -o "$opts" "$host@$time" "$mnt" ||
			fail "cdpfs mount $host@$time $mnt exited with $?"
	else
		"$CDPFS" mount --store "$STORE" "$host@$time" "$mnt" ||
			fail "cdpfs mount $host@$time $mnt exited with $?"
	fi
	record_daemon_pids
	is_mounted "$mnt" || fail "cdpfs mount $host@$time returned but '$mnt' is not mounted"
}

umount_at() {
	local mnt=$1
	fusermount3 -u "$mnt" || fail "fusermount3 -u '$mnt' failed"
	local keep=() m
	for m in "${MOUNTS[@]}"; do [ "$m" = "$mnt" ] || keep+=("$m"); done
	MOUNTS=("${keep[@]}")
	return 0
}

# ------------------------------------------------------------ ground truth

# record_instant: prints the current instant as EPOCH.NANOSECONDS, taken
# after the phase's commands returned, with >= 10 ms of quiet on both sides
# (the caller must not start the next phase before this returns).
record_instant() {
	sleep 0.015
	date +%s.%N
	sleep 0.015
}

# manifest DIR: the sorted manifest of DIR on stdout (see tests/tools/manifest.c).
manifest() {
	"$(tool manifest)" "$@"
}

# compare_manifest EXPECTED GOT LABEL: 0 when equal; else logs the diff.
compare_manifest() {
	local exp=$1 got=$2 label=${3:-}
	if diff -u "$exp" "$got" >"$got.diff"; then
		return 0
	fi
	log "MISMATCH $label: '$exp' (expected, live tree) vs '$got' (mounted); diff (-expected +mounted):"
	head -n 60 "$got.diff"
	[ "$(wc -l <"$got.diff")" -gt 60 ] && log "... $(wc -l <"$got.diff") diff lines in all, see $got.diff"
	return 1
}

# checkpoint NAME DIR: records an instant and the manifest of the live DIR
# in $T/m/NAME.manifest; verify_checkpoints checks them all.
checkpoint() {
	local name=$1 dir=$2 ts
	mkdir -p "$T/m"
	sleep 0.015
	ts=$(date +%s.%N)
	manifest "$dir" >"$T/m/$name.manifest" || fail "manifest of live '$dir' failed"
	sleep 0.015
	CHECKPOINTS+=("$name $ts $dir")
	log "checkpoint $name at @$ts ($(wc -l <"$T/m/$name.manifest") entries)"
}

# verify_checkpoints [GLOB]: mounts HOST@@instant of each checkpoint (whose
# name matches GLOB, default all) and requires the manifest of MNT/DIR to
# equal the live one; every mismatch is reported.
verify_checkpoints() {
	local c name ts dir mnt only=${1:-*}
	if [ "${CDPFS_IT_DRYRUN:-0}" = 1 ]; then log "dry run: no verification"; return 0; fi
	for c in "${CHECKPOINTS[@]}"; do
		read -r name ts dir <<<"$c"
		# shellcheck disable=SC2053
		[[ $name == $only ]] || continue
		mnt=$T/mnt/$name
		mount_at "$HOST" "@$ts" "$mnt"
		if ! manifest "$mnt$dir" >"$T/m/$name.got"; then
			check_fail "checkpoint $name: manifest of mounted '$mnt$dir' failed"
		elif compare_manifest "$T/m/$name.manifest" "$T/m/$name.got" "checkpoint $name @$ts"; then
			log "checkpoint $name @$ts: mounted tree matches"
		else
			check_fail "checkpoint $name @$ts: mounted tree differs from the live tree"
		fi
		umount_at "$mnt"
	done
}

# expect_fail LABEL CMD...: CMD must exit non-zero with exactly one line on
# stderr, starting "cdpfs:".  Records a failure otherwise.
expect_fail() {
	local label=$1 rc=0 lines
	shift
	"$@" >"$T/expect.out" 2>"$T/expect.err" || rc=$?
	lines=$(wc -l <"$T/expect.err")
	log "$label: exit $rc, stderr: $(head -c 400 "$T/expect.err" | tr '\n' '|')"
	if [ "$rc" -eq 0 ]; then
		check_fail "$label: expected a non-zero exit, got 0 (command: $*)"
		return 1
	fi
	if [ "$lines" -ne 1 ] || ! head -n 1 "$T/expect.err" | grep -q '^cdpfs:'; then
		check_fail "$label: expected exactly one stderr line starting 'cdpfs:', got $lines line(s): $(head -c 400 "$T/expect.err" | tr '\n' '|')"
		return 1
	fi
	return 0
}

# golden_check NAME FILE [prefix]: FILE, with its instants, counters,
# drill IDs, hashes, temp names and $T made constant (tests/golden/README.md),
# must equal tests/golden/NAME; with "prefix", must start with it.
# GOLDEN_UPDATE=1 writes the golden file instead (review the diff).
golden_check() {
	local name=$1 file=$2 mode=${3:-whole} golden=$SRCDIR/tests/golden/$1 got=$T/golden.got
	sed -e "s|$T|@T@|g" "$file" | sed -E -f "$SRCDIR/tests/golden/normalize.sed" >"$got"
	if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
		mkdir -p "$(dirname "$golden")"
		cp "$got" "$golden"
		log "golden $name written"
		return 0
	fi
	[ "$mode" = prefix ] && head -c "$(wc -c <"$golden")" "$got" >"$got.prefix" && mv "$got.prefix" "$got"
	if ! diff -u "$golden" "$got" >"$T/golden.diff"; then
		check_fail "output differs from tests/golden/$name: $(head -n 30 "$T/golden.diff" | tr '\n' '|')"
		return 1
	fi
	return 0
}

# store_sums STORE: sha256 of every file of a store (RocksDB's own LOG files
# excepted: a reader may append to them; and the audit trail, which records
# every action, refused ones included).
store_sums() {
	(cd "$1" && find . -type f ! -name 'LOG' ! -name 'LOG.old.*' ! -path './audit/*' -print0 | sort -z |
		xargs -0 -r sha256sum)
}

# store_unchanged LABEL BEFORE_FILE STORE: every file listed before is still
# there with the same content (new files are logged, not failed).
store_unchanged() {
	local label=$1 before=$2 dir=$3 after
	after=$T/sums.after
	store_sums "$dir" >"$after"
	if ! (cd "$dir" && sha256sum --quiet -c "$before") >"$T/sums.diff" 2>&1; then
		check_fail "$label: files of store '$dir' changed or vanished: $(head -c 400 "$T/sums.diff" | tr '\n' '|')"
		return 1
	fi
	local added
	added=$(comm -13 <(awk '{print $2}' "$before" | sort) <(awk '{print $2}' "$after" | sort) | tr '\n' ' ')
	[ -z "$added" ] || log "$label: note: new files in store: $added"
	return 0
}

# new_daemon_pids BEFORE...: the daemon pids recorded (DAEMON_PIDS) that are
# not among BEFORE, in VICTIMS; fails when there is none.
new_daemon_pids() {
	local p
	VICTIMS=()
	for p in "${DAEMON_PIDS[@]}"; do
		case " $* " in *" $p "*) ;; *) VICTIMS+=("$p") ;; esac
	done
	[ ${#VICTIMS[@]} -ge 1 ] || fail "cannot find the capture daemon's pid (no new cdpfs process naming '$T')"
}

# kill_capture PID...: SIGKILL to the capture daemon PIDs (recorded by this
# test), then waits for the reap; its dead mount stays.
kill_capture() {
	local p i zombie
	kill -KILL "$@"
	for i in $(seq 1 300); do
		zombie=0
		for p in "$@"; do [ -e "/proc/$p" ] && zombie=1; done
		[ $zombie = 0 ] && break
		sleep 0.1
	done
	log "killed daemon reaped after $((i / 10)).$((i % 10)) s (zombie=$zombie)"
}

# crash_capture DIR PID...: kill_capture, then takes the dead mount off DIR.
# The dead daemon stays a
# zombie until its parent (init, after daemonising) reaps it; some PID 1s
# (containers, this VM's) reap only every few seconds, and the store takes a
# zombie's pid for a live session: wait up to 30 s for the reap, so that a
# test checks crash recovery.
crash_capture() {
	local dir=$1
	shift
	kill_capture "$@"
	fusermount3 -uz "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
	is_mounted "$dir" && fail "cannot unmount the dead capture mount on '$dir'"
	CAPTURED=()
}

# make_baseline DIR: fills DIR with a small tree (files of several sizes,
# a sub dir, a symlink, a hard link, an xattr) before capture starts.
make_baseline() {
	local d=$1
	mkdir -p "$d/sub/deeper"
	printf 'hello\n' >"$d/hello.txt"
	head -c 100000 /dev/urandom >"$d/random.bin"
	head -c 8192 /dev/zero >"$d/zeros.bin"
	printf 'x' >"$d/sub/one-byte"
	seq 1 20000 >"$d/sub/deeper/numbers.txt"
	ln -s ../hello.txt "$d/sub/link-to-hello"
	ln "$d/hello.txt" "$d/sub/hard-hello"
	: >"$d/empty"
	truncate -s 1M "$d/sparse.bin"
	printf 'tail' | dd of="$d/sparse.bin" bs=1 seek=500000 conv=notrunc status=none
	setfattr -n user.origin -v baseline "$d/hello.txt"
	chmod 0640 "$d/random.bin"
	touch -d '2020-01-02 03:04:05.123456789' "$d/sub/one-byte"
}
