/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index_del - deletes index entries of a stopped store, as damage that
 * `cdpfs verify` must find: every Nth key (N >= 1) of one column family,
 * by name ("chunk", "block", "inode", ...), taking the writer lock.
 *
 * Usage: index_del STORE CF N
 * Prints the number of keys deleted.  Exit status 0, or 1 with
 * "index_del: what: reason" on stderr.
 *
 * It damages the RocksDB index behind the store's back (and not its log:
 * a rebuild-index would bring the entries back), so it needs the store's
 * handles: the one test tool that includes store_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

int main(int argc, char **argv)
{
	struct cdp_store *s;
	rocksdb_iterator_t *it;
	rocksdb_writebatch_t *wb;
	const char *key;
	unsigned long every, i = 0, n = 0;
	size_t klen;
	char *err = NULL;
	int cf, ret;

	if (argc != 4 || !(every = strtoul(argv[3], NULL, 10))) {
		fprintf(stderr, "usage: index_del STORE CF N\n");
		return 1;
	}
	for (cf = 0; cf < CF_COUNT && strcmp(cdp_cf_names[cf], argv[2]) != 0; cf++)
		;
	if (cf == CF_COUNT) {
		fprintf(stderr, "index_del: no column family '%s'\n", argv[2]);
		return 1;
	}
	ret = cdp_store_open(argv[1], CDP_STORE_WRITE, NULL, &s);
	if (ret < 0) {
		fprintf(stderr, "index_del: %s: %s\n", argv[1], cdp_strerror(ret));
		return 1;
	}
	wb = rocksdb_writebatch_create();
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[cf]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		if (++i % every)
			continue;
		key = rocksdb_iter_key(it, &klen);
		rocksdb_writebatch_delete_cf(wb, s->cf[cf], key, klen);
		n++;
	}
	rocksdb_iter_destroy(it);
	rocksdb_write(s->db, s->wopts_sync, wb, &err);
	rocksdb_writebatch_destroy(wb);
	cdp_store_close(s);
	if (err) {
		fprintf(stderr, "index_del: %s: %s\n", argv[1], err);
		return 1;
	}
	printf("%lu\n", n);
	return 0;
}
