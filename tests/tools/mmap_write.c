/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mmap_write - writes a string into a file through a shared writable mapping
 * (no write(2) at all), then msync()s and unmaps, so the integration tests
 * can check that mmap writes through the capture mount reach both the real
 * file and the journal.
 *
 * Usage: mmap_write FILE OFFSET STRING
 * The file must already be at least OFFSET + strlen(STRING) bytes long.
 * Exit status 0, or 1 with "mmap_write: what: reason" on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long offset;
	size_t len, map_off, map_len;
	struct stat st;
	char *map;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: mmap_write FILE OFFSET STRING\n");
		return 2;
	}
	offset = strtoull(argv[2], NULL, 0);
	len = strlen(argv[3]);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "mmap_write: open '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	if ((unsigned long long)st.st_size < offset + len) {
		fprintf(stderr, "mmap_write: '%s' is shorter than %llu bytes\n", argv[1],
			offset + len);
		return 1;
	}
	map_off = (size_t)(offset % (unsigned long long)page);
	map_len = map_off + len;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)(offset - map_off));
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap_write: mmap '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	memcpy(map + map_off, argv[3], len);
	if (msync(map, map_len, MS_SYNC) != 0) {
		fprintf(stderr, "mmap_write: msync '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	munmap(map, map_len);
	if (close(fd) != 0) {
		fprintf(stderr, "mmap_write: close '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	return 0;
}
