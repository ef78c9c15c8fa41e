/* SPDX-License-Identifier: MIT */
/*
 * swap.h - the swap device (swap.c): a slot allocator, sealing (AEAD)
 * and a backend behind a versioned vtable (the shape of SQLite's
 * sqlite3_io_methods), so the file backend can be joined by others.
 *
 * swap.c knows nothing of pages' owners: it stores and returns sealed
 * page images by slot number.  => Must be called with sf_lock held.
 *
 * Invariant: sw_used == swap entries in all page indexes.
 */
#ifndef SHMEMFS_SWAP_H
#define SHMEMFS_SWAP_H

#include <sys/types.h>

#include "core.h"

/* A swap backend, versioned like sqlite3_io_methods. */
struct sf_swap_ops {
	int sop_version; /* 1 */
	int (*sop_read)(void *priv, uint64_t off, void *buf, size_t len);
	int (*sop_write)(void *priv, uint64_t off, const void *buf,
			size_t len);
	void (*sop_close)(void *priv);
};

struct sf_slotmeta;
struct sf_swap {
	const struct sf_swap_ops *sw_ops; /* NULL: no swap device */
	void *sw_priv;
	uint64_t sw_nslots;
	uint64_t sw_used;
	uint64_t *sw_bitmap;       /* bit set: slot in use */
	/*
	 * Bit set: the slot was written since swap_init(), so the file
	 * holds its blocks (freed slots are never punched) and a write
	 * there needs no new disk space.  sw_backed_free counts the slots
	 * backed and not in use.  The hints are bitmap words below which
	 * there is no free slot (no free backed slot); a free moves them
	 * down, so allocation is first-fit from the low end.
	 */
	uint64_t *sw_backed;
	uint64_t sw_backed_free;
	uint64_t sw_free_hint;
	uint64_t sw_bfree_hint;
	struct sf_slotmeta *sw_meta; /* per slot: nonce and tag */
	unsigned char *sw_key;     /* AEAD key, mlocked */
	unsigned char *sw_bounce;  /* one sealed page */
	uint64_t sw_nonce;         /* next nonce; never reused */
	bool sw_enabled;           /* false after swapoff */
};

int swap_file_open(const char *path, uint64_t bytes,
		   const struct sf_swap_ops **ops, void **priv,
		   uint64_t *nslots, char *err, size_t err_len);
int swap_init(struct sf_swap *sw, const struct sf_swap_ops *ops, void *priv,
	      uint64_t nslots);
void swap_fini(struct sf_swap *sw);
int64_t swap_slot_alloc(struct sf_swap *sw, bool backed_only);
bool swap_slot_backed(const struct sf_swap *sw, uint64_t slot);
bool swap_slot_in_use(const struct sf_swap *sw, uint64_t slot);
void swap_slot_free(struct sf_swap *sw, uint64_t slot);
int swap_write_page(struct sf_swap *sw, uint64_t slot, const void *page);
int swap_read_page(struct sf_swap *sw, uint64_t slot, void *page);
int swap_resize(struct sf_swap *sw, uint64_t nslots);

/* A device is attached. */
static inline bool
swap_present(const struct sf_swap *sw)
{
	return sw->sw_ops != NULL;
}

/* A device is attached and swapon: pages may be written out. */
static inline bool
swap_active(const struct sf_swap *sw)
{
	return sw->sw_ops && sw->sw_enabled;
}

static inline void
swap_set_enabled(struct sf_swap *sw, bool on)
{
	sw->sw_enabled = on;
}

static inline uint64_t
swap_used(const struct sf_swap *sw)
{
	return sw->sw_used;
}

static inline uint64_t
swap_free_slots(const struct sf_swap *sw)
{
	return sw->sw_nslots - sw->sw_used;
}

#endif /* SHMEMFS_SWAP_H */
