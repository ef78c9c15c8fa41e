/* SPDX-License-Identifier: MIT */
/*
 * fuse_abi.h - the pieces of the kernel's FUSE ABI (7.42) that Debian 12's
 * <linux/fuse.h> (7.38) lacks, written from the kernel's documented
 * layout (include/uapi/linux/fuse.h, Documentation/filesystems/fuse/
 * fuse-io-uring.rst).  The ABI is stable: these never change meaning,
 * only grow at the end.  Private to src/daemon/.
 *
 * FUSE over io_uring in one paragraph: after FUSE_INIT (answered on
 * /dev/fuse with FUSE_OVER_IO_URING in flags2), the daemon gives the
 * kernel, per CPU ("queue"), a few ring entries: an IORING_OP_URING_CMD
 * on the /dev/fuse fd with cmd_op FUSE_IO_URING_CMD_REGISTER, addr
 * pointing to two iovecs (a struct fuse_uring_req_header, and a payload
 * buffer of at least max(max_write, max_pages pages)).  A request for
 * the entry completes that command: the header holds the fuse_in_header
 * (in_out), the opcode's fixed argument (op_in), and in ring_ent_in_out
 * the payload size (the rest of the arguments, in the payload buffer) and
 * the commit id.  The daemon writes its fuse_out_header into in_out and
 * the reply arguments into the payload, sets payload_sz, and submits
 * FUSE_IO_URING_CMD_COMMIT_AND_FETCH with that commit id: that delivers
 * the reply and re-arms the entry.  FORGET, INTERRUPT and notifications
 * stay on /dev/fuse.  Requests are routed to the queue of the CPU the
 * calling task runs on, and the kernel serves nothing over the ring until
 * every queue (one per possible CPU) has registered an entry.
 */
#ifndef SD_FUSE_ABI_H
#define SD_FUSE_ABI_H

#include <linux/fuse.h>
#include <stdint.h>

/* INIT flags (the high half travels in fuse_init_{in,out}.flags2). */
#ifndef FUSE_INIT_EXT
#define FUSE_INIT_EXT (1U << 30)
#endif
#define SD_FUSE_OVER_IO_URING (1ULL << 41)

#ifndef FUSE_TMPFILE
#define FUSE_TMPFILE 51
#endif

#define SD_FUSE_URING_IN_OUT_HEADER_SZ 128
#define SD_FUSE_URING_OP_IN_OUT_SZ     128

/* ring_ent_in_out of the entry header */
struct sd_fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;  /* to echo in COMMIT_AND_FETCH */
	uint32_t payload_sz; /* bytes used in the payload buffer */
	uint32_t padding;
	uint64_t reserved;
};

/* The first iovec of a registered entry. */
struct sd_fuse_uring_req_header {
	char in_out[SD_FUSE_URING_IN_OUT_HEADER_SZ]; /* in or out header */
	char op_in[SD_FUSE_URING_OP_IN_OUT_SZ];      /* opcode's argument */
	struct sd_fuse_uring_ent_in_out ring_ent_in_out;
};

/* sqe->cmd_op */
enum {
	SD_FUSE_IO_URING_CMD_REGISTER = 1,
	SD_FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

/* In the command area of a 128-byte SQE. */
struct sd_fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id; /* 0 for REGISTER */
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct sd_fuse_uring_req_header) == 288,
	       "FUSE ring entry header is 288 bytes");
_Static_assert(sizeof(struct sd_fuse_uring_cmd_req) == 24,
	       "FUSE ring command is 24 bytes");

#endif /* SD_FUSE_ABI_H */
