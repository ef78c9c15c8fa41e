/* SPDX-License-Identifier: MIT */
#include "alloc.h"

int sf_fail_after;

int
sf_should_fail(void)
{
	/* Racy by design: only single-threaded unit tests set the knob. */
	if (--sf_fail_after == 0)
		return 1;
	return 0;
}

/*
 * The object allocator (alloc.h).  A slab is SLAB_SIZE bytes aligned to
 * SLAB_SIZE, so an object finds its slab by masking its address; the
 * header sits at the start.  Objects are carved in address order as they
 * are first needed (the slab's untouched tail costs no memory), and a
 * freed object goes on its slab's free list.  Each class keeps a list of
 * the slabs that have room; a slab that empties is unmapped unless it is
 * the only one with room, so a class keeps at most one empty slab.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define SF_OBJ_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SF_OBJ_MALLOC 1
#endif
#endif

#if !defined(SF_OBJ_MALLOC) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SF_OBJ_VALGRIND 1
#endif
#endif

#define SLAB_SIZE (64 * 1024)
#define OBJ_ALIGN 8
#define OBJ_MAX 512 /* larger sizes go to malloc */
#define OBJ_CLASSES (OBJ_MAX / OBJ_ALIGN)

struct obj_slab {
	struct obj_slab *sl_next, *sl_prev; /* the class's slabs with room */
	void *sl_free;                      /* freed objects, linked */
	uint32_t sl_used;                   /* objects allocated */
	uint32_t sl_carved;                 /* objects ever handed out */
	uint32_t sl_cap;                    /* objects that fit */
	uint32_t sl_size;                   /* object size */
};

#define SLAB_HDR                                                               \
	((sizeof(struct obj_slab) + OBJ_ALIGN - 1) & ~(size_t)(OBJ_ALIGN - 1))

struct obj_class {
	pthread_mutex_t oc_lock;
	struct obj_slab *oc_avail; /* slabs with room */
};

static struct obj_class obj_classes[OBJ_CLASSES];
static pthread_once_t obj_once = PTHREAD_ONCE_INIT;

static void
obj_init(void)
{
	size_t i;

	for (i = 0; i < OBJ_CLASSES; i++)
		pthread_mutex_init(&obj_classes[i].oc_lock, NULL);
}

/* A SLAB_SIZE-aligned mapping of SLAB_SIZE bytes, or NULL. */
static struct obj_slab *
slab_map(size_t size)
{
	uintptr_t a, start;
	char *p;

	p = mmap(NULL, 2 * SLAB_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uintptr_t)p;
	start = (a + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1);
	if (start > a)
		munmap(p, start - a);
	munmap((char *)start + SLAB_SIZE, a + 2 * SLAB_SIZE - start - SLAB_SIZE);
	{
		struct obj_slab *s = (struct obj_slab *)start;

		s->sl_cap = (uint32_t)((SLAB_SIZE - SLAB_HDR) / size);
		s->sl_size = (uint32_t)size;
		return s;
	}
}

static void
slab_unlink(struct obj_class *c, struct obj_slab *s)
{
	if (s->sl_prev)
		s->sl_prev->sl_next = s->sl_next;
	else
		c->oc_avail = s->sl_next;
	if (s->sl_next)
		s->sl_next->sl_prev = s->sl_prev;
	s->sl_next = s->sl_prev = NULL;
}

static void
slab_push(struct obj_class *c, struct obj_slab *s)
{
	s->sl_prev = NULL;
	s->sl_next = c->oc_avail;
	if (c->oc_avail)
		c->oc_avail->sl_prev = s;
	c->oc_avail = s;
}

static size_t
obj_round(size_t size)
{
	return (size + OBJ_ALIGN - 1) & ~(size_t)(OBJ_ALIGN - 1);
}

void *
sf_obj_alloc(size_t size)
{
	struct obj_class *c;
	struct obj_slab *s;
	void *p;

	if (__builtin_expect(sf_fail_after > 0, 0) && sf_should_fail())
		return NULL;
#ifdef SF_OBJ_MALLOC
	return malloc(size);
#endif
	size = obj_round(size ? size : 1);
	if (size > OBJ_MAX)
		return malloc(size);
	pthread_once(&obj_once, obj_init);
	c = &obj_classes[size / OBJ_ALIGN - 1];
	pthread_mutex_lock(&c->oc_lock);
	s = c->oc_avail;
	if (!s) {
		s = slab_map(size);
		if (!s) {
			pthread_mutex_unlock(&c->oc_lock);
			return NULL;
		}
		slab_push(c, s);
	}
	if (s->sl_free) {
		p = s->sl_free;
#ifdef SF_OBJ_VALGRIND
		VALGRIND_MAKE_MEM_DEFINED(p, sizeof(void *));
#endif
		s->sl_free = *(void **)p;
	} else {
		p = (char *)s + SLAB_HDR + (size_t)s->sl_carved * size;
		s->sl_carved++;
	}
	s->sl_used++;
	if (!s->sl_free && s->sl_carved == s->sl_cap)
		slab_unlink(c, s); /* full */
	pthread_mutex_unlock(&c->oc_lock);
#ifdef SF_OBJ_VALGRIND
	VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, 0);
#endif
	return p;
}

void *
sf_obj_zalloc(size_t size)
{
	void *p = sf_obj_alloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

void
sf_obj_free(void *p, size_t size)
{
	struct obj_class *c;
	struct obj_slab *s;

	if (!p)
		return;
#ifdef SF_OBJ_MALLOC
	(void)size;
	free(p);
	return;
#endif
	size = obj_round(size ? size : 1);
	if (size > OBJ_MAX) {
		free(p);
		return;
	}
#ifdef SF_OBJ_VALGRIND
	VALGRIND_FREELIKE_BLOCK(p, 0);
	VALGRIND_MAKE_MEM_UNDEFINED(p, sizeof(void *));
#endif
	c = &obj_classes[size / OBJ_ALIGN - 1];
	s = (struct obj_slab *)((uintptr_t)p & ~(uintptr_t)(SLAB_SIZE - 1));
	pthread_mutex_lock(&c->oc_lock);
	if (!s->sl_free && s->sl_carved == s->sl_cap)
		slab_push(c, s); /* was full: has room again */
	*(void **)p = s->sl_free;
	s->sl_free = p;
	if (--s->sl_used == 0 && (c->oc_avail != s || s->sl_next)) {
		slab_unlink(c, s);
		munmap(s, SLAB_SIZE);
	}
	pthread_mutex_unlock(&c->oc_lock);
}
