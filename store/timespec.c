/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * timespec.c - the TIME of a mount specification: parsing into nanoseconds
 * since the epoch, formatting for people, and the clock.  Accepted forms are
 * listed in store.h.  Calendar times without a zone are local (mktime with
 * tm_isdst = -1, so the zone's rules of that date apply); "Z" and numeric
 * offsets are explicit.  Every field is range-checked: a date that does not
 * exist is an error, not silently normalised.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define NS_PER_S 1000000000LL

int64_t cdp_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* ".ddddddddd": 1 to 9 digits, scaled to nanoseconds. */
static int fraction(const char **p, long *ns)
{
	const char *q = *p;
	long v = 0;
	int n = 0;

	if (*q != '.')
		return -1;
	q++;
	while (isdigit((unsigned char)*q)) {
		if (++n > 9)
			return -1;
		v = v * 10 + (*q - '0');
		q++;
	}
	if (n == 0)
		return -1;
	for (; n < 9; n++)
		v *= 10;
	*ns = v;
	*p = q;
	return 0;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* The last whole second whose nanoseconds fit an int64 (in 2262). */
#define MAX_SECONDS (INT64_MAX / NS_PER_S - 1)

static int parse_relative(const char *t, int64_t now_ns, int64_t *ts_ns)
{
	char *end;
	unsigned long long n;
	int64_t unit;

	if (!isdigit((unsigned char)t[1]))
		return -CDP_EBADTIME;
	n = strtoull(t + 1, &end, 10);
	if (end[0] == 0 || end[1] != 0)
		return -CDP_EBADTIME;
	switch (end[0]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -CDP_EBADTIME;
	}
	if (n > (unsigned long long)(INT64_MAX / NS_PER_S / unit))
		return -CDP_EBADTIME;
	if ((int64_t)n * unit * NS_PER_S > now_ns)
		return -CDP_EBADTIME;   /* before 1970, as no calendar TIME is */
	*ts_ns = now_ns - (int64_t)n * unit * NS_PER_S;
	return 0;
}

static int parse_epoch(const char *t, int64_t *ts_ns)
{
	const char *p = t + 1;
	long long sec = 0;
	long ns = 0;
	int n = 0;

	while (isdigit((unsigned char)*p)) {
		if (++n > 11)
			return -CDP_EBADTIME;
		sec = sec * 10 + (*p - '0');
		p++;
	}
	if (n == 0)
		return -CDP_EBADTIME;
	if (*p == '.' && fraction(&p, &ns) < 0)
		return -CDP_EBADTIME;
	if (*p || sec > MAX_SECONDS)
		return -CDP_EBADTIME;
	*ts_ns = sec * NS_PER_S + ns;
	return 0;
}

/* Z, +HH, +HH:MM, +HHMM (and -); sets *off_s, returns 0 or -1. */
static int parse_zone(const char **pp, int *has_zone, long *off_s)
{
	const char *p = *pp;
	int sign, hh, mm = 0;

	*has_zone = 0;
	if (*p == 0)
		return 0;
	if (*p == 'Z' || *p == 'z') {
		*has_zone = 1;
		*off_s = 0;
		*pp = p + 1;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p == '-' ? -1 : 1;
	p++;
	if (digits(&p, 2, &hh) < 0)
		return -1;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &mm) < 0)
			return -1;
	} else if (isdigit((unsigned char)*p)) {
		if (digits(&p, 2, &mm) < 0)
			return -1;
	}
	if (hh > 14 || mm > 59 || (hh == 14 && mm))
		return -1;
	*has_zone = 1;
	*off_s = sign * (hh * 3600L + mm * 60L);
	*pp = p;
	return 0;
}

static int parse_calendar(const char *t, int64_t *ts_ns)
{
	const char *p = t;
	int y, mo, d, h = 0, mi = 0, s = 0, has_zone;
	long ns = 0, off_s = 0;
	struct tm tm;
	time_t sec;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0)
		return -CDP_EBADTIME;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0)
			return -CDP_EBADTIME;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &s) < 0)
				return -CDP_EBADTIME;
			if (*p == '.' && fraction(&p, &ns) < 0)
				return -CDP_EBADTIME;
		}
	}
	if (parse_zone(&p, &has_zone, &off_s) < 0 || *p)
		return -CDP_EBADTIME;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || s > 59)
		return -CDP_EBADTIME;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if (has_zone) {
		sec = timegm(&tm);
		if (sec == (time_t)-1)
			return -CDP_EBADTIME;
		sec -= off_s;
	} else {
		tm.tm_isdst = -1;
		sec = mktime(&tm);
		if (sec == (time_t)-1)
			return -CDP_EBADTIME;
	}
	if (sec < 0 || sec > MAX_SECONDS)
		return -CDP_EBADTIME;
	*ts_ns = (int64_t)sec * NS_PER_S + ns;
	return 0;
}

int cdp_time_parse(const char *text, int64_t now_ns, int64_t *ts_ns)
{
	if (!text || !ts_ns)
		return -CDP_EBADTIME;
	if (strcmp(text, "latest") == 0) {
		*ts_ns = CDP_TS_LATEST;
		return 0;
	}
	if (text[0] == '-')
		return parse_relative(text, now_ns, ts_ns);
	if (text[0] == '@')
		return parse_epoch(text, ts_ns);
	return parse_calendar(text, ts_ns);
}

void cdp_time_format(int64_t ts_ns, char *buf, size_t size)
{
	time_t sec;
	long ns, off;
	struct tm tm;
	char date[64];

	if (size == 0)
		return;
	if (ts_ns == CDP_TS_LATEST) {
		snprintf(buf, size, "latest");
		return;
	}
	sec = (time_t)(ts_ns / NS_PER_S);
	ns = (long)(ts_ns % NS_PER_S);
	if (ns < 0) {
		ns += NS_PER_S;
		sec--;
	}
	if (!localtime_r(&sec, &tm)) {
		snprintf(buf, size, "@%lld.%09ld", (long long)sec, ns);
		return;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff;
	snprintf(buf, size, "%s.%09ld%c%02ld:%02ld", date, ns, off < 0 ? '-' : '+',
		 labs(off) / 3600, labs(off) % 3600 / 60);
}
