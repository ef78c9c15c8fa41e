// SPDX-License-Identifier: MIT
/*
 * libbench.c - the core library in process, against the same work done
 * with system calls on a kernel tmpfs.
 *
 *   libbench lib COUNT MIB [OPTS] libshmemfs, no FUSE, no kernel (OPTS:
 *                                 mount options, e.g. huge=always)
 *   libbench sys DIR COUNT MIB    system calls in DIR (a tmpfs mount)
 *   libbench index MIB            page index bytes per GiB of a MIB-MiB
 *                                 file: "small N" (huge=never) and
 *                                 "huge N" (huge=always)
 *
 * Phases, one output line "PHASE RATE" each:
 *   create   COUNT empty files in one directory         ops/s
 *            lib: shmemfs_mknod          sys: mknodat(S_IFREG)
 *   stat     each of them by name                       ops/s
 *            lib: shmemfs_lookup + shmemfs_getattr + shmemfs_forget(1)
 *            sys: fstatat
 *   unlink   each of them                               ops/s
 *            lib: shmemfs_unlink + shmemfs_forget(1) (the create's ref)
 *            sys: unlinkat
 *   seqwrite MIB MiB into a new file, 1 MiB at a time   MB/s
 *            lib: shmemfs_write              sys: pwrite
 *   seqread  the same file back, 1 MiB at a time        MB/s
 *            lib: shmemfs_read               sys: pread
 *
 * Right before seqwrite, both sides fault in and free MIB + 64 MiB of
 * transparent huge pages (warm_memory()), so that the write's new
 * memory, the kernel's page cache pages or the library's pool chunks,
 * is memory the guest has just freed and the host still backs: see
 * memwarm.c.  Without it whichever side runs on memory that sat free
 * for a few seconds pays the host's faults and loses by up to 10x.
 *
 * Compiled by bench/run.sh as
 *   gcc -O2 -Iinclude -Isrc/core bench/libbench.c src/core/(*).c -lpthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmemfs.h"

#define CHUNK (1024 * 1024)

static void fail(const char *what, const char *name, int err)
{
	fprintf(stderr, "libbench: %s %s: %s\n", what, name ? name : "",
		strerror(err));
	exit(1);
}

static void report(const char *phase, double n, double t)
{
	printf("%s %.0f\n", phase, n / t);
	fflush(stdout);
}

static void report_mb(const char *phase, double bytes, double t)
{
	printf("%s %.1f\n", phase, bytes / 1e6 / t);
	fflush(stdout);
}

static char *make_buf(void)
{
	char *b = aligned_alloc(4096, CHUNK);
	size_t i;

	if (!b)
		fail("alloc", NULL, ENOMEM);
	for (i = 0; i < CHUNK; i++)
		b[i] = (char)(i * 131 + 7);
	return b;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Fault in and free @mib MiB of huge pages (see the top). */
static void warm_memory(long mib)
{
	size_t len = (size_t)(mib + 64) << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return;
	madvise(p, len, MADV_HUGEPAGE);
	if (madvise(p, len, MADV_POPULATE_WRITE))
		memset(p, 1, len);
	munmap(p, len);
}

/* ---- libshmemfs --------------------------------------------------- */

/* ---- the page index's memory per GiB, 4 KiB pages vs 2 MiB folios ---- */

#include "fs.h"
#include "node.h"
#include "bench_clock.h"

static double index_bytes_per_gib(const char *opts, long mib)
{
	struct shmemfs_ctx ctx = { .sc_uid = getuid(), .sc_gid = getgid() };
	struct shmemfs_attr attr;
	struct shmemfs_opts o;
	struct shmemfs *fs;
	char *buf = aligned_alloc(4096, CHUNK);
	double bytes;
	long i;
	int ret;

	if (!buf)
		fail("alloc", NULL, ENOMEM);
	memset(buf, 1, CHUNK);
	shmemfs_opts_init(&o);
	ret = shmemfs_opts_parse(&o, opts, NULL, 0, NULL, 0);
	if (ret < 0 || shmemfs_new(&fs, &o) < 0)
		fail("shmemfs_new", opts, EINVAL);
	ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "f", S_IFREG | 0644,
			    0, &attr);
	if (ret < 0)
		fail("mknod", "f", -ret);
	for (i = 0; i < mib; i++)
		if (shmemfs_write(fs, attr.sa_st.st_ino, buf, CHUNK,
				  (int64_t)i * CHUNK) != CHUNK)
			fail("write", "f", EIO);
	bytes = (double)pageidx_node_bytes(
			&node_get(fs, attr.sa_st.st_ino)->i_pages) *
		1024.0 / (double)mib;
	shmemfs_destroy(fs);
	shmemfs_opts_free(&o);
	free(buf);
	return bytes;
}

static int run_index(long mib)
{
	printf("small %.0f\n", index_bytes_per_gib("size=0,huge=never", mib));
	printf("huge %.0f\n", index_bytes_per_gib("size=0,huge=always", mib));
	return 0;
}

static int run_lib(long count, long mib, const char *opts)
{
	struct shmemfs_ctx ctx = { .sc_uid = getuid(), .sc_gid = getgid() };
	struct shmemfs_attr attr;
	struct shmemfs_opts o;
	struct shmemfs *fs;
	uint64_t *inos, ino;
	char name[64], *wbuf, *rbuf;
	double t0;
	long i;
	int ret;

	shmemfs_opts_init(&o);
	/* The same limits the run.sh mounts get: none that bind. */
	ret = shmemfs_opts_parse(&o, "size=0,nr_inodes=0", NULL, 0, NULL, 0);
	if (ret >= 0 && opts)
		ret = shmemfs_opts_parse(&o, opts, NULL, 0, NULL, 0);
	if (ret < 0)
		fail("opts", NULL, -ret);
	ret = shmemfs_new(&fs, &o);
	if (ret < 0)
		fail("shmemfs_new", NULL, -ret);
	inos = calloc((size_t)count, sizeof(*inos));
	if (!inos)
		fail("calloc", NULL, ENOMEM);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, name,
				    S_IFREG | 0644, 0, &attr);
		if (ret < 0)
			fail("mknod", name, -ret);
		inos[i] = attr.sa_st.st_ino;
	}
	report("create", (double)count, now() - t0);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		ret = shmemfs_lookup(fs, SHMEMFS_ROOT_INO, name, &attr);
		if (ret < 0)
			fail("lookup", name, -ret);
		ino = attr.sa_st.st_ino;
		ret = shmemfs_getattr(fs, ino, &attr);
		if (ret < 0)
			fail("getattr", name, -ret);
		shmemfs_forget(fs, ino, 1);
	}
	report("stat", (double)count, now() - t0);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		ret = shmemfs_unlink(fs, SHMEMFS_ROOT_INO, name);
		if (ret < 0)
			fail("unlink", name, -ret);
		shmemfs_forget(fs, inos[i], 1);
	}
	report("unlink", (double)count, now() - t0);

	wbuf = make_buf();
	rbuf = make_buf();
	ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "data",
			    S_IFREG | 0644, 0, &attr);
	if (ret < 0)
		fail("mknod", "data", -ret);
	ino = attr.sa_st.st_ino;
	ret = shmemfs_open(fs, ino);
	if (ret < 0)
		fail("open", "data", -ret);
	warm_memory(mib);
	t0 = now();
	for (i = 0; i < mib; i++) {
		ssize_t n = shmemfs_write(fs, ino, wbuf, CHUNK,
					  (int64_t)i * CHUNK);
		if (n != CHUNK)
			fail("write", "data", n < 0 ? (int)-n : EIO);
	}
	report_mb("seqwrite", (double)mib * CHUNK, now() - t0);
	t0 = now();
	for (i = 0; i < mib; i++) {
		ssize_t n = shmemfs_read(fs, ino, rbuf, CHUNK,
					 (int64_t)i * CHUNK);
		if (n != CHUNK)
			fail("read", "data", n < 0 ? (int)-n : EIO);
	}
	report_mb("seqread", (double)mib * CHUNK, now() - t0);
	if (memcmp(wbuf, rbuf, CHUNK) != 0)
		fail("verify", "data", EIO);
	shmemfs_release(fs, ino);
	shmemfs_unlink(fs, SHMEMFS_ROOT_INO, "data");
	shmemfs_forget(fs, ino, 1);

	shmemfs_destroy(fs);
	shmemfs_opts_free(&o);
	free(inos);
	free(wbuf);
	free(rbuf);
	return 0;
}

/* ---- System calls ------------------------------------------------- */

static int run_sys(const char *dir, long count, long mib)
{
	char name[64], *wbuf, *rbuf;
	struct stat st;
	double t0;
	int dfd, fd;
	long i;

	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		fail("open", dir, errno);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (mknodat(dfd, name, S_IFREG | 0644, 0) < 0)
			fail("mknod", name, errno);
	}
	report("create", (double)count, now() - t0);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (fstatat(dfd, name, &st, 0) < 0)
			fail("stat", name, errno);
	}
	report("stat", (double)count, now() - t0);

	t0 = now();
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (unlinkat(dfd, name, 0) < 0)
			fail("unlink", name, errno);
	}
	report("unlink", (double)count, now() - t0);

	wbuf = make_buf();
	rbuf = make_buf();
	fd = openat(dfd, "data", O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0)
		fail("open", "data", errno);
	warm_memory(mib);
	t0 = now();
	for (i = 0; i < mib; i++)
		if (pwrite(fd, wbuf, CHUNK, (off_t)i * CHUNK) != CHUNK)
			fail("write", "data", errno);
	report_mb("seqwrite", (double)mib * CHUNK, now() - t0);
	t0 = now();
	for (i = 0; i < mib; i++)
		if (pread(fd, rbuf, CHUNK, (off_t)i * CHUNK) != CHUNK)
			fail("read", "data", errno);
	report_mb("seqread", (double)mib * CHUNK, now() - t0);
	if (memcmp(wbuf, rbuf, CHUNK) != 0)
		fail("verify", "data", EIO);
	close(fd);
	unlinkat(dfd, "data", 0);
	close(dfd);
	free(wbuf);
	free(rbuf);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "lib") == 0)
		return run_lib(atol(argv[2]), atol(argv[3]),
			       argc == 5 ? argv[4] : NULL);
	if (argc == 3 && strcmp(argv[1], "index") == 0)
		return run_index(atol(argv[2]));
	if (argc == 5 && strcmp(argv[1], "sys") == 0)
		return run_sys(argv[2], atol(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: libbench lib COUNT MIB\n"
			"       libbench sys DIR COUNT MIB\n");
	return 2;
}
