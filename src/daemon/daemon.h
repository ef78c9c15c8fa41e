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
/* Destroy a session from sd_ops_session_new(), after it is unmounted. */
void sd_ops_session_destroy(struct fuse_session *se);

/*
 * FUSE_TMPFILE, which libfuse 3.14 cannot decode (transport.c decodes
 * it and encodes the reply): an unnamed regular file in @parent, open,
 * with one lookup reference, linkable unless @flags has O_EXCL.  0 and
 * its attributes, or -errno.  If the reply cannot be delivered,
 * sd_ops_tmpfile_undo() gives back what the kernel never got.
 */
#define SD_ATTR_TIMEOUT 3600 /* seconds, ops.c's OPS_ATTR_TIMEOUT */
int sd_ops_tmpfile(struct shmemfs *fs, uid_t uid, gid_t gid, uint64_t parent,
		   mode_t mode, int flags, struct shmemfs_attr *attr);
void sd_ops_tmpfile_undo(struct shmemfs *fs, uint64_t ino);

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
