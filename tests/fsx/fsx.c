// SPDX-License-Identifier: MIT
/*
 * fsx.c - a random file-operation exerciser that checks a filesystem
 * against an in-memory model of every file it touches.
 *
 * Each test file (struct fsx_file) has a model: ff_good, a buffer of
 * maxlen bytes holding what the file must contain, and ff_size, what
 * st_size must be.  The invariant that makes the model simple is
 *
 *	ff_good[ff_size .. maxlen) is all zeros,
 *
 * so extending a file by any means (write past EOF, ftruncate up,
 * fallocate, copy_file_range) needs no model update beyond ff_size, and
 * shrinking it zeroes what it cuts off.  No operation ever takes a file
 * past maxlen.
 *
 * Every operation is drawn from one PRNG (splitmix64) seeded by -S, so a
 * seed and the same flags reproduce a run exactly.  Operations are
 * recorded in a ring (oplog) before they are issued, so a failure report
 * includes the operation that failed.  Data written by op N at offset X is
 * pattern_byte(N, X), which is never zero; a mismatch report uses that to
 * say which operation wrote the byte that was read.
 *
 * Checks: pread and mapped reads against the model, mapped pages past EOF
 * must read as zeros, every full verification compares fstat's st_size and
 * the whole file read with pread(), and SEEK_DATA/SEEK_HOLE must report as
 * data every byte that the model says is non-zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, copy_file_range, SEEK_DATA */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

#define FSX_MAX_FILES  256
#define FSX_LOG_DEPTH  50
#define FSX_DUMP_BYTES 64

enum fsx_op {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_COPY,
	OP_SEEK,
	OP_NRANDOM, /* the ops above are drawn at random */
	OP_VERIFY = OP_NRANDOM,
	OP_REOPEN,
	OP_NTOTAL,
};

struct fsx_opdesc {
	const char *od_name;
	unsigned od_weight; /* relative frequency among the random ops */
};

/* clang-format off */
static const struct fsx_opdesc op_desc[OP_NTOTAL] = {
	[OP_READ] = { "read", 16 },
	[OP_WRITE] = { "write", 16 },
	[OP_MAPREAD] = { "mapread", 8 },
	[OP_MAPWRITE] = { "mapwrite", 8 },
	[OP_TRUNCATE] = { "truncate", 6 },
	[OP_FALLOC] = { "falloc", 3 },
	[OP_FALLOC_KEEP] = { "fallockeep", 3 },
	[OP_PUNCH] = { "punch", 6 },
	[OP_COPY] = { "copy", 8 },
	[OP_SEEK] = { "seek", 6 },
	[OP_VERIFY] = { "verify", 0 },
	[OP_REOPEN] = { "reopen", 0 },
};
/* clang-format on */

struct fsx_file {
	char *ff_path;
	int ff_fd;
	dev_t ff_dev;
	bool ff_created;	/* made by us: removed after a clean run */
	unsigned char *ff_good; /* the model: maxlen bytes */
	off_t ff_size;		/* the model's st_size */
};

/*
 * One operation as issued.  le_off/le_len is the range of le_file that the
 * operation addresses; for a copy le_src/le_src_off name the source; for a
 * truncate le_len is unused and le_size_after is the new size.  le_res is
 * what the call returned (a count, or a SEEK_DATA/SEEK_HOLE offset pair).
 */
struct fsx_logent {
	unsigned long le_opnum;
	enum fsx_op le_op;
	int le_file;
	int le_src;
	off_t le_off;
	off_t le_len;
	off_t le_src_off;
	off_t le_size_before;
	off_t le_size_after;
	long long le_res;
	long long le_res2;
	bool le_dropped; /* page cache dropped before this op */
};

struct fsx_opts {
	unsigned long o_numops;
	uint64_t o_seed;
	off_t o_maxlen;
	off_t o_maxop;
	int o_nfiles;		/* per directory argument */
	unsigned long o_reopen; /* close and reopen every N ops; 0: never */
	unsigned long o_verify; /* full verification every N ops; 0: never */
	unsigned long o_inject; /* self-test: drop a write from the model */
	bool o_drop_cache;
	bool o_keep;
	bool o_quiet;
	bool o_verbose;
	bool o_disabled[OP_NRANDOM];
};

/* clang-format off */
static struct fsx_opts opts = {
	.o_numops = 10000,
	.o_maxlen = 256 * 1024,
	.o_maxop = 64 * 1024,
	.o_nfiles = 1,
	.o_reopen = 1000,
	.o_verify = 500,
};
/* clang-format on */

static struct fsx_file files[FSX_MAX_FILES];
static int nfiles;
static long pagesize;
static unsigned long opnum; /* the operation in progress, from 1 */
static unsigned long opcount[OP_NTOTAL];
static const char *disabled_why[OP_NRANDOM];
static bool injected;
static char *cmdline;

static struct fsx_logent oplog[FSX_LOG_DEPTH];
static unsigned long oplog_total;
static struct fsx_logent *cur; /* entry of the operation in progress */

static unsigned char *scratch; /* maxlen + pagesize bytes */

/* Mapped accesses run under a SIGBUS/SIGSEGV handler that jumps here. */
static sigjmp_buf map_jmp;
static volatile sig_atomic_t map_armed;
static volatile sig_atomic_t map_signal;

#define FSX_NORETURN	    __attribute__((noreturn))
#define FSX_NORETURN_PRINTF __attribute__((noreturn, format(printf, 1, 2)))

static void fail(const char *fmt, ...) FSX_NORETURN_PRINTF;
static void fail_errno(const char *call, int file) FSX_NORETURN;
static void usage_error(const char *fmt, ...) FSX_NORETURN_PRINTF;

/* ---- PRNG ----------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n); 0 when n is 0. */
static off_t
rnd_below(off_t n)
{
	return n > 0 ? (off_t)(rnd() % (uint64_t)n) : 0;
}

/* ---- Reporting ------------------------------------------------------ */

static const char *
file_name(int i)
{
	return i >= 0 ? files[i].ff_path : "-";
}

static void
print_seek_result(FILE *out, const char *what, long long res)
{
	if (res == LLONG_MIN)
		fprintf(out, "%s ?", what);
	else if (res < 0)
		fprintf(out, "%s ENXIO", what);
	else
		fprintf(out, "%s 0x%llx", what, res);
}

static void
print_logent(FILE *out, const struct fsx_logent *le)
{
	const char *name = op_desc[le->le_op].od_name;
	long long off = le->le_off, end = le->le_off + le->le_len;

	fprintf(out, "%7lu %-10s ", le->le_opnum, name);
	switch (le->le_op) {
	case OP_TRUNCATE:
		fprintf(out, "f%d 0x%llx -> 0x%llx", le->le_file,
			(long long)le->le_size_before,
			(long long)le->le_size_after);
		break;
	case OP_COPY:
		fprintf(out,
			"f%d 0x%llx..0x%llx -> f%d 0x%llx..0x%llx "
			"(0x%llx bytes) size 0x%llx -> 0x%llx",
			le->le_src, (long long)le->le_src_off,
			(long long)(le->le_src_off + le->le_len), le->le_file,
			off, end, (long long)le->le_len,
			(long long)le->le_size_before,
			(long long)le->le_size_after);
		break;
	case OP_SEEK:
		fprintf(out, "f%d @0x%llx size 0x%llx: ", le->le_file, off,
			(long long)le->le_size_before);
		print_seek_result(out, "data", le->le_res);
		print_seek_result(out, " hole", le->le_res2);
		break;
	case OP_VERIFY:
	case OP_REOPEN:
		fprintf(out, "all files");
		break;
	default:
		fprintf(out,
			"f%d 0x%llx..0x%llx (0x%llx bytes) "
			"size 0x%llx -> 0x%llx",
			le->le_file, off, end, (long long)le->le_len,
			(long long)le->le_size_before,
			(long long)le->le_size_after);
		break;
	}
	if (le->le_dropped)
		fprintf(out, " [cache dropped]");
	fputc('\n', out);
}

static void
print_oplog(FILE *out)
{
	unsigned long n =
	    oplog_total < FSX_LOG_DEPTH ? oplog_total : FSX_LOG_DEPTH;
	unsigned long i;

	fprintf(out, "last %lu operations (offsets and lengths in hex):\n", n);
	for (i = oplog_total - n; i < oplog_total; i++)
		print_logent(out, &oplog[i % FSX_LOG_DEPTH]);
}

static void
print_files(FILE *out)
{
	int i;

	for (i = 0; i < nfiles; i++)
		fprintf(out, "  f%d = %s (model size 0x%llx)\n", i,
			files[i].ff_path, (long long)files[i].ff_size);
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsx: FAILED at op %lu: ", opnum);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "files (kept for inspection):\n");
	print_files(stderr);
	print_oplog(stderr);
	fprintf(stderr, "reproduce with: %s\n", cmdline);
	exit(1);
}

/* An unexpected failure of a system call in the operation in progress. */
static void
fail_errno(const char *call, int file)
{
	int err = errno;

	fail("%s on f%d (%s) failed: %s (errno %d)", call, file,
	     file_name(file), strerror(err), err);
}

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsx: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fsx --help'.\n");
	exit(2);
}

/* clang-format off */
static void
usage(void)
{
	printf(
"Usage: fsx [OPTION]... DIR_OR_FILE...\n"
"Random file operations checked against an in-memory model of each file.\n"
"A directory argument gets -f new files (fsx.PID.N, removed after a clean\n"
"run); a file argument is truncated and used as it is.\n"
"\n"
"  -N NUMOPS   number of operations (default 10000)\n"
"  -S SEED     PRNG seed (default: from the clock; always printed)\n"
"  -l MAXLEN   maximum file length in bytes (default 262144)\n"
"  -o MAXOP    maximum length of one operation (default 65536)\n"
"  -f NFILES   files per directory argument (default 1)\n"
"  -c N        close and reopen all files every N ops (default 1000;\n"
"              0: never)\n"
"  -V N        verify every file in full every N ops (default 500;\n"
"              0: only at reopen and at the end)\n"
"  -d          drop the page cache (POSIX_FADV_DONTNEED) before reads,\n"
"              mapped reads and verifications, so they reach the filesystem\n"
"  -m          no mapped reads or writes\n"
"  -x OP[,OP]  exclude operations: read write mapread mapwrite truncate\n"
"              falloc fallockeep punch copy seek\n"
"  -k          keep the created files after a clean run\n"
"  -I N        self-test: leave the first data-changing write at or after\n"
"              op N out of the model (the run must then fail)\n"
"  -q          quiet: print only the summary line or the failure\n"
"  -v          verbose: print every operation\n"
"  -h, --help  this text\n"
"\n"
"Exit status: 0 when every check passed, 1 on a mismatch or unexpected\n"
"error (the last %d operations are printed), 2 on a usage error.\n",
	       FSX_LOG_DEPTH);
}
/* clang-format on */

/* ---- Op log --------------------------------------------------------- */

static struct fsx_logent *
log_begin(enum fsx_op op, int file)
{
	struct fsx_logent *le = &oplog[oplog_total++ % FSX_LOG_DEPTH];

	memset(le, 0, sizeof(*le));
	le->le_opnum = opnum;
	le->le_op = op;
	le->le_file = file;
	le->le_src = -1;
	le->le_res = le->le_res2 = LLONG_MIN; /* not known yet */
	if (file >= 0)
		le->le_size_before = le->le_size_after = files[file].ff_size;
	cur = le;
	return le;
}

static void
log_end(struct fsx_logent *le)
{
	if (le->le_file >= 0)
		le->le_size_after = files[le->le_file].ff_size;
	opcount[le->le_op]++;
	if (opts.o_verbose)
		print_logent(stdout, le);
}

/*
 * -I: the model update of the first write at or after op o_inject that
 * changes data is skipped, as if the filesystem had stored a write that
 * was never made.  A full verification follows at once and must report
 * it (a later random op could overwrite or truncate the evidence).
 */
static bool
inject_now(void)
{
	if (!opts.o_inject || injected || opnum < opts.o_inject)
		return false;
	injected = true;
	if (!opts.o_quiet)
		printf("fsx: injecting a model error at op %lu\n", opnum);
	return true;
}

/* ---- Data checks ---------------------------------------------------- */

static unsigned char
pattern_byte(unsigned long op, off_t off)
{
	return (unsigned char)(1 + (op * 37 + (unsigned long)off) % 255);
}

static void
fill_pattern(unsigned char *buf, off_t off, off_t len)
{
	off_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(opnum, off + i);
}

static void
hexdump_row(FILE *out, const char *label, const unsigned char *p, off_t n,
	    const unsigned char *other)
{
	off_t i;

	fprintf(out, "  %s", label);
	for (i = 0; i < n; i++)
		fprintf(out, " %02x", p[i]);
	fputc('\n', out);
	if (!other || !memcmp(p, other, (size_t)n))
		return;
	fprintf(out, "  %*s", (int)strlen(label), "");
	for (i = 0; i < n; i++)
		fprintf(out, " %s", p[i] != other[i] ? "^^" : "  ");
	fputc('\n', out);
}

/* Which logged op wrote byte b at off of file, if the pattern says so. */
static void
explain_byte(FILE *out, int file, off_t off, unsigned char b)
{
	unsigned long n =
	    oplog_total < FSX_LOG_DEPTH ? oplog_total : FSX_LOG_DEPTH;
	unsigned long i;
	bool found = false;

	if (b == 0) {
		fprintf(out, "  the bad byte reads as zero: a lost write, or "
			     "a hole or truncation where there is data\n");
		return;
	}
	for (i = oplog_total; i > oplog_total - n; i--) {
		const struct fsx_logent *le = &oplog[(i - 1) % FSX_LOG_DEPTH];

		if (le->le_file != file ||
		    (le->le_op != OP_WRITE && le->le_op != OP_MAPWRITE))
			continue;
		if (off < le->le_off || off >= le->le_off + le->le_len)
			continue;
		if (pattern_byte(le->le_opnum, off) != b)
			continue;
		fprintf(out,
			"  the bad byte 0x%02x is what op %lu (%s) wrote "
			"there\n",
			b, le->le_opnum, op_desc[le->le_op].od_name);
		found = true;
		break;
	}
	if (!found)
		fprintf(out,
			"  the bad byte 0x%02x was not written at this "
			"offset by any op in the log (copied, shifted or "
			"stale data?)\n",
			b);
}

/*
 * Compare len bytes that the filesystem returned for [off, off + len) of
 * file with the model (or with zeros when expect is NULL); fail with a
 * report on the first difference.
 */
static void
check_bytes(int file, off_t off, const unsigned char *got,
	    const unsigned char *expect, off_t len, const char *how)
{
	static const unsigned char zeros[FSX_DUMP_BYTES];
	off_t i, bad = -1, last = -1, nbad = 0, start, end, row;

	for (i = 0; i < len; i++) {
		if (got[i] == (expect ? expect[i] : 0))
			continue;
		if (bad < 0)
			bad = i;
		last = i;
		nbad++;
	}
	if (bad < 0)
		return;

	fflush(stdout);
	fprintf(stderr, "fsx: MISMATCH: %s of f%d (%s) at 0x%llx..0x%llx\n",
		how, file, files[file].ff_path, (long long)off,
		(long long)(off + len));
	fprintf(stderr,
		"  first bad byte at file offset 0x%llx, last at "
		"0x%llx, %lld bad bytes; model size 0x%llx\n",
		(long long)(off + bad), (long long)(off + last),
		(long long)nbad, (long long)files[file].ff_size);
	explain_byte(stderr, file, off + bad, got[bad]);

	/* A window of FSX_DUMP_BYTES around the first bad byte. */
	start = (off + bad - 16) & ~(off_t)15;
	if (start < off)
		start = off;
	end = start + FSX_DUMP_BYTES;
	if (end > off + len)
		end = off + len;
	for (row = start; row < end; row += 16) {
		off_t n = end - row < 16 ? end - row : 16;
		const unsigned char *e = expect ? expect + (row - off) : zeros;

		fprintf(stderr, "  0x%08llx\n", (long long)row);
		hexdump_row(stderr, "expected", e, n, NULL);
		hexdump_row(stderr, "got     ", got + (row - off), n, e);
	}
	fail("data mismatch (%s) at offset 0x%llx of f%d", how,
	     (long long)(off + bad), file);
}

/* ---- System call wrappers: EINTR, short transfers, errors ----------- */

/* Read up to len bytes at off; stops early only at EOF. */
static off_t
full_pread(int file, unsigned char *buf, off_t len, off_t off)
{
	off_t done = 0;

	while (done < len) {
		ssize_t r = pread(files[file].ff_fd, buf + done,
				  (size_t)(len - done), off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail_errno("pread", file);
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

static void
full_pwrite(int file, const unsigned char *buf, off_t len, off_t off)
{
	off_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(files[file].ff_fd, buf + done,
				   (size_t)(len - done), off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail_errno("pwrite", file);
		if (r == 0)
			fail("pwrite of 0x%llx bytes at 0x%llx of f%d "
			     "returned 0",
			     (long long)(len - done), (long long)(off + done),
			     file);
		done += r;
	}
}

static void
do_ftruncate(int file, off_t size)
{
	while (ftruncate(files[file].ff_fd, size) < 0) {
		if (errno != EINTR)
			fail_errno("ftruncate", file);
	}
}

static void
drop_cache(int file, struct fsx_logent *le)
{
	int err;

	if (!opts.o_drop_cache)
		return;
	err = posix_fadvise(files[file].ff_fd, 0, 0, POSIX_FADV_DONTNEED);
	if (err) {
		errno = err;
		fail_errno("posix_fadvise(DONTNEED)", file);
	}
	if (le)
		le->le_dropped = true;
}

static void
map_signal_handler(int sig)
{
	if (!map_armed) {
		/* Not ours: die of it as if there were no handler. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	map_signal = sig;
	siglongjmp(map_jmp, 1);
}

static void
install_map_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = map_signal_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* ---- Offsets and lengths -------------------------------------------- */

/*
 * An offset in [0, limit): uniform, page-aligned, or close to the current
 * EOF, where most edge cases live.
 */
static off_t
pick_off(off_t limit, off_t size)
{
	off_t off;

	if (limit <= 0)
		return 0;
	switch (rnd_below(5)) {
	case 0:
		off = rnd_below(limit) & ~(off_t)(pagesize - 1);
		break;
	case 1:
		off = size - pagesize + rnd_below(2 * pagesize);
		break;
	default:
		off = rnd_below(limit);
		break;
	}
	if (off < 0)
		off = 0;
	if (off >= limit)
		off = limit - 1;
	return off;
}

/* A length in [1, limit] (limit > 0): tiny, about a page, any, or pages. */
static off_t
pick_len(off_t limit)
{
	off_t len;

	if (limit > opts.o_maxop)
		limit = opts.o_maxop;
	if (limit <= 0)
		return 0;
	switch (rnd_below(4)) {
	case 0:
		len = 1 + rnd_below(limit < 64 ? limit : 64);
		break;
	case 1:
		len =
		    1 + rnd_below(limit < 2 * pagesize ? limit : 2 * pagesize);
		break;
	case 2:
		len = pagesize * (1 + rnd_below(limit / pagesize + 1));
		break;
	default:
		len = 1 + rnd_below(limit);
		break;
	}
	return len > limit ? limit : len;
}

/* ---- Operations ----------------------------------------------------- */

/*
 * Each op_* function either does its operation and returns true, or
 * returns false without touching anything (nothing to do, such as a
 * mapped read of an empty file) and the caller draws another op.
 */

static bool
op_read(int file)
{
	struct fsx_file *f = &files[file];
	off_t off = pick_off(opts.o_maxlen, f->ff_size);
	off_t len = pick_len(opts.o_maxlen - off);
	struct fsx_logent *le = log_begin(OP_READ, file);
	off_t want = 0, got;

	le->le_off = off;
	le->le_len = len;
	if (off < f->ff_size)
		want = f->ff_size - off < len ? f->ff_size - off : len;
	if (rnd_below(4) == 0)
		drop_cache(file, le);
	got = full_pread(file, scratch, len, off);
	le->le_res = got;
	if (got != want) {
		if (got > want)
			check_bytes(file, off, scratch, f->ff_good + off, got,
				    "read past the model's EOF");
		fail("read of 0x%llx bytes at 0x%llx of f%d returned 0x%llx, "
		     "model size 0x%llx says 0x%llx",
		     (long long)len, (long long)off, file, (long long)got,
		     (long long)f->ff_size, (long long)want);
	}
	check_bytes(file, off, scratch, f->ff_good + off, got, "read");
	log_end(le);
	return true;
}

static bool
op_write(int file)
{
	struct fsx_file *f = &files[file];
	off_t off = pick_off(opts.o_maxlen, f->ff_size);
	off_t len = pick_len(opts.o_maxlen - off);
	struct fsx_logent *le = log_begin(OP_WRITE, file);

	le->le_off = off;
	le->le_len = len;
	fill_pattern(scratch, off, len);
	full_pwrite(file, scratch, len, off);
	if (memcmp(f->ff_good + off, scratch, (size_t)len) == 0 ||
	    !inject_now()) {
		memcpy(f->ff_good + off, scratch, (size_t)len);
		if (off + len > f->ff_size)
			f->ff_size = off + len;
	}
	log_end(le);
	return true;
}

/*
 * The part of the page holding EOF that lies past EOF must read as zeros
 * through a mapping of that page.  map/mapoff map the file from mapoff and
 * end is where the mapped range ends.
 */
static void
check_eof_page(int file, const unsigned char *map, off_t mapoff, off_t end)
{
	off_t size = files[file].ff_size;
	off_t tail = (size + pagesize - 1) & ~(off_t)(pagesize - 1);

	if (size % pagesize == 0 ||
	    (end - 1) / pagesize != (size - 1) / pagesize)
		return;
	check_bytes(file, size, map + (size - mapoff), NULL, tail - size,
		    "mapped read past EOF in the EOF page");
}

static bool
op_mapread(int file)
{
	struct fsx_file *f = &files[file];
	off_t off, len, pg;
	size_t maplen;
	struct fsx_logent *le;
	unsigned char *p;

	if (f->ff_size == 0)
		return false;
	off = pick_off(f->ff_size, f->ff_size);
	len = pick_len(f->ff_size - off);
	pg = off & ~(off_t)(pagesize - 1);
	maplen = (size_t)(off + len - pg);
	le = log_begin(OP_MAPREAD, file);
	le->le_off = off;
	le->le_len = len;
	if (rnd_below(4) == 0)
		drop_cache(file, le);
	p = mmap(NULL, maplen, PROT_READ, MAP_SHARED, f->ff_fd, pg);
	if (p == MAP_FAILED)
		fail_errno("mmap(PROT_READ, MAP_SHARED)", file);
	if (sigsetjmp(map_jmp, 1)) {
		map_armed = 0;
		fail("signal %d (%s) on a mapped read of 0x%llx..0x%llx of "
		     "f%d",
		     (int)map_signal, strsignal(map_signal), (long long)off,
		     (long long)(off + len), file);
	}
	map_armed = 1;
	/* Copy first: a fault must not hit inside the report. */
	memcpy(scratch, p + (off - pg), (size_t)len);
	check_bytes(file, off, scratch, f->ff_good + off, len, "mapped read");
	check_eof_page(file, p, pg, off + len);
	map_armed = 0;
	if (munmap(p, maplen) < 0)
		fail_errno("munmap", file);
	log_end(le);
	return true;
}

static bool
op_mapwrite(int file)
{
	struct fsx_file *f = &files[file];
	off_t off = pick_off(opts.o_maxlen, f->ff_size);
	off_t len = pick_len(opts.o_maxlen - off);
	off_t pg = off & ~(off_t)(pagesize - 1);
	size_t maplen = (size_t)(off + len - pg);
	struct fsx_logent *le = log_begin(OP_MAPWRITE, file);
	unsigned char *p;

	le->le_off = off;
	le->le_len = len;
	/* Only map within EOF: extend the file first. */
	if (off + len > f->ff_size) {
		do_ftruncate(file, off + len);
		f->ff_size = off + len;
	}
	fill_pattern(scratch, off, len);
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, f->ff_fd,
		 pg);
	if (p == MAP_FAILED)
		fail_errno("mmap(PROT_READ|PROT_WRITE, MAP_SHARED)", file);
	if (sigsetjmp(map_jmp, 1)) {
		map_armed = 0;
		fail("signal %d (%s) on a mapped write of 0x%llx..0x%llx of "
		     "f%d",
		     (int)map_signal, strsignal(map_signal), (long long)off,
		     (long long)(off + len), file);
	}
	map_armed = 1;
	memcpy(p + (off - pg), scratch, (size_t)len);
	while (msync(p, maplen, MS_SYNC) < 0) {
		if (errno != EINTR)
			fail_errno("msync(MS_SYNC)", file);
	}
	check_eof_page(file, p, pg, off + len);
	map_armed = 0;
	if (munmap(p, maplen) < 0)
		fail_errno("munmap", file);
	memcpy(f->ff_good + off, scratch, (size_t)len);
	log_end(le);
	return true;
}

static bool
op_truncate(int file)
{
	struct fsx_file *f = &files[file];
	struct fsx_logent *le = log_begin(OP_TRUNCATE, file);
	off_t size;

	switch (rnd_below(4)) {
	case 0:
		size = rnd_below(opts.o_maxlen + 1) & ~(off_t)(pagesize - 1);
		break;
	case 1:
		size = f->ff_size - pagesize + rnd_below(2 * pagesize);
		break;
	default:
		size = rnd_below(opts.o_maxlen + 1);
		break;
	}
	if (size < 0)
		size = 0;
	if (size > opts.o_maxlen)
		size = opts.o_maxlen;
	le->le_size_after = size;
	do_ftruncate(file, size);
	if (size < f->ff_size)
		memset(f->ff_good + size, 0, (size_t)(f->ff_size - size));
	f->ff_size = size;
	log_end(le);
	return true;
}

/*
 * Disable an op that the filesystem does not support, but only if this is
 * its first use: after it has worked once, the same error is a failure.
 */
static bool
unsupported(enum fsx_op op, int err, const char *call, int file)
{
	if (opcount[op] == 0 &&
	    (err == EOPNOTSUPP || err == ENOSYS || err == EXDEV)) {
		opts.o_disabled[op] = true;
		disabled_why[op] = strerror(err);
		if (!opts.o_quiet)
			printf("fsx: %s not supported (%s): disabling %s\n",
			       call, strerror(err), op_desc[op].od_name);
		oplog_total--; /* forget the entry */
		return true;
	}
	errno = err;
	fail_errno(call, file);
}

static int
falloc_mode(enum fsx_op op)
{
	switch (op) {
	case OP_FALLOC_KEEP:
		return FALLOC_FL_KEEP_SIZE;
	case OP_PUNCH:
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	default:
		return 0;
	}
}

static bool
op_fallocate(int file, enum fsx_op op)
{
	int mode = falloc_mode(op);
	struct fsx_file *f = &files[file];
	off_t off = pick_off(opts.o_maxlen, f->ff_size);
	off_t len = pick_len(opts.o_maxlen - off);
	struct fsx_logent *le = log_begin(op, file);
	char call[64];

	le->le_off = off;
	le->le_len = len;
	snprintf(call, sizeof(call), "fallocate(mode 0x%x)", mode);
	while (fallocate(f->ff_fd, mode, off, len) < 0) {
		if (errno == EINTR)
			continue;
		if (unsupported(op, errno, call, file))
			return false;
	}
	if (op == OP_FALLOC && off + len > f->ff_size)
		f->ff_size = off + len;
	if (op == OP_PUNCH && off < f->ff_size) {
		off_t end = off + len < f->ff_size ? off + len : f->ff_size;

		memset(f->ff_good + off, 0, (size_t)(end - off));
	}
	log_end(le);
	return true;
}

/*
 * Copy a range of a random file on the same filesystem (maybe this one)
 * into this one.  Within one file the ranges must not overlap.
 */
static bool
op_copy(int dst)
{
	int src = (int)rnd_below(nfiles);
	struct fsx_file *s = &files[src], *d = &files[dst];
	off_t soff, len, doff, done = 0;
	loff_t in, out;
	struct fsx_logent *le;
	int tries;

	if (s->ff_dev != d->ff_dev || s->ff_size == 0)
		return false;
	soff = pick_off(s->ff_size, s->ff_size);
	len = pick_len(s->ff_size - soff);
	for (tries = 0;; tries++) {
		doff = pick_off(opts.o_maxlen - len + 1, d->ff_size);
		if (src != dst || doff + len <= soff || soff + len <= doff)
			break;
		if (tries == 8)
			return false;
	}
	le = log_begin(OP_COPY, dst);
	le->le_src = src;
	le->le_src_off = soff;
	le->le_off = doff;
	le->le_len = len;
	while (done < len) {
		ssize_t r;

		in = soff + done;
		out = doff + done;
		r = copy_file_range(s->ff_fd, &in, d->ff_fd, &out,
				    (size_t)(len - done), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && done > 0)
			fail_errno("copy_file_range", dst);
		if (r < 0 &&
		    unsupported(OP_COPY, errno, "copy_file_range", dst))
			return false;
		if (r == 0)
			fail("copy_file_range returned 0 at source offset "
			     "0x%llx of f%d, below its size 0x%llx",
			     (long long)in, src, (long long)s->ff_size);
		if (in != soff + done + r || out != doff + done + r)
			fail("copy_file_range returned 0x%llx but moved the "
			     "offsets to 0x%llx and 0x%llx",
			     (long long)r, (long long)in, (long long)out);
		done += r;
	}
	le->le_res = done;
	/* Non-overlapping, so memcpy is right even when src == dst. */
	memcpy(d->ff_good + doff, s->ff_good + soff, (size_t)len);
	if (doff + len > d->ff_size)
		d->ff_size = doff + len;
	log_end(le);
	return true;
}

/* lseek for SEEK_DATA/SEEK_HOLE; -1 for ENXIO, fails on anything else. */
static off_t
seek_whence(int file, off_t off, int whence)
{
	off_t r = lseek(files[file].ff_fd, off, whence);

	if (r < 0 && errno == ENXIO)
		return -1;
	if (r < 0)
		fail_errno(whence == SEEK_DATA ? "lseek(SEEK_DATA)"
					       : "lseek(SEEK_HOLE)",
			   file);
	return r;
}

/* Index of the first non-zero model byte in [from, to), or -1. */
static off_t
model_nonzero(int file, off_t from, off_t to)
{
	const unsigned char *g = files[file].ff_good;
	off_t i;

	for (i = from; i < to; i++)
		if (g[i])
			return i;
	return -1;
}

/*
 * SEEK_DATA and SEEK_HOLE from off must be consistent with the model: no
 * data skipped, results within [off, size], ENXIO at or past EOF.
 * Returns the hole found after the data at or after off (size at the end).
 */
static off_t
check_seek_at(int file, off_t off, struct fsx_logent *le)
{
	off_t size = files[file].ff_size;
	off_t data = seek_whence(file, off, SEEK_DATA);
	off_t hole = seek_whence(file, off, SEEK_HOLE);
	off_t nz;

	if (le) {
		le->le_res = data;
		le->le_res2 = hole;
	}
	if (off >= size) {
		if (data != -1 || hole != -1)
			fail("SEEK_DATA/SEEK_HOLE at 0x%llx, at or past EOF "
			     "0x%llx of f%d, gave 0x%llx/0x%llx, not ENXIO",
			     (long long)off, (long long)size, file,
			     (long long)data, (long long)hole);
		return size;
	}
	if (hole < off || hole > size)
		fail("SEEK_HOLE at 0x%llx of f%d gave 0x%llx, outside "
		     "[0x%llx, size 0x%llx]",
		     (long long)off, file, (long long)hole, (long long)off,
		     (long long)size);
	if (data != -1 && (data < off || data >= size))
		fail("SEEK_DATA at 0x%llx of f%d gave 0x%llx, outside "
		     "[0x%llx, size 0x%llx)",
		     (long long)off, file, (long long)data, (long long)off,
		     (long long)size);
	nz = model_nonzero(file, off, data == -1 ? size : data);
	if (nz >= 0)
		fail("SEEK_DATA at 0x%llx of f%d gave %s0x%llx, but the "
		     "model has non-zero byte 0x%02x at 0x%llx",
		     (long long)off, file, data == -1 ? "ENXIO, size " : "",
		     (long long)(data == -1 ? size : data),
		     files[file].ff_good[nz], (long long)nz);
	if (data == -1) {
		if (hole != off)
			fail("SEEK_DATA at 0x%llx of f%d gave ENXIO (a hole "
			     "up to EOF) but SEEK_HOLE gave 0x%llx",
			     (long long)off, file, (long long)hole);
		return size;
	}
	/* off was in a hole iff data > off; then SEEK_HOLE must say off. */
	if (data > off && hole != off)
		fail("SEEK_DATA at 0x%llx of f%d gave 0x%llx (a hole at "
		     "0x%llx) but SEEK_HOLE gave 0x%llx",
		     (long long)off, file, (long long)data, (long long)off,
		     (long long)hole);
	hole = seek_whence(file, data, SEEK_HOLE);
	if (hole <= data || hole > size)
		fail("SEEK_HOLE at data 0x%llx of f%d gave 0x%llx, outside "
		     "(0x%llx, size 0x%llx]",
		     (long long)data, file, (long long)hole, (long long)data,
		     (long long)size);
	return hole;
}

static bool
op_seek(int file)
{
	struct fsx_file *f = &files[file];
	struct fsx_logent *le = log_begin(OP_SEEK, file);
	off_t off = pick_off(opts.o_maxlen, f->ff_size);

	if (rnd_below(8) == 0)
		off = f->ff_size + rnd_below(2);
	le->le_off = off;
	check_seek_at(file, off, le);
	log_end(le);
	return true;
}

/* Walk the file's data extents: every non-zero model byte must be in one. */
static void
seek_walk(int file)
{
	off_t off = 0, size = files[file].ff_size;

	while (off < size)
		off = check_seek_at(file, off, NULL);
	check_seek_at(file, size, NULL);
}

static void
verify_file(int file, struct fsx_logent *le)
{
	struct fsx_file *f = &files[file];
	struct stat st;
	off_t got;

	while (fstat(f->ff_fd, &st) < 0) {
		if (errno != EINTR)
			fail_errno("fstat", file);
	}
	if (st.st_size != f->ff_size)
		fail("f%d (%s): st_size is 0x%llx, the model says 0x%llx", file,
		     f->ff_path, (long long)st.st_size, (long long)f->ff_size);
	drop_cache(file, le);
	/* Ask for a page more than the model has: EOF must be at ff_size. */
	got = full_pread(file, scratch, opts.o_maxlen + pagesize, 0);
	if (got != f->ff_size) {
		if (got > f->ff_size)
			check_bytes(file, f->ff_size, scratch + f->ff_size,
				    NULL, got - f->ff_size,
				    "full-file read past the model's EOF");
		fail("reading all of f%d returned 0x%llx bytes, the model "
		     "size is 0x%llx",
		     file, (long long)got, (long long)f->ff_size);
	}
	check_bytes(file, 0, scratch, f->ff_good, got, "full-file read");
	seek_walk(file);
}

static void
verify_all(void)
{
	struct fsx_logent *le = log_begin(OP_VERIFY, -1);
	int i;

	for (i = 0; i < nfiles; i++)
		verify_file(i, le);
	log_end(le);
}

static void
open_file(int file, int flags)
{
	struct fsx_file *f = &files[file];
	struct stat st;

	do
		f->ff_fd = open(f->ff_path, O_RDWR | flags, 0644);
	while (f->ff_fd < 0 && errno == EINTR);
	if (f->ff_fd < 0)
		fail_errno("open", file);
	if (fstat(f->ff_fd, &st) < 0)
		fail_errno("fstat", file);
	if (!S_ISREG(st.st_mode))
		fail("%s is not a regular file", f->ff_path);
	f->ff_dev = st.st_dev;
}

/* Close and reopen every file (release and open in the filesystem). */
static void
reopen_all(void)
{
	struct fsx_logent *le = log_begin(OP_REOPEN, -1);
	int i;

	for (i = 0; i < nfiles; i++) {
		drop_cache(i, le);
		/* On Linux the fd is gone even if close says EINTR. */
		if (close(files[i].ff_fd) < 0 && errno != EINTR)
			fail_errno("close", i);
		files[i].ff_fd = -1;
		open_file(i, 0);
	}
	log_end(le);
	verify_all();
}

static bool
do_op(enum fsx_op op, int file)
{
	switch (op) {
	case OP_READ:
		return op_read(file);
	case OP_WRITE:
		return op_write(file);
	case OP_MAPREAD:
		return op_mapread(file);
	case OP_MAPWRITE:
		return op_mapwrite(file);
	case OP_TRUNCATE:
		return op_truncate(file);
	case OP_FALLOC:
	case OP_FALLOC_KEEP:
	case OP_PUNCH:
		return op_fallocate(file, op);
	case OP_COPY:
		return op_copy(file);
	case OP_SEEK:
		return op_seek(file);
	default:
		abort();
	}
}

static enum fsx_op
pick_op(void)
{
	unsigned total = 0, r;
	int op;

	for (op = 0; op < OP_NRANDOM; op++)
		if (!opts.o_disabled[op])
			total += op_desc[op].od_weight;
	if (total == 0)
		fail("every operation is disabled");
	r = (unsigned)rnd_below(total);
	for (op = 0; op < OP_NRANDOM; op++) {
		if (opts.o_disabled[op])
			continue;
		if (r < op_desc[op].od_weight)
			break;
		r -= op_desc[op].od_weight;
	}
	return (enum fsx_op)op;
}

/* ---- Setup ---------------------------------------------------------- */

static unsigned long long
parse_num(const char *s, char opt, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max)
		usage_error("bad number for -%c: '%s'", opt, s);
	return v;
}

static void
exclude_ops(char *list)
{
	char *name, *save = NULL;
	int op;

	for (name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		for (op = 0; op < OP_NRANDOM; op++)
			if (!strcmp(name, op_desc[op].od_name))
				break;
		if (op == OP_NRANDOM)
			usage_error("unknown operation '%s' for -x", name);
		opts.o_disabled[op] = true;
		disabled_why[op] = "excluded";
	}
}

static void
add_file(const char *path, bool created)
{
	struct fsx_file *f;

	if (nfiles == FSX_MAX_FILES)
		usage_error("too many files (at most %d)", FSX_MAX_FILES);
	f = &files[nfiles];
	f->ff_path = strdup(path);
	f->ff_good = calloc(1, (size_t)opts.o_maxlen);
	if (!f->ff_path || !f->ff_good) {
		fprintf(stderr, "fsx: out of memory\n");
		exit(2);
	}
	f->ff_created = created;
	f->ff_size = 0;
	open_file(nfiles++, O_CREAT | O_TRUNC);
}

static void
add_arg(const char *arg)
{
	struct stat st;
	char path[4096];
	int i;

	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		for (i = 0; i < opts.o_nfiles; i++) {
			snprintf(path, sizeof(path), "%s/fsx.%ld.%d", arg,
				 (long)getpid(), nfiles);
			add_file(path, true);
		}
	} else {
		add_file(arg, false);
	}
}

/* The command line with the seed made explicit, for the failure report. */
static void
save_cmdline(int argc, char **argv)
{
	size_t len = 64;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	cmdline = malloc(len);
	if (!cmdline)
		exit(2);
	len = (size_t)sprintf(cmdline, "%s -S %llu", argv[0],
			      (unsigned long long)opts.o_seed);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-S") && i + 1 < argc) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "-S", 2))
			continue;
		len += (size_t)sprintf(cmdline + len, " %s", argv[i]);
	}
}

static void
print_summary(void)
{
	unsigned long total = 0;
	int op;

	for (op = 0; op < OP_NRANDOM; op++)
		total += opcount[op];
	printf("fsx: seed %llu: %lu ops OK on %d file%s, maxlen 0x%llx (",
	       (unsigned long long)opts.o_seed, total, nfiles,
	       nfiles == 1 ? "" : "s", (long long)opts.o_maxlen);
	for (op = 0; op < OP_NTOTAL; op++)
		printf("%s%s %lu", op ? ", " : "", op_desc[op].od_name,
		       opcount[op]);
	printf(")\n");
	for (op = 0; op < OP_NRANDOM; op++)
		if (disabled_why[op] && strcmp(disabled_why[op], "excluded"))
			printf("fsx: %s was disabled: %s\n",
			       op_desc[op].od_name, disabled_why[op]);
}

int
main(int argc, char **argv)
{
	/* clang-format off */
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* clang-format on */
	bool seeded = false;
	int c, i, tries;

	while ((c = getopt_long(argc, argv, "N:S:l:o:f:c:V:dmx:kI:qvh",
				longopts, NULL)) != -1) {
		switch (c) {
		case 'N':
			opts.o_numops = parse_num(optarg, 'N', ULONG_MAX);
			break;
		case 'S':
			opts.o_seed = parse_num(optarg, 'S', UINT64_MAX);
			seeded = true;
			break;
		case 'l':
			opts.o_maxlen = parse_num(optarg, 'l', 1ULL << 30);
			break;
		case 'o':
			opts.o_maxop = parse_num(optarg, 'o', 1ULL << 30);
			break;
		case 'f':
			opts.o_nfiles = parse_num(optarg, 'f', FSX_MAX_FILES);
			break;
		case 'c':
			opts.o_reopen = parse_num(optarg, 'c', ULONG_MAX);
			break;
		case 'V':
			opts.o_verify = parse_num(optarg, 'V', ULONG_MAX);
			break;
		case 'd':
			opts.o_drop_cache = true;
			break;
		case 'm':
			opts.o_disabled[OP_MAPREAD] = true;
			opts.o_disabled[OP_MAPWRITE] = true;
			disabled_why[OP_MAPREAD] = "excluded";
			disabled_why[OP_MAPWRITE] = "excluded";
			break;
		case 'x':
			exclude_ops(optarg);
			break;
		case 'k':
			opts.o_keep = true;
			break;
		case 'I':
			opts.o_inject = parse_num(optarg, 'I', ULONG_MAX);
			break;
		case 'q':
			opts.o_quiet = true;
			break;
		case 'v':
			opts.o_verbose = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage_error("bad option");
		}
	}
	if (optind == argc)
		usage_error("no directory or file given");
	if (opts.o_maxlen < 1 || opts.o_maxop < 1 || opts.o_nfiles < 1)
		usage_error("-l, -o and -f must be at least 1");
	if (!seeded)
		opts.o_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	rng_state = opts.o_seed;
	save_cmdline(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);

	pagesize = sysconf(_SC_PAGESIZE);
	scratch = malloc((size_t)(opts.o_maxlen + pagesize));
	if (!scratch) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	install_map_handlers();
	for (i = optind; i < argc; i++)
		add_arg(argv[i]);
	if (!opts.o_quiet)
		printf("fsx: seed %llu, %lu ops, %d file%s, maxlen 0x%llx, "
		       "maxop 0x%llx\n",
		       (unsigned long long)opts.o_seed, opts.o_numops, nfiles,
		       nfiles == 1 ? "" : "s", (long long)opts.o_maxlen,
		       (long long)opts.o_maxop);

	for (opnum = 1; opnum <= opts.o_numops; opnum++) {
		int file = (int)rnd_below(nfiles);

		for (tries = 0; tries < 16; tries++)
			if (do_op(pick_op(), file))
				break;
		if (tries == 16)
			op_write(file);
		if (injected)
			verify_all(); /* must fail: see inject_now() */
		if (opts.o_reopen && opnum % opts.o_reopen == 0)
			reopen_all();
		else if (opts.o_verify && opnum % opts.o_verify == 0)
			verify_all();
	}
	opnum = opts.o_numops;
	verify_all();
	if (opts.o_inject)
		fail("self-test: the model error injected at op %lu went "
		     "unnoticed%s",
		     opts.o_inject,
		     injected ? "" : " (no model update to corrupt)");

	for (i = 0; i < nfiles; i++) {
		close(files[i].ff_fd);
		if (files[i].ff_created && !opts.o_keep &&
		    unlink(files[i].ff_path) < 0)
			fail_errno("unlink", i);
	}
	print_summary();
	return 0;
}
