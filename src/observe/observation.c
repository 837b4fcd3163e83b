/* observation.c - the observed state of secrets and tags. */
#include "observation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct secret *observation_add(struct observation *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct secret *s = realloc(o->secrets, cap * sizeof(*s));

		if (!s)
			return NULL;
		o->secrets = s;
		o->cap = cap;
	}
	memset(&o->secrets[o->n], 0, sizeof(o->secrets[0]));
	return &o->secrets[o->n++];
}

int tag_list_add(struct tag_list *l, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
	char *block;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct tag *items = reallocarray(l->items, cap, sizeof(*items));

		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	block = malloc(klen + vlen + 2);
	if (!block)
		return -ENOMEM;
	memcpy(block, key, klen + 1);
	memcpy(block + klen + 1, value ? value : "", vlen + 1);
	l->items[l->n].key = block;
	l->items[l->n].value = block + klen + 1;
	l->n++;
	return 0;
}

void tag_list_clear(struct tag_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].key);          /* the value shares this block */
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}

const struct tag *tag_list_find(const struct tag_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].key, key) == 0)
			return &l->items[i];
	return NULL;
}

struct secret *observation_find_id(const struct observation *o, const char *id)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->secrets[i].id && strcmp(o->secrets[i].id, id) == 0)
			return &o->secrets[i];
	return NULL;
}

struct secret *observation_find_name(const struct observation *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->secrets[i].name && strcmp(o->secrets[i].name, name) == 0)
			return &o->secrets[i];
	return NULL;
}

static int secret_cmp(const void *a, const void *b)
{
	const struct secret *x = a, *y = b;
	int r = strcmp(x->name ? x->name : "", y->name ? y->name : "");

	return r ? r : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

void observation_sort(struct observation *o)
{
	if (o->n > 1)
		qsort(o->secrets, o->n, sizeof(o->secrets[0]), secret_cmp);
}

void secret_clear(struct secret *s)
{
	free(s->id);
	free(s->name);
	free(s->state);
	tag_list_clear(&s->tags);
	tag_list_clear(&s->sys_tags);
	memset(s, 0, sizeof(*s));
}

void observation_clear(struct observation *o)
{
	for (size_t i = 0; i < o->n; i++)
		secret_clear(&o->secrets[i]);
	free(o->secrets);
	memset(o, 0, sizeof(*o));
}

int observation_move(struct observation *dst, struct observation *src)
{
	if (src->n == 0)
		return 0;
	if (dst->cap - dst->n < src->n) {
		/* Grow geometrically: pages are appended one by one. */
		size_t cap = dst->cap * 2 > dst->n + src->n ? dst->cap * 2 : dst->n + src->n;
		struct secret *s = reallocarray(dst->secrets, cap, sizeof(*s));

		if (!s)
			return -ENOMEM;
		dst->secrets = s;
		dst->cap = cap;
	}
	memcpy(dst->secrets + dst->n, src->secrets, src->n * sizeof(*src->secrets));
	dst->n += src->n;
	free(src->secrets);
	memset(src, 0, sizeof(*src));
	return 0;
}
