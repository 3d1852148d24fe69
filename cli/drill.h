/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill.h - what `cdpfs drill` (cli/cmd_drill.c) and `cdpfs bisect`
 * (cli/cmd_bisect.c) share, internal to cli/: the manifest of a tree as the
 * store holds it (cli/manifest.c); the machinery that mounts a private
 * writable overlay of one instant in a child process, runs checks in their
 * own process groups with a timeout, and unmounts again (cli/drill_run.c);
 * and a drill's record with its archive in the store: reports, index,
 * --list and --show (cli/drill_report.c).
 *
 * Processes.  The mount daemon must open RocksDB itself, so the store is
 * never open in this process while it forks a child that does anything but
 * exec: every child here (the mount, the umount, each check) calls only
 * async-signal-safe functions between fork() and execve().  Each child gets
 * its own process group, so a ^C on the terminal reaches the drill alone,
 * which then ends its checks and unmounts before it exits.
 */
#ifndef CDP_CLI_DRILL_H
#define CDP_CLI_DRILL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* ------------------------------------------------------------ manifest */

#define CLI_MANIFEST_HEADER "cdpfs manifest 1"

/*
 * Writes the manifest of the tree below root_fid in view v to out (format in
 * docs/format.md, "Drill manifests": a version line, then one line per
 * entry in depth-first name order) and its SHA-256 (of every byte written,
 * header included) into sha.  Reads no file data: regular files are
 * described by a hash over their per-block hashes.  *entries gets the
 * number of entry lines.  stop, when not NULL, is polled per entry: when it
 * returns non-zero the walk ends with -EINTR.  Returns 0 or -errno / CDP_E*.
 */
int cli_manifest_write(struct cdp_view *v, uint64_t root_fid, uint32_t block_size,
		       FILE *out, uint8_t sha[CDP_HASH_BYTES], uint64_t *entries,
		       int (*stop)(void));

/* Writes len bytes of s into out as a manifest field (PATH, TARGET, xattr
 * names): bytes below 0x21, above 0x7e, and '%', ',', '=' become %HH
 * (upper-case hex), so a field never holds a space.  out must hold 3 * len
 * + 1 bytes; returns the length written, NUL-terminated. */
size_t cli_manifest_escape(const char *s, size_t len, char *out);

/* Lower-case hex of a hash into hex (2 * CDP_HASH_BYTES + 1 bytes). */
void cli_hash_hex(const uint8_t hash[CDP_HASH_BYTES], char *hex);

/* --------------------------------------------------------- the mounts */

/*
 * A private mount of one instant.  drill_mount_open() mkdtemp()s the mount
 * point (under $TMPDIR, else /tmp), runs `cdpfs mount -v -o rw,...` of
 * HOST[:DIR]@@SECONDS.NANOSECONDS in a child and waits for it; the overlay
 * is private (discarded at unmount) unless overlay names one.  The store is
 * not opened here.
 */
struct drill_mount {
	char mountpoint[PATH_MAX];
	char spec[PATH_MAX + 320];
	uint64_t seq;             /* from the mount's "seq N" line; 0 unknown */
	int mounted;
	int dir_made;             /* mountpoint is ours to rmdir */
};

/* Path of the running cdpfs binary (readlink of /proc/self/exe), so that
 * the children are named cdpfs, as `cdpfs umount` and the tests expect. */
const char *drill_self_exe(void);

/* log may be NULL (the daemon then logs to syslog).  Returns 0 or -errno
 * with one line in err (the mount's own complaint when it refused). */
int drill_mount_open(struct drill_mount *m, const char *store, const char *host,
		     const char *dir, int64_t ts_ns, const char *overlay,
		     const char *log, char *err, size_t errlen);
/* Unmounts (waiting for the daemon to exit; lazily as a last resort) and
 * removes the mount point.  Safe to call on a mount that never came up. */
int drill_mount_close(struct drill_mount *m, char *err, size_t errlen);

/* ------------------------------------------------------------ checks */

/* The line a check prints once the database answers queries. */
#define DRILL_ANSWERING_LINE "CDPFS-ANSWERING"

enum drill_check_end {
	DRILL_CHECK_EXITED,       /* exit status in status */
	DRILL_CHECK_TIMEOUT,      /* killed at the timeout */
	DRILL_CHECK_INTERRUPTED,  /* killed because the drill was signalled */
	DRILL_CHECK_NOT_RUN,      /* could not start (fork failed) */
};

struct drill_check_result {
	enum drill_check_end end;
	int status;               /* exit status, 128 + signal when killed */
	int64_t start_ns, end_ns;
	int64_t answering_ns;     /* when DRILL_ANSWERING_LINE was read; 0: never */
};

/*
 * Runs /bin/sh -c cmd with environment envp (NULL-terminated), stdin from
 * /dev/null, stdout and stderr into the file log (truncated), in a process
 * group of its own.  At timeout_ns (0: none) or on a signal to the drill the
 * group gets SIGTERM, then SIGKILL 3 s later; processes of the group left
 * behind when the shell exits get the same.  Returns 0 (the outcome is in
 * r, a failing check is not an error) or -errno when the log cannot be
 * written or nothing could be started.
 */
int drill_run_check(const char *cmd, char *const envp[], const char *log,
		    int64_t timeout_ns, struct drill_check_result *r);

/* The last max_lines lines of file path (at most 64 KiB), with invalid
 * UTF-8 replaced by '?'.  Heap string, owned by the caller; NULL on error. */
char *drill_file_tail(const char *path, unsigned max_lines);

/* environ with extra "NAME=value" strings replacing or adding to it.
 * Heap array (the strings of extra are not copied); free() it. */
char **drill_environ(char *const extra[]);

/* Dies unless store holds a store (its FORMAT file), before a drill or a
 * bisection makes anything. */
void drill_require_store(const char *store);

/* What a drill's or bisect step's mount met: the count of EIO replies and
 * the first files (fids) from the mount's "store read errors: N; files:
 * ..." line at unmount (fs/fs_int.h), and the first store error line it
 * logged ("corrupt chunk ...", "unreadable index: ..."); paths are filled
 * by the caller (cmd_drill.c).  A count above 0 means the checks read bad
 * data or none: never a pass. */
#define DRILL_READ_ERROR_FIDS 16
struct drill_read_errors {
	uint64_t count;
	char first[512];
	uint64_t fids[DRILL_READ_ERROR_FIDS];
	size_t nfids;
	char paths[2048];    /* "', '"-joined paths, or empty */
};
/* Reads the mount log at path (after the unmount: the daemon has exited).
 * A missing log is no errors.  Error lines with no summary line (a daemon
 * that died) count one each. */
void drill_read_errors_scan(const char *path, struct drill_read_errors *re);

/* Per check, unless --timeout says otherwise. */
#define DRILL_DEFAULT_TIMEOUT_S 600

/* ----------------------------------------------------------- signals */

/* SIGINT, SIGTERM and SIGHUP set a flag instead of killing the drill;
 * blocking calls return EINTR.  drill_interrupted() returns the signal
 * number seen, or 0. */
void drill_signals_install(void);
int drill_interrupted(void);
/* "SIGINT", "SIGTERM", "SIGHUP", else "a signal" (static strings). */
const char *drill_signal_name(int sig);

/* ------------------------------------------------ a drill and its archive */

/*
 * The archive, in the store directory (docs/format.md, "Drill reports";
 * cli/drill_report.c opens with the same description):
 *   STORE/drills/index          DRILL_INDEX_HEADER, then one line per drill
 *   STORE/drills/ID/report.json, report.md, manifest, check-N.log, mount.log
 */
#define DRILL_INDEX_HEADER "cdpfs drill index 1"
#define DRILL_REPORT_FORMAT "cdpfs drill report 1"
/* Lines of each check's output kept in the report. */
#define DRILL_TAIL_LINES 40

struct check_run {
	const char *command;
	struct drill_check_result r;
	char log_name[32];
	char *tail;          /* heap */
	int passed;
};

/* One drill, from its command line to its report (cli/cmd_drill.c fills it). */
struct drill {
	char id[128];
	char mountpoint[PATH_MAX];
	const char *store;               /* not owned */
	char *dir_path;                  /* STORE/drills/ID, heap */
	char *host, *dir, *time_text;
	int64_t requested_ns, started_ns, mounted_ns, finished_ns;
	int64_t view_ts_ns, answering_ns;
	int64_t manifest_start_ns, manifest_end_ns;   /* the manifest walk */
	uint64_t seq, manifest_entries;
	char manifest_hex[2 * CDP_HASH_BYTES + 1];
	int64_t timeout_ns;
	int keep;
	char overlay[160];
	struct check_run *checks;
	size_t nchecks, ran;
	const char *answering_by;        /* how answering_ns was found */
	size_t answering_check;          /* 1-based; 0 none */
	const char *result;              /* pass, fail, error, interrupted */
	char error[1024];
	char unmount_error[1024];
	/* the instant fell where nothing was captured (a gap between sessions,
	 * or after the last stop): the tree is as last captured before it */
	int in_gap;
	int64_t gap_from_ns, gap_to_ns;  /* to 0: capture not running since */
	char gap_dir[PATH_MAX];
	struct drill_read_errors read_errors;   /* what the mount met */
};

/* "pass", "fail", "timeout", "interrupted" or "not run" (static strings). */
const char *drill_check_result(const struct check_run *c);

/* The report as JSON (report.json, --json) or Markdown (report.md). */
void drill_report_json(const struct drill *d, FILE *out);
void drill_report_md(const struct drill *d, FILE *out);

/* Writes report.json and report.md into d->dir_path (each to NAME.tmp,
 * fsync'ed, renamed), then appends the drill's line to STORE/drills/index
 * (under flock, fsync'ed).  Returns 0 or -errno (-EIO for a short write). */
int drill_report_archive(const struct drill *d);

/* One line of the index, its nine fields parsed (the manifest hash is not
 * kept).  Strings are cut to the sizes below. */
struct drill_index_row {
	char id[128], host[256], result[16];
	long long requested_ns, mounted_ns, duration_ms, started_ns;
	unsigned long long seq;
};

/* Parses line (modified in place; a final newline is dropped).  Returns 0,
 * or -EINVAL when it does not have nine tab-separated fields. */
int drill_index_parse_line(char *line, struct drill_index_row *r);

/* `cdpfs drill --list` (only host's drills when host is not NULL) and
 * `--show ID`: print to stdout, as text or JSON; die on an error. */
int drill_list(const char *store, const char *host, int json);
int drill_show(const char *store, const char *id, int json);

#endif /* CDP_CLI_DRILL_H */
