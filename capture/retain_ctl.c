/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * retain_ctl.c - retention through the capture daemon.  RocksDB admits one
 * writing process, so while a capture daemon runs, pins, prunes, gc and
 * policies are made by it (store/retain.h), asked over STORE/capture.sock
 * (control.c has the framing):
 *
 *   pin HOST TS_NS NOTE       -> "ok SEQ TS_NS CREATED_NS"
 *   unpin HOST TS_NS          -> "ok SEQ TS_NS CREATED_NS NOTE"
 *   prune HOST NOW_NS DRY NOGC THRESHOLD_PPM RULE...
 *                             -> "ok" then the 11 numbers of struct
 *                                cdp_prune_result and the 6 of struct
 *                                cdp_gc_result, in their order
 *   gc THRESHOLD_PPM          -> "ok" then the 6 numbers of cdp_gc_result
 *   policy HOST [RULE...]     -> "ok" (no rule: the policy is removed)
 *   prune-progress ..., gc-progress ...: as prune and gc, the reply
 *                                preceded by lines "progress PHASE DONE
 *                                TOTAL" (retain.h cdp_retain_progress_fn,
 *                                PHASE escaped); a daemon that does not
 *                                know them says "unknown request", and the
 *                                client asks again without progress
 *
 * RULE is AGE:EVERY as cdp_keep_rule_parse() reads it; NOTE is "-" for
 * none.  Every failure is "err MESSAGE".  The client functions return 1
 * when no daemon listens (the caller then opens the store itself).
 */
#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/capture_int.h"
#include "retain.h"

#define PRUNE_NUMBERS 11
#define GC_NUMBERS 6

static void prune_numbers(const struct cdp_prune_result *r, uint64_t *v)
{
	v[0] = (uint64_t)r->now_ns;
	v[1] = r->states_before;
	v[2] = r->states_kept;
	v[3] = r->states_removed;
	v[4] = r->states_protected;
	v[5] = r->versions_seen;
	v[6] = r->versions_removed;
	v[7] = (uint64_t)r->oldest_kept_ts_ns;
	v[8] = r->oldest_kept_seq;
	v[9] = (uint64_t)r->newest_kept_ts_ns;
	v[10] = 0;
}

static void prune_from(struct cdp_prune_result *r, const uint64_t *v)
{
	r->now_ns = (int64_t)v[0];
	r->states_before = v[1];
	r->states_kept = v[2];
	r->states_removed = v[3];
	r->states_protected = v[4];
	r->versions_seen = v[5];
	r->versions_removed = v[6];
	r->oldest_kept_ts_ns = (int64_t)v[7];
	r->oldest_kept_seq = v[8];
	r->newest_kept_ts_ns = (int64_t)v[9];
}

static void gc_numbers(const struct cdp_gc_result *r, uint64_t *v)
{
	v[0] = r->chunks;
	v[1] = r->chunks_removed;
	v[2] = r->bytes_unreferenced;
	v[3] = r->segments_compacted;
	v[4] = r->chunks_moved;
	v[5] = r->bytes_reclaimed;
}

static void gc_from(struct cdp_gc_result *r, const uint64_t *v)
{
	r->chunks = v[0];
	r->chunks_removed = v[1];
	r->bytes_unreferenced = v[2];
	r->segments_compacted = v[3];
	r->chunks_moved = v[4];
	r->bytes_reclaimed = v[5];
}

static size_t numbers_format(char *out, size_t size, const uint64_t *v, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, " %" PRIu64, v[i]);
	return o;
}

static int numbers_parse(char **save, uint64_t *v, size_t n)
{
	char *tok, *end;
	size_t i;

	for (i = 0; i < n; i++) {
		tok = strtok_r(NULL, " ", save);
		if (!tok)
			return -EPROTO;
		v[i] = strtoull(tok, &end, 10);
		if (*end)
			return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------ daemon */

int cap_retain_is_request(const char *cmd)
{
	return strcmp(cmd, "pin") == 0 || strcmp(cmd, "unpin") == 0 ||
		strcmp(cmd, "prune") == 0 || strcmp(cmd, "gc") == 0 ||
		strcmp(cmd, "prune-progress") == 0 || strcmp(cmd, "gc-progress") == 0 ||
		strcmp(cmd, "policy") == 0;
}

/* The daemon's side of progress: one interim line to the client. */
static void progress_line(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	char esc[256];

	if (!phase)
		return;   /* the client ends its line at the reply */
	cap_field_escape(phase, esc, sizeof(esc));
	cap_ctl_reply(*(int *)arg, "progress %s %" PRIu64 " %" PRIu64, esc, done, total);
}

static char *next_field(char **save)
{
	char *tok = strtok_r(NULL, " ", save);

	if (tok)
		cap_field_unescape(tok);
	return tok;
}

/* A prune or gc asked for by a command waits for one already running (the
 * scheduler's, or another command's) instead of failing: up to
 * BUSY_WAIT_MS, then -EBUSY as before. */
#define BUSY_WAIT_MS (300 * 1000)

static int gc_waiting(struct cdp_store *s, double threshold, cdp_retain_progress_fn *fn,
		      void *arg, struct cdp_gc_result *gr)
{
	int ret, waited;

	for (waited = 0;; waited += 100) {
		ret = cdp_store_gc_progress(s, threshold, fn, arg, gr);
		if (ret != -EBUSY || waited >= BUSY_WAIT_MS)
			return ret;
		poll(NULL, 0, 100);
	}
}

static int prune_waiting(struct cdp_store *s, const char *host,
			 const struct cdp_prune_options *po, struct cdp_prune_result *pr)
{
	int ret, waited;

	for (waited = 0;; waited += 100) {
		ret = cdp_store_prune(s, host, po, pr);
		if (ret != -EBUSY || waited >= BUSY_WAIT_MS)
			return ret;
		poll(NULL, 0, 100);
	}
}

static int rules_read(char **save, struct cdp_keep_rule *rules, size_t *n)
{
	char *tok;

	*n = 0;
	while ((tok = next_field(save))) {
		if (*n == CDP_KEEP_RULES_MAX)
			return -E2BIG;
		if (cdp_keep_rule_parse(tok, &rules[(*n)++]) < 0)
			return -EINVAL;
	}
	return 0;
}

void cap_retain_handle(struct cdp_store *s, int fd, const char *cmd, char *rest)
{
	struct cdp_keep_rule rules[CDP_KEEP_RULES_MAX];
	char *save = NULL, *host = NULL, *tok, out[1400], esc[1100];
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	struct cdp_pin_info pin;
	uint64_t v[PRUNE_NUMBERS + GC_NUMBERS];
	size_t n, o;
	cdp_retain_progress_fn *fn = NULL;
	int ret = -EPROTO;

	memset(&gr, 0, sizeof(gr));
	if (strcmp(cmd, "prune-progress") == 0 || strcmp(cmd, "gc-progress") == 0) {
		fn = progress_line;
		cmd = cmd[0] == 'p' ? "prune" : "gc";
	}
	if (!s) {
		cap_ctl_reply(fd, "err cdpfs: the capture daemon has no store open");
		return;
	}
	/* strtok_r carries on in rest: the first call names it */
	tok = rest ? strtok_r(rest, " ", &save) : NULL;
	if (tok)
		cap_field_unescape(tok);
	if (strcmp(cmd, "gc") == 0) {
		if (tok) {
			ret = gc_waiting(s, (double)strtoull(tok, NULL, 10) / 1e6, fn, &fd, &gr);
			gc_numbers(&gr, v);
			numbers_format(out, sizeof(out), v, GC_NUMBERS);
		}
		goto reply;
	}
	host = tok;
	if (!host)
		goto reply;
	if (strcmp(cmd, "pin") == 0 || strcmp(cmd, "unpin") == 0) {
		char *ts = next_field(&save), *note = next_field(&save);

		if (!ts)
			goto reply;
		ret = cmd[0] == 'p' ?
			cdp_store_pin(s, host, strtoll(ts, NULL, 10),
				      note && strcmp(note, "-") ? note : NULL, &pin) :
			cdp_store_unpin(s, host, strtoll(ts, NULL, 10), &pin);
		if (ret == 0) {
			cap_field_escape(pin.note[0] ? pin.note : "-", esc, sizeof(esc));
			snprintf(out, sizeof(out), " %" PRIu64 " %" PRId64 " %" PRId64 " %s",
				 pin.seq, pin.ts_ns, pin.created_ns, esc);
			cdp_pin_info_release(&pin);
		}
	} else if (strcmp(cmd, "policy") == 0) {
		ret = rules_read(&save, rules, &n);
		if (ret == 0)
			ret = cdp_store_policy_set(s, host, rules, n);
		out[0] = '\0';
		if (ret == 0)
			cdp_log(LOG_NOTICE, "retention policy of host '%s' %s", host,
				n ? "set" : "removed");
	} else if (strcmp(cmd, "prune") == 0) {
		struct cdp_prune_options po = { .rules = rules };
		uint64_t head[4];
		int nogc;

		if (numbers_parse(&save, head, 4) < 0)
			goto reply;
		ret = rules_read(&save, rules, &po.nrules);
		if (ret < 0)
			goto reply;
		po.now_ns = (int64_t)head[0];
		po.dry_run = (int)head[1];
		nogc = (int)head[2];
		po.progress = fn;
		po.progress_arg = &fd;
		ret = prune_waiting(s, host, &po, &pr);
		if (ret == 0 && !po.dry_run && !nogc)
			ret = gc_waiting(s, (double)head[3] / 1e6, fn, &fd, &gr);
		prune_numbers(&pr, v);
		gc_numbers(&gr, v + PRUNE_NUMBERS);
		numbers_format(out, sizeof(out), v, PRUNE_NUMBERS + GC_NUMBERS);
	}
reply:
	if (ret == -EPROTO) {
		cap_ctl_reply(fd, "err cdpfs: malformed '%s' request", cmd);
		return;
	}
	if (ret < 0) {
		o = (size_t)snprintf(esc, sizeof(esc), "err %d cdpfs: %s", ret, cdp_strerror(ret));
		(void)o;
		cap_ctl_reply(fd, "%s", esc);
		return;
	}
	cap_ctl_reply(fd, "ok%s", out);
}

/* ------------------------------------------------------------ client */

/* cap_ctl_ask(), with save set after the reply's "ok". */
static int ask(const char *store, const char *line, char *reply, size_t size, char **save,
	       char *err, size_t errlen)
{
	int rc = cap_ctl_ask(store, line, reply, size, err, errlen);

	if (rc == 0)
		strtok_r(reply, " ", save);
	return rc;
}

struct progress_client {
	cdp_retain_progress_fn *fn;
	void *arg;
};

/* "PHASE DONE TOTAL" from the daemon to the caller's callback. */
static void progress_parse(void *arg, char *text)
{
	struct progress_client *pc = arg;
	char *save = NULL, *phase = strtok_r(text, " ", &save);
	uint64_t v[2];

	if (!phase || numbers_parse(&save, v, 2) < 0)
		return;
	cap_field_unescape(phase);
	pc->fn(pc->arg, phase, v[0], v[1]);
}

/* ask() of "VERB-progress REST" when fn is set (falling back to "VERB REST"
 * with a daemon that does not know it), else of "VERB REST". */
static int ask_progress(const char *store, const char *verb, const char *rest,
			cdp_retain_progress_fn *fn, void *arg, char *reply, size_t size,
			char **save, char *err, size_t errlen)
{
	struct progress_client pc = { fn, arg };
	char line[4200];
	int rc;

	if (fn) {
		snprintf(line, sizeof(line), "%s-progress %s", verb, rest);
		rc = cap_ctl_ask_interim(store, line, reply, size, err, errlen, progress_parse,
					 &pc);
		if (rc == 0)
			strtok_r(reply, " ", save);
		if (rc != -EIO || !strstr(err, "unknown request"))
			return rc;
	}
	snprintf(line, sizeof(line), "%s %s", verb, rest);
	return ask(store, line, reply, size, save, err, errlen);
}

int cdp_capture_pin(const char *store, const char *host, int64_t ts_ns, const char *note,
		    int unpin, struct cdp_pin_info *out, char *err, size_t errlen)
{
	char line[8192], reply[8192], h[256], esc[4096], *save = NULL, *tok;
	uint64_t v[3];
	int rc;

	cap_field_escape(host, h, sizeof(h));
	cap_field_escape(note && *note ? note : "-", esc, sizeof(esc));
	snprintf(line, sizeof(line), "%s %s %" PRId64 " %s\n", unpin ? "unpin" : "pin", h, ts_ns,
		 esc);
	rc = ask(store, line, reply, sizeof(reply), &save, err, errlen);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	if (numbers_parse(&save, v, 3) < 0 || !(tok = strtok_r(NULL, " ", &save)))
		return -EPROTO;
	cap_field_unescape(tok);
	out->seq = v[0];
	out->ts_ns = (int64_t)v[1];
	out->created_ns = (int64_t)v[2];
	out->host = strdup(host);
	out->note = strdup(strcmp(tok, "-") ? tok : "");
	return out->host && out->note ? 0 : -ENOMEM;
}

static size_t rules_line(char *out, size_t size, const struct cdp_keep_rule *rules, size_t n)
{
	char rule[64];
	size_t o = 0, i;

	for (i = 0; i < n && o < size; i++) {
		cdp_keep_rule_format(&rules[i], rule, sizeof(rule));
		o += (size_t)snprintf(out + o, size - o, " %s", rule);
	}
	return o;
}

int cdp_capture_prune(const char *store, const char *host, const struct cdp_prune_options *po,
		      int nogc, double threshold, struct cdp_prune_result *pr,
		      struct cdp_gc_result *gr, char *err, size_t errlen)
{
	char line[4096], reply[4096], h[256], *save = NULL;
	uint64_t v[PRUNE_NUMBERS + GC_NUMBERS];
	size_t o;
	int rc;

	cap_field_escape(host, h, sizeof(h));
	o = (size_t)snprintf(line, sizeof(line), "%s %" PRId64 " %d %d %llu", h,
			     po->now_ns, po->dry_run, nogc,
			     (unsigned long long)(threshold * 1e6 + 0.5));
	o += rules_line(line + o, sizeof(line) - o - 2, po->rules, po->nrules);
	snprintf(line + o, sizeof(line) - o, "\n");
	rc = ask_progress(store, "prune", line, po->progress, po->progress_arg, reply,
			  sizeof(reply), &save, err, errlen);
	if (rc)
		return rc;
	if (numbers_parse(&save, v, PRUNE_NUMBERS + GC_NUMBERS) < 0)
		return -EPROTO;
	memset(pr, 0, sizeof(*pr));
	memset(gr, 0, sizeof(*gr));
	prune_from(pr, v);
	gc_from(gr, v + PRUNE_NUMBERS);
	return 0;
}

int cdp_capture_gc(const char *store, double threshold, cdp_retain_progress_fn *progress,
		   void *arg, struct cdp_gc_result *gr, char *err, size_t errlen)
{
	char line[128], reply[1024], *save = NULL;
	uint64_t v[GC_NUMBERS];
	int rc;

	snprintf(line, sizeof(line), "%llu\n", (unsigned long long)(threshold * 1e6 + 0.5));
	rc = ask_progress(store, "gc", line, progress, arg, reply, sizeof(reply), &save, err,
			  errlen);
	if (rc)
		return rc;
	if (numbers_parse(&save, v, GC_NUMBERS) < 0)
		return -EPROTO;
	gc_from(gr, v);
	return 0;
}

int cdp_capture_policy(const char *store, const char *host, const struct cdp_keep_rule *rules,
		       size_t n, char *err, size_t errlen)
{
	char line[4096], reply[1024], h[256], *save = NULL;
	size_t o;

	cap_field_escape(host, h, sizeof(h));
	o = (size_t)snprintf(line, sizeof(line), "policy %s", h);
	o += rules_line(line + o, sizeof(line) - o - 2, rules, n);
	snprintf(line + o, sizeof(line) - o, "\n");
	return ask(store, line, reply, sizeof(reply), &save, err, errlen);
}

/* ------------------------------------------------------- scheduler */

/*
 * The daemon applies each host's stored policy by itself: every
 * CDPFS_POLICY_INTERVAL_S seconds (default 3600), and at once when the
 * store's disk has less than CDPFS_LOW_WATER_PCT percent free (default
 * 10; checked every CDPFS_POLICY_CHECK_S seconds, default 30, and run at
 * most once a minute while it stays low).  Each run prunes every host that
 * has a policy (recorded as "policy" or "low space", which hosts shows)
 * and then collects garbage (threshold 30%, 0% when space is low).  With
 * no policy nothing is removed: a low disk is only logged.
 */
static long env_long(const char *name, long def, long min)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return *end || n < min ? def : n;
}

static int64_t mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static int free_percent(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0 || !sv.f_blocks)
		return 100;
	return (int)((double)sv.f_bavail * 100.0 / (double)sv.f_blocks);
}

/* Prunes every host with a policy, then collects; returns how many hosts. */
static int apply_policies(struct cap_retain_sched *rs, int reason)
{
	struct cdp_host_info *hosts;
	struct cdp_retention_info ri;
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	size_t n, i;
	int done = 0, ret;

	if (cdp_store_hosts(rs->store, &hosts, &n) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		struct cdp_prune_options po = { .reason = reason };

		if (cdp_store_retention(rs->store, hosts[i].name, &ri) < 0 || !ri.npolicy)
			continue;
		po.rules = ri.policy;
		po.nrules = ri.npolicy;
		ret = cdp_store_prune(rs->store, hosts[i].name, &po, &pr);
		if (ret < 0)
			cdp_log(LOG_ERR, "retention policy of host '%s' not applied: %s",
				hosts[i].name, cdp_strerror(ret));
		else
			done++;
	}
	cdp_host_info_free(hosts, n);
	if (done) {
		ret = cdp_store_gc(rs->store, reason == CDP_PRUNE_LOW_SPACE ? 0.0 : 0.30, &gr);
		if (ret < 0)
			cdp_log(LOG_ERR, "gc after the retention policies failed: %s",
				cdp_strerror(ret));
	}
	return done;
}

static void *sched_main(void *arg)
{
	struct cap_retain_sched *rs = arg;
	long interval = env_long("CDPFS_POLICY_INTERVAL_S", 3600, 1);
	long check = env_long("CDPFS_POLICY_CHECK_S", 30, 1);
	long low_pct = env_long("CDPFS_LOW_WATER_PCT", 10, 0);
	int64_t last_run = mono_s(), last_low = 0;
	struct timespec until;
	int pct, warned = 0;

	pthread_mutex_lock(&rs->lock);
	while (!rs->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += check;
		pthread_cond_timedwait(&rs->cond, &rs->lock, &until);
		if (rs->stop)
			break;
		pthread_mutex_unlock(&rs->lock);
		pct = free_percent(rs->path);
		if (pct < low_pct && (!last_low || mono_s() - last_low >= 60)) {
			last_low = mono_s();
			cdp_log(LOG_WARNING, "store '%s': %d%% of its disk free, below the low-water "
				"mark of %ld%%: applying the retention policies now", rs->path, pct,
				low_pct);
			if (!apply_policies(rs, CDP_PRUNE_LOW_SPACE) && !warned++)
				cdp_log(LOG_WARNING, "store '%s': no host has a retention policy, so "
					"nothing is removed (set one with 'cdpfs policy set')",
					rs->path);
			last_run = mono_s();
		} else if (mono_s() - last_run >= interval) {
			last_run = mono_s();
			apply_policies(rs, CDP_PRUNE_SCHEDULE);
		}
		pthread_mutex_lock(&rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

int cap_retain_sched_start(struct cap_retain_sched *rs, struct cdp_store *store,
			   const char *path)
{
	memset(rs, 0, sizeof(*rs));
	if (!store)
		return 0;
	rs->store = store;
	rs->path = path;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->cond, NULL);
	if (pthread_create(&rs->thread, NULL, sched_main, rs) != 0)
		return -EAGAIN;
	rs->started = 1;
	return 0;
}

void cap_retain_sched_stop(struct cap_retain_sched *rs)
{
	if (!rs->started)
		return;
	pthread_mutex_lock(&rs->lock);
	rs->stop = 1;
	pthread_cond_signal(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	pthread_join(rs->thread, NULL);
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->cond);
	rs->started = 0;
}
