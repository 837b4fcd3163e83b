/* jsonget-scratch.c - the scratch arena behind jget_load_scratch().
 *
 * jansson allocates every value, member name and hashtable of a document
 * separately; for a listing that is tens of thousands of malloc() and
 * free() calls for a document that lives only while it is decoded.  While a
 * scratch document is being parsed its allocations are cut from one
 * reused block instead, and dropping the document resets the block.  The
 * block is sized to the largest document seen (up to SCRATCH_MAX): what a
 * document needs beyond it comes from malloc(), and then the document is
 * freed value by value as before.  Everything jansson allocates outside a
 * scratch parse still comes from malloc(); free() is skipped exactly for
 * the pointers inside the block. */
#include "jsonget.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_ARENA 0
#endif
#endif
#ifndef SCRATCH_ARENA
#define SCRATCH_ARENA 1
#endif

/* A listing page of 250 secrets with 8 tags each needs about 2 MB. */
#define SCRATCH_MAX ((size_t) 16 << 20)
#define SCRATCH_ALIGN ((size_t) 16)   /* jansson's values hold doubles and pointers */

static struct {
	char *base;
	size_t size, used;
	size_t want;            /* what the document being parsed asked for in all */
	size_t spilled;         /* its allocations that did not fit */
	json_t *root;           /* the scratch document, while busy */
	bool busy;              /* a scratch document is alive */
	bool installed;
} scratch;

/* The document is gone: reset the block, and grow it to what the
 * document needed when that did not fit. */
static void scratch_end(void)
{
	scratch.busy = false;
	scratch.root = NULL;
	scratch.used = 0;
	if (scratch.want > scratch.size && scratch.want <= SCRATCH_MAX) {
		char *grown = malloc(scratch.want);

		if (grown) {
			free(scratch.base);
			scratch.base = grown;
			scratch.size = scratch.want;
		}
	}
}

static bool in_block(const void *p)
{
	uintptr_t a = (uintptr_t) p, b = (uintptr_t) scratch.base;

	return scratch.base && a >= b && a < b + scratch.size;
}

static void *scratch_malloc(size_t n)
{
	size_t need = (n + SCRATCH_ALIGN - 1) & ~(SCRATCH_ALIGN - 1);

	if (scratch.busy && need >= n) {
		scratch.want += need;
		if (need <= scratch.size - scratch.used) {
			void *p = scratch.base + scratch.used;

			scratch.used += need;
			return p;
		}
		scratch.spilled++;
	}
	return malloc(n);
}

static void scratch_free(void *p)
{
	if (!in_block(p))
		free(p);
}

int jget_load_scratch(const char *body, size_t len, json_t **ret, char **error)
{
	int r;

	if (!SCRATCH_ARENA)
		return jget_load_object(body, len, true, ret, error);
	if (scratch.busy) {
		/* A second document while one is alive: an ordinary one, so
		 * that it cannot outlive the block it would be cut from. */
		scratch.busy = false;
		r = jget_load_object(body, len, true, ret, error);
		scratch.busy = true;
		return r;
	}
	if (!scratch.installed) {
		/* What was malloc'd before this is freed as before: outside
		 * the block scratch_free() is free(). */
		json_set_alloc_funcs(scratch_malloc, scratch_free);
		scratch.installed = true;
	}
	scratch.busy = true;
	scratch.used = scratch.want = scratch.spilled = 0;
	/* On failure jansson has freed what it built; *error is malloc'd
	 * by jget_bad(), never by jansson, so it is not in the block. */
	r = jget_load_object(body, len, true, ret, error);
	scratch.root = r < 0 ? NULL : *ret;
	if (r < 0)
		scratch_end();
	return r;
}

void jget_release_scratch(json_t *root)
{
	if (!root)
		return;
	if (!scratch.busy || root != scratch.root) {
		json_decref(root);
		return;
	}
	/* With nothing spilled every value of the document is in the block,
	 * and resetting the block is dropping the document. */
	if (scratch.spilled)
		json_decref(root);
	scratch_end();
}
