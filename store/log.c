/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.c - cdp_log(): one logging function with syslog levels, writing
 * "progname: message" to stderr in the foreground or to syslog(3) for a
 * daemon, and cdp_strerror() for errno and CDP_E* codes.  The level is
 * checked before anything is formatted, so disabled debug lines cost one
 * comparison.  cdp_log_init() is meant to be called once, early.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

static const char *log_progname = "cdpfs";
static int log_use_syslog;
static int log_max_level = LOG_INFO;
static int log_timestamps;

void cdp_log_timestamps(int on)
{
	log_timestamps = on;
}

void cdp_log_init(const char *progname, int use_syslog, int max_level)
{
	if (progname)
		log_progname = progname;
	log_max_level = max_level;
	if (use_syslog && !log_use_syslog)
		openlog(log_progname, LOG_PID, LOG_DAEMON);
	log_use_syslog = use_syslog;
}

int cdp_log_enabled(int level)
{
	return level <= log_max_level;
}

void cdp_log(int level, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (!cdp_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_use_syslog) {
		syslog(level, "%s", line);
	} else if (log_timestamps) {
		struct timespec now;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ [%ld] %s: %s\n", when, now.tv_nsec / 1000000L,
			(long)getpid(), log_progname, line);
	} else {
		fprintf(stderr, "%s: %s\n", log_progname, line);
	}
}

const char *cdp_strerror(int err)
{
	const char *s;

	if (err > 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case -CDP_ECORRUPT: return "store data corrupt (checksum or structure mismatch)";
	case -CDP_ENOHOST: return "no such host in the store";
	case -CDP_EBEFORE: return "instant before the host's first complete baseline";
	case -CDP_EFUTURE: return "instant in the future";
	case -CDP_EVERSION: return "store written by another format version";
	case -CDP_ELOCKED: return "store is open for writing by another process";
	case -CDP_ENOSTORE: return "no store at that path";
	case -CDP_EBADTIME: return "malformed time";
	case -CDP_ENOSPACE: return "store's disk is full; the journal has a gap";
	default: break;
	}
	if (err < 0 && err > -4096) {
		s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}

void cdp_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
