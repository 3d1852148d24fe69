/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query.c - what the verbs that question the index (diff, log, restore:
 * cli/cmd_diff.c, cli/cmd_log.c, cli/cmd_restore.c) share: a view opened
 * with one line naming what is wrong (no such host, with the hosts there
 * are; an instant before its history, with where it starts; in the
 * future), the HOST:PATH[@TIME] operand, a path made absolute under a
 * directory, and a path written for a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/query_cli.h"
#include "store.h"

int cli_query_view(struct cdp_store *s, const char *store, const char *host,
		   const char *time_text, int64_t ts_ns, struct cdp_view **v, char *err,
		   size_t errlen)
{
	struct cdp_host_info *hosts = NULL;
	size_t n = 0, i, used = 0;
	char list[512] = "", first[64] = "";
	int ret;

	ret = cdp_view_open(s, host, ts_ns, v);
	if (ret == 0)
		return 0;
	if (ret == -CDP_ENOHOST || ret == -CDP_EBEFORE) {
		if (cdp_store_hosts(s, &hosts, &n) == 0) {
			for (i = 0; i < n; i++) {
				if (strcmp(hosts[i].name, host) == 0 && hosts[i].first_ts_ns)
					cdp_time_format(hosts[i].first_ts_ns, first, sizeof(first));
				if (used + strlen(hosts[i].name) + 3 < sizeof(list))
					used += (size_t)snprintf(list + used, sizeof(list) - used,
								 "%s%s", used ? ", " : "",
								 hosts[i].name);
			}
			cdp_host_info_free(hosts, n);
		}
	}
	if (ret == -CDP_ENOHOST)
		cdp_errf(err, errlen, "no capture of host '%s' in store '%s' (hosts: %s)", host,
			 store, used ? list : "none");
	else if (ret == -CDP_EBEFORE && first[0])
		cdp_errf(err, errlen, "time '%s' is before the history of host '%s', which "
			 "starts at %s", time_text, host, first);
	else if (ret == -CDP_EBEFORE)
		cdp_errf(err, errlen, "host '%s' has no complete baseline yet in store '%s'",
			 host, store);
	else if (ret == -CDP_EFUTURE)
		cdp_errf(err, errlen, "time '%s' is in the future", time_text);
	else
		cdp_errf(err, errlen, "cannot open host '%s' at '%s' in store '%s': %s%s%s", host,
			 time_text, store, cdp_strerror(ret),
			 *cdp_store_last_error() ? ": unreadable index: " : "",
			 cdp_store_last_error());
	return ret;
}

int cli_query_operand(const struct cli_cmd *cmd, const char *arg, int need_time,
		      struct cli_query_spec *q)
{
	const char *colon, *at;
	size_t hlen, i;

	memset(q, 0, sizeof(*q));
	colon = strchr(arg, ':');
	if (!colon)
		cli_usage_error(cmd, "'%s': expected HOST:PATH%s", arg, need_time ? "@TIME" : "");
	hlen = (size_t)(colon - arg);
	for (i = 0; i < hlen; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_",
			    arg[i]))
			break;
	if (hlen == 0 || i < hlen || hlen > 255)
		cli_usage_error(cmd, "'%s': '%.*s' is not a host name", arg, (int)hlen, arg);
	if (colon[1] != '/')
		cli_usage_error(cmd, "'%s': the path after ':' must be absolute (HOST:/PATH)", arg);
	/* the path may hold '@': TIME follows the last one (an "@@EPOCH" keeps
	 * its own '@') */
	at = need_time ? strrchr(colon + 1, '@') : NULL;
	if (need_time && !at)
		cli_usage_error(cmd, "'%s': no time (expected HOST:PATH@TIME, e.g. "
				"db01:/data/f@-10m)", arg);
	if (at && at - 1 > colon + 1 && at[-1] == '@')
		at--;
	if (at && !at[1])
		cli_usage_error(cmd, "'%s': empty time after '@'", arg);
	q->host = cli_strfmt("%.*s", (int)hlen, arg);
	q->path = at ? cli_strfmt("%.*s", (int)(at - colon - 1), colon + 1) :
		       cli_strfmt("%s", colon + 1);
	while (strlen(q->path) > 1 && q->path[strlen(q->path) - 1] == '/')
		q->path[strlen(q->path) - 1] = 0;
	q->time_text = at ? cli_strfmt("%s", at + 1) : NULL;
	return 0;
}

void cli_query_spec_release(struct cli_query_spec *q)
{
	free(q->host);
	free(q->path);
	free(q->time_text);
	memset(q, 0, sizeof(*q));
}

void cli_print_path(FILE *out, const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

char cli_type_letter(uint32_t type)
{
	switch (type) {
	case 0040000: return 'd';
	case 0100000: return 'f';
	case 0120000: return 'l';
	case 0010000: return 'p';
	case 0140000: return 's';
	case 0020000: return 'c';
	case 0060000: return 'b';
	default: return '?';
	}
}
