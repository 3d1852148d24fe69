/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_capture.c - `cdpfs capture`: protect directories in place (through
 * cdp_capture_start()) or stop protecting them (--stop, cdp_capture_stop()).
 * The capture layer does the work and reports one line on failure; this
 * file only parses the command line.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "cli/cli.h"
#include "ship/ship.h"

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
	OPT_SHIP,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_SHIP_RATE,
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
	{ "ship", required_argument, OPT_SHIP, "--ship HOST:PORT",
	  "stream the journal to the DR server (cdpfs serve) there, over TLS" },
	{ "cert", required_argument, OPT_CERT, "--cert FILE",
	  "--ship: this host's certificate (PEM; its CN or DNS name is --host)" },
	{ "key", required_argument, OPT_KEY, "--key FILE", "--ship: its private key (PEM)" },
	{ "ca", required_argument, OPT_CA, "--ca FILE",
	  "--ship: CA certificate that signs the server's certificate" },
	{ "ship-rate", required_argument, OPT_SHIP_RATE, "--ship-rate BYTES",
	  "--ship: at most BYTES per second on the link, e.g. 20M (default: no limit)" },
	CLI_OPT_END
};

static int cmd_capture(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct cdp_capture_request req;
	int stop = 0, no_progress = 0, c, i, rc;
	const char *store, *arg;
	char err[1024];
	char *abs_cert = NULL, *abs_key = NULL, *abs_ca = NULL;
	size_t rate;

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
		case OPT_SHIP:
			req.ship = arg;
			break;
		case OPT_CERT:
			req.ship_cert = arg;
			break;
		case OPT_KEY:
			req.ship_key = arg;
			break;
		case OPT_CA:
			req.ship_ca = arg;
			break;
		case OPT_SHIP_RATE:
			if (cli_parse_size(arg, &rate) < 0 || rate == 0)
				cli_usage_error(self, "bad --ship-rate '%s' (bytes per second, "
						"e.g. 20M)", arg);
			req.ship_rate_bytes = rate;
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
		char audit_store[PATH_MAX];

		if (req.host || req.mem_limit_bytes || req.foreground || req.no_journal ||
		    req.attach_running || req.config || req.metrics || req.ship || req.ensure)
			cli_usage_error(self, "--stop takes only --store and directories");
		/* without --store or CDPFS_STORE, each mount names its store */
		if (!ctx->store_opt && !getenv("CDPFS_STORE"))
			store = NULL;
		if (cdp_capture_store_of(store, ctx->args[0], audit_store, sizeof(audit_store)) == 0)
			cli_audit(audit_store, "capture-stop", "dirs=%s", cli_join_args(ctx, ","));
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

	if (!req.ship && (req.ship_cert || req.ship_key || req.ship_ca || req.ship_rate_bytes))
		cli_usage_error(self, "--cert, --key, --ca and --ship-rate go with --ship");
	if (req.ship) {
		struct cdp_shipper_options so = {
			.server = req.ship, .cert = req.ship_cert, .key = req.ship_key,
			.ca = req.ship_ca,
		};

		if (req.no_journal)
			cli_usage_error(self, "--ship needs the journal (not --no-journal)");
		err[0] = '\0';
		if (cdp_shipper_check(&so, err, sizeof(err)) < 0)
			die_line(err);
		/* the daemon runs in /: it needs the files by absolute path */
		abs_cert = realpath(req.ship_cert, NULL);
		abs_key = realpath(req.ship_key, NULL);
		abs_ca = realpath(req.ship_ca, NULL);
		if (!abs_cert || !abs_key || !abs_ca)
			die("cannot resolve the path of --cert, --key or --ca");
		req.ship_cert = abs_cert;
		req.ship_key = abs_key;
		req.ship_ca = abs_ca;
	}
	req.store = store;
	req.dirs = ctx->args;
	req.ndirs = (size_t)ctx->nargs;
	req.progress = !no_progress && isatty(STDERR_FILENO);
	cli_audit(store, "capture-start", "host=%s dirs=%s%s%s", req.host ? req.host : "-",
		  cli_join_args(ctx, ","), req.foreground ? " foreground=1" : "",
		  req.no_journal ? " no-journal=1" : "");
	err[0] = '\0';
	rc = cdp_capture_start(&req, err, sizeof(err));
	free(abs_cert);
	free(abs_key);
	free(abs_ca);
	if (rc != 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_capture = {
	.name = "capture",
	.fn = cmd_capture,
	.usage = "capture [--store DIR] [--host HOST] [--mem-limit SIZE] [--foreground]\n"
		 "              [--no-journal] [--no-progress] [--attach-running] [--config FILE]\n"
		 "              [--metrics ADDR:PORT] [--ensure] [--ship HOST:PORT --cert FILE\n"
		 "               --key FILE --ca FILE [--ship-rate BYTES]] DIR...\n"
		 "       cdpfs capture [--store DIR] --foreground [--config FILE] [--metrics ADDR:PORT]\n"
		 "       cdpfs capture [--store DIR] --stop DIR...",
	.summary = "protect directories in place and journal every change",
	.options = capture_options,
	.flags = CLI_NEEDS_STORE,
};
