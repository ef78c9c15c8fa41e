/* SPDX-License-Identifier: MIT */
/*
 * shmemfs_ipc.h - shared memory of a mount: the SysV IPC table, memfds
 * and file seals (libshmemfs, src/core/ipc.c).
 *
 * A mount is an IPC namespace.  Its SysV segments and memfds are inodes
 * of the mount that no directory holds, as the kernel keeps them on its
 * internal shm_mnt: no name reaches them, readdir shows none of them,
 * and they are charged to size=, mem=, swap and the stats like any
 * file.  The front end resolves "handles" (names it reserves, see
 * SHMEMFS_IPC_PREFIX) to them with shmemfs_shm_lookup() and
 * shmemfs_memfd_lookup(), and decides every open with
 * shmemfs_ipc_open(), which is where a SysV attach is checked and
 * counted.
 *
 * Every decision is taken here from a struct shmemfs_cred the front end
 * filled from the request (never from the preload library's say-so):
 * ipcperms() with the caller's ids and groups, CAP_IPC_OWNER,
 * CAP_SYS_ADMIN and CAP_IPC_LOCK as the kernel's shm.c treats them, and
 * the mount's shmmax=/shmall=/shmmni= limits.  Errnos and their order
 * are the kernel's (ipc/shm.c, ipc/util.c).
 *
 * nattch
 * ------
 * An attachment is an open file of the segment's inode: the preload
 * library opens the handle, maps it and closes the descriptor, so the
 * mapping holds the open file, and the kernel sends the release when the
 * last mapping of it goes (shmdt, exit, exec, kill -9 alike).  A forked
 * child re-opens and re-maps each segment (pthread_atfork), so it holds
 * an open file of its own.  nattch is therefore the number of open files
 * of the inode, counted by shmemfs_ipc_open()/shmemfs_ipc_release(), and
 * cannot go stale when a process dies.
 *
 * All calls take the mount's lock; they return 0, a count or -errno.
 */
#ifndef SHMEMFS_IPC_H
#define SHMEMFS_IPC_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/memfd.h>

#include "shmemfs.h"

/* Seals and memfd_create() flags newer than Debian 12's headers. */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Names under the mount root that the daemon keeps for handles. */
#define SHMEMFS_IPC_PREFIX    "#shmemfs:"
#define SHMEMFS_IPC_SHM_FMT   SHMEMFS_IPC_PREFIX "shm:%d"
#define SHMEMFS_IPC_MEMFD_FMT SHMEMFS_IPC_PREFIX "memfd:%llu:%016llx:"

/* The kernel's defaults (include/uapi/linux/shm.h). */
#define SHMEMFS_SHMMNI 4096
#define SHMEMFS_SHMMAX (UINT64_MAX - (1ull << 24))
#define SHMEMFS_SHMALL (UINT64_MAX - (1ull << 24))
#define SHMEMFS_IPCMNI 32768

#define SHMEMFS_CAP_IPC_OWNER (1u << 0)
#define SHMEMFS_CAP_SYS_ADMIN (1u << 1)
#define SHMEMFS_CAP_IPC_LOCK  (1u << 2)

/*
 * Who asks: the ids and pid from the request; groups, capabilities and
 * RLIMIT_MEMLOCK are asked for only when a check needs them (as the
 * kernel calls in_group_p() and ns_capable() only then), since they
 * cost the front end a read of /proc.  A NULL callback answers "no"
 * (and a memlock limit of 0).
 */
struct shmemfs_cred {
	uid_t cr_uid;
	gid_t cr_gid;
	pid_t cr_pid;  /* 0: unknown */
	void *cr_priv; /* the front end's, for the callbacks */
	bool (*cr_in_group)(const struct shmemfs_cred *cr, gid_t gid);
	/* @cap: one SHMEMFS_CAP_*, held in the mount's user namespace */
	bool (*cr_capable)(const struct shmemfs_cred *cr, unsigned cap);
	uint64_t (*cr_memlock)(const struct shmemfs_cred *cr);
};

/* One segment, as IPC_STAT reports it (struct shmid64_ds's fields). */
struct shmemfs_shmid_ds {
	int32_t sd_key;
	int32_t sd_id;
	uint32_t sd_uid, sd_gid, sd_cuid, sd_cgid;
	uint32_t sd_mode; /* with SHM_DEST (01000), SHM_LOCKED (02000) */
	uint32_t sd_seq;
	uint64_t sd_segsz;
	int64_t sd_atime, sd_dtime, sd_ctime;
	int32_t sd_cpid, sd_lpid;
	uint64_t sd_nattch;
	uint64_t sd_ino;
	uint64_t sd_rss; /* resident pages, for ipcs and SHM_INFO */
	uint64_t sd_swp; /* swapped pages */
};

/* IPC_INFO and SHM_INFO together. */
struct shmemfs_shminfo {
	uint64_t si_shmmax, si_shmmin, si_shmmni, si_shmseg, si_shmall;
	int32_t si_used_ids;
	int32_t si_max_idx; /* highest index in use, 0 if none */
	uint64_t si_shm_tot, si_shm_rss, si_shm_swp;
};

/*
 * shmget(): the segment's id or -errno.  SHM_HUGETLB asks for huge
 * pages where the mount allows them (the segment is advised, as
 * shmemfs_huge_advise(): huge folios under huge=always, within_size and
 * advise, none under never); SHM_NORESERVE is accepted.
 */
int shmemfs_shm_get(struct shmemfs *fs, const struct shmemfs_cred *cr,
		    int32_t key, uint64_t size, int shmflg);
/* Resolve a segment handle: one lookup reference, as shmemfs_lookup(). */
int shmemfs_shm_lookup(struct shmemfs *fs, int shmid, struct shmemfs_attr *out);
/*
 * shmctl(): IPC_STAT, SHM_STAT, SHM_STAT_ANY (fill @ds; return 0 or the
 * id), IPC_SET (uid, gid and mode from @ds), IPC_RMID, SHM_LOCK,
 * SHM_UNLOCK.  IPC_INFO/SHM_INFO are shmemfs_shm_info().  *@destroyed
 * (may be NULL) gets the inode number of a segment that IPC_RMID
 * destroyed, so the front end can make the kernel forget its handle.
 */
int shmemfs_shm_ctl(struct shmemfs *fs, const struct shmemfs_cred *cr,
		    int shmid, int cmd, struct shmemfs_shmid_ds *ds);
int shmemfs_shm_info(struct shmemfs *fs, struct shmemfs_shminfo *si);
/*
 * Up to @n segments with index >= @start, in index order, for ipcs;
 * returns how many were filled (a segment's index is sd_id % IPCMNI).
 */
int shmemfs_shm_list(struct shmemfs *fs, int start, struct shmemfs_shmid_ds *ds,
		     size_t n);

/*
 * The open of an inode.  Returns 0 if @ino is no segment (nothing
 * done), 1 if it is a segment the caller may map with @accmode
 * (O_RDONLY or O_RDWR; the attach is counted: nattch, atime, lpid),
 * -EACCES if not, -EIDRM if it is gone.  Also counts the open of an
 * inode, so call it in place of shmemfs_open() for every open.
 */
int shmemfs_ipc_open(struct shmemfs *fs, const struct shmemfs_cred *cr,
		     uint64_t ino, int accmode);
/*
 * The release of an open that shmemfs_ipc_open() accepted, in place of
 * shmemfs_release(): a segment's detach (nattch, dtime, lpid; the
 * destruction of a segment removed while attached).
 */
void shmemfs_ipc_release(struct shmemfs *fs, pid_t pid, uint64_t ino);

/*
 * memfd_create(): a new unnamed inode owned by @ctx, mode 0777 (0666
 * with MFD_NOEXEC_SEAL), seals as the kernel sets them for @flags
 * (MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL, MFD_EXEC); MFD_HUGETLB advises
 * huge folios as SHM_HUGETLB does for shmget().  *@ino and *@nonce
 * make its handle; it lives until its first open is released, or until
 * the mount goes if it is never opened.
 */
int shmemfs_memfd_create(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
			 unsigned flags, uint64_t *ino, uint64_t *nonce);
int shmemfs_memfd_lookup(struct shmemfs *fs, uint64_t ino, uint64_t nonce,
			 struct shmemfs_attr *out);

/*
 * Seals (F_SEAL_*): F_GET_SEALS and F_ADD_SEALS with the kernel's
 * errnos.  Files not made by memfd_create() have F_SEAL_SEAL, as on
 * tmpfs.  @writable_mapped says the caller knows of a writable shared
 * mapping (F_SEAL_WRITE then fails with EBUSY).
 */
int shmemfs_seals_get(struct shmemfs *fs, uint64_t ino);
int shmemfs_seals_add(struct shmemfs *fs, uint64_t ino, unsigned seals,
		      int writable_mapped);

/*
 * A write that comes from the page cache of a shared mapping (FUSE
 * writepage): F_SEAL_FUTURE_WRITE leaves mappings made before it
 * writable, so only F_SEAL_WRITE refuses it, and it never grows the
 * file.
 */
ssize_t shmemfs_write_mapped(struct shmemfs *fs, uint64_t ino, const void *buf,
			     size_t size, int64_t off);

#ifdef __cplusplus
}
#endif
#endif /* SHMEMFS_IPC_H */
