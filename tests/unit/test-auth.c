/* test-auth.c - credential files, AK/SK request signing, and the password,
 * token and ECS flows against the CSMS emulator (tests/emulator), which
 * checks signatures, tokens and temporary keys with its own code.  Without
 * python3 the emulator tests are skipped (77).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "auth.h"
#include "auth-internal.h"
#include "credentials.h"
#include "sign.h"
#include "util.h"

#include "event-loop.h"
#include "spawn.h"

#define PROJECT         "0123456789abcdef0123456789abcdef"
#define SECRET2         "5b0c7e52-3a9d-4c1e-9f3b-0a1b2c3d4e02"
#define EMU_AK          "EXAMPLEAK0000000000"
#define EMU_SK          "exampleSecretKey0000000000000000000000"
#define EMU_TOKEN       "static-token-text"
#define TAGS_PATH       "/v1/" PROJECT "/csms/" SECRET2 "/tags"

static char tmpdir[64];
static pid_t emu_pid;
static char emu_base[64];

/* --- files ---------------------------------------------------------------------------- */

static char *path_in_tmp(const char *name)
{
	char *p = xasprintf("%s/%s", tmpdir, name);

	assert_non_null(p);
	return p;
}

/* Write a credential file with MODE; returns its path. */
static char *write_cred(const char *name, const char *content, size_t len, mode_t mode)
{
	char *p = path_in_tmp(name);
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t) len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return p;
}

static char *write_cred_str(const char *name, const char *content)
{
	return write_cred(name, content, strlen(content), 0600);
}

/* A config for METHOD against the emulator.  Strings are borrowed. */
static struct config cfg_for(enum auth_method method)
{
	struct config c = {
		.csms = {
			.region = (char *) "cn-north-4",
			.project_id = (char *) PROJECT,
			.endpoint = emu_base,
			.iam_endpoint = emu_base,
			.metadata_endpoint = emu_base,
		},
		.auth = {
			.method = method,
			.user = (char *) "demo",
			.domain = (char *) "demo-domain",
		},
	};

	return c;
}

/* --- the event loop ------------------------------------------------------------------- */

static struct http *new_http(void)
{
	struct http_options o = { .user_agent = "csms-tagd-test", .timeout_usec = 5 * USEC_PER_SEC };
	struct http *h;

	assert_int_equal(http_new(event, &o, &h), 0);
	return h;
}

static void run_until(const bool *flag, uint64_t timeout)
{
	uint64_t end = now_monotonic_usec() + timeout;

	while (!*flag && now_monotonic_usec() < end)
		assert_true(sd_event_run(event, 50 * USEC_PER_MSEC) >= 0);
}

struct ensured {
	bool done;
	unsigned calls;
	int r;
	char *error;
	bool in_call;
	bool called_in_call;
	struct auth **free_me;  /* auth_free() it from the callback */
	struct auth *cancel_in; /* auth_cancel(cancel_in, cancel) from the callback */
	void *cancel;
};

static void on_ensured(int r, const char *error, void *userdata)
{
	struct ensured *e = userdata;

	if (e->in_call)
		e->called_in_call = true;
	e->done = true;
	e->calls++;
	e->r = r;
	free(e->error);
	e->error = error ? strdup(error) : NULL;
	if (e->cancel)
		auth_cancel(e->cancel_in, e->cancel);
	if (e->free_me) {
		auth_free(*e->free_me);
		*e->free_me = NULL;
	}
}

/* auth_ensure() and wait; returns r and, in *ERROR, the error text. */
static int ensure(struct auth *a, char **error)
{
	struct ensured e = { .in_call = true };

	auth_ensure(a, on_ensured, &e);
	e.in_call = false;
	assert_false(e.done);
	run_until(&e.done, 10 * USEC_PER_SEC);
	assert_true(e.done);
	assert_false(e.called_in_call);
	assert_int_equal(e.calls, 1);
	if (e.r < 0)
		assert_non_null(e.error);
	if (error)
		*error = e.error;
	else
		free(e.error);
	return e.r;
}

/* --- signed requests ------------------------------------------------------------------ */

struct answer {
	struct auth *auth;
	bool done;
	long status;
	CURLcode code;
};

static int answer_prepare(struct http_request *req, const char *method, const char *url,
                          const char *body, size_t body_len, struct curl_slist **headers,
                          void *userdata)
{
	struct answer *ans = userdata;

	return auth_prepare(req, method, url, body, body_len, headers, ans->auth);
}

static void on_answer(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct answer *ans = userdata;

	ans->done = true;
	ans->status = resp->status;
	ans->code = resp->curl_code;
}

/* Send one request with A's credentials to the emulator; the HTTP status,
 * 0 for no answer, -1 when auth_prepare() refused. */
static long send_with(struct http *h, struct auth *a, const char *method, const char *path,
                      const char *body)
{
	_cleanup_free_ char *u = xasprintf("%s%s", emu_base, path);
	struct answer ans = { .auth = a };
	struct http_call call = {
		.method = method,
		.url = u,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.content_type = body ? "application/json;charset=UTF-8" : NULL,
		.prepare = answer_prepare,
		.done = on_answer,
		.userdata = &ans,
	};

	assert_non_null(u);
	assert_int_equal(http_submit(h, &call), 0);
	run_until(&ans.done, 10 * USEC_PER_SEC);
	assert_true(ans.done);
	return ans.code == CURLE_ABORTED_BY_CALLBACK ? -1 : ans.status;
}

/* --- the emulator --------------------------------------------------------------------- */

static const char *srcdir(void)
{
	static char dir[512];
	const char *e = getenv("top_srcdir");
	const char *f = __FILE__, *tail = "tests/unit/test-auth.c";
	size_t fl = strlen(f), tl = strlen(tail);

	if (e && *e)
		return e;
	/* Built by hand: the source file's own location. */
	if (fl >= tl && strcmp(f + fl - tl, tail) == 0 && fl - tl < sizeof(dir)) {
		memcpy(dir, f, fl - tl);
		dir[fl - tl] = '\0';
		return dir[0] ? dir : ".";
	}
	return ".";
}

static const char *python(void)
{
	const char *p = getenv("PYTHON3");

	return p && *p ? p : "python3";
}

static int emu_start(void **state)
{
	_cleanup_free_ char *script = xasprintf("%s/tests/emulator/csms-emulator.py", srcdir());
	_cleanup_free_ char *seed = xasprintf("%s/tests/emulator/seed-example.json", srcdir());
	_cleanup_free_ char *portfile = NULL;

	if (!script || !seed)
		return -1;
	portfile = path_in_tmp("port");
	emu_pid = spawn_tied((char *const[]) { (char *) python(), script, (char *) "--seed", seed,
	                                       (char *) "--port", (char *) "0",
	                                       (char *) "--port-file", portfile, NULL });
	if (emu_pid < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *text = NULL;
		int status;

		if (read_file(portfile, 64, &text, NULL) == 0 && atoi(text) > 0) {
			snprintf(emu_base, sizeof(emu_base), "http://127.0.0.1:%d", atoi(text));
			return 0;
		}
		if (waitpid(emu_pid, &status, WNOHANG) == emu_pid) {
			fprintf(stderr, "the emulator (%s) exited\n", script);
			emu_pid = 0;
			return -1;
		}
		usleep(50 * 1000);
	}
	return -1;
}

static int emu_stop(void **state)
{
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, NULL, 0);
		emu_pid = 0;
	}
	return 0;
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
	return fwrite(d, s, n, u);
}

/* The emulator's control API, blocking.  Returns the parsed answer. */
static json_t *control(const char *method, const char *name, const char *body)
{
	_cleanup_free_ char *u = xasprintf("%s/_emulator/%s", emu_base, name);
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	json_t *j;

	assert_non_null(f);
	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_URL, u);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "{}");
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	fclose(f);
	j = json_loads(buf, 0, NULL);
	free(buf);
	assert_non_null(j);
	return j;
}

static void control_post(const char *name, const char *body)
{
	json_decref(control("POST", name, body));
}

/* Requests the emulator counted for API since it started. */
static long count(const char *api)
{
	json_t *j = control("GET", "state", NULL);
	long n = (long) json_integer_value(json_object_get(json_object_get(j, "counts"), api));

	json_decref(j);
	return n;
}

static int emu_reset(void **state)
{
	assert_int_equal(loop_setup(state), 0);
	control_post("faults", "{\"rules\": []}");
	control_post("config", "{\"token_ttl\": 86400, \"clock_offset\": 0, \"latency_ms\": 0}");
	return 0;
}

/* --- fixtures ------------------------------------------------------------------------- */

struct fix {
	struct http *h;
	struct auth *a;
};

/* auth_new() for C on a new HTTP client.  On failure *ERROR is set. */
static int fix_new(struct fix *f, const struct config *c, char **error)
{
	int r;

	f->h = new_http();
	f->a = NULL;
	*error = NULL;
	r = auth_new(c, f->h, &f->a, error);
	if (r < 0) {
		assert_null(f->a);
		assert_non_null(*error);
	} else {
		assert_non_null(f->a);
		assert_null(*error);
	}
	return r;
}

static void fix_free(struct fix *f)
{
	/* The auth goes first: it cancels its own requests on the client. */
	auth_free(f->a);
	http_free(f->h);
	*f = (struct fix) { 0 };
}

static int aksk_fix(struct fix *f, const char *ak_file, const char *sk_file, const char *tok_file,
                    char **error)
{
	struct config c = cfg_for(AUTH_AKSK);

	c.auth.access_key_file = (char *) ak_file;
	c.auth.secret_key_file = (char *) sk_file;
	c.auth.security_token_file = (char *) tok_file;
	return fix_new(f, &c, error);
}

/* --- headers -------------------------------------------------------------------------- */

/* The value of header NAME in L, or NULL. */
static const char *hdr(const struct curl_slist *l, const char *name)
{
	size_t n = strlen(name);

	for (; l; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
			return l->data + n + 1 + strspn(l->data + n + 1, " ");
	return NULL;
}

/* auth_prepare() a request the way http.c does (Content-Type already in the
 * list when a body is sent) and return the headers it produced. */
static struct curl_slist *prepare(struct auth *a, const char *method, const char *url,
                                  const char *body)
{
	struct curl_slist *l = NULL;

	if (body)
		l = curl_slist_append(NULL, "Content-Type: application/json;charset=UTF-8");
	assert_int_equal(auth_prepare(NULL, method, url, body, body ? strlen(body) : 0, &l, a), 0);
	return l;
}

/* auth_prepare_project() for PROJECT_ID, as prepare(). */
static struct curl_slist *prepare_for(struct auth *a, const char *project_id, const char *method,
                                      const char *url, const char *body)
{
	struct curl_slist *l = NULL;

	if (body)
		l = curl_slist_append(NULL, "Content-Type: application/json;charset=UTF-8");
	assert_int_equal(auth_prepare_project(a, project_id, method, url, body,
	                                      body ? strlen(body) : 0, &l), 0);
	return l;
}

/* Recompute the Authorization for what auth_prepare() sent, with HOST as the
 * Host header, PATH and QUERY as on the wire, and X-Project-Id PROJECT, and
 * compare. */
static void check_signature_in(const struct curl_slist *l, const char *project, const char *ak,
                               const char *sk, const char *method, const char *host,
                               const char *path, const char *query, const char *body,
                               const char *security_token)
{
	struct sign_header sh[5];
	size_t n = 0;
	struct sign_request sr = {
		.method = method,
		.path = path,
		.query = query,
		.headers = sh,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	_cleanup_free_ char *want = NULL;
	const char *date = hdr(l, "X-Sdk-Date");

	assert_non_null(date);
	assert_int_equal(strlen(date), 16);
	assert_string_equal(hdr(l, "X-Project-Id"), project);
	sh[n++] = (struct sign_header) { "host", host };
	sh[n++] = (struct sign_header) { "x-sdk-date", date };
	sh[n++] = (struct sign_header) { "x-project-id", project };
	if (body)
		sh[n++] = (struct sign_header) { "content-type", "application/json;charset=UTF-8" };
	if (security_token) {
		assert_string_equal(hdr(l, "X-Security-Token"), security_token);
		sh[n++] = (struct sign_header) { "x-security-token", security_token };
	} else
		assert_null(hdr(l, "X-Security-Token"));
	sr.n_headers = n;
	assert_int_equal(sign_authorization(&sr, ak, sk, &want), 0);
	assert_string_equal(hdr(l, "Authorization"), want);
	assert_null(hdr(l, "X-Auth-Token"));
}

static void check_signature(const struct curl_slist *l, const char *ak, const char *sk,
                            const char *method, const char *host, const char *path,
                            const char *query, const char *body, const char *security_token)
{
	check_signature_in(l, PROJECT, ak, sk, method, host, path, query, body, security_token);
}

/* The shape of the official vectors' Authorization (signing-vectors.md):
 * "SDK-HMAC-SHA256 Access=AK, SignedHeaders=SIGNED, Signature=<64 hex>". */
static void check_authorization_shape(const struct curl_slist *l, const char *ak,
                                      const char *signed_headers)
{
	_cleanup_free_ char *head = xasprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=",
	                                      ak, signed_headers);
	const char *v = hdr(l, "Authorization");

	assert_non_null(v);
	assert_non_null(head);
	assert_memory_equal(v, head, strlen(head));
	v += strlen(head);
	assert_int_equal(strlen(v), 64);
	assert_int_equal(strspn(v, "0123456789abcdef"), 64);
}

/* --- credential files ----------------------------------------------------------------- */

static void test_credential_newlines(void **state)
{
	static const struct {
		const char *content;
		size_t len;
	} cases[] = {
		{ "AKVALUE", 7 },
		{ "AKVALUE\n", 8 },
	};
	_cleanup_free_ char *sk = write_cred_str("sk", "SECRET\n");

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *ak = write_cred("ak", cases[i].content, cases[i].len, 0600);
		_cleanup_free_ char *error = NULL;
		struct curl_slist *l;
		struct fix f;

		assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
		l = prepare(f.a, "GET", "http://127.0.0.1:1/x", NULL);
		/* Signed with exactly the values, without their newlines. */
		check_signature(l, "AKVALUE", "SECRET", "GET", "127.0.0.1:1", "/x", NULL, NULL, NULL);
		assert_true(startswith(hdr(l, "Authorization"), "SDK-HMAC-SHA256 Access=AKVALUE, "));
		curl_slist_free_all(l);
		fix_free(&f);
	}
}

/* auth_new() must fail with an error naming PATH_PART and saying WHAT,
 * without the file's content. */
static void expect_error(const char *ak_file, const char *path_part, const char *what,
                         const char *secret)
{
	_cleanup_free_ char *sk = write_cred_str("sk-ok", "SECRET\n");
	_cleanup_free_ char *error = NULL;
	struct fix f;

	assert_true(aksk_fix(&f, ak_file, sk, NULL, &error) < 0);
	if (!strstr(error, path_part) || !strstr(error, what))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", error, path_part, what);
	if (secret)
		assert_null(strstr(error, secret));
	fix_free(&f);
}

static void test_credential_errors(void **state)
{
	_cleanup_free_ char *empty = write_cred_str("empty", "");
	_cleanup_free_ char *nl = write_cred_str("nl", "\n");
	_cleanup_free_ char *crlf = write_cred_str("crlf", "\r\n");
	_cleanup_free_ char *two = write_cred_str("two", "TOPSECRET1\n\n");
	_cleanup_free_ char *lines = write_cred_str("lines", "TOPSECRET2\nmore\n");
	_cleanup_free_ char *cr = write_cred_str("cr", "TOPSECRET3\r");
	_cleanup_free_ char *nul = write_cred("nul", "TOPSECRET4\0x", 12, 0600);
	_cleanup_free_ char *group = write_cred("group", "TOPSECRET5\n", 11, 0640);
	_cleanup_free_ char *world = write_cred("world", "TOPSECRET6\n", 11, 0604);
	_cleanup_free_ char *missing = path_in_tmp("missing");
	_cleanup_free_ char *dir = path_in_tmp("dir");
	_cleanup_free_ char *utf8 = write_cred_str("utf8", "TOPSECRET7\xff\n");

	assert_int_equal(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
	expect_error(empty, empty, "empty", NULL);
	expect_error(nl, nl, "empty", NULL);
	expect_error(crlf, crlf, "carriage return", NULL);
	expect_error(two, two, "more than one line", "TOPSECRET");
	expect_error(lines, lines, "more than one line", "TOPSECRET");
	expect_error(cr, cr, "carriage return", "TOPSECRET");
	expect_error(nul, nul, "NUL byte", "TOPSECRET");
	expect_error(group, group, "readable by group or others", "TOPSECRET");
	expect_error(world, world, "readable by group or others", "TOPSECRET");
	expect_error(missing, missing, "No such file", NULL);
	expect_error(dir, dir, "not a regular file", NULL);
	expect_error(utf8, utf8, "UTF-8", "TOPSECRET");
	expect_error(NULL, "access_key_file", "not set", NULL);
	/* root reads anything: an unreadable file can only be made for others. */
	if (geteuid() != 0) {
		_cleanup_free_ char *noread = write_cred("noread", "TOPSECRET8\n", 11, 0200);

		expect_error(noread, noread, "Permission denied", "TOPSECRET");
	}
}

static void test_settings_missing(void **state)
{
	_cleanup_free_ char *pw = write_cred_str("pw", "demo-pass\n");
	struct config c = cfg_for(AUTH_PASSWORD);
	char *error = NULL;
	struct fix f;

	c.auth.password_file = pw;
	c.auth.user = NULL;
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "user"));
	free(error);
	fix_free(&f);

	c = cfg_for(AUTH_PASSWORD);
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "password_file"));
	free(error);
	fix_free(&f);

	c = cfg_for(AUTH_TOKEN);
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "token_file"));
	free(error);
	fix_free(&f);

	c = cfg_for(AUTH_ECS);
	c.csms.project_id = NULL;
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "project_id"));
	free(error);
	fix_free(&f);
}

/* --- AK/SK signing -------------------------------------------------------------------- */

/* Once the loop has finished it would never run a queued check: the
 * caller hears so at once, instead of waiting for ever. */
static void test_ensure_loop_finished(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKTEST123\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "sk\n");
	_cleanup_free_ char *error = NULL;
	struct ensured e = { .in_call = true };
	struct fix f;

	assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
	assert_true(sd_event_exit(event, 0) >= 0);
	assert_true(sd_event_loop(event) >= 0);
	auth_ensure(f.a, on_ensured, &e);
	assert_true(e.done);
	assert_int_equal(e.calls, 1);
	assert_int_equal(e.r, -ESTALE);
	assert_string_equal(e.error, "cannot schedule the credential check on the event loop");
	free(e.error);
	fix_free(&f);
}

static void test_aksk_headers(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKTEST123\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "sk/with+chars=\n");
	_cleanup_free_ char *tok = write_cred_str("tok", "temp-security-token\n");
	_cleanup_free_ char *error = NULL;
	struct curl_slist *l;
	struct fix f;

	assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
	assert_true(auth_usable(f.a));
	/* Static keys: a 401 means a bad key or signature; refreshing can't help. */
	assert_false(auth_invalidate(f.a));
	assert_true(auth_usable(f.a));

	l = prepare(f.a, "DELETE",
	            "https://kms.example.com/v1/p/csms/id/tags/a%20b%3Dc?limit=10&marker=x", NULL);
	check_signature(l, "AKTEST123", "sk/with+chars=", "DELETE", "kms.example.com",
	                "/v1/p/csms/id/tags/a%20b%3Dc", "limit=10&marker=x", NULL, NULL);
	assert_true(strstr(hdr(l, "Authorization"),
	                   "SignedHeaders=host;x-project-id;x-sdk-date, Signature=") != NULL);
	curl_slist_free_all(l);

	/* A body: Content-Type is signed and the payload hash covers the body. */
	l = prepare(f.a, "POST", "https://kms.example.com/v1/p/csms/resource_instances/action",
	            "{\"action\":\"filter\"}");
	check_signature(l, "AKTEST123", "sk/with+chars=", "POST", "kms.example.com",
	                "/v1/p/csms/resource_instances/action", NULL, "{\"action\":\"filter\"}", NULL);
	assert_true(strstr(hdr(l, "Authorization"),
	                   "SignedHeaders=content-type;host;x-project-id;x-sdk-date,") != NULL);
	curl_slist_free_all(l);
	fix_free(&f);

	/* Temporary credentials: X-Security-Token sent and signed. */
	assert_int_equal(aksk_fix(&f, ak, sk, tok, &error), 0);
	l = prepare(f.a, "GET", "https://kms.example.com/v1/p/secrets", NULL);
	check_signature(l, "AKTEST123", "sk/with+chars=", "GET", "kms.example.com", "/v1/p/secrets",
	                NULL, NULL, "temp-security-token");
	assert_true(strstr(hdr(l, "Authorization"),
	                   "SignedHeaders=host;x-project-id;x-sdk-date;x-security-token,") != NULL);
	curl_slist_free_all(l);
	fix_free(&f);
}

/* The agency method's set-up: what it needs, and the base identity it
 * builds, which signs without X-Project-Id (STS and IAM calls in its own
 * account are not about the governed project). */
static void test_agency_setup(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKBASE\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "base-secret\n");
	struct config c = cfg_for(AUTH_AGENCY);
	struct curl_slist *l;
	char *error = NULL;
	struct fix f;

	c.csms.sts_endpoint = emu_base;
	c.auth.agency.account_id = (char *) "a1";
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "agency_name"));
	free(error);
	fix_free(&f);

	c.auth.agency.name = (char *) "tag-keeper";
	c.auth.agency.account_id = NULL;
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "agency_account_id"));
	free(error);
	fix_free(&f);

	c.auth.agency.account_id = (char *) "a1";
	assert_true(fix_new(&f, &c, &error) < 0);
	assert_non_null(strstr(error, "access_key_file"));
	free(error);
	fix_free(&f);

	c.auth.access_key_file = ak;
	c.auth.secret_key_file = sk;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	/* Nothing assumed yet: no credentials, and a 401 can be helped. */
	assert_false(auth_usable(f.a));
	assert_int_equal(auth_expiry_usec(f.a), 0);
	assert_true(auth_usable(f.a->base));
	l = prepare(f.a->base, "POST", "https://sts.example.com/v5/agencies/assume", "{}");
	assert_null(hdr(l, "X-Project-Id"));
	assert_true(strstr(hdr(l, "Authorization"), "Access=AKBASE, "
	                   "SignedHeaders=content-type;host;x-sdk-date,") != NULL);
	curl_slist_free_all(l);
	fix_free(&f);
}

#define OTHER_PROJECT   "fedcba9876543210fedcba9876543210"

/* One auth per account serves all its projects: each request is signed
 * with the X-Project-Id its client names. */
static void test_project_signing(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKTEST123\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "sk/with+chars=\n");
	_cleanup_free_ char *pw = write_cred_str("tokfile", "a-token\n");
	const char *u = "https://kms.example.com/v1/" OTHER_PROJECT "/secrets?limit=10";
	struct config c = cfg_for(AUTH_AKSK);
	struct curl_slist *l = NULL;
	struct auth *base = NULL;
	char *error = NULL;
	struct fix f;

	assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
	l = prepare_for(f.a, OTHER_PROJECT, "GET", u, NULL);
	check_signature_in(l, OTHER_PROJECT, "AKTEST123", "sk/with+chars=", "GET", "kms.example.com",
	                   "/v1/" OTHER_PROJECT "/secrets", "limit=10", NULL, NULL);
	check_authorization_shape(l, "AKTEST123", "host;x-project-id;x-sdk-date");
	/* Sent once, the given one. */
	{
		size_t n = 0;

		for (struct curl_slist *i = l; i; i = i->next)
			n += strncasecmp(i->data, "X-Project-Id:", 13) == 0;
		assert_int_equal(n, 1);
	}
	curl_slist_free_all(l);
	/* NULL: the auth's own project. */
	l = prepare_for(f.a, NULL, "POST", "https://kms.example.com/v1/p/csms/x/tags", "{}");
	check_signature(l, "AKTEST123", "sk/with+chars=", "POST", "kms.example.com",
	                "/v1/p/csms/x/tags", NULL, "{}", NULL);
	check_authorization_shape(l, "AKTEST123", "content-type;host;x-project-id;x-sdk-date");
	curl_slist_free_all(l);
	/* A project id that would split the header: refused, nothing added. */
	l = NULL;
	assert_int_equal(auth_prepare_project(f.a, "p\r\nX-Evil: 1", "GET", u, NULL, 0, &l), -EINVAL);
	assert_int_equal(auth_prepare_project(f.a, "", "GET", u, NULL, 0, &l), -EINVAL);
	assert_null(l);
	fix_free(&f);

	/* A base identity has no project of its own, but signs a given one. */
	c.auth.access_key_file = ak;
	c.auth.secret_key_file = sk;
	f.h = new_http();
	assert_int_equal(auth_new_base_identity(&c, f.h, &base, &error), 0);
	assert_true(auth_base(base) == base);
	l = prepare_for(base, NULL, "GET", "https://iam.example.com/v3/auth/projects", NULL);
	assert_null(hdr(l, "X-Project-Id"));
	check_authorization_shape(l, "AKTEST123", "host;x-sdk-date");
	curl_slist_free_all(l);
	l = prepare_for(base, OTHER_PROJECT, "GET", u, NULL);
	check_signature_in(l, OTHER_PROJECT, "AKTEST123", "sk/with+chars=", "GET", "kms.example.com",
	                   "/v1/" OTHER_PROJECT "/secrets", "limit=10", NULL, NULL);
	curl_slist_free_all(l);
	auth_free(base);
	http_free(f.h);

	/* A project-scoped token serves its own project only. */
	c = cfg_for(AUTH_TOKEN);
	c.auth.token_file = pw;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	assert_int_equal(ensure(f.a, NULL), 0);
	l = prepare_for(f.a, PROJECT, "GET", u, NULL);
	assert_string_equal(hdr(l, "X-Auth-Token"), "a-token");
	curl_slist_free_all(l);
	l = NULL;
	assert_int_equal(auth_prepare_project(f.a, OTHER_PROJECT, "GET", u, NULL, 0, &l), -ENOKEY);
	assert_null(l);
	fix_free(&f);
}

/* Agency auths of many accounts over one base identity, which they borrow. */
static void test_agency_shared_base(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKBASE\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "base-secret\n");
	struct config c = cfg_for(AUTH_AGENCY);
	struct auth *base = NULL, *a1 = NULL, *a2 = NULL, *x = NULL;
	struct curl_slist *l;
	char *error = NULL;
	struct http *h = new_http();

	c.csms.sts_endpoint = emu_base;
	c.auth.agency.name = (char *) "tag-keeper";
	c.auth.agency.account_id = (char *) "a1";
	c.auth.access_key_file = ak;
	c.auth.secret_key_file = sk;
	assert_int_equal(auth_new_base_identity(&c, h, &base, &error), 0);
	assert_int_equal(auth_new_with_base(&c, h, base, &a1, &error), 0);
	c.auth.agency.account_id = (char *) "a2";
	assert_int_equal(auth_new_with_base(&c, h, base, &a2, &error), 0);
	assert_true(auth_base(a1) == base);
	assert_true(auth_base(a2) == base);
	assert_false(auth_usable(a1));
	/* Not an agency, or not a base identity: refused. */
	assert_int_equal(auth_new_with_base(&c, h, a1, &x, &error), -EINVAL);
	assert_non_null(error);
	free(error);
	error = NULL;
	c.auth.method = AUTH_AKSK;
	assert_int_equal(auth_new_with_base(&c, h, base, &x, &error), -EINVAL);
	free(error);
	assert_null(x);
	/* Freeing an agency auth leaves the shared base as it was. */
	auth_free(a1);
	assert_true(auth_usable(base));
	l = prepare(base, "POST", "https://sts.example.com/v5/agencies/assume", "{}");
	assert_null(hdr(l, "X-Project-Id"));
	curl_slist_free_all(l);
	auth_free(a2);
	auth_free(base);
	http_free(h);
}

/* A quarter of the life, at most 15 minutes; and the method refreshes by
 * that rule: held keys are used until then, replaced after. */
static void test_agency_margin(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", "AKBASE\n");
	_cleanup_free_ char *sk = write_cred_str("sk", "base-secret\n");
	const uint64_t min = 60 * USEC_PER_SEC, now = now_realtime_usec();
	struct config c = cfg_for(AUTH_AGENCY);
	char *error = NULL;
	struct fix f;

	assert_int_equal(auth_refresh_margin(0, 15 * min, 15 * min), 15 * min / 4);
	assert_int_equal(auth_refresh_margin(10, 10 + 60 * min, 15 * min), 15 * min);
	assert_int_equal(auth_refresh_margin(0, 12 * 60 * min, 15 * min), 15 * min);
	assert_int_equal(auth_refresh_margin(0, 12 * 60 * min, 60 * min), 60 * min);
	assert_int_equal(auth_refresh_margin(5, 3, 15 * min), 0);

	c.csms.sts_endpoint = emu_base;
	c.auth.agency.name = (char *) "tag-keeper";
	c.auth.agency.account_id = (char *) "a1";
	c.auth.access_key_file = ak;
	c.auth.secret_key_file = sk;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	assert_true(f.a->ops->needs_refresh(f.a));
	auth_secret_replace(&f.a->ak, strdup("AKTMP"));
	auth_secret_replace(&f.a->sk, strdup("SKTMP"));
	/* 15-minute keys: renewed with under 3 min 45 s left. */
	f.a->obtained_at = now - 11 * min;
	f.a->expires_at = now + 4 * min;
	assert_true(auth_usable(f.a));
	assert_false(f.a->ops->needs_refresh(f.a));
	f.a->expires_at = now + 3 * min;
	f.a->obtained_at = now - 12 * min;
	assert_true(auth_usable(f.a));
	assert_true(f.a->ops->needs_refresh(f.a));
	/* 12-hour keys: renewed with under 15 min left. */
	f.a->obtained_at = now - 11 * 60 * min;
	f.a->expires_at = now + 16 * min;
	assert_false(f.a->ops->needs_refresh(f.a));
	f.a->expires_at = now + 14 * min;
	assert_true(f.a->ops->needs_refresh(f.a));
	/* Refused: replaced whatever the time. */
	f.a->expires_at = now + 60 * min;
	assert_true(auth_invalidate(f.a));
	assert_true(f.a->ops->needs_refresh(f.a));
	/* Expired: no longer usable. */
	f.a->expires_at = now - 1;
	assert_false(auth_usable(f.a));
	fix_free(&f);
}

static void test_host_values(void **state)
{
	static const struct {
		const char *url, *host, *path;
	} cases[] = {
		{ "https://kms.example.com/v1", "kms.example.com", "/v1" },
		{ "https://kms.example.com:443/v1", "kms.example.com", "/v1" },
		{ "https://kms.example.com:8443/v1", "kms.example.com:8443", "/v1" },
		{ "http://kms.example.com:80/v1", "kms.example.com", "/v1" },
		{ "http://kms.example.com:443/v1", "kms.example.com:443", "/v1" },
		{ "http://127.0.0.1:8080", "127.0.0.1:8080", "/" },
		{ "http://[::1]:9000/a/b/", "[::1]:9000", "/a/b/" },
		{ "https://[2001:db8::1]/x", "[2001:db8::1]", "/x" },
	};
	_cleanup_free_ char *ak = write_cred_str("ak", "AKHOST");
	_cleanup_free_ char *sk = write_cred_str("sk", "SKHOST");
	_cleanup_free_ char *error = NULL;
	struct fix f;

	assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct curl_slist *l = prepare(f.a, "GET", cases[i].url, NULL);

		check_signature(l, "AKHOST", "SKHOST", "GET", cases[i].host, cases[i].path, NULL, NULL,
		                NULL);
		curl_slist_free_all(l);
	}
	/* Not a URL: refused, nothing added. */
	{
		struct curl_slist *l = NULL;

		assert_true(auth_prepare(NULL, "GET", "not a url", NULL, 0, &l, f.a) < 0);
		assert_null(l);
	}
	fix_free(&f);
}

static void test_no_credentials_yet(void **state)
{
	_cleanup_free_ char *pw = write_cred_str("pw", "demo-pass\n");
	struct config c = cfg_for(AUTH_PASSWORD);
	struct curl_slist *l = NULL;
	char *error = NULL;
	struct fix f;

	c.auth.password_file = pw;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	/* Nothing fetched yet. */
	assert_false(auth_usable(f.a));
	assert_int_equal(auth_prepare(NULL, "GET", "http://127.0.0.1:1/", NULL, 0, &l, f.a), -ENOKEY);
	assert_null(l);
	assert_true(auth_invalidate(f.a));
	fix_free(&f);
}

/* --- against the emulator ------------------------------------------------------------- */

static void test_aksk_emulator(void **state)
{
	_cleanup_free_ char *ak = write_cred_str("ak", EMU_AK "\n");
	_cleanup_free_ char *sk = write_cred_str("sk", EMU_SK "\n");
	_cleanup_free_ char *bad = write_cred_str("sk-bad", "not-the-secret-key\n");
	_cleanup_free_ char *error = NULL, *local = NULL, *mixed = NULL;
	struct fix f;

	assert_int_equal(aksk_fix(&f, ak, sk, NULL, &error), 0);
	/* Nothing to fetch for static keys, but still called back later. */
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
	assert_int_equal(send_with(f.h, f.a, "GET", "/v1/" PROJECT "/secrets?limit=2", NULL), 200);
	assert_int_equal(send_with(f.h, f.a, "POST", "/v1/" PROJECT "/csms/resource_instances/action",
	                           "{\"action\":\"count\"}"), 200);
	/* A key with a space, encoded once on the wire and in the signature. */
	assert_int_equal(send_with(f.h, f.a, "DELETE", TAGS_PATH "/temp-build%20id", NULL), 204);

	/* The Host header signed is the one curl sends, whatever the spelling. */
	local = xasprintf("http://localhost:%s", strrchr(emu_base, ':') + 1);
	mixed = xasprintf("http://LocalHost:%s", strrchr(emu_base, ':') + 1);
	{
		const char *bases[] = { local, mixed };
		char saved[sizeof(emu_base)];

		memcpy(saved, emu_base, sizeof(saved));
		for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
			snprintf(emu_base, sizeof(emu_base), "%s", bases[i]);
			assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
		}
		memcpy(emu_base, saved, sizeof(saved));
	}
	fix_free(&f);

	/* A wrong secret key: refused, once (no retry loop towards the lockout). */
	assert_int_equal(aksk_fix(&f, ak, bad, NULL, &error), 0);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 401);
	fix_free(&f);
}

static int password_fix(struct fix *f, const char *password, const char *iam)
{
	_cleanup_free_ char *pw = write_cred_str("pw", password);
	struct config c = cfg_for(AUTH_PASSWORD);
	char *error = NULL;
	int r;

	c.auth.password_file = pw;
	if (iam)
		c.csms.iam_endpoint = (char *) iam;
	r = fix_new(f, &c, &error);
	free(error);
	return r;
}

static void test_password_flow(void **state)
{
	const char *iam = "KeystoneCreateUserTokenByPassword";
	long n0 = count(iam);
	struct fix f;

	assert_int_equal(password_fix(&f, "demo-pass\n", NULL), 0);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_true(auth_usable(f.a));
	assert_int_equal(count(iam), n0 + 1);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);

	/* Cached: no new token while it is fresh. */
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count(iam), n0 + 1);

	/* A 401 marks it stale: the next ensure fetches a new one. */
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count(iam), n0 + 2);

	/* The service forgets every token: refused, refreshed, accepted. */
	control_post("expire-tokens", NULL);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 401);
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count(iam), n0 + 3);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
	fix_free(&f);
}

static void test_password_refresh(void **state)
{
	const char *iam = "KeystoneCreateUserTokenByPassword";
	long n0 = count(iam);
	struct fix f;

	/* A 2 s token is refreshed once less than a quarter of it is left. */
	control_post("config", "{\"token_ttl\": 2}");
	assert_int_equal(password_fix(&f, "demo-pass", NULL), 0);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count(iam), n0 + 1);
	run_for(1700 * USEC_PER_MSEC);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count(iam), n0 + 2);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
	fix_free(&f);
}

static void test_password_ensure_coalesces(void **state)
{
	const char *iam = "KeystoneCreateUserTokenByPassword";
	long n0 = count(iam);
	struct ensured e1 = { 0 }, e2 = { 0 }, e3 = { 0 };
	struct fix f;

	assert_int_equal(password_fix(&f, "demo-pass\n", NULL), 0);
	auth_ensure(f.a, on_ensured, &e1);
	auth_ensure(f.a, on_ensured, &e2);
	run_for(5 * USEC_PER_MSEC);
	/* Joins the fetch in flight. */
	auth_ensure(f.a, on_ensured, &e3);
	run_until(&e3.done, 10 * USEC_PER_SEC);
	run_until(&e1.done, 10 * USEC_PER_SEC);
	assert_int_equal(e1.calls, 1);
	assert_int_equal(e2.calls, 1);
	assert_int_equal(e3.calls, 1);
	assert_int_equal(e1.r, 0);
	assert_int_equal(e2.r, 0);
	assert_int_equal(e3.r, 0);
	assert_int_equal(count(iam), n0 + 1);
	fix_free(&f);
}

/* A cancelled waiter is never called: cancelled before the answer, or by
 * another waiter's callback while the answer is being handed out. */
static void test_password_ensure_cancel(void **state)
{
	struct ensured e1 = { 0 }, e2 = { 0 }, e3 = { 0 }, e4 = { 0 };
	struct fix f;

	assert_int_equal(password_fix(&f, "demo-pass\n", NULL), 0);
	e1.cancel_in = f.a;
	e1.cancel = &e3;
	auth_ensure(f.a, on_ensured, &e1);
	auth_ensure(f.a, on_ensured, &e2);
	auth_ensure(f.a, on_ensured, &e3);
	auth_ensure(f.a, on_ensured, &e4);
	auth_cancel(f.a, &e2);
	run_until(&e4.done, 10 * USEC_PER_SEC);
	run_for(50 * USEC_PER_MSEC);
	assert_int_equal(e1.calls, 1);
	assert_int_equal(e2.calls, 0);
	assert_int_equal(e3.calls, 0);
	assert_int_equal(e4.calls, 1);
	assert_int_equal(e4.r, 0);
	/* New waiters still queue behind a cancelled tail. */
	auth_ensure(f.a, on_ensured, &e2);
	auth_cancel(f.a, &e2);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(e2.calls, 0);
	free(e1.error);
	free(e4.error);
	fix_free(&f);
}

static void test_password_wrong(void **state)
{
	const char *iam = "KeystoneCreateUserTokenByPassword";
	long n0 = count(iam);
	char *error = NULL;
	struct curl_slist *l = NULL;
	struct fix f;

	assert_int_equal(password_fix(&f, "Xyzzy-pass-99\n", NULL), 0);
	assert_int_equal(ensure(f.a, &error), -EACCES);
	if (!strstr(error, "HTTP 401") || !strstr(error, "request id ") ||
	    !strstr(error, "/v3/auth/tokens"))
		fail_msg("error: %s", error);
	assert_null(strstr(error, "Xyzzy"));
	free(error);
	assert_false(auth_usable(f.a));
	assert_int_equal(auth_prepare(NULL, "GET", "http://127.0.0.1:1/", NULL, 0, &l, f.a), -ENOKEY);
	/* Held off: asking again right away does not hit IAM again. */
	assert_int_equal(ensure(f.a, &error), -EACCES);
	assert_non_null(strstr(error, "HTTP 401"));
	free(error);
	assert_int_equal(count(iam), n0 + 1);
	fix_free(&f);
}

static void test_iam_unreachable(void **state)
{
	char *error = NULL;
	struct fix f;

	assert_int_equal(password_fix(&f, "demo-pass\n", "http://127.0.0.1:1"), 0);
	assert_int_equal(ensure(f.a, &error), -EIO);
	if (!strstr(error, "http://127.0.0.1:1/v3/auth/tokens"))
		fail_msg("error: %s", error);
	free(error);
	fix_free(&f);
}

static void test_token_flow(void **state)
{
	_cleanup_free_ char *tok = write_cred_str("token", "not-a-valid-token\n");
	struct config c = cfg_for(AUTH_TOKEN);
	char *error = NULL;
	struct fix f;

	c.auth.token_file = tok;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	assert_true(auth_usable(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 401);

	/* The site's tooling rotates the file: read again after a 401. */
	free(write_cred_str("token", EMU_TOKEN "\n"));
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 401);
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);

	/* The file vanishes: a clear error, and nothing is sent any more. */
	assert_int_equal(unlink(tok), 0);
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, &error), -ENOENT);
	assert_non_null(strstr(error, tok));
	free(error);
	assert_false(auth_usable(f.a));
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), -1);
	fix_free(&f);
}

/* A re-read judges the token file exactly as start-up and --check-config
 * do (credentials.c): a file made group-readable meanwhile is refused with
 * the very same message, not read. */
static void test_token_reread_rule(void **state)
{
	_cleanup_free_ char *tok = write_cred_str("token", EMU_TOKEN "\n");
	_cleanup_free_ char *want = NULL;
	struct config c = cfg_for(AUTH_TOKEN);
	char *error = NULL, *value = NULL;
	struct fix f;

	c.auth.token_file = tok;
	assert_int_equal(fix_new(&f, &c, &error), 0);
	assert_int_equal(chmod(tok, 0640), 0);
	assert_int_equal(credential_read("token_file", tok, &value, &want), -EPERM);
	assert_non_null(strstr(want, "is readable by group or others (mode 0640); chmod 600 it"));
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, &error), -EPERM);
	assert_string_equal(error, want);
	free(error);
	fix_free(&f);
}

static int ecs_fix(struct fix *f)
{
	struct config c = cfg_for(AUTH_ECS);
	char *error = NULL;
	int r = fix_new(f, &c, &error);

	free(error);
	return r;
}

static void set_fault(const char *api, int status, const char *message, int n)
{
	_cleanup_free_ char *body = xasprintf(
		"{\"rules\": [{\"api\": \"%s\", \"kind\": \"status\", \"status\": %d, "
		"\"count\": %d%s%s%s}]}", api, status, n, message ? ", \"error_msg\": \"" : "",
		message ? message : "", message ? "\"" : "");

	control_post("faults", body);
}

static void test_ecs_flow(void **state)
{
	long t0 = count("MetadataApiToken"), k0 = count("MetadataSecurityKey");
	struct fix f;

	assert_int_equal(ecs_fix(&f), 0);
	assert_false(auth_usable(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_true(auth_usable(f.a));
	assert_int_equal(count("MetadataApiToken"), t0 + 1);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 1);
	/* Signed with the temporary keys and their X-Security-Token. */
	assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
	assert_int_equal(send_with(f.h, f.a, "POST", "/v1/" PROJECT "/csms/resource_instances/action",
	                           "{\"action\":\"count\"}"), 200);

	/* An hour left: nothing to do. */
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 1);

	/* Keys that expire in 30 minutes are refreshed at every ensure. */
	control_post("config", "{\"clock_offset\": -1800}");
	assert_true(auth_invalidate(f.a));
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 2);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 3);
	assert_true(auth_usable(f.a));
	fix_free(&f);
}

static void test_ecs_without_session_tokens(void **state)
{
	static const int ok[] = { 404, 405, 503 };
	char *error = NULL;
	struct fix f;

	/* Metadata services without session tokens are used without one. */
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		long k0 = count("MetadataSecurityKey");

		set_fault("MetadataApiToken", ok[i], NULL, 1);
		assert_int_equal(ecs_fix(&f), 0);
		assert_int_equal(ensure(f.a, NULL), 0);
		assert_int_equal(count("MetadataSecurityKey"), k0 + 1);
		assert_int_equal(send_with(f.h, f.a, "GET", TAGS_PATH, NULL), 200);
		fix_free(&f);
	}
	/* Anything else is an error. */
	set_fault("MetadataApiToken", 500, NULL, 1);
	assert_int_equal(ecs_fix(&f), 0);
	assert_true(ensure(f.a, &error) < 0);
	if (!strstr(error, "HTTP 500") || !strstr(error, "/meta-data/latest/api/token"))
		fail_msg("error: %s", error);
	free(error);
	fix_free(&f);
}

static void test_ecs_no_agency(void **state)
{
	long k0 = count("MetadataSecurityKey");
	char *error = NULL;
	struct fix f;

	set_fault("MetadataSecurityKey", 401, "Please configure Cloud Service Agency first", 5);
	assert_int_equal(ecs_fix(&f), 0);
	assert_int_equal(ensure(f.a, &error), -EACCES);
	if (!strstr(error, "no agency"))
		fail_msg("error: %s", error);
	free(error);
	/* Asked once: no retry can attach an agency. */
	assert_int_equal(count("MetadataSecurityKey"), k0 + 1);
	assert_false(auth_usable(f.a));
	fix_free(&f);
}

static void test_ecs_stale_session_token(void **state)
{
	long t0 = count("MetadataApiToken"), k0 = count("MetadataSecurityKey");
	char *error = NULL;
	struct fix f;

	/* One 401 without the agency phrase: new session token, asked again. */
	set_fault("MetadataSecurityKey", 401, NULL, 1);
	assert_int_equal(ecs_fix(&f), 0);
	assert_int_equal(ensure(f.a, NULL), 0);
	assert_int_equal(count("MetadataApiToken"), t0 + 2);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 2);
	fix_free(&f);

	/* Twice: an error, not a loop. */
	set_fault("MetadataSecurityKey", 401, NULL, 5);
	assert_int_equal(ecs_fix(&f), 0);
	assert_int_equal(ensure(f.a, &error), -EACCES);
	assert_non_null(strstr(error, "HTTP 401"));
	free(error);
	assert_int_equal(count("MetadataSecurityKey"), k0 + 4);
	fix_free(&f);
}

static void test_free_while_fetching(void **state)
{
	struct ensured e = { 0 };
	struct fix f;

	/* Freed before the loop ran: never called back. */
	assert_int_equal(password_fix(&f, "demo-pass\n", NULL), 0);
	auth_ensure(f.a, on_ensured, &e);
	auth_free(f.a);
	f.a = NULL;
	run_for(200 * USEC_PER_MSEC);
	assert_false(e.done);
	fix_free(&f);

	/* Freed with the IAM request in flight. */
	control_post("config", "{\"latency_ms\": 300}");
	assert_int_equal(password_fix(&f, "demo-pass\n", NULL), 0);
	auth_ensure(f.a, on_ensured, &e);
	run_for(50 * USEC_PER_MSEC);
	assert_int_equal(http_pending(f.h), 1);
	assert_false(e.done);
	auth_free(f.a);
	f.a = NULL;
	assert_int_equal(http_pending(f.h), 0);
	run_for(400 * USEC_PER_MSEC);
	assert_false(e.done);
	fix_free(&f);
	control_post("config", "{\"latency_ms\": 0}");

	/* Freed from its own callback, with a second waiter pending. */
	{
		struct ensured second = { 0 };

		assert_int_equal(ecs_fix(&f), 0);
		e = (struct ensured) { .free_me = &f.a };
		auth_ensure(f.a, on_ensured, &e);
		auth_ensure(f.a, on_ensured, &second);
		run_until(&e.done, 10 * USEC_PER_SEC);
		assert_true(e.done);
		assert_int_equal(e.r, 0);
		assert_null(f.a);
		run_for(100 * USEC_PER_MSEC);
		assert_false(second.done);
		free(e.error);
		fix_free(&f);
	}
}

/* --- main ----------------------------------------------------------------------------- */

static int tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-auth-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void tmp_cleanup(void)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", tmpdir);

	if (tmpdir[0] && cmd && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, loop_setup, loop_teardown)
#define E(f) cmocka_unit_test_setup_teardown(f, emu_reset, loop_teardown)

int main(void)
{
	const struct CMUnitTest local[] = {
		T(test_credential_newlines),
		T(test_credential_errors),
		T(test_token_reread_rule),
		T(test_settings_missing),
		T(test_aksk_headers),
		T(test_agency_setup),
		T(test_project_signing),
		T(test_agency_shared_base),
		T(test_agency_margin),
		T(test_ensure_loop_finished),
		T(test_host_values),
		T(test_no_credentials_yet),
	};
	const struct CMUnitTest emulated[] = {
		E(test_aksk_emulator),
		E(test_password_flow),
		E(test_password_refresh),
		E(test_password_ensure_coalesces),
		E(test_password_ensure_cancel),
		E(test_password_wrong),
		E(test_iam_unreachable),
		E(test_token_flow),
		E(test_ecs_flow),
		E(test_ecs_without_session_tokens),
		E(test_ecs_no_agency),
		E(test_ecs_stale_session_token),
		E(test_free_while_fetching),
	};
	_cleanup_free_ char *check = NULL;
	int r;

	if (tmp_setup() < 0) {
		perror("mkdtemp");
		return 1;
	}
	/* Until the emulator runs, endpoints where nothing listens. */
	snprintf(emu_base, sizeof(emu_base), "http://127.0.0.1:1");
	r = cmocka_run_group_tests(local, NULL, NULL);
	check = xasprintf("command -v '%s' >/dev/null 2>&1", python());
	if (r == 0 && (!check || system(check) != 0)) {
		fprintf(stderr, "%s not found: skipping the emulator tests\n", python());
		tmp_cleanup();
		return 77;
	}
	if (r == 0)
		r = cmocka_run_group_tests(emulated, emu_start, emu_stop);
	tmp_cleanup();
	return r;
}
