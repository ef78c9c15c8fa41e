/* SPDX-License-Identifier: MIT */
/*
 * shmtest - run one scenario of shared-memory calls and print each
 * result and errno, one line each, so the same scenario run natively
 * (in a private IPC and mount namespace with a kernel tmpfs on
 * /dev/shm) and through shmemfs-shm can be compared line by line.
 * Only what both must agree on is printed: no addresses, times or pids
 * (those are printed as comparisons).
 *
 *   shmtest posix|sem|sysv|sysvctl|memfd|nattch|race KEY|ipcheck
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static void
res(const char *what, long ret)
{
	if (ret < 0)
		printf("%s: -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, ret);
	fflush(stdout);
}

static void
resp(const char *what, const void *p)
{
	if (p == (void *)-1 || p == NULL)
		printf("%s: FAIL %s\n", what, strerrorname_np(errno));
	else
		printf("%s: ok\n", what);
	fflush(stdout);
}

static char *
rep(char c, int n)
{
	char *s = malloc((size_t)n + 1);

	memset(s, c, (size_t)n);
	s[n] = '\0';
	return s;
}

static void
fstat_line(const char *what, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		res(what, -1);
		return;
	}
	printf("%s: mode %o size %lld\n", what, st.st_mode & 07777,
	       (long long)st.st_size);
}

static int
posix(void)
{
	static const int lens[] = {254, 255, 256, 259, 260, 300};
	char buf[64];
	int fd, i;

	umask(022);
	res("open noexist", shm_open("/t1", O_RDWR, 0));
	fd = shm_open("/t1", O_RDWR | O_CREAT | O_EXCL, 0640);
	res("create", fd >= 0 ? 0 : -1);
	fstat_line("stat", fd);
	res("ftruncate", ftruncate(fd, 10000));
	fstat_line("stat2", fd);
	close(fd);
	res("excl again", shm_open("t1", O_RDWR | O_CREAT | O_EXCL, 0600));
	fd = shm_open("t1", O_RDWR | O_TRUNC, 0);
	res("trunc", fd >= 0 ? 0 : -1);
	fstat_line("stat3", fd);
	close(fd);
	fd = shm_open("///t1", O_RDONLY, 0);
	res("slashes", fd >= 0 ? 0 : -1);
	res("write rdonly", write(fd, "x", 1));
	close(fd);
	res("empty", shm_open("", O_RDWR | O_CREAT, 0600));
	res("slash only", shm_open("/", O_RDWR | O_CREAT, 0600));
	res("inner slash", shm_open("/a/b", O_RDWR | O_CREAT, 0600));
	res("unlink inner slash", shm_unlink("/a/b"));
	res("unlink empty", shm_unlink(""));
	for (i = 0; i < (int)(sizeof(lens) / sizeof(lens[0])); i++) {
		char *n = rep('n', lens[i]);

		snprintf(buf, sizeof(buf), "len %d", lens[i]);
		fd = shm_open(n, O_RDWR | O_CREAT, 0600);
		res(buf, fd >= 0 ? 0 : -1);
		if (fd >= 0)
			close(fd);
		snprintf(buf, sizeof(buf), "unlink len %d", lens[i]);
		res(buf, shm_unlink(n));
		free(n);
	}
	res("mode 0", (fd = shm_open("m0", O_RDWR | O_CREAT, 0)) >= 0 ? 0 : -1);
	fstat_line("mode0 stat", fd);
	close(fd);
	res("unlink t1", shm_unlink("/t1"));
	res("unlink t1 again", shm_unlink("/t1"));
	res("unlink m0", shm_unlink("m0"));
	res("dir", shm_open("..", O_RDONLY, 0));
	return 0;
}

static int
sem(void)
{
	sem_t *a, *b, *c;
	int v = -1;

	umask(0);
	a = sem_open("/s1", O_CREAT | O_EXCL, 0600, 3);
	resp("create", a);
	b = sem_open("s1", 0);
	resp("open", b);
	printf("same address: %d\n", a == b);
	c = sem_open("/s1", O_CREAT | O_EXCL, 0600, 1);
	resp("excl", c);
	resp("noexist", sem_open("/nothere", 0));
	resp("toobig",
	     sem_open("/big", O_CREAT, 0600, (unsigned)SEM_VALUE_MAX + 1));
	resp("inner slash", sem_open("/a/b", O_CREAT, 0600, 1));
	resp("empty", sem_open("", O_CREAT, 0600, 1));
	resp("len 251", sem_open(rep('q', 251), O_CREAT, 0600, 1));
	resp("len 252", sem_open(rep('r', 252), O_CREAT, 0600, 1));
	resp("len 256", sem_open(rep('s', 256), O_CREAT, 0600, 1));
	res("unlink 251", sem_unlink(rep('q', 251)));
	res("wait", sem_wait(a));
	res("getvalue", sem_getvalue(b, &v));
	printf("value %d\n", v);
	if (fork() == 0) {
		sem_t *s = sem_open("/s1", 0);

		sem_post(s);
		sem_post(s);
		_exit(0);
	}
	wait(NULL);
	sem_getvalue(a, &v);
	printf("value after child %d\n", v);
	res("close a", sem_close(a));
	res("close b", sem_close(b));
	res("unlink", sem_unlink("/s1"));
	res("unlink again", sem_unlink("/s1"));
	res("unlink inner slash", sem_unlink("/a/b"));
	return 0;
}

static void
ds_line(const char *what, int ret, const struct shmid_ds *ds)
{
	if (ret < 0) {
		res(what, -1);
		return;
	}
	printf("%s: %d key %d segsz %zu mode %o nattch %lu uid %u gid %u "
	       "cuid %u cgid %u cpid-me %d lpid-me %d atime %d dtime %d\n",
	       what, ret, ds->shm_perm.__key, ds->shm_segsz, ds->shm_perm.mode,
	       (unsigned long)ds->shm_nattch, ds->shm_perm.uid,
	       ds->shm_perm.gid, ds->shm_perm.cuid, ds->shm_perm.cgid,
	       ds->shm_cpid == getpid(), ds->shm_lpid == getpid(),
	       ds->shm_atime != 0, ds->shm_dtime != 0);
	fflush(stdout);
}

static long nattch_wait(int id, long want);

static int
sysv(void)
{
	struct shmid_ds ds;
	int id, id2, id3, r;
	char *p, *q;

	res("get noexist", shmget(1234, 4096, 0));
	res("get size 0", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	id = shmget(1234, 10000, IPC_CREAT | IPC_EXCL | 0640);
	res("create", id);
	res("excl", shmget(1234, 10000, IPC_CREAT | IPC_EXCL | 0600));
	res("again", shmget(1234, 100, 0));
	res("too big", shmget(1234, 20000, 0));
	res("creat existing", shmget(1234, 5000, IPC_CREAT | 0600));
	id2 = shmget(IPC_PRIVATE, 4096, 0600);
	res("private", id2);
	id3 = shmget(IPC_PRIVATE, 4096, 0400);
	res("private ro", id3);
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat", r, &ds);
	p = shmat(id, NULL, 0);
	resp("attach", p);
	strcpy(p, "sysv hello");
	q = shmat(id, NULL, SHM_RDONLY);
	resp("attach ro", q);
	printf("read back: %s\n", q);
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat attached", r, &ds);
	resp("attach bad id", shmat(id + 1000, NULL, 0));
	resp("attach -1", shmat(-1, NULL, 0));
	resp("attach unaligned", shmat(id, (void *)(p + 1), 0));
	resp("attach remap null", shmat(id, NULL, SHM_REMAP));
	resp("attach overlap", shmat(id, p, 0));
	resp("attach overlap remap", shmat(id, p, SHM_REMAP));
	printf("after remap: %s\n", p);
	resp("attach rnd", shmat(id, p + 1, SHM_RND | SHM_REMAP));
	res("detach", shmdt(p));
	res("detach again", shmdt(p));
	res("detach bad", shmdt((void *)8192));
	nattch_wait(id, 1); /* the detach's release may come a moment late */
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat detached", r, &ds);
	ds.shm_perm.mode = 0604;
	res("set", shmctl(id, IPC_SET, &ds));
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat set", r, &ds);
	ds.shm_perm.uid = (uid_t)-1;
	res("set bad uid", shmctl(id, IPC_SET, &ds));
	res("stat bad", shmctl(id + 7, IPC_STAT, &ds));
	res("bad cmd", shmctl(id, 1234, &ds));
	res("neg id", shmctl(-5, IPC_STAT, &ds));
	r = shmctl(0, SHM_STAT, &ds);
	ds_line("shm_stat 0", r, &ds);
	r = shmctl(1, SHM_STAT_ANY, &ds);
	ds_line("shm_stat_any 1", r, &ds);
	res("shm_stat 99", shmctl(99, SHM_STAT, &ds));
	{
		struct shminfo si;
		struct shm_info sinfo;

		r = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
		printf("ipc_info: %d max %lu min %lu mni %lu seg %lu all %lu\n",
		       r, si.shmmax, si.shmmin, si.shmmni, si.shmseg,
		       si.shmall);
		r = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
		printf("shm_info: %d used %d tot %lu\n", r, sinfo.used_ids,
		       sinfo.shm_tot);
	}
	res("lock", shmctl(id, SHM_LOCK, NULL));
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat locked", r, &ds);
	res("unlock", shmctl(id, SHM_UNLOCK, NULL));
	/* removal while attached */
	p = shmat(id, NULL, 0);
	resp("attach 2", p);
	res("rmid attached", shmctl(id, IPC_RMID, NULL));
	r = shmctl(id, IPC_STAT, &ds);
	ds_line("stat dest", r, &ds);
	res("get after rmid", shmget(1234, 100, 0));
	resp("attach dest", q = shmat(id, NULL, 0));
	res("detach q", shmdt(q));
	printf("still there: %.10s\n", p);
	res("detach last", shmdt(p));
	res("stat gone", shmctl(id, IPC_STAT, &ds));
	res("rmid gone", shmctl(id, IPC_RMID, NULL));
	res("rmid private", shmctl(id2, IPC_RMID, NULL));
	res("rmid private ro", shmctl(id3, IPC_RMID, NULL));
	res("recreate", shmget(1234, 4096, IPC_CREAT | 0600));
	res("new private", shmget(IPC_PRIVATE, 4096, 0600));
	return 0;
}

/* As another user: EACCES and EPERM. */
static int
sysvother(int id)
{
	struct shmid_ds ds;

	resp("attach rw", shmat(id, NULL, 0));
	resp("attach ro", shmat(id, NULL, SHM_RDONLY));
	res("get", shmget(4321, 100, 0));
	res("get ro", shmget(4321, 100, 0444));
	res("get rw", shmget(4321, 100, 0666));
	res("stat", shmctl(id, IPC_STAT, &ds));
	res("stat_any", shmctl(id % 32768, SHM_STAT_ANY, &ds) >= 0 ? 0 : -1);
	res("set", shmctl(id, IPC_SET, &ds));
	res("lock", shmctl(id, SHM_LOCK, NULL));
	res("unlock", shmctl(id, SHM_UNLOCK, NULL));
	res("rmid", shmctl(id, IPC_RMID, NULL));
	return 0;
}

static int
memfd(void)
{
	char buf[16];
	int fd, fd2;
	void *p;

	res("bad flags", memfd_create("x", 0x1000));
	res("exec+noexec", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	res("long name", memfd_create(rep('a', 250), 0));
	fd2 = memfd_create(rep('a', 249), MFD_CLOEXEC);
	res("name 249", fd2 >= 0 ? 0 : -1);
	fd = memfd_create("plain", MFD_EXEC);
	res("plain", fd >= 0 ? 0 : -1);
	printf("cloexec: %d %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC,
	       fcntl(fd2, F_GETFD) & FD_CLOEXEC);
	printf("getfl: %o\n", fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND));
	fstat_line("plain stat", fd);
	res("plain get seals", fcntl(fd, F_GET_SEALS));
	res("plain add seals", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	res("write", write(fd, "hello", 5));
	res("pread", pread(fd, buf, 5, 0));
	close(fd);
	close(fd2);

	fd = memfd_create("sealed", MFD_ALLOW_SEALING | MFD_EXEC);
	res("sealable get", fcntl(fd, F_GET_SEALS));
	res("ftruncate", ftruncate(fd, 8192));
	res("bad seal", fcntl(fd, F_ADD_SEALS, 0x1000));
	res("seal shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	res("shrink", ftruncate(fd, 4096));
	res("grow ok", ftruncate(fd, 12288));
	res("seal grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	res("grow", ftruncate(fd, 16384));
	res("same size", ftruncate(fd, 12288));
	res("write inside", pwrite(fd, "abc", 3, 100));
	res("write past", pwrite(fd, "abc", 3, 12287));
	res("write straddle", pwrite(fd, rep('z', 8192), 8192, 8000));
	res("falloc past", fallocate(fd, 0, 12000, 1000));
	res("falloc keep past",
	    fallocate(fd, FALLOC_FL_KEEP_SIZE, 12000, 1000));
	res("falloc inside", fallocate(fd, 0, 0, 4096));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	resp("map shared rw", p);
	res("seal write mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	munmap(p, 4096);
	res("seal write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	res("get seals", fcntl(fd, F_GET_SEALS));
	res("write sealed", pwrite(fd, "abc", 3, 0));
	res("punch sealed",
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	resp("map shared rw sealed",
	     mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	resp("map shared ro sealed",
	     mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	resp("map private rw sealed",
	     mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
	res("seal seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
	res("seal after seal", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	res("get seals 2", fcntl(fd, F_GET_SEALS));
	close(fd);

	fd = memfd_create("future", MFD_ALLOW_SEALING | MFD_EXEC);
	res("ftruncate f", ftruncate(fd, 4096));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	resp("map before future", p);
	res("seal future", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	res("write future", pwrite(fd, "abc", 3, 0));
	memcpy(p, "old map", 7);
	msync(p, 4096, MS_SYNC);
	res("pread future", pread(fd, buf, 7, 0));
	printf("data: %.7s\n", buf);
	resp("map after future",
	     mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	close(fd);

	fd = memfd_create("noexec", MFD_NOEXEC_SEAL);
	fstat_line("noexec stat", fd);
	res("noexec seals", fcntl(fd, F_GET_SEALS));
	res("noexec chmod", fchmod(fd, 0755));
	res("noexec chmod same", fchmod(fd, 0644));
	close(fd);
	fd = memfd_create("exec", MFD_EXEC | MFD_ALLOW_SEALING);
	res("seal exec", fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC));
	res("exec seals", fcntl(fd, F_GET_SEALS));
	close(fd);
	fd = memfd_create("ro", MFD_ALLOW_SEALING | MFD_EXEC);
	{
		char path[64];
		int ro;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY);
		res("reopen ro", ro >= 0 ? 0 : -1);
		res("seal via ro", fcntl(ro, F_ADD_SEALS, F_SEAL_GROW));
		res("get via ro", fcntl(ro, F_GET_SEALS));
		close(ro);
	}
	close(fd);
	fd = open("/proc/self/exe", O_RDONLY);
	res("seal other fs", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	return 0;
}

static long
nattch_of(int id)
{
	struct shmid_ds ds;
	int i;

	/*
	 * The detach of a process that exited reaches shmemfs a moment
	 * after waitpid() returns (FUSE sends releases in the background):
	 * give it that moment (up to 10 s: a daemon under valgrind on a
	 * busy machine is slow), as a test of an exact count must.
	 */
	for (i = 0; i < 1000; i++) {
		if (shmctl(id, IPC_STAT, &ds) < 0)
			return -1;
		if (getenv("NATTCH_EXPECT") == NULL ||
		    (long)ds.shm_nattch == atol(getenv("NATTCH_EXPECT")))
			break;
		usleep(10000);
	}
	return (long)ds.shm_nattch;
}

static long
nattch_wait(int id, long want)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", want);
	setenv("NATTCH_EXPECT", buf, 1);
	return nattch_of(id);
}

static int
nattch(const char *self)
{
	int id = shmget(IPC_PRIVATE, 65536, 0600);
	int pfd[2];
	pid_t pid;
	char c, *p, *p2;

	p = shmat(id, NULL, 0);
	printf("after attach: %ld\n", nattch_wait(id, 1));
	p2 = shmat(id, NULL, SHM_RDONLY);
	printf("after 2nd attach: %ld\n", nattch_wait(id, 2));
	shmdt(p2);
	printf("after detach: %ld\n", nattch_wait(id, 1));
	if (pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		p[0] = 'c';
		if (write(pfd[1], "x", 1) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(pfd[0], &c, 1) < 0)
		return 1;
	printf("child wrote: %c\n", p[0]);
	printf("with child: %ld\n", nattch_wait(id, 2));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("after kill -9: %ld\n", nattch_wait(id, 1));
	pid = fork();
	if (pid == 0) {
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("after child exit: %ld\n", nattch_wait(id, 1));
	pid = fork();
	if (pid == 0) {
		execl(self, self, "sleep", (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	printf("child exec'd: %ld\n", nattch_wait(id, 1));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	printf("after rmid: %ld\n", nattch_wait(id, 1));
	shmdt(p);
	res("gone", shmctl(id, IPC_STAT, NULL));
	return 0;
}

/* A program that unmaps an attach itself, then maps something else there. */
static int
unmapped(void)
{
	int id = shmget(IPC_PRIVATE, 8192, 0600);
	char *p = shmat(id, NULL, 0), *q;
	pid_t pid;
	int st;

	p[0] = 's';
	printf("attached: %ld\n", nattch_wait(id, 1));
	res("munmap", munmap(p, 8192));
	printf("after munmap: %ld\n", nattch_wait(id, 0));
	q = mmap(p, 8192, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	resp("anon over it", q);
	q[0] = 'a';
	pid = fork();
	if (pid == 0)
		_exit(q[0] == 'a' ? 0 : 1);
	waitpid(pid, &st, 0);
	printf("child saw its own memory: %d\n", WEXITSTATUS(st) == 0);
	printf("after fork: %ld\n", nattch_wait(id, 0));
	res("shmdt unmapped", shmdt(p));
	printf("still anon: %c\n", q[0]);
	res("rmid", shmctl(id, IPC_RMID, NULL));
	return 0;
}

/* Threads attaching, detaching, opening and closing at once. */
static void *
thread_body(void *arg)
{
	int id = *(int *)arg, i;

	for (i = 0; i < 200; i++) {
		char *p = shmat(id, NULL, 0);
		sem_t *s = sem_open("/thr", O_CREAT, 0600, 1);

		if (p == (void *)-1 || s == SEM_FAILED)
			return (void *)1;
		p[i] = 1;
		sem_wait(s);
		sem_post(s);
		if (shmdt(p) < 0 || sem_close(s) < 0)
			return (void *)1;
	}
	return NULL;
}

static int
threads(void)
{
	int id = shmget(IPC_PRIVATE, 65536, 0600), i, bad = 0;
	pthread_t t[4];

	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_body, &id);
	for (i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	printf("threads failed: %d\n", bad);
	printf("nattch: %ld\n", nattch_wait(id, 0));
	res("rmid", shmctl(id, IPC_RMID, NULL));
	res("sem_unlink", sem_unlink("/thr"));
	return 0;
}

/* Many processes race IPC_CREAT|IPC_EXCL on one key: one wins. */
static int
race(int key)
{
	int i, n = 8, wins = 0, st;
	int pfd[2];

	if (pipe(pfd) < 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (fork() == 0) {
			int r = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
			char c = r >= 0 ? 'W' : (errno == EEXIST ? 'E' : '?');

			if (write(pfd[1], &c, 1) < 0)
				_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < n; i++) {
		char c;

		if (read(pfd[0], &c, 1) == 1 && c == 'W')
			wins++;
		else if (c == '?')
			printf("unexpected\n");
	}
	while (wait(&st) > 0)
		;
	printf("winners: %d\n", wins);
	shmctl(shmget(key, 0, 0), IPC_RMID, NULL);
	return 0;
}

/* shmmax=8192, shmall=4 pages, shmmni=3 (the test sets them). */
static int
limits(void)
{
	res("over shmmax", shmget(IPC_PRIVATE, 8193, 0600) >= 0 ? 0 : -1);
	res("shmmax", shmget(IPC_PRIVATE, 8192, 0600) >= 0 ? 0 : -1);
	res("one page", shmget(IPC_PRIVATE, 4096, 0600) >= 0 ? 0 : -1);
	res("over shmall", shmget(IPC_PRIVATE, 8192, 0600) >= 0 ? 0 : -1);
	res("to shmall", shmget(IPC_PRIVATE, 4096, 0600) >= 0 ? 0 : -1);
	res("over shmmni", shmget(IPC_PRIVATE, 1, 0600) >= 0 ? 0 : -1);
	res("existing key", shmget(55, 1, IPC_CREAT | 0600) >= 0 ? 0 : -1);
	return 0;
}

/* fill KEY SIZE [lock]: a segment written through (and synced). */
static int
fill(int key, size_t size, int lock)
{
	int id = shmget(key, size, IPC_CREAT | 0600);
	char *p;

	if (id < 0 || (lock && shmctl(id, SHM_LOCK, NULL) < 0)) {
		perror("shmget/SHM_LOCK");
		return 1;
	}
	p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		perror("shmat");
		return 1;
	}
	for (size_t i = 0; i < size; i++)
		p[i] = (char)('a' + i % 26);
	if (msync(p, size, MS_SYNC) < 0) {
		perror("msync");
		return 1;
	}
	shmdt(p);
	printf("%d\n", id);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "posix"))
		return posix();
	if (!strcmp(argv[1], "sem"))
		return sem();
	if (!strcmp(argv[1], "sysv"))
		return sysv();
	if (!strcmp(argv[1], "sysvother") && argc > 2)
		return sysvother(atoi(argv[2]));
	if (!strcmp(argv[1], "memfd"))
		return memfd();
	if (!strcmp(argv[1], "nattch"))
		return nattch(argv[0]);
	if (!strcmp(argv[1], "race") && argc > 2)
		return race(atoi(argv[2]));
	if (!strcmp(argv[1], "threads"))
		return threads();
	if (!strcmp(argv[1], "unmapped"))
		return unmapped();
	if (!strcmp(argv[1], "limits"))
		return limits();
	if (!strcmp(argv[1], "fill") && argc > 3)
		return fill(atoi(argv[2]), (size_t)atol(argv[3]),
			    argc > 4 && !strcmp(argv[4], "lock"));
	if (!strcmp(argv[1], "sleep")) {
		sleep(30);
		return 0;
	}
	if (!strcmp(argv[1], "mkseg") && argc > 2) {
		/* mkseg KEY MODE SIZE: prints the id */
		int id = shmget(atoi(argv[2]), argc > 4 ? atol(argv[4]) : 4096,
				IPC_CREAT | (int)strtol(argv[3], NULL, 8));
		printf("%d\n", id);
		return id < 0;
	}
	return 2;
}
