/* SPDX-License-Identifier: MIT */
/*
 * fuzz_image.c - libFuzzer target: the image reader (src/core/snapshot.c).
 *
 * The first input byte picks the mode:
 *   even  the rest is an image file, as it would lie on disk: this
 *         fuzzes the framing (header, block headers, checksums, the end)
 *   odd   the rest is the record stream of an unsealed image; the
 *         harness frames it into valid checksummed blocks (the format of
 *         snapshot.c, written out again here), so mutations reach the
 *         record parser and the restore behind it instead of stopping at
 *         the checksum.  Byte 1 of the input picks the block size the
 *         stream is cut into, so records spanning blocks are covered.
 *
 * The image is restored with small fixed limits (size=1m, nr_inodes=64,
 * no swap) whatever it asks for.  A restore must either fail with a
 * one-line message and leave nothing behind (ASan checks leaks), or
 * give a mount that passes shmemfs_check() and saves again to an image
 * that restores to the same statistics.
 * tests/fuzz/gen-image-corpus.py writes seeds in the odd mode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "shmemfs.h"

#define FZ_BLK_HDR   24
#define FZ_BLOCK_MAX (256u * 1024)

static void
le_put(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put(int fd, const void *p, size_t n)
{
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
}

/* Frame @len bytes of records into blocks of at most @bs bytes. */
static void
frame(int fd, const unsigned char *rec, size_t len, size_t bs)
{
	static unsigned char blk[FZ_BLK_HDR + FZ_BLOCK_MAX];
	unsigned char h[64], id[16];
	XXH128_canonical_t c;
	uint64_t seq = 0;
	size_t n;

	memset(id, 0x5a, sizeof(id));
	memset(h, 0, sizeof(h));
	memcpy(h, "SHMFSIMG", 8);
	le_put(h + 8, 1, 4);
	memcpy(h + 16, id, 16);
	le_put(h + 32, FZ_BLOCK_MAX, 4);
	le_put(h + 56, XXH64(h, 56, 0), 8);
	put(fd, h, sizeof(h));
	do {
		n = len < bs ? len : bs;
		memcpy(blk, "SBLK", 4);
		le_put(blk + 4, n, 4);
		le_put(blk + 8, seq++, 8);
		le_put(blk + 16, n == len ? 1 : 0, 4);
		le_put(blk + 20, 0, 4);
		memcpy(blk + FZ_BLK_HDR, rec, n);
		XXH128_canonicalFromHash(
		    &c, XXH3_128bits_withSeed(blk, FZ_BLK_HDR + n,
					      XXH64(id, 16, 0)));
		put(fd, blk, FZ_BLK_HDR + n);
		put(fd, c.digest, 16);
		rec += n;
		len -= n;
	} while (len);
}

static int
restore(struct shmemfs **fsp, int fd, char *err, size_t err_len)
{
	struct shmemfs_opts o;
	char perr[256];
	int ret;

	shmemfs_opts_init(&o);
	ret = shmemfs_image_opts(fd, NULL, &o, err, err_len);
	if (ret == 0) {
		/* Whatever the image asks for: small, and no swap file. */
		shmemfs_opts_free(&o);
		shmemfs_opts_init(&o);
		if (shmemfs_opts_parse(&o, "size=1m,nr_inodes=64,mode=755",
				       NULL, 0, perr, sizeof(perr)))
			abort();
		ret = shmemfs_restore(fsp, &o, fd, NULL, err, err_len);
	}
	shmemfs_opts_free(&o);
	return ret;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shmemfs_stats s1, s2;
	struct shmemfs *fs = NULL, *fs2 = NULL;
	char err[512], msg[256];
	int fd, fd2, ret;

	if (size < 2)
		return 0;
	fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (data[0] & 1)
		frame(fd, data + 2, size - 2, 1 + (size_t)data[1] * 64);
	else
		put(fd, data + 1, size - 1);

	err[0] = '\0';
	ret = restore(&fs, fd, err, sizeof(err));
	close(fd);
	if (ret) {
		if (ret > 0 || fs)
			abort();
		/* One line that says something. */
		if (!err[0] || strchr(err, '\n')) {
			fprintf(stderr, "fuzz_image: bad message '%s'\n", err);
			abort();
		}
		return 0;
	}
	if (shmemfs_check(fs, msg, sizeof(msg))) {
		fprintf(stderr, "fuzz_image: restored mount: %s\n", msg);
		abort();
	}
	/* What was restored saves and restores to the same thing. */
	fd2 = memfd_create("fuzz-image2", MFD_CLOEXEC);
	if (shmemfs_save(fs, fd2, NULL, err, sizeof(err))) {
		fprintf(stderr, "fuzz_image: save: %s\n", err);
		abort();
	}
	if (restore(&fs2, fd2, err, sizeof(err))) {
		fprintf(stderr, "fuzz_image: second restore: %s\n", err);
		abort();
	}
	shmemfs_get_stats(fs, &s1);
	shmemfs_get_stats(fs2, &s2);
	if (s1.used_bytes != s2.used_bytes ||
	    s1.inodes_used != s2.inodes_used) {
		fprintf(stderr, "fuzz_image: second restore differs\n");
		abort();
	}
	close(fd2);
	shmemfs_destroy(fs2);
	shmemfs_destroy(fs);
	return 0;
}
