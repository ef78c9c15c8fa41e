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
 * Checking (not under NDEBUG)
 * ---------------------------
 * Each thread records what it holds: the stripes (a bitmask) and
 * sf_lock.  Taking a stripe asserts that sf_lock is not held and that
 * no stripe at or above it is; taking sf_lock asserts it is not held
 * already.  The unit tests, the concurrency tests and the ASan daemon
 * are debug builds, so every path they run is checked.
 */
#ifndef SHMEMFS_LOCK_H
#define SHMEMFS_LOCK_H

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

/* sf_lock, with the order checked.  @m is &fs->sf_lock. */
void sf_mutex_lock(pthread_mutex_t *m);
void sf_mutex_unlock(pthread_mutex_t *m);
/* Whether this thread holds sf_lock (always true under NDEBUG), for
 * assertions; a pthread_cond_wait() on it leaves the record "held". */
bool sf_mutex_held(void);

#endif /* SHMEMFS_LOCK_H */
