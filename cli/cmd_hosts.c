/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_hosts.c - `cdpfs hosts`: what the store holds, one row per captured
 * directory: host, directory, first mountable instant, latest instant,
 * whether capture runs now, and the gaps (times nothing was captured).
 * Human output is aligned columns in local time; --json prints stable keys
 * with both ISO-8601 strings and integer nanoseconds:
 *   {"store": S, "hosts": [{"name", "first", "first_ns", "latest",
 *    "latest_ns", "latest_seq", "dirs": [{"path", "first", "first_ns",
 *    "active", "state", "gaps": [{"from", "from_ns", "to", "to_ns"}],
 *    "late_count", "late_last_ns"}]}]}
 * LATE counts the changes seen late (made outside the capture mount,
 * resynced by the safety net; cdp_late records), with the newest one.
 * The store is opened read-only, so this works while capture runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store.h"

static const struct cli_option hosts_options[] = {
	CLI_OPT_JSON("machine-readable output with stable keys"),
	CLI_OPT_END
};

static const char *root_state(const struct cdp_root_info *r)
{
	if (r->active)
		return "active";
	if (r->baseline_ts_ns == 0)
		return "incomplete";
	return r->session_end_ts_ns ? "stopped" : "stopped (unclean)";
}

static void print_json(FILE *out, const char *store, const struct cdp_host_info *hosts,
		       size_t n)
{
	size_t i, j, k;

	fputs("{\"store\": ", out);
	cli_json_string(out, store);
	fputs(", \"hosts\": [", out);
	for (i = 0; i < n; i++) {
		const struct cdp_host_info *h = &hosts[i];

		fprintf(out, "%s\n  {\"name\": ", i ? "," : "");
		cli_json_string(out, h->name);
		fputs(", ", out);
		cli_json_time(out, "first", h->first_ts_ns, ", ");
		fputs(", ", out);
		cli_json_time(out, "latest", h->latest_ts_ns, ", ");
		fprintf(out, ", \"latest_seq\": %llu, \"dirs\": [",
			(unsigned long long)h->latest_seq);
		for (j = 0; j < h->nroots; j++) {
			const struct cdp_root_info *r = &h->roots[j];

			fprintf(out, "%s\n    {\"path\": ", j ? "," : "");
			cli_json_string(out, r->path);
			fputs(", ", out);
			cli_json_time(out, "first", r->baseline_ts_ns, ", ");
			fprintf(out, ", \"active\": %s, \"state\": ", r->active ? "true" : "false");
			cli_json_string(out, root_state(r));
			fputs(", \"gaps\": [", out);
			for (k = 0; k < r->ngaps; k++) {
				fputs(k ? ", {" : "{", out);
				cli_json_time(out, "from", r->gaps[k].from_ts_ns, ", ");
				fputs(", ", out);
				cli_json_time(out, "to", r->gaps[k].to_ts_ns, ", ");
				fputs("}", out);
			}
			fprintf(out, "], \"late_count\": %llu, \"late_last_ns\": %lld}",
				(unsigned long long)r->late_count, (long long)r->late_last_ts_ns);
		}
		fputs(h->nroots ? "\n  ]}" : "]}", out);
	}
	fputs(n ? "\n]}\n" : "]}\n", out);
}

#define NCOLS 7

struct row {
	const char *cols[NCOLS];
	char first[32], latest[32], late[64];
	char *gaps;
};

static char *format_gaps(const struct cdp_root_info *r)
{
	size_t k, size = 2 + r->ngaps * 48, used = 0;
	char *s = malloc(size), a[32], b[32];

	if (!s)
		die("out of memory");
	s[0] = '\0';
	for (k = 0; k < r->ngaps; k++) {
		cli_time_local(r->gaps[k].from_ts_ns, a, sizeof(a));
		cli_time_local(r->gaps[k].to_ts_ns, b, sizeof(b));
		used += (size_t)snprintf(s + used, size - used, "%s%s - %s", k ? ", " : "", a, b);
	}
	if (!r->ngaps)
		snprintf(s, size, "-");
	return s;
}

static void print_table(FILE *out, const struct cdp_host_info *hosts, size_t n)
{
	static const char *const header[NCOLS] = { "HOST", "DIRECTORY", "FIRST", "LATEST",
						   "STATE", "LATE", "GAPS" };
	size_t nrows = 0, i, j, col, width[NCOLS];
	struct row *rows;

	for (i = 0; i < n; i++)
		nrows += hosts[i].nroots ? hosts[i].nroots : 1;
	rows = calloc(nrows ? nrows : 1, sizeof(*rows));
	if (!rows)
		die("out of memory");
	nrows = 0;
	for (i = 0; i < n; i++) {
		const struct cdp_host_info *h = &hosts[i];

		for (j = 0; j < (h->nroots ? h->nroots : 1); j++) {
			struct row *w = &rows[nrows++];
			const struct cdp_root_info *r = h->nroots ? &h->roots[j] : NULL;

			w->cols[0] = h->name;
			w->cols[1] = r ? r->path : "-";
			cli_time_local(r && r->baseline_ts_ns ? r->baseline_ts_ns : h->first_ts_ns,
				       w->first, sizeof(w->first));
			cli_time_local(h->latest_ts_ns, w->latest, sizeof(w->latest));
			w->cols[2] = w->first;
			w->cols[3] = w->latest;
			w->cols[4] = r ? root_state(r) : "-";
			if (r && r->late_count) {
				char t[32];

				cli_time_local(r->late_last_ts_ns, t, sizeof(t));
				snprintf(w->late, sizeof(w->late), "%llu (last %s)",
					 (unsigned long long)r->late_count, t);
			} else {
				snprintf(w->late, sizeof(w->late), "-");
			}
			w->cols[5] = w->late;
			w->gaps = r ? format_gaps(r) : strdup("-");
			if (!w->gaps)
				die("out of memory");
			w->cols[6] = w->gaps;
		}
	}
	for (col = 0; col < NCOLS; col++) {
		width[col] = strlen(header[col]);
		for (i = 0; i < nrows; i++)
			if (strlen(rows[i].cols[col]) > width[col])
				width[col] = strlen(rows[i].cols[col]);
	}
	for (col = 0; col < NCOLS - 1; col++)
		fprintf(out, "%-*s  ", (int)width[col], header[col]);
	fprintf(out, "%s\n", header[NCOLS - 1]);
	for (i = 0; i < nrows; i++) {
		for (col = 0; col < NCOLS - 1; col++)
			fprintf(out, "%-*s  ", (int)width[col], rows[i].cols[col]);
		fprintf(out, "%s\n", rows[i].cols[NCOLS - 1]);
		free(rows[i].gaps);
	}
	free(rows);
}

static int cmd_hosts(struct cli_ctx *ctx)
{
	struct cdp_host_info *hosts = NULL;
	struct cdp_store *s;
	const char *store;
	size_t n = 0;
	int ret;

	while (cli_getopt(ctx, NULL) != -1)
		;
	if (ctx->nargs)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[0]);
	store = cli_store_path(ctx);
	s = cli_open_store(ctx);
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0) {
		cdp_store_close(s);
		die("cannot list hosts of store '%s': %s", store, cdp_strerror(ret));
	}
	if (ctx->json)
		print_json(stdout, store, hosts, n);
	else if (n == 0)
		printf("no host captured yet in store '%s'\n", store);
	else
		print_table(stdout, hosts, n);
	cdp_host_info_free(hosts, n);
	cdp_store_close(s);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

const struct cli_cmd cli_cmd_hosts = {
	.name = "hosts",
	.fn = cmd_hosts,
	.usage = "hosts [--store DIR] [--json]",
	.summary = "list captured hosts and directories, from when to when, and gaps",
	.options = hosts_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
