// SPDX-License-Identifier: MIT
/*
 * memcpy.c - the machine's memory copy bandwidth, the physical ceiling for
 * any in-memory filesystem's data path (every write and read is at least
 * one copy).
 *
 *   memcpy [MIB] [PASSES] [BUFMIB]
 *
 * Copies MIB MiB (default 1024) in 1 MiB chunks from one pre-faulted
 * BUFMIB-MiB buffer (default 128, far larger than any CPU cache) to
 * another, wrapping around, PASSES times (default 3), and prints the best
 * pass as
 *
 *   memcpy GB/S
 *
 * (GB = 1e9 bytes).  The buffers are smaller than MIB because faulting in
 * 2 GiB of fresh memory costs far more than the copy on some VMs, and only
 * the copy is timed anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_clock.h"

#define CHUNK (1024 * 1024)

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	int passes = argc > 2 ? atoi(argv[2]) : 3;
	size_t bufmib = argc > 3 ? strtoul(argv[3], NULL, 0) : 128;
	size_t total = mib * CHUNK, len, off, done;
	double best = 0, t0, t;
	char *src, *dst;
	int p;

	if (!mib || passes < 1 || !bufmib) {
		fprintf(stderr, "usage: memcpy [MIB] [PASSES] [BUFMIB]\n");
		return 2;
	}
	if (bufmib > mib)
		bufmib = mib;
	len = bufmib * CHUNK;
	src = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED) {
		perror("memcpy: mmap");
		return 1;
	}
	memset(src, 0x5a, len);
	memset(dst, 0xa5, len);
	for (p = 0; p < passes; p++) {
		t0 = now();
		for (done = 0, off = 0; done < total; done += CHUNK) {
			memcpy(dst + off, src + off, CHUNK);
			off = off + CHUNK < len ? off + CHUNK : 0;
		}
		t = now() - t0;
		/* Keep the copy from being optimised away. */
		if (dst[len - 1] != 0x5a)
			return 1;
		if ((double)total / t > best)
			best = (double)total / t;
	}
	printf("memcpy %.2f\n", best / 1e9);
	return 0;
}
