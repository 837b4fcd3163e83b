/* config-view.c - one target's configuration in organisation mode: the
 * parent config with the target's region, project, account and endpoints,
 * the credentials that reach its account, and only the sections and
 * exemptions whose scope admits it.  The view borrows the rest from the
 * parent.  See config_target_view() in config.h. */
#include "config-parser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

/* What a view owns; everything else in it is the parent's. */
void cfg_view_free(struct config *v)
{
	free(v->csms.region);
	free(v->csms.project_id);
	free(v->csms.account_id);
	free(v->csms.account_name);
	free(v->csms.target_name);
	free(v->csms.endpoint);
	free(v->csms.iam_endpoint);
	free(v->csms.sts_endpoint);
	free(v->auth.agency.account_id);
	free(v->sections);
	free(v->exemptions);
	free(v);
}

static int dup_optional(const char *s, char **ret)
{
	*ret = NULL;
	return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

static int view_csms(struct config *v, const struct config *c, const struct target *t)
{
	struct csms_settings *cs = &v->csms;

	cs->region = NULL;
	cs->project_id = NULL;
	cs->account_id = NULL;
	cs->account_name = NULL;
	cs->target_name = NULL;
	cs->endpoint = NULL;
	cs->iam_endpoint = NULL;
	cs->sts_endpoint = NULL;
	if (dup_optional(t->region, &cs->region) < 0 || dup_optional(t->project_id, &cs->project_id) < 0 ||
	    dup_optional(t->account_id, &cs->account_id) < 0 ||
	    dup_optional(t->account_name, &cs->account_name) < 0 ||
	    dup_optional(t->name, &cs->target_name) < 0 ||
	    endpoint_expand(c->csms.endpoint, t->region, &cs->endpoint) < 0 ||
	    endpoint_expand(c->csms.iam_endpoint, t->region, &cs->iam_endpoint) < 0 ||
	    endpoint_expand(c->csms.sts_endpoint, t->region, &cs->sts_endpoint) < 0)
		return -ENOMEM;
	return 0;
}

/* The agency is assumed in the target's account; a target of the base
 * identity's own account is reached with the base identity itself. */
static int view_auth(struct config *v, const struct target *t)
{
	struct auth_settings *a = &v->auth;

	a->agency.account_id = NULL;
	if (a->method != AUTH_AGENCY)
		return 0;
	if (!t->account_id) {
		a->method = a->base;
		return 0;
	}
	return dup_optional(t->account_id, &a->agency.account_id);
}

int config_target_view(const struct config *c, const struct target *t, struct config **ret)
{
	struct config *v;
	size_t n;

	*ret = NULL;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	/* Borrow everything, then replace what the view owns. */
	*v = *c;
	v->parent = c;
	v->organisation = false;
	v->targets = NULL;
	v->n_targets = 0;
	v->discover = (struct discover_settings) {};
	v->sections = NULL;
	v->n_sections = 0;
	v->exemptions = NULL;
	v->n_exemptions = 0;
	if (view_csms(v, c, t) < 0 || view_auth(v, t) < 0)
		goto oom;
	/* Shallow copies, in order: the rules and patterns stay the parent's. */
	if (c->n_sections > 0 && !(v->sections = malloc(c->n_sections * sizeof(*v->sections))))
		goto oom;
	for (size_t i = 0; i < c->n_sections; i++)
		if (scope_matches(&c->sections[i].scope, t))
			v->sections[v->n_sections++] = c->sections[i];
	if (c->n_exemptions > 0 && !(v->exemptions = malloc(c->n_exemptions * sizeof(*v->exemptions))))
		goto oom;
	n = 0;
	for (size_t i = 0; i < c->n_exemptions; i++)
		if (scope_matches(&c->exemptions[i].scope, t))
			v->exemptions[n++] = c->exemptions[i];
	v->n_exemptions = n;
	*ret = v;
	return 0;
oom:
	cfg_view_free(v);
	return -ENOMEM;
}
