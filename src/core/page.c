/* SPDX-License-Identifier: MIT */
/*
 * page.c - page memory: a per-mount pool of 4 KiB pages carved from
 * 2 MiB chunks.
 *
 * Why not malloc: a RAM filesystem with a memory budget must give memory
 * back to the host the moment a page is freed or swapped out, or its RSS
 * never falls.  malloc keeps freed memory; one mmap per page would blow
 * the host's map count.  So pages come from 2 MiB-aligned anonymous
 * chunks, and a freed page is handed back with MADV_DONTNEED, which also
 * means every page the pool returns reads as zeros without a memset.  A
 * chunk whose pages are all free is unmapped.
 *
 * Chunks are found from a page address through a pageidx keyed by
 * address >> 21.  Chunks with free pages sit on a list so allocation is
 * O(1) apart from a scan of a 512-bit map.  2 MiB alignment is also what
 * transparent huge pages will need.
 *
 * => Must be called with sf_lock held (the pool is per mount).
 */
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

#define CHUNK_SHIFT 21
#define CHUNK_SIZE (1ul << CHUNK_SHIFT)
#define CHUNK_PAGES (CHUNK_SIZE / SF_PAGE_SIZE)
#define CHUNK_WORDS (CHUNK_PAGES / 64)

struct sf_chunk {
	char *ck_base;
	struct sf_chunk *ck_next, *ck_prev; /* on pl_partial */
	uint32_t ck_nfree;
	uint64_t ck_free[CHUNK_WORDS];      /* bit set: page free */
};

void
pool_init(struct sf_pool *pl)
{
	memset(pl, 0, sizeof(*pl));
	pageidx_init(&pl->pl_chunks);
}

static void
partial_add(struct sf_pool *pl, struct sf_chunk *ck)
{
	ck->ck_prev = NULL;
	ck->ck_next = pl->pl_partial;
	if (ck->ck_next)
		ck->ck_next->ck_prev = ck;
	pl->pl_partial = ck;
}

static void
partial_del(struct sf_pool *pl, struct sf_chunk *ck)
{
	if (ck->ck_prev)
		ck->ck_prev->ck_next = ck->ck_next;
	else
		pl->pl_partial = ck->ck_next;
	if (ck->ck_next)
		ck->ck_next->ck_prev = ck->ck_prev;
}

static struct sf_chunk *
chunk_new(struct sf_pool *pl)
{
	struct sf_chunk *ck = sf_malloc(sizeof(*ck));
	char *raw, *base;
	size_t head;

	if (!ck)
		return NULL;
	/* Map twice the size, keep the aligned middle. */
	raw = mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		goto out_free;
	base = (char *)(((uintptr_t)raw + CHUNK_SIZE - 1) &
			~(uintptr_t)(CHUNK_SIZE - 1));
	head = (size_t)(base - raw);
	if (head)
		munmap(raw, head);
	munmap(base + CHUNK_SIZE, CHUNK_SIZE - head);
	/* 4 KiB pages come and go one by one: keep the host from backing
	 * the chunk with a huge page it would then have to split. */
	madvise(base, CHUNK_SIZE, MADV_NOHUGEPAGE);
	if (pageidx_store(&pl->pl_chunks, (uintptr_t)base >> CHUNK_SHIFT,
			  ck))
		goto out_unmap;
	ck->ck_base = base;
	ck->ck_nfree = CHUNK_PAGES;
	memset(ck->ck_free, 0xff, sizeof(ck->ck_free));
	partial_add(pl, ck);
	pl->pl_chunks_mapped++;
	return ck;

out_unmap:
	munmap(base, CHUNK_SIZE);
out_free:
	free(ck);
	return NULL;
}

static void
chunk_release(struct sf_pool *pl, struct sf_chunk *ck)
{
	partial_del(pl, ck);
	pageidx_erase(&pl->pl_chunks, (uintptr_t)ck->ck_base >> CHUNK_SHIFT);
	munmap(ck->ck_base, CHUNK_SIZE);
	free(ck);
	pl->pl_chunks_mapped--;
}

/* A zeroed, page-aligned page, or NULL. */
void *
pool_alloc(struct sf_pool *pl)
{
	struct sf_chunk *ck = pl->pl_partial;
	unsigned w, bit;

	if (sf_fail_after > 0 && sf_should_fail())
		return NULL;
	if (!ck) {
		ck = chunk_new(pl);
		if (!ck)
			return NULL;
	}
	for (w = 0; !ck->ck_free[w]; w++)
		;
	bit = (unsigned)__builtin_ctzll(ck->ck_free[w]);
	ck->ck_free[w] &= ~(1ull << bit);
	if (--ck->ck_nfree == 0)
		partial_del(pl, ck);
	pl->pl_pages++;
	return ck->ck_base + ((size_t)(w * 64 + bit) << SF_PAGE_SHIFT);
}

void
pool_free(struct sf_pool *pl, void *page)
{
	struct sf_chunk *ck = pageidx_lookup(&pl->pl_chunks,
					     (uintptr_t)page >> CHUNK_SHIFT);
	size_t n;

	SF_ASSERT(ck);
	n = (size_t)((char *)page - ck->ck_base) >> SF_PAGE_SHIFT;
	SF_ASSERT(!(ck->ck_free[n / 64] & (1ull << (n % 64))));
	ck->ck_free[n / 64] |= 1ull << (n % 64);
	pl->pl_pages--;
	if (ck->ck_nfree++ == 0)
		partial_add(pl, ck);
	if (ck->ck_nfree == CHUNK_PAGES) {
		chunk_release(pl, ck);
		return;
	}
	/* Back to the host now; the next user sees zeros. */
	madvise(page, SF_PAGE_SIZE, MADV_DONTNEED);
}

static void
chunk_unmap(void *arg, uint64_t index, void *entry)
{
	struct sf_chunk *ck = entry;

	(void)arg;
	(void)index;
	munmap(ck->ck_base, CHUNK_SIZE);
	free(ck);
}

void
pool_destroy(struct sf_pool *pl)
{
	pageidx_destroy(&pl->pl_chunks, chunk_unmap, NULL);
	pl->pl_partial = NULL;
	pl->pl_chunks_mapped = 0;
	pl->pl_pages = 0;
}
