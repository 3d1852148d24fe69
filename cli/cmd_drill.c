/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_drill.c - `cdpfs drill`: boot a past instant on a private writable
 * overlay, run checks, archive a report.  The machinery (mounts, checks,
 * signals) is in cli/drill_run.c, the manifest in cli/manifest.c, the
 * report and the archive (with --list and --show) in cli/drill_report.c.
 *
 * A drill, in order: resolve TIME to an exact instant here (so "latest" and
 * "-10m" mean one thing for every part of the drill); check the host and
 * the instant against the store's history; mount HOST@@instant with -o rw
 * in a child `cdpfs mount`; open the store read-only in this process, map
 * the instant to its view (seq and the instant of the newest change) and
 * check the mount serves that seq; close the store; run each check; open
 * the store again to write the manifest of the tree (the base of the
 * overlay, which never changes); unmount (the private overlay goes with it;
 * --keep names it drill-ID instead); write the report.
 *
 * "Database answering" is the first instant a check printed a line starting
 * CDPFS-ANSWERING; when no check prints one, the end of the last check,
 * provided every check passed; never when one failed without printing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "audit.h"
#include "fs/fs.h"
#include "store.h"

#ifndef CDP_PLANDIR
#define CDP_PLANDIR "/etc/cdpfs/drills.d"
#endif

#ifndef CDP_CHECKDIR
#define CDP_CHECKDIR "/usr/local/share/cdpfs/checks"
#endif

enum {
	OPT_CHECK = 256,
	OPT_TIMEOUT,
	OPT_KEEP,
	OPT_LIST,
	OPT_SHOW,
	OPT_HOST,
	OPT_EXPECT,
	OPT_HTML,
	OPT_EXPORT,
	OPT_SINCE,
	OPT_FORMAT,
	OPT_VERIFY,
	OPT_PLAN,
	OPT_PLAN_FILE,
	OPT_PLANS,
	OPT_PLANS_DIR,
	OPT_PRECHECK,
	OPT_IF_DUE,
};

static int stop_requested(void)
{
	return drill_interrupted() != 0;
}

/*
 * Opens the store read-only (closed again before returning: nothing forks
 * while it is open).  walk 0: maps the instant to its seq and newest change
 * (for the checks' environment) and checks the mount serves that seq.
 * walk 1: writes the manifest of that seq.  The walk runs after the checks, so that its time
 * (it grows with the size of the tree) is not counted before the database
 * answers; it describes the same bytes either way, since the base of the
 * overlay is the view at one seq, which never changes.
 */
static int drill_manifest(struct drill *d, uint64_t mount_seq, int walk, char *err,
			  size_t errlen)
{
	struct cdp_store *s = NULL;
	struct cdp_view *v = NULL;
	uint8_t sha[CDP_HASH_BYTES];
	uint64_t root = CDP_ROOT_FID;
	char *path = cli_path_join(d->dir_path, "manifest");
	FILE *f = NULL;
	int ret;

	ret = cli_store_open(d->store, &s, err, errlen);
	if (ret < 0)
		goto out;
	ret = cdp_view_open(s, d->host, d->requested_ns, &v);
	if (ret < 0) {
		cdp_errf(err, errlen, "cannot open host '%s' at the drill's instant: %s", d->host,
			 cdp_strerror(ret));
		goto out;
	}
	d->seq = cdp_view_seq(v);
	d->view_ts_ns = cdp_view_ts(v);
	if (mount_seq && mount_seq != d->seq) {
		cdp_errf(err, errlen, "the mount serves seq %llu but the instant maps to seq %llu",
			 (unsigned long long)mount_seq, (unsigned long long)d->seq);
		ret = -EIO;
		goto out;
	}
	if (!walk)
		goto out;
	d->manifest_start_ns = cdp_now_ns();
	if (d->dir && (ret = cdp_view_resolve(v, d->dir, &root)) < 0) {
		cdp_errf(err, errlen, "cannot resolve '%s' on host '%s': %s", d->dir, d->host,
			 cdp_strerror(ret));
		goto out;
	}
	f = fopen(path, "we");
	if (!f) {
		ret = -errno;
		cdp_errf(err, errlen, "cannot write '%s': %s", path, strerror(-ret));
		goto out;
	}
	ret = cli_manifest_write(v, root, cdp_store_block_size(s), f, sha, &d->manifest_entries,
				 stop_requested);
	if (ret == 0 && fsync(fileno(f)) < 0)
		ret = -errno;
	if (ret < 0) {
		if (ret != -EINTR)
			cdp_errf(err, errlen, "cannot write the manifest '%s': %s", path,
				 cdp_strerror(ret));
		goto out;
	}
	cli_hash_hex(sha, d->manifest_hex);
	d->manifest_end_ns = cdp_now_ns();
out:
	if (f && fclose(f) != 0 && ret == 0)
		ret = -errno;
	cdp_view_free(v);
	cdp_store_close(s);
	free(path);
	return ret;
}

/* Names the files of re->fids by their paths in the drilled tree (the
 * base at the drill's seq), walking it until each is found. */
struct name_walk {
	struct cdp_view *v;
	struct drill_read_errors *re;
	char path[PATH_MAX];
	size_t found;
	int depth;
};

static int name_walk_fn(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct name_walk *w = arg;
	size_t len = strlen(w->path), i, n;
	int ret = 0;

	if (len + 1 + strlen(name) + 1 > sizeof(w->path))
		return 0;
	snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len == 1 ? "" : "/", name);
	for (i = 0; i < w->re->nfids; i++) {
		if (w->re->fids[i] != fid)
			continue;
		n = strlen(w->re->paths);
		snprintf(w->re->paths + n, sizeof(w->re->paths) - n, "%s%s",
			 n ? "\t" : "", w->path);
		w->found++;
	}
	if (S_ISDIR(type) && w->found < w->re->nfids && w->depth < 128) {
		w->depth++;
		ret = cdp_view_readdir(w->v, fid, NULL, name_walk_fn, w);
		w->depth--;
	}
	w->path[len] = '\0';
	(void)ret;   /* an unreadable directory: its files stay unnamed */
	return w->found >= w->re->nfids;
}

static void read_error_paths(struct drill *d)
{
	struct drill_read_errors *re = &d->read_errors;
	struct cdp_store *s = NULL;
	struct name_walk w;
	uint64_t root = CDP_ROOT_FID;
	char err[512];

	if (!re->nfids || !d->seq || cli_store_open(d->store, &s, err, sizeof(err)) < 0)
		return;
	memset(&w, 0, sizeof(w));
	w.re = re;
	strcpy(w.path, "/");
	if (cdp_view_open_seq(s, d->host, d->view_ts_ns, d->seq, &w.v) == 0 &&
	    (!d->dir || cdp_view_resolve(w.v, d->dir, &root) == 0))
		cdp_view_readdir(w.v, root, NULL, name_walk_fn, &w);
	cdp_view_free(w.v);
	cdp_store_close(s);
}

static void make_id(struct drill *d)
{
	time_t t = (time_t)(d->started_ns / 1000000000);
	unsigned char rnd[2] = { 0, 0 };
	char stamp[32];
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rnd[0] = (unsigned char)getpid();
		rnd[1] = (unsigned char)(d->started_ns >> 10);
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(d->id, sizeof(d->id), "%s-%s-%02x%02x", stamp, d->host, rnd[0], rnd[1]);
}

/* Records in d whether ts_ns lies where the drilled directory (or, for a
 * whole host, any of its directories) was not being captured. */
static void note_gap(struct drill *d, const struct cdp_host_info *h, int64_t ts_ns)
{
	size_t r, g;

	for (r = 0; r < h->nroots && !d->in_gap; r++) {
		const struct cdp_root_info *ri = &h->roots[r];

		if (d->dir && strcmp(ri->path, d->dir) != 0 &&
		    !(strncmp(d->dir, ri->path, strlen(ri->path)) == 0 &&
		      d->dir[strlen(ri->path)] == '/'))
			continue;
		for (g = 0; g < ri->ngaps && !d->in_gap; g++)
			if (ts_ns >= ri->gaps[g].from_ts_ns && ts_ns < ri->gaps[g].to_ts_ns) {
				d->in_gap = 1;
				d->gap_from_ns = ri->gaps[g].from_ts_ns;
				d->gap_to_ns = ri->gaps[g].to_ts_ns;
			}
		if (!d->in_gap && !ri->active && ri->session_end_ts_ns &&
		    ts_ns > ri->session_end_ts_ns) {
			d->in_gap = 1;
			d->gap_from_ns = ri->session_end_ts_ns;
			d->gap_to_ns = 0;
		}
		if (d->in_gap)
			snprintf(d->gap_dir, sizeof(d->gap_dir), "%s", ri->path);
	}
}

/* The program a check's command starts: its first word, or NULL for
 * shell syntax (builtins, assignments, subshells) that needs nothing. */
static const char *const shell_words[] = {
	"echo", "printf", "test", "[", "true", "false", ":", "cd", "exec", ".", "set",
	"export", "if", "for", "while", "case", "{", "(", "!", "sleep", "read", "exit",
	"eval", "trap", "wait", "kill", "command", "unset", NULL,
};

static void check_program(const char *cmd, char *prog, size_t size, int *builtin)
{
	size_t len, i;

	cmd += strspn(cmd, " \t\n");
	len = strcspn(cmd, " \t\n;&|<>()");
	if (len == 0)
		len = 1;
	snprintf(prog, size, "%.*s", (int)len, cmd);
	*builtin = memchr(prog, '=', strlen(prog)) != NULL || prog[0] == '$' || prog[0] == '"' ||
		   prog[0] == '\'';
	for (i = 0; shell_words[i] && !*builtin; i++)
		*builtin = strcmp(prog, shell_words[i]) == 0;
}

/* 1 when prog (a path, or a name looked up in $PATH) is an executable file. */
static int program_found(const char *prog, char *found, size_t size)
{
	const char *path = getenv("PATH"), *p;
	struct stat st;

	if (strchr(prog, '/')) {
		snprintf(found, size, "%s", prog);
		return stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0;
	}
	for (p = path ? path : "/usr/bin:/bin"; p && *p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
		size_t len = strcspn(p, ":");

		snprintf(found, size, "%.*s/%s", (int)len, p, prog);
		if (stat(found, &st) == 0 && S_ISREG(st.st_mode) && access(found, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* The pre-drill checks of the checks themselves and of the room for the
 * overlay (STORE/overlays: the store's filesystem).  Returns how many
 * would block the drill. */
static int assess_checks_space(struct drill *d)
{
	char prog[PATH_MAX], found[PATH_MAX + 64], name[32];
	struct statvfs vfs;
	int blocking = 0, builtin;
	size_t i;

	for (i = 0; i < d->nchecks; i++) {
		snprintf(name, sizeof(name), "check %zu", i + 1);
		check_program(d->checks[i].command, prog, sizeof(prog), &builtin);
		if (builtin)
			drill_assess_add(d->pre, &d->npre, name, "ok", "shell command (starts with '%s')",
					 prog);
		else if (program_found(prog, found, sizeof(found)))
			drill_assess_add(d->pre, &d->npre, name, "ok", "'%s' is executable", found);
		else {
			drill_assess_add(d->pre, &d->npre, name, "failed", "'%s' is not an executable "
					 "program (not found%s)", prog, strchr(prog, '/') ? "" :
					 " in $PATH");
			blocking++;
		}
	}
	if (statvfs(d->store, &vfs) == 0) {
		unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
		const char *res = avail < 64ULL << 20 ? "failed" :
				  avail < 1ULL << 30 ? "warning" : "ok";

		drill_assess_add(d->pre, &d->npre, "room for the overlay", res, "%.1f GiB free in the "
				 "store's filesystem (the overlay writes there)%s",
				 (double)avail / (1 << 30), avail < 64ULL << 20 ? ": below 64 MiB" :
				 avail < 1ULL << 30 ? ": below 1 GiB" : "");
		blocking += avail < 64ULL << 20;
	}
	return blocking;
}

/*
 * The pre-drill checks that need the store's history: the host exists and
 * the instant is in its history and captured.  The store is closed again
 * before anything forks.  Returns 0, or -1 with the blocking problem's
 * line in msg (the checks so far are in d->pre either way).
 */
static int assess_history(struct drill *d, int64_t ts_ns, char *msg, size_t msglen)
{
	struct cdp_host_info *hosts = NULL, *h = NULL;
	struct cdp_store *s = NULL;
	char list[1024] = "", when[64], first[64], through[64];
	size_t n = 0, i, used = 0;
	int ret;

	msg[0] = '\0';
	if (cli_store_open(d->store, &s, msg, msglen) < 0) {
		drill_assess_add(d->pre, &d->npre, "store", "failed", "%s", msg);
		return -1;
	}
	drill_assess_add(d->pre, &d->npre, "store", "ok", "'%s' opened read-only", d->store);
	ret = cdp_store_hosts(s, &hosts, &n);
	if (ret < 0) {
		snprintf(msg, msglen, "cannot list hosts of store '%s': %s", d->store,
			 cdp_strerror(ret));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(hosts[i].name, d->host) == 0)
			h = &hosts[i];
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? ", " : "", hosts[i].name);
	}
	if (!h) {
		snprintf(msg, msglen, "no capture of host '%s' in store '%s' (hosts: %s)",
			 d->host, d->store, n ? list : "none yet");
		goto out;
	}
	cdp_time_format(ts_ns, when, sizeof(when));
	cdp_time_format(h->first_ts_ns, first, sizeof(first));
	cdp_time_format(h->complete_ts_ns, through, sizeof(through));
	if (h->first_ts_ns == 0) {
		snprintf(msg, msglen, "host '%s' has no complete baseline yet in store '%s'",
			 d->host, d->store);
		goto out;
	}
	drill_assess_add(d->pre, &d->npre, "host", "ok", "'%s' captured since %s", d->host, first);
	if (ts_ns < h->first_ts_ns)
		snprintf(msg, msglen, "instant %s is before the history of host '%s', which "
			 "starts at %s", when, d->host, first);
	else if (ts_ns > cdp_now_ns() + 1000000000LL)
		snprintf(msg, msglen, "instant %s is in the future (history of host '%s' "
			 "ends now)", when, d->host);
	if (msg[0])
		goto out;
	if (h->complete_ts_ns > 0 && ts_ns > h->complete_ts_ns)
		drill_assess_add(d->pre, &d->npre, "instant", "warning", "%s is past what is "
				 "complete (%s): the mount waits for the capture daemon to pass it",
				 when, through);
	else
		drill_assess_add(d->pre, &d->npre, "instant", "ok", "%s is in the history, "
				 "complete through %s", when, through);
	note_gap(d, h, ts_ns);
	if (d->in_gap)
		drill_assess_add(d->pre, &d->npre, "capture at the instant", "warning", "'%s' was "
				 "not being captured at the instant: the tree is as last captured "
				 "before it", d->gap_dir);
	else
		drill_assess_add(d->pre, &d->npre, "capture at the instant", "ok", "captured");
out:
	/* closed before any exit: RocksDB must not outlive its statics */
	cdp_host_info_free(hosts, n);
	cdp_store_close(s);
	if (msg[0]) {
		drill_assess_add(d->pre, &d->npre, h ? "instant" : "host", "failed", "%s", msg);
		return -1;
	}
	return 0;
}

/* A drill's step from the end of the step before (the drill's start for
 * the first) to end_ns. */
static void step_to(struct drill *d, const char *name, int64_t end_ns)
{
	size_t i;
	int64_t start = d->started_ns;

	for (i = d->nsteps; i > 0; i--)
		if (!d->steps[i - 1].check) {
			start = d->steps[i - 1].end_ns;
			break;
		}
	drill_step_add(d, name, 0, start, end_ns);
}

/* Check n's step and those it announced with CDPFS-STEP lines. */
static void check_steps(struct drill *d, size_t n)
{
	const struct drill_check_result *r = &d->checks[n - 1].r;
	char name[96];
	size_t k;

	snprintf(name, sizeof(name), "check %zu", n);
	step_to(d, name, r->end_ns);
	for (k = 0; k < r->nsteps; k++) {
		int64_t end = k + 1 < r->nsteps ? r->steps[k + 1].start_ns : r->end_ns;

		snprintf(name, sizeof(name), "check %zu: %s", n, r->steps[k].name);
		drill_step_add(d, name, n, r->steps[k].start_ns, end);
	}
}

/*
 * The drill's start goes into the audit trail at once: a drill killed
 * before its report (kill -9, a power cut) is a start without an end
 * there.  The record of its end is written with the reports
 * (drill_report_archive); until then the pending record (cli_audit) names
 * the drill, so that a die() on the way is recorded with its line.
 */
static void record_start(struct drill *d)
{
	char *args, at[48];
	int ret;

	cli_format_at(d->requested_ns, at, sizeof(at));
	args = cli_strfmt("id=%s plan=%s host=%s%s%s requested=%s time_asked=%s checks=%zu", d->id,
			  d->plan ? d->plan : "-", d->host, d->dir ? " dir=" : "", d->dir ? d->dir : "",
			  at, d->time_text, d->nchecks);
	ret = cdp_audit_record(d->store, "drill-start", args, "started");
	if (ret < 0)
		fprintf(stderr, "cdpfs: warning: cannot record the start of drill %s in the audit "
			"trail of '%s': %s\n", d->id, d->store, cdp_strerror(ret));
	/* the pending refusal record becomes this drill's */
	cli_audit_cancel();
	cli_audit(d->store, "drill", "id=%s plan=%s", d->id, d->plan ? d->plan : "-");
	free(args);
}

/* What the drill's end shows: read errors, the unmount, the manifest. */
static void post_checks(struct drill *d)
{
	const struct drill_read_errors *re = &d->read_errors;

	if (!d->mounted_ns) {
		drill_assess_add(d->post, &d->npost, "mount", "failed", "nothing was mounted");
		return;
	}
	if (re->count)
		drill_assess_add(d->post, &d->npost, "store read errors", "failed", "%llu; first: "
				 "%s; files: %s", (unsigned long long)re->count,
				 re->first[0] ? re->first : "EIO", re->paths[0] ? re->paths : "not named");
	else
		drill_assess_add(d->post, &d->npost, "store read errors", "ok", "none: every byte "
				 "the checks read was good");
	if (d->unmount_error[0])
		drill_assess_add(d->post, &d->npost, "unmount", "failed", "%s", d->unmount_error);
	else
		drill_assess_add(d->post, &d->npost, "unmount", "ok", "unmounted; %s", d->keep ?
				 "the overlay was kept" : "the private overlay was discarded");
	if (d->manifest_hex[0])
		drill_assess_add(d->post, &d->npost, "manifest", "ok", "%llu entries, SHA-256 %s",
				 (unsigned long long)d->manifest_entries, d->manifest_hex);
	else
		drill_assess_add(d->post, &d->npost, "manifest", "failed", "not written");
}

static int run_drill(struct drill *d, int json)
{
	struct drill_mount m;
	char err[1024], at[48], req_at[48], seqbuf[32], *extra[8], **envp;
	char *mountlog, *drills;
	size_t i;
	int ret, sig, failed = 0;

	drills = cli_path_join(d->store, "drills");
	if (mkdir(drills, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", drills, strerror(errno));
	d->dir_path = cli_path_join(drills, d->id);
	free(drills);
	if (mkdir(d->dir_path, 0755) < 0)
		die("cannot create '%s': %s", d->dir_path, strerror(errno));
	record_start(d);
	if (d->keep) {
		/* overlay names are at most 64 bytes: a long host name is left out */
		snprintf(d->overlay, sizeof(d->overlay), "drill-%s", d->id);
		if (strlen(d->overlay) > 64)
			snprintf(d->overlay, sizeof(d->overlay), "drill-%.16s%s", d->id,
				 d->id + strlen(d->id) - 5);
	}
	drill_signals_install();
	if (!json)
		printf("drill %s: mounting %s%s%s as of %s (private overlay%s%s)\n", d->id,
		       d->host, d->dir ? ":" : "", d->dir ? d->dir : "", d->time_text,
		       d->keep ? ", kept as " : "", d->keep ? d->overlay : "");
	fflush(stdout);

	mountlog = cli_path_join(d->dir_path, "mount.log");
	err[0] = '\0';
	step_to(d, "pre-drill checks", cdp_now_ns());
	ret = drill_mount_open(&m, d->store, d->host, d->dir, d->requested_ns,
			       d->keep ? d->overlay : NULL, mountlog, err, sizeof(err));
	free(mountlog);
	snprintf(d->mountpoint, sizeof(d->mountpoint), "%s", m.mountpoint);
	d->mounted_ns = cdp_now_ns();
	step_to(d, "mount", d->mounted_ns);
	if (ret < 0) {
		d->mounted_ns = 0;
		snprintf(d->error, sizeof(d->error), "%s", err);
		d->result = "error";
		goto out_report;
	}
	if (!drill_interrupted()) {
		ret = drill_manifest(d, m.seq, 0, err, sizeof(err));
		if (ret < 0 && ret != -EINTR) {
			snprintf(d->error, sizeof(d->error), "%s", err);
			d->result = "error";
			goto out_unmount;
		}
	}
	if (!json && d->seq) {
		char age[32];

		cdp_time_format(d->view_ts_ns, err, sizeof(err));
		cli_format_seconds(d->requested_ns - d->view_ts_ns, age, sizeof(age));
		printf("mounted on %s: newest change %s (seq %llu, %s before the instant)\n",
		       m.mountpoint, err, (unsigned long long)d->seq, age);
		if (d->in_gap)
			printf("warning: '%s' was not being captured at the instant: the tree is "
			       "as last captured before it\n", d->gap_dir);
		fflush(stdout);
	}

	cli_format_at(d->view_ts_ns, at, sizeof(at));
	cli_format_at(d->requested_ns, req_at, sizeof(req_at));
	snprintf(seqbuf, sizeof(seqbuf), "%llu", (unsigned long long)d->seq);
	extra[0] = cli_strfmt("CDPFS_ROOT=%s", m.mountpoint);
	extra[1] = cli_strfmt("CDPFS_HOST=%s", d->host);
	extra[2] = cli_strfmt("CDPFS_TIME=%s", at);
	extra[3] = cli_strfmt("CDPFS_REQUESTED_TIME=%s", req_at);
	extra[4] = cli_strfmt("CDPFS_SEQ=%s", seqbuf);
	extra[5] = cli_strfmt("CDPFS_DRILL_ID=%s", d->id);
	extra[6] = cli_strfmt("CDPFS_DRILL_DIR=%s", d->dir_path);
	extra[7] = NULL;
	envp = drill_environ(extra);
	if (!envp)
		die("out of memory");
	step_to(d, "instant check", cdp_now_ns());
	for (i = 0; i < d->nchecks && !drill_interrupted(); i++) {
		struct check_run *c = &d->checks[i];
		char *log, dur[32];

		snprintf(c->log_name, sizeof(c->log_name), "check-%zu.log", i + 1);
		log = cli_path_join(d->dir_path, c->log_name);
		ret = drill_run_check(c->command, envp, log, d->timeout_ns, &c->r);
		d->ran = i + 1;
		c->tail = drill_file_tail(log, DRILL_TAIL_LINES);
		free(log);
		if (ret < 0 && c->r.end == DRILL_CHECK_NOT_RUN) {
			snprintf(d->error, sizeof(d->error), "cannot run check %zu: %s", i + 1,
				 strerror(-ret));
			failed = 1;
			break;
		}
		c->passed = drill_check_passed(c);
		failed |= !c->passed;
		check_steps(d, i + 1);
		if (c->r.answering_ns && !d->answering_ns) {
			d->answering_ns = c->r.answering_ns;
			d->answering_by = "line " DRILL_ANSWERING_LINE " printed by a check";
			d->answering_check = i + 1;
		}
		if (!json) {
			cli_format_seconds(c->r.end_ns - c->r.start_ns, dur, sizeof(dur));
			printf("check %zu: %s (exit %d, %s): %s\n", i + 1, drill_check_result(c),
			       c->r.status, dur, c->command);
			if (c->expect && c->r.end == DRILL_CHECK_EXITED && c->r.status == 0 &&
			    !c->passed)
				printf("check %zu answered '%s', expected '%s'\n", i + 1, c->r.answer,
				       c->expect);
			fflush(stdout);
		}
	}
	if (!failed && !d->answering_ns && d->ran == d->nchecks && d->nchecks &&
	    !drill_interrupted()) {
		d->answering_ns = d->checks[d->nchecks - 1].r.end_ns;
		d->answering_by = "end of the last check, all passed";
	}
	free(envp);
	for (i = 0; extra[i]; i++)
		free(extra[i]);
	if (!drill_interrupted()) {
		ret = drill_manifest(d, m.seq, 1, err, sizeof(err));
		if (ret < 0 && ret != -EINTR) {
			snprintf(d->error, sizeof(d->error), "%s", err);
			d->result = "error";
			goto out_unmount;
		}
		step_to(d, "manifest", cdp_now_ns());
		if (!json && d->manifest_hex[0]) {
			printf("manifest of the tested base %s (%llu entries)\n", d->manifest_hex,
			       (unsigned long long)d->manifest_entries);
			fflush(stdout);
		}
	}
	d->result = drill_interrupted() ? "interrupted" : failed ? "fail" : "pass";

out_unmount:
	err[0] = '\0';
	ret = drill_mount_close(&m, err, sizeof(err));
	step_to(d, "unmount", cdp_now_ns());
	if (ret < 0) {
		snprintf(d->unmount_error, sizeof(d->unmount_error), "%s", err);
		/* something outlived the checks on the copy: not a clean drill,
		 * and never a "last verified" */
		if (strcmp(d->result, "pass") == 0)
			d->result = "error";
		if (!d->error[0])
			snprintf(d->error, sizeof(d->error), "unmount: %s", err);
	}
	/* a drill is evidence only if every byte it read was good */
	mountlog = cli_path_join(d->dir_path, "mount.log");
	drill_read_errors_scan(mountlog, &d->read_errors);
	free(mountlog);
	if (d->read_errors.count) {
		read_error_paths(d);
		if (strcmp(d->result, "pass") == 0)
			d->result = "fail";
		if (!d->error[0])
			snprintf(d->error, sizeof(d->error), "store read errors: %llu (first: %s)",
				 (unsigned long long)d->read_errors.count,
				 d->read_errors.first[0] ? d->read_errors.first : "EIO");
		if (!json)
			printf("store read errors: %llu during the drill (first: %s)\n",
			       (unsigned long long)d->read_errors.count,
			       d->read_errors.first[0] ? d->read_errors.first : "EIO");
	}
out_report:
	post_checks(d);
	d->finished_ns = cdp_now_ns();
	step_to(d, "post-drill checks", d->finished_ns);
	if (drill_interrupted() && strcmp(d->result, "error") != 0)
		d->result = "interrupted";
	drill_conclude(d);
	{
		char *md_path = cli_path_join(d->dir_path, "report.md");
		char audit_err[1024];

		ret = drill_report_archive(d, audit_err, sizeof(audit_err));
		if (ret < 0)
			die("cannot write the report of drill %s in '%s': %s", d->id, d->dir_path,
			    strerror(-ret));
		if (audit_err[0])
			fprintf(stderr, "cdpfs: warning: %s\n", audit_err);
		else
			cli_audit_cancel();
		if (json) {
			drill_report_json(d, stdout);
		} else {
			printf("result: %s; report: %s\n", d->result, md_path);
			if (d->keep && d->mounted_ns)
				printf("overlay kept as '%s' (cdpfs mount -o rw,overlay=%s ...; "
				       "cdpfs overlay rm %s)\n", d->overlay, d->overlay, d->overlay);
		}
		fflush(stdout);
		free(md_path);
	}
	sig = drill_interrupted();
	if (sig) {
		fprintf(stderr, "cdpfs: drill %s interrupted by %s (unmounted; report in '%s')\n",
			d->id, drill_signal_name(sig), d->dir_path);
		exit(128 + sig);
	}
	if (d->unmount_error[0])
		die("drill %s: %s (report in '%s')", d->id, d->unmount_error, d->dir_path);
	if (strcmp(d->result, "error") == 0)
		die("drill %s: %s (report in '%s')", d->id, d->error, d->dir_path);
	if (strcmp(d->result, "fail") == 0) {
		for (i = 0; i < d->ran; i++)
			if (!d->checks[i].passed)
				break;
		die("drill %s failed: check %zu %s (report in '%s')", d->id, i + 1,
		    d->checks[i].r.end == DRILL_CHECK_TIMEOUT ? "timed out" : "failed",
		    d->dir_path);
	}
	return 0;
}

/* ------------------------------------------------------------ plans */

/* Whether a check's program says it answers CDPFS_PRECHECK=1 (a line
 * "# cdpfs-check: precheck" in its first 4 KiB: the ready-made ones). */
static int precheck_aware(const char *prog)
{
	char buf[4097];
	ssize_t n;
	int fd = open(prog, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "# cdpfs-check: precheck") != NULL;
}

/* Each check that answers CDPFS_PRECHECK=1 is asked whether it could run
 * here (its database binaries): one pre-drill line per check.  Returns the
 * number that would block. */
static int precheck_checks(struct drill *d, const char *tmpdir)
{
	char prog[PATH_MAX], found[PATH_MAX + 64], name[48], *log, **envp;
	char *extra[] = { (char *)"CDPFS_PRECHECK=1", NULL };
	struct drill_check_result r;
	int blocking = 0, builtin;
	size_t i;

	envp = drill_environ(extra);
	if (!envp)
		die("out of memory");
	log = cli_strfmt("%s/precheck.log", tmpdir);
	for (i = 0; i < d->nchecks; i++) {
		char *tail;

		check_program(d->checks[i].command, prog, sizeof(prog), &builtin);
		if (builtin || !program_found(prog, found, sizeof(found)) || !precheck_aware(found))
			continue;
		snprintf(name, sizeof(name), "check %zu can run", i + 1);
		if (drill_run_check(d->checks[i].command, envp, log, 20000000000LL, &r) < 0) {
			drill_assess_add(d->pre, &d->npre, name, "failed", "cannot run its precheck");
			blocking++;
			continue;
		}
		tail = drill_file_tail(log, 1);
		if (tail)
			tail[strcspn(tail, "\n")] = '\0';
		if (r.end == DRILL_CHECK_EXITED && r.status == 0) {
			drill_assess_add(d->pre, &d->npre, name, "ok", "%s", tail && *tail ? tail :
					 "its precheck passed");
		} else {
			drill_assess_add(d->pre, &d->npre, name, "failed", "%s", tail && *tail ? tail :
					 "its precheck failed");
			blocking++;
		}
		free(tail);
	}
	unlink(log);
	free(log);
	free(envp);
	return blocking;
}

static void print_precheck(const struct drill *d, int json, int blocking)
{
	size_t i;

	if (json) {
		fputs("{\"plan\": ", stdout);
		cli_json_string(stdout, d->plan);
		fputs(", \"host\": ", stdout);
		cli_json_string(stdout, d->host);
		fputs(", \"instant\": ", stdout);
		cli_json_string(stdout, d->time_text);
		fprintf(stdout, ", \"blocking\": %d, \"checks\": [", blocking);
		for (i = 0; i < d->npre; i++) {
			fprintf(stdout, "%s\n  {\"name\": ", i ? "," : "");
			cli_json_string(stdout, d->pre[i].name);
			fprintf(stdout, ", \"result\": \"%s\", \"detail\": ", d->pre[i].result);
			cli_json_string(stdout, d->pre[i].detail);
			fputs("}", stdout);
		}
		fputs(d->npre ? "\n]}\n" : "]}\n", stdout);
		return;
	}
	printf("precheck of plan %s (%s%s%s@%s):\n", d->plan, d->host, d->dir ? ":" : "",
	       d->dir ? d->dir : "", d->time_text);
	for (i = 0; i < d->npre; i++)
		printf("  %-8s %-24s %s\n", d->pre[i].result, d->pre[i].name, d->pre[i].detail);
	if (blocking)
		printf("%d problem(s) would block the drill\n", blocking);
	else
		printf("the drill can run\n");
}

/*
 * --plan NAME / --plan-file FILE: the drill a plan describes, or its
 * precheck, or (--if-due) nothing when its period says it is not due.
 * timeout_ns -1: the plan's; keep: --keep.
 */
/* A drill that may run: its instant must lie in the history (else one
 * line and exit 1), its checks get their space, it gets its id, and it
 * runs.  run_drill()'s answer; the checks' tails are freed. */
static int drill_go(struct drill *d, int json)
{
	char err[1024];
	size_t i;
	int ret;

	err[0] = '\0';
	if (assess_history(d, d->requested_ns, err, sizeof(err)) < 0)
		die_line(err);
	assess_checks_space(d);
	make_id(d);
	ret = run_drill(d, json);
	for (i = 0; i < d->nchecks; i++)
		free(d->checks[i].tail);
	return ret;
}

static int run_plan(struct cli_ctx *ctx, const char *name, const char *file,
		    const char *plans_dir, struct drill_plan *p, int precheck, int if_due,
		    int64_t timeout_ns, int keep)
{
	char path[PATH_MAX + 80], err[1024];
	struct drill d;
	size_t i;
	int ret;

	if (name) {
		const char *dir = drill_plans_dir(plans_dir);

		ret = drill_plan_find(dir, name, path, sizeof(path));
		if (ret == -EINVAL)
			die("bad plan name '%s' (letters, digits, '.', '_', '-')", name);
		if (ret < 0)
			die("no drill plan '%s' in '%s' (see 'cdpfs drill --plans')", name, dir);
		file = path;
	}
	if (drill_plan_load(file, p, err, sizeof(err)) < 0)
		die_line(err);
	memset(&d, 0, sizeof(d));
	if (p->store && !ctx->store_opt && p->store[0] != '/')
		die("plan '%s': store '%s' is not an absolute path", p->file, p->store);
	d.store = p->store && !ctx->store_opt ? p->store : cli_store_path(ctx);
	drill_require_store(d.store);
	d.plan = p->name;
	d.responsible = p->responsible;
	d.host = cli_strfmt("%s", p->host);
	d.dir = p->dir ? cli_strfmt("%s", p->dir) : NULL;
	d.time_text = cli_strfmt("%s", p->instant);
	d.timeout_ns = timeout_ns >= 0 ? timeout_ns : p->timeout_ns;
	d.keep = keep;
	d.checks = calloc(p->nchecks, sizeof(*d.checks));
	if (!d.checks)
		die("out of memory");
	for (i = 0; i < p->nchecks; i++) {
		d.checks[i].command = p->checks[i].command;
		d.checks[i].expect = p->checks[i].expect;
	}
	d.nchecks = p->nchecks;
	if (if_due && !precheck) {
		struct drill_plan_state st;
		char due[64];

		drill_plan_schedule(p, d.store, cdp_now_ns(), &st);
		if (st.known && st.last_run_ns && cdp_now_ns() < st.next_due_ns) {
			cli_time_ms(st.next_due_ns, due, sizeof(due));
			printf("plan %s is not due until %s (last run %s, %s)\n", p->name, due,
			       st.last_run_id, st.last_result);
			goto out;
		}
	}
	d.started_ns = cdp_now_ns();
	d.requested_ns = cli_resolve_time(d.time_text, d.started_ns);
	drill_identity(&d.who);
	if (precheck) {
		const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		int blocking;

		cli_audit(d.store, "drill-precheck", "plan=%s host=%s instant=%s", p->name, d.host,
			  d.time_text);
		blocking = assess_history(&d, d.requested_ns, err, sizeof(err)) < 0;
		blocking += assess_checks_space(&d);
		blocking += precheck_checks(&d, tmp);
		print_precheck(&d, ctx->json, blocking);
		if (blocking)
			cli_audit_result("blocked: %d problem(s)", blocking);
		else
			cli_audit_result("ok: the drill can run");
		fflush(stdout);
		ret = blocking ? 1 : 0;
		goto out_free;
	}
	cli_audit(d.store, "drill", "plan=%s host=%s instant=%s checks=%zu", p->name, d.host,
		  d.time_text, d.nchecks);
	ret = drill_go(&d, ctx->json);
	free(d.dir_path);
	goto out_free;
out:
	ret = 0;
out_free:
	free(d.checks);
	free(d.host);
	free(d.dir);
	free(d.time_text);
	drill_plan_free(p);
	return ret;
}

/* ------------------------------------------------------------ drill */

static const struct cli_option drill_options[] = {
	{ NULL, 0, 0, "HOST@TIME", "or HOST:/DIR@TIME (see cdpfs(8) for TIME)" },
	{ "check", required_argument, OPT_CHECK, "--check CMD",
	  "run CMD with /bin/sh -c, $CDPFS_ROOT the mounted tree,\n"
	  "$CDPFS_HOST, $CDPFS_TIME (the instant mounted); repeatable" },
	{ "expect", required_argument, OPT_EXPECT, "--expect TEXT",
	  "the answer the --check before it must give (its line\n"
	  "CDPFS-ANSWER TEXT, else its last line of output)" },
	{ "timeout", required_argument, OPT_TIMEOUT, "--timeout DUR",
	  "per check, e.g. 90s, 10m, 1h; 0 for none (default 10m)" },
	{ "keep", no_argument, OPT_KEEP, "--keep",
	  "keep the overlay, named drill-ID, instead of discarding it" },
	CLI_OPT_JSON("print the report as JSON (with --list, --show: JSON too)"),
	{ "list", no_argument, OPT_LIST, "--list",
	  "the drills archived in the store, and the last verified\ninstant per host" },
	{ "host", required_argument, OPT_HOST, "--host HOST", "with --list: only this host" },
	{ "show", required_argument, OPT_SHOW, "--show ID",
	  "print a drill's report (Markdown, or JSON with --json)" },
	{ "html", no_argument, OPT_HTML, "--html", "with --show: the HTML page" },
	{ "export", no_argument, OPT_EXPORT, "--export",
	  "the history of drills for a compliance file" },
	{ "since", required_argument, OPT_SINCE, "--since TIME",
	  "with --export: drills started at or after TIME" },
	{ "format", required_argument, OPT_FORMAT, "--format FMT",
	  "with --export: csv (default) or json" },
	{ "plan", required_argument, OPT_PLAN, "--plan NAME",
	  "run the drill plan NAME (PLANS_DIR/NAME.conf)" },
	{ "plan-file", required_argument, OPT_PLAN_FILE, "--plan-file FILE",
	  "run the drill plan in FILE" },
	{ "precheck", no_argument, OPT_PRECHECK, "--precheck",
	  "with a plan: check, without mounting, that it can run" },
	{ "if-due", no_argument, OPT_IF_DUE, "--if-due",
	  "with a plan: run only when its period says so (the timer)" },
	{ "plans", no_argument, OPT_PLANS, "--plans",
	  "the plans with their last run, last pass, next due;\n"
	  "exit 1 when one is overdue" },
	{ "plans-dir", required_argument, OPT_PLANS_DIR, "--plans-dir DIR",
	  "where plans are (default $CDPFS_DRILL_PLANS or\n" CDP_PLANDIR ")" },
	{ "verify", required_argument, OPT_VERIFY, "--verify ID",
	  "whether the archived reports of drill ID are the ones\n"
	  "written (their SHA-256 in the audit trail)" },
	{ NULL, 0, 0, NULL, "Ready-made checks (each with --help): " CDP_CHECKDIR
	  "/postgres, mariadb,\nsqlite, files." },
	{ NULL, 0, 0, NULL,
	  "Exit status: 0 every check passed, 1 a check failed or the drill could not run." },
	CLI_OPT_END
};

static int cmd_drill(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	const char *show = NULL, *host = NULL, *arg, *since = NULL, *format = NULL;
	const char *verify = NULL, *plan_name = NULL, *plan_file = NULL, *plans_dir = NULL;
	int c, list = 0, timeout_given = 0, ret, html = 0, export = 0, plans = 0;
	int precheck = 0, if_due = 0;
	struct drill_plan plan;
	struct drill d;
	char err[1024];

	memset(&d, 0, sizeof(d));
	d.timeout_ns = DRILL_DEFAULT_TIMEOUT_S * 1000000000LL;
	d.checks = calloc((size_t)ctx->argc, sizeof(*d.checks));
	if (!d.checks)
		die("out of memory");
	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_CHECK:
			if (!*arg)
				cli_usage_error(self, "empty --check");
			d.checks[d.nchecks++].command = arg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_duration(arg, &d.timeout_ns) < 0)
				cli_usage_error(self, "bad --timeout '%s' (e.g. 90s, 10m, 1h; 0: none)",
						arg);
			timeout_given = 1;
			break;
		case OPT_KEEP:
			d.keep = 1;
			break;
		case OPT_LIST:
			list = 1;
			break;
		case OPT_SHOW:
			show = arg;
			break;
		case OPT_HOST:
			host = arg;
			break;
		case OPT_EXPECT:
			if (!d.nchecks)
				cli_usage_error(self, "--expect goes after the --check it is for");
			if (d.checks[d.nchecks - 1].expect)
				cli_usage_error(self, "one --expect per --check");
			d.checks[d.nchecks - 1].expect = arg;
			break;
		case OPT_HTML:
			html = 1;
			break;
		case OPT_EXPORT:
			export = 1;
			break;
		case OPT_SINCE:
			since = arg;
			break;
		case OPT_FORMAT:
			format = arg;
			break;
		case OPT_VERIFY:
			verify = arg;
			break;
		case OPT_PLAN:
			plan_name = arg;
			break;
		case OPT_PLAN_FILE:
			plan_file = arg;
			break;
		case OPT_PLANS:
			plans = 1;
			break;
		case OPT_PLANS_DIR:
			plans_dir = arg;
			break;
		case OPT_PRECHECK:
			precheck = 1;
			break;
		case OPT_IF_DUE:
			if_due = 1;
			break;
		}
	}
	if (plan_name && plan_file)
		cli_usage_error(self, "--plan and --plan-file exclude each other");
	if ((precheck || if_due) && !plan_name && !plan_file)
		cli_usage_error(self, "--precheck and --if-due go with --plan or --plan-file");
	if (plans_dir && !plans && !plan_name)
		cli_usage_error(self, "--plans-dir goes with --plans or --plan");
	if (plans) {
		if (ctx->nargs || d.nchecks || plan_name || plan_file || list || show || export ||
		    verify)
			cli_usage_error(self, "--plans takes only --store, --plans-dir and --json");
		free(d.checks);
		return drill_plans_list(drill_plans_dir(plans_dir), ctx->store_opt ?
					cli_store_path(ctx) : NULL, ctx->json);
	}
	if (plan_name || plan_file) {
		if (ctx->nargs)
			cli_usage_error(self, "a plan names its HOST@TIME: no '%s'", ctx->args[0]);
		if (d.nchecks)
			cli_usage_error(self, "a plan names its checks: no --check or --expect");
		if (list || show || export || verify)
			cli_usage_error(self, "--plan runs a drill: no --list, --show, --export, --verify");
		free(d.checks);
		return run_plan(ctx, plan_name, plan_file, plans_dir, &plan, precheck, if_due,
				timeout_given ? d.timeout_ns : -1, d.keep);
	}
	if (list + (show != NULL) + export + (verify != NULL) > 1)
		cli_usage_error(self, "--list, --show, --export and --verify exclude each other");
	if (html && !show)
		cli_usage_error(self, "--html goes with --show");
	if ((since || format) && !export)
		cli_usage_error(self, "--since and --format go with --export");
	if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		cli_usage_error(self, "bad --format '%s' (csv or json)", format);
	if (host && !list)
		cli_usage_error(self, "--host goes with --list");
	if (list || show || export || verify) {
		if (ctx->nargs)
			cli_usage_error(self, "unexpected argument '%s'", ctx->args[0]);
		if (d.nchecks || d.keep || timeout_given)
			cli_usage_error(self, "--check, --keep and --timeout go with HOST@TIME");
		if (html && ctx->json)
			cli_usage_error(self, "--html and --json exclude each other");
		d.store = cli_store_path(ctx);
		drill_require_store(d.store);
		if (list)
			ret = drill_list(d.store, host, ctx->json);
		else if (show)
			ret = drill_show(d.store, show, html ? "html" : ctx->json ? "json" : "md");
		else if (verify)
			ret = drill_verify(d.store, verify);
		else
			ret = drill_export(d.store, since ? cli_resolve_time(since, cdp_now_ns()) : 0,
					   !(format && strcmp(format, "json") == 0) && !ctx->json);
		free(d.checks);
		return ret;
	}
	if (ctx->nargs != 1)
		cli_usage_error(self, ctx->nargs == 0 ? "HOST@TIME needed" : "too many arguments");
	if (!d.nchecks)
		cli_usage_error(self, "at least one --check CMD needed");

	d.store = cli_store_path(ctx);
	drill_require_store(d.store);
	err[0] = '\0';
	if (cdp_fs_parse_spec(ctx->args[0], &d.host, &d.dir, &d.time_text, err, sizeof(err)) < 0)
		die_line(err);
	d.started_ns = cdp_now_ns();
	d.requested_ns = cli_resolve_time(d.time_text, d.started_ns);
	drill_identity(&d.who);
	/* a refusal is recorded too; a drill that ran records its own, fuller,
	 * record with its reports (drill_report_archive) */
	cli_audit(d.store, "drill", "spec=%s checks=%zu", ctx->args[0], d.nchecks);
	/* a typo gets one line and leaves no report behind */
	ret = drill_go(&d, ctx->json);
	free(d.checks);
	free(d.dir_path);
	free(d.host);
	free(d.dir);
	free(d.time_text);
	return ret;
}

const struct cli_cmd cli_cmd_drill = {
	.name = "drill",
	.fn = cmd_drill,
	.usage = "drill [--store DIR] HOST@TIME --check CMD [--check CMD ...] [--timeout DUR]\n"
		 "              [--expect TEXT] [--keep] [--json]\n"
		 "       cdpfs drill [--store DIR] --list [--host HOST] [--json]\n"
		 "       cdpfs drill [--store DIR] --show ID [--json | --html]\n"
		 "       cdpfs drill [--store DIR] --export [--since TIME] [--format csv|json]\n"
		 "       cdpfs drill [--store DIR] --verify ID\n"
		 "       cdpfs drill [--store DIR] (--plan NAME | --plan-file FILE) [--plans-dir DIR]\n"
		 "              [--precheck | --if-due] [--json]\n"
		 "       cdpfs drill [--store DIR] --plans [--plans-dir DIR] [--json]",
	.summary = "boot an instant on a private writable overlay, run checks, archive a report",
	.options = drill_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
