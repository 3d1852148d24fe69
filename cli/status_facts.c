/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status_facts.c - what `cdpfs status` reads besides the capture state:
 * the write rate (the activity summary), the last verify and the last
 * passing drill (files of the store directory).
 *
 * STORE/verify/last (docs/format.md, "The last verify"), text:
 *   line 1  "cdpfs verify last 1"
 *   line 2  FINISHED_NS TAB DATA (0|1) TAB PROBLEMS TAB HOST ("-" the whole
 *           store), then a newline
 * written by `cdpfs verify` to last.tmp, fsync'ed, renamed over last: a
 * reader sees the previous record or the new one, whole.  A first line
 * other than the one above, or a second line without four fields, is not
 * read (-EINVAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "cli/status.h"
#include "query.h"
#include "store.h"

#define VERIFY_LAST_HEADER "cdpfs verify last 1"
#define RATE_WINDOW_S 60

struct rate_sum {
	uint64_t ops, bytes;
};

static int rate_add(void *arg, const struct cdp_activity *a)
{
	struct rate_sum *sum = arg;

	sum->ops += a->c[CDP_ACT_OPS];
	sum->bytes += a->c[CDP_ACT_BYTES];
	return 0;
}

int status_write_rate(struct cdp_store *s, const char *host, int64_t until_ns,
		      double *bytes_per_s, double *ops_per_s)
{
	struct rate_sum sum = { 0, 0 };
	int rc;

	*bytes_per_s = *ops_per_s = 0;
	rc = cdp_activity_read(s, host, 0, until_ns - RATE_WINDOW_S * 1000000000LL, until_ns, 1,
			       rate_add, &sum);
	if (rc < 0)
		return rc;
	*bytes_per_s = (double)sum.bytes / RATE_WINDOW_S;
	*ops_per_s = (double)sum.ops / RATE_WINDOW_S;
	return 0;
}

int status_verify_record(const char *store, const char *host, int data, uint64_t problems)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16], path[PATH_MAX + 16], line[512];
	int fd, n, rc = 0;

	snprintf(dir, sizeof(dir), "%s/verify", store);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s/last.tmp", dir);
	snprintf(path, sizeof(path), "%s/last", dir);
	n = snprintf(line, sizeof(line), VERIFY_LAST_HEADER "\n%lld\t%d\t%llu\t%s\n",
		     (long long)cdp_now_ns(), data ? 1 : 0, (unsigned long long)problems,
		     host && *host ? host : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int status_verify_last(const char *store, struct status_verify *v)
{
	char path[PATH_MAX + 16], line[512], host[256];
	long long ts;
	unsigned long long problems;
	int data, rc = 0;
	FILE *f;

	memset(v, 0, sizeof(*v));
	snprintf(path, sizeof(path), "%s/verify/last", store);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, VERIFY_LAST_HEADER "\n") != 0 ||
	    !fgets(line, sizeof(line), f) ||
	    sscanf(line, "%lld\t%d\t%llu\t%255[^\t\n]", &ts, &data, &problems, host) != 4 ||
	    ts <= 0) {
		rc = -EINVAL;
	} else {
		v->finished_ns = ts;
		v->data = data != 0;
		v->problems = problems;
		snprintf(v->host, sizeof(v->host), "%s", strcmp(host, "-") == 0 ? "" : host);
	}
	fclose(f);
	return rc;
}

int status_drill_last_pass(const char *store, const char *host, int64_t *started_ns,
			   char *id, size_t idlen)
{
	char path[PATH_MAX + 16], line[2048];
	struct drill_index_row row;
	int found = 0;
	FILE *f;

	*started_ns = 0;
	snprintf(path, sizeof(path), "%s/drills/index", store);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, DRILL_INDEX_HEADER "\n") != 0) {
		fclose(f);
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		if (drill_index_parse_line(line, &row) < 0 || strcmp(row.host, host) != 0 ||
		    strcmp(row.result, "pass") != 0 || row.started_ns < *started_ns)
			continue;
		*started_ns = row.started_ns;
		snprintf(id, idlen, "%s", row.id);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}
