/* util.h - small helpers shared by every module. */
#ifndef CSMS_UTIL_H
#define CSMS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) { free(*(void **) p); }
#define _cleanup_free_ _cleanup_(freep)

/* asprintf that returns the string or NULL. */
char *xasprintf(const char *fmt, ...) _printf_(1, 2);

/* Format into BUF unless it already holds a text: where several problems
 * can end one piece of work, the first is the one worth reporting. */
void set_first_reason(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);

/* Set *ERROR (unless ERROR is NULL) to the message, malloc'd (NULL when
 * out of memory); returns -EINVAL, for parsers that name what is wrong. */
int fail_message(char **error, const char *fmt, ...) _printf_(2, 3);

/* The value of exactly N decimal digits at S, or -1. */
int parse_digits(const char *s, int n);

bool streq_ptr(const char *a, const char *b);
bool startswith(const char *s, const char *prefix);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in microseconds. */
uint64_t now_monotonic_usec(void);
uint64_t now_realtime_usec(void);

/* *V = *V * MUL + ADD, or -ERANGE (V unchanged) when that does not fit. */
int u64_mul_add(uint64_t *v, uint64_t mul, uint64_t add);

/* Times and time spans, written and read: timefmt.h (included here for the
 * modules that found format_timespan() and format_utc() in this header). */
#include "timefmt.h"

/* Read a whole small regular file (at most MAX bytes) into a NUL-terminated
 * malloc'd buffer.  Returns 0 or a negative errno: -EFBIG when larger,
 * -EISDIR for a directory, -EINVAL for a device, FIFO or socket (never
 * blocking on one). */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open file descriptor (left open). */
int read_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* The state directory csms-tagd keeps its files in (grace clocks, state
 * file) when systemd gives none. */
#define STATE_DIRECTORY_DEFAULT "/var/lib/csms-tagd"

/* FILE in the state directory: DIR when not NULL, else the first entry of
 * $STATE_DIRECTORY (systemd's StateDirectory=, ':'-separated), else
 * STATE_DIRECTORY_DEFAULT.  Malloc'd; NULL on ENOMEM. */
char *state_file_path(const char *dir, const char *file);

/* Replace PATH atomically with LEN bytes of DATA and mode MODE: a temporary
 * file ".NAME.XXXXXX" in the same directory (a leading dot, so collectors
 * such as node_exporter's textfile one never read it), fsync(), rename()
 * over PATH, fsync() of the directory.  A reader sees the old or the new
 * file, never a part, also after a crash.  Returns 0 or a negative errno;
 * the temporary file is removed on failure. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Copy S with every control character, backslash and invalid UTF-8 byte
 * escaped as \xNN, so that hostile input never breaks a log line or a
 * terminal.  Returns malloc'd text (NULL on ENOMEM). */
char *escape_for_log(const char *s);

/* Whether S is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_is_valid(const char *s, size_t len);

/* A random number in [0, n) from getrandom(2) (n > 0). */
uint64_t random_below(uint64_t n);

/* How records and metrics name a target's account: its id, else (the base
 * identity's own account, whose id is not configured) its account_name;
 * NULL when neither is known. */
static inline const char *account_label(const char *account_id, const char *account_name)
{
	return account_id ? account_id : account_name;
}

#endif
