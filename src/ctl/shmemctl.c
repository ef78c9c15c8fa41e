/* SPDX-License-Identifier: MIT */
/*
 * shmemctl - query and steer a mounted shmemfs.
 *
 *	shmemctl stats MOUNTPOINT [--json]
 *	shmemctl swapoff MOUNTPOINT
 *	shmemctl swapon MOUNTPOINT
 *	shmemctl huge FILE on|off
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
		"       %s huge FILE on|off\n"
		"       %s --help | --version\n"
		"\n"
		"  stats    print the mount's counters as 'key: value' lines\n"
		"           (--json: as one JSON object)\n"
		"  swapoff  bring every swapped page back and stop swapping\n"
		"  swapon   start swapping again\n"
		"  huge     ask for huge pages for FILE (huge=advise mounts;\n"
		"           needs write permission on FILE)\n",
		progname, progname, progname, progname, progname);
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

	if (fd < 0)
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

/* huge FILE on|off: SHMEMFS_IOC_HUGE_ADVISE through a descriptor open
 * for writing, which is what makes it permission-checked like a write. */
static int
cmd_huge(const char *file, const char *arg)
{
	int32_t on;
	int fd, err;

	if (!strcmp(arg, "on"))
		on = 1;
	else if (!strcmp(arg, "off"))
		on = 0;
	else
		return usage_error("huge: '%s' is not 'on' or 'off'", arg);
	fd = open(file, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, file,
			strerror(errno));
		return EXIT_FAILURE;
	}
	if (ioctl(fd, SHMEMFS_IOC_HUGE_ADVISE, &on) < 0) {
		err = errno;
		close(fd);
		if (err == ENOTTY || err == ENOSYS)
			fprintf(stderr, "%s: %s is not on a shmemfs mount\n",
				progname, file);
		else if (err == EINVAL)
			fprintf(stderr, "%s: %s is not a regular file\n",
				progname, file);
		else
			fprintf(stderr, "%s: huge %s: %s\n", progname, file,
				strerror(err));
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
	if (!strcmp(cmd, "huge")) {
		if (argc == 3 && (!strcmp(argv[2], "--help") ||
				  !strcmp(argv[2], "-h"))) {
			usage(stdout);
			return finish_stdout(EXIT_SUCCESS);
		}
		if (argc != 4)
			return usage_error("%s", "usage: huge FILE on|off");
		return finish_stdout(cmd_huge(argv[2], argv[3]));
	}
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
