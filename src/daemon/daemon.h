/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - what the daemon's files share (private to src/daemon/).
 *
 * The daemon is four concerns, each a file: ops.c answers FUSE requests
 * with calls into libshmemfs (include/shmemfs.h) and keeps the control
 * channel (include/shmemfs_ioctl.h); transport.c carries requests from
 * the kernel to those operations (transport.h); cmdline.c turns argv
 * into options (cmdline.h); daemonize.c detaches from the terminal.
 * main.c wires them in that order of need and owns nothing else.
 * Names shared between the files start with sd_; a file's static
 * functions start with its module (ops_, transport_, cmdline_,
 * daemonize_).
 */
#ifndef SD_DAEMON_H
#define SD_DAEMON_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "shmemfs.h"

/* ---- ops.c -------------------------------------------------------- */

/*
 * A FUSE session whose requests are answered from @fs (its userdata),
 * with the options in @args (fuse_session_new() consumes them).  It
 * also learns the daemon's user namespace, against which callers'
 * capabilities are judged; call it before detaching, so that a warning
 * about it still reaches the terminal.  NULL if libfuse failed: it said
 * why on stderr.
 */
struct fuse_session *sd_ops_session_new(struct fuse_args *args,
					struct shmemfs *fs);
/* The mount a request is for: the session's userdata, or the mount a
 * failed live restart took back (restart.c, sd_ops_set_fs()). */
struct shmemfs *sd_ops_req_fs(fuse_req_t req);
/* Destroy a session from sd_ops_session_new(), after it is unmounted. */
void sd_ops_session_destroy(struct fuse_session *se);

/*
 * FUSE_TMPFILE, which libfuse 3.14 cannot decode (transport.c decodes
 * it and encodes the reply): an unnamed regular file in @parent, open,
 * @umask applied unless @parent has a default ACL (the kernel leaves
 * both to us when ACLs are negotiated),
 * with one lookup reference, linkable unless @flags has O_EXCL.  0 and
 * its attributes, or -errno.  If the reply cannot be delivered,
 * sd_ops_tmpfile_undo() gives back what the kernel never got.
 */
#define SD_ATTR_TIMEOUT 3600 /* seconds, ops.c's OPS_ATTR_TIMEOUT */
int sd_ops_tmpfile(struct shmemfs *fs, uid_t uid, gid_t gid, mode_t umask,
		   uint64_t parent, mode_t mode, int flags,
		   struct shmemfs_attr *attr);
void sd_ops_tmpfile_undo(struct shmemfs *fs, uint64_t ino);

/* Does the caller of @req have CAP_* @cap_bit in the mount's userns? */
int sd_caller_has_cap(fuse_req_t req, unsigned cap_bit);

/* ---- ipcops.c: shared memory (include/shmemfs_ipc.h) --------------- */

/* Is @name under @parent a handle name (SHMEMFS_IPC_PREFIX in root)? */
bool sd_ipc_reserved(fuse_ino_t parent, const char *name);
/* Reply to the lookup of a handle. */
void sd_ipc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
/* Every open: a SysV attach is checked and counted; 0 or -errno. */
int sd_ipc_open(fuse_req_t req, fuse_ino_t ino, int flags);
/* Every release (in place of shmemfs_release()). */
void sd_ipc_release(fuse_req_t req, fuse_ino_t ino);
/* The shared-memory ioctls: 1 if @cmd was one (and replied), else 0. */
int sd_ipc_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, uint64_t fh,
		 const void *in, size_t in_size, size_t out_size);

/* ---- bdi.c ---------------------------------------------------------- */

/* As root: ordinary dirty limits for the mount's backing device. */
void sd_bdi_relax(const char *mountpoint);

/* ---- daemonize.c -------------------------------------------------- */

/*
 * Fork; the parent waits and exits with the child's verdict, the child
 * returns the fd to pass to sd_daemonize_ready() once it is mounted, or
 * -1 (and a message) if it could not fork.
 */
int sd_daemonize_start(void);
/* Detach (new session, stdio to /dev/null) and let the parent exit 0. */
void sd_daemonize_ready(int fd);

#endif /* SD_DAEMON_H */
