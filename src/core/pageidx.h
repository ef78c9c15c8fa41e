/* SPDX-License-Identifier: MIT */
/*
 * pageidx - a sparse radix tree keyed by a 64-bit index.
 *
 * It is the shmemfs counterpart of the kernel's xarray as shmem uses it:
 * a slot holds a pointer (a page), a tagged value (a swap slot), or
 * nothing (a hole).  Pointers must be at least 4-byte aligned; a value
 * entry has bit 0 set, so the two cannot be confused.  Bit 1 of a pointer
 * entry is free for the user (filemap does not use it today).
 *
 * Nodes are 64-way (6 bits of index per level).  The tree grows in
 * height only as far as the largest index needs, and interior nodes are
 * freed as soon as they empty, so an empty tree holds no memory.
 *
 * The same tree also maps inode numbers to inodes and directory cookies
 * to entries.  It does no locking: its owner's lock covers it.
 *
 * Multi-index entries: one pointer entry may cover an aligned range of
 * 2^order indices (order >= PAGEIDX_SHIFT; a 2 MiB folio is order 9).
 * It lives in the interior node whose slots each span 64^k indices
 * (k = order / 6): the entry, tagged, in the first slot and sibling
 * markers naming it in the other 2^(order % 6) - 1, as in the xarray.
 * So a 2 MiB folio costs 8 slots of a level-2 node instead of 8 leaves.
 * lookup() and next() return the entry for every index it covers;
 * erase() and erase_range() remove it whole (a caller that wants part
 * of it gone splits it first, pageidx_split()); pi_count counts the
 * indices covered, so a multi-index entry counts 2^order.
 */
#ifndef SHMEMFS_PAGEIDX_H
#define SHMEMFS_PAGEIDX_H

#include <stdbool.h>
#include <stdint.h>

#define PAGEIDX_SHIFT 6
#define PAGEIDX_SLOTS (1u << PAGEIDX_SHIFT)

struct pageidx_node;

struct pageidx {
	/* 16 bytes: one sits in every inode (per-file memory).  The three
	 * fields after the root share a word, so they share a lock too. */
	struct pageidx_node *pi_root;  /* NULL when empty */
	uint64_t pi_count : 56;        /* present entries (< 2^52 pages) */
	uint64_t pi_height : 7;        /* levels below and including root */
	uint64_t pi_unevictable : 1;   /* SHM_LOCK: reclaim skips its pages */
};

static inline void *
pageidx_mk_value(uint64_t v)
{
	return (void *)(uintptr_t)((v << 1) | 1);
}

static inline bool
pageidx_is_value(const void *entry)
{
	return ((uintptr_t)entry & 1) != 0;
}

static inline uint64_t
pageidx_value(const void *entry)
{
	return (uint64_t)(uintptr_t)entry >> 1;
}

void pageidx_init(struct pageidx *pi);

/* The entry at @index, or NULL for a hole. */
void *pageidx_lookup(const struct pageidx *pi, uint64_t index);

/*
 * Store @entry (non-NULL) at @index, replacing what was there.
 * Returns 0 or -ENOMEM; on -ENOMEM the tree is unchanged.
 */
int pageidx_store(struct pageidx *pi, uint64_t index, void *entry);

/*
 * Store pointer @entry over the aligned range of 2^@order indices from
 * @index (order >= PAGEIDX_SHIFT, @index a multiple of 2^order), which
 * must hold nothing.  0, -EEXIST (something is there) or -ENOMEM; on
 * error the tree is unchanged.
 */
int pageidx_store_multi(struct pageidx *pi, uint64_t index, unsigned order,
			void *entry);

/*
 * The entry at @index as pageidx_lookup() gives it, and in *@first and
 * *@order the range it covers (order 0 for a one-index entry).
 */
void *pageidx_lookup_range(const struct pageidx *pi, uint64_t index,
			   uint64_t *first, unsigned *order);

/*
 * Replace the multi-index entry covering @index (of order @order) by
 * one-index entries: @entries[i] (NULL: a hole) at first + i.  0 or
 * -ENOMEM (the tree unchanged).
 */
int pageidx_split(struct pageidx *pi, uint64_t index, unsigned order,
		  void *const *entries);

/*
 * Replace whatever the aligned range of 2^@order indices from @index
 * holds (one-index entries only) by the multi-index pointer @entry,
 * calling @fn (if not NULL) on each entry replaced.  0, -EEXIST (a
 * multi-index entry is there) or -ENOMEM (only when the range was
 * empty); on error the tree is unchanged.  A range that holds something
 * needs no allocation, so it cannot fail then.
 */
int pageidx_collapse(struct pageidx *pi, uint64_t index, unsigned order,
		     void *entry,
		     void (*fn)(void *arg, uint64_t index, void *entry),
		     void *arg);

/* Remove and return the entry at @index (NULL if it was a hole); a
 * multi-index entry goes whole. */
void *pageidx_erase(struct pageidx *pi, uint64_t index);

/*
 * The first present entry at an index >= *@index; sets *@index to it.
 * Returns NULL (and leaves *@index alone) when there is none.
 */
void *pageidx_next(const struct pageidx *pi, uint64_t *index);

/*
 * Erase every entry in [@first, @last] (inclusive), calling @fn (if not
 * NULL) on each before it goes, with the first index it covers (a
 * multi-index entry goes whole, and once).  Returns the number of
 * indices erased.
 */
uint64_t pageidx_erase_range(struct pageidx *pi, uint64_t first,
			     uint64_t last,
			     void (*fn)(void *arg, uint64_t index, void *entry),
			     void *arg);

/* Erase everything; same callback contract as pageidx_erase_range(). */
void pageidx_destroy(struct pageidx *pi,
		     void (*fn)(void *arg, uint64_t index, void *entry),
		     void *arg);

/*
 * Check the tree's shape: no empty interior node, counts that match,
 * a root that is not needlessly tall.  0 or -EUCLEAN.
 */
int pageidx_check(const struct pageidx *pi);

/* Bytes held by interior nodes (for statistics and tests). */
uint64_t pageidx_node_bytes(const struct pageidx *pi);

#endif /* SHMEMFS_PAGEIDX_H */
