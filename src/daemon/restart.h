/* SPDX-License-Identifier: MIT */
/*
 * restart.h - live restart (restart.c): the /dev/fuse loop that can stop
 * between requests, and both sides of a handover.
 */
#ifndef SD_RESTART_H
#define SD_RESTART_H

#include <pthread.h>
#include <fuse_lowlevel.h>

#include "cmdline.h"
#include "shmemfs.h"
#include "transport.h"

/* What a transport's run returns when a new daemon took the mount over:
 * do not unmount, do not save (persist=), just exit. */
#define SD_TRANSPORT_HANDED_OVER 1000

/* main(): what a handover needs (argv to re-exec, the mount pointer). */
void sd_restart_setup(char **argv, struct shmemfs **fsp,
		      const struct sd_cmdline *cl);
/* The fusedev transport's run: workers that stop between requests. */
int sd_fusedev_loop(struct sd_transport *tr);
/* ops.c: SHMEMFS_IOC_RESTART (the caller's rights checked). */
void sd_restart_ioctl(fuse_req_t req);
/* The loop's main thread: hand over, or resume and fail the ioctl. */
int sd_restart_handover(struct fuse_session *se, pthread_t *tids, unsigned n,
			fuse_req_t req);

/* The new daemon: the socket from the old one, or -1 (a normal start). */
int sd_restart_incoming(void);
/* Take the state: the mount in *@fsp, "/dev/fd/N" in @mountarg. */
int sd_restart_receive(int sock, struct shmemfs **fsp, struct sd_cmdline *cl,
		       char *mountarg, size_t mlen, char *msg, size_t len);
/* After fuse_session_mount(): give the session the kernel's FUSE_INIT. */
void sd_restart_replay_init(struct fuse_session *se);
/* Serving: tell the old daemon to go. */
int sd_restart_ready(int sock);
/* Unmount by name (an adopted session only knows /dev/fd/N). */
void sd_restart_unmount(struct fuse_session *se, const char *mountpoint);

/* ops.c: the mount requests are answered from, replaced after a failed
 * handover took the state back. */
void sd_ops_set_fs(struct shmemfs *fs);

#endif /* SD_RESTART_H */
