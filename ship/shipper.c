/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shipper.c - the thread of a capture daemon that streams its host's
 * committed groups to the DR server (`cdpfs capture --ship`).
 *
 * The local store is the spool: the journal writes into it exactly as
 * without shipping, and the shipper reads its log behind it
 * (store/replica.h), so a slow or broken link never slows the
 * application; the log grows meanwhile.  On every connection the server's
 * WELCOME gives the resume point (the last group it holds durably); the
 * shipper seeks its log there and sends what follows, in batches:
 *   OFFER the chunk hashes the batch's blocks reference
 *   NEED  <- the ones the server lacks
 *   CHUNK each of those, as stored (compressed chunks travel compressed),
 *         or LOST for one this store no longer has
 *   GROUP each group, in lsn order
 *   THROUGH when the batch reaches what was durable at its start: every
 *         op up to that instant is in it
 *   COMMIT, then wait for ACK (the server holds the batch durably)
 * and starts the next batch after the ACK.  A batch that is not
 * acknowledged (a cut, a timeout, a server restart) is sent again from the
 * resume point of the next connection: no hole (the server refuses one),
 * no duplicate (the server acknowledges a group it already holds).
 * When caught up it sends THROUGH and COMMIT once a second, a heartbeat
 * that keeps the server's "received" instant and the lag current.
 *
 * Failures: connect, TLS and I/O errors retry with back-off (0.5 s
 * doubling to 5 s), each logged with the reason and the delay; a REFUSE
 * from the server is logged as such and retried at the longest delay
 * (a certificate may be fixed meanwhile).  The state (connected,
 * retrying since T, refused: why), how far the server holds the log and
 * the instant shipped through go to STORE/ship.state (state.c).
 *
 * Test knobs (environment): CDPFS_SHIP_TIMEOUT_MS (I/O timeout, 10000),
 * CDPFS_SHIP_BACKOFF_MAX_MS (5000), CDPFS_SHIP_PROTO_VERSION (the version
 * the HELLO claims, to test a server's refusal).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ship/ship_int.h"
#include "util/util.h"
#include "store/replica.h"

#define BATCH_MAX_GROUPS 512
#define BATCH_MAX_REFS 4096
#define BATCH_MAX_BYTES (16u << 20)

struct cdp_shipper {
	struct cdp_store *s;
	char *store_path;
	char host[72];
	char server_host[256], server_port[16];
	struct cdp_shipper_options o;
	SSL_CTX *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	volatile int stop;            /* stop now */
	int draining;                 /* stop once caught up */
	int64_t drain_deadline_ns;    /* monotonic */
	int fd;                       /* the socket, to shut down on stop (lock) */
	unsigned timeout_ms, backoff_max_ms;
	uint32_t proto_version;
	struct cdp_ship_source *src;
	struct cdp_ship_status st;
	int64_t st_written_ns;
	int welcomed;                 /* the current connection got its WELCOME */
	int64_t pos_written_ns;       /* monotonic: ship.pos last written */
};

static unsigned env_ms(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	char *e;
	unsigned long n;

	if (!v || !*v)
		return dflt;
	n = strtoul(v, &e, 10);
	return *e || n == 0 || n > 3600000 ? dflt : (unsigned)n;
}

static void status_set(struct cdp_shipper *sh, int state, const char *reason)
{
	int64_t now = cdp_now_ns();

	if (sh->st.state != state || (reason && strcmp(reason, sh->st.reason) != 0)) {
		if (sh->st.state != state)
			sh->st.since_ns = now;
		sh->st.state = state;
		snprintf(sh->st.reason, sizeof(sh->st.reason), "%s", reason ? reason : "");
		sh->st_written_ns = 0;
	}
	sh->st.updated_ns = now;
	if (now - sh->st_written_ns >= 250000000LL) {
		cdp_ship_status_write(sh->store_path, &sh->st);
		sh->st_written_ns = now;
	}
}

/* Sleeps ms unless stopped meanwhile; 1 when stopped. */
static int nap(struct cdp_shipper *sh, unsigned ms)
{
	struct timespec until;
	int stopped;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sh->lock);
	while (!sh->stop && pthread_cond_timedwait(&sh->cond, &sh->lock, &until) != ETIMEDOUT)
		;
	stopped = sh->stop;
	pthread_mutex_unlock(&sh->lock);
	return stopped;
}

/* TCP connect with a timeout; the socket or -errno with why. */
static int dial(struct cdp_shipper *sh, char *why, size_t whylen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, rc, saved = ECONNREFUSED, soerr, flags;
	socklen_t sl = sizeof(soerr);
	struct pollfd p;

	rc = getaddrinfo(sh->server_host, sh->server_port, &hints, &res);
	if (rc) {
		snprintf(why, whylen, "cannot resolve '%s': %s", sh->server_host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc < 0 && errno == EINPROGRESS) {
			int64_t until = ship_mono_ns() + (int64_t)sh->timeout_ms * 1000000LL;

			/* in slices, so that a stop does not wait for the timeout
			 * (sh->fd is not this socket yet: nothing shuts it down) */
			p.fd = fd;
			p.events = POLLOUT;
			do
				rc = poll(&p, 1, 100);
			while (rc == 0 && !sh->stop && ship_mono_ns() < until);
			if (rc == 0) {
				saved = ETIMEDOUT;
				rc = -1;
			} else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
				   soerr) {
				saved = soerr;
				rc = -1;
			} else if (rc > 0) {
				rc = 0;
			} else {
				saved = errno;
			}
		} else if (rc < 0) {
			saved = errno;
		}
		if (rc == 0) {
			fcntl(fd, F_SETFL, flags);
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, whylen, "cannot connect: %s", strerror(saved));
		return -saved;
	}
	ship_set_timeouts(fd, sh->timeout_ms);
	return fd;
}

/* A REFUSE frame f, told in why: -EAGAIN when the server says to try
 * again later, else -EACCES. */
static int refusal(const struct frame *f, char *why, size_t whylen)
{
	char text[512];
	uint32_t code;

	ship_refuse_text(f, &code, text, sizeof(text));
	snprintf(why, whylen, "refused by the server: %s", text);
	return code == REFUSE_TEMPORARY ? -EAGAIN : -EACCES;
}

/* The server's answer f to the request named what ("an OFFER"): 0 when it
 * is a frame of type want and len_ok, refusal() for a REFUSE, else -EPROTO
 * with why set. */
static int answer_check(const struct frame *f, int want, int len_ok, const char *what,
			char *why, size_t whylen)
{
	if (f->type == FR_REFUSE)
		return refusal(f, why, whylen);
	if (f->type != want || !len_ok) {
		snprintf(why, whylen, "the server answered %s with frame '%c'", what, f->type);
		return -EPROTO;
	}
	return 0;
}

/* Connects, TLS, HELLO, WELCOME: 0 and *acked; -EACCES for a refusal
 * (why says the server's words), other -errno. */
static int session_open(struct cdp_shipper *sh, struct conn *c, struct frame *f,
			uint64_t *acked, char *why, size_t whylen)
{
	X509_VERIFY_PARAM *vp;
	struct in6_addr a6;
	struct in_addr a4;
	uint8_t hello[10 + 72];
	size_t n = strlen(sh->host);
	int fd, ret;

	fd = dial(sh, why, whylen);
	if (fd < 0)
		return fd;
	c->fd = fd;
	pthread_mutex_lock(&sh->lock);
	sh->fd = fd;
	pthread_mutex_unlock(&sh->lock);
	c->ssl = SSL_new(sh->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		snprintf(why, whylen, "out of memory for TLS");
		return -ENOMEM;
	}
	vp = SSL_get0_param(c->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, sh->server_host, &a4) == 1 ||
	    inet_pton(AF_INET6, sh->server_host, &a6) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(vp, sh->server_host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, sh->server_host);
		SSL_set1_host(c->ssl, sh->server_host);
	}
	errno = 0;
	ret = SSL_connect(c->ssl);
	if (ret != 1) {
		char r[384];

		ship_tls_reason(c->ssl, ret, r, sizeof(r));
		snprintf(why, whylen, "TLS handshake failed: %s", r);
		return strstr(r, "certificate") || strstr(r, "alert") ? -EACCES : -EIO;
	}
	ship_put_u32(hello, sh->proto_version);
	ship_put_u32(hello + 4, cdp_store_block_size(sh->s));
	hello[8] = (uint8_t)(n >> 8);
	hello[9] = (uint8_t)n;
	memcpy(hello + 10, sh->host, n);
	ret = ship_send(c, FR_HELLO, hello, 10 + n);
	if (ret == 0)
		ret = ship_recv(c, f);
	if (ret < 0) {
		/* TLS 1.3: a client certificate the server refuses shows here,
		 * as the server's alert on the first read */
		snprintf(why, whylen, "%s", c->err);
		return strstr(c->err, "alert") ? -EACCES : ret;
	}
	if (f->type == FR_REFUSE)
		return refusal(f, why, whylen);
	if (f->type != FR_WELCOME || f->len != 28 || ship_get_u32(f->p) != CDP_SHIP_PROTO_VERSION) {
		snprintf(why, whylen, "the server does not speak protocol version %d",
			 CDP_SHIP_PROTO_VERSION);
		return -EACCES;
	}
	*acked = ship_get_u64(f->p + 4);
	return 0;
}

struct batch {
	struct cdp_ship_group *g;
	size_t n, cap;
	uint8_t (*refs)[CDP_HASH_BYTES];
	size_t nrefs, refcap;
	size_t bytes;
	uint64_t limit_lsn;
	int64_t through;       /* THROUGH to send (0: the batch stops short) */
};

static void batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		cdp_ship_group_release(&b->g[i]);
	b->n = 0;
	b->nrefs = 0;
	b->bytes = 0;
	b->through = 0;
}

static int batch_add(struct batch *b, struct cdp_ship_group *g)
{
	size_t i, j;
	void *p;

	p = cdp_array_grow(b->g, &b->cap, b->n, sizeof(*b->g), 64);
	if (!p)
		return -ENOMEM;
	b->g = p;
	if (b->nrefs + g->nrefs > b->refcap) {
		p = cdp_array_reserve(b->refs, &b->refcap, b->nrefs + g->nrefs, CDP_HASH_BYTES,
				      256);
		if (!p)
			return -ENOMEM;
		b->refs = p;
	}
	for (i = 0; i < g->nrefs; i++) {
		for (j = 0; j < b->nrefs; j++)
			if (memcmp(b->refs[j], g->refs[i], CDP_HASH_BYTES) == 0)
				break;
		if (j == b->nrefs)
			memcpy(b->refs[b->nrefs++], g->refs[i], CDP_HASH_BYTES);
	}
	b->g[b->n++] = *g;
	b->bytes += g->len + 12;
	return 0;
}

/* Fills b with what follows in the log (up to the limits). */
static int batch_fill(struct cdp_shipper *sh, struct batch *b)
{
	struct cdp_ship_group g;
	int64_t through;
	int ret;

	ret = cdp_ship_source_position(sh->src, &b->limit_lsn, &through);
	if (ret < 0)
		return ret;
	while (b->n < BATCH_MAX_GROUPS && b->nrefs < BATCH_MAX_REFS && b->bytes < BATCH_MAX_BYTES) {
		ret = cdp_ship_source_next(sh->src, &g);
		if (ret <= 0)
			break;
		ret = batch_add(b, &g);
		if (ret < 0) {
			cdp_ship_group_release(&g);
			return ret;
		}
		if (g.lsn >= b->limit_lsn)
			break;
	}
	if (ret < 0)
		return ret;
	if (b->n == 0 || b->g[b->n - 1].lsn >= b->limit_lsn)
		b->through = through;
	return 0;
}

/* A write that failed with ret: a server that refused in the middle of a
 * batch (a GROUP that rewrites history) may have closed before reading
 * the rest, so the write meets a reset or a broken pipe while its REFUSE
 * waits, unread, in the socket.  Reads it then: refusal(), else ret.  Not
 * after a timeout or a stop (the read would only wait again). */
static int write_failed_refused(struct conn *c, struct frame *f, int ret, char *why,
				size_t whylen)
{
	char err[sizeof(c->err)];

	if (ret != -EIO || strcmp(c->err, "timed out") == 0)
		return ret;
	memcpy(err, c->err, sizeof(err));
	ERR_clear_error();
	if (ship_recv(c, f) == 0 && f->type == FR_REFUSE)
		return refusal(f, why, whylen);
	memcpy(c->err, err, sizeof(err));
	return ret;
}

/* Sends one batch and waits for its ACK: 0 and *acked, or -errno. */
static int batch_send(struct cdp_shipper *sh, struct conn *c, struct frame *f, struct batch *b,
		      uint64_t *acked, int64_t *through_acked, char *why, size_t whylen)
{
	uint8_t hdr[12], *offer = NULL, t[8];
	size_t i;
	int ret = 0;

	if (b->nrefs) {
		offer = malloc(4 + b->nrefs * CDP_HASH_BYTES);
		if (!offer)
			return -ENOMEM;
		ship_put_u32(offer, (uint32_t)b->nrefs);
		memcpy(offer + 4, b->refs, b->nrefs * CDP_HASH_BYTES);
		ret = ship_send(c, FR_OFFER, offer, 4 + b->nrefs * CDP_HASH_BYTES);
		free(offer);
		sh->st.chunks_offered += b->nrefs;
		if (ret == 0)
			ret = ship_recv(c, f);
		if (ret < 0)
			goto io;
		ret = answer_check(f, FR_NEED, f->len == 4 + (b->nrefs + 7) / 8 &&
				   ship_get_u32(f->p) == b->nrefs, "an OFFER", why, whylen);
		if (ret < 0)
			return ret;
		for (i = 0; i < b->nrefs && ret == 0; i++) {
			uint8_t *rec;
			size_t len;

			if (!(f->p[4 + i / 8] & (1u << (i % 8))))
				continue;
			ret = cdp_ship_source_chunk(sh->src, b->refs[i], &rec, &len);
			if (ret == -ENOENT || ret == -EIO) {
				ret = ship_send(c, FR_LOST, b->refs[i], CDP_HASH_BYTES);
				continue;
			}
			if (ret < 0) {
				snprintf(why, whylen, "cannot read a chunk of the local store: %s",
					 cdp_strerror(ret));
				return ret;
			}
			ret = ship_send(c, FR_CHUNK, rec, len);
			free(rec);
			sh->st.chunks_sent++;
		}
		if (ret < 0)
			goto io;
	}
	for (i = 0; i < b->n && ret == 0; i++) {
		ship_put_u64(hdr, b->g[i].lsn);
		ship_put_u32(hdr + 8, b->g[i].count);
		ret = ship_send2(c, FR_GROUP, hdr, sizeof(hdr), b->g[i].entries, b->g[i].len);
	}
	if (ret == 0 && b->through) {
		ship_put_u64(t, (uint64_t)b->through);
		ret = ship_send(c, FR_THROUGH, t, 8);
	}
	if (ret == 0)
		ret = ship_send(c, FR_COMMIT, NULL, 0);
	if (ret == 0)
		ret = ship_recv(c, f);
	if (ret < 0)
		goto io;
	ret = answer_check(f, FR_ACK, f->len == 16, "a COMMIT", why, whylen);
	if (ret < 0)
		return ret;
	*acked = ship_get_u64(f->p);
	*through_acked = (int64_t)ship_get_u64(f->p + 8);
	sh->st.groups_sent += b->n;
	sh->st.bytes_sent = c->bytes_out;
	return 0;
io:
	snprintf(why, whylen, "%s", c->err);
	return write_failed_refused(c, f, ret, why, whylen);
}

/* 1 when draining is over (caught up, or the deadline passed). */
static int drain_done(struct cdp_shipper *sh, int caught_up)
{
	int done;

	pthread_mutex_lock(&sh->lock);
	done = sh->stop || (sh->draining && (caught_up || ship_mono_ns() >= sh->drain_deadline_ns));
	pthread_mutex_unlock(&sh->lock);
	return done;
}

/* One connection's life: 0 when stopping, else the error that ended it. */
static int session_run(struct cdp_shipper *sh, struct conn *c, char *why, size_t whylen)
{
	struct frame f = { 0 };
	struct batch b = { 0 };
	uint64_t acked = 0;
	int64_t through = 0, last_commit = 0;
	int ret;

	sh->welcomed = 0;
	ret = session_open(sh, c, &f, &acked, why, whylen);
	if (ret < 0)
		goto out;
	sh->welcomed = 1;
	ret = cdp_ship_source_seek(sh->src, acked);
	if (ret < 0) {
		snprintf(why, whylen, "the server holds group %llu, which the local store's log "
			 "does not have: %s", (unsigned long long)acked, cdp_strerror(ret));
		ret = -EACCES;
		goto out;
	}
	sh->st.acked_lsn = acked;
	cdp_log(LOG_INFO, "shipping to %s:%s: connected; the server holds this host's log "
		"through group %llu", sh->server_host, sh->server_port, (unsigned long long)acked);
	status_set(sh, CDP_LINK_CONNECTED, NULL);
	for (;;) {
		batch_clear(&b);
		ret = batch_fill(sh, &b);
		if (ret < 0) {
			snprintf(why, whylen, "cannot read the local store's log: %s",
				 cdp_strerror(ret));
			goto out;
		}
		if (b.n == 0 && (drain_done(sh, 1) || ship_mono_ns() - last_commit < 1000000000LL)) {
			if (drain_done(sh, 1))
				break;
			nap(sh, 100);
			if (sh->stop)
				break;
			continue;
		}
		ret = batch_send(sh, c, &f, &b, &acked, &through, why, whylen);
		if (ret < 0)
			goto out;
		last_commit = ship_mono_ns();
		if (acked != sh->st.acked_lsn && ship_mono_ns() - sh->pos_written_ns > 1000000000LL) {
			uint32_t seg;
			uint64_t end;

			if (cdp_ship_source_where(sh->src, acked, &seg, &end) == 0 &&
			    cdp_ship_pos_write(sh->store_path, acked, seg, end) == 0)
				sh->pos_written_ns = ship_mono_ns();
		}
		sh->st.acked_lsn = acked;
		sh->st.acked_ns = cdp_now_ns();
		if (through > sh->st.shipped_through_ns)
			sh->st.shipped_through_ns = through;
		status_set(sh, CDP_LINK_CONNECTED, NULL);
		if (b.n == 0 && drain_done(sh, 1))
			break;
		if (sh->stop)
			break;
	}
	ret = 0;
out:
	batch_clear(&b);
	free(b.g);
	free(b.refs);
	ship_frame_release(&f);
	return ret;
}

static void *shipper_main(void *arg)
{
	struct cdp_shipper *sh = arg;
	unsigned backoff = 500;
	struct conn c;
	char why[768];
	int ret;

	status_set(sh, CDP_LINK_CONNECTING, NULL);
	while (!sh->stop) {
		memset(&c, 0, sizeof(c));
		c.fd = -1;
		c.rate_bytes = sh->o.rate_bytes;
		c.cancel = &sh->stop;
		snprintf(c.peer, sizeof(c.peer), "%s:%s", sh->server_host, sh->server_port);
		why[0] = '\0';
		ERR_clear_error();
		ret = session_run(sh, &c, why, sizeof(why));
		pthread_mutex_lock(&sh->lock);
		sh->fd = -1;
		pthread_mutex_unlock(&sh->lock);
		ship_conn_close(&c);
		if (ret == 0 || sh->stop)
			break;
		if (ret != -EACCES && !sh->welcomed && sh->st.state == CDP_LINK_REFUSED &&
		    ret != -ENETUNREACH && ret != -ECONNREFUSED && ret != -ETIMEDOUT &&
		    ret != -EHOSTUNREACH) {
			/* TLS 1.3: a server that refuses our certificate may reset
			 * the connection before its alert is read: still refused */
			cdp_log(LOG_ERR, "shipping to %s:%s: %s (still refused: %s); retrying in "
				"%u s", sh->server_host, sh->server_port, why, sh->st.reason,
				(sh->backoff_max_ms + 999) / 1000);
			backoff = sh->backoff_max_ms;
		} else if (ret == -EACCES) {
			backoff = sh->backoff_max_ms;
			status_set(sh, CDP_LINK_REFUSED, why);
			cdp_log(LOG_ERR, "shipping to %s:%s: %s; retrying in %u s", sh->server_host,
				sh->server_port, why, (backoff + 999) / 1000);
		} else {
			if (sh->st.state == CDP_LINK_CONNECTED)
				backoff = 500;
			status_set(sh, CDP_LINK_RETRYING, why);
			cdp_log(LOG_WARNING, "shipping to %s:%s: %s; retrying in %.1f s (the local "
				"store keeps the journal meanwhile)", sh->server_host,
				sh->server_port, why, backoff / 1000.0);
		}
		sh->st_written_ns = 0;
		status_set(sh, sh->st.state, sh->st.reason);
		/* stopping with the link down: the spool keeps the rest */
		if (sh->draining || nap(sh, backoff))
			break;
		backoff = backoff * 2 > sh->backoff_max_ms ? sh->backoff_max_ms : backoff * 2;
	}
	sh->st_written_ns = 0;
	status_set(sh, CDP_LINK_STOPPED, NULL);
	return NULL;
}

int cdp_shipper_check(const struct cdp_shipper_options *o, char *err, size_t errlen)
{
	char host[256], port[16];
	SSL_CTX *ctx;

	if (ship_parse_addr(o->server, host, sizeof(host), port, sizeof(port)) < 0 || !host[0]) {
		cdp_errf(err, errlen, "cdpfs: bad --ship '%s' (HOST:PORT, [ADDR6]:PORT)",
			 o->server ? o->server : "");
		return -EINVAL;
	}
	if (!o->cert || !o->key || !o->ca) {
		cdp_errf(err, errlen, "cdpfs: --ship needs --cert, --key and --ca");
		return -EINVAL;
	}
	ctx = ship_tls_ctx(0, o->cert, o->key, o->ca, err, errlen);
	if (!ctx)
		return -EINVAL;
	SSL_CTX_free(ctx);
	return 0;
}

int cdp_shipper_start(struct cdp_store *s, const char *host,
		      const struct cdp_shipper_options *o, struct cdp_shipper **out,
		      char *err, size_t errlen)
{
	struct cdp_shipper *sh;
	int ret;

	*out = NULL;
	ret = cdp_shipper_check(o, err, errlen);
	if (ret < 0)
		return ret;
	sh = calloc(1, sizeof(*sh));
	if (!sh || !(sh->store_path = strdup(cdp_store_path(s)))) {
		free(sh);
		cdp_errf(err, errlen, "cdpfs: out of memory");
		return -ENOMEM;
	}
	sh->s = s;
	sh->o = *o;
	sh->fd = -1;
	snprintf(sh->host, sizeof(sh->host), "%s", host);
	ship_parse_addr(o->server, sh->server_host, sizeof(sh->server_host), sh->server_port,
			sizeof(sh->server_port));
	sh->timeout_ms = env_ms("CDPFS_SHIP_TIMEOUT_MS", 10000);
	sh->backoff_max_ms = env_ms("CDPFS_SHIP_BACKOFF_MAX_MS", 5000);
	sh->proto_version = env_ms("CDPFS_SHIP_PROTO_VERSION", CDP_SHIP_PROTO_VERSION);
	snprintf(sh->st.server, sizeof(sh->st.server), "%s", o->server);
	snprintf(sh->st.host, sizeof(sh->st.host), "%s", host);
	sh->st.pid = (uint32_t)getpid();
	sh->ctx = ship_tls_ctx(0, o->cert, o->key, o->ca, err, errlen);
	ret = sh->ctx ? cdp_ship_source_open(s, host, &sh->src) : -EINVAL;
	if (ret < 0) {
		if (sh->ctx)
			cdp_errf(err, errlen, "cdpfs: cannot ship store '%s': %s", sh->store_path,
				 cdp_strerror(ret));
		SSL_CTX_free(sh->ctx);
		free(sh->store_path);
		free(sh);
		return ret;
	}
	{
		uint64_t lsn, end;
		uint32_t seg;

		if (cdp_ship_pos_read(sh->store_path, &lsn, &seg, &end) == 0)
			cdp_ship_source_hint(sh->src, lsn, seg, end);
	}
	pthread_mutex_init(&sh->lock, NULL);
	pthread_cond_init(&sh->cond, NULL);
	ret = -pthread_create(&sh->thread, NULL, shipper_main, sh);
	if (ret == 0)
		pthread_setname_np(sh->thread, "cdpfs-ship");
	if (ret) {
		cdp_errf(err, errlen, "cdpfs: cannot start the shipper thread: %s", strerror(-ret));
		cdp_ship_source_free(sh->src);
		SSL_CTX_free(sh->ctx);
		free(sh->store_path);
		free(sh);
		return ret;
	}
	cdp_log(LOG_INFO, "shipping host '%s' to %s (rate %s)", host, o->server,
		o->rate_bytes ? "limited" : "unlimited");
	*out = sh;
	return 0;
}

void cdp_shipper_stop(struct cdp_shipper *sh, unsigned drain_ms)
{
	if (!sh)
		return;
	pthread_mutex_lock(&sh->lock);
	sh->draining = 1;
	sh->drain_deadline_ns = ship_mono_ns() + (int64_t)drain_ms * 1000000LL;
	if (!drain_ms)
		sh->stop = 1;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	if (drain_ms) {
		/* after the deadline, break whatever the thread waits on */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 50000000L };

		while (ship_mono_ns() < sh->drain_deadline_ns) {
			if (pthread_tryjoin_np(sh->thread, NULL) == 0)
				goto joined;
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&sh->lock);
	sh->stop = 1;
	if (sh->fd >= 0)
		shutdown(sh->fd, SHUT_RDWR);
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	pthread_join(sh->thread, NULL);
joined:
	cdp_ship_source_free(sh->src);
	SSL_CTX_free(sh->ctx);
	pthread_cond_destroy(&sh->cond);
	pthread_mutex_destroy(&sh->lock);
	free(sh->store_path);
	free(sh);
}
