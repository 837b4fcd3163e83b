/* plan.c - the tags that should not exist, and how to show them.
 *
 * plan_compute() is the only place that turns policy decisions into work;
 * dry runs, real runs, --plan and --explain all see the same verdicts.
 */
#include "plan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

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
}

void plan_clear(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		plan_item_clear(&p->items[i]);
	free(p->items);
	free(p->config_path);
	memset(p, 0, sizeof(*p));
}

static int plan_add(struct plan *p, size_t *cap, const struct secret *s, const struct tag *t,
                    const struct decision *d)
{
	struct plan_item *it;

	if (p->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct plan_item *items = reallocarray(p->items, ncap, sizeof(*items));

		if (!items)
			return -ENOMEM;
		p->items = items;
		*cap = ncap;
	}
	it = &p->items[p->n];
	*it = (struct plan_item) {
		.secret_id = strdup(str_or_empty(s->id)),
		.secret_name = strdup(str_or_empty(s->name)),
		.key = strdup(t->key),
		.value = strdup(str_or_empty(t->value)),
		.reason = d->reason,
		.rule_line = d->rule ? d->rule->line : 0,
		.section_line = d->section->line,
	};
	if (!it->secret_id || !it->secret_name || !it->key || !it->value) {
		plan_item_clear(it);
		return -ENOMEM;
	}
	p->n++;
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

static int plan_secret(const struct config *c, const struct section *section,
                       const struct secret *s, struct plan *p, size_t *cap)
{
	for (size_t i = 0; i < s->tags.n; i++) {
		const struct tag *t = &s->tags.items[i];
		struct decision d = policy_decide(c, section, s, t);
		int r;

		p->n_tags++;
		if (!d.delete)
			continue;
		r = plan_add(p, cap, s, t, &d);
		if (r < 0)
			return r;
	}
	return 0;
}

int plan_compute(const struct config *c, const struct observation *o, struct plan *ret)
{
	struct plan p = { .n_secrets = o->n };
	const struct secret **order = NULL;
	size_t cap = 0;

	p.config_path = strdup(str_or_empty(c->path));
	if (!p.config_path)
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
		if (plan_secret(c, section, s, &p, &cap) < 0)
			goto fail;
	}
	if (p.n > 1)
		qsort(p.items, p.n, sizeof(p.items[0]), item_cmp);
	free(order);
	*ret = p;
	return 0;
fail:
	free(order);
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
	struct secret view;

	if (!now)
		return RECHECK_GONE;
	/* The state is not re-read: the item was planned for a secret that
	 * was not pending deletion, and a tag read is not a state read. */
	view = (struct secret) {
		.id = it->secret_id, .name = it->secret_name, .state = (char *) "",
		.tags = *tags, .sys_tags = *sys_tags, .tags_complete = true,
	};
	if (!policy_decide(c, config_section_for(c, it->secret_name), &view, now).delete)
		return RECHECK_KEEP;
	*ret_value = now->value;
	return RECHECK_DELETE;
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
	    json_set(o, "rule", json_text(plan_item_rule_ref(p, it, ref, sizeof(ref)))) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
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
	    json_set(o, "deletions", json_integer((json_int_t) p->n)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *plan_to_json(const struct plan *p)
{
	json_t *root = json_object(), *list = json_array();

	if (!root || !list)
		goto fail;
	for (size_t i = 0; i < p->n; i++)
		if (json_array_append_new(list, plan_item_to_json(p, &p->items[i])) < 0)
			goto fail;
	if (json_set(root, "summary", plan_summary_to_json(p)) < 0)
		goto fail;
	/* From here on ROOT owns LIST, even when setting it fails. */
	if (json_set(root, "deletions", list) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
fail:
	json_decref(list);
	json_decref(root);
	return NULL;
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

static int explain_tag(const struct config *c, const struct section *section,
                       const struct secret *s, const struct tag *t, bool skipped,
                       const char *path, size_t width, FILE *f)
{
	struct decision d = policy_decide(c, section, s, t);
	_cleanup_free_ char *text = tag_text(t), *why = decision_text(c, &d, path, t);
	const char *verb = !d.delete ? "keep" : skipped ? "skip" : "delete";

	if (!text || !why)
		return -ENOMEM;
	fprintf(f, "  %-6s  ", verb);
	print_padded(f, text, width);
	fprintf(f, "  %s\n", why);
	return 0;
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

static int explain_secret(const struct config *c, const struct secret *s, const char *path, FILE *f)
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
		r = explain_tag(c, section, s, tags[i], skip != NULL, path, width, f);
		if (r < 0)
			return r;
	}
	return explain_sys_tags(s, width, f);
}

int plan_explain(const struct config *c, const struct observation *o, const char *name, FILE *f)
{
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
		r = explain_secret(c, order[i], path, f);
		if (r < 0)
			return r;
	}
	return found ? 0 : -ENOENT;
}
