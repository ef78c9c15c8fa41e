/* SPDX-License-Identifier: MIT */
/*
 * cmdline.c - the daemon's command line: options, --help, the operands.
 *
 * argv goes through two parsers.  fuse_opt_parse() with
 * cmdline_opt_proc() first takes every -o item that is ours (size=,
 * swap=, ... into struct shmemfs_opts, by shmemfs_opts_parse()), notes
 * which of FUSE's were given, and holds back the operands; then the
 * defaults we impose (default_permissions, allow_other for root, fsname,
 * subtype) and the operands are appended, and fuse_parse_cmdline() takes
 * -f, -s, -d, the thread options and the mount point.  What is left in
 * cl_args is for fuse_session_new().  Bad options are recorded rather
 * than fatal until --help has had its chance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"

#ifndef SHMEMFS_VERSION
#define SHMEMFS_VERSION "0.1.0"
#endif

static void
cmdline_usage(const char *prog)
{
	/* clang-format off */
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "\n"
	       "Mount a shmemfs (user-space tmpfs) on MOUNTPOINT.  SOURCE, as in\n"
	       "'mount -t fuse.shmemfs SOURCE MOUNTPOINT', is the name mount tables\n"
	       "show (default \"shmemfs\").  A FUSE mount cannot be remounted by\n"
	       "mount(8): 'shmemctl remount MOUNTPOINT OPTS' changes what tmpfs's\n"
	       "remount changes.\n"
	       "\n"
	       "shmemfs options (-o OPT[,OPT...]):\n"
	       "    -o size=N[k|m|g|%%]     limit on data blocks, resident + swapped;\n"
	       "                           %% of RAM; 0 = unlimited (default 50%%)\n"
	       "    -o nr_blocks=N         the same limit in pages\n"
	       "    -o nr_inodes=N[k|m|g]  limit on inodes; 0 = unlimited\n"
	       "                           (default: RAM pages / 2)\n"
	       "    -o mode=MODE           root directory mode, octal (default 1777)\n"
	       "    -o uid=UID             root directory owner (default: caller)\n"
	       "    -o gid=GID             root directory group (default: caller)\n"
	       "    -o huge=POLICY         huge pages: never, always, within_size,\n"
	       "                           advise (default never)\n"
	       "    -o noswap              never swap this mount\n"
	       "    -o ramfs               no size or inode limits and no swap\n"
	       "    -o mem=N[k|m|g|%%]      resident-memory budget; above it cold\n"
	       "                           pages go to swap (default: size;\n"
	       "                           below size it needs swap=)\n"
	       "    -o swap=PATH           swap file, absolute path (created if\n"
	       "                           absent, removed at unmount if created;\n"
	       "                           an existing file must be empty or a\n"
	       "                           shmemfs swap file, one link, ours, and\n"
	       "                           used by no other mount)\n"
	       "    -o swapsize=N[k|m|g]   size of the swap file\n"
	       "    -o uring, -o nouring   serve FUSE over io_uring queues, or over\n"
	       "                           /dev/fuse (default: io_uring when the\n"
	       "                           kernel offers it, fuse.enable_uring=Y)\n"
	       "    -o inode32|inode64     inode number width, as tmpfs (default:\n"
	       "                           the host tmpfs's)\n"
	       "    -o mpol=POLICY         accepted as tmpfs accepts it, and ignored\n"
	       "                           (with a warning)\n"
	       "    -o usrquota|grpquota|quota  user/group quotas, as tmpfs 6.6+\n"
	       "                           (see shmemctl quota)\n"
	       "    -o usrquota_block_hardlimit=N[k|m|g]  default limits of each\n"
	       "    -o usrquota_inode_hardlimit=N[k|m|g]  user or group but root\n"
	       "    -o grpquota_block_hardlimit=N[k|m|g]\n"
	       "    -o grpquota_inode_hardlimit=N[k|m|g]\n"
	       "    -o shmmax=N            largest SysV segment, bytes (shmemfs-shm;\n"
	       "                           default: the kernel's)\n"
	       "    -o shmall=N            pages of all SysV segments (the kernel's)\n"
	       "    -o shmmni=N            number of SysV segments (4096, at most\n"
	       "                           32768)\n"
	       "    -o restore=FILE        mount the image (shmemctl save) or pax\n"
	       "                           archive FILE; options given here apply\n"
	       "                           over the image's\n"
	       "    -o restore_key=FILE    key file of a sealed image (persist=\n"
	       "                           seals with it too)\n"
	       "    -o persist=FILE        restore FILE at mount if it exists, save\n"
	       "                           the mount to it at clean unmount\n"
	       "\n"
	       "default_permissions is always on, and allow_other when run as root\n"
	       "(a root mount serves every user, by the modes, as tmpfs does);\n"
	       "fsname and subtype default to \"shmemfs\".  Unmount with\n"
	       "'fusermount3 -u MOUNTPOINT' or SIGTERM.\n"
	       "\n"
	       "FUSE options:\n",
	       prog);
	/* clang-format on */
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

struct optctx {
	struct shmemfs_opts *oc_opts;
	char oc_err[256]; /* first bad option's message */
	int oc_bad;
	const char *oc_args[2]; /* [SOURCE] MOUNTPOINT, from argv */
	int oc_nargs;
	int oc_remount;
	int oc_fsname;
	int oc_subtype;
	int oc_default_permissions;
	int oc_allow_other; /* allow_other or allow_root given */
	int oc_max_threads;
	int oc_uring; /* -o uring 1, -o nouring 0, neither -1 */
	struct sd_cmdline *oc_cl;
};

static int
cmdline_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * restore=FILE, restore_key=FILE, persist=FILE (snapshot.c).  The paths
 * are made absolute now: the daemon changes to / before it unmounts and
 * saves.  0: taken; 1: not one of these; -1: out of memory.
 */
static char *
cmdline_abspath(const char *path)
{
	char *cwd, *abs;
	size_t len;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	len = strlen(cwd) + strlen(path) + 2;
	abs = malloc(len);
	if (abs)
		snprintf(abs, len, "%s/%s", cwd, path);
	free(cwd);
	return abs;
}

static int
cmdline_snap_opt(struct optctx *oc, const char *arg)
{
	static const char *const names[] = {"restore=", "restore_key=",
					    "persist="};
	struct sd_cmdline *cl = oc->oc_cl;
	char **slots[] = {&cl->cl_restore, &cl->cl_restore_key,
			  &cl->cl_persist};
	size_t i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		if (strncmp(arg, names[i], n))
			continue;
		if (!arg[n]) {
			if (!oc->oc_bad)
				snprintf(oc->oc_err, sizeof(oc->oc_err),
					 "bad value for option '%.*s': empty",
					 (int)n - 1, names[i]);
			oc->oc_bad = 1;
			return 0;
		}
		free(*slots[i]);
		*slots[i] = cmdline_abspath(arg + n);
		return *slots[i] ? 0 : -1;
	}
	return 1;
}

/* Remember one of our -o items (see cl_ouropts); 0 or -1. */
static int
cmdline_keep_ours(struct optctx *oc, const char *arg)
{
	struct sd_cmdline *cl = oc->oc_cl;
	size_t old = cl->cl_ouropts ? strlen(cl->cl_ouropts) : 0;
	char *p = realloc(cl->cl_ouropts, old + strlen(arg) + 2);

	if (!p)
		return -1;
	if (old)
		p[old++] = ',';
	strcpy(p + old, arg);
	cl->cl_ouropts = p;
	return 0;
}

/*
 * fuse_opt_parse hands us each item of every -o list on its own.  Ours
 * are consumed into struct shmemfs_opts; the rest (FUSE's) are kept.  A
 * bad one is recorded, not fatal yet, so that --help still works.
 */
static int
cmdline_opt_proc(void *data, const char *arg, int key,
		 struct fuse_args *outargs)
{
	struct optctx *oc = data;
	size_t len = strlen(arg) + 2;
	char *unknown;
	int ret;

	(void)outargs;
	/* Held back until every option is in: see cmdline_set_positional(). */
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (oc->oc_nargs < 2)
			oc->oc_args[oc->oc_nargs] = arg;
		oc->oc_nargs++;
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT || arg[0] == '-')
		return 1;
	if (strcmp(arg, "remount") == 0) {
		oc->oc_remount = 1;
		return 0;
	}
	/* The transport (transport.h), ours rather than the core's. */
	if (strcmp(arg, "uring") == 0 || strcmp(arg, "nouring") == 0) {
		oc->oc_uring = arg[0] == 'u';
		return 0;
	}
	ret = cmdline_snap_opt(oc, arg);
	if (ret <= 0)
		return ret;

	unknown = malloc(len);
	if (!unknown)
		return -1;
	unknown[0] = '\0';
	ret = shmemfs_opts_parse(oc->oc_opts, arg, unknown, len,
				 oc->oc_bad ? NULL : oc->oc_err,
				 oc->oc_bad ? 0 : sizeof(oc->oc_err));
	if (ret < 0) {
		if (!oc->oc_bad && !oc->oc_err[0])
			snprintf(oc->oc_err, sizeof(oc->oc_err),
				 "bad option '%s'", arg);
		oc->oc_bad = 1;
		free(unknown);
		return 0;
	}
	if (!unknown[0]) {
		free(unknown);
		return cmdline_keep_ours(oc, arg);
	}
	free(unknown);

	if (cmdline_has_prefix(arg, "fsname="))
		oc->oc_fsname = 1;
	else if (cmdline_has_prefix(arg, "subtype="))
		oc->oc_subtype = 1;
	else if (strcmp(arg, "default_permissions") == 0)
		oc->oc_default_permissions = 1;
	else if (strcmp(arg, "allow_other") == 0 ||
		 strcmp(arg, "allow_root") == 0)
		oc->oc_allow_other = 1;
	else if (cmdline_has_prefix(arg, "max_threads="))
		oc->oc_max_threads = 1;
	return 1;
}

/*
 * The positional arguments: "MOUNTPOINT", or "SOURCE MOUNTPOINT" as
 * mount.fuse3 runs us for "mount -t fuse.shmemfs SOURCE DIR" and fstab
 * lines.  SOURCE is what mount tables show (the fsname), like the
 * device of a tmpfs; an explicit fsname= wins.  Added last, after "--",
 * so that fuse_parse_cmdline() finds the mountpoint behind the options
 * we add and whatever its name looks like.
 */
static int
cmdline_set_positional(struct fuse_args *args, const struct optctx *oc)
{
	char *esc = NULL, *opt;
	size_t len;
	int ret;

	if (oc->oc_nargs == 2 && !oc->oc_fsname) {
		/* a comma in SOURCE must not end the option */
		if (fuse_opt_add_opt_escaped(&esc, oc->oc_args[0]) < 0)
			return -1;
		len = strlen(esc) + sizeof("-ofsname=");
		opt = malloc(len);
		if (!opt) {
			free(esc);
			return -1;
		}
		snprintf(opt, len, "-ofsname=%s", esc);
		free(esc);
		ret = fuse_opt_add_arg(args, opt);
		free(opt);
		if (ret < 0)
			return -1;
	}
	if (oc->oc_nargs > 0 &&
	    (fuse_opt_add_arg(args, "--") < 0 ||
	     fuse_opt_add_arg(args, oc->oc_args[oc->oc_nargs - 1]) < 0))
		return -1;
	return 0;
}

/*
 * A swap file on the mount itself would be hidden under it (and is
 * refused by kernel swapon on tmpfs too): refuse it before mounting.
 * @mnt is canonical (fuse_parse_cmdline ran realpath on it); the swap
 * file may not exist yet, so canonicalize its directory.
 */
static int
cmdline_swap_on_mount(const char *swap, const char *mnt)
{
	char *canon, *dir, *slash;
	size_t len = strlen(mnt);
	int ret = 0;

	canon = realpath(swap, NULL);
	if (!canon) {
		dir = strdup(swap);
		if (!dir)
			return 0;
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		canon = realpath(slash ? dir : ".", NULL);
		free(dir);
		if (!canon)
			return 0; /* the core reports a bad directory */
	}
	if (strcmp(mnt, "/") == 0 ||
	    (strncmp(canon, mnt, len) == 0 &&
	     (canon[len] == '\0' || canon[len] == '/')))
		ret = 1;
	free(canon);
	return ret;
}

/*
 * The mount point: fuse_parse_cmdline() has made it canonical with
 * realpath(), so it exists, but it must be a directory, and a swap file
 * must not be under it.
 */
static int
cmdline_check_mountpoint(const struct sd_cmdline *cl)
{
	const char *swap = cl->cl_opts.so_swap_path;
	struct stat st;
	int err = 0;

	if (stat(cl->cl_mountpoint, &st) < 0)
		err = errno;
	else if (!S_ISDIR(st.st_mode))
		err = ENOTDIR;
	if (err) {
		fprintf(stderr, "shmemfs: bad mount point '%s': %s\n",
			cl->cl_mountpoint, strerror(err));
		return -err;
	}
	if (swap && cmdline_swap_on_mount(swap, cl->cl_mountpoint)) {
		fprintf(stderr,
			"shmemfs: swap=%s: the swap file cannot be on the "
			"mount itself\n",
			swap);
		return -EINVAL;
	}
	return 0;
}

/* -s, -o clone_fd, -o max_threads=, -o max_idle_threads= */
static void
cmdline_set_transport(struct sd_cmdline *cl, const struct optctx *oc,
		      const struct fuse_cmdline_opts *opts)
{
	struct sd_transport_config *tc = &cl->cl_transport;
	long nproc;

	tc->tc_singlethread = opts->singlethread;
	tc->tc_clone_fd = opts->clone_fd;
	/* Not libfuse's default of 10: two per CPU. */
	nproc = sysconf(_SC_NPROCESSORS_ONLN);
	if (nproc < 1)
		nproc = 1;
	tc->tc_max_threads = oc->oc_max_threads ? opts->max_threads
						: (unsigned)(2 * nproc);
	tc->tc_max_idle_threads = opts->max_idle_threads;
	tc->tc_uring = oc->oc_uring;
}

int
sd_cmdline_parse(struct sd_cmdline *cl, int argc, char *argv[])
{
	struct fuse_cmdline_opts opts;
	struct optctx oc;

	memset(cl, 0, sizeof(*cl));
	cl->cl_args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	shmemfs_opts_init(&cl->cl_opts);
	memset(&opts, 0, sizeof(opts));
	memset(&oc, 0, sizeof(oc));
	oc.oc_opts = &cl->cl_opts;
	oc.oc_uring = -1;
	oc.oc_cl = cl;

	/* Our options first, so that fuse_parse_cmdline sees our fsname. */
	if (fuse_opt_parse(&cl->cl_args, &oc, NULL, cmdline_opt_proc) < 0)
		return -EINVAL;
	/*
	 * mount.fuse3 runs us with -o remount for "mount -o remount,...".
	 * The kernel offers a FUSE mount no remount of its options, and a
	 * new daemon cannot take over the mount: refuse before touching
	 * anything (going on would mount a second filesystem on top).
	 */
	if (oc.oc_remount) {
		fprintf(stderr, "shmemfs: remount is not supported: a FUSE "
				"mount cannot be remounted; unmount and mount "
				"again with the new options\n");
		return -EINVAL;
	}
	if (oc.oc_nargs > 2) {
		fprintf(stderr,
			"shmemfs: too many arguments (see '%s --help')\n",
			argv[0]);
		return -EINVAL;
	}
	/*
	 * Like tmpfs, a mount made by root serves every user, access
	 * decided by the modes alone (default_permissions, always on); FUSE
	 * would admit only the mounting user.  A user's own mount stays
	 * private unless it asks for allow_other (which fusermount3 grants
	 * only with user_allow_other in /etc/fuse.conf).
	 */
	if (!oc.oc_default_permissions)
		fuse_opt_add_arg(&cl->cl_args, "-odefault_permissions");
	if (!oc.oc_allow_other && geteuid() == 0)
		fuse_opt_add_arg(&cl->cl_args, "-oallow_other");
	if (!oc.oc_fsname && oc.oc_nargs != 2)
		fuse_opt_add_arg(&cl->cl_args, "-ofsname=shmemfs");
	if (!oc.oc_subtype)
		fuse_opt_add_arg(&cl->cl_args, "-osubtype=shmemfs");
	if (cmdline_set_positional(&cl->cl_args, &oc) < 0)
		return -ENOMEM;

	if (fuse_parse_cmdline(&cl->cl_args, &opts) != 0)
		return -EINVAL;
	cl->cl_mountpoint = opts.mountpoint;
	if (opts.show_help) {
		cmdline_usage(argv[0]);
		return 1;
	}
	if (opts.show_version) {
		printf("shmemfs version %s\n", SHMEMFS_VERSION);
		fflush(stdout); /* fuse_lowlevel_version runs fusermount3 */
		fuse_lowlevel_version();
		return 1;
	}
	if (oc.oc_bad) {
		fprintf(stderr, "shmemfs: %s\n", oc.oc_err);
		return -EINVAL;
	}
	if (!cl->cl_mountpoint) {
		fprintf(stderr,
			"shmemfs: no mount point given (see '%s --help')\n",
			argv[0]);
		return -EINVAL;
	}
	cl->cl_foreground = opts.foreground;
	cmdline_set_transport(cl, &oc, &opts);
	return cmdline_check_mountpoint(cl);
}

void
sd_cmdline_free(struct sd_cmdline *cl)
{
	shmemfs_opts_free(&cl->cl_opts);
	free(cl->cl_mountpoint);
	cl->cl_mountpoint = NULL;
	fuse_opt_free_args(&cl->cl_args);
	free(cl->cl_restore);
	free(cl->cl_restore_key);
	free(cl->cl_persist);
	free(cl->cl_ouropts);
}
