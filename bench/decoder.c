// SPDX-License-Identifier: MIT
/*
 * decoder.c - what libfuse's request decoder costs, for the choice the
 * io_uring transport made (src/daemon/transport_uring.c, README "FUSE
 * over io_uring").
 *
 *   decoder [N]
 *
 * Feeds N synthetic FUSE_GETATTR and FUSE_LOOKUP requests, already in
 * memory as the ring delivers them, to libfuse 3.14's decoder
 * (fuse_session_process_buf) with trivial operations whose replies a
 * custom io swallows, and the same requests to a minimal hand-written
 * decode + encode of the same two opcodes: the best a decoder of our own
 * could do.  Prints nanoseconds per request for each; the difference is
 * what our own decoder could save per request, to hold against a FUSE
 * round trip (several microseconds here).  No mount, no kernel.
 *
 * Build: gcc -O2 -o decoder bench/decoder.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "bench_clock.h"

static size_t sink_bytes;

static ssize_t
io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	size_t n = 0;

	(void)fd;
	(void)userdata;
	for (int i = 0; i < count; i++)
		n += iov[i].iov_len;
	sink_bytes += n;
	return (ssize_t)n;
}

static ssize_t
io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)fd;
	(void)buf;
	(void)len;
	(void)userdata;
	return 0;
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st = {.st_ino = ino, .st_mode = S_IFREG | 0644,
			  .st_nlink = 1};

	(void)fi;
	fuse_reply_attr(req, &st, 3600);
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = {.ino = 0, .entry_timeout = 3600};

	(void)parent;
	(void)name;
	fuse_reply_entry(req, &e);
}

static const struct fuse_lowlevel_ops ops = {
	.getattr = op_getattr,
	.lookup = op_lookup,
};

/* A hand decoder for the two opcodes: header check, switch, encode. */
static void
own_decode(const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	struct fuse_out_header out = {.unique = in->unique};
	struct iovec iov[2] = {{&out, sizeof(out)}};
	union {
		struct fuse_attr_out ao;
		struct fuse_entry_out eo;
	} u;

	if (len < sizeof(*in) || in->len != len)
		return;
	memset(&u, 0, sizeof(u));
	switch (in->opcode) {
	case FUSE_GETATTR:
		u.ao.attr_valid = 3600;
		u.ao.attr.ino = in->nodeid;
		u.ao.attr.mode = S_IFREG | 0644;
		u.ao.attr.nlink = 1;
		iov[1] = (struct iovec){&u.ao, sizeof(u.ao)};
		break;
	case FUSE_LOOKUP:
		if (strnlen((const char *)(in + 1), len - sizeof(*in)) ==
		    len - sizeof(*in))
			return;
		u.eo.entry_valid = 3600;
		iov[1] = (struct iovec){&u.eo, sizeof(u.eo)};
		break;
	default:
		return;
	}
	out.len = sizeof(out) + iov[1].iov_len;
	io_writev(0, iov, 2, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct fuse_custom_io io = {.writev = io_writev,
						 .read = io_read};
	char *fargv[] = {argv[0], NULL};
	struct fuse_args args = FUSE_ARGS_INIT(1, fargv);
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} init = {{sizeof(init), FUSE_INIT, 1, 0, 0, 0, 0, 0, 0},
		  {7, 38, 1 << 20, FUSE_ASYNC_READ, 0, {0}}};
	struct {
		struct fuse_in_header h;
		struct fuse_getattr_in g;
	} ga = {{sizeof(ga), FUSE_GETATTR, 2, 5, 0, 0, 1, 0, 0}, {0, 0, 0}};
	struct {
		struct fuse_in_header h;
		char name[16];
	} lk = {{sizeof(lk), FUSE_LOOKUP, 2, 1, 0, 0, 1, 0, 0}, "some-name"};
	struct fuse_session *se;
	struct fuse_buf b;
	double t0, t_lib, t_own;

	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_custom_io(se, &io, 0) != 0)
		return 1;
	b = (struct fuse_buf){.mem = &init, .size = sizeof(init)};
	fuse_session_process_buf(se, &b);

	t0 = now();
	for (long i = 0; i < n; i++) {
		b = (i & 1) ? (struct fuse_buf){.mem = &lk, .size = sizeof(lk)}
			    : (struct fuse_buf){.mem = &ga, .size = sizeof(ga)};
		ga.h.unique = lk.h.unique = (uint64_t)(i + 1) * 2;
		fuse_session_process_buf(se, &b);
	}
	t_lib = (now() - t0) / (double)n;

	t0 = now();
	for (long i = 0; i < n; i++) {
		ga.h.unique = lk.h.unique = (uint64_t)(i + 1) * 2;
		if (i & 1)
			own_decode(&lk, sizeof(lk));
		else
			own_decode(&ga, sizeof(ga));
	}
	t_own = (now() - t0) / (double)n;

	printf("libfuse decoder  %.0f ns/request\n", t_lib * 1e9);
	printf("own decoder      %.0f ns/request\n", t_own * 1e9);
	printf("difference       %.0f ns/request (%zu bytes replied)\n",
	       (t_lib - t_own) * 1e9, sink_bytes);
	fuse_session_destroy(se);
	return 0;
}
