/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_plan.c - drill plans: a small file per plan that says what to
 * drill, how to check it, how often and who answers for it; the schedule
 * of each plan from the drill index (last run, last pass, next due,
 * overdue); and `cdpfs drill --plans`.  Running a plan and its precheck
 * are cli/cmd_drill.c's (they share the drill's own steps).
 *
 * Plan file, format "cdpfs drill plan 1" (docs/format.md, "Drill plans"):
 * /etc/cdpfs/drills.d/NAME.conf (the directory: --plans-dir, else
 * $CDPFS_DRILL_PLANS, else SYSCONFDIR/cdpfs/drills.d), or any file given
 * with --plan-file (its name, without ".conf", is the plan's).  Text, one
 * "KEY = VALUE" a line; blank lines and lines starting with '#' are
 * skipped; VALUE runs to the end of the line, blanks around it dropped.
 *   host = HOST                 required
 *   dir = /DIR                  optional: one captured directory
 *   store = DIR                 optional: else --store, $CDPFS_STORE, default
 *   instant = latest | -5m | TIME (as cdpfs(8) reads TIME); default latest
 *   check = CMD                 required, repeatable, run in order
 *   expect = TEXT               optional, the answer of the check before it
 *   timeout = DUR               optional, per check (default 10m)
 *   period = daily | weekly | monthly | CALENDAR (systemd.time(7)); required
 *   responsible = TEXT          optional: who answers for the plan
 * An unknown key, a key without '=', a repeated single key, an expect
 * before any check, or a bad value is an error naming the file and line.
 *
 * Schedule.  Runs of a plan are the drill index lines whose plan field is
 * its name, in the plan's store.  daily, weekly and monthly are 24 h, 7 d
 * and 30 d after the last run (next due) or the last pass (overdue after);
 * a calendar expression is due at its first elapse after the last run and
 * its period, for overdue, is the time between two elapses after the last
 * pass (both asked of systemd-analyze calendar, with TZ=UTC; without
 * systemd-analyze a calendar plan's next due is unknown and it is never
 * called overdue, which --plans says).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "util/util.h"
#include "store.h"

#ifndef CDP_PLANDIR
#define CDP_PLANDIR "/etc/cdpfs/drills.d"
#endif

#define DAY_NS (86400LL * 1000000000LL)

const char *drill_plans_dir(const char *opt)
{
	const char *env = getenv("CDPFS_DRILL_PLANS");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return CDP_PLANDIR;
}

int drill_plan_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

void drill_plan_free(struct drill_plan *p)
{
	size_t i;

	for (i = 0; i < p->nchecks; i++) {
		free(p->checks[i].command);
		free(p->checks[i].expect);
	}
	free(p->host);
	free(p->dir);
	free(p->store);
	free(p->instant);
	free(p->period);
	free(p->responsible);
	memset(p, 0, sizeof(*p));
}

static char *trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Sets *field to value once; -EEXIST when it was set already. */
static int set_once(char **field, const char *value)
{
	if (*field)
		return -EEXIST;
	*field = cli_strfmt("%s", value);
	return 0;
}

int drill_plan_period(const char *period, int64_t *fixed_ns)
{
	*fixed_ns = 0;
	if (strcmp(period, "daily") == 0)
		*fixed_ns = DAY_NS;
	else if (strcmp(period, "weekly") == 0)
		*fixed_ns = 7 * DAY_NS;
	else if (strcmp(period, "monthly") == 0)
		*fixed_ns = 30 * DAY_NS;
	return 0;
}

/*
 * Runs systemd-analyze calendar EXPR (TZ=UTC), from base_ns when not 0,
 * for two elapses.  Returns 0 with them in *first_ns and *second_ns, 1
 * when systemd-analyze is not there, -EINVAL when it refuses EXPR (its
 * complaint in err).
 */
static int calendar_elapses(const char *expr, int64_t base_ns, int64_t *first_ns,
			    int64_t *second_ns, char *err, size_t errlen)
{
	static const char *const env[] = { "TZ=UTC", "SYSTEMD_COLORS=0", NULL };
	char base[48], out[4096], *p;
	char *argv[] = { (char *)"systemd-analyze", (char *)"calendar", (char *)"--iterations=2",
			 base, (char *)"--", (char *)expr, NULL };
	int status, found = 0;

	*first_ns = *second_ns = 0;
	snprintf(base, sizeof(base), "--base-time=@%lld", (long long)(base_ns / 1000000000LL));
	if (!base_ns)   /* no --base-time: from now */
		memmove(&argv[3], &argv[4], 3 * sizeof(argv[0]));
	status = cli_run_collect(NULL, argv, env, CLI_RUN_STDOUT | CLI_RUN_STDERR, out,
				 sizeof(out));
	if (status < 0)
		return status;
	if (status == 127)
		return 1;
	if (status != 0) {
		p = strstr(out, "Failed to parse");
		cdp_errf(err, errlen, "%.*s", (int)strcspn(p ? p : out, "\n"), p ? p : out);
		return -EINVAL;
	}
	/* "    Next elapse: Mon 2026-12-07 02:00:00 UTC" and "Iter. #2: ..." */
	for (p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char *colon = strstr(p, "Next elapse: ");
		struct tm tm;
		int64_t *dst;

		if (colon) {
			dst = first_ns;
			colon += 13;
		} else if ((colon = strstr(p, "Iter. #2: ")) != NULL) {
			dst = second_ns;
			colon += 10;
		} else {
			continue;
		}
		colon += strcspn(colon, " ");   /* the weekday */
		memset(&tm, 0, sizeof(tm));
		if (sscanf(colon, " %d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			*dst = (int64_t)timegm(&tm) * 1000000000LL;
			found++;
		}
	}
	if (!found) {
		cdp_errf(err, errlen, "systemd-analyze gave no next elapse for '%s'", expr);
		return -EINVAL;
	}
	return 0;
}

static int plan_fail(char *err, size_t errlen, const char *file, int line, const char *fmt,
		     ...) __attribute__((format(printf, 5, 6)));

static int plan_fail(char *err, size_t errlen, const char *file, int line, const char *fmt,
		     ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cdp_errf(err, errlen, "plan '%s', line %d: %s", file, line, msg);
	return -EINVAL;
}

int drill_plan_load(const char *file, struct drill_plan *p, char *err, size_t errlen)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	char line[4096], *key, *value, *eq;
	int lineno = 0, ret = 0;
	size_t len;
	FILE *f;

	memset(p, 0, sizeof(*p));
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".conf") == 0)
		len -= 5;
	snprintf(p->name, sizeof(p->name), "%.*s", (int)len, base);
	snprintf(p->file, sizeof(p->file), "%s", file);
	if (!drill_plan_name_valid(p->name)) {
		cdp_errf(err, errlen, "bad plan name '%s' (from '%s'; letters, digits, '.', '_', "
			 "'-', at most 64)", p->name, file);
		return -EINVAL;
	}
	f = fopen(file, "re");
	if (!f) {
		ret = -errno;
		cdp_errf(err, errlen, "cannot read plan '%s': %s", file, strerror(-ret));
		return ret;
	}
	p->timeout_ns = DRILL_DEFAULT_TIMEOUT_S * 1000000000LL;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			ret = plan_fail(err, errlen, file, lineno, "'%s' is not KEY = VALUE", key);
			break;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (!*value) {
			ret = plan_fail(err, errlen, file, lineno, "'%s' has no value", key);
			break;
		}
		if (strcmp(key, "check") == 0) {
			if (p->nchecks == DRILL_PLAN_MAX_CHECKS) {
				ret = plan_fail(err, errlen, file, lineno, "more than %d checks",
						DRILL_PLAN_MAX_CHECKS);
				break;
			}
			p->checks[p->nchecks++].command = cli_strfmt("%s", value);
		} else if (strcmp(key, "expect") == 0) {
			if (!p->nchecks || p->checks[p->nchecks - 1].expect) {
				ret = plan_fail(err, errlen, file, lineno, "'expect' goes after the "
						"'check' it is for, once");
				break;
			}
			p->checks[p->nchecks - 1].expect = cli_strfmt("%s", value);
		} else if (strcmp(key, "timeout") == 0) {
			if (cli_parse_duration(value, &p->timeout_ns) < 0) {
				ret = plan_fail(err, errlen, file, lineno, "bad timeout '%s' (e.g. "
						"90s, 10m, 1h; 0: none)", value);
				break;
			}
		} else if (strcmp(key, "host") == 0 || strcmp(key, "dir") == 0 ||
			   strcmp(key, "store") == 0 || strcmp(key, "instant") == 0 ||
			   strcmp(key, "period") == 0 || strcmp(key, "responsible") == 0) {
			char **field = strcmp(key, "host") == 0 ? &p->host :
				       strcmp(key, "dir") == 0 ? &p->dir :
				       strcmp(key, "store") == 0 ? &p->store :
				       strcmp(key, "instant") == 0 ? &p->instant :
				       strcmp(key, "period") == 0 ? &p->period : &p->responsible;

			if (set_once(field, value) < 0) {
				ret = plan_fail(err, errlen, file, lineno, "'%s' given twice", key);
				break;
			}
		} else {
			ret = plan_fail(err, errlen, file, lineno, "unknown key '%s' (host, dir, "
					"store, instant, check, expect, timeout, period, responsible)",
					key);
			break;
		}
	}
	fclose(f);
	if (ret < 0)
		goto out_free;
	if (!p->host || !p->nchecks || !p->period) {
		cdp_errf(err, errlen, "plan '%s' lacks %s", file, !p->host ? "'host = HOST'" :
			 !p->nchecks ? "a 'check = CMD'" : "'period = daily|weekly|monthly|CALENDAR'");
		ret = -EINVAL;
		goto out_free;
	}
	if (p->dir && p->dir[0] != '/') {
		cdp_errf(err, errlen, "plan '%s': dir '%s' is not an absolute path", file, p->dir);
		ret = -EINVAL;
		goto out_free;
	}
	if (!p->instant)
		p->instant = cli_strfmt("latest");
	if (strcmp(p->instant, "last-clean") == 0) {
		cdp_errf(err, errlen, "plan '%s': instant 'last-clean' needs suspect marks (of a "
			 "ransomware detector), which this cdpfs does not keep yet; use latest, -5m "
			 "or a TIME", file);
		ret = -EINVAL;
		goto out_free;
	}
	{
		int64_t ts;

		if (cdp_time_parse(p->instant, cdp_now_ns(), &ts) < 0) {
			cdp_errf(err, errlen, "plan '%s': bad instant '%s' (latest, -5m, "
				 "2026-12-02T02:00, @SECONDS)", file, p->instant);
			ret = -EINVAL;
			goto out_free;
		}
	}
	drill_plan_period(p->period, &p->period_ns);
	if (!p->period_ns) {
		int64_t a, b;
		char why[512] = "";
		int r = calendar_elapses(p->period, 0, &a, &b, why, sizeof(why));

		if (r < 0) {
			cdp_errf(err, errlen, "plan '%s': bad period '%s' (daily, weekly, monthly or "
				 "a systemd calendar expression: %s)", file, p->period, why);
			ret = -EINVAL;
			goto out_free;
		}
	}
	return 0;
out_free:
	drill_plan_free(p);
	return ret;
}

int drill_plan_find(const char *dir, const char *name, char *path, size_t size)
{
	struct stat st;

	if (!drill_plan_name_valid(name))
		return -EINVAL;
	snprintf(path, size, "%s/%s.conf", dir, name);
	return stat(path, &st) == 0 ? 0 : -errno;
}

/* ----------------------------------------------------------- schedule */

static struct drill_index_row *plan_runs(const char *store, const char *name, size_t *n)
{
	struct drill_index_row *rows = drill_index_load(store, NULL, n), *out = rows;
	size_t i, k = 0;

	for (i = 0; i < *n; i++)
		if (strcmp(rows[i].plan, name) == 0)
			out[k++] = rows[i];
	*n = k;
	return out;
}

void drill_plan_schedule(const struct drill_plan *p, const char *store, int64_t now_ns,
			 struct drill_plan_state *st)
{
	struct drill_index_row *rows;
	size_t n, i;
	char why[256];

	memset(st, 0, sizeof(*st));
	rows = plan_runs(store, p->name, &n);
	for (i = 0; i < n; i++) {
		if (rows[i].started_ns > st->last_run_ns) {
			st->last_run_ns = rows[i].started_ns;
			snprintf(st->last_run_id, sizeof(st->last_run_id), "%s", rows[i].id);
			snprintf(st->last_result, sizeof(st->last_result), "%s", rows[i].result);
		}
		if (strcmp(rows[i].result, "pass") == 0 && rows[i].started_ns > st->last_pass_ns) {
			st->last_pass_ns = rows[i].started_ns;
			snprintf(st->last_pass_id, sizeof(st->last_pass_id), "%s", rows[i].id);
		}
	}
	st->runs = n;
	free(rows);
	st->known = 1;
	if (p->period_ns) {
		st->next_due_ns = st->last_run_ns ? st->last_run_ns + p->period_ns : now_ns;
		st->overdue = !st->last_pass_ns || now_ns - st->last_pass_ns > p->period_ns;
		return;
	}
	/* a calendar expression */
	if (!st->last_run_ns) {
		st->next_due_ns = now_ns;
	} else {
		int64_t a, b;

		if (calendar_elapses(p->period, st->last_run_ns, &a, &b, why, sizeof(why)) != 0) {
			st->known = 0;
			return;
		}
		st->next_due_ns = a;
	}
	if (!st->last_pass_ns) {
		st->overdue = 1;
	} else {
		int64_t a, b;

		if (calendar_elapses(p->period, st->last_pass_ns, &a, &b, why, sizeof(why)) != 0 ||
		    !b) {
			st->known = 0;
			return;
		}
		st->overdue = now_ns - st->last_pass_ns > b - a;
	}
}

/* ------------------------------------------------------------- --plans */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int drill_plans_list(const char *dir, const char *store_opt, int json)
{
	char **names = NULL, err[1024], t1[64], t2[64], t3[64];
	size_t n = 0, cap = 0, i, overdue = 0, bad = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int64_t now = cdp_now_ns();

	if (!d)
		die("cannot read the plans directory '%s': %s (set it with --plans-dir or "
		    "CDPFS_DRILL_PLANS)", dir, strerror(errno));
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char **grown;

		if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") != 0 || e->d_name[0] == '.')
			continue;
		grown = cdp_array_reserve(names, &cap, n + 1, sizeof(*names), 16);
		if (!grown)
			die("out of memory");
		names = grown;
		names[n++] = cli_strfmt("%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	if (json) {
		fputs("{\"plans_dir\": ", stdout);
		cli_json_string(stdout, dir);
		fputs(", \"plans\": [", stdout);
	} else if (!n) {
		printf("no drill plan in '%s' (NAME.conf files; see cdpfs-drill(8))\n", dir);
	} else {
		printf("%-16s %-12s %-9s %-29s %-29s %-29s %s\n", "PLAN", "HOST", "PERIOD",
		       "LAST RUN", "LAST PASS", "NEXT DUE", "STATE");
	}
	for (i = 0; i < n; i++) {
		struct drill_plan p;
		struct drill_plan_state st;
		const char *store, *state;

		if (drill_plan_load(names[i], &p, err, sizeof(err)) < 0) {
			bad++;
			if (json) {
				printf("%s\n  {\"file\": ", i ? "," : "");
				cli_json_string(stdout, names[i]);
				fputs(", \"error\": ", stdout);
				cli_json_string(stdout, err);
				fputs("}", stdout);
			} else {
				printf("%-16s %s\n", "?", err);
			}
			free(names[i]);
			continue;
		}
		store = store_opt ? store_opt : p.store ? p.store :
			getenv("CDPFS_STORE") && *getenv("CDPFS_STORE") ? getenv("CDPFS_STORE") :
			CDP_DEFAULT_STORE;
		drill_plan_schedule(&p, store, now, &st);
		state = !st.known ? "unknown" : st.overdue ? "OVERDUE" :
			strcmp(st.last_result, "pass") == 0 ? "ok" : "last run failed";
		overdue += st.known && st.overdue;
		cli_time_ms(st.last_run_ns, t1, sizeof(t1));
		cli_time_ms(st.last_pass_ns, t2, sizeof(t2));
		if (st.known)
			cli_time_ms(st.next_due_ns, t3, sizeof(t3));
		else
			snprintf(t3, sizeof(t3), "unknown");
		if (json) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			cli_json_string(stdout, p.name);
			fputs(", \"file\": ", stdout);
			cli_json_string(stdout, names[i]);
			fputs(", \"host\": ", stdout);
			cli_json_string(stdout, p.host);
			fputs(", \"dir\": ", stdout);
			cli_json_string_or_null(stdout, p.dir);
			fputs(", \"store\": ", stdout);
			cli_json_string(stdout, store);
			fputs(", \"period\": ", stdout);
			cli_json_string(stdout, p.period);
			fputs(", \"responsible\": ", stdout);
			cli_json_string_or_null(stdout, p.responsible);
			printf(", \"runs\": %zu, ", st.runs);
			cli_json_time(stdout, "last_run", st.last_run_ns, ", ");
			fputs(", \"last_run_id\": ", stdout);
			cli_json_string_or_null(stdout, st.last_run_id);
			fputs(", \"last_result\": ", stdout);
			cli_json_string_or_null(stdout, st.last_result);
			fputs(", ", stdout);
			cli_json_time(stdout, "last_pass", st.last_pass_ns, ", ");
			fputs(", ", stdout);
			cli_json_time(stdout, "next_due", st.known ? st.next_due_ns : 0, ", ");
			printf(", \"overdue\": %s, \"state\": \"%s\"}",
			       !st.known ? "null" : st.overdue ? "true" : "false", state);
		} else {
			printf("%-16s %-12s %-9s %-29s %-29s %-29s %s\n", p.name, p.host, p.period,
			       st.last_run_ns ? t1 : "never", st.last_pass_ns ? t2 : "never", t3, state);
		}
		drill_plan_free(&p);
		free(names[i]);
	}
	if (json)
		printf("%s], \"overdue\": %zu, \"bad\": %zu}\n", n ? "\n" : "", overdue, bad);
	else if (overdue)
		printf("\n%zu plan(s) overdue: the last pass is older than the period\n", overdue);
	free(names);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return overdue || bad ? 1 : 0;
}
