/* SPDX-License-Identifier: MIT */
/*
 * ioctl.h - how shmemctl talks to a running shmemfs daemon.
 *
 * shmemctl opens the mount's root directory and issues these ioctls;
 * FUSE forwards them to the daemon (restricted ioctls: the kernel sizes
 * the buffers from the _IOC encoding, so no retry dance is needed).
 */
#ifndef SHMEMFS_IOCTL_H
#define SHMEMFS_IOCTL_H

#include <sys/ioctl.h>
#include "shmemfs.h"

#define SHMEMFS_IOC_MAGIC 0xE5
#define SHMEMFS_IOC_STATS _IOR(SHMEMFS_IOC_MAGIC, 1, struct shmemfs_stats)
#define SHMEMFS_IOC_SWAPOFF _IO(SHMEMFS_IOC_MAGIC, 2)
#define SHMEMFS_IOC_SWAPON _IO(SHMEMFS_IOC_MAGIC, 3)

#endif /* SHMEMFS_IOCTL_H */
