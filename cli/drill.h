/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill.h - what `cdpfs drill` (cli/cmd_drill.c) and `cdpfs bisect`
 * (cli/cmd_bisect.c) share, internal to cli/: the manifest of a tree as the
 * store holds it (cli/manifest.c); the machinery that mounts a private
 * writable overlay of one instant in a child process, runs checks in their
 * own process groups with a timeout, and unmounts again, with the drill's
 * signals (cli/drill_run.c); what a drill's report says and its JSON and
 * Markdown forms (cli/drill_report.c), its HTML page (cli/drill_html.c);
 * the archive in the store: reports, index, --list, --show, --export and
 * --verify (cli/drill_archive.c); and drill plans with their schedule
 * (cli/drill_plan.c).
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

/*
 * Lines a check may print to tell the drill more than its exit status
 * (each at the start of a line, read as it is printed):
 *   CDPFS-ANSWERING          the database answers queries (the RTO's end)
 *   CDPFS-STEP NAME          a step of the check begins (boot, recovery,
 *                            amcheck...): it lasts until the next one or
 *                            the check's end; at most DRILL_CHECK_STEPS;
 *                            "NAME @SECONDS.NANOS": it began then (steps
 *                            are sorted by their start, kept inside the
 *                            check)
 *   CDPFS-VERSION TEXT       what the check ran, e.g. "PostgreSQL 17.2"
 *   CDPFS-ANSWER TEXT        the check's answer (compared with --expect);
 *                            else the last line that is not one of these
 */
#define DRILL_STEP_LINE "CDPFS-STEP "
#define DRILL_VERSION_LINE "CDPFS-VERSION "
#define DRILL_ANSWER_LINE "CDPFS-ANSWER "
#define DRILL_CHECK_STEPS 16

struct drill_check_step {
	char name[64];
	int64_t start_ns;
};

struct drill_check_result {
	enum drill_check_end end;
	int status;               /* exit status, 128 + signal when killed */
	int64_t start_ns, end_ns;
	int64_t answering_ns;     /* when DRILL_ANSWERING_LINE was read; 0: never */
	struct drill_check_step steps[DRILL_CHECK_STEPS];
	size_t nsteps;
	char version[256];        /* CDPFS-VERSION's text; empty: not told */
	char answer[512];         /* CDPFS-ANSWER's text, else the last other line */
	int answer_marked;        /* answer came from a CDPFS-ANSWER line */
};

/* Feeds one complete output line (no newline) of a check into r at
 * instant now_ns: the markers above, and the last line as the answer. */
void drill_check_line(struct drill_check_result *r, const char *line, int64_t now_ns);

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
#define DRILL_REPORT_FORMAT "cdpfs drill report 2"
/* Lines of each check's output kept in the report. */
#define DRILL_TAIL_LINES 40

struct check_run {
	const char *command;
	const char *expect;  /* --expect: the answer that passes; NULL: exit 0 only */
	struct drill_check_result r;
	char log_name[32];
	char *tail;          /* heap */
	int passed;
};

/* Whether c passed: exited 0 and, with an expected answer, answered it. */
int drill_check_passed(const struct check_run *c);

/*
 * A step of the drill as the report shows it: the drill's own (precheck,
 * mount, instant, check N, manifest, unmount; check 0) or one a check
 * announced (CDPFS-STEP; check N).  The drill's steps are contiguous: each
 * starts when the one before it ended, from the drill's start, so their
 * durations add up to the drill's and the RTO is the sum of the steps
 * before the answer.
 */
#define DRILL_MAX_STEPS 64
struct drill_step {
	char name[80];
	size_t check;          /* 0: a step of the drill; N: inside check N */
	int64_t start_ns, end_ns;
};

/* A line of the pre- or post-drill checks: what was checked and how it went. */
#define DRILL_MAX_ASSESS 16
struct drill_assess {
	char name[64];
	const char *result;    /* "ok", "warning", "failed" (static) */
	char detail[512];
};

/* Who ran a drill, where, and with what (filled by drill_identity()). */
struct drill_identity {
	char user[64];
	long long uid;
	long long login_uid;   /* the kernel's audit login uid; -1 unset */
	char trigger[64];      /* "command line", "systemd (cdpfs-drill@NAME)" */
	char machine[256];     /* gethostname() */
	char kernel[128];      /* uname -r */
};
void drill_identity(struct drill_identity *who);

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
	/* evidence (report format 2) */
	const char *plan;                /* plan name, or NULL */
	const char *responsible;         /* the plan's owner, or NULL */
	struct drill_identity who;
	struct drill_step steps[DRILL_MAX_STEPS];
	size_t nsteps;
	struct drill_assess pre[DRILL_MAX_ASSESS], post[DRILL_MAX_ASSESS];
	size_t npre, npost;
	char conclusion[1024];
};

/* Appends a step (or a pre-/post-check line) to d; beyond the arrays'
 * room it is dropped.  drill_step_add returns the step or NULL. */
struct drill_step *drill_step_add(struct drill *d, const char *name, size_t check,
				  int64_t start_ns, int64_t end_ns);
void drill_assess_add(struct drill_assess *a, size_t *n, const char *name, const char *result,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The RTO figures, from the drill's start (started_ns), in ms; -1 when
 * there is none (no answer, a check failed). */
long long drill_rto_answering_ms(const struct drill *d);
long long drill_rto_checks_ms(const struct drill *d);
/* The RPO the drill proves: the age of the newest captured change at the
 * instant (requested - mounted), ns; -1 unknown. */
long long drill_rpo_ns(const struct drill *d);
/* The one-line conclusion into d->conclusion. */
void drill_conclude(struct drill *d);

/* The report as an HTML page (report.html; cli/drill_html.c): one
 * self-contained page, inline CSS, no scripts, no network. */
void drill_report_html(const struct drill *d, FILE *out);


/* "pass", "fail", "timeout", "interrupted" or "not run" (static strings). */
const char *drill_check_result(const struct check_run *c);

/* The report as JSON (report.json, --json) or Markdown (report.md). */
void drill_report_json(const struct drill *d, FILE *out);
void drill_report_md(const struct drill *d, FILE *out);

/* Writes report.json, report.md and report.html into d->dir_path (each to
 * NAME.tmp, fsync'ed, renamed), then appends the drill's line to
 * STORE/drills/index (under flock, fsync'ed), then records the drill with
 * the SHA-256 of each report in the audit trail (store/audit.h).  Returns
 * 0 or -errno (-EIO for a short write); audit_err gets one line when only
 * the audit record failed (the reports are archived). */
int drill_report_archive(const struct drill *d, char *audit_err, size_t errlen);

/* One line of the index, its nine fields parsed (the manifest hash is not
 * kept).  Strings are cut to the sizes below. */
struct drill_index_row {
	char id[128], host[256], result[16];
	long long requested_ns, mounted_ns, duration_ms, started_ns;
	unsigned long long seq;
	/* fields 10-16 (report format 2 on); "-" / -1 on older lines */
	char plan[128], user[64], machine[256];
	long long uid, rpo_ns, rto_answering_ms, rto_checks_ms;
};

/* Parses line (modified in place; a final newline is dropped).  Returns 0,
 * or -EINVAL when it does not have nine tab-separated fields (a line of
 * nine is an older drill's; the seven that follow are read when there). */
int drill_index_parse_line(char *line, struct drill_index_row *r);

/* The rows of STORE/drills/index (only host's when host is not NULL; none
 * when there is no index); dies when it cannot be read.  Heap array, owned
 * by the caller. */
struct drill_index_row *drill_index_load(const char *store, const char *host, size_t *count);

/* `cdpfs drill --list` (only host's drills when host is not NULL) and
 * `--show ID`: print to stdout, as text or JSON; die on an error. */
int drill_list(const char *store, const char *host, int json);
/* format: "md", "json" or "html" */
int drill_show(const char *store, const char *id, const char *format);
/* `--export --since T`: every drill started at or after since_ns, as CSV
 * (a header line, RFC 4180 quoting) or JSON. */
int drill_export(const char *store, int64_t since_ns, int csv);
/* `--verify ID`: the archived reports against the SHA-256 values the audit
 * trail recorded when they were written; 0 when they match, 1 when not
 * (printed), dies when the drill or its record is missing. */
int drill_verify(const char *store, const char *id);

/* ------------------------------------------------------------- plans */

/* A drill plan (cli/drill_plan.c, which opens with the file's format). */
#define DRILL_PLAN_MAX_CHECKS 32
struct drill_plan {
	char name[72];
	char file[PATH_MAX];
	char *host, *dir, *store, *instant, *period, *responsible;   /* heap; may be NULL */
	struct {
		char *command, *expect;                              /* heap */
	} checks[DRILL_PLAN_MAX_CHECKS];
	size_t nchecks;
	int64_t timeout_ns;
	int64_t period_ns;     /* daily, weekly, monthly; 0: a calendar expression */
};

/* When a plan ran and is due (drill_plan_schedule()). */
struct drill_plan_state {
	int64_t last_run_ns, last_pass_ns, next_due_ns;   /* 0: never */
	char last_run_id[128], last_pass_id[128], last_result[16];
	size_t runs;
	int overdue;           /* the last pass is older than the period (or none) */
	int known;             /* 0: a calendar plan and no systemd-analyze */
};

/* The plans directory: opt (--plans-dir), else $CDPFS_DRILL_PLANS, else
 * SYSCONFDIR/cdpfs/drills.d.  Static or the caller's string. */
const char *drill_plans_dir(const char *opt);
/* Names: [A-Za-z0-9._-], 1 to 64, not starting with '.' or '-'. */
int drill_plan_name_valid(const char *name);
/* dir/NAME.conf into path; 0, -EINVAL (bad name) or -errno (-ENOENT). */
int drill_plan_find(const char *dir, const char *name, char *path, size_t size);
/* Reads file into p (its name from the file name, ".conf" dropped).
 * Returns 0, or -EINVAL / -errno with one line in err naming the file and
 * the line.  drill_plan_free() releases p. */
int drill_plan_load(const char *file, struct drill_plan *p, char *err, size_t errlen);
void drill_plan_free(struct drill_plan *p);
/* daily, weekly, monthly into *fixed_ns; 0 for anything else. */
int drill_plan_period(const char *period, int64_t *fixed_ns);
/* The plan's runs in store's index and when it is due, at now_ns. */
void drill_plan_schedule(const struct drill_plan *p, const char *store, int64_t now_ns,
			 struct drill_plan_state *st);
/* `cdpfs drill --plans`: every plan of dir with its schedule; store_opt
 * (--store) overrides each plan's store.  Returns 1 when a plan is overdue
 * or cannot be read, else 0. */
int drill_plans_list(const char *dir, const char *store_opt, int json);

#endif /* CDP_CLI_DRILL_H */
