/* SPDX-License-Identifier: MIT */
/*
 * xattr.h - extended attributes (xattr.c), charged to inode space.
 *
 * => Must be called with sf_lock held.
 * Invariant: sm_ispace_used includes xattr_space() of every inode.
 */
#ifndef SHMEMFS_XATTR_H
#define SHMEMFS_XATTR_H

#include <sys/types.h>

#include "core.h"
#include "inode.h"

struct sf_xattr {
	struct sf_xattr *x_next; /* sorted by name, as tmpfs lists them */
	size_t x_size;
	char *x_value;
	char x_name[];
};

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
struct sf_xattr *xattr_lookup(struct shmemfs_inode *ip, const char *name);

#endif /* SHMEMFS_XATTR_H */
