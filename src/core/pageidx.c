/* SPDX-License-Identifier: MIT */
/*
 * pageidx.c - a 64-way radix tree keyed by a 64-bit index.
 *
 * Levels are numbered from the bottom: the slots of a level-1 node (a
 * leaf) hold the user's entries, the slots of a level-l node (l > 1) hold
 * level-(l-1) nodes.  A level-l node decodes index bits
 * [6(l-1), 6l), so a tree of height h spans [0, 64^h - 1], and height
 * PAGEIDX_MAX_HEIGHT (11) spans all of uint64_t; at that height only the
 * root's first 16 slots are reachable.
 *
 * Invariants (pageidx_check() verifies every one):
 *  - pi_root == NULL  <=>  pi_height == 0  <=>  pi_count == 0.
 *  - Every node has pn_count == popcount(pn_present) == its number of
 *    non-NULL slots, and pn_count > 0: a node is freed as soon as it
 *    empties.
 *  - pi_height is the least height that spans the largest index present:
 *    when pi_height > 1 the root has something beyond slot 0 (otherwise
 *    the tree shrinks by replacing the root with its slot-0 child).
 *  - pi_count == the number of non-NULL leaf slots.
 *
 * pn_present mirrors the non-NULL slots so pageidx_next() finds the next
 * occupied slot with one count-trailing-zeros; it never looks at a hole,
 * so a sparse walk costs O(height) per entry found, not O(distance).
 *
 * There are no parent pointers: the walks that must climb back (erase,
 * next) keep their path in an array on the stack, at most 11 deep.
 *
 * pageidx_store() reserves, then commits: it counts the nodes the store
 * needs and allocates all of them before touching the tree, so -ENOMEM
 * leaves the tree exactly as it was and the linking cannot fail.
 *
 * The tree never dereferences an entry, so pointers and value entries are
 * stored alike.  It does no locking: the owner's lock covers every call.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "alloc.h"
#include "pageidx.h"

/* Levels needed to span all 64 index bits: ceil(64 / 6) = 11. */
#define PAGEIDX_MAX_HEIGHT ((64 + PAGEIDX_SHIFT - 1) / PAGEIDX_SHIFT)
#define PAGEIDX_MASK ((uint64_t)PAGEIDX_SLOTS - 1)

/*
 * The most nodes one store can allocate: growing a height-1 tree to full
 * height takes 10 new roots (the old root hangs off slot 0 of the lowest)
 * plus a fresh path of 10 below the new top root.
 */
#define PAGEIDX_MAX_NEW (2 * PAGEIDX_MAX_HEIGHT)

struct pageidx_node {
	uint64_t pn_present;	       /* bit i set <=> pn_slots[i] != NULL */
	unsigned pn_count;	       /* popcount(pn_present) */
	void *pn_slots[PAGEIDX_SLOTS]; /* level 1: entries; above: nodes */
};

static inline unsigned
pageidx_shift(unsigned level)
{
	return (level - 1) * PAGEIDX_SHIFT;
}

static inline unsigned
pageidx_offset(uint64_t index, unsigned level)
{
	return (index >> pageidx_shift(level)) & PAGEIDX_MASK;
}

/*
 * The largest index a tree of @height (>= 1) spans; equally, the mask of
 * the index bits decoded by levels 1..@height.
 */
static inline uint64_t
pageidx_max_index(unsigned height)
{
	if (height * PAGEIDX_SHIFT >= 64)
		return UINT64_MAX;
	return ((uint64_t)1 << (height * PAGEIDX_SHIFT)) - 1;
}

/* The least height whose tree spans @index. */
static unsigned
pageidx_height_for(uint64_t index)
{
	unsigned height = 1;

	while (height < PAGEIDX_MAX_HEIGHT &&
	       (index >> (height * PAGEIDX_SHIFT)) != 0)
		height++;
	return height;
}

static void
pageidx_slot_set(struct pageidx_node *node, unsigned off, void *p)
{
	assert(node->pn_slots[off] == NULL && p != NULL);
	node->pn_slots[off] = p;
	node->pn_present |= (uint64_t)1 << off;
	node->pn_count++;
}

static void
pageidx_slot_clear(struct pageidx_node *node, unsigned off)
{
	assert(node->pn_slots[off] != NULL && node->pn_count > 0);
	node->pn_slots[off] = NULL;
	node->pn_present &= ~((uint64_t)1 << off);
	node->pn_count--;
}

void
pageidx_init(struct pageidx *pi)
{
	pi->pi_root = NULL;
	pi->pi_height = 0;
	pi->pi_count = 0;
}

void *
pageidx_lookup(const struct pageidx *pi, uint64_t index)
{
	const struct pageidx_node *node = pi->pi_root;
	unsigned level;

	if (node == NULL || index > pageidx_max_index(pi->pi_height))
		return NULL;
	for (level = pi->pi_height; level > 1; level--) {
		node = node->pn_slots[pageidx_offset(index, level)];
		if (node == NULL)
			return NULL;
	}
	return node->pn_slots[pageidx_offset(index, 1)];
}

/*
 * While the root holds nothing but slot 0, that child spans the same
 * entries one level lower: make it the root.
 */
static void
pageidx_shrink(struct pageidx *pi)
{
	struct pageidx_node *root;

	while (pi->pi_height > 1 && pi->pi_root->pn_present == 1) {
		root = pi->pi_root;
		pi->pi_root = root->pn_slots[0];
		pi->pi_height--;
		free(root);
	}
}

/*
 * A NULL @entry erases, as xa_store() does, so a caller can never plant a
 * "present" hole that would break pi_count.
 */
int
pageidx_store(struct pageidx *pi, uint64_t index, void *entry)
{
	struct pageidx_node *spare[PAGEIDX_MAX_NEW];
	struct pageidx_node *node;
	unsigned need, level, off, nspare, used, i;

	if (entry == NULL) {
		pageidx_erase(pi, index);
		return 0;
	}

	/* Reserve: count the nodes this store must add, then get them. */
	need = pageidx_height_for(index);
	if (pi->pi_root == NULL) {
		nspare = need;
	} else if (need > pi->pi_height) {
		/*
		 * New roots for levels pi_height+1..need, then a whole new
		 * path below the top one: @index needs that height, so its
		 * top offset is not 0 and it shares no node with the old
		 * tree, which hangs off slot 0.
		 */
		nspare = (need - pi->pi_height) + (need - 1);
	} else {
		nspare = 0;
		node = pi->pi_root;
		for (level = pi->pi_height; level > 1; level--) {
			node = node->pn_slots[pageidx_offset(index, level)];
			if (node == NULL) {
				/* Levels level-1 .. 1 are missing. */
				nspare = level - 1;
				break;
			}
		}
	}
	assert(nspare <= PAGEIDX_MAX_NEW);
	for (i = 0; i < nspare; i++) {
		spare[i] = sf_calloc(1, sizeof(*spare[i]));
		if (spare[i] == NULL)
			goto out_free_spare;
	}

	/* Commit: nothing below can fail. */
	used = 0;
	if (pi->pi_root == NULL) {
		pi->pi_root = spare[used++];
		pi->pi_height = need;
	}
	while (pi->pi_height < need) {
		node = spare[used++];
		pageidx_slot_set(node, 0, pi->pi_root);
		pi->pi_root = node;
		pi->pi_height++;
	}
	node = pi->pi_root;
	for (level = pi->pi_height; level > 1; level--) {
		off = pageidx_offset(index, level);
		if (node->pn_slots[off] == NULL)
			pageidx_slot_set(node, off, spare[used++]);
		node = node->pn_slots[off];
	}
	assert(used == nspare);

	off = pageidx_offset(index, 1);
	if (node->pn_slots[off] == NULL) {
		pageidx_slot_set(node, off, entry);
		pi->pi_count++;
	} else {
		node->pn_slots[off] = entry;
	}
	return 0;

out_free_spare:
	while (i-- > 0)
		free(spare[i]);
	return -ENOMEM;
}

void *
pageidx_erase(struct pageidx *pi, uint64_t index)
{
	struct pageidx_node *path[PAGEIDX_MAX_HEIGHT + 1];
	struct pageidx_node *node = pi->pi_root;
	unsigned level, height = pi->pi_height;
	void *entry;

	if (node == NULL || index > pageidx_max_index(height))
		return NULL;
	for (level = height; level > 1; level--) {
		path[level] = node;
		node = node->pn_slots[pageidx_offset(index, level)];
		if (node == NULL)
			return NULL;
	}
	path[1] = node;
	entry = node->pn_slots[pageidx_offset(index, 1)];
	if (entry == NULL)
		return NULL;
	pageidx_slot_clear(node, pageidx_offset(index, 1));
	pi->pi_count--;

	/* Free the nodes this emptied, bottom up; at most the whole path. */
	for (level = 1; level < height && path[level]->pn_count == 0;
	     level++) {
		free(path[level]);
		pageidx_slot_clear(path[level + 1],
				   pageidx_offset(index, level + 1));
	}
	if (pi->pi_root->pn_count == 0) {
		assert(pi->pi_count == 0);
		free(pi->pi_root);
		pageidx_init(pi);
		return entry;
	}
	pageidx_shrink(pi);
	return entry;
}

void *
pageidx_next(const struct pageidx *pi, uint64_t *indexp)
{
	const struct pageidx_node *path[PAGEIDX_MAX_HEIGHT + 1];
	const struct pageidx_node *node = pi->pi_root;
	uint64_t index = *indexp, avail;
	unsigned level, off, found;

	if (node == NULL || index > pageidx_max_index(pi->pi_height))
		return NULL;
	level = pi->pi_height;
	off = pageidx_offset(index, level);
	/*
	 * Invariants: no entry at or after *@indexp lies in a slot already
	 * passed over; the bits of @index above @level name @node's place,
	 * so a skip rewrites this level's bits and clears those below it.
	 * Climbing leaves @index alone: its bits at the parent's level
	 * still name the child just exhausted, and the search resumes one
	 * slot past it.
	 */
	for (;;) {
		avail = off < PAGEIDX_SLOTS ?
				node->pn_present & (UINT64_MAX << off) : 0;
		if (avail == 0) {
			/* Nothing left here: resume past it in the parent. */
			if (level == pi->pi_height)
				return NULL;
			level++;
			node = path[level];
			off = pageidx_offset(index, level) + 1;
			continue;
		}
		found = (unsigned)__builtin_ctzll(avail);
		if (found != pageidx_offset(index, level)) {
			/* Skip the holes: go to the start of slot @found. */
			index &= ~pageidx_max_index(level);
			index |= (uint64_t)found << pageidx_shift(level);
		}
		if (level == 1) {
			*indexp = index;
			return node->pn_slots[found];
		}
		path[level] = node;
		node = node->pn_slots[found];
		level--;
		off = pageidx_offset(index, level);
	}
}

/*
 * @fn must not change the tree; it may look at it, and sees the entry
 * still in place.
 */
uint64_t
pageidx_erase_range(struct pageidx *pi, uint64_t first, uint64_t last,
		    void (*fn)(void *arg, uint64_t index, void *entry),
		    void *arg)
{
	uint64_t index = first, n = 0;
	void *entry, *gone;

	if (first > last)
		return 0;
	for (;;) {
		entry = pageidx_next(pi, &index);
		if (entry == NULL || index > last)
			break;
		if (fn != NULL)
			fn(arg, index, entry);
		gone = pageidx_erase(pi, index);
		assert(gone == entry);
		(void)gone;
		n++;
		/* Stop before index++ can wrap when last is UINT64_MAX. */
		if (index == last)
			break;
		index++;
	}
	return n;
}

void
pageidx_destroy(struct pageidx *pi,
		void (*fn)(void *arg, uint64_t index, void *entry), void *arg)
{
	pageidx_erase_range(pi, 0, UINT64_MAX, fn, arg);
	assert(pi->pi_root == NULL && pi->pi_height == 0 &&
	       pi->pi_count == 0);
}

/* Check the subtree at @node (level @level); add its entries to *@nentries. */
static int
pageidx_check_node(const struct pageidx_node *node, unsigned level,
		   uint64_t *nentries)
{
	uint64_t present = 0;
	unsigned off, count = 0;
	const void *p;
	int rc;

	for (off = 0; off < PAGEIDX_SLOTS; off++) {
		p = node->pn_slots[off];
		if (p == NULL)
			continue;
		count++;
		present |= (uint64_t)1 << off;
		if (level == 1) {
			(*nentries)++;
			continue;
		}
		/* An interior slot holds a node, never a value entry. */
		if (pageidx_is_value(p))
			return -EUCLEAN;
		rc = pageidx_check_node(p, level - 1, nentries);
		if (rc != 0)
			return rc;
	}
	if (count == 0 || count != node->pn_count ||
	    present != node->pn_present)
		return -EUCLEAN;
	return 0;
}

int
pageidx_check(const struct pageidx *pi)
{
	const struct pageidx_node *root = pi->pi_root;
	unsigned top_bits, off;
	uint64_t nentries = 0;
	int rc;

	if (root == NULL)
		return pi->pi_height == 0 && pi->pi_count == 0 ? 0 : -EUCLEAN;
	if (pi->pi_height == 0 || pi->pi_height > PAGEIDX_MAX_HEIGHT)
		return -EUCLEAN;

	/* At full height the root's upper slots lie beyond 2^64 - 1. */
	top_bits = 64 - pageidx_shift(pi->pi_height);
	if (top_bits < PAGEIDX_SHIFT) {
		for (off = 1u << top_bits; off < PAGEIDX_SLOTS; off++)
			if (root->pn_slots[off] != NULL)
				return -EUCLEAN;
	}

	rc = pageidx_check_node(root, pi->pi_height, &nentries);
	if (rc != 0)
		return rc;
	/* Needlessly tall: slot 0 alone would do as the root. */
	if (pi->pi_height > 1 && root->pn_present == 1)
		return -EUCLEAN;
	if (nentries != pi->pi_count)
		return -EUCLEAN;
	return 0;
}

static uint64_t
pageidx_count_nodes(const struct pageidx_node *node, unsigned level)
{
	uint64_t present = node->pn_present, n = 1;
	unsigned off;

	if (level == 1)
		return 1;
	while (present != 0) {
		off = (unsigned)__builtin_ctzll(present);
		present &= present - 1;
		n += pageidx_count_nodes(node->pn_slots[off], level - 1);
	}
	return n;
}

uint64_t
pageidx_node_bytes(const struct pageidx *pi)
{
	if (pi->pi_root == NULL)
		return 0;
	return pageidx_count_nodes(pi->pi_root, pi->pi_height) *
	       sizeof(struct pageidx_node);
}
