/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the data locks and sf_lock, with the lock order of core.h
 * checked per thread in debug builds (lock.h).
 */
#include "lock.h"

/* This thread holds sf_lock local (kept in release builds too:
 * sf_tables_lock() asks). */
static __thread bool held_local;

#ifndef NDEBUG
/* What this thread holds: stripes as bitmasks, sf_lock, sf_tables. */
enum { HELD_NONE, HELD_SHARED, HELD_EXCL, HELD_LOCAL };
static __thread uint64_t held_stripes, held_istripes;
static __thread int held_fs;
static __thread bool held_tables;

static void
note_stripe_lock(unsigned s)
{
	/* data locks come first, in ascending order, never twice */
	SF_ASSERT(!held_fs);
	SF_ASSERT(!held_istripes);
	SF_ASSERT((held_stripes >> s) == 0);
	held_stripes |= 1ull << s;
}

static void
note_stripe_unlock(unsigned s)
{
	SF_ASSERT(held_stripes & (1ull << s));
	held_stripes &= ~(1ull << s);
}

/* @wait: a blocking take, which must keep the order; a try need not. */
static void
note_istripe_lock(unsigned s, bool wait)
{
	SF_ASSERT(!(held_istripes & (1ull << s)));
	if (wait) {
		SF_ASSERT(!held_fs);
		SF_ASSERT((held_istripes >> s) == 0);
	}
	held_istripes |= 1ull << s;
}

static void
note_istripe_unlock(unsigned s)
{
	SF_ASSERT(held_istripes & (1ull << s));
	held_istripes &= ~(1ull << s);
}
#else
#define note_stripe_lock(s)	    ((void)(s))
#define note_stripe_unlock(s)	    ((void)(s))
#define note_istripe_lock(s, w)	    ((void)(s), (void)(w))
#define note_istripe_unlock(s)	    ((void)(s))
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
ilock_init(struct sf_ilocks *il)
{
	unsigned i;
	int ret = 0;

	for (i = 0; i < SF_ILOCK_STRIPES; i++) {
		ret = pthread_mutex_init(&il->il_stripe[i], NULL);
		if (ret) {
			while (i--)
				pthread_mutex_destroy(&il->il_stripe[i]);
			break;
		}
	}
	return -ret;
}

void
ilock_destroy(struct sf_ilocks *il)
{
	unsigned i;

	for (i = 0; i < SF_ILOCK_STRIPES; i++)
		pthread_mutex_destroy(&il->il_stripe[i]);
}

static bool
ilock_has(const struct sf_ilockset *set, unsigned s)
{
	unsigned i;

	for (i = 0; i < set->is_n; i++)
		if (set->is_stripe[i] == s)
			return true;
	return false;
}

static void
ilock_add(struct sf_ilocks *il, struct sf_ilockset *set, unsigned s)
{
	if (ilock_has(set, s))
		return;
	SF_ASSERT(set->is_n < 3);
	note_istripe_lock(s, true);
	pthread_mutex_lock(&il->il_stripe[s]);
	set->is_stripe[set->is_n++] = s;
}

void
ilock_take(struct sf_ilocks *il, struct sf_ilockset *set, uint64_t a,
	   uint64_t b)
{
	unsigned sa = dlock_stripe(a), sb = dlock_stripe(b);

	if (a && b && sb < sa) {
		ilock_add(il, set, sb);
		ilock_add(il, set, sa);
		return;
	}
	if (a)
		ilock_add(il, set, sa);
	if (b)
		ilock_add(il, set, sb);
}

bool
ilock_try(struct sf_ilocks *il, struct sf_ilockset *set, uint64_t ino)
{
	unsigned s = dlock_stripe(ino);

	if (ilock_has(set, s))
		return true;
	SF_ASSERT(set->is_n < 3);
	if (pthread_mutex_trylock(&il->il_stripe[s]))
		return false;
	note_istripe_lock(s, false);
	set->is_stripe[set->is_n++] = s;
	return true;
}

void
ilock_drop(struct sf_ilocks *il, struct sf_ilockset *set)
{
	while (set->is_n) {
		unsigned s = set->is_stripe[--set->is_n];

		note_istripe_unlock(s);
		pthread_mutex_unlock(&il->il_stripe[s]);
	}
}

int
sf_mlock_init(struct sf_mlock *l)
{
	int ret;

	atomic_init(&l->ml_readers, 0);
	atomic_init(&l->ml_excl, 0);
	atomic_init(&l->ml_locals, 0);
	l->ml_xwaiting = 0;
	ret = pthread_mutex_init(&l->ml_mutex, NULL);
	if (ret)
		return -ret;
	ret = pthread_cond_init(&l->ml_drained, NULL);
	if (ret)
		goto out_mutex;
	ret = pthread_cond_init(&l->ml_rd_ok, NULL);
	if (ret)
		goto out_drained;
	ret = pthread_cond_init(&l->ml_x_done, NULL);
	if (ret)
		goto out_rd_ok;
	return 0;

out_rd_ok:
	pthread_cond_destroy(&l->ml_rd_ok);
out_drained:
	pthread_cond_destroy(&l->ml_drained);
out_mutex:
	pthread_mutex_destroy(&l->ml_mutex);
	return -ret;
}

void
sf_mlock_destroy(struct sf_mlock *l)
{
	int e = atomic_load(&l->ml_excl);

	SF_ASSERT(atomic_load(&l->ml_readers) == 0);
	SF_ASSERT(atomic_load(&l->ml_locals) == 0);
	SF_ASSERT(e == ML_FREE || e == ML_LOCAL); /* an empty group stays */
	(void)e;
	pthread_cond_destroy(&l->ml_x_done);
	pthread_cond_destroy(&l->ml_rd_ok);
	pthread_cond_destroy(&l->ml_drained);
	pthread_mutex_destroy(&l->ml_mutex);
}

/* With ml_mutex held: ml_excl changed; wake whoever waits for that. */
static void
mlock_changed(struct sf_mlock *l, int e)
{
	atomic_store(&l->ml_excl, e);
	pthread_cond_broadcast(&l->ml_rd_ok);
}

/*
 * With ml_mutex held: say exclusive (no new shared or local holder gets
 * in), then wait until the shared and local holders are gone.  A shared
 * or local holder counts itself in and then looks at ml_excl; we set
 * ml_excl and then look at the counts (all sequentially consistent):
 * one of the two sees the other.  The last one out wakes us under
 * ml_mutex, which we hold from our look at the counts to the wait, so
 * the wake-up is not lost.  While we wait, ml_xwaiting keeps new local
 * groups from forming.
 */
static void
mlock_excl(struct sf_mlock *l)
{
	l->ml_xwaiting++;
	/* set again after each wait: while we waited without ml_mutex,
	 * another exclusive holder may have come, gone and cleared it */
	for (;;) {
		atomic_store(&l->ml_excl, ML_EXCL);
		if (!atomic_load(&l->ml_readers) &&
		    !atomic_load(&l->ml_locals))
			break;
		pthread_cond_wait(&l->ml_drained, &l->ml_mutex);
	}
	if (--l->ml_xwaiting == 0)
		pthread_cond_broadcast(&l->ml_x_done);
}

/* With ml_mutex held: let shared holders in again. */
static void
mlock_unexcl(struct sf_mlock *l)
{
	mlock_changed(l, ML_FREE);
	pthread_cond_broadcast(&l->ml_drained);
}

/* Count a local holder out.  The last one out of a group that must
 * end (an exclusive or shared taker waits) wakes the taker; a group
 * that nobody waits on stays, empty, so that the next local call gets
 * in without ml_mutex. */
static void
mlock_local_out(struct sf_mlock *l)
{
	if (atomic_fetch_sub(&l->ml_locals, 1) == 1 &&
	    atomic_load(&l->ml_excl) != ML_LOCAL) {
		pthread_mutex_lock(&l->ml_mutex);
		pthread_cond_broadcast(&l->ml_drained);
		pthread_mutex_unlock(&l->ml_mutex);
	}
}

void
sf_local_lock(struct sf_mlock *l)
{
	int e;

#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_NONE);
	held_fs = HELD_LOCAL;
#endif
	held_local = true;
	/* a group is on: join it, unless it is being ended meanwhile */
	if (atomic_load(&l->ml_excl) == ML_LOCAL) {
		atomic_fetch_add(&l->ml_locals, 1);
		if (atomic_load(&l->ml_excl) == ML_LOCAL)
			return;
		mlock_local_out(l);
	}
	pthread_mutex_lock(&l->ml_mutex);
	for (;;) {
		/* an exclusive taker waits: let it have its turn */
		while (l->ml_xwaiting)
			pthread_cond_wait(&l->ml_x_done, &l->ml_mutex);
		e = atomic_load(&l->ml_excl);
		if (e == ML_LOCAL) {
			atomic_fetch_add(&l->ml_locals, 1);
			break;
		}
		if (e != ML_FREE) {
			pthread_cond_wait(&l->ml_rd_ok, &l->ml_mutex);
			continue;
		}
		/* the first of a group: keep shared holders out, wait
		 * for those in, then open the group */
		mlock_changed(l, ML_FORMING);
		while (atomic_load(&l->ml_readers) &&
		       atomic_load(&l->ml_excl) == ML_FORMING)
			pthread_cond_wait(&l->ml_drained, &l->ml_mutex);
		if (atomic_load(&l->ml_excl) != ML_FORMING)
			continue; /* an exclusive taker came */
		atomic_fetch_add(&l->ml_locals, 1);
		mlock_changed(l, ML_LOCAL);
		break;
	}
	pthread_mutex_unlock(&l->ml_mutex);
}

void
sf_local_unlock(struct sf_mlock *l)
{
#ifndef NDEBUG
	SF_ASSERT(held_fs == HELD_LOCAL);
	SF_ASSERT(!held_tables);
	held_fs = HELD_NONE;
#endif
	held_local = false;
	SF_ASSERT(atomic_load(&l->ml_locals) > 0);
	mlock_local_out(l);
}

void
sf_tables_lock(pthread_mutex_t *m)
{
	if (!held_local)
		return;
#ifndef NDEBUG
	SF_ASSERT(!held_tables); /* a leaf: never nested */
	held_tables = true;
#endif
	pthread_mutex_lock(m);
}

void
sf_tables_unlock(pthread_mutex_t *m)
{
	if (!held_local)
		return;
#ifndef NDEBUG
	SF_ASSERT(held_tables);
	held_tables = false;
#endif
	pthread_mutex_unlock(m);
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
		int e;

		atomic_fetch_add(&l->ml_readers, 1);
		if (atomic_load(&l->ml_excl) == ML_FREE)
			return;
		/* another mode is on or coming: step back and wait */
		mlock_reader_out(l);
		pthread_mutex_lock(&l->ml_mutex);
		while ((e = atomic_load(&l->ml_excl)) != ML_FREE) {
			if (e != ML_LOCAL && e != ML_TO_SHARED) {
				pthread_cond_wait(&l->ml_rd_ok, &l->ml_mutex);
				continue;
			}
			/* end the local group: no one joins it now (the
			 * counterpart of mlock_excl()), and its last one
			 * out wakes us */
			if (e == ML_LOCAL)
				mlock_changed(l, ML_TO_SHARED);
			if (!atomic_load(&l->ml_locals)) {
				mlock_changed(l, ML_FREE);
				break;
			}
			pthread_cond_wait(&l->ml_drained, &l->ml_mutex);
		}
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
sf_mutex_local(void)
{
	return held_local;
}

bool
sf_tables_held(void)
{
#ifndef NDEBUG
	return held_fs == HELD_EXCL || held_fs == HELD_NONE ||
	       (held_fs == HELD_LOCAL && held_tables);
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
