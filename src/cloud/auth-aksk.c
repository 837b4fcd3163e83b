/* auth-aksk.c - the aksk method: a static access key pair (optionally with
 * a security token, for temporary keys), and the SDK-HMAC-SHA256 signing
 * of requests that the ecs method's temporary keys use too.  See auth.h. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth-internal.h"
#include "sign.h"
#include "util.h"

static void curl_freep(char **p)
{
	curl_free(*p);
}

static void curl_url_cleanupp(CURLU **u)
{
	curl_url_cleanup(*u);
}

/* The value of header NAME in HEADERS (as it will be sent), or NULL. */
static const char *header_find(const struct curl_slist *headers, const char *name)
{
	size_t nl = strlen(name);

	for (; headers; headers = headers->next) {
		const char *d = headers->data, *v;

		if (strncasecmp(d, name, nl) != 0 || d[nl] != ':')
			continue;
		for (v = d + nl + 1; *v == ' ' || *v == '\t'; v++)
			;
		return *v ? v : NULL;
	}
	return NULL;
}

/* The Host header curl sends for URL: the host as in the URL, with ":port"
 * only when the port is not the scheme's default. */
static int url_parts(const char *url, char **ret_host, char **ret_path, char **ret_query)
{
	_cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
	_cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *port = NULL;
	char *path = NULL, *query = NULL;
	CURLUcode uc;
	bool default_port;

	if (!u)
		return -ENOMEM;
	/* Same flags as the transfer (CURLOPT_PATH_AS_IS). */
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		return -EINVAL;
	default_port = (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
	               (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		return -EINVAL;
	uc = curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (uc != CURLUE_OK && uc != CURLUE_NO_QUERY) {
		curl_free(path);
		return -EINVAL;
	}
	*ret_host = default_port ? strdup(host) : xasprintf("%s:%s", host, port);
	*ret_path = strdup(path);
	*ret_query = query ? strdup(query) : NULL;
	curl_free(path);
	curl_free(query);
	if (!*ret_host || !*ret_path || (query && !*ret_query)) {
		free(*ret_host);
		free(*ret_path);
		free(*ret_query);
		return -ENOMEM;
	}
	return 0;
}

int auth_sign_headers(struct auth *a, const char *project_id, const char *method, const char *url,
                      const char *body, size_t body_len, struct curl_slist **headers)
{
	_cleanup_free_ char *host = NULL, *path = NULL, *query = NULL, *authz = NULL;
	struct sign_header sh[5];
	struct sign_request sr = {
		.method = method,
		.headers = sh,
		.body = body,
		.body_len = body ? body_len : 0,
	};
	const char *ctype = header_find(*headers, "Content-Type");
	char date[17];
	const char *project = project_id ? project_id : a->global ? NULL : a->project_id;
	size_t n = 0;
	int r;

	if (project && (!*project || auth_has_control_chars(project, strlen(project))))
		return -EINVAL;
	r = url_parts(url, &host, &path, &query);
	if (r < 0)
		return r;
	sr.path = path;
	sr.query = query;
	sign_format_date(time(NULL), date);
	sh[n++] = (struct sign_header) { "Host", host };
	sh[n++] = (struct sign_header) { SIGN_DATE_HEADER, date };
	if (project)
		sh[n++] = (struct sign_header) { "X-Project-Id", project };
	if (ctype)
		sh[n++] = (struct sign_header) { "Content-Type", ctype };
	if (a->security_token)
		sh[n++] = (struct sign_header) { "X-Security-Token", a->security_token };
	sr.n_headers = n;
	r = sign_authorization(&sr, a->ak, a->sk, &authz);
	if (r < 0)
		return r;
	if ((r = auth_header_append(headers, SIGN_DATE_HEADER, date)) < 0 ||
	    (project && (r = auth_header_append(headers, "X-Project-Id", project)) < 0) ||
	    (a->security_token &&
	     (r = auth_header_append(headers, "X-Security-Token", a->security_token)) < 0) ||
	    (r = auth_header_append(headers, "Authorization", authz)) < 0)
		return r;
	return 0;
}

static int aksk_setup(struct auth *a, const struct config *c, char **error)
{
	const struct auth_settings *s = &c->auth;
	int r;

	if ((r = auth_need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
	    (r = auth_credential_load("access_key_file", s->access_key_file, &a->ak, error)) < 0 ||
	    (r = auth_credential_load("secret_key_file", s->secret_key_file, &a->sk, error)) < 0)
		return r;
	if (s->security_token_file)
		return auth_credential_load("security_token_file", s->security_token_file,
		                            &a->security_token, error);
	return 0;
}

static bool aksk_usable(const struct auth *a)
{
	return a->ak && a->sk;
}

static bool aksk_needs_refresh(const struct auth *a)
{
	(void) a;
	return false;
}

const struct auth_ops auth_aksk_ops = {
	.setup = aksk_setup,
	.usable = aksk_usable,
	.needs_refresh = aksk_needs_refresh,
	.prepare = auth_sign_headers,
};
