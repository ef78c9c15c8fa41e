/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - keeping resident memory within mem=: CLOCK reclaim and
 * the background reclaimer.
 *
 * Every resident page is on the mount's CLOCK ring (page.c).  The hand
 * passes a referenced page (clearing the bit) and page_clock_next()
 * hands over an unreferenced one, which is evicted: sealed into a free
 * swap slot, the slot filed in the page's index entry (pg_map), the page
 * freed through page.c (shmem_writepage()'s job).  Only lower layers are
 * called: page, swap, mem, pageidx.  A page that was fallocated
 * and never written cannot be resident, so every page evicted is data.
 *
 * Two callers: direct reclaim, when an allocation finds the budget full
 * (filemap.c), and a background thread (kswapd's role) woken above the
 * high watermark that works down to the low one, a batch per lock hold
 * so that other callers get in between.
 *
 * Everything here runs under sf_lock.  Copies into and out of pages run
 * without it (api.c), on pages pinned for the copy: page_clock_next()
 * passes pinned pages, so nothing evicts or splits a page in use.
 *
 * A huge folio the hand picks is split first (page_split(), as
 * shmem_writeout() splits a large folio), and its pages are evicted one
 * by one like any other.  They stay one logical folio (page.h): each
 * swap or zero entry keeps the folio's order, so a later punch or
 * truncate splits and frees it as tmpfs does the folio it never swapped.
 */
#include <errno.h>

#include "fs.h"
#include "reclaim.h"

static bool
page_is_zero(const void *data)
{
	const uint64_t *w = data;
	size_t i;

	for (i = 0; i < SF_PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Swap @pg out.  0, -ENOSPC (swap full) or -EIO (write failed; @pg stays
 * resident and untouched).  A page of zeros needs no slot: it becomes a
 * zero entry.
 *
 * A write into a slot the file never held needs new disk space, and is
 * what fails when the disk under the swap file is full.  Then
 * *@backed_only is set, so the rest of this reclaim pass uses only slots
 * already written (overwritten in place, they need no space), and the
 * next pass tries a new slot once more: when space returns, swap grows
 * again.
 */
static int
evict_page(struct shmemfs *fs, struct sf_page *pg, bool *backed_only)
{
	int64_t slot;
	int ret;

	if (page_is_zero(pg->pg_data)) {
		ret = pageidx_store(pg->pg_map, pg->pg_index,
				    sf_mk_zero(page_folio_order(pg)));
		SF_ASSERT(ret == 0);
		page_free(fs, pg);
		return 0;
	}
	slot = swap_slot_alloc(&fs->sf_swap, *backed_only);
	if (slot < 0)
		return (int)slot;
	ret = swap_write_page(&fs->sf_swap, (uint64_t)slot, pg->pg_data);
	if (ret) {
		if (!swap_slot_backed(&fs->sf_swap, (uint64_t)slot))
			*backed_only = true;
		swap_slot_free(&fs->sf_swap, (uint64_t)slot);
		return -EIO;
	}
	/* Replacing an entry allocates nothing, so it cannot fail. */
	ret = pageidx_store(pg->pg_map, pg->pg_index,
			    sf_mk_swap((uint64_t)slot, page_folio_order(pg)));
	SF_ASSERT(ret == 0);
	(void)ret;
	page_free(fs, pg);
	fs->sf_swapouts++;
	return 0;
}

/*
 * Evict up to @nr pages; returns how many went.  Gives up after two
 * turns of the hand, on a full swap device (or, after a write into a
 * new slot failed, when no slot already written is free), or after
 * repeated write errors (the page stays resident: nothing is lost).
 */
uint64_t
reclaim_pages(struct shmemfs *fs, uint64_t nr)
{
	uint64_t freed = 0, scan = 2 * mem_resident(fs) + 2;
	bool backed_only = false;
	unsigned errors = 0;
	struct sf_page *pg;

	if (!swap_active(&fs->sf_swap))
		return 0;
	while (freed < nr && (pg = page_clock_next(fs, &scan))) {
		int ret;

		if (pg->pg_map->pi_unevictable) /* SHM_LOCK (ipc.c) */
			continue;
		if (page_is_huge(pg)) {
			/*
			 * A cold huge folio goes to swap as 512 pages: split
			 * in place, its pages come next under the hand
			 * (README, "Huge pages", says why not one run).
			 */
			if (page_split(fs, pg)) {
				page_mark_accessed(pg);
				if (++errors > 8)
					break;
			}
			continue;
		}
		ret = evict_page(fs, pg, &backed_only);

		if (ret == -ENOSPC)
			break;
		if (ret) {
			page_mark_accessed(pg);
			if (++errors > 8)
				break;
			continue;
		}
		freed++;
	}
	return freed;
}

void
reclaim_wake(struct shmemfs *fs)
{
	if (fs->sf_kswapd_running)
		pthread_cond_signal(&fs->sf_kswapd_wake);
}

static void *
kswapd(void *arg)
{
	struct shmemfs *fs = arg;

	sf_mutex_lock(&fs->sf_lock);
	while (!fs->sf_kswapd_stop) {
		if (!swap_active(&fs->sf_swap) || !mem_above_high(fs)) {
			sf_cond_wait(&fs->sf_kswapd_wake, &fs->sf_lock);
			continue;
		}
		while (!fs->sf_kswapd_stop && mem_above_low(fs)) {
			if (!reclaim_pages(fs, SF_RECLAIM_BATCH))
				break;
			/* let other callers in between batches */
			sf_mutex_unlock(&fs->sf_lock);
			sf_mutex_lock(&fs->sf_lock);
		}
		if (mem_above_high(fs) && !fs->sf_kswapd_stop)
			/* no progress: wait to be woken again */
			sf_cond_wait(&fs->sf_kswapd_wake, &fs->sf_lock);
	}
	sf_mutex_unlock(&fs->sf_lock);
	return NULL;
}

/* => sf_lock not held. */
int
reclaim_start(struct shmemfs *fs)
{
	int ret;

	pthread_cond_init(&fs->sf_kswapd_wake, NULL);
	fs->sf_kswapd_stop = false;
	ret = pthread_create(&fs->sf_kswapd, NULL, kswapd, fs);
	if (ret) {
		pthread_cond_destroy(&fs->sf_kswapd_wake);
		return -ret;
	}
	fs->sf_kswapd_running = true;
	return 0;
}

/* => sf_lock not held. */
void
reclaim_stop(struct shmemfs *fs)
{
	if (!fs->sf_kswapd_running)
		return;
	sf_mutex_lock(&fs->sf_lock);
	fs->sf_kswapd_stop = true;
	pthread_cond_signal(&fs->sf_kswapd_wake);
	sf_mutex_unlock(&fs->sf_lock);
	pthread_join(fs->sf_kswapd, NULL);
	pthread_cond_destroy(&fs->sf_kswapd_wake);
	fs->sf_kswapd_running = false;
}
