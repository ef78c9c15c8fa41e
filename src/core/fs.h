/* SPDX-License-Identifier: MIT */
/*
 * fs.h - struct shmemfs, one mount.
 *
 * The mount holds one instance of each lower layer (mem, the page pool,
 * the swap device) and the namespace's tables; each layer's header says
 * which fields are its own.  Modules include this header for the struct
 * and call the layers' functions rather than reading other layers'
 * fields.  Everything here is protected by sf_lock (core.h; written
 * under its exclusive mode, or under its local mode with sf_tables for
 * the tables lock.h names), except the data and inode locks, which
 * come before it (lock.h).
 */
#ifndef SHMEMFS_FS_H
#define SHMEMFS_FS_H

#include "core.h"
#include "lock.h"
#include "mem.h"
#include "page.h"
#include "pageidx.h"
#include "swap.h"

struct sf_dirent;

struct shmemfs {
	struct sf_mlock sf_lock;        /* lock.c: the mount lock, core.h */
	struct sf_dlocks sf_dlocks;     /* lock.c: the data locks */
	struct sf_ilocks sf_ilocks;     /* lock.c: the inode locks */
	pthread_mutex_t sf_tables;      /* lock.h: the tables, local mode */
	struct shmemfs_opts sf_opts;
	struct sf_mem sf_mem;           /* mem.c */
	struct sf_pool sf_pool;         /* page.c */
	struct sf_swap sf_swap;         /* swap.c */
	/* node.c: the inode table */
	struct pageidx sf_inodes;       /* ino -> inode */
	uint64_t sf_next_ino;
	uint64_t sf_next_generation;
	struct shmemfs_inode *sf_root;
	/* dir.c: the name hash, (dir, name) -> dirent, in one part per
	 * inode lock stripe: a directory's names are in its stripe's part,
	 * which its inode lock covers in local mode (lock.h) */
	struct sf_names {
		struct sf_dirent **nm_hash;
		uint64_t nm_mask;       /* buckets - 1 */
		uint64_t nm_count;
	} sf_names[SF_ILOCK_STRIPES];
	/* filemap.c: the last write request, to see the pieces FUSE cuts
	 * one write(2) into (huge=within_size looks at where it ends) */
	uint64_t sf_lw_ino, sf_lw_start, sf_lw_end;
	/* filemap.c: the huge shrinker's list (tmpfs's sbinfo->shrinklist),
	 * inodes given a large folio past their end: seq -> inode, in the
	 * order they joined, and ino -> seq */
	struct pageidx sf_huge_shrinklist;
	struct pageidx sf_huge_shrinkino;
	uint64_t sf_huge_shrinktail, sf_huge_shrinkhead;
	/* filemap.c: pages pinned for copies without sf_lock (page.h);
	 * api.c waits on sf_unpinned when memory is full of them */
	uint64_t sf_pinned;
	unsigned sf_pin_waiters;
	pthread_cond_t sf_unpinned;
	/* api.c: the front end's "attributes changed" hook */
	void (*sf_attr_notify)(void *arg, uint64_t ino);
	void *sf_attr_notify_arg;
	/* statistics: reclaim.c counts swap-outs, filemap.c swap-ins */
	uint64_t sf_swapouts, sf_swapins;
	/* reclaim.c: the background reclaimer (kswapd's role) */
	pthread_t sf_kswapd;
	pthread_cond_t sf_kswapd_wake;
	bool sf_kswapd_running;
	bool sf_kswapd_stop;
	/* khugepaged.c: background collapse, its thread and its cursor */
	pthread_t sf_khp_thread;
	pthread_cond_t sf_khp_wake;
	bool sf_khp_running;
	bool sf_khp_stop;
	uint64_t sf_khp_ino, sf_khp_index;
	/* ipc.c: the SysV IPC table, allocated at the first shmget */
	struct sf_ipc *sf_ipc;
	unsigned char sf_ipc_key[16];   /* memfd handles' SipHash key */
	bool sf_ipc_key_set;
};

/* api.c: give the mount a swap device (unit tests attach their own). */
int shmemfs_swap_attach(struct shmemfs *fs, const struct sf_swap_ops *ops,
			void *priv, uint64_t nslots);

#endif /* SHMEMFS_FS_H */
