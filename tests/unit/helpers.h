/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - helpers shared by the unit tests that drive a whole mount
 * (test_core.c, test_swap.c).  Include after <cmocka.h>.
 */
#ifndef SHMEMFS_TEST_HELPERS_H
#define SHMEMFS_TEST_HELPERS_H

#include <stdint.h>
#include <sys/stat.h>

#include "shmemfs.h"

/* The caller of every operation: an ordinary user. */
static const struct shmemfs_ctx ctx = {.sc_uid = 1000, .sc_gid = 1000};

/* A fresh mount with the tmpfs options @opts (NULL: the defaults). */
static inline struct shmemfs *
mkfs(const char *opts)
{
	struct shmemfs_opts o;
	struct shmemfs *fs;
	char err[256];

	shmemfs_opts_init(&o);
	if (opts)
		assert_int_equal(shmemfs_opts_parse(&o, opts, NULL, 0, err,
						    sizeof(err)), 0);
	assert_int_equal(shmemfs_new(&fs, &o), 0);
	shmemfs_opts_free(&o);
	return fs;
}

/* Fail the test unless shmemfs_check() finds everything consistent. */
static inline void
check(struct shmemfs *fs)
{
	char msg[256] = "";
	int ret = shmemfs_check(fs, msg, sizeof(msg));

	if (ret)
		fail_msg("consistency: %s", msg);
}

/* Create the regular file @name in @dir; returns its inode number. */
static inline uint64_t
mkfile(struct shmemfs *fs, uint64_t dir, const char *name)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_mknod(fs, &ctx, dir, name, S_IFREG | 0644, 0,
				       &a), 0);
	return a.sa_st.st_ino;
}

#endif
