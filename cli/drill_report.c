/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_report.c - the archive of drills in the store: a drill's report as
 * JSON and as Markdown, written next to its logs, the index line appended
 * for it, and the readers of that archive, `cdpfs drill --list` and
 * `--show`.  cli/cmd_drill.c runs the drill and fills struct drill
 * (cli/drill.h); nothing here forks or opens the store's database.
 *
 * Archive, in the store directory (docs/format.md, "Drill reports"):
 *   STORE/drills/index          "cdpfs drill index 1", then one line per
 *                               drill: ID HOST REQUESTED_NS MOUNTED_NS SEQ
 *                               RESULT DURATION_MS STARTED_NS MANIFEST_SHA256,
 *                               tab-separated, appended under flock
 *   STORE/drills/ID/report.json, report.md, manifest, check-N.log, mount.log
 * ID is the UTC start "20261201T203455Z", the host and 4 random hex digits.
 * report.json and report.md are written to NAME.tmp, fsync'ed and renamed,
 * so a report is whole or absent; the index line comes after both.  A
 * reader skips an index line without nine fields and refuses an index whose
 * first line is not the one above.  The keys of report.json are listed in
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
#include "store.h"

/* ------------------------------------------------------------ reports */

const char *drill_check_result(const struct check_run *c)
{
	switch (c->r.end) {
	case DRILL_CHECK_EXITED: return c->r.status == 0 ? "pass" : "fail";
	case DRILL_CHECK_TIMEOUT: return "timeout";
	case DRILL_CHECK_INTERRUPTED: return "interrupted";
	default: return "not run";
	}
}

/* One key a line, indented. */
static void json_time(FILE *out, const char *key, int64_t ts_ns)
{
	fputs("  ", out);
	cli_json_time(out, key, ts_ns, ",\n  ");
	fputs(",\n", out);
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

/* "read_errors": {"count", "first", "paths": [...]}: EIO replies of the
 * drill's mount; count 0, first null and paths [] when it read all well. */
static void read_errors_json(const struct drill *d, FILE *out)
{
	const struct drill_read_errors *re = &d->read_errors;
	char buf[sizeof(re->paths)], *p, *tab;
	int n = 0;

	fprintf(out, ",\n  \"read_errors\": {\"count\": %llu, \"first\": ",
		(unsigned long long)re->count);
	cli_json_string_or_null(out, re->first);
	fputs(", \"paths\": [", out);
	snprintf(buf, sizeof(buf), "%s", re->paths);
	for (p = buf; *p; p = tab + 1) {
		tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
		fputs(n++ ? ", " : "", out);
		cli_json_string(out, p);
		if (!tab)
			break;
	}
	fputs("]}", out);
}

void drill_report_json(const struct drill *d, FILE *out)
{
	size_t i;

	fprintf(out, "{\n  \"format\": \"%s\",\n  \"id\": ", DRILL_REPORT_FORMAT);
	cli_json_string(out, d->id);
	fputs(",\n  \"result\": ", out);
	cli_json_string(out, d->result);
	fputs(",\n  \"error\": ", out);
	cli_json_string_or_null(out, d->error);
	read_errors_json(d, out);
	fputs(",\n  \"host\": ", out);
	cli_json_string(out, d->host);
	fputs(",\n  \"dir\": ", out);
	cli_json_string_or_null(out, d->dir);
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
	cli_json_string_or_null(out, d->answering_by);
	fputs(",\n  \"manifest\": {\"format\": \"" CLI_MANIFEST_HEADER "\", \"file\": \"manifest\", "
	      "\"sha256\": ", out);
	cli_json_string_or_null(out, d->manifest_hex);
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
	cli_json_string_or_null(out, d->unmount_error);
	fprintf(out, ",\n  \"timeout_s\": %lld,\n  \"checks\": [",
		(long long)(d->timeout_ns / 1000000000LL));
	for (i = 0; i < d->nchecks; i++) {
		const struct check_run *c = &d->checks[i];

		fprintf(out, "%s\n    {\"n\": %zu, \"command\": ", i ? "," : "", i + 1);
		cli_json_string(out, c->command);
		fputs(", \"result\": ", out);
		cli_json_string(out, drill_check_result(c));
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
	cli_format_at(ts_ns, at, sizeof(at));
	fprintf(out, "| %s | %s (`%s`) |\n", label, ts_ns > 0 ? buf : "-", ts_ns > 0 ? at : "-");
}

void drill_report_md(const struct drill *d, FILE *out)
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
	cli_format_seconds(d->finished_ns - d->started_ns, buf, sizeof(buf));
	fprintf(out, "| Total duration | %s |\n", buf);
	if (d->mounted_ns) {
		cli_format_seconds(d->mounted_ns - d->started_ns, buf, sizeof(buf));
		fprintf(out, "| Mounted after | %s |\n", buf);
	}
	if (d->answering_ns) {
		cli_format_seconds(d->answering_ns - d->started_ns, buf, sizeof(buf));
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
	if (d->read_errors.count) {
		fprintf(out, "| Store read errors | %llu; first: ",
			(unsigned long long)d->read_errors.count);
		md_text(out, d->read_errors.first[0] ? d->read_errors.first : "EIO");
		fputs("; files: ", out);
		md_text(out, d->read_errors.paths[0] ? d->read_errors.paths : "not named");
		fputs(" |\n", out);
	} else {
		fputs("| Store read errors | none |\n", out);
	}
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

		fprintf(out, "\n### %zu. %s\n\n    ", i + 1, drill_check_result(c));
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
		cli_format_seconds(c->r.end_ns - c->r.start_ns, buf, sizeof(buf));
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
	cli_format_at(d->view_ts_ns > 0 ? d->view_ts_ns : d->requested_ns, buf, sizeof(buf));
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

int drill_report_archive(const struct drill *d)
{
	char *json_path = cli_path_join(d->dir_path, "report.json");
	char *md_path = cli_path_join(d->dir_path, "report.md");
	int ret;

	ret = write_file(json_path, d, drill_report_json);
	if (ret == 0)
		ret = write_file(md_path, d, drill_report_md);
	if (ret == 0)
		ret = append_index(d);
	free(json_path);
	free(md_path);
	return ret;
}

/* ---------------------------------------------------- list and show */

int drill_index_parse_line(char *line, struct drill_index_row *r)
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

int drill_list(const char *store, const char *host, int json)
{
	char *index, line[2048], when[32], inst[32], dur[32];
	struct drill_index_row *rows = NULL, *last;
	size_t n = 0, cap = 0, i, j, shown = 0;
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
			cli_format_seconds(rows[i].duration_ms * 1000000LL, dur, sizeof(dur));
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

int drill_show(const char *store, const char *id, int json)
{
	char *path, buf[65536];
	size_t n;
	FILE *f;

	if (!*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		die("bad drill ID '%s' (see 'cdpfs drill --list')", id);
	path = cli_strfmt("%s/drills/%s/%s", store, id, json ? "report.json" : "report.md");
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
