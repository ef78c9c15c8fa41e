/* SPDX-License-Identifier: MIT */
/*
 * shmemctl - query and steer a mounted shmemfs.
 *
 *	shmemctl stats MOUNTPOINT [--json]
 *	shmemctl swapoff MOUNTPOINT
 *	shmemctl swapon MOUNTPOINT
 *
 * It opens the mount's root directory and issues the ioctls of
 * include/shmemfs_ioctl.h, which FUSE forwards to the daemon.  It sees only
 * that header and the public one for struct shmemfs_stats: it does not
 * link libshmemfs.
 *
 * Exit codes: 0 done, 1 the operation failed, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmemfs_ioctl.h"

#ifndef SHMEMFS_VERSION
#define SHMEMFS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

/*
 * The keys of `shmemctl stats` are the field names of struct
 * shmemfs_stats, in its order (DESIGN.md, "Stats").
 */
#define STAT_FIELD(f) { #f, offsetof(struct shmemfs_stats, f) }

static const struct {
	const char *sf_name;
	size_t sf_off;
} stat_fields[] = {
	STAT_FIELD(size_limit_bytes),
	STAT_FIELD(used_bytes),
	STAT_FIELD(inodes_limit),
	STAT_FIELD(inodes_used),
	STAT_FIELD(mem_limit_bytes),
	STAT_FIELD(resident_bytes),
	STAT_FIELD(swapped_bytes),
	STAT_FIELD(swap_total_bytes),
	STAT_FIELD(swap_used_bytes),
	STAT_FIELD(swapouts),
	STAT_FIELD(swapins),
	STAT_FIELD(huge_pages),
	STAT_FIELD(huge_splits),
	STAT_FIELD(huge_collapses),
	STAT_FIELD(huge_fallbacks),
	STAT_FIELD(uring_queues),
};

/* A field added to the struct but not here fails the build. */
_Static_assert(sizeof(stat_fields) / sizeof(stat_fields[0]) *
		       sizeof(uint64_t) ==
	       sizeof(struct shmemfs_stats),
	       "stat_fields[] must list every field of struct shmemfs_stats");

static const char *progname = "shmemctl";

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: %s stats MOUNTPOINT [--json]\n"
		"       %s swapoff MOUNTPOINT\n"
		"       %s swapon MOUNTPOINT\n"
		"       %s save MOUNTPOINT FILE [--key KEYFILE]\n"
		"       %s export MOUNTPOINT FILE.tar\n"
		"       %s restart MOUNTPOINT\n"
		"       %s --help | --version\n"
		"\n"
		"  stats    print the mount's counters as 'key: value' lines\n"
		"           (--json: as one JSON object)\n"
		"  swapoff  bring every swapped page back and stop swapping\n"
		"  swapon   start swapping again\n"
		"  save     write a point-in-time image of the mount to FILE\n"
		"           (mode 0600; sealed with KEYFILE if given); mount it\n"
		"           with shmemfs -o restore=FILE\n"
		"  export   write the mount as a pax archive (sparse files,\n"
		"           xattrs)\n"
		"  restart  hand the mount to a fresh daemon without unmounting\n",
		progname, progname, progname, progname, progname, progname,
		progname);
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

static int
open_mount(const char *mnt)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOTCONN)
		/* The kernel's answer once the daemon is gone (kill -9, OOM). */
		fprintf(stderr,
			"%s: %s: transport endpoint is not connected: the "
			"daemon died; unmount with 'fusermount3 -u %s' (with "
			"persist=, mounting again restores the last saved "
			"image)\n",
			progname, mnt, mnt);
	else if (fd < 0)
		fprintf(stderr, "%s: %s: %s\n", progname, mnt,
			strerror(errno));
	return fd;
}

/* Report a failed ioctl on @mnt; @what names the operation. */
static void
ioctl_error(const char *mnt, const char *what, int err)
{
	/*
	 * What an ioctl nobody handles comes back as: ENOTTY from the
	 * kernel (and from FUSE for a daemon without ioctl support),
	 * EINVAL or ENOSYS from some filesystems and daemons.
	 */
	if (err == EINVAL && strcmp(what, "stats"))
		/* the daemon's answer to swapoff/swapon without swap= */
		fprintf(stderr, "%s: %s has no swap file (mount it with "
			"-o swap=PATH)\n", progname, mnt);
	else if (err == ENOTTY || err == EINVAL || err == ENOSYS)
		fprintf(stderr, "%s: %s is not a shmemfs mount\n", progname,
			mnt);
	else
		fprintf(stderr, "%s: %s %s: %s\n", progname, what, mnt,
			strerror(err));
}

static uint64_t
stat_value(const struct shmemfs_stats *st, size_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)st + stat_fields[i].sf_off, sizeof(v));
	return v;
}

static void
print_stats(const struct shmemfs_stats *st, int json)
{
	size_t i, n = sizeof(stat_fields) / sizeof(stat_fields[0]);

	if (json)
		printf("{\n");
	for (i = 0; i < n; i++) {
		if (json)
			printf("  \"%s\": %" PRIu64 "%s\n",
			       stat_fields[i].sf_name, stat_value(st, i),
			       i + 1 < n ? "," : "");
		else
			printf("%s: %" PRIu64 "\n", stat_fields[i].sf_name,
			       stat_value(st, i));
	}
	if (json)
		printf("}\n");
}

static int
cmd_stats(const char *mnt, int json)
{
	struct shmemfs_stats st;
	int fd, err;

	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	memset(&st, 0, sizeof(st));
	if (ioctl(fd, SHMEMFS_IOC_STATS, &st) < 0) {
		err = errno;
		close(fd);
		ioctl_error(mnt, "stats", err);
		return EXIT_FAILURE;
	}
	close(fd);
	print_stats(&st, json);
	return EXIT_SUCCESS;
}

static int
cmd_swap(const char *mnt, unsigned long req, const char *what)
{
	int fd, err;

	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, req) < 0) {
		err = errno;
		close(fd);
		ioctl_error(mnt, what, err);
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

/* Output that never reached its file is a failure too (e.g. disk full). */
static int
finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: write error: %s\n", progname,
			strerror(errno));
		return EXIT_FAILURE;
	}
	return status;
}

/* ---- save, export: images and pax archives (snapshot.c) ---------- */

/*
 * @path made absolute for the daemon, whose working directory is /:
 * its directory resolved, the last name kept (the file may not exist).
 * NULL and a message if the directory cannot be resolved.
 */
static char *
ctl_abspath(const char *path)
{
	char *dup = strdup(path), *slash, *dir, *out = NULL;
	const char *base;
	size_t len;

	if (!dup)
		return NULL;
	slash = strrchr(dup, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		dir = realpath(slash == dup ? "/" : dup, NULL);
	} else {
		base = dup;
		dir = realpath(".", NULL);
	}
	if (!dir || !*base) {
		fprintf(stderr, "%s: %s: %s\n", progname, path,
			dir ? "not a file name" : strerror(errno));
		goto out;
	}
	len = strlen(dir) + strlen(base) + 2;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "", base);
out:
	free(dir);
	free(dup);
	return out;
}

/* Is @path's directory on the mount @mfd (the daemon would write into
 * the mount it has locked for the save)? */
static int
ctl_on_mount(int mfd, const char *path)
{
	struct stat ms, ds;
	char *dup = strdup(path), *slash;
	int ret = 0;

	if (!dup)
		return 0;
	slash = strrchr(dup, '/');
	if (slash)
		slash[slash == dup ? 1 : 0] = '\0';
	if (fstat(mfd, &ms) == 0 && stat(dup, &ds) == 0 &&
	    ms.st_dev == ds.st_dev)
		ret = 1;
	free(dup);
	return ret;
}

static int
cmd_image(const char *mnt, const char *file, const char *key,
	  unsigned long req, const char *what)
{
	struct shmemfs_ioc_image *ii = calloc(1, sizeof(*ii));
	char *abs = NULL, *kabs = NULL;
	int fd = -1, err, status = EXIT_FAILURE;

	if (!ii)
		return EXIT_FAILURE;
	abs = ctl_abspath(file);
	if (!abs)
		goto out;
	if (key) {
		kabs = realpath(key, NULL);
		if (!kabs) {
			fprintf(stderr, "%s: key file %s: %s\n", progname, key,
				strerror(errno));
			goto out;
		}
	}
	if (strlen(abs) >= sizeof(ii->ii_path) ||
	    (kabs && strlen(kabs) >= sizeof(ii->ii_key))) {
		fprintf(stderr, "%s: %s: %s\n", progname, file,
			strerror(ENAMETOOLONG));
		goto out;
	}
	strcpy(ii->ii_path, abs);
	if (kabs)
		strcpy(ii->ii_key, kabs);
	fd = open_mount(mnt);
	if (fd < 0)
		goto out;
	if (ctl_on_mount(fd, abs) || (kabs && ctl_on_mount(fd, kabs))) {
		fprintf(stderr, "%s: %s: cannot %s into the mount itself\n",
			progname, file, what);
		goto out;
	}
	if (ioctl(fd, req, ii) < 0) {
		err = errno;
		if (ii->ii_msg[0])
			fprintf(stderr, "%s: %s %s: %.*s\n", progname, what, mnt,
				(int)sizeof(ii->ii_msg), ii->ii_msg);
		else if (err == EPERM)
			fprintf(stderr, "%s: %s %s: %s (the mount's owner or "
				"CAP_SYS_ADMIN only: an image holds every "
				"file)\n", progname, what, mnt, strerror(err));
		else
			ioctl_error(mnt, what, err);
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	if (fd >= 0)
		close(fd);
	free(abs);
	free(kabs);
	free(ii);
	return status;
}

/* A new daemon for the mount; the old one serves on if it fails. */
static int
cmd_restart(const char *mnt)
{
	int fd, err;

	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, SHMEMFS_IOC_RESTART) < 0) {
		err = errno;
		close(fd);
		if (err == EOPNOTSUPP)
			fprintf(stderr, "%s: restart %s: this transport cannot "
				"hand over (io_uring); the daemon serves on\n",
				progname, mnt);
		else if (err == ENOTTY || err == ENOSYS)
			ioctl_error(mnt, "restart", err);
		else
			fprintf(stderr, "%s: restart %s: %s; the old daemon "
				"serves on\n", progname, mnt, strerror(err));
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

/* shmemctl save MOUNTPOINT FILE [--key KEYFILE] | export MOUNTPOINT FILE */
static int
ctl_snap_main(int argc, char **argv)
{
	const char *cmd = argv[1], *args[2] = {NULL, NULL}, *key = NULL;
	int i, n = 0, opts_done = 0;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || a[1] == '\0') {
			if (n == 2)
				return usage_error("unexpected argument '%s'",
						   a);
			args[n++] = a;
		} else if (!strcmp(a, "--")) {
			opts_done = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (!strcmp(a, "--key") && !strcmp(cmd, "save") &&
			   i + 1 < argc) {
			key = argv[++i];
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (n < 1)
		return usage_error("%s", "missing MOUNTPOINT");
	if (!strcmp(cmd, "restart")) {
		if (n > 1)
			return usage_error("unexpected argument '%s'", args[1]);
		return cmd_restart(args[0]);
	}
	if (n < 2)
		return usage_error("%s", "missing FILE");
	if (!strcmp(cmd, "save"))
		return cmd_image(args[0], args[1], key, SHMEMFS_IOC_SAVE,
				 "save");
	return cmd_image(args[0], args[1], NULL, SHMEMFS_IOC_EXPORT,
			 "export");
}

int
main(int argc, char **argv)
{
	const char *cmd, *mnt = NULL;
	int json = 0, opts_done = 0, i, status;

	if (argc < 2)
		return usage_error("%s", "missing command");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return finish_stdout(EXIT_SUCCESS);
	}
	if (!strcmp(cmd, "--version")) {
		printf("shmemctl %s\n", SHMEMFS_VERSION);
		return finish_stdout(EXIT_SUCCESS);
	}
	if (!strcmp(cmd, "save") || !strcmp(cmd, "export") ||
	    !strcmp(cmd, "restart"))
		return finish_stdout(ctl_snap_main(argc, argv));
	if (strcmp(cmd, "stats") && strcmp(cmd, "swapoff") &&
	    strcmp(cmd, "swapon"))
		return usage_error("unknown command '%s'", cmd);

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || a[1] == '\0') {
			if (mnt)
				return usage_error("unexpected argument '%s'",
						   a);
			mnt = a;
		} else if (!strcmp(a, "--")) {
			opts_done = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return finish_stdout(EXIT_SUCCESS);
		} else if (!strcmp(a, "--json") && !strcmp(cmd, "stats")) {
			json = 1;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (!mnt)
		return usage_error("%s", "missing MOUNTPOINT");

	if (!strcmp(cmd, "stats"))
		status = cmd_stats(mnt, json);
	else if (!strcmp(cmd, "swapoff"))
		status = cmd_swap(mnt, SHMEMFS_IOC_SWAPOFF, "swapoff");
	else
		status = cmd_swap(mnt, SHMEMFS_IOC_SWAPON, "swapon");
	return finish_stdout(status);
}
