/* SPDX-License-Identifier: MIT */
/*
 * posix.c - shm_open/shm_unlink and sem_open/sem_close/sem_unlink on the
 * mount, as glibc does them in /dev/shm.
 *
 * Objects are files in the mount root named as glibc names them in
 * /dev/shm: NAME for shm_open, sem.NAME for sem_open.  The name rules
 * are glibc 2.36's (__shm_get_name): leading slashes skipped, an empty
 * name or one with a slash inside is refused, and so is one that does
 * not fit glibc's buffer ("/dev/shm/" + "sem." + NAME_MAX bytes), with
 * each caller's own errno (EINVAL for the opens, ENOENT for the
 * unlinks); a name that fits the buffer but not NAME_MAX gets the
 * kernel's ENAMETOOLONG from the open.
 *
 * sem_open creates a semaphore as glibc does, so that two creators
 * race safely: a temporary file is written with the initial value,
 * mapped, and link()ed into place; whoever loses the link opens the
 * winner's.  Opening one semaphore twice in a process gives the same
 * address and sem_close() unmaps at the last close (sem_table).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

/* glibc's struct shmdir_name: "/dev/shm/" + "sem." + NAME_MAX */
#define POSIX_GLIBC_BUF (sizeof("/dev/shm/") + sizeof("sem.") - 1 + NAME_MAX)

static int (*next_shm_open)(const char *, int, mode_t);
static int (*next_shm_unlink)(const char *);
static sem_t *(*next_sem_open)(const char *, int, ...);
static int (*next_sem_close)(sem_t *);
static int (*next_sem_unlink)(const char *);

/* The file name of @name in the mount; -1 if glibc would refuse it. */
static int
posix_name(const char *name, bool sem, char *buf, size_t size)
{
	char file[NAME_MAX + 16];
	size_t len;

	while (name[0] == '/')
		name++;
	len = strlen(name);
	if (len == 0 || memchr(name, '/', len) ||
	    sizeof("/dev/shm/") - 1 + (sem ? 4 : 0) + len + 1 > POSIX_GLIBC_BUF)
		return -1;
	if (len + 4 >= sizeof(file))
		return -1; /* cannot happen: the buffer above is smaller */
	strcpy(file, sem ? "sem." : "");
	strcat(file, name);
	if (shm_mount_path(buf, size, file) < 0)
		return -1;
	return 0;
}

int
shm_open(const char *name, int oflag, mode_t mode)
{
	char path[PATH_MAX];
	int fd, state;

	if (!shm_mount()) {
		SHM_NEXT(next_shm_open, "shm_open");
		return next_shm_open(name, oflag, mode);
	}
	if (posix_name(name, false, path, sizeof(path)) < 0) {
		errno = EINVAL;
		return -1;
	}
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	fd = open(path, oflag | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EISDIR)
		errno = EINVAL;
	pthread_setcancelstate(state, NULL);
	return fd;
}

/* shm_unlink and sem_unlink on the mount: ENOENT for a bad name, EACCES
 * where unlink says EPERM. */
static int
posix_unlink(const char *name, bool sem)
{
	char path[PATH_MAX];
	int ret;

	if (posix_name(name, sem, path, sizeof(path)) < 0) {
		errno = ENOENT;
		return -1;
	}
	ret = unlink(path);
	if (ret < 0 && errno == EPERM)
		errno = EACCES;
	return ret;
}

int
shm_unlink(const char *name)
{
	if (!shm_mount()) {
		SHM_NEXT(next_shm_unlink, "shm_unlink");
		return next_shm_unlink(name);
	}
	return posix_unlink(name, false);
}

/* ---- Semaphores ----------------------------------------------------- */

struct sem_map {
	struct sem_map *sm_next;
	char *sm_name; /* as the caller gave it, as glibc keys it */
	dev_t sm_dev;
	ino_t sm_ino;
	sem_t *sm_sem;
	unsigned sm_refs;
};

static struct sem_map *sem_table; /* shm_lock */

/*
 * Map the semaphore file @fd, or take another reference to its map if
 * this process opened it under the same @name before (glibc keys its
 * table by the name as given and the file: "/s" and "s" map twice).
 */
static sem_t *
sem_map_fd(const char *name, int fd)
{
	struct sem_map *sm;
	sem_t *sem = SEM_FAILED;
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return SEM_FAILED;
	pthread_mutex_lock(&shm_lock);
	for (sm = sem_table; sm; sm = sm->sm_next) {
		if (sm->sm_dev == st.st_dev && sm->sm_ino == st.st_ino &&
		    !strcmp(sm->sm_name, name)) {
			sm->sm_refs++;
			sem = sm->sm_sem;
			goto out;
		}
	}
	sm = malloc(sizeof(*sm));
	if (sm)
		sm->sm_name = strdup(name);
	if (!sm || !sm->sm_name) {
		free(sm);
		errno = ENOMEM;
		goto out;
	}
	p = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED) {
		free(sm->sm_name);
		free(sm);
		goto out;
	}
	sm->sm_dev = st.st_dev;
	sm->sm_ino = st.st_ino;
	sm->sm_sem = p;
	sm->sm_refs = 1;
	sm->sm_next = sem_table;
	sem_table = sm;
	sem = p;
out:
	pthread_mutex_unlock(&shm_lock);
	return sem;
}

/* A new semaphore file, not yet linked: its fd and temporary path. */
static int
sem_create_temp(mode_t mode, unsigned value, char *tmp, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[6];
	char name[16];
	sem_t init;
	int fd, tries, i;

	if (sem_init(&init, 1, value) < 0)
		return -1;
	for (tries = 0; tries < 100; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -1;
		strcpy(name, "sem.");
		for (i = 0; i < 6; i++)
			name[4 + i] = hex[rnd[i] & 15];
		name[10] = '\0';
		if (shm_mount_path(tmp, size, name) < 0)
			return -1;
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1;
	if (write(fd, &init, sizeof(init)) != (ssize_t)sizeof(init)) {
		int saved = errno ? errno : ENOSPC;

		unlink(tmp);
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static sem_t *
sem_open_mount(const char *name, int oflag, mode_t mode, unsigned value)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	sem_t *sem = SEM_FAILED;
	int fd, saved;

	if (posix_name(name, true, path, sizeof(path)) < 0) {
		errno = EINVAL;
		return SEM_FAILED;
	}
	if (!(oflag & O_CREAT) || !(oflag & O_EXCL)) {
	try_again:
		fd = open(path, (oflag & ~(O_CREAT | O_ACCMODE)) | O_NOFOLLOW |
				    O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			sem = sem_map_fd(name, fd);
			saved = errno;
			close(fd);
			errno = saved;
			return sem;
		}
		if (!(oflag & O_CREAT) || errno != ENOENT)
			return SEM_FAILED;
	}
	if (value > SEM_VALUE_MAX) {
		errno = EINVAL;
		return SEM_FAILED;
	}
	fd = sem_create_temp(mode, value, tmp, sizeof(tmp));
	if (fd < 0)
		return SEM_FAILED;
	if (link(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		close(fd);
		if (saved == EEXIST && !(oflag & O_EXCL))
			goto try_again;
		errno = saved;
		return SEM_FAILED;
	}
	sem = sem_map_fd(name, fd);
	saved = errno;
	unlink(tmp);
	close(fd);
	errno = saved;
	return sem;
}

sem_t *
sem_open(const char *name, int oflag, ...)
{
	mode_t mode = 0;
	unsigned value = 0;
	sem_t *sem;
	int state;

	if (oflag & O_CREAT) {
		va_list ap;

		va_start(ap, oflag);
		mode = va_arg(ap, mode_t);
		value = va_arg(ap, unsigned);
		va_end(ap);
	}
	if (!shm_mount()) {
		SHM_NEXT(next_sem_open, "sem_open");
		return next_sem_open(name, oflag, mode, value);
	}
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	sem = sem_open_mount(name, oflag, mode, value);
	pthread_setcancelstate(state, NULL);
	return sem;
}

int
sem_close(sem_t *sem)
{
	struct sem_map **pp, *sm;

	if (shm_mount()) {
		pthread_mutex_lock(&shm_lock);
		for (pp = &sem_table; (sm = *pp); pp = &sm->sm_next) {
			if (sm->sm_sem != sem)
				continue;
			if (--sm->sm_refs == 0) {
				*pp = sm->sm_next;
				munmap(sm->sm_sem, sizeof(sem_t));
				free(sm->sm_name);
				free(sm);
			}
			pthread_mutex_unlock(&shm_lock);
			return 0;
		}
		pthread_mutex_unlock(&shm_lock);
	}
	/* Not ours: glibc's (EINVAL for what it did not open either). */
	SHM_NEXT(next_sem_close, "sem_close");
	return next_sem_close(sem);
}

int
sem_unlink(const char *name)
{
	if (!shm_mount()) {
		SHM_NEXT(next_sem_unlink, "sem_unlink");
		return next_sem_unlink(name);
	}
	return posix_unlink(name, true);
}

/* Called once by the constructor (preload.c), before any thread. */
void
shm_posix_resolve(void)
{
	SHM_NEXT(next_shm_open, "shm_open");
	SHM_NEXT(next_shm_unlink, "shm_unlink");
	SHM_NEXT(next_sem_open, "sem_open");
	SHM_NEXT(next_sem_close, "sem_close");
	SHM_NEXT(next_sem_unlink, "sem_unlink");
}
