/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.h - small helpers that capture/ and fs/ both use, free of FUSE and
 * of the store: the mount table (util/mounts.c), growing arrays
 * (util/array.c), forking a daemon that reports readiness over a pipe
 * (util/daemonize.c), and a daemon's stop signals and piped children
 * (util/proc.c; ship/ uses it too).  The mount table and the arrays are
 * pure functions of their arguments and of /proc/self.
 */
#ifndef CDP_UTIL_H
#define CDP_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Undoes, in place, the \ooo octal escapes the kernel writes for space,
 * tab, newline and backslash in a field of /proc/self/mounts or
 * /proc/self/mountinfo.  A backslash not followed by three octal digits
 * stays as it is. */
void cdp_mount_field_unescape(char *s);

/* 1 when /proc/self/mountinfo lists a mount at path (absolute, canonical)
 * whose file system type is fstype and whose source starts with
 * source_prefix (NULL: any), else 0 (also when mountinfo is unreadable). */
int cdp_mount_listed(const char *path, const char *fstype, const char *source_prefix);
/* The same, and the mount's source (unescaped, without the trailing
 * newline) into src (src_size bytes) when found; src may be NULL. */
int cdp_mount_find(const char *path, const char *fstype, const char *source_prefix,
		   char *src, size_t src_size);

/* p, an array of *cap elements of elem_size bytes of which n are used,
 * with room for one more: p itself while n < *cap, else p reallocated to
 * twice *cap (first_cap when *cap is 0) and *cap updated.  NULL when out of
 * memory; p is then unchanged and still the caller's. */
void *cdp_array_grow(void *p, size_t *cap, size_t n, size_t elem_size, size_t first_cap);
/* The same for room for need elements in all: p itself while need <= *cap,
 * else p reallocated to *cap (first_cap when *cap is 0, 1 when both are)
 * doubled until it holds need, and *cap updated.  NULL when out of memory
 * or when the size would overflow; p and *cap are then unchanged. */
void *cdp_array_reserve(void *p, size_t *cap, size_t need, size_t elem_size, size_t first_cap);

/*
 * A daemon with a ready pipe (squashfuse's notify_pipe), in three steps:
 * the command calls cdp_daemon_fork(); the child, once it serves, calls
 * cdp_daemon_ready() (or cdp_daemon_failed() with its one error line);
 * the parent calls cdp_daemon_wait() for that word.
 *
 * cdp_daemon_fork() flushes stdout and stderr, makes the pipe
 * (close-on-exec) and forks.  In the parent it returns the child's pid and
 * *ready_fd is the read end; in the child, which it has made a session
 * leader (setsid), it returns 0 and *ready_fd is the write end.  On
 * failure it returns -errno with err set to "PREFIXcannot create a pipe:
 * REASON" or "PREFIXcannot fork the DAEMON_NAME: REASON" (msg_prefix is
 * "cdpfs: " or "").
 */
pid_t cdp_daemon_fork(int *ready_fd, const char *msg_prefix, const char *daemon_name,
		      char *err, size_t errlen);

/* The child's word, each writing one line and closing ready_fd: ready, with
 * info (NULL or "" for none) for the parent to show, or failed, with msg
 * (at most about 4 KiB travels).  0, or -errno when the write failed (the
 * parent then sees CDP_DAEMON_GONE or nothing it can tell). */
int cdp_daemon_ready(int ready_fd, const char *info);
int cdp_daemon_failed(int ready_fd, const char *msg);

enum cdp_daemon_word {
	CDP_DAEMON_READY,    /* msg: the child's info, maybe "" */
	CDP_DAEMON_FAILED,   /* msg: the child's error line */
	CDP_DAEMON_GONE,     /* the child ended (or said nothing legible) */
};

/* Parent: reads the child's line from ready_fd and closes it.  msg (size
 * bytes) gets the info or error text.  Unless the answer is
 * CDP_DAEMON_READY, reaps the child and stores its wait status in *status
 * (when status is not NULL); a ready daemon runs on and is not waited for. */
enum cdp_daemon_word cdp_daemon_wait(int ready_fd, pid_t pid, char *msg, size_t size,
				     int *status);

/* Blocks SIGTERM, SIGINT, SIGHUP and also (when not 0, e.g. SIGCHLD) in
 * the calling thread and so in the threads it starts afterwards, ignores
 * SIGPIPE in the process, and returns a signalfd (close-on-exec) that
 * reads the blocked ones: a descriptor, or -1 with errno set (the signals
 * stay blocked). */
int cdp_stop_signalfd(int also);

/* Makes a pipe (close-on-exec, read end fds[0], write end fds[1]) and
 * forks.  Parent: the child's pid.  Child: 0, with no signal blocked.
 * On failure -errno, and neither end is left open. */
pid_t cdp_fork_pipe(int fds[2]);

#endif /* CDP_UTIL_H */
