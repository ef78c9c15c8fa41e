/* SPDX-License-Identifier: MIT */
/*
 * shmemfs.h - the public interface of libshmemfs.
 *
 * libshmemfs is Linux's shmem (tmpfs) rebuilt in user space.  One
 * struct shmemfs is one mounted filesystem; there is no global state, so
 * a process may hold many.  Every call is thread-safe.
 *
 * Calls are keyed by inode number, the shape the FUSE low-level API
 * wants: lookup() and the create calls take a reference (the FUSE
 * "nlookup" count), forget() drops it, and an inode whose last name is
 * gone lives on until its last reference and last open are dropped -
 * exactly as an unlinked tmpfs file lives while it is open.
 *
 * Every call returns 0, a non-negative count, or a negative errno; the
 * library never sets errno.  Permission checks (modes, the sticky bit)
 * are the caller's job, as they are the VFS's job for tmpfs: the FUSE
 * daemon mounts with default_permissions so the kernel does them.
 */
#ifndef SHMEMFS_H
#define SHMEMFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/statvfs.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMEMFS_ROOT_INO 1
#define SHMEMFS_PAGE_SIZE 4096
#define SHMEMFS_NAME_MAX 255
#define SHMEMFS_SYMLINK_MAX 4095  /* longest symlink target, as tmpfs */
#define SHMEMFS_XATTR_NAME_MAX 255
#define SHMEMFS_XATTR_SIZE_MAX 65536
#define SHMEMFS_MAX_FILESIZE INT64_MAX /* MAX_LFS_FILESIZE on 64-bit */

enum shmemfs_huge {
	SHMEMFS_HUGE_NEVER = 0,
	SHMEMFS_HUGE_ALWAYS,
	SHMEMFS_HUGE_WITHIN_SIZE,
	SHMEMFS_HUGE_ADVISE,
};

/*
 * Mount options.  Fill with shmemfs_opts_init() (the tmpfs defaults),
 * then shmemfs_opts_parse() for each "-o" string.  A limit of 0 means
 * unlimited, as in tmpfs.
 */
struct shmemfs_opts {
	uint64_t so_max_blocks;  /* size= / nr_blocks=, in pages; 0: none */
	uint64_t so_max_inodes;  /* nr_inodes=; 0: none */
	uint64_t so_mem_bytes;   /* mem=; 0: same as size */
	uint64_t so_swap_bytes;  /* swapsize= */
	char *so_swap_path;      /* swap=, malloc'd; NULL: none */
	mode_t so_mode;          /* mode= of the root directory */
	uid_t so_uid;            /* uid= */
	gid_t so_gid;            /* gid= */
	enum shmemfs_huge so_huge;
	unsigned so_noswap : 1;
	unsigned so_ramfs : 1;   /* no limits, no swap */
	/*
	 * inode64: 64-bit inode numbers; inode32 (0): st_ino stays below
	 * 2^32, wrapping past it and skipping numbers in use.  The default
	 * is the host kernel's tmpfs default (CONFIG_TMPFS_INODE64).
	 */
	unsigned so_inode64 : 1;
	unsigned so_mpol : 1;    /* mpol= given: accepted and ignored */
	/* usrquota, grpquota (quota: both) and their default hard limits
	 * (*_block_hardlimit= in bytes, *_inode_hardlimit=); 0: none */
	unsigned so_usrquota : 1;
	unsigned so_grpquota : 1;
	uint64_t so_usrquota_bhard;
	uint64_t so_usrquota_ihard;
	uint64_t so_grpquota_bhard;
	uint64_t so_grpquota_ihard;
	uint64_t so_shmmax;      /* shmmax=: largest SysV segment, bytes */
	uint64_t so_shmall;      /* shmall=: all segments, in pages */
	uint64_t so_shmmni;      /* shmmni=: most segments */
};

void shmemfs_opts_init(struct shmemfs_opts *o);
/*
 * Parse one comma-separated option string ("size=1g,mode=700").
 * Options this library does not know are returned as -ENOENT only if
 * @unknown is NULL; otherwise they are appended (comma-separated) to the
 * caller's buffer @unknown of @unknown_len bytes, so a front end can hand
 * them on (FUSE's own options).  On a bad value the return is -EINVAL and
 * @err (if not NULL) holds a one-line message naming the option.
 */
int shmemfs_opts_parse(struct shmemfs_opts *o, const char *optstr,
		       char *unknown, size_t unknown_len, char *err,
		       size_t err_len);
void shmemfs_opts_free(struct shmemfs_opts *o);
/*
 * Check the options as a whole, as a mount does once every "-o" string
 * is parsed: -EINVAL and a one-line reason in @err for combinations that
 * cannot work (noswap with swap=; mem= below size= without swap=, which
 * would give ENOSPC at the budget while df shows space free).
 */
int shmemfs_opts_check(const struct shmemfs_opts *o, char *err,
		       size_t err_len);

struct shmemfs;

/*
 * shmemfs_mount() is what a front end calls: shmemfs_opts_check(), then
 * the filesystem and its swap file, and on failure a one-line reason in
 * @err naming what was refused (e.g. "swap file /x/s is in use by
 * another mount").  The swap file is refused if it is in use by another
 * mount (-EBUSY), holds data without a shmemfs swap header (-EINVAL),
 * has more than one hard link (-EMLINK) or belongs to another user
 * (-EPERM).  shmemfs_new() does the same without the option check and
 * the message (embedding programs and tests that attach swap devices of
 * their own).
 */
int shmemfs_mount(struct shmemfs **fsp, const struct shmemfs_opts *o,
		  char *err, size_t err_len);
int shmemfs_new(struct shmemfs **fsp, const struct shmemfs_opts *o);
void shmemfs_destroy(struct shmemfs *fs);

/* The caller of a create call, for ownership of the new inode. */
struct shmemfs_ctx {
	uid_t sc_uid;
	gid_t sc_gid;
	/*
	 * The caller's umask, applied (as the VFS does) only where the
	 * parent directory has no default ACL; 0 when the front end has
	 * applied it already.
	 */
	mode_t sc_umask;
};

/* What getattr and the create calls report. */
struct shmemfs_attr {
	struct stat sa_st;       /* st_ino is the inode number */
	struct timespec sa_btime;
	uint64_t sa_generation;
};

/* setattr: which fields of struct shmemfs_setattr to apply. */
#define SHMEMFS_SET_MODE      (1u << 0)
#define SHMEMFS_SET_UID       (1u << 1)
#define SHMEMFS_SET_GID       (1u << 2)
#define SHMEMFS_SET_SIZE      (1u << 3)
#define SHMEMFS_SET_ATIME     (1u << 4)
#define SHMEMFS_SET_MTIME     (1u << 5)
#define SHMEMFS_SET_ATIME_NOW (1u << 7)
#define SHMEMFS_SET_MTIME_NOW (1u << 8)
#define SHMEMFS_SET_CTIME     (1u << 10)

struct shmemfs_setattr {
	mode_t ss_mode;
	uid_t ss_uid;
	gid_t ss_gid;
	uint64_t ss_size;
	struct timespec ss_atime;
	struct timespec ss_mtime;
	struct timespec ss_ctime;
};

/* Namespace.  Calls that return an attr take one lookup reference. */
int shmemfs_lookup(struct shmemfs *fs, uint64_t parent, const char *name,
		   struct shmemfs_attr *out);
void shmemfs_forget(struct shmemfs *fs, uint64_t ino, uint64_t nlookup);
int shmemfs_getattr(struct shmemfs *fs, uint64_t ino,
		    struct shmemfs_attr *out);
int shmemfs_setattr(struct shmemfs *fs, uint64_t ino, unsigned valid,
		    const struct shmemfs_setattr *sa, struct shmemfs_attr *out);
/* mknod creates regular files, FIFOs, sockets and devices. */
int shmemfs_mknod(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		  uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		  struct shmemfs_attr *out);
int shmemfs_mkdir(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		  uint64_t parent, const char *name, mode_t mode,
		  struct shmemfs_attr *out);
int shmemfs_symlink(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		    uint64_t parent, const char *name, const char *target,
		    struct shmemfs_attr *out);
/* Copies the target (not NUL-terminated) and returns its length. */
int shmemfs_readlink(struct shmemfs *fs, uint64_t ino, char *buf,
		     size_t size);
int shmemfs_link(struct shmemfs *fs, uint64_t ino, uint64_t newparent,
		 const char *newname, struct shmemfs_attr *out);
/*
 * O_TMPFILE: a regular file with no name, nlink 0, counted like any
 * inode, born open (one lookup reference and one open reference: give
 * them back with shmemfs_forget(.., 1) and shmemfs_release()); shmemfs_link() may name it unless SHMEMFS_TMPFILE_EXCL.
 * @parent lends its setgid group.
 */
#define SHMEMFS_TMPFILE_EXCL (1u << 0) /* O_EXCL: never linkable */
int shmemfs_tmpfile(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		    uint64_t parent, mode_t mode, unsigned flags,
		    struct shmemfs_attr *out);
int shmemfs_unlink(struct shmemfs *fs, uint64_t parent, const char *name);
int shmemfs_rmdir(struct shmemfs *fs, uint64_t parent, const char *name);
#define SHMEMFS_RENAME_NOREPLACE (1u << 0) /* = RENAME_NOREPLACE */
#define SHMEMFS_RENAME_EXCHANGE  (1u << 1) /* = RENAME_EXCHANGE */
int shmemfs_rename(struct shmemfs *fs, uint64_t parent, const char *name,
		   uint64_t newparent, const char *newname, unsigned flags);

/*
 * Directory reading.  Cookies are stable: each entry gets a cookie when
 * it is linked into the directory, larger than every earlier one, and
 * readdir returns entries in cookie order from the first cookie above
 * @cookie.  So entries added or removed during a walk are never skipped
 * or repeated unless they are themselves the ones added or removed.
 * @fn returns 0 to go on (entry consumed) or non-zero to stop (entry not
 * consumed).  With @plus, each consumed entry other than "." and ".."
 * takes one lookup reference, as for FUSE readdirplus.
 */
typedef int (*shmemfs_filldir_t)(void *arg, const char *name,
				 const struct shmemfs_attr *attr,
				 uint64_t next_cookie);
int shmemfs_readdir(struct shmemfs *fs, uint64_t ino, uint64_t cookie,
		    int plus, shmemfs_filldir_t fn, void *arg);

/* Data.  open/release keep an unlinked inode alive. */
int shmemfs_open(struct shmemfs *fs, uint64_t ino);
void shmemfs_release(struct shmemfs *fs, uint64_t ino);
/*
 * shmemfs_read() returns the whole range up to the end of the file or
 * -errno (-EIO for a page that cannot be read back from swap), never a
 * short count before the end: a short read means end of file.
 */
ssize_t shmemfs_read(struct shmemfs *fs, uint64_t ino, void *buf,
		     size_t size, int64_t off);
ssize_t shmemfs_write(struct shmemfs *fs, uint64_t ino, const void *buf,
		      size_t size, int64_t off);
/*
 * A read without a copy, for a reply written straight from the pages
 * (writev on /dev/fuse): the same range as shmemfs_read(), described in
 * @iov (room for @iovcnt entries; *@niovp set) as pointers into the
 * file's pages, which stay pinned (never reclaimed, split or freed)
 * and still (the file's data lock held shared: its writes, truncates,
 * punches and fallocates wait) until shmemfs_read_unpin(*@pinp), called
 * by the same thread with no other shmemfs call in between.  A hole
 * reads from a shared page of zeros.  Returns the bytes described (0 at
 * the end of file) and *@pinp to unpin, or -errno with nothing pinned
 * and *@pinp NULL; -EAGAIN when the range does not fit @iov or its
 * pages cannot all be pinned at once (memory full): shmemfs_read() then
 * does the same read with a copy and gives the exact result.
 */
struct iovec;
struct shmemfs_pinned;
ssize_t shmemfs_read_pin(struct shmemfs *fs, uint64_t ino, size_t size,
			 int64_t off, struct iovec *iov, unsigned iovcnt,
			 unsigned *niovp, struct shmemfs_pinned **pinp);
void shmemfs_read_unpin(struct shmemfs_pinned *pin);
#define SHMEMFS_FALLOC_KEEP_SIZE  0x01 /* = FALLOC_FL_KEEP_SIZE */
#define SHMEMFS_FALLOC_PUNCH_HOLE 0x02 /* = FALLOC_FL_PUNCH_HOLE */
int shmemfs_fallocate(struct shmemfs *fs, uint64_t ino, int mode,
		      int64_t off, int64_t len);
/* SEEK_DATA / SEEK_HOLE (other whence values: -EINVAL). */
int64_t shmemfs_lseek(struct shmemfs *fs, uint64_t ino, int64_t off,
		      int whence);
ssize_t shmemfs_copy_file_range(struct shmemfs *fs, uint64_t ino_in,
				int64_t off_in, uint64_t ino_out,
				int64_t off_out, size_t len);

/* Extended attributes: user., trusted. and security. namespaces. */
#define SHMEMFS_XATTR_CREATE  0x1 /* = XATTR_CREATE */
#define SHMEMFS_XATTR_REPLACE 0x2 /* = XATTR_REPLACE */
/*
 * POSIX ACLs: system.posix_acl_access and system.posix_acl_default, in
 * the kernel's xattr format, with tmpfs's rules (EINVAL for a malformed
 * ACL, EACCES for a default ACL on a non-directory, the mode kept in
 * step).  Setting an access ACL clears S_ISGID when the caller passes
 * SHMEMFS_XATTR_KILL_SGID (it is neither in the file's group nor has
 * CAP_FSETID, the VFS's rule); removing an absent ACL succeeds.
 */
#define SHMEMFS_XATTR_KILL_SGID 0x100
int shmemfs_setxattr(struct shmemfs *fs, uint64_t ino, const char *name,
		     const void *value, size_t size, int flags);
/* size 0: return the length only; too small: -ERANGE. */
ssize_t shmemfs_getxattr(struct shmemfs *fs, uint64_t ino, const char *name,
			 void *value, size_t size);
ssize_t shmemfs_listxattr(struct shmemfs *fs, uint64_t ino, char *list,
			  size_t size);
/* The same for a caller without CAP_SYS_ADMIN: trusted.* names are left
 * out, as the kernel leaves them out of such a caller's list. */
ssize_t shmemfs_listxattr_user(struct shmemfs *fs, uint64_t ino, char *list,
			       size_t size);
int shmemfs_removexattr(struct shmemfs *fs, uint64_t ino, const char *name);

/*
 * Inode flags (chattr/lsattr), the ones tmpfs keeps; the values are
 * FS_*_FL's.  Regular files and directories only (-ENOTTY otherwise),
 * other flags -EOPNOTSUPP.  Who may set them (the owner; for immutable
 * and append-only, CAP_LINUX_IMMUTABLE) is the caller's check, as it is
 * the VFS's for tmpfs; what they forbid is enforced here: an immutable
 * or append-only inode keeps its names, owner, mode, times and xattrs
 * (EPERM), an immutable directory takes no new names, an append-only
 * one loses none, and a noatime inode keeps its atime.
 */
#define SHMEMFS_FL_IMMUTABLE 0x00000010 /* = FS_IMMUTABLE_FL */
#define SHMEMFS_FL_APPEND    0x00000020 /* = FS_APPEND_FL */
#define SHMEMFS_FL_NODUMP    0x00000040 /* = FS_NODUMP_FL */
#define SHMEMFS_FL_NOATIME   0x00000080 /* = FS_NOATIME_FL */
#define SHMEMFS_FL_SETTABLE  0x000000f0
int shmemfs_getflags(struct shmemfs *fs, uint64_t ino, unsigned *flags);
int shmemfs_setflags(struct shmemfs *fs, uint64_t ino, unsigned flags);
/*
 * may_open()'s rules for the flags above, for open(2) flags @oflags:
 * -EPERM for opening an immutable file for writing or with O_TRUNC, or
 * an append-only one for writing without O_APPEND or with O_TRUNC.
 * (Descriptors opened before the flag was set keep writing, as on
 * tmpfs.)
 */
int shmemfs_may_open(struct shmemfs *fs, uint64_t ino, int oflags);
/*
 * setattr through an open file (ftruncate, futimens): an immutable
 * file's size may still change then, as on tmpfs.
 */
#define SHMEMFS_SET_FH        (1u << 16)
/*
 * rename2 with a caller, for RENAME_WHITEOUT (overlayfs): the old name
 * is left naming a new 0/0 character device (a whiteout) owned by
 * @ctx's caller, as tmpfs does.  Not with RENAME_EXCHANGE (-EINVAL).
 */
#define SHMEMFS_RENAME_WHITEOUT (1u << 2) /* = RENAME_WHITEOUT */
int shmemfs_rename2(struct shmemfs *fs, const struct shmemfs_ctx *ctx,
		    uint64_t parent, const char *name, uint64_t newparent,
		    const char *newname, unsigned flags);

/*
 * Quotas, as tmpfs 6.6+ with usrquota/grpquota: blocks and inodes per
 * user (the inode's uid) and per group (its gid), EDQUOT past a hard
 * limit (checked after size= and nr_inodes=), chown moving an inode's
 * charge (EDQUOT if the new owner has no room).  The default limits of
 * the mount options apply to every id but 0 on its first use.  A
 * caller the hard limits do not bind (CAP_SYS_RESOURCE, as dquot's
 * ignore_hardlimit()) calls shmemfs_quota_bypass(1) around its calls:
 * the switch is per thread.  The kernel's quotactl() never reaches a
 * FUSE daemon: these are what `shmemctl quota` uses.
 */
#define SHMEMFS_QUOTA_USER  1 /* bits of the enabled types */
#define SHMEMFS_QUOTA_GROUP 2
struct shmemfs_quota {
	uint32_t sq_type;        /* 0 user, 1 group */
	uint32_t sq_id;
	uint64_t sq_bytes;       /* blocks in use, bytes */
	uint64_t sq_block_limit; /* bytes; 0: none */
	uint64_t sq_inodes;
	uint64_t sq_inode_limit; /* 0: none */
};
#define SHMEMFS_QUOTA_SET_BLOCKS 1
#define SHMEMFS_QUOTA_SET_INODES 2
/* Entries of @type (0, 1; 2: both) with id >= @from, sorted: a count. */
int shmemfs_quota_get(struct shmemfs *fs, unsigned type, uint32_t from,
		      struct shmemfs_quota *out, size_t n);
/* -ESRCH if quotas of @type are off. */
int shmemfs_quota_set(struct shmemfs *fs, unsigned type, uint32_t id,
		      unsigned mask, uint64_t block_limit,
		      uint64_t inode_limit);
void shmemfs_quota_bypass(int on);
/* SHMEMFS_QUOTA_USER | SHMEMFS_QUOTA_GROUP as mounted; 0: quotas off. */
unsigned shmemfs_quota_types(struct shmemfs *fs);

int shmemfs_statfs(struct shmemfs *fs, struct statvfs *st);

/* Statistics, the keys of `shmemctl stats` (DESIGN.md). */
struct shmemfs_stats {
	uint64_t size_limit_bytes;
	uint64_t used_bytes;
	uint64_t inodes_limit;
	uint64_t inodes_used;
	uint64_t mem_limit_bytes;
	uint64_t resident_bytes;
	uint64_t swapped_bytes;
	uint64_t swap_total_bytes;
	uint64_t swap_used_bytes;
	uint64_t swapouts;
	uint64_t swapins;
	uint64_t huge_pages;
	uint64_t huge_splits;
	uint64_t huge_collapses;
	uint64_t huge_fallbacks;
	uint64_t uring_queues;
};
int shmemfs_get_stats(struct shmemfs *fs, struct shmemfs_stats *st);

/*
 * Huge pages.  shmemfs_huge_advise(): under huge=advise, a regular
 * file's owner's wish for huge pages (on != 0) or not, what
 * madvise(MADV_HUGEPAGE) on a mapping of it says to tmpfs (FUSE never
 * shows us madvise); -EINVAL for anything but a regular file.  Takes
 * effect for pages allocated from then on.  shmemfs_huge_shrink():
 * split every huge folio that reaches past its file's end and free the
 * pages there, as tmpfs's shrinker does under memory pressure (and on
 * drop_caches); returns the pages freed.
 */
int shmemfs_huge_advise(struct shmemfs *fs, uint64_t ino, int on);

/*
 * @fn (or NULL) is called, with the mount's lock held, with the number
 * of an inode whose attributes changed without a call on it (the huge
 * shrinker freeing its pages past end of file), so that a front end can
 * drop its cached copy.  @fn must not call back into the mount.
 */
void shmemfs_set_attr_notify(struct shmemfs *fs,
			     void (*fn)(void *arg, uint64_t ino), void *arg);
int64_t shmemfs_huge_shrink(struct shmemfs *fs);

/*
 * One bounded pass of background collapse (khugepaged), as the mount's
 * own thread runs every half second: fully populated aligned 2 MiB
 * ranges of small pages become huge folios again where huge= allows and
 * mem= has room (counted in huge_collapses).  Returns the folios made.
 * A filesystem made by shmemfs_new() has no such thread; this is how
 * its owner (or a test) collapses.
 */
int shmemfs_huge_collapse(struct shmemfs *fs);

/*
 * swapoff: bring every swapped page back into memory and stop swapping;
 * -ENOMEM (nothing moved) if they do not fit in mem=, -EIO if a page
 * could not be read (it stays in swap, all others come back), -EINVAL
 * if the mount has no swap.  swapon: start swapping again.
 */
int shmemfs_swapoff(struct shmemfs *fs);
int shmemfs_swapon(struct shmemfs *fs);

/*
 * Remount: apply the comma-separated options @optstr to the live mount
 * as tmpfs's remount does: size=, nr_blocks=, nr_inodes=, huge=,
 * inode32/inode64, noswap (only if the mount has it already), mem= and
 * swapsize=; mode=, uid=, gid= and mpol= are accepted and ignored, as
 * tmpfs ignores them on remount.  Refused (-EINVAL, a one-line reason
 * in @err, nothing changed): other options, a limit on what is
 * unlimited, a limit below current use, inode32 with numbers past 2^32
 * handed out, mem= below what is resident unless swap can take the rest.
 */
int shmemfs_remount(struct shmemfs *fs, const char *optstr, char *err,
		    size_t err_len);

/*
 * Walk every in-memory structure and check the invariants (counters
 * equal the sum of pages, nlink equals the number of names, index
 * shape).  Returns 0 or -EUCLEAN; @msg gets the first violation.
 */
int shmemfs_check(struct shmemfs *fs, char *msg, size_t msg_len);

/*
 * Snapshots (snapshot.c).  An image is the whole mount at one instant:
 * every inode with its number, generation, owner, mode, four timestamps
 * and xattrs, data with holes and fallocated extents, hard links, and
 * the mount's options and counters.  It is made of checksummed blocks,
 * optionally sealed (ChaCha20-Poly1305) under a key file.
 *
 * shmemfs_save() writes an image to @fd, holding the mount's lock for
 * the walk (the pause is the time to copy the data to @fd); swapped
 * pages are read from swap one at a time, not swapped in.
 * shmemfs_save_file() does it the safe way: a temporary file of mode
 * 0600 beside @path, fsync, rename over @path, fsync of the directory,
 * so a crash leaves the old image.  @key (32 bytes from
 * shmemfs_image_key_read(), or NULL) seals the image.
 *
 * shmemfs_image_opts() reads the options saved in an image into @o
 * (initialized by the caller; a front end applies its own -o over them).
 * shmemfs_restore() mounts an image with options @o: a new mount, or
 * an error with one line in @err naming where the image is damaged
 * (block and byte offset), -ENOKEY for a sealed image without a key,
 * -EBADMSG for a wrong key or a failed checksum; nothing is half
 * restored.
 */
#define SHMEMFS_IMAGE_MAGIC "SHMFSIMG" /* an image's first 8 bytes */
int shmemfs_image_key_read(const char *path, unsigned char key[32],
			   char *err, size_t err_len);
int shmemfs_save(struct shmemfs *fs, int fd, const unsigned char *key,
		 char *err, size_t err_len);
/*
 * The state a new daemon takes over at a live restart: an image that
 * also holds unlinked inodes still open or looked up, every lookup and
 * open count and the directory cookies (so open files, FUSE node ids and
 * readdir positions stay valid).  Restored by shmemfs_restore().
 */
int shmemfs_save_live(struct shmemfs *fs, int fd, char *err, size_t err_len);
int shmemfs_save_file(struct shmemfs *fs, const char *path,
		      const unsigned char *key, char *err, size_t err_len);
int shmemfs_image_opts(int fd, const unsigned char *key,
		       struct shmemfs_opts *o, char *err, size_t err_len);
int shmemfs_restore(struct shmemfs **fsp, const struct shmemfs_opts *o,
		    int fd, const unsigned char *key, char *err,
		    size_t err_len);

/*
 * What the VFS does for tmpfs on write(2), truncate and chown (its
 * file_remove_privs(), do_truncate(), chown_common()), for a FUSE daemon
 * that takes it over (FUSE_HANDLE_KILLPRIV_V2).  @kill:
 * SHMEMFS_KILL_SUIDGID clears S_ISUID, and S_ISGID when group execute
 * is set, and removes security.capability; SHMEMFS_KILL_SGID adds
 * S_ISGID without group execute (a caller outside the file's group
 * without CAP_FSETID).  ctime is stamped only if something went.
 * shmemfs_write_kill() does it under the same lock as the write, before
 * it, as tmpfs does (also when the write then fails).  0 or -errno.
 */
#define SHMEMFS_KILL_SUIDGID (1u << 0)
#define SHMEMFS_KILL_SGID    (1u << 1)
int shmemfs_kill_priv(struct shmemfs *fs, uint64_t ino, unsigned kill,
		      struct shmemfs_attr *out);
/* shmemfs_setattr() and shmemfs_kill_priv() at once (a chown or a
 * truncate that drops privileges). */
int shmemfs_setattr_kill(struct shmemfs *fs, uint64_t ino, unsigned valid,
			 const struct shmemfs_setattr *sa, unsigned kill,
			 struct shmemfs_attr *out);
ssize_t shmemfs_write_kill(struct shmemfs *fs, uint64_t ino, const void *buf,
			   size_t size, int64_t off, unsigned kill);

#ifdef __cplusplus
}
#endif
#endif /* SHMEMFS_H */
