/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - what the daemon's files share (private to src/daemon/).
 *
 * Names shared between the daemon's files start with sd_; a file's
 * static functions start with its module.
 */
#ifndef SD_DAEMON_H
#define SD_DAEMON_H

#include <fuse_lowlevel.h>

#include "shmemfs.h"

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
