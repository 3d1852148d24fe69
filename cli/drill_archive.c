/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_archive.c - the archive of drills in the store: a drill's reports
 * written next to its logs, the index line appended for it, its record in
 * the audit trail, and the readers of that archive: `cdpfs drill --list`,
 * `--show`, `--export` and `--verify`.  What the reports say is
 * cli/drill_report.c and cli/drill_html.c; nothing here forks or opens the
 * store's database.
 *
 * Archive, in the store directory (docs/format.md, "Drill reports"):
 *   STORE/drills/index          "cdpfs drill index 1", then one line per
 *                               drill: ID HOST REQUESTED_NS MOUNTED_NS SEQ
 *                               RESULT DURATION_MS STARTED_NS MANIFEST_SHA256,
 *                               and since report format 2 PLAN USER UID
 *                               MACHINE RPO_NS RTO_ANSWERING_MS RTO_CHECKS_MS
 *                               ("-" and -1 for none), tab-separated,
 *                               appended under flock
 *   STORE/drills/ID/report.json, report.md, report.html, manifest,
 *                   check-N.log, mount.log
 * ID is the UTC start "20261201T203455Z", the host and 4 random hex digits.
 * Each report is written to NAME.tmp, fsync'ed and renamed, so a report is
 * whole or absent; the index line comes after all three, the audit record
 * (action "drill", with the SHA-256 of each report) last.  A reader skips
 * an index line without nine fields (a reader of nine fields, older cdpfs,
 * ignores the seven that follow) and refuses an index whose first line is
 * not the one above.  The keys of report.json are listed in
 * docs/format.md; tests/golden/drill/ holds their shape.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "util/util.h"
#include "audit.h"
#include "store.h"

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
	snprintf(line, sizeof(line), "%s\t%s\t%lld\t%lld\t%llu\t%s\t%lld\t%lld\t%s"
		 "\t%s\t%s\t%lld\t%s\t%lld\t%lld\t%lld\n", d->id,
		 d->host, (long long)d->requested_ns, (long long)d->view_ts_ns,
		 (unsigned long long)d->seq, d->result,
		 (long long)((d->finished_ns - d->started_ns) / 1000000),
		 (long long)d->started_ns, d->manifest_hex[0] ? d->manifest_hex : "-",
		 d->plan ? d->plan : "-", d->who.user[0] ? d->who.user : "-", d->who.uid,
		 d->who.machine[0] ? d->who.machine : "-", drill_rpo_ns(d),
		 drill_rto_answering_ms(d), drill_rto_checks_ms(d));
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

static const char *const report_files[] = { "report.json", "report.md", "report.html" };
static void (*const report_writers[])(const struct drill *, FILE *) = {
	drill_report_json, drill_report_md, drill_report_html,
};
#define NREPORTS (sizeof(report_files) / sizeof(report_files[0]))

int drill_report_archive(const struct drill *d, char *audit_err, size_t errlen)
{
	char hex[NREPORTS][65], *args;
	size_t i;
	int ret = 0;

	audit_err[0] = '\0';
	for (i = 0; i < NREPORTS && ret == 0; i++) {
		char *path = cli_path_join(d->dir_path, report_files[i]);

		ret = write_file(path, d, report_writers[i]);
		if (ret == 0)
			ret = cdp_audit_file_sha256(path, hex[i]);
		free(path);
	}
	if (ret == 0)
		ret = append_index(d);
	if (ret < 0)
		return ret;
	args = cli_strfmt("id=%s plan=%s host=%s%s%s instant=@%lld.%09lld seq=%llu "
			  "report.json=%s report.md=%s report.html=%s manifest=%s", d->id,
			  d->plan ? d->plan : "-", d->host, d->dir ? " dir=" : "", d->dir ? d->dir : "",
			  (long long)(d->view_ts_ns / 1000000000), (long long)(d->view_ts_ns % 1000000000),
			  (unsigned long long)d->seq, hex[0], hex[1], hex[2],
			  d->manifest_hex[0] ? d->manifest_hex : "-");
	ret = cdp_audit_record(d->store, "drill", args, d->result);
	if (ret < 0)
		cdp_errf(audit_err, errlen, "cannot record drill %s in the audit trail of '%s': %s",
			 d->id, d->store, cdp_strerror(ret));
	free(args);
	return 0;
}

/* ---------------------------------------------------- list and show */

int drill_index_parse_line(char *line, struct drill_index_row *r)
{
	char *f[16], *save = NULL, *p;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	for (p = strtok_r(line, "\t", &save); p && n < 16; p = strtok_r(NULL, "\t", &save))
		f[n++] = p;
	if (n < 9)
		return -EINVAL;
	snprintf(r->id, sizeof(r->id), "%s", f[0]);
	snprintf(r->host, sizeof(r->host), "%s", f[1]);
	r->requested_ns = strtoll(f[2], NULL, 10);
	r->mounted_ns = strtoll(f[3], NULL, 10);
	r->seq = strtoull(f[4], NULL, 10);
	snprintf(r->result, sizeof(r->result), "%s", f[5]);
	r->duration_ms = strtoll(f[6], NULL, 10);
	r->started_ns = strtoll(f[7], NULL, 10);
	snprintf(r->plan, sizeof(r->plan), "%s", n == 16 ? f[9] : "-");
	snprintf(r->user, sizeof(r->user), "%s", n == 16 ? f[10] : "-");
	r->uid = n == 16 ? strtoll(f[11], NULL, 10) : -1;
	snprintf(r->machine, sizeof(r->machine), "%s", n == 16 ? f[12] : "-");
	r->rpo_ns = n == 16 ? strtoll(f[13], NULL, 10) : -1;
	r->rto_answering_ms = n == 16 ? strtoll(f[14], NULL, 10) : -1;
	r->rto_checks_ms = n == 16 ? strtoll(f[15], NULL, 10) : -1;
	return 0;
}

struct drill_index_row *drill_index_load(const char *store, const char *host, size_t *count)
{
	char *index, line[4096];
	struct drill_index_row *rows = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	index = cli_path_join(store, "drills/index");
	f = fopen(index, "re");
	if (!f && errno != ENOENT)
		die("cannot read '%s': %s", index, strerror(errno));
	if (f) {
		if (!fgets(line, sizeof(line), f) ||
		    strcmp(line, DRILL_INDEX_HEADER "\n") != 0)
			die("'%s' is not a drill index this cdpfs reads (expected '%s')", index,
			    DRILL_INDEX_HEADER);
		while (fgets(line, sizeof(line), f)) {
			struct drill_index_row *grown = cdp_array_reserve(rows, &cap, n + 1, sizeof(*rows), 64);

			if (!grown)
				die("out of memory");
			rows = grown;
			if (drill_index_parse_line(line, &rows[n]) == 0 &&
			    (!host || strcmp(rows[n].host, host) == 0))
				n++;
		}
		fclose(f);
	}
	free(index);
	*count = n;
	return rows;
}

int drill_list(const char *store, const char *host, int json)
{
	char when[64], inst[64], dur[32];
	struct drill_index_row *rows, *last;
	size_t n = 0, i, j, shown = 0;

	rows = drill_index_load(store, host, &n);
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
		printf("%-40s  %-12s  %-29s  %-11s  %s\n", "ID", "HOST", "INSTANT", "RESULT",
		       "DURATION");
		for (i = 0; i < n; i++) {
			cli_time_ms(rows[i].mounted_ns ? rows[i].mounted_ns : rows[i].requested_ns,
				      inst, sizeof(inst));
			cli_format_seconds(rows[i].duration_ms * 1000000LL, dur, sizeof(dur));
			printf("%-40s  %-12s  %-29s  %-11s  %s\n", rows[i].id, rows[i].host, inst,
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
		cli_time_ms(last->started_ns, when, sizeof(when));
		cli_time_ms(last->mounted_ns, inst, sizeof(inst));
		printf("  %-12s  %s (drill %s, state as of %s)\n", rows[i].host, when, last->id,
		       inst);
	}
	if (json)
		printf("%s}}\n", shown ? "\n" : "");
	free(rows);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

static void check_id(const char *id)
{
	if (!*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		die("bad drill ID '%s' (see 'cdpfs drill --list')", id);
}

int drill_show(const char *store, const char *id, const char *format)
{
	char *path, buf[65536];
	size_t n;
	FILE *f;

	check_id(id);
	path = cli_strfmt("%s/drills/%s/report.%s", store, id, format);
	f = fopen(path, "re");
	if (!f) {
		struct stat st;
		char *dir = cli_strfmt("%s/drills/%s", store, id);

		if (errno == ENOENT && stat(dir, &st) < 0)
			die("no drill '%s' in store '%s' (see 'cdpfs drill --list')", id, store);
		if (errno == ENOENT)
			die("drill '%s' has no report.%s (archived by an older cdpfs; see its "
			    "report.md)", id, format);
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

/* ------------------------------------------------------------ export */

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or newline. */
static void csv_field(const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	fputs(last ? "\r\n" : ",", stdout);
}

static void fmt_ms_s(char *buf, size_t size, long long ms)
{
	if (ms < 0)
		buf[0] = '\0';
	else
		snprintf(buf, size, "%.3f", (double)ms / 1e3);
}

int drill_export(const char *store, int64_t since_ns, int csv)
{
	struct drill_index_row *rows;
	size_t n, i, shown = 0;

	rows = drill_index_load(store, NULL, &n);
	if (csv)
		fputs("id,plan,host,result,started,finished,requested,mounted,seq,rpo_s,"
		      "rto_answering_s,rto_checks_s,user,uid,machine,report\r\n", stdout);
	else
		{ fputs("{\"store\": ", stdout); cli_json_string(stdout, store); printf(", \"since_ns\": %lld, \"drills\": [", (long long)since_ns); }
	for (i = 0; i < n; i++) {
		const struct drill_index_row *r = &rows[i];
		int64_t finished = r->started_ns + r->duration_ms * 1000000LL;
		char started[64], fin[64], req[64], mnt[64], num[32], a[32], b[32], c[32];
		char *report;

		if (r->started_ns < since_ns)
			continue;
		cdp_time_format(r->started_ns, started, sizeof(started));
		cdp_time_format(finished, fin, sizeof(fin));
		cdp_time_format(r->requested_ns, req, sizeof(req));
		if (r->mounted_ns > 0)
			cdp_time_format(r->mounted_ns, mnt, sizeof(mnt));
		else
			mnt[0] = '\0';
		report = cli_strfmt("%s/drills/%s/report.json", store, r->id);
		if (r->rpo_ns >= 0)
			snprintf(a, sizeof(a), "%.3f", (double)r->rpo_ns / 1e9);
		else
			a[0] = '\0';
		fmt_ms_s(b, sizeof(b), r->rto_answering_ms);
		fmt_ms_s(c, sizeof(c), r->rto_checks_ms);
		if (csv) {
			csv_field(r->id, 0);
			csv_field(strcmp(r->plan, "-") ? r->plan : "", 0);
			csv_field(r->host, 0);
			csv_field(r->result, 0);
			csv_field(started, 0);
			csv_field(fin, 0);
			csv_field(req, 0);
			csv_field(mnt, 0);
			snprintf(num, sizeof(num), "%llu", r->seq);
			csv_field(num, 0);
			csv_field(a, 0);
			csv_field(b, 0);
			csv_field(c, 0);
			csv_field(strcmp(r->user, "-") ? r->user : "", 0);
			if (r->uid >= 0)
				snprintf(num, sizeof(num), "%lld", r->uid);
			else
				num[0] = '\0';
			csv_field(num, 0);
			csv_field(strcmp(r->machine, "-") ? r->machine : "", 0);
			csv_field(report, 1);
		} else {
			printf("%s\n  {\"id\": ", shown ? "," : "");
			cli_json_string(stdout, r->id);
			fputs(", \"plan\": ", stdout);
			cli_json_string_or_null(stdout, strcmp(r->plan, "-") ? r->plan : NULL);
			fputs(", \"host\": ", stdout);
			cli_json_string(stdout, r->host);
			printf(", \"result\": \"%s\", ", r->result);
			cli_json_time(stdout, "started", r->started_ns, ", ");
			fputs(", ", stdout);
			cli_json_time(stdout, "finished", finished, ", ");
			fputs(", ", stdout);
			cli_json_time(stdout, "requested", r->requested_ns, ", ");
			fputs(", ", stdout);
			cli_json_time(stdout, "mounted", r->mounted_ns, ", ");
			printf(", \"seq\": %llu, \"rpo_ns\": ", r->seq);
			if (r->rpo_ns >= 0)
				printf("%lld", r->rpo_ns);
			else
				fputs("null", stdout);
			fputs(", \"rto_answering_ms\": ", stdout);
			if (r->rto_answering_ms >= 0)
				printf("%lld", r->rto_answering_ms);
			else
				fputs("null", stdout);
			fputs(", \"rto_checks_ms\": ", stdout);
			if (r->rto_checks_ms >= 0)
				printf("%lld", r->rto_checks_ms);
			else
				fputs("null", stdout);
			fputs(", \"user\": ", stdout);
			cli_json_string_or_null(stdout, strcmp(r->user, "-") ? r->user : NULL);
			fputs(", \"uid\": ", stdout);
			if (r->uid >= 0)
				printf("%lld", r->uid);
			else
				fputs("null", stdout);
			fputs(", \"machine\": ", stdout);
			cli_json_string_or_null(stdout, strcmp(r->machine, "-") ? r->machine : NULL);
			fputs(", \"report\": ", stdout);
			cli_json_string(stdout, report);
			fputs("}", stdout);
		}
		shown++;
		free(report);
	}
	if (!csv)
		printf("%s]}\n", shown ? "\n" : "");
	free(rows);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

/* ------------------------------------------------------------ verify */

struct find_drill {
	const char *id;
	struct cdp_audit_rec rec;
	int found;
};

/* The value of key= in a record's "key=value key=value" arguments into
 * out; 0, or -ENOENT. */
static int arg_value(const char *args, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			snprintf(out, size, "%.*s", (int)strcspn(p, " "), p);
			return 0;
		}
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return -ENOENT;
}

static int find_drill_cb(void *arg, const struct cdp_audit_rec *r)
{
	struct find_drill *f = arg;
	char id[160];

	if (strcmp(r->action, "drill") == 0 && arg_value(r->args, "id", id, sizeof(id)) == 0 &&
	    strcmp(id, f->id) == 0) {
		f->rec = *r;
		f->found = 1;
	}
	return 0;
}

static void count_problem(void *arg, uint64_t line, uint64_t n, const char *what)
{
	(*(int *)arg)++;
}

int drill_verify(const char *store, const char *id)
{
	struct find_drill *f = calloc(1, sizeof(*f));
	char when[64], want[80], got[65], *path;
	uint64_t records;
	size_t i;
	int ret, bad = 0, chain_problems = 0;
	struct stat st;

	if (!f)
		die("out of memory");
	check_id(id);
	path = cli_strfmt("%s/drills/%s", store, id);
	if (stat(path, &st) < 0)
		die("no drill '%s' in store '%s' (see 'cdpfs drill --list')", id, store);
	free(path);
	f->id = id;
	ret = cdp_audit_read(store, find_drill_cb, f);
	if (ret < 0)
		die("cannot read the audit trail of store '%s': %s", store, cdp_strerror(ret));
	if (!f->found)
		die("the audit trail of store '%s' has no record of drill '%s' (archived before "
		    "the trail existed, or the record was removed: see 'cdpfs audit --verify')",
		    store, id);
	cdp_time_format(f->rec.ts_ns, when, sizeof(when));
	printf("drill %s: audit record %llu (%s, by %s, uid %lld, on %s)\n", id,
	       (unsigned long long)f->rec.n, when, f->rec.user, f->rec.uid, f->rec.machine);
	for (i = 0; i < NREPORTS; i++) {
		path = cli_strfmt("%s/drills/%s/%s", store, id, report_files[i]);
		if (arg_value(f->rec.args, report_files[i], want, sizeof(want)) < 0) {
			printf("  %-12s  not in the record\n", report_files[i]);
			bad = 1;
		} else if ((ret = cdp_audit_file_sha256(path, got)) < 0) {
			printf("  %-12s  MISSING or unreadable: %s\n", report_files[i], cdp_strerror(ret));
			bad = 1;
		} else if (strcmp(want, got) != 0) {
			printf("  %-12s  CHANGED since it was written (SHA-256 %s, recorded %s)\n",
			       report_files[i], got, want);
			bad = 1;
		} else {
			printf("  %-12s  as written (SHA-256 %s)\n", report_files[i], got);
		}
		free(path);
	}
	ret = cdp_audit_verify(store, count_problem, NULL, &chain_problems, &records, NULL);
	if (ret != 0) {
		printf("the audit trail itself does not verify (%s): see 'cdpfs audit --verify'\n",
		       ret < 0 ? cdp_strerror(ret) : "problems found");
		bad = 1;
	} else {
		printf("the audit trail's chain is intact (%llu records)\n",
		       (unsigned long long)records);
	}
	printf("%s\n", bad ? "NOT VERIFIED: the archive is not the one written" :
	       "verified: the archived reports are the ones written");
	free(f);
	fflush(stdout);
	return bad ? 1 : 0;
}
