#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 040-ship - three captured hosts (three stores, three capture daemons)
# ship to one DR server (cdpfs serve in a network namespace of the test's
# own, real TLS 1.3 over veth links); at recorded instants on each host the
# server's mount of that instant equals the host's manifest then.  The
# server's store is an ordinary store: hosts --store lists every host with
# its last received instant while they keep shipping; on a host, cdpfs
# hosts shows the link connected and the instant shipped through, --json
# too.  A second host with the same data sends almost no chunks (dedup
# across hosts on the server); h2 ships under --ship-rate 1M; h1 starts
# while the server is down (it journals, retries and says so).  A drill
# and a writable overlay run on the server's store while hosts ship.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ship.sh"
require_cdpfs
require_cmd jq "JSON checks"

ship_net 3
ship_certs

# a server that is down when capture starts: capture starts, journals,
# retries and says so
for i in 1 2 3; do
	mkdir -p "$T/h$i"
	make_baseline "$T/h$i/data"
done
ship_capture h1 "$T/st1" "$T/h1/data" 1
printf 'before the server\n' >"$T/h1/data/early.txt"
for i in $(seq 1 50); do [ "$(ship_state "$T/st1" state)" = retrying ] && break; sleep 0.1; done
[ "$(ship_state "$T/st1" state)" = retrying ] || check_fail "h1 with its server down: link '$(ship_state "$T/st1" state)', expected retrying"
grep -q "shipping to .*cannot connect.*retrying in" "$T/st1/capture.log" ||
	check_fail "the capture log does not say that the shipper retries"
ship_server_start
ship_capture h2 "$T/st2" "$T/h2/data" 2 --ship-rate 1M
ship_capture h3 "$T/st3" "$T/h3/data" 3
# h3 gets the same big file as h1: the server has its chunks already
head -c 3000000 /dev/urandom >"$T/big.bin"

for round in 1 2 3; do
	for i in 1 2 3; do
		d=$T/h$i/data
		printf 'round %s host %s\n' "$round" "$i" >>"$d/hello.txt"
		head -c $((round * 50000)) /dev/urandom >"$d/r$round.bin"
		mkdir -p "$d/dir$round"
		mv "$d/r$round.bin" "$d/dir$round/moved.bin"
		[ "$round" = 2 ] && rm -f "$d/zeros.bin"
		[ "$round" = 3 ] && truncate -s 4096 "$d/sub/deeper/numbers.txt"
		[ "$i" != 2 ] && [ "$round" = 2 ] && cp "$T/big.bin" "$d/big.bin"
		checkpoint "h$i-$round" "$d"
	done
	sleep 0.3
done
last=$(date +%s.%N)
sleep 0.05
for i in 1 2 3; do ship_wait_through "$T/st$i" "$last" 15; done

# the server's view of each host at each instant
for i in 1 2 3; do ship_verify "h$i"; done

# dedup across hosts: big.bin (367 blocks) is in h1's and h3's stores,
# and the server takes its chunks from one of them only
c1=$(ship_state "$T/st1" chunks_sent)
c3=$(ship_state "$T/st3" chunks_sent)
n1=$("$CDPFS" verify --store "$T/st1" --json | jq .chunks)
n3=$("$CDPFS" verify --store "$T/st3" --json | jq .chunks)
log "chunks sent: h1 $c1 of $n1 in its store, h3 $c3 of $n3"
[ "$((c1 + c3))" -le "$((n1 + n3 - 360))" ] ||
	check_fail "no dedup across hosts: h1 and h3 sent $((c1 + c3)) chunks, their stores hold $((n1 + n3)) (big.bin's 367 should go once)"

# --ship-rate 1M: 1.5 MB of new data on h2 takes at least 1.5 s to ship
sleep 1.2   # the link idle: the rate's window starts again
head -c 1500000 /dev/urandom >"$T/h2/data/burst.bin"
t0=$(date +%s%N)
mark=$(date +%s.%N)
ship_wait_through "$T/st2" "$mark" 15
ms=$((($(date +%s%N) - t0) / 1000000))
log "h2 shipped 1.5 MB under --ship-rate 1M in $ms ms"
[ "$ms" -ge 1200 ] || check_fail "h2 shipped 1.5 MB in $ms ms, faster than its --ship-rate of 1M allows"
checkpoint h2-4 "$T/h2/data"
ship_wait_through "$T/st2" "$(date +%s.%N)" 15
ship_verify h2 h2-4

# hosts on the server's store: every host, received recently
"$CDPFS" hosts --store "$SRV" >"$T/srv-hosts.txt" || check_fail "hosts --store on the server failed"
cat "$T/srv-hosts.txt"
for i in 1 2 3; do
	grep -q "^h$i .*received" "$T/srv-hosts.txt" || check_fail "server's hosts does not show h$i received"
done
"$CDPFS" hosts --store "$SRV" --json >"$T/srv-hosts.json" || check_fail "hosts --json on the server failed"
age=$(jq -r '.hosts[] | select(.name == "h2") | .received.age_s' "$T/srv-hosts.json")
log "h2 last received ${age} s ago"
awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 5) }' || check_fail "h2 last received $age s ago (expected under 5 s: heartbeats)"

# hosts on a host: connected, shipped through, small lag
sleep 1.2   # a heartbeat after the last batch
"$CDPFS" hosts --store "$T/st2" >"$T/h2-hosts.txt" || check_fail "hosts on h2 failed"
cat "$T/h2-hosts.txt"
grep -q "connected" "$T/h2-hosts.txt" || check_fail "hosts on h2 does not show the link connected"
"$CDPFS" hosts --store "$T/st2" --json >"$T/h2-hosts.json"
link=$(jq -r '.hosts[0].shipping.link' "$T/h2-hosts.json")
lag=$(jq -r '.hosts[0].shipping.lag_s' "$T/h2-hosts.json")
thr=$(jq -r '.hosts[0].dirs[0].shipped_through_ns' "$T/h2-hosts.json")
log "h2: link $link, lag $lag s, dir shipped through $thr"
[ "$link" = connected ] || check_fail "hosts --json on h2: link '$link', expected connected"
awk -v a="$lag" 'BEGIN { exit !(a < 3) }' || check_fail "h2 lag $lag s while idle and connected (expected under 3 s)"
[ "$thr" != null ] || check_fail "hosts --json on h2: no shipped_through for its directory"

# status: a shipping section on a host; "received" directories on the server
"$CDPFS" status --store "$T/st1" >"$T/status1.txt" || check_fail "status on h1 is not healthy: $(cat "$T/status1.txt")"
grep -q "^shipping to .*connected" "$T/status1.txt" || check_fail "status on h1 has no shipping line: $(cat "$T/status1.txt")"
[ "$("$CDPFS" status --store "$T/st1" --json | jq -r .shipping.link)" = connected ] ||
	check_fail "status --json on h1: shipping.link is not connected"
"$CDPFS" status --store "$SRV" --json >"$T/status-srv.json" || check_fail "status on the server is not healthy: $(cat "$T/status-srv.json")"
n=$(jq '[.dirs[] | select(.state == "received")] | length' "$T/status-srv.json")
[ "$n" = 3 ] || check_fail "status on the server: $n directories received (expected 3)"

# the takeover site while hosts ship: a drill of h1's past on the server
# (its data read through the mount against the host's checksums), and a
# writable overlay of h3's
(cd "$T/h1/data" && sha256sum hello.txt random.bin big.bin) >"$T/h1.sums"
"$CDPFS" drill --store "$SRV" "h1:$T/h1/data@@$(date +%s.%N)" \
	--check "$SRCDIR/scripts/checks/files --sums $T/h1.sums" >"$T/drill.out" 2>&1 ||
	check_fail "a drill of h1 on the server failed: $(tail -n 3 "$T/drill.out")"
STORE=$SRV mount_at "h3:$T/h3/data" latest "$T/ovl" rw
printf 'takeover\n' >"$T/ovl/takeover.txt" || check_fail "cannot write into an overlay of h3 on the server"
umount_at "$T/ovl"

# the server's store while hosts ship: verify finds nothing wrong
"$CDPFS" verify --store "$SRV" >"$T/verify.txt" 2>&1 || { cat "$T/verify.txt"; check_fail "verify of the server's store failed"; }
finish
