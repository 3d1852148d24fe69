/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server.c - `cdpfs serve`: the DR store server.  Hosts connect over TLS
 * 1.3, each with a certificate that names it; the server keeps their
 * groups in one ordinary store (store/replica.h), which mount, drill,
 * bisect and hosts read while hosts keep shipping.
 *
 * One thread per connection.  A connection is refused, with a log line
 * giving the peer and the reason and before anything it sent is kept,
 * when its certificate does not verify against --ca (unknown CA, expired,
 * not yet valid), when it does not name the host the HELLO gives, when it
 * speaks another protocol version, or when the host's block size is not
 * the store's.  A batch is kept whole or not at all: its chunks and groups
 * are staged in memory, checked (replica.c's rules: append-only, no hole,
 * no chunk missing), and made durable by one commit when COMMIT comes;
 * only then is it acknowledged.  A connection that breaks mid-batch (cut
 * link, bad checksum, a refused group) leaves nothing of that batch.
 *
 * Two connections of the same host (a restarted shipper whose old TCP
 * connection has not timed out yet) take turns: a lock per host is held
 * from a batch's first frame to its ACK, and each batch is checked against
 * the resume point as it is then, so the second one's groups are either
 * acknowledged as kept or refused as a hole, never applied twice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "ship/ship_int.h"
#include "util/util.h"
#include "store/replica.h"

#define SERVER_TIMEOUT_MS 30000u
#define MAX_OFFER 65536u
/* after a REFUSE: how long the rest of the peer's batch is read and
 * dropped so that it reads the refusal (ship_conn_linger) */
#define REFUSE_LINGER_MS 5000u
#define REFUSE_IDLE_MS 2000u

struct host_lock {
	char *name;
	pthread_mutex_t lock;
	struct host_lock *next;
};

struct server {
	struct cdp_store *store;
	SSL_CTX *ctx;
	pthread_mutex_t lock;        /* hosts, nconns */
	pthread_cond_t idle;
	struct host_lock *hosts;
	struct session *sessions;
	int nconns;
	int stopping;
};

struct session {
	struct server *sv;
	struct conn c;
	char host[72];
	struct host_lock *hl;
	struct cdp_ship_sink *sink;
	int locked;                  /* hl->lock held: a batch is open */
	int refused;                 /* a REFUSE was sent: linger at close */
	uint64_t groups, dups, chunks;
	struct session *next;        /* in sv->sessions, under sv->lock */
};

static struct host_lock *host_lock_get(struct server *sv, const char *name)
{
	struct host_lock *h;

	pthread_mutex_lock(&sv->lock);
	for (h = sv->hosts; h && strcmp(h->name, name) != 0; h = h->next)
		;
	if (!h && (h = calloc(1, sizeof(*h))) && (h->name = strdup(name))) {
		pthread_mutex_init(&h->lock, NULL);
		h->next = sv->hosts;
		sv->hosts = h;
	} else if (h && !h->name) {
		free(h);
		h = NULL;
	}
	pthread_mutex_unlock(&sv->lock);
	return h;
}

/* Opens the batch: the host's lock, the resume point as it is now. */
static int batch_open(struct session *ss)
{
	int ret;

	if (ss->locked)
		return 0;
	pthread_mutex_lock(&ss->hl->lock);
	ss->locked = 1;
	ret = cdp_ship_sink_begin(ss->sink, NULL);
	if (ret < 0)
		snprintf(ss->c.err, sizeof(ss->c.err), "cannot read the resume point of '%s': %s",
			 ss->host, cdp_strerror(ret));
	return ret;
}

static void batch_close(struct session *ss)
{
	if (!ss->locked)
		return;
	cdp_ship_sink_begin(ss->sink, NULL);   /* drops anything staged */
	ss->locked = 0;
	pthread_mutex_unlock(&ss->hl->lock);
}

/* Ends the session with a refusal the peer sees and the log keeps. */
static void refuse(struct session *ss, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct session *ss, uint32_t code, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cdp_log(code == REFUSE_TEMPORARY ? LOG_WARNING : LOG_ERR,
		"refused %s%s%s: %s%s", ss->host[0] ? "host '" : "connection from ",
		ss->host[0] ? ss->host : ss->c.peer, ss->host[0] ? "'" : "", text,
		ss->locked ? "; nothing of its batch is kept" : "");
	if (ship_send_refuse(&ss->c, code, text) == 0)
		ss->refused = 1;
}

/* The name the certificate gives (CN), for messages. */
static void cert_name(X509 *cert, char *out, size_t outlen)
{
	X509_NAME *n = cert ? X509_get_subject_name(cert) : NULL;

	out[0] = '\0';
	if (!n || X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)outlen) < 0)
		snprintf(out, outlen, "(no common name)");
}

static int handshake(struct session *ss, struct frame *f)
{
	uint32_t version, bsize, bs = cdp_store_block_size(ss->sv->store);
	struct cdp_ship_state st;
	uint8_t w[4 + 8 + 8 + 8];
	char name[256];
	X509 *cert;
	size_t n;
	int ret;

	ret = ship_recv(&ss->c, f);
	if (ret < 0) {
		cdp_log(LOG_ERR, "refused connection from %s: %s", ss->c.peer, ss->c.err);
		return ret;
	}
	if (f->type != FR_HELLO || f->len < 10) {
		refuse(ss, REFUSE_PERMANENT, "the first frame is not a HELLO");
		return -EPROTO;
	}
	version = ship_get_u32(f->p);
	if (version != CDP_SHIP_PROTO_VERSION) {
		refuse(ss, REFUSE_PERMANENT, "protocol version %u is not spoken here (this server "
		       "speaks version %d)", version, CDP_SHIP_PROTO_VERSION);
		return -EPROTO;
	}
	bsize = ship_get_u32(f->p + 4);
	n = (size_t)f->p[8] << 8 | f->p[9];
	if (n == 0 || n >= sizeof(ss->host) || f->len != 10 + n) {
		refuse(ss, REFUSE_PERMANENT, "the HELLO does not name a host");
		return -EPROTO;
	}
	if (memchr(f->p + 10, 0, n)) {
		refuse(ss, REFUSE_PERMANENT, "the HELLO's host name holds a NUL byte");
		return -EPROTO;
	}
	cert = SSL_get1_peer_certificate(ss->c.ssl);
	if (!cert || X509_check_host(cert, (const char *)f->p + 10, n,
				     X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
		char host[72];

		cert_name(cert, name, sizeof(name));
		X509_free(cert);
		/* the name is not the peer's to claim: say who it is */
		snprintf(host, sizeof(host), "%.*s", (int)n, (const char *)f->p + 10);
		refuse(ss, REFUSE_PERMANENT, "its certificate names '%s', not host '%s': a host "
		       "ships only its own history", name, host);
		return -EACCES;
	}
	X509_free(cert);
	pthread_mutex_lock(&ss->sv->lock);   /* other sessions read it (below) */
	memcpy(ss->host, f->p + 10, n);
	ss->host[n] = '\0';
	pthread_mutex_unlock(&ss->sv->lock);
	if (bsize != bs) {
		refuse(ss, REFUSE_PERMANENT, "its store's block size is %u bytes, this server's "
		       "store uses %u", bsize, bs);
		return -EPROTO;
	}
	/* a host reconnecting (after a cut, a restart) ends its older
	 * connection, whose batch, if any, is then dropped: it would hold the
	 * host's lock until its read timed out */
	pthread_mutex_lock(&ss->sv->lock);
	for (struct session *o = ss->sv->sessions; o; o = o->next)
		if (o != ss && o->host[0] && strcmp(o->host, ss->host) == 0) {
			cdp_log(LOG_INFO, "host '%s' connects again: its connection from %s ends",
				ss->host, o->c.peer);
			shutdown(o->c.fd, SHUT_RDWR);
		}
	pthread_mutex_unlock(&ss->sv->lock);
	ss->hl = host_lock_get(ss->sv, ss->host);
	if (!ss->hl)
		return -ENOMEM;
	ret = cdp_ship_sink_open(ss->sv->store, ss->host, &ss->sink);
	if (ret == 0) {
		pthread_mutex_lock(&ss->hl->lock);
		ret = cdp_ship_sink_begin(ss->sink, &st);
		pthread_mutex_unlock(&ss->hl->lock);
	}
	if (ret < 0) {
		refuse(ss, REFUSE_TEMPORARY, "cannot open host '%s' in the server's store: %s",
		       ss->host, cdp_strerror(ret));
		return ret;
	}
	ship_put_u32(w, CDP_SHIP_PROTO_VERSION);
	ship_put_u64(w + 4, st.lsn);
	ship_put_u64(w + 12, st.seq);
	ship_put_u64(w + 20, (uint64_t)st.through_ts);
	cdp_log(LOG_INFO, "host '%s' connected from %s; it resumes after group %llu", ss->host,
		ss->c.peer, (unsigned long long)st.lsn);
	return ship_send(&ss->c, FR_WELCOME, w, sizeof(w));
}

static int on_offer(struct session *ss, const struct frame *f)
{
	uint32_t n, i;
	uint8_t *need;
	int ret;

	if (f->len < 4 || (n = ship_get_u32(f->p)) > MAX_OFFER ||
	    f->len != 4 + (size_t)n * CDP_HASH_BYTES) {
		refuse(ss, REFUSE_PERMANENT, "an OFFER that does not decode");
		return -EPROTO;
	}
	ret = batch_open(ss);
	if (ret < 0)
		return ret;
	need = calloc(1, 4 + (n + 7) / 8);
	if (!need)
		return -ENOMEM;
	ship_put_u32(need, n);
	for (i = 0; i < n; i++) {
		ret = cdp_ship_sink_has_chunk(ss->sink, f->p + 4 + (size_t)i * CDP_HASH_BYTES);
		if (ret < 0)
			break;
		if (!ret)
			need[4 + i / 8] |= (uint8_t)(1u << (i % 8));
	}
	if (ret >= 0)
		ret = ship_send(&ss->c, FR_NEED, need, 4 + (n + 7) / 8);
	free(need);
	return ret;
}

static int on_group(struct session *ss, const struct frame *f)
{
	struct cdp_ship_group g = { 0 };
	char why[512];
	int ret;

	if (f->len < 12) {
		refuse(ss, REFUSE_PERMANENT, "a GROUP that does not decode");
		return -EPROTO;
	}
	ret = batch_open(ss);
	if (ret < 0)
		return ret;
	g.lsn = ship_get_u64(f->p);
	g.count = ship_get_u32(f->p + 8);
	g.entries = f->p + 12;
	g.len = f->len - 12;
	why[0] = '\0';
	ret = cdp_ship_sink_add_group(ss->sink, &g, why, sizeof(why));
	if (ret == 1) {
		ss->dups++;
		return 0;
	}
	if (ret < 0) {
		refuse(ss, REFUSE_PERMANENT, "%s", why[0] ? why : cdp_strerror(ret));
		return ret;
	}
	ss->groups++;
	return 0;
}

static int on_commit(struct session *ss)
{
	struct cdp_ship_state st;
	uint8_t a[16];
	int ret;

	ret = batch_open(ss);
	if (ret < 0)
		return ret;
	ret = cdp_ship_sink_commit(ss->sink, &st);
	if (ret < 0) {
		refuse(ss, REFUSE_TEMPORARY, "the server cannot keep the batch: %s%s",
		       cdp_strerror(ret), ret == -CDP_ENOSPACE ?
		       " (server store full; the host keeps its spool and retries)" : "");
		batch_close(ss);
		return ret;
	}
	batch_close(ss);
	ship_put_u64(a, st.lsn);
	ship_put_u64(a + 8, (uint64_t)st.through_ts);
	return ship_send(&ss->c, FR_ACK, a, sizeof(a));
}

static int session_loop(struct session *ss)
{
	struct frame f = { 0 };
	char why[256];
	int ret;

	ret = handshake(ss, &f);
	while (ret == 0 && !ss->sv->stopping) {
		ret = ship_recv(&ss->c, &f);
		if (ret < 0) {
			if (ret == -ECONNRESET && !ss->locked)
				cdp_log(LOG_INFO, "host '%s' disconnected", ss->host);
			else
				cdp_log(LOG_WARNING, "connection of host '%s' from %s ends: %s%s",
					ss->host, ss->c.peer, ss->c.err,
					ss->locked ? "; nothing of its open batch is kept" : "");
			break;
		}
		switch (f.type) {
		case FR_OFFER:
			ret = on_offer(ss, &f);
			break;
		case FR_CHUNK:
			ret = batch_open(ss);
			if (ret == 0) {
				why[0] = '\0';
				ret = cdp_ship_sink_add_chunk(ss->sink, f.p, f.len, why, sizeof(why));
				if (ret < 0)
					refuse(ss, REFUSE_PERMANENT, "%s", why[0] ? why :
					       cdp_strerror(ret));
				ss->chunks++;
			}
			break;
		case FR_LOST:
			ret = f.len == CDP_HASH_BYTES ? batch_open(ss) : -EPROTO;
			if (ret == 0)
				ret = cdp_ship_sink_add_lost(ss->sink, f.p);
			break;
		case FR_GROUP:
			ret = on_group(ss, &f);
			break;
		case FR_THROUGH:
			ret = f.len == 8 ? batch_open(ss) : -EPROTO;
			if (ret == 0)
				cdp_ship_sink_through(ss->sink, (int64_t)ship_get_u64(f.p));
			break;
		case FR_COMMIT:
			ret = on_commit(ss);
			break;
		default:
			refuse(ss, REFUSE_PERMANENT, "unexpected frame '%c'", f.type);
			ret = -EPROTO;
		}
	}
	batch_close(ss);
	ship_frame_release(&f);
	return ret;
}

static void *session_main(void *arg)
{
	struct session *ss = arg;
	struct server *sv = ss->sv;
	char why[512];
	int ret;

	ss->c.ssl = SSL_new(sv->ctx);
	if (ss->c.ssl && SSL_set_fd(ss->c.ssl, ss->c.fd) == 1) {
		errno = 0;
		ret = SSL_accept(ss->c.ssl);
		if (ret == 1) {
			session_loop(ss);
			if (ss->groups || ss->dups)
				cdp_log(LOG_INFO, "host '%s': %llu groups kept, %llu already kept, "
					"%llu chunks received on this connection", ss->host,
					(unsigned long long)ss->groups, (unsigned long long)ss->dups,
					(unsigned long long)ss->chunks);
		} else {
			ship_tls_reason(ss->c.ssl, ret, why, sizeof(why));
			cdp_log(LOG_ERR, "refused connection from %s: TLS handshake failed: %s",
				ss->c.peer, why);
		}
	}
	/* still in sv->sessions, so that a stop or a reconnect ends it */
	if (ss->refused)
		ship_conn_linger(&ss->c, REFUSE_LINGER_MS, REFUSE_IDLE_MS);
	pthread_mutex_lock(&sv->lock);
	for (struct session **p = &sv->sessions; *p; p = &(*p)->next)
		if (*p == ss) {
			*p = ss->next;
			break;
		}
	pthread_mutex_unlock(&sv->lock);
	ship_conn_close(&ss->c);
	cdp_ship_sink_free(ss->sink);
	free(ss);
	pthread_mutex_lock(&sv->lock);
	sv->nconns--;
	pthread_cond_broadcast(&sv->idle);
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

static int listen_on(const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, rc, saved = 0;

	if (ship_parse_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		cdp_errf(err, errlen, "cdpfs: bad --listen '%s' (ADDR:PORT, [ADDR6]:PORT or :PORT)",
			 addr);
		return -EINVAL;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		cdp_errf(err, errlen, "cdpfs: cannot resolve --listen '%s': %s", addr,
			 gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		cdp_errf(err, errlen, "cdpfs: cannot listen on '%s': %s", addr, strerror(saved));
	return fd < 0 ? -saved : fd;
}

static void peer_name(const struct sockaddr_storage *sa, char *out, size_t outlen)
{
	char h[INET6_ADDRSTRLEN] = "?";

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
		snprintf(out, outlen, "%s:%u", h, ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
		snprintf(out, outlen, "[%s]:%u", h, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
}

int cdp_serve(const struct cdp_serve_options *o, char *err, size_t errlen)
{
	struct server sv = { 0 };
	struct pollfd pfd[2];
	struct host_lock *h;
	int lfd, sfd = -1, rc, max = o->max_conns > 0 ? o->max_conns : 256;

	pthread_mutex_init(&sv.lock, NULL);
	pthread_cond_init(&sv.idle, NULL);
	sv.ctx = ship_tls_ctx(1, o->cert, o->key, o->ca, err, errlen);
	if (!sv.ctx)
		return -EINVAL;
	rc = cdp_store_check_dir(o->store);
	if (rc == 0)
		rc = cdp_store_open(o->store, CDP_STORE_CREATE | CDP_STORE_WRITE, NULL, &sv.store);
	if (rc < 0) {
		cdp_errf(err, errlen, "cdpfs: cannot open store '%s' for writing: %s%s",
			 o->store, cdp_strerror(rc), rc == -CDP_ELOCKED ?
			 " (another cdpfs serve or capture writes it)" :
			 rc == -ENOTEMPTY ? " (not a store and not empty)" : "");
		SSL_CTX_free(sv.ctx);
		return rc;
	}
	lfd = listen_on(o->listen, err, errlen);
	if (lfd < 0) {
		cdp_store_close(sv.store);
		SSL_CTX_free(sv.ctx);
		return lfd;
	}
	sfd = cdp_stop_signalfd(0);
	cdp_log(LOG_INFO, "serving store '%s' on %s (protocol version %d, TLS 1.3)", o->store,
		o->listen, CDP_SHIP_PROTO_VERSION);
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		struct session *ss;
		pthread_t t;
		pthread_attr_t attr;
		int fd;

		if (poll(pfd, sfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sfd >= 0 && (pfd[1].revents & POLLIN))
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ss = calloc(1, sizeof(*ss));
		if (!ss) {
			close(fd);
			continue;
		}
		ss->sv = &sv;
		ss->c.fd = fd;
		peer_name(&sa, ss->c.peer, sizeof(ss->c.peer));
		ship_set_timeouts(fd, SERVER_TIMEOUT_MS);
		pthread_mutex_lock(&sv.lock);
		if (sv.nconns >= max) {
			pthread_mutex_unlock(&sv.lock);
			cdp_log(LOG_WARNING, "refused connection from %s: %d connections already",
				ss->c.peer, max);
			close(fd);
			free(ss);
			continue;
		}
		sv.nconns++;
		ss->next = sv.sessions;
		sv.sessions = ss;
		pthread_mutex_unlock(&sv.lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, session_main, ss) != 0) {
			pthread_mutex_lock(&sv.lock);
			sv.sessions = ss->next;
			sv.nconns--;
			pthread_mutex_unlock(&sv.lock);
			close(fd);
			free(ss);
		}
		pthread_attr_destroy(&attr);
	}
	cdp_log(LOG_INFO, "stopping: no new connections; open batches are dropped");
	close(lfd);
	pthread_mutex_lock(&sv.lock);
	sv.stopping = 1;
	/* wake sessions blocked in a read: a batch not committed is dropped */
	for (struct session *ss = sv.sessions; ss; ss = ss->next)
		shutdown(ss->c.fd, SHUT_RDWR);
	while (sv.nconns > 0) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		if (pthread_cond_timedwait(&sv.idle, &sv.lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&sv.lock);
	if (sv.nconns > 0) {
		/* threads still blocked on their peers: the store stays open
		 * under them; its log and index are durable at every commit */
		cdp_log(LOG_INFO, "server exits with %d connection(s) still open", sv.nconns);
		_exit(0);
	}
	cdp_store_close(sv.store);
	SSL_CTX_free(sv.ctx);
	while ((h = sv.hosts)) {
		sv.hosts = h->next;
		pthread_mutex_destroy(&h->lock);
		free(h->name);
		free(h);
	}
	if (sfd >= 0)
		close(sfd);
	return 0;
}
