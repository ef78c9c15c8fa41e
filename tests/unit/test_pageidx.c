/* SPDX-License-Identifier: MIT */
/*
 * test_pageidx.c - unit tests for the page index radix tree.
 *
 * The heart is a seeded model test: random stores, erases, lookups, next
 * walks and range erases run against both the tree and a sorted array of
 * (index, entry) pairs, and after every batch the two must agree entry for
 * entry.  The model also predicts the tree's exact shape - its height (the
 * least that spans the largest index) and its node count (the distinct
 * index prefixes at each level) - so a node left behind after it emptied,
 * or a root left needlessly tall, fails the test even if pageidx_check()
 * were to miss it.  Some stores run with an allocation failure injected
 * (sf_fail_after); a store that fails must leave the tree exactly as the
 * model says it was.
 *
 * Set PAGEIDX_SEED in the environment to replay a run; the seed in use is
 * printed at the start.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "pageidx.h"

#define MODEL_OPS 200000
#define MODEL_BATCH 1000
#define MODEL_SOFT_MAX 3000 /* above this, favour erases over stores */
#define MODEL_PHASE 10000   /* ops between changes of gen_limit */

/* Compare as uint64_t whatever cmocka's LargestIntegralType is. */
#define assert_u64_equal(a, b) assert_true((uint64_t)(a) == (uint64_t)(b))

static uint64_t test_seed = 0x5eedf00dcafe1234ull;

/* ---- random numbers: splitmix64 ---- */

struct rng {
	uint64_t r_state;
};

static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->r_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* A number of random magnitude: uniform bits shifted right 0..63. */
static uint64_t
rng_magnitude(struct rng *r)
{
	unsigned shift = (unsigned)rng_below(r, 64);

	return rng_next(r) >> shift;
}

/* ---- the model: a sorted array of (index, entry) ---- */

struct model_ent {
	uint64_t me_index;
	void *me_entry;
};

struct model {
	struct model_ent *m_ents; /* sorted by me_index, no duplicates */
	size_t m_n;
	size_t m_cap;
};

/* Position of the first entry with me_index >= @index. */
static size_t
model_lower_bound(const struct model *m, uint64_t index)
{
	size_t lo = 0, hi = m->m_n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->m_ents[mid].me_index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void *
model_lookup(const struct model *m, uint64_t index)
{
	size_t i = model_lower_bound(m, index);

	if (i < m->m_n && m->m_ents[i].me_index == index)
		return m->m_ents[i].me_entry;
	return NULL;
}

static void
model_store(struct model *m, uint64_t index, void *entry)
{
	size_t i = model_lower_bound(m, index);

	if (i < m->m_n && m->m_ents[i].me_index == index) {
		m->m_ents[i].me_entry = entry;
		return;
	}
	if (m->m_n == m->m_cap) {
		m->m_cap = m->m_cap ? 2 * m->m_cap : 256;
		m->m_ents = realloc(m->m_ents, m->m_cap * sizeof(*m->m_ents));
		assert_non_null(m->m_ents);
	}
	memmove(&m->m_ents[i + 1], &m->m_ents[i],
		(m->m_n - i) * sizeof(*m->m_ents));
	m->m_ents[i].me_index = index;
	m->m_ents[i].me_entry = entry;
	m->m_n++;
}

static void *
model_erase(struct model *m, uint64_t index)
{
	size_t i = model_lower_bound(m, index);
	void *entry;

	if (i == m->m_n || m->m_ents[i].me_index != index)
		return NULL;
	entry = m->m_ents[i].me_entry;
	memmove(&m->m_ents[i], &m->m_ents[i + 1],
		(m->m_n - i - 1) * sizeof(*m->m_ents));
	m->m_n--;
	return entry;
}

/* Entries of [first, last] are m_ents[*startp .. *startp + return). */
static size_t
model_range(const struct model *m, uint64_t first, uint64_t last,
	    size_t *startp)
{
	size_t i = model_lower_bound(m, first), j = i;

	while (j < m->m_n && m->m_ents[j].me_index <= last)
		j++;
	*startp = i;
	return j - i;
}

static void
model_erase_n(struct model *m, size_t start, size_t n)
{
	memmove(&m->m_ents[start], &m->m_ents[start + n],
		(m->m_n - start - n) * sizeof(*m->m_ents));
	m->m_n -= n;
}

static void
model_free(struct model *m)
{
	free(m->m_ents);
	memset(m, 0, sizeof(*m));
}

/* ---- what the tree's shape must be ---- */

/* Least height spanning @index, computed independently of pageidx.c. */
static unsigned
expect_height_for(uint64_t index)
{
	unsigned h = 1;

	while (h * PAGEIDX_SHIFT < 64 && index >= (uint64_t)1
						       << (h * PAGEIDX_SHIFT))
		h++;
	return h;
}

static uint64_t
prefix(uint64_t index, unsigned bits)
{
	return bits >= 64 ? 0 : index >> bits;
}

/*
 * Nodes a minimal tree holding the model's indices has: a level-l node
 * is named by the index bits above 6l, so level l has as many nodes as
 * distinct such prefixes.
 */
static uint64_t
expect_nodes(const struct model *m)
{
	uint64_t nodes = 0;
	unsigned level, height;
	size_t i;

	if (m->m_n == 0)
		return 0;
	height = expect_height_for(m->m_ents[m->m_n - 1].me_index);
	for (level = 1; level <= height; level++) {
		unsigned bits = level * PAGEIDX_SHIFT;

		nodes++;
		for (i = 1; i < m->m_n; i++)
			if (prefix(m->m_ents[i].me_index, bits) !=
			    prefix(m->m_ents[i - 1].me_index, bits))
				nodes++;
	}
	return nodes;
}

/* Bytes of one node, learned from a one-node tree. */
static uint64_t
node_size(void)
{
	static uint64_t size;
	struct pageidx pi;

	if (size == 0) {
		pageidx_init(&pi);
		assert_int_equal(pageidx_store(&pi, 7, pageidx_mk_value(7)),
				 0);
		size = pageidx_node_bytes(&pi);
		pageidx_destroy(&pi, NULL, NULL);
		assert_true(size >= PAGEIDX_SLOTS * sizeof(void *));
	}
	return size;
}

/* The tree holds exactly the model's entries, in a minimal shape. */
static void
assert_matches(const struct pageidx *pi, const struct model *m)
{
	uint64_t index = 0, last;
	size_t i = 0;
	void *entry;

	assert_int_equal(pageidx_check(pi), 0);
	assert_u64_equal(pi->pi_count, m->m_n);
	if (m->m_n == 0) {
		assert_null(pi->pi_root);
		assert_int_equal(pi->pi_height, 0);
		assert_u64_equal(pageidx_node_bytes(pi), 0);
		index = 12345;
		assert_null(pageidx_next(pi, &index));
		assert_u64_equal(index, 12345);
		return;
	}
	last = m->m_ents[m->m_n - 1].me_index;
	assert_int_equal(pi->pi_height, expect_height_for(last));
	assert_u64_equal(pageidx_node_bytes(pi),
			 expect_nodes(m) * node_size());

	for (;;) {
		entry = pageidx_next(pi, &index);
		if (entry == NULL)
			break;
		assert_true(i < m->m_n);
		assert_u64_equal(index, m->m_ents[i].me_index);
		assert_ptr_equal(entry, m->m_ents[i].me_entry);
		assert_ptr_equal(pageidx_lookup(pi, index), entry);
		i++;
		if (index == UINT64_MAX)
			break;
		index++;
	}
	assert_u64_equal(i, m->m_n);
	if (last != UINT64_MAX) {
		index = last + 1;
		assert_null(pageidx_next(pi, &index));
		assert_u64_equal(index, last + 1);
	}
}

/* ---- generators ---- */

/*
 * New indices are masked to gen_limit (2^k - 1), which the model test
 * changes now and then, erasing what lies above it, so that trees of every
 * height are grown and cut down.
 */
static uint64_t gen_limit = UINT64_MAX;

static uint64_t
gen_index(struct rng *r, const struct model *m)
{
	uint64_t base;

	switch (rng_below(r, 10)) {
	case 0:
	case 1:
		/* Dense and small: leaves fill up and empty out. */
		return rng_below(r, 300) & gen_limit;
	case 2:
		return rng_below(r, 1 << 14) & gen_limit;
	case 3:
	case 4:
		/* Either side of a level boundary, 64^1 .. 64^10 = 2^60. */
		base = (uint64_t)1 << (PAGEIDX_SHIFT * (1 + rng_below(r, 10)));
		return (base + rng_below(r, 7) - 3) & gen_limit;
	case 5:
		return (UINT64_MAX - rng_below(r, 8)) & gen_limit;
	case 6:
		/* Any magnitude. */
		return rng_magnitude(r) & gen_limit;
	default:
		/* An index that is present, if any. */
		if (m->m_n == 0)
			return rng_below(r, 300);
		return m->m_ents[rng_below(r, m->m_n)].me_index;
	}
}

static void *
gen_entry(struct rng *r)
{
	uint64_t x = rng_next(r);

	if (x & 1) /* a value below 2^62 */
		return pageidx_mk_value(rng_magnitude(r) >> 2);
	/* A stand-in pointer: aligned, non-NULL, never dereferenced. */
	return (void *)(uintptr_t)((x & ~(uint64_t)7) | 8);
}

/* ---- erase_range callback recorder ---- */

struct recorder {
	const struct pageidx *rec_pi;
	struct model_ent *rec_ents;
	size_t rec_n;
	size_t rec_cap;
};

static void
record_fn(void *arg, uint64_t index, void *entry)
{
	struct recorder *rec = arg;

	/* Called before the entry goes, in ascending index order. */
	assert_ptr_equal(pageidx_lookup(rec->rec_pi, index), entry);
	if (rec->rec_n > 0)
		assert_true(rec->rec_ents[rec->rec_n - 1].me_index < index);
	if (rec->rec_n == rec->rec_cap) {
		rec->rec_cap = rec->rec_cap ? 2 * rec->rec_cap : 64;
		rec->rec_ents = realloc(rec->rec_ents,
					rec->rec_cap * sizeof(*rec->rec_ents));
		assert_non_null(rec->rec_ents);
	}
	rec->rec_ents[rec->rec_n].me_index = index;
	rec->rec_ents[rec->rec_n].me_entry = entry;
	rec->rec_n++;
}

/* Erase [first, last] from both, checking the callbacks against the model. */
static void
erase_range_both(struct pageidx *pi, struct model *m, uint64_t first,
		 uint64_t last)
{
	struct recorder rec = { .rec_pi = pi };
	size_t start, n = 0, i;
	uint64_t erased;

	if (first <= last)
		n = model_range(m, first, last, &start);
	erased = pageidx_erase_range(pi, first, last, record_fn, &rec);
	assert_u64_equal(erased, n);
	assert_u64_equal(rec.rec_n, n);
	for (i = 0; i < n; i++) {
		assert_u64_equal(rec.rec_ents[i].me_index,
				 m->m_ents[start + i].me_index);
		assert_ptr_equal(rec.rec_ents[i].me_entry,
				 m->m_ents[start + i].me_entry);
		assert_null(pageidx_lookup(pi, rec.rec_ents[i].me_index));
	}
	if (n > 0)
		model_erase_n(m, start, n);
	free(rec.rec_ents);
}

/* ---- the model test ---- */

static void
model_op_store(struct pageidx *pi, struct model *m, struct rng *r)
{
	uint64_t index = gen_index(r, m), bytes;
	void *entry = gen_entry(r);
	unsigned height;
	int rc;

	if (rng_below(r, 8) != 0) {
		assert_int_equal(pageidx_store(pi, index, entry), 0);
		model_store(m, index, entry);
		return;
	}
	/* Fail one of the first few allocations, if the store makes any. */
	bytes = pageidx_node_bytes(pi);
	height = pi->pi_height;
	sf_fail_after = 1 + (int)rng_below(r, 12);
	rc = pageidx_store(pi, index, entry);
	sf_fail_after = 0;
	if (rc == 0) {
		model_store(m, index, entry);
		return;
	}
	assert_int_equal(rc, -ENOMEM);
	assert_u64_equal(pageidx_node_bytes(pi), bytes);
	assert_int_equal(pi->pi_height, height);
	assert_matches(pi, m);
}

/* A run of consecutive indices, as a file written sequentially. */
static void
model_op_store_run(struct pageidx *pi, struct model *m, struct rng *r)
{
	uint64_t index = gen_index(r, m), n = rng_below(r, 300);
	void *entry;

	for (; n > 0; n--, index++) {
		entry = gen_entry(r);
		assert_int_equal(pageidx_store(pi, index, entry), 0);
		model_store(m, index, entry);
		if (index == UINT64_MAX)
			break;
	}
}

static void
model_op_next(struct pageidx *pi, struct model *m, struct rng *r)
{
	uint64_t start = gen_index(r, m), index;
	size_t i;
	void *entry;

	if (rng_below(r, 4) == 0 && start != UINT64_MAX)
		start++; /* just past a present index */
	index = start;
	entry = pageidx_next(pi, &index);
	i = model_lower_bound(m, start);
	if (i == m->m_n) {
		assert_null(entry);
		assert_u64_equal(index, start);
	} else {
		assert_ptr_equal(entry, m->m_ents[i].me_entry);
		assert_u64_equal(index, m->m_ents[i].me_index);
	}
}

static void
model_op_erase_range(struct pageidx *pi, struct model *m, struct rng *r)
{
	uint64_t first = gen_index(r, m), last;

	/* Mostly short spans; now and then one reaching far or to the end. */
	switch (rng_below(r, 200)) {
	case 0:
		last = UINT64_MAX;
		break;
	case 1:
		last = first - 1 - rng_below(r, 3); /* usually first > last */
		break;
	case 2:
		last = first + rng_magnitude(r);
		if (last < first)
			last = UINT64_MAX;
		break;
	default:
		last = first + rng_below(r, 200);
		if (last < first)
			last = UINT64_MAX;
		break;
	}
	erase_range_both(pi, m, first, last);
}

static void
test_model(void **state)
{
	static const unsigned limit_bits[] = { 6, 12, 20, 36, 60, 64, 64 };
	const unsigned nlimits = sizeof(limit_bits) / sizeof(limit_bits[0]);
	struct rng r = { .r_state = test_seed };
	struct model m = { 0 };
	struct pageidx pi;
	uint64_t index;
	unsigned op, pick, store_pct, bits;

	(void)state;
	pageidx_init(&pi);
	for (op = 1; op <= MODEL_OPS; op++) {
		if (op % MODEL_PHASE == 0) {
			bits = limit_bits[rng_below(&r, nlimits)];
			gen_limit = bits == 64 ? UINT64_MAX :
						 ((uint64_t)1 << bits) - 1;
			if (gen_limit != UINT64_MAX)
				erase_range_both(&pi, &m, gen_limit + 1,
						 UINT64_MAX);
			assert_matches(&pi, &m);
		}
		store_pct = m.m_n < MODEL_SOFT_MAX ? 40 : 15;
		pick = (unsigned)rng_below(&r, 100);
		if (pick < store_pct) {
			model_op_store(&pi, &m, &r);
		} else if (pick < 65) {
			index = gen_index(&r, &m);
			assert_ptr_equal(pageidx_erase(&pi, index),
					 model_erase(&m, index));
			assert_null(pageidx_lookup(&pi, index));
		} else if (pick < 75) {
			index = gen_index(&r, &m);
			assert_ptr_equal(pageidx_lookup(&pi, index),
					 model_lookup(&m, index));
		} else if (pick < 97) {
			model_op_next(&pi, &m, &r);
		} else if (pick < 99) {
			if (m.m_n < MODEL_SOFT_MAX)
				model_op_store_run(&pi, &m, &r);
		} else {
			model_op_erase_range(&pi, &m, &r);
		}
		if (op % MODEL_BATCH == 0)
			assert_matches(&pi, &m);
	}

	gen_limit = UINT64_MAX;

	/* Take it all down in a few sparse ranges; nothing may remain. */
	erase_range_both(&pi, &m, 1000, (uint64_t)1 << 40);
	assert_matches(&pi, &m);
	erase_range_both(&pi, &m, (uint64_t)1 << 62, UINT64_MAX);
	assert_matches(&pi, &m);
	erase_range_both(&pi, &m, 0, UINT64_MAX);
	assert_matches(&pi, &m);
	assert_null(pi.pi_root);
	assert_u64_equal(pageidx_node_bytes(&pi), 0);
	model_free(&m);
}

/* ---- directed tests ---- */

static void
test_empty(void **state)
{
	struct pageidx pi;
	uint64_t index = 0;

	(void)state;
	pageidx_init(&pi);
	assert_null(pi.pi_root);
	assert_int_equal(pi.pi_height, 0);
	assert_u64_equal(pi.pi_count, 0);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pageidx_node_bytes(&pi), 0);
	assert_null(pageidx_lookup(&pi, 0));
	assert_null(pageidx_lookup(&pi, UINT64_MAX));
	assert_null(pageidx_erase(&pi, 0));
	assert_null(pageidx_next(&pi, &index));
	assert_u64_equal(index, 0);
	assert_u64_equal(pageidx_erase_range(&pi, 0, UINT64_MAX, NULL, NULL),
			 0);
	pageidx_destroy(&pi, NULL, NULL);
	assert_int_equal(pageidx_check(&pi), 0);
}

static void
test_values(void **state)
{
	static const uint64_t vals[] = {
		0, 1, 2, 3, 0xffffffffull, 0x100000000ull,
		((uint64_t)1 << 62) - 1, (uint64_t)1 << 62,
		((uint64_t)1 << 62) + 12345, ((uint64_t)1 << 63) - 1,
	};
	static long aligned[4];
	struct pageidx pi;
	uint64_t index;
	unsigned i, n = sizeof(vals) / sizeof(vals[0]);
	void *e;

	(void)state;
	pageidx_init(&pi);
	for (i = 0; i < n; i++) {
		e = pageidx_mk_value(vals[i]);
		assert_non_null(e);
		assert_true(pageidx_is_value(e));
		assert_u64_equal(pageidx_value(e), vals[i]);
		/* Spread them: small, mid and huge indices. */
		assert_int_equal(pageidx_store(&pi, vals[i] * 3 + i, e), 0);
	}
	for (i = 0; i < n; i++) {
		e = pageidx_lookup(&pi, vals[i] * 3 + i);
		assert_true(pageidx_is_value(e));
		assert_u64_equal(pageidx_value(e), vals[i]);
	}
	/* A real pointer sits beside them and is told apart. */
	assert_int_equal(pageidx_store(&pi, 6, &aligned[1]), 0);
	assert_int_equal(pageidx_store(&pi, 7, &aligned[2]), 0);
	assert_false(pageidx_is_value(pageidx_lookup(&pi, 6)));
	assert_ptr_equal(pageidx_lookup(&pi, 7), &aligned[2]);
	index = 5;
	assert_ptr_equal(pageidx_next(&pi, &index), &aligned[1]);
	assert_u64_equal(index, 6);
	/* Replacing a value by a pointer keeps the count. */
	assert_int_equal(pageidx_store(&pi, 0, &aligned[0]), 0);
	assert_ptr_equal(pageidx_lookup(&pi, 0), &aligned[0]);
	assert_u64_equal(pi.pi_count, n + 2);
	assert_int_equal(pageidx_check(&pi), 0);
	pageidx_destroy(&pi, NULL, NULL);
	assert_null(pi.pi_root);
	assert_u64_equal(pageidx_node_bytes(&pi), 0);
}

static void
test_height(void **state)
{
	struct pageidx pi;
	uint64_t top = (uint64_t)1 << 60, ns = node_size();

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store(&pi, 63, pageidx_mk_value(63)), 0);
	assert_int_equal(pi.pi_height, 1);
	assert_u64_equal(pageidx_node_bytes(&pi), ns);
	assert_int_equal(pageidx_store(&pi, 64, pageidx_mk_value(64)), 0);
	assert_int_equal(pi.pi_height, 2);
	assert_u64_equal(pageidx_node_bytes(&pi), 3 * ns);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_ptr_equal(pageidx_erase(&pi, 64), pageidx_mk_value(64));
	assert_int_equal(pi.pi_height, 1);
	assert_u64_equal(pageidx_node_bytes(&pi), ns);

	/* 63 and 2^60: root of height 11 with slots 0 and 1. */
	assert_int_equal(pageidx_store(&pi, top, pageidx_mk_value(1)), 0);
	assert_int_equal(pi.pi_height, 11);
	assert_u64_equal(pageidx_node_bytes(&pi), 21 * ns);
	assert_int_equal(pageidx_check(&pi), 0);
	/* Root keeps only slot 1: still needs height 11. */
	assert_ptr_equal(pageidx_erase(&pi, 63), pageidx_mk_value(63));
	assert_int_equal(pi.pi_height, 11);
	assert_u64_equal(pageidx_node_bytes(&pi), 11 * ns);
	assert_int_equal(pageidx_check(&pi), 0);
	/* Root keeps only slot 0: shrinks all the way down. */
	assert_int_equal(pageidx_store(&pi, 0, pageidx_mk_value(0)), 0);
	assert_ptr_equal(pageidx_erase(&pi, top), pageidx_mk_value(1));
	assert_int_equal(pi.pi_height, 1);
	assert_u64_equal(pageidx_node_bytes(&pi), ns);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_ptr_equal(pageidx_erase(&pi, 0), pageidx_mk_value(0));
	assert_null(pi.pi_root);
	assert_int_equal(pi.pi_height, 0);
	assert_u64_equal(pi.pi_count, 0);

	/* The very last index alone. */
	assert_int_equal(pageidx_store(&pi, UINT64_MAX, &pi), 0);
	assert_int_equal(pi.pi_height, 11);
	assert_u64_equal(pageidx_node_bytes(&pi), 11 * ns);
	assert_ptr_equal(pageidx_lookup(&pi, UINT64_MAX), &pi);
	assert_null(pageidx_lookup(&pi, UINT64_MAX - 1));
	assert_null(pageidx_lookup(&pi, 0));
	assert_ptr_equal(pageidx_erase(&pi, UINT64_MAX), &pi);
	assert_null(pi.pi_root);
	assert_u64_equal(pageidx_node_bytes(&pi), 0);

	/* Storing NULL erases rather than planting a counted hole. */
	assert_int_equal(pageidx_store(&pi, 9, pageidx_mk_value(9)), 0);
	assert_int_equal(pageidx_store(&pi, 9, NULL), 0);
	assert_null(pi.pi_root);
	assert_u64_equal(pi.pi_count, 0);
	assert_int_equal(pageidx_store(&pi, 9, NULL), 0);
	assert_int_equal(pageidx_check(&pi), 0);
}

static void
test_sparse_next(void **state)
{
	const uint64_t far = (uint64_t)1 << 50;
	struct rng r = { .r_state = test_seed ^ 0x1234 };
	struct recorder rec;
	struct pageidx pi;
	uint64_t index, start;
	unsigned i;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store(&pi, 0, pageidx_mk_value(0)), 0);
	assert_int_equal(pageidx_store(&pi, far, pageidx_mk_value(50)), 0);
	assert_int_equal(pageidx_store(&pi, UINT64_MAX, pageidx_mk_value(64)),
			 0);

	index = 0;
	assert_ptr_equal(pageidx_next(&pi, &index), pageidx_mk_value(0));
	assert_u64_equal(index, 0);
	index = 1;
	assert_ptr_equal(pageidx_next(&pi, &index), pageidx_mk_value(50));
	assert_u64_equal(index, far);
	index = far + 1;
	assert_ptr_equal(pageidx_next(&pi, &index), pageidx_mk_value(64));
	assert_u64_equal(index, UINT64_MAX);
	index = UINT64_MAX;
	assert_ptr_equal(pageidx_next(&pi, &index), pageidx_mk_value(64));
	assert_u64_equal(index, UINT64_MAX);

	/* A walk over 2^64 indices must skip the holes, not visit them. */
	for (i = 0; i < 100000; i++) {
		start = 1 + rng_below(&r, far);
		index = start;
		assert_ptr_equal(pageidx_next(&pi, &index),
				 pageidx_mk_value(50));
		assert_u64_equal(index, far);
		start = far + 1 + (rng_next(&r) >> 1);
		index = start;
		assert_ptr_equal(pageidx_next(&pi, &index),
				 pageidx_mk_value(64));
		assert_u64_equal(index, UINT64_MAX);
	}

	assert_ptr_equal(pageidx_erase(&pi, UINT64_MAX), pageidx_mk_value(64));
	assert_int_equal(pi.pi_height, 9); /* 2^50 needs ceil(51/6) = 9 */
	index = far + 1;
	assert_null(pageidx_next(&pi, &index));
	assert_u64_equal(index, far + 1);
	index = UINT64_MAX;
	assert_null(pageidx_next(&pi, &index));
	assert_u64_equal(index, UINT64_MAX);

	/* Sparse range erase up to the very top. */
	memset(&rec, 0, sizeof(rec));
	rec.rec_pi = &pi;
	assert_int_equal(pageidx_store(&pi, UINT64_MAX, &pi), 0);
	assert_u64_equal(pageidx_erase_range(&pi, 1, UINT64_MAX, record_fn,
					     &rec),
			 2);
	assert_u64_equal(rec.rec_n, 2);
	assert_u64_equal(rec.rec_ents[0].me_index, far);
	assert_u64_equal(rec.rec_ents[1].me_index, UINT64_MAX);
	assert_ptr_equal(rec.rec_ents[1].me_entry, &pi);
	free(rec.rec_ents);
	assert_int_equal(pi.pi_height, 1);
	assert_u64_equal(pi.pi_count, 1);
	assert_int_equal(pageidx_check(&pi), 0);
	pageidx_destroy(&pi, NULL, NULL);
	assert_null(pi.pi_root);
}

static void
test_erase_range_bounds(void **state)
{
	struct model m = { 0 };
	struct pageidx pi;
	uint64_t i;

	(void)state;
	pageidx_init(&pi);
	for (i = 0; i < 5000; i += 3) {
		assert_int_equal(pageidx_store(&pi, i, pageidx_mk_value(i)), 0);
		model_store(&m, i, pageidx_mk_value(i));
	}
	for (i = UINT64_MAX - 20; i != 0; i++) {
		assert_int_equal(pageidx_store(&pi, i, pageidx_mk_value(i)), 0);
		model_store(&m, i, pageidx_mk_value(i));
	}
	assert_matches(&pi, &m);

	erase_range_both(&pi, &m, 10, 9); /* empty: first > last */
	erase_range_both(&pi, &m, 7, 7);  /* a hole */
	erase_range_both(&pi, &m, 9, 9);  /* one entry */
	erase_range_both(&pi, &m, 3, 30); /* both ends present */
	erase_range_both(&pi, &m, 100, 200);
	assert_matches(&pi, &m);
	/* A whole leaf (64..127) and parts of its neighbours. */
	erase_range_both(&pi, &m, 60, 130);
	assert_matches(&pi, &m);
	erase_range_both(&pi, &m, UINT64_MAX, UINT64_MAX);
	erase_range_both(&pi, &m, UINT64_MAX - 5, UINT64_MAX);
	assert_matches(&pi, &m);
	erase_range_both(&pi, &m, 4000, UINT64_MAX);
	assert_int_equal(pi.pi_height, 2);
	assert_matches(&pi, &m);

	/* destroy: callback sees everything, and nothing is left. */
	erase_range_both(&pi, &m, 0, UINT64_MAX);
	assert_matches(&pi, &m);
	model_free(&m);
}

struct fail_case {
	uint64_t fc_present[2]; /* indices stored first ... */
	unsigned fc_npresent;	/* ... this many of them */
	uint64_t fc_store;	/* the store run under injection */
	unsigned fc_allocs;	/* nodes it must add */
};

static void
build(struct pageidx *pi, struct model *m, const struct fail_case *fc)
{
	unsigned i;

	pageidx_init(pi);
	for (i = 0; i < fc->fc_npresent; i++) {
		assert_int_equal(pageidx_store(pi, fc->fc_present[i],
					       pageidx_mk_value(i)),
				 0);
		model_store(m, fc->fc_present[i], pageidx_mk_value(i));
	}
}

/*
 * Fail each allocation of a store in turn: every failure must leave the
 * tree exactly as it was, and the store must succeed once no allocation
 * fails.
 */
static void
test_store_enomem(void **state)
{
	static const struct fail_case cases[] = {
		{ { 0 }, 0, 5, 1 },
		{ { 0 }, 0, UINT64_MAX, 11 },
		{ { 0 }, 1, UINT64_MAX, 20 },
		{ { 0 }, 1, 1, 0 },	/* same leaf */
		{ { 0 }, 1, 0, 0 },	/* replace */
		{ { 0, 100 }, 2, 4096, 3 }, /* grow by one level */
		{ { 0, (uint64_t)1 << 40 }, 2, ((uint64_t)1 << 40) + 4096, 2 },
		{ { 0, (uint64_t)1 << 40 }, 2, (uint64_t)1 << 30, 5 },
		{ { 1, UINT64_MAX }, 2, UINT64_MAX - 64, 1 },
	};
	struct model m = { 0 };
	struct pageidx pi;
	uint64_t bytes;
	unsigned c, fail;
	void *entry = pageidx_mk_value(0xabcdef);
	int rc;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct fail_case *fc = &cases[c];

		for (fail = 1;; fail++) {
			build(&pi, &m, fc);
			assert_matches(&pi, &m);
			bytes = pageidx_node_bytes(&pi);
			sf_fail_after = (int)fail;
			rc = pageidx_store(&pi, fc->fc_store, entry);
			sf_fail_after = 0;
			if (rc == 0)
				break;
			assert_int_equal(rc, -ENOMEM);
			assert_u64_equal(pageidx_node_bytes(&pi), bytes);
			assert_matches(&pi, &m);
			pageidx_destroy(&pi, NULL, NULL);
			model_free(&m);
		}
		/* Failed once per allocation, then succeeded. */
		assert_int_equal(fail - 1, fc->fc_allocs);
		model_store(&m, fc->fc_store, entry);
		assert_matches(&pi, &m);
		assert_u64_equal(pageidx_node_bytes(&pi),
				 bytes + fc->fc_allocs * node_size());
		pageidx_destroy(&pi, NULL, NULL);
		assert_u64_equal(pageidx_node_bytes(&pi), 0);
		model_free(&m);
	}
}

/* pageidx_check() must see through a corrupted tree, or it checks nothing. */
static void
test_check_detects(void **state)
{
	struct pageidx pi;

	(void)state;
	pageidx_init(&pi);
	pi.pi_count = 1;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_count = 0;
	pi.pi_height = 1;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_height = 0;
	assert_int_equal(pageidx_check(&pi), 0);

	assert_int_equal(pageidx_store(&pi, 1, pageidx_mk_value(1)), 0);
	assert_int_equal(pageidx_store(&pi, 70, pageidx_mk_value(70)), 0);
	assert_int_equal(pageidx_check(&pi), 0);
	pi.pi_count++;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_count -= 2;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_count++;
	pi.pi_height = 12;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_height = 2;
	assert_int_equal(pageidx_check(&pi), 0);
	pageidx_destroy(&pi, NULL, NULL);
}

/* ---- multi-index entries (2 MiB folios: order 9) ---- */

static void *
fake_ptr(uint64_t i)
{
	/* Any 4-byte aligned, non-NULL pointer will do: never dereferenced. */
	return (void *)(uintptr_t)(0x100000 + (i << 4));
}

static void
test_multi_basic(void **state)
{
	struct pageidx pi;
	void *big = fake_ptr(1), *e;
	uint64_t idx, first;
	unsigned order;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store_multi(&pi, 512, 9, big), 0);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pi.pi_count, 512);
	assert_null(pageidx_lookup(&pi, 511));
	assert_ptr_equal(pageidx_lookup(&pi, 512), big);
	assert_ptr_equal(pageidx_lookup(&pi, 777), big);
	assert_ptr_equal(pageidx_lookup(&pi, 1023), big);
	assert_null(pageidx_lookup(&pi, 1024));
	e = pageidx_lookup_range(&pi, 800, &first, &order);
	assert_ptr_equal(e, big);
	assert_u64_equal(first, 512);
	assert_int_equal(order, 9);
	idx = 0;
	assert_ptr_equal(pageidx_next(&pi, &idx), big);
	assert_u64_equal(idx, 512);
	idx = 700;
	assert_ptr_equal(pageidx_next(&pi, &idx), big);
	assert_u64_equal(idx, 700);
	idx = 1024;
	assert_null(pageidx_next(&pi, &idx));

	/* Nothing may go inside it, nor overlap it. */
	assert_int_equal(pageidx_store(&pi, 600, fake_ptr(2)), -EEXIST);
	assert_int_equal(pageidx_store_multi(&pi, 512, 9, fake_ptr(2)),
			 -EEXIST);
	/* Neighbours, small and big. */
	assert_int_equal(pageidx_store(&pi, 5, fake_ptr(3)), 0);
	assert_int_equal(pageidx_store(&pi, 1024, fake_ptr(4)), 0);
	assert_int_equal(pageidx_store_multi(&pi, 0, 9, fake_ptr(5)),
			 -EEXIST);
	assert_int_equal(pageidx_store_multi(&pi, 1ull << 30, 9, fake_ptr(6)),
			 0);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pi.pi_count, 512 + 1 + 1 + 512);
	idx = 6;
	assert_ptr_equal(pageidx_next(&pi, &idx), big);
	assert_u64_equal(idx, 512);
	idx = 1025;
	assert_ptr_equal(pageidx_next(&pi, &idx), fake_ptr(6));
	assert_u64_equal(idx, 1ull << 30);

	/* Erase at any index inside takes it whole. */
	assert_ptr_equal(pageidx_erase(&pi, 900), big);
	assert_null(pageidx_lookup(&pi, 512));
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pi.pi_count, 2 + 512);
	assert_ptr_equal(pageidx_erase(&pi, (1ull << 30) + 3), fake_ptr(6));
	assert_int_equal(pageidx_check(&pi), 0);
	pageidx_destroy(&pi, NULL, NULL);

	/* A lone multi-index entry at 0 keeps a height-2 root. */
	assert_int_equal(pageidx_store_multi(&pi, 0, 6, big), 0);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_ptr_equal(pageidx_lookup(&pi, 63), big);
	assert_null(pageidx_lookup(&pi, 64));
	assert_ptr_equal(pageidx_erase(&pi, 10), big);
	assert_null(pi.pi_root);
}

struct range_seen {
	uint64_t rs_index[8];
	void *rs_entry[8];
	unsigned rs_n;
};

static void
range_note(void *arg, uint64_t index, void *entry)
{
	struct range_seen *rs = arg;

	rs->rs_index[rs->rs_n] = index;
	rs->rs_entry[rs->rs_n++] = entry;
}

static void
test_multi_erase_range(void **state)
{
	struct range_seen rs = { .rs_n = 0 };
	struct pageidx pi;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store(&pi, 3, fake_ptr(1)), 0);
	assert_int_equal(pageidx_store_multi(&pi, 512, 9, fake_ptr(2)), 0);
	assert_int_equal(pageidx_store(&pi, 1030, fake_ptr(3)), 0);
	/* A range that starts inside the folio erases it whole, once. */
	assert_u64_equal(pageidx_erase_range(&pi, 600, 1030, range_note, &rs),
			 513);
	assert_int_equal(rs.rs_n, 2);
	assert_u64_equal(rs.rs_index[0], 512);
	assert_ptr_equal(rs.rs_entry[0], fake_ptr(2));
	assert_u64_equal(rs.rs_index[1], 1030);
	assert_u64_equal(pi.pi_count, 1);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_int_equal(pageidx_store_multi(&pi, 1ull << 40, 9, fake_ptr(4)),
			 0);
	assert_u64_equal(pageidx_erase_range(&pi, 0, UINT64_MAX, NULL, NULL),
			 513);
	assert_null(pi.pi_root);
}

static void
test_multi_split(void **state)
{
	void *ents[512];
	struct pageidx pi;
	unsigned i;
	int fail;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store_multi(&pi, 1024, 9, fake_ptr(1)), 0);
	for (i = 0; i < 512; i++)
		ents[i] = (i >= 100 && i < 300) ? NULL : fake_ptr(10 + i);
	/* Injected failures leave the folio as it was. */
	for (fail = 1; fail <= 8; fail++) {
		sf_fail_after = fail;
		if (pageidx_split(&pi, 1500, 9, ents) == 0)
			break;
		sf_fail_after = 0;
		assert_ptr_equal(pageidx_lookup(&pi, 1100), fake_ptr(1));
		assert_int_equal(pageidx_check(&pi), 0);
		assert_u64_equal(pi.pi_count, 512);
	}
	sf_fail_after = 0;
	assert_true(fail <= 8);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pi.pi_count, 312);
	for (i = 0; i < 512; i++)
		assert_ptr_equal(pageidx_lookup(&pi, 1024 + i), ents[i]);
	pageidx_destroy(&pi, NULL, NULL);

	/* Splitting to nothing leaves an empty tree. */
	memset(ents, 0, sizeof(ents));
	assert_int_equal(pageidx_store_multi(&pi, 0, 9, fake_ptr(1)), 0);
	assert_int_equal(pageidx_split(&pi, 0, 9, ents), 0);
	assert_null(pi.pi_root);
	assert_int_equal(pageidx_check(&pi), 0);
}

static void
test_multi_enomem(void **state)
{
	struct pageidx pi;
	int fail, ret = -1;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store(&pi, 7, fake_ptr(1)), 0);
	for (fail = 1; fail <= 30; fail++) {
		sf_fail_after = fail;
		ret = pageidx_store_multi(&pi, 1ull << 50, 9, fake_ptr(2));
		sf_fail_after = 0;
		if (ret == 0)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(pageidx_check(&pi), 0);
		assert_u64_equal(pi.pi_count, 1);
		assert_null(pageidx_lookup(&pi, 1ull << 50));
	}
	assert_int_equal(ret, 0);
	assert_int_equal(pageidx_check(&pi), 0);
	pageidx_destroy(&pi, NULL, NULL);
}

/* The goal: a 1 GiB file's index in folios is <= 1/64 of the small one. */
static void
test_multi_index_memory(void **state)
{
	struct pageidx small, huge;
	uint64_t i, nb_small, nb_huge;

	(void)state;
	pageidx_init(&small);
	pageidx_init(&huge);
	for (i = 0; i < 262144; i++)
		assert_int_equal(pageidx_store(&small, i, fake_ptr(i)), 0);
	for (i = 0; i < 262144; i += 512)
		assert_int_equal(pageidx_store_multi(&huge, i, 9, fake_ptr(i)),
				 0);
	assert_u64_equal(small.pi_count, huge.pi_count);
	assert_int_equal(pageidx_check(&huge), 0);
	nb_small = pageidx_node_bytes(&small);
	nb_huge = pageidx_node_bytes(&huge);
	printf("index of 1 GiB: %" PRIu64 " bytes in 4 KiB pages, %" PRIu64
	       " in 2 MiB folios\n", nb_small, nb_huge);
	assert_true(nb_huge * 64 <= nb_small);
	pageidx_destroy(&small, NULL, NULL);
	pageidx_destroy(&huge, NULL, NULL);
}

static void
test_multi_check_detects(void **state)
{
	struct pageidx pi;

	(void)state;
	pageidx_init(&pi);
	assert_int_equal(pageidx_store_multi(&pi, 0, 9, fake_ptr(1)), 0);
	assert_int_equal(pageidx_store(&pi, 600, fake_ptr(2)), 0);
	assert_int_equal(pageidx_check(&pi), 0);
	pi.pi_count--;
	assert_int_equal(pageidx_check(&pi), -EUCLEAN);
	pi.pi_count++;
	pageidx_destroy(&pi, NULL, NULL);
}

/*
 * Multi-index entries against a flat model: random small stores, folio
 * stores, erases, splits and range erases over 64 folios' worth of
 * indices (plus a far region), every index compared after each op.
 */
#define MM_SPAN (64 * 512)
#define MM_FAR (1ull << 33)

static void *mm_model[2][MM_SPAN];

static void **
mm_slot(uint64_t idx)
{
	return idx >= MM_FAR ? &mm_model[1][idx - MM_FAR] : &mm_model[0][idx];
}

static void
test_multi_model(void **state)
{
	struct rng r = { .r_state = test_seed ^ 0x77 };
	struct pageidx pi;
	uint64_t op, i;
	void *ents[512];

	(void)state;
	memset(mm_model, 0, sizeof(mm_model));
	pageidx_init(&pi);
	for (op = 0; op < 6000; op++) {
		uint64_t base = rng_below(&r, 4) == 0 ? MM_FAR : 0;
		uint64_t idx = base + rng_below(&r, MM_SPAN);
		uint64_t f = idx & ~511ull, first, probe;
		unsigned order, k = (unsigned)rng_below(&r, 6);
		void *e = pageidx_lookup_range(&pi, idx, &first, &order);
		int ret;

		if (k == 0 || k == 1) { /* small store */
			ret = pageidx_store(&pi, idx, fake_ptr(op + 1));
			if (e && order) {
				assert_int_equal(ret, -EEXIST);
			} else {
				assert_int_equal(ret, 0);
				*mm_slot(idx) = fake_ptr(op + 1);
			}
		} else if (k == 2) { /* folio store */
			probe = f;
			bool empty = !pageidx_next(&pi, &probe) ||
				     probe > f + 511;
			ret = pageidx_store_multi(&pi, f, 9, fake_ptr(op + 1));
			assert_int_equal(ret, empty ? 0 : -EEXIST);
			if (empty)
				for (i = 0; i < 512; i++)
					*mm_slot(f + i) = fake_ptr(op + 1);
		} else if (k == 3) { /* erase */
			assert_ptr_equal(pageidx_erase(&pi, idx), e);
			if (e)
				for (i = 0; i < (1ull << order); i++)
					*mm_slot(first + i) = NULL;
		} else if (k == 4 && e && order) { /* split */
			for (i = 0; i < 512; i++)
				ents[i] = rng_below(&r, 3) ? fake_ptr(op * 1000 + i)
							  : NULL;
			assert_int_equal(pageidx_split(&pi, idx, 9, ents), 0);
			for (i = 0; i < 512; i++)
				*mm_slot(first + i) = ents[i];
		} else if (k == 5) { /* range erase, whole folios */
			uint64_t last = idx + rng_below(&r, 1500), n = 0;
			uint64_t lo = idx, hi = last;

			if (last >= base + MM_SPAN)
				last = hi = base + MM_SPAN - 1;
			e = pageidx_lookup_range(&pi, idx, &first, &order);
			if (e && order)
				lo = first;
			e = pageidx_lookup_range(&pi, last, &first, &order);
			if (e && order)
				hi = first + 511;
			for (i = lo; i <= hi; i++)
				if (*mm_slot(i)) {
					n++;
					*mm_slot(i) = NULL;
				}
			assert_u64_equal(pageidx_erase_range(&pi, idx, last,
							     NULL, NULL), n);
		}
		assert_int_equal(pageidx_check(&pi), 0);
		for (i = 0; i < MM_SPAN; i++) {
			assert_ptr_equal(pageidx_lookup(&pi, i), mm_model[0][i]);
			assert_ptr_equal(pageidx_lookup(&pi, MM_FAR + i),
					 mm_model[1][i]);
		}
		/* next() from a random point agrees with the model */
		probe = base + rng_below(&r, MM_SPAN);
		i = probe;
		e = pageidx_next(&pi, &probe);
		while (i < base + MM_SPAN && !*mm_slot(i))
			i++;
		if (i < base + MM_SPAN) {
			assert_ptr_equal(e, *mm_slot(i));
			assert_u64_equal(probe, i);
		} else if (base == 0) {
			assert_true(e == NULL || probe >= MM_FAR);
		} else {
			assert_null(e);
		}
	}
	pageidx_destroy(&pi, NULL, NULL);
}

static void
count_cb(void *arg, uint64_t index, void *entry)
{
	uint64_t *n = arg;

	(void)index;
	(void)entry;
	(*n)++;
}

static void
test_multi_collapse(void **state)
{
	struct pageidx pi;
	uint64_t n = 0, i;

	(void)state;
	pageidx_init(&pi);
	/* Empty range: a plain store. */
	assert_int_equal(pageidx_collapse(&pi, 512, 9, fake_ptr(1), count_cb,
					  &n), 0);
	assert_u64_equal(n, 0);
	assert_ptr_equal(pageidx_lookup(&pi, 1000), fake_ptr(1));
	/* Over a folio: refused. */
	assert_int_equal(pageidx_collapse(&pi, 512, 9, fake_ptr(2), NULL,
					  NULL), -EEXIST);
	/* Over scattered small entries, with neighbours kept. */
	assert_int_equal(pageidx_store(&pi, 1ull << 20, fake_ptr(3)), 0);
	for (i = 0; i < 512; i += 7)
		assert_int_equal(pageidx_store(&pi, 2048 + i, fake_ptr(i + 9)),
				 0);
	assert_int_equal(pageidx_store(&pi, 2047, fake_ptr(4)), 0);
	sf_fail_after = 1; /* needs no allocation: cannot fail */
	assert_int_equal(pageidx_collapse(&pi, 2048, 9, fake_ptr(5), count_cb,
					  &n), 0);
	sf_fail_after = 0;
	assert_u64_equal(n, (511 / 7) + 1);
	assert_int_equal(pageidx_check(&pi), 0);
	assert_u64_equal(pi.pi_count, 512 + 1 + 512 + 1);
	assert_ptr_equal(pageidx_lookup(&pi, 2047), fake_ptr(4));
	assert_ptr_equal(pageidx_lookup(&pi, 2560 - 1), fake_ptr(5));
	assert_null(pageidx_lookup(&pi, 2560));
	pageidx_destroy(&pi, NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_height),
		cmocka_unit_test(test_sparse_next),
		cmocka_unit_test(test_erase_range_bounds),
		cmocka_unit_test(test_store_enomem),
		cmocka_unit_test(test_check_detects),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_multi_basic),
		cmocka_unit_test(test_multi_erase_range),
		cmocka_unit_test(test_multi_split),
		cmocka_unit_test(test_multi_enomem),
		cmocka_unit_test(test_multi_index_memory),
		cmocka_unit_test(test_multi_check_detects),
		cmocka_unit_test(test_multi_model),
		cmocka_unit_test(test_multi_collapse),
	};
	const char *s = getenv("PAGEIDX_SEED");

	if (s != NULL && *s != '\0')
		test_seed = strtoull(s, NULL, 0);
	printf("test_pageidx: seed 0x%" PRIx64 "\n", test_seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
