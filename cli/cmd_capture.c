/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_capture.c - `cdpfs capture`: protect directories in place (through
 * cdp_capture_start()) or stop protecting them (--stop, cdp_capture_stop()).
 * The capture layer does the work and reports one line on failure; this
 * file only parses the command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "cli/cli.h"

enum {
	OPT_STORE = 256,
	OPT_HOST,
	OPT_MEM_LIMIT,
	OPT_FOREGROUND,
	OPT_NO_JOURNAL,
	OPT_NO_PROGRESS,
	OPT_STOP,
	OPT_HELP,
};

static const struct option capture_options[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "mem-limit", required_argument, NULL, OPT_MEM_LIMIT },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "no-journal", no_argument, NULL, OPT_NO_JOURNAL },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "stop", no_argument, NULL, OPT_STOP },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 }
};

int cmd_capture(int argc, char **argv, const struct cli_cmd *self)
{
	struct cdp_capture_request req;
	const char *opt_store = NULL;
	int stop = 0, no_progress = 0, c, i;
	char err[1024], *store;

	memset(&req, 0, sizeof(req));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", capture_options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
			opt_store = optarg;
			break;
		case OPT_HOST:
			if (!*optarg)
				cli_usage_error(self, "empty --host");
			req.host = optarg;
			break;
		case OPT_MEM_LIMIT:
			if (cli_parse_size(optarg, &req.mem_limit_bytes) < 0 ||
			    req.mem_limit_bytes == 0)
				cli_usage_error(self, "bad --mem-limit '%s' (e.g. 256M, 1G)", optarg);
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
		case 'h':
		case OPT_HELP:
			cli_usage(self, stdout, 0);
		default:
			cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		cli_usage_error(self, "no directory given");
	store = cli_store_path(opt_store);

	if (stop) {
		if (req.host || req.mem_limit_bytes || req.foreground || req.no_journal)
			cli_usage_error(self, "--stop takes only --store and directories");
		for (i = optind; i < argc; i++) {
			err[0] = '\0';
			if (cdp_capture_stop(store, argv[i], err, sizeof(err)) != 0)
				die_line(err);
		}
		free(store);
		return 0;
	}

	req.store = store;
	req.dirs = argv + optind;
	req.ndirs = (size_t)(argc - optind);
	req.progress = !no_progress && isatty(STDERR_FILENO);
	err[0] = '\0';
	if (cdp_capture_start(&req, err, sizeof(err)) != 0)
		die_line(err);
	free(store);
	return 0;
}
