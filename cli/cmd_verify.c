/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_verify.c - `cdpfs verify [--store S] [HOST] [--data] [--json]`: the
 * store checked against itself (store/verify.h), opened as a reader, so
 * it runs while capture writes.  Exit status 0 when clean, 1 when problems
 * were found, 2 when the check could not run.  Progress on stderr only
 * when it is a terminal.  --json prints one object with stable keys
 * (documented in cdpfs(8)):
 *   {"format": "cdpfs verify 1", "store", "host", "data", "result"
 *    ("clean", "problems"), "chunks", "chunk_bytes", "block_refs",
 *    "names", "problems": [{"kind", "detail", "chunk", "segment",
 *    "offset", "affects": [{"host", "fid", "path", "block_versions",
 *    "first_block", "first_seq", "last_seq", "first", "first_ns", "last",
 *    "last_ns", "in_latest"}]}]}
 * Each verify that runs to its end is recorded in STORE/verify/last, which
 * `cdpfs status` reports (cli/status_facts.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "store.h"
#include "verify.h"

enum { OPT_DATA = 256 };

static const struct cli_option verify_options[] = {
	{ NULL, 0, 0, "HOST", "check only the blocks and names of this host (chunks are\n"
	  "shared: all are checked)" },
	{ "data", no_argument, OPT_DATA, "--data", "read every chunk: CRC-32C, decompression, "
	  "SHA-256" },
	CLI_OPT_JSON("machine-readable report with stable keys"),
	CLI_OPT_END
};

struct verify_out {
	FILE *out;
	int json;
	size_t n;
	int tty;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct verify_out *o = arg;

	if (!o->tty)
		return;
	fprintf(stderr, "\rcdpfs: verify: %llu of %llu MiB checked",
		(unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

static void text_affected(FILE *out, const struct cdp_verify_affected *a)
{
	char t1[64], t2[64];

	cli_time_local(a->first_ts_ns, t1, sizeof(t1));
	cli_time_local(a->last_ts_ns, t2, sizeof(t2));
	fprintf(out, "  affects host '%s' ", a->host);
	if (a->path)
		fprintf(out, "'%s' (file %llu)", a->path, (unsigned long long)a->fid);
	else
		fprintf(out, "file %llu (no name at the newest instant)",
			(unsigned long long)a->fid);
	fprintf(out, ": %llu version(s) from seq %llu (%s) to seq %llu (%s)%s\n",
		(unsigned long long)a->blocks, (unsigned long long)a->first_seq, t1,
		(unsigned long long)a->last_seq, t2,
		a->through_latest ? ", still in the newest state" : "");
}

static void json_affected(FILE *out, const struct cdp_verify_affected *a)
{
	fputs("{\"host\": ", out);
	cli_json_string(out, a->host);
	fprintf(out, ", \"fid\": %llu, \"path\": ", (unsigned long long)a->fid);
	cli_json_string_or_null(out, a->path);
	fprintf(out, ", \"block_versions\": %llu, \"first_block\": %llu, \"first_seq\": %llu, "
		"\"last_seq\": %llu, ", (unsigned long long)a->blocks,
		(unsigned long long)a->first_block, (unsigned long long)a->first_seq,
		(unsigned long long)a->last_seq);
	cli_json_time(out, "first", a->first_ts_ns, ", ");
	fputs(", ", out);
	cli_json_time(out, "last", a->last_ts_ns, ", ");
	fprintf(out, ", \"in_latest\": %s}", a->through_latest ? "true" : "false");
}

static void on_problem(void *arg, const struct cdp_verify_problem *p)
{
	struct verify_out *o = arg;
	size_t i;

	if (o->json) {
		fprintf(o->out, "%s\n  {\"kind\": ", o->n ? "," : "");
		cli_json_string(o->out, p->kind);
		fputs(", \"detail\": ", o->out);
		cli_json_string(o->out, p->detail);
		fputs(", \"chunk\": ", o->out);
		cli_json_string_or_null(o->out, p->chunk);
		if (p->segment)
			fprintf(o->out, ", \"segment\": %u, \"offset\": %llu", p->segment,
				(unsigned long long)p->offset);
		else
			fputs(", \"segment\": null, \"offset\": null", o->out);
		fputs(", \"affects\": [", o->out);
		for (i = 0; i < p->naffected; i++) {
			fputs(i ? ",\n    " : "\n    ", o->out);
			json_affected(o->out, &p->affected[i]);
		}
		fputs("]}", o->out);
	} else {
		fprintf(o->out, "problem %zu: %s: %s\n", o->n + 1, p->kind, p->detail);
		for (i = 0; i < p->naffected; i++)
			text_affected(o->out, &p->affected[i]);
	}
	o->n++;
}

static int cmd_verify(struct cli_ctx *ctx)
{
	struct verify_out o = { stdout, 0, 0, 0 };
	struct cdp_verify_stats st;
	struct cdp_store *s = NULL;
	char err[1024];
	const char *store, *host = NULL;
	unsigned flags = 0;
	int opt, ret;

	while ((opt = cli_getopt(ctx, NULL)) != -1)
		if (opt == OPT_DATA)
			flags |= CDP_VERIFY_DATA;
	if (ctx->nargs > 1)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[1]);
	if (ctx->nargs == 1)
		host = ctx->args[0];
	o.json = ctx->json;
	o.tty = isatty(STDERR_FILENO);
	/* the report names each damaged chunk: no log line per chunk too */
	cdp_log_init("cdpfs", 0, LOG_CRIT);
	store = cli_store_path(ctx);
	cli_audit(store, "verify", "host=%s data=%d", host ? host : "-",
		  flags & CDP_VERIFY_DATA ? 1 : 0);
	ret = cli_store_open(store, &s, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "cdpfs: %s\n", err);
		exit(2);
	}
	if (o.json) {
		fputs("{\"format\": \"cdpfs verify 1\", \"store\": ", stdout);
		cli_json_string(stdout, store);
		fputs(", \"host\": ", stdout);
		cli_json_string_or_null(stdout, host);
		fprintf(stdout, ", \"data\": %s, \"problems\": [",
			flags & CDP_VERIFY_DATA ? "true" : "false");
	}
	ret = cdp_store_verify(s, host, flags, on_problem, on_progress, &o, &st);
	cdp_store_close(s);
	if (ret < 0) {
		if (o.json)
			fputs("]}\n", stdout);
		fflush(stdout);
		if (ret == -CDP_ENOHOST)
			fprintf(stderr, "cdpfs: no capture of host '%s' in store '%s'\n", host,
				store);
		else
			fprintf(stderr, "cdpfs: cannot verify store '%s': %s\n", store,
				cdp_strerror(ret));
		exit(2);
	}
	/* for `cdpfs status` (cli/status.h); a store on read-only media stays
	 * as it is */
	ret = status_verify_record(store, host, (flags & CDP_VERIFY_DATA) != 0, st.problems);
	if (ret < 0 && ret != -EROFS)
		fprintf(stderr, "cdpfs: cannot record this verify in '%s/verify/last' for cdpfs "
			"status: %s\n", store, strerror(-ret));
	if (o.json) {
		fprintf(stdout, "%s], \"result\": \"%s\", \"chunks\": %llu, \"chunk_bytes\": %llu, "
			"\"block_refs\": %llu, \"names\": %llu, \"problem_count\": %llu}\n",
			o.n ? "\n" : "", st.problems ? "problems" : "clean",
			(unsigned long long)st.chunks, (unsigned long long)st.chunk_bytes,
			(unsigned long long)st.block_refs, (unsigned long long)st.dirents,
			(unsigned long long)st.problems);
	} else {
		printf("%s store '%s'%s%s%s: %llu chunks (%llu MiB stored%s), %llu block "
		       "references, %llu names checked: %s",
		       st.problems ? "damaged" : "verified", store, host ? ", host '" : "",
		       host ? host : "", host ? "'" : "", (unsigned long long)st.chunks,
		       (unsigned long long)(st.chunk_bytes >> 20),
		       flags & CDP_VERIFY_DATA ? ", all read" : ", headers only",
		       (unsigned long long)st.block_refs, (unsigned long long)st.dirents,
		       st.problems ? "" : "no problems\n");
		if (st.problems)
			printf("%llu problem(s)\n", (unsigned long long)st.problems);
	}
	if (st.problems)
		cli_audit_result("problems: %llu", (unsigned long long)st.problems);
	else
		cli_audit_result("clean: %llu chunks", (unsigned long long)st.chunks);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return st.problems ? 1 : 0;
}

const struct cli_cmd cli_cmd_verify = {
	.name = "verify",
	.fn = cmd_verify,
	.usage = "verify [--store DIR] [HOST] [--data] [--json]",
	.summary = "check that every index reference resolves; with --data, every chunk",
	.options = verify_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
