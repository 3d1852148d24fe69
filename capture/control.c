/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control.c - both sides of the capture daemon's control protocol.  The
 * daemon listens on STORE/capture.sock (unix stream), one request line per
 * connection, one reply line:
 *
 *   add HOST DIR      -> "ok" once DIR is protected, or "err MESSAGE"
 *   stop DIR          -> "ok PID LAST" (LAST 1: the daemon then exits)
 *   list              -> "ok PID DIR DIR ..."
 *   status            -> "ok PID DEGRADED SINCE_NS LAG_P50_US LAG_P99_US OPS
 *                         BYTES_IN QUEUE_BYTES" then, per directory served,
 *                         "READY DIR" (READY 1: captured, 0: taking its
 *                         baseline or stopping); lags over the last minute
 *
 * Fields are separated by one space; '%', space, tab, newline and CR in a
 * field are written as %25, %20, %09, %0A, %0D (cap_field_escape()).  The
 * start-up readiness pipe (start.c) carries the same kind of line: "ok" or
 * "err MESSAGE".
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "capture/capture.h"
#include "capture/capture_int.h"

void cap_field_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		if (*in == '%' || *in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
			o += (size_t)snprintf(out + o, size - o, "%%%02X", (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

void cap_field_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && s[1] && s[2]) {
			char hex[3] = { s[1], s[2], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int cap_ctl_sock_path(const char *store, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", store, CAP_SOCK_NAME) >=
	    sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int cap_ctl_connect(const char *store)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = cap_ctl_sock_path(store, &sa);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int cap_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without the newline); returns its length or -errno. */
ssize_t cap_read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t got = read(fd, buf + n, 1);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* One request, one reply line (after the interim lines, see
 * cap_ctl_ask_interim). */
static int ctl_request(const char *store, const char *line, char *reply, size_t size,
		       cap_ctl_interim_fn *interim, void *arg)
{
	ssize_t n;
	int fd = cap_ctl_connect(store), rc;

	if (fd < 0)
		return fd;
	rc = cap_write_all(fd, line, strlen(line));
	while (rc == 0) {
		n = cap_read_line(fd, reply, size);
		rc = n < 0 ? (int)n : 0;
		if (n == 0)
			rc = -ECONNRESET;
		if (rc < 0 || !interim || strncmp(reply, "progress ", 9) != 0)
			break;
		interim(arg, reply + 9);
	}
	close(fd);
	return rc;
}

int cap_ctl_request(const char *store, const char *line, char *reply, size_t size)
{
	return ctl_request(store, line, reply, size, NULL, NULL);
}

int cap_ctl_ask(const char *store_arg, const char *line, char *reply, size_t size, char *err,
		size_t errlen)
{
	return cap_ctl_ask_interim(store_arg, line, reply, size, err, errlen, NULL, NULL);
}

int cap_ctl_ask_interim(const char *store_arg, const char *line, char *reply, size_t size,
			char *err, size_t errlen, cap_ctl_interim_fn *interim, void *arg)
{
	char store[PATH_MAX], real[PATH_MAX], *end;
	long code;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	snprintf(store, sizeof(store), "%s", store_arg ? store_arg : CDP_DEFAULT_STORE);
	if (realpath(store, real))
		snprintf(store, sizeof(store), "%s", real);
	fd = cap_ctl_connect(store);
	if (fd < 0)
		return 1;
	close(fd);
	rc = ctl_request(store, line, reply, size, interim, arg);
	if (rc < 0) {
		cdp_errf(err, errlen, "cdpfs: lost the capture daemon of store '%s' (%s); see "
			 "%s/%s", store, strerror(-rc), store, CAP_LOG_NAME);
		return rc;
	}
	if (strncmp(reply, "ok", 2) == 0 && (reply[2] == '\0' || reply[2] == ' '))
		return 0;
	if (strncmp(reply, "err ", 4) != 0) {
		cdp_errf(err, errlen, "cdpfs: the capture daemon of store '%s' gave a reply this "
			 "cdpfs does not understand", store);
		return -EPROTO;
	}
	/* "err -N MESSAGE" carries the error code of the call */
	code = strtol(reply + 4, &end, 10);
	if (end != reply + 4 && *end == ' ' && code < 0) {
		cdp_errf(err, errlen, "%s", end + 1);
		return (int)code;
	}
	cdp_errf(err, errlen, "%s", reply + 4);
	return -EIO;
}

void cap_ctl_reply(int fd, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	cap_write_all(fd, line, (size_t)n);
}

int cdp_capture_status(const char *store, struct cdp_capture_status *st)
{
	char reply[16384], *save = NULL, *tok, *path;
	struct cdp_capture_dir *nd;
	long long since;
	int rc, n = 0, ready;

	memset(st, 0, sizeof(*st));
	rc = cap_ctl_request(store, "status\n", reply, sizeof(reply));
	if (rc < 0)
		return rc;
	if (sscanf(reply, "ok %d %d %lld %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 "%n", &st->pid, &st->degraded, &since, &st->lag_p50_us,
		   &st->lag_p99_us, &st->ops, &st->bytes_in, &st->queue_bytes, &n) != 8)
		return -EPROTO;
	st->degraded_since_ts_ns = since;
	for (tok = strtok_r(reply + n, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		ready = atoi(tok);
		path = strtok_r(NULL, " ", &save);
		if (!path) {
			cdp_capture_status_free(st);
			return -EPROTO;
		}
		cap_field_unescape(path);
		nd = realloc(st->dirs, (st->ndirs + 1) * sizeof(*nd));
		if (nd)
			st->dirs = nd;
		if (!nd || !(path = strdup(path))) {
			cdp_capture_status_free(st);
			return -ENOMEM;
		}
		st->dirs[st->ndirs].path = path;
		st->dirs[st->ndirs++].ready = ready;
	}
	return 0;
}

void cdp_capture_status_free(struct cdp_capture_status *st)
{
	size_t i;

	for (i = 0; i < st->ndirs; i++)
		free(st->dirs[i].path);
	free(st->dirs);
	st->dirs = NULL;
	st->ndirs = 0;
}
