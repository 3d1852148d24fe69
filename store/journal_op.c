/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_op.c - operations as capture builds them (cdp_op_*): each add function
 * copies what it is given into the op's records (cdp_op_data only copies
 * the block: hashing and compression are the writer's, off the
 * application's path), and cdp_op_commit gives the op its seq and instant
 * under the queue lock (ts = max(now, last ts), so ts never decreases with
 * seq), appends it to the queue and puts its inode-map entries in the
 * overlay that cdp_journal_imap_get consults until they are committed.
 * commit blocks while the queued bytes exceed the ceiling, and fails at
 * once with CDP_ENOSPACE while the journal is degraded (journal_writer.c).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "journal_int.h"

/* -------------------------------------------------------- operations */

void cdp_op_free(struct cdp_op *op)
{
	size_t i;

	if (!op)
		return;
	for (i = 0; i < op->n; i++) {
		free(op->recs[i].name);
		if (op->recs[i].pooled)
			cdp_writer_block_put(op->j->s->w, op->recs[i].data);
		else
			free(op->recs[i].data);
	}
	free(op->recs);
	free(op);
}

size_t cdp_op_records(const struct cdp_op *op)
{
	return op ? op->n : 0;
}

void cdp_op_abort(struct cdp_op *op)
{
	cdp_op_free(op);
}

int cdp_op_new(struct cdp_journal *j, struct cdp_op **op)
{
	*op = calloc(1, sizeof(**op));
	if (!*op)
		return -ENOMEM;
	(*op)->j = j;
	return 0;
}

void cdp_op_set_root(struct cdp_op *op, uint32_t root_id)
{
	op->root = root_id;
}

static struct op_rec *op_add(struct cdp_op *op, int type)
{
	struct op_rec *nr;
	size_t cap;

	if (op->n == op->cap) {
		cap = op->cap ? op->cap * 2 : 4;
		nr = realloc(op->recs, cap * sizeof(*nr));
		if (!nr)
			return NULL;
		op->recs = nr;
		op->cap = cap;
	}
	nr = &op->recs[op->n++];
	memset(nr, 0, sizeof(*nr));
	nr->type = type;
	op->bytes += sizeof(*nr);
	return nr;
}

static int name_ok(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strlen(name);
	return n > 0 && n <= CDP_NAME_MAX;
}

int cdp_op_attr(struct cdp_op *op, uint64_t fid, const struct cdp_attr *a,
		const char *symlink_target)
{
	size_t tlen = symlink_target ? strlen(symlink_target) : 0;
	struct op_rec *r;

	if (!fid || !a)
		return -EINVAL;
	r = op_add(op, R_ATTR);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->data = malloc(ATTR_VALUE_BYTES + tlen);
	if (!r->data) {
		op->n--;
		return -ENOMEM;
	}
	cdp_attr_encode(r->data, a);
	if (tlen)
		memcpy((char *)r->data + ATTR_VALUE_BYTES, symlink_target, tlen);
	r->len = ATTR_VALUE_BYTES + tlen;
	op->bytes += r->len;
	return 0;
}

int cdp_op_dirent(struct cdp_op *op, uint64_t parent, const char *name, uint64_t child,
		  uint32_t type)
{
	struct op_rec *r;

	if (!parent || !name_ok(name) || strchr(name, '/'))
		return -EINVAL;
	r = op_add(op, R_DIRENT);
	if (!r)
		return -ENOMEM;
	r->fid = parent;
	r->a = child;
	r->u = type;
	r->del = child == 0;
	r->name = strdup(name);
	if (!r->name) {
		op->n--;
		return -ENOMEM;
	}
	op->bytes += strlen(name);
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	/* each byte equals the next and the first is zero */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int cdp_op_data(struct cdp_op *op, uint64_t fid, uint64_t offset, const void *buf, size_t len)
{
	struct cdp_store *s = op->j->s;
	uint32_t bs = s->block_size;
	const uint8_t *src;
	size_t done = 0, n;
	uint8_t *block;
	struct op_rec *r;

	if (!fid || offset % bs)
		return -EINVAL;
	while (done < len) {
		n = len - done < bs ? len - done : bs;
		src = (const uint8_t *)buf + done;
		r = op_add(op, R_DATA);
		if (!r)
			return -ENOMEM;
		r->fid = fid;
		r->a = (offset + done) / bs;
		r->u = bs;
		if (all_zero(src, n)) {
			r->type = R_ZERODATA;
		} else {
			block = cdp_writer_block_get(s->w, bs);
			if (!block) {
				op->n--;
				return -ENOMEM;
			}
			memcpy(block, src, n);
			if (n < bs)
				memset(block + n, 0, bs - n);
			r->data = block;
			r->pooled = 1;
			r->len = bs;
			r->zstd = -1;   /* raw: the writer hashes and compresses */
			op->bytes += bs;
		}
		done += n;
	}
	return 0;
}

int cdp_op_zero(struct cdp_op *op, uint64_t fid, uint64_t first_block, uint64_t end_block)
{
	struct op_rec *r;

	if (!fid)
		return -EINVAL;
	if (end_block <= first_block)
		return 0;
	r = op_add(op, R_ZERORANGE);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->a = first_block;
	r->b = end_block;
	op->has_zero = 1;
	return 0;
}

int cdp_op_xattr(struct cdp_op *op, uint64_t fid, const char *name, const void *value,
		 size_t len)
{
	struct op_rec *r;

	if (!fid || !name_ok(name))
		return -EINVAL;
	r = op_add(op, R_XATTR);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->del = value == NULL;
	r->name = strdup(name);
	if (value) {
		r->data = malloc(len + 1);
		if (r->data)
			memcpy(r->data, value, len);
		r->len = len;
	}
	if (!r->name || (value && !r->data)) {
		free(r->name);
		free(r->data);
		op->n--;
		return -ENOMEM;
	}
	op->bytes += strlen(name) + len;
	return 0;
}

int cdp_op_imap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid,
		const void *handle, size_t handle_len)
{
	struct op_rec *r;

	if (handle_len > 4096)
		return -EINVAL;
	r = op_add(op, R_IMAP);
	if (!r)
		return -ENOMEM;
	r->u = root_id;
	r->a = ino;
	r->fid = fid;
	r->del = fid == 0;
	if (fid && handle_len) {
		r->data = malloc(handle_len);
		if (!r->data) {
			op->n--;
			return -ENOMEM;
		}
		memcpy(r->data, handle, handle_len);
		r->len = handle_len;
		op->bytes += handle_len;
	}
	return 0;
}

int cdp_op_unmap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid)
{
	struct op_rec *r;

	if (!fid)
		return -EINVAL;
	r = op_add(op, R_IMAP);
	if (!r)
		return -ENOMEM;
	r->u = root_id;
	r->a = ino;
	r->fid = fid;   /* the mapping it removes; cdp_journal_imap_set stores 0 */
	r->del = 1;
	return 0;
}

/*
 * Called with qlock held, which orders every imap change of this process:
 * the fid that (root, ino) maps to once every op queued so far is applied,
 * 0 when unmapped.  The overlay holds every queued change; what it lacks is
 * in the index.  A read error counts as "still mapped to fid", so that the
 * unmap goes ahead as it did before conditions existed.
 */
static uint64_t imap_current(struct cdp_writer *w, uint32_t host, uint32_t root,
			     uint64_t ino, uint64_t fid)
{
	struct imap_entry *e = *cdp_journal_imap_find(w, host, root, ino);
	struct cdp_key k;
	uint64_t cur = fid;
	char *val;
	size_t len;

	if (e)
		return e->fid;
	cdp_key_imap(&k, host, root, ino);
	if (cdp_store_get(w->s, CF_IMAP, &k, &val, &len) < 0)
		return fid;
	if (!val)
		return 0;
	cdp_imap_value_decode(val, len, &cur, NULL, NULL);   /* cur stays fid on a bad value */
	free(val);
	return cur;
}

int cdp_op_commit(struct cdp_op *op, uint64_t *seq, int64_t *ts_ns)
{
	struct cdp_store *s = op->j->s;
	struct cdp_writer *w = s->w;
	struct cdp_host_state *h = op->j->h;
	int64_t now;
	size_t i;

	pthread_mutex_lock(&w->qlock);
	while (w->queue_bytes > s->opts.queue_limit_bytes && !w->degraded && !w->stop)
		pthread_cond_wait(&w->space_cond, &w->qlock);
	if (w->degraded || w->stop) {
		int ret = w->stop ? -ESHUTDOWN : -CDP_ENOSPACE;

		pthread_mutex_unlock(&w->qlock);
		cdp_op_free(op);
		return ret;
	}
	now = cdp_now_ns();
	op->seq = ++h->last_seq;
	op->ts = now > h->last_ts ? now : h->last_ts;
	h->last_ts = op->ts;
	op->ticket = ++w->next_ticket;
	op->enq_mono_ns = mono_ns();
	for (i = 0; i < op->n; i++) {
		struct op_rec *r = &op->recs[i];

		if (r->type != R_IMAP)
			continue;
		/* A conditional unmap whose inode number now maps to another
		 * fid lost a race with the reuse of the number: a create that
		 * got the freed number committed first.  It must not remove
		 * the new file's mapping. */
		if (r->del && r->fid && imap_current(w, h->id, r->u, r->a, r->fid) != r->fid) {
			r->skip = 1;
			continue;
		}
		cdp_journal_imap_set(w, h->id, r, op->ticket);
	}
	op->next = NULL;
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	w->queue_bytes += op->bytes;
	if (w->queue_bytes > w->st.queue_peak_bytes)
		w->st.queue_peak_bytes = w->queue_bytes;
	w->st.ops++;
	/* the writer sleeps on an idle deadline while the queue is empty */
	if (w->head == op || w->queue_bytes >= s->opts.queue_limit_bytes / 8)
		pthread_cond_signal(&w->work_cond);
	/* once qlock is released the writer may commit and free op */
	if (seq)
		*seq = op->seq;
	if (ts_ns)
		*ts_ns = op->ts;
	pthread_mutex_unlock(&w->qlock);
	return 0;
}
