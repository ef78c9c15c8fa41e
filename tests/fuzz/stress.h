/* SPDX-License-Identifier: MIT */
/*
 * What the threaded stress tests share.  test_datapath and test_metalock:
 * the stop flag every thread polls, the first failure, and a cheap
 * per-thread random number generator (xorshift64, seeded per thread).
 * test_datapath and test_concurrency: their command line,
 * stress_parse_args().  test_concurrency keeps a fail() and a generator
 * of its own, so it defines STRESS_ARGS_ONLY before including this file
 * and gets only the command line.
 */
#ifndef SHMEMFS_TESTS_STRESS_H
#define SHMEMFS_TESTS_STRESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * The command line of test_datapath and test_concurrency:
 *
 *   [-t THREADS] [-d SECONDS] [-s SEED] [-n] [-H]
 *
 * The caller sets every field to its default first.  -t sets
 * sta_threads, which falls back to its default unless it is 1 to
 * sta_max_threads; -d sets sta_seconds; -s sets sta_seed (0x and 0
 * prefixes as strtoull reads them); -n clears sta_swap; -H sets
 * sta_huge.  Numbers are read as atoi/atof read them: garbage is 0.
 * Returns 0, or 2 (the exit status) after printing the usage line for
 * an unknown option or a missing argument.
 */
struct stress_args {
	unsigned sta_threads;
	unsigned sta_max_threads;
	double sta_seconds;
	uint64_t sta_seed;
	bool sta_swap;
	bool sta_huge;
};

static inline int
stress_parse_args(struct stress_args *sta, int argc, char **argv)
{
	unsigned def_threads = sta->sta_threads;
	int c;

	while ((c = getopt(argc, argv, "t:d:s:nH")) != -1) {
		switch (c) {
		case 't':
			sta->sta_threads = (unsigned)atoi(optarg);
			break;
		case 'd':
			sta->sta_seconds = atof(optarg);
			break;
		case 's':
			sta->sta_seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			sta->sta_swap = false;
			break;
		case 'H':
			sta->sta_huge = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-t threads] [-d seconds] "
				"[-s seed] [-n] [-H]\n",
				argv[0]);
			return 2;
		}
	}
	if (sta->sta_threads < 1 || sta->sta_threads > sta->sta_max_threads)
		sta->sta_threads = def_threads;
	return 0;
}

#ifndef STRESS_ARGS_ONLY
static atomic_bool stop;
static atomic_int failed;

/* Report a failure and make every thread stop. */
static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: FAIL: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	atomic_store(&failed, 1);
	atomic_store(&stop, true);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}
#endif /* !STRESS_ARGS_ONLY */

#endif /* SHMEMFS_TESTS_STRESS_H */
