/* SPDX-License-Identifier: MIT */
/*
 * cmdline.h - the daemon's command line, parsed and checked.
 */
#ifndef SD_CMDLINE_H
#define SD_CMDLINE_H

#include <fuse_lowlevel.h>

#include "shmemfs.h"
#include "transport.h"

/* What argv asks for, once sd_cmdline_parse() has said to go on. */
struct sd_cmdline {
	struct fuse_args cl_args;    /* what is left for fuse_session_new() */
	struct shmemfs_opts cl_opts; /* ours, for shmemfs_new() */
	char *cl_mountpoint;	     /* canonical: an existing directory */
	int cl_foreground;	     /* -f or -d: do not daemonize */
	struct sd_transport_config cl_transport;
	/* snapshot.c: restore=, restore_key=, persist= (absolute paths) */
	char *cl_restore;
	char *cl_restore_key;
	char *cl_persist;
	char *cl_ouropts; /* our -o items, comma-joined, to apply over an
			   * image's options */
};

/*
 * Parse and check argv: "[options] [SOURCE] MOUNTPOINT".  0: mount, as
 * @cl says; 1: done, --help or --version printed (exit 0); -errno: bad
 * usage or no memory, said on stderr (exit 1).  Refuses -o remount
 * before anything else.  Either way, free @cl with sd_cmdline_free().
 */
int sd_cmdline_parse(struct sd_cmdline *cl, int argc, char *argv[]);
void sd_cmdline_free(struct sd_cmdline *cl);

#endif /* SD_CMDLINE_H */
