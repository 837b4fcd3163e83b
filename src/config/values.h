/* values.h - the value syntaxes of csms-tagd.conf(5), one parser each.
 *
 * Pure functions on NUL-terminated text: no I/O, no logging, no knowledge
 * of sections or keys.  Each returns 0 or a negative errno; the caller
 * (config.c) turns that into a "FILE:LINE: ..." message.
 */
#ifndef CSMS_VALUES_H
#define CSMS_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timefmt.h"

/* The time syntaxes (time spans, times) are timefmt.h's; included here for
 * the modules that found them in this header. */
/* Strict unsigned decimal: digits only, no sign, no spaces.  -EINVAL or
 * -ERANGE. */
int parse_uint64(const char *s, uint64_t *ret);

/* "10", "0.5", "2.25": digits with an optional fraction.  Parsed by hand
 * because strtod() also takes "inf", "nan", hex and the locale's comma.
 * -EINVAL. */
int parse_decimal(const char *s, double *ret);

/* yes/no, true/false, on/off, 1/0 (any case): 1, 0 or -EINVAL. */
int parse_boolean(const char *s);

/* Decode %XX escapes (any byte).  On success *RET is malloc'd, *RET_LEN
 * bytes long (it may hold a decoded NUL) and valid UTF-8.  -EINVAL on a bad
 * escape (*BAD then points at its '%'), -EILSEQ when the result is not
 * UTF-8, -ENOMEM. */
int percent_decode(const char *s, char **ret, size_t *ret_len, const char **bad);

/* The same as a plain string: NULL with errno = EINVAL when S has a bad
 * escape, decodes to invalid UTF-8 or to a NUL; ENOMEM. */
char *config_unescape(const char *s);

/* Characters (not bytes) of valid UTF-8 S. */
size_t utf8_chars(const char *s);

/* Whether S holds a C0 control character or DEL. */
bool has_control(const char *s);

/* Validate a glob for fnmatch(3) without flags: brackets must close,
 * [:classes:] must exist, no trailing backslash.  0 or -EINVAL. */
int glob_validate(const char *glob);

/* Whether S holds a glob character ('*', '?' or '[') at all. */
bool has_glob_chars(const char *s);

/* Whether every string that valid glob B matches (fnmatch(3), no flags) is
 * also matched by valid glob A.  Sound, not complete: true only when that
 * is certain (A covers B token by token: '*' takes any run, '?' one
 * character or '?' or bracket, a bracket a literal it holds or the same
 * bracket, a literal itself), so an error built on it is never false.
 * "*" and "**" cover "*": each is a catch-all. */
bool glob_covers(const char *a, const char *b);

/* An http:// or https:// URL with a host, an optional port and no path
 * beyond "/".  On success returns 0 and the URL without its trailing '/'
 * in *RET (malloc'd): every endpoint is normalised here, once, so that
 * code appending request paths to it never sees "//".  -EINVAL, -ENOMEM. */
int endpoint_normalize(const char *s, char **ret);

/* The marker endpoint templates hold where a target's region goes. */
#define ENDPOINT_REGION "{region}"

/* The same for an endpoint that may hold ENDPOINT_REGION (any number of
 * times): valid when it is a valid endpoint with every ENDPOINT_REGION
 * replaced by a region name.  *RET keeps the markers. */
int endpoint_template_normalize(const char *s, char **ret);

/* TEMPLATE with every ENDPOINT_REGION replaced by REGION, malloc'd in
 * *RET (TEMPLATE itself when it holds none).  0 or -ENOMEM. */
int endpoint_expand(const char *template, const char *region, char **ret);

#endif
