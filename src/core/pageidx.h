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
 * Multi-index entries (one 2 MiB folio covering 512 indices) will be
 * stored as a pointer in the first slot and sibling markers in the rest,
 * as in the xarray; nothing here assumes a slot is independent of its
 * neighbours except pageidx_next(), which will skip sibling markers.
 */
#ifndef SHMEMFS_PAGEIDX_H
#define SHMEMFS_PAGEIDX_H

#include <stdbool.h>
#include <stdint.h>

#define PAGEIDX_SHIFT 6
#define PAGEIDX_SLOTS (1u << PAGEIDX_SHIFT)

struct pageidx_node;

struct pageidx {
	struct pageidx_node *pi_root; /* NULL when empty */
	unsigned pi_height;           /* levels below and including root */
	uint64_t pi_count;            /* present entries */
	bool pi_unevictable;          /* SHM_LOCK: reclaim skips its pages */
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

/* Remove and return the entry at @index (NULL if it was a hole). */
void *pageidx_erase(struct pageidx *pi, uint64_t index);

/*
 * The first present entry at an index >= *@index; sets *@index to it.
 * Returns NULL (and leaves *@index alone) when there is none.
 */
void *pageidx_next(const struct pageidx *pi, uint64_t *index);

/*
 * Erase every entry in [@first, @last] (inclusive), calling @fn (if not
 * NULL) on each before it goes.  Returns the number erased.
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
