/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state.c - STORE/ship.state, the shipper's word on its link, read by
 * `cdpfs hosts` and `cdpfs status` on the protected host.
 *
 * Text, first line "cdpfs ship state 1", then one key=value a line:
 * server, host, pid, state (connecting, connected, retrying, refused,
 * stopped), since_ns, reason (one line), acked_lsn, shipped_through_ns,
 * acked_ns, bytes_sent, chunks_sent, chunks_offered, groups_sent,
 * updated_ns.  Written to ship.state.tmp and renamed (not fsync'ed: it is
 * a report, rebuilt by the next shipper, not history).  Unknown keys are
 * skipped, so later versions may add some.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ship/ship.h"

#define STATE_LINE "cdpfs ship state 1"

static const char *const state_names[] = {
	[CDP_LINK_CONNECTING] = "connecting", [CDP_LINK_CONNECTED] = "connected",
	[CDP_LINK_RETRYING] = "retrying", [CDP_LINK_REFUSED] = "refused",
	[CDP_LINK_STOPPED] = "stopped",
};

const char *cdp_link_state_name(int state)
{
	if (state < 0 || state > CDP_LINK_STOPPED)
		return "unknown";
	return state_names[state];
}

static void one_line(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < outlen; i++)
		out[i] = in[i] == '\n' || in[i] == '\r' ? ' ' : in[i];
	out[i] = '\0';
}

/* The numbers of the file, in its order after reason: the one list that
 * both the writer and the reader walk. */
static const struct {
	const char *key;
	size_t offset;
	int is_signed;          /* int64_t, else uint64_t */
} number_fields[] = {
	{ "acked_lsn", offsetof(struct cdp_ship_status, acked_lsn), 0 },
	{ "shipped_through_ns", offsetof(struct cdp_ship_status, shipped_through_ns), 1 },
	{ "acked_ns", offsetof(struct cdp_ship_status, acked_ns), 1 },
	{ "bytes_sent", offsetof(struct cdp_ship_status, bytes_sent), 0 },
	{ "chunks_sent", offsetof(struct cdp_ship_status, chunks_sent), 0 },
	{ "chunks_offered", offsetof(struct cdp_ship_status, chunks_offered), 0 },
	{ "groups_sent", offsetof(struct cdp_ship_status, groups_sent), 0 },
	{ "updated_ns", offsetof(struct cdp_ship_status, updated_ns), 1 },
};
#define N_NUMBER_FIELDS (sizeof(number_fields) / sizeof(number_fields[0]))

/* Closes f, written as tmp, and renames it to path: 0, -EIO when a write
 * or the close failed, or rename(2)'s -errno; tmp is gone then. */
static int replace_with(FILE *f, const char *tmp, const char *path)
{
	int ret = 0;

	if (fflush(f) != 0 || ferror(f))
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -EIO;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int cdp_ship_status_write(const char *store, const struct cdp_ship_status *st)
{
	char path[PATH_MAX], tmp[PATH_MAX], reason[sizeof(st->reason)];
	const char *base = (const char *)st;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/ship.state", store);
	snprintf(tmp, sizeof(tmp), "%s/ship.state.tmp", store);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	one_line(st->reason, reason, sizeof(reason));
	fprintf(f, "%s\nserver=%s\nhost=%s\npid=%u\nstate=%s\nsince_ns=%lld\nreason=%s\n",
		STATE_LINE, st->server, st->host, st->pid, cdp_link_state_name(st->state),
		(long long)st->since_ns, reason);
	for (i = 0; i < N_NUMBER_FIELDS; i++) {
		const void *v = base + number_fields[i].offset;

		if (number_fields[i].is_signed)
			fprintf(f, "%s=%lld\n", number_fields[i].key,
				(long long)*(const int64_t *)v);
		else
			fprintf(f, "%s=%llu\n", number_fields[i].key,
				(unsigned long long)*(const uint64_t *)v);
	}
	return replace_with(f, tmp, path);
}

/* Sets the number field key of st from v; any other key is skipped. */
static void number_field_set(struct cdp_ship_status *st, const char *key, const char *v)
{
	char *base = (char *)st;
	size_t i;

	for (i = 0; i < N_NUMBER_FIELDS; i++) {
		if (strcmp(key, number_fields[i].key) != 0)
			continue;
		if (number_fields[i].is_signed)
			*(int64_t *)(base + number_fields[i].offset) = strtoll(v, NULL, 10);
		else
			*(uint64_t *)(base + number_fields[i].offset) = strtoull(v, NULL, 10);
		return;
	}
}

int cdp_ship_status_read(const char *store, struct cdp_ship_status *st)
{
	char path[PATH_MAX], line[1024], *v, *nl;
	FILE *f;
	int i;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/ship.state", store);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strncmp(line, STATE_LINE, strlen(STATE_LINE)) != 0) {
		fclose(f);
		return -CDP_ECORRUPT;
	}
	while (fgets(line, sizeof(line), f)) {
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "server"))
			snprintf(st->server, sizeof(st->server), "%s", v);
		else if (!strcmp(line, "host"))
			snprintf(st->host, sizeof(st->host), "%s", v);
		else if (!strcmp(line, "pid"))
			st->pid = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(line, "state"))
			for (i = 0; i <= CDP_LINK_STOPPED; i++) {
				if (!strcmp(v, state_names[i]))
					st->state = i;
			}
		else if (!strcmp(line, "since_ns"))
			st->since_ns = strtoll(v, NULL, 10);
		else if (!strcmp(line, "reason"))
			snprintf(st->reason, sizeof(st->reason), "%s", v);
		else
			number_field_set(st, line, v);
	}
	fclose(f);
	return 0;
}

#define POS_LINE "cdpfs ship pos 1"

int cdp_ship_pos_write(const char *store, uint64_t lsn, uint32_t seg, uint64_t end)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ship.pos", store);
	snprintf(tmp, sizeof(tmp), "%s/ship.pos.tmp", store);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n%llu %u %llu\n", POS_LINE, (unsigned long long)lsn, seg,
		(unsigned long long)end);
	return replace_with(f, tmp, path);
}

int cdp_ship_pos_read(const char *store, uint64_t *lsn, uint32_t *seg, uint64_t *end)
{
	char path[PATH_MAX], line[128];
	unsigned long long l, e;
	unsigned sg;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/ship.pos", store);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(line, sizeof(line), f) && strncmp(line, POS_LINE, strlen(POS_LINE)) == 0 &&
	     fscanf(f, "%llu %u %llu", &l, &sg, &e) == 3 && sg > 0;
	fclose(f);
	if (!ok)
		return -CDP_ECORRUPT;
	*lsn = l;
	*seg = sg;
	*end = e;
	return 0;
}
