/* SPDX-License-Identifier: MIT */
/*
 * dir.h - names (dir.c): directories, the mount's name hash, create,
 * link, unlink, rename and readdir.
 *
 * => Must be called with sf_lock held (local: with the inode locks of
 * the directories, whose parts of the name hash they cover, lock.h).
 * Invariants: every dirent is in its directory's i_entries and in the
 * name hash (in its directory's part: sf_names, fs.h); a directory's i_size is 40 bytes
 * and 20 per entry (tmpfs's BOGO_DIRENT_SIZE), so it counts them too.
 */
#ifndef SHMEMFS_DIR_H
#define SHMEMFS_DIR_H

#include "core.h"
#include "inode.h"

/*
 * A name in a directory: 32 bytes and the name, with no NUL (per-file
 * memory is a goal; dir_name_str() gives a C string).  The cookie has 56
 * bits (7.2e16 names made in one directory), the length the other 8.
 */
#define SF_COOKIE_MAX ((UINT64_C(1) << 56) - 1)

struct sf_dirent {
	struct sf_dirent *d_hnext;     /* name hash chain */
	struct shmemfs_inode *d_dir;   /* the directory holding it */
	struct shmemfs_inode *d_inode; /* what it names */
	uint64_t d_cookie : 56;        /* readdir position, stable */
	uint64_t d_namelen : 8;
	char d_name[];                 /* d_namelen bytes, no NUL */
};

_Static_assert(SHMEMFS_NAME_MAX <= 255, "d_namelen is 8 bits");

/* @de's name as a C string in @buf (SHMEMFS_NAME_MAX + 1 bytes). */
static inline const char *
dir_name_str(const struct sf_dirent *de, char *buf)
{
	memcpy(buf, de->d_name, de->d_namelen);
	buf[de->d_namelen] = '\0';
	return buf;
}

/* The names in directory @dir (its i_size says: no field of its own). */
static inline uint64_t
dir_nentries(const struct shmemfs_inode *dir)
{
	return dir->i_size / SF_BOGO_DIRENT_SIZE - 2;
}

int dir_hash_init(struct shmemfs *fs);
void dir_hash_free(struct shmemfs *fs);
int dir_check_name(const char *name, size_t *lenp);
struct sf_dirent *dir_find(struct shmemfs *fs, struct shmemfs_inode *dir,
			   const char *name, size_t len);
int dir_add(struct shmemfs *fs, struct shmemfs_inode *dir, const char *name,
	    size_t len, struct shmemfs_inode *ip);
void dir_remove(struct shmemfs *fs, struct sf_dirent *de);
int dir_create(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
	       struct shmemfs_inode *dir, const char *name, mode_t mode,
	       dev_t rdev, const char *target, struct shmemfs_inode **ipp);
int dir_tmpfile(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		struct shmemfs_inode *dir, mode_t mode, bool linkable,
		struct shmemfs_inode **ipp);
int dir_link(struct shmemfs *fs, struct shmemfs_inode *ip,
	     struct shmemfs_inode *dir, const char *name);
int dir_unlink_find(struct shmemfs *fs, struct shmemfs_inode *dir,
		    const char *name, bool rmdir, struct sf_dirent **dep);
int dir_unlink_entry(struct shmemfs *fs, struct shmemfs_inode *dir,
		     struct sf_dirent *de, bool rmdir);
int dir_unlink(struct shmemfs *fs, struct shmemfs_inode *dir,
	       const char *name, bool rmdir);
int dir_rename(struct shmemfs *fs, struct shmemfs_inode *odir,
	       const char *oname, struct shmemfs_inode *ndir,
	       const char *nname, unsigned flags);
int dir_rename2(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		struct shmemfs_inode *odir, const char *oname,
		struct shmemfs_inode *ndir, const char *nname, unsigned flags);
int dir_readdir(struct shmemfs *fs, struct shmemfs_inode *dir,
		uint64_t cookie, int plus, shmemfs_filldir_t fn, void *arg);
void dir_destroy_entries(struct shmemfs *fs, struct shmemfs_inode *dir);
int dir_check(struct shmemfs *fs, char *msg, size_t len);

#endif /* SHMEMFS_DIR_H */
