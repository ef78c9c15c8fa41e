/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - the daemon's side of snapshots: -o restore=, restore_key=
 * and persist= at mount and unmount, and shmemctl's save and export
 * ioctls (include/shmemfs_ioctl.h, 40-49).
 *
 * The image format and the consistency argument are the core's
 * (src/core/snapshot.c): a save holds the mount's lock while it copies,
 * so it is one instant of the mount; the request that asked for it is
 * answered once the file is renamed into place.
 *
 * Options at mount: the image's options (size=, nr_inodes=, mem=, swap
 * and huge settings) are the starting point and every shmemfs option on
 * the command line is applied over them, so "-o restore=F,size=2g" grows
 * a restored mount.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "shmemfs_ioctl.h"
#include "snapshot.h"

/*
 * The OOM killer.  Kernel tmpfs pages cannot be taken away by killing a
 * process; ours die with the daemon.  So the daemon asks never to be
 * picked (oom_score_adj -1000, what tmpfs's pages amount to), which
 * needs CAP_SYS_RESOURCE.  Without it, it says so at start-up: on the
 * terminal when there is one (a person started it), and to syslog
 * always (fstab, systemd, scripts whose stderr is a pipe or a log that
 * expects nothing from a healthy start).  The value is inherited across
 * the fork to daemonize.
 */
void
sd_snap_protect_oom(void)
{
	static const char want[] = "-1000\n";
	int fd, err = 0;

	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		err = errno;
	else if (write(fd, want, sizeof(want) - 1) != sizeof(want) - 1)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (!err)
		return;
	if (isatty(STDERR_FILENO))
		fprintf(
		    stderr,
		    "shmemfs: warning: cannot protect the daemon from the "
		    "OOM killer (oom_score_adj: %s; needs CAP_SYS_RESOURCE): "
		    "a host out of memory may kill it and the mount's data "
		    "with it\n",
		    strerror(err));
	syslog(LOG_WARNING,
	       "shmemfs: cannot protect the daemon from the OOM killer "
	       "(oom_score_adj: %s; needs CAP_SYS_RESOURCE)",
	       strerror(err));
}

/* The canonical mount point, to refuse images written into the mount. */
static const char *snap_mountpoint;

/* Read @path's key into @key; the message names the option. */
static int
snap_key(const char *path, unsigned char key[32], char *msg, size_t len)
{
	char err[SHMEMFS_IOC_MSG_MAX];
	int ret;

	ret = shmemfs_image_key_read(path, key, err, sizeof(err));
	if (ret)
		snprintf(msg, len, "%s", err);
	return ret;
}

/* Is absolute @path on the mount itself (by name: no syscall into it)? */
static int
snap_on_mount(const char *path)
{
	size_t n;

	if (!snap_mountpoint)
		return 0;
	n = strlen(snap_mountpoint);
	if (!strcmp(snap_mountpoint, "/"))
		return 1;
	return !strncmp(path, snap_mountpoint, n) &&
	       (path[n] == '/' || path[n] == '\0');
}

/* The archive/image kind of an open file, by its first bytes. */
static int
snap_is_image(int fd)
{
	char magic[8];

	return pread(fd, magic, sizeof(magic), 0) == sizeof(magic) &&
	       !memcmp(magic, SHMEMFS_IMAGE_MAGIC, sizeof(magic));
}

int
sd_snap_restore_fd(struct shmemfs **fsp, struct sd_cmdline *cl,
		   const char *path, int fd, const unsigned char *key,
		   char *msg, size_t len)
{
	struct shmemfs_opts o;
	char err[512];
	int ret;

	shmemfs_opts_init(&o);
	ret = shmemfs_image_opts(fd, key, &o, err, sizeof(err));
	if (!ret && cl->cl_ouropts &&
	    shmemfs_opts_parse(&o, cl->cl_ouropts, NULL, 0, err, sizeof(err)) <
		0)
		ret = -EINVAL;
	if (!ret)
		ret = shmemfs_restore(fsp, &o, fd, key, err, sizeof(err));
	if (ret)
		snprintf(msg, len, "%s: %s", path, err);
	shmemfs_opts_free(&o);
	return ret;
}

int
sd_snap_mount(struct shmemfs **fsp, struct sd_cmdline *cl, char *msg,
	      size_t len)
{
	const char *path = cl->cl_restore ? cl->cl_restore : cl->cl_persist;
	unsigned char key[32], *keyp = NULL;
	int fd, ret;

	snap_mountpoint = cl->cl_mountpoint;
	if (cl->cl_restore_key) {
		ret = snap_key(cl->cl_restore_key, key, msg, len);
		if (ret)
			return ret;
		keyp = key;
	}
	if (!path)
		return shmemfs_mount(fsp, &cl->cl_opts, msg, len);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		/* persist= of a file not there yet: a fresh mount. */
		if (ret == -ENOENT && !cl->cl_restore)
			return shmemfs_mount(fsp, &cl->cl_opts, msg, len);
		snprintf(msg, len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (snap_is_image(fd))
		ret = sd_snap_restore_fd(fsp, cl, path, fd, keyp, msg, len);
	else if (keyp) {
		ret = -EINVAL;
		snprintf(msg, len,
			 "%s: not a shmemfs image (restore_key= "
			 "is for sealed images only)",
			 path);
	} else
		ret = sd_snap_restore_archive(fsp, cl, path, fd, msg, len);
	close(fd);
	return ret;
}

int
sd_snap_unmount(struct shmemfs *fs, const struct sd_cmdline *cl)
{
	unsigned char key[32], *keyp = NULL;
	char err[512];
	int ret;

	if (!cl->cl_persist)
		return 0;
	if (cl->cl_restore_key) {
		ret = snap_key(cl->cl_restore_key, key, err, sizeof(err));
		if (ret)
			goto out_err;
		keyp = key;
	}
	ret = shmemfs_save_file(fs, cl->cl_persist, keyp, err, sizeof(err));
	if (!ret)
		return 0;
out_err:
	fprintf(stderr, "shmemfs: persist=%s: %s\n", cl->cl_persist, err);
	syslog(LOG_ERR, "shmemfs: persist=%s: %s", cl->cl_persist, err);
	return ret;
}

/*
 * SHMEMFS_IOC_SAVE and SHMEMFS_IOC_EXPORT; ops.c has checked who asks.
 * The reply carries the errno as the ioctl's result and the message in
 * the buffer, so shmemctl can say why.
 */
void
sd_snap_ioctl(fuse_req_t req, struct shmemfs *fs, unsigned cmd,
	      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct shmemfs_ioc_image *ii;
	unsigned char key[32], *keyp = NULL;
	int ret;

	if (in_bufsz < sizeof(*ii) || out_bufsz < sizeof(*ii)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ii = malloc(sizeof(*ii));
	if (!ii) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(ii, in_buf, sizeof(*ii));
	ii->ii_path[sizeof(ii->ii_path) - 1] = '\0';
	ii->ii_key[sizeof(ii->ii_key) - 1] = '\0';
	memset(ii->ii_msg, 0, sizeof(ii->ii_msg));
	ret = -EINVAL;
	if (ii->ii_path[0] != '/' || (ii->ii_key[0] && ii->ii_key[0] != '/')) {
		snprintf(ii->ii_msg, sizeof(ii->ii_msg),
			 "paths must be absolute");
		goto out_reply;
	}
	if (snap_on_mount(ii->ii_path) ||
	    (ii->ii_key[0] && snap_on_mount(ii->ii_key))) {
		snprintf(ii->ii_msg, sizeof(ii->ii_msg),
			 "the file is on the mount itself");
		goto out_reply;
	}
	if (ii->ii_key[0]) {
		if (cmd == SHMEMFS_IOC_EXPORT) {
			snprintf(ii->ii_msg, sizeof(ii->ii_msg),
				 "a pax archive cannot be sealed");
			goto out_reply;
		}
		ret = snap_key(ii->ii_key, key, ii->ii_msg, sizeof(ii->ii_msg));
		if (ret)
			goto out_reply;
		keyp = key;
	}
	if (cmd == SHMEMFS_IOC_SAVE)
		ret = shmemfs_save_file(fs, ii->ii_path, keyp, ii->ii_msg,
					sizeof(ii->ii_msg));
	else
		ret = sd_snap_export(fs, ii->ii_path, ii->ii_msg,
				     sizeof(ii->ii_msg));
out_reply:
	fuse_reply_ioctl(req, ret, ii, sizeof(*ii));
	free(ii);
}
