/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the mount's locks (lock.c): the data locks and sf_lock, in
 * the order core.h writes down, checked in debug builds.
 *
 * Data locks (the role of the kernel's i_rwsem for the data path)
 * -----------------------------------------------------------------
 * SF_DLOCK_STRIPES read-write locks in struct shmemfs, an inode's being
 * the one its number hashes to: no memory per inode.  Two files that
 * share a stripe only wait for each other, nothing worse.  Readers of a
 * file take it shared; writes, truncates, punches and fallocates take it
 * exclusive.  Held, it keeps the file's size and the contents of the
 * pages the call pinned still, so the copy into or out of them can run
 * without sf_lock.  Taken before sf_lock, never while holding it; two
 * of them (copy_file_range, snapshots) in ascending stripe order.
 *
 * sf_lock (the role of a rw_semaphore over all metadata)
 * -----------------------------------------------------------
 * A mutex with a shared mode beside it (struct sf_mlock).  Exclusive:
 * hold ml_mutex, set ml_excl, and wait until the count of shared
 * holders, ml_readers, has drained.  Shared: count oneself in
 * (an atomic add, no mutex) unless ml_excl is set, in which case count
 * oneself out again and wait for it to clear.  So a stream of shared
 * holders cannot starve an exclusive taker once it holds ml_mutex.
 * The condition variables of the mount (sf_unpinned, the reclaimer's
 * and collapse's wake-ups) keep waiting on ml_mutex; sf_cond_wait() and
 * sf_cond_timedwait() clear ml_excl for the wait (shared holders may
 * come in meanwhile, as other exclusive ones may) and drain them again
 * before returning, so the caller holds sf_lock exclusive again.
 *
 * Checking (not under NDEBUG)
 * ---------------------------
 * Each thread records what it holds: the stripes (a bitmask) and
 * sf_lock with its mode.  Taking a stripe asserts that sf_lock is not
 * held and that no stripe at or above it is; taking sf_lock, in either
 * mode, asserts it is not held already (neither mode nests, and shared
 * holders may not upgrade).  The unit tests, the concurrency tests and
 * the ASan daemon are debug builds, so every path they run is checked.
 */
#ifndef SHMEMFS_LOCK_H
#define SHMEMFS_LOCK_H

#include <stdatomic.h>

#include "core.h"

#define SF_DLOCK_STRIPES 64

struct sf_dlocks {
	pthread_rwlock_t dl_stripe[SF_DLOCK_STRIPES];
};

int dlock_init(struct sf_dlocks *dl);
void dlock_destroy(struct sf_dlocks *dl);
unsigned dlock_stripe(uint64_t ino);
void dlock_read(struct sf_dlocks *dl, uint64_t ino);
void dlock_write(struct sf_dlocks *dl, uint64_t ino);
void dlock_unlock(struct sf_dlocks *dl, uint64_t ino);
/* @rino shared and @wino exclusive (one exclusive hold if they share a
 * stripe), in stripe order; dlock_unlock2() lets both go. */
void dlock_pair(struct sf_dlocks *dl, uint64_t rino, uint64_t wino);
void dlock_unlock2(struct sf_dlocks *dl, uint64_t rino, uint64_t wino);
/* Every stripe exclusive: no copy is in flight anywhere on the mount. */
void dlock_all(struct sf_dlocks *dl);
void dlock_unlock_all(struct sf_dlocks *dl);

struct sf_mlock {
	pthread_mutex_t ml_mutex;  /* held by the exclusive holder */
	pthread_cond_t ml_drained; /* ml_readers fell to 0 */
	pthread_cond_t ml_rd_ok;   /* ml_excl cleared */
	atomic_uint ml_readers;	   /* shared holders (and ones stepping back) */
	atomic_int ml_excl;	   /* ml_mutex is held exclusive */
};

int sf_mlock_init(struct sf_mlock *l);
void sf_mlock_destroy(struct sf_mlock *l);
/* sf_lock exclusive, with the order checked.  @l is &fs->sf_lock. */
void sf_mutex_lock(struct sf_mlock *l);
void sf_mutex_unlock(struct sf_mlock *l);
/* sf_lock shared: only calls that change nothing (core.h). */
void sf_shared_lock(struct sf_mlock *l);
void sf_shared_unlock(struct sf_mlock *l);
/* Wait on @cv with sf_lock held exclusive; held exclusive on return. */
void sf_cond_wait(pthread_cond_t *cv, struct sf_mlock *l);
int sf_cond_timedwait(pthread_cond_t *cv, struct sf_mlock *l,
		      const struct timespec *ts);
/* For assertions; all true under NDEBUG except sf_mutex_shared().
 * A wait on a condition variable leaves the record as it was. */
bool sf_mutex_held(void);      /* in either mode */
bool sf_mutex_held_excl(void); /* exclusive */
/* Held shared: a function that changes shared state asserts
 * !sf_mutex_shared() (it may also run with no lock at all: set-up,
 * teardown, unit tests of one layer). */
bool sf_mutex_shared(void);

#endif /* SHMEMFS_LOCK_H */
