// SPDX-License-Identifier: MIT
/*
 * memwarm.c - give both sides of a comparison the same start: make MIB
 * MiB of the guest's free memory host-backed again.
 *
 *   memwarm MIB
 *
 * On a VM with free page reporting (virtio-balloon, e.g. Firecracker),
 * 2 MiB blocks the guest has had free for a couple of seconds are handed
 * back to the host, and the first touch of such a block costs the host's
 * faults: measured on the development VM, faulting in 1 GiB of 2 MiB
 * pages ran at 8 GB/s right after the same memory was freed and at
 * 0.4-1 GB/s after 4 s of rest.  Whichever side of a benchmark runs on
 * memory the other just freed wins by up to 10x.  This maps MIB MiB,
 * faults them in as transparent huge pages (MADV_POPULATE_WRITE) and
 * frees them, so the next allocations of either side, kernel tmpfs or
 * shmemfs, find recently freed, host-backed memory.  Prints the rate.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_clock.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int main(int argc, char **argv)
{
	size_t len;
	double t0;
	char *p;

	if (argc != 2 || atol(argv[1]) <= 0) {
		fprintf(stderr, "usage: memwarm MIB\n");
		return 2;
	}
	len = (size_t)atol(argv[1]) << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("memwarm: mmap");
		return 1;
	}
	madvise(p, len, MADV_HUGEPAGE);
	t0 = now();
	if (madvise(p, len, MADV_POPULATE_WRITE))
		memset(p, 1, len); /* Linux < 5.14 */
	printf("warm %.1f\n", (double)len / 1e6 / (now() - t0));
	munmap(p, len);
	return 0;
}
