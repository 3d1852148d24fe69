/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_hosts.c - `cdpfs hosts`: what the store holds, one row per captured
 * directory: host, directory, first mountable instant, latest instant,
 * whether capture runs now, and the gaps (times nothing was captured).
 * Human output is aligned columns in local time; --json prints stable keys
 * with both ISO-8601 strings and integer nanoseconds:
 *   {"store": S, "hosts": [{"name", "first", "first_ns", "latest",
 *    "latest_ns", "latest_seq", "policy": [RULE...], "retention": null or
 *    {"last_prune", "last_prune_ns", "reason", "periods": [{"from",
 *    "from_ns", "to", "to_ns", "every"}]}, "dirs": [{"path", "first",
 *    "first_ns", "active", "state", "shipped_through", "shipped_through_ns",
 *    "gaps": [{"from", "from_ns", "to", "to_ns"}], "late_count",
 *    "late_last_ns"}]}]}
 * After a prune, "first" is the oldest kept state, and each period of the
 * history says how finely it is kept ("every": "all" or a duration).
 * LATE counts the changes seen late (made outside the capture mount,
 * resynced by the safety net; cdp_late records), with the newest one.
 * Shipping (ship/ship.h) adds, per host, "shipping": on a protected host
 * whose capture daemon ships (STORE/ship.state): {"server", "link"
 * (connected, retrying, refused, connecting, stopped), "since",
 * "since_ns", "reason", "shipped_through", "shipped_through_ns", "lag_s",
 * "acked_lsn"}, else null; and "received": on a DR server's store, for a
 * host shipped to it: {"last", "last_ns", "age_s", "lsn"}, else null.
 * Each dir repeats "shipped_through"/"shipped_through_ns" (one stream
 * carries every directory of a host).  The table gains a SHIPPING column
 * when any host has either.
 * The store is opened read-only, so this works while capture runs.
 * "state" is "active", "degraded" (active, but the running capture
 * daemon's journal records nothing: the store's disk is full or fails; a
 * gap runs until it resyncs), "incomplete", "stopped" or "stopped
 * (unclean)".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "cli/cli.h"
#include "retain.h"
#include "ship/ship.h"
#include "store.h"

static const struct cli_option hosts_options[] = {
	CLI_OPT_JSON("machine-readable output with stable keys"),
	CLI_OPT_END
};

/* The shipping state of this store's capture daemon, for host h: 1 and
 * *st when it ships h, 0 when not. */
static int ship_status(const char *store, const struct cdp_host_info *h,
		       struct cdp_ship_status *st)
{
	if (cdp_ship_status_read(store, st) < 0 || strcmp(st->host, h->name) != 0)
		return 0;
	if (st->state != CDP_LINK_STOPPED && !cdp_store_pid_alive(st->pid)) {
		st->state = CDP_LINK_STOPPED;
		snprintf(st->reason, sizeof(st->reason), "the capture daemon (pid %u) is gone",
			 st->pid);
	}
	return 1;
}

/* Seconds the server lags the host: what is committed here and not
 * acknowledged there. */
static double ship_lag_s(const struct cdp_host_info *h, const struct cdp_ship_status *st)
{
	int64_t lag = h->complete_ts_ns - st->shipped_through_ns;

	if (st->shipped_through_ns <= 0)
		lag = h->complete_ts_ns - h->first_ts_ns;
	return lag > 0 ? (double)lag / 1e9 : 0.0;
}

static void json_shipping(FILE *out, const char *store, const struct cdp_host_info *h)
{
	struct cdp_ship_status st;
	int64_t now = cdp_now_ns();

	fputs(", \"shipping\": ", out);
	if (!ship_status(store, h, &st)) {
		fputs("null", out);
	} else {
		fputs("{\"server\": ", out);
		cli_json_string(out, st.server);
		fputs(", \"link\": ", out);
		cli_json_string(out, cdp_link_state_name(st.state));
		fputs(", ", out);
		cli_json_time(out, "since", st.since_ns, ", ");
		fputs(", \"reason\": ", out);
		cli_json_string_or_null(out, st.reason);
		fputs(", ", out);
		cli_json_time(out, "shipped_through", st.shipped_through_ns, ", ");
		fprintf(out, ", \"lag_s\": %.3f, \"acked_lsn\": %llu}", ship_lag_s(h, &st),
			(unsigned long long)st.acked_lsn);
	}
	fputs(", \"received\": ", out);
	if (!h->received_lsn) {
		fputs("null", out);
	} else {
		fputs("{", out);
		cli_json_time(out, "last", h->received_ts_ns, ", ");
		fprintf(out, ", \"age_s\": %.3f, \"lsn\": %llu}",
			now > h->received_ts_ns ? (double)(now - h->received_ts_ns) / 1e9 : 0.0,
			(unsigned long long)h->received_lsn);
	}
}

/* The SHIPPING column of host h: "" when it neither ships nor was shipped. */
static void ship_cell(const char *store, const struct cdp_host_info *h, char *buf, size_t size)
{
	struct cdp_ship_status st;
	char t[32], lag[32];
	int64_t now = cdp_now_ns();

	buf[0] = '\0';
	if (h->received_lsn) {
		cli_time_local(h->received_ts_ns, t, sizeof(t));
		cli_format_seconds(now > h->received_ts_ns ? now - h->received_ts_ns : 0, lag,
				   sizeof(lag));
		snprintf(buf, size, "received %s (%s ago)", t, lag);
		return;
	}
	if (!ship_status(store, h, &st))
		return;
	if (st.shipped_through_ns > 0)
		cli_time_local(st.shipped_through_ns, t, sizeof(t));
	else
		snprintf(t, sizeof(t), "nothing yet");
	snprintf(lag, sizeof(lag), "%.1f s", ship_lag_s(h, &st));
	if (st.state == CDP_LINK_CONNECTED || st.state == CDP_LINK_CONNECTING) {
		snprintf(buf, size, "to %s: through %s, lag %s, %s", st.server, t, lag,
			 cdp_link_state_name(st.state));
	} else {
		char since[32];

		cli_time_local(st.since_ns, since, sizeof(since));
		snprintf(buf, size, "to %s: through %s, lag %s, %s%s%s: %s", st.server, t, lag,
			 cdp_link_state_name(st.state),
			 st.state == CDP_LINK_RETRYING ? " since " : "",
			 st.state == CDP_LINK_RETRYING ? since : "",
			 st.reason[0] ? st.reason : "-");
	}
}

/* The capture daemon of the store says its journal is degraded. */
static int journal_degraded;

static const char *root_state(const struct cdp_root_info *r)
{
	if (r->active)
		return journal_degraded ? "degraded" : "active";
	if (r->baseline_ts_ns == 0)
		return "incomplete";
	return r->session_end_ts_ns ? "stopped" : "stopped (unclean)";
}

static const char *reason_name(int reason)
{
	return reason == CDP_PRUNE_LOW_SPACE ? "low space" :
		reason == CDP_PRUNE_SCHEDULE ? "policy" : "manual";
}

static void every_name(int64_t every_ns, char *buf, size_t size)
{
	struct cdp_keep_rule r = { .age_ns = every_ns ? every_ns : 1000000000, .every_ns = 0 };

	if (!every_ns) {
		snprintf(buf, size, "all");
		return;
	}
	/* "AGE:all" with AGE = every: the duration before the colon */
	cdp_keep_rule_format(&r, buf, size);
	buf[strcspn(buf, ":")] = '\0';
}

static void json_retention(FILE *out, const struct cdp_retention_info *ri)
{
	struct cdp_period p[CDP_KEEP_RULES_MAX + 1];
	char buf[64];
	size_t i, n;

	fputs(", \"policy\": [", out);
	for (i = 0; i < ri->npolicy; i++) {
		cdp_keep_rule_format(&ri->policy[i], buf, sizeof(buf));
		fputs(i ? ", " : "", out);
		cli_json_string(out, buf);
	}
	fputs("], \"retention\": ", out);
	if (!ri->last_prune_ns) {
		fputs("null", out);
		return;
	}
	fputs("{", out);
	cli_json_time(out, "last_prune", ri->last_prune_ns, ", ");
	fprintf(out, ", \"reason\": \"%s\", \"periods\": [", reason_name(ri->last_reason));
	n = cdp_retention_periods(ri, p);
	for (i = 0; i < n; i++) {
		fputs(i ? ", {" : "{", out);
		cli_json_time(out, "from", p[i].from_ns, ", ");
		fputs(", ", out);
		cli_json_time(out, "to", p[i].to_ns == INT64_MAX ? 0 : p[i].to_ns, ", ");
		every_name(p[i].every_ns, buf, sizeof(buf));
		fputs(", \"every\": ", out);
		cli_json_string(out, buf);
		fputs("}", out);
	}
	fputs("]}", out);
}

static void text_retention(FILE *out, const char *host, const struct cdp_retention_info *ri)
{
	struct cdp_period p[CDP_KEEP_RULES_MAX + 1];
	char a[32], b[32], every[64];
	size_t i, n;

	if (!ri->last_prune_ns && !ri->npolicy)
		return;
	fprintf(out, "%s: policy ", host);
	for (i = 0; i < ri->npolicy; i++) {
		cdp_keep_rule_format(&ri->policy[i], every, sizeof(every));
		fprintf(out, "%s%s", i ? " " : "", every);
	}
	if (!ri->npolicy)
		fputs("none", out);
	if (ri->last_prune_ns) {
		cli_time_local(ri->last_prune_ns, a, sizeof(a));
		fprintf(out, "; last pruned %s (%s)", a, reason_name(ri->last_reason));
	}
	fputs("\n", out);
	n = cdp_retention_periods(ri, p);
	for (i = 0; i < n; i++) {
		cli_time_local(p[i].from_ns, a, sizeof(a));
		if (p[i].to_ns == INT64_MAX)
			snprintf(b, sizeof(b), "now");
		else
			cli_time_local(p[i].to_ns, b, sizeof(b));
		every_name(p[i].every_ns, every, sizeof(every));
		if (p[i].every_ns)
			fprintf(out, "  %s - %s: one state every %s\n", a, b, every);
		else
			fprintf(out, "  %s - %s: every state\n", a, b);
	}
}

static void print_json(FILE *out, const char *store, const struct cdp_host_info *hosts,
		       const struct cdp_retention_info *ri, size_t n)
{
	struct cdp_ship_status st;
	size_t i, j, k;
	int shipping;

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
		fprintf(out, ", \"latest_seq\": %llu", (unsigned long long)h->latest_seq);
		json_retention(out, &ri[i]);
		json_shipping(out, store, h);
		shipping = ship_status(store, h, &st);
		fputs(", \"dirs\": [", out);
		for (j = 0; j < h->nroots; j++) {
			const struct cdp_root_info *r = &h->roots[j];

			fprintf(out, "%s\n    {\"path\": ", j ? "," : "");
			cli_json_string(out, r->path);
			fputs(", ", out);
			cli_json_time(out, "first", r->baseline_ts_ns, ", ");
			fprintf(out, ", \"active\": %s, \"state\": ", r->active ? "true" : "false");
			cli_json_string(out, root_state(r));
			fputs(", ", out);
			cli_json_time(out, "shipped_through", shipping ? st.shipped_through_ns :
				      h->received_lsn ? h->complete_ts_ns : 0, ", ");
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

#define NCOLS 8

struct row {
	const char *cols[NCOLS];
	char first[32], latest[32], late[64], ship[1024];
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

static void print_table(FILE *out, const char *store, const struct cdp_host_info *hosts,
			size_t n)
{
	static const char *const header[NCOLS] = { "HOST", "DIRECTORY", "FIRST", "LATEST",
						   "STATE", "LATE", "GAPS", "SHIPPING" };
	size_t nrows = 0, i, j, col, width[NCOLS], ncols = NCOLS - 1;
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
			/* after a prune no root reaches back past the host's floor */
			cli_time_local(r && r->baseline_ts_ns > h->first_ts_ns ? r->baseline_ts_ns :
				       h->first_ts_ns, w->first, sizeof(w->first));
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
			ship_cell(store, h, w->ship, sizeof(w->ship));
			w->cols[7] = w->ship;
			if (w->ship[0])
				ncols = NCOLS;
		}
	}
	for (i = 0; i < nrows; i++)
		if (!rows[i].ship[0])
			rows[i].cols[7] = "-";
	for (col = 0; col < ncols; col++) {
		width[col] = strlen(header[col]);
		for (i = 0; i < nrows; i++)
			if (strlen(rows[i].cols[col]) > width[col])
				width[col] = strlen(rows[i].cols[col]);
	}
	for (col = 0; col + 1 < ncols; col++)
		fprintf(out, "%-*s  ", (int)width[col], header[col]);
	fprintf(out, "%s\n", header[ncols - 1]);
	for (i = 0; i < nrows; i++) {
		for (col = 0; col + 1 < ncols; col++)
			fprintf(out, "%-*s  ", (int)width[col], rows[i].cols[col]);
		fprintf(out, "%s\n", rows[i].cols[ncols - 1]);
		free(rows[i].gaps);
	}
	free(rows);
}

static int cmd_hosts(struct cli_ctx *ctx)
{
	struct cdp_host_info *hosts = NULL;
	struct cdp_retention_info *ri;
	struct cdp_store *s;
	const char *store;
	size_t n = 0, i;
	int ret;

	while (cli_getopt(ctx, NULL) != -1)
		;
	if (ctx->nargs)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[0]);
	store = cli_store_path(ctx);
	s = cli_open_store(ctx);
	{
		struct cdp_capture_status st;

		if (cdp_capture_status(store, &st) == 0) {
			journal_degraded = st.degraded;
			cdp_capture_status_free(&st);
		}
	}
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0) {
		cdp_store_close(s);
		die("cannot list hosts of store '%s': %s", store, cdp_strerror(ret));
	}
	ri = calloc(n ? n : 1, sizeof(*ri));
	for (i = 0; ri && ret == 0 && i < n; i++)
		ret = cdp_store_retention(s, hosts[i].name, &ri[i]);
	if (!ri || ret < 0) {
		cdp_store_close(s);
		die("cannot read the retention of store '%s': %s", store,
		    cdp_strerror(ri ? ret : -ENOMEM));
	}
	if (ctx->json) {
		print_json(stdout, store, hosts, ri, n);
	} else if (n == 0) {
		printf("no host captured yet in store '%s'\n", store);
	} else {
		print_table(stdout, store, hosts, n);
		for (i = 0; i < n; i++)
			text_retention(stdout, hosts[i].name, &ri[i]);
	}
	free(ri);
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
	.summary = "list captured hosts and directories, from when to when, gaps, shipping",
	.options = hosts_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
