/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_bisect.c - `cdpfs bisect`: the last instant at which every check
 * passes, between a --good and a later --bad instant.  Each step mounts an
 * instant on a private overlay and runs the checks there (cli/drill_run.c,
 * as a drill does, without a report).  The store stays open read-only in
 * this process to map instants to seqs, so that a step whose instant maps
 * to the seq of a known end is decided without a mount; the children it
 * forks only exec (cli/drill.h).  When the two ends are one operation
 * apart, the first bad instant is exact to the nanosecond.  The checks'
 * logs go to a temporary directory, removed at the end and kept (and named)
 * when the bisection fails.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "fs/fs.h"
#include "store.h"

enum {
	OPT_GOOD = 256,
	OPT_BAD,
	OPT_CHECK,
	OPT_TIMEOUT,
};

static const struct cli_option bisect_options[] = {
	{ NULL, 0, 0, "HOST", "or HOST:/DIR" },
	{ "good", required_argument, OPT_GOOD, "--good TIME", "an instant at which the checks pass" },
	{ "bad", required_argument, OPT_BAD, "--bad TIME", "a later instant at which one fails" },
	{ "check", required_argument, OPT_CHECK, "--check CMD",
	  "as for cdpfs drill; repeatable, all must pass" },
	{ "timeout", required_argument, OPT_TIMEOUT, "--timeout DUR", "per check (default 10m)" },
	CLI_OPT_JSON("print the result as JSON"),
	CLI_OPT_END
};

struct bisect {
	const char *store, *host, *dir;
	const char **checks;
	size_t nchecks;
	int64_t timeout_ns;
	struct cdp_store *s;       /* read-only, for instant -> seq */
	char workdir[PATH_MAX];    /* check logs, removed at the end */
	unsigned steps;
	int json;
};

/* die() for a bisection under way: the store is closed before exit (not
 * from an atexit handler, which runs after RocksDB's statics are gone). */
static void bisect_die(struct bisect *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* The seq and newest-change instant of the view at ts. */
static void bisect_view(struct bisect *b, int64_t ts, uint64_t *seq, int64_t *view_ts)
{
	struct cdp_view *v;
	int ret = cdp_view_open(b->s, b->host, ts, &v);

	if (ret < 0) {
		char when[64];

		cdp_time_format(ts, when, sizeof(when));
		bisect_die(b, "cannot open host '%s' at %s in store '%s': %s", b->host, when, b->store,
		    cdp_strerror(ret));
	}
	*seq = cdp_view_seq(v);
	*view_ts = cdp_view_ts(v);
	cdp_view_free(v);
}

/*
 * Mounts ts on a private overlay and runs the checks until one fails.
 * Returns 1 pass, 0 fail; dies on a mount error.  why gets the failing
 * check's last output line.  The store stays open meanwhile: the children
 * only exec (cli/drill.h).
 */
static int bisect_try(struct bisect *b, int64_t ts, char *why, size_t whylen)
{
	struct drill_mount m;
	char err[1024], at[48], *extra[5], **envp, log[PATH_MAX + 64], mlog[PATH_MAX + 64];
	struct drill_check_result r;
	struct drill_read_errors re;
	size_t i;
	int pass = 1, ret;

	why[0] = '\0';
	snprintf(mlog, sizeof(mlog), "%s/step-%u-mount.log", b->workdir, b->steps + 1);
	ret = drill_mount_open(&m, b->store, b->host, b->dir, ts, NULL, mlog, err, sizeof(err));
	if (ret < 0)
		bisect_die(b, "%s", err);
	cli_format_at(ts, at, sizeof(at));
	extra[0] = cli_strfmt("CDPFS_ROOT=%s", m.mountpoint);
	extra[1] = cli_strfmt("CDPFS_HOST=%s", b->host);
	extra[2] = cli_strfmt("CDPFS_TIME=%s", at);
	extra[3] = cli_strfmt("CDPFS_REQUESTED_TIME=%s", at);
	extra[4] = NULL;
	envp = drill_environ(extra);
	if (!envp)
		die("out of memory");
	b->steps++;
	for (i = 0; i < b->nchecks && pass && !drill_interrupted(); i++) {
		snprintf(log, sizeof(log), "%s/step-%u-check-%zu.log", b->workdir, b->steps, i + 1);
		ret = drill_run_check(b->checks[i], envp, log, b->timeout_ns, &r);
		if (ret < 0 && r.end == DRILL_CHECK_NOT_RUN) {
			snprintf(why, whylen, "cannot run the check: %s", strerror(-ret));
			pass = 0;
			break;
		}
		pass = r.end == DRILL_CHECK_EXITED && r.status == 0;
		if (!pass) {
			char *tail = drill_file_tail(log, 1);

			if (r.end == DRILL_CHECK_TIMEOUT)
				snprintf(why, whylen, "timed out");
			else
				snprintf(why, whylen, "exit %d%s%.200s", r.status,
					 tail && *tail ? ": " : "", tail ? tail : "");
			why[strcspn(why, "\n")] = '\0';
			free(tail);
		}
	}
	free(envp);
	for (i = 0; extra[i]; i++)
		free(extra[i]);
	err[0] = '\0';
	if (drill_mount_close(&m, err, sizeof(err)) < 0)
		bisect_die(b, "%s", err);
	if (drill_interrupted())
		bisect_die(b, "bisect interrupted by %s (unmounted)",
			   drill_signal_name(drill_interrupted()));
	/* a verdict over unreadable data is no verdict */
	drill_read_errors_scan(mlog, &re);
	if (re.count)
		bisect_die(b, "step %u at %s: store read errors: %llu (first: %s); the check's "
			   "verdict there proves nothing (run 'cdpfs verify --data')", b->steps, at,
			   (unsigned long long)re.count, re.first[0] ? re.first : "EIO");
	return pass;
}

static void bisect_cleanup(struct bisect *b)
{
	char path[PATH_MAX + 64];
	unsigned s;
	size_t i;

	for (s = 1; s <= b->steps + 1; s++) {
		for (i = 0; i < b->nchecks; i++) {
			snprintf(path, sizeof(path), "%s/step-%u-check-%zu.log", b->workdir, s, i + 1);
			unlink(path);
		}
		snprintf(path, sizeof(path), "%s/step-%u-mount.log", b->workdir, s);
		unlink(path);
	}
	rmdir(b->workdir);
}

/* Closes the reader and removes the logs; safe to call twice. */
static void bisect_end(struct bisect *b)
{
	cdp_store_close(b->s);
	b->s = NULL;
	if (b->workdir[0])
		bisect_cleanup(b);
	b->workdir[0] = '\0';
}

static void bisect_die(struct bisect *b, const char *fmt, ...)
{
	char msg[2048 + PATH_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->workdir[0] && b->steps) {
		/* the checks' logs say why: keep them */
		size_t n = strlen(msg);

		snprintf(msg + n, sizeof(msg) - n, " (check logs kept in '%s')", b->workdir);
		b->workdir[0] = '\0';
	}
	bisect_end(b);
	die_line(msg);
}

static void bisect_step_line(struct bisect *b, unsigned n, int64_t ts, uint64_t seq, int pass,
			     const char *how, int64_t took_ns)
{
	char when[64], at[48], dur[32];

	if (b->json)
		return;
	cdp_time_format(ts, when, sizeof(when));
	cli_format_at(ts, at, sizeof(at));
	cli_format_seconds(took_ns, dur, sizeof(dur));
	printf("step %u: %s (%s) seq %llu: %s (%s)\n", n, when, at, (unsigned long long)seq,
	       pass ? "pass" : "fail", how ? how : dur);
	fflush(stdout);
}

static int cmd_bisect(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	const char *good_text = NULL, *bad_text = NULL, *arg, *host;
	struct bisect b;
	char err[1024], why[512], *spec_host = NULL, *spec_dir = NULL, *spec_time = NULL;
	char *spec = NULL, good_at[48], bad_at[48], when[64], when2[64];
	int64_t now, lo, hi, lo_view, hi_view, t0;
	uint64_t lo_seq, hi_seq;
	const char *tmp;
	unsigned step = 0;
	int c, exact = 0;

	memset(&b, 0, sizeof(b));
	b.timeout_ns = DRILL_DEFAULT_TIMEOUT_S * 1000000000LL;
	b.checks = calloc((size_t)ctx->argc, sizeof(*b.checks));
	if (!b.checks)
		die("out of memory");
	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_GOOD:
			good_text = arg;
			break;
		case OPT_BAD:
			bad_text = arg;
			break;
		case OPT_CHECK:
			if (!*arg)
				cli_usage_error(self, "empty --check");
			b.checks[b.nchecks++] = arg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_duration(arg, &b.timeout_ns) < 0)
				cli_usage_error(self, "bad --timeout '%s' (e.g. 90s, 10m, 1h; 0: none)",
						arg);
			break;
		}
	}
	b.json = ctx->json;
	if (ctx->nargs != 1)
		cli_usage_error(self, ctx->nargs == 0 ? "HOST needed" : "too many arguments");
	if (!good_text || !bad_text)
		cli_usage_error(self, "--good TIME and --bad TIME needed");
	if (!b.nchecks)
		cli_usage_error(self, "at least one --check CMD needed");
	host = ctx->args[0];
	/* HOST or HOST:/DIR: borrow the SPEC parser with a dummy time */
	spec = cli_strfmt("%s@latest", host);
	err[0] = '\0';
	if (cdp_fs_parse_spec(spec, &spec_host, &spec_dir, &spec_time, err, sizeof(err)) < 0 ||
	    strchr(host, '@'))
		cli_usage_error(self, "bad HOST '%s' (expected HOST or HOST:/DIR, the instants "
				"go with --good and --bad)", host);
	b.store = cli_store_path(ctx);
	drill_require_store(b.store);
	cli_audit(b.store, "bisect", "spec=%s good=%s bad=%s", host, good_text, bad_text);
	b.host = spec_host;
	b.dir = spec_dir;
	now = cdp_now_ns();
	lo = cli_resolve_time(good_text, now);
	hi = cli_resolve_time(bad_text, now);
	if (lo >= hi)
		die("--good (%s) must be before --bad (%s): bisect looks for the first bad "
		    "instant after a good one", good_text, bad_text);
	tmp = getenv("TMPDIR");
	snprintf(b.workdir, sizeof(b.workdir), "%s/cdpfs-bisect-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b.workdir))
		die("cannot make a work directory in '%s': %s", tmp && *tmp ? tmp : "/tmp",
		    strerror(errno));
	drill_signals_install();
	if (cli_store_open(b.store, &b.s, err, sizeof(err)) < 0)
		bisect_die(&b, "%s", err);
	bisect_view(&b, lo, &lo_seq, &lo_view);
	bisect_view(&b, hi, &hi_seq, &hi_view);
	cli_format_at(lo, good_at, sizeof(good_at));
	cli_format_at(hi, bad_at, sizeof(bad_at));

	t0 = cdp_now_ns();
	if (!bisect_try(&b, lo, why, sizeof(why)))
		bisect_die(&b, "the check fails at the --good instant %s (%s): pick an "
			   "earlier good instant", good_at, why);
	bisect_step_line(&b, ++step, lo, lo_seq, 1, NULL, cdp_now_ns() - t0);
	if (lo_seq == hi_seq)
		bisect_die(&b, "--good and --bad are the same state (seq %llu: nothing "
			   "changed between them), and the check passes there",
			   (unsigned long long)lo_seq);
	t0 = cdp_now_ns();
	if (bisect_try(&b, hi, why, sizeof(why)))
		bisect_die(&b, "the check passes at the --bad instant %s: pick a later bad "
			   "instant", bad_at);
	bisect_step_line(&b, ++step, hi, hi_seq, 0, NULL, cdp_now_ns() - t0);
	/* the view at its newest change is the same state: tighten for free */
	hi = hi_view;

	while (hi - lo > 1000000000LL && !exact) {
		int64_t mid = lo + (hi - lo) / 2, mid_view;
		uint64_t mid_seq;
		int pass;

		bisect_view(&b, mid, &mid_seq, &mid_view);
		if (mid_seq == lo_seq) {
			bisect_step_line(&b, ++step, mid, mid_seq, 1, "same state as the last good "
					 "instant, not mounted", 0);
			pass = 1;
		} else if (mid_seq == hi_seq) {
			bisect_step_line(&b, ++step, mid, mid_seq, 0, "same state as the first bad "
					 "instant, not mounted", 0);
			pass = 0;
		} else {
			t0 = cdp_now_ns();
			pass = bisect_try(&b, mid, why, sizeof(why));
			bisect_step_line(&b, ++step, mid, mid_seq, pass, NULL, cdp_now_ns() - t0);
		}
		if (pass) {
			lo = mid;
			lo_seq = mid_seq;
		} else {
			hi = mid_view;
			hi_seq = mid_seq;
		}
		/* one operation apart: the first bad one is known to the ns */
		exact = hi_seq == lo_seq + 1;
	}
	exact = hi_seq == lo_seq + 1;
	if (exact)
		lo = hi - 1;   /* the state just before that operation */
	bisect_end(&b);

	cli_format_at(lo, good_at, sizeof(good_at));
	cli_format_at(hi, bad_at, sizeof(bad_at));
	cdp_time_format(lo, when, sizeof(when));
	cdp_time_format(hi, when2, sizeof(when2));
	if (b.json) {
		printf("{\"host\": ");
		cli_json_string(stdout, b.host);
		printf(", \"dir\": ");
		cli_json_string_or_null(stdout, b.dir);
		printf(", \"last_good\": ");
		cli_json_string(stdout, when);
		printf(", \"last_good_ns\": %lld, \"last_good_seq\": %llu, \"first_bad\": ",
		       (long long)lo, (unsigned long long)lo_seq);
		cli_json_string(stdout, when2);
		printf(", \"first_bad_ns\": %lld, \"first_bad_seq\": %llu, \"exact\": %s, "
		       "\"steps\": %u}\n", (long long)hi, (unsigned long long)hi_seq,
		       exact ? "true" : "false", step);
	} else {
		printf("last good: %s (%s, seq %llu)\n", when, good_at, (unsigned long long)lo_seq);
		printf("first bad: %s (%s, seq %llu)\n", when2, bad_at, (unsigned long long)hi_seq);
		if (exact)
			printf("the change that breaks the check is the one at %s (seq %llu)\n",
			       when2, (unsigned long long)hi_seq);
	}
	if (fflush(stdout) != 0)
		die("cannot write the output");
	free(spec);
	free(spec_host);
	free(spec_dir);
	free(spec_time);
	free(b.checks);
	return 0;
}

const struct cli_cmd cli_cmd_bisect = {
	.name = "bisect",
	.fn = cmd_bisect,
	.usage = "bisect [--store DIR] HOST --good TIME --bad TIME --check CMD [--check CMD ...]\n"
		 "              [--timeout DUR] [--json]",
	.summary = "find the last instant at which a check passes",
	.options = bisect_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
