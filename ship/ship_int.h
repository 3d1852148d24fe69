/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ship_int.h - what the files of ship/ share: one TLS connection and its
 * frames (conn.c), the TLS contexts, address parsing.  Only the files of ship/
 * include it.
 */
#ifndef CDP_SHIP_INT_H
#define CDP_SHIP_INT_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "ship/ship.h"

/* Frame types (docs/format.md, "The shipping protocol"). */
enum {
	FR_HELLO = 'H', FR_WELCOME = 'W', FR_REFUSE = 'E', FR_OFFER = 'O', FR_NEED = 'N',
	FR_CHUNK = 'C', FR_LOST = 'X', FR_GROUP = 'G', FR_THROUGH = 'T', FR_COMMIT = 'K',
	FR_ACK = 'A',
};
/* REFUSE codes: permanent (do not retry soon), temporary (retry). */
enum { REFUSE_PERMANENT = 1, REFUSE_TEMPORARY = 2 };

#define FRAME_MAGIC 0x43445057u   /* "CDPW" */
#define FRAME_HEADER_BYTES 16
#define FRAME_MAX_PAYLOAD ((64u << 20) + 65536u)

struct frame {
	int type;
	uint8_t *p;          /* payload (heap, reused by the next read) */
	uint32_t len;
	size_t cap;
};

struct conn {
	int fd;
	SSL *ssl;
	char peer[300];           /* address of the other end, for messages */
	uint64_t rate_bytes;     /* per second; 0: no limit */
	int64_t rate_start_ns;   /* monotonic: token bucket start */
	uint64_t rate_sent;      /* bytes since rate_start_ns */
	uint64_t bytes_out, bytes_in;
	volatile int *cancel;    /* non-zero: stop waiting for the rate */
	char err[512];           /* the last error, one line */
};

/* TLS 1.3 only, mutual authentication: cert and key of this end, CA that
 * signs the other's.  NULL with one line in err. */
SSL_CTX *ship_tls_ctx(int server, const char *cert, const char *key, const char *ca, char *err,
		      size_t errlen);
/* The reason of the last TLS failure on c: the verification result of
 * the other's certificate when that failed, else OpenSSL's error queue. */
void ship_tls_reason(SSL *ssl, int ret, char *out, size_t outlen);

/* Sets read and write timeouts on fd. */
void ship_set_timeouts(int fd, unsigned timeout_ms);
/* "HOST:PORT", "[V6]:PORT", ":PORT", "HOST" (default port): host and port
 * into the buffers.  -EINVAL. */
int ship_parse_addr(const char *text, char *host, size_t hostlen, char *port, size_t portlen);

/* Frames.  send: 0 or -errno (c->err says why).  recv: 0 and *f, or
 * -errno; -EBADMSG for a bad magic, version fields or checksum, -EMSGSIZE
 * for a frame over the limit, -ECONNRESET when the other end closed. */
int ship_send(struct conn *c, int type, const void *p, size_t len);
int ship_send2(struct conn *c, int type, const void *p1, size_t len1, const void *p2, size_t len2);
int ship_recv(struct conn *c, struct frame *f);
void ship_frame_release(struct frame *f);
/* A REFUSE frame with code and text; logs nothing. */
int ship_send_refuse(struct conn *c, uint32_t code, const char *text);
/* Decodes a REFUSE payload into text (one line). */
void ship_refuse_text(const struct frame *f, uint32_t *code, char *text, size_t textlen);
void ship_conn_close(struct conn *c);
/* Ends c after this end refused the peer, so that the peer reads the
 * REFUSE: a TLS close_notify, a TCP half-close, then what the peer still
 * sends (the rest of its batch) is read and dropped until it closes, or
 * for up to linger_ms, or idle_ms without a byte.  Closing a socket with
 * unread bytes would send a reset instead, which can destroy the REFUSE
 * before the peer reads it.  The socket stays open: ship_conn_close()
 * closes it. */
void ship_conn_linger(struct conn *c, unsigned linger_ms, unsigned idle_ms);

static inline void ship_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void ship_put_u64(uint8_t *p, uint64_t v)
{
	ship_put_u32(p, (uint32_t)(v >> 32));
	ship_put_u32(p + 4, (uint32_t)v);
}

static inline uint32_t ship_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ship_get_u64(const uint8_t *p)
{
	return (uint64_t)ship_get_u32(p) << 32 | ship_get_u32(p + 4);
}

int64_t ship_mono_ns(void);

#endif /* CDP_SHIP_INT_H */
