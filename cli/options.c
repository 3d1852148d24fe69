/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.c - the dispatcher's half of a verb's command line: getopt_long's
 * table built from the verb's rows (struct cli_option) and its flags, the
 * options every verb shares (--help and -h; --store DIR and --json where
 * the flags say), one wording for a malformed option, and the help of a
 * verb printed from the same rows, so that an option and its help line
 * are written once, side by side, in the verb's file.
 *
 * getopt_long keeps its state in globals (optind, optarg): one command
 * line at a time; cli_ctx_init() rewinds it (optind = 0, glibc's full
 * restart), which the unit tests rely on.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store.h"

/* The one --store line of every verb's help. */
static const char store_label[] = "--store DIR";
static const char store_help[] = "store directory (default $CDPFS_STORE or "
				 CDP_DEFAULT_STORE ")";

static int row_end(const struct cli_option *o)
{
	return !o->name && !o->label && !o->help;
}

static int is_short(int id)
{
	return (id >= 'a' && id <= 'z') || (id >= 'A' && id <= 'Z') ||
	       (id >= '0' && id <= '9');
}

void cli_ctx_init(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv)
{
	const struct cli_option *o;
	size_t n = 0, k = 0, s = 0;

	memset(ctx, 0, sizeof(*ctx));
	ctx->cmd = cmd;
	ctx->argc = argc;
	ctx->argv = argv;
	for (o = cmd->options; o && !row_end(o); o++)
		n += o->name != NULL;
	ctx->longopts = calloc(n + 4, sizeof(*ctx->longopts));
	if (!ctx->longopts)
		die("out of memory");
	/* ':' first: a missing value is told apart from an unknown option */
	ctx->shortopts[s++] = ':';
	ctx->shortopts[s++] = 'h';
	for (o = cmd->options; o && !row_end(o); o++) {
		if (!o->name)
			continue;
		ctx->longopts[k++] = (struct option){ o->name, o->has_arg, NULL, o->id };
		if (is_short(o->id) && s + 3 < sizeof(ctx->shortopts)) {
			ctx->shortopts[s++] = (char)o->id;
			if (o->has_arg == required_argument)
				ctx->shortopts[s++] = ':';
		}
	}
	if (cmd->flags & CLI_NEEDS_STORE)
		ctx->longopts[k++] = (struct option){ "store", required_argument, NULL,
						      CLI_OPT_ID_STORE };
	if (cmd->flags & CLI_JSON)
		ctx->longopts[k++] = (struct option){ "json", no_argument, NULL, CLI_OPT_ID_JSON };
	ctx->longopts[k++] = (struct option){ "help", no_argument, NULL, CLI_OPT_ID_HELP };
	ctx->shortopts[s] = '\0';
	optind = 0;
	opterr = 0;
}

void cli_ctx_release(struct cli_ctx *ctx)
{
	free(ctx->longopts);
	free(ctx->store);
	ctx->longopts = NULL;
	ctx->store = NULL;
}

static int id_known(const struct cli_ctx *ctx, int id)
{
	const struct option *l;

	for (l = ctx->longopts; l->name; l++)
		if (l->val == id)
			return 1;
	return 0;
}

/* getopt_long left optind past the element at fault, except in the middle
 * of a cluster of short options ("-xy"): optopt names the letter then. */
static void bad_option(const struct cli_ctx *ctx, int c) __attribute__((noreturn));

static void bad_option(const struct cli_ctx *ctx, int c)
{
	const char *arg = optind >= 1 && optind <= ctx->argc ? ctx->argv[optind - 1] : "";

	if (c == ':') {
		if (strncmp(arg, "--", 2) == 0)
			cli_usage_error(ctx->cmd, "option '%s' needs a value", arg);
		cli_usage_error(ctx->cmd, "option '-%c' needs a value", optopt);
	}
	/* optopt 0: an unknown or ambiguous long option; a known id: a long
	 * option given a value it does not take ("--json=x") */
	if (optopt == 0 || id_known(ctx, optopt))
		cli_usage_error(ctx->cmd, "unknown option '%s'", arg);
	cli_usage_error(ctx->cmd, "unknown option '-%c'", optopt);
}

int cli_getopt(struct cli_ctx *ctx, const char **value)
{
	int c;

	for (;;) {
		c = getopt_long(ctx->argc, ctx->argv, ctx->shortopts, ctx->longopts, NULL);
		if (value)
			*value = optarg;
		switch (c) {
		case -1:
			ctx->args = ctx->argv + optind;
			ctx->nargs = ctx->argc - optind;
			return -1;
		case 'h':
		case CLI_OPT_ID_HELP:
			cli_usage(ctx->cmd, stdout, 0);
		case CLI_OPT_ID_STORE:
			ctx->store_opt = optarg;
			break;
		case CLI_OPT_ID_JSON:
			ctx->json = 1;
			break;
		case ':':
		case '?':
			bad_option(ctx, c);
		default:
			return c;
		}
	}
}

/* One line of help: "  LABEL              HELP", continuation lines below
 * HELP; a row without a label is printed as it is.  The first line of all
 * comes after a blank one. */
static void help_row(FILE *out, int *lines, const char *label, const char *help)
{
	const char *p;

	if ((*lines)++ == 0)
		fputc('\n', out);
	if (!label) {
		fprintf(out, "%s\n", help);
		return;
	}
	fprintf(out, "  %-18s ", label);
	for (p = help ? help : ""; *p; p++) {
		fputc(*p, out);
		if (*p == '\n')
			fprintf(out, "%21s", "");
	}
	fputc('\n', out);
}

void cli_usage(const struct cli_cmd *cmd, FILE *out, int status)
{
	const struct cli_option *o;
	int store = (cmd->flags & CLI_NEEDS_STORE) != 0, lines = 0;

	fprintf(out, "usage: cdpfs %s\n\n%s.\n", cmd->usage, cmd->summary);
	for (o = cmd->options; o && !row_end(o); o++) {
		int operand = !o->name && o->id == 0 && o->label;

		if (store && !operand) {
			help_row(out, &lines, store_label, store_help);
			store = 0;
		}
		if (o->id == CLI_OPT_ID_JSON && !(cmd->flags & CLI_JSON))
			continue;
		if (o->label || o->help)
			help_row(out, &lines, o->label, o->help);
	}
	if (store)
		help_row(out, &lines, store_label, store_help);
	if (cmd->more_help) {
		fputc('\n', out);
		cmd->more_help(out);
	}
	exit(status);
}
