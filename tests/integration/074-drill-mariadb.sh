# SPDX-License-Identifier: GPL-2.0-or-later
#
# 074-drill-mariadb - recovery drills that boot a real MariaDB from past
# instants of a captured data directory.  A server runs as the mysql user
# on a private socket with networking off (production), under a second
# writer's load beside a ledger driver that records, for each of its
# transactions, the instant before it began and the instant its COMMIT
# returned.  At two instants (just after a commit returned, and in the
# middle of a transaction) `cdpfs drill` runs the ready-made mariadb check:
# the server must start, finish InnoDB's crash recovery, pass mariadb-check
# on every database and hold exactly the ledger rows whose commit returned
# before the instant (and none that began after it), which --expect
# checks, with the server's version and the steps in the report.
# Production keeps running and is untouched.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd jq "needed to read the JSON reports; scripts/install-deps installs it"
for b in mariadbd mariadb-install-db mariadb mariadb-admin mariadb-check; do
	command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] ||
		skip "$b is not installed (apt-get install mariadb-server mariadb-client; scripts/install-deps installs them)"
done
id mysql >/dev/null 2>&1 || skip "no mysql user (the mariadb-server package creates it)"
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
CHECK=$SRCDIR/scripts/checks/mariadb

# the mysql user must reach the data directory and the drills' mount
# points through every parent directory: a base of their own under /tmp
BASE=$(mktemp -d /tmp/cdpfs-it-maria.XXXXXX)
chmod 0755 "$BASE"
export TMPDIR=$BASE/tmp
mkdir -p "$TMPDIR"
chmod 1777 "$TMPDIR"
DB=$BASE/db
RUN=$BASE/run
mkdir -p "$DB" "$RUN"
chown mysql: "$DB" "$RUN"
mariadb-install-db --no-defaults --user=mysql --datadir="$DB" --auth-root-authentication-method=normal \
	--skip-test-db >"$T/install-db.log" 2>&1 || { tail -n 20 "$T/install-db.log"; fail "mariadb-install-db failed"; }
SOCK=$RUN/prod.sock
prod_pid=
prod_stop() {
	[ -n "$prod_pid" ] || return 0
	mariadb-admin --no-defaults --socket="$SOCK" --user=root shutdown >/dev/null 2>&1 || kill "$prod_pid" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$prod_pid" 2>/dev/null || break; sleep 0.1; done
	prod_pid=
}
base_cleanup() {
	local m p
	prod_stop
	for p in /proc/[0-9]*; do
		case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in
		*"$BASE/tmp/"*) kill -TERM "${p#/proc/}" 2>/dev/null ;;
		esac
	done
	findmnt -rn -o TARGET | grep "^$BASE/tmp/" | while read -r m; do force_unmount "$m"; done
	if is_mounted "$DB"; then
		timeout 60 "$CDPFS" capture --store "$STORE" --stop "$DB" || force_unmount "$DB"
	fi
	is_mounted "$DB" || rm -rf "$BASE"
}
at_exit base_cleanup
capture_start "$DB"
"$MARIADBD" --no-defaults --user=mysql --datadir="$DB" --socket="$SOCK" --pid-file="$RUN/prod.pid" \
	--log-error="$RUN/prod.err" --skip-networking --innodb-buffer-pool-size=32M \
	--innodb-flush-log-at-trx-commit=1 </dev/null >/dev/null 2>&1 &
prod_pid=$!
for _ in $(seq 1 300); do
	mariadb-admin --no-defaults --socket="$SOCK" --user=root ping >/dev/null 2>&1 && break
	kill -0 "$prod_pid" 2>/dev/null || { tail -n 20 "$RUN/prod.err"; fail "the production server died at startup"; }
	sleep 0.1
done
sql() { mariadb --no-defaults --socket="$SOCK" --user=root -N -B "$@"; }
sql -e "CREATE DATABASE app; CREATE TABLE app.ledger (id INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB; CREATE TABLE app.load (id INT AUTO_INCREMENT PRIMARY KEY, pad CHAR(200)) ENGINE=InnoDB" ||
	fail "cannot create the tables"

log "load: a second writer for 4 s beside the ledger driver"
(
	end=$(($(date +%s) + 4))
	while [ "$(date +%s)" -lt "$end" ]; do
		sql -e "INSERT INTO app.load (pad) SELECT REPEAT('x', 200) FROM mysql.help_topic LIMIT 200" || exit 1
	done
) &
load_pid=$!
: >"$T/ledger.times"
end=$(($(date +%s) + 4))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
	i=$((i + 1))
	b=$(date +%s.%N)
	sql -e "INSERT INTO app.ledger (id) VALUES ($i)" || fail "ledger insert $i failed"
	e=$(date +%s.%N)
	echo "$i $b $e" >>"$T/ledger.times"
done
NTX=$i
wait "$load_pid" || fail "the load writer failed"
log "ledger: $NTX transactions; load rows: $(sql -e 'SELECT count(*) FROM app.load')"

# drill_at LABEL INSTANT: one drill; its ledger must be exactly the
# transactions committed before the instant (within those in flight)
drill_at() {
	local label=$1 at=$2 out rc dir need max_ok line n mn mx
	out=$T/drill-$label.json
	need=$(awk -v at="$at" '$3 < at { k = $1 } END { print k + 0 }' "$T/ledger.times")
	max_ok=$(awk -v at="$at" '$2 < at { k = $1 } END { print k + 0 }' "$T/ledger.times")
	rc=0
	"$CDPFS" drill --store "$STORE" --json --timeout 120s "$HOST:$DB@@$at" \
		--check "$CHECK --query \"SELECT CONCAT('LEDGER ', count(*), ' ', coalesce(min(id), 0), ' ', coalesce(max(id), 0)) FROM app.ledger\" ." \
		>"$out" 2>"$T/drill-$label.err" || rc=$?
	dir=$STORE/drills/$(jq -r .id "$out" 2>/dev/null)
	log "drill $label @$at: exit $rc, result $(jq -r .result "$out" 2>/dev/null), RTO $(jq -c .rto "$out" 2>/dev/null), steps $(jq -c '[.steps[] | select(.check == 1) | "\(.name) \(.duration_ms) ms"]' "$out" 2>/dev/null)"
	if [ "$rc" -ne 0 ]; then
		check_fail "drill $label @$at exited $rc: $(cat "$T/drill-$label.err")"
		[ -f "$dir/check-1.log" ] && tail -n 30 "$dir/check-1.log"
		return
	fi
	jq -e '.result == "pass" and (.checks[0].version | test("MariaDB 1[0-9]")) and ([.steps[] | select(.check == 1) | .name] | index("check 1: boot and InnoDB crash recovery") != null) and .rto.answering_ms > 0' "$out" >/dev/null ||
		check_fail "drill $label: the report lacks pass, the server's version, the boot step or the RTO: $(jq -c '{result, v: .checks[0].version, rto}' "$out")"
	grep -q 'mariadb-check: every table OK' "$dir/check-1.log" || check_fail "drill $label: mariadb-check did not pass"
	grep -q 'InnoDB: Starting crash recovery' "$dir/check-1.log" ||
		check_fail "drill $label: the copy of a running server needed no crash recovery (the instant is not one in flight?)"
	line=$(grep '^LEDGER ' "$dir/check-1.log") || { check_fail "drill $label: no ledger in the check's output"; return; }
	read -r _ n mn mx <<<"$line"
	log "drill $label: ledger rows $n ($mn..$mx); committed before the instant: 1..$need, begun before: 1..$max_ok"
	[ "$n" = "$mx" ] || check_fail "drill $label @$at: ledger rows are not 1..$mx (count $n)"
	[ "$mx" -ge "$need" ] || check_fail "drill $label @$at: transaction $need had returned from COMMIT but the drilled database ends at $mx"
	[ "$mx" -le "$max_ok" ] || check_fail "drill $label @$at: row $mx is there but $max_ok was the last transaction that began before the instant"
	[ "$(jq -r '.checks[0].answer' "$out")" = "LEDGER $n $mn $mx" ] || check_fail "drill $label: the report's answer is not the ledger line"
}

k1=$((NTX / 3)) k2=$((2 * NTX / 3))
read -r _ _ e1 <<<"$(sed -n "${k1}p" "$T/ledger.times")"
read -r _ b2 e2 <<<"$(sed -n "${k2}p" "$T/ledger.times")"
mid2=$(awk -v b="$b2" -v e="$e2" 'BEGIN { printf "%.9f", b + (e - b) / 2 }')
drill_at after$k1 "$e1"
drill_at during$k2 "$mid2"

# Production: still running, complete, untouched.
kill -0 "$prod_pid" 2>/dev/null || check_fail "the production server is gone"
r=$(sql -e "SELECT count(*), max(id) FROM app.ledger" | tr '\t' '|') || check_fail "production does not answer after the drills"
[ "$r" = "$NTX|$NTX" ] || check_fail "production ledger after the drills: '$r', expected $NTX rows"
findmnt -rn -o TARGET | grep -q "^$BASE/tmp/" && check_fail "a drill mount is left under $BASE/tmp"
pgrep -f "$BASE/tmp/" >/dev/null && check_fail "a drill's server outlived its drill"
prod_stop
capture_stop "$DB"
finish
