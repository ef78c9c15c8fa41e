/* SPDX-License-Identifier: MIT */
/*
 * swapoff.c - swapoff and swapon.
 *
 * swapoff brings every swapped page back (shmem_unuse()): a walk over
 * the inode table (node.c) that swaps pages in through filemap.c.  It
 * sits above both, so the layers below it never need to find an inode.
 */
#include <errno.h>

#include "filemap.h"
#include "fs.h"
#include "node.h"
#include "reclaim.h"
#include "swapoff.h"

/*
 * swapoff: bring every swapped page back.  Refused with -ENOMEM, before
 * anything moves, if they cannot all fit in mem=.  Swapping out stops
 * first, so the count cannot grow under us.  The lock is dropped every
 * batch; the walk resumes from the inode number and index it reached.
 * -EIO if some page could not be read: that page stays in swap (and
 * swap stays off), every other one comes back.
 *
 * => sf_lock held; it is dropped and retaken between batches.
 */
int
swapoff_unuse(struct shmemfs *fs)
{
	uint64_t ino = 0, done = 0;
	struct shmemfs_inode *ip;
	int err = 0;

	if (!swap_present(&fs->sf_swap))
		return -EINVAL;
	if (!mem_resident_fits(fs, swap_used(&fs->sf_swap)))
		return -ENOMEM;
	swap_set_enabled(&fs->sf_swap, false);
	while ((ip = node_next(fs, &ino))) {
		uint64_t idx = 0;
		void *e;

		if (!sf_has_pages(ip))
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
					sf_mutex_unlock(&fs->sf_lock);
					sf_mutex_lock(&fs->sf_lock);
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
swapoff_swapon(struct shmemfs *fs)
{
	if (!swap_present(&fs->sf_swap))
		return -EINVAL;
	swap_set_enabled(&fs->sf_swap, true);
	if (mem_above_high(fs))
		reclaim_wake(fs);
	return 0;
}
