// SPDX-License-Identifier: MIT
/*
 * parallel.c - THREADS threads, each on a file (or in a directory) of
 * its own: do reads and writes of different files, and metadata calls
 * in different directories, go on at the same time?
 *
 *   parallel lib THREADS MIB [OPTS]     libshmemfs in process (OPTS: mount
 *                                       options)
 *   parallel sys DIR THREADS MIB        pwrite/pread in DIR (kernel tmpfs,
 *                                       or a shmemfs mount)
 *   parallel meta THREADS COUNT [OPTS]  metadata, libshmemfs in process
 *   parallel metasys DIR THREADS COUNT  metadata, system calls in DIR
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
 * The metadata modes give each thread a directory of its own (made
 * before the clock starts, d0, d1, ... in the root or in DIR) and COUNT
 * empty files in it.  Phases, one output line "PHASE ops/s" each, all
 * threads together:
 *   create  meta: shmemfs_mknod(S_IFREG)    metasys: mknodat(S_IFREG)
 *   stat    meta: shmemfs_lookup + shmemfs_getattr + shmemfs_forget(1)
 *           metasys: fstatat
 *   unlink  meta: shmemfs_unlink + shmemfs_forget(1) (the create's
 *           reference)                      metasys: unlinkat
 * the calls bench/libbench.c times in one thread.
 *
 * Compiled by bench/parallel.sh and bench/statpar.sh (lib.sh's core_cc) as
 *   gcc -O2 -Iinclude -Isrc/core bench/parallel.c CORE_SOURCES -lpthread ...
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
enum { PH_CREATE, PH_STAT, PH_UNLINK, PH_META_NR };
static const char *const data_phases[PH_NR] = {"write", "overwrite", "read"};
static const char *const meta_phases[PH_META_NR] = {"create", "stat",
						    "unlink"};

static struct shmemfs *fs; /* lib, meta */
static const char *dir;	   /* sys, metasys */
static unsigned nthreads;
static uint64_t file_bytes;
static int meta;	   /* meta, metasys: metadata phases */
static unsigned count;	   /* meta, metasys: files per thread */
static const char *const *phase_names;
static int nphases;
static pthread_barrier_t start_bar, end_bar;

struct worker {
	unsigned w_id;
	uint64_t w_ino;	 /* lib: the file; meta: the directory */
	int w_fd;	 /* sys: the file; metasys: the directory */
	uint64_t *w_inos; /* meta: the files, for their forget */
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

/* One metadata call on file @i of @w's directory: 0 or an errno. */
static int
meta_op(struct worker *w, int phase, unsigned i)
{
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_attr a;
	char name[32];
	struct stat st;
	int ret;

	snprintf(name, sizeof(name), "f%07u", i);
	if (!fs) {
		if (phase == PH_CREATE)
			ret = mknodat(w->w_fd, name, S_IFREG | 0644, 0);
		else if (phase == PH_STAT)
			ret = fstatat(w->w_fd, name, &st, 0);
		else
			ret = unlinkat(w->w_fd, name, 0);
		return ret < 0 ? errno : 0;
	}
	if (phase == PH_CREATE) {
		ret = shmemfs_mknod(fs, &ctx, w->w_ino, name, S_IFREG | 0644,
				    0, &a);
		if (!ret)
			w->w_inos[i] = a.sa_st.st_ino;
	} else if (phase == PH_STAT) {
		ret = shmemfs_lookup(fs, w->w_ino, name, &a);
		if (!ret) {
			ret = shmemfs_getattr(fs, a.sa_st.st_ino, &a);
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
		}
	} else {
		ret = shmemfs_unlink(fs, w->w_ino, name);
		if (!ret)
			shmemfs_forget(fs, w->w_inos[i], 1);
	}
	return -ret;
}

static int
meta_pass(struct worker *w, int phase)
{
	unsigned i;
	int err;

	for (i = 0; i < count; i++) {
		err = meta_op(w, phase, i);
		if (err)
			return err;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int phase;

	for (phase = 0; phase < nphases; phase++) {
		pthread_barrier_wait(&start_bar);
		if (!w->w_err)
			w->w_err = meta ? meta_pass(w, phase)
					: one_pass(w, phase);
		pthread_barrier_wait(&end_bar);
	}
	return NULL;
}

/* metadata modes: the thread's directory d<id> */
static void
meta_setup(struct worker *w)
{
	char name[64];

	snprintf(name, sizeof(name), "d%u", w->w_id);
	if (fs) {
		struct shmemfs_ctx ctx = {0};
		struct shmemfs_attr a;
		int ret = shmemfs_mkdir(fs, &ctx, SHMEMFS_ROOT_INO, name,
					0755, &a);

		if (ret)
			fail("shmemfs_mkdir", -ret);
		w->w_ino = a.sa_st.st_ino;
		w->w_inos = calloc(count, sizeof(*w->w_inos));
		if (!w->w_inos)
			fail("calloc", ENOMEM);
	} else {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (mkdir(path, 0755) < 0)
			fail(path, errno);
		w->w_fd = open(path, O_RDONLY | O_DIRECTORY);
		if (w->w_fd < 0)
			fail(path, errno);
	}
}

static void
meta_teardown(struct worker *w)
{
	char name[64], path[4096];

	snprintf(name, sizeof(name), "d%u", w->w_id);
	if (fs) {
		shmemfs_rmdir(fs, SHMEMFS_ROOT_INO, name);
		shmemfs_forget(fs, w->w_ino, 1);
		free(w->w_inos);
	} else {
		close(w->w_fd);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		rmdir(path);
	}
}

static void
setup(struct worker *w)
{
	char name[64];

	if (meta) {
		meta_setup(w);
		return;
	}
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

	if (meta) {
		meta_teardown(w);
		return;
	}
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

	if (argc >= 2)
		meta = !strcmp(argv[1], "meta") || !strcmp(argv[1], "metasys");
	if (argc >= 4 && (!strcmp(argv[1], "lib") || !strcmp(argv[1], "meta"))) {
		nthreads = (unsigned)atoi(argv[2]);
		file_bytes = (uint64_t)atol(argv[3]) << 20;
		count = (unsigned)atol(argv[3]);
		if (argc > 4)
			opts = argv[4];
	} else if (argc >= 5 &&
		   (!strcmp(argv[1], "sys") || !strcmp(argv[1], "metasys"))) {
		dir = argv[2];
		nthreads = (unsigned)atoi(argv[3]);
		file_bytes = (uint64_t)atol(argv[4]) << 20;
		count = (unsigned)atol(argv[4]);
	} else {
		fprintf(stderr, "usage: parallel lib THREADS MIB [OPTS]\n"
				"       parallel sys DIR THREADS MIB\n"
				"       parallel meta THREADS COUNT [OPTS]\n"
				"       parallel metasys DIR THREADS COUNT\n");
		return 2;
	}
	phase_names = meta ? meta_phases : data_phases;
	nphases = meta ? PH_META_NR : PH_NR;
	if (!nthreads || nthreads > MAX_THREADS ||
	    (meta ? !count : file_bytes < REQ))
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
	for (phase = 0; phase < nphases; phase++) {
		double t0, t;

		t0 = now();
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&end_bar);
		t = now() - t0;
		for (i = 0; i < nthreads; i++)
			if (w[i].w_err)
				fail(phase_names[phase], w[i].w_err);
		printf("%s %.0f\n", phase_names[phase],
		       meta ? (double)count * nthreads / t
			    : (double)file_bytes * nthreads / t / 1e6);
		fflush(stdout);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		teardown(&w[i]);
	}
	shmemfs_destroy(fs);
	return 0;
}
