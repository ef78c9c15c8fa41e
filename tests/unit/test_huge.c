/* SPDX-License-Identifier: MIT */
/*
 * test_huge.c - huge pages in the core, without FUSE: the folio a hole
 * gets under each huge= policy and what it charges, splits on truncate
 * and punch as Linux 6.18 measured (resident, swapped, fallback and
 * fallocated folios: logical folios must split as the real ones), the
 * ENOSPC shrink and its order, the host-THP fallback (injected), swap
 * of folios through a memory backend, swap-in and swapoff, background
 * collapse (policy, mem=, bounded passes, the thread), images of
 * folios, and shmemfs_check() after every step (multi-index entries,
 * logical folio marks, the shrinklist, the CLOCK ring's page counts,
 * i_blocks).
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
#include "khugepaged.h"
#include "lock.h"
#include "reclaim.h"
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

/*
 * Which folios a full size= trims, measured on Linux 6.18 (five 1-byte
 * files under huge=always, size=8m: 4096 4096 8 8 4096 st_blocks): the
 * shrinker takes a batch from the head of its list and goes through it
 * newest first, stopping once the new folio's pages are freed.
 */
static void
test_enospc_shrink_order(void **state)
{
	static const uint64_t want[5] = {4096, 4096, 8, 8, 4096};
	struct shmemfs *fs = mkfs("size=8m,huge=always");
	uint64_t f[5];
	char name[2] = "a";
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		name[0] = (char)('a' + i);
		f[i] = mkfile(fs, ROOT, name);
		assert_int_equal(shmemfs_write(fs, f[i], "x", 1, 0), 1);
		check(fs);
	}
	for (i = 0; i < 5; i++)
		assert_int_equal(blocks_of(fs, f[i]), want[i]);
	/* the ioctl's shrink (drop_caches) takes the rest */
	assert_int_equal(shmemfs_huge_shrink(fs), 3 * 511);
	for (i = 0; i < 5; i++)
		assert_int_equal(blocks_of(fs, f[i]), 8);
	assert_int_equal(shmemfs_huge_shrink(fs), 0);
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

/* A swap device in memory, its reads failing while mb_fail_read. */
struct membk {
	unsigned char *mb_data;
	int mb_fail_read;
};

static int
mb_read(void *priv, uint64_t off, void *buf, size_t len)
{
	struct membk *mb = priv;

	if (mb->mb_fail_read)
		return -EIO;
	memcpy(buf, mb->mb_data + off, len);
	return 0;
}

static int
mb_write(void *priv, uint64_t off, const void *buf, size_t len)
{
	memcpy(((struct membk *)priv)->mb_data + off, buf, len);
	return 0;
}

static void
mb_close(void *priv)
{
	struct membk *mb = priv;

	free(mb->mb_data);
	mb->mb_data = NULL;
}

static const struct sf_swap_ops mb_ops = {
	.sop_version = 1,
	.sop_read = mb_read,
	.sop_write = mb_write,
	.sop_close = mb_close,
};

static struct membk bk;

#define SWAP_SLOTS 8192

/* A mount with @opts and a memory swap device of SWAP_SLOTS slots. */
static struct shmemfs *
mkfs_swap(const char *opts)
{
	struct shmemfs *fs = mkfs(opts);

	memset(&bk, 0, sizeof(bk));
	bk.mb_data = calloc(SWAP_SLOTS, 4096);
	assert_non_null(bk.mb_data);
	assert_int_equal(shmemfs_swap_attach(fs, &mb_ops, &bk, SWAP_SLOTS),
			 0);
	return fs;
}

/* Send every resident page of the mount to swap (or to a zero entry). */
static void
evict_all(struct shmemfs *fs)
{
	sf_mutex_lock(&fs->sf_lock);
	reclaim_pages(fs, UINT64_MAX);
	reclaim_pages(fs, UINT64_MAX);
	sf_mutex_unlock(&fs->sf_lock);
}

static void
pattern(char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 7 + i / 4096 * 13 + seed) | 1);
}

static void
punch(struct shmemfs *fs, uint64_t f, int64_t off, int64_t len)
{
	assert_int_equal(shmemfs_fallocate(fs, f,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
						   SHMEMFS_FALLOC_KEEP_SIZE,
					   off, len),
			 0);
}

static void
set_size(struct shmemfs *fs, uint64_t f, uint64_t size)
{
	struct shmemfs_setattr sa = {.ss_size = size};

	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
}

/*
 * What Linux 6.18's tmpfs (huge=always, no swap) leaves after one
 * punch or truncate into a 2 MiB folio, measured on the kernel: the
 * folio is split at the first cut page into that page and halves of
 * decreasing order, and each new folio (but the first) that starts at
 * or past end of file goes.  Each case runs on a resident folio and,
 * on @swapped, after the folio went to swap (the logical folio must
 * split the same).
 */
struct split_case {
	uint64_t size;   /* bytes written from 0 */
	int64_t off, len; /* punched; len 0: truncate to off */
	uint64_t pages;  /* pages left (st_blocks / 8) */
};

static const struct split_case split_cases[] = {
	{33 * 4096, 100, 100, 64},
	{130270, 2029, 4096, 32},
	{200 * 4096, 100 * 4096 + 5, 10, 256},
	{300 * 4096, 100 * 4096 + 5, 0, 101},
	{33 * 4096, 40 * 4096, 4096, 40},
	{33 * 4096, 5 * 4096, 300 * 4096, 5},
	{100 * 4096, 5 * 4096 + 7, 30 * 4096, 99},
};

static void
run_split_cases(const char *opts, bool swapped)
{
	static char buf[2 * MB], back[2 * MB];
	size_t i;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		struct shmemfs *fs = swapped ? mkfs_swap(opts) : mkfs(opts);
		uint64_t f = mkfile(fs, ROOT, "f");

		pattern(buf, c->size, (unsigned)i);
		assert_int_equal(shmemfs_write(fs, f, buf, c->size, 0),
				 (ssize_t)c->size);
		assert_int_equal(blocks_of(fs, f), 4096);
		if (swapped) {
			evict_all(fs);
			assert_int_equal(stats_of(fs).resident_bytes, 0);
			check(fs);
		}
		if (c->len)
			punch(fs, f, c->off, c->len);
		else
			set_size(fs, f, (uint64_t)c->off);
		assert_int_equal(blocks_of(fs, f) / 8, c->pages);
		check(fs);
		/* the data is what it was, less what went */
		if (c->len && (uint64_t)c->off < c->size)
			memset(buf + c->off, 0,
			       (uint64_t)(c->off + c->len) > c->size
				       ? c->size - (uint64_t)c->off
				       : (uint64_t)c->len);
		{
			uint64_t n = c->len ? c->size : (uint64_t)c->off;

			assert_int_equal(shmemfs_read(fs, f, back, n, 0),
					 (ssize_t)n);
			assert_memory_equal(back, buf, n);
		}
		check(fs);
		/* what is left splits again, consistently, to the end */
		punch(fs, f, 2 * 4096, 2 * 4096);
		check(fs);
		set_size(fs, f, 4096 + 1);
		assert_int_equal(blocks_of(fs, f) / 8,
				 c->pages > 1 ? 2 : c->pages);
		check(fs);
		shmemfs_destroy(fs);
	}
}

static void
test_split_like_linux(void **state)
{
	(void)state;
	run_split_cases("size=64m,huge=always", false);
}

/* The same splits on a folio that went to swap whole (it was a real
 * 2 MiB folio, split to be swapped out) ... */
static void
test_swapped_folio_split(void **state)
{
	(void)state;
	run_split_cases("size=64m,huge=always,mem=8m", true);
}

/* ... and on one mem= never had room for: 512 small pages charged as
 * one folio, most of them in swap from the start (the case the
 * differential test found, seed 2002 with mem=256k). */
static void
test_fallback_folio_split(void **state)
{
	(void)state;
	run_split_cases("size=64m,huge=always,mem=256k", true);
}

/*
 * A fallocated folio (KEEP_SIZE, one page asked for) is 512 pages
 * reserved; a punch of that page ends the reservation and the split
 * frees the rest, as on tmpfs.  The reservation survives swap too.
 */
static void
test_falloc_folio_split(void **state)
{
	struct shmemfs *fs = mkfs("size=64m,huge=always");
	uint64_t f = mkfile(fs, ROOT, "f");

	(void)state;
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE, 0,
					   4096), 0);
	assert_int_equal(blocks_of(fs, f), 4096);
	punch(fs, f, 0, 4096);
	assert_int_equal(blocks_of(fs, f), 0);
	check(fs);
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_KEEP_SIZE, 0,
					   8192), 0);
	punch(fs, f, 0, 4096);
	assert_int_equal(blocks_of(fs, f), 8);
	check(fs);
	shmemfs_destroy(fs);
}

/*
 * A swapped folio read back page by page stays one logical folio (a
 * punch still splits it as tmpfs would), and once all of it is
 * resident again (by reads, or swapoff), a collapse pass makes it a
 * real 2 MiB folio again, past end of file too.
 */
static void
test_swapin_and_collapse(void **state)
{
	static char buf[2 * MB], back[2 * MB];
	struct shmemfs *fs = mkfs_swap("size=64m,huge=always,mem=8m");
	uint64_t f = mkfile(fs, ROOT, "f"), g = mkfile(fs, ROOT, "g");
	struct shmemfs_stats st;

	(void)state;
	pattern(buf, sizeof(buf), 3);
	assert_int_equal(shmemfs_write(fs, f, buf, 33 * 4096, 0), 33 * 4096);
	assert_int_equal(shmemfs_write(fs, g, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(stats_of(fs).huge_pages, 2);
	evict_all(fs);
	assert_int_equal(stats_of(fs).huge_pages, 0);
	/* nothing resident: nothing to collapse */
	assert_int_equal(shmemfs_huge_collapse(fs), 0);
	/* half of g comes back: still nothing */
	assert_int_equal(shmemfs_read(fs, g, back, MB, 0), MB);
	assert_int_equal(shmemfs_huge_collapse(fs), 0);
	check(fs);
	/* all of f's data comes back; its folio's pages past EOF are zero
	 * entries, which a collapse turns into zeros in the folio */
	assert_int_equal(shmemfs_read(fs, f, back, 33 * 4096, 0), 33 * 4096);
	assert_memory_equal(back, buf, 33 * 4096);
	assert_int_equal(shmemfs_swapoff(fs), 0);
	check(fs);
	st = stats_of(fs);
	assert_int_equal(shmemfs_huge_collapse(fs), 2);
	assert_int_equal(stats_of(fs).huge_pages, 2);
	assert_int_equal(stats_of(fs).huge_collapses, st.huge_collapses + 2);
	assert_int_equal(blocks_of(fs, f), 4096);
	assert_int_equal(blocks_of(fs, g), 4096);
	check(fs);
	assert_int_equal(shmemfs_read(fs, g, back, sizeof(buf), 0),
			 sizeof(buf));
	assert_memory_equal(back, buf, sizeof(buf));
	/* the real folio splits as the logical one did */
	punch(fs, f, 100, 100);
	assert_int_equal(blocks_of(fs, f) / 8, 64);
	check(fs);
	shmemfs_destroy(fs);
}

/* A punch into a swapped folio whose edge pages cannot come back: the
 * split needs no memory and no swap-in, so only the zeroing of the
 * partial page fails; the folio is split all the same, consistently. */
static void
test_swapped_folio_injected_failures(void **state)
{
	static char buf[2 * MB];
	int n;

	(void)state;
	for (n = 1; n < 12; n++) {
		struct shmemfs *fs = mkfs_swap("size=64m,huge=always,mem=8m");
		uint64_t f = mkfile(fs, ROOT, "f");
		int ret;

		pattern(buf, sizeof(buf), (unsigned)n);
		assert_int_equal(shmemfs_write(fs, f, buf, 33 * 4096, 0),
				 33 * 4096);
		if (n % 2)
			evict_all(fs);
		sf_fail_after = n;
		ret = shmemfs_fallocate(fs, f,
					SHMEMFS_FALLOC_PUNCH_HOLE |
						SHMEMFS_FALLOC_KEEP_SIZE,
					100, 100);
		sf_fail_after = 0;
		assert_true(ret == 0 || ret == -ENOMEM);
		check(fs);
		/* a failed punch may leave the folio whole, never half */
		assert_true(blocks_of(fs, f) / 8 == 64 ||
			    blocks_of(fs, f) / 8 == 512);
		bk.mb_fail_read = 1;
		ret = shmemfs_fallocate(fs, f,
					SHMEMFS_FALLOC_PUNCH_HOLE |
						SHMEMFS_FALLOC_KEEP_SIZE,
					40 * 4096 + 1, 100);
		bk.mb_fail_read = 0;
		assert_true(ret == 0 || ret == -EIO);
		check(fs);
		set_size(fs, f, 4096 + 1);
		assert_int_equal(blocks_of(fs, f) / 8, 2);
		check(fs);
		shmemfs_destroy(fs);
	}
}

/* Collapse never goes where huge= forbids or mem= has no room. */
static void
test_collapse_policy(void **state)
{
	static char buf[4 * MB];
	struct shmemfs *fs;
	uint64_t f;
	int n;

	(void)state;
	memset(buf, 'c', sizeof(buf));
	/* never: small pages stay */
	fs = mkfs("size=64m,huge=never");
	f = mkfile(fs, ROOT, "f");
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(shmemfs_huge_collapse(fs), 0);
	/* remount to always: the two 2 MiB ranges become folios */
	fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
	assert_int_equal(shmemfs_huge_collapse(fs), 2);
	assert_int_equal(stats_of(fs).huge_pages, 2);
	assert_int_equal(blocks_of(fs, f), 8192);
	check(fs);
	shmemfs_destroy(fs);

	/* within_size: a range reaching past end of file stays */
	fs = mkfs("size=64m,huge=never");
	f = mkfile(fs, ROOT, "f");
	assert_int_equal(shmemfs_write(fs, f, buf, 3 * MB, 0), 3 * MB);
	assert_int_equal(shmemfs_write(fs, f, buf, MB, 4 * MB - 4096),
			 MB);
	set_size(fs, f, 4 * MB - 1);
	fs->sf_opts.so_huge = SHMEMFS_HUGE_WITHIN_SIZE;
	assert_int_equal(shmemfs_huge_collapse(fs), 1);
	check(fs);
	shmemfs_destroy(fs);

	/* advise: only a file asked for */
	fs = mkfs("size=64m,huge=advise");
	f = mkfile(fs, ROOT, "f");
	assert_int_equal(shmemfs_write(fs, f, buf, 2 * MB, 0), 2 * MB);
	assert_int_equal(shmemfs_huge_collapse(fs), 0);
	assert_int_equal(shmemfs_huge_advise(fs, f, 1), 0);
	assert_int_equal(shmemfs_huge_collapse(fs), 1);
	check(fs);
	shmemfs_destroy(fs);

	/* mem= without room for the copy: nothing, and nothing changes */
	fs = mkfs("size=64m,huge=never,mem=3m");
	f = mkfile(fs, ROOT, "f");
	assert_int_equal(shmemfs_write(fs, f, buf, 2 * MB, 0), 2 * MB);
	fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
	assert_int_equal(shmemfs_huge_collapse(fs), 0);
	assert_int_equal(stats_of(fs).huge_pages, 0);
	check(fs);
	shmemfs_destroy(fs);

	/* size= full: a collapse charges nothing (the range has no holes) */
	fs = mkfs("size=2m,mem=4m,huge=never");
	f = mkfile(fs, ROOT, "f");
	assert_int_equal(shmemfs_write(fs, f, buf, 2 * MB, 0), 2 * MB);
	assert_int_equal(stats_of(fs).used_bytes, 2 * MB);
	fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
	assert_int_equal(shmemfs_huge_collapse(fs), 1);
	assert_int_equal(stats_of(fs).used_bytes, 2 * MB);
	assert_int_equal(blocks_of(fs, f), 4096);
	check(fs);
	shmemfs_destroy(fs);

	/* an allocation failing anywhere in a pass changes nothing else */
	for (n = 1; n < 6; n++) {
		fs = mkfs("size=64m,huge=never");
		f = mkfile(fs, ROOT, "f");
		assert_int_equal(shmemfs_write(fs, f, buf, 2 * MB, 0), 2 * MB);
		fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
		sf_fail_after = n;
		(void)shmemfs_huge_collapse(fs);
		sf_fail_after = 0;
		check(fs);
		assert_int_equal(blocks_of(fs, f), 4096);
		assert_int_equal(shmemfs_read(fs, f, buf, 2 * MB, 0), 2 * MB);
		assert_int_equal(buf[0], 'c');
		assert_int_equal(buf[2 * MB - 1], 'c');
		shmemfs_destroy(fs);
	}
}

/* A pass is bounded; the next one goes on where it stopped. */
static void
test_collapse_bounded(void **state)
{
	static char buf[2 * MB];
	struct shmemfs *fs = mkfs("size=128m,huge=never");
	char name[8];
	unsigned made, total = 0;
	int i;

	(void)state;
	memset(buf, 'b', sizeof(buf));
	for (i = 0; i < 20; i++) {
		uint64_t f;

		snprintf(name, sizeof(name), "f%d", i);
		f = mkfile(fs, ROOT, name);
		assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
				 sizeof(buf));
	}
	fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
	for (i = 0; i < 10 && total < 20; i++) {
		made = (unsigned)shmemfs_huge_collapse(fs);
		assert_true(made <= SF_KHP_FOLIOS);
		total += made;
		check(fs);
	}
	assert_int_equal(total, 20);
	assert_int_equal(stats_of(fs).huge_pages, 20);
	assert_int_equal(stats_of(fs).huge_collapses, 20);
	shmemfs_destroy(fs);
}

/* The thread collapses by itself, and stops at destroy. */
static void
test_collapse_thread(void **state)
{
	static char buf[2 * MB];
	struct shmemfs *fs = mkfs("size=64m,huge=never");
	uint64_t f = mkfile(fs, ROOT, "f");
	int i;

	(void)state;
	memset(buf, 't', sizeof(buf));
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(khugepaged_start(fs), 0);
	sf_mutex_lock(&fs->sf_lock);
	fs->sf_opts.so_huge = SHMEMFS_HUGE_ALWAYS;
	khugepaged_wake(fs);
	sf_mutex_unlock(&fs->sf_lock);
	for (i = 0; i < 200 && !stats_of(fs).huge_pages; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(stats_of(fs).huge_pages, 1);
	check(fs);
	shmemfs_destroy(fs); /* joins the thread */
}

/* An image of a file in a 2 MiB folio holds each page's own bytes
 * (it held the folio's first page 512 times). */
static void
test_snapshot_of_folio(void **state)
{
	static char buf[2 * MB], back[2 * MB];
	struct shmemfs *fs = mkfs("size=64m,huge=always"), *fs2;
	uint64_t f = mkfile(fs, ROOT, "f");
	struct shmemfs_opts o;
	struct shmemfs_attr a;
	char err[256];
	FILE *img = tmpfile();

	(void)state;
	assert_non_null(img);
	pattern(buf, sizeof(buf), 9);
	assert_int_equal(shmemfs_write(fs, f, buf, sizeof(buf), 0),
			 sizeof(buf));
	assert_int_equal(stats_of(fs).huge_pages, 1);
	assert_int_equal(shmemfs_save(fs, fileno(img), NULL, err, sizeof(err)),
			 0);
	shmemfs_destroy(fs);
	rewind(img);
	shmemfs_opts_init(&o);
	assert_int_equal(shmemfs_opts_parse(&o, "size=64m,huge=always", NULL,
					    0, err, sizeof(err)), 0);
	assert_int_equal(shmemfs_restore(&fs2, &o, fileno(img), NULL, err,
					 sizeof(err)), 0);
	shmemfs_opts_free(&o);
	assert_int_equal(shmemfs_lookup(fs2, ROOT, "f", &a), 0);
	assert_int_equal(shmemfs_read(fs2, a.sa_st.st_ino, back, sizeof(back),
				      0), sizeof(back));
	assert_memory_equal(back, buf, sizeof(buf));
	check(fs2);
	shmemfs_destroy(fs2);
	fclose(img);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_split_on_truncate_and_punch),
		cmocka_unit_test(test_enospc_shrink),
		cmocka_unit_test(test_enospc_shrink_order),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_split_like_linux),
		cmocka_unit_test(test_swapped_folio_split),
		cmocka_unit_test(test_fallback_folio_split),
		cmocka_unit_test(test_falloc_folio_split),
		cmocka_unit_test(test_swapin_and_collapse),
		cmocka_unit_test(test_swapped_folio_injected_failures),
		cmocka_unit_test(test_collapse_policy),
		cmocka_unit_test(test_collapse_bounded),
		cmocka_unit_test(test_collapse_thread),
		cmocka_unit_test(test_snapshot_of_folio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
