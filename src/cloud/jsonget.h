/* jsonget.h - reading JSON someone else wrote (a cloud answer, a plan file)
 * with jansson: every member checked for type and size before use, and one
 * error convention for all of it.
 *
 * Every function returns 0, -ENOMEM, or -EBADMSG with *ERROR (malloc'd;
 * ERROR may be NULL) set to "PATH: message", PATH being where the value
 * sits ("resources[3].tags[1].key"; the message alone at the top level).
 * Paths are chains of struct jget_path on the caller's stack, formatted
 * only for a message: decoding a good document formats nothing.
 */
#ifndef CSMS_JSONGET_H
#define CSMS_JSONGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct jget_path {
	const struct jget_path *up;     /* NULL at the top level */
	const char *field;              /* member name; NULL for an array element */
	size_t index;
};

#define JGET_MEMBER(w, name) ((struct jget_path) { .up = (w), .field = (name) })
#define JGET_ELEMENT(w, i) ((struct jget_path) { .up = (w), .index = (i) })

/* -EBADMSG with "PATH: message" in *ERROR (-ENOMEM if that fails). */
int jget_bad(char **error, const struct jget_path *w, const char *fmt, ...) _printf_(3, 4);

/* Parse BODY as a JSON object.  Duplicate member names are refused: which
 * of two values a writer meant is anyone's guess.  jansson also refuses
 * \u0000 and invalid UTF-8.  With QUOTE_INPUT false the message leaves out
 * jansson's "near '...'" excerpt, for bodies that carry credentials. */
int jget_load_object(const char *body, size_t len, bool quote_input, json_t **ret, char **error);

/* jget_load_object() (QUOTE_INPUT true) into a scratch arena that is
 * reused from one document to the next, for the large answers that are
 * decoded and dropped at once (a listing of 250 secrets is some 12,000
 * values: with malloc, parsing one costs more than the rest of its pass).
 * One scratch document at a time: release it with jget_release_scratch()
 * before the next load, and keep nothing of it (copy the strings out).
 * In an AddressSanitizer build the arena is off, so that a value kept past
 * its release is reported as a use after free. */
int jget_load_scratch(const char *body, size_t len, json_t **ret, char **error);
/* Drop the scratch document ROOT (NULL: no-op). */
void jget_release_scratch(json_t *root);

enum jget_need {
	JGET_OPTIONAL,          /* absent or null: *ret = NULL */
	JGET_REQUIRED,          /* present and not empty */
	JGET_PRESENT,           /* present; "" allowed */
};

/* Member FIELD of OBJ (at W) as a string of at most MAX bytes, valid UTF-8
 * without NUL; *RET points into OBJ. */
int jget_string(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                size_t max, const char **ret, char **error);

/* Member FIELD of OBJ as an id that becomes a URL path segment (a secret
 * or project id): required, at most MAX bytes, and refused when it could
 * change the URL's structure even after percent-encoding ("." and "..",
 * bytes outside printable ASCII, / \ % ? #) rather than sent. */
int jget_id(json_t *obj, const struct jget_path *w, const char *field, size_t max,
            const char **ret, char **error);

/* Member FIELD of OBJ as a non-negative integer / true or false.  With
 * JGET_OPTIONAL, absent or null leaves *RET as it was. */
int jget_uint(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
              uint64_t *ret, char **error);
int jget_bool(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
              bool *ret, char **error);

/* Member FIELD of OBJ as a string, or as an array of byte values (1..255),
 * the way journalctl -o json writes a value that is not UTF-8; *RET is
 * malloc'd.  Absent gives NULL unless JGET_REQUIRED; null is refused
 * (journalctl writes null for a value over its size threshold). */
int jget_bytes(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
               char **ret, char **error);

/* Member FIELD of OBJ as an object / an array: absent or null gives NULL,
 * an error unless JGET_OPTIONAL. */
int jget_object(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                json_t **ret, char **error);
int jget_array(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
               json_t **ret, char **error);

#endif
