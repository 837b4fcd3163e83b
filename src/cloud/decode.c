/* decode.c - typed, validating decoders for CSMS, IAM and metadata answers.
 *
 * Everything here reads input from the network, so each decoder checks the
 * type and size of every field it uses and names the offending field in
 * its error message.  A decoder builds its result aside and hands it over
 * only when the whole answer was good: an answer is used entirely or not
 * at all.
 */
#include "decode.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonget.h"
#include "timefmt.h"
#include "util.h"

#define MAX_STATE_BYTES         64
#define MAX_TIME_BYTES          64
/* Temporary credentials: AK/SK are 20-40 characters, security tokens a few
 * KB; anything far beyond that is not a credential. */
#define MAX_ACCESS_KEY_BYTES    256
#define MAX_SECRET_KEY_BYTES    256
#define MAX_TOKEN_BYTES         (32 * 1024)
/* Error bodies: CSMS allows 1024-byte messages; raw bodies are only a hint. */
#define MAX_ERROR_CODE_BYTES    64
#define MAX_ERROR_MSG_BYTES     1024
#define MAX_RAW_BODY_BYTES      200
#define MAX_ERROR_DEPTH         8

static int strdup_to(const char *s, char **ret)
{
	*ret = strdup(s ? s : "");
	return *ret ? 0 : -ENOMEM;
}

/* Decode an array (at W) of {key, value} objects into OUT.  A missing or
 * null value is the empty value; a key may appear only once. */
static int decode_tag_array(json_t *arr, const struct jget_path *w, struct tag_list *out, char **error)
{
	json_t *t;
	size_t i;

	if (json_array_size(arr) > DECODE_MAX_TAGS)
		return jget_bad(error, w, "more than %d tags", DECODE_MAX_TAGS);
	json_array_foreach(arr, i, t) {
		struct jget_path tw = JGET_ELEMENT(w, i), kw = JGET_MEMBER(&tw, "key");
		const char *key, *value;
		int r;

		if (!json_is_object(t))
			return jget_bad(error, &tw, "expected an object");
		if ((r = jget_string(t, &tw, "key", JGET_REQUIRED, DECODE_MAX_KEY_BYTES, &key, error)) < 0 ||
		    (r = jget_string(t, &tw, "value", JGET_OPTIONAL, DECODE_MAX_VALUE_BYTES, &value, error)) < 0)
			return r;
		if (tag_list_find(out, key)) {
			_cleanup_free_ char *k = escape_for_log(key);

			return k ? jget_bad(error, &kw, "duplicate tag key \"%s\"", k) : -ENOMEM;
		}
		if (tag_list_add(out, key, value ? value : "") < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Member FIELD of OBJ as a tag array; absent or null is an error only when
 * JGET_REQUIRED (otherwise no tags). */
static int get_tags(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                    struct tag_list *out, char **error)
{
	struct jget_path fw = JGET_MEMBER(w, field);
	json_t *arr;
	int r;

	r = jget_array(obj, w, field, need, &arr, error);
	if (r < 0 || !arr)
		return r;
	return decode_tag_array(arr, &fw, out, error);
}

/* Member FIELD of OBJ as a secret id: a path segment of the tag APIs
 * (jget_id()). */
static int get_id(json_t *obj, const struct jget_path *w, const char *field, const char **ret,
                  char **error)
{
	return jget_id(obj, w, field, DECODE_MAX_ID_BYTES, ret, error);
}

/* Append one secret per element of ARR, decoded by DECODE. */
static int decode_secrets(json_t *arr, const struct jget_path *w, struct observation *tmp,
                          int (*decode)(json_t *, const struct jget_path *, struct secret *, char **),
                          char **error)
{
	json_t *el;
	size_t i;

	json_array_foreach(arr, i, el) {
		struct jget_path ew = JGET_ELEMENT(w, i);
		struct secret *s = observation_add(tmp);
		int r;

		if (!s)
			return -ENOMEM;
		r = decode(el, &ew, s, error);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One resources[] entry of ListResourceInstances. */
static int decode_resource(json_t *res, const struct jget_path *w, struct secret *s, char **error)
{
	struct jget_path dw = JGET_MEMBER(w, "resource_detail");
	const char *id, *name, *state = NULL;
	json_t *detail;
	int r;

	if (!json_is_object(res))
		return jget_bad(error, w, "expected an object");
	if ((r = get_id(res, w, "resource_id", &id, error)) < 0 ||
	    (r = jget_string(res, w, "resource_name", JGET_REQUIRED, DECODE_MAX_NAME_BYTES, &name, error)) < 0 ||
	    (r = jget_object(res, w, "resource_detail", JGET_OPTIONAL, &detail, error)) < 0 ||
	    (detail && (r = jget_string(detail, &dw, "state", JGET_OPTIONAL, MAX_STATE_BYTES, &state, error)) < 0))
		return r;
	if (strdup_to(id, &s->id) < 0 || strdup_to(name, &s->name) < 0 ||
	    strdup_to(state, &s->state) < 0)
		return -ENOMEM;
	/* "tags" is always present (an empty array when there are none); an
	 * answer without it did not tell us the tags. */
	if ((r = get_tags(res, w, "tags", JGET_REQUIRED, &s->tags, error)) < 0 ||
	    (r = get_tags(res, w, "sys_tags", JGET_OPTIONAL, &s->sys_tags, error)) < 0)
		return r;
	s->tags_complete = true;
	return 0;
}

static int decode_total_count(json_t *root, int64_t *ret, char **error)
{
	uint64_t n = 0;
	int r = jget_uint(root, NULL, "total_count", JGET_REQUIRED, &n, error);

	if (r >= 0)
		*ret = (int64_t) n;
	return r;
}

static int resources_decode(json_t *root, struct observation *tmp, int64_t *total, char **error)
{
	struct jget_path w = JGET_MEMBER(NULL, "resources");
	json_t *arr;
	int r;

	if ((r = decode_total_count(root, total, error)) < 0 ||
	    (r = jget_array(root, NULL, "resources", JGET_OPTIONAL, &arr, error)) < 0)
		return r;
	return decode_secrets(arr, &w, tmp, decode_resource, error);
}

int decode_resource_instances(const char *body, size_t len, struct observation *o,
                              int64_t *total_count, size_t *n_resources, char **error)
{
	struct observation tmp = {};
	int64_t total = 0;
	size_t n;
	json_t *root;
	int r;

	r = jget_load_scratch(body, len, &root, error);
	if (r < 0)
		return r;
	r = resources_decode(root, &tmp, &total, error);
	jget_release_scratch(root);
	n = tmp.n;
	if (r >= 0)
		r = observation_move(o, &tmp);
	observation_clear(&tmp);
	if (r < 0)
		return r;
	if (total_count)
		*total_count = total;
	if (n_resources)
		*n_resources = n;
	return 0;
}

static int decode_secret(json_t *sec, const struct jget_path *w, struct secret *s, char **error)
{
	const char *id, *name, *state;
	int r;

	if (!json_is_object(sec))
		return jget_bad(error, w, "expected an object");
	if ((r = get_id(sec, w, "id", &id, error)) < 0 ||
	    (r = jget_string(sec, w, "name", JGET_REQUIRED, DECODE_MAX_NAME_BYTES, &name, error)) < 0 ||
	    (r = jget_string(sec, w, "state", JGET_OPTIONAL, MAX_STATE_BYTES, &state, error)) < 0)
		return r;
	if (strdup_to(id, &s->id) < 0 || strdup_to(name, &s->name) < 0 ||
	    strdup_to(state, &s->state) < 0)
		return -ENOMEM;
	/* ListSecrets does not carry tags. */
	s->tags_complete = false;
	return 0;
}

static int secrets_decode(json_t *root, struct observation *tmp, char **error)
{
	struct jget_path w = JGET_MEMBER(NULL, "secrets");
	json_t *arr;
	int r;

	/* Paging stops at an empty page, so a page that does not say what it
	 * holds must not pass for one. */
	r = jget_array(root, NULL, "secrets", JGET_REQUIRED, &arr, error);
	if (r < 0)
		return r;
	return decode_secrets(arr, &w, tmp, decode_secret, error);
}

/* The marker for the next page: page_info.next_marker when the answer has a
 * page_info (absent, null or "" there: the last page), else the last name of
 * a non-empty page (how answers without page_info are paged). */
static int next_marker_decode(json_t *root, const struct observation *page, char **ret, char **error)
{
	struct jget_path pw = JGET_MEMBER(NULL, "page_info");
	const char *m = NULL;
	json_t *info;
	int r;

	r = jget_object(root, NULL, "page_info", JGET_OPTIONAL, &info, error);
	if (r < 0)
		return r;
	if (info) {
		r = jget_string(info, &pw, "next_marker", JGET_OPTIONAL, DECODE_MAX_NAME_BYTES, &m, error);
		if (r < 0)
			return r;
	} else if (page->n > 0)
		m = page->secrets[page->n - 1].name;
	*ret = NULL;
	return m && *m ? strdup_to(m, ret) : 0;
}

int decode_list_secrets(const char *body, size_t len, struct observation *o,
                        size_t *n_secrets, char **next_marker, char **error)
{
	struct observation tmp = {};
	char *next = NULL;
	size_t n;
	json_t *root;
	int r;

	r = jget_load_scratch(body, len, &root, error);
	if (r < 0)
		return r;
	r = secrets_decode(root, &tmp, error);
	if (r >= 0)
		r = next_marker_decode(root, &tmp, &next, error);
	jget_release_scratch(root);
	n = tmp.n;
	if (r >= 0)
		r = observation_move(o, &tmp);
	observation_clear(&tmp);
	if (r < 0) {
		free(next);
		return r;
	}
	if (n_secrets)
		*n_secrets = n;
	if (next_marker)
		*next_marker = next;
	else
		free(next);
	return 0;
}

int decode_secret_tags(const char *body, size_t len, struct tag_list *tags,
                       struct tag_list *sys_tags, char **error)
{
	struct tag_list t = {}, st = {};
	json_t *root;
	int r;

	r = jget_load_object(body, len, true, &root, error);
	if (r < 0)
		return r;
	r = get_tags(root, NULL, "tags", JGET_REQUIRED, &t, error);
	if (r >= 0)
		r = get_tags(root, NULL, "sys_tags", JGET_OPTIONAL, &st, error);
	json_decref(root);
	if (r < 0) {
		tag_list_clear(&t);
		tag_list_clear(&st);
		return r;
	}
	tag_list_clear(tags);
	*tags = t;
	tag_list_clear(sys_tags);
	*sys_tags = st;
	return 0;
}

/* At most MAX bytes of LEN bytes at S, cut on a UTF-8 character boundary,
 * escaped for a log line ('\0' included); "..." marks a cut. */
static char *escape_truncated(const char *s, size_t len, size_t max)
{
	bool cut = len > max;
	char *buf, *out;
	size_t o = 0;

	if (cut) {
		len = max;
		/* Do not split a character: back off over continuation
		 * bytes (at most three, or the input is not UTF-8 anyway). */
		for (size_t k = 0; k < 3 && len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80; k++)
			len--;
	}
	buf = malloc(len * 4 + 4);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = strnlen(s + i, len - i);
		_cleanup_free_ char *c = NULL;

		if (n > 0) {
			c = strndup(s + i, n);
			out = c ? escape_for_log(c) : NULL;
			if (!out) {
				free(buf);
				return NULL;
			}
			/* escape_for_log() grows a byte to at most 4. */
			memcpy(buf + o, out, strlen(out));
			o += strlen(out);
			free(out);
			i += n;
		}
		if (i < len) {
			memcpy(buf + o, "\\x00", 4);
			o += 4;
			i++;
		}
	}
	memcpy(buf + o, cut ? "..." : "", cut ? 4 : 1);
	return buf;
}

/* A code may be a string or, in some services, a number. */
static bool error_code_text(json_t *v, char **ret)
{
	char num[32];

	if (json_is_string(v)) {
		*ret = escape_truncated(json_string_value(v), json_string_length(v), MAX_ERROR_CODE_BYTES);
		return true;
	}
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*ret = strdup(num);
		return true;
	}
	return false;
}

/* Try the pair CODE_NAME/MSG_NAME in OBJ: 1 found, 0 not, -ENOMEM. */
static int error_pair(json_t *obj, const char *code_name, const char *msg_name, char **code,
                      char **message)
{
	json_t *m = json_object_get(obj, msg_name);
	char *c = NULL, *msg;

	if (!m || !json_is_string(m) || !error_code_text(json_object_get(obj, code_name), &c))
		return 0;
	if (!c)
		return -ENOMEM;
	msg = escape_truncated(json_string_value(m), json_string_length(m), MAX_ERROR_MSG_BYTES);
	if (!msg) {
		free(c);
		return -ENOMEM;
	}
	*code = c;
	*message = msg;
	return 1;
}

/* The Go SDK's search: error_code/error_msg, else code/message, else the
 * same inside each object-valued member (which catches {"error": {...}}). */
static int error_search(json_t *obj, unsigned depth, char **code, char **message)
{
	const char *name;
	json_t *v;
	int r;

	r = error_pair(obj, "error_code", "error_msg", code, message);
	if (r == 0)
		r = error_pair(obj, "code", "message", code, message);
	if (r != 0 || depth >= MAX_ERROR_DEPTH)
		return r;
	json_object_foreach(obj, name, v) {
		if (!json_is_object(v))
			continue;
		r = error_search(v, depth + 1, code, message);
		if (r != 0)
			return r;
	}
	return 0;
}

int decode_error_body(const char *body, size_t len, char **code, char **message)
{
	json_t *root = NULL;
	int r = 0;

	*code = NULL;
	*message = NULL;
	if (!body)
		len = 0;
	/* Gateways are not always careful about duplicate members; take what
	 * jansson gives rather than lose the error. */
	root = json_loadb(body ? body : "", len, 0, NULL);
	if (json_is_object(root))
		r = error_search(root, 0, code, message);
	json_decref(root);
	if (r < 0)
		return r;
	if (r > 0)
		return 0;
	*message = escape_truncated(body ? body : "", len, MAX_RAW_BODY_BYTES);
	return *message ? 0 : -ENOMEM;
}

int decode_iam_token(const char *body, size_t len, uint64_t *expires_at_usec, char **error)
{
	struct jget_path tw = JGET_MEMBER(NULL, "token"), ew = JGET_MEMBER(&tw, "expires_at");
	json_t *root, *token;
	const char *exp;
	uint64_t t;
	int r;

	r = jget_load_object(body, len, true, &root, error);
	if (r < 0)
		return r;
	if ((r = jget_object(root, NULL, "token", JGET_REQUIRED, &token, error)) >= 0 &&
	    (r = jget_string(token, &tw, "expires_at", JGET_REQUIRED, MAX_TIME_BYTES, &exp, error)) >= 0) {
		if (parse_rfc3339_time(exp, &t) < 0)
			r = jget_bad(error, &ew, "not an ISO-8601 UTC time");
		else
			*expires_at_usec = t;
	}
	json_decref(root);
	return r;
}

/* NAME, or ALT_NAME (when not NULL) when only that one is present. */
static const char *member_name(json_t *obj, const char *name, const char *alt_name)
{
	return alt_name && !json_object_get(obj, name) && json_object_get(obj, alt_name) ? alt_name : name;
}

/* A credential goes into HTTP headers and HMAC keys: printable ASCII only,
 * so that it cannot break a header.  The message never quotes the value. */
static int get_credential(json_t *obj, const struct jget_path *w, const char *name,
                          const char *alt_name, size_t max, const char **ret, char **error)
{
	const char *field = member_name(obj, name, alt_name);
	struct jget_path fw = JGET_MEMBER(w, field);
	int r;

	r = jget_string(obj, w, field, JGET_REQUIRED, max, ret, error);
	if (r < 0)
		return r;
	for (const unsigned char *p = (const unsigned char *) *ret; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return jget_bad(error, &fw, "not printable ASCII");
	return 0;
}

/* The member names of one shape of temporary credentials; each may have an
 * alternative spelling (ALT_*, NULL for none). */
struct credential_names {
	const char *object, *alt_object;
	const char *ak, *alt_ak, *sk, *alt_sk, *token, *alt_token, *expires, *alt_expires;
};

/* ECS metadata and IAM v3.0 securitytokens; the Python SDK also accepts
 * "credentials" and camel-case names. */
static const struct credential_names securitykey_names = {
	"credential", "credentials", "access", "accessKeyId", "secret", "secretAccessKey",
	"securitytoken", "securityToken", "expires_at", "expiration",
};

/* STS v5 AssumeAgency. */
static const struct credential_names assume_agency_names = {
	"credentials", NULL, "access_key_id", NULL, "secret_access_key", NULL,
	"security_token", NULL, "expiration", NULL,
};

static int credentials_decode(json_t *root, const struct credential_names *n, const char **ak,
                              const char **sk, const char **token, uint64_t *expires, char **error)
{
	struct jget_path cw = JGET_MEMBER(NULL, member_name(root, n->object, n->alt_object)), ew;
	const char *exp;
	json_t *cred;
	int r;

	r = jget_object(root, NULL, cw.field, JGET_REQUIRED, &cred, error);
	if (r < 0)
		return r;
	if ((r = get_credential(cred, &cw, n->ak, n->alt_ak, MAX_ACCESS_KEY_BYTES, ak, error)) < 0 ||
	    (r = get_credential(cred, &cw, n->sk, n->alt_sk, MAX_SECRET_KEY_BYTES, sk, error)) < 0 ||
	    (r = get_credential(cred, &cw, n->token, n->alt_token, MAX_TOKEN_BYTES, token, error)) < 0)
		return r;
	ew = JGET_MEMBER(&cw, member_name(cred, n->expires, n->alt_expires));
	r = jget_string(cred, &cw, ew.field, JGET_REQUIRED, MAX_TIME_BYTES, &exp, error);
	if (r < 0)
		return r;
	if (parse_rfc3339_time(exp, expires) < 0)
		return jget_bad(error, &ew, "not an ISO-8601 UTC time");
	return 0;
}

static int temporary_decode(const char *body, size_t len, const struct credential_names *names,
                            char **ak, char **sk, char **token, uint64_t *expires_at_usec,
                            char **error)
{
	const char *a, *s, *t;
	char *ra = NULL, *rs = NULL, *rt = NULL;
	uint64_t exp = 0;
	json_t *root;
	int r;

	/* This body holds a secret key: keep jansson's excerpt of it out of
	 * any message. */
	r = jget_load_object(body, len, false, &root, error);
	if (r < 0)
		return r;
	r = credentials_decode(root, names, &a, &s, &t, &exp, error);
	if (r >= 0 && (strdup_to(a, &ra) < 0 || strdup_to(s, &rs) < 0 || strdup_to(t, &rt) < 0))
		r = -ENOMEM;
	json_decref(root);
	if (r < 0) {
		free(ra);
		free(rs);
		free(rt);
		return r;
	}
	*ak = ra;
	*sk = rs;
	*token = rt;
	*expires_at_usec = exp;
	return 0;
}

int decode_securitykey(const char *body, size_t len, char **ak, char **sk, char **token,
                       uint64_t *expires_at_usec, char **error)
{
	return temporary_decode(body, len, &securitykey_names, ak, sk, token, expires_at_usec, error);
}

int decode_assume_agency(const char *body, size_t len, char **ak, char **sk, char **token,
                         uint64_t *expires_at_usec, char **error)
{
	return temporary_decode(body, len, &assume_agency_names, ak, sk, token, expires_at_usec, error);
}
