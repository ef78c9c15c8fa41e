/* SPDX-License-Identifier: MIT */
/*
 * shmemctl - query and steer a mounted shmemfs.
 *
 *	shmemctl stats [MOUNTPOINT] [--json|--prometheus]
 *	shmemctl swapoff MOUNTPOINT
 *	shmemctl swapon MOUNTPOINT
 *	shmemctl remount MOUNTPOINT OPTS
 *	shmemctl quota MOUNTPOINT [--json] [set user|group ID blocks=N inodes=N]
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
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
		"Usage: %s stats [MOUNTPOINT] [--json|--prometheus]\n"
		"       %s swapoff MOUNTPOINT\n"
		"       %s swapon MOUNTPOINT\n"
		"       %s remount MOUNTPOINT OPTS\n"
		"       %s quota MOUNTPOINT [--json] "
		"[set user|group ID [blocks=N] [inodes=N]]\n"
		"       %s save MOUNTPOINT FILE [--key KEYFILE]\n"
		"       %s export MOUNTPOINT FILE.tar\n"
		"       %s restart MOUNTPOINT\n"
		"       %s --help | --version\n"
		"\n"
		"  stats    print the mount's counters as 'key: value' lines\n"
		"           (--json: as one JSON object; --prometheus: in the\n"
		"           Prometheus text format); without MOUNTPOINT, of\n"
		"           every shmemfs mount\n"
		"  swapoff  bring every swapped page back and stop swapping\n"
		"           (progress on stderr when it is a terminal)\n"
		"  swapon   start swapping again\n"
		"  remount  change size=, nr_blocks=, nr_inodes=, huge=,\n"
		"           inode32/inode64, mem=, swapsize= as tmpfs's\n"
		"           mount -o remount does\n"
		"  quota    show each user's and group's usage and hard\n"
		"           limits (usrquota/grpquota mounts), or set one\n"
		"           id's: blocks=N in KiB (or N[k|m|g] bytes),\n"
		"           inodes=N, 0 = no limit\n"
		"  save     write a point-in-time image of the mount to FILE\n"
		"           (mode 0600; sealed with KEYFILE if given); mount it\n"
		"           with shmemfs -o restore=FILE\n"
		"  export   write the mount as a pax archive (sparse files,\n"
		"           xattrs)\n"
		"  restart  hand the mount to a fresh daemon without unmounting\n"
		"\n"
		"       %s ipcs MOUNTPOINT [--json]\n"
		"       %s ipcrm MOUNTPOINT -m SHMID | -M KEY\n"
		"  ipcs     list the mount's SysV segments, as ipcs -m\n"
		"  ipcrm    remove a segment by id or key (IPC_RMID)\n"
		"\n"
		"       %s huge FILE on|off\n"
		"  huge     ask for huge pages for FILE, as madvise(MADV_HUGEPAGE)\n"
		"           does on tmpfs (huge=advise mounts; needs write\n"
		"           permission on FILE)\n",
		progname, progname, progname, progname, progname, progname,
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

	if (fd < 0 && (errno == ENOTCONN || errno == ECONNABORTED))
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

/* shmemctl remount MOUNTPOINT OPTS */
static int
cmd_remount(int argc, char **argv)
{
	struct shmemfs_remount rm;
	int fd, err;

	if (argc != 4)
		return usage_error("%s", "remount takes MOUNTPOINT OPTS");
	memset(&rm, 0, sizeof(rm));
	if (strlen(argv[3]) >= sizeof(rm.sr_opts)) {
		fprintf(stderr,
			"%s: remount: options longer than %zu "
			"bytes\n",
			progname, sizeof(rm.sr_opts) - 1);
		return EXIT_FAILURE;
	}
	strcpy(rm.sr_opts, argv[3]);
	fd = open_mount(argv[2]);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, SHMEMFS_IOC_REMOUNT, &rm) < 0) {
		err = errno;
		close(fd);
		if (err == EPERM)
			fprintf(stderr,
				"%s: remount %s: %s (needs "
				"CAP_SYS_ADMIN or the mount's owner)\n",
				progname, argv[2], strerror(err));
		else
			ioctl_error(argv[2], "remount", err);
		return EXIT_FAILURE;
	}
	close(fd);
	rm.sr_msg[sizeof(rm.sr_msg) - 1] = '\0';
	if (rm.sr_error) {
		fprintf(stderr, "%s: remount %s: %s\n", progname, argv[2],
			rm.sr_msg[0] ? rm.sr_msg : strerror(rm.sr_error));
		return EXIT_FAILURE;
	}
	if (rm.sr_msg[0])
		fprintf(stderr, "%s: %s\n", progname, rm.sr_msg);
	return EXIT_SUCCESS;
}

/* ---- stats --prometheus, and stats of every mount ---------------------- */

enum stats_format { STATS_PLAIN, STATS_JSON, STATS_PROMETHEUS };

/*
 * What `--prometheus` says about each key: HELP text and whether it is a
 * counter (only ever grows) or a gauge.  A key missing here (added to
 * struct shmemfs_stats later) still gets a sample, as a gauge with a
 * generic HELP line.
 */
static const struct {
	const char *sh_name;
	int sh_counter;
	const char *sh_help;
} stat_help[] = {
    /* clang-format off */
	{ "size_limit_bytes", 0, "Limit on data blocks (size=), 0 if none" },
	{ "used_bytes", 0, "Data blocks in use, resident and swapped" },
	{ "inodes_limit", 0, "Limit on inodes (nr_inodes=), 0 if none" },
	{ "inodes_used", 0, "Inodes in use" },
	{ "mem_limit_bytes", 0, "Resident-memory budget (mem=)" },
	{ "resident_bytes", 0, "File data held in memory" },
	{ "swapped_bytes", 0, "File data in the swap file" },
	{ "swap_total_bytes", 0, "Size of the swap file's slots" },
	{ "swap_used_bytes", 0, "Swap file slots in use" },
	{ "swapouts", 1, "Pages written to swap since mount" },
	{ "swapins", 1, "Pages read back from swap since mount" },
	{ "huge_pages", 0, "Huge pages in use" },
	{ "huge_splits", 1, "Huge pages split since mount" },
	{ "huge_collapses", 1, "Huge pages collapsed since mount" },
	{ "huge_fallbacks", 1, "Huge page allocations that fell back to "
			       "small pages since mount" },
	{ "uring_queues", 0, "FUSE io_uring queues (0: /dev/fuse)" },
    /* clang-format on */
};

static void
prom_header(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(stat_help) / sizeof(stat_help[0]); i++)
		if (!strcmp(stat_help[i].sh_name, key))
			break;
	if (i < sizeof(stat_help) / sizeof(stat_help[0])) {
		printf("# HELP shmemfs_%s %s.\n", key, stat_help[i].sh_help);
		printf("# TYPE shmemfs_%s %s\n", key,
		       stat_help[i].sh_counter ? "counter" : "gauge");
	} else {
		printf("# HELP shmemfs_%s shmemfs statistic %s.\n", key, key);
		printf("# TYPE shmemfs_%s gauge\n", key);
	}
}

/* A Prometheus label value: \, " and newline escaped. */
static void
prom_label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
}

/* A JSON string, quoted, with what JSON needs escaped. */
static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
prom_sample(const char *key, const char *mnt, uint64_t v)
{
	printf("shmemfs_%s{mountpoint=\"", key);
	prom_label(mnt);
	printf("\"} %" PRIu64 "\n", v);
}

/*
 * Query @mnt's stats: 0 or an errno value.  Reported on stderr if
 * @report; `stats` of every mount first checks whether the mount is
 * still there.
 */
static int
query_stats(const char *mnt, struct shmemfs_stats *st, int report)
{
	int fd, err;

	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (report)
			fprintf(stderr, "%s: %s: %s\n", progname, mnt,
				strerror(err));
		return err;
	}
	memset(st, 0, sizeof(*st));
	if (ioctl(fd, SHMEMFS_IOC_STATS, st) < 0) {
		err = errno;
		close(fd);
		if (report)
			ioctl_error(mnt, "stats", err);
		return err;
	}
	close(fd);
	return 0;
}

/* `stats MOUNTPOINT --prometheus` */
static int
cmd_stats_prometheus(const char *mnt)
{
	size_t i, n = sizeof(stat_fields) / sizeof(stat_fields[0]);
	struct shmemfs_stats st;

	if (query_stats(mnt, &st, 1))
		return EXIT_FAILURE;
	for (i = 0; i < n; i++) {
		prom_header(stat_fields[i].sf_name);
		prom_sample(stat_fields[i].sf_name, mnt, stat_value(&st, i));
	}
	return EXIT_SUCCESS;
}

/*
 * Undo mountinfo's octal escapes (\040 for a space, \011, \012, \134)
 * in place.
 */
static void
mountinfo_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/*
 * The mount points of every fuse.shmemfs mount in /proc/self/mountinfo
 * (the caller's mount namespace), in its order: a malloc'd array of
 * malloc'd strings in *@out.  Returns the count or -errno.
 *
 * A mountinfo line: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...]
 * - FSTYPE SOURCE SUPEROPTS.
 */
static int
shmemfs_mounts(char ***out)
{
	char *line = NULL, **v = NULL, **nv;
	size_t cap = 0;
	int n = 0, err = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *mp = NULL, *type = NULL;
		int field = 0, dash = 0;

		line[strcspn(line, "\n")] = '\0';
		for (tok = strtok_r(line, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save), field++) {
			if (field == 4)
				mp = tok;
			else if (field > 5 && !dash && !strcmp(tok, "-"))
				dash = 1;
			else if (dash) {
				type = tok;
				break;
			}
		}
		if (!mp || !type || strcmp(type, "fuse.shmemfs"))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			err = -ENOMEM;
			break;
		}
		v = nv;
		v[n] = strdup(mp);
		if (!v[n]) {
			err = -ENOMEM;
			break;
		}
		mountinfo_unescape(v[n]);
		n++;
	}
	free(line);
	fclose(f);
	if (err) {
		while (n > 0)
			free(v[--n]);
		free(v);
		return err;
	}
	*out = v;
	return n;
}

/* Is @mnt still a mount point of a shmemfs? */
static int
still_mounted(const char *mnt)
{
	char **mnts = NULL;
	int n, i, found = 0;

	n = shmemfs_mounts(&mnts);
	if (n < 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (!strcmp(mnts[i], mnt))
			found = 1;
		free(mnts[i]);
	}
	free(mnts);
	return found;
}

/*
 * Ask every mount at once, each from a child process of its own, and
 * wait at most STATS_ALL_TIMEOUT_MS for all of them: one daemon that
 * does not answer (stopped, deadlocked, crawling under a debugger) would
 * otherwise hold the whole listing in open(2) or the ioctl for ever.  A
 * child still waiting then is killed; the kernel waits for FUSE answers
 * killably until the daemon has taken the request, so it goes, or else
 * sleeps on, detached from our output, until the daemon answers.  @res[m] gets 0 (and @st[m] the stats), an
 * errno value from open(2), QUERY_IOCTL + an errno value from the ioctl,
 * or QUERY_TIMEOUT.  Without fork(), the mounts are asked in turn.
 */
#define STATS_ALL_TIMEOUT_MS 5000
#define QUERY_IOCTL	     100000
#define QUERY_TIMEOUT	     (-1)

struct query_answer {
	int qa_res;
	struct shmemfs_stats qa_st;
};

/* Point standard input, output and error at /dev/null. */
static void
null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static int
query_one(const char *mnt, struct shmemfs_stats *st)
{
	int fd, err;

	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	memset(st, 0, sizeof(*st));
	err = ioctl(fd, SHMEMFS_IOC_STATS, st) < 0 ? QUERY_IOCTL + errno : 0;
	close(fd);
	return err;
}

static int
query_elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)((now.tv_sec - t0->tv_sec) * 1000 +
		     (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * Reap the children, waiting at most a moment for killed ones: a child
 * queued behind a stuck request on a directory lock sleeps
 * uninterruptibly until that lock is free, and we need not wait for it
 * (init reaps it once we are gone).
 */
static void
query_reap(pid_t *pid, int nm)
{
	struct timespec t0, nap = { 0, 5000000L };
	int m, left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		left = 0;
		for (m = 0; m < nm; m++) {
			if (pid[m] <= 0)
				continue;
			if (waitpid(pid[m], NULL, WNOHANG) == 0)
				left++;
			else
				pid[m] = -1;
		}
		if (left)
			nanosleep(&nap, NULL);
	} while (left && query_elapsed_ms(&t0) < 200);
}

static void
query_stats_bounded(char **mnts, int nm, struct shmemfs_stats *st, int *res)
{
	struct query_answer *ans;
	struct pollfd *pfd;
	struct timespec t0;
	size_t *got;
	pid_t *pid;
	int m, left = 0;

	ans = calloc(nm ? nm : 1, sizeof(*ans));
	pfd = calloc(nm ? nm : 1, sizeof(*pfd));
	got = calloc(nm ? nm : 1, sizeof(*got));
	pid = calloc(nm ? nm : 1, sizeof(*pid));
	if (!ans || !pfd || !got || !pid)
		goto out_in_turn;

	for (m = 0; m < nm; m++) {
		pfd[m].fd = -1;
		res[m] = QUERY_TIMEOUT;
	}
	for (m = 0; m < nm; m++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			goto out_kill;
		fflush(NULL);
		pid[m] = fork();
		if (pid[m] < 0) {
			close(p[0]);
			close(p[1]);
			goto out_kill;
		}
		if (pid[m] == 0) {
			struct query_answer a;
			size_t off = 0;
			ssize_t n;

			close(p[0]);
			/*
			 * Let go of our caller's stdout and stderr: a child
			 * whose request a daemon took and never answers (one
			 * on io_uring takes it at once, stopped or not)
			 * sleeps unkillably, and must not keep a pipe our
			 * caller reads open after we are gone.
			 */
			null_stdio();
			memset(&a, 0, sizeof(a));
			a.qa_res = query_one(mnts[m], &a.qa_st);
			while (off < sizeof(a)) {
				n = write(p[1], (char *)&a + off,
					  sizeof(a) - off);
				if (n <= 0)
					_exit(1);
				off += (size_t)n;
			}
			_exit(0);
		}
		close(p[1]);
		pfd[m].fd = p[0];
		pfd[m].events = POLLIN;
		left++;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0) {
		int wait = STATS_ALL_TIMEOUT_MS - query_elapsed_ms(&t0);

		if (wait <= 0 || poll(pfd, nm, wait) == 0)
			break;
		for (m = 0; m < nm; m++) {
			ssize_t n;

			if (pfd[m].fd < 0 || !pfd[m].revents)
				continue;
			n = read(pfd[m].fd, (char *)&ans[m] + got[m],
				 sizeof(ans[m]) - got[m]);
			if (n > 0)
				got[m] += (size_t)n;
			if (n > 0 && got[m] < sizeof(ans[m]))
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			if (got[m] == sizeof(ans[m])) {
				res[m] = ans[m].qa_res;
				st[m] = ans[m].qa_st;
			} else {
				res[m] = EIO; /* the child died */
			}
			close(pfd[m].fd);
			pfd[m].fd = -1;
			left--;
		}
	}
out_kill:
	for (m = 0; m < nm; m++) {
		if (pfd[m].fd >= 0) {
			close(pfd[m].fd);
			kill(pid[m], SIGKILL);
		}
	}
	query_reap(pid, nm);
	/* a fork that failed part way: ask the rest in turn */
	for (m = 0; m < nm; m++)
		if (pid[m] == 0 && res[m] == QUERY_TIMEOUT)
			res[m] = query_one(mnts[m], &st[m]);
	goto out_free;
out_in_turn:
	for (m = 0; m < nm; m++)
		res[m] = query_one(mnts[m], &st[m]);
out_free:
	free(pid);
	free(got);
	free(pfd);
	free(ans);
}

/*
 * `stats` without MOUNTPOINT: every shmemfs mount.  A mount that cannot
 * be queried is reported and makes the status 1; the rest are printed.
 */
static int
cmd_stats_all(enum stats_format fmt)
{
	size_t i, n = sizeof(stat_fields) / sizeof(stat_fields[0]);
	struct shmemfs_stats *st;
	char **mnts = NULL;
	int nm, m, ok = 0, status = EXIT_SUCCESS;
	int *good;

	nm = shmemfs_mounts(&mnts);
	if (nm < 0) {
		fprintf(stderr, "%s: /proc/self/mountinfo: %s\n", progname,
			strerror(-nm));
		return EXIT_FAILURE;
	}
	st = calloc(nm ? nm : 1, sizeof(*st));
	good = calloc(nm ? nm : 1, sizeof(*good));
	if (!st || !good) {
		fprintf(stderr, "%s: %s\n", progname, strerror(ENOMEM));
		status = EXIT_FAILURE;
		goto out_free;
	}
	query_stats_bounded(mnts, nm, st, good);
	for (m = 0; m < nm; m++) {
		int res = good[m];

		/*
		 * good[m] comes back as query_stats_bounded()'s answer and
		 * leaves as 1 (print it) or 0.  A mount unmounted since
		 * mountinfo was read is skipped; one still there has its
		 * error reported.
		 */
		good[m] = res == 0;
		if (res == 0 || !still_mounted(mnts[m]))
			continue;
		if (res == QUERY_TIMEOUT)
			fprintf(stderr,
				"%s: %s: no answer from its daemon within "
				"%d s\n",
				progname, mnts[m], STATS_ALL_TIMEOUT_MS / 1000);
		else if (res >= QUERY_IOCTL)
			ioctl_error(mnts[m], "stats", res - QUERY_IOCTL);
		else
			fprintf(stderr, "%s: %s: %s\n", progname, mnts[m],
				strerror(res));
		status = EXIT_FAILURE;
	}

	if (fmt == STATS_PROMETHEUS) {
		/* one HELP/TYPE block per key, a sample per mount */
		for (i = 0; i < n && nm > 0; i++) {
			prom_header(stat_fields[i].sf_name);
			for (m = 0; m < nm; m++)
				if (good[m])
					prom_sample(stat_fields[i].sf_name,
						    mnts[m],
						    stat_value(&st[m], i));
		}
	} else if (fmt == STATS_JSON) {
		printf("[");
		for (m = 0; m < nm; m++) {
			if (!good[m])
				continue;
			printf("%s\n  {\n    \"mountpoint\": ", ok ? "," : "");
			json_string(mnts[m]);
			for (i = 0; i < n; i++)
				printf(",\n    \"%s\": %" PRIu64,
				       stat_fields[i].sf_name,
				       stat_value(&st[m], i));
			printf("\n  }");
			ok++;
		}
		printf("%s]\n", ok ? "\n" : "");
	} else {
		for (m = 0; m < nm; m++) {
			if (!good[m])
				continue;
			printf("%smountpoint: %s\n", ok ? "\n" : "", mnts[m]);
			print_stats(&st[m], 0);
			ok++;
		}
	}
out_free:
	free(good);
	free(st);
	for (m = 0; m < nm; m++)
		free(mnts[m]);
	free(mnts);
	return status;
}

/* ---- progress of long work (swapoff; later save and restore) --------- */

/*
 * The daemon's swapoff is one ioctl that returns when every page is
 * back.  To show progress without changing that, a thread polls the
 * stats ioctl on a descriptor of its own while the main thread sits in
 * the long ioctl, and turns each sample into "done of total" through
 * pr_sample: for swapoff, swapped_bytes falling from what it was at the
 * start to 0.  The core drops its lock every batch of pages, so the
 * polls are answered during the walk.  Shown only when stderr is a
 * terminal; the caller decides that.
 */
#define PROGRESS_INTERVAL_NS 200000000L

struct progress {
	const char *pr_what; /* "swapoff" */
	const char *pr_mnt;
	const char *pr_unit; /* "pages" */
	uint64_t pr_total;   /* units of work when it started */
	/* units done so far, from a stats sample taken now */
	uint64_t (*pr_sample)(const struct progress *pr,
			      const struct shmemfs_stats *st);
	int pr_fd; /* the thread's own descriptor of the mount's root */
	struct timespec pr_start;
	pthread_t pr_thread;
	int pr_running;
	pthread_mutex_t pr_lock; /* protects pr_stop */
	pthread_cond_t pr_cond;
	int pr_stop; /* set when the long ioctl returned */
};

static double
progress_elapsed(const struct progress *pr)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - pr->pr_start.tv_sec) +
	       (double)(now.tv_nsec - pr->pr_start.tv_nsec) / 1e9;
}

/*
 * One progress line, rewritten in place (\r); @final ends it (1: done,
 * -1: failed).
 */
static void
progress_show(const struct progress *pr, uint64_t done, int final)
{
	double t = progress_elapsed(pr);
	double rate = t > 0 ? (double)done / t : 0;
	unsigned pct =
	    pr->pr_total ? (unsigned)(done * 100 / pr->pr_total) : 100;

	fprintf(stderr,
		"\r%s %s: %" PRIu64 " of %" PRIu64 " %s (%u%%), %.0f %s/s, ",
		pr->pr_what, pr->pr_mnt, done, pr->pr_total, pr->pr_unit, pct,
		rate, pr->pr_unit);
	if (final)
		fprintf(stderr, "%s %.1f s\033[K\n",
			final > 0 ? "done in" : "failed after", t);
	else if (done > 0 && rate > 0)
		fprintf(stderr, "%.0f s left\033[K",
			(double)(pr->pr_total - done) / rate);
	else
		fprintf(stderr, "time left unknown\033[K");
	fflush(stderr);
}

/* A fresh sample: units done, clamped to the total; -1 if no answer. */
static int64_t
progress_poll(const struct progress *pr)
{
	struct shmemfs_stats st;
	uint64_t done;

	memset(&st, 0, sizeof(st));
	if (ioctl(pr->pr_fd, SHMEMFS_IOC_STATS, &st) < 0)
		return -1;
	done = pr->pr_sample(pr, &st);
	return (int64_t)(done > pr->pr_total ? pr->pr_total : done);
}

static void *
progress_thread(void *arg)
{
	struct progress *pr = arg;
	struct timespec until;
	int64_t done;

	pthread_mutex_lock(&pr->pr_lock);
	while (!pr->pr_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PROGRESS_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&pr->pr_cond, &pr->pr_lock, &until);
		if (pr->pr_stop)
			break;
		pthread_mutex_unlock(&pr->pr_lock);
		done = progress_poll(pr);
		if (done >= 0)
			progress_show(pr, (uint64_t)done, 0);
		pthread_mutex_lock(&pr->pr_lock);
	}
	pthread_mutex_unlock(&pr->pr_lock);
	return NULL;
}

/*
 * Show the first line and start polling, if there is work (pr_total)
 * and a descriptor for the thread.  Without them, nothing is shown.
 */
static void
progress_start(struct progress *pr)
{
	pr->pr_fd = -1;
	pr->pr_running = 0;
	pr->pr_stop = 0;
	clock_gettime(CLOCK_MONOTONIC, &pr->pr_start);
	if (pr->pr_total == 0)
		return;
	pr->pr_fd = open(pr->pr_mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pr->pr_fd < 0)
		return;
	pthread_mutex_init(&pr->pr_lock, NULL);
	pthread_cond_init(&pr->pr_cond, NULL);
	progress_show(pr, 0, 0);
	pr->pr_running =
	    pthread_create(&pr->pr_thread, NULL, progress_thread, pr) == 0;
}

/* Stop polling and end the line: done, or failed with errno @err. */
static void
progress_finish(struct progress *pr, int err)
{
	int64_t done;

	if (pr->pr_fd < 0)
		return;
	if (pr->pr_running) {
		pthread_mutex_lock(&pr->pr_lock);
		pr->pr_stop = 1;
		pthread_cond_signal(&pr->pr_cond);
		pthread_mutex_unlock(&pr->pr_lock);
		pthread_join(pr->pr_thread, NULL);
	}
	done = progress_poll(pr);
	if (done >= 0)
		progress_show(pr, (uint64_t)done, err ? -1 : 1);
	else
		fputc('\n', stderr);
	close(pr->pr_fd);
	pr->pr_fd = -1;
	pthread_cond_destroy(&pr->pr_cond);
	pthread_mutex_destroy(&pr->pr_lock);
}

/* swapoff: pages back = pages in swap at the start - pages in swap now */
static uint64_t
swapoff_sample(const struct progress *pr, const struct shmemfs_stats *st)
{
	uint64_t left = st->swapped_bytes / SHMEMFS_PAGE_SIZE;

	return left >= pr->pr_total ? 0 : pr->pr_total - left;
}

/*
 * `swapoff MOUNTPOINT` on a terminal: the swapoff ioctl with a progress
 * line.  Nothing in swap (or no stats): no line, just the ioctl.
 */
static int
cmd_swapoff_progress(const char *mnt)
{
	struct progress pr = {
	    .pr_what = "swapoff",
	    .pr_mnt = mnt,
	    .pr_unit = "pages",
	    .pr_sample = swapoff_sample,
	};
	struct shmemfs_stats st;
	int fd, err = 0;

	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	memset(&st, 0, sizeof(st));
	if (ioctl(fd, SHMEMFS_IOC_STATS, &st) == 0)
		pr.pr_total = st.swapped_bytes / SHMEMFS_PAGE_SIZE;
	progress_start(&pr);
	if (ioctl(fd, SHMEMFS_IOC_SWAPOFF) < 0)
		err = errno;
	progress_finish(&pr, err);
	close(fd);
	if (err) {
		ioctl_error(mnt, "swapoff", err);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* N (KiB), or N followed by k/m/g/t (bytes), as setquota and memparse. */
static int
parse_limit(const char *s, int kib, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	case '\0':
		if (kib)
			shift = 10;
		break;
	default:
		return -1;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int
cmd_quota_set(const char *mnt, int argc, char **argv)
{
	struct shmemfs_quota_limits ql;
	unsigned long long id;
	char *end;
	int fd, i, err;

	memset(&ql, 0, sizeof(ql));
	if (argc < 3)
		return usage_error("%s", "quota set needs user|group ID");
	if (!strcmp(argv[0], "user"))
		ql.ql_type = 0;
	else if (!strcmp(argv[0], "group"))
		ql.ql_type = 1;
	else
		return usage_error("quota set: '%s' is not user or group",
				   argv[0]);
	errno = 0;
	id = strtoull(argv[1], &end, 10);
	if (errno || *end || argv[1][0] < '0' || argv[1][0] > '9' ||
	    id >= UINT32_MAX)
		return usage_error("quota set: bad id '%s'", argv[1]);
	ql.ql_id = (uint32_t)id;
	for (i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "blocks=", 7) &&
		    !parse_limit(argv[i] + 7, 1, &ql.ql_block_limit)) {
			ql.ql_mask |= SHMEMFS_QUOTA_SET_BLOCKS;
		} else if (!strncmp(argv[i], "inodes=", 7) &&
			   !parse_limit(argv[i] + 7, 0, &ql.ql_inode_limit)) {
			ql.ql_mask |= SHMEMFS_QUOTA_SET_INODES;
		} else {
			return usage_error("quota set: bad limit '%s'",
					   argv[i]);
		}
	}
	fd = open_mount(mnt);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, SHMEMFS_IOC_QUOTA_SET, &ql) < 0) {
		err = errno;
		close(fd);
		if (err == ESRCH)
			fprintf(stderr,
				"%s: %s has no %s quotas (mount it "
				"with -o %s)\n",
				progname, mnt, ql.ql_type ? "group" : "user",
				ql.ql_type ? "grpquota" : "usrquota");
		else if (err == EPERM)
			fprintf(stderr,
				"%s: quota set %s: %s (needs "
				"CAP_SYS_ADMIN or the mount's owner)\n",
				progname, mnt, strerror(err));
		else
			ioctl_error(mnt, "quota", err);
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

static void
print_limit(uint64_t v, int json)
{
	if (v || json)
		printf("%" PRIu64, v);
	else
		printf("-");
}

static int
cmd_quota_show(const char *mnt, int json)
{
	static const char *const names[] = {"user", "group"};
	struct shmemfs_quota_report *qr;
	int fd, err, t, first, shown = 0;
	uint32_t i, types = 0;

	qr = calloc(1, sizeof(*qr));
	if (!qr)
		return EXIT_FAILURE;
	fd = open_mount(mnt);
	if (fd < 0) {
		free(qr);
		return EXIT_FAILURE;
	}
	if (json)
		printf("{");
	else
		printf("%-5s %10s %12s %14s %8s %11s\n", "type", "id",
		       "used_kib", "block_limit", "inodes", "inode_limit");
	for (t = 0; t < 2; t++) {
		first = 1;
		memset(qr, 0, sizeof(*qr));
		qr->qr_type = (uint32_t)t;
		do {
			qr->qr_from = (uint32_t)qr->qr_next;
			if (ioctl(fd, SHMEMFS_IOC_QUOTA_GET, qr) < 0) {
				err = errno;
				if (err == ESRCH)
					break;
				close(fd);
				free(qr);
				ioctl_error(mnt, "quota", err);
				return EXIT_FAILURE;
			}
			types = qr->qr_types;
			if (json && first)
				printf("%s\n  \"%s\": [", shown++ ? "," : "",
				       names[t]);
			for (i = 0; i < qr->qr_count; i++) {
				const struct shmemfs_quota *q =
				    &qr->qr_entries[i];

				if (json) {
					printf("%s\n    {\"id\": %u, "
					       "\"used_bytes\": %" PRIu64 ", "
					       "\"block_limit_bytes\": ",
					       first ? "" : ",", q->sq_id,
					       q->sq_bytes);
					print_limit(q->sq_block_limit, 1);
					printf(", \"inodes\": %" PRIu64
					       ", \"inode_limit\": ",
					       q->sq_inodes);
					print_limit(q->sq_inode_limit, 1);
					printf("}");
				} else {
					printf("%-5s %10u %12" PRIu64 " ",
					       names[t], q->sq_id,
					       q->sq_bytes / 1024);
					if (q->sq_block_limit)
						printf("%13" PRIu64 "k",
						       q->sq_block_limit /
							   1024);
					else
						printf("%14s", "-");
					printf(" %8" PRIu64 " ", q->sq_inodes);
					if (q->sq_inode_limit)
						printf("%11" PRIu64,
						       q->sq_inode_limit);
					else
						printf("%11s", "-");
					printf("\n");
				}
				first = 0;
			}
		} while (qr->qr_next);
		if (json && (types & (1u << t)))
			printf("%s]", first ? "" : "\n  ");
	}
	close(fd);
	free(qr);
	if (json)
		printf("\n}\n");
	if (!types) {
		fprintf(stderr,
			"%s: %s has no quotas (mount it with -o "
			"usrquota or grpquota)\n",
			progname, mnt);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/* shmemctl quota MOUNTPOINT [--json] [set user|group ID ...] */
static int
cmd_quota(int argc, char **argv)
{
	int json = 0, i = 3;

	if (argc < 3)
		return usage_error("%s", "quota needs MOUNTPOINT");
	if (argc > 3 && !strcmp(argv[3], "--json")) {
		json = 1;
		i = 4;
	}
	if (i < argc && !strcmp(argv[i], "set")) {
		if (json)
			return usage_error("%s", "quota set takes no --json");
		return cmd_quota_set(argv[2], argc - i - 1, argv + i + 1);
	}
	if (i < argc)
		return usage_error("unexpected argument '%s'", argv[i]);
	return cmd_quota_show(argv[2], json);
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
			fprintf(stderr, "%s: restart %s: the io_uring transport "
				"cannot hand over (mount with -o nouring to "
				"restart); the daemon serves on\n",
				progname, mnt);
		else if (err == ENOTTY || err == ENOSYS)
			ioctl_error(mnt, "restart", err);
		else if (err == EBUSY)
			fprintf(stderr, "%s: restart %s: SysV segments or "
				"memfds are in use (their internal namespace "
				"cannot be handed over), or a restart is "
				"running; the daemon serves on\n",
				progname, mnt);
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
	int prometheus = 0;

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
	if (!strcmp(cmd, "remount"))
		return finish_stdout(cmd_remount(argc, argv));
	if (!strcmp(cmd, "quota"))
		return finish_stdout(cmd_quota(argc, argv));
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
		} else if (!strcmp(a, "--prometheus") &&
			   !strcmp(cmd, "stats")) {
			prometheus = 1;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	if (json && prometheus)
		return usage_error("%s", "--json and --prometheus exclude "
					 "each other");
	if (!mnt && !strcmp(cmd, "stats"))
		return finish_stdout(cmd_stats_all(json ? STATS_JSON
						   : prometheus
						       ? STATS_PROMETHEUS
						       : STATS_PLAIN));
	if (!mnt)
		return usage_error("%s", "missing MOUNTPOINT");

	if (!strcmp(cmd, "stats") && prometheus)
		status = cmd_stats_prometheus(mnt);
	else if (!strcmp(cmd, "swapoff") && isatty(STDERR_FILENO))
		status = cmd_swapoff_progress(mnt);
	else if (!strcmp(cmd, "stats"))
		status = cmd_stats(mnt, json);
	else if (!strcmp(cmd, "swapoff"))
		status = cmd_swap(mnt, SHMEMFS_IOC_SWAPOFF, "swapoff");
	else
		status = cmd_swap(mnt, SHMEMFS_IOC_SWAPON, "swapon");
	return finish_stdout(status);
}
