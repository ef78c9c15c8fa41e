/* SPDX-License-Identifier: MIT */
/*
 * What the threaded stress tests (test_datapath, test_metalock) share:
 * the stop flag every thread polls, the first failure, and a cheap
 * per-thread random number generator (xorshift64, seeded per thread).
 */
#ifndef SHMEMFS_TESTS_STRESS_H
#define SHMEMFS_TESTS_STRESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

#endif /* SHMEMFS_TESTS_STRESS_H */
