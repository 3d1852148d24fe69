/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_timeline.c - `cdpfs timeline HOST[:DIR] [--since T] [--until T] [--per
 * 1s|10s|1m|1h] [--json]`: activity per interval from the summary the
 * store keeps as it journals (store/activity.c): operations, bytes of data
 * blocks written, entries created, deleted and renamed, files overwritten
 * whole (cut to zero), and the anomaly score (files overwritten with
 * random data plus renames to a new extension: store/suspect.c's).
 * Intervals without operations are left out.  With :DIR, one protected
 * directory's (a root of the host, as `cdpfs hosts` lists them).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "query.h"
#include "store.h"

enum { OPT_SINCE = 0x100, OPT_UNTIL, OPT_PER };

static const struct cli_option timeline_options[] = {
	{ NULL, 0, 0, "HOST[:DIR]", "the captured host, or one of its protected directories" },
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

/* The root id of dir (a protected directory of host), or a die() naming
 * the host's directories. */
static uint32_t root_of(struct cdp_store *s, const char *store, const char *host,
			const char *dir)
{
	struct cdp_host_info *hosts = NULL;
	char list[1024] = "", canon[PATH_MAX];
	size_t n = 0, i, j, o = 0, len = strlen(dir);
	uint32_t id = 0;
	int ret, found = 0;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0)
		die("cannot list the hosts of store '%s': %s", store, cdp_strerror(ret));
	for (i = 0; i < n; i++) {
		if (strcmp(hosts[i].name, host) != 0)
			continue;
		found = 1;
		for (j = 0; j < hosts[i].nroots; j++) {
			const char *p = hosts[i].roots[j].path;

			if (strlen(p) == len && strncmp(p, dir, len) == 0)
				id = hosts[i].roots[j].root_id;
			if (o < sizeof(list))
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "",
						      p);
		}
	}
	cdp_host_info_free(hosts, n);
	if (!found)
		die("no capture of host '%s' in store '%s' (see 'cdpfs hosts')", host, store);
	if (!id && realpath(dir, canon) && strcmp(canon, dir) != 0)
		return root_of(s, store, host, canon);   /* a path that resolves to one */
	if (!id)
		die("'%.*s' is not a protected directory of host '%s' in store '%s' (%s%s)",
		    (int)len, dir, host, store, o ? "its directories: " : "no directory",
		    list);
	return id;
}

static int cmd_timeline(struct cli_ctx *ctx)
{
	struct timeline_out o = { 0 };
	struct cdp_store *s = NULL;
	const char *v, *since_text = "-1h", *until_text = NULL, *store, *colon;
	int64_t now = cdp_now_ns(), since, until, per_ns = 60000000000LL;
	char err[1024], host[256];
	const char *dir = NULL;
	uint32_t root = 0;
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
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - ctx->args[0]) : 255,
		 ctx->args[0]);
	if (colon) {
		dir = colon + 1;
		if (dir[0] != '/')
			cli_usage_error(ctx->cmd, "bad '%s': DIR must be an absolute path (a "
					"protected directory, as 'cdpfs hosts' lists them)",
					ctx->args[0]);
	}
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
	if (dir)
		root = root_of(s, store, host, dir);
	if (o.json) {
		fputs("{\"format\": \"cdpfs timeline 1\", \"host\": ", stdout);
		cli_json_string(stdout, host);
		fputs(", \"dir\": ", stdout);
		if (dir)
			cli_json_string(stdout, dir);
		else
			fputs("null", stdout);
		fputs(", ", stdout);
		cli_json_time(stdout, "since", since, ", ");
		fputs(", ", stdout);
		cli_json_time(stdout, "until", until, ", ");
		printf(", \"per_s\": %lld, \"intervals\": [", (long long)(per_ns / 1000000000));
	}
	ret = cdp_activity_read(s, host, root, since, until, per_ns / 1000000000, on_interval,
				&o);
	if (ret == -CDP_ENOHOST)
		cdp_errf(err, sizeof(err), "no capture of host '%s' in store '%s' (see 'cdpfs "
			 "hosts')", host, store);
	else if (ret < 0)
		cdp_errf(err, sizeof(err), "cannot read the activity of '%s' in store '%s': %s",
			 ctx->args[0], store, cdp_strerror(ret));
	cdp_store_close(s);
	if (o.json) {
		printf("%s], \"totals\": {", o.n ? "\n" : "");
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			printf("%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			       (unsigned long long)o.total[i]);
		fputs("}}\n", stdout);
	} else if (ret == 0 && o.n == 0) {
		printf("no activity recorded for '%s' in that interval\n", ctx->args[0]);
	}
	if (ret < 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_timeline = {
	.name = "timeline",
	.fn = cmd_timeline,
	.usage = "timeline [--store DIR] HOST[:DIR] [--since TIME] [--until TIME] [--per DURATION] "
		 "[--json]",
	.summary = "activity per interval: ops, bytes, creates, deletes, renames, score",
	.options = timeline_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
