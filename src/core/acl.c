/* SPDX-License-Identifier: MIT */
/*
 * acl.c - POSIX ACLs: the rules of fs/posix_acl.c over the xattr store.
 *
 * The value is the kernel's xattr format: a 4-byte version (2) and
 * 8-byte entries {le16 tag, le16 perm, le32 id}.  A valid ACL is
 * USER_OBJ, USER entries, GROUP_OBJ, GROUP entries, MASK (required once
 * there is a USER or GROUP entry) and OTHER, in that order, with
 * permissions of rwx only and valid ids (the kernel no longer insists
 * on sorted or distinct ids: neither do we).  The ids of the entries
 * that have none are stored as ACL_UNDEFINED_ID, as the kernel hands
 * them back.  The mode's permission
 * bits are the ACL's owner, mask (group when no mask) and other entries;
 * an ACL with nothing more than those three says no more than the mode
 * and is not stored (posix_acl_equiv_mode()).
 */
#include <endian.h>
#include <errno.h>

#include "acl.h"
#include "fs.h"
#include "xattr.h"

#define ACL_VERSION	 2
#define ACL_HDR_SIZE	 4
#define ACL_ENT_SIZE	 8
#define ACL_USER_OBJ	 0x01
#define ACL_USER	 0x02
#define ACL_GROUP_OBJ	 0x04
#define ACL_GROUP	 0x08
#define ACL_MASK	 0x10
#define ACL_OTHER	 0x20
#define ACL_UNDEFINED_ID 0xffffffffu

struct acl_ent {
	uint16_t e_tag;
	uint16_t e_perm;
	uint32_t e_id;
};

static void
acl_ent_get(const void *value, int i, struct acl_ent *e)
{
	const unsigned char *p = (const unsigned char *)value + ACL_HDR_SIZE +
				 (size_t)i * ACL_ENT_SIZE;
	uint16_t t, pm;
	uint32_t id;

	memcpy(&t, p, 2);
	memcpy(&pm, p + 2, 2);
	memcpy(&id, p + 4, 4);
	e->e_tag = le16toh(t);
	e->e_perm = le16toh(pm);
	e->e_id = le32toh(id);
}

static void
acl_perm_put(void *value, int i, uint16_t perm)
{
	unsigned char *p =
	    (unsigned char *)value + ACL_HDR_SIZE + (size_t)i * ACL_ENT_SIZE;
	uint16_t pm = htole16(perm);

	memcpy(p + 2, &pm, 2);
}

static void
acl_id_put(void *value, int i, uint32_t id)
{
	unsigned char *p =
	    (unsigned char *)value + ACL_HDR_SIZE + (size_t)i * ACL_ENT_SIZE;
	uint32_t v = htole32(id);

	memcpy(p + 4, &v, 4);
}

/* A copy of a valid ACL with the ids of id-less entries undefined. */
static void *
acl_normalize(const void *value, size_t size, int count)
{
	struct acl_ent e;
	void *copy;
	int i;

	copy = sf_malloc(size);
	if (!copy)
		return NULL;
	memcpy(copy, value, size);
	for (i = 0; i < count; i++) {
		acl_ent_get(copy, i, &e);
		if (e.e_tag != ACL_USER && e.e_tag != ACL_GROUP)
			acl_id_put(copy, i, ACL_UNDEFINED_ID);
	}
	return copy;
}

/* Store a valid ACL of @count entries (> 0) under @name. */
static int
acl_store(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name,
	  const void *value, size_t size, int count)
{
	void *copy = acl_normalize(value, size, count);
	int ret;

	if (!copy)
		return -ENOMEM;
	ret = xattr_set(fs, ip, name, copy, size, 0);
	free(copy);
	return ret;
}

int
acl_type(const char *name)
{
	if (!strcmp(name, SF_ACL_ACCESS))
		return 1;
	if (!strcmp(name, SF_ACL_DEFAULT))
		return 2;
	return 0;
}

/* posix_acl_from_xattr() and posix_acl_valid() */
int
acl_valid(const void *value, size_t size)
{
	enum { S_UOBJ, S_USER, S_GROUP, S_OTHER, S_DONE } state = S_UOBJ;
	bool needs_mask = false;
	uint32_t version;
	struct acl_ent e;
	int i, count;

	if (size < ACL_HDR_SIZE)
		return -EINVAL;
	memcpy(&version, value, 4);
	if (le32toh(version) != ACL_VERSION)
		return -EOPNOTSUPP;
	if ((size - ACL_HDR_SIZE) % ACL_ENT_SIZE)
		return -EINVAL;
	count = (int)((size - ACL_HDR_SIZE) / ACL_ENT_SIZE);
	for (i = 0; i < count; i++) {
		acl_ent_get(value, i, &e);
		if (e.e_perm & ~7u)
			return -EINVAL;
		switch (e.e_tag) {
		case ACL_USER_OBJ:
			if (state != S_UOBJ)
				return -EINVAL;
			state = S_USER;
			break;
		case ACL_USER:
		case ACL_GROUP:
			if (state != (e.e_tag == ACL_USER ? S_USER : S_GROUP))
				return -EINVAL;
			if (e.e_id == ACL_UNDEFINED_ID)
				return -EINVAL;
			needs_mask = true;
			break;
		case ACL_GROUP_OBJ:
			if (state != S_USER)
				return -EINVAL;
			state = S_GROUP;
			break;
		case ACL_MASK:
			if (state != S_GROUP)
				return -EINVAL;
			state = S_OTHER;
			break;
		case ACL_OTHER:
			if (state != S_OTHER &&
			    !(state == S_GROUP && !needs_mask))
				return -EINVAL;
			state = S_DONE;
			break;
		default:
			return -EINVAL;
		}
	}
	if (count && state != S_DONE)
		return -EINVAL;
	return count;
}

/*
 * The mode bits a valid ACL gives (into *@modep's 0777) and whether it
 * says more than they do (1) or not (0): posix_acl_equiv_mode().
 */
static int
acl_equiv_mode(const void *value, int count, mode_t *modep)
{
	mode_t mode = *modep & ~(mode_t)0777;
	int not_equiv = 0, i;
	struct acl_ent e;

	for (i = 0; i < count; i++) {
		acl_ent_get(value, i, &e);
		switch (e.e_tag) {
		case ACL_USER_OBJ:
			mode |= (mode_t)(e.e_perm & 7) << 6;
			break;
		case ACL_GROUP_OBJ:
			mode |= (mode_t)(e.e_perm & 7) << 3;
			break;
		case ACL_OTHER:
			mode |= e.e_perm & 7;
			break;
		case ACL_MASK:
			mode = (mode & ~(mode_t)070) |
			       ((mode_t)(e.e_perm & 7) << 3);
			not_equiv = 1;
			break;
		default:
			not_equiv = 1;
			break;
		}
	}
	*modep = mode;
	return not_equiv;
}

int
acl_set(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name,
	const void *value, size_t size, bool kill_sgid)
{
	int type = acl_type(name);
	mode_t mode = ip->i_mode;
	int count = 0, ret;

	SF_ASSERT(type);
	if (S_ISLNK(ip->i_mode))
		return -EOPNOTSUPP;
	if (size) {
		count = acl_valid(value, size);
		if (count < 0)
			return count;
	}
	if (type == 2 && !S_ISDIR(ip->i_mode))
		return count ? -EACCES : 0;
	if (type == 2)
		return count ? acl_store(fs, ip, name, value, size, count)
			     : acl_remove(fs, ip, name);
	/* posix_acl_update_mode() */
	if (count && !acl_equiv_mode(value, count, &mode))
		count = 0;
	if (kill_sgid)
		mode &= ~(mode_t)S_ISGID;
	if (count)
		ret = acl_store(fs, ip, name, value, size, count);
	else
		ret = acl_remove(fs, ip, name);
	if (ret)
		return ret;
	ip->i_mode = mode;
	sf_now(&ip->i_ctime);
	return 0;
}

int
acl_remove(struct shmemfs *fs, struct shmemfs_inode *ip, const char *name)
{
	int ret;

	if (S_ISLNK(ip->i_mode))
		return -EOPNOTSUPP;
	ret = xattr_remove(fs, ip, name);
	if (ret == -ENODATA)
		ret = 0;
	if (!ret)
		sf_now(&ip->i_ctime);
	return ret;
}

/* __posix_acl_chmod() on the stored access ACL, in place. */
void
acl_chmod(struct shmemfs_inode *ip)
{
	struct sf_xattr *x = xattr_lookup(ip, SF_ACL_ACCESS);
	int group = -1, mask = -1, count, i;
	struct acl_ent e;

	if (!x)
		return;
	count = (int)((x->x_size - ACL_HDR_SIZE) / ACL_ENT_SIZE);
	for (i = 0; i < count; i++) {
		acl_ent_get(x->x_value, i, &e);
		if (e.e_tag == ACL_USER_OBJ)
			acl_perm_put(x->x_value, i, (ip->i_mode >> 6) & 7);
		else if (e.e_tag == ACL_OTHER)
			acl_perm_put(x->x_value, i, ip->i_mode & 7);
		else if (e.e_tag == ACL_GROUP_OBJ)
			group = i;
		else if (e.e_tag == ACL_MASK)
			mask = i;
	}
	i = mask >= 0 ? mask : group;
	if (i >= 0)
		acl_perm_put(x->x_value, i, (ip->i_mode >> 3) & 7);
}

/*
 * posix_acl_create_masq(): cut the copy @value of a default ACL down to
 * *@modep and the mode down to the ACL; 1 if the result says more than
 * the mode, 0 if not, -EIO for an ACL without a group entry.
 */
static int
acl_create_masq(void *value, int count, mode_t *modep)
{
	int group = -1, mask = -1, not_equiv = 0, i, g;
	mode_t mode = *modep;
	struct acl_ent e;
	uint16_t perm;

	for (i = 0; i < count; i++) {
		acl_ent_get(value, i, &e);
		switch (e.e_tag) {
		case ACL_USER_OBJ:
			perm = e.e_perm & ((mode >> 6) & 7);
			acl_perm_put(value, i, perm);
			mode &= ((mode_t)perm << 6) | ~(mode_t)S_IRWXU;
			break;
		case ACL_OTHER:
			perm = e.e_perm & (mode & 7);
			acl_perm_put(value, i, perm);
			mode &= (mode_t)perm | ~(mode_t)S_IRWXO;
			break;
		case ACL_GROUP_OBJ:
			group = i;
			break;
		case ACL_MASK:
			mask = i;
			not_equiv = 1;
			break;
		default:
			not_equiv = 1;
			break;
		}
	}
	g = mask >= 0 ? mask : group;
	if (g < 0)
		return -EIO;
	acl_ent_get(value, g, &e);
	perm = e.e_perm & ((mode >> 3) & 7);
	acl_perm_put(value, g, perm);
	mode &= ((mode_t)perm << 3) | ~(mode_t)S_IRWXG;
	*modep = (*modep & ~(mode_t)0777) | (mode & 0777);
	return not_equiv;
}

int
acl_inherit(struct shmemfs *fs, struct shmemfs_inode *dir,
	    struct shmemfs_inode *ip, mode_t umask)
{
	struct sf_xattr *def;
	mode_t mode = ip->i_mode;
	void *copy;
	int count, ret;

	if (S_ISLNK(ip->i_mode))
		return 0;
	def = xattr_lookup(dir, SF_ACL_DEFAULT);
	if (!def) {
		ip->i_mode &= ~(umask & 0777);
		return 0;
	}
	count = (int)((def->x_size - ACL_HDR_SIZE) / ACL_ENT_SIZE);
	if (S_ISDIR(ip->i_mode)) {
		ret = xattr_set(fs, ip, SF_ACL_DEFAULT, def->x_value,
				def->x_size, 0);
		if (ret)
			return ret;
	}
	copy = sf_malloc(def->x_size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, def->x_value, def->x_size);
	ret = acl_create_masq(copy, count, &mode);
	if (ret > 0)
		ret = xattr_set(fs, ip, SF_ACL_ACCESS, copy, def->x_size, 0);
	free(copy);
	if (ret < 0)
		return ret;
	ip->i_mode = mode;
	return 0;
}
