/* SPDX-License-Identifier: MIT */
/*
 * filemap.c - the page cache of one inode: shmem_get_folio() and the
 * paths that use it.
 *
 * An inode's data is a struct pageidx from page index to struct sf_page.
 * A missing slot is a hole and reads as zeros without allocating.  Every
 * page is charged one block (mem.c) while it exists, and i_blocks counts
 * the inode's pages, so st_blocks is i_blocks * 8 exactly as in tmpfs.
 *
 * A page allocated by fallocate is not SF_PG_UPTODATE: it is reserved
 * space that still reads as zeros and that SEEK_DATA treats as a hole,
 * as tmpfs does.  The first write makes it uptodate.  Pages are zeroed
 * when allocated, and truncate and punch hole zero what they cut off a
 * page they keep, so bytes past a write are always zeros.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

#define SF_PG_NEW 0x2 /* allocated by the fallocate in progress */
#define SF_PAGE_MASK ((uint64_t)SF_PAGE_SIZE - 1)

static struct sf_page *
page_alloc(void)
{
	struct sf_page *pg = sf_malloc(sizeof(*pg));

	if (!pg)
		return NULL;
	if (sf_fail_after > 0 && sf_should_fail()) {
		free(pg);
		return NULL;
	}
	if (posix_memalign(&pg->pg_data, SF_PAGE_SIZE, SF_PAGE_SIZE)) {
		free(pg);
		return NULL;
	}
	memset(pg->pg_data, 0, SF_PAGE_SIZE);
	pg->pg_flags = 0;
	return pg;
}

static void
page_free(struct sf_page *pg)
{
	free(pg->pg_data);
	free(pg);
}

struct sf_page *
filemap_get_page(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t index,
		 int mode, int *err)
{
	struct sf_page *pg;
	int ret;

	*err = 0;
	pg = pageidx_lookup(&ip->i_pages, index);
	if (pg || mode == SGP_READ)
		return pg;

	ret = mem_charge_blocks(fs, 1);
	if (ret)
		goto out_err;
	ret = -ENOMEM;
	pg = page_alloc();
	if (!pg)
		goto out_uncharge;
	if (pageidx_store(&ip->i_pages, index, pg))
		goto out_free_page;
	ip->i_blocks++;
	return pg;

out_free_page:
	page_free(pg);
out_uncharge:
	mem_uncharge_blocks(fs, 1);
out_err:
	*err = ret;
	return NULL;
}

ssize_t
filemap_read(struct shmemfs *fs, struct shmemfs_inode *ip, void *buf,
	     size_t size, uint64_t off)
{
	char *dst = buf;
	size_t done = 0;
	int err;

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

		if (n > size - done)
			n = size - done;
		pg = filemap_get_page(fs, ip, pos >> SF_PAGE_SHIFT, SGP_READ,
				      &err);
		if (pg)
			memcpy(dst + done, (char *)pg->pg_data + poff, n);
		else
			memset(dst + done, 0, n);
		done += n;
	}
	return (ssize_t)done;
}

ssize_t
filemap_write(struct shmemfs *fs, struct shmemfs_inode *ip, const void *buf,
	      size_t size, uint64_t off)
{
	const char *src = buf;
	size_t done = 0;
	int err = 0;

	if (off >= (uint64_t)SHMEMFS_MAX_FILESIZE)
		return size ? -EFBIG : 0;
	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE - off)
		size = (uint64_t)SHMEMFS_MAX_FILESIZE - off;
	if (size > SSIZE_MAX)
		size = SSIZE_MAX & ~SF_PAGE_MASK;
	while (done < size) {
		uint64_t pos = off + done;
		size_t poff = pos & SF_PAGE_MASK;
		size_t n = SF_PAGE_SIZE - poff;
		struct sf_page *pg;

		if (n > size - done)
			n = size - done;
		pg = filemap_get_page(fs, ip, pos >> SF_PAGE_SHIFT, SGP_WRITE,
				      &err);
		if (!pg)
			break;
		memcpy((char *)pg->pg_data + poff, src + done, n);
		pg->pg_flags |= SF_PG_UPTODATE;
		done += n;
	}
	if (!done)
		return err;
	if (off + done > ip->i_size)
		ip->i_size = off + done;
	sf_now(&ip->i_mtime);
	ip->i_ctime = ip->i_mtime;
	return (ssize_t)done;
}

struct erase_ctx {
	uint64_t ec_count;
};

static void
erase_one(void *arg, uint64_t index, void *entry)
{
	struct erase_ctx *ec = arg;

	(void)index;
	page_free(entry);
	ec->ec_count++;
}

/* Drop pages [first, last] and give their blocks back. */
static void
filemap_drop(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
	     uint64_t last)
{
	struct erase_ctx ec = {0};

	if (first > last)
		return;
	pageidx_erase_range(&ip->i_pages, first, last, erase_one, &ec);
	SF_ASSERT(ip->i_blocks >= ec.ec_count);
	ip->i_blocks -= ec.ec_count;
	mem_uncharge_blocks(fs, ec.ec_count);
}

/* Zero bytes [from, to) of page @index if it exists. */
static void
filemap_zero(struct shmemfs_inode *ip, uint64_t index, size_t from, size_t to)
{
	struct sf_page *pg = pageidx_lookup(&ip->i_pages, index);

	if (pg && from < to)
		memset((char *)pg->pg_data + from, 0, to - from);
}

/*
 * Remove the data in [start, end): whole pages are freed, the partial
 * pages at either edge are zeroed and kept (as shmem_undo_range does).
 */
static void
filemap_punch(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t start,
	      uint64_t end)
{
	uint64_t first, last, idx;

	if (start >= end)
		return;
	first = start >> SF_PAGE_SHIFT;
	last = (end - 1) >> SF_PAGE_SHIFT;
	for (idx = first; idx <= last; idx = (idx == first ? last : last + 1)) {
		uint64_t ps = idx << SF_PAGE_SHIFT;
		uint64_t a = start > ps ? start : ps;
		uint64_t b = end - ps < SF_PAGE_SIZE ? end : ps + SF_PAGE_SIZE;

		if (a == ps && b == ps + SF_PAGE_SIZE)
			filemap_drop(fs, ip, idx, idx);
		else
			filemap_zero(ip, idx, a - ps, b - ps);
		if (idx == last)
			break;
	}
	if (last - first >= 2)
		filemap_drop(fs, ip, first + 1, last - 1);
}

int
filemap_truncate(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t size)
{
	uint64_t old = ip->i_size;

	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE)
		return -EFBIG;
	ip->i_size = size;
	/*
	 * Like shmem_setattr(): a truncate that does not grow the file also
	 * drops pages fallocated with KEEP_SIZE beyond the end.
	 */
	if (size <= old && ip->i_blocks)
		filemap_punch(fs, ip, size, (uint64_t)SHMEMFS_MAX_FILESIZE);
	if (size != old) {
		sf_now(&ip->i_mtime);
		ip->i_ctime = ip->i_mtime;
	}
	return 0;
}

/* Undo a failed fallocate: free the pages it added, keep the rest. */
static void
falloc_undo(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t first,
	    uint64_t last)
{
	uint64_t idx = first;
	struct sf_page *pg;

	while ((pg = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		if (pg->pg_flags & SF_PG_NEW) {
			pageidx_erase(&ip->i_pages, idx);
			page_free(pg);
			ip->i_blocks--;
			mem_uncharge_blocks(fs, 1);
		}
		if (idx == last)
			break;
		idx++;
	}
}

static void
falloc_commit(struct shmemfs_inode *ip, uint64_t first, uint64_t last)
{
	uint64_t idx = first;
	struct sf_page *pg;

	while ((pg = pageidx_next(&ip->i_pages, &idx)) && idx <= last) {
		pg->pg_flags &= ~SF_PG_NEW;
		if (idx == last)
			break;
		idx++;
	}
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
 * => @off >= 0, @len > 0, off + len <= SHMEMFS_MAX_FILESIZE, mode valid
 *    (checked by the caller, as the VFS checks them for tmpfs).
 * Either every page in the range is allocated, or nothing changes: the
 * whole shortfall is charged first, and a failed allocation undoes the
 * pages this call added (tmpfs undoes the same way).
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
		filemap_punch(fs, ip, start, end);
		goto out_touch;
	}
	missing = last - first + 1 - count_present(ip, first, last);
	if (missing > fs->sf_mem.sm_falloc_cap)
		return -ENOSPC;
	ret = mem_charge_blocks(fs, missing);
	if (ret)
		return ret;
	for (idx = first; missing; idx++) {
		struct sf_page *pg;

		if (pageidx_lookup(&ip->i_pages, idx))
			continue;
		pg = page_alloc();
		if (!pg || pageidx_store(&ip->i_pages, idx, pg)) {
			if (pg)
				page_free(pg);
			/* charged pages not yet given to the inode */
			mem_uncharge_blocks(fs, missing);
			falloc_undo(fs, ip, first, last);
			return -ENOMEM;
		}
		pg->pg_flags = SF_PG_NEW;
		ip->i_blocks++;
		missing--;
	}
	falloc_commit(ip, first, last);
	if (!(mode & SHMEMFS_FALLOC_KEEP_SIZE) && end > ip->i_size)
		ip->i_size = end;
out_touch:
	sf_now(&ip->i_mtime);
	ip->i_ctime = ip->i_mtime;
	return 0;
}

/* Is page @index data for SEEK_DATA's purposes? */
static bool
page_is_data(const struct sf_page *pg)
{
	return pg && (pg->pg_flags & SF_PG_UPTODATE);
}

int64_t
filemap_seek(struct shmemfs *fs, struct shmemfs_inode *ip, int64_t off,
	     int whence)
{
	uint64_t pos, idx;
	struct sf_page *pg;

	(void)fs;
	if (off < 0 || (uint64_t)off >= ip->i_size)
		return -ENXIO;
	pos = (uint64_t)off;
	idx = pos >> SF_PAGE_SHIFT;
	if (whence == SEEK_DATA) {
		for (;;) {
			pg = pageidx_next(&ip->i_pages, &idx);
			if (!pg || (idx << SF_PAGE_SHIFT) >= ip->i_size)
				return -ENXIO;
			if (page_is_data(pg))
				break;
			idx++;
		}
		if ((idx << SF_PAGE_SHIFT) > pos)
			pos = idx << SF_PAGE_SHIFT;
		return (int64_t)pos;
	}
	/* SEEK_HOLE: the end of the run of data pages starting at idx */
	while ((idx << SF_PAGE_SHIFT) < ip->i_size &&
	       page_is_data(pageidx_lookup(&ip->i_pages, idx)))
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
	struct erase_ctx ec = {0};

	pageidx_destroy(&ip->i_pages, erase_one, &ec);
	SF_ASSERT(ec.ec_count == ip->i_blocks);
	mem_uncharge_blocks(fs, ec.ec_count);
	ip->i_blocks = 0;
}

int
filemap_check(struct shmemfs *fs, struct shmemfs_inode *ip, char *msg,
	      size_t len)
{
	uint64_t idx = 0, n = 0;
	struct sf_page *pg;

	(void)fs;
	if (pageidx_check(&ip->i_pages)) {
		snprintf(msg, len, "ino %llu: bad page index shape",
			 (unsigned long long)ip->i_ino);
		return -EUCLEAN;
	}
	while ((pg = pageidx_next(&ip->i_pages, &idx))) {
		if (pageidx_is_value(pg) || (pg->pg_flags & SF_PG_NEW)) {
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
