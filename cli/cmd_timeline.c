/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_timeline.c - `cdpfs timeline HOST [--since T] [--until T] [--per
 * 1s|10s|1m|1h] [--json]`: activity per interval from the summary the
 * store keeps as it journals (store/activity.c): operations, bytes of data
 * blocks written, entries created, deleted and renamed, files overwritten
 * whole (cut to zero), and the anomaly score (files overwritten with
 * random data plus renames to a new extension: store/suspect.c's).
 * Intervals without operations are left out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "query.h"
#include "store.h"

enum { OPT_SINCE = 0x100, OPT_UNTIL, OPT_PER };

static const struct cli_option timeline_options[] = {
	{ NULL, 0, 0, "HOST", "the captured host" },
	{ "since", required_argument, OPT_SINCE, "--since TIME", "from TIME (default -1h)" },
	{ "until", required_argument, OPT_UNTIL, "--until TIME", "to TIME (default now)" },
	{ "per", required_argument, OPT_PER, "--per DURATION", "the interval: 1s, 10s, 1m, 1h or "
	  "any whole number of\nseconds (default 1m)" },
	CLI_OPT_JSON("one JSON object: the intervals and their counts"),
	CLI_OPT_END
};

static const char *const counter_names[CDP_ACT_COUNTERS] = {
	"ops", "bytes", "created", "deleted", "renamed", "truncated", "score"
};

struct timeline_out {
	int json;
	uint64_t n;
	uint64_t total[CDP_ACT_COUNTERS];
};

static int on_interval(void *arg, const struct cdp_activity *a)
{
	struct timeline_out *o = arg;
	char when[64];
	int i;

	for (i = 0; i < CDP_ACT_COUNTERS; i++)
		o->total[i] += a->c[i];
	if (o->json) {
		printf("%s\n  {", o->n ? "," : "");
		cli_json_time(stdout, "start", a->start_ns, ", ");
		printf(", \"seconds\": %lld", (long long)a->seconds);
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			printf(", \"%s\": %llu", counter_names[i], (unsigned long long)a->c[i]);
		fputs("}", stdout);
	} else {
		if (o->n == 0)
			printf("%-19s %10s %14s %9s %9s %9s %9s %7s\n", "START", "OPS", "BYTES",
			       "CREATED", "DELETED", "RENAMED", "TRUNCATED", "SCORE");
		cli_time_local(a->start_ns, when, sizeof(when));
		printf("%-19s", when);
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			printf(i == CDP_ACT_BYTES ? " %14llu" : i == CDP_ACT_SCORE ? " %7llu" :
			       i ? " %9llu" : " %10llu",
			       (unsigned long long)a->c[i]);
		fputc('\n', stdout);
	}
	o->n++;
	return 0;
}

static int cmd_timeline(struct cli_ctx *ctx)
{
	struct timeline_out o = { 0 };
	struct cdp_store *s = NULL;
	const char *v, *since_text = "-1h", *until_text = NULL, *store, *colon;
	int64_t now = cdp_now_ns(), since, until, per_ns = 60000000000LL;
	char err[1024];
	int opt, ret, i;

	while ((opt = cli_getopt(ctx, &v)) != -1) {
		if (opt == OPT_SINCE)
			since_text = v;
		else if (opt == OPT_UNTIL)
			until_text = v;
		else if (opt == OPT_PER && (cli_parse_duration(v, &per_ns) < 0 || per_ns <= 0 ||
					    per_ns % 1000000000))
			cli_usage_error(ctx->cmd, "bad --per '%s' (expected 1s, 10s, 1m, 1h: whole "
					"seconds)", v);
	}
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" : "missing HOST",
				ctx->nargs ? ctx->args[1] : "");
	colon = strchr(ctx->args[0], ':');
	if (colon)
		die("the activity summary is kept per host, not per directory yet: give '%.*s' "
		    "without ':%s'", (int)(colon - ctx->args[0]), ctx->args[0], colon + 1);
	since = cli_resolve_time(since_text, now);
	until = until_text ? cli_resolve_time(until_text, now) : now;
	if (since > until)
		cli_usage_error(ctx->cmd, "--since '%s' is after --until '%s'", since_text,
				until_text ? until_text : "now");
	o.json = ctx->json;
	store = cli_store_path(ctx);
	ret = cli_store_open(store, &s, err, sizeof(err));
	if (ret < 0)
		die_line(err);
	if (o.json) {
		fputs("{\"format\": \"cdpfs timeline 1\", \"host\": ", stdout);
		cli_json_string(stdout, ctx->args[0]);
		fputs(", ", stdout);
		cli_json_time(stdout, "since", since, ", ");
		fputs(", ", stdout);
		cli_json_time(stdout, "until", until, ", ");
		printf(", \"per_s\": %lld, \"intervals\": [", (long long)(per_ns / 1000000000));
	}
	ret = cdp_activity_read(s, ctx->args[0], since, until, per_ns / 1000000000, on_interval,
				&o);
	if (ret == -CDP_ENOHOST)
		cdp_errf(err, sizeof(err), "no capture of host '%s' in store '%s' (see 'cdpfs "
			 "hosts')", ctx->args[0], store);
	else if (ret < 0)
		cdp_errf(err, sizeof(err), "cannot read the activity of host '%s' in store '%s': %s",
			 ctx->args[0], store, cdp_strerror(ret));
	cdp_store_close(s);
	if (o.json) {
		printf("%s], \"totals\": {", o.n ? "\n" : "");
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			printf("%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			       (unsigned long long)o.total[i]);
		fputs("}}\n", stdout);
	} else if (ret == 0 && o.n == 0) {
		printf("no activity recorded for host '%s' in that interval\n", ctx->args[0]);
	}
	if (ret < 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_timeline = {
	.name = "timeline",
	.fn = cmd_timeline,
	.usage = "timeline [--store DIR] HOST [--since TIME] [--until TIME] [--per DURATION] "
		 "[--json]",
	.summary = "activity per interval: ops, bytes, creates, deletes, renames, score",
	.options = timeline_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
