/* SPDX-License-Identifier: MIT */
/*
 * node.c - inodes: creation, the inode table, attributes, freeing.
 *
 * The inode table is a pageidx keyed by inode number.  Numbers come from
 * a 64-bit counter and, with inode64, are never reused within a mount,
 * so a stale number from the front end finds nothing instead of a
 * stranger.  With inode32 (tmpfs's meaning) the counter wraps from 2^32
 * back to 1 as shmem_reserve_inode() does, and, unlike tmpfs, skips the
 * numbers still in use, since ours key the table; the generation tells a
 * reused number's inodes apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "acl.h"
#include "dir.h"
#include "filemap.h"
#include "fs.h"
#include "node.h"
#include "xattr.h"

/* The inode table's slot for a number node_alloc() gave out and
 * node_publish() has not yet filled. */
#define NODE_UNPUBLISHED pageidx_mk_value(0)

/* The next free inode number; 0 if inode32 has none left. */
static uint64_t
node_next_ino(struct shmemfs *fs)
{
	uint64_t ino = fs->sf_next_ino, tries = 0;
	bool wrap = !fs->sf_opts.so_inode64;

	for (;;) {
		if (wrap && ino > UINT32_MAX)
			ino = 1;
		if (ino && !pageidx_lookup(&fs->sf_inodes, ino))
			return ino;
		if (++tries > UINT32_MAX)
			return 0;
		ino++;
	}
}

/*
 * Far times.  An inode keeps its times as 64-bit nanoseconds, which span
 * 1677-2262; tmpfs keeps any time64_t (touch -d 3000-01-01 works).  A
 * time outside is kept here exactly and the inode's field says
 * SF_TIME_FAR.  Rare, so one table for the process, keyed by the
 * inode's address, under a lock of its own (two mounts in one process
 * hold different sf_locks); an entry lives until its inode is freed.
 */
struct node_far {
	struct timespec nf_t[4]; /* atime, mtime, ctime, btime */
};

static pthread_mutex_t node_far_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pageidx node_far_table; /* (address / 8) -> node_far */
static uint64_t node_far_count;       /* entries; read without the lock */

static uint64_t
node_far_key(const struct shmemfs_inode *ip)
{
	return (uint64_t)(uintptr_t)ip >> 3;
}

static unsigned
node_time_slot(const struct shmemfs_inode *ip, const sf_time_t *t)
{
	unsigned slot = (unsigned)(t - &ip->i_atime);

	SF_ASSERT(slot < 4);
	return slot;
}

/* The time *@t of @ip (one of its four fields) as a timespec. */
struct timespec
node_time(const struct shmemfs_inode *ip, const sf_time_t *t)
{
	struct node_far *nf;
	struct timespec ts;

	if (*t != SF_TIME_FAR)
		return sf_time_to_ts(*t);
	pthread_mutex_lock(&node_far_lock);
	nf = pageidx_lookup(&node_far_table, node_far_key(ip));
	SF_ASSERT(nf);
	ts = nf->nf_t[node_time_slot(ip, t)];
	pthread_mutex_unlock(&node_far_lock);
	return ts;
}

/* Does @ts fit an sf_time_t (*@v)?  INT64_MIN is SF_TIME_FAR, and
 * INT64_MAX what sf_time_from_ts() clamps to. */
static bool
node_time_fits(const struct timespec *ts, sf_time_t *v)
{
	*v = sf_time_from_ts(ts);
	if (*v == SF_TIME_FAR)
		return false;
	if (*v == INT64_MAX)
		return ts->tv_sec == 9223372036LL && ts->tv_nsec == 854775807;
	return true;
}

/* @ip's table entry, made if missing (NULL: no memory); => node_far_lock. */
static struct node_far *
node_far_entry(const struct shmemfs_inode *ip)
{
	struct node_far *nf = pageidx_lookup(&node_far_table, node_far_key(ip));

	if (nf)
		return nf;
	nf = sf_calloc(1, sizeof(*nf));
	if (!nf || pageidx_store(&node_far_table, node_far_key(ip), nf)) {
		free(nf);
		return NULL;
	}
	__atomic_add_fetch(&node_far_count, 1, __ATOMIC_RELAXED);
	return nf;
}

/* Make sure @ip has a table entry: then node_set_time() cannot fail. */
static int
node_far_reserve(const struct shmemfs_inode *ip)
{
	struct node_far *nf;

	pthread_mutex_lock(&node_far_lock);
	nf = node_far_entry(ip);
	pthread_mutex_unlock(&node_far_lock);
	return nf ? 0 : -ENOMEM;
}

/* Set the time *@t of @ip to @ts, exactly.  Only -ENOMEM can fail, for a
 * far time, before any change. */
int
node_set_time(struct shmemfs_inode *ip, sf_time_t *t, const struct timespec *ts)
{
	struct node_far *nf;
	sf_time_t v;

	if (node_time_fits(ts, &v)) {
		*t = v; /* a table entry, if any, stays until the inode goes */
		return 0;
	}
	pthread_mutex_lock(&node_far_lock);
	nf = node_far_entry(ip);
	if (nf) {
		nf->nf_t[node_time_slot(ip, t)] = *ts;
		*t = SF_TIME_FAR;
	}
	pthread_mutex_unlock(&node_far_lock);
	return nf ? 0 : -ENOMEM;
}

/* Drop @ip's table entry, if it has one (it is being freed). */
static void
node_far_free(struct shmemfs_inode *ip)
{
	void *nf;

	if (!__atomic_load_n(&node_far_count, __ATOMIC_RELAXED))
		return; /* no inode of the process ever had a far time */
	pthread_mutex_lock(&node_far_lock);
	nf = pageidx_erase(&node_far_table, node_far_key(ip));
	if (nf) {
		free(nf);
		__atomic_sub_fetch(&node_far_count, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&node_far_lock);
}

/*
 * Allocate an inode and give it a number, which its table slot keeps
 * (a marker that node_get() does not see) until node_publish().  The
 * caller links it into a directory; i_nlink, i_nlookup and i_nopen
 * start at 0.  In local mode nobody else can reach it before it is
 * published, so its maker sets it up without its inode lock.
 */
int
node_alloc(struct shmemfs *fs, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
	   struct shmemfs_inode **ipp)
{
	struct shmemfs_inode *ip;
	int ret;

	sf_tables_lock(&fs->sf_tables);
	ret = mem_charge_inode(fs);
	if (ret)
		goto out_unlock;
	/* dquot_alloc_inode() after shmem_reserve_inode(): EDQUOT */
	ret = mem_quota_charge_inode(fs, uid, gid);
	if (ret)
		goto out_uncharge;
	ret = -ENOMEM;
	ip = sf_obj_zalloc(sizeof(*ip));
	if (!ip)
		goto out_unquota;
	ip->i_ino = node_next_ino(fs);
	ret = -ENOSPC;
	if (!ip->i_ino)
		goto out_free;
	ret = -ENOMEM;
	if (pageidx_store(&fs->sf_inodes, ip->i_ino, NODE_UNPUBLISHED))
		goto out_free;
	fs->sf_next_ino = ip->i_ino + 1;
	ip->i_generation = fs->sf_next_generation++;
	sf_tables_unlock(&fs->sf_tables);
	ip->i_mode = mode;
	ip->i_uid = uid;
	ip->i_gid = gid;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		ip->i_rdev = rdev;
	sf_now(&ip->i_btime);
	ip->i_atime = ip->i_mtime = ip->i_ctime = ip->i_btime;
	if (S_ISDIR(mode)) {
		pageidx_init(&ip->i_entries);
		ip->i_next_cookie = 3; /* 1 and 2 are "." and ".." */
		ip->i_size = 2 * SF_BOGO_DIRENT_SIZE;
	} else if (S_ISREG(mode)) {
		pageidx_init(&ip->i_pages);
	}
	*ipp = ip;
	return 0;

out_free:
	sf_obj_free(ip, sizeof(*ip));
out_unquota:
	mem_quota_uncharge_inode(fs, uid, gid);
out_uncharge:
	mem_uncharge_inode(fs);
out_unlock:
	sf_tables_unlock(&fs->sf_tables);
	return ret;
}

/* Make @ip (from node_alloc()) reachable by its number, if it is not
 * yet.  Cannot fail: the slot is there already. */
void
node_publish(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	int ret;

	sf_tables_lock(&fs->sf_tables);
	if (pageidx_lookup(&fs->sf_inodes, ip->i_ino) == NODE_UNPUBLISHED) {
		ret = pageidx_store(&fs->sf_inodes, ip->i_ino, ip);
		SF_ASSERT(ret == 0);
		(void)ret;
	}
	SF_ASSERT(pageidx_lookup(&fs->sf_inodes, ip->i_ino) == ip);
	sf_tables_unlock(&fs->sf_tables);
}

/* node_alloc() and node_publish() at once. */
int
node_new(struct shmemfs *fs, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
	 struct shmemfs_inode **ipp)
{
	int ret = node_alloc(fs, mode, uid, gid, rdev, ipp);

	if (!ret)
		node_publish(fs, *ipp);
	return ret;
}

/* Free what @ip owns (data, target, dirents, xattrs), not @ip itself. */
void
node_free_contents(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	if (sf_has_pages(ip)) {
		mem_quota_bind(fs, ip->i_uid, ip->i_gid);
		filemap_evict(fs, ip);
		mem_quota_unbind(fs);
	} else if (S_ISLNK(ip->i_mode))
		free(ip->i_link);
	else if (S_ISDIR(ip->i_mode))
		dir_destroy_entries(fs, ip);
	xattr_free_all(fs, ip);
	node_far_free(ip);
}

/* In local mode, under sf_tables: the pages, swap slots and counters
 * it gives back are the mount's. */
static void
node_free(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	SF_ASSERT(ip != fs->sf_root);
	sf_tables_lock(&fs->sf_tables);
	node_free_contents(fs, ip);
	pageidx_erase(&fs->sf_inodes, ip->i_ino);
	mem_quota_uncharge_inode(fs, ip->i_uid, ip->i_gid);
	mem_uncharge_inode(fs);
	sf_tables_unlock(&fs->sf_tables);
	sf_obj_free(ip, sizeof(*ip));
}

/* Free @ip if nothing refers to it any more (last name, ref and open). */
void
node_put(struct shmemfs *fs, struct shmemfs_inode *ip)
{
	if (ip->i_nlink == 0 && ip->i_nlookup == 0 && ip->i_nopen == 0)
		node_free(fs, ip);
}

struct shmemfs_inode *
node_get(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_inode *ip;

	sf_tables_lock(&fs->sf_tables);
	ip = pageidx_lookup(&fs->sf_inodes, ino);
	sf_tables_unlock(&fs->sf_tables);
	return ip == NODE_UNPUBLISHED ? NULL : ip;
}

/* The live inode with the lowest number >= *@inop (set to it), or NULL. */
struct shmemfs_inode *
node_next(struct shmemfs *fs, uint64_t *inop)
{
	struct shmemfs_inode *ip;

	while ((ip = pageidx_next(&fs->sf_inodes, inop)) == NODE_UNPUBLISHED)
		++*inop;
	return ip;
}

void
node_fill_attr(const struct shmemfs_inode *ip, struct shmemfs_attr *out)
{
	struct stat *st = &out->sa_st;

	memset(out, 0, sizeof(*out));
	st->st_ino = ip->i_ino;
	st->st_mode = ip->i_mode;
	st->st_nlink = ip->i_nlink;
	st->st_uid = ip->i_uid;
	st->st_gid = ip->i_gid;
	st->st_rdev = S_ISCHR(ip->i_mode) || S_ISBLK(ip->i_mode) ? ip->i_rdev
								: 0;
	st->st_size = (off_t)ip->i_size;
	st->st_blksize = SF_PAGE_SIZE;
	if (sf_has_pages(ip))
		st->st_blocks = (blkcnt_t)(ip->i_blocks * (SF_PAGE_SIZE / 512));
	st->st_atim = node_time(ip, &ip->i_atime);
	st->st_mtim = node_time(ip, &ip->i_mtime);
	st->st_ctim = node_time(ip, &ip->i_ctime);
	out->sa_btime = node_time(ip, &ip->i_btime);
	out->sa_generation = ip->i_generation;
}

/* node_fill_attr(), with what depends on the mount: st_blksize is
 * 2 MiB where huge= gives the file huge pages. */
void
node_fill_attr_fs(const struct shmemfs *fs, const struct shmemfs_inode *ip,
		  struct shmemfs_attr *out)
{
	node_fill_attr(ip, out);
	out->sa_st.st_blksize = filemap_blksize(fs, ip);
}

static bool
ts_before_or_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/*
 * relatime, the tmpfs default: update atime only if it is not newer than
 * mtime or ctime, or is a day old.
 */
void
node_touch_atime(struct shmemfs_inode *ip)
{
	struct timespec now, atime, mtime, ctime;

	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	if (ip->i_flags & SHMEMFS_FL_NOATIME)
		return;
	sf_now(&now);
	atime = node_time(ip, &ip->i_atime);
	mtime = node_time(ip, &ip->i_mtime);
	ctime = node_time(ip, &ip->i_ctime);
	if (ts_before_or_eq(&atime, &mtime) || ts_before_or_eq(&atime, &ctime) ||
	    now.tv_sec - atime.tv_sec >= 24 * 3600)
		sf_now(&ip->i_atime);
}

/*
 * What notify_change() and the truncate calls refuse for the inode
 * flags: owner, mode and explicit times of an immutable or append-only
 * inode; "now" times of an immutable one (they need write access); the
 * size of an append-only one, and of an immutable one except through a
 * descriptor opened before (SHMEMFS_SET_FH).  The times a truncate sets
 * come with it and are not checked apart.
 */
static int
node_may_setattr(const struct shmemfs_inode *ip, unsigned valid)
{
	bool explicit_times =
	    ((valid & SHMEMFS_SET_ATIME) && !(valid & SHMEMFS_SET_ATIME_NOW)) ||
	    ((valid & SHMEMFS_SET_MTIME) && !(valid & SHMEMFS_SET_MTIME_NOW));

	if (!ip->i_flags)
		return 0;
	if (sf_is_locked(ip) &&
	    ((valid & (SHMEMFS_SET_MODE | SHMEMFS_SET_UID | SHMEMFS_SET_GID)) ||
	     explicit_times))
		return -EPERM;
	if (valid & SHMEMFS_SET_SIZE) {
		if (ip->i_flags & SHMEMFS_FL_APPEND)
			return -EPERM;
		if ((ip->i_flags & SHMEMFS_FL_IMMUTABLE) &&
		    !(valid & SHMEMFS_SET_FH))
			return -EPERM;
		return 0;
	}
	if ((ip->i_flags & SHMEMFS_FL_IMMUTABLE) &&
	    (valid & (SHMEMFS_SET_ATIME_NOW | SHMEMFS_SET_MTIME_NOW)))
		return -EPERM;
	return 0;
}

/* shmem_fileattr_set(): the flags tmpfs keeps, on files and dirs. */
int
node_setflags(struct shmemfs_inode *ip, unsigned flags)
{
	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	if (!S_ISREG(ip->i_mode) && !S_ISDIR(ip->i_mode))
		return -ENOTTY;
	if (flags & ~SHMEMFS_FL_SETTABLE)
		return -EOPNOTSUPP;
	ip->i_flags = flags;
	sf_now(&ip->i_ctime);
	return 0;
}

/* may_open(): see shmemfs_may_open(). */
int
node_may_open(const struct shmemfs_inode *ip, int oflags)
{
	bool write = (oflags & O_ACCMODE) != O_RDONLY;

	if (ip->i_flags & SHMEMFS_FL_IMMUTABLE && (write || oflags & O_TRUNC))
		return -EPERM;
	if (ip->i_flags & SHMEMFS_FL_APPEND &&
	    ((write && !(oflags & O_APPEND)) || oflags & O_TRUNC))
		return -EPERM;
	return 0;
}

/*
 * Apply the fields @valid selects.  Size first, since it is the only
 * step that can fail; nothing else has changed when it does.
 */
int
node_setattr(struct shmemfs *fs, struct shmemfs_inode *ip, unsigned valid,
	     const struct shmemfs_setattr *sa)
{
	sf_time_t now;
	int ret;

	SF_ASSERT(!sf_mutex_shared()); /* a change: not under shared */
	ret = node_may_setattr(ip, valid);
	if (ret)
		return ret;
	valid &= ~SHMEMFS_SET_FH;
	/*
	 * A far time (outside 1677-2262) needs memory: take it first, so
	 * that the node_set_time() calls below cannot fail.
	 */
	if (valid & (SHMEMFS_SET_ATIME | SHMEMFS_SET_MTIME | SHMEMFS_SET_CTIME)) {
		sf_time_t v;

		if ((((valid & SHMEMFS_SET_ATIME) &&
		      !(valid & SHMEMFS_SET_ATIME_NOW) &&
		      !node_time_fits(&sa->ss_atime, &v)) ||
		     ((valid & SHMEMFS_SET_MTIME) &&
		      !(valid & SHMEMFS_SET_MTIME_NOW) &&
		      !node_time_fits(&sa->ss_mtime, &v)) ||
		     ((valid & SHMEMFS_SET_CTIME) &&
		      !node_time_fits(&sa->ss_ctime, &v))) &&
		    node_far_reserve(ip))
			return -ENOMEM;
	}
	/*
	 * chown moves the quota charge first (dquot_transfer() in
	 * shmem_setattr()), and the ids with it, so that the truncate
	 * below uncharges the owner that now holds the blocks.
	 */
	if (valid & (SHMEMFS_SET_UID | SHMEMFS_SET_GID)) {
		uid_t nuid = valid & SHMEMFS_SET_UID ? sa->ss_uid : ip->i_uid;
		gid_t ngid = valid & SHMEMFS_SET_GID ? sa->ss_gid : ip->i_gid;

		ret = mem_quota_transfer(fs, ip->i_uid, ip->i_gid, nuid, ngid,
					 sf_has_pages(ip) ? ip->i_blocks : 0);
		if (ret)
			return ret;
		ip->i_uid = nuid;
		ip->i_gid = ngid;
	}
	if (valid & SHMEMFS_SET_SIZE) {
		if (S_ISDIR(ip->i_mode))
			return -EISDIR;
		if (!S_ISREG(ip->i_mode))
			return -EINVAL;
		if (sa->ss_size > (uint64_t)SHMEMFS_MAX_FILESIZE)
			return -EFBIG;
		mem_quota_bind(fs, ip->i_uid, ip->i_gid);
		ret = filemap_truncate(fs, ip, sa->ss_size);
		mem_quota_unbind(fs);
		if (ret)
			return ret;
	}
	sf_now(&now);
	if (valid & SHMEMFS_SET_MODE) {
		ip->i_mode = (ip->i_mode & S_IFMT) | (sa->ss_mode & 07777);
		acl_chmod(ip);
	}
	if (valid & SHMEMFS_SET_UID)
		ip->i_uid = sa->ss_uid;
	if (valid & SHMEMFS_SET_GID)
		ip->i_gid = sa->ss_gid;
	if (valid & SHMEMFS_SET_ATIME_NOW)
		ip->i_atime = now;
	else if (valid & SHMEMFS_SET_ATIME)
		(void)node_set_time(ip, &ip->i_atime, &sa->ss_atime);
	if (valid & SHMEMFS_SET_MTIME_NOW)
		ip->i_mtime = now;
	else if (valid & SHMEMFS_SET_MTIME)
		(void)node_set_time(ip, &ip->i_mtime, &sa->ss_mtime);
	/*
	 * Every setattr stamps ctime (the VFS adds ATTR_CTIME), even one
	 * that changes nothing, like chown(-1, -1), whose FUSE request
	 * arrives with no field set; only a size-only call leaves it to
	 * filemap_truncate(), which stamps it when the size changes or
	 * the file has pages.
	 */
	if (valid & SHMEMFS_SET_CTIME)
		(void)node_set_time(ip, &ip->i_ctime, &sa->ss_ctime);
	else if (valid != SHMEMFS_SET_SIZE)
		ip->i_ctime = now;
	return 0;
}
