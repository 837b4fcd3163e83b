/* fuzz-util.h - shared helpers for the libFuzzer targets.
 *
 * A target fails (abort(), which libFuzzer reports as a crash) not only on
 * memory errors but also when a decoder breaks its contract: output that
 * violates the limits it promises, or output appended on error.
 */
#ifndef CSMS_FUZZ_UTIL_H
#define CSMS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observation.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__,     \
			        __LINE__, #cond);                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* The input as a NUL-terminated string (cut at its first NUL byte). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A string a decoder handed out: valid UTF-8 of at most MAX bytes. */
static inline void check_text(const char *s, size_t max, bool non_empty)
{
	CHECK(s);
	CHECK(strlen(s) <= max);
	CHECK(!non_empty || s[0] != '\0');
	CHECK(utf8_is_valid(s, strlen(s)));
}

/* A secret id: bounded, and a path segment that percent-encoding cannot
 * turn into a structural part of the URL. */
static inline void check_id(const char *s, size_t max)
{
	check_text(s, max, true);
	CHECK(strcmp(s, ".") != 0 && strcmp(s, "..") != 0);
	CHECK(!strpbrk(s, "/\\%?# "));
}

/* Text for a log line: valid UTF-8 without control characters. */
static inline void check_loggable(const char *s)
{
	CHECK(s);
	CHECK(utf8_is_valid(s, strlen(s)));
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
}

static inline void check_tags(const struct tag_list *l, size_t max_tags, size_t max_key,
                              size_t max_value)
{
	CHECK(l->n <= max_tags);
	for (size_t i = 0; i < l->n; i++) {
		check_text(l->items[i].key, max_key, true);
		check_text(l->items[i].value, max_value, false);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(l->items[i].key, l->items[j].key) != 0);
	}
}

/* An observation that already holds one secret, so that a decoder that
 * appends on error, or clobbers what was there, is caught. */
static inline void observation_seed(struct observation *o)
{
	struct secret *s;

	memset(o, 0, sizeof(*o));
	s = observation_add(o);
	CHECK(s);
	s->id = strdup("seed-id");
	s->name = strdup("seed");
	s->state = strdup("ENABLED");
	CHECK(s->id && s->name && s->state);
}

static inline void check_seed_intact(const struct observation *o)
{
	CHECK(o->n >= 1);
	CHECK(strcmp(o->secrets[0].id, "seed-id") == 0);
	CHECK(strcmp(o->secrets[0].name, "seed") == 0);
}

#endif
