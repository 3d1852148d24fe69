/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.c - the capture daemon's metrics endpoint (`cdpfs capture
 * --metrics ADDR:PORT`): a tiny fixed HTTP/1.0 responder on one TCP
 * socket, one connection at a time, answering `GET /metrics` with what
 * `cdpfs status --prometheus` prints for the store (the same program: the
 * daemon runs its own binary, /proc/self/exe, for each scrape, so the two
 * can never disagree), `GET /` with a line naming /metrics, anything else
 * with 404 and a method other than GET or HEAD with 405.  A client gets 5 s
 * to send its request head (at most 8 KiB); the answer is
 * `text/plain; version=0.0.4` and the connection is closed after it.
 * A scrape costs a process start and a read-only open of the store, so it
 * suits Prometheus' usual intervals (15 s and more), not a busy loop.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "capture/capture_int.h"

#define HEAD_MAX 8192
#define HEAD_TIMEOUT_MS 5000
#define BODY_MAX (4u << 20)

struct cap_metrics {
	int fd;
	int stop[2];
	pthread_t thread;
	char *store;
};

int cap_metrics_parse(const char *spec, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	size_t hl;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - spec - 1);
		if (hl >= hsize)
			return -EINVAL;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - spec);
		if (hl >= hsize)
			return -EINVAL;
		memcpy(host, spec, hl);
		host[hl] = '\0';
	}
	if (!colon[1] || strlen(colon + 1) >= psize || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1) || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return -EINVAL;
	snprintf(port, psize, "%s", colon + 1);
	return 0;
}

/* Runs `cdpfs status --store S --prometheus`; its stdout (malloc'd) in
 * *out.  0 or -errno. */
static int run_status(const char *store, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int p[2], st;
	pid_t pid;

	pid = cdp_fork_pipe(p);
	if (pid < 0)
		return pid;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close_range(3, ~0U, 0);
		execl("/proc/self/exe", "cdpfs", "status", "--store", store, "--prometheus",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t got;

		if (n + 4096 > cap) {
			char *nb;

			if (cap >= BODY_MAX)
				break;
			nb = cdp_array_reserve(buf, &cap, n + 4096, 1, 16384);
			if (!nb)
				break;
			buf = nb;
		}
		got = read(p[0], buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* exit 1 is "not healthy", with the metrics all the same */
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 1 || !buf) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void reply(int fd, const char *status, const char *body, size_t len, int head_only)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: text/plain; "
			 "version=0.0.4; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", status, len);

	if (cap_write_all(fd, head, (size_t)n) == 0 && !head_only && len)
		cap_write_all(fd, body, len);
}

/* Reads the request head (up to the blank line) and answers it. */
static void serve_one(struct cap_metrics *m, int fd)
{
	char req[HEAD_MAX + 1], method[16], path[256];
	size_t n = 0;
	int head_only;

	while (n < HEAD_MAX) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&pfd, 1, HEAD_TIMEOUT_MS) <= 0)
			return;
		got = read(fd, req + n, HEAD_MAX - n);
		if (got <= 0)
			return;
		n += (size_t)got;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[n] = '\0';
	if (sscanf(req, "%15s %255s", method, path) != 2) {
		reply(fd, "400 Bad Request", "bad request\n", 12, 0);
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only) {
		reply(fd, "405 Method Not Allowed", "GET /metrics\n", 13, 0);
	} else if (strcmp(path, "/metrics") == 0 || strncmp(path, "/metrics?", 9) == 0) {
		char *body = NULL;
		size_t len = 0;

		if (run_status(m->store, &body, &len) == 0)
			reply(fd, "200 OK", body, len, head_only);
		else
			reply(fd, "500 Internal Server Error", "cdpfs status failed\n", 20, head_only);
		free(body);
	} else if (strcmp(path, "/") == 0) {
		static const char hello[] = "cdpfs capture daemon: metrics at /metrics\n";

		reply(fd, "200 OK", hello, sizeof(hello) - 1, head_only);
	} else {
		reply(fd, "404 Not Found", "not found; try /metrics\n", 24, head_only);
	}
}

static void *metrics_main(void *arg)
{
	struct cap_metrics *m = arg;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = m->fd, .events = POLLIN },
					 { .fd = m->stop[0], .events = POLLIN } };
		int c;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(m, c);
		close(c);
	}
	return NULL;
}

int cap_metrics_start(const char *spec, const char *store, struct cap_metrics **out, char *err,
		      size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct cap_metrics *m;
	char host[256], port[16];
	int rc, one = 1, fd = -1;

	*out = NULL;
	if (cap_metrics_parse(spec, host, sizeof(host), port, sizeof(port)) < 0) {
		cdp_errf(err, errlen, "cdpfs: bad --metrics '%s' (expected ADDR:PORT, e.g. "
			 "127.0.0.1:9469, [::1]:9469 or :9469 for every address)", spec);
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		cdp_errf(err, errlen, "cdpfs: --metrics '%s': %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 8) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		cdp_errf(err, errlen, "cdpfs: cannot serve metrics on '%s': %s", spec,
			 strerror(-rc));
		return rc;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->store = strdup(store)) || pipe2(m->stop, O_CLOEXEC) < 0) {
		if (m)
			free(m->store);
		free(m);
		close(fd);
		return -ENOMEM;
	}
	m->fd = fd;
	rc = pthread_create(&m->thread, NULL, metrics_main, m);
	if (rc) {
		close(fd);
		close(m->stop[0]);
		close(m->stop[1]);
		free(m->store);
		free(m);
		return -rc;
	}
	cdp_log(LOG_INFO, "metrics served on http://%s/metrics", spec);
	*out = m;
	return 0;
}

void cap_metrics_stop(struct cap_metrics *m)
{
	ssize_t n;

	if (!m)
		return;
	n = write(m->stop[1], "x", 1);
	(void)n;
	pthread_join(m->thread, NULL);
	close(m->fd);
	close(m->stop[0]);
	close(m->stop[1]);
	free(m->store);
	free(m);
}
