/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ship.h - shipping a host's journal to a DR store server over TLS 1.3
 * with mutual authentication: the wire protocol (conn.c), the server
 * (server.c, `cdpfs serve`), the shipper thread a capture daemon runs
 * (shipper.c, `cdpfs capture --ship`), its state file (state.c, read by
 * `cdpfs hosts` and `cdpfs status`) and test certificates (certs.c,
 * `cdpfs certs`).  Nothing here knows about FUSE; the store's side of it
 * is store/replica.h.  Only ship/ includes OpenSSL's ssl.h.
 *
 * Protocol version 1, described in full in docs/format.md ("The shipping
 * protocol") and at the top of conn.c: frames with a CRC-32C; a HELLO that
 * names the host (its certificate must name it too) and the protocol
 * version; a WELCOME with the resume point; then batches: OFFER of chunk
 * hashes, NEED of the missing ones, CHUNK/LOST, GROUP, THROUGH, COMMIT,
 * answered by ACK once the server's store holds the batch durably.
 */
#ifndef CDP_SHIP_H
#define CDP_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CDP_SHIP_PROTO_VERSION 1
#define CDP_SHIP_DEFAULT_PORT 7780

/* ------------------------------------------------------------- server */

struct cdp_serve_options {
	const char *store;        /* created if missing */
	const char *listen;       /* ADDR:PORT, [ADDR6]:PORT or :PORT */
	const char *cert, *key, *ca;
	int max_conns;            /* 0: 256 */
};

/* Runs the server in this process until SIGTERM, SIGINT or SIGHUP: 0 on
 * a clean stop; non-zero with one line in err when it cannot start (bad
 * address, certificate or key that does not load, store that does not
 * open).  Logs every connection, refusal (with its reason) and error. */
int cdp_serve(const struct cdp_serve_options *o, char *err, size_t errlen);

/* ------------------------------------------------------------ shipper */

struct cdp_shipper_options {
	const char *server;       /* HOST:PORT (PORT defaults to 7780) */
	const char *cert, *key, *ca;
	uint64_t rate_bytes;      /* bytes per second on the link; 0: no limit */
};

struct cdp_shipper;

/* Checks o (the address parses; certificate, key and CA load) and starts
 * the shipper thread for host on store s (open for writing by this
 * process): 0, or with one line in err -EINVAL (cdp_shipper_check()),
 * -ENOMEM, an error of cdp_ship_source_open() (replica.h) or of the
 * thread's creation.  STORE/ship.pos, when it reads, is the source's
 * first position hint.  The thread connects, retries with back-off and
 * says so in the log, and never blocks the journal: the store is the
 * spool.  Its state goes to STORE/ship.state. */
int cdp_shipper_start(struct cdp_store *s, const char *host,
		      const struct cdp_shipper_options *o, struct cdp_shipper **out,
		      char *err, size_t errlen);
/* Gives the thread up to drain_ms to ship what is committed (when it is
 * connected), then stops it and frees.  NULL does nothing. */
void cdp_shipper_stop(struct cdp_shipper *sh, unsigned drain_ms);
/* Checks the options only (for `cdpfs capture` before it forks): the
 * address parses and names a host, cert, key and ca are given and load.
 * 0, or -EINVAL with one line in err. */
int cdp_shipper_check(const struct cdp_shipper_options *o, char *err, size_t errlen);

/* --------------------------------------------------------- state file */

enum cdp_link_state {
	CDP_LINK_CONNECTING, CDP_LINK_CONNECTED, CDP_LINK_RETRYING, CDP_LINK_REFUSED,
	CDP_LINK_STOPPED,
};

/* What STORE/ship.state says (written by the shipper, state.c). */
struct cdp_ship_status {
	char server[256];
	char host[72];
	uint32_t pid;
	int state;                  /* enum cdp_link_state */
	int64_t since_ns;           /* in this state since */
	char reason[512];           /* retrying or refused: why */
	uint64_t acked_lsn;         /* the server holds the log through here */
	int64_t shipped_through_ns; /* every op up to here is on the server */
	int64_t acked_ns;           /* when the last ACK came */
	uint64_t bytes_sent, chunks_sent, chunks_offered, groups_sent;
	int64_t updated_ns;
};
/* The name of a cdp_link_state ("connecting", ...); "unknown" for any
 * other value.  A static string. */
const char *cdp_link_state_name(int state);
/* Reads STORE/ship.state into st (zeroed first; unknown keys skipped): 0,
 * -ENOENT (never shipped), another -errno of fopen(3), or -CDP_ECORRUPT
 * (no "cdpfs ship state 1" first line). */
int cdp_ship_status_read(const char *store, struct cdp_ship_status *st);
/* Writes it (ship.state.tmp, then rename; not fsync'ed; newlines in the
 * reason become spaces): 0, -errno of fopen(3) or rename(2), or -EIO. */
int cdp_ship_status_write(const char *store, const struct cdp_ship_status *st);
/* STORE/ship.pos: where the last acknowledged group's record ends in the
 * log (lsn, segment, end offset; a hint for the next shipper).  Write: 0,
 * -errno of fopen(3) or rename(2), or -EIO.  Read: 0, -ENOENT, another
 * -errno of fopen(3), or -CDP_ECORRUPT (also for segment 0). */
int cdp_ship_pos_write(const char *store, uint64_t lsn, uint32_t seg, uint64_t end);
int cdp_ship_pos_read(const char *store, uint64_t *lsn, uint32_t *seg, uint64_t *end);

/* -------------------------------------------------------- certificates */

/* `cdpfs certs init DIR`: a CA key and self-signed certificate in
 * DIR/ca.key (0600) and DIR/ca.crt, DIR made when missing.  0, or with
 * one line in err: -EEXIST when DIR holds ca.crt or ca.key already, -EIO
 * when OpenSSL cannot make them, -errno of mkdir(2) or of the writes. */
int cdp_certs_init(const char *dir, int days, char *err, size_t errlen);
/* `cdpfs certs issue DIR NAME [ALT...]`: DIR/NAME.key and DIR/NAME.crt
 * signed by DIR's CA, with NAME as CN and DNS name (or IP address) and
 * each ALT as a further one; usable by a server and a client.  expired:
 * valid from days+1 days ago until yesterday (for tests).  0, or with one
 * line in err: -EINVAL for a NAME that is empty, holds a '/' or is longer
 * than 200 bytes, -ENOENT when DIR has no CA that loads, -EIO when OpenSSL
 * cannot make them, -errno of the writes. */
int cdp_certs_issue(const char *dir, const char *name, char *const *alts, size_t nalts,
		    int days, int expired, char *err, size_t errlen);

#endif /* CDP_SHIP_H */
