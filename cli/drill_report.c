/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_report.c - what a drill's report says, and its JSON and Markdown
 * forms (the HTML page is cli/drill_html.c; the archive, --list, --show,
 * --export and --verify are cli/drill_archive.c).  cli/cmd_drill.c runs the
 * drill and fills struct drill (cli/drill.h); nothing here forks or opens
 * the store's database.
 *
 * Sections, in this order in every form (docs/format.md, "Drill reports"):
 * basic information, participants, assets (with versions), overview (RPO
 * and RTO), pre-drill checks, steps (and each check), post-drill checks,
 * conclusion, appendix.
 *
 * One start for every figure: the drill's start, started_ns, taken when
 * `cdpfs drill` has read its command line, before it opens the store.  The
 * drill's steps are contiguous from there (each starts when the one before
 * ended), so the RTO "database answering" is the sum of the steps before
 * the answer, and a check's own figure (the postgres check prints the
 * server's start-to-ready time) is the part of one step it names.  Before
 * report format 2 the report's answering time (from the drill's start)
 * and the check's (from pg_ctl start) were shown side by side without
 * saying so: the 8 s apart were the precheck, the mount and the instant's
 * check, each opening RocksDB.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "store.h"

/* ------------------------------------------------------- the content */

const char *drill_check_result(const struct check_run *c)
{
	switch (c->r.end) {
	case DRILL_CHECK_EXITED:
		return drill_check_passed(c) ? "pass" : "fail";
	case DRILL_CHECK_TIMEOUT: return "timeout";
	case DRILL_CHECK_INTERRUPTED: return "interrupted";
	default: return "not run";
	}
}

int drill_check_passed(const struct check_run *c)
{
	if (c->r.end != DRILL_CHECK_EXITED || c->r.status != 0)
		return 0;
	return !c->expect || strcmp(c->expect, c->r.answer) == 0;
}

void drill_identity(struct drill_identity *who)
{
	struct passwd pw, *res = NULL;
	struct utsname u;
	char buf[4096];
	FILE *f;

	memset(who, 0, sizeof(*who));
	who->uid = (long long)getuid();
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(who->user, sizeof(who->user), "%s", pw.pw_name);
	else
		snprintf(who->user, sizeof(who->user), "uid %lld", who->uid);
	who->login_uid = -1;
	f = fopen("/proc/self/loginuid", "re");
	if (f) {
		long long v;

		/* 4294967295: no login session (a daemon, a container) */
		if (fscanf(f, "%lld", &v) == 1 && v >= 0 && v < 4294967295LL)
			who->login_uid = v;
		fclose(f);
	}
	if (getenv("INVOCATION_ID") && getenv("CDPFS_DRILL_UNIT"))
		snprintf(who->trigger, sizeof(who->trigger), "systemd (%s)",
			 getenv("CDPFS_DRILL_UNIT"));
	else if (getenv("INVOCATION_ID"))
		snprintf(who->trigger, sizeof(who->trigger), "systemd");
	else
		snprintf(who->trigger, sizeof(who->trigger), "command line");
	if (gethostname(who->machine, sizeof(who->machine) - 1) < 0)
		snprintf(who->machine, sizeof(who->machine), "unknown");
	if (uname(&u) == 0)
		snprintf(who->kernel, sizeof(who->kernel), "%.40s %.80s", u.sysname, u.release);
}

struct drill_step *drill_step_add(struct drill *d, const char *name, size_t check,
				  int64_t start_ns, int64_t end_ns)
{
	struct drill_step *st;

	if (d->nsteps >= DRILL_MAX_STEPS)
		return NULL;
	st = &d->steps[d->nsteps++];
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->check = check;
	st->start_ns = start_ns;
	st->end_ns = end_ns;
	return st;
}

void drill_assess_add(struct drill_assess *a, size_t *n, const char *name, const char *result,
		      const char *fmt, ...)
{
	va_list ap;

	if (*n >= DRILL_MAX_ASSESS)
		return;
	snprintf(a[*n].name, sizeof(a[*n].name), "%s", name);
	a[*n].result = result;
	va_start(ap, fmt);
	vsnprintf(a[*n].detail, sizeof(a[*n].detail), fmt, ap);
	va_end(ap);
	(*n)++;
}

long long drill_rto_answering_ms(const struct drill *d)
{
	if (!d->answering_ns || !d->started_ns)
		return -1;
	return (long long)((d->answering_ns - d->started_ns) / 1000000);
}

long long drill_rto_checks_ms(const struct drill *d)
{
	size_t i;

	if (!d->nchecks || d->ran != d->nchecks || !d->started_ns)
		return -1;
	for (i = 0; i < d->nchecks; i++)
		if (!drill_check_passed(&d->checks[i]))
			return -1;
	return (long long)((d->checks[d->nchecks - 1].r.end_ns - d->started_ns) / 1000000);
}

long long drill_rpo_ns(const struct drill *d)
{
	if (d->view_ts_ns <= 0)
		return -1;
	return (long long)(d->requested_ns - d->view_ts_ns);
}

void drill_conclude(struct drill *d)
{
	long long rto = drill_rto_answering_ms(d), rto_all = drill_rto_checks_ms(d);
	long long rpo = drill_rpo_ns(d);
	size_t i, passed = 0;
	char when[64];

	for (i = 0; i < d->ran; i++)
		passed += (size_t)drill_check_passed(&d->checks[i]);
	cdp_time_format(d->view_ts_ns > 0 ? d->view_ts_ns : d->requested_ns, when, sizeof(when));
	if (strcmp(d->result, "pass") == 0) {
		snprintf(d->conclusion, sizeof(d->conclusion),
			 "PASS: %s%s%s as of %s recovered; %zu of %zu checks passed; RTO %.1f s to "
			 "answering, %.1f s to the last check passing; RPO %.3f s; no store read "
			 "errors", d->host, d->dir ? ":" : "", d->dir ? d->dir : "", when, passed,
			 d->nchecks, (double)rto / 1e3, (double)rto_all / 1e3, (double)rpo / 1e9);
		return;
	}
	for (i = 0; i < d->ran; i++)
		if (!drill_check_passed(&d->checks[i]))
			break;
	if (strcmp(d->result, "fail") == 0 && i < d->ran && !d->read_errors.count) {
		const struct check_run *c = &d->checks[i];

		if (c->r.end == DRILL_CHECK_EXITED && c->r.status == 0 && c->expect)
			snprintf(d->conclusion, sizeof(d->conclusion), "FAIL: check %zu answered "
				 "'%.200s', expected '%.200s'", i + 1, c->r.answer, c->expect);
		else
			snprintf(d->conclusion, sizeof(d->conclusion), "FAIL: check %zu %s (exit "
				 "status %d); %zu of %zu checks passed", i + 1,
				 drill_check_result(c), c->r.status, passed, d->nchecks);
		return;
	}
	snprintf(d->conclusion, sizeof(d->conclusion), "%s: %.900s",
		 strcmp(d->result, "fail") == 0 ? "FAIL" : strcmp(d->result, "error") == 0 ?
		 "ERROR" : "INTERRUPTED", d->error[0] ? d->error : "the drill did not finish");
}

/* -------------------------------------------------------------- JSON */

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

static void json_num_or_null(FILE *out, long long v)
{
	if (v < 0)
		fputs("null", out);
	else
		fprintf(out, "%lld", v);
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

static void assess_json(FILE *out, const char *key, const struct drill_assess *a, size_t n)
{
	size_t i;

	fprintf(out, "  \"%s\": [", key);
	for (i = 0; i < n; i++) {
		fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
		cli_json_string(out, a[i].name);
		fprintf(out, ", \"result\": \"%s\", \"detail\": ", a[i].result);
		cli_json_string(out, a[i].detail);
		fputs("}", out);
	}
	fputs(n ? "\n  ],\n" : "],\n", out);
}

static void steps_json(const struct drill *d, FILE *out)
{
	size_t i;

	fputs("  \"steps\": [", out);
	for (i = 0; i < d->nsteps; i++) {
		const struct drill_step *st = &d->steps[i];

		fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
		cli_json_string(out, st->name);
		fputs(", \"check\": ", out);
		if (st->check)
			fprintf(out, "%zu", st->check);
		else
			fputs("null", out);
		fputs(", ", out);
		cli_json_time(out, "start", st->start_ns, ", ");
		fputs(", ", out);
		cli_json_time(out, "end", st->end_ns, ", ");
		fprintf(out, ", \"duration_ms\": %lld}",
			(long long)((st->end_ns - st->start_ns) / 1000000));
	}
	fputs(d->nsteps ? "\n  ],\n" : "],\n", out);
}

static void checks_json(const struct drill *d, FILE *out)
{
	size_t i;

	fputs("  \"checks\": [", out);
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
		fputs(", \"expected\": ", out);
		cli_json_string_or_null(out, c->expect);
		fputs(", \"answer\": ", out);
		if (c->r.end == DRILL_CHECK_NOT_RUN)
			fputs("null", out);
		else
			cli_json_string(out, c->r.answer);
		fputs(", \"version\": ", out);
		cli_json_string_or_null(out, c->r.version);
		fputs(", \"output_tail\": ", out);
		cli_json_string(out, c->tail ? c->tail : "");
		fputs("}", out);
	}
	fputs(d->nchecks ? "\n  ],\n" : "],\n", out);
}

void drill_report_json(const struct drill *d, FILE *out)
{
	fprintf(out, "{\n  \"format\": \"%s\",\n  \"id\": ", DRILL_REPORT_FORMAT);
	cli_json_string(out, d->id);
	fputs(",\n  \"plan\": ", out);
	cli_json_string_or_null(out, d->plan);
	fputs(",\n  \"result\": ", out);
	cli_json_string(out, d->result);
	fputs(",\n  \"conclusion\": ", out);
	cli_json_string(out, d->conclusion);
	fputs(",\n  \"error\": ", out);
	cli_json_string_or_null(out, d->error);
	read_errors_json(d, out);
	fputs(",\n  \"run_by\": {\"user\": ", out);
	cli_json_string(out, d->who.user);
	fprintf(out, ", \"uid\": %lld, \"login_uid\": ", d->who.uid);
	json_num_or_null(out, d->who.login_uid);
	fputs(", \"trigger\": ", out);
	cli_json_string(out, d->who.trigger);
	fputs(", \"responsible\": ", out);
	cli_json_string_or_null(out, d->responsible);
	fputs("},\n  \"machine\": ", out);
	cli_json_string(out, d->who.machine);
	fputs(",\n  \"versions\": {\"cdpfs\": \"" CDP_VERSION "\", \"kernel\": ", out);
	cli_json_string(out, d->who.kernel);
	fputs("},\n  \"host\": ", out);
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
	json_num_or_null(out, drill_rpo_ns(d));
	fputs(",\n  \"rpo_ns\": ", out);
	json_num_or_null(out, drill_rpo_ns(d));
	fputs(",\n  \"rto\": {\"from\": \"drill start\", \"answering_ms\": ", out);
	json_num_or_null(out, drill_rto_answering_ms(d));
	fputs(", \"checks_passed_ms\": ", out);
	json_num_or_null(out, drill_rto_checks_ms(d));
	fputs("},\n  \"capture_gap\": ", out);
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
	fprintf(out, ",\n  \"timeout_s\": %lld,\n", (long long)(d->timeout_ns / 1000000000LL));
	assess_json(out, "pre_checks", d->pre, d->npre);
	steps_json(d, out);
	checks_json(d, out);
	assess_json(out, "post_checks", d->post, d->npost);
	fputs("  \"report_files\": [\"report.json\", \"report.md\", \"report.html\"]\n}\n", out);
}

/* ---------------------------------------------------------- Markdown */

/* Markdown cells and inline code must not break the table or the span. */
static void md_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else if (*s == '`')
			fputc('\'', out);
		else
			fputc(*s, out);
	}
}

/* An indented code block: each line four spaces in. */
static void md_block(FILE *out, const char *s)
{
	const char *p;

	fputs("    ", out);
	for (p = s; *p; p++) {
		fputc(*p, out);
		if (*p == '\n' && p[1])
			fputs("    ", out);
	}
	if (p > s && p[-1] != '\n')
		fputc('\n', out);
}

static void md_time_row(FILE *out, const char *label, int64_t ts_ns)
{
	char buf[64], at[48];

	cdp_time_format(ts_ns, buf, sizeof(buf));
	cli_format_at(ts_ns, at, sizeof(at));
	fprintf(out, "| %s | %s (`%s`) |\n", label, ts_ns > 0 ? buf : "-", ts_ns > 0 ? at : "-");
}

static void md_assess(FILE *out, const struct drill_assess *a, size_t n)
{
	size_t i;

	if (!n) {
		fputs("None recorded.\n", out);
		return;
	}
	fputs("| Check | Result | Detail |\n|---|---|---|\n", out);
	for (i = 0; i < n; i++) {
		fputs("| ", out);
		md_text(out, a[i].name);
		fprintf(out, " | %s | ", a[i].result);
		md_text(out, a[i].detail);
		fputs(" |\n", out);
	}
}

static void md_seconds_or(FILE *out, long long ms, const char *none)
{
	if (ms < 0)
		fputs(none, out);
	else
		fprintf(out, "%.3f s", (double)ms / 1e3);
}

void drill_report_md(const struct drill *d, FILE *out)
{
	char buf[128], t1[64], t2[64];
	size_t i;

	fprintf(out, "# cdpfs drill %s: %s\n\n**", d->id, d->result);
	md_text(out, d->conclusion);
	fputs("**\n\n## 1. Basic information\n\n| | |\n|---|---|\n", out);
	fprintf(out, "| Drill ID | `%s` |\n| Plan | ", d->id);
	md_text(out, d->plan ? d->plan : "none (run from the command line)");
	fprintf(out, " |\n| Result | **%s** |\n| Report format | `%s` |\n| Store | ", d->result,
		DRILL_REPORT_FORMAT);
	md_text(out, d->store);
	fputs(" |\n| Time asked | `", out);
	md_text(out, d->time_text);
	fputs("` |\n", out);
	md_time_row(out, "Requested instant", d->requested_ns);
	md_time_row(out, "Exact instant mounted (newest change)", d->view_ts_ns);
	fprintf(out, "| Sequence number | %llu |\n", (unsigned long long)d->seq);
	md_time_row(out, "Drill started", d->started_ns);
	md_time_row(out, "Drill finished", d->finished_ns);
	if (d->error[0]) {
		fputs("| Error | ", out);
		md_text(out, d->error);
		fputs(" |\n", out);
	}

	fputs("\n## 2. Participants\n\n| | |\n|---|---|\n| Run by | ", out);
	md_text(out, d->who.user);
	fprintf(out, " (uid %lld", d->who.uid);
	if (d->who.login_uid >= 0)
		fprintf(out, ", login uid %lld", d->who.login_uid);
	fputs(") |\n| Trigger | ", out);
	md_text(out, d->who.trigger);
	fputs(" |\n| Responsible | ", out);
	md_text(out, d->responsible ? d->responsible : "not named (no plan)");
	fputs(" |\n| Machine | ", out);
	md_text(out, d->who.machine);
	fputs(" |\n", out);

	fputs("\n## 3. Assets\n\n| | |\n|---|---|\n", out);
	fputs("| Host | ", out);
	md_text(out, d->host);
	fputs(" |\n| Directory | ", out);
	md_text(out, d->dir ? d->dir : "every captured directory of the host");
	fputs(" |\n| cdpfs | " CDP_VERSION " |\n| Kernel | ", out);
	md_text(out, d->who.kernel);
	fputs(" |\n", out);
	for (i = 0; i < d->nchecks; i++) {
		fprintf(out, "| Check %zu runs | ", i + 1);
		md_text(out, d->checks[i].r.version[0] ? d->checks[i].r.version :
			"not told by the check");
		fputs(" |\n", out);
	}
	fprintf(out, "| Manifest SHA-256 | `%s` (%llu entries) |\n",
		d->manifest_hex[0] ? d->manifest_hex : "-",
		(unsigned long long)d->manifest_entries);

	fputs("\n## 4. Overview\n\nAll durations count from one start: the drill's start "
	      "(when `cdpfs drill` had read its command line, before it opened the store).\n\n"
	      "| | |\n|---|---|\n| RPO proven | ", out);
	if (drill_rpo_ns(d) >= 0)
		fprintf(out, "%.3f s (age of the newest captured change before the requested "
			"instant)", (double)drill_rpo_ns(d) / 1e9);
	else
		fputs("unknown (nothing was mounted)", out);
	fputs(" |\n| RTO to the database answering | ", out);
	md_seconds_or(out, drill_rto_answering_ms(d), "none (no check answered)");
	if (d->answering_by)
		fprintf(out, " (%s)", d->answering_by);
	fputs(" |\n| RTO to the last check passing | ", out);
	md_seconds_or(out, drill_rto_checks_ms(d), "none (not every check passed)");
	cli_format_seconds(d->finished_ns - d->started_ns, buf, sizeof(buf));
	fprintf(out, " |\n| Total duration | %s |\n", buf);
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

	fputs("\n## 5. Pre-drill checks\n\n", out);
	md_assess(out, d->pre, d->npre);

	fputs("\n## 6. Steps\n\nEach step of the drill starts when the one before it ended; "
	      "indented steps are those a check announced inside itself.\n\n"
	      "| Step | Start | End | Duration |\n|---|---|---|---|\n", out);
	for (i = 0; i < d->nsteps; i++) {
		const struct drill_step *st = &d->steps[i];

		cli_time_ms(st->start_ns, t1, sizeof(t1));
		cli_time_ms(st->end_ns, t2, sizeof(t2));
		fputs(st->check ? "| &nbsp;&nbsp;&nbsp;" : "| ", out);
		md_text(out, st->name);
		fprintf(out, " | %s | %s | %.3f s |\n", t1, t2,
			(double)(st->end_ns - st->start_ns) / 1e9);
	}
	for (i = 0; i < d->nchecks; i++) {
		const struct check_run *c = &d->checks[i];

		fprintf(out, "\n### Check %zu: %s\n\n", i + 1, drill_check_result(c));
		md_block(out, c->command);
		fputs("\n| | |\n|---|---|\n| Expected answer | ", out);
		if (c->expect) {
			fputc('`', out);
			md_text(out, c->expect);
			fputc('`', out);
		} else {
			fputs("exit status 0", out);
		}
		fputs(" |\n", out);
		if (c->r.end == DRILL_CHECK_NOT_RUN) {
			fputs("| Actual | not run |\n", out);
			continue;
		}
		fputs("| Actual answer | `", out);
		md_text(out, c->r.answer);
		cli_format_seconds(c->r.end_ns - c->r.start_ns, buf, sizeof(buf));
		fprintf(out, "` |\n| Exit status | %d%s |\n| Duration | %s |\n| Full output | `%s` "
			"|\n\nLast lines of output:\n\n", c->r.status, c->r.end == DRILL_CHECK_TIMEOUT ?
			" (killed at the timeout)" : "", buf, c->log_name);
		md_block(out, c->tail && *c->tail ? c->tail : "(no output)");
	}

	fputs("\n## 7. Post-drill checks\n\n", out);
	md_assess(out, d->post, d->npost);

	fputs("\n## 8. Conclusion\n\n", out);
	md_text(out, d->conclusion);
	fputs("\n\n## 9. Appendix\n\n", out);
	fprintf(out, "- Manifest: `manifest` (format `" CLI_MANIFEST_HEADER "`), SHA-256 `%s`, "
		"%llu entries: every entry of the tree as mounted (path, type, mode, owner, size, "
		"mtime, link target, xattrs, content hash), read from the index alone.\n",
		d->manifest_hex[0] ? d->manifest_hex : "-", (unsigned long long)d->manifest_entries);
	if (d->keep)
		fprintf(out, "- Overlay: kept as `%s` (`cdpfs mount -o rw,overlay=%s`).\n",
			d->overlay, d->overlay);
	else
		fputs("- Overlay: private, discarded at unmount.\n", out);
	fprintf(out, "- Timeout per check: %lld s.\n", (long long)(d->timeout_ns / 1000000000LL));
	cli_format_at(d->view_ts_ns > 0 ? d->view_ts_ns : d->requested_ns, buf, sizeof(buf));
	fprintf(out, "- The same state mounts again with `cdpfs mount %s%s%s@%s MOUNTPOINT`.\n",
		d->host, d->dir ? ":" : "", d->dir ? d->dir : "", buf);
	fprintf(out, "- Files: `report.json`, `report.md`, `report.html`, `manifest`, "
		"`mount.log`, `check-N.log`; the SHA-256 of each report is in the store's audit "
		"trail: `cdpfs drill --verify %s`.\n", d->id);
}
