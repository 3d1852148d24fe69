/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * audit.c - the store's audit trail, STORE/audit/log (contract in audit.h).
 * No RocksDB: plain appends to a text file, so that it is readable with
 * less(1) and verifiable with sha256sum(1) alone.
 *
 * Format "cdpfs audit 1" (docs/format.md mirrors it).  Text, one record a
 * line.  The first line is exactly "cdpfs audit 1".  Every other line has
 * twelve fields separated by one TAB and ends with LF:
 *
 *   N  INSTANT  USER  UID  LOGIN_UID  MACHINE  PID  ACTION  ARGS  RESULT  PREV  HASH
 *
 *   N          record number, decimal, 1 for the first record, +1 each
 *   INSTANT    UTC, "2026-12-02T10:07:59.123456789Z"
 *   USER       name of the real uid (getpwuid), or "uid N"
 *   UID        real uid of the process that performed the action
 *   LOGIN_UID  /proc/self/loginuid (who logged in, through su and sudo), or -
 *   MACHINE    gethostname()
 *   PID        the recording process
 *   ACTION     what was done: capture-start, mount, drill, verify ...
 *   ARGS       its arguments, "key=value key=value", free text
 *   RESULT     "ok", "refused: ...", "error: ...", "pass", ...
 *   PREV       SHA-256 (hex) of the previous record's HASH field; for record
 *              1 the SHA-256 of the header line with its LF
 *   HASH       SHA-256 (hex) of this line's bytes from N up to and including
 *              the TAB before HASH
 *
 * Text fields escape '%', TAB, LF, CR, the other bytes below 0x20 and 0x7f
 * as %HH (upper-case hex), so a field never holds a separator.
 *
 * Appending: under flock(LOCK_EX) on the log, the writer reads the last
 * line, takes N and HASH from it, writes the new line with one pwrite(2)
 * at the end (every writer takes the lock, so the end does not move) and
 * fdatasync()s; a short or failed write is cut off again (ftruncate to the
 * old size).  A crash can still leave a torn last line
 * (no LF): the next writer ends it with a LF and first appends a record
 * CDP_AUDIT_TORN_ACTION "bytes=B sha256=S" (S of the torn bytes) chained to
 * the last whole record, so the torn line is never taken as a record and
 * never silently dropped.  A reader reports a torn line at the end as a
 * problem, one acknowledged later as a note.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "store_int.h"

#define AUDIT_FIELDS 12
/* The longest line a writer makes: two escaped fields of MAX_FIELD bytes
 * plus the short ones. */
#define AUDIT_MAX_LINE (2 * 3 * CDP_AUDIT_MAX_FIELD + 2048)

/* ------------------------------------------------------------ fields */

size_t cdp_audit_escape(const char *src, char *dst, size_t dstlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!dstlen)
		return 0;
	for (; src && *src; src++) {
		unsigned char c = (unsigned char)*src;
		int esc = c < 0x20 || c == 0x7f || c == '%';

		if (o + (esc ? 3 : 1) >= dstlen)
			break;
		if (esc) {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t cdp_audit_unescape(char *s)
{
	size_t i = 0, o = 0;

	while (s[i]) {
		if (s[i] == '%' && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			s[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 3;
		} else {
			s[o++] = s[i++];
		}
	}
	s[o] = '\0';
	return o;
}

static void sha256_hex(const void *buf, size_t len, char *hex)
{
	uint8_t h[CDP_HASH_BYTES];
	size_t i;

	cdp_hash(buf, len, h);
	for (i = 0; i < CDP_HASH_BYTES; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	hex[2 * CDP_HASH_BYTES] = '\0';
}

void cdp_audit_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

int cdp_audit_file_sha256(const char *path, char *hex)
{
	EVP_MD_CTX *ctx;
	unsigned char buf[65536], h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0, i;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, h, &hlen);
	for (i = 0; i < hlen; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	hex[2 * hlen] = '\0';
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return ret;
}

/* Splits line (no LF) into AUDIT_FIELDS fields at TABs, in place.
 * Returns 0, or -EINVAL when it has another number of fields. */
static int split_fields(char *line, char *f[AUDIT_FIELDS])
{
	int n = 0;
	char *p = line;

	for (;;) {
		if (n == AUDIT_FIELDS)
			return -EINVAL;
		f[n++] = p;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p++ = '\0';
	}
	return n == AUDIT_FIELDS ? 0 : -EINVAL;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static int parse_instant(const char *s, int64_t *ts_ns)
{
	struct tm tm;
	unsigned long ns = 0;
	char frac[16] = "";
	int used = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%9[0-9]Z%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac, &used) != 7 ||
	    s[used] != '\0' || strlen(frac) != 9)
		return -EINVAL;
	ns = strtoul(frac, NULL, 10);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	*ts_ns = (int64_t)t * 1000000000LL + (int64_t)ns;
	return 0;
}

static int parse_ll(const char *s, long long *v)
{
	char *end;

	if (strcmp(s, "-") == 0) {
		*v = -1;
		return 0;
	}
	errno = 0;
	*v = strtoll(s, &end, 10);
	return (errno || end == s || *end) ? -EINVAL : 0;
}

/*
 * Decodes line (no LF; modified) into r.  Returns 0, or -EINVAL when it is
 * not a record.  The hash check is the caller's (it needs the raw bytes).
 */
static int decode_record(char *line, struct cdp_audit_rec *r)
{
	char *f[AUDIT_FIELDS];
	long long n;

	memset(r, 0, sizeof(*r));
	if (split_fields(line, f) < 0 || parse_ll(f[0], &n) < 0 || n < 1 ||
	    parse_instant(f[1], &r->ts_ns) < 0 || parse_ll(f[3], &r->uid) < 0 ||
	    parse_ll(f[4], &r->login_uid) < 0 || parse_ll(f[6], &r->pid) < 0 ||
	    !is_hex64(f[10]) || !is_hex64(f[11]))
		return -EINVAL;
	r->n = (uint64_t)n;
	cdp_audit_unescape(f[2]);
	cdp_audit_unescape(f[5]);
	cdp_audit_unescape(f[7]);
	cdp_audit_unescape(f[8]);
	cdp_audit_unescape(f[9]);
	snprintf(r->user, sizeof(r->user), "%s", f[2]);
	snprintf(r->machine, sizeof(r->machine), "%s", f[5]);
	snprintf(r->action, sizeof(r->action), "%s", f[7]);
	snprintf(r->args, sizeof(r->args), "%s", f[8]);
	snprintf(r->result, sizeof(r->result), "%s", f[9]);
	memcpy(r->prev_hex, f[10], 65);
	memcpy(r->hash_hex, f[11], 65);
	return 0;
}

/* The hash a record line (no LF) must carry: of its bytes up to and
 * including the last TAB.  Returns -EINVAL when it has no TAB. */
static int line_hash(const char *line, size_t len, char *hex)
{
	const char *tab = memrchr(line, '\t', len);

	if (!tab)
		return -EINVAL;
	sha256_hex(line, (size_t)(tab - line) + 1, hex);
	return 0;
}

/* ------------------------------------------------------------ append */

struct audit_who {
	char user[64], machine[256];
	long long uid, login_uid, pid;
};

static void audit_who(struct audit_who *w)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	FILE *f;

	memset(w, 0, sizeof(*w));
	w->uid = (long long)getuid();
	w->pid = (long long)getpid();
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(w->user, sizeof(w->user), "%s", pw.pw_name);
	else
		snprintf(w->user, sizeof(w->user), "uid %lld", w->uid);
	w->login_uid = -1;
	f = fopen("/proc/self/loginuid", "re");
	if (f) {
		long long v;

		if (fscanf(f, "%lld", &v) == 1 && v >= 0 && v < 4294967295LL)
			w->login_uid = v;
		fclose(f);
	}
	if (gethostname(w->machine, sizeof(w->machine) - 1) < 0)
		snprintf(w->machine, sizeof(w->machine), "unknown");
}

static void format_instant(int64_t ts_ns, char *buf, size_t size)
{
	time_t t = (time_t)(ts_ns / 1000000000LL);
	struct tm tm;
	char date[32];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09lldZ", date, (long long)(ts_ns % 1000000000LL));
}

/* A free-text field, cut at CDP_AUDIT_MAX_FIELD bytes, escaped. */
static void text_field(const char *s, char *out, size_t size)
{
	char cut[CDP_AUDIT_MAX_FIELD + 4];
	size_t len = s ? strlen(s) : 0;

	if (len > CDP_AUDIT_MAX_FIELD) {
		memcpy(cut, s, CDP_AUDIT_MAX_FIELD - 3);
		memcpy(cut + CDP_AUDIT_MAX_FIELD - 3, "...", 4);
		s = cut;
	}
	cdp_audit_escape(s ? s : "", out, size);
}

/* Builds a record line with its LF into line (AUDIT_MAX_LINE bytes); its
 * HASH into hash_hex.  Returns the length. */
static size_t build_line(char *line, uint64_t n, const struct audit_who *w, const char *action,
			 const char *args, const char *result, const char *prev_hex, char *hash_hex)
{
	char when[48], user[3 * 64 + 1], machine[3 * 256 + 1], act[3 * 64 + 1];
	char *a = malloc(3 * CDP_AUDIT_MAX_FIELD + 1), *r = malloc(3 * CDP_AUDIT_MAX_FIELD + 1);
	char login[32];
	int len;

	if (!a || !r) {
		free(a);
		free(r);
		return 0;
	}
	format_instant(cdp_now_ns(), when, sizeof(when));
	cdp_audit_escape(w->user, user, sizeof(user));
	cdp_audit_escape(w->machine, machine, sizeof(machine));
	text_field(action, act, sizeof(act));
	text_field(args, a, 3 * CDP_AUDIT_MAX_FIELD + 1);
	text_field(result, r, 3 * CDP_AUDIT_MAX_FIELD + 1);
	if (w->login_uid >= 0)
		snprintf(login, sizeof(login), "%lld", w->login_uid);
	else
		snprintf(login, sizeof(login), "-");
	len = snprintf(line, AUDIT_MAX_LINE, "%llu\t%s\t%s\t%lld\t%s\t%s\t%lld\t%s\t%s\t%s\t%s\t",
		       (unsigned long long)n, when, user, w->uid, login, machine, w->pid, act, a, r,
		       prev_hex);
	free(a);
	free(r);
	if (len < 0 || len + 66 >= AUDIT_MAX_LINE)
		return 0;
	sha256_hex(line, (size_t)len, hash_hex);
	len += snprintf(line + len, AUDIT_MAX_LINE - (size_t)len, "%s\n", hash_hex);
	return (size_t)len;
}

/* Writes all of buf at size, the end of the file (the flock keeps it the
 * end), or cuts the file back to size.  Through cdp_sys, so that tests can
 * fail it. */
static int append_or_cut(int fd, const char *buf, size_t len, off_t size)
{
	ssize_t n = cdp_sys.pwrite(fd, buf, len, size);
	int ret = 0;

	if (n == (ssize_t)len)
		return 0;
	ret = n < 0 ? -errno : -ENOSPC;
	if (cdp_sys.ftruncate(fd, size) < 0)
		cdp_log(LOG_ERR, "audit: cannot cut a partial record off: %s", strerror(errno));
	return ret;
}

/*
 * Reads what the writer needs from the end of the log of size bytes: the
 * number and hash of the last whole record (0 and the header's hash when
 * none) and the torn bytes after the last LF (*torn, their SHA-256 in
 * torn_hex).  Returns 0, -CDP_ECORRUPT (bad header) or -errno.
 */
static int read_tail(int fd, off_t size, uint64_t *last_n, char *last_hex, size_t *torn,
		     char *torn_hex)
{
	size_t window = 2 * AUDIT_MAX_LINE + 16, hlen = sizeof(CDP_AUDIT_HEADER);
	char head[sizeof(CDP_AUDIT_HEADER) + 1], *buf, *end, *start, *nl;
	off_t from;
	ssize_t got;
	struct cdp_audit_rec *r;

	got = pread(fd, head, hlen, 0);
	if (got != (ssize_t)hlen || memcmp(head, CDP_AUDIT_HEADER "\n", hlen) != 0)
		return -CDP_ECORRUPT;
	from = size > (off_t)window ? size - (off_t)window : 0;
	buf = malloc(window + 1);
	r = malloc(sizeof(*r));
	if (!buf || !r) {
		free(buf);
		free(r);
		return -ENOMEM;
	}
	got = pread(fd, buf, (size_t)(size - from), from);
	if (got != size - from) {
		free(buf);
		free(r);
		return got < 0 ? -errno : -EIO;
	}
	buf[got] = '\0';
	end = buf + got;
	nl = memrchr(buf, '\n', (size_t)got);
	*torn = nl ? (size_t)(end - nl - 1) : (size_t)got;
	if (*torn)
		sha256_hex(nl ? nl + 1 : buf, *torn, torn_hex);
	*last_n = 0;
	sha256_hex(CDP_AUDIT_HEADER "\n", hlen, last_hex);
	if (nl && (from > 0 || nl > buf + hlen - 1)) {
		/* the last whole line: from the LF before it */
		*nl = '\0';
		start = memrchr(buf, '\n', (size_t)(nl - buf));
		start = start ? start + 1 : buf;
		if (from > 0 || start != buf) {
			char raw_hex[65];

			sha256_hex(start, strlen(start), raw_hex);
			if (decode_record(start, r) == 0) {
				*last_n = r->n;
				memcpy(last_hex, r->hash_hex, 65);
			} else {
				/* not a record (damaged): chain to its bytes;
				 * verify reports the line */
				memcpy(last_hex, raw_hex, 65);
			}
		}
	}
	free(buf);
	free(r);
	return 0;
}

int cdp_audit_record(const char *store_dir, const char *action, const char *args,
		     const char *result)
{
	char *dir = NULL, *path = NULL, *line = NULL;
	char last_hex[65], torn_hex[65], hash_hex[65];
	struct audit_who w;
	struct stat st;
	uint64_t last_n = 0;
	size_t torn = 0, len;
	int fd = -1, ret = 0;

	if (!store_dir || !*store_dir || !action || !*action)
		return -EINVAL;
	if (stat(store_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (asprintf(&dir, "%s/" CDP_AUDIT_DIR, store_dir) < 0)
		return -ENOMEM;
	if (asprintf(&path, "%s/" CDP_AUDIT_FILE, store_dir) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	line = malloc(AUDIT_MAX_LINE);
	if (!line) {
		ret = -ENOMEM;
		goto out;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (st.st_size == 0) {
		ret = append_or_cut(fd, CDP_AUDIT_HEADER "\n", sizeof(CDP_AUDIT_HEADER), 0);
		if (ret < 0)
			goto out;
		st.st_size = sizeof(CDP_AUDIT_HEADER);
	}
	ret = read_tail(fd, st.st_size, &last_n, last_hex, &torn, torn_hex);
	if (ret < 0)
		goto out;
	audit_who(&w);
	if (torn) {
		char targs[128];

		/* end the torn line, then say so in the chain */
		ret = append_or_cut(fd, "\n", 1, st.st_size);
		if (ret < 0)
			goto out;
		st.st_size++;
		snprintf(targs, sizeof(targs), "bytes=%zu sha256=%s", torn, torn_hex);
		len = build_line(line, last_n + 1, &w, CDP_AUDIT_TORN_ACTION, targs,
				 "a crash cut the record before this one; it is not a record",
				 last_hex, hash_hex);
		if (!len) {
			ret = -ENOMEM;
			goto out;
		}
		ret = append_or_cut(fd, line, len, st.st_size);
		if (ret < 0)
			goto out;
		st.st_size += (off_t)len;
		last_n++;
		memcpy(last_hex, hash_hex, 65);
	}
	len = build_line(line, last_n + 1, &w, action, args, result, last_hex, hash_hex);
	if (!len) {
		ret = -ENOMEM;
		goto out;
	}
	ret = append_or_cut(fd, line, len, st.st_size);
	if (ret == 0 && cdp_sys.fdatasync(fd) < 0)
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(path);
	free(dir);
	return ret;
}

/* ------------------------------------------------------------ read */

/*
 * Walks the log: for each line after the header, cb(arg, line_no, raw,
 * len, complete).  raw is the line without LF (modifiable); complete 0 for
 * a last line without LF.
 */
static int walk_lines(const char *store_dir,
		      int (*cb)(void *arg, uint64_t line_no, char *raw, size_t len, int complete),
		      void *arg)
{
	char *path = NULL, *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t line_no = 1;
	FILE *f;
	int ret = 0;

	if (asprintf(&path, "%s/" CDP_AUDIT_FILE, store_dir) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	free(path);
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	n = getline(&buf, &cap, f);
	if (n < 0) {
		/* an empty log (created, header not yet written) */
		ret = ferror(f) ? -EIO : 0;
		goto out;
	}
	if ((size_t)n != sizeof(CDP_AUDIT_HEADER) ||
	    memcmp(buf, CDP_AUDIT_HEADER "\n", (size_t)n) != 0) {
		ret = -CDP_ECORRUPT;
		goto out;
	}
	while ((n = getline(&buf, &cap, f)) > 0) {
		int complete = buf[n - 1] == '\n';

		line_no++;
		if (complete)
			buf[--n] = '\0';
		ret = cb(arg, line_no, buf, (size_t)n, complete);
		if (ret)
			break;
	}
	if (ret == 0 && ferror(f))
		ret = -EIO;
	if (ret > 0)
		ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

struct read_ctx {
	int (*fn)(void *arg, const struct cdp_audit_rec *r);
	void *arg;
	struct cdp_audit_rec rec;
};

static int read_cb(void *arg, uint64_t line_no, char *raw, size_t len, int complete)
{
	struct read_ctx *c = arg;

	if (!complete || decode_record(raw, &c->rec) < 0)
		return 0;
	c->rec.line = line_no;
	return c->fn(c->arg, &c->rec) ? 1 : 0;
}

int cdp_audit_read(const char *store_dir,
		   int (*fn)(void *arg, const struct cdp_audit_rec *r), void *arg)
{
	struct read_ctx *c = malloc(sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->arg = arg;
	ret = walk_lines(store_dir, read_cb, c);
	free(c);
	return ret;
}

/* ------------------------------------------------------------ verify */

struct verify_ctx {
	void (*problem)(void *arg, uint64_t line, uint64_t n, const char *what);
	void (*note)(void *arg, uint64_t line, const char *what);
	void *arg;
	int problems;
	uint64_t records, expect_n;
	char prev_hex[65];
	/* a line that was not a record, waiting for the next record to
	 * acknowledge it as torn */
	uint64_t bad_line;
	char bad_hex[65];
	size_t bad_len;
	int bad_is_torn_tail;
	struct cdp_audit_rec rec;
};

static void problem(struct verify_ctx *v, uint64_t line, uint64_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct verify_ctx *v, uint64_t line, uint64_t n, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->problem)
		v->problem(v->arg, line, n, what);
}

/* The pending bad line, now that the next record (r, or none) is known. */
static void settle_bad_line(struct verify_ctx *v, const struct cdp_audit_rec *r)
{
	char want[128], what[256];

	if (!v->bad_line)
		return;
	snprintf(want, sizeof(want), "bytes=%zu sha256=%s", v->bad_len, v->bad_hex);
	if (r && strcmp(r->action, CDP_AUDIT_TORN_ACTION) == 0 && strcmp(r->args, want) == 0) {
		snprintf(what, sizeof(what), "torn record (%zu bytes, a crash during its append), "
			 "acknowledged by record %llu", v->bad_len, (unsigned long long)r->n);
		if (v->note)
			v->note(v->arg, v->bad_line, what);
	} else if (v->bad_is_torn_tail) {
		problem(v, v->bad_line, 0, "torn last record (%zu bytes without an end of line: "
			"a crash during its append, or the file was cut); not accepted as a record",
			v->bad_len);
	} else {
		problem(v, v->bad_line, 0, "not a record (a record was changed or damaged here)");
	}
	v->bad_line = 0;
}

static int verify_cb(void *arg, uint64_t line_no, char *raw, size_t len, int complete)
{
	struct verify_ctx *v = arg;
	struct cdp_audit_rec *r = &v->rec;
	char hex[65];
	int have_hash;

	have_hash = line_hash(raw, len, hex) == 0;
	if (!complete || decode_record(raw, r) < 0) {
		settle_bad_line(v, NULL);
		v->bad_line = line_no;
		v->bad_len = len;
		v->bad_is_torn_tail = !complete;
		/* its hash: verify_cb_hashing() took it before the decoder cut it */
		return 0;
	}
	r->line = line_no;
	settle_bad_line(v, r);
	v->records++;
	if (!have_hash || strcmp(hex, r->hash_hex) != 0)
		problem(v, line_no, r->n, "record %llu does not match its hash: it was changed",
			(unsigned long long)r->n);
	if (r->n != v->expect_n) {
		if (r->n > v->expect_n)
			problem(v, line_no, r->n, "records %llu to %llu are missing before record "
				"%llu: removed", (unsigned long long)v->expect_n,
				(unsigned long long)(r->n - 1), (unsigned long long)r->n);
		else
			problem(v, line_no, r->n, "record number %llu where %llu was due: a record "
				"was inserted or repeated", (unsigned long long)r->n,
				(unsigned long long)v->expect_n);
	}
	if (strcmp(r->prev_hex, v->prev_hex) != 0)
		problem(v, line_no, r->n, "record %llu does not follow the record before it (its "
			"previous hash differs): a record before it was removed, inserted or "
			"changed", (unsigned long long)r->n);
	v->expect_n = r->n + 1;
	memcpy(v->prev_hex, r->hash_hex, 65);
	return 0;
}

static int verify_cb_hashing(void *arg, uint64_t line_no, char *raw, size_t len, int complete)
{
	struct verify_ctx *v = arg;
	char hex[65];

	/* keep the raw bytes' hash of every line, for a torn one */
	sha256_hex(raw, len, hex);
	verify_cb(arg, line_no, raw, len, complete);
	if (v->bad_line == line_no)
		memcpy(v->bad_hex, hex, 65);
	return 0;
}

int cdp_audit_verify(const char *store_dir,
		     void (*problem_fn)(void *arg, uint64_t line, uint64_t n, const char *what),
		     void (*note)(void *arg, uint64_t line, const char *what), void *arg,
		     uint64_t *records, char *head_hex)
{
	struct verify_ctx *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->problem = problem_fn;
	v->note = note;
	v->arg = arg;
	v->expect_n = 1;
	sha256_hex(CDP_AUDIT_HEADER "\n", sizeof(CDP_AUDIT_HEADER), v->prev_hex);
	ret = walk_lines(store_dir, verify_cb_hashing, v);
	if (ret == 0) {
		settle_bad_line(v, NULL);
		ret = v->problems;
	}
	if (records)
		*records = v->records;
	if (head_hex)
		snprintf(head_hex, 65, "%s", v->records ? v->prev_hex : "");
	free(v);
	return ret;
}
