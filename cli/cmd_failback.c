/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_failback.c - `cdpfs overlay diff NAME` and `cdpfs overlay apply NAME
 * DEST [--dry-run] [--force]` (the actions of cli/cmd_overlay.c that read
 * an overlay against its base): what a kept overlay changed, in the diff
 * format, and those changes brought to DEST, production once a takeover
 * on the overlay ends (store/ovl_apply.c: per file, refused when DEST's
 * file is not as it was at the base, unless --force; the conflicts listed).
 * The overlay must not be mounted while it is read.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "overlay.h"
#include "query.h"
#include "store.h"

struct failback {
	struct cdp_store *s;
	struct cdp_view *base;
	struct cdp_overlay *o;
	struct cdp_overlay_info info;
	char path[PATH_MAX + 300];
};

/* Opens overlay name of store over its base; 0 or the error, one line in
 * err. */
static int failback_open(struct failback *f, const char *store, const char *name, char *err,
			 size_t errlen)
{
	uint64_t root = CDP_ROOT_FID;
	int ret;

	memset(f, 0, sizeof(*f));
	if (!cdp_overlay_name_valid(name)) {
		cdp_errf(err, errlen, "bad overlay name '%s' (see 'cdpfs overlay list')", name);
		return -EINVAL;
	}
	snprintf(f->path, sizeof(f->path), "%s/overlays/%s", store, name);
	ret = cdp_overlay_read_info(f->path, &f->info);
	if (ret < 0) {
		cdp_errf(err, errlen, ret == -ENOENT ? "no overlay '%s' in store '%s' (see 'cdpfs "
			 "overlay list')" : "cannot read overlay '%s' of store '%s'", name, store);
		return ret;
	}
	ret = cli_store_open(store, &f->s, err, errlen);
	if (ret < 0)
		return ret;
	ret = cdp_view_open_seq(f->s, f->info.host, f->info.base_ts_ns, f->info.base_seq,
				&f->base);
	if (ret < 0) {
		cdp_errf(err, errlen, "the base of overlay '%s' (host '%s', seq %llu) is not in store "
			 "'%s': %s", name, f->info.host, (unsigned long long)f->info.base_seq, store,
			 cdp_strerror(ret));
		return ret;
	}
	if (strcmp(f->info.dir, "/") != 0)
		ret = cdp_view_resolve(f->base, f->info.dir, &root);
	if (ret == 0)
		ret = cdp_overlay_open(f->path, f->base, root, cdp_store_block_size(f->s), &f->o);
	if (ret == -EBUSY)
		cdp_errf(err, errlen, "overlay '%s' is mounted: unmount it first (cdpfs umount)",
			 name);
	else if (ret < 0)
		cdp_errf(err, errlen, "cannot open overlay '%s': %s", name, cdp_strerror(ret));
	return ret;
}

static void failback_close(struct failback *f)
{
	cdp_overlay_close(f->o);
	cdp_view_free(f->base);
	cdp_store_close(f->s);
	cdp_overlay_info_release(&f->info);
}

struct diff_print {
	int json;
	uint64_t n;
};

static int print_change(void *arg, const struct cdp_change *c)
{
	struct diff_print *p = arg;

	if (p->json) {
		cli_print_change_json(c, p->n == 0, 1);
	} else {
		cli_print_change(c, NULL, NULL);
		fputc('\n', stdout);
	}
	p->n++;
	return 0;
}

int cli_overlay_diff(struct cli_ctx *ctx, const char *name)
{
	struct failback f;
	struct diff_print p = { ctx->json, 0 };
	const char *store = cli_store_path(ctx);
	char err[1024] = "";
	int ret;

	ret = failback_open(&f, store, name, err, sizeof(err));
	if (ret == 0 && p.json) {
		fputs("{\"format\": \"cdpfs overlay diff 1\", \"overlay\": ", stdout);
		cli_json_string(stdout, name);
		fputs(", \"host\": ", stdout);
		cli_json_string(stdout, f.info.host);
		fputs(", \"dir\": ", stdout);
		cli_json_string(stdout, f.info.dir);
		fputs(", ", stdout);
		cli_json_time(stdout, "base", f.info.base_ts_ns, ", ");
		printf(", \"base_seq\": %llu, \"changes\": [", (unsigned long long)f.info.base_seq);
	}
	if (ret == 0) {
		ret = cdp_overlay_diff(f.o, f.info.dir, print_change, &p);
		if (ret < 0)
			cdp_errf(err, sizeof(err), "cannot compare overlay '%s' with its base: %s",
				 name, cdp_strerror(ret));
		if (p.json && ret == 0)
			printf("%s], \"count\": %llu}\n", p.n ? "\n" : "", (unsigned long long)p.n);
		else if (p.json)
			fputs("]}\n", stdout);
	}
	failback_close(&f);
	if (ret < 0)
		die_line(err);
	return 0;
}

struct apply_print {
	int json;
	const char *from, *to;
	uint64_t n;
};

static void print_applied(void *arg, const struct cdp_change *c, const char *conflict)
{
	struct apply_print *p = arg;

	if (p->json) {
		cli_print_change_json(c, p->n == 0, 0);
		fputs(", \"conflict\": ", stdout);
		cli_json_string_or_null(stdout, conflict);
		fputs("}", stdout);
	} else {
		fputs(conflict ? "CONFLICT " : "", stdout);
		cli_print_change(c, p->from, p->to);
		if (conflict)
			printf(": %s", conflict);
		fputc('\n', stdout);
	}
	p->n++;
}

int cli_overlay_apply(struct cli_ctx *ctx, const char *name, const char *dest, unsigned flags)
{
	struct failback f;
	struct cdp_apply_summary sum = { 0 };
	struct apply_print p = { ctx->json, NULL, dest, 0 };
	const char *store = cli_store_path(ctx);
	char err[1024] = "", *abs_dest;
	int ret;

	abs_dest = realpath(dest, NULL);
	if (!abs_dest)
		die("cannot use '%s' as the destination: %s", dest, strerror(errno));
	p.to = abs_dest;
	cli_audit(store, "overlay-apply", "name=%s dest=%s dry-run=%d force=%d", name, abs_dest,
		  !!(flags & CDP_APPLY_DRY_RUN), !!(flags & CDP_APPLY_FORCE));
	ret = failback_open(&f, store, name, err, sizeof(err));
	if (ret == 0) {
		p.from = strcmp(f.info.dir, "/") == 0 ? "" : f.info.dir;
		if (p.json) {
			fputs("{\"format\": \"cdpfs overlay apply 1\", \"overlay\": ", stdout);
			cli_json_string(stdout, name);
			fputs(", \"dest\": ", stdout);
			cli_json_string(stdout, abs_dest);
			printf(", \"dry_run\": %s, \"force\": %s, \"changes\": [",
			       flags & CDP_APPLY_DRY_RUN ? "true" : "false",
			       flags & CDP_APPLY_FORCE ? "true" : "false");
		}
		ret = cdp_overlay_apply(f.o, f.info.dir, abs_dest, flags, print_applied, &p, &sum,
					err, sizeof(err));
		if (p.json)
			printf("%s], \"applied\": %llu, \"conflicts\": %llu, \"bytes_written\": %llu}\n",
			       p.n ? "\n" : "", (unsigned long long)sum.applied,
			       (unsigned long long)sum.conflicts,
			       (unsigned long long)sum.bytes_written);
		else if (ret == 0)
			printf("%s%llu changes of overlay '%s' %s '%s', %llu conflicts%s\n",
			       flags & CDP_APPLY_DRY_RUN ? "dry run: " : "",
			       (unsigned long long)sum.applied, name,
			       flags & CDP_APPLY_DRY_RUN ? "would be applied to" : "applied to",
			       abs_dest, (unsigned long long)sum.conflicts,
			       sum.conflicts ? " (refused: DEST changed since the overlay's base; "
			       "--force applies them)" : "");
	}
	failback_close(&f);
	free(abs_dest);
	if (ret < 0)
		die_line(err);
	if (sum.conflicts) {
		fprintf(stderr, "cdpfs: %llu changes of overlay '%s' not applied: conflicts\n",
			(unsigned long long)sum.conflicts, name);
		return 1;
	}
	return 0;
}
