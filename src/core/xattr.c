/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes: user., trusted. and security.
 *
 * Each inode keeps its attributes in a list sorted by name, the order
 * tmpfs lists them in.  The checks the VFS makes before calling tmpfs
 * (name and value limits, namespaces, user.* only on regular files and
 * directories) are made here too, so an embedding program gets the
 * errnos a syscall on tmpfs would give.  Capability checks for trusted.*
 * stay with the front end (the kernel, under FUSE).
 *
 * Each attribute costs inode space (mem.c) as simple_xattr_space() counts
 * it in tmpfs: 40 bytes plus its name and value.  The new value is
 * charged before the old one is refunded, and before the CREATE/REPLACE
 * checks, so the errnos come in tmpfs's order.
 */
#include <errno.h>

#include "acl.h"
#include "fs.h"
#include "xattr.h"

static const char *const xattr_prefixes[] = {
	"user.", "trusted.", "security.",
};

static int
xattr_check_name(const struct shmemfs_inode *ip, const char *name,
		 bool write)
{
	size_t len = strnlen(name, SHMEMFS_XATTR_NAME_MAX + 1);
	size_t i;

	if (len == 0 || len > SHMEMFS_XATTR_NAME_MAX)
		return -ERANGE;
	/* system.*: the two POSIX ACLs only (acl.c gives them meaning) */
	if (acl_type(name))
		return 0;
	for (i = 0; i < sizeof(xattr_prefixes) / sizeof(*xattr_prefixes);
	     i++) {
		size_t plen = strlen(xattr_prefixes[i]);

		if (strncmp(name, xattr_prefixes[i], plen))
			continue;
		if (len == plen)
			return -EINVAL;
		if (i == 0 && !S_ISREG(ip->i_mode) && !S_ISDIR(ip->i_mode))
			return write ? -EPERM : -ENODATA;
		return 0;
	}
	return -EOPNOTSUPP;
}

/* ACLs cost nothing: tmpfs keeps them in the inode, not as xattrs. */
static uint64_t
space_of(const char *name, size_t size)
{
	if (!strncmp(name, "system.", 7))
		return 0;
	return 40 + size + strlen(name);
}

static struct sf_xattr **
xattr_find(struct shmemfs_inode *ip, const char *name, bool *found)
{
	struct sf_xattr **pp = &ip->i_xattrs;
	int c = 1;

	while (*pp && (c = strcmp((*pp)->x_name, name)) < 0)
		pp = &(*pp)->x_next;
	*found = *pp && c == 0;
	return pp;
}

int
xattr_set(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name,
	  const void *value, size_t size, int flags)
{
	struct sf_xattr **pp, *x;
	bool found;
	size_t len;
	int ret;

	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	ret = xattr_check_name(ip, name, true);
	if (ret)
		return ret;
	if (size > SHMEMFS_XATTR_SIZE_MAX)
		return -E2BIG;
	if (flags & ~(SHMEMFS_XATTR_CREATE | SHMEMFS_XATTR_REPLACE))
		return -EINVAL;
	ret = mem_charge_ispace(fs, space_of(name, size));
	if (ret)
		return ret;
	pp = xattr_find(ip, name, &found);
	ret = -EEXIST;
	if (found && (flags & SHMEMFS_XATTR_CREATE))
		goto out_uncharge;
	ret = -ENODATA;
	if (!found && (flags & SHMEMFS_XATTR_REPLACE))
		goto out_uncharge;
	ret = -ENOMEM;
	len = strlen(name);
	x = sf_malloc(sizeof(*x) + len + 1);
	if (!x)
		goto out_uncharge;
	x->x_value = sf_malloc(size ? size : 1);
	if (!x->x_value) {
		free(x);
		goto out_uncharge;
	}
	memcpy(x->x_name, name, len + 1);
	if (size)
		memcpy(x->x_value, value, size);
	x->x_size = size;
	if (found) {
		struct sf_xattr *old = *pp;

		x->x_next = old->x_next;
		mem_uncharge_ispace(fs, space_of(old->x_name, old->x_size));
		free(old->x_value);
		free(old);
	} else {
		x->x_next = *pp;
	}
	*pp = x;
	sf_now(&ip->i_ctime);
	return 0;

out_uncharge:
	mem_uncharge_ispace(fs, space_of(name, size));
	return ret;
}

ssize_t
xattr_get(struct shmemfs_inode *ip, const char *name, void *value,
	  size_t size)
{
	struct sf_xattr **pp;
	bool found;
	int ret;

	ret = xattr_check_name(ip, name, false);
	if (ret)
		return ret;
	pp = xattr_find(ip, name, &found);
	if (!found)
		return -ENODATA;
	if (size == 0)
		return (ssize_t)(*pp)->x_size;
	if (size < (*pp)->x_size)
		return -ERANGE;
	memcpy(value, (*pp)->x_value, (*pp)->x_size);
	return (ssize_t)(*pp)->x_size;
}

/*
 * With !@trusted (an unprivileged caller), trusted.* names are hidden.
 * The ACLs come first, as simple_xattr_list() lists them.
 */
ssize_t
xattr_list(struct shmemfs_inode *ip, char *list, size_t size, bool trusted)
{
	struct sf_xattr *x;
	size_t total = 0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (x = ip->i_xattrs; x; x = x->x_next) {
			size_t n = strlen(x->x_name) + 1;

			if (!trusted && !strncmp(x->x_name, "trusted.", 8))
				continue;
			if ((pass == 0) != (acl_type(x->x_name) != 0))
				continue;
			if (size) {
				if (total + n > size)
					return -ERANGE;
				memcpy(list + total, x->x_name, n);
			}
			total += n;
		}
	}
	return (ssize_t)total;
}

int
xattr_remove(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name)
{
	struct sf_xattr **pp, *x;
	bool found;
	int ret;

	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	ret = xattr_check_name(ip, name, true);
	if (ret)
		return ret;
	pp = xattr_find(ip, name, &found);
	if (!found)
		return -ENODATA;
	x = *pp;
	*pp = x->x_next;
	mem_uncharge_ispace(fs, space_of(x->x_name, x->x_size));
	free(x->x_value);
	free(x);
	sf_now(&ip->i_ctime);
	return 0;
}

void
xattr_free_all(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	struct sf_xattr *x, *next;

	for (x = ip->i_xattrs; x; x = next) {
		next = x->x_next;
		mem_uncharge_ispace(fs, space_of(x->x_name, x->x_size));
		free(x->x_value);
		free(x);
	}
	ip->i_xattrs = NULL;
}

/* The inode space @ip's attributes hold. */
uint64_t
xattr_space(const struct shmemfs_inode *ip)
{
	const struct sf_xattr *x;
	uint64_t n = 0;

	for (x = ip->i_xattrs; x; x = x->x_next)
		n += space_of(x->x_name, x->x_size);
	return n;
}

/* The attribute @name of @ip, or NULL (acl.c reads and edits in place). */
struct sf_xattr *
xattr_lookup(struct shmemfs_inode *ip, const char *name)
{
	bool found;
	struct sf_xattr **pp = xattr_find(ip, name, &found);

	return found ? *pp : NULL;
}
