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
 * one, cost more than the copy itself (measured: bench/).  So a new chunk
 * is populated in one call (MADV_POPULATE_WRITE), a freed page stays
 * mapped as "dirty free" and is zeroed when reused, and memory goes back
 * to the host in bulk: a chunk whose pages are all free is unmapped, and
 * when dirty free pages pile up past a threshold (pool_trim()) their runs
 * are released with MADV_DONTNEED, after which they read as zeros again.
 * RSS is therefore at most the pages in use plus the threshold plus the
 * unused tails of partly used chunks.
 *
 * Chunks are found from a page address through a pageidx keyed by
 * address >> 21.  Chunks with free pages sit on a list so allocation is
 * O(1) apart from a scan of a 512-bit map.  2 MiB alignment is also what
 * transparent huge pages will need.
 *
 * The prefault reserve: faulting a fresh chunk in is most of what a
 * sequential write into new memory costs (the kernel clears every page;
 * bench/README.md has the profile), and tmpfs does not clear a page
 * that a write fills.  So while a writer copies, a thread of the pool's
 * own maps and faults in the next chunks (ready_main()), off the mount
 * lock, and chunk_new() takes one of those when it can.  Bounded: at
 * most READY_MAX chunks of each kind (small-page chunks and huge
 * folios' chunks), grown by READY_STEP per chunk taken, so a lone small
 * write costs at most two spare chunks; all of them go back to the host
 * after READY_IDLE_MS without a take, when the mount is above its mem=
 * high watermark, and at unmount.  With mem= the reserve is at most
 * 1/32 of it.  Reserve chunks hold no file data and are not counted as
 * resident pages (mem=, resident_bytes): they are the daemon's overhead,
 * like its FUSE buffers.  The thread is started at the first chunk a
 * mount maps; without it (pthread_create failed) chunks fault in on
 * demand as before.
 *
 * => Must be called with sf_lock held (the pool is per mount).  The
 *    reserve has a lock of its own (rd_lock), taken under sf_lock and
 *    alone by the thread, which never takes sf_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

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

/* Dirty free pages allowed before pool_trim() gives them back. */
#define POOL_DIRTY_MIN 1024 /* 4 MiB */

struct sf_chunk {
	char *ck_base;
	struct sf_chunk *ck_next, *ck_prev; /* on pl_partial */
	uint32_t ck_nfree;
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

/*
 * Map a fresh 2 MiB-aligned chunk and fault it in; NULL when the host
 * gives no memory.  => no lock needed.
 */
static char *
chunk_map(bool huge)
{
	char *raw, *base;
	size_t head;

	/* Map twice the size, keep the aligned middle. */
	raw = mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	base = (char *)(((uintptr_t)raw + CHUNK_SIZE - 1) &
			~(uintptr_t)(CHUNK_SIZE - 1));
	head = (size_t)(base - raw);
	if (head)
		munmap(raw, head);
	munmap(base + CHUNK_SIZE, CHUNK_SIZE - head);
	/*
	 * A huge folio's chunk asks the host for one transparent huge page
	 * (THP is usually in madvise mode).  A chunk for small pages does
	 * not: in this paravirtualised guest with free page reporting, an
	 * order-9 page the guest has had free for a few seconds has been
	 * handed back to the host, and touching it again costs the host's
	 * faults (measured: 300 MB/s against 3000 for 4 KiB pages, which
	 * the guest takes from memory it still has; bench/README.md).  And
	 * small pages come and go one by one, which would split it anyway.
	 * Either way the chunk is faulted in with one call (best effort: an
	 * old kernel says EINVAL and the pages fault in one by one).
	 */
	madvise(base, CHUNK_SIZE, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	madvise(base, CHUNK_SIZE, MADV_POPULATE_WRITE);
	return base;
}

#define READY_MAX 8         /* chunks of each kind: 16 MiB */
#define READY_STEP 2        /* more wanted per chunk taken */
#define READY_IDLE_MS 1000  /* all released after this long without a take */

struct sf_ready {
	pthread_mutex_t rd_lock;   /* guards all below */
	pthread_cond_t rd_wake;
	pthread_t rd_thread;
	bool rd_running;           /* the thread exists */
	bool rd_stop;
	unsigned rd_n[2];          /* [huge] ready chunks */
	unsigned rd_want[2];       /* how many the thread keeps ready */
	char *rd_chunk[2][READY_MAX];
	uint64_t rd_takes;
};

/* Move every ready chunk beyond @cap of each kind into @out (at most
 * 2 * READY_MAX); their count.  => rd_lock held. */
static unsigned
ready_cut(struct sf_ready *rd, unsigned cap, char **out)
{
	unsigned k, n = 0;

	for (k = 0; k < 2; k++) {
		while (rd->rd_n[k] > cap)
			out[n++] = rd->rd_chunk[k][--rd->rd_n[k]];
		if (rd->rd_want[k] > cap)
			rd->rd_want[k] = cap;
	}
	return n;
}

static void
ready_unmap(char **chunks, unsigned n)
{
	while (n-- > 0)
		munmap(chunks[n], CHUNK_SIZE);
}

static void *
ready_main(void *arg)
{
	struct sf_ready *rd = arg;
	char *cut[2 * READY_MAX];

	pthread_mutex_lock(&rd->rd_lock);
	while (!rd->rd_stop) {
		struct timespec until;
		uint64_t takes;
		unsigned k, n;

		for (k = 0; k < 2 && rd->rd_n[k] >= rd->rd_want[k]; k++)
			;
		if (k < 2) {
			char *base;

			pthread_mutex_unlock(&rd->rd_lock);
			base = chunk_map(k == 1);
			pthread_mutex_lock(&rd->rd_lock);
			if (!base)
				rd->rd_want[k] = 0; /* until the next take */
			else if (rd->rd_n[k] < rd->rd_want[k] && !rd->rd_stop)
				rd->rd_chunk[k][rd->rd_n[k]++] = base;
			else
				munmap(base, CHUNK_SIZE);
			continue;
		}
		takes = rd->rd_takes;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += READY_IDLE_MS / 1000;
		until.tv_nsec += (long)(READY_IDLE_MS % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&rd->rd_wake, &rd->rd_lock,
					   &until) != ETIMEDOUT ||
		    rd->rd_stop || rd->rd_takes != takes)
			continue;
		/* Idle: give the reserve back. */
		n = ready_cut(rd, 0, cut);
		if (n) {
			pthread_mutex_unlock(&rd->rd_lock);
			ready_unmap(cut, n);
			pthread_mutex_lock(&rd->rd_lock);
		}
	}
	pthread_mutex_unlock(&rd->rd_lock);
	return NULL;
}

/* The reserve, its thread started; NULL when it cannot be had. */
static struct sf_ready *
ready_get(struct sf_pool *pl)
{
	struct sf_ready *rd = pl->pl_ready;

	if (rd)
		return rd->rd_running ? rd : NULL;
	/* Not sf_malloc: failure injection counts the caller's allocations,
	 * and this one happens once per mount. */
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	pthread_mutex_init(&rd->rd_lock, NULL);
	pthread_cond_init(&rd->rd_wake, NULL);
	pl->pl_ready = rd;
	rd->rd_running = pthread_create(&rd->rd_thread, NULL, ready_main,
					rd) == 0;
	return rd->rd_running ? rd : NULL;
}

/*
 * A ready chunk of the kind @huge asks for, or NULL; asks the thread to
 * keep up to @cap ready, and gives back what is above @cap.
 */
static char *
ready_take(struct sf_pool *pl, bool huge, unsigned cap)
{
	struct sf_ready *rd = cap ? ready_get(pl) : pl->pl_ready;
	char *cut[2 * READY_MAX], *base = NULL;
	unsigned n;

	if (!rd)
		return NULL;
	pthread_mutex_lock(&rd->rd_lock);
	if (rd->rd_n[huge])
		base = rd->rd_chunk[huge][--rd->rd_n[huge]];
	if (cap) {
		rd->rd_takes++;
		rd->rd_want[huge] += READY_STEP;
	}
	n = ready_cut(rd, cap, cut);
	pthread_cond_signal(&rd->rd_wake);
	pthread_mutex_unlock(&rd->rd_lock);
	ready_unmap(cut, n);
	return base;
}

static void
ready_stop(struct sf_pool *pl)
{
	struct sf_ready *rd = pl->pl_ready;
	char *cut[2 * READY_MAX];
	unsigned n;

	if (!rd)
		return;
	pthread_mutex_lock(&rd->rd_lock);
	rd->rd_stop = true;
	pthread_cond_signal(&rd->rd_wake);
	pthread_mutex_unlock(&rd->rd_lock);
	if (rd->rd_running)
		pthread_join(rd->rd_thread, NULL);
	n = ready_cut(rd, 0, cut);
	ready_unmap(cut, n);
	pthread_cond_destroy(&rd->rd_wake);
	pthread_mutex_destroy(&rd->rd_lock);
	free(rd);
	pl->pl_ready = NULL;
}

/* Chunks in the prefault reserve now (for tests). */
unsigned
page_ready_chunks(struct shmemfs *fs)
{
	struct sf_ready *rd = fs->sf_pool.pl_ready;
	unsigned n;

	if (!rd)
		return 0;
	pthread_mutex_lock(&rd->rd_lock);
	n = rd->rd_n[0] + rd->rd_n[1];
	pthread_mutex_unlock(&rd->rd_lock);
	return n;
}

/*
 * A new chunk, faulted in, on pl_partial: from the reserve when it has
 * one (@cap: see ready_take()), else mapped now.
 */
static struct sf_chunk *
chunk_new(struct sf_pool *pl, bool huge, unsigned cap)
{
	struct sf_chunk *ck = sf_malloc(sizeof(*ck));
	char *base;

	if (!ck)
		return NULL;
	base = ready_take(pl, huge, cap);
	if (!base)
		base = chunk_map(huge);
	if (!base)
		goto out_free;
	if (pageidx_store(&pl->pl_chunks, (uintptr_t)base >> CHUNK_SHIFT,
			  ck))
		goto out_unmap;
	ck->ck_base = base;
	ck->ck_nfree = CHUNK_PAGES;
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
pool_alloc(struct sf_pool *pl, unsigned cap, void **datap)
{
	struct sf_chunk *ck = pl->pl_partial;
	unsigned w, bit;
	char *page;

	if (sf_fail_after > 0 && sf_should_fail())
		return -ENOMEM;
	if (!ck) {
		ck = chunk_new(pl, false, cap);
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
pool_alloc_chunk(struct sf_pool *pl, unsigned cap, void **datap)
{
	struct sf_chunk *ck;

	if (sf_fail_after > 0 && sf_should_fail())
		return -ENOMEM;
	ck = chunk_new(pl, true, cap);
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
	ready_stop(pl);
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
 * How many chunks of a kind the prefault reserve may hold now: none
 * above the mem= high watermark, at most 1/32 of mem=.
 */
static unsigned
ready_cap(const struct shmemfs *fs)
{
	uint64_t max = mem_resident_max(fs) / (CHUNK_PAGES * 32);

	if (!mem_resident_max(fs))
		return READY_MAX;
	if (mem_above_high(fs))
		return 0;
	return max < READY_MAX ? (unsigned)max : READY_MAX;
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
	ret = pool_alloc(&fs->sf_pool, ready_cap(fs), &pg->pg_data);
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
	ret = pool_alloc_chunk(&fs->sf_pool, ready_cap(fs), &pg->pg_data);
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
 * charges do not change.  0, or -ENOMEM with @pg as it was.
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
		small[i]->pg_flags = pg->pg_flags & ~SF_PG_HUGE;
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
 * Call @fn on every huge folio (ShmemHugePages' folios).  @fn may split
 * or free the folio it is given, and nothing else.  Best effort: when
 * the list of folios cannot be allocated, nothing is called.
 */
void
page_for_each_huge(struct shmemfs *fs,
		   void (*fn)(struct shmemfs *fs, struct sf_page *pg,
			      void *arg),
		   void *arg)
{
	struct sf_pool *pl = &fs->sf_pool;
	struct sf_page **list, *pg = pl->pl_clock;
	uint64_t n = 0, i;

	if (!pg || !pl->pl_huge)
		return;
	list = sf_malloc(pl->pl_huge * sizeof(*list));
	if (!list)
		return;
	do {
		if (page_is_huge(pg))
			list[n++] = pg;
		pg = pg->pg_next;
	} while (pg != pl->pl_clock && n < pl->pl_huge);
	for (i = 0; i < n; i++)
		fn(fs, list[i], arg);
	free(list);
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
		if (pg->pg_flags & SF_PG_PINNED)
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
