/* SPDX-License-Identifier: MIT */
/*
 * acl.h - POSIX ACLs (acl.c), as tmpfs with CONFIG_TMPFS_POSIX_ACL.
 *
 * An ACL is kept as an ordinary attribute of the xattr store (xattr.c)
 * under its system.posix_acl_* name, in the kernel's xattr format
 * (struct posix_acl_xattr_header + entries, little-endian), so whatever
 * saves or copies xattrs saves ACLs with them.  This module adds the
 * rules tmpfs applies on top: validation, mode <-> ACL synchronisation,
 * an access ACL equivalent to the mode stored as the mode only, and
 * inheritance of a directory's default ACL on create.
 *
 * => Must be called with sf_lock held.
 */
#ifndef SHMEMFS_ACL_H
#define SHMEMFS_ACL_H

#include <sys/types.h>

#include "core.h"
#include "inode.h"

#define SF_ACL_ACCESS  "system.posix_acl_access"
#define SF_ACL_DEFAULT "system.posix_acl_default"

/* 0: @name is not an ACL name; 1: the access ACL; 2: the default ACL. */
int acl_type(const char *name);
/* Entries in a valid ACL (0: header only), -EINVAL, -EOPNOTSUPP. */
int acl_valid(const void *value, size_t size);
/*
 * Set (or with @size 0 or no entries, remove) ACL @name of @ip, as
 * simple_set_acl() after vfs_set_acl()'s checks.  Setting the access
 * ACL rewrites the mode's permission bits and, with @kill_sgid (the
 * caller is neither in the file's group nor has CAP_FSETID), clears
 * S_ISGID.
 */
int acl_set(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name,
	    const void *value, size_t size, bool kill_sgid);
/* Remove ACL @name; absent is not an error (vfs_remove_acl()). */
int acl_remove(struct shmemfs *fs, struct shmemfs_inode *ip,
	       const char *name);
/* chmod: rewrite the access ACL's owner, mask (or group) and other. */
void acl_chmod(struct shmemfs_inode *ip);
/*
 * Before a new inode @ip is linked into @dir: inherit @dir's default
 * ACL (posix_acl_create()), or apply @umask where there is none.
 * May fail (-ENOMEM, -ENOSPC); the caller then frees @ip.
 */
int acl_inherit(struct shmemfs *fs, struct shmemfs_inode *dir,
		struct shmemfs_inode *ip, mode_t umask);

#endif /* SHMEMFS_ACL_H */
