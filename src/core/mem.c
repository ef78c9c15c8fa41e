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

static int mem_quota_charge_blocks(struct shmemfs *fs, uint64_t pages);
static void mem_quota_uncharge_blocks(struct shmemfs *fs, uint64_t pages);

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

	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
	int ret;

	if (m->sm_blocks_max &&
	    (pages > m->sm_blocks_max ||
	     m->sm_blocks_used > m->sm_blocks_max - pages))
		return -ENOSPC;
	/* then the owner's quota, as shmem_inode_acct_blocks() */
	ret = mem_quota_charge_blocks(fs, pages);
	if (ret)
		return ret;
	m->sm_blocks_used += pages;
	return 0;
}

void
mem_uncharge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
	SF_ASSERT(m->sm_blocks_used >= pages);
	m->sm_blocks_used -= pages;
	mem_quota_uncharge_blocks(fs, pages);
}

int
mem_charge_resident(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
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
	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
	fs->sf_mem.sm_resident += pages;
}

void
mem_uncharge_resident(struct shmemfs *fs, uint64_t pages)
{
	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
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

	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
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
	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
	SF_ASSERT(fs->sf_mem.sm_ispace_used >= bytes);
	fs->sf_mem.sm_ispace_used -= bytes;
}

int
mem_charge_inode(struct shmemfs *fs)
{
	int ret = mem_charge_ispace(fs, SF_BOGO_INODE_SIZE);

	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
	if (!ret)
		fs->sf_mem.sm_inodes_used++;
	return ret;
}

void
mem_uncharge_inode(struct shmemfs *fs)
{
	SF_ASSERT(sf_tables_held()); /* a change: exclusive, or local + sf_tables */
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

/* ---- Quotas ----------------------------------------------------------- */

#define QHASH_SIZE 256

/* Set by shmemfs_quota_bypass() for the calls of this thread only. */
static __thread bool mem_quota_bypassed;
/* The block owner this thread has bound (mem_quota_bind()), if any. */
static __thread bool mem_quota_bound;
static __thread uint32_t mem_quota_owner[2];

void
shmemfs_quota_bypass(int on)
{
	mem_quota_bypassed = on != 0;
}

void
mem_quota_init(struct shmemfs *fs, const struct shmemfs_opts *o)
{
	struct sf_mem *m = &fs->sf_mem;

	m->sm_qtypes = 0;
	if (o->so_usrquota)
		m->sm_qtypes |= SHMEMFS_QUOTA_USER;
	if (o->so_grpquota)
		m->sm_qtypes |= SHMEMFS_QUOTA_GROUP;
	m->sm_qdef_bhard[0] = o->so_usrquota_bhard;
	m->sm_qdef_ihard[0] = o->so_usrquota_ihard;
	m->sm_qdef_bhard[1] = o->so_grpquota_bhard;
	m->sm_qdef_ihard[1] = o->so_grpquota_ihard;
}

void
mem_quota_fini(struct shmemfs *fs)
{
	struct sf_mem *m = &fs->sf_mem;
	struct sf_qentry *qe, *next;
	size_t i;

	if (!m->sm_qhash)
		return;
	for (i = 0; i < QHASH_SIZE; i++) {
		for (qe = m->sm_qhash[i]; qe; qe = next) {
			next = qe->qe_next;
			free(qe);
		}
	}
	free(m->sm_qhash);
	m->sm_qhash = NULL;
	m->sm_qcount = 0;
}

static bool
qtype_on(const struct sf_mem *m, unsigned type)
{
	return m->sm_qtypes & (1u << type);
}

static size_t
qhash(unsigned type, uint32_t id)
{
	return (id * 2654435761u + type) % QHASH_SIZE;
}

/*
 * The entry of (@type, @id), made if @create (with the default limits,
 * except for id 0, which tmpfs leaves without them); NULL if absent or
 * out of memory.
 */
static struct sf_qentry *
qentry(struct sf_mem *m, unsigned type, uint32_t id, bool create)
{
	struct sf_qentry *qe;

	if (m->sm_qhash) {
		for (qe = m->sm_qhash[qhash(type, id)]; qe; qe = qe->qe_next)
			if (qe->qe_type == type && qe->qe_id == id)
				return qe;
	}
	if (!create)
		return NULL;
	if (!m->sm_qhash) {
		m->sm_qhash = sf_calloc(QHASH_SIZE, sizeof(*m->sm_qhash));
		if (!m->sm_qhash)
			return NULL;
	}
	qe = sf_calloc(1, sizeof(*qe));
	if (!qe)
		return NULL;
	qe->qe_type = type;
	qe->qe_id = id;
	if (id != 0) {
		qe->qe_bhard = m->sm_qdef_bhard[type];
		qe->qe_ihard = m->sm_qdef_ihard[type];
	}
	qe->qe_next = m->sm_qhash[qhash(type, id)];
	m->sm_qhash[qhash(type, id)] = qe;
	m->sm_qcount++;
	return qe;
}

/* dquot's hard-limit test: would @pages more blocks pass the limit? */
static bool
qover_blocks(const struct sf_qentry *qe, uint64_t pages)
{
	return pages && qe->qe_bhard && !mem_quota_bypassed &&
	       (qe->qe_blocks + pages) * SF_PAGE_SIZE > qe->qe_bhard;
}

static bool
qover_inodes(const struct sf_qentry *qe, uint64_t n)
{
	return n && qe->qe_ihard && !mem_quota_bypassed &&
	       qe->qe_inodes + n > qe->qe_ihard;
}

/*
 * Charge @pages blocks and @inodes inodes to @ids (uid, gid), each type
 * that is on; all or nothing: -EDQUOT past a hard limit, -ENOMEM.
 */
static int
qcharge(struct sf_mem *m, const uint32_t ids[2], uint64_t pages,
	uint64_t inodes)
{
	struct sf_qentry *qe[2] = {NULL, NULL};
	unsigned t;

	for (t = 0; t < 2; t++) {
		if (!qtype_on(m, t))
			continue;
		qe[t] = qentry(m, t, ids[t], true);
		if (!qe[t])
			return -ENOMEM;
		if (qover_blocks(qe[t], pages) || qover_inodes(qe[t], inodes))
			return -EDQUOT;
	}
	for (t = 0; t < 2; t++) {
		if (qe[t]) {
			qe[t]->qe_blocks += pages;
			qe[t]->qe_inodes += inodes;
		}
	}
	return 0;
}

/* Uncharge; never below zero (a charge made while unbound). */
static void
quncharge(struct sf_mem *m, const uint32_t ids[2], uint64_t pages,
	  uint64_t inodes)
{
	struct sf_qentry *qe;
	unsigned t;

	for (t = 0; t < 2; t++) {
		if (!qtype_on(m, t))
			continue;
		qe = qentry(m, t, ids[t], false);
		if (!qe)
			continue;
		SF_ASSERT(qe->qe_blocks >= pages && qe->qe_inodes >= inodes);
		qe->qe_blocks -= pages < qe->qe_blocks ? pages : qe->qe_blocks;
		qe->qe_inodes -=
		    inodes < qe->qe_inodes ? inodes : qe->qe_inodes;
	}
}

/*
 * The owner whose quota the block charges until mem_quota_unbind()
 * count against.  Unbound, blocks are charged to no one.
 */
void
mem_quota_bind(struct shmemfs *fs, uid_t uid, gid_t gid)
{
	(void)fs;
	mem_quota_bound = true;
	mem_quota_owner[0] = uid;
	mem_quota_owner[1] = gid;
}

void
mem_quota_unbind(struct shmemfs *fs)
{
	(void)fs;
	mem_quota_bound = false;
}

/* Called by mem_charge_blocks() once size= has room. */
static int
mem_quota_charge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	if (!m->sm_qtypes || !mem_quota_bound)
		return 0;
	return qcharge(m, mem_quota_owner, pages, 0);
}

static void
mem_quota_uncharge_blocks(struct shmemfs *fs, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;

	if (m->sm_qtypes && mem_quota_bound)
		quncharge(m, mem_quota_owner, pages, 0);
}

int
mem_quota_charge_inode(struct shmemfs *fs, uid_t uid, gid_t gid)
{
	uint32_t ids[2] = {uid, gid};

	if (!fs->sf_mem.sm_qtypes)
		return 0;
	return qcharge(&fs->sf_mem, ids, 0, 1);
}

void
mem_quota_uncharge_inode(struct shmemfs *fs, uid_t uid, gid_t gid)
{
	uint32_t ids[2] = {uid, gid};

	if (fs->sf_mem.sm_qtypes)
		quncharge(&fs->sf_mem, ids, 0, 1);
}

/*
 * chown: move one inode and its @pages from the old ids to the new
 * (dquot_transfer()): -EDQUOT if a new owner would pass a hard limit,
 * -ENOMEM; nothing moved then.  Only the types whose id changes move.
 */
int
mem_quota_transfer(struct shmemfs *fs, uid_t ouid, gid_t ogid, uid_t nuid,
		   gid_t ngid, uint64_t pages)
{
	struct sf_mem *m = &fs->sf_mem;
	uint32_t oids[2] = {ouid, ogid}, nids[2] = {nuid, ngid};
	struct sf_qentry *n[2] = {NULL, NULL}, *o;
	unsigned t;

	if (!m->sm_qtypes)
		return 0;
	for (t = 0; t < 2; t++) {
		if (oids[t] == nids[t] || !qtype_on(m, t))
			continue;
		n[t] = qentry(m, t, nids[t], true);
		if (!n[t])
			return -ENOMEM;
		if (qover_blocks(n[t], pages) || qover_inodes(n[t], 1))
			return -EDQUOT;
	}
	for (t = 0; t < 2; t++) {
		if (!n[t])
			continue;
		o = qentry(m, t, oids[t], false);
		if (o) {
			o->qe_blocks -=
			    pages < o->qe_blocks ? pages : o->qe_blocks;
			o->qe_inodes -= o->qe_inodes ? 1 : 0;
		}
		n[t]->qe_blocks += pages;
		n[t]->qe_inodes++;
	}
	return 0;
}

/* Set limits (@mask: SHMEMFS_QUOTA_SET_BLOCKS/INODES) of one id. */
int
mem_quota_set(struct shmemfs *fs, unsigned type, uint32_t id, unsigned mask,
	      uint64_t bhard, uint64_t ihard)
{
	struct sf_qentry *qe;

	if (type > 1 || !qtype_on(&fs->sf_mem, type))
		return -ESRCH; /* quotactl() for a type that is off */
	qe = qentry(&fs->sf_mem, type, id, true);
	if (!qe)
		return -ENOMEM;
	if (mask & SHMEMFS_QUOTA_SET_BLOCKS)
		qe->qe_bhard = bhard;
	if (mask & SHMEMFS_QUOTA_SET_INODES)
		qe->qe_ihard = ihard;
	return 0;
}

/*
 * Walk the entries: *@cursor (start at 0) moves on; NULL at the end.
 * Order: by bucket, then chain (stable while nothing is added).
 */
struct sf_qentry *
mem_quota_next(struct shmemfs *fs, uint64_t *cursor)
{
	struct sf_mem *m = &fs->sf_mem;
	uint64_t b = *cursor >> 32, k = *cursor & 0xffffffffu, i;
	struct sf_qentry *qe;

	if (!m->sm_qhash)
		return NULL;
	for (; b < QHASH_SIZE; b++, k = 0) {
		for (qe = m->sm_qhash[b], i = 0; qe; qe = qe->qe_next, i++) {
			if (i < k)
				continue;
			*cursor = (b << 32) | (i + 1);
			return qe;
		}
	}
	*cursor = (uint64_t)QHASH_SIZE << 32;
	return NULL;
}

static int
qe_cmp(const void *a, const void *b)
{
	const struct shmemfs_quota *x = a, *y = b;

	if (x->sq_type != y->sq_type)
		return x->sq_type < y->sq_type ? -1 : 1;
	return x->sq_id < y->sq_id ? -1 : x->sq_id > y->sq_id;
}

/*
 * Up to @n entries of @type (or both types with type > 1) with id >=
 * @from, sorted by type then id; returns how many.
 */
int
mem_quota_list(struct shmemfs *fs, unsigned type, uint32_t from,
	       struct shmemfs_quota *out, size_t n)
{
	struct shmemfs_quota *all;
	struct sf_qentry *qe;
	uint64_t cursor = 0;
	size_t k = 0, i, j = 0;

	if (!fs->sf_mem.sm_qcount || !n)
		return 0;
	all = sf_calloc(fs->sf_mem.sm_qcount, sizeof(*all));
	if (!all)
		return -ENOMEM;
	while ((qe = mem_quota_next(fs, &cursor))) {
		if (type <= 1 && qe->qe_type != type)
			continue;
		if (qe->qe_id < from)
			continue;
		all[k].sq_type = qe->qe_type;
		all[k].sq_id = qe->qe_id;
		all[k].sq_bytes = qe->qe_blocks * SF_PAGE_SIZE;
		all[k].sq_block_limit = qe->qe_bhard;
		all[k].sq_inodes = qe->qe_inodes;
		all[k].sq_inode_limit = qe->qe_ihard;
		k++;
	}
	qsort(all, k, sizeof(*all), qe_cmp);
	for (i = 0; i < k && j < n; i++)
		out[j++] = all[i];
	free(all);
	return (int)j;
}
