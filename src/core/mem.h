/* SPDX-License-Identifier: MIT */
/*
 * mem.h - accounting (mem.c): the only module that changes a counter.
 *
 * Blocks (size=), inode space (nr_inodes=) and resident pages (mem=)
 * are charged here before anything is allocated and uncharged when it
 * is freed.  Callers ask for a charge and handle the refusal; mem never
 * calls up the layers (reclaim is the caller's job).  Other modules read
 * the counters through the functions below, not the fields.
 *
 * => Must be called with sf_lock held (the counters are per mount).
 */
#ifndef SHMEMFS_MEM_H
#define SHMEMFS_MEM_H

#include "core.h"

struct sf_mem {
	uint64_t sm_blocks_max;   /* size= in pages; 0: unlimited */
	uint64_t sm_blocks_used;  /* pages of files: resident + swapped +
				   * fallocated */
	uint64_t sm_inodes_max;   /* 0: unlimited */
	uint64_t sm_inodes_used;  /* live inodes */
	/*
	 * Inode space, as tmpfs 6.6+ keeps it: nr_inodes= buys 1 KiB of
	 * space per inode, and inodes, extra hard links and xattrs are all
	 * charged against it (f_ffree = free space / 1 KiB).
	 */
	uint64_t sm_ispace_max;   /* bytes; 0: unlimited */
	uint64_t sm_ispace_used;
	uint64_t sm_resident_max; /* mem= in pages; 0: unlimited */
	uint64_t sm_resident;     /* pages in memory (page.c charges them) */
	uint64_t sm_high, sm_low; /* reclaimer watermarks, in pages */
	uint64_t sm_falloc_cap;   /* pages fallocate may ask for at once */
	/*
	 * Quotas (usrquota, grpquota), as tmpfs 6.6+ keeps them through
	 * dquot: per user and per group, blocks and inodes used and hard
	 * limits.  Blocks are charged to the owner "bound" by the calling
	 * thread (mem_quota_bind(): the inode whose pages are being
	 * charged; per thread, so a reclaimer or any other thread that
	 * changes blocks unbound charges no one), inodes to the ids
	 * passed.  sm_qtypes 0: quotas off, and none of this costs
	 * anything.
	 */
	unsigned sm_qtypes;                /* SHMEMFS_QUOTA_USER/GROUP bits */
	uint64_t sm_qdef_bhard[2];         /* default limits, bytes; 0: none */
	uint64_t sm_qdef_ihard[2];
	struct sf_qentry **sm_qhash;       /* (type, id) -> entry */
	uint64_t sm_qcount;                /* entries */
};

/* One quota entry: what an id uses and may use. */
struct sf_qentry {
	struct sf_qentry *qe_next;
	uint32_t qe_type;      /* 0 user, 1 group */
	uint32_t qe_id;
	uint64_t qe_blocks;    /* pages */
	uint64_t qe_inodes;
	uint64_t qe_bhard;     /* bytes; 0: no limit */
	uint64_t qe_ihard;     /* 0: no limit */
};

void mem_init(struct sf_mem *m, const struct shmemfs_opts *o);
int mem_charge_blocks(struct shmemfs *fs, uint64_t pages);
void mem_uncharge_blocks(struct shmemfs *fs, uint64_t pages);
int mem_charge_inode(struct shmemfs *fs);
void mem_uncharge_inode(struct shmemfs *fs);
int mem_charge_ispace(struct shmemfs *fs, uint64_t bytes);
void mem_uncharge_ispace(struct shmemfs *fs, uint64_t bytes);
int mem_charge_resident(struct shmemfs *fs, uint64_t pages);
void mem_uncharge_resident(struct shmemfs *fs, uint64_t pages);
void mem_force_resident(struct shmemfs *fs, uint64_t pages);
bool mem_above_high(const struct shmemfs *fs);
bool mem_above_low(const struct shmemfs *fs);

/* Reading the counters */
uint64_t mem_resident(const struct shmemfs *fs);
uint64_t mem_resident_free(const struct shmemfs *fs);
bool mem_resident_fits(const struct shmemfs *fs, uint64_t pages);
bool mem_resident_fits_high(const struct shmemfs *fs, uint64_t pages);
bool mem_resident_within(const struct shmemfs *fs, uint64_t slack);
uint64_t mem_blocks_max(const struct shmemfs *fs);
uint64_t mem_blocks_free(const struct shmemfs *fs);
uint64_t mem_falloc_cap(const struct shmemfs *fs);

/* Quotas */
void mem_quota_init(struct shmemfs *fs, const struct shmemfs_opts *o);
void mem_quota_fini(struct shmemfs *fs);
void mem_quota_bind(struct shmemfs *fs, uid_t uid, gid_t gid);
void mem_quota_unbind(struct shmemfs *fs);
int mem_quota_charge_inode(struct shmemfs *fs, uid_t uid, gid_t gid);
void mem_quota_uncharge_inode(struct shmemfs *fs, uid_t uid, gid_t gid);
int mem_quota_transfer(struct shmemfs *fs, uid_t ouid, gid_t ogid,
		       uid_t nuid, gid_t ngid, uint64_t pages);
int mem_quota_set(struct shmemfs *fs, unsigned type, uint32_t id,
		  unsigned mask, uint64_t bhard, uint64_t ihard);
int mem_quota_list(struct shmemfs *fs, unsigned type, uint32_t from,
		   struct shmemfs_quota *out, size_t n);
struct sf_qentry *mem_quota_next(struct shmemfs *fs, uint64_t *cursor);

/* Remount (remount.c) */
void mem_set_limits(struct shmemfs *fs, uint64_t blocks_max,
		    uint64_t inodes_max, uint64_t resident_max);
uint64_t mem_blocks_used(const struct shmemfs *fs);
uint64_t mem_ispace_used(const struct shmemfs *fs);
uint64_t mem_inodes_max(const struct shmemfs *fs);
uint64_t mem_resident_max(const struct shmemfs *fs);

#endif /* SHMEMFS_MEM_H */
