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
 * that many small pages allocated together, which charges exactly what
 * the kernel's mTHP folio would.  The whole folio is charged to size=
 * and i_blocks when allocated (a 1-byte file under huge=always holds
 * 2 MiB).  Truncate and punch hole split a folio they cut and free the
 * cut pages at once; reclaim splits before swap-out.  When size= is
 * full, folios reaching past end of file anywhere on the mount are split
 * and their tails freed, and the charge retried once, before falling
 * back to a single page (shmem_unused_huge_shrink()).
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

/* Where a multi-index entry's inode is: a huge folio's page index is
 * always a regular file's i_pages. */
static struct shmemfs_inode *
filemap_owner(struct pageidx *map)
{
	return (struct shmemfs_inode *)((char *)map -
					offsetof(struct shmemfs_inode,
						 i_pages));
}

static void filemap_drop(struct shmemfs *fs, struct shmemfs_inode *ip,
			 uint64_t first, uint64_t last);

/*
 * Split the huge folio holding page @index.  As __split_huge_page()
 * does for shmem, the split frees the folio's pages past end of file
 * that no fallocate reserved (past shmem_fallocend()).  0, or -ENOMEM
 * with the folio whole.
 */
static int
filemap_split_folio(struct shmemfs *fs, struct shmemfs_inode *ip,
		    uint64_t index)
{
	uint64_t start, keep = (ip->i_size + SF_PAGE_MASK) >> SF_PAGE_SHIFT;
	unsigned order;
	void *e = pageidx_lookup_range(&ip->i_pages, index, &start, &order);
	int ret;

	if (!e || !order)
		return 0;
	ret = page_split(fs, e);
	if (ret)
		return ret;
	if (keep < ip->i_fallocend)
		keep = ip->i_fallocend;
	if (keep < start)
		keep = start;
	if (keep < start + SF_HUGE_PAGES)
		filemap_drop(fs, ip, keep, start + SF_HUGE_PAGES - 1);
	return 0;
}

/*
 * A punch or truncate of bytes [@start, @end) splits the huge folios it
 * cuts at either edge, as truncate_inode_partial_folio() does (even
 * when no whole page goes); a folio that cannot be split stays whole.
 */
static void
filemap_split_cut(struct shmemfs *fs, struct shmemfs_inode *ip,
		  uint64_t start, uint64_t end)
{
	uint64_t edge[2] = {start >> SF_PAGE_SHIFT,
			    (end - 1) >> SF_PAGE_SHIFT};
	unsigned i, order;

	for (i = 0; i < 2; i++) {
		uint64_t first;

		if (!pageidx_lookup_range(&ip->i_pages, edge[i], &first,
					  &order) || !order)
			continue;
		if (start <= first << SF_PAGE_SHIFT &&
		    end >= (first + SF_HUGE_PAGES) << SF_PAGE_SHIFT)
			continue; /* wholly inside: goes whole */
		filemap_split_folio(fs, ip, edge[i]);
	}
}

/* page_for_each_huge() callback: split a folio that holds end of file
 * and reaches past it (shmem_unused_huge_shrink()). */
static void
huge_shrink_one(struct shmemfs *fs, struct sf_page *pg, void *arg)
{
	struct shmemfs_inode *ip = filemap_owner(pg->pg_map);
	uint64_t eof = (ip->i_size + SF_PAGE_MASK) >> SF_PAGE_SHIFT;
	uint64_t *freed = arg;
	uint64_t before = ip->i_blocks;

	if (eof <= pg->pg_index || eof >= pg->pg_index + SF_HUGE_PAGES)
		return;
	if (page_pinned(pg))
		return; /* a copy is in flight: leave it whole */
	filemap_split_folio(fs, ip, pg->pg_index);
	*freed += before - ip->i_blocks;
	if (before != ip->i_blocks && fs->sf_attr_notify)
		fs->sf_attr_notify(fs->sf_attr_notify_arg, ip->i_ino);
}

/*
 * size= is full: split every huge folio that reaches past its file's
 * end and free its pages there (shmem_unused_huge_shrink(), which the
 * kernel runs before a large folio's charge fails).  Returns the pages
 * freed.
 */
uint64_t
filemap_huge_shrink(struct shmemfs *fs)
{
	uint64_t freed = 0;

	page_for_each_huge(fs, huge_shrink_one, &freed);
	return freed;
}

/* Charge @nr blocks for a folio, shrinking once as tmpfs does. */
static int
filemap_charge_folio(struct shmemfs *fs, uint64_t nr)
{
	int ret = mem_charge_blocks(fs, nr);

	if (ret != -ENOSPC || nr == 1 || !filemap_huge_shrink(fs))
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
		if (pageidx_store(&ip->i_pages, at, pg)) {
			page_free(fs, pg);
			ret = -ENOMEM;
			goto out_undo;
		}
		ip->i_blocks++;
	}
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
 * A write into a fallocated page of a file that takes huge pages: tmpfs
 * fallocated a whole folio there and the write makes all of it data
 * (uptodate), so SEEK_DATA sees the folio, not the page.  Turn the
 * fallocated pages of the largest aligned, wholly fallocated range
 * around @index that the policy allows into zero pages (data that costs
 * no memory); the page at @index is the caller's.  Replacing entries
 * allocates nothing.
 */
static void
filemap_falloc_folio_uptodate(struct shmemfs *fs, struct shmemfs_inode *ip,
			      uint64_t index, uint64_t write_end)
{
	unsigned order = filemap_huge_order(fs, ip, index, write_end);

	for (; order > 0; order--) {
		uint64_t nr = (uint64_t)1 << order;
		uint64_t first = index & ~(nr - 1), i;

		for (i = first; i < first + nr; i++) {
			void *e = pageidx_lookup(&ip->i_pages, i);

			if (i != index && (!e || !sf_is_falloc(e)))
				break;
		}
		if (i < first + nr)
			continue;
		for (i = first; i < first + nr; i++)
			if (i != index)
				pageidx_store(&ip->i_pages, i, sf_mk_zero());
		return;
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
 * khugepaged's pass over one file, bounded: turn back into 2 MiB folios
 * up to @budget aligned ranges that hold 512 resident small pages (as
 * after a swap-in) where huge= allows a folio, looking at no more than
 * 8 * @budget ranges.  Only ranges wholly inside the file: a folio
 * reaching past end of file would be trimmed by a later split where the
 * small pages tmpfs has there would stay.  Returns the folios made.
 */
unsigned
filemap_collapse_inode(struct shmemfs *fs, struct shmemfs_inode *ip,
		       unsigned budget)
{
	uint64_t eof = ip->i_size >> SF_PAGE_SHIFT, idx = 0, first, start;
	unsigned looked = 0, made = 0, order;
	void *e;

	if (!S_ISREG(ip->i_mode) || ip->i_blocks < SF_HUGE_PAGES)
		return 0;
	while (made < budget && looked < 8 * budget &&
	       (e = pageidx_next(&ip->i_pages, &idx))) {
		first = idx & ~(uint64_t)(SF_HUGE_PAGES - 1);
		if (first + SF_HUGE_PAGES > eof)
			break;
		pageidx_lookup_range(&ip->i_pages, idx, &start, &order);
		looked++;
		if (!order && filemap_huge_order(fs, ip, first, 0) ==
				      SF_HUGE_ORDER) {
			uint64_t probe = first, n = 0;

			while ((e = pageidx_next(&ip->i_pages, &probe)) &&
			       probe < first + SF_HUGE_PAGES &&
			       !pageidx_is_value(e)) {
				n++;
				probe++;
			}
			if (n == SF_HUGE_PAGES &&
			    !filemap_collapse(fs, ip, first, false))
				made++;
		}
		idx = first + SF_HUGE_PAGES;
	}
	return made;
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
			filemap_collapse(fs, ip, first, true);
			return;
		}
		for (i = first; i < first + nr; i++)
			holes += !pageidx_lookup(&ip->i_pages, i);
		if (!holes || mem_charge_blocks(fs, holes))
			return;
		for (i = first; i < first + nr; i++) {
			if (pageidx_lookup(&ip->i_pages, i))
				continue;
			if (pageidx_store(&ip->i_pages, i, sf_mk_zero())) {
				mem_uncharge_blocks(fs, holes);
				return;
			}
			ip->i_blocks++;
			holes--;
		}
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
	bool seq = index == ip->i_ra_next;
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
			filemap_falloc_folio_uptodate(fs, ip, index,
						      write_end);
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
	int err = 0;

	if (off >= (uint64_t)SHMEMFS_MAX_FILESIZE)
		return size ? -EFBIG : 0;
	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE - off)
		size = (uint64_t)SHMEMFS_MAX_FILESIZE - off;
	if (size > SSIZE_MAX)
		size = SSIZE_MAX & ~SF_PAGE_MASK;
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
	fs->sf_lw_ino = ip->i_ino;
	fs->sf_lw_start = wstart;
	fs->sf_lw_end = off + done;
	if (!done)
		return err;
	if (off + done > ip->i_size)
		ip->i_size = off + done;
	return (ssize_t)done;
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

	SF_ASSERT(sf_mutex_held());
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

	SF_ASSERT(sf_mutex_held());
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

	SF_ASSERT(sf_mutex_held());
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
 * A huge folio that [first, last] cuts at @index is split, so that only
 * the cut pages go (truncate_inode_partial_folio()).  If it cannot be
 * split, it stays whole and the cut bytes are zeroed instead; the range
 * to drop is narrowed to leave it out (*@first or *@last moved).
 */
static void
filemap_split_edge(struct shmemfs *fs, struct shmemfs_inode *ip,
		   uint64_t index, uint64_t *first, uint64_t *last)
{
	uint64_t start, end, a, b;
	unsigned order;
	void *e = pageidx_lookup_range(&ip->i_pages, index, &start, &order);

	if (!e || !order)
		return;
	end = start + ((uint64_t)1 << order) - 1;
	if (start >= *first && end <= *last)
		return; /* wholly inside: goes whole */
	if (!page_split(fs, e))
		return;
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
	filemap_split_cut(fs, ip, start, end);
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
		filemap_split_cut(fs, ip, size, UINT64_MAX);
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
		if (commit && e == sf_mk_falloc(false)) {
			pageidx_store(&ip->i_pages, idx, sf_mk_zero());
		} else if (e == sf_mk_falloc(true)) {
			if (commit) {
				pageidx_store(&ip->i_pages, idx,
					      sf_mk_falloc(false));
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
		if (e == sf_mk_falloc(false))
			pageidx_store(&ip->i_pages, idx, sf_mk_zero());
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
		if (pageidx_lookup_range(&ip->i_pages, idx, &start, &order)) {
			idx = start + ((uint64_t)1 << order);
			continue;
		}
		ret = filemap_charge_hole(fs, ip, idx, end, &order);
		if (ret)
			goto out_undo;
		nr = (uint64_t)1 << order;
		start = idx & ~(nr - 1);
		for (i = start; i < start + nr; i++) {
			if (pageidx_store(&ip->i_pages, i,
					  sf_mk_falloc(true))) {
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
		idx = start + nr;
	}
	falloc_finish(fs, ip, lo, hi, true);
	return 0;

out_undo:
	if (ret == -ENOSPC)
		for (i = first; i < idx; i++)
			if (pageidx_lookup(&ip->i_pages, i) ==
			    sf_mk_falloc(false))
				pageidx_store(&ip->i_pages, i, sf_mk_zero());
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
		if (pageidx_store(&ip->i_pages, idx, sf_mk_falloc(true))) {
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

	pageidx_destroy(&ip->i_pages, erase_one, &ec);
	SF_ASSERT(ec.ec_count == ip->i_blocks);
	mem_uncharge_blocks(fs, ec.ec_count);
	ip->i_blocks = 0;
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
		if (e == sf_mk_falloc(true) ||
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
