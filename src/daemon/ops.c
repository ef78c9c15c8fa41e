/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the FUSE operations, the capability checks, the control channel.
 *
 * A thin libfuse low-level front end over libshmemfs (include/shmemfs.h);
 * how requests reach it is the transport's business (transport.h).
 * FUSE_ROOT_ID and SHMEMFS_ROOT_INO are both 1, so FUSE node ids are
 * shmemfs inode numbers and no translation table is needed.  The lookup
 * count the kernel keeps (nlookup) is kept by the core: every reply that
 * hands the kernel an entry (lookup, the create calls, readdirplus) took
 * exactly one reference in the core, and forget gives them back.
 *
 * Every op below replies exactly once.  Core calls return 0, a count or
 * -errno; the one conversion to a FUSE error is fuse_reply_err(req, -ret).
 *
 * When a reply carrying a reference cannot be delivered because the
 * request was interrupted (fuse_reply_* returns -ENOENT), the kernel never
 * saw the entry or the open file, so we drop what we took, as libfuse's
 * own high-level layer does.
 *
 * Permission checks are the kernel's: we always mount with
 * default_permissions, so modes and the sticky bit are enforced by the
 * VFS before a request reaches us, as they are for tmpfs.  What the
 * kernel leaves to us (CAP_FSETID at open(O_TRUNC), CAP_SYS_ADMIN for
 * trusted.* names and swapoff) is judged by ops_caller_has_cap().
 *
 * shmemctl's channel (include/shmemfs_ioctl.h) is ops_ioctl(), at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "shmemfs_ioctl.h"
#include "shmemfs_ipc.h"
#include "daemon.h"
#include "restart.h"
#include "snapshot.h"
#include "transport.h"

/*
 * How long the kernel may cache names (also negative ones) and attrs.
 * Every change reaches the core through this one kernel, which updates
 * or drops its cached copies as it forwards the change (FUSE's
 * fuse_dir_changed(), attribute invalidation on write, link, rename...),
 * so long timeouts are safe and save a LOOKUP or GETATTR per access.
 * No .flush op: tmpfs has nothing to do at close, and without one the
 * kernel stops sending FLUSH after the first ENOSYS, a round trip saved
 * on every close(2).
 */
#define OPS_ENTRY_TIMEOUT 3600.0
#define OPS_ATTR_TIMEOUT  3600.0
#define OPS_MAX_WRITE     (1024 * 1024)

static int ops_caller_has_cap(fuse_req_t req, unsigned cap_bit);

/*
 * Quotas: a caller with CAP_SYS_RESOURCE is not held to the hard limits
 * (dquot's ignore_hardlimit()).  Asking /proc costs, so it is asked only
 * once a call has failed with EDQUOT, and the call is made again with
 * the limits off for this thread.
 */
#define OPS_QUOTA_RETRY(req, ret, call)                                        \
	do {                                                                   \
		(ret) = (call);                                                \
		if ((ret) == -EDQUOT &&                                        \
		    ops_caller_has_cap((req), CAP_SYS_RESOURCE)) {             \
			shmemfs_quota_bypass(1);                               \
			(ret) = (call);                                        \
			shmemfs_quota_bypass(0);                               \
		}                                                              \
	} while (0)

/* For notifications to the kernel from inside a request. */
static struct fuse_session *ops_session;

/* After a failed live restart took the state back (restart.c), the
 * mount is a new one; set only while no request is being served. */
static struct shmemfs *ops_fs_override;

void
sd_ops_set_fs(struct shmemfs *fs)
{
	ops_fs_override = fs;
}

static struct shmemfs *
ops_req_fs(fuse_req_t req)
{
	return ops_fs_override ? ops_fs_override : fuse_req_userdata(req);
}

/* The mount a request is for: the session's, or the one a failed
 * restart took back (for the daemon's other files). */
struct shmemfs *
sd_ops_req_fs(fuse_req_t req)
{
	return ops_req_fs(req);
}

static void
ops_req_ctx(fuse_req_t req, struct shmemfs_ctx *ctx)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	ctx->sc_uid = fc->uid;
	ctx->sc_gid = fc->gid;
	/* With DONT_MASK the kernel leaves the umask to us (ACLs). */
	ctx->sc_umask = fc->umask;
}

static void
ops_fill_entry(struct fuse_entry_param *e, const struct shmemfs_attr *attr)
{
	memset(e, 0, sizeof(*e));
	e->ino = attr->sa_st.st_ino;
	e->generation = attr->sa_generation;
	e->attr = attr->sa_st;
	e->attr_timeout = OPS_ATTR_TIMEOUT;
	e->entry_timeout = OPS_ENTRY_TIMEOUT;
}

/*
 * Reply to a call that took one lookup reference on success (lookup and
 * the create calls).  @ret is the core's return value.
 */
static void
ops_reply_entry(fuse_req_t req, int ret, const struct shmemfs_attr *attr)
{
	struct fuse_entry_param e;

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	ops_fill_entry(&e, attr);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		shmemfs_forget(ops_req_fs(req), e.ino, 1);
}

/* ---- Namespace ---------------------------------------------------- */

static void
ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(parent, name)) { /* ipcops.c: a handle */
		sd_ipc_lookup(req, parent, name);
		return;
	}
	ret = shmemfs_lookup(ops_req_fs(req), parent, name, &attr);
	if (ret == -ENOENT) {
		/* Negative entry: lets the kernel cache the miss. */
		struct fuse_entry_param e = {
			.ino = 0,
			.entry_timeout = OPS_ENTRY_TIMEOUT,
		};

		fuse_reply_entry(req, &e);
		return;
	}
	ops_reply_entry(req, ret, &attr);
}

static void
ops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	shmemfs_forget(ops_req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void
ops_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct shmemfs *fs = ops_req_fs(req);
	size_t i;

	for (i = 0; i < count; i++)
		shmemfs_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void
ops_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmemfs_attr attr;
	int ret;

	(void)fi;
	ret = shmemfs_getattr(ops_req_fs(req), ino, &attr);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &attr.sa_st, OPS_ATTR_TIMEOUT);
}

/*
 * Flag translation.  FUSE's (or the kernel's) flags and the core's
 * happen to share values in places; the tables keep us correct if either
 * side ever changes.
 */
struct ops_flag {
	unsigned of_fuse;
	unsigned of_shmemfs;
};

#define OPS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The core's flags for @flags, through @map, into *@out; returns the
 * bits of @flags the map does not name (0: all translated).
 */
static unsigned
ops_map_flags(unsigned flags, const struct ops_flag *map, size_t n,
	      unsigned *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (flags & map[i].of_fuse)
			*out |= map[i].of_shmemfs;
		flags &= ~map[i].of_fuse;
	}
	return flags;
}

/* clang-format off */
/*
 * Bits not listed are ignored; FATTR_KILL_SUIDGID (handle_killpriv_v2)
 * never gets here, libfuse 3.14 drops it: see ops_kill_of().
 */
static const struct ops_flag ops_setattr_map[] = {
	{ FUSE_SET_ATTR_MODE,      SHMEMFS_SET_MODE },
	{ FUSE_SET_ATTR_UID,       SHMEMFS_SET_UID },
	{ FUSE_SET_ATTR_GID,       SHMEMFS_SET_GID },
	{ FUSE_SET_ATTR_SIZE,      SHMEMFS_SET_SIZE },
	{ FUSE_SET_ATTR_ATIME,     SHMEMFS_SET_ATIME },
	{ FUSE_SET_ATTR_MTIME,     SHMEMFS_SET_MTIME },
	{ FUSE_SET_ATTR_ATIME_NOW, SHMEMFS_SET_ATIME_NOW },
	{ FUSE_SET_ATTR_MTIME_NOW, SHMEMFS_SET_MTIME_NOW },
	{ FUSE_SET_ATTR_CTIME,     SHMEMFS_SET_CTIME },
};

/* RENAME_WHITEOUT: overlayfs's whiteouts, as tmpfs makes them. */
static const struct ops_flag ops_rename_map[] = {
	{ RENAME_NOREPLACE, SHMEMFS_RENAME_NOREPLACE },
	{ RENAME_EXCHANGE,  SHMEMFS_RENAME_EXCHANGE },
	{ RENAME_WHITEOUT,  SHMEMFS_RENAME_WHITEOUT },
};

/* tmpfs supports exactly these two; everything else as tmpfs. */
static const struct ops_flag ops_falloc_map[] = {
	{ FALLOC_FL_KEEP_SIZE,  SHMEMFS_FALLOC_KEEP_SIZE },
	{ FALLOC_FL_PUNCH_HOLE, SHMEMFS_FALLOC_PUNCH_HOLE },
};

static const struct ops_flag ops_xattr_map[] = {
	{ XATTR_CREATE,  SHMEMFS_XATTR_CREATE },
	{ XATTR_REPLACE, SHMEMFS_XATTR_REPLACE },
};
/* clang-format on */

static unsigned ops_req_kill(fuse_req_t req, fuse_ino_t ino);
static unsigned ops_empty_setattr_kill(fuse_req_t req, fuse_ino_t ino);

static void
ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
	    struct fuse_file_info *fi)
{
	struct shmemfs_setattr sa = {
		.ss_mode = st->st_mode,
		.ss_uid = st->st_uid,
		.ss_gid = st->st_gid,
		.ss_size = (uint64_t)st->st_size,
		.ss_atime = st->st_atim,
		.ss_mtime = st->st_mtim,
		.ss_ctime = st->st_ctim,
	};
	struct shmemfs_attr attr;
	unsigned valid, kill;
	int ret;

	ops_map_flags((unsigned)to_set, ops_setattr_map,
		      OPS_NELEM(ops_setattr_map), &valid);
	/* handle_killpriv_v2: see ops_kill_of(), before the chown */
	kill =
	    to_set ? ops_req_kill(req, ino) : ops_empty_setattr_kill(req, ino);
	/*
	 * ftruncate() and open(O_TRUNC) come with a file handle.  The kernel
	 * asks tmpfs to set mtime and ctime for those even when the size
	 * does not change, but FUSE leaves the times to the daemon then
	 * (fuse's update_mtime()), so set them here; truncate(2) by path
	 * changes them only with the size, which the core does.
	 */
	if ((to_set & FUSE_SET_ATTR_SIZE) && fi &&
	    !(to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)))
		valid |= SHMEMFS_SET_MTIME_NOW;
	/* ftruncate() of an immutable file opened before: allowed. */
	if (fi)
		valid |= SHMEMFS_SET_FH;
	if ((to_set & FUSE_SET_ATTR_SIZE) && st->st_size < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}

	OPS_QUOTA_RETRY(req, ret,
			shmemfs_setattr_kill(ops_req_fs(req), ino, valid, &sa,
					     kill, &attr));
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &attr.sa_st, OPS_ATTR_TIMEOUT);
}

static void
ops_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[SHMEMFS_SYMLINK_MAX + 1];
	int ret;

	ret = shmemfs_readlink(ops_req_fs(req), ino, buf, sizeof(buf) - 1);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	buf[ret] = '\0';
	fuse_reply_readlink(req, buf);
}

static void
ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	  dev_t rdev)
{
	struct shmemfs_ctx ctx;
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ops_req_ctx(req, &ctx);
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_mknod(ops_req_fs(req), &ctx, parent, name, mode,
				      rdev, &attr));
	ops_reply_entry(req, ret, &attr);
}

static void
ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct shmemfs_ctx ctx;
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	/* The kernel sends the permission bits only. */
	ops_req_ctx(req, &ctx);
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_mkdir(ops_req_fs(req), &ctx, parent, name,
				      S_IFDIR | (mode & 07777), &attr));
	ops_reply_entry(req, ret, &attr);
}

static void
ops_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
	    const char *name)
{
	struct shmemfs_ctx ctx;
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ops_req_ctx(req, &ctx);
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_symlink(ops_req_fs(req), &ctx, parent, name,
					target, &attr));
	ops_reply_entry(req, ret, &attr);
}

static void
ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	 const char *newname)
{
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(newparent, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = shmemfs_link(ops_req_fs(req), ino, newparent, newname, &attr);
	ops_reply_entry(req, ret, &attr);
}

static void
ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -shmemfs_unlink(ops_req_fs(req), parent, name));
}

static void
ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -shmemfs_rmdir(ops_req_fs(req), parent, name));
}

static void
ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	   fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct shmemfs_ctx ctx;
	unsigned sflags;

	if (ops_map_flags(flags, ops_rename_map, OPS_NELEM(ops_rename_map),
			  &sflags)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (sd_ipc_reserved(newparent, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	/* The kernel has checked CAP_MKNOD for a whiteout (vfs_rename()). */
	int ret;

	ops_req_ctx(req, &ctx);
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_rename2(ops_req_fs(req), &ctx, parent, name,
					newparent, newname, sflags));
	fuse_reply_err(req, -ret);
}

/* ---- Files -------------------------------------------------------- */

/*
 * Capabilities.  tmpfs decides CAP_SYS_ADMIN (listing trusted.* names)
 * and CAP_FSETID (keeping S_ISUID/S_ISGID over open(O_TRUNC)) with
 * capable(), in the initial user namespace; ours is the mount's user
 * namespace, which is the daemon's own (the one the mount was made in:
 * the initial one for a root mount).  /proc/PID/status shows CapEff
 * relative to the caller's own namespace, where "unshare -r" gives any
 * user a full set, and the uid FUSE reports is mapped into our
 * namespace, where root of a child namespace created by root is still
 * 0.  Neither says what the caller may do here.  So, as cap_capable():
 *
 * - a caller in our namespace has what its CapEff says;
 * - a caller in a descendant namespace has nothing here;
 * - a caller in an ancestor namespace would have its CapEff, or
 *   everything if it owns the namespace below it on the path to ours,
 *   but the kernel does not show us the namespaces above ours
 *   (NS_GET_PARENT of our own namespace is EPERM), so we cannot tell it
 *   from one in an unrelated namespace, which has nothing: both count as
 *   unprivileged.  A mount made in the initial namespace has no
 *   ancestors, so for root mounts the answer is exact.
 *
 * Whatever cannot be read counts as "no" (fail closed: a trusted.* name
 * hidden, a set-id bit cleared): a caller the kernel names with pid 0
 * (its pid namespace is neither ours nor below it), a process gone, a
 * namespace link we may not read (an unprivileged daemon and another
 * user's process).
 * Falling back to "uid 0 is root" would let in exactly the callers
 * above.  The /proc/PID directory is opened once, so status and ns/user
 * describe the same task, and its fsuid must be the one FUSE reported,
 * or the pid has been reused.
 */
static struct {
	int un_known;
	dev_t un_dev;
	ino_t un_ino;
} ops_userns;

static void
ops_userns_init(void)
{
	struct stat st;

	if (stat("/proc/self/ns/user", &st) < 0) {
		fprintf(stderr,
			"shmemfs: warning: /proc/self/ns/user: %s: no caller "
			"will be treated as privileged\n",
			strerror(errno));
		return;
	}
	ops_userns.un_dev = st.st_dev;
	ops_userns.un_ino = st.st_ino;
	ops_userns.un_known = 1;
}

/* CapEff and the fsuid (as seen from our namespace) of /proc/PID. */
static int
ops_read_status(int piddir, unsigned long long *capeff, unsigned long *fsuid)
{
	char line[256];
	int found = 0;
	FILE *f;
	int fd;

	fd = openat(piddir, "status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		/* real, effective, saved, filesystem */
		if (sscanf(line, "Uid: %*u %*u %*u %lu", fsuid) == 1)
			found |= 1;
		else if (sscanf(line, "CapEff: %llx", capeff) == 1)
			found |= 2;
	}
	fclose(f);
	return found == 3 ? 0 : -EIO;
}

/*
 * Does the caller of @req have capability @cap_bit (CAP_* of
 * <linux/capability.h>) in the mount's user namespace?  See above.
 */
static int
ops_caller_has_cap(fuse_req_t req, unsigned cap_bit)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	unsigned long long capeff;
	unsigned long fsuid;
	char path[32];
	struct stat st;
	int piddir;
	int ret = 0;

	if (!ops_userns.un_known || fc->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d", (int)fc->pid);
	piddir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (piddir < 0)
		return 0;
	if (fstatat(piddir, "ns/user", &st, 0) < 0 ||
	    st.st_dev != ops_userns.un_dev || st.st_ino != ops_userns.un_ino)
		goto out_close;
	if (ops_read_status(piddir, &capeff, &fsuid) < 0 ||
	    fsuid != (unsigned long)fc->uid)
		goto out_close;
	ret = (capeff >> cap_bit) & 1;
out_close:
	close(piddir);
	return ret;
}

/* ops_caller_has_cap() for the other files of the daemon (ipcops.c). */
int
sd_caller_has_cap(fuse_req_t req, unsigned cap_bit)
{
	return ops_caller_has_cap(req, cap_bit);
}

static int ops_caller_in_group(fuse_req_t req, gid_t gid);

/*
 * With FUSE_HANDLE_KILLPRIV_V2 (transport.c) the kernel leaves to us what
 * the VFS does for tmpfs when a file changes: it flags a write, a
 * truncate and an open(O_TRUNC) by a caller without CAP_FSETID, and
 * every chown of a non-directory, and sends no mode change of its own.
 * What goes (shmemfs_kill_priv()), as setattr_should_drop_suidgid() and
 * security_inode_killpriv() decide: S_ISUID, S_ISGID with group
 * execute, security.capability, and S_ISGID without group execute too
 * when the caller is neither in the file's group nor has CAP_FSETID.
 * @attr: the file before the change (chown: the old group).
 */
static unsigned
ops_kill_of(fuse_req_t req, const struct shmemfs_attr *attr)
{
	mode_t mode = attr->sa_st.st_mode;
	unsigned kill = SHMEMFS_KILL_SUIDGID;

	if ((mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
	    !ops_caller_in_group(req, attr->sa_st.st_gid) &&
	    !ops_caller_has_cap(req, CAP_FSETID))
		kill |= SHMEMFS_KILL_SGID;
	return kill;
}

/* ops_kill_of() if the request carries the kernel's kill flag, else 0. */
static unsigned
ops_req_kill(fuse_req_t req, fuse_ino_t ino)
{
	struct shmemfs_attr attr;

	if (!sd_transport_req_kill() ||
	    shmemfs_getattr(ops_req_fs(req), ino, &attr) < 0)
		return 0;
	return ops_kill_of(req, &attr);
}

/*
 * A SETATTR with no field set, on a file with S_ISUID or S_ISGID.
 * Under handle_killpriv_v2 the kernel turns the mode change the VFS
 * computed into one (it strips the mode, and sets no flag when neither
 * owner nor group changes): from chown(-1, -1), which drops privileges
 * for any caller, and from file_remove_privs() for copy_file_range() and
 * fallocate(), which carry no kill flag of their own and ask only for a
 * caller without CAP_FSETID.  Or from a write by a caller with
 * CAP_FSETID to a file that had security.capability (which the kernel
 * removes itself, right before): that write loses S_ISUID here, as it
 * would through chown(-1, -1), where tmpfs keeps it; the two look the
 * same from here, and this errs on the side of fewer privileges.
 */
static unsigned
ops_empty_setattr_kill(fuse_req_t req, fuse_ino_t ino)
{
	struct shmemfs_attr attr;
	mode_t mode;

	if (shmemfs_getattr(ops_req_fs(req), ino, &attr) < 0)
		return 0;
	mode = attr.sa_st.st_mode;
	if (S_ISDIR(mode) || !(mode & (S_ISUID | S_ISGID)))
		return 0;
	return ops_kill_of(req, &attr);
}

/*
 * open(O_TRUNC) of an existing file, done here (atomic_o_trunc) because
 * that is the only way to tell it from truncate(2): tmpfs stamps mtime
 * and ctime for it even when the file is already empty, and, as
 * do_truncate() asks, drops privileges (ops_kill_of()) when the caller
 * lacks CAP_FSETID: the kernel says so with FUSE_OPEN_KILL_SUIDGID, or,
 * on a mount that did not negotiate it (a live restart from an older
 * daemon), we look.
 */
static int
ops_open_truncate(fuse_req_t req, struct shmemfs *fs, fuse_ino_t ino)
{
	struct shmemfs_setattr sa = {.ss_size = 0};
	unsigned valid = SHMEMFS_SET_SIZE | SHMEMFS_SET_MTIME_NOW;
	struct shmemfs_attr attr;
	unsigned kill = 0;
	int ret;

	ret = shmemfs_getattr(fs, ino, &attr);
	if (ret < 0)
		return ret;
	if (sd_transport_req_kill() ||
	    ((attr.sa_st.st_mode & (S_ISUID | S_ISGID)) &&
	     !ops_caller_has_cap(req, CAP_FSETID)))
		kill = ops_kill_of(req, &attr);
	return shmemfs_setattr_kill(fs, ino, valid, &sa, kill, NULL);
}

static void
ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmemfs *fs = ops_req_fs(req);
	int ret;

	/*
	 * The kernel knows nothing of our inode flags (FUSE has no
	 * S_IMMUTABLE/S_APPEND in its attributes): may_open()'s rules for
	 * them are ours.
	 */
	ret = shmemfs_may_open(fs, ino, fi->flags);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fi->flags & O_TRUNC) {
		ret = ops_open_truncate(req, fs, ino);
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
	}
	/* ipcops.c: a SysV attach is checked and counted here */
	ret = sd_ipc_open(req, ino, fi->flags);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* All writes go through this kernel, so its page cache is valid. */
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(unsigned)fi->flags; /* for F_ADD_SEALS */
	if (fuse_reply_open(req, fi) == -ENOENT)
		sd_ipc_release(req, ino);
}

static void
ops_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	   struct fuse_file_info *fi)
{
	struct shmemfs *fs = ops_req_fs(req);
	struct fuse_entry_param e;
	struct shmemfs_ctx ctx;
	struct shmemfs_attr attr;
	int ret;

	if (sd_ipc_reserved(parent, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ops_req_ctx(req, &ctx);
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_mknod(fs, &ctx, parent, name,
				      S_IFREG | (mode & 07777), 0, &attr));
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = shmemfs_open(fs, attr.sa_st.st_ino);
	if (ret < 0) {
		shmemfs_forget(fs, attr.sa_st.st_ino, 1);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(unsigned)fi->flags; /* for F_ADD_SEALS */
	ops_fill_entry(&e, &attr);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		shmemfs_release(fs, e.ino);
		shmemfs_forget(fs, e.ino, 1);
	}
}

/*
 * On /dev/fuse: the reply written from the file's pages (writev), not
 * through a buffer of ours, a copy of the data less.  1 if the core
 * could not pin the range at once: the caller reads with a copy, which
 * also gives the exact error.
 */
#define OPS_PIN_IOVS (OPS_MAX_WRITE / 4096 + 2 + 32)
static int
ops_read_pinned(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off)
{
	struct iovec iov[OPS_PIN_IOVS];
	struct shmemfs_pinned *pin;
	unsigned n;
	ssize_t ret;

	if (size > OPS_MAX_WRITE)
		return 1;
	ret = shmemfs_read_pin(ops_req_fs(req), ino, size, off, iov,
			       OPS_PIN_IOVS, &n, &pin);
	if (ret < 0)
		return 1;
	fuse_reply_iov(req, iov, (int)n);
	shmemfs_read_unpin(pin);
	return 0;
}

static void
ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	 struct fuse_file_info *fi)
{
	ssize_t ret;
	char *buf, *inplace;

	(void)fi;
	/* Over the ring, straight into the reply's place: one copy less. */
	inplace = sd_transport_reply_buf(size);
	if (!inplace && ops_read_pinned(req, ino, size, off) == 0)
		return;
	buf = inplace ? inplace : malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = shmemfs_read(ops_req_fs(req), ino, buf, size, off);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	if (!inplace)
		free(buf);
}

/* Reply to write and copy_file_range: a byte count or -errno. */
static void
ops_reply_count(fuse_req_t req, ssize_t ret)
{
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_write(req, (size_t)ret);
}

static void
ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	  off_t off, struct fuse_file_info *fi)
{
	ssize_t ret;

	/* Write-back of a shared mapping: seals treat it apart. */
	if (fi->writepage) {
		OPS_QUOTA_RETRY(req, ret,
				shmemfs_write_mapped(ops_req_fs(req), ino, buf,
						     size, off));
	} else {
		unsigned kill = ops_req_kill(req, ino); /* ops_kill_of() */

		OPS_QUOTA_RETRY(req, ret,
				shmemfs_write_kill(ops_req_fs(req), ino, buf,
						   size, off, kill));
	}
	ops_reply_count(req, ret);
}

static void
ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	sd_ipc_release(req, ino); /* ipcops.c: a SysV detach */
	fuse_reply_err(req, 0);
}

/* Memory is as durable as it gets: fsync has nothing to do. */
static void
ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	  struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void
ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
	      off_t length, struct fuse_file_info *fi)
{
	unsigned smode;
	int ret;

	(void)fi;
	if (ops_map_flags((unsigned)mode, ops_falloc_map,
			  OPS_NELEM(ops_falloc_map), &smode)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_fallocate(ops_req_fs(req), ino, (int)smode,
					  offset, length));
	fuse_reply_err(req, -ret);
}

static void
ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	  struct fuse_file_info *fi)
{
	int64_t ret;

	(void)fi;
	/*
	 * The kernel only forwards SEEK_DATA and SEEK_HOLE (and would take
	 * ENOSYS as "never ask again"), so anything else is a plain error.
	 */
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = shmemfs_lseek(ops_req_fs(req), ino, off, whence);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_lseek(req, ret);
}

static void
ops_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
		    struct fuse_file_info *fi_in, fuse_ino_t ino_out,
		    off_t off_out, struct fuse_file_info *fi_out, size_t len,
		    int flags)
{
	ssize_t ret;

	(void)fi_in;
	(void)fi_out;
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	OPS_QUOTA_RETRY(req, ret,
			shmemfs_copy_file_range(ops_req_fs(req), ino_in, off_in,
						ino_out, off_out, len));
	/*
	 * A copy that fails after reaching the destination (ENOSPC, EIO)
	 * has stamped its times, as tmpfs does, but the kernel keeps its
	 * cached attributes of ino_out when the request fails: drop them
	 * (offset -1: attributes only, no page-cache locks taken).
	 */
	if (ret < 0 && ret != -EINVAL && ops_session)
		fuse_lowlevel_notify_inval_inode(ops_session, ino_out, -1, 0);
	ops_reply_count(req, ret);
}

/* ---- Directories -------------------------------------------------- */

static void
ops_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/*
	 * Nothing to hold: an open directory is pinned by the kernel's
	 * lookup reference, and readdir cookies are stable, so no cursor.
	 */
	(void)ino;
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void
ops_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/*
 * One readdir reply being filled.  For readdirplus, db_inos records the
 * entries that took a lookup reference, so they can be given back if the
 * reply never reaches the kernel.
 */
struct dirbuf {
	fuse_req_t db_req;
	char *db_buf;
	size_t db_size;
	size_t db_len;
	int db_plus;
	uint64_t *db_inos;
	size_t db_ninos;
	size_t db_maxinos;
};

static int
ops_is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int
ops_filldir(void *arg, const char *name, const struct shmemfs_attr *attr,
	    uint64_t next_cookie)
{
	struct dirbuf *db = arg;
	size_t rest = db->db_size - db->db_len;
	char *p = db->db_buf + db->db_len;
	size_t need;

	if (db->db_plus) {
		struct fuse_entry_param e;
		int dot = ops_is_dot_or_dotdot(name);

		/* Cannot happen (an entry needs > 128 bytes); be safe. */
		if (!dot && db->db_ninos == db->db_maxinos)
			return 1;
		/*
		 * The kernel ignores the entry of "." and ".." (and takes no
		 * reference for them), but d_ino still comes from e.attr.
		 */
		ops_fill_entry(&e, attr);
		need = fuse_add_direntry_plus(db->db_req, p, rest, name, &e,
					      (off_t)next_cookie);
		if (need > rest)
			return 1;
		if (!dot)
			db->db_inos[db->db_ninos++] = e.ino;
	} else {
		need = fuse_add_direntry(db->db_req, p, rest, name,
					 &attr->sa_st, (off_t)next_cookie);
		if (need > rest)
			return 1;
	}
	db->db_len += need;
	return 0;
}

static void
ops_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct shmemfs *fs = ops_req_fs(req);
	struct dirbuf db = {
		.db_req = req,
		.db_size = size,
		.db_plus = plus,
	};
	size_t i;
	int ret;

	db.db_buf = malloc(size ? size : 1);
	if (plus) {
		/* Every plus entry is more than 128 bytes long. */
		db.db_maxinos = size / 128 + 1;
		db.db_inos = malloc(db.db_maxinos * sizeof(*db.db_inos));
	}
	if (!db.db_buf || (plus && !db.db_inos)) {
		fuse_reply_err(req, ENOMEM);
		goto out_free;
	}

	ret = shmemfs_readdir(fs, ino, (uint64_t)off, plus, ops_filldir, &db);
	/*
	 * Entries already packed may hold references: deliver them even if
	 * the walk failed later; the next call will report the error.
	 */
	if (ret < 0 && db.db_len == 0) {
		fuse_reply_err(req, -ret);
		goto out_free;
	}
	if (fuse_reply_buf(req, db.db_buf, db.db_len) == -ENOENT)
		for (i = 0; i < db.db_ninos; i++)
			shmemfs_forget(fs, db.db_inos[i], 1);
out_free:
	free(db.db_inos);
	free(db.db_buf);
}

static void
ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	    struct fuse_file_info *fi)
{
	(void)fi;
	ops_do_readdir(req, ino, size, off, 0);
}

static void
ops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	(void)fi;
	ops_do_readdir(req, ino, size, off, 1);
}

/* ---- Filesystem-wide ---------------------------------------------- */

static void
ops_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int ret;

	(void)ino;
	ret = shmemfs_statfs(ops_req_fs(req), &st);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &st);
}

/*
 * Is the caller in group @gid (its fsgid or a supplementary group)?
 * Unreadable groups count as "no" (fail closed: S_ISGID is cleared).
 */
static int
ops_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[256];
	int i, n;

	if (fuse_req_ctx(req)->gid == gid)
		return 1;
	n = fuse_req_getgroups(req, (int)OPS_NELEM(groups), groups);
	if (n > (int)OPS_NELEM(groups))
		n = (int)OPS_NELEM(groups);
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/*
 * Setting an access ACL rewrites the mode; as posix_acl_update_mode()
 * does for tmpfs, S_ISGID goes unless the caller is in the file's group
 * or has CAP_FSETID.  The kernel's FUSE layer leaves this to us (its
 * FUSE_SETXATTR_ACL_KILL_SGID does not reach a libfuse 3.14 daemon).
 */
static unsigned
ops_acl_kill_sgid(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct shmemfs_attr attr;

	if (strcmp(name, "system.posix_acl_access"))
		return 0;
	if (shmemfs_getattr(ops_req_fs(req), ino, &attr) < 0 ||
	    !(attr.sa_st.st_mode & S_ISGID))
		return 0;
	if (ops_caller_in_group(req, attr.sa_st.st_gid) ||
	    ops_caller_has_cap(req, CAP_FSETID))
		return 0;
	return SHMEMFS_XATTR_KILL_SGID;
}

static void
ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
	     const char *value, size_t size, int flags)
{
	unsigned sflags;

	if (ops_map_flags((unsigned)flags, ops_xattr_map,
			  OPS_NELEM(ops_xattr_map), &sflags)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	sflags |= ops_acl_kill_sgid(req, ino, name);
	fuse_reply_err(req, -shmemfs_setxattr(ops_req_fs(req), ino, name, value,
					      size, (int)sflags));
}

/*
 * getxattr (@name) and listxattr (@name NULL) share the protocol: size 0
 * asks for the length (fuse_reply_xattr), otherwise the data
 * (fuse_reply_buf) or ERANGE.
 *
 * As simple_xattr_list() does for tmpfs, trusted.* names are listed only
 * to callers with CAP_SYS_ADMIN; the kernel's FUSE layer leaves that to
 * us (getxattr/setxattr it checks itself), and the core has a listing
 * without them.
 */
static void
ops_do_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct shmemfs *fs = ops_req_fs(req);
	char *buf = NULL;
	ssize_t ret;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	if (name)
		ret = shmemfs_getxattr(fs, ino, name, buf, size);
	else if (ops_caller_has_cap(req, CAP_SYS_ADMIN))
		ret = shmemfs_listxattr(fs, ino, buf, size);
	else
		ret = shmemfs_listxattr_user(fs, ino, buf, size);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
}

static void
ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	ops_do_xattr(req, ino, name, size);
}

static void
ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	ops_do_xattr(req, ino, NULL, size);
}

static void
ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -shmemfs_removexattr(ops_req_fs(req), ino, name));
}

/*
 * SHMEMFS_IOC_HUGE_ADVISE on a regular file: allowed through a
 * descriptor open for writing, as a write would be (the kernel checked
 * the caller's write permission at open).
 */
static void
ops_ioctl_huge_advise(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi, const void *in_buf,
		      size_t in_bufsz)
{
	int32_t on;
	int ret;

	if (!fi || (fi->fh & O_ACCMODE) == O_RDONLY) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (in_bufsz < sizeof(on)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&on, in_buf, sizeof(on));
	if (on != 0 && on != 1) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = shmemfs_huge_advise(ops_req_fs(req), ino, on);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* st_blksize changed behind the kernel's cached attributes. */
	fuse_lowlevel_notify_inval_inode(ops_session, ino, -1, 0);
	fuse_reply_ioctl(req, 0, NULL, 0);
}

/*
 * chattr/lsattr.  The kernel turns FS_IOC_GETFLAGS/SETFLAGS and
 * FS_IOC_FSGETXATTR/FSSETXATTR on any regular file or directory into
 * ioctls of its own making (fuse_fileattr_get/set: restricted, an int
 * or a struct fsxattr both ways, on a file it opens for the purpose),
 * after vfs_fileattr_set() has checked that the caller owns the file or
 * has CAP_FOWNER, and has CAP_LINUX_IMMUTABLE (in the initial user
 * namespace) to change immutable or append-only.  We check both again
 * in the mount's namespace, as for our other capabilities: a daemon
 * must not trust that only this kernel path reaches it.
 */
#define OPS_XFLAG_MAP(X)                                                       \
	X(FS_XFLAG_IMMUTABLE, SHMEMFS_FL_IMMUTABLE)                            \
	X(FS_XFLAG_APPEND, SHMEMFS_FL_APPEND)                                  \
	X(FS_XFLAG_NODUMP, SHMEMFS_FL_NODUMP)                                  \
	X(FS_XFLAG_NOATIME, SHMEMFS_FL_NOATIME)

static unsigned
ops_flags_to_xflags(unsigned flags)
{
	unsigned x = 0;
#define TO_X(xf, fl)                                                           \
	if (flags & (fl))                                                      \
		x |= (xf);
	OPS_XFLAG_MAP(TO_X)
#undef TO_X
	return x;
}

/* -1 for xflags tmpfs does not keep (EOPNOTSUPP). */
static long
ops_xflags_to_flags(unsigned x)
{
	unsigned flags = 0;
#define FROM_X(xf, fl)                                                         \
	if (x & (xf)) {                                                        \
		flags |= (fl);                                                 \
		x &= ~(unsigned)(xf);                                          \
	}
	OPS_XFLAG_MAP(FROM_X)
#undef FROM_X
	return x ? -1 : (long)flags;
}

static int
ops_may_setflags(fuse_req_t req, fuse_ino_t ino, unsigned flags)
{
	const unsigned locks = SHMEMFS_FL_IMMUTABLE | SHMEMFS_FL_APPEND;
	struct shmemfs *fs = ops_req_fs(req);
	struct shmemfs_attr attr;
	unsigned old;
	int ret;

	ret = shmemfs_getflags(fs, ino, &old);
	if (ret == 0)
		ret = shmemfs_getattr(fs, ino, &attr);
	if (ret < 0)
		return ret;
	if (attr.sa_st.st_uid != fuse_req_ctx(req)->uid &&
	    !ops_caller_has_cap(req, CAP_FOWNER))
		return -EPERM;
	if (((old ^ flags) & locks) &&
	    !ops_caller_has_cap(req, CAP_LINUX_IMMUTABLE))
		return -EPERM;
	return 0;
}

static void
ops_fileattr_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
		   const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct shmemfs *fs = ops_req_fs(req);
	struct fsxattr fx;
	unsigned flags;
	long lf;
	int iflags, ret;

	switch (cmd) {
	case FS_IOC_GETFLAGS:
		if (out_bufsz < sizeof(int)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		ret = shmemfs_getflags(fs, ino, &flags);
		if (ret < 0)
			break;
		iflags = (int)flags;
		fuse_reply_ioctl(req, 0, &iflags, sizeof(iflags));
		return;
	case FS_IOC_FSGETXATTR:
		if (out_bufsz < sizeof(fx)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		ret = shmemfs_getflags(fs, ino, &flags);
		if (ret < 0)
			break;
		memset(&fx, 0, sizeof(fx));
		fx.fsx_xflags = ops_flags_to_xflags(flags);
		fuse_reply_ioctl(req, 0, &fx, sizeof(fx));
		return;
	case FS_IOC_SETFLAGS:
		if (in_bufsz < sizeof(int)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&iflags, in_buf, sizeof(iflags));
		flags = (unsigned)iflags;
		goto set;
	case FS_IOC_FSSETXATTR:
		if (in_bufsz < sizeof(fx)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&fx, in_buf, sizeof(fx));
		lf = ops_xflags_to_flags(fx.fsx_xflags);
		/* fileattr_has_fsx(): tmpfs keeps no extent size, project */
		if (lf < 0 || fx.fsx_extsize || fx.fsx_projid ||
		    fx.fsx_cowextsize) {
			ret = -EOPNOTSUPP;
			break;
		}
		flags = (unsigned)lf;
		goto set;
	default:
		ret = -ENOTTY;
		break;
	}
	fuse_reply_err(req, -ret);
	return;
set:
	ret = ops_may_setflags(req, ino, flags);
	if (ret == 0)
		ret = shmemfs_setflags(fs, ino, flags);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/*
 * The mount's administrator: CAP_SYS_ADMIN in the mount's user
 * namespace, or the mount's owner (the daemon's user, unless that is
 * root: uid 0 alone is also root of a child user namespace).  Who
 * may swapoff, remount, save, export or restart.
 */
static int
ops_caller_is_admin(fuse_req_t req)
{
	uid_t caller = fuse_req_ctx(req)->uid;

	return (caller == getuid() && caller != 0) ||
	       ops_caller_has_cap(req, CAP_SYS_ADMIN);
}

static void
ops_remount_ioctl(fuse_req_t req, const void *in_buf, size_t in_bufsz,
		  size_t out_bufsz)
{
	struct shmemfs_remount *rm;
	int ret;

	if (in_bufsz < sizeof(*rm) || out_bufsz < sizeof(*rm)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!ops_caller_is_admin(req)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rm = malloc(sizeof(*rm));
	if (!rm) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(rm, in_buf, sizeof(*rm));
	rm->sr_opts[sizeof(rm->sr_opts) - 1] = '\0';
	rm->sr_msg[0] = '\0';
	ret = shmemfs_remount(ops_req_fs(req), rm->sr_opts, rm->sr_msg,
			      sizeof(rm->sr_msg));
	rm->sr_error = -ret;
	if (!ret && strstr(rm->sr_opts, "mpol="))
		snprintf(rm->sr_msg, sizeof(rm->sr_msg),
			 "warning: mpol= ignored: pages are placed by the "
			 "daemon's own memory policy");
	fuse_reply_ioctl(req, 0, rm, sizeof(*rm));
	free(rm);
}

/* May the caller see quota entry @q (its own uid or one of its groups)? */
static int
ops_quota_visible(fuse_req_t req, const struct shmemfs_quota *q)
{
	if (q->sq_type == 0)
		return q->sq_id == fuse_req_ctx(req)->uid;
	return ops_caller_in_group(req, q->sq_id);
}

static void
ops_quota_get_ioctl(fuse_req_t req, const void *in_buf, size_t in_bufsz,
		    size_t out_bufsz)
{
	struct shmemfs *fs = ops_req_fs(req);
	struct shmemfs_quota_report *qr;
	int admin, n, i, k = 0;

	if (in_bufsz < sizeof(*qr) || out_bufsz < sizeof(*qr)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	qr = malloc(sizeof(*qr));
	if (!qr) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(qr, in_buf, sizeof(*qr));
	qr->qr_types = shmemfs_quota_types(fs);
	if (qr->qr_type > 1 || !(qr->qr_types & (1u << qr->qr_type))) {
		free(qr);
		fuse_reply_err(req, ESRCH);
		return;
	}
	n = shmemfs_quota_get(fs, qr->qr_type, qr->qr_from, qr->qr_entries,
			      SHMEMFS_QUOTA_BATCH);
	if (n < 0) {
		free(qr);
		fuse_reply_err(req, -n);
		return;
	}
	qr->qr_next = n == SHMEMFS_QUOTA_BATCH
			  ? (uint64_t)qr->qr_entries[n - 1].sq_id + 1
			  : 0;
	if (qr->qr_next > UINT32_MAX)
		qr->qr_next = 0;
	admin = ops_caller_is_admin(req);
	for (i = 0; i < n; i++)
		if (admin || ops_quota_visible(req, &qr->qr_entries[i]))
			qr->qr_entries[k++] = qr->qr_entries[i];
	qr->qr_count = (uint32_t)k;
	memset(&qr->qr_entries[k], 0,
	       (SHMEMFS_QUOTA_BATCH - k) * sizeof(qr->qr_entries[0]));
	fuse_reply_ioctl(req, 0, qr, sizeof(*qr));
	free(qr);
}

static void
ops_quota_set_ioctl(fuse_req_t req, const void *in_buf, size_t in_bufsz)
{
	struct shmemfs_quota_limits ql;
	int ret;

	if (in_bufsz < sizeof(ql)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!ops_caller_is_admin(req)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	memcpy(&ql, in_buf, sizeof(ql));
	ret =
	    shmemfs_quota_set(ops_req_fs(req), ql.ql_type, ql.ql_id, ql.ql_mask,
			      ql.ql_block_limit, ql.ql_inode_limit);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

static int
ops_is_fileattr_cmd(unsigned int cmd)
{
	return cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS ||
	       cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR;
}

/*
 * shmemctl's channel: restricted ioctls on the mount's root directory,
 * so the kernel has already sized the buffers from the _IOC encoding.
 */
static void
ops_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	  struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	  size_t in_bufsz, size_t out_bufsz)
{
	struct shmemfs_stats st;
	int ret;

	(void)arg;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (cmd == SHMEMFS_IOC_HUGE_ADVISE) {
		ops_ioctl_huge_advise(req, ino, fi, in_buf, in_bufsz);
		return;
	}
	/* Shared memory (ipcops.c): seals on files, the rest on the root */
	if (sd_ipc_ioctl(req, ino, cmd, fi ? fi->fh : 0, in_buf, in_bufsz,
			 out_bufsz))
		return;
	if (ops_is_fileattr_cmd(cmd)) {
		ops_fileattr_ioctl(req, ino, cmd, in_buf, in_bufsz, out_bufsz);
		return;
	}
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTTY);
		return;
	}

	switch (cmd) {
	case SHMEMFS_IOC_STATS:
		if (out_bufsz < sizeof(st)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memset(&st, 0, sizeof(st));
		ret = shmemfs_get_stats(ops_req_fs(req), &st);
		st.uring_queues = sd_transport_uring_queues();
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_ioctl(req, 0, &st, sizeof(st));
		return;
	case SHMEMFS_IOC_REMOUNT:
		ops_remount_ioctl(req, in_buf, in_bufsz, out_bufsz);
		return;
	case SHMEMFS_IOC_QUOTA_GET:
		ops_quota_get_ioctl(req, in_buf, in_bufsz, out_bufsz);
		return;
	case SHMEMFS_IOC_QUOTA_SET:
		ops_quota_set_ioctl(req, in_buf, in_bufsz);
		return;
	case SHMEMFS_IOC_SWAPOFF:
	case SHMEMFS_IOC_SWAPON:
	case SHMEMFS_IOC_HUGE_SHRINK:
		/* swapoff(2)/swapon(2) need CAP_SYS_ADMIN: the admin's. */
		if (!ops_caller_is_admin(req)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		if (cmd == SHMEMFS_IOC_SWAPOFF)
			ret = shmemfs_swapoff(ops_req_fs(req));
		else if (cmd == SHMEMFS_IOC_SWAPON)
			ret = shmemfs_swapon(ops_req_fs(req));
		else
			ret = shmemfs_huge_shrink(ops_req_fs(req)) < 0 ? -EIO
								       : 0;
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	case SHMEMFS_IOC_SAVE:
	case SHMEMFS_IOC_EXPORT:
		/* An image holds every file: swapoff's rule (snapshot.c). */
		if (!ops_caller_is_admin(req)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		sd_snap_ioctl(req, ops_req_fs(req), cmd, in_buf, in_bufsz,
			      out_bufsz);
		return;
	case SHMEMFS_IOC_RESTART:
		if (!ops_caller_is_admin(req)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		sd_restart_ioctl(req); /* answered when it is done */
		return;
	default:
		fuse_reply_err(req, ENOTTY);
		return;
	}
}

static void
ops_want_if_capable(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

static void
ops_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;

	ops_want_if_capable(conn, FUSE_CAP_ASYNC_READ);
	ops_want_if_capable(conn, FUSE_CAP_IOCTL_DIR);
	ops_want_if_capable(conn, FUSE_CAP_PARALLEL_DIROPS);
	/* Symlink targets never change: let the kernel keep them. */
	ops_want_if_capable(conn, FUSE_CAP_CACHE_SYMLINKS);
	/* Always readdirplus: one round trip fills the dcache. */
	ops_want_if_capable(conn, FUSE_CAP_READDIRPLUS);
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;

	/*
	 * - ATOMIC_O_TRUNC on: open(O_TRUNC) truncates in ops_open(), the
	 *   only place it can be told from truncate(2).
	 * - HANDLE_KILLPRIV (v1) off: with it the kernel would leave the
	 *   clearing of suid/sgid on write and chown to us without telling
	 *   us the caller's CAP_FSETID.  HANDLE_KILLPRIV_V2 (which libfuse
	 *   3.14 does not know) is added by transport.c when the kernel
	 *   offers it: its requests carry the flags ops_kill_of() honours.
	 * - No writeback cache (yet), no splice, no NFS export.
	 */
	ops_want_if_capable(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	/*
	 * POSIX ACLs as tmpfs: the kernel enforces them (it turns
	 * default_permissions on with them) and leaves storing,
	 * validating, mode sync and inheritance to us; DONT_MASK makes it
	 * pass the umask instead of applying it, since a default ACL
	 * replaces the umask.
	 */
	ops_want_if_capable(conn, FUSE_CAP_POSIX_ACL);
	ops_want_if_capable(conn, FUSE_CAP_DONT_MASK);
	conn->want &= ~(FUSE_CAP_HANDLE_KILLPRIV |
			FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_EXPORT_SUPPORT |
			FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE);

	conn->max_write = OPS_MAX_WRITE;
	if (conn->max_readahead > OPS_MAX_WRITE)
		conn->max_readahead = OPS_MAX_WRITE;
	conn->time_gran = 1;
}

static const struct fuse_lowlevel_ops ops_table = {
	.init = ops_init,
	.lookup = ops_lookup,
	.forget = ops_forget,
	.forget_multi = ops_forget_multi,
	.getattr = ops_getattr,
	.setattr = ops_setattr,
	.readlink = ops_readlink,
	.mknod = ops_mknod,
	.mkdir = ops_mkdir,
	.unlink = ops_unlink,
	.rmdir = ops_rmdir,
	.symlink = ops_symlink,
	.rename = ops_rename,
	.link = ops_link,
	.open = ops_open,
	.read = ops_read,
	.write = ops_write,
	.release = ops_release,
	.fsync = ops_fsync,
	.opendir = ops_opendir,
	.readdir = ops_readdir,
	.readdirplus = ops_readdirplus,
	.releasedir = ops_releasedir,
	.fsyncdir = ops_fsync,
	.statfs = ops_statfs,
	.setxattr = ops_setxattr,
	.getxattr = ops_getxattr,
	.listxattr = ops_listxattr,
	.removexattr = ops_removexattr,
	.create = ops_create,
	.fallocate = ops_fallocate,
	.lseek = ops_lseek,
	.copy_file_range = ops_copy_file_range,
	.ioctl = ops_ioctl,
};

/*
 * The core changed an inode's attributes on its own (tmpfs's huge
 * shrinker freed pages past end of file): the kernel's cached st_blocks
 * must go.  Called with the mount's lock held; invalidating attributes
 * only never waits for a request, so it cannot deadlock.
 */
static void
ops_attr_changed(void *arg, uint64_t ino)
{
	(void)arg;
	if (ops_session)
		fuse_lowlevel_notify_inval_inode(ops_session, ino, -1, 0);
}

struct fuse_session *
sd_ops_session_new(struct fuse_args *args, struct shmemfs *fs)
{
	ops_userns_init();
	ops_session = fuse_session_new(args, &ops_table, sizeof(ops_table), fs);
	shmemfs_set_attr_notify(fs, ops_attr_changed, NULL);
	return ops_session;
}

void
sd_ops_session_destroy(struct fuse_session *se)
{
	ops_session = NULL;
	fuse_session_destroy(se);
}

/* ---- FUSE_TMPFILE (decoded in transport.c) ------------------------ */

int
sd_ops_tmpfile(struct shmemfs *fs, uid_t uid, gid_t gid, mode_t umask,
	       uint64_t parent, mode_t mode, int flags,
	       struct shmemfs_attr *attr)
{
	struct shmemfs_ctx ctx = {
		.sc_uid = uid, .sc_gid = gid, .sc_umask = umask};

	if (ops_fs_override)
		fs = ops_fs_override; /* a failed restart took it back */
	return shmemfs_tmpfile(fs, &ctx, parent, mode,
			       flags & O_EXCL ? SHMEMFS_TMPFILE_EXCL : 0, attr);
}

void
sd_ops_tmpfile_undo(struct shmemfs *fs, uint64_t ino)
{
	if (ops_fs_override)
		fs = ops_fs_override;
	shmemfs_release(fs, ino);
	shmemfs_forget(fs, ino, 1);
}
