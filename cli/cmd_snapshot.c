/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_snapshot.c - `cdpfs snapshot [--store S] DEST`: a consistent copy of
 * a store, live or stopped, which opens and mounts like the original (the
 * way to copy a store: `cp -a` of a live one is not consistent).  The
 * capture daemon makes it when one runs (it holds the index's primary);
 * otherwise this process takes the writer lock and makes it itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "cli/cli.h"
#include "store.h"

static const struct cli_option snapshot_options[] = {
	{ NULL, 0, 0, "DEST", "a missing or empty directory for the copy (same filesystem:\n"
	  "sealed segments and index tables are hard-linked)" },
	CLI_OPT_END
};

static int cmd_snapshot(struct cli_ctx *ctx)
{
	char err[1024];
	struct cdp_store *s;
	const char *store;
	uint64_t linked = 0, copied = 0;
	int ret;

	while (cli_getopt(ctx, NULL) != -1)
		;
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" :
				"missing DEST", ctx->nargs ? ctx->args[1] : "");
	store = cli_store_path(ctx);
	cli_audit(store, "snapshot", "dest=%s", ctx->args[0]);
	ret = cdp_capture_snapshot(store, ctx->args[0], err, sizeof(err));
	if (ret < 0 || (ret > 0 && ret != 1))
		die("%s", err[0] ? err + (strncmp(err, "cdpfs: ", 7) ? 0 : 7) : "snapshot failed");
	if (ret == 1) {
		ret = cdp_store_open(store, CDP_STORE_WRITE, NULL, &s);
		if (ret == -CDP_ELOCKED)
			die("store '%s' is open for writing by a process that is not its capture "
			    "daemon; retry when it is done", store);
		if (ret < 0)
			die("cannot open store '%s': %s", store, cdp_strerror(ret));
		ret = cdp_store_snapshot(s, ctx->args[0], &linked, &copied);
		cdp_store_close(s);
		if (ret < 0)
			die("cannot snapshot store '%s' into '%s': %s", store, ctx->args[0],
			    ret == -ENOTEMPTY ? "the destination is not empty" : cdp_strerror(ret));
	}
	printf("snapshot of store '%s' in '%s'\n", store, ctx->args[0]);
	return 0;
}

const struct cli_cmd cli_cmd_snapshot = {
	.name = "snapshot",
	.fn = cmd_snapshot,
	.usage = "snapshot [--store DIR] DEST",
	.summary = "make a consistent copy of a store, live or stopped",
	.options = snapshot_options,
	.flags = CLI_NEEDS_STORE,
};
