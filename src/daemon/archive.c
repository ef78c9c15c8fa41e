/* SPDX-License-Identifier: MIT */
/*
 * archive.c - pax archives (shmemctl export, -o restore=FILE.tar).
 */
#include <errno.h>
#include <stdio.h>

#include "snapshot.h"

int
sd_snap_export(struct shmemfs *fs, const char *path, char *msg, size_t len)
{
	(void)fs;
	snprintf(msg, len, "%s: pax export is not built in", path);
	return -EOPNOTSUPP;
}

int
sd_snap_restore_archive(struct shmemfs **fsp, struct sd_cmdline *cl,
			const char *path, int fd, char *msg, size_t len)
{
	(void)fsp;
	(void)cl;
	(void)fd;
	snprintf(msg, len, "%s: not a shmemfs image", path);
	return -EINVAL;
}
