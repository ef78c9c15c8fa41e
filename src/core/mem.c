/* SPDX-License-Identifier: MIT */
/*
 * mem.c - accounting: the only place that changes a counter.
 *
 * Blocks (size=, counted in pages) and inodes (nr_inodes=) are charged
 * here before anything is allocated and uncharged when it is freed, as
 * shmem_inode_acct_blocks() and shmem_reserve_inode() do in the kernel.
 * A limit of 0 means unlimited; the ramfs option makes every limit 0.
 * Resident pages (what mem= will budget) are counted alongside blocks:
 * until pages can leave memory for swap, every block is resident.
 */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

void
mem_init(struct sf_mem *m, const struct shmemfs_opts *o)
{
	long phys = sysconf(_SC_PHYS_PAGES);
	uint64_t ram_pages = phys > 0 ? (uint64_t)phys : (1ull << 20);

	memset(m, 0, sizeof(*m));
	if (!o->so_ramfs) {
		m->sm_blocks_max = o->so_max_blocks;
		m->sm_inodes_max = o->so_max_inodes;
		m->sm_resident_max = o->so_mem_bytes ?
			(o->so_mem_bytes + SF_PAGE_SIZE - 1) >> SF_PAGE_SHIFT :
			o->so_max_blocks;
	}
	/*
	 * An unlimited mount still cannot fallocate more than the machine
	 * has: refuse up front instead of allocating until malloc fails.
	 */
	m->sm_falloc_cap = m->sm_blocks_max ? m->sm_blocks_max : ram_pages;
}

int
mem_charge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	if (m->sm_blocks_max &&
	    (pages > m->sm_blocks_max ||
	     m->sm_blocks_used > m->sm_blocks_max - pages))
		return -ENOSPC;
	m->sm_blocks_used += pages;
	m->sm_resident += pages;
	return 0;
}

void
mem_uncharge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	SF_ASSERT(m->sm_blocks_used >= pages && m->sm_resident >= pages);
	m->sm_blocks_used -= pages;
	m->sm_resident -= pages;
}

int
mem_charge_inode(struct shmemfs *fs)
{
	struct sf_mem *m = &fs->sf_mem;

	if (m->sm_inodes_max && m->sm_inodes_used >= m->sm_inodes_max)
		return -ENOSPC;
	m->sm_inodes_used++;
	return 0;
}

void
mem_uncharge_inode(struct shmemfs *fs)
{
	SF_ASSERT(fs->sf_mem.sm_inodes_used > 0);
	fs->sf_mem.sm_inodes_used--;
}
