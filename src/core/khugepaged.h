/* SPDX-License-Identifier: MIT */
/*
 * khugepaged.h - background collapse (khugepaged.c): a thread per mount
 * that, a bounded pass at a time, turns fully populated aligned 2 MiB
 * ranges of small pages back into huge folios where huge= allows (after
 * a swap-in, after a remount to huge=always).  It walks the inode table,
 * so it lives above node and filemap, like swapoff.
 *
 * => khugepaged_pass(): sf_lock held (not dropped).
 * => khugepaged_start(), khugepaged_stop(): sf_lock not held.
 */
#ifndef SHMEMFS_KHUGEPAGED_H
#define SHMEMFS_KHUGEPAGED_H

#include "core.h"

/* One pass: at most this many inodes and 2 MiB ranges looked at, and
 * this many folios made, then the lock goes until the next one. */
#define SF_KHP_BUDGET	   64
#define SF_KHP_FOLIOS	   8
#define SF_KHP_INTERVAL_MS 500

unsigned khugepaged_pass(struct shmemfs *fs);
int khugepaged_start(struct shmemfs *fs);
void khugepaged_stop(struct shmemfs *fs);
void khugepaged_wake(struct shmemfs *fs);

#endif /* SHMEMFS_KHUGEPAGED_H */
