/* SPDX-License-Identifier: MIT */
/*
 * transport.c - the transport interface, and its /dev/fuse implementation.
 *
 * sd_transport_start/run/stop are the thin wrappers main.c calls
 * (transport.h says what each step promises); fusedev, below them, is
 * libfuse's own loop over /dev/fuse: one thread (-s) or a pool that
 * libfuse grows and shrinks between tc_max_idle_threads and
 * tc_max_threads, each thread reading a request, calling ops.c and
 * writing the reply.  Its state is the loop configuration.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "daemon.h"
#include "fuse_abi.h"
#include "restart.h"
#include "transport.h"

static const struct fuse_custom_io transport_chan_io;
static struct shmemfs *transport_chan_fs; /* the session's userdata */

int
sd_transport_start(struct sd_transport *tr, const struct sd_transport_ops *ops,
		   struct fuse_session *se,
		   const struct sd_transport_config *config)
{
	memset(tr, 0, sizeof(*tr));
	tr->tr_ops = ops;
	tr->tr_session = se;
	tr->tr_config = *config;
	/* Same fd; libfuse now reads and writes it through the channel. */
	if (fuse_session_custom_io(se, &transport_chan_io,
				   fuse_session_fd(se)) != 0)
		return -EINVAL;
	return ops->to_start(tr);
}

int
sd_transport_run(struct sd_transport *tr)
{
	return tr->tr_ops->to_run(tr);
}

void
sd_transport_stop(struct sd_transport *tr)
{
	tr->tr_ops->to_stop(tr);
	tr->tr_private = NULL;
}

/* ---- fusedev: libfuse's loop over /dev/fuse ----------------------- */

static int
transport_fusedev_start(struct sd_transport *tr)
{
	const struct sd_transport_config *tc = &tr->tr_config;
	struct fuse_loop_config *config;

	if (tc->tc_singlethread)
		return 0;
	config = fuse_loop_cfg_create();
	if (!config)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(config, tc->tc_clone_fd);
	fuse_loop_cfg_set_max_threads(config, tc->tc_max_threads);
	if (tc->tc_max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(config, tc->tc_max_idle_threads);
	tr->tr_private = config;
	return 0;
}

/*
 * restart.c's loop rather than libfuse's: a fixed pool (one thread with
 * -s, else tc_max_threads) that can stop between two requests, which a
 * live restart needs (libfuse's loops drop a request a worker has read
 * when the session exits).  clone_fd and the idle-thread limit are not
 * used by it.
 */
static int
transport_fusedev_run(struct sd_transport *tr)
{
	return sd_fusedev_loop(tr);
}

static void
transport_fusedev_stop(struct sd_transport *tr)
{
	if (tr->tr_private)
		fuse_loop_cfg_destroy(tr->tr_private);
}

const struct sd_transport_ops sd_transport_fusedev = {
	.to_name = "fusedev",
	.to_start = transport_fusedev_start,
	.to_run = transport_fusedev_run,
	.to_stop = transport_fusedev_stop,
};

/* ---- the channel: libfuse's reads and writes, see transport.h ----- */

/*
 * State shared by every thread of the one session this process serves.
 * tc_init_unique is the unique of the FUSE_INIT request being answered
 * (0 when none), so that its reply can be recognised in writev.
 */
static struct {
	_Atomic uint64_t tc_init_unique;
	_Atomic int tc_kernel_offers_uring;	/* INIT's flags2 said so */
	_Atomic int tc_kernel_offers_killpriv_v2; /* INIT's flags said so */
	void (*tc_uring_cb)(void *arg, int agreed);
	void *tc_uring_arg;
} transport_chan;

static __thread struct sd_reply_sink *transport_sink;

/*
 * The kill flag of the request this thread is about to hand to libfuse
 * (transport_intercept() runs in the thread that then dispatches it, on
 * both transports): 3.14 drops it while decoding.
 */
static __thread int transport_req_kill;

int
sd_transport_req_kill(void)
{
	return transport_req_kill;
}

void
sd_transport_set_sink(struct sd_reply_sink *rs)
{
	transport_sink = rs;
}

void *
sd_transport_reply_buf(size_t size)
{
	struct sd_reply_sink *rs = transport_sink;

	if (!rs || rs->rs_done || !rs->rs_buf || size > rs->rs_room)
		return NULL;
	return rs->rs_buf;
}

void
sd_transport_want_uring(void (*cb)(void *arg, int agreed), void *arg)
{
	transport_chan.tc_uring_arg = arg;
	transport_chan.tc_uring_cb = cb;
}

void
sd_transport_init_known(int uring_agreed)
{
	if (transport_chan.tc_uring_cb)
		transport_chan.tc_uring_cb(transport_chan.tc_uring_arg,
					   uring_agreed);
}

/* Send a reply: to this thread's ring entry if it is its request. */
static ssize_t
transport_send(int fd, const struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct sd_reply_sink *rs = transport_sink;

	if (rs && !rs->rs_done && iov[0].iov_len >= sizeof(*out) &&
	    out->unique == rs->rs_unique) {
		ssize_t n = rs->rs_write(rs, iov, count);

		if (n >= 0)
			rs->rs_done = 1;
		return n;
	}
	return writev(fd, iov, count);
}

/*
 * The INIT reply: take over killing suid/sgid/capabilities if offered
 * (the kernel then sets SB_NOSEC and stops asking for
 * security.capability before every write; ops.c honours the kill
 * flags), and ask for the ring if wanted and offered.  libfuse 3.14
 * knows neither: it fills flags2 (it knows FUSE_INIT_EXT) but has no
 * name for bit 41 or for FUSE_HANDLE_KILLPRIV_V2.
 */
static void
transport_patch_init(const struct iovec *iov, int count, int *agreed)
{
	struct fuse_init_out *init;

	*agreed = 0;
	if (count < 2 || iov[1].iov_len < sizeof(*init))
		return;
	init = iov[1].iov_base;
	if (transport_chan.tc_kernel_offers_killpriv_v2)
		init->flags |= FUSE_HANDLE_KILLPRIV_V2;
	if (!transport_chan.tc_uring_cb ||
	    !transport_chan.tc_kernel_offers_uring)
		return;
	init->flags |= FUSE_INIT_EXT;
	init->flags2 |= (uint32_t)(SD_FUSE_OVER_IO_URING >> 32);
	*agreed = 1;
}

static ssize_t
transport_chan_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t init = atomic_load(&transport_chan.tc_init_unique);
	int agreed = 0;
	ssize_t n;

	(void)userdata;
	if (init == 0 || out->unique != init)
		return transport_send(fd, iov, count);
	if (out->error == 0)
		transport_patch_init(iov, count, &agreed);
	n = transport_send(fd, iov, count);
	atomic_store(&transport_chan.tc_init_unique, 0);
	/* INIT is processed by the time write(2) returns. */
	if (transport_chan.tc_uring_cb)
		transport_chan.tc_uring_cb(transport_chan.tc_uring_arg,
					   n >= 0 && agreed);
	return n;
}

/* 40 + 8 + 8 + 8: fuse_attr from a struct stat, as libfuse does. */
static void
transport_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = st->st_size;
	a->blocks = st->st_blocks;
	a->atime = st->st_atim.tv_sec;
	a->mtime = st->st_mtim.tv_sec;
	a->ctime = st->st_ctim.tv_sec;
	a->atimensec = st->st_atim.tv_nsec;
	a->mtimensec = st->st_mtim.tv_nsec;
	a->ctimensec = st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = st->st_rdev;
	a->blksize = st->st_blksize;
}

/*
 * FUSE_TMPFILE: a fuse_create_in and a name ("/", meaningless), answered
 * like FUSE_CREATE with a fuse_entry_out and a fuse_open_out.  The
 * entry carries the core's nlink, 0, which the kernel takes as is.
 */
static void
transport_tmpfile(int fd, const void *buf,
		  size_t len)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_create_in *arg = (const void *)(in + 1);
	struct fuse_out_header out = {.unique = in->unique};
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	struct shmemfs_attr attr;
	struct iovec iov[3];
	int ret;

	if (len < sizeof(*in) + sizeof(*arg)) {
		ret = -EINVAL;
		goto out_err;
	}
	ret = sd_ops_tmpfile(transport_chan_fs, in->uid, in->gid, arg->umask,
			     in->nodeid, arg->mode, arg->flags, &attr);
	if (ret < 0)
		goto out_err;
	memset(&eo, 0, sizeof(eo));
	memset(&oo, 0, sizeof(oo));
	eo.nodeid = attr.sa_st.st_ino;
	eo.generation = attr.sa_generation;
	eo.attr_valid = SD_ATTR_TIMEOUT;
	transport_fill_attr(&eo.attr, &attr.sa_st);
	oo.open_flags = FOPEN_KEEP_CACHE;
	out.len = sizeof(out) + sizeof(eo) + sizeof(oo);
	iov[0] = (struct iovec){&out, sizeof(out)};
	iov[1] = (struct iovec){&eo, sizeof(eo)};
	iov[2] = (struct iovec){&oo, sizeof(oo)};
	if (transport_send(fd, iov, 3) < 0)
		sd_ops_tmpfile_undo(transport_chan_fs, eo.nodeid);
	return;

out_err:
	out.error = ret;
	out.len = sizeof(out);
	iov[0] = (struct iovec){&out, sizeof(out)};
	transport_send(fd, iov, 1);
}

/* The request's FUSE_HANDLE_KILLPRIV_V2 flag: 1 if set. */
static int
transport_kill_flag(const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const char *arg = (const char *)(in + 1);
	size_t have = len - sizeof(*in);

#define TRANSPORT_FIELD(type, field)                                           \
	(have >= offsetof(type, field) + sizeof(((type *)0)->field)            \
	     ? ((const type *)arg)->field                                      \
	     : 0)
	switch (in->opcode) {
	case FUSE_WRITE:
		return !!(TRANSPORT_FIELD(struct fuse_write_in, write_flags) &
			  FUSE_WRITE_KILL_SUIDGID);
	case FUSE_SETATTR:
		return !!(TRANSPORT_FIELD(struct fuse_setattr_in, valid) &
			  FATTR_KILL_SUIDGID);
	case FUSE_OPEN:
		return !!(TRANSPORT_FIELD(struct fuse_open_in, open_flags) &
			  FUSE_OPEN_KILL_SUIDGID);
	case FUSE_CREATE:
		return !!(TRANSPORT_FIELD(struct fuse_create_in, open_flags) &
			  FUSE_OPEN_KILL_SUIDGID);
	}
#undef TRANSPORT_FIELD
	return 0;
}

/*
 * What the decoder must not see, or we must see first: 1 if the request
 * was answered here.
 */
static int
transport_intercept(int fd, const void *buf,
		    size_t len)
{
	const struct fuse_in_header *in = buf;

	transport_req_kill = 0;
	if (len < sizeof(*in))
		return 0;
	transport_req_kill = transport_kill_flag(buf, len);
	if (in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);
		uint64_t flags = 0;

		if (len >= sizeof(*in) + sizeof(*arg)) {
			flags = arg->flags;
			if (flags & FUSE_INIT_EXT)
				flags |= (uint64_t)arg->flags2 << 32;
		}
		atomic_store(&transport_chan.tc_kernel_offers_uring,
			     !!(flags & SD_FUSE_OVER_IO_URING));
		atomic_store(&transport_chan.tc_kernel_offers_killpriv_v2,
			     !!(flags & FUSE_HANDLE_KILLPRIV_V2));
		atomic_store(&transport_chan.tc_init_unique, in->unique);
		return 0;
	}
	if (in->opcode == FUSE_TMPFILE) {
		transport_tmpfile(fd, buf, len);
		return 1;
	}
	return 0;
}

static ssize_t
transport_chan_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n;

	transport_chan_fs = userdata;
	for (;;) {
		n = read(fd, buf, len);
		if (n < 0 || !transport_intercept(fd, buf, (size_t)n))
			return n;
	}
}

static const struct fuse_custom_io transport_chan_io = {
	.writev = transport_chan_writev,
	.read = transport_chan_read,
};

void
sd_transport_process(struct fuse_session *se, void *buf, size_t len)
{
	struct fuse_buf fbuf = {.mem = buf, .size = len};

	if (transport_intercept(fuse_session_fd(se), buf, len))
		return;
	fuse_session_process_buf(se, &fbuf);
}

const struct sd_transport_ops *
sd_transport_pick(const struct sd_transport_config *config)
{
	/* -s means one thread; the ring has one per CPU besides. */
	if (config->tc_uring == 0 ||
	    (config->tc_uring < 0 && config->tc_singlethread))
		return &sd_transport_fusedev;
	if (sd_transport_uring_available())
		return &sd_transport_uring;
	if (config->tc_uring == 1)
		fprintf(stderr, "shmemfs: -o uring: this kernel does not offer "
				"FUSE over io_uring (is fuse.enable_uring off?); "
				"using /dev/fuse\n");
	return &sd_transport_fusedev;
}
