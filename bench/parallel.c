// SPDX-License-Identifier: MIT
/*
 * parallel.c - THREADS threads, each on a file of its own: do reads and
 * writes of different files go on at the same time?
 *
 *   parallel lib THREADS MIB [OPTS]  libshmemfs in process (OPTS: mount
 *                                    options)
 *   parallel sys DIR THREADS MIB     pwrite/pread in DIR (kernel tmpfs, or
 *                                    a shmemfs mount)
 *
 * Each thread has a MIB-MiB file and goes through it in 128 KiB requests
 * (FUSE's largest by default).  Phases, one output line "PHASE MB/s"
 * each, the rate of all threads together from the moment they start to
 * the moment the last one is done:
 *   write      into the new, empty files
 *   overwrite  the same bytes again (no allocation: the copies and the
 *              locks are all there is)
 *   read       the files back; under sys, after
 *              posix_fadvise(DONTNEED), so a FUSE mount's page cache is
 *              empty and every request reaches the daemon (on tmpfs the
 *              page cache is the data and stays)
 *
 * Compiled by bench/parallel.sh as
 *   gcc -O2 -Iinclude -Isrc/core bench/parallel.c src/core/(*).c -lpthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmemfs.h"

#ifndef REQ
#define REQ (128 * 1024) // -DREQ=4096: small requests
#endif
#define MAX_THREADS 64

enum { PH_WRITE, PH_OVERWRITE, PH_READ, PH_NR };
static const char *const phase_names[PH_NR] = {"write", "overwrite", "read"};

static struct shmemfs *fs; /* lib */
static const char *dir;	   /* sys */
static unsigned nthreads;
static uint64_t file_bytes;
static pthread_barrier_t start_bar, end_bar;

struct worker {
	unsigned w_id;
	uint64_t w_ino; /* lib */
	int w_fd;	/* sys */
	char *w_buf;
	int w_err;
};

static void
fail(const char *what, int err)
{
	fprintf(stderr, "parallel: %s: %s\n", what, strerror(err));
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
one_pass(struct worker *w, int phase)
{
	uint64_t off;

	if (phase == PH_READ && !fs)
		posix_fadvise(w->w_fd, 0, 0, POSIX_FADV_DONTNEED);
	for (off = 0; off < file_bytes; off += REQ) {
		ssize_t n;

		if (fs)
			n = phase == PH_READ
				? shmemfs_read(fs, w->w_ino, w->w_buf, REQ,
					       (int64_t)off)
				: shmemfs_write(fs, w->w_ino, w->w_buf, REQ,
						(int64_t)off);
		else
			n = phase == PH_READ
				? pread(w->w_fd, w->w_buf, REQ, (off_t)off)
				: pwrite(w->w_fd, w->w_buf, REQ, (off_t)off);
		if (n < 0)
			return fs ? (int)-n : errno;
		if (n != REQ)
			return EIO;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int phase;

	for (phase = 0; phase < PH_NR; phase++) {
		pthread_barrier_wait(&start_bar);
		if (!w->w_err)
			w->w_err = one_pass(w, phase);
		pthread_barrier_wait(&end_bar);
	}
	return NULL;
}

static void
setup(struct worker *w)
{
	char name[64];

	w->w_buf = aligned_alloc(4096, REQ);
	if (!w->w_buf)
		fail("malloc", ENOMEM);
	memset(w->w_buf, 0x5a + w->w_id, REQ);
	snprintf(name, sizeof(name), "par%u", w->w_id);
	if (fs) {
		struct shmemfs_ctx ctx = {0};
		struct shmemfs_attr a;
		int ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, name,
					S_IFREG | 0644, 0, &a);

		if (ret)
			fail("shmemfs_mknod", -ret);
		w->w_ino = a.sa_st.st_ino;
		shmemfs_open(fs, w->w_ino);
	} else {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		w->w_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (w->w_fd < 0)
			fail(path, errno);
	}
}

static void
teardown(struct worker *w)
{
	char name[64], path[4096];

	snprintf(name, sizeof(name), "par%u", w->w_id);
	if (fs) {
		shmemfs_release(fs, w->w_ino);
		shmemfs_unlink(fs, SHMEMFS_ROOT_INO, name);
		shmemfs_forget(fs, w->w_ino, 1);
	} else {
		close(w->w_fd);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		unlink(path);
	}
	free(w->w_buf);
}

int
main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	const char *opts = "";
	unsigned i;
	int phase;

	if (argc >= 4 && !strcmp(argv[1], "lib")) {
		nthreads = (unsigned)atoi(argv[2]);
		file_bytes = (uint64_t)atol(argv[3]) << 20;
		if (argc > 4)
			opts = argv[4];
	} else if (argc >= 5 && !strcmp(argv[1], "sys")) {
		dir = argv[2];
		nthreads = (unsigned)atoi(argv[3]);
		file_bytes = (uint64_t)atol(argv[4]) << 20;
	} else {
		fprintf(stderr, "usage: parallel lib THREADS MIB [OPTS]\n"
				"       parallel sys DIR THREADS MIB\n");
		return 2;
	}
	if (!nthreads || nthreads > MAX_THREADS || file_bytes < REQ)
		fail("arguments", EINVAL);
	if (!dir) {
		struct shmemfs_opts o;
		char msg[256];
		int ret;

		shmemfs_opts_init(&o);
		ret = shmemfs_opts_parse(&o, opts, NULL, 0, msg, sizeof(msg));
		if (!ret)
			ret = shmemfs_new(&fs, &o);
		shmemfs_opts_free(&o);
		if (ret)
			fail("mount", -ret);
	}
	pthread_barrier_init(&start_bar, NULL, nthreads + 1);
	pthread_barrier_init(&end_bar, NULL, nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].w_id = i;
		setup(&w[i]);
		if (pthread_create(&tid[i], NULL, worker_main, &w[i]))
			fail("pthread_create", EAGAIN);
	}
	for (phase = 0; phase < PH_NR; phase++) {
		double t0, t;

		t0 = now();
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&end_bar);
		t = now() - t0;
		for (i = 0; i < nthreads; i++)
			if (w[i].w_err)
				fail(phase_names[phase], w[i].w_err);
		printf("%s %.0f\n", phase_names[phase],
		       (double)file_bytes * nthreads / t / 1e6);
		fflush(stdout);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		teardown(&w[i]);
	}
	shmemfs_destroy(fs);
	return 0;
}
