/* SPDX-License-Identifier: MIT */
/*
 * restart.c - live restart: `shmemctl restart MOUNTPOINT` hands the
 * mount to a fresh daemon (the binary at the same path, so an upgraded
 * one) without unmounting.
 *
 * What is handed over: the /dev/fuse file descriptor (SCM_RIGHTS over a
 * socketpair), the FUSE_INIT request the kernel sent at mount (the new
 * libfuse session must see one, and the kernel will not send another:
 * the new daemon replays it, and its reply, addressed to a request the
 * kernel no longer has, is dropped with ENOENT, which libfuse ignores),
 * and the whole state as a live image (shmemfs_save_live(): every inode
 * with its number and generation, the lookup and open counts the kernel
 * holds, unlinked files still open, directory cookies) in a memfd.  So
 * FUSE node ids, open files and readdir positions stay valid: the kernel
 * never notices.
 *
 * Quiescing.  libfuse's own loops cannot stop without losing a request
 * a worker has already read, so the /dev/fuse transport runs this file's
 * loop (sd_fusedev_loop()): workers epoll the device (non-blocking) and
 * an eventfd, and stop only between requests.  Once all are joined no
 * request is half done, and the only one unanswered is the restart
 * ioctl itself, answered when the new daemon has taken over.
 *
 * The steps (the old daemon's main thread, the new daemon's main()):
 *   old: fork + exec the new daemon with the same argv and
 *        SHMEMFS_HANDOVER_FD in its environment; keep serving
 *   new: parse the command line (which stats the mount point: the old
 *        daemon must still answer), send "H"
 *   old: stop the workers; save the live image; destroy the mount (its
 *        swap file must be free for the new one); send fd, INIT, image
 *   new: restore, adopt the fd (fuse_session_mount("/dev/fd/N")), replay
 *        INIT, start serving, send "R"
 *   old: answer the ioctl, exit without unmounting
 * If anything fails before "R" (the new daemon dies, times out, cannot
 * restore), the old one kills it, restores the same image into a mount
 * of its own and serves on: the ioctl fails with the reason.  The image
 * costs memory for a copy of the data while it is in flight.
 *
 * Only the /dev/fuse transport hands over; another transport (io_uring)
 * answers the ioctl with EOPNOTSUPP.  A daemon that was itself started
 * by a handover unmounts by the mount point's name (its session only
 * knows /dev/fd/N).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "restart.h"
#include "shmemfs_ioctl.h"
#include "snapshot.h"

#define RS_MAGIC       0x53484d52u /* "SHMR" */
#define RS_INIT_MAX    4096
#define RS_TIMEOUT_MS  60000
#define RS_WORKERS_MAX 64

/* What main() told us, for re-executing and for the state. */
static struct {
	char rs_exe[PATH_MAX];
	char **rs_argv;
	struct shmemfs **rs_fsp;
	const struct sd_cmdline *rs_cl;
} rs_self;

/* The FUSE_INIT request of this mount, as the kernel sent it. */
static unsigned char rs_init[RS_INIT_MAX];
static size_t rs_init_len;

/* The loop: its workers, and a restart asked for by the ioctl. */
static struct {
	pthread_mutex_t lp_lock;
	struct fuse_session *lp_se;
	int lp_ctl;  /* eventfd: wakes the main thread */
	int lp_stop; /* eventfd: readable = workers stop */
	bool lp_running;
	fuse_req_t lp_restart; /* the ioctl waiting for an answer */
} rs_loop = {.lp_lock = PTHREAD_MUTEX_INITIALIZER, .lp_ctl = -1, .lp_stop = -1};

void
sd_restart_setup(char **argv, struct shmemfs **fsp, const struct sd_cmdline *cl)
{
	ssize_t n = readlink("/proc/self/exe", rs_self.rs_exe,
			     sizeof(rs_self.rs_exe) - 1);

	rs_self.rs_exe[n > 0 ? n : 0] = '\0';
	rs_self.rs_argv = argv;
	rs_self.rs_fsp = fsp;
	rs_self.rs_cl = cl;
}

/* ---- the /dev/fuse loop ------------------------------------------- */

static void
rs_wake(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd only fails when it would overflow: awake anyway */
	}
}

static void
rs_capture_init(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	if (rs_init_len || (buf->flags & FUSE_BUF_IS_FD) ||
	    buf->size < sizeof(*in) || in->opcode != FUSE_INIT ||
	    buf->size > sizeof(rs_init))
		return;
	memcpy(rs_init, buf->mem, buf->size);
	rs_init_len = buf->size;
}

/*
 * Each worker waits in an epoll instance of its own where the device is
 * registered EPOLLEXCLUSIVE: a request wakes one waiting worker, not
 * all of them, as poll(2) on the shared fd did (the whole pool woke for
 * each request, and a 4 KiB write cost about twice its round trip on
 * this 2-CPU machine).  The stop eventfd is registered plainly, so it
 * wakes every worker.
 */
static int
rs_worker_epoll(int devfd)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, devfd, &ev) < 0) {
		ev.events = EPOLLIN; /* pre-4.5 kernel: all wake, as poll */
		if (epoll_ctl(ep, EPOLL_CTL_ADD, devfd, &ev) < 0)
			goto out_close;
	}
	ev.events = EPOLLIN;
	ev.data.u32 = 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, rs_loop.lp_stop, &ev) < 0)
		goto out_close;
	return ep;

out_close:
	close(ep);
	return -1;
}

static void *
rs_worker(void *arg)
{
	struct fuse_session *se = arg;
	struct fuse_buf buf = {.mem = NULL};
	struct epoll_event ev;
	int res, ep;

	ep = rs_worker_epoll(fuse_session_fd(se));
	while (ep >= 0 && !fuse_session_exited(se)) {
		res = epoll_wait(ep, &ev, 1, -1);
		if (res <= 0)
			continue; /* EINTR */
		if (ev.data.u32 == 1)
			break; /* lp_stop */
		res = fuse_session_receive_buf(se, &buf);
		if (res == -EAGAIN || res == -EINTR)
			continue; /* another worker took it */
		if (res <= 0)
			break; /* unmounted (0) or a device error */
		rs_capture_init(&buf);
		fuse_session_process_buf(se, &buf);
	}
	if (ep >= 0)
		close(ep);
	free(buf.mem);
	rs_wake(rs_loop.lp_ctl);
	return NULL;
}

static int
rs_start_workers(struct fuse_session *se, pthread_t *tids, unsigned n)
{
	sigset_t all, old;
	unsigned i;
	int ret = 0;

	/* Signals go to the main thread, which waits in poll(). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		ret = -pthread_create(&tids[i], NULL, rs_worker, se);
		if (ret)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		rs_wake(rs_loop.lp_stop);
		while (i-- > 0)
			pthread_join(tids[i], NULL);
	}
	return ret;
}

static void
rs_stop_workers(pthread_t *tids, unsigned n)
{
	uint64_t v;
	unsigned i;

	rs_wake(rs_loop.lp_stop);
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	/* Ready to start again: drain the stop signal. */
	if (read(rs_loop.lp_stop, &v, sizeof(v)) < 0) {
		/* nothing to drain */
	}
}

int
sd_fusedev_loop(struct sd_transport *tr)
{
	struct fuse_session *se = tr->tr_session;
	unsigned n =
	    tr->tr_config.tc_singlethread ? 1 : tr->tr_config.tc_max_threads;
	pthread_t tids[RS_WORKERS_MAX];
	struct pollfd pfd;
	fuse_req_t req;
	uint64_t v;
	int fd = fuse_session_fd(se), ret;

	if (n < 1)
		n = 1;
	if (n > RS_WORKERS_MAX)
		n = RS_WORKERS_MAX;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	rs_loop.lp_ctl = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rs_loop.lp_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rs_loop.lp_ctl < 0 || rs_loop.lp_stop < 0) {
		ret = -errno;
		goto out_close;
	}
	rs_loop.lp_se = se;
	ret = rs_start_workers(se, tids, n);
	if (ret)
		goto out_close;
	pthread_mutex_lock(&rs_loop.lp_lock);
	rs_loop.lp_running = true;
	pthread_mutex_unlock(&rs_loop.lp_lock);

	pfd.fd = rs_loop.lp_ctl;
	pfd.events = POLLIN;
	while (!fuse_session_exited(se)) {
		if (poll(&pfd, 1, -1) < 0)
			continue; /* a signal: its handler exited the session */
		if (read(rs_loop.lp_ctl, &v, sizeof(v)) < 0)
			continue;
		pthread_mutex_lock(&rs_loop.lp_lock);
		req = rs_loop.lp_restart;
		pthread_mutex_unlock(&rs_loop.lp_lock);
		if (!req || fuse_session_exited(se))
			continue;
		ret = sd_restart_handover(se, tids, n, req);
		pthread_mutex_lock(&rs_loop.lp_lock);
		rs_loop.lp_restart = NULL;
		pthread_mutex_unlock(&rs_loop.lp_lock);
		if (ret == SD_TRANSPORT_HANDED_OVER)
			goto out_stopped;
		/* Failed: sd_restart_handover() started the workers again. */
	}
	rs_stop_workers(tids, n);
	ret = 0;
out_stopped:
	pthread_mutex_lock(&rs_loop.lp_lock);
	rs_loop.lp_running = false;
	req = rs_loop.lp_restart;
	rs_loop.lp_restart = NULL;
	pthread_mutex_unlock(&rs_loop.lp_lock);
	if (req)
		fuse_reply_err(req, ESHUTDOWN);
out_close:
	if (rs_loop.lp_ctl >= 0)
		close(rs_loop.lp_ctl);
	if (rs_loop.lp_stop >= 0)
		close(rs_loop.lp_stop);
	rs_loop.lp_ctl = rs_loop.lp_stop = -1;
	return ret;
}

void
sd_restart_ioctl(fuse_req_t req)
{
	int err = 0;

	pthread_mutex_lock(&rs_loop.lp_lock);
	/*
	 * The io_uring transport runs this loop for /dev/fuse, but its
	 * queue threads serve most requests and cannot be stopped between
	 * two of them: no handover while ring queues serve.
	 */
	if (!rs_loop.lp_running || !rs_init_len ||
	    sd_transport_uring_queues() > 0)
		err = EOPNOTSUPP;
	else if (rs_loop.lp_restart)
		err = EBUSY;
	else
		rs_loop.lp_restart = req;
	pthread_mutex_unlock(&rs_loop.lp_lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	rs_wake(rs_loop.lp_ctl);
}

/* ---- the old daemon's side ---------------------------------------- */

/* One byte from the new daemon within the timeout; -1 if none. */
static int
rs_wait_byte(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	char c;

	if (poll(&pfd, 1, RS_TIMEOUT_MS) != 1)
		return -1;
	if (read(sock, &c, 1) != 1)
		return -1;
	return (unsigned char)c;
}

static pid_t
rs_spawn(int child_sock)
{
	char env[32];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* The child: the same binary path (an upgrade takes effect). */
	fcntl(child_sock, F_SETFD, 0);
	snprintf(env, sizeof(env), "%d", child_sock);
	setenv("SHMEMFS_HANDOVER_FD", env, 1);
	execv(rs_self.rs_exe, rs_self.rs_argv);
	_exit(127);
}

static int
rs_send_state(int sock, int fusefd, int memfd)
{
	uint32_t hdr[2] = {RS_MAGIC, (uint32_t)rs_init_len};
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {rs_init, rs_init_len}};
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct msghdr msg = {0};
	struct cmsghdr *cm;
	int fds[2] = {fusefd, memfd};

	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(hdr) + rs_init_len))
		return -EIO;
	return 0;
}

static void
rs_reply_fail(fuse_req_t req, int err)
{
	fuse_reply_err(req, err);
}

int
sd_restart_handover(struct fuse_session *se, pthread_t *tids, unsigned n,
		    fuse_req_t req)
{
	struct shmemfs *fs = *rs_self.rs_fsp, *again;
	char err[512];
	int sv[2], memfd = -1, ret, c, status;
	pid_t pid;

	if (!rs_self.rs_exe[0]) {
		rs_reply_fail(req, ENOEXEC);
		return -ENOEXEC;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		rs_reply_fail(req, -ret);
		return ret;
	}
	pid = rs_spawn(sv[1]);
	close(sv[1]);
	if (pid < 0) {
		ret = -errno;
		close(sv[0]);
		rs_reply_fail(req, -ret);
		return ret;
	}
	/* Still serving while the new daemon parses its command line. */
	if (rs_wait_byte(sv[0]) != 'H') {
		ret = -ECHILD;
		goto out_kill;
	}
	rs_stop_workers(tids, n);
	memfd = memfd_create("shmemfs-handover", MFD_CLOEXEC);
	if (memfd < 0) {
		ret = -errno;
		goto out_resume;
	}
	ret = shmemfs_save_live(fs, memfd, err, sizeof(err));
	if (ret)
		goto out_resume; /* -EBUSY: SysV segments or memfds in use */
	/* Its swap file must be free for the new daemon. */
	shmemfs_destroy(fs);
	*rs_self.rs_fsp = NULL;
	ret = rs_send_state(sv[0], fuse_session_fd(se), memfd);
	if (!ret && rs_wait_byte(sv[0]) == 'R') {
		close(sv[0]);
		close(memfd);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return SD_TRANSPORT_HANDED_OVER;
	}
	if (!ret)
		ret = -ECHILD;
	/* The same state, back into a mount of our own. */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	pid = -1;
	c = sd_snap_restore_fd(&again, (struct sd_cmdline *)rs_self.rs_cl,
			       "handover", memfd, NULL, err, sizeof(err));
	if (c) {
		fprintf(stderr,
			"shmemfs: restart failed and the state could "
			"not be taken back: %s\n",
			err);
		fuse_session_exit(se);
		rs_reply_fail(req, -ret);
		close(memfd);
		close(sv[0]);
		return SD_TRANSPORT_HANDED_OVER; /* nothing left to serve */
	}
	*rs_self.rs_fsp = again;
	sd_ops_set_fs(again);
out_resume:
	if (memfd >= 0)
		close(memfd);
	if (rs_start_workers(se, tids, n)) {
		fuse_session_exit(se);
		close(sv[0]);
		rs_reply_fail(req, EIO);
		return -EIO;
	}
out_kill:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(sv[0]);
	rs_reply_fail(req, -ret);
	return ret;
}

/* ---- the new daemon's side ---------------------------------------- */

int
sd_restart_incoming(void)
{
	const char *s = getenv("SHMEMFS_HANDOVER_FD");
	char *end;
	long fd;

	if (!s)
		return -1;
	fd = strtol(s, &end, 10);
	unsetenv("SHMEMFS_HANDOVER_FD");
	if (*end || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
		return -1;
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return (int)fd;
}

int
sd_restart_receive(int sock, struct shmemfs **fsp, struct sd_cmdline *cl,
		   char *mountarg, size_t mlen, char *msg, size_t len)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	uint32_t hdr[2];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {rs_init, sizeof(rs_init)}};
	struct msghdr m = {0};
	struct cmsghdr *cm;
	int fds[2] = {-1, -1}, ret;
	ssize_t n;

	if (write(sock, "H", 1) != 1) {
		snprintf(msg, len, "handover: the old daemon is gone");
		return -EPIPE;
	}
	m.msg_iov = iov;
	m.msg_iovlen = 1; /* the header and the fds; then the INIT bytes */
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(fds)))
		memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	if (n != (ssize_t)sizeof(hdr) || hdr[0] != RS_MAGIC ||
	    hdr[1] > sizeof(rs_init) || fds[0] < 0 || fds[1] < 0 ||
	    recv(sock, rs_init, hdr[1], MSG_WAITALL) != (ssize_t)hdr[1]) {
		snprintf(msg, len, "handover: bad state message");
		ret = -EPROTO;
		goto out;
	}
	rs_init_len = hdr[1];
	ret = sd_snap_restore_fd(fsp, cl, "handover", fds[1], NULL, msg, len);
	if (ret)
		goto out;
	/* Test hook: fail after the old daemon gave its state away. */
	if (getenv("SHMEMFS_TEST_HANDOVER_FAIL")) {
		shmemfs_destroy(*fsp);
		*fsp = NULL;
		snprintf(msg, len,
			 "handover: failing as SHMEMFS_TEST_HANDOVER_FAIL "
			 "asks");
		ret = -EIO;
		goto out;
	}
	/* libfuse adopts an open /dev/fuse given as /dev/fd/N. */
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	snprintf(mountarg, mlen, "/dev/fd/%d", fds[0]);
	fds[0] = -1;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return ret;
}

void
sd_restart_replay_init(struct fuse_session *se)
{
	unsigned char copy[RS_INIT_MAX];
	struct fuse_in_header *in = (struct fuse_in_header *)copy;

	memcpy(copy, rs_init, rs_init_len);
	/* No request of the kernel's: the reply goes nowhere (ENOENT). */
	in->unique = UINT64_MAX - 1;
	/* Through the transport's channel, as a request from the kernel. */
	sd_transport_process(se, copy, rs_init_len);
}

int
sd_restart_ready(int sock)
{
	int ret = write(sock, "R", 1) == 1 ? 0 : -EPIPE;

	close(sock);
	return ret;
}

void
sd_restart_unmount(struct fuse_session *se, const char *mountpoint)
{
	struct pollfd pfd = {.fd = fuse_session_fd(se), .events = 0};
	pid_t pid;
	int status;

	/* POLLERR: already unmounted (fusermount3 -u) or aborted. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		return;
	if (umount2(mountpoint, MNT_DETACH) == 0)
		return;
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--",
		       mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}
