/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_index_record.c - reading the index records of the log (format 2:
 * store/indexlog.c, docs/format.md "The log").
 *
 * Three paths per input.  cdp_index_record_check() on the bytes as they
 * are must fail cleanly or describe a payload that fits.  The input as a
 * payload of entries must decode (checked, no batch) or be refused with
 * CDP_ECORRUPT, never read past its end.  Then it is wrapped as a record
 * with a valid checksum in a segment: a scan must meet it whole, with its
 * lsn and length, as the only record.
 */
#include <string.h>
#include <unistd.h>

#include "store_test.h"
#include "fuzz.h"

#define MAX_PAYLOAD (256u << 10)

static char dir[128];

struct seen {
	int n;
	struct cdp_logrec rec;
	const uint8_t *want;   /* the payload written */
	size_t want_len;
};

/* (the payload lives only during the call: compared here) */
static int seen_fn(void *arg, const struct cdp_logrec *r)
{
	struct seen *s = arg;

	s->n++;
	s->rec = *r;
	CHECK(r->len == s->want_len &&
	      (s->want_len == 0 || memcmp(r->payload, s->want, s->want_len) == 0));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_chunklog *cl;
	struct cdp_scan_end end;
	struct seen seen = { 0 };
	uint32_t len, count;
	uint64_t lsn;
	uint8_t *rec;
	char path[192];
	int ret;

	if (cdp_index_record_check(data, size, &lsn, &len, &count) == 0)
		CHECK((size_t)IREC_HEADER_BYTES + len <= size && lsn > 0);
	if (size < 4 || size > MAX_PAYLOAD)
		return 0;
	/* the first four bytes: the entry count; the rest: the entries */
	count = get_u32be(data) % 4096;
	ret = cdp_index_entries_check(data + 4, size - 4, count);
	CHECK(ret == 0 || ret == -CDP_ECORRUPT);

	rec = malloc(IREC_HEADER_BYTES + size - 4);
	CHECK(rec != NULL);
	cdp_index_record_header(rec, 7, data + 4, (uint32_t)(size - 4), count);
	memcpy(rec + IREC_HEADER_BYTES, data + 4, size - 4);
	CHECK(cdp_index_record_check(rec, IREC_HEADER_BYTES + size - 4, &lsn, &len,
				     &count) == 0);
	fuzz_setup(dir, sizeof(dir));
	fuzz_write_segment(dir, rec, IREC_HEADER_BYTES + size - 4, path, sizeof(path));
	CHECK(cdp_chunklog_open(dir, 0, &cl) == 0);
	seen.want = data + 4;
	seen.want_len = size - 4;
	CHECK(cdp_chunklog_scan(cl, 1, 0, seen_fn, &seen, &end) == 0);
	CHECK(end.why == NULL && seen.n == 1);
	CHECK(seen.rec.kind == CDP_LOGREC_INDEX && seen.rec.lsn == 7 &&
	      seen.rec.len == size - 4 && seen.rec.offset == SEG_HEADER_BYTES &&
	      seen.rec.end == SEG_HEADER_BYTES + IREC_HEADER_BYTES + size - 4);
	cdp_chunklog_close(cl);
	unlink(path);
	free(rec);
	return 0;
}
