/* sign.c - Huawei Cloud "SDK-HMAC-SHA256" request signing (AK/SK).
 *
 * Percent-encoding and decoding come from libcurl, SHA-256 and HMAC from
 * libcrypto; this file only arranges the canonical request the way the
 * official SDKs (and the API gateway) expect it.
 */
#include "sign.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SHA256_BYTES 32

struct hdr {
	char *name;             /* lower-cased */
	const char *value;      /* trimmed: VALUE_LEN bytes from here */
	size_t value_len;
};

struct qparam {
	char *name, *value;     /* decoded; may hold NUL bytes */
	size_t name_len, value_len;
};

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[static 65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	/* EVP_Digest() only fails when it cannot allocate its context; an
	 * empty result then makes the callers fail with -ENOMEM. */
	if (EVP_Digest(data ? data : "", data ? len : 0, md, &n, EVP_sha256(), NULL) != 1 ||
	    n != SHA256_BYTES) {
		out[0] = '\0';
		return;
	}
	hex_encode(md, n, out);
}

void sign_format_date(time_t t, char buf[static 17])
{
	struct tm tm;

	/* Only a clock gone mad lands outside four-digit years; the gateway
	 * rejects such a date anyway, so any fixed in-format value will do. */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
	    strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		memcpy(buf, "19700101T000000Z", 17);
}

/* Encode LEN bytes (NUL bytes included) as a malloc'd string. */
static char *escape_bytes(const char *s, size_t len)
{
	char *e, *r;

	/* curl_easy_escape() takes a zero length as "use strlen()". */
	if (len == 0)
		return strdup("");
	if (len > INT_MAX)
		return NULL;
	e = curl_easy_escape(NULL, s, (int) len);
	if (!e)
		return NULL;
	r = strdup(e);
	curl_free(e);
	return r;
}

char *uri_escape(const char *s)
{
	return escape_bytes(s, strlen(s));
}

/* Percent-decode LEN bytes at S into a malloc'd, NUL-terminated buffer whose
 * length (it may contain NUL bytes) goes to *RET_LEN.  In a query a '+'
 * stands for a space, as every server-side form decoder (Go's
 * url.ParseQuery, Python's parse_qsl) reads it. */
static char *unescape_bytes(const char *s, size_t len, bool plus_is_space, size_t *ret_len)
{
	_cleanup_free_ char *copy = NULL;
	char *d, *r;
	int n = 0;

	*ret_len = 0;
	if (len == 0)
		return strdup("");
	if (len > INT_MAX)
		return NULL;
	copy = strndup(s, len);
	if (!copy)
		return NULL;
	if (plus_is_space)
		for (char *p = copy; (p = strchr(p, '+')); p++)
			*p = ' ';
	d = curl_easy_unescape(NULL, copy, (int) len, &n);
	if (!d)
		return NULL;
	r = malloc((size_t) n + 1);
	if (r) {
		memcpy(r, d, (size_t) n);
		r[n] = '\0';
		*ret_len = (size_t) n;
	}
	curl_free(d);
	return r;
}

/* Decode then re-encode, so an already encoded part is encoded once. */
static char *recode(const char *s, size_t len, bool plus_is_space)
{
	_cleanup_free_ char *d = NULL;
	size_t n;

	d = unescape_bytes(s, len, plus_is_space, &n);
	return d ? escape_bytes(d, n) : NULL;
}

/* Close a memstream and hand its text to *RET, or fail with -ENOMEM. */
static int memstream_finish(FILE *f, char **buf, char **ret)
{
	bool bad = ferror(f);

	if (fclose(f) != 0 || bad || !*buf) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*ret = *buf;
	*buf = NULL;
	return 0;
}

int sign_canonical_uri(const char *wire_path, char **ret)
{
	const char *p = wire_path ? wire_path : "";
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (;;) {
		size_t n = strcspn(p, "/");
		_cleanup_free_ char *seg = recode(p, n, false);

		if (!seg || fputs(seg, f) < 0)
			break;
		if (p[n] == '\0') {
			/* The trailing '/' is for signing only; the SDKs
			 * send the path without it. */
			if (fflush(f) == 0 && (size == 0 || buf[size - 1] != '/'))
				fputc('/', f);
			return memstream_finish(f, &buf, ret);
		}
		fputc('/', f);
		p += n + 1;
	}
	fclose(f);
	free(buf);
	return -ENOMEM;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* By decoded name, then decoded value, byte by byte: the order the SDKs
 * sort their (decoded) parameter maps in. */
static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int r = bytes_cmp(x->name, x->name_len, y->name, y->name_len);

	return r ? r : bytes_cmp(x->value, x->value_len, y->value, y->value_len);
}

static void qparams_free(struct qparam *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
}

/* Split a wire query into decoded parameters.  Empty parts ("a=1&&b=2")
 * carry no parameter; a part without '=' is a name with an empty value. */
static int query_parse(const char *query, struct qparam **ret, size_t *ret_n)
{
	struct qparam *q = NULL;
	size_t n = 0, cap = 0;

	for (const char *p = query; *p;) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t name_len = eq ? (size_t) (eq - p) : len;

		if (len > 0) {
			if (n == cap) {
				size_t c = cap ? cap * 2 : 8;
				struct qparam *t = reallocarray(q, c, sizeof(*q));

				if (!t)
					goto oom;
				q = t;
				cap = c;
			}
			q[n].name = unescape_bytes(p, name_len, true, &q[n].name_len);
			q[n].value = eq ? unescape_bytes(eq + 1, len - name_len - 1, true, &q[n].value_len)
			                : unescape_bytes("", 0, true, &q[n].value_len);
			n++;
			if (!q[n - 1].name || !q[n - 1].value)
				goto oom;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	*ret = q;
	*ret_n = n;
	return 0;
oom:
	qparams_free(q, n);
	return -ENOMEM;
}

int sign_canonical_query(const char *wire_query, char **ret)
{
	struct qparam *q = NULL;
	char *buf = NULL;
	size_t n = 0, size = 0;
	FILE *f;
	int r;

	r = query_parse(wire_query ? wire_query : "", &q, &n);
	if (r < 0)
		return r;
	if (n > 1)
		qsort(q, n, sizeof(*q), qparam_cmp);
	f = open_memstream(&buf, &size);
	if (!f) {
		qparams_free(q, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = escape_bytes(q[i].name, q[i].name_len);
		_cleanup_free_ char *value = escape_bytes(q[i].value, q[i].value_len);

		if (!name || !value) {
			fclose(f);
			free(buf);
			qparams_free(q, n);
			return -ENOMEM;
		}
		/* A parameter without a value still gets its '='. */
		fprintf(f, "%s%s=%s", i > 0 ? "&" : "", name, value);
	}
	qparams_free(q, n);
	return memstream_finish(f, &buf, ret);
}

/* RFC 9110 token characters: what a header name may consist of. */
static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : bytes_cmp(x->value, x->value_len, y->value, y->value_len);
}

static void hdrs_free(struct hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

/* Lower-case the names, trim the values and sort by name, then value (a
 * name given twice yields one canonical line per value, as in the Go SDK).
 * A name that is not a token or a value with a line break could never be
 * sent as such, so it is refused rather than signed. */
static int hdrs_prepare(const struct sign_request *r, struct hdr **ret)
{
	struct hdr *h = calloc(r->n_headers ? r->n_headers : 1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *name = r->headers[i].name, *v = r->headers[i].value;
		size_t len;

		if (!name || !*name || !v || strpbrk(v, "\r\n")) {
			hdrs_free(h, i);
			return -EINVAL;
		}
		h[i].name = strdup(name);
		if (!h[i].name) {
			hdrs_free(h, i);
			return -ENOMEM;
		}
		for (char *p = h[i].name; *p; p++) {
			if (!is_token_char(*p)) {
				hdrs_free(h, i + 1);
				return -EINVAL;
			}
			if (*p >= 'A' && *p <= 'Z')
				*p = (char) (*p - 'A' + 'a');
		}
		while (is_blank(*v))
			v++;
		len = strlen(v);
		while (len > 0 && is_blank(v[len - 1]))
			len--;
		h[i].value = v;
		h[i].value_len = len;
	}
	if (r->n_headers > 1)
		qsort(h, r->n_headers, sizeof(*h), hdr_cmp);
	*ret = h;
	return 0;
}

static const struct hdr *hdrs_find(const struct hdr *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(h[i].name, name) == 0)
			return &h[i];
	return NULL;
}

/* "a;b;c": each name once. */
static int signed_headers(const struct hdr *h, size_t n, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(h[i].name, h[i - 1].name) != 0)
			fprintf(f, "%s%s", i > 0 ? ";" : "", h[i].name);
	return memstream_finish(f, &buf, ret);
}

/* Hex SHA-256 of the body, or the value of X-Sdk-Content-Sha256 verbatim
 * when the request carries one (the SDKs' "UNSIGNED-PAYLOAD" case). */
static int payload_hash(const struct sign_request *r, const struct hdr *h, size_t n, char **ret)
{
	const struct hdr *c = hdrs_find(h, n, "x-sdk-content-sha256");
	char hex[65];

	if (c) {
		*ret = strndup(c->value, c->value_len);
		return *ret ? 0 : -ENOMEM;
	}
	sha256_hex(r->body, r->body ? r->body_len : 0, hex);
	if (!hex[0])
		return -ENOMEM;
	*ret = strdup(hex);
	return *ret ? 0 : -ENOMEM;
}

static int canonical_method(const char *method, char **ret)
{
	char *m;

	if (!method || !*method)
		return -EINVAL;
	m = strdup(method);
	if (!m)
		return -ENOMEM;
	for (char *p = m; *p; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
			free(m);
			return -EINVAL;
		}
		if (*p >= 'a')
			*p = (char) (*p - 'a' + 'A');
	}
	*ret = m;
	return 0;
}

static int canonical_request(const struct sign_request *r, const struct hdr *h, size_t n,
                             const char *signed_list, char **ret)
{
	_cleanup_free_ char *method = NULL, *uri = NULL, *query = NULL, *hash = NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	int k;

	if ((k = canonical_method(r->method, &method)) < 0 ||
	    (k = sign_canonical_uri(r->path, &uri)) < 0 ||
	    (k = sign_canonical_query(r->query, &query)) < 0 ||
	    (k = payload_hash(r, h, n, &hash)) < 0)
		return k;
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n%s\n%s\n", method, uri, query);
	/* Each header line ends in '\n' and the parts are joined by '\n',
	 * hence the empty line before the signed-header list. */
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s:%.*s\n", h[i].name, (int) h[i].value_len, h[i].value);
	fprintf(f, "\n%s\n%s", signed_list, hash);
	return memstream_finish(f, &buf, ret);
}

int sign_canonical_request(const struct sign_request *r, char **ret)
{
	_cleanup_free_ char *signed_list = NULL;
	struct hdr *h = NULL;
	int k;

	k = hdrs_prepare(r, &h);
	if (k < 0)
		return k;
	k = signed_headers(h, r->n_headers, &signed_list);
	if (k >= 0)
		k = canonical_request(r, h, r->n_headers, signed_list, ret);
	hdrs_free(h, r->n_headers);
	return k;
}

/* The access key ends up inside the Authorization header: it must not be
 * able to change that header's structure. */
static bool access_key_valid(const char *ak)
{
	if (!ak || !*ak)
		return false;
	for (const unsigned char *p = (const unsigned char *) ak; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ',')
			return false;
	return true;
}

static int hmac_sha256_hex(const char *key, const char *data, char out[static 65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t key_len = strlen(key);

	if (key_len > INT_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) data, strlen(data), md, &n) ||
	    n != SHA256_BYTES)
		return -ENOMEM;
	hex_encode(md, n, out);
	return 0;
}

static int authorization(const struct sign_request *r, const struct hdr *h, const char *ak,
                         const char *sk, char **ret)
{
	_cleanup_free_ char *signed_list = NULL, *creq = NULL, *date = NULL, *to_sign = NULL;
	const struct hdr *d = hdrs_find(h, r->n_headers, "x-sdk-date");
	char creq_hash[65], sig[65];
	int k;

	if (!d || d->value_len == 0 || !access_key_valid(ak) || !sk || !*sk)
		return -EINVAL;
	date = strndup(d->value, d->value_len);
	if (!date)
		return -ENOMEM;
	if ((k = signed_headers(h, r->n_headers, &signed_list)) < 0 ||
	    (k = canonical_request(r, h, r->n_headers, signed_list, &creq)) < 0)
		return k;
	sha256_hex(creq, strlen(creq), creq_hash);
	if (!creq_hash[0])
		return -ENOMEM;
	to_sign = xasprintf(SIGN_ALGORITHM "\n%s\n%s", date, creq_hash);
	if (!to_sign)
		return -ENOMEM;
	/* The SK bytes are the HMAC key as they are: no key derivation. */
	k = hmac_sha256_hex(sk, to_sign, sig);
	if (k < 0)
		return k;
	*ret = xasprintf(SIGN_ALGORITHM " Access=%s, SignedHeaders=%s, Signature=%s", ak,
	                 signed_list, sig);
	return *ret ? 0 : -ENOMEM;
}

int sign_authorization(const struct sign_request *r, const char *ak, const char *sk, char **ret)
{
	struct hdr *h = NULL;
	int k;

	k = hdrs_prepare(r, &h);
	if (k < 0)
		return k;
	k = authorization(r, h, ak, sk, ret);
	hdrs_free(h, r->n_headers);
	return k;
}
