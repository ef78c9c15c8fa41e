/* SPDX-License-Identifier: MIT */
/*
 * sysv.c - shmget/shmat/shmdt/shmctl on the mount's IPC table.
 *
 * shmget and shmctl are control ioctls on the mount root; the daemon
 * decides them with the caller's credentials (include/shmemfs_ipc.h).
 * shmat opens the segment's handle, "#shmemfs:shm:ID" under the mount
 * root, which is where the daemon checks the caller's access and counts
 * the attach, maps it and closes the descriptor: the mapping keeps the
 * open file, and its release (shmdt, exit, exec, kill -9) is the detach.
 * A forked child re-opens and re-maps every attachment over the
 * inherited one (sysv_atfork_child), so that it holds an open file of
 * its own and nattch counts it, as the kernel counts a fork.
 *
 * The argument checks the kernel does before it looks the segment up
 * (do_shmat(): SHM_RND, SHMLBA, SHM_REMAP) are done here, in the
 * kernel's order, since they concern only the caller's address space.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"
#include "shmemfs_ioctl.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static int (*next_shmget)(key_t, size_t, int);
static void *(*next_shmat)(int, const void *, int);
static int (*next_shmdt)(const void *);
static int (*next_shmctl)(int, int, struct shmid_ds *);

struct sysv_att {
	struct sysv_att *sa_next;
	void *sa_addr;
	size_t sa_len; /* page-rounded */
	int sa_id;
	int sa_prot;
	int sa_oflags;
	ino_t sa_ino; /* the segment's inode on the mount */
	bool sa_live; /* sysv_prune(): still mapped where shmat put it */
};

static struct sysv_att *sysv_atts; /* shm_lock */
static pthread_once_t sysv_once = PTHREAD_ONCE_INIT;

static int
sysv_open(int shmid, int oflags)
{
	char name[64], path[PATH_MAX];
	int fd;

	snprintf(name, sizeof(name), SHMEMFS_IPC_SHM_FMT, shmid);
	if (shm_mount_path(path, sizeof(path), name) < 0)
		return -1;
	fd = open(path, oflags | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		errno = EINVAL; /* no such id */
	return fd;
}

/*
 * SHM_REMAP replaced whatever was mapped in [@addr, @addr + @len): the
 * attachments it covered are gone.  => shm_lock held.
 */
static void
sysv_forget_range(void *addr, size_t len)
{
	struct sysv_att **pp = &sysv_atts, *sa;
	char *lo = addr, *hi = lo + len;

	while ((sa = *pp)) {
		char *s = sa->sa_addr;

		if (s >= lo && s + sa->sa_len <= hi) {
			*pp = sa->sa_next;
			free(sa);
			continue;
		}
		pp = &sa->sa_next;
	}
}

/* START-END PERMS OFFSET DEV INODE [PATH]: mark the attachment there. */
static int
sysv_maps_line(char *line, void *arg)
{
	unsigned long long start, ino;
	struct sysv_att *sa;
	char *p, *e;
	int field;

	(void)arg;
	start = strtoull(line, &e, 16);
	for (p = e, field = 0; field < 4 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	ino = strtoull(p + 1, NULL, 10);
	for (sa = sysv_atts; sa; sa = sa->sa_next)
		if ((uintptr_t)sa->sa_addr == start &&
		    (unsigned long long)sa->sa_ino == ino)
			sa->sa_live = true;
	return 0;
}

/*
 * Drop the attachments the program unmapped itself (munmap, or a
 * MAP_FIXED mapping over them): those the kernel would have detached.
 * Reads /proc/self/maps with read(2): it also runs in a forked child.
 * => shm_lock held.
 */
static void
sysv_prune(void)
{
	struct sysv_att **pp = &sysv_atts, *sa;

	for (sa = sysv_atts; sa; sa = sa->sa_next)
		sa->sa_live = false;
	if (shm_maps_each(sysv_maps_line, NULL) < 0)
		return; /* cannot tell: keep them all */
	while ((sa = *pp)) {
		if (!sa->sa_live) {
			*pp = sa->sa_next;
			free(sa);
			continue;
		}
		pp = &sa->sa_next;
	}
}

static void
sysv_atfork_prepare(void)
{
	pthread_mutex_lock(&shm_lock);
}

static void
sysv_atfork_parent(void)
{
	pthread_mutex_unlock(&shm_lock);
}

/*
 * Give the child an open file of each segment it inherited mapped, as
 * the kernel's shm_open() vm operation counts a fork.  Should the
 * segment no longer let us in (IPC_SET since), the inherited mapping
 * stays and is not counted.
 */
static void
sysv_atfork_child(void)
{
	struct sysv_att *sa;
	int saved = errno;

	sysv_prune();
	for (sa = sysv_atts; sa; sa = sa->sa_next) {
		int fd = sysv_open(sa->sa_id, sa->sa_oflags);

		if (fd < 0)
			continue;
		mmap(sa->sa_addr, sa->sa_len, sa->sa_prot,
		     MAP_SHARED | MAP_FIXED, fd, 0);
		close(fd);
	}
	pthread_mutex_unlock(&shm_lock);
	errno = saved;
}

static void
sysv_init(void)
{
	pthread_atfork(sysv_atfork_prepare, sysv_atfork_parent,
		       sysv_atfork_child);
}

int
shmget(key_t key, size_t size, int shmflg)
{
	struct shmemfs_ioc_shmget sg = {
	    .sg_key = key,
	    .sg_flags = shmflg,
	    .sg_size = size,
	};

	if (!shm_mount()) {
		SHM_NEXT(next_shmget, "shmget");
		return next_shmget(key, size, shmflg);
	}
	return shm_root_ioctl(SHMEMFS_IOC_SHMGET, &sg);
}

void *
shmat(int shmid, const void *shmaddr, int shmflg)
{
	uintptr_t addr = (uintptr_t)shmaddr, lba = (uintptr_t)SHMLBA;
	int prot, oflags, flags = MAP_SHARED, fd, saved;
	struct sysv_att *sa;
	struct stat st;
	size_t len;
	void *p;

	if (!shm_mount()) {
		SHM_NEXT(next_shmat, "shmat");
		return next_shmat(shmid, shmaddr, shmflg);
	}
	pthread_once(&sysv_once, sysv_init);
	if (shmid < 0)
		goto einval;
	if (addr) {
		if (addr & (lba - 1)) {
			if (!(shmflg & SHM_RND))
				goto einval;
			addr &= ~(lba - 1);
			if (!addr && (shmflg & SHM_REMAP))
				goto einval;
		}
		flags |= (shmflg & SHM_REMAP) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
	} else if (shmflg & SHM_REMAP) {
		goto einval;
	}
	if (shmflg & SHM_RDONLY) {
		prot = PROT_READ;
		oflags = O_RDONLY;
	} else {
		prot = PROT_READ | PROT_WRITE;
		oflags = O_RDWR;
	}
	if (shmflg & SHM_EXEC)
		prot |= PROT_EXEC;
	fd = sysv_open(shmid, oflags);
	if (fd < 0)
		return (void *)-1;
	if (fstat(fd, &st) < 0)
		goto out_close;
	len = ((size_t)st.st_size + (size_t)getpagesize() - 1) &
	      ~((size_t)getpagesize() - 1);
	if (addr && addr + len < addr) {
		close(fd);
		goto einval;
	}
	sa = malloc(sizeof(*sa));
	if (!sa) {
		errno = ENOMEM;
		goto out_close;
	}
	p = mmap((void *)addr, len, prot, flags, fd, 0);
	if (p == MAP_FAILED) {
		if (errno == EEXIST)
			errno = EINVAL; /* find_vma_intersection() */
		free(sa);
		goto out_close;
	}
	close(fd);
	sa->sa_addr = p;
	sa->sa_len = len;
	sa->sa_id = shmid;
	sa->sa_prot = prot;
	sa->sa_oflags = oflags;
	sa->sa_ino = st.st_ino;
	pthread_mutex_lock(&shm_lock);
	sysv_forget_range(p, len);
	sa->sa_next = sysv_atts;
	sysv_atts = sa;
	pthread_mutex_unlock(&shm_lock);
	return p;

out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return (void *)-1;
einval:
	errno = EINVAL;
	return (void *)-1;
}

int
shmdt(const void *shmaddr)
{
	struct sysv_att **pp, *sa;

	if (shm_mount()) {
		pthread_mutex_lock(&shm_lock);
		sysv_prune();
		for (pp = &sysv_atts; (sa = *pp); pp = &sa->sa_next) {
			if (sa->sa_addr != shmaddr)
				continue;
			*pp = sa->sa_next;
			pthread_mutex_unlock(&shm_lock);
			munmap(sa->sa_addr, sa->sa_len);
			free(sa);
			return 0;
		}
		pthread_mutex_unlock(&shm_lock);
		/* Every attach is ours here: nothing at @shmaddr. */
		errno = EINVAL;
		return -1;
	}
	SHM_NEXT(next_shmdt, "shmdt");
	return next_shmdt(shmaddr);
}

static void
sysv_fill_ds(struct shmid_ds *buf, const struct shmemfs_shmid_ds *ds)
{
	memset(buf, 0, sizeof(*buf));
	buf->shm_perm.__key = ds->sd_key;
	buf->shm_perm.uid = ds->sd_uid;
	buf->shm_perm.gid = ds->sd_gid;
	buf->shm_perm.cuid = ds->sd_cuid;
	buf->shm_perm.cgid = ds->sd_cgid;
	buf->shm_perm.mode = (unsigned short)ds->sd_mode;
	buf->shm_perm.__seq = (unsigned short)ds->sd_seq;
	buf->shm_segsz = ds->sd_segsz;
	buf->shm_atime = ds->sd_atime;
	buf->shm_dtime = ds->sd_dtime;
	buf->shm_ctime = ds->sd_ctime;
	buf->shm_cpid = ds->sd_cpid;
	buf->shm_lpid = ds->sd_lpid;
	buf->shm_nattch = ds->sd_nattch;
}

static int
sysv_info(int cmd, struct shmid_ds *buf)
{
	struct shmemfs_shminfo si;
	int ret;

	ret = shm_root_ioctl(SHMEMFS_IOC_SHMINFO, &si);
	if (ret < 0)
		return ret;
	if (!buf) {
		errno = EFAULT;
		return -1;
	}
	if (cmd == IPC_INFO) {
		struct shminfo *i = (struct shminfo *)(void *)buf;

		memset(i, 0, sizeof(*i));
		i->shmmax = si.si_shmmax;
		i->shmmin = si.si_shmmin;
		i->shmmni = si.si_shmmni;
		i->shmseg = si.si_shmseg;
		i->shmall = si.si_shmall;
	} else {
		struct shm_info *i = (struct shm_info *)(void *)buf;

		memset(i, 0, sizeof(*i));
		i->used_ids = si.si_used_ids;
		i->shm_tot = si.si_shm_tot;
		i->shm_rss = si.si_shm_rss;
		i->shm_swp = si.si_shm_swp;
	}
	return ret;
}

int
shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	struct shmemfs_ioc_shmctl sc;
	int ret;

	if (!shm_mount()) {
		SHM_NEXT(next_shmctl, "shmctl");
		return next_shmctl(shmid, cmd, buf);
	}
	cmd &= ~0x0100; /* IPC_64: the only layout there is here */
	if (cmd < 0 || shmid < 0) {
		errno = EINVAL;
		return -1;
	}
	if (cmd == IPC_INFO || cmd == SHM_INFO)
		return sysv_info(cmd, buf);
	memset(&sc, 0, sizeof(sc));
	sc.sc_id = shmid;
	sc.sc_cmd = cmd;
	if (cmd == IPC_SET) {
		if (!buf) {
			errno = EFAULT;
			return -1;
		}
		sc.sc_ds.sd_uid = buf->shm_perm.uid;
		sc.sc_ds.sd_gid = buf->shm_perm.gid;
		sc.sc_ds.sd_mode = buf->shm_perm.mode;
	}
	ret = shm_root_ioctl(SHMEMFS_IOC_SHMCTL, &sc);
	if (ret < 0)
		return ret;
	if (cmd == IPC_STAT || cmd == SHM_STAT || cmd == SHM_STAT_ANY) {
		if (!buf) {
			errno = EFAULT;
			return -1;
		}
		sysv_fill_ds(buf, &sc.sc_ds);
	}
	return ret;
}

/* Called once by the constructor (preload.c), before any thread. */
void
shm_sysv_resolve(void)
{
	SHM_NEXT(next_shmget, "shmget");
	SHM_NEXT(next_shmat, "shmat");
	SHM_NEXT(next_shmdt, "shmdt");
	SHM_NEXT(next_shmctl, "shmctl");
}
