/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public functions: validate, lock, look up, call the core.
 *
 * Each wrapper takes sf_lock for the whole call (see core.h for why
 * one lock; RLOCK() takes it shared, for the calls that change
 * nothing), turns inode numbers into inodes, and checks what the VFS
 * would check for tmpfs before the filesystem sees a request (argument
 * ranges, file types), so both FUSE and embedding programs get kernel
 * errnos.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "acl.h"
#include "dir.h"
#include "filemap.h"
#include "fs.h"
#include "ipc.h"
#include "khugepaged.h"
#include "node.h"
#include "reclaim.h"
#include "remount.h"
#include "swapoff.h"
#include "xattr.h"

#define LOCK(fs) sf_mutex_lock(&(fs)->sf_lock)
#define UNLOCK(fs) sf_mutex_unlock(&(fs)->sf_lock)
/* sf_lock shared: for the calls that change nothing (core.h) */
#define RLOCK(fs) sf_shared_lock(&(fs)->sf_lock)
#define RUNLOCK(fs) sf_shared_unlock(&(fs)->sf_lock)

/* sf_lock local, after the inode locks of @a and @b (0: none) and
 * whatever @set holds already (core.h) */
static void
local_lock(struct shmemfs *fs, struct sf_ilockset *set, uint64_t a,
	   uint64_t b)
{
	ilock_take(&fs->sf_ilocks, set, a, b);
	sf_local_lock(&fs->sf_lock);
}

static void
local_unlock(struct shmemfs *fs, struct sf_ilockset *set)
{
	sf_local_unlock(&fs->sf_lock);
	ilock_drop(&fs->sf_ilocks, set);
}

/* swapsize=, or the size limit, or 1 GiB when size is unlimited. */
static uint64_t
swap_default_bytes(const struct shmemfs_opts *o)
{
	if (o->so_swap_bytes)
		return o->so_swap_bytes;
	if (o->so_max_blocks)
		return o->so_max_blocks * SF_PAGE_SIZE;
	return 1ull << 30;
}

static int
fs_new(struct shmemfs **fsp, const struct shmemfs_opts *o, char *err,
       size_t err_len)
{
	struct shmemfs_inode *root;
	struct shmemfs *fs;
	int ret = -ENOMEM;

	fs = sf_calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->sf_opts = *o;
	fs->sf_opts.so_swap_path = NULL;
	if (o->so_swap_path) {
		fs->sf_opts.so_swap_path = strdup(o->so_swap_path);
		if (!fs->sf_opts.so_swap_path)
			goto out_free;
	}
	ret = dlock_init(&fs->sf_dlocks);
	if (ret)
		goto out_free_path;
	ret = ilock_init(&fs->sf_ilocks);
	if (ret)
		goto out_free_dlocks;
	ret = -pthread_mutex_init(&fs->sf_tables, NULL);
	if (ret)
		goto out_free_ilocks;
	ret = sf_mlock_init(&fs->sf_lock);
	if (ret)
		goto out_free_tables;
	pthread_cond_init(&fs->sf_unpinned, NULL);
	mem_init(&fs->sf_mem, o);
	mem_quota_init(fs, o);
	pageidx_init(&fs->sf_inodes);
	fs->sf_next_ino = SHMEMFS_ROOT_INO;
	fs->sf_next_generation = 1;
	ret = dir_hash_init(fs);
	if (ret)
		goto out_free_locks;
	page_pool_init(&fs->sf_pool);
	ret = node_new(fs, S_IFDIR | (o->so_mode & 07777), o->so_uid, o->so_gid,
		       0, &root);
	if (ret)
		goto out_free_hash;
	root->i_nlink = 2;
	root->i_parent = root;
	root->i_nlookup = 1; /* pinned: FUSE never forgets the root */
	fs->sf_root = root;
	if (o->so_swap_path && !o->so_noswap && !o->so_ramfs) {
		const struct sf_swap_ops *ops;
		uint64_t nslots;
		void *priv;

		ret = swap_file_open(o->so_swap_path, swap_default_bytes(o),
				     &ops, &priv, &nslots, err, err_len);
		if (ret)
			goto out_free_root;
		ret = shmemfs_swap_attach(fs, ops, priv, nslots);
		if (ret) {
			ops->sop_close(priv);
			goto out_free_root;
		}
	}
	*fsp = fs;
	return 0;

out_free_root:
	pageidx_erase(&fs->sf_inodes, root->i_ino);
	sf_obj_free(root, sizeof(*root));
	page_pool_destroy(&fs->sf_pool);
out_free_hash:
	mem_quota_fini(fs);
	dir_hash_free(fs);
out_free_locks:
	pthread_cond_destroy(&fs->sf_unpinned);
	sf_mlock_destroy(&fs->sf_lock);
out_free_tables:
	pthread_mutex_destroy(&fs->sf_tables);
out_free_ilocks:
	ilock_destroy(&fs->sf_ilocks);
out_free_dlocks:
	dlock_destroy(&fs->sf_dlocks);
out_free_path:
	free(fs->sf_opts.so_swap_path);
out_free:
	free(fs);
	return ret;
}

int
shmemfs_new(struct shmemfs **fsp, const struct shmemfs_opts *o)
{
	return fs_new(fsp, o, NULL, 0);
}

int
shmemfs_mount(struct shmemfs **fsp, const struct shmemfs_opts *o, char *err,
	      size_t err_len)
{
	int ret;

	if (err && err_len)
		err[0] = '\0';
	ret = shmemfs_opts_check(o, err, err_len);
	if (!ret)
		ret = fs_new(fsp, o, err, err_len);
	/* A mount (not a bare shmemfs_new(), which unit tests drive pass
	 * by pass) collapses huge folios in the background. */
	if (!ret) {
		ret = khugepaged_start(*fsp);
		if (ret) {
			shmemfs_destroy(*fsp);
			*fsp = NULL;
		}
	}
	if (ret && err && err_len && !err[0])
		snprintf(err, err_len, "cannot set up the filesystem: %s",
			 strerror(-ret));
	return ret;
}

/*
 * Give the mount a swap device on @ops/@priv (it takes ownership on
 * success) and start the reclaimer.  Unit tests attach fault-injecting
 * backends this way.  => sf_lock not held.
 */
int
shmemfs_swap_attach(struct shmemfs *fs, const struct sf_swap_ops *ops,
		    void *priv, uint64_t nslots)
{
	int ret;

	if (swap_present(&fs->sf_swap))
		return -EBUSY;
	ret = swap_init(&fs->sf_swap, ops, priv, nslots);
	if (ret)
		return ret;
	ret = reclaim_start(fs);
	if (ret) {
		fs->sf_swap.sw_ops = NULL;
		swap_fini(&fs->sf_swap);
		return ret;
	}
	return 0;
}

static void
destroy_one(void *arg, uint64_t ino, void *entry)
{
	struct shmemfs *fs = arg;
	struct shmemfs_inode *ip = entry;

	(void)ino;
	node_free_contents(fs, ip);
	sf_obj_free(ip, sizeof(*ip));
}

void
shmemfs_destroy(struct shmemfs *fs)
{
	if (!fs)
		return;
	khugepaged_stop(fs);
	reclaim_stop(fs);
	pageidx_destroy(&fs->sf_inodes, destroy_one, fs);
	pageidx_destroy(&fs->sf_huge_shrinklist, NULL, NULL);
	pageidx_destroy(&fs->sf_huge_shrinkino, NULL, NULL);
	ipc_destroy(fs);
	swap_fini(&fs->sf_swap);
	page_pool_destroy(&fs->sf_pool);
	dir_hash_free(fs);
	mem_quota_fini(fs);
	SF_ASSERT(fs->sf_pinned == 0);
	pthread_cond_destroy(&fs->sf_unpinned);
	sf_mlock_destroy(&fs->sf_lock);
	pthread_mutex_destroy(&fs->sf_tables);
	ilock_destroy(&fs->sf_ilocks);
	dlock_destroy(&fs->sf_dlocks);
	free(fs->sf_opts.so_swap_path);
	free(fs);
}

/* The inode for @ino, or NULL; => sf_lock held. */
static struct shmemfs_inode *
iget(struct shmemfs *fs, uint64_t ino)
{
	if (ino == 0)
		return NULL;
	return node_get(fs, ino);
}

#define IGET_OR(fs, ip, ino, err)                                           \
	do {                                                                \
		(ip) = iget((fs), (ino));                                   \
		if (!(ip)) {                                                \
			UNLOCK(fs);                                         \
			return (err);                                       \
		}                                                           \
	} while (0)

/* IGET_OR() under sf_lock shared */
#define RIGET_OR(fs, ip, ino, err)                                          \
	do {                                                                \
		(ip) = iget((fs), (ino));                                   \
		if (!(ip)) {                                                \
			RUNLOCK(fs);                                        \
			return (err);                                       \
		}                                                           \
	} while (0)

int
shmemfs_lookup(struct shmemfs *fs, uint64_t parent, const char *name,
	       struct shmemfs_attr *out)
{
	struct shmemfs_inode *dir, *ip = NULL;
	struct sf_dirent *de;
	size_t len;
	int ret;

	RLOCK(fs);
	RIGET_OR(fs, dir, parent, -ESTALE);
	ret = -ENOTDIR;
	if (!S_ISDIR(dir->i_mode))
		goto out;
	ret = dir_check_name(name, &len);
	if (ret == 1) {
		ip = dir;
	} else if (ret == 2) {
		ip = dir->i_parent;
	} else if (ret == 0) {
		de = dir_find(fs, dir, name, len);
		ip = de ? de->d_inode : NULL;
	}
	if (ret < 0)
		goto out;
	ret = -ENOENT;
	if (!ip || dir->i_nlink == 0)
		goto out;
	/* the one thing a lookup changes, under sf_lock shared: every
	 * other access to i_nlookup is under sf_lock exclusive */
	__atomic_fetch_add(&ip->i_nlookup, 1, __ATOMIC_RELAXED);
	node_fill_attr_fs(fs, ip, out);
	ret = 0;
out:
	RUNLOCK(fs);
	return ret;
}

void
shmemfs_forget(struct shmemfs *fs, uint64_t ino, uint64_t nlookup)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *ip;

	local_lock(fs, &ils, ino, 0);
	ip = iget(fs, ino);
	if (ip && ip != fs->sf_root) {
		SF_ASSERT(ip->i_nlookup >= nlookup);
		ip->i_nlookup -= nlookup < ip->i_nlookup ? nlookup
							   : ip->i_nlookup;
		node_put(fs, ip);
	}
	local_unlock(fs, &ils);
}

int
shmemfs_getattr(struct shmemfs *fs, uint64_t ino, struct shmemfs_attr *out)
{
	struct shmemfs_inode *ip;

	RLOCK(fs);
	RIGET_OR(fs, ip, ino, -ESTALE);
	node_fill_attr_fs(fs, ip, out);
	RUNLOCK(fs);
	return 0;
}

int
shmemfs_setattr(struct shmemfs *fs, uint64_t ino, unsigned valid,
		const struct shmemfs_setattr *sa, struct shmemfs_attr *out)
{
	return shmemfs_setattr_kill(fs, ino, valid, sa, 0, out);
}

static void kill_priv_locked(struct shmemfs *fs, struct shmemfs_inode *ip,
			     unsigned kill);

/* A setattr, then kill_priv_locked() under the same lock, so no one
 * sees a chown done and the set-id bits not yet gone (@kill 0:
 * shmemfs_setattr()). */
int
shmemfs_setattr_kill(struct shmemfs *fs, uint64_t ino, unsigned valid,
		     const struct shmemfs_setattr *sa, unsigned kill,
		     struct shmemfs_attr *out)
{
	bool size = valid & SHMEMFS_SET_SIZE; /* a truncate: the data lock */
	struct shmemfs_inode *ip;
	int ret = -ESTALE;

	if (size)
		dlock_write(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = iget(fs, ino);
	if (!ip)
		goto out;
	ret = ip->i_seals ? ipc_seal_setattr(ip, valid, sa) : 0; /* memfd */
	if (!ret)
		ret = node_setattr(fs, ip, valid, sa);
	if (!ret)
		kill_priv_locked(fs, ip, kill);
	if (!ret && out)
		node_fill_attr_fs(fs, ip, out);
out:
	UNLOCK(fs);
	if (size)
		dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}

/* Local mode, but for a long symlink's target, which writes a page. */
static int
create_common(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	      uint64_t parent, const char *name, mode_t mode, dev_t rdev,
	      const char *target, struct shmemfs_attr *out)
{
	bool local = !target || strnlen(target, SF_SHORT_SYMLINK_LEN) <
					   SF_SHORT_SYMLINK_LEN;
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *dir, *ip;
	int ret = -ESTALE;

	if (local)
		local_lock(fs, &ils, parent, 0);
	else
		LOCK(fs);
	dir = iget(fs, parent);
	if (!dir)
		goto out;
	ret = dir_create(fs, ctx, dir, name, mode, rdev, target, &ip);
	if (!ret) {
		ip->i_nlookup++;
		if (out)
			node_fill_attr_fs(fs, ip, out);
		node_publish(fs, ip);
	}
out:
	if (local)
		local_unlock(fs, &ils);
	else
		UNLOCK(fs);
	return ret;
}

int
shmemfs_mknod(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	      uint64_t parent, const char *name, mode_t mode, dev_t rdev,
	      struct shmemfs_attr *out)
{
	if (S_ISDIR(mode))
		return -EPERM;
	if (S_ISLNK(mode))
		return -EINVAL;
	return create_common(fs, ctx, parent, name, mode, rdev, NULL, out);
}

int
shmemfs_mkdir(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	      uint64_t parent, const char *name, mode_t mode,
	      struct shmemfs_attr *out)
{
	return create_common(fs, ctx, parent, name, S_IFDIR | (mode & 07777),
			     0, NULL, out);
}

int
shmemfs_symlink(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		uint64_t parent, const char *name, const char *target,
		struct shmemfs_attr *out)
{
	return create_common(fs, ctx, parent, name, S_IFLNK, 0, target, out);
}

int
shmemfs_readlink(struct shmemfs *fs, uint64_t ino, char *buf, size_t size)
{
	struct shmemfs_inode *ip;
	size_t n;
	int ret;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	ret = -EINVAL;
	if (!S_ISLNK(ip->i_mode))
		goto out;
	n = ip->i_size < size ? ip->i_size : size;
	if (sf_is_long_symlink(ip)) {
		ssize_t r = filemap_read(fs, ip, buf, n, 0);

		/* the target's page may be in swap and unreadable */
		if (r < 0) {
			ret = (int)r;
			goto out;
		}
		n = (size_t)r;
	} else {
		memcpy(buf, ip->i_link, n);
	}
	node_touch_atime(ip);
	ret = (int)n;
out:
	UNLOCK(fs);
	return ret;
}

int
shmemfs_link(struct shmemfs *fs, uint64_t ino, uint64_t newparent,
	     const char *newname, struct shmemfs_attr *out)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *ip, *dir;
	int ret = -ESTALE;

	local_lock(fs, &ils, ino, newparent);
	ip = iget(fs, ino);
	dir = iget(fs, newparent);
	if (!ip || !dir)
		goto out;
	ret = dir_link(fs, ip, dir, newname);
	if (!ret) {
		ip->i_nlookup++;
		if (out)
			node_fill_attr_fs(fs, ip, out);
	}
out:
	local_unlock(fs, &ils);
	return ret;
}

int
shmemfs_tmpfile(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		uint64_t parent, mode_t mode, unsigned flags,
		struct shmemfs_attr *out)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *dir, *ip;
	int ret = -ESTALE;

	local_lock(fs, &ils, parent, 0);
	dir = iget(fs, parent);
	if (!dir)
		goto out;
	ret = dir_tmpfile(fs, ctx, dir, mode,
			  !(flags & SHMEMFS_TMPFILE_EXCL), &ip);
	if (!ret) {
		/* A lookup reference, as every entry handed out, and an
		 * open one: the file is open from birth. */
		ip->i_nlookup++;
		ip->i_nopen++;
		if (out)
			node_fill_attr(ip, out);
		node_publish(fs, ip);
	}
out:
	local_unlock(fs, &ils);
	return ret;
}

/*
 * Local mode, with the inode locks of the directory and of the victim,
 * which is known only once the name is looked up: if its lock cannot
 * be had without waiting, let everything go and start again with it in
 * the set, in order (lock.h).
 */
static int
unlink_common(struct shmemfs *fs, uint64_t parent, const char *name,
	      bool rmdir)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *dir;
	struct sf_dirent *de;
	uint64_t victim = 0;
	int ret;

	for (;;) {
		local_lock(fs, &ils, parent, victim);
		ret = -ESTALE;
		dir = iget(fs, parent);
		if (!dir)
			break;
		ret = dir_unlink_find(fs, dir, name, rmdir, &de);
		if (ret)
			break;
		if (ilock_try(&fs->sf_ilocks, &ils, de->d_inode->i_ino)) {
			ret = dir_unlink_entry(fs, dir, de, rmdir);
			break;
		}
		victim = de->d_inode->i_ino;
		local_unlock(fs, &ils);
	}
	local_unlock(fs, &ils);
	return ret;
}

int
shmemfs_unlink(struct shmemfs *fs, uint64_t parent, const char *name)
{
	return unlink_common(fs, parent, name, false);
}

int
shmemfs_rmdir(struct shmemfs *fs, uint64_t parent, const char *name)
{
	return unlink_common(fs, parent, name, true);
}

int
shmemfs_rename2(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		uint64_t parent, const char *name, uint64_t newparent,
		const char *newname, unsigned flags)
{
	struct shmemfs_inode *odir, *ndir;
	int ret;

	LOCK(fs);
	IGET_OR(fs, odir, parent, -ESTALE);
	IGET_OR(fs, ndir, newparent, -ESTALE);
	ret = dir_rename2(fs, ctx, odir, name, ndir, newname, flags);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_getflags(struct shmemfs *fs, uint64_t ino, unsigned *flags)
{
	struct shmemfs_inode *ip;
	int ret = 0;

	RLOCK(fs);
	RIGET_OR(fs, ip, ino, -ESTALE);
	if (!S_ISREG(ip->i_mode) && !S_ISDIR(ip->i_mode))
		ret = -ENOTTY;
	else
		*flags = ip->i_flags;
	RUNLOCK(fs);
	return ret;
}

int
shmemfs_setflags(struct shmemfs *fs, uint64_t ino, unsigned flags)
{
	struct shmemfs_inode *ip;
	int ret;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	ret = node_setflags(ip, flags);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_may_open(struct shmemfs *fs, uint64_t ino, int oflags)
{
	struct shmemfs_inode *ip;
	int ret;

	RLOCK(fs);
	RIGET_OR(fs, ip, ino, -ESTALE);
	ret = node_may_open(ip, oflags);
	RUNLOCK(fs);
	return ret;
}

int
shmemfs_rename(struct shmemfs *fs, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags)
{
	struct shmemfs_inode *odir, *ndir;
	int ret;

	LOCK(fs);
	IGET_OR(fs, odir, parent, -ESTALE);
	IGET_OR(fs, ndir, newparent, -ESTALE);
	ret = dir_rename(fs, odir, name, ndir, newname, flags);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_readdir(struct shmemfs *fs, uint64_t ino, uint64_t cookie, int plus,
		shmemfs_filldir_t fn, void *arg)
{
	struct shmemfs_inode *dir;
	int ret;

	LOCK(fs);
	IGET_OR(fs, dir, ino, -ESTALE);
	ret = dir_readdir(fs, dir, cookie, plus, fn, arg);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_open(struct shmemfs *fs, uint64_t ino)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *ip;

	local_lock(fs, &ils, ino, 0);
	ip = iget(fs, ino);
	if (ip)
		ip->i_nopen++;
	local_unlock(fs, &ils);
	return ip ? 0 : -ESTALE;
}

void
shmemfs_release(struct shmemfs *fs, uint64_t ino)
{
	struct sf_ilockset ils = {0};
	struct shmemfs_inode *ip;
	bool collapse = false;

	/* Local mode, unless the last close lets khugepaged look at the
	 * file (filemap_last_close(), which changes pages): then it and
	 * the put are left to an exclusive section after. */
	local_lock(fs, &ils, ino, 0);
	ip = iget(fs, ino);
	if (ip) {
		SF_ASSERT(ip->i_nopen > 0);
		if (ip->i_nopen)
			ip->i_nopen--;
		collapse = !ip->i_nopen && ip->i_nlink &&
			   fs->sf_opts.so_huge != SHMEMFS_HUGE_NEVER;
		if (!collapse)
			node_put(fs, ip);
	}
	local_unlock(fs, &ils);
	if (!collapse)
		return;
	LOCK(fs);
	ip = iget(fs, ino);
	if (ip) {
		if (!ip->i_nopen)
			filemap_last_close(fs, ip);
		node_put(fs, ip);
	}
	UNLOCK(fs);
}

/* The VFS's type checks for read and write. */
static int
check_regular(const struct shmemfs_inode *ip)
{
	if (S_ISDIR(ip->i_mode))
		return -EISDIR;
	if (!S_ISREG(ip->i_mode))
		return -EINVAL;
	return 0;
}

/*
 * Keep @ip alive while sf_lock is dropped for a copy: an unlink and a
 * forget may come meanwhile.  A lookup reference, so node_put() sees it;
 * io_put() drops it and may free @ip.  => sf_lock held.
 */
static void
io_hold(struct shmemfs_inode *ip)
{
	ip->i_nlookup++;
}

static void
io_put(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	SF_ASSERT(ip->i_nlookup > 0);
	if (ip->i_nlookup)
		ip->i_nlookup--;
	node_put(fs, ip);
}

/* Unpin a batch (filemap.h) and wake whoever waits for memory. */
static void
io_unpin(struct shmemfs *fs, struct filemap_seg *seg, unsigned n)
{
	filemap_unpin(fs, seg, n);
	if (fs->sf_pin_waiters)
		pthread_cond_broadcast(&fs->sf_unpinned);
}

/*
 * -ENOSPC with nothing of this call pinned while other calls have pages
 * pinned for their copies: pages that reclaim can take once they are
 * done.  Wait for an unpin and try again (true), a few times at most,
 * so that mem= full of pages in flight is not taken for mem= full.
 * The callers that hold pins never wait for anything but sf_lock.
 */
static bool
io_wait_unpin(struct shmemfs *fs, int err, unsigned *tries)
{
	if (err != -ENOSPC || !fs->sf_pinned || ++*tries > 16)
		return false;
	fs->sf_pin_waiters++;
	sf_cond_wait(&fs->sf_unpinned, &fs->sf_lock);
	fs->sf_pin_waiters--;
	return true;
}

/*
 * Read @size bytes at @off into @buf, copying with sf_lock dropped: each
 * batch of pages is pinned under sf_lock, copied without it, unpinned
 * under it again (filemap.h).  All or nothing, as filemap_read().
 * => data lock of @ip held (shared or exclusive), sf_lock held; it is
 *    dropped and retaken.  @ip may be freed by the time this returns.
 */
static ssize_t
data_read(struct shmemfs *fs, struct shmemfs_inode *ip, char *buf,
	  size_t size, uint64_t off)
{
	struct filemap_seg seg[FILEMAP_SEGS];
	unsigned tries = 0;
	size_t done = 0;
	int err = 0;

	if (size > SSIZE_MAX)
		size = SSIZE_MAX & ~((size_t)SF_PAGE_SIZE - 1);
	io_hold(ip);
	while (done < size) {
		unsigned n, i;
		size_t got, at = done;

		got = filemap_pin_read(fs, ip, off + done, size - done, seg,
				       &n, &err);
		if (err || !got) {
			io_unpin(fs, seg, n);
			if (!got && io_wait_unpin(fs, err, &tries)) {
				err = 0;
				continue;
			}
			break;
		}
		UNLOCK(fs);
		for (i = 0; i < n; at += seg[i].sg_len, i++) {
			if (seg[i].sg_data)
				memcpy(buf + at, seg[i].sg_data, seg[i].sg_len);
			else
				memset(buf + at, 0, seg[i].sg_len);
		}
		LOCK(fs);
		io_unpin(fs, seg, n);
		done += got;
	}
	node_touch_atime(ip);
	io_put(fs, ip);
	if (err) /* see filemap_read(): a short count would read as EOF */
		return err == -ENOSPC ? -ENOMEM : err;
	return (ssize_t)done;
}

/*
 * Write @size bytes at @off from @buf, copying with sf_lock dropped as
 * data_read() does; the result is filemap_write()'s (a short count, or
 * the error when nothing was written).
 * => data lock of @ip held exclusive, sf_lock held; it is dropped and
 *    retaken.  @ip may be freed by the time this returns.
 */
static ssize_t
data_write(struct shmemfs *fs, struct shmemfs_inode *ip, const char *buf,
	   size_t size, uint64_t off)
{
	struct filemap_seg seg[FILEMAP_SEGS];
	uint64_t wstart = off;
	unsigned tries = 0;
	size_t done = 0;
	int err;

	err = filemap_write_begin(fs, ip, off, &size, &wstart);
	if (err || !size)
		return err;
	io_hold(ip);
	while (done < size) {
		unsigned n, i;
		size_t got, at = done;

		got = filemap_pin_write(fs, ip, off + done, size - done,
					off + size, seg, &n, &err);
		if (got) {
			UNLOCK(fs);
			for (i = 0; i < n; at += seg[i].sg_len, i++)
				memcpy(seg[i].sg_data, buf + at,
				       seg[i].sg_len);
			LOCK(fs);
			io_unpin(fs, seg, n);
		} else if (io_wait_unpin(fs, err, &tries)) {
			err = 0;
			continue;
		}
		filemap_write_end(fs, ip, wstart, off + done, got);
		done += got;
		if (err || !got)
			break;
	}
	io_put(fs, ip);
	return done ? (ssize_t)done : err;
}

ssize_t
shmemfs_read(struct shmemfs *fs, uint64_t ino, void *buf, size_t size,
	     int64_t off)
{
	struct shmemfs_inode *ip;
	ssize_t ret;

	if (off < 0)
		return -EINVAL;
	dlock_read(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = iget(fs, ino);
	ret = ip ? check_regular(ip) : -ESTALE;
	if (!ret)
		ret = data_read(fs, ip, buf, size, (uint64_t)off);
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}

/* A read pinned for a reply without a copy (shmemfs_read_pin()). */
struct shmemfs_pinned {
	struct shmemfs *pn_fs;
	struct shmemfs_inode *pn_ip; /* held (io_hold) */
	uint64_t pn_ino;
	unsigned pn_nseg;
	struct filemap_seg pn_seg[]; /* pinned */
};

static const char pin_zeros[SF_PAGE_SIZE];

/*
 * Pin the whole of [@off, @off + @size) clipped to the file, without
 * waiting for anyone's unpin (the caller falls back to a copy then).
 * => data lock of @ip held shared, sf_lock held.
 */
static ssize_t
pin_range(struct shmemfs *fs, struct shmemfs_inode *ip, uint64_t off,
	  size_t size, struct shmemfs_pinned *pn, unsigned maxseg)
{
	size_t done = 0;
	int err = 0;

	while (done < size) {
		unsigned n;
		size_t got;

		if (maxseg - pn->pn_nseg < FILEMAP_SEGS)
			return -EAGAIN;
		got = filemap_pin_read(fs, ip, off + done, size - done,
				       pn->pn_seg + pn->pn_nseg, &n, &err);
		pn->pn_nseg += n;
		if (err)
			return err == -ENOSPC ? -EAGAIN : err;
		if (!got)
			break;
		done += got;
	}
	return (ssize_t)done;
}

ssize_t
shmemfs_read_pin(struct shmemfs *fs, uint64_t ino, size_t size, int64_t off,
		 struct iovec *iov, unsigned iovcnt, unsigned *niovp,
		 struct shmemfs_pinned **pinp)
{
	struct shmemfs_pinned *pn;
	struct shmemfs_inode *ip;
	ssize_t ret;
	unsigned i;

	*pinp = NULL;
	*niovp = 0;
	if (off < 0)
		return -EINVAL;
	/* a batch may stop short of FILEMAP_SEGS: room for them all */
	if (size > SSIZE_MAX || iovcnt < FILEMAP_SEGS)
		return -EAGAIN;
	pn = sf_malloc(sizeof(*pn) + iovcnt * sizeof(pn->pn_seg[0]));
	if (!pn)
		return -ENOMEM;
	pn->pn_fs = fs;
	pn->pn_ino = ino;
	pn->pn_nseg = 0;
	dlock_read(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = iget(fs, ino);
	ret = ip ? check_regular(ip) : -ESTALE;
	if (!ret) {
		ret = pin_range(fs, ip, (uint64_t)off, size, pn, iovcnt);
		if (ret >= 0) {
			node_touch_atime(ip);
			io_hold(ip);
			pn->pn_ip = ip;
		} else {
			io_unpin(fs, pn->pn_seg, pn->pn_nseg);
		}
	}
	UNLOCK(fs);
	if (ret < 0) {
		dlock_unlock(&fs->sf_dlocks, ino);
		free(pn);
		return ret;
	}
	for (i = 0; i < pn->pn_nseg; i++) {
		iov[i].iov_base = pn->pn_seg[i].sg_data ? pn->pn_seg[i].sg_data
							: (void *)pin_zeros;
		iov[i].iov_len = pn->pn_seg[i].sg_len;
	}
	*niovp = pn->pn_nseg;
	*pinp = pn;
	return ret;
}

void
shmemfs_read_unpin(struct shmemfs_pinned *pn)
{
	struct shmemfs *fs;
	uint64_t ino;

	if (!pn)
		return;
	fs = pn->pn_fs;
	ino = pn->pn_ino;
	LOCK(fs);
	io_unpin(fs, pn->pn_seg, pn->pn_nseg);
	io_put(fs, pn->pn_ip);
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	free(pn);
}

ssize_t
shmemfs_write(struct shmemfs *fs, uint64_t ino, const void *buf, size_t size,
	      int64_t off)
{
	return shmemfs_write_kill(fs, ino, buf, size, off, 0);
}

int
shmemfs_fallocate(struct shmemfs *fs, uint64_t ino, int mode, int64_t off,
		  int64_t len)
{
	struct shmemfs_inode *ip;
	int ret;

	/* vfs_fallocate()'s checks, then shmem_fallocate()'s */
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(SHMEMFS_FALLOC_KEEP_SIZE | SHMEMFS_FALLOC_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & SHMEMFS_FALLOC_PUNCH_HOLE) &&
	    !(mode & SHMEMFS_FALLOC_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (len > SHMEMFS_MAX_FILESIZE - off)
		return -EFBIG;
	dlock_write(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = iget(fs, ino);
	if (!ip)
		ret = -ESTALE;
	else if (S_ISDIR(ip->i_mode))
		ret = -EISDIR;
	else if (!S_ISREG(ip->i_mode))
		ret = -ENODEV;
	else if (ip->i_seals &&
		 (ret = ipc_seal_fallocate(ip, mode, off, len)) < 0)
		; /* memfd seals (ipc.c) */
	else if ((ip->i_flags & SHMEMFS_FL_IMMUTABLE) ||
		 ((ip->i_flags & SHMEMFS_FL_APPEND) &&
		  (mode & SHMEMFS_FALLOC_PUNCH_HOLE)))
		ret = -EPERM; /* vfs_fallocate() */
	else {
		mem_quota_bind(fs, ip->i_uid, ip->i_gid);
		ret = filemap_fallocate(fs, ip, mode, off, len);
		mem_quota_unbind(fs);
	}
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}

int64_t
shmemfs_lseek(struct shmemfs *fs, uint64_t ino, int64_t off, int whence)
{
	struct shmemfs_inode *ip;
	int64_t ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	if (!S_ISREG(ip->i_mode))
		ret = -EINVAL;
	else
		ret = filemap_seek(fs, ip, off, whence);
	UNLOCK(fs);
	return ret;
}

/*
 * Copy through a bounce buffer, a chunk per lock hold, so a long copy
 * does not stall every other caller.  Holes in the source become zeroed
 * data in the destination, as the kernel's splice-based copy does.
 */
ssize_t
shmemfs_copy_file_range(struct shmemfs *fs, uint64_t ino_in, int64_t off_in,
			uint64_t ino_out, int64_t off_out, size_t len)
{
	enum { CHUNK = 256 * 1024 };
	struct shmemfs_inode *in, *out;
	size_t done = 0;
	ssize_t ret = 0;
	char *buf;

	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	if (len > (uint64_t)SHMEMFS_MAX_FILESIZE - (uint64_t)off_in ||
	    len > (uint64_t)SHMEMFS_MAX_FILESIZE - (uint64_t)off_out)
		len = (uint64_t)SHMEMFS_MAX_FILESIZE -
		      (uint64_t)(off_in > off_out ? off_in : off_out);
	if (ino_in == ino_out &&
	    (uint64_t)off_in < (uint64_t)off_out + len &&
	    (uint64_t)off_out < (uint64_t)off_in + len)
		return -EINVAL;
	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	dlock_pair(&fs->sf_dlocks, ino_in, ino_out);
	while (done < len) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;
		ssize_t r, w;

		LOCK(fs);
		in = iget(fs, ino_in);
		out = iget(fs, ino_out);
		if (!in || !out) {
			UNLOCK(fs);
			ret = -ESTALE;
			break;
		}
		ret = check_regular(in);
		if (!ret)
			ret = check_regular(out);
		if (ret) {
			UNLOCK(fs);
			break;
		}
		/* both must outlive the read's and the write's copies */
		io_hold(in);
		io_hold(out);
		r = data_read(fs, in, buf, n, (uint64_t)off_in + done);
		w = r;
		if (r > 0) {
			mem_quota_bind(fs, out->i_uid, out->i_gid);
			w = data_write(fs, out, buf, (size_t)r,
				       (uint64_t)off_out + done);
			mem_quota_unbind(fs);
		}
		io_put(fs, in);
		io_put(fs, out);
		UNLOCK(fs);
		if (w < 0) {
			ret = w;
			break;
		}
		done += (size_t)w;
		if (r <= 0 || (size_t)w < n)
			break;
	}
	dlock_unlock2(&fs->sf_dlocks, ino_in, ino_out);
	free(buf);
	return done ? (ssize_t)done : ret;
}

int
shmemfs_setxattr(struct shmemfs *fs, uint64_t ino, const char *name,
		 const void *value, size_t size, int flags)
{
	struct shmemfs_inode *ip;
	int ret;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	if (sf_is_locked(ip))
		ret = -EPERM; /* xattr_permission() */
	else if (acl_type(name))
		ret = acl_set(fs, ip, name, value, size,
			      flags & SHMEMFS_XATTR_KILL_SGID);
	else
		ret = xattr_set(fs, ip, name, value, size, flags);
	UNLOCK(fs);
	return ret;
}

ssize_t
shmemfs_getxattr(struct shmemfs *fs, uint64_t ino, const char *name,
		 void *value, size_t size)
{
	struct shmemfs_inode *ip;
	ssize_t ret;

	RLOCK(fs);
	RIGET_OR(fs, ip, ino, -ESTALE);
	ret = xattr_get(ip, name, value, size);
	RUNLOCK(fs);
	return ret;
}

static ssize_t
listxattr_common(struct shmemfs *fs, uint64_t ino, char *list, size_t size,
		 bool trusted)
{
	struct shmemfs_inode *ip;
	ssize_t ret;

	RLOCK(fs);
	RIGET_OR(fs, ip, ino, -ESTALE);
	ret = xattr_list(ip, list, size, trusted);
	RUNLOCK(fs);
	return ret;
}

ssize_t
shmemfs_listxattr(struct shmemfs *fs, uint64_t ino, char *list, size_t size)
{
	return listxattr_common(fs, ino, list, size, true);
}

ssize_t
shmemfs_listxattr_user(struct shmemfs *fs, uint64_t ino, char *list,
		       size_t size)
{
	return listxattr_common(fs, ino, list, size, false);
}

int
shmemfs_removexattr(struct shmemfs *fs, uint64_t ino, const char *name)
{
	struct shmemfs_inode *ip;
	int ret;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	if (sf_is_locked(ip))
		ret = -EPERM;
	else if (acl_type(name))
		ret = acl_remove(fs, ip, name);
	else
		ret = xattr_remove(fs, ip, name);
	UNLOCK(fs);
	return ret;
}

/*
 * How many more pages of data fit under mem=: the free budget plus the
 * free swap slots while swapping is on (a resident page can be pushed
 * out to make room).  df's "Avail" is at most this, so that it does not
 * promise space that a swapoff, or a full swap device, has taken away.
 * Pages of zeros cost nothing, so this is a floor, not an exact count.
 */
static uint64_t
writable_pages(const struct shmemfs *fs)
{
	uint64_t n = mem_resident_free(fs);

	if (n != UINT64_MAX && swap_active(&fs->sf_swap))
		n += swap_free_slots(&fs->sf_swap);
	return n;
}

/* As shmem_statfs(): unlimited counts read as 0. */
int
shmemfs_statfs(struct shmemfs *fs, struct statvfs *st)
{
	struct sf_mem *m = &fs->sf_mem;
	uint64_t avail;

	memset(st, 0, sizeof(*st));
	RLOCK(fs);
	st->f_bsize = SF_PAGE_SIZE;
	st->f_frsize = SF_PAGE_SIZE;
	st->f_namemax = SHMEMFS_NAME_MAX;
	if (m->sm_blocks_max) {
		st->f_blocks = m->sm_blocks_max;
		st->f_bfree = m->sm_blocks_max - m->sm_blocks_used;
		avail = writable_pages(fs);
		st->f_bavail = st->f_bfree < avail ? st->f_bfree : avail;
	}
	if (m->sm_inodes_max) {
		st->f_files = m->sm_inodes_max;
		st->f_ffree = (m->sm_ispace_max - m->sm_ispace_used) /
			      SF_BOGO_INODE_SIZE;
		st->f_favail = st->f_ffree;
	}
	RUNLOCK(fs);
	return 0;
}

int
shmemfs_get_stats(struct shmemfs *fs, struct shmemfs_stats *st)
{
	struct sf_mem *m = &fs->sf_mem;

	memset(st, 0, sizeof(*st));
	RLOCK(fs);
	st->size_limit_bytes = m->sm_blocks_max * SF_PAGE_SIZE;
	st->used_bytes = m->sm_blocks_used * SF_PAGE_SIZE;
	st->inodes_limit = m->sm_inodes_max;
	st->inodes_used = m->sm_inodes_used;
	st->mem_limit_bytes = m->sm_resident_max * SF_PAGE_SIZE;
	st->resident_bytes = m->sm_resident * SF_PAGE_SIZE;
	st->swapped_bytes = fs->sf_swap.sw_used * SF_PAGE_SIZE;
	st->swap_total_bytes = fs->sf_swap.sw_nslots * SF_PAGE_SIZE;
	st->swap_used_bytes = fs->sf_swap.sw_used * SF_PAGE_SIZE;
	st->swapouts = fs->sf_swapouts;
	st->swapins = fs->sf_swapins;
	st->huge_pages = fs->sf_pool.pl_huge;
	st->huge_splits = fs->sf_pool.pl_huge_splits;
	st->huge_collapses = fs->sf_pool.pl_huge_collapses;
	st->huge_fallbacks = fs->sf_pool.pl_huge_fallbacks;
	RUNLOCK(fs);
	return 0;
}

int
shmemfs_huge_advise(struct shmemfs *fs, uint64_t ino, int on)
{
	struct shmemfs_inode *ip;
	int ret = -EINVAL;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	if (S_ISREG(ip->i_mode)) {
		ip->i_huge_advised = on != 0;
		ret = 0;
	}
	UNLOCK(fs);
	return ret;
}

void
shmemfs_set_attr_notify(struct shmemfs *fs,
			void (*fn)(void *arg, uint64_t ino), void *arg)
{
	LOCK(fs);
	fs->sf_attr_notify = fn;
	fs->sf_attr_notify_arg = arg;
	UNLOCK(fs);
}

int64_t
shmemfs_huge_shrink(struct shmemfs *fs)
{
	int64_t freed;

	LOCK(fs);
	freed = (int64_t)filemap_huge_shrink(fs, 0);
	UNLOCK(fs);
	return freed;
}

int
shmemfs_huge_collapse(struct shmemfs *fs)
{
	int made;

	LOCK(fs);
	made = (int)khugepaged_pass(fs);
	UNLOCK(fs);
	return made;
}

int
shmemfs_swapoff(struct shmemfs *fs)
{
	int ret;

	LOCK(fs);
	ret = swapoff_unuse(fs);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_remount(struct shmemfs *fs, const char *optstr, char *err,
		size_t err_len)
{
	int ret;

	LOCK(fs);
	ret = remount_apply(fs, optstr, err, err_len);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_quota_get(struct shmemfs *fs, unsigned type, uint32_t from,
		  struct shmemfs_quota *out, size_t n)
{
	int ret;

	LOCK(fs);
	ret = mem_quota_list(fs, type, from, out, n);
	UNLOCK(fs);
	return ret;
}

unsigned
shmemfs_quota_types(struct shmemfs *fs)
{
	unsigned t;

	LOCK(fs);
	t = fs->sf_mem.sm_qtypes;
	UNLOCK(fs);
	return t;
}

int
shmemfs_quota_set(struct shmemfs *fs, unsigned type, uint32_t id, unsigned mask,
		  uint64_t block_limit, uint64_t inode_limit)
{
	int ret;

	if (mask & ~(SHMEMFS_QUOTA_SET_BLOCKS | SHMEMFS_QUOTA_SET_INODES))
		return -EINVAL;
	LOCK(fs);
	ret = mem_quota_set(fs, type, id, mask, block_limit, inode_limit);
	UNLOCK(fs);
	return ret;
}

int
shmemfs_swapon(struct shmemfs *fs)
{
	int ret;

	LOCK(fs);
	ret = swapoff_swapon(fs);
	UNLOCK(fs);
	return ret;
}

/* The CLOCK ring, the pool and the swap map agree with the counters. */
static int
check_memory(struct shmemfs *fs, uint64_t swapped, char *msg, size_t len)
{
	int ret = page_check(fs, msg, len);

	if (ret)
		return ret;
	if (swapped != swap_used(&fs->sf_swap)) {
		snprintf(msg, len, "memory: swapped %llu slots %llu",
			 (unsigned long long)swapped,
			 (unsigned long long)swap_used(&fs->sf_swap));
		return -EUCLEAN;
	}
	return 0;
}

/*
 * Quota invariant: each entry's usage is the sum over the inodes its id
 * owns (blocks: i_blocks of those with pages).  => sf_lock held.
 */
static int
check_quota(struct shmemfs *fs, char *msg, size_t len)
{
	struct sf_qentry *qe;
	uint64_t cursor = 0;

	while ((qe = mem_quota_next(fs, &cursor))) {
		uint64_t ino = 0, blocks = 0, inodes = 0;
		struct shmemfs_inode *ip;

		while ((ip = pageidx_next(&fs->sf_inodes, &ino))) {
			uint32_t id = qe->qe_type ? ip->i_gid : ip->i_uid;

			if (id == qe->qe_id) {
				inodes++;
				blocks += sf_has_pages(ip) ? ip->i_blocks : 0;
			}
			ino++;
		}
		if (blocks != qe->qe_blocks || inodes != qe->qe_inodes) {
			snprintf(msg, len,
				 "quota %s %u: blocks %llu/%llu "
				 "inodes %llu/%llu",
				 qe->qe_type ? "group" : "user", qe->qe_id,
				 (unsigned long long)blocks,
				 (unsigned long long)qe->qe_blocks,
				 (unsigned long long)inodes,
				 (unsigned long long)qe->qe_inodes);
			return -EUCLEAN;
		}
	}
	return 0;
}

static bool
check_inode_alive(struct shmemfs *fs, const struct shmemfs_inode *ip)
{
	return node_get(fs, ip->i_ino) == ip;
}

int
shmemfs_check(struct shmemfs *fs, char *msg, size_t len)
{
	uint64_t ino = 0, inodes = 0, blocks = 0, swapped = 0, ispace = 0;
	struct shmemfs_inode *ip;
	int ret = 0;

	LOCK(fs);
	if (pageidx_check(&fs->sf_inodes)) {
		snprintf(msg, len, "inode table: bad shape");
		ret = -EUCLEAN;
		goto out;
	}
	while ((ip = pageidx_next(&fs->sf_inodes, &ino))) {
		if (ip->i_ino != ino) {
			snprintf(msg, len, "inode %llu filed under %llu",
				 (unsigned long long)ip->i_ino,
				 (unsigned long long)ino);
			ret = -EUCLEAN;
			goto out;
		}
		if (sf_has_pages(ip)) {
			ret = filemap_check(fs, ip, msg, len);
			if (ret)
				goto out;
			swapped += filemap_count_swapped(ip);
		}
		if (ip->i_nlink == 0 && ip->i_nlookup == 0 &&
		    ip->i_nopen == 0) {
			snprintf(msg, len, "ino %llu: unreferenced but alive",
				 (unsigned long long)ino);
			ret = -EUCLEAN;
			goto out;
		}
		inodes++;
		blocks += sf_has_pages(ip) ? ip->i_blocks : 0;
		ispace += SF_BOGO_INODE_SIZE + xattr_space(ip);
		if (!S_ISDIR(ip->i_mode) && ip->i_nlink > 1)
			ispace += (ip->i_nlink - 1) * SF_BOGO_INODE_SIZE;
		ino++;
	}
	if (inodes != fs->sf_mem.sm_inodes_used ||
	    blocks != fs->sf_mem.sm_blocks_used ||
	    ispace != fs->sf_mem.sm_ispace_used) {
		snprintf(msg, len, "counters: inodes %llu/%llu blocks "
			 "%llu/%llu ispace %llu/%llu",
			 (unsigned long long)inodes,
			 (unsigned long long)fs->sf_mem.sm_inodes_used,
			 (unsigned long long)blocks,
			 (unsigned long long)fs->sf_mem.sm_blocks_used,
			 (unsigned long long)ispace,
			 (unsigned long long)fs->sf_mem.sm_ispace_used);
		ret = -EUCLEAN;
		goto out;
	}
	ret = check_memory(fs, swapped, msg, len);
	if (ret)
		goto out;
	ret = check_quota(fs, msg, len);
	if (ret)
		goto out;
	ret = filemap_check_shrinklist(fs, check_inode_alive, msg, len);
	if (ret)
		goto out;
	ret = dir_check(fs, msg, len);
out:
	UNLOCK(fs);
	return ret;
}

/*
 * The privileges a change by an unprivileged caller takes away
 * (shmemfs.h): the mode bits as setattr_should_drop_suidgid() picks
 * them, and the file capability as security_inode_killpriv() does.
 * The mode is set directly, not through node_setattr(): the VFS clears
 * the bits of an append-only file too.  => sf_lock held.
 */
static void
kill_priv_locked(struct shmemfs *fs, struct shmemfs_inode *ip, unsigned kill)
{
	mode_t bits = 0;

	if (!kill || S_ISDIR(ip->i_mode))
		return;
	if (kill & SHMEMFS_KILL_SUIDGID) {
		bits |= S_ISUID;
		if (ip->i_mode & S_IXGRP)
			bits |= S_ISGID;
	}
	if (kill & SHMEMFS_KILL_SGID)
		bits |= S_ISGID;
	if (ip->i_mode & bits) {
		ip->i_mode &= ~bits;
		sf_now(&ip->i_ctime);
	}
	if ((kill & SHMEMFS_KILL_SUIDGID) && ip->i_xattrs)
		(void)xattr_remove(fs, ip, "security.capability");
}

int
shmemfs_kill_priv(struct shmemfs *fs, uint64_t ino, unsigned kill,
		  struct shmemfs_attr *out)
{
	struct shmemfs_inode *ip;

	LOCK(fs);
	IGET_OR(fs, ip, ino, -ESTALE);
	kill_priv_locked(fs, ip, kill);
	if (out)
		node_fill_attr_fs(fs, ip, out);
	UNLOCK(fs);
	return 0;
}

/* A write, with kill_priv_locked() first under the same lock (@kill 0:
 * shmemfs_write()). */
ssize_t
shmemfs_write_kill(struct shmemfs *fs, uint64_t ino, const void *buf,
		   size_t size, int64_t off, unsigned kill)
{
	struct shmemfs_inode *ip;
	ssize_t ret;

	/* rw_verify_area(): the end must be a valid offset too */
	if (off < 0 || size > (uint64_t)INT64_MAX - (uint64_t)off)
		return -EINVAL;
	dlock_write(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = iget(fs, ino);
	ret = ip ? check_regular(ip) : -ESTALE;
	if (!ret)
		kill_priv_locked(fs, ip, kill);
	if (!ret && ip->i_seals) { /* memfd seals (ipc.c) */
		ret = ipc_seal_write(ip, (uint64_t)off, size);
		if (ret > 0)
			size = (size_t)ret;
		if (ret >= 0)
			ret = 0;
	}
	if (!ret) {
		mem_quota_bind(fs, ip->i_uid, ip->i_gid);
		ret = data_write(fs, ip, buf, size, (uint64_t)off);
		mem_quota_unbind(fs);
	}
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}
