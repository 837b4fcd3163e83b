/* test-sign.c - request signing against the official SDK test vectors
 * (signing-vectors.md) and the canonicalisation rules of csms-api.md 4.2/6. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

#define H(n, v) { .name = (n), .value = (v) }
#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void assert_auth(const struct sign_request *r, const char *ak, const char *sk,
                        const char *expected)
{
	char *auth = NULL;

	assert_int_equal(sign_authorization(r, ak, sk, &auth), 0);
	assert_string_equal(auth, expected);
	free(auth);
}

static void assert_creq(const struct sign_request *r, const char *expected)
{
	char *c = NULL;

	assert_int_equal(sign_canonical_request(r, &c), 0);
	assert_string_equal(c, expected);
	free(c);
}

static void assert_uri(const char *path, const char *expected)
{
	char *c = NULL;

	assert_int_equal(sign_canonical_uri(path, &c), 0);
	assert_string_equal(c, expected);
	free(c);
}

static void assert_query(const char *query, const char *expected)
{
	char *c = NULL;

	assert_int_equal(sign_canonical_query(query, &c), 0);
	assert_string_equal(c, expected);
	free(c);
}

/* ---- A: Python SDK ---------------------------------------------------- */

static const struct sign_header a_headers[] = {
	H("Host", "service.endpoint.myhuaweicloud.com"),
	H("X-Sdk-Date", "20200608T023900Z"),
};

static void test_a1_python_get(void **state)
{
	struct sign_request r = {
		.method = "GET", .path = "/resources", .query = "size=1",
		.headers = a_headers, .n_headers = 2,
	};

	assert_creq(&r, "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\n"
	                "x-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\n" EMPTY_HASH);
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842");
}

static void test_a2_python_post(void **state)
{
	static const char body[] = "{\"name\":\"test\",\"id\":1}";
	struct sign_request r = {
		.method = "POST", .path = "/resources", .query = "size=1",
		.headers = a_headers, .n_headers = 2, .body = body, .body_len = strlen(body),
	};
	char hex[65];

	sha256_hex(body, strlen(body), hex);
	assert_string_equal(hex, "8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c");
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f");
}

static void test_a5_query(void **state)
{
	/* The SDK's parameters limit=1, enable=True, test="一 (&=?!#%.*)",
	 * path=/tmp/123, multi=[1,2,3] as they appear on the wire. */
	assert_query("limit=1&enable=true&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
	             "&path=/tmp/123&multi=1&multi=3&multi=2",
	             "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123"
	             "&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29");
}

/* ---- B: Go SDK -------------------------------------------------------- */

static const struct sign_header b_headers[] = { H("X-Sdk-Date", "20060102T150405Z") };

static void test_b1_go_get(void **state)
{
	struct sign_request r = {
		.method = "GET", .path = "/path", .query = "limit=1",
		.headers = b_headers, .n_headers = 1,
	};

	assert_creq(&r, "GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n" EMPTY_HASH);
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
	            "Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624");
}

static void test_b2_go_post(void **state)
{
	/* The Go SDK's JSON encoder appends a newline, and it is signed. */
	static const char body[] = "{\"Name\":\"test\",\"Id\":1}\n";
	struct sign_request r = {
		.method = "POST", .path = "/path", .query = "key=value",
		.headers = b_headers, .n_headers = 1, .body = body, .body_len = strlen(body),
	};

	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
	            "Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59");
}

static void test_b2_without_newline(void **state)
{
	static const char body[] = "{\"Name\":\"test\",\"Id\":1}";
	struct sign_request r = {
		.method = "POST", .path = "/path", .query = "key=value",
		.headers = b_headers, .n_headers = 1, .body = body, .body_len = strlen(body),
	};
	char *auth = NULL, *sig;

	assert_int_equal(sign_authorization(&r, "AccessKey", "SecretKey", &auth), 0);
	sig = strstr(auth, "Signature=");
	assert_non_null(sig);
	sig += strlen("Signature=");
	assert_int_equal(strlen(sig), 64);
	assert_string_not_equal(sig, "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59");
	/* The document gives only both ends of this signature. */
	assert_memory_equal(sig, "83599e52", 8);
	assert_string_equal(sig + 64 - 7, "6e17a35");
	free(auth);
}

/* ---- C: Java SDK ------------------------------------------------------ */

static const struct sign_header c_headers[] = {
	H("Host", "service.region.example.com"),
	H("X-Sdk-Date", "20191115T033655Z"),
};

static void test_c1_java_get(void **state)
{
	struct sign_request r = {
		.method = "GET", .path = "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
		.query = "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
		.headers = c_headers, .n_headers = 2,
	};

	assert_creq(&r, "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n"
	                "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n"
	                "host:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n"
	                "host;x-sdk-date\n" EMPTY_HASH);
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=fd95e7da6f695cfb4cabbb9d6b0968aec155bc576b064835282473539ae9ea1d");
}

static void test_c2_java_post(void **state)
{
	static const char body[] = "{\"key\":\"value\"}";
	struct sign_request r = {
		.method = "POST", .path = "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpc/123",
		.headers = c_headers, .n_headers = 2, .body = body, .body_len = strlen(body),
	};

	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=b5649aa774f6cac7437631662f08815fc65c70e40e486df6db2436ce68902771");
}

static void test_c3_java_host_no_path(void **state)
{
	static const struct sign_header h[] = {
		H("X-Sdk-Date", "20191115T033655Z"),
		H("Host", "example.com"),
	};
	struct sign_request r = { .method = "GET", .path = "", .headers = h, .n_headers = 2 };

	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=919ad8b75d4ad49da0d377e63ee21c4a7a54b752f6bf2878b4adbe9c19927da6");
	r.path = NULL;
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
	            "Signature=919ad8b75d4ad49da0d377e63ee21c4a7a54b752f6bf2878b4adbe9c19927da6");
}

/* ---- D: chnsz/golangsdk ----------------------------------------------- */

static void test_d1_golangsdk_get(void **state)
{
	static const struct sign_header h[] = {
		H("X-Sdk-Date", "20060102T150405Z"),
		H("TEST_UNDERSCORE", "TEST_VALUE"),
	};
	struct sign_request r = {
		.method = "GET", .path = "/path", .query = "limit=1", .headers = h, .n_headers = 2,
	};

	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=test_underscore;x-sdk-date, "
	            "Signature=daeadcf4a306599f7422401cc55d3718a23ef159fed370c62c551a2c45ae9655");
}

static void test_d2_golangsdk_post(void **state)
{
	static const struct sign_header h[] = {
		H("X-Sdk-Date", "20060102T150405Z"),
		H("TEST_UNDERSCORE", "TEST_VALUE"),
		H("Content-Type", "application/json"),
	};
	static const char body[] = "{\"Name\":\"test\",\"Id\":1}";
	struct sign_request r = {
		.method = "POST", .path = "/path", .query = "key=value", .headers = h, .n_headers = 3,
		.body = body, .body_len = strlen(body),
	};

	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, "
	            "SignedHeaders=content-type;test_underscore;x-sdk-date, "
	            "Signature=0238c3bedddfe8bf113c7530f783322380dedf720d514861623cfe5f73aa8f64");
}

/* ---- E: APIG SDK canonicalisation examples ----------------------------- */

static void test_e_examples(void **state)
{
	static const struct sign_header h[] = {
		H("Content-Type", "application/json"),
		H("Host", "example.com"),
	};
	struct sign_request r = {
		.method = "GET", .path = "/path", .query = "param=value", .headers = h, .n_headers = 2,
	};
	char *c = NULL;

	assert_uri("/path/_:test", "/path/_%3Atest/");
	assert_query("b=2&a=1&b=3", "a=1&b=2&b=3");
	assert_int_equal(sign_canonical_request(&r, &c), 0);
	assert_non_null(strstr(c, "\n/path/\n"));
	assert_non_null(strstr(c, "\nhost:example.com\n"));
	assert_non_null(strstr(c, "\ncontent-type:application/json\n"));
	free(c);
}

/* ---- canonical URI ---------------------------------------------------- */

static void test_uri_trailing_slash(void **state)
{
	assert_uri("", "/");
	assert_uri(NULL, "/");
	assert_uri("/", "/");
	assert_uri("/a", "/a/");
	assert_uri("/a/", "/a/");
	assert_uri("//", "//");
	assert_uri("/a//b", "/a//b/");
}

static void test_uri_tag_keys(void **state)
{
	/* Raw keys as the SDKs would hand them in. */
	assert_uri("/tags/a b", "/tags/a%20b/");
	assert_uri("/tags/env:prod=1+2@x", "/tags/env%3Aprod%3D1%2B2%40x/");
	assert_uri("/tags/100%", "/tags/100%25/");
	assert_uri("/tags/\xc3\xa9t\xc3\xa9", "/tags/%C3%A9t%C3%A9/");
	assert_uri("/tags/\xe7\x8e\xaf\xe5\xa2\x83", "/tags/%E7%8E%AF%E5%A2%83/");
	assert_uri("/tags/A-Z_a.z~0", "/tags/A-Z_a.z~0/");
	/* Every byte outside the unreserved set, and no '+' for a space. */
	assert_uri("/!*'();&$,?#[]\"<>", "/%21%2A%27%28%29%3B%26%24%2C%3F%23%5B%5D%22%3C%3E/");
}

static void test_uri_already_encoded(void **state)
{
	/* Wire paths are decoded first, so they are encoded exactly once. */
	assert_uri("/v1/p/csms/id/tags/a%20b", "/v1/p/csms/id/tags/a%20b/");
	assert_uri("/tags/env%3Aprod%3D1%2B2%40x", "/tags/env%3Aprod%3D1%2B2%40x/");
	assert_uri("/tags/100%25", "/tags/100%25/");
	assert_uri("/tags/%c3%a9", "/tags/%C3%A9/");
	assert_uri("/tags/%41%7e", "/tags/A~/");
	/* An encoded '/' stays inside its segment. */
	assert_uri("/tags/a%2Fb", "/tags/a%2Fb/");
	/* Double-encoded input stays double-encoded: %25 is a literal '%'. */
	assert_uri("/tags/a%2520b", "/tags/a%2520b/");
	/* '+' is a literal plus in a path. */
	assert_uri("/tags/a+b", "/tags/a%2Bb/");
	/* Broken escapes are literal text. */
	assert_uri("/tags/%zz%4", "/tags/%25zz%254/");
	assert_uri("/tags/%", "/tags/%25/");
	assert_uri("/tags/%00x", "/tags/%00x/");
}

static void test_uri_escape(void **state)
{
	char *e;

	e = uri_escape("env name:\xc3\xa9=+@%~");
	assert_string_equal(e, "env%20name%3A%C3%A9%3D%2B%40%25~");
	free(e);
	e = uri_escape("");
	assert_string_equal(e, "");
	free(e);
	e = uri_escape("a/b");
	assert_string_equal(e, "a%2Fb");
	free(e);
}

/* ---- canonical query -------------------------------------------------- */

static void test_query_edges(void **state)
{
	assert_query(NULL, "");
	assert_query("", "");
	assert_query("&&", "");
	assert_query("a", "a=");
	assert_query("a=", "a=");
	assert_query("=v", "=v");
	assert_query("=", "=");
	assert_query("&a=1&&b&", "a=1&b=");
	assert_query("a=1=2", "a=1%3D2");
	assert_query("q=a+b", "q=a%20b");
	assert_query("q=a%20b", "q=a%20b");
	assert_query("q=a%2Bb", "q=a%2Bb");
	assert_query("q=a b", "q=a%20b");
	assert_query("marker=x&limit=50", "limit=50&marker=x");
	/* Byte order: upper case before lower case, "10" before "2". */
	assert_query("b=1&B=1&a=1", "B=1&a=1&b=1");
	assert_query("a=2&a=10&a=", "a=&a=10&a=2");
	/* Sorted by the decoded bytes, not by their encoded form. */
	assert_query("%C3%A9=1&z=1", "z=1&%C3%A9=1");
	assert_query("a%00=1&a=1", "a=1&a%00=1");
	assert_query("k=%zz&k=%", "k=%25&k=%25zz");
	assert_query("k=%e4%b8%80", "k=%E4%B8%80");
}

/* ---- headers, body, authorization ------------------------------------- */

static void test_headers_canonical(void **state)
{
	static const struct sign_header h[] = {
		H("X-Sdk-Date", " 20240301T120000Z\t"),
		H("X-B", "2"),
		H("x-b", " 1 "),
		H("X-Project-Id", "p"),
		H("X-Empty", "  "),
	};
	struct sign_request r = { .method = "get", .path = "/x", .headers = h, .n_headers = 5 };

	assert_creq(&r, "GET\n/x/\n\nx-b:1\nx-b:2\nx-empty:\nx-project-id:p\n"
	                "x-sdk-date:20240301T120000Z\n\nx-b;x-empty;x-project-id;x-sdk-date\n"
	                EMPTY_HASH);
}

static void test_headers_invalid(void **state)
{
	struct sign_header h[] = { H("X-Sdk-Date", "20240301T120000Z"), H("X-A", "v") };
	struct sign_request r = { .method = "GET", .path = "/", .headers = h, .n_headers = 2 };
	char *c = NULL;

	h[1].value = "a\r\nX-Evil: 1";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	assert_int_equal(sign_authorization(&r, "AK", "SK", &c), -EINVAL);
	h[1].value = "v";
	h[1].name = "X A";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	h[1].name = "X:A";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	h[1].name = "";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	h[1].name = "X-\xc3\xa9";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	h[1].name = "X-A";
	h[1].value = NULL;
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	h[1].value = "v";
	r.method = "GE T";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	r.method = "";
	assert_int_equal(sign_canonical_request(&r, &c), -EINVAL);
	assert_null(c);
}

static void test_content_sha256_header(void **state)
{
	static const struct sign_header h[] = {
		H("X-Sdk-Date", "20240301T120000Z"),
		H("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"),
	};
	struct sign_request r = {
		.method = "PUT", .path = "/o", .headers = h, .n_headers = 2,
		.body = "data", .body_len = 4,
	};

	assert_creq(&r, "PUT\n/o/\n\nx-sdk-content-sha256:UNSIGNED-PAYLOAD\n"
	                "x-sdk-date:20240301T120000Z\n\nx-sdk-content-sha256;x-sdk-date\n"
	                "UNSIGNED-PAYLOAD");
}

static void test_delete_tag_request(void **state)
{
	/* DeleteSecretTag as csms-tagd sends it, key "env name:é=+@%";
	 * expected value computed independently (Python hashlib/hmac). */
	static const struct sign_header h[] = {
		H("Host", "kms.cn-north-4.myhuaweicloud.com"),
		H("X-Sdk-Date", "20240301T120000Z"),
		H("X-Project-Id", "0123456789abcdef0123456789abcdef"),
		H("Content-Type", "application/json"),
	};
	char *key = uri_escape("env name:\xc3\xa9=+@%"), path[256], *c = NULL;
	struct sign_request r = { .method = "DELETE", .headers = h, .n_headers = 4 };

	assert_string_equal(key, "env%20name%3A%C3%A9%3D%2B%40%25");
	assert_non_null(key);
	snprintf(path, sizeof(path), "/v1/0123456789abcdef0123456789abcdef/csms/"
	                             "5b6a1d0e-2f43-4c7a-9e1b-3d2c1f0a9b8e/tags/%s", key);
	r.path = path;
	assert_int_equal(sign_canonical_uri(path, &c), 0);
	assert_string_equal(c, "/v1/0123456789abcdef0123456789abcdef/csms/"
	                       "5b6a1d0e-2f43-4c7a-9e1b-3d2c1f0a9b8e/tags/"
	                       "env%20name%3A%C3%A9%3D%2B%40%25/");
	free(c);
	assert_auth(&r, "AK0123", "sk with spaces/+=",
	            "SDK-HMAC-SHA256 Access=AK0123, "
	            "SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
	            "Signature=308e24ad6c3bad3bf9379ef3ac12e92385bbbc67fb3baa1510ba80009df427f8");
	free(key);
}

static void test_authorization_refusals(void **state)
{
	static const struct sign_header no_date[] = { H("Host", "example.com") };
	static const struct sign_header empty_date[] = { H("X-Sdk-Date", " ") };
	static const struct sign_header lower[] = { H("x-sdk-date", "20060102T150405Z") };
	struct sign_request r = { .method = "GET", .path = "/", .headers = no_date, .n_headers = 1 };
	char *auth = NULL;

	assert_int_equal(sign_authorization(&r, "AK", "SK", &auth), -EINVAL);
	r.headers = empty_date;
	assert_int_equal(sign_authorization(&r, "AK", "SK", &auth), -EINVAL);
	r.headers = b_headers;
	assert_int_equal(sign_authorization(&r, "", "SK", &auth), -EINVAL);
	assert_int_equal(sign_authorization(&r, NULL, "SK", &auth), -EINVAL);
	assert_int_equal(sign_authorization(&r, "A, Signature=x", "SK", &auth), -EINVAL);
	assert_int_equal(sign_authorization(&r, "AK\n", "SK", &auth), -EINVAL);
	assert_int_equal(sign_authorization(&r, "AK", "", &auth), -EINVAL);
	assert_int_equal(sign_authorization(&r, "AK", NULL, &auth), -EINVAL);
	assert_null(auth);
	/* Header names are matched case-insensitively. */
	r.headers = lower;
	r.query = "limit=1";
	r.path = "/path";
	assert_auth(&r, "AccessKey", "SecretKey",
	            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, "
	            "Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624");
}

static void test_sha256_and_date(void **state)
{
	char hex[65], date[17];

	sha256_hex("", 0, hex);
	assert_string_equal(hex, EMPTY_HASH);
	sha256_hex(NULL, 0, hex);
	assert_string_equal(hex, EMPTY_HASH);
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sign_format_date(1573789015, date);
	assert_string_equal(date, "20191115T033655Z");
	sign_format_date(951782400, date);
	assert_string_equal(date, "20000229T000000Z");
	sign_format_date(0, date);
	assert_string_equal(date, "19700101T000000Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a1_python_get),
		cmocka_unit_test(test_a2_python_post),
		cmocka_unit_test(test_a5_query),
		cmocka_unit_test(test_b1_go_get),
		cmocka_unit_test(test_b2_go_post),
		cmocka_unit_test(test_b2_without_newline),
		cmocka_unit_test(test_c1_java_get),
		cmocka_unit_test(test_c2_java_post),
		cmocka_unit_test(test_c3_java_host_no_path),
		cmocka_unit_test(test_d1_golangsdk_get),
		cmocka_unit_test(test_d2_golangsdk_post),
		cmocka_unit_test(test_e_examples),
		cmocka_unit_test(test_uri_trailing_slash),
		cmocka_unit_test(test_uri_tag_keys),
		cmocka_unit_test(test_uri_already_encoded),
		cmocka_unit_test(test_uri_escape),
		cmocka_unit_test(test_query_edges),
		cmocka_unit_test(test_headers_canonical),
		cmocka_unit_test(test_headers_invalid),
		cmocka_unit_test(test_content_sha256_header),
		cmocka_unit_test(test_delete_tag_request),
		cmocka_unit_test(test_authorization_refusals),
		cmocka_unit_test(test_sha256_and_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
