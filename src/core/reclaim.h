/* SPDX-License-Identifier: MIT */
/*
 * reclaim.h - keeping resident memory within mem= (reclaim.c): CLOCK
 * reclaim and the background reclaimer.
 *
 * reclaim calls only down: page.c for the next cold page and to free it,
 * swap.c to write it, pageidx to file the swap entry in the page's
 * index (pg_map), mem.c for the watermarks.  Its callers are filemap
 * (direct reclaim when a charge is refused) and api.c (start, stop).
 *
 * => reclaim_pages(), reclaim_wake(): sf_lock held.
 * => reclaim_start(), reclaim_stop(): sf_lock not held.
 */
#ifndef SHMEMFS_RECLAIM_H
#define SHMEMFS_RECLAIM_H

#include "core.h"

#define SF_RECLAIM_BATCH 32
uint64_t reclaim_pages(struct shmemfs *fs, uint64_t nr);
void reclaim_wake(struct shmemfs *fs);
int reclaim_start(struct shmemfs *fs);
void reclaim_stop(struct shmemfs *fs);

#endif /* SHMEMFS_RECLAIM_H */
