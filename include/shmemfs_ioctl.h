/* SPDX-License-Identifier: MIT */
/*
 * shmemfs_ioctl.h - the control channel of a mounted shmemfs.
 *
 * A program (shmemctl) opens the mount's root directory and issues these
 * ioctls on it; FUSE forwards them to the daemon as restricted ioctls:
 * the kernel sizes the buffers from the _IOC encoding, so no retry dance
 * is needed.  On any other inode they fail with ENOTTY, as does an
 * unknown number; a 32-bit caller on a 64-bit kernel gets ENOSYS.
 *
 * The numbers and the layout of struct shmemfs_stats (shmemfs.h) are an
 * interface: change neither, add new numbers instead.
 */
#ifndef SHMEMFS_IOCTL_H
#define SHMEMFS_IOCTL_H

#include <sys/ioctl.h>
#include "shmemfs.h"

#define SHMEMFS_IOC_MAGIC 0xE5

/*
 * Numbers are handed out in ranges, one per feature, so features built
 * side by side never collide: 1-9 stats and swap, 10-19 huge pages,
 * 20-29 the FUSE transport, 30-39 tmpfs parity (remount, quotas, inode
 * flags), 40-49 snapshots and restart, 50-69 shared memory, 70-79
 * installing and monitoring.
 */

/*
 * Fill a struct shmemfs_stats (the mount's limits, usage and swap
 * counters, as shmemfs_get_stats()).  Anyone who can open the root may.
 */
#define SHMEMFS_IOC_STATS _IOR(SHMEMFS_IOC_MAGIC, 1, struct shmemfs_stats)

/*
 * Bring every swapped page back into memory and stop swapping, or start
 * swapping again (shmemfs_swapoff(), shmemfs_swapon(): ENOMEM, EIO,
 * EINVAL as they say).  Like swapoff(2) and swapon(2), these need
 * CAP_SYS_ADMIN in the mount's user namespace, unless the caller owns
 * the mount (runs as the daemon's user, not root): EPERM otherwise.
 */
#define SHMEMFS_IOC_SWAPOFF _IO(SHMEMFS_IOC_MAGIC, 2)
#define SHMEMFS_IOC_SWAPON  _IO(SHMEMFS_IOC_MAGIC, 3)

/*
 * Snapshots and restart (40-49).  struct shmemfs_ioc_image names the
 * file to write by absolute path, resolved by the daemon (which refuses
 * a path under the mount itself: it would write into the mount it has
 * locked); on failure the ioctl fails with the errno and ii_msg holds a
 * one-line reason.  Like swapoff, these need CAP_SYS_ADMIN in the
 * mount's user namespace unless the caller owns the mount: an image
 * holds every file, readable or not by the caller.
 *
 * SAVE writes a point-in-time image (shmemfs_save_file(): mode 0600,
 * temporary name, fsync, rename), sealed if ii_key names a key file.
 * EXPORT writes a pax archive (ii_key must be empty).
 */
#define SHMEMFS_IOC_PATH_MAX 4096
#define SHMEMFS_IOC_MSG_MAX 256
struct shmemfs_ioc_image {
	char ii_path[SHMEMFS_IOC_PATH_MAX]; /* in: image or archive */
	char ii_key[SHMEMFS_IOC_PATH_MAX];  /* in: key file, or "" */
	char ii_msg[SHMEMFS_IOC_MSG_MAX];   /* out: why it failed */
};
#define SHMEMFS_IOC_SAVE _IOWR(SHMEMFS_IOC_MAGIC, 40, struct shmemfs_ioc_image)
#define SHMEMFS_IOC_EXPORT \
	_IOWR(SHMEMFS_IOC_MAGIC, 41, struct shmemfs_ioc_image)

/*
 * RESTART hands the mount to a fresh daemon (the binary at the same
 * path) without unmounting: open files, inode numbers and lookup counts
 * stay valid.  It returns once the new daemon serves; on failure the old
 * one goes on serving and the ioctl fails (EOPNOTSUPP: the transport
 * cannot hand over, e.g. io_uring; EBUSY: a restart is running).
 */
#define SHMEMFS_IOC_RESTART _IO(SHMEMFS_IOC_MAGIC, 42)

#endif /* SHMEMFS_IOCTL_H */
