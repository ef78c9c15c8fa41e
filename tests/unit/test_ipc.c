/* SPDX-License-Identifier: MIT */
/*
 * test_ipc.c - the SysV IPC table, memfds and seals of the core
 * (include/shmemfs_ipc.h), without FUSE: ids, keys, the kernel's check
 * order, ipcperms with groups and capabilities, nattch and destruction,
 * limits, seals, and injected allocation failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>
#include <linux/memfd.h>
#include <cmocka.h>

#include "alloc.h"
#include "helpers.h"
#include "shmemfs_ipc.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

static unsigned test_caps;
static gid_t test_group = (gid_t)-1;

static bool
t_in_group(const struct shmemfs_cred *cr, gid_t gid)
{
	(void)cr;
	return gid == test_group;
}

static bool
t_capable(const struct shmemfs_cred *cr, unsigned cap)
{
	(void)cr;
	return (test_caps & cap) != 0;
}

static uint64_t
t_memlock(const struct shmemfs_cred *cr)
{
	(void)cr;
	return 65536;
}

static struct shmemfs_cred
cred(uid_t uid, gid_t gid)
{
	struct shmemfs_cred cr = {
	    .cr_uid = uid,
	    .cr_gid = gid,
	    .cr_pid = 42,
	    .cr_in_group = t_in_group,
	    .cr_capable = t_capable,
	    .cr_memlock = t_memlock,
	};

	return cr;
}

static uint64_t
seg_ino(struct shmemfs *fs, int id)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_shm_lookup(fs, id, &a), 0);
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
	return a.sa_st.st_ino;
}

static void
test_get_order(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_cred me = cred(1000, 1000), other = cred(2000, 2000);
	int id;

	(void)state;
	assert_int_equal(shmemfs_shm_get(fs, &me, 7, 100, 0), -ENOENT);
	assert_int_equal(shmemfs_shm_get(fs, &me, 7, 0, IPC_CREAT), -EINVAL);
	id = shmemfs_shm_get(fs, &me, 7, 100, IPC_CREAT | 0600);
	assert_int_equal(id, 0);
	/* EEXIST before the size check, size before permissions */
	assert_int_equal(
	    shmemfs_shm_get(fs, &other, 7, 200, IPC_CREAT | IPC_EXCL), -EEXIST);
	assert_int_equal(shmemfs_shm_get(fs, &other, 7, 200, 0), -EINVAL);
	assert_int_equal(shmemfs_shm_get(fs, &other, 7, 100, 0), id);
	assert_int_equal(shmemfs_shm_get(fs, &other, 7, 100, 0400), -EACCES);
	/* the group bits, through a supplementary group */
	assert_int_equal(shmemfs_shm_get(fs, &me, 8, 1, IPC_CREAT | 0640), 1);
	test_group = 1000;
	assert_int_equal(shmemfs_shm_get(fs, &other, 8, 1, 0400), 1);
	assert_int_equal(shmemfs_shm_get(fs, &other, 8, 1, 0200), -EACCES);
	test_group = (gid_t)-1;
	test_caps = SHMEMFS_CAP_IPC_OWNER;
	assert_int_equal(shmemfs_shm_get(fs, &other, 8, 1, 0600), 1);
	test_caps = 0;
	/* private keys always make a new segment; ids go on cyclically */
	assert_int_equal(shmemfs_shm_get(fs, &me, IPC_PRIVATE, 1, 0), 2);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 1, IPC_RMID, NULL), 0);
	assert_int_equal(shmemfs_shm_get(fs, &me, IPC_PRIVATE, 1, 0), 3);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_attach_and_destroy(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_cred me = cred(1000, 1000), other = cred(2000, 2000);
	struct shmemfs_shmid_ds ds;
	struct shmemfs_stats st;
	uint64_t ino;
	int id;

	(void)state;
	id = shmemfs_shm_get(fs, &me, 9, 10000, IPC_CREAT | 0604);
	ino = seg_ino(fs, id);
	assert_int_equal(shmemfs_ipc_open(fs, &other, ino, O_RDWR), -EACCES);
	assert_int_equal(shmemfs_ipc_open(fs, &other, ino, O_RDONLY), 1);
	assert_int_equal(shmemfs_ipc_open(fs, &me, ino, O_RDWR), 1);
	assert_int_equal(shmemfs_write(fs, ino, "abc", 3, 0), 3);
	/* a segment cannot be resized through a descriptor */
	{
		struct shmemfs_setattr sa = {.ss_size = 0};

		assert_int_equal(
		    shmemfs_setattr(fs, ino, SHMEMFS_SET_SIZE, &sa, NULL),
		    -EPERM);
	}
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.sd_nattch, 2);
	assert_int_equal(ds.sd_segsz, 10000);
	assert_int_equal(ds.sd_lpid, 42);
	assert_int_equal(ds.sd_rss, 1);
	/* others may neither remove nor change it */
	assert_int_equal(shmemfs_shm_ctl(fs, &other, id, IPC_RMID, NULL),
			 -EPERM);
	assert_int_equal(shmemfs_shm_ctl(fs, &other, id, SHM_LOCK, NULL),
			 -EPERM);
	test_caps = SHMEMFS_CAP_SYS_ADMIN;
	assert_int_equal(shmemfs_shm_ctl(fs, &other, id, IPC_SET, &ds), 0);
	test_caps = 0;
	/* removed while attached: private, SHM_DEST, still reachable */
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_RMID, NULL), 0);
	assert_int_equal(shmemfs_shm_get(fs, &me, 9, 1, 0), -ENOENT);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.sd_mode & SHM_DEST, SHM_DEST);
	assert_int_equal(ds.sd_key, IPC_PRIVATE);
	shmemfs_ipc_release(fs, 43, ino);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.sd_nattch, 1);
	assert_int_equal(ds.sd_lpid, 43);
	{
		/* a handle looked up before the end opens nothing after */
		struct shmemfs_attr a;

		assert_int_equal(shmemfs_shm_lookup(fs, id, &a), 0);
		shmemfs_ipc_release(fs, 44, ino);
		assert_int_equal(shmemfs_ipc_open(fs, &me, ino, O_RDWR),
				 -EIDRM);
		shmemfs_forget(fs, ino, 1);
	}
	/* the last detach destroyed it and freed its memory */
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_STAT, &ds), -EINVAL);
	assert_int_equal(shmemfs_get_stats(fs, &st), 0);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.inodes_used, 1);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_stat_info_and_limits(void **state)
{
	struct shmemfs *fs = mkfs("shmmax=8192,shmall=4,shmmni=3");
	struct shmemfs_cred me = cred(1000, 1000), other = cred(2000, 2000);
	struct shmemfs_shmid_ds ds[4];
	struct shmemfs_shminfo si;

	(void)state;
	assert_int_equal(shmemfs_shm_get(fs, &me, 0, 8193, 0), -EINVAL);
	assert_int_equal(shmemfs_shm_get(fs, &me, 0, 8192, 0600), 0);
	assert_int_equal(shmemfs_shm_get(fs, &me, 0, 4096, 0), 1);
	assert_int_equal(shmemfs_shm_get(fs, &me, 0, 8192, 0), -ENOSPC);
	assert_int_equal(shmemfs_shm_get(fs, &me, 0, 1, 0), 2);
	assert_int_equal(shmemfs_shm_get(fs, &me, 5, 1, IPC_CREAT), -ENOSPC);
	assert_int_equal(shmemfs_shm_info(fs, &si), 2);
	{
		/* beyond MAX_LFS_FILESIZE; beyond size= without NORESERVE */
		struct shmemfs *big = mkfs("size=1m");

		assert_int_equal(shmemfs_shm_get(big, &me, 0, 1ull << 63, 0),
				 -EINVAL);
		assert_int_equal(shmemfs_shm_get(big, &me, 0, 2 << 20, 0),
				 -ENOMEM);
		assert_int_equal(shmemfs_shm_get(big, &me, 0, 2 << 20,
						 SHM_NORESERVE),
				 0);
		assert_int_equal(shmemfs_shm_get(big, &me, 0, 1 << 20, 0), 1);
		check(big);
		shmemfs_destroy(big);
	}
	assert_int_equal(si.si_used_ids, 3);
	assert_int_equal(si.si_shm_tot, 4);
	assert_int_equal(si.si_shmmax, 8192);
	/* SHM_STAT takes an index and needs read access, _ANY does not */
	assert_int_equal(shmemfs_shm_ctl(fs, &other, 0, SHM_STAT, &ds[0]),
			 -EACCES);
	assert_int_equal(shmemfs_shm_ctl(fs, &other, 0, SHM_STAT_ANY, &ds[0]),
			 0);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 3, SHM_STAT, &ds[0]),
			 -EINVAL);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 0, 999, &ds[0]), -EINVAL);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, -1, IPC_STAT, &ds[0]),
			 -EINVAL);
	assert_int_equal(shmemfs_shm_list(fs, 1, ds, 4), 2);
	assert_int_equal(ds[0].sd_id, 1);
	ds[0].sd_uid = (uint32_t)-1;
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 1, IPC_SET, &ds[0]), -EINVAL);
	/* SHM_LOCK marks the segment and pins its pages */
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 0, SHM_LOCK, NULL), 0);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 0, IPC_STAT, &ds[0]), 0);
	assert_int_equal(ds[0].sd_mode & SHM_LOCKED, SHM_LOCKED);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, 0, SHM_UNLOCK, NULL), 0);
	check(fs);
	shmemfs_destroy(fs);
}

/* SHM_HUGETLB and MFD_HUGETLB: huge folios where huge= takes advice. */
static uint64_t
huge_pages_of(struct shmemfs *fs)
{
	struct shmemfs_stats st;

	assert_int_equal(shmemfs_get_stats(fs, &st), 0);
	return st.huge_pages;
}

static void
test_hugetlb_advises(void **state)
{
	static char buf[4096];
	const char *const opts[] = {"size=64m,huge=advise",
				    "size=64m,huge=never"};
	struct shmemfs_cred me = cred(1000, 1000);
	uint64_t ino, nonce, want;
	struct shmemfs *fs;
	unsigned i;
	int id;

	(void)state;
	for (i = 0; i < 2; i++) {
		want = i == 0 ? 1 : 0;
		fs = mkfs(opts[i]);
		/* a plain segment gets small pages under advise */
		id = shmemfs_shm_get(fs, &me, 1, 4 << 20, IPC_CREAT | 0600);
		ino = seg_ino(fs, id);
		assert_int_equal(shmemfs_write(fs, ino, buf, sizeof(buf), 0),
				 sizeof(buf));
		assert_int_equal(huge_pages_of(fs), 0);
		id = shmemfs_shm_get(fs, &me, 2, 4 << 20,
				     IPC_CREAT | SHM_HUGETLB | 0600);
		ino = seg_ino(fs, id);
		assert_int_equal(shmemfs_write(fs, ino, buf, sizeof(buf), 0),
				 sizeof(buf));
		assert_int_equal(huge_pages_of(fs), want);
		assert_int_equal(shmemfs_memfd_create(fs, &ctx, MFD_HUGETLB,
						      &ino, &nonce),
				 0);
		assert_int_equal(shmemfs_ipc_open(fs, &me, ino, O_RDWR), 0);
		assert_int_equal(shmemfs_write(fs, ino, buf, sizeof(buf), 0),
				 sizeof(buf));
		assert_int_equal(huge_pages_of(fs), 2 * want);
		check(fs);
		shmemfs_destroy(fs);
	}
}

static void
test_memfd_seals(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_cred me = cred(1000, 1000);
	struct shmemfs_setattr sa = {.ss_size = 8192};
	struct shmemfs_attr a;
	uint64_t ino, nonce, f;

	(void)state;
	assert_int_equal(
	    shmemfs_memfd_create(fs, &ctx, MFD_ALLOW_SEALING, &ino, &nonce), 0);
	assert_int_equal(shmemfs_memfd_lookup(fs, ino, nonce ^ 1, &a), -ENOENT);
	assert_int_equal(shmemfs_memfd_lookup(fs, ino, nonce, &a), 0);
	assert_int_equal(a.sa_st.st_mode & 0777, 0777);
	shmemfs_forget(fs, ino, 1);
	assert_int_equal(shmemfs_ipc_open(fs, &me, ino, O_RDWR), 0);
	assert_int_equal(shmemfs_setattr(fs, ino, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	assert_int_equal(shmemfs_seals_get(fs, ino), 0);
	assert_int_equal(shmemfs_seals_add(fs, ino, 0x1000, 0), -EINVAL);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_GROW, 0), 0);
	/* GROW: only the whole pages within the size are written */
	assert_int_equal(shmemfs_write(fs, ino, "abcdefgh", 8, 8192), -EPERM);
	assert_int_equal(shmemfs_write(fs, ino, "abcdefgh", 8, 8190), 2);
	assert_int_equal(shmemfs_write(fs, ino, "abcdefgh", 8, 4094), 8);
	assert_int_equal(
	    shmemfs_fallocate(fs, ino, SHMEMFS_FALLOC_KEEP_SIZE, 8000, 1000),
	    -EPERM);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_WRITE, 1), -EBUSY);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_FUTURE_WRITE, 0), 0);
	assert_int_equal(shmemfs_write(fs, ino, "x", 1, 0), -EPERM);
	/* a mapping made before FUTURE_WRITE still writes back */
	assert_int_equal(shmemfs_write_mapped(fs, ino, "x", 1, 0), 1);
	assert_int_equal(shmemfs_write_mapped(fs, ino, "x", 1, 9000), 0);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_WRITE, 0), 0);
	assert_int_equal(shmemfs_write_mapped(fs, ino, "x", 1, 0), -EPERM);
	assert_int_equal(shmemfs_fallocate(fs, ino,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
					       SHMEMFS_FALLOC_KEEP_SIZE,
					   0, 4096),
			 -EPERM);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_SEAL, 0), 0);
	assert_int_equal(shmemfs_seals_add(fs, ino, F_SEAL_SHRINK, 0), -EPERM);
	shmemfs_ipc_release(fs, 1, ino);
	/* the last close freed it */
	assert_int_equal(shmemfs_memfd_lookup(fs, ino, nonce, &a), -ENOENT);

	/* NOEXEC_SEAL: 0666 and F_SEAL_EXEC; files of the tree are sealed */
	assert_int_equal(
	    shmemfs_memfd_create(fs, &ctx, MFD_NOEXEC_SEAL, &ino, &nonce), 0);
	assert_int_equal(shmemfs_seals_get(fs, ino), F_SEAL_EXEC);
	sa.ss_mode = 0755;
	assert_int_equal(shmemfs_setattr(fs, ino, SHMEMFS_SET_MODE, &sa, NULL),
			 -EPERM);
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_seals_get(fs, f), F_SEAL_SEAL);
	assert_int_equal(shmemfs_seals_add(fs, f, F_SEAL_GROW, 0), -EPERM);
	assert_int_equal(shmemfs_seals_get(fs, 1), -EINVAL);
	check(fs);
	shmemfs_destroy(fs); /* the unopened memfd goes with the mount */
}

static void
test_alloc_failures(void **state)
{
	int n;

	(void)state;
	for (n = 1; n < 20; n++) {
		struct shmemfs *fs = mkfs(NULL);
		struct shmemfs_cred me = cred(1000, 1000);
		uint64_t ino, nonce;
		int r;

		sf_fail_after = n;
		r = shmemfs_shm_get(fs, &me, 3, 4096, IPC_CREAT | 0600);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_memfd_create(fs, &ctx, 0, &ino, &nonce);
		assert_true(r == 0 || r == -ENOMEM);
		sf_fail_after = 0;
		check(fs);
		shmemfs_destroy(fs);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_order),
	    cmocka_unit_test(test_attach_and_destroy),
	    cmocka_unit_test(test_stat_info_and_limits),
	    cmocka_unit_test(test_memfd_seals),
	    cmocka_unit_test(test_hugetlb_advises),
	    cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
