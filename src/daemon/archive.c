/* SPDX-License-Identifier: MIT */
/*
 * archive.c - pax archives through libarchive: shmemctl export and
 * -o restore=FILE.tar.
 *
 * Export walks the mount through the public API (readdir, getattr,
 * read, SEEK_DATA/SEEK_HOLE, xattrs) and writes a POSIX pax archive:
 * sparse files as pax sparse maps (only the data extents are stored),
 * xattrs as SCHILY.xattr/LIBARCHIVE.xattr records, times with their
 * nanoseconds, hard links as links to the first name.  Unlike an image
 * it is not one instant of the mount (each call takes the lock on its
 * own) and it cannot hold what tar cannot: sockets are left out (with
 * no error, as GNU tar does), fallocated-but-unwritten pages become
 * holes, inode numbers and ctime/btime are not restored the same.
 *
 * Restore reads any tar libarchive reads (pax, GNU, ustar; compressed
 * or not) into a fresh mount, refusing absolute paths and "..".  Times
 * are set last, once every entry is in, so that creating a directory's
 * children does not move its mtime.  Any error destroys the new mount.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"

#define ARC_CHUNK (1024 * 1024)

/* ---- export ------------------------------------------------------- */

struct arc_name {
	char *an_name;
	uint64_t an_ino;
};

struct arc_dir {
	struct arc_name *ad_names;
	size_t ad_count, ad_cap;
	int ad_err;
};

/* A hard-linked inode's first path, for the links after it. */
struct arc_link {
	uint64_t al_ino;
	char *al_path;
};

struct arc_export {
	struct shmemfs *ax_fs;
	struct archive *ax_a;
	void *ax_links; /* tsearch tree of struct arc_link */
	char *ax_buf;	/* ARC_CHUNK bytes */
	char *ax_zero;	/* ARC_CHUNK zeros, fed for holes */
	char *ax_msg;
	size_t ax_len;
};

static int
arc_link_cmp(const void *a, const void *b)
{
	const struct arc_link *x = a, *y = b;

	return x->al_ino < y->al_ino ? -1 : x->al_ino > y->al_ino;
}

static void
arc_link_free(void *p)
{
	struct arc_link *l = p;

	free(l->al_path);
	free(l);
}

static int
arc_collect(void *arg, const char *name, const struct shmemfs_attr *attr,
	    uint64_t next)
{
	struct arc_dir *d = arg;
	struct arc_name *n;

	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (d->ad_count == d->ad_cap) {
		size_t cap = d->ad_cap ? 2 * d->ad_cap : 32;

		n = realloc(d->ad_names, cap * sizeof(*n));
		if (!n) {
			d->ad_err = -ENOMEM;
			return 1;
		}
		d->ad_names = n;
		d->ad_cap = cap;
	}
	n = &d->ad_names[d->ad_count];
	n->an_name = strdup(name);
	if (!n->an_name) {
		d->ad_err = -ENOMEM;
		return 1;
	}
	n->an_ino = attr->sa_st.st_ino;
	d->ad_count++;
	return 0;
}

static int
arc_fail(struct arc_export *ax, int ret, const char *path, const char *why)
{
	if (!ax->ax_msg[0])
		snprintf(ax->ax_msg, ax->ax_len, "%s: %s", path[0] ? path : ".",
			 why ? why : strerror(-ret));
	return ret;
}

static int
arc_put_xattrs(struct arc_export *ax, struct archive_entry *e, uint64_t ino,
	       const char *path)
{
	char *list = NULL, *p, *val = NULL;
	ssize_t n, v;
	int ret = 0;

	n = shmemfs_listxattr(ax->ax_fs, ino, NULL, 0);
	if (n <= 0)
		return n < 0 ? arc_fail(ax, (int)n, path, NULL) : 0;
	list = malloc((size_t)n);
	val = malloc(SHMEMFS_XATTR_SIZE_MAX);
	if (!list || !val) {
		ret = arc_fail(ax, -ENOMEM, path, NULL);
		goto out;
	}
	n = shmemfs_listxattr(ax->ax_fs, ino, list, (size_t)n);
	if (n < 0) {
		ret = arc_fail(ax, (int)n, path, NULL);
		goto out;
	}
	for (p = list; p < list + n; p += strlen(p) + 1) {
		v = shmemfs_getxattr(ax->ax_fs, ino, p, val,
				     SHMEMFS_XATTR_SIZE_MAX);
		if (v < 0) {
			ret = arc_fail(ax, (int)v, path, NULL);
			goto out;
		}
		archive_entry_xattr_add_entry(e, p, val, (size_t)v);
	}
out:
	free(list);
	free(val);
	return ret;
}

/* The data extents of @ino as a sparse map; 1 if there are holes. */
static int
arc_sparse_map(struct arc_export *ax, struct archive_entry *e, uint64_t ino,
	       int64_t size)
{
	int64_t data, hole, off = 0;
	int sparse = 0;

	while (off < size) {
		data = shmemfs_lseek(ax->ax_fs, ino, off, SEEK_DATA);
		if (data < 0)
			break; /* -ENXIO: only a hole is left */
		hole = shmemfs_lseek(ax->ax_fs, ino, data, SEEK_HOLE);
		if (hole < 0)
			hole = size;
		if (data > off)
			sparse = 1;
		archive_entry_sparse_add_entry(e, data, hole - data);
		off = hole;
	}
	if (off < size)
		sparse = 1;
	if (sparse && off < size)
		/* A zero-length extent at the end records the size. */
		archive_entry_sparse_add_entry(e, size, 0);
	if (!sparse)
		archive_entry_sparse_clear(e);
	return sparse;
}

/* The file's logical data, holes fed as zeros the writer skips. */
static int
arc_put_data(struct arc_export *ax, uint64_t ino, int64_t size, int sparse,
	     const char *path)
{
	int64_t off = 0, data, hole, chunk;
	ssize_t n;

	while (off < size) {
		data = sparse ? shmemfs_lseek(ax->ax_fs, ino, off, SEEK_DATA)
			      : off;
		if (data < 0)
			data = size;
		while (off < data) {
			chunk = data - off < ARC_CHUNK ? data - off : ARC_CHUNK;
			if (archive_write_data(ax->ax_a, ax->ax_zero,
					       (size_t)chunk) < 0)
				return arc_fail(ax, -EIO, path,
						archive_error_string(ax->ax_a));
			off += chunk;
		}
		if (off >= size)
			break;
		hole = sparse ? shmemfs_lseek(ax->ax_fs, ino, off, SEEK_HOLE)
			      : size;
		if (hole < 0 || hole > size)
			hole = size;
		while (off < hole) {
			chunk = hole - off < ARC_CHUNK ? hole - off : ARC_CHUNK;
			n = shmemfs_read(ax->ax_fs, ino, ax->ax_buf,
					 (size_t)chunk, off);
			if (n < 0)
				return arc_fail(ax, (int)n, path, NULL);
			if (n < chunk)
				memset(ax->ax_buf + n, 0, (size_t)(chunk - n));
			if (archive_write_data(ax->ax_a, ax->ax_buf,
					       (size_t)chunk) < 0)
				return arc_fail(ax, -EIO, path,
						archive_error_string(ax->ax_a));
			off += chunk;
		}
	}
	return 0;
}

static int arc_export_dir(struct arc_export *ax, uint64_t dir,
			  const char *path);

static int
arc_export_one(struct arc_export *ax, uint64_t ino, const char *path)
{
	struct arc_link key = {.al_ino = ino}, *l, **found;
	struct shmemfs_attr attr;
	struct archive_entry *e;
	const struct stat *st = &attr.sa_st;
	char target[SHMEMFS_SYMLINK_MAX + 1];
	int ret, sparse = 0, n;

	ret = shmemfs_getattr(ax->ax_fs, ino, &attr);
	if (ret)
		return arc_fail(ax, ret, path, NULL);
	if (S_ISSOCK(st->st_mode))
		return 0; /* tar has no sockets */
	e = archive_entry_new();
	if (!e)
		return arc_fail(ax, -ENOMEM, path, NULL);
	archive_entry_set_pathname(e, path[0] ? path : ".");
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_atime(e, st->st_atim.tv_sec, st->st_atim.tv_nsec);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	archive_entry_set_ctime(e, st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	archive_entry_set_birthtime(e, attr.sa_btime.tv_sec,
				    attr.sa_btime.tv_nsec);
	archive_entry_set_nlink(e, st->st_nlink);
	archive_entry_set_ino64(e, (int64_t)st->st_ino);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		archive_entry_set_rdev(e, st->st_rdev);
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		found = tfind(&key, &ax->ax_links, arc_link_cmp);
		if (found) {
			archive_entry_set_hardlink(e, (*found)->al_path);
			archive_entry_set_size(e, 0);
			goto write_header;
		}
		l = calloc(1, sizeof(*l));
		if (!l || !(l->al_path = strdup(path)) ||
		    !tsearch(l, &ax->ax_links, arc_link_cmp)) {
			if (l)
				free(l->al_path);
			free(l);
			ret = arc_fail(ax, -ENOMEM, path, NULL);
			goto out;
		}
		l->al_ino = ino;
	}
	if (S_ISLNK(st->st_mode)) {
		n = shmemfs_readlink(ax->ax_fs, ino, target,
				     sizeof(target) - 1);
		if (n < 0) {
			ret = arc_fail(ax, n, path, NULL);
			goto out;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (S_ISREG(st->st_mode)) {
		archive_entry_set_size(e, st->st_size);
		sparse = arc_sparse_map(ax, e, ino, st->st_size);
	}
	ret = arc_put_xattrs(ax, e, ino, path);
	if (ret)
		goto out;
write_header:
	if (archive_write_header(ax->ax_a, e) < ARCHIVE_WARN) {
		ret = arc_fail(ax, -EIO, path, archive_error_string(ax->ax_a));
		goto out;
	}
	if (S_ISREG(st->st_mode) && !archive_entry_hardlink(e))
		ret = arc_put_data(ax, ino, st->st_size, sparse, path);
	if (!ret && S_ISDIR(st->st_mode))
		ret = arc_export_dir(ax, ino, path);
out:
	archive_entry_free(e);
	return ret;
}

static int
arc_export_dir(struct arc_export *ax, uint64_t dir, const char *path)
{
	struct arc_dir d = {0};
	size_t i, len;
	char *sub;
	int ret;

	ret = shmemfs_readdir(ax->ax_fs, dir, 0, 0, arc_collect, &d);
	if (!ret)
		ret = d.ad_err;
	if (ret)
		arc_fail(ax, ret, path, NULL);
	for (i = 0; !ret && i < d.ad_count; i++) {
		len = strlen(path) + strlen(d.ad_names[i].an_name) + 2;
		sub = malloc(len);
		if (!sub) {
			ret = arc_fail(ax, -ENOMEM, path, NULL);
			break;
		}
		snprintf(sub, len, "%s%s%s", path, path[0] ? "/" : "",
			 d.ad_names[i].an_name);
		ret = arc_export_one(ax, d.ad_names[i].an_ino, sub);
		free(sub);
	}
	for (i = 0; i < d.ad_count; i++)
		free(d.ad_names[i].an_name);
	free(d.ad_names);
	return ret;
}

int
sd_snap_export(struct shmemfs *fs, const char *path, char *msg, size_t len)
{
	struct arc_export ax = {.ax_fs = fs, .ax_msg = msg, .ax_len = len};
	size_t plen = strlen(path);
	char *tmp;
	int fd, ret = -ENOMEM;

	msg[0] = '\0';
	tmp = malloc(plen + 8);
	ax.ax_buf = malloc(ARC_CHUNK);
	ax.ax_zero = calloc(1, ARC_CHUNK);
	ax.ax_a = archive_write_new();
	if (!tmp || !ax.ax_buf || !ax.ax_zero || !ax.ax_a) {
		snprintf(msg, len, "out of memory");
		goto out_free;
	}
	snprintf(tmp, plen + 8, "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600: it holds every file */
	if (fd < 0) {
		ret = -errno;
		snprintf(msg, len, "cannot create %s: %s", tmp, strerror(-ret));
		goto out_free;
	}
	ret = -EIO;
	if (archive_write_set_format_pax(ax.ax_a) != ARCHIVE_OK ||
	    archive_write_open_fd(ax.ax_a, fd) != ARCHIVE_OK) {
		snprintf(msg, len, "libarchive: %s",
			 archive_error_string(ax.ax_a));
		goto out_close;
	}
	ret = arc_export_one(&ax, SHMEMFS_ROOT_INO, "");
	if (archive_write_close(ax.ax_a) != ARCHIVE_OK && !ret)
		ret = arc_fail(&ax, -EIO, path, archive_error_string(ax.ax_a));
	if (!ret && fsync(fd) < 0)
		ret = arc_fail(&ax, -errno, path, NULL);
out_close:
	if (close(fd) < 0 && !ret)
		ret = arc_fail(&ax, -errno, path, NULL);
	if (!ret && rename(tmp, path) < 0)
		ret = arc_fail(&ax, -errno, path, NULL);
	if (ret)
		unlink(tmp);
out_free:
	if (ax.ax_a)
		archive_write_free(ax.ax_a);
	tdestroy(ax.ax_links, arc_link_free);
	free(ax.ax_buf);
	free(ax.ax_zero);
	free(tmp);
	return ret;
}

/* ---- restore ------------------------------------------------------ */

/* Times to set once everything is in. */
struct arc_times {
	uint64_t at_ino;
	unsigned at_valid;
	struct shmemfs_setattr at_sa;
};

struct arc_restore {
	struct shmemfs *ar_fs;
	struct archive *ar_a;
	struct arc_times *ar_times;
	size_t ar_ntimes, ar_cap;
	const char *ar_file;
	char *ar_msg;
	size_t ar_len;
	const char *ar_entry;
};

static int
arc_rfail(struct arc_restore *ar, int ret, const char *why)
{
	if (!ar->ar_msg[0])
		snprintf(ar->ar_msg, ar->ar_len, "%s: entry '%s': %s",
			 ar->ar_file, ar->ar_entry ? ar->ar_entry : "?",
			 why ? why : strerror(-ret));
	return ret;
}

/*
 * Resolve @path's parent in the mount, creating missing directories
 * (0755, as tar does); the last component goes to *@last.  Absolute
 * paths lose their leading '/'; ".." is refused.
 */
static int
arc_parent(struct arc_restore *ar, char *path, uint64_t *dirp, char **last)
{
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_attr attr;
	uint64_t dir = SHMEMFS_ROOT_INO;
	char *p = path, *slash;
	int ret;

	*last = NULL;
	for (;;) {
		while (*p == '/')
			p++;
		slash = strchr(p, '/');
		while (slash && slash[1] == '/')
			*slash++ = '\0';
		if (slash)
			*slash = '\0';
		if (!strcmp(p, ".."))
			return arc_rfail(ar, -EINVAL, "'..' in a path");
		if (!slash || !slash[1]) {
			*last = strcmp(p, ".") && *p ? p : NULL;
			*dirp = dir;
			return 0;
		}
		if (*p && strcmp(p, ".")) {
			ret = shmemfs_lookup(ar->ar_fs, dir, p, &attr);
			if (ret == -ENOENT)
				ret = shmemfs_mkdir(ar->ar_fs, &ctx, dir, p,
						    0755, &attr);
			if (ret)
				return arc_rfail(ar, ret, NULL);
			shmemfs_forget(ar->ar_fs, attr.sa_st.st_ino, 1);
			if (!S_ISDIR(attr.sa_st.st_mode))
				return arc_rfail(ar, -ENOTDIR, NULL);
			dir = attr.sa_st.st_ino;
		}
		p = slash + 1;
	}
}

/* The inode a (hard link) path names, or -errno. */
static int
arc_resolve(struct arc_restore *ar, const char *path, uint64_t *inop)
{
	struct shmemfs_attr attr;
	char *dup = strdup(path), *last;
	uint64_t dir;
	int ret;

	if (!dup)
		return arc_rfail(ar, -ENOMEM, NULL);
	ret = arc_parent(ar, dup, &dir, &last);
	if (!ret && !last)
		*inop = dir;
	else if (!ret) {
		ret = shmemfs_lookup(ar->ar_fs, dir, last, &attr);
		if (!ret) {
			*inop = attr.sa_st.st_ino;
			shmemfs_forget(ar->ar_fs, *inop, 1);
		}
	}
	free(dup);
	return ret;
}

static int
arc_read_data(struct arc_restore *ar, uint64_t ino, int64_t size)
{
	struct shmemfs_setattr sa = {.ss_size = (uint64_t)size};
	struct shmemfs_attr attr;
	const void *buf;
	size_t len;
	la_int64_t off;
	ssize_t n;
	int r;

	while ((r = archive_read_data_block(ar->ar_a, &buf, &len, &off)) ==
	       ARCHIVE_OK) {
		if (!len)
			continue;
		n = shmemfs_write(ar->ar_fs, ino, buf, len, off);
		if (n < 0)
			return arc_rfail(ar, (int)n, NULL);
	}
	if (r != ARCHIVE_EOF)
		return arc_rfail(ar, -EIO, archive_error_string(ar->ar_a));
	/* A hole at the end is the size alone. */
	r = shmemfs_setattr(ar->ar_fs, ino, SHMEMFS_SET_SIZE, &sa, &attr);
	return r ? arc_rfail(ar, r, NULL) : 0;
}

static int
arc_clear_xattrs(struct arc_restore *ar, uint64_t ino)
{
	ssize_t n = shmemfs_listxattr(ar->ar_fs, ino, NULL, 0);
	char *list, *p;
	int ret = 0;

	if (n <= 0)
		return n < 0 ? arc_rfail(ar, (int)n, NULL) : 0;
	list = malloc((size_t)n);
	if (!list)
		return arc_rfail(ar, -ENOMEM, NULL);
	n = shmemfs_listxattr(ar->ar_fs, ino, list, (size_t)n);
	for (p = list; n > 0 && p < list + n && !ret; p += strlen(p) + 1)
		ret = shmemfs_removexattr(ar->ar_fs, ino, p);
	free(list);
	return ret ? arc_rfail(ar, ret, NULL) : 0;
}

static int
arc_restore_one(struct arc_restore *ar, struct archive_entry *e)
{
	struct shmemfs *fs = ar->ar_fs;
	struct shmemfs_ctx ctx = {0};
	struct shmemfs_attr attr;
	struct arc_times *t;
	const char *hl = archive_entry_hardlink(e), *xname;
	mode_t mode = archive_entry_mode(e);
	const void *xval;
	size_t xlen;
	uint64_t dir, ino;
	char *path, *last;
	int ret;

	path =
	    strdup(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
	if (!path)
		return arc_rfail(ar, -ENOMEM, NULL);
	ret = arc_parent(ar, path, &dir, &last);
	if (ret)
		goto out;
	if (!last) {
		/* "." or "/": the root itself. */
		ino = SHMEMFS_ROOT_INO;
		if (!S_ISDIR(mode)) {
			ret = arc_rfail(ar, -EINVAL, "the root is not a file");
			goto out;
		}
	} else if (hl) {
		ret = arc_resolve(ar, hl, &ino);
		if (!ret)
			ret = shmemfs_link(fs, ino, dir, last, &attr);
		if (ret) {
			ret = arc_rfail(ar, ret, NULL);
			goto out;
		}
		shmemfs_forget(fs, ino, 1);
		goto out; /* a link carries nothing of its own */
	} else {
		ret = shmemfs_lookup(fs, dir, last, &attr);
		if (ret == 0) {
			/* An entry seen again (a directory, usually). */
			shmemfs_forget(fs, attr.sa_st.st_ino, 1);
			if (!S_ISDIR(mode) || !S_ISDIR(attr.sa_st.st_mode)) {
				ret = arc_rfail(ar, -EEXIST, NULL);
				goto out;
			}
		} else if (S_ISDIR(mode)) {
			ret = shmemfs_mkdir(fs, &ctx, dir, last, 0700, &attr);
		} else if (S_ISLNK(mode)) {
			ret = shmemfs_symlink(fs, &ctx, dir, last,
					      archive_entry_symlink(e)
						  ? archive_entry_symlink(e)
						  : "",
					      &attr);
		} else {
			ret = shmemfs_mknod(fs, &ctx, dir, last,
					    (mode & S_IFMT) | 0600,
					    archive_entry_rdev(e), &attr);
		}
		if (ret) {
			ret = arc_rfail(ar, ret, NULL);
			goto out;
		}
		ino = attr.sa_st.st_ino;
		shmemfs_forget(fs, ino, 1);
	}
	if (S_ISREG(mode)) {
		ret = arc_read_data(ar, ino, archive_entry_size(e));
		if (ret)
			goto out;
	}
	/* The archive's xattrs, not ACLs inherited from a default ACL. */
	ret = arc_clear_xattrs(ar, ino);
	if (ret)
		goto out;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xname, &xval, &xlen) ==
	       ARCHIVE_OK) {
		ret = shmemfs_setxattr(fs, ino, xname, xval, xlen, 0);
		if (ret) {
			ret = arc_rfail(ar, ret, "cannot set an xattr");
			goto out;
		}
	}
	if (ar->ar_ntimes == ar->ar_cap) {
		size_t cap = ar->ar_cap ? 2 * ar->ar_cap : 64;

		t = realloc(ar->ar_times, cap * sizeof(*t));
		if (!t) {
			ret = arc_rfail(ar, -ENOMEM, NULL);
			goto out;
		}
		ar->ar_times = t;
		ar->ar_cap = cap;
	}
	t = &ar->ar_times[ar->ar_ntimes++];
	memset(t, 0, sizeof(*t));
	t->at_ino = ino;
	t->at_valid = SHMEMFS_SET_UID | SHMEMFS_SET_GID;
	t->at_sa.ss_uid = archive_entry_uid(e);
	t->at_sa.ss_gid = archive_entry_gid(e);
	/* Mode after owner: chown would clear set-id bits of a file. */
	if (!S_ISLNK(mode)) {
		t->at_valid |= SHMEMFS_SET_MODE;
		t->at_sa.ss_mode = mode & 07777;
	}
	if (archive_entry_mtime_is_set(e)) {
		t->at_valid |= SHMEMFS_SET_MTIME;
		t->at_sa.ss_mtime.tv_sec = archive_entry_mtime(e);
		t->at_sa.ss_mtime.tv_nsec = archive_entry_mtime_nsec(e);
	}
	if (archive_entry_atime_is_set(e)) {
		t->at_valid |= SHMEMFS_SET_ATIME;
		t->at_sa.ss_atime.tv_sec = archive_entry_atime(e);
		t->at_sa.ss_atime.tv_nsec = archive_entry_atime_nsec(e);
	}
	if (archive_entry_ctime_is_set(e)) {
		t->at_valid |= SHMEMFS_SET_CTIME;
		t->at_sa.ss_ctime.tv_sec = archive_entry_ctime(e);
		t->at_sa.ss_ctime.tv_nsec = archive_entry_ctime_nsec(e);
	}
out:
	free(path);
	return ret;
}

int
sd_snap_restore_archive(struct shmemfs **fsp, struct sd_cmdline *cl,
			const char *path, int fd, char *msg, size_t len)
{
	struct arc_restore ar = {.ar_file = path, .ar_msg = msg, .ar_len = len};
	struct shmemfs_attr attr;
	struct archive_entry *e;
	struct shmemfs *fs;
	size_t i;
	int ret, r;

	msg[0] = '\0';
	ret = shmemfs_mount(&fs, &cl->cl_opts, msg, len);
	if (ret)
		return ret;
	ar.ar_fs = fs;
	ar.ar_a = archive_read_new();
	if (!ar.ar_a) {
		ret = arc_rfail(&ar, -ENOMEM, NULL);
		goto out_destroy;
	}
	archive_read_support_filter_all(ar.ar_a);
	archive_read_support_format_tar(ar.ar_a);
	archive_read_support_format_gnutar(ar.ar_a);
	if (archive_read_open_fd(ar.ar_a, fd, 64 * 1024) != ARCHIVE_OK) {
		snprintf(msg, len,
			 "%s: not a shmemfs image or a tar archive "
			 "(%s)",
			 path, archive_error_string(ar.ar_a));
		ret = -EINVAL;
		goto out_free;
	}
	while ((r = archive_read_next_header(ar.ar_a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		ar.ar_entry = archive_entry_pathname(e);
		ret = arc_restore_one(&ar, e);
		if (ret)
			goto out_free;
	}
	if (r != ARCHIVE_EOF) {
		snprintf(msg, len, "%s: damaged or not a tar archive: %s", path,
			 archive_error_string(ar.ar_a));
		ret = -EINVAL;
		goto out_free;
	}
	/* Innermost last: setting a directory's times after its children. */
	for (i = ar.ar_ntimes; i-- > 0;) {
		ret = shmemfs_setattr(fs, ar.ar_times[i].at_ino,
				      ar.ar_times[i].at_valid,
				      &ar.ar_times[i].at_sa, &attr);
		if (ret) {
			snprintf(msg, len, "%s: cannot set attributes: %s",
				 path, strerror(-ret));
			goto out_free;
		}
	}
	*fsp = fs;
	archive_read_free(ar.ar_a);
	free(ar.ar_times);
	return 0;

out_free:
	archive_read_free(ar.ar_a);
	free(ar.ar_times);
out_destroy:
	shmemfs_destroy(fs);
	return ret;
}
