/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_html.c - a drill's report as one HTML page (report.html, and
 * `cdpfs drill --show ID --html`): the sections of report.md in the same
 * order (cli/drill_report.c), with a timeline bar of the drill's steps.
 *
 * The page stands alone: its CSS is inline, it loads nothing (no fonts,
 * images or scripts: a Content-Security-Policy forbids them), so it reads
 * the same offline, archived, or years later; it prints on A4 or Letter
 * (print colours kept for the timeline, sections not split where a
 * browser can avoid it).  Every text from the drill (commands, output, host
 * names) is escaped, so a check's output cannot inject markup.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "store.h"

/* Text as HTML: & < > " ' escaped; bytes pass as they are (the tails are
 * already valid UTF-8, and every other string comes from the command line). */
static void h(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

static const char css[] =
	"body{font-family:sans-serif;font-size:11pt;color:#111;max-width:60em;margin:1.5em auto;"
	"padding:0 1em;line-height:1.35}"
	"h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #999;"
	"margin-top:1.4em;padding-bottom:.15em}h3{font-size:1em;margin-bottom:.3em}"
	"table{border-collapse:collapse;width:100%;margin:.4em 0}"
	"th,td{border:1px solid #bbb;padding:.2em .4em;text-align:left;vertical-align:top}"
	"th{background:#eee;width:16em}td.num{text-align:right;white-space:nowrap}"
	"code,pre{font-family:monospace;font-size:.9em}"
	"pre{background:#f6f6f6;border:1px solid #ddd;padding:.4em;white-space:pre-wrap;"
	"word-break:break-all}"
	".verdict{font-size:1.1em;font-weight:bold;padding:.4em .6em;border:2px solid}"
	".pass{color:#064;border-color:#064;background:#e8f6ee}"
	".fail,.error,.interrupted{color:#900;border-color:#900;background:#fbeaea}"
	".ok{color:#064}.warning{color:#a60}.failed{color:#900}"
	".timeline{display:flex;width:100%;height:1.6em;border:1px solid #666;margin:.5em 0 .2em}"
	".timeline div{height:100%;overflow:hidden;font-size:.75em;line-height:2.1em;"
	"text-align:center;color:#fff;white-space:nowrap;border-right:1px solid #fff}"
	".s0{background:#567}.s1{background:#2a7}.s2{background:#27a}.s3{background:#a72}"
	".s4{background:#777}.s5{background:#725}"
	".legend span{display:inline-block;margin-right:1em;font-size:.85em}"
	".legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;"
	"vertical-align:middle}"
	"td.sub{padding-left:1.6em}td.time{white-space:nowrap;font-size:.85em}"
	"@media print{body{max-width:none;margin:0;font-size:9.5pt}"
	"h2{break-after:avoid}table,pre,.timeline{break-inside:avoid}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
	"@page{margin:15mm}";

static void row(FILE *out, const char *label, const char *value)
{
	fputs("<tr><th>", out);
	h(out, label);
	fputs("</th><td>", out);
	h(out, value);
	fputs("</td></tr>\n", out);
}

static void row_time(FILE *out, const char *label, int64_t ts_ns)
{
	char buf[64], at[48], both[128];

	cdp_time_format(ts_ns, buf, sizeof(buf));
	cli_format_at(ts_ns, at, sizeof(at));
	snprintf(both, sizeof(both), "%s (%s)", buf, at);
	row(out, label, ts_ns > 0 ? both : "-");
}

static void assess(FILE *out, const struct drill_assess *a, size_t n)
{
	size_t i;

	if (!n) {
		fputs("<p>None recorded.</p>\n", out);
		return;
	}
	fputs("<table><tr><th>Check</th><th style=\"width:6em\">Result</th><th style=\"width:auto\">"
	      "Detail</th></tr>\n", out);
	for (i = 0; i < n; i++) {
		fputs("<tr><td>", out);
		h(out, a[i].name);
		fprintf(out, "</td><td class=\"%s\">%s</td><td>", a[i].result, a[i].result);
		h(out, a[i].detail);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* The colour class of a drill step by its name. */
static int step_class(const struct drill_step *st)
{
	if (strcmp(st->name, "mount") == 0)
		return 1;
	if (strncmp(st->name, "check ", 6) == 0)
		return 2;
	if (strcmp(st->name, "manifest") == 0)
		return 3;
	if (strcmp(st->name, "unmount") == 0)
		return 4;
	if (strcmp(st->name, "instant check") == 0)
		return 5;
	return 0;
}

static void timeline(const struct drill *d, FILE *out)
{
	int64_t total = d->finished_ns - d->started_ns;
	size_t i;

	if (total <= 0 || !d->nsteps)
		return;
	fputs("<div class=\"timeline\" role=\"img\" aria-label=\"timeline of the steps\">", out);
	for (i = 0; i < d->nsteps; i++) {
		const struct drill_step *st = &d->steps[i];
		double pct = 100.0 * (double)(st->end_ns - st->start_ns) / (double)total;

		if (st->check)
			continue;
		fprintf(out, "<div class=\"s%d\" style=\"width:%.3f%%\" title=\"", step_class(st),
			pct < 0 ? 0 : pct);
		h(out, st->name);
		fprintf(out, " %.3f s\">", (double)(st->end_ns - st->start_ns) / 1e9);
		if (pct >= 8)
			h(out, st->name);
		fputs("</div>", out);
	}
	fputs("</div>\n<div class=\"legend\">", out);
	for (i = 0; i < d->nsteps; i++) {
		const struct drill_step *st = &d->steps[i];

		if (st->check)
			continue;
		fprintf(out, "<span><i class=\"s%d\"></i>", step_class(st));
		h(out, st->name);
		fprintf(out, " %.3f s</span>", (double)(st->end_ns - st->start_ns) / 1e9);
	}
	fputs("</div>\n", out);
}

static void seconds(char *buf, size_t size, long long ms, const char *none)
{
	if (ms < 0)
		snprintf(buf, size, "%s", none);
	else
		snprintf(buf, size, "%.3f s", (double)ms / 1e3);
}

void drill_report_html(const struct drill *d, FILE *out)
{
	char buf[1024], t1[64], t2[64];
	size_t i;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n<title>cdpfs drill ", out);
	h(out, d->id);
	fprintf(out, ": %s</title>\n<style>%s</style></head>\n<body>\n", d->result, css);
	fputs("<h1>cdpfs drill report</h1>\n<p><code>", out);
	h(out, d->id);
	fprintf(out, "</code></p>\n<p class=\"verdict %s\">", d->result);
	h(out, d->conclusion);
	fputs("</p>\n", out);

	fputs("<h2>1. Basic information</h2>\n<table>\n", out);
	row(out, "Drill ID", d->id);
	row(out, "Plan", d->plan ? d->plan : "none (run from the command line)");
	row(out, "Result", d->result);
	row(out, "Report format", DRILL_REPORT_FORMAT);
	row(out, "Store", d->store);
	row(out, "Time asked", d->time_text);
	row_time(out, "Requested instant", d->requested_ns);
	row_time(out, "Exact instant mounted (newest change)", d->view_ts_ns);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->seq);
	row(out, "Sequence number", buf);
	row_time(out, "Drill started", d->started_ns);
	row_time(out, "Drill finished", d->finished_ns);
	if (d->error[0])
		row(out, "Error", d->error);
	fputs("</table>\n", out);

	fputs("<h2>2. Participants</h2>\n<table>\n", out);
	if (d->who.login_uid >= 0)
		snprintf(buf, sizeof(buf), "%s (uid %lld, login uid %lld)", d->who.user, d->who.uid,
			 d->who.login_uid);
	else
		snprintf(buf, sizeof(buf), "%s (uid %lld)", d->who.user, d->who.uid);
	row(out, "Run by", buf);
	row(out, "Trigger", d->who.trigger);
	row(out, "Responsible", d->responsible ? d->responsible : "not named (no plan)");
	row(out, "Machine", d->who.machine);
	fputs("</table>\n", out);

	fputs("<h2>3. Assets</h2>\n<table>\n", out);
	row(out, "Host", d->host);
	row(out, "Directory", d->dir ? d->dir : "every captured directory of the host");
	row(out, "cdpfs", CDP_VERSION);
	row(out, "Kernel", d->who.kernel);
	for (i = 0; i < d->nchecks; i++) {
		char label[32];

		snprintf(label, sizeof(label), "Check %zu runs", i + 1);
		row(out, label, d->checks[i].r.version[0] ? d->checks[i].r.version :
		    "not told by the check");
	}
	snprintf(buf, sizeof(buf), "%s (%llu entries)", d->manifest_hex[0] ? d->manifest_hex : "-",
		 (unsigned long long)d->manifest_entries);
	row(out, "Manifest SHA-256", buf);
	fputs("</table>\n", out);

	fputs("<h2>4. Overview</h2>\n<p>All durations count from one start: the drill's start "
	      "(when <code>cdpfs drill</code> had read its command line, before it opened the "
	      "store).</p>\n<table>\n", out);
	if (drill_rpo_ns(d) >= 0)
		snprintf(buf, sizeof(buf), "%.3f s (age of the newest captured change before the "
			 "requested instant)", (double)drill_rpo_ns(d) / 1e9);
	else
		snprintf(buf, sizeof(buf), "unknown (nothing was mounted)");
	row(out, "RPO proven", buf);
	seconds(t1, sizeof(t1), drill_rto_answering_ms(d), "none (no check answered)");
	snprintf(buf, sizeof(buf), "%s%s%s%s", t1, d->answering_by ? " (" : "",
		 d->answering_by ? d->answering_by : "", d->answering_by ? ")" : "");
	row(out, "RTO to the database answering", buf);
	seconds(t1, sizeof(t1), drill_rto_checks_ms(d), "none (not every check passed)");
	row(out, "RTO to the last check passing", t1);
	cli_format_seconds(d->finished_ns - d->started_ns, t1, sizeof(t1));
	row(out, "Total duration", t1);
	if (d->in_gap) {
		snprintf(buf, sizeof(buf), "not running: '%.900s' was not captured at the "
			 "instant; the tree is as last captured before it", d->gap_dir);
		row(out, "Capture at the instant", buf);
	}
	fputs("</table>\n", out);

	fputs("<h2>5. Pre-drill checks</h2>\n", out);
	assess(out, d->pre, d->npre);

	fputs("<h2>6. Steps</h2>\n", out);
	timeline(d, out);
	fputs("<table><tr><th style=\"width:auto\">Step</th><th style=\"width:auto\">Start</th>"
	      "<th style=\"width:auto\">End</th><th style=\"width:6em\">Duration</th></tr>\n", out);
	for (i = 0; i < d->nsteps; i++) {
		const struct drill_step *st = &d->steps[i];

		cli_time_ms(st->start_ns, t1, sizeof(t1));
		cli_time_ms(st->end_ns, t2, sizeof(t2));
		fprintf(out, "<tr><td%s>", st->check ? " class=\"sub\"" : "");
		h(out, st->name);
		fprintf(out, "</td><td class=\"time\">%s</td><td class=\"time\">%s</td>"
			"<td class=\"num\">%.3f s</td></tr>\n", t1, t2,
			(double)(st->end_ns - st->start_ns) / 1e9);
	}
	fputs("</table>\n", out);
	for (i = 0; i < d->nchecks; i++) {
		const struct check_run *c = &d->checks[i];

		fprintf(out, "<h3>Check %zu: <span class=\"%s\">%s</span></h3>\n<pre>", i + 1,
			drill_check_passed(c) ? "ok" : "failed", drill_check_result(c));
		h(out, c->command);
		fputs("</pre>\n<table>\n", out);
		row(out, "Expected answer", c->expect ? c->expect : "exit status 0");
		if (c->r.end == DRILL_CHECK_NOT_RUN) {
			row(out, "Actual", "not run");
			fputs("</table>\n", out);
			continue;
		}
		row(out, "Actual answer", c->r.answer);
		snprintf(buf, sizeof(buf), "%d%s", c->r.status, c->r.end == DRILL_CHECK_TIMEOUT ?
			 " (killed at the timeout)" : "");
		row(out, "Exit status", buf);
		cli_format_seconds(c->r.end_ns - c->r.start_ns, t1, sizeof(t1));
		row(out, "Duration", t1);
		row(out, "Full output", c->log_name);
		fputs("</table>\n<p>Last lines of output:</p>\n<pre>", out);
		h(out, c->tail && *c->tail ? c->tail : "(no output)");
		fputs("</pre>\n", out);
	}

	fputs("<h2>7. Post-drill checks</h2>\n", out);
	assess(out, d->post, d->npost);

	fputs("<h2>8. Conclusion</h2>\n<p class=\"verdict ", out);
	fprintf(out, "%s\">", d->result);
	h(out, d->conclusion);
	fputs("</p>\n<h2>9. Appendix</h2>\n<ul>\n<li>Manifest: <code>manifest</code> (format "
	      "<code>" CLI_MANIFEST_HEADER "</code>), SHA-256 <code>", out);
	h(out, d->manifest_hex[0] ? d->manifest_hex : "-");
	fprintf(out, "</code>, %llu entries: every entry of the tree as mounted, read from the "
		"index alone.</li>\n", (unsigned long long)d->manifest_entries);
	if (d->keep) {
		fputs("<li>Overlay: kept as <code>", out);
		h(out, d->overlay);
		fputs("</code>.</li>\n", out);
	} else {
		fputs("<li>Overlay: private, discarded at unmount.</li>\n", out);
	}
	fprintf(out, "<li>Timeout per check: %lld s.</li>\n",
		(long long)(d->timeout_ns / 1000000000LL));
	cli_format_at(d->view_ts_ns > 0 ? d->view_ts_ns : d->requested_ns, t1, sizeof(t1));
	snprintf(buf, sizeof(buf), "cdpfs mount %s%s%s@%s MOUNTPOINT", d->host, d->dir ? ":" : "",
		 d->dir ? d->dir : "", t1);
	fputs("<li>The same state mounts again with <code>", out);
	h(out, buf);
	fputs("</code>.</li>\n<li>Files: report.json, report.md, report.html, manifest, "
	      "mount.log, check-N.log; the SHA-256 of each report is in the store's audit trail: "
	      "<code>cdpfs drill --verify ", out);
	h(out, d->id);
	fputs("</code>.</li>\n</ul>\n</body></html>\n", out);
}
