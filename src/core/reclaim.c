/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - keeping resident memory within mem=: CLOCK reclaim, the
 * background reclaimer, swapoff and swapon.
 *
 * Every resident page is on the mount's CLOCK ring.  The hand passes a
 * referenced page (clearing the bit) and evicts an unreferenced one:
 * seal it into a free swap slot, put the slot in the page's index entry,
 * free the page (shmem_writepage()'s job).  A page that was fallocated
 * and never written cannot be resident, so every page evicted is data.
 *
 * Two callers: direct reclaim, when an allocation finds the budget full
 * (filemap.c), and a background thread (kswapd's role) woken above the
 * high watermark that works down to the low one, a batch per lock hold
 * so that other callers get in between.
 *
 * Everything here runs under sf_lock, which is also what keeps a page
 * from being evicted while a copy into or out of it is in flight: copies
 * happen under the lock, and reclaim cannot run until it is dropped.
 * SF_PG_PINNED is for the day a copy happens outside it.
 */
#include <errno.h>

#include "internal.h"

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
	struct shmemfs_inode *ip = pg->pg_inode;
	int64_t slot;
	int ret;

	if (page_is_zero(pg->pg_data)) {
		ret = pageidx_store(&ip->i_pages, pg->pg_index, sf_mk_zero());
		SF_ASSERT(ret == 0);
		page_release(fs, pg);
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
	ret = pageidx_store(&ip->i_pages, pg->pg_index,
			    sf_mk_swap((uint64_t)slot));
	SF_ASSERT(ret == 0);
	(void)ret;
	page_release(fs, pg);
	fs->sf_swapouts++;
	return 0;
}

static bool
can_swap(const struct shmemfs *fs)
{
	return fs->sf_swap.sw_ops && fs->sf_swap.sw_enabled;
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
	uint64_t freed = 0, scan = 2 * fs->sf_mem.sm_resident + 2;
	bool backed_only = false;
	unsigned errors = 0;

	if (!can_swap(fs))
		return 0;
	while (freed < nr && scan-- && fs->sf_clock) {
		struct sf_page *pg = fs->sf_clock;
		int ret;

		fs->sf_clock = pg->pg_next;
		if (pg->pg_flags & SF_PG_PINNED)
			continue;
		if (pg->pg_flags & SF_PG_REFERENCED) {
			pg->pg_flags &= ~SF_PG_REFERENCED;
			continue;
		}
		ret = evict_page(fs, pg, &backed_only);
		if (ret == -ENOSPC)
			break;
		if (ret) {
			pg->pg_flags |= SF_PG_REFERENCED;
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

	pthread_mutex_lock(&fs->sf_lock);
	while (!fs->sf_kswapd_stop) {
		if (!can_swap(fs) || !mem_above_high(fs)) {
			pthread_cond_wait(&fs->sf_kswapd_wake, &fs->sf_lock);
			continue;
		}
		while (!fs->sf_kswapd_stop && mem_above_low(fs)) {
			if (!reclaim_pages(fs, SF_RECLAIM_BATCH))
				break;
			/* let other callers in between batches */
			pthread_mutex_unlock(&fs->sf_lock);
			pthread_mutex_lock(&fs->sf_lock);
		}
		if (mem_above_high(fs) && !fs->sf_kswapd_stop)
			/* no progress: wait to be woken again */
			pthread_cond_wait(&fs->sf_kswapd_wake, &fs->sf_lock);
	}
	pthread_mutex_unlock(&fs->sf_lock);
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
	pthread_mutex_lock(&fs->sf_lock);
	fs->sf_kswapd_stop = true;
	pthread_cond_signal(&fs->sf_kswapd_wake);
	pthread_mutex_unlock(&fs->sf_lock);
	pthread_join(fs->sf_kswapd, NULL);
	pthread_cond_destroy(&fs->sf_kswapd_wake);
	fs->sf_kswapd_running = false;
}

/*
 * swapoff: bring every swapped page back (shmem_unuse()).  Refused with
 * -ENOMEM, before anything moves, if they cannot all fit in mem=.
 * Swapping out stops first, so the count cannot grow under us.  The
 * lock is dropped every batch; the walk resumes from the inode number
 * and index it reached.  -EIO if some page could not be read: that page
 * stays in swap (and swap stays off), every other one comes back.
 *
 * => sf_lock held; it is dropped and retaken between batches.
 */
int
reclaim_swapoff(struct shmemfs *fs)
{
	struct sf_mem *m = &fs->sf_mem;
	uint64_t ino = 0, done = 0;
	struct shmemfs_inode *ip;
	int err = 0;

	if (!fs->sf_swap.sw_ops)
		return -EINVAL;
	if (m->sm_resident_max &&
	    m->sm_resident + fs->sf_swap.sw_used > m->sm_resident_max)
		return -ENOMEM;
	fs->sf_swap.sw_enabled = false;
	while ((ip = pageidx_next(&fs->sf_inodes, &ino))) {
		uint64_t idx = 0;
		void *e;

		if (!S_ISREG(ip->i_mode) && !S_ISLNK(ip->i_mode))
			goto next;
		if (S_ISLNK(ip->i_mode) && ip->i_size < SF_SHORT_SYMLINK_LEN)
			goto next;
		while ((e = pageidx_next(&ip->i_pages, &idx))) {
			struct sf_page *pg;
			int ret;

			if (sf_is_swap(e)) {
				ret = filemap_swapin(fs, ip, idx, &pg);
				if (ret && !err)
					err = ret == -ENOSPC ? -ENOMEM : ret;
				if (!ret && ++done % 1024 == 0) {
					/* others may free or change ip */
					pthread_mutex_unlock(&fs->sf_lock);
					pthread_mutex_lock(&fs->sf_lock);
					if (node_get(fs, ino) != ip)
						break;
				}
			}
			if (idx == UINT64_MAX)
				break;
			idx++;
		}
next:
		ino++;
	}
	return err;
}

/* => sf_lock held. */
int
reclaim_swapon(struct shmemfs *fs)
{
	if (!fs->sf_swap.sw_ops)
		return -EINVAL;
	fs->sf_swap.sw_enabled = true;
	if (mem_above_high(fs))
		reclaim_wake(fs);
	return 0;
}
