/* SPDX-License-Identifier: MIT */
/*
 * fuzz_core.c - libFuzzer target: the core API driven by a byte program.
 *
 * The input is a tiny program.  Four header bytes pick the mount: size=
 * of 4..67, 256 or 2048 pages, nr_inodes= of 0..39, the root's mode and
 * huge= policy, a mem= budget of 1..4 pages and a swap device of 0..60
 * slots.  Then each
 * op is an opcode byte followed by the argument bytes it reads; a program
 * that runs out of bytes reads zeros, so every input is a valid program.
 * tests/fuzz/gen-corpus.py writes programs in this format.
 *
 * Key state
 * - fz_slots[]: the inodes we hold lookup references (and opens) on, as
 *   a FUSE front end would.  Slot 0 is the root.  A new reference lands
 *   in a slot picked by the input; the inode already there is forgotten
 *   and released first, so references are dropped "at random".  Inode
 *   numbers we let go of go to fz_dead[], so stale numbers get used too.
 * - fz_models[]: what we know of each inode we created: type, size, the
 *   first FZ_MODEL_MAX bytes of a regular file, four xattrs, a symlink
 *   target.  Reads, readlink, getxattr, listxattr and SEEK_DATA/HOLE are
 *   checked against it.
 * - sf_fail_after (src/core/alloc.h): the FAULT op makes one of the next
 *   op's allocations fail, so the -ENOMEM unwind paths run too.
 * - fz_swap: an in-memory swap backend attached through the core's test
 *   hook shmemfs_swap_attach().  The SWAPCTL op makes its writes or reads
 *   fail, corrupts what it returns or what it stores, calls swapoff
 *   and swapon, and runs a collapse pass (shmemfs_huge_collapse(), which
 *   must change nothing the model can see).  The background reclaimer
 *   is stopped right after attach so that a run is deterministic;
 *   reclaim still happens directly when an allocation finds the mem=
 *   budget full.  -EIO is accepted only
 *   once read faults were injected; data that comes back must be right.
 *
 * After every op shmemfs_check() must pass.  At the end every reference
 * is dropped and every live inode must be reachable from the root (a
 * leaked reference or a detached directory loop shows up there), and the
 * block count must equal the sum of st_blocks.  Any violation aborts with
 * a message; FUZZ_TRACE=1 in the environment prints each op.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"        /* shmemfs.h, and the test hooks */
#include "reclaim.h"

#define FZ_SLOTS 16
#define FZ_DEAD 8
#define FZ_NMODELS 96
#define FZ_MODEL_MAX 65536          /* bytes of each file we keep */
#define FZ_MAXIO (FZ_MODEL_MAX + 8192)
#define FZ_NXATTR 5                 /* xattr names we model */
#define FZ_MAX_OPS 1024
#define FZ_PAGE 4096
#define FZ_MAXOFF INT64_MAX

struct fz_in {
	const uint8_t *fi_p;
	size_t fi_n;
};

struct fz_slot {
	uint64_t fs_ino;       /* 0: empty */
	uint64_t fs_nlookup;   /* references we hold */
	uint32_t fs_nopen;     /* opens we hold */
};

struct fz_model {
	uint64_t fm_ino;
	mode_t fm_type;
	uint64_t fm_size;
	uint8_t *fm_data;      /* FZ_MODEL_MAX bytes, NULL: all zero */
	bool fm_far;           /* data may exist at >= FZ_MODEL_MAX */
	bool fm_lost;          /* data no longer known */
	int32_t fm_xlen[FZ_NXATTR];  /* -1: absent */
	uint32_t fm_xseed[FZ_NXATTR];
	uint32_t fm_tlen;      /* symlink target */
	uint32_t fm_tseed;
};

struct fz {
	struct shmemfs *f_fs;
	struct fz_in f_in;
	struct fz_slot f_slots[FZ_SLOTS];
	uint64_t f_dead[FZ_DEAD];
	unsigned f_dead_next;
	struct fz_model f_models[FZ_NMODELS];
	unsigned f_nmodels;
	uint64_t f_max_blocks;
	uint64_t f_mem_pages;  /* mem= budget, 0: none */
	bool f_swap;           /* a swap device is attached */
	bool f_io_faults;      /* swap reads were made to fail */
	bool f_armed;          /* this op runs with an allocation fault */
	unsigned f_op;
};

/* The in-memory swap device. */
struct fz_swap {
	uint8_t *sw_data;
	uint64_t sw_nslots;
	bool sw_fail_write;
	bool sw_fail_read;
	bool sw_corrupt_read;
};

static struct fz_swap fz_swap;

static const struct shmemfs_ctx fz_ctx = {.sc_uid = 1000, .sc_gid = 100};
static bool fz_trace;
static uint8_t fz_wbuf[FZ_MAXIO];
static uint8_t fz_rbuf[FZ_MAXIO];
static char fz_long255[256], fz_long256[257];

static void __attribute__((noreturn, format(printf, 2, 3)))
fz_fail(struct fz *f, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_core: op %u: ", f ? f->f_op : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define FZ_TRACE(...)                                                       \
	do {                                                                \
		if (fz_trace)                                               \
			fprintf(stderr, __VA_ARGS__);                       \
	} while (0)

/* The swap backend. */

static int
swap_mem_read(void *priv, uint64_t off, void *buf, size_t len)
{
	struct fz_swap *sw = priv;

	if (sw->sw_fail_read)
		return -EIO;
	memcpy(buf, sw->sw_data + off, len);
	if (sw->sw_corrupt_read)
		((uint8_t *)buf)[len / 3] ^= 0x40;
	return 0;
}

static int
swap_mem_write(void *priv, uint64_t off, const void *buf, size_t len)
{
	struct fz_swap *sw = priv;

	if (sw->sw_fail_write)
		return -EIO;
	memcpy(sw->sw_data + off, buf, len);
	return 0;
}

static void
swap_mem_close(void *priv)
{
	struct fz_swap *sw = priv;

	free(sw->sw_data);
	sw->sw_data = NULL;
}

static const struct sf_swap_ops swap_mem_ops = {
	.sop_version = 1,
	.sop_read = swap_mem_read,
	.sop_write = swap_mem_write,
	.sop_close = swap_mem_close,
};

/* Input. */

static uint8_t
in_u8(struct fz *f)
{
	if (!f->f_in.fi_n)
		return 0;
	f->f_in.fi_n--;
	return *f->f_in.fi_p++;
}

static uint16_t
in_u16(struct fz *f)
{
	uint16_t v = in_u8(f);

	return (uint16_t)(v | (uint16_t)in_u8(f) << 8);
}

/* Deterministic bytes from a seed; seed 0 gives zeros. */
static void
fz_fill(uint8_t *b, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	size_t i;

	if (!seed) {
		memset(b, 0, n);
		return;
	}
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)(x >> 24);
	}
}

/* A symlink target or xattr value of printable bytes, never NUL. */
static void
fz_fill_text(char *b, size_t n, uint32_t seed)
{
	size_t i;

	fz_fill((uint8_t *)b, n, seed | 1);
	for (i = 0; i < n; i++)
		b[i] = (char)('a' + (uint8_t)b[i] % 26);
}

/* A name from a tiny alphabet, plus the awkward ones. */
static const char *
in_name(struct fz *f)
{
	static const char *const names[] = {
		"a", "b", "c", "d", "e", "f", "ab", "ba",
		"a", "b", "c", ".", "..", "", "x/y", NULL,
	};
	uint8_t b = in_u8(f);
	const char *n = names[b % 16];

	if (!n)
		n = (b & 0x10) ? fz_long256 : fz_long255;
	return n;
}

/* An offset: mostly inside the modelled range, sometimes at the edges. */
static int64_t
in_off(struct fz *f)
{
	uint8_t k = in_u8(f);
	uint16_t v = in_u16(f);

	if (k < 160)
		return v;                       /* 0..65535 */
	if (k < 200)
		return (int64_t)(v % 24) * FZ_PAGE + (k % 3 == 0 ? 0 :
					       k % 3 == 1 ? 1 : FZ_PAGE - 1);
	switch (k % 12) {
	case 0: return 0;
	case 1: return FZ_MODEL_MAX - (v % 16);
	case 2: return FZ_MODEL_MAX + v;
	case 3: return (int64_t)1 << 40 | v;
	case 4: return FZ_MAXOFF - (v % 8192);
	case 5: return FZ_MAXOFF;
	case 6: return -1;
	case 7: return -(int64_t)v - 1;
	case 8: return FZ_MAXOFF - FZ_PAGE + 1;
	case 9: return (int64_t)v * FZ_PAGE;
	case 10: return INT64_MIN;
	default: return v & ~(FZ_PAGE - 1);
	}
}

/* A length for read/write (bounded by our buffers). */
static size_t
in_iolen(struct fz *f)
{
	uint8_t k = in_u8(f);
	uint16_t v = in_u16(f);

	if (k < 128)
		return v % 600;
	if (k < 224)
		return v % (4 * FZ_PAGE + 2);
	switch (k % 4) {
	case 0: return 0;
	case 1: return FZ_PAGE;
	case 2: return FZ_MODEL_MAX;
	default: return v + 4096u;
	}
}

/* A length for fallocate and copy_file_range: may be huge or invalid. */
static int64_t
in_len64(struct fz *f)
{
	uint8_t k = in_u8(f);
	uint16_t v = in_u16(f);

	if (k < 160)
		return v % (8 * FZ_PAGE);
	switch (k % 8) {
	case 0: return 0;
	case 1: return -1;
	case 2: return FZ_MAXOFF;
	case 3: return (int64_t)v * FZ_PAGE;
	case 4: return (int64_t)1 << 40;
	case 5: return FZ_MAXOFF - (v % 4);
	case 6: return FZ_PAGE;
	default: return v;
	}
}

/* Slots, references, stale numbers. */

static uint64_t
in_ino(struct fz *f)
{
	uint8_t b = in_u8(f);

	if (b < 0xf0) {
		uint64_t ino = f->f_slots[b % FZ_SLOTS].fs_ino;

		return ino ? ino : SHMEMFS_ROOT_INO;
	}
	if (b < 0xf8)
		return f->f_dead[b % FZ_DEAD];
	switch (b % 4) {
	case 0: return 0;
	case 1: return UINT64_MAX;
	case 2: return (uint64_t)1 << 40;
	default: return 2;
	}
}

static struct fz_slot *
slot_find(struct fz *f, uint64_t ino)
{
	unsigned i;

	for (i = 0; i < FZ_SLOTS; i++)
		if (f->f_slots[i].fs_ino == ino)
			return &f->f_slots[i];
	return NULL;
}

static void
fz_check(struct fz *f, const char *what)
{
	char msg[256] = "";
	int ret;

	sf_fail_after = 0;
	ret = shmemfs_check(f->f_fs, msg, sizeof(msg));
	if (ret)
		fz_fail(f, "shmemfs_check after %s: %d: %s", what, ret, msg);
}

/*
 * Drop all we hold on slot @s.  If the inode had no name left, it must
 * be gone afterwards; if it had one, it must still be there.
 */
static void
slot_drop(struct fz *f, struct fz_slot *s)
{
	struct shmemfs_attr a;
	uint64_t ino = s->fs_ino;
	int ret, nlink;

	if (!ino || s == &f->f_slots[0])
		return;
	ret = shmemfs_getattr(f->f_fs, ino, &a);
	if (ret)
		fz_fail(f, "getattr of held ino %llu: %d",
			(unsigned long long)ino, ret);
	nlink = (int)a.sa_st.st_nlink;
	while (s->fs_nopen) {
		shmemfs_release(f->f_fs, ino);
		s->fs_nopen--;
	}
	if (s->fs_nlookup)
		shmemfs_forget(f->f_fs, ino, s->fs_nlookup);
	s->fs_nlookup = 0;
	s->fs_ino = 0;
	f->f_dead[f->f_dead_next++ % FZ_DEAD] = ino;
	ret = shmemfs_getattr(f->f_fs, ino, &a);
	if (nlink == 0 && ret != -ESTALE)
		fz_fail(f, "ino %llu: unlinked, last ref dropped, getattr %d",
			(unsigned long long)ino, ret);
	if (nlink != 0 && ret != 0)
		fz_fail(f, "ino %llu: linked (nlink %d) but getattr %d",
			(unsigned long long)ino, nlink, ret);
}

/* Record one new lookup reference on @ino (the call already took it). */
static void
take_ref(struct fz *f, uint8_t sel, uint64_t ino)
{
	struct fz_slot *s = slot_find(f, ino);

	if (!s) {
		s = &f->f_slots[1 + sel % (FZ_SLOTS - 1)];
		slot_drop(f, s);
		s->fs_ino = ino;
	}
	s->fs_nlookup++;
}

/* Models. */

static struct fz_model *
model_get(struct fz *f, uint64_t ino)
{
	unsigned i;

	for (i = 0; i < f->f_nmodels; i++)
		if (f->f_models[i].fm_ino == ino)
			return &f->f_models[i];
	return NULL;
}

static struct fz_model *
model_new(struct fz *f, uint64_t ino, mode_t type)
{
	struct fz_model *m;
	int i;

	if (model_get(f, ino))
		fz_fail(f, "ino %llu handed out twice",
			(unsigned long long)ino);
	if (f->f_nmodels == FZ_NMODELS)
		return NULL;
	m = &f->f_models[f->f_nmodels++];
	memset(m, 0, sizeof(*m));
	m->fm_ino = ino;
	m->fm_type = type;
	for (i = 0; i < FZ_NXATTR; i++)
		m->fm_xlen[i] = -1;
	return m;
}

static void
models_free(struct fz *f)
{
	unsigned i;

	for (i = 0; i < f->f_nmodels; i++)
		free(f->f_models[i].fm_data);
	f->f_nmodels = 0;
}

static bool
model_has_data(const struct fz_model *m)
{
	return m && S_ISREG(m->fm_type) && !m->fm_lost;
}

static uint8_t *
model_data(struct fz *f, struct fz_model *m)
{
	if (!m->fm_data) {
		m->fm_data = calloc(1, FZ_MODEL_MAX);
		if (!m->fm_data)
			fz_fail(f, "out of memory for the model");
	}
	return m->fm_data;
}

/* Bytes [off, off + n) of the model; false if not known. */
static bool
model_read(const struct fz_model *m, uint64_t off, size_t n, uint8_t *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t p = off + i;

		if (p >= m->fm_size)
			out[i] = 0;
		else if (p < FZ_MODEL_MAX)
			out[i] = m->fm_data ? m->fm_data[p] : 0;
		else if (m->fm_far)
			return false;
		else
			out[i] = 0;
	}
	return true;
}

/* Is model byte range [a, b) known to be all zeros? */
static bool
model_zero(const struct fz_model *m, uint64_t a, uint64_t b)
{
	uint64_t p;

	if (b > m->fm_size)
		b = m->fm_size;
	if (a >= b)
		return true;
	if (b > FZ_MODEL_MAX && m->fm_far)
		return true;  /* unknown: do not complain */
	if (!m->fm_data)
		return true;
	for (p = a; p < b && p < FZ_MODEL_MAX; p++)
		if (m->fm_data[p])
			return false;
	return true;
}

static void
model_write(struct fz *f, struct fz_model *m, uint64_t off,
	    const uint8_t *buf, size_t n)
{
	if (!n)
		return;
	if (off < FZ_MODEL_MAX) {
		size_t k = n < FZ_MODEL_MAX - off ? n : FZ_MODEL_MAX - off;

		memcpy(model_data(f, m) + off, buf, k);
	}
	if (off + n > FZ_MODEL_MAX)
		m->fm_far = true;
	if (off + n > m->fm_size)
		m->fm_size = off + n;
}

/* Zero [a, b) in the model (punch, truncate). */
static void
model_zero_range(struct fz_model *m, uint64_t a, uint64_t b)
{
	if (m->fm_data && a < FZ_MODEL_MAX) {
		uint64_t e = b < FZ_MODEL_MAX ? b : FZ_MODEL_MAX;

		if (a < e)
			memset(m->fm_data + a, 0, e - a);
	}
}

static void
model_truncate(struct fz_model *m, uint64_t size)
{
	if (size < m->fm_size)
		model_zero_range(m, size, m->fm_size);
	if (size <= FZ_MODEL_MAX)
		m->fm_far = false;
	m->fm_size = size;
}

/* The size the core reports must be the model's. */
static void
model_check_size(struct fz *f, uint64_t ino, const char *what)
{
	struct fz_model *m = model_get(f, ino);
	struct shmemfs_attr a;

	if (!m || !S_ISREG(m->fm_type))
		return;
	if (shmemfs_getattr(f->f_fs, ino, &a))
		return;
	if ((uint64_t)a.sa_st.st_size != m->fm_size) {
		if (m->fm_lost) {
			m->fm_size = (uint64_t)a.sa_st.st_size;
			return;
		}
		fz_fail(f, "%s: ino %llu size %lld, model %llu", what,
			(unsigned long long)ino, (long long)a.sa_st.st_size,
			(unsigned long long)m->fm_size);
	}
}

/* Errors an op may return; anything else aborts. */
static void
expect(struct fz *f, const char *what, long ret, const int *ok)
{
	if (ret >= 0)
		return;
	for (; *ok; ok++)
		if (ret == -*ok)
			return;
	fz_fail(f, "%s: unexpected error %ld (%s)", what, ret,
		strerror((int)-ret));
}

#define EXPECT(f, what, ret, ...)                                         \
	expect((f), (what), (long)(ret), (const int[]){__VA_ARGS__, 0})

/*
 * -ENOMEM needs an injected allocation failure or a mem= budget with
 * swap (a swap-in that finds the budget full); -EIO needs injected swap
 * read faults.  Anything else is checked by EXPECT.
 */
static void
expect_mem(struct fz *f, const char *what, long ret)
{
	if (ret == -ENOMEM && !f->f_armed && !(f->f_swap && f->f_mem_pages))
		fz_fail(f, "%s: ENOMEM with no fault injected and no swap",
			what);
	if (ret == -EIO && !f->f_io_faults)
		fz_fail(f, "%s: EIO with no swap read fault injected", what);
}

/* May a data op stop short (a swap-in that failed)? */
static bool
may_stop_short(const struct fz *f)
{
	return f->f_armed || f->f_swap;
}

/*
 * A lookup that keeps no reference: the ino @name names in @dir, 0 for
 * -ENOENT, or the negative error.
 */
static int64_t
peek(struct fz *f, uint64_t dir, const char *name)
{
	struct shmemfs_attr a;
	int ret;

	ret = shmemfs_lookup(f->f_fs, dir, name, &a);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	shmemfs_forget(f->f_fs, a.sa_st.st_ino, 1);
	return (int64_t)a.sa_st.st_ino;
}

/* Namespace ops. */

static void
check_new_attr(struct fz *f, const char *what, const struct shmemfs_attr *a,
	       mode_t type)
{
	const struct stat *st = &a->sa_st;

	if ((st->st_mode & S_IFMT) != type)
		fz_fail(f, "%s: mode %o, wanted type %o", what,
			(unsigned)st->st_mode, (unsigned)type);
	if (st->st_nlink != (S_ISDIR(type) ? 2u : 1u))
		fz_fail(f, "%s: new inode has nlink %lu", what,
			(unsigned long)st->st_nlink);
	if (st->st_ino <= SHMEMFS_ROOT_INO)
		fz_fail(f, "%s: new inode numbered %llu", what,
			(unsigned long long)st->st_ino);
}

static void
op_mknod(struct fz *f)
{
	static const mode_t modes[] = {
		S_IFREG | 0644, 0600, S_IFIFO | 0644, S_IFSOCK | 0755,
		S_IFCHR | 0600, S_IFBLK | 0600, S_IFDIR | 0755, S_IFLNK | 0777,
		0170000 | 0644, S_IFREG | 07777, S_IFREG | 0644, 0050000,
	};
	uint64_t dir = in_ino(f);
	const char *name = in_name(f);
	mode_t mode = modes[in_u8(f) % 12];
	uint8_t sel = in_u8(f);
	struct shmemfs_attr a;
	mode_t type;
	int ret;

	ret = shmemfs_mknod(f->f_fs, &fz_ctx, dir, name, mode,
			    makedev(1, 3), &a);
	FZ_TRACE("mknod(%llu, \"%.8s\", %o) = %d\n", (unsigned long long)dir,
		 name, (unsigned)mode, ret);
	sf_fail_after = 0;
	EXPECT(f, "mknod", ret, ESTALE, ENOTDIR, ENOENT, EEXIST, EINVAL,
	       ENAMETOOLONG, EPERM, ENOSPC, ENOMEM);
	if (ret)
		return;
	type = (mode & S_IFMT) ? (mode & S_IFMT) : S_IFREG;
	check_new_attr(f, "mknod", &a, type);
	if (S_ISCHR(type) != 0 && a.sa_st.st_rdev != makedev(1, 3))
		fz_fail(f, "mknod: rdev lost");
	model_new(f, a.sa_st.st_ino, type);
	take_ref(f, sel, a.sa_st.st_ino);
}

static void
op_mkdir(struct fz *f)
{
	uint64_t dir = in_ino(f);
	const char *name = in_name(f);
	uint8_t sel = in_u8(f);
	struct shmemfs_attr a;
	int ret;

	ret = shmemfs_mkdir(f->f_fs, &fz_ctx, dir, name, 0755 | (sel & 02000),
			    &a);
	FZ_TRACE("mkdir(%llu, \"%.8s\") = %d\n", (unsigned long long)dir,
		 name, ret);
	sf_fail_after = 0;
	EXPECT(f, "mkdir", ret, ESTALE, ENOTDIR, ENOENT, EEXIST, EINVAL,
	       ENAMETOOLONG, ENOSPC, ENOMEM);
	if (ret)
		return;
	check_new_attr(f, "mkdir", &a, S_IFDIR);
	if (a.sa_st.st_size != 40)
		fz_fail(f, "mkdir: new directory of size %lld",
			(long long)a.sa_st.st_size);
	model_new(f, a.sa_st.st_ino, S_IFDIR);
	take_ref(f, sel, a.sa_st.st_ino);
}

static uint32_t
in_tlen(struct fz *f)
{
	static const uint32_t lens[] = {
		0, 1, 5, 20, 126, 127, 128, 129, 200, 4000, 4095, 4096,
	};
	uint8_t b = in_u8(f);

	return b < 192 ? (uint32_t)b % 40 + 1 : lens[b % 12];
}

static void
op_symlink(struct fz *f)
{
	static char target[SHMEMFS_SYMLINK_MAX + 2];
	uint64_t dir = in_ino(f);
	const char *name = in_name(f);
	uint32_t tlen = in_tlen(f);
	uint32_t seed = in_u8(f);
	uint8_t sel = in_u8(f);
	struct shmemfs_attr a;
	struct fz_model *m;
	int ret;

	fz_fill_text(target, tlen, seed);
	target[tlen] = '\0';
	ret = shmemfs_symlink(f->f_fs, &fz_ctx, dir, name, target, &a);
	FZ_TRACE("symlink(%llu, \"%.8s\", len %u) = %d\n",
		 (unsigned long long)dir, name, tlen, ret);
	sf_fail_after = 0;
	EXPECT(f, "symlink", ret, ESTALE, ENOTDIR, ENOENT, EEXIST, EINVAL,
	       ENAMETOOLONG, ENOSPC, ENOMEM);
	if (ret)
		return;
	if (tlen == 0 || tlen > SHMEMFS_SYMLINK_MAX)
		fz_fail(f, "symlink of length %u accepted", tlen);
	check_new_attr(f, "symlink", &a, S_IFLNK);
	if ((uint64_t)a.sa_st.st_size != tlen)
		fz_fail(f, "symlink: size %lld, target %u",
			(long long)a.sa_st.st_size, tlen);
	m = model_new(f, a.sa_st.st_ino, S_IFLNK);
	if (m) {
		m->fm_tlen = tlen;
		m->fm_tseed = seed;
	}
	take_ref(f, sel, a.sa_st.st_ino);
}

static void
op_link(struct fz *f)
{
	uint64_t ino = in_ino(f), dir = in_ino(f);
	const char *name = in_name(f);
	uint8_t sel = in_u8(f);
	struct shmemfs_attr a, b;
	int ret, had;

	had = shmemfs_getattr(f->f_fs, ino, &b);
	ret = shmemfs_link(f->f_fs, ino, dir, name, &a);
	FZ_TRACE("link(%llu, %llu, \"%.8s\") = %d\n",
		 (unsigned long long)ino, (unsigned long long)dir, name, ret);
	sf_fail_after = 0;
	EXPECT(f, "link", ret, ESTALE, ENOTDIR, ENOENT, EEXIST, EINVAL,
	       ENAMETOOLONG, EPERM, ENOMEM, ENOSPC);
	if (ret)
		return;
	if (had || a.sa_st.st_ino != ino ||
	    a.sa_st.st_nlink != b.sa_st.st_nlink + 1)
		fz_fail(f, "link: ino %llu nlink %lu -> %lu",
			(unsigned long long)ino,
			(unsigned long)b.sa_st.st_nlink,
			(unsigned long)a.sa_st.st_nlink);
	take_ref(f, sel, ino);
	if (peek(f, dir, name) != (int64_t)ino)
		fz_fail(f, "link: new name does not find the inode");
}

static void
op_unlink(struct fz *f, bool rmdir)
{
	uint64_t dir = in_ino(f);
	const char *name = in_name(f);
	const char *what = rmdir ? "rmdir" : "unlink";
	int ret;

	ret = rmdir ? shmemfs_rmdir(f->f_fs, dir, name)
		    : shmemfs_unlink(f->f_fs, dir, name);
	FZ_TRACE("%s(%llu, \"%.8s\") = %d\n", what, (unsigned long long)dir,
		 name, ret);
	sf_fail_after = 0;
	EXPECT(f, what, ret, ESTALE, ENOTDIR, ENOENT, EISDIR, EINVAL,
	       ENAMETOOLONG, ENOTEMPTY, EBUSY, EPERM);
	if (ret)
		return;
	if (peek(f, dir, name) != 0)
		fz_fail(f, "%s: name still there", what);
}

static void
op_rename(struct fz *f)
{
	static const unsigned flags_tab[] = {
		0, 0, SHMEMFS_RENAME_NOREPLACE, SHMEMFS_RENAME_EXCHANGE,
		SHMEMFS_RENAME_EXCHANGE, 3, 4, 0x80000000u,
	};
	uint64_t odir = in_ino(f);
	const char *oname = in_name(f);
	uint64_t ndir = in_ino(f);
	const char *nname = in_name(f);
	unsigned flags = flags_tab[in_u8(f) % 8];
	int64_t src, tgt, src2, tgt2;
	uint8_t fault = (uint8_t)sf_fail_after;
	int ret;

	sf_fail_after = 0;
	src = peek(f, odir, oname);
	tgt = peek(f, ndir, nname);
	sf_fail_after = fault;
	ret = shmemfs_rename(f->f_fs, odir, oname, ndir, nname, flags);
	FZ_TRACE("rename(%llu, \"%.8s\", %llu, \"%.8s\", %u) = %d\n",
		 (unsigned long long)odir, oname, (unsigned long long)ndir,
		 nname, flags, ret);
	sf_fail_after = 0;
	EXPECT(f, "rename", ret, ESTALE, ENOTDIR, ENOENT, EEXIST, EISDIR,
	       EINVAL, ENAMETOOLONG, ENOTEMPTY, EBUSY, ENOMEM);
	src2 = peek(f, odir, oname);
	tgt2 = peek(f, ndir, nname);
	if (ret) {
		if (src2 != src || tgt2 != tgt)
			fz_fail(f, "rename failed (%d) but names changed", ret);
		return;
	}
	if (src <= 0)
		fz_fail(f, "rename of a missing name succeeded");
	if (src == tgt) {
		/* Two names of one inode: nothing happens. */
		if (src2 != src || tgt2 != tgt)
			fz_fail(f, "rename onto a hard link changed names");
	} else if (flags & SHMEMFS_RENAME_EXCHANGE) {
		if (src2 != tgt || tgt2 != src)
			fz_fail(f, "exchange: %lld<->%lld gave %lld,%lld",
				(long long)src, (long long)tgt,
				(long long)src2, (long long)tgt2);
	} else if (src2 != 0 || tgt2 != src) {
		fz_fail(f, "rename %lld over %lld: old name %lld, new %lld",
			(long long)src, (long long)tgt, (long long)src2,
			(long long)tgt2);
	}
}

static void
op_lookup(struct fz *f)
{
	uint64_t dir = in_ino(f);
	const char *name = in_name(f);
	uint8_t sel = in_u8(f);
	struct shmemfs_attr a;
	struct fz_model *m;
	int ret;

	ret = shmemfs_lookup(f->f_fs, dir, name, &a);
	FZ_TRACE("lookup(%llu, \"%.8s\") = %d\n", (unsigned long long)dir,
		 name, ret);
	sf_fail_after = 0;
	EXPECT(f, "lookup", ret, ESTALE, ENOTDIR, ENOENT, EINVAL,
	       ENAMETOOLONG);
	if (ret)
		return;
	m = model_get(f, a.sa_st.st_ino);
	if (m && m->fm_type != (a.sa_st.st_mode & S_IFMT))
		fz_fail(f, "lookup: type changed");
	if (a.sa_st.st_ino != SHMEMFS_ROOT_INO && !m &&
	    f->f_nmodels < FZ_NMODELS)
		fz_fail(f, "lookup found ino %llu that was never created",
			(unsigned long long)a.sa_st.st_ino);
	take_ref(f, sel, a.sa_st.st_ino);
}

/* Data ops. */

static void
op_write(struct fz *f)
{
	uint64_t ino = in_ino(f);
	int64_t off = in_off(f);
	size_t len = in_iolen(f);
	uint32_t seed = in_u8(f);
	struct fz_model *m = model_get(f, ino);
	ssize_t ret;

	fz_fill(fz_wbuf, len, seed);
	ret = shmemfs_write(f->f_fs, ino, fz_wbuf, len, off);
	FZ_TRACE("write(%llu, off %lld, len %zu) = %zd\n",
		 (unsigned long long)ino, (long long)off, len, ret);
	sf_fail_after = 0;
	EXPECT(f, "write", ret, ESTALE, EISDIR, EINVAL, ENOSPC, ENOMEM,
	       EFBIG, EIO);
	expect_mem(f, "write", ret);
	if (ret < 0) {
		model_check_size(f, ino, "failed write");
		return;
	}
	if ((size_t)ret > len || (len && !ret))
		fz_fail(f, "write of %zu returned %zd", len, ret);
	if (off < 0)
		fz_fail(f, "write at %lld succeeded", (long long)off);
	if (model_has_data(m))
		model_write(f, m, (uint64_t)off, fz_wbuf, (size_t)ret);
	model_check_size(f, ino, "write");
}

static void
op_read(struct fz *f)
{
	static uint8_t want[FZ_MAXIO];
	uint64_t ino = in_ino(f);
	int64_t off = in_off(f);
	size_t len = in_iolen(f);
	struct fz_model *m = model_get(f, ino);
	ssize_t ret;
	size_t i;

	ret = shmemfs_read(f->f_fs, ino, fz_rbuf, len, off);
	FZ_TRACE("read(%llu, off %lld, len %zu) = %zd\n",
		 (unsigned long long)ino, (long long)off, len, ret);
	sf_fail_after = 0;
	EXPECT(f, "read", ret, ESTALE, EISDIR, EINVAL, ENOMEM, EIO);
	expect_mem(f, "read", ret);
	if (ret < 0 || !model_has_data(m))
		return;
	{
		uint64_t exp = (uint64_t)off >= m->fm_size ? 0 :
			       m->fm_size - (uint64_t)off;

		if (exp > len)
			exp = len;
		if ((uint64_t)ret > exp ||
		    ((uint64_t)ret < exp && !may_stop_short(f)))
			fz_fail(f, "read(ino %llu, %lld, %zu) = %zd, size "
				"%llu", (unsigned long long)ino,
				(long long)off, len, ret,
				(unsigned long long)m->fm_size);
	}
	if (!model_read(m, (uint64_t)off, (size_t)ret, want))
		return;
	for (i = 0; i < (size_t)ret; i++)
		if (fz_rbuf[i] != want[i])
			fz_fail(f, "read(ino %llu): byte at %llu is %#x, "
				"model %#x", (unsigned long long)ino,
				(unsigned long long)off + i, fz_rbuf[i],
				want[i]);
}

static uint64_t
blocks_of(struct fz *f, uint64_t ino, int *err)
{
	struct shmemfs_attr a;

	*err = shmemfs_getattr(f->f_fs, ino, &a);
	return *err ? 0 : (uint64_t)a.sa_st.st_blocks / (FZ_PAGE / 512);
}

static void
op_truncate(struct fz *f)
{
	static const unsigned extra[] = {
		0, 0, 0, SHMEMFS_SET_MODE, SHMEMFS_SET_MTIME_NOW,
		SHMEMFS_SET_CTIME, SHMEMFS_SET_UID | SHMEMFS_SET_GID, 0,
	};
	uint64_t ino = in_ino(f);
	int64_t off = in_off(f);
	uint8_t k = in_u8(f);
	struct fz_model *m = model_get(f, ino);
	struct shmemfs_setattr sa = {0};
	struct shmemfs_attr a, b;
	unsigned valid = SHMEMFS_SET_SIZE | extra[k % 8];
	int ret, had;

	sa.ss_size = (uint64_t)off;
	if (k >= 0xf0)
		sa.ss_size = (uint64_t)INT64_MAX + 1 + (k & 3);
	sa.ss_mode = 0640;
	sa.ss_uid = 7;
	sa.ss_gid = 8;
	had = shmemfs_getattr(f->f_fs, ino, &b);
	ret = shmemfs_setattr(f->f_fs, ino, valid, &sa, &a);
	FZ_TRACE("truncate(%llu, %llu, %#x) = %d\n", (unsigned long long)ino,
		 (unsigned long long)sa.ss_size, valid, ret);
	sf_fail_after = 0;
	EXPECT(f, "truncate", ret, ESTALE, EISDIR, EINVAL, EFBIG, ENOMEM,
	       EIO);
	expect_mem(f, "truncate", ret);
	if (ret) {
		/* A failed truncate changes nothing. */
		model_check_size(f, ino, "failed truncate");
		return;
	}
	if (had || (uint64_t)a.sa_st.st_size != sa.ss_size)
		fz_fail(f, "truncate to %llu: size %lld",
			(unsigned long long)sa.ss_size,
			(long long)a.sa_st.st_size);
	/*
	 * Like shmem_setattr(): a size that does not grow the file drops
	 * every page wholly past it, fallocated ones included.
	 */
	if (sa.ss_size <= (uint64_t)b.sa_st.st_size) {
		uint64_t keep = (sa.ss_size + FZ_PAGE - 1) / FZ_PAGE;
		uint64_t have = (uint64_t)a.sa_st.st_blocks / (FZ_PAGE / 512);

		if (have > keep)
			fz_fail(f, "truncate(ino %llu) to %llu keeps %llu "
				"pages", (unsigned long long)ino,
				(unsigned long long)sa.ss_size,
				(unsigned long long)have);
	}
	if ((valid & SHMEMFS_SET_MODE) &&
	    (a.sa_st.st_mode & 07777) != 0640)
		fz_fail(f, "setattr: mode not applied");
	if (model_has_data(m))
		model_truncate(m, sa.ss_size);
	else if (m)
		m->fm_size = sa.ss_size;
	model_check_size(f, ino, "truncate");
}

static void
op_fallocate(struct fz *f)
{
	static const int modes[] = {
		0, 0, SHMEMFS_FALLOC_KEEP_SIZE,
		SHMEMFS_FALLOC_KEEP_SIZE | SHMEMFS_FALLOC_PUNCH_HOLE,
		SHMEMFS_FALLOC_KEEP_SIZE | SHMEMFS_FALLOC_PUNCH_HOLE,
		SHMEMFS_FALLOC_PUNCH_HOLE, 0x04, 0x08, 0x10, 0x20, -1, 0x13,
	};
	uint64_t ino = in_ino(f);
	int mode = modes[in_u8(f) % 12];
	int64_t off = in_off(f);
	int64_t len = in_len64(f);
	struct fz_model *m = model_get(f, ino);
	uint64_t before, after, end;
	struct shmemfs_attr b;
	int ret, err1, err2;

	before = blocks_of(f, ino, &err1);
	if (shmemfs_getattr(f->f_fs, ino, &b))
		memset(&b, 0, sizeof(b));
	ret = shmemfs_fallocate(f->f_fs, ino, mode, off, len);
	FZ_TRACE("fallocate(%llu, %#x, %lld, %lld) = %d\n",
		 (unsigned long long)ino, mode, (long long)off,
		 (long long)len, ret);
	sf_fail_after = 0;
	EXPECT(f, "fallocate", ret, ESTALE, EISDIR, EINVAL, ENODEV, ENOSPC,
	       ENOMEM, EFBIG, EOPNOTSUPP, EIO);
	expect_mem(f, "fallocate", ret);
	after = blocks_of(f, ino, &err2);
	if (ret && (mode & SHMEMFS_FALLOC_PUNCH_HOLE) &&
	    (ret == -EIO || ret == -ENOMEM)) {
		/*
		 * Whole pages went; an edge page that could not come back
		 * from swap to be zeroed in part stayed as it was.
		 */
		if (m)
			m->fm_lost = true;
		model_check_size(f, ino, "failed punch");
		return;
	}
	if (ret) {
		/* Nothing changes when fallocate fails. */
		if (!err1 && !err2 && before != after)
			fz_fail(f, "failed fallocate (%d) changed blocks "
				"%llu -> %llu", ret,
				(unsigned long long)before,
				(unsigned long long)after);
		model_check_size(f, ino, "failed fallocate");
		return;
	}
	if (off < 0 || len <= 0)
		fz_fail(f, "fallocate(%lld, %lld) succeeded", (long long)off,
			(long long)len);
	end = (uint64_t)off + (uint64_t)len;
	if (mode & SHMEMFS_FALLOC_PUNCH_HOLE) {
		if (model_has_data(m))
			model_zero_range(m, (uint64_t)off, end);
		if (after > before)
			fz_fail(f, "punch hole added blocks");
	} else {
		uint64_t pages = (end - 1) / FZ_PAGE - (uint64_t)off / FZ_PAGE
				 + 1;

		if (after < pages)
			fz_fail(f, "fallocate of %llu pages: %llu blocks",
				(unsigned long long)pages,
				(unsigned long long)after);
		if (m && !(mode & SHMEMFS_FALLOC_KEEP_SIZE) &&
		    end > m->fm_size)
			m->fm_size = end;
	}
	model_check_size(f, ino, "fallocate");
}

static void
op_lseek(struct fz *f)
{
	static const int whences[] = {SEEK_DATA, SEEK_HOLE, SEEK_SET,
				      SEEK_END};
	uint64_t ino = in_ino(f);
	int64_t off = in_off(f);
	int whence = whences[in_u8(f) % 4];
	struct fz_model *m = model_get(f, ino);
	uint64_t size;
	int64_t ret;

	ret = shmemfs_lseek(f->f_fs, ino, off, whence);
	FZ_TRACE("lseek(%llu, %lld, %d) = %lld\n", (unsigned long long)ino,
		 (long long)off, whence, (long long)ret);
	sf_fail_after = 0;
	EXPECT(f, "lseek", ret, ESTALE, EINVAL, ENXIO);
	if (whence != SEEK_DATA && whence != SEEK_HOLE && ret != -EINVAL &&
	    ret != -ESTALE)
		fz_fail(f, "lseek whence %d: %lld", whence, (long long)ret);
	if (!model_has_data(m) || ret == -EINVAL || ret == -ESTALE)
		return;
	size = m->fm_size;
	if (ret == -ENXIO) {
		if (off >= 0 && (uint64_t)off < size &&
		    (whence == SEEK_HOLE ||
		     !model_zero(m, (uint64_t)off, size)))
			fz_fail(f, "lseek(%lld, %d): ENXIO with size %llu",
				(long long)off, whence,
				(unsigned long long)size);
		return;
	}
	if (ret < off || (uint64_t)ret > size ||
	    (whence == SEEK_DATA && (uint64_t)ret == size))
		fz_fail(f, "lseek(%lld, %d) = %lld, size %llu", (long long)off,
			whence, (long long)ret, (unsigned long long)size);
	if (whence == SEEK_DATA && !model_zero(m, (uint64_t)off, (uint64_t)ret))
		fz_fail(f, "SEEK_DATA from %lld skipped data before %lld",
			(long long)off, (long long)ret);
	if (whence == SEEK_HOLE) {
		uint64_t pend = ((uint64_t)ret / FZ_PAGE + 1) * FZ_PAGE;

		if (!model_zero(m, (uint64_t)ret, pend))
			fz_fail(f, "SEEK_HOLE from %lld = %lld, but data there",
				(long long)off, (long long)ret);
	}
}

static void
op_copy_range(struct fz *f)
{
	uint64_t in = in_ino(f), out = in_ino(f);
	int64_t off_in = in_off(f), off_out = in_off(f);
	size_t len = in_iolen(f);
	struct fz_model *mi = model_get(f, in), *mo = model_get(f, out);
	static uint8_t src[FZ_MAXIO];
	bool known = false;
	ssize_t ret;

	if (model_has_data(mi) && model_has_data(mo) && off_in >= 0)
		known = model_read(mi, (uint64_t)off_in, len, src);
	ret = shmemfs_copy_file_range(f->f_fs, in, off_in, out, off_out, len);
	FZ_TRACE("copy_file_range(%llu, %lld, %llu, %lld, %zu) = %zd\n",
		 (unsigned long long)in, (long long)off_in,
		 (unsigned long long)out, (long long)off_out, len, ret);
	sf_fail_after = 0;
	EXPECT(f, "copy_file_range", ret, ESTALE, EISDIR, EINVAL, ENOSPC,
	       ENOMEM, EFBIG, EIO);
	expect_mem(f, "copy_file_range", ret);
	if (ret < 0)
		return;
	if ((size_t)ret > len)
		fz_fail(f, "copy_file_range of %zu copied %zd", len, ret);
	/* A short copy may have stopped at a page it could not read. */
	if (!mo || !model_has_data(mo))
		return;
	if (known && off_out >= 0) {
		uint64_t avail = (uint64_t)off_in >= mi->fm_size ? 0 :
				 mi->fm_size - (uint64_t)off_in;

		if (ret == 0 && len && avail && in != out)
			fz_fail(f, "copy_file_range of %zu from %lld (size "
				"%llu) copied nothing and said no error",
				len, (long long)off_in,
				(unsigned long long)mi->fm_size);
		if ((uint64_t)ret > avail)
			fz_fail(f, "copy_file_range copied %zd past EOF %llu",
				ret, (unsigned long long)mi->fm_size);
		model_write(f, mo, (uint64_t)off_out, src, (size_t)ret);
	} else if (ret) {
		mo->fm_lost = true;
	}
	model_check_size(f, out, "copy_file_range");
}

/* Extended attributes. */

/*
 * The modelled names come first, in strcmp() order (the order the core
 * lists them in); the last one is 255 bytes long.  The rest are invalid.
 */
static char fz_xlong255[SHMEMFS_XATTR_NAME_MAX + 1];
static char fz_xlong256[SHMEMFS_XATTR_NAME_MAX + 2];
static const char *fz_xnames[8] = {
	"security.s", "trusted.t", "user.a", "user.b", fz_xlong255,
	"user.", "foo.bar", "",
};

static const char *
in_xname(struct fz *f, int *idx)
{
	uint8_t b = in_u8(f);

	if ((b & 0x78) == 0x78) {
		*idx = -1;
		return fz_xlong256;
	}
	*idx = b % 8 < FZ_NXATTR ? b % 8 : -1;
	return fz_xnames[b % 8];
}

static bool
xattr_allowed(const struct fz_model *m, int idx)
{
	/* user.* only on regular files and directories, as tmpfs. */
	return idx < 2 || S_ISREG(m->fm_type) || S_ISDIR(m->fm_type);
}

static void
op_setxattr(struct fz *f)
{
	static const int flags_tab[] = {0, 0, SHMEMFS_XATTR_CREATE,
					SHMEMFS_XATTR_REPLACE, 3, 4};
	uint64_t ino = in_ino(f);
	int idx;
	const char *name = in_xname(f, &idx);
	uint8_t k = in_u8(f);
	size_t len = k < 200 ? k % 80 : k % 2 ? SHMEMFS_XATTR_SIZE_MAX
					      : SHMEMFS_XATTR_SIZE_MAX + 1;
	uint32_t seed = in_u8(f) + 1;
	int flags = flags_tab[in_u8(f) % 6];
	struct fz_model *m = model_get(f, ino);
	int ret;

	fz_fill(fz_wbuf, len, seed);
	ret = shmemfs_setxattr(f->f_fs, ino, name, fz_wbuf, len, flags);
	FZ_TRACE("setxattr(%llu, \"%.12s\", %zu, %d) = %d\n",
		 (unsigned long long)ino, name, len, flags, ret);
	sf_fail_after = 0;
	/* ENOSPC: xattrs are charged to nr_inodes= space, as in tmpfs. */
	EXPECT(f, "setxattr", ret, ESTALE, ERANGE, EINVAL, EOPNOTSUPP, EPERM,
	       E2BIG, EEXIST, ENODATA, ENOMEM, ENOSPC);
	if (!m || idx < 0)
		return;
	if (ret == -EEXIST && m->fm_xlen[idx] < 0)
		fz_fail(f, "setxattr CREATE: EEXIST for a missing xattr");
	if (ret == -ENODATA && m->fm_xlen[idx] >= 0)
		fz_fail(f, "setxattr REPLACE: ENODATA for a present xattr");
	if (ret == -EPERM && xattr_allowed(m, idx))
		fz_fail(f, "setxattr: EPERM");
	if (ret)
		return;
	if (!xattr_allowed(m, idx))
		fz_fail(f, "user.* xattr set on type %o", (unsigned)m->fm_type);
	m->fm_xlen[idx] = (int32_t)len;
	m->fm_xseed[idx] = seed;
}

static void
op_getxattr(struct fz *f)
{
	uint64_t ino = in_ino(f);
	int idx;
	const char *name = in_xname(f, &idx);
	uint8_t k = in_u8(f);
	struct fz_model *m = model_get(f, ino);
	size_t size;
	ssize_t ret;

	switch (k % 4) {
	case 0: size = 0; break;
	case 1: size = k % 80; break;
	default: size = FZ_MAXIO; break;
	}
	ret = shmemfs_getxattr(f->f_fs, ino, name, fz_rbuf, size);
	FZ_TRACE("getxattr(%llu, \"%.12s\", %zu) = %zd\n",
		 (unsigned long long)ino, name, size, ret);
	sf_fail_after = 0;
	EXPECT(f, "getxattr", ret, ESTALE, ERANGE, EINVAL, EOPNOTSUPP,
	       ENODATA);
	if (!m || idx < 0 || ret == -ESTALE)
		return;
	if (m->fm_xlen[idx] < 0) {
		if (ret != -ENODATA)
			fz_fail(f, "getxattr of a missing xattr: %zd", ret);
		return;
	}
	if (size && size < (size_t)m->fm_xlen[idx]) {
		if (ret != -ERANGE)
			fz_fail(f, "getxattr into %zu bytes of %d: %zd", size,
				m->fm_xlen[idx], ret);
		return;
	}
	if (ret != m->fm_xlen[idx])
		fz_fail(f, "getxattr: %zd bytes, model %d", ret,
			m->fm_xlen[idx]);
	if (size) {
		fz_fill(fz_wbuf, (size_t)ret, m->fm_xseed[idx]);
		if (memcmp(fz_wbuf, fz_rbuf, (size_t)ret))
			fz_fail(f, "getxattr: value differs");
	}
}

static void
op_removexattr(struct fz *f)
{
	uint64_t ino = in_ino(f);
	int idx;
	const char *name = in_xname(f, &idx);
	struct fz_model *m = model_get(f, ino);
	int ret;

	ret = shmemfs_removexattr(f->f_fs, ino, name);
	FZ_TRACE("removexattr(%llu, \"%.12s\") = %d\n",
		 (unsigned long long)ino, name, ret);
	sf_fail_after = 0;
	EXPECT(f, "removexattr", ret, ESTALE, ERANGE, EINVAL, EOPNOTSUPP,
	       EPERM, ENODATA);
	if (!m || idx < 0 || ret == -ESTALE)
		return;
	if (ret == 0 && m->fm_xlen[idx] < 0)
		fz_fail(f, "removexattr of a missing xattr succeeded");
	if (ret == -ENODATA && m->fm_xlen[idx] >= 0)
		fz_fail(f, "removexattr: ENODATA for a present xattr");
	if (!ret)
		m->fm_xlen[idx] = -1;
}

static void
op_listxattr(struct fz *f)
{
	uint64_t ino = in_ino(f);
	uint8_t k = in_u8(f);
	size_t size = k < 128 ? FZ_MAXIO : k % 40;
	struct fz_model *m = model_get(f, ino);
	char want[1024];
	size_t wlen = 0;
	ssize_t ret;
	int i;

	ret = shmemfs_listxattr(f->f_fs, ino, (char *)fz_rbuf, size);
	FZ_TRACE("listxattr(%llu, %zu) = %zd\n", (unsigned long long)ino,
		 size, ret);
	sf_fail_after = 0;
	EXPECT(f, "listxattr", ret, ESTALE, ERANGE);
	if (!m || ret == -ESTALE)
		return;
	/* fz_xnames[] is in the order the core keeps them. */
	for (i = 0; i < FZ_NXATTR; i++) {
		if (m->fm_xlen[i] < 0)
			continue;
		memcpy(want + wlen, fz_xnames[i], strlen(fz_xnames[i]) + 1);
		wlen += strlen(fz_xnames[i]) + 1;
	}
	if (size && size < wlen) {
		if (ret != -ERANGE)
			fz_fail(f, "listxattr into %zu of %zu: %zd", size,
				wlen, ret);
		return;
	}
	if (ret != (ssize_t)wlen || (size && memcmp(want, fz_rbuf, wlen)))
		fz_fail(f, "listxattr: %zd bytes, model %zu", ret, wlen);
}

/* Directories. */

#define FZ_MAX_DENTS 512

struct walk {
	unsigned w_n;
	unsigned w_batch;     /* entries to consume per call */
	unsigned w_taken;     /* consumed in this call */
	uint64_t w_next;      /* cookie to resume from */
	char w_names[FZ_MAX_DENTS][SHMEMFS_NAME_MAX + 1];
	uint64_t w_inos[FZ_MAX_DENTS];
	bool w_overflow;
};

static int
walk_fill(void *arg, const char *name, const struct shmemfs_attr *attr,
	  uint64_t next)
{
	struct walk *w = arg;

	if (w->w_taken == w->w_batch)
		return 1;
	if (w->w_n == FZ_MAX_DENTS) {
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

/* Walk @dir in batches; 0 or the readdir error. */
static int
walk_dir(struct fz *f, uint64_t dir, int plus, unsigned batch,
	 struct walk *w)
{
	unsigned calls = 0;
	int ret;

	w->w_n = 0;
	w->w_next = 0;
	w->w_overflow = false;
	w->w_batch = batch ? batch : 1;
	for (;;) {
		w->w_taken = 0;
		ret = shmemfs_readdir(f->f_fs, dir, w->w_next, plus, walk_fill,
				      w);
		if (ret)
			return ret;
		if (!w->w_taken || w->w_overflow)
			return 0;
		if (++calls > 10000)
			fz_fail(f, "readdir of %llu does not end",
				(unsigned long long)dir);
	}
}

static void
op_readdir(struct fz *f)
{
	static struct walk w;
	uint64_t dir = in_ino(f);
	uint8_t k = in_u8(f);
	int plus = k & 1;
	struct shmemfs_attr a;
	unsigned i, j;
	int ret;

	ret = walk_dir(f, dir, plus, 1 + (k >> 1) % 8, &w);
	FZ_TRACE("readdir(%llu, plus %d) = %d, %u entries\n",
		 (unsigned long long)dir, plus, ret, w.w_n);
	sf_fail_after = 0;
	EXPECT(f, "readdir", ret, ESTALE, ENOTDIR);
	if (plus) {
		for (i = 2; i < w.w_n; i++)
			shmemfs_forget(f->f_fs, w.w_inos[i], 1);
	}
	if (ret)
		return;
	if (w.w_overflow)
		fz_fail(f, "readdir: more than %d entries", FZ_MAX_DENTS);
	if (w.w_n < 2 || strcmp(w.w_names[0], ".") ||
	    strcmp(w.w_names[1], "..") || w.w_inos[0] != dir)
		fz_fail(f, "readdir: no . and .. first");
	for (i = 0; i < w.w_n; i++)
		for (j = i + 1; j < w.w_n; j++)
			if (!strcmp(w.w_names[i], w.w_names[j]))
				fz_fail(f, "readdir: '%s' twice",
					w.w_names[i]);
	if (shmemfs_getattr(f->f_fs, dir, &a))
		fz_fail(f, "readdir: getattr of the directory failed");
	if ((uint64_t)a.sa_st.st_size != 40 + 20 * (uint64_t)(w.w_n - 2))
		fz_fail(f, "readdir: %u entries, size %lld", w.w_n - 2,
			(long long)a.sa_st.st_size);
	if (a.sa_st.st_nlink == 0)
		return;  /* a removed directory: names cannot be looked up */
	for (i = 2; i < w.w_n; i++)
		if (peek(f, dir, w.w_names[i]) != (int64_t)w.w_inos[i])
			fz_fail(f, "readdir: '%s' is ino %llu, lookup differs",
				w.w_names[i], (unsigned long long)w.w_inos[i]);
}

/*
 * Many names at once, "n000".."n199", outside the tiny alphabet: links
 * of one inode (names without inodes, to grow the name hash past its
 * first 256 buckets), new files, or unlinks of them.
 */
static void
op_bulk(struct fz *f)
{
	uint64_t dir = in_ino(f), ino = in_ino(f);
	uint8_t k = in_u8(f);
	unsigned n = 1 + k % 200, kind = in_u8(f) % 3, i, done = 0;
	struct shmemfs_attr a;
	char name[8];
	int ret = 0;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "n%03u", i);
		if (kind == 0) {
			ret = shmemfs_link(f->f_fs, ino, dir, name, &a);
			EXPECT(f, "bulk link", ret, ESTALE, ENOTDIR, ENOENT,
			       EEXIST, EPERM, ENOMEM, ENOSPC);
			if (!ret)
				shmemfs_forget(f->f_fs, ino, 1);
		} else if (kind == 1) {
			ret = shmemfs_unlink(f->f_fs, dir, name);
			EXPECT(f, "bulk unlink", ret, ESTALE, ENOTDIR, ENOENT,
			       EISDIR);
		} else {
			ret = shmemfs_mknod(f->f_fs, &fz_ctx, dir, name,
					    S_IFREG | 0600, 0, &a);
			EXPECT(f, "bulk mknod", ret, ESTALE, ENOTDIR, ENOENT,
			       EEXIST, ENOSPC, ENOMEM);
			if (!ret) {
				model_new(f, a.sa_st.st_ino, S_IFREG);
				shmemfs_forget(f->f_fs, a.sa_st.st_ino, 1);
			}
		}
		done += !ret;
		if (ret == -ESTALE || ret == -ENOTDIR)
			break;
	}
	sf_fail_after = 0;
	FZ_TRACE("bulk(%llu, kind %u, %u names) = %u done\n",
		 (unsigned long long)dir, kind, n, done);
}

/* References and opens. */

static void
op_open(struct fz *f)
{
	struct fz_slot *s = &f->f_slots[in_u8(f) % FZ_SLOTS];
	int ret;

	if (!s->fs_ino || s == &f->f_slots[0])
		return;
	ret = shmemfs_open(f->f_fs, s->fs_ino);
	FZ_TRACE("open(%llu) = %d\n", (unsigned long long)s->fs_ino, ret);
	sf_fail_after = 0;
	if (ret)
		fz_fail(f, "open of held ino %llu: %d",
			(unsigned long long)s->fs_ino, ret);
	s->fs_nopen++;
}

static void
op_release(struct fz *f)
{
	struct fz_slot *s = &f->f_slots[in_u8(f) % FZ_SLOTS];

	if (!s->fs_nopen)
		return;
	FZ_TRACE("release(%llu)\n", (unsigned long long)s->fs_ino);
	if (s->fs_nopen == 1 && !s->fs_nlookup) {
		slot_drop(f, s);
		return;
	}
	shmemfs_release(f->f_fs, s->fs_ino);
	s->fs_nopen--;
}

static void
op_forget(struct fz *f)
{
	struct fz_slot *s = &f->f_slots[in_u8(f) % FZ_SLOTS];
	uint8_t k = in_u8(f);
	uint64_t n;

	if (!s->fs_nlookup || s == &f->f_slots[0])
		return;
	n = 1 + k % s->fs_nlookup;
	FZ_TRACE("forget(%llu, %llu)\n", (unsigned long long)s->fs_ino,
		 (unsigned long long)n);
	if (n == s->fs_nlookup && !s->fs_nopen) {
		slot_drop(f, s);
		return;
	}
	shmemfs_forget(f->f_fs, s->fs_ino, n);
	s->fs_nlookup -= n;
}

static void
op_getattr(struct fz *f)
{
	static char buf[SHMEMFS_SYMLINK_MAX + 2], want[SHMEMFS_SYMLINK_MAX + 2];
	uint64_t ino = in_ino(f);
	uint8_t k = in_u8(f);
	size_t size = k < 128 ? sizeof(buf) : k % 140;
	struct fz_model *m = model_get(f, ino);
	struct shmemfs_attr a;
	int ret;

	ret = shmemfs_getattr(f->f_fs, ino, &a);
	sf_fail_after = 0;
	EXPECT(f, "getattr", ret, ESTALE);
	if (ret)
		return;
	if (a.sa_st.st_ino != ino)
		fz_fail(f, "getattr(%llu): st_ino %llu",
			(unsigned long long)ino,
			(unsigned long long)a.sa_st.st_ino);
	if (m && m->fm_type != (a.sa_st.st_mode & S_IFMT))
		fz_fail(f, "getattr: type changed");
	model_check_size(f, ino, "getattr");
	ret = shmemfs_readlink(f->f_fs, ino, buf, size);
	FZ_TRACE("readlink(%llu, %zu) = %d\n", (unsigned long long)ino, size,
		 ret);
	EXPECT(f, "readlink", ret, ESTALE, EINVAL, EIO, ENOMEM);
	expect_mem(f, "readlink", ret);
	if (!S_ISLNK(a.sa_st.st_mode)) {
		if (ret != -EINVAL)
			fz_fail(f, "readlink of a non-symlink: %d", ret);
		return;
	}
	if (!m || ret < 0)
		return;
	if ((size_t)ret != (m->fm_tlen < size ? m->fm_tlen : size))
		fz_fail(f, "readlink: %d bytes of %u", ret, m->fm_tlen);
	fz_fill_text(want, m->fm_tlen, m->fm_tseed);
	if (memcmp(buf, want, (size_t)ret))
		fz_fail(f, "readlink: target differs");
}

static void
op_stats(struct fz *f)
{
	struct shmemfs_stats st;
	struct statvfs sv;

	shmemfs_get_stats(f->f_fs, &st);
	shmemfs_statfs(f->f_fs, &sv);
	if (st.used_bytes > st.size_limit_bytes ||
	    (st.inodes_limit && st.inodes_used > st.inodes_limit))
		fz_fail(f, "over the limits: %llu/%llu bytes, %llu/%llu inodes",
			(unsigned long long)st.used_bytes,
			(unsigned long long)st.size_limit_bytes,
			(unsigned long long)st.inodes_used,
			(unsigned long long)st.inodes_limit);
	if (f->f_mem_pages &&
	    st.resident_bytes > (f->f_mem_pages + 64) * FZ_PAGE)
		fz_fail(f, "resident %llu bytes, budget %llu pages",
			(unsigned long long)st.resident_bytes,
			(unsigned long long)f->f_mem_pages);
	if (!f->f_swap && st.swapped_bytes)
		fz_fail(f, "swapped without a swap device");
	if (sv.f_blocks != f->f_max_blocks ||
	    sv.f_bfree != sv.f_blocks - st.used_bytes / FZ_PAGE)
		fz_fail(f, "statfs blocks %llu free %llu, stats used %llu",
			(unsigned long long)sv.f_blocks,
			(unsigned long long)sv.f_bfree,
			(unsigned long long)st.used_bytes);
}

/* Swap faults, swapoff and swapon, and a background collapse pass. */
static void
op_swapctl(struct fz *f)
{
	uint8_t k = in_u8(f);
	struct shmemfs_stats st;
	int ret;

	switch (k % 8) {
	case 0:
		fz_swap.sw_fail_write = !fz_swap.sw_fail_write;
		break;
	case 1:
		fz_swap.sw_fail_read = !fz_swap.sw_fail_read;
		f->f_io_faults |= fz_swap.sw_fail_read;
		break;
	case 2:
		fz_swap.sw_corrupt_read = !fz_swap.sw_corrupt_read;
		f->f_io_faults |= fz_swap.sw_corrupt_read;
		break;
	case 3:
		/* Rot one stored slot for good. */
		if (fz_swap.sw_data && fz_swap.sw_nslots) {
			fz_swap.sw_data[(k >> 3) % fz_swap.sw_nslots *
					FZ_PAGE + 100] ^= 1;
			f->f_io_faults = true;
		}
		break;
	case 4:
		fz_swap.sw_fail_write = false;
		fz_swap.sw_fail_read = false;
		fz_swap.sw_corrupt_read = false;
		break;
	case 6:
		/* Background collapse: changes nothing a caller can see
		 * (every read checks the data against the model). */
		ret = shmemfs_huge_collapse(f->f_fs);
		FZ_TRACE("huge_collapse() = %d\n", ret);
		sf_fail_after = 0;
		if (ret < 0)
			fz_fail(f, "huge_collapse: %d", ret);
		return;
	case 5:
		ret = shmemfs_swapoff(f->f_fs);
		FZ_TRACE("swapoff() = %d\n", ret);
		sf_fail_after = 0;
		EXPECT(f, "swapoff", ret, EINVAL, ENOMEM, EIO);
		expect_mem(f, "swapoff", ret == -ENOMEM ? 0 : ret);
		if (ret == -EINVAL && f->f_swap)
			fz_fail(f, "swapoff: EINVAL with a swap device");
		shmemfs_get_stats(f->f_fs, &st);
		if (!ret && st.swapped_bytes)
			fz_fail(f, "swapoff left %llu bytes in swap",
				(unsigned long long)st.swapped_bytes);
		return;
	default:
		ret = shmemfs_swapon(f->f_fs);
		FZ_TRACE("swapon() = %d\n", ret);
		sf_fail_after = 0;
		if (ret != (f->f_swap ? 0 : -EINVAL))
			fz_fail(f, "swapon: %d", ret);
		return;
	}
	FZ_TRACE("swapctl(%u): fail_write %d fail_read %d corrupt %d\n",
		 k % 8, fz_swap.sw_fail_write, fz_swap.sw_fail_read,
		 fz_swap.sw_corrupt_read);
}

/*
 * The end: drop every reference, then everything alive must be reachable
 * from the root, and the blocks must add up.
 */
struct reach {
	uint64_t r_inos[4096];
	unsigned r_n;
	uint64_t r_blocks;
	bool r_overflow;
};

static bool
reach_add(struct reach *r, uint64_t ino)
{
	unsigned i;

	for (i = 0; i < r->r_n; i++)
		if (r->r_inos[i] == ino)
			return false;
	if (r->r_n == sizeof(r->r_inos) / sizeof(r->r_inos[0])) {
		r->r_overflow = true;
		return false;
	}
	r->r_inos[r->r_n++] = ino;
	return true;
}

static void
reach_dir(struct fz *f, struct reach *r, uint64_t dir, unsigned depth)
{
	struct walk *w = malloc(sizeof(*w));
	struct shmemfs_attr a;
	unsigned i;

	if (!w)
		fz_fail(f, "out of memory");
	if (depth > 256)
		fz_fail(f, "directory tree deeper than 256");
	if (walk_dir(f, dir, 0, 64, w))
		fz_fail(f, "readdir of reachable dir %llu failed",
			(unsigned long long)dir);
	for (i = 2; i < w->w_n; i++) {
		if (!reach_add(r, w->w_inos[i]))
			continue;
		if (shmemfs_getattr(f->f_fs, w->w_inos[i], &a))
			fz_fail(f, "getattr of a named inode failed");
		r->r_blocks += (uint64_t)a.sa_st.st_blocks / (FZ_PAGE / 512);
		if (S_ISDIR(a.sa_st.st_mode))
			reach_dir(f, r, w->w_inos[i], depth + 1);
	}
	free(w);
}

static void
fz_teardown(struct fz *f)
{
	static struct reach r;
	struct shmemfs_stats st;
	unsigned i;

	sf_fail_after = 0;
	for (i = 1; i < FZ_SLOTS; i++)
		slot_drop(f, &f->f_slots[i]);
	fz_check(f, "teardown");
	memset(&r, 0, sizeof(r));
	reach_add(&r, SHMEMFS_ROOT_INO);
	reach_dir(f, &r, SHMEMFS_ROOT_INO, 0);
	shmemfs_get_stats(f->f_fs, &st);
	if (!r.r_overflow && st.inodes_used != r.r_n)
		fz_fail(f, "%llu inodes alive, %u reachable from the root",
			(unsigned long long)st.inodes_used, r.r_n);
	if (!r.r_overflow && st.used_bytes / FZ_PAGE != r.r_blocks)
		fz_fail(f, "%llu blocks used, %llu in reachable inodes",
			(unsigned long long)(st.used_bytes / FZ_PAGE),
			(unsigned long long)r.r_blocks);
}

static void
op_unlink_file(struct fz *f)
{
	op_unlink(f, false);
}

static void
op_rmdir(struct fz *f)
{
	op_unlink(f, true);
}

/* Fail one of the next op's allocations (its 1st to 12th). */
static void
op_fault(struct fz *f)
{
	sf_fail_after = 1 + in_u8(f) % 12;
	f->f_armed = true;
	FZ_TRACE("fault(%d)\n", sf_fail_after);
}

/* The opcode is an index into this table: keep gen-corpus.py in step. */
static const struct {
	const char *fo_name;
	void (*fo_run)(struct fz *f);
} fz_ops[] = {
	{"mknod", op_mknod},
	{"mkdir", op_mkdir},
	{"symlink", op_symlink},
	{"link", op_link},
	{"unlink", op_unlink_file},
	{"rmdir", op_rmdir},
	{"rename", op_rename},
	{"lookup", op_lookup},
	{"write", op_write},
	{"read", op_read},
	{"truncate", op_truncate},
	{"fallocate", op_fallocate},
	{"lseek", op_lseek},
	{"setxattr", op_setxattr},
	{"getxattr", op_getxattr},
	{"removexattr", op_removexattr},
	{"listxattr", op_listxattr},
	{"readdir", op_readdir},
	{"open", op_open},
	{"release", op_release},
	{"forget", op_forget},
	{"getattr", op_getattr},
	{"copy_file_range", op_copy_range},
	{"stats", op_stats},
	{"swapctl", op_swapctl},
	{"bulk", op_bulk},
	{"fault", op_fault},
};

#define FZ_NOPS (sizeof(fz_ops) / sizeof(fz_ops[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_trace = getenv("FUZZ_TRACE") != NULL;
	memset(fz_long255, 'n', 255);
	memset(fz_long256, 'n', 256);
	memcpy(fz_xlong255, "user.", 5);
	memset(fz_xlong255 + 5, 'x', SHMEMFS_XATTR_NAME_MAX - 5);
	memcpy(fz_xlong256, fz_xlong255, SHMEMFS_XATTR_NAME_MAX);
	fz_xlong256[SHMEMFS_XATTR_NAME_MAX] = 'x';
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	struct shmemfs_opts o;
	uint8_t b0, b1, b2, b3;
	int ret;

	memset(&f, 0, sizeof(f));
	f.f_in.fi_p = data;
	f.f_in.fi_n = size;
	b0 = in_u8(&f);
	b1 = in_u8(&f);
	b2 = in_u8(&f);
	b3 = in_u8(&f);

	shmemfs_opts_init(&o);
	o.so_max_blocks = b0 == 0xff ? 2048 : b0 >= 0xf0 ? 256 : 4 + b0 % 64;
	o.so_max_inodes = b1 % 40;      /* 0: unlimited */
	o.so_mode = 01777 | ((b2 & 1) ? S_ISGID : 0);
	/* b2 bits 1-2: huge=never, always, within_size, advise */
	o.so_huge = (enum shmemfs_huge)((b2 >> 1) & 3);
	/*
	 * b3: bit 0 a mem= budget of 1..4 pages (bits 2-3), bit 1 a swap
	 * device of 4 * (bits 4-7) slots.
	 */
	if (b3 & 1)
		o.so_mem_bytes = (uint64_t)(1 + ((b3 >> 2) & 3)) * FZ_PAGE;
	f.f_max_blocks = o.so_max_blocks;
	f.f_mem_pages = o.so_mem_bytes ? o.so_mem_bytes / FZ_PAGE
				       : o.so_max_blocks;
	ret = shmemfs_new(&f.f_fs, &o);
	shmemfs_opts_free(&o);
	if (ret == -ENOSPC && o.so_max_inodes == 0)
		fz_fail(&f, "shmemfs_new: %d", ret);
	if (ret)
		return 0;               /* nr_inodes too small for a root */
	memset(&fz_swap, 0, sizeof(fz_swap));
	if (b3 & 2) {
		fz_swap.sw_nslots = (uint64_t)(b3 >> 4) * 4;
		fz_swap.sw_data = calloc(fz_swap.sw_nslots + 1, FZ_PAGE);
		if (!fz_swap.sw_data)
			fz_fail(&f, "out of memory for the swap device");
		ret = shmemfs_swap_attach(f.f_fs, &swap_mem_ops, &fz_swap,
					  fz_swap.sw_nslots);
		if (ret)
			fz_fail(&f, "swap_attach: %d", ret);
		/* Reclaim only directly, so that a run is deterministic. */
		reclaim_stop(f.f_fs);
		f.f_swap = true;
	}
	FZ_TRACE("new(size %llu pages, nr_inodes %llu, mem %llu pages, "
		 "swap %llu slots)\n", (unsigned long long)o.so_max_blocks,
		 (unsigned long long)o.so_max_inodes,
		 (unsigned long long)f.f_mem_pages,
		 (unsigned long long)fz_swap.sw_nslots);
	f.f_slots[0].fs_ino = SHMEMFS_ROOT_INO;
	model_new(&f, SHMEMFS_ROOT_INO, S_IFDIR);

	while (f.f_in.fi_n && f.f_op < FZ_MAX_OPS) {
		unsigned op = in_u8(&f) % FZ_NOPS;

		f.f_op++;
		fz_ops[op].fo_run(&f);
		if (fz_ops[op].fo_run != op_fault) {
			sf_fail_after = 0;
			f.f_armed = false;
			fz_check(&f, fz_ops[op].fo_name);
		}
	}
	fz_swap.sw_fail_write = false;
	fz_swap.sw_fail_read = false;
	fz_swap.sw_corrupt_read = false;
	fz_teardown(&f);
	shmemfs_destroy(f.f_fs);
	if (fz_swap.sw_data)
		fz_fail(&f, "destroy did not close the swap device");
	models_free(&f);
	sf_fail_after = 0;
	return 0;
}
