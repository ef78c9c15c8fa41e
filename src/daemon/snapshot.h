/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - the daemon's snapshots (snapshot.c) and pax archives
 * (archive.c): restoring at mount, saving at unmount, and shmemctl's
 * save and export.
 */
#ifndef SD_SNAPSHOT_H
#define SD_SNAPSHOT_H

#include <fuse_lowlevel.h>

#include "cmdline.h"
#include "shmemfs.h"

/*
 * Build the mount: from restore= (an image or a pax archive), from
 * persist= if its file exists, else empty.  0, or -errno and one line in
 * @msg.
 */
int sd_snap_mount(struct shmemfs **fsp, struct sd_cmdline *cl, char *msg,
		  size_t len);
/* Mount the image open on @fd (@path names it in messages). */
int sd_snap_restore_fd(struct shmemfs **fsp, struct sd_cmdline *cl,
		       const char *path, int fd, const unsigned char *key,
		       char *msg, size_t len);
/* persist=: save at clean unmount; 0 or -errno (said on stderr). */
int sd_snap_unmount(struct shmemfs *fs, const struct sd_cmdline *cl);
/* SHMEMFS_IOC_SAVE, SHMEMFS_IOC_EXPORT (the caller's rights checked). */
void sd_snap_ioctl(fuse_req_t req, struct shmemfs *fs, unsigned cmd,
		   const void *in_buf, size_t in_bufsz, size_t out_bufsz);

/* oom_score_adj -1000, or a warning on stderr saying it could not. */
void sd_snap_protect_oom(void);

/* archive.c: pax archives through libarchive. */
int sd_snap_export(struct shmemfs *fs, const char *path, char *msg, size_t len);
int sd_snap_restore_archive(struct shmemfs **fsp, struct sd_cmdline *cl,
			    const char *path, int fd, char *msg, size_t len);

#endif /* SD_SNAPSHOT_H */
