/* SPDX-License-Identifier: MIT */
/*
 * dir.c - directories: names, the name hash, stable readdir cookies,
 * create/link/unlink/rmdir and rename.
 *
 * Key ideas
 * - One hash table per mount maps (directory, name) to a struct
 *   sf_dirent; a small directory costs no table of its own.  The table
 *   is in SF_ILOCK_STRIPES parts, a directory's names in the part of its
 *   inode lock stripe, so that in local mode the directory's inode lock
 *   covers them (lock.h) and creates in different directories do not
 *   share one.
 * - Each directory keeps a pageidx from cookie to dirent.  A name gets
 *   the next cookie of its directory when linked, so cookies only grow
 *   and readdir, which walks the index upwards from a cookie, never
 *   skips or repeats a name that stays put while entries come and go
 *   (the kernel's stable directory offsets do the same).
 * - A directory's size is 40 bytes plus 20 per entry (BOGO_DIRENT_SIZE),
 *   as tmpfs reports it.
 * - Permission checks are the front end's (the kernel's, under FUSE).
 */
#include <errno.h>
#include <stdio.h>

#include "acl.h"
#include "dir.h"
#include "filemap.h"
#include "fs.h"
#include "node.h"
#include "xattr.h"

static uint32_t
name_hash(const struct shmemfs_inode *dir, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ dir->i_ino;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t
dirent_hash(const struct sf_dirent *de)
{
	return name_hash(de->d_dir, de->d_name, de->d_namelen);
}

static void
dirent_free(struct sf_dirent *de)
{
	sf_obj_free(de, sizeof(*de) + de->d_namelen);
}

/* The part of the name hash that holds @dir's names. */
static struct sf_names *
dir_names(struct shmemfs *fs, const struct shmemfs_inode *dir)
{
	return &fs->sf_names[dlock_stripe(dir->i_ino)];
}

int
dir_hash_init(struct shmemfs *fs)
{
	unsigned i;

	for (i = 0; i < SF_ILOCK_STRIPES; i++) {
		struct sf_names *nm = &fs->sf_names[i];

		nm->nm_mask = 15;
		nm->nm_count = 0;
		nm->nm_hash = sf_calloc(nm->nm_mask + 1, sizeof(*nm->nm_hash));
		if (!nm->nm_hash) {
			dir_hash_free(fs);
			return -ENOMEM;
		}
	}
	return 0;
}

void
dir_hash_free(struct shmemfs *fs)
{
	unsigned i;

	for (i = 0; i < SF_ILOCK_STRIPES; i++) {
		free(fs->sf_names[i].nm_hash);
		fs->sf_names[i].nm_hash = NULL;
	}
}

/* Double a part; on allocation failure keep the old one (denser). */
static void
dir_hash_grow(struct sf_names *nm)
{
	uint64_t nmask = nm->nm_mask * 2 + 1, i;
	struct sf_dirent **nt = sf_calloc(nmask + 1, sizeof(*nt));

	if (!nt)
		return;
	for (i = 0; i <= nm->nm_mask; i++) {
		struct sf_dirent *de = nm->nm_hash[i], *next;

		for (; de; de = next) {
			uint64_t b = dirent_hash(de) & nmask;

			next = de->d_hnext;
			de->d_hnext = nt[b];
			nt[b] = de;
		}
	}
	free(nm->nm_hash);
	nm->nm_hash = nt;
	nm->nm_mask = nmask;
}

/*
 * 0 for an ordinary name, 1 for ".", 2 for "..", or -errno.  Sets *@lenp.
 */
int
dir_check_name(const char *name, size_t *lenp)
{
	size_t len = strnlen(name, SHMEMFS_NAME_MAX + 1);

	*lenp = len;
	if (len == 0)
		return -ENOENT;
	if (len > SHMEMFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len))
		return -EINVAL;
	if (name[0] == '.' && len == 1)
		return 1;
	if (name[0] == '.' && name[1] == '.' && len == 2)
		return 2;
	return 0;
}

/* In local mode, under @dir's inode lock, which covers its part of the
 * name hash. */
struct sf_dirent *
dir_find(struct shmemfs *fs, struct shmemfs_inode *dir, const char *name,
	 size_t len)
{
	struct sf_names *nm = dir_names(fs, dir);
	uint32_t h = name_hash(dir, name, len);
	struct sf_dirent *de;

	for (de = nm->nm_hash[h & nm->nm_mask]; de; de = de->d_hnext)
		if (de->d_dir == dir && de->d_namelen == len &&
		    !memcmp(de->d_name, name, len))
			break;
	return de;
}

/*
 * Link @name to @ip in @dir.  Only -ENOMEM can fail, before any change.
 * Link counts are the caller's business.
 */
int
dir_add(struct shmemfs *fs, struct shmemfs_inode *dir, const char *name,
	size_t len, struct shmemfs_inode *ip)
{
	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	struct sf_names *nm = dir_names(fs, dir);
	uint32_t h = name_hash(dir, name, len);
	struct sf_dirent **bucket;
	struct sf_dirent *de;

	if (dir->i_next_cookie > SF_COOKIE_MAX)
		return -ENOSPC; /* only a crafted image gets here */
	de = sf_obj_alloc(sizeof(*de) + len);
	if (!de)
		return -ENOMEM;
	de->d_cookie = dir->i_next_cookie;
	if (pageidx_store(&dir->i_entries, de->d_cookie, de)) {
		sf_obj_free(de, sizeof(*de) + len);
		return -ENOMEM;
	}
	dir->i_next_cookie++;
	de->d_dir = dir;
	de->d_inode = ip;
	de->d_namelen = len;
	memcpy(de->d_name, name, len);
	dir->i_size += SF_BOGO_DIRENT_SIZE;
	bucket = &nm->nm_hash[h & nm->nm_mask];
	de->d_hnext = *bucket;
	*bucket = de;
	nm->nm_count++;
	/* Up to two names a bucket on average: the table costs 4-8 bytes
	 * a name (per-file memory), the chains stay short. */
	if (nm->nm_count > 2 * nm->nm_mask + 1)
		dir_hash_grow(nm);
	return 0;
}

void
dir_remove(struct shmemfs *fs, struct sf_dirent *de)
{
	struct shmemfs_inode *dir = de->d_dir;
	struct sf_names *nm = dir_names(fs, dir);
	struct sf_dirent **pp = &nm->nm_hash[dirent_hash(de) & nm->nm_mask];

	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	while (*pp != de)
		pp = &(*pp)->d_hnext;
	*pp = de->d_hnext;
	nm->nm_count--;
	pageidx_erase(&dir->i_entries, de->d_cookie);
	dir->i_size -= SF_BOGO_DIRENT_SIZE;
	dirent_free(de);
}

/* mem_charge_ispace() or its undoing, for a name beyond an inode's
 * first (dir_link(), drop_name()). */
static int
dir_charge_name(struct shmemfs *fs, bool undo)
{
	int ret = 0;

	sf_tables_lock(&fs->sf_tables);
	if (undo)
		mem_uncharge_ispace(fs, SF_BOGO_INODE_SIZE);
	else
		ret = mem_charge_ispace(fs, SF_BOGO_INODE_SIZE);
	sf_tables_unlock(&fs->sf_tables);
	return ret;
}

/*
 * A non-directory loses a name.  All but the last name hold inode space
 * of their own (dir_link()); the last one shares the inode's, which
 * goes when the inode does.
 */
static void
drop_name(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	if (ip->i_nlink > 1)
		dir_charge_name(fs, true);
	ip->i_nlink--;
}

/* acl_inherit(): with a default ACL to copy, under sf_tables, as the
 * copies charge the mount's inode space. */
static int
dir_inherit(struct shmemfs *fs, struct shmemfs_inode *dir,
	    struct shmemfs_inode *ip, mode_t umask)
{
	int ret;

	if (!xattr_lookup(dir, SF_ACL_DEFAULT))
		return acl_inherit(fs, dir, ip, umask);
	sf_tables_lock(&fs->sf_tables);
	ret = acl_inherit(fs, dir, ip, umask);
	sf_tables_unlock(&fs->sf_tables);
	return ret;
}

static void
dir_touch(struct shmemfs_inode *dir)
{
	sf_now(&dir->i_mtime);
	dir->i_ctime = dir->i_mtime;
}

/* Is @a a proper ancestor of directory @b? */
static bool
is_ancestor(struct shmemfs *fs, const struct shmemfs_inode *a,
	    const struct shmemfs_inode *b)
{
	while (b != fs->sf_root) {
		b = b->i_parent;
		if (b == a)
			return true;
	}
	return false;
}

/*
 * Can @name be added to @dir?  The checks, in the VFS's order, that
 * every call making a new name starts with.  Sets *@lenp.
 */
static int
dir_may_create(struct shmemfs *fs, struct shmemfs_inode *dir,
	       const char *name, size_t *lenp)
{
	int ret;

	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	ret = dir_check_name(name, lenp);
	if (ret)
		return ret < 0 ? ret : -EEXIST;
	if (dir->i_nlink == 0)
		return -ENOENT;
	if (dir_find(fs, dir, name, *lenp))
		return -EEXIST;
	if (dir->i_flags & SHMEMFS_FL_IMMUTABLE)
		return -EPERM;
	return 0;
}

/* may_delete()'s flag rule: the directory nor the victim locked. */
static int
dir_may_delete(const struct shmemfs_inode *dir, const struct shmemfs_inode *ip)
{
	return sf_is_locked(dir) || sf_is_locked(ip) ? -EPERM : 0;
}

/* Set up the body of a new symlink: inline if short, else in page 0. */
static int
symlink_init(struct shmemfs *fs, struct shmemfs_inode *ip, const char *target,
	     size_t tlen)
{
	ssize_t n;

	ip->i_size = tlen;
	if (tlen < SF_SHORT_SYMLINK_LEN) {
		ip->i_link = sf_malloc(tlen + 1);
		if (!ip->i_link)
			return -ENOMEM;
		memcpy(ip->i_link, target, tlen + 1);
		return 0;
	}
	pageidx_init(&ip->i_pages);
	mem_quota_bind(fs, ip->i_uid, ip->i_gid);
	n = filemap_write(fs, ip, target, tlen, 0);
	mem_quota_unbind(fs);
	if (n < 0)
		return (int)n;
	ip->i_mtime = ip->i_ctime = ip->i_btime;
	return 0;
}

/*
 * mknod, mkdir and symlink.  @mode carries the type; a type of 0 means a
 * regular file, as for mknod(2).  @target is the symlink target.  The
 * new inode is linked but not yet published: the caller finishes it and
 * calls node_publish().  In local mode only for targets shorter than
 * SF_SHORT_SYMLINK_LEN (a long one writes a page).
 */
int
dir_create(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	   struct shmemfs_inode *dir, const char *name, mode_t mode,
	   dev_t rdev, const char *target, struct shmemfs_inode **ipp)
{
	struct shmemfs_inode *ip;
	size_t len, tlen = 0;
	gid_t gid;
	int ret;

	ret = dir_may_create(fs, dir, name, &len);
	if (ret)
		return ret;
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG: case S_IFCHR: case S_IFBLK: case S_IFIFO:
	case S_IFSOCK: case S_IFDIR:
		break;
	case S_IFLNK:
		tlen = strnlen(target, SHMEMFS_SYMLINK_MAX + 1);
		if (tlen == 0)
			return -ENOENT;
		if (tlen > SHMEMFS_SYMLINK_MAX)
			return -ENAMETOOLONG;
		mode = S_IFLNK | 0777;
		break;
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	mode &= S_IFMT | 07777;
	gid = ctx->sc_gid;
	if (dir->i_mode & S_ISGID) {
		gid = dir->i_gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	SF_ASSERT(tlen < SF_SHORT_SYMLINK_LEN || !sf_mutex_local());
	ret = node_alloc(fs, mode, ctx->sc_uid, gid, rdev, &ip);
	if (ret)
		return ret;
	if (S_ISLNK(mode)) {
		/* a long target's write may wait for memory and let other
		 * exclusive holders walk the table meanwhile */
		if (tlen >= SF_SHORT_SYMLINK_LEN)
			node_publish(fs, ip);
		ret = symlink_init(fs, ip, target, tlen);
		if (ret)
			goto out_put;
	}
	ret = dir_inherit(fs, dir, ip, ctx->sc_umask);
	if (ret)
		goto out_put;
	ret = dir_add(fs, dir, name, len, ip);
	if (ret)
		goto out_put;
	if (S_ISDIR(mode)) {
		ip->i_nlink = 2;
		ip->i_parent = dir;
		dir->i_nlink++;
	} else {
		ip->i_nlink = 1;
	}
	dir_touch(dir);
	*ipp = ip;
	return 0;

out_put:
	node_put(fs, ip);
	return ret;
}

int
dir_link(struct shmemfs *fs, struct shmemfs_inode *ip,
	 struct shmemfs_inode *dir, const char *name)
{
	size_t len;
	bool extra;
	int ret;

	ret = dir_may_create(fs, dir, name, &len);
	if (ret)
		return ret;
	if (S_ISDIR(ip->i_mode) || sf_is_locked(ip))
		return -EPERM;
	if (ip->i_nlink == 0 && !ip->i_linkable)
		return -ENOENT;
	/* Each extra name costs inode space, as in tmpfs; the first name
	 * of an O_TMPFILE inode shares the inode's, as shmem_link() has it. */
	extra = ip->i_nlink > 0;
	if (extra) {
		ret = dir_charge_name(fs, false);
		if (ret)
			return ret;
	}
	ret = dir_add(fs, dir, name, len, ip);
	if (ret) {
		if (extra)
			dir_charge_name(fs, true);
		return ret;
	}
	ip->i_nlink++;
	ip->i_linkable = false; /* as vfs_link() clears I_LINKABLE */
	sf_now(&ip->i_ctime);
	dir_touch(dir);
	return 0;
}

/*
 * O_TMPFILE (shmem_tmpfile): a regular file with no name in @dir, born
 * with nlink 0, counted like any inode, alive while opened or looked up;
 * @linkable unless O_EXCL.  @dir only lends its setgid group; its times
 * stay, as tmpfs leaves them.  Not yet published, as dir_create().
 */
int
dir_tmpfile(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	    struct shmemfs_inode *dir, mode_t mode, bool linkable,
	    struct shmemfs_inode **ipp)
{
	struct shmemfs_inode *ip;
	gid_t gid;
	int ret;

	/* No check that @dir still has a name: tmpfs makes unnamed files
	 * in a removed directory too. */
	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	gid = dir->i_mode & S_ISGID ? dir->i_gid : ctx->sc_gid;
	ret = node_alloc(fs, S_IFREG | (mode & 07777), ctx->sc_uid, gid, 0,
			 &ip);
	if (ret)
		return ret;
	/* the umask or the default ACL, as shmem_tmpfile()'s
	 * simple_acl_create() */
	ret = dir_inherit(fs, dir, ip, ctx->sc_umask);
	if (ret) {
		node_put(fs, ip);
		return ret;
	}
	ip->i_linkable = linkable;
	*ipp = ip;
	return 0;
}

/*
 * The name unlink or rmdir would remove from @dir (*@dep), or the
 * error they give before they look at it.
 */
int
dir_unlink_find(struct shmemfs *fs, struct shmemfs_inode *dir,
		const char *name, bool rmdir, struct sf_dirent **dep)
{
	size_t len;
	int ret;

	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	ret = dir_check_name(name, &len);
	if (ret < 0)
		return ret;
	if (ret)
		return !rmdir ? -EISDIR : ret == 1 ? -EINVAL : -ENOTEMPTY;
	*dep = dir_find(fs, dir, name, len);
	return *dep ? 0 : -ENOENT;
}

int
dir_unlink(struct shmemfs *fs, struct shmemfs_inode *dir, const char *name,
	   bool rmdir)
{
	struct sf_dirent *de;
	int ret = dir_unlink_find(fs, dir, name, rmdir, &de);

	return ret ? ret : dir_unlink_entry(fs, dir, de, rmdir);
}

/* unlink or rmdir of @de, which dir_unlink_find() found in @dir. */
int
dir_unlink_entry(struct shmemfs *fs, struct shmemfs_inode *dir,
		 struct sf_dirent *de, bool rmdir)
{
	struct shmemfs_inode *ip = de->d_inode;
	int ret;

	ret = dir_may_delete(dir, ip);
	if (ret)
		return ret;
	if (rmdir && !S_ISDIR(ip->i_mode))
		return -ENOTDIR;
	if (!rmdir && S_ISDIR(ip->i_mode))
		return -EISDIR;
	if (rmdir && dir_nentries(ip))
		return -ENOTEMPTY;
	dir_remove(fs, de);
	if (rmdir) {
		ip->i_nlink = 0;
		ip->i_parent = ip; /* its ".." must not outlive the parent */
		dir->i_nlink--;
	} else {
		drop_name(fs, ip);
	}
	sf_now(&ip->i_ctime);
	dir_touch(dir);
	node_put(fs, ip);
	return 0;
}

static void
rename_exchange(struct sf_dirent *ode, struct sf_dirent *nde)
{
	struct shmemfs_inode *odir = ode->d_dir, *ndir = nde->d_dir;
	struct shmemfs_inode *src = ode->d_inode, *tgt = nde->d_inode;
	bool sdir = S_ISDIR(src->i_mode), tdir = S_ISDIR(tgt->i_mode);

	ode->d_inode = tgt;
	nde->d_inode = src;
	if (sdir)
		src->i_parent = ndir;
	if (tdir)
		tgt->i_parent = odir;
	if (odir != ndir && sdir != tdir) {
		if (sdir) {
			odir->i_nlink--;
			ndir->i_nlink++;
		} else {
			ndir->i_nlink--;
			odir->i_nlink++;
		}
	}
	sf_now(&src->i_ctime);
	tgt->i_ctime = src->i_ctime;
	dir_touch(odir);
	dir_touch(ndir);
}

/*
 * rename2.  Errors come in the order the VFS and shmem_rename2() give
 * them, so that a caller sees what tmpfs would say.
 */
int
dir_rename(struct shmemfs *fs, struct shmemfs_inode *odir, const char *oname,
	   struct shmemfs_inode *ndir, const char *nname, unsigned flags)
{
	return dir_rename2(fs, NULL, odir, oname, ndir, nname, flags);
}

/*
 * shmem_whiteout(): a 0/0 character device owned by the caller, made as
 * mknod makes one (so a default ACL of @dir applies), not yet linked.
 */
static int
dir_new_whiteout(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		 struct shmemfs_inode *dir, struct shmemfs_inode **ipp)
{
	struct shmemfs_inode *ip;
	gid_t gid = dir->i_mode & S_ISGID ? dir->i_gid : ctx->sc_gid;
	int ret;

	ret = node_new(fs, S_IFCHR, ctx->sc_uid, gid, 0, &ip);
	if (ret)
		return ret;
	ret = acl_inherit(fs, dir, ip, 0);
	if (ret) {
		node_put(fs, ip);
		return ret;
	}
	*ipp = ip;
	return 0;
}

/*
 * rename2 with RENAME_WHITEOUT too (@ctx: its owner).  The whiteout is
 * made once every check has passed and before anything moves, so a
 * failure to make it changes nothing; it then takes over the old name's
 * dirent, which cannot fail.
 */
int
dir_rename2(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	    struct shmemfs_inode *odir, const char *oname,
	    struct shmemfs_inode *ndir, const char *nname, unsigned flags)
{
	struct shmemfs_inode *src, *tgt, *wh = NULL;
	struct sf_dirent *ode, *nde;
	size_t olen, nlen;
	bool sdir;
	int ret;

	if (flags & ~(SHMEMFS_RENAME_NOREPLACE | SHMEMFS_RENAME_EXCHANGE |
		      SHMEMFS_RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & SHMEMFS_RENAME_NOREPLACE) &&
	    (flags & SHMEMFS_RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & SHMEMFS_RENAME_WHITEOUT) &&
	    ((flags & SHMEMFS_RENAME_EXCHANGE) || !ctx))
		return -EINVAL;
	if (!S_ISDIR(odir->i_mode) || !S_ISDIR(ndir->i_mode))
		return -ENOTDIR;
	ret = dir_check_name(oname, &olen);
	if (ret)
		return ret < 0 ? ret : -EBUSY;
	ret = dir_check_name(nname, &nlen);
	if (ret < 0)
		return ret;
	if (ret)
		return (flags & SHMEMFS_RENAME_NOREPLACE) ? -EEXIST : -EBUSY;
	ode = dir_find(fs, odir, oname, olen);
	if (!ode)
		return -ENOENT;
	nde = dir_find(fs, ndir, nname, nlen);
	if (nde && (flags & SHMEMFS_RENAME_NOREPLACE))
		return -EEXIST;
	if (!nde && (flags & SHMEMFS_RENAME_EXCHANGE))
		return -ENOENT;
	if (ndir->i_nlink == 0)
		return -ENOENT;
	src = ode->d_inode;
	tgt = nde ? nde->d_inode : NULL;
	sdir = S_ISDIR(src->i_mode);
	if (sdir && (src == ndir || is_ancestor(fs, src, ndir)))
		return -EINVAL;
	if (tgt && S_ISDIR(tgt->i_mode) &&
	    (tgt == odir || is_ancestor(fs, tgt, odir)))
		return (flags & SHMEMFS_RENAME_EXCHANGE) ? -EINVAL : -ENOTEMPTY;
	if (src == tgt)
		return 0;
	ret = dir_may_delete(odir, src);
	if (!ret && tgt)
		ret = dir_may_delete(ndir, tgt);
	else if (!ret && (ndir->i_flags & SHMEMFS_FL_IMMUTABLE))
		ret = -EPERM;
	if (ret)
		return ret;
	if (flags & SHMEMFS_RENAME_EXCHANGE) {
		rename_exchange(ode, nde);
		return 0;
	}
	if (tgt) {
		if (sdir && !S_ISDIR(tgt->i_mode))
			return -ENOTDIR;
		if (!sdir && S_ISDIR(tgt->i_mode))
			return -EISDIR;
		if (S_ISDIR(tgt->i_mode) && dir_nentries(tgt))
			return -ENOTEMPTY;
	}
	if (flags & SHMEMFS_RENAME_WHITEOUT) {
		ret = dir_new_whiteout(fs, ctx, odir, &wh);
		if (ret)
			return ret;
	}
	if (tgt) {
		/* The target's name stays; it now names src. */
		nde->d_inode = src;
	} else {
		ret = dir_add(fs, ndir, nname, nlen, src);
		if (ret) {
			if (wh)
				node_put(fs, wh);
			return ret;
		}
	}
	if (wh) {
		/* The old name stays; it now names the whiteout. */
		ode->d_inode = wh;
		wh->i_nlink = 1;
	} else {
		dir_remove(fs, ode);
	}
	if (sdir) {
		src->i_parent = ndir;
		odir->i_nlink--;
		ndir->i_nlink++;
	}
	sf_now(&src->i_ctime);
	dir_touch(odir);
	dir_touch(ndir);
	if (tgt) {
		if (S_ISDIR(tgt->i_mode)) {
			tgt->i_nlink = 0;
			tgt->i_parent = tgt;
			ndir->i_nlink--;
		} else {
			drop_name(fs, tgt);
		}
		tgt->i_ctime = src->i_ctime;
		node_put(fs, tgt);
	}
	return 0;
}

/* See shmemfs_readdir() in shmemfs.h for the cookie contract. */
int
dir_readdir(struct shmemfs *fs, struct shmemfs_inode *dir, uint64_t cookie,
	    int plus, shmemfs_filldir_t fn, void *arg)
{
	char name[SHMEMFS_NAME_MAX + 1];
	struct shmemfs_attr attr;
	struct sf_dirent *de;
	uint64_t idx;

	(void)fs;
	if (!S_ISDIR(dir->i_mode))
		return -ENOTDIR;
	if (cookie < 1) {
		node_fill_attr_fs(fs, dir, &attr);
		if (fn(arg, ".", &attr, 1))
			goto out;
	}
	if (cookie < 2) {
		node_fill_attr_fs(fs, dir->i_parent, &attr);
		if (fn(arg, "..", &attr, 2))
			goto out;
	}
	idx = cookie < 3 ? 3 : cookie + 1;
	while ((de = pageidx_next(&dir->i_entries, &idx))) {
		node_fill_attr_fs(fs, de->d_inode, &attr);
		if (fn(arg, dir_name_str(de, name), &attr, idx))
			break;
		if (plus)
			de->d_inode->i_nlookup++;
		if (idx == UINT64_MAX)
			break;
		idx++;
	}
out:
	node_touch_atime(dir);
	return 0;
}

static void
free_dirent(void *arg, uint64_t index, void *entry)
{
	(void)arg;
	(void)index;
	dirent_free(entry);
}

/* Free the dirents of @dir without touching what they name. */
void
dir_destroy_entries(struct shmemfs *fs, struct shmemfs_inode *dir)
{
	(void)fs;
	pageidx_destroy(&dir->i_entries, free_dirent, NULL);
}

/* Each part of the name hash holds the names of its stripe's
 * directories, each in its bucket, as many as it counts; @total in all. */
static int
dir_check_hash(struct shmemfs *fs, uint64_t total, char *msg, size_t len)
{
	uint64_t sum = 0, b;
	unsigned i;

	for (i = 0; i < SF_ILOCK_STRIPES; i++) {
		const struct sf_names *nm = &fs->sf_names[i];
		uint64_t n = 0;

		for (b = 0; b <= nm->nm_mask; b++) {
			const struct sf_dirent *de;

			for (de = nm->nm_hash[b]; de; de = de->d_hnext, n++)
				if (dlock_stripe(de->d_dir->i_ino) != i ||
				    (dirent_hash(de) & nm->nm_mask) != b) {
					snprintf(msg, len, "name hash part %u: "
						 "a name out of place", i);
					return -EUCLEAN;
				}
		}
		if (n != nm->nm_count) {
			snprintf(msg, len, "name hash part %u holds %llu names, "
				 "counts %llu", i, (unsigned long long)n,
				 (unsigned long long)nm->nm_count);
			return -EUCLEAN;
		}
		sum += n;
	}
	if (sum != total) {
		snprintf(msg, len, "hash holds %llu names, dirs %llu",
			 (unsigned long long)sum, (unsigned long long)total);
		return -EUCLEAN;
	}
	return 0;
}

/*
 * Namespace invariants: every dirent is hashed and indexed, directory
 * sizes and entry counts agree, nlink equals the number of names (plus
 * subdirectories' ".." for directories).
 */
int
dir_check(struct shmemfs *fs, char *msg, size_t len)
{
	struct pageidx names; /* ino -> value: number of names */
	uint64_t ino = 0, total = 0;
	struct shmemfs_inode *ip;
	int ret = 0;

	pageidx_init(&names);
	while ((ip = pageidx_next(&fs->sf_inodes, &ino))) {
		char name[SHMEMFS_NAME_MAX + 1];
		uint64_t idx = 0, n = 0;
		struct sf_dirent *de;

		if (S_ISDIR(ip->i_mode)) {
			while ((de = pageidx_next(&ip->i_entries, &idx))) {
				struct shmemfs_inode *c = de->d_inode;
				void *v = pageidx_lookup(&names, c->i_ino);
				uint64_t cnt = v ? pageidx_value(v) : 0;

				if (de->d_dir != ip || de->d_cookie != idx ||
				    dir_find(fs, ip, de->d_name,
					     de->d_namelen) != de ||
				    node_get(fs, c->i_ino) != c) {
					snprintf(msg, len, "dir %llu: bad "
						 "entry '%s'",
						 (unsigned long long)ino,
						 dir_name_str(de, name));
					ret = -EUCLEAN;
					goto out;
				}
				if (pageidx_store(&names, c->i_ino,
						  pageidx_mk_value(cnt + 1))) {
					ret = -ENOMEM;
					goto out;
				}
				if (S_ISDIR(c->i_mode) && c->i_parent != ip) {
					snprintf(msg, len, "dir %llu: parent "
						 "link wrong",
						 (unsigned long long)c->i_ino);
					ret = -EUCLEAN;
					goto out;
				}
				n++;
				idx++;
			}
			if (ip->i_size != 2 * SF_BOGO_DIRENT_SIZE +
						  n * SF_BOGO_DIRENT_SIZE ||
			    pageidx_check(&ip->i_entries)) {
				snprintf(msg, len, "dir %llu: %llu entries, "
					 "size %llu", (unsigned long long)ino,
					 (unsigned long long)n,
					 (unsigned long long)ip->i_size);
				ret = -EUCLEAN;
				goto out;
			}
			total += n;
		}
		ino++;
	}
	ret = dir_check_hash(fs, total, msg, len);
	if (ret)
		goto out;
	ino = 0;
	while ((ip = pageidx_next(&fs->sf_inodes, &ino))) {
		void *v = pageidx_lookup(&names, ino);
		uint64_t want = v ? pageidx_value(v) : 0;

		if (S_ISDIR(ip->i_mode)) {
			uint64_t idx = 0, sub = 0;
			struct sf_dirent *de;

			while ((de = pageidx_next(&ip->i_entries, &idx))) {
				sub += S_ISDIR(de->d_inode->i_mode);
				idx++;
			}
			if (ip == fs->sf_root)
				want = 1;
			want = want ? want + 1 + sub : 0;
		}
		if (ip->i_nlink != want) {
			snprintf(msg, len, "ino %llu: nlink %u, expected %llu",
				 (unsigned long long)ino, ip->i_nlink,
				 (unsigned long long)want);
			ret = -EUCLEAN;
			goto out;
		}
		ino++;
	}
out:
	pageidx_destroy(&names, NULL, NULL);
	return ret;
}
