/* SPDX-License-Identifier: MIT */
/*
 * swap.c - the swap device: slot allocator, sealed pages, backends.
 *
 * A swap device is an array of 4 KiB slots behind a backend (struct
 * sf_swap_ops, a versioned vtable in the manner of sqlite3_io_methods;
 * the file backend is the only one today).  Slots are handed out from a
 * bitmap, first fit from the low end, preferring slots already written
 * (sw_backed): the file is sparse and freed slots are never punched, so
 * a slot once written keeps its disk blocks and can take a page even
 * when the disk under the file is full.
 *
 * Nothing readable at rest: every page is sealed with an AEAD
 * (ChaCha20-Poly1305 from libsodium) under a key drawn at mount time
 * that lives only in this process (mlocked).  The nonce is a per-device
 * counter, never reused under one key; the additional data binds the
 * ciphertext to its slot, so a page copied to another slot fails to
 * open.  The 16-byte tag is the slot's checksum: a corrupted, short or
 * misplaced read is -EIO for the page's reader, never wrong data.  Tags
 * and nonces stay in memory (24 bytes per slot), so the file holds
 * exactly one ciphertext page per slot.
 *
 * => Must be called with sf_lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swap.h"

struct sf_slotmeta {
	uint64_t slm_nonce;
	unsigned char slm_tag[crypto_aead_chacha20poly1305_IETF_ABYTES];
};

/*
 * The swap file.  Its first SF_SWAP_HDR_SIZE bytes are a header, as the
 * kernel's swap signature is: only a file carrying it (or an empty one)
 * is ever written, so a path mistyped into swap= cannot destroy data.
 * The header says whether shmemfs created the file; such a file is
 * removed at a clean unmount, also when a later mount reused it after a
 * crash.  A file the user made (empty) is kept.  Slots follow the header.
 *
 * The file is locked (flock LOCK_EX) for the mount's life, swapoff
 * included, so a second mount or process cannot share it: each would
 * overwrite the other's slots.
 */
#define SF_SWAP_HDR_SIZE SF_PAGE_SIZE
#define SF_SWAP_MAGIC "shmemfs swap\n\0\0\0"
#define SF_SWAP_VERSION 1
#define SF_SWAP_CREATED 0x1 /* shmemfs created the file: remove it */

struct swap_header {
	char sh_magic[16];
	uint32_t sh_version;
	uint32_t sh_flags;
};

struct file_backend {
	int fb_fd;
	int fb_created; /* SF_SWAP_CREATED in the header */
	char *fb_path;
};

static int
file_pread(void *priv, uint64_t off, void *buf, size_t len)
{
	struct file_backend *fb = priv;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fb->fb_fd, (char *)buf + done, len - done,
				  (off_t)(SF_SWAP_HDR_SIZE + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* short: the file shrank under us */
		done += (size_t)n;
	}
	return 0;
}

static int
file_pwrite(void *priv, uint64_t off, const void *buf, size_t len)
{
	struct file_backend *fb = priv;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fb->fb_fd, (const char *)buf + done,
				   len - done,
				   (off_t)(SF_SWAP_HDR_SIZE + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static void
file_close(void *priv)
{
	struct file_backend *fb = priv;

	/* Unlinked while still locked: no other mount can take it over. */
	if (fb->fb_created)
		unlink(fb->fb_path);
	close(fb->fb_fd);
	free(fb->fb_path);
	free(fb);
}

static const struct sf_swap_ops file_ops = {
	.sop_version = 1,
	.sop_read = file_pread,
	.sop_write = file_pwrite,
	.sop_close = file_close,
};

static int __attribute__((format(printf, 4, 5)))
swap_file_error(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
		for (char *p = err; *p; p++) /* one line, whatever the path */
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return ret;
}

/*
 * Check the header of the existing file @fd; 0 and *@created set if it
 * is ours, or -errno and a message.  An empty file (size 0, or a hole
 * throughout, as truncate(1) makes it) is the user's own: *@empty is
 * set, and it gets a header saying so.
 */
static int
swap_file_claim(int fd, const char *path, const struct stat *st,
		int *created, int *empty, char *err, size_t err_len)
{
	struct swap_header h;
	char page[SF_SWAP_HDR_SIZE];
	ssize_t n;

	*created = 0;
	*empty = st->st_size == 0 ||
		 (lseek(fd, 0, SEEK_DATA) < 0 && errno == ENXIO);
	if (*empty)
		return 0;
	n = pread(fd, page, sizeof(page), 0);
	if (n < 0)
		return swap_file_error(err, err_len, -errno,
				       "swap file %s: cannot read it: %s",
				       path, strerror(errno));
	memcpy(&h, page, sizeof(h));
	if (n < (ssize_t)sizeof(page) ||
	    memcmp(h.sh_magic, SF_SWAP_MAGIC, sizeof(h.sh_magic)))
		return swap_file_error(err, err_len, -EINVAL,
				       "swap file %s holds data that is not a "
				       "shmemfs swap file; refusing to "
				       "overwrite it", path);
	if (h.sh_version != SF_SWAP_VERSION)
		return swap_file_error(err, err_len, -EINVAL,
				       "swap file %s is a shmemfs swap file "
				       "of version %u, not %u; refusing to "
				       "overwrite it", path, h.sh_version,
				       SF_SWAP_VERSION);
	*created = !!(h.sh_flags & SF_SWAP_CREATED);
	return 0;
}

/*
 * Open or create the swap file and lock it.  A new file is sparse, mode
 * 0600, and removed at unmount.  An existing one must be a regular file
 * owned by us with one link, not locked by another mount, and either
 * empty (no data) or carrying our header; it is grown to @bytes if smaller and
 * never shrunk.  @bytes includes the header, as mkswap counts it.  On
 * error, -errno and a one-line message naming the file in @err.
 */
int
swap_file_open(const char *path, uint64_t bytes, const struct sf_swap_ops **ops,
	       void **priv, uint64_t *nslots, char *err, size_t err_len)
{
	struct swap_header h;
	char page[SF_SWAP_HDR_SIZE] = {0};
	struct file_backend *fb;
	struct stat st;
	int fd, created = 1, made, empty = 1, busy = 0, ret;

	if (bytes < 2 * SF_SWAP_HDR_SIZE)
		return swap_file_error(err, err_len, -EINVAL,
				       "swap file %s: swapsize= must leave room "
				       "for a 4 KiB header and a page", path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return swap_file_error(err, err_len, -errno,
				       "swap file %s: cannot %s it: %s", path,
				       created ? "create" : "open",
				       strerror(errno));
	made = created;
	if (fstat(fd, &st)) {
		ret = swap_file_error(err, err_len, -errno,
				      "swap file %s: cannot stat it: %s", path,
				      strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = swap_file_error(err, err_len, -EINVAL,
				      "swap file %s is not a regular file",
				      path);
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		ret = swap_file_error(err, err_len, -EPERM,
				      "swap file %s belongs to uid %u, not to "
				      "us (uid %u)", path,
				      (unsigned)st.st_uid,
				      (unsigned)geteuid());
		goto out_close;
	}
	if (st.st_nlink > 1) {
		ret = swap_file_error(err, err_len, -EMLINK,
				      "swap file %s has %lu hard links", path,
				      (unsigned long)st.st_nlink);
		goto out_close;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		busy = ret == -EWOULDBLOCK;
		if (busy)
			ret = swap_file_error(err, err_len, -EBUSY,
					      "swap file %s is in use by "
					      "another mount", path);
		else
			swap_file_error(err, err_len, ret,
					"swap file %s: cannot lock it: %s",
					path, strerror(-ret));
		goto out_close;
	}
	if (!created) {
		ret = swap_file_claim(fd, path, &st, &created, &empty, err,
				      err_len);
		if (ret)
			goto out_close;
	}
	if (empty) {
		memcpy(h.sh_magic, SF_SWAP_MAGIC, sizeof(h.sh_magic));
		h.sh_version = SF_SWAP_VERSION;
		h.sh_flags = created ? SF_SWAP_CREATED : 0;
		memcpy(page, &h, sizeof(h));
		if (pwrite(fd, page, sizeof(page), 0) != sizeof(page)) {
			ret = swap_file_error(err, err_len,
					      errno ? -errno : -ENOSPC,
					      "swap file %s: cannot write its "
					      "header: %s", path,
					      strerror(errno ? errno : ENOSPC));
			goto out_close;
		}
	}
	if ((uint64_t)st.st_size < bytes && ftruncate(fd, (off_t)bytes)) {
		ret = swap_file_error(err, err_len, -errno,
				      "swap file %s: cannot grow it to %llu "
				      "bytes: %s", path,
				      (unsigned long long)bytes,
				      strerror(errno));
		goto out_close;
	}
	ret = swap_file_error(err, err_len, -ENOMEM,
			      "swap file %s: out of memory", path);
	fb = sf_calloc(1, sizeof(*fb));
	if (!fb)
		goto out_close;
	fb->fb_path = strdup(path);
	if (!fb->fb_path) {
		free(fb);
		goto out_close;
	}
	if (err && err_len)
		err[0] = '\0';
	fb->fb_fd = fd;
	fb->fb_created = created;
	*ops = &file_ops;
	*priv = fb;
	*nslots = bytes / SF_PAGE_SIZE - SF_SWAP_HDR_SIZE / SF_PAGE_SIZE;
	return 0;

out_close:
	/*
	 * Remove a file this call made, unless another mount opened it
	 * while it was empty (taking it for the user's) and locked it
	 * before we could: it is that mount's now.
	 */
	if (made && !busy)
		unlink(path);
	close(fd);
	return ret;
}

int
swap_init(struct sf_swap *sw, const struct sf_swap_ops *ops, void *priv,
	  uint64_t nslots)
{
	uint64_t words = (nslots + 63) / 64;

	if (sodium_init() < 0)
		return -EIO;
	if (ops->sop_version < 1)
		return -EINVAL;
	memset(sw, 0, sizeof(*sw));
	sw->sw_bitmap = sf_calloc(words ? words : 1, sizeof(uint64_t));
	sw->sw_backed = sf_calloc(words ? words : 1, sizeof(uint64_t));
	sw->sw_meta = sf_calloc(nslots ? nslots : 1, sizeof(*sw->sw_meta));
	sw->sw_key = sodium_malloc(crypto_aead_chacha20poly1305_IETF_KEYBYTES);
	sw->sw_bounce = sf_malloc(SF_PAGE_SIZE);
	if (!sw->sw_bitmap || !sw->sw_backed || !sw->sw_meta || !sw->sw_key ||
	    !sw->sw_bounce) {
		free(sw->sw_bitmap);
		free(sw->sw_backed);
		free(sw->sw_meta);
		free(sw->sw_bounce);
		if (sw->sw_key)
			sodium_free(sw->sw_key);
		return -ENOMEM;
	}
	crypto_aead_chacha20poly1305_ietf_keygen(sw->sw_key);
	sw->sw_ops = ops;
	sw->sw_priv = priv;
	sw->sw_nslots = nslots;
	sw->sw_enabled = true;
	sw->sw_nonce = 1;
	return 0;
}

void
swap_fini(struct sf_swap *sw)
{
	if (!sw->sw_ops)
		return;
	sw->sw_ops->sop_close(sw->sw_priv);
	free(sw->sw_bitmap);
	free(sw->sw_backed);
	free(sw->sw_meta);
	free(sw->sw_bounce);
	sodium_free(sw->sw_key);
	memset(sw, 0, sizeof(*sw));
}

/*
 * The first slot at or after word *@hint whose bit is clear in sw_bitmap
 * (and, if @backed, set in sw_backed), or -1.  Words below *@hint hold
 * no such slot; the hint moves up to the word found.
 */
static int64_t
slot_scan(struct sf_swap *sw, uint64_t *hint, bool backed)
{
	uint64_t words = (sw->sw_nslots + 63) / 64, w;

	for (w = *hint; w < words; w++) {
		uint64_t bits = ~sw->sw_bitmap[w];
		uint64_t slot;

		if (backed)
			bits &= sw->sw_backed[w];
		if (!bits)
			continue;
		slot = w * 64 + (uint64_t)__builtin_ctzll(bits);
		if (slot >= sw->sw_nslots)
			break; /* only the last word has bits past the end */
		*hint = w;
		return (int64_t)slot;
	}
	*hint = words;
	return -1;
}

/*
 * A free slot, or -ENOSPC.  Slots already written (backed) come first,
 * then the lowest never-written one: the file grows only when it must,
 * and when the disk under it is full the slots it already holds still
 * take pages.  With @backed_only, never a slot that was not written.
 */
int64_t
swap_slot_alloc(struct sf_swap *sw, bool backed_only)
{
	int64_t slot = -1;

	if (sw->sw_used >= sw->sw_nslots)
		return -ENOSPC;
	if (sw->sw_backed_free) {
		slot = slot_scan(sw, &sw->sw_bfree_hint, true);
		SF_ASSERT(slot >= 0);
		if (slot >= 0)
			sw->sw_backed_free--;
	} else if (!backed_only) {
		slot = slot_scan(sw, &sw->sw_free_hint, false);
	}
	if (slot < 0)
		return -ENOSPC;
	sw->sw_bitmap[slot / 64] |= 1ull << (slot % 64);
	sw->sw_used++;
	return slot;
}

/* Whether @slot has been written since the device was set up. */
bool
swap_slot_backed(const struct sf_swap *sw, uint64_t slot)
{
	return sw->sw_backed[slot / 64] & (1ull << (slot % 64));
}

/* @slot exists and holds a page (for the consistency checks). */
bool
swap_slot_in_use(const struct sf_swap *sw, uint64_t slot)
{
	return slot < sw->sw_nslots &&
	       (sw->sw_bitmap[slot / 64] & (1ull << (slot % 64)));
}

void
swap_slot_free(struct sf_swap *sw, uint64_t slot)
{
	uint64_t w = slot / 64;

	SF_ASSERT(slot < sw->sw_nslots);
	SF_ASSERT(sw->sw_bitmap[w] & (1ull << (slot % 64)));
	sw->sw_bitmap[w] &= ~(1ull << (slot % 64));
	sw->sw_used--;
	if (w < sw->sw_free_hint)
		sw->sw_free_hint = w;
	if (swap_slot_backed(sw, slot)) {
		sw->sw_backed_free++;
		if (w < sw->sw_bfree_hint)
			sw->sw_bfree_hint = w;
	}
	/*
	 * No hole is punched for a freed slot: one 4 KiB punch per slot costs
	 * a syscall per swap-in and made unmount of a full swap take tens of
	 * seconds; a freed slot is simply overwritten when reused.  That is
	 * also what keeps it backed: a page can go there when the disk under
	 * the file is full.
	 */
}

static void
make_nonce(unsigned char *npub, uint64_t nonce)
{
	memset(npub, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
	memcpy(npub, &nonce, sizeof(nonce));
}

/* Seal @page into @slot.  On error the slot holds nothing useful. */
int
swap_write_page(struct sf_swap *sw, uint64_t slot, const void *page)
{
	unsigned char npub[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
	struct sf_slotmeta *m = &sw->sw_meta[slot];
	unsigned long long taglen;
	uint64_t nonce = sw->sw_nonce++;
	int ret;

	make_nonce(npub, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		sw->sw_bounce, m->slm_tag, &taglen, page, SF_PAGE_SIZE,
		(const unsigned char *)&slot, sizeof(slot), NULL, npub,
		sw->sw_key);
	m->slm_nonce = nonce;
	ret = sw->sw_ops->sop_write(sw->sw_priv, slot * SF_PAGE_SIZE,
				   sw->sw_bounce, SF_PAGE_SIZE);
	if (!ret)
		sw->sw_backed[slot / 64] |= 1ull << (slot % 64);
	return ret;
}

/*
 * Read and open @slot into @page.  -EIO if the backend fails or the
 * tag does not match; @page is untouched then.
 */
int
swap_read_page(struct sf_swap *sw, uint64_t slot, void *page)
{
	unsigned char npub[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
	struct sf_slotmeta *m = &sw->sw_meta[slot];
	int ret;

	ret = sw->sw_ops->sop_read(sw->sw_priv, slot * SF_PAGE_SIZE,
				  sw->sw_bounce, SF_PAGE_SIZE);
	if (ret)
		return -EIO;
	make_nonce(npub, m->slm_nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    page, NULL, sw->sw_bounce, SF_PAGE_SIZE, m->slm_tag,
		    (const unsigned char *)&slot, sizeof(slot), npub,
		    sw->sw_key))
		return -EIO;
	return 0;
}

/*
 * Remount swapsize=: @nslots slots from now on.  Growing reallocates the
 * maps (the file grows as new slots are written); shrinking is refused
 * with -EBUSY while a slot past the new end holds a page, and forgets
 * the backing of the slots cut off (the file is not shrunk, as at
 * mount).  Nothing changes on failure.
 */
int
swap_resize(struct sf_swap *sw, uint64_t nslots)
{
	uint64_t oldw = (sw->sw_nslots + 63) / 64, neww = (nslots + 63) / 64;
	uint64_t *bitmap, *backed, s;
	struct sf_slotmeta *meta;

	if (!sw->sw_ops)
		return -EINVAL;
	for (s = nslots; s < sw->sw_nslots; s++)
		if (swap_slot_in_use(sw, s))
			return -EBUSY;
	if (nslots > sw->sw_nslots) {
		bitmap = sf_calloc(neww, sizeof(uint64_t));
		backed = sf_calloc(neww, sizeof(uint64_t));
		meta = sf_calloc(nslots, sizeof(*meta));
		if (!bitmap || !backed || !meta) {
			free(bitmap);
			free(backed);
			free(meta);
			return -ENOMEM;
		}
		memcpy(bitmap, sw->sw_bitmap, oldw * sizeof(uint64_t));
		memcpy(backed, sw->sw_backed, oldw * sizeof(uint64_t));
		memcpy(meta, sw->sw_meta, sw->sw_nslots * sizeof(*meta));
		free(sw->sw_bitmap);
		free(sw->sw_backed);
		free(sw->sw_meta);
		sw->sw_bitmap = bitmap;
		sw->sw_backed = backed;
		sw->sw_meta = meta;
	} else {
		for (s = nslots; s < sw->sw_nslots; s++) {
			if (swap_slot_backed(sw, s)) {
				sw->sw_backed[s / 64] &= ~(1ull << (s % 64));
				sw->sw_backed_free--;
			}
		}
	}
	/*
	 * The old last word may have free slots past the old end that
	 * exist now: the hints must not be above it.  (Words below a hint
	 * still hold no free slot either way.)
	 */
	if (oldw && sw->sw_free_hint > oldw - 1)
		sw->sw_free_hint = oldw - 1;
	if (oldw && sw->sw_bfree_hint > oldw - 1)
		sw->sw_bfree_hint = oldw - 1;
	sw->sw_nslots = nslots;
	return 0;
}
