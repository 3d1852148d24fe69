/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_retain.c - unit tests of retention (store/retain.h): --keep rules
 * and durations, the hash set the gc guards with, pins, the policy, and a
 * model of thinning: a file rewritten by many ops at recorded instants is
 * pruned by rules of a few milliseconds with a synthetic "now"; the test
 * works out the kept states itself from the contract (epoch-aligned
 * intervals, the newest state of each, the straddling interval to the
 * finer rule, the newest state and the pins kept) and requires every
 * recorded instant to read as the newest kept state at or before it (or
 * be refused before the oldest), the gc to remove exactly the chunks of
 * the dropped versions, a second prune to change nothing, and a rebuilt
 * index to give the same reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "retain.h"
#include "store.h"
#include "store_test.h"

#define BS 8192
#define NOPS 60

static void test_rules(void **state)
{
	struct cdp_keep_rule r[3];
	char buf[64];
	int64_t ns;

	(void)state;
	assert_int_equal(cdp_duration_parse("10s", &ns), 0);
	assert_true(ns == 10000000000LL);
	assert_int_equal(cdp_duration_parse("2h", &ns), 0);
	assert_true(ns == 7200000000000LL);
	assert_int_equal(cdp_duration_parse("90", &ns), 0);
	assert_true(ns == 90000000000LL);
	assert_int_equal(cdp_duration_parse("0s", &ns), -EINVAL);
	assert_int_equal(cdp_duration_parse("1w", &ns), -EINVAL);
	assert_int_equal(cdp_duration_parse("-1d", &ns), -EINVAL);
	assert_int_equal(cdp_keep_rule_parse("24h:all", &r[0]), 0);
	assert_true(r[0].age_ns == 86400000000000LL && r[0].every_ns == 0);
	assert_int_equal(cdp_keep_rule_parse("7d:1m", &r[1]), 0);
	assert_true(r[1].every_ns == 60000000000LL);
	assert_int_equal(cdp_keep_rule_parse("365d:1d", &r[2]), 0);
	assert_int_equal(cdp_keep_rule_parse("24h", &r[2]), -EINVAL);
	assert_int_equal(cdp_keep_rule_parse("24h:", &r[2]), -EINVAL);
	assert_int_equal(cdp_keep_rule_parse(":all", &r[2]), -EINVAL);
	cdp_keep_rule_format(&r[1], buf, sizeof(buf));
	assert_string_equal(buf, "7d:1m");
	cdp_keep_rule_format(&r[0], buf, sizeof(buf));
	assert_string_equal(buf, "1d:all");
	/* normalize sorts by age and refuses two rules of one age */
	assert_int_equal(cdp_keep_rule_parse("365d:1d", &r[0]), 0);
	assert_int_equal(cdp_keep_rule_parse("24h:all", &r[1]), 0);
	assert_int_equal(cdp_keep_rule_parse("7d:1m", &r[2]), 0);
	assert_int_equal(cdp_keep_rules_normalize(r, 3), 0);
	assert_true(r[0].every_ns == 0 && r[1].every_ns == 60000000000LL &&
		    r[2].every_ns == 86400000000000LL);
	r[1] = r[0];
	assert_int_equal(cdp_keep_rules_normalize(r, 3), -EINVAL);
	assert_int_equal(cdp_keep_rules_normalize(r, 0), -EINVAL);
}

/* ------------------------------------------------------------ store */

struct fx {
	char top[256], dir[300];
	struct cdp_store *s;
	struct cdp_journal *j;
	uint64_t fid;
	uint64_t seq[NOPS];
	int64_t ts[NOPS];
};

static void sleep_us(long us)
{
	struct timespec t = { 0, us * 1000 };

	nanosleep(&t, NULL);
}

static void fill(uint8_t *buf, int i)
{
	memset(buf, 0, BS);
	snprintf((char *)buf, BS, "version %d", i);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct cdp_attr d, r;
	struct cdp_op *op;
	uint8_t buf[BS];
	uint64_t data_fid;
	uint32_t root;
	int resuming, i;

	snprintf(f->top, sizeof(f->top), "%s/cdp-retain-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->top);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_CREATE, NULL, &f->s), 0);
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &root, &resuming), 0);
	memset(&d, 0, sizeof(d));
	d.mode = S_IFDIR | 0755;
	d.nlink = 2;
	r = d;
	r.mode = S_IFREG | 0644;
	r.nlink = 1;
	r.size = BS;
	assert_int_equal(cdp_journal_new_fid(f->j, &data_fid), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &f->fid), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_attr(op, data_fid, &d, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, "data", data_fid, S_IFDIR), 0);
	assert_int_equal(cdp_op_attr(op, f->fid, &r, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, data_fid, "f", f->fid, S_IFREG), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(f->j, root, data_fid), 0);
	/* op i writes "version i" into block 0: each a state of its own */
	for (i = 0; i < NOPS; i++) {
		sleep_us(700 + (i % 5) * 300);
		fill(buf, i);
		assert_int_equal(cdp_op_new(f->j, &op), 0);
		assert_int_equal(cdp_op_data(op, f->fid, 0, buf, BS), 0);
		assert_int_equal(cdp_op_commit(op, &f->seq[i], &f->ts[i]), 0);
	}
	assert_int_equal(cdp_journal_sync(f->j), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	cdp_rm_tree(f->top);
	free(f);
	return 0;
}

/* Reads block 0 at instant ts: the version number, -1 before the floor. */
static int version_at(struct cdp_store *s, uint64_t fid, int64_t ts)
{
	struct cdp_view *v;
	char buf[BS];
	int ret, n = -2;

	ret = cdp_view_open(s, "db01", ts, &v);
	if (ret == -CDP_EBEFORE)
		return -1;
	if (ret < 0)
		fail_msg("view at %lld: %s", (long long)ts, cdp_strerror(ret));
	assert_int_equal(cdp_view_read(v, fid, buf, BS, 0), BS);
	if (sscanf(buf, "version %d", &n) != 1)
		n = -3;
	cdp_view_free(v);
	return n;
}

static int64_t floor_to(int64_t t, int64_t e)
{
	return e ? t - t % e : t;
}

/* The contract, written out again: which ops' states the rules keep. */
static void expected_kept(const struct fx *f, const struct cdp_keep_rule *r, size_t n,
			  int64_t now, const int *pinned, int *kept)
{
	int64_t low[8];
	size_t w;
	int i, wi[NOPS];

	for (w = 0; w < n; w++) {
		low[w] = floor_to(now - r[w].age_ns, w + 1 < n ? r[w + 1].every_ns : r[w].every_ns);
		if (w && low[w] > low[w - 1])
			low[w] = low[w - 1];
	}
	for (i = 0; i < NOPS; i++) {
		wi[i] = -1;
		for (w = 0; w < n; w++)
			if (f->ts[i] >= low[w]) {
				wi[i] = (int)w;
				break;
			}
	}
	for (i = 0; i < NOPS; i++) {
		kept[i] = pinned[i] || i == NOPS - 1;
		if (wi[i] < 0 || kept[i])
			continue;
		if (r[wi[i]].every_ns == 0 || wi[i + 1] != wi[i] ||
		    floor_to(f->ts[i + 1], r[wi[i]].every_ns) != floor_to(f->ts[i], r[wi[i]].every_ns))
			kept[i] = 1;
	}
}

static void check_reads(struct fx *f, struct cdp_store *s, const int *kept, const char *when)
{
	int i, j, want, got;

	for (i = 0; i < NOPS; i++) {
		want = -1;
		for (j = 0; j <= i; j++)
			if (kept[j])
				want = j;
		got = version_at(s, f->fid, f->ts[i]);
		if (got != want)
			fail_msg("%s: the instant of op %d reads version %d, expected %d (the newest "
				 "kept state at or before it)", when, i, got, want);
	}
}

static void test_prune_model(void **state)
{
	struct fx *f = *state;
	struct cdp_keep_rule rules[2];
	struct cdp_prune_options po = { .rules = rules, .nrules = 2 };
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	struct cdp_pin_info pin;
	struct cdp_rebuild_info ri;
	int pinned[NOPS] = { 0 }, kept[NOPS], i, nkept = 0, removed_ops = 0;
	int64_t span = f->ts[NOPS - 1] - f->ts[0];

	/* all within a quarter of the span, one state every 5 ms within
	 * three quarters: the oldest quarter goes, but for a pin */
	rules[0].age_ns = span / 4;
	rules[0].every_ns = 0;
	rules[1].age_ns = span * 3 / 4;
	rules[1].every_ns = 5000000;
	po.now_ns = f->ts[NOPS - 1] + 1000;
	assert_int_equal(cdp_store_pin(f->s, "db01", f->ts[3], "hold", &pin), 0);
	assert_true(pin.seq == f->seq[3]);
	assert_string_equal(pin.note, "hold");
	cdp_pin_info_release(&pin);
	pinned[3] = 1;
	expected_kept(f, rules, 2, po.now_ns, pinned, kept);
	for (i = 0; i < NOPS; i++)
		nkept += kept[i];
	assert_true(nkept > 3 && nkept < NOPS - 5);

	/* a dry run changes nothing */
	po.dry_run = 1;
	assert_int_equal(cdp_store_prune(f->s, "db01", &po, &pr), 0);
	assert_true(pr.versions_removed > 0);
	assert_int_equal(version_at(f->s, f->fid, f->ts[0]), 0);
	po.dry_run = 0;

	assert_int_equal(cdp_store_prune(f->s, "db01", &po, &pr), 0);
	for (i = 0; i < 3; i++)
		removed_ops += !kept[i];
	check_reads(f, f->s, kept, "after the prune");
	assert_true(pr.oldest_kept_seq == f->seq[3] || pr.oldest_kept_seq < f->seq[3]);
	/* the gc removes exactly the chunks of the dropped ops' versions */
	for (i = 0, removed_ops = 0; i < NOPS; i++)
		removed_ops += !kept[i];
	assert_int_equal(cdp_store_gc(f->s, 0.0, &gr), 0);
	if (gr.chunks_removed != (uint64_t)removed_ops)
		fail_msg("gc removed %llu chunks, expected %d (one per dropped version)",
			 (unsigned long long)gr.chunks_removed, removed_ops);
	check_reads(f, f->s, kept, "after the gc");
	/* again: nothing more goes */
	assert_int_equal(cdp_store_prune(f->s, "db01", &po, &pr), 0);
	assert_true(pr.versions_removed == 0 && pr.states_removed == 0);
	assert_int_equal(cdp_store_gc(f->s, 0.0, &gr), 0);
	assert_true(gr.chunks_removed == 0);
	/* the pin holds; unpinning twice says there is none */
	assert_int_equal(cdp_store_unpin(f->s, "db01", f->ts[3], NULL), 0);
	assert_int_equal(cdp_store_unpin(f->s, "db01", f->ts[3], NULL), -ENOENT);

	/* the log rebuilds the pruned index */
	cdp_journal_close(f->j);
	f->j = NULL;
	cdp_store_close(f->s);
	f->s = NULL;
	assert_int_equal(cdp_store_rebuild_index(f->dir, &ri), 0);
	assert_false(ri.damaged);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &f->s), 0);
	check_reads(f, f->s, kept, "after rebuild-index");
}

/* What a progress callback was told, per phase in the order of first call. */
struct progress_rec {
	struct {
		char phase[32];
		uint64_t first_done, last_done, last_total;
		unsigned calls;
	} p[16];
	size_t n;
	unsigned ends;       /* calls with phase NULL */
	int after_end;       /* a call came after the end */
};

static void record_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct progress_rec *r = arg;
	size_t i;

	if (!phase) {
		r->ends++;
		return;
	}
	if (r->ends)
		r->after_end = 1;
	for (i = 0; i < r->n; i++)
		if (strcmp(r->p[i].phase, phase) == 0)
			break;
	if (i == r->n) {
		assert_true(r->n < 16);
		snprintf(r->p[i].phase, sizeof(r->p[i].phase), "%s", phase);
		r->p[i].first_done = done;
		r->n++;
	} else if (done < r->p[i].last_done) {
		fail_msg("progress of '%s' went back from %llu to %llu", phase,
			 (unsigned long long)r->p[i].last_done, (unsigned long long)done);
	}
	r->p[i].last_done = done;
	r->p[i].last_total = total;
	r->p[i].calls++;
}

/* The index of phase in r, failing when it was never reported. */
static size_t phase_of(const struct progress_rec *r, const char *phase)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->p[i].phase, phase) == 0)
			return i;
	fail_msg("no progress of phase '%s' (%zu phases reported)", phase, r->n);
	return 0;
}

static void test_progress(void **state)
{
	static const char *const prune_phases[] = { "time entries", "inode versions",
		"dirent versions", "block versions", "xattr versions" };
	static const char *const gc_phases[] = { "marking", "sweeping", "compacting" };
	struct fx *f = *state;
	struct cdp_keep_rule rule = { .age_ns = 1, .every_ns = 0 };
	struct cdp_prune_options po = { .rules = &rule, .nrules = 1 };
	struct progress_rec rec;
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	uint64_t versions = 0;
	size_t i, k;

	/* keep only the newest state: most of the history goes */
	memset(&rec, 0, sizeof(rec));
	po.now_ns = f->ts[NOPS - 1] + 1;
	po.progress = record_progress;
	po.progress_arg = &rec;
	assert_int_equal(cdp_store_prune(f->s, "db01", &po, &pr), 0);
	assert_true(pr.states_removed > 0);
	assert_int_equal(rec.n, 5);
	for (i = 0; i < 5; i++) {
		k = phase_of(&rec, prune_phases[i]);
		assert_int_equal(k, i);   /* in the order of the contract */
		assert_true(rec.p[k].first_done == 0);
		if (i)
			versions += rec.p[k].last_done;
	}
	k = phase_of(&rec, "time entries");
	if (rec.p[k].last_done != pr.states_before || rec.p[k].last_total != pr.states_before)
		fail_msg("time entries: progress ended at %llu of %llu, the prune saw %llu states",
			 (unsigned long long)rec.p[k].last_done,
			 (unsigned long long)rec.p[k].last_total,
			 (unsigned long long)pr.states_before);
	if (versions != pr.versions_seen)
		fail_msg("the version phases ended at %llu versions in all, the prune saw %llu",
			 (unsigned long long)versions, (unsigned long long)pr.versions_seen);
	assert_int_equal(rec.ends, 1);
	assert_false(rec.after_end);

	memset(&rec, 0, sizeof(rec));
	assert_int_equal(cdp_store_gc_progress(f->s, 0.0, record_progress, &rec, &gr), 0);
	assert_true(gr.chunks_removed > 0);
	assert_int_equal(rec.n, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(phase_of(&rec, gc_phases[i]), i);
	k = phase_of(&rec, "marking");
	assert_true(rec.p[k].last_done >= 1);   /* the newest state's block version */
	k = phase_of(&rec, "sweeping");
	if (rec.p[k].last_done != gr.chunks)
		fail_msg("sweeping: progress ended at %llu chunks, the gc saw %llu",
			 (unsigned long long)rec.p[k].last_done, (unsigned long long)gr.chunks);
	k = phase_of(&rec, "compacting");
	assert_true(rec.p[k].last_done == rec.p[k].last_total);
	assert_int_equal(rec.ends, 1);

	/* the callback is the call's only: a later gc without one tells nobody */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(cdp_store_gc(f->s, 0.0, &gr), 0);
	po.progress = NULL;
	assert_int_equal(cdp_store_prune(f->s, "db01", &po, &pr), 0);
	assert_int_equal(rec.n, 0);
	assert_int_equal(rec.ends, 0);
}

static void test_pins_policy(void **state)
{
	struct fx *f = *state;
	struct cdp_keep_rule rules[2];
	struct cdp_retention_info ri;
	struct cdp_pin_info *pins;
	size_t n;

	assert_int_equal(cdp_store_pin(f->s, "db01", f->ts[10], NULL, NULL), 0);
	assert_int_equal(cdp_store_pin(f->s, "db01", f->ts[5], "five", NULL), 0);
	assert_int_equal(cdp_store_pin(f->s, "db01", f->ts[5], "again", NULL), 0);
	assert_int_equal(cdp_store_pins(f->s, NULL, &pins, &n), 0);
	assert_int_equal(n, 2);
	assert_true(pins[0].seq == f->seq[5] && pins[1].seq == f->seq[10]);
	assert_string_equal(pins[0].note, "again");
	assert_string_equal(pins[1].note, "");
	cdp_pin_info_free(pins, n);
	assert_int_equal(cdp_store_pins(f->s, "nosuch", &pins, &n), -CDP_ENOHOST);
	assert_int_equal(cdp_store_pin(f->s, "nosuch", f->ts[5], NULL, NULL), -CDP_ENOHOST);

	assert_int_equal(cdp_store_retention(f->s, "db01", &ri), 0);
	assert_int_equal(ri.npolicy, 0);
	assert_int_equal(ri.last_prune_ns, 0);
	assert_int_equal(cdp_keep_rule_parse("7d:1m", &rules[0]), 0);
	assert_int_equal(cdp_keep_rule_parse("24h:all", &rules[1]), 0);
	assert_int_equal(cdp_store_policy_set(f->s, "db01", rules, 2), 0);
	assert_int_equal(cdp_store_retention(f->s, "db01", &ri), 0);
	assert_int_equal(ri.npolicy, 2);
	assert_true(ri.policy[0].every_ns == 0 && ri.policy[1].every_ns == 60000000000LL);
	assert_int_equal(cdp_store_policy_set(f->s, "db01", NULL, 0), 0);
	assert_int_equal(cdp_store_retention(f->s, "db01", &ri), 0);
	assert_int_equal(ri.npolicy, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test_setup_teardown(test_prune_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
	};

	cdp_log_init("test_retain", 0, 3);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
