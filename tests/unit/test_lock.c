/* SPDX-License-Identifier: MIT */
/*
 * test_lock.c - sf_lock's three modes (lock.c): shared holders run at
 * the same time, an exclusive taker waits for them and keeps new ones
 * out meanwhile, a condition wait under exclusive drains the shared
 * holders that came in before it returns; local holders run beside each
 * other but never beside shared or exclusive ones, and a waiting
 * exclusive taker keeps new local ones out; the inode locks; and the
 * debug record tells the modes apart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"

static struct sf_mlock lk;

/* Wait up to 5 s for *@flag; whether it came. */
static bool
wait_flag(atomic_int *flag)
{
	int i;

	for (i = 0; i < 5000 && !atomic_load(flag); i++)
		usleep(1000);
	return atomic_load(flag) != 0;
}

struct holder {
	bool h_excl;
	bool h_local;
	atomic_int h_in;      /* has the lock */
	atomic_int h_release; /* may let it go */
	atomic_int h_out;     /* has let it go */
	atomic_int *h_order;  /* incremented when it got in */
	int h_rank;	      /* *h_order when it got in */
};

static void *
holder_main(void *arg)
{
	struct holder *h = arg;

	if (h->h_excl)
		sf_mutex_lock(&lk);
	else if (h->h_local)
		sf_local_lock(&lk);
	else
		sf_shared_lock(&lk);
	if (h->h_order)
		h->h_rank = atomic_fetch_add(h->h_order, 1);
	atomic_store(&h->h_in, 1);
	while (!atomic_load(&h->h_release))
		usleep(1000);
	if (h->h_excl)
		sf_mutex_unlock(&lk);
	else if (h->h_local)
		sf_local_unlock(&lk);
	else
		sf_shared_unlock(&lk);
	atomic_store(&h->h_out, 1);
	return NULL;
}

static int
setup(void **state)
{
	(void)state;
	return sf_mlock_init(&lk);
}

static int
teardown(void **state)
{
	(void)state;
	sf_mlock_destroy(&lk);
	return 0;
}

/* Two shared (@local: local) holders at once. */
static void
two_together(bool local)
{
	struct holder a = {.h_local = local}, b = {.h_local = local};
	pthread_t ta, tb;

	assert_int_equal(pthread_create(&ta, NULL, holder_main, &a), 0);
	assert_true(wait_flag(&a.h_in));
	assert_int_equal(pthread_create(&tb, NULL, holder_main, &b), 0);
	assert_true(wait_flag(&b.h_in)); /* while a still holds it */
	atomic_store(&a.h_release, 1);
	atomic_store(&b.h_release, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
}

static void
test_shared_together(void **state)
{
	(void)state;
	two_together(false);
}

/* An exclusive taker waits for the shared (@local: local) holder and,
 * while it waits, a new taker of the same mode waits behind it. */
static void
exclusive_waits_for(bool local)
{
	atomic_int order = 0;
	struct holder a = {.h_local = local},
		      c = {.h_excl = true, .h_order = &order},
		      d = {.h_local = local, .h_order = &order};
	pthread_t ta, tc, td;

	assert_int_equal(pthread_create(&ta, NULL, holder_main, &a), 0);
	assert_true(wait_flag(&a.h_in));
	assert_int_equal(pthread_create(&tc, NULL, holder_main, &c), 0);
	usleep(100000);
	assert_false(atomic_load(&c.h_in));
	assert_int_equal(pthread_create(&td, NULL, holder_main, &d), 0);
	usleep(100000);
	assert_false(atomic_load(&d.h_in)); /* the writer is not starved */
	atomic_store(&a.h_release, 1);
	assert_true(wait_flag(&c.h_in));
	usleep(50000);
	assert_false(atomic_load(&d.h_in)); /* not beside the writer */
	atomic_store(&c.h_release, 1);
	assert_true(wait_flag(&d.h_in));
	atomic_store(&d.h_release, 1);
	pthread_join(ta, NULL);
	pthread_join(tc, NULL);
	pthread_join(td, NULL);
	assert_int_equal(c.h_rank, 0);
	assert_int_equal(d.h_rank, 1);
}

static void
test_exclusive_waits(void **state)
{
	(void)state;
	exclusive_waits_for(false);
}

static void
test_local_together(void **state)
{
	(void)state;
	two_together(true);
}

/* @first holds; @second, of another mode, waits until it is gone. */
static void
one_after_other(struct holder *first, struct holder *second)
{
	pthread_t t1, t2;

	assert_int_equal(pthread_create(&t1, NULL, holder_main, first), 0);
	assert_true(wait_flag(&first->h_in));
	assert_int_equal(pthread_create(&t2, NULL, holder_main, second), 0);
	usleep(100000);
	assert_false(atomic_load(&second->h_in));
	atomic_store(&first->h_release, 1);
	assert_true(wait_flag(&second->h_in));
	assert_true(atomic_load(&first->h_out));
	atomic_store(&second->h_release, 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
}

/* Local and shared holders never at once, whichever came first. */
static void
test_local_excludes_shared(void **state)
{
	struct holder a = {.h_local = true}, b = {0};
	struct holder c = {0}, d = {.h_local = true};

	(void)state;
	one_after_other(&a, &b);
	one_after_other(&c, &d);
}

/* The same with a local holder; and exclusive after local. */
static void
test_exclusive_waits_for_local(void **state)
{
	struct holder e = {.h_excl = true}, f = {.h_local = true};

	(void)state;
	exclusive_waits_for(true);
	one_after_other(&e, &f);
}

static struct sf_ilocks il;
static atomic_int ilock_got;

static void *
ilock_other(void *arg)
{
	struct sf_ilockset set = {0};

	atomic_store(&ilock_got, ilock_try(&il, &set, (uint64_t)(uintptr_t)arg)
				     ? 1 : -1);
	ilock_drop(&il, &set);
	return NULL;
}

/* Inode locks: a set takes each stripe once, in order, tries what it
 * holds for free, and another thread's try of a held stripe fails. */
static void
test_ilocks(void **state)
{
	struct sf_ilockset set = {0};
	uint64_t a = 5, b = 6, c;
	pthread_t t;

	(void)state;
	assert_int_equal(ilock_init(&il), 0);
	for (c = 7; dlock_stripe(c) == dlock_stripe(a) ||
		    dlock_stripe(c) == dlock_stripe(b);
	     c++)
		;
	ilock_take(&il, &set, b, a); /* any order in; ascending inside */
	assert_int_equal(set.is_n, dlock_stripe(a) == dlock_stripe(b) ? 1 : 2);
	ilock_take(&il, &set, a, 0); /* held: nothing more */
	assert_int_equal(set.is_n, dlock_stripe(a) == dlock_stripe(b) ? 1 : 2);
	assert_true(ilock_try(&il, &set, b));
	atomic_store(&ilock_got, 0);
	assert_int_equal(pthread_create(&t, NULL, ilock_other,
					(void *)(uintptr_t)a), 0);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&ilock_got), -1);
	assert_true(ilock_try(&il, &set, c)); /* free: taken */
	ilock_drop(&il, &set);
	assert_int_equal(set.is_n, 0);
	atomic_store(&ilock_got, 0);
	assert_int_equal(pthread_create(&t, NULL, ilock_other,
					(void *)(uintptr_t)a), 0);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&ilock_got), 1);
	ilock_destroy(&il);
}

static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int waiter_back;
static atomic_int waiter_go;
static atomic_int waiter_excl; /* held exclusive on return */

static void *
waiter_main(void *arg)
{
	(void)arg;
	sf_mutex_lock(&lk);
	while (!atomic_load(&waiter_go))
		sf_cond_wait(&cv, &lk);
	atomic_store(&waiter_excl, sf_mutex_held_excl());
	atomic_store(&waiter_back, 1);
	sf_mutex_unlock(&lk);
	return NULL;
}

/* Shared holders may come in while an exclusive holder waits on a
 * condition; it returns only once they have gone. */
static void
test_cond_wait_drains(void **state)
{
	pthread_t tw;

	(void)state;
	atomic_store(&waiter_back, 0);
	atomic_store(&waiter_go, 0);
	assert_int_equal(pthread_create(&tw, NULL, waiter_main, NULL), 0);
	usleep(50000);
	sf_shared_lock(&lk); /* comes in while the waiter waits */
	atomic_store(&waiter_go, 1);
	pthread_cond_broadcast(&cv);
	usleep(100000);
	assert_false(atomic_load(&waiter_back));
	sf_shared_unlock(&lk);
	assert_true(wait_flag(&waiter_back));
	pthread_join(tw, NULL);
	assert_true(atomic_load(&waiter_excl));
}

/* The debug record: held in either mode, exclusive, shared. */
static void
test_held_record(void **state)
{
	(void)state;
#ifndef NDEBUG
	assert_false(sf_mutex_held());
	assert_false(sf_mutex_shared());
	sf_shared_lock(&lk);
	assert_true(sf_mutex_held());
	assert_false(sf_mutex_held_excl());
	assert_true(sf_mutex_shared());
	sf_shared_unlock(&lk);
	sf_mutex_lock(&lk);
	assert_true(sf_mutex_held());
	assert_true(sf_mutex_held_excl());
	assert_false(sf_mutex_shared());
	sf_mutex_unlock(&lk);
	assert_false(sf_mutex_held());
	sf_local_lock(&lk);
	assert_true(sf_mutex_held());
	assert_true(sf_mutex_local());
	assert_false(sf_mutex_held_excl());
	assert_false(sf_mutex_shared());
	assert_false(sf_tables_held()); /* needs sf_tables too */
	{
		pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

		sf_tables_lock(&m);
		assert_true(sf_tables_held());
		assert_int_equal(pthread_mutex_trylock(&m), EBUSY);
		sf_tables_unlock(&m);
		assert_false(sf_tables_held());
	}
	sf_local_unlock(&lk);
	assert_false(sf_mutex_local());
	assert_true(sf_tables_held()); /* no lock at all: set-up */
#else
	skip();
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared_together),
	    cmocka_unit_test(test_exclusive_waits),
	    cmocka_unit_test(test_cond_wait_drains),
	    cmocka_unit_test(test_local_together),
	    cmocka_unit_test(test_local_excludes_shared),
	    cmocka_unit_test(test_exclusive_waits_for_local),
	    cmocka_unit_test(test_ilocks),
	    cmocka_unit_test(test_held_record),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
