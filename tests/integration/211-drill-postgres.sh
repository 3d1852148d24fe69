# SPDX-License-Identifier: GPL-2.0-or-later
#
# 211-drill-postgres - recovery drills that boot a real PostgreSQL from past
# instants of a captured cluster.  A cluster initdb'ed into a captured
# directory runs as the postgres user on a private port and socket dir
# (production), under pgbench load plus a ledger driver that records, for
# each of its transactions, the instant before it began and the instant its
# COMMIT returned.  For three instants `cdpfs drill` runs the ready-made
# postgres check with a query listing the ledger: the server must start,
# recover, pass pg_amcheck, and hold every ledger row whose commit returned
# before the instant and none that began after it.  The report files must
# exist and say pass.  Production keeps running throughout and is untouched
# by the drills: its ledger is complete, its postmaster.pid is its own, and
# the amcheck extension each drill installed exists only in the drills.
. "$(dirname "$0")/lib.sh"
require_cdpfs
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || skip "PostgreSQL server is not installed (scripts/install-deps installs it)"
[ -x "$PGBIN/pg_amcheck" ] || skip "pg_amcheck is not installed (PostgreSQL 14 or later)"
id postgres >/dev/null 2>&1 || skip "no postgres user (the postgresql package creates it)"
command -v pgbench >/dev/null || skip "pgbench is not installed (postgresql-contrib / postgresql-client)"
CHECK=$SRCDIR/scripts/checks/postgres

# The postgres user must reach the data directory and the drills' mount
# points through every parent directory, which $T (under $TMPDIR, perhaps a
# checkout) does not promise: both live in a base of their own under /tmp.
BASE=$(mktemp -d /tmp/cdpfs-it-pg.XXXXXX)
chmod 0755 "$BASE"
export TMPDIR=$BASE/tmp   # the drills' mount points
mkdir -p "$TMPDIR"
chmod 1777 "$TMPDIR"
PGROOT=$BASE/pg
PGDATA=$PGROOT/data
SOCK=$PGROOT/sock
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$PGDATA" "$SOCK"
chown -R postgres: "$PGROOT"
chmod 0700 "$PGDATA"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$PGBIN/initdb" -N -A trust -U postgres -D "$PGDATA" >"$T/initdb.log" 2>&1 ||
	{ cat "$T/initdb.log"; fail "initdb failed"; }
cat >>"$PGDATA/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$SOCK'
listen_addresses = ''
shared_buffers = 32MB
max_wal_size = 64MB
CONF
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true; }
# on every exit path: the server, leftover drill mounts, the capture, $BASE
# (the lib's own clean-up only knows what lives under $T)
base_cleanup() {
	local m p
	pg_stop
	# a drill's server left by a killed drill runs from a mount under $BASE
	for p in /proc/[0-9]*; do
		case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in
		*"$BASE/tmp/"*) kill -TERM "${p#/proc/}" 2>/dev/null ;;
		esac
	done
	findmnt -rn -o TARGET | grep "^$BASE/tmp/" | while read -r m; do force_unmount "$m"; done
	if is_mounted "$PGDATA"; then
		timeout 60 "$CDPFS" capture --store "$STORE" --stop "$PGDATA" || force_unmount "$PGDATA"
	fi
	is_mounted "$PGDATA" || rm -rf "$BASE"
}
at_exit base_cleanup
capture_start "$PGDATA"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w -t 60 start >/dev/null ||
	{ tail -n 20 "$PGROOT/server.log"; fail "the production server did not start on the capture mount"; }
psql_prod() { as_pg psql -X -q -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -At "$@"; }
psql_prod -c "CREATE TABLE ledger (id integer PRIMARY KEY, at timestamptz DEFAULT now())" ||
	fail "cannot create the ledger table"
as_pg pgbench -h "$SOCK" -p "$PORT" -U postgres -i -s 2 -q postgres >"$T/pgbench-init.log" 2>&1 ||
	{ cat "$T/pgbench-init.log"; fail "pgbench -i failed"; }
prod_pid=$(head -n 1 "$PGDATA/postmaster.pid")
# As if the captured cluster were a standby: a copy that kept these would
# boot read-only and stream from (here: try to reach) a primary past the
# instant; the check must boot it cut off, as a primary at the instant.
# (The running production server reads neither until a restart.)
as_pg touch "$PGDATA/standby.signal"
echo "primary_conninfo = 'host=$BASE/no-such-primary port=5999 application_name=prodstandby'" |
	as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null

log "load: pgbench for 6 s beside the ledger driver"
as_pg pgbench -h "$SOCK" -p "$PORT" -U postgres -c 2 -T 6 postgres >"$T/pgbench.log" 2>&1 &
bench_pid=$!
: >"$T/ledger.times"
end=$(($(date +%s) + 6))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
	i=$((i + 1))
	b=$(date +%s.%N)
	psql_prod -c "INSERT INTO ledger (id) VALUES ($i)" || fail "ledger insert $i failed"
	e=$(date +%s.%N)
	echo "$i $b $e" >>"$T/ledger.times"
done
NTX=$i
wait "$bench_pid" || { tail -n 5 "$T/pgbench.log"; fail "pgbench failed"; }
log "ledger: $NTX transactions; pgbench: $(grep -E '^number of transactions actually processed' "$T/pgbench.log")"

# drill_at LABEL INSTANT: one drill, checked against the ledger
drill_at() {
	local label=$1 at=$2 out rc dir line n mn mx need max_ok
	out=$T/drill-$label.json
	rc=0
	"$CDPFS" drill --store "$STORE" --json --timeout 120s "$HOST:$PGDATA@@$at" \
		--check "$CHECK --query \"SELECT 'LEDGER ' || count(*) || ' ' || coalesce(min(id), 0) || ' ' || coalesce(max(id), 0) FROM ledger\" ." \
		>"$out" 2>"$T/drill-$label.err" || rc=$?
	record_daemon_pids
	dir=$STORE/drills/$(jq -r .id "$out" 2>/dev/null)
	log "drill $label @$at: exit $rc, result $(jq -r .result "$out" 2>/dev/null), answering after $(jq -r .answering_ms "$out" 2>/dev/null) ms"
	if [ "$rc" -ne 0 ]; then
		check_fail "drill $label @$at exited $rc: $(cat "$T/drill-$label.err")"
		[ -f "$dir/check-1.log" ] && tail -n 30 "$dir/check-1.log"
		return
	fi
	[ "$(jq -r .result "$out")" = pass ] || check_fail "drill $label: report result is not pass"
	for f in report.json report.md manifest check-1.log; do
		[ -s "$dir/$f" ] || check_fail "drill $label: '$dir/$f' is missing or empty"
	done
	[ "$(jq -r .manifest.sha256 "$out")" = "$(sha256sum <"$dir/manifest" | cut -d' ' -f1)" ] ||
		check_fail "drill $label: the report's manifest SHA-256 is not that of its manifest file"
	grep -q 'pg_amcheck: no corruption found' "$dir/check-1.log" ||
		check_fail "drill $label: pg_amcheck did not pass"
	jq -e '.answering_by | test("CDPFS-ANSWERING")' "$out" >/dev/null ||
		check_fail "drill $label: the report does not time the answering server"
	# report format 2: the server's version, its boot and its crash
	# recovery as steps inside the check, the RTO inside that check
	log "drill $label steps: $(jq -c '[.steps[] | select(.check == 1) | "\(.name) \(.duration_ms) ms"]' "$out")"
	jq -e '(.checks[0].version | test("PostgreSQL [0-9]")) and ([.steps[] | select(.check == 1) | .name] | index("check 1: boot") != null) and ([.steps[] | select(.name == "check 1")][0] as $c | [.steps[] | select(.check == 1) | select(.start_ns < $c.start_ns or .end_ns > $c.end_ns)] | length == 0) and .rto.answering_ms > 0 and .rto.checks_passed_ms >= .rto.answering_ms' "$out" >/dev/null ||
		check_fail "drill $label: version, boot step or RTO missing or inconsistent: $(jq -c '{v: .checks[0].version, rto, steps: [.steps[] | {name, check, duration_ms}]}' "$out")"
	grep -q '^# cdpfs drill .*: pass' "$dir/report.md" || check_fail "drill $label: report.md does not say pass"
	grep -q 'removing standby.signal' "$dir/check-1.log" ||
		check_fail "drill $label: the check did not take standby.signal out of the copy"
	is_mounted "$(jq -r .mountpoint "$out")" && check_fail "drill $label: its mount is still there"
	line=$(grep '^LEDGER ' "$dir/check-1.log") || { check_fail "drill $label: no ledger in the check's output"; return; }
	read -r _ n mn mx <<<"$line"
	need=$(awk -v at="$at" '$3 < at { k = $1 } END { print k + 0 }' "$T/ledger.times")
	max_ok=$(awk -v at="$at" '$2 < at { k = $1 } END { print k + 0 }' "$T/ledger.times")
	log "drill $label: ledger rows $n ($mn..$mx); committed before the instant: 1..$need, begun before: 1..$max_ok"
	[ "$n" = "$mx" ] || check_fail "drill $label @$at: ledger rows are not 1..$mx (count $n)"
	[ "$mx" -ge "$need" ] || check_fail "drill $label @$at: transaction $need had returned from COMMIT but the drilled database ends at $mx"
	[ "$mx" -le "$max_ok" ] || check_fail "drill $label @$at: row $mx is there but $max_ok was the last transaction that began before the instant"
}

# right after a commit returned, inside a transaction, and between two
k1=$((NTX / 3)) k2=$((2 * NTX / 3))
read -r _ _ e1 <<<"$(sed -n "${k1}p" "$T/ledger.times")"
read -r _ b2 e2 <<<"$(sed -n "${k2}p" "$T/ledger.times")"
mid2=$(awk -v b="$b2" -v e="$e2" 'BEGIN { printf "%.9f", b + (e - b) / 2 }')
read -r _ _ e3 <<<"$(sed -n "$((NTX - 1))p" "$T/ledger.times")"
read -r _ b4 _ <<<"$(sed -n "${NTX}p" "$T/ledger.times")"
gap=$(awk -v a="$e3" -v b="$b4" 'BEGIN { printf "%.9f", a + (b - a) / 2 }')
drill_at after$k1 "$e1"
drill_at during$k2 "$mid2"
drill_at between "$gap"

# Production: still running, complete, and untouched by the drills.
[ "$(head -n 1 "$PGDATA/postmaster.pid")" = "$prod_pid" ] ||
	check_fail "the production postmaster.pid changed (a drill removed or rewrote it)"
kill -0 "$prod_pid" 2>/dev/null || check_fail "the production server (pid $prod_pid) is gone"
r=$(psql_prod -c "SELECT count(*), max(id) FROM ledger") || check_fail "the production server does not answer after the drills"
[ "$r" = "$NTX|$NTX" ] || check_fail "production ledger after the drills: '$r', expected $NTX rows"
r=$(psql_prod -c "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'")
[ "$r" = 0 ] || check_fail "the amcheck extension the drills installed shows up in production"
"$CDPFS" drill --store "$STORE" --list --host "$HOST" | tee "$T/list.out"
[ "$(grep -c ' pass ' "$T/list.out")" -eq 3 ] || check_fail "cdpfs drill --list does not show 3 passing drills"
findmnt -rn -o TARGET | grep -q "^$BASE/tmp/" && check_fail "a drill mount is left under $BASE/tmp"
pg_stop
capture_stop "$PGDATA"
finish
