/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query_cli.h - helpers of the verbs that question the index (cli/query.c):
 * diff, log and restore.
 */
#ifndef CDP_QUERY_CLI_H
#define CDP_QUERY_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cdp_store;
struct cdp_view;
struct cli_cmd;

/* cdp_view_open() of host at ts_ns; on failure one line in err (no such
 * host and the hosts there are, before the history and where it starts,
 * in the future, or the store's reason) and the error. */
int cli_query_view(struct cdp_store *s, const char *store, const char *host,
		   const char *time_text, int64_t ts_ns, struct cdp_view **v, char *err,
		   size_t errlen);

/* HOST:PATH (need_time 0) or HOST:PATH@TIME (1); heap fields, released by
 * cli_query_spec_release().  A malformed operand is a usage error (exit 2). */
struct cli_query_spec {
	char *host, *path, *time_text;   /* time_text NULL without one */
};
int cli_query_operand(const struct cli_cmd *cmd, const char *arg, int need_time,
		      struct cli_query_spec *q);
void cli_query_spec_release(struct cli_query_spec *q);

struct cdp_change;
/* A change as `cdpfs diff` prints it, without the newline; from and to
 * (both or neither) put to in place of the prefix from of its paths. */
void cli_print_change(const struct cdp_change *c, const char *from, const char *to);
/* A change as one element of diff's "changes" array (first: no comma;
 * close 0 leaves the object open for more keys). */
void cli_print_change_json(const struct cdp_change *c, int first, int close);

/* p with control bytes and '\\' written \xNN: one path, one line. */
void cli_print_path(FILE *out, const char *p);
/* d f l p s c b for S_IFMT bits, '?' otherwise. */
char cli_type_letter(uint32_t type);

#endif /* CDP_QUERY_CLI_H */
