/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_status.c - `cdpfs status`: is every protected directory being
 * captured right now, and what is its RPO (how much would be lost if the
 * machine died this instant)?  One row per directory the store knows:
 *
 *   state      capturing | starting (baseline or resync) | degraded (the
 *              journal records nothing: store full or store errors) |
 *              down (its capture died: a gap runs) | stopped
 *   complete   the instant through which it is known captured: its
 *              heartbeat (moved about once a second while captured), the
 *              start of the degraded time, the last heartbeat before a crash
 *   RPO        now minus complete (not for stopped directories)
 * and the daemon's journal lag over the last minute, the store's size, its
 * disk's free space and the days until full at the average rate since the
 * first capture; the write rate of each directory's host over the last
 * minute (the activity summary counts per host), the host's last passing
 * drill, the last verify (cli/status_facts.c), and the alerts open now:
 * the conditions that hold at this instant among those the capture daemon
 * alerts on, judged with the thresholds of the configuration (--config,
 * default /etc/cdpfs/cdpfs.conf): capture_died (a directory down),
 * degraded, rpo_warning / rpo_error, store_fill, late_observation (one in
 * the last minute), verify_failed (the last verify found problems).
 *
 * Healthy: every directory that is not stopped is capturing with an RPO of
 * at most --max-rpo (default 10 s).  Exit status 0 healthy, 1 not (for
 * monitoring scripts), 2 could not run.  Output: aligned text, --json
 * (stable keys, below), or --prometheus (the text exposition format, for
 * node_exporter's textfile collector; base units, labels host and dir):
 *   {"store", "healthy", "now", "now_ns", "max_rpo_s", "used_bytes",
 *    "free_bytes", "days_until_full", "daemon": null | {"pid", "degraded",
 *    "degraded_since", "degraded_since_ns", "lag_p50_s", "lag_p99_s", "ops",
 *    "bytes_in"}, "dirs": [{"host", "path", "state", "healthy", "complete",
 *    "complete_ns", "rpo_s", "gap_since", "gap_since_ns", "late_count",
 *    "late_last", "late_last_ns", "host_write_bytes_per_s",
 *    "host_write_ops_per_s", "last_drill_pass", "last_drill_pass_ns",
 *    "last_drill_pass_id"}], "last_verify": null | {"finished",
 *    "finished_ns", "data", "problems", "host"}, "open_alerts": [{"event",
 *    "host", "dir"}],
 *  "shipping": null | {"server", "link", "since", "since_ns", "reason",
 *    "shipped_through", "shipped_through_ns", "lag_s"}}
 * late_count: changes made outside the capture mount (a descriptor opened
 * before it, a bind mount...), seen and resynced by the safety net.
 * Shipping (capture --ship): the link of this store's shipper and how far
 * the DR server holds the journal (STORE/ship.state).  On a DR server's
 * store, a directory of a host shipped there has the state "received",
 * complete through the instant the server holds it to, and its RPO is the
 * one a takeover on the server would have; it counts while the host says
 * it captures the directory.
 * The store is opened read-only; the daemon is asked over its socket.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "capture/capture.h"
#include "capture/capture_int.h"
#include "cli/cli.h"
#include "cli/status.h"
#include "ship/ship.h"
#include "store.h"

enum { OPT_PROMETHEUS = 256, OPT_MAX_RPO, OPT_CONFIG };

static const struct cli_option status_options[] = {
	{ "max-rpo", required_argument, OPT_MAX_RPO, "--max-rpo DURATION",
	  "the largest RPO that is still healthy (default 10s; s, m, h, d)" },
	{ "prometheus", no_argument, OPT_PROMETHEUS, "--prometheus",
	  "print metrics in the Prometheus text format" },
	{ "config", required_argument, OPT_CONFIG, "--config FILE",
	  "alert thresholds (default /etc/cdpfs/cdpfs.conf)" },
	CLI_OPT_JSON("machine-readable output with stable keys"),
	CLI_OPT_END
};

struct dir_status {
	const char *host, *path;
	const char *state;
	int healthy;
	int counted;            /* takes part in the exit status */
	int64_t complete_ns;    /* 0: unknown */
	int64_t rpo_ns;         /* -1: none (stopped) */
	int64_t gap_since_ns;   /* 0: none */
	uint64_t late_count;    /* changes seen late (outside the capture mount) */
	int64_t late_last_ns;   /* journaled instant of the newest one, 0: none */
	double host_bytes_per_s, host_ops_per_s;   /* its host, the last minute */
	int64_t drill_pass_ns;  /* start of the host's last passing drill, 0: none */
	char drill_pass_id[128];
};

/* A condition that holds now among those the daemon alerts on. */
struct open_alert {
	const char *event;
	const char *host, *path;   /* NULL: of the store */
};

struct status {
	const char *store;
	int64_t now;
	int64_t max_rpo;
	int daemon_up;
	struct cdp_capture_status d;
	uint64_t used, free_bytes;
	double days_until_full;   /* < 0: unknown */
	struct dir_status *dirs;
	size_t ndirs;
	int healthy;
	int shipping;             /* ship.state names a host of the store */
	struct cdp_ship_status ship;
	double ship_lag_s;
	int have_verify;
	struct status_verify verify;
	double used_percent;      /* of the store's filesystem */
	struct open_alert *alerts;
	size_t nalerts;
};

static uint64_t dir_bytes(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	uint64_t total = 0;
	DIR *d = opendir(path);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			total += dir_bytes(sub);
		else if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

static int daemon_serves(const struct status *s, const char *path, int *ready)
{
	size_t i;

	for (i = 0; s->daemon_up && i < s->d.ndirs; i++) {
		if (strcmp(s->d.dirs[i].path, path) == 0) {
			*ready = s->d.dirs[i].ready;
			return 1;
		}
	}
	return 0;
}

static void classify(struct status *s, const struct cdp_host_info *h,
		     const struct cdp_root_info *r, struct dir_status *ds)
{
	int ready = 0, served = daemon_serves(s, r->path, &ready);

	memset(ds, 0, sizeof(*ds));
	ds->host = h->name;
	ds->path = r->path;
	ds->rpo_ns = -1;
	ds->counted = 1;
	ds->gap_since_ns = r->gap_from_ts_ns;
	ds->late_count = r->late_count;
	ds->late_last_ns = r->late_last_ts_ns;
	if (h->received_lsn) {
		/* shipped here from its host: as complete as the server holds it */
		ds->state = r->active ? "received" : "stopped";
		ds->counted = r->active;
		ds->complete_ns = r->active ? h->complete_ts_ns : r->session_end_ts_ns;
		ds->rpo_ns = r->active ? (s->now > ds->complete_ns ? s->now - ds->complete_ns : 0) : -1;
		ds->healthy = !r->active || ds->rpo_ns <= s->max_rpo;
		return;
	}
	if (r->crashed) {
		ds->state = "down";
		ds->complete_ns = r->alive_ts_ns ? r->alive_ts_ns : h->latest_ts_ns;
		if (!ds->gap_since_ns)
			ds->gap_since_ns = ds->complete_ns;
	} else if (!r->active) {
		ds->state = "stopped";
		ds->counted = 0;
		ds->healthy = 1;
		ds->complete_ns = r->session_end_ts_ns;
		return;
	} else if (!served || s->d.pid != (int)r->pid) {
		/* a live session whose daemon does not answer (or is another's) */
		ds->state = "unresponsive";
		ds->complete_ns = r->alive_ts_ns;
	} else if (s->d.degraded) {
		ds->state = "degraded";
		ds->complete_ns = s->d.degraded_since_ts_ns;
		if (!ds->gap_since_ns)
			ds->gap_since_ns = s->d.degraded_since_ts_ns;
	} else if (!ready || r->gap_from_ts_ns || !r->baseline_ts_ns) {
		ds->state = "starting";
		ds->complete_ns = r->alive_ts_ns;
	} else {
		ds->state = "capturing";
		ds->complete_ns = r->alive_ts_ns ? r->alive_ts_ns : h->complete_ts_ns;
	}
	ds->rpo_ns = ds->complete_ns > 0 && ds->complete_ns < s->now ? s->now - ds->complete_ns :
		ds->complete_ns > 0 ? 0 : -1;
	ds->healthy = strcmp(ds->state, "capturing") == 0 && ds->rpo_ns >= 0 &&
		ds->rpo_ns <= s->max_rpo;
}

static void gather(struct status *s, struct cdp_store *st, struct cdp_host_info *hosts,
		   size_t nhosts)
{
	char path[PATH_MAX];
	struct statvfs vfs;
	int64_t first = 0;
	size_t i, j, n = 0;

	for (i = 0; i < nhosts; i++)
		n += hosts[i].nroots;
	s->dirs = calloc(n ? n : 1, sizeof(*s->dirs));
	if (!s->dirs)
		die("out of memory");
	s->healthy = 1;
	if (cdp_ship_status_read(s->store, &s->ship) == 0) {
		for (i = 0; i < nhosts && strcmp(hosts[i].name, s->ship.host) != 0; i++)
			;
		s->shipping = i < nhosts;
		if (s->shipping && hosts[i].complete_ts_ns > s->ship.shipped_through_ns)
			s->ship_lag_s = (double)(hosts[i].complete_ts_ns -
						 s->ship.shipped_through_ns) / 1e9;
		if (s->ship.state != CDP_LINK_STOPPED && !cdp_store_pid_alive(s->ship.pid))
			s->ship.state = CDP_LINK_STOPPED;
	}
	for (i = 0; i < nhosts; i++) {
		double bps = 0, ops = 0;
		int64_t drill_ns = 0;
		char drill_id[128] = "";

		if (hosts[i].first_ts_ns && (!first || hosts[i].first_ts_ns < first))
			first = hosts[i].first_ts_ns;
		/* the minute up to what the host is complete through: a view at
		 * now would wait for the writer to get there */
		if (!hosts[i].complete_ts_ns ||
		    status_write_rate(st, hosts[i].name, hosts[i].complete_ts_ns, &bps, &ops) < 0)
			bps = ops = 0;
		if (status_drill_last_pass(s->store, hosts[i].name, &drill_ns, drill_id,
					   sizeof(drill_id)) < 0)
			drill_ns = 0;
		for (j = 0; j < hosts[i].nroots; j++) {
			struct dir_status *ds = &s->dirs[s->ndirs];

			classify(s, &hosts[i], &hosts[i].roots[j], ds);
			ds->host_bytes_per_s = bps;
			ds->host_ops_per_s = ops;
			ds->drill_pass_ns = drill_ns;
			snprintf(ds->drill_pass_id, sizeof(ds->drill_pass_id), "%s", drill_id);
			if (s->dirs[s->ndirs].counted && !s->dirs[s->ndirs].healthy)
				s->healthy = 0;
			s->ndirs++;
		}
	}
	snprintf(path, sizeof(path), "%s/segments", s->store);
	s->used = dir_bytes(path);
	snprintf(path, sizeof(path), "%s/index", s->store);
	s->used += dir_bytes(path);
	s->days_until_full = -1;
	if (statvfs(s->store, &vfs) == 0) {
		s->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (vfs.f_blocks)
			s->used_percent = 100.0 * (double)(vfs.f_blocks - vfs.f_bavail) /
				(double)vfs.f_blocks;
		/* a rate needs history: an hour at least */
		if (first && s->now - first >= 3600000000000LL && s->used)
			s->days_until_full = (double)s->free_bytes /
				((double)s->used / ((double)(s->now - first) / 86400e9));
	}
}

static void add_alert(struct status *s, const char *event, const char *host, const char *path)
{
	struct open_alert *na = realloc(s->alerts, (s->nalerts + 1) * sizeof(*na));

	if (!na)
		die("out of memory");
	s->alerts = na;
	na[s->nalerts].event = event;
	na[s->nalerts].host = host;
	na[s->nalerts++].path = path;
}

/* The conditions the daemon alerts on (capture/daemon.c monitor(), the
 * supervisor, the safety net) that hold at s->now. */
static void open_alerts(struct status *s)
{
	const struct cap_config *cfg = cap_config();
	size_t i;

	if (s->daemon_up && s->d.degraded)
		add_alert(s, "degraded", NULL, NULL);
	for (i = 0; i < s->ndirs; i++) {
		const struct dir_status *d = &s->dirs[i];

		if (!d->counted)
			continue;
		if (strcmp(d->state, "down") == 0)
			add_alert(s, "capture_died", d->host, d->path);
		if (d->rpo_ns > cfg->rpo_error_ns)
			add_alert(s, "rpo_error", d->host, d->path);
		else if (d->rpo_ns > cfg->rpo_warning_ns)
			add_alert(s, "rpo_warning", d->host, d->path);
		if (d->late_last_ns && s->now - d->late_last_ns < 60000000000LL)
			add_alert(s, "late_observation", d->host, d->path);
	}
	if (s->used_percent > cfg->store_fill_percent)
		add_alert(s, "store_fill", NULL, NULL);
	if (s->have_verify && s->verify.problems)
		add_alert(s, "verify_failed", NULL, NULL);
}

static void print_text(FILE *out, const struct status *s)
{
	char when[40], rpo[32], lag[32], note[192];
	size_t i;

	fprintf(out, "%-12s %-32s %-12s %-20s %10s  %s\n", "HOST", "DIRECTORY", "STATE",
		"COMPLETE THROUGH", "RPO", "NOTE");
	for (i = 0; i < s->ndirs; i++) {
		const struct dir_status *d = &s->dirs[i];

		cli_time_local(d->complete_ns, when, sizeof(when));
		if (d->rpo_ns >= 0)
			cli_format_seconds(d->rpo_ns, rpo, sizeof(rpo));
		else
			snprintf(rpo, sizeof(rpo), "-");
		note[0] = 0;
		if (d->gap_since_ns) {
			char g[40];

			cli_time_local(d->gap_since_ns, g, sizeof(g));
			snprintf(note, sizeof(note), "gap since %s", g);
		} else if (d->counted && !d->healthy && d->rpo_ns > s->max_rpo) {
			snprintf(note, sizeof(note), "RPO above %lld s",
				 (long long)(s->max_rpo / 1000000000LL));
		}
		if (d->late_count) {
			char l[40];
			size_t o = strlen(note);

			cli_time_local(d->late_last_ns, l, sizeof(l));
			snprintf(note + o, sizeof(note) - o, "%s%llu change%s seen late (last %s)",
				 o ? "; " : "", (unsigned long long)d->late_count,
				 d->late_count == 1 ? "" : "s", l);
		}
		fprintf(out, "%-12s %-32s %-12s %-20s %10s  %s\n", d->host, d->path, d->state,
			when, rpo, note);
	}
	if (s->daemon_up) {
		snprintf(lag, sizeof(lag), "%.0f ms", (double)s->d.lag_p99_us / 1e3);
		fprintf(out, "capture daemon %d: journal lag p99 %s over the last minute, "
			"%llu operations since it started%s\n", s->d.pid,
			s->d.lag_p99_us ? lag : "- (no operation)",
			(unsigned long long)s->d.ops,
			s->d.degraded ? "; DEGRADED: nothing is being recorded" : "");
	} else {
		fprintf(out, "no capture daemon runs for this store\n");
	}
	if (s->shipping) {
		char thr[40], since[40];

		cli_time_local(s->ship.shipped_through_ns, thr, sizeof(thr));
		cli_time_local(s->ship.since_ns, since, sizeof(since));
		fprintf(out, "shipping to %s: %s since %s%s%s; the server holds it through %s, "
			"lag %.1f s\n", s->ship.server, cdp_link_state_name(s->ship.state), since,
			s->ship.reason[0] ? ": " : "", s->ship.reason,
			s->ship.shipped_through_ns > 0 ? thr : "nothing yet", s->ship_lag_s);
	}
	fprintf(out, "store %s: %.1f GiB used, %.1f GiB free", s->store,
		(double)s->used / (1 << 30), (double)s->free_bytes / (1 << 30));
	if (s->days_until_full >= 0)
		fprintf(out, ", full in %.0f days at the average rate since the first capture",
			s->days_until_full);
	fputc('\n', out);
	for (i = 0; i < s->ndirs; i++) {
		const struct dir_status *d = &s->dirs[i];

		/* once per host: its dirs are listed together */
		if (i && strcmp(s->dirs[i - 1].host, d->host) == 0)
			continue;
		fprintf(out, "host %s: writes %.1f KiB/s, %.1f operations/s over the last minute; ",
			d->host, d->host_bytes_per_s / 1024, d->host_ops_per_s);
		if (d->drill_pass_ns) {
			cli_time_local(d->drill_pass_ns, when, sizeof(when));
			fprintf(out, "last passing drill %s (%s)\n", when, d->drill_pass_id);
		} else {
			fprintf(out, "no passing drill\n");
		}
	}
	if (s->have_verify) {
		cli_time_local(s->verify.finished_ns, when, sizeof(when));
		fprintf(out, "last verify %s%s%s%s: %s\n", when,
			s->verify.data ? " (every chunk read)" : " (headers only)",
			s->verify.host[0] ? ", host " : "", s->verify.host,
			s->verify.problems ? "PROBLEMS FOUND" : "clean");
	} else {
		fprintf(out, "never verified (cdpfs verify)\n");
	}
	if (s->nalerts) {
		fprintf(out, "open alerts:");
		for (i = 0; i < s->nalerts; i++)
			fprintf(out, "%s %s%s%s", i ? "," : "", s->alerts[i].event,
				s->alerts[i].path ? " " : "", s->alerts[i].path ? s->alerts[i].path : "");
		fputc('\n', out);
	} else {
		fprintf(out, "no open alert\n");
	}
	fprintf(out, "%s\n", s->healthy ? "healthy" : "NOT HEALTHY");
}

static void print_json(FILE *out, const struct status *s)
{
	size_t i;

	fputs("{\"store\": ", out);
	cli_json_string(out, s->store);
	fprintf(out, ", \"healthy\": %s, ", s->healthy ? "true" : "false");
	cli_json_time(out, "now", s->now, ", ");
	fprintf(out, ", \"max_rpo_s\": %.3f, \"used_bytes\": %llu, \"free_bytes\": %llu, "
		"\"days_until_full\": ", (double)s->max_rpo / 1e9, (unsigned long long)s->used,
		(unsigned long long)s->free_bytes);
	if (s->days_until_full >= 0)
		fprintf(out, "%.1f", s->days_until_full);
	else
		fputs("null", out);
	fputs(", \"daemon\": ", out);
	if (s->daemon_up) {
		fprintf(out, "{\"pid\": %d, \"degraded\": %s, ", s->d.pid,
			s->d.degraded ? "true" : "false");
		cli_json_time(out, "degraded_since", s->d.degraded_since_ts_ns, ", ");
		fprintf(out, ", \"lag_p50_s\": %.6f, \"lag_p99_s\": %.6f, \"ops\": %llu, "
			"\"bytes_in\": %llu}", (double)s->d.lag_p50_us / 1e6,
			(double)s->d.lag_p99_us / 1e6, (unsigned long long)s->d.ops,
			(unsigned long long)s->d.bytes_in);
	} else {
		fputs("null", out);
	}
	fputs(", \"dirs\": [", out);
	for (i = 0; i < s->ndirs; i++) {
		const struct dir_status *d = &s->dirs[i];

		fprintf(out, "%s\n  {\"host\": ", i ? "," : "");
		cli_json_string(out, d->host);
		fputs(", \"path\": ", out);
		cli_json_string(out, d->path);
		fputs(", \"state\": ", out);
		cli_json_string(out, d->state);
		fprintf(out, ", \"healthy\": %s, ", d->healthy ? "true" : "false");
		cli_json_time(out, "complete", d->complete_ns, ", ");
		fputs(", \"rpo_s\": ", out);
		if (d->rpo_ns >= 0)
			fprintf(out, "%.3f", (double)d->rpo_ns / 1e9);
		else
			fputs("null", out);
		fputs(", ", out);
		cli_json_time(out, "gap_since", d->gap_since_ns, ", ");
		fprintf(out, ", \"late_count\": %llu, ", (unsigned long long)d->late_count);
		cli_json_time(out, "late_last", d->late_last_ns, ", ");
		fprintf(out, ", \"host_write_bytes_per_s\": %.1f, \"host_write_ops_per_s\": %.2f, ",
			d->host_bytes_per_s, d->host_ops_per_s);
		cli_json_time(out, "last_drill_pass", d->drill_pass_ns, ", ");
		fputs(", \"last_drill_pass_id\": ", out);
		cli_json_string_or_null(out, d->drill_pass_id);
		fputs("}", out);
	}
	fputs(s->ndirs ? "\n], \"last_verify\": " : "], \"last_verify\": ", out);
	if (s->have_verify) {
		fputs("{", out);
		cli_json_time(out, "finished", s->verify.finished_ns, ", ");
		fprintf(out, ", \"data\": %s, \"problems\": %llu, \"host\": ",
			s->verify.data ? "true" : "false", (unsigned long long)s->verify.problems);
		cli_json_string_or_null(out, s->verify.host);
		fputs("}", out);
	} else {
		fputs("null", out);
	}
	fputs(", \"open_alerts\": [", out);
	for (i = 0; i < s->nalerts; i++) {
		fprintf(out, "%s{\"event\": ", i ? ", " : "");
		cli_json_string(out, s->alerts[i].event);
		fputs(", \"host\": ", out);
		cli_json_string_or_null(out, s->alerts[i].host);
		fputs(", \"dir\": ", out);
		cli_json_string_or_null(out, s->alerts[i].path);
		fputs("}", out);
	}
	fputs("]", out);
	fputs(", \"shipping\": ", out);
	if (s->shipping) {
		fputs("{\"server\": ", out);
		cli_json_string(out, s->ship.server);
		fputs(", \"link\": ", out);
		cli_json_string(out, cdp_link_state_name(s->ship.state));
		fputs(", ", out);
		cli_json_time(out, "since", s->ship.since_ns, ", ");
		fputs(", \"reason\": ", out);
		cli_json_string_or_null(out, s->ship.reason);
		fputs(", ", out);
		cli_json_time(out, "shipped_through", s->ship.shipped_through_ns, ", ");
		fprintf(out, ", \"lag_s\": %.3f}", s->ship_lag_s);
	} else {
		fputs("null", out);
	}
	fputs("}\n", out);
}

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(out, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static void prom_dir_metric(FILE *out, const struct status *s, const char *name,
			    const char *type, const char *help, int which)
{
	size_t i;

	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (i = 0; i < s->ndirs; i++) {
		const struct dir_status *d = &s->dirs[i];
		double v;

		if (which == 1 && d->rpo_ns < 0)
			continue;
		if (which == 2 && d->complete_ns <= 0)
			continue;
		v = which == 0 ? strcmp(d->state, "capturing") == 0 :
			which == 1 ? (double)d->rpo_ns / 1e9 :
			which == 2 ? (double)d->complete_ns / 1e9 :
			which == 3 ? strcmp(d->state, "degraded") == 0 :
			which == 5 ? (double)d->late_count : d->healthy;
		fprintf(out, "%s{host=\"", name);
		prom_label(out, d->host);
		fputs("\",dir=\"", out);
		prom_label(out, d->path);
		fprintf(out, "\"} %.*f\n", which == 1 || which == 2 ? 3 : 0, v);
	}
}

static void print_prometheus(FILE *out, const struct status *s)
{
	size_t i;

	prom_dir_metric(out, s, "cdpfs_capture_up", "gauge",
			"1 while the directory is being captured, else 0.", 0);
	prom_dir_metric(out, s, "cdpfs_rpo_seconds", "gauge",
			"Now minus the instant through which the directory is known captured.",
			1);
	prom_dir_metric(out, s, "cdpfs_complete_through_timestamp_seconds", "gauge",
			"The instant through which the directory is known captured.", 2);
	prom_dir_metric(out, s, "cdpfs_degraded", "gauge",
			"1 while the journal records nothing (store full or store errors).", 3);
	prom_dir_metric(out, s, "cdpfs_healthy", "gauge",
			"1 when the directory is captured within the RPO limit.", 4);
	prom_dir_metric(out, s, "cdpfs_late_observations_total", "counter",
			"Changes made outside the capture mount, seen and resynced late.", 5);
	fprintf(out, "# HELP cdpfs_store_used_bytes Bytes the store takes on disk.\n"
		"# TYPE cdpfs_store_used_bytes gauge\ncdpfs_store_used_bytes %llu\n",
		(unsigned long long)s->used);
	fprintf(out, "# HELP cdpfs_store_free_bytes Free bytes on the store's disk.\n"
		"# TYPE cdpfs_store_free_bytes gauge\ncdpfs_store_free_bytes %llu\n",
		(unsigned long long)s->free_bytes);
	if (s->shipping)
		fprintf(out, "# HELP cdpfs_ship_connected 1 while the shipper is connected to "
			"its DR server.\n# TYPE cdpfs_ship_connected gauge\n"
			"cdpfs_ship_connected %d\n# HELP cdpfs_ship_lag_seconds What is committed "
			"here and not yet held by the DR server.\n# TYPE cdpfs_ship_lag_seconds "
			"gauge\ncdpfs_ship_lag_seconds %.3f\n",
			s->ship.state == CDP_LINK_CONNECTED, s->ship_lag_s);
	fprintf(out, "# HELP cdpfs_open_alert 1 for each alert condition that holds now.\n"
		"# TYPE cdpfs_open_alert gauge\n");
	for (i = 0; i < s->nalerts; i++) {
		fprintf(out, "cdpfs_open_alert{event=\"%s\",host=\"", s->alerts[i].event);
		prom_label(out, s->alerts[i].host ? s->alerts[i].host : "");
		fputs("\",dir=\"", out);
		prom_label(out, s->alerts[i].path ? s->alerts[i].path : "");
		fputs("\"} 1\n", out);
	}
	if (s->have_verify)
		fprintf(out, "# HELP cdpfs_last_verify_timestamp_seconds When the last verify "
			"finished.\n# TYPE cdpfs_last_verify_timestamp_seconds gauge\n"
			"cdpfs_last_verify_timestamp_seconds %.3f\n"
			"# HELP cdpfs_last_verify_problems Problems the last verify found.\n"
			"# TYPE cdpfs_last_verify_problems gauge\ncdpfs_last_verify_problems %llu\n",
			(double)s->verify.finished_ns / 1e9,
			(unsigned long long)s->verify.problems);
	fprintf(out, "# HELP cdpfs_last_drill_pass_timestamp_seconds Start of the host's last "
		"passing drill.\n# TYPE cdpfs_last_drill_pass_timestamp_seconds gauge\n");
	for (i = 0; i < s->ndirs; i++) {
		if (!s->dirs[i].drill_pass_ns ||
		    (i && strcmp(s->dirs[i - 1].host, s->dirs[i].host) == 0))
			continue;
		fputs("cdpfs_last_drill_pass_timestamp_seconds{host=\"", out);
		prom_label(out, s->dirs[i].host);
		fprintf(out, "\"} %.3f\n", (double)s->dirs[i].drill_pass_ns / 1e9);
	}
	if (!s->daemon_up)
		return;
	fprintf(out, "# HELP cdpfs_journal_lag_seconds Write to durable in the store, last "
		"minute.\n# TYPE cdpfs_journal_lag_seconds gauge\n"
		"cdpfs_journal_lag_seconds{quantile=\"0.5\"} %.6f\n"
		"cdpfs_journal_lag_seconds{quantile=\"0.99\"} %.6f\n",
		(double)s->d.lag_p50_us / 1e6, (double)s->d.lag_p99_us / 1e6);
	fprintf(out, "# HELP cdpfs_journal_operations_total Operations journaled since the "
		"daemon started.\n# TYPE cdpfs_journal_operations_total counter\n"
		"cdpfs_journal_operations_total %llu\n", (unsigned long long)s->d.ops);
	fprintf(out, "# HELP cdpfs_journal_bytes_total Bytes written through capture since "
		"the daemon started.\n# TYPE cdpfs_journal_bytes_total counter\n"
		"cdpfs_journal_bytes_total %llu\n", (unsigned long long)s->d.bytes_in);
}

static int cmd_status(struct cli_ctx *ctx)
{
	struct status s = { .max_rpo = 10000000000LL };
	struct cdp_host_info *hosts;
	struct cdp_store *st;
	char err[PATH_MAX + 256];
	const char *value, *config = NULL;
	size_t nhosts;
	int opt, prometheus = 0, ret;

	while ((opt = cli_getopt(ctx, &value)) != -1) {
		if (opt == OPT_PROMETHEUS)
			prometheus = 1;
		else if (opt == OPT_MAX_RPO && cli_parse_duration(value, &s.max_rpo) < 0)
			cli_usage_error(ctx->cmd, "bad --max-rpo '%s' (expected e.g. 10s, 2m)",
					value);
		else if (opt == OPT_CONFIG)
			config = value;
	}
	if (ctx->nargs)
		cli_usage_error(ctx->cmd, "status takes no operand");
	s.store = cli_store_path(ctx);
	if (cap_config_load(config, config != NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	if (cli_store_open(s.store, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s%s\n", strncmp(err, "cdpfs:", 6) ? "cdpfs: " : "", err);
		exit(2);
	}
	s.daemon_up = cdp_capture_status(s.store, &s.d) == 0;
	s.now = cdp_now_ns();
	ret = cdp_store_hosts(st, &hosts, &nhosts);
	if (ret < 0) {
		fprintf(stderr, "cdpfs: cannot read the hosts of store '%s': %s\n", s.store,
			cdp_strerror(ret));
		exit(2);
	}
	gather(&s, st, hosts, nhosts);
	s.have_verify = status_verify_last(s.store, &s.verify) == 0;
	open_alerts(&s);
	if (prometheus)
		print_prometheus(stdout, &s);
	else if (ctx->json)
		print_json(stdout, &s);
	else
		print_text(stdout, &s);
	free(s.dirs);
	free(s.alerts);
	cdp_host_info_free(hosts, nhosts);
	if (s.daemon_up)
		cdp_capture_status_free(&s.d);
	cdp_store_close(st);
	return s.healthy ? 0 : 1;
}

const struct cli_cmd cli_cmd_status = {
	.name = "status",
	.fn = cmd_status,
	.usage = "status [--store DIR] [--max-rpo DURATION] [--config FILE] [--json | --prometheus]",
	.summary = "is every protected directory captured now, and its RPO (exit 1 if not)",
	.options = status_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
