#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 043-ship-server-full - the DR server's store fills up while a host ships:
# the server refuses the batch as temporary (logged), keeps nothing of it
# and stays up; the host keeps journaling into its spool and retries; once
# the server's disk has room again the host catches up and every
# checkpoint mounts on the server exactly.  Also: a frame with a bad
# checksum and a peer that is not a shipper are refused with a logged
# reason, and the server goes on serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ship.sh"
require_cdpfs
require_cmd openssl "a raw TLS client"

D=$T/h1/data
ST=$T/st1
mkdir -p "$T/h1" "$SRV"
make_baseline "$D"
mount -t tmpfs -o size=12M cdpfs-test "$SRV" || skip "cannot mount a tmpfs"
at_exit "umount -l '$SRV'"
ship_net 1
ship_certs
ship_server_start
ship_capture h1 "$ST" "$D" 1
checkpoint h1-1 "$D"
ship_wait_through "$ST" "$(date +%s.%N)" 15

# 20 MB of random data into an 12 MB server store
for i in $(seq 1 20); do head -c 1000000 /dev/urandom >"$D/big$i"; done
checkpoint h1-2 "$D"
for i in $(seq 1 100); do grep -q "server store full" "$T/serve.log" && break; sleep 0.1; done
grep -q "server store full" "$T/serve.log" || check_fail "the server did not log its store full"
kill -0 "$SERVER_PID" || check_fail "the server died when its store filled up"
printf 'after the disk filled\n' >"$D/after.txt"
checkpoint h1-3 "$D"
sleep 1
state=$(ship_state "$ST" state)
log "host's link while the server is full: $state ($(ship_state "$ST" reason))"
[ "$state" = retrying ] || [ "$state" = connected ] || check_fail "the host's link is '$state' while the server is full"

# room again: the host catches up from its spool
mount -o remount,size=200M "$SRV" || fail "cannot grow the tmpfs"
log "the server's disk has room again"
ship_wait_through "$ST" "$(date +%s.%N)" 25

# a frame with a bad checksum, then a peer that is not a shipper
frame=$(python3 -c '
import struct, sys
name = b"h1"
p = struct.pack(">IIH", 1, 8192, len(name)) + name
h = struct.pack(">IBBHI", 0x43445057, ord("H"), 0, 0, len(p))
sys.stdout.buffer.write(h + struct.pack(">I", 12345) + p)' | base64 -w0)
echo "$frame" | base64 -d | timeout 5 openssl s_client -quiet -connect "$(ship_ip 1):$SHIP_PORT" \
	-cert "$PKI/h1.crt" -key "$PKI/h1.key" -CAfile "$PKI/ca.crt" >/dev/null 2>&1 || true
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -quiet -connect "$(ship_ip 1):$SHIP_PORT" \
	-cert "$PKI/h1.crt" -key "$PKI/h1.key" -CAfile "$PKI/ca.crt" >/dev/null 2>&1 || true
sleep 0.3
grep -q "fails its checksum" "$T/serve.log" || check_fail "the server did not log the frame with a bad checksum"
grep -q "not a cdpfs shipping frame" "$T/serve.log" || check_fail "the server did not log the peer that is not a shipper"
kill -0 "$SERVER_PID" || check_fail "the server died of a bad frame"

printf 'last\n' >"$D/last.txt"
checkpoint h1-4 "$D"
ship_wait_through "$ST" "$(date +%s.%N)" 15
ship_stop "$ST" "$D"
ship_server_stop
ship_verify h1
finish
