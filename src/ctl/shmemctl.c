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
#include <pwd.h>
#include <string.h>
#include <sys/shm.h>
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
		"       %s --help | --version\n"
		"\n"
		"  stats    print the mount's counters as 'key: value' lines\n"
		"           (--json: as one JSON object)\n"
		"  swapoff  bring every swapped page back and stop swapping\n"
		"  swapon   start swapping again\n"
		"\n"
		"       %s ipcs MOUNTPOINT [--json]\n"
		"       %s ipcrm MOUNTPOINT -m SHMID | -M KEY\n"
		"  ipcs     list the mount's SysV segments, as ipcs -m\n"
		"  ipcrm    remove a segment by id or key (IPC_RMID)\n",
		progname, progname, progname, progname, progname, progname);
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

/* ---- ipcs / ipcrm: the mount's SysV IPC table ---------------------- */

static const char *
ipc_owner(uint32_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%u", uid);
	return buf;
}

static const char *
ipc_status(uint32_t mode)
{
	if ((mode & SHM_DEST) && (mode & SHM_LOCKED))
		return "dest locked";
	if (mode & SHM_DEST)
		return "dest";
	if (mode & SHM_LOCKED)
		return "locked";
	return "";
}

static void
ipc_print(const struct shmemfs_shmid_ds *d, int json, int first)
{
	char owner[64];

	ipc_owner(d->sd_uid, owner, sizeof(owner));
	if (!json) {
		printf("0x%08x %-10d %-10s %-10o %-10" PRIu64 " %-10" PRIu64
		       " %-12s\n",
		       (unsigned)d->sd_key, d->sd_id, owner, d->sd_mode & 0777,
		       d->sd_segsz, d->sd_nattch, ipc_status(d->sd_mode));
		return;
	}
	printf("%s  {\"key\": %d, \"shmid\": %d, \"owner\": \"%s\", "
	       "\"uid\": %u, \"gid\": %u, \"cuid\": %u, \"cgid\": %u, "
	       "\"perms\": \"%03o\", \"bytes\": %" PRIu64
	       ", \"nattch\": %" PRIu64 ", \"status\": \"%s\", "
	       "\"cpid\": %d, \"lpid\": %d, \"atime\": %" PRId64
	       ", \"dtime\": %" PRId64 ", \"ctime\": %" PRId64
	       ", \"resident_bytes\": %" PRIu64 ", \"swapped_bytes\": %" PRIu64
	       "}",
	       first ? "" : ",\n", d->sd_key, d->sd_id, owner, d->sd_uid,
	       d->sd_gid, d->sd_cuid, d->sd_cgid, d->sd_mode & 0777,
	       d->sd_segsz, d->sd_nattch, ipc_status(d->sd_mode), d->sd_cpid,
	       d->sd_lpid, d->sd_atime, d->sd_dtime, d->sd_ctime,
	       d->sd_rss * 4096, d->sd_swp * 4096);
}

static int
cmd_ipcs(const char *mnt, int json)
{
	struct shmemfs_ioc_shmlist *sl;
	int fd, i, n = 0, status = EXIT_SUCCESS;

	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	sl = calloc(1, sizeof(*sl));
	if (!sl) {
		close(fd);
		fprintf(stderr, "%s: out of memory\n", progname);
		return EXIT_FAILURE;
	}
	if (json)
		printf("[\n");
	else
		printf("\n------ Shared Memory Segments --------\n"
		       "%-10s %-10s %-10s %-10s %-10s %-10s %-12s\n", "key",
		       "shmid", "owner", "perms", "bytes", "nattch", "status");
	for (sl->sl_start = 0;;) {
		if (ioctl(fd, SHMEMFS_IOC_SHMLIST, sl) < 0) {
			ioctl_error(mnt, "ipcs", errno);
			status = EXIT_FAILURE;
			break;
		}
		for (i = 0; i < sl->sl_count; i++)
			ipc_print(&sl->sl_ds[i], json, n++ == 0);
		if (sl->sl_count < SHMEMFS_SHMLIST_MAX)
			break;
		sl->sl_start = sl->sl_ds[sl->sl_count - 1].sd_id % 32768 + 1;
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	else
		printf("\n");
	free(sl);
	close(fd);
	return status;
}

/* The id of the segment with @key, or -1 and a message. */
static int
ipc_find_key(int fd, const char *mnt, int32_t key)
{
	struct shmemfs_ioc_shmlist *sl = calloc(1, sizeof(*sl));
	int i, id = -1;

	if (!sl)
		return -1;
	for (sl->sl_start = 0;;) {
		if (ioctl(fd, SHMEMFS_IOC_SHMLIST, sl) < 0) {
			ioctl_error(mnt, "ipcrm", errno);
			free(sl);
			return -2;
		}
		for (i = 0; i < sl->sl_count; i++)
			if (sl->sl_ds[i].sd_key == key &&
			    !(sl->sl_ds[i].sd_mode & SHM_DEST))
				id = sl->sl_ds[i].sd_id;
		if (id >= 0 || sl->sl_count < SHMEMFS_SHMLIST_MAX)
			break;
		sl->sl_start = sl->sl_ds[sl->sl_count - 1].sd_id % 32768 + 1;
	}
	free(sl);
	return id;
}

static int
cmd_ipcrm(const char *mnt, const char *flag, const char *arg)
{
	struct shmemfs_ioc_shmctl sc;
	long long v;
	char *end;
	int fd;

	errno = 0;
	v = strtoll(arg, &end, 0);
	if (errno || !*arg || *end || v < INT32_MIN || v > UINT32_MAX) {
		fprintf(stderr, "%s: invalid %s '%s'\n", progname,
			flag[1] == 'm' ? "id" : "key", arg);
		return EXIT_USAGE;
	}
	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	memset(&sc, 0, sizeof(sc));
	sc.sc_cmd = IPC_RMID;
	if (flag[1] == 'M') {
		if ((int32_t)v == IPC_PRIVATE) {
			close(fd);
			fprintf(stderr, "%s: invalid key (%s)\n", progname, arg);
			return EXIT_FAILURE;
		}
		sc.sc_id = ipc_find_key(fd, mnt, (int32_t)v);
		if (sc.sc_id < 0) {
			close(fd);
			if (sc.sc_id == -1)
				fprintf(stderr, "%s: invalid key (%s)\n",
					progname, arg);
			return EXIT_FAILURE;
		}
	} else {
		sc.sc_id = (int32_t)v;
	}
	if (ioctl(fd, SHMEMFS_IOC_SHMCTL, &sc) < 0) {
		int err = errno;

		close(fd);
		if (err == EINVAL)
			fprintf(stderr, "%s: invalid id (%d)\n", progname,
				sc.sc_id);
		else if (err == EPERM)
			fprintf(stderr, "%s: permission denied for id (%d)\n",
				progname, sc.sc_id);
		else
			ioctl_error(mnt, "ipcrm", err);
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

/* argv of "ipcs MOUNTPOINT [--json]" or "ipcrm MOUNTPOINT -m ID|-M KEY" */
static int
cmd_ipc(int argc, char **argv)
{
	const char *mnt = NULL, *flag = NULL, *arg = NULL;
	int json = 0, ipcs = !strcmp(argv[1], "ipcs"), i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (ipcs && !strcmp(a, "--json")) {
			json = 1;
		} else if (!ipcs && (!strcmp(a, "-m") || !strcmp(a, "-M"))) {
			if (flag || i + 1 >= argc)
				return usage_error("ipcrm needs one -m SHMID "
						   "or -M KEY");
			flag = a;
			arg = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			return usage_error("unknown option '%s'", a);
		} else if (!mnt) {
			mnt = a;
		} else {
			return usage_error("unexpected argument '%s'", a);
		}
	}
	if (!mnt)
		return usage_error("%s", "missing MOUNTPOINT");
	if (ipcs)
		return cmd_ipcs(mnt, json);
	if (!flag)
		return usage_error("ipcrm needs -m SHMID or -M KEY");
	return cmd_ipcrm(mnt, flag, arg);
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
	if (!strcmp(argv[1], "ipcs") || !strcmp(argv[1], "ipcrm"))
		return finish_stdout(cmd_ipc(argc, argv));
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return finish_stdout(EXIT_SUCCESS);
	}
	if (!strcmp(cmd, "--version")) {
		printf("shmemctl %s\n", SHMEMFS_VERSION);
		return finish_stdout(EXIT_SUCCESS);
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
