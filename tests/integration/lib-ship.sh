# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib-ship.sh - shipping tests (04x): a DR server in a network namespace
# of the test's own, reached from the test's hosts (capture daemons in the
# root namespace, each with its own store) over a veth pair per host, real
# TLS on real sockets.  Source it after lib.sh.  Gives:
#   ship_net N           namespace $SHIP_NS and N veth pairs; host i dials
#                        $(ship_ip i); removed on every exit path
#   ship_certs           a CA, the server's certificate (its IPs) in $PKI
#   ship_server_start    cdpfs serve in the namespace, store $SRV; SERVER_PID
#   ship_server_kill9 / ship_server_stop
#   ship_capture NAME STORE DIR IDX [ARGS]  capture --ship to host i's address
#   ship_stop STORE DIR  capture --stop
#   ship_state STORE KEY prints KEY of STORE/ship.state
#   ship_wait_through STORE TS SECS  until the host's shipped-through
#                        instant reaches TS (EPOCH.NS), or fails
#   ship_link_down I / ship_link_up I  cut and restore host i's link
#   ship_verify NAME [GLOB]  server mount of each checkpoint NAME-* equals the
#                        host's manifest then (lib.sh's verify_checkpoints)
# Needs root (ip netns), iproute2, openssl's library (the cdpfs binary).

command -v ip >/dev/null || skip "'ip' is not installed (iproute2)"
[ "$(id -u)" = 0 ] || skip "network namespaces need root"

# The namespace and veth names carry $$ (unique among live tests); the
# subnet 10.SHIP_NET.0.0/16 is chosen in ship_net, under a lock, among
# those no interface uses yet: two tests on one subnet would route one's
# hosts to the other's server.
SHIP_NS=cdpfs-t$$
SHIP_NET=
SHIP_PORT=7780
SRV=$T/srv
PKI=$T/pki
SERVER_PID=
SHIP_NLINKS=0

ship_ip() { echo "10.$SHIP_NET.$1.2"; }

ship_net() {
	local n=$1 i
	local lockfd tries=0
	ip netns add "$SHIP_NS" || skip "cannot create a network namespace"
	at_exit "ship_net_cleanup"
	exec {lockfd}>/tmp/cdpfs-ship-net.lock   # one for every run, whatever TMPDIR
	flock "$lockfd"
	SHIP_NET=$((20 + $$ % 200))
	while ip -4 -o addr show | grep -q " inet 10\.$SHIP_NET\."; do
		SHIP_NET=$((20 + (SHIP_NET - 20 + 1) % 200))
		tries=$((tries + 1))
		[ "$tries" -lt 200 ] || fail "no free subnet 10.X.0.0/16 for the test's links"
	done
	ip -n "$SHIP_NS" link set lo up
	for i in $(seq 1 "$n"); do
		ip link add "cv$$h$i" type veth peer name "cv$$s$i" || fail "cannot create a veth pair"
		ip link set "cv$$s$i" netns "$SHIP_NS"
		ip addr add "10.$SHIP_NET.$i.1/24" dev "cv$$h$i"
		ip link set "cv$$h$i" up
		ip -n "$SHIP_NS" addr add "10.$SHIP_NET.$i.2/24" dev "cv$$s$i"
		ip -n "$SHIP_NS" link set "cv$$s$i" up
	done
	SHIP_NLINKS=$n
	exec {lockfd}>&-
	log "network namespace $SHIP_NS with $n links (host i dials 10.$SHIP_NET.i.2)"
}

ship_net_cleanup() {
	local i
	for i in $(seq 1 "$SHIP_NLINKS"); do ip link del "cv$$h$i" 2>/dev/null; done
	ip netns del "$SHIP_NS" 2>/dev/null
	return 0
}

ship_certs() {
	local i alts=()
	"$CDPFS" certs init "$PKI" >/dev/null || fail "cdpfs certs init failed"
	for i in $(seq 1 "$SHIP_NLINKS"); do alts+=("$(ship_ip "$i")"); done
	"$CDPFS" certs issue "$PKI" dr1 "${alts[@]}" >/dev/null || fail "cdpfs certs issue dr1 failed"
}

ship_server_start() {
	[ "${SHIP_SERVER_TRAP:-0}" = 1 ] || { at_exit "ship_server_stop"; SHIP_SERVER_TRAP=1; }
	# nsenter --net, not `ip netns exec`: that one also makes a new mount
	# namespace, a copy of every mount of the moment, where another test's
	# capture mount (tests run side by side) would live on after its
	# unmount and keep that capture daemon from ending
	nsenter --net="/run/netns/$SHIP_NS" "$CDPFS" serve --store "$SRV" --listen "0.0.0.0:$SHIP_PORT" \
		--cert "$PKI/dr1.crt" --key "$PKI/dr1.key" --ca "$PKI/ca.crt" >>"$T/serve.log" 2>&1 &
	SERVER_PID=$!
	local i
	for i in $(seq 1 100); do
		grep -q "serving store" "$T/serve.log" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$T/serve.log"; fail "cdpfs serve exited"; }
		sleep 0.05
	done
	log "server pid $SERVER_PID"
}

ship_server_kill9() {
	[ -n "$SERVER_PID" ] || return 0
	kill -KILL "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

ship_server_stop() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	return 0
}

# ship_capture NAME STORE DIR IDX [ARGS...]
ship_capture() {
	local name=$1 st=$2 dir=$3 idx=$4
	shift 4
	[ -f "$PKI/$name.crt" ] || "$CDPFS" certs issue "$PKI" "$name" >/dev/null
	log "capture --store $st --host $name --ship $(ship_ip "$idx"):$SHIP_PORT $dir $*"
	CAPTURED+=("$(readlink -f "$dir")")
	at_exit "ship_stop '$st' '$dir'"
	CDPFS_SHIP_TIMEOUT_MS=${CDPFS_SHIP_TIMEOUT_MS:-3000} CDPFS_SHIP_BACKOFF_MAX_MS=1000 \
		"$CDPFS" capture --store "$st" --host "$name" --ship "$(ship_ip "$idx"):$SHIP_PORT" \
		--cert "$PKI/$name.crt" --key "$PKI/$name.key" --ca "$PKI/ca.crt" "$@" "$dir" ||
		fail "cdpfs capture --ship of $dir exited with $?"
	record_daemon_pids
	is_mounted "$dir" || fail "capture returned but '$dir' is not a mount point"
}

ship_stop() {
	is_mounted "$2" || return 0
	"$CDPFS" capture --store "$1" --stop "$2" || log "capture --stop '$2' failed"
}

ship_state() {
	sed -n "s/^$2=//p" "$1/ship.state" 2>/dev/null
}

# ship_wait_through STORE TS SECS
ship_wait_through() {
	local st=$1 want=${2/./} secs=${3:-15} i got=0
	for i in $(seq 1 $((secs * 10))); do
		got=$(ship_state "$st" shipped_through_ns)
		[ -n "$got" ] && [ "$got" -ge "$want" ] && { log "$st shipped through @$2 after $((i / 10)).$((i % 10)) s"; return 0; }
		sleep 0.1
	done
	log "ship.state of $st: $(tr '\n' ' ' <"$st/ship.state" 2>/dev/null)"
	fail "host of $st did not ship through @$2 within $secs s (shipped through ${got:-nothing})"
}

ship_link_down() { ip link set "cv$$h$1" down; log "link $1 cut"; }
ship_link_up() { ip link set "cv$$h$1" up; log "link $1 restored"; }

# ship_verify NAME [GLOB]: checkpoints NAME-* (or GLOB) against host NAME
# in the server's store.
ship_verify() {
	local save_store=$STORE save_host=$HOST
	STORE=$SRV
	HOST=$1
	verify_checkpoints "${2:-$1-*}"
	STORE=$save_store
	HOST=$save_host
}

# ship_seg_bytes STORE: bytes of its segment files.
ship_seg_bytes() {
	cat "$1"/segments/*.seg | wc -c
}
