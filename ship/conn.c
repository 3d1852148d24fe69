/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conn.c - one TLS connection of the shipping protocol and its frames.
 *
 * Transport: TLS 1.3 only (OpenSSL), both ends present a certificate
 * signed by the CA the other end was given; the client checks that the
 * server's certificate names the address it dialled, the server that the
 * client's names the host of its HELLO (CN, or a DNS name of its subject
 * alternative names).  Blocking sockets with read and write timeouts.
 *
 * Frame (all integers big-endian):
 *    0 u32 magic 0x43445057 ("CDPW")
 *    4 u8  type (an ASCII letter, below)
 *    5 u8  flags, 0
 *    6 u16 reserved, 0
 *    8 u32 payload length (at most 64 MiB + 64 KiB)
 *   12 u32 CRC-32C of bytes 0..11 then the payload
 *   16 payload
 * A frame with another magic, flags or reserved bytes, too long, or a
 * checksum that does not match ends the connection: the receiver keeps
 * nothing of the batch it was in.  Payloads by type are in docs/format.md.
 *
 * Rate limit (--ship-rate): a token bucket over the bytes written, over a
 * window that restarts once it is a second old and the bucket is level.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ship/ship_int.h"
#include "store/replica.h"

int64_t ship_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void openssl_reason(char *out, size_t outlen)
{
	unsigned long e = ERR_get_error(), last = e;

	/* the first error is the root cause; later ones only wrap it */
	while (last)
		last = ERR_get_error();
	if (e)
		ERR_error_string_n(e, out, outlen);
	else
		snprintf(out, outlen, "unknown TLS error");
}

SSL_CTX *ship_tls_ctx(int server, const char *cert, const char *key, const char *ca, char *err,
		      size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	char why[256];
	const char *what = NULL, *file = NULL;

	if (!ctx) {
		cdp_errf(err, errlen, "cdpfs: cannot make a TLS context: out of memory");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		what = "cannot limit TLS to version 1.3", file = "";
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		what = "cannot load the certificate (--cert)", file = cert;
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		what = "cannot load the private key (--key)", file = key;
	else if (SSL_CTX_check_private_key(ctx) != 1)
		what = "the private key does not belong to the certificate (--key)", file = key;
	else if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		what = "cannot load the CA certificate (--ca)", file = ca;
	if (what) {
		openssl_reason(why, sizeof(why));
		cdp_errf(err, errlen, "cdpfs: %s '%s': %s", what, file, why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	return ctx;
}

void ship_tls_reason(SSL *ssl, int ret, char *out, size_t outlen)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	int e = ssl ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;

	if (vr != X509_V_OK) {
		ERR_clear_error();
		snprintf(out, outlen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
		return;
	}
	if (e == SSL_ERROR_SYSCALL || (e == SSL_ERROR_SSL && ERR_peek_error() == 0)) {
		ERR_clear_error();
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			snprintf(out, outlen, "timed out");
		else if (errno)
			snprintf(out, outlen, "%s", strerror(errno));
		else
			snprintf(out, outlen, "connection closed by the other end");
		return;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();   /* a socket timeout on a blocking socket */
		snprintf(out, outlen, "timed out");
		return;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(out, outlen, "connection closed by the other end");
		return;
	}
	openssl_reason(out, outlen);
}

void ship_set_timeouts(int fd, unsigned timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int ship_parse_addr(const char *text, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon, *h = text, *end;
	size_t n;

	if (!text || !*text)
		return -EINVAL;
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (!end)
			return -EINVAL;
		h = text + 1;
		n = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon)
			return -EINVAL;   /* a bare IPv6 address: write it in [] */
		n = colon ? (size_t)(colon - text) : strlen(text);
	}
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (colon) {
		char *e;
		long p = strtol(colon + 1, &e, 10);

		if (!colon[1] || *e || p < 1 || p > 65535)
			return -EINVAL;
		snprintf(port, portlen, "%ld", p);
	} else {
		snprintf(port, portlen, "%d", CDP_SHIP_DEFAULT_PORT);
	}
	return 0;
}

/* ------------------------------------------------------------- frames */

static void rate_wait(struct conn *c, size_t n)
{
	int64_t now, due;
	struct timespec ts;

	if (!c->rate_bytes)
		return;
	now = ship_mono_ns();
	if (!c->rate_start_ns || now - c->rate_start_ns > 1000000000LL +
	    (int64_t)(c->rate_sent * 1000000000ULL / c->rate_bytes)) {
		c->rate_start_ns = now;
		c->rate_sent = 0;
	}
	c->rate_sent += n;
	due = c->rate_start_ns + (int64_t)((double)c->rate_sent * 1e9 / (double)c->rate_bytes);
	while (due > (now = ship_mono_ns()) && !(c->cancel && *c->cancel)) {
		int64_t d = due - now > 100000000LL ? 100000000LL : due - now;

		ts.tv_sec = d / 1000000000LL;
		ts.tv_nsec = d % 1000000000LL;
		nanosleep(&ts, NULL);
	}
}

static int write_all(struct conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t chunk;
	int n;

	while (len) {
		chunk = len > 65536 ? 65536 : len;
		rate_wait(c, chunk);
		if (c->cancel && *c->cancel) {
			snprintf(c->err, sizeof(c->err), "stopping");
			return -ECANCELED;
		}
		errno = 0;
		n = SSL_write(c->ssl, p, (int)chunk);
		if (n <= 0) {
			ship_tls_reason(c->ssl, n, c->err, sizeof(c->err));
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		c->bytes_out += (uint64_t)n;
	}
	return 0;
}

static int read_all(struct conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	int n, e;

	while (len) {
		errno = 0;
		n = SSL_read(c->ssl, p, len > 1 << 30 ? 1 << 30 : (int)len);
		if (n <= 0) {
			e = SSL_get_error(c->ssl, n);
			ship_tls_reason(c->ssl, n, c->err, sizeof(c->err));
			if (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SYSCALL && errno == 0))
				return -ECONNRESET;
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
			    (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
				return -ETIMEDOUT;
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
		c->bytes_in += (uint64_t)n;
	}
	return 0;
}

int ship_send2(struct conn *c, int type, const void *p1, size_t len1, const void *p2, size_t len2)
{
	uint8_t h[FRAME_HEADER_BYTES];
	uint32_t crc;
	int ret;

	if (len1 + len2 > FRAME_MAX_PAYLOAD) {
		snprintf(c->err, sizeof(c->err), "frame of %zu bytes over the limit", len1 + len2);
		return -EMSGSIZE;
	}
	ship_put_u32(h, FRAME_MAGIC);
	h[4] = (uint8_t)type;
	h[5] = 0;
	h[6] = h[7] = 0;
	ship_put_u32(h + 8, (uint32_t)(len1 + len2));
	crc = cdp_crc32c(0, h, 12);
	if (len1)
		crc = cdp_crc32c(crc, p1, len1);
	if (len2)
		crc = cdp_crc32c(crc, p2, len2);
	ship_put_u32(h + 12, crc);
	ret = write_all(c, h, sizeof(h));
	if (ret == 0 && len1)
		ret = write_all(c, p1, len1);
	if (ret == 0 && len2)
		ret = write_all(c, p2, len2);
	return ret;
}

int ship_send(struct conn *c, int type, const void *p, size_t len)
{
	return ship_send2(c, type, p, len, NULL, 0);
}

int ship_recv(struct conn *c, struct frame *f)
{
	uint8_t h[FRAME_HEADER_BYTES];
	uint32_t len, crc;
	int ret;

	ret = read_all(c, h, sizeof(h));
	if (ret < 0)
		return ret;
	len = ship_get_u32(h + 8);
	if (ship_get_u32(h) != FRAME_MAGIC || h[5] || h[6] || h[7]) {
		snprintf(c->err, sizeof(c->err), "not a cdpfs shipping frame (bad magic or header)");
		return -EBADMSG;
	}
	if (len > FRAME_MAX_PAYLOAD) {
		snprintf(c->err, sizeof(c->err), "frame of %u bytes over the limit", len);
		return -EMSGSIZE;
	}
	if (len + 1 > f->cap) {
		uint8_t *p = realloc(f->p, len + 1);

		if (!p) {
			snprintf(c->err, sizeof(c->err), "out of memory for a frame of %u bytes", len);
			return -ENOMEM;
		}
		f->p = p;
		f->cap = len + 1;
	}
	ret = read_all(c, f->p, len);
	if (ret < 0)
		return ret;
	crc = cdp_crc32c(cdp_crc32c(0, h, 12), f->p, len);
	if (crc != ship_get_u32(h + 12)) {
		snprintf(c->err, sizeof(c->err), "frame '%c' fails its checksum", h[4]);
		return -EBADMSG;
	}
	f->type = h[4];
	f->len = len;
	return 0;
}

void ship_frame_release(struct frame *f)
{
	free(f->p);
	memset(f, 0, sizeof(*f));
}

int ship_send_refuse(struct conn *c, uint32_t code, const char *text)
{
	uint8_t p[4 + 1024];
	size_t n = strlen(text);

	if (n > 1024)
		n = 1024;
	ship_put_u32(p, code);
	memcpy(p + 4, text, n);
	return ship_send(c, FR_REFUSE, p, 4 + n);
}

void ship_refuse_text(const struct frame *f, uint32_t *code, char *text, size_t textlen)
{
	size_t n, i;

	*code = f->len >= 4 ? ship_get_u32(f->p) : REFUSE_PERMANENT;
	n = f->len >= 4 ? f->len - 4 : 0;
	if (n >= textlen)
		n = textlen - 1;
	for (i = 0; i < n; i++) {
		uint8_t ch = f->p[4 + i];

		text[i] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
	}
	text[n] = '\0';
}

void ship_conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void ship_conn_linger(struct conn *c, unsigned linger_ms, unsigned idle_ms)
{
	int64_t end = ship_mono_ns() + (int64_t)linger_ms * 1000000LL, now;
	char buf[16384];
	struct pollfd p;
	ssize_t n;
	int ms;

	if (c->ssl) {
		SSL_shutdown(c->ssl);   /* sends close_notify, does not wait */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0 && shutdown(c->fd, SHUT_WR) == 0) {
		p.fd = c->fd;
		p.events = POLLIN;
		while ((now = ship_mono_ns()) < end) {
			ms = (int)((end - now) / 1000000LL);
			if (ms > (int)idle_ms)
				ms = (int)idle_ms;
			if (poll(&p, 1, ms) <= 0)
				break;
			n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
		}
	}
}
