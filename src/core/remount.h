/* SPDX-License-Identifier: MIT */
/*
 * remount.h - changing a live mount's options (remount.c), as
 * shmem_reconfigure() does for tmpfs.
 *
 * => remount_apply(): sf_lock held.
 */
#ifndef SHMEMFS_REMOUNT_H
#define SHMEMFS_REMOUNT_H

#include "core.h"

int remount_apply(struct shmemfs *fs, const char *optstr, char *err,
		  size_t err_len);

#endif /* SHMEMFS_REMOUNT_H */
