/* SPDX-License-Identifier: MIT */
/*
 * test_core.c - the core through its public API, without FUSE.
 *
 * Each test builds a fresh struct shmemfs, drives it the way the daemon
 * would, and runs shmemfs_check() so every test also checks the
 * counters, link counts and index shapes.
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
#include <unistd.h>
#include <cmocka.h>

#include "alloc.h"
#include "helpers.h"

static uint64_t
mkd(struct shmemfs *fs, uint64_t dir, const char *name)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_mkdir(fs, &ctx, dir, name, 0755, &a), 0);
	return a.sa_st.st_ino;
}

static struct stat
st_of(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_getattr(fs, ino, &a), 0);
	return a.sa_st;
}

static void
test_root(void **state)
{
	struct shmemfs *fs = mkfs("mode=0700,uid=5,gid=6");
	struct stat st = st_of(fs, SHMEMFS_ROOT_INO);

	(void)state;
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_size, 40);
	check(fs);
	shmemfs_destroy(fs);
}

/*
 * sf_obj_alloc(): objects of every size class are 8-byte aligned, do
 * not overlap, keep their contents while others come and go, and are
 * reused; an injected failure gives NULL.  (Under ASan these are malloc.)
 */
static void
test_obj_alloc(void **state)
{
	enum { N = 3000 };
	static unsigned char *obj[N];
	size_t i, size;

	(void)state;
	for (size = 1; size <= 600; size += 37) {
		for (i = 0; i < N; i++) {
			obj[i] = sf_obj_alloc(size);
			assert_non_null(obj[i]);
			assert_int_equal((uintptr_t)obj[i] % 8, 0);
			memset(obj[i], (int)(i & 0xff), size);
		}
		/* free every other one, then take as many again */
		for (i = 0; i < N; i += 2)
			sf_obj_free(obj[i], size);
		for (i = 0; i < N; i += 2) {
			obj[i] = sf_obj_zalloc(size);
			assert_non_null(obj[i]);
			assert_int_equal(obj[i][0], 0);
			assert_int_equal(obj[i][size - 1], 0);
			memset(obj[i], (int)(i & 0xff), size);
		}
		for (i = 0; i < N; i++) {
			assert_int_equal(obj[i][0], i & 0xff);
			assert_int_equal(obj[i][size - 1], i & 0xff);
			sf_obj_free(obj[i], size);
		}
	}
	sf_fail_after = 1;
	assert_null(sf_obj_alloc(128));
	assert_int_equal(sf_fail_after, 0);
	sf_obj_free(NULL, 128);
}

/*
 * Inode times are 64-bit nanoseconds (per-file memory) with the times
 * outside 1677-2262 kept aside (node.c): every time64_t comes back
 * exactly, the ends of the 64-bit span and negative times included.
 */
static void
test_times_ns(void **state)
{
	static const struct {
		struct timespec in, out;
	} cases[] = {
	    {{0, 0}, {0, 0}},
	    {{1, 999999999}, {1, 999999999}},
	    {{-1, 500000000}, {-1, 500000000}},
	    {{-2, 1}, {-2, 1}},
	    {{9223372036, 854775807}, {9223372036, 854775807}},
	    {{9223372036, 854775808}, {9223372036, 854775808}},
	    {{1099511627776, 1}, {1099511627776, 1}},
	    {{INT64_MAX, 999999999}, {INT64_MAX, 999999999}},
	    {{5, 6}, {5, 6}},
	    {{-9223372037, 145224193}, {-9223372037, 145224193}},
	    {{-9223372037, 145224192}, {-9223372037, 145224192}},
	    {{-9223372037, 145224191}, {-9223372037, 145224191}},
	    {{INT64_MIN, 0}, {INT64_MIN, 0}},
	};
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_setattr sa;
	struct shmemfs_attr a;
	uint64_t f;
	size_t i;

	(void)state;
	f = mkfile(fs, 1, "f");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&sa, 0, sizeof(sa));
		sa.ss_atime = cases[i].in;
		sa.ss_mtime = cases[i].in;
		sa.ss_ctime = cases[i].in;
		assert_int_equal(shmemfs_setattr(fs, f,
						 SHMEMFS_SET_ATIME |
						     SHMEMFS_SET_MTIME |
						     SHMEMFS_SET_CTIME,
						 &sa, &a),
				 0);
		assert_int_equal(shmemfs_getattr(fs, f, &a), 0);
		assert_int_equal(a.sa_st.st_atim.tv_sec, cases[i].out.tv_sec);
		assert_int_equal(a.sa_st.st_atim.tv_nsec,
				 cases[i].out.tv_nsec);
		assert_int_equal(a.sa_st.st_mtim.tv_sec, cases[i].out.tv_sec);
		assert_int_equal(a.sa_st.st_mtim.tv_nsec,
				 cases[i].out.tv_nsec);
		assert_int_equal(a.sa_st.st_ctim.tv_sec, cases[i].out.tv_sec);
		assert_int_equal(a.sa_st.st_ctim.tv_nsec,
				 cases[i].out.tv_nsec);
	}
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_namespace_errors(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_attr a;
	char name[300];
	uint64_t d, f;

	(void)state;
	d = mkd(fs, 1, "d");
	f = mkfile(fs, d, "f");
	assert_int_equal(shmemfs_lookup(fs, 1, "nope", &a), -ENOENT);
	assert_int_equal(shmemfs_mkdir(fs, &ctx, 1, "d", 0755, &a), -EEXIST);
	assert_int_equal(shmemfs_rmdir(fs, 1, "d"), -ENOTEMPTY);
	assert_int_equal(shmemfs_unlink(fs, 1, "d"), -EISDIR);
	assert_int_equal(shmemfs_rmdir(fs, d, "f"), -ENOTDIR);
	assert_int_equal(shmemfs_mknod(fs, &ctx, f, "x", S_IFREG, 0, &a),
			 -ENOTDIR);
	assert_int_equal(shmemfs_link(fs, d, 1, "dl", &a), -EPERM);
	memset(name, 'n', 255);
	name[255] = '\0';
	assert_int_equal(shmemfs_mknod(fs, &ctx, 1, name, S_IFREG, 0, &a), 0);
	name[255] = 'n';
	name[256] = '\0';
	assert_int_equal(shmemfs_mknod(fs, &ctx, 1, name, S_IFREG, 0, &a),
			 -ENAMETOOLONG);
	assert_int_equal(shmemfs_lookup(fs, 1, name, &a), -ENAMETOOLONG);
	assert_int_equal(st_of(fs, 1).st_nlink, 3);
	assert_int_equal(st_of(fs, 1).st_size, 40 + 2 * 20);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_symlinks(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_attr a;
	char target[4097], buf[4096];
	int len;

	(void)state;
	assert_int_equal(shmemfs_symlink(fs, &ctx, 1, "s", "short", &a), 0);
	assert_int_equal(a.sa_st.st_size, 5);
	assert_int_equal(a.sa_st.st_blocks, 0);
	len = shmemfs_readlink(fs, a.sa_st.st_ino, buf, sizeof(buf));
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "short", 5);
	memset(target, 'x', 4095);
	target[4095] = '\0';
	assert_int_equal(shmemfs_symlink(fs, &ctx, 1, "l", target, &a), 0);
	assert_int_equal(a.sa_st.st_size, 4095);
	assert_int_equal(a.sa_st.st_blocks, 8);
	len = shmemfs_readlink(fs, a.sa_st.st_ino, buf, sizeof(buf));
	assert_int_equal(len, 4095);
	assert_memory_equal(buf, target, 4095);
	target[4095] = 'x';
	target[4096] = '\0';
	assert_int_equal(shmemfs_symlink(fs, &ctx, 1, "m", target, &a),
			 -ENAMETOOLONG);
	assert_int_equal(shmemfs_symlink(fs, &ctx, 1, "e", "", &a), -ENOENT);
	check(fs);
	assert_int_equal(shmemfs_unlink(fs, 1, "l"), 0);
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_data_sparse(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	char buf[8192], zero[8192] = {0};
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_write(fs, f, "hello", 5, 1 << 20), 5);
	assert_int_equal(st_of(fs, f).st_size, (1 << 20) + 5);
	assert_int_equal(st_of(fs, f).st_blocks, 8);
	assert_int_equal(shmemfs_read(fs, f, buf, 8192, 4096), 8192);
	assert_memory_equal(buf, zero, 8192);
	assert_int_equal(shmemfs_read(fs, f, buf, 100, (1 << 20) + 2), 3);
	assert_memory_equal(buf, "llo", 3);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_DATA), 1 << 20);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_HOLE), 0);
	assert_int_equal(shmemfs_lseek(fs, f, 1 << 20, SEEK_HOLE),
			 (1 << 20) + 5);
	assert_int_equal(shmemfs_lseek(fs, f, (1 << 20) + 5, SEEK_DATA),
			 -ENXIO);
	/* truncate into the page zeroes its tail */
	{
		struct shmemfs_setattr sa = {.ss_size = (1 << 20) + 2};

		assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa,
						 NULL), 0);
		sa.ss_size = (1 << 20) + 5;
		assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa,
						 NULL), 0);
		assert_int_equal(shmemfs_read(fs, f, buf, 5, 1 << 20), 5);
		assert_memory_equal(buf, "he\0\0\0", 5);
		sa.ss_size = 0;
		assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa,
						 NULL), 0);
		assert_int_equal(st_of(fs, f).st_blocks, 0);
	}
	/* an end past the largest offset is EINVAL, as rw_verify_area()
	 * says; the last byte itself can be written */
	assert_int_equal(shmemfs_write(fs, f, "x", 1, INT64_MAX), -EINVAL);
	assert_int_equal(shmemfs_write(fs, f, "xy", 2, INT64_MAX - 1),
			 -EINVAL);
	assert_int_equal(shmemfs_write(fs, f, "x", 1, INT64_MAX - 1), 1);
	assert_int_equal(st_of(fs, f).st_size, INT64_MAX);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_fallocate(void **state)
{
	struct shmemfs *fs = mkfs("size=64k");
	struct stat st;
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 8192), 0);
	st = st_of(fs, f);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(st.st_blocks, 16);
	/* fallocated, never written: a hole for SEEK_DATA */
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_HOLE), 0);
	assert_int_equal(shmemfs_write(fs, f, "a", 1, 4096), 1);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_DATA), 4096);
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE,
					   8192, 8192), 0);
	st = st_of(fs, f);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(st.st_blocks, 32);
	/* too big: ENOSPC and nothing added */
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 1 << 20), -ENOSPC);
	assert_int_equal(st_of(fs, f).st_blocks, 32);
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_PUNCH_HOLE,
					   0, 4096), -EOPNOTSUPP);
	assert_int_equal(shmemfs_fallocate(fs, f, 0x10, 0, 4096),
			 -EOPNOTSUPP);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, -1, 4096), -EINVAL);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 0), -EINVAL);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, INT64_MAX, 1), -EFBIG);
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_PUNCH_HOLE |
					   SHMEMFS_FALLOC_KEEP_SIZE, 100,
					   16384), 0);
	/* page 0 partially punched stays; pages 1..3 go */
	assert_int_equal(st_of(fs, f).st_blocks, 8);
	/* truncate to the same size drops KEEP_SIZE pages past EOF */
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE,
					   8192, 8192), 0);
	{
		struct shmemfs_setattr sa = {.ss_size = 8192};

		assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa,
						 NULL), 0);
	}
	assert_int_equal(st_of(fs, f).st_blocks, 8);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_enospc(void **state)
{
	struct shmemfs *fs = mkfs("size=16k,nr_inodes=3");
	struct shmemfs_attr a;
	char buf[4096] = {1};
	uint64_t f;
	int i;

	(void)state;
	f = mkfile(fs, 1, "f");
	for (i = 0; i < 4; i++)
		assert_int_equal(shmemfs_write(fs, f, buf, 4096, i * 4096),
				 4096);
	assert_int_equal(shmemfs_write(fs, f, buf, 4096, 16384), -ENOSPC);
	/* a write that straddles the limit is short */
	assert_int_equal(shmemfs_write(fs, f, buf, 2, 16383), 1);
	mkfile(fs, 1, "g");
	assert_int_equal(shmemfs_mknod(fs, &ctx, 1, "h", S_IFREG, 0, &a),
			 -ENOSPC);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), 0);
	shmemfs_forget(fs, f, 1);
	mkfile(fs, 1, "h");
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_unlinked_open(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_stats s;
	char buf[4];
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_open(fs, f), 0);
	shmemfs_forget(fs, f, 1);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), 0);
	assert_int_equal(shmemfs_write(fs, f, "abcd", 4, 0), 4);
	assert_int_equal(shmemfs_read(fs, f, buf, 4, 0), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(st_of(fs, f).st_nlink, 0);
	shmemfs_get_stats(fs, &s);
	assert_int_equal(s.used_bytes, 4096);
	check(fs);
	shmemfs_release(fs, f);
	shmemfs_get_stats(fs, &s);
	assert_int_equal(s.used_bytes, 0);
	assert_int_equal(s.inodes_used, 1);
	{
		struct shmemfs_attr a;

		assert_int_equal(shmemfs_getattr(fs, f, &a), -ESTALE);
	}
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_rename(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_attr a;
	uint64_t a1, b, c;

	(void)state;
	a1 = mkd(fs, 1, "a");
	b = mkd(fs, a1, "b");
	c = mkd(fs, 1, "c");
	mkfile(fs, 1, "f");
	mkfile(fs, 1, "g");
	assert_int_equal(shmemfs_rename(fs, 1, "a", b, "x", 0), -EINVAL);
	assert_int_equal(shmemfs_rename(fs, 1, "a", a1, "x", 0), -EINVAL);
	assert_int_equal(shmemfs_rename(fs, a1, "b", 1, "a", 0), -ENOTEMPTY);
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "a", 0), -EISDIR);
	assert_int_equal(shmemfs_rename(fs, 1, "c", 1, "f", 0), -ENOTDIR);
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "g",
					SHMEMFS_RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "zz",
					SHMEMFS_RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "g",
					SHMEMFS_RENAME_NOREPLACE |
					SHMEMFS_RENAME_EXCHANGE), -EINVAL);
	/* exchange a file and a directory across parents */
	assert_int_equal(shmemfs_rename(fs, 1, "f", a1, "b",
					SHMEMFS_RENAME_EXCHANGE), 0);
	check(fs);
	assert_int_equal(shmemfs_lookup(fs, 1, "f", &a), 0);
	assert_int_equal(a.sa_st.st_ino, b);
	assert_int_equal(st_of(fs, 1).st_nlink, 5);
	assert_int_equal(st_of(fs, a1).st_nlink, 2);
	/* replace an empty directory */
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "c", 0), 0);
	assert_int_equal(st_of(fs, c).st_nlink, 0);
	shmemfs_forget(fs, c, 1);
	check(fs);
	/* a file over a file; the old target goes */
	assert_int_equal(shmemfs_rename(fs, a1, "b", 1, "g", 0), 0);
	assert_int_equal(shmemfs_lookup(fs, a1, "b", &a), -ENOENT);
	check(fs);
	shmemfs_destroy(fs);
}

struct collect {
	char names[2100][8];
	uint64_t cookies[2100];
	int n;
	int limit;
};

static int
collect_fill(void *arg, const char *name, const struct shmemfs_attr *attr,
	     uint64_t next)
{
	struct collect *c = arg;

	(void)attr;
	if (c->n >= c->limit)
		return 1;
	snprintf(c->names[c->n], 8, "%s", name);
	c->cookies[c->n] = next;
	c->n++;
	return 0;
}

static void
test_readdir_unlink(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	static struct collect c;
	static int seen[2000];
	uint64_t cookie = 0;
	char name[16];
	int i, total = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "%d", i);
		mkfile(fs, 1, name);
	}
	for (;;) {
		c.n = 0;
		c.limit = 37;
		assert_int_equal(shmemfs_readdir(fs, 1, cookie, 0,
						 collect_fill, &c), 0);
		if (c.n == 0)
			break;
		for (i = 0; i < c.n; i++) {
			cookie = c.cookies[i];
			if (c.names[i][0] == '.')
				continue;
			seen[atoi(c.names[i])]++;
			total++;
			assert_int_equal(shmemfs_unlink(fs, 1, c.names[i]), 0);
		}
		/* entries created mid-walk are not required, but old ones
		 * must each come exactly once */
	}
	assert_int_equal(total, 2000);
	for (i = 0; i < 2000; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(st_of(fs, 1).st_size, 40);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_xattr(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	static char big[65537];
	char name[300], buf[64];
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_setxattr(fs, f, "user.b", "2", 1, 0), 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.a", "1", 1, 0), 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.a", "1", 1,
					  SHMEMFS_XATTR_CREATE), -EEXIST);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.c", "1", 1,
					  SHMEMFS_XATTR_REPLACE), -ENODATA);
	assert_int_equal(shmemfs_getxattr(fs, f, "user.c", buf, 64), -ENODATA);
	assert_int_equal(shmemfs_getxattr(fs, f, "user.a", NULL, 0), 1);
	assert_int_equal(shmemfs_listxattr(fs, f, NULL, 0), 14);
	assert_int_equal(shmemfs_listxattr(fs, f, buf, 64), 14);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	assert_int_equal(shmemfs_listxattr(fs, f, buf, 3), -ERANGE);
	assert_int_equal(shmemfs_setxattr(fs, f, "other.a", "1", 1, 0),
			 -EOPNOTSUPP);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.", "1", 1, 0), -EINVAL);
	memset(name, 'x', sizeof(name));
	memcpy(name, "user.", 5);
	name[255] = '\0';
	assert_int_equal(shmemfs_setxattr(fs, f, name, "1", 1, 0), 0);
	name[255] = 'x';
	name[256] = '\0';
	assert_int_equal(shmemfs_setxattr(fs, f, name, "1", 1, 0), -ERANGE);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.big", big, 65536, 0), 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.big", big, 65537, 0),
			 -E2BIG);
	assert_int_equal(shmemfs_getxattr(fs, f, "user.big", buf, 64),
			 -ERANGE);
	assert_int_equal(shmemfs_removexattr(fs, f, "user.big"), 0);
	assert_int_equal(shmemfs_removexattr(fs, f, "user.big"), -ENODATA);
	check(fs);
	shmemfs_destroy(fs);
}

/*
 * Every create and write path under injected allocation failures: the
 * call fails cleanly with -ENOMEM or succeeds, and the filesystem stays
 * consistent either way.
 */
static void
test_alloc_failures(void **state)
{
	int n;

	(void)state;
	for (n = 1; n < 40; n++) {
		struct shmemfs *fs = mkfs(NULL);
		struct shmemfs_attr a;
		char tgt[200];
		int r;

		memset(tgt, 't', sizeof(tgt) - 1);
		tgt[sizeof(tgt) - 1] = '\0';
		mkfile(fs, 1, "f");
		sf_fail_after = n;
		r = shmemfs_mkdir(fs, &ctx, 1, "d", 0755, &a);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_symlink(fs, &ctx, 1, "s", tgt, &a);
		assert_true(r == 0 || r == -ENOMEM);
		r = (int)shmemfs_write(fs, 2, "abc", 3, 1ull << 40);
		assert_true(r == 3 || r == -ENOMEM);
		r = shmemfs_fallocate(fs, 2, 0, 0, 40960);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_rename(fs, 1, "f", 1, "g", 0);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_setxattr(fs, 2, "user.x", "v", 1, 0);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_tmpfile(fs, &ctx, 1, 0600, 0, &a);
		assert_true(r == 0 || r == -ENOMEM);
		if (r == 0) {
			uint64_t t = a.sa_st.st_ino;

			r = shmemfs_link(fs, t, 1, "t", &a);
			assert_true(r == 0 || r == -ENOMEM);
			shmemfs_release(fs, t);
			shmemfs_forget(fs, t, r == 0 ? 2 : 1);
		}
		sf_fail_after = 0;
		check(fs);
		shmemfs_destroy(fs);
	}
}

/* tmpfs 6.6+ inode space: hard links and xattrs cost it too */
static void
test_inode_space(void **state)
{
	struct shmemfs *fs = mkfs("nr_inodes=4");
	static char val[4000];
	struct shmemfs_attr a;
	struct statvfs sv;
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_files, 4);
	assert_int_equal(sv.f_ffree, 2);
	assert_int_equal(shmemfs_link(fs, f, 1, "l1", &a), 0);
	assert_int_equal(shmemfs_link(fs, f, 1, "l2", &a), 0);
	assert_int_equal(shmemfs_link(fs, f, 1, "l3", &a), -ENOSPC);
	check(fs);
	assert_int_equal(shmemfs_unlink(fs, 1, "l1"), 0);
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_ffree, 1);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.v", val, 900, 0), 0);
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_ffree, 0);
	/* charged before the CREATE check, so ENOSPC comes first */
	assert_int_equal(shmemfs_setxattr(fs, f, "user.v", val, 4000,
					  SHMEMFS_XATTR_CREATE), -ENOSPC);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.v", val, 10,
					  SHMEMFS_XATTR_CREATE), -EEXIST);
	check(fs);
	assert_int_equal(shmemfs_removexattr(fs, f, "user.v"), 0);
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_ffree, 1);
	check(fs);
	shmemfs_destroy(fs);
}

/* A second fallocate over an unwritten page makes it data (tmpfs). */
static void
test_fallocate_twice(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	uint64_t f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 8192), 0);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE,
					   4096, 8192), 0);
	assert_int_equal(shmemfs_lseek(fs, f, 0, SEEK_DATA), 4096);
	assert_int_equal(shmemfs_lseek(fs, f, 4096, SEEK_HOLE), 8192);
	assert_int_equal(st_of(fs, f).st_blocks, 24);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_setgid_inherit(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_setattr sa = {.ss_mode = 02775, .ss_gid = 77};
	struct shmemfs_attr a;
	uint64_t d;

	(void)state;
	d = mkd(fs, 1, "d");
	assert_int_equal(shmemfs_setattr(fs, d, SHMEMFS_SET_MODE |
					 SHMEMFS_SET_GID, &sa, NULL), 0);
	assert_int_equal(shmemfs_mkdir(fs, &ctx, d, "sub", 0755, &a), 0);
	assert_int_equal(a.sa_st.st_gid, 77);
	assert_true(a.sa_st.st_mode & S_ISGID);
	assert_int_equal(shmemfs_mknod(fs, &ctx, d, "f", S_IFREG | 0644, 0,
				       &a), 0);
	assert_int_equal(a.sa_st.st_gid, 77);
	assert_false(a.sa_st.st_mode & S_ISGID);
	shmemfs_destroy(fs);
}

/*
 * O_TMPFILE: no name, nlink 0, counted, freed at the last release and
 * forget unless linked; linkable once unless SHMEMFS_TMPFILE_EXCL.
 */
static void
test_tmpfile(void **state)
{
	struct shmemfs *fs = mkfs("nr_inodes=4");
	struct shmemfs_stats s;
	struct shmemfs_attr a, b;
	uint64_t t, x, f;

	(void)state;
	f = mkfile(fs, 1, "f");
	assert_int_equal(shmemfs_tmpfile(fs, &ctx, f, 0600, 0, &a), -ENOTDIR);
	assert_int_equal(shmemfs_tmpfile(fs, &ctx, 1, 0640, 0, &a), 0);
	t = a.sa_st.st_ino;
	assert_true(S_ISREG(a.sa_st.st_mode));
	assert_int_equal(a.sa_st.st_mode & 07777, 0640);
	assert_int_equal(a.sa_st.st_nlink, 0);
	assert_int_equal(st_of(fs, 1).st_size, 40 + 20); /* only "f" */
	memset(&s, 0, sizeof(s));
	shmemfs_get_stats(fs, &s);
	assert_int_equal(s.inodes_used, 3);
	assert_int_equal(shmemfs_write(fs, t, "data", 4, 8192), 4);
	assert_int_equal(st_of(fs, t).st_blocks, 8);
	check(fs);

	/* O_EXCL: never linkable */
	assert_int_equal(shmemfs_tmpfile(fs, &ctx, 1, 0600,
					 SHMEMFS_TMPFILE_EXCL, &b), 0);
	x = b.sa_st.st_ino;
	assert_int_equal(shmemfs_link(fs, x, 1, "x", &b), -ENOENT);
	/* the inode limit counts unnamed files too */
	assert_int_equal(shmemfs_tmpfile(fs, &ctx, 1, 0600, 0, &b), -ENOSPC);
	shmemfs_release(fs, x);
	shmemfs_forget(fs, x, 1);
	assert_int_equal(shmemfs_getattr(fs, x, &b), -ESTALE);

	/* linkable once: named, unnamed again, then not linkable */
	assert_int_equal(shmemfs_link(fs, t, 1, "t", &b), 0);
	assert_int_equal(b.sa_st.st_nlink, 1);
	assert_int_equal(shmemfs_lookup(fs, 1, "t", &b), 0);
	assert_int_equal(b.sa_st.st_ino, t);
	assert_int_equal(shmemfs_unlink(fs, 1, "t"), 0);
	assert_int_equal(shmemfs_link(fs, t, 1, "t2", &b), -ENOENT);
	check(fs);
	shmemfs_release(fs, t);
	shmemfs_forget(fs, t, 3); /* tmpfile, link, lookup */
	assert_int_equal(shmemfs_getattr(fs, t, &b), -ESTALE);
	memset(&s, 0, sizeof(s));
	shmemfs_get_stats(fs, &s);
	assert_int_equal(s.inodes_used, 2);
	assert_int_equal(s.used_bytes, 0);
	check(fs);
	shmemfs_destroy(fs);
}

/* Set @ino's mode and an old ctime, so that a change to either shows. */
static void
set_mode_old_ctime(struct shmemfs *fs, uint64_t ino, mode_t mode)
{
	struct shmemfs_setattr sa = {.ss_mode = mode, .ss_ctime = {1, 0}};

	assert_int_equal(shmemfs_setattr(fs, ino,
					 SHMEMFS_SET_MODE | SHMEMFS_SET_CTIME,
					 &sa, NULL),
			 0);
}

/*
 * shmemfs_write_kill() and shmemfs_kill_priv(): what a write, truncate
 * or chown by a caller without CAP_FSETID takes away (FUSE's
 * handle_killpriv_v2 leaves it to the daemon).
 */
static void
test_kill_priv(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	static const char cap[20] = {0, 0, 0, 2, 0, 32}; /* v2, CAP_NET_RAW */
	struct shmemfs_attr a;
	struct stat st;
	uint64_t f, d;

	(void)state;
	f = mkfile(fs, 1, "f");
	/* no kill asked: a privileged writer keeps everything */
	set_mode_old_ctime(fs, f, 06777);
	assert_int_equal(
	    shmemfs_setxattr(fs, f, "security.capability", cap, sizeof(cap), 0),
	    0);
	assert_int_equal(shmemfs_write_kill(fs, f, "abcd", 4, 0, 0), 4);
	assert_int_equal(st_of(fs, f).st_mode & 07777, 06777);
	assert_int_equal(
	    shmemfs_getxattr(fs, f, "security.capability", NULL, 0),
	    sizeof(cap));

	/* S_ISUID, S_ISGID with group execute, the capability */
	set_mode_old_ctime(fs, f, 06777);
	assert_int_equal(
	    shmemfs_write_kill(fs, f, "x", 1, 8, SHMEMFS_KILL_SUIDGID), 1);
	st = st_of(fs, f);
	assert_int_equal(st.st_mode & 07777, 0777);
	assert_int_not_equal(st.st_ctime, 1);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(
	    shmemfs_getxattr(fs, f, "security.capability", NULL, 0), -ENODATA);

	/* S_ISGID without group execute stays, and ctime with it... */
	set_mode_old_ctime(fs, f, 02666);
	assert_int_equal(shmemfs_kill_priv(fs, f, SHMEMFS_KILL_SUIDGID, &a), 0);
	assert_int_equal(a.sa_st.st_mode & 07777, 02666);
	assert_int_equal(a.sa_st.st_ctime, 1);
	/* ...unless the caller is outside the group */
	assert_int_equal(
	    shmemfs_kill_priv(fs, f, SHMEMFS_KILL_SUIDGID | SHMEMFS_KILL_SGID,
			      &a),
	    0);
	assert_int_equal(a.sa_st.st_mode & 07777, 0666);
	assert_int_not_equal(a.sa_st.st_ctime, 1);

	/* a write that fails on the file's type kills nothing */
	assert_int_equal(shmemfs_mkdir(fs, &ctx, 1, "d", 02777, &a), 0);
	d = a.sa_st.st_ino;
	assert_int_equal(
	    shmemfs_write_kill(fs, d, "x", 1, 0, SHMEMFS_KILL_SUIDGID),
	    -EISDIR);
	/* directories keep their bits (the kernel never asks) */
	assert_int_equal(
	    shmemfs_kill_priv(fs, d, SHMEMFS_KILL_SUIDGID | SHMEMFS_KILL_SGID,
			      NULL),
	    0);
	assert_int_equal(st_of(fs, d).st_mode & 07777, 02777);
	assert_int_equal(
	    shmemfs_kill_priv(fs, 12345, SHMEMFS_KILL_SUIDGID, NULL), -ESTALE);
	assert_int_equal(
	    shmemfs_write_kill(fs, 12345, "x", 1, 0, SHMEMFS_KILL_SUIDGID),
	    -ESTALE);
	check(fs);
	shmemfs_destroy(fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_root),
	    cmocka_unit_test(test_namespace_errors),
	    cmocka_unit_test(test_times_ns),
	    cmocka_unit_test(test_obj_alloc),
	    cmocka_unit_test(test_symlinks),
	    cmocka_unit_test(test_data_sparse),
	    cmocka_unit_test(test_fallocate),
	    cmocka_unit_test(test_enospc),
	    cmocka_unit_test(test_unlinked_open),
	    cmocka_unit_test(test_rename),
	    cmocka_unit_test(test_readdir_unlink),
	    cmocka_unit_test(test_xattr),
	    cmocka_unit_test(test_alloc_failures),
	    cmocka_unit_test(test_setgid_inherit),
	    cmocka_unit_test(test_inode_space),
	    cmocka_unit_test(test_fallocate_twice),
	    cmocka_unit_test(test_tmpfile),
	    cmocka_unit_test(test_kill_priv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
