/* jsonget.c - typed, validating getters for JSON members, with one error
 * convention.  See jsonget.h. */
#include "jsonget.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void path_print(FILE *f, const struct jget_path *w)
{
	if (!w)
		return;
	path_print(f, w->up);
	if (w->field)
		fprintf(f, "%s%s", w->up ? "." : "", w->field);
	else
		fprintf(f, "[%zu]", w->index);
}

/* Set *error to "PATH: message" (or just the message at the top level)
 * when wanted and return -EBADMSG, or -ENOMEM when even that fails. */
int jget_bad(char **error, const struct jget_path *w, const char *fmt, ...)
{
	char *m = NULL;
	size_t size = 0;
	va_list ap;
	FILE *f;
	bool failed;

	if (!error)
		return -EBADMSG;
	f = open_memstream(&m, &size);
	if (!f)
		return -ENOMEM;
	path_print(f, w);
	if (w)
		fputs(": ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	failed = ferror(f);
	if (fclose(f) != 0 || failed || !m) {
		free(m);
		return -ENOMEM;
	}
	*error = m;
	return -EBADMSG;
}

/* Parse BODY as a JSON object.  Duplicate member names are refused: which
 * of two values a server meant is anyone's guess.  jansson also refuses
 * \u0000 and invalid UTF-8.  With QUOTE_INPUT false the message leaves out
 * jansson's "near '...'" excerpt, for bodies that carry credentials. */
int jget_load_object(const char *body, size_t len, bool quote_input, json_t **ret, char **error)
{
	json_error_t e;
	json_t *j;

	j = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		_cleanup_free_ char *text = NULL;

		if (json_error_code(&e) == json_error_out_of_memory)
			return -ENOMEM;
		if (!quote_input)
			return jget_bad(error, NULL, "invalid JSON at line %d, column %d", e.line, e.column);
		text = escape_for_log(e.text);
		if (!text)
			return -ENOMEM;
		return jget_bad(error, NULL, "invalid JSON at line %d, column %d: %s", e.line, e.column, text);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return jget_bad(error, NULL, "expected a JSON object at the top level");
	}
	*ret = j;
	return 0;
}

/* Member FIELD of OBJ (at W) as a string of at most MAX bytes.  Absent or
 * null gives *ret = NULL, which is an error when JGET_REQUIRED; a JGET_REQUIRED string
 * must also be non-empty. */
int jget_string(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                size_t max, const char **ret, char **error)
{
	json_t *v = json_object_get(obj, field);
	struct jget_path fw = JGET_MEMBER(w, field);
	const char *s;
	size_t len;

	if (!v || json_is_null(v)) {
		if (need != JGET_OPTIONAL)
			return jget_bad(error, &fw, "missing");
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return jget_bad(error, &fw, "expected a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (memchr(s, '\0', len))
		return jget_bad(error, &fw, "contains a NUL byte");
	if (!utf8_is_valid(s, len))
		return jget_bad(error, &fw, "not valid UTF-8");
	if (len > max)
		return jget_bad(error, &fw, "longer than %zu bytes", max);
	if (need == JGET_REQUIRED && len == 0)
		return jget_bad(error, &fw, "must not be empty");
	*ret = s;
	return 0;
}

/* Member FIELD of OBJ as an object (IS_ARRAY false) or an array: absent or
 * null gives NULL, an error when JGET_REQUIRED. */
static int get_container(json_t *obj, const struct jget_path *w, const char *field, bool is_array,
                         bool required, json_t **ret, char **error)
{
	json_t *v = json_object_get(obj, field);
	struct jget_path fw = JGET_MEMBER(w, field);

	if (!v || json_is_null(v)) {
		if (required)
			return jget_bad(error, &fw, "missing");
		*ret = NULL;
		return 0;
	}
	if (is_array ? !json_is_array(v) : !json_is_object(v))
		return jget_bad(error, &fw, is_array ? "expected an array" : "expected an object");
	*ret = v;
	return 0;
}

int jget_object(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                json_t **ret, char **error)
{
	return get_container(obj, w, field, false, need != JGET_OPTIONAL, ret, error);
}

int jget_array(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
               json_t **ret, char **error)
{
	return get_container(obj, w, field, true, need != JGET_OPTIONAL, ret, error);
}

int jget_id(json_t *obj, const struct jget_path *w, const char *field, size_t max,
            const char **ret, char **error)
{
	struct jget_path fw = JGET_MEMBER(w, field);
	const char *id;
	int r;

	r = jget_string(obj, w, field, JGET_REQUIRED, max, &id, error);
	if (r < 0)
		return r;
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return jget_bad(error, &fw, "not usable in a URL path");
	for (const unsigned char *p = (const unsigned char *) id; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("/\\%?#", *p))
			return jget_bad(error, &fw, "not usable in a URL path");
	*ret = id;
	return 0;
}

/* The member, or NULL (absent or null: *RET stays, an error unless JGET_OPTIONAL). */
static int get_member(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                      json_t **ret, char **error)
{
	json_t *v = json_object_get(obj, field);
	struct jget_path fw = JGET_MEMBER(w, field);

	*ret = v && !json_is_null(v) ? v : NULL;
	return *ret || need == JGET_OPTIONAL ? 0 : jget_bad(error, &fw, "missing");
}

int jget_uint(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
              uint64_t *ret, char **error)
{
	struct jget_path fw = JGET_MEMBER(w, field);
	json_t *v;
	int r = get_member(obj, w, field, need, &v, error);

	if (r < 0 || !v)
		return r;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return jget_bad(error, &fw, "expected a non-negative integer");
	*ret = (uint64_t) json_integer_value(v);
	return 0;
}

int jget_bool(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
              bool *ret, char **error)
{
	struct jget_path fw = JGET_MEMBER(w, field);
	json_t *v;
	int r = get_member(obj, w, field, need, &v, error);

	if (r < 0 || !v)
		return r;
	if (!json_is_boolean(v))
		return jget_bad(error, &fw, "expected true or false");
	*ret = json_is_true(v);
	return 0;
}

/* V, an array of byte values, as a malloc'd string in *RET. */
static int bytes_of(json_t *v, const struct jget_path *fw, char **ret, char **error)
{
	size_t n = json_array_size(v);
	char *s = malloc(n + 1);

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *b = json_array_get(v, i);
		json_int_t x = json_is_integer(b) ? json_integer_value(b) : -1;

		if (x < 1 || x > 255) {
			free(s);
			return jget_bad(error, fw, "%s", json_is_integer(b) && x == 0 ? "contains a NUL byte" :
			                "is an array but not of byte values (a field logged several times?)");
		}
		s[i] = (char) x;
	}
	s[n] = '\0';
	*ret = s;
	return 0;
}

int jget_bytes(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
               char **ret, char **error)
{
	json_t *v = json_object_get(obj, field);
	struct jget_path fw = JGET_MEMBER(w, field);

	*ret = NULL;
	if (!v)
		return need == JGET_REQUIRED ? jget_bad(error, &fw, "missing") : 0;
	if (json_is_null(v))
		return jget_bad(error, &fw, "is null (larger than journalctl's threshold: use journalctl --all)");
	if (json_is_array(v))
		return bytes_of(v, &fw, ret, error);
	if (!json_is_string(v))
		return jget_bad(error, &fw, "is neither a string nor an array of bytes");
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return jget_bad(error, &fw, "contains a NUL byte");
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}
