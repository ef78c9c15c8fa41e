/* SPDX-License-Identifier: MIT */
/*
 * remount.c - `mount -o remount` for a mount that FUSE will not pass a
 * remount to: shmemctl remount sends the option string here.
 *
 * What tmpfs's shmem_reconfigure() changes is changed (size=/nr_blocks=,
 * nr_inodes=, huge=, inode32/inode64, noswap only if already so), plus
 * our mem= and swapsize=; what it accepts and ignores on remount
 * (mode=, uid=, gid=, mpol=) is accepted and ignored; anything else is
 * refused by name.  Its refusals come with its words: no limit on what
 * was unlimited, no limit below current use.  The string is parsed and
 * every check made before anything changes, and the one step that can
 * fail (growing the swap maps) comes first, so a refused remount
 * changes nothing.  mem= lower than what is resident needs the swap to
 * take the difference; the background reclaimer then brings residency
 * down.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "fs.h"
#include "reclaim.h"
#include "remount.h"

enum {
	RM_BLOCKS = 1 << 0,
	RM_INODES = 1 << 1,
	RM_HUGE = 1 << 2,
	RM_INUMS = 1 << 3,
	RM_MEM = 1 << 4,
	RM_SWAPSIZE = 1 << 5,
	RM_NOSWAP = 1 << 6,
	RM_IGNORED = 1 << 7,
	RM_QUOTA = 1 << 8,
	RM_QLIMIT = 1 << 9,
};

static const struct {
	const char *rk_name;
	unsigned rk_seen;
} remount_keys[] = {
    {"size", RM_BLOCKS},
    {"nr_blocks", RM_BLOCKS},
    {"nr_inodes", RM_INODES},
    {"huge", RM_HUGE},
    {"inode32", RM_INUMS},
    {"inode64", RM_INUMS},
    {"mem", RM_MEM},
    {"swapsize", RM_SWAPSIZE},
    {"noswap", RM_NOSWAP},
    {"mode", RM_IGNORED},
    {"uid", RM_IGNORED},
    {"gid", RM_IGNORED},
    {"mpol", RM_IGNORED},
    {"quota", RM_QUOTA},
    {"usrquota", RM_QUOTA},
    {"grpquota", RM_QUOTA},
    {"usrquota_block_hardlimit", RM_QLIMIT},
    {"usrquota_inode_hardlimit", RM_QLIMIT},
    {"grpquota_block_hardlimit", RM_QLIMIT},
    {"grpquota_inode_hardlimit", RM_QLIMIT},
};

static int __attribute__((format(printf, 4, 5)))
remount_error(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return ret;
}

/* Which option @item (NAME or NAME=VALUE) sets; 0: not remountable. */
static unsigned
remount_key(const char *item)
{
	size_t len = strcspn(item, "="), i;

	for (i = 0; i < sizeof(remount_keys) / sizeof(remount_keys[0]); i++)
		if (strlen(remount_keys[i].rk_name) == len &&
		    !strncmp(item, remount_keys[i].rk_name, len))
			return remount_keys[i].rk_seen;
	return 0;
}

/* Parse @optstr item by item onto @new, noting what was seen. */
static int
remount_parse(const char *optstr, struct shmemfs_opts *new, unsigned *seen,
	      char *err, size_t err_len)
{
	char *buf, *item, *next;
	int ret = 0;

	buf = strdup(optstr);
	if (!buf)
		return remount_error(err, err_len, -ENOMEM, "out of memory");
	for (item = buf; item; item = next) {
		unsigned key;

		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		if (!item[0] || !strcmp(item, "remount"))
			continue;
		key = remount_key(item);
		if (!key) {
			ret = remount_error(err, err_len, -EINVAL,
					    "option '%.*s' cannot be changed "
					    "by remount",
					    (int)strcspn(item, "="), item);
			break;
		}
		ret = shmemfs_opts_parse(new, item, NULL, 0, err, err_len);
		if (ret)
			break;
		*seen |= key;
	}
	free(buf);
	return ret;
}

static uint64_t
bytes_to_pages(uint64_t bytes)
{
	return bytes / SF_PAGE_SIZE + !!(bytes % SF_PAGE_SIZE);
}

/* As swap_default_bytes() in api.c: the size a swap device gets. */
static uint64_t
remount_swap_slots(uint64_t bytes)
{
	/* swapsize= counts the 4 KiB header, as mkswap does */
	return bytes / SF_PAGE_SIZE - 1;
}

int
remount_apply(struct shmemfs *fs, const char *optstr, char *err, size_t err_len)
{
	struct shmemfs_opts new = fs->sf_opts;
	uint64_t blocks, inodes, resident_max, nslots = 0, resident;
	unsigned seen = 0;
	int ret;

	if (err && err_len)
		err[0] = '\0';
	ret = remount_parse(optstr, &new, &seen, err, err_len);
	if (ret)
		return ret;
	if (fs->sf_opts.so_ramfs &&
	    (seen & (RM_BLOCKS | RM_INODES | RM_MEM | RM_SWAPSIZE)))
		return remount_error(err, err_len, -EINVAL,
				     "a ramfs mount has no limits to change");
	blocks = seen & RM_BLOCKS ? new.so_max_blocks : mem_blocks_max(fs);
	inodes = seen & RM_INODES ? new.so_max_inodes : mem_inodes_max(fs);
	/* shmem_reconfigure()'s checks, in its order and words */
	if ((seen & RM_BLOCKS) && blocks) {
		if (!mem_blocks_max(fs))
			return remount_error(err, err_len, -EINVAL,
					     "Cannot retroactively limit size");
		if (mem_blocks_used(fs) > blocks)
			return remount_error(
			    err, err_len, -EINVAL,
			    "Too small a size for current use");
	}
	if ((seen & RM_INODES) && inodes) {
		if (!mem_inodes_max(fs))
			return remount_error(err, err_len, -EINVAL,
					     "Cannot retroactively limit "
					     "inodes");
		if (inodes * SF_BOGO_INODE_SIZE < mem_ispace_used(fs))
			return remount_error(err, err_len, -EINVAL,
					     "Too few inodes for current use");
	}
	if ((seen & RM_INUMS) && !new.so_inode64 &&
	    fs->sf_next_ino > UINT32_MAX)
		return remount_error(err, err_len, -EINVAL,
				     "Current inum too high to switch to "
				     "32-bit inums");
	if ((seen & RM_NOSWAP) && !fs->sf_opts.so_noswap)
		return remount_error(err, err_len, -EINVAL,
				     "Cannot disable swap on remount");
	/* tmpfs.rst: no quota option can be set or changed on remount */
	if ((seen & RM_QUOTA) && (new.so_usrquota != fs->sf_opts.so_usrquota ||
				  new.so_grpquota != fs->sf_opts.so_grpquota))
		return remount_error(err, err_len, -EINVAL,
				     "Cannot enable quota on remount");
	if ((seen & RM_QLIMIT) &&
	    (new.so_usrquota_bhard != fs->sf_opts.so_usrquota_bhard ||
	     new.so_usrquota_ihard != fs->sf_opts.so_usrquota_ihard ||
	     new.so_grpquota_bhard != fs->sf_opts.so_grpquota_bhard ||
	     new.so_grpquota_ihard != fs->sf_opts.so_grpquota_ihard))
		return remount_error(err, err_len, -EINVAL,
				     "Cannot change global quota limit on "
				     "remount");
	/* ours: swapsize= and mem= */
	if (seen & RM_SWAPSIZE) {
		if (!swap_present(&fs->sf_swap))
			return remount_error(err, err_len, -EINVAL,
					     "swapsize=: this mount has no "
					     "swap file (swap= at mount)");
		if (new.so_swap_bytes < 2 * SF_PAGE_SIZE)
			return remount_error(err, err_len, -EINVAL,
					     "swapsize=: must leave room for "
					     "a 4 KiB header and a page");
		nslots = remount_swap_slots(new.so_swap_bytes);
		if (nslots < swap_used(&fs->sf_swap))
			return remount_error(err, err_len, -EINVAL,
					     "Too small a swapsize for current "
					     "use");
	}
	resident_max =
	    new.so_mem_bytes ? bytes_to_pages(new.so_mem_bytes) : blocks;
	if (fs->sf_opts.so_ramfs)
		resident_max = 0;
	resident = mem_resident(fs);
	if ((seen & (RM_MEM | RM_BLOCKS)) && resident_max &&
	    resident > resident_max) {
		uint64_t room = swap_active(&fs->sf_swap)
				    ? swap_free_slots(&fs->sf_swap)
				    : 0;

		if (seen & RM_SWAPSIZE && nslots > swap_used(&fs->sf_swap) &&
		    swap_active(&fs->sf_swap))
			room = nslots - swap_used(&fs->sf_swap);
		if (resident - resident_max > room)
			return remount_error(err, err_len, -EINVAL,
					     "Too small a mem= for current "
					     "use: %llu KiB resident and room "
					     "for %llu KiB in swap",
					     (unsigned long long)resident * 4,
					     (unsigned long long)room * 4);
	}
	/* what a mount would refuse (mem= below size= without swap...) */
	new.so_max_blocks = blocks;
	new.so_max_inodes = inodes;
	ret = shmemfs_opts_check(&new, err, err_len);
	if (ret)
		return ret;

	/* Commit: the one step that can fail first. */
	if (seen & RM_SWAPSIZE) {
		ret = swap_resize(&fs->sf_swap, nslots);
		if (ret)
			return remount_error(err, err_len, ret, "swapsize=: %s",
					     strerror(-ret));
	}
	mem_set_limits(fs, blocks, inodes, resident_max);
	fs->sf_opts.so_max_blocks = blocks;
	fs->sf_opts.so_max_inodes = inodes;
	fs->sf_opts.so_mem_bytes = new.so_mem_bytes;
	fs->sf_opts.so_swap_bytes = new.so_swap_bytes;
	fs->sf_opts.so_huge = new.so_huge;
	fs->sf_opts.so_inode64 = new.so_inode64;
	if (mem_above_high(fs))
		reclaim_wake(fs);
	return 0;
}
