/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_log.c - `cdpfs log HOST:PATH [--since T] [--until T] [--json]`: every
 * version of one file, from the index alone (store/filelog.c, contract in
 * query.h): instant, seq, what changed, size after, blocks changed, and the
 * path (from -> to for a rename).  The file is the one at PATH at --until
 * (default now), or the last one there before: a deleted file's history
 * ends with its deletion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "query.h"
#include "store.h"

enum { OPT_SINCE = 0x100, OPT_UNTIL };

static const struct cli_option log_options[] = {
	{ NULL, 0, 0, "HOST:PATH", "the file (an absolute path of the host; it may no\n"
	  "longer exist)" },
	{ "since", required_argument, OPT_SINCE, "--since TIME", "only versions at or after "
	  "TIME" },
	{ "until", required_argument, OPT_UNTIL, "--until TIME", "only versions at or before "
	  "TIME; PATH names the file\nthere at TIME" },
	CLI_OPT_JSON("one JSON object: the file and its versions"),
	CLI_OPT_END
};

static const char *const what_names[] = {
	"create", "write", "truncate", "rename", "chmod", "chown", "utimens", "xattr", "link",
	"unlink", "delete", "extend", "baseline"
};

struct log_out {
	int json;
	uint64_t n;
};

static void print_what(unsigned what, int json)
{
	size_t i;
	int first = 1;

	for (i = 0; i < sizeof(what_names) / sizeof(what_names[0]); i++) {
		if (!(what & (1u << i)))
			continue;
		printf(json ? "%s\"%s\"" : "%s%s", first ? "" : json ? ", " : ",", what_names[i]);
		first = 0;
	}
	if (first && !json)
		fputs("attr", stdout);
}

static int on_version(void *arg, const struct cdp_file_version *v)
{
	struct log_out *o = arg;
	char when[64];

	if (o->json) {
		printf("%s\n  {\"seq\": %llu, ", o->n ? "," : "", (unsigned long long)v->seq);
		cli_json_time(stdout, "time", v->ts_ns, ", ");
		fputs(", \"what\": [", stdout);
		print_what(v->what, 1);
		printf("], \"size\": %llu, \"blocks_changed\": %llu, \"path\": ",
		       (unsigned long long)v->size, (unsigned long long)v->blocks_changed);
		cli_json_string_or_null(stdout, v->path);
		fputs(", \"from\": ", stdout);
		cli_json_string_or_null(stdout, v->from);
		fputs(", \"to\": ", stdout);
		cli_json_string_or_null(stdout, v->to);
		fputs("}", stdout);
	} else {
		cdp_time_format(v->ts_ns, when, sizeof(when));
		printf("%s %8llu  ", when, (unsigned long long)v->seq);
		print_what(v->what, 0);
		printf("  size %llu  blocks %llu  ", (unsigned long long)v->size,
		       (unsigned long long)v->blocks_changed);
		if (v->from && v->to) {
			cli_print_path(stdout, v->from);
			fputs(" -> ", stdout);
			cli_print_path(stdout, v->to);
		} else if (v->path) {
			cli_print_path(stdout, v->path);
		}
		fputc('\n', stdout);
	}
	o->n++;
	return 0;
}

static int cmd_log(struct cli_ctx *ctx)
{
	struct cli_query_spec q;
	struct log_out o = { 0 };
	struct cdp_store *s = NULL;
	const char *v, *since_text = NULL, *until_text = NULL, *store;
	int64_t now = cdp_now_ns(), since = 0, until = CDP_TS_LATEST, op_ts;
	uint64_t since_seq = 0, until_seq = CDP_SEQ_LATEST, seq, fid = 0;
	char err[1024];
	int opt, ret;

	while ((opt = cli_getopt(ctx, &v)) != -1) {
		if (opt == OPT_SINCE)
			since_text = v;
		else if (opt == OPT_UNTIL)
			until_text = v;
	}
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" : "missing "
				"HOST:PATH", ctx->nargs ? ctx->args[1] : "");
	cli_query_operand(ctx->cmd, ctx->args[0], 0, &q);
	if (since_text)
		since = cli_resolve_time(since_text, now);
	if (until_text && strcmp(until_text, "latest") != 0)
		until = cli_resolve_time(until_text, now);
	if (until != CDP_TS_LATEST && since > until)
		cli_usage_error(ctx->cmd, "--since '%s' is after --until '%s'", since_text,
				until_text);
	o.json = ctx->json;
	store = cli_store_path(ctx);
	ret = cli_store_open(store, &s, err, sizeof(err));
	if (ret < 0)
		die_line(err);
	if (since_text) {
		ret = cdp_host_seq_at(s, q.host, since - 1, &seq, &op_ts);
		since_seq = seq + 1;
	}
	if (ret == 0 && until != CDP_TS_LATEST) {
		ret = cdp_host_seq_at(s, q.host, until, &until_seq, &op_ts);
	}
	if (ret == 0 && o.json) {
		fputs("{\"format\": \"cdpfs log 1\", \"host\": ", stdout);
		cli_json_string(stdout, q.host);
		fputs(", \"path\": ", stdout);
		cli_json_string(stdout, q.path);
		fputs(", \"versions\": [", stdout);
	}
	if (ret == 0)
		ret = cdp_file_log(s, q.host, q.path, since_seq, until_seq, &fid, on_version, &o);
	if (o.json && (ret == 0 || o.n))
		printf("%s], \"fid\": %llu, \"count\": %llu}\n", o.n ? "\n" : "",
		       (unsigned long long)fid, (unsigned long long)o.n);
	else if (o.json)
		fputs("]}\n", stdout);
	if (ret == -CDP_ENOHOST)
		cli_query_view(s, store, q.host, "latest", CDP_TS_LATEST, &(struct cdp_view *){ NULL },
			       err, sizeof(err));
	else if (ret == -ENOENT)
		cdp_errf(err, sizeof(err), "no file was ever at '%s' on host '%s'%s%s", q.path,
			 q.host, until_text ? " up to " : "", until_text ? until_text : "");
	else if (ret == -EISDIR)
		cdp_errf(err, sizeof(err), "'/' is the host's root: give the path of a file");
	else if (ret < 0)
		cdp_errf(err, sizeof(err), "cannot read the history of '%s' on host '%s' in store "
			 "'%s': %s%s%s", q.path, q.host, store, cdp_strerror(ret),
			 *cdp_store_last_error() ? ": " : "", cdp_store_last_error());
	cdp_store_close(s);
	cli_query_spec_release(&q);
	if (ret < 0)
		die_line(err);
	if (!o.json && o.n == 0)
		fprintf(stderr, "cdpfs: no version of '%s' in that interval\n", ctx->args[0]);
	return 0;
}

const struct cli_cmd cli_cmd_log = {
	.name = "log",
	.fn = cmd_log,
	.usage = "log [--store DIR] HOST:PATH [--since TIME] [--until TIME] [--json]",
	.summary = "every version of one file, across renames, after its deletion too",
	.options = log_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
