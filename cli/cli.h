/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli.h - the `cdpfs` command line: the table of verbs, the options they
 * share, and the helpers of the front end.  This is the only place where
 * die() exists; the library and the daemons return errors instead.
 *
 * Adding a verb (as git's commands[] and run_builtin, btrfs-progs' cmds/):
 *   1. in the file of its group, cli/cmd_<group>.c, write beside each other
 *      its options with their help (an array of struct cli_option ending
 *      with CLI_OPT_END), its function `static int cmd_<verb>(struct
 *      cli_ctx *ctx)`, and its row `const struct cli_cmd cli_cmd_<verb>`:
 *      name, function, usage line, one-line summary, options, flags;
 *   2. declare the row at the end of this file;
 *   3. list it in cli_commands[] in cli/main.c (the order of `cdpfs help`).
 * The function reads its own options in order with cli_getopt(), then its
 * operands in ctx->args.  The dispatcher owns what the flags say: --help
 * and -h for every verb, --store DIR for CLI_NEEDS_STORE (then
 * cli_store_path() and cli_open_store()), --json for CLI_JSON (then
 * ctx->json), and the errors of a malformed command line.
 * Errors: die("...") prints "cdpfs: ..." and exits 1; usage mistakes call
 * cli_usage_error(), which exits 2.  A verb returns 0 on success, non-zero
 * (exit status 1) on a failure it has already reported.
 */
#ifndef CDP_CLI_H
#define CDP_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef CDP_VERSION
#define CDP_VERSION "0.1.0"
#endif

enum cli_cmd_flags {
	CLI_NEEDS_STORE = 1 << 0,   /* takes --store DIR (else $CDPFS_STORE, else default) */
	CLI_JSON = 1 << 1,          /* takes --json */
};

/*
 * One row of a verb's options and of its help, in the order the help shows
 * them.  A row with a name is an option: cli_getopt() returns its id, and
 * an id that is a letter is also its short option (-o).  A row without a
 * name is help only: an operand ("SPEC", listed before the options; the
 * --store line follows the operands), the place of the --json line
 * (CLI_OPT_JSON), or, without a label, a line printed as it is.
 */
struct cli_option {
	const char *name;      /* long name, without "--"; NULL: help only */
	int has_arg;           /* no_argument or required_argument */
	int id;                /* returned by cli_getopt(); a letter, or >= 256 */
	const char *label;     /* left column: "-o OPTS", "--host HOST", "SPEC" */
	const char *help;      /* right column; '\n' starts a continuation line */
};

/* Ids of the options the dispatcher handles itself. */
enum {
	CLI_OPT_ID_STORE = 0x10000,
	CLI_OPT_ID_JSON,
	CLI_OPT_ID_HELP,
};

/* Where the help of --json goes, and what it says (CLI_JSON verbs). */
#define CLI_OPT_JSON(text) { NULL, no_argument, CLI_OPT_ID_JSON, "--json", text }
#define CLI_OPT_END { NULL, 0, 0, NULL, NULL }

struct cli_ctx;
struct cdp_store;

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli_ctx *ctx);
	const char *usage;     /* after "cdpfs ": "mount [--store DIR] ..." */
	const char *summary;   /* one line for `cdpfs help` */
	const struct cli_option *options;   /* may be NULL: none */
	unsigned flags;        /* enum cli_cmd_flags */
	void (*more_help)(FILE *out);   /* printed after the options; may be NULL */
};

/*
 * A verb's command line as the dispatcher hands it over (cli/options.c).
 * The verb reads args and nargs once cli_getopt() returned -1, json and
 * store_opt at any time; the rest is private.
 */
struct cli_ctx {
	const struct cli_cmd *cmd;
	int argc;
	char **argv;              /* argv[0] is the verb's name */
	char **args;              /* operands, once cli_getopt() returned -1 */
	int nargs;
	int json;                 /* --json given (CLI_JSON) */
	const char *store_opt;    /* --store's value (CLI_NEEDS_STORE), or NULL */
	/* private */
	char *store;              /* cli_store_path()'s answer, heap */
	struct option *longopts;  /* getopt_long's table, heap */
	char shortopts[64];
};

/* cli/main.c */
/* The verbs, NULL-terminated. */
extern const struct cli_cmd *const cli_commands[];
const struct cli_cmd *cli_find(const char *name);

/* cli/options.c */
/* Readies ctx for cmd with argv[0..argc-1] (argv[0] the verb's name);
 * cli_ctx_release() frees what it and cli_store_path() took. */
void cli_ctx_init(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc, char **argv);
void cli_ctx_release(struct cli_ctx *ctx);
/*
 * The next option of the verb's own, in command-line order (getopt_long,
 * with its permutation and abbreviations): its id, with its value in
 * *value (NULL for an option without one).  -1 at the end, ctx->args and
 * ctx->nargs then set.  Handles on the way --help and -h (the help on
 * stdout, exit 0), --store and --json as the flags allow, and exits 2 with
 * one line on an unknown option or a missing value.
 */
int cli_getopt(struct cli_ctx *ctx, const char **value);
/* Prints the verb's usage and help to out and exits with status. */
void cli_usage(const struct cli_cmd *cmd, FILE *out, int status) __attribute__((noreturn));

/* cli/run.c */
enum cli_run_flags {
	CLI_RUN_STDOUT = 1,      /* the child's stdout into out */
	CLI_RUN_STDERR = 2,      /* its stderr into out (with stdout: both, interleaved) */
	CLI_RUN_NULL_STDIN = 4,  /* its stdin from /dev/null */
	CLI_RUN_OWN_GROUP = 8,   /* in a process group of its own */
};
/*
 * Runs exe (NULL: argv[0] looked up on PATH) with argv, env ("NAME=VALUE"
 * strings added to the environment in the child, NULL-terminated; NULL
 * for none) and flags, and collects the output flags name into out
 * (NUL-terminated, truncated at size bytes, size >= 1; the rest is read
 * and dropped).  Returns once the child has exited and every holder of
 * the pipe has closed it: its exit status (127 when the exec failed, 128 +
 * N when killed by signal N), or -errno when /dev/null, the pipe, the
 * fork or the wait failed.  The child starts with no signal blocked.
 */
int cli_run_collect(const char *exe, char *const argv[], const char *const env[], int flags,
		    char *out, size_t size);

/* cli/util.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Prints a one-line error from a library (adds "cdpfs: " unless present). */
void die_line(const char *line) __attribute__((noreturn));
void cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* The store of a CLI_NEEDS_STORE verb: --store, else $CDPFS_STORE, else
 * CDP_DEFAULT_STORE, made absolute (daemons leave the working directory).
 * Owned by ctx, valid until cli_ctx_release(); dies when out of memory or
 * when the working directory is unknown. */
const char *cli_store_path(struct cli_ctx *ctx);
/* Opens store read-only into *s.  Returns 0, or -errno or -CDP_E* with one
 * line in err: not a directory, no store there, another format version, or
 * the library's reason.  The caller closes *s before it exits (RocksDB must
 * not outlive its statics), so no die() while it is open. */
int cli_store_open(const char *store, struct cdp_store **s, char *err, size_t errlen);
/* cli_store_open() of cli_store_path(ctx), dying with that line. */
struct cdp_store *cli_open_store(struct cli_ctx *ctx);
/* "256M", "1G", "65536": returns 0 or -EINVAL. */
int cli_parse_size(const char *text, size_t *bytes);
/* Length of the valid UTF-8 sequence at p (avail bytes there), or 0 when
 * it is not one (overlong forms, surrogates, past U+10FFFF, cut short). */
size_t cli_utf8_len(const unsigned char *p, size_t avail);
/* Writes s as a JSON string, quotes included; bytes that are not UTF-8
 * become U+FFFD, so the output is valid JSON whatever s holds. */
void cli_json_string(FILE *out, const char *s);
/* s as cli_json_string() writes it, or null when s is NULL or empty. */
void cli_json_string_or_null(FILE *out, const char *s);
/* An instant as two keys, `"KEY": "ISO 8601"` (null when ts_ns <= 0), sep,
 * then `"KEY_ns": ts_ns`: the pair every stable JSON output uses. */
void cli_json_time(FILE *out, const char *key, int64_t ts_ns, const char *sep);
/* Local time "2025-12-02 12:33:07" (seconds precision, for humans). */
void cli_time_local(int64_t ts_ns, char *buf, size_t size);
/* An instant with milliseconds and its zone, "2026-12-02T10:07:59.123+01:00"
 * ("-" for ts_ns <= 0): what drill --list, reports and audit show. */
void cli_time_ms(int64_t ts_ns, char *buf, size_t size);
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
/* asprintf() that dies when out of memory (git's xstrfmt); heap, owned
 * by the caller. */
char *cli_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "a/b", as cli_strfmt(). */
char *cli_path_join(const char *a, const char *b);
/* 1 when path is the root of a mount, 0 when not, -errno when unknown. */
int cli_is_mount_point(const char *path);
/* s as the value of a mount option (-o, read by fuse_opt and by
 * mount.cdpfs): ',' and '\\' get a '\\' before them.  Stops while fewer
 * than 3 bytes of out (size bytes) are left; returns the length written,
 * NUL-terminated. */
size_t cli_opt_escape(const char *s, char *out, size_t size);
/* The state letter (R, S, Z, ...) and process group of pid, from
 * /proc/PID/stat.  Returns 0, -errno when /proc has no entry it can read
 * (-ENOENT: no such process), -EINVAL when the entry cannot be parsed. */
int cli_proc_stat(pid_t pid, char *state, pid_t *pgrp);

/* cli/cmd_failback.c: `overlay diff` and `overlay apply` (exit status). */
int cli_overlay_diff(struct cli_ctx *ctx, const char *name);
int cli_overlay_apply(struct cli_ctx *ctx, const char *name, const char *dest, unsigned flags);
/* The operands of ctx joined by sep (for an audit record): a buffer of
 * this file's, valid until the next call; "" when there are none. */
const char *cli_join_args(struct cli_ctx *ctx, const char *sep);

/* cli/cmd_audit.c: the one call a verb makes to put its action in the
 * store's audit trail (store/audit.h), once its arguments are known:
 *     cli_audit(store, "mount", "spec=%s mountpoint=%s", spec, mp);
 * The record is written when the process exits, with the outcome: "ok"
 * for exit 0 (or what cli_audit_result() set), "error: MESSAGE" after
 * die(), "exit N" otherwise; only by this process (not a daemon forked
 * from it), only into a directory that is a store.  A record that cannot
 * be written gets one warning line on stderr (not after die(): its line
 * is the one a refusal gets).  store NULL: nothing.  A
 * second cli_audit() records the first action as done. */
void cli_audit(const char *store, const char *action, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cli_audit_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die()'s message as the result (cli_audit() makes it die()'s hook). */
void cli_audit_error(const char *msg);
/* Called by die() with its message before it exits, when set. */
extern void (*cli_die_hook)(const char *msg);
/* Forgets the pending record (the verb wrote a fuller one itself). */
void cli_audit_cancel(void);

/* The verbs (cli/cmd_<group>.c, help and version in cli/main.c). */
extern const struct cli_cmd cli_cmd_capture;
extern const struct cli_cmd cli_cmd_mount;
extern const struct cli_cmd cli_cmd_umount;
extern const struct cli_cmd cli_cmd_hosts;
extern const struct cli_cmd cli_cmd_overlay;
extern const struct cli_cmd cli_cmd_drill;
extern const struct cli_cmd cli_cmd_bisect;
extern const struct cli_cmd cli_cmd_rebuild_index;
extern const struct cli_cmd cli_cmd_status;
extern const struct cli_cmd cli_cmd_verify;
extern const struct cli_cmd cli_cmd_snapshot;
extern const struct cli_cmd cli_cmd_diff;
extern const struct cli_cmd cli_cmd_log;
extern const struct cli_cmd cli_cmd_restore;
extern const struct cli_cmd cli_cmd_timeline;
extern const struct cli_cmd cli_cmd_suspects;
extern const struct cli_cmd cli_cmd_pin;
extern const struct cli_cmd cli_cmd_unpin;
extern const struct cli_cmd cli_cmd_prune;
extern const struct cli_cmd cli_cmd_gc;
extern const struct cli_cmd cli_cmd_policy;
extern const struct cli_cmd cli_cmd_stats;
extern const struct cli_cmd cli_cmd_audit;
extern const struct cli_cmd cli_cmd_serve;
extern const struct cli_cmd cli_cmd_certs;
extern const struct cli_cmd cli_cmd_version;
extern const struct cli_cmd cli_cmd_help;

#endif /* CDP_CLI_H */
