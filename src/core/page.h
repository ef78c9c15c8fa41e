/* SPDX-License-Identifier: MIT */
/*
 * page.h - resident pages (page.c): the one owner of a page of file data
 * in memory, from allocation to freeing.
 *
 * page.c allocates a page (charging mem= through mem.c), puts it on the
 * mount's CLOCK ring, hands the reclaimer the next cold one, and frees
 * it (uncharging).  Callers above ask it; it calls only mem and pageidx.
 * Huge folios (2 MiB) are allocated, split and freed here too.
 *
 * => Must be called with sf_lock held: the pool, the ring and the hand
 *    are per mount.
 *
 * Invariant: resident pages (mem_resident()) == pages on the ring ==
 * pages out of the pool (pl_pages) == struct sf_page allocated.
 */
#ifndef SHMEMFS_PAGE_H
#define SHMEMFS_PAGE_H

#include "core.h"
#include "pageidx.h"

/*
 * A resident page of file data.  It sits on the CLOCK ring for reclaim;
 * SF_PG_REFERENCED is set on each access and cleared as the hand passes.
 * pg_map and pg_index say where the page is filed, so the reclaimer can
 * replace it with a swap entry without knowing whose index that is.
 */
#define SF_PG_REFERENCED 0x1
#define SF_PG_PINNED     0x2 /* unused: pins are counted (below) */
#define SF_PG_HUGE       0x4 /* a 2 MiB folio: SF_HUGE_PAGES pages */
/* bits 8-11: the order of the logical folio a small page belongs to */
#define SF_PG_ORDER_SHIFT 8
#define SF_PG_ORDER_MASK (0xfu << SF_PG_ORDER_SHIFT)

/*
 * A huge folio is one struct sf_page for a whole pool chunk (2 MiB,
 * aligned, backed by one host transparent huge page), filed as one
 * multi-index entry of order SF_HUGE_ORDER at its first index, and one
 * place on the CLOCK ring.  It is charged SF_HUGE_PAGES resident pages
 * (and, by filemap, as many blocks).  page_split() turns it into
 * SF_HUGE_PAGES small pages in place: the memory stays where it is.
 */
#define SF_HUGE_ORDER 9
#define SF_HUGE_PAGES (1u << SF_HUGE_ORDER)

struct sf_page {
	void *pg_data;              /* SF_PAGE_SIZE bytes from the pool, or
				     * SF_HUGE_PAGES of them (SF_PG_HUGE) */
	struct pageidx *pg_map;     /* the page index holding it */
	uint64_t pg_index;          /* its (first) index there */
	struct sf_page *pg_next, *pg_prev; /* CLOCK ring */
	uint32_t pg_flags;
};

/*
 * Logical folios.  tmpfs charges, splits and frees a large folio as one
 * object; we keep most of them as small pages (a folio of order 1 to 8,
 * a 2 MiB folio the host gave no huge page for, a huge folio split to
 * go to swap), so each entry of such a folio carries the folio's order:
 * a small page in pg_flags (SF_PG_ORDER_*), a value entry in bits 56-59
 * of its value (SF_ENT_ORDER_*).  Invariant (filemap_check()): an entry
 * marked with order k >= 1 lies in an aligned range of 2^k entries that
 * are all present, all small or values, and all marked k.  Order 0 is
 * a page of its own.  Marks survive swap-out and swap-in, so a swapped
 * folio is split and freed later as tmpfs frees the resident folio it
 * still has (filemap.c, filemap_split_folio()).
 */
#define SF_ENT_ORDER_SHIFT 56
#define SF_ENT_ORDER_MASK (0xfull << SF_ENT_ORDER_SHIFT)

/*
 * What a slot of a file's page index holds:
 *   NULL            a hole: reads as zeros, costs nothing
 *   struct sf_page* a resident page of data
 *   value (s+2)<<1  data swapped out to swap slot s
 *   value 2         a page of data that is all zeros, kept without memory
 *                   (a fallocated page fallocated again, or a zero page
 *                   the reclaimer found)
 *   value 0 or 1    a fallocated page never written: charged, reads as
 *                   zeros, a hole to SEEK_DATA, no memory until written;
 *                   1 marks one added by the fallocate still running
 * Every non-NULL slot is one block charged to size= and to i_blocks.
 */
/* A value entry's value without its folio order. */
static inline uint64_t
sf_val(const void *e)
{
	return pageidx_value(e) & ~SF_ENT_ORDER_MASK;
}

/* The folio order a value entry is marked with. */
static inline unsigned
sf_val_order(const void *e)
{
	return (unsigned)((pageidx_value(e) & SF_ENT_ORDER_MASK) >>
			  SF_ENT_ORDER_SHIFT);
}

/* Value entry @e (its kind and slot kept) marked with @order. */
static inline void *
sf_val_with_order(const void *e, unsigned order)
{
	return pageidx_mk_value(sf_val(e) |
				((uint64_t)order << SF_ENT_ORDER_SHIFT));
}

static inline void *
sf_mk_swap(uint64_t slot, unsigned order)
{
	return pageidx_mk_value(((slot + 2) << 1) |
				((uint64_t)order << SF_ENT_ORDER_SHIFT));
}

static inline void *
sf_mk_falloc(bool in_progress, unsigned order)
{
	return pageidx_mk_value((in_progress ? 1 : 0) |
				((uint64_t)order << SF_ENT_ORDER_SHIFT));
}

static inline void *
sf_mk_zero(unsigned order)
{
	return pageidx_mk_value(2 | ((uint64_t)order << SF_ENT_ORDER_SHIFT));
}

static inline bool
sf_is_swap(const void *e)
{
	return pageidx_is_value(e) && (sf_val(e) >> 1) >= 2;
}

static inline bool
sf_is_falloc(const void *e)
{
	return pageidx_is_value(e) && (sf_val(e) >> 1) == 0;
}

/* A fallocated page added by the fallocate still running. */
static inline bool
sf_is_falloc_new(const void *e)
{
	return pageidx_is_value(e) && sf_val(e) == 1;
}

/* A fallocated page of a fallocate that finished. */
static inline bool
sf_is_falloc_done(const void *e)
{
	return pageidx_is_value(e) && sf_val(e) == 0;
}

static inline bool
sf_is_zero(const void *e)
{
	return pageidx_is_value(e) && (sf_val(e) >> 1) == 1;
}

static inline uint64_t
sf_swap_slot(const void *e)
{
	return (sf_val(e) >> 1) - 2;
}

/* The page memory pool, the CLOCK ring and its hand. */
struct sf_chunk;
struct sf_pool {
	struct pageidx pl_chunks;   /* chunk address >> 21 -> chunk */
	struct sf_chunk *pl_partial; /* chunks with a free page */
	uint64_t pl_chunks_mapped;
	uint64_t pl_pages;          /* in use */
	uint64_t pl_dirty;          /* free, still mapped, not zero */
	struct sf_page *pl_clock;   /* CLOCK hand; NULL: no pages */
	/* huge folios: ShmemHugePages and the thp_* counters */
	uint64_t pl_huge;           /* resident huge folios */
	uint64_t pl_huge_splits, pl_huge_fallbacks, pl_huge_collapses;
	bool pl_no_collapse;        /* the host has no MADV_COLLAPSE */
};

void page_pool_init(struct sf_pool *pl);
void page_pool_destroy(struct sf_pool *pl);

#define SF_PA_FORCE 0x1 /* charge past mem= (the swap-in reserve) */
int page_alloc(struct shmemfs *fs, struct pageidx *map, uint64_t index,
	       unsigned flags, struct sf_page **pgp);
void page_free(struct shmemfs *fs, struct sf_page *pg);
int page_alloc_huge(struct shmemfs *fs, struct pageidx *map, uint64_t index,
		    struct sf_page **pgp);
int page_split(struct shmemfs *fs, struct sf_page *pg);
void page_count_fallback(struct shmemfs *fs);
void page_count_collapse(struct shmemfs *fs);
struct sf_page *page_clock_next(struct shmemfs *fs, uint64_t *scan);
int page_check(struct shmemfs *fs, char *msg, size_t len);

static inline bool
page_is_huge(const struct sf_page *pg)
{
	return (pg->pg_flags & SF_PG_HUGE) != 0;
}

/* Pages @pg holds: 1, or SF_HUGE_PAGES for a huge folio. */
static inline uint64_t
page_nr(const struct sf_page *pg)
{
	return page_is_huge(pg) ? SF_HUGE_PAGES : 1;
}

/* The memory of page @index, which @pg holds. */
static inline char *
page_data(const struct sf_page *pg, uint64_t index)
{
	return (char *)pg->pg_data +
	       ((size_t)(index - pg->pg_index) << SF_PAGE_SHIFT);
}

/* The order of the (logical) folio @pg belongs to: SF_HUGE_ORDER for a
 * huge folio, the mark of a small page (0: a page of its own). */
static inline unsigned
page_folio_order(const struct sf_page *pg)
{
	if (page_is_huge(pg))
		return SF_HUGE_ORDER;
	return (pg->pg_flags & SF_PG_ORDER_MASK) >> SF_PG_ORDER_SHIFT;
}

/* Mark small page @pg as part of a logical folio of @order. */
static inline void
page_set_folio_order(struct sf_page *pg, unsigned order)
{
	pg->pg_flags = (pg->pg_flags & ~SF_PG_ORDER_MASK) |
		       (order << SF_PG_ORDER_SHIFT);
}

/* The folio order entry @e (non-NULL) is part of. */
static inline unsigned
sf_entry_order(const void *e)
{
	return pageidx_is_value(e) ? sf_val_order(e)
				   : page_folio_order((const struct sf_page *)e);
}

/*
 * Pins: a copy into or out of the page runs without sf_lock (api.c,
 * under the file's data lock, lock.h).  While pinned, a page (or huge
 * folio) keeps its memory and its place: the CLOCK hand passes it, and
 * nothing may free, split, collapse or swap it out.  Pins are counted
 * (readers of one file share a page) in the high bits of pg_flags;
 * taken and dropped under sf_lock like every other field.  Whoever
 * frees or moves pages of a file whose data lock it does not hold
 * exclusively (reclaim, the huge shrinker, collapse, swapoff) checks
 * page_pinned() and skips the page.
 */
#define SF_PG_PIN_SHIFT 16
#define SF_PG_PIN_ONE (1u << SF_PG_PIN_SHIFT)

static inline bool
page_pinned(const struct sf_page *pg)
{
	return pg->pg_flags >= SF_PG_PIN_ONE;
}

static inline void
page_pin(struct sf_page *pg)
{
	SF_ASSERT(pg->pg_flags < UINT32_MAX - SF_PG_PIN_ONE);
	pg->pg_flags += SF_PG_PIN_ONE;
}

static inline void
page_unpin(struct sf_page *pg)
{
	SF_ASSERT(page_pinned(pg));
	pg->pg_flags -= SF_PG_PIN_ONE;
}

static inline void
page_mark_accessed(struct sf_page *pg)
{
	pg->pg_flags |= SF_PG_REFERENCED;
}

static inline void
page_mark_cold(struct sf_page *pg)
{
	pg->pg_flags &= ~SF_PG_REFERENCED;
}

#endif /* SHMEMFS_PAGE_H */
