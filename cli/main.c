/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - entry point of `cdpfs`: the table of verbs, dispatch, `help` and
 * `version`.  Each verb lives in cli/cmd_<group>.c; cli/cli.h says how to
 * add one.  Exit status: 0 success, 1 error, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fs/fs.h"
#include "store.h"

#ifndef CDP_CHECKDIR
#define CDP_CHECKDIR "/usr/local/share/cdpfs/checks"
#endif

const struct cli_cmd cli_commands[] = {
	{ "capture", cmd_capture,
	  "capture [--store DIR] [--host HOST] [--mem-limit SIZE] [--foreground]\n"
	  "              [--no-journal] [--no-progress] DIR...\n"
	  "       cdpfs capture [--store DIR] --stop DIR...",
	  "protect directories in place and journal every change",
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  --host HOST        host name recorded in the store (default: short hostname)\n"
	  "  --mem-limit SIZE   capture daemon memory ceiling, e.g. 256M (default 256M)\n"
	  "  --foreground       run the capture daemon in this process (systemd, tests)\n"
	  "  --no-journal       passthrough only, nothing journaled (benchmark floor)\n"
	  "  --no-progress      no baseline progress on the terminal\n"
	  "  --stop             flush, unmount and stop capturing DIR\n",
	  CLI_NEEDS_STORE, NULL },
	{ "mount", cmd_mount,
	  "mount [--store DIR] [-o OPTS] [-f] [-d] [-v] SPEC MOUNTPOINT",
	  "mount a host as it was at an instant, read-only or as a writable overlay",
	  "  SPEC               HOST@TIME or HOST:/DIR@TIME (see cdpfs(8) for TIME)\n"
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  -o OPTS            mount options, see below; may be repeated\n"
	  "  -f, --foreground   serve in this process until unmounted\n"
	  "  -d, --debug        log every FUSE request on stderr (implies -f)\n"
	  "  -v, --verbose      say which instant was mounted\n",
	  CLI_NEEDS_STORE, cdp_fs_options_help },
	{ "umount", cmd_umount,
	  "umount [-z] MOUNTPOINT",
	  "unmount a time-travel mount and wait until it is gone",
	  "  -z, --lazy         detach now, finish when no longer busy\n",
	  0, NULL },
	{ "hosts", cmd_hosts,
	  "hosts [--store DIR] [--json]",
	  "list captured hosts and directories, from when to when, and gaps",
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  --json             machine-readable output with stable keys\n",
	  CLI_NEEDS_STORE | CLI_JSON, NULL },
	{ "overlay", cmd_overlay,
	  "overlay [--store DIR] [--json] list | rm NAME...",
	  "list or remove the writable overlays kept in a store",
	  "  list               name, host and directory, base instant, size, last use,\n"
	  "                     mounted or kept\n"
	  "  rm NAME...         remove kept overlays (not while mounted)\n"
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  --json             machine-readable output with stable keys\n",
	  CLI_NEEDS_STORE | CLI_JSON, NULL },
	{ "drill", cmd_drill,
	  "drill [--store DIR] HOST@TIME --check CMD [--check CMD ...] [--timeout DUR]\n"
	  "              [--keep] [--json]\n"
	  "       cdpfs drill [--store DIR] --list [--host HOST] [--json]\n"
	  "       cdpfs drill [--store DIR] --show ID [--json]",
	  "boot an instant on a private writable overlay, run checks, archive a report",
	  "  HOST@TIME          or HOST:/DIR@TIME (see cdpfs(8) for TIME)\n"
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  --check CMD        run CMD with /bin/sh -c, $CDPFS_ROOT the mounted tree,\n"
	  "                     $CDPFS_HOST, $CDPFS_TIME (the instant mounted); repeatable\n"
	  "  --timeout DUR      per check, e.g. 90s, 10m, 1h; 0 for none (default 10m)\n"
	  "  --keep             keep the overlay, named drill-ID, instead of discarding it\n"
	  "  --json             print the report as JSON (with --list, --show: JSON too)\n"
	  "  --list             the drills archived in the store, and the last verified\n"
	  "                     instant per host\n"
	  "  --host HOST        with --list: only this host\n"
	  "  --show ID          print a drill's report (Markdown, or JSON with --json)\n"
	  "Ready-made checks (each with --help): " CDP_CHECKDIR "/postgres, sqlite, files.\n"
	  "Exit status: 0 every check passed, 1 a check failed or the drill could not run.\n",
	  CLI_NEEDS_STORE | CLI_JSON, NULL },
	{ "bisect", cmd_bisect,
	  "bisect [--store DIR] HOST --good TIME --bad TIME --check CMD [--check CMD ...]\n"
	  "              [--timeout DUR] [--json]",
	  "find the last instant at which a check passes",
	  "  HOST               or HOST:/DIR\n"
	  "  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
	  "  --good TIME        an instant at which the checks pass\n"
	  "  --bad TIME         a later instant at which one fails\n"
	  "  --check CMD        as for cdpfs drill; repeatable, all must pass\n"
	  "  --timeout DUR      per check (default 10m)\n"
	  "  --json             print the result as JSON\n",
	  CLI_NEEDS_STORE | CLI_JSON, NULL },
	{ "version", cmd_version, "version", "print the version", "", 0, NULL },
	{ "help", cmd_help, "help [VERB]", "show help for cdpfs or one verb", "", 0, NULL },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL }
};

const struct cli_cmd *cli_find(const char *name)
{
	const struct cli_cmd *c;

	for (c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void cli_usage(const struct cli_cmd *cmd, FILE *out, int status)
{
	fprintf(out, "usage: cdpfs %s\n\n%s.\n", cmd->usage, cmd->summary);
	if (cmd->help && *cmd->help)
		fprintf(out, "\n%s", cmd->help);
	if (cmd->more_help) {
		fputc('\n', out);
		cmd->more_help(out);
	}
	exit(status);
}

static void general_help(FILE *out)
{
	const struct cli_cmd *c;

	fprintf(out, "usage: cdpfs VERB [OPTIONS] [ARGS]\n\n"
		"cdpfs keeps every past second of protected directories mountable.\n\n"
		"verbs:\n");
	for (c = cli_commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'cdpfs help VERB' or 'cdpfs VERB --help' for details; "
		"see cdpfs(8).\n");
}

int cmd_help(int argc, char **argv, const struct cli_cmd *self)
{
	const struct cli_cmd *c;

	if (argc > 2)
		cli_usage_error(self, "too many arguments");
	if (argc < 2) {
		general_help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		cli_usage(self, stdout, 0);
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "cdpfs: unknown verb '%s' (see 'cdpfs help')\n", argv[1]);
		exit(2);
	}
	cli_usage(c, stdout, 0);
}

int cmd_version(int argc, char **argv, const struct cli_cmd *self)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		cli_usage(self, stdout, 0);
	if (argc > 1)
		cli_usage_error(self, "unexpected argument '%s'", argv[1]);
	printf("cdpfs %s (store format %d)\n", CDP_VERSION, CDP_FORMAT_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		general_help(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		general_help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1, cli_find("version"));
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "cdpfs: unknown verb '%s' (see 'cdpfs help')\n", argv[1]);
		return 2;
	}
	return c->fn(argc - 1, argv + 1, c) ? 1 : 0;
}
