/* discover.c - projects an identity can use and an organisation's member
 * accounts: URLs, decoders and the asynchronous client.  See discover.h. */
#include "discover.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "jsonget.h"
#include "sign.h"
#include "util.h"

#define MAX_FIELD_BYTES         1024
#define MAX_MARKER_BYTES        256

/* ---- results ----------------------------------------------------------------------------- */

static void project_free(struct discover_project *p)
{
	free(p->id);
	free(p->name);
	free(p->domain_id);
	free(p->parent_id);
}

static void account_free(struct discover_account *a)
{
	free(a->id);
	free(a->name);
	free(a->urn);
	free(a->status);
	free(a->join_method);
	free(a->joined_at);
}

void discover_projects_clear(struct discover_projects *p)
{
	for (size_t i = 0; i < p->n; i++)
		project_free(&p->v[i]);
	free(p->v);
	*p = (struct discover_projects) {};
}

void discover_accounts_clear(struct discover_accounts *a)
{
	for (size_t i = 0; i < a->n; i++)
		account_free(&a->v[i]);
	free(a->v);
	*a = (struct discover_accounts) {};
}

/* ---- decoders ------------------------------------------------------------------------------ */

/* Member FIELD as a malloc'd copy (NULL when optional and absent). */
static int get_copy(json_t *obj, const struct jget_path *w, const char *field, enum jget_need need,
                    char **ret, char **error)
{
	const char *s = NULL;
	int r;

	r = jget_string(obj, w, field, need, MAX_FIELD_BYTES, &s, error);
	if (r < 0)
		return r;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

static int get_id_copy(json_t *obj, const struct jget_path *w, const char *field, char **ret,
                       char **error)
{
	const char *s;
	int r;

	r = jget_id(obj, w, field, DECODE_MAX_ID_BYTES, &s, error);
	if (r < 0)
		return r;
	return (*ret = strdup(s)) ? 0 : -ENOMEM;
}

/* Member FIELD as a boolean; absent or null: DEFAULT_VALUE. */
static int get_bool(json_t *obj, const struct jget_path *w, const char *field, bool default_value,
                    bool *ret, char **error)
{
	struct jget_path fw = JGET_MEMBER(w, field);
	json_t *v = json_object_get(obj, field);

	if (!v || json_is_null(v)) {
		*ret = default_value;
		return 0;
	}
	if (!json_is_boolean(v))
		return jget_bad(error, &fw, "expected true or false");
	*ret = json_is_true(v);
	return 0;
}

static int project_decode(json_t *o, const struct jget_path *w, struct discover_project *p,
                          char **error)
{
	int r;

	if (!json_is_object(o))
		return jget_bad(error, w, "expected an object");
	if ((r = get_id_copy(o, w, "id", &p->id, error)) < 0 ||
	    (r = get_copy(o, w, "name", JGET_REQUIRED, &p->name, error)) < 0 ||
	    (r = get_copy(o, w, "domain_id", JGET_OPTIONAL, &p->domain_id, error)) < 0 ||
	    (r = get_copy(o, w, "parent_id", JGET_OPTIONAL, &p->parent_id, error)) < 0 ||
	    (r = get_bool(o, w, "enabled", true, &p->enabled, error)) < 0 ||
	    (r = get_bool(o, w, "is_domain", false, &p->is_domain, error)) < 0)
		return r;
	return 0;
}

int discover_decode_projects(const char *body, size_t len, struct discover_projects *out,
                             char **error)
{
	struct discover_projects got = {};
	json_t *root, *arr;
	int r;

	r = jget_load_object(body, len, true, &root, error);
	if (r < 0)
		return r;
	r = jget_array(root, NULL, "projects", JGET_REQUIRED, &arr, error);
	if (r >= 0 && json_array_size(arr) > DISCOVER_MAX_PROJECTS)
		r = jget_bad(error, &JGET_MEMBER(NULL, "projects"), "more than %d projects",
		             DISCOVER_MAX_PROJECTS);
	if (r >= 0 && json_array_size(arr) > 0 &&
	    !(got.v = calloc(json_array_size(arr), sizeof(*got.v))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < json_array_size(arr); i++) {
		struct jget_path aw = JGET_MEMBER(NULL, "projects"), ew = JGET_ELEMENT(&aw, i);

		r = project_decode(json_array_get(arr, i), &ew, &got.v[got.n++], error);
	}
	json_decref(root);
	if (r < 0) {
		discover_projects_clear(&got);
		return r;
	}
	discover_projects_clear(out);
	*out = got;
	return 0;
}

static int account_decode(json_t *o, const struct jget_path *w, struct discover_account *a,
                          char **error)
{
	int r;

	if (!json_is_object(o))
		return jget_bad(error, w, "expected an object");
	if ((r = get_id_copy(o, w, "id", &a->id, error)) < 0 ||
	    (r = get_copy(o, w, "name", JGET_REQUIRED, &a->name, error)) < 0 ||
	    (r = get_copy(o, w, "urn", JGET_OPTIONAL, &a->urn, error)) < 0 ||
	    (r = get_copy(o, w, "status", JGET_OPTIONAL, &a->status, error)) < 0 ||
	    (r = get_copy(o, w, "join_method", JGET_OPTIONAL, &a->join_method, error)) < 0 ||
	    (r = get_copy(o, w, "joined_at", JGET_OPTIONAL, &a->joined_at, error)) < 0)
		return r;
	return 0;
}

static int page_marker(json_t *root, char **next_marker, char **error)
{
	struct jget_path pw = JGET_MEMBER(NULL, "page_info");
	const char *m = NULL;
	json_t *page;
	int r;

	*next_marker = NULL;
	r = jget_object(root, NULL, "page_info", JGET_OPTIONAL, &page, error);
	if (r < 0 || !page)
		return r;
	r = jget_string(page, &pw, "next_marker", JGET_OPTIONAL, MAX_MARKER_BYTES, &m, error);
	if (r < 0 || !m || !*m)
		return r;
	return (*next_marker = strdup(m)) ? 0 : -ENOMEM;
}

int discover_decode_accounts(const char *body, size_t len, size_t max_total,
                             struct discover_accounts *out, char **next_marker, char **error)
{
	struct jget_path aw = JGET_MEMBER(NULL, "accounts");
	struct discover_account *v = NULL;
	char *marker = NULL;
	size_t n = 0, size;
	json_t *root, *arr;
	int r;

	r = jget_load_object(body, len, true, &root, error);
	if (r < 0)
		return r;
	r = jget_array(root, NULL, "accounts", JGET_REQUIRED, &arr, error);
	size = r >= 0 ? json_array_size(arr) : 0;
	if (r >= 0 && (size > max_total || out->n > max_total - size))
		r = jget_bad(error, &aw, "more than %zu accounts in all", max_total);
	if (r >= 0 && size > 0 && !(v = calloc(size, sizeof(*v))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < size; i++) {
		struct jget_path ew = JGET_ELEMENT(&aw, i);

		r = account_decode(json_array_get(arr, i), &ew, &v[n++], error);
	}
	if (r >= 0)
		r = page_marker(root, &marker, error);
	json_decref(root);
	if (r >= 0 && size > 0) {
		struct discover_account *grown = realloc(out->v, (out->n + size) * sizeof(*grown));

		if (!grown)
			r = -ENOMEM;
		else {
			memcpy(grown + out->n, v, size * sizeof(*v));
			out->v = grown;
			out->n += size;
			n = 0;          /* moved */
		}
	}
	for (size_t i = 0; i < n; i++)
		account_free(&v[i]);
	free(v);
	if (r < 0) {
		free(marker);
		return r;
	}
	*next_marker = marker;
	return 0;
}

char *discover_accounts_url(const char *endpoint, unsigned limit, const char *marker)
{
	_cleanup_free_ char *m = NULL;

	if (limit < 1 || limit > DISCOVER_PAGE_LIMIT)
		return NULL;
	if (!marker)
		return xasprintf("%s/v1/organizations/accounts?limit=%u", endpoint, limit);
	m = uri_escape(marker);
	return m ? xasprintf("%s/v1/organizations/accounts?limit=%u&marker=%s", endpoint, limit, m) :
	       NULL;
}

/* ---- the client ------------------------------------------------------------------------------ */

struct discover {
	struct http *http;
	struct auth *auth;
	bool busy;
	bool sent;              /* the request is with http.h */
	bool cancelled;         /* discover_cancel(): drop it when it ends */
	bool retried;           /* the 401 retry of this request was made */
	char *url;              /* the request in progress */
	/* accounts */
	char *endpoint;
	char **markers;         /* every marker followed, to stop on a repeat */
	size_t n_markers;
	struct discover_accounts accounts;
	struct discover_projects projects;
	discover_projects_done_t projects_done;
	discover_accounts_done_t accounts_done;
	void *userdata;
};

int discover_new(struct http *h, struct auth *a, struct discover **ret)
{
	struct discover *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->http = h;
	d->auth = a;
	*ret = d;
	return 0;
}

static void reset(struct discover *d)
{
	free(d->url);
	d->url = NULL;
	free(d->endpoint);
	d->endpoint = NULL;
	for (size_t i = 0; i < d->n_markers; i++)
		free(d->markers[i]);
	free(d->markers);
	d->markers = NULL;
	d->n_markers = 0;
	discover_accounts_clear(&d->accounts);
	discover_projects_clear(&d->projects);
	d->busy = false;
	d->sent = false;
	d->cancelled = false;
}

void discover_free(struct discover *d)
{
	if (!d)
		return;
	http_cancel_for(d->http, d);
	auth_cancel(d->auth, d);
	reset(d);
	free(d);
}

/* The listing ended: call back once, with the result when R >= 0. */
static void finish(struct discover *d, int r, const char *error, long status, const char *code)
{
	discover_projects_done_t pd = d->projects_done;
	discover_accounts_done_t ad = d->accounts_done;
	struct discover_projects projects = d->projects;
	struct discover_accounts accounts = d->accounts;
	void *userdata = d->userdata;

	d->projects = (struct discover_projects) {};
	d->accounts = (struct discover_accounts) {};
	reset(d);
	if (pd)
		pd(r, error, status, code, r < 0 ? NULL : &projects, userdata);
	else
		ad(r, error, status, code, r < 0 ? NULL : &accounts, userdata);
	discover_projects_clear(&projects);
	discover_accounts_clear(&accounts);
}

static int prepare(struct http_request *req, const char *method, const char *url, const char *body,
                   size_t body_len, struct curl_slist **headers, void *userdata)
{
	struct discover *d = userdata;

	if (d->cancelled)
		return -ECANCELED;
	return auth_prepare(req, method, url, body, body_len, headers, d->auth);
}

static void on_answer(struct http_request *req, const struct http_response *resp, void *userdata);

static void on_auth(int r, const char *error, void *userdata)
{
	struct discover *d = userdata;
	struct http_call call = {
		.method = "GET",
		.url = d->url,
		.prepare = prepare,
		.done = on_answer,
		.userdata = d,
	};

	if (r < 0) {
		finish(d, r, error, 0, NULL);
		return;
	}
	r = http_submit(d->http, &call);
	if (r < 0)
		finish(d, r, "cannot queue the request", 0, NULL);
	else
		d->sent = true;
}

void discover_cancel(struct discover *d)
{
	if (!d || !d->busy)
		return;
	auth_cancel(d->auth, d);
	if (d->sent)
		d->cancelled = true;    /* on_answer() drops it */
	else
		reset(d);
}

static void send_request(struct discover *d)
{
	auth_ensure(d->auth, on_auth, d);
}

/* An answer that is not a 2xx: its status, code and message. */
static void finish_http(struct discover *d, const struct http_response *resp)
{
	_cleanup_free_ char *code = NULL, *message = NULL, *error = NULL;

	if (resp->curl_code != CURLE_OK) {
		error = xasprintf("GET %s: %s", d->url,
		                  resp->error ? resp->error : curl_easy_strerror(resp->curl_code));
		finish(d, -EIO, error ? error : "no answer", 0, NULL);
		return;
	}
	if (resp->body_len > 0)
		(void) decode_error_body(resp->body, resp->body_len, &code, &message);
	error = xasprintf("GET %s: HTTP %ld%s%s%s%s", d->url, resp->status, code ? " " : "",
	                  code ? code : "", message ? ": " : "", message ? message : "");
	finish(d, resp->status == 401 || resp->status == 403 ? -EACCES : -EPROTO,
	       error ? error : "failed", resp->status, code);
}

/* The next page after one that named MARKER, or the end. */
static void next_page(struct discover *d, char *marker)
{
	_cleanup_free_ char *error = NULL;
	char **grown;

	if (!marker) {
		finish(d, 0, NULL, 200, NULL);
		return;
	}
	for (size_t i = 0; i < d->n_markers; i++)
		if (strcmp(d->markers[i], marker) == 0) {
			error = xasprintf("GET %s: page_info.next_marker repeats an earlier marker: the "
			                  "listing would not end", d->url);
			free(marker);
			finish(d, -EBADMSG, error ? error : "repeated marker", 200, NULL);
			return;
		}
	if (d->n_markers + 1 >= DISCOVER_MAX_PAGES) {
		error = xasprintf("more than %d pages of accounts: the listing is not trusted",
		                  DISCOVER_MAX_PAGES);
		free(marker);
		finish(d, -E2BIG, error ? error : "too many pages", 200, NULL);
		return;
	}
	grown = realloc(d->markers, (d->n_markers + 1) * sizeof(*grown));
	free(d->url);
	d->url = discover_accounts_url(d->endpoint, DISCOVER_PAGE_LIMIT, marker);
	if (!grown || !d->url) {
		if (grown)
			d->markers = grown;
		free(marker);
		finish(d, -ENOMEM, "out of memory", 0, NULL);
		return;
	}
	d->markers = grown;
	d->markers[d->n_markers++] = marker;
	d->retried = false;
	send_request(d);
}

static void on_answer(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct discover *d = userdata;
	_cleanup_free_ char *error = NULL, *e = NULL;
	char *marker = NULL;
	int r;

	(void) req;
	d->sent = false;
	if (d->cancelled) {
		reset(d);
		return;
	}
	if (resp->curl_code == CURLE_OK && resp->status == 401 && !d->retried &&
	    auth_invalidate(d->auth)) {
		d->retried = true;
		send_request(d);
		return;
	}
	if (resp->curl_code != CURLE_OK || resp->status < 200 || resp->status > 299) {
		finish_http(d, resp);
		return;
	}
	if (d->projects_done)
		r = discover_decode_projects(resp->body, resp->body_len, &d->projects, &error);
	else
		r = discover_decode_accounts(resp->body, resp->body_len, DISCOVER_MAX_ACCOUNTS,
		                             &d->accounts, &marker, &error);
	if (r < 0) {
		e = xasprintf("GET %s: bad answer: %s", d->url, error ? error : strerror(-r));
		finish(d, r, e ? e : "bad answer", resp->status, NULL);
		return;
	}
	if (d->projects_done)
		finish(d, 0, NULL, resp->status, NULL);
	else
		next_page(d, marker);
}

static int start(struct discover *d, char *url, void *userdata)
{
	if (!url)
		return -ENOMEM;
	d->busy = true;
	d->retried = false;
	d->url = url;
	d->userdata = userdata;
	send_request(d);
	return 0;
}

int discover_list_projects(struct discover *d, const char *iam_endpoint,
                           discover_projects_done_t done, void *userdata)
{
	if (d->busy)
		return -EBUSY;
	d->projects_done = done;
	d->accounts_done = NULL;
	return start(d, xasprintf("%s/v3/auth/projects", iam_endpoint), userdata);
}

int discover_list_accounts(struct discover *d, const char *organizations_endpoint,
                           discover_accounts_done_t done, void *userdata)
{
	if (d->busy)
		return -EBUSY;
	d->projects_done = NULL;
	d->accounts_done = done;
	d->endpoint = strdup(organizations_endpoint);
	if (!d->endpoint)
		return -ENOMEM;
	return start(d, discover_accounts_url(organizations_endpoint, DISCOVER_PAGE_LIMIT, NULL),
	             userdata);
}
