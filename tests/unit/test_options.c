/* SPDX-License-Identifier: MIT */
/*
 * test_options.c - shmemfs_opts_init/parse/free against the tmpfs rules.
 *
 * Percentages are checked against a separate computation of RAM size
 * (128-bit arithmetic here, overflow-checked pieces in options.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmemfs.h"

#define PAGE SHMEMFS_PAGE_SIZE

static uint64_t
ram_bytes(void)
{
	return (uint64_t)sysconf(_SC_PHYS_PAGES) *
	       (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Pages for pct% of RAM, as the kernel computes it: floor, then ceil. */
static uint64_t
pct_pages(uint64_t pct)
{
	unsigned __int128 b = (unsigned __int128)pct * ram_bytes() / 100;

	return (uint64_t)((b + PAGE - 1) / PAGE);
}

static uint64_t
pct_bytes(uint64_t pct)
{
	return (uint64_t)((unsigned __int128)pct * ram_bytes() / 100);
}

/* Field by field: struct copies need not preserve padding. */
static void
assert_opts_equal(const struct shmemfs_opts *a, const struct shmemfs_opts *b)
{
	assert_int_equal(a->so_max_blocks, b->so_max_blocks);
	assert_int_equal(a->so_max_inodes, b->so_max_inodes);
	assert_int_equal(a->so_mem_bytes, b->so_mem_bytes);
	assert_int_equal(a->so_swap_bytes, b->so_swap_bytes);
	assert_ptr_equal(a->so_swap_path, b->so_swap_path);
	assert_int_equal(a->so_mode, b->so_mode);
	assert_int_equal(a->so_uid, b->so_uid);
	assert_int_equal(a->so_gid, b->so_gid);
	assert_int_equal(a->so_huge, b->so_huge);
	assert_int_equal(a->so_noswap, b->so_noswap);
	assert_int_equal(a->so_ramfs, b->so_ramfs);
}

static int
setup(void **state)
{
	struct shmemfs_opts *o = calloc(1, sizeof(*o));

	if (!o)
		return -1;
	shmemfs_opts_init(o);
	*state = o;
	return 0;
}

static int
teardown(void **state)
{
	struct shmemfs_opts *o = *state;

	shmemfs_opts_free(o);
	free(o);
	return 0;
}

/* Parse with no unknown buffer; the error text goes to @err. */
static int
parse(struct shmemfs_opts *o, const char *s, char *err, size_t err_len)
{
	return shmemfs_opts_parse(o, s, NULL, 0, err, err_len);
}

static void
parse_ok(struct shmemfs_opts *o, const char *s)
{
	char err[256] = "untouched";
	int ret = parse(o, s, err, sizeof(err));

	if (ret)
		fail_msg("'%s': %d (%s)", s, ret, err);
	assert_string_equal(err, ""); /* cleared on success */
}

/*
 * @s must fail with -EINVAL, name @name and quote @value in the message,
 * and leave @o exactly as it was.
 */
static void
parse_bad(struct shmemfs_opts *o, const char *s, const char *name,
	  const char *value)
{
	struct shmemfs_opts before = *o;
	char err[256] = "";
	char quoted[160];
	int ret;

	ret = parse(o, s, err, sizeof(err));
	if (ret != -EINVAL)
		fail_msg("'%s': expected -EINVAL, got %d", s, ret);
	if (!strstr(err, name))
		fail_msg("'%s': message does not name '%s': %s", s, name, err);
	if (value) {
		snprintf(quoted, sizeof(quoted), "'%s'", value);
		if (!strstr(err, quoted))
			fail_msg("'%s': message does not quote %s: %s", s,
				 quoted, err);
	}
	if (strchr(err, '\n'))
		fail_msg("'%s': message is not one line", s);
	assert_opts_equal(&before, o);
}

static void
test_defaults(void **state)
{
	struct shmemfs_opts *o = *state;
	uint64_t pages = (uint64_t)sysconf(_SC_PHYS_PAGES);

	assert_int_equal(o->so_max_blocks, ram_bytes() / 2 / PAGE);
	assert_true(o->so_max_blocks > 0);
	assert_int_equal(o->so_max_inodes, pages / 2);
	assert_int_equal(o->so_mem_bytes, 0);
	assert_int_equal(o->so_swap_bytes, 0);
	assert_null(o->so_swap_path);
	assert_int_equal(o->so_mode, 01777);
	assert_int_equal(o->so_uid, geteuid());
	assert_int_equal(o->so_gid, getegid());
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_NEVER);
	assert_int_equal(o->so_noswap, 0);
	assert_int_equal(o->so_ramfs, 0);
}

static void
test_size_bytes_round_up(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "size=1");
	assert_int_equal(o->so_max_blocks, 1);
	parse_ok(o, "size=4096");
	assert_int_equal(o->so_max_blocks, 1);
	parse_ok(o, "size=4097");
	assert_int_equal(o->so_max_blocks, 2);
	parse_ok(o, "size=8191");
	assert_int_equal(o->so_max_blocks, 2);
	parse_ok(o, "size=0");
	assert_int_equal(o->so_max_blocks, 0);    /* unlimited */
	parse_ok(o, "size=18446744073709551615");
	assert_int_equal(o->so_max_blocks, 1ULL << 52);
}

static void
test_size_suffixes(void **state)
{
	struct shmemfs_opts *o = *state;
	static const struct {
		const char *s;
		uint64_t pages;
	} cases[] = {
		{ "size=1k", 1 },
		{ "size=4k", 1 },
		{ "size=5K", 2 },
		{ "size=1m", 256 },
		{ "size=1M", 256 },
		{ "size=3g", 3ULL << 18 },
		{ "size=3G", 3ULL << 18 },
		{ "size=2t", 2ULL << 28 },
		{ "size=2T", 2ULL << 28 },
		{ "size=1p", 1ULL << 38 },
		{ "size=1P", 1ULL << 38 },
		{ "size=1e", 1ULL << 48 },
		{ "size=15E", 15ULL << 48 },
		{ "size=0g", 0 },
		/* memparse() detects the base, as the kernel's does. */
		{ "size=0x2000", 2 },
		{ "size=0X1000", 1 },
		{ "size=020000", 2 },
		{ "size=0x1k", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_ok(o, cases[i].s);
		if (o->so_max_blocks != cases[i].pages)
			fail_msg("%s: %llu pages, want %llu", cases[i].s,
				 (unsigned long long)o->so_max_blocks,
				 (unsigned long long)cases[i].pages);
	}
}

static void
test_size_percent(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "size=50%");
	assert_int_equal(o->so_max_blocks, pct_pages(50));
	assert_true(o->so_max_blocks > 0);
	parse_ok(o, "size=1%");
	assert_int_equal(o->so_max_blocks, pct_pages(1));
	parse_ok(o, "size=100%");
	assert_int_equal(o->so_max_blocks, pct_pages(100));
	parse_ok(o, "size=0%");
	assert_int_equal(o->so_max_blocks, 0);
	/* tmpfs takes any percentage, more than 100 too. */
	parse_ok(o, "size=250%");
	assert_int_equal(o->so_max_blocks, pct_pages(250));
	parse_ok(o, "size=12345%");
	assert_int_equal(o->so_max_blocks, pct_pages(12345));
	/* The suffix applies before '%', as in shmem_parse_one(). */
	parse_ok(o, "size=1k%");
	assert_int_equal(o->so_max_blocks, pct_pages(1024));
}

static void
test_size_bad(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_bad(o, "size=-1", "size", "-1");
	parse_bad(o, "size=+1", "size", "+1");
	parse_bad(o, "size=", "size", "");
	parse_bad(o, "size=1x", "size", "1x");
	parse_bad(o, "size=1kk", "size", "1kk");
	parse_bad(o, "size=1kb", "size", "1kb");
	parse_bad(o, "size= 1", "size", " 1");
	parse_bad(o, "size=1 ", "size", "1 ");
	parse_bad(o, "size=k", "size", "k");
	parse_bad(o, "size=%", "size", "%");
	parse_bad(o, "size=1%%", "size", "1%%");
	parse_bad(o, "size=1%k", "size", "1%k");
	parse_bad(o, "size=0x", "size", "0x");
	parse_bad(o, "size=08", "size", "08");
	parse_bad(o, "size=1.5g", "size", "1.5g");
	parse_bad(o, "size=abc", "size", "abc");
	/* Overflow is refused, never wrapped. */
	parse_bad(o, "size=99999999999g", "size", "99999999999g");
	parse_bad(o, "size=16e", "size", "16e");
	parse_bad(o, "size=16384p", "size", "16384p");
	parse_bad(o, "size=18446744073709551616", "size",
		  "18446744073709551616");
	parse_bad(o, "size=99999999999999999999999", "size",
		  "99999999999999999999999");
	parse_bad(o, "size=18446744073709551615%", "size",
		  "18446744073709551615%");
	parse_bad(o, "size=1e%", "size", "1e%");
	/* No value at all. */
	parse_bad(o, "size", "size", NULL);
}

static void
test_nr_blocks(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "nr_blocks=100");
	assert_int_equal(o->so_max_blocks, 100);
	parse_ok(o, "nr_blocks=1k");
	assert_int_equal(o->so_max_blocks, 1024);
	parse_ok(o, "nr_blocks=2M");
	assert_int_equal(o->so_max_blocks, 2 << 20);
	parse_ok(o, "nr_blocks=0");
	assert_int_equal(o->so_max_blocks, 0);
	parse_ok(o, "nr_blocks=9223372036854775807");
	assert_int_equal(o->so_max_blocks, INT64_MAX);
	parse_ok(o, "nr_blocks=7e");
	assert_int_equal(o->so_max_blocks, 7ULL << 60);

	/* tmpfs: nr_blocks above LONG_MAX is a bad value. */
	parse_bad(o, "nr_blocks=9223372036854775808", "nr_blocks",
		  "9223372036854775808");
	parse_bad(o, "nr_blocks=8e", "nr_blocks", "8e");
	parse_bad(o, "nr_blocks=50%", "nr_blocks", "50%");
	parse_bad(o, "nr_blocks=-5", "nr_blocks", "-5");
	parse_bad(o, "nr_blocks=", "nr_blocks", "");
	parse_bad(o, "nr_blocks", "nr_blocks", NULL);
}

static void
test_size_and_nr_blocks_last_wins(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "size=1m,nr_blocks=10");
	assert_int_equal(o->so_max_blocks, 10);
	parse_ok(o, "nr_blocks=10,size=1m");
	assert_int_equal(o->so_max_blocks, 256);
}

static void
test_nr_inodes(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "nr_inodes=12");
	assert_int_equal(o->so_max_inodes, 12);
	parse_ok(o, "nr_inodes=1k");
	assert_int_equal(o->so_max_inodes, 1024);
	parse_ok(o, "nr_inodes=3m");
	assert_int_equal(o->so_max_inodes, 3 << 20);
	parse_ok(o, "nr_inodes=0");
	assert_int_equal(o->so_max_inodes, 0);    /* unlimited */
	/* tmpfs: at most ULONG_MAX / BOGO_INODE_SIZE. */
	parse_ok(o, "nr_inodes=18014398509481983");
	assert_int_equal(o->so_max_inodes, (1ULL << 54) - 1);

	parse_bad(o, "nr_inodes=18014398509481984", "nr_inodes",
		  "18014398509481984");
	parse_bad(o, "nr_inodes=16p", "nr_inodes", "16p");
	parse_bad(o, "nr_inodes=12q", "nr_inodes", "12q");
	parse_bad(o, "nr_inodes=-1", "nr_inodes", "-1");
	parse_bad(o, "nr_inodes=10%", "nr_inodes", "10%");
	parse_bad(o, "nr_inodes=", "nr_inodes", "");
	parse_bad(o, "nr_inodes", "nr_inodes", NULL);
}

static void
test_mode(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "mode=700");
	assert_int_equal(o->so_mode, 0700);
	parse_ok(o, "mode=0755");
	assert_int_equal(o->so_mode, 0755);
	parse_ok(o, "mode=1777");
	assert_int_equal(o->so_mode, 01777);
	parse_ok(o, "mode=0");
	assert_int_equal(o->so_mode, 0);
	parse_ok(o, "mode=+750");
	assert_int_equal(o->so_mode, 0750);
	/* Masked to 07777, like tmpfs: no way to smuggle in S_IFMT bits. */
	parse_ok(o, "mode=177777");
	assert_int_equal(o->so_mode, 07777);
	parse_ok(o, "mode=40700");
	assert_int_equal(o->so_mode, 0700);

	parse_bad(o, "mode=8", "mode", "8");
	parse_bad(o, "mode=779", "mode", "779");
	parse_bad(o, "mode=7a", "mode", "7a");
	parse_bad(o, "mode=0x1ff", "mode", "0x1ff");
	parse_bad(o, "mode=-1", "mode", "-1");
	parse_bad(o, "mode=rwx", "mode", "rwx");
	parse_bad(o, "mode=", "mode", "");
	parse_bad(o, "mode=40000000000", "mode", "40000000000");
	parse_bad(o, "mode", "mode", NULL);
}

static void
test_uid_gid(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "uid=1000,gid=100");
	assert_int_equal(o->so_uid, 1000);
	assert_int_equal(o->so_gid, 100);
	parse_ok(o, "uid=0,gid=0");
	assert_int_equal(o->so_uid, 0);
	assert_int_equal(o->so_gid, 0);
	parse_ok(o, "uid=4294967294,gid=4294967294");
	assert_int_equal(o->so_uid, 4294967294u);
	assert_int_equal(o->so_gid, 4294967294u);
	parse_ok(o, "uid=+7,gid=+8");
	assert_int_equal(o->so_uid, 7);
	assert_int_equal(o->so_gid, 8);
	/* fsparam_u32 detects the base, so these are tmpfs's readings. */
	parse_ok(o, "uid=0x10,gid=010");
	assert_int_equal(o->so_uid, 16);
	assert_int_equal(o->so_gid, 8);

	parse_bad(o, "uid=-1", "uid", "-1");
	parse_bad(o, "gid=-1", "gid", "-1");
	parse_bad(o, "uid=4294967295", "uid", "4294967295");
	parse_bad(o, "gid=4294967295", "gid", "4294967295");
	parse_bad(o, "uid=4294967296", "uid", "4294967296");
	parse_bad(o, "gid=99999999999999999999", "gid",
		  "99999999999999999999");
	parse_bad(o, "uid=root", "uid", "root");
	parse_bad(o, "uid=12a", "uid", "12a");
	parse_bad(o, "gid=1k", "gid", "1k");
	parse_bad(o, "uid=", "uid", "");
	parse_bad(o, "gid=", "gid", "");
	parse_bad(o, "uid", "uid", NULL);
	parse_bad(o, "gid", "gid", NULL);
}

static void
test_huge(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "huge=always");
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_ALWAYS);
	parse_ok(o, "huge=within_size");
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_WITHIN_SIZE);
	parse_ok(o, "huge=advise");
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_ADVISE);
	parse_ok(o, "huge=never");
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_NEVER);

	/* deny and force exist only in sysfs, not as mount options. */
	parse_bad(o, "huge=deny", "huge", "deny");
	parse_bad(o, "huge=force", "huge", "force");
	parse_bad(o, "huge=maybe", "huge", "maybe");
	parse_bad(o, "huge=Always", "huge", "Always");
	parse_bad(o, "huge=always ", "huge", "always ");
	parse_bad(o, "huge=1", "huge", "1");
	parse_bad(o, "huge=", "huge", "");
	parse_bad(o, "huge", "huge", NULL);
}

static void
test_flags(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "noswap");
	assert_int_equal(o->so_noswap, 1);
	assert_int_equal(o->so_ramfs, 0);
	parse_ok(o, "ramfs");
	assert_int_equal(o->so_ramfs, 1);

	parse_bad(o, "noswap=1", "noswap", "1");
	parse_bad(o, "noswap=", "noswap", NULL);
	parse_bad(o, "ramfs=1", "ramfs", "1");
	parse_bad(o, "ramfs=", "ramfs", NULL);
}

/* ramfs keeps the limits; the core ignores them while so_ramfs is set. */
static void
test_ramfs_any_order(void **state)
{
	struct shmemfs_opts *o = *state;
	struct shmemfs_opts b;

	parse_ok(o, "ramfs,size=1m,nr_inodes=10");
	assert_int_equal(o->so_ramfs, 1);
	assert_int_equal(o->so_max_blocks, 256);
	assert_int_equal(o->so_max_inodes, 10);

	shmemfs_opts_init(&b);
	assert_int_equal(shmemfs_opts_parse(&b, "size=1m,nr_inodes=10,ramfs",
					    NULL, 0, NULL, 0), 0);
	assert_int_equal(b.so_ramfs, 1);
	assert_int_equal(b.so_max_blocks, 256);
	assert_int_equal(b.so_max_inodes, 10);
	/* A later call cannot turn it off either: there is no "noramfs". */
	assert_int_equal(shmemfs_opts_parse(&b, "size=2m", NULL, 0, NULL, 0),
			 0);
	assert_int_equal(b.so_ramfs, 1);
	shmemfs_opts_free(&b);
}

static void
test_mem(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "mem=1g");
	assert_int_equal(o->so_mem_bytes, 1ULL << 30);
	parse_ok(o, "mem=12345");
	assert_int_equal(o->so_mem_bytes, 12345);  /* bytes, not rounded */
	parse_ok(o, "mem=25%");
	assert_int_equal(o->so_mem_bytes, pct_bytes(25));
	parse_ok(o, "mem=0");
	assert_int_equal(o->so_mem_bytes, 0);
	parse_ok(o, "mem=64K");
	assert_int_equal(o->so_mem_bytes, 65536);

	parse_bad(o, "mem=1x", "mem", "1x");
	parse_bad(o, "mem=-1m", "mem", "-1m");
	parse_bad(o, "mem=17e", "mem", "17e");
	parse_bad(o, "mem=", "mem", "");
	parse_bad(o, "mem", "mem", NULL);
}

static void
test_swap(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "swap=/var/tmp/shmemfs.swap,swapsize=1g");
	assert_non_null(o->so_swap_path);
	assert_string_equal(o->so_swap_path, "/var/tmp/shmemfs.swap");
	assert_int_equal(o->so_swap_bytes, 1ULL << 30);
	/* Last one wins, within a string and across calls (ASan: no leak). */
	parse_ok(o, "swap=/a,swap=/b");
	assert_string_equal(o->so_swap_path, "/b");
	parse_ok(o, "swap=/c");
	assert_string_equal(o->so_swap_path, "/c");
	parse_ok(o, "swapsize=12345");
	assert_int_equal(o->so_swap_bytes, 12345);
	parse_ok(o, "swapsize=0x10M");
	assert_int_equal(o->so_swap_bytes, 16ULL << 20);
	/* The path is everything after the first '='. */
	parse_ok(o, "swap=/x=y");
	assert_string_equal(o->so_swap_path, "/x=y");

	parse_bad(o, "swap=", "swap", "");
	parse_bad(o, "swap=relative/file", "swap", "relative/file");
	parse_bad(o, "swap=./file", "swap", "./file");
	parse_bad(o, "swap", "swap", NULL);
	parse_bad(o, "swapsize=1%", "swapsize", "1%");
	parse_bad(o, "swapsize=-1", "swapsize", "-1");
	parse_bad(o, "swapsize=1q", "swapsize", "1q");
	parse_bad(o, "swapsize=", "swapsize", "");
	parse_bad(o, "swapsize=20e", "swapsize", "20e");
	assert_string_equal(o->so_swap_path, "/x=y");
}

static void
test_swap_path_too_long(void **state)
{
	struct shmemfs_opts *o = *state;
	char *s = malloc(8192);

	assert_non_null(s);
	strcpy(s, "swap=/");
	memset(s + 6, 'a', 8000);
	s[8006] = '\0';
	assert_int_equal(parse(o, s, NULL, 0), -EINVAL);
	assert_null(o->so_swap_path);
	free(s);
}

/* A failure late in a string undoes the earlier items of that string. */
static void
test_failure_is_atomic(void **state)
{
	struct shmemfs_opts *o = *state;
	char unk[64] = "allow_other";

	parse_ok(o, "swap=/keep,size=1m");
	parse_bad(o, "size=2m,swap=/new,mode=700,uid=x", "uid", "x");
	assert_int_equal(o->so_max_blocks, 256);
	assert_string_equal(o->so_swap_path, "/keep");
	assert_int_equal(o->so_mode, 01777);

	/* Unknown options passed on before the failure are taken back. */
	assert_int_equal(shmemfs_opts_parse(o, "fsname=x,size=-1,ro", unk,
					    sizeof(unk), NULL, 0),
			 -EINVAL);
	assert_string_equal(unk, "allow_other");
	assert_int_equal(o->so_max_blocks, 256);
}

static void
test_repeated_last_wins(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "size=1m,size=2m,mode=700,mode=755,huge=always,huge=never,"
		    "uid=1,uid=2,nr_inodes=5,nr_inodes=6,mem=1k,mem=2k");
	assert_int_equal(o->so_max_blocks, 512);
	assert_int_equal(o->so_mode, 0755);
	assert_int_equal(o->so_huge, SHMEMFS_HUGE_NEVER);
	assert_int_equal(o->so_uid, 2);
	assert_int_equal(o->so_max_inodes, 6);
	assert_int_equal(o->so_mem_bytes, 2048);
	/* And across calls: each -o adds to what came before. */
	parse_ok(o, "size=3m");
	assert_int_equal(o->so_max_blocks, 768);
	assert_int_equal(o->so_mode, 0755);
}

static void
test_empty_items(void **state)
{
	struct shmemfs_opts *o = *state;
	struct shmemfs_opts before = *o;
	char unk[32] = "";

	parse_ok(o, "");
	parse_ok(o, ",");
	parse_ok(o, ",,,");
	assert_opts_equal(&before, o);
	parse_ok(o, ",,size=1m,,mode=700,");
	assert_int_equal(o->so_max_blocks, 256);
	assert_int_equal(o->so_mode, 0700);
	assert_int_equal(shmemfs_opts_parse(o, ",,ro,,", unk, sizeof(unk),
					    NULL, 0), 0);
	assert_string_equal(unk, "ro");
}

static void
test_unknown_passthrough(void **state)
{
	struct shmemfs_opts *o = *state;
	char unk[128] = "";
	char err[128];
	int ret;

	ret = shmemfs_opts_parse(o, "allow_other,size=1m,fsname=x,"
				 "default_permissions", unk, sizeof(unk),
				 err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_string_equal(unk, "allow_other,fsname=x,default_permissions");
	assert_int_equal(o->so_max_blocks, 256);

	/* A second call appends. */
	ret = shmemfs_opts_parse(o, "mode=700,subtype=shmemfs,max_read=4096",
				 unk, sizeof(unk), err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_string_equal(unk, "allow_other,fsname=x,default_permissions,"
				 "subtype=shmemfs,max_read=4096");

	/* Names are case-sensitive, as in the kernel; near misses too. */
	unk[0] = '\0';
	ret = shmemfs_opts_parse(o, "SIZE=1m,sizes=2,Noswap,nr_inode=1",
				 unk, sizeof(unk), err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_string_equal(unk, "SIZE=1m,sizes=2,Noswap,nr_inode=1");
	assert_int_equal(o->so_max_blocks, 256);
	assert_int_equal(o->so_noswap, 0);
}

static void
test_unknown_without_buffer(void **state)
{
	struct shmemfs_opts *o = *state;
	struct shmemfs_opts before = *o;
	char err[128] = "";

	assert_int_equal(parse(o, "size=1m,xyz", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "unknown option 'xyz'");
	assert_opts_equal(&before, o);

	assert_int_equal(parse(o, "fsname=x", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "fsname"));
	/* No err buffer: still the right code, and no crash. */
	assert_int_equal(parse(o, "allow_other", NULL, 0), -ENOENT);
	assert_int_equal(parse(o, "size=-1", NULL, 0), -EINVAL);
}

static void
test_unknown_buffer_too_small(void **state)
{
	struct shmemfs_opts *o = *state;
	char unk[16] = "abc";
	char err[128] = "";
	int ret;

	/* "abc,defghijklmn" is 15 characters + NUL: fits exactly. */
	ret = shmemfs_opts_parse(o, "defghijklmn", unk, sizeof(unk), err,
				 sizeof(err));
	assert_int_equal(ret, 0);
	assert_string_equal(unk, "abc,defghijklmn");

	/* One more byte does not fit, and the buffer is left alone. */
	strcpy(unk, "abc");
	ret = shmemfs_opts_parse(o, "size=1m,defghijklmno", unk, sizeof(unk),
				 err, sizeof(err));
	assert_int_equal(ret, -E2BIG);
	assert_non_null(strstr(err, "defghijklmno"));
	assert_string_equal(unk, "abc");
	assert_int_not_equal(o->so_max_blocks, 256);

	/* First into an empty buffer: no leading comma. */
	unk[0] = '\0';
	ret = shmemfs_opts_parse(o, "x,y", unk, 4, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_string_equal(unk, "x,y");
	unk[0] = '\0';
	ret = shmemfs_opts_parse(o, "x,y", unk, 3, err, sizeof(err));
	assert_int_equal(ret, -E2BIG);
	assert_string_equal(unk, "");

	/* A zero-length buffer has room for nothing. */
	ret = shmemfs_opts_parse(o, "ro", unk, 0, err, sizeof(err));
	assert_int_equal(ret, -E2BIG);
	/* But if nothing is unknown, nothing is needed. */
	ret = shmemfs_opts_parse(o, "size=1m", unk, 0, err, sizeof(err));
	assert_int_equal(ret, 0);
	assert_int_equal(o->so_max_blocks, 256);
}

static void
test_bad_names(void **state)
{
	struct shmemfs_opts *o = *state;
	char unk[32] = "";
	char err[128];

	assert_int_equal(shmemfs_opts_parse(o, "=5", unk, sizeof(unk), err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "'=5'"));
	assert_int_equal(shmemfs_opts_parse(o, "=", unk, sizeof(unk), err,
					    sizeof(err)),
			 -EINVAL);
	assert_string_equal(unk, "");
}

static void
test_err_truncated(void **state)
{
	struct shmemfs_opts *o = *state;
	char err[8];

	memset(err, 'z', sizeof(err));
	assert_int_equal(parse(o, "size=-123456789", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* A one-byte buffer holds just the NUL. */
	assert_int_equal(parse(o, "size=-1", err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
}

static void
test_null_args(void **state)
{
	struct shmemfs_opts *o = *state;
	char err[64];

	assert_int_equal(shmemfs_opts_parse(NULL, "size=1m", NULL, 0, err,
					    sizeof(err)),
			 -EINVAL);
	assert_int_equal(shmemfs_opts_parse(o, NULL, NULL, 0, err,
					    sizeof(err)),
			 -EINVAL);
}

static void
test_free_twice(void **state)
{
	struct shmemfs_opts *o = *state;

	parse_ok(o, "swap=/x");
	shmemfs_opts_free(o);
	assert_null(o->so_swap_path);
	shmemfs_opts_free(o);
	shmemfs_opts_free(NULL);
}

/* shmemfs_opts_check() on the options parsed from @s: its return. */
static int
check_opts(const char *s, char *err, size_t err_len)
{
	struct shmemfs_opts o;
	int ret;

	shmemfs_opts_init(&o);
	parse_ok(&o, s);
	ret = shmemfs_opts_check(&o, err, err_len);
	shmemfs_opts_free(&o);
	if (ret)
		assert_null(strchr(err, '\n'));
	else
		assert_string_equal(err, "");
	return ret;
}

/*
 * Issue 16: mem= below size= without swap= gives ENOSPC at the budget
 * while df shows space free, and noswap silently ignored swap=: both are
 * refused at mount, with one line.
 */
static void
test_check_combinations(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check_opts("size=64m", err, sizeof(err)), 0);
	assert_int_equal(check_opts("size=64m,mem=1m,swap=/s", err,
				    sizeof(err)), 0);
	assert_int_equal(check_opts("size=64m,mem=64m", err, sizeof(err)), 0);
	assert_int_equal(check_opts("size=64m,mem=1g", err, sizeof(err)), 0);
	assert_int_equal(check_opts("size=64m,noswap", err, sizeof(err)), 0);
	assert_int_equal(check_opts("ramfs,mem=1m", err, sizeof(err)), 0);
	assert_int_equal(check_opts("ramfs,noswap,swap=/s", err, sizeof(err)),
			 0);

	assert_int_equal(check_opts("size=64m,mem=1m", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option mem= without swap=: pages past "
			    "mem=1024k (below size=65536k) would have nowhere "
			    "to go; add swap=PATH or drop mem=");
	assert_int_equal(check_opts("size=0,mem=1m", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "size is unlimited"));
	assert_int_equal(check_opts("size=64m,mem=1m,noswap", err,
				    sizeof(err)), -EINVAL);
	assert_int_equal(check_opts("noswap,swap=/x/s", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "options noswap and swap=/x/s contradict "
			    "each other: noswap would leave the swap file "
			    "unused");
	/* a short buffer still gets a terminated line; none is fine too */
	assert_int_equal(check_opts("noswap,swap=/x/s", err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	{
		struct shmemfs_opts o;

		shmemfs_opts_init(&o);
		o.so_noswap = 1;
		o.so_swap_path = strdup("/s");
		assert_int_equal(shmemfs_opts_check(&o, NULL, 0), -EINVAL);
		shmemfs_opts_free(&o);
	}
	assert_int_equal(shmemfs_opts_check(NULL, err, sizeof(err)), -EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_size_bytes_round_up),
		T(test_size_suffixes),
		T(test_size_percent),
		T(test_size_bad),
		T(test_nr_blocks),
		T(test_size_and_nr_blocks_last_wins),
		T(test_nr_inodes),
		T(test_mode),
		T(test_uid_gid),
		T(test_huge),
		T(test_flags),
		T(test_ramfs_any_order),
		T(test_mem),
		T(test_swap),
		T(test_swap_path_too_long),
		T(test_failure_is_atomic),
		T(test_repeated_last_wins),
		T(test_empty_items),
		T(test_unknown_passthrough),
		T(test_unknown_without_buffer),
		T(test_unknown_buffer_too_small),
		T(test_bad_names),
		T(test_err_truncated),
		T(test_null_args),
		T(test_free_twice),
		T(test_check_combinations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
