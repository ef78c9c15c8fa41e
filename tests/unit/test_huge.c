/* SPDX-License-Identifier: MIT */
/*
 * test_huge.c - huge pages in the core, without FUSE: the folio a hole
 * gets under each huge= policy and what it charges, splits on truncate
 * and punch, the ENOSPC shrink, the host-THP fallback (injected), swap
 * of folios through a memory backend, collapse, and shmemfs_check()
 * after every step (the page index's multi-index entries, the CLOCK
 * ring's page counts, i_blocks).
 */
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

#define KB 1024ull
#define MB (1024 * KB)
#define ROOT SHMEMFS_ROOT_INO

static uint64_t
blocks_of(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_getattr(fs, ino, &a), 0);
	return (uint64_t)a.sa_st.st_blocks;
}

static unsigned
blksize_of(struct shmemfs *fs, uint64_t ino)
{
	struct shmemfs_attr a;

	assert_int_equal(shmemfs_getattr(fs, ino, &a), 0);
	return (unsigned)a.sa_st.st_blksize;
}

static struct shmemfs_stats
stats_of(struct shmemfs *fs)
{
	struct shmemfs_stats st;

	assert_int_equal(shmemfs_get_stats(fs, &st), 0);
	return st;
}

static void
test_policies(void **state)
{
	static char buf[2 * MB];
	struct shmemfs *fs;
	uint64_t f;

	(void)state;
	fs = mkfs("size=64m,huge=always");
	f = mkfile(fs, ROOT, "a");
	assert_int_equal(shmemfs_write(fs, f, "x", 1, 0), 1);
	assert_int_equal(blocks_of(fs, f), 4096);
	assert_int_equal(blksize_of(fs, f), 2 * MB);
	assert_int_equal(stats_of(fs).huge_pages, 1);
	check(fs);
	/* a read of a hole allocates nothing */
	assert_int_equal(shmemfs_read(fs, f, buf, 1, 0), 1);
	shmemfs_destroy(fs);

	fs = mkfs("size=64m,huge=within_size");
	f = mkfile(fs, ROOT, "a");
	assert_int_equal(shmemfs_write(fs, f, "x", 1, 0), 1);
	assert_int_equal(blocks_of(fs, f), 8);
	assert_int_equal(blksize_of(fs, f), 4096);
	memset(buf, 7, sizeof(buf));
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 2 * MB),
			 sizeof(buf));
	assert_int_equal(blocks_of(fs, f), 8 + 4096);
	assert_int_equal(blksize_of(fs, f), 2 * MB);
	check(fs);
	shmemfs_destroy(fs);

	fs = mkfs("size=64m,huge=advise");
	f = mkfile(fs, ROOT, "a");
	assert_int_equal(shmemfs_write(fs, f, "x", 1, 0), 1);
	assert_int_equal(blocks_of(fs, f), 8);
	assert_int_equal(shmemfs_huge_advise(fs, f, 1), 0);
	assert_int_equal(blksize_of(fs, f), 2 * MB);
	assert_int_equal(shmemfs_write(fs, f, "x", 1, 2 * MB), 1);
	assert_int_equal(blocks_of(fs, f), 8 + 4096);
	assert_int_equal(shmemfs_huge_advise(fs, ROOT, 1), -EINVAL);
	assert_int_equal(shmemfs_huge_advise(fs, 999999, 1), -ESTALE);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_split_on_truncate_and_punch(void **state)
{
	static char buf[2 * MB];
	struct shmemfs *fs = mkfs("size=64m,huge=always");
	uint64_t f = mkfile(fs, ROOT, "d");
	struct shmemfs_setattr sa = {.ss_size = MB + 1};

	(void)state;
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	assert_int_equal(blocks_of(fs, f), 2056);
	assert_int_equal(stats_of(fs).huge_splits, 1);
	check(fs);
	/* the bytes past the new end read as zeros when it grows again */
	sa.ss_size = 2 * MB;
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	assert_int_equal(shmemfs_read(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[MB], 'a');
	assert_int_equal(buf[MB + 1], 0);
	assert_int_equal(buf[2 * MB - 1], 0);
	/* a punch inside a whole folio frees just the cut pages */
	f = mkfile(fs, ROOT, "e");
	memset(buf, 'b', sizeof(buf));
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(shmemfs_fallocate(fs, f,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
						   SHMEMFS_FALLOC_KEEP_SIZE,
					   4096, 8192),
			 0);
	assert_int_equal(blocks_of(fs, f), 4096 - 16);
	assert_int_equal(shmemfs_read(fs, f, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[4095], 'b');
	assert_int_equal(buf[4096], 0);
	assert_int_equal(buf[12287], 0);
	assert_int_equal(buf[12288], 'b');
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_enospc_shrink(void **state)
{
	struct shmemfs *fs = mkfs("size=4m,huge=always");
	uint64_t a = mkfile(fs, ROOT, "a"), b = mkfile(fs, ROOT, "b");
	uint64_t c = mkfile(fs, ROOT, "c");

	(void)state;
	assert_int_equal(shmemfs_write(fs, a, "x", 1, 0), 1);
	assert_int_equal(shmemfs_write(fs, b, "x", 1, 0), 1);
	assert_int_equal(shmemfs_write(fs, c, "x", 1, 0), 1);
	assert_int_equal(blocks_of(fs, a), 8);
	assert_int_equal(blocks_of(fs, b), 8);
	assert_int_equal(blocks_of(fs, c), 4096);
	check(fs);
	shmemfs_destroy(fs);
}

/* An injected failure where the host's huge page is asked for: the
 * folio is made of small pages, charged the same, and counted. */
static void
test_fallback(void **state)
{
	static char buf[2 * MB];
	struct shmemfs *fs = mkfs("size=64m,huge=always");
	uint64_t f = mkfile(fs, ROOT, "a");
	int n;

	(void)state;
	for (n = 1; n < 6; n++) {
		sf_fail_after = n;
		memset(buf, n, sizeof(buf));
		assert_int_equal(shmemfs_write(fs, f, buf, 4096,
					       (int64_t)n * 4 * MB), 4096);
		sf_fail_after = 0;
		check(fs);
	}
	assert_true(stats_of(fs).huge_fallbacks >= 1);
	assert_int_equal(blocks_of(fs, f), 5 * 4096);
	for (n = 1; n < 6; n++) {
		assert_int_equal(shmemfs_read(fs, f, buf, 4096,
					      (int64_t)n * 4 * MB), 4096);
		assert_int_equal(buf[0], n);
	}
	shmemfs_destroy(fs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_split_on_truncate_and_punch),
		cmocka_unit_test(test_enospc_shrink),
		cmocka_unit_test(test_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
