/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * audit.h - the audit trail of a store, STORE/audit/log: one hash-chained
 * record per administrative action (capture start and stop, mounts and
 * unmounts of the past, overlays, drills, verify runs, refusals...),
 * appended by the process that performs the action, with the caller's
 * credentials.  The format is in store/audit.c and docs/format.md ("Audit
 * trail"); `cdpfs audit` reads and verifies it (cli/cmd_audit.c).
 *
 * Contract.  cdp_audit_record() is the one call a command makes, once per
 * action, after it knows the outcome:
 *
 *     cdp_audit_record(store_dir, "mount", "spec=db01@-10m mode=ro", "ok");
 *
 * It takes the instant (UTC), the real uid and its user name, the kernel's
 * login uid, the machine's name and the pid itself; the caller gives the
 * action (a short word: [a-z0-9-] by convention), its arguments and its
 * result as free text (escaped on disk; arguments are cut at
 * CDP_AUDIT_MAX_FIELD bytes).  It never writes to stdout or stderr; a
 * failure is its return value, which the caller reports as a warning (an
 * action that succeeded is not undone because its record could not be
 * written).  Thread-safe and process-safe (flock).
 *
 * What it defends against: an edit, an insertion or a removal of a record
 * inside the chain by someone who does not rewrite every record after it,
 * and a torn record left by a crash (detected, never accepted as a record).
 * What it does not defend against: anyone who can write the file (root on
 * this machine, the store's owner) can rewrite the whole chain from the
 * changed record on, or cut its newest records; only a copy of the chain's
 * head held elsewhere (the DR server's copy, a ticket with the head hash
 * `cdpfs audit --verify` prints) shows that.  The user is who the kernel
 * says ran the process (a shared account is one user); the clock is the
 * machine's.
 */
#ifndef CDP_AUDIT_H
#define CDP_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define CDP_AUDIT_HEADER "cdpfs audit 1"
#define CDP_AUDIT_DIR "audit"
#define CDP_AUDIT_FILE "audit/log"
/* Arguments and results longer than this (before escaping) are cut and end
 * with "...". */
#define CDP_AUDIT_MAX_FIELD 2048
/* The action a writer records when it finds a torn last record. */
#define CDP_AUDIT_TORN_ACTION "audit-torn-record"

/*
 * Appends one record to STORE/audit/log, creating STORE/audit (0755) and
 * the log (0644) when missing; store_dir must exist.  args and result may
 * be NULL (recorded empty).  The record is on disk (fdatasync) when it
 * returns 0.  A torn last record (a crash during an earlier append) is
 * first closed and acknowledged by a CDP_AUDIT_TORN_ACTION record that
 * names its size and SHA-256.  Returns 0, -EINVAL (no store_dir or action),
 * -ENOENT (no such directory), -ENOTDIR (store_dir is not one), -ENOMEM,
 * -CDP_ECORRUPT (the log's first line is not
 * CDP_AUDIT_HEADER: nothing is appended), or -errno (a failed write is cut
 * off again).
 */
int cdp_audit_record(const char *store_dir, const char *action, const char *args,
		     const char *result);

/* One record, decoded.  Strings are NUL-terminated, cut to these sizes. */
struct cdp_audit_rec {
	uint64_t n;               /* 1, 2, 3 ... */
	uint64_t line;            /* line number in the file (the header is 1) */
	int64_t ts_ns;            /* UTC instant */
	char user[64];
	long long uid, login_uid; /* login_uid -1: none */
	char machine[256];
	long long pid;
	char action[64];
	char args[CDP_AUDIT_MAX_FIELD + 8];
	char result[CDP_AUDIT_MAX_FIELD + 8];
	char prev_hex[65], hash_hex[65];
};

/*
 * Calls fn for each record of the log in order (decoded; a line that does
 * not decode is skipped: cdp_audit_verify() reports it).  fn returns
 * non-zero to stop.  A store without an audit log has no records (0).
 * Returns 0, -CDP_ECORRUPT (bad first line) or -errno.
 */
int cdp_audit_read(const char *store_dir,
		   int (*fn)(void *arg, const struct cdp_audit_rec *r), void *arg);

/*
 * Verifies the chain: each record's hash is that of its contents, each
 * names the hash of the record before it, numbers run 1, 2, 3 without a
 * gap or a repeat, and the file ends with a whole record.  problem() is
 * called for each finding with the line and record number (0 when the line
 * has none) and one line of text; note() (may be NULL) for torn records
 * that a later record acknowledged.  records and head_hex (65 bytes) get
 * the count of records and the newest record's hash ("" when none).
 * Returns the number of problems (0: intact), or -CDP_ECORRUPT / -errno when
 * the log cannot be read at all.
 */
int cdp_audit_verify(const char *store_dir,
		     void (*problem)(void *arg, uint64_t line, uint64_t n, const char *what),
		     void (*note)(void *arg, uint64_t line, const char *what), void *arg,
		     uint64_t *records, char *head_hex);

/* Readies the hashing for a process that records at its exit (atexit or
 * on_exit): OpenSSL's own exit handler, which would run first and free
 * what hashing needs, is not installed.  Call it before anything hashes
 * (the first call decides); harmless afterwards. */
void cdp_audit_init(void);

/* SHA-256 of a file's contents as lower-case hex (65 bytes).  0 or -errno. */
int cdp_audit_file_sha256(const char *path, char *hex);

/* Escapes src for a field (\t, \n, \r, '%', other bytes below 0x20 and
 * 0x7f as %HH) into dst (dstlen >= 3 * strlen(src) + 1 keeps it whole;
 * shorter cuts it at a character); unescapes in place.  Both return the
 * length. */
size_t cdp_audit_escape(const char *src, char *dst, size_t dstlen);
size_t cdp_audit_unescape(char *s);

#endif /* CDP_AUDIT_H */
