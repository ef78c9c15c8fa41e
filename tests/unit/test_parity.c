/* SPDX-License-Identifier: MIT */
/*
 * test_parity.c - tmpfs parity features of the core, without FUSE:
 * POSIX ACLs (validation, mode sync, inheritance, injected failures),
 * inode flags, RENAME_WHITEOUT.
 */
#include <fcntl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "fs.h"
#include "helpers.h"
#include "swap.h"
#include "shmemfs_ipc.h"
#include <sys/ipc.h>
#include <sys/shm.h>

#define ACC "system.posix_acl_access"
#define DEF "system.posix_acl_default"

enum { UOBJ = 1, USR = 2, GOBJ = 4, GRP = 8, MASK = 0x10, OTH = 0x20 };

/* Build an ACL xattr from (tag, perm, id) triples; returns its size. */
static size_t
acl(unsigned char *buf, int n, const unsigned *e)
{
	int i;

	buf[0] = 2;
	buf[1] = buf[2] = buf[3] = 0;
	for (i = 0; i < n; i++) {
		unsigned char *p = buf + 4 + 8 * i;

		p[0] = (unsigned char)e[3 * i];
		p[1] = (unsigned char)(e[3 * i] >> 8);
		p[2] = (unsigned char)e[3 * i + 1];
		p[3] = 0;
		memcpy(p + 4, &e[3 * i + 2], 4);
	}
	return 4 + 8 * (size_t)n;
}

static mode_t
mode_of(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_getattr(fs, ino, &a), 0);
	return a.sa_st.st_mode & 07777;
}

static void
test_acl_validation(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	unsigned char buf[128];
	uint64_t f = mkfile(fs, 1, "f");
	static const unsigned nomask[] = {UOBJ, 6, 0, USR, 6, 5,
					  GOBJ, 4, 0, OTH, 4, 0};
	static const unsigned noother[] = {UOBJ, 6, 0, GOBJ, 4, 0};
	static const unsigned badperm[] = {UOBJ, 9, 0, GOBJ, 4, 0, OTH, 0, 0};
	static const unsigned good[] = {UOBJ, 6,    0, USR, 7,	 5, GOBJ, 4,
					0,    MASK, 6, 0,   OTH, 0, 0};
	size_t n;

	(void)state;
	n = acl(buf, 4, nomask);
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), -EINVAL);
	n = acl(buf, 2, noother);
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), -EINVAL);
	n = acl(buf, 3, badperm);
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), -EINVAL);
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, 7, 0), -EINVAL);
	buf[0] = 1;
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), -EOPNOTSUPP);
	assert_int_equal(shmemfs_setxattr(fs, f, "system.foo", "x", 1, 0),
			 -EOPNOTSUPP);
	/* default ACLs on directories only */
	n = acl(buf, 5, good);
	assert_int_equal(shmemfs_setxattr(fs, f, DEF, buf, n, 0), -EACCES);
	/* a real ACL: stored, the mode's group bits are the mask */
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), 0);
	assert_int_equal(mode_of(fs, f), 0660);
	assert_int_equal(shmemfs_getxattr(fs, f, ACC, NULL, 0), (ssize_t)n);
	/* chmod rewrites owner, mask and other */
	{
		struct shmemfs_setattr sa = {.ss_mode = 0704};
		unsigned char out[128];

		assert_int_equal(
		    shmemfs_setattr(fs, f, SHMEMFS_SET_MODE, &sa, NULL), 0);
		assert_int_equal(shmemfs_getxattr(fs, f, ACC, out, sizeof(out)),
				 (ssize_t)n);
		assert_int_equal(out[4 + 2], 7);      /* user:: */
		assert_int_equal(out[4 + 8 + 2], 7);  /* user:5 untouched */
		assert_int_equal(out[4 + 16 + 2], 4); /* group:: untouched */
		assert_int_equal(out[4 + 24 + 2], 0); /* mask */
		assert_int_equal(out[4 + 32 + 2], 4); /* other */
	}
	/* removal, even of an absent ACL, succeeds */
	assert_int_equal(shmemfs_removexattr(fs, f, ACC), 0);
	assert_int_equal(shmemfs_removexattr(fs, f, ACC), 0);
	assert_int_equal(shmemfs_getxattr(fs, f, ACC, NULL, 0), -ENODATA);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_acl_equiv_and_sgid(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	static const unsigned eq[] = {UOBJ, 7, 0, GOBJ, 5, 0, OTH, 1, 0};
	struct shmemfs_setattr sa = {.ss_mode = 02777};
	unsigned char buf[64];
	uint64_t f = mkfile(fs, 1, "f");
	size_t n = acl(buf, 3, eq);

	(void)state;
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_MODE, &sa, NULL),
			 0);
	assert_int_equal(shmemfs_setxattr(fs, f, ACC, buf, n, 0), 0);
	assert_int_equal(mode_of(fs, f), 02751);
	assert_int_equal(shmemfs_getxattr(fs, f, ACC, NULL, 0), -ENODATA);
	assert_int_equal(shmemfs_listxattr(fs, f, NULL, 0), 0);
	assert_int_equal(
	    shmemfs_setxattr(fs, f, ACC, buf, n, SHMEMFS_XATTR_KILL_SGID), 0);
	assert_int_equal(mode_of(fs, f), 0751);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_acl_inherit(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	static const unsigned def[] = {UOBJ, 7,	   0, USR, 7,	5, GOBJ, 5,
				       0,    MASK, 7, 0,   OTH, 0, 0};
	static const unsigned plain[] = {UOBJ, 7, 0, GOBJ, 5, 0, OTH, 5, 0};
	struct shmemfs_ctx uctx = ctx;
	unsigned char buf[128], out[128];
	struct shmemfs_attr a;
	uint64_t d, sub;
	size_t n = acl(buf, 5, def);
	char list[256];

	(void)state;
	uctx.sc_umask = 077;
	assert_int_equal(shmemfs_mkdir(fs, &uctx, 1, "d", 0755, &a), 0);
	d = a.sa_st.st_ino;
	assert_int_equal(mode_of(fs, d), 0700); /* no default ACL: umask */
	assert_int_equal(shmemfs_setxattr(fs, d, DEF, buf, n, 0), 0);
	/* a file: access ACL from the default, cut to the create mode */
	assert_int_equal(
	    shmemfs_mknod(fs, &uctx, d, "f", S_IFREG | 0644, 0, &a), 0);
	assert_int_equal(a.sa_st.st_mode & 0777, 0640);
	assert_int_equal(
	    shmemfs_getxattr(fs, a.sa_st.st_ino, ACC, out, sizeof(out)),
	    (ssize_t)n);
	assert_int_equal(out[4 + 3 * 8 + 2], 4); /* mask r-- */
	assert_int_equal(shmemfs_getxattr(fs, a.sa_st.st_ino, DEF, NULL, 0),
			 -ENODATA);
	/* a directory: both */
	assert_int_equal(shmemfs_mkdir(fs, &uctx, d, "s", 0777, &a), 0);
	sub = a.sa_st.st_ino;
	assert_int_equal(a.sa_st.st_mode & 0777, 0770);
	assert_int_equal(shmemfs_getxattr(fs, sub, DEF, NULL, 0), (ssize_t)n);
	assert_int_equal(shmemfs_listxattr(fs, sub, list, sizeof(list)),
			 (ssize_t)(sizeof(ACC) + sizeof(DEF)));
	/* a symlink: nothing */
	assert_int_equal(shmemfs_symlink(fs, &uctx, d, "l", "f", &a), 0);
	assert_int_equal(shmemfs_listxattr(fs, a.sa_st.st_ino, NULL, 0), 0);
	/* a default ACL equal to a mode gives no access ACL */
	n = acl(buf, 3, plain);
	assert_int_equal(shmemfs_setxattr(fs, sub, DEF, buf, n, 0), 0);
	assert_int_equal(
	    shmemfs_mknod(fs, &uctx, sub, "g", S_IFREG | 0666, 0, &a), 0);
	assert_int_equal(a.sa_st.st_mode & 0777, 0644);
	assert_int_equal(shmemfs_getxattr(fs, a.sa_st.st_ino, ACC, NULL, 0),
			 -ENODATA);
	check(fs);
	shmemfs_destroy(fs);
}

/* Every allocation of an inheriting create may fail: nothing leaks. */
static void
test_acl_inherit_failures(void **state)
{
	static const unsigned def[] = {UOBJ, 7,	   0, USR, 7,	5, GOBJ, 5,
				       0,    MASK, 7, 0,   OTH, 0, 0};
	unsigned char buf[128];
	size_t len = acl(buf, 5, def);
	int n;

	(void)state;
	for (n = 1; n < 20; n++) {
		struct shmemfs *fs = mkfs("nr_inodes=100");
		struct shmemfs_attr a;
		int r;

		assert_int_equal(shmemfs_setxattr(fs, 1, DEF, buf, len, 0), 0);
		sf_fail_after = n;
		r = shmemfs_mkdir(fs, &ctx, 1, "d", 0755, &a);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_mknod(fs, &ctx, 1, "f", S_IFREG | 0644, 0, &a);
		assert_true(r == 0 || r == -ENOMEM);
		r = shmemfs_setxattr(fs, 1, ACC, buf, len, 0);
		assert_true(r == 0 || r == -ENOMEM);
		sf_fail_after = 0;
		check(fs);
		shmemfs_destroy(fs);
	}
}

static void
test_flags(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_setattr sa = {.ss_mode = 0600, .ss_size = 0};
	struct shmemfs_attr a;
	uint64_t f = mkfile(fs, 1, "f"), d, g;
	unsigned fl;

	(void)state;
	assert_int_equal(shmemfs_mkdir(fs, &ctx, 1, "d", 0755, &a), 0);
	d = a.sa_st.st_ino;
	g = mkfile(fs, d, "g");
	assert_int_equal(shmemfs_setflags(fs, f, 0x4), -EOPNOTSUPP);
	assert_int_equal(shmemfs_symlink(fs, &ctx, 1, "l", "f", &a), 0);
	assert_int_equal(shmemfs_setflags(fs, a.sa_st.st_ino, 0), -ENOTTY);
	assert_int_equal(shmemfs_getflags(fs, a.sa_st.st_ino, &fl), -ENOTTY);
	assert_int_equal(
	    shmemfs_setflags(fs, f, SHMEMFS_FL_IMMUTABLE | SHMEMFS_FL_NODUMP),
	    0);
	assert_int_equal(shmemfs_getflags(fs, f, &fl), 0);
	assert_int_equal(fl, SHMEMFS_FL_IMMUTABLE | SHMEMFS_FL_NODUMP);
	/* immutable: no open for writing, no change of anything */
	assert_int_equal(shmemfs_may_open(fs, f, O_RDONLY), 0);
	assert_int_equal(shmemfs_may_open(fs, f, O_WRONLY), -EPERM);
	assert_int_equal(shmemfs_may_open(fs, f, O_RDONLY | O_TRUNC), -EPERM);
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_MODE, &sa, NULL),
			 -EPERM);
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 -EPERM);
	assert_int_equal(
	    shmemfs_setattr(fs, f, SHMEMFS_SET_ATIME | SHMEMFS_SET_ATIME_NOW,
			    &sa, NULL),
	    -EPERM);
	/* ...except through a descriptor opened before */
	assert_int_equal(shmemfs_setattr(fs, f,
					 SHMEMFS_SET_SIZE |
					     SHMEMFS_SET_MTIME_NOW |
					     SHMEMFS_SET_FH,
					 &sa, NULL),
			 0);
	assert_int_equal(shmemfs_setxattr(fs, f, "user.a", "1", 1, 0), -EPERM);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 4096), -EPERM);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), -EPERM);
	assert_int_equal(shmemfs_rename(fs, 1, "f", 1, "h", 0), -EPERM);
	assert_int_equal(shmemfs_link(fs, f, 1, "h", &a), -EPERM);
	/* append-only: writes with O_APPEND only, no punching */
	assert_int_equal(shmemfs_setflags(fs, f, SHMEMFS_FL_APPEND), 0);
	assert_int_equal(shmemfs_may_open(fs, f, O_WRONLY), -EPERM);
	assert_int_equal(shmemfs_may_open(fs, f, O_WRONLY | O_APPEND), 0);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 4096), 0);
	assert_int_equal(shmemfs_fallocate(fs, f,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
					       SHMEMFS_FALLOC_KEEP_SIZE,
					   0, 4096),
			 -EPERM);
	assert_int_equal(shmemfs_setattr(fs, f,
					 SHMEMFS_SET_SIZE | SHMEMFS_SET_FH, &sa,
					 NULL),
			 -EPERM);
	assert_int_equal(
	    shmemfs_setattr(fs, f, SHMEMFS_SET_ATIME_NOW | SHMEMFS_SET_ATIME,
			    &sa, NULL),
	    0);
	assert_int_equal(shmemfs_setflags(fs, f, 0), 0);
	/* directories: immutable takes no names, append-only loses none */
	assert_int_equal(shmemfs_setflags(fs, d, SHMEMFS_FL_IMMUTABLE), 0);
	assert_int_equal(shmemfs_mknod(fs, &ctx, d, "n", S_IFREG | 0644, 0, &a),
			 -EPERM);
	assert_int_equal(shmemfs_unlink(fs, d, "g"), -EPERM);
	assert_int_equal(shmemfs_rename(fs, 1, "f", d, "f", 0), -EPERM);
	assert_int_equal(shmemfs_setflags(fs, d, SHMEMFS_FL_APPEND), 0);
	assert_int_equal(shmemfs_rename(fs, 1, "f", d, "f", 0), 0);
	assert_int_equal(shmemfs_unlink(fs, d, "f"), -EPERM);
	assert_int_equal(shmemfs_rename(fs, d, "g", 1, "g", 0), -EPERM);
	assert_int_equal(shmemfs_setflags(fs, d, 0), 0);
	(void)g;
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_whiteout(void **state)
{
	struct shmemfs *fs = mkfs(NULL);
	struct shmemfs_attr a;
	uint64_t f = mkfile(fs, 1, "a");
	int n;

	(void)state;
	assert_int_equal(
	    shmemfs_rename(fs, 1, "a", 1, "b", SHMEMFS_RENAME_WHITEOUT),
	    -EINVAL);
	assert_int_equal(
	    shmemfs_rename2(fs, &ctx, 1, "a", 1, "b",
			    SHMEMFS_RENAME_WHITEOUT | SHMEMFS_RENAME_EXCHANGE),
	    -EINVAL);
	assert_int_equal(
	    shmemfs_rename2(fs, &ctx, 1, "a", 1, "b", SHMEMFS_RENAME_WHITEOUT),
	    0);
	assert_int_equal(shmemfs_lookup(fs, 1, "b", &a), 0);
	assert_int_equal(a.sa_st.st_ino, f);
	shmemfs_forget(fs, f, 1);
	assert_int_equal(shmemfs_lookup(fs, 1, "a", &a), 0);
	assert_true(S_ISCHR(a.sa_st.st_mode));
	assert_int_equal(a.sa_st.st_mode & 07777, 0);
	assert_int_equal(a.sa_st.st_rdev, 0);
	assert_int_equal(a.sa_st.st_nlink, 1);
	assert_int_equal(a.sa_st.st_uid, ctx.sc_uid);
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
	check(fs);
	shmemfs_destroy(fs);
	/* a failure to make the whiteout changes nothing */
	for (n = 1; n < 10; n++) {
		fs = mkfs("nr_inodes=10");
		mkfile(fs, 1, "a");
		sf_fail_after = n;
		int r = shmemfs_rename2(fs, &ctx, 1, "a", 1, "b",
					SHMEMFS_RENAME_WHITEOUT);
		sf_fail_after = 0;
		assert_true(r == 0 || r == -ENOMEM);
		if (r) {
			assert_int_equal(shmemfs_lookup(fs, 1, "b", &a),
					 -ENOENT);
			assert_int_equal(shmemfs_lookup(fs, 1, "a", &a), 0);
			assert_true(S_ISREG(a.sa_st.st_mode));
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
		}
		check(fs);
		shmemfs_destroy(fs);
	}
	/* no inode left for the whiteout: ENOSPC, nothing moved */
	fs = mkfs("nr_inodes=2");
	mkfile(fs, 1, "a");
	assert_int_equal(
	    shmemfs_rename2(fs, &ctx, 1, "a", 1, "b", SHMEMFS_RENAME_WHITEOUT),
	    -ENOSPC);
	assert_int_equal(shmemfs_lookup(fs, 1, "b", &a), -ENOENT);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_inode32_64_mpol_options(void **state)
{
	static const char *const good[] = {
	    "mpol=default",
	    "mpol=local",
	    "mpol=interleave",
	    "mpol=interleave:0",
	    "mpol=bind:0",
	    "mpol=prefer:0",
	    "mpol=prefer=static:0",
	    "mpol=interleave=relative:0-0",
	    "mpol=weighted-interleave",
	    "mpol=prefer-many:0",
	};
	static const char *const bad[] = {
	    "mpol=bogus",	 "mpol=bind",		"mpol=bind:1000",
	    "mpol=local:0",	 "mpol=default=static", "mpol=interleave=odd:0",
	    "mpol=interleave:x", "mpol=interleave:1-0", "mpol",
	    "inode32=1",
	};
	struct shmemfs_opts o;
	char err[256];
	size_t i;

	(void)state;
	shmemfs_opts_init(&o);
	assert_int_equal(
	    shmemfs_opts_parse(&o, "inode64", NULL, 0, err, sizeof(err)), 0);
	assert_true(o.so_inode64);
	assert_int_equal(shmemfs_opts_parse(&o, "inode64,inode32", NULL, 0, err,
					    sizeof(err)),
			 0);
	assert_false(o.so_inode64);
	assert_false(o.so_mpol);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		o.so_mpol = 0;
		assert_int_equal(
		    shmemfs_opts_parse(&o, good[i], NULL, 0, err, sizeof(err)),
		    0);
		assert_true(o.so_mpol);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    shmemfs_opts_parse(&o, bad[i], NULL, 0, err, sizeof(err)),
		    -EINVAL);
		assert_non_null(
		    strstr(err, bad[i][0] == 'i' ? "inode32" : "mpol"));
	}
	shmemfs_opts_free(&o);
}

/* inode32 wraps past 2^32 and skips numbers in use; inode64 does not. */
static void
test_inode32_wrap(void **state)
{
	struct shmemfs *fs = mkfs("inode32");
	uint64_t a, b, c, d;

	(void)state;
	mkfile(fs, 1, "two"); /* ino 2 is in use, 1 is the root */
	fs->sf_next_ino = UINT32_MAX;
	a = mkfile(fs, 1, "a");
	b = mkfile(fs, 1, "b");
	c = mkfile(fs, 1, "c");
	assert_int_equal(a, UINT32_MAX);
	assert_int_equal(b, 3);
	assert_int_equal(c, 4);
	assert_int_equal(shmemfs_unlink(fs, 1, "b"), 0);
	shmemfs_forget(fs, b, 1);
	fs->sf_next_ino = UINT32_MAX;
	d = mkfile(fs, 1, "d");
	assert_int_equal(d, 3); /* UINT32_MAX, 1, 2 taken; 3 free again */
	check(fs);
	shmemfs_destroy(fs);

	fs = mkfs("inode64");
	fs->sf_next_ino = UINT32_MAX;
	assert_int_equal(mkfile(fs, 1, "a"), UINT32_MAX);
	assert_int_equal(mkfile(fs, 1, "b"), (uint64_t)UINT32_MAX + 1);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_remount(void **state)
{
	struct shmemfs *fs = mkfs("size=40k,nr_inodes=10");
	struct statvfs sv;
	char err[256];
	uint64_t f = mkfile(fs, 1, "f");

	(void)state;
	static char buf[3 * 4096];

	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 (ssize_t)sizeof(buf));
	assert_int_equal(shmemfs_remount(fs, "size=8k", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Too small a size for current use");
	assert_int_equal(shmemfs_remount(fs, "nr_inodes=1", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Too few inodes for current use");
	assert_int_equal(shmemfs_remount(fs, "swap=/x", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(
	    shmemfs_remount(fs, "size=80k,ramfs", err, sizeof(err)), -EINVAL);
	assert_int_equal(shmemfs_remount(fs, "mem=4k", err, sizeof(err)),
			 -EINVAL);
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_blocks, 10);
	assert_int_equal(shmemfs_remount(fs,
					 "remount,size=80k,nr_inodes=5,"
					 "huge=always,inode64,mode=700",
					 err, sizeof(err)),
			 0);
	shmemfs_statfs(fs, &sv);
	assert_int_equal(sv.f_blocks, 20);
	assert_int_equal(sv.f_files, 5);
	assert_int_equal(shmemfs_remount(fs, "size=0", err, sizeof(err)), 0);
	assert_int_equal(shmemfs_remount(fs, "size=80k", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "Cannot retroactively limit size");
	/* inode32 refused once a number past 2^32 went out */
	fs->sf_next_ino = (uint64_t)UINT32_MAX + 5;
	assert_int_equal(shmemfs_remount(fs, "inode32", err, sizeof(err)),
			 -EINVAL);
	check(fs);
	shmemfs_destroy(fs);
}

static int
null_rw(void *priv, uint64_t off, void *buf, size_t len)
{
	(void)priv;
	(void)off;
	(void)buf;
	(void)len;
	return 0;
}

static int
null_w(void *priv, uint64_t off, const void *buf, size_t len)
{
	(void)priv;
	(void)off;
	(void)buf;
	(void)len;
	return 0;
}

static void
null_close(void *priv)
{
	(void)priv;
}

static const struct sf_swap_ops null_ops = {
    .sop_version = 1,
    .sop_read = null_rw,
    .sop_write = null_w,
    .sop_close = null_close,
};

static void
test_swap_resize(void **state)
{
	struct sf_swap sw;
	int64_t s;
	int i;

	(void)state;
	assert_int_equal(swap_init(&sw, &null_ops, NULL, 70), 0);
	for (i = 0; i < 70; i++)
		assert_int_equal(swap_slot_alloc(&sw, false), i);
	assert_int_equal(swap_slot_alloc(&sw, false), -ENOSPC);
	/* a failed grow changes nothing */
	sf_fail_after = 1;
	assert_int_equal(swap_resize(&sw, 200), -ENOMEM);
	sf_fail_after = 0;
	assert_int_equal(sw.sw_nslots, 70);
	assert_int_equal(swap_resize(&sw, 200), 0);
	/* the slots past the old end in its last word are found too */
	assert_int_equal(swap_slot_alloc(&sw, false), 70);
	assert_int_equal(swap_resize(&sw, 60), -EBUSY);
	for (i = 0; i <= 70; i++)
		swap_slot_free(&sw, (uint64_t)i);
	assert_int_equal(sw.sw_used, 0);
	assert_int_equal(swap_resize(&sw, 60), 0);
	assert_int_equal(sw.sw_backed_free, 0);
	for (i = 0; i < 60; i++) {
		s = swap_slot_alloc(&sw, false);
		assert_true(s >= 0 && s < 60);
	}
	assert_int_equal(swap_slot_alloc(&sw, false), -ENOSPC);
	swap_fini(&sw);
}

static struct shmemfs_quota
quota_of(struct shmemfs *fs, unsigned type, uint32_t id)
{
	struct shmemfs_quota q[8];
	int n = shmemfs_quota_get(fs, type, id, q, 8);

	assert_true(n > 0);
	assert_int_equal(q[0].sq_id, id);
	return q[0];
}

static void
test_quota(void **state)
{
	struct shmemfs *fs = mkfs("usrquota,grpquota,"
				  "usrquota_block_hardlimit=16k,"
				  "usrquota_inode_hardlimit=3");
	struct shmemfs_ctx u = {.sc_uid = 7, .sc_gid = 8};
	struct shmemfs_setattr sa = {.ss_uid = 9, .ss_size = 0};
	static char buf[6 * 4096];
	struct shmemfs_attr a;
	uint64_t f, g;

	(void)state;
	assert_int_equal(shmemfs_quota_types(fs),
			 SHMEMFS_QUOTA_USER | SHMEMFS_QUOTA_GROUP);
	assert_int_equal(shmemfs_mknod(fs, &u, 1, "f", S_IFREG | 0644, 0, &a),
			 0);
	f = a.sa_st.st_ino;
	/* 4 pages fit; the write stops short at the fifth */
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0), 4 * 4096);
	assert_int_equal(shmemfs_write(fs, f, buf, 1, 4 * 4096), -EDQUOT);
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 8 * 4096), -EDQUOT);
	assert_int_equal(quota_of(fs, 0, 7).sq_bytes, 4 * 4096);
	assert_int_equal(quota_of(fs, 1, 8).sq_bytes, 4 * 4096);
	/* the bypass is per thread and lifts the hard limits */
	shmemfs_quota_bypass(1);
	assert_int_equal(shmemfs_write(fs, f, buf, 1, 4 * 4096), 1);
	shmemfs_quota_bypass(0);
	assert_int_equal(quota_of(fs, 0, 7).sq_bytes, 5 * 4096);
	/* inodes */
	assert_int_equal(shmemfs_mkdir(fs, &u, 1, "d", 0755, &a), 0);
	assert_int_equal(shmemfs_symlink(fs, &u, 1, "l", "f", &a), 0);
	assert_int_equal(shmemfs_mknod(fs, &u, 1, "g", S_IFREG | 0644, 0, &a),
			 -EDQUOT);
	assert_int_equal(quota_of(fs, 0, 7).sq_inodes, 3);
	/* root: no default limits */
	assert_int_equal(shmemfs_mknod(fs, &ctx, 1, "r", S_IFREG | 0644, 0, &a),
			 0);
	g = a.sa_st.st_ino;
	assert_int_equal(quota_of(fs, 0, 1000).sq_inode_limit, 3);
	/* chown moves: 9 has the default limit, 5 pages do not fit */
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_UID, &sa, NULL),
			 -EDQUOT);
	assert_int_equal(
	    shmemfs_quota_set(fs, 0, 9, SHMEMFS_QUOTA_SET_BLOCKS, 0, 0), 0);
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_UID, &sa, NULL), 0);
	assert_int_equal(quota_of(fs, 0, 7).sq_bytes, 0);
	assert_int_equal(quota_of(fs, 0, 7).sq_inodes, 2);
	assert_int_equal(quota_of(fs, 0, 9).sq_bytes, 5 * 4096);
	assert_int_equal(quota_of(fs, 1, 8).sq_bytes, 5 * 4096);
	/* truncate and unlink give back to the owner of now */
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	assert_int_equal(quota_of(fs, 0, 9).sq_bytes, 0);
	check(fs);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), 0);
	shmemfs_forget(fs, f, 1);
	assert_int_equal(quota_of(fs, 0, 9).sq_inodes, 0);
	assert_int_equal(shmemfs_quota_set(fs, 2, 9, 0, 0, 0), -ESRCH);
	(void)g;
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_quota_options_and_failures(void **state)
{
	static const char *const bad[] = {
	    "usrquota_block_hardlimit=0",
	    "grpquota_inode_hardlimit=x",
	    "usrquota=1",
	    "usrquota_block_hardlimit=10%",
	};
	struct shmemfs_opts o;
	char err[256];
	size_t i;
	int n;

	(void)state;
	shmemfs_opts_init(&o);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    shmemfs_opts_parse(&o, bad[i], NULL, 0, err, sizeof(err)),
		    -EINVAL);
	assert_int_equal(shmemfs_opts_parse(&o,
					    "quota,grpquota_inode_hard"
					    "limit=1k",
					    NULL, 0, err, sizeof(err)),
			 0);
	assert_true(o.so_usrquota && o.so_grpquota);
	assert_int_equal(o.so_grpquota_ihard, 1024);
	shmemfs_opts_free(&o);
	/* an entry that cannot be allocated fails the charge cleanly */
	for (n = 1; n < 12; n++) {
		struct shmemfs *fs = mkfs("usrquota,grpquota");
		struct shmemfs_ctx u = {.sc_uid = 7, .sc_gid = 8};
		struct shmemfs_attr a;
		int r;

		sf_fail_after = n;
		r = shmemfs_mknod(fs, &u, 1, "f", S_IFREG | 0644, 0, &a);
		if (r == 0)
			r = (int)shmemfs_write(fs, a.sa_st.st_ino, "x", 1, 0);
		sf_fail_after = 0;
		assert_true(r >= 0 || r == -ENOMEM);
		check(fs);
		shmemfs_destroy(fs);
	}
}

static bool
q_in_group(const struct shmemfs_cred *cr, gid_t gid)
{
	(void)cr;
	(void)gid;
	return false;
}

static bool
q_capable(const struct shmemfs_cred *cr, unsigned cap)
{
	(void)cr;
	(void)cap;
	return false;
}

static uint64_t
q_memlock(const struct shmemfs_cred *cr)
{
	(void)cr;
	return 65536;
}

/*
 * A SysV segment's inode belongs to root in the internal namespace, and
 * its pages are charged there and go back when it is removed (the
 * kernel keeps segments on shm_mnt, outside every quota: see README).
 */
static void
test_quota_ipc(void **state)
{
	struct shmemfs *fs = mkfs("usrquota");
	struct shmemfs_cred me = {
	    .cr_uid = 7,
	    .cr_gid = 8,
	    .cr_pid = 42,
	    .cr_in_group = q_in_group,
	    .cr_capable = q_capable,
	    .cr_memlock = q_memlock,
	};
	static char buf[3 * 4096];
	struct shmemfs_attr a;
	int id;

	(void)state;
	id = shmemfs_shm_get(fs, &me, 5, sizeof(buf), IPC_CREAT | 0600);
	assert_true(id >= 0);
	assert_int_equal(shmemfs_shm_lookup(fs, id, &a), 0);
	assert_int_equal(shmemfs_write(fs, a.sa_st.st_ino, buf, sizeof(buf), 0),
			 (ssize_t)sizeof(buf));
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
	assert_int_equal(quota_of(fs, 0, a.sa_st.st_uid).sq_bytes, sizeof(buf));
	check(fs);
	assert_int_equal(shmemfs_shm_ctl(fs, &me, id, IPC_RMID, NULL), 0);
	assert_int_equal(quota_of(fs, 0, a.sa_st.st_uid).sq_bytes, 0);
	check(fs);
	shmemfs_destroy(fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acl_validation),
	    cmocka_unit_test(test_acl_equiv_and_sgid),
	    cmocka_unit_test(test_acl_inherit),
	    cmocka_unit_test(test_acl_inherit_failures),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_whiteout),
	    cmocka_unit_test(test_inode32_64_mpol_options),
	    cmocka_unit_test(test_inode32_wrap),
	    cmocka_unit_test(test_remount),
	    cmocka_unit_test(test_swap_resize),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_quota_options_and_failures),
	    cmocka_unit_test(test_quota_ipc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
