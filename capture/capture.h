/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * capture.h - the capture layer: a FUSE passthrough mounted over a protected
 * directory in place, applying every mutating call to the real filesystem
 * and journaling it into the store (see store/store.h) with its instant.
 *
 * One capture daemon runs per store and serves every protected directory of
 * that store (RocksDB admits one writing process); `cdpfs capture` of a
 * further directory asks the running daemon over its control socket
 * (STORE/capture.sock).  The daemon exits when its last directory stops.
 *
 * Control socket: one request line per connection, one reply line.
 *   add HOST DIR [attach] -> "ok" once DIR is protected, or "err MESSAGE"
 *                    (attach: although running processes use DIR)
 *   stop DIR       -> "ok PID LAST" (LAST 1: the daemon PID then exits)
 *   list           -> "ok PID DIR..."
 * Fields are separated by one space; '%', space, tab, CR and LF inside a
 * field are written %25, %20, %09, %0D, %0A.  The daemon logs to
 * STORE/capture.log; SIGTERM/SIGINT/SIGHUP stop every directory cleanly.
 * If the daemon dies, each DIR stays mounted but dead (ENOTCONN): the way
 * back to plain access is `fusermount3 -u DIR`; capturing DIR again then
 * resyncs what changed meanwhile.
 */
#ifndef CDP_CAPTURE_H
#define CDP_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "retain.h"

struct cdp_capture_request {
	const char *store;        /* store directory, created if missing */
	const char *host;         /* host name; NULL: short hostname */
	char *const *dirs;        /* directories to protect (absolute or relative) */
	size_t ndirs;
	size_t mem_limit_bytes;   /* daemon RSS ceiling; 0: 256 MiB */
	int foreground;           /* run the daemon in this process (tests, systemd) */
	int progress;             /* show baseline progress on stderr */
	int no_journal;           /* benchmark floor: passthrough only, no store */
	int attach_running;       /* capture although processes use the dirs (their
				   * changes are caught late by the safety net) */
	const char *config;       /* configuration file (alerts); NULL: the default
				   * /etc/cdpfs/cdpfs.conf, if it exists */
	const char *metrics;      /* ADDR:PORT to serve /metrics on, or NULL */
	int ensure;               /* a dir the store's running daemon already captures
				   * (and has taken its baseline of) is no error
				   * (cdpfs-capture@.service after a resume) */
	int serve;                /* with foreground and no dirs: the store's daemon
				   * for systemd (cdpfs-capture.service): resumes the
				   * directories whose capture crashed, runs until
				   * stopped, tells systemd when ready (sd_notify) */
	/* shipping to a DR server (ship/ship.h), taken when the daemon
	 * starts: ship NULL for none; absolute paths (the daemon runs in /) */
	const char *ship;         /* HOST:PORT */
	const char *ship_cert, *ship_key, *ship_ca;
	uint64_t ship_rate_bytes; /* 0: no limit */
};

/*
 * Protects req->dirs and returns once every one of them is protected (the
 * daemon runs, the baseline or resync is complete).  With foreground set it
 * returns only when the daemon stops.  On failure returns non-zero and
 * writes one line (no newline) saying what is wrong and what to do into err.
 */
int cdp_capture_start(const struct cdp_capture_request *req, char *err, size_t errlen);

/* Flushes the journal of dir, unmounts it and waits for it (and, when it
 * was the last one, the daemon) to be gone.  Same error convention.  store
 * NULL: the store the capture mount on dir names (else the default).  When
 * the daemon had died, its dead mount is taken off: returns 1 with a line
 * saying so in err (the directory is plain again; not an error). */
int cdp_capture_stop(const char *store, const char *dir, char *err, size_t errlen);

/* The store cdp_capture_stop() would use for dir: store_arg (made absolute)
 * when not NULL, else the one the capture mount on dir names, else the
 * default.  Returns 0 or -errno (-ENAMETOOLONG). */
int cdp_capture_store_of(const char *store_arg, const char *dir, char *store, size_t size);

/* What the capture daemon of a store says of itself ("status" request). */
struct cdp_capture_dir {
	char *path;
	int ready;                /* captured (0: taking its baseline, stopping) */
};
struct cdp_capture_status {
	int pid;
	int degraded;             /* the journal records nothing (store full, errors) */
	int64_t degraded_since_ts_ns;
	uint64_t lag_p50_us, lag_p99_us;   /* journal lag over the last minute */
	uint64_t ops, bytes_in, queue_bytes;   /* since the daemon started */
	size_t ndirs;
	struct cdp_capture_dir *dirs;
};

/* Asks the daemon of store.  0 and *st filled (free with
 * cdp_capture_status_free()); -ENOENT or -ECONNREFUSED when no daemon
 * listens; -EPROTO for a reply it does not understand; other -errno. */
int cdp_capture_status(const char *store, struct cdp_capture_status *st);
void cdp_capture_status_free(struct cdp_capture_status *st);

/* Asks the capture daemon of store, when one runs, to make a snapshot of
 * the store in dest (cdp_store_snapshot(), store.h).  Returns 0 when it
 * did, 1 when no daemon runs (the caller opens the store itself), or
 * non-zero with one line in err. */
int cdp_capture_snapshot(const char *store, const char *dest, char *err, size_t errlen);

/* Retention through the capture daemon of store, when one runs (it holds
 * the index's primary; capture/retain_ctl.c): the store/retain.h calls of
 * the same names made by the daemon.  Each returns 0 when done, 1 when no
 * daemon runs (the caller opens the store itself), or a negative error of
 * the call (the daemon's one line in err). */
int cdp_capture_pin(const char *store, const char *host, int64_t ts_ns, const char *note,
		    int unpin, struct cdp_pin_info *out, char *err, size_t errlen);
int cdp_capture_prune(const char *store, const char *host, const struct cdp_prune_options *po,
		      int nogc, double threshold, struct cdp_prune_result *pr,
		      struct cdp_gc_result *gr, char *err, size_t errlen);
/* progress (NULL: none; po->progress for prune) gets the daemon's progress
 * of the prune or gc as the store's own call would (retain.h). */
int cdp_capture_gc(const char *store, double threshold, cdp_retain_progress_fn *progress,
		   void *arg, struct cdp_gc_result *gr, char *err, size_t errlen);
int cdp_capture_policy(const char *store, const char *host, const struct cdp_keep_rule *rules,
		       size_t n, char *err, size_t errlen);

#endif /* CDP_CAPTURE_H */
