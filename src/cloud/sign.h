/* sign.h - Huawei Cloud "SDK-HMAC-SHA256" request signing (AK/SK).  Pure.
 *
 * The canonical request is six lines: method, canonical URI, canonical
 * query, canonical headers (each "name:value\n"), signed header names
 * joined by ';', and the hex SHA-256 of the body.  The string to sign is
 * "SDK-HMAC-SHA256\n" DATE "\n" hex(SHA-256(canonical request)), and the
 * signature is hex(HMAC-SHA256(SK, string to sign)).  HMAC and SHA-256 come
 * from libcrypto.  See csms-api.md section 4.2 and section 6.
 *
 * Canonicalisation follows the Python SDK: each path segment and each query
 * name/value is percent-decoded and re-encoded (every byte outside
 * A-Z a-z 0-9 - _ . ~ as upper-case %XX), so an already encoded wire path
 * is encoded exactly once; a '/' is appended to the URI when missing.  In a
 * query a '+' is read as a space, as server-side form decoders read it.
 */
#ifndef CSMS_SIGN_H
#define CSMS_SIGN_H

#include <stddef.h>
#include <time.h>

#define SIGN_ALGORITHM "SDK-HMAC-SHA256"
#define SIGN_DATE_HEADER "X-Sdk-Date"

struct sign_header {
	const char *name;       /* any case; signed lower-cased */
	const char *value;      /* trimmed when signed */
};

struct sign_request {
	const char *method;             /* "GET", "POST", "DELETE", ... */
	const char *path;               /* wire form, e.g. "/v1/p/csms/id/tags/a%20b" */
	const char *query;              /* wire form without '?', or NULL */
	const struct sign_header *headers;  /* exactly the headers to sign; must
	                                     * include X-Sdk-Date */
	size_t n_headers;
	const void *body;
	size_t body_len;
};

/* Percent-encode S (UTF-8 bytes) with the unreserved set above.  Uses
 * curl_easy_escape.  Returns malloc'd text or NULL (ENOMEM). */
char *uri_escape(const char *s);

/* Canonical forms; each returns 0 and malloc'd text, or a negative errno
 * (sign_canonical_request: -EINVAL for a method that is not letters, a
 * header name that is not a token or a value with CR/LF). */
int sign_canonical_uri(const char *wire_path, char **ret);
int sign_canonical_query(const char *wire_query, char **ret);
int sign_canonical_request(const struct sign_request *r, char **ret);

/* "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=HEX".
 * Returns 0 and malloc'd text, or -EINVAL (no X-Sdk-Date, an AK with
 * blanks, commas or control characters, an empty SK, or a header refused as
 * above) / -ENOMEM. */
int sign_authorization(const struct sign_request *r, const char *ak, const char *sk,
                       char **ret);

/* Format T as YYYYMMDDTHHMMSSZ (UTC) into BUF (at least 17 bytes). */
void sign_format_date(time_t t, char buf[static 17]);

/* Lower-case hex SHA-256 of DATA into OUT (65 bytes); "" if libcrypto
 * cannot allocate its context. */
void sha256_hex(const void *data, size_t len, char out[static 65]);

#endif
