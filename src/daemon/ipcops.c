/* SPDX-License-Identifier: MIT */
/*
 * ipcops.c - the daemon's side of shared memory: handles, attaches and
 * the shared-memory ioctls (include/shmemfs_ipc.h, shmemfs_ioctl.h).
 *
 * Handles are names under the mount root that begin with
 * SHMEMFS_IPC_PREFIX: "#shmemfs:shm:ID" names SysV segment ID and
 * "#shmemfs:memfd:INO:NONCE:NAME" a memfd.  They are resolved here,
 * never listed, and never cached by the kernel (timeouts 0, and the
 * inodes report nlink 0, so the kernel forgets them as soon as they are
 * unused); nobody may create a name with the prefix in the root.
 *
 * Every decision is the core's, taken from a struct shmemfs_cred built
 * from the request: uid, gid and pid as FUSE reports them, groups from
 * fuse_req_getgroups(), capabilities from sd_caller_has_cap() (ops.c:
 * CapEff, counted only in the daemon's own user namespace) and
 * RLIMIT_MEMLOCK from /proc/PID/limits, the last three read only when a
 * check needs them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

#include "daemon.h"
#include "shmemfs_ioctl.h"
#include "shmemfs_ipc.h"

#define IPCOPS_NGROUPS_MAX 256

struct ipcops_caller {
	fuse_req_t ic_req;
	int ic_ngroups; /* -1: not read yet */
	gid_t ic_groups[IPCOPS_NGROUPS_MAX];
};

static bool
ipcops_in_group(const struct shmemfs_cred *cr, gid_t gid)
{
	struct ipcops_caller *ic = cr->cr_priv;
	int i;

	if (ic->ic_ngroups < 0) {
		ic->ic_ngroups = fuse_req_getgroups(
		    ic->ic_req, IPCOPS_NGROUPS_MAX, ic->ic_groups);
		if (ic->ic_ngroups > IPCOPS_NGROUPS_MAX)
			ic->ic_ngroups = IPCOPS_NGROUPS_MAX;
		if (ic->ic_ngroups < 0)
			ic->ic_ngroups = 0; /* fail closed */
	}
	for (i = 0; i < ic->ic_ngroups; i++)
		if (ic->ic_groups[i] == gid)
			return true;
	return false;
}

static bool
ipcops_capable(const struct shmemfs_cred *cr, unsigned cap)
{
	struct ipcops_caller *ic = cr->cr_priv;
	unsigned bit;

	switch (cap) {
	case SHMEMFS_CAP_IPC_OWNER:
		bit = CAP_IPC_OWNER;
		break;
	case SHMEMFS_CAP_SYS_ADMIN:
		bit = CAP_SYS_ADMIN;
		break;
	case SHMEMFS_CAP_IPC_LOCK:
		bit = CAP_IPC_LOCK;
		break;
	default:
		return false;
	}
	return sd_caller_has_cap(ic->ic_req, bit);
}

/* The soft RLIMIT_MEMLOCK of the caller; 0 if it cannot be read. */
static uint64_t
ipcops_memlock(const struct shmemfs_cred *cr)
{
	struct ipcops_caller *ic = cr->cr_priv;
	char path[64], line[256], soft[32];
	uint64_t v = 0;
	FILE *f;

	if (cr->cr_pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)cr->cr_pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Max locked memory", 17))
			continue;
		if (sscanf(line + 17, " %31s", soft) == 1) {
			if (!strcmp(soft, "unlimited"))
				v = UINT64_MAX;
			else
				v = strtoull(soft, NULL, 10);
		}
		break;
	}
	fclose(f);
	(void)ic;
	return v;
}

static void
ipcops_cred(fuse_req_t req, struct shmemfs_cred *cr, struct ipcops_caller *ic)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	ic->ic_req = req;
	ic->ic_ngroups = -1;
	memset(cr, 0, sizeof(*cr));
	cr->cr_uid = fc->uid;
	cr->cr_gid = fc->gid;
	cr->cr_pid = fc->pid > 0 ? fc->pid : 0;
	cr->cr_priv = ic;
	cr->cr_in_group = ipcops_in_group;
	cr->cr_capable = ipcops_capable;
	cr->cr_memlock = ipcops_memlock;
}

bool
sd_ipc_reserved(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID &&
	       !strncmp(name, SHMEMFS_IPC_PREFIX,
			sizeof(SHMEMFS_IPC_PREFIX) - 1);
}

/* A number in @base at @s, with no sign or space; *@end after it. */
static int
ipcops_parse_u64(const char *s, int base, uint64_t *v, const char **end)
{
	char *e;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -ENOENT;
	errno = 0;
	*v = strtoull(s, &e, base);
	if (errno || e == s)
		return -ENOENT;
	*end = e;
	return 0;
}

void
sd_ipc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct shmemfs *fs = sd_ops_req_fs(req);
	const char *rest = name + sizeof(SHMEMFS_IPC_PREFIX) - 1;
	struct fuse_entry_param e;
	struct shmemfs_attr attr;
	uint64_t id, nonce;
	const char *end;
	int ret = -ENOENT;

	(void)parent;
	if (!strncmp(rest, "shm:", 4)) {
		if (!ipcops_parse_u64(rest + 4, 10, &id, &end) && !*end &&
		    id <= INT32_MAX)
			ret = shmemfs_shm_lookup(fs, (int)id, &attr);
	} else if (!strncmp(rest, "memfd:", 6)) {
		if (!ipcops_parse_u64(rest + 6, 10, &id, &end) && *end == ':' &&
		    !ipcops_parse_u64(end + 1, 16, &nonce, &end) && *end == ':')
			ret = shmemfs_memfd_lookup(fs, id, nonce, &attr);
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret); /* not cached: no negative entry */
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = attr.sa_st.st_ino;
	e.generation = attr.sa_generation;
	e.attr = attr.sa_st;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	if (fuse_reply_entry(req, &e) == -ENOENT)
		shmemfs_forget(fs, e.ino, 1);
}

int
sd_ipc_open(fuse_req_t req, fuse_ino_t ino, int flags)
{
	struct ipcops_caller ic;
	struct shmemfs_cred cr;
	int ret;

	ipcops_cred(req, &cr, &ic);
	ret = shmemfs_ipc_open(sd_ops_req_fs(req), &cr, ino,
			       flags & O_ACCMODE);
	return ret < 0 ? ret : 0;
}

void
sd_ipc_release(fuse_req_t req, fuse_ino_t ino)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);

	shmemfs_ipc_release(sd_ops_req_fs(req), fc->pid > 0 ? fc->pid : 0,
			    ino);
}

static void
ipcops_reply(fuse_req_t req, int ret, const void *buf, size_t size)
{
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, ret, buf, size);
}

/*
 * The shared-memory ioctls; returns 0 if @cmd is none of them (nothing
 * replied), 1 once it replied.  @fh is the open flags of the file (ops.c
 * keeps them in fi->fh).
 */
int
sd_ipc_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, uint64_t fh,
	     const void *in, size_t in_size, size_t out_size)
{
	struct shmemfs *fs = sd_ops_req_fs(req);
	struct ipcops_caller ic;
	struct shmemfs_cred cr;
	int ret;

	switch (cmd) {
	case SHMEMFS_IOC_GET_SEALS:
		ipcops_reply(req, shmemfs_seals_get(fs, ino), NULL, 0);
		return 1;
	case SHMEMFS_IOC_ADD_SEALS: {
		const struct shmemfs_ioc_seals *as = in;

		if (in_size < sizeof(*as))
			ret = -EINVAL;
		else if (((int)fh & O_ACCMODE) == O_RDONLY)
			ret = -EPERM; /* memfd_add_seals(): needs FMODE_WRITE */
		else
			ret = shmemfs_seals_add(fs, ino, as->as_seals,
						(int)as->as_mapped);
		ipcops_reply(req, ret, NULL, 0);
		return 1;
	}
	case SHMEMFS_IOC_SHMGET:
	case SHMEMFS_IOC_SHMCTL:
	case SHMEMFS_IOC_SHMINFO:
	case SHMEMFS_IOC_SHMLIST:
	case SHMEMFS_IOC_MEMFD:
		break;
	default:
		return 0;
	}
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTTY);
		return 1;
	}
	ipcops_cred(req, &cr, &ic);
	switch (cmd) {
	case SHMEMFS_IOC_SHMGET: {
		const struct shmemfs_ioc_shmget *sg = in;

		if (in_size < sizeof(*sg)) {
			ipcops_reply(req, -EINVAL, NULL, 0);
			break;
		}
		ret = shmemfs_shm_get(fs, &cr, sg->sg_key, sg->sg_size,
				      sg->sg_flags);
		ipcops_reply(req, ret, NULL, 0);
		break;
	}
	case SHMEMFS_IOC_SHMCTL: {
		struct shmemfs_ioc_shmctl sc;

		if (in_size < sizeof(sc) || out_size < sizeof(sc)) {
			ipcops_reply(req, -EINVAL, NULL, 0);
			break;
		}
		memcpy(&sc, in, sizeof(sc));
		ret = shmemfs_shm_ctl(fs, &cr, sc.sc_id, sc.sc_cmd, &sc.sc_ds);
		ipcops_reply(req, ret, &sc, sizeof(sc));
		break;
	}
	case SHMEMFS_IOC_SHMINFO: {
		struct shmemfs_shminfo si;

		if (out_size < sizeof(si)) {
			ipcops_reply(req, -EINVAL, NULL, 0);
			break;
		}
		ret = shmemfs_shm_info(fs, &si);
		ipcops_reply(req, ret, &si, sizeof(si));
		break;
	}
	case SHMEMFS_IOC_SHMLIST: {
		struct shmemfs_ioc_shmlist *sl;

		if (in_size < sizeof(int32_t) || out_size < sizeof(*sl)) {
			ipcops_reply(req, -EINVAL, NULL, 0);
			break;
		}
		sl = calloc(1, sizeof(*sl));
		if (!sl) {
			ipcops_reply(req, -ENOMEM, NULL, 0);
			break;
		}
		memcpy(&sl->sl_start, in, sizeof(sl->sl_start));
		ret = shmemfs_shm_list(fs, sl->sl_start, sl->sl_ds,
				       SHMEMFS_SHMLIST_MAX);
		sl->sl_count = ret;
		ipcops_reply(req, ret < 0 ? ret : 0, sl, sizeof(*sl));
		free(sl);
		break;
	}
	case SHMEMFS_IOC_MEMFD: {
		struct shmemfs_ioc_memfd mf;
		struct shmemfs_ctx ctx = {
		    .sc_uid = cr.cr_uid,
		    .sc_gid = cr.cr_gid,
		};

		if (in_size < sizeof(mf) || out_size < sizeof(mf)) {
			ipcops_reply(req, -EINVAL, NULL, 0);
			break;
		}
		memcpy(&mf, in, sizeof(mf));
		ret = shmemfs_memfd_create(fs, &ctx, mf.mf_flags, &mf.mf_ino,
					   &mf.mf_nonce);
		ipcops_reply(req, ret, &mf, sizeof(mf));
		break;
	}
	}
	return 1;
}
