/* SPDX-License-Identifier: MIT */
/*
 * test_concurrency.c - many threads on one struct shmemfs.
 *
 *   test_concurrency [-t THREADS] [-d SECONDS] [-s SEED] [-n] [-H]
 *
 * THREADS (default 8) hammer one mount for SECONDS (default 3, or
 * $CONC_SECONDS) with a mem= budget and a swap file (-n: no swap), so the
 * background reclaimer runs too.  Each thread has a role (thread i has
 * role i % 8):
 *
 *   churn    creates, renames (also RENAME_EXCHANGE) and unlinks names in
 *            directory "w"; every name it makes is new, never reused
 *   walker   reads "w" in small batches, the lock dropped between them,
 *            while churn changes it: a walk must give "." and ".." first,
 *            no name twice, and each of the 16 names that never change
 *            exactly once (the cookie contract in shmemfs.h)
 *   dirmove  moves the directories d0..d3 into each other and swaps them
 *            (RENAME_EXCHANGE), so moves into a descendant race with the
 *            moves that would have made them legal: EINVAL, ENOENT...
 *   data     page-aligned writes, reads, truncates, fallocate, punch and
 *            SEEK_DATA/SEEK_HOLE on the shared files f0..f3; every page
 *            written describes itself, so a reader checks that each page
 *            it gets is zeros or one whole, correct write
 *   xattr    set/get/list/remove xattrs on the shared inodes; values
 *            describe themselves too
 *   lookup   lookup and forget, getattr, readdirplus anywhere
 *   files    mknod, mkdir, link, unlink, rmdir, rename and exchange of
 *            files and directories across d0..d3 (wherever they are)
 *   misc     copy_file_range between the shared files, open/release,
 *            statfs, stats, swapoff/swapon
 *
 * -H: the mount is huge=always and made by shmemfs_mount(), so its
 * background collapse thread runs, and one more thread loops a collapse
 * pass and the huge shrinker against all of the above.
 *
 * Then, with swap, a second short phase on a mount with a large mem=
 * budget: a file of over 1024 swapped pages (swapoff drops the lock
 * every 1024 pages it brings back) while one thread loops swapoff and
 * swapon, and the others write, read (checking every page), truncate
 * and punch it; the writers keep pushing it past the budget, so pages
 * go back out to swap all the time.
 *
 * An errno outside what each call may return fails the test.  At the end
 * every reference is dropped, shmemfs_check() must pass, everything
 * alive must be reachable from the root (no directory cut off in a
 * loop), and shmemfs_destroy() must be clean (ASan and TSan builds check
 * that).  Prints one summary line; exits 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmemfs.h"
/* fail(), the stop flag and rnd() are this file's own */
#define STRESS_ARGS_ONLY
#include "stress.h"

#define NDIRS 4          /* d0..d3 */
#define NFILES 4         /* f0..f3 */
#define NSTABLE 16       /* w/s00..s15 */
#define PAGE 4096
#define FILE_PAGES 24    /* shared files stay below this many pages */
#define MAX_WALK 4096

enum role {
	R_CHURN, R_WALKER, R_DIRMOVE, R_DATA, R_XATTR, R_LOOKUP, R_FILES,
	R_MISC, R_NR,
};

static const char *const role_names[R_NR] = {
	"churn", "walker", "dirmove", "data", "xattr", "lookup", "files",
	"misc",
};

static struct shmemfs *fs;
static const struct shmemfs_ctx ctx = {.sc_uid = 1000, .sc_gid = 1000};
static uint64_t dir_ino[NDIRS], file_ino[NFILES], w_ino;
static atomic_bool stop;
static atomic_int failures;
static atomic_ullong nops[R_NR];
static atomic_ullong n_walks, n_dir_moves, n_dir_einval, n_exchanges;
static atomic_ullong n_pages_checked;

static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr);
	fprintf(stderr, "test_concurrency: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	if (atomic_fetch_add(&failures, 1) > 20)
		abort();
	atomic_store(&stop, true);
}

/* Fail unless @ret is >= 0 or minus one of the errnos listed. */
static bool
ok_(const char *what, long ret, const int *allowed)
{
	if (ret >= 0)
		return true;
	for (; *allowed; allowed++)
		if (ret == -*allowed)
			return false;
	fail("%s: unexpected error %ld (%s)", what, ret, strerror((int)-ret));
	return false;
}

#define OK(what, ret, ...)                                                 \
	ok_((what), (long)(ret), (const int[]){__VA_ARGS__, 0})

struct rng {
	uint64_t r_s;
};

static uint64_t
rnd(struct rng *r)
{
	r->r_s ^= r->r_s << 13;
	r->r_s ^= r->r_s >> 7;
	r->r_s ^= r->r_s << 17;
	return r->r_s;
}

static unsigned
below(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

/* Self-describing pages: a header naming index and seed, then a fill. */
static void
page_fill(uint8_t *p, uint64_t index, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + index + 1;
	uint64_t hdr[2] = {0x53484d454d465321ull ^ index, seed};
	size_t i;

	memcpy(p, hdr, sizeof(hdr));
	for (i = sizeof(hdr); i < PAGE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void
page_verify(const char *what, const uint8_t *p, uint64_t ino, uint64_t index)
{
	static const uint8_t zero[PAGE];
	uint8_t want[PAGE];
	uint64_t hdr[2];

	atomic_fetch_add(&n_pages_checked, 1);
	if (!memcmp(p, zero, PAGE))
		return;
	memcpy(hdr, p, sizeof(hdr));
	page_fill(want, index, hdr[1]);
	if (memcmp(p, want, PAGE))
		fail("%s: ino %" PRIu64 " page %" PRIu64 " is torn or "
		     "misplaced", what, ino, index);
}

/* A name no thread ever made before. */
static void
fresh_name(char *buf, size_t len, unsigned tid, uint64_t *counter)
{
	snprintf(buf, len, "t%u_%" PRIu64, tid, (*counter)++);
}

/* Role: churn in "w". */
static void
do_churn(unsigned tid, struct rng *r)
{
	char names[8][32];
	unsigned n = 0, i;
	uint64_t counter = 0;
	struct shmemfs_attr a;
	int ret;

	while (!atomic_load(&stop)) {
		switch (below(r, 5)) {
		case 0:
		case 1:
			if (n == 8)
				break;
			fresh_name(names[n], sizeof(names[n]), tid, &counter);
			ret = shmemfs_mknod(fs, &ctx, w_ino, names[n],
					    S_IFREG | 0644, 0, &a);
			if (OK("churn mknod", ret, ENOSPC)) {
				shmemfs_forget(fs, a.sa_st.st_ino, 1);
				n++;
			}
			break;
		case 2:
			if (!n)
				break;
			i = below(r, n);
			ret = shmemfs_unlink(fs, w_ino, names[i]);
			OK("churn unlink", ret, 0);
			memcpy(names[i], names[--n], sizeof(names[i]));
			break;
		case 3: {
			char nn[32];

			if (!n)
				break;
			i = below(r, n);
			fresh_name(nn, sizeof(nn), tid, &counter);
			ret = shmemfs_rename(fs, w_ino, names[i], w_ino, nn,
					     SHMEMFS_RENAME_NOREPLACE);
			if (OK("churn rename", ret, ENOSPC, ENOMEM))
				memcpy(names[i], nn, sizeof(nn));
			break;
		}
		default:
			if (n < 2)
				break;
			i = below(r, n - 1);
			ret = shmemfs_rename(fs, w_ino, names[i], w_ino,
					     names[n - 1],
					     SHMEMFS_RENAME_EXCHANGE);
			OK("churn exchange", ret, 0);
			atomic_fetch_add(&n_exchanges, 1);
			break;
		}
		atomic_fetch_add(&nops[R_CHURN], 1);
	}
	for (i = 0; i < n; i++)
		OK("churn cleanup", shmemfs_unlink(fs, w_ino, names[i]), 0);
}

/* Role: walker. */
struct walk {
	char (*w_names)[40];
	uint64_t *w_inos;
	unsigned w_n, w_batch, w_taken;
	uint64_t w_next;
	bool w_overflow;
};

static int
walk_fill(void *arg, const char *name, const struct shmemfs_attr *attr,
	  uint64_t next)
{
	struct walk *w = arg;

	if (w->w_taken == w->w_batch)
		return 1;
	if (w->w_n == MAX_WALK) {
		w->w_overflow = true;
		return 1;
	}
	snprintf(w->w_names[w->w_n], sizeof(w->w_names[0]), "%s", name);
	w->w_inos[w->w_n] = attr->sa_st.st_ino;
	w->w_n++;
	w->w_taken++;
	w->w_next = next;
	return 0;
}

/* Walk @dir, @batch entries per call; 0 or the readdir error. */
static int
walk_dir(uint64_t dir, int plus, unsigned batch, struct walk *w)
{
	int ret;

	w->w_n = 0;
	w->w_next = 0;
	w->w_overflow = false;
	w->w_batch = batch;
	for (;;) {
		w->w_taken = 0;
		ret = shmemfs_readdir(fs, dir, w->w_next, plus, walk_fill, w);
		if (plus) {
			unsigned i;

			for (i = w->w_n - w->w_taken; i < w->w_n; i++)
				if (strcmp(w->w_names[i], ".") &&
				    strcmp(w->w_names[i], ".."))
					shmemfs_forget(fs, w->w_inos[i], 1);
		}
		if (ret || !w->w_taken || w->w_overflow)
			return ret;
	}
}

static struct walk *
walk_new(void)
{
	struct walk *w = calloc(1, sizeof(*w));

	if (!w || !(w->w_names = calloc(MAX_WALK, sizeof(*w->w_names))) ||
	    !(w->w_inos = calloc(MAX_WALK, sizeof(*w->w_inos)))) {
		fprintf(stderr, "test_concurrency: out of memory\n");
		exit(1);
	}
	return w;
}

static void
walk_free(struct walk *w)
{
	free(w->w_names);
	free(w->w_inos);
	free(w);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
do_walker(struct rng *r)
{
	struct walk *w = walk_new();
	unsigned i, stable;
	int ret;

	while (!atomic_load(&stop)) {
		ret = walk_dir(w_ino, (int)below(r, 2), 1 + below(r, 4), w);
		if (!OK("walk readdir", ret, 0))
			break;
		if (w->w_overflow) {
			fail("walk: more than %d entries", MAX_WALK);
			break;
		}
		if (w->w_n < 2 || strcmp(w->w_names[0], ".") ||
		    strcmp(w->w_names[1], "..")) {
			fail("walk: no '.' and '..' first");
			break;
		}
		qsort(w->w_names + 2, w->w_n - 2, sizeof(w->w_names[0]),
		      cmp_names);
		stable = 0;
		for (i = 2; i < w->w_n; i++) {
			if (i > 2 && !strcmp(w->w_names[i],
					     w->w_names[i - 1]))
				fail("walk: '%s' returned twice in one walk",
				     w->w_names[i]);
			stable += w->w_names[i][0] == 's';
		}
		if (stable != NSTABLE)
			fail("walk: %u of the %d stable names", stable,
			     NSTABLE);
		atomic_fetch_add(&n_walks, 1);
		atomic_fetch_add(&nops[R_WALKER], 1);
	}
	walk_free(w);
}

/* Role: dirmove.  The parent dK is in now (a guess: it may change). */
static uint64_t
find_parent(const char *name)
{
	struct shmemfs_attr a;
	unsigned i;

	if (!shmemfs_lookup(fs, SHMEMFS_ROOT_INO, name, &a)) {
		shmemfs_forget(fs, a.sa_st.st_ino, 1);
		return SHMEMFS_ROOT_INO;
	}
	for (i = 0; i < NDIRS; i++) {
		if (!shmemfs_lookup(fs, dir_ino[i], name, &a)) {
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
			return dir_ino[i];
		}
	}
	return SHMEMFS_ROOT_INO;
}

static uint64_t
any_parent(struct rng *r)
{
	unsigned k = below(r, NDIRS + 2);

	return k >= NDIRS ? SHMEMFS_ROOT_INO : dir_ino[k];
}

static void
do_dirmove(struct rng *r)
{
	char a[4], b[4];
	int ret;

	while (!atomic_load(&stop)) {
		unsigned x = below(r, NDIRS), y = below(r, NDIRS);
		unsigned flags = below(r, 3) == 0 ? SHMEMFS_RENAME_EXCHANGE : 0;
		uint64_t px, py;

		snprintf(a, sizeof(a), "d%u", x);
		snprintf(b, sizeof(b), "d%u", y);
		px = find_parent(a);
		py = flags ? find_parent(b) : any_parent(r);
		ret = shmemfs_rename(fs, px, a, py, flags ? b : a, flags);
		if (OK("dirmove rename", ret, ENOENT, EINVAL, ENOTEMPTY,
		       EEXIST, ENOMEM, ENOSPC))
			atomic_fetch_add(&n_dir_moves, 1);
		if (ret == -EINVAL)
			atomic_fetch_add(&n_dir_einval, 1);
		atomic_fetch_add(&nops[R_DIRMOVE], 1);
	}
}

/* Role: data on the shared files. */
static void
read_verify(const char *what, uint64_t ino, uint64_t first, unsigned pages,
	    uint8_t *buf)
{
	ssize_t n;
	unsigned i;

	n = shmemfs_read(fs, ino, buf, (size_t)pages * PAGE,
			 (int64_t)(first * PAGE));
	if (!OK(what, n, ENOMEM))
		return;
	if (n % PAGE)
		fail("%s: read of whole pages returned %zd", what, n);
	for (i = 0; i < (unsigned)(n / PAGE); i++)
		page_verify(what, buf + (size_t)i * PAGE, ino, first + i);
}

static void
do_data(struct rng *r)
{
	uint8_t *buf = malloc(8 * PAGE);
	int64_t off, d, h;
	struct shmemfs_setattr sa;
	ssize_t n;
	int ret;

	if (!buf)
		return;
	while (!atomic_load(&stop)) {
		uint64_t ino = file_ino[below(r, NFILES)];
		uint64_t first = below(r, FILE_PAGES - 4);
		unsigned pages = 1 + below(r, 4), i;

		switch (below(r, 8)) {
		case 0:
		case 1:
		case 2:
			for (i = 0; i < pages; i++)
				page_fill(buf + (size_t)i * PAGE, first + i,
					  rnd(r));
			n = shmemfs_write(fs, ino, buf, (size_t)pages * PAGE,
					  (int64_t)(first * PAGE));
			if (OK("data write", n, ENOSPC, ENOMEM) &&
			    n % PAGE)
				fail("data write: %zd bytes", n);
			break;
		case 3:
		case 4:
			read_verify("data read", ino, first, pages, buf);
			break;
		case 5:
			memset(&sa, 0, sizeof(sa));
			sa.ss_size = (uint64_t)below(r, FILE_PAGES) * PAGE;
			ret = shmemfs_setattr(fs, ino, SHMEMFS_SET_SIZE, &sa,
					      NULL);
			OK("data truncate", ret, ENOMEM);
			break;
		case 6:
			ret = shmemfs_fallocate(
				fs, ino,
				below(r, 2) ? SHMEMFS_FALLOC_PUNCH_HOLE |
						      SHMEMFS_FALLOC_KEEP_SIZE
					    : below(r, 2),
				(int64_t)(first * PAGE),
				(int64_t)pages * PAGE);
			OK("data fallocate", ret, ENOSPC, ENOMEM);
			break;
		default:
			off = (int64_t)(first * PAGE + below(r, PAGE));
			d = shmemfs_lseek(fs, ino, off, SEEK_DATA);
			h = shmemfs_lseek(fs, ino, off, SEEK_HOLE);
			OK("data SEEK_DATA", d, ENXIO);
			OK("data SEEK_HOLE", h, ENXIO);
			if ((d >= 0 && d < off) || (h >= 0 && h < off))
				fail("lseek from %" PRId64 ": data %" PRId64
				     " hole %" PRId64, off, d, h);
			break;
		}
		atomic_fetch_add(&nops[R_DATA], 1);
	}
	free(buf);
}

/* Role: xattrs.  A value is its name's seed, then bytes from the seed. */
static void
xval_fill(uint8_t *v, size_t len, uint32_t seed)
{
	size_t i;

	memcpy(v, &seed, sizeof(seed));
	for (i = sizeof(seed); i < len; i++)
		v[i] = (uint8_t)(seed * 31 + i * 7);
}

static void
do_xattr(struct rng *r)
{
	static const char *const names[] = {"user.a", "user.b", "trusted.c",
					    "security.d"};
	uint8_t v[256], want[256];
	char list[256];
	ssize_t n;
	int ret;

	while (!atomic_load(&stop)) {
		uint64_t ino = below(r, 2) ? file_ino[below(r, NFILES)]
					   : dir_ino[below(r, NDIRS)];
		const char *name = names[below(r, 4)];
		uint32_t seed = (uint32_t)rnd(r);
		size_t len = 4 + seed % 200;

		switch (below(r, 4)) {
		case 0:
			xval_fill(v, len, seed);
			ret = shmemfs_setxattr(fs, ino, name, v, len,
					       (int)below(r, 3));
			OK("setxattr", ret, EEXIST, ENODATA, ENOMEM, ENOSPC);
			break;
		case 1:
			n = shmemfs_getxattr(fs, ino, name, v, sizeof(v));
			if (!OK("getxattr", n, ENODATA))
				break;
			if (n < 4) {
				fail("getxattr: %zd bytes", n);
				break;
			}
			memcpy(&seed, v, sizeof(seed));
			xval_fill(want, (size_t)n, seed);
			if ((size_t)n != 4 + seed % 200 ||
			    memcmp(v, want, (size_t)n))
				fail("getxattr: value torn");
			break;
		case 2:
			ret = shmemfs_removexattr(fs, ino, name);
			OK("removexattr", ret, ENODATA);
			break;
		default:
			n = shmemfs_listxattr(fs, ino, list, sizeof(list));
			OK("listxattr", n, 0);
			break;
		}
		atomic_fetch_add(&nops[R_XATTR], 1);
	}
}

/* Role: lookup and forget, getattr, readdirplus. */
static void
do_lookup(struct rng *r)
{
	static const char *const names[] = {
		"d0", "d1", "d2", "d3", "f0", "f1", "w", "x0", "x1", "y0",
		"s00", ".", "..",
	};
	struct walk *w = walk_new();
	struct shmemfs_attr a;
	int ret;

	while (!atomic_load(&stop)) {
		uint64_t dir = any_parent(r);

		switch (below(r, 8)) {
		case 0:
			if (below(r, 4) == 0)
				dir = w_ino;
			ret = walk_dir(dir, 1, 1 + below(r, 8), w);
			OK("lookup readdirplus", ret, 0);
			break;
		default:
			ret = shmemfs_lookup(fs, dir,
					     names[below(r, 13)], &a);
			if (!OK("lookup", ret, ENOENT))
				break;
			if (shmemfs_getattr(fs, a.sa_st.st_ino, &a))
				fail("getattr of a looked-up inode failed");
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
			break;
		}
		atomic_fetch_add(&nops[R_LOOKUP], 1);
	}
	walk_free(w);
}

/* Role: files and leaf directories across d0..d3. */
static void
do_files(struct rng *r)
{
	static const char *const xs[] = {"x0", "x1", "x2", "x3"};
	static const char *const ys[] = {"y0", "y1"};
	struct shmemfs_attr a;
	int ret;

	while (!atomic_load(&stop)) {
		uint64_t d1 = dir_ino[below(r, NDIRS)];
		uint64_t d2 = dir_ino[below(r, NDIRS)];
		const char *x = xs[below(r, 4)], *x2 = xs[below(r, 4)];
		const char *y = ys[below(r, 2)];

		switch (below(r, 9)) {
		case 0:
			ret = shmemfs_mknod(fs, &ctx, d1, x, S_IFREG | 0600,
					    0, &a);
			if (OK("files mknod", ret, EEXIST, ENOSPC, ENOMEM))
				shmemfs_forget(fs, a.sa_st.st_ino, 1);
			break;
		case 1:
			ret = shmemfs_mkdir(fs, &ctx, d1, y, 0700, &a);
			if (OK("files mkdir", ret, EEXIST, ENOSPC, ENOMEM))
				shmemfs_forget(fs, a.sa_st.st_ino, 1);
			break;
		case 2:
			ret = shmemfs_lookup(fs, d1, x, &a);
			if (!OK("files lookup", ret, ENOENT))
				break;
			/* A new link takes a reference, as create calls do. */
			ret = shmemfs_link(fs, a.sa_st.st_ino, d2, x2, NULL);
			if (OK("files link", ret, EEXIST, EPERM, ENOENT,
			       ENOMEM, ENOSPC))
				shmemfs_forget(fs, a.sa_st.st_ino, 1);
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
			break;
		case 3:
			ret = shmemfs_unlink(fs, d1, x);
			OK("files unlink", ret, ENOENT, EISDIR);
			break;
		case 4:
			ret = shmemfs_rmdir(fs, d1, y);
			OK("files rmdir", ret, ENOENT, ENOTDIR, ENOTEMPTY);
			break;
		case 5:
			ret = shmemfs_rename(fs, d1, x, d2, x2,
					     below(r, 2) ?
						SHMEMFS_RENAME_NOREPLACE : 0);
			OK("files rename", ret, ENOENT, EEXIST, EISDIR,
			   ENOTDIR, ENOTEMPTY, ENOMEM);
			break;
		case 6:
			ret = shmemfs_rename(fs, d1, y, d2, below(r, 2) ? y : x,
					     0);
			OK("files rename dir", ret, ENOENT, EEXIST, EISDIR,
			   ENOTDIR, ENOTEMPTY, ENOMEM);
			break;
		default:
			ret = shmemfs_rename(fs, d1, below(r, 2) ? x : y, d2,
					     below(r, 2) ? x2 : y,
					     SHMEMFS_RENAME_EXCHANGE);
			if (OK("files exchange", ret, ENOENT))
				atomic_fetch_add(&n_exchanges, 1);
			break;
		}
		atomic_fetch_add(&nops[R_FILES], 1);
	}
}

/* Role: copies, opens, statistics, swapoff/swapon. */
static void
do_misc(struct rng *r)
{
	uint8_t *buf = malloc(4 * PAGE);
	struct shmemfs_stats st;
	struct statvfs sv;
	ssize_t n;
	int ret;

	if (!buf)
		return;
	while (!atomic_load(&stop)) {
		unsigned a = below(r, NFILES), b = below(r, NFILES);
		uint64_t first = below(r, FILE_PAGES - 4);
		unsigned pages = 1 + below(r, 4);

		switch (below(r, 16) / 2) {
		case 0:
		case 1:
		case 2:
			/* Same offsets, so a page keeps its index. */
			if (a == b)
				break;
			n = shmemfs_copy_file_range(
				fs, file_ino[a], (int64_t)(first * PAGE),
				file_ino[b], (int64_t)(first * PAGE),
				(size_t)pages * PAGE);
			OK("copy_file_range", n, ENOSPC, ENOMEM);
			break;
		case 3:
		case 4:
			ret = shmemfs_open(fs, file_ino[a]);
			if (!OK("open", ret, 0))
				break;
			read_verify("misc read", file_ino[a], first, pages,
				    buf);
			shmemfs_release(fs, file_ino[a]);
			break;
		case 5:
			shmemfs_statfs(fs, &sv);
			shmemfs_get_stats(fs, &st);
			if (st.size_limit_bytes &&
			    st.used_bytes > st.size_limit_bytes)
				fail("used %" PRIu64 " of %" PRIu64,
				     st.used_bytes, st.size_limit_bytes);
			break;
		case 6:
			ret = shmemfs_swapoff(fs);
			OK("swapoff", ret, EINVAL, ENOMEM);
			break;
		default:
			ret = shmemfs_swapon(fs);
			OK("swapon", ret, EINVAL);
			break;
		}
		atomic_fetch_add(&nops[R_MISC], 1);
	}
	free(buf);
}

static uint64_t make(uint64_t dir, const char *name, bool isdir);

/* Phase 2: swapoff against a big swapped file. */
#define BIG_PAGES 2300   /* the file's extent */
#define BIG_BUDGET 1100  /* mem=, in pages */

static uint64_t big_ino;
static atomic_bool big_go;   /* the first swapoff is about to start */
static atomic_ullong n_swapoffs, n_swapoff_ok, n_swapoff_big;

static void *
big_main(void *arg)
{
	struct thread_arg_big {
		unsigned id;
		uint64_t seed;
	} *ta = arg;
	struct rng r = {.r_s = ta->seed * 2654435761u + ta->id + 101};
	uint8_t *buf = malloc(8 * PAGE);
	struct shmemfs_setattr sa;
	ssize_t n;
	int ret;

	if (!buf)
		return NULL;
	/*
	 * The others start as the first swapoff does, so that they run in
	 * the gaps it leaves while it brings back the >1024 pages.
	 */
	if (ta->id == 0)
		atomic_store(&big_go, true);
	while (!atomic_load(&big_go) && !atomic_load(&stop))
		sched_yield();
	while (!atomic_load(&stop)) {
		uint64_t first = below(&r, BIG_PAGES - 8);
		unsigned pages = 1 + below(&r, 8), i;

		if (ta->id == 0) {
			struct shmemfs_stats st;

			shmemfs_get_stats(fs, &st);
			ret = shmemfs_swapoff(fs);
			atomic_fetch_add(&n_swapoffs, 1);
			if (OK("big swapoff", ret, ENOMEM))
				atomic_fetch_add(&n_swapoff_ok, 1);
			/* more than 1024 pages to bring back: the lock drops */
			if (!ret && st.swapped_bytes / PAGE > 1024)
				atomic_fetch_add(&n_swapoff_big, 1);
			OK("big swapon", shmemfs_swapon(fs), 0);
			continue;
		}
		switch (ta->id % 4) {
		case 1:
		case 2:
			for (i = 0; i < pages; i++)
				page_fill(buf + (size_t)i * PAGE, first + i,
					  rnd(&r));
			n = shmemfs_write(fs, big_ino, buf,
					  (size_t)pages * PAGE,
					  (int64_t)(first * PAGE));
			OK("big write", n, ENOSPC, ENOMEM);
			break;
		case 3:
			read_verify("big read", big_ino, first, pages, buf);
			break;
		default:
			if (below(&r, 8) == 0) {
				memset(&sa, 0, sizeof(sa));
				sa.ss_size = (uint64_t)(BIG_PAGES / 2 +
					below(&r, BIG_PAGES / 2)) * PAGE;
				ret = shmemfs_setattr(fs, big_ino,
						      SHMEMFS_SET_SIZE, &sa,
						      NULL);
				OK("big truncate", ret, ENOMEM);
			} else {
				ret = shmemfs_fallocate(
					fs, big_ino,
					SHMEMFS_FALLOC_PUNCH_HOLE |
						SHMEMFS_FALLOC_KEEP_SIZE,
					(int64_t)(first * PAGE),
					(int64_t)pages * PAGE);
				OK("big punch", ret, ENOMEM);
			}
			break;
		}
	}
	free(buf);
	return NULL;
}

/*
 * Fill a file past the budget so that more than 1024 pages are in swap,
 * drop the resident tail (the newest pages; reclaim took the oldest), so
 * that the swapped pages fit the budget and swapoff can take them all
 * back, then race swapoff with the rest.
 */
static void
phase_big(const char *swapdir, unsigned nthreads, double seconds,
	  uint64_t seed)
{
	struct {
		unsigned id;
		uint64_t seed;
	} args[8];
	char optstr[256], msg[256];
	struct shmemfs_opts o;
	struct shmemfs_setattr sa;
	struct shmemfs_stats st;
	uint8_t *buf = malloc(PAGE);
	pthread_t tids[8];
	unsigned i;
	int ret;

	if (!buf)
		return;
	shmemfs_opts_init(&o);
	snprintf(optstr, sizeof(optstr), "size=16m,mem=%uk,swap=%s/swap2,"
		 "swapsize=16m", BIG_BUDGET * 4, swapdir);
	ret = shmemfs_opts_parse(&o, optstr, NULL, 0, msg, sizeof(msg));
	if (!ret)
		ret = shmemfs_new(&fs, &o);
	shmemfs_opts_free(&o);
	if (ret) {
		fail("phase 2 mount: %d %s", ret, msg);
		free(buf);
		return;
	}
	big_ino = make(SHMEMFS_ROOT_INO, "big", false);
	for (i = 0; i < BIG_PAGES; i++) {
		page_fill(buf, i, seed + i);
		OK("big fill", shmemfs_write(fs, big_ino, buf, PAGE,
					     (int64_t)i * PAGE), 0);
	}
	memset(&sa, 0, sizeof(sa));
	sa.ss_size = (uint64_t)(BIG_BUDGET - 40) * PAGE;
	OK("big truncate", shmemfs_setattr(fs, big_ino, SHMEMFS_SET_SIZE, &sa,
					   NULL), 0);
	shmemfs_get_stats(fs, &st);
	if (st.swapped_bytes / PAGE <= 1024)
		fprintf(stderr, "test_concurrency: note: only %" PRIu64
			" pages in swap before phase 2\n",
			st.swapped_bytes / PAGE);
	if (nthreads > 8)
		nthreads = 8;
	if (nthreads < 2)
		nthreads = 2;
	atomic_store(&stop, false);  /* phase 1 set it */
	for (i = 0; i < nthreads; i++) {
		args[i].id = i;
		args[i].seed = seed;
		if (pthread_create(&tids[i], NULL, big_main, &args[i])) {
			fail("pthread_create");
			nthreads = i;
			break;
		}
	}
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, true);
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	read_verify("big final read", big_ino, 0, 1, buf);
	shmemfs_forget(fs, big_ino, 1);
	ret = shmemfs_check(fs, msg, sizeof(msg));
	if (ret)
		fail("phase 2 shmemfs_check: %s", msg);
	shmemfs_destroy(fs);
	fs = NULL;
	free(buf);
}

struct thread_arg {
	unsigned ta_id;
	uint64_t ta_seed;
};

static void *
thread_main(void *arg)
{
	struct thread_arg *ta = arg;
	struct rng r = {.r_s = ta->ta_seed * 2654435761u + ta->ta_id + 1};

	switch ((enum role)(ta->ta_id % R_NR)) {
	case R_CHURN:
		do_churn(ta->ta_id, &r);
		break;
	case R_WALKER:
		do_walker(&r);
		break;
	case R_DIRMOVE:
		do_dirmove(&r);
		break;
	case R_DATA:
		do_data(&r);
		break;
	case R_XATTR:
		do_xattr(&r);
		break;
	case R_LOOKUP:
		do_lookup(&r);
		break;
	case R_FILES:
		do_files(&r);
		break;
	case R_MISC:
		do_misc(&r);
		break;
	case R_NR:
		break;
	}
	return NULL;
}

/* Setup: the shared directories and files, each with one reference. */
static uint64_t
make(uint64_t dir, const char *name, bool isdir)
{
	struct shmemfs_attr a;
	int ret;

	ret = isdir ? shmemfs_mkdir(fs, &ctx, dir, name, 0755, &a)
		    : shmemfs_mknod(fs, &ctx, dir, name, S_IFREG | 0644, 0,
				    &a);
	if (ret) {
		fprintf(stderr, "test_concurrency: setup %s: %s\n", name,
			strerror(-ret));
		exit(1);
	}
	return a.sa_st.st_ino;
}

/* Everything alive must be reachable from the root. */
static unsigned
count_reachable(uint64_t dir, uint64_t *seen, unsigned nseen, unsigned max,
		unsigned depth, uint64_t *blocks)
{
	struct walk *w = walk_new();
	struct shmemfs_attr a;
	unsigned i, j;

	if (depth > 64) {
		fail("directory tree deeper than 64");
		walk_free(w);
		return nseen;
	}
	if (walk_dir(dir, 0, 64, w))
		fail("final readdir of %" PRIu64 " failed", dir);
	for (i = 2; i < w->w_n; i++) {
		for (j = 0; j < nseen; j++)
			if (seen[j] == w->w_inos[i])
				break;
		if (j < nseen)
			continue;
		if (nseen == max) {
			fail("too many inodes to count");
			break;
		}
		seen[nseen++] = w->w_inos[i];
		if (shmemfs_getattr(fs, w->w_inos[i], &a)) {
			fail("getattr of a reachable inode failed");
			continue;
		}
		*blocks += (uint64_t)a.sa_st.st_blocks / (PAGE / 512);
		if (S_ISDIR(a.sa_st.st_mode))
			nseen = count_reachable(w->w_inos[i], seen, nseen, max,
						depth + 1, blocks);
	}
	walk_free(w);
	return nseen;
}

/* -H: collapse passes and the huge shrinker, over and over. */
static void *
collapser_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int made = shmemfs_huge_collapse(fs);

		if (made < 0)
			fail("shmemfs_huge_collapse: %d", made);
		if (shmemfs_huge_shrink(fs) < 0)
			fail("shmemfs_huge_shrink");
		usleep(1000);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct stress_args sta = {
		.sta_threads = 8,
		.sta_max_threads = 256,
		.sta_seconds = 3,
		.sta_seed = (uint64_t)time(NULL),
		.sta_swap = true,
		.sta_huge = false,
	};
	unsigned nthreads, i, reach;
	double seconds;
	uint64_t seed, blocks = 0, *seen;
	char swapdir[] = "/tmp/shmemfs-conc-XXXXXX", optstr[256], msg[256];
	bool swap, huge;
	pthread_t collapser;
	struct shmemfs_opts o;
	struct shmemfs_stats st;
	struct timespec t0, t1;
	pthread_t *tids;
	struct thread_arg *args;
	unsigned long long total = 0;
	const char *env = getenv("CONC_SECONDS");
	int ret;

	if (env)
		sta.sta_seconds = atof(env);
	ret = stress_parse_args(&sta, argc, argv);
	if (ret)
		return ret;
	nthreads = sta.sta_threads;
	seconds = sta.sta_seconds;
	seed = sta.sta_seed;
	swap = sta.sta_swap;
	huge = sta.sta_huge;

	shmemfs_opts_init(&o);
	snprintf(optstr, sizeof(optstr), "size=8m,nr_inodes=4096");
	if (swap) {
		if (!mkdtemp(swapdir)) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(optstr, sizeof(optstr), "size=8m,nr_inodes=4096,"
			 "mem=192k,swap=%s/swap,swapsize=8m", swapdir);
	}
	if (huge)
		strncat(optstr, ",huge=always",
			sizeof(optstr) - strlen(optstr) - 1);
	ret = shmemfs_opts_parse(&o, optstr, NULL, 0, msg, sizeof(msg));
	if (ret) {
		fprintf(stderr, "test_concurrency: options: %s\n", msg);
		return 1;
	}
	ret = huge ? shmemfs_mount(&fs, &o, msg, sizeof(msg))
		   : shmemfs_new(&fs, &o);
	shmemfs_opts_free(&o);
	if (ret) {
		fprintf(stderr, "test_concurrency: shmemfs_new: %s\n",
			strerror(-ret));
		return 1;
	}
	for (i = 0; i < NDIRS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "d%u", i);
		dir_ino[i] = make(SHMEMFS_ROOT_INO, name, true);
	}
	for (i = 0; i < NFILES; i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%u", i);
		file_ino[i] = make(SHMEMFS_ROOT_INO, name, false);
	}
	w_ino = make(SHMEMFS_ROOT_INO, "w", true);
	for (i = 0; i < NSTABLE; i++) {
		char name[8];

		snprintf(name, sizeof(name), "s%02u", i);
		shmemfs_forget(fs, make(w_ino, name, false), 1);
	}

	tids = calloc(nthreads, sizeof(*tids));
	args = calloc(nthreads, sizeof(*args));
	if (!tids || !args)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nthreads; i++) {
		args[i].ta_id = i;
		args[i].ta_seed = seed;
		if (pthread_create(&tids[i], NULL, thread_main, &args[i])) {
			fprintf(stderr, "test_concurrency: pthread_create\n");
			return 1;
		}
	}
	if (huge && pthread_create(&collapser, NULL, collapser_main, NULL)) {
		fprintf(stderr, "test_concurrency: pthread_create\n");
		return 1;
	}
	for (;;) {
		double el;

		usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (el >= seconds || atomic_load(&stop))
			break;
	}
	atomic_store(&stop, true);
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	if (huge)
		pthread_join(collapser, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	/* Drop our references, then check everything. */
	for (i = 0; i < NDIRS; i++)
		shmemfs_forget(fs, dir_ino[i], 1);
	for (i = 0; i < NFILES; i++)
		shmemfs_forget(fs, file_ino[i], 1);
	shmemfs_forget(fs, w_ino, 1);
	ret = shmemfs_check(fs, msg, sizeof(msg));
	if (ret)
		fail("shmemfs_check: %s", msg);
	seen = calloc(65536, sizeof(*seen));
	if (!seen)
		return 1;
	seen[0] = SHMEMFS_ROOT_INO;
	reach = count_reachable(SHMEMFS_ROOT_INO, seen, 1, 65536, 0, &blocks);
	shmemfs_get_stats(fs, &st);
	if (reach != st.inodes_used)
		fail("%" PRIu64 " inodes alive, %u reachable from the root",
		     st.inodes_used, reach);
	if (blocks * PAGE != st.used_bytes)
		fail("%" PRIu64 " bytes used, %" PRIu64 " in reachable inodes",
		     st.used_bytes, blocks * PAGE);
	for (i = 0; i < NDIRS; i++) {
		unsigned j;

		for (j = 0; j < reach && seen[j] != dir_ino[i]; j++)
			;
		if (j == reach)
			fail("d%u is cut off from the root", i);
	}
	free(seen);
	if (huge)
		printf("test_concurrency: huge: %" PRIu64 " folios, %" PRIu64
		       " splits, %" PRIu64 " collapses, %" PRIu64
		       " fallbacks\n",
		       st.huge_pages, st.huge_splits, st.huge_collapses,
		       st.huge_fallbacks);
	shmemfs_destroy(fs);
	if (swap && !atomic_load(&failures))
		phase_big(swapdir, nthreads, seconds / 3, seed);
	if (swap && rmdir(swapdir))
		fail("swap file left behind in %s", swapdir);

	for (i = 0; i < R_NR; i++)
		total += atomic_load(&nops[i]);
	printf("test_concurrency: %s: %u threads, %.1f s, seed %" PRIu64
	       ", %llu ops (walks %llu, pages checked %llu, dir moves %llu "
	       "of which EINVAL %llu, exchanges %llu), swap %s, %u inodes "
	       "at the end; phase 2: %llu swapoffs, %llu done, %llu of "
	       "over 1024 pages\n",
	       atomic_load(&failures) ? "FAIL" : "ok", nthreads,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       seed, total, (unsigned long long)atomic_load(&n_walks),
	       (unsigned long long)atomic_load(&n_pages_checked),
	       (unsigned long long)atomic_load(&n_dir_moves),
	       (unsigned long long)atomic_load(&n_dir_einval),
	       (unsigned long long)atomic_load(&n_exchanges),
	       swap ? "on" : "off", reach,
	       (unsigned long long)atomic_load(&n_swapoffs),
	       (unsigned long long)atomic_load(&n_swapoff_ok),
	       (unsigned long long)atomic_load(&n_swapoff_big));
	for (i = 0; i < R_NR && getenv("CONC_VERBOSE"); i++)
		printf("  %-8s %llu ops\n", role_names[i],
		       (unsigned long long)atomic_load(&nops[i]));
	free(tids);
	free(args);
	return atomic_load(&failures) ? 1 : 0;
}
