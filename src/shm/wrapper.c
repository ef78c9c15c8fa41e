/* SPDX-License-Identifier: MIT */
/*
 * shmemfs-shm MOUNTPOINT COMMAND [ARG...]
 *
 * Runs COMMAND with libshmemfs-shm.so preloaded and SHMEMFS_SHM set to
 * the mount, so its SysV shm, POSIX shm, named semaphores and memfds are
 * served by that shmemfs (src/shm/shm.h).  The library is looked for
 * beside this program first (the build tree), then where it is
 * installed.  Exit status: COMMAND's, or 125 if this program failed and
 * 126/127 if COMMAND could not be run, as env(1) does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shmemfs_ioctl.h"

#ifndef SHMEMFS_SHM_LIB
#define SHMEMFS_SHM_LIB "/usr/local/lib/shmemfs/libshmemfs-shm.so"
#endif

static int
wrapper_find_lib(char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/libshmemfs-shm.so",
					     exe) < size &&
			    access(buf, R_OK) == 0)
				return 0;
		}
	}
	if (strlen(SHMEMFS_SHM_LIB) >= size)
		return -1;
	strcpy(buf, SHMEMFS_SHM_LIB);
	return access(buf, R_OK);
}

int
main(int argc, char **argv)
{
	char mnt[PATH_MAX], lib[PATH_MAX], *preload;
	const char *old;
	struct shmemfs_stats st;
	int fd;

	if (argc < 3) {
		fprintf(stderr,
			"usage: shmemfs-shm MOUNTPOINT COMMAND [ARG...]\n");
		return 125;
	}
	if (!realpath(argv[1], mnt)) {
		fprintf(stderr, "shmemfs-shm: %s: %s\n", argv[1],
			strerror(errno));
		return 125;
	}
	/* Only a shmemfs answers its stats ioctl. */
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, SHMEMFS_IOC_STATS, &st) < 0) {
		fprintf(stderr, "shmemfs-shm: %s: not a shmemfs mount\n", mnt);
		return 125;
	}
	close(fd);
	if (wrapper_find_lib(lib, sizeof(lib)) < 0) {
		fprintf(stderr, "shmemfs-shm: cannot find %s\n",
			SHMEMFS_SHM_LIB);
		return 125;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&preload, "%s %s", lib, old) < 0)
			return 125;
	} else {
		preload = lib;
	}
	if (setenv("LD_PRELOAD", preload, 1) < 0 ||
	    setenv("SHMEMFS_SHM", mnt, 1) < 0) {
		perror("shmemfs-shm: setenv");
		return 125;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "shmemfs-shm: %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
