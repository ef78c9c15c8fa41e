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

	l->ml_readers = 0;
	l->ml_wwait = 0;
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
	SF_ASSERT(l->ml_readers == 0 && l->ml_wwait == 0);
	pthread_cond_destroy(&l->ml_rd_ok);
	pthread_cond_destroy(&l->ml_drained);
	pthread_mutex_destroy(&l->ml_mutex);
}

/* With ml_mutex held: wait until no shared holder is left, keeping new
 * ones out meanwhile. */
static void
mlock_drain(struct sf_mlock *l)
{
	if (!l->ml_readers)
		return;
	l->ml_wwait++;
	while (l->ml_readers)
		pthread_cond_wait(&l->ml_drained, &l->ml_mutex);
	if (--l->ml_wwait == 0)
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
	mlock_drain(l);
}

void
sf_mutex_unlock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_EXCL);
	held_fs = HELD_NONE;
#endif
	SF_ASSERT(l->ml_readers == 0);
	pthread_mutex_unlock(&l->ml_mutex);
}

void
sf_shared_lock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_NONE); /* no nesting, no upgrade */
	held_fs = HELD_SHARED;
#endif
	pthread_mutex_lock(&l->ml_mutex);
	while (l->ml_wwait)
		pthread_cond_wait(&l->ml_rd_ok, &l->ml_mutex);
	l->ml_readers++;
	pthread_mutex_unlock(&l->ml_mutex);
}

void
sf_shared_unlock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_SHARED);
	held_fs = HELD_NONE;
#endif
	pthread_mutex_lock(&l->ml_mutex);
	SF_ASSERT(l->ml_readers > 0);
	/* every drainer rechecks: two may wait at once (one holds the
	 * mutex across a condition wait, the other just came) */
	if (--l->ml_readers == 0 && l->ml_wwait)
		pthread_cond_broadcast(&l->ml_drained);
	pthread_mutex_unlock(&l->ml_mutex);
}

void
sf_cond_wait(pthread_cond_t *cv, struct sf_mlock *l)
{
	SF_ASSERT(sf_mutex_held_excl());
	pthread_cond_wait(cv, &l->ml_mutex);
	mlock_drain(l);
}

int
sf_cond_timedwait(pthread_cond_t *cv, struct sf_mlock *l,
		  const struct timespec *ts)
{
	int ret;

	SF_ASSERT(sf_mutex_held_excl());
	ret = pthread_cond_timedwait(cv, &l->ml_mutex, ts);
	mlock_drain(l);
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
