/* SPDX-License-Identifier: MIT */
/*
 * test_metalock.c - metadata readers under sf_lock shared, and local
 * writers under sf_lock local, under load.
 *
 *   test_metalock [-r READERS] [-w WRITERS] [-l LOCALS] [-d SECONDS]
 *                 [-s SEED]
 *
 * WRITERS (default 2) create, unlink, rename between directories,
 * chmod/chown, truncate, write and set extended attributes on files of
 * their own in NDIRS directories; READERS (default 3) meanwhile look the
 * names up, stat the files and the directories, read and list their
 * extended attributes, and call statfs and get_stats: the calls that take
 * sf_lock shared (api.c, core.h) and so run at the same time as each
 * other.  Each writer's change is one call that keeps an invariant, and
 * the readers check the invariant on everything they see, so a reader
 * that saw a change half done fails:
 *
 *   st_uid == (st_mode & 0777)   one setattr sets both (create too)
 *   st_gid == st_size / 512      one setattr sets both; writes stay
 *                                within the size
 *   user.tag == the file's name  set before the name becomes visible;
 *                                names move between directories only
 *   st_nlink == 1 for a file found by lookup, 2 for a directory, whose
 *   st_size is a multiple of 20; statfs and stats within their limits
 *
 * LOCALS (default 2) meanwhile make and remove names with the calls
 * that run under sf_lock local beside each other (core.h): mknod,
 * mkdir, rmdir, short symlinks (and now and then a long one, which
 * goes exclusive), link, unlink, O_TMPFILE and its link, open, release
 * and forget, in LDIRS directories they share (so they meet in the
 * same directory and on the same victims) and in one of their own
 * (so they run in different ones).  Each checks after every step that
 * its names are there or gone with the link count it expects, and the
 * readers check what they find of them.
 *
 * A mutating call under the shared mode, or one under the local mode
 * without the inode lock or sf_tables it needs, trips the assertions of
 * debug builds (lock.h) and, under ThreadSanitizer (run-tsan.sh), is a
 * race.  At the end shmemfs_check() must pass: a lost update of the
 * name hash, the inode table or a counter fails it.  Prints one summary
 * line; exits 0 or 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "shmemfs.h"
#include "stress.h"

#define NDIRS	  4
#define NFILES	  8 /* per writer */
#define SIZE_MAX_ 65536

static struct shmemfs *fs;
static uint64_t dirs[NDIRS];
#define LDIRS	  3
#define LFILES	  6 /* per local writer */

static atomic_ullong nreads, nfound, nwrites, nlocal;
static unsigned nwriters = 2, nlocals = 2;
static uint64_t ldirs[LDIRS];
static uint64_t hub; /* a file every local writer links to and unlinks */

static void
name_of(char *buf, size_t len, unsigned w, unsigned k)
{
	snprintf(buf, len, "w%u_%u", w, k);
}

/* The invariants of a file's attributes (see the top). */
static void
check_file_attr(const char *what, const char *name,
		const struct shmemfs_attr *a)
{
	const struct stat *st = &a->sa_st;

	if (!S_ISREG(st->st_mode))
		fail("%s %s: mode %o", what, name, st->st_mode);
	else if (st->st_uid != (st->st_mode & 0777))
		fail("%s %s: uid %u, mode %o (half a setattr)", what, name,
		     st->st_uid, st->st_mode);
	else if (st->st_gid != (gid_t)(st->st_size / 512))
		fail("%s %s: gid %u, size %lld (half a setattr)", what, name,
		     st->st_gid, (long long)st->st_size);
}

static void
reader_file(uint64_t dir, const char *name)
{
	struct shmemfs_attr a, b;
	char val[64], list[256];
	ssize_t n;
	uint64_t ino;
	int ret;

	ret = shmemfs_lookup(fs, dir, name, &a);
	if (ret == -ENOENT)
		return;
	if (ret) {
		fail("lookup %s: %d", name, ret);
		return;
	}
	atomic_fetch_add(&nfound, 1);
	ino = a.sa_st.st_ino;
	check_file_attr("lookup", name, &a);
	if (a.sa_st.st_nlink != 1)
		fail("lookup %s: nlink %lu", name,
		     (unsigned long)a.sa_st.st_nlink);
	/* our lookup reference keeps the inode, unlinked or not */
	ret = shmemfs_getattr(fs, ino, &b);
	if (ret)
		fail("getattr %s: %d", name, ret);
	else
		check_file_attr("getattr", name, &b);
	n = shmemfs_getxattr(fs, ino, "user.tag", val, sizeof(val) - 1);
	if (n < 0) {
		fail("getxattr %s: %zd", name, n);
	} else {
		val[n] = 0;
		if (strcmp(val, name))
			fail("getxattr %s: tag %s", name, val);
	}
	n = shmemfs_listxattr(fs, ino, list, sizeof(list));
	if (n < 0 || n > (ssize_t)sizeof(list) ||
	    !memmem(list, (size_t)n, "user.tag", 9))
		fail("listxattr %s: %zd", name, n);
	shmemfs_forget(fs, ino, 1);
}

static void
reader_fs(void)
{
	struct shmemfs_stats s;
	struct statvfs v;
	struct shmemfs_attr a;
	unsigned d;

	if (shmemfs_statfs(fs, &v))
		fail("statfs");
	else if (v.f_bfree > v.f_blocks || v.f_ffree > v.f_files ||
		 v.f_bavail > v.f_bfree || v.f_files - v.f_ffree < NDIRS + 1)
		fail("statfs: blocks %llu/%llu files %llu/%llu",
		     (unsigned long long)v.f_bfree,
		     (unsigned long long)v.f_blocks,
		     (unsigned long long)v.f_ffree,
		     (unsigned long long)v.f_files);
	if (shmemfs_get_stats(fs, &s))
		fail("get_stats");
	else if (s.used_bytes > s.size_limit_bytes ||
		 s.inodes_used > s.inodes_limit || s.inodes_used < NDIRS + 1)
		fail("stats: used %llu/%llu inodes %llu/%llu",
		     (unsigned long long)s.used_bytes,
		     (unsigned long long)s.size_limit_bytes,
		     (unsigned long long)s.inodes_used,
		     (unsigned long long)s.inodes_limit);
	for (d = 0; d < NDIRS; d++) {
		if (shmemfs_getattr(fs, dirs[d], &a)) {
			fail("getattr dir %u", d);
		} else if (!S_ISDIR(a.sa_st.st_mode) || a.sa_st.st_nlink != 2 ||
			   a.sa_st.st_size % 20) {
			fail("getattr dir %u: mode %o nlink %lu size %lld", d,
			     a.sa_st.st_mode, (unsigned long)a.sa_st.st_nlink,
			     (long long)a.sa_st.st_size);
		}
	}
}

/* A name of a local writer, if there: what it can be (see lwriter). */
static void
reader_local(uint64_t r)
{
	struct shmemfs_attr a;
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "l%u_%u",
		 (unsigned)(r >> 8) % (nlocals ? nlocals : 1),
		 (unsigned)(r >> 16) % LFILES);
	ret = shmemfs_lookup(fs, ldirs[(r >> 24) % LDIRS], name, &a);
	if (ret == -ENOENT)
		return;
	if (ret) {
		fail("lookup local %s: %d", name, ret);
		return;
	}
	atomic_fetch_add(&nfound, 1);
	if (S_ISREG(a.sa_st.st_mode) ? a.sa_st.st_nlink < 1 ||
					   a.sa_st.st_nlink > 2
	    : S_ISDIR(a.sa_st.st_mode) ? a.sa_st.st_nlink != 2 ||
					     a.sa_st.st_size % 20
	    : S_ISLNK(a.sa_st.st_mode) ? a.sa_st.st_nlink != 1
				       : true)
		fail("lookup local %s: mode %o nlink %lu", name,
		     a.sa_st.st_mode, (unsigned long)a.sa_st.st_nlink);
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
}

static void *
reader_main(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg;
	char name[32];

	while (!atomic_load(&stop)) {
		uint64_t r = rnd(&seed);

		if (r % 16 == 0) {
			reader_fs();
		} else if (r % 16 == 1) {
			reader_local(r);
		} else {
			name_of(name, sizeof(name),
				(unsigned)(r >> 8) % nwriters,
				(unsigned)(r >> 16) % NFILES);
			reader_file(dirs[(r >> 24) % NDIRS], name);
		}
		atomic_fetch_add(&nreads, 1);
	}
	return NULL;
}

struct wfile {
	bool f_exists;
	unsigned f_dir;
	uint64_t f_ino;
	uint64_t f_size;
};

struct warg {
	unsigned w_id;
	uint64_t w_seed;
	uint64_t w_priv; /* where files are made, out of the readers' sight */
	struct wfile w_files[NFILES];
};

static void
writer_step(struct warg *wa)
{
	struct shmemfs_ctx ctx = {.sc_uid = 0644};
	struct shmemfs_setattr sa = {0};
	struct shmemfs_attr a;
	uint64_t r = rnd(&wa->w_seed);
	unsigned k = (unsigned)(r % NFILES), d;
	struct wfile *f = &wa->w_files[k];
	char name[32], buf[4096];
	int ret;

	name_of(name, sizeof(name), wa->w_id, k);
	if (!f->f_exists) {
		ret = shmemfs_mknod(fs, &ctx, wa->w_priv, name, S_IFREG | 0644,
				    0, &a);
		if (ret) {
			fail("mknod %s: %d", name, ret);
			return;
		}
		f->f_ino = a.sa_st.st_ino;
		f->f_size = 0;
		ret = shmemfs_setxattr(fs, f->f_ino, "user.tag", name,
				       strlen(name), 0);
		if (ret)
			fail("setxattr %s: %d", name, ret);
		d = (unsigned)(r >> 8) % NDIRS;
		ret = shmemfs_rename(fs, wa->w_priv, name, dirs[d], name, 0);
		if (ret)
			fail("rename %s in: %d", name, ret);
		shmemfs_forget(fs, f->f_ino, 1);
		f->f_exists = true;
		f->f_dir = d;
		return;
	}
	switch ((r >> 8) % 6) {
	case 0: /* unlink */
		ret = shmemfs_unlink(fs, dirs[f->f_dir], name);
		if (ret)
			fail("unlink %s: %d", name, ret);
		f->f_exists = false;
		break;
	case 1: /* to another directory */
		d = (f->f_dir + 1 + (unsigned)(r >> 12) % (NDIRS - 1)) % NDIRS;
		ret =
		    shmemfs_rename(fs, dirs[f->f_dir], name, dirs[d], name, 0);
		if (ret)
			fail("rename %s: %d", name, ret);
		f->f_dir = d;
		break;
	case 2: /* chmod and chown in one */
		sa.ss_mode = S_IFREG | (mode_t)((r >> 12) % 0777);
		sa.ss_uid = sa.ss_mode & 0777;
		ret = shmemfs_setattr(
		    fs, f->f_ino, SHMEMFS_SET_MODE | SHMEMFS_SET_UID, &sa, &a);
		if (ret)
			fail("setattr mode %s: %d", name, ret);
		break;
	case 3: /* truncate and chgrp in one */
		sa.ss_size = (r >> 12) % SIZE_MAX_;
		sa.ss_gid = (gid_t)(sa.ss_size / 512);
		ret = shmemfs_setattr(
		    fs, f->f_ino, SHMEMFS_SET_SIZE | SHMEMFS_SET_GID, &sa, &a);
		if (ret)
			fail("setattr size %s: %d", name, ret);
		f->f_size = sa.ss_size;
		break;
	case 4: /* a write within the size */
		if (!f->f_size)
			break;
		memset(buf, (int)r, sizeof(buf));
		ret = (int)shmemfs_write(
		    fs, f->f_ino, buf,
		    f->f_size < sizeof(buf) ? f->f_size : sizeof(buf), 0);
		if (ret < 0)
			fail("write %s: %d", name, ret);
		break;
	case 5: /* another attribute */
		snprintf(buf, sizeof(buf), "%" PRIu64, r);
		ret = shmemfs_setxattr(fs, f->f_ino, "user.other", buf,
				       strlen(buf), 0);
		if (ret)
			fail("setxattr other %s: %d", name, ret);
		break;
	}
}

/*
 * Local writers.  Slot k of writer w is the name "l<w>_<k>": nothing, a
 * file with one name (in ldir or its own directory), a file with a
 * second name "l<w>_<k>" in another directory, a directory, or a
 * symlink.
 */
enum { L_NONE, L_FILE, L_FILE2, L_DIR, L_LINK };

struct larg;
static uint64_t lpick(struct larg *la, uint64_t r);

struct lslot {
	int s_kind;
	uint64_t s_dir, s_dir2; /* where its name(s) are */
};

struct larg {
	unsigned l_id;
	uint64_t l_seed;
	uint64_t l_own; /* a directory only this writer uses */
	uint64_t l_hub; /* where its name "h<w>" for the hub is, or 0 */
	struct lslot l_slots[LFILES];
};

/* The hub's names come and go from every local writer at once: its
 * link count is changed from several directories at the same time. */
static void
lhub_step(struct larg *la, uint64_t r)
{
	struct shmemfs_attr a;
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "h%u", la->l_id);
	if (la->l_hub) {
		ret = shmemfs_unlink(fs, la->l_hub, name);
		if (ret)
			fail("unlink hub %s: %d", name, ret);
		la->l_hub = 0;
		return;
	}
	la->l_hub = lpick(la, r);
	ret = shmemfs_link(fs, hub, la->l_hub, name, &a);
	if (ret) {
		fail("link hub %s: %d", name, ret);
		return;
	}
	if (a.sa_st.st_ino != hub || a.sa_st.st_nlink < 2 ||
	    a.sa_st.st_nlink > nlocals + 1)
		fail("link hub %s: ino %llu nlink %lu", name,
		     (unsigned long long)a.sa_st.st_ino,
		     (unsigned long)a.sa_st.st_nlink);
	shmemfs_forget(fs, hub, 1);
}

/* Is @name in @dir what the writer expects: gone (@kind L_NONE), or of
 * its type with @nlink links? */
static void
lcheck(uint64_t dir, const char *name, int kind, unsigned nlink)
{
	struct shmemfs_attr a;
	int ret = shmemfs_lookup(fs, dir, name, &a);

	if (kind == L_NONE) {
		if (ret != -ENOENT)
			fail("local %s: still there (%d)", name, ret);
		if (!ret)
			shmemfs_forget(fs, a.sa_st.st_ino, 1);
		return;
	}
	if (ret) {
		fail("local %s: lookup %d", name, ret);
		return;
	}
	if ((kind == L_DIR && !S_ISDIR(a.sa_st.st_mode)) ||
	    (kind == L_LINK && !S_ISLNK(a.sa_st.st_mode)) ||
	    ((kind == L_FILE || kind == L_FILE2) &&
	     !S_ISREG(a.sa_st.st_mode)) ||
	    a.sa_st.st_nlink != nlink)
		fail("local %s: mode %o nlink %lu, want kind %d nlink %u", name,
		     a.sa_st.st_mode, (unsigned long)a.sa_st.st_nlink, kind,
		     nlink);
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
}

static uint64_t
lpick(struct larg *la, uint64_t r)
{
	return r % (LDIRS + 1) == LDIRS ? la->l_own : ldirs[r % (LDIRS + 1)];
}

static void
lmake(struct larg *la, struct lslot *sl, const char *name, uint64_t r)
{
	struct shmemfs_ctx ctx = {.sc_umask = 022};
	char target[300];
	struct shmemfs_attr a;
	uint64_t dir = lpick(la, r >> 4);
	int ret = 0, kind = L_FILE;

	switch ((r >> 12) % 5) {
	case 0:
		ret = shmemfs_mknod(fs, &ctx, dir, name, S_IFREG | 0600, 0,
				    &a);
		break;
	case 1:
		ret = shmemfs_mkdir(fs, &ctx, dir, name, 0700, &a);
		kind = L_DIR;
		break;
	case 2: /* short, or now and then long (exclusive, page-backed) */
		memset(target, 'x', sizeof(target));
		target[(r >> 16) % 8 ? 20 : 200] = '\0';
		ret = shmemfs_symlink(fs, &ctx, dir, name, target, &a);
		kind = L_LINK;
		break;
	case 3: /* O_TMPFILE, then given a name; open, then closed */
		ret = shmemfs_tmpfile(fs, &ctx, dir, 0600, 0, &a);
		if (ret)
			break;
		ret = shmemfs_link(fs, a.sa_st.st_ino, dir, name, NULL);
		if (ret) {
			fail("link tmpfile %s: %d", name, ret);
			return;
		}
		shmemfs_release(fs, a.sa_st.st_ino);
		shmemfs_forget(fs, a.sa_st.st_ino, 1); /* the link's */
		break;
	default: /* a file made, opened and closed */
		ret = shmemfs_mknod(fs, &ctx, dir, name, S_IFREG | 0600, 0,
				    &a);
		if (ret)
			break;
		if (shmemfs_open(fs, a.sa_st.st_ino))
			fail("open %s", name);
		else
			shmemfs_release(fs, a.sa_st.st_ino);
		break;
	}
	if (ret) {
		fail("make %s: %d", name, ret);
		return;
	}
	shmemfs_forget(fs, a.sa_st.st_ino, 1);
	sl->s_kind = kind;
	sl->s_dir = dir;
	lcheck(dir, name, kind, kind == L_DIR ? 2 : 1);
}

static void
lwriter_step(struct larg *la)
{
	uint64_t r = rnd(&la->l_seed);
	unsigned k = (unsigned)(r % LFILES);
	struct lslot *sl = &la->l_slots[k];
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_attr a, b;
	char name[32];
	uint64_t d2;
	int ret;

	if ((r >> 62) == 0) { /* 1 in 4 */
		lhub_step(la, r >> 8);
		return;
	}
	snprintf(name, sizeof(name), "l%u_%u", la->l_id, k);
	r >>= 8;
	switch (sl->s_kind) {
	case L_NONE:
		lmake(la, sl, name, r);
		return;
	case L_FILE:
		if (r % 3 == 0) { /* a second name elsewhere */
			d2 = lpick(la, r >> 4);
			if (d2 == sl->s_dir)
				break;
			ret = shmemfs_lookup(fs, sl->s_dir, name, &a);
			if (ret) {
				fail("lookup %s: %d", name, ret);
				return;
			}
			ret = shmemfs_link(fs, a.sa_st.st_ino, d2, name, NULL);
			shmemfs_forget(fs, a.sa_st.st_ino, ret ? 1 : 2);
			if (ret) {
				fail("link %s: %d", name, ret);
				return;
			}
			sl->s_kind = L_FILE2;
			sl->s_dir2 = d2;
			lcheck(d2, name, L_FILE2, 2);
			lcheck(sl->s_dir, name, L_FILE2, 2);
			return;
		}
		break;
	case L_FILE2: /* one of the two names goes */
		if (r % 2) {
			uint64_t t = sl->s_dir;

			sl->s_dir = sl->s_dir2;
			sl->s_dir2 = t;
		}
		ret = shmemfs_unlink(fs, sl->s_dir2, name);
		if (ret) {
			fail("unlink %s: %d", name, ret);
			return;
		}
		sl->s_kind = L_FILE;
		lcheck(sl->s_dir2, name, L_NONE, 0);
		lcheck(sl->s_dir, name, L_FILE, 1);
		return;
	case L_DIR: /* a name made and removed inside it first */
		ret = shmemfs_lookup(fs, sl->s_dir, name, &a);
		if (ret) {
			fail("lookup dir %s: %d", name, ret);
			return;
		}
		if (shmemfs_mknod(fs, &ctx, a.sa_st.st_ino, "in",
				  S_IFREG | 0600, 0, &b) ||
		    shmemfs_unlink(fs, a.sa_st.st_ino, "in"))
			fail("in %s", name);
		else
			shmemfs_forget(fs, b.sa_st.st_ino, 1);
		shmemfs_forget(fs, a.sa_st.st_ino, 1);
		ret = shmemfs_rmdir(fs, sl->s_dir, name);
		if (ret) {
			fail("rmdir %s: %d", name, ret);
			return;
		}
		sl->s_kind = L_NONE;
		lcheck(sl->s_dir, name, L_NONE, 0);
		return;
	}
	ret = shmemfs_unlink(fs, sl->s_dir, name);
	if (ret) {
		fail("unlink %s: %d", name, ret);
		return;
	}
	sl->s_kind = L_NONE;
	lcheck(sl->s_dir, name, L_NONE, 0);
}

static void *
lwriter_main(void *arg)
{
	struct larg *la = arg;

	while (!atomic_load(&stop)) {
		lwriter_step(la);
		atomic_fetch_add(&nlocal, 1);
	}
	return NULL;
}

static void *
writer_main(void *arg)
{
	struct warg *wa = arg;

	while (!atomic_load(&stop)) {
		writer_step(wa);
		atomic_fetch_add(&nwrites, 1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	unsigned nreaders = 3, secs = 2, i;
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_opts o;
	struct shmemfs_attr a;
	pthread_t *tids;
	struct warg *wargs;
	struct larg *largs;
	char msg[256];
	int opt, ret;

	while ((opt = getopt(argc, argv, "r:w:l:d:s:")) != -1) {
		switch (opt) {
		case 'r':
			nreaders = (unsigned)atoi(optarg);
			break;
		case 'w':
			nwriters = (unsigned)atoi(optarg);
			break;
		case 'l':
			nlocals = (unsigned)atoi(optarg);
			break;
		case 'd':
			secs = (unsigned)atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"usage: test_metalock [-r READERS] "
				"[-w WRITERS] [-l LOCALS] [-d SECONDS] "
				"[-s SEED]\n");
			return 2;
		}
	}
	if (!nwriters || !nreaders)
		return 2;
	if (!seed)
		seed = 1;
	shmemfs_opts_init(&o);
	ret = shmemfs_opts_parse(&o, "size=64m,nr_inodes=10000", NULL, 0, msg,
				 sizeof(msg));
	if (!ret)
		ret = shmemfs_new(&fs, &o);
	shmemfs_opts_free(&o);
	if (ret) {
		fprintf(stderr, "test_metalock: mount: %d %s\n", ret, msg);
		return 1;
	}
	printf("test_metalock: seed %" PRIu64
	       ", %u readers, %u writers, %u local writers\n",
	       seed, nreaders, nwriters, nlocals);
	fflush(stdout);
	for (i = 0; i < NDIRS; i++) {
		snprintf(msg, sizeof(msg), "d%u", i);
		if (shmemfs_mkdir(fs, &ctx, SHMEMFS_ROOT_INO, msg, 0755, &a))
			return 1;
		dirs[i] = a.sa_st.st_ino;
	}
	if (shmemfs_mknod(fs, &ctx, SHMEMFS_ROOT_INO, "hub", S_IFREG | 0644, 0,
			  &a))
		return 1;
	hub = a.sa_st.st_ino;
	for (i = 0; i < LDIRS; i++) {
		snprintf(msg, sizeof(msg), "l%u", i);
		if (shmemfs_mkdir(fs, &ctx, SHMEMFS_ROOT_INO, msg, 0755, &a))
			return 1;
		ldirs[i] = a.sa_st.st_ino;
	}
	wargs = calloc(nwriters, sizeof(*wargs));
	largs = calloc(nlocals + 1, sizeof(*largs));
	tids = calloc(nwriters + nreaders + nlocals, sizeof(*tids));
	if (!wargs || !largs || !tids)
		return 1;
	for (i = 0; i < nlocals; i++) {
		snprintf(msg, sizeof(msg), "o%u", i);
		if (shmemfs_mkdir(fs, &ctx, SHMEMFS_ROOT_INO, msg, 0755, &a))
			return 1;
		largs[i].l_id = i;
		largs[i].l_seed = seed * 2246822519u + i + 1;
		largs[i].l_own = a.sa_st.st_ino;
		if (pthread_create(&tids[nwriters + nreaders + i], NULL,
				   lwriter_main, &largs[i]))
			return 1;
	}
	for (i = 0; i < nwriters; i++) {
		snprintf(msg, sizeof(msg), "p%u", i);
		if (shmemfs_mkdir(fs, &ctx, SHMEMFS_ROOT_INO, msg, 0755, &a))
			return 1;
		wargs[i].w_id = i;
		wargs[i].w_seed = seed * 2654435761u + i + 1;
		wargs[i].w_priv = a.sa_st.st_ino;
		if (pthread_create(&tids[i], NULL, writer_main, &wargs[i]))
			return 1;
	}
	for (i = 0; i < nreaders; i++)
		if (pthread_create(&tids[nwriters + i], NULL, reader_main,
				   (void *)(uintptr_t)(seed * 40503u + i + 17)))
			return 1;
	for (i = 0; i < secs * 10 && !atomic_load(&stop); i++)
		usleep(100000);
	atomic_store(&stop, true);
	for (i = 0; i < nwriters + nreaders + nlocals; i++)
		pthread_join(tids[i], NULL);
	if (!failed && atomic_load(&nfound) == 0)
		fail("the readers never found a file");
	if (!failed && nlocals && atomic_load(&nlocal) == 0)
		fail("the local writers made no step");
	if (!failed && shmemfs_check(fs, msg, sizeof(msg)))
		fail("shmemfs_check: %s", msg);
	printf("test_metalock: %llu reads (%llu files found), %llu writes, "
	       "%llu local steps%s\n",
	       (unsigned long long)atomic_load(&nreads),
	       (unsigned long long)atomic_load(&nfound),
	       (unsigned long long)atomic_load(&nwrites),
	       (unsigned long long)atomic_load(&nlocal),
	       failed ? ", FAILED" : "");
	shmemfs_destroy(fs);
	free(largs);
	free(wargs);
	free(tids);
	return failed ? 1 : 0;
}
