/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c - images of a mount (src/core/snapshot.c): save,
 * restore, and compare field by field; damaged, cut-off and wrongly
 * keyed images; allocation failures while restoring.
 *
 * Images go to memfds; the swap tests use a real swap file in $TMPDIR.
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
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "alloc.h"
#include "helpers.h"

/* build_tree()'s unlinked file, still referenced until cmp_mounts(). */
static uint64_t gone_ino;

static const char *tree_opts = "size=64m,nr_inodes=1000,mode=1755,uid=7";

static uint64_t
mk(struct shmemfs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev)
{
	struct shmemfs_attr a;

	if (S_ISDIR(mode))
		assert_int_equal(shmemfs_mkdir(fs, &ctx, dir, name, mode, &a),
				 0);
	else
		assert_int_equal(
		    shmemfs_mknod(fs, &ctx, dir, name, mode, rdev, &a), 0);
	return a.sa_st.st_ino;
}

static void
wr(struct shmemfs *fs, uint64_t ino, const char *s, size_t len, int64_t off)
{
	assert_int_equal(shmemfs_write(fs, ino, s, len, off), (ssize_t)len);
}

static void
set_times(struct shmemfs *fs, uint64_t ino, long ns)
{
	struct shmemfs_setattr sa = {
	    .ss_atime = {1000000 + ns, ns},
	    .ss_mtime = {2000000 + ns, ns + 1},
	    .ss_ctime = {3000000 + ns, ns + 2},
	};
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_setattr(fs, ino,
					 SHMEMFS_SET_ATIME | SHMEMFS_SET_MTIME |
					     SHMEMFS_SET_CTIME,
					 &sa, &a),
			 0);
}

/* Every kind of object, with holes, fallocated pages, xattrs, links. */
static void
build_tree(struct shmemfs *fs)
{
	char big[20000], longlink[3000];
	struct shmemfs_attr a;
	struct shmemfs_setattr sa;
	uint64_t d, sub, f, g, sp;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 1);
	memset(longlink, 'x', sizeof(longlink) - 1);
	longlink[sizeof(longlink) - 1] = '\0';

	d = mk(fs, SHMEMFS_ROOT_INO, "dir", S_IFDIR | 02775, 0);
	sub = mk(fs, d, "sub", S_IFDIR | 01777, 0);
	mk(fs, sub, "empty", S_IFDIR | 0700, 0);
	f = mk(fs, d, "data", S_IFREG | 0644, 0);
	wr(fs, f, big, sizeof(big), 0);
	wr(fs, f, big, 100, 1 << 20); /* a hole before */
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE,
					   2 << 20, 3 * 4096),
			 0); /* past EOF */
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 512 << 10, 2 * 4096),
			 0); /* inside */
	assert_int_equal(shmemfs_fallocate(fs, f,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
					       SHMEMFS_FALLOC_KEEP_SIZE,
					   4096, 4096),
			 0);
	assert_int_equal(shmemfs_link(fs, f, sub, "hardlink", &a), 0);
	shmemfs_forget(fs, f, 1);
	g = mk(fs, SHMEMFS_ROOT_INO, "suid", S_IFREG | 06755, 0);
	wr(fs, g, "#!/bin/sh\n", 10, 0);
	sp = mk(fs, SHMEMFS_ROOT_INO, "sparse", S_IFREG | 0600, 0);
	memset(&sa, 0, sizeof(sa));
	sa.ss_size = 1ull << 40;
	assert_int_equal(shmemfs_setattr(fs, sp, SHMEMFS_SET_SIZE, &sa, &a), 0);
	mk(fs, SHMEMFS_ROOT_INO, "zero", S_IFREG | 0444, 0);
	mk(fs, d, "fifo", S_IFIFO | 0620, 0);
	mk(fs, d, "sock", S_IFSOCK | 0755, 0);
	mk(fs, d, "null", S_IFCHR | 0666, makedev(1, 3));
	mk(fs, d, "loop", S_IFBLK | 0660, makedev(7, 0));
	assert_int_equal(shmemfs_symlink(fs, &ctx, d, "short", "data", &a), 0);
	assert_int_equal(shmemfs_symlink(fs, &ctx, sub, "long", longlink, &a),
			 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.a", "1", 1, 0), 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "trusted.b", "", 0, 0), 0);
	assert_int_equal(shmemfs_setxattr(fs, d, "security.c", big, 3000, 0),
			 0);
	assert_int_equal(
	    shmemfs_setxattr(fs, SHMEMFS_ROOT_INO, "user.root", "r", 1, 0), 0);
	/* An unlinked file: gone from the image, as after a reboot. */
	g = mk(fs, SHMEMFS_ROOT_INO, "gone", S_IFREG | 0600, 0);
	wr(fs, g, "x", 1, 0);
	assert_int_equal(shmemfs_unlink(fs, SHMEMFS_ROOT_INO, "gone"), 0);
	gone_ino = g;
	/* Distinct times on everything last. */
	for (i = SHMEMFS_ROOT_INO; i < 40; i++)
		if (shmemfs_getattr(fs, i, &a) == 0)
			set_times(fs, i, (long)i * 1000 + 7);
	/* Times past 2262 and before 1677, which inodes keep aside. */
	memset(&sa, 0, sizeof(sa));
	sa.ss_atime = (struct timespec){(time_t)1 << 40, 123};
	sa.ss_mtime = (struct timespec){-((time_t)1 << 40), 456};
	sa.ss_ctime = (struct timespec){1, 2};
	assert_int_equal(shmemfs_setattr(fs, sub,
					 SHMEMFS_SET_ATIME | SHMEMFS_SET_MTIME |
					     SHMEMFS_SET_CTIME,
					 &sa, &a),
			 0);
	/* chattr flags: set last at restore, or its writes would fail. */
	assert_int_equal(
	    shmemfs_setflags(fs, f, SHMEMFS_FL_IMMUTABLE | SHMEMFS_FL_NODUMP),
	    0);
	assert_int_equal(shmemfs_setflags(fs, d, SHMEMFS_FL_APPEND), 0);
}

/* ---- comparing two mounts ------------------------------------------ */

struct names {
	char n_name[64][256];
	uint64_t n_ino[64];
	int n_count;
};

static int
collect(void *arg, const char *name, const struct shmemfs_attr *attr,
	uint64_t next)
{
	struct names *n = arg;

	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	assert_true(n->n_count < 64);
	snprintf(n->n_name[n->n_count], 256, "%s", name);
	n->n_ino[n->n_count++] = attr->sa_st.st_ino;
	return 0;
}

static void
cmp_attr(struct shmemfs *a, struct shmemfs *b, uint64_t ino)
{
	struct shmemfs_attr x, y;

	assert_int_equal(shmemfs_getattr(a, ino, &x), 0);
	assert_int_equal(shmemfs_getattr(b, ino, &y), 0);
	assert_int_equal(x.sa_st.st_ino, y.sa_st.st_ino);
	assert_int_equal(x.sa_st.st_mode, y.sa_st.st_mode);
	assert_int_equal(x.sa_st.st_nlink, y.sa_st.st_nlink);
	assert_int_equal(x.sa_st.st_uid, y.sa_st.st_uid);
	assert_int_equal(x.sa_st.st_gid, y.sa_st.st_gid);
	assert_int_equal(x.sa_st.st_rdev, y.sa_st.st_rdev);
	assert_int_equal(x.sa_st.st_size, y.sa_st.st_size);
	assert_int_equal(x.sa_st.st_blocks, y.sa_st.st_blocks);
	assert_memory_equal(&x.sa_st.st_atim, &y.sa_st.st_atim,
			    sizeof(struct timespec));
	assert_memory_equal(&x.sa_st.st_mtim, &y.sa_st.st_mtim,
			    sizeof(struct timespec));
	assert_memory_equal(&x.sa_st.st_ctim, &y.sa_st.st_ctim,
			    sizeof(struct timespec));
	if (memcmp(&x.sa_btime, &y.sa_btime, sizeof(struct timespec)))
		fail_msg("inode %llu: btime %ld.%09ld != %ld.%09ld",
			 (unsigned long long)ino, (long)x.sa_btime.tv_sec,
			 x.sa_btime.tv_nsec, (long)y.sa_btime.tv_sec,
			 y.sa_btime.tv_nsec);
	assert_int_equal(x.sa_generation, y.sa_generation);
	{
		unsigned fx = 0, fy = 0;

		/* -ENOTTY for what has no flags (devices, symlinks) */
		assert_int_equal(shmemfs_getflags(a, ino, &fx),
				 shmemfs_getflags(b, ino, &fy));
		assert_int_equal(fx, fy);
	}
}

static void
cmp_xattrs(struct shmemfs *a, struct shmemfs *b, uint64_t ino)
{
	char la[4096], lb[4096], va[65536], vb[65536], *p;
	ssize_t na, nb, sa, sb;

	na = shmemfs_listxattr(a, ino, la, sizeof(la));
	nb = shmemfs_listxattr(b, ino, lb, sizeof(lb));
	assert_true(na >= 0);
	assert_int_equal(na, nb);
	assert_memory_equal(la, lb, (size_t)na);
	for (p = la; p < la + na; p += strlen(p) + 1) {
		sa = shmemfs_getxattr(a, ino, p, va, sizeof(va));
		sb = shmemfs_getxattr(b, ino, p, vb, sizeof(vb));
		assert_int_equal(sa, sb);
		assert_memory_equal(va, vb, (size_t)sa);
	}
}

static void
cmp_data(struct shmemfs *a, struct shmemfs *b, uint64_t ino, int64_t size)
{
	static char ba[1 << 16], bb[1 << 16];
	int64_t off, da, db;
	int whence;

	/* Every SEEK_DATA / SEEK_HOLE answer, page by page near data. */
	for (whence = SEEK_DATA; whence <= SEEK_HOLE; whence++)
		for (off = 0; off < size && off < (4 << 20); off += 4096) {
			da = shmemfs_lseek(a, ino, off, whence);
			db = shmemfs_lseek(b, ino, off, whence);
			assert_int_equal(da, db);
		}
	for (off = 0; off < size && off < (4 << 20); off += sizeof(ba)) {
		da = shmemfs_read(a, ino, ba, sizeof(ba), off);
		db = shmemfs_read(b, ino, bb, sizeof(bb), off);
		assert_int_equal(da, db);
		assert_true(da >= 0);
		assert_memory_equal(ba, bb, (size_t)da);
	}
}

/*
 * Pass 0 compares attributes and xattrs, pass 1 contents: reading
 * stamps atime (relatime), so no read may come before the attributes.
 */
static void
cmp_tree(struct shmemfs *a, struct shmemfs *b, uint64_t dir, int pass)
{
	struct names *na = calloc(1, sizeof(*na));
	struct names *nb = calloc(1, sizeof(*nb));
	struct shmemfs_attr at;
	char ta[4096], tb[4096];
	int i, la, lb;

	if (pass == 0) {
		cmp_attr(a, b, dir);
		cmp_xattrs(a, b, dir);
	}
	assert_int_equal(shmemfs_readdir(a, dir, 0, 0, collect, na), 0);
	assert_int_equal(shmemfs_readdir(b, dir, 0, 0, collect, nb), 0);
	assert_int_equal(na->n_count, nb->n_count);
	for (i = 0; i < na->n_count; i++) {
		assert_string_equal(na->n_name[i], nb->n_name[i]);
		assert_int_equal(na->n_ino[i], nb->n_ino[i]);
		if (pass == 0) {
			cmp_attr(a, b, na->n_ino[i]);
			cmp_xattrs(a, b, na->n_ino[i]);
		}
		assert_int_equal(shmemfs_getattr(a, na->n_ino[i], &at), 0);
		if (S_ISDIR(at.sa_st.st_mode))
			cmp_tree(a, b, na->n_ino[i], pass);
		else if (pass == 0)
			continue;
		else if (S_ISREG(at.sa_st.st_mode))
			cmp_data(a, b, na->n_ino[i], at.sa_st.st_size);
		else if (S_ISLNK(at.sa_st.st_mode)) {
			la = shmemfs_readlink(a, na->n_ino[i], ta, sizeof(ta));
			lb = shmemfs_readlink(b, na->n_ino[i], tb, sizeof(tb));
			assert_int_equal(la, lb);
			assert_memory_equal(ta, tb, (size_t)la);
		}
	}
	free(na);
	free(nb);
}

static void
cmp_mounts(struct shmemfs *a, struct shmemfs *b)
{
	struct shmemfs_stats sa, sb;

	/* The unlinked file was not saved; let it go from @a too. */
	if (gone_ino)
		shmemfs_forget(a, gone_ino, 1);
	gone_ino = 0;
	cmp_tree(a, b, SHMEMFS_ROOT_INO, 0);
	cmp_tree(a, b, SHMEMFS_ROOT_INO, 1);
	assert_int_equal(shmemfs_get_stats(a, &sa), 0);
	assert_int_equal(shmemfs_get_stats(b, &sb), 0);
	assert_int_equal(sa.size_limit_bytes, sb.size_limit_bytes);
	assert_int_equal(sa.inodes_limit, sb.inodes_limit);
	assert_int_equal(sa.used_bytes, sb.used_bytes);
	assert_int_equal(sa.swapouts <= sb.swapouts, 1);
	check(b);
}

/* ---- helpers for images -------------------------------------------- */

static int
image_of(struct shmemfs *fs, const unsigned char *key)
{
	char err[256];
	int fd = memfd_create("image", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(shmemfs_save(fs, fd, key, err, sizeof(err)), 0);
	return fd;
}

static int
restore(struct shmemfs **fsp, int fd, const unsigned char *key, char *err,
	size_t err_len)
{
	struct shmemfs_opts o;
	int ret;

	shmemfs_opts_init(&o);
	ret = shmemfs_image_opts(fd, key, &o, err, err_len);
	if (!ret)
		ret = shmemfs_restore(fsp, &o, fd, key, err, err_len);
	shmemfs_opts_free(&o);
	return ret;
}

static void
test_roundtrip(void **state)
{
	struct shmemfs *a = mkfs(tree_opts), *b;
	struct shmemfs_attr at;
	char err[256];
	int fd;

	(void)state;
	build_tree(a);
	check(a);
	fd = image_of(a, NULL);
	if (restore(&b, fd, NULL, err, sizeof(err)))
		fail_msg("restore: %s", err);
	cmp_mounts(a, b);
	/* Options came back with the image. */
	assert_int_equal(shmemfs_getattr(b, SHMEMFS_ROOT_INO, &at), 0);
	/* Inode numbers are not reused: a new file gets a fresh one. */
	assert_int_equal(shmemfs_mknod(a, &ctx, 1, "new", S_IFREG, 0, &at), 0);
	{
		struct shmemfs_attr bt;

		assert_int_equal(
		    shmemfs_mknod(b, &ctx, 1, "new", S_IFREG, 0, &bt), 0);
		assert_int_equal(at.sa_st.st_ino, bt.sa_st.st_ino);
		assert_int_equal(at.sa_generation, bt.sa_generation);
	}
	shmemfs_destroy(a);
	shmemfs_destroy(b);
	close(fd);
}

static void
test_sealed(void **state)
{
	unsigned char key[32], other[32];
	struct shmemfs *a = mkfs(tree_opts), *b;
	char err[256];
	int fd;

	(void)state;
	memset(key, 1, sizeof(key));
	memset(other, 2, sizeof(other));
	build_tree(a);
	fd = image_of(a, key);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -ENOKEY);
	assert_non_null(strstr(err, "sealed"));
	assert_int_equal(restore(&b, fd, other, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "wrong key"));
	assert_non_null(strstr(err, "block 0 at byte 64"));
	assert_int_equal(restore(&b, fd, key, err, sizeof(err)), 0);
	cmp_mounts(a, b);
	shmemfs_destroy(b);
	close(fd);
	/* An unsealed image given a key: refused (no downgrade). */
	fd = image_of(a, NULL);
	assert_int_equal(restore(&b, fd, key, err, sizeof(err)), -EINVAL);
	close(fd);
	shmemfs_destroy(a);
}

static void
flip(int fd, off_t off)
{
	unsigned char c;

	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
}

static void
test_damaged(void **state)
{
	struct shmemfs *a = mkfs(tree_opts), *b = NULL;
	unsigned char key[32];
	char err[256];
	struct stat st;
	int fd;

	(void)state;
	memset(key, 3, sizeof(key));
	build_tree(a);
	fd = image_of(a, NULL);
	assert_int_equal(fstat(fd, &st), 0);

	flip(fd, st.st_size / 2);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum mismatch"));
	assert_non_null(strstr(err, "block "));
	assert_null(b);
	flip(fd, st.st_size / 2);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), 0);
	shmemfs_destroy(b);
	b = NULL;

	flip(fd, 3); /* magic */
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a shmemfs image"));
	flip(fd, 3);
	flip(fd, 20); /* image id: header checksum */
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "header"));
	flip(fd, 20);

	/* Cut off anywhere: refused, never half restored. */
	assert_int_equal(ftruncate(fd, st.st_size - 1), 0);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(ftruncate(fd, 64), 0);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(ftruncate(fd, 10), 0);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_null(b);
	close(fd);

	/* A sealed image damaged in its last block. */
	fd = image_of(a, key);
	assert_int_equal(fstat(fd, &st), 0);
	flip(fd, st.st_size - 20);
	assert_int_equal(restore(&b, fd, key, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "authentication"));
	close(fd);
	/* Trailing garbage after the last block. */
	fd = image_of(a, NULL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pwrite(fd, "junk", 4, st.st_size), 4);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "after the last block"));
	close(fd);
	shmemfs_destroy(a);
}

/* Restore fails cleanly at every allocation; ASan finds what leaks. */
static void
test_restore_alloc_failures(void **state)
{
	struct shmemfs *a = mkfs(tree_opts), *b;
	char err[256];
	int fd, n, ret;

	(void)state;
	build_tree(a);
	fd = image_of(a, NULL);
	for (n = 1; n < 10000; n++) {
		b = NULL;
		sf_fail_after = n;
		ret = restore(&b, fd, NULL, err, sizeof(err));
		sf_fail_after = 0;
		if (ret == 0) {
			cmp_mounts(a, b);
			shmemfs_destroy(b);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(b);
	}
	assert_true(n > 5);
	/* And the save itself. */
	for (n = 1; n < 100; n++) {
		int f2 = memfd_create("img", MFD_CLOEXEC);

		sf_fail_after = n;
		ret = shmemfs_save(a, f2, NULL, err, sizeof(err));
		sf_fail_after = 0;
		close(f2);
		if (ret == 0)
			break;
		assert_int_equal(ret, -ENOMEM);
	}
	close(fd);
	shmemfs_destroy(a);
}

/* Most pages in swap on both sides: saved from slots, restored into swap. */
static void
test_swapped(void **state)
{
	char opts[512], path[256], err[256];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct shmemfs_stats st;
	struct shmemfs *a, *b;
	char buf[4096];
	uint64_t f;
	int i, fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/test_snapshot.%d.swap", tmp,
		 (int)getpid());
	snprintf(opts, sizeof(opts), "size=16m,mem=256k,swap=%s,swapsize=16m",
		 path);
	a = mkfs(opts);
	f = mkfile(a, SHMEMFS_ROOT_INO, "f");
	for (i = 0; i < 1024; i++) {
		memset(buf, i & 0xff, sizeof(buf));
		snprintf(buf, sizeof(buf), "page %d", i);
		wr(a, f, buf, sizeof(buf), (int64_t)i * 4096);
	}
	assert_int_equal(shmemfs_get_stats(a, &st), 0);
	assert_true(st.swapped_bytes > 3 * st.resident_bytes);
	{
		uint64_t swapins = st.swapins;

		fd = image_of(a, NULL);
		assert_int_equal(shmemfs_get_stats(a, &st), 0);
		/* The save swapped nothing in. */
		assert_int_equal(st.swapins, swapins);
	}
	shmemfs_destroy(a);
	a = NULL;
	/* The swap file of the first mount is gone; the second makes its own.
	 */
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), 0);
	assert_int_equal(shmemfs_get_stats(b, &st), 0);
	assert_true(st.resident_bytes <= 256 * 1024 + 64 * 4096);
	assert_int_equal(st.used_bytes, 1024 * 4096);
	for (i = 0; i < 1024; i += 37) {
		char want[4096];

		memset(want, i & 0xff, sizeof(want));
		snprintf(want, sizeof(want), "page %d", i);
		assert_int_equal(
		    shmemfs_read(b, f, buf, sizeof(buf), (int64_t)i * 4096),
		    4096);
		assert_memory_equal(buf, want, sizeof(buf));
	}
	check(b);
	shmemfs_destroy(b);
	close(fd);
	unlink(path);
}

static void
test_key_file(void **state)
{
	char path[] = "/tmp/test_snapshot.keyXXXXXX", err[256];
	unsigned char k1[32], k2[32];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	assert_int_equal(shmemfs_image_key_read(path, k1, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(write(fd, "-enough-key-material", 20), 20);
	assert_int_equal(shmemfs_image_key_read(path, k1, err, sizeof(err)), 0);
	assert_int_equal(shmemfs_image_key_read(path, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, 32);
	close(fd);
	unlink(path);
	assert_int_equal(shmemfs_image_key_read(path, k1, err, sizeof(err)),
			 -ENOENT);
}

static void
test_save_file(void **state)
{
	char dir[] = "/tmp/test_snapshot.dirXXXXXX", path[300], err[256];
	struct shmemfs *a = mkfs(tree_opts), *b;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/img", dir);
	build_tree(a);
	assert_int_equal(shmemfs_save_file(a, path, NULL, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Over an old image: replaced whole. */
	assert_int_equal(shmemfs_save_file(a, path, NULL, err, sizeof(err)), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), 0);
	cmp_mounts(a, b);
	shmemfs_destroy(b);
	close(fd);
	/* Into a directory that does not exist: an error naming it. */
	snprintf(path, sizeof(path), "%s/no/img", dir);
	assert_int_equal(shmemfs_save_file(a, path, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/no/img"));
	snprintf(path, sizeof(path), "%s/img", dir);
	unlink(path);
	rmdir(dir);
	shmemfs_destroy(a);
}

struct cookies {
	uint64_t c_next[16];
	char c_name[16][32];
	int c_n;
};

static int
collect_cookies(void *arg, const char *name, const struct shmemfs_attr *attr,
		uint64_t next)
{
	struct cookies *c = arg;

	(void)attr;
	if (c->c_n == 16)
		return 1;
	snprintf(c->c_name[c->c_n], 32, "%s", name);
	c->c_next[c->c_n++] = next;
	return 0;
}

/*
 * A live image (restart): an unlinked file still open, lookup counts,
 * and readdir cookies come back; a plain image leaves the first out.
 */
static void
test_live(void **state)
{
	struct shmemfs *a = mkfs(tree_opts), *b;
	struct shmemfs_stats sa, sb;
	struct shmemfs_attr at;
	struct cookies ca = {0}, cb = {0};
	char err[256], buf[16];
	uint64_t orphan, f;
	int fd, i;

	(void)state;
	for (i = 0; i < 6; i++) {
		snprintf(buf, sizeof(buf), "n%d", i);
		shmemfs_forget(a, mkfile(a, SHMEMFS_ROOT_INO, buf), 1);
	}
	/* Holes in the cookie sequence. */
	assert_int_equal(shmemfs_unlink(a, SHMEMFS_ROOT_INO, "n1"), 0);
	assert_int_equal(shmemfs_unlink(a, SHMEMFS_ROOT_INO, "n3"), 0);
	orphan = mkfile(a, SHMEMFS_ROOT_INO, "orphan");
	assert_int_equal(shmemfs_open(a, orphan), 0);
	wr(a, orphan, "still here", 10, 0);
	assert_int_equal(shmemfs_unlink(a, SHMEMFS_ROOT_INO, "orphan"), 0);
	f = mkfile(a, SHMEMFS_ROOT_INO, "looked-up"); /* one reference */
	assert_int_equal(shmemfs_lookup(a, 1, "looked-up", &at), 0); /* two */
	fd = memfd_create("live", MFD_CLOEXEC);
	assert_int_equal(shmemfs_save_live(a, fd, err, sizeof(err)), 0);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), 0);
	check(b);
	assert_int_equal(shmemfs_get_stats(a, &sa), 0);
	assert_int_equal(shmemfs_get_stats(b, &sb), 0);
	assert_int_equal(sa.inodes_used, sb.inodes_used);
	assert_int_equal(sa.used_bytes, sb.used_bytes);
	assert_int_equal(shmemfs_read(b, orphan, buf, sizeof(buf), 0), 10);
	assert_memory_equal(buf, "still here", 10);
	/* Cookies: the same walk from the same position. */
	assert_int_equal(shmemfs_readdir(a, 1, 4, 0, collect_cookies, &ca), 0);
	assert_int_equal(shmemfs_readdir(b, 1, 4, 0, collect_cookies, &cb), 0);
	assert_int_equal(ca.c_n, cb.c_n);
	for (i = 0; i < ca.c_n; i++) {
		assert_string_equal(ca.c_name[i], cb.c_name[i]);
		assert_int_equal(ca.c_next[i], cb.c_next[i]);
	}
	/* The kernel's references are what keep the orphan: let them go. */
	shmemfs_release(b, orphan);
	shmemfs_forget(b, orphan, 1);
	assert_true(shmemfs_getattr(b, orphan, &at) < 0);
	shmemfs_forget(b, f, 2);
	assert_int_equal(shmemfs_unlink(b, 1, "looked-up"), 0);
	assert_true(shmemfs_getattr(b, f, &at) < 0);
	check(b);
	shmemfs_destroy(b);
	close(fd);
	/* A plain image has no orphan. */
	fd = image_of(a, NULL);
	assert_int_equal(restore(&b, fd, NULL, err, sizeof(err)), 0);
	assert_true(shmemfs_getattr(b, orphan, &at) < 0);
	shmemfs_destroy(b);
	close(fd);
	shmemfs_release(a, orphan);
	shmemfs_forget(a, orphan, 1);
	shmemfs_destroy(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_sealed),
	    cmocka_unit_test(test_damaged),
	    cmocka_unit_test(test_restore_alloc_failures),
	    cmocka_unit_test(test_swapped),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_save_file),
	    cmocka_unit_test(test_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
