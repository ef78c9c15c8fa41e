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
 * Local mode (sf_local_lock()): a third mode, for the calls whose
 * changes stay within a few inodes and the mount's tables (create,
 * link, unlink, forget, open, release: core.h says which).  Local
 * holders run beside each other, never beside a shared or an exclusive
 * one.  ml_excl says which mode is on (ML_*).  The first local taker
 * (under ml_mutex) sets ML_FORMING, which keeps shared holders out,
 * waits for those in to drain, and opens the group (ML_LOCAL); while
 * it is open, local takers count themselves in ml_locals and look at
 * ml_excl again, as shared takers do, with no mutex.  The group stays
 * open when it empties.  A shared taker that finds it open sets
 * ML_TO_SHARED (no one joins any more) and waits for the count to fall
 * to 0; an exclusive taker sets ML_EXCL and waits for both counts, and
 * while one waits (ml_xwaiting) no group forms.  So no mode starves
 * another.  Between themselves, local holders are kept apart by the
 * inode locks and sf_tables:
 *
 * Inode locks (the kernel's inode lock, for local mode)
 * -------------------------------------------------------
 * SF_ILOCK_STRIPES mutexes in struct shmemfs, an inode's chosen by
 * hashing its number as the data locks do.  A local holder holds the
 * stripe of every inode whose fields it reads or changes (the
 * directory, the victim or the target); an inode it makes is its own
 * until it publishes it (node.h).  Taken after the data locks and
 * before sf_lock, several in ascending stripe order; one more may be
 * tried (ilock_try(), which never waits) with sf_lock held, for a
 * victim found by name: when the try fails the caller lets everything
 * go and starts again with the victim's stripe in the set.
 *
 * sf_tables (a leaf mutex)
 * ------------------------
 * The mount's tables that every inode shares - the inode table and
 * its counters, the name hash, mem.c's counters and quota entries, the
 * page pool, the CLOCK ring and the swap map that freeing an inode
 * touches - are written under sf_lock exclusive, or under local mode
 * with sf_tables held.  sf_tables_lock() takes it only in local mode
 * (exclusive and shared holders need it not) and nothing is waited for
 * while it is held.
 *
 * Checking (not under NDEBUG)
 * ---------------------------
 * Each thread records what it holds: the stripes (bitmasks) and
 * sf_lock with its mode.  Taking a data stripe asserts that sf_lock and
 * the inode locks are not held and that no data stripe at or above it
 * is; an inode stripe, that sf_lock is not held and no inode stripe at
 * or above it is; taking sf_lock, in any mode, asserts it is not held
 * already (no mode nests, and no holder may upgrade).  The unit tests,
 * the concurrency tests and the ASan daemon are debug builds, so every
 * path they run is checked.
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

#define SF_ILOCK_STRIPES 64

struct sf_ilocks {
	pthread_mutex_t il_stripe[SF_ILOCK_STRIPES];
};

/* The inode locks one call holds (at most three). */
struct sf_ilockset {
	unsigned is_stripe[3];
	unsigned is_n;
};

int ilock_init(struct sf_ilocks *il);
void ilock_destroy(struct sf_ilocks *il);
/* Take the stripes of @a and @b (0: none) that @set does not hold yet;
 * @set must hold none above them (start from an empty set). */
void ilock_take(struct sf_ilocks *il, struct sf_ilockset *set, uint64_t a,
		uint64_t b);
/* Does @set hold @ino's stripe, or can it take it without waiting? */
bool ilock_try(struct sf_ilocks *il, struct sf_ilockset *set, uint64_t ino);
void ilock_drop(struct sf_ilocks *il, struct sf_ilockset *set);

/* sf_mlock.ml_excl: which mode may come in (0: shared holders) */
enum {
	ML_FREE,      /* shared holders come in; others take ml_mutex */
	ML_EXCL,      /* an exclusive holder, or a taker waiting */
	ML_LOCAL,     /* a local group: local holders join without
		       * ml_mutex (it stays on, empty, until another mode
		       * is asked for) */
	ML_FORMING,   /* a local group waits for shared holders to go */
	ML_TO_SHARED, /* a shared taker waits for the local group to go */
};

struct sf_mlock {
	pthread_mutex_t ml_mutex;  /* held by the exclusive holder */
	pthread_cond_t ml_drained; /* ml_readers or ml_locals fell to 0 */
	pthread_cond_t ml_rd_ok;   /* ml_excl changed */
	pthread_cond_t ml_x_done;  /* ml_xwaiting fell to 0 */
	atomic_uint ml_readers;	   /* shared holders (and ones stepping back) */
	atomic_uint ml_locals;	   /* local holders (and ones stepping back) */
	atomic_int ml_excl;	   /* ML_*; changed under ml_mutex */
	unsigned ml_xwaiting;	   /* exclusive takers waiting; ml_mutex */
};

int sf_mlock_init(struct sf_mlock *l);
void sf_mlock_destroy(struct sf_mlock *l);
/* sf_lock exclusive, with the order checked.  @l is &fs->sf_lock. */
void sf_mutex_lock(struct sf_mlock *l);
void sf_mutex_unlock(struct sf_mlock *l);
/* sf_lock shared: only calls that change nothing (core.h). */
void sf_shared_lock(struct sf_mlock *l);
void sf_shared_unlock(struct sf_mlock *l);
/* sf_lock local: only calls that change what their inode locks and
 * sf_tables cover (core.h). */
void sf_local_lock(struct sf_mlock *l);
void sf_local_unlock(struct sf_mlock *l);
/* sf_tables: taken only if this thread holds sf_lock local. */
void sf_tables_lock(pthread_mutex_t *m);
void sf_tables_unlock(pthread_mutex_t *m);
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
/* Held local (also under NDEBUG: sf_tables_lock() asks it). */
bool sf_mutex_local(void);
/* May this thread change the mount's tables?  Exclusive, or local with
 * sf_tables, or no sf_lock at all (set-up, teardown, unit tests). */
bool sf_tables_held(void);

#endif /* SHMEMFS_LOCK_H */
