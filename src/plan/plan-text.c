/* plan-text.c - a plan for people: the table of --plan and --explain's
 * account of one secret.  Every text from the cloud or the config is
 * escaped (escape_for_log()) so that it cannot break a line or a terminal.
 * See plan-view.h. */
#include "plan-view.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "strtable.h"
#include "util.h"
#include "values.h"

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
	if (n == 0)
		return;
	fprintf(f, "%s\n", title);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = escape_for_log(plan_file(p, v[i].exemption_file));
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
		_cleanup_free_ char *name = escape_for_log(q->secret_name), *raw = plan_requirement_text(q);
		_cleanup_free_ char *text = raw ? escape_for_log(raw) : NULL;

		fprintf(f, "  %s  %s  (%s:%u)\n", name ? name : "?", text ? text : "?",
		        plan_file(p, q->file), q->required_line);
	}
	fputc('\n', f);
}

static void print_unused(const struct plan *p, FILE *f)
{
	for (size_t i = 0; i < p->n_unused; i++) {
		_cleanup_free_ char *name = escape_for_log(p->unused[i].name);

		fprintf(f, "Exemption \"%s\" at %s:%u kept no tag: it matches no tag the rules would delete.\n",
		        name ? name : "?", plan_file(p, p->unused[i].file), p->unused[i].line);
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

/* ---- explain ----------------------------------------------------------- */

static const char *const verdict_table[] = {
	[VERDICT_KEEP] = "keep", [VERDICT_EXEMPT] = "exempt",
	[VERDICT_WAIT] = "wait", [VERDICT_DELETE] = "delete",
};
static STRING_TABLE_TO_STRING(verdict, enum verdict, "?")

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
static char *judgement_hold_text(const struct config *c, const struct judgement *j, uint64_t now)
{
	_cleanup_free_ char *path = j->exemption ? escape_for_log(config_file_name(c, j->exemption->file)) : NULL;
	struct plan_item it = {
		.decided_usec = now, .grace_usec = j->grace,
		.first_seen_usec = j->first_seen, .due_usec = j->due,
	};
	_cleanup_free_ char *name = NULL;
	char when[32];

	if (j->exemption && !path)
		return NULL;
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
	name = item_hold_text(path ? path : "", &it);
	return name ? xasprintf("; %s", name) : j->verdict == VERDICT_DELETE ? strdup("") : NULL;
}

static int explain_tag(const struct config *c, const struct plan_time *pt, const struct section *section,
                       const struct secret *s, const struct tag *t, bool skipped,
                       const char *path, size_t width, FILE *f)
{
	struct judgement j;
	_cleanup_free_ char *text = tag_text(t), *why = NULL, *hold = NULL;

	plan_judge(c, section, s, t, pt->now_usec, pt->clocks, &j);
	why = decision_text(c, &j.d, path, t);
	hold = j.verdict == VERDICT_KEEP ? strdup("") : judgement_hold_text(c, &j, pt->now_usec);
	if (!text || !why || !hold)
		return -ENOMEM;
	fprintf(f, "  %-6s  ", j.d.delete && skipped ? "skip" : verdict_to_string(j.verdict));
	print_padded(f, text, width);
	fprintf(f, "  %s%s\n", why, hold);
	return 0;
}

static int explain_required(const struct section *section, const struct secret *s, const char *path,
                            FILE *f)
{
	struct plan_requirement req;
	_cleanup_free_ char *raw = NULL, *text = NULL;
	int r = plan_check_required(section, s, &req);

	if (r >= 0 && (req.missing || req.invalid) &&
	    (!(raw = plan_requirement_text(&req)) || !(text = escape_for_log(raw))))
		r = -ENOMEM;
	if (r >= 0 && text)
		fprintf(f, "  required (%s:%u): %s (reported, never created)\n", path, req.required_line, text);
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
                          FILE *f)
{
	const struct section *section = config_section_for(c, plan_str(s->name));
	const char *skip = section ? plan_skip_reason(s) : NULL;
	_cleanup_free_ const struct tag **tags = NULL;
	_cleanup_free_ char *path = escape_for_log(section ? config_file_name(c, section->file) : "");
	size_t width = 0;
	int r;

	if (!path || tags_width(&s->tags, &width) < 0 || tags_width(&s->sys_tags, &width) < 0)
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
	_cleanup_free_ const struct secret **order = plan_sorted_secrets(o);
	bool found = false;
	int r;

	if (o->n > 0 && !order)
		return -ENOMEM;
	/* CSMS names are unique, but a hand-made observation may repeat one:
	 * explain every secret of that name rather than pick one silently. */
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(plan_str(order[i]->name), name) != 0)
			continue;
		if (found)
			fputc('\n', f);
		found = true;
		r = explain_secret(c, t ? t : &now, order[i], f);
		if (r < 0)
			return r;
	}
	return found ? 0 : -ENOENT;
}
