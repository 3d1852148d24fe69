/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_serve.c - `cdpfs serve`: the DR store server (ship/server.c does
 * the work) and `cdpfs certs init|issue` (ship/certs.c), the test CA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cli/cli.h"
#include "ship/ship.h"

enum { OPT_LISTEN = 256, OPT_CERT, OPT_KEY, OPT_CA, OPT_MAX_CONNS, OPT_DAYS, OPT_EXPIRED };

static const struct cli_option serve_options[] = {
	{ "listen", required_argument, OPT_LISTEN, "--listen ADDR:PORT",
	  "address to accept hosts on (e.g. 0.0.0.0:7780, [::]:7780)" },
	{ "cert", required_argument, OPT_CERT, "--cert FILE", "this server's certificate (PEM)" },
	{ "key", required_argument, OPT_KEY, "--key FILE", "its private key (PEM)" },
	{ "ca", required_argument, OPT_CA, "--ca FILE",
	  "CA certificate that signs the hosts' certificates" },
	{ "max-conns", required_argument, OPT_MAX_CONNS, "--max-conns N",
	  "connections at a time (default 256)" },
	CLI_OPT_END
};

static int cmd_serve(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct cdp_serve_options o;
	const char *arg;
	char err[1024];
	int c;

	memset(&o, 0, sizeof(o));
	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			o.listen = arg;
			break;
		case OPT_CERT:
			o.cert = arg;
			break;
		case OPT_KEY:
			o.key = arg;
			break;
		case OPT_CA:
			o.ca = arg;
			break;
		case OPT_MAX_CONNS:
			o.max_conns = atoi(arg);
			if (o.max_conns <= 0)
				cli_usage_error(self, "bad --max-conns '%s'", arg);
			break;
		}
	}
	if (ctx->nargs)
		cli_usage_error(self, "unexpected argument '%s'", ctx->args[0]);
	if (!o.listen || !o.cert || !o.key || !o.ca)
		cli_usage_error(self, "serve needs --listen, --cert, --key and --ca");
	o.store = cli_store_path(ctx);
	cdp_log_init("cdpfs", 0, LOG_INFO);
	cdp_log_timestamps(1);
	err[0] = '\0';
	if (cdp_serve(&o, err, sizeof(err)) != 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_serve = {
	.name = "serve",
	.fn = cmd_serve,
	.usage = "serve [--store DIR] --listen ADDR:PORT --cert FILE --key FILE --ca FILE",
	.summary = "run the DR store server that hosts ship their journal to",
	.options = serve_options,
	.flags = CLI_NEEDS_STORE,
};

static const struct cli_option certs_options[] = {
	{ "days", required_argument, OPT_DAYS, "--days N", "validity in days (default 825)" },
	{ "expired", no_argument, OPT_EXPIRED, "--expired",
	  "issue: a certificate that expired yesterday (tests)" },
	CLI_OPT_END
};

static int cmd_certs(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	int days = 825, expired = 0, c, ret;
	const char *arg;
	char err[1024];

	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_DAYS:
			days = atoi(arg);
			if (days <= 0 || days > 36500)
				cli_usage_error(self, "bad --days '%s'", arg);
			break;
		case OPT_EXPIRED:
			expired = 1;
			break;
		}
	}
	if (ctx->nargs < 2)
		cli_usage_error(self, "certs needs init DIR or issue DIR NAME");
	err[0] = '\0';
	if (strcmp(ctx->args[0], "init") == 0) {
		if (ctx->nargs != 2 || expired)
			cli_usage_error(self, "certs init takes DIR only");
		ret = cdp_certs_init(ctx->args[1], days, err, sizeof(err));
		if (ret < 0)
			die_line(err);
		printf("CA in %s/ca.crt (key %s/ca.key)\n", ctx->args[1], ctx->args[1]);
	} else if (strcmp(ctx->args[0], "issue") == 0) {
		if (ctx->nargs < 3)
			cli_usage_error(self, "certs issue needs DIR NAME");
		ret = cdp_certs_issue(ctx->args[1], ctx->args[2], ctx->args + 3,
				      (size_t)ctx->nargs - 3, days, expired, err, sizeof(err));
		if (ret < 0)
			die_line(err);
		printf("%s/%s.crt (key %s/%s.key)\n", ctx->args[1], ctx->args[2], ctx->args[1],
		       ctx->args[2]);
	} else {
		cli_usage_error(self, "unknown certs action '%s' (init or issue)", ctx->args[0]);
	}
	return 0;
}

const struct cli_cmd cli_cmd_certs = {
	.name = "certs",
	.fn = cmd_certs,
	.usage = "certs [--days N] init DIR\n"
		 "       cdpfs certs [--days N] [--expired] issue DIR NAME [ALTNAME...]",
	.summary = "make a test CA and certificates for serve and capture --ship",
	.options = certs_options,
};
