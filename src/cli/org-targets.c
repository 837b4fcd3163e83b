/* org-targets.c - the targets a hand run works on (org-targets.h). */
#include "org-targets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "util.h"

static int add(struct org_selection *s, const struct target *t, const char *glob)
{
	struct target *v;
	int r;

	if (glob && !target_selected(t, glob))
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (streq_ptr(s->v[i].project_id, t->project_id))
			return 0;       /* configured and discovered: the configured one */
	v = reallocarray(s->v, s->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	r = target_copy(t, &s->v[s->n]);
	if (r < 0)
		return r;
	s->n++;
	return 0;
}

/* The discovered targets the service remembered; none when there is no
 * ledger yet (the service has not run). */
static int add_discovered(const struct config *c, const char *glob, struct org_selection *s)
{
	_cleanup_free_ char *dir = NULL;
	struct ledger *l = NULL;
	struct target *known = NULL;
	size_t n = 0;
	int r;

	if (ledger_directory(c->daemon.state_directory, c->path, &dir) < 0 || ledger_open(dir, &l) < 0) {
		s->no_ledger = true;
		return 0;
	}
	r = ledger_targets_load(l, &known, &n, &s->discovered_usec);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		size_t before = s->n;

		r = add(s, &known[i], glob);
		s->n_discovered += s->n - before;
	}
	for (size_t i = 0; i < n; i++)
		target_clear(&known[i]);
	free(known);
	ledger_close(l);
	return r < 0 && r != -ENOMEM ? 0 : r;
}

int org_select(const struct config *c, const char *glob, struct org_selection *ret)
{
	struct org_selection s = {};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < c->n_targets; i++)
		r = add(&s, &c->targets[i], glob);
	if (r >= 0 && c->discover.enabled)
		r = add_discovered(c, glob, &s);
	if (r < 0) {
		org_selection_clear(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void org_selection_clear(struct org_selection *s)
{
	for (size_t i = 0; i < s->n; i++)
		target_clear(&s->v[i]);
	free(s->v);
	*s = (struct org_selection) {};
}

const char *target_describe(const struct target *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s (account %s, region %s, project %s)", t->name,
	         t->account_id ? t->account_id : "of the base identity", t->region, t->project_id);
	return buf;
}
