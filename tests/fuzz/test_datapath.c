/* SPDX-License-Identifier: MIT */
/*
 * test_datapath.c - the data path's copies without sf_lock, under load.
 *
 *   test_datapath [-t THREADS] [-d SECONDS] [-s SEED] [-n] [-H]
 *
 * THREADS (default 4) read, write, truncate, punch and fallocate for
 * SECONDS (default 2) on one mount whose mem= budget is far below the
 * data (-n: no swap file and a budget that holds everything), so the
 * background and direct reclaimers swap pages out and in all the time
 * while copies run without the mount lock (api.c).  -H mounts with
 * huge=always, so folios are split, shrunk and collapsed meanwhile.
 *
 *   private files  each thread has one and a model of it in memory:
 *                  random unaligned writes of up to 40 pages (longer than
 *                  a pinning batch), reads checked byte for byte against
 *                  the model, truncates, punches, fallocates; the whole
 *                  file is checked at the end
 *   shared files   every thread writes whole pages that describe
 *                  themselves (index, tag, bytes derived from both),
 *                  truncates and punches; each page a reader gets must
 *                  be zeros or one whole page written for that index
 *
 * A page reclaimed, split or freed while a copy into or out of it is in
 * flight shows as a mismatch (and, under ThreadSanitizer, as a race).
 *
 * First, a copy stalled halfway: a write whose source buffer has a page
 * that faults (PROT_NONE, the SIGSEGV handler waits to be let go) must
 * not hold up a write, a read and a getattr of other files, nor a
 * getattr of the same file: the copy runs without the mount lock.
 * Any error but the ones listed fails; at the end shmemfs_check() must
 * pass.  Prints one summary line; exits 0 or 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "shmemfs.h"
#include "stress.h"

#define PAGE	     4096
#define PRIV_MAX     (96 * PAGE) /* private files stay below this */
#define IO_MAX	     (40 * PAGE) /* longest read or write */
#define NSHARED	     2
#define SHARED_PAGES 64

static struct shmemfs *fs;
static uint64_t shared_ino[NSHARED];
static atomic_ullong nops;

static uint64_t
below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static uint8_t
shared_byte(uint64_t index, uint64_t tag, size_t i)
{
	uint64_t x = (index * 0x9e3779b97f4a7c15ull) ^ (tag + i * 0x10001);

	return (uint8_t)(x ^ (x >> 29) ^ (x >> 47));
}

static void
shared_fill(uint8_t *p, uint64_t index, uint64_t tag)
{
	size_t i;

	memcpy(p, &index, 8);
	memcpy(p + 8, &tag, 8);
	for (i = 16; i < PAGE; i++)
		p[i] = shared_byte(index, tag, i);
}

static bool
shared_ok(const uint8_t *p, uint64_t index)
{
	uint64_t idx, tag;
	size_t i;

	for (i = 0; i < PAGE && !p[i]; i++)
		;
	if (i == PAGE)
		return true; /* a hole, or cut off */
	memcpy(&idx, p, 8);
	memcpy(&tag, p + 8, 8);
	if (idx != index || !tag)
		return false;
	for (i = 16; i < PAGE; i++)
		if (p[i] != shared_byte(index, tag, i))
			return false;
	return true;
}

static uint64_t
make_file(const char *name)
{
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_attr a;
	int ret;

	ret = shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, name, S_IFREG | 0644, 0,
			    &a);
	if (ret) {
		fail("mknod %s: %d", name, ret);
		return 0;
	}
	shmemfs_open(fs, a.sa_st.st_ino);
	return a.sa_st.st_ino;
}

struct priv {
	uint64_t p_ino;
	uint8_t *p_model;
	uint64_t p_size;
};

/*
 * shmemfs_read(), or every other time (by @r) shmemfs_read_pin(): the
 * pages described are gathered only after a yield, while the other
 * threads truncate, punch, write and reclaim; pinned, they must still
 * hold what they held (a page freed or reused meanwhile shows as a
 * mismatch, or under the sanitizers as a use after free or a race).
 * -EAGAIN (memory full of pins) falls back to the copy, as ops.c does.
 */
static ssize_t
read_some_pinned(uint64_t *r, uint64_t ino, uint8_t *buf, size_t len,
		 uint64_t off)
{
	struct iovec iov[IO_MAX / PAGE + 2 + 32];
	struct shmemfs_pinned *pin;
	unsigned n, i;
	ssize_t got;
	size_t at = 0;

	if (below(r, 2))
		return shmemfs_read(fs, ino, buf, len, (int64_t)off);
	got = shmemfs_read_pin(fs, ino, len, (int64_t)off, iov,
			       sizeof(iov) / sizeof(iov[0]), &n, &pin);
	if (got == -EAGAIN)
		return shmemfs_read(fs, ino, buf, len, (int64_t)off);
	if (got < 0)
		return got;
	sched_yield();
	for (i = 0; i < n; at += iov[i].iov_len, i++)
		memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
	shmemfs_read_unpin(pin);
	if (at != (size_t)got)
		fail("read_pin: iovecs hold %zu bytes, returned %zd", at, got);
	return got;
}

/* Read [off, off + len) of a private file and compare with the model. */
static void
priv_check(struct priv *p, uint64_t *rs, uint8_t *buf, uint64_t off, size_t len,
	   const char *what)
{
	size_t want = off >= p->p_size	      ? 0
		      : p->p_size - off < len ? p->p_size - off
					      : len;
	ssize_t r = read_some_pinned(rs, p->p_ino, buf, len, off);
	size_t i;

	if (r != (ssize_t)want) {
		fail("%s: read %zu at %" PRIu64 " gave %zd, want %zu", what,
		     len, off, r, want);
		return;
	}
	if (memcmp(buf, p->p_model + off, want)) {
		for (i = 0; buf[i] == p->p_model[off + i]; i++)
			;
		fail("%s: ino %" PRIu64 " byte %" PRIu64 " is %u, want %u",
		     what, p->p_ino, off + i, buf[i], p->p_model[off + i]);
	}
}

static void
priv_op(struct priv *p, uint64_t *r, uint8_t *buf)
{
	uint64_t off = below(r, PRIV_MAX - 1);
	size_t len = 1 + below(r, IO_MAX);
	struct shmemfs_setattr sa;
	ssize_t w;
	size_t i;
	int ret;

	if (off + len > PRIV_MAX)
		len = PRIV_MAX - off;
	switch (below(r, 10)) {
	case 0:
	case 1:
	case 2:
	case 3:
		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd(r) | 1; /* never zero */
		w = shmemfs_write(fs, p->p_ino, buf, len, (int64_t)off);
		if (w != (ssize_t)len) {
			fail("write %zu at %" PRIu64 ": %zd", len, off, w);
			return;
		}
		memcpy(p->p_model + off, buf, len);
		if (off + len > p->p_size)
			p->p_size = off + len;
		break;
	case 4:
	case 5:
	case 6:
		priv_check(p, r, buf, off, len, "read");
		break;
	case 7:
		memset(&sa, 0, sizeof(sa));
		sa.ss_size = below(r, PRIV_MAX);
		ret =
		    shmemfs_setattr(fs, p->p_ino, SHMEMFS_SET_SIZE, &sa, NULL);
		if (ret) {
			fail("truncate: %d", ret);
			return;
		}
		if (sa.ss_size < p->p_size)
			memset(p->p_model + sa.ss_size, 0,
			       p->p_size - sa.ss_size);
		p->p_size = sa.ss_size;
		break;
	case 8:
		ret = shmemfs_fallocate(fs, p->p_ino,
					SHMEMFS_FALLOC_PUNCH_HOLE |
					    SHMEMFS_FALLOC_KEEP_SIZE,
					(int64_t)off, (int64_t)len);
		if (ret) {
			fail("punch: %d", ret);
			return;
		}
		if (off < p->p_size)
			memset(p->p_model + off, 0,
			       (off + len < p->p_size ? off + len : p->p_size) -
				   off);
		break;
	default:
		ret = shmemfs_fallocate(fs, p->p_ino, 0, (int64_t)off,
					(int64_t)len);
		if (ret) {
			fail("fallocate: %d", ret);
			return;
		}
		if (off + len > p->p_size)
			p->p_size = off + len;
		break;
	}
}

static void
shared_op(uint64_t *r, uint8_t *buf, uint64_t tag)
{
	uint64_t ino = shared_ino[below(r, NSHARED)];
	uint64_t first = below(r, SHARED_PAGES), n = 1 + below(r, 24), i;
	struct shmemfs_setattr sa;
	ssize_t got;
	int ret;

	if (first + n > SHARED_PAGES)
		n = SHARED_PAGES - first;
	switch (below(r, 8)) {
	case 0:
	case 1:
	case 2:
		for (i = 0; i < n; i++)
			shared_fill(buf + i * PAGE, first + i, tag);
		got = shmemfs_write(fs, ino, buf, n * PAGE,
				    (int64_t)(first * PAGE));
		if (got != (ssize_t)(n * PAGE))
			fail("shared write: %zd", got);
		break;
	case 3:
	case 4:
	case 5:
		got = read_some_pinned(r, ino, buf, n * PAGE, first * PAGE);
		if (got < 0 || got % PAGE) {
			fail("shared read: %zd", got);
			break;
		}
		for (i = 0; i < (uint64_t)got / PAGE; i++)
			if (!shared_ok(buf + i * PAGE, first + i)) {
				fail("shared ino %" PRIu64 " page %" PRIu64
				     " torn or misplaced",
				     ino, first + i);
				break;
			}
		break;
	case 6:
		memset(&sa, 0, sizeof(sa));
		sa.ss_size = below(r, SHARED_PAGES + 1) * PAGE;
		ret = shmemfs_setattr(fs, ino, SHMEMFS_SET_SIZE, &sa, NULL);
		if (ret)
			fail("shared truncate: %d", ret);
		break;
	default:
		ret = shmemfs_fallocate(
		    fs, ino,
		    SHMEMFS_FALLOC_PUNCH_HOLE | SHMEMFS_FALLOC_KEEP_SIZE,
		    (int64_t)(first * PAGE), (int64_t)(n * PAGE));
		if (ret)
			fail("shared punch: %d", ret);
		break;
	}
}

/* ---- a copy stalled halfway ---- */

static int stall_in[2], stall_go[2]; /* pipes: "in the copy", "go on" */
static char *stall_page;
static atomic_bool others_done;

static void
stall_handler(int sig, siginfo_t *si, void *uc)
{
	char c = 0;

	(void)sig;
	(void)uc;
	if ((char *)si->si_addr < stall_page ||
	    (char *)si->si_addr >= stall_page + PAGE)
		abort();
	if (write(stall_in[1], &c, 1) != 1 || read(stall_go[0], &c, 1) != 1)
		abort();
	mprotect(stall_page, PAGE, PROT_READ | PROT_WRITE);
}

struct stall_write {
	uint64_t sw_ino;
	char *sw_buf;
	ssize_t sw_ret;
};

static void *
stall_writer(void *arg)
{
	struct stall_write *sw = arg;

	sw->sw_ret = shmemfs_write(fs, sw->sw_ino, sw->sw_buf, 8 * PAGE, 0);
	return NULL;
}

static void *
stall_others(void *arg)
{
	uint64_t *ino = arg; /* [0] the stalled file, [1..3] others */
	struct shmemfs_attr a;
	char buf[2 * PAGE];
	unsigned i;

	memset(buf, 0x77, sizeof(buf));
	for (i = 1; i <= 3; i++) {
		if (shmemfs_write(fs, ino[i], buf, sizeof(buf), 0) !=
		    (ssize_t)sizeof(buf))
			fail("stall: write of another file");
		if (shmemfs_read(fs, ino[i], buf, sizeof(buf), 0) !=
		    (ssize_t)sizeof(buf))
			fail("stall: read of another file");
		if (shmemfs_getattr(fs, ino[i], &a))
			fail("stall: getattr of another file");
	}
	if (shmemfs_getattr(fs, ino[0], &a))
		fail("stall: getattr of the file being written");
	atomic_store(&others_done, true);
	return NULL;
}

/* A write stalled in its copy holds no lock another file needs: three
 * files, as two of them may share a data lock stripe (lock.h). */
static void
stall_test(void)
{
	struct stall_write sw;
	struct sigaction sa, old;
	uint64_t ino[4];
	pthread_t wt, ot;
	char c = 0, *buf;
	unsigned i;

	for (i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "stall%u", i);
		ino[i] = make_file(name);
	}
	buf = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || pipe(stall_in) || pipe(stall_go)) {
		fail("stall: setup");
		return;
	}
	memset(buf, 0x42, 8 * PAGE);
	stall_page = buf + 5 * PAGE;
	mprotect(stall_page, PAGE, PROT_NONE);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = stall_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	sw.sw_ino = ino[0];
	sw.sw_buf = buf;
	pthread_create(&wt, NULL, stall_writer, &sw);
	if (read(stall_in[0], &c, 1) != 1)
		fail("stall: the writer did not fault");
	pthread_create(&ot, NULL, stall_others, ino);
	for (i = 0; i < 1000 && !atomic_load(&others_done); i++)
		usleep(10000);
	if (!atomic_load(&others_done))
		fail("stall: other files waited 10 s for a copy in flight: "
		     "it holds the mount lock");
	if (write(stall_go[1], &c, 1) != 1)
		abort();
	pthread_join(wt, NULL);
	pthread_join(ot, NULL);
	sigaction(SIGSEGV, &old, NULL);
	if (sw.sw_ret != 8 * PAGE) {
		fail("stall: the stalled write gave %zd", sw.sw_ret);
	} else {
		char *back = malloc(8 * PAGE);

		if (!back ||
		    shmemfs_read(fs, ino[0], back, 8 * PAGE, 0) != 8 * PAGE ||
		    memcmp(back, buf, 8 * PAGE))
			fail("stall: the stalled write's data is wrong");
		free(back);
	}
	for (i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "stall%u", i);
		shmemfs_release(fs, ino[i]);
		shmemfs_unlink(fs, SHMEMFS_ROOT_INO, name);
		shmemfs_forget(fs, ino[i], 1);
	}
	munmap(buf, 8 * PAGE);
	close(stall_in[0]);
	close(stall_in[1]);
	close(stall_go[0]);
	close(stall_go[1]);
}

struct targ {
	unsigned t_id;
	uint64_t t_seed;
	struct priv t_priv;
};

static void *
thread_main(void *arg)
{
	struct targ *t = arg;
	uint64_t r = t->t_seed * 2654435761u + t->t_id + 1, tag = 0;
	uint8_t *buf = malloc(IO_MAX + PAGE);
	unsigned long long n = 0;

	if (!buf) {
		fail("malloc");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		if (below(&r, 4))
			priv_op(&t->t_priv, &r, buf);
		else
			shared_op(&r, buf, ((uint64_t)t->t_id << 48) | ++tag);
		n++;
	}
	atomic_fetch_add(&nops, n);
	free(buf);
	return NULL;
}

int
main(int argc, char **argv)
{
	char swapdir[] = "/tmp/shmemfs-dp-XXXXXX", optstr[256], msg[256];
	struct stress_args sta = {
		.sta_threads = 4,
		.sta_max_threads = 64,
		.sta_seconds = 2,
		.sta_seed = (uint64_t)time(NULL),
		.sta_swap = true,
		.sta_huge = false,
	};
	unsigned nthreads, i;
	uint64_t seed;
	bool swap, huge;
	double seconds;
	struct shmemfs_opts o;
	struct shmemfs_stats st;
	struct targ *targs;
	pthread_t *tids;
	uint8_t *buf;
	int ret;

	ret = stress_parse_args(&sta, argc, argv);
	if (ret)
		return ret;
	nthreads = sta.sta_threads;
	seconds = sta.sta_seconds;
	seed = sta.sta_seed;
	swap = sta.sta_swap;
	huge = sta.sta_huge;
	/* under 1/4 of the data fits in mem= when swapping */
	if (swap) {
		if (!mkdtemp(swapdir)) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(optstr, sizeof(optstr),
			 "size=256m,mem=%uk,swap=%s/swap,swapsize=128m%s",
			 huge ? 4096 : nthreads * 96, swapdir,
			 huge ? ",huge=always" : "");
	} else {
		snprintf(optstr, sizeof(optstr), "size=256m%s",
			 huge ? ",huge=always" : "");
	}
	shmemfs_opts_init(&o);
	ret = shmemfs_opts_parse(&o, optstr, NULL, 0, msg, sizeof(msg));
	if (!ret)
		ret = shmemfs_new(&fs, &o);
	shmemfs_opts_free(&o);
	if (ret) {
		fprintf(stderr, "test_datapath: mount %s: %d %s\n", optstr, ret,
			msg);
		return 1;
	}
	printf("test_datapath: seed %" PRIu64 ", %u threads, %s\n", seed,
	       nthreads, optstr);
	fflush(stdout);
	stall_test();
	for (i = 0; i < NSHARED; i++) {
		snprintf(msg, sizeof(msg), "shared%u", i);
		shared_ino[i] = make_file(msg);
	}
	targs = calloc(nthreads, sizeof(*targs));
	tids = calloc(nthreads, sizeof(*tids));
	buf = malloc(PRIV_MAX);
	if (!targs || !tids || !buf)
		return 1;
	for (i = 0; i < nthreads; i++) {
		snprintf(msg, sizeof(msg), "priv%u", i);
		targs[i].t_id = i;
		targs[i].t_seed = seed;
		targs[i].t_priv.p_ino = make_file(msg);
		targs[i].t_priv.p_model = calloc(1, PRIV_MAX);
		if (!targs[i].t_priv.p_model)
			return 1;
	}
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, thread_main, &targs[i])) {
			fail("pthread_create");
			nthreads = i;
			break;
		}
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, true);
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < nthreads && !atomic_load(&failed); i++) {
		uint64_t fr = i + 1;

		priv_check(&targs[i].t_priv, &fr, buf, 0, PRIV_MAX,
			   "final read");
	}
	ret = shmemfs_check(fs, msg, sizeof(msg));
	if (ret)
		fail("shmemfs_check: %s", msg);
	shmemfs_get_stats(fs, &st);
	printf("test_datapath: %llu ops, %" PRIu64 " swap-outs, %" PRIu64
	       " swap-ins, %" PRIu64 " huge splits: %s\n",
	       (unsigned long long)atomic_load(&nops), st.swapouts, st.swapins,
	       st.huge_splits, atomic_load(&failed) ? "FAILED" : "ok");
	for (i = 0; i < nthreads; i++)
		free(targs[i].t_priv.p_model);
	free(targs);
	free(tids);
	free(buf);
	shmemfs_destroy(fs);
	if (swap) {
		snprintf(msg, sizeof(msg), "%s/swap", swapdir);
		unlink(msg);
		rmdir(swapdir);
	}
	return atomic_load(&failed) ? 1 : 0;
}
