/* SPDX-License-Identifier: MIT */
/*
 * options.c - mount options, as tmpfs parses them (mm/shmem.c,
 * shmem_parse_one(), and lib/cmdline.c, memparse()).
 *
 * One option string ("size=1g,mode=700,allow_other") is split on commas
 * (no escapes, like the kernel's legacy mount data) and each item is
 * looked up in opt_table[].  The whole string is parsed into a copy of
 * the caller's struct and committed only if every item was good, so a
 * failed call leaves @o and the @unknown buffer as they were.
 *
 * Numbers follow the kernel, quirks included, because kernel tmpfs is the
 * oracle for our differential tests:
 *  - size-like values (size=, nr_blocks=, nr_inodes=, mem=, swapsize=)
 *    go through opt_memparse(): an unsigned number whose base is detected
 *    as by strtoull(..., 0) ("0x10" is 16, "010" is 8), then one optional
 *    binary suffix k/m/g/t/p/e in either case.  size= and mem= may then
 *    end in '%', a percentage of RAM applied after the suffix, exactly
 *    as shmem_parse_one() does it.
 *  - mode= is octal; uid= and gid= detect their base like size=
 *    (fsparam_u32 passes base 0 to kstrtouint()); all three take an
 *    optional leading '+', as kstrtouint() does, and must fit 32 bits.
 * Unlike the kernel we refuse, rather than wrap, any value that overflows
 * 64 bits, and we want at least one digit ("size=k" is 0 to memparse()).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmemfs.h"

/* shmem_parse_one()'s bounds, so huge values fail as they do there. */
#define OPT_MAX_BLOCKS ((uint64_t)INT64_MAX)          /* LONG_MAX */
#define OPT_BOGO_INODE_SIZE 1024
#define OPT_MAX_INODES (UINT64_MAX / OPT_BOGO_INODE_SIZE)

enum opt_id {
	OPT_SIZE,
	OPT_NR_BLOCKS,
	OPT_NR_INODES,
	OPT_MODE,
	OPT_UID,
	OPT_GID,
	OPT_HUGE,
	OPT_NOSWAP,
	OPT_RAMFS,
	OPT_MEM,
	OPT_SWAP,
	OPT_SWAPSIZE,
	OPT_INODE32,
	OPT_INODE64,
	OPT_MPOL,
	OPT_QUOTA,
	OPT_USRQUOTA,
	OPT_GRPQUOTA,
	OPT_USR_BHARD,
	OPT_USR_IHARD,
	OPT_GRP_BHARD,
	OPT_GRP_IHARD,
	OPT_SHMMAX,
	OPT_SHMALL,
	OPT_SHMMNI,
};

#define OPT_FLAG 0x1 /* takes no value; others require "=value" */

struct opt_spec {
	const char *os_name;
	enum opt_id os_id;
	unsigned os_flags;
};

static const struct opt_spec opt_table[] = {
	{ "size",      OPT_SIZE,      0 },
	{ "nr_blocks", OPT_NR_BLOCKS, 0 },
	{ "nr_inodes", OPT_NR_INODES, 0 },
	{ "mode",      OPT_MODE,      0 },
	{ "uid",       OPT_UID,       0 },
	{ "gid",       OPT_GID,       0 },
	{ "huge",      OPT_HUGE,      0 },
	{ "noswap",    OPT_NOSWAP,    OPT_FLAG },
	{ "ramfs",     OPT_RAMFS,     OPT_FLAG },
	{ "mem",       OPT_MEM,       0 },
	{ "swap",      OPT_SWAP,      0 },
	{ "swapsize",  OPT_SWAPSIZE,  0 },
	{ "inode32",   OPT_INODE32,   OPT_FLAG },
	{ "inode64",   OPT_INODE64,   OPT_FLAG },
	{ "mpol",      OPT_MPOL,      0 },
	{ "quota",     OPT_QUOTA,     OPT_FLAG },
	{ "usrquota",  OPT_USRQUOTA,  OPT_FLAG },
	{ "grpquota",  OPT_GRPQUOTA,  OPT_FLAG },
	{ "usrquota_block_hardlimit", OPT_USR_BHARD, 0 },
	{ "usrquota_inode_hardlimit", OPT_USR_IHARD, 0 },
	{ "grpquota_block_hardlimit", OPT_GRP_BHARD, 0 },
	{ "grpquota_inode_hardlimit", OPT_GRP_IHARD, 0 },
	{ "shmmax",    OPT_SHMMAX,    0 },
	{ "shmall",    OPT_SHMALL,    0 },
	{ "shmmni",    OPT_SHMMNI,    0 },
};

/*
 * Only the values tmpfs accepts as a mount option: "deny" and "force"
 * exist only in /sys/kernel/mm/transparent_hugepage/shmem_enabled.
 */
static const struct {
	const char *oh_name;
	enum shmemfs_huge oh_huge;
} opt_huge_table[] = {
	{ "never",       SHMEMFS_HUGE_NEVER },
	{ "always",      SHMEMFS_HUGE_ALWAYS },
	{ "within_size", SHMEMFS_HUGE_WITHIN_SIZE },
	{ "advise",      SHMEMFS_HUGE_ADVISE },
};

/* The state of one shmemfs_opts_parse() call. */
struct opt_parse {
	struct shmemfs_opts op_new;     /* the caller's opts, being updated */
	const char *op_old_swap_path;   /* still owned by the caller's opts */
	char *op_unknown;
	size_t op_unknown_len;
	char *op_err;
	size_t op_err_len;
};

static void __attribute__((format(printf, 2, 3)))
opt_error(struct opt_parse *op, const char *fmt, ...)
{
	va_list ap;

	if (!op->op_err || !op->op_err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(op->op_err, op->op_err_len, fmt, ap);
	va_end(ap);
	/* The message is one line, whatever the user's text held. */
	for (char *p = op->op_err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static int
opt_bad_value(struct opt_parse *op, const char *name, const char *value,
	      const char *why)
{
	if (why)
		opt_error(op, "bad value for option '%s': '%s' (%s)", name,
			  value, why);
	else
		opt_error(op, "bad value for option '%s': '%s'", name, value);
	return -EINVAL;
}

/*
 * Physical memory of the host in bytes and in host pages (what the
 * kernel calls totalram_pages()).  0 if the host will not say.
 */
static uint64_t
opt_ram_pages(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);

	return pages > 0 ? (uint64_t)pages : 0;
}

static uint64_t
opt_ram_bytes(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t bytes;

	if (psize <= 0 ||
	    __builtin_mul_overflow(opt_ram_pages(), (uint64_t)psize, &bytes))
		return 0;
	return bytes;
}

/*
 * Parse an unsigned number at @s in @base (0: detect "0x" hex and "0"
 * octal, as the kernel's _parse_integer_fixup_radix() does).  *@endp is
 * set to the first character not consumed.  Returns 0, -EINVAL if there
 * is no digit, or -ERANGE if the number does not fit 64 bits.
 */
static int
opt_strtou64(const char *s, unsigned base, uint64_t *res, const char **endp)
{
	const char *p;
	uint64_t v = 0;
	int any = 0;

	if (base == 0) {
		if (s[0] == '0') {
			if ((s[1] == 'x' || s[1] == 'X') && s[2] &&
			    strchr("0123456789abcdefABCDEF", s[2]))
				base = 16;
			else
				base = 8;
		} else {
			base = 10;
		}
	}
	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;

	for (p = s;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (d >= base)
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	*res = v;
	*endp = p;
	return 0;
}

/* memparse(): a number, then an optional binary suffix k, m, g, t, p, e. */
static int
opt_memparse(const char *s, uint64_t *res, const char **endp)
{
	static const char suffixes[] = "kmgtpe";
	const char *p, *suf;
	uint64_t v;
	unsigned shift = 0;
	int ret;

	ret = opt_strtou64(s, 0, &v, &p);
	if (ret)
		return ret;
	if (*p) {
		suf = strchr(suffixes, *p | 0x20);
		if (suf) {
			shift = 10 * (unsigned)(suf - suffixes + 1);
			p++;
		}
	}
	if (shift) {
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*res = v;
	*endp = p;
	return 0;
}

/* floor(@pct * RAM / 100) bytes, refusing what does not fit 64 bits. */
static int
opt_percent_of_ram(uint64_t pct, uint64_t *bytes)
{
	uint64_t ram = opt_ram_bytes();
	uint64_t q = pct / 100, r = pct % 100, whole, part;

	if (!ram)
		return -ENOSYS;
	/*
	 * pct * ram / 100 = q * ram + r * ram / 100, and the floor of the
	 * last term is r * (ram / 100) + r * (ram % 100) / 100 exactly;
	 * neither of those can overflow since r < 100.
	 */
	part = r * (ram / 100) + r * (ram % 100) / 100;
	if (__builtin_mul_overflow(q, ram, &whole) ||
	    __builtin_add_overflow(whole, part, bytes))
		return -ERANGE;
	return 0;
}

/*
 * A byte count: memparse() and, if @percent, an optional '%' of RAM.
 * Anything left over is garbage.
 */
static int
opt_parse_bytes(struct opt_parse *op, const char *name, const char *value,
		int percent, uint64_t *bytes)
{
	const char *end;
	uint64_t v;
	int ret;

	ret = opt_memparse(value, &v, &end);
	if (ret == -ERANGE)
		return opt_bad_value(op, name, value, "too large");
	if (ret)
		return opt_bad_value(op, name, value, NULL);
	if (percent && *end == '%') {
		ret = opt_percent_of_ram(v, &v);
		if (ret == -ERANGE)
			return opt_bad_value(op, name, value, "too large");
		if (ret)
			return opt_bad_value(op, name, value,
					     "size of RAM unknown");
		end++;
	}
	if (*end)
		return opt_bad_value(op, name, value, NULL);
	*bytes = v;
	return 0;
}

/* A count (memparse() with no '%') of at most @max. */
static int
opt_parse_count(struct opt_parse *op, const char *name, const char *value,
		uint64_t max, uint64_t *count)
{
	uint64_t v;
	int ret;

	ret = opt_parse_bytes(op, name, value, 0, &v);
	if (ret)
		return ret;
	if (v > max)
		return opt_bad_value(op, name, value, "too large");
	*count = v;
	return 0;
}

/* kstrtouint(): optional '+', then digits in @base, nothing after. */
static int
opt_parse_u32(struct opt_parse *op, const char *name, const char *value,
	      unsigned base, uint32_t *res)
{
	const char *s = value, *end;
	uint64_t v;
	int ret;

	if (*s == '+')
		s++;
	ret = opt_strtou64(s, base, &v, &end);
	if (ret == -ERANGE || (!ret && v > UINT32_MAX))
		return opt_bad_value(op, name, value, "too large");
	if (ret || *end)
		return opt_bad_value(op, name, value, NULL);
	*res = (uint32_t)v;
	return 0;
}

/* Append one item to the caller's buffer of options we do not know. */
static int
opt_pass_on(struct opt_parse *op, const char *item)
{
	size_t cur, len = strlen(item);

	if (!op->op_unknown) {
		opt_error(op, "unknown option '%s'", item);
		return -ENOENT;
	}
	/* A buffer with no NUL in it (cur == len) has no room either. */
	cur = strnlen(op->op_unknown, op->op_unknown_len);
	if (cur + (cur ? 1 : 0) + len + 1 > op->op_unknown_len) {
		opt_error(op, "no room to pass on option '%s'", item);
		return -E2BIG;
	}
	if (cur)
		op->op_unknown[cur++] = ',';
	memcpy(op->op_unknown + cur, item, len + 1);
	return 0;
}

static int
opt_set_swap_path(struct opt_parse *op, const char *name, const char *value)
{
	struct shmemfs_opts *o = &op->op_new;
	char *path;

	if (value[0] != '/')
		return opt_bad_value(op, name, value,
				     "must be an absolute path");
	if (strlen(value) >= PATH_MAX)
		return opt_bad_value(op, name, value, "path too long");
	path = strdup(value);
	if (!path) {
		opt_error(op, "out of memory for option '%s'", name);
		return -ENOMEM;
	}
	/* Free a path an earlier item of this call set; not the caller's. */
	if (o->so_swap_path != op->op_old_swap_path)
		free(o->so_swap_path);
	o->so_swap_path = path;
	return 0;
}

/*
 * Is node @n one with memory?  /sys/devices/system/node/has_memory is
 * a list like "0-1,3"; without it, node 0 only.
 */
static bool
opt_node_has_memory(unsigned long n)
{
	char buf[256], *p;
	unsigned long a, b;
	FILE *f;
	bool ok = false;

	f = fopen("/sys/devices/system/node/has_memory", "re");
	if (!f)
		return n == 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	for (p = buf; *p && *p != '\n';) {
		a = strtoul(p, &p, 10);
		b = a;
		if (*p == '-')
			b = strtoul(p + 1, &p, 10);
		if (n >= a && n <= b)
			ok = true;
		if (*p != ',')
			break;
		p++;
	}
	return ok;
}

/*
 * mpol=MODE[=static|=relative][:NODELIST], as mpol_parse_str() takes
 * it: we cannot place pages by NUMA policy (the daemon's own policy
 * decides), but an fstab line written for tmpfs should mount, so a
 * policy tmpfs would accept is accepted and one it would refuse is
 * refused.  NODELIST: numbers and ranges ("0", "0-1") of nodes with
 * memory.
 */
static bool
opt_mpol_valid(const char *value)
{
	static const char *const modes[] = {
		"default", "prefer", "bind", "interleave", "local",
		"weighted-interleave", "prefer-many",
	};
	char mode[32], *flags, *nodes, *p;
	bool have_nodes, ok = false;
	unsigned long a, b;
	size_t i;

	if (strlen(value) >= sizeof(mode))
		return false;
	strcpy(mode, value);
	nodes = strchr(mode, ':');
	if (nodes)
		*nodes++ = '\0';
	flags = strchr(mode, '=');
	if (flags) {
		*flags++ = '\0';
		if (strcmp(flags, "static") && strcmp(flags, "relative"))
			return false;
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i]))
			ok = true;
	if (!ok)
		return false;
	have_nodes = nodes && *nodes;
	if (have_nodes) {
		for (p = nodes; *p;) {
			if (*p < '0' || *p > '9')
				return false;
			a = strtoul(p, &p, 10);
			b = a;
			if (*p == '-') {
				if (p[1] < '0' || p[1] > '9')
					return false;
				b = strtoul(p + 1, &p, 10);
			}
			if (*p || b < a || b > 1023)
				return false;
			for (; a <= b; a++)
				if (!opt_node_has_memory(a))
					return false;
		}
	}
	/* default and local take no nodes; prefer one; bind needs some */
	if (!strcmp(mode, "default") || !strcmp(mode, "local"))
		return !have_nodes && !flags;
	if (!strcmp(mode, "bind") || !strcmp(mode, "prefer-many"))
		return have_nodes;
	if (!strcmp(mode, "prefer"))
		return !have_nodes || !strpbrk(nodes, "-");
	return true;
}

/*
 * The host's tmpfs default for inode32/inode64 (CONFIG_TMPFS_INODE64),
 * read off the tmpfs mounts the kernel shows: its show_options() always
 * names inode32 or inode64 when the config is on, and names only
 * inode64 (never inode32) when it is off.  So a tmpfs showing neither
 * means "off", one showing inode32 means "on", and with only inode64
 * shown or no tmpfs to look at we take the more common mounts (made
 * with defaults) to mean "on" and the Kconfig default "off".
 */
static bool
opt_host_inode64(void)
{
	bool neither = false, i32 = false, i64 = false;
	char line[4096];
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - tmpfs ");
		char *opts;

		if (!sep)
			continue;
		opts = strrchr(sep, ' ');
		if (!opts)
			continue;
		if (strstr(opts, ",inode32"))
			i32 = true;
		else if (strstr(opts, ",inode64"))
			i64 = true;
		else
			neither = true;
	}
	fclose(f);
	if (neither)
		return false;
	return i32 || i64;
}

/* Apply one non-empty item, NUL-terminated and writable, to op_new. */
static int
opt_parse_one(struct opt_parse *op, char *item)
{
	struct shmemfs_opts *o = &op->op_new;
	const struct opt_spec *spec = NULL;
	char *value;
	uint64_t v;
	uint32_t v32;
	size_t i;
	int ret;

	value = strchr(item, '=');
	if (value)
		*value++ = '\0';
	if (!item[0]) {
		opt_error(op, "option with no name: '=%s'", value);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		if (!strcmp(item, opt_table[i].os_name)) {
			spec = &opt_table[i];
			break;
		}
	}
	if (!spec) {
		if (value)
			value[-1] = '=';
		return opt_pass_on(op, item);
	}

	if (spec->os_flags & OPT_FLAG) {
		if (value) {
			opt_error(op, "option '%s' takes no value: '%s'",
				  item, value);
			return -EINVAL;
		}
	} else if (!value) {
		opt_error(op, "option '%s' needs a value", item);
		return -EINVAL;
	} else if (!value[0]) {
		return opt_bad_value(op, item, value, "empty");
	}

	switch (spec->os_id) {
	case OPT_SIZE:
		ret = opt_parse_bytes(op, item, value, 1, &v);
		if (ret)
			return ret;
		/* Whole pages, rounded up; never overflows this way. */
		o->so_max_blocks = v / SHMEMFS_PAGE_SIZE +
				   !!(v % SHMEMFS_PAGE_SIZE);
		break;
	case OPT_NR_BLOCKS:
		ret = opt_parse_count(op, item, value, OPT_MAX_BLOCKS, &v);
		if (ret)
			return ret;
		o->so_max_blocks = v;
		break;
	case OPT_NR_INODES:
		ret = opt_parse_count(op, item, value, OPT_MAX_INODES, &v);
		if (ret)
			return ret;
		o->so_max_inodes = v;
		break;
	case OPT_MODE:
		ret = opt_parse_u32(op, item, value, 8, &v32);
		if (ret)
			return ret;
		o->so_mode = v32 & 07777;
		break;
	case OPT_UID:
	case OPT_GID:
		ret = opt_parse_u32(op, item, value, 0, &v32);
		if (ret)
			return ret;
		/* (uid_t)-1 is no one: make_kuid() calls it invalid. */
		if (v32 == UINT32_MAX)
			return opt_bad_value(op, item, value, "invalid id");
		if (spec->os_id == OPT_UID)
			o->so_uid = (uid_t)v32;
		else
			o->so_gid = (gid_t)v32;
		break;
	case OPT_HUGE:
		for (i = 0; i < sizeof(opt_huge_table) /
				    sizeof(opt_huge_table[0]); i++) {
			if (!strcmp(value, opt_huge_table[i].oh_name))
				break;
		}
		if (i == sizeof(opt_huge_table) / sizeof(opt_huge_table[0]))
			return opt_bad_value(op, item, value, NULL);
		o->so_huge = opt_huge_table[i].oh_huge;
		break;
	case OPT_NOSWAP:
		o->so_noswap = 1;
		break;
	case OPT_RAMFS:
		/*
		 * Only the flag: size=, nr_inodes= and swap options given
		 * before or after are kept, and the core ignores them all
		 * while so_ramfs is set.  So "ramfs" wins whatever the order
		 * and never depends on which option came last.
		 */
		o->so_ramfs = 1;
		break;
	case OPT_MEM:
		ret = opt_parse_bytes(op, item, value, 1, &v);
		if (ret)
			return ret;
		o->so_mem_bytes = v;
		break;
	case OPT_SWAP:
		return opt_set_swap_path(op, item, value);
	case OPT_SWAPSIZE:
		ret = opt_parse_bytes(op, item, value, 0, &v);
		if (ret)
			return ret;
		o->so_swap_bytes = v;
		break;
	case OPT_INODE32:
	case OPT_INODE64:
		o->so_inode64 = spec->os_id == OPT_INODE64;
		break;
	case OPT_MPOL:
		if (!opt_mpol_valid(value))
			return opt_bad_value(op, item, value, NULL);
		o->so_mpol = 1;
		break;
	case OPT_QUOTA:
		o->so_usrquota = o->so_grpquota = 1;
		break;
	case OPT_USRQUOTA:
		o->so_usrquota = 1;
		break;
	case OPT_GRPQUOTA:
		o->so_grpquota = 1;
		break;
	case OPT_USR_BHARD:
	case OPT_USR_IHARD:
	case OPT_GRP_BHARD:
	case OPT_GRP_IHARD:
		/*
		 * shmem_parse_one(): memparse(), no '%', and 0 is a bad
		 * value (a limit of nothing is not "no limit" here).
		 */
		ret = opt_parse_bytes(op, item, value, 0, &v);
		if (ret)
			return ret;
		if (!v)
			return opt_bad_value(op, item, value, "must be > 0");
		if (v > (uint64_t)INT64_MAX)
			return opt_bad_value(op, item, value, "too large");
		if (spec->os_id == OPT_USR_BHARD)
			o->so_usrquota_bhard = v;
		else if (spec->os_id == OPT_USR_IHARD)
			o->so_usrquota_ihard = v;
		else if (spec->os_id == OPT_GRP_BHARD)
			o->so_grpquota_bhard = v;
		else
			o->so_grpquota_ihard = v;
		break;
	case OPT_SHMMAX:
	case OPT_SHMALL:
	case OPT_SHMMNI:
		/* The kernel's sysctls: shmmni at most IPCMNI (32768). */
		ret = opt_parse_count(op, item, value,
				      spec->os_id == OPT_SHMMNI ? 32768
								: UINT64_MAX,
				      &v);
		if (ret)
			return ret;
		if (spec->os_id == OPT_SHMMAX)
			o->so_shmmax = v;
		else if (spec->os_id == OPT_SHMALL)
			o->so_shmall = v;
		else
			o->so_shmmni = v;
		break;
	}
	return 0;
}

void
shmemfs_opts_init(struct shmemfs_opts *o)
{
	memset(o, 0, sizeof(*o));
	/* shmem_default_max_blocks(), counted in our 4 KiB pages. */
	o->so_max_blocks = opt_ram_bytes() / 2 / SHMEMFS_PAGE_SIZE;
	/* shmem_default_max_inodes(): half the host's RAM pages. */
	o->so_max_inodes = opt_ram_pages() / 2;
	o->so_mem_bytes = 0;
	o->so_swap_bytes = 0;
	o->so_swap_path = NULL;
	o->so_mode = S_ISVTX | 0777;
	o->so_uid = geteuid();
	o->so_gid = getegid();
	o->so_huge = SHMEMFS_HUGE_NEVER;
	o->so_inode64 = opt_host_inode64();
	/* The kernel's SysV defaults (include/uapi/linux/shm.h). */
	o->so_shmmax = UINT64_MAX - (1ull << 24);
	o->so_shmall = UINT64_MAX - (1ull << 24);
	o->so_shmmni = 4096;
}

int
shmemfs_opts_parse(struct shmemfs_opts *o, const char *optstr,
		   char *unknown, size_t unknown_len, char *err,
		   size_t err_len)
{
	struct opt_parse op = {
		.op_unknown = unknown,
		.op_unknown_len = unknown_len,
		.op_err = err,
		.op_err_len = err_len,
	};
	size_t unknown_start = 0;
	char *buf, *item, *next;
	int ret = 0;

	if (err && err_len)
		err[0] = '\0';
	if (!o || !optstr) {
		opt_error(&op, "no options to parse");
		return -EINVAL;
	}
	if (unknown)
		unknown_start = strnlen(unknown, unknown_len);

	buf = strdup(optstr);
	if (!buf) {
		opt_error(&op, "out of memory parsing options");
		return -ENOMEM;
	}
	op.op_new = *o;
	op.op_old_swap_path = o->so_swap_path;

	for (item = buf; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		if (!item[0])
			continue;               /* ",," or a trailing comma */
		ret = opt_parse_one(&op, item);
		if (ret)
			break;
	}
	free(buf);

	if (ret) {
		/* Leave the caller's opts and buffer as they were. */
		if (op.op_new.so_swap_path != op.op_old_swap_path)
			free(op.op_new.so_swap_path);
		if (unknown && unknown_start < unknown_len)
			unknown[unknown_start] = '\0';
		return ret;
	}
	if (op.op_new.so_swap_path != op.op_old_swap_path)
		free(o->so_swap_path);
	*o = op.op_new;
	return 0;
}

/*
 * The options as a whole.  Each -o string is parsed on its own (FUSE
 * hands them over one at a time), so what depends on two options is
 * checked here, once, at mount.  ramfs has no limits and no swap, so
 * nothing it overrides is judged.
 */
int
shmemfs_opts_check(const struct shmemfs_opts *o, char *err, size_t err_len)
{
	struct opt_parse op = {.op_err = err, .op_err_len = err_len};
	uint64_t mem_pages;

	if (err && err_len)
		err[0] = '\0';
	if (!o) {
		opt_error(&op, "no options to check");
		return -EINVAL;
	}
	if (o->so_ramfs)
		return 0;
	if (o->so_noswap && o->so_swap_path) {
		opt_error(&op, "options noswap and swap=%s contradict each "
			  "other: noswap would leave the swap file unused",
			  o->so_swap_path);
		return -EINVAL;
	}
	mem_pages = o->so_mem_bytes / SHMEMFS_PAGE_SIZE +
		    !!(o->so_mem_bytes % SHMEMFS_PAGE_SIZE);
	if (o->so_mem_bytes && !o->so_swap_path &&
	    (!o->so_max_blocks || mem_pages < o->so_max_blocks)) {
		if (o->so_max_blocks)
			opt_error(&op, "option mem= without swap=: pages past "
				  "mem=%lluk (below size=%lluk) would have "
				  "nowhere to go; add swap=PATH or drop mem=",
				  (unsigned long long)mem_pages * 4,
				  (unsigned long long)o->so_max_blocks * 4);
		else
			opt_error(&op, "option mem= without swap=: pages past "
				  "mem=%lluk (size is unlimited) would have "
				  "nowhere to go; add swap=PATH or drop mem=",
				  (unsigned long long)mem_pages * 4);
		return -EINVAL;
	}
	return 0;
}

void
shmemfs_opts_free(struct shmemfs_opts *o)
{
	if (!o)
		return;
	free(o->so_swap_path);
	o->so_swap_path = NULL;
}
