/* SPDX-License-Identifier: MIT */
/*
 * core.h - what every core module shares: page size, the inode-space
 * constants, debug assertions, and the locking rules.
 *
 * Headers, one per layer (DESIGN.md §2); a module includes only its own
 * and those of the layers below it:
 *   core.h     this file
 *   mem.h      accounting: the only module that changes a counter
 *   pageidx.h  the sparse radix index
 *   page.h     resident pages: pool, allocation, CLOCK ring, freeing
 *   swap.h     the swap device: slot allocator and backend vtable
 *   fs.h       struct shmemfs, the mount that holds the above
 *   reclaim.h  CLOCK reclaim and the background reclaimer (calls only
 *              down: page, swap, mem, pageidx)
 *   inode.h    struct shmemfs_inode, the object the upper layers share
 *   filemap.h  an inode's data: get_page, read, write, truncate, ...
 *   node.h     inode life cycle and the inode table
 *   dir.h      names: directories, the name hash, rename
 *   xattr.h    extended attributes
 *   swapoff.h  swapoff/swapon: the walk over every inode (shmem_unuse)
 *   khugepaged.h  background collapse: a bounded walk over every inode
 *
 * Lock order
 * ----------
 * There is one lock per mount, sf_lock, and every public call takes it
 * for its whole duration (api.c).  Everything reachable from a struct
 * shmemfs - counters, the inode table, the name hash, every inode, page
 * index, directory and xattr list, the page pool and the CLOCK ring, the
 * swap map - is protected by it.  Internal functions therefore assume
 * "=> Must be called with sf_lock held." and say so only where it is not
 * obvious.  A finer scheme (per-inode locks for the data path) is a
 * later step; keeping one lock now makes every operation, rename
 * included, trivially atomic.  Three things drop and retake it: the
 * background reclaimer between batches (reclaim.c), swapoff between
 * batches (swapoff.c) and background collapse between passes
 * (khugepaged.c); all re-look-up what they hold afterwards.
 *
 * Calls go down only: a layer never calls a layer above it, so no
 * module needs to know who called it.  Where a lower layer must act on
 * an upper layer's object (reclaim storing a swap entry for a page it
 * evicted), it goes through a back-pointer to a lower-layer object (the
 * page index the page belongs to, pg_map), never through the upper
 * layer.
 *
 * Accounting invariants (each header states its own; shmemfs_check()
 * verifies all of them):
 *   sm_blocks_used == sum over inodes of i_blocks
 *   sm_inodes_used == number of live inodes
 *   i_blocks == number of entries in the inode's page index
 *   resident pages == pages on the CLOCK ring == pages out of the pool
 *   swap slots in use == swap entries in all page indexes
 */
#ifndef SHMEMFS_CORE_H
#define SHMEMFS_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "shmemfs.h"

#define SF_PAGE_SHIFT 12
#define SF_PAGE_SIZE (1u << SF_PAGE_SHIFT)
#define SF_BOGO_DIRENT_SIZE 20  /* tmpfs charges each dirent 20 bytes */
#define SF_SHORT_SYMLINK_LEN 128 /* targets shorter than this stay inline */
#define SF_BOGO_INODE_SIZE 1024  /* inode space one inode or link costs */

#ifdef NDEBUG
#define SF_ASSERT(x) ((void)0)
#else
#include <assert.h>
#define SF_ASSERT(x) assert(x)
#endif

struct shmemfs;
struct shmemfs_inode;

static inline void
sf_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

#endif /* SHMEMFS_CORE_H */
