/* test-http.c - the HTTP layer against a small local server.
 *
 * The server is a Python 3 script embedded below (standard library only),
 * listening on 127.0.0.1 in four variants: plain HTTP, HTTPS with a
 * certificate from a test CA, HTTPS from the same CA for another host name,
 * and HTTPS with a self-signed certificate.  Certificates are made with the
 * openssl command.  Without python3 or openssl the test is skipped (77).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "http.h"
#include "util.h"

#include "event-loop.h"
#include "spawn.h"

static const char server_py[] =
"import json, ssl, sys, threading, time\n"
"from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
"from urllib.parse import urlsplit, parse_qsl\n"
"lock = threading.Lock()\n"
"st = {'inflight': 0, 'max': 0, 'conns': set(), 'n': 0}\n"
"class H(BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def log_message(self, *a): pass\n"
"    def handle(self):\n"
"        try: super().handle()\n"
"        except (OSError, ValueError): pass\n"
"    def reply(self, code, body=b'', hdrs=()):\n"
"        with lock:\n"
"            st['n'] += 1; n = st['n']\n"
"        self.send_response(code)\n"
"        self.send_header('X-Request-Id', 'req-%d' % n)\n"
"        for k, v in hdrs: self.send_header(k, v)\n"
"        self.send_header('Content-Length', str(len(body)))\n"
"        self.end_headers()\n"
"        if self.command != 'HEAD': self.wfile.write(body)\n"
"    def any(self):\n"
"        u = urlsplit(self.path); p = u.path\n"
"        n = int(self.headers.get('Content-Length') or 0)\n"
"        body = self.rfile.read(n) if n else b''\n"
"        if p not in ('/stats', '/reset'):\n"
"            with lock: st['conns'].add(self.client_address)\n"
"        if p == '/echo':\n"
"            h = {}\n"
"            for k, v in self.headers.items(): h[k.lower()] = v\n"
"            out = {'method': self.command, 'path': p, 'query': u.query, 'headers': h,\n"
"                   'body': body.decode('utf-8', 'replace'),\n"
"                   'has_length': 'Content-Length' in self.headers}\n"
"            self.reply(200, json.dumps(out).encode(), [('Content-Type', 'application/json')])\n"
"        elif p.startswith('/sleep/'):\n"
"            with lock:\n"
"                st['inflight'] += 1; st['max'] = max(st['max'], st['inflight'])\n"
"            time.sleep(int(p[7:]) / 1000)\n"
"            with lock: st['inflight'] -= 1\n"
"            self.reply(200, b'slept')\n"
"        elif p.startswith('/big/'):\n"
"            self.reply(200, b'x' * int(p[5:]))\n"
"        elif p.startswith('/chunked/'):\n"
"            left = int(p[9:])\n"
"            self.send_response(200); self.send_header('Transfer-Encoding', 'chunked')\n"
"            self.end_headers()\n"
"            while left > 0:\n"
"                k = min(left, 8192); left -= k\n"
"                self.wfile.write(b'%x\\r\\n' % k + b'x' * k + b'\\r\\n')\n"
"            self.wfile.write(b'0\\r\\n\\r\\n')\n"
"        elif p.startswith('/status/'):\n"
"            self.reply(int(p[8:]), b'{\"error_code\":\"TEST.0001\",\"error_msg\":\"m\"}',\n"
"                       parse_qsl(u.query))\n"
"        elif p == '/redirect':\n"
"            self.reply(302, b'', [('Location', '/echo')])\n"
"        elif p == '/stats':\n"
"            with lock: out = {'max': st['max'], 'conns': len(st['conns'])}\n"
"            self.reply(200, json.dumps(out).encode())\n"
"        elif p == '/reset':\n"
"            with lock: st['max'] = 0; st['conns'] = set()\n"
"            self.reply(200)\n"
"        else:\n"
"            self.reply(404)\n"
"    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = any\n"
"def serve(cert=None, key=None):\n"
"    s = ThreadingHTTPServer(('127.0.0.1', 0), H); s.daemon_threads = True\n"
"    if cert:\n"
"        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(cert, key)\n"
"        s.socket = c.wrap_socket(s.socket, server_side=True)\n"
"    threading.Thread(target=s.serve_forever, daemon=True).start()\n"
"    return s.server_address[1]\n"
"d = sys.argv[2]\n"
"ports = {'http': serve(), 'good': serve(d + '/good.pem', d + '/good.key'),\n"
"         'wronghost': serve(d + '/wrong.pem', d + '/wrong.key'),\n"
"         'untrusted': serve(d + '/self.pem', d + '/self.key')}\n"
"with open(sys.argv[1] + '.tmp', 'w') as f: json.dump(ports, f)\n"
"import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
"while True: time.sleep(3600)\n";

/* A CA, a leaf for 127.0.0.1 and one for another name signed by it, and a
 * self-signed leaf for 127.0.0.1. */
static const char certs_sh[] =
"set -e\n"
"cd \"$1\"\n"
"K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
"openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=csms-tagd-test-ca 2>/dev/null\n"
"leaf() {\n"
"  openssl req $K -keyout $1.key -out $1.csr -subj /CN=$2 2>/dev/null\n"
"  printf 'basicConstraints=CA:FALSE\\nsubjectAltName=%s\\n' \"$3\" > $1.ext\n"
"  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
"-extfile $1.ext -out $1.pem 2>/dev/null\n"
"}\n"
"leaf good 127.0.0.1 IP:127.0.0.1,DNS:localhost\n"
"leaf wrong other.invalid DNS:other.invalid\n"
"openssl req -x509 $K -keyout self.key -out self.pem -days 2 -subj /CN=127.0.0.1 "
"-addext subjectAltName=IP:127.0.0.1 2>/dev/null\n";

static char tmpdir[64];
static char ca_file[128];
static pid_t server_pid;
static int port_http, port_good, port_wronghost, port_untrusted;

static char *url(int port, bool tls, const char *path)
{
	char *u = xasprintf("%s://127.0.0.1:%d%s", tls ? "https" : "http", port, path);

	assert_non_null(u);
	return u;
}

/* --- the server ------------------------------------------------------------ */

static int read_ports(const char *file)
{
	json_t *j = json_load_file(file, 0, NULL);

	if (!j)
		return -1;
	port_http = (int) json_integer_value(json_object_get(j, "http"));
	port_good = (int) json_integer_value(json_object_get(j, "good"));
	port_wronghost = (int) json_integer_value(json_object_get(j, "wronghost"));
	port_untrusted = (int) json_integer_value(json_object_get(j, "untrusted"));
	json_decref(j);
	return port_http && port_good && port_wronghost && port_untrusted ? 0 : -1;
}

static int make_certs(void)
{
	pid_t p = fork();
	int status;

	if (p == 0) {
		/* The certificate script gets the directory as $1. */
		execlp("sh", "sh", "-c", certs_sh, "sh", tmpdir, (char *) NULL);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

static int server_start(void **state)
{
	const char *python = getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
	char portfile[160];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", tmpdir);
	snprintf(portfile, sizeof(portfile), "%s/ports.json", tmpdir);
	if (make_certs() < 0)
		return -1;
	server_pid = spawn_tied((char *const[]) { (char *) python, (char *) "-c", (char *) server_py,
	                                          portfile, tmpdir, NULL });
	if (server_pid < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		int status;

		if (access(portfile, F_OK) == 0)
			return read_ports(portfile);
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			server_pid = 0;
			return -1;
		}
		usleep(50 * 1000);
	}
	return -1;
}

static int server_stop(void **state)
{
	char cmd[128];

	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return 0;
}

/* A blocking side channel to the server's /stats and /reset. */
static size_t sink(char *d, size_t s, size_t n, void *u)
{
	FILE *f = u;

	return fwrite(d, s, n, f);
}

static json_t *server_get(const char *path)
{
	_cleanup_free_ char *u = url(port_http, false, path);
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CURL *e = curl_easy_init();
	json_t *j;

	assert_non_null(f);
	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_URL, u);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	fclose(f);
	j = json_loads(buf, 0, NULL);
	free(buf);
	return j;
}

static int stat_value(const char *name)
{
	json_t *j = server_get("/stats");
	int v;

	assert_non_null(j);
	v = (int) json_integer_value(json_object_get(j, name));
	json_decref(j);
	return v;
}

static void server_reset(void)
{
	json_decref(server_get("/reset"));
}

/* --- the client side -------------------------------------------------------- */

struct ctx;

struct result {
	struct ctx *ctx;
	bool done;
	long status;
	CURLcode code;
	char *body;
	size_t body_len;
	bool too_large;
	char *request_id;
	char *subject_token;
	uint64_t retry_after;
	uint64_t prepared_at;
	uint64_t done_at;
};

struct ctx {
	struct http *http;
	unsigned n_done;
	unsigned in_flight, max_in_flight;
	bool in_submit;
	bool called_in_submit;
	int prepare_result;
	const char *add_header;
	char *seen_content_type;
	/* what a done callback does to the client */
	enum { ACT_NONE, ACT_FREE, ACT_CANCEL_ALL, ACT_CANCEL_ALL_AND_SUBMIT } action;
	char *resubmit_url;
	struct result *resubmitted;
};

static void result_clear(struct result *r)
{
	free(r->body);
	free(r->request_id);
	free(r->subject_token);
	*r = (struct result) { 0 };
}

static int prepare(struct http_request *req, const char *method, const char *u, const char *body,
                   size_t body_len, struct curl_slist **headers, void *userdata)
{
	struct result *res = userdata;
	struct ctx *c = res->ctx;

	res->prepared_at = now_monotonic_usec();
	for (struct curl_slist *l = *headers; l; l = l->next)
		if (strncasecmp(l->data, "Content-Type:", 13) == 0) {
			free(c->seen_content_type);
			c->seen_content_type = strdup(l->data);
		}
	if (c->prepare_result < 0)
		return c->prepare_result;
	if (c->add_header) {
		struct curl_slist *n = curl_slist_append(*headers, c->add_header);

		assert_non_null(n);
		*headers = n;
	}
	c->in_flight++;
	if (c->in_flight > c->max_in_flight)
		c->max_in_flight = c->in_flight;
	return 0;
}

static void submit(struct ctx *c, const char *method, const char *u, const char *body,
                   struct result *res);

static void done(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct result *r = userdata;
	struct ctx *c = r->ctx;

	if (c->in_submit)
		c->called_in_submit = true;
	if (resp->curl_code != CURLE_ABORTED_BY_CALLBACK && c->in_flight > 0)
		c->in_flight--;
	r->done = true;
	r->done_at = now_monotonic_usec();
	r->status = resp->status;
	r->code = resp->curl_code;
	assert_non_null(resp->body);
	assert_int_equal(resp->body[resp->body_len], '\0');
	r->body = strndup(resp->body, resp->body_len);
	r->body_len = resp->body_len;
	r->too_large = resp->body_too_large;
	r->request_id = resp->request_id ? strdup(resp->request_id) : NULL;
	r->subject_token = resp->subject_token ? strdup(resp->subject_token) : NULL;
	r->retry_after = resp->retry_after_usec;
	if (resp->curl_code != CURLE_OK)
		assert_non_null(resp->error);
	c->n_done++;
	switch (c->action) {
	case ACT_NONE:
		break;
	case ACT_FREE:
		http_free(c->http);
		c->http = NULL;
		break;
	case ACT_CANCEL_ALL:
		http_cancel_all(c->http);
		break;
	case ACT_CANCEL_ALL_AND_SUBMIT:
		http_cancel_all(c->http);
		c->action = ACT_NONE;
		submit(c, "GET", c->resubmit_url, NULL, c->resubmitted);
		break;
	}
}

static void submit_full(struct ctx *c, const struct http_call *proto, struct result *res)
{
	struct http_call call = *proto;

	res->ctx = c;
	call.prepare = prepare;
	call.done = done;
	call.userdata = res;
	c->in_submit = true;
	assert_int_equal(http_submit(c->http, &call), 0);
	c->in_submit = false;
}

static void submit(struct ctx *c, const char *method, const char *u, const char *body,
                   struct result *res)
{
	struct http_call call = {
		.method = method,
		.url = u,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.content_type = body ? "application/json;charset=UTF-8" : NULL,
	};

	submit_full(c, &call, res);
}


static struct ctx *ctx_new(const struct http_options *o)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(http_new(event, o, &c->http), 0);
	return c;
}

static void ctx_free(struct ctx *c)
{
	http_free(c->http);
	free(c->seen_content_type);
	free(c);
}

/* Run the loop until N callbacks came or TIMEOUT passed. */
static void run_until(struct ctx *c, unsigned n, uint64_t timeout_usec)
{
	uint64_t end = now_monotonic_usec() + timeout_usec;

	while (c->n_done < n && now_monotonic_usec() < end)
		assert_true(sd_event_run(event, 50 * USEC_PER_MSEC) >= 0);
}

/* Run the loop for a while, whatever happens. */
static const struct http_options defaults = { .user_agent = "csms-tagd-test/1" };

/* --- pure helpers --------------------------------------------------------- */

static void test_next_start(void **state)
{
	/* Nothing paced yet, no pause: at once. */
	assert_int_equal(http_next_start_usec(0, 10, 0), 0);
	/* Unlimited rate: only the pause counts. */
	assert_int_equal(http_next_start_usec(5000000, 0, 0), 0);
	assert_int_equal(http_next_start_usec(5000000, 0, 7000000), 7000000);
	assert_int_equal(http_next_start_usec(5000000, -3, 0), 0);
	assert_int_equal(http_next_start_usec(5000000, NAN, 0), 0);
	assert_int_equal(http_next_start_usec(5000000, INFINITY, 0), 0);
	/* 10/s: 100 ms apart; 3/s: 333334 us (rounded up, never faster). */
	assert_int_equal(http_next_start_usec(5000000, 10, 0), 5100000);
	assert_int_equal(http_next_start_usec(5000000, 3, 0), 5333334);
	assert_int_equal(http_next_start_usec(5000000, 0.5, 0), 7000000);
	/* The later of spacing and pause wins. */
	assert_int_equal(http_next_start_usec(5000000, 10, 5050000), 5100000);
	assert_int_equal(http_next_start_usec(5000000, 10, 9000000), 9000000);
	/* Tiny rates and huge times saturate instead of wrapping. */
	assert_true(http_next_start_usec(UINT64_MAX - 5, 1e-30, 0) == UINT64_MAX);
	assert_true(http_next_start_usec(1, 1e-30, 0) > 1);
}

static void test_retry_after_parse(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const uint64_t t0 = UINT64_C(1445412480) * USEC_PER_SEC;
	uint64_t v = 42;

	assert_int_equal(http_parse_retry_after("120", t0, &v), 0);
	assert_int_equal(v, 120 * USEC_PER_SEC);
	assert_int_equal(http_parse_retry_after(" 7 ", t0, &v), 0);
	assert_int_equal(v, 7 * USEC_PER_SEC);
	assert_int_equal(http_parse_retry_after("0", t0, &v), 0);
	assert_int_equal(v, 0);
	/* Absurd values are capped at a day. */
	assert_int_equal(http_parse_retry_after("99999999999999999999999", t0, &v), 0);
	assert_int_equal(v, 24 * 3600 * USEC_PER_SEC);
	assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", t0, &v), 0);
	assert_int_equal(v, 30 * USEC_PER_SEC);
	assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", t0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(http_parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", t0, &v), 0);
	assert_int_equal(v, 24 * 3600 * USEC_PER_SEC);
	v = 42;
	assert_int_equal(http_parse_retry_after("", t0, &v), -EINVAL);
	assert_int_equal(http_parse_retry_after("-1", t0, &v), -EINVAL);
	assert_int_equal(http_parse_retry_after("1.5", t0, &v), -EINVAL);
	assert_int_equal(http_parse_retry_after("12abc", t0, &v), -EINVAL);
	assert_int_equal(http_parse_retry_after("soon", t0, &v), -EINVAL);
	assert_int_equal(http_parse_retry_after("+5", t0, &v), -EINVAL);
	assert_int_equal(v, 42);
}

/* --- requests ---------------------------------------------------------------- */

static void test_get_echo(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo?a=1&b=x%20y");
	struct result r = { 0 };
	struct http_stats s;
	json_t *j, *h;
	struct http_call call = {
		.method = "GET",
		.url = u,
		.headers = curl_slist_append(NULL, "X-Test: yes"),
	};

	submit_full(c, &call, &r);
	assert_false(r.done);
	assert_int_equal(http_pending(c->http), 1);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_true(r.done);
	assert_false(c->called_in_submit);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(r.request_id);
	assert_true(startswith(r.request_id, "req-"));
	assert_null(r.subject_token);
	assert_int_equal(http_pending(c->http), 0);
	j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	h = json_object_get(j, "headers");
	assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(j, "query")), "a=1&b=x%20y");
	assert_string_equal(json_string_value(json_object_get(h, "user-agent")), "csms-tagd-test/1");
	assert_string_equal(json_string_value(json_object_get(h, "x-test")), "yes");
	assert_null(json_object_get(h, "content-type"));
	json_decref(j);
	http_get_stats(c->http, &s);
	assert_int_equal(s.started, 1);
	assert_int_equal(s.completed, 1);
	assert_int_equal(s.transport_errors, 0);
	result_clear(&r);
	ctx_free(c);
}

static json_t *echo_of(const struct result *r)
{
	json_t *j;

	assert_int_equal(r->status, 200);
	j = json_loads(r->body, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_methods_and_bodies(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	char body[] = "{\"k\":\"v\"}";
	struct result post = { 0 }, put = { 0 }, put_empty = { 0 }, del = { 0 };
	struct http_call call = { .method = "PUT", .url = u };
	json_t *j, *h;

	submit(c, "POST", u, body, &post);
	/* The request holds its own copy. */
	memset(body, 'X', sizeof(body) - 1);
	submit(c, "PUT", u, "{\"p\":1}", &put);
	submit_full(c, &call, &put_empty);
	submit(c, "DELETE", u, NULL, &del);
	run_until(c, 4, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 4);

	j = echo_of(&post);
	h = json_object_get(j, "headers");
	assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"k\":\"v\"}");
	assert_string_equal(json_string_value(json_object_get(h, "content-type")),
	                    "application/json;charset=UTF-8");
	assert_null(json_object_get(h, "expect"));
	json_decref(j);

	j = echo_of(&put);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "PUT");
	assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"p\":1}");
	json_decref(j);

	/* A PUT without a body still says Content-Length: 0. */
	j = echo_of(&put_empty);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "PUT");
	assert_true(json_is_true(json_object_get(j, "has_length")));
	assert_string_equal(json_string_value(json_object_get(j, "body")), "");
	json_decref(j);

	j = echo_of(&del);
	assert_string_equal(json_string_value(json_object_get(j, "method")), "DELETE");
	json_decref(j);

	/* The prepare callback saw the Content-Type that was sent. */
	assert_string_equal(c->seen_content_type, "Content-Type: application/json;charset=UTF-8");
	result_clear(&post);
	result_clear(&put);
	result_clear(&put_empty);
	result_clear(&del);
	ctx_free(c);
}

static void test_path_sent_as_is(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo/../echo");
	struct result r = { 0 };

	/* No dot-segment removal: the server sees the path that was signed,
	 * and here answers 404 because it does not normalise either. */
	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_int_equal(r.status, 404);
	result_clear(&r);
	ctx_free(c);
}

static void test_prepare_headers(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r = { 0 };
	json_t *j;

	c->add_header = "X-Auth-Token: abc";
	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	j = echo_of(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"),
	                                                      "x-auth-token")), "abc");
	json_decref(j);
	result_clear(&r);
	ctx_free(c);
}

static void test_prepare_fails(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r = { 0 };
	struct http_stats s;

	c->prepare_result = -ENOKEY;
	submit(c, "GET", u, NULL, &r);
	assert_false(r.done);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_true(r.done);
	assert_false(c->called_in_submit);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.code, CURLE_ABORTED_BY_CALLBACK);
	http_get_stats(c->http, &s);
	assert_int_equal(s.started, 0);
	result_clear(&r);
	ctx_free(c);
}

static void test_submit_invalid(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	struct http_call call = { .method = "GET", .url = NULL, .done = done };

	assert_int_equal(http_submit(c->http, &call), -EINVAL);
	call.url = "http://127.0.0.1:1/";
	call.method = "get";
	assert_int_equal(http_submit(c->http, &call), -EINVAL);
	call.method = NULL;
	assert_int_equal(http_submit(c->http, &call), -EINVAL);
	call.method = "GET";
	call.done = NULL;
	assert_int_equal(http_submit(c->http, &call), -EINVAL);
	assert_int_equal(http_pending(c->http), 0);
	ctx_free(c);
}

/* Once the loop has finished nothing would start a request: submitting
 * fails (the caller keeps its headers) and a pause says so. */
static void test_loop_finished(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-Test: 1");
	struct http_call call = { .method = "GET", .url = "http://127.0.0.1:1/", .done = done,
	                          .headers = hdrs };

	assert_non_null(hdrs);
	assert_true(sd_event_exit(event, 0) >= 0);
	assert_true(sd_event_loop(event) >= 0);
	assert_int_equal(http_submit(c->http, &call), -ESTALE);
	assert_int_equal(http_pending(c->http), 0);
	assert_string_equal(hdrs->data, "X-Test: 1");  /* still the caller's */
	curl_slist_free_all(hdrs);
	assert_int_equal(http_pause(c->http, now_monotonic_usec() + USEC_PER_SEC), -ESTALE);
	ctx_free(c);
}

static void test_parallel_limit(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port_http, false, "/sleep/200");
	struct result r[9] = { 0 };
	uint64_t t0;

	o.max_parallel = 3;
	c = ctx_new(&o);
	server_reset();
	t0 = now_monotonic_usec();
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		submit(c, "GET", u, NULL, &r[i]);
	assert_int_equal(http_pending(c->http), 9);
	run_until(c, 9, 10 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 9);
	for (size_t i = 0; i < ELEMENTSOF(r); i++) {
		assert_int_equal(r[i].status, 200);
		result_clear(&r[i]);
	}
	/* Never more than 3 at once, on either side; and 3 really overlapped. */
	assert_int_equal(c->max_in_flight, 3);
	assert_int_equal(stat_value("max"), 3);
	/* Three rounds of 200 ms. */
	assert_true(now_monotonic_usec() - t0 >= 600 * USEC_PER_MSEC);
	/* Connections were reused: at most one per parallel slot. */
	assert_true(stat_value("conns") <= 3);
	ctx_free(c);
}

static void test_connection_reuse(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r = { 0 };

	o.max_parallel = 1;
	c = ctx_new(&o);
	server_reset();
	for (int i = 0; i < 5; i++) {
		submit(c, "GET", u, NULL, &r);
		run_until(c, (unsigned) i + 1, 5 * USEC_PER_SEC);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
	assert_int_equal(stat_value("conns"), 1);
	ctx_free(c);
}

static void test_pacing(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r[6] = { 0 };

	o.max_parallel = 8;
	o.max_requests_per_second = 20;       /* 50 ms apart */
	c = ctx_new(&o);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		submit(c, "GET", u, NULL, &r[i]);
	run_until(c, 6, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 6);
	for (size_t i = 1; i < ELEMENTSOF(r); i++)
		/* 1 ms for the time between the start decision and prepare. */
		assert_true(r[i].prepared_at - r[i - 1].prepared_at >= 49 * USEC_PER_MSEC);
	/* ...and not much slower than the budget allows. */
	assert_true(r[5].prepared_at - r[0].prepared_at < 600 * USEC_PER_MSEC);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_clear(&r[i]);
	ctx_free(c);
}

/* An "ahead" request starts before every queued one, but still paced. */
static void test_ahead(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct http_call call = { .method = "GET", .url = u, .ahead = true };
	struct result r[4] = { 0 }, first = { 0 };

	o.max_parallel = 8;
	o.max_requests_per_second = 20;       /* 50 ms apart */
	c = ctx_new(&o);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		submit(c, "GET", u, NULL, &r[i]);
	submit_full(c, &call, &first);
	run_until(c, 5, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 5);
	/* Queued last, started first; the others still 50 ms apart. */
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		assert_true(first.prepared_at < r[i].prepared_at);
	assert_true(r[0].prepared_at - first.prepared_at >= 49 * USEC_PER_MSEC);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_clear(&r[i]);
	result_clear(&first);
	ctx_free(c);
}

static void test_pause(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r = { 0 }, prio = { 0 }, again = { 0 };
	struct http_call call = { .method = "GET", .url = u, .priority = true };
	uint64_t t0 = now_monotonic_usec();

	http_pause(c->http, t0 + 300 * USEC_PER_MSEC);
	/* A shorter pause does not cut it short. */
	http_pause(c->http, t0 + 10 * USEC_PER_MSEC);
	submit(c, "GET", u, NULL, &r);
	/* Credential traffic is not held by a CSMS pause. */
	submit_full(c, &call, &prio);
	run_until(c, 2, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 2);
	assert_true(prio.done);
	assert_true(prio.prepared_at - t0 < 200 * USEC_PER_MSEC);
	assert_true(r.done);
	assert_true(r.prepared_at - t0 >= 300 * USEC_PER_MSEC);
	assert_int_equal(r.status, 200);

	/* Clearing a pause lets requests go at once. */
	t0 = now_monotonic_usec();
	http_pause(c->http, t0 + 10 * USEC_PER_SEC);
	submit(c, "GET", u, NULL, &again);
	run_for(100 * USEC_PER_MSEC);
	assert_false(again.done);
	http_pause(c->http, 0);
	run_until(c, 3, 5 * USEC_PER_SEC);
	assert_true(again.done);
	assert_true(again.done_at - t0 < 2 * USEC_PER_SEC);
	result_clear(&r);
	result_clear(&prio);
	result_clear(&again);
	ctx_free(c);
}

/* --- lanes ------------------------------------------------------------------- */

static struct http_lane *lane_new(struct ctx *c, double rate)
{
	struct http_lane *l = NULL;

	assert_int_equal(http_lane_new(c->http, rate, &l), 0);
	assert_non_null(l);
	return l;
}

static void submit_lane(struct ctx *c, struct http_lane *l, const char *u, struct result *res)
{
	struct http_call call = { .method = "GET", .url = u, .lane = l };

	submit_full(c, &call, res);
}

/* How many of N results started before R. */
static size_t started_before(const struct result *rs, size_t n, const struct result *r)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (rs[i].prepared_at < r->prepared_at)
			k++;
	return k;
}

/* A lane with a long queue does not hold up one with a single request,
 * whether the long one is the default lane or a lane of its own. */
static void test_lane_fairness(void **state)
{
	struct http_options o = defaults;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result many[40] = { 0 }, one = { 0 };

	o.max_parallel = 1;
	for (int round = 0; round < 2; round++) {
		struct ctx *c = ctx_new(&o);
		struct http_lane *big = round == 0 ? NULL : lane_new(c, 0), *small = lane_new(c, 0);

		for (size_t i = 0; i < ELEMENTSOF(many); i++)
			submit_lane(c, big, u, &many[i]);
		submit_lane(c, small, u, &one);
		assert_int_equal(http_pending(c->http), ELEMENTSOF(many) + 1);
		run_until(c, ELEMENTSOF(many) + 1, 10 * USEC_PER_SEC);
		assert_int_equal(c->n_done, ELEMENTSOF(many) + 1);
		assert_int_equal(one.status, 200);
		/* Its lane's first turn comes second. */
		assert_true(started_before(many, ELEMENTSOF(many), &one) <= 1);
		/* Within a lane: first in, first out. */
		for (size_t i = 1; i < ELEMENTSOF(many); i++)
			assert_true(many[i - 1].prepared_at <= many[i].prepared_at);
		for (size_t i = 0; i < ELEMENTSOF(many); i++)
			result_clear(&many[i]);
		result_clear(&one);
		ctx_free(c);
	}
}

/* Bulk calls (listing pages) hold at most max_parallel_bulk slots: the
 * rest go to the small calls queued after them on other lanes, which need
 * not wait.  (A lane whose next call is bulk waits in its place.) */
static void test_bulk_limit(void **state)
{
	struct http_options o = defaults;
	_cleanup_free_ char *slow = url(port_http, false, "/sleep/200"), *fast = url(port_http, false, "/echo");
	struct result bulk[3] = { 0 }, small[4] = { 0 };
	struct ctx *c;
	struct http_lane *a, *b;

	o.max_parallel = 4;
	o.max_parallel_bulk = 1;
	c = ctx_new(&o);
	a = lane_new(c, 0);
	b = lane_new(c, 0);
	for (size_t i = 0; i < ELEMENTSOF(bulk); i++)
		submit_full(c, &(struct http_call) { .method = "GET", .url = slow, .bulk = true, .lane = a }, &bulk[i]);
	for (size_t i = 0; i < ELEMENTSOF(small); i++)
		submit_full(c, &(struct http_call) { .method = "GET", .url = fast, .lane = b }, &small[i]);
	run_until(c, ELEMENTSOF(bulk) + ELEMENTSOF(small), 10 * USEC_PER_SEC);
	for (size_t i = 0; i < ELEMENTSOF(bulk); i++) {
		assert_int_equal(bulk[i].status, 200);
		/* One after the other. */
		if (i > 0)
			assert_true(bulk[i].prepared_at >= bulk[i - 1].done_at);
	}
	/* ...while the small ones, queued behind them, went at once. */
	for (size_t i = 0; i < ELEMENTSOF(small); i++) {
		assert_int_equal(small[i].status, 200);
		assert_true(small[i].done_at < bulk[0].done_at);
	}
	for (size_t i = 0; i < ELEMENTSOF(bulk); i++)
		result_clear(&bulk[i]);
	for (size_t i = 0; i < ELEMENTSOF(small); i++)
		result_clear(&small[i]);
	ctx_free(c);

	/* Without a limit of their own, bulk calls are ordinary ones. */
	o.max_parallel_bulk = 0;
	c = ctx_new(&o);
	for (size_t i = 0; i < ELEMENTSOF(bulk); i++)
		submit_full(c, &(struct http_call) { .method = "GET", .url = slow, .bulk = true }, &bulk[i]);
	run_until(c, ELEMENTSOF(bulk), 10 * USEC_PER_SEC);
	assert_int_equal(c->max_in_flight, 3);
	for (size_t i = 0; i < ELEMENTSOF(bulk); i++)
		result_clear(&bulk[i]);
	ctx_free(c);
}

/* A lane's own rate paces it alone; an unlimited lane beside it goes. */
static void test_lane_rate(void **state)
{
	struct http_options o = defaults;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result slow[4] = { 0 }, fast[4] = { 0 };
	struct ctx *c;
	struct http_lane *ls, *lf;

	o.max_parallel = 8;
	c = ctx_new(&o);
	ls = lane_new(c, 20);           /* 50 ms apart */
	lf = lane_new(c, 0);
	for (size_t i = 0; i < ELEMENTSOF(slow); i++) {
		submit_lane(c, ls, u, &slow[i]);
		submit_lane(c, lf, u, &fast[i]);
	}
	run_until(c, 8, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 8);
	for (size_t i = 1; i < ELEMENTSOF(slow); i++)
		assert_true(slow[i].prepared_at - slow[i - 1].prepared_at >= 49 * USEC_PER_MSEC);
	assert_true(slow[3].prepared_at - slow[0].prepared_at < 600 * USEC_PER_MSEC);
	/* The other lane did not wait for the slow one's pace. */
	for (size_t i = 0; i < ELEMENTSOF(fast); i++)
		assert_true(fast[i].prepared_at < slow[1].prepared_at);
	for (size_t i = 0; i < ELEMENTSOF(slow); i++) {
		result_clear(&slow[i]);
		result_clear(&fast[i]);
	}
	ctx_free(c);
}

/* The http's rate is the cap over all lanes together. */
static void test_lane_global_cap(void **state)
{
	struct http_options o = defaults;
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result r[6] = { 0 };
	uint64_t t[ELEMENTSOF(r)];
	struct ctx *c;
	struct http_lane *a, *b;

	o.max_parallel = 8;
	o.max_requests_per_second = 20;
	c = ctx_new(&o);
	a = lane_new(c, 0);
	b = lane_new(c, 100);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		submit_lane(c, i % 2 ? a : b, u, &r[i]);
	run_until(c, ELEMENTSOF(r), 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, ELEMENTSOF(r));
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		t[i] = r[i].prepared_at;
	/* Sorted, every start is 50 ms after the one before, whatever its lane. */
	for (size_t i = 1; i < ELEMENTSOF(t); i++)
		for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
			uint64_t x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	for (size_t i = 1; i < ELEMENTSOF(t); i++)
		assert_true(t[i] - t[i - 1] >= 49 * USEC_PER_MSEC);
	assert_true(t[5] - t[0] < 600 * USEC_PER_MSEC);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_clear(&r[i]);
	ctx_free(c);
}

/* A lane's pause holds that lane only; http_pause() holds every lane. */
static void test_lane_pause(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct http_lane *held = lane_new(c, 0), *other = lane_new(c, 0);
	struct result h = { 0 }, o = { 0 }, d = { 0 }, g[2] = { 0 };
	uint64_t t0 = now_monotonic_usec();

	assert_int_equal(http_lane_pause(held, t0 + 300 * USEC_PER_MSEC), 0);
	/* A shorter pause does not cut it short. */
	assert_int_equal(http_lane_pause(held, t0 + 10 * USEC_PER_MSEC), 0);
	submit_lane(c, held, u, &h);
	submit_lane(c, other, u, &o);
	submit_lane(c, NULL, u, &d);
	run_until(c, 3, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 3);
	assert_true(o.prepared_at - t0 < 200 * USEC_PER_MSEC);
	assert_true(d.prepared_at - t0 < 200 * USEC_PER_MSEC);
	assert_true(h.prepared_at - t0 >= 300 * USEC_PER_MSEC);
	assert_int_equal(h.status, 200);

	/* Cleared: at once.  The global pause holds a lane too. */
	assert_int_equal(http_lane_pause(held, now_monotonic_usec() + 10 * USEC_PER_SEC), 0);
	assert_int_equal(http_lane_pause(held, 0), 0);
	t0 = now_monotonic_usec();
	assert_int_equal(http_pause(c->http, t0 + 300 * USEC_PER_MSEC), 0);
	submit_lane(c, held, u, &g[0]);
	submit_lane(c, other, u, &g[1]);
	run_until(c, 5, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 5);
	for (size_t i = 0; i < ELEMENTSOF(g); i++)
		assert_true(g[i].prepared_at - t0 >= 300 * USEC_PER_MSEC);
	result_clear(&h);
	result_clear(&o);
	result_clear(&d);
	for (size_t i = 0; i < ELEMENTSOF(g); i++)
		result_clear(&g[i]);
	ctx_free(c);
}

/* Queued lane requests count as pending, and go with http_cancel_for(),
 * http_cancel_all() and http_lane_free(), without callbacks. */
static void test_lane_cancel(void **state)
{
	struct http_options o = defaults;
	_cleanup_free_ char *slow = url(port_http, false, "/sleep/200");
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result busy = { 0 }, q[6] = { 0 }, after = { 0 };
	struct ctx *c;
	struct http_lane *a, *b;

	o.max_parallel = 1;
	c = ctx_new(&o);
	a = lane_new(c, 0);
	b = lane_new(c, 0);
	/* One in flight holds the only slot; the rest wait in the lanes. */
	submit_lane(c, NULL, slow, &busy);
	run_for(30 * USEC_PER_MSEC);
	for (size_t i = 0; i < ELEMENTSOF(q); i++)
		submit_lane(c, i < 3 ? a : b, u, &q[i]);
	assert_int_equal(http_pending(c->http), 7);
	http_cancel_for(c->http, &q[1]);
	http_cancel_for(c->http, &q[4]);
	assert_int_equal(http_pending(c->http), 5);
	/* Lane a goes with its queue. */
	http_lane_free(a);
	assert_int_equal(http_pending(c->http), 3);
	run_until(c, 3, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 3);
	assert_true(busy.done && q[3].done && q[5].done);
	assert_false(q[0].done || q[1].done || q[2].done || q[4].done);
	assert_int_equal(http_pending(c->http), 0);

	/* cancel_all empties the lanes too; the lane is still usable. */
	submit_lane(c, NULL, slow, &after);
	run_for(30 * USEC_PER_MSEC);
	result_clear(&q[3]);
	result_clear(&q[5]);
	submit_lane(c, b, u, &q[3]);
	submit_lane(c, b, u, &q[5]);
	assert_int_equal(http_pending(c->http), 3);
	http_cancel_all(c->http);
	assert_int_equal(http_pending(c->http), 0);
	submit_lane(c, b, u, &q[0]);
	run_until(c, 4, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 4);
	assert_true(q[0].done);
	assert_false(after.done || q[3].done || q[5].done);
	result_clear(&busy);
	result_clear(&after);
	for (size_t i = 0; i < ELEMENTSOF(q); i++)
		result_clear(&q[i]);
	/* http_free() frees lane b, still there. */
	ctx_free(c);
}

static void test_body_cap(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *exact = url(port_http, false, "/big/1000");
	_cleanup_free_ char *over = url(port_http, false, "/big/1001");
	_cleanup_free_ char *chunked = url(port_http, false, "/chunked/50000");
	_cleanup_free_ char *chunked_ok = url(port_http, false, "/chunked/1000");
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };
	struct http_stats s;

	o.max_body = 1000;
	c = ctx_new(&o);
	submit(c, "GET", exact, NULL, &r1);
	submit(c, "GET", over, NULL, &r2);       /* refused by Content-Length */
	submit(c, "GET", chunked, NULL, &r3);    /* refused while reading */
	submit(c, "GET", chunked_ok, NULL, &r4);
	run_until(c, 4, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 4);
	assert_int_equal(r1.code, CURLE_OK);
	assert_int_equal(r1.body_len, 1000);
	assert_false(r1.too_large);
	assert_true(r2.too_large);
	assert_int_not_equal(r2.code, CURLE_OK);
	assert_true(r3.too_large);
	assert_int_not_equal(r3.code, CURLE_OK);
	assert_true(r3.body_len <= 1000);
	assert_int_equal(r4.code, CURLE_OK);
	assert_int_equal(r4.body_len, 1000);
	http_get_stats(c->http, &s);
	assert_int_equal(s.completed, 2);
	assert_int_equal(s.transport_errors, 2);
	result_clear(&r1);
	result_clear(&r2);
	result_clear(&r3);
	result_clear(&r4);
	ctx_free(c);
}

static void test_answer_headers(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *secs = url(port_http, false, "/status/429?Retry-After=3");
	_cleanup_free_ char *date = NULL, *bad = url(port_http, false, "/status/503?Retry-After=later");
	_cleanup_free_ char *tok = url(port_http, false, "/status/201?X-Subject-Token=MIItoken");
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };
	char when[64];
	time_t t = time(NULL) + 30;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &tm);
	date = xasprintf("http://127.0.0.1:%d/status/503?Retry-After=%s", port_http, when);
	submit(c, "GET", secs, NULL, &r1);
	submit(c, "GET", date, NULL, &r2);
	submit(c, "GET", bad, NULL, &r3);
	submit(c, "POST", tok, "{}", &r4);
	run_until(c, 4, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 4);
	assert_int_equal(r1.status, 429);
	assert_int_equal(r1.code, CURLE_OK);
	assert_int_equal(r1.retry_after, 3 * USEC_PER_SEC);
	assert_non_null(r1.request_id);
	assert_string_equal(r1.body, "{\"error_code\":\"TEST.0001\",\"error_msg\":\"m\"}");
	assert_int_equal(r2.status, 503);
	assert_true(r2.retry_after > 25 * USEC_PER_SEC && r2.retry_after <= 31 * USEC_PER_SEC);
	assert_int_equal(r3.status, 503);
	assert_int_equal(r3.retry_after, 0);
	assert_int_equal(r4.status, 201);
	assert_string_equal(r4.subject_token, "MIItoken");
	result_clear(&r1);
	result_clear(&r2);
	result_clear(&r3);
	result_clear(&r4);
	ctx_free(c);
}

static void test_no_redirects(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/redirect");
	struct result r = { 0 };

	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_int_equal(r.code, CURLE_OK);
	assert_int_equal(r.status, 302);
	result_clear(&r);
	ctx_free(c);
}

static void test_timeout(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port_http, false, "/sleep/3000");
	struct result r = { 0 };
	uint64_t t0;
	struct http_stats s;

	o.timeout_usec = 300 * USEC_PER_MSEC;
	c = ctx_new(&o);
	t0 = now_monotonic_usec();
	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_true(r.done);
	assert_int_equal(r.code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(r.status, 0);
	assert_true(r.done_at - t0 >= 300 * USEC_PER_MSEC);
	assert_true(r.done_at - t0 < 1500 * USEC_PER_MSEC);
	http_get_stats(c->http, &s);
	assert_int_equal(s.transport_errors, 1);
	result_clear(&r);
	ctx_free(c);
}

static void test_connection_refused(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	struct result r = { 0 };
	/* Port 1 on loopback: nothing listens there. */
	const char *u = "http://127.0.0.1:1/";

	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_int_equal(r.code, CURLE_COULDNT_CONNECT);
	assert_int_equal(r.status, 0);
	result_clear(&r);
	ctx_free(c);
}

/* Proxy variables apply to ordinary requests; a no_proxy request ignores
 * them, NO_PROXY included. */
static void test_no_proxy(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/echo");
	struct result via = { 0 }, direct = { 0 };
	struct http_call call = { .method = "GET", .url = u, .no_proxy = true };

	/* A proxy that refuses every connection. */
	assert_int_equal(setenv("http_proxy", "http://127.0.0.1:1", 1), 0);
	assert_int_equal(setenv("NO_PROXY", "", 1), 0);
	submit(c, "GET", u, NULL, &via);
	submit_full(c, &call, &direct);
	run_until(c, 2, 5 * USEC_PER_SEC);
	unsetenv("http_proxy");
	unsetenv("NO_PROXY");
	assert_int_equal(via.code, CURLE_COULDNT_CONNECT);
	assert_int_equal(direct.code, CURLE_OK);
	assert_int_equal(direct.status, 200);
	result_clear(&via);
	result_clear(&direct);
	ctx_free(c);
}

static void test_protocols(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	struct result r = { 0 };

	submit(c, "GET", "file:///etc/passwd", NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_int_equal(r.code, CURLE_UNSUPPORTED_PROTOCOL);
	assert_int_equal(r.body_len, 0);
	result_clear(&r);
	ctx_free(c);
}

static void tls_case(int port, const char *ca, bool ok)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *u = url(port, true, "/echo");
	struct result r = { 0 };

	o.ca_file = ca;
	c = ctx_new(&o);
	submit(c, "GET", u, NULL, &r);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_true(r.done);
	if (ok) {
		assert_int_equal(r.code, CURLE_OK);
		assert_int_equal(r.status, 200);
	} else {
		assert_int_equal(r.code, CURLE_PEER_FAILED_VERIFICATION);
		assert_int_equal(r.status, 0);
		assert_int_equal(r.body_len, 0);
	}
	result_clear(&r);
	ctx_free(c);
}

static void test_tls_trusted(void **state)
{
	tls_case(port_good, ca_file, true);
}

static void test_tls_untrusted(void **state)
{
	/* Self-signed: fails closed. */
	tls_case(port_untrusted, ca_file, false);
}

static void test_tls_wrong_host(void **state)
{
	/* Signed by the trusted CA, but for another name. */
	tls_case(port_wronghost, ca_file, false);
}

static void test_tls_system_store(void **state)
{
	/* The test CA is not in the system trust store. */
	tls_case(port_good, NULL, false);
}

/* --- cancellation and re-entrancy ----------------------------------------------- */

static void test_free_from_callback(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *fast = url(port_http, false, "/echo");
	_cleanup_free_ char *slow = url(port_http, false, "/sleep/300");
	struct result r[6] = { 0 };

	o.max_parallel = 3;
	c = ctx_new(&o);
	c->action = ACT_FREE;
	submit(c, "GET", fast, NULL, &r[0]);
	for (size_t i = 1; i < ELEMENTSOF(r); i++)
		submit(c, "GET", slow, NULL, &r[i]);
	run_until(c, 1, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 1);
	assert_null(c->http);
	/* Nothing else is called back once the client is gone. */
	run_for(500 * USEC_PER_MSEC);
	assert_int_equal(c->n_done, 1);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_clear(&r[i]);
	ctx_free(c);
}

static void test_cancel_from_callback(void **state)
{
	struct http_options o = defaults;
	struct ctx *c;
	_cleanup_free_ char *fast = url(port_http, false, "/echo");
	_cleanup_free_ char *slow = url(port_http, false, "/sleep/300");
	struct result r[5] = { 0 }, late = { 0 };

	o.max_parallel = 2;
	c = ctx_new(&o);
	c->action = ACT_CANCEL_ALL_AND_SUBMIT;
	c->resubmit_url = fast;
	c->resubmitted = &late;
	submit(c, "GET", fast, NULL, &r[0]);
	for (size_t i = 1; i < ELEMENTSOF(r); i++)
		submit(c, "GET", slow, NULL, &r[i]);
	run_until(c, 2, 5 * USEC_PER_SEC);
	assert_int_equal(c->n_done, 2);
	assert_true(r[0].done);
	assert_true(late.done);
	assert_int_equal(late.status, 200);
	run_for(500 * USEC_PER_MSEC);
	assert_int_equal(c->n_done, 2);
	assert_int_equal(http_pending(c->http), 0);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		result_clear(&r[i]);
	result_clear(&late);
	ctx_free(c);
}

static void test_cancel_for(void **state)
{
	struct ctx *c = ctx_new(&defaults);
	_cleanup_free_ char *u = url(port_http, false, "/sleep/100");
	struct result keep = { 0 }, drop = { 0 };

	submit(c, "GET", u, NULL, &keep);
	submit(c, "GET", u, NULL, &drop);
	assert_int_equal(http_pending(c->http), 2);
	/* Let both start, then drop one in flight. */
	run_for(30 * USEC_PER_MSEC);
	http_cancel_for(c->http, &drop);
	assert_int_equal(http_pending(c->http), 1);
	run_until(c, 1, 5 * USEC_PER_SEC);
	run_for(200 * USEC_PER_MSEC);
	assert_true(keep.done);
	assert_false(drop.done);
	assert_int_equal(c->n_done, 1);
	result_clear(&keep);
	ctx_free(c);
}

/* The call holding the only slot (of all, or of the bulk ones) is
 * cancelled: the one waiting for it starts at once, not at the next
 * answer, of which there is none. */
static void test_cancel_frees_slot(void **state)
{
	_cleanup_free_ char *u = url(port_http, false, "/sleep/2000"), *fast = url(port_http, false, "/echo");

	for (int bulk = 0; bulk <= 1; bulk++) {
		struct http_options o = defaults;
		struct result hold = { 0 }, wait = { 0 };
		struct ctx *c;
		uint64_t t0;

		o.max_parallel = bulk ? 4 : 1;
		o.max_parallel_bulk = 1;
		c = ctx_new(&o);
		submit_full(c, &(struct http_call) { .method = "GET", .url = u, .bulk = bulk }, &hold);
		submit_full(c, &(struct http_call) { .method = "GET", .url = fast, .bulk = bulk }, &wait);
		run_for(50 * USEC_PER_MSEC);
		assert_false(wait.done);
		t0 = now_monotonic_usec();
		http_cancel_for(c->http, &hold);
		run_until(c, 1, 5 * USEC_PER_SEC);
		assert_true(wait.done);
		assert_int_equal(wait.status, 200);
		assert_true(now_monotonic_usec() - t0 < 1000 * USEC_PER_MSEC);
		assert_false(hold.done);
		result_clear(&wait);
		ctx_free(c);
	}
}

static void test_free_with_requests(void **state)
{
	_cleanup_free_ char *u = url(port_http, false, "/sleep/200");
	struct result r[4] = { 0 };
	struct ctx *c;

	/* Freed with requests queued but never started. */
	c = ctx_new(&defaults);
	for (size_t i = 0; i < 2; i++)
		submit(c, "GET", u, NULL, &r[i]);
	ctx_free(c);

	/* Freed with requests in flight, and cancel_all on an idle client. */
	c = ctx_new(&defaults);
	for (size_t i = 2; i < 4; i++)
		submit(c, "GET", u, NULL, &r[i]);
	run_for(50 * USEC_PER_MSEC);
	assert_int_equal(http_pending(c->http), 2);
	http_cancel_all(c->http);
	assert_int_equal(http_pending(c->http), 0);
	http_cancel_all(c->http);
	ctx_free(c);
	for (size_t i = 0; i < ELEMENTSOF(r); i++)
		assert_false(r[i].done);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_next_start),
		cmocka_unit_test(test_retry_after_parse),
	};
	const struct CMUnitTest net[] = {
		cmocka_unit_test_setup_teardown(test_get_echo, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_methods_and_bodies, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_path_sent_as_is, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_prepare_headers, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_prepare_fails, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_submit_invalid, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_loop_finished, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_limit, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_connection_reuse, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_pacing, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_ahead, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_pause, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_lane_fairness, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_bulk_limit, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_lane_rate, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_lane_global_cap, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_lane_pause, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_lane_cancel, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_body_cap, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_answer_headers, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_no_redirects, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_timeout, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_no_proxy, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_protocols, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_trusted, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_untrusted, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_wrong_host, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_tls_system_store, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_callback, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_for, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_frees_slot, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_free_with_requests, loop_setup, loop_teardown),
	};
	int r;

	r = cmocka_run_group_tests(pure, NULL, NULL);
	if (r != 0)
		return r;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "openssl not found: skipping the network tests\n");
		return 77;
	}
	{
		const char *python = getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
		_cleanup_free_ char *check = xasprintf("command -v '%s' >/dev/null 2>&1", python);

		if (!check || system(check) != 0) {
			fprintf(stderr, "%s not found: skipping the network tests\n", python);
			return 77;
		}
	}
	return cmocka_run_group_tests(net, server_start, server_stop);
}
