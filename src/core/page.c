/* SPDX-License-Identifier: MIT */
/*
 * page.c - resident pages: their memory (a per-mount pool of 4 KiB
 * pages carved from 2 MiB chunks), their struct sf_page, the CLOCK ring
 * they sit on, and the resident charge (mem=) they carry.  One owner
 * from page_alloc() to page_free(); see page.h.
 *
 * Why not malloc: a RAM filesystem with a memory budget must give memory
 * back to the host when pages are freed or swapped out, or its RSS never
 * falls.  malloc keeps freed memory; one mmap per page would blow the
 * host's map count.  So pages come from 2 MiB-aligned anonymous chunks.
 *
 * Speed: a page fault per fresh 4 KiB page, and an madvise per freed
 * one, cost more than the copy itself (measured: bench/).  So a new
 * chunk of small pages is faulted in POOL_POPULATE_PAGES at a time, one
 * call (MADV_POPULATE_WRITE) as the allocation reaches them (a huge
 * folio's chunk all at once), a freed page stays mapped as "dirty free"
 * and is zeroed when reused, and memory goes back to the host in bulk: a
 * chunk whose pages are all free is unmapped, and when dirty free pages
 * pile up past a threshold (pool_trim()) their runs are released with
 * MADV_DONTNEED, after which they read as zeros again.  RSS is therefore
 * at most the pages in use plus the threshold plus up to
 * POOL_POPULATE_PAGES - 1 faulted-in pages per partly used chunk.
 *
 * Why 256 KiB at a time rather than the whole chunk: it is faster, most
 * likely because the kernel clears each page as it faults it in and the
 * write's copy then finds the cleared lines still in the CPU's cache,
 * which after clearing 2 MiB it does not.  Measured (libbench, 1 GiB, interleaved rounds against tmpfs):
 * 1.02-1.07 of tmpfs against 0.91-0.97 populating whole chunks, and a
 * tie (0.66 against 0.67) once at load average 6; 64 KiB pieces gained
 * less (0.89 against 0.84), 1 MiB about as much (1.05 against 0.91).
 *
 * Chunks are found from a page address through a pageidx keyed by
 * address >> 21.  Chunks with free pages sit on a list so allocation is
 * O(1) apart from a scan of a 512-bit map.  2 MiB alignment is also what
 * transparent huge pages will need.
 *
 * => Must be called with sf_lock held (the pool is per mount).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "fs.h"
#include "page.h"

#define CHUNK_SHIFT 21
#define CHUNK_SIZE (1ul << CHUNK_SHIFT)
#define CHUNK_PAGES (CHUNK_SIZE / SF_PAGE_SIZE)
#define CHUNK_WORDS (CHUNK_PAGES / 64)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* Small pages of a fresh chunk faulted in per call, ahead of use. */
#define POOL_POPULATE_PAGES 64 /* 256 KiB */

/* Dirty free pages allowed before pool_trim() gives them back. */
#define POOL_DIRTY_MIN 1024 /* 4 MiB */

struct sf_chunk {
	char *ck_base;
	struct sf_chunk *ck_next, *ck_prev; /* on pl_partial */
	uint32_t ck_nfree;
	uint32_t ck_populated;              /* pages [0, this) faulted in */
	uint64_t ck_free[CHUNK_WORDS];      /* bit set: page free */
	uint64_t ck_dirty[CHUNK_WORDS];     /* free but not zero: a subset */
};

void
page_pool_init(struct sf_pool *pl)
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
chunk_new(struct sf_pool *pl, bool huge)
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
	/*
	 * A huge folio's chunk asks the host for one transparent huge page
	 * (THP is usually in madvise mode).  A chunk for small pages does
	 * not.  Measured on the development VM (bench/README.md, "What
	 * limits sequential writes"): with free page reporting the guest
	 * hands 2 MiB blocks it has had free for a few seconds back to the
	 * host, and a huge page is always such a block, so after a rest a
	 * THP-backed small-page chunk faulted in at 300 MB/s where 4 KiB
	 * pages, which the guest takes from memory it still holds, ran at
	 * 750-2400 (tmpfs: 3000).  Right after memory was freed THP would
	 * win (1.3x tmpfs against 1.07): not worth a 10x loss after a rest.
	 * And small pages come and go one by one, which would split it
	 * anyway.  A huge folio's chunk is faulted in here with one call,
	 * a small-page chunk piece by piece in pool_alloc() (best effort
	 * both: an old kernel says EINVAL and the pages fault in one by
	 * one).
	 */
	madvise(base, CHUNK_SIZE, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (huge)
		madvise(base, CHUNK_SIZE, MADV_POPULATE_WRITE);
	if (pageidx_store(&pl->pl_chunks, (uintptr_t)base >> CHUNK_SHIFT,
			  ck))
		goto out_unmap;
	ck->ck_base = base;
	ck->ck_nfree = CHUNK_PAGES;
	ck->ck_populated = huge ? CHUNK_PAGES : 0;
	memset(ck->ck_free, 0xff, sizeof(ck->ck_free));
	memset(ck->ck_dirty, 0, sizeof(ck->ck_dirty));
	partial_add(pl, ck);
	pl->pl_chunks_mapped++;
	return ck;

out_unmap:
	munmap(base, CHUNK_SIZE);
out_free:
	free(ck);
	return NULL;
}

static unsigned
chunk_dirty_count(const struct sf_chunk *ck)
{
	unsigned w, n = 0;

	for (w = 0; w < CHUNK_WORDS; w++)
		n += (unsigned)__builtin_popcountll(ck->ck_dirty[w]);
	return n;
}

static void
chunk_release(struct sf_pool *pl, struct sf_chunk *ck)
{
	pl->pl_dirty -= chunk_dirty_count(ck);
	partial_del(pl, ck);
	pageidx_erase(&pl->pl_chunks, (uintptr_t)ck->ck_base >> CHUNK_SHIFT);
	munmap(ck->ck_base, CHUNK_SIZE);
	free(ck);
	pl->pl_chunks_mapped--;
}

/* A zeroed, page-aligned page in *@datap; 0 or -ENOMEM. */
static int
pool_alloc(struct sf_pool *pl, void **datap)
{
	struct sf_chunk *ck = pl->pl_partial;
	unsigned w, bit;
	char *page;

	if (sf_fail_after > 0 && sf_should_fail())
		return -ENOMEM;
	if (!ck) {
		ck = chunk_new(pl, false);
		if (!ck)
			return -ENOMEM;
	}
	for (w = 0; !ck->ck_free[w]; w++)
		;
	bit = (unsigned)__builtin_ctzll(ck->ck_free[w]);
	ck->ck_free[w] &= ~(1ull << bit);
	if (--ck->ck_nfree == 0)
		partial_del(pl, ck);
	pl->pl_pages++;
	page = ck->ck_base + ((size_t)(w * 64 + bit) << SF_PAGE_SHIFT);
	if (w * 64 + bit >= ck->ck_populated) {
		unsigned end = w * 64 + bit + POOL_POPULATE_PAGES;

		if (end > CHUNK_PAGES)
			end = CHUNK_PAGES;
		madvise(page, (size_t)(end - w * 64 - bit) << SF_PAGE_SHIFT,
			MADV_POPULATE_WRITE);
		ck->ck_populated = end;
	}
	if (ck->ck_dirty[w] & (1ull << bit)) {
		ck->ck_dirty[w] &= ~(1ull << bit);
		pl->pl_dirty--;
		memset(page, 0, SF_PAGE_SIZE);
	}
	*datap = page;
	return 0;
}

/*
 * A whole fresh chunk for a huge folio in *@datap: 0, or -ENOMEM when
 * the host will not back it with a transparent huge page (the chunk then
 * stays in the pool for small pages).  MADV_COLLAPSE says which: it
 * returns at once for a range the host already maps with a huge page,
 * and otherwise tries to make one and fails if it cannot.  Without it
 * (Linux < 6.1: EINVAL), MADV_HUGEPAGE is taken on trust.
 */
static int
pool_alloc_chunk(struct sf_pool *pl, void **datap)
{
	struct sf_chunk *ck;

	if (sf_fail_after > 0 && sf_should_fail())
		return -ENOMEM;
	ck = chunk_new(pl, true);
	if (!ck)
		return -ENOMEM;
	if (!pl->pl_no_collapse &&
	    madvise(ck->ck_base, CHUNK_SIZE, MADV_COLLAPSE)) {
		if (errno != EINVAL)
			return -ENOMEM;
		pl->pl_no_collapse = true;
	}
	partial_del(pl, ck);
	memset(ck->ck_free, 0, sizeof(ck->ck_free));
	ck->ck_nfree = 0;
	pl->pl_pages += CHUNK_PAGES;
	*datap = ck->ck_base;
	return 0;
}

/* The chunk of a huge folio goes back to the host whole. */
static void
pool_free_chunk(struct sf_pool *pl, void *data)
{
	struct sf_chunk *ck = pageidx_lookup(&pl->pl_chunks,
					     (uintptr_t)data >> CHUNK_SHIFT);

	SF_ASSERT(ck && ck->ck_base == data && ck->ck_nfree == 0);
	pl->pl_pages -= CHUNK_PAGES;
	partial_add(pl, ck);
	chunk_release(pl, ck);
}

/* Give the runs of dirty free pages in @ck back to the host. */
static void
chunk_trim(struct sf_pool *pl, struct sf_chunk *ck)
{
	unsigned i = 0;

	while (i < CHUNK_PAGES) {
		unsigned start;

		if (!(ck->ck_dirty[i / 64] & (1ull << (i % 64)))) {
			i++;
			continue;
		}
		start = i;
		while (i < CHUNK_PAGES &&
		       (ck->ck_dirty[i / 64] & (1ull << (i % 64)))) {
			ck->ck_dirty[i / 64] &= ~(1ull << (i % 64));
			i++;
		}
		madvise(ck->ck_base + ((size_t)start << SF_PAGE_SHIFT),
			(size_t)(i - start) << SF_PAGE_SHIFT, MADV_DONTNEED);
		pl->pl_dirty -= i - start;
	}
}

/*
 * Release dirty free pages once there are more than POOL_DIRTY_MIN of
 * them and more than an eighth of the pages in use: cheap in a steady
 * state, and bounded after a big file goes.
 */
static void
pool_trim(struct sf_pool *pl)
{
	struct sf_chunk *ck;

	if (pl->pl_dirty <= POOL_DIRTY_MIN || pl->pl_dirty <= pl->pl_pages / 8)
		return;
	for (ck = pl->pl_partial; ck && pl->pl_dirty; ck = ck->ck_next)
		chunk_trim(pl, ck);
}

static void
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
	ck->ck_dirty[n / 64] |= 1ull << (n % 64);
	pl->pl_dirty++;
	pool_trim(pl);
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

/* Unmap every chunk; the pages' owners are gone (mount teardown). */
void
page_pool_destroy(struct sf_pool *pl)
{
	pageidx_destroy(&pl->pl_chunks, chunk_unmap, NULL);
	pl->pl_partial = NULL;
	pl->pl_clock = NULL;
	pl->pl_chunks_mapped = 0;
	pl->pl_pages = 0;
	pl->pl_dirty = 0;
}

/* Put @pg just behind the CLOCK hand: the last the hand will reach. */
static void
ring_add(struct sf_pool *pl, struct sf_page *pg)
{
	struct sf_page *hand = pl->pl_clock;

	if (!hand) {
		pg->pg_next = pg->pg_prev = pg;
		pl->pl_clock = pg;
		return;
	}
	pg->pg_next = hand;
	pg->pg_prev = hand->pg_prev;
	hand->pg_prev->pg_next = pg;
	hand->pg_prev = pg;
}

static void
ring_del(struct sf_pool *pl, struct sf_page *pg)
{
	if (pg->pg_next == pg) {
		pl->pl_clock = NULL;
		return;
	}
	if (pl->pl_clock == pg)
		pl->pl_clock = pg->pg_next;
	pg->pg_prev->pg_next = pg->pg_next;
	pg->pg_next->pg_prev = pg->pg_prev;
}

/*
 * A new zeroed resident page for @index of @map (the caller files it
 * there), referenced and on the CLOCK ring, in *@pgp.  Charges one
 * resident page; with SF_PA_FORCE past mem= (swap-ins only).
 * 0; -EAGAIN when mem= is full (the caller may reclaim and retry);
 * -ENOMEM when memory cannot be had.
 */
int
page_alloc(struct shmemfs *fs, struct pageidx *map, uint64_t index,
	   unsigned flags, struct sf_page **pgp)
{
	struct sf_page *pg;
	int ret;

	if (flags & SF_PA_FORCE)
		mem_force_resident(fs, 1);
	else if (mem_charge_resident(fs, 1))
		return -EAGAIN;
	ret = -ENOMEM;
	pg = sf_malloc(sizeof(*pg));
	if (!pg)
		goto out_uncharge;
	ret = pool_alloc(&fs->sf_pool, &pg->pg_data);
	if (ret)
		goto out_free;
	pg->pg_map = map;
	pg->pg_index = index;
	pg->pg_flags = SF_PG_REFERENCED;
	ring_add(&fs->sf_pool, pg);
	*pgp = pg;
	return 0;

out_free:
	free(pg);
out_uncharge:
	mem_uncharge_resident(fs, 1);
	return ret;
}

/* Free a resident page or huge folio that has left (or never joined)
 * its index. */
void
page_free(struct shmemfs *fs, struct sf_page *pg)
{
	uint64_t nr = page_nr(pg);

	SF_ASSERT(!page_pinned(pg)); /* a copy is in flight (page.h) */
	ring_del(&fs->sf_pool, pg);
	if (page_is_huge(pg)) {
		pool_free_chunk(&fs->sf_pool, pg->pg_data);
		fs->sf_pool.pl_huge--;
	} else {
		pool_free(&fs->sf_pool, pg->pg_data);
	}
	free(pg);
	mem_uncharge_resident(fs, nr);
}

/*
 * A new zeroed huge folio for the SF_HUGE_PAGES indices from @index
 * (aligned) of @map, referenced and on the ring, in *@pgp; the caller
 * files it (pageidx_store_multi()).  Charges SF_HUGE_PAGES resident
 * pages.  0; -EAGAIN when mem= has no room for it; -ENOMEM when the
 * host gives no huge page (the caller falls back to small pages and
 * says so with page_count_fallback()).
 */
int
page_alloc_huge(struct shmemfs *fs, struct pageidx *map, uint64_t index,
		struct sf_page **pgp)
{
	struct sf_page *pg;
	int ret;

	SF_ASSERT((index & (SF_HUGE_PAGES - 1)) == 0);
	if (mem_charge_resident(fs, SF_HUGE_PAGES))
		return -EAGAIN;
	ret = -ENOMEM;
	pg = sf_malloc(sizeof(*pg));
	if (!pg)
		goto out_uncharge;
	ret = pool_alloc_chunk(&fs->sf_pool, &pg->pg_data);
	if (ret)
		goto out_free;
	pg->pg_map = map;
	pg->pg_index = index;
	pg->pg_flags = SF_PG_REFERENCED | SF_PG_HUGE;
	ring_add(&fs->sf_pool, pg);
	fs->sf_pool.pl_huge++;
	*pgp = pg;
	return 0;

out_free:
	free(pg);
out_uncharge:
	mem_uncharge_resident(fs, SF_HUGE_PAGES);
	return ret;
}

void
page_count_fallback(struct shmemfs *fs)
{
	fs->sf_pool.pl_huge_fallbacks++;
}

void
page_count_collapse(struct shmemfs *fs)
{
	fs->sf_pool.pl_huge_collapses++;
}

/*
 * Split huge folio @pg into SF_HUGE_PAGES small pages over the same
 * memory, filed in its index in its place and put in its place on the
 * ring (so a reclaimer whose hand just passed it meets them next).  The
 * small pages stay marked as one logical folio of SF_HUGE_ORDER (page.h):
 * the caller splits that further if it means to.  The charges do not
 * change.  0, or -ENOMEM with @pg as it was.
 */
int
page_split(struct shmemfs *fs, struct sf_page *pg)
{
	struct sf_pool *pl = &fs->sf_pool;
	struct sf_page **small;
	struct sf_page *prev = NULL, *next = NULL;
	bool hand_next, alone;
	unsigned i;
	int ret = -ENOMEM;

	SF_ASSERT(page_is_huge(pg));
	SF_ASSERT(!page_pinned(pg)); /* a copy is in flight (page.h) */
	small = sf_malloc(SF_HUGE_PAGES * sizeof(*small));
	if (!small)
		return -ENOMEM;
	for (i = 0; i < SF_HUGE_PAGES; i++) {
		small[i] = sf_malloc(sizeof(*small[i]));
		if (!small[i])
			goto out_free;
		small[i]->pg_data = (char *)pg->pg_data +
				    ((size_t)i << SF_PAGE_SHIFT);
		small[i]->pg_map = pg->pg_map;
		small[i]->pg_index = pg->pg_index + i;
		/* still one logical folio: page.h, "Logical folios" */
		small[i]->pg_flags = (pg->pg_flags & ~SF_PG_HUGE) |
				     (SF_HUGE_ORDER << SF_PG_ORDER_SHIFT);
	}
	ret = pageidx_split(pg->pg_map, pg->pg_index, SF_HUGE_ORDER,
			    (void *const *)small);
	if (ret)
		goto out_free;

	/* Commit: the chunk's pages become the pool's small pages. */
	alone = pg->pg_next == pg;
	hand_next = pl->pl_clock == pg || pl->pl_clock == pg->pg_next;
	if (!alone) {
		prev = pg->pg_prev;
		next = pg->pg_next;
	}
	ring_del(pl, pg);
	for (i = 0; i < SF_HUGE_PAGES; i++) {
		if (alone && i == 0) {
			ring_add(pl, small[0]);
			continue;
		}
		if (!prev) {
			prev = small[0];
			next = small[0]->pg_next;
		}
		small[i]->pg_prev = prev;
		small[i]->pg_next = next;
		prev->pg_next = small[i];
		next->pg_prev = small[i];
		prev = small[i];
	}
	if (hand_next)
		pl->pl_clock = small[0];
	pl->pl_huge--;
	pl->pl_huge_splits++;
	free(pg);
	free(small);
	return 0;

out_free:
	while (i-- > 0)
		free(small[i]);
	free(small);
	return ret;
}

/*
 * Move the CLOCK hand to the next page to evict and return it, or NULL
 * when *@scan pages have been looked at or there are none.  The hand
 * passes a pinned page, and a referenced one after clearing its bit;
 * each page it passes costs one of *@scan.  The page returned stays on
 * the ring until page_free().
 */
struct sf_page *
page_clock_next(struct shmemfs *fs, uint64_t *scan)
{
	struct sf_pool *pl = &fs->sf_pool;

	while (*scan && pl->pl_clock) {
		struct sf_page *pg = pl->pl_clock;

		(*scan)--;
		pl->pl_clock = pg->pg_next;
		if (page_pinned(pg))
			continue;
		if (pg->pg_flags & SF_PG_REFERENCED) {
			pg->pg_flags &= ~SF_PG_REFERENCED;
			continue;
		}
		return pg;
	}
	return NULL;
}

/* The CLOCK ring is whole, each page is where its index says, and the
 * ring, the pool and the resident charge count the same pages. */
int
page_check(struct shmemfs *fs, char *msg, size_t len)
{
	struct sf_pool *pl = &fs->sf_pool;
	struct sf_page *pg = pl->pl_clock;
	uint64_t ring = 0;

	if (pg) {
		do {
			if (pg->pg_next->pg_prev != pg ||
			    pageidx_lookup(pg->pg_map, pg->pg_index) != pg) {
				snprintf(msg, len, "CLOCK ring broken");
				return -EUCLEAN;
			}
			ring += page_nr(pg);
			pg = pg->pg_next;
		} while (pg != pl->pl_clock && ring <= pl->pl_pages);
	}
	if (ring != mem_resident(fs) || ring != pl->pl_pages) {
		snprintf(msg, len, "memory: ring %llu resident %llu pool %llu",
			 (unsigned long long)ring,
			 (unsigned long long)mem_resident(fs),
			 (unsigned long long)pl->pl_pages);
		return -EUCLEAN;
	}
	return 0;
}
