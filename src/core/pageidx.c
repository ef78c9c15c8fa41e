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

/*
 * Interior slots (level > 1) hold a node (low bits 00), the head of a
 * multi-index entry (the user's pointer with bit 1 set) or a sibling
 * marker (bits 11, the head's offset above them).  Leaf slots are the
 * user's entries, untouched.
 */
#define PAGEIDX_TAG_MASK ((uintptr_t)3)
#define PAGEIDX_TAG_MULTI ((uintptr_t)2)
#define PAGEIDX_TAG_SIBLING ((uintptr_t)3)

static inline bool
slot_is_node(const void *p)
{
	return ((uintptr_t)p & PAGEIDX_TAG_MASK) == 0;
}

static inline bool
slot_is_sibling(const void *p)
{
	return ((uintptr_t)p & PAGEIDX_TAG_MASK) == PAGEIDX_TAG_SIBLING;
}

static inline void *
mk_sibling(unsigned head)
{
	return (void *)(((uintptr_t)head << 2) | PAGEIDX_TAG_SIBLING);
}

/* The offset of the head of the multi-index entry in slot @off. */
static inline unsigned
multi_head(const struct pageidx_node *node, unsigned off)
{
	const void *p = node->pn_slots[off];

	return slot_is_sibling(p) ? (unsigned)((uintptr_t)p >> 2) : off;
}

static inline void *
multi_entry(const struct pageidx_node *node, unsigned off)
{
	return (void *)((uintptr_t)node->pn_slots[multi_head(node, off)] &
			~PAGEIDX_TAG_MASK);
}

/* Slots the multi-index entry headed at @head takes. */
static unsigned
multi_slots(const struct pageidx_node *node, unsigned head)
{
	unsigned n = 1;

	while (head + n < PAGEIDX_SLOTS &&
	       node->pn_slots[head + n] == mk_sibling(head))
		n++;
	return n;
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
		const void *p = node->pn_slots[pageidx_offset(index, level)];

		if (p == NULL)
			return NULL;
		if (!slot_is_node(p))
			return multi_entry(node, pageidx_offset(index, level));
		node = p;
	}
	return node->pn_slots[pageidx_offset(index, 1)];
}

void *
pageidx_lookup_range(const struct pageidx *pi, uint64_t index,
		     uint64_t *first, unsigned *order)
{
	const struct pageidx_node *node = pi->pi_root;
	unsigned level, head, n;

	*first = index;
	*order = 0;
	if (node == NULL || index > pageidx_max_index(pi->pi_height))
		return NULL;
	for (level = pi->pi_height; level > 1; level--) {
		unsigned off = pageidx_offset(index, level);
		const void *p = node->pn_slots[off];

		if (p == NULL)
			return NULL;
		if (!slot_is_node(p)) {
			head = multi_head(node, off);
			n = multi_slots(node, head);
			*order = pageidx_shift(level) +
				 (unsigned)__builtin_ctz(n);
			*first = (index & ~pageidx_max_index(level)) |
				 ((uint64_t)head << pageidx_shift(level));
			return multi_entry(node, off);
		}
		node = p;
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

	while (pi->pi_height > 1 && pi->pi_root->pn_present == 1 &&
	       slot_is_node(pi->pi_root->pn_slots[0])) {
		root = pi->pi_root;
		pi->pi_root = root->pn_slots[0];
		pi->pi_height--;
		free(root);
	}
}

/* Get @n zeroed nodes into @spare: 0, or -ENOMEM with none kept. */
static int
pageidx_alloc_spare(struct pageidx_node **spare, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		spare[i] = sf_calloc(1, sizeof(*spare[i]));
		if (spare[i] == NULL) {
			while (i-- > 0)
				free(spare[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Commit step of a store: give an empty tree a root of height @need, or
 * raise the tree to @need with new roots over the old one (in slot 0),
 * taking nodes from the front of @spare.  Returns how many it took.
 */
static unsigned
pageidx_grow(struct pageidx *pi, unsigned need, struct pageidx_node **spare)
{
	struct pageidx_node *node;
	unsigned used = 0;

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
	return used;
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
	unsigned need, level, off, nspare, used;

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
			/* Inside a multi-index entry: split it first. */
			if (node != NULL && !slot_is_node(node))
				return -EEXIST;
			if (node == NULL) {
				/* Levels level-1 .. 1 are missing. */
				nspare = level - 1;
				break;
			}
		}
	}
	assert(nspare <= PAGEIDX_MAX_NEW);
	if (pageidx_alloc_spare(spare, nspare) < 0)
		return -ENOMEM;

	/* Commit: nothing below can fail. */
	used = pageidx_grow(pi, need, spare);
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
}

/*
 * After slots of path[@level] were cleared: free the nodes this emptied,
 * bottom up (at most the whole path), then shrink the root.
 */
static void
pageidx_prune(struct pageidx *pi, struct pageidx_node **path, unsigned level,
	      uint64_t index)
{
	unsigned height = pi->pi_height;

	for (; level < height && path[level]->pn_count == 0; level++) {
		free(path[level]);
		pageidx_slot_clear(path[level + 1],
				   pageidx_offset(index, level + 1));
	}
	if (pi->pi_root->pn_count == 0) {
		assert(pi->pi_count == 0);
		free(pi->pi_root);
		pageidx_init(pi);
		return;
	}
	pageidx_shrink(pi);
}

/* Clear the multi-index entry in slot @off of @node (level @level). */
static void *
pageidx_clear_multi(struct pageidx *pi, struct pageidx_node *node,
		    unsigned level, unsigned off)
{
	unsigned head = multi_head(node, off), n = multi_slots(node, head), i;
	void *entry = multi_entry(node, off);

	for (i = 0; i < n; i++)
		pageidx_slot_clear(node, head + i);
	pi->pi_count -= (uint64_t)n << pageidx_shift(level);
	return entry;
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
		unsigned off = pageidx_offset(index, level);

		path[level] = node;
		node = node->pn_slots[off];
		if (node == NULL)
			return NULL;
		if (!slot_is_node(node)) {
			entry = pageidx_clear_multi(pi, path[level], level,
						    off);
			pageidx_prune(pi, path, level, index);
			return entry;
		}
	}
	path[1] = node;
	entry = node->pn_slots[pageidx_offset(index, 1)];
	if (entry == NULL)
		return NULL;
	pageidx_slot_clear(node, pageidx_offset(index, 1));
	pi->pi_count--;
	pageidx_prune(pi, path, 1, index);
	return entry;
}

int
pageidx_store_multi(struct pageidx *pi, uint64_t index, unsigned order,
		    void *entry)
{
	struct pageidx_node *spare[PAGEIDX_MAX_NEW + 1];
	struct pageidx_node *node;
	unsigned level, lv = order / PAGEIDX_SHIFT + 1;
	unsigned n = 1u << (order % PAGEIDX_SHIFT), off, i, nspare, used;
	uint64_t last = index + ((uint64_t)1 << order) - 1, probe = index;
	unsigned need;

	assert(order >= PAGEIDX_SHIFT && order < 64 && entry != NULL);
	assert((index & (((uint64_t)1 << order) - 1)) == 0);
	assert(((uintptr_t)entry & PAGEIDX_TAG_MASK) == 0);
	if (pageidx_next(pi, &probe) != NULL && probe <= last)
		return -EEXIST;
	need = pageidx_height_for(last);
	if (need < lv)
		need = lv;
	/*
	 * At most: new roots up to @need, and a path from the (new or old)
	 * top down to lv.  What the walk does not use is freed.
	 */
	if (pi->pi_root == NULL)
		nspare = need - lv + 1;
	else if (need > pi->pi_height)
		nspare = (need - pi->pi_height) + (need - lv);
	else
		nspare = pi->pi_height - lv;
	assert(nspare <= PAGEIDX_MAX_NEW + 1);
	if (pageidx_alloc_spare(spare, nspare) < 0)
		return -ENOMEM;

	/*
	 * Commit.  The range is empty, so every slot on the way down above
	 * lv is a node or NULL, and the lv slots it takes are NULL.
	 */
	used = pageidx_grow(pi, need, spare);
	node = pi->pi_root;
	for (level = pi->pi_height; level > lv; level--) {
		off = pageidx_offset(index, level);
		if (node->pn_slots[off] == NULL) {
			assert(used < nspare);
			pageidx_slot_set(node, off, spare[used++]);
		}
		node = node->pn_slots[off];
		assert(slot_is_node(node));
	}
	off = pageidx_offset(index, lv);
	pageidx_slot_set(node, off,
			 (void *)((uintptr_t)entry | PAGEIDX_TAG_MULTI));
	for (i = 1; i < n; i++)
		pageidx_slot_set(node, off + i, mk_sibling(off));
	pi->pi_count += (uint64_t)1 << order;
	while (used < nspare)
		free(spare[--nspare]);
	return 0;
}

int
pageidx_collapse(struct pageidx *pi, uint64_t index, unsigned order,
		 void *entry,
		 void (*fn)(void *arg, uint64_t index, void *entry), void *arg)
{
	struct pageidx_node *node = pi->pi_root;
	unsigned lv = order / PAGEIDX_SHIFT + 1, level, off, n, i, k;
	uint64_t last = index + ((uint64_t)1 << order) - 1, probe = index;
	uint64_t gone = 0;

	/* Only entries held at level 2 (orders 6 to 11) collapse leaves. */
	assert(lv == 2 && ((uintptr_t)entry & PAGEIDX_TAG_MASK) == 0);
	assert((index & (((uint64_t)1 << order) - 1)) == 0);
	if (pageidx_next(pi, &probe) == NULL || probe > last)
		return pageidx_store_multi(pi, index, order, entry);
	/* Something is there, so the path down to lv is all nodes. */
	for (level = pi->pi_height; level > lv; level--) {
		node = node->pn_slots[pageidx_offset(index, level)];
		if (!slot_is_node(node))
			return -EEXIST;
	}
	off = pageidx_offset(index, lv);
	n = 1u << (order % PAGEIDX_SHIFT);
	for (i = 0; i < n; i++)
		if (node->pn_slots[off + i] &&
		    !slot_is_node(node->pn_slots[off + i]))
			return -EEXIST;

	/* Commit. */
	for (i = 0; i < n; i++) {
		struct pageidx_node *leaf = node->pn_slots[off + i];

		if (leaf == NULL)
			continue;
		for (k = 0; k < PAGEIDX_SLOTS; k++) {
			if (leaf->pn_slots[k] == NULL)
				continue;
			if (fn != NULL)
				fn(arg, index + i * PAGEIDX_SLOTS + k,
				   leaf->pn_slots[k]);
			gone++;
		}
		free(leaf);
		pageidx_slot_clear(node, off + i);
	}
	pageidx_slot_set(node, off,
			 (void *)((uintptr_t)entry | PAGEIDX_TAG_MULTI));
	for (i = 1; i < n; i++)
		pageidx_slot_set(node, off + i, mk_sibling(off));
	pi->pi_count = pi->pi_count - gone + ((uint64_t)1 << order);
	return 0;
}

int
pageidx_split(struct pageidx *pi, uint64_t index, unsigned order,
	      void *const *entries)
{
	struct pageidx_node *path[PAGEIDX_MAX_HEIGHT + 1];
	struct pageidx_node *leaf[PAGEIDX_SLOTS];
	struct pageidx_node *node = pi->pi_root;
	unsigned lv = order / PAGEIDX_SHIFT + 1, level, head, n, i, j, k;
	unsigned nleaf = 0;
	uint64_t kept = 0;

	/* Only entries held at level 2 (orders 6 to 11) split into leaves. */
	assert(lv == 2);
	assert(node != NULL && pi->pi_height >= lv);
	for (level = pi->pi_height; level > lv; level--) {
		path[level] = node;
		node = node->pn_slots[pageidx_offset(index, level)];
		assert(node != NULL && slot_is_node(node));
	}
	path[lv] = node;
	head = multi_head(node, pageidx_offset(index, lv));
	n = multi_slots(node, head);
	assert((1u << (order % PAGEIDX_SHIFT)) == n);

	/* Reserve a leaf for each 64 indices that keep something. */
	for (j = 0; j < n; j++) {
		leaf[j] = NULL;
		for (k = 0; k < PAGEIDX_SLOTS; k++)
			if (entries[j * PAGEIDX_SLOTS + k])
				break;
		if (k == PAGEIDX_SLOTS)
			continue;
		leaf[j] = sf_calloc(1, sizeof(*leaf[j]));
		if (leaf[j] == NULL)
			goto out_free_leaves;
		nleaf++;
	}

	/* Commit. */
	for (j = 0; j < n; j++) {
		pageidx_slot_clear(node, head + j);
		if (leaf[j] == NULL)
			continue;
		for (k = 0; k < PAGEIDX_SLOTS; k++) {
			void *e = entries[j * PAGEIDX_SLOTS + k];

			if (e) {
				pageidx_slot_set(leaf[j], k, e);
				kept++;
			}
		}
		pageidx_slot_set(node, head + j, leaf[j]);
	}
	pi->pi_count -= (uint64_t)1 << order;
	pi->pi_count += kept;
	if (nleaf == 0)
		pageidx_prune(pi, path, lv, index);
	return 0;

out_free_leaves:
	for (i = 0; i < j; i++)
		free(leaf[i]);
	return -ENOMEM;
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
		if (!slot_is_node(node->pn_slots[found])) {
			*indexp = index;
			return multi_entry(node, found);
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
	uint64_t index = first, n = 0, start, end;
	unsigned order;
	void *entry, *gone;

	if (first > last)
		return 0;
	for (;;) {
		entry = pageidx_next(pi, &index);
		if (entry == NULL || index > last)
			break;
		pageidx_lookup_range(pi, index, &start, &order);
		if (fn != NULL)
			fn(arg, start, entry);
		gone = pageidx_erase(pi, index);
		assert(gone == entry);
		(void)gone;
		n += (uint64_t)1 << order;
		end = start + ((uint64_t)1 << order) - 1;
		/* Stop before index++ can wrap when last is UINT64_MAX. */
		if (end >= last)
			break;
		index = end + 1;
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
		if (slot_is_sibling(p)) {
			/* Right behind its head or another of its siblings. */
			if (off == 0 || multi_head(node, off - 1) !=
						multi_head(node, off) ||
			    node->pn_slots[off - 1] == NULL)
				return -EUCLEAN;
			continue;
		}
		if (!slot_is_node(p)) {
			/* A multi-index head: a power of two slots, aligned. */
			unsigned n = multi_slots(node, off);

			if (((uintptr_t)p & PAGEIDX_TAG_MASK) !=
				    PAGEIDX_TAG_MULTI ||
			    (n & (n - 1)) != 0 || off % n != 0)
				return -EUCLEAN;
			*nentries += (uint64_t)n << pageidx_shift(level);
			continue;
		}
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
	if (pi->pi_height > 1 && root->pn_present == 1 &&
	    slot_is_node(root->pn_slots[0]))
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
		if (slot_is_node(node->pn_slots[off]))
			n += pageidx_count_nodes(node->pn_slots[off],
						 level - 1);
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
