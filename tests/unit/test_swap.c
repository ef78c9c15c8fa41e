/* SPDX-License-Identifier: MIT */
/*
 * test_swap.c - memory budget, reclaim, swap-in, swapoff, and the swap
 * device under injected faults, without FUSE.
 *
 * A memory backend stands in for the swap file so each test can make
 * writes fail, reads fail, or bytes rot, and check the documented errno
 * and that nothing else is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs.h"
#include "node.h"
#include "helpers.h"

struct membk {
	unsigned char *mb_data;
	size_t mb_size;
	int mb_fail_write;  /* fail every write while set */
	int mb_fail_read;
	int mb_corrupt;     /* flip a bit in what reads return */
	int mb_bad;          /* while set, reads at mb_bad_off fail */
	uint64_t mb_bad_off;
	/*
	 * A full disk under a sparse swap file: a slot written once stays
	 * backed and can be overwritten, a slot never written cannot be.
	 */
	int mb_disk_full;
	unsigned char *mb_backed; /* per slot: ever written */
	uint64_t mb_writes, mb_reads;
};

static int
mb_read(void *priv, uint64_t off, void *buf, size_t len)
{
	struct membk *mb = priv;

	mb->mb_reads++;
	if (mb->mb_fail_read || (mb->mb_bad && off == mb->mb_bad_off))
		return -EIO;
	memcpy(buf, mb->mb_data + off, len);
	if (mb->mb_corrupt)
		((unsigned char *)buf)[len / 2] ^= 0x10;
	return 0;
}

static int
mb_write(void *priv, uint64_t off, const void *buf, size_t len)
{
	struct membk *mb = priv;

	mb->mb_writes++;
	if (mb->mb_fail_write)
		return -ENOSPC;
	if (mb->mb_disk_full && !mb->mb_backed[off / 4096])
		return -ENOSPC;
	memcpy(mb->mb_data + off, buf, len);
	mb->mb_backed[off / 4096] = 1;
	return 0;
}

static void
mb_close(void *priv)
{
	(void)priv;
}

static const struct sf_swap_ops mb_ops = {
	.sop_version = 1,
	.sop_read = mb_read,
	.sop_write = mb_write,
	.sop_close = mb_close,
};

static struct membk bk;

/* A mount with a @mem_pages budget and a @slots-slot memory swap. */
static struct shmemfs *
mkfs_swap(unsigned mem_pages, unsigned slots)
{
	struct shmemfs *fs;
	char opt[64];

	snprintf(opt, sizeof(opt), "size=64m,mem=%uk", mem_pages * 4);
	fs = mkfs(opt);
	free(bk.mb_data);
	free(bk.mb_backed);
	memset(&bk, 0, sizeof(bk));
	bk.mb_size = (size_t)slots * 4096;
	bk.mb_data = calloc(1, bk.mb_size);
	bk.mb_backed = calloc(1, slots);
	assert_int_equal(shmemfs_swap_attach(fs, &mb_ops, &bk, slots), 0);
	return fs;
}

static void
fill(char *buf, uint64_t page, unsigned seed)
{
	size_t i;

	for (i = 0; i < 4096; i++)
		buf[i] = (char)((page * 131 + i * 7 + seed) & 0xff);
}

/* Write @n pages of a pattern, then read them all back. */
static void
write_pages(struct shmemfs *fs, uint64_t f, uint64_t n, unsigned seed)
{
	char buf[4096];
	uint64_t p;

	for (p = 0; p < n; p++) {
		fill(buf, p, seed);
		assert_int_equal(shmemfs_write(fs, f, buf, 4096, p * 4096),
				 4096);
	}
}

static void
verify_pages(struct shmemfs *fs, uint64_t f, uint64_t n, unsigned seed)
{
	char buf[4096], want[4096];
	uint64_t p;

	for (p = 0; p < n; p++) {
		fill(want, p, seed);
		assert_int_equal(shmemfs_read(fs, f, buf, 4096, p * 4096),
				 4096);
		assert_memory_equal(buf, want, 4096);
	}
}

static void
test_budget_and_swapin(void **state)
{
	struct shmemfs *fs = mkfs_swap(16, 256);
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f");

	(void)state;
	write_pages(fs, f, 100, 1);
	shmemfs_get_stats(fs, &st);
	assert_true(st.resident_bytes <= 16 * 4096);
	assert_true(st.swapouts >= 84);
	assert_int_equal(st.used_bytes, 100 * 4096);
	check(fs);
	verify_pages(fs, f, 100, 1);
	shmemfs_get_stats(fs, &st);
	assert_true(st.swapins > 0);
	assert_true(st.resident_bytes <= 16 * 4096);
	check(fs);
	/* the sealed pages do not hold the plaintext */
	{
		char want[4096];

		fill(want, 3, 1);
		assert_null(memmem(bk.mb_data, bk.mb_size, want + 100, 64));
	}
	shmemfs_destroy(fs);
}

static void
test_truncate_punch_unlink_swapped(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 256);
	struct shmemfs_setattr sa = {.ss_size = 50 * 4096 + 100};
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f");
	uint64_t reads;
	char buf[200];

	(void)state;
	write_pages(fs, f, 64, 2);
	reads = bk.mb_reads;
	/* punching whole swapped pages frees slots without reading */
	assert_int_equal(shmemfs_fallocate(fs, f, SHMEMFS_FALLOC_PUNCH_HOLE |
					   SHMEMFS_FALLOC_KEEP_SIZE, 0,
					   20 * 4096), 0);
	assert_int_equal(bk.mb_reads, reads);
	check(fs);
	/* truncating into a swapped page brings it back to zero its tail */
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	sa.ss_size = 51 * 4096;
	assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa, NULL),
			 0);
	assert_int_equal(shmemfs_read(fs, f, buf, 200, 50 * 4096), 200);
	{
		char want[4096], zero[100] = {0};

		fill(want, 50, 2);
		assert_memory_equal(buf, want, 100);
		assert_memory_equal(buf + 100, zero, 100);
	}
	check(fs);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), 0);
	shmemfs_forget(fs, f, 1);
	shmemfs_get_stats(fs, &st);
	assert_int_equal(st.swap_used_bytes, 0);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.resident_bytes, 0);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_swap_full_enospc(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 8);
	char buf[4096] = {7};
	uint64_t f = mkfile(fs, 1, "f");
	int p, written = 0;

	(void)state;
	for (p = 0; p < 40; p++) {
		ssize_t r = shmemfs_write(fs, f, buf, 4096, p * 4096);

		if (r < 0) {
			assert_int_equal(r, -ENOSPC);
			break;
		}
		written++;
	}
	/* budget 8 + swap 8, give or take the reclaimer's batches */
	assert_true(written >= 8 && written <= 16);
	check(fs);
	/* everything written reads back */
	for (p = 0; p < written; p++) {
		char got[4096];

		assert_int_equal(shmemfs_read(fs, f, got, 4096, p * 4096),
				 4096);
		assert_memory_equal(got, buf, 4096);
	}
	shmemfs_destroy(fs);
}

static void
test_write_errors_lose_nothing(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 64);
	uint64_t f = mkfile(fs, 1, "f");
	char buf[4096];
	ssize_t r;

	(void)state;
	write_pages(fs, f, 8, 3);
	bk.mb_fail_write = 1;
	fill(buf, 8, 3);
	r = shmemfs_write(fs, f, buf, 4096, 8 * 4096);
	assert_int_equal(r, -ENOSPC); /* nothing could be evicted */
	check(fs);
	verify_pages(fs, f, 8, 3);
	bk.mb_fail_write = 0;
	write_pages(fs, f, 32, 3);
	verify_pages(fs, f, 32, 3);
	check(fs);
	shmemfs_destroy(fs);
}

/* Write pages of @seed from @from on until -ENOSPC; returns how many. */
static uint64_t
write_until_enospc(struct shmemfs *fs, uint64_t f, uint64_t from,
		   uint64_t max, unsigned seed)
{
	char buf[4096];
	uint64_t p;

	for (p = from; p < from + max; p++) {
		ssize_t r;

		fill(buf, p, seed);
		r = shmemfs_write(fs, f, buf, 4096, p * 4096);
		if (r < 0) {
			assert_int_equal(r, -ENOSPC);
			break;
		}
		assert_int_equal(r, 4096);
	}
	return p - from;
}

/*
 * The disk under the swap file fills up: a write into a slot never
 * written fails with ENOSPC.  The page stays resident, the writer gets
 * ENOSPC, and once the data is gone the slots already on disk take new
 * pages again (issue 16: the allocator kept retrying the one unbacked
 * slot, leaving 1 MiB of a 64 MiB mount usable).
 */
static void
test_disk_full_reuses_backed_slots(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 256);
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f"), g, n;

	(void)state;
	write_pages(fs, f, 100, 8);     /* ~92 slots written: 0..91 */
	bk.mb_disk_full = 1;
	n = write_until_enospc(fs, f, 100, 64, 8);
	assert_true(n < 64);
	check(fs);
	shmemfs_get_stats(fs, &st);
	assert_int_equal(st.resident_bytes + st.swapped_bytes,
			 st.used_bytes);
	verify_pages(fs, f, 100 + n, 8);
	assert_int_equal(shmemfs_unlink(fs, 1, "f"), 0);
	shmemfs_forget(fs, f, 1);
	shmemfs_get_stats(fs, &st);
	assert_int_equal(st.swap_used_bytes, 0);
	/* 80 pages need 72 slots: all of them are on disk already */
	g = mkfile(fs, 1, "g");
	write_pages(fs, g, 80, 9);
	verify_pages(fs, g, 80, 9);
	check(fs);
	/* space returns: everything works again */
	bk.mb_disk_full = 0;
	write_pages(fs, g, 200, 10);
	verify_pages(fs, g, 200, 10);
	check(fs);
	shmemfs_destroy(fs);
}

/*
 * Swapped data stays readable when the disk fills under it: a swap-in
 * frees a slot that is on disk, and the eviction that makes room for
 * the next one goes there.  Reading more swapped pages than the swap-in
 * reserve must not fail.
 */
static void
test_swapin_while_disk_full(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 512);
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f"), g = mkfile(fs, 1, "g"), n;

	(void)state;
	write_pages(fs, f, 200, 11);
	bk.mb_disk_full = 1;
	verify_pages(fs, f, 200, 11);
	shmemfs_get_stats(fs, &st);
	assert_true(st.swapins >= 150);
	/* within the budget again, give or take the reserve */
	assert_true(st.resident_bytes <= (8 + 64) * 4096);
	check(fs);
	verify_pages(fs, f, 200, 11);
	/* new data: ENOSPC, and the old data still reads back */
	n = write_until_enospc(fs, g, 0, 64, 12);
	assert_true(n < 64);
	verify_pages(fs, f, 200, 11);
	verify_pages(fs, g, n, 12);
	check(fs);
	bk.mb_disk_full = 0;
	write_pages(fs, g, 64, 12);
	verify_pages(fs, g, 64, 12);
	verify_pages(fs, f, 200, 11);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_read_errors_eio(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 64);
	uint64_t f = mkfile(fs, 1, "f"), g = mkfile(fs, 1, "g");
	char buf[4096];

	(void)state;
	write_pages(fs, f, 24, 4);
	write_pages(fs, g, 24, 5);
	/* page 0 of f is surely swapped by now */
	bk.mb_fail_read = 1;
	assert_int_equal(shmemfs_read(fs, f, buf, 4096, 0), -EIO);
	bk.mb_fail_read = 0;
	bk.mb_corrupt = 1;
	assert_int_equal(shmemfs_read(fs, f, buf, 4096, 0), -EIO);
	bk.mb_corrupt = 0;
	check(fs);
	/* the error was the reader's only: everything still reads back */
	verify_pages(fs, f, 24, 4);
	verify_pages(fs, g, 24, 5);
	shmemfs_destroy(fs);
}

/* The swap slot holding page @index of @ino; fails unless it is in swap. */
static uint64_t
slot_of(struct shmemfs *fs, uint64_t ino, uint64_t index)
{
	void *e;

	sf_mutex_lock(&fs->sf_lock);
	e = pageidx_lookup(&node_get(fs, ino)->i_pages, index);
	sf_mutex_unlock(&fs->sf_lock);
	assert_true(sf_is_swap(e));
	return sf_swap_slot(e);
}

/*
 * A read request with one unreadable page anywhere in it is -EIO as a
 * whole, never the bytes before that page: FUSE would take the short
 * count for the end of the file.  Every position of the bad page within
 * a 16-page request, starting on and off a page boundary.
 */
static void
test_partial_read_is_eio_at_every_offset(void **state)
{
	enum { REQ = 16 };
	struct shmemfs *fs = mkfs_swap(8, 256);
	uint64_t f = mkfile(fs, 1, "f"), bad = 40;
	static char buf[(REQ + 1) * 4096];
	unsigned k, inpage;

	(void)state;
	write_pages(fs, f, 64, 6);
	for (inpage = 0; inpage <= 100; inpage += 100) {
		for (k = 0; k < REQ; k++) {
			int64_t off = (int64_t)((bad - k) * 4096 + inpage);

			/* the pages before it were swapped in by the last
			 * round; this round starts them in swap again */
			write_pages(fs, f, 64, 6);
			bk.mb_bad_off = slot_of(fs, f, bad) * 4096;
			bk.mb_bad = 1;
			assert_int_equal(shmemfs_read(fs, f, buf, REQ * 4096,
						      off), -EIO);
			bk.mb_bad = 0;
		}
	}
	/* the data was never harmed: the error was the reader's only */
	verify_pages(fs, f, 64, 6);
	check(fs);
	shmemfs_destroy(fs);
}

/*
 * shmemfs_read_pin(): the pages it lends stay as they were until the
 * unpin, while another thread writes far past the memory budget (the
 * reclaimer must pass them over) and truncates the file (it must wait
 * for the unpin); holes read as zeros, the end of file is 0 bytes, and
 * too few iovecs is -EAGAIN with nothing held.
 */
struct pin_racer {
	struct shmemfs *pr_fs;
	uint64_t pr_other, pr_pinned;
	atomic_int pr_stage; /* 1: other file written; 2: truncated */
	int pr_err;
};

static void *
pin_racer_main(void *arg)
{
	struct pin_racer *pr = arg;
	struct shmemfs_setattr sa = {.ss_size = 0};

	write_pages(pr->pr_fs, pr->pr_other, 64, 9);
	atomic_store(&pr->pr_stage, 1);
	pr->pr_err = shmemfs_setattr(pr->pr_fs, pr->pr_pinned, SHMEMFS_SET_SIZE,
				     &sa, NULL);
	atomic_store(&pr->pr_stage, 2);
	return NULL;
}

static void
gather_verify(const struct iovec *iov, unsigned n, uint64_t npages,
	      unsigned seed, uint64_t hole)
{
	char want[4096], zero[4096] = {0}, *got = malloc(npages * 4096);
	size_t at = 0;
	unsigned i;
	uint64_t p;

	assert_non_null(got);
	for (i = 0; i < n; at += iov[i].iov_len, i++)
		memcpy(got + at, iov[i].iov_base, iov[i].iov_len);
	assert_int_equal(at, npages * 4096);
	for (p = 0; p < npages; p++) {
		fill(want, p, seed);
		assert_memory_equal(got + p * 4096, p == hole ? zero : want,
				    4096);
	}
	free(got);
}

static void
test_read_pin_holds_pages(void **state)
{
	struct shmemfs *fs = mkfs_swap(16, 256);
	struct pin_racer pr = {.pr_fs = fs};
	struct iovec iov[8 + 2 + 32];
	struct shmemfs_pinned *pin;
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f");
	char buf[16];
	unsigned n;
	pthread_t t;

	(void)state;
	write_pages(fs, f, 8, 3);
	assert_int_equal(shmemfs_fallocate(fs, f,
					   SHMEMFS_FALLOC_PUNCH_HOLE |
					       SHMEMFS_FALLOC_KEEP_SIZE,
					   5 * 4096, 4096),
			 0);
	/* too few iovecs: nothing pinned, nothing held */
	assert_int_equal(shmemfs_read_pin(fs, f, 8 * 4096, 0, iov, 8, &n, &pin),
			 -EAGAIN);
	assert_null(pin);
	/* past the end: 0 bytes */
	assert_int_equal(
	    shmemfs_read_pin(fs, f, 4096, 8 * 4096, iov, 42, &n, &pin), 0);
	assert_int_equal(n, 0);
	shmemfs_read_unpin(pin);

	assert_int_equal(
	    shmemfs_read_pin(fs, f, 8 * 4096 + 100, 0, iov, 42, &n, &pin),
	    8 * 4096);
	gather_verify(iov, n, 8, 3, 5);
	pr.pr_other = mkfile(fs, 1, "g");
	pr.pr_pinned = f;
	assert_int_equal(pthread_create(&t, NULL, pin_racer_main, &pr), 0);
	while (atomic_load(&pr.pr_stage) < 1)
		usleep(1000);
	usleep(50000);
	/* the truncate waits for the unpin; the 64 pages went to swap */
	assert_int_equal(atomic_load(&pr.pr_stage), 1);
	shmemfs_get_stats(fs, &st);
	assert_true(st.swapouts >= 64 + 8 - 16);
	gather_verify(iov, n, 8, 3, 5);
	shmemfs_read_unpin(pin);
	pthread_join(t, NULL);
	assert_int_equal(pr.pr_err, 0);
	assert_int_equal(shmemfs_read(fs, f, buf, sizeof(buf), 0), 0);
	verify_pages(fs, pr.pr_other, 64, 9);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_swapoff_swapon(void **state)
{
	struct shmemfs *fs = mkfs_swap(16, 256);
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f");

	(void)state;
	write_pages(fs, f, 40, 6);
	/* 40 pages do not fit in 16: refused, nothing moved */
	shmemfs_get_stats(fs, &st);
	assert_int_equal(shmemfs_swapoff(fs), -ENOMEM);
	{
		struct shmemfs_stats st2;

		shmemfs_get_stats(fs, &st2);
		assert_int_equal(st2.swap_used_bytes, st.swap_used_bytes);
	}
	verify_pages(fs, f, 40, 6);
	/* shrink to 12 pages, then everything fits */
	{
		struct shmemfs_setattr sa = {.ss_size = 12 * 4096};

		assert_int_equal(shmemfs_setattr(fs, f, SHMEMFS_SET_SIZE, &sa,
						 NULL), 0);
	}
	assert_int_equal(shmemfs_swapoff(fs), 0);
	shmemfs_get_stats(fs, &st);
	assert_int_equal(st.swap_used_bytes, 0);
	assert_int_equal(st.resident_bytes, 12 * 4096);
	verify_pages(fs, f, 12, 6);
	check(fs);
	assert_int_equal(shmemfs_swapon(fs), 0);
	write_pages(fs, f, 40, 7);
	verify_pages(fs, f, 40, 7);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_fallocate_costs_no_memory(void **state)
{
	struct shmemfs *fs = mkfs_swap(8, 16);
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, "f");

	(void)state;
	assert_int_equal(shmemfs_fallocate(fs, f, 0, 0, 1000 * 4096), 0);
	shmemfs_get_stats(fs, &st);
	assert_int_equal(st.resident_bytes, 0);
	assert_int_equal(st.used_bytes, 1000 * 4096);
	check(fs);
	shmemfs_destroy(fs);
}

static void
test_file_backend_sealed(void **state)
{
	char path[] = "/tmp/shmemfs-swap-test-XXXXXX";
	static char secret[4096];
	struct shmemfs_opts o;
	struct shmemfs *fs;
	uint64_t f;
	char *disk;
	int fd, p;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	shmemfs_opts_init(&o);
	assert_int_equal(shmemfs_opts_parse(&o, "size=16m,mem=32k,swapsize=8m",
					    NULL, 0, NULL, 0), 0);
	o.so_swap_path = strdup(path);
	assert_int_equal(shmemfs_new(&fs, &o), 0);
	shmemfs_opts_free(&o);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(st.st_size, 8 << 20);
	}
	f = mkfile(fs, 1, "f");
	for (p = 0; p < 4096; p += 16)
		memcpy(secret + p, "TOPSECRETpattern", 16);
	for (p = 0; p < 64; p++)
		assert_int_equal(shmemfs_write(fs, f, secret, 4096, p * 4096),
				 4096);
	disk = malloc(8 << 20);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, disk, 8 << 20), 8 << 20);
	close(fd);
	assert_null(memmem(disk, 8 << 20, "TOPSECRET", 9));
	free(disk);
	verify_pages(fs, f, 0, 0);
	check(fs);
	shmemfs_destroy(fs);
	/* we created it, so it is gone */
	assert_int_equal(access(path, F_OK), -1);
}

/* A fresh directory for swap files, and a path in it. */
static char swapdir[64];

static const char *
swap_path(const char *name)
{
	static char path[128];

	if (!swapdir[0]) {
		strcpy(swapdir, "/tmp/shmemfs-swapfile-XXXXXX");
		assert_non_null(mkdtemp(swapdir));
	}
	snprintf(path, sizeof(path), "%s/%s", swapdir, name);
	return path;
}

/* Mount with swap file @path: shmemfs_new()'s return, *@fsp on success. */
static int
new_with_swap(struct shmemfs **fsp, const char *path)
{
	struct shmemfs_opts o;
	int ret;

	shmemfs_opts_init(&o);
	assert_int_equal(shmemfs_opts_parse(&o, "size=16m,mem=32k,swapsize=1m",
					    NULL, 0, NULL, 0), 0);
	o.so_swap_path = strdup(path);
	ret = shmemfs_new(fsp, &o);
	shmemfs_opts_free(&o);
	return ret;
}

static void
put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static size_t
get_file(const char *path, void *data, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, data, len);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* Swap some pages out and back through @fs; returns the file. */
static uint64_t
use_swap(struct shmemfs *fs, const char *name)
{
	struct shmemfs_stats st;
	uint64_t f = mkfile(fs, 1, name);

	write_pages(fs, f, 40, 13);
	shmemfs_get_stats(fs, &st);
	assert_true(st.swapouts > 0);
	verify_pages(fs, f, 40, 13);
	check(fs);
	return f;
}

/*
 * Issue 16.3 and 16.4: a swap file in use by another mount, one holding
 * anything but our header, or one with other names is refused and left
 * as it was.
 */
static void
test_swap_file_refusals(void **state)
{
	struct shmemfs *a, *b;
	char buf[64], p2[160];
	const char *p;
	uint64_t f, g;

	(void)state;
	/* not ours: refused, untouched */
	p = swap_path("foreign");
	put_file(p, "keep me", 7);
	assert_int_equal(new_with_swap(&a, p), -EINVAL);
	assert_int_equal(get_file(p, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "keep me", 7);
	unlink(p);
	/* two names */
	p = swap_path("linked");
	put_file(p, "", 0);
	snprintf(p2, sizeof(p2), "%s2", p);
	assert_int_equal(link(p, p2), 0);
	assert_int_equal(new_with_swap(&a, p), -EMLINK);
	unlink(p2);
	unlink(p);
	/* one file, two mounts in one process */
	p = swap_path("shared");
	assert_int_equal(new_with_swap(&a, p), 0);
	f = use_swap(a, "f");
	assert_int_equal(new_with_swap(&b, p), -EBUSY);
	assert_int_equal(access(p, F_OK), 0); /* b removed nothing */
	g = use_swap(a, "g");
	/* still refused while swap is off: the lock is the mount's */
	assert_int_equal(shmemfs_unlink(a, 1, "f"), 0);
	shmemfs_forget(a, f, 1);
	assert_int_equal(shmemfs_unlink(a, 1, "g"), 0);
	shmemfs_forget(a, g, 1);
	assert_int_equal(shmemfs_swapoff(a), 0);
	assert_int_equal(new_with_swap(&b, p), -EBUSY);
	assert_int_equal(shmemfs_swapon(a), 0);
	use_swap(a, "h");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), -1);
}

/*
 * Issue 16: who owns a swap file.  One shmemfs created goes at a clean
 * unmount, also when a later mount reuses it after a crash; one the user
 * made (empty) is kept, and taken again.
 */
static void
test_swap_file_ownership(void **state)
{
	static char hdr[4096];
	struct shmemfs *a;
	const char *p;

	(void)state;
	p = swap_path("mine");
	put_file(p, "", 0);
	assert_int_equal(new_with_swap(&a, p), 0);
	use_swap(a, "f");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(new_with_swap(&a, p), 0);
	use_swap(a, "f");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), 0);
	unlink(p);
	/* a hole throughout (truncate -s) holds no data: also the user's */
	put_file(p, "", 0);
	assert_int_equal(truncate(p, 1 << 20), 0);
	assert_int_equal(new_with_swap(&a, p), 0);
	use_swap(a, "f");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), 0);
	unlink(p);
	/* a leftover of a mount that died: its header says we made it */
	p = swap_path("left");
	assert_int_equal(new_with_swap(&a, p), 0);
	assert_int_equal(get_file(p, hdr, sizeof(hdr)), sizeof(hdr));
	use_swap(a, "f");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), -1);
	put_file(p, hdr, sizeof(hdr));
	assert_int_equal(new_with_swap(&a, p), 0);
	use_swap(a, "f");
	shmemfs_destroy(a);
	assert_int_equal(access(p, F_OK), -1);
}

/* What shmemfs_mount() says when it refuses: one line naming the file. */
static void
test_swap_file_messages(void **state)
{
	struct shmemfs_opts o;
	struct shmemfs *a, *b;
	char err[512], want[512], p2[160];
	const char *p;

	(void)state;
	shmemfs_opts_init(&o);
	assert_int_equal(shmemfs_opts_parse(&o, "size=16m,mem=32k,swapsize=1m",
					    NULL, 0, NULL, 0), 0);
	p = swap_path("msg");
	o.so_swap_path = strdup(p);
	assert_int_equal(shmemfs_mount(&a, &o, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(shmemfs_mount(&b, &o, err, sizeof(err)), -EBUSY);
	snprintf(want, sizeof(want), "swap file %s is in use by another mount",
		 p);
	assert_string_equal(err, want);
	shmemfs_destroy(a);

	put_file(p, "#!/bin/sh\n", 10);
	assert_int_equal(shmemfs_mount(&a, &o, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "swap file %s holds data that is not a "
		 "shmemfs swap file; refusing to overwrite it", p);
	assert_string_equal(err, want);

	put_file(p, "", 0);
	snprintf(p2, sizeof(p2), "%s2", p);
	assert_int_equal(link(p, p2), 0);
	assert_int_equal(shmemfs_mount(&a, &o, err, sizeof(err)), -EMLINK);
	snprintf(want, sizeof(want), "swap file %s has 2 hard links", p);
	assert_string_equal(err, want);
	unlink(p2);

	if (geteuid() == 0) {
		assert_int_equal(chown(p, 1000, 1000), 0);
		assert_int_equal(shmemfs_mount(&a, &o, err, sizeof(err)),
				 -EPERM);
		snprintf(want, sizeof(want), "swap file %s belongs to uid 1000, "
			 "not to us (uid 0)", p);
		assert_string_equal(err, want);
	}
	unlink(p);

	/* the option check runs first */
	o.so_noswap = 1;
	assert_int_equal(shmemfs_mount(&a, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "noswap"));
	assert_int_equal(access(p, F_OK), -1);
	shmemfs_opts_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_budget_and_swapin),
	    cmocka_unit_test(test_truncate_punch_unlink_swapped),
	    cmocka_unit_test(test_swap_full_enospc),
	    cmocka_unit_test(test_write_errors_lose_nothing),
	    cmocka_unit_test(test_disk_full_reuses_backed_slots),
	    cmocka_unit_test(test_swapin_while_disk_full),
	    cmocka_unit_test(test_read_errors_eio),
	    cmocka_unit_test(test_partial_read_is_eio_at_every_offset),
	    cmocka_unit_test(test_read_pin_holds_pages),
	    cmocka_unit_test(test_swapoff_swapon),
	    cmocka_unit_test(test_fallocate_costs_no_memory),
	    cmocka_unit_test(test_file_backend_sealed),
	    cmocka_unit_test(test_swap_file_refusals),
	    cmocka_unit_test(test_swap_file_ownership),
	    cmocka_unit_test(test_swap_file_messages),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	free(bk.mb_data);
	free(bk.mb_backed);
	if (swapdir[0])
		rmdir(swapdir);
	return ret;
}
