/* SPDX-License-Identifier: MIT */
/*
 * filemap.c - the page cache of one inode: shmem_get_folio() and the
 * paths that use it.
 *
 * An inode's data is a struct pageidx from page index to an entry (see
 * page.h): a resident struct sf_page, a swap slot, a fallocated page
 * that was never written, or nothing (a hole).  filemap_get_page() is the
 * one way to a resident page: it swaps in or allocates as its mode asks.
 *
 * Pages come from page.c (which charges mem=); when mem= is full this
 * file asks reclaim.c for room and tries again.
 *
 * Invariants (=> sf_lock held throughout):
 *   i_blocks == non-NULL entries in i_pages  (st_blocks = i_blocks * 8)
 *   sw_used == swap entries over all inodes
 * Pages come zeroed from the pool, and truncate and punch hole zero what
 * they cut off a page they keep, so bytes past a write are always zeros.
 * A fallocated page stays a value entry until written: reserved space
 * that reads as zeros and that SEEK_DATA treats as a hole, as in tmpfs,
 * and that costs no memory.
 *
 * Huge pages (huge=): where the mount's policy allows it, a hole is
 * filled with the folio tmpfs would allocate there (shmem_get_folio_gfp
 * on Linux 6.18): the largest order up to 9 whose aligned range holds
 * nothing yet (and, for within_size, ends within the file).  Order 9 is
 * a real 2 MiB folio (page.c, one multi-index entry); a smaller order is
 * that many small pages allocated together, marked as one logical folio
 * (page.h), which charges, splits and frees exactly as the kernel's
 * mTHP folio would.  The whole folio is charged to size= and i_blocks
 * when allocated (a 1-byte file under huge=always holds 2 MiB).
 * Truncate and punch hole split a folio they cut as 6.18 does
 * (filemap_undo_edges(): non-uniformly, at the first page cut and at the
 * page after the range) and free at once what tmpfs frees; reclaim
 * splits a real folio before swap-out into a logical one, whose marks
 * survive swap.  When size= is full, the folio at end of file of the
 * inodes on the shrinklist is split and its tail freed, and the charge
 * retried once, before falling back to a single page
 * (shmem_unused_huge_shrink()).  Fully populated 2 MiB ranges of small
 * pages become real folios again in the background (khugepaged.c,
 * through filemap_collapse_scan()).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "filemap.h"
#include "fs.h"
#include "reclaim.h"

#define SF_PAGE_MASK ((uint64_t)SF_PAGE_SIZE - 1)
#define SF_READAHEAD 8 /* slots swapped in together on sequential access */

/*
 * The highest folio order huge= allows at @index for a write ending at
 * @write_end (0: not a write), as shmem_huge_global_enabled(): always,
 * any order; within_size, orders whose aligned folio ends within the
 * larger of i_size and @write_end; advise, any order once the file's
 * owner asked (shmemctl huge FILE on), for FUSE never shows us madvise.
 */
static unsigned
filemap_huge_order(const struct shmemfs *fs, const struct shmemfs_inode *ip,
		   uint64_t index, uint64_t write_end)
{
	uint64_t size, pages;
	unsigned order;

	if (!S_ISREG(ip->i_mode))
		return 0;
	switch (fs->sf_opts.so_huge) {
	case SHMEMFS_HUGE_ALWAYS:
		return SF_HUGE_ORDER;
	case SHMEMFS_HUGE_WITHIN_SIZE:
		size = ip->i_size > write_end ? ip->i_size : write_end;
		pages = (size + SF_PAGE_MASK) >> SF_PAGE_SHIFT;
		for (order = SF_HUGE_ORDER; order > 0; order--) {
			uint64_t nr = (uint64_t)1 << order;

			if (pages >= ((index + nr) & ~(nr - 1)))
				return order;
		}
		/* fall through */
	case SHMEMFS_HUGE_ADVISE:
		return ip->i_huge_advised ? SF_HUGE_ORDER : 0;
	default:
		return 0;
	}
}

/* st_blksize: 2 MiB where the file may get huge folios, as tmpfs. */
unsigned
filemap_blksize(const struct shmemfs *fs, const struct shmemfs_inode *ip)
{
	return filemap_huge_order(fs, ip, 0, 0) ? SF_PAGE_SIZE << SF_HUGE_ORDER
						 : SF_PAGE_SIZE;
}

/* The highest order <= @max whose aligned range around @index is empty
 * (shmem_suitable_orders()). */
static unsigned
filemap_suitable_order(const struct shmemfs_inode *ip, uint64_t index,
		       unsigned max)
{
	unsigned order;

	for (order = max; order > 0; order--) {
		uint64_t nr = (uint64_t)1 << order;
		uint64_t first = index & ~(nr - 1), probe = first;

		if (!pageidx_next(&ip->i_pages, &probe) ||
		    probe > first + nr - 1)
			return order;
	}
	return 0;
}

/*
 * A new zeroed resident page for @index (not yet in the index),
 * reclaiming others if mem= is full.  -ENOSPC when nothing can be
 * reclaimed (no swap, or swap full): the budget and swap are both full.
 *
 * A swap-in (@swapin) may then still go over the budget by a few pages
 * (SF_SWAPIN_RESERVE): when swap is full, reading a page back is what
 * frees a slot, so refusing it would leave data written and unreadable.
 * The reclaimer brings the excess back down through the freed slot.
 */
#define SF_SWAPIN_RESERVE 64

static int
filemap_page_new(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
		 bool swapin, struct sf_page **pgp)
{
	int tries, ret;

	for (tries = 0; tries < 4; tries++) {
		ret = page_alloc(fs, &ip->i_pages, index, 0, pgp);
		if (ret != -EAGAIN) {
			if (!ret && mem_above_high(fs))
				reclaim_wake(fs);
			return ret;
		}
		if (!reclaim_pages(fs, SF_RECLAIM_BATCH))
			break;
	}
	if (swapin && mem_resident_within(fs, SF_SWAPIN_RESERVE)) {
		ret = page_alloc(fs, &ip->i_pages, index, SF_PA_FORCE, pgp);
		reclaim_wake(fs);
		return ret;
	}
	return -ENOSPC;
}

/*
 * Bring the page at @index back: from its swap slot, or as zeros for a
 * fallocated page.  Replacing an existing entry cannot fail, so the
 * order is: new page, read, store, free the slot.  On -EIO the swap
 * entry stays, so nothing is lost and a later read may try again.
 */
int
filemap_swapin(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
	       struct sf_page **pgp)
{
	void *e = pageidx_lookup(&ip->i_pages, index);
	struct sf_page *pg;
	int ret;

	SF_ASSERT(e && pageidx_is_value(e));
	ret = filemap_page_new(fs, ip, index, sf_is_swap(e), &pg);
	if (ret)
		return ret;
	if (sf_is_swap(e)) {
		ret = swap_read_page(&fs->sf_swap, sf_swap_slot(e),
				     pg->pg_data);
		if (ret) {
			page_free(fs, pg);
			return ret;
		}
	}
	page_set_folio_order(pg, sf_val_order(e));
	ret = pageidx_store(&ip->i_pages, index, pg);
	SF_ASSERT(ret == 0);
	if (sf_is_swap(e)) {
		swap_slot_free(&fs->sf_swap, sf_swap_slot(e));
		fs->sf_swapins++;
	}
	*pgp = pg;
	return 0;
}

/*
 * Swap in the slots after @index while access looks sequential, as far
 * as the budget has room without reclaiming.  Failures are ignored:
 * readahead is only a guess.
 */
static void
swap_readahead(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index)
{
	uint64_t i;

	for (i = index + 1; i <= index + SF_READAHEAD; i++) {
		void *e = pageidx_lookup(&ip->i_pages, i);
		struct sf_page *pg;

		if (!e || !sf_is_swap(e))
			break;
		if (!mem_resident_fits_high(fs, 1))
			break;
		if (filemap_swapin(fs, ip, i, &pg))
			break;
		page_mark_cold(pg);
	}
}

/* Free whatever @e is; the caller has taken it out of the index. */
static void
entry_free(struct shmemfs *fs, void *e)
{
	if (!pageidx_is_value(e))
		page_free(fs, e);
	else if (sf_is_swap(e))
		swap_slot_free(&fs->sf_swap, sf_swap_slot(e));
}

static void filemap_drop(struct shmemfs *fs, struct shmemfs_inode *ip,
			 uint64_t first, uint64_t last);

/*
 * The folio holding page @index: its order (0 for a page of its own, or
 * a hole) and, in *@firstp, its first index.  A resident huge folio or a
 * logical one (page.h).
 */
static unsigned
filemap_folio_at(const struct shmemfs_inode *ip, uint64_t index,
		 uint64_t *firstp)
{
	uint64_t start;
	unsigned order;
	void *e = pageidx_lookup_range(&ip->i_pages, index, &start, &order);

	if (!e)
		return 0;
	if (!order)
		order = sf_entry_order(e);
	*firstp = index & ~(((uint64_t)1 << order) - 1);
	return order;
}

/* Mark the entries of [@first, @first + 2^@span) (small pages or
 * values) as belonging to folios of @order (0: pages of their own).
 * Replacing entries allocates nothing, so this cannot fail. */
static void
filemap_mark_range(struct shmemfs_inode *ip, uint64_t first, unsigned span,
		   unsigned order)
{
	uint64_t i, nr = (uint64_t)1 << span;

	for (i = first; i < first + nr; i++) {
		void *e = pageidx_lookup(&ip->i_pages, i);

		if (!e)
			continue;
		if (pageidx_is_value(e)) {
			int ret = pageidx_store(&ip->i_pages, i,
						sf_val_with_order(e, order));

			SF_ASSERT(ret == 0);
			(void)ret;
		} else {
			page_set_folio_order(e, order);
		}
	}
}

/* Where a split stops keeping pages: end of file, or the end of the
 * furthest fallocate if that is further (shmem_fallocend()). */
static uint64_t
filemap_split_end(const struct shmemfs_inode *ip)
{
	uint64_t eof = (ip->i_size + SF_PAGE_MASK) >> SF_PAGE_SHIFT;

	return eof > ip->i_fallocend ? eof : ip->i_fallocend;
}

/*
 * Split the folio of @order at @first (resident huge, or logical) as
 * Linux 6.18's __folio_split() splits a shmem folio: @uniform, into
 * single pages (split_folio(), the huge shrinker); otherwise at page
 * @at (folio_split(), truncate and punch): @at alone, and each half it
 * is not in, from the largest down, one folio of its own.  Every new
 * folio but the one at @first that starts at or past end of file (or
 * past the furthest fallocate) is freed, as tmpfs frees it.  0, or
 * -ENOMEM with a resident huge folio left whole (it cannot be split
 * into small pages without memory).
 */
static int
filemap_folio_split(struct shmemfs *fs, struct shmemfs_inode *ip,
		    uint64_t first, unsigned order, uint64_t at, bool uniform)
{
	uint64_t end = filemap_split_end(ip), nr = (uint64_t)1 << order;
	void *e = pageidx_lookup(&ip->i_pages, first);
	unsigned j;
	int ret;

	SF_ASSERT(e && order && at >= first && at < first + nr);
	if (!pageidx_is_value(e) && page_is_huge(e)) {
		ret = page_split(fs, e);
		if (ret)
			return ret;
	}
	if (uniform) {
		filemap_mark_range(ip, first, order, 0);
		if (end < first + 1)
			end = first + 1;
		if (end < first + nr)
			filemap_drop(fs, ip, end, first + nr - 1);
		return 0;
	}
	for (j = order; j-- > 0;) {
		uint64_t q = (at & ~(((uint64_t)1 << j) - 1)) ^
			     ((uint64_t)1 << j);

		filemap_mark_range(ip, q, j, j);
		if (q != first && q >= end)
			filemap_drop(fs, ip, q, q + ((uint64_t)1 << j) - 1);
	}
	filemap_mark_range(ip, at, 0, 0);
	if (at != first && at >= end)
		filemap_drop(fs, ip, at, at);
	return 0;
}

/*
 * truncate_inode_partial_folio() for the folio holding page @index and
 * the bytes [@lstart, @lend] (inclusive) being removed: a folio they
 * cover whole is left to the caller to drop; else it is split at the
 * first page cut (and its cut bytes zeroed by the caller), then the
 * folio now holding the page just after the range is split at that
 * page, so that only what the range covers goes whole.  A resident
 * huge folio that cannot be split stays whole (filemap_drop() then
 * zeroes what it would have freed).
 */
static void
filemap_split_partial(struct shmemfs *fs, struct shmemfs_inode *ip,
		      uint64_t index, uint64_t lstart, uint64_t lend)
{
	uint64_t first, pos, size, offset, length, at2;
	unsigned order = filemap_folio_at(ip, index, &first);

	if (!order)
		return;
	pos = first << SF_PAGE_SHIFT;
	size = (uint64_t)SF_PAGE_SIZE << order;
	offset = lstart > pos ? lstart - pos : 0;
	if (lend >= pos + size - 1)
		length = size - offset;
	else
		length = lend + 1 - pos - offset;
	if (length == size)
		return;
	if (filemap_folio_split(fs, ip, first, order,
				first + (offset >> SF_PAGE_SHIFT), false))
		return;
	if (offset + length == size)
		return;
	at2 = first + ((offset + length) >> SF_PAGE_SHIFT);
	order = filemap_folio_at(ip, at2, &first);
	if (order)
		filemap_folio_split(fs, ip, first, order, at2, false);
}

/*
 * The start of shmem_undo_range() for bytes [@lstart, @lend] removed
 * (@lend UINT64_MAX: a truncate): a fallocate whose end the range
 * reaches no longer reserves past it, and the folios cut at either
 * edge are split (truncate_inode_partial_folio(), even when no whole
 * page goes).
 */
static void
filemap_undo_edges(struct shmemfs *fs, struct shmemfs_inode *ip,
		   uint64_t lstart, uint64_t lend)
{
	uint64_t start = (lstart + SF_PAGE_MASK) >> SF_PAGE_SHIFT;
	uint64_t end = lend == UINT64_MAX ? UINT64_MAX
					  : (lend + 1) >> SF_PAGE_SHIFT;
	uint64_t first;
	bool same = (lstart >> SF_PAGE_SHIFT) == (lend >> SF_PAGE_SHIFT);
	unsigned order;

	if (ip->i_fallocend > start && ip->i_fallocend <= end)
		ip->i_fallocend = start;
	if (pageidx_lookup(&ip->i_pages, lstart >> SF_PAGE_SHIFT)) {
		order = filemap_folio_at(ip, lstart >> SF_PAGE_SHIFT, &first);
		same = lend < (first + ((uint64_t)1 << order)) << SF_PAGE_SHIFT;
		filemap_split_partial(fs, ip, lstart >> SF_PAGE_SHIFT, lstart,
				      lend);
	}
	if (!same)
		filemap_split_partial(fs, ip, lend >> SF_PAGE_SHIFT, lstart,
				      lend);
}

/*
 * The huge shrinker's list (sbinfo->shrinklist): inodes that were given
 * a large folio reaching past their end of file.  sf_huge_shrinklist
 * maps a position to the inode, in list order (an inode joins at the
 * tail, above SF_SHRINK_MID, and one the shrinker puts back goes to the
 * head, below it); sf_huge_shrinkino maps an inode number to its
 * position, so that filemap_evict() takes an inode off at once.  An
 * inode already on the list keeps its place.  Best effort: as in tmpfs,
 * an inode missing from the list only means a folio not trimmed.
 */
#define SF_SHRINK_MID ((uint64_t)1 << 62)

static bool
filemap_shrinklist_put(struct shmemfs *fs, struct shmemfs_inode *ip,
		       uint64_t pos)
{
	if (pageidx_store(&fs->sf_huge_shrinkino, ip->i_ino,
			  pageidx_mk_value(pos)))
		return false;
	if (pageidx_store(&fs->sf_huge_shrinklist, pos, ip)) {
		pageidx_erase(&fs->sf_huge_shrinkino, ip->i_ino);
		return false;
	}
	return true;
}

static void
filemap_shrinklist_add(struct shmemfs *fs, struct shmemfs_inode *ip,
		       uint64_t first, unsigned order)
{
	if ((ip->i_size + SF_PAGE_MASK) >> SF_PAGE_SHIFT >=
	    first + ((uint64_t)1 << order) ||
	    pageidx_lookup(&fs->sf_huge_shrinkino, ip->i_ino))
		return;
	if (filemap_shrinklist_put(fs, ip,
				   SF_SHRINK_MID + fs->sf_huge_shrinktail))
		fs->sf_huge_shrinktail++;
}

static void
filemap_shrinklist_del(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	void *e = pageidx_erase(&fs->sf_huge_shrinkino, ip->i_ino);

	if (e)
		pageidx_erase(&fs->sf_huge_shrinklist, pageidx_value(e));
}

/* Put @ip back at the head of the list (list_move() to its head). */
static void
filemap_shrinklist_to_head(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	filemap_shrinklist_del(fs, ip);
	if (filemap_shrinklist_put(fs, ip,
				   SF_SHRINK_MID - 1 - fs->sf_huge_shrinkhead))
		fs->sf_huge_shrinkhead++;
}

/* Is a page of the folio of @order at @first pinned (a copy in flight
 * without sf_lock, page.h)? */
static bool
filemap_folio_pinned(const struct shmemfs_inode *ip, uint64_t first,
		     unsigned order)
{
	uint64_t idx = first, last = first + ((uint64_t)1 << order) - 1;
	void *e;

	while ((e = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		if (!pageidx_is_value(e) && page_pinned(e))
			return true;
		if (!pageidx_is_value(e) && page_is_huge(e))
			return false; /* one entry for all of it */
		idx++;
	}
	return false;
}

/*
 * One inode of the shrinklist (shmem_unused_huge_shrink()): the folio
 * holding the page at end of file, if large and reaching past it (or
 * past the furthest fallocate), is split into single pages and its
 * pages past that end freed (counted in *@freed).  0: the inode leaves
 * the list; -EBUSY (a copy is in flight: the kernel's failed trylock)
 * or -ENOMEM (the split could not be had): it stays.  The caller need
 * not hold @ip's data lock.
 */
static int
huge_shrink_one(struct shmemfs *fs, struct shmemfs_inode *ip,
		uint64_t *freed)
{
	uint64_t first, end = filemap_split_end(ip), before = ip->i_blocks;
	unsigned order = filemap_folio_at(ip, ip->i_size >> SF_PAGE_SHIFT,
					  &first);

	if (order && end > first && end < first + ((uint64_t)1 << order)) {
		if (filemap_folio_pinned(ip, first, order))
			return -EBUSY;
		if (filemap_folio_split(fs, ip, first, order, first, true))
			return -ENOMEM;
		if (before != ip->i_blocks && fs->sf_attr_notify)
			fs->sf_attr_notify(fs->sf_attr_notify_arg, ip->i_ino);
		*freed += before - ip->i_blocks;
	}
	filemap_shrinklist_del(fs, ip);
	return 0;
}

/*
 * The huge shrinker (shmem_unused_huge_shrink()).  As the kernel does,
 * a batch of the first 128 inodes of the list is taken and gone through
 * last first; with @nr_to_free (size= is full), only one batch, and
 * once that many pages went the rest go back to the head of the list.
 * @nr_to_free 0 (memory pressure, drop_caches): batch after batch until
 * the list is empty or a batch gets nowhere.  Returns the pages freed.
 */
#define SF_SHRINK_BATCH 128

uint64_t
filemap_huge_shrink(struct shmemfs *fs, uint64_t nr_to_free)
{
	struct shmemfs_inode *batch[SF_SHRINK_BATCH];
	uint64_t freed = 0;

	for (;;) {
		uint64_t pos = 0;
		unsigned n = 0, gone = 0;
		struct shmemfs_inode *ip;

		while (n < SF_SHRINK_BATCH &&
		       (ip = pageidx_next(&fs->sf_huge_shrinklist, &pos))) {
			batch[n++] = ip;
			pos++;
		}
		while (n-- > 0) {
			if ((nr_to_free && freed >= nr_to_free) ||
			    huge_shrink_one(fs, batch[n], &freed))
				filemap_shrinklist_to_head(fs, batch[n]);
			else
				gone++;
		}
		if (nr_to_free || !gone)
			return freed;
	}
}

/* Charge @nr blocks for a folio, shrinking once as tmpfs does. */
static int
filemap_charge_folio(struct shmemfs *fs, uint64_t nr)
{
	int ret = mem_charge_blocks(fs, nr);

	if (ret != -ENOSPC || nr == 1 || !filemap_huge_shrink(fs, nr))
		return ret; /* 0, -ENOSPC, or the owner's quota: -EDQUOT */
	return mem_charge_blocks(fs, nr);
}

/*
 * Choose the order of the folio for a hole at @index (a write or
 * fallocate reaching @end) and charge it whole; when that fails for a
 * huge one, charge one page instead.  0 with *@orderp set, or -errno
 * with nothing charged.
 */
static int
filemap_charge_hole(struct shmemfs *fs, struct shmemfs_inode *ip,
		    uint64_t index, uint64_t end, unsigned *orderp)
{
	unsigned order = filemap_suitable_order(ip, index,
			filemap_huge_order(fs, ip, index, end));
	int ret;

	ret = filemap_charge_folio(fs, (uint64_t)1 << order);
	if (ret && order) {
		order = 0;
		ret = mem_charge_blocks(fs, 1);
	}
	if (ret)
		return ret;
	*orderp = order;
	return 0;
}

/*
 * A huge folio at @first (aligned, its range empty, blocks charged),
 * filed.  0; -ENOMEM (or -EAGAIN: mem= full and nothing to reclaim)
 * when small pages must do instead.
 */
static int
filemap_huge_new(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
		 struct sf_page **pgp)
{
	struct sf_page *pg;
	int tries, ret;

	for (tries = 0; tries < 4; tries++) {
		ret = page_alloc_huge(fs, &ip->i_pages, first, &pg);
		if (ret != -EAGAIN)
			break;
		if (!reclaim_pages(fs, SF_HUGE_PAGES))
			break;
	}
	if (ret)
		return ret;
	ret = pageidx_store_multi(&ip->i_pages, first, SF_HUGE_ORDER, pg);
	if (ret) {
		page_free(fs, pg);
		return ret;
	}
	if (mem_above_high(fs))
		reclaim_wake(fs);
	*pgp = pg;
	return 0;
}

/*
 * Fill the hole at @index with the folio tmpfs would allocate there
 * (see the top of this file), charged whole, and give the page at
 * @index.  Falls back to one page when size= has no room for the folio
 * after shrinking, and to small pages for the whole folio when the host
 * gives no huge page (counted in huge_fallbacks).
 */
static int
filemap_fill_hole(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
		  uint64_t write_end, struct sf_page **pgp)
{
	uint64_t nr, first, i;
	struct sf_page *pg;
	unsigned order;
	int ret;

	ret = filemap_charge_hole(fs, ip, index, write_end, &order);
	if (ret)
		return ret;
	nr = (uint64_t)1 << order;
	first = index & ~(nr - 1);
	if (order == SF_HUGE_ORDER) {
		ret = filemap_huge_new(fs, ip, first, &pg);
		if (!ret) {
			ip->i_blocks += nr;
			filemap_shrinklist_add(fs, ip, first, order);
			*pgp = pg;
			return 0;
		}
		page_count_fallback(fs);
	}
	/*
	 * Small pages, the one at @index last: reclaim may send the others
	 * to swap while this runs, never the one handed back.
	 */
	for (i = first; i < first + nr; i++) {
		uint64_t at = i == first + nr - 1 ? index
			      : i < index ? i : i + 1;

		ret = filemap_page_new(fs, ip, at, false, &pg);
		if (ret)
			goto out_undo;
		page_set_folio_order(pg, order); /* a logical folio */
		if (pageidx_store(&ip->i_pages, at, pg)) {
			page_free(fs, pg);
			ret = -ENOMEM;
			goto out_undo;
		}
		ip->i_blocks++;
	}
	if (order)
		filemap_shrinklist_add(fs, ip, first, order);
	*pgp = pg;
	return 0;

out_undo:
	/* The range was empty: all that is in it now is this call's. */
	{
		uint64_t had = ip->i_blocks;

		filemap_drop(fs, ip, first, first + nr - 1);
		mem_uncharge_blocks(fs, nr - (had - ip->i_blocks));
	}
	return ret;
}

/*
 * A write into a fallocated page of a folio of @order (its mark): tmpfs
 * fallocated the whole folio and the write makes all of it data
 * (uptodate), so SEEK_DATA sees the folio, not the page.  Turn its
 * other fallocated pages into zero pages (data that costs no memory);
 * the page at @index is the caller's.  Replacing entries allocates
 * nothing.
 */
static void
filemap_falloc_folio_uptodate(struct shmemfs_inode *ip, uint64_t index,
			      unsigned order)
{
	uint64_t nr = (uint64_t)1 << order, first = index & ~(nr - 1), i;

	for (i = first; order && i < first + nr; i++) {
		void *e = pageidx_lookup(&ip->i_pages, i);

		if (i != index && e && sf_is_falloc(e))
			pageidx_store(&ip->i_pages, i, sf_mk_zero(order));
	}
}

static void
collapse_free_one(void *arg, uint64_t index, void *entry)
{
	(void)index;
	if (!pageidx_is_value(entry))
		page_free(arg, entry);
}

/*
 * Make the aligned range of SF_HUGE_PAGES pages from @first one huge
 * folio (khugepaged's collapse): its resident pages are copied in and
 * freed, zero pages and (with @fill) holes become zeros in it, holes
 * charged to size=.  Nothing is done (-EBUSY) if the range holds a
 * swapped or fallocated page, or holes without @fill; -ENOSPC,
 * -EAGAIN or -ENOMEM if size=, mem= or the host has no room.
 */
static int
filemap_collapse(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
		 bool fill)
{
	uint64_t idx = first, last = first + SF_HUGE_PAGES - 1, holes;
	struct sf_page *hpg;
	void *e;
	int ret;

	holes = SF_HUGE_PAGES;
	while ((e = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		if (pageidx_is_value(e) ? !sf_is_zero(e)
					: page_is_huge(e) || page_pinned(e))
			return -EBUSY; /* pinned: a copy is in flight */
		holes--;
		idx++;
	}
	if (holes && !fill)
		return -EBUSY;
	/* The folio and the pages it replaces are resident at once. */
	if (!fill && !mem_resident_fits(fs, SF_HUGE_PAGES))
		return -EAGAIN;
	if (holes && mem_charge_blocks(fs, holes))
		return -ENOSPC;
	ret = page_alloc_huge(fs, &ip->i_pages, first, &hpg);
	if (ret)
		goto out_uncharge;
	for (idx = first; (e = pageidx_next(&ip->i_pages, &idx)) && idx <= last;
	     idx++)
		if (!pageidx_is_value(e))
			memcpy(page_data(hpg, idx), ((struct sf_page *)e)->pg_data,
			       SF_PAGE_SIZE);
	ret = pageidx_collapse(&ip->i_pages, first, SF_HUGE_ORDER, hpg,
			       collapse_free_one, fs);
	if (ret) {
		page_free(fs, hpg);
		goto out_uncharge;
	}
	ip->i_blocks += holes;
	page_count_collapse(fs);
	return 0;

out_uncharge:
	mem_uncharge_blocks(fs, holes);
	return ret;
}

/*
 * khugepaged's look at the aligned range of SF_HUGE_PAGES pages from
 * @first: make it one 2 MiB folio if it is fully populated with
 * resident small pages (or zero pages), huge= allows a folio there, and
 * mem= has room for the copy.  A range reaching past end of file is
 * taken only when it is one logical 2 MiB folio already (a folio split
 * to go to swap, or one the host gave no huge page for): tmpfs keeps
 * small pages there otherwise, and a later split of a folio would free
 * what a small page keeps.  Nothing is charged to size=: the range has
 * no holes.  Returns true if a folio was made.
 */
static bool
filemap_collapse_range(struct shmemfs *fs, struct shmemfs_inode *ip,
		       uint64_t first)
{
	uint64_t eof = ip->i_size >> SF_PAGE_SHIFT, idx = first, n = 0;
	bool logical = true;
	unsigned order;
	void *e;

	if (filemap_huge_order(fs, ip, first, 0) != SF_HUGE_ORDER)
		return false;
	if (pageidx_lookup_range(&ip->i_pages, first, &idx, &order) && order)
		return false; /* a folio already */
	idx = first;
	while ((e = pageidx_next(&ip->i_pages, &idx)) &&
	       idx < first + SF_HUGE_PAGES) {
		if (pageidx_is_value(e) && !sf_is_zero(e))
			return false; /* swapped or fallocated */
		logical = logical && sf_entry_order(e) == SF_HUGE_ORDER;
		n++;
		idx++;
	}
	if (n != SF_HUGE_PAGES || (!logical && first + SF_HUGE_PAGES > eof))
		return false;
	return filemap_collapse(fs, ip, first, false) == 0;
}

/*
 * khugepaged's scan of @ip from page *@cursor, bounded: looks at no
 * more than *@budget aligned 2 MiB ranges that hold something (each
 * costs one of *@budget) and makes no more than @max folios.  Sets
 * *@cursor where to go on, and *@done when the file is finished.
 * Returns the folios made.
 */
unsigned
filemap_collapse_scan(struct shmemfs *fs, struct shmemfs_inode *ip,
		      uint64_t *cursor, unsigned *budget, unsigned max,
		      bool *done)
{
	uint64_t idx = *cursor, first;
	unsigned made = 0;

	*done = false;
	if (!S_ISREG(ip->i_mode) || ip->i_blocks < SF_HUGE_PAGES) {
		*done = true;
		return 0;
	}
	while (made < max && *budget) {
		if (!pageidx_next(&ip->i_pages, &idx)) {
			*done = true;
			break;
		}
		first = idx & ~(uint64_t)(SF_HUGE_PAGES - 1);
		(*budget)--;
		made += filemap_collapse_range(fs, ip, first);
		if (first > UINT64_MAX - SF_HUGE_PAGES) {
			*done = true;
			break;
		}
		idx = first + SF_HUGE_PAGES;
	}
	*cursor = idx;
	return made;
}

/*
 * khugepaged's pass over one file, bounded: turn back into 2 MiB folios
 * up to @budget aligned ranges (filemap_collapse_range()), looking at
 * no more than 8 * @budget of them.  Returns the folios made.
 */
unsigned
filemap_collapse_inode(struct shmemfs *fs, struct shmemfs_inode *ip,
		       unsigned budget)
{
	uint64_t cursor = 0;
	unsigned looked = 8 * budget;
	bool done;

	return filemap_collapse_scan(fs, ip, &cursor, &looked, budget, &done);
}

/* The last open of @ip closed: khugepaged's pass over it, bounded, so
 * pages swapped back in become folios again where huge= allows. */
void
filemap_last_close(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	if (!ip->i_nopen && ip->i_nlink &&
	    fs->sf_opts.so_huge != SHMEMFS_HUGE_NEVER)
		filemap_collapse_inode(fs, ip, 4);
}

/*
 * FUSE cuts one write(2) into pieces (a partial first page goes alone),
 * so a piece's end is not the write's.  huge=within_size sizes the
 * folio for the write's first page by where the whole write ends: when
 * a piece continues the previous one, give that page the folio it
 * would have had, filling the rest of it as data (zeros) as tmpfs's
 * folio would be.  Best effort: nothing changes when it cannot be had.
 */
static void
filemap_regrow(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t wstart,
	       uint64_t wend, uint64_t off)
{
	uint64_t s = wstart >> SF_PAGE_SHIFT, done = off >> SF_PAGE_SHIFT;
	unsigned order = filemap_huge_order(fs, ip, s, wend);

	for (; order > 0; order--) {
		uint64_t nr = (uint64_t)1 << order, first = s & ~(nr - 1);
		uint64_t probe = first, holes = 0, i;
		void *e;

		/* Only the pieces before may have filled it. */
		while ((e = pageidx_next(&ip->i_pages, &probe)) &&
		       probe < first + nr) {
			if (probe < s || probe >= done)
				break;
			probe++;
		}
		if (e && probe < first + nr)
			continue;
		if (order == SF_HUGE_ORDER) {
			if (!filemap_collapse(fs, ip, first, true))
				filemap_shrinklist_add(fs, ip, first, order);
			return;
		}
		for (i = first; i < first + nr; i++)
			holes += !pageidx_lookup(&ip->i_pages, i);
		if (!holes) {
			/* pieces before filled it: one folio, unless part
			 * of a folio of their own already */
			for (i = first; i < first + nr; i++)
				if (sf_entry_order(pageidx_lookup(&ip->i_pages,
								  i)))
					return;
			filemap_mark_range(ip, first, order, order);
			return;
		}
		if (mem_charge_blocks(fs, holes))
			return;
		for (i = first; i < first + nr; i++) {
			if (pageidx_lookup(&ip->i_pages, i))
				continue;
			if (pageidx_store(&ip->i_pages, i, sf_mk_zero(0))) {
				mem_uncharge_blocks(fs, holes);
				return;
			}
			ip->i_blocks++;
			holes--;
		}
		filemap_mark_range(ip, first, order, order);
		return;
	}
}

/*
 * The resident page at @index in *@pgp, swapped in or allocated as @mode
 * asks; @write_end is where the write ends (huge=within_size looks at
 * it).  0 with *@pgp set (a huge folio: the page is page_data(pg,
 * index)), or with *@pgp NULL for a hole (or fallocated page) under
 * SGP_READ, which reads as zeros; or -errno, *@pgp untouched.
 */
static int
filemap_get_folio(struct shmemfs *fs, struct shmemfs_inode *ip,
		  uint64_t index, int mode, uint64_t write_end,
		  struct sf_page **pgp)
{
	void *e = pageidx_lookup(&ip->i_pages, index);
	struct sf_page *pg = NULL;
	bool seq = sf_ra_seq(ip, index);
	int ret;

	ip->i_ra_next = index + 1;
	if (e && !pageidx_is_value(e)) {
		pg = e;
		page_mark_accessed(pg);
		goto out;
	}
	if (mode == SGP_READ && (!e || !sf_is_swap(e)))
		goto out; /* reads as zeros */
	if (e && sf_is_swap(e) && mode == SGP_OVERWRITE) {
		/* All of it is about to be overwritten: skip the read. */
		ret = filemap_page_new(fs, ip, index, true, &pg);
		if (ret)
			return ret;
		page_set_folio_order(pg, sf_val_order(e));
		swap_slot_free(&fs->sf_swap, sf_swap_slot(e));
		ret = pageidx_store(&ip->i_pages, index, pg);
		SF_ASSERT(ret == 0);
		goto out;
	}
	if (e) {
		ret = filemap_swapin(fs, ip, index, &pg);
		if (ret)
			return ret;
		if (seq && sf_is_swap(e))
			swap_readahead(fs, ip, index);
		else if (sf_is_falloc(e))
			filemap_falloc_folio_uptodate(ip, index,
						      sf_val_order(e));
		goto out;
	}

	/* A hole: allocate. */
	ret = filemap_fill_hole(fs, ip, index, write_end, &pg);
	if (ret)
		return ret;
out:
	*pgp = pg;
	return 0;
}

int
filemap_get_page(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
		 int mode, struct sf_page **pgp)
{
	return filemap_get_folio(fs, ip, index, mode,
				 mode == SGP_READ ? 0
						  : (index + 1) << SF_PAGE_SHIFT,
				 pgp);
}

ssize_t
filemap_read(struct shmemfs *fs, struct shmemfs_inode *ip, void *buf,
	     size_t size, uint64_t off)
{
	char *dst = buf;
	size_t done = 0;
	int err = 0;

	if (off >= ip->i_size)
		return 0;
	if (size > ip->i_size - off)
		size = ip->i_size - off;
	if (size > SSIZE_MAX)
		size = SSIZE_MAX & ~SF_PAGE_MASK;
	while (done < size) {
		uint64_t pos = off + done;
		size_t poff = pos & SF_PAGE_MASK;
		size_t n = SF_PAGE_SIZE - poff;
		struct sf_page *pg;

		err = filemap_get_page(fs, ip, pos >> SF_PAGE_SHIFT, SGP_READ,
				       &pg);
		if (err)
			break;
		if (pg) /* to the end of the folio */
			n = ((pg->pg_index + page_nr(pg)) << SF_PAGE_SHIFT) -
			    pos;
		if (n > size - done)
			n = size - done;
		if (pg)
			memcpy(dst + done,
			       page_data(pg, pos >> SF_PAGE_SHIFT) + poff, n);
		else
			memset(dst + done, 0, n);
		done += n;
	}
	/*
	 * All or nothing.  A count short of what the file holds would be
	 * taken for the end of the file: FUSE reads a short reply to a
	 * regular file as EOF and shrinks the size it caches, so cp would
	 * stop early with success and a later O_APPEND write would land
	 * inside the file.  The pages already copied are simply not
	 * reported; a reader that retries gets the same error.
	 */
	if (err)
		return err == -ENOSPC ? -ENOMEM : err;
	return (ssize_t)done;
}

ssize_t
filemap_write(struct shmemfs *fs, struct shmemfs_inode *ip, const void *buf,
	      size_t size, uint64_t off)
{
	const char *src = buf;
	size_t done = 0;
	uint64_t wstart;
	int err;

	err = filemap_write_begin(fs, ip, off, &size, &wstart);
	if (err || !size)
		return err;
	while (done < size) {
		uint64_t pos = off + done;
		size_t poff = pos & SF_PAGE_MASK;
		size_t n = SF_PAGE_SIZE - poff;
		struct sf_page *pg;

		if (n > size - done)
			n = size - done;
		err = filemap_get_folio(fs, ip, pos >> SF_PAGE_SHIFT,
					n == SF_PAGE_SIZE ? SGP_OVERWRITE
							  : SGP_WRITE,
					off + size, &pg);
		if (err)
			break;
		if (page_is_huge(pg)) { /* to the end of the folio */
			n = ((pg->pg_index + SF_HUGE_PAGES) << SF_PAGE_SHIFT) -
			    pos;
			if (n > size - done)
				n = size - done;
		}
		memcpy(page_data(pg, pos >> SF_PAGE_SHIFT) + poff, src + done,
		       n);
		done += n;
	}
	filemap_write_end(fs, ip, wstart, off, done);
	return done ? (ssize_t)done : err;
}

/*
 * The data path without sf_lock (filemap.h).  Each call pins the pages
 * of the next part of a request, at most FILEMAP_SEGS folios, and
 * describes them in @seg; *@errp is the error that stopped it short, or
 * 0.  Pinned pages cannot be evicted, so when memory (mem=, -ENOSPC)
 * runs out after some pages of the batch were pinned, the batch just
 * ends there: the caller copies, unpins and asks again with nothing
 * pinned, and only then is -ENOSPC the answer it would have been with
 * every copy under the lock.
 */
size_t
filemap_pin_read(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t off,
		 size_t size, struct filemap_seg *seg, unsigned *nsegp,
		 int *errp)
{
	size_t done = 0;
	unsigned n = 0;
	int err = 0;

	SF_ASSERT(sf_mutex_held_excl());
	if (off >= ip->i_size)
		size = 0;
	else if (size > ip->i_size - off)
		size = ip->i_size - off;
	while (done < size && n < FILEMAP_SEGS) {
		uint64_t pos = off + done;
		size_t poff = pos & SF_PAGE_MASK;
		size_t len = SF_PAGE_SIZE - poff;
		struct sf_page *pg;

		err = filemap_get_page(fs, ip, pos >> SF_PAGE_SHIFT, SGP_READ,
				       &pg);
		if (err)
			break;
		if (pg) /* to the end of the folio */
			len = ((pg->pg_index + page_nr(pg)) << SF_PAGE_SHIFT) -
			      pos;
		if (len > size - done)
			len = size - done;
		seg[n].sg_page = pg;
		seg[n].sg_data = NULL;
		if (pg) {
			page_pin(pg);
			fs->sf_pinned++;
			seg[n].sg_data = page_data(pg, pos >> SF_PAGE_SHIFT) +
					 poff;
		}
		seg[n++].sg_len = len;
		done += len;
	}
	*nsegp = n;
	*errp = err == -ENOSPC && n ? 0 : err;
	return done;
}

/*
 * The start of a write of @*sizep bytes at @off: EFBIG and the size
 * limits as filemap_write(), the times stamped, and huge=within_size's
 * regrow; *@wstartp is for filemap_write_end().  0 (with *@sizep 0:
 * nothing to write) or -EFBIG.
 */
int
filemap_write_begin(struct shmemfs *fs, struct shmemfs_inode *ip,
		    uint64_t off, size_t *sizep, uint64_t *wstartp)
{
	size_t size = *sizep;
	uint64_t wstart;

	if (off >= (uint64_t)SHMEMFS_MAX_FILESIZE)
		return size ? -EFBIG : 0;
	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE - off)
		size = (uint64_t)SHMEMFS_MAX_FILESIZE - off;
	if (size > SSIZE_MAX)
		size = SSIZE_MAX & ~SF_PAGE_MASK;
	*sizep = size;
	if (!size)
		return 0;
	/* Stamped before copying, as file_update_time() in tmpfs's write:
	 * even a write that then fails with ENOSPC moves the times. */
	sf_now(&ip->i_mtime);
	ip->i_ctime = ip->i_mtime;
	wstart = off;
	if (fs->sf_lw_ino == ip->i_ino && fs->sf_lw_end == off &&
	    fs->sf_lw_start < off)
		wstart = fs->sf_lw_start;
	if (wstart < off && fs->sf_opts.so_huge == SHMEMFS_HUGE_WITHIN_SIZE)
		filemap_regrow(fs, ip, wstart, off + size, off);
	*wstartp = wstart;
	return 0;
}

/* The pages for bytes [@pos, @pos + @size) of a write ending at @wend. */
size_t
filemap_pin_write(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t pos,
		  size_t size, uint64_t wend, struct filemap_seg *seg,
		  unsigned *nsegp, int *errp)
{
	size_t done = 0;
	unsigned n = 0;
	int err = 0;

	SF_ASSERT(sf_mutex_held_excl());
	while (done < size && n < FILEMAP_SEGS) {
		uint64_t at = pos + done;
		size_t poff = at & SF_PAGE_MASK;
		size_t len = SF_PAGE_SIZE - poff;
		struct sf_page *pg;

		if (len > size - done)
			len = size - done;
		err = filemap_get_folio(fs, ip, at >> SF_PAGE_SHIFT,
					len == SF_PAGE_SIZE ? SGP_OVERWRITE
							    : SGP_WRITE,
					wend, &pg);
		if (err)
			break;
		if (page_is_huge(pg)) { /* to the end of the folio */
			len = ((pg->pg_index + SF_HUGE_PAGES) << SF_PAGE_SHIFT) -
			      at;
			if (len > size - done)
				len = size - done;
		}
		page_pin(pg);
		fs->sf_pinned++;
		seg[n].sg_page = pg;
		seg[n].sg_data = page_data(pg, at >> SF_PAGE_SHIFT) + poff;
		seg[n++].sg_len = len;
		done += len;
	}
	*nsegp = n;
	*errp = err == -ENOSPC && n ? 0 : err;
	return done;
}

/* Bytes [@pos, @pos + @done) of the write that began at @wstart are in:
 * the size grows as the kernel's write_end() grows it, page by page. */
void
filemap_write_end(struct shmemfs *fs, struct shmemfs_inode *ip,
		  uint64_t wstart, uint64_t pos, size_t done)
{
	fs->sf_lw_ino = ip->i_ino;
	fs->sf_lw_start = wstart;
	fs->sf_lw_end = pos + done;
	if (done && pos + done > ip->i_size)
		ip->i_size = pos + done;
}

void
filemap_unpin(struct shmemfs *fs, struct filemap_seg *seg, unsigned n)
{
	unsigned i;

	SF_ASSERT(sf_mutex_held_excl());
	for (i = 0; i < n; i++) {
		if (!seg[i].sg_page)
			continue;
		page_unpin(seg[i].sg_page);
		SF_ASSERT(fs->sf_pinned > 0);
		fs->sf_pinned--;
	}
}

struct erase_ctx {
	struct shmemfs *ec_fs;
	uint64_t ec_count;
	bool ec_only_new; /* only fallocate-in-progress entries */
};

static void
erase_one(void *arg, uint64_t index, void *entry)
{
	struct erase_ctx *ec = arg;

	(void)index;
	ec->ec_count += pageidx_is_value(entry) ? 1 : page_nr(entry);
	entry_free(ec->ec_fs, entry);
}

/*
 * A folio that [first, last] cuts at @index is split into single pages
 * (freeing nothing more: filemap_undo_edges() has split what tmpfs
 * splits, so this is for a folio whose split failed, or a caller
 * undoing its own work).  A resident huge folio that cannot be split
 * stays whole and the cut bytes are zeroed instead; the range to drop
 * is narrowed to leave it out (*@first or *@last moved).
 */
static void
filemap_split_edge(struct shmemfs *fs, struct shmemfs_inode *ip,
		   uint64_t index, uint64_t *first, uint64_t *last)
{
	uint64_t start, end, a, b;
	unsigned order = filemap_folio_at(ip, index, &start);
	void *e;

	if (!order)
		return;
	end = start + ((uint64_t)1 << order) - 1;
	if (start >= *first && end <= *last)
		return; /* wholly inside: goes whole */
	e = pageidx_lookup(&ip->i_pages, start);
	if (pageidx_is_value(e) || !page_is_huge(e) || !page_split(fs, e)) {
		filemap_mark_range(ip, start, order, 0);
		return;
	}
	a = start > *first ? start : *first;
	b = end < *last ? end : *last;
	memset(page_data(e, a), 0, (size_t)(b - a + 1) << SF_PAGE_SHIFT);
	if (start <= *first)
		*first = end + 1;
	else
		*last = start - 1;
}

/* Drop entries [first, last] and give their blocks back. */
static void
filemap_drop(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
	     uint64_t last)
{
	struct erase_ctx ec = {.ec_fs = fs};

	if (first > last)
		return;
	filemap_split_edge(fs, ip, first, &first, &last);
	if (first <= last)
		filemap_split_edge(fs, ip, last, &first, &last);
	if (first > last)
		return;
	pageidx_erase_range(&ip->i_pages, first, last, erase_one, &ec);
	SF_ASSERT(ip->i_blocks >= ec.ec_count);
	ip->i_blocks -= ec.ec_count;
	mem_uncharge_blocks(fs, ec.ec_count);
}

/*
 * Zero bytes [from, to) of page @index.  A swapped page must come back
 * to be zeroed in part; if it cannot, it is dropped whole only when it
 * was to be zeroed whole, so a failed swap-in loses nothing.
 */
static int
filemap_zero(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
	     size_t from, size_t to)
{
	void *e = pageidx_lookup(&ip->i_pages, index);
	struct sf_page *pg;
	int ret;

	if (!e || from >= to || sf_is_falloc(e) || sf_is_zero(e))
		return 0;
	if (pageidx_is_value(e)) {
		ret = filemap_swapin(fs, ip, index, &pg);
		if (ret)
			return ret;
	} else {
		pg = e;
	}
	memset(page_data(pg, index) + from, 0, to - from);
	return 0;
}

/*
 * Remove the data in [start, end): whole pages are freed (a swapped one
 * without being read), the partial pages at either edge are zeroed and
 * kept, as shmem_undo_range() does.
 */
static int
filemap_punch(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t start,
	      uint64_t end)
{
	uint64_t first, last, idx;
	int ret = 0, r;

	if (start >= end)
		return 0;
	filemap_undo_edges(fs, ip, start, end - 1);
	first = start >> SF_PAGE_SHIFT;
	last = (end - 1) >> SF_PAGE_SHIFT;
	for (idx = first;; idx = last) {
		uint64_t ps = idx << SF_PAGE_SHIFT;
		uint64_t a = start > ps ? start : ps;
		uint64_t b = end - ps < SF_PAGE_SIZE ? end : ps + SF_PAGE_SIZE;

		if (a == ps && b == ps + SF_PAGE_SIZE) {
			filemap_drop(fs, ip, idx, idx);
		} else {
			r = filemap_zero(fs, ip, idx, a - ps, b - ps);
			if (r && !ret)
				ret = r;
		}
		if (idx == last)
			break;
	}
	if (last - first >= 2)
		filemap_drop(fs, ip, first + 1, last - 1);
	return ret;
}

int
filemap_truncate(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t size)
{
	uint64_t old = ip->i_size;
	bool stamp;
	int ret;

	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE)
		return -EFBIG;
	/*
	 * The partial page at the new end must be zeroed past it; if it is
	 * swapped out and cannot come back, fail before changing anything.
	 */
	if (size < old && (size & SF_PAGE_MASK)) {
		ret = filemap_zero(fs, ip, size >> SF_PAGE_SHIFT,
				   size & SF_PAGE_MASK, SF_PAGE_SIZE);
		if (ret)
			return ret == -ENOSPC ? -ENOMEM : ret;
	}
	ip->i_size = size;
	/*
	 * Like shmem_setattr(): a truncate that does not grow a file with
	 * pages (data, swapped or fallocated) drops those beyond the end and
	 * stamps the times even when the size stays the same.
	 */
	stamp = size != old;
	if (size <= old && ip->i_blocks) {
		filemap_undo_edges(fs, ip, size, UINT64_MAX);
		filemap_drop(fs, ip, (size + SF_PAGE_MASK) >> SF_PAGE_SHIFT,
			     UINT64_MAX);
		stamp = true;
	}
	if (stamp) {
		sf_now(&ip->i_mtime);
		ip->i_ctime = ip->i_mtime;
	}
	return 0;
}

static uint64_t
count_present(const struct shmemfs_inode *ip, uint64_t first, uint64_t last)
{
	uint64_t idx = first, n = 0;

	while (pageidx_next(&ip->i_pages, &idx) && idx <= last) {
		n++;
		if (idx == last)
			break;
		idx++;
	}
	return n;
}

/*
 * Undo (or, with @commit, keep) the entries this fallocate added.  On
 * commit, a page fallocated by an earlier call becomes data (zeros), as
 * shmem_get_folio_gfp(SGP_FALLOC) makes it uptodate, so that undo on a
 * later failure cannot cancel the earlier call's guarantee.  Replacing
 * an entry allocates nothing, so neither path can fail.
 */
static void
falloc_finish(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
	      uint64_t last, bool commit)
{
	uint64_t idx = first;
	void *e;

	while ((e = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		if (commit && sf_is_falloc_done(e)) {
			pageidx_store(&ip->i_pages, idx,
				      sf_mk_zero(sf_val_order(e)));
		} else if (sf_is_falloc_new(e)) {
			if (commit) {
				pageidx_store(&ip->i_pages, idx,
					      sf_mk_falloc(false,
							   sf_val_order(e)));
			} else {
				pageidx_erase(&ip->i_pages, idx);
				ip->i_blocks--;
				mem_uncharge_blocks(fs, 1);
			}
		}
		if (idx == last)
			break;
		idx++;
	}
}

/*
 * A fallocate that runs out of space: tmpfs allocates page by page, so
 * before it fails it has reached, and made data, the earlier fallocated
 * pages that lie before the first hole it could not fill.  Do the same
 * without allocating: count the holes each such page lies behind against
 * the blocks still free.
 */
static void
falloc_convert_reached(struct shmemfs *fs, struct shmemfs_inode *ip,
		       uint64_t first, uint64_t last)
{
	uint64_t avail = mem_blocks_free(fs);
	uint64_t idx = first, next = first;
	void *e;

	while ((e = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		uint64_t holes = idx - next;

		if (holes > avail)
			break;
		avail -= holes;
		if (sf_is_falloc_done(e))
			pageidx_store(&ip->i_pages, idx,
				      sf_mk_zero(sf_val_order(e)));
		if (idx == last)
			break;
		next = ++idx;
	}
}

/*
 * fallocate where huge= gives folios: as shmem_fallocate() walks the
 * range, each hole is filled with the folio a write there would get
 * (reaching outside [first, last] as the folio does), charged whole as
 * it is reached; a present entry is passed by the folio it belongs to.
 * On running out of space the pages reached stay data as in
 * falloc_convert_reached() and this call's folios are undone.
 */
static int
falloc_folios(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
	      uint64_t last, uint64_t end)
{
	uint64_t idx = first, lo = first, hi = last, start, nr, i;
	unsigned order;
	int ret;

	while (idx <= last) {
		if (pageidx_lookup(&ip->i_pages, idx)) {
			/* passed by its folio, which it makes data whole */
			order = filemap_folio_at(ip, idx, &start);
			nr = (uint64_t)1 << order;
			if (start < lo)
				lo = start;
			if (start + nr - 1 > hi)
				hi = start + nr - 1;
			idx = start + nr;
			continue;
		}
		ret = filemap_charge_hole(fs, ip, idx, end, &order);
		if (ret)
			goto out_undo;
		nr = (uint64_t)1 << order;
		start = idx & ~(nr - 1);
		for (i = start; i < start + nr; i++) {
			if (pageidx_store(&ip->i_pages, i,
					  sf_mk_falloc(true, order))) {
				mem_uncharge_blocks(fs, start + nr - i);
				ret = -ENOMEM;
				goto out_undo;
			}
			ip->i_blocks++;
		}
		if (start < lo)
			lo = start;
		if (start + nr - 1 > hi)
			hi = start + nr - 1;
		if (order)
			filemap_shrinklist_add(fs, ip, start, order);
		idx = start + nr;
	}
	falloc_finish(fs, ip, lo, hi, true);
	return 0;

out_undo:
	if (ret == -ENOSPC)
		for (i = first; i < idx; i++) {
			void *e = pageidx_lookup(&ip->i_pages, i);

			if (e && sf_is_falloc_done(e))
				pageidx_store(&ip->i_pages, i,
					      sf_mk_zero(sf_val_order(e)));
		}
	falloc_finish(fs, ip, lo, hi, false);
	return ret;
}

/*
 * => @off >= 0, @len > 0, off + len <= SHMEMFS_MAX_FILESIZE, mode valid
 *    (checked by the caller, as the VFS checks them for tmpfs).
 * Either every page in the range is allocated, or nothing changes: the
 * whole shortfall is charged first, and a failed insertion undoes the
 * entries this call added (tmpfs undoes the same way).  Fallocated
 * pages are reservations: they take blocks, not memory.
 */
int
filemap_fallocate(struct shmemfs *fs, struct shmemfs_inode *ip, int mode,
		  int64_t off, int64_t len)
{
	uint64_t start = (uint64_t)off, end = start + (uint64_t)len;
	uint64_t first = start >> SF_PAGE_SHIFT;
	uint64_t last = (end - 1) >> SF_PAGE_SHIFT;
	uint64_t missing, idx;
	int ret;

	if (mode & SHMEMFS_FALLOC_PUNCH_HOLE) {
		ret = filemap_punch(fs, ip, start, end);
		if (ret)
			return ret == -ENOSPC ? -ENOMEM : ret;
		goto out_touch;
	}
	/* shmem_fallocate() refuses a range larger than the whole mount */
	if (mem_blocks_max(fs) && last - first + 1 > mem_blocks_max(fs))
		return -ENOSPC;
	if (filemap_huge_order(fs, ip, first, end) ||
	    filemap_huge_order(fs, ip, last, end)) {
		uint64_t undo_fallocend = ip->i_fallocend;

		if (ip->i_fallocend < last + 1)
			ip->i_fallocend = last + 1;
		ret = falloc_folios(fs, ip, first, last, end);
		if (ret) {
			ip->i_fallocend = undo_fallocend;
			return ret;
		}
		goto out_size;
	}
	missing = last - first + 1 - count_present(ip, first, last);
	if (missing > mem_falloc_cap(fs))
		return -ENOSPC;
	ret = mem_charge_blocks(fs, missing);
	if (ret) {
		falloc_convert_reached(fs, ip, first, last);
		return ret;
	}
	for (idx = first; missing; idx++) {
		if (pageidx_lookup(&ip->i_pages, idx))
			continue;
		if (pageidx_store(&ip->i_pages, idx, sf_mk_falloc(true, 0))) {
			mem_uncharge_blocks(fs, missing);
			falloc_finish(fs, ip, first, last, false);
			return -ENOMEM;
		}
		ip->i_blocks++;
		missing--;
	}
	falloc_finish(fs, ip, first, last, true);
out_size:
	if (!(mode & SHMEMFS_FALLOC_KEEP_SIZE) && end > ip->i_size)
		ip->i_size = end;
out_touch:
	sf_now(&ip->i_mtime);
	ip->i_ctime = ip->i_mtime;
	return 0;
}

/* Data for SEEK_DATA: written pages, resident, swapped or zero. */
static bool
entry_is_data(const void *e)
{
	return e && !sf_is_falloc(e);
}

int64_t
filemap_seek(struct shmemfs *fs, struct shmemfs_inode *ip, int64_t off,
	     int whence)
{
	uint64_t pos, idx;
	void *e;

	(void)fs;
	if (off < 0 || (uint64_t)off >= ip->i_size)
		return -ENXIO;
	pos = (uint64_t)off;
	idx = pos >> SF_PAGE_SHIFT;
	if (whence == SEEK_DATA) {
		for (;;) {
			e = pageidx_next(&ip->i_pages, &idx);
			if (!e || (idx << SF_PAGE_SHIFT) >= ip->i_size)
				return -ENXIO;
			if (entry_is_data(e))
				break;
			idx++;
		}
		if ((idx << SF_PAGE_SHIFT) > pos)
			pos = idx << SF_PAGE_SHIFT;
		return (int64_t)pos;
	}
	/* SEEK_HOLE: the end of the run of data pages starting at idx */
	while ((idx << SF_PAGE_SHIFT) < ip->i_size &&
	       entry_is_data(pageidx_lookup(&ip->i_pages, idx)))
		idx++;
	if ((idx << SF_PAGE_SHIFT) > pos)
		pos = idx << SF_PAGE_SHIFT;
	if (pos > ip->i_size)
		pos = ip->i_size;
	return (int64_t)pos;
}

void
filemap_evict(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	struct erase_ctx ec = {.ec_fs = fs};

	filemap_shrinklist_del(fs, ip);
	pageidx_destroy(&ip->i_pages, erase_one, &ec);
	SF_ASSERT(ec.ec_count == ip->i_blocks);
	mem_uncharge_blocks(fs, ec.ec_count);
	ip->i_blocks = 0;
}

/*
 * The logical folio invariant (page.h) at entry @e of @index: a small
 * page or value marked with order k >= 1 lies in an aligned range of
 * 2^k entries all present, small or values, and marked k (checked
 * whole at the range's first index, and against the first elsewhere).
 */
static bool
filemap_check_mark(const struct shmemfs_inode *ip, uint64_t index,
		   const void *e)
{
	unsigned k;
	uint64_t nr, first, i;

	if (!pageidx_is_value(e) && page_is_huge(e))
		return true;
	k = sf_entry_order(e);
	if (!k)
		return true;
	if (k > SF_HUGE_ORDER)
		return false;
	nr = (uint64_t)1 << k;
	first = index & ~(nr - 1);
	if (index != first) {
		const void *f = pageidx_lookup(&ip->i_pages, first);

		return f && (pageidx_is_value(f) || !page_is_huge(f)) &&
		       sf_entry_order(f) == k;
	}
	for (i = first; i < first + nr; i++) {
		const void *f = pageidx_lookup(&ip->i_pages, i);

		if (!f || (!pageidx_is_value(f) && page_is_huge(f)) ||
		    sf_entry_order(f) != k)
			return false;
	}
	return true;
}

/* Check one inode's index. */
int
filemap_check(struct shmemfs *fs, struct shmemfs_inode *ip, char *msg,
	      size_t len)
{
	uint64_t idx = 0, n = 0;
	void *e;

	(void)fs;
	if (pageidx_check(&ip->i_pages)) {
		snprintf(msg, len, "ino %llu: bad page index shape",
			 (unsigned long long)ip->i_ino);
		return -EUCLEAN;
	}
	while ((e = pageidx_next(&ip->i_pages, &idx))) {
		const struct sf_page *pg = e;
		uint64_t first;
		unsigned order;

		pageidx_lookup_range(&ip->i_pages, idx, &first, &order);
		if (!filemap_check_mark(ip, idx, e) || sf_is_falloc_new(e) ||
		    (!pageidx_is_value(e) &&
		     (pg->pg_map != &ip->i_pages || pg->pg_index != first ||
		      order != (page_is_huge(pg) ? SF_HUGE_ORDER : 0))) ||
		    (sf_is_swap(e) &&
		     !swap_slot_in_use(&fs->sf_swap, sf_swap_slot(e)))) {
			snprintf(msg, len, "ino %llu: bad entry at %llu",
				 (unsigned long long)ip->i_ino,
				 (unsigned long long)idx);
			return -EUCLEAN;
		}
		n++;
		if (idx == UINT64_MAX)
			break;
		idx++;
	}
	if (n != ip->i_blocks || n != ip->i_pages.pi_count) {
		snprintf(msg, len, "ino %llu: %llu pages but i_blocks %llu",
			 (unsigned long long)ip->i_ino, (unsigned long long)n,
			 (unsigned long long)ip->i_blocks);
		return -EUCLEAN;
	}
	return 0;
}

/*
 * The shrinklist's two maps agree, and each inode on it is a regular
 * file still filed under its number (@alive, from the inode table).
 */
int
filemap_check_shrinklist(struct shmemfs *fs,
			 bool (*alive)(struct shmemfs *fs,
				       const struct shmemfs_inode *ip),
			 char *msg, size_t len)
{
	uint64_t pos = 0, n = 0;
	struct shmemfs_inode *ip;

	while ((ip = pageidx_next(&fs->sf_huge_shrinklist, &pos))) {
		void *e = pageidx_lookup(&fs->sf_huge_shrinkino, ip->i_ino);

		if (!alive(fs, ip) || !S_ISREG(ip->i_mode) || !e ||
		    pageidx_value(e) != pos) {
			snprintf(msg, len, "huge shrinklist: bad entry %llu",
				 (unsigned long long)pos);
			return -EUCLEAN;
		}
		n++;
		pos++;
	}
	if (n != fs->sf_huge_shrinkino.pi_count) {
		snprintf(msg, len, "huge shrinklist: %llu inodes, %llu numbers",
			 (unsigned long long)n,
			 (unsigned long long)fs->sf_huge_shrinkino.pi_count);
		return -EUCLEAN;
	}
	return 0;
}

/* Swap entries in @ip's index (for shmemfs_check()). */
uint64_t
filemap_count_swapped(const struct shmemfs_inode *ip)
{
	uint64_t idx = 0, n = 0;
	void *e;

	while ((e = pageidx_next(&ip->i_pages, &idx))) {
		n += sf_is_swap(e);
		if (idx == UINT64_MAX)
			break;
		idx++;
	}
	return n;
}
