/* SPDX-License-Identifier: MIT */
/*
 * transport.h - how requests travel between the kernel and ops.c.
 *
 * The operations are libfuse low-level callbacks on a struct
 * fuse_session; a transport is what carries the kernel's requests into
 * that session and the replies back out.  The session (its ops table,
 * its /dev/fuse fd, its signal handlers, mount and unmount) belongs to
 * main.c; the transport only moves requests.
 *
 * There are two, chosen by sd_transport_pick() from -o uring/nouring:
 * - sd_transport_fusedev: worker threads read /dev/fuse and write the
 *   replies to it (fuse_session_loop(), or fuse_session_loop_mt() with a
 *   libfuse-managed pool);
 * - sd_transport_uring (transport_uring.c): one io_uring queue per CPU
 *   whose threads hand each request to the session
 *   (sd_transport_process(), i.e. libfuse's decoder) and commit the
 *   reply in the same ring entry, plus the fusedev loop for what the
 *   kernel still sends on /dev/fuse (INIT, FORGET, INTERRUPT).
 * Under both, sd_transport_start() installs the channel (below) on the
 * session's fd with fuse_session_custom_io().
 *
 * For whoever hands the /dev/fuse fd to a new daemon (live restart):
 * everything a transport needs is the session and its fd, taken in
 * to_start; nothing is cached elsewhere.  The ring's commands are
 * bound to the fd and end when the ring is closed (to_stop), so the old
 * daemon stops its transport before handing over and the new one starts
 * its own on the same fd.  The kernel does not repeat FUSE_INIT for the
 * new daemon: a ring can then only be registered if the connection
 * already negotiated it (the old daemon knows: sd_transport_uring_queues()
 * > 0), and the new daemon says so with sd_transport_init_known().
 *
 * Life cycle, as main.c drives it, each step once, in order:
 *   sd_transport_start  after fuse_session_mount(), before the daemon
 *                       detaches: nothing is served yet; 0 or -errno.
 *   sd_transport_run    serves until unmount or a signal: 0, or the
 *                       number of the signal that ended it, or -errno.
 *   sd_transport_stop   after run, before unmount: releases what start
 *                       took.  Not called when start failed.
 */
#ifndef SD_TRANSPORT_H
#define SD_TRANSPORT_H

#include <fuse_lowlevel.h>

/*
 * What the command line says about serving (cmdline.c fills it).  Each
 * transport reads the fields it has a use for; the ring's (queue depth,
 * uring or not) will join these.
 */
struct sd_transport_config {
	int tc_singlethread;		/* -s: one thread serves everything */
	int tc_clone_fd;		/* -o clone_fd: an fd per thread */
	unsigned tc_max_threads;	/* worker threads, at most */
	unsigned tc_max_idle_threads;	/* UINT_MAX: libfuse's default */
	int tc_uring;			/* -o uring 1, -o nouring 0, else -1 */
	unsigned tc_uring_depth;	/* ring entries per queue, 0: ours */
};

struct sd_transport;

/* One implementation; see above for what each step must do. */
struct sd_transport_ops {
	const char *to_name;
	int (*to_start)(struct sd_transport *tr);
	int (*to_run)(struct sd_transport *tr);
	void (*to_stop)(struct sd_transport *tr);
};

struct sd_transport {
	const struct sd_transport_ops *tr_ops;
	struct fuse_session *tr_session;
	struct sd_transport_config tr_config;
	void *tr_private; /* the implementation's state, from to_start */
};

/* /dev/fuse, read by libfuse's session loops. */
extern const struct sd_transport_ops sd_transport_fusedev;
/* FUSE over io_uring, with /dev/fuse for what the ring does not carry. */
extern const struct sd_transport_ops sd_transport_uring;

/*
 * Which transport @config asks for, given what the kernel offers:
 * -o nouring is fusedev, and so is -s (one thread) without -o uring;
 * -o uring and the default are the ring when
 * sd_transport_uring_available() says so, else fusedev (after one line
 * on stderr if -o uring was explicit).
 */
const struct sd_transport_ops *
sd_transport_pick(const struct sd_transport_config *config);
/* 1 if this kernel and its fuse.enable_uring offer the ring, else 0. */
int sd_transport_uring_available(void);
/* Ring queues serving requests now (shmemctl stats uring_queues). */
unsigned sd_transport_uring_queues(void);

/*
 * The channel under both transports.  Every request and reply passes
 * through it (libfuse's fuse_session_custom_io(), installed by
 * sd_transport_start), for three things libfuse 3.14 cannot do:
 * - FUSE_TMPFILE, an opcode libfuse would answer ENOSYS, is answered
 *   here (ops.c does the work) before libfuse's decoder sees it;
 * - the FUSE_INIT reply gets FUSE_OVER_IO_URING when the ring transport
 *   asked for it and the kernel offered it, and the ring learns when
 *   INIT is done (it may register only then);
 * - a reply goes to the ring entry its request came from when the
 *   replying thread is serving one (struct sd_reply_sink), else to the
 *   fd.
 */
struct sd_reply_sink {
	uint64_t rs_unique; /* the request being served */
	/* Take the reply (iov[0] the fuse_out_header): bytes, or -1/errno */
	ssize_t (*rs_write)(struct sd_reply_sink *rs, const struct iovec *iov,
			    int count);
	int rs_done; /* set once the reply is taken */
	/* Where the reply's data will be copied to, and its room: a reply
	 * built there in place is not copied again (NULL: none). */
	void *rs_buf;
	size_t rs_room;
};
/*
 * A buffer of @size bytes to build this thread's reply data in, if its
 * reply goes somewhere that can take it in place (a ring entry's
 * payload); NULL otherwise.  Valid until the reply is sent.
 */
void *sd_transport_reply_buf(size_t size);
/* Replies of this thread's requests go to @rs until set to NULL. */
void sd_transport_set_sink(struct sd_reply_sink *rs);
/*
 * Serve one request already in memory (@buf, @len bytes from its
 * fuse_in_header on): FUSE_TMPFILE here, everything else by libfuse.
 */
void sd_transport_process(struct fuse_session *se, void *buf, size_t len);

/*
 * 1 if the request this thread is serving (WRITE, SETATTR, OPEN,
 * CREATE) carries the kernel's "kill suid/sgid" flag of
 * FUSE_HANDLE_KILLPRIV_V2 (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID,
 * FUSE_OPEN_KILL_SUIDGID), which libfuse 3.14 does not pass on.
 */
int sd_transport_req_kill(void);
/*
 * For the ring: ask for FUSE_OVER_IO_URING in the INIT reply, and be
 * called once INIT is answered, with 1 if the ring was agreed, else 0.
 * NULL @cb withdraws the wish.
 */
void sd_transport_want_uring(void (*cb)(void *arg, int agreed), void *arg);
/*
 * For a daemon that takes over a connection whose INIT another daemon
 * answered: INIT will not come again, so say what it settled (1: the
 * ring was agreed) and the ring transport registers, or serves
 * /dev/fuse only.
 */
void sd_transport_init_known(int uring_agreed);

int sd_transport_start(struct sd_transport *tr,
		       const struct sd_transport_ops *ops,
		       struct fuse_session *se,
		       const struct sd_transport_config *config);
int sd_transport_run(struct sd_transport *tr);
void sd_transport_stop(struct sd_transport *tr);

#endif /* SD_TRANSPORT_H */
