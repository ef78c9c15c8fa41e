// SPDX-License-Identifier: MIT
/*
 * shmbench.c - a memory-bound workload on shared buffers in one SysV
 * segment, the shape of a database's buffer pool: the kernel's SysV shm
 * when run plainly, a shmemfs segment when run under shmemfs-shm.
 *
 *   shmbench MIB SECONDS NPROC
 *
 * Creates an IPC_PRIVATE segment of MIB MiB, attaches it and touches
 * every page (timed: "attach+fault"), forks NPROC workers that inherit
 * the attach, and for SECONDS each worker does rounds of
 *   - 1M random 8-byte read-modify-writes anywhere in the segment
 *     (buffer-pool lookups and updates), and
 *   - one sequential checksum over 1/16 of the segment (a scan),
 * then prints
 *
 *   fault_ms MS
 *   rmw_mops M           (random read-modify-writes, all workers, 1e6/s)
 *   scan_gbs G           (sequential scan, all workers, GB/s)
 *
 * The segment is removed at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* One worker: its counts go to the pipe @fd as two doubles. */
static void
worker(volatile uint64_t *seg, size_t words, double secs, int id, int fd)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1), sum = 0;
	double t0 = now(), t, rmw_t = 0, scan_t = 0, rmw = 0, scanned = 0;
	size_t chunk = words / 16, part = (size_t)id % 16, i, n;

	do {
		t = now();
		for (n = 0; n < 1000000; n++) {
			size_t w = (size_t)(xorshift(&s) % words);

			seg[w] += 1;
		}
		rmw += 1e6;
		rmw_t += now() - t;
		t = now();
		for (i = part * chunk; i < (part + 1) * chunk; i++)
			sum += seg[i];
		scanned += (double)chunk * 8;
		scan_t += now() - t;
		part = (part + 1) % 16;
	} while (now() - t0 < secs);
	{
		double r[3] = {rmw / rmw_t, scanned / scan_t, (double)sum};

		if (write(fd, r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	double secs = argc > 2 ? atof(argv[2]) : 5;
	int nproc = argc > 3 ? atoi(argv[3]) : 1, i, pfd[2];
	size_t size = mib << 20, words = size / 8;
	double t, rmw = 0, scan = 0;
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	char *p;

	if (id < 0 || pipe(pfd) < 0) {
		perror("shmget");
		return 1;
	}
	t = now();
	p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		perror("shmat");
		shmctl(id, IPC_RMID, NULL);
		return 1;
	}
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	printf("fault_ms %.1f\n", (now() - t) * 1e3);
	fflush(stdout);
	for (i = 0; i < nproc; i++) {
		if (fork() == 0) {
			worker((volatile uint64_t *)(void *)p, words, secs, i,
			       pfd[1]);
			_exit(0);
		}
	}
	for (i = 0; i < nproc; i++) {
		double r[3];

		if (read(pfd[0], r, sizeof(r)) != sizeof(r))
			return 1;
		rmw += r[0];
		scan += r[1];
	}
	while (wait(NULL) > 0)
		;
	printf("rmw_mops %.2f\nscan_gbs %.2f\n", rmw / 1e6, scan / 1e9);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return 0;
}
