/* SPDX-License-Identifier: MIT */
/*
 * preload.c - the library's state: which mount, and how to reach it.
 *
 * $SHMEMFS_SHM is read once (the first call, or the constructor), so a
 * program that changes its environment later keeps what it started
 * with, as its children do (they inherit the variable).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t preload_once = PTHREAD_ONCE_INIT;
static char preload_mnt[PATH_MAX];
static bool preload_active;
static dev_t preload_dev;

static void
preload_init(void)
{
	const char *env = getenv("SHMEMFS_SHM");
	struct stat st;

	if (!env || !*env)
		return;
	if (!realpath(env, preload_mnt)) {
		if (strlen(env) >= sizeof(preload_mnt))
			return;
		strcpy(preload_mnt, env);
	}
	if (stat(preload_mnt, &st) == 0)
		preload_dev = st.st_dev;
	preload_active = true;
}

__attribute__((constructor)) static void
preload_ctor(void)
{
	shm_posix_resolve();
	shm_sysv_resolve();
	shm_memfd_resolve();
	pthread_once(&preload_once, preload_init);
}

const char *
shm_mount(void)
{
	pthread_once(&preload_once, preload_init);
	return preload_active ? preload_mnt : NULL;
}

bool
shm_fd_ours(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;
	int saved = errno;

	if (!shm_mount() || fd < 0 || fstat(fd, &st) < 0) {
		errno = saved;
		return false;
	}
	if (dev)
		*dev = st.st_dev;
	if (ino)
		*ino = st.st_ino;
	return preload_dev && st.st_dev == preload_dev;
}

void *
shm_next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn) {
		static const char msg[] =
		    "libshmemfs-shm: no next definition of a symbol\n";

		if (write(2, msg, sizeof(msg) - 1) < 0) {
		}
		abort();
	}
	return fn;
}

int
shm_root_ioctl(unsigned long cmd, void *arg)
{
	int fd, ret, saved;

	fd = open(preload_mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = ioctl(fd, cmd, arg);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int
shm_mount_path(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", preload_mnt, name);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
shm_maps_each(int (*fn)(char *line, void *arg), void *arg)
{
	char buf[4096], line[512];
	size_t len = 0;
	ssize_t n, i;
	int fd, ret = 0;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (!ret && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n && !ret; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			ret = fn(line, arg);
		}
	}
	close(fd);
	return ret;
}
