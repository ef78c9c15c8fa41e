/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the core's private structures.
 *
 * Lock order
 * ----------
 * There is one lock per mount, sf_lock, and every public call takes it
 * for its whole duration (api.c).  Everything reachable from a struct
 * shmemfs - counters, the inode table, the name hash, every inode, page
 * index, directory and xattr list - is protected by it.  Internal
 * functions therefore assume "=> Must be called with sf_lock held." and
 * say so only where it is not obvious.  A finer scheme (per-inode locks
 * for the data path) is a later step; keeping one lock now makes every
 * operation, rename included, trivially atomic.
 *
 * Ownership and lifetime
 * ----------------------
 * An inode lives while any of these is non-zero: i_nlink (names),
 * i_nlookup (references the front end holds, FUSE nlookup), i_nopen
 * (open files).  node_put() frees it when all three reach zero, which is
 * how an unlinked-but-open tmpfs file stays readable.  The root is
 * pinned (its i_nlink never reaches zero).
 *
 * Accounting
 * ----------
 * Only mem.c changes the counters in struct sf_mem.  Invariants:
 *   sm_blocks_used == sum over inodes of i_blocks
 *   sm_inodes_used == number of live inodes
 *   i_blocks == number of entries in the inode's page index
 *   sm_resident == pages on the CLOCK ring == pages out of the pool
 *   sw_used == swap entries in all page indexes
 * shmemfs_check() verifies all of them.
 */
#ifndef SHMEMFS_INTERNAL_H
#define SHMEMFS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "pageidx.h"
#include "shmemfs.h"

#define SF_PAGE_SHIFT 12
#define SF_PAGE_SIZE (1u << SF_PAGE_SHIFT)
#define SF_BOGO_DIRENT_SIZE 20  /* tmpfs charges each dirent 20 bytes */
#define SF_SHORT_SYMLINK_LEN 128 /* targets shorter than this stay inline */
#define SF_BOGO_INODE_SIZE 1024  /* inode space one inode or link costs */

#ifdef NDEBUG
#define SF_ASSERT(x) ((void)0)
#else
#include <assert.h>
#define SF_ASSERT(x) assert(x)
#endif

/* Every charge goes through mem.c. */
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
	uint64_t sm_resident;     /* pages in memory */
	uint64_t sm_high, sm_low; /* reclaimer watermarks, in pages */
	uint64_t sm_falloc_cap;   /* pages fallocate may ask for at once */
};

/*
 * A resident page of file data.  Pages sit on the mount's CLOCK ring
 * (sf_clock) for reclaim; SF_PG_REFERENCED is set on each access and
 * cleared as the hand passes.
 */
#define SF_PG_REFERENCED 0x1
#define SF_PG_PINNED     0x2 /* never evict (e.g. I/O in flight) */

struct sf_page {
	void *pg_data;              /* SF_PAGE_SIZE bytes from the pool */
	struct shmemfs_inode *pg_inode;
	uint64_t pg_index;
	struct sf_page *pg_next, *pg_prev; /* CLOCK ring */
	uint32_t pg_flags;
};

/*
 * What a slot of a file's page index holds (pageidx.h):
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
static inline void *
sf_mk_swap(uint64_t slot)
{
	return pageidx_mk_value((slot + 2) << 1);
}

static inline void *
sf_mk_falloc(bool in_progress)
{
	return pageidx_mk_value(in_progress ? 1 : 0);
}

static inline void *
sf_mk_zero(void)
{
	return pageidx_mk_value(2);
}

static inline bool
sf_is_swap(const void *e)
{
	return pageidx_is_value(e) && (pageidx_value(e) >> 1) >= 2;
}

static inline bool
sf_is_falloc(const void *e)
{
	return pageidx_is_value(e) && (pageidx_value(e) >> 1) == 0;
}

static inline bool
sf_is_zero(const void *e)
{
	return pageidx_is_value(e) && (pageidx_value(e) >> 1) == 1;
}

static inline uint64_t
sf_swap_slot(const void *e)
{
	return (pageidx_value(e) >> 1) - 2;
}

/* page.c: the page memory pool */
struct sf_chunk;
struct sf_pool {
	struct pageidx pl_chunks;   /* chunk address >> 21 -> chunk */
	struct sf_chunk *pl_partial; /* chunks with a free page */
	uint64_t pl_chunks_mapped;
	uint64_t pl_pages;          /* in use */
	uint64_t pl_dirty;          /* free, still mapped, not zero */
};

/* swap.c: a swap backend, versioned like sqlite3_io_methods */
struct sf_swap_ops {
	int so_version; /* 1 */
	int (*so_read)(void *priv, uint64_t off, void *buf, size_t len);
	int (*so_write)(void *priv, uint64_t off, const void *buf,
			size_t len);
	void (*so_close)(void *priv);
};

struct sf_slotmeta;
struct sf_swap {
	const struct sf_swap_ops *sw_ops; /* NULL: no swap device */
	void *sw_priv;
	uint64_t sw_nslots;
	uint64_t sw_used;
	uint64_t *sw_bitmap;       /* bit set: slot in use */
	/*
	 * Bit set: the slot was written since swap_init(), so the file
	 * holds its blocks (freed slots are never punched) and a write
	 * there needs no new disk space.  sw_backed_free counts the slots
	 * backed and not in use.  The hints are bitmap words below which
	 * there is no free slot (no free backed slot); a free moves them
	 * down, so allocation is first-fit from the low end.
	 */
	uint64_t *sw_backed;
	uint64_t sw_backed_free;
	uint64_t sw_free_hint;
	uint64_t sw_bfree_hint;
	struct sf_slotmeta *sw_meta; /* per slot: nonce and tag */
	unsigned char *sw_key;     /* AEAD key, mlocked */
	unsigned char *sw_bounce;  /* one sealed page */
	uint64_t sw_nonce;         /* next nonce; never reused */
	bool sw_enabled;           /* false after swapoff */
};

struct sf_xattr {
	struct sf_xattr *x_next; /* sorted by name, as tmpfs lists them */
	size_t x_size;
	char *x_value;
	char x_name[];
};

struct shmemfs_inode;

/* A name in a directory. */
struct sf_dirent {
	struct sf_dirent *d_hnext;     /* name hash chain */
	struct shmemfs_inode *d_dir;   /* the directory holding it */
	struct shmemfs_inode *d_inode; /* what it names */
	uint64_t d_cookie;             /* readdir position, stable */
	uint32_t d_hash;
	uint16_t d_namelen;
	char d_name[];                 /* NUL-terminated */
};

struct shmemfs_inode {
	uint64_t i_ino;
	uint64_t i_generation;
	mode_t i_mode;
	uid_t i_uid;
	gid_t i_gid;
	uint32_t i_nlink;
	uint32_t i_nopen;
	uint64_t i_nlookup;
	uint64_t i_size;
	struct timespec i_atime, i_mtime, i_ctime, i_btime;
	struct sf_xattr *i_xattrs;
	/* What only one kind of inode needs shares the space (per-file
	 * memory is a goal: bench/). */
	union {
		/* S_IFREG, and long symlinks (target in page 0) */
		struct {
			struct pageidx i_pages;
			uint64_t i_blocks;  /* pages charged to this inode */
			uint64_t i_ra_next; /* swap readahead: the index a
					     * sequential reader wants next */
		};
		/* S_IFCHR, S_IFBLK */
		dev_t i_rdev;
		/* S_IFDIR */
		struct {
			struct pageidx i_entries;  /* cookie -> dirent */
			uint64_t i_next_cookie;
			uint64_t i_nentries;
			struct shmemfs_inode *i_parent;
		};
		/* short symlinks */
		char *i_link;
	};
};

struct shmemfs {
	pthread_mutex_t sf_lock;
	struct shmemfs_opts sf_opts;
	struct sf_mem sf_mem;
	struct pageidx sf_inodes;       /* ino -> inode */
	uint64_t sf_next_ino;
	uint64_t sf_next_generation;
	struct shmemfs_inode *sf_root;
	struct sf_dirent **sf_hash;     /* (dir, name) -> dirent */
	uint64_t sf_hash_mask;          /* buckets - 1 */
	uint64_t sf_hash_count;
	struct sf_pool sf_pool;
	struct sf_swap sf_swap;
	struct sf_page *sf_clock;       /* CLOCK hand; NULL: no pages */
	uint64_t sf_swapouts, sf_swapins;
	/* the background reclaimer (kswapd's role) */
	pthread_t sf_kswapd;
	pthread_cond_t sf_kswapd_wake;
	bool sf_kswapd_running;
	bool sf_kswapd_stop;
};

static inline bool
sf_is_long_symlink(const struct shmemfs_inode *ip)
{
	return S_ISLNK(ip->i_mode) && ip->i_size >= SF_SHORT_SYMLINK_LEN;
}

static inline bool
sf_has_pages(const struct shmemfs_inode *ip)
{
	return S_ISREG(ip->i_mode) || sf_is_long_symlink(ip);
}

static inline void
sf_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* mem.c */
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

/* page.c */
void pool_init(struct sf_pool *pl);
void *pool_alloc(struct sf_pool *pl);
void pool_free(struct sf_pool *pl, void *page);
void pool_destroy(struct sf_pool *pl);

/* swap.c */
int swap_file_open(const char *path, uint64_t bytes,
		   const struct sf_swap_ops **ops, void **priv,
		   uint64_t *nslots, char *err, size_t err_len);
int swap_init(struct sf_swap *sw, const struct sf_swap_ops *ops, void *priv,
	      uint64_t nslots);
void swap_fini(struct sf_swap *sw);
int64_t swap_slot_alloc(struct sf_swap *sw, bool backed_only);
bool swap_slot_backed(const struct sf_swap *sw, uint64_t slot);
void swap_slot_free(struct sf_swap *sw, uint64_t slot);
int swap_write_page(struct sf_swap *sw, uint64_t slot, const void *page);
int swap_read_page(struct sf_swap *sw, uint64_t slot, void *page);

/* api.c */
int shmemfs_swap_attach(struct shmemfs *fs, const struct sf_swap_ops *ops,
			void *priv, uint64_t nslots);

/* reclaim.c */
#define SF_RECLAIM_BATCH 32
uint64_t reclaim_pages(struct shmemfs *fs, uint64_t nr);
void reclaim_wake(struct shmemfs *fs);
int reclaim_start(struct shmemfs *fs);
void reclaim_stop(struct shmemfs *fs);
int reclaim_swapoff(struct shmemfs *fs);
int reclaim_swapon(struct shmemfs *fs);

/* filemap.c */
struct sf_page *filemap_get_page(struct shmemfs *fs, struct shmemfs_inode *ip,
				 uint64_t index, int mode, int *err);
#define SGP_READ   0 /* find, swap in; a hole stays a hole */
#define SGP_WRITE  1 /* find, swap in or allocate; the caller writes */
#define SGP_OVERWRITE 2 /* as WRITE, but the caller writes all of it:
			 * a swapped copy need not be read */
int filemap_swapin(struct shmemfs *fs, struct shmemfs_inode *ip,
		   uint64_t index, struct sf_page **pgp);
void page_ring_del(struct shmemfs *fs, struct sf_page *pg);
void page_release(struct shmemfs *fs, struct sf_page *pg);
ssize_t filemap_read(struct shmemfs *fs, struct shmemfs_inode *ip, void *buf,
		     size_t size, uint64_t off);
ssize_t filemap_write(struct shmemfs *fs, struct shmemfs_inode *ip,
		      const void *buf, size_t size, uint64_t off);
int filemap_truncate(struct shmemfs *fs, struct shmemfs_inode *ip,
		     uint64_t size);
int filemap_fallocate(struct shmemfs *fs, struct shmemfs_inode *ip, int mode,
		      int64_t off, int64_t len);
int64_t filemap_seek(struct shmemfs *fs, struct shmemfs_inode *ip,
		     int64_t off, int whence);
void filemap_evict(struct shmemfs *fs, struct shmemfs_inode *ip);
int filemap_check(struct shmemfs *fs, struct shmemfs_inode *ip, char *msg,
		  size_t len);

/* node.c */
int node_new(struct shmemfs *fs, mode_t mode, uid_t uid, gid_t gid,
	     dev_t rdev, struct shmemfs_inode **ipp);
void node_put(struct shmemfs *fs, struct shmemfs_inode *ip);
void node_free_contents(struct shmemfs *fs, struct shmemfs_inode *ip);
struct shmemfs_inode *node_get(struct shmemfs *fs, uint64_t ino);
void node_fill_attr(const struct shmemfs_inode *ip, struct shmemfs_attr *out);
int node_setattr(struct shmemfs *fs, struct shmemfs_inode *ip, unsigned valid,
		 const struct shmemfs_setattr *sa);
void node_touch_atime(struct shmemfs_inode *ip);

/* dir.c */
int dir_hash_init(struct shmemfs *fs);
void dir_hash_free(struct shmemfs *fs);
int dir_check_name(const char *name, size_t *lenp);
struct sf_dirent *dir_find(struct shmemfs *fs, struct shmemfs_inode *dir,
			   const char *name, size_t len);
int dir_add(struct shmemfs *fs, struct shmemfs_inode *dir, const char *name,
	    size_t len, struct shmemfs_inode *ip);
void dir_remove(struct shmemfs *fs, struct sf_dirent *de);
int dir_create(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	       struct shmemfs_inode *dir, const char *name, mode_t mode,
	       dev_t rdev, const char *target, struct shmemfs_inode **ipp);
int dir_link(struct shmemfs *fs, struct shmemfs_inode *ip,
	     struct shmemfs_inode *dir, const char *name);
int dir_unlink(struct shmemfs *fs, struct shmemfs_inode *dir,
	       const char *name, bool rmdir);
int dir_rename(struct shmemfs *fs, struct shmemfs_inode *odir,
	       const char *oname, struct shmemfs_inode *ndir,
	       const char *nname, unsigned flags);
int dir_readdir(struct shmemfs *fs, struct shmemfs_inode *dir,
		uint64_t cookie, int plus, shmemfs_filldir_t fn, void *arg);
void dir_destroy_entries(struct shmemfs *fs, struct shmemfs_inode *dir);
int dir_check(struct shmemfs *fs, char *msg, size_t len);

/* xattr.c */
int xattr_set(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name,
	      const void *value, size_t size, int flags);
ssize_t xattr_get(struct shmemfs_inode *ip, const char *name, void *value,
		  size_t size);
ssize_t xattr_list(struct shmemfs_inode *ip, char *list, size_t size,
		   bool trusted);
int xattr_remove(struct shmemfs *fs, struct shmemfs_inode *ip,
		 const char *name);
void xattr_free_all(struct shmemfs *fs, struct shmemfs_inode *ip);
uint64_t xattr_space(const struct shmemfs_inode *ip);

#endif /* SHMEMFS_INTERNAL_H */
