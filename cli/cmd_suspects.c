/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_suspects.c - `cdpfs suspects HOST [--json]`: the intervals of
 * suspected mass damage (ransomware) the store recorded as it journaled
 * (store/suspect.c has the model): when each started and the last good
 * instant before it (for `cdpfs restore`, `drill`, `bisect --good`), how
 * long it ran, its score, the files overwritten with random data, renamed
 * to a new extension, deleted and cut, and the first files and the
 * directories it hit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "query.h"
#include "store.h"

static const struct cli_option suspects_options[] = {
	{ NULL, 0, 0, "HOST", "the captured host" },
	CLI_OPT_JSON("one JSON object: the intervals with their figures and files"),
	CLI_OPT_END
};

struct suspects_out {
	struct cdp_store *s;
	const char *host;
	int json;
	uint64_t n;
};

/* The directories of the paths, each with how many of them it holds. */
static void print_dirs(char **paths, size_t n, int json)
{
	char *dirs[16];
	unsigned count[16];
	size_t nd = 0, i, j;

	for (i = 0; i < n; i++) {
		char *slash;

		if (!paths[i])
			continue;
		slash = strrchr(paths[i], '/');
		if (!slash)
			continue;
		for (j = 0; j < nd; j++)
			if ((size_t)(slash - paths[i]) == strlen(dirs[j]) &&
			    strncmp(dirs[j], paths[i], (size_t)(slash - paths[i])) == 0)
				break;
		if (j == nd && nd < 16) {
			dirs[nd] = cli_strfmt("%.*s", (int)(slash - paths[i]), paths[i]);
			count[nd++] = 0;
		}
		if (j < nd)
			count[j]++;
	}
	for (j = 0; j < nd; j++) {
		if (json) {
			printf("%s{\"dir\": ", j ? ", " : "");
			cli_json_string(stdout, dirs[j][0] ? dirs[j] : "/");
			printf(", \"files\": %u}", count[j]);
		} else {
			fputs("    dir  ", stdout);
			cli_print_path(stdout, dirs[j][0] ? dirs[j] : "/");
			printf(" (%u of these files)\n", count[j]);
		}
		free(dirs[j]);
	}
}

static int on_suspect(void *arg, const struct cdp_suspect_interval *si)
{
	struct suspects_out *o = arg;
	char *paths[16], start[64], good[64], at[48];
	uint64_t seq = 0;
	int64_t op_ts;
	size_t i;
	int ret;

	ret = cdp_host_seq_at(o->s, o->host, si->end_ns, &seq, &op_ts);
	if (ret == 0)
		ret = cdp_fid_paths(o->s, o->host, seq, si->fids, si->nfids, paths);
	if (ret < 0)
		return ret;
	cli_format_at(si->last_good_ns, at, sizeof(at));
	if (o->json) {
		printf("%s\n  {", o->n ? "," : "");
		cli_json_time(stdout, "start", si->start_ns, ", ");
		fputs(", ", stdout);
		cli_json_time(stdout, "end", si->end_ns, ", ");
		fputs(", ", stdout);
		cli_json_time(stdout, "last_good", si->last_good_ns, ", ");
		printf(", \"last_good_at\": \"%s\", \"max_score\": %u, \"overwritten\": %llu, "
		       "\"renamed\": %llu, \"deleted\": %llu, \"truncated\": %llu, \"top_files\": [",
		       at, si->max_score, (unsigned long long)si->overwritten,
		       (unsigned long long)si->renamed, (unsigned long long)si->deleted,
		       (unsigned long long)si->truncated);
		for (i = 0; i < si->nfids; i++) {
			fputs(i ? ", " : "", stdout);
			cli_json_string_or_null(stdout, paths[i]);
		}
		fputs("], \"top_dirs\": [", stdout);
		print_dirs(paths, si->nfids, 1);
		fputs("]}", stdout);
	} else {
		cdp_time_format(si->start_ns, start, sizeof(start));
		cdp_time_format(si->last_good_ns, good, sizeof(good));
		printf("suspect activity from %s for %.1f s, score up to %u/s\n", start,
		       (double)(si->end_ns - si->start_ns) / 1e9, si->max_score);
		printf("  last good instant: %s (%s)\n", good, at);
		printf("  %llu files overwritten with random data, %llu renamed to a new "
		       "extension, %llu deleted, %llu cut to zero\n",
		       (unsigned long long)si->overwritten, (unsigned long long)si->renamed,
		       (unsigned long long)si->deleted, (unsigned long long)si->truncated);
		for (i = 0; i < si->nfids; i++) {
			fputs("    file ", stdout);
			cli_print_path(stdout, paths[i] ? paths[i] : "(no name)");
			fputc('\n', stdout);
		}
		print_dirs(paths, si->nfids, 0);
		printf("  see: cdpfs diff %s@%s latest --stat; cdpfs restore %s:DIR@%s DEST\n",
		       o->host, at, o->host, at);
	}
	for (i = 0; i < si->nfids; i++)
		free(paths[i]);
	o->n++;
	return 0;
}

static int cmd_suspects(struct cli_ctx *ctx)
{
	struct suspects_out o = { 0 };
	const char *store;
	char err[1024];
	int ret;

	while (cli_getopt(ctx, NULL) != -1)
		;
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" : "missing HOST",
				ctx->nargs ? ctx->args[1] : "");
	o.host = ctx->args[0];
	o.json = ctx->json;
	store = cli_store_path(ctx);
	ret = cli_store_open(store, &o.s, err, sizeof(err));
	if (ret < 0)
		die_line(err);
	if (o.json) {
		fputs("{\"format\": \"cdpfs suspects 1\", \"host\": ", stdout);
		cli_json_string(stdout, o.host);
		fputs(", \"suspects\": [", stdout);
	}
	ret = cdp_suspects(o.s, o.host, on_suspect, &o);
	if (o.json)
		printf("%s], \"count\": %llu}\n", o.n ? "\n" : "", (unsigned long long)o.n);
	else if (ret == 0 && o.n == 0)
		printf("no suspect activity recorded for host '%s'\n", o.host);
	if (ret == -CDP_ENOHOST)
		cdp_errf(err, sizeof(err), "no capture of host '%s' in store '%s' (see 'cdpfs "
			 "hosts')", o.host, store);
	else if (ret < 0)
		cdp_errf(err, sizeof(err), "cannot read the suspects of host '%s' in store '%s': %s",
			 o.host, store, cdp_strerror(ret));
	cdp_store_close(o.s);
	if (ret < 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_suspects = {
	.name = "suspects",
	.fn = cmd_suspects,
	.usage = "suspects [--store DIR] HOST [--json]",
	.summary = "intervals of suspected mass damage (ransomware) and the last good instant",
	.options = suspects_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
