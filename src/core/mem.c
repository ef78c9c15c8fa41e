/* SPDX-License-Identifier: MIT */
/*
 * mem.c - accounting: the only place that changes a counter.
 *
 * Blocks (size=, counted in pages) and inodes (nr_inodes=) are charged
 * here before anything is allocated and uncharged when it is freed, as
 * shmem_inode_acct_blocks() and shmem_reserve_inode() do in the kernel.
 * A limit of 0 means unlimited; the ramfs option makes every limit 0.
 *
 * Resident pages (mem=) are a second, separate charge: a page costs a
 * block for as long as it exists, and a resident page only while it is
 * in memory.  Swapping a page out uncharges the resident page and keeps
 * the block.  Over the budget, mem_charge_resident() fails with -ENOMEM
 * and the caller reclaims (filemap.c); mem does not call up the layers.
 */
#include <errno.h>
#include <unistd.h>

#include "fs.h"

void
mem_init(struct sf_mem *m, const struct shmemfs_opts *o)
{
	long phys = sysconf(_SC_PHYS_PAGES);
	uint64_t ram_pages = phys > 0 ? (uint64_t)phys : (1ull << 20);

	memset(m, 0, sizeof(*m));
	if (!o->so_ramfs) {
		m->sm_blocks_max = o->so_max_blocks;
		m->sm_inodes_max = o->so_max_inodes;
		m->sm_ispace_max = o->so_max_inodes * SF_BOGO_INODE_SIZE;
		m->sm_resident_max = o->so_mem_bytes ?
			(o->so_mem_bytes + SF_PAGE_SIZE - 1) >> SF_PAGE_SHIFT :
			o->so_max_blocks;
	}
	/* The reclaimer starts above 15/16 of the budget, stops at 7/8. */
	m->sm_high = m->sm_resident_max - m->sm_resident_max / 16;
	m->sm_low = m->sm_resident_max - m->sm_resident_max / 8;
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
	return 0;
}

void
mem_uncharge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	SF_ASSERT(m->sm_blocks_used >= pages);
	m->sm_blocks_used -= pages;
}

int
mem_charge_resident(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	if (m->sm_resident_max &&
	    (pages > m->sm_resident_max ||
	     m->sm_resident > m->sm_resident_max - pages))
		return -ENOMEM;
	m->sm_resident += pages;
	return 0;
}

/* Charge past the budget: for swap-ins only (see charge_resident()). */
void
mem_force_resident(struct shmemfs *fs, uint64_t pages)
{
	fs->sf_mem.sm_resident += pages;
}

void
mem_uncharge_resident(struct shmemfs *fs, uint64_t pages)
{
	SF_ASSERT(fs->sf_mem.sm_resident >= pages);
	fs->sf_mem.sm_resident -= pages;
}

bool
mem_above_high(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_resident_max &&
	       fs->sf_mem.sm_resident > fs->sf_mem.sm_high;
}

bool
mem_above_low(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_resident_max &&
	       fs->sf_mem.sm_resident > fs->sf_mem.sm_low;
}

int
mem_charge_ispace(struct shmemfs *fs, uint64_t bytes)
{
	struct sf_mem *m = &fs->sf_mem;

	if (m->sm_ispace_max &&
	    (bytes > m->sm_ispace_max ||
	     m->sm_ispace_used > m->sm_ispace_max - bytes))
		return -ENOSPC;
	m->sm_ispace_used += bytes;
	return 0;
}

void
mem_uncharge_ispace(struct shmemfs *fs, uint64_t bytes)
{
	SF_ASSERT(fs->sf_mem.sm_ispace_used >= bytes);
	fs->sf_mem.sm_ispace_used -= bytes;
}

int
mem_charge_inode(struct shmemfs *fs)
{
	int ret = mem_charge_ispace(fs, SF_BOGO_INODE_SIZE);

	if (!ret)
		fs->sf_mem.sm_inodes_used++;
	return ret;
}

void
mem_uncharge_inode(struct shmemfs *fs)
{
	SF_ASSERT(fs->sf_mem.sm_inodes_used > 0);
	fs->sf_mem.sm_inodes_used--;
	mem_uncharge_ispace(fs, SF_BOGO_INODE_SIZE);
}

uint64_t
mem_resident(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_resident;
}

/* Pages mem= has room for; UINT64_MAX without a budget. */
uint64_t
mem_resident_free(const struct shmemfs *fs)
{
	const struct sf_mem *m = &fs->sf_mem;

	if (!m->sm_resident_max)
		return UINT64_MAX;
	return m->sm_resident < m->sm_resident_max ?
		       m->sm_resident_max - m->sm_resident : 0;
}

/* Would @pages more resident pages stay within mem=? */
bool
mem_resident_fits(const struct shmemfs *fs, uint64_t pages)
{
	const struct sf_mem *m = &fs->sf_mem;

	return !m->sm_resident_max ||
	       m->sm_resident + pages <= m->sm_resident_max;
}

/* Would @pages more resident pages stay below the high watermark? */
bool
mem_resident_fits_high(const struct shmemfs *fs, uint64_t pages)
{
	const struct sf_mem *m = &fs->sf_mem;

	return !m->sm_resident_max || m->sm_resident + pages <= m->sm_high;
}

/* Is the resident count below mem= plus @slack (the swap-in reserve)? */
bool
mem_resident_within(const struct shmemfs *fs, uint64_t slack)
{
	const struct sf_mem *m = &fs->sf_mem;

	return m->sm_resident < m->sm_resident_max + slack;
}

uint64_t
mem_blocks_max(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_blocks_max;
}

/* Blocks size= still allows; UINT64_MAX when unlimited. */
uint64_t
mem_blocks_free(const struct shmemfs *fs)
{
	const struct sf_mem *m = &fs->sf_mem;

	return m->sm_blocks_max ? m->sm_blocks_max - m->sm_blocks_used
				: UINT64_MAX;
}

uint64_t
mem_falloc_cap(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_falloc_cap;
}

/*
 * Remount: new limits (0: unlimited), as shmem_reconfigure() sets them.
 * The caller (remount.c) has checked that they fit the usage; the
 * watermarks and the fallocate cap follow, as mem_init() derives them.
 */
void
mem_set_limits(struct shmemfs *fs, uint64_t blocks_max, uint64_t inodes_max,
	       uint64_t resident_max)
{
	struct sf_mem *m = &fs->sf_mem;
	long phys = sysconf(_SC_PHYS_PAGES);
	uint64_t ram_pages = phys > 0 ? (uint64_t)phys : (1ull << 20);

	SF_ASSERT(!blocks_max || m->sm_blocks_used <= blocks_max);
	SF_ASSERT(!inodes_max ||
		  m->sm_ispace_used <= inodes_max * SF_BOGO_INODE_SIZE);
	m->sm_blocks_max = blocks_max;
	m->sm_inodes_max = inodes_max;
	m->sm_ispace_max = inodes_max * SF_BOGO_INODE_SIZE;
	m->sm_resident_max = resident_max;
	m->sm_high = m->sm_resident_max - m->sm_resident_max / 16;
	m->sm_low = m->sm_resident_max - m->sm_resident_max / 8;
	m->sm_falloc_cap = m->sm_blocks_max ? m->sm_blocks_max : ram_pages;
}

uint64_t
mem_blocks_used(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_blocks_used;
}

uint64_t
mem_ispace_used(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_ispace_used;
}

uint64_t
mem_inodes_max(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_inodes_max;
}

uint64_t
mem_resident_max(const struct shmemfs *fs)
{
	return fs->sf_mem.sm_resident_max;
}
