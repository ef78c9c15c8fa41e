/* SPDX-License-Identifier: MIT */
/*
 * filemap.h - the data of one inode (filemap.c): shmem_get_folio() and
 * the paths that use it (read, write, truncate, fallocate, seek).
 *
 * filemap asks page.c for pages, swap.c for swapped data and reclaim.c
 * for room when mem= is full; nothing below calls back into it.
 *
 * Invariants (=> sf_lock held throughout):
 *   i_blocks == non-NULL entries in i_pages  (st_blocks = i_blocks * 8)
 *   every resident page in i_pages has pg_map == &i_pages and its index
 */
#ifndef SHMEMFS_FILEMAP_H
#define SHMEMFS_FILEMAP_H

#include <sys/types.h>

#include "core.h"
#include "inode.h"
#include "page.h"

#define SGP_READ   0 /* find, swap in; a hole stays a hole */
#define SGP_WRITE  1 /* find, swap in or allocate; the caller writes */
#define SGP_OVERWRITE 2 /* as WRITE, but the caller writes all of it:
			 * a swapped copy need not be read */
int filemap_get_page(struct shmemfs *fs, struct shmemfs_inode *ip,
		     uint64_t index, int mode, struct sf_page **pgp);
int filemap_swapin(struct shmemfs *fs, struct shmemfs_inode *ip,
		   uint64_t index, struct sf_page **pgp);
ssize_t filemap_read(struct shmemfs *fs, struct shmemfs_inode *ip, void *buf,
		     size_t size, uint64_t off);
ssize_t filemap_write(struct shmemfs *fs, struct shmemfs_inode *ip,
		      const void *buf, size_t size, uint64_t off);
/*
 * The data path without sf_lock (api.c): under sf_lock, pin the pages of
 * the next part of a request and describe them as segments; drop
 * sf_lock to copy (the file's data lock held, lock.h: shared to read,
 * exclusive to write); retake it to unpin.  Each call returns the bytes
 * its segments cover and sets *errp to the error that stopped it (0 if
 * none); a read segment with no page reads as zeros.
 */
#define FILEMAP_SEGS 32
struct filemap_seg {
	struct sf_page *sg_page; /* pinned; NULL: a hole (read) */
	char *sg_data;
	size_t sg_len;
};
size_t filemap_pin_read(struct shmemfs *fs, struct shmemfs_inode *ip,
			uint64_t off, size_t size, struct filemap_seg *seg,
			unsigned *nsegp, int *errp);
int filemap_write_begin(struct shmemfs *fs, struct shmemfs_inode *ip,
			uint64_t off, size_t *sizep, uint64_t *wstartp);
size_t filemap_pin_write(struct shmemfs *fs, struct shmemfs_inode *ip,
			 uint64_t pos, size_t size, uint64_t wend,
			 struct filemap_seg *seg, unsigned *nsegp, int *errp);
void filemap_write_end(struct shmemfs *fs, struct shmemfs_inode *ip,
		       uint64_t wstart, uint64_t pos, size_t done);
void filemap_unpin(struct shmemfs *fs, struct filemap_seg *seg, unsigned n);
int filemap_truncate(struct shmemfs *fs, struct shmemfs_inode *ip,
		     uint64_t size);
int filemap_fallocate(struct shmemfs *fs, struct shmemfs_inode *ip, int mode,
		      int64_t off, int64_t len);
int64_t filemap_seek(struct shmemfs *fs, struct shmemfs_inode *ip,
		     int64_t off, int whence);
void filemap_evict(struct shmemfs *fs, struct shmemfs_inode *ip);
int filemap_check(struct shmemfs *fs, struct shmemfs_inode *ip, char *msg,
		  size_t len);
uint64_t filemap_count_swapped(const struct shmemfs_inode *ip);
int filemap_check_shrinklist(struct shmemfs *fs,
			     bool (*alive)(struct shmemfs *fs,
					   const struct shmemfs_inode *ip),
			     char *msg, size_t len);
uint64_t filemap_huge_shrink(struct shmemfs *fs, uint64_t nr_to_free);
void filemap_last_close(struct shmemfs *fs, struct shmemfs_inode *ip);
unsigned filemap_collapse_inode(struct shmemfs *fs, struct shmemfs_inode *ip,
				unsigned budget);
unsigned filemap_collapse_scan(struct shmemfs *fs, struct shmemfs_inode *ip,
			       uint64_t *cursor, unsigned *budget,
			       unsigned max, bool *done);
unsigned filemap_blksize(const struct shmemfs *fs,
			 const struct shmemfs_inode *ip);

#endif /* SHMEMFS_FILEMAP_H */
