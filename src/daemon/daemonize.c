/* SPDX-License-Identifier: MIT */
/*
 * daemonize.c - detaching from the terminal, after the mount succeeded.
 *
 * fuse_daemonize() forks after the mount, which would lose the threads
 * the core starts in shmemfs_new() (the reclaimer), and shmemfs_new()
 * cannot move after it either: its errors (a bad swap file) would go to
 * /dev/null behind an exit status of 0.  So we fork first: the parent
 * waits on a pipe and exits with the child's verdict; the child builds
 * the filesystem, mounts it, and only then detaches
 * (sd_daemonize_ready()).  Until then its errors still reach the
 * terminal.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"

int
sd_daemonize_start(void)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds) < 0) {
		perror("shmemfs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("shmemfs: fork");
		return -1;
	}
	if (pid > 0) {
		int status;

		close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			_exit(c);
		/* The child died before mounting; it said why. */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
		_exit(1);
	}
	close(fds[0]);
	return fds[1];
}

void
sd_daemonize_ready(int fd)
{
	char c = 0;
	int nullfd;

	if (setsid() < 0)
		perror("shmemfs: setsid");
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd >= 0) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	if (write(fd, &c, 1) != 1) {
		/* The parent is gone; nothing to tell. */
	}
	close(fd);
}
