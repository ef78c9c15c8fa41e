/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the data locks and sf_lock, with the lock order of core.h
 * checked per thread in debug builds (lock.h).
 */
#include "lock.h"

#ifndef NDEBUG
/* What this thread holds: stripes as a bitmask, and sf_lock. */
enum { HELD_NONE, HELD_SHARED, HELD_EXCL };
static __thread uint64_t held_stripes;
static __thread int held_fs;

static void
note_stripe_lock(unsigned s)
{
	/* data locks come first, in ascending order, never twice */
	SF_ASSERT(!held_fs);
	SF_ASSERT((held_stripes >> s) == 0);
	held_stripes |= 1ull << s;
}

static void
note_stripe_unlock(unsigned s)
{
	SF_ASSERT(held_stripes & (1ull << s));
	held_stripes &= ~(1ull << s);
}
#else
#define note_stripe_lock(s)   ((void)(s))
#define note_stripe_unlock(s) ((void)(s))
#endif

int
dlock_init(struct sf_dlocks *dl)
{
	pthread_rwlockattr_t attr;
	unsigned i;
	int ret;

	ret = pthread_rwlockattr_init(&attr);
	if (ret)
		return -ret;
	/* a stream of readers must not starve a writer (or a truncate) */
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (i = 0; i < SF_DLOCK_STRIPES; i++) {
		ret = pthread_rwlock_init(&dl->dl_stripe[i], &attr);
		if (ret) {
			while (i--)
				pthread_rwlock_destroy(&dl->dl_stripe[i]);
			break;
		}
	}
	pthread_rwlockattr_destroy(&attr);
	return -ret;
}

void
dlock_destroy(struct sf_dlocks *dl)
{
	unsigned i;

	for (i = 0; i < SF_DLOCK_STRIPES; i++)
		pthread_rwlock_destroy(&dl->dl_stripe[i]);
}

unsigned
dlock_stripe(uint64_t ino)
{
	/* Fibonacci hashing: neighbouring inode numbers spread out */
	return (unsigned)((ino * 0x9e3779b97f4a7c15ull) >> 58);
}

void
dlock_read(struct sf_dlocks *dl, uint64_t ino)
{
	unsigned s = dlock_stripe(ino);

	note_stripe_lock(s);
	pthread_rwlock_rdlock(&dl->dl_stripe[s]);
}

void
dlock_write(struct sf_dlocks *dl, uint64_t ino)
{
	unsigned s = dlock_stripe(ino);

	note_stripe_lock(s);
	pthread_rwlock_wrlock(&dl->dl_stripe[s]);
}

void
dlock_unlock(struct sf_dlocks *dl, uint64_t ino)
{
	unsigned s = dlock_stripe(ino);

	note_stripe_unlock(s);
	pthread_rwlock_unlock(&dl->dl_stripe[s]);
}

void
dlock_pair(struct sf_dlocks *dl, uint64_t rino, uint64_t wino)
{
	unsigned r = dlock_stripe(rino), w = dlock_stripe(wino);

	if (r == w) {
		dlock_write(dl, wino);
	} else if (r < w) {
		dlock_read(dl, rino);
		dlock_write(dl, wino);
	} else {
		dlock_write(dl, wino);
		dlock_read(dl, rino);
	}
}

void
dlock_unlock2(struct sf_dlocks *dl, uint64_t rino, uint64_t wino)
{
	dlock_unlock(dl, wino);
	if (dlock_stripe(rino) != dlock_stripe(wino))
		dlock_unlock(dl, rino);
}

void
dlock_all(struct sf_dlocks *dl)
{
	unsigned s;

	for (s = 0; s < SF_DLOCK_STRIPES; s++) {
		note_stripe_lock(s);
		pthread_rwlock_wrlock(&dl->dl_stripe[s]);
	}
}

void
dlock_unlock_all(struct sf_dlocks *dl)
{
	unsigned s = SF_DLOCK_STRIPES;

	while (s--) {
		note_stripe_unlock(s);
		pthread_rwlock_unlock(&dl->dl_stripe[s]);
	}
}

int
sf_mlock_init(struct sf_mlock *l)
{
	int ret;

	atomic_init(&l->ml_readers, 0);
	atomic_init(&l->ml_excl, 0);
	ret = pthread_mutex_init(&l->ml_mutex, NULL);
	if (ret)
		return -ret;
	ret = pthread_cond_init(&l->ml_drained, NULL);
	if (ret)
		goto out_mutex;
	ret = pthread_cond_init(&l->ml_rd_ok, NULL);
	if (ret)
		goto out_drained;
	return 0;

out_drained:
	pthread_cond_destroy(&l->ml_drained);
out_mutex:
	pthread_mutex_destroy(&l->ml_mutex);
	return -ret;
}

void
sf_mlock_destroy(struct sf_mlock *l)
{
	SF_ASSERT(atomic_load(&l->ml_readers) == 0);
	SF_ASSERT(atomic_load(&l->ml_excl) == 0);
	pthread_cond_destroy(&l->ml_rd_ok);
	pthread_cond_destroy(&l->ml_drained);
	pthread_mutex_destroy(&l->ml_mutex);
}

/*
 * With ml_mutex held: say exclusive (no new shared holder gets in),
 * then wait until the shared holders are gone.  A shared holder counts
 * itself in and then looks at ml_excl; we set ml_excl and then look at
 * the count (both sequentially consistent): one of the two sees the
 * other.  The last one out wakes us under ml_mutex, which we hold from
 * our look at the count to the wait, so the wake-up is not lost.
 */
static void
mlock_excl(struct sf_mlock *l)
{
	/* set again after each wait: while we waited without ml_mutex,
	 * another exclusive holder may have come, gone and cleared it */
	for (;;) {
		atomic_store(&l->ml_excl, 1);
		if (!atomic_load(&l->ml_readers))
			return;
		pthread_cond_wait(&l->ml_drained, &l->ml_mutex);
	}
}

/* With ml_mutex held: let shared holders in again. */
static void
mlock_unexcl(struct sf_mlock *l)
{
	atomic_store(&l->ml_excl, 0);
	pthread_cond_broadcast(&l->ml_rd_ok);
}

void
sf_mutex_lock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_NONE); /* sf_lock is not recursive */
	held_fs = HELD_EXCL;
#endif
	pthread_mutex_lock(&l->ml_mutex);
	mlock_excl(l);
}

void
sf_mutex_unlock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_EXCL);
	held_fs = HELD_NONE;
#endif
	/* ml_readers may count shared takers stepping back right now */
	mlock_unexcl(l);
	pthread_mutex_unlock(&l->ml_mutex);
}

/* Count this shared holder out; the last one out wakes an exclusive
 * taker waiting for the count to drain. */
static void
mlock_reader_out(struct sf_mlock *l)
{
	if (atomic_fetch_sub(&l->ml_readers, 1) == 1 &&
	    atomic_load(&l->ml_excl)) {
		pthread_mutex_lock(&l->ml_mutex);
		pthread_cond_broadcast(&l->ml_drained);
		pthread_mutex_unlock(&l->ml_mutex);
	}
}

void
sf_shared_lock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_NONE); /* no nesting, no upgrade */
	held_fs = HELD_SHARED;
#endif
	for (;;) {
		atomic_fetch_add(&l->ml_readers, 1);
		if (!atomic_load(&l->ml_excl))
			return;
		/* an exclusive holder or taker: step back and wait */
		mlock_reader_out(l);
		pthread_mutex_lock(&l->ml_mutex);
		while (atomic_load(&l->ml_excl))
			pthread_cond_wait(&l->ml_rd_ok, &l->ml_mutex);
		pthread_mutex_unlock(&l->ml_mutex);
	}
}

void
sf_shared_unlock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_SHARED);
	held_fs = HELD_NONE;
#endif
	SF_ASSERT(atomic_load(&l->ml_readers) > 0);
	mlock_reader_out(l);
}

/* Shared holders may come in while we wait: we hold nothing then. */
void
sf_cond_wait(pthread_cond_t *cv, struct sf_mlock *l)
{
	SF_ASSERT(sf_mutex_held_excl());
	mlock_unexcl(l);
	pthread_cond_wait(cv, &l->ml_mutex);
	mlock_excl(l);
}

int
sf_cond_timedwait(pthread_cond_t *cv, struct sf_mlock *l,
		  const struct timespec *ts)
{
	int ret;

	SF_ASSERT(sf_mutex_held_excl());
	mlock_unexcl(l);
	ret = pthread_cond_timedwait(cv, &l->ml_mutex, ts);
	mlock_excl(l);
	return ret;
}

bool
sf_mutex_held(void)
{
#ifndef NDEBUG
	return held_fs != HELD_NONE;
#else
	return true;
#endif
}

bool
sf_mutex_held_excl(void)
{
#ifndef NDEBUG
	return held_fs == HELD_EXCL;
#else
	return true;
#endif
}

bool
sf_mutex_shared(void)
{
#ifndef NDEBUG
	return held_fs == HELD_SHARED;
#else
	return false;
#endif
}
