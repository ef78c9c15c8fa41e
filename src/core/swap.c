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
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct sf_slotmeta {
	uint64_t sm_nonce;
	unsigned char sm_tag[crypto_aead_chacha20poly1305_IETF_ABYTES];
};

struct file_backend {
	int fb_fd;
	int fb_created;
	char *fb_path;
};

static int
file_pread(void *priv, uint64_t off, void *buf, size_t len)
{
	struct file_backend *fb = priv;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fb->fb_fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

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
				   len - done, (off_t)(off + done));

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

	close(fb->fb_fd);
	if (fb->fb_created)
		unlink(fb->fb_path);
	free(fb->fb_path);
	free(fb);
}

static const struct sf_swap_ops file_ops = {
	.so_version = 1,
	.so_read = file_pread,
	.so_write = file_pwrite,
	.so_close = file_close,
};

/*
 * Open or create the swap file.  A new file is made sparse, mode 0600,
 * and removed at unmount.  An existing one must be a regular file owned
 * by us; it is grown to @bytes if smaller and never shrunk.
 */
int
swap_file_open(const char *path, uint64_t bytes, const struct sf_swap_ops **ops,
	       void **priv, uint64_t *nslots)
{
	struct file_backend *fb;
	struct stat st;
	int fd, created = 1, ret;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	ret = -errno;
	if (fstat(fd, &st))
		goto out_close;
	ret = -EINVAL;
	if (!S_ISREG(st.st_mode))
		goto out_close;
	ret = -EPERM;
	if (st.st_uid != geteuid())
		goto out_close;
	if ((uint64_t)st.st_size < bytes && ftruncate(fd, (off_t)bytes)) {
		ret = -errno;
		goto out_close;
	}
	ret = -ENOMEM;
	fb = sf_calloc(1, sizeof(*fb));
	if (!fb)
		goto out_close;
	fb->fb_path = strdup(path);
	if (!fb->fb_path) {
		free(fb);
		goto out_close;
	}
	fb->fb_fd = fd;
	fb->fb_created = created;
	*ops = &file_ops;
	*priv = fb;
	*nslots = bytes / SF_PAGE_SIZE;
	return 0;

out_close:
	close(fd);
	if (created)
		unlink(path);
	return ret;
}

int
swap_init(struct sf_swap *sw, const struct sf_swap_ops *ops, void *priv,
	  uint64_t nslots)
{
	uint64_t words = (nslots + 63) / 64;

	if (sodium_init() < 0)
		return -EIO;
	if (ops->so_version < 1)
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
	sw->sw_ops->so_close(sw->sw_priv);
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
		sw->sw_bounce, m->sm_tag, &taglen, page, SF_PAGE_SIZE,
		(const unsigned char *)&slot, sizeof(slot), NULL, npub,
		sw->sw_key);
	m->sm_nonce = nonce;
	ret = sw->sw_ops->so_write(sw->sw_priv, slot * SF_PAGE_SIZE,
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

	ret = sw->sw_ops->so_read(sw->sw_priv, slot * SF_PAGE_SIZE,
				  sw->sw_bounce, SF_PAGE_SIZE);
	if (ret)
		return -EIO;
	make_nonce(npub, m->sm_nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    page, NULL, sw->sw_bounce, SF_PAGE_SIZE, m->sm_tag,
		    (const unsigned char *)&slot, sizeof(slot), npub,
		    sw->sw_key))
		return -EIO;
	return 0;
}
