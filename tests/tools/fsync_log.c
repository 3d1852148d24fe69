/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsync_log - an fsync-heavy writer whose acknowledged writes can be checked
 * after a crash, the way a database uses its files: record i overwrites
 * block i % 64 of DIR/data (8 KiB, every byte derived from i) and appends
 * the line "rec i\n" to DIR/wal, then fdatasync()s both; once both syncs
 * returned it prints "ack i" on stdout (flushed).  It runs until a write or
 * a sync fails (the capture daemon killed under it), then exits 0.
 *
 * Usage: fsync_log DIR
 *        fsync_log --check DIR LAST
 * --check reads DIR (a past mount of the same directory) and requires every
 * record up to LAST (the last acknowledged) to be there: the wal lines
 * 0..LAST in order (one more, the record in flight, is allowed), and each
 * data block holding the newest record up to LAST that wrote it, or the
 * record in flight.  Exit 0 when it holds; 1 with one line saying what was
 * expected and what came instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 8192
#define NBLOCKS 64

static void fill(unsigned char *buf, unsigned long rec)
{
	size_t i;

	for (i = 0; i < BLOCK; i++)
		buf[i] = (unsigned char)(rec * 131 + i / 16 * 7 + i % 16);
	snprintf((char *)buf, 32, "record %lu\n", rec);
}

static int run(const char *dir)
{
	unsigned char buf[BLOCK];
	char path[4096], line[64];
	unsigned long i;
	int data, wal, n;

	snprintf(path, sizeof(path), "%s/data", dir);
	data = open(path, O_RDWR | O_CREAT, 0644);
	snprintf(path, sizeof(path), "%s/wal", dir);
	wal = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (data < 0 || wal < 0) {
		fprintf(stderr, "fsync_log: open in '%s': %s\n", dir, strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0;; i++) {
		fill(buf, i);
		n = snprintf(line, sizeof(line), "rec %lu\n", i);
		if (pwrite(data, buf, BLOCK, (off_t)(i % NBLOCKS) * BLOCK) != BLOCK ||
		    write(wal, line, (size_t)n) != n || fdatasync(data) < 0 || fdatasync(wal) < 0)
			return 0;   /* the mount went away under us */
		printf("ack %lu\n", i);
	}
}

static int check(const char *dir, unsigned long last)
{
	unsigned char want[BLOCK], got[BLOCK], alt[BLOCK];
	char path[4096], line[64];
	unsigned long i, rec;
	ssize_t n;
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/wal", dir);
	fp = fopen(path, "r");
	if (!fp) {
		printf("fsync_log: expected '%s' to exist: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i <= last + 1; i++) {
		if (!fgets(line, sizeof(line), fp) || sscanf(line, "rec %lu", &rec) != 1) {
			if (i == last + 1)
				break;
			printf("fsync_log: wal: expected line 'rec %lu' (acknowledged), the file "
			       "ends there\n", i);
			fclose(fp);
			return 1;
		}
		if (rec != i) {
			printf("fsync_log: wal: expected 'rec %lu', got '%s'\n", i, line);
			fclose(fp);
			return 1;
		}
	}
	fclose(fp);
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("fsync_log: expected '%s' to exist: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i < NBLOCKS && i <= last; i++) {
		rec = last - (last - i) % NBLOCKS;   /* the newest record <= last of block i */
		fill(want, rec);
		fill(alt, last + 1);
		n = pread(fd, got, BLOCK, (off_t)i * BLOCK);
		if (n != BLOCK) {
			printf("fsync_log: data block %lu: expected %d bytes, got %zd\n", i, BLOCK, n);
			close(fd);
			return 1;
		}
		if (memcmp(got, want, BLOCK) != 0 &&
		    !((last + 1) % NBLOCKS == i && memcmp(got, alt, BLOCK) == 0)) {
			got[31] = 0;
			printf("fsync_log: data block %lu: expected record %lu (acknowledged), got "
			       "'%.20s'\n", i, rec, (char *)got);
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2)
		return run(argv[1]);
	if (argc == 4 && strcmp(argv[1], "--check") == 0)
		return check(argv[2], strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: fsync_log DIR | fsync_log --check DIR LAST\n");
	return 2;
}
