/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * capture_int.h - internals of the capture layer shared by its files:
 * the per-directory state (struct cap_root), the FUSE node table keyed by
 * real inode number and file handle, the striped inode locks, and the
 * journaling helpers.
 *
 * Locking: every mutating operation takes the stripe locks of the inodes it
 * changes (cap_lock_inos(), ascending stripe order, so no deadlock) across
 * "apply to the real file system -> read back -> cdp_op_commit()".  The node
 * table has its own mutex (node_lock) and never calls out while holding it.
 */
#ifndef CDP_CAPTURE_INT_H
#define CDP_CAPTURE_INT_H

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "store.h"
#include "util/util.h"

#define CAP_STRIPES 4096
#define CAP_HANDLE_MAX 128        /* MAX_HANDLE_SZ */
#define CAP_MAX_LOCKS 4
#define CAP_ENTRY_TIMEOUT 1.0
#define CAP_ATTR_TIMEOUT 1.0

/* A real inode's file handle, as name_to_handle_at() gives it. */
struct cap_handle {
	int type;                 /* handle_type; -1: no handle (fs lacks them) */
	unsigned int len;         /* bytes used in data */
	unsigned char data[CAP_HANDLE_MAX];
};

/* One inode the kernel knows (a FUSE node id is its address). */
struct cap_node {
	struct cap_node *hash_next;   /* protected by node_lock */
	uint64_t ino;
	struct cap_handle fh;
	uint64_t nlookup;             /* protected by node_lock */
	uint64_t generation;
	mode_t type;                  /* S_IFMT bits */
	uint64_t fid;                 /* 0 until known; protected by the inode's stripe */
	int fd;                       /* cached O_PATH fd or -1; set once under node_lock */
};

struct cap_daemon;

/* One protected directory and its FUSE session. */
struct cap_root {
	struct cap_root *next;        /* protected by daemon lock */
	struct cap_daemon *daemon;
	char *path;                   /* absolute, canonical */
	char *host;
	int root_fd;                  /* O_RDONLY|O_DIRECTORY, opened before the mount */
	struct cap_handle root_fh;
	uint64_t root_ino;
	uint32_t root_id;
	uint64_t root_fid;            /* the directory's fid once known */
	int use_handles;

	struct cdp_store *store;      /* NULL when no_journal */
	struct cdp_journal *journal;  /* NULL when no_journal */
	uint32_t block_size;

	struct fuse_session *se;
	pthread_t loop_thread;
	int loop_started;             /* only the thread that starts or stops r */
	/* Flags read without a lock by other threads (the baseline polls
	 * stopping, shutdown_root() reads loop_done, conn threads and the main
	 * loop read ready and orphan): atomics.  A test-and-set of them (a stop
	 * that must be the only one) still happens under the daemon lock. */
	atomic_int loop_done;         /* the session loop has returned */
	atomic_int stopping;          /* a stop is under way: no second one */
	atomic_int orphan;            /* stopped, still serving files left open */
	atomic_int ready;             /* the baseline or resync is complete */
	int progress;
	FILE *progress_out;           /* baseline progress, or NULL */

	pthread_mutex_t node_lock;
	struct cap_node **node_hash;
	size_t node_buckets;
	size_t nnodes;                /* protected by node_lock */
	uint64_t next_generation;     /* protected by node_lock */
	unsigned int cached_fds;      /* protected by node_lock */
	unsigned int cached_fds_max;
	struct cap_node root_node;

	pthread_mutex_t stripes[CAP_STRIPES];
	pthread_mutex_t imap_lock;    /* serialises lazy fid assignment */

	int degraded_logged;          /* store errors logged once */
	int rpo_level;                /* alerted: 0 ok, 1 warning, 2 error; main loop only */
	atomic_int resyncing;         /* the main loop resyncs r after the journal was
				   * degraded (daemon.c): no stop meanwhile */
};

/* node.c: the node table, file handles and stripe locks. */
int cap_root_init_tables(struct cap_root *r);
void cap_root_free_tables(struct cap_root *r);
struct cap_node *cap_node_get(struct cap_root *r, fuse_ino_t nodeid);
/* Finds or creates the node for (ino, fh) and adds one lookup. */
struct cap_node *cap_node_ref(struct cap_root *r, uint64_t ino, mode_t type,
			      const struct cap_handle *fh);
/* Opens an inode by handle (flags as open(2)); -ESTALE when gone. */
int cap_handle_open(struct cap_root *r, const struct cap_handle *fh, int flags);
void cap_node_forget(struct cap_root *r, struct cap_node *n, uint64_t nlookup);
/* An fd on the node opened with flags (O_PATH for metadata).  *must_close
 * says whether the caller closes it.  -errno on failure. */
int cap_node_open(struct cap_root *r, struct cap_node *n, int flags, int *must_close);
int cap_handle_at(struct cap_root *r, int dirfd, const char *name, struct cap_handle *fh);
int cap_handle_equal(const struct cap_handle *a, const struct cap_handle *b);
/* The handle as the inode map stores it (type, then the bytes) in out,
 * which holds 4 + CAP_HANDLE_MAX; returns its length, 0 without a handle. */
size_t cap_handle_bytes(const struct cap_handle *fh, unsigned char *out);

unsigned cap_stripe_of(uint64_t ino);
/* Locks the stripes of up to CAP_MAX_LOCKS inodes (0 entries ignored). */
void cap_lock_inos(struct cap_root *r, const uint64_t *inos, int n, unsigned *held, int *nheld);
void cap_unlock(struct cap_root *r, const unsigned *held, int nheld);
/* Forgets the fid cached in every node but the root's (each is looked up
 * in the inode map again when next needed), holding every stripe: after
 * the journal was degraded, the imap records of the inodes made meanwhile
 * were dropped, and the resync gives them new fids. */
void cap_nodes_forget_fids(struct cap_root *r);

/* journal_ops.c: journaling helpers, all no-ops returning 0 when
 * r->journal is NULL. */
/* The fid of inode (ino, fh): cached in n (may be NULL), else the imap, else
 * a new one (its imap record added to op when op is given, otherwise
 * committed at once).  Caller holds the inode's stripe. */
int cap_fid_of(struct cap_root *r, struct cap_node *n, uint64_t ino,
	       const struct cap_handle *fh, struct cdp_op *op, uint64_t *fid);
/* Adds the attributes of fd (and the target when a symlink) to op. */
int cap_op_attr_fd(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		   struct stat *st_out);
/* The same with a symlink's target read beforehand (cap_read_target), for
 * a change that must not be followed by a readlink: one that sets the
 * link's atime. */
int cap_op_attr_target(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		       const char *target);
/* readlink of an O_PATH descriptor of a symlink into target (NUL-ended). */
int cap_read_target(int fd, char *target, size_t size);
/* Adds data of blocks [from_block, to_block) read from fd (clipped at
 * size; what lies beyond becomes zero). */
int cap_op_blocks(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		  uint64_t from_block, uint64_t to_block, uint64_t size);
struct cdp_op *cap_op_start(struct cap_root *r);
/* Commits (or aborts on error < 0); logs store failures once. */
void cap_op_finish(struct cap_root *r, struct cdp_op *op, int err);
void cap_store_error(struct cap_root *r, const char *what, int err);
/* A size change of fid: what lies beyond the new end reads zero, the now
 * partial last block is read back.  fd must be readable. */
int cap_journal_truncate(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
			 uint64_t size);
/* The xattrs an object (O_PATH fd, not a symlink) was born with. */
int cap_journal_born_xattrs(struct cdp_op *op, uint64_t fid, int fd);
/* An inode just made at name in directory pfd: new fid, imap entry,
 * attributes and (born_xattrs) inherited xattrs; the dirent is the caller's. */
int cap_journal_new_inode(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
			  const struct stat *st, const struct cap_handle *fh, int born_xattrs,
			  uint64_t *fid);
/* Inode (ino, fh) lost a link: its attributes, or its imap entry goes. */
int cap_journal_lost_link(struct cap_root *r, struct cdp_op *op, uint64_t ino,
			  const struct cap_handle *fh, uint64_t fid);
/* The whiteout renameat2(RENAME_WHITEOUT) left at name in pfd. */
int cap_journal_whiteout(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
			 uint64_t pfid);
/* The attributes of the directories n[i] (O_PATH fd[i]) whose bit i is set
 * in mask, in one op: what a failed call changed all the same (ll_ns.c,
 * rename_failed_changes).  Caller holds their stripes.  0 or -errno
 * (logged). */
int cap_journal_dir_attrs(struct cap_root *r, struct cap_node *const *n, const int *fd,
			  unsigned mask, int count);

static inline struct cap_root *cap_root_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline void cap_proc_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static inline uint64_t cap_ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* 1 when a capture mount of ours sits at path. */
/* The source of a capture mount: this prefix, then the store's path. */
#define CAP_FSNAME_PREFIX "cdpfs-capture:"

static inline int cap_capture_mounted(const char *path)
{
	return cdp_mount_listed(path, "fuse.cdpfs", "cdpfs-capture");
}

/* ll.c: the operations table, assembled from the handlers below. */
extern const struct fuse_lowlevel_ops cap_ll_ops;
/* The kernel leaves the caller's umask to us (FUSE_CAP_DONT_MASK); the same
 * for every session of the daemon.  Set once in cap_init. */
extern int cap_dont_mask;

/* ll_ns.c: names. */
void cap_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void cap_readlink(fuse_req_t req, fuse_ino_t ino);
void cap_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void cap_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void cap_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void cap_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void cap_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void cap_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void cap_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void cap_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void cap_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cap_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		 struct fuse_file_info *fi);
void cap_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cap_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ll_data.c: contents and attributes. */
/* Real open flags for an application's open: always readable (blocks are
 * read back), offsets from the kernel (no O_APPEND). */
int cap_real_open_flags(int flags);
/* fsync or fdatasync of fd, replied to req. */
void cap_fsync_fd(fuse_req_t req, int fd, int datasync);
void cap_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi);
void cap_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cap_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void cap_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi);
void cap_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cap_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void cap_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void cap_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		   struct fuse_file_info *fi);
void cap_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);

/* ll_xattr.c: extended attributes. */
void cap_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void cap_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void cap_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void cap_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* control.c: the control protocol (one request line, one reply line per
 * connection on STORE/CAP_SOCK_NAME). */
#define CAP_SOCK_NAME "capture.sock"
#define CAP_LOG_NAME "capture.log"
struct sockaddr_un;
/* Writes in with '%', space, tab, LF and CR as %XX into out (size bytes,
 * always NUL-ended; in is cut where out is full). */
void cap_field_escape(const char *in, char *out, size_t size);
/* Undoes cap_field_escape() in place. */
void cap_field_unescape(char *s);
/* The address of the control socket of store; -ENAMETOOLONG. */
int cap_ctl_sock_path(const char *store, struct sockaddr_un *sa);
/* A connected descriptor to the daemon of store, or -errno. */
int cap_ctl_connect(const char *store);
/* Sends line (newline-ended), reads one reply line into reply; -errno,
 * -ECONNRESET when the daemon hung up without a reply. */
int cap_ctl_request(const char *store, const char *line, char *reply, size_t size);
/* A request to the daemon of store, when one runs: 1 when none listens;
 * 0 on an "ok" reply (in reply); else a negative error with one line in
 * err: the daemon's "err [-N] MESSAGE" (-N: the error of its call, else
 * -EIO), a lost connection, or a reply not understood (-EPROTO). */
int cap_ctl_ask(const char *store, const char *line, char *reply, size_t size, char *err,
		size_t errlen);
/* cap_ctl_ask() of a request whose reply may be preceded by interim lines
 * "progress TEXT": interim(arg, TEXT) for each (TEXT lives until the next
 * line is read).  Only requests that ask for them get them. */
typedef void cap_ctl_interim_fn(void *arg, char *text);
int cap_ctl_ask_interim(const char *store, const char *line, char *reply, size_t size,
			char *err, size_t errlen, cap_ctl_interim_fn *interim, void *arg);
/* retain_ctl.c: whether cmd is a retention request (pin, unpin, prune, gc,
 * policy), and the daemon's side of one (rest: the line after cmd). */
int cap_retain_is_request(const char *cmd);
void cap_retain_handle(struct cdp_store *s, int fd, const char *cmd, char *rest);
/* The thread that applies the stored policies on a schedule and when the
 * store's disk runs low (retain_ctl.c says when).  start with a NULL store
 * does nothing; stop waits for a run in progress. */
struct cap_retain_sched {
	struct cdp_store *store;
	const char *path;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;             /* protected by lock */
	int started;
};
int cap_retain_sched_start(struct cap_retain_sched *rs, struct cdp_store *store,
			   const char *path);
void cap_retain_sched_stop(struct cap_retain_sched *rs);
/* Sends one reply line (the newline added; cut at 2 KiB). */
void cap_ctl_reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* write(2) all of buf, retrying on EINTR; 0 or -errno. */
int cap_write_all(int fd, const char *buf, size_t len);
/* Reads one line (without the newline); returns its length or -errno. */
ssize_t cap_read_line(int fd, char *buf, size_t size);

/* daemon.c: runs the daemon in this process.  ready_fd (or -1) is told
 * ready or the error line (cdp_daemon_ready/_failed) once every dir is
 * protected; start_lock_fd (or -1) is closed then.  super_fd (or -1), the
 * report pipe to a supervisor, gets one line per change of what is
 * protected ("add HOST DIR", "del DIR", fields escaped) and "ready" once
 * the daemon serves.  Returns the exit status. */
struct cdp_capture_request;
int cap_daemon_main(const struct cdp_capture_request *req, const char *store_path,
		    char *const *dirs, const char *host, int ready_fd, int start_lock_fd,
		    int super_fd, FILE *progress, char *err, size_t errlen);

/* alert.c: the configuration file and alerts (the file's header lists
 * keys and events). */
#define CAP_CONFIG_DEFAULT "/etc/cdpfs/cdpfs.conf"
#define CAP_CONFIG_DIRS_MAX 32
#include <limits.h>
struct cap_config {
	char alert_command[4096];     /* "" none */
	int64_t rpo_warning_ns, rpo_error_ns;
	int store_fill_percent;
	int suspect;                  /* -1 unset (the environment's), 0 off, 1 on */
	uint32_t suspect_hot, suspect_burst;   /* 0 unset */
	/* [DIR] sections: the suspect keys of one directory */
	struct cap_dir_config {
		char path[PATH_MAX];  /* canonical when it existed at load */
		int suspect;          /* as above, unset: the defaults above */
		uint32_t suspect_hot, suspect_burst;
	} dirs[CAP_CONFIG_DIRS_MAX];
	size_t ndirs;
};
/* Loads path (NULL: the default file, which may be missing; must_exist: a
 * missing file is an error).  0, or -errno with one line in err. */
int cap_config_load(const char *path, int must_exist, char *err, size_t errlen);
/* The configuration loaded (defaults until then); lives for the process. */
const struct cap_config *cap_config(void);
/* One alert: capture log, syslog, and the alert command's stdin (JSON).
 * host and dir may be NULL (an event of the daemon).  Returns once the
 * command is started, never waiting for it. */
void cap_alert(const char *store, const char *event, int level, const char *host,
	       const char *dir, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The configuration's suspect keys given to a journal just opened (host's,
 * for the log line of a refusal): the host's default. */
void cap_suspect_configure(struct cdp_journal *j, const char *host);
/* The suspect keys of r's [DIR] section, if any, given to r's journal for
 * r->root_id (once root_begin gave it). */
void cap_suspect_configure_root(struct cap_root *r);
/* From the main loop: a "suspect_activity" alert for each suspect interval
 * host's journal opened since *alerted (the count already alerted, updated;
 * 0 at the journal's open), naming its directory when roots (the daemon's
 * list, caller holds its lock) has it. */
void cap_suspect_alerts(const char *store, const char *host, struct cdp_journal *j,
			uint64_t *alerted, const struct cap_root *roots);

/* metrics.c: the metrics endpoint (`--metrics ADDR:PORT`). */
struct cap_metrics;
/* Splits ADDR:PORT ("[v6]:PORT", ":PORT" for every address). 0 or -EINVAL. */
int cap_metrics_parse(const char *spec, char *host, size_t hsize, char *port, size_t psize);
/* Binds spec and serves /metrics of store from a thread (*out, freed by
 * cap_metrics_stop()).  0; -EINVAL for a spec that does not parse or
 * resolve, -errno when it cannot be bound, both with one line in err;
 * -ENOMEM or the thread's error with none. */
int cap_metrics_start(const char *spec, const char *store, struct cap_metrics **out, char *err,
		      size_t errlen);
/* Stops the thread and frees m; NULL does nothing. */
void cap_metrics_stop(struct cap_metrics *m);

/* supervise.c: the supervisor, in the process cdp_capture_start() forked:
 * runs the daemon in a child (first with ready_fd and progress) and, when
 * it dies, takes its dead mounts off and starts a new one on the same
 * directories (a resync: the outage is a gap), logging both to syslog and
 * STORE/capture.log.  Returns the exit status (the daemon's last one). */
int cap_supervise(const struct cdp_capture_request *req, const char *store_path,
		  char *const *dirs, const char *host, int ready_fd, FILE *progress);

/* sync.c: baseline or resync of r, then links it into the namespace. */
int cap_sync_tree(struct cap_root *r, char *err, size_t errlen);

/* What a change seen late asks to resync. */
enum {
	CAP_LATE_ENTRY = 1,   /* the inode at one name of a directory */
	CAP_LATE_DIR,         /* the names of a directory (and its attributes) */
	CAP_LATE_ALL,         /* the whole protected directory */
};
/* Resyncs part of a ready root after a change that bypassed its mount:
 * the directory of handle dfh (relpath from the root, "."; NULL with
 * CAP_LATE_ALL), its entry name (CAP_LATE_ENTRY) or its names; new
 * directories found are walked whole.  A directory the history does not
 * know yet is resynced from its nearest known ancestor.  *changes: the
 * records journaled (0: the store had it all).  0, -EINTR when r stops
 * meanwhile, or -errno. */
int cap_sync_late(struct cap_root *r, const struct cap_handle *dfh, const char *relpath,
		  const char *name, int what, uint64_t *changes);

/* late.c: the fanotify safety net (one per daemon) that finds changes
 * made outside the capture mounts, resyncs and records them. */
struct cap_late;
/* Starts the watcher thread (*out, freed by cap_late_free(), which does
 * nothing for NULL): 0, -errno when fanotify is not available, -ENOMEM,
 * or the error of pipe2(2) or of the thread. */
int cap_late_new(struct cap_late **out);
void cap_late_free(struct cap_late *l);
/* Watches r's filesystem (before r is mounted over, so nothing done in
 * between is missed); changes are resynced once r->ready.  -EOPNOTSUPP
 * without file handles, -errno from fanotify_mark(). */
int cap_late_watch(struct cap_late *l, struct cap_root *r);
/* Stops watching r; returns once no resync of r runs. */
void cap_late_unwatch(struct cap_late *l, struct cap_root *r);
/* Late observations recorded since the daemon started. */
uint64_t cap_late_observed(struct cap_late *l);

#endif /* CDP_CAPTURE_INT_H */
