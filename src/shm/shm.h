/* SPDX-License-Identifier: MIT */
/*
 * shm.h - what the files of libshmemfs-shm.so share.
 *
 * libshmemfs-shm.so is preloaded (shmemfs-shm(1)) into unmodified
 * programs and serves their POSIX shm and named semaphores (posix.c),
 * SysV shm (sysv.c) and memfds with seals (memfd.c) from the shmemfs
 * mounted at $SHMEMFS_SHM.  Without that variable every call it
 * interposes goes straight on to the next definition (libc's), and it
 * interposes nothing else.
 *
 * The library decides nothing that matters: permissions, limits and
 * seals are the daemon's (the control ioctls carry the caller's
 * credentials from the kernel).  It only turns calls into file
 * operations and ioctls on the mount, and keeps per process what the
 * kernel keeps per process: the SysV attachments and the semaphore
 * mappings.  Those tables are guarded by one mutex (shm_lock), taken
 * around fork so a child never inherits it held.
 *
 * Names start with shm_ (files' statics with their file's name).
 */
#ifndef SHMEMFS_SHM_H
#define SHMEMFS_SHM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The mount ($SHMEMFS_SHM, made absolute), or NULL: fall through. */
const char *shm_mount(void);
/* Is @fd a file of the mount? */
bool shm_fd_ours(int fd, dev_t *dev, ino_t *ino);
/* The next definition of @name (libc's); aborts if there is none. */
void *shm_next(const char *name);
/* An ioctl on the mount root: its return value, or -1 and errno. */
int shm_root_ioctl(unsigned long cmd, void *arg);
/* mnt + "/" + @name into @buf; -1 and ENAMETOOLONG if it does not fit. */
int shm_mount_path(char *buf, size_t size, const char *name);
/*
 * @fn on each line of /proc/self/maps (NUL-terminated, cut to 511
 * bytes), read with read(2) so that it is async-signal-safe, until @fn
 * returns non-zero; that value, 0 at the end, or -1 if the file does not
 * open.
 */
int shm_maps_each(int (*fn)(char *line, void *arg), void *arg);

extern pthread_mutex_t shm_lock;

/*
 * Each file's next definitions, looked up by the constructor, so that
 * no interposed call needs dlsym() (not async-signal-safe) and no two
 * threads race to fill a pointer.
 */
void shm_posix_resolve(void);
void shm_sysv_resolve(void);
void shm_memfd_resolve(void);

#define SHM_NEXT(var, name)                                                    \
	do {                                                                   \
		if (!(var))                                                    \
			(var) = shm_next(name);                                \
	} while (0)

#endif /* SHMEMFS_SHM_H */
