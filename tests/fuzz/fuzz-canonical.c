/* fuzz-canonical.c - canonical URI and query (and a whole signature) on
 * arbitrary input.  Beyond memory safety it checks the properties the
 * signature depends on: the output uses only the unreserved set plus
 * upper-case %XX escapes, and canonicalising it again changes nothing, so
 * a path the client encoded is signed exactly as the server recomputes it. */
#include <curl/curl.h>
#include <errno.h>

#include "fuzz-util.h"
#include "sign.h"

static bool is_unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static bool is_upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Only unreserved characters, %XX escapes and the separators in SEPS. */
static void check_encoded(const char *s, const char *seps)
{
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '%') {
			CHECK(is_upper_hex(s[i + 1]) && is_upper_hex(s[i + 2]));
			i += 2;
		} else
			CHECK(is_unreserved(s[i]) || strchr(seps, s[i]));
	}
}

static void check_uri(const char *in)
{
	char *c = NULL, *again = NULL;

	CHECK(sign_canonical_uri(in, &c) == 0);
	check_encoded(c, "/");
	CHECK(c[0] && c[strlen(c) - 1] == '/');
	CHECK(sign_canonical_uri(c, &again) == 0);
	CHECK(strcmp(c, again) == 0);
	free(c);
	free(again);
}

static void check_query(const char *in)
{
	char *c = NULL, *again = NULL;

	CHECK(sign_canonical_query(in, &c) == 0);
	check_encoded(c, "=&");
	CHECK(sign_canonical_query(c, &again) == 0);
	CHECK(strcmp(c, again) == 0);
	free(c);
	free(again);
}

/* uri_escape() is reversed exactly by percent-decoding. */
static void check_escape(const char *in)
{
	char *e = uri_escape(in), *d;
	int n = 0;

	CHECK(e);
	check_encoded(e, "");
	if (*e) {
		d = curl_easy_unescape(NULL, e, (int) strlen(e), &n);
		CHECK(d && (size_t) n == strlen(in) && memcmp(d, in, (size_t) n) == 0);
		curl_free(d);
	}
	free(e);
}

/* The whole signature with the input everywhere: it may be refused
 * (-EINVAL: a line break in a header value) but never crash. */
static void check_signature(const char *in)
{
	const struct sign_header h[] = {
		{ "X-Sdk-Date", "20240301T120000Z" },
		{ "X-Fuzz", in },
		{ "x-fuzz", "second value" },
	};
	struct sign_request r = {
		.method = "DELETE", .path = in, .query = in, .headers = h, .n_headers = 3,
		.body = in, .body_len = strlen(in),
	};
	char *auth = NULL;
	int k;

	k = sign_authorization(&r, "AK", "SK", &auth);
	CHECK(k == 0 || k == -EINVAL);
	CHECK((k == 0) == (auth != NULL));
	CHECK(k == -EINVAL || strstr(auth, "SignedHeaders=x-fuzz;x-sdk-date, Signature="));
	free(auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_strdup(data, size);

	check_uri(in);
	check_query(in);
	check_escape(in);
	check_signature(in);
	free(in);
	return 0;
}
