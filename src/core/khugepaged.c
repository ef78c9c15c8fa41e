/* SPDX-License-Identifier: MIT */
/*
 * khugepaged.c - background collapse, khugepaged's job for tmpfs.
 *
 * Small pages come back where huge folios were: a folio split to go to
 * swap returns page by page, and files written before a remount to
 * huge=always hold small pages.  A pass walks the inode table from
 * where the last one stopped (sf_khp_ino, sf_khp_index: numbers, not
 * pointers, so nothing dangles when an inode goes between passes) and
 * asks filemap_collapse_range(), through filemap_collapse_scan(), to
 * make each fully populated aligned 2 MiB range one folio where huge=
 * allows it and mem= has room.  Each pass is bounded (SF_KHP_BUDGET
 * inodes and ranges looked at, SF_KHP_FOLIOS folios made) and holds
 * sf_lock throughout; the thread sleeps SF_KHP_INTERVAL_MS between
 * passes with the lock dropped.  Folios made count in huge_collapses.
 */
#include <errno.h>
#include <time.h>

#include "filemap.h"
#include "fs.h"
#include "khugepaged.h"
#include "lock.h"
#include "node.h"

/*
 * One bounded pass; returns the folios made.  At the end of the inode
 * table the cursor goes back to the start for the next pass.
 * => sf_lock held.
 */
unsigned
khugepaged_pass(struct shmemfs *fs)
{
	uint64_t ino = fs->sf_khp_ino, idx = fs->sf_khp_index;
	unsigned budget = SF_KHP_BUDGET, made = 0;
	struct shmemfs_inode *ip;

	SF_ASSERT(sf_mutex_held_excl());
	if (fs->sf_opts.so_huge == SHMEMFS_HUGE_NEVER)
		return 0;
	while (budget && made < SF_KHP_FOLIOS) {
		bool done = true;

		ip = node_next(fs, &ino);
		if (!ip) {
			ino = 0;
			idx = 0;
			break;
		}
		budget--;
		if (sf_has_pages(ip))
			made += filemap_collapse_scan(
			    fs, ip, &idx, &budget, SF_KHP_FOLIOS - made, &done);
		if (!done)
			break; /* go on from here next time */
		ino++;
		idx = 0;
	}
	fs->sf_khp_ino = ino;
	fs->sf_khp_index = idx;
	return made;
}

static void *
khugepaged(void *arg)
{
	struct shmemfs *fs = arg;

	sf_mutex_lock(&fs->sf_lock);
	while (!fs->sf_khp_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)SF_KHP_INTERVAL_MS * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		sf_cond_timedwait(&fs->sf_khp_wake, &fs->sf_lock, &ts);
		if (!fs->sf_khp_stop)
			khugepaged_pass(fs);
	}
	sf_mutex_unlock(&fs->sf_lock);
	return NULL;
}

/* => sf_lock not held. */
int
khugepaged_start(struct shmemfs *fs)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&fs->sf_khp_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (ret)
		return -ret;
	fs->sf_khp_stop = false;
	ret = pthread_create(&fs->sf_khp_thread, NULL, khugepaged, fs);
	if (ret) {
		pthread_cond_destroy(&fs->sf_khp_wake);
		return -ret;
	}
	fs->sf_khp_running = true;
	return 0;
}

/* => sf_lock not held. */
void
khugepaged_stop(struct shmemfs *fs)
{
	if (!fs->sf_khp_running)
		return;
	sf_mutex_lock(&fs->sf_lock);
	fs->sf_khp_stop = true;
	pthread_cond_signal(&fs->sf_khp_wake);
	sf_mutex_unlock(&fs->sf_lock);
	pthread_join(fs->sf_khp_thread, NULL);
	pthread_cond_destroy(&fs->sf_khp_wake);
	fs->sf_khp_running = false;
}

/* Run a pass soon (a remount to huge=always, a swapoff).
 * => sf_lock held. */
void
khugepaged_wake(struct shmemfs *fs)
{
	if (fs->sf_khp_running)
		pthread_cond_signal(&fs->sf_khp_wake);
}
