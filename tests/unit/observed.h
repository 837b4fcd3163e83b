/* observed.h - building observations in unit tests: a secret with its tags
 * given as key, value, ..., NULL. */
#ifndef CSMS_TEST_OBSERVED_H
#define CSMS_TEST_OBSERVED_H

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include "observation.h"

static inline struct secret *observed_vadd(struct observation *o, const char *id, const char *name,
                                           const char *state, bool complete, va_list ap)
{
	struct secret *s = observation_add(o);
	const char *k;

	assert_non_null(s);
	s->id = strdup(id);
	s->name = strdup(name);
	s->state = strdup(state);
	assert_true(s->id && s->name && s->state);
	s->tags_complete = complete;
	while ((k = va_arg(ap, const char *)))
		assert_int_equal(tag_list_add(&s->tags, k, va_arg(ap, const char *)), 0);
	return s;
}

/* An ENABLED secret whose tags were read completely. */
static inline struct secret *observed_add(struct observation *o, const char *id, const char *name, ...)
{
	struct secret *s;
	va_list ap;

	va_start(ap, name);
	s = observed_vadd(o, id, name, "ENABLED", true, ap);
	va_end(ap);
	return s;
}

#endif
