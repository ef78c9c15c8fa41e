/* SPDX-License-Identifier: MIT */
/*
 * fuzz_options.c - libFuzzer target: shmemfs_opts_parse() on any string.
 *
 * The first input byte picks how the parser is called; the rest, cut at
 * its first NUL, is the option string:
 *   bit 0     an @unknown buffer (else NULL: unknown options are -ENOENT)
 *   bits 1-2  its size: 1, 8, 64 or 4096 bytes
 *   bit 3     no @err buffer
 *   bits 4-5  @err size: 0, 1, 16 or 256 bytes
 *   bit 6     the @unknown buffer already holds "pre=1"
 *   bit 7     the opts already hold a swap path and size from an earlier
 *             parse, which a failed parse must leave alone
 *
 * Checked: no crash or leak (shmemfs_opts_free() always runs); the return
 * is 0 or one of the documented errors; on failure the opts and the
 * @unknown buffer are as they were and @err is one non-empty line; on
 * success every value is in range, @err is empty, and @unknown holds
 * exactly the items of the string this library does not know, in order,
 * after what was there.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmemfs.h"

#define FZ_MAXSTR 4096

static const char *const known[] = {
	"size", "nr_blocks", "nr_inodes", "mode", "uid", "gid", "huge",
	"noswap", "ramfs", "mem", "swap", "swapsize",
};

static void __attribute__((noreturn, format(printf, 1, 2)))
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_options: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static bool
is_known(const char *item, size_t len)
{
	size_t i, n = strcspn(item, "=");

	if (n > len)
		n = len;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i]) == n && !strncmp(item, known[i], n))
			return true;
	return false;
}

/*
 * What the parser should append to @unknown: the items it does not know,
 * comma-separated, empty items skipped.
 */
static void
expected_unknown(const char *s, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	while (*s) {
		size_t len = strcspn(s, ",");

		if (len && !is_known(s, len)) {
			if (used + len + 2 > outlen)
				return;
			if (used)
				out[used++] = ',';
			memcpy(out + used, s, len);
			used += len;
			out[used] = '\0';
		}
		s += len;
		if (*s == ',')
			s++;
	}
}

static void
check_line(const char *err, size_t err_len, int ret)
{
	size_t n = strnlen(err, err_len);

	if (n == err_len)
		fz_fail("error %d: message not NUL-terminated", ret);
	if (err_len > 1 && n == 0)
		fz_fail("error %d: empty message", ret);
	if (strpbrk(err, "\n\r"))
		fz_fail("error %d: message is not one line: \"%s\"", ret, err);
}

static void
check_values(const struct shmemfs_opts *o)
{
	if (o->so_mode & ~07777u)
		fz_fail("mode %o out of range", (unsigned)o->so_mode);
	if (o->so_uid == (uid_t)-1 || o->so_gid == (gid_t)-1)
		fz_fail("uid or gid -1 accepted");
	if (o->so_max_inodes > UINT64_MAX / 1024)
		fz_fail("nr_inodes %llu out of range",
			(unsigned long long)o->so_max_inodes);
	if (o->so_max_blocks > (uint64_t)INT64_MAX)
		fz_fail("blocks %llu out of range",
			(unsigned long long)o->so_max_blocks);
	if ((unsigned)o->so_huge > SHMEMFS_HUGE_ADVISE)
		fz_fail("huge %d out of range", (int)o->so_huge);
	if (o->so_swap_path &&
	    (o->so_swap_path[0] != '/' || strlen(o->so_swap_path) >= PATH_MAX))
		fz_fail("swap path \"%s\" accepted", o->so_swap_path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t ulens[] = {1, 8, 64, 4096};
	static const size_t elens[] = {0, 1, 16, 256};
	static char str[FZ_MAXSTR + 1], want[2 * FZ_MAXSTR + 16];
	static char unknown[4096], before_unknown[4096], err[256];
	struct shmemfs_opts o, before;
	char *up = NULL, *ep = NULL;
	size_t ulen = 0, elen = 0, n, start = 0;
	uint8_t mode;
	int ret;

	if (size < 1)
		return 0;
	mode = data[0];
	n = size - 1 < FZ_MAXSTR ? size - 1 : FZ_MAXSTR;
	memcpy(str, data + 1, n);
	str[n] = '\0';

	if (mode & 1) {
		ulen = ulens[(mode >> 1) & 3];
		up = unknown;
		memset(unknown, 'U', sizeof(unknown));
		unknown[0] = '\0';
		if ((mode & 0x40) && ulen > 6) {
			strcpy(unknown, "pre=1");
			start = 5;
		}
		memcpy(before_unknown, unknown, sizeof(unknown));
	}
	if (!(mode & 8)) {
		elen = elens[(mode >> 4) & 3];
		ep = err;
		memset(err, 'E', sizeof(err));
	}

	shmemfs_opts_init(&o);
	if (mode & 0x80) {
		ret = shmemfs_opts_parse(&o, "swap=/base/swap,size=1m,mode=700",
					 NULL, 0, NULL, 0);
		if (ret)
			fz_fail("base options: %d", ret);
	}
	before = o;
	ret = shmemfs_opts_parse(&o, str, up, ulen, ep, elen);

	switch (ret) {
	case 0:
	case -EINVAL:
	case -ENOMEM:
		break;
	case -ENOENT:
		if (up)
			fz_fail("-ENOENT with an unknown buffer");
		break;
	case -E2BIG:
		if (!up)
			fz_fail("-E2BIG without an unknown buffer");
		break;
	default:
		fz_fail("unexpected return %d", ret);
	}

	if (ret) {
		if (memcmp(&o, &before, sizeof(o)))
			fz_fail("failed parse (%d) changed the opts", ret);
		if (up && (strnlen(unknown, ulen) != start ||
			   memcmp(unknown, before_unknown, start)))
			fz_fail("failed parse (%d) changed the unknown buffer",
				ret);
		if (ep && elen)
			check_line(err, elen, ret);
	} else {
		check_values(&o);
		if (ep && elen && err[0])
			fz_fail("success, yet an error message: %.*s",
				(int)elen, err);
		if (up) {
			const char *got = unknown + start;

			if (strnlen(unknown, ulen) == ulen)
				fz_fail("unknown buffer not NUL-terminated");
			if (memcmp(unknown, before_unknown, start))
				fz_fail("unknown buffer: old contents changed");
			if (start && *got) {
				if (*got != ',')
					fz_fail("unknown buffer: no comma "
						"after old contents");
				got++;
			}
			expected_unknown(str, want, sizeof(want));
			if (strcmp(got, want))
				fz_fail("unknown buffer \"%s\", expected "
					"\"%s\"", got, want);
		}
		if (!(mode & 0x80) && !up && !strchr(str, '%')) {
			/* Parsing is a function of the string alone. */
			struct shmemfs_opts again;

			shmemfs_opts_init(&again);
			if (shmemfs_opts_parse(&again, str, NULL, 0, NULL, 0))
				fz_fail("a second parse failed");
			if (again.so_max_blocks != o.so_max_blocks ||
			    again.so_max_inodes != o.so_max_inodes ||
			    again.so_mode != o.so_mode ||
			    again.so_uid != o.so_uid ||
			    again.so_huge != o.so_huge ||
			    !again.so_swap_path != !o.so_swap_path)
				fz_fail("a second parse differs");
			shmemfs_opts_free(&again);
		}
	}
	shmemfs_opts_free(&o);
	if (o.so_swap_path)
		fz_fail("shmemfs_opts_free left the swap path");
	return 0;
}
