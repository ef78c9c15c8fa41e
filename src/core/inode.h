/* SPDX-License-Identifier: MIT */
/*
 * inode.h - struct shmemfs_inode, the object the upper layers share:
 * filemap keeps a regular file's data in it, node its life cycle, dir
 * its names, xattr its attributes.  Each part of the union below belongs
 * to the module named beside it.  Protected by sf_lock (core.h); the
 * data in a regular file's pages also by its data lock (lock.h), which
 * lives in struct shmemfs, not here: taken before sf_lock.
 *
 * Ownership and lifetime
 * ----------------------
 * An inode lives while any of these is non-zero: i_nlink (names),
 * i_nlookup (references the front end holds, FUSE nlookup), i_nopen
 * (open files).  node_put() frees it when all three reach zero, which is
 * how an unlinked-but-open tmpfs file stays readable.  The root is
 * pinned (its i_nlink never reaches zero).
 */
#ifndef SHMEMFS_INODE_H
#define SHMEMFS_INODE_H

#include "core.h"
#include "pageidx.h"

struct sf_xattr;

struct shmemfs_inode {
	/* Fields are ordered by size so the struct has no padding: per-file
	 * memory is a goal (bench/ rss row), keep it so when adding one. */
	uint64_t i_ino;
	uint64_t i_generation;
	uint64_t i_nlookup;
	uint64_t i_size;
	/* Nanoseconds since the epoch (sf_time_t, core.h); SF_TIME_FAR: a
	 * time outside 1677-2262, kept by node.c (node_time()).  Keep the
	 * four together and in this order (node.c indexes them). */
	sf_time_t i_atime, i_mtime, i_ctime, i_btime;
	struct sf_xattr *i_xattrs;  /* xattr.c */
	uid_t i_uid;
	gid_t i_gid;
	uint32_t i_nlink;
	uint32_t i_nopen;
	/* The bit fields below share one word: write any of them only
	 * under sf_lock (as every field of the inode here is).
	 * S_IFREG: swap readahead (filemap.c), a hint: the low 24 bits of
	 * the index a sequential reader wants next (sf_ra_seq()). */
	uint32_t i_ra_next : 24;
	/* ipc.c: what kind of internal inode (SF_IPC_*) */
	uint32_t i_ipc_kind : 3;
	/* O_TMPFILE without O_EXCL, not yet linked: link may name it at
	 * nlink 0 (the VFS's I_LINKABLE) */
	uint32_t i_linkable : 1;
	uint8_t i_flags; /* SHMEMFS_FL_* (chattr): node.c */
	/* ipc.c: the F_SEAL_* seals of a memfd (files of the tree report
	 * F_SEAL_SEAL) */
	uint8_t i_seals;
	uint16_t i_mode; /* a mode_t's 16 bits (S_IFMT | 07777) */
	/* What only one kind of inode needs shares the space (per-file
	 * memory is a goal: bench/). */
	union {
		/* S_IFREG, and long symlinks (target in page 0): filemap.c */
		struct {
			struct pageidx i_pages;
			uint64_t i_blocks;  /* pages charged to this inode */
			/* huge pages: pages below i_fallocend (the end of
			 * the furthest fallocate) survive a folio split past
			 * EOF (shmem_fallocend()); i_huge_advised: under
			 * huge=advise the owner asked (shmemctl huge). */
			uint64_t i_fallocend : 63;
			uint64_t i_huge_advised : 1;
		};
		/* S_IFCHR, S_IFBLK */
		dev_t i_rdev;
		/* S_IFDIR: dir.c */
		struct {
			struct pageidx i_entries;  /* cookie -> dirent */
			uint64_t i_next_cookie;
			struct shmemfs_inode *i_parent;
		};
		/* short symlinks */
		char *i_link;
	};
};

_Static_assert(SHMEMFS_FL_SETTABLE <= UINT8_MAX, "i_flags is 8 bits");
_Static_assert((S_IFMT | 07777) <= UINT16_MAX, "i_mode is 16 bits");

/* Is a read of page @index the sequel of the last (swap readahead)? */
static inline bool
sf_ra_seq(const struct shmemfs_inode *ip, uint64_t index)
{
	return (index & 0xffffff) == ip->i_ra_next;
}

static inline bool
sf_is_long_symlink(const struct shmemfs_inode *ip)
{
	return S_ISLNK(ip->i_mode) && ip->i_size >= SF_SHORT_SYMLINK_LEN;
}

/* IS_IMMUTABLE() || IS_APPEND(): no name, owner, mode or xattr change. */
static inline bool
sf_is_locked(const struct shmemfs_inode *ip)
{
	return ip->i_flags & (SHMEMFS_FL_IMMUTABLE | SHMEMFS_FL_APPEND);
}

static inline bool
sf_has_pages(const struct shmemfs_inode *ip)
{
	return S_ISREG(ip->i_mode) || sf_is_long_symlink(ip);
}

#endif /* SHMEMFS_INODE_H */
