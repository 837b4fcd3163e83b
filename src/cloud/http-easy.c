/* http-easy.c - one request as a curl easy handle: its options and
 * headers, and the answer's body and headers as they arrive.  See
 * http-internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http-internal.h"
#include "util.h"

int http_parse_retry_after(const char *value, uint64_t now_realtime_usec, uint64_t *ret)
{
	const char *p = value;
	uint64_t secs = 0;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		for (; *p >= '0' && *p <= '9'; p++) {
			secs = secs * 10 + (uint64_t) (*p - '0');
			if (secs > RETRY_AFTER_MAX_USEC / USEC_PER_SEC)
				secs = RETRY_AFTER_MAX_USEC / USEC_PER_SEC;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -EINVAL;
		*ret = secs * USEC_PER_SEC;
		return 0;
	}
	/* An HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT").  curl_getdate() also
	 * accepts looser forms; require a weekday name first so that garbage
	 * such as "soon" is not read as a date. */
	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		return -EINVAL;
	t = curl_getdate(p, NULL);
	if (t < 0)
		return -EINVAL;
	if ((uint64_t) t > UINT64_MAX / USEC_PER_SEC - 1)
		*ret = RETRY_AFTER_MAX_USEC;
	else if ((uint64_t) t * USEC_PER_SEC <= now_realtime_usec)
		*ret = 0;
	else if ((uint64_t) t * USEC_PER_SEC - now_realtime_usec > RETRY_AFTER_MAX_USEC)
		*ret = RETRY_AFTER_MAX_USEC;
	else
		*ret = (uint64_t) t * USEC_PER_SEC - now_realtime_usec;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *r = userdata;
	size_t n = size * nmemb, max = r->http->max_body;

	if (n > max || r->resp_len > max - n) {
		r->too_large = true;
		return 0;       /* CURLE_WRITE_ERROR: curl stops reading */
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		char *p;

		while (cap < r->resp_len + n + 1)
			cap = cap > max / 2 ? max + 1 : cap * 2;
		p = malloc(cap);
		if (!p)
			return 0;
		/* Copy rather than realloc, so an old buffer holding part of a
		 * credential answer can be wiped. */
		if (r->resp) {
			memcpy(p, r->resp, r->resp_len);
			http_wipe_free(r->resp, r->resp_cap);
		}
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*vlen = (size_t) (end - v);
	return true;
}

/* Store a header value, or drop it when it is empty, too long or not
 * printable ASCII (it ends up in logs and in request headers). */
static void header_store(char **dst, const char *v, size_t len, size_t max, bool secret)
{
	char *copy;

	if (secret)
		http_wipe_free_str(*dst);
	else
		free(*dst);
	*dst = NULL;
	if (len == 0 || len > max)
		return;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return;
	copy = strndup(v, len);
	*dst = copy;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *r = userdata;
	size_t n = size * nmemb, vlen;
	const char *v;
	char buf[128];

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new status line (after a 1xx): forget the previous block. */
		free(r->request_id);
		http_wipe_free_str(r->subject_token);
		r->request_id = r->subject_token = NULL;
		r->retry_after = 0;
	} else if (header_is(data, n, "X-Request-Id", &v, &vlen))
		header_store(&r->request_id, v, vlen, REQUEST_ID_MAX, false);
	else if (header_is(data, n, "X-Subject-Token", &v, &vlen))
		header_store(&r->subject_token, v, vlen, SUBJECT_TOKEN_MAX, true);
	else if (header_is(data, n, "Retry-After", &v, &vlen) && vlen < sizeof(buf)) {
		memcpy(buf, v, vlen);
		buf[vlen] = '\0';
		if (http_parse_retry_after(buf, now_realtime_usec(), &r->retry_after) < 0)
			r->retry_after = 0;
	}
	return n;
}

static int setup_method(struct http_request *r)
{
	CURL *e = r->easy;
	bool has_body = r->body || (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
	                            strcmp(r->method, "PATCH") == 0);

	if (strcmp(r->method, "GET") == 0 && !r->body)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EINVAL;
	if (strcmp(r->method, "HEAD") == 0 && !r->body)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -EINVAL;
	if (has_body) {
		/* POSTFIELDS is not copied by curl: the request owns the body.
		 * A body-carrying method without a body sends Content-Length: 0,
		 * which some servers require (411 otherwise). */
		if (curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "") != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len) != CURLE_OK)
			return -EINVAL;
	}
	if (strcmp(r->method, "POST") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) != CURLE_OK)
		return -EINVAL;
	return 0;
}

int http_setup_easy(struct http *h, struct http_request *r)
{
	CURL *e = r->easy;
	bool ok = true;

#define SET(opt, val) (ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) h->max_body);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTPHEADER, r->headers);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->user_agent)
		SET(CURLOPT_USERAGENT, h->user_agent);
	/* "*" matches every host; CURLOPT_NOPROXY overrides $NO_PROXY, so no
	 * proxy variable can send this request through a proxy. */
	if (r->no_proxy)
		SET(CURLOPT_NOPROXY, "*");
#undef SET
	if (!ok)
		return -EINVAL;
	return setup_method(r);
}

static int append_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int http_build_headers(struct http_request *r)
{
	_cleanup_free_ char *ct = NULL;

	if (r->content_type) {
		ct = xasprintf("Content-Type: %s", r->content_type);
		if (!ct || append_header(&r->headers, ct) < 0)
			return -ENOMEM;
	}
	/* No "Expect: 100-continue" round trip for our small bodies. */
	if (r->body && append_header(&r->headers, "Expect:") < 0)
		return -ENOMEM;
	return 0;
}
