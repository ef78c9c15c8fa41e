/* SPDX-License-Identifier: MIT */
/*
 * shmemfs_ioctl.h - the control channel of a mounted shmemfs.
 *
 * A program (shmemctl) opens the mount's root directory and issues these
 * ioctls on it; FUSE forwards them to the daemon as restricted ioctls:
 * the kernel sizes the buffers from the _IOC encoding, so no retry dance
 * is needed.  On any other inode they fail with ENOTTY, as does an
 * unknown number; a 32-bit caller on a 64-bit kernel gets ENOSYS.
 *
 * The numbers and the layout of struct shmemfs_stats (shmemfs.h) are an
 * interface: change neither, add new numbers instead.
 */
#ifndef SHMEMFS_IOCTL_H
#define SHMEMFS_IOCTL_H

#include <stdint.h>
#include <sys/ioctl.h>
#include "shmemfs.h"

#define SHMEMFS_IOC_MAGIC 0xE5

/*
 * Numbers are handed out in ranges, one per feature, so features built
 * side by side never collide: 1-9 stats and swap, 10-19 huge pages,
 * 20-29 the FUSE transport, 30-39 tmpfs parity (remount, quotas, inode
 * flags), 40-49 snapshots and restart, 50-69 shared memory, 70-79
 * installing and monitoring.
 */

/*
 * Fill a struct shmemfs_stats (the mount's limits, usage and swap
 * counters, as shmemfs_get_stats()).  Anyone who can open the root may.
 */
#define SHMEMFS_IOC_STATS _IOR(SHMEMFS_IOC_MAGIC, 1, struct shmemfs_stats)

/*
 * Bring every swapped page back into memory and stop swapping, or start
 * swapping again (shmemfs_swapoff(), shmemfs_swapon(): ENOMEM, EIO,
 * EINVAL as they say).  Like swapoff(2) and swapon(2), these need
 * CAP_SYS_ADMIN in the mount's user namespace, unless the caller owns
 * the mount (runs as the daemon's user, not root): EPERM otherwise.
 */
#define SHMEMFS_IOC_SWAPOFF _IO(SHMEMFS_IOC_MAGIC, 2)
#define SHMEMFS_IOC_SWAPON  _IO(SHMEMFS_IOC_MAGIC, 3)

/*
 * Huge pages (10-19).  HUGE_ADVISE is issued on a regular file opened
 * for writing (so the kernel has checked write permission, and the
 * daemon refuses a descriptor not open for writing with EBADF, as
 * write(2) would): the argument is 1 (huge pages please, as
 * madvise(MADV_HUGEPAGE) under huge=advise) or 0.  HUGE_SHRINK, on the
 * root, splits huge folios that reach past end of file and frees the
 * pages there, as tmpfs's shrinker does under memory pressure or
 * drop_caches; it needs CAP_SYS_ADMIN (or the mount's owner), as
 * drop_caches needs root.
 */
#define SHMEMFS_IOC_HUGE_ADVISE _IOW(SHMEMFS_IOC_MAGIC, 10, int32_t)
#define SHMEMFS_IOC_HUGE_SHRINK _IO(SHMEMFS_IOC_MAGIC, 11)

/*
 * Snapshots and restart (40-49).  struct shmemfs_ioc_image names the
 * file to write by absolute path, resolved by the daemon (which refuses
 * a path under the mount itself: it would write into the mount it has
 * locked); on failure the ioctl fails with the errno and ii_msg holds a
 * one-line reason.  Like swapoff, these need CAP_SYS_ADMIN in the
 * mount's user namespace unless the caller owns the mount: an image
 * holds every file, readable or not by the caller.
 *
 * SAVE writes a point-in-time image (shmemfs_save_file(): mode 0600,
 * temporary name, fsync, rename), sealed if ii_key names a key file.
 * EXPORT writes a pax archive (ii_key must be empty).
 */
#define SHMEMFS_IOC_PATH_MAX 4096
#define SHMEMFS_IOC_MSG_MAX 256
struct shmemfs_ioc_image {
	char ii_path[SHMEMFS_IOC_PATH_MAX]; /* in: image or archive */
	char ii_key[SHMEMFS_IOC_PATH_MAX];  /* in: key file, or "" */
	char ii_msg[SHMEMFS_IOC_MSG_MAX];   /* out: why it failed */
};
#define SHMEMFS_IOC_SAVE _IOWR(SHMEMFS_IOC_MAGIC, 40, struct shmemfs_ioc_image)
#define SHMEMFS_IOC_EXPORT \
	_IOWR(SHMEMFS_IOC_MAGIC, 41, struct shmemfs_ioc_image)

/*
 * RESTART hands the mount to a fresh daemon (the binary at the same
 * path) without unmounting: open files, inode numbers and lookup counts
 * stay valid.  It returns once the new daemon serves; on failure the old
 * one goes on serving and the ioctl fails (EOPNOTSUPP: the transport
 * cannot hand over, e.g. io_uring; EBUSY: a restart is running).
 */
#define SHMEMFS_IOC_RESTART _IO(SHMEMFS_IOC_MAGIC, 42)

/*
 * Remount (shmemctl remount): apply sr_opts as shmemfs_remount() does.
 * Who may: as for swapoff (CAP_SYS_ADMIN in the mount's user namespace
 * or the mount's owner), EPERM otherwise.  The ioctl itself succeeds
 * once the caller is allowed; sr_error (a positive errno) and sr_msg
 * (one line) then say whether the options were applied or why not;
 * on success sr_msg may hold a warning (mpol= ignored).
 */
struct shmemfs_remount {
	char sr_opts[1024]; /* in: NUL-terminated option string */
	char sr_msg[256];   /* out: refusal or warning, or "" */
	int32_t sr_error;   /* out: 0 applied, else an errno */
	uint32_t sr_pad;
};
#define SHMEMFS_IOC_REMOUNT \
	_IOWR(SHMEMFS_IOC_MAGIC, 30, struct shmemfs_remount)

/*
 * Quotas (shmemctl quota): the kernel's quotactl() never reaches a FUSE
 * daemon, so usage and limits go through these.  QUOTA_GET fills up to
 * SHMEMFS_QUOTA_BATCH entries of type qr_type (0 user, 1 group) with id
 * >= qr_from, sorted by id; qr_next is the qr_from of the next call, 0
 * when there are no more.  The mount's administrator (as for remount)
 * sees every id, anyone else only their own uid and groups, as
 * quotactl(Q_GETQUOTA) allows.  ESRCH when quotas of that type are
 * off.  QUOTA_SET sets ql_id's hard limits (ql_mask: which), for the
 * administrator only (EPERM), as quotactl(Q_SETQUOTA).
 */
#define SHMEMFS_QUOTA_BATCH 32
struct shmemfs_quota_report {
	uint32_t qr_type;    /* in */
	uint32_t qr_from;    /* in */
	uint32_t qr_count;   /* out: entries filled */
	uint32_t qr_types;   /* out: SHMEMFS_QUOTA_USER|GROUP enabled */
	uint64_t qr_next;    /* out: next qr_from; 0: done */
	struct shmemfs_quota qr_entries[SHMEMFS_QUOTA_BATCH];
};
struct shmemfs_quota_limits {
	uint32_t ql_type;        /* 0 user, 1 group */
	uint32_t ql_id;
	uint32_t ql_mask;        /* SHMEMFS_QUOTA_SET_BLOCKS|INODES */
	uint32_t ql_pad;
	uint64_t ql_block_limit; /* bytes; 0: none */
	uint64_t ql_inode_limit; /* 0: none */
};
#define SHMEMFS_IOC_QUOTA_GET \
	_IOWR(SHMEMFS_IOC_MAGIC, 31, struct shmemfs_quota_report)
#define SHMEMFS_IOC_QUOTA_SET \
	_IOW(SHMEMFS_IOC_MAGIC, 32, struct shmemfs_quota_limits)

/*
 * Shared memory (50-69; include/shmemfs_ipc.h, the preload library
 * src/shm/ and shmemctl ipcs/ipcrm).  The daemon takes the caller's
 * uid, gid and pid from the request and decides everything itself.
 *
 * SHMGET: the id as the ioctl's return value.  SHMCTL: IPC_STAT,
 * SHM_STAT(_ANY), IPC_SET, IPC_RMID, SHM_LOCK/UNLOCK on sc_id; the
 * return value as shmctl's.  SHMINFO: IPC_INFO and SHM_INFO at once,
 * returning the highest index in use.  SHMLIST: up to
 * SHMEMFS_SHMLIST_MAX segments from index sl_start on, sl_count filled.
 * These go to the mount root.
 */
#include "shmemfs_ipc.h"

struct shmemfs_ioc_shmget {
	int32_t sg_key;
	int32_t sg_flags;
	uint64_t sg_size;
};

struct shmemfs_ioc_shmctl {
	int32_t sc_id;
	int32_t sc_cmd;
	struct shmemfs_shmid_ds sc_ds;
};

#define SHMEMFS_SHMLIST_MAX 64
struct shmemfs_ioc_shmlist {
	int32_t sl_start;
	int32_t sl_count;
	struct shmemfs_shmid_ds sl_ds[SHMEMFS_SHMLIST_MAX];
};

/*
 * MEMFD: a new memfd (mf_flags: MFD_*); mf_ino and mf_nonce make its
 * handle, SHMEMFS_IPC_MEMFD_FMT under the mount root, which the caller
 * opens (the first open owns it).
 */
struct shmemfs_ioc_memfd {
	uint32_t mf_flags;
	uint32_t mf_pad;
	uint64_t mf_ino;
	uint64_t mf_nonce;
};

/*
 * On a regular file's descriptor: F_GET_SEALS (the seals as the return
 * value) and F_ADD_SEALS (as_seals; as_mapped says the caller knows of
 * a writable shared mapping; needs a descriptor open for writing).
 */
struct shmemfs_ioc_seals {
	uint32_t as_seals;
	uint32_t as_mapped;
};

#define SHMEMFS_IOC_SHMGET \
	_IOW(SHMEMFS_IOC_MAGIC, 50, struct shmemfs_ioc_shmget)
#define SHMEMFS_IOC_SHMCTL \
	_IOWR(SHMEMFS_IOC_MAGIC, 51, struct shmemfs_ioc_shmctl)
#define SHMEMFS_IOC_SHMINFO \
	_IOR(SHMEMFS_IOC_MAGIC, 52, struct shmemfs_shminfo)
#define SHMEMFS_IOC_SHMLIST \
	_IOWR(SHMEMFS_IOC_MAGIC, 53, struct shmemfs_ioc_shmlist)
#define SHMEMFS_IOC_MEMFD \
	_IOWR(SHMEMFS_IOC_MAGIC, 54, struct shmemfs_ioc_memfd)
#define SHMEMFS_IOC_GET_SEALS _IO(SHMEMFS_IOC_MAGIC, 55)
#define SHMEMFS_IOC_ADD_SEALS \
	_IOW(SHMEMFS_IOC_MAGIC, 56, struct shmemfs_ioc_seals)

#endif /* SHMEMFS_IOCTL_H */
