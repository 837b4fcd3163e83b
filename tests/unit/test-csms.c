/* test-csms.c - CSMS clients over shared parts (csms_new_shared()): many
 * targets on one http, lanes per account and one auth per account.
 *
 * The server is a Python 3 script embedded below (standard library only):
 * GET /v1/PROJECT/csms/SECRET/tags answers the tags {"project": PROJECT},
 * but 400 when X-Project-Id is not PROJECT (so every 200 shows the client
 * signed its own project with the shared auth), 429 with Retry-After: 1 to
 * the first request of a project starting "7" (throttled), and after
 * 300 ms for the secret "slow".  Then, against the CSMS emulator with the
 * organisation seed (tests/data/org-seed.json), which checks signatures
 * and temporary keys itself: agency auths of two member accounts over one
 * shared ECS base identity.  Without python3 the test is skipped (77).
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
#include "csms.h"
#include "http.h"
#include "util.h"

#include "event-loop.h"
#include "spawn.h"

#define PROJECT_A       "a0000000000000000000000000000001"
#define PROJECT_B       "b0000000000000000000000000000002"
#define PROJECT_T       "70000000000000000000000000000003"      /* throttled once */

static const char server_py[] =
"import json, sys, threading, time\n"
"from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
"lock = threading.Lock()\n"
"seen = {}\n"
"class H(BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def log_message(self, *a): pass\n"
"    def handle(self):\n"
"        try: super().handle()\n"
"        except (OSError, ValueError): pass\n"
"    def reply(self, code, obj, hdrs=()):\n"
"        body = json.dumps(obj).encode()\n"
"        self.send_response(code)\n"
"        for k, v in hdrs: self.send_header(k, v)\n"
"        self.send_header('Content-Type', 'application/json')\n"
"        self.send_header('Content-Length', str(len(body)))\n"
"        self.end_headers(); self.wfile.write(body)\n"
"    def do_GET(self):\n"
"        p = self.path.split('/')\n"
"        if len(p) != 6 or p[1] != 'v1' or p[3] != 'csms' or p[5] != 'tags':\n"
"            return self.reply(404, {'error_code': 'CSMS.0005', 'error_msg': 'no'})\n"
"        project, secret = p[2], p[4]\n"
"        if self.headers.get('X-Project-Id') != project or not self.headers.get('Authorization'):\n"
"            return self.reply(400, {'error_code': 'TEST.0400', 'error_msg': 'project header'})\n"
"        with lock:\n"
"            seen[project] = n = seen.get(project, 0) + 1\n"
"        if project.startswith('7') and n == 1:\n"
"            return self.reply(429, {'error_code': 'APIGW.0308', 'error_msg': 'throttled'},\n"
"                              [('Retry-After', '1')])\n"
"        if secret == 'slow': time.sleep(0.3)\n"
"        self.reply(200, {'tags': [{'key': 'project', 'value': project}], 'sys_tags': []})\n"
"s = ThreadingHTTPServer(('127.0.0.1', 0), H); s.daemon_threads = True\n"
"with open(sys.argv[1] + '.tmp', 'w') as f: f.write(str(s.server_address[1]))\n"
"import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
"s.serve_forever()\n";

static char tmpdir[64];
static char endpoint[64];
static char ak_file[128], sk_file[128];
static pid_t server_pid;

/* --- the server and the files ----------------------------------------------- */

static int write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, content, strlen(content));
	close(fd);
	return n == (ssize_t) strlen(content) ? 0 : -1;
}

static int server_start(void **state)
{
	const char *python = getenv("PYTHON3") && *getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
	char portfile[128];

	snprintf(portfile, sizeof(portfile), "%s/port", tmpdir);
	server_pid = spawn_tied((char *const[]) { (char *) python, (char *) "-c", (char *) server_py,
	                                          portfile, NULL });
	if (server_pid < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *text = NULL;
		int status;

		if (read_file(portfile, 64, &text, NULL) == 0 && atoi(text) > 0) {
			snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", atoi(text));
			return 0;
		}
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
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	return 0;
}

/* --- clients ------------------------------------------------------------------ */

/* A target view: what csms_new_shared() and auth_new() read.  Borrowed strings. */
static struct config cfg_for(const char *project)
{
	struct config c = {
		.csms = {
			.region = (char *) "cn-north-4",
			.project_id = (char *) project,
			.endpoint = endpoint,
		},
		.auth = {
			.method = AUTH_AKSK,
			.access_key_file = ak_file,
			.secret_key_file = sk_file,
		},
	};

	return c;
}

/* One account's shared parts. */
struct shared {
	struct http *h;
	struct auth *a;
};

static void shared_new(struct shared *s, const struct http_options *o)
{
	struct config c = cfg_for(PROJECT_A);
	char *error = NULL;

	assert_int_equal(http_new(event, o, &s->h), 0);
	assert_int_equal(auth_new(&c, s->h, &s->a, &error), 0);
	assert_null(error);
}

static void shared_free(struct shared *s)
{
	auth_free(s->a);
	http_free(s->h);
}

static struct csms *client_new(struct shared *s, struct http_lane *lane, const char *project)
{
	struct config c = cfg_for(project);
	struct csms *x = NULL;
	char *error = NULL;

	assert_int_equal(csms_new_shared(event, &c, s->h, lane, s->a, &x, &error), 0);
	assert_null(error);
	assert_non_null(x);
	return x;
}

struct got {
	bool done;
	int r;
	long status;
	unsigned attempts;
	char *value;            /* the tag "project" */
	uint64_t at;
	unsigned *counter;
};

static void on_tags(const struct csms_result *res, void *userdata)
{
	struct got *g = userdata;

	assert_false(g->done);
	g->done = true;
	g->r = res->r;
	g->status = res->status;
	g->attempts = res->attempts;
	g->at = now_monotonic_usec();
	if (res->r == 0 && res->tags && res->tags->n == 1)
		g->value = strdup(res->tags->items[0].value);
	if (g->counter)
		(*g->counter)++;
}

static void run_until_done(struct got *const *gs, size_t n, uint64_t timeout)
{
	uint64_t end = now_monotonic_usec() + timeout;

	for (;;) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			k += gs[i]->done;
		if (k == n || now_monotonic_usec() >= end)
			return;
		assert_true(sd_event_run(event, 20 * USEC_PER_MSEC) >= 0);
	}
}

static void expect_ok(struct got *g, const char *project)
{
	assert_true(g->done);
	assert_int_equal(g->r, 0);
	assert_int_equal(g->status, 200);
	assert_non_null(g->value);
	assert_string_equal(g->value, project);
	free(g->value);
	g->value = NULL;
}

/* --- tests --------------------------------------------------------------------- */

/* Two targets of one account on one http, lane and auth: each request
 * carries its own client's project id. */
static void test_two_clients(void **state)
{
	struct http_options o = { .user_agent = "csms-tagd-test" };
	struct shared s;
	struct http_lane *lane;
	struct csms *a, *b;
	struct got ga = { 0 }, gb = { 0 };

	shared_new(&s, &o);
	assert_int_equal(http_lane_new(s.h, 10, &lane), 0);
	a = client_new(&s, lane, PROJECT_A);
	b = client_new(&s, lane, PROJECT_B);
	csms_list_secret_tags(a, &ga, "s1", on_tags, &ga);
	csms_list_secret_tags(b, &gb, "s1", on_tags, &gb);
	assert_int_equal(csms_pending(a), 1);
	assert_int_equal(csms_pending(b), 1);
	assert_int_equal(http_pending(s.h), 2);
	run_until_done((struct got *[]) { &ga, &gb }, 2, 5 * USEC_PER_SEC);
	expect_ok(&ga, PROJECT_A);
	expect_ok(&gb, PROJECT_B);
	assert_int_equal(csms_pending(a), 0);
	csms_free(a);
	csms_free(b);
	http_lane_free(lane);
	shared_free(&s);
}

/* A 429 pauses the throttled client's lane (its account) only. */
static void test_throttle_pauses_lane(void **state)
{
	struct http_options o = { .user_agent = "csms-tagd-test" };
	struct shared s;
	struct http_lane *lt, *lb;
	struct csms *t, *b;
	struct got g1 = { 0 }, g2 = { 0 }, gb = { 0 };
	struct csms_stats st;
	uint64_t t0, tb;

	shared_new(&s, &o);
	assert_int_equal(http_lane_new(s.h, 0, &lt), 0);
	assert_int_equal(http_lane_new(s.h, 0, &lb), 0);
	t = client_new(&s, lt, PROJECT_T);
	b = client_new(&s, lb, PROJECT_B);
	t0 = now_monotonic_usec();
	csms_list_secret_tags(t, &g1, "s1", on_tags, &g1);
	/* Its 429 (Retry-After: 1) comes back fast; then both lanes get work. */
	run_for(200 * USEC_PER_MSEC);
	assert_false(g1.done);
	tb = now_monotonic_usec();
	csms_list_secret_tags(t, &g2, "s2", on_tags, &g2);
	csms_list_secret_tags(b, &gb, "s1", on_tags, &gb);
	run_until_done((struct got *[]) { &gb }, 1, 5 * USEC_PER_SEC);
	expect_ok(&gb, PROJECT_B);
	/* The other account went at once; the throttled lane still waits. */
	assert_true(gb.at - tb < 500 * USEC_PER_MSEC);
	assert_false(g1.done);
	assert_false(g2.done);
	run_until_done((struct got *[]) { &g1, &g2 }, 2, 5 * USEC_PER_SEC);
	expect_ok(&g1, PROJECT_T);
	expect_ok(&g2, PROJECT_T);
	assert_int_equal(g1.attempts, 2);
	assert_int_equal(g2.attempts, 1);
	assert_true(g1.at - t0 >= USEC_PER_SEC);
	assert_true(g2.at - t0 >= USEC_PER_SEC);
	csms_get_stats(t, &st);
	assert_int_equal(st.throttled, 1);
	assert_int_equal(st.retries, 1);
	csms_get_stats(b, &st);
	assert_int_equal(st.throttled, 0);
	csms_free(t);
	csms_free(b);
	shared_free(&s);        /* http_free() frees the lanes left */
}

static void on_auth(int r, const char *error, void *userdata)
{
	struct got *g = userdata;

	g->done = true;
	g->r = r;
}

/* csms_free() of one shared client takes back its own calls and
 * credential waits, queued or in flight, and no other client's. */
static void test_free_one_client(void **state)
{
	struct http_options o = { .user_agent = "csms-tagd-test", .max_parallel = 2 };
	struct shared s;
	struct csms *a, *b;
	struct got ga[3] = { 0 }, gb[3] = { 0 }, wa = { 0 }, wb = { 0 };
	unsigned n_a = 0;

	shared_new(&s, &o);
	/* The default lane: no lane of their own. */
	a = client_new(&s, NULL, PROJECT_A);
	b = client_new(&s, NULL, PROJECT_B);
	for (size_t i = 0; i < ELEMENTSOF(ga); i++) {
		ga[i].counter = &n_a;
		csms_list_secret_tags(a, &ga[i], "slow", on_tags, &ga[i]);
		csms_list_secret_tags(b, &gb[i], "slow", on_tags, &gb[i]);
	}
	csms_ensure_auth(a, on_auth, &wa);
	csms_ensure_auth(b, on_auth, &wb);
	assert_int_equal(csms_pending(a), 3);
	assert_int_equal(http_pending(s.h), 6);
	/* One lane, first in first out: a's first and b's first in flight,
	 * the other four queued. */
	run_for(50 * USEC_PER_MSEC);
	assert_true(wa.done && wb.done);
	wa.done = false;
	csms_ensure_auth(a, on_auth, &wa);
	csms_free(a);
	assert_int_equal(http_pending(s.h), 3);
	run_until_done((struct got *[]) { &gb[0], &gb[1], &gb[2] }, 3, 5 * USEC_PER_SEC);
	for (size_t i = 0; i < ELEMENTSOF(gb); i++)
		expect_ok(&gb[i], PROJECT_B);
	run_for(100 * USEC_PER_MSEC);
	assert_int_equal(n_a, 0);
	assert_false(wa.done);
	assert_int_equal(csms_pending(b), 0);
	assert_int_equal(http_pending(s.h), 0);
	csms_free(b);
	shared_free(&s);
}

/* The owned form still owns: its pending is the whole http's. */
static void test_owned_client(void **state)
{
	struct config c = cfg_for(PROJECT_A);
	struct csms *x = NULL;
	struct got g = { 0 };
	char *error = NULL;

	c.daemon.max_parallel_requests = 2;
	assert_int_equal(csms_new(event, &c, &x, &error), 0);
	csms_list_secret_tags(x, &g, "s1", on_tags, &g);
	assert_int_equal(csms_pending(x), 1);
	run_until_done((struct got *[]) { &g }, 1, 5 * USEC_PER_SEC);
	expect_ok(&g, PROJECT_A);
	csms_free(x);
}

static void test_shared_invalid(void **state)
{
	struct config c = cfg_for(PROJECT_A);
	struct csms *x = NULL;
	char *error = NULL;

	assert_int_equal(csms_new_shared(event, &c, NULL, NULL, NULL, &x, &error), -EINVAL);
	assert_non_null(error);
	assert_null(x);
	free(error);
}

/* --- the organisation emulator ------------------------------------------------ */

#define PROD_ACCOUNT    "a0000000000000000000000000000002"
#define PROD_PROJECT    "b2000000000000000000000000000001"
#define DEV_ACCOUNT     "a0000000000000000000000000000003"
#define DEV_PROJECT     "b3000000000000000000000000000001"

static pid_t emu_pid;
static char emu_base[64];

static const char *srcdir(void)
{
	const char *e = getenv("top_srcdir");

	return e && *e ? e : ".";
}

static int emu_start(void **state)
{
	const char *python = getenv("PYTHON3") && *getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
	_cleanup_free_ char *script = xasprintf("%s/tests/emulator/csms-emulator.py", srcdir());
	_cleanup_free_ char *seed = xasprintf("%s/tests/data/org-seed.json", srcdir());
	_cleanup_free_ char *portfile = xasprintf("%s/emu-port", tmpdir);

	if (!script || !seed || !portfile)
		return -1;
	emu_pid = spawn_tied((char *const[]) { (char *) python, script, (char *) "--seed", seed,
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
	}
	return 0;
}

static size_t sink(char *d, size_t size, size_t n, void *u)
{
	return fwrite(d, size, n, u);
}

/* Requests the emulator counted for API. */
static long emu_count(const char *api)
{
	_cleanup_free_ char *u = xasprintf("%s/_emulator/state", emu_base);
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CURL *e = curl_easy_init();
	json_t *j;
	long n;

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
	assert_non_null(j);
	n = (long) json_integer_value(json_object_get(json_object_get(j, "counts"), api));
	json_decref(j);
	return n;
}

/* The view of target (ACCOUNT, PROJECT) under an agency config with an ECS
 * base identity.  Borrowed strings. */
static struct config org_cfg(const char *account, const char *project, char *external_id_file)
{
	struct config c = {
		.csms = {
			.region = (char *) "cn-north-4",
			.project_id = (char *) project,
			.endpoint = emu_base,
			.iam_endpoint = emu_base,
			.sts_endpoint = emu_base,
			.metadata_endpoint = emu_base,
		},
		.auth = {
			.method = AUTH_AGENCY,
			.base = AUTH_ECS,
			.agency = {
				.name = (char *) "tag-keeper",
				.account_id = (char *) account,
				.external_id_file = external_id_file,
			},
		},
	};

	return c;
}

static void on_secrets(const struct csms_result *res, void *userdata)
{
	struct got *g = userdata;

	g->done = true;
	g->r = res->r;
	g->status = res->status;
}

/* Two member accounts' agencies over one ECS base identity: one metadata
 * fetch for both, each assumed once, and each target's requests signed
 * with its agency's keys and its own project id (the emulator checks). */
static void test_agency_shared_base(void **state)
{
	_cleanup_free_ char *ext = xasprintf("%s/external-id", tmpdir);
	struct http_options o = { .user_agent = "csms-tagd-test" };
	struct config prod = org_cfg(PROD_ACCOUNT, PROD_PROJECT, NULL);
	struct config dev;
	struct http *h;
	struct http_lane *lp, *ld;
	struct auth *base = NULL, *ap = NULL, *ad = NULL;
	struct csms *cp = NULL, *cd = NULL;
	struct got gp = { 0 }, gd = { 0 }, wp = { 0 }, wd = { 0 };
	char *error = NULL;
	long meta0 = emu_count("MetadataSecurityKey"), assume0 = emu_count("AssumeAgency");

	assert_non_null(ext);
	assert_int_equal(write_file(ext, "acme-ext-0001\n"), 0);
	dev = org_cfg(DEV_ACCOUNT, DEV_PROJECT, ext);
	assert_int_equal(http_new(event, &o, &h), 0);
	assert_int_equal(http_lane_new(h, 20, &lp), 0);
	assert_int_equal(http_lane_new(h, 20, &ld), 0);
	assert_int_equal(auth_new_base_identity(&prod, h, &base, &error), 0);
	assert_int_equal(auth_new_with_base(&prod, h, base, &ap, &error), 0);
	assert_int_equal(auth_new_with_base(&dev, h, base, &ad, &error), 0);
	assert_int_equal(csms_new_shared(event, &prod, h, lp, ap, &cp, &error), 0);
	assert_int_equal(csms_new_shared(event, &dev, h, ld, ad, &cd, &error), 0);
	assert_null(error);

	csms_ensure_auth(cp, on_auth, &wp);
	csms_ensure_auth(cd, on_auth, &wd);
	run_until_done((struct got *[]) { &wp, &wd }, 2, 10 * USEC_PER_SEC);
	assert_true(wp.done && wd.done);
	assert_int_equal(wp.r, 0);
	assert_int_equal(wd.r, 0);
	assert_int_equal(emu_count("MetadataSecurityKey") - meta0, 1);
	assert_int_equal(emu_count("AssumeAgency") - assume0, 2);

	csms_list_secrets(cp, &gp, NULL, 10, on_secrets, &gp);
	csms_list_secrets(cd, &gd, NULL, 10, on_secrets, &gd);
	run_until_done((struct got *[]) { &gp, &gd }, 2, 10 * USEC_PER_SEC);
	assert_int_equal(gp.r, 0);
	assert_int_equal(gp.status, 200);
	assert_int_equal(gd.r, 0);
	assert_int_equal(gd.status, 200);

	csms_free(cp);
	csms_free(cd);
	auth_free(ap);
	auth_free(ad);
	auth_free(base);
	http_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_invalid, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_two_clients, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_throttle_pauses_lane, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_free_one_client, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_owned_client, loop_setup, loop_teardown),
	};
	const struct CMUnitTest org[] = {
		cmocka_unit_test_setup_teardown(test_agency_shared_base, loop_setup, loop_teardown),
	};
	const char *python = getenv("PYTHON3") && *getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
	_cleanup_free_ char *check = xasprintf("command -v '%s' >/dev/null 2>&1", python);
	_cleanup_free_ char *rm = NULL;
	int r;

	if (!check || system(check) != 0) {
		fprintf(stderr, "%s not found: skipping\n", python);
		return 77;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-csms-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ak_file, sizeof(ak_file), "%s/ak", tmpdir);
	snprintf(sk_file, sizeof(sk_file), "%s/sk", tmpdir);
	if (write_file(ak_file, "AKTEST0000\n") < 0 || write_file(sk_file, "sk-test-0000\n") < 0) {
		perror("write");
		return 1;
	}
	r = cmocka_run_group_tests(tests, server_start, server_stop);
	if (r == 0)
		r = cmocka_run_group_tests(org, emu_start, emu_stop);
	rm = xasprintf("rm -rf '%s'", tmpdir);
	if (rm && system(rm) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return r;
}
