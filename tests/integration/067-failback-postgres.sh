# SPDX-License-Identifier: GPL-2.0-or-later
#
# 067-failback-postgres - the takeover and the way back, with a real
# PostgreSQL.  Production (a cluster initdb'ed into a captured directory)
# takes 100 orders and crashes (pg_ctl stop -m immediate); two copies of
# its directory as it was then stand for the production host while it is
# down.  A named overlay of the instant after the crash boots the cluster
# (crash recovery on the overlay) and takes the takeover's work: orders
# 101..150 and an ALTER SYSTEM.  Once it is stopped, `overlay apply` onto
# the first copy must exit 0, and a server started on that copy must hold
# exactly orders 1..150 and the setting.  On the second copy an admin
# edited postgresql.auto.conf during the outage: apply must refuse that
# file (exit 1, listed as a conflict) and leave its content alone.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "reading --json"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || skip "PostgreSQL server is not installed (scripts/install-deps installs it)"
id postgres >/dev/null 2>&1 || skip "no postgres user (the postgresql package creates it)"

# the postgres user must reach every directory through its parents: a base
# of its own under /tmp (as in 211)
BASE=$(mktemp -d /tmp/cdpfs-it-pgfb.XXXXXX)
chmod 0755 "$BASE"
PGDATA=$BASE/data
SOCK=$BASE/sock
OVL=$BASE/ovl
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$PGDATA" "$SOCK" "$OVL" "$BASE/logs"
chown postgres: "$PGDATA" "$SOCK" "$BASE/logs"
chmod 0700 "$PGDATA"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$PGBIN/initdb" -N -A trust -U postgres -D "$PGDATA" >"$T/initdb.log" 2>&1 ||
	{ cat "$T/initdb.log"; fail "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$SOCK'
listen_addresses = ''
shared_buffers = 16MB
max_wal_size = 64MB
fsync = on
CONF
RUNNING=
pg_start() {   # DIR LABEL
	as_pg "$PGBIN/pg_ctl" -D "$1" -l "$BASE/logs/$2.log" -w -t 60 start >/dev/null ||
		{ tail -n 20 "$BASE/logs/$2.log"; fail "the server on $2 ($1) did not start"; }
	RUNNING=$1
}
pg_stop() {   # [MODE]
	[ -n "$RUNNING" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$RUNNING" -m "${1:-fast}" -w stop >/dev/null 2>&1 ||
		check_fail "the server on $RUNNING did not stop"
	RUNNING=
}
psql_pg() { as_pg psql -X -q -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -At "$@"; }
base_cleanup() {
	pg_stop immediate
	is_mounted "$OVL" && force_unmount "$OVL"
	if is_mounted "$PGDATA"; then
		timeout 60 "$CDPFS" capture --store "$STORE" --stop "$PGDATA" || force_unmount "$PGDATA"
	fi
	is_mounted "$PGDATA" || is_mounted "$OVL" || rm -rf "$BASE"
}
at_exit base_cleanup

capture_start "$PGDATA"
pg_start "$PGDATA" production
psql_pg -c "CREATE TABLE orders (id integer PRIMARY KEY, note text)" \
	-c "INSERT INTO orders SELECT g, 'production ' || g FROM generate_series(1, 100) g" ||
	fail "cannot fill the orders table in production"
log "production crashes"
pg_stop immediate
sleep 0.2
CRASH=$(date +%s.%N)
# production's host while it is down: its directory as the crash left it
cp -a "$PGDATA" "$BASE/prod1"
cp -a "$PGDATA" "$BASE/prod2"

log "takeover on overlay pgfb"
mount_at "$HOST:$PGDATA" "@$CRASH" "$OVL" "rw,overlay=pgfb"
pg_start "$OVL" takeover
psql_pg -c "INSERT INTO orders SELECT g, 'takeover ' || g FROM generate_series(101, 150) g" \
	-c "ALTER SYSTEM SET work_mem = '7MB'" || fail "the takeover's transactions failed"
pg_stop fast
umount_at "$OVL"

"$CDPFS" overlay --store "$STORE" diff pgfb >"$T/odiff.txt" || check_fail "overlay diff exited with $?"
log "overlay diff: $(wc -l <"$T/odiff.txt") lines: $(head -n 12 "$T/odiff.txt" | tr '\n' '|')"
grep -q "^M $PGDATA/postgresql.auto.conf" "$T/odiff.txt" ||
	check_fail "overlay diff does not list postgresql.auto.conf as changed"
grep -q "^[AM] $PGDATA/pg_wal/" "$T/odiff.txt" || check_fail "overlay diff lists no WAL change"

log "failback onto prod1"
rc=0
"$CDPFS" overlay --store "$STORE" apply pgfb "$BASE/prod1" >"$T/apply1.txt" 2>"$T/apply1.err" || rc=$?
log "apply: exit $rc, $(tail -n 2 "$T/apply1.txt" | tr '\n' '|') $(head -c 400 "$T/apply1.err")"
[ "$rc" = 0 ] || check_fail "overlay apply onto an untouched copy of production: expected exit 0, got $rc"
[ "$(stat -c %U "$BASE/prod1/postgresql.auto.conf")" = postgres ] ||
	check_fail "apply: postgresql.auto.conf is not owned by postgres any more"
pg_start "$BASE/prod1" prod1
r=$(psql_pg -c "SELECT count(*), min(id), max(id), count(*) FILTER (WHERE note LIKE 'takeover %') FROM orders") ||
	check_fail "production after the failback does not answer"
[ "$r" = "150|1|150|50" ] ||
	check_fail "production after the failback: orders count|min|max|takeover rows '$r', expected 150|1|150|50"
r=$(psql_pg -c "SHOW work_mem")
[ "$r" = 7MB ] || check_fail "production after the failback: work_mem '$r', expected the takeover's 7MB"
pg_stop fast

log "failback onto prod2, edited during the outage"
echo "# edited by hand during the outage" >>"$BASE/prod2/postgresql.auto.conf"
cp "$BASE/prod2/postgresql.auto.conf" "$T/auto.conf.prod2"
rc=0
"$CDPFS" overlay --store "$STORE" apply pgfb "$BASE/prod2" >"$T/apply2.txt" 2>"$T/apply2.err" || rc=$?
log "apply: exit $rc: $(grep '^CONFLICT' "$T/apply2.txt" | tr '\n' '|')"
[ "$rc" = 1 ] || check_fail "apply with a conflict: expected exit 1, got $rc"
grep -q "^CONFLICT M $BASE/prod2/postgresql.auto.conf " "$T/apply2.txt" ||
	check_fail "apply did not list postgresql.auto.conf as a conflict: $(grep '^CONFLICT' "$T/apply2.txt" | tr '\n' '|')"
[ "$(grep -c '^CONFLICT' "$T/apply2.txt")" = 1 ] ||
	check_fail "apply: expected one conflict, got $(grep -c '^CONFLICT' "$T/apply2.txt")"
cmp -s "$T/auto.conf.prod2" "$BASE/prod2/postgresql.auto.conf" ||
	check_fail "apply wrote the conflicting postgresql.auto.conf"

capture_stop "$PGDATA"
finish
