/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - images of a whole mount (snapshot.c): write one, read one
 * back into a fresh mount.
 *
 * snapshot.c sits on top of the namespace layers (node, dir, xattr,
 * filemap) and reads the lower ones (page, swap) only to copy a page's
 * bytes without bringing it back into memory.  The public calls are in
 * shmemfs.h (shmemfs_save(), shmemfs_restore(), ...); the format is
 * described at the top of snapshot.c.
 */
#ifndef SHMEMFS_SNAPSHOT_H
#define SHMEMFS_SNAPSHOT_H

#include "core.h"

#define SF_IMG_MAGIC	 SHMEMFS_IMAGE_MAGIC
#define SF_IMG_VERSION	 1
#define SF_IMG_HDR_SIZE	 64
#define SF_IMG_BLOCK_MAX (256u * 1024) /* payload bytes per block */

#endif /* SHMEMFS_SNAPSHOT_H */
