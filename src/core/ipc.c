/* SPDX-License-Identifier: MIT */
/*
 * ipc.c - shared memory of a mount: the SysV IPC table (ipc/shm.c and
 * ipc/util.c's part of the kernel), memfds and their seals
 * (mm/memfd.c).  The contract is in include/shmemfs_ipc.h.
 *
 * The table (struct sf_ipc) is an array of shmmni-at-most slots; a
 * segment's id is seq * IPCMNI + index, the index handed out cyclically
 * as the kernel's ipc_idr_alloc() does (over max(in_use * 3/2, 64)
 * slots, seq bumped when the index wraps), so ids come out as the
 * kernel's do.
 *
 * Each segment owns one inode (i_ipc_kind SF_IPC_SHM) that no directory
 * holds.  The table pins it with one lookup reference (i_nlookup), the
 * count node_put() already respects, so an inode lives while the table
 * holds it or the front end has it looked up or open.  The segment is
 * destroyed (slot freed, data dropped, pin released) at IPC_RMID with
 * nattch 0, or at the last detach after IPC_RMID (SHM_DEST).
 *
 * Invariants (=> sf_lock held):
 *   si_in_use == slots in use;  si_tot == sum of the segments' pages
 *   ss_nattch == open files of ss_ip that shmemfs_ipc_open() accepted
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <linux/memfd.h>
#include <sodium.h>

#include "filemap.h"
#include "fs.h"
#include "ipc.h"
#include "node.h"
#include "shmemfs_ipc.h"

#define LOCK(fs)   sf_mutex_lock(&(fs)->sf_lock)
#define UNLOCK(fs) sf_mutex_unlock(&(fs)->sf_lock)

#define IPC_ALL_SEALS                                                          \
	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |            \
	 F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

#define IPC_MIN_CYCLE 64 /* RADIX_TREE_MAP_SIZE, ipc_min_cycle */
#define IPC_SEQ_MAX   (INT32_MAX >> 15)

struct sf_shmseg {
	int ss_idx;
	int ss_seq;
	int32_t ss_key;
	uid_t ss_uid, ss_cuid;
	gid_t ss_gid, ss_cgid;
	mode_t ss_mode; /* 0777 | SHM_DEST | SHM_LOCKED */
	uint64_t ss_segsz;
	pid_t ss_cpid, ss_lpid;
	int64_t ss_atime, ss_dtime, ss_ctime;
	uint64_t ss_nattch;
	struct shmemfs_inode *ss_ip;
};

struct sf_ipc {
	struct sf_shmseg *si_slots[SHMEMFS_IPCMNI];
	int si_in_use;
	int si_last_idx; /* -1 before the first */
	int si_seq;
	int si_hwm;      /* every slot in use is below it: scans stop there */
	uint64_t si_tot; /* pages of all segments (shm_tot) */
};

static int64_t
ipc_now(void)
{
	struct timespec ts;

	sf_now(&ts);
	return ts.tv_sec;
}

static int
ipc_table(struct shmemfs *fs, struct sf_ipc **ipcp)
{
	if (!fs->sf_ipc) {
		fs->sf_ipc = sf_calloc(1, sizeof(*fs->sf_ipc));
		if (!fs->sf_ipc)
			return -ENOMEM;
		fs->sf_ipc->si_last_idx = -1;
	}
	*ipcp = fs->sf_ipc;
	return 0;
}

void
ipc_destroy(struct shmemfs *fs)
{
	int i;

	if (!fs->sf_ipc)
		return;
	/* The inodes are freed with the inode table. */
	for (i = 0; i < fs->sf_ipc->si_hwm; i++)
		free(fs->sf_ipc->si_slots[i]);
	free(fs->sf_ipc);
	fs->sf_ipc = NULL;
}

static int
ipc_id(const struct sf_shmseg *ss)
{
	return ss->ss_seq * SHMEMFS_IPCMNI + ss->ss_idx;
}

static uint64_t
ipc_shmmni(const struct shmemfs *fs)
{
	uint64_t n = fs->sf_opts.so_shmmni;

	return n > SHMEMFS_IPCMNI ? SHMEMFS_IPCMNI : n;
}

/* ipc_obtain_object_check(): the segment of @id, or NULL. */
static struct sf_shmseg *
ipc_find_id(struct shmemfs *fs, int id)
{
	struct sf_shmseg *ss;

	if (!fs->sf_ipc || id < 0)
		return NULL;
	ss = fs->sf_ipc->si_slots[id % SHMEMFS_IPCMNI];
	if (!ss || ss->ss_seq != id / SHMEMFS_IPCMNI)
		return NULL;
	return ss;
}

static struct sf_shmseg *
ipc_find_key(struct shmemfs *fs, int32_t key)
{
	int i;

	if (!fs->sf_ipc)
		return NULL;
	for (i = 0; i < fs->sf_ipc->si_hwm; i++) {
		struct sf_shmseg *ss = fs->sf_ipc->si_slots[i];

		if (ss && ss->ss_key == key && !(ss->ss_mode & SHM_DEST))
			return ss;
	}
	return NULL;
}

static bool
ipc_in_group(const struct shmemfs_cred *cr, gid_t gid)
{
	if (cr->cr_gid == gid)
		return true;
	return cr->cr_in_group && cr->cr_in_group(cr, gid);
}

static bool
ipc_capable(const struct shmemfs_cred *cr, unsigned cap)
{
	return cr->cr_capable && cr->cr_capable(cr, cap);
}

/*
 * ipcperms(): 0 or -EACCES.  @flag holds the requested bits in any of
 * the three positions (0444 read, 0222 write), as the kernel's callers
 * pass them.
 */
static int
ipc_perms(const struct shmemfs_cred *cr, const struct sf_shmseg *ss,
	  unsigned flag)
{
	unsigned requested = (flag >> 6) | (flag >> 3) | flag;
	unsigned granted = ss->ss_mode;

	if (cr->cr_uid == ss->ss_cuid || cr->cr_uid == ss->ss_uid)
		granted >>= 6;
	else if (ipc_in_group(cr, ss->ss_cgid) || ipc_in_group(cr, ss->ss_gid))
		granted >>= 3;
	if ((requested & ~granted & 0007) &&
	    !ipc_capable(cr, SHMEMFS_CAP_IPC_OWNER))
		return -EACCES;
	return 0;
}

/* The owner, the creator, or CAP_SYS_ADMIN (ipcctl_obtain_check()). */
static bool
ipc_may_change(const struct shmemfs_cred *cr, const struct sf_shmseg *ss)
{
	return cr->cr_uid == ss->ss_cuid || cr->cr_uid == ss->ss_uid ||
	       ipc_capable(cr, SHMEMFS_CAP_SYS_ADMIN);
}

static uint64_t
ipc_pages(uint64_t size)
{
	return size / SF_PAGE_SIZE + !!(size % SF_PAGE_SIZE);
}

/* ipc_idr_alloc(): a free index, cyclically; -ENOSPC if none. */
static int
ipc_alloc_idx(struct shmemfs *fs, struct sf_ipc *ipc)
{
	int max_idx = ipc->si_in_use * 3 / 2;
	int i, idx;

	if (max_idx < IPC_MIN_CYCLE)
		max_idx = IPC_MIN_CYCLE;
	if ((uint64_t)max_idx > ipc_shmmni(fs))
		max_idx = (int)ipc_shmmni(fs);
	if (max_idx > SHMEMFS_IPCMNI)
		max_idx = SHMEMFS_IPCMNI;
	for (i = 0; i < max_idx; i++) {
		idx = (ipc->si_last_idx + 1 + i) % max_idx;
		if (!ipc->si_slots[idx])
			goto found;
	}
	return -ENOSPC;
found:
	if (idx <= ipc->si_last_idx) {
		ipc->si_seq++;
		if (ipc->si_seq >= IPC_SEQ_MAX)
			ipc->si_seq = 0;
	}
	ipc->si_last_idx = idx;
	if (idx >= ipc->si_hwm)
		ipc->si_hwm = idx + 1;
	return idx;
}

/* newseg(): the checks and limits first, then the inode and the slot. */
static int
ipc_newseg(struct shmemfs *fs, const struct shmemfs_cred *cr, int32_t key,
	   uint64_t size, int shmflg)
{
	uint64_t pages = ipc_pages(size);
	struct shmemfs_inode *ip;
	struct sf_shmseg *ss;
	struct sf_ipc *ipc;
	int ret, idx;

	if (size < 1 || size > fs->sf_opts.so_shmmax)
		return -EINVAL;
	if (pages > UINT64_MAX / SF_PAGE_SIZE)
		return -ENOSPC;
	ret = ipc_table(fs, &ipc);
	if (ret)
		return ret;
	if (ipc->si_tot + pages < ipc->si_tot ||
	    ipc->si_tot + pages > fs->sf_opts.so_shmall)
		return -ENOSPC;
	/* shmem_file_setup(): no file beyond MAX_LFS_FILESIZE */
	if (size > (uint64_t)SHMEMFS_MAX_FILESIZE)
		return -EINVAL;
	/*
	 * The kernel charges a segment made without SHM_NORESERVE to the
	 * overcommit accounting, which refuses one larger than memory and
	 * swap can hold (ENOMEM); a mount's memory and swap are its size=.
	 */
	if (!(shmflg & SHM_NORESERVE) && mem_blocks_max(fs) &&
	    pages > mem_blocks_max(fs))
		return -ENOMEM;
	if ((uint64_t)ipc->si_in_use >= ipc_shmmni(fs))
		return -ENOSPC;
	ss = sf_calloc(1, sizeof(*ss));
	if (!ss)
		return -ENOMEM;
	/*
	 * Mode 0666 owned by root: the kernel's default_permissions check
	 * passes every open to us, and shmemfs_ipc_open() does ipcperms().
	 */
	ret = node_new(fs, S_IFREG | 0666, 0, 0, 0, &ip);
	if (ret)
		goto out_free_seg;
	idx = ipc_alloc_idx(fs, ipc);
	if (idx < 0) {
		ret = idx;
		goto out_free_inode;
	}
	ip->i_ipc_kind = SF_IPC_SHM;
	/* SHM_HUGETLB: huge folios where the mount's huge= allows advice */
	ip->i_huge_advised = (shmflg & SHM_HUGETLB) != 0;
	/* A segment has its size for life: shm_file_operations have no
	 * truncate, so a descriptor of it may not change it either. */
	ip->i_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW;
	ip->i_size = size;
	ip->i_nlookup = 1; /* the table's pin */
	ss->ss_ip = ip;
	ss->ss_idx = idx;
	ss->ss_seq = ipc->si_seq;
	ss->ss_key = key;
	ss->ss_uid = ss->ss_cuid = cr->cr_uid;
	ss->ss_gid = ss->ss_cgid = cr->cr_gid;
	ss->ss_mode = (mode_t)shmflg & 0777;
	ss->ss_segsz = size;
	ss->ss_cpid = cr->cr_pid;
	ss->ss_ctime = ipc_now();
	ipc->si_slots[idx] = ss;
	ipc->si_in_use++;
	ipc->si_tot += pages;
	return ipc_id(ss);

out_free_inode:
	node_put(fs, ip);
out_free_seg:
	free(ss);
	return ret;
}

int
shmemfs_shm_get(struct shmemfs *fs, const struct shmemfs_cred *cr, int32_t key,
		uint64_t size, int shmflg)
{
	struct sf_shmseg *ss;
	int ret;

	LOCK(fs);
	if (key == IPC_PRIVATE) {
		ret = ipc_newseg(fs, cr, key, size, shmflg);
		goto out;
	}
	ss = ipc_find_key(fs, key);
	if (!ss) {
		ret = (shmflg & IPC_CREAT)
			  ? ipc_newseg(fs, cr, key, size, shmflg)
			  : -ENOENT;
		goto out;
	}
	/* ipcget_public(): EEXIST, then shm_more_checks(), then perms */
	if ((shmflg & IPC_CREAT) && (shmflg & IPC_EXCL))
		ret = -EEXIST;
	else if (ss->ss_segsz < size)
		ret = -EINVAL;
	else if (ipc_perms(cr, ss, (unsigned)shmflg))
		ret = -EACCES;
	else
		ret = ipc_id(ss);
out:
	UNLOCK(fs);
	return ret;
}

int
shmemfs_shm_lookup(struct shmemfs *fs, int shmid, struct shmemfs_attr *out)
{
	struct sf_shmseg *ss;
	int ret = -ENOENT;

	LOCK(fs);
	ss = ipc_find_id(fs, shmid);
	if (ss) {
		ss->ss_ip->i_nlookup++;
		node_fill_attr(ss->ss_ip, out);
		ret = 0;
	}
	UNLOCK(fs);
	return ret;
}

/* The segment whose inode is @ip, or NULL. */
static struct sf_shmseg *
ipc_find_inode(struct shmemfs *fs, const struct shmemfs_inode *ip)
{
	int i;

	if (ip->i_ipc_kind != SF_IPC_SHM || !fs->sf_ipc)
		return NULL;
	for (i = 0; i < fs->sf_ipc->si_hwm; i++) {
		struct sf_shmseg *ss = fs->sf_ipc->si_slots[i];

		if (ss && ss->ss_ip == ip)
			return ss;
	}
	return NULL;
}

/*
 * shm_destroy(): free the slot and drop the pin.  The data goes now even
 * if the front end still has the inode looked up (its handle is only a
 * name for a segment that no longer exists).
 */
static void
ipc_shm_destroy(struct shmemfs *fs, struct sf_shmseg *ss)
{
	struct shmemfs_inode *ip = ss->ss_ip;
	struct sf_ipc *ipc = fs->sf_ipc;

	ipc->si_slots[ss->ss_idx] = NULL;
	ipc->si_in_use--;
	ipc->si_tot -= ipc_pages(ss->ss_segsz);
	free(ss);
	ip->i_ipc_kind = SF_IPC_SHM_GONE; /* opens get EIDRM */
	ip->i_pages.pi_unevictable = false;
	if (ip->i_nopen == 0) {
		ip->i_seals = 0;
		/* the freed blocks leave the owner's quota (mem.c) */
		mem_quota_bind(fs, ip->i_uid, ip->i_gid);
		(void)filemap_truncate(fs, ip, 0);
		mem_quota_unbind(fs);
	}
	SF_ASSERT(ip->i_nlookup > 0);
	ip->i_nlookup--;
	node_put(fs, ip);
}

static void
ipc_fill_ds(struct shmemfs *fs, const struct sf_shmseg *ss,
	    struct shmemfs_shmid_ds *ds)
{
	uint64_t swp = filemap_count_swapped(ss->ss_ip);

	(void)fs;
	memset(ds, 0, sizeof(*ds));
	ds->sd_key = ss->ss_key;
	ds->sd_id = ipc_id(ss);
	ds->sd_uid = ss->ss_uid;
	ds->sd_gid = ss->ss_gid;
	ds->sd_cuid = ss->ss_cuid;
	ds->sd_cgid = ss->ss_cgid;
	ds->sd_mode = ss->ss_mode;
	ds->sd_seq = (uint32_t)ss->ss_seq;
	ds->sd_segsz = ss->ss_segsz;
	ds->sd_atime = ss->ss_atime;
	ds->sd_dtime = ss->ss_dtime;
	ds->sd_ctime = ss->ss_ctime;
	ds->sd_cpid = ss->ss_cpid;
	ds->sd_lpid = ss->ss_lpid;
	ds->sd_nattch = ss->ss_nattch;
	ds->sd_ino = ss->ss_ip->i_ino;
	ds->sd_swp = swp;
	ds->sd_rss = ss->ss_ip->i_blocks - swp;
}

/* shmctl_do_lock() */
static int
ipc_shm_lock(const struct shmemfs_cred *cr, struct sf_shmseg *ss, int cmd)
{
	if (!ipc_capable(cr, SHMEMFS_CAP_IPC_LOCK)) {
		if (cr->cr_uid != ss->ss_uid && cr->cr_uid != ss->ss_cuid)
			return -EPERM;
		if (cmd == SHM_LOCK &&
		    (!cr->cr_memlock || cr->cr_memlock(cr) == 0))
			return -EPERM;
	}
	if (cmd == SHM_LOCK) {
		ss->ss_mode |= SHM_LOCKED;
		ss->ss_ip->i_pages.pi_unevictable = true;
	} else {
		ss->ss_mode &= ~(mode_t)SHM_LOCKED;
		ss->ss_ip->i_pages.pi_unevictable = false;
	}
	return 0;
}

int
shmemfs_shm_ctl(struct shmemfs *fs, const struct shmemfs_cred *cr, int shmid,
		int cmd, struct shmemfs_shmid_ds *ds)
{
	struct sf_shmseg *ss;
	int ret = 0;

	if (cmd < 0 || shmid < 0)
		return -EINVAL;
	LOCK(fs);
	switch (cmd) {
	case SHM_STAT:
	case SHM_STAT_ANY:
		/* shmid is an index here */
		ss = fs->sf_ipc && shmid < SHMEMFS_IPCMNI
			 ? fs->sf_ipc->si_slots[shmid]
			 : NULL;
		goto stat;
	case IPC_STAT:
		ss = ipc_find_id(fs, shmid);
	stat:
		if (!ss) {
			ret = -EINVAL;
			break;
		}
		if (cmd != SHM_STAT_ANY && ipc_perms(cr, ss, 0444)) {
			ret = -EACCES;
			break;
		}
		ipc_fill_ds(fs, ss, ds);
		ret = cmd == IPC_STAT ? 0 : ipc_id(ss);
		break;
	case SHM_LOCK:
	case SHM_UNLOCK:
		ss = ipc_find_id(fs, shmid);
		ret = ss ? ipc_shm_lock(cr, ss, cmd) : -EINVAL;
		break;
	case IPC_SET:
	case IPC_RMID:
		ss = ipc_find_id(fs, shmid);
		if (!ss) {
			ret = -EINVAL;
			break;
		}
		if (!ipc_may_change(cr, ss)) {
			ret = -EPERM;
			break;
		}
		if (cmd == IPC_SET) {
			/* ipc_update_perm(): (uid_t)-1 is no valid id */
			if (ds->sd_uid == (uint32_t)-1 ||
			    ds->sd_gid == (uint32_t)-1) {
				ret = -EINVAL;
				break;
			}
			ss->ss_uid = ds->sd_uid;
			ss->ss_gid = ds->sd_gid;
			ss->ss_mode =
			    (ss->ss_mode & ~0777u) | (ds->sd_mode & 0777);
			ss->ss_ctime = ipc_now();
		} else if (ss->ss_nattch) {
			/* do_shm_rmid(): lives on, private, until detached */
			ss->ss_mode |= SHM_DEST;
			ss->ss_key = IPC_PRIVATE;
		} else {
			if (ds)
				ds->sd_ino = ss->ss_ip->i_ino;
			ipc_shm_destroy(fs, ss);
		}
		break;
	default:
		ret = -EINVAL;
	}
	UNLOCK(fs);
	return ret;
}

int
shmemfs_shm_info(struct shmemfs *fs, struct shmemfs_shminfo *si)
{
	struct sf_ipc *ipc;
	int i;

	memset(si, 0, sizeof(*si));
	LOCK(fs);
	si->si_shmmax = fs->sf_opts.so_shmmax;
	si->si_shmmin = 1;
	si->si_shmmni = fs->sf_opts.so_shmmni;
	si->si_shmseg = SHMEMFS_SHMMNI; /* SHMSEG */
	si->si_shmall = fs->sf_opts.so_shmall;
	ipc = fs->sf_ipc;
	if (ipc) {
		si->si_used_ids = ipc->si_in_use;
		si->si_shm_tot = ipc->si_tot;
		for (i = 0; i < ipc->si_hwm; i++) {
			struct sf_shmseg *ss = ipc->si_slots[i];
			uint64_t swp;

			if (!ss)
				continue;
			si->si_max_idx = i;
			swp = filemap_count_swapped(ss->ss_ip);
			si->si_shm_swp += swp;
			si->si_shm_rss += ss->ss_ip->i_blocks - swp;
		}
	}
	UNLOCK(fs);
	return si->si_max_idx;
}

int
shmemfs_shm_list(struct shmemfs *fs, int start, struct shmemfs_shmid_ds *ds,
		 size_t n)
{
	size_t found = 0;
	int i;

	LOCK(fs);
	for (i = start < 0 ? 0 : start;
	     fs->sf_ipc && i < fs->sf_ipc->si_hwm && found < n; i++) {
		struct sf_shmseg *ss = fs->sf_ipc->si_slots[i];

		if (ss)
			ipc_fill_ds(fs, ss, &ds[found++]);
	}
	UNLOCK(fs);
	return (int)found;
}

int
shmemfs_ipc_open(struct shmemfs *fs, const struct shmemfs_cred *cr,
		 uint64_t ino, int accmode)
{
	struct shmemfs_inode *ip;
	struct sf_shmseg *ss;
	int ret = 0;

	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (!ip) {
		ret = -ESTALE;
		goto out;
	}
	if (ip->i_ipc_kind == SF_IPC_SHM_GONE) {
		ret = -EIDRM; /* destroyed between lookup and open */
		goto out;
	}
	if (ip->i_ipc_kind == SF_IPC_SHM) {
		ss = ipc_find_inode(fs, ip);
		if (!ss) {
			ret = -EIDRM;
			goto out;
		}
		if (ipc_perms(cr, ss, accmode == O_RDONLY ? 0444 : 0666)) {
			ret = -EACCES;
			goto out;
		}
		ss->ss_nattch++;
		ss->ss_atime = ipc_now();
		ss->ss_lpid = cr->cr_pid;
		ret = 1;
	} else if (ip->i_ipc_kind == SF_IPC_MEMFD_NEW) {
		/* The first open takes over the creation pin. */
		ip->i_ipc_kind = SF_IPC_MEMFD;
		SF_ASSERT(ip->i_nlookup > 0);
		ip->i_nlookup--;
	}
	ip->i_nopen++;
out:
	UNLOCK(fs);
	return ret;
}

void
shmemfs_ipc_release(struct shmemfs *fs, pid_t pid, uint64_t ino)
{
	struct shmemfs_inode *ip;
	struct sf_shmseg *ss;

	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (!ip)
		goto out;
	SF_ASSERT(ip->i_nopen > 0);
	if (ip->i_nopen)
		ip->i_nopen--;
	ss = ipc_find_inode(fs, ip);
	if (ss && ss->ss_nattch) {
		ss->ss_nattch--;
		ss->ss_dtime = ipc_now();
		if (pid > 0)
			ss->ss_lpid = pid;
		if (ss->ss_nattch == 0 && (ss->ss_mode & SHM_DEST)) {
			ipc_shm_destroy(fs, ss); /* may free ip */
			goto out;
		}
	}
	if (S_ISREG(ip->i_mode))
		filemap_last_close(fs, ip); /* huge pages: collapse */
	node_put(fs, ip);
out:
	UNLOCK(fs);
}

/* ---- memfd and seals ---------------------------------------------- */

/*
 * A memfd's handle carries SipHash(mount key, ino, generation): only a
 * process told the handle (the creator, or one that may read its
 * /proc/PID/fd links, which already lets it open the file) can name it.
 */
static uint64_t
ipc_memfd_nonce(struct shmemfs *fs, const struct shmemfs_inode *ip)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t in[2] = {ip->i_ino, ip->i_generation};
	uint64_t v;

	if (!fs->sf_ipc_key_set) {
		randombytes_buf(fs->sf_ipc_key, sizeof(fs->sf_ipc_key));
		fs->sf_ipc_key_set = true;
	}
	crypto_shorthash(out, (const unsigned char *)in, sizeof(in),
			 fs->sf_ipc_key);
	memcpy(&v, out, sizeof(v));
	return v;
}

int
shmemfs_memfd_create(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		     unsigned flags, uint64_t *ino, uint64_t *nonce)
{
	struct shmemfs_inode *ip;
	mode_t mode = 0777;
	int ret;

	if ((flags & MFD_EXEC) && (flags & MFD_NOEXEC_SEAL))
		return -EINVAL;
	if (flags & MFD_NOEXEC_SEAL)
		mode = 0666;
	LOCK(fs);
	ret = node_new(fs, S_IFREG | mode, ctx->sc_uid, ctx->sc_gid, 0, &ip);
	if (ret)
		goto out;
	ip->i_ipc_kind = SF_IPC_MEMFD_NEW;
	ip->i_huge_advised = (flags & MFD_HUGETLB) != 0;
	ip->i_nlookup = 1; /* the creation pin, until the first open */
	if (flags & MFD_NOEXEC_SEAL)
		ip->i_seals = F_SEAL_EXEC;
	else if (flags & MFD_ALLOW_SEALING)
		ip->i_seals = 0;
	else
		ip->i_seals = F_SEAL_SEAL;
	*ino = ip->i_ino;
	*nonce = ipc_memfd_nonce(fs, ip);
out:
	UNLOCK(fs);
	return ret;
}

int
shmemfs_memfd_lookup(struct shmemfs *fs, uint64_t ino, uint64_t nonce,
		     struct shmemfs_attr *out)
{
	struct shmemfs_inode *ip;
	int ret = -ENOENT;

	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (ip &&
	    (ip->i_ipc_kind == SF_IPC_MEMFD ||
	     ip->i_ipc_kind == SF_IPC_MEMFD_NEW) &&
	    ipc_memfd_nonce(fs, ip) == nonce) {
		ip->i_nlookup++;
		node_fill_attr(ip, out);
		ret = 0;
	}
	UNLOCK(fs);
	return ret;
}

/* What F_GET_SEALS reports: files not made as memfds are sealed. */
static unsigned
ipc_seals(const struct shmemfs_inode *ip)
{
	if (ip->i_ipc_kind == SF_IPC_MEMFD ||
	    ip->i_ipc_kind == SF_IPC_MEMFD_NEW)
		return ip->i_seals;
	return ip->i_seals | F_SEAL_SEAL;
}

int
shmemfs_seals_get(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_inode *ip;
	int ret;

	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (!ip)
		ret = -ESTALE;
	else if (!S_ISREG(ip->i_mode))
		ret = -EINVAL;
	else
		ret = (int)ipc_seals(ip);
	UNLOCK(fs);
	return ret;
}

/* memfd_add_seals(), after the caller checked the file is writable. */
int
shmemfs_seals_add(struct shmemfs *fs, uint64_t ino, unsigned seals,
		  int writable_mapped)
{
	struct shmemfs_inode *ip;
	int ret = 0;

	if (seals & ~(unsigned)IPC_ALL_SEALS)
		return -EINVAL;
	/* as memfd_add_seals() takes inode_lock: no write is half done */
	dlock_write(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (!ip) {
		ret = -ESTALE;
		goto out;
	}
	if (!S_ISREG(ip->i_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if (ipc_seals(ip) & F_SEAL_SEAL) {
		ret = -EPERM;
		goto out;
	}
	if ((seals & F_SEAL_WRITE) && !(ip->i_seals & F_SEAL_WRITE) &&
	    writable_mapped) {
		ret = -EBUSY;
		goto out;
	}
	/* F_SEAL_EXEC on an executable file implies the write seals. */
	if ((seals & F_SEAL_EXEC) && (ip->i_mode & 0111))
		seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
			 F_SEAL_FUTURE_WRITE;
	ip->i_seals |= seals;
out:
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}

/*
 * shmem_write_begin(): with F_SEAL_WRITE or FUTURE_WRITE nothing, with
 * F_SEAL_GROW only the page-sized chunks that end within the size (the
 * kernel copies page by page and stops at the first refused one).
 */
ssize_t
ipc_seal_write(const struct shmemfs_inode *ip, uint64_t off, size_t len)
{
	uint64_t end, allowed;

	if (ip->i_seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		return -EPERM;
	if (!(ip->i_seals & F_SEAL_GROW) || off + len <= ip->i_size)
		return (ssize_t)len;
	end = ip->i_size & ~(uint64_t)(SF_PAGE_SIZE - 1);
	if (end <= off)
		return -EPERM;
	allowed = end - off;
	return (ssize_t)(allowed < len ? allowed : len);
}

/* shmem_setattr(): the size against SHRINK/GROW, the mode against EXEC. */
int
ipc_seal_setattr(const struct shmemfs_inode *ip, unsigned valid,
		 const struct shmemfs_setattr *sa)
{
	if (valid & SHMEMFS_SET_SIZE) {
		if ((sa->ss_size < ip->i_size &&
		     (ip->i_seals & F_SEAL_SHRINK)) ||
		    (sa->ss_size > ip->i_size && (ip->i_seals & F_SEAL_GROW)))
			return -EPERM;
	}
	if ((valid & SHMEMFS_SET_MODE) && (ip->i_seals & F_SEAL_EXEC) &&
	    ((ip->i_mode ^ sa->ss_mode) & 0111))
		return -EPERM;
	return 0;
}

/* shmem_fallocate(): punching needs no write seal, growing no GROW. */
int
ipc_seal_fallocate(const struct shmemfs_inode *ip, int mode, int64_t off,
		   int64_t len)
{
	if (mode & SHMEMFS_FALLOC_PUNCH_HOLE)
		return (ip->i_seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
			   ? -EPERM
			   : 0;
	if ((ip->i_seals & F_SEAL_GROW) &&
	    (uint64_t)off + (uint64_t)len > ip->i_size)
		return -EPERM;
	return 0;
}

/* A write from the page cache of a mapping (FUSE writepage). */
ssize_t
shmemfs_write_mapped(struct shmemfs *fs, uint64_t ino, const void *buf,
		     size_t size, int64_t off)
{
	struct shmemfs_inode *ip;
	ssize_t ret;

	if (off < 0 || size > (uint64_t)INT64_MAX - (uint64_t)off)
		return -EINVAL;
	/* copies under sf_lock, but a read may be copying without it */
	dlock_write(&fs->sf_dlocks, ino);
	LOCK(fs);
	ip = ino ? node_get(fs, ino) : NULL;
	if (!ip) {
		ret = -ESTALE;
	} else if (!S_ISREG(ip->i_mode)) {
		ret = -EINVAL;
	} else if (ip->i_seals & F_SEAL_WRITE) {
		/* No writable mapping can exist: the kernel's rule. */
		ret = -EPERM;
	} else {
		/*
		 * F_SEAL_FUTURE_WRITE leaves mappings made before it
		 * writable, and the page cache cannot grow the file.
		 */
		if (off >= 0 && (uint64_t)off >= ip->i_size)
			ret = 0;
		else {
			if ((uint64_t)off + size > ip->i_size)
				size = ip->i_size - (uint64_t)off;
			mem_quota_bind(fs, ip->i_uid, ip->i_gid);
			ret = filemap_write(fs, ip, buf, size, (uint64_t)off);
			mem_quota_unbind(fs);
		}
	}
	UNLOCK(fs);
	dlock_unlock(&fs->sf_dlocks, ino);
	return ret;
}
