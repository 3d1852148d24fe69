/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_drill.c - `cdpfs drill` (boot a past instant on a private writable
 * overlay, run checks, archive a report) and `cdpfs bisect` (the last
 * instant at which a check passes).  The machinery (mounts, checks,
 * signals) is in cli/drill_run.c, the manifest in cli/manifest.c.
 *
 * A drill, in order: resolve TIME to an exact instant here (so "latest" and
 * "-10m" mean one thing for every part of the drill); mount HOST@@instant
 * with -o rw in a child `cdpfs mount`; open the store read-only in this
 * process, map the instant to its view (seq and the instant of the newest
 * change) and write the manifest of the tree, before any check runs, so it
 * describes the base; close the store; run each check; unmount (the private
 * overlay goes with it; --keep names it drill-ID instead); write the report.
 *
 * Archive, in the store directory (docs/format.md, "Drill reports"):
 *   STORE/drills/index          "cdpfs drill index 1", then one line per
 *                               drill: ID HOST REQUESTED_NS MOUNTED_NS SEQ
 *                               RESULT DURATION_MS STARTED_NS MANIFEST_SHA256,
 *                               tab-separated, appended under flock
 *   STORE/drills/ID/report.json, report.md, manifest, check-N.log, mount.log
 * ID is the UTC start "20261201T203455Z", the host and 4 random hex digits.
 *
 * "Database answering" is the first instant a check printed a line starting
 * CDPFS-ANSWERING; when no check prints one, the end of the last check,
 * provided every check passed; never when one failed without printing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "fs/fs.h"
#include "store.h"

#define DRILL_INDEX_HEADER "cdpfs drill index 1"
#define DRILL_REPORT_FORMAT "cdpfs drill report 1"
#define DRILL_TAIL_LINES 40
#define DRILL_DEFAULT_TIMEOUT_S 600

enum {
	OPT_STORE = 256,
	OPT_CHECK,
	OPT_TIMEOUT,
	OPT_KEEP,
	OPT_JSON,
	OPT_LIST,
	OPT_SHOW,
	OPT_HOST,
	OPT_GOOD,
	OPT_BAD,
	OPT_HELP,
};

/* ------------------------------------------------------------ helpers */

/* "90", "90s", "10m", "2h", "1d"; 0 means no timeout.  Returns 0 or -EINVAL. */
static int parse_duration(const char *text, int64_t *ns)
{
	unsigned long long v;
	char *end;
	int64_t unit = 1;

	if (!text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 's': unit = 1; end++; break;
	case 'm': unit = 60; end++; break;
	case 'h': unit = 3600; end++; break;
	case 'd': unit = 86400; end++; break;
	default: break;
	}
	if (*end || v > (unsigned long long)(INT64_MAX / 1000000000LL / unit))
		return -EINVAL;
	*ns = (int64_t)v * unit * 1000000000LL;
	return 0;
}

static void format_seconds(int64_t ns, char *buf, size_t size)
{
	snprintf(buf, size, "%.1f s", (double)ns / 1e9);
}

static void format_at(int64_t ts_ns, char *buf, size_t size)
{
	snprintf(buf, size, "@%lld.%09lld", (long long)(ts_ns / 1000000000),
		 (long long)(ts_ns % 1000000000));
}

static char *path_join(const char *a, const char *b)
{
	char *out;

	if (asprintf(&out, "%s/%s", a, b) < 0)
		die("out of memory");
	return out;
}

/* Dies unless dir holds a store (its FORMAT file). */
static void require_store(const char *store)
{
	char *format = path_join(store, "FORMAT");
	struct stat st;

	if (stat(format, &st) < 0)
		die("no store at '%s' (capture something first, or name the store with "
		    "--store or CDPFS_STORE)", store);
	free(format);
}

/* TIME of a SPEC or an option into an exact instant ("latest" is now). */
static int64_t resolve_time(const char *text, int64_t now_ns)
{
	int64_t ts;

	if (cdp_time_parse(text, now_ns, &ts) < 0)
		die("bad time '%s' (expected e.g. 2025-12-02T12:33:07, '2025-12-02 "
		    "12:33:07.250', +08:00 or Z, @1764649987, latest, -10m, -2h, -1d)", text);
	return ts == CDP_TS_LATEST ? now_ns : ts;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

static int stop_requested(void)
{
	return drill_interrupted() != 0;
}

/* ------------------------------------------------------- one drill */

struct check_run {
	const char *command;
	struct drill_check_result r;
	char log_name[32];
	char *tail;          /* heap */
	int passed;
};

struct drill {
	char id[128];
	char mountpoint[PATH_MAX];
	char *store, *dir_path;          /* dir_path: STORE/drills/ID */
	char *host, *dir, *time_text;
	int64_t requested_ns, started_ns, mounted_ns, finished_ns;
	int64_t view_ts_ns, answering_ns;
	int64_t manifest_start_ns, manifest_end_ns;   /* the manifest walk */
	uint64_t seq, manifest_entries;
	char manifest_hex[2 * CDP_HASH_BYTES + 1];
	int64_t timeout_ns;
	int keep;
	char overlay[160];
	struct check_run *checks;
	size_t nchecks, ran;
	const char *answering_by;        /* how answering_ns was found */
	size_t answering_check;          /* 1-based; 0 none */
	const char *result;              /* pass, fail, error, interrupted */
	char error[1024];
	char unmount_error[1024];
	/* the instant fell where nothing was captured (a gap between sessions,
	 * or after the last stop): the tree is as last captured before it */
	int in_gap;
	int64_t gap_from_ns, gap_to_ns;  /* to 0: capture not running since */
	char gap_dir[PATH_MAX];
};

static const char *check_result(const struct check_run *c)
{
	switch (c->r.end) {
	case DRILL_CHECK_EXITED: return c->r.status == 0 ? "pass" : "fail";
	case DRILL_CHECK_TIMEOUT: return "timeout";
	case DRILL_CHECK_INTERRUPTED: return "interrupted";
	default: return "not run";
	}
}

static void json_time(FILE *out, const char *key, int64_t ts_ns)
{
	char buf[64];

	fprintf(out, "  \"%s\": ", key);
	if (ts_ns > 0) {
		cdp_time_format(ts_ns, buf, sizeof(buf));
		cli_json_string(out, buf);
	} else {
		fputs("null", out);
	}
	fprintf(out, ",\n  \"%s_ns\": %lld,\n", key, (long long)ts_ns);
}

static void json_ms(FILE *out, const char *key, int64_t from_ns, int64_t to_ns, int last)
{
	fprintf(out, "  \"%s\": ", key);
	if (from_ns > 0 && to_ns > 0)
		fprintf(out, "%lld", (long long)((to_ns - from_ns) / 1000000));
	else
		fputs("null", out);
	fputs(last ? "\n" : ",\n", out);
}

static void write_report_json(const struct drill *d, FILE *out)
{
	size_t i;

	fprintf(out, "{\n  \"format\": \"%s\",\n  \"id\": ", DRILL_REPORT_FORMAT);
	cli_json_string(out, d->id);
	fputs(",\n  \"result\": ", out);
	cli_json_string(out, d->result);
	fputs(",\n  \"error\": ", out);
	if (d->error[0])
		cli_json_string(out, d->error);
	else
		fputs("null", out);
	fputs(",\n  \"host\": ", out);
	cli_json_string(out, d->host);
	fputs(",\n  \"dir\": ", out);
	if (d->dir)
		cli_json_string(out, d->dir);
	else
		fputs("null", out);
	fputs(",\n  \"store\": ", out);
	cli_json_string(out, d->store);
	fputs(",\n  \"mountpoint\": ", out);
	cli_json_string(out, d->mountpoint);
	fputs(",\n  \"time_asked\": ", out);
	cli_json_string(out, d->time_text);
	fputs(",\n", out);
	json_time(out, "requested", d->requested_ns);
	json_time(out, "mounted", d->view_ts_ns);
	fprintf(out, "  \"seq\": %llu,\n", (unsigned long long)d->seq);
	fputs("  \"newest_change_age_ns\": ", out);
	if (d->view_ts_ns > 0)
		fprintf(out, "%lld,\n", (long long)(d->requested_ns - d->view_ts_ns));
	else
		fputs("null,\n", out);
	fputs("  \"capture_gap\": ", out);
	if (d->in_gap) {
		fputs("{\"dir\": ", out);
		cli_json_string(out, d->gap_dir);
		fprintf(out, ", \"from_ns\": %lld, \"to_ns\": ", (long long)d->gap_from_ns);
		if (d->gap_to_ns)
			fprintf(out, "%lld}", (long long)d->gap_to_ns);
		else
			fputs("null}", out);
		fputs(",\n", out);
	} else {
		fputs("null,\n", out);
	}
	json_time(out, "started", d->started_ns);
	json_time(out, "finished", d->finished_ns);
	json_ms(out, "duration_ms", d->started_ns, d->finished_ns, 0);
	json_ms(out, "mount_ms", d->started_ns, d->mounted_ns, 0);
	json_ms(out, "answering_ms", d->started_ns, d->answering_ns, 0);
	json_ms(out, "manifest_ms", d->manifest_start_ns, d->manifest_end_ns, 0);
	fputs("  \"answering_by\": ", out);
	if (d->answering_by)
		cli_json_string(out, d->answering_by);
	else
		fputs("null", out);
	fputs(",\n  \"manifest\": {\"format\": \"" CLI_MANIFEST_HEADER "\", \"file\": \"manifest\", "
	      "\"sha256\": ", out);
	if (d->manifest_hex[0])
		cli_json_string(out, d->manifest_hex);
	else
		fputs("null", out);
	fprintf(out, ", \"entries\": %llu},\n", (unsigned long long)d->manifest_entries);
	fputs("  \"overlay\": ", out);
	if (d->keep) {
		fputs("{\"kept\": true, \"name\": ", out);
		cli_json_string(out, d->overlay);
		fputs("},\n", out);
	} else {
		fputs("{\"kept\": false, \"name\": null},\n", out);
	}
	fputs("  \"unmount_error\": ", out);
	if (d->unmount_error[0])
		cli_json_string(out, d->unmount_error);
	else
		fputs("null", out);
	fprintf(out, ",\n  \"timeout_s\": %lld,\n  \"checks\": [",
		(long long)(d->timeout_ns / 1000000000LL));
	for (i = 0; i < d->nchecks; i++) {
		const struct check_run *c = &d->checks[i];

		fprintf(out, "%s\n    {\"n\": %zu, \"command\": ", i ? "," : "", i + 1);
		cli_json_string(out, c->command);
		fputs(", \"result\": ", out);
		cli_json_string(out, check_result(c));
		if (c->r.end == DRILL_CHECK_NOT_RUN)
			fputs(", \"exit_status\": null, \"duration_ms\": null, \"log\": null", out);
		else
			fprintf(out, ", \"exit_status\": %d, \"duration_ms\": %lld, \"log\": \"%s\"",
				c->r.status, (long long)((c->r.end_ns - c->r.start_ns) / 1000000),
				c->log_name);
		fputs(", \"answering_ms\": ", out);
		if (c->r.answering_ns)
			fprintf(out, "%lld", (long long)((c->r.answering_ns - d->started_ns) / 1000000));
		else
			fputs("null", out);
		fputs(", \"output_tail\": ", out);
		cli_json_string(out, c->tail ? c->tail : "");
		fputs("}", out);
	}
	fputs(d->nchecks ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* Markdown cells and inline code must not break the table or the span. */
static void md_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static void md_time_row(FILE *out, const char *label, int64_t ts_ns)
{
	char buf[64], at[48];

	cdp_time_format(ts_ns, buf, sizeof(buf));
	format_at(ts_ns, at, sizeof(at));
	fprintf(out, "| %s | %s (`%s`) |\n", label, ts_ns > 0 ? buf : "-", ts_ns > 0 ? at : "-");
}

static void write_report_md(const struct drill *d, FILE *out)
{
	char buf[128];
	size_t i;

	fprintf(out, "# cdpfs drill %s: %s\n\n", d->id, d->result);
	if (d->error[0]) {
		fputs("**Error:** ", out);
		md_text(out, d->error);
		fputs("\n\n", out);
	}
	fputs("| | |\n|---|---|\n", out);
	fprintf(out, "| Host | %s |\n", d->host);
	fputs("| Directory | ", out);
	md_text(out, d->dir ? d->dir : "every captured directory of the host");
	fputs(" |\n| Store | ", out);
	md_text(out, d->store);
	fputs(" |\n| Time asked | `", out);
	md_text(out, d->time_text);
	fputs("` |\n", out);
	md_time_row(out, "Requested instant", d->requested_ns);
	md_time_row(out, "Instant mounted (newest change)", d->view_ts_ns);
	fprintf(out, "| Sequence number | %llu |\n", (unsigned long long)d->seq);
	if (d->view_ts_ns > 0) {
		fprintf(out, "| Age of the newest captured change | %.3f s before the requested "
			"instant |\n", (double)(d->requested_ns - d->view_ts_ns) / 1e9);
	}
	if (d->in_gap) {
		char from[64], to[64];

		cdp_time_format(d->gap_from_ns, from, sizeof(from));
		if (d->gap_to_ns)
			cdp_time_format(d->gap_to_ns, to, sizeof(to));
		fputs("| Capture at the instant | **not running**: `", out);
		md_text(out, d->gap_dir);
		fprintf(out, "` was not captured from %s to %s; the tree is as last captured "
			"before it |\n", from, d->gap_to_ns ? to : "the drill (capture stopped)");
	}
	md_time_row(out, "Drill started", d->started_ns);
	md_time_row(out, "Drill finished", d->finished_ns);
	format_seconds(d->finished_ns - d->started_ns, buf, sizeof(buf));
	fprintf(out, "| Total duration | %s |\n", buf);
	if (d->mounted_ns) {
		format_seconds(d->mounted_ns - d->started_ns, buf, sizeof(buf));
		fprintf(out, "| Mounted after | %s |\n", buf);
	}
	if (d->answering_ns) {
		format_seconds(d->answering_ns - d->started_ns, buf, sizeof(buf));
		fprintf(out, "| Database answering after | %s (%s) |\n", buf, d->answering_by);
	} else {
		fputs("| Database answering after | never (a check failed) |\n", out);
	}
	fprintf(out, "| Manifest SHA-256 | `%s` (%llu entries, file `manifest`, format "
		"`" CLI_MANIFEST_HEADER "`) |\n", d->manifest_hex[0] ? d->manifest_hex : "-",
		(unsigned long long)d->manifest_entries);
	if (d->keep)
		fprintf(out, "| Overlay | kept as `%s` (`cdpfs mount -o rw,overlay=%s`) |\n",
			d->overlay, d->overlay);
	else
		fputs("| Overlay | private, discarded at unmount |\n", out);
	if (d->unmount_error[0]) {
		fputs("| Unmount | ", out);
		md_text(out, d->unmount_error);
		fputs(" |\n", out);
	}
	fprintf(out, "| Timeout per check | %lld s |\n", (long long)(d->timeout_ns / 1000000000LL));
	fputs("\n## Checks\n", out);
	for (i = 0; i < d->nchecks; i++) {
		const struct check_run *c = &d->checks[i];
		const char *p;

		fprintf(out, "\n### %zu. %s\n\n    ", i + 1, check_result(c));
		for (p = c->command; *p; p++) {
			fputc(*p, out);
			if (*p == '\n')
				fputs("    ", out);
		}
		fputs("\n\n", out);
		if (c->r.end == DRILL_CHECK_NOT_RUN) {
			fputs("Not run.\n", out);
			continue;
		}
		format_seconds(c->r.end_ns - c->r.start_ns, buf, sizeof(buf));
		fprintf(out, "Exit status %d, %s, full output in `%s`", c->r.status, buf,
			c->log_name);
		if (c->r.end == DRILL_CHECK_TIMEOUT)
			fputs(" (killed at the timeout)", out);
		fprintf(out, ". Last lines of output:\n\n");
		if (!c->tail || !*c->tail) {
			fputs("    (no output)\n", out);
			continue;
		}
		fputs("    ", out);
		for (p = c->tail; *p; p++) {
			fputc(*p, out);
			if (*p == '\n' && p[1])
				fputs("    ", out);
		}
		if (p > c->tail && p[-1] != '\n')
			fputc('\n', out);
	}
	format_at(d->view_ts_ns > 0 ? d->view_ts_ns : d->requested_ns, buf, sizeof(buf));
	fprintf(out, "\nThe manifest lists every entry of the tree as mounted (path, type, "
		"mode, owner, size, mtime, link target, xattrs, content hash); its SHA-256 "
		"above proves which bytes were tested. The same state mounts again with "
		"`cdpfs mount %s%s%s@%s MOUNTPOINT`.\n", d->host, d->dir ? ":" : "",
		d->dir ? d->dir : "", buf);
}

/* Writes path atomically (tmp, fsync, rename). */
static int write_file(const char *path, const struct drill *d,
		      void (*fn)(const struct drill *, FILE *))
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fn(d, f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		ret = -errno;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int append_index(const struct drill *d)
{
	char *index = NULL, line[1024];
	struct stat st;
	int fd, ret = 0;
	ssize_t n;

	if (asprintf(&index, "%s/drills/index", d->store) < 0)
		return -ENOMEM;
	fd = open(index, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (st.st_size == 0 && write(fd, DRILL_INDEX_HEADER "\n",
				     sizeof(DRILL_INDEX_HEADER)) != sizeof(DRILL_INDEX_HEADER)) {
		ret = -EIO;
		goto out_close;
	}
	snprintf(line, sizeof(line), "%s\t%s\t%lld\t%lld\t%llu\t%s\t%lld\t%lld\t%s\n", d->id,
		 d->host, (long long)d->requested_ns, (long long)d->view_ts_ns,
		 (unsigned long long)d->seq, d->result,
		 (long long)((d->finished_ns - d->started_ns) / 1000000),
		 (long long)d->started_ns, d->manifest_hex[0] ? d->manifest_hex : "-");
	n = write(fd, line, strlen(line));
	if (n != (ssize_t)strlen(line))
		ret = -EIO;
	else if (fsync(fd) < 0)
		ret = -errno;
out_close:
	close(fd);
out:
	free(index);
	return ret;
}

/* Opens the store read-only, maps the instant to its view and writes the
 * manifest.  Runs after the mount child exec'ed and before any check:
 * nothing forks while the store is open. */
/*
 * walk 0: maps the instant to its seq and newest change (for the checks'
 * environment) and checks the mount serves that seq.  walk 1: writes the
 * manifest of that seq.  The walk runs after the checks, so that its time
 * (it grows with the size of the tree) is not counted before the database
 * answers; it describes the same bytes either way, since the base of the
 * overlay is the view at one seq, which never changes.
 */
static int drill_manifest(struct drill *d, uint64_t mount_seq, int walk, char *err,
			  size_t errlen)
{
	struct cdp_store *s = NULL;
	struct cdp_view *v = NULL;
	uint8_t sha[CDP_HASH_BYTES];
	uint64_t root = CDP_ROOT_FID;
	char *path = path_join(d->dir_path, "manifest");
	FILE *f = NULL;
	int ret;

	ret = cdp_store_open(d->store, CDP_STORE_READ, NULL, &s);
	if (ret < 0) {
		cdp_errf(err, errlen, "cannot open store '%s': %s", d->store, cdp_strerror(ret));
		goto out;
	}
	ret = cdp_view_open(s, d->host, d->requested_ns, &v);
	if (ret < 0) {
		cdp_errf(err, errlen, "cannot open host '%s' at the drill's instant: %s", d->host,
			 cdp_strerror(ret));
		goto out;
	}
	d->seq = cdp_view_seq(v);
	d->view_ts_ns = cdp_view_ts(v);
	if (mount_seq && mount_seq != d->seq) {
		cdp_errf(err, errlen, "the mount serves seq %llu but the instant maps to seq %llu",
			 (unsigned long long)mount_seq, (unsigned long long)d->seq);
		ret = -EIO;
		goto out;
	}
	if (!walk)
		goto out;
	d->manifest_start_ns = cdp_now_ns();
	if (d->dir && (ret = cdp_view_resolve(v, d->dir, &root)) < 0) {
		cdp_errf(err, errlen, "cannot resolve '%s' on host '%s': %s", d->dir, d->host,
			 cdp_strerror(ret));
		goto out;
	}
	f = fopen(path, "we");
	if (!f) {
		ret = -errno;
		cdp_errf(err, errlen, "cannot write '%s': %s", path, strerror(-ret));
		goto out;
	}
	ret = cli_manifest_write(v, root, cdp_store_block_size(s), f, sha, &d->manifest_entries,
				 stop_requested);
	if (ret == 0 && fsync(fileno(f)) < 0)
		ret = -errno;
	if (ret < 0) {
		if (ret != -EINTR)
			cdp_errf(err, errlen, "cannot write the manifest '%s': %s", path,
				 cdp_strerror(ret));
		goto out;
	}
	cli_hash_hex(sha, d->manifest_hex);
	d->manifest_end_ns = cdp_now_ns();
out:
	if (f && fclose(f) != 0 && ret == 0)
		ret = -errno;
	cdp_view_free(v);
	cdp_store_close(s);
	free(path);
	return ret;
}

static void make_id(struct drill *d)
{
	time_t t = (time_t)(d->started_ns / 1000000000);
	unsigned char rnd[2] = { 0, 0 };
	char stamp[32];
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rnd[0] = (unsigned char)getpid();
		rnd[1] = (unsigned char)(d->started_ns >> 10);
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(d->id, sizeof(d->id), "%s-%s-%02x%02x", stamp, d->host, rnd[0], rnd[1]);
}

/*
 * Before a drill directory is made: the host exists and the instant is in
 * its history, so that a typo gets one line and leaves no report behind.
 * The store is closed again before anything forks.
 */
/* Records in d whether ts_ns lies where the drilled directory (or, for a
 * whole host, any of its directories) was not being captured. */
static void note_gap(struct drill *d, const struct cdp_host_info *h, int64_t ts_ns)
{
	size_t r, g;

	for (r = 0; r < h->nroots && !d->in_gap; r++) {
		const struct cdp_root_info *ri = &h->roots[r];

		if (d->dir && strcmp(ri->path, d->dir) != 0 &&
		    !(strncmp(d->dir, ri->path, strlen(ri->path)) == 0 &&
		      d->dir[strlen(ri->path)] == '/'))
			continue;
		for (g = 0; g < ri->ngaps && !d->in_gap; g++)
			if (ts_ns >= ri->gaps[g].from_ts_ns && ts_ns < ri->gaps[g].to_ts_ns) {
				d->in_gap = 1;
				d->gap_from_ns = ri->gaps[g].from_ts_ns;
				d->gap_to_ns = ri->gaps[g].to_ts_ns;
			}
		if (!d->in_gap && !ri->active && ri->session_end_ts_ns &&
		    ts_ns > ri->session_end_ts_ns) {
			d->in_gap = 1;
			d->gap_from_ns = ri->session_end_ts_ns;
			d->gap_to_ns = 0;
		}
		if (d->in_gap)
			snprintf(d->gap_dir, sizeof(d->gap_dir), "%s", ri->path);
	}
}

static void drill_precheck(struct drill *d, const char *store, const char *host,
			   int64_t ts_ns)
{
	struct cdp_host_info *hosts = NULL, *h = NULL;
	struct cdp_store *s = NULL;
	char list[1024] = "", when[64], first[64], msg[2048] = "";
	size_t n = 0, i, used = 0;
	int ret;

	ret = cdp_store_open(store, CDP_STORE_READ, NULL, &s);
	if (ret < 0)
		die("cannot open store '%s': %s", store, cdp_strerror(ret));
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot list hosts of store '%s': %s", store,
			 cdp_strerror(ret));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(hosts[i].name, host) == 0)
			h = &hosts[i];
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? ", " : "", hosts[i].name);
	}
	if (!h) {
		snprintf(msg, sizeof(msg), "no capture of host '%s' in store '%s' (hosts: %s)",
			 host, store, n ? list : "none yet");
		goto out;
	}
	cdp_time_format(ts_ns, when, sizeof(when));
	cdp_time_format(h->first_ts_ns, first, sizeof(first));
	if (h->first_ts_ns == 0)
		snprintf(msg, sizeof(msg), "host '%s' has no complete baseline yet in store '%s'",
			 host, store);
	else if (ts_ns < h->first_ts_ns)
		snprintf(msg, sizeof(msg), "instant %s is before the history of host '%s', which "
			 "starts at %s", when, host, first);
	else if (ts_ns > cdp_now_ns() + 1000000000LL)
		snprintf(msg, sizeof(msg), "instant %s is in the future (history of host '%s' "
			 "ends now)", when, host);
	else
		note_gap(d, h, ts_ns);
out:
	/* closed before any exit: RocksDB must not outlive its statics */
	cdp_host_info_free(hosts, n);
	cdp_store_close(s);
	if (msg[0])
		die_line(msg);
}

static char *env_entry(const char *name, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", name, value) < 0)
		die("out of memory");
	return s;
}

static int run_drill(struct drill *d, int json)
{
	struct drill_mount m;
	char err[1024], at[48], req_at[48], seqbuf[32], *extra[8], **envp;
	char *mountlog, *drills;
	size_t i;
	int ret, sig, failed = 0;

	drills = path_join(d->store, "drills");
	if (mkdir(drills, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", drills, strerror(errno));
	d->dir_path = path_join(drills, d->id);
	free(drills);
	if (mkdir(d->dir_path, 0755) < 0)
		die("cannot create '%s': %s", d->dir_path, strerror(errno));
	if (d->keep) {
		/* overlay names are at most 64 bytes: a long host name is left out */
		snprintf(d->overlay, sizeof(d->overlay), "drill-%s", d->id);
		if (strlen(d->overlay) > 64)
			snprintf(d->overlay, sizeof(d->overlay), "drill-%.16s%s", d->id,
				 d->id + strlen(d->id) - 5);
	}
	drill_signals_install();
	if (!json)
		printf("drill %s: mounting %s%s%s as of %s (private overlay%s%s)\n", d->id,
		       d->host, d->dir ? ":" : "", d->dir ? d->dir : "", d->time_text,
		       d->keep ? ", kept as " : "", d->keep ? d->overlay : "");
	fflush(stdout);

	mountlog = path_join(d->dir_path, "mount.log");
	err[0] = '\0';
	ret = drill_mount_open(&m, d->store, d->host, d->dir, d->requested_ns,
			       d->keep ? d->overlay : NULL, mountlog, err, sizeof(err));
	free(mountlog);
	snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", m.mountpoint);
	d->mounted_ns = cdp_now_ns();
	if (ret < 0) {
		d->mounted_ns = 0;
		snprintf(d->error, sizeof(d->error), "%s", err);
		d->result = "error";
		goto out_report;
	}
	if (!drill_interrupted()) {
		ret = drill_manifest(d, m.seq, 0, err, sizeof(err));
		if (ret < 0 && ret != -EINTR) {
			snprintf(d->error, sizeof(d->error), "%s", err);
			d->result = "error";
			goto out_unmount;
		}
	}
	if (!json && d->seq) {
		char age[32];

		cdp_time_format(d->view_ts_ns, err, sizeof(err));
		format_seconds(d->requested_ns - d->view_ts_ns, age, sizeof(age));
		printf("mounted on %s: newest change %s (seq %llu, %s before the instant)\n",
		       m.mountpoint, err, (unsigned long long)d->seq, age);
		if (d->in_gap)
			printf("warning: '%s' was not being captured at the instant: the tree is "
			       "as last captured before it\n", d->gap_dir);
		fflush(stdout);
	}

	format_at(d->view_ts_ns, at, sizeof(at));
	format_at(d->requested_ns, req_at, sizeof(req_at));
	snprintf(seqbuf, sizeof(seqbuf), "%llu", (unsigned long long)d->seq);
	extra[0] = env_entry("CDPFS_ROOT", m.mountpoint);
	extra[1] = env_entry("CDPFS_HOST", d->host);
	extra[2] = env_entry("CDPFS_TIME", at);
	extra[3] = env_entry("CDPFS_REQUESTED_TIME", req_at);
	extra[4] = env_entry("CDPFS_SEQ", seqbuf);
	extra[5] = env_entry("CDPFS_DRILL_ID", d->id);
	extra[6] = env_entry("CDPFS_DRILL_DIR", d->dir_path);
	extra[7] = NULL;
	envp = drill_environ(extra);
	if (!envp)
		die("out of memory");
	for (i = 0; i < d->nchecks && !drill_interrupted(); i++) {
		struct check_run *c = &d->checks[i];
		char *log, dur[32];

		snprintf(c->log_name, sizeof(c->log_name), "check-%zu.log", i + 1);
		log = path_join(d->dir_path, c->log_name);
		ret = drill_run_check(c->command, envp, log, d->timeout_ns, &c->r);
		d->ran = i + 1;
		c->tail = drill_file_tail(log, DRILL_TAIL_LINES);
		free(log);
		if (ret < 0 && c->r.end == DRILL_CHECK_NOT_RUN) {
			snprintf(d->error, sizeof(d->error), "cannot run check %zu: %s", i + 1,
				 strerror(-ret));
			failed = 1;
			break;
		}
		c->passed = c->r.end == DRILL_CHECK_EXITED && c->r.status == 0;
		failed |= !c->passed;
		if (c->r.answering_ns && !d->answering_ns) {
			d->answering_ns = c->r.answering_ns;
			d->answering_by = "line " DRILL_ANSWERING_LINE " printed by a check";
			d->answering_check = i + 1;
		}
		if (!json) {
			format_seconds(c->r.end_ns - c->r.start_ns, dur, sizeof(dur));
			printf("check %zu: %s (exit %d, %s): %s\n", i + 1, check_result(c),
			       c->r.status, dur, c->command);
			fflush(stdout);
		}
	}
	if (!failed && !d->answering_ns && d->ran == d->nchecks && d->nchecks &&
	    !drill_interrupted()) {
		d->answering_ns = d->checks[d->nchecks - 1].r.end_ns;
		d->answering_by = "end of the last check, all passed";
	}
	free(envp);
	for (i = 0; extra[i]; i++)
		free(extra[i]);
	if (!drill_interrupted()) {
		ret = drill_manifest(d, m.seq, 1, err, sizeof(err));
		if (ret < 0 && ret != -EINTR) {
			snprintf(d->error, sizeof(d->error), "%s", err);
			d->result = "error";
			goto out_unmount;
		}
		if (!json && d->manifest_hex[0]) {
			printf("manifest of the tested base %s (%llu entries)\n", d->manifest_hex,
			       (unsigned long long)d->manifest_entries);
			fflush(stdout);
		}
	}
	d->result = drill_interrupted() ? "interrupted" : failed ? "fail" : "pass";

out_unmount:
	err[0] = '\0';
	if (drill_mount_close(&m, err, sizeof(err)) < 0) {
		snprintf(d->unmount_error, sizeof(d->unmount_error), "%s", err);
		/* something outlived the checks on the copy: not a clean drill,
		 * and never a "last verified" */
		if (strcmp(d->result, "pass") == 0)
			d->result = "error";
		if (!d->error[0])
			snprintf(d->error, sizeof(d->error), "unmount: %s", err);
	}
out_report:
	d->finished_ns = cdp_now_ns();
	if (drill_interrupted() && strcmp(d->result, "error") != 0)
		d->result = "interrupted";
	{
		char *json_path = path_join(d->dir_path, "report.json");
		char *md_path = path_join(d->dir_path, "report.md");

		ret = write_file(json_path, d, write_report_json);
		if (ret == 0)
			ret = write_file(md_path, d, write_report_md);
		if (ret == 0)
			ret = append_index(d);
		if (ret < 0)
			die("cannot write the report of drill %s in '%s': %s", d->id, d->dir_path,
			    strerror(-ret));
		if (json) {
			write_report_json(d, stdout);
		} else {
			printf("result: %s; report: %s\n", d->result, md_path);
			if (d->keep && d->mounted_ns)
				printf("overlay kept as '%s' (cdpfs mount -o rw,overlay=%s ...; "
				       "cdpfs overlay rm %s)\n", d->overlay, d->overlay, d->overlay);
		}
		fflush(stdout);
		free(json_path);
		free(md_path);
	}
	sig = drill_interrupted();
	if (sig) {
		fprintf(stderr, "cdpfs: drill %s interrupted by %s (unmounted; report in '%s')\n",
			d->id, signal_name(sig), d->dir_path);
		exit(128 + sig);
	}
	if (d->unmount_error[0])
		die("drill %s: %s (report in '%s')", d->id, d->unmount_error, d->dir_path);
	if (strcmp(d->result, "error") == 0)
		die("drill %s: %s (report in '%s')", d->id, d->error, d->dir_path);
	if (strcmp(d->result, "fail") == 0) {
		for (i = 0; i < d->ran; i++)
			if (!d->checks[i].passed)
				break;
		die("drill %s failed: check %zu %s (report in '%s')", d->id, i + 1,
		    d->checks[i].r.end == DRILL_CHECK_TIMEOUT ? "timed out" : "failed",
		    d->dir_path);
	}
	return 0;
}

/* ---------------------------------------------------- list and show */

struct index_row {
	char id[128], host[256], result[16];
	long long requested_ns, mounted_ns, duration_ms, started_ns;
	unsigned long long seq;
};

static int parse_index_line(char *line, struct index_row *r)
{
	char *f[9], *save = NULL, *p;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	for (p = strtok_r(line, "\t", &save); p && n < 9; p = strtok_r(NULL, "\t", &save))
		f[n++] = p;
	if (n != 9)
		return -EINVAL;
	snprintf(r->id, sizeof(r->id), "%s", f[0]);
	snprintf(r->host, sizeof(r->host), "%s", f[1]);
	r->requested_ns = strtoll(f[2], NULL, 10);
	r->mounted_ns = strtoll(f[3], NULL, 10);
	r->seq = strtoull(f[4], NULL, 10);
	snprintf(r->result, sizeof(r->result), "%s", f[5]);
	r->duration_ms = strtoll(f[6], NULL, 10);
	r->started_ns = strtoll(f[7], NULL, 10);
	return 0;
}

static int list_drills(const char *store, const char *host, int json)
{
	char *index, line[2048], when[32], inst[32], dur[32];
	struct index_row *rows = NULL, *last;
	size_t n = 0, cap = 0, i, j, shown = 0;
	FILE *f;

	index = path_join(store, "drills/index");
	f = fopen(index, "re");
	if (!f && errno != ENOENT)
		die("cannot read '%s': %s", index, strerror(errno));
	if (f) {
		if (!fgets(line, sizeof(line), f) ||
		    strcmp(line, DRILL_INDEX_HEADER "\n") != 0)
			die("'%s' is not a drill index this cdpfs reads (expected '%s')", index,
			    DRILL_INDEX_HEADER);
		while (fgets(line, sizeof(line), f)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				rows = realloc(rows, cap * sizeof(*rows));
				if (!rows)
					die("out of memory");
			}
			if (parse_index_line(line, &rows[n]) == 0 &&
			    (!host || strcmp(rows[n].host, host) == 0))
				n++;
		}
		fclose(f);
	}
	if (json) {
		printf("{\"store\": ");
		cli_json_string(stdout, store);
		printf(", \"drills\": [");
		for (i = 0; i < n; i++) {
			printf("%s\n  {\"id\": ", i ? "," : "");
			cli_json_string(stdout, rows[i].id);
			printf(", \"host\": ");
			cli_json_string(stdout, rows[i].host);
			printf(", \"requested_ns\": %lld, \"mounted_ns\": %lld, \"seq\": %llu, "
			       "\"result\": \"%s\", \"duration_ms\": %lld, \"started_ns\": %lld}",
			       rows[i].requested_ns, rows[i].mounted_ns, rows[i].seq, rows[i].result,
			       rows[i].duration_ms, rows[i].started_ns);
		}
		printf("%s], \"last_verified\": {", n ? "\n" : "");
	} else if (n == 0) {
		printf("no drill recorded%s%s in store '%s'\n", host ? " for host " : "",
		       host ? host : "", store);
	} else {
		printf("%-40s  %-12s  %-19s  %-11s  %s\n", "ID", "HOST", "INSTANT", "RESULT",
		       "DURATION");
		for (i = 0; i < n; i++) {
			cli_time_local(rows[i].mounted_ns ? rows[i].mounted_ns : rows[i].requested_ns,
				       inst, sizeof(inst));
			format_seconds(rows[i].duration_ms * 1000000LL, dur, sizeof(dur));
			printf("%-40s  %-12s  %-19s  %-11s  %s\n", rows[i].id, rows[i].host, inst,
			       rows[i].result, dur);
		}
		printf("\nlast verified (newest passing drill per host):\n");
	}
	/* per host, in order of first appearance: the newest passing drill */
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(rows[j].host, rows[i].host) == 0)
				break;
		if (j < i)
			continue;
		last = NULL;
		for (j = i; j < n; j++)
			if (strcmp(rows[j].host, rows[i].host) == 0 &&
			    strcmp(rows[j].result, "pass") == 0 &&
			    (!last || rows[j].started_ns > last->started_ns))
				last = &rows[j];
		if (json) {
			printf("%s\n  ", shown++ ? "," : "");
			cli_json_string(stdout, rows[i].host);
			if (last) {
				printf(": {\"id\": ");
				cli_json_string(stdout, last->id);
				printf(", \"started_ns\": %lld, \"mounted_ns\": %lld}",
				       last->started_ns, last->mounted_ns);
			} else {
				printf(": null");
			}
			continue;
		}
		if (!last) {
			printf("  %-12s  never\n", rows[i].host);
			continue;
		}
		cli_time_local(last->started_ns, when, sizeof(when));
		cli_time_local(last->mounted_ns, inst, sizeof(inst));
		printf("  %-12s  %s (drill %s, state as of %s)\n", rows[i].host, when, last->id,
		       inst);
	}
	if (json)
		printf("%s}}\n", shown ? "\n" : "");
	free(rows);
	free(index);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

static int show_drill(const char *store, const char *id, int json)
{
	char *path, buf[65536];
	size_t n;
	FILE *f;

	if (!*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		die("bad drill ID '%s' (see 'cdpfs drill --list')", id);
	if (asprintf(&path, "%s/drills/%s/%s", store, id, json ? "report.json" : "report.md") < 0)
		die("out of memory");
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			die("no drill '%s' in store '%s' (see 'cdpfs drill --list')", id, store);
		die("cannot read '%s': %s", path, strerror(errno));
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	free(path);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

/* ------------------------------------------------------------ drill */

static const struct option drill_options[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "show", required_argument, NULL, OPT_SHOW },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

int cmd_drill(int argc, char **argv, const struct cli_cmd *self)
{
	const char *opt_store = NULL, *show = NULL, *host = NULL;
	int c, json = 0, list = 0, timeout_given = 0, ret;
	struct drill d;
	char err[1024];
	size_t i;

	memset(&d, 0, sizeof(d));
	d.timeout_ns = DRILL_DEFAULT_TIMEOUT_S * 1000000000LL;
	d.checks = calloc((size_t)argc, sizeof(*d.checks));
	if (!d.checks)
		die("out of memory");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", drill_options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			opt_store = optarg;
			break;
		case OPT_CHECK:
			if (!*optarg)
				cli_usage_error(self, "empty --check");
			d.checks[d.nchecks++].command = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &d.timeout_ns) < 0)
				cli_usage_error(self, "bad --timeout '%s' (e.g. 90s, 10m, 1h; 0: none)",
						optarg);
			timeout_given = 1;
			break;
		case OPT_KEEP:
			d.keep = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_LIST:
			list = 1;
			break;
		case OPT_SHOW:
			show = optarg;
			break;
		case OPT_HOST:
			host = optarg;
			break;
		case 'h':
		case OPT_HELP:
			cli_usage(self, stdout, 0);
		default:
			if (optopt && optopt >= OPT_STORE)
				cli_usage_error(self, "option '%s' needs a value", argv[optind - 1]);
			cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (list + (show != NULL) > 1)
		cli_usage_error(self, "--list and --show exclude each other");
	if (list || show) {
		if (optind != argc)
			cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
		if (d.nchecks || d.keep || timeout_given)
			cli_usage_error(self, "--check, --keep and --timeout go with HOST@TIME");
		if (show && host)
			cli_usage_error(self, "--host goes with --list");
		d.store = cli_store_path(opt_store);
		require_store(d.store);
		ret = list ? list_drills(d.store, host, json) : show_drill(d.store, show, json);
		free(d.store);
		free(d.checks);
		return ret;
	}
	if (host)
		cli_usage_error(self, "--host goes with --list");
	if (argc - optind != 1)
		cli_usage_error(self, argc == optind ? "HOST@TIME needed" : "too many arguments");
	if (!d.nchecks)
		cli_usage_error(self, "at least one --check CMD needed");

	d.store = cli_store_path(opt_store);
	require_store(d.store);
	err[0] = '\0';
	if (cdp_fs_parse_spec(argv[optind], &d.host, &d.dir, &d.time_text, err, sizeof(err)) < 0)
		die_line(err);
	d.started_ns = cdp_now_ns();
	d.requested_ns = resolve_time(d.time_text, d.started_ns);
	drill_precheck(&d, d.store, d.host, d.requested_ns);
	make_id(&d);
	ret = run_drill(&d, json);
	for (i = 0; i < d.nchecks; i++)
		free(d.checks[i].tail);
	free(d.checks);
	free(d.store);
	free(d.dir_path);
	free(d.host);
	free(d.dir);
	free(d.time_text);
	return ret;
}

/* ----------------------------------------------------------- bisect */

static const struct option bisect_options[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "good", required_argument, NULL, OPT_GOOD },
	{ "bad", required_argument, NULL, OPT_BAD },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

struct bisect {
	const char *store, *host, *dir;
	const char **checks;
	size_t nchecks;
	int64_t timeout_ns;
	struct cdp_store *s;       /* read-only, for instant -> seq */
	char workdir[PATH_MAX];    /* check logs, removed at the end */
	unsigned steps;
	int json;
};

static void bisect_die(struct bisect *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* The seq and newest-change instant of the view at ts. */
static void bisect_view(struct bisect *b, int64_t ts, uint64_t *seq, int64_t *view_ts)
{
	struct cdp_view *v;
	int ret = cdp_view_open(b->s, b->host, ts, &v);

	if (ret < 0) {
		char when[64];

		cdp_time_format(ts, when, sizeof(when));
		bisect_die(b, "cannot open host '%s' at %s in store '%s': %s", b->host, when, b->store,
		    cdp_strerror(ret));
	}
	*seq = cdp_view_seq(v);
	*view_ts = cdp_view_ts(v);
	cdp_view_free(v);
}

/*
 * Mounts ts on a private overlay and runs the checks until one fails.
 * Returns 1 pass, 0 fail; dies on a mount error.  why gets the failing
 * check's last output line.  The store stays open meanwhile: the children
 * only exec (cli/drill.h).
 */
static int bisect_try(struct bisect *b, int64_t ts, char *why, size_t whylen)
{
	struct drill_mount m;
	char err[1024], at[48], *extra[5], **envp, log[PATH_MAX + 64];
	struct drill_check_result r;
	size_t i;
	int pass = 1, ret;

	why[0] = '\0';
	ret = drill_mount_open(&m, b->store, b->host, b->dir, ts, NULL, NULL, err, sizeof(err));
	if (ret < 0)
		bisect_die(b, "%s", err);
	format_at(ts, at, sizeof(at));
	extra[0] = env_entry("CDPFS_ROOT", m.mountpoint);
	extra[1] = env_entry("CDPFS_HOST", b->host);
	extra[2] = env_entry("CDPFS_TIME", at);
	extra[3] = env_entry("CDPFS_REQUESTED_TIME", at);
	extra[4] = NULL;
	envp = drill_environ(extra);
	if (!envp)
		die("out of memory");
	b->steps++;
	for (i = 0; i < b->nchecks && pass && !drill_interrupted(); i++) {
		snprintf(log, sizeof(log), "%s/step-%u-check-%zu.log", b->workdir, b->steps, i + 1);
		ret = drill_run_check(b->checks[i], envp, log, b->timeout_ns, &r);
		if (ret < 0 && r.end == DRILL_CHECK_NOT_RUN) {
			snprintf(why, whylen, "cannot run the check: %s", strerror(-ret));
			pass = 0;
			break;
		}
		pass = r.end == DRILL_CHECK_EXITED && r.status == 0;
		if (!pass) {
			char *tail = drill_file_tail(log, 1);

			if (r.end == DRILL_CHECK_TIMEOUT)
				snprintf(why, whylen, "timed out");
			else
				snprintf(why, whylen, "exit %d%s%.200s", r.status,
					 tail && *tail ? ": " : "", tail ? tail : "");
			why[strcspn(why, "\n")] = '\0';
			free(tail);
		}
	}
	free(envp);
	for (i = 0; extra[i]; i++)
		free(extra[i]);
	err[0] = '\0';
	if (drill_mount_close(&m, err, sizeof(err)) < 0)
		bisect_die(b, "%s", err);
	if (drill_interrupted())
		bisect_die(b, "bisect interrupted by %s (unmounted)",
			   signal_name(drill_interrupted()));
	return pass;
}

static void bisect_cleanup(struct bisect *b)
{
	char path[PATH_MAX + 64];
	unsigned s;
	size_t i;

	for (s = 1; s <= b->steps; s++)
		for (i = 0; i < b->nchecks; i++) {
			snprintf(path, sizeof(path), "%s/step-%u-check-%zu.log", b->workdir, s, i + 1);
			unlink(path);
		}
	rmdir(b->workdir);
}

/* Closes the reader and removes the logs; safe to call twice. */
static void bisect_end(struct bisect *b)
{
	cdp_store_close(b->s);
	b->s = NULL;
	if (b->workdir[0])
		bisect_cleanup(b);
	b->workdir[0] = '\0';
}

/* die() for a bisection under way: the store is closed before exit (not
 * from an atexit handler, which runs after RocksDB's statics are gone). */
static void bisect_die(struct bisect *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void bisect_die(struct bisect *b, const char *fmt, ...)
{
	char msg[2048 + PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->workdir[0] && b->steps) {
		/* the checks' logs say why: keep them */
		size_t n = strlen(msg);

		snprintf(msg + n, sizeof(msg) - n, " (check logs kept in '%s')", b->workdir);
		b->workdir[0] = '\0';
	}
	bisect_end(b);
	die_line(msg);
}

static void bisect_step_line(struct bisect *b, unsigned n, int64_t ts, uint64_t seq, int pass,
			     const char *how, int64_t took_ns)
{
	char when[64], at[48], dur[32];

	if (b->json)
		return;
	cdp_time_format(ts, when, sizeof(when));
	format_at(ts, at, sizeof(at));
	format_seconds(took_ns, dur, sizeof(dur));
	printf("step %u: %s (%s) seq %llu: %s (%s)\n", n, when, at, (unsigned long long)seq,
	       pass ? "pass" : "fail", how ? how : dur);
	fflush(stdout);
}

int cmd_bisect(int argc, char **argv, const struct cli_cmd *self)
{
	const char *opt_store = NULL, *good_text = NULL, *bad_text = NULL;
	struct bisect b;
	char err[1024], why[512], *spec_host = NULL, *spec_dir = NULL, *spec_time = NULL, *store;
	char *spec = NULL, good_at[48], bad_at[48], when[64], when2[64];
	int64_t now, lo, hi, lo_view, hi_view, t0;
	uint64_t lo_seq, hi_seq;
	const char *tmp;
	unsigned step = 0;
	int c, ret, exact = 0;

	memset(&b, 0, sizeof(b));
	b.timeout_ns = DRILL_DEFAULT_TIMEOUT_S * 1000000000LL;
	b.checks = calloc((size_t)argc, sizeof(*b.checks));
	if (!b.checks)
		die("out of memory");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", bisect_options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			opt_store = optarg;
			break;
		case OPT_GOOD:
			good_text = optarg;
			break;
		case OPT_BAD:
			bad_text = optarg;
			break;
		case OPT_CHECK:
			if (!*optarg)
				cli_usage_error(self, "empty --check");
			b.checks[b.nchecks++] = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_duration(optarg, &b.timeout_ns) < 0)
				cli_usage_error(self, "bad --timeout '%s' (e.g. 90s, 10m, 1h; 0: none)",
						optarg);
			break;
		case OPT_JSON:
			b.json = 1;
			break;
		case 'h':
		case OPT_HELP:
			cli_usage(self, stdout, 0);
		default:
			if (optopt && optopt >= OPT_STORE)
				cli_usage_error(self, "option '%s' needs a value", argv[optind - 1]);
			cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		cli_usage_error(self, argc == optind ? "HOST needed" : "too many arguments");
	if (!good_text || !bad_text)
		cli_usage_error(self, "--good TIME and --bad TIME needed");
	if (!b.nchecks)
		cli_usage_error(self, "at least one --check CMD needed");
	/* HOST or HOST:/DIR: borrow the SPEC parser with a dummy time */
	if (asprintf(&spec, "%s@latest", argv[optind]) < 0)
		die("out of memory");
	err[0] = '\0';
	if (cdp_fs_parse_spec(spec, &spec_host, &spec_dir, &spec_time, err, sizeof(err)) < 0 ||
	    strchr(argv[optind], '@'))
		cli_usage_error(self, "bad HOST '%s' (expected HOST or HOST:/DIR, the instants "
				"go with --good and --bad)", argv[optind]);
	store = cli_store_path(opt_store);
	require_store(store);
	b.store = store;
	b.host = spec_host;
	b.dir = spec_dir;
	now = cdp_now_ns();
	lo = resolve_time(good_text, now);
	hi = resolve_time(bad_text, now);
	if (lo >= hi)
		die("--good (%s) must be before --bad (%s): bisect looks for the first bad "
		    "instant after a good one", good_text, bad_text);
	tmp = getenv("TMPDIR");
	snprintf(b.workdir, sizeof(b.workdir), "%s/cdpfs-bisect-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b.workdir))
		die("cannot make a work directory in '%s': %s", tmp && *tmp ? tmp : "/tmp",
		    strerror(errno));
	drill_signals_install();
	ret = cdp_store_open(store, CDP_STORE_READ, NULL, &b.s);
	if (ret < 0)
		bisect_die(&b, "cannot open store '%s': %s", store, cdp_strerror(ret));
	bisect_view(&b, lo, &lo_seq, &lo_view);
	bisect_view(&b, hi, &hi_seq, &hi_view);
	format_at(lo, good_at, sizeof(good_at));
	format_at(hi, bad_at, sizeof(bad_at));

	t0 = cdp_now_ns();
	if (!bisect_try(&b, lo, why, sizeof(why)))
		bisect_die(&b, "the check fails at the --good instant %s (%s): pick an "
			   "earlier good instant", good_at, why);
	bisect_step_line(&b, ++step, lo, lo_seq, 1, NULL, cdp_now_ns() - t0);
	if (lo_seq == hi_seq)
		bisect_die(&b, "--good and --bad are the same state (seq %llu: nothing "
			   "changed between them), and the check passes there",
			   (unsigned long long)lo_seq);
	t0 = cdp_now_ns();
	if (bisect_try(&b, hi, why, sizeof(why)))
		bisect_die(&b, "the check passes at the --bad instant %s: pick a later bad "
			   "instant", bad_at);
	bisect_step_line(&b, ++step, hi, hi_seq, 0, NULL, cdp_now_ns() - t0);
	/* the view at its newest change is the same state: tighten for free */
	hi = hi_view;

	while (hi - lo > 1000000000LL && !exact) {
		int64_t mid = lo + (hi - lo) / 2, mid_view;
		uint64_t mid_seq;
		int pass;

		bisect_view(&b, mid, &mid_seq, &mid_view);
		if (mid_seq == lo_seq) {
			bisect_step_line(&b, ++step, mid, mid_seq, 1, "same state as the last good "
					 "instant, not mounted", 0);
			pass = 1;
		} else if (mid_seq == hi_seq) {
			bisect_step_line(&b, ++step, mid, mid_seq, 0, "same state as the first bad "
					 "instant, not mounted", 0);
			pass = 0;
		} else {
			t0 = cdp_now_ns();
			pass = bisect_try(&b, mid, why, sizeof(why));
			bisect_step_line(&b, ++step, mid, mid_seq, pass, NULL, cdp_now_ns() - t0);
		}
		if (pass) {
			lo = mid;
			lo_seq = mid_seq;
		} else {
			hi = mid_view;
			hi_seq = mid_seq;
		}
		/* one operation apart: the first bad one is known to the ns */
		exact = hi_seq == lo_seq + 1;
	}
	exact = hi_seq == lo_seq + 1;
	if (exact)
		lo = hi - 1;   /* the state just before that operation */
	bisect_end(&b);

	format_at(lo, good_at, sizeof(good_at));
	format_at(hi, bad_at, sizeof(bad_at));
	cdp_time_format(lo, when, sizeof(when));
	cdp_time_format(hi, when2, sizeof(when2));
	if (b.json) {
		printf("{\"host\": ");
		cli_json_string(stdout, b.host);
		printf(", \"dir\": ");
		if (b.dir)
			cli_json_string(stdout, b.dir);
		else
			printf("null");
		printf(", \"last_good\": ");
		cli_json_string(stdout, when);
		printf(", \"last_good_ns\": %lld, \"last_good_seq\": %llu, \"first_bad\": ",
		       (long long)lo, (unsigned long long)lo_seq);
		cli_json_string(stdout, when2);
		printf(", \"first_bad_ns\": %lld, \"first_bad_seq\": %llu, \"exact\": %s, "
		       "\"steps\": %u}\n", (long long)hi, (unsigned long long)hi_seq,
		       exact ? "true" : "false", step);
	} else {
		printf("last good: %s (%s, seq %llu)\n", when, good_at, (unsigned long long)lo_seq);
		printf("first bad: %s (%s, seq %llu)\n", when2, bad_at, (unsigned long long)hi_seq);
		if (exact)
			printf("the change that breaks the check is the one at %s (seq %llu)\n",
			       when2, (unsigned long long)hi_seq);
	}
	if (fflush(stdout) != 0)
		die("cannot write the output");
	free(spec);
	free(spec_host);
	free(spec_dir);
	free(spec_time);
	free(store);
	free(b.checks);
	return 0;
}
