/* SPDX-License-Identifier: MIT */
/*
 * bench_clock.h - the benchmark programs' clock, included by each (they
 * are compiled one file at a time).
 */
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
