/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_store.c - verbs that act on the store as a whole:
 *   `cdpfs rebuild-index`: rebuild the RocksDB index from the log alone
 *   (format 2 keeps every index write in the segments; docs/format.md).
 * Exit status: 0 rebuilt, every instant as before; 1 the log is damaged
 * (the index holds the exact history before the damage, the message says
 * where); 2 it could not run (a capture holds the store, no store, ...:
 * exit() here, as the dispatcher maps every failure to 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "store.h"

static const struct cli_option rebuild_options[] = {
	CLI_OPT_END
};

static int cmd_rebuild_index(struct cli_ctx *ctx)
{
	struct cdp_rebuild_info info;
	const char *store, *value;
	int ret;

	if (cli_getopt(ctx, &value) != -1 || ctx->nargs)
		cli_usage_error(ctx->cmd, "rebuild-index takes no operand");
	store = cli_store_path(ctx);
	cli_audit(store, "rebuild-index", "-");
	ret = cdp_store_rebuild_index(store, &info);
	if (ret == -CDP_ELOCKED) {
		fprintf(stderr, "cdpfs: store '%s' is open for writing (a capture runs): stop it "
			"with 'cdpfs capture --stop --store %s' first\n", store, store);
		exit(2);
	}
	if (ret == -CDP_EVERSION) {
		fprintf(stderr, "cdpfs: store '%s' is not format %d: a format 1 store keeps no "
			"log of its index, so its index cannot be rebuilt\n", store,
			CDP_FORMAT_VERSION);
		exit(2);
	}
	if (ret == -CDP_ENOSTORE || ret == -ENOENT) {
		fprintf(stderr, "cdpfs: no store at '%s' (name it with --store or "
			"CDPFS_STORE)\n", store);
		exit(2);
	}
	if (ret < 0) {
		fprintf(stderr, "cdpfs: cannot rebuild the index of '%s': %s%s%s\n", store,
			cdp_strerror(ret), info.aside[0] ? "; the old index is in " : "",
			info.aside);
		exit(2);
	}
	printf("index of '%s' rebuilt from the log: %llu index records, newest lsn %llu\n",
	       store, (unsigned long long)info.records, (unsigned long long)info.lsn);
	if (info.aside[0])
		printf("the old index is kept in '%s' (remove it once the store mounts as "
		       "expected)\n", info.aside);
	if (info.damaged) {
		fprintf(stderr, "cdpfs: the log of '%s' is damaged at segment %08u offset %llu "
			"(%s): history after it is not in the rebuilt index\n", store,
			info.segment, (unsigned long long)info.offset, info.why);
		return 1;
	}
	return 0;
}

const struct cli_cmd cli_cmd_rebuild_index = {
	.name = "rebuild-index",
	.fn = cmd_rebuild_index,
	.usage = "rebuild-index [--store DIR]",
	.summary = "rebuild the store's index from its log (after the index was lost or damaged)",
	.options = rebuild_options,
	.flags = CLI_NEEDS_STORE,
};
