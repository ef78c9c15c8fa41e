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

#include <stdint.h>
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
 * Huge pages (10-19).  HUGE_ADVISE is issued on a regular file opened
 * for writing (so the kernel has checked write permission, and the
 * daemon refuses a descriptor not open for writing with EBADF, as
 * write(2) would): the argument is 1 (huge pages please, as
 * madvise(MADV_HUGEPAGE) under huge=advise) or 0.  HUGE_SHRINK, on the
 * root, splits huge folios that reach past end of file and frees the
 * pages there, as tmpfs's shrinker does under memory pressure or
 * drop_caches; it needs CAP_SYS_ADMIN (or the mount's owner), as
 * drop_caches needs root.
 */
#define SHMEMFS_IOC_HUGE_ADVISE _IOW(SHMEMFS_IOC_MAGIC, 10, int32_t)
#define SHMEMFS_IOC_HUGE_SHRINK _IO(SHMEMFS_IOC_MAGIC, 11)

#endif /* SHMEMFS_IOCTL_H */
