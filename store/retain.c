/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * retain.c - pins, the stored policy, and thinning a host's history
 * (cdp_store_prune); the contract and the model are in retain.h, the
 * garbage collection of chunks in gc.c.
 *
 * Keys (default column family, docs/format.md "Meta keys"; every write is
 * a logged index batch, so rebuild-index gives them back):
 *   'H' host u32 'p' seq u64   pin: i64 ts, i64 created, note bytes
 *   'H' host u32 'b'           floor: i64 ts, u64 seq of the oldest kept
 *                              state; instants before it are CDP_EBEFORE
 *   'H' host u32 'g'           the last prune: i64 now, u8 reason, u32 n,
 *                              n x (i64 age_ns, i64 every_ns; 0 = all)
 *   'H' host u32 'k'           the policy: u32 n, n x (i64 age, i64 every)
 *
 * A prune, in order (each step crash-safe on its own):
 *   1. the protected states: pins, overlay bases, registered views, the
 *      newest passing drill;
 *   2. one pass over the host's time entries decides the kept states, as
 *      ranges of seqs (memory: the number of intervals the rules make, not
 *      the history's length: an "all" window is one range);
 *   3. the floor and the prune record are committed, before anything is
 *      removed, so an instant older than what stays is refused, never
 *      served as the empty state before the first operation;
 *   4. the time entries of the dropped states are deleted (an instant then
 *      resolves to the newest kept state at or before it);
 *   5. the registered views are read again: a mount that resolved its seq
 *      before step 4 and registered after step 1 is kept too (a view
 *      checks its time entry again after registering, view.c, so one that
 *      registers after this read sees step 4 and resolves anew);
 *   6. every version no kept state sees is deleted, in each versioned
 *      column family, a host prefix at a time.  Versions newer than the
 *      newest state of step 2 (capture writing meanwhile) are kept.
 * A crash between steps leaves versions nothing sees; the next prune's
 * kept states are a subset of what is left, so it removes them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"
#include "overlay.h"
#include "retain.h"

/* ------------------------------------------------- crash points */

/*
 * Fault injection for the crash tests (tests/integration/031): with
 * CDPFS_CRASH_POINT=N in the environment, a prune or gc kills its own
 * process with SIGKILL at its N-th crash point (after each logged batch
 * and between the steps of a compaction), and batches are cut at 16
 * entries so that every step has points; CDPFS_CRASH_POINT=count prints
 * "crash points: N" on stderr at each point instead.  With
 * CDPFS_CRASH_ONCE=FILE too, the point fires only in the process that
 * creates FILE (O_EXCL): a capture daemon killed in its policy prune is
 * restarted by its supervisor with the same environment, and the new one
 * must run to the end (tests/integration/033).  Unset, it costs a getenv
 * per batch.
 */
static unsigned long crash_points;

void cdp_retain_crash_point(const char *what)
{
	const char *env = getenv("CDPFS_CRASH_POINT"), *once;

	if (!env)
		return;
	crash_points++;
	if (strcmp(env, "count") == 0) {
		fprintf(stderr, "crash points: %lu (%s)\n", crash_points, what);
		return;
	}
	if (crash_points != strtoul(env, NULL, 10))
		return;
	once = getenv("CDPFS_CRASH_ONCE");
	if (once) {
		int fd = open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		if (fd < 0)
			return;
		close(fd);
	}
	kill(getpid(), SIGKILL);
}

uint32_t cdp_retain_batch(uint32_t n)
{
	return getenv("CDPFS_CRASH_POINT") ? 16 : n;
}

#define BATCH_ENTRIES cdp_retain_batch(50000)

void cdp_retain_tick(struct cdp_store *s, const char *phase, uint64_t done, uint64_t total,
		     int force)
{
	struct timespec t;
	int64_t now;

	if (!s->retain_progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	now = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	if (!force && now - s->retain_progress_ns < 100000000)
		return;
	s->retain_progress_ns = now;
	s->retain_progress(s->retain_progress_arg, phase, done, total);
}

/* ------------------------------------------------------------ rules */

int cdp_duration_parse(const char *text, int64_t *ns)
{
	unsigned long long v;
	int64_t unit = 1;
	char *end;

	if (!text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 's': end++; break;
	case 'm': unit = 60; end++; break;
	case 'h': unit = 3600; end++; break;
	case 'd': unit = 86400; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > (unsigned long long)(INT64_MAX / 1000000000LL / unit))
		return -EINVAL;
	*ns = (int64_t)v * unit * 1000000000LL;
	return 0;
}

int cdp_keep_rule_parse(const char *text, struct cdp_keep_rule *r)
{
	char age[64];
	const char *colon = text ? strchr(text, ':') : NULL;

	if (!colon || (size_t)(colon - text) >= sizeof(age))
		return -EINVAL;
	memcpy(age, text, (size_t)(colon - text));
	age[colon - text] = '\0';
	if (cdp_duration_parse(age, &r->age_ns) < 0)
		return -EINVAL;
	if (strcmp(colon + 1, "all") == 0) {
		r->every_ns = 0;
		return 0;
	}
	return cdp_duration_parse(colon + 1, &r->every_ns);
}

static void duration_format(int64_t ns, char *buf, size_t size)
{
	int64_t s = ns / 1000000000LL;

	if (ns % 1000000000LL)
		snprintf(buf, size, "%.3fs", (double)ns / 1e9);
	else if (s % 86400 == 0)
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%llds", (long long)s);
}

void cdp_keep_rule_format(const struct cdp_keep_rule *r, char *buf, size_t size)
{
	char age[32], every[32];

	duration_format(r->age_ns, age, sizeof(age));
	if (r->every_ns)
		duration_format(r->every_ns, every, sizeof(every));
	else
		snprintf(every, sizeof(every), "all");
	snprintf(buf, size, "%s:%s", age, every);
}

static int rule_cmp(const void *a, const void *b)
{
	const struct cdp_keep_rule *x = a, *y = b;

	return x->age_ns < y->age_ns ? -1 : x->age_ns > y->age_ns;
}

int cdp_keep_rules_normalize(struct cdp_keep_rule *rules, size_t n)
{
	size_t i;

	if (n == 0)
		return -EINVAL;
	if (n > CDP_KEEP_RULES_MAX)
		return -E2BIG;
	qsort(rules, n, sizeof(*rules), rule_cmp);
	for (i = 0; i < n; i++)
		if (rules[i].age_ns <= 0 || rules[i].every_ns < 0 ||
		    (i && rules[i].age_ns == rules[i - 1].age_ns))
			return -EINVAL;
	return 0;
}

size_t cdp_keep_rules_encode(uint8_t *out, const struct cdp_keep_rule *rules, size_t n)
{
	size_t i;

	put_u32be(out, (uint32_t)n);
	for (i = 0; i < n; i++) {
		put_u64be(out + 4 + i * 16, (uint64_t)rules[i].age_ns);
		put_u64be(out + 12 + i * 16, (uint64_t)rules[i].every_ns);
	}
	return 4 + n * 16;
}

int cdp_keep_rules_decode(const uint8_t *p, size_t len, struct cdp_keep_rule *rules, size_t *n)
{
	size_t i, count;

	if (len < 4)
		return -CDP_ECORRUPT;
	count = get_u32be(p);
	if (count > CDP_KEEP_RULES_MAX || len != 4 + count * 16)
		return -CDP_ECORRUPT;
	for (i = 0; i < count; i++) {
		rules[i].age_ns = (int64_t)get_u64be(p + 4 + i * 16);
		rules[i].every_ns = (int64_t)get_u64be(p + 12 + i * 16);
	}
	*n = count;
	return 0;
}

/* ------------------------------------------------------------ shaset */

struct cdp_shaset {
	uint8_t (*slots)[CDP_HASH_BYTES + 1];   /* byte 32: used */
	size_t n, cap;
};

int cdp_shaset_new(struct cdp_shaset **out)
{
	struct cdp_shaset *set = calloc(1, sizeof(*set));

	if (!set)
		return -ENOMEM;
	set->cap = 1024;
	set->slots = calloc(set->cap, sizeof(*set->slots));
	if (!set->slots) {
		free(set);
		return -ENOMEM;
	}
	*out = set;
	return 0;
}

void cdp_shaset_free(struct cdp_shaset *set)
{
	if (!set)
		return;
	free(set->slots);
	free(set);
}

static size_t shaset_find(const struct cdp_shaset *set, const uint8_t *sha)
{
	size_t i = (size_t)get_u64be(sha) & (set->cap - 1);

	while (set->slots[i][CDP_HASH_BYTES] && memcmp(set->slots[i], sha, CDP_HASH_BYTES))
		i = (i + 1) & (set->cap - 1);
	return i;
}

int cdp_shaset_has(const struct cdp_shaset *set, const uint8_t sha[CDP_HASH_BYTES])
{
	return set->slots[shaset_find(set, sha)][CDP_HASH_BYTES] != 0;
}

int cdp_shaset_add(struct cdp_shaset *set, const uint8_t sha[CDP_HASH_BYTES])
{
	size_t i;

	if ((set->n + 1) * 2 > set->cap) {
		struct cdp_shaset bigger = { .cap = set->cap * 2 };

		bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
		if (!bigger.slots)
			return -ENOMEM;
		for (i = 0; i < set->cap; i++)
			if (set->slots[i][CDP_HASH_BYTES])
				memcpy(bigger.slots[shaset_find(&bigger, set->slots[i])],
				       set->slots[i], CDP_HASH_BYTES + 1);
		free(set->slots);
		set->slots = bigger.slots;
		set->cap = bigger.cap;
	}
	i = shaset_find(set, sha);
	if (!set->slots[i][CDP_HASH_BYTES]) {
		memcpy(set->slots[i], sha, CDP_HASH_BYTES);
		set->slots[i][CDP_HASH_BYTES] = 1;
		set->n++;
	}
	return 0;
}

/* -------------------------------------------------------------- pins */

static void key_pin(struct cdp_key *k, uint32_t host, uint64_t seq)
{
	cdp_key_host_meta(k, host, HM_PIN, 0, 0);
	put_u64be(k->b + k->len, seq);
	k->len += 8;
}

void cdp_pin_info_release(struct cdp_pin_info *p)
{
	if (!p)
		return;
	free(p->host);
	free(p->note);
	memset(p, 0, sizeof(*p));
}

void cdp_pin_info_free(struct cdp_pin_info *list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		cdp_pin_info_release(&list[i]);
	free(list);
}

/* The state ts_ns of host resolves to: host id, seq and its instant. */
static int resolve_state(struct cdp_store *s, const char *host, int64_t ts_ns, uint32_t *id,
			 uint64_t *seq, int64_t *ts)
{
	struct cdp_view *v;
	int ret = cdp_view_open(s, host, ts_ns, &v);

	if (ret < 0)
		return ret;
	*seq = cdp_view_seq(v);
	*ts = cdp_view_ts(v);
	cdp_view_free(v);
	return cdp_store_host_lookup(s, host, id);
}

static int pin_fill(struct cdp_pin_info *out, const char *host, uint64_t seq, const char *val,
		    size_t len)
{
	memset(out, 0, sizeof(*out));
	if (len < 16)
		return -CDP_ECORRUPT;
	out->seq = seq;
	out->ts_ns = (int64_t)get_u64be((const uint8_t *)val);
	out->created_ns = (int64_t)get_u64be((const uint8_t *)val + 8);
	out->host = strdup(host);
	out->note = strndup(val + 16, len - 16);
	if (!out->host || !out->note) {
		cdp_pin_info_release(out);
		return -ENOMEM;
	}
	return 0;
}

int cdp_store_pin(struct cdp_store *s, const char *host, int64_t ts_ns, const char *note,
		  struct cdp_pin_info *out)
{
	struct cdp_ibatch b;
	struct cdp_key k;
	uint8_t *val;
	size_t nlen = note ? strlen(note) : 0;
	uint64_t seq;
	int64_t ts;
	uint32_t id;
	int ret;

	if (!s->writer)
		return -EROFS;
	if (nlen > 1024)
		return -EINVAL;
	ret = resolve_state(s, host, ts_ns, &id, &seq, &ts);
	if (ret < 0)
		return ret;
	val = malloc(16 + nlen + 1);
	if (!val)
		return -ENOMEM;
	put_u64be(val, (uint64_t)ts);
	put_u64be(val + 8, (uint64_t)cdp_now_ns());
	if (nlen)
		memcpy(val + 16, note, nlen);
	ret = cdp_ibatch_init(&b);
	if (ret == 0) {
		key_pin(&k, id, seq);
		cdp_ibatch_put(&b, s, CF_META, &k, val, 16 + nlen);
		ret = cdp_index_commit(s, &b);
		cdp_ibatch_release(&b);
	}
	if (ret == 0 && out)
		ret = pin_fill(out, host, seq, (const char *)val, 16 + nlen);
	free(val);
	return ret;
}

int cdp_store_unpin(struct cdp_store *s, const char *host, int64_t ts_ns,
		    struct cdp_pin_info *out)
{
	struct cdp_ibatch b;
	struct cdp_key k;
	char *val;
	size_t len;
	uint64_t seq;
	int64_t ts;
	uint32_t id;
	int ret;

	if (!s->writer)
		return -EROFS;
	ret = resolve_state(s, host, ts_ns, &id, &seq, &ts);
	if (ret < 0)
		return ret;
	key_pin(&k, id, seq);
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val)
		return -ENOENT;
	if (out)
		ret = pin_fill(out, host, seq, val, len);
	free(val);
	if (ret < 0)
		return ret;
	ret = cdp_ibatch_init(&b);
	if (ret == 0) {
		cdp_ibatch_delete(&b, s, CF_META, &k);
		ret = cdp_index_commit(s, &b);
		cdp_ibatch_release(&b);
	}
	return ret;
}

struct pin_list {
	struct cdp_pin_info *v;
	size_t n;
};

static int pins_of_host(struct cdp_store *s, const char *name, uint32_t id, struct pin_list *pl)
{
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	struct cdp_pin_info *nv;
	int ret = 0;

	cdp_key_host_meta(&k, id, HM_PIN, 0, 0);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != k.len + 8 || memcmp(key, k.b, k.len) != 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		nv = realloc(pl->v, (pl->n + 1) * sizeof(*nv));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		pl->v = nv;
		ret = pin_fill(&pl->v[pl->n], name,
			       get_u64be((const uint8_t *)key + k.len), val, vlen);
		if (ret < 0)
			break;
		pl->n++;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s', pins of host "
					    "'%s'", s->path, name);
	rocksdb_iter_destroy(it);
	return ret;
}

int cdp_store_pins(struct cdp_store *s, const char *host, struct cdp_pin_info **out,
		   size_t *n)
{
	struct cdp_host_info *hosts;
	struct pin_list pl = { 0 };
	size_t nh, i;
	int ret;

	*out = NULL;
	*n = 0;
	ret = cdp_store_hosts(s, &hosts, &nh);
	if (ret < 0)
		return ret;
	if (host) {
		for (i = 0; i < nh && strcmp(hosts[i].name, host); i++)
			;
		if (i == nh)
			ret = -CDP_ENOHOST;
	}
	for (i = 0; ret == 0 && i < nh; i++)
		if (!host || strcmp(hosts[i].name, host) == 0)
			ret = pins_of_host(s, hosts[i].name, hosts[i].host_id, &pl);
	cdp_host_info_free(hosts, nh);
	if (ret < 0) {
		cdp_pin_info_free(pl.v, pl.n);
		return ret;
	}
	*out = pl.v;
	*n = pl.n;
	return 0;
}

/* ------------------------------------------------------------ floor */

int cdp_store_host_floor(struct cdp_store *s, uint32_t host, int64_t *ts, uint64_t *seq)
{
	struct cdp_key k;
	uint8_t v[16];
	int ret;

	*ts = 0;
	*seq = 0;
	cdp_key_host_meta(&k, host, HM_FLOOR, 0, 0);
	ret = cdp_store_get_fixed(s, &k, v, sizeof(v));
	if (ret > 0) {
		*ts = (int64_t)get_u64be(v);
		*seq = get_u64be(v + 8);
	}
	return ret < 0 ? ret : 0;
}

int cdp_store_retention(struct cdp_store *s, const char *host, struct cdp_retention_info *ri)
{
	struct cdp_key k;
	uint32_t id;
	char *val;
	size_t len;
	int ret;

	memset(ri, 0, sizeof(*ri));
	ret = cdp_store_host_lookup(s, host, &id);
	if (ret == 0)
		ret = cdp_store_host_floor(s, id, &ri->floor_ts_ns, &ri->floor_seq);
	if (ret < 0)
		return ret;
	cdp_key_host_meta(&k, id, HM_PRUNED, 0, 0);
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		if (len < 9 || cdp_keep_rules_decode((uint8_t *)val + 9, len - 9, ri->rules,
					    &ri->nrules) < 0)
			ret = -CDP_ECORRUPT;
		else {
			ri->last_prune_ns = (int64_t)get_u64be((uint8_t *)val);
			ri->last_reason = (uint8_t)val[8];
		}
		free(val);
		if (ret < 0)
			return ret;
	}
	cdp_key_host_meta(&k, id, HM_POLICY, 0, 0);
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0 || !val)
		return ret;
	ret = cdp_keep_rules_decode((uint8_t *)val, len, ri->policy, &ri->npolicy);
	free(val);
	return ret;
}

int cdp_store_policy_set(struct cdp_store *s, const char *host,
			 const struct cdp_keep_rule *rules, size_t nrules)
{
	struct cdp_keep_rule sorted[CDP_KEEP_RULES_MAX];
	uint8_t val[4 + CDP_KEEP_RULES_MAX * 16];
	struct cdp_ibatch b;
	struct cdp_key k;
	uint32_t id;
	int ret;

	if (!s->writer)
		return -EROFS;
	if (nrules > CDP_KEEP_RULES_MAX)
		return -E2BIG;
	if (nrules)
		memcpy(sorted, rules, nrules * sizeof(*rules));
	if (nrules && (ret = cdp_keep_rules_normalize(sorted, nrules)) < 0)
		return ret;
	ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	cdp_key_host_meta(&k, id, HM_POLICY, 0, 0);
	if (nrules)
		cdp_ibatch_put(&b, s, CF_META, &k, val, cdp_keep_rules_encode(val, sorted, nrules));
	else
		cdp_ibatch_delete(&b, s, CF_META, &k);
	ret = cdp_index_commit(s, &b);
	cdp_ibatch_release(&b);
	return ret;
}

/* ------------------------------------------------------ protected */

struct seqlist {
	uint64_t *v;
	size_t n, cap;
};

static int seqlist_add(void *arg, uint64_t seq)
{
	struct seqlist *l = arg;
	uint64_t *nv;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		nv = realloc(l->v, l->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
	}
	l->v[l->n++] = seq;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int seqlist_has(const struct seqlist *l, uint64_t seq)
{
	return l->n && bsearch(&seq, l->v, l->n, sizeof(*l->v), u64_cmp) != NULL;
}

/* The newest passing drill of host in STORE/drills/index (format.md
 * "Drill reports": nine tab-separated fields; field 5 is the seq, 6 the
 * result, 8 the start). */
static int newest_drill(struct cdp_store *s, const char *host, struct seqlist *l)
{
	char path[PATH_MAX], line[8192], *f[9], *save, *p;
	long long best_start = -1, start;
	uint64_t best = 0;
	FILE *fp;
	int i;

	snprintf(path, sizeof(path), "%s/drills/index", s->path);
	fp = fopen(path, "re");
	if (!fp)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		for (i = 0, p = line; i < 9 && (f[i] = strtok_r(p, "\t", &save)); i++)
			p = NULL;
		if (i != 9 || strcmp(f[1], host) || strcmp(f[5], "pass"))
			continue;
		start = strtoll(f[7], NULL, 10);
		if (start >= best_start) {
			best_start = start;
			best = strtoull(f[4], NULL, 10);
		}
	}
	fclose(fp);
	return best ? seqlist_add(l, best) : 0;
}

static int gather_protected(struct cdp_store *s, const char *host, uint32_t id,
			    struct seqlist *l)
{
	struct cdp_overlay_info *ovl;
	struct pin_list pl = { 0 };
	size_t n, i;
	int ret;

	ret = pins_of_host(s, host, id, &pl);
	for (i = 0; ret == 0 && i < pl.n; i++)
		ret = seqlist_add(l, pl.v[i].seq);
	cdp_pin_info_free(pl.v, pl.n);
	if (ret < 0)
		return ret;
	ret = cdp_overlay_list(s->path, &ovl, &n);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	for (i = 0; ret >= 0 && i < n; i++)
		if (strcmp(ovl[i].host, host) == 0)
			ret = seqlist_add(l, ovl[i].base_seq);
	if (ret != -ENOENT)
		cdp_overlay_list_free(ovl, n);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	ret = newest_drill(s, host, l);
	if (ret == 0)
		ret = cdp_views_for_each(s, id, seqlist_add, l);
	if (ret == 0 && l->n)
		qsort(l->v, l->n, sizeof(*l->v), u64_cmp);
	return ret;
}

/* ------------------------------------------------------ kept states */

/* Kept states as sorted, disjoint ranges of seqs [lo, hi]: a range grows
 * only by the very next seq, so every seq in it is a kept state (an "all"
 * window is one range; after an earlier prune, a kept state stands alone). */
struct kept {
	struct { uint64_t lo, hi; } *r;
	size_t n, cap;
	uint64_t newest;     /* the newest state at the start: later seqs are kept */
};

static int kept_add(struct kept *k, uint64_t seq, int follows_last)
{
	void *nr;

	if (k->n && seq <= k->r[k->n - 1].hi)
		return 0;
	if (k->n && follows_last && seq == k->r[k->n - 1].hi + 1) {
		k->r[k->n - 1].hi = seq;
		return 0;
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		nr = realloc(k->r, k->cap * sizeof(*k->r));
		if (!nr)
			return -ENOMEM;
		k->r = nr;
	}
	k->r[k->n].lo = k->r[k->n].hi = seq;
	k->n++;
	return 0;
}

/* Inserts a single seq anywhere (a view registered during the prune). */
static int kept_insert(struct kept *k, uint64_t seq)
{
	size_t i;
	int ret;

	for (i = 0; i < k->n && k->r[i].hi < seq; i++)
		;
	if (i < k->n && k->r[i].lo <= seq)
		return 0;
	ret = kept_add(k, UINT64_MAX, 0);   /* room at the end */
	if (ret < 0)
		return ret;
	memmove(&k->r[i + 1], &k->r[i], (k->n - 1 - i) * sizeof(*k->r));
	k->r[i].lo = k->r[i].hi = seq;
	return 0;
}

/* The smallest kept seq >= seq, or UINT64_MAX when none. */
static uint64_t kept_next(const struct kept *k, uint64_t seq)
{
	size_t lo = 0, hi = k->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (k->r[mid].hi < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == k->n)
		return UINT64_MAX;
	return k->r[lo].lo > seq ? k->r[lo].lo : seq;
}

static int kept_has(const struct kept *k, uint64_t seq)
{
	return seq > k->newest || kept_next(k, seq) == seq;
}

/* Is a version at seq, whose next newer version is at next_seq (UINT64_MAX:
 * none), seen by a kept state? */
static int version_kept(const struct kept *k, uint64_t seq, uint64_t next_seq)
{
	return seq > k->newest || kept_next(k, seq) < next_seq;
}

static int64_t floor_to(int64_t t, int64_t every)
{
	int64_t m;

	if (!every)
		return t;
	m = t % every;
	return m < 0 ? t - m - every : t - m;
}

/* The rules as windows: window i governs instants in [low[i], low[i-1])
 * (low[-1] = +inf), finest first. */
struct plan {
	size_t n;
	int64_t low[CDP_KEEP_RULES_MAX];
	int64_t every[CDP_KEEP_RULES_MAX];
};

static void plan_make(struct plan *p, const struct cdp_keep_rule *r, size_t n, int64_t now)
{
	size_t i;

	p->n = n;
	for (i = 0; i < n; i++) {
		/* the interval of the next coarser rule (or this one's, at the
		 * outer edge) that straddles the edge belongs to this rule */
		p->low[i] = floor_to(now - r[i].age_ns, i + 1 < n ? r[i + 1].every_ns :
				     r[i].every_ns);
		if (i && p->low[i] > p->low[i - 1])
			p->low[i] = p->low[i - 1];
		p->every[i] = r[i].every_ns;
	}
}

/* Which window governs instant t: its index, or -1 (older than them all). */
static int plan_window(const struct plan *p, int64_t t)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (t >= p->low[i])
			return (int)i;
	return -1;
}

/* The interval an instant falls in, under its window: (window, start). */
static void plan_interval(const struct plan *p, int64_t t, int *w, int64_t *start)
{
	*w = plan_window(p, t);
	*start = *w < 0 ? 0 : p->every[*w] ? floor_to(t, p->every[*w]) : t;
}

struct entry {
	int64_t ts;
	uint64_t seq;
};

size_t cdp_retention_periods(const struct cdp_retention_info *ri, struct cdp_period *out)
{
	struct plan p;
	size_t i, n = 0;
	int64_t to = INT64_MAX;

	if (!ri->last_prune_ns || !ri->nrules)
		return 0;
	plan_make(&p, ri->rules, ri->nrules, ri->last_prune_ns);
	/* newest first into a scratch order, then reversed */
	out[n].from_ns = ri->last_prune_ns;
	out[n].to_ns = to;
	out[n++].every_ns = 0;
	to = ri->last_prune_ns;
	for (i = 0; i < p.n; i++) {
		int64_t from = p.low[i] < ri->floor_ts_ns ? ri->floor_ts_ns : p.low[i];

		if (from >= to)
			continue;
		if (n && out[n - 1].every_ns == p.every[i]) {
			out[n - 1].from_ns = from;
		} else {
			out[n].from_ns = from;
			out[n].to_ns = to;
			out[n++].every_ns = p.every[i];
		}
		to = from;
	}
	for (i = 0; i < n / 2; i++) {
		struct cdp_period t = out[i];

		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}

/* Pass 1: decides the kept states (one look ahead: a state closes its
 * interval when the next one is in another interval or there is none). */
static int compute_kept(struct cdp_store *s, uint32_t host, const struct plan *p,
			const struct seqlist *prot, uint64_t min_seq, struct kept *k,
			struct cdp_prune_result *r)
{
	rocksdb_iterator_t *it;
	struct cdp_key pfx;
	struct entry cur = { 0 }, nxt;
	const char *key;
	size_t klen;
	int have = 0, cw = 0, nw, keep, last_kept = 0, ret;
	int64_t cstart = 0, nstart;

	put_u32be(pfx.b, host);
	pfx.len = 4;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_TIME]);
	for (rocksdb_iter_seek(it, (const char *)pfx.b, 4);; rocksdb_iter_next(it)) {
		int valid = rocksdb_iter_valid(it);

		if (valid) {
			key = rocksdb_iter_key(it, &klen);
			valid = klen == 20 && memcmp(key, pfx.b, 4) == 0;
		}
		if (valid) {
			nxt.ts = (int64_t)get_u64be((const uint8_t *)key + 4);
			nxt.seq = get_u64be((const uint8_t *)key + 12);
			plan_interval(p, nxt.ts, &nw, &nstart);
			r->states_before++;
		}
		if (have) {
			keep = 0;
			if (cw >= 0 && (p->every[cw] == 0 || !valid || nw != cw ||
					nstart != cstart))
				keep = 1;
			if (!valid)
				keep = 1;   /* the newest state */
			else if (cur.seq < min_seq)
				keep = 0;   /* before the first mountable state */
			if (!keep && seqlist_has(prot, cur.seq)) {
				keep = 1;
				r->states_protected++;
			}
			if (keep) {
				ret = kept_add(k, cur.seq, last_kept);
				if (ret < 0)
					goto out;
				if (!r->oldest_kept_seq) {
					r->oldest_kept_seq = cur.seq;
					r->oldest_kept_ts_ns = cur.ts;
				}
				r->newest_kept_ts_ns = cur.ts;
				r->states_kept++;
				k->newest = cur.seq;
			}
			last_kept = keep;
		}
		if (!valid)
			break;
		cur = nxt;
		cw = nw;
		cstart = nstart;
		have = 1;
	}
	ret = cdp_rocks_iter_status(it, "column family 'time' of '%s', host %u: prune",
				    s->path, host);
out:
	rocksdb_iter_destroy(it);
	r->states_removed = r->states_before - r->states_kept;
	return ret;
}

/* Commits b when it holds n entries or more (0: whatever it holds). */
static int batch_flush(struct cdp_store *s, struct cdp_ibatch *b, uint32_t n)
{
	int ret;

	if (b->count < (n ? n : 1))
		return 0;
	ret = cdp_index_commit(s, b);
	cdp_retain_crash_point("prune batch");
	return ret;
}

/* Steps 3 and 4: the floor and the prune record, then the time entries of
 * the dropped states. */
static int drop_states(struct cdp_store *s, uint32_t host, const struct cdp_prune_options *o,
		       const struct cdp_keep_rule *rules, size_t nrules, const struct kept *k,
		       const struct cdp_prune_result *r)
{
	uint8_t v[13 + 4 + CDP_KEEP_RULES_MAX * 16];
	rocksdb_iterator_t *it;
	struct cdp_ibatch b;
	struct cdp_key key;
	const char *kp;
	size_t klen;
	uint64_t seq, walked = 0;
	int ret;

	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	cdp_retain_tick(s, "time entries", 0, r->states_before, 1);
	cdp_key_host_meta(&key, host, HM_FLOOR, 0, 0);
	put_u64be(v, (uint64_t)r->oldest_kept_ts_ns);
	put_u64be(v + 8, r->oldest_kept_seq);
	cdp_ibatch_put(&b, s, CF_META, &key, v, 16);
	cdp_key_host_meta(&key, host, HM_PRUNED, 0, 0);
	put_u64be(v, (uint64_t)r->now_ns);
	v[8] = (uint8_t)o->reason;
	cdp_ibatch_put(&b, s, CF_META, &key, v, 9 + cdp_keep_rules_encode(v + 9, rules, nrules));
	ret = cdp_index_commit(s, &b);
	cdp_retain_crash_point("prune floor");
	put_u32be(key.b, host);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_TIME]);
	for (rocksdb_iter_seek(it, (const char *)key.b, 4); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		kp = rocksdb_iter_key(it, &klen);
		if (klen != 20 || memcmp(kp, key.b, 4) != 0)
			break;
		seq = get_u64be((const uint8_t *)kp + 12);
		cdp_retain_tick(s, "time entries", ++walked, r->states_before, 0);
		if (kept_has(k, seq))
			continue;
		memcpy(key.b, kp, 20);
		key.len = 20;
		cdp_ibatch_delete(&b, s, CF_TIME, &key);
		ret = batch_flush(s, &b, BATCH_ENTRIES);
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'time' of '%s', host %u: prune",
					    s->path, host);
	rocksdb_iter_destroy(it);
	if (ret == 0)
		ret = batch_flush(s, &b, 0);
	if (ret == 0)
		cdp_retain_tick(s, "time entries", walked, r->states_before, 1);
	cdp_ibatch_release(&b);
	return ret;
}

/* Step 6 in one column family: every version of host no kept state sees. */
static int drop_versions(struct cdp_store *s, uint32_t host, int cf, const struct kept *k,
			 int dry_run, struct cdp_prune_result *r)
{
	rocksdb_iterator_t *it;
	struct cdp_ibatch b;
	struct cdp_key key, prev;
	const char *kp;
	size_t klen;
	static const char *const phase[CF_COUNT] = {
		[CF_INODE] = "inode versions", [CF_DIRENT] = "dirent versions",
		[CF_BLOCK] = "block versions", [CF_XATTR] = "xattr versions",
	};
	uint64_t seq, next_seq = UINT64_MAX, walked = 0;
	int ret;

	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	cdp_retain_tick(s, phase[cf], 0, 0, 1);
	prev.len = 0;
	put_u32be(key.b, host);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[cf]);
	for (rocksdb_iter_seek(it, (const char *)key.b, 4); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		kp = rocksdb_iter_key(it, &klen);
		if (klen < 4 + 8 || memcmp(kp, key.b, 4) != 0)
			break;
		if (klen > sizeof(key.b))
			continue;
		seq = key_seq_of(kp, klen);
		/* versions of one key are adjacent, newest first */
		if (prev.len != klen || memcmp(prev.b, kp, klen - 8) != 0)
			next_seq = UINT64_MAX;
		memcpy(prev.b, kp, klen);
		prev.len = klen;
		r->versions_seen++;
		cdp_retain_tick(s, phase[cf], ++walked, 0, 0);
		if (!version_kept(k, seq, next_seq)) {
			r->versions_removed++;
			if (!dry_run) {
				memcpy(key.b, kp, klen);
				key.len = klen;
				cdp_ibatch_delete(&b, s, cf, &key);
				ret = batch_flush(s, &b, BATCH_ENTRIES);
			}
		}
		next_seq = seq;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family '%s' of '%s', host %u: prune",
					    cdp_cf_names[cf], s->path, host);
	rocksdb_iter_destroy(it);
	if (ret == 0 && !dry_run)
		ret = batch_flush(s, &b, 0);
	if (ret == 0)
		cdp_retain_tick(s, phase[cf], walked, 0, 1);
	cdp_ibatch_release(&b);
	return ret;
}

/* The seq of the newest state at or before ts (0: none). */
static int state_at(struct cdp_store *s, uint32_t host, int64_t ts, uint64_t *seq)
{
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key;
	size_t klen;
	int ret;

	*seq = 0;
	cdp_key_time(&k, host, ts, UINT64_MAX);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_TIME]);
	rocksdb_iter_seek_for_prev(it, (const char *)k.b, k.len);
	if (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen == 20 && memcmp(key, k.b, 4) == 0)
			*seq = get_u64be((const uint8_t *)key + 12);
	}
	ret = cdp_rocks_iter_status(it, "column family 'time' of '%s', host %u: prune",
				    s->path, host);
	rocksdb_iter_destroy(it);
	return ret;
}

static int insert_view(void *arg, uint64_t seq)
{
	return kept_insert(arg, seq);
}

int cdp_store_prune(struct cdp_store *s, const char *host, const struct cdp_prune_options *o,
		    struct cdp_prune_result *r)
{
	static const int cfs[] = { CF_INODE, CF_DIRENT, CF_BLOCK, CF_XATTR };
	struct cdp_keep_rule rules[CDP_KEEP_RULES_MAX];
	struct seqlist prot = { 0 };
	struct kept k = { 0 };
	struct plan p;
	uint64_t min_seq = 0;
	int64_t first;
	uint32_t id;
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!s->writer)
		return -EROFS;
	if (o->nrules > CDP_KEEP_RULES_MAX)
		return -E2BIG;
	memcpy(rules, o->rules, o->nrules * sizeof(*rules));
	ret = cdp_keep_rules_normalize(rules, o->nrules);
	if (ret < 0)
		return ret;
	ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	if (pthread_mutex_trylock(&s->retain_lock) != 0)
		return -EBUSY;
	s->retain_progress = o->progress;
	s->retain_progress_arg = o->progress_arg;
	s->retain_progress_ns = 0;
	/* every op that returned before now is in the index first */
	ret = cdp_writer_flush(s);
	if (ret < 0 && ret != -CDP_ENOSPACE)
		goto out;
	r->now_ns = o->now_ns ? o->now_ns : cdp_now_ns();
	plan_make(&p, rules, o->nrules, r->now_ns);
	/* states before the first mountable one (a baseline walk under way)
	 * are never kept: an instant resolves to complete states only */
	ret = cdp_store_host_first_ts(s, id, &first);
	if (ret == 0 && first)
		ret = state_at(s, id, first, &min_seq);
	if (ret == 0)
		ret = gather_protected(s, host, id, &prot);
	if (ret == 0)
		ret = compute_kept(s, id, &p, &prot, min_seq, &k, r);
	if (ret < 0 || !r->states_kept)
		goto out;
	if (!o->dry_run)
		ret = drop_states(s, id, o, rules, o->nrules, &k, r);
	if (ret == 0 && !o->dry_run)
		ret = cdp_views_for_each(s, id, insert_view, &k);
	for (i = 0; ret == 0 && i < sizeof(cfs) / sizeof(cfs[0]); i++)
		ret = drop_versions(s, id, cfs[i], &k, o->dry_run, r);
	cdp_retain_tick(s, NULL, 0, 0, 1);
	if (ret == 0 && !o->dry_run)
		cdp_log(LOG_NOTICE, "store '%s': host '%s' pruned%s: %llu of %llu states kept, "
			"%llu versions removed; oldest kept state seq %llu",
			s->path, host, o->reason == CDP_PRUNE_LOW_SPACE ? " (low space)" :
			o->reason == CDP_PRUNE_SCHEDULE ? " (policy)" : "",
			(unsigned long long)r->states_kept, (unsigned long long)r->states_before,
			(unsigned long long)r->versions_removed,
			(unsigned long long)r->oldest_kept_seq);
out:
	s->retain_progress = NULL;
	pthread_mutex_unlock(&s->retain_lock);
	free(prot.v);
	free(k.r);
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------ stats */

static int host_stats(struct cdp_store *s, uint32_t id, struct cdp_host_stats *h, int64_t now)
{
	rocksdb_iterator_t *it;
	uint64_t cut24 = 0, cut7 = 0, seq;
	uint8_t pfx[4];
	const char *key, *val;
	size_t klen, vlen;
	uint32_t raw;
	int ret;

	ret = state_at(s, id, now - 86400LL * 1000000000LL, &cut24);
	if (ret == 0)
		ret = state_at(s, id, now - 7 * 86400LL * 1000000000LL, &cut7);
	if (ret < 0)
		return ret;
	put_u32be(pfx, id);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	for (rocksdb_iter_seek(it, (const char *)pfx, 4); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < 12 || memcmp(key, pfx, 4) != 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		ret = cdp_block_value_decode(val, vlen, NULL, &raw);
		if (ret == BLOCK_VALUE_ZERO) {
			h->zero_versions++;
			continue;
		}
		if (ret < 0)
			continue;
		seq = key_seq_of(key, klen);
		h->data_versions++;
		h->logical_bytes += raw;
		if (seq > cut24)
			h->logical_24h_bytes += raw;
		if (seq > cut7)
			h->logical_7d_bytes += raw;
	}
	ret = cdp_rocks_iter_status(it, "column family 'block' of '%s', host %u: stats",
				    s->path, id);
	rocksdb_iter_destroy(it);
	return ret;
}

static int chunk_stats(struct cdp_store *s, struct cdp_store_stats *st)
{
	struct cdp_chunk_loc loc;
	rocksdb_iterator_t *it;
	const char *val;
	size_t vlen;
	int ret;

	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_CHUNK]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		val = rocksdb_iter_value(it, &vlen);
		if (cdp_chunkval_decode(val, vlen, &loc) < 0)
			continue;
		st->chunks++;
		st->chunk_raw_bytes += loc.raw_len;
		st->chunk_stored_bytes += REC_HEADER_BYTES + loc.stored_len;
	}
	ret = cdp_rocks_iter_status(it, "column family 'chunk' of '%s': stats", s->path);
	rocksdb_iter_destroy(it);
	return ret;
}

static void disk_stats(struct cdp_store *s, struct cdp_store_stats *st)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct statvfs sv;
	struct dirent *de;
	struct stat sb;
	size_t len;
	DIR *d;

	if (statvfs(s->path, &sv) == 0) {
		st->disk_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
		st->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
	snprintf(dir, sizeof(dir), "%s/segments", s->path);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 4, ".seg") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0) {
			st->segments++;
			st->segment_bytes += (uint64_t)sb.st_size;
		}
	}
	closedir(d);
}

void cdp_store_stats_release(struct cdp_store_stats *st)
{
	size_t i;

	for (i = 0; st->hosts && i < st->nhosts; i++)
		free(st->hosts[i].name);
	free(st->hosts);
	memset(st, 0, sizeof(*st));
}

int cdp_store_stats(struct cdp_store *s, const char *host, struct cdp_store_stats *st)
{
	struct cdp_host_info *hosts;
	int64_t now = cdp_now_ns();
	size_t n, i;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0)
		return ret;
	st->hosts = calloc(n ? n : 1, sizeof(*st->hosts));
	if (!st->hosts)
		ret = -ENOMEM;
	for (i = 0; ret == 0 && i < n; i++) {
		struct cdp_host_stats *h = &st->hosts[st->nhosts];

		if (host && strcmp(hosts[i].name, host))
			continue;
		h->name = strdup(hosts[i].name);
		if (!h->name) {
			ret = -ENOMEM;
			break;
		}
		st->nhosts++;
		h->first_ts_ns = hosts[i].first_ts_ns;
		h->latest_ts_ns = hosts[i].latest_ts_ns;
		ret = host_stats(s, hosts[i].host_id, h, now);
	}
	cdp_host_info_free(hosts, n);
	if (ret == 0 && host && !st->nhosts)
		ret = -CDP_ENOHOST;
	if (ret == 0)
		ret = chunk_stats(s, st);
	if (ret == 0)
		disk_stats(s, st);
	if (ret < 0)
		cdp_store_stats_release(st);
	return ret;
}
