/* auth-token.c - the token method: X-Auth-Token read from a file, re-read
 * when refused, so that a site's own tooling can rotate it.  See auth.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "log.h"
#include "util.h"

static int token_setup(struct auth *a, const struct config *c, char **error)
{
	const struct auth_settings *s = &c->auth;

	if (!s->token_file)
		return auth_need(NULL, "[auth] token_file", error);
	a->token_path = strdup(s->token_file);
	if (!a->token_path)
		return -ENOMEM;
	return auth_credential_load("token_file", a->token_path, &a->token, error);
}

static void token_fetch(struct auth *a)
{
	_cleanup_free_ char *error = NULL;
	int r;

	/* Replaces a->token only on success. */
	r = auth_credential_load("token_file", a->token_path, &a->token, &error);
	if (r < 0) {
		auth_fetch_fail(a, r, error);
		return;
	}
	log_info("Read the token from %s", a->token_path);
	auth_fetch_finish(a, 0, NULL);
}


static bool token_usable(const struct auth *a)
{
	return a->token;
}

static bool token_needs_refresh(const struct auth *a)
{
	return !a->token || a->stale;
}

/* The token as X-Auth-Token (the password method sends its token so too). */
int auth_token_header(struct auth *a, const char *project_id, const char *method, const char *url,
                      const char *body, size_t body_len, struct curl_slist **headers)
{
	(void) method, (void) url, (void) body, (void) body_len;
	/* A project-scoped token is no use in another project. */
	if (project_id && (!a->project_id || strcmp(project_id, a->project_id) != 0))
		return -ENOKEY;
	return auth_header_append(headers, "X-Auth-Token", a->token);
}

const struct auth_ops auth_token_ops = {
	.setup = token_setup,
	.fetch = token_fetch,
	.usable = token_usable,
	.needs_refresh = token_needs_refresh,
	.prepare = auth_token_header,
	.no_holdoff = true,
};
