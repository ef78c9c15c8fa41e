/* SPDX-License-Identifier: MIT */
/*
 * transport_uring.c - FUSE over io_uring (kernel 6.14+, fuse.enable_uring).
 *
 * fuse_abi.h says how the kernel's side works.  Ours: one queue per
 * possible CPU (the kernel routes a request to the queue of the CPU its
 * caller runs on, and serves nothing over the ring until every queue has
 * an entry), each a thread pinned to its CPU with a ring of its own
 * (128-byte SQEs, single issuer, task work deferred to our waits) and
 * URING_DEPTH entries.  An entry is a 288-byte header and a payload
 * buffer of URING_PAYLOAD bytes, the largest request (max_write, ops.c)
 * or reply.
 *
 * The decoder is libfuse's.  A request arrives split (fuse_in_header and
 * the opcode's fixed argument in the header, the rest in the payload);
 * we rebuild the contiguous message /dev/fuse would have given by
 * copying the first two (at most 168 bytes) just in front of the
 * payload, where each buffer keeps URING_SLACK bytes free for them, so
 * data is never copied, and hand it to fuse_session_process_buf() like
 * any request.  The reply comes back through the channel (transport.c):
 * the thread's reply sink writes the fuse_out_header into the entry
 * header and the arguments into the payload, and the next
 * COMMIT_AND_FETCH delivers it and re-arms the entry.  Why libfuse's
 * decoder rather than one of our own: measured (README, "FUSE over
 * io_uring"), the decoder costs well under a microsecond of a request's
 * 5-30; what the ring saves is the read(2)/write(2) pair and the
 * wake-ups, which both decoders get, while our own would duplicate 40
 * opcodes' worth of argument checks libfuse already gets right.
 *
 * A reply is delivered with the next submission, after the operation
 * returned, so an operation never sees the -ENOENT a write(2) on
 * /dev/fuse gives for a request the kernel no longer waits for (ops.c
 * then gives back the lookup or open reference the reply carried).  Over
 * the ring the kernel stops waiting for a request it has sent only when
 * the connection is aborted, which ends the filesystem anyway; the
 * entry itself is offered again (-ENOENT on a commit).
 *
 * /dev/fuse still carries FUSE_INIT, FORGET, INTERRUPT and whatever the
 * kernel sends before the ring is ready, so to_run runs the fusedev loop
 * as well; its INIT reply (transport.c) asks for the ring when the
 * kernel offered it and wakes the queues to register.  If the kernel
 * refuses a registration it falls back to /dev/fuse by itself
 * (fc->io_uring = 0), and the queue's thread ends.
 *
 * Life cycle: to_start creates the queue threads, which create their
 * rings (a failure is reported before the daemon detaches) and wait for
 * INIT; to_run serves /dev/fuse until unmount or a signal; to_stop wakes
 * the queues through an eventfd each ring polls, joins and frees them.
 * The queues also end by themselves at unmount: the kernel completes
 * every registered command with -ENOTCONN.
 *
 * Live restart (restart.c) refuses while queues serve.  A new daemon
 * could register entries of its own on the handed-over fd (the kernel
 * does not resend INIT: sd_transport_init_known()), but closing the old
 * rings is not a clean cut: a request the kernel gives a free old entry
 * just before the ring dies is copied by task work that then sees a
 * dying ring, so it is never delivered nor ended, and its caller sleeps
 * unkillably; and requests queued while a CPU's queue had no free entry
 * wait for the next commit on that queue, not for a REGISTER.  README,
 * "Live restart and the ring", has the whole story and what would work.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fuse_abi.h"
#include "transport.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define URING_VALGRIND 1
#endif
#endif
#ifndef URING_VALGRIND
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define URING_DEPTH   8		   /* entries per queue (libfuse's too) */
#define URING_PAYLOAD (1024 * 1024) /* >= ops.c's OPS_MAX_WRITE */
#define URING_SLACK   4096	   /* before the payload: the header copy */
#define URING_STOP    ((uint64_t)0) /* user_data of the stop poll */

struct uring_state;

struct uring_ent {
	struct sd_reply_sink ue_sink;	/* first: the channel hands it back */
	struct sd_fuse_uring_req_header *ue_hdr;
	char *ue_payload;		/* URING_SLACK bytes after ue_hdr's page */
	struct iovec ue_iov[2];		/* what REGISTER points to */
	struct uring_queue *ue_queue;
	int ue_live;			/* registered, not torn down */
	int ue_committing;		/* its command is a COMMIT_AND_FETCH */
};

struct uring_queue {
	struct io_uring uq_ring;
	pthread_t uq_thread;
	unsigned uq_qid;
	int uq_thread_ok;
	/*
	 * Under valgrind only: an eventfd the ring signals, to wait on.
	 * Valgrind (3.19) runs one thread at a time and does not count
	 * io_uring_enter among the calls that may block, so a queue that
	 * waited there for a request kept its lock and every other thread
	 * of the daemon stopped: the other queues never registered, the
	 * kernel never declared the ring ready, and the mount hung.  We
	 * wait in read(2) instead, which valgrind knows blocks.
	 */
	int uq_evfd;
	struct uring_ent uq_ents[URING_DEPTH];
	struct uring_state *uq_state;
};

enum uring_phase {
	URING_WAIT_INIT, /* rings made, INIT not answered yet */
	URING_REGISTER,	 /* INIT agreed on the ring: register and serve */
	URING_NO_RING,	 /* INIT answered without it: /dev/fuse only */
	URING_STOP_NOW,	 /* to_stop: end */
};

/*
 * us_lock protects us_phase and us_started/us_failed (the rings' setup
 * report); the rest is written before the threads start.
 */
struct uring_state {
	struct sd_transport us_fusedev; /* the /dev/fuse side */
	struct fuse_session *us_se;
	int us_fd;			/* /dev/fuse */
	int us_stopfd;			/* eventfd every ring polls */
	unsigned us_nqueues;
	struct uring_queue *us_queues;
	pthread_mutex_t us_lock;
	pthread_cond_t us_cond;
	enum uring_phase us_phase;
	unsigned us_started, us_failed;
	int us_error;			/* first ring setup error */
};

/* Queues serving now, for shmemctl stats. */
static atomic_uint uring_active;

unsigned
sd_transport_uring_queues(void)
{
	return atomic_load(&uring_active);
}

int
sd_transport_uring_available(void)
{
	struct io_uring ring;
	char c = 'N';
	FILE *f;

	f = fopen("/sys/module/fuse/parameters/enable_uring", "r");
	if (!f)
		return 0;
	if (fread(&c, 1, 1, f) != 1)
		c = 'N';
	fclose(f);
	if (c != 'Y' && c != '1')
		return 0;
	/* io_uring itself may be off (kernel.io_uring_disabled). */
	if (io_uring_queue_init(1, &ring, IORING_SETUP_SQE128) < 0)
		return 0;
	io_uring_queue_exit(&ring);
	return 1;
}

/* ---- one queue ---------------------------------------------------- */

static void
uring_prep_cmd(struct uring_queue *q, struct uring_ent *e, uint32_t op,
	       uint64_t commit_id)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uq_ring);
	struct sd_fuse_uring_cmd_req *req;

	/* The SQ holds URING_DEPTH + 1 and each loop submits all. */
	if (!sqe) {
		fprintf(stderr, "shmemfs: io_uring queue %u overflows\n",
			q->uq_qid);
		abort();
	}
	memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128: two slots */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->uq_state->us_fd;
	sqe->cmd_op = op;
	sqe->user_data = (uint64_t)(uintptr_t)e;
	if (op == SD_FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->ue_iov;
		sqe->len = 2;
	}
	req = (struct sd_fuse_uring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)q->uq_qid;
	req->commit_id = commit_id;
	e->ue_committing = op == SD_FUSE_IO_URING_CMD_COMMIT_AND_FETCH;
}

/* The channel's reply sink: the reply into the entry, for the commit. */
static ssize_t
uring_sink_write(struct sd_reply_sink *rs, const struct iovec *iov, int count)
{
	struct uring_ent *e = (struct uring_ent *)rs;
	size_t off = 0;
	int i;

	if (iov[0].iov_len != sizeof(struct fuse_out_header)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 1; i < count; i++) {
		if (iov[i].iov_len > URING_PAYLOAD - off) {
			errno = EINVAL;
			return -1;
		}
		/* Built in place (sd_transport_reply_buf()): no copy.
		 * Else memmove: a reply may quote its request, here too. */
		if (iov[i].iov_base != e->ue_payload + off)
			memmove(e->ue_payload + off, iov[i].iov_base,
				iov[i].iov_len);
		off += iov[i].iov_len;
	}
	memcpy(e->ue_hdr->in_out, iov[0].iov_base, iov[0].iov_len);
	e->ue_hdr->ring_ent_in_out.payload_sz = (uint32_t)off;
	return (ssize_t)(iov[0].iov_len + off);
}

/* An error reply into @e, for a request that got none. */
static void
uring_reply_error(struct uring_ent *e, uint64_t unique, int err)
{
	struct fuse_out_header out = {
		.len = sizeof(out), .error = -err, .unique = unique};

	memcpy(e->ue_hdr->in_out, &out, sizeof(out));
	e->ue_hdr->ring_ent_in_out.payload_sz = 0;
}

/* Serve the request in @e and queue its commit. */
static void
uring_serve(struct uring_queue *q, struct uring_ent *e)
{
	struct sd_fuse_uring_req_header *hdr = e->ue_hdr;
	struct fuse_in_header in;
	uint64_t commit_id = hdr->ring_ent_in_out.commit_id;
	uint32_t psz = hdr->ring_ent_in_out.payload_sz;
	size_t opsz;
	char *msg;

	/* The kernel wrote the header and payload_sz bytes of payload,
	 * which memcheck cannot see (no-ops outside valgrind). */
	VALGRIND_MAKE_MEM_DEFINED(hdr, sizeof(*hdr));
	memcpy(&in, hdr->in_out, sizeof(in));
	/* in.len covers the whole message: header, op argument, payload. */
	if (in.len < sizeof(in) + (size_t)psz || psz > URING_PAYLOAD ||
	    in.len - sizeof(in) - psz > SD_FUSE_URING_OP_IN_OUT_SZ) {
		uring_reply_error(e, in.unique, EIO);
		goto out_commit;
	}
	opsz = in.len - sizeof(in) - psz;
	VALGRIND_MAKE_MEM_DEFINED(e->ue_payload, psz);
	msg = e->ue_payload - opsz - sizeof(in);
	memcpy(msg, &in, sizeof(in));
	memcpy(msg + sizeof(in), hdr->op_in, opsz);

	e->ue_sink.rs_unique = in.unique;
	e->ue_sink.rs_done = 0;
	sd_transport_set_sink(&e->ue_sink);
	sd_transport_process(q->uq_state->us_se, msg, in.len);
	sd_transport_set_sink(NULL);
	/* Every ring request wants a reply; never leave the entry hanging. */
	if (!e->ue_sink.rs_done)
		uring_reply_error(e, in.unique, EIO);
out_commit:
	uring_prep_cmd(q, e, SD_FUSE_IO_URING_CMD_COMMIT_AND_FETCH, commit_id);
}

/* Block until INIT is answered (or to_stop): the phase then. */
static enum uring_phase
uring_wait_init(struct uring_state *us)
{
	enum uring_phase phase;

	pthread_mutex_lock(&us->us_lock);
	while (us->us_phase == URING_WAIT_INIT)
		pthread_cond_wait(&us->us_cond, &us->us_lock);
	phase = us->us_phase;
	pthread_mutex_unlock(&us->us_lock);
	return phase;
}

static void
uring_report_setup(struct uring_state *us, int err)
{
	pthread_mutex_lock(&us->us_lock);
	us->us_started++;
	if (err) {
		us->us_failed++;
		if (!us->us_error)
			us->us_error = err;
	}
	pthread_cond_broadcast(&us->us_cond);
	pthread_mutex_unlock(&us->us_lock);
}

/* Rings with the fastest setup this kernel and liburing accept. */
static int
uring_ring_init(struct io_uring *ring)
{
	static const unsigned flags[] = {
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_SQE128,
	};
	size_t i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		ret = io_uring_queue_init(URING_DEPTH + 1, ring, flags[i]);
		if (ret == 0)
			return 0;
	}
	return ret;
}

/*
 * Submit what is queued and wait for a completion.  Under valgrind, wait
 * in read(2) on the ring's eventfd (see uq_evfd): it is signalled when a
 * completion or deferred task work arrives; io_uring_get_events() runs
 * the task work without waiting.
 */
static int
uring_submit_and_wait(struct uring_queue *q)
{
	uint64_t n;
	int ret;

	if (q->uq_evfd < 0)
		return io_uring_submit_and_wait(&q->uq_ring, 1);
	ret = io_uring_submit(&q->uq_ring);
	while (ret >= 0 && !io_uring_cq_ready(&q->uq_ring)) {
		ret = io_uring_get_events(&q->uq_ring);
		if (ret < 0 || io_uring_cq_ready(&q->uq_ring))
			break;
		if (read(q->uq_evfd, &n, sizeof(n)) < 0 && errno != EINTR)
			ret = -errno;
	}
	return ret;
}

static void
uring_queue_serve(struct uring_queue *q)
{
	struct uring_state *us = q->uq_state;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned live = 0, head, seen, i;
	int stop = 0, ret;

	for (i = 0; i < URING_DEPTH; i++) {
		uring_prep_cmd(q, &q->uq_ents[i], SD_FUSE_IO_URING_CMD_REGISTER,
			       0);
		q->uq_ents[i].ue_live = 1;
		live++;
	}
	sqe = io_uring_get_sqe(&q->uq_ring);
	io_uring_prep_poll_add(sqe, us->us_stopfd, POLLIN);
	io_uring_sqe_set_data64(sqe, URING_STOP);
	atomic_fetch_add(&uring_active, 1);
	while (!stop && live > 0) {
		ret = uring_submit_and_wait(q);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			fprintf(stderr, "shmemfs: io_uring queue %u: %s\n",
				q->uq_qid, strerror(-ret));
			break;
		}
		seen = 0;
		io_uring_for_each_cqe(&q->uq_ring, head, cqe)
		{
			struct uring_ent *e = io_uring_cqe_get_data(cqe);

			seen++;
			if (cqe->user_data == URING_STOP) {
				stop = 1;
				continue;
			}
			if (cqe->res == -ENOENT && e->ue_committing) {
				/* The kernel no longer knew the request
				 * (ended by an abort): the reply is lost,
				 * not the buffer; offer it again. */
				uring_prep_cmd(q, e,
					       SD_FUSE_IO_URING_CMD_REGISTER, 0);
				continue;
			}
			if (cqe->res < 0) {
				/* Torn down (unmount: -ENOTCONN) or
				 * refused: the kernel went back to
				 * /dev/fuse for this connection. */
				if (e->ue_live) {
					e->ue_live = 0;
					live--;
				}
				continue;
			}
			uring_serve(q, e);
		}
		io_uring_cq_advance(&q->uq_ring, seen);
	}
	atomic_fetch_sub(&uring_active, 1);
}

static void *
uring_queue_main(void *arg)
{
	struct uring_queue *q = arg;
	struct uring_state *us = q->uq_state;
	sigset_t sigs;
	cpu_set_t set;
	int ret;

	/*
	 * SIGTERM and the like are for libfuse's threads: its handler only
	 * sets a flag, and a signal taken here would wake no thread that
	 * looks at it.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Where the kernel sends this queue's requests; best effort. */
	CPU_ZERO(&set);
	CPU_SET(q->uq_qid, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);

	/* Made here: a single-issuer ring belongs to its creator. */
	ret = uring_ring_init(&q->uq_ring);
	if (ret == 0 && RUNNING_ON_VALGRIND) {
		q->uq_evfd = eventfd(0, EFD_CLOEXEC);
		ret = q->uq_evfd < 0 ? -errno
				     : io_uring_register_eventfd(&q->uq_ring,
								 q->uq_evfd);
		if (ret < 0)
			io_uring_queue_exit(&q->uq_ring);
	}
	uring_report_setup(us, ret);
	if (ret < 0)
		goto out_evfd;
	if (uring_wait_init(us) == URING_REGISTER)
		uring_queue_serve(q);
	io_uring_queue_exit(&q->uq_ring);
out_evfd:
	if (q->uq_evfd >= 0)
		close(q->uq_evfd);
	q->uq_evfd = -1;
	return NULL;
}

/* ---- the transport ------------------------------------------------ */

static void
uring_set_phase(struct uring_state *us, enum uring_phase phase)
{
	pthread_mutex_lock(&us->us_lock);
	if (us->us_phase == URING_WAIT_INIT || phase == URING_STOP_NOW)
		us->us_phase = phase;
	pthread_cond_broadcast(&us->us_cond);
	pthread_mutex_unlock(&us->us_lock);
}

/* The channel: INIT is answered, with the ring agreed or not. */
static void
uring_init_done(void *arg, int agreed)
{
	uring_set_phase(arg, agreed ? URING_REGISTER : URING_NO_RING);
}

static void
uring_free(struct uring_state *us)
{
	unsigned i, j;

	for (i = 0; us->us_queues && i < us->us_nqueues; i++)
		for (j = 0; j < URING_DEPTH; j++)
			free(us->us_queues[i].uq_ents[j].ue_hdr);
	free(us->us_queues);
	if (us->us_stopfd >= 0)
		close(us->us_stopfd);
	pthread_cond_destroy(&us->us_cond);
	pthread_mutex_destroy(&us->us_lock);
	free(us);
}

static int
uring_alloc_entries(struct uring_state *us, struct uring_queue *q)
{
	unsigned j;

	for (j = 0; j < URING_DEPTH; j++) {
		struct uring_ent *e = &q->uq_ents[j];
		char *buf;

		/* header at the start, payload page-aligned after it */
		buf = aligned_alloc(4096, URING_SLACK + URING_PAYLOAD);
		if (!buf)
			return -ENOMEM;
		memset(buf, 0, URING_SLACK);
		e->ue_hdr = (struct sd_fuse_uring_req_header *)buf;
		e->ue_payload = buf + URING_SLACK;
		e->ue_iov[0] = (struct iovec){e->ue_hdr, sizeof(*e->ue_hdr)};
		e->ue_iov[1] = (struct iovec){e->ue_payload, URING_PAYLOAD};
		e->ue_queue = q;
		e->ue_sink.rs_write = uring_sink_write;
		e->ue_sink.rs_buf = e->ue_payload;
		e->ue_sink.rs_room = URING_PAYLOAD;
	}
	(void)us;
	return 0;
}

/* Wake and join the queue threads that were started. */
static void
uring_join(struct uring_state *us)
{
	uint64_t one = 1;
	unsigned i;

	uring_set_phase(us, URING_STOP_NOW);
	if (write(us->us_stopfd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow: already woken */
	}
	for (i = 0; i < us->us_nqueues; i++)
		if (us->us_queues[i].uq_thread_ok)
			pthread_join(us->us_queues[i].uq_thread, NULL);
}

static int
transport_uring_start(struct sd_transport *tr)
{
	struct uring_state *us;
	long ncpu;
	unsigned i;
	int ret;

	us = calloc(1, sizeof(*us));
	if (!us)
		return -ENOMEM;
	pthread_mutex_init(&us->us_lock, NULL);
	pthread_cond_init(&us->us_cond, NULL);
	us->us_se = tr->tr_session;
	us->us_fd = fuse_session_fd(tr->tr_session);
	us->us_phase = URING_WAIT_INIT;
	/* The kernel makes one queue per possible CPU; ready when all are. */
	ncpu = sysconf(_SC_NPROCESSORS_CONF);
	us->us_nqueues = ncpu < 1 ? 1 : (unsigned)ncpu;
	us->us_stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = -errno;
	if (us->us_stopfd < 0)
		goto out_free;
	ret = -ENOMEM;
	us->us_queues = calloc(us->us_nqueues, sizeof(*us->us_queues));
	if (!us->us_queues)
		goto out_free;
	for (i = 0; i < us->us_nqueues; i++) {
		us->us_queues[i].uq_qid = i;
		us->us_queues[i].uq_state = us;
		us->us_queues[i].uq_evfd = -1;
		ret = uring_alloc_entries(us, &us->us_queues[i]);
		if (ret < 0)
			goto out_free;
	}
	/* The /dev/fuse side, as configured (-s, clone_fd, threads). */
	us->us_fusedev = *tr;
	us->us_fusedev.tr_ops = &sd_transport_fusedev;
	ret = sd_transport_fusedev.to_start(&us->us_fusedev);
	if (ret < 0)
		goto out_free;

	for (i = 0; i < us->us_nqueues; i++) {
		struct uring_queue *q = &us->us_queues[i];

		ret = -pthread_create(&q->uq_thread, NULL, uring_queue_main, q);
		if (ret < 0)
			goto out_join;
		q->uq_thread_ok = 1;
	}
	/* Every ring made (or not): errors still reach the terminal. */
	pthread_mutex_lock(&us->us_lock);
	while (us->us_started < us->us_nqueues)
		pthread_cond_wait(&us->us_cond, &us->us_lock);
	ret = us->us_failed ? us->us_error : 0;
	pthread_mutex_unlock(&us->us_lock);
	if (ret < 0)
		goto out_join;
	tr->tr_private = us;
	sd_transport_want_uring(uring_init_done, us);
	return 0;

out_join:
	uring_join(us);
	sd_transport_fusedev.to_stop(&us->us_fusedev);
out_free:
	uring_free(us);
	return ret;
}

static int
transport_uring_run(struct sd_transport *tr)
{
	struct uring_state *us = tr->tr_private;

	return sd_transport_fusedev.to_run(&us->us_fusedev);
}

static void
transport_uring_stop(struct sd_transport *tr)
{
	struct uring_state *us = tr->tr_private;

	sd_transport_want_uring(NULL, NULL);
	uring_join(us);
	sd_transport_fusedev.to_stop(&us->us_fusedev);
	uring_free(us);
}

const struct sd_transport_ops sd_transport_uring = {
	.to_name = "io_uring",
	.to_start = transport_uring_start,
	.to_run = transport_uring_run,
	.to_stop = transport_uring_stop,
};
