/* timefmt.h - the time syntaxes of csms-tagd, one parser and one formatter
 * each.  Pure functions (no I/O, no logging); times are microseconds,
 * CLOCK_REALTIME since the epoch, spans microseconds.
 *
 *   syntax                          parser            formatter
 *   time span "1h 30min"            parse_timespan()  format_timespan()
 *   time for people                 parse_time()      format_utc()
 *   RFC 3339 "2026-11-29T21:31:05Z" parse_rfc3339_time()   format_rfc3339_time()
 *
 * (The signature's X-Sdk-Date, "20261129T213105Z", is sign.h's.)
 */
#ifndef CSMS_TIMEFMT_H
#define CSMS_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A time span such as "30s", "5min", "1h 30min", "250ms", "1.5h":
 * components of a number (up to six decimals) and a unit (us, usec, ms,
 * msec, s, sec, m, min, h, hr, d; none means seconds), summed.  Returns 0,
 * or -EINVAL (empty, negative, unknown unit) or -ERANGE. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/* "4min 58s", "250ms", "1h 2min" into BUF (sub-second parts are left out
 * of spans of a minute or more). */
const char *format_timespan(char *buf, size_t size, uint64_t usec);

/* A point in time, as people write it (and journalctl --since reads it):
 * "@EPOCH", "YYYY-MM-DD" (its 00:00), "YYYY-MM-DD HH:MM[:SS]" ('T' allowed
 * for the space), optionally followed by "Z", "UTC" or "+HH:MM"/"-HH:MM".
 * Without a zone it is UTC or local time, as ZONE_DEFAULT says.  Fields are
 * checked (2026-02-30 is refused); relative times ("-1h", "yesterday") are
 * refused.  Returns 0, -EINVAL for anything else, and for a local time
 * that does not name one instant: -ENOTUNIQ when it happens twice (the
 * hour the clocks go back), -ENOENT when it never happens (the hour they
 * skip going forward); parse_time_problem() says which in words. */
enum time_zone_default { ZONE_UTC, ZONE_LOCAL };
int parse_time(const char *s, enum time_zone_default zone_default, uint64_t *ret_usec);

/* What is wrong with a time parse_time() refused with R, when more can be
 * said than "not a time": for -ENOTUNIQ and -ENOENT.  NULL otherwise. */
const char *parse_time_problem(int r);

/* "YYYY-MM-DD HH:MM:SS UTC" into BUF (at least FORMAT_UTC_MAX bytes), for
 * people: messages, STATUS=, --status, --plan.  "@SECONDS" if the year
 * cannot be written. */
#define FORMAT_UTC_MAX 32
const char *format_utc(char *buf, size_t size, uint64_t usec);
/* The name format_utc() had in values.h; the same function. */
#define format_utc_time format_utc

/* "2020-01-04T09:05:22.701000Z": fraction optional (digits past the
 * sixth dropped), "Z" or "+00:00".  Returns 0 or -EINVAL. */
int parse_rfc3339_time(const char *s, uint64_t *ret_usec);

/* "YYYY-MM-DDTHH:MM:SSZ", or with FRACTION "YYYY-MM-DDTHH:MM:SS.ffffffZ",
 * into BUF (at least FORMAT_RFC3339_MAX bytes).  NULL if it cannot be
 * written (a year past 9999). */
#define FORMAT_RFC3339_MAX 32
const char *format_rfc3339_time(char *buf, size_t size, uint64_t usec, bool fraction);

#endif
