/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_capture.c - `cdpfs capture`: protect directories in place (through
 * cdp_capture_start()) or stop protecting them (--stop, cdp_capture_stop()).
 * The capture layer does the work and reports one line on failure; this
 * file only parses the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "cli/cli.h"

enum {
	OPT_HOST = 256,
	OPT_MEM_LIMIT,
	OPT_FOREGROUND,
	OPT_NO_JOURNAL,
	OPT_NO_PROGRESS,
	OPT_STOP,
	OPT_ATTACH_RUNNING,
	OPT_CONFIG,
	OPT_METRICS,
	OPT_ENSURE,
};

static const struct cli_option capture_options[] = {
	{ "host", required_argument, OPT_HOST, "--host HOST",
	  "host name recorded in the store (default: short hostname)" },
	{ "mem-limit", required_argument, OPT_MEM_LIMIT, "--mem-limit SIZE",
	  "capture daemon memory ceiling, e.g. 256M (default 256M)" },
	{ "foreground", no_argument, OPT_FOREGROUND, "--foreground",
	  "run the capture daemon in this process (systemd, tests)" },
	{ "no-journal", no_argument, OPT_NO_JOURNAL, "--no-journal",
	  "passthrough only, nothing journaled (benchmark floor)" },
	{ "no-progress", no_argument, OPT_NO_PROGRESS, "--no-progress",
	  "no baseline progress on the terminal" },
	{ "attach-running", no_argument, OPT_ATTACH_RUNNING, "--attach-running",
	  "capture although running processes use DIR (their changes are seen late)" },
	{ "config", required_argument, OPT_CONFIG, "--config FILE",
	  "configuration (alert command, thresholds; default /etc/cdpfs/cdpfs.conf)" },
	{ "metrics", required_argument, OPT_METRICS, "--metrics ADDR",
	  "serve /metrics (Prometheus text format) on ADDR (HOST:PORT)" },
	{ "ensure", no_argument, OPT_ENSURE, "--ensure",
	  "a DIR the store's daemon already captures is no error (systemd units)" },
	{ "stop", no_argument, OPT_STOP, "--stop", "flush, unmount and stop capturing DIR" },
	CLI_OPT_END
};

static int cmd_capture(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct cdp_capture_request req;
	int stop = 0, no_progress = 0, c, i, rc;
	const char *store, *arg;
	char err[1024];

	memset(&req, 0, sizeof(req));
	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_HOST:
			if (!*arg)
				cli_usage_error(self, "empty --host");
			req.host = arg;
			break;
		case OPT_MEM_LIMIT:
			if (cli_parse_size(arg, &req.mem_limit_bytes) < 0 ||
			    req.mem_limit_bytes == 0)
				cli_usage_error(self, "bad --mem-limit '%s' (e.g. 256M, 1G)", arg);
			break;
		case OPT_FOREGROUND:
			req.foreground = 1;
			break;
		case OPT_NO_JOURNAL:
			req.no_journal = 1;
			break;
		case OPT_NO_PROGRESS:
			no_progress = 1;
			break;
		case OPT_STOP:
			stop = 1;
			break;
		case OPT_ATTACH_RUNNING:
			req.attach_running = 1;
			break;
		case OPT_CONFIG:
			req.config = arg;
			break;
		case OPT_METRICS:
			req.metrics = arg;
			break;
		case OPT_ENSURE:
			req.ensure = 1;
			break;
		}
	}
	if (ctx->nargs == 0 && !(req.foreground && !stop))
		cli_usage_error(self, "no directory given");
	/* the store's daemon alone, for cdpfs-capture.service */
	req.serve = ctx->nargs == 0;
	store = cli_store_path(ctx);

	if (stop) {
		if (req.host || req.mem_limit_bytes || req.foreground || req.no_journal ||
		    req.attach_running || req.config || req.metrics || req.ensure)
			cli_usage_error(self, "--stop takes only --store and directories");
		/* without --store or CDPFS_STORE, each mount names its store */
		if (!ctx->store_opt && !getenv("CDPFS_STORE"))
			store = NULL;
		for (i = 0; i < ctx->nargs; i++) {
			err[0] = '\0';
			rc = cdp_capture_stop(store, ctx->args[i], err, sizeof(err));
			if (rc < 0)
				die_line(err);
			if (rc > 0)
				fprintf(stderr, "%s\n", err);
		}
		return 0;
	}

	req.store = store;
	req.dirs = ctx->args;
	req.ndirs = (size_t)ctx->nargs;
	req.progress = !no_progress && isatty(STDERR_FILENO);
	err[0] = '\0';
	if (cdp_capture_start(&req, err, sizeof(err)) != 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_capture = {
	.name = "capture",
	.fn = cmd_capture,
	.usage = "capture [--store DIR] [--host HOST] [--mem-limit SIZE] [--foreground]\n"
		 "              [--no-journal] [--no-progress] [--attach-running] [--config FILE]\n"
		 "              [--metrics ADDR:PORT] [--ensure] DIR...\n"
		 "       cdpfs capture [--store DIR] --foreground [--config FILE] [--metrics ADDR:PORT]\n"
		 "       cdpfs capture [--store DIR] --stop DIR...",
	.summary = "protect directories in place and journal every change",
	.options = capture_options,
	.flags = CLI_NEEDS_STORE,
};
