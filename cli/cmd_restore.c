/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_restore.c - `cdpfs restore HOST:PATH@TIME DEST [--dry-run]
 * [--overwrite] [--json]`: a file or tree as it was at TIME written to
 * DEST, straight from the store (store/restore.c, contract in query.h):
 * content with its holes, mode, owner, times, xattrs and POSIX ACLs, hard
 * links, symlinks, fifos and device nodes, every chunk verified.  A
 * progress line on a terminal (bytes, files, rate, time left), a summary
 * at the end.  DEST inside a captured directory is fine: the writes go
 * through its capture mount and are journaled like any others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "query.h"
#include "store.h"

enum { OPT_DRY_RUN = 0x100, OPT_OVERWRITE };

static const struct cli_option restore_options[] = {
	{ NULL, 0, 0, "HOST:PATH@TIME", "the file or tree to restore and its instant (any TIME\n"
	  "form of mount)" },
	{ NULL, 0, 0, "DEST", "where to write it: a new name (its directory must exist)" },
	{ "dry-run", no_argument, OPT_DRY_RUN, "--dry-run", "list what would be written "
	  "(+ new, ~ replaced, L link);\nwrite nothing" },
	{ "overwrite", no_argument, OPT_OVERWRITE, "--overwrite", "DEST may exist: what is "
	  "restored replaces what is\nthere (a directory is merged into; its other entries "
	  "are kept)" },
	CLI_OPT_JSON("the summary as one JSON object (no progress line)"),
	CLI_OPT_END
};

struct restore_ui {
	int tty, json, dry;
	int64_t start_ns;
	int shown;
};

static void human_bytes(uint64_t b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void on_progress(void *arg, const struct cdp_restore_progress *st)
{
	struct restore_ui *ui = arg;
	char done[32], total[32], rate[32];
	double secs = (double)(cdp_now_ns() - ui->start_ns) / 1e9, bps;

	if (!ui->tty || ui->json || ui->dry)
		return;
	bps = secs > 0 ? (double)st->bytes_done / secs : 0;
	human_bytes(st->bytes_done, done, sizeof(done));
	human_bytes(st->bytes_total, total, sizeof(total));
	human_bytes((uint64_t)bps, rate, sizeof(rate));
	fprintf(stderr, "\r%s / %s  %llu/%llu files  %s/s", done, total,
		(unsigned long long)st->files_done, (unsigned long long)st->files_total, rate);
	if (bps > 0 && st->bytes_total > st->bytes_done)
		fprintf(stderr, "  %.0f s left   ", (double)(st->bytes_total - st->bytes_done) / bps);
	else
		fputs("            ", stderr);
	ui->shown = 1;
}

static void on_list(void *arg, char op, const char *path, uint32_t type, uint64_t size)
{
	struct restore_ui *ui = arg;

	if (ui->json)
		return;
	printf("%c ", op);
	cli_print_path(stdout, path);
	if ((type & S_IFMT) == S_IFREG && op != 'L')
		printf(" (%llu bytes)\n", (unsigned long long)size);
	else
		printf(" (%c)\n", cli_type_letter(type));
}

static int cmd_restore(struct cli_ctx *ctx)
{
	struct cli_query_spec q;
	struct restore_ui ui = { 0 };
	struct cdp_restore_progress st;
	struct cdp_store *s = NULL;
	struct cdp_view *v = NULL;
	const char *store, *val;
	char err[1024], when[64], bytes[32], holes[32];
	unsigned flags = 0;
	int64_t ts;
	double secs;
	int opt, ret;

	while ((opt = cli_getopt(ctx, &val)) != -1) {
		if (opt == OPT_DRY_RUN)
			flags |= CDP_RESTORE_DRY_RUN;
		else if (opt == OPT_OVERWRITE)
			flags |= CDP_RESTORE_OVERWRITE;
	}
	if (ctx->nargs != 2)
		cli_usage_error(ctx->cmd, ctx->nargs > 2 ? "unexpected argument '%s'" : ctx->nargs ?
				"missing DEST" : "missing HOST:PATH@TIME and DEST",
				ctx->nargs > 2 ? ctx->args[2] : "");
	if (!ctx->args[1][0])
		cli_usage_error(ctx->cmd, "empty DEST");
	cli_query_operand(ctx->cmd, ctx->args[0], 1, &q);
	ts = strcmp(q.time_text, "latest") == 0 ? CDP_TS_LATEST :
		cli_resolve_time(q.time_text, cdp_now_ns());
	ui.json = ctx->json;
	ui.dry = !!(flags & CDP_RESTORE_DRY_RUN);
	ui.tty = isatty(STDERR_FILENO);
	store = cli_store_path(ctx);
	cli_audit(store, "restore", "spec=%s dest=%s dry-run=%d overwrite=%d", ctx->args[0],
		  ctx->args[1], ui.dry, !!(flags & CDP_RESTORE_OVERWRITE));
	ret = cli_store_open(store, &s, err, sizeof(err));
	if (ret < 0)
		die_line(err);
	ret = cli_query_view(s, store, q.host, q.time_text, ts, &v, err, sizeof(err));
	ui.start_ns = cdp_now_ns();
	memset(&st, 0, sizeof(st));
	if (ret == 0)
		ret = cdp_restore(v, q.path, ctx->args[1], flags, on_progress,
				  ui.dry ? on_list : NULL, &ui, &st,
				  err, sizeof(err));
	if (ui.shown)
		fputc('\n', stderr);
	secs = (double)(cdp_now_ns() - ui.start_ns) / 1e9;
	if (v) {
		ts = cdp_view_requested_ts(v);
		cdp_time_format(ts, when, sizeof(when));
	}
	cdp_view_free(v);
	cdp_store_close(s);
	if (ret < 0) {
		cli_query_spec_release(&q);
		die_line(err[0] ? err : cdp_strerror(ret));
	}
	if (ui.json) {
		fputs("{\"format\": \"cdpfs restore 1\", \"host\": ", stdout);
		cli_json_string(stdout, q.host);
		fputs(", \"path\": ", stdout);
		cli_json_string(stdout, q.path);
		fputs(", \"dest\": ", stdout);
		cli_json_string(stdout, ctx->args[1]);
		printf(", \"dry_run\": %s, ", ui.dry ? "true" : "false");
		cli_json_time(stdout, "time", ts, ", ");
		printf(", \"files\": %llu, \"bytes\": %llu, \"hole_bytes\": %llu, \"dirs\": %llu, "
		       "\"symlinks\": %llu, \"specials\": %llu, \"hardlinks\": %llu, "
		       "\"replaced\": %llu, \"kept\": %llu, \"owner_failures\": %llu, "
		       "\"xattr_failures\": %llu, \"elapsed_ms\": %lld}\n",
		       (unsigned long long)(ui.dry ? st.files_total : st.files_done),
		       (unsigned long long)(ui.dry ? st.bytes_total : st.bytes_done),
		       (unsigned long long)st.holes_bytes, (unsigned long long)st.dirs,
		       (unsigned long long)st.symlinks, (unsigned long long)st.specials,
		       (unsigned long long)st.hardlinks, (unsigned long long)st.replaced,
		       (unsigned long long)st.kept, (unsigned long long)st.owner_failures,
		       (unsigned long long)st.xattr_failures, (long long)(secs * 1000));
	} else if (ui.dry) {
		human_bytes(st.bytes_total, bytes, sizeof(bytes));
		printf("dry run: would restore %llu files (%s) of '%s' at %s into '%s'\n",
		       (unsigned long long)st.files_total, bytes, q.path, when, ctx->args[1]);
	} else {
		human_bytes(st.bytes_done - st.holes_bytes, bytes, sizeof(bytes));
		human_bytes(st.holes_bytes, holes, sizeof(holes));
		printf("restored '%s' of host '%s' at %s into '%s': %llu files (%s of data, %s "
		       "of holes kept as holes), %llu directories, %llu symlinks, %llu other "
		       "nodes, %llu hard links, in %.1f s\n", q.path, q.host, when, ctx->args[1],
		       (unsigned long long)st.files_done, bytes, holes, (unsigned long long)st.dirs,
		       (unsigned long long)st.symlinks, (unsigned long long)st.specials,
		       (unsigned long long)st.hardlinks, secs);
		if (st.replaced)
			printf("  %llu existing entries replaced\n", (unsigned long long)st.replaced);
		if (st.kept)
			printf("  %llu entries already in '%s' are not in the restored tree and were "
			       "kept\n", (unsigned long long)st.kept, ctx->args[1]);
		if (st.owner_failures)
			printf("  owners not set on %llu entries (only root may give files away)\n",
			       (unsigned long long)st.owner_failures);
	}
	cli_query_spec_release(&q);
	if (st.xattr_failures) {
		fprintf(stderr, "cdpfs: %llu xattrs could not be set on the destination (the lines "
			"above name them)\n", (unsigned long long)st.xattr_failures);
		return 1;
	}
	return 0;
}

const struct cli_cmd cli_cmd_restore = {
	.name = "restore",
	.fn = cmd_restore,
	.usage = "restore [--store DIR] HOST:PATH@TIME DEST [--dry-run] [--overwrite] [--json]",
	.summary = "write a file or tree as it was at an instant, straight from the store",
	.options = restore_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
