/* redact.h - keep the credentials the process holds out of the text it emits.
 *
 * Servers may echo a request back in an error body (a misconfigured proxy, a
 * debugging gateway, a hostile endpoint), and that body reaches the journal,
 * STATUS= and the metrics.  Every credential value the process holds is
 * registered here when it is read or fetched and forgotten when it is wiped;
 * redact() then replaces each registered value, in each form it can take on
 * the wire, by REDACT_MARK:
 *   - as is (headers: X-Auth-Token, X-Security-Token);
 *   - JSON-escaped (the IAM password request body);
 *   - percent-encoded, %XX in upper or lower case (query strings, forms);
 *   - base64, at any of the three byte alignments inside a longer base64
 *     text (e.g. "user:password" in Basic authentication).
 * Values shorter than REDACT_MIN_LEN bytes are refused with -EINVAL: they
 * would mangle ordinary text, and a credential that short protects nothing.
 *
 * The registry is process-wide, like the log target; the daemon is single-
 * threaded.  Registering a value twice counts twice: each registration is
 * undone by one redact_forget().  Every copy the registry keeps is wiped with
 * explicit_bzero() when it is forgotten.
 */
#ifndef CSMS_REDACT_H
#define CSMS_REDACT_H

#include <stddef.h>

#define REDACT_MIN_LEN 4
#define REDACT_MARK "***"

/* Start redacting VALUE (NULL is a no-op returning 0).  Returns 0, -EINVAL
 * (too short), or -ENOMEM. */
int redact_register(const char *value);
/* Stop redacting one registration of VALUE (NULL or unknown: no-op). */
void redact_forget(const char *value);
/* Forget every value (tests, and the end of the process). */
void redact_forget_all(void);
/* How many values are registered. */
size_t redact_count(void);

/* Replace, in place, every registered form found in the NUL-terminated S by
 * REDACT_MARK (never longer than a form, so S only shrinks).  Returns the
 * number of replacements. */
size_t redact(char *s);
/* A malloc'd redacted copy of S (NULL on ENOMEM, or when S is NULL). */
char *redact_dup(const char *s);

#endif
