/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_diff.c - `cdpfs diff HOST[:DIR]@T1 T2 [--stat] [--json] [-- PATH...]`:
 * what changed under DIR from T1 to T2, from the index alone (store/diff.c
 * computes it; query.h says what each line means).  One line per change:
 *   A PATH                         added
 *   D PATH                         deleted
 *   M PATH (N bytes changed)       content changed
 *   m PATH (mode, owner, mtime...) metadata only
 *   R OLD -> NEW                   renamed, the same file
 *   T PATH (f -> d)                type changed
 * --stat: counts and bytes per top-level directory of DIR instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "fs/fs.h"
#include "query.h"
#include "store.h"
#include "util/util.h"

enum { OPT_STAT = 0x100 };

static const struct cli_option diff_options[] = {
	{ NULL, 0, 0, "HOST[:DIR]@T1", "the tree to compare (DIR: an absolute path of the host;\n"
	  "default /) and the first instant, in any TIME form of mount" },
	{ NULL, 0, 0, "T2", "the second instant (any TIME form, latest included)" },
	{ NULL, 0, 0, "-- PATH...", "only changes at or below these paths (absolute, or\n"
	  "relative to DIR)" },
	{ "stat", no_argument, OPT_STAT, "--stat", "counts and bytes changed per top-level "
	  "directory of DIR" },
	CLI_OPT_JSON("one JSON object: the changes, totals, and with --stat the table"),
	CLI_OPT_END
};

enum { K_A, K_D, K_M, K_m, K_R, K_T, K_COUNT };
static const char op_letters[K_COUNT] = { 'A', 'D', 'M', 'm', 'R', 'T' };
static const char *const op_names[K_COUNT] = {
	"added", "deleted", "modified", "metadata", "renamed", "type_changed"
};

struct stat_row {
	char *dir;
	uint64_t n[K_COUNT];
	uint64_t bytes;
};

struct diff_out {
	const char *dir;
	char **paths;          /* filters, absolute */
	int npaths;
	int json, stat;
	uint64_t n;            /* changes printed */
	struct stat_row total;
	struct stat_row *rows;
	size_t nrows, rows_cap;
};

static const char *const what_names[] = {
	"content", "size", "mode", "owner", "mtime", "xattr", "nlink"
};

static int op_index(char op)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (op_letters[k] == op)
			return k;
	return K_m;
}

static int under(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, "/") == 0)
		return 1;
	return strncmp(path, top, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static int wanted(const struct diff_out *o, const struct cdp_change *c)
{
	int i;

	if (!o->npaths)
		return 1;
	for (i = 0; i < o->npaths; i++)
		if (under(c->path, o->paths[i]) || (c->old_path && under(c->old_path, o->paths[i])))
			return 1;
	return 0;
}

/* The top-level directory of DIR that path is in ("." for DIR itself and
 * for entries directly in it that are not directories); heap. */
static char *top_of(const struct diff_out *o, const struct cdp_change *c)
{
	const char *rel = c->path + (strcmp(o->dir, "/") == 0 ? 1 : strlen(o->dir) + 1);
	const char *slash;

	if (!under(c->path, o->dir) || strlen(c->path) <= strlen(o->dir))
		return cli_strfmt(".");
	slash = strchr(rel, '/');
	if (!slash)
		return c->type == S_IFDIR ? cli_strfmt("%s", rel) : cli_strfmt(".");
	return cli_strfmt("%.*s", (int)(slash - rel), rel);
}

static void count(struct diff_out *o, const struct cdp_change *c)
{
	int k = op_index(c->op);
	char *top = top_of(o, c);
	size_t i;

	o->total.n[k]++;
	o->total.bytes += c->bytes;
	for (i = 0; i < o->nrows; i++)
		if (strcmp(o->rows[i].dir, top) == 0)
			break;
	if (i == o->nrows) {
		struct stat_row *rows = cdp_array_reserve(o->rows, &o->rows_cap, o->nrows + 1,
							  sizeof(*o->rows), 16);

		if (!rows)
			die("out of memory");
		o->rows = rows;
		memset(&o->rows[i], 0, sizeof(o->rows[i]));
		o->rows[i].dir = top;
		o->nrows++;
	} else {
		free(top);
	}
	o->rows[i].n[k]++;
	o->rows[i].bytes += c->bytes;
}

static void print_what(FILE *out, unsigned what, int json)
{
	size_t i;
	int first = 1;

	for (i = 0; i < sizeof(what_names) / sizeof(what_names[0]); i++) {
		if (!(what & (1u << i)))
			continue;
		if (json)
			fprintf(out, "%s\"%s\"", first ? "" : ", ", what_names[i]);
		else
			fprintf(out, "%s%s", first ? "" : ", ", what_names[i]);
		first = 0;
	}
}

void cli_print_change_json(const struct cdp_change *c, int first, int close)
{
	char t[2] = { cli_type_letter(c->type), 0 }, ot[2] = { cli_type_letter(c->old_type), 0 };

	printf("%s\n  {\"op\": \"%c\", \"path\": ", first ? "" : ",", c->op);
	cli_json_string(stdout, c->path);
	fputs(", \"old_path\": ", stdout);
	cli_json_string_or_null(stdout, c->old_path);
	printf(", \"type\": \"%s\", \"old_type\": ", t);
	if (c->op == 'T')
		printf("\"%s\"", ot);
	else
		fputs("null", stdout);
	fputs(", \"what\": [", stdout);
	print_what(stdout, c->what, 1);
	printf("], \"bytes\": %llu, \"size_before\": %llu, \"size_after\": %llu%s",
	       (unsigned long long)c->bytes, (unsigned long long)c->size_before,
	       (unsigned long long)c->size_after, close ? "}" : "");
}

static int on_change(void *arg, const struct cdp_change *c)
{
	struct diff_out *o = arg;

	if (!wanted(o, c))
		return 0;
	count(o, c);
	if (o->json)
		cli_print_change_json(c, o->n == 0, 1);
	o->n++;
	if (o->json || o->stat)
		return 0;
	cli_print_change(c, NULL, NULL);
	fputc('\n', stdout);
	return 0;
}

void cli_print_change(const struct cdp_change *c, const char *from, const char *to)
{
	size_t fl = from ? strlen(from) : 0;
	const char *path = from && strncmp(c->path, from, fl) == 0 ? c->path + fl : c->path;
	const char *old = c->old_path && from && strncmp(c->old_path, from, fl) == 0 ?
		c->old_path + fl : c->old_path;

	printf("%c ", c->op);
	if (c->op == 'R') {
		if (to)
			cli_print_path(stdout, to);
		cli_print_path(stdout, old);
		fputs(" -> ", stdout);
	}
	if (to)
		cli_print_path(stdout, to);
	cli_print_path(stdout, path);
	if (c->op == 'M') {
		printf(" (%llu bytes changed", (unsigned long long)c->bytes);
		if (c->what & ~(unsigned)CDP_CHG_CONTENT) {
			fputs("; ", stdout);
			print_what(stdout, c->what & ~(unsigned)CDP_CHG_CONTENT, 0);
		}
		fputs(")", stdout);
	} else if (c->op == 'm') {
		fputs(" (", stdout);
		print_what(stdout, c->what, 0);
		fputs(")", stdout);
	} else if (c->op == 'T') {
		printf(" (%c -> %c)", cli_type_letter(c->old_type), cli_type_letter(c->type));
	}
}

static int row_cmp(const void *x, const void *y)
{
	return strcmp(((const struct stat_row *)x)->dir, ((const struct stat_row *)y)->dir);
}

static void print_counts_json(const struct stat_row *r)
{
	int k;

	for (k = 0; k < K_COUNT; k++)
		printf("\"%s\": %llu, ", op_names[k], (unsigned long long)r->n[k]);
	printf("\"bytes\": %llu}", (unsigned long long)r->bytes);
}

static void print_row(const char *name, const struct stat_row *r)
{
	int k;

	printf("%-24s", name);
	for (k = 0; k < K_COUNT; k++)
		printf(" %c %-6llu", op_letters[k], (unsigned long long)r->n[k]);
	printf(" %llu bytes\n", (unsigned long long)r->bytes);
}

static void print_end(struct diff_out *o)
{
	size_t i;

	qsort(o->rows, o->nrows, sizeof(*o->rows), row_cmp);
	if (o->json) {
		printf("%s], \"totals\": {", o->n ? "\n" : "");
		print_counts_json(&o->total);
		if (o->stat) {
			fputs(", \"stat\": [", stdout);
			for (i = 0; i < o->nrows; i++) {
				printf("%s\n  {\"dir\": ", i ? "," : "");
				cli_json_string(stdout, o->rows[i].dir);
				fputs(", ", stdout);
				print_counts_json(&o->rows[i]);
			}
			printf("%s]", o->nrows ? "\n" : "");
		}
		fputs("}\n", stdout);
		return;
	}
	if (!o->stat)
		return;
	for (i = 0; i < o->nrows; i++)
		print_row(o->rows[i].dir, &o->rows[i]);
	print_row("total", &o->total);
}

static int cmd_diff(struct cli_ctx *ctx)
{
	struct diff_out o;
	struct cdp_store *s = NULL;
	struct cdp_view *va = NULL, *vb = NULL;
	char *host, *dir, *t1_text, err[1024];
	const char *store;
	int64_t now, t1, t2;
	const char *v;
	int opt, i, ret;

	memset(&o, 0, sizeof(o));
	while ((opt = cli_getopt(ctx, &v)) != -1)
		if (opt == OPT_STAT)
			o.stat = 1;
	o.json = ctx->json;
	if (ctx->nargs < 2)
		cli_usage_error(ctx->cmd, ctx->nargs ? "missing T2" : "missing HOST[:DIR]@T1 and T2");
	err[0] = 0;
	if (cdp_fs_parse_spec(ctx->args[0], &host, &dir, &t1_text, err, sizeof(err)) < 0)
		cli_usage_error(ctx->cmd, "%s", err);
	o.dir = dir ? dir : "/";
	o.npaths = ctx->nargs - 2;
	o.paths = calloc((size_t)o.npaths + 1, sizeof(*o.paths));
	if (!o.paths)
		die("out of memory");
	for (i = 0; i < o.npaths; i++) {
		const char *p = ctx->args[2 + i];
		size_t n;

		if (!*p)
			cli_usage_error(ctx->cmd, "empty PATH");
		o.paths[i] = p[0] == '/' ? cli_strfmt("%s", p) : cli_path_join(o.dir, p);
		n = strlen(o.paths[i]);
		while (n > 1 && o.paths[i][n - 1] == '/')
			o.paths[i][--n] = 0;
	}
	now = cdp_now_ns();
	t1 = cli_resolve_time(t1_text, now);
	t2 = strcmp(ctx->args[1], "latest") == 0 ? CDP_TS_LATEST :
		cli_resolve_time(ctx->args[1], now);
	store = cli_store_path(ctx);
	ret = cli_store_open(store, &s, err, sizeof(err));
	if (ret < 0)
		die_line(err);
	ret = cli_query_view(s, store, host, t1_text, t1, &va, err, sizeof(err));
	if (ret == 0)
		ret = cli_query_view(s, store, host, ctx->args[1], t2, &vb, err, sizeof(err));
	if (ret == 0 && o.json) {
		fputs("{\"format\": \"cdpfs diff 1\", \"host\": ", stdout);
		cli_json_string(stdout, host);
		fputs(", \"dir\": ", stdout);
		cli_json_string(stdout, o.dir);
		fputs(", ", stdout);
		cli_json_time(stdout, "from", cdp_view_requested_ts(va), ", ");
		printf(", \"from_seq\": %llu, ", (unsigned long long)cdp_view_seq(va));
		cli_json_time(stdout, "to", cdp_view_requested_ts(vb), ", ");
		printf(", \"to_seq\": %llu, \"changes\": [", (unsigned long long)cdp_view_seq(vb));
	}
	if (ret == 0) {
		ret = cdp_diff(va, vb, o.dir, on_change, &o);
		if (ret == -ENOENT)
			cdp_errf(err, sizeof(err), "'%s' exists on host '%s' at neither instant",
				 o.dir, host);
		else if (ret == -ENOTDIR)
			cdp_errf(err, sizeof(err), "'%s' on host '%s' is not a directory (diff "
				 "compares trees; 'cdpfs log %s:%s' gives the history of a file)",
				 o.dir, host, host, o.dir);
		else if (ret < 0)
			cdp_errf(err, sizeof(err), "cannot compare '%s' on host '%s' in store '%s': "
				 "%s%s%s", o.dir, host, store, cdp_strerror(ret),
				 *cdp_store_last_error() ? ": " : "", cdp_store_last_error());
		if (ret == 0)
			print_end(&o);
		else if (o.json)
			fputs("]}\n", stdout);
	}
	cdp_view_free(va);
	cdp_view_free(vb);
	cdp_store_close(s);
	for (i = 0; i < o.npaths; i++)
		free(o.paths[i]);
	free(o.paths);
	for (size_t r = 0; r < o.nrows; r++)
		free(o.rows[r].dir);
	free(o.rows);
	free(host);
	free(dir);
	free(t1_text);
	if (ret < 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_diff = {
	.name = "diff",
	.fn = cmd_diff,
	.usage = "diff [--store DIR] HOST[:DIR]@T1 T2 [--stat] [--json] [-- PATH...]",
	.summary = "what changed between two instants (from the index, no data read)",
	.options = diff_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
