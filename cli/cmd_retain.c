/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_retain.c - retention verbs over store/retain.h:
 *   `cdpfs pin [--store S] HOST@TIME [--note TEXT]`, `cdpfs pin --list
 *   [HOST] [--json]`, `cdpfs unpin [--store S] HOST@TIME`: legal holds;
 *   `cdpfs prune [--store S] HOST --keep AGE:EVERY... [--dry-run]
 *   [--no-gc] [--threshold P] [--json]`: thin a host's history once;
 *   `cdpfs gc [--store S] [--threshold P] [--json]`: reclaim chunks no
 *   kept state references and compact segments;
 *   `cdpfs policy set [--store S] HOST --keep ...|--none`, `cdpfs policy
 *   show [--store S] [HOST] [--json]`: what the capture daemon applies.
 * Each writing verb asks the capture daemon when one runs (it holds the
 * index's primary, capture/retain_ctl.c), else takes the writer lock.
 * prune and gc show their progress on stderr when it is a terminal (not
 * with --json): one line per phase, rewritten in place while it runs.
 * --json keys (stable, cdpfs(8)):
 *   pin --list: {"pins": [{"host", "seq", "time", "time_ns", "created",
 *     "created_ns", "note"}]}
 *   prune: {"host", "dry_run", "rules", "now", "now_ns", "states_before",
 *     "states_kept", "states_removed", "states_protected", "versions_seen",
 *     "versions_removed", "oldest_kept", "oldest_kept_ns", "oldest_kept_seq",
 *     "gc": null or the object of gc}
 *   gc: {"chunks", "chunks_removed", "bytes_unreferenced",
 *     "segments_compacted", "chunks_moved", "bytes_reclaimed"}
 *   policy show: {"policies": [{"host", "rules", "last_prune", "last_prune_ns",
 *     "last_reason", "last_rules", "oldest_kept", "oldest_kept_ns"}]}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "capture/capture.h"
#include "cli/cli.h"
#include "retain.h"
#include "store.h"

enum { OPT_NOTE = 256, OPT_LIST, OPT_KEEP, OPT_DRY, OPT_NOGC, OPT_THRESHOLD, OPT_NONE };

#define DEFAULT_THRESHOLD 0.30

/* HOST@TIME into host (heap) and an exact instant. */
static char *split_spec(const struct cli_cmd *cmd, const char *spec, int64_t *ts)
{
	const char *at = spec ? strrchr(spec, '@') : NULL;
	char *host;

	if (!at || at == spec || !at[1])
		cli_usage_error(cmd, "expected HOST@TIME, got '%s'", spec ? spec : "");
	/* "@1764649987" is a TIME of its own: HOST@@1764649987 */
	if (at > spec + 1 && at[-1] == '@')
		at--;
	host = strndup(spec, (size_t)(at - spec));
	if (!host)
		die("out of memory");
	*ts = cli_resolve_time(at + 1, cdp_now_ns());
	return host;
}

/* Opens store for writing (no capture daemon runs); dies with one line. */
static struct cdp_store *open_writer(const char *store)
{
	struct cdp_store *s;
	int ret = cdp_store_open(store, CDP_STORE_WRITE, NULL, &s);

	if (ret == -CDP_ELOCKED)
		die("store '%s' is open for writing by a process that is not its capture daemon; "
		    "retry when it is done", store);
	if (ret == -CDP_ENOSTORE || ret == -ENOENT)
		die("no store at '%s' (name it with --store or CDPFS_STORE)", store);
	if (ret < 0)
		die("cannot open store '%s' for writing: %s%s%s", store, cdp_strerror(ret),
		    *cdp_store_last_error() ? ": " : "", cdp_store_last_error());
	return s;
}

static const char *strip_prefix(const char *err)
{
	return strncmp(err, "cdpfs: ", 7) == 0 ? err + 7 : err;
}

static void host_error(const char *store, const char *host, int ret)
{
	if (ret == -CDP_ENOHOST)
		die("no capture of host '%s' in store '%s' (see 'cdpfs hosts')", host, store);
	if (ret == -CDP_EBEFORE)
		die("that instant is before the first kept state of host '%s'", host);
	if (ret == -CDP_EFUTURE)
		die("that instant is in the future");
}

/* ------------------------------------------------------------- pin */

static const struct cli_option pin_options[] = {
	{ NULL, 0, 0, "HOST@TIME", "the state TIME resolves to, as a mount would serve it" },
	{ "note", required_argument, OPT_NOTE, "--note TEXT", "why it is held (shown by --list)" },
	{ "list", no_argument, OPT_LIST, "--list [HOST]", "list the pins (of HOST)" },
	CLI_OPT_JSON("with --list: machine-readable output with stable keys"),
	CLI_OPT_END
};

static void print_pins_json(const struct cdp_pin_info *p, size_t n)
{
	size_t i;

	fputs("{\"pins\": [", stdout);
	for (i = 0; i < n; i++) {
		fputs(i ? ",\n  {\"host\": " : "\n  {\"host\": ", stdout);
		cli_json_string(stdout, p[i].host);
		printf(", \"seq\": %llu, ", (unsigned long long)p[i].seq);
		cli_json_time(stdout, "time", p[i].ts_ns, ", ");
		fputs(", ", stdout);
		cli_json_time(stdout, "created", p[i].created_ns, ", ");
		fputs(", \"note\": ", stdout);
		cli_json_string(stdout, p[i].note);
		fputs("}", stdout);
	}
	fputs(n ? "\n]}\n" : "]}\n", stdout);
}

static int pin_list(struct cli_ctx *ctx)
{
	struct cdp_pin_info *pins;
	struct cdp_store *s;
	char at[48], t[32];
	size_t n, i;
	int ret;

	if (ctx->nargs > 1)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[1]);
	s = cli_open_store(ctx);
	ret = cdp_store_pins(s, ctx->nargs ? ctx->args[0] : NULL, &pins, &n);
	cdp_store_close(s);
	if (ret < 0) {
		host_error(cli_store_path(ctx), ctx->args[0], ret);
		die("cannot list the pins of store '%s': %s", cli_store_path(ctx),
		    cdp_strerror(ret));
	}
	if (ctx->json) {
		print_pins_json(pins, n);
	} else if (!n) {
		printf("no pins\n");
	} else {
		printf("%-16s %-22s %-21s %s\n", "HOST", "INSTANT", "TIME", "NOTE");
		for (i = 0; i < n; i++) {
			cli_format_at(pins[i].ts_ns, at, sizeof(at));
			cli_time_local(pins[i].ts_ns, t, sizeof(t));
			printf("%-16s %-22s %-21s %s\n", pins[i].host, at, t, pins[i].note);
		}
	}
	cdp_pin_info_free(pins, n);
	return 0;
}

static int pin_or_unpin(struct cli_ctx *ctx, int unpin, const char *note)
{
	const char *store = cli_store_path(ctx);
	struct cdp_pin_info pin;
	struct cdp_store *s;
	char err[1024], at[48];
	int64_t ts;
	char *host;
	int ret;

	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" :
				"missing HOST@TIME", ctx->nargs ? ctx->args[1] : "");
	host = split_spec(ctx->cmd, ctx->args[0], &ts);
	if (unpin)
		cli_audit(store, "unpin", "spec=%s", ctx->args[0]);
	else
		cli_audit(store, "pin", "spec=%s note=%s", ctx->args[0], note ? note : "-");
	ret = cdp_capture_pin(store, host, ts, note, unpin, &pin, err, sizeof(err));
	if (ret == 1) {
		s = open_writer(store);
		ret = unpin ? cdp_store_unpin(s, host, ts, &pin) :
			cdp_store_pin(s, host, ts, note, &pin);
		cdp_store_close(s);
		err[0] = '\0';
	}
	if (ret < 0) {
		host_error(store, host, ret);
		if (ret == -ENOENT && unpin)
			die("no pin on the state of '%s' (see 'cdpfs pin --list')", ctx->args[0]);
		if (err[0])
			die("%s", strip_prefix(err));
		die("cannot %s '%s': %s", unpin ? "unpin" : "pin", ctx->args[0],
		    cdp_strerror(ret));
	}
	cli_format_at(pin.ts_ns, at, sizeof(at));
	printf("%s %s@%s (seq %llu)%s%s\n", unpin ? "unpinned" : "pinned", host, at,
	       (unsigned long long)pin.seq, pin.note[0] ? ": " : "", pin.note);
	cdp_pin_info_release(&pin);
	free(host);
	return 0;
}

static int cmd_pin(struct cli_ctx *ctx)
{
	const char *value, *note = NULL;
	int opt, list = 0;

	while ((opt = cli_getopt(ctx, &value)) != -1) {
		if (opt == OPT_NOTE)
			note = value;
		else if (opt == OPT_LIST)
			list = 1;
	}
	if (list) {
		if (note)
			cli_usage_error(ctx->cmd, "--note goes with HOST@TIME, not with --list");
		return pin_list(ctx);
	}
	if (ctx->json)
		cli_usage_error(ctx->cmd, "--json goes with --list");
	if (note && strlen(note) > 1024)
		cli_usage_error(ctx->cmd, "--note is longer than 1024 bytes");
	return pin_or_unpin(ctx, 0, note);
}

const struct cli_cmd cli_cmd_pin = {
	.name = "pin",
	.fn = cmd_pin,
	.usage = "pin [--store DIR] HOST@TIME [--note TEXT] | pin --list [HOST] [--json]",
	.summary = "keep an instant whatever retention says (legal hold)",
	.options = pin_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};

static const struct cli_option unpin_options[] = {
	{ NULL, 0, 0, "HOST@TIME", "the pinned state TIME resolves to" },
	CLI_OPT_END
};

static int cmd_unpin(struct cli_ctx *ctx)
{
	while (cli_getopt(ctx, NULL) != -1)
		;
	return pin_or_unpin(ctx, 1, NULL);
}

const struct cli_cmd cli_cmd_unpin = {
	.name = "unpin",
	.fn = cmd_unpin,
	.usage = "unpin [--store DIR] HOST@TIME",
	.summary = "release a pin: retention may remove the instant again",
	.options = unpin_options,
	.flags = CLI_NEEDS_STORE,
};

/* ----------------------------------------------------- prune and gc */

static double parse_threshold(const struct cli_cmd *cmd, const char *text)
{
	char *end;
	double v = strtod(text, &end);

	if (end == text || (*end && strcmp(end, "%") != 0) || v < 0 || v > 100)
		cli_usage_error(cmd, "--threshold takes a percentage from 0 to 100, got '%s'",
				text);
	return v / 100.0;
}

static void add_rule(const struct cli_cmd *cmd, struct cdp_keep_rule *rules, size_t *n,
		     const char *text)
{
	if (*n == CDP_KEEP_RULES_MAX)
		cli_usage_error(cmd, "at most %d --keep rules", CDP_KEEP_RULES_MAX);
	if (cdp_keep_rule_parse(text, &rules[*n]) < 0)
		cli_usage_error(cmd, "--keep takes AGE:EVERY (e.g. 24h:all, 7d:1m, 365d:1d; "
				"durations in s, m, h, d), got '%s'", text);
	(*n)++;
}

static void check_rules(const struct cli_cmd *cmd, struct cdp_keep_rule *rules, size_t n)
{
	if (n == 0)
		cli_usage_error(cmd, "give at least one --keep AGE:EVERY");
	if (cdp_keep_rules_normalize(rules, n) < 0)
		cli_usage_error(cmd, "two --keep rules have the same AGE");
}

static void json_rules(const struct cdp_keep_rule *rules, size_t n)
{
	char buf[64];
	size_t i;

	fputs("[", stdout);
	for (i = 0; i < n; i++) {
		cdp_keep_rule_format(&rules[i], buf, sizeof(buf));
		fputs(i ? ", " : "", stdout);
		cli_json_string(stdout, buf);
	}
	fputs("]", stdout);
}

static void text_rules(const struct cdp_keep_rule *rules, size_t n)
{
	char buf[64];
	size_t i;

	for (i = 0; i < n; i++) {
		cdp_keep_rule_format(&rules[i], buf, sizeof(buf));
		printf("%s%s", i ? " " : "", buf);
	}
}

/* The rules joined by ',' (for the audit trail): a buffer of this file's. */
static const char *rules_text(const struct cdp_keep_rule *rules, size_t n)
{
	static char text[CDP_KEEP_RULES_MAX * 64];
	char buf[64];
	size_t i, o = 0;

	text[0] = '\0';
	for (i = 0; i < n && o < sizeof(text); i++) {
		cdp_keep_rule_format(&rules[i], buf, sizeof(buf));
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", i ? "," : "", buf);
	}
	return n ? text : "-";
}

static void json_gc(const struct cdp_gc_result *g)
{
	printf("{\"chunks\": %llu, \"chunks_removed\": %llu, \"bytes_unreferenced\": %llu, "
	       "\"segments_compacted\": %llu, \"chunks_moved\": %llu, \"bytes_reclaimed\": %llu}",
	       (unsigned long long)g->chunks, (unsigned long long)g->chunks_removed,
	       (unsigned long long)g->bytes_unreferenced,
	       (unsigned long long)g->segments_compacted, (unsigned long long)g->chunks_moved,
	       (unsigned long long)g->bytes_reclaimed);
}

static void text_gc(const struct cdp_gc_result *g)
{
	printf("gc: %llu of %llu chunks were referenced by nothing (%.1f MiB), removed; "
	       "%llu segments compacted (%llu live chunks moved), %.1f MiB given back\n",
	       (unsigned long long)g->chunks_removed, (unsigned long long)g->chunks,
	       (double)g->bytes_unreferenced / 1048576.0,
	       (unsigned long long)g->segments_compacted, (unsigned long long)g->chunks_moved,
	       (double)g->bytes_reclaimed / 1048576.0);
}

/* The progress line of prune and gc (retain.h cdp_retain_progress_fn). */
struct retain_ui {
	const char *verb;     /* "prune", "gc" */
	char phase[64];       /* the phase on the current line, "": none */
	int64_t phase_ns;     /* when it started */
};

static void retain_ui_end(struct retain_ui *ui);

static void on_retain_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct retain_ui *ui = arg;
	int64_t now = cdp_now_ns();
	double secs;

	if (!phase) {
		retain_ui_end(ui);
		return;
	}
	if (strcmp(ui->phase, phase)) {
		if (ui->phase[0])
			fputc('\n', stderr);
		snprintf(ui->phase, sizeof(ui->phase), "%s", phase);
		ui->phase_ns = now;
	}
	fprintf(stderr, "\rcdpfs: %s: %s: %llu", !strcmp(phase, "marking") ||
		!strcmp(phase, "sweeping") || !strcmp(phase, "compacting") ? "gc" : ui->verb,
		phase, (unsigned long long)done);
	if (total)
		fprintf(stderr, " of %llu (%.0f%%)", (unsigned long long)total,
			100.0 * (double)done / (double)total);
	secs = (double)(now - ui->phase_ns) / 1e9;
	if (secs >= 1)
		fprintf(stderr, ", %.0f/s", (double)done / secs);
	fputs("   ", stderr);
	fflush(stderr);
}

/* Ends the progress line, if any. */
static void retain_ui_end(struct retain_ui *ui)
{
	if (ui->phase[0])
		fputc('\n', stderr);
	ui->phase[0] = '\0';
}

static void gc_error(const char *store, int ret, const char *err)
{
	if (ret == -EBUSY)
		die("a prune or gc of store '%s' is already running; retry when it is done",
		    store);
	if (err && err[0])
		die("%s", strip_prefix(err));
	die("gc of store '%s' failed: %s", store, cdp_strerror(ret));
}

static const struct cli_option prune_options[] = {
	{ NULL, 0, 0, "HOST", "the host whose history is thinned" },
	{ "keep", required_argument, OPT_KEEP, "--keep AGE:EVERY", "within AGE of now, keep one "
	  "state every EVERY (a duration\nor all); repeat it; history older than the largest "
	  "AGE goes" },
	{ "dry-run", no_argument, OPT_DRY, "--dry-run", "say what would be removed, remove "
	  "nothing" },
	{ "no-gc", no_argument, OPT_NOGC, "--no-gc", "do not reclaim the space now (cdpfs gc "
	  "does it later)" },
	{ "threshold", required_argument, OPT_THRESHOLD, "--threshold P", "compact segments "
	  "with at least P% garbage (default 30)" },
	CLI_OPT_JSON("machine-readable report with stable keys"),
	CLI_OPT_END
};

static int cmd_prune(struct cli_ctx *ctx)
{
	struct cdp_keep_rule rules[CDP_KEEP_RULES_MAX];
	struct cdp_prune_options po = { .rules = rules };
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	const char *value, *store;
	double threshold = DEFAULT_THRESHOLD;
	char err[1024], t[48];
	struct retain_ui ui = { .verb = "prune" };
	struct cdp_store *s;
	int opt, nogc = 0, tty, ret;

	memset(&gr, 0, sizeof(gr));
	while ((opt = cli_getopt(ctx, &value)) != -1) {
		if (opt == OPT_KEEP)
			add_rule(ctx->cmd, rules, &po.nrules, value);
		else if (opt == OPT_DRY)
			po.dry_run = 1;
		else if (opt == OPT_NOGC)
			nogc = 1;
		else if (opt == OPT_THRESHOLD)
			threshold = parse_threshold(ctx->cmd, value);
	}
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, ctx->nargs ? "unexpected argument '%s'" :
				"missing HOST", ctx->nargs ? ctx->args[1] : "");
	check_rules(ctx->cmd, rules, po.nrules);
	store = cli_store_path(ctx);
	cli_audit(store, "prune", "host=%s keep=%s dry-run=%d gc=%d", ctx->args[0],
		  rules_text(rules, po.nrules), po.dry_run, !nogc);
	po.now_ns = cdp_now_ns();
	tty = !ctx->json && isatty(STDERR_FILENO);
	if (tty) {
		po.progress = on_retain_progress;
		po.progress_arg = &ui;
	}
	ret = cdp_capture_prune(store, ctx->args[0], &po, nogc, threshold, &pr, &gr, err,
				sizeof(err));
	if (ret == 1) {
		err[0] = '\0';
		s = open_writer(store);
		ret = cdp_store_prune(s, ctx->args[0], &po, &pr);
		if (ret == 0 && !po.dry_run && !nogc)
			ret = cdp_store_gc_progress(s, threshold, tty ? on_retain_progress : NULL,
						    &ui, &gr);
		cdp_store_close(s);
	}
	retain_ui_end(&ui);
	if (ret < 0) {
		host_error(store, ctx->args[0], ret);
		gc_error(store, ret, err);
	}
	if (ctx->json) {
		fputs("{\"host\": ", stdout);
		cli_json_string(stdout, ctx->args[0]);
		printf(", \"dry_run\": %s, \"rules\": ", po.dry_run ? "true" : "false");
		json_rules(rules, po.nrules);
		fputs(", ", stdout);
		cli_json_time(stdout, "now", pr.now_ns, ", ");
		printf(", \"states_before\": %llu, \"states_kept\": %llu, \"states_removed\": %llu, "
		       "\"states_protected\": %llu, \"versions_seen\": %llu, "
		       "\"versions_removed\": %llu, ",
		       (unsigned long long)pr.states_before, (unsigned long long)pr.states_kept,
		       (unsigned long long)pr.states_removed,
		       (unsigned long long)pr.states_protected,
		       (unsigned long long)pr.versions_seen,
		       (unsigned long long)pr.versions_removed);
		cli_json_time(stdout, "oldest_kept", pr.oldest_kept_ts_ns, ", ");
		printf(", \"oldest_kept_seq\": %llu, \"gc\": ",
		       (unsigned long long)pr.oldest_kept_seq);
		if (po.dry_run || nogc)
			fputs("null", stdout);
		else
			json_gc(&gr);
		fputs("}\n", stdout);
		return 0;
	}
	printf("%s host '%s' by ", po.dry_run ? "would prune" : "pruned", ctx->args[0]);
	text_rules(rules, po.nrules);
	printf(": %llu of %llu states kept (%llu only because pinned, an overlay's base, "
	       "mounted or the newest passing drill), %llu removed; %llu of %llu versions %s\n",
	       (unsigned long long)pr.states_kept, (unsigned long long)pr.states_before,
	       (unsigned long long)pr.states_protected, (unsigned long long)pr.states_removed,
	       (unsigned long long)pr.versions_removed, (unsigned long long)pr.versions_seen,
	       po.dry_run ? "would go" : "removed");
	if (pr.states_kept) {
		cli_format_at(pr.oldest_kept_ts_ns, t, sizeof(t));
		printf("oldest kept state: %s@%s (seq %llu)\n", ctx->args[0], t,
		       (unsigned long long)pr.oldest_kept_seq);
	}
	if (!po.dry_run && !nogc)
		text_gc(&gr);
	return 0;
}

const struct cli_cmd cli_cmd_prune = {
	.name = "prune",
	.fn = cmd_prune,
	.usage = "prune [--store DIR] HOST --keep AGE:EVERY... [--dry-run] [--no-gc] "
		 "[--threshold P] [--json]",
	.summary = "thin a host's history once, then reclaim the space",
	.options = prune_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};

static const struct cli_option gc_options[] = {
	{ "threshold", required_argument, OPT_THRESHOLD, "--threshold P", "compact segments "
	  "with at least P% garbage (default 30)" },
	CLI_OPT_JSON("machine-readable report with stable keys"),
	CLI_OPT_END
};

static int cmd_gc(struct cli_ctx *ctx)
{
	double threshold = DEFAULT_THRESHOLD;
	struct retain_ui ui = { .verb = "gc" };
	struct cdp_gc_result gr;
	const char *value, *store;
	struct cdp_store *s;
	char err[1024];
	int opt, tty, ret;

	while ((opt = cli_getopt(ctx, &value)) != -1)
		if (opt == OPT_THRESHOLD)
			threshold = parse_threshold(ctx->cmd, value);
	if (ctx->nargs)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[0]);
	store = cli_store_path(ctx);
	cli_audit(store, "gc", "threshold=%g", threshold);
	tty = !ctx->json && isatty(STDERR_FILENO);
	ret = cdp_capture_gc(store, threshold, tty ? on_retain_progress : NULL, &ui, &gr, err,
			     sizeof(err));
	if (ret == 1) {
		err[0] = '\0';
		s = open_writer(store);
		ret = cdp_store_gc_progress(s, threshold, tty ? on_retain_progress : NULL, &ui,
					    &gr);
		cdp_store_close(s);
	}
	retain_ui_end(&ui);
	if (ret < 0)
		gc_error(store, ret, err);
	if (ctx->json) {
		json_gc(&gr);
		fputs("\n", stdout);
	} else {
		text_gc(&gr);
	}
	return 0;
}

const struct cli_cmd cli_cmd_gc = {
	.name = "gc",
	.fn = cmd_gc,
	.usage = "gc [--store DIR] [--threshold P] [--json]",
	.summary = "reclaim the chunks no kept state references, compact segments",
	.options = gc_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};

/* ----------------------------------------------------------- policy */

static const struct cli_option policy_options[] = {
	{ NULL, 0, 0, "set HOST", "store the policy of HOST (--keep ..., or --none to remove it)" },
	{ NULL, 0, 0, "show [HOST]", "show the policies and the last prune of each host" },
	{ "keep", required_argument, OPT_KEEP, "--keep AGE:EVERY", "as for cdpfs prune; repeat it" },
	{ "none", no_argument, OPT_NONE, "--none", "remove the policy: nothing is removed by "
	  "itself" },
	CLI_OPT_JSON("with show: machine-readable output with stable keys"),
	CLI_OPT_END
};

static void show_host(const char *host, const struct cdp_retention_info *ri, int json, int first)
{
	char t[48];

	if (json) {
		fputs(first ? "\n  {\"host\": " : ",\n  {\"host\": ", stdout);
		cli_json_string(stdout, host);
		fputs(", \"rules\": ", stdout);
		json_rules(ri->policy, ri->npolicy);
		fputs(", ", stdout);
		cli_json_time(stdout, "last_prune", ri->last_prune_ns, ", ");
		printf(", \"last_reason\": \"%s\", \"last_rules\": ",
		       !ri->last_prune_ns ? "none" : ri->last_reason == CDP_PRUNE_LOW_SPACE ?
		       "low space" : ri->last_reason == CDP_PRUNE_SCHEDULE ? "policy" : "manual");
		json_rules(ri->rules, ri->nrules);
		fputs(", ", stdout);
		cli_json_time(stdout, "oldest_kept", ri->floor_ts_ns, ", ");
		fputs("}", stdout);
		return;
	}
	printf("%s: policy ", host);
	if (ri->npolicy)
		text_rules(ri->policy, ri->npolicy);
	else
		printf("none (nothing is removed by itself)");
	if (ri->last_prune_ns) {
		cli_time_local(ri->last_prune_ns, t, sizeof(t));
		printf("; last pruned %s (%s) by ", t,
		       ri->last_reason == CDP_PRUNE_LOW_SPACE ? "low space" :
		       ri->last_reason == CDP_PRUNE_SCHEDULE ? "policy" : "manual");
		text_rules(ri->rules, ri->nrules);
	}
	printf("\n");
}

static int policy_show(struct cli_ctx *ctx)
{
	struct cdp_retention_info ri;
	struct cdp_host_info *hosts;
	struct cdp_store *s;
	size_t n, i, shown = 0;
	int ret;

	if (ctx->nargs > 2)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[2]);
	s = cli_open_store(ctx);
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0) {
		cdp_store_close(s);
		die("cannot list hosts of store '%s': %s", cli_store_path(ctx), cdp_strerror(ret));
	}
	if (ctx->json)
		fputs("{\"policies\": [", stdout);
	for (i = 0; ret == 0 && i < n; i++) {
		if (ctx->nargs == 2 && strcmp(hosts[i].name, ctx->args[1]))
			continue;
		ret = cdp_store_retention(s, hosts[i].name, &ri);
		if (ret == 0)
			show_host(hosts[i].name, &ri, ctx->json, shown++ == 0);
	}
	if (ctx->json)
		fputs(shown ? "\n]}\n" : "]}\n", stdout);
	cdp_host_info_free(hosts, n);
	cdp_store_close(s);
	if (ret < 0)
		die("cannot read the policies of store '%s': %s", cli_store_path(ctx),
		    cdp_strerror(ret));
	if (ctx->nargs == 2 && !shown)
		die("no capture of host '%s' in store '%s' (see 'cdpfs hosts')", ctx->args[1],
		    cli_store_path(ctx));
	return 0;
}

static int cmd_policy(struct cli_ctx *ctx)
{
	struct cdp_keep_rule rules[CDP_KEEP_RULES_MAX];
	const char *value, *store;
	struct cdp_store *s;
	size_t n = 0;
	char err[1024];
	int opt, none = 0, ret;

	while ((opt = cli_getopt(ctx, &value)) != -1) {
		if (opt == OPT_KEEP)
			add_rule(ctx->cmd, rules, &n, value);
		else if (opt == OPT_NONE)
			none = 1;
	}
	if (ctx->nargs == 0)
		cli_usage_error(ctx->cmd, "expected 'set HOST' or 'show [HOST]'");
	if (strcmp(ctx->args[0], "show") == 0) {
		if (n || none)
			cli_usage_error(ctx->cmd, "--keep and --none go with 'set'");
		return policy_show(ctx);
	}
	if (strcmp(ctx->args[0], "set") != 0)
		cli_usage_error(ctx->cmd, "unknown policy action '%s' (set or show)", ctx->args[0]);
	if (ctx->json)
		cli_usage_error(ctx->cmd, "--json goes with 'show'");
	if (ctx->nargs != 2)
		cli_usage_error(ctx->cmd, ctx->nargs > 2 ? "unexpected argument '%s'" :
				"missing HOST", ctx->nargs > 2 ? ctx->args[2] : "");
	if (none && n)
		cli_usage_error(ctx->cmd, "--none and --keep exclude each other");
	if (!none)
		check_rules(ctx->cmd, rules, n);
	store = cli_store_path(ctx);
	cli_audit(store, "policy", "host=%s keep=%s", ctx->args[1],
		  none ? "none" : rules_text(rules, n));
	ret = cdp_capture_policy(store, ctx->args[1], rules, n, err, sizeof(err));
	if (ret == 1) {
		err[0] = '\0';
		s = open_writer(store);
		ret = cdp_store_policy_set(s, ctx->args[1], rules, n);
		cdp_store_close(s);
	}
	if (ret < 0) {
		host_error(store, ctx->args[1], ret);
		if (err[0])
			die("%s", strip_prefix(err));
		die("cannot set the policy of host '%s': %s", ctx->args[1], cdp_strerror(ret));
	}
	if (n) {
		printf("policy of host '%s': ", ctx->args[1]);
		text_rules(rules, n);
		printf(" (the capture daemon applies it)\n");
	} else {
		printf("policy of host '%s' removed: nothing is removed by itself\n", ctx->args[1]);
	}
	return 0;
}

const struct cli_cmd cli_cmd_policy = {
	.name = "policy",
	.fn = cmd_policy,
	.usage = "policy set [--store DIR] HOST --keep AGE:EVERY...|--none | "
		 "policy show [--store DIR] [HOST] [--json]",
	.summary = "the retention policy the capture daemon applies by itself",
	.options = policy_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};

/* ------------------------------------------------------------ stats */

static const struct cli_option stats_options[] = {
	{ NULL, 0, 0, "HOST", "only this host" },
	CLI_OPT_JSON("machine-readable output with stable keys"),
	CLI_OPT_END
};

struct tree_count {
	struct cdp_view *v;
	uint64_t files, bytes;
	int depth;
};

static int count_entry(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct tree_count *tc = arg;
	struct cdp_attr a;

	(void)name;
	if (type == S_IFDIR) {
		if (tc->depth < 256) {
			tc->depth++;
			cdp_view_readdir(tc->v, fid, NULL, count_entry, tc);
			tc->depth--;
		}
		return 0;
	}
	if (type == S_IFREG && cdp_view_getattr(tc->v, fid, &a) == 0) {
		tc->files++;
		tc->bytes += a.size;
	}
	return 0;
}

/* Files and bytes of dir in the newest state of host. */
static void dir_now(struct cdp_store *s, const char *host, const char *dir, uint64_t *files,
		    uint64_t *bytes)
{
	struct tree_count tc = { 0 };
	uint64_t fid;

	*files = *bytes = 0;
	if (cdp_view_open(s, host, CDP_TS_LATEST, &tc.v) < 0)
		return;
	if (cdp_view_resolve(tc.v, dir, &fid) == 0)
		cdp_view_readdir(tc.v, fid, NULL, count_entry, &tc);
	cdp_view_free(tc.v);
	*files = tc.files;
	*bytes = tc.bytes;
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

static int cmd_stats(struct cli_ctx *ctx)
{
	struct cdp_store_stats st;
	struct cdp_retention_info ri;
	struct cdp_host_info *hinfo;
	struct cdp_store *s;
	const char *store;
	size_t i, j, k, nh;
	uint64_t logical = 0, files, bytes;
	double per_byte, comp, dedup;
	char t[32];
	int ret;

	while (cli_getopt(ctx, NULL) != -1)
		;
	if (ctx->nargs > 1)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->args[1]);
	store = cli_store_path(ctx);
	s = cli_open_store(ctx);
	ret = cdp_store_stats(s, ctx->nargs ? ctx->args[0] : NULL, &st);
	if (ret == 0)
		ret = cdp_store_hosts(s, &hinfo, &nh);
	if (ret < 0) {
		cdp_store_close(s);
		host_error(store, ctx->nargs ? ctx->args[0] : "", ret);
		die("cannot read the statistics of store '%s': %s", store, cdp_strerror(ret));
	}
	/* every host is needed for the ratios, even when one is shown */
	for (i = 0; i < st.nhosts; i++)
		logical += st.hosts[i].logical_bytes;
	if (ctx->nargs) {
		struct cdp_store_stats all;

		if (cdp_store_stats(s, NULL, &all) == 0) {
			for (i = 0, logical = 0; i < all.nhosts; i++)
				logical += all.hosts[i].logical_bytes;
			cdp_store_stats_release(&all);
		}
	}
	comp = st.chunk_stored_bytes ? (double)st.chunk_raw_bytes / (double)st.chunk_stored_bytes : 1;
	dedup = st.chunk_raw_bytes ? (double)logical / (double)st.chunk_raw_bytes : 1;
	/* what a byte written costs on disk, on average, after dedup and zstd */
	per_byte = logical ? (double)st.chunk_stored_bytes / (double)logical : 1;
	if (ctx->json) {
		fputs("{\"store\": ", stdout);
		cli_json_string(stdout, store);
		printf(", \"chunks\": %llu, \"chunk_raw_bytes\": %llu, \"stored_bytes\": %llu, "
		       "\"segments\": %llu, \"segment_bytes\": %llu, \"disk_bytes\": %llu, "
		       "\"free_bytes\": %llu, \"compression_ratio\": %.3f, \"dedup_ratio\": %.3f, "
		       "\"hosts\": [", (unsigned long long)st.chunks,
		       (unsigned long long)st.chunk_raw_bytes,
		       (unsigned long long)st.chunk_stored_bytes, (unsigned long long)st.segments,
		       (unsigned long long)st.segment_bytes, (unsigned long long)st.disk_bytes,
		       (unsigned long long)st.free_bytes, comp, dedup);
	} else {
		printf("store '%s': %llu chunks, %.1f MiB stored (%.1f MiB before compression, "
		       "%.2fx), %llu segments of %.1f MiB; %.2fx deduplication; %.1f of %.1f GiB "
		       "free\n", store, (unsigned long long)st.chunks, mib(st.chunk_stored_bytes),
		       mib(st.chunk_raw_bytes), comp, (unsigned long long)st.segments,
		       mib(st.segment_bytes), dedup, mib(st.free_bytes) / 1024,
		       mib(st.disk_bytes) / 1024);
	}
	for (i = 0; i < st.nhosts; i++) {
		const struct cdp_host_stats *h = &st.hosts[i];
		/* a rate over the window, or over the history kept when that is
		 * shorter (a young store grows from its first day) */
		double age_d = h->first_ts_ns ? (double)(cdp_now_ns() - h->first_ts_ns) / 86400e9 : 1;
		double g24 = (double)h->logical_24h_bytes * per_byte /
			(age_d > 0 && age_d < 1 ? age_d : 1);
		double g7 = (double)h->logical_7d_bytes * per_byte /
			(age_d > 0 && age_d < 7 ? age_d : 7);
		double days = g24 > 0 ? (double)st.free_bytes / g24 : -1;

		if (cdp_store_retention(s, h->name, &ri) < 0)
			memset(&ri, 0, sizeof(ri));
		if (ctx->json) {
			fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
			cli_json_string(stdout, h->name);
			printf(", \"logical_bytes\": %llu, \"stored_bytes\": %.0f, "
			       "\"data_versions\": %llu, \"zero_versions\": %llu, "
			       "\"growth_24h_bytes_per_day\": %.0f, \"growth_7d_bytes_per_day\": %.0f, "
			       "\"written_24h_bytes\": %llu, \"written_7d_bytes\": %llu, ",
			       (unsigned long long)h->logical_bytes,
			       (double)h->logical_bytes * per_byte,
			       (unsigned long long)h->data_versions,
			       (unsigned long long)h->zero_versions, g24, g7,
			       (unsigned long long)h->logical_24h_bytes,
			       (unsigned long long)h->logical_7d_bytes);
			cli_json_time(stdout, "oldest_kept", h->first_ts_ns, ", ");
			fputs(", \"policy\": ", stdout);
			json_rules(ri.policy, ri.npolicy);
			if (days < 0)
				fputs(", \"days_until_full\": null", stdout);
			else
				printf(", \"days_until_full\": %.1f", days);
			fputs(", \"dirs\": [", stdout);
		} else {
			cli_time_local(h->first_ts_ns, t, sizeof(t));
			printf("host '%s': %.1f MiB written (%llu block versions), about %.1f MiB "
			       "stored; growth %.1f MiB/day over 24 h, %.1f MiB/day over 7 days; "
			       "oldest kept %s; policy ", h->name, mib(h->logical_bytes),
			       (unsigned long long)h->data_versions, mib(h->logical_bytes) * per_byte,
			       g24 / 1048576.0, g7 / 1048576.0, t);
			if (ri.npolicy)
				text_rules(ri.policy, ri.npolicy);
			else
				fputs("none", stdout);
			if (days < 0)
				printf("; no growth, the disk does not fill\n");
			else
				printf("; full in %.1f days at this rate\n", days);
		}
		for (j = 0, k = 0; j < nh; j++) {
			size_t r;

			if (strcmp(hinfo[j].name, h->name))
				continue;
			for (r = 0; r < hinfo[j].nroots; r++) {
				dir_now(s, h->name, hinfo[j].roots[r].path, &files, &bytes);
				if (ctx->json) {
					fputs(k++ ? ", {\"path\": " : "{\"path\": ", stdout);
					cli_json_string(stdout, hinfo[j].roots[r].path);
					printf(", \"files\": %llu, \"bytes\": %llu}",
					       (unsigned long long)files, (unsigned long long)bytes);
				} else {
					printf("  %s: %llu files, %.1f MiB in the newest state\n",
					       hinfo[j].roots[r].path, (unsigned long long)files,
					       mib(bytes));
				}
			}
		}
		if (ctx->json)
			fputs("]}", stdout);
	}
	if (ctx->json)
		fputs(st.nhosts ? "\n]}\n" : "]}\n", stdout);
	cdp_host_info_free(hinfo, nh);
	cdp_store_stats_release(&st);
	cdp_store_close(s);
	return 0;
}

const struct cli_cmd cli_cmd_stats = {
	.name = "stats",
	.fn = cmd_stats,
	.usage = "stats [--store DIR] [HOST] [--json]",
	.summary = "space and growth: written, stored, ratios, days until the disk is full",
	.options = stats_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
