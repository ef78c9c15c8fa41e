/* SPDX-License-Identifier: MIT */
/*
 * ipc.h - the internal inodes of a mount (ipc.c): SysV segments and
 * memfds, which no directory holds, and the file seals that api.c checks
 * on every write, truncate and fallocate.
 *
 * => Must be called with sf_lock held.
 */
#ifndef SHMEMFS_IPC_PRIV_H
#define SHMEMFS_IPC_PRIV_H

#include "core.h"
#include "inode.h"

#define SF_IPC_NONE	 0
#define SF_IPC_SHM	 1 /* a SysV segment: pinned by the IPC table */
#define SF_IPC_MEMFD_NEW 2 /* a memfd never opened: pinned by creation */
#define SF_IPC_MEMFD	 3 /* a memfd: lives while open */
#define SF_IPC_SHM_GONE  4 /* a destroyed segment a handle still names */
_Static_assert(SF_IPC_SHM_GONE < 8, "i_ipc_kind is 3 bits");

/* The seal checks: 0 or -EPERM (ipc_seal_write: the bytes allowed). */
ssize_t ipc_seal_write(const struct shmemfs_inode *ip, uint64_t off,
		       size_t len);
int ipc_seal_setattr(const struct shmemfs_inode *ip, unsigned valid,
		     const struct shmemfs_setattr *sa);
int ipc_seal_fallocate(const struct shmemfs_inode *ip, int mode, int64_t off,
		       int64_t len);
void ipc_destroy(struct shmemfs *fs);

#endif /* SHMEMFS_IPC_PRIV_H */
