/* plan.c - the tags that should not exist, and how to show them.
 *
 * plan_compute() is the only place that turns policy decisions into work;
 * dry runs, real runs, --plan and --explain all see the same verdicts.
 */
#include "plan.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "values.h"

#define PENDING_DELETE "PENDING_DELETE"

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static int secret_ptr_cmp(const void *a, const void *b)
{
	const struct secret *x = *(const struct secret *const *) a;
	const struct secret *y = *(const struct secret *const *) b;
	int r = strcmp(str_or_empty(x->name), str_or_empty(y->name));

	return r ? r : strcmp(str_or_empty(x->id), str_or_empty(y->id));
}

/* The secrets of O in plan order (name, then id), without reordering O,
 * which the caller may share.  NULL on ENOMEM (or when O is empty). */
static const struct secret **sorted_secrets(const struct observation *o)
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
	memset(p, 0, sizeof(*p));
}

/* ---- judging one tag ------------------------------------------------------ */

enum verdict {
	VERDICT_KEEP,           /* the rules keep it */
	VERDICT_EXEMPT,         /* the rules delete it; an active exemption keeps it */
	VERDICT_WAIT,           /* the rules delete it; its grace period runs */
	VERDICT_DELETE,
};

struct judgement {
	struct decision d;
	enum verdict verdict;
	const struct exemption *exemption;      /* matching: active, or expired */
	bool expired;
	uint64_t grace, first_seen, due;
	uint8_t digest[GRACE_DIGEST_LEN];
};

/* The one place that puts policy, exemptions and grace clocks together. */
static void judge(const struct config *c, const struct section *section, const struct secret *s,
                  const struct tag *t, uint64_t now, const struct grace_clocks *clocks,
                  struct judgement *j)
{
	*j = (struct judgement) { .d = policy_decide(c, section, s, t), .verdict = VERDICT_KEEP };
	if (!j->d.delete)
		return;
	j->exemption = policy_exemption_for(c, str_or_empty(s->name), t, now, &j->expired);
	if (j->exemption && !j->expired) {
		j->verdict = VERDICT_EXEMPT;
		return;
	}
	j->verdict = VERDICT_DELETE;
	j->grace = config_grace_for(c, section);
	if (j->grace == 0)
		return;
	grace_digest(str_or_empty(s->id), t->key, str_or_empty(t->value), j->digest);
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
		.secret_id = strdup(str_or_empty(s->id)),
		.secret_name = strdup(str_or_empty(s->name)),
		.key = strdup(t->key),
		.value = strdup(str_or_empty(t->value)),
		.reason = j->d.reason,
		.rule_line = j->d.rule ? j->d.rule->line : 0,
		.section_line = j->d.section->line,
		.decided_usec = p->now_usec,
		.grace_usec = j->grace,
		.first_seen_usec = j->first_seen,
		.due_usec = j->due,
	};
	if (j->exemption) {
		it->exemption_line = j->exemption->line;
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
static const char *secret_skip_reason(const struct secret *s)
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
static int check_required(const struct section *section, const struct secret *s,
                          struct plan_requirement *req)
{
	*req = (struct plan_requirement) { .required_line = section->required_line };
	for (size_t i = 0; i < section->n_required; i++) {
		const char *key = section->required[i];
		const struct tag *t = tag_list_find(&s->tags, key);
		_cleanup_free_ char *kv = NULL;

		if (!t) {
			req->n_missing++;
			if (list_append(&req->missing, key) < 0)
				return -ENOMEM;
		} else if (!rule_allows_value(section_rule_for(section, key), str_or_empty(t->value))) {
			req->n_invalid++;
			kv = xasprintf("%s=%s", key, str_or_empty(t->value));
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

	if (check_required(section, s, &req) < 0)
		goto fail;
	if (req.n_missing + req.n_invalid == 0)
		return 0;
	req.secret_id = strdup(str_or_empty(s->id));
	req.secret_name = strdup(str_or_empty(s->name));
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
		judge(b->c, section, s, t, b->p->now_usec, b->clocks, &j);
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
		p->unused[p->n_unused] = (struct plan_unused_exemption) { .name = strdup(e->name), .line = e->line };
		if (!p->unused[p->n_unused].name)
			return -ENOMEM;
		p->n_unused++;
	}
	return 0;
}

int plan_compute(const struct config *c, const struct observation *o, const struct plan_time *t,
                 struct plan *ret)
{
	struct plan p = { .n_secrets = o->n, .now_usec = t ? t->now_usec : now_realtime_usec() };
	struct builder b = { .p = &p, .c = c, .clocks = t ? t->clocks : NULL };
	const struct secret **order = NULL;

	p.config_path = strdup(str_or_empty(c->path));
	b.exemption_used = calloc(c->n_exemptions + 1, sizeof(*b.exemption_used));
	if (!p.config_path || !b.exemption_used)
		goto fail;
	order = sorted_secrets(o);
	if (o->n > 0 && !order)
		goto fail;
	for (size_t i = 0; i < o->n; i++) {
		const struct secret *s = order[i];
		const struct section *section = config_section_for(c, str_or_empty(s->name));

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
	judge(c, config_section_for(c, it->secret_name), &view, now, it->decided_usec, NULL, &j);
	if (j.verdict == VERDICT_KEEP || j.verdict == VERDICT_EXEMPT ||
	    (j.verdict == VERDICT_WAIT && strcmp(str_or_empty(now->value), it->value) != 0))
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
	snprintf(buf, size, "%s:%u", str_or_empty(p->config_path),
	         it->rule_line ? it->rule_line : it->section_line);
	return buf;
}

/* ---- the human table --------------------------------------------------- */

enum { COL_SECRET, COL_KEY, COL_VALUE, COL_REASON, COL_RULE, N_COLS };

/* Whether code point CP is shown two columns wide (East Asian Wide and
 * Fullwidth, after Markus Kuhn's wcwidth()).  Not wcwidth(3) itself: that
 * depends on the locale, and the table must line up the same everywhere. */
static bool codepoint_is_wide(uint32_t cp)
{
	return cp >= 0x1100 &&
	       (cp <= 0x115f || cp == 0x2329 || cp == 0x232a ||
	        (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
	        (cp >= 0xac00 && cp <= 0xd7a3) ||
	        (cp >= 0xf900 && cp <= 0xfaff) ||
	        (cp >= 0xfe30 && cp <= 0xfe6f) ||
	        (cp >= 0xff00 && cp <= 0xff60) ||
	        (cp >= 0xffe0 && cp <= 0xffe6) ||
	        (cp >= 0x1f300 && cp <= 0x1f64f) ||
	        (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	        (cp >= 0x20000 && cp <= 0x3fffd));
}

/* Terminal columns taken by escaped text, which is valid UTF-8 without
 * control characters: one per code point, two for wide ones. */
static size_t text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t w = 0;

	while (*p) {
		uint32_t cp = *p++;

		if (cp >= 0xc0) {
			/* Lead byte: keep its payload bits, then add each
			 * continuation byte's six. */
			cp &= cp >= 0xf0 ? 0x07 : cp >= 0xe0 ? 0x0f : 0x1f;
			for (; (*p & 0xc0) == 0x80; p++)
				cp = (cp << 6) | (*p & 0x3f);
		}
		w += codepoint_is_wide(cp) ? 2 : 1;
	}
	return w;
}

static void print_padded(FILE *f, const char *s, size_t width)
{
	fputs(s, f);
	for (size_t w = text_width(s); w < width; w++)
		fputc(' ', f);
}

static size_t plan_secrets_touched(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		if (i == 0 || strcmp(p->items[i].secret_id, p->items[i - 1].secret_id) != 0 ||
		    strcmp(p->items[i].secret_name, p->items[i - 1].secret_name) != 0)
			n++;
	return n;
}

static void print_summary(const struct plan *p, FILE *f)
{
	if (p->n == 0)
		fprintf(f, "No deletions planned. %zu secret%s observed (%zu governed",
		        p->n_secrets, p->n_secrets == 1 ? "" : "s", p->n_governed);
	else
		fprintf(f, "%zu deletion%s planned across %zu of %zu secret%s (%zu governed",
		        p->n, p->n == 1 ? "" : "s", plan_secrets_touched(p),
		        p->n_secrets, p->n_secrets == 1 ? "" : "s", p->n_governed);
	if (p->n_pending_delete > 0)
		fprintf(f, ", %zu pending deletion skipped", p->n_pending_delete);
	if (p->n_incomplete > 0)
		fprintf(f, ", %zu with incompletely read tags skipped", p->n_incomplete);
	fprintf(f, ", %zu tag%s examined).\n", p->n_tags, p->n_tags == 1 ? "" : "s");
	if (p->n_waiting > 0)
		fprintf(f, "%zu deletion%s waiting for the grace period.\n", p->n_waiting,
		        p->n_waiting == 1 ? "" : "s");
	if (p->n_exempted > 0)
		fprintf(f, "%zu tag%s kept by exemptions.\n", p->n_exempted, p->n_exempted == 1 ? "" : "s");
	if (p->n_required > 0)
		fprintf(f, "%zu secret%s lack required tags (%zu missing, %zu with a value not allowed).\n",
		        p->n_required, p->n_required == 1 ? "" : "s", p->n_required_missing,
		        p->n_required_invalid);
}

/* "SECRET  KEY=VALUE", escaped; NULL on ENOMEM. */
static char *item_text(const struct plan_item *it)
{
	_cleanup_free_ char *n = escape_for_log(it->secret_name), *k = escape_for_log(it->key);
	_cleanup_free_ char *v = escape_for_log(it->value);

	return n && k && v ? xasprintf("%s  %s=%s", n, k, v) : NULL;
}

/* Why an item is not deleted now, or NULL when it is; NULL on ENOMEM too,
 * which the caller cannot tell apart and prints as "?". */
static char *item_hold_text(const char *path, const struct plan_item *it)
{
	char a[32], b[32], g[32];
	_cleanup_free_ char *name = NULL, *reason = NULL;

	if (it->exemption_line && !it->exemption_expired) {
		name = escape_for_log(it->exemption_name);
		reason = escape_for_log(it->exemption_reason);
		return name && reason ?
		       xasprintf("kept by exemption \"%s\" at %s:%u until %s: %s", name, path,
		                 it->exemption_line, format_utc_time(a, sizeof(a), it->exemption_expires_usec),
		                 reason) : NULL;
	}
	if (it->grace_usec && it->decided_usec < it->due_usec)
		return xasprintf("due %s (grace %s, seen since %s)", format_utc_time(a, sizeof(a), it->due_usec),
		                 format_timespan(g, sizeof(g), it->grace_usec),
		                 format_utc_time(b, sizeof(b), it->first_seen_usec));
	return NULL;
}

static void print_held(const struct plan *p, const struct plan_item *v, size_t n, const char *title,
                       FILE *f)
{
	_cleanup_free_ char *path = escape_for_log(p->config_path);

	if (n == 0)
		return;
	fprintf(f, "%s\n", title);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *text = item_text(&v[i]), *why = item_hold_text(path ? path : "?", &v[i]);
		char ref[4096];

		fprintf(f, "  %s  %s (%s)  %s\n", text ? text : "?", reason_to_string(v[i].reason),
		        plan_item_rule_ref(p, &v[i], ref, sizeof(ref)), why ? why : "?");
	}
	fputc('\n', f);
}

static void print_required(const struct plan *p, FILE *f)
{
	if (p->n_required == 0)
		return;
	fputs("Required tags missing or not allowed (reported, never created):\n", f);
	for (size_t i = 0; i < p->n_required; i++) {
		const struct plan_requirement *q = &p->required[i];
		_cleanup_free_ char *name = escape_for_log(q->secret_name);
		_cleanup_free_ char *missing = q->missing ? escape_for_log(q->missing) : NULL;
		_cleanup_free_ char *invalid = q->invalid ? escape_for_log(q->invalid) : NULL;

		fprintf(f, "  %s  %s%s%s%s%s  (%s:%u)\n", name ? name : "?",
		        missing ? "missing: " : "", missing ? missing : "",
		        missing && invalid ? "; " : "", invalid ? "not allowed: " : "", invalid ? invalid : "",
		        p->config_path, q->required_line);
	}
	fputc('\n', f);
}

static void print_unused(const struct plan *p, FILE *f)
{
	for (size_t i = 0; i < p->n_unused; i++) {
		_cleanup_free_ char *name = escape_for_log(p->unused[i].name);

		fprintf(f, "Exemption \"%s\" at %s:%u kept no tag: it matches no tag the rules would delete.\n",
		        name ? name : "?", p->config_path, p->unused[i].line);
	}
}

/* Everything besides the deletions: waiting, exempted, required, unused. */
static void print_extras(const struct plan *p, FILE *f)
{
	print_held(p, p->waiting, p->n_waiting, "Waiting for the grace period (not deleted yet):", f);
	print_held(p, p->exempted, p->n_exempted, "Kept by exemptions:", f);
	print_required(p, f);
	print_unused(p, f);
}

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cells[i]);
	free(cells);
}

/* Every cell escaped, row-major; NULL on ENOMEM. */
static char **table_cells(const struct plan *p)
{
	size_t n = p->n * N_COLS;
	char **cells = calloc(n, sizeof(*cells));

	if (!cells)
		return NULL;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_item *it = &p->items[i];
		char **row = cells + i * N_COLS;
		char ref[4096];

		row[COL_SECRET] = escape_for_log(it->secret_name);
		row[COL_KEY] = escape_for_log(it->key);
		row[COL_VALUE] = escape_for_log(it->value);
		row[COL_REASON] = escape_for_log(reason_to_string(it->reason));
		row[COL_RULE] = escape_for_log(plan_item_rule_ref(p, it, ref, sizeof(ref)));
		for (size_t j = 0; j < N_COLS; j++)
			if (!row[j]) {
				free_cells(cells, n);
				return NULL;
			}
	}
	return cells;
}

static void print_row(FILE *f, const char *const *row, const size_t *width)
{
	for (size_t j = 0; j + 1 < N_COLS; j++) {
		print_padded(f, row[j], width[j]);
		fputs("  ", f);
	}
	fprintf(f, "%s\n", row[N_COLS - 1]);
}

void plan_print_table(const struct plan *p, FILE *f)
{
	static const char *const heads[N_COLS] = { "SECRET", "KEY", "VALUE", "REASON", "RULE" };
	size_t width[N_COLS];
	char **cells;

	if (p->n == 0) {
		print_extras(p, f);
		print_summary(p, f);
		return;
	}
	cells = table_cells(p);
	if (!cells) {
		fputs("(out of memory while formatting the plan)\n", f);
		return;
	}
	for (size_t j = 0; j < N_COLS; j++)
		width[j] = text_width(heads[j]);
	for (size_t i = 0; i < p->n * N_COLS; i++)
		if (text_width(cells[i]) > width[i % N_COLS])
			width[i % N_COLS] = text_width(cells[i]);
	print_row(f, heads, width);
	for (size_t i = 0; i < p->n; i++)
		print_row(f, (const char *const *) cells + i * N_COLS, width);
	fputc('\n', f);
	print_extras(p, f);
	print_summary(p, f);
	free_cells(cells, p->n * N_COLS);
}

/* ---- JSON -------------------------------------------------------------- */

/* A JSON string for S.  Text from an observation is valid UTF-8 when it came
 * through jansson, but a plan must never fail to print because of one odd
 * byte, so anything else is escaped. */
static json_t *json_text(const char *s)
{
	_cleanup_free_ char *e = NULL;

	if (utf8_is_valid(s, strlen(s)))
		return json_string(s);
	e = escape_for_log(s);
	return e ? json_string(e) : NULL;
}

static int json_set(json_t *obj, const char *key, json_t *v)
{
	/* json_object_set_new() consumes V even when it fails. */
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *json_time(uint64_t usec)
{
	char buf[32];

	return json_string(format_utc_time(buf, sizeof(buf), usec));
}

/* The grace and exemption fields of IT, when they apply. */
static int item_extras_to_json(const struct plan *p, const struct plan_item *it, json_t *o)
{
	char ref[4096], span[32];

	if (it->grace_usec &&
	    (json_set(o, "grace", json_string(format_timespan(span, sizeof(span), it->grace_usec))) < 0 ||
	     json_set(o, "first_seen", json_time(it->first_seen_usec)) < 0 ||
	     json_set(o, "due", json_time(it->due_usec)) < 0))
		return -ENOMEM;
	if (!it->exemption_line)
		return 0;
	snprintf(ref, sizeof(ref), "%s:%u", p->config_path, it->exemption_line);
	if (json_set(o, "exemption", json_text(ref)) < 0 ||
	    json_set(o, "exemption_name", json_text(it->exemption_name)) < 0 ||
	    json_set(o, "exemption_reason", json_text(it->exemption_reason)) < 0 ||
	    json_set(o, "exemption_expires", json_time(it->exemption_expires_usec)) < 0 ||
	    json_set(o, "exemption_expired", json_boolean(it->exemption_expired)) < 0)
		return -ENOMEM;
	return 0;
}

static json_t *plan_item_to_json(const struct plan *p, const struct plan_item *it)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	if (json_set(o, "secret_id", json_text(it->secret_id)) < 0 ||
	    json_set(o, "secret_name", json_text(it->secret_name)) < 0 ||
	    json_set(o, "key", json_text(it->key)) < 0 ||
	    json_set(o, "value", json_text(it->value)) < 0 ||
	    json_set(o, "reason", json_string(reason_to_string(it->reason))) < 0 ||
	    json_set(o, "rule", json_text(plan_item_rule_ref(p, it, ref, sizeof(ref)))) < 0 ||
	    item_extras_to_json(p, it, o) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *requirement_to_json(const struct plan *p, const struct plan_requirement *q)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	snprintf(ref, sizeof(ref), "%s:%u", p->config_path, q->required_line);
	if (json_set(o, "secret_id", json_text(q->secret_id)) < 0 ||
	    json_set(o, "secret_name", json_text(q->secret_name)) < 0 ||
	    json_set(o, "missing", q->missing ? json_text(q->missing) : json_null()) < 0 ||
	    json_set(o, "invalid", q->invalid ? json_text(q->invalid) : json_null()) < 0 ||
	    json_set(o, "rule", json_text(ref)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *unused_to_json(const struct plan *p, const struct plan_unused_exemption *u)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	snprintf(ref, sizeof(ref), "%s:%u", p->config_path, u->line);
	if (json_set(o, "exemption", json_text(ref)) < 0 || json_set(o, "name", json_text(u->name)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *items_to_json(const struct plan *p, const struct plan_item *v, size_t n)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, plan_item_to_json(p, &v[i])) < 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *extras_list_to_json(const struct plan *p, bool required)
{
	json_t *list = json_array();
	size_t n = required ? p->n_required : p->n_unused;

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, required ? requirement_to_json(p, &p->required[i])
		                                         : unused_to_json(p, &p->unused[i])) < 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *plan_summary_to_json(const struct plan *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_set(o, "secrets", json_integer((json_int_t) p->n_secrets)) < 0 ||
	    json_set(o, "governed", json_integer((json_int_t) p->n_governed)) < 0 ||
	    json_set(o, "pending_delete_skipped", json_integer((json_int_t) p->n_pending_delete)) < 0 ||
	    json_set(o, "incomplete_skipped", json_integer((json_int_t) p->n_incomplete)) < 0 ||
	    json_set(o, "tags_examined", json_integer((json_int_t) p->n_tags)) < 0 ||
	    json_set(o, "deletions", json_integer((json_int_t) p->n)) < 0 ||
	    json_set(o, "waiting", json_integer((json_int_t) p->n_waiting)) < 0 ||
	    json_set(o, "exempted", json_integer((json_int_t) p->n_exempted)) < 0 ||
	    json_set(o, "required_missing", json_integer((json_int_t) p->n_required_missing)) < 0 ||
	    json_set(o, "required_invalid", json_integer((json_int_t) p->n_required_invalid)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *plan_to_json(const struct plan *p)
{
	json_t *root = json_object();

	/* json_set() consumes its value even when it fails. */
	if (!root ||
	    json_set(root, "summary", plan_summary_to_json(p)) < 0 ||
	    json_set(root, "deletions", items_to_json(p, p->items, p->n)) < 0 ||
	    json_set(root, "waiting", items_to_json(p, p->waiting, p->n_waiting)) < 0 ||
	    json_set(root, "exempted", items_to_json(p, p->exempted, p->n_exempted)) < 0 ||
	    json_set(root, "required", extras_list_to_json(p, true)) < 0 ||
	    json_set(root, "unused_exemptions", extras_list_to_json(p, false)) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ---- explain ----------------------------------------------------------- */

static int tag_ptr_cmp(const void *a, const void *b)
{
	const struct tag *x = *(const struct tag *const *) a;
	const struct tag *y = *(const struct tag *const *) b;
	int r = strcmp(x->key, y->key);

	return r ? r : strcmp(x->value, y->value);
}

/* "KEY=VALUE", escaped; NULL on ENOMEM. */
static char *tag_text(const struct tag *t)
{
	_cleanup_free_ char *k = escape_for_log(t->key), *v = escape_for_log(t->value);

	return k && v ? xasprintf("%s=%s", k, v) : NULL;
}

/* Why decision D was taken, as the tail of an explain line; NULL on ENOMEM. */
static char *decision_text(const struct config *c, const struct decision *d, const char *path,
                           const struct tag *t)
{
	_cleanup_free_ char *glob = NULL;

	switch (d->reason) {
	case REASON_NOT_GOVERNED:
		return xasprintf("not governed");
	case REASON_SYSTEM:
		return xasprintf("system tag");
	case REASON_PROTECTED:
		glob = escape_for_log(policy_protect_match(c, t->key));
		return glob ? xasprintf("protected by [daemon] protect glob \"%s\"", glob) : NULL;
	case REASON_ALLOWED:
		return xasprintf("allowed by %s:%u", path, d->rule->line);
	case REASON_VALUE_NOT_ALLOWED:
		return xasprintf("value not allowed by %s:%u", path, d->rule->line);
	case REASON_FORBIDDEN:
		return xasprintf("forbidden by %s:%u", path, d->rule->line);
	case REASON_NO_RULE:
		return xasprintf("no rule of the section at %s:%u matches the key", path, d->section->line);
	}
	return xasprintf("%s", reason_to_string(d->reason));
}

static int explain_header(const struct section *section, const struct secret *s,
                          const char *path, FILE *f)
{
	_cleanup_free_ char *name = escape_for_log(s->name), *id = escape_for_log(s->id);
	_cleanup_free_ char *pattern = NULL;

	if (!name || !id)
		return -ENOMEM;
	if (!section) {
		fprintf(f, "secret %s (%s): not governed: no section matches; its tags are never touched\n",
		        name, id);
		return 0;
	}
	pattern = escape_for_log(section->pattern);
	if (!pattern)
		return -ENOMEM;
	fprintf(f, "secret %s (%s): governed by [%s \"%s\"] at %s:%u\n", name, id,
	        section->is_glob ? "secrets" : "secret", pattern, path, section->line);
	return 0;
}

/* What an exemption or a grace period does to judgement J, as a tail of
 * an explain line ("" when nothing); NULL on ENOMEM. */
static char *judgement_hold_text(const struct judgement *j, uint64_t now, const char *path)
{
	struct plan_item it = {
		.decided_usec = now, .grace_usec = j->grace,
		.first_seen_usec = j->first_seen, .due_usec = j->due,
	};
	_cleanup_free_ char *name = NULL;
	char when[32];

	if (j->exemption && j->expired) {
		name = escape_for_log(j->exemption->name);
		return name ? xasprintf("; exemption \"%s\" at %s:%u expired %s", name, path, j->exemption->line,
		                        format_utc_time(when, sizeof(when), j->exemption->expires_usec)) : NULL;
	}
	if (j->exemption) {
		it.exemption_line = j->exemption->line;
		it.exemption_name = j->exemption->name;
		it.exemption_reason = j->exemption->reason;
		it.exemption_expires_usec = j->exemption->expires_usec;
	}
	name = item_hold_text(path, &it);
	return name ? xasprintf("; %s", name) : j->verdict == VERDICT_DELETE ? strdup("") : NULL;
}

static int explain_tag(const struct config *c, const struct plan_time *pt, const struct section *section,
                       const struct secret *s, const struct tag *t, bool skipped,
                       const char *path, size_t width, FILE *f)
{
	static const char *const verbs[] = {
		[VERDICT_KEEP] = "keep", [VERDICT_EXEMPT] = "exempt",
		[VERDICT_WAIT] = "wait", [VERDICT_DELETE] = "delete",
	};
	struct judgement j;
	_cleanup_free_ char *text = tag_text(t), *why = NULL, *hold = NULL;

	judge(c, section, s, t, pt->now_usec, pt->clocks, &j);
	why = decision_text(c, &j.d, path, t);
	hold = j.verdict == VERDICT_KEEP ? strdup("") : judgement_hold_text(&j, pt->now_usec, path);
	if (!text || !why || !hold)
		return -ENOMEM;
	fprintf(f, "  %-6s  ", j.d.delete && skipped ? "skip" : verbs[j.verdict]);
	print_padded(f, text, width);
	fprintf(f, "  %s%s\n", why, hold);
	return 0;
}

static int explain_required(const struct section *section, const struct secret *s, const char *path,
                            FILE *f)
{
	struct plan_requirement req;
	_cleanup_free_ char *missing = NULL, *invalid = NULL;
	int r = check_required(section, s, &req);

	if (r >= 0 && req.missing && !(missing = escape_for_log(req.missing)))
		r = -ENOMEM;
	if (r >= 0 && req.invalid && !(invalid = escape_for_log(req.invalid)))
		r = -ENOMEM;
	if (r >= 0 && (missing || invalid))
		fprintf(f, "  required (%s:%u): %s%s%s%s%s (reported, never created)\n", path, req.required_line,
		        missing ? "missing " : "", missing ? missing : "", missing && invalid ? "; " : "",
		        invalid ? "value not allowed " : "", invalid ? invalid : "");
	free(req.missing);
	free(req.invalid);
	return r;
}

static int explain_sys_tags(const struct secret *s, size_t width, FILE *f)
{
	for (size_t i = 0; i < s->sys_tags.n; i++) {
		_cleanup_free_ char *text = tag_text(&s->sys_tags.items[i]);

		if (!text)
			return -ENOMEM;
		fputs("  system  ", f);
		print_padded(f, text, width);
		fputs("  in sys_tags; never touched\n", f);
	}
	return 0;
}

/* Widen *WIDTH to the widest "KEY=VALUE" of L, so the verdicts line up. */
static int tags_width(const struct tag_list *l, size_t *width)
{
	for (size_t i = 0; i < l->n; i++) {
		_cleanup_free_ char *text = tag_text(&l->items[i]);

		if (!text)
			return -ENOMEM;
		if (text_width(text) > *width)
			*width = text_width(text);
	}
	return 0;
}

static int explain_secret(const struct config *c, const struct plan_time *pt, const struct secret *s,
                          const char *path, FILE *f)
{
	const struct section *section = config_section_for(c, str_or_empty(s->name));
	const char *skip = section ? secret_skip_reason(s) : NULL;
	_cleanup_free_ const struct tag **tags = NULL;
	size_t width = 0;
	int r;

	if (tags_width(&s->tags, &width) < 0 || tags_width(&s->sys_tags, &width) < 0)
		return -ENOMEM;
	if (s->tags.n > 0) {
		tags = calloc(s->tags.n, sizeof(*tags));
		if (!tags)
			return -ENOMEM;
		for (size_t i = 0; i < s->tags.n; i++)
			tags[i] = &s->tags.items[i];
		qsort(tags, s->tags.n, sizeof(*tags), tag_ptr_cmp);
	}

	r = explain_header(section, s, path, f);
	if (r < 0)
		return r;
	if (skip)
		fprintf(f, "  skipped: %s\n", skip);
	if (s->tags.n == 0)
		fputs("  (no tags)\n", f);
	for (size_t i = 0; i < s->tags.n; i++) {
		r = explain_tag(c, pt, section, s, tags[i], skip != NULL, path, width, f);
		if (r < 0)
			return r;
	}
	if (section && !skip) {
		r = explain_required(section, s, path, f);
		if (r < 0)
			return r;
	}
	return explain_sys_tags(s, width, f);
}

int plan_explain(const struct config *c, const struct observation *o, const struct plan_time *t,
                 const char *name, FILE *f)
{
	const struct plan_time now = { .now_usec = now_realtime_usec() };
	_cleanup_free_ const struct secret **order = sorted_secrets(o);
	_cleanup_free_ char *path = escape_for_log(str_or_empty(c->path));
	bool found = false;
	int r;

	if ((o->n > 0 && !order) || !path)
		return -ENOMEM;
	/* CSMS names are unique, but a hand-made observation may repeat one:
	 * explain every secret of that name rather than pick one silently. */
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(str_or_empty(order[i]->name), name) != 0)
			continue;
		if (found)
			fputc('\n', f);
		found = true;
		r = explain_secret(c, t ? t : &now, order[i], path, f);
		if (r < 0)
			return r;
	}
	return found ? 0 : -ENOENT;
}
