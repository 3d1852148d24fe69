/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - entry point of `cdpfs`: the table of verbs, dispatch, `help` and
 * `version`.  Each verb lives in cli/cmd_<group>.c; cli/cli.h says how to
 * add one.  Exit status: 0 success, 1 error, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "audit.h"
#include "store.h"

/* The verbs, in the order `cdpfs help` lists them; each is defined in its
 * file (cli/cli.h says how to add one). */
const struct cli_cmd *const cli_commands[] = {
	&cli_cmd_capture,
	&cli_cmd_mount,
	&cli_cmd_umount,
	&cli_cmd_hosts,
	&cli_cmd_status,
	&cli_cmd_diff,
	&cli_cmd_log,
	&cli_cmd_restore,
	&cli_cmd_timeline,
	&cli_cmd_suspects,
	&cli_cmd_overlay,
	&cli_cmd_drill,
	&cli_cmd_bisect,
	&cli_cmd_rebuild_index,
	&cli_cmd_verify,
	&cli_cmd_snapshot,
	&cli_cmd_pin,
	&cli_cmd_unpin,
	&cli_cmd_prune,
	&cli_cmd_gc,
	&cli_cmd_policy,
	&cli_cmd_stats,
	&cli_cmd_audit,
	&cli_cmd_serve,
	&cli_cmd_certs,
	&cli_cmd_version,
	&cli_cmd_help,
	NULL
};

const struct cli_cmd *cli_find(const char *name)
{
	const struct cli_cmd *const *c;

	for (c = cli_commands; *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

static void general_help(FILE *out)
{
	const struct cli_cmd *const *c;

	fprintf(out, "usage: cdpfs VERB [OPTIONS] [ARGS]\n\n"
		"cdpfs keeps every past second of protected directories mountable.\n\n"
		"verbs:\n");
	for (c = cli_commands; *c; c++)
		fprintf(out, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fprintf(out, "\nRun 'cdpfs help VERB' or 'cdpfs VERB --help' for details; "
		"see cdpfs(8).\n");
}

static int is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* help and version read their few words themselves: a verb's name is not
 * an option, and version takes none. */
static int cmd_help(struct cli_ctx *ctx)
{
	const struct cli_cmd *c;

	if (ctx->argc > 2)
		cli_usage_error(ctx->cmd, "too many arguments");
	if (ctx->argc < 2) {
		general_help(stdout);
		return 0;
	}
	if (is_help(ctx->argv[1]))
		cli_usage(ctx->cmd, stdout, 0);
	c = cli_find(ctx->argv[1]);
	if (!c) {
		fprintf(stderr, "cdpfs: unknown verb '%s' (see 'cdpfs help')\n", ctx->argv[1]);
		exit(2);
	}
	cli_usage(c, stdout, 0);
}

const struct cli_cmd cli_cmd_help = {
	.name = "help",
	.fn = cmd_help,
	.usage = "help [VERB]",
	.summary = "show help for cdpfs or one verb",
};

static int cmd_version(struct cli_ctx *ctx)
{
	if (ctx->argc == 2 && is_help(ctx->argv[1]))
		cli_usage(ctx->cmd, stdout, 0);
	if (ctx->argc > 1)
		cli_usage_error(ctx->cmd, "unexpected argument '%s'", ctx->argv[1]);
	printf("cdpfs %s (store format %d)\n", CDP_VERSION, CDP_FORMAT_VERSION);
	return 0;
}

const struct cli_cmd cli_cmd_version = {
	.name = "version",
	.fn = cmd_version,
	.usage = "version",
	.summary = "print the version",
};

/* git's run_builtin: the verb gets its command line readied as its flags
 * say (cli/options.c), and its status becomes the exit status. */
static int run_command(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct cli_ctx ctx;
	int ret;

	cli_ctx_init(&ctx, cmd, argc, argv);
	ret = cmd->fn(&ctx);
	cli_ctx_release(&ctx);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	/* before anything hashes: the audit record is written at exit */
	cdp_audit_init();
	if (argc < 2) {
		general_help(stderr);
		return 2;
	}
	if (is_help(argv[1])) {
		general_help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return run_command(&cli_cmd_version, 1, argv + 1);
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "cdpfs: unknown verb '%s' (see 'cdpfs help')\n", argv[1]);
		return 2;
	}
	return run_command(c, argc - 1, argv + 1);
}
