/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the core's allocation wrappers, with fault injection.
 *
 * Every allocation in the core goes through sf_malloc()/sf_calloc()/
 * sf_page_alloc() so that unit tests can make the Nth allocation fail and
 * check that nothing is left half done (STYLE.md habit 9).  The knob is a
 * process-wide test hook, not filesystem state: it is 0 (off) in normal
 * use and costs one predictable branch.
 */
#ifndef SHMEMFS_ALLOC_H
#define SHMEMFS_ALLOC_H

#include <stdlib.h>

/*
 * When > 0, the countdown of allocations left before one fails; the
 * failing allocation sets it back to 0.  Tests only.
 */
extern int sf_fail_after;

int sf_should_fail(void);

static inline void *
sf_malloc(size_t n)
{
	if (__builtin_expect(sf_fail_after > 0, 0) && sf_should_fail())
		return NULL;
	return malloc(n);
}

static inline void *
sf_calloc(size_t nmemb, size_t n)
{
	if (__builtin_expect(sf_fail_after > 0, 0) && sf_should_fail())
		return NULL;
	return calloc(nmemb, n);
}

/*
 * Small fixed-size objects (inodes, dirents): per-file memory is a goal,
 * and malloc spends 8 bytes of header and up to 15 of rounding on each.
 * sf_obj_alloc() carves objects of 8-byte size classes from 64 KiB slabs
 * with no header; the caller gives the size back to sf_obj_free().  Both
 * are thread safe (a lock per size class); slabs that empty go back to
 * the system.  Fault injection as sf_malloc().  Under AddressSanitizer
 * they are malloc and free, so that it still sees every object.
 */
void *sf_obj_alloc(size_t size);
void *sf_obj_zalloc(size_t size);
void sf_obj_free(void *p, size_t size);

#endif /* SHMEMFS_ALLOC_H */
