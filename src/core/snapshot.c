/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - point-in-time images of a mount, and restoring them.
 *
 * The image
 * ---------
 * A 64-byte file header (magic "SHMFSIMG", version, flags, a random
 * 16-byte image id, the largest block payload, and an XXH64 of the rest
 * of the header), then blocks:
 *
 *   "SBLK" | u32 payload length | u64 sequence number | u32 flags | u32 0
 *   payload
 *   16-byte trailer
 *
 * Block n carries sequence number n and the last block has flag
 * SF_BLK_LAST, so a missing, repeated, reordered or cut-off block is
 * seen.  The trailer is the XXH3-128 of image id, block header and
 * payload; in a sealed image (header flag SF_IMG_SEALED) the payload is
 * ChaCha20-Poly1305 ciphertext (the AEAD swap uses) and the trailer its
 * tag, with the image id and block header as associated data, the
 * block's sequence number as nonce and a key derived per image from the
 * key file and the image id, so nonces never repeat under one key.
 * Every block is checked before a byte of it is used: a damaged image is
 * refused with the block number and byte offset where it goes wrong.
 *
 * The payloads, read in order, are one stream of records (little-endian
 * integers; a record may span blocks):
 *
 *   MOUNT   the options and counters of the mount (always first)
 *   INODE   parent ino, name, and one inode: number, generation, mode,
 *           owner, nlink, size, rdev, four timestamps, xattrs, and a
 *           symlink's target; the root comes first, with parent 0
 *   LINK    parent ino, name, ino: another name for an inode already seen
 *   DATA    ino, page index, 4096 bytes
 *   FALLOC  ino, first index, count: fallocated pages never written
 *   ZERO    ino, first index, count: pages of zeros kept without memory
 *   LIVE    ino, lookup count, open count (live images only)
 *   FLAGS   ino, inode flags (chattr), set last so that immutable and
 *           append-only do not stand in the way of the restore
 *   END     the number of inodes and pages, to check against
 *
 * INODE and LINK records carry the directory cookie of their name, and
 * a directory's INODE its next cookie, so that readdir positions stay
 * valid across a live restart.  A live image (header flag SF_IMG_LIVE,
 * shmemfs_save_live(): the state handed to a new daemon) also holds the
 * inodes with no name that the kernel still references or has open, as
 * INODE records with parent 0, and LIVE records with the counts.
 * The writer walks the tree breadth-first from the root, so every
 * directory comes before what it holds and the reader can create each
 * inode with the ordinary namespace calls as it goes.  Inodes with no
 * name (unlinked, still open) are not saved: they would not survive a
 * reboot of kernel tmpfs either.
 *
 * Consistency
 * -----------
 * shmemfs_save() holds every data lock and sf_lock (core.h) for the
 * whole walk: the image is exactly the state between two operations, no
 * copy into a page is half done, and no writer, rename or unlink runs
 * while it is taken.  Swapped pages are read from their slots one at a time into
 * one bounce page, never swapped in.  The cost is a pause of the mount
 * for as long as it takes to copy the data into the host's page cache
 * (write(2), no fsync: shmemfs_save_file() syncs after the lock is
 * dropped).  A copy-on-write scheme would shorten the pause to the
 * metadata walk but needs a hook in every path that changes a page;
 * that is left for when the data path gets finer locks.
 *
 * Restoring
 * ---------
 * shmemfs_restore() reads the image into a new mount that nobody else
 * can see yet.  Inode numbers and generations are kept (the inode
 * counter is set before each create: the one place besides node.c that
 * sets it, because restore recreates the table).  Data pages go in
 * through filemap_write(), so a mount whose mem= is smaller than its
 * data pushes pages out to swap as they arrive.  Timestamps are set at
 * the end, after every create and write has touched them.  Any error
 * destroys the new mount: nothing is ever half restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "dir.h"
#include "filemap.h"
#include "fs.h"
#include "node.h"
#include "snapshot.h"
#include "xattr.h"

#define SF_IMG_SEALED  0x1u
#define SF_IMG_LIVE    0x2u /* a handover: orphans and reference counts */
#define SF_BLK_MAGIC   "SBLK"
#define SF_BLK_HDR     24
#define SF_BLK_TRAILER 16
#define SF_BLK_LAST    0x1u
#define SF_IMG_ID      16

enum {
	REC_MOUNT = 1,
	REC_INODE = 2,
	REC_LINK = 3,
	REC_DATA = 4,
	REC_FALLOC = 5,
	REC_ZERO = 6,
	REC_END = 7,
	REC_LIVE = 8,
	REC_FLAGS = 9,
};

/* ---- little-endian fields ------------------------------------------ */

static void
le_put(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
le_get(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- keys ---------------------------------------------------------- */

int
shmemfs_image_key_read(const char *path, unsigned char key[32], char *err,
		       size_t err_len)
{
	unsigned char buf[4096];
	crypto_generichash_state st;
	size_t total = 0;
	ssize_t n;
	int fd, ret = 0;

	if (sodium_init() < 0) {
		snprintf(err, err_len, "cannot initialize libsodium");
		return -EIO;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "key file %s: %s", path,
			 strerror(errno));
		return ret;
	}
	crypto_generichash_init(&st, NULL, 0, 32);
	while ((n = read(fd, buf, sizeof(buf))) > 0 && total < (1u << 20)) {
		crypto_generichash_update(&st, buf, (size_t)n);
		total += (size_t)n;
	}
	if (n < 0) {
		ret = -errno;
		snprintf(err, err_len, "key file %s: %s", path,
			 strerror(errno));
	} else if (total < 16) {
		ret = -EINVAL;
		snprintf(err, err_len,
			 "key file %s: too short (at least 16 bytes; e.g. "
			 "head -c 32 /dev/urandom > %s)",
			 path, path);
	}
	close(fd);
	crypto_generichash_final(&st, key, 32);
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

/* The key of one image: the key file's hash keyed on the image id. */
static void
img_subkey(unsigned char out[32], const unsigned char key[32],
	   const unsigned char id[SF_IMG_ID])
{
	crypto_generichash(out, 32, id, SF_IMG_ID, key, 32);
}

static void
img_nonce(unsigned char *npub, uint64_t seq)
{
	memset(npub, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
	le_put(npub, seq, 8);
}

/* @hdr and its payload are contiguous; the image id seeds the hash. */
static void
img_checksum(unsigned char out[16], const unsigned char *id,
	     const unsigned char *hdr, size_t len)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(
	    &c, XXH3_128bits_withSeed(hdr, SF_BLK_HDR + len,
				      XXH64(id, SF_IMG_ID, 0)));
	memcpy(out, c.digest, 16);
}

/* ---- writer -------------------------------------------------------- */

struct img_writer {
	int w_fd;
	uint64_t w_seq;
	unsigned char *w_buf; /* header + payload + trailer */
	size_t w_len;	      /* payload bytes in w_buf */
	bool w_sealed;
	bool w_live;
	unsigned char w_key[32];
	unsigned char w_id[SF_IMG_ID];
	int w_err; /* first error; later puts do nothing */
};

static int
img_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
img_flush(struct img_writer *w, bool last)
{
	unsigned char *hdr = w->w_buf, *payload = w->w_buf + SF_BLK_HDR;
	unsigned char *trailer = payload + w->w_len;
	unsigned char npub[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
	unsigned char ad[SF_IMG_ID + SF_BLK_HDR];

	if (w->w_err)
		return;
	memcpy(hdr, SF_BLK_MAGIC, 4);
	le_put(hdr + 4, w->w_len, 4);
	le_put(hdr + 8, w->w_seq, 8);
	le_put(hdr + 16, last ? SF_BLK_LAST : 0, 4);
	le_put(hdr + 20, 0, 4);
	if (w->w_sealed) {
		memcpy(ad, w->w_id, SF_IMG_ID);
		memcpy(ad + SF_IMG_ID, hdr, SF_BLK_HDR);
		img_nonce(npub, w->w_seq);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		    payload, trailer, NULL, payload, w->w_len, ad, sizeof(ad),
		    NULL, npub, w->w_key);
	} else {
		img_checksum(trailer, w->w_id, hdr, w->w_len);
	}
	w->w_err = img_write_all(w->w_fd, w->w_buf,
				 SF_BLK_HDR + w->w_len + SF_BLK_TRAILER);
	w->w_seq++;
	w->w_len = 0;
}

static void
put_bytes(struct img_writer *w, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t k;

	while (n && !w->w_err) {
		if (w->w_len == SF_IMG_BLOCK_MAX)
			img_flush(w, false);
		k = SF_IMG_BLOCK_MAX - w->w_len;
		if (k > n)
			k = n;
		memcpy(w->w_buf + SF_BLK_HDR + w->w_len, s, k);
		w->w_len += k;
		s += k;
		n -= k;
	}
}

static void
put_int(struct img_writer *w, uint64_t v, int n)
{
	unsigned char b[8];

	le_put(b, v, n);
	put_bytes(w, b, (size_t)n);
}

#define put_u8(w, v)  put_int((w), (v), 1)
#define put_u16(w, v) put_int((w), (v), 2)
#define put_u32(w, v) put_int((w), (v), 4)
#define put_u64(w, v) put_int((w), (v), 8)

static void
put_str(struct img_writer *w, const char *s, size_t len)
{
	put_u16(w, len);
	put_bytes(w, s, len);
}

static void
put_ts(struct img_writer *w, const struct timespec tss)
{
	const struct timespec *ts = &tss;

	put_u64(w, (uint64_t)ts->tv_sec);
	put_u32(w, (uint32_t)ts->tv_nsec);
}

static int
img_write_header(struct img_writer *w)
{
	unsigned char h[SF_IMG_HDR_SIZE];

	memset(h, 0, sizeof(h));
	memcpy(h, SF_IMG_MAGIC, 8);
	le_put(h + 8, SF_IMG_VERSION, 4);
	le_put(h + 12,
	       (w->w_sealed ? SF_IMG_SEALED : 0) |
		   (w->w_live ? SF_IMG_LIVE : 0),
	       4);
	memcpy(h + 16, w->w_id, SF_IMG_ID);
	le_put(h + 32, SF_IMG_BLOCK_MAX, 4);
	le_put(h + 56, XXH64(h, 56, 0), 8);
	return img_write_all(w->w_fd, h, sizeof(h));
}

/*
 * The bytes of page @index in @entry: resident (in a huge folio, its
 * own page of it), read from its swap slot without swapping it in, or
 * zeros.  => sf_lock held.
 */
static int
snap_page_bytes(struct shmemfs *fs, void *entry, uint64_t index, void *buf)
{
	if (!pageidx_is_value(entry)) {
		memcpy(buf, page_data(entry, index), SF_PAGE_SIZE);
		return 0;
	}
	if (sf_is_swap(entry))
		return swap_read_page(&fs->sf_swap, sf_swap_slot(entry), buf);
	memset(buf, 0, SF_PAGE_SIZE);
	return 0;
}

/* A run of FALLOC or ZERO pages being gathered. */
struct snap_run {
	int sr_type;
	uint64_t sr_first, sr_count;
};

static void
snap_run_flush(struct img_writer *w, uint64_t ino, struct snap_run *run)
{
	if (!run->sr_count)
		return;
	put_u8(w, run->sr_type);
	put_u64(w, ino);
	put_u64(w, run->sr_first);
	put_u64(w, run->sr_count);
	run->sr_count = 0;
}

static int
snap_save_data(struct shmemfs *fs, struct img_writer *w,
	       struct shmemfs_inode *ip, void *page, uint64_t *npages)
{
	struct snap_run run = {0};
	uint64_t index = 0;
	void *e;
	int type, ret;

	while ((e = pageidx_next(&ip->i_pages, &index)) != NULL) {
		type = REC_DATA;
		if (pageidx_is_value(e) && !sf_is_swap(e))
			type = sf_is_zero(e) ? REC_ZERO : REC_FALLOC;
		if (run.sr_count && (type != run.sr_type ||
				     run.sr_first + run.sr_count != index))
			snap_run_flush(w, ip->i_ino, &run);
		(*npages)++;
		if (type != REC_DATA) {
			if (!run.sr_count) {
				run.sr_type = type;
				run.sr_first = index;
			}
			run.sr_count++;
		} else {
			ret = snap_page_bytes(fs, e, index, page);
			if (ret)
				return ret;
			put_u8(w, REC_DATA);
			put_u64(w, ip->i_ino);
			put_u64(w, index);
			put_bytes(w, page, SF_PAGE_SIZE);
		}
		if (index == UINT64_MAX)
			break;
		index++;
	}
	snap_run_flush(w, ip->i_ino, &run);
	return w->w_err;
}

static void
snap_put_inode(struct img_writer *w, uint64_t parent, const char *name,
	       size_t namelen, uint64_t cookie, const struct shmemfs_inode *ip)
{
	put_u8(w, REC_INODE);
	put_u64(w, parent);
	put_str(w, name, namelen);
	put_u64(w, cookie);
	put_u64(w, S_ISDIR(ip->i_mode) ? ip->i_next_cookie : 0);
	put_u64(w, ip->i_ino);
	put_u64(w, ip->i_generation);
	put_u32(w, ip->i_mode);
	put_u32(w, ip->i_uid);
	put_u32(w, ip->i_gid);
	put_u32(w, ip->i_nlink);
	put_u64(w, ip->i_size);
	put_u64(w, S_ISCHR(ip->i_mode) || S_ISBLK(ip->i_mode) ? ip->i_rdev : 0);
	put_ts(w, node_time(ip, &ip->i_atime));
	put_ts(w, node_time(ip, &ip->i_mtime));
	put_ts(w, node_time(ip, &ip->i_ctime));
	put_ts(w, node_time(ip, &ip->i_btime));
}

/* After the inode (and a symlink's target): its xattrs, raw. */
static void
snap_put_xattrs(struct img_writer *w, const struct shmemfs_inode *ip)
{
	const struct sf_xattr *x;
	unsigned nx = 0;

	for (x = ip->i_xattrs; x; x = x->x_next)
		nx++;
	put_u32(w, nx);
	for (x = ip->i_xattrs; x; x = x->x_next) {
		put_str(w, x->x_name, strlen(x->x_name));
		put_u32(w, x->x_size);
		put_bytes(w, x->x_value, x->x_size);
	}
}

/* The target of a symlink, long (page 0) or short. */
static int
snap_put_symlink(struct shmemfs *fs, struct img_writer *w,
		 struct shmemfs_inode *ip, void *page)
{
	void *e;
	int ret;

	if (!sf_is_long_symlink(ip)) {
		put_str(w, ip->i_link, ip->i_size);
		return 0;
	}
	e = pageidx_lookup(&ip->i_pages, 0);
	if (!e)
		return -EUCLEAN;
	ret = snap_page_bytes(fs, e, 0, page);
	if (ret)
		return ret;
	put_str(w, page, ip->i_size);
	return 0;
}

static int
snap_put_mount(struct shmemfs *fs, struct img_writer *w)
{
	const struct shmemfs_opts *o = &fs->sf_opts;
	const char *sp = o->so_swap_path ? o->so_swap_path : "";

	put_u8(w, REC_MOUNT);
	put_u64(w, o->so_max_blocks);
	put_u64(w, o->so_max_inodes);
	put_u64(w, o->so_mem_bytes);
	put_u64(w, o->so_swap_bytes);
	put_u32(w, o->so_mode);
	put_u32(w, o->so_uid);
	put_u32(w, o->so_gid);
	put_u32(w, o->so_huge);
	put_u8(w, o->so_noswap);
	put_u8(w, o->so_ramfs);
	put_str(w, sp, strlen(sp));
	put_u64(w, fs->sf_next_ino);
	put_u64(w, fs->sf_next_generation);
	put_u64(w, fs->sf_swapouts);
	put_u64(w, fs->sf_swapins);
	return w->w_err;
}

static void
snap_put_flags(struct img_writer *w, const struct shmemfs_inode *ip)
{
	if (!ip->i_flags)
		return;
	put_u8(w, REC_FLAGS);
	put_u64(w, ip->i_ino);
	put_u32(w, ip->i_flags);
}

/*
 * A live image: the inodes no name reaches that the kernel still holds
 * (unlinked while open or looked up), then every reference count.
 * Unnamed symlinks are left out: nothing can be done with one but
 * forget it, and a forget of an unknown number is ignored.
 */
static int
snap_save_live(struct shmemfs *fs, struct img_writer *w, struct pageidx *seen,
	       void *page, uint64_t *ninodes, uint64_t *npages)
{
	struct shmemfs_inode *ip;
	uint64_t ino;
	int ret;

	for (ino = 0; (ip = node_next(fs, &ino)) != NULL; ino++) {
		/* SysV segments and memfds (ipc.c): their table is not in
		 * images, so a restart would lose them. */
		if (ip->i_ipc_kind)
			return -EBUSY;
		if (ip == fs->sf_root || pageidx_lookup(seen, ino) ||
		    S_ISLNK(ip->i_mode))
			continue;
		/*
		 * Named, but not from the root: the internal namespace of
		 * SysV segments and memfds, which images do not hold.  A
		 * restart must not drop it: refuse before anything is lost.
		 */
		if (ip->i_nlink)
			return -EBUSY;
		(*ninodes)++;
		snap_put_inode(w, 0, "", 0, 0, ip);
		snap_put_xattrs(w, ip);
		if (S_ISREG(ip->i_mode)) {
			ret = snap_save_data(fs, w, ip, page, npages);
			if (ret)
				return ret;
		}
		snap_put_flags(w, ip);
	}
	for (ino = 0; (ip = node_next(fs, &ino)) != NULL; ino++) {
		if (!ip->i_nlookup && !ip->i_nopen)
			continue;
		if (S_ISLNK(ip->i_mode) && !ip->i_nlink)
			continue;
		put_u8(w, REC_LIVE);
		put_u64(w, ino);
		put_u64(w, ip->i_nlookup);
		put_u32(w, ip->i_nopen);
	}
	return w->w_err;
}

/*
 * The walk.  @seen maps each inode number already written to its inode,
 * so a second name becomes a LINK; @queue holds the directories whose
 * entries are still to be written.  => sf_lock held.
 */
static int
snap_save_tree(struct shmemfs *fs, struct img_writer *w, void *page)
{
	struct shmemfs_inode **queue = NULL, **nq, *dir, *ip;
	size_t qhead = 0, qlen = 0, qcap = 0;
	uint64_t ninodes = 1, npages = 0, cookie;
	struct pageidx seen;
	struct sf_dirent *de;
	int ret;

	pageidx_init(&seen);
	ret = snap_put_mount(fs, w);
	if (ret)
		goto out;
	snap_put_inode(w, 0, "", 0, 0, fs->sf_root);
	snap_put_xattrs(w, fs->sf_root);
	snap_put_flags(w, fs->sf_root);
	ret = -ENOMEM;
	queue = sf_malloc(16 * sizeof(*queue));
	if (!queue)
		goto out;
	qcap = 16;
	queue[qlen++] = fs->sf_root;
	while (qhead < qlen) {
		dir = queue[qhead++];
		cookie = 0;
		while ((de = pageidx_next(&dir->i_entries, &cookie)) != NULL) {
			ip = de->d_inode;
			cookie++;
			if (pageidx_lookup(&seen, ip->i_ino)) {
				put_u8(w, REC_LINK);
				put_u64(w, dir->i_ino);
				put_str(w, de->d_name, de->d_namelen);
				put_u64(w, de->d_cookie);
				put_u64(w, ip->i_ino);
				continue;
			}
			ret = pageidx_store(&seen, ip->i_ino, ip);
			if (ret)
				goto out;
			ninodes++;
			snap_put_inode(w, dir->i_ino, de->d_name, de->d_namelen,
				       de->d_cookie, ip);
			if (S_ISLNK(ip->i_mode)) {
				ret = snap_put_symlink(fs, w, ip, page);
				if (ret)
					goto out;
			}
			snap_put_xattrs(w, ip);
			if (S_ISREG(ip->i_mode)) {
				ret = snap_save_data(fs, w, ip, page, &npages);
				if (ret)
					goto out;
			}
			snap_put_flags(w, ip);
			if (S_ISDIR(ip->i_mode)) {
				if (qlen == qcap) {
					ret = -ENOMEM;
					nq = realloc(queue,
						     2 * qcap * sizeof(*queue));
					if (!nq)
						goto out;
					queue = nq;
					qcap *= 2;
				}
				queue[qlen++] = ip;
			}
		}
	}
	if (w->w_live) {
		ret = snap_save_live(fs, w, &seen, page, &ninodes, &npages);
		if (ret)
			goto out;
	}
	put_u8(w, REC_END);
	put_u64(w, ninodes);
	put_u64(w, npages);
	ret = w->w_err;
out:
	free(queue);
	pageidx_destroy(&seen, NULL, NULL);
	return ret;
}

static int
snap_save(struct shmemfs *fs, int fd, const unsigned char *key, bool live,
	  char *err, size_t err_len)
{
	struct img_writer w;
	void *page;
	int ret;

	if (err && err_len)
		err[0] = '\0';
	memset(&w, 0, sizeof(w));
	w.w_fd = fd;
	w.w_live = live;
	w.w_buf = sf_malloc(SF_BLK_HDR + SF_IMG_BLOCK_MAX + SF_BLK_TRAILER);
	page = sf_malloc(SF_PAGE_SIZE);
	ret = -ENOMEM;
	if (!w.w_buf || !page)
		goto out_free;
	randombytes_buf(w.w_id, sizeof(w.w_id));
	if (key) {
		w.w_sealed = true;
		img_subkey(w.w_key, key, w.w_id);
	}
	ret = img_write_header(&w);
	if (ret)
		goto out_free;

	/* every data lock first: no copy outside sf_lock is in flight */
	dlock_all(&fs->sf_dlocks);
	sf_mutex_lock(&fs->sf_lock);
	ret = snap_save_tree(fs, &w, page);
	sf_mutex_unlock(&fs->sf_lock);
	dlock_unlock_all(&fs->sf_dlocks);
	if (!ret) {
		img_flush(&w, true);
		ret = w.w_err;
	}
out_free:
	if (ret && err && err_len)
		snprintf(err, err_len, "cannot write the image: %s",
			 ret == -EIO ? "a swapped page could not be read back"
				     : strerror(-ret));
	sodium_memzero(w.w_key, sizeof(w.w_key));
	free(page);
	free(w.w_buf);
	return ret;
}

int
shmemfs_save(struct shmemfs *fs, int fd, const unsigned char *key, char *err,
	     size_t err_len)
{
	return snap_save(fs, fd, key, false, err, err_len);
}

int
shmemfs_save_live(struct shmemfs *fs, int fd, char *err, size_t err_len)
{
	return snap_save(fs, fd, NULL, true, err, err_len);
}

int
shmemfs_save_file(struct shmemfs *fs, const char *path,
		  const unsigned char *key, char *err, size_t err_len)
{
	char *tmp, *dir, *slash;
	size_t len = strlen(path);
	int fd, dfd, ret;

	if (err && err_len)
		err[0] = '\0';
	tmp = sf_malloc(len + 8);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len + 8, "%s.XXXXXX", path);
	/* mkstemp: O_EXCL, mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot create %s: %s", tmp,
			 strerror(errno));
		free(tmp);
		return ret;
	}
	ret = shmemfs_save(fs, fd, key, err, err_len);
	if (!ret && fsync(fd) < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot write the image: fsync: %s",
			 strerror(errno));
	}
	if (close(fd) < 0 && !ret) {
		ret = -errno;
		snprintf(err, err_len, "cannot write the image: close: %s",
			 strerror(errno));
	}
	if (!ret && rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot rename %s to %s: %s", tmp, path,
			 strerror(errno));
	}
	if (ret) {
		unlink(tmp);
		free(tmp);
		return ret;
	}
	/* The rename is durable once the directory is synced. */
	dir = tmp;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	return 0;
}

/* ---- reader -------------------------------------------------------- */

struct img_reader {
	int r_fd;
	uint64_t r_size;      /* of the file */
	uint64_t r_off;	      /* of the next block */
	uint64_t r_seq;	      /* of the next block */
	uint64_t r_blk_off;   /* of the current block, for messages */
	unsigned char *r_buf; /* current block */
	size_t r_len, r_pos;  /* its payload length, bytes used */
	bool r_last;	      /* the current block is the last */
	bool r_sealed;
	bool r_live;
	unsigned char r_key[32];
	unsigned char r_id[SF_IMG_ID];
	char *r_err;
	size_t r_err_len;
};

static int __attribute__((format(printf, 3, 4)))
img_fail(struct img_reader *r, int ret, const char *fmt, ...)
{
	va_list ap;

	if (r->r_err && r->r_err_len && !r->r_err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->r_err, r->r_err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int
img_pread(struct img_reader *r, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = pread(r->r_fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return img_fail(
			    r, -errno, "read error at byte %llu: %s",
			    (unsigned long long)off, strerror(errno));
		}
		if (n == 0)
			return img_fail(r, -EINVAL,
					"truncated: block %llu at byte %llu "
					"ends past the end of the file",
					(unsigned long long)r->r_seq,
					(unsigned long long)r->r_blk_off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int
img_open(struct img_reader *r, int fd, const unsigned char *key, char *err,
	 size_t err_len)
{
	unsigned char h[SF_IMG_HDR_SIZE];
	struct stat st;
	uint32_t flags;
	int ret;

	memset(r, 0, sizeof(*r));
	r->r_fd = fd;
	r->r_err = err;
	r->r_err_len = err_len;
	if (err && err_len)
		err[0] = '\0';
	if (fstat(fd, &st) < 0)
		return img_fail(r, -errno, "cannot stat the image: %s",
				strerror(errno));
	r->r_size = (uint64_t)st.st_size;
	if (r->r_size < SF_IMG_HDR_SIZE)
		return img_fail(r, -EINVAL,
				"truncated: %llu bytes, shorter than the "
				"header",
				(unsigned long long)r->r_size);
	ret = img_pread(r, h, sizeof(h), 0);
	if (ret)
		return ret;
	if (memcmp(h, SF_IMG_MAGIC, 8))
		return img_fail(r, -EINVAL,
				"not a shmemfs image (bad magic "
				"at byte 0)");
	if (le_get(h + 56, 8) != XXH64(h, 56, 0))
		return img_fail(r, -EINVAL,
				"damaged header: checksum mismatch at byte 0");
	if (le_get(h + 8, 4) != SF_IMG_VERSION)
		return img_fail(r, -EINVAL,
				"image version %u, this shmemfs reads %u",
				(unsigned)le_get(h + 8, 4), SF_IMG_VERSION);
	flags = (uint32_t)le_get(h + 12, 4);
	if (flags & ~(SF_IMG_SEALED | SF_IMG_LIVE))
		return img_fail(r, -EINVAL, "unknown header flags 0x%x", flags);
	if (le_get(h + 32, 4) != SF_IMG_BLOCK_MAX)
		return img_fail(r, -EINVAL, "unsupported block size %u",
				(unsigned)le_get(h + 32, 4));
	memcpy(r->r_id, h + 16, SF_IMG_ID);
	r->r_sealed = flags & SF_IMG_SEALED;
	r->r_live = flags & SF_IMG_LIVE;
	if (r->r_sealed && !key)
		return img_fail(r, -ENOKEY,
				"the image is sealed: give its key file "
				"(restore_key=FILE)");
	if (!r->r_sealed && key)
		return img_fail(r, -EINVAL,
				"a key was given but the image is not sealed");
	if (key)
		img_subkey(r->r_key, key, r->r_id);
	r->r_buf = sf_malloc(SF_BLK_HDR + SF_IMG_BLOCK_MAX + SF_BLK_TRAILER);
	if (!r->r_buf)
		return img_fail(r, -ENOMEM, "out of memory");
	r->r_off = SF_IMG_HDR_SIZE;
	return 0;
}

static void
img_close(struct img_reader *r)
{
	sodium_memzero(r->r_key, sizeof(r->r_key));
	free(r->r_buf);
	r->r_buf = NULL;
}

/* Read, check and (if sealed) open the next block. */
static int
img_next_block(struct img_reader *r)
{
	unsigned char *hdr = r->r_buf, *payload = r->r_buf + SF_BLK_HDR;
	unsigned char npub[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
	unsigned char ad[SF_IMG_ID + SF_BLK_HDR], sum[16];
	unsigned long long blk = r->r_seq, at = r->r_off;
	uint32_t len, flags;
	int ret;

	r->r_blk_off = r->r_off;
	if (r->r_last)
		return img_fail(r, -EINVAL,
				"damaged: records run past the last block "
				"(block %llu at byte %llu)",
				blk - 1, (unsigned long long)r->r_blk_off);
	if (r->r_off == r->r_size)
		return img_fail(r, -EINVAL,
				"truncated at byte %llu: block %llu and the "
				"final block are missing",
				at, blk);
	ret = img_pread(r, hdr, SF_BLK_HDR, r->r_off);
	if (ret)
		return ret;
	len = (uint32_t)le_get(hdr + 4, 4);
	flags = (uint32_t)le_get(hdr + 16, 4);
	if (memcmp(hdr, SF_BLK_MAGIC, 4) || le_get(hdr + 8, 8) != r->r_seq ||
	    len > SF_IMG_BLOCK_MAX || (flags & ~SF_BLK_LAST) ||
	    le_get(hdr + 20, 4))
		return img_fail(r, -EINVAL,
				"damaged: block %llu at byte %llu has a bad "
				"header",
				blk, at);
	ret =
	    img_pread(r, payload, len + SF_BLK_TRAILER, r->r_off + SF_BLK_HDR);
	if (ret)
		return ret;
	if (r->r_sealed) {
		memcpy(ad, r->r_id, SF_IMG_ID);
		memcpy(ad + SF_IMG_ID, hdr, SF_BLK_HDR);
		img_nonce(npub, r->r_seq);
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			payload, NULL, payload, len, payload + len, ad,
			sizeof(ad), npub, r->r_key))
			return img_fail(r, -EBADMSG,
					"block %llu at byte %llu fails "
					"authentication (wrong key, or a "
					"damaged image)",
					blk, at);
	} else {
		img_checksum(sum, r->r_id, hdr, len);
		if (memcmp(sum, payload + len, 16))
			return img_fail(r, -EBADMSG,
					"damaged: block %llu at byte %llu: "
					"checksum mismatch",
					blk, at);
	}
	r->r_off += SF_BLK_HDR + len + SF_BLK_TRAILER;
	r->r_seq++;
	r->r_len = len;
	r->r_pos = 0;
	r->r_last = flags & SF_BLK_LAST;
	if (r->r_last && r->r_off != r->r_size)
		return img_fail(r, -EINVAL,
				"damaged: %llu bytes after the last block "
				"(byte %llu)",
				(unsigned long long)(r->r_size - r->r_off),
				(unsigned long long)r->r_off);
	return 0;
}

static int
get_bytes(struct img_reader *r, void *p, size_t n)
{
	unsigned char *d = p;
	size_t k;
	int ret;

	while (n) {
		if (r->r_pos == r->r_len) {
			ret = img_next_block(r);
			if (ret)
				return ret;
			continue;
		}
		k = r->r_len - r->r_pos;
		if (k > n)
			k = n;
		memcpy(d, r->r_buf + SF_BLK_HDR + r->r_pos, k);
		r->r_pos += k;
		d += k;
		n -= k;
	}
	return 0;
}

static int
get_int(struct img_reader *r, uint64_t *v, int n)
{
	unsigned char b[8];
	int ret = get_bytes(r, b, (size_t)n);

	*v = ret ? 0 : le_get(b, n);
	return ret;
}

/* A string of at most @max bytes, NUL-terminated into @buf[max + 1]. */
static int
get_str(struct img_reader *r, char *buf, size_t max, size_t *lenp,
	const char *what)
{
	uint64_t len;
	int ret = get_int(r, &len, 2);

	if (ret)
		return ret;
	if (len > max)
		return img_fail(r, -EINVAL,
				"damaged: %s of %llu bytes in block %llu "
				"at byte %llu",
				what, (unsigned long long)len,
				(unsigned long long)r->r_seq - 1,
				(unsigned long long)r->r_blk_off);
	ret = get_bytes(r, buf, len);
	if (ret)
		return ret;
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return 0;
}

static int
get_ts(struct img_reader *r, struct timespec *ts)
{
	uint64_t s = 0, ns = 0;
	int ret;

	ret = get_int(r, &s, 8);
	if (!ret)
		ret = get_int(r, &ns, 4);
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = (long)ns;
	if (!ret && ns >= 1000000000)
		return img_fail(r, -EINVAL,
				"damaged: bad timestamp in block %llu at "
				"byte %llu",
				(unsigned long long)r->r_seq - 1,
				(unsigned long long)r->r_blk_off);
	return ret;
}

/* A record that makes no sense, named with where it is. */
static int
img_bad(struct img_reader *r, const char *what, uint64_t ino)
{
	return img_fail(
	    r, -EINVAL, "damaged: %s (inode %llu) in block %llu at byte %llu",
	    what, (unsigned long long)ino, (unsigned long long)r->r_seq - 1,
	    (unsigned long long)r->r_blk_off);
}

struct snap_counters {
	uint64_t sc_next_ino, sc_next_generation;
	uint64_t sc_swapouts, sc_swapins;
};

static int
snap_get_mount(struct img_reader *r, struct shmemfs_opts *o,
	       struct snap_counters *c)
{
	uint64_t type, v[8];
	char path[PATH_MAX + 1];
	size_t plen;
	int ret, i;

	ret = get_int(r, &type, 1);
	if (ret)
		return ret;
	if (type != REC_MOUNT)
		return img_bad(r, "first record is not the mount's", 0);
	for (i = 0; i < 4 && !ret; i++)
		ret = get_int(r, &v[i], 8);
	for (i = 4; i < 8 && !ret; i++)
		ret = get_int(r, &v[i], 4);
	if (ret)
		return ret;
	if (o) {
		o->so_max_blocks = v[0];
		o->so_max_inodes = v[1];
		o->so_mem_bytes = v[2];
		o->so_swap_bytes = v[3];
		o->so_mode = (mode_t)v[4] & 07777;
		o->so_uid = (uid_t)v[5];
		o->so_gid = (gid_t)v[6];
		o->so_huge = v[7] <= SHMEMFS_HUGE_ADVISE
				 ? (enum shmemfs_huge)v[7]
				 : SHMEMFS_HUGE_NEVER;
	}
	ret = get_int(r, &v[0], 1);
	if (!ret)
		ret = get_int(r, &v[1], 1);
	if (!ret)
		ret = get_str(r, path, PATH_MAX, &plen, "swap path");
	if (ret)
		return ret;
	if (o) {
		o->so_noswap = v[0] != 0;
		o->so_ramfs = v[1] != 0;
		if (plen && path[0] == '/') {
			char *p = strdup(path);

			if (!p)
				return img_fail(r, -ENOMEM, "out of memory");
			free(o->so_swap_path);
			o->so_swap_path = p;
		}
	}
	ret = get_int(r, &c->sc_next_ino, 8);
	if (!ret)
		ret = get_int(r, &c->sc_next_generation, 8);
	if (!ret)
		ret = get_int(r, &c->sc_swapouts, 8);
	if (!ret)
		ret = get_int(r, &c->sc_swapins, 8);
	return ret;
}

int
shmemfs_image_opts(int fd, const unsigned char *key, struct shmemfs_opts *o,
		   char *err, size_t err_len)
{
	struct snap_counters c;
	struct img_reader r;
	int ret;

	ret = img_open(&r, fd, key, err, err_len);
	if (!ret)
		ret = snap_get_mount(&r, o, &c);
	img_close(&r);
	return ret;
}

/* What restore sets last, per inode: its times and its link count. */
struct snap_pending {
	struct shmemfs_inode *sp_ip;
	struct timespec sp_atime, sp_mtime, sp_ctime, sp_btime;
	uint32_t sp_nlink;
	uint64_t sp_next_cookie; /* a directory's */
	uint32_t sp_flags;	 /* chattr flags, set last */
};

struct snap_restore {
	struct shmemfs *rs_fs;
	struct img_reader *rs_r;
	struct snap_pending *rs_pend;
	size_t rs_npend, rs_cap;
	uint64_t rs_pages;
	void *rs_page;
	char *rs_value; /* an xattr value, SHMEMFS_XATTR_SIZE_MAX */
};

static int
snap_get_xattrs(struct snap_restore *rs, struct shmemfs_inode *ip)
{
	struct img_reader *r = rs->rs_r;
	char name[SHMEMFS_XATTR_NAME_MAX + 1];
	uint64_t nx, i, vlen;
	int ret;

	ret = get_int(r, &nx, 4);
	for (i = 0; !ret && i < nx; i++) {
		ret = get_str(r, name, SHMEMFS_XATTR_NAME_MAX, NULL,
			      "xattr name");
		if (!ret)
			ret = get_int(r, &vlen, 4);
		if (ret)
			break;
		if (vlen > SHMEMFS_XATTR_SIZE_MAX)
			return img_bad(r, "xattr value too long", ip->i_ino);
		ret = get_bytes(r, rs->rs_value, vlen);
		if (ret)
			break;
		ret = xattr_set(rs->rs_fs, ip, name, rs->rs_value, vlen,
				SHMEMFS_XATTR_CREATE);
		if (ret)
			return img_fail(r, ret,
					"cannot restore xattr %s of inode "
					"%llu: %s",
					name, (unsigned long long)ip->i_ino,
					strerror(-ret));
	}
	return ret;
}

static bool
snap_mode_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		return (mode & ~(S_IFMT | 07777)) == 0;
	}
	return false;
}

static int
snap_get_inode(struct snap_restore *rs)
{
	struct img_reader *r = rs->rs_r;
	struct shmemfs *fs = rs->rs_fs;
	char name[SHMEMFS_NAME_MAX + 1], target[SHMEMFS_SYMLINK_MAX + 1];
	uint64_t parent, ino, gen, mode, uid, gid, nlink, size, rdev;
	uint64_t cookie, next_cookie;
	struct shmemfs_inode *dir = NULL, *ip;
	struct snap_pending *p;
	struct shmemfs_ctx ctx = {0};
	size_t namelen;
	int ret;

	ret = get_int(r, &parent, 8);
	if (!ret)
		ret = get_str(r, name, SHMEMFS_NAME_MAX, &namelen, "name");
	if (!ret)
		ret = get_int(r, &cookie, 8);
	if (!ret)
		ret = get_int(r, &next_cookie, 8);
	if (!ret)
		ret = get_int(r, &ino, 8);
	if (!ret)
		ret = get_int(r, &gen, 8);
	if (!ret)
		ret = get_int(r, &mode, 4);
	if (!ret)
		ret = get_int(r, &uid, 4);
	if (!ret)
		ret = get_int(r, &gid, 4);
	if (!ret)
		ret = get_int(r, &nlink, 4);
	if (!ret)
		ret = get_int(r, &size, 8);
	if (!ret)
		ret = get_int(r, &rdev, 8);
	if (ret)
		return ret;
	if (!snap_mode_ok((uint32_t)mode))
		return img_bad(r, "bad file type or mode", ino);
	if (rs->rs_npend == rs->rs_cap) {
		size_t cap = rs->rs_cap ? 2 * rs->rs_cap : 64;

		p = realloc(rs->rs_pend, cap * sizeof(*p));
		if (!p)
			return img_fail(r, -ENOMEM, "out of memory");
		rs->rs_pend = p;
		rs->rs_cap = cap;
	}
	p = &rs->rs_pend[rs->rs_npend];
	memset(p, 0, sizeof(*p));
	ret = get_ts(r, &p->sp_atime);
	if (!ret)
		ret = get_ts(r, &p->sp_mtime);
	if (!ret)
		ret = get_ts(r, &p->sp_ctime);
	if (!ret)
		ret = get_ts(r, &p->sp_btime);
	if (ret)
		return ret;
	p->sp_nlink = (uint32_t)nlink;
	p->sp_next_cookie = next_cookie;

	if (parent == 0 && ino != SHMEMFS_ROOT_INO && r->r_live) {
		/* An inode with no name the kernel still holds. */
		if (rs->rs_npend == 0 || nlink || S_ISLNK(mode) ||
		    ino <= SHMEMFS_ROOT_INO || node_get(fs, ino))
			return img_bad(r, "bad unnamed inode", ino);
		fs->sf_next_ino = ino;
		ret = node_new(fs, (mode_t)mode, (uid_t)uid, (gid_t)gid,
			       (dev_t)rdev, &ip);
		if (ret)
			return img_fail(r, ret, "cannot restore inode %llu: %s",
					(unsigned long long)ino,
					strerror(-ret));
		if (S_ISDIR(mode))
			ip->i_parent = fs->sf_root;
	} else if (parent == 0) {
		/* The root: it exists already; it comes first, once. */
		if (ino != SHMEMFS_ROOT_INO || rs->rs_npend != 0 ||
		    !S_ISDIR(mode) || namelen)
			return img_bad(r, "misplaced root", ino);
		ip = fs->sf_root;
	} else {
		if (rs->rs_npend == 0)
			return img_bad(r, "first inode is not the root", ino);
		dir = node_get(fs, parent);
		if (!dir || !S_ISDIR(dir->i_mode))
			return img_bad(r, "parent is not a directory", parent);
		if (ino <= SHMEMFS_ROOT_INO || node_get(fs, ino))
			return img_bad(r, "inode number in use", ino);
		if (S_ISLNK(mode)) {
			ret = get_str(r, target, SHMEMFS_SYMLINK_MAX, NULL,
				      "symlink target");
			if (ret)
				return ret;
			if (!target[0] || strlen(target) != size)
				return img_bad(r, "bad symlink target", ino);
		}
		ctx.sc_uid = (uid_t)uid;
		ctx.sc_gid = (gid_t)gid;
		/*
		 * The inode counter is node.c's; restore is the one other
		 * writer, because it recreates the inode table: the next
		 * create takes @ino.
		 */
		fs->sf_next_ino = ino;
		if (cookie) {
			/* dir.c's counter, as sf_next_ino is node.c's. */
			if (cookie < dir->i_next_cookie)
				return img_bad(r,
					       "directory cookies out of "
					       "order",
					       ino);
			dir->i_next_cookie = cookie;
		}
		ret = dir_create(fs, &ctx, dir, name, (mode_t)mode, (dev_t)rdev,
				 S_ISLNK(mode) ? target : NULL, &ip);
		if (ret)
			return img_fail(
			    r, ret, "cannot restore inode %llu (%s): %s",
			    (unsigned long long)ino, name, strerror(-ret));
		node_publish(fs, ip);
		SF_ASSERT(ip->i_ino == ino);
	}
	ip->i_generation = gen;
	ip->i_mode = (mode_t)mode;
	ip->i_uid = (uid_t)uid;
	ip->i_gid = (gid_t)gid;
	p->sp_ip = ip;
	rs->rs_npend++;
	/* The saved xattrs, raw: not what the create inherited (a parent's
	 * default ACL gives a new inode ACLs of its own). */
	xattr_free_all(fs, ip);
	ret = snap_get_xattrs(rs, ip);
	if (ret)
		return ret;
	if (S_ISREG(mode) && size) {
		if (size > (uint64_t)SHMEMFS_MAX_FILESIZE)
			return img_bad(r, "file too large", ino);
		ret = filemap_truncate(fs, ip, size);
		if (ret)
			return img_fail(r, ret, "cannot restore inode %llu: %s",
					(unsigned long long)ino,
					strerror(-ret));
	}
	return 0;
}

static int
snap_get_link(struct snap_restore *rs)
{
	struct img_reader *r = rs->rs_r;
	char name[SHMEMFS_NAME_MAX + 1];
	struct shmemfs_inode *dir, *ip;
	uint64_t parent, ino, cookie;
	int ret;

	ret = get_int(r, &parent, 8);
	if (!ret)
		ret = get_str(r, name, SHMEMFS_NAME_MAX, NULL, "name");
	if (!ret)
		ret = get_int(r, &cookie, 8);
	if (!ret)
		ret = get_int(r, &ino, 8);
	if (ret)
		return ret;
	dir = node_get(rs->rs_fs, parent);
	ip = node_get(rs->rs_fs, ino);
	if (!dir || !S_ISDIR(dir->i_mode) || !ip)
		return img_bad(r, "link to an unknown inode", ino);
	if (cookie) {
		if (cookie < dir->i_next_cookie)
			return img_bad(r, "directory cookies out of order",
				       ino);
		dir->i_next_cookie = cookie;
	}
	ret = dir_link(rs->rs_fs, ip, dir, name);
	if (ret)
		return img_fail(r, ret,
				"cannot restore a link to inode %llu "
				"(%s): %s",
				(unsigned long long)ino, name, strerror(-ret));
	return 0;
}

/* DATA, FALLOC and ZERO: the inode must be a regular file. */
static int
snap_get_pages(struct snap_restore *rs, int type)
{
	struct img_reader *r = rs->rs_r;
	struct shmemfs *fs = rs->rs_fs;
	uint64_t ino, index, count = 1, i, off, len;
	struct shmemfs_inode *ip;
	ssize_t n;
	int ret;

	ret = get_int(r, &ino, 8);
	if (!ret)
		ret = get_int(r, &index, 8);
	if (!ret && type != REC_DATA)
		ret = get_int(r, &count, 8);
	if (!ret && type == REC_DATA)
		ret = get_bytes(r, rs->rs_page, SF_PAGE_SIZE);
	if (ret)
		return ret;
	ip = node_get(fs, ino);
	if (!ip || !S_ISREG(ip->i_mode))
		return img_bad(r, "pages for an unknown inode", ino);
	if (count == 0 || index > (uint64_t)SHMEMFS_MAX_FILESIZE >> 12 ||
	    count > ((uint64_t)SHMEMFS_MAX_FILESIZE >> 12) - index)
		return img_bad(r, "page range out of bounds", ino);
	off = index << 12;
	if (type == REC_FALLOC) {
		ret = filemap_fallocate(fs, ip, SHMEMFS_FALLOC_KEEP_SIZE,
					(int64_t)off, (int64_t)(count << 12));
		if (ret)
			return img_fail(r, ret, "cannot restore inode %llu: %s",
					(unsigned long long)ino,
					strerror(-ret));
		rs->rs_pages += count;
		return 0;
	}
	if (type == REC_ZERO)
		memset(rs->rs_page, 0, SF_PAGE_SIZE);
	for (i = 0; i < count; i++, off += SF_PAGE_SIZE) {
		/* Pages never reach past the end: writes must keep size. */
		if (off >= ip->i_size)
			return img_bad(r, "page past the end of the file", ino);
		len = ip->i_size - off < SF_PAGE_SIZE ? ip->i_size - off
						      : SF_PAGE_SIZE;
		n = filemap_write(fs, ip, rs->rs_page, len, off);
		if (n < 0)
			return img_fail(
			    r, (int)n, "cannot restore inode %llu: %s",
			    (unsigned long long)ino, strerror((int)-n));
		rs->rs_pages++;
	}
	return 0;
}

/* Times last, since every create, link and write above stamped them. */
/* The saved times of @p's inode; far ones take memory (node.c). */
static int
snap_set_times(struct snap_pending *p)
{
	struct shmemfs_inode *ip = p->sp_ip;
	int ret;

	ret = node_set_time(ip, &ip->i_atime, &p->sp_atime);
	if (!ret)
		ret = node_set_time(ip, &ip->i_mtime, &p->sp_mtime);
	if (!ret)
		ret = node_set_time(ip, &ip->i_ctime, &p->sp_ctime);
	if (!ret)
		ret = node_set_time(ip, &ip->i_btime, &p->sp_btime);
	return ret;
}

static int
snap_finish(struct snap_restore *rs, uint64_t ninodes, uint64_t npages)
{
	struct img_reader *r = rs->rs_r;
	struct snap_pending *p;
	size_t i;
	int ret;

	if (ninodes != rs->rs_npend || npages != rs->rs_pages)
		return img_fail(r, -EINVAL,
				"damaged: the image holds %llu inodes and "
				"%llu pages, its end record says %llu and "
				"%llu",
				(unsigned long long)rs->rs_npend,
				(unsigned long long)rs->rs_pages,
				(unsigned long long)ninodes,
				(unsigned long long)npages);
	for (i = 0; i < rs->rs_npend; i++) {
		p = &rs->rs_pend[i];
		if (p->sp_ip->i_nlink != p->sp_nlink)
			return img_bad(r, "link count differs from the names",
				       p->sp_ip->i_ino);
		if (!p->sp_ip->i_nlink && !p->sp_ip->i_nlookup &&
		    !p->sp_ip->i_nopen)
			return img_bad(r, "unnamed inode nobody holds",
				       p->sp_ip->i_ino);
		ret = snap_set_times(p);
		if (ret)
			return img_fail(r, ret, "cannot restore inode %llu: %s",
					(unsigned long long)p->sp_ip->i_ino,
					strerror(-ret));
		p->sp_ip->i_flags = p->sp_flags;
		if (S_ISDIR(p->sp_ip->i_mode) &&
		    p->sp_next_cookie > p->sp_ip->i_next_cookie)
			p->sp_ip->i_next_cookie = p->sp_next_cookie;
	}
	return 0;
}

/* FLAGS: kept until the end (snap_finish()). */
static int
snap_get_flags(struct snap_restore *rs)
{
	struct img_reader *r = rs->rs_r;
	uint64_t ino, flags;
	size_t i;
	int ret;

	ret = get_int(r, &ino, 8);
	if (!ret)
		ret = get_int(r, &flags, 4);
	if (ret)
		return ret;
	if (flags & ~(uint64_t)SHMEMFS_FL_SETTABLE)
		return img_bad(r, "unknown inode flags", ino);
	for (i = rs->rs_npend; i-- > 0;) {
		if (rs->rs_pend[i].sp_ip->i_ino == ino) {
			rs->rs_pend[i].sp_flags = (uint32_t)flags;
			return 0;
		}
	}
	return img_bad(r, "flags for an unknown inode", ino);
}

/* LIVE: the kernel's references, restored as they were. */
static int
snap_get_live(struct snap_restore *rs)
{
	struct img_reader *r = rs->rs_r;
	uint64_t ino, nlookup, nopen;
	struct shmemfs_inode *ip;
	int ret;

	ret = get_int(r, &ino, 8);
	if (!ret)
		ret = get_int(r, &nlookup, 8);
	if (!ret)
		ret = get_int(r, &nopen, 4);
	if (ret)
		return ret;
	ip = node_get(rs->rs_fs, ino);
	if (!r->r_live || !ip || (ino == SHMEMFS_ROOT_INO && !nlookup))
		return img_bad(r, "bad reference counts", ino);
	ip->i_nlookup = nlookup;
	ip->i_nopen = (uint32_t)nopen;
	return 0;
}

static int
snap_restore_records(struct snap_restore *rs, const struct snap_counters *c)
{
	struct img_reader *r = rs->rs_r;
	struct shmemfs *fs = rs->rs_fs;
	uint64_t type, ninodes, npages;
	int ret;

	for (;;) {
		ret = get_int(r, &type, 1);
		if (ret)
			return ret;
		switch (type) {
		case REC_INODE:
			ret = snap_get_inode(rs);
			break;
		case REC_LINK:
			ret = snap_get_link(rs);
			break;
		case REC_LIVE:
			ret = snap_get_live(rs);
			break;
		case REC_FLAGS:
			ret = snap_get_flags(rs);
			break;
		case REC_DATA:
		case REC_FALLOC:
		case REC_ZERO:
			ret = snap_get_pages(rs, (int)type);
			break;
		case REC_END:
			ret = get_int(r, &ninodes, 8);
			if (!ret)
				ret = get_int(r, &npages, 8);
			if (ret)
				return ret;
			if (r->r_pos != r->r_len || !r->r_last)
				return img_fail(
				    r, -EINVAL,
				    "damaged: data after the end "
				    "record in block %llu at byte "
				    "%llu",
				    (unsigned long long)r->r_seq - 1,
				    (unsigned long long)r->r_blk_off);
			ret = snap_finish(rs, ninodes, npages);
			if (ret)
				return ret;
			if (c->sc_next_ino > fs->sf_next_ino)
				fs->sf_next_ino = c->sc_next_ino;
			if (c->sc_next_generation > fs->sf_next_generation)
				fs->sf_next_generation = c->sc_next_generation;
			fs->sf_swapouts = c->sc_swapouts;
			fs->sf_swapins = c->sc_swapins;
			return 0;
		default:
			return img_bad(r, "unknown record type", type);
		}
		if (ret)
			return ret;
	}
}

int
shmemfs_restore(struct shmemfs **fsp, const struct shmemfs_opts *o, int fd,
		const unsigned char *key, char *err, size_t err_len)
{
	struct snap_restore rs;
	struct snap_counters c;
	struct img_reader r;
	struct shmemfs *fs;
	char msg[256];
	int ret;

	memset(&rs, 0, sizeof(rs));
	ret = img_open(&r, fd, key, err, err_len);
	if (!ret)
		ret = snap_get_mount(&r, NULL, &c);
	if (ret)
		goto out_close;
	ret = shmemfs_mount(&fs, o, err, err_len);
	if (ret)
		goto out_close;
	rs.rs_fs = fs;
	rs.rs_r = &r;
	rs.rs_page = sf_malloc(SF_PAGE_SIZE);
	rs.rs_value = sf_malloc(SHMEMFS_XATTR_SIZE_MAX);
	if (!rs.rs_page || !rs.rs_value) {
		ret = img_fail(&r, -ENOMEM, "out of memory");
		goto out_destroy;
	}
	sf_mutex_lock(&fs->sf_lock);
	ret = snap_restore_records(&rs, &c);
	sf_mutex_unlock(&fs->sf_lock);
	if (ret)
		goto out_destroy;
	ret = shmemfs_check(fs, msg, sizeof(msg));
	if (ret) {
		img_fail(&r, ret, "restored mount is inconsistent: %s", msg);
		goto out_destroy;
	}
	*fsp = fs;
	goto out_free;

out_destroy:
	shmemfs_destroy(fs);
out_free:
	free(rs.rs_page);
	free(rs.rs_value);
	free(rs.rs_pend);
out_close:
	img_close(&r);
	return ret;
}
