/* decode.h - typed decoding of CSMS, IAM and metadata JSON answers (jansson).
 *
 * Every decoder validates types and sizes: a malformed, mistyped or oversized
 * answer is an error with a message naming the offending field (e.g.
 * "resources[3].tags[1].key: expected a string"), never a crash and never
 * silently partial data.  On error nothing is appended to the output.
 * Decoders return 0 on success or -EBADMSG (bad answer) / -ENOMEM, and on
 * -EBADMSG set *error to a malloc'd message.
 */
#ifndef CSMS_DECODE_H
#define CSMS_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "observation.h"

/* Limits on what an answer may contain (CSMS allows 128-char keys and
 * 255-char values; allow 4 bytes per char in UTF-8). */
#define DECODE_MAX_KEY_BYTES    512
#define DECODE_MAX_VALUE_BYTES  1024
#define DECODE_MAX_NAME_BYTES   256
#define DECODE_MAX_ID_BYTES     128
#define DECODE_MAX_TAGS         64      /* per secret; CSMS allows 20 */

/* Secret ids go into URL paths: an id of "." or "..", or with a byte outside
 * printable ASCII or one of / \ % ? #, makes the answer bad.
 *
 * ListResourceInstances ("filter"): appends one secret per resources[] entry
 * (id, name, state from resource_detail.state when present, tags, sys_tags;
 * tags_complete = true).  *total_count gets total_count, *n_resources the
 * number of entries decoded.  A missing "resources" (action=count) decodes
 * as zero entries. */
int decode_resource_instances(const char *body, size_t len, struct observation *o,
                              int64_t *total_count, size_t *n_resources, char **error);

/* ListSecrets: appends one secret per secrets[] entry (id, name, state;
 * tags not read yet: tags_complete = false).  *n_secrets gets the count and
 * *next_marker (malloc'd) the marker for the next page, NULL when the answer
 * says this is the last page: page_info.next_marker when the answer has a
 * page_info (absent, null or empty: last page), else the last name of a
 * non-empty page (the convention of clients that ignore page_info).  The
 * caller guards against a marker that repeats: no sort order is assumed. */
int decode_list_secrets(const char *body, size_t len, struct observation *o,
                        size_t *n_secrets, char **next_marker, char **error);

/* ListSecretTags: fills TAGS and SYS_TAGS (cleared first; both are left
 * unchanged on error). */
int decode_secret_tags(const char *body, size_t len, struct tag_list *tags,
                       struct tag_list *sys_tags, char **error);

/* Error bodies in any of the documented shapes:
 *   {"error": {"error_code": C, "error_msg": M}}
 *   {"error_code": C, "error_msg": M[, "request_id": R]}
 *   {"code": C, "message": M}
 * and nested objects holding one of these.  Never fails on bad input: when
 * nothing parses, *code is NULL and *message holds the (escaped, truncated)
 * raw body.  Returns 0 or -ENOMEM. */
int decode_error_body(const char *body, size_t len, char **code, char **message);

/* IAM POST /v3/auth/tokens answer: token.expires_at -> *expires_at_usec
 * (CLOCK_REALTIME microseconds). */
int decode_iam_token(const char *body, size_t len, uint64_t *expires_at_usec, char **error);

/* ECS metadata securitykey answer: {"credential": {"access", "secret",
 * "securitytoken", "expires_at"}} (also the alternative names the Python SDK
 * accepts).  Outputs are malloc'd. */
int decode_securitykey(const char *body, size_t len, char **ak, char **sk, char **token,
                       uint64_t *expires_at_usec, char **error);

/* STS v5 AssumeAgency answer: {"credentials": {"access_key_id",
 * "secret_access_key", "security_token", "expiration"}} ("assumed_agency"
 * is not read).  The IAM v3.0 securitytokens answer has the shape of the
 * metadata answer: decode_securitykey().  Outputs are malloc'd. */
int decode_assume_agency(const char *body, size_t len, char **ak, char **sk, char **token,
                         uint64_t *expires_at_usec, char **error);
/* Times in answers ("2020-01-04T09:05:22.701000Z") are read with
 * parse_rfc3339_time() (timefmt.h). */

#endif
