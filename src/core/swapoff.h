/* SPDX-License-Identifier: MIT */
/*
 * swapoff.h - swapoff and swapon (swapoff.c).  Bringing every swapped
 * page back (shmem_unuse()) is a walk over the inode table, so it lives
 * above node and filemap, not in reclaim.
 *
 * => sf_lock held; swapoff_unuse() drops and retakes it between batches.
 */
#ifndef SHMEMFS_SWAPOFF_H
#define SHMEMFS_SWAPOFF_H

#include "core.h"

int swapoff_unuse(struct shmemfs *fs);
int swapoff_swapon(struct shmemfs *fs);

#endif /* SHMEMFS_SWAPOFF_H */
