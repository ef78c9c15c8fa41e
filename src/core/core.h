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
 * Four kinds of lock per mount, always taken in this order:
 *
 *   1. data locks (lock.h): SF_DLOCK_STRIPES rwlocks in struct shmemfs,
 *      an inode's chosen by hashing its number (no memory per inode).
 *      Shared for read; exclusive for write, truncate (setattr of the
 *      size), fallocate and punch, memfd seals, mapped write-back.  Two
 *      at once only in ascending stripe order (copy_file_range; the
 *      snapshot takes all of them).
 *   2. inode locks (lock.h): SF_ILOCK_STRIPES mutexes, an inode's
 *      chosen by hashing its number as for the data locks; taken only
 *      by the calls that run in sf_lock's local mode, for the inodes
 *      they read or change.  Several only in ascending stripe order;
 *      under sf_lock only tried, never waited for.
 *   3. sf_lock, the mount lock, with three modes (lock.h).  Everything
 *      reachable from a struct shmemfs - counters, the inode table, the
 *      name hash, every inode, page index, directory and xattr list, the
 *      page pool and the CLOCK ring, the swap map, every struct sf_page -
 *      is protected by it.  Internal functions assume "=> Must be called
 *      with sf_lock held." and say so only where it is not obvious;
 *      "held" means exclusive unless a function says shared or local is
 *      enough.
 *   4. sf_tables (lock.h), a leaf mutex: in local mode, the tables all
 *      inodes share.  Node_far_lock (node.c) and the allocator's class
 *      locks (alloc.c) are leaves below it.
 *
 * Never wait for a data lock or an inode lock while holding sf_lock,
 * and for nothing while holding sf_tables.  lock.c checks the order per
 * thread in debug builds (an assertion on each acquire).
 *
 * What runs without sf_lock: only the copies of read and write (api.c).
 * Under sf_lock the pages of a batch of the request are looked up or
 * allocated and pinned (page.h: reclaim, splits, collapse and frees pass
 * over pinned pages), sf_lock is dropped for the memcpy, and retaken to
 * unpin and to update the size; the data lock keeps the size and the
 * pages' contents still meanwhile, and a reference keeps the inode.  So
 * reads and writes of different files copy in parallel, and so do the
 * readers of one file.  Metadata calls hold sf_lock (exclusive, shared
 * for those that change nothing, local for those named below) for
 * their whole duration, which keeps every one of them, rename
 * included, atomic.
 * Four things drop and retake sf_lock: the data path between batches,
 * the background reclaimer between batches (reclaim.c), swapoff between
 * batches (swapoff.c) and background collapse between passes
 * (khugepaged.c, which takes no data lock and so skips pinned pages);
 * the latter three re-look-up what they hold afterwards.
 *
 * Shared mode (the rule)
 * ----------------------
 * sf_lock shared lets calls that change nothing run at the same time as
 * each other, never beside an exclusive holder.  Shared today (api.c):
 * lookup, getattr, getflags, may_open, getxattr, listxattr, statfs and
 * get_stats.  Under shared a call may read anything sf_lock protects
 * and write nothing, with one exception: lookup's i_nlookup++ is an
 * atomic add (every other access to i_nlookup is under exclusive or
 * local, which orders it after the atomic adds).  Everything else is
 * exclusive, but for the local calls below: every other call that
 * renames, sets an attribute or an xattr, updates a time (so readlink
 * and readdir, which touch atime as tmpfs does), reads or writes data
 * (its short sections: pin, unpin, size), the background reclaimer,
 * khugepaged, swapoff and snapshots.  A reader may call only functions that
 * write no shared state: no caches, no LRU/CLOCK bits, no statistics
 * counted on read, no "last" records (node_time() takes node_far_lock,
 * a leaf lock of its own).  The functions that change shared state
 * assert !sf_mutex_shared() in debug builds (mem.c's charges, node_alloc,
 * node_free, node_setattr, node_setflags, node_touch_atime, dir_add,
 * dir_remove, xattr_set, xattr_remove); those that need sf_lock assert
 * sf_mutex_held_excl() (filemap.c's pin and unpin, khugepaged).  To
 * make another call shared: audit everything it calls for writes, take
 * RLOCK() in api.c, and run tests/fuzz/test_metalock.c under TSan.
 * Shared holders never nest and never upgrade; an exclusive taker that
 * waits for them keeps new ones out, so none starves.  Taking it shared
 * is two atomic operations on the mount's reader count, no mutex
 * (lock.h), so the shared calls do not queue on one another.
 *
 * Local mode (the rule)
 * ---------------------
 * Metadata calls in different directories run at the same time in
 * sf_lock's local mode: create, mknod, mkdir, short symlinks (a long
 * one writes a page: exclusive), O_TMPFILE, link, unlink, rmdir,
 * forget, open and release (api.c; release goes exclusive for the
 * bounded collapse a last close may start).  Local holders run beside
 * each other, never beside a shared or an exclusive holder, so readers
 * and everything else keep the rules above unchanged.  Between local
 * holders: a local call holds the inode lock of every inode whose
 * fields it reads or changes - the directory, the victim of an unlink
 * (found by name, so tried under sf_lock: api.c's unlink_common()
 * starts again with it in the set when the try fails), the target of a
 * link, the file of an open, a release or a forget; an inode it makes
 * is reachable by nobody until node_publish() (node.h), after it is
 * complete.  What every inode shares - the inode table and numbers,
 * the name hash, mem.c's counters and quotas, and, when a put frees an
 * inode, the page pool, the CLOCK ring and the swap map - it changes
 * or reads only with sf_tables held: node.c and dir.c take it around
 * those steps (sf_tables_lock() is a no-op outside local mode), and
 * mem.c's changes assert sf_tables_held().  Nothing in local mode
 * waits on a condition (sf_cond_wait() asserts exclusive).  To make
 * another call local: list the inodes it touches, take their locks in
 * api.c, put its table steps under sf_tables, and run
 * tests/fuzz/test_metalock.c under TSan.
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
sf_now_ts(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/*
 * An inode's time: nanoseconds since the epoch, 8 bytes instead of a
 * timespec's 16 (per-file memory).  That spans 1677-09-21 to 2262-04-11;
 * sf_time_from_ts() clamps what lies outside.  tmpfs keeps any time64_t,
 * so node.c keeps such a time exactly elsewhere and stores SF_TIME_FAR
 * (node_set_time(), node_time()).  Times from the clock always fit.
 */
typedef int64_t sf_time_t;

#define SF_NSEC_PER_SEC 1000000000LL

/* An inode time kept outside the inode (node.c: node_time()). */
#define SF_TIME_FAR INT64_MIN

static inline sf_time_t
sf_time_from_ts(const struct timespec *ts)
{
	int64_t sec = (int64_t)ts->tv_sec, nsec = ts->tv_nsec;

	/* INT64_MIN is -9223372037 s + 145224192 ns, INT64_MAX is
	 * 9223372036 s + 854775807 ns (tv_nsec is in [0, 1e9)). */
	if (sec < -9223372037LL || (sec == -9223372037LL && nsec < 145224192))
		return INT64_MIN;
	if (sec > 9223372036LL || (sec == 9223372036LL && nsec > 854775807))
		return INT64_MAX;
	if (sec < 0) /* sec * 1e9 alone would overflow at the bottom */
		return (sec + 1) * SF_NSEC_PER_SEC + (nsec - SF_NSEC_PER_SEC);
	return sec * SF_NSEC_PER_SEC + nsec;
}

static inline struct timespec
sf_time_to_ts(sf_time_t t)
{
	struct timespec ts;
	int64_t nsec = t % SF_NSEC_PER_SEC;

	ts.tv_sec = (time_t)(t / SF_NSEC_PER_SEC);
	if (nsec < 0) {
		nsec += SF_NSEC_PER_SEC;
		ts.tv_sec--;
	}
	ts.tv_nsec = (long)nsec;
	return ts;
}

static inline void
sf_now_time(sf_time_t *t)
{
	struct timespec ts;

	sf_now_ts(&ts);
	*t = sf_time_from_ts(&ts);
}

/* The current time into a struct timespec or an inode's sf_time_t. */
#define sf_now(p)                                                              \
	_Generic((p), struct timespec *: sf_now_ts, sf_time_t *: sf_now_time)(p)

#endif /* SHMEMFS_CORE_H */
