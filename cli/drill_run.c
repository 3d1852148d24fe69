/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drill_run.c - the machinery under `cdpfs drill` and `cdpfs bisect`: a
 * private writable overlay of one instant mounted by a child `cdpfs mount`
 * (so the mount daemon opens RocksDB itself, in a process that never ran
 * ours), checks run by /bin/sh in process groups of their own with a
 * timeout and their output in a log, and the unmount by a child `cdpfs
 * umount`, which waits until the daemon has exited.
 *
 * Caveats.  Between fork() and execve() the children call only
 * async-signal-safe functions: everything they need (argv, envp, file
 * descriptors) is prepared before the fork.  A check that starts a daemon
 * in a session of its own (pg_ctl does) must stop it itself: only its
 * process group is killed.  SIGINT, SIGTERM and SIGHUP of the drill set a
 * flag that every wait here polls.  Also the small helpers both verbs need:
 * the environment of the checks, the store's presence, signal names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"

extern char **environ;

/* ---------------------------------------------------------- signals */

static volatile sig_atomic_t interrupted_by;

static void on_signal(int sig)
{
	interrupted_by = sig;
}

void drill_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;   /* no SA_RESTART: blocking calls see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int drill_interrupted(void)
{
	return (int)interrupted_by;
}

const char *drill_signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&t, NULL);
}

/* ------------------------------------------------------- environment */

char **drill_environ(char *const extra[])
{
	size_t n = 0, k = 0, i, j;
	char **env;

	for (i = 0; environ && environ[i]; i++)
		n++;
	for (j = 0; extra[j]; j++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; environ && environ[i]; i++) {
		int replaced = 0;

		for (j = 0; extra[j] && !replaced; j++) {
			size_t len = strcspn(extra[j], "=");

			replaced = strncmp(environ[i], extra[j], len) == 0 &&
				   environ[i][len] == '=';
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (j = 0; extra[j]; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

/* ------------------------------------------------------------- store */

void drill_require_store(const char *store)
{
	char *format = cli_path_join(store, "FORMAT");
	struct stat st;

	if (stat(format, &st) < 0)
		die("no store at '%s' (capture something first, or name the store with "
		    "--store or CDPFS_STORE)", store);
	free(format);
}

/* ----------------------------------------------------------- children */

/* A child `cdpfs mount` or `cdpfs umount`: stdin from /dev/null, its
 * output in one buffer, in a process group of its own. */
#define CHILD_CDPFS (CLI_RUN_STDOUT | CLI_RUN_STDERR | CLI_RUN_NULL_STDIN | CLI_RUN_OWN_GROUP)

const char *drill_self_exe(void)
{
	static char exe[PATH_MAX];
	ssize_t len;

	if (exe[0])
		return exe;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0 || len >= (ssize_t)sizeof(exe) - 1) {
		snprintf(exe, sizeof(exe), "/proc/self/exe");
		return exe;
	}
	exe[len] = '\0';
	return exe;
}

/* The last line of text starting "cdpfs: ", without it, into err. */
static void child_complaint(const char *text, const char *fallback, char *err, size_t errlen)
{
	const char *p = text, *best = NULL;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "cdpfs: ", 7) == 0)
			best = p + 7;
		if (!strchr(p, '\n'))
			break;
	}
	if (best)
		cdp_errf(err, errlen, "%.*s", (int)strcspn(best, "\n"), best);
	else
		cdp_errf(err, errlen, "%s", fallback);
}

int drill_mount_open(struct drill_mount *m, const char *store, const char *host,
		     const char *dir, int64_t ts_ns, const char *overlay,
		     const char *log, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char opts[2 * PATH_MAX + 256], out[4096], *seq;
	char *argv[10];
	int argc = 0, ret;

	memset(m, 0, sizeof(*m));
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(m->mountpoint, sizeof(m->mountpoint), "%s/cdpfs-drill-XXXXXX", tmp);
	if (!mkdtemp(m->mountpoint)) {
		ret = -errno;
		cdp_errf(err, errlen, "cannot make a mount point in '%s': %s", tmp, strerror(-ret));
		return ret;
	}
	m->dir_made = 1;
	/* An exact instant, so that this process and the mount see one view. */
	snprintf(m->spec, sizeof(m->spec), "%s%s%s@@%lld.%09lld", host, dir ? ":" : "",
		 dir ? dir : "", (long long)(ts_ns / 1000000000),
		 (long long)(ts_ns % 1000000000));
	/* nosuid, nodev: the instant may be one an attacker had written to;
	 * a ',' or '\\' in the log path is escaped for -o (fuse_opt) */
	{
		char esc[2 * PATH_MAX + 1];

		cli_opt_escape(log ? log : "", esc, sizeof(esc));
		snprintf(opts, sizeof(opts), "rw,nosuid,nodev%s%s%s%s",
			 overlay ? ",overlay=" : "", overlay ? overlay : "", log ? ",log=" : "",
			 esc);
	}
	argv[argc++] = (char *)"cdpfs";
	argv[argc++] = (char *)"mount";
	argv[argc++] = (char *)"-v";
	argv[argc++] = (char *)"--store";
	argv[argc++] = (char *)store;
	argv[argc++] = (char *)"-o";
	argv[argc++] = opts;
	argv[argc++] = m->spec;
	argv[argc++] = m->mountpoint;
	argv[argc] = NULL;
	ret = cli_run_collect(drill_self_exe(), argv, NULL, CHILD_CDPFS, out, sizeof(out));
	if (ret < 0) {
		cdp_errf(err, errlen, "cannot run '%s mount': %s", drill_self_exe(),
			 strerror(-ret));
		goto out_rmdir;
	}
	if (ret != 0) {
		child_complaint(out, "the mount failed (no reason given)", err, errlen);
		ret = -EIO;
		goto out_rmdir;
	}
	m->mounted = 1;
	seq = strstr(out, ", seq ");
	if (seq)
		m->seq = strtoull(seq + 6, NULL, 10);
	return 0;

out_rmdir:
	if (cli_is_mount_point(m->mountpoint) == 1) {
		/* A daemon that came up after all (the mount was signalled). */
		m->mounted = 1;
		return 0;
	}
	rmdir(m->mountpoint);
	m->dir_made = 0;
	return ret;
}

int drill_mount_close(struct drill_mount *m, char *err, size_t errlen)
{
	char out[2048];
	char *argv[5];
	int attempt, ret = 0;

	if (m->mounted) {
		for (attempt = 0; attempt < 4; attempt++) {
			int lazy = attempt == 3;

			argv[0] = (char *)"cdpfs";
			argv[1] = (char *)"umount";
			argv[2] = lazy ? (char *)"-z" : m->mountpoint;
			argv[3] = lazy ? m->mountpoint : NULL;
			argv[4] = NULL;
			ret = cli_run_collect(drill_self_exe(), argv, NULL, CHILD_CDPFS, out, sizeof(out));
			if (ret == 0 || cli_is_mount_point(m->mountpoint) == 0) {
				ret = lazy ? -EBUSY : 0;
				break;
			}
			sleep_ms(1000);
		}
		if (ret != 0) {
			child_complaint(out, "the unmount failed (no reason given)", err, errlen);
			if (attempt == 3)
				cdp_errf(err, errlen, "mount point '%s' was busy; detached it lazily "
					 "(the overlay goes once nothing uses it)", m->mountpoint);
			ret = -EBUSY;
		}
		m->mounted = 0;
	}
	if (m->dir_made && rmdir(m->mountpoint) == 0)
		m->dir_made = 0;
	return ret;
}

/* ------------------------------------------------------- read errors */

static int store_error_line(const char *msg)
{
	return strstr(msg, "corrupt chunk") || strstr(msg, "unreadable index") ||
	       strstr(msg, "missing from the index") || strstr(msg, "bad block record") ||
	       strstr(msg, "bad chunk index record") || strncmp(msg, "overlay index:", 14) == 0;
}

void drill_read_errors_scan(const char *path, struct drill_read_errors *re)
{
	char line[4096], *msg, *files, *end;
	uint64_t lines = 0, summary = 0;
	int have_summary = 0;
	FILE *f;

	memset(re, 0, sizeof(*re));
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		msg = strstr(line, "cdpfs: ");
		if (!msg)
			continue;
		msg += 7;
		if (strncmp(msg, "store read errors: ", 19) == 0) {
			have_summary = 1;
			summary += strtoull(msg + 19, NULL, 10);
			files = strstr(msg, "files: ");
			for (files = files ? files + 7 : NULL; files && *files;) {
				uint64_t fid = strtoull(files, &end, 10);

				if (end == files)
					break;
				if (re->nfids < DRILL_READ_ERROR_FIDS)
					re->fids[re->nfids++] = fid;
				files = end;
				while (*files == ' ')
					files++;
			}
		} else if (store_error_line(msg)) {
			lines++;
			if (!re->first[0])
				snprintf(re->first, sizeof(re->first), "%s", msg);
		}
	}
	fclose(f);
	re->count = have_summary ? summary : lines;
}

/* ------------------------------------------------------------ checks */

/*
 * Whether a process of group pgid is still running.  Not kill(-pgid, 0): a
 * zombie is a member until its parent reaps it, and an orphan's new parent
 * (init in a container) may take its time.
 */
static int group_alive(pid_t pgid)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int alive = 0;

	if (!proc)
		return kill(-pgid, 0) == 0;
	while (!alive && (e = readdir(proc))) {
		pid_t pgrp = 0;
		char state;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (cli_proc_stat((pid_t)strtol(e->d_name, NULL, 10), &state, &pgrp) == 0)
			alive = pgrp == pgid && state != 'Z' && state != 'X';
	}
	closedir(proc);
	return alive;
}

/*
 * Kills the group: SIGTERM, then SIGKILL after grace_ms if it lingers.  The
 * group's leader, our child, is reaped on the way (a zombie still counts as
 * a member): *reaped and *status tell.
 */
/* SIGTERM to SIGKILL: long enough for a check's own clean-up (the postgres
 * check's fast, then immediate, shutdown of its server takes up to 30 s). */
#define DRILL_KILL_GRACE_MS 45000L

static void kill_group(pid_t pgid, long grace_ms, int *status, int *reaped)
{
	long waited;

	if (kill(-pgid, SIGTERM) < 0)
		return;
	for (waited = 0; waited < grace_ms; waited += 50) {
		if (!*reaped && waitpid(pgid, status, WNOHANG) == pgid)
			*reaped = 1;
		if (*reaped && !group_alive(pgid))
			return;
		sleep_ms(50);
	}
	kill(-pgid, SIGKILL);
}

struct line_scan {
	char buf[600];
	size_t len;
};

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* text after a marker's prefix, without leading and trailing blanks */
static void marker_text(const char *text, char *out, size_t size)
{
	size_t len;

	text += strspn(text, " \t");
	len = strlen(text);
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r'))
		len--;
	snprintf(out, size, "%.*s", (int)len, text);
}

void drill_check_line(struct drill_check_result *r, const char *line, int64_t now_ns)
{
	if (has_prefix(line, DRILL_ANSWERING_LINE) &&
	    (line[sizeof(DRILL_ANSWERING_LINE) - 1] == '\0' ||
	     line[sizeof(DRILL_ANSWERING_LINE) - 1] == ' ' ||
	     line[sizeof(DRILL_ANSWERING_LINE) - 1] == '\r')) {
		if (!r->answering_ns)
			r->answering_ns = now_ns;
	} else if (has_prefix(line, DRILL_STEP_LINE)) {
		if (r->nsteps < DRILL_CHECK_STEPS) {
			struct drill_check_step *st = &r->steps[r->nsteps++];
			char *at;

			marker_text(line + strlen(DRILL_STEP_LINE), st->name, sizeof(st->name));
			st->start_ns = now_ns;
			/* "NAME @SECONDS.NANOS": the step began then (a check that
			 * learns it afterwards, from a server's log) */
			at = strrchr(st->name, '@');
			if (at && at > st->name && at[-1] == ' ' && at[1] >= '0' && at[1] <= '9') {
				int64_t ts;

				if (cdp_time_parse(at, now_ns, &ts) == 0 && ts <= now_ns) {
					st->start_ns = ts;
					at[-1] = '\0';
				}
			}
		}
	} else if (has_prefix(line, DRILL_VERSION_LINE)) {
		marker_text(line + strlen(DRILL_VERSION_LINE), r->version, sizeof(r->version));
	} else if (has_prefix(line, DRILL_ANSWER_LINE)) {
		marker_text(line + strlen(DRILL_ANSWER_LINE), r->answer, sizeof(r->answer));
		r->answer_marked = 1;
	} else if (!r->answer_marked && line[strspn(line, " \t\r")] != '\0') {
		marker_text(line, r->answer, sizeof(r->answer));
	}
}

/* Feeds bytes of output: each complete line goes to drill_check_line()
 * (a longer line is cut to the buffer). */
static void scan_bytes(struct line_scan *ls, const char *p, size_t n,
		       struct drill_check_result *r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			ls->buf[ls->len] = '\0';
			drill_check_line(r, ls->buf, cdp_now_ns());
			ls->len = 0;
			continue;
		}
		if (ls->len < sizeof(ls->buf) - 1)
			ls->buf[ls->len++] = p[i] ? p[i] : '?';
	}
}

/* n bytes of the check's output: into its log (a short write sets *ret to
 * -EIO, once), and through the scan for the marker lines. */
static void log_output(int logfd, const char *buf, ssize_t n, struct line_scan *scan,
		       struct drill_check_result *r, int *ret)
{
	if (write(logfd, buf, (size_t)n) != n && *ret == 0)
		*ret = -EIO;
	scan_bytes(scan, buf, (size_t)n, r);
}

int drill_run_check(const char *cmd, char *const envp[], const char *log,
		    int64_t timeout_ns, struct drill_check_result *r)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	struct line_scan scan = { .len = 0 };
	int fds[2] = { -1, -1 }, logfd, devnull, status = 0, ret = 0, pipe_open = 1;
	int exited = 0, killed = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->end = DRILL_CHECK_NOT_RUN;
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -errno;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	r->start_ns = cdp_now_ns();
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGTERM, &dfl, NULL);
		sigaction(SIGHUP, &dfl, NULL);
		setpgid(0, 0);
		dup2(devnull, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);
	close(fds[1]);
	fds[1] = -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);

	while (!exited || pipe_open) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		char buf[8192];
		ssize_t n;

		if (pipe_open && poll(&pfd, 1, 50) > 0) {
			n = read(fds[0], buf, sizeof(buf));
			if (n > 0) {
				log_output(logfd, buf, n, &scan, r, &ret);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				pipe_open = 0;
			}
		} else if (!pipe_open) {
			sleep_ms(50);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			r->end_ns = cdp_now_ns();
			/* Leftovers of the check (background jobs) hold the
			 * pipe open and the mount busy: end them. */
			if (group_alive(pid))
				kill_group(pid, DRILL_KILL_GRACE_MS, &status, &exited);
		}
		if (exited && pipe_open) {
			/* Whatever a leftover outside the group still writes
			 * is not waited for. */
			n = read(fds[0], buf, sizeof(buf));
			if (n > 0) {
				log_output(logfd, buf, n, &scan, r, &ret);
				continue;
			}
			pipe_open = 0;
		}
		if (!exited && !killed && (drill_interrupted() || (timeout_ns > 0 &&
		    cdp_now_ns() - r->start_ns >= timeout_ns))) {
			killed = 1;
			r->end = drill_interrupted() ? DRILL_CHECK_INTERRUPTED : DRILL_CHECK_TIMEOUT;
			kill_group(pid, DRILL_KILL_GRACE_MS, &status, &exited);
			if (exited)
				r->end_ns = cdp_now_ns();
		}
	}
	if (scan.len) {
		/* a last line without its newline */
		scan.buf[scan.len] = '\0';
		drill_check_line(r, scan.buf, r->end_ns ? r->end_ns : cdp_now_ns());
	}
	if (!killed)
		r->end = DRILL_CHECK_EXITED;
	/* lines read after the check exited were printed before its end;
	 * steps dated by the check lie inside it, in the order of their start */
	if (r->end_ns) {
		size_t k, j;

		if (r->answering_ns > r->end_ns)
			r->answering_ns = r->end_ns;
		for (k = 0; k < r->nsteps; k++) {
			if (r->steps[k].start_ns > r->end_ns)
				r->steps[k].start_ns = r->end_ns;
			if (r->steps[k].start_ns < r->start_ns)
				r->steps[k].start_ns = r->start_ns;
		}
		for (k = 1; k < r->nsteps; k++) {
			struct drill_check_step tmp = r->steps[k];

			for (j = k; j > 0 && r->steps[j - 1].start_ns > tmp.start_ns; j--)
				r->steps[j] = r->steps[j - 1];
			r->steps[j] = tmp;
		}
	}
	r->status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (devnull >= 0)
		close(devnull);
	if (fsync(logfd) < 0 && errno != EINVAL && ret == 0)
		ret = -errno;
	close(logfd);
	return ret;
}

/* ------------------------------------------------------------- tails */

/* Replaces bytes that are not well-formed UTF-8 with '?', in place. */
static void utf8_sanitize(char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			if (c < 0x20 && c != '\n' && c != '\t')
				s[i] = '?';
			i++;
			continue;
		}
		n = cli_utf8_len((const unsigned char *)s + i, len - i);
		if (!n) {
			s[i++] = '?';
			continue;
		}
		i += n;
	}
}

char *drill_file_tail(const char *path, unsigned max_lines)
{
	const size_t window = 64 * 1024;
	struct stat st;
	char *buf, *start;
	off_t from;
	ssize_t n;
	unsigned lines = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	from = st.st_size > (off_t)window ? st.st_size - (off_t)window : 0;
	buf = malloc(window + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	n = pread(fd, buf, window, from);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	/* back from the end, past a final newline, to max_lines lines */
	start = buf + n;
	if (start > buf && start[-1] == '\n')
		start--;
	while (start > buf) {
		if (start[-1] == '\n' && ++lines == max_lines)
			break;
		start--;
	}
	if (from > 0 && start == buf) {
		/* the window began mid-line: drop the partial line */
		char *nl = strchr(buf, '\n');

		if (nl)
			start = nl + 1;
	}
	{
		size_t len = (size_t)(buf + n - start);

		memmove(buf, start, len + 1);
		/* every byte, NULs included (they become '?', not the end) */
		utf8_sanitize(buf, len);
	}
	return buf;
}
