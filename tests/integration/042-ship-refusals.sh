#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 042-ship-refusals - the DR server refuses, with a logged reason, and
# keeps nothing of: a host whose certificate another CA signed, an expired
# certificate, a certificate that names another host, a client of another
# protocol version, and a host that tries to rewrite what it shipped (its
# local store replaced by another history under the same name: the same
# group numbers with other content).  Each refused host goes on
# journaling locally and shows "refused: why" in cdpfs hosts; the
# server's store keeps the shipped history of h1 exactly.  A server given
# a key that is not its certificate's fails to start with one line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ship.sh"
require_cdpfs
require_cmd jq "JSON checks"

ship_net 1
ship_certs
ship_server_start

# a good host first, its history shipped
mkdir -p "$T/h1"
make_baseline "$T/h1/data"
ship_capture h1 "$T/st1" "$T/h1/data" 1
printf 'shipped\n' >"$T/h1/data/kept.txt"
checkpoint h1-1 "$T/h1/data"
ship_wait_through "$T/st1" "$(date +%s.%N)" 15

# wait_refused STORE PATTERN: the host's link reads refused, reason PATTERN
wait_refused() {
	local st=$1 pat=$2 i
	for i in $(seq 1 80); do
		[ "$(ship_state "$st" state)" = refused ] && break
		sleep 0.1
	done
	log "$st: state $(ship_state "$st" state), reason: $(ship_state "$st" reason)"
	[ "$(ship_state "$st" state)" = refused ] || { check_fail "$st: the link is not refused"; return; }
	ship_state "$st" reason | grep -qiE "$pat" || check_fail "$st: refusal reason does not match '$pat'"
}

# server_logged PATTERN: the server's log says why it refused
server_logged() {
	grep -qiE "$1" "$T/serve.log" || check_fail "the server's log has no line matching '$1'"
}

# 1. another CA
"$CDPFS" certs init "$T/pki2" >/dev/null
"$CDPFS" certs issue "$T/pki2" h2 >/dev/null
cp "$T/pki2/h2.crt" "$T/pki2/h2.key" "$PKI/"
mkdir -p "$T/h2/data"
ship_capture h2 "$T/st2" "$T/h2/data" 1
wait_refused "$T/st2" "alert|certificate"
server_logged "refused connection from .*(unknown ca|unable to get local issuer|certificate verify failed)"

# 2. expired
"$CDPFS" certs issue --expired "$PKI" h3 >/dev/null
mkdir -p "$T/h3/data"
ship_capture h3 "$T/st3" "$T/h3/data" 1
wait_refused "$T/st3" "expired|alert"
server_logged "certificate has expired"

# 3. a certificate of h1 presented by host h4
mkdir -p "$T/h4/data"
cp "$PKI/h1.crt" "$PKI/h4.crt"
cp "$PKI/h1.key" "$PKI/h4.key"
ship_capture h4 "$T/st4" "$T/h4/data" 1
wait_refused "$T/st4" "names 'h1', not host 'h4'"
server_logged "refused connection from .*names 'h1', not host 'h4'"

# 4. another protocol version
mkdir -p "$T/h5/data"
CDPFS_SHIP_PROTO_VERSION=2 ship_capture h5 "$T/st5" "$T/h5/data" 1
wait_refused "$T/st5" "protocol version 2"
server_logged "refused connection from .*: protocol version 2 is not spoken here"

# the refused hosts journal on locally
for i in 2 3 4 5; do
	printf 'local %s\n' "$i" >"$T/h$i/data/local.txt"
done
sleep 0.3
for i in 2 3 4 5; do
	"$CDPFS" hosts --store "$T/st$i" >"$T/hosts$i.txt"
	grep -q "refused:" "$T/hosts$i.txt" || check_fail "hosts on h$i does not say refused: $(cat "$T/hosts$i.txt")"
	STORE=$T/st$i mount_at "h$i" latest "$T/mnt$i"
	[ "$(cat "$T/mnt$i$T/h$i/data/local.txt")" = "local $i" ] ||
		check_fail "h$i's local store lacks what it journaled while refused"
	umount_at "$T/mnt$i"
	ship_stop "$T/st$i" "$T/h$i/data"
done
"$CDPFS" hosts --store "$SRV" --json >"$T/srv.json"
names=$(jq -r '[.hosts[].name] | join(" ")' "$T/srv.json")
[ "$names" = h1 ] || check_fail "the server's store holds hosts '$names' (expected h1 alone: refused peers keep nothing)"

# 5. h1 tries to rewrite its history: a new local store, the same name
ship_stop "$T/st1" "$T/h1/data"
mv "$T/st1" "$T/st1.old"
# a longer history of its own first, unshipped, so that it holds the
# server's resume point and sends what follows it
"$CDPFS" capture --store "$T/st1" --host h1 "$T/h1/data" || fail "capture of a new h1 store failed"
CAPTURED+=("$T/h1/data")
for i in $(seq 1 30); do printf 'rewritten %s\n' "$i" >"$T/h1/data/kept.txt"; sleep 0.02; done
ship_stop "$T/st1" "$T/h1/data"
ship_capture h1 "$T/st1" "$T/h1/data" 1
wait_refused "$T/st1" "contradicts|rewrit|does not have"
server_logged "refused host 'h1'.*(contradicts|rewrit)"
ship_stop "$T/st1" "$T/h1/data"
ship_server_stop
ship_verify h1    # the server still has h1's history as first shipped

# a server whose key is not its certificate's
expect_fail "serve with a foreign key" "$CDPFS" serve --store "$T/srv2" --listen 127.0.0.1:1 \
	--cert "$PKI/dr1.crt" --key "$PKI/h1.key" --ca "$PKI/ca.crt"
[ -e "$T/srv2" ] && check_fail "a server that failed to start created its store"
finish
