/* SPDX-License-Identifier: MIT */
/*
 * bdi.c - lift FUSE's write-back throttling from our own mount.
 *
 * The kernel gives every FUSE mount a backing device with max_ratio 1%
 * and strict_limit on, so that an untrusted daemon cannot pin much dirty
 * memory: a process storing into a shared mapping of a FUSE file is
 * throttled as soon as its dirty pages pass that 1% share.  For a
 * memory file system this turns a shared-memory segment into a crawl
 * (random stores into a 256 MiB segment ran at 0.15 M/s against 34 M/s
 * on kernel SysV shm; bench/shm.sh).  Our daemon keeps everything in
 * memory and answers write-back at memory speed, so, as root, it puts
 * its own mount's backing device under the kernel's ordinary dirty
 * limits, like any local file system's (max_ratio 100, strict_limit 0).
 * Without root the files are not writable and nothing changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void
bdi_unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

static void
bdi_write(const char *dev, const char *file, const char *value)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/%s", dev, file);
	f = fopen(path, "we");
	if (!f)
		return;
	fputs(value, f);
	fclose(f); /* a refusal changes nothing: the kernel's limits stay */
}

void
sd_bdi_relax(const char *mountpoint)
{
	char line[4096], dev[64] = "", *real;
	FILE *f;

	real = realpath(mountpoint, NULL);
	f = fopen("/proc/self/mountinfo", "re");
	if (!real || !f)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char mdev[64], mnt[4096];

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		if (sscanf(line, "%*d %*d %63s %*s %4095s", mdev, mnt) != 2)
			continue;
		bdi_unescape(mnt);
		if (!strcmp(mnt, real) && strstr(line, " - fuse"))
			strcpy(dev, mdev); /* the last one is on top */
	}
	if (dev[0]) {
		bdi_write(dev, "max_ratio", "100");
		bdi_write(dev, "strict_limit", "0");
	}
out:
	if (f)
		fclose(f);
	free(real);
}
