/* plan.c - the tags that should not exist: the plan model.
 *
 * plan_compute() is the only place that turns policy decisions into work;
 * dry runs, real runs, --plan and --explain all see the same verdicts.
 * How a plan is shown is plan-text.c (table, explain) and plan-json.c.
 */
#include "plan.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util.h"
#include "values.h"

#define PENDING_DELETE "PENDING_DELETE"

const char *plan_str(const char *s)
{
	return s ? s : "";
}

static int secret_ptr_cmp(const void *a, const void *b)
{
	const struct secret *x = *(const struct secret *const *) a;
	const struct secret *y = *(const struct secret *const *) b;
	int r = strcmp(plan_str(x->name), plan_str(y->name));

	return r ? r : strcmp(plan_str(x->id), plan_str(y->id));
}

/* The secrets of O in plan order (name, then id), without reordering O,
 * which the caller may share.  NULL on ENOMEM (or when O is empty). */
const struct secret **plan_sorted_secrets(const struct observation *o)
{
	const struct secret **v;

	if (o->n == 0)
		return NULL;
	v = calloc(o->n, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		v[i] = &o->secrets[i];
	qsort(v, o->n, sizeof(*v), secret_ptr_cmp);
	return v;
}

static int item_cmp(const void *a, const void *b)
{
	const struct plan_item *x = a, *y = b;
	int r;

	/* Byte order, so the order is the same in every locale.  The id and
	 * value only break ties an honest CSMS answer never has. */
	r = strcmp(x->secret_name, y->secret_name);
	if (r == 0)
		r = strcmp(x->secret_id, y->secret_id);
	if (r == 0)
		r = strcmp(x->key, y->key);
	if (r == 0)
		r = strcmp(x->value, y->value);
	return r;
}

static void plan_item_clear(struct plan_item *it)
{
	free(it->secret_id);
	free(it->secret_name);
	free(it->key);
	free(it->value);
	free(it->exemption_name);
	free(it->exemption_reason);
}

static void items_free(struct plan_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		plan_item_clear(&v[i]);
	free(v);
}

void plan_clear(struct plan *p)
{
	items_free(p->items, p->n);
	items_free(p->waiting, p->n_waiting);
	items_free(p->exempted, p->n_exempted);
	for (size_t i = 0; i < p->n_required; i++) {
		free(p->required[i].secret_id);
		free(p->required[i].secret_name);
		free(p->required[i].missing);
		free(p->required[i].invalid);
	}
	free(p->required);
	for (size_t i = 0; i < p->n_unused; i++)
		free(p->unused[i].name);
	free(p->unused);
	grace_clocks_clear(&p->clocks);
	free(p->config_path);
	for (size_t i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	memset(p, 0, sizeof(*p));
}

/* ---- judging one tag ------------------------------------------------------ */

/* The one place that puts policy, exemptions and grace clocks together. */
void plan_judge(const struct config *c, const struct section *section, const struct secret *s,
                const struct tag *t, uint64_t now, const struct grace_clocks *clocks,
                struct judgement *j)
{
	*j = (struct judgement) { .d = policy_decide(c, section, s, t), .verdict = VERDICT_KEEP };
	if (!j->d.delete)
		return;
	j->exemption = policy_exemption_for(c, plan_str(s->name), t, now, &j->expired);
	if (j->exemption && !j->expired) {
		j->verdict = VERDICT_EXEMPT;
		return;
	}
	j->verdict = VERDICT_DELETE;
	j->grace = config_grace_for(c, section);
	if (j->grace == 0)
		return;
	grace_digest(plan_str(s->id), t->key, plan_str(t->value), j->digest);
	if (!clocks || grace_clocks_find(clocks, j->digest, &j->first_seen) < 0 || j->first_seen > now)
		j->first_seen = now;
	j->due = j->first_seen + j->grace < j->first_seen ? UINT64_MAX : j->first_seen + j->grace;
	if (now < j->due)
		j->verdict = VERDICT_WAIT;
}

/* Array V of SIZE-byte elements, N used and *CAP allocated, with room for
 * one more: V itself, or moved; NULL on ENOMEM (V is then unchanged). */
static void *grow(void *v, size_t n, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *nv;

	if (n < *cap)
		return v;
	nv = reallocarray(v, ncap, size);
	if (nv)
		*cap = ncap;
	return nv;
}

/* What plan_compute() builds, with the capacities of its arrays. */
struct builder {
	struct plan *p;
	const struct config *c;
	const struct grace_clocks *clocks;
	size_t cap_items, cap_waiting, cap_exempted, cap_required, cap_unused;
	bool *exemption_used;
};

static int plan_add(struct builder *b, const struct secret *s, const struct tag *t,
                    const struct judgement *j)
{
	struct plan *p = b->p;
	struct plan_item **v = &p->items;
	size_t *n = &p->n, *cap = &b->cap_items;
	struct plan_item *it;

	if (j->verdict == VERDICT_WAIT)
		v = &p->waiting, n = &p->n_waiting, cap = &b->cap_waiting;
	else if (j->verdict == VERDICT_EXEMPT)
		v = &p->exempted, n = &p->n_exempted, cap = &b->cap_exempted;
	it = grow(*v, *n, cap, sizeof(**v));
	if (!it)
		return -ENOMEM;
	*v = it;
	it += *n;
	*it = (struct plan_item) {
		.secret_id = strdup(plan_str(s->id)),
		.secret_name = strdup(plan_str(s->name)),
		.key = strdup(t->key),
		.value = strdup(plan_str(t->value)),
		.reason = j->d.reason,
		.rule_line = j->d.rule ? j->d.rule->line : 0,
		.section_line = j->d.section->line,
		.file = j->d.section->file,
		.decided_usec = p->now_usec,
		.grace_usec = j->grace,
		.first_seen_usec = j->first_seen,
		.due_usec = j->due,
	};
	if (j->exemption) {
		it->exemption_line = j->exemption->line;
		it->exemption_file = j->exemption->file;
		it->exemption_expired = j->expired;
		it->exemption_expires_usec = j->exemption->expires_usec;
		it->exemption_name = strdup(j->exemption->name);
		it->exemption_reason = strdup(j->exemption->reason);
	}
	if (!it->secret_id || !it->secret_name || !it->key || !it->value ||
	    (j->exemption && (!it->exemption_name || !it->exemption_reason))) {
		plan_item_clear(it);
		return -ENOMEM;
	}
	(*n)++;
	if (j->verdict == VERDICT_EXEMPT)
		b->exemption_used[j->exemption - b->c->exemptions] = true;
	if (j->grace > 0 && grace_clocks_add(&p->clocks, j->digest, j->first_seen) < 0)
		return -ENOMEM;
	return 0;
}

static bool secret_pending_delete(const struct secret *s)
{
	return s->state && strcmp(s->state, PENDING_DELETE) == 0;
}

/* Why a governed secret is left alone this pass, or NULL when it is not. */
const char *plan_skip_reason(const struct secret *s)
{
	if (secret_pending_delete(s))
		return "scheduled for deletion (PENDING_DELETE); its tags are left alone";
	if (!s->tags_complete)
		return "its tags were not read completely; skipped rather than judged on part of them";
	return NULL;
}

/* Append "TEXT" to the ", "-separated list *LIST. */
static int list_append(char **list, const char *text)
{
	char *n = *list ? xasprintf("%s, %s", *list, text) : strdup(text);

	if (!n)
		return -ENOMEM;
	free(*list);
	*list = n;
	return 0;
}

/* The required keys of SECTION that S lacks or holds with a value the
 * rules do not allow, into *REQ (zeroed when none).  config.c made sure a
 * rule allowing some value exists for each. */
int plan_check_required(const struct section *section, const struct secret *s,
                        struct plan_requirement *req)
{
	*req = (struct plan_requirement) { .required_line = section->required_line, .file = section->file };
	for (size_t i = 0; i < section->n_required; i++) {
		const char *key = section->required[i];
		const struct tag *t = tag_list_find(&s->tags, key);
		_cleanup_free_ char *kv = NULL;

		if (!t) {
			req->n_missing++;
			if (list_append(&req->missing, key) < 0)
				return -ENOMEM;
		} else if (!rule_allows_value(section_rule_for(section, key), plan_str(t->value))) {
			req->n_invalid++;
			kv = xasprintf("%s=%s", key, plan_str(t->value));
			if (!kv || list_append(&req->invalid, kv) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int plan_required(struct builder *b, const struct section *section, const struct secret *s)
{
	struct plan *p = b->p;
	struct plan_requirement req, *v;

	if (plan_check_required(section, s, &req) < 0)
		goto fail;
	if (req.n_missing + req.n_invalid == 0)
		return 0;
	req.secret_id = strdup(plan_str(s->id));
	req.secret_name = strdup(plan_str(s->name));
	if (!req.secret_id || !req.secret_name)
		goto fail;
	v = grow(p->required, p->n_required, &b->cap_required, sizeof(*v));
	if (!v)
		goto fail;
	p->required = v;
	p->required[p->n_required++] = req;
	p->n_required_missing += req.n_missing;
	p->n_required_invalid += req.n_invalid;
	return 0;
fail:
	free(req.secret_id);
	free(req.secret_name);
	free(req.missing);
	free(req.invalid);
	return -ENOMEM;
}

static int plan_secret(struct builder *b, const struct section *section, const struct secret *s)
{
	for (size_t i = 0; i < s->tags.n; i++) {
		const struct tag *t = &s->tags.items[i];
		struct judgement j;
		int r;

		b->p->n_tags++;
		plan_judge(b->c, section, s, t, b->p->now_usec, b->clocks, &j);
		if (j.verdict == VERDICT_KEEP)
			continue;
		r = plan_add(b, s, t, &j);
		if (r < 0)
			return r;
	}
	return plan_required(b, section, s);
}

static int plan_unused(struct builder *b)
{
	struct plan *p = b->p;

	for (size_t i = 0; i < b->c->n_exemptions; i++) {
		const struct exemption *e = &b->c->exemptions[i];
		struct plan_unused_exemption *v;

		if (b->exemption_used[i] || e->expires_usec <= p->now_usec)
			continue;
		v = grow(p->unused, p->n_unused, &b->cap_unused, sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->unused = v;
		p->unused[p->n_unused] = (struct plan_unused_exemption) {
			.name = strdup(e->name), .line = e->line, .file = e->file,
		};
		if (!p->unused[p->n_unused].name)
			return -ENOMEM;
		p->n_unused++;
	}
	return 0;
}

static int copy_files(const struct config *c, struct plan *p)
{
	p->files = calloc(c->n_files + 1, sizeof(*p->files));
	if (!p->files)
		return -ENOMEM;
	for (; p->n_files < c->n_files; p->n_files++)
		if (!(p->files[p->n_files] = strdup(c->files[p->n_files])))
			return -ENOMEM;
	return 0;
}

char *plan_requirement_text(const struct plan_requirement *q)
{
	return xasprintf("%s%s%s%s%s", q->missing ? "missing " : "", q->missing ? q->missing : "",
	                 q->missing && q->invalid ? "; " : "", q->invalid ? "value not allowed " : "",
	                 q->invalid ? q->invalid : "");
}

const char *plan_file(const struct plan *p, unsigned file)
{
	return file < p->n_files ? p->files[file] : plan_str(p->config_path);
}

int plan_compute(const struct config *c, const struct observation *o, const struct plan_time *t,
                 struct plan *ret)
{
	struct plan p = { .n_secrets = o->n, .now_usec = t ? t->now_usec : now_realtime_usec() };
	struct builder b = { .p = &p, .c = c, .clocks = t ? t->clocks : NULL };
	const struct secret **order = NULL;

	p.config_path = strdup(plan_str(c->path));
	b.exemption_used = calloc(c->n_exemptions + 1, sizeof(*b.exemption_used));
	if (!p.config_path || !b.exemption_used || copy_files(c, &p) < 0)
		goto fail;
	order = plan_sorted_secrets(o);
	if (o->n > 0 && !order)
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		const struct secret *s = order[i];
		const struct section *section = config_section_for(c, plan_str(s->name));

		if (!section)
			continue;
		p.n_governed++;
		if (secret_pending_delete(s)) {
			p.n_pending_delete++;
			continue;
		}
		if (!s->tags_complete) {
			p.n_incomplete++;
			continue;
		}
		if (plan_secret(&b, section, s) < 0)
			goto fail;
	}
	if (plan_unused(&b) < 0)
		goto fail;
	if (p.n > 1)
		qsort(p.items, p.n, sizeof(p.items[0]), item_cmp);
	if (p.n_waiting > 1)
		qsort(p.waiting, p.n_waiting, sizeof(p.waiting[0]), item_cmp);
	if (p.n_exempted > 1)
		qsort(p.exempted, p.n_exempted, sizeof(p.exempted[0]), item_cmp);
	grace_clocks_sort(&p.clocks);
	free(order);
	free(b.exemption_used);
	*ret = p;
	return 0;
fail:
	free(order);
	free(b.exemption_used);
	plan_clear(&p);
	return -ENOMEM;
}

size_t plan_retain(struct plan *p, bool (*keep)(const struct plan_item *it, void *userdata),
                   void *userdata)
{
	size_t out = 0, dropped;

	for (size_t i = 0; i < p->n; i++) {
		if (keep(&p->items[i], userdata))
			p->items[out++] = p->items[i];
		else
			plan_item_clear(&p->items[i]);
	}
	dropped = p->n - out;
	p->n = out;
	return dropped;
}

size_t plan_worst_case(const struct plan *p)
{
	return p->n + PLAN_MAX_TAGS_PER_SECRET * p->n_incomplete;
}

enum recheck_verdict plan_recheck(const struct config *c, const struct plan_item *it,
                                  const struct tag_list *tags, const struct tag_list *sys_tags,
                                  const char **ret_value)
{
	const struct tag *now = tag_list_find(tags, it->key);
	struct judgement j;
	struct secret view;

	if (!now)
		return RECHECK_GONE;
	/* The state is not re-read: the item was planned for a secret that
	 * was not pending deletion, and a tag read is not a state read. */
	view = (struct secret) {
		.id = it->secret_id, .name = it->secret_name, .state = (char *) "",
		.tags = *tags, .sys_tags = *sys_tags, .tags_complete = true,
	};
	/* Without clocks a graced tag waits: the same value has waited its
	 * time already (it was planned), a new value has not. */
	plan_judge(c, config_section_for(c, it->secret_name), &view, now, it->decided_usec, NULL, &j);
	if (j.verdict == VERDICT_KEEP || j.verdict == VERDICT_EXEMPT ||
	    (j.verdict == VERDICT_WAIT && strcmp(plan_str(now->value), it->value) != 0))
		return RECHECK_KEEP;
	*ret_value = now->value;
	return RECHECK_DELETE;
}

bool plan_needs_recheck(const struct config *c, const struct plan_item *it)
{
	if (reason_depends_on_value(it->reason) ||
	    config_grace_for(c, config_section_for(c, it->secret_name)) > 0)
		return true;
	for (size_t i = 0; i < c->n_exemptions; i++) {
		const struct exemption *e = &c->exemptions[i];

		/* An exemption for any value keeps the tag whatever its value:
		 * the observation already judged that. */
		if (e->value && fnmatch(e->secret, it->secret_name, 0) == 0 &&
		    fnmatch(e->key, it->key, 0) == 0)
			return true;
	}
	return false;
}

const char *plan_item_rule_ref(const struct plan *p, const struct plan_item *it,
                               char *buf, size_t size)
{
	snprintf(buf, size, "%s:%u", plan_file(p, it->file),
	         it->rule_line ? it->rule_line : it->section_line);
	return buf;
}
