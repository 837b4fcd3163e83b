/* strtable.h - one way to name the values of an enum.
 *
 * A table is an array indexed by the enum, "[VALUE] = "name"" (gaps are
 * NULL).  STRING_TABLE_TO_STRING defines NAME_to_string(), which returns
 * the name of a value, or FALLBACK for a value the table does not name;
 * STRING_TABLE_FROM_STRING defines NAME_from_string(), which returns the
 * value of a name (as an int) or -EINVAL.  The table is named NAME_table.
 * Both may be prefixed with "static".  As systemd's string-table.h.
 */
#ifndef CSMS_STRTABLE_H
#define CSMS_STRTABLE_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "util.h"

/* The index of S in TABLE (N entries), or -EINVAL. */
static inline int string_table_lookup(const char *const *table, size_t n, const char *s)
{
	if (s)
		for (size_t i = 0; i < n; i++)
			if (table[i] && strcmp(table[i], s) == 0)
				return (int) i;
	return -EINVAL;
}

#define STRING_TABLE_TO_STRING(name, type, fallback)                                    \
	const char *name##_to_string(type v)                                            \
	{                                                                               \
		if ((size_t) v < ELEMENTSOF(name##_table) && name##_table[v])           \
			return name##_table[v];                                         \
		return fallback;                                                        \
	}

#define STRING_TABLE_FROM_STRING(name)                                                  \
	int name##_from_string(const char *s)                                           \
	{                                                                               \
		return string_table_lookup(name##_table, ELEMENTSOF(name##_table), s);  \
	}

#endif
