/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the data locks and sf_lock, with the lock order of core.h
 * checked per thread in debug builds (lock.h).
 */
#include "lock.h"

#ifndef NDEBUG
/* What this thread holds: stripes as a bitmask, and sf_lock. */
static __thread uint64_t held_stripes;
static __thread bool held_fs;

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

void
sf_mutex_lock(pthread_mutex_t *m)
{
#ifndef NDEBUG
	SF_ASSERT(!held_fs); /* sf_lock is not recursive */
	held_fs = true;
#endif
	pthread_mutex_lock(m);
}

void
sf_mutex_unlock(pthread_mutex_t *m)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs);
	held_fs = false;
#endif
	pthread_mutex_unlock(m);
}

bool
sf_mutex_held(void)
{
#ifndef NDEBUG
	return held_fs;
#else
	return true;
#endif
}
