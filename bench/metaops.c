// SPDX-License-Identifier: MIT
/*
 * metaops.c - metadata micro-benchmark for bench/run.sh.
 *
 *   metaops [-t NDIRS] [-r PASSES] [-p PHASES] [-T] DIR COUNT
 *
 * Creates COUNT empty files in DIR (or spread over NDIRS subdirectories
 * d000, d001, ... with -t), stats them, optionally reads the directory
 * back PASSES times, and unlinks them.  Every phase prints one line
 *
 *   PHASE RATE
 *
 * where RATE is operations per second (for readdir: entries per second);
 * with -T followed by the phase's start and end on CLOCK_MONOTONIC, in
 * seconds, so that a caller running several processes at once can
 * compute their aggregate rate.
 * PHASES is a comma-separated subset of create,stat,readdir,unlink
 * (default: all of them; readdir only without -t).
 *
 * The calls are the ones applications make: create is
 * openat(O_CREAT|O_EXCL|O_WRONLY) + close, stat is fstatat, unlink is
 * unlinkat, readdir is opendir/readdir/closedir (getdents64 underneath).
 * All *at() calls are relative to an open directory fd, so path walking
 * of DIR itself is not measured.  With -t the mkdir and rmdir of the
 * subdirectories are timed with the create and unlink phases and counted
 * as operations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

static void die(const char *what, const char *name)
{
	fprintf(stderr, "metaops: %s %s: %s\n", what, name ? name : "",
		strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: metaops [-t NDIRS] [-r PASSES] [-p PHASES] [-T] DIR COUNT\n"
		"  PHASES: comma list of create,stat,readdir,unlink\n");
	exit(2);
}

static int times; /* -T */

/* report PHASE: OPS operations from T0 to now */
static void report(const char *phase, double ops, double t0)
{
	double t1 = now();

	if (times)
		printf("%s %.0f %.6f %.6f\n", phase, ops / (t1 - t0), t0, t1);
	else
		printf("%s %.0f\n", phase, ops / (t1 - t0));
	fflush(stdout);
}

static int has_phase(const char *phases, const char *p)
{
	size_t n = strlen(p);
	const char *s = phases;

	while ((s = strstr(s, p)) != NULL) {
		if ((s == phases || s[-1] == ',') && (s[n] == ',' || !s[n]))
			return 1;
		s += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *phases = "create,stat,readdir,unlink";
	long ndirs = 0, passes = 3, count, i, per;
	int opt, dfd, *fds;
	char name[64];
	double t0;

	while ((opt = getopt(argc, argv, "t:r:p:T")) != -1) {
		switch (opt) {
		case 't': ndirs = atol(optarg); break;
		case 'r': passes = atol(optarg); break;
		case 'p': phases = optarg; break;
		case 'T': times = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	count = atol(argv[optind + 1]);
	if (count <= 0 || ndirs < 0 || passes < 1)
		usage();
	dfd = open(argv[optind], O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die("open", argv[optind]);

	/* fds[d] is the directory file d lives in. */
	per = ndirs ? (count + ndirs - 1) / ndirs : count;
	fds = calloc(ndirs ? (size_t)ndirs : 1, sizeof(*fds));
	if (!fds)
		die("calloc", NULL);
	fds[0] = dfd;

#define DIRFD(i) (ndirs ? fds[(i) / per] : dfd)

	if (has_phase(phases, "create")) {
		t0 = now();
		for (i = 0; i < ndirs; i++) {
			snprintf(name, sizeof(name), "d%03ld", i);
			if (mkdirat(dfd, name, 0755) < 0)
				die("mkdir", name);
			fds[i] = openat(dfd, name, O_RDONLY | O_DIRECTORY);
			if (fds[i] < 0)
				die("open", name);
		}
		for (i = 0; i < count; i++) {
			int fd;

			snprintf(name, sizeof(name), "f%07ld", i);
			fd = openat(DIRFD(i), name,
				    O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
				    0644);
			if (fd < 0)
				die("create", name);
			close(fd);
		}
		report("create", (double)(count + ndirs), t0);
	} else {
		for (i = 0; i < ndirs; i++) {
			snprintf(name, sizeof(name), "d%03ld", i);
			fds[i] = openat(dfd, name, O_RDONLY | O_DIRECTORY);
			if (fds[i] < 0)
				die("open", name);
		}
	}

	if (has_phase(phases, "stat")) {
		struct stat st;

		t0 = now();
		for (i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "f%07ld", i);
			if (fstatat(DIRFD(i), name, &st, 0) < 0)
				die("stat", name);
		}
		report("stat", (double)count, t0);
	}

	if (has_phase(phases, "readdir") && !ndirs) {
		long seen = 0, p;

		t0 = now();
		for (p = 0; p < passes; p++) {
			struct dirent *de;
			DIR *d = opendir(argv[optind]);
			long n = 0;

			if (!d)
				die("opendir", argv[optind]);
			while ((errno = 0, de = readdir(d)) != NULL)
				n++;
			if (errno)
				die("readdir", argv[optind]);
			closedir(d);
			if (n < count)
				fprintf(stderr, "metaops: readdir saw %ld < %ld\n",
					n, count);
			seen += n;
		}
		report("readdir", (double)seen, t0);
	}

	if (has_phase(phases, "unlink")) {
		t0 = now();
		for (i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "f%07ld", i);
			if (unlinkat(DIRFD(i), name, 0) < 0)
				die("unlink", name);
		}
		for (i = 0; i < ndirs; i++) {
			snprintf(name, sizeof(name), "d%03ld", i);
			close(fds[i]);
			fds[i] = -1;
			if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
				die("rmdir", name);
		}
		report("unlink", (double)(count + ndirs), t0);
	}
	return 0;
}
