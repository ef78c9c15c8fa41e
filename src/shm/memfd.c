/* SPDX-License-Identifier: MIT */
/*
 * memfd.c - memfd_create and the seal fcntls on the mount.
 *
 * memfd_create asks the daemon for a new unnamed inode (an ioctl on the
 * root) and opens it through its handle,
 * "#shmemfs:memfd:INO:NONCE:NAME", so /proc/PID/fd shows the mount and
 * the name.  The nonce is a keyed hash only the daemon can compute: a
 * process that was not told the handle cannot open the file by name.
 *
 * The kernel refuses F_ADD_SEALS and F_GET_SEALS on FUSE files, so for
 * files of the mount the two fcntls become ioctls on the descriptor and
 * the daemon keeps and enforces the seals on every write, truncate and
 * fallocate.  What the daemon cannot see is the process's mappings: a
 * writable shared mapping of a write-sealed file is refused here (mmap),
 * and F_SEAL_WRITE fails with EBUSY while this process has one
 * (/proc/self/maps).
 */
/*
 * This file defines fcntl and fcntl64, mmap and mmap64 side by side, so
 * glibc must not rename the first of each to the second.
 */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/memfd.h>

#include "shm.h"
#include "shmemfs_ioctl.h"

#define MEMFD_ALL_FLAGS                                                        \
	(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL |     \
	 MFD_EXEC)
#define MEMFD_NAME_MAX (NAME_MAX - 6) /* MFD_NAME_MAX_LEN */

static int (*next_memfd_create)(const char *, unsigned);
static int (*next_fcntl)(int, int, ...);
static int (*next_fcntl64)(int, int, ...);
static void *(*next_mmap)(void *, size_t, int, int, int, off_t);
static void *(*next_mmap64)(void *, size_t, int, int, int, off_t);

/* vm.memfd_noexec: 0 as asked, 1 no exec by default, 2 never exec. */
static int
memfd_noexec_scope(void)
{
	int v = 0;
	FILE *f = fopen("/proc/sys/vm/memfd_noexec", "re");

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

int
memfd_create(const char *name, unsigned flags)
{
	struct shmemfs_ioc_memfd mf = {0};
	char handle[NAME_MAX + 1], path[PATH_MAX];
	size_t len, i, n;
	int fd, scope;

	if (!shm_mount()) {
		SHM_NEXT(next_memfd_create, "memfd_create");
		return next_memfd_create(name, flags);
	}
	/* SYSCALL_DEFINE2(memfd_create): flags, then the name */
	if (!(flags & MFD_HUGETLB)) {
		if (flags & ~MEMFD_ALL_FLAGS)
			goto einval;
	} else if (flags &
		   ~(MEMFD_ALL_FLAGS | (MFD_HUGE_MASK << MFD_HUGE_SHIFT))) {
		goto einval;
	}
	if ((flags & MFD_EXEC) && (flags & MFD_NOEXEC_SEAL))
		goto einval;
	scope = memfd_noexec_scope();
	if (!(flags & (MFD_EXEC | MFD_NOEXEC_SEAL)) && scope >= 1)
		flags |= MFD_NOEXEC_SEAL;
	if (scope >= 2 && (flags & MFD_EXEC)) {
		errno = EACCES;
		return -1;
	}
	if (!name) {
		errno = EFAULT;
		return -1;
	}
	len = strnlen(name, MEMFD_NAME_MAX + 1);
	if (len > MEMFD_NAME_MAX)
		goto einval;
	mf.mf_flags = flags & ~(unsigned)MFD_CLOEXEC;
	if (shm_root_ioctl(SHMEMFS_IOC_MEMFD, &mf) < 0)
		return -1;
	n = (size_t)snprintf(handle, sizeof(handle), SHMEMFS_IPC_MEMFD_FMT,
			     (unsigned long long)mf.mf_ino,
			     (unsigned long long)mf.mf_nonce);
	/* The name is only shown: cut to fit, no slashes. */
	for (i = 0; i < len && n + 1 < sizeof(handle); i++)
		handle[n++] = name[i] == '/' ? '_' : name[i];
	handle[n] = '\0';
	if (shm_mount_path(path, sizeof(path), handle) < 0)
		return -1;
	fd = open(path,
		  O_RDWR | O_LARGEFILE | (flags & MFD_CLOEXEC ? O_CLOEXEC : 0));
	return fd;
einval:
	errno = EINVAL;
	return -1;
}

struct memfd_want {
	char mw_str[64]; /* "MAJ:MIN INODE ", the fields after the offset */
	size_t mw_len;
};

/* ADDR-ADDR PERMS OFFSET DEV INODE [PATH]: 1 if shared, writable, ours. */
static int
memfd_maps_line(char *line, void *arg)
{
	const struct memfd_want *w = arg;
	char *perms = strchr(line, ' ');
	char *dv = perms ? strchr(perms + 1, ' ') : NULL;

	dv = dv ? strchr(dv + 1, ' ') : NULL;
	if (!dv || perms[2] != 'w' || perms[4] != 's')
		return 0;
	return !strncmp(dv + 1, w->mw_str, w->mw_len) ||
	       (!strncmp(dv + 1, w->mw_str, w->mw_len - 1) &&
		dv[w->mw_len] == '\0');
}

/*
 * Does this process map @dev/@ino shared and writable?  /proc/self/maps
 * read with read(2) and parsed by hand, not stdio: fcntl() is
 * async-signal-safe, and so must be this path of ours.
 */
static int
memfd_writably_mapped(dev_t dev, ino_t ino)
{
	struct memfd_want w;

	/* " rw-s OFFSET MAJ:MIN INODE", the fields after the range */
	w.mw_len =
	    (size_t)snprintf(w.mw_str, sizeof(w.mw_str), "%02x:%02x %llu ",
			     major(dev), minor(dev), (unsigned long long)ino);
	return shm_maps_each(memfd_maps_line, &w) > 0;
}

/* F_ADD_SEALS/F_GET_SEALS on a file of the mount; 0 if not one. */
static int
memfd_seal_fcntl(int fd, int cmd, unsigned long arg, int *ret)
{
	struct shmemfs_ioc_seals as = {0};
	dev_t dev;
	ino_t ino;

	if ((cmd != F_ADD_SEALS && cmd != F_GET_SEALS) ||
	    !shm_fd_ours(fd, &dev, &ino))
		return 0;
	if (cmd == F_GET_SEALS) {
		*ret = ioctl(fd, SHMEMFS_IOC_GET_SEALS);
		return 1;
	}
	as.as_seals = (uint32_t)arg;
	if (arg & F_SEAL_WRITE)
		as.as_mapped = (uint32_t)memfd_writably_mapped(dev, ino);
	*ret = ioctl(fd, SHMEMFS_IOC_ADD_SEALS, &as);
	return 1;
}

int
fcntl(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (memfd_seal_fcntl(fd, cmd, arg, &ret))
		return ret;
	SHM_NEXT(next_fcntl, "fcntl");
	return next_fcntl(fd, cmd, arg);
}

int
fcntl64(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (memfd_seal_fcntl(fd, cmd, arg, &ret))
		return ret;
	SHM_NEXT(next_fcntl64, "fcntl64");
	return next_fcntl64(fd, cmd, arg);
}

/* A writable shared mapping of a write-sealed file: EPERM, as mmap. */
static bool
memfd_mmap_refused(int prot, int flags, int fd)
{
	int seals, saved = errno;

	if (fd < 0 || !(prot & PROT_WRITE) ||
	    (flags & MAP_TYPE) == MAP_PRIVATE || !shm_fd_ours(fd, NULL, NULL))
		return false;
	seals = ioctl(fd, SHMEMFS_IOC_GET_SEALS);
	errno = saved;
	if (seals < 0 || !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return false;
	errno = EPERM;
	return true;
}

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (shm_mount() && memfd_mmap_refused(prot, flags, fd))
		return MAP_FAILED;
	SHM_NEXT(next_mmap, "mmap");
	return next_mmap(addr, len, prot, flags, fd, off);
}

void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (shm_mount() && memfd_mmap_refused(prot, flags, fd))
		return MAP_FAILED;
	SHM_NEXT(next_mmap64, "mmap64");
	return next_mmap64(addr, len, prot, flags, fd, off);
}

/* Called once by the constructor (preload.c), before any thread. */
void
shm_memfd_resolve(void)
{
	SHM_NEXT(next_memfd_create, "memfd_create");
	SHM_NEXT(next_fcntl, "fcntl");
	SHM_NEXT(next_fcntl64, "fcntl64");
	SHM_NEXT(next_mmap, "mmap");
	SHM_NEXT(next_mmap64, "mmap64");
}
