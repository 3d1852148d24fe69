/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.c - helpers shared by the verbs of `cdpfs`: dying with one line,
 * usage errors, the store path rule (--store, $CDPFS_STORE, default) and
 * opening the store with one wording for its failures, sizes
 * and durations, JSON strings, instants and times for humans, paths, and
 * "is this a mount point".
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "retain.h"
#include "store.h"

/* "cdpfs: " and the message on stderr, after what stdout holds. */
__attribute__((format(printf, 1, 0)))
static void say(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("cdpfs: ", stderr);
	vfprintf(stderr, fmt, ap);
}

void (*cli_die_hook)(const char *msg);

void die(const char *fmt, ...)
{
	va_list ap;

	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cli_die_hook)
		cli_die_hook(msg);
	exit(1);
}

void die_line(const char *line)
{
	if (!line || !*line)
		die("failed (no reason given)");
	if (strncmp(line, "cdpfs: ", 7) == 0)
		line += 7;
	die("%s", line);
}

void cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'cdpfs %s --help')\n", cmd->name);
	exit(2);
}

const char *cli_store_path(struct cli_ctx *ctx)
{
	const char *s = ctx->store_opt;
	char cwd[PATH_MAX], *out;

	if (ctx->store)
		return ctx->store;
	if (!s || !*s)
		s = getenv("CDPFS_STORE");
	if (!s || !*s)
		s = CDP_DEFAULT_STORE;
	if (s[0] == '/') {
		out = strdup(s);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			die("cannot get the current directory: %s", strerror(errno));
		out = cli_strfmt("%s/%s", strcmp(cwd, "/") ? cwd : "", s);
	}
	if (!out)
		die("out of memory");
	ctx->store = out;
	return out;
}

int cli_store_open(const char *store, struct cdp_store **s, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	*s = NULL;
	ret = cdp_store_open(store, CDP_STORE_READ, NULL, s);
	if (ret == 0)
		return 0;
	if ((ret == -CDP_ENOSTORE || ret == -ENOTDIR) && stat(store, &st) == 0 &&
	    !S_ISDIR(st.st_mode))
		cdp_errf(err, errlen, "'%s' is not a store (not a directory); name the store "
			 "with --store or CDPFS_STORE", store);
	else if (ret == -CDP_ENOSTORE || ret == -ENOENT)
		cdp_errf(err, errlen, "no store at '%s' (nothing captured yet; name the store "
			 "with --store or CDPFS_STORE)", store);
	else if (ret == -CDP_EVERSION)
		cdp_errf(err, errlen, "store '%s' has another format version (this cdpfs reads "
			 "formats 1 and %d, writes %d)", store, CDP_FORMAT_VERSION,
			 CDP_FORMAT_VERSION);
	else
		cdp_errf(err, errlen, "cannot open store '%s': %s%s%s", store, cdp_strerror(ret),
			 *cdp_store_last_error() ? ": " : "", cdp_store_last_error());
	return ret;
}

struct cdp_store *cli_open_store(struct cli_ctx *ctx)
{
	const char *store = cli_store_path(ctx);
	struct cdp_store *s;
	char err[PATH_MAX + 256];

	if (cli_store_open(store, &s, err, sizeof(err)) < 0)
		die_line(err);
	return s;
}

int cli_parse_size(const char *text, size_t *bytes)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!text || !*text || *text == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'B' || *end == 'b') && end[1] == '\0')
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (SIZE_MAX >> shift))
		return -EINVAL;
	*bytes = (size_t)(v << shift);
	return 0;
}

size_t cli_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n, k;
	unsigned lo = 0x80, hi = 0xbf;   /* bounds of the second byte */

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;        /* no overlong forms */
	else if (c == 0xed)
		hi = 0x9f;        /* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;        /* nothing past U+10FFFF */
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (k = 2; k < n; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

void cli_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = s ? strlen(s) : 0, n;

	fputc('"', out);
	while (left) {
		unsigned char c = *p;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		if (c < 0x80) {
			if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
				fputc(c, out);
			p++;
			left--;
			continue;
		}
		n = cli_utf8_len(p, left);
		if (n == 0) {
			fputs("\\ufffd", out);   /* not UTF-8: the replacement character */
			p++;
			left--;
			continue;
		}
		if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			fprintf(out, "\\u%04x", 0x2000 + p[2] - 0x80);   /* U+2028, U+2029 */
		else
			fwrite(p, 1, n, out);
		p += n;
		left -= n;
	}
	fputc('"', out);
}

void cli_json_string_or_null(FILE *out, const char *s)
{
	if (s && *s)
		cli_json_string(out, s);
	else
		fputs("null", out);
}

void cli_json_time(FILE *out, const char *key, int64_t ts_ns, const char *sep)
{
	char buf[64];

	fprintf(out, "\"%s\": ", key);
	if (ts_ns > 0) {
		cdp_time_format(ts_ns, buf, sizeof(buf));
		cli_json_string(out, buf);
	} else {
		fputs("null", out);
	}
	fprintf(out, "%s\"%s_ns\": %lld", sep, key, (long long)ts_ns);
}

void cli_time_local(int64_t ts_ns, char *buf, size_t size)
{
	time_t t = (time_t)(ts_ns / 1000000000);
	struct tm tm;

	if (ts_ns <= 0 || !localtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

const char *cli_join_args(struct cli_ctx *ctx, const char *sep)
{
	static char *buf;
	size_t len = 1, used = 0;
	int i;

	for (i = 0; i < ctx->nargs; i++)
		len += strlen(ctx->args[i]) + strlen(sep);
	free(buf);
	buf = malloc(len);
	if (!buf)
		die("out of memory");
	buf[0] = '\0';
	for (i = 0; i < ctx->nargs; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? sep : "", ctx->args[i]);
	return buf;
}

void cli_time_ms(int64_t ts_ns, char *buf, size_t size)
{
	char full[64], *dot;

	if (ts_ns <= 0) {
		snprintf(buf, size, "-");
		return;
	}
	cdp_time_format(ts_ns, full, sizeof(full));
	/* "...:07.123456789+01:00" -> "...:07.123+01:00" */
	dot = strchr(full, '.');
	if (dot && strlen(dot) > 10)
		memmove(dot + 4, dot + 10, strlen(dot + 10) + 1);
	snprintf(buf, size, "%s", full);
}

int cli_parse_duration(const char *text, int64_t *ns)
{
	/* "0" (and "0s", "0m" ...) is "no limit"; the rest is retain.h's */
	if (text && text[0] == '0' && (!text[1] || (strchr("smhd", text[1]) && !text[2]))) {
		*ns = 0;
		return 0;
	}
	return cdp_duration_parse(text, ns);
}

void cli_format_seconds(int64_t ns, char *buf, size_t size)
{
	snprintf(buf, size, "%.1f s", (double)ns / 1e9);
}

void cli_format_at(int64_t ts_ns, char *buf, size_t size)
{
	snprintf(buf, size, "@%lld.%09lld", (long long)(ts_ns / 1000000000),
		 (long long)(ts_ns % 1000000000));
}

int64_t cli_resolve_time(const char *text, int64_t now_ns)
{
	int64_t ts;

	if (cdp_time_parse(text, now_ns, &ts) < 0)
		die("bad time '%s' (expected e.g. 2025-12-02T12:33:07, '2025-12-02 "
		    "12:33:07.250', +08:00 or Z, @1764649987, latest, -10m, -2h, -1d)", text);
	return ts == CDP_TS_LATEST ? now_ns : ts;
}

char *cli_strfmt(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	return out;
}

char *cli_path_join(const char *a, const char *b)
{
	return cli_strfmt("%s/%s", a, b);
}

size_t cli_opt_escape(const char *s, char *out, size_t size)
{
	size_t w = 0;

	if (!size)
		return 0;
	for (; *s && w + 2 < size; s++) {
		if (*s == ',' || *s == '\\')
			out[w++] = '\\';
		out[w++] = *s;
	}
	out[w] = '\0';
	return w;
}

int cli_proc_stat(pid_t pid, char *state, pid_t *pgrp)
{
	char path[64], buf[512], *paren, letter;
	int ppid, group, ret = -EINVAL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* "PID (COMM) STATE PPID PGRP ...": COMM may hold ')' and spaces */
	if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) &&
	    sscanf(paren + 1, " %c %d %d", &letter, &ppid, &group) == 3) {
		*state = letter;
		if (pgrp)
			*pgrp = (pid_t)group;
		ret = 0;
	}
	fclose(f);
	return ret;
}

int cli_is_mount_point(const char *path)
{
	struct stat st, up;
	char parent[PATH_MAX + 4];

	if (stat(path, &st) < 0)
		return errno == ENOTCONN ? 1 : -errno;
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(parent, &up) < 0)
		return -errno;
	return up.st_dev != st.st_dev || up.st_ino == st.st_ino;
}
