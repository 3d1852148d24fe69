/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli.h - the `cdpfs` command line: the table of verbs and the helpers they
 * share.  This is the only place where die() exists; the library and the
 * daemons return errors instead.
 *
 * Adding a verb (as git.c's commands[]):
 *   1. write `int cmd_<verb>(int argc, char **argv, const struct cli_cmd *self)`
 *      in the file of its group (cli/cmd_<group>.c), parsing its own options
 *      with getopt_long (argv[0] is the verb's name) and answering --help
 *      with cli_usage(self, stdout, 0);
 *   2. declare it below;
 *   3. add a row to cli_commands[] in cli/main.c: name, function, the usage
 *      line, a one-line summary, the option help, the flags, and optionally
 *      a function printing more help (e.g. a module's option list).
 * Errors: die("...") prints "cdpfs: ..." and exits 1; usage mistakes call
 * cli_usage_error(), which exits 2.  A verb returns 0 on success.
 */
#ifndef CDP_CLI_H
#define CDP_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef CDP_VERSION
#define CDP_VERSION "0.1.0"
#endif

enum cli_cmd_flags {
	CLI_NEEDS_STORE = 1 << 0,   /* takes --store (else $CDPFS_STORE, else default) */
	CLI_JSON = 1 << 1,          /* supports --json */
};

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, const struct cli_cmd *self);
	const char *usage;     /* after "cdpfs ": "mount [--store DIR] ..." */
	const char *summary;   /* one line for `cdpfs help` */
	const char *help;      /* options, one per line, for `cdpfs help VERB` */
	unsigned flags;        /* enum cli_cmd_flags */
	void (*more_help)(FILE *out);   /* printed after help; may be NULL */
};

/* cli/main.c */
extern const struct cli_cmd cli_commands[];
const struct cli_cmd *cli_find(const char *name);
/* Prints the verb's usage and help to out and exits with status. */
void cli_usage(const struct cli_cmd *cmd, FILE *out, int status) __attribute__((noreturn));

/* cli/util.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Prints a one-line error from a library (adds "cdpfs: " unless present). */
void die_line(const char *line) __attribute__((noreturn));
void cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* --store value, else $CDPFS_STORE, else CDP_DEFAULT_STORE; made absolute
 * (daemons leave the working directory).  Returns a heap string. */
char *cli_store_path(const char *opt_store);
/* "256M", "1G", "65536": returns 0 or -EINVAL. */
int cli_parse_size(const char *text, size_t *bytes);
/* Length of the valid UTF-8 sequence at p (avail bytes there), or 0 when
 * it is not one (overlong forms, surrogates, past U+10FFFF, cut short). */
size_t cli_utf8_len(const unsigned char *p, size_t avail);
/* Writes s as a JSON string, quotes included; bytes that are not UTF-8
 * become U+FFFD, so the output is valid JSON whatever s holds. */
void cli_json_string(FILE *out, const char *s);
/* Local time "2025-12-02 12:33:07" (seconds precision, for humans). */
void cli_time_local(int64_t ts_ns, char *buf, size_t size);
/* "90", "90s", "10m", "2h", "1d" into nanoseconds (0: no limit).  Returns
 * 0 or -EINVAL (also when the result would not fit an int64_t). */
int cli_parse_duration(const char *text, int64_t *ns);
/* A duration for humans, "12.3 s". */
void cli_format_seconds(int64_t ns, char *buf, size_t size);
/* An exact instant as TIME reads it back: "@1764649987.123456789". */
void cli_format_at(int64_t ts_ns, char *buf, size_t size);
/* TIME (as cdp_time_parse reads it) into an exact instant, "latest" being
 * now_ns; dies naming the accepted forms when it is not one. */
int64_t cli_resolve_time(const char *text, int64_t now_ns);
/* "a/b", heap, owned by the caller; dies when out of memory. */
char *cli_path_join(const char *a, const char *b);
/* 1 when path is the root of a mount, 0 when not, -errno when unknown. */
int cli_is_mount_point(const char *path);

/* The verbs. */
int cmd_capture(int argc, char **argv, const struct cli_cmd *self);
int cmd_mount(int argc, char **argv, const struct cli_cmd *self);
int cmd_umount(int argc, char **argv, const struct cli_cmd *self);
int cmd_hosts(int argc, char **argv, const struct cli_cmd *self);
int cmd_overlay(int argc, char **argv, const struct cli_cmd *self);
int cmd_drill(int argc, char **argv, const struct cli_cmd *self);
int cmd_bisect(int argc, char **argv, const struct cli_cmd *self);
int cmd_version(int argc, char **argv, const struct cli_cmd *self);
int cmd_help(int argc, char **argv, const struct cli_cmd *self);

#endif /* CDP_CLI_H */
