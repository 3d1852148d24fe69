/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_overlay.c - `cdpfs overlay list` and `cdpfs overlay rm`: the writable
 * overlays kept in a store (made by `cdpfs mount -o rw,overlay=NAME`).
 * `list` shows name, host and directory, the base instant, the space the
 * overlay takes, its last use and whether it is mounted now; --json prints
 * stable keys:
 *   {"store": S, "overlays": [{"name", "host", "dir", "base", "base_ns",
 *    "base_seq", "requested_ns", "created_ns", "last_used", "last_used_ns",
 *    "size_bytes", "mounted", "private", "path"}]}
 * Private overlays (of a plain -o rw mount or a drill) are listed only
 * while mounted; one left behind by a killed mount is removed by `list`.
 * `rm` refuses an overlay that is mounted.  `diff` and `apply` (failback)
 * are in cli/cmd_failback.c.  Neither touches the store's
 * history: overlays are files of their own.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store.h"
#include "overlay.h"
#include "query.h"

enum { OPT_DRY_RUN = 0x100, OPT_FORCE };

static const struct cli_option overlay_options[] = {
	{ NULL, 0, 0, "list", "name, host and directory, base instant, size, last use,\n"
	  "mounted or kept" },
	{ NULL, 0, 0, "rm NAME...", "remove kept overlays (not while mounted)" },
	{ NULL, 0, 0, "diff NAME", "what the overlay changed against its base, in the\n"
	  "format of 'cdpfs diff'" },
	{ NULL, 0, 0, "apply NAME DEST", "failback: those changes applied to DEST (production,\n"
	  "or a copy of the base); a change whose file in DEST\nis not as at the base is a "
	  "conflict, refused and listed" },
	{ "dry-run", no_argument, OPT_DRY_RUN, "--dry-run", "apply: list, write nothing" },
	{ "force", no_argument, OPT_FORCE, "--force", "apply: the conflicts too" },
	CLI_OPT_JSON("machine-readable output with stable keys"),
	CLI_OPT_END
};

static void human_size(uint64_t bytes, char *buf, size_t size)
{
	const char *units = "BKMGTP";
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f%c", v, units[u]);
}

static void print_json(const char *store, const struct cdp_overlay_info *list, size_t n)
{
	char buf[64];
	size_t i;

	printf("{\"store\": ");
	cli_json_string(stdout, store);
	printf(", \"overlays\": [");
	for (i = 0; i < n; i++) {
		const struct cdp_overlay_info *o = &list[i];

		printf("%s{\"name\": ", i ? ", " : "");
		cli_json_string(stdout, o->name);
		printf(", \"host\": ");
		cli_json_string(stdout, o->host);
		printf(", \"dir\": ");
		cli_json_string(stdout, o->dir);
		cdp_time_format(o->base_ts_ns, buf, sizeof(buf));
		printf(", \"base\": ");
		cli_json_string(stdout, buf);
		printf(", \"base_ns\": %lld, \"base_seq\": %llu, \"requested_ns\": %lld, "
		       "\"created_ns\": %lld", (long long)o->base_ts_ns,
		       (unsigned long long)o->base_seq, (long long)o->requested_ts_ns,
		       (long long)o->created_ts_ns);
		cdp_time_format(o->last_used_ts_ns, buf, sizeof(buf));
		printf(", \"last_used\": ");
		cli_json_string(stdout, buf);
		printf(", \"last_used_ns\": %lld, \"size_bytes\": %llu, \"mounted\": %s, "
		       "\"private\": %s, \"path\": ", (long long)o->last_used_ts_ns,
		       (unsigned long long)o->size_bytes, o->mounted ? "true" : "false",
		       o->is_private ? "true" : "false");
		cli_json_string(stdout, o->path);
		printf("}");
	}
	printf("]}\n");
}

static void print_table(const struct cdp_overlay_info *list, size_t n)
{
	char base[32], used[32], size[32], spec[PATH_MAX + 300];
	size_t i;

	if (n == 0) {
		printf("no overlays (make one with 'cdpfs mount -o rw,overlay=NAME "
		       "HOST@TIME MOUNTPOINT')\n");
		return;
	}
	printf("%-20s %-28s %-19s %8s  %-19s %s\n", "NAME", "OF", "BASE", "SIZE", "LAST USE",
	       "STATE");
	for (i = 0; i < n; i++) {
		const struct cdp_overlay_info *o = &list[i];

		cli_time_local(o->base_ts_ns, base, sizeof(base));
		cli_time_local(o->last_used_ts_ns, used, sizeof(used));
		human_size(o->size_bytes, size, sizeof(size));
		if (strcmp(o->dir, "/") == 0)
			snprintf(spec, sizeof(spec), "%s", o->host);
		else
			snprintf(spec, sizeof(spec), "%s:%s", o->host, o->dir);
		printf("%-20s %-28s %-19s %8s  %-19s %s%s\n", o->name, spec, base, size, used,
		       o->mounted ? "mounted" : "kept", o->is_private ? " (private)" : "");
	}
}

static int cmd_overlay(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct cdp_overlay_info *list = NULL;
	const char *action, *store;
	unsigned apply_flags = 0;
	int ret, i, opt, failed = 0;
	size_t n;

	while ((opt = cli_getopt(ctx, NULL)) != -1) {
		if (opt == OPT_DRY_RUN)
			apply_flags |= CDP_APPLY_DRY_RUN;
		else if (opt == OPT_FORCE)
			apply_flags |= CDP_APPLY_FORCE;
	}
	if (ctx->nargs == 0)
		cli_usage_error(self, "missing action: list, rm, diff or apply");
	action = ctx->args[0];
	store = cli_store_path(ctx);
	if (apply_flags && strcmp(action, "apply") != 0)
		cli_usage_error(self, "--dry-run and --force go with apply");
	if (strcmp(action, "diff") == 0) {
		if (ctx->nargs != 2)
			cli_usage_error(self, ctx->nargs < 2 ? "missing overlay NAME" :
					"unexpected argument '%s'", ctx->args[2]);
		return cli_overlay_diff(ctx, ctx->args[1]);
	}
	if (strcmp(action, "apply") == 0) {
		if (ctx->nargs != 3)
			cli_usage_error(self, ctx->nargs < 3 ? "expected apply NAME DEST" :
					"unexpected argument '%s'", ctx->args[3]);
		return cli_overlay_apply(ctx, ctx->args[1], ctx->args[2], apply_flags);
	}

	if (strcmp(action, "list") == 0 || strcmp(action, "ls") == 0) {
		if (ctx->nargs > 1)
			cli_usage_error(self, "unexpected argument '%s'", ctx->args[1]);
		ret = cdp_overlay_list(store, &list, &n);
		if (ret < 0)
			die("cannot list the overlays of store '%s': %s", store, cdp_strerror(ret));
		if (ctx->json)
			print_json(store, list, n);
		else
			print_table(list, n);
		cdp_overlay_list_free(list, n);
		return 0;
	}
	if (strcmp(action, "rm") != 0)
		cli_usage_error(self, "unknown action '%s' (expected list, rm, diff or apply)",
				action);
	if (ctx->nargs < 2)
		cli_usage_error(self, "missing overlay NAME to remove");
	cli_audit(store, "overlay-rm", "names=%s", cli_join_args(ctx, ",") + strlen(action) + 1);
	for (i = 1; i < ctx->nargs; i++) {
		char path[PATH_MAX + 300];

		if (!cdp_overlay_name_valid(ctx->args[i])) {
			fprintf(stderr, "cdpfs: bad overlay name '%s' (see 'cdpfs overlay list')\n",
				ctx->args[i]);
			failed = 1;
			continue;
		}
		snprintf(path, sizeof(path), "%s/overlays/%s", store, ctx->args[i]);
		ret = cdp_overlay_destroy(path);
		if (ret == -ENOENT)
			fprintf(stderr, "cdpfs: no overlay '%s' in store '%s' (see 'cdpfs overlay "
				"list')\n", ctx->args[i], store);
		else if (ret == -EBUSY)
			fprintf(stderr, "cdpfs: overlay '%s' is mounted: unmount it first\n",
				ctx->args[i]);
		else if (ret < 0)
			fprintf(stderr, "cdpfs: cannot remove overlay '%s': %s\n", ctx->args[i],
				cdp_strerror(ret));
		failed |= ret < 0;
	}
	return failed;
}

const struct cli_cmd cli_cmd_overlay = {
	.name = "overlay",
	.fn = cmd_overlay,
	.usage = "overlay [--store DIR] [--json] list | rm NAME... | diff NAME\n"
		 "       cdpfs overlay [--store DIR] [--json] apply NAME DEST [--dry-run] [--force]",
	.summary = "list, remove, compare or apply the writable overlays kept in a store",
	.options = overlay_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
