/* metrics.c - the Prometheus text file, the JSON state file, and --status. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"
#include "timefmt.h"
#include "util.h"

int metrics_tally_add(struct metrics_tally *t, const char *key, const char *key2, uint64_t n)
{
	struct metrics_count *grown, *c;

	for (size_t i = 0; i < t->n; i++)
		if (streq_ptr(t->items[i].key, key) && streq_ptr(t->items[i].key2, key2)) {
			t->items[i].value += n;
			return 0;
		}
	grown = realloc(t->items, (t->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	t->items = grown;
	c = &t->items[t->n];
	*c = (struct metrics_count) { .key = strdup(key), .key2 = key2 ? strdup(key2) : NULL, .value = n };
	if (!c->key || (key2 && !c->key2)) {
		free((char *) c->key);
		free((char *) c->key2);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

void metrics_tally_clear(struct metrics_tally *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free((char *) t->items[i].key);
		free((char *) t->items[i].key2);
	}
	free(t->items);
	*t = (struct metrics_tally) {};
}

/* --- Prometheus text ------------------------------------------------------------ */

/* Label values: backslash, double quote and newline escaped (exposition
 * format 0.0.4), and a byte that is not part of valid UTF-8 (an account or
 * project name as a server gave it) written as U+FFFD: the format is UTF-8,
 * and a parser that meets invalid bytes drops the whole file. */
static size_t utf8_valid_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)      /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void put_label(FILE *f, const char *v)
{
	for (const unsigned char *p = (const unsigned char *) v; p && *p;) {
		size_t n = utf8_valid_len(p);

		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (n == 0)
			fputs("\xef\xbf\xbd", f);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
}

/* The text being written, and the labels a series starts with, ID: in
 * single-target mode instance, project and region, so that the files of
 * several instances (or hosts) collected together never make two series
 * the same; with targets, for the process's families the instance only,
 * for the others TARGET_IDS[i] of the I-th target (instance, account,
 * region, project, target). */
struct prom {
	FILE *f;
	const char *id;
	char *process_id;
	char **target_ids;
	size_t n_targets;
};

static void prom_close(struct prom *p)
{
	for (size_t i = 0; p->target_ids && i < p->n_targets; i++)
		free(p->target_ids[i]);
	free(p->target_ids);
	free(p->process_id);
}

/* The labels LABELS[0..N) = VALUES[0..N), as written inside the braces. */
static char *labels_text(const char *const *labels, const char *const *values, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", labels[i]);
		put_label(f, values[i]);
		fputc('"', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int prom_open(struct prom *p, char **buf, size_t *len, const struct metrics_snapshot *s)
{
	static const char *const single[] = { "instance", "project", "region" };
	static const char *const target[] = { "instance", "account", "region", "project", "target" };

	if (!s->targets) {
		const char *v[] = { s->instance, s->project_id, s->region };

		p->process_id = labels_text(single, v, ELEMENTSOF(v));
	} else {
		p->process_id = labels_text(single, &s->instance, 1);
		p->target_ids = calloc(s->n_targets + 1, sizeof(*p->target_ids));
		if (!p->target_ids)
			return -ENOMEM;
		p->n_targets = s->n_targets;
		/* Built once each: the per-target families reuse them. */
		for (size_t i = 0; i < s->n_targets; i++) {
			const struct metrics_snapshot *t = &s->targets[i];
			const char *v[] = { s->instance, account_label(t->account_id, t->account_name), t->region,
			                    t->project_id, t->target_name };

			p->target_ids[i] = labels_text(target, v, ELEMENTSOF(v));
			if (!p->target_ids[i])
				return -ENOMEM;
		}
	}
	if (!p->process_id)
		return -ENOMEM;
	p->id = p->process_id;
	p->f = open_memstream(buf, len);
	return p->f ? 0 : -ENOMEM;
}

static void put_head(struct prom *p, const char *name, const char *type, const char *help)
{
	fprintf(p->f, "# HELP csms_tagd_%s %s\n# TYPE csms_tagd_%s %s\n", name, help, name, type);
}

/* One sample; LABEL="VALUE" after the common ones when LABEL is set. */
static void put_sample(struct prom *p, const char *name, const char *label, const char *value,
                       uint64_t v)
{
	fprintf(p->f, "csms_tagd_%s{%s", name, p->id);
	if (label) {
		fprintf(p->f, ",%s=\"", label);
		put_label(p->f, value);
		fputc('"', p->f);
	}
	fprintf(p->f, "} %" PRIu64 "\n", v);
}

static void put_seconds_sample(struct prom *p, const char *name, uint64_t usec)
{
	fprintf(p->f, "csms_tagd_%s{%s} %" PRIu64 ".%06" PRIu64 "\n", name, p->id,
	        usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

static void put_gauge_seconds(struct prom *p, const char *name, const char *help, uint64_t usec)
{
	put_head(p, name, "gauge", help);
	put_seconds_sample(p, name, usec);
}

static void put_gauge(struct prom *p, const char *name, const char *help, uint64_t v)
{
	put_head(p, name, "gauge", help);
	put_sample(p, name, NULL, NULL, v);
}

static void put_count_samples(struct prom *p, const char *name, const char *label, const char *label2,
                              const struct metrics_counts *c)
{
	for (size_t i = 0; i < c->n; i++) {
		fprintf(p->f, "csms_tagd_%s{%s,%s=\"", name, p->id, label);
		put_label(p->f, c->items[i].key);
		if (label2) {
			fprintf(p->f, "\",%s=\"", label2);
			put_label(p->f, c->items[i].key2);
		}
		fprintf(p->f, "\"} %" PRIu64 "\n", c->items[i].value);
	}
}

/* A family whose samples are a snapshot's own: once for S in single-target
 * mode, once per target with targets.  HAS (NULL: always) says whether a
 * snapshot has samples in it; without any, the family is left out
 * (HELP and TYPE too) when it has a HAS. */
struct family {
	const char *name, *type, *help;
	bool (*has)(const struct metrics_snapshot *s);
	void (*samples)(struct prom *p, const struct family *fam, const struct metrics_snapshot *s);
	const struct count_figure *figure;      /* figure_samples(): the first of the metric */
	size_t offset;                          /* time_ and counts_samples(): the field */
};

static void put_family(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	bool headed = false;

	if (!s->targets) {
		if (!fam->has || fam->has(s)) {
			put_head(p, fam->name, fam->type, fam->help);
			fam->samples(p, fam, s);
		}
		return;
	}
	for (size_t i = 0; i < s->n_targets; i++) {
		if (fam->has && !fam->has(&s->targets[i]))
			continue;
		if (!headed)
			put_head(p, fam->name, fam->type, fam->help);
		headed = true;
		p->id = p->target_ids[i];
		fam->samples(p, fam, &s->targets[i]);
	}
	p->id = p->process_id;
	if (!headed && !fam->has)
		put_head(p, fam->name, fam->type, fam->help);
}

static bool has_pass(const struct metrics_snapshot *s) { return s->outcome != PASS_NONE; }
static bool has_success(const struct metrics_snapshot *s) { return s->last_success_usec != 0; }
static bool has_next(const struct metrics_snapshot *s) { return s->next_pass_usec != 0; }
static bool has_expiry(const struct metrics_snapshot *s) { return s->credentials_expiry_usec != 0; }

static void time_samples(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	put_seconds_sample(p, fam->name, *(const uint64_t *) ((const char *) s + fam->offset));
}

#define TIME_FAMILY(metric, help_, has_, field)                                                  \
	(struct family) { .name = metric, .type = "gauge", .help = help_, .has = has_,           \
	                  .samples = time_samples,                                                 \
	                  .offset = offsetof(struct metrics_snapshot, field) }

static void success_samples(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	put_sample(p, fam->name, NULL, NULL, pass_outcome_is_success(s->outcome));
}

/* The figures of counts.h of one metric, up to the first of another. */
static void figure_samples(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	const struct count_figure *first = fam->figure, *end = count_figures + n_count_figures;

	for (const struct count_figure *f = first; f < end && streq_ptr(f->metric, first->metric); f++)
		put_sample(p, f->metric, f->label, f->label_value, count_value(&s->counts, f));
}

static void passes_samples(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	for (int o = PASS_CONVERGED; o < _PASS_OUTCOME_MAX; o++)
		put_sample(p, fam->name, "outcome", pass_outcome_to_string(o), s->passes_total[o]);
}

/* OFFSET: of the struct metrics_counts in the snapshot; the label names
 * follow from it. */
static void counts_samples(struct prom *p, const struct family *fam, const struct metrics_snapshot *s)
{
	size_t off = fam->offset;
	const struct metrics_counts *c = (const struct metrics_counts *) ((const char *) s + off);

	if (off == offsetof(struct metrics_snapshot, deleted_by_rule))
		put_count_samples(p, fam->name, "rule", NULL, c);
	else if (off == offsetof(struct metrics_snapshot, requests_by_api))
		put_count_samples(p, fam->name, "api", NULL, c);
	else
		put_count_samples(p, fam->name, "api", "code", c);
}

#define COUNTS_FAMILY(metric, help_, field)                                                      \
	(struct family) { .name = metric, .type = "counter", .help = help_,                     \
	                  .samples = counts_samples,                                               \
	                  .offset = offsetof(struct metrics_snapshot, field) }

/* The last pass: its times, success and the figures of counts.h, a family
 * each metric. */
static void put_last_pass(struct prom *p, const struct metrics_snapshot *s)
{
	put_family(p, &TIME_FAMILY("last_pass_timestamp_seconds", "When the last reconcile pass ended.",
	                           has_pass, pass_finished_usec), s);
	put_family(p, &TIME_FAMILY("last_pass_duration_seconds", "How long the last reconcile pass took.",
	                           has_pass, pass_duration_usec), s);
	put_family(p, &(struct family) { .name = "last_pass_success", .type = "gauge",
	                                 .help = "1 when the last pass converged or did all it planned, else 0.",
	                                 .has = has_pass, .samples = success_samples }, s);
	for (size_t i = 0; i < n_count_figures; i++) {
		const struct count_figure *f = &count_figures[i];

		if (i == 0 || strcmp(f->metric, count_figures[i - 1].metric) != 0)
			put_family(p, &(struct family) { .name = f->metric, .type = "gauge", .help = f->help,
			                                 .has = has_pass, .samples = figure_samples,
			                                 .figure = f }, s);
	}
}

static int put_target_states(struct prom *p, const struct metrics_snapshot *s)
{
	_cleanup_free_ struct metrics_count *c = NULL;
	size_t n;
	int r = metrics_target_states(s, &c, &n);

	if (r < 0)
		return r;
	put_head(p, "targets", "gauge", "Targets governed, by state.");
	for (size_t i = 0; i < n; i++)
		put_sample(p, "targets", "state", c[i].key, c[i].value);
	return 0;
}

int metrics_format_prometheus(const struct metrics_snapshot *s, char **ret)
{
	struct prom p = {};
	char *buf = NULL;
	size_t len = 0;
	int r = prom_open(&p, &buf, &len, s);

	if (r < 0)
		goto fail;
	put_gauge(&p, "up", "1 while the daemon runs; 0 written as it stops.", s->up);
	put_gauge_seconds(&p, "last_write_timestamp_seconds",
	                  "When the daemon last wrote this file: alert when it is older than the interval.",
	                  s->written_usec);
	put_head(&p, "info", "gauge", "csms-tagd version, authentication method and dry-run mode.");
	fprintf(p.f, "csms_tagd_info{%s,version=\"", p.id);
	put_label(p.f, s->version);
	fputs("\",auth_method=\"", p.f);
	put_label(p.f, s->auth_method);
	fprintf(p.f, "\",dry_run=\"%s\"} 1\n", s->dry_run ? "yes" : "no");
	if (s->targets && (r = put_target_states(&p, s)) < 0)
		goto fail;

	put_last_pass(&p, s);
	put_family(&p, &TIME_FAMILY("last_success_timestamp_seconds", "When the last successful pass ended.",
	                            has_success, last_success_usec), s);
	put_family(&p, &TIME_FAMILY("next_pass_timestamp_seconds", "When the next pass is due.",
	                            has_next, next_pass_usec), s);
	put_family(&p, &(struct family) { .name = "passes_total", .type = "counter",
	                                  .help = "Reconcile passes since the daemon started, by outcome.",
	                                  .samples = passes_samples }, s);
	put_family(&p, &COUNTS_FAMILY("tags_deleted_total",
	           "Tags deleted since the daemon started, by rule (section and key glob; never a dry run's).",
	           deleted_by_rule), s);
	put_family(&p, &COUNTS_FAMILY("requests_total", "API requests since the daemon started.",
	                              requests_by_api), s);
	put_family(&p, &COUNTS_FAMILY("request_errors_total", "Failed API requests since the daemon started.",
	                              errors_by_api_code), s);

	if (s->config_loaded_usec)
		put_gauge_seconds(&p, "config_load_timestamp_seconds",
		                  "When the configuration was last loaded or rejected.",
		                  s->config_loaded_usec);
	put_gauge(&p, "config_load_success",
	          "1 when the last configuration load or reload succeeded; 0 after a rejected one.",
	          s->config_ok);
	put_family(&p, &TIME_FAMILY("credentials_expiry_timestamp_seconds",
	                            "When the token or temporary keys in use expire.",
	                            has_expiry, credentials_expiry_usec), s);
	put_head(&p, "journal_write_failures_total", "counter",
	         "Log records that could not be written (journald refused them).");
	put_sample(&p, "journal_write_failures_total", NULL, NULL, s->journal_write_failures);
	prom_close(&p);
	if (fclose(p.f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
fail:
	prom_close(&p);
	if (p.f)
		fclose(p.f);
	free(buf);
	return r < 0 ? r : -ENOMEM;
}

/* --- the state file: write ----------------------------------------------------------- */

static int set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

/* "2026-11-29T21:31:05.123456Z" (timefmt.h), or null for "never". */
static json_t *time_or_null(uint64_t usec)
{
	char buf[FORMAT_RFC3339_MAX];
	const char *s;

	if (!usec)
		return json_null();
	s = format_rfc3339_time(buf, sizeof(buf), usec, true);
	return s ? json_string(s) : NULL;
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *counts_to_json(const struct metrics_counts *c)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->n; i++) {
		json_t *e = json_pack("{s:s, s:o, s:I}", "key", c->items[i].key,
		                      "key2", string_or_null(c->items[i].key2),
		                      "value", (json_int_t) c->items[i].value);

		if (!e || json_array_append_new(a, e) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The per-pass part of S, in the order of the file: the same members at
 * the top and in each target's object. */
static int pass_to_json(json_t *o, const struct metrics_snapshot *s)
{
	json_t *passes = json_object();
	int r = passes ? 0 : -ENOMEM;

	for (int i = PASS_CONVERGED; r >= 0 && i < _PASS_OUTCOME_MAX; i++)
		r = set_new(passes, pass_outcome_to_string(i), json_integer((json_int_t) s->passes_total[i]));
	if (r >= 0) r = set_new(o, "pass_id", string_or_null(s->pass_id));
	if (r >= 0) r = set_new(o, "outcome", json_string(pass_outcome_to_string(s->outcome)));
	if (r >= 0) r = set_new(o, "error", string_or_null(s->error));
	if (r >= 0) r = set_new(o, "pass_started", time_or_null(s->pass_started_usec));
	if (r >= 0) r = set_new(o, "pass_finished", time_or_null(s->pass_finished_usec));
	if (r >= 0) r = set_new(o, "pass_duration_usec", json_integer((json_int_t) s->pass_duration_usec));
	if (r >= 0) r = set_new(o, "pass_dry_run", json_boolean(s->pass_dry_run));
	for (size_t i = 0; r >= 0 && i < n_count_figures; i++)
		r = set_new(o, count_figures[i].key,
		            json_integer((json_int_t) count_value(&s->counts, &count_figures[i])));
	if (r >= 0) r = set_new(o, "last_success", time_or_null(s->last_success_usec));
	if (r >= 0) r = set_new(o, "next_pass", time_or_null(s->next_pass_usec));
	if (r >= 0) r = set_new(o, "passes_total", json_incref(passes));
	if (r >= 0) r = set_new(o, "deleted_by_rule", counts_to_json(&s->deleted_by_rule));
	if (r >= 0) r = set_new(o, "requests_by_api", counts_to_json(&s->requests_by_api));
	if (r >= 0) r = set_new(o, "errors_by_api_code", counts_to_json(&s->errors_by_api_code));
	json_decref(passes);
	return r;
}

/* A target's labels, written when set (a single-target snapshot has none,
 * and its file stays as it was). */
static int labels_to_json(json_t *o, const struct metrics_snapshot *s)
{
	int r = 0;

	if (r >= 0 && s->account_id) r = set_new(o, "account_id", json_string(s->account_id));
	if (r >= 0 && s->account_name) r = set_new(o, "account_name", json_string(s->account_name));
	if (r >= 0 && s->target_name) r = set_new(o, "target_name", json_string(s->target_name));
	if (r >= 0 && s->target_state) r = set_new(o, "target_state", json_string(s->target_state));
	return r;
}

static json_t *target_to_json(const struct metrics_snapshot *t)
{
	json_t *o = json_object();
	int r = o ? 0 : -ENOMEM;

	/* Name and place first: what a reader looks for. */
	if (r >= 0) r = set_new(o, "target", string_or_null(t->target_name));
	if (r >= 0) r = set_new(o, "account_id", string_or_null(t->account_id));
	if (r >= 0) r = set_new(o, "account_name", string_or_null(t->account_name));
	if (r >= 0) r = set_new(o, "region", string_or_null(t->region));
	if (r >= 0) r = set_new(o, "project_id", string_or_null(t->project_id));
	if (r >= 0) r = set_new(o, "state", string_or_null(t->target_state));
	if (r >= 0) r = pass_to_json(o, t);
	if (r >= 0) r = set_new(o, "credentials_expiry", time_or_null(t->credentials_expiry_usec));
	if (r < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *targets_to_json(const struct metrics_snapshot *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n_targets; i++)
		if (json_array_append_new(a, target_to_json(&s->targets[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int metrics_format_state(const struct metrics_snapshot *s, char **ret)
{
	json_t *root = json_object();
	char *text = NULL;
	int r = root ? 0 : -ENOMEM;

	if (r >= 0)
		r = set_new(root, "format", json_string(METRICS_STATE_FORMAT));
	if (r >= 0) r = set_new(root, "instance", string_or_null(s->instance));
	if (r >= 0) r = set_new(root, "project_id", string_or_null(s->project_id));
	if (r >= 0) r = set_new(root, "region", string_or_null(s->region));
	if (r >= 0) r = labels_to_json(root, s);
	if (r >= 0) r = set_new(root, "up", json_boolean(s->up));
	if (r >= 0) r = set_new(root, "pid", json_integer((json_int_t) s->pid));
	if (r >= 0) r = set_new(root, "written", time_or_null(s->written_usec));
	if (r >= 0) r = set_new(root, "version", string_or_null(s->version));
	if (r >= 0) r = set_new(root, "auth_method", string_or_null(s->auth_method));
	if (r >= 0) r = set_new(root, "dry_run", json_boolean(s->dry_run));
	if (r >= 0) r = pass_to_json(root, s);
	if (r >= 0) r = set_new(root, "config_path", string_or_null(s->config_path));
	if (r >= 0) r = set_new(root, "config_loaded", time_or_null(s->config_loaded_usec));
	if (r >= 0) r = set_new(root, "config_ok", json_boolean(s->config_ok));
	if (r >= 0) r = set_new(root, "config_error", string_or_null(s->config_error));
	if (r >= 0) r = set_new(root, "credentials_expiry", time_or_null(s->credentials_expiry_usec));
	if (r >= 0) r = set_new(root, "journal_write_failures", json_integer((json_int_t) s->journal_write_failures));
	if (r >= 0 && s->targets)
		r = set_new(root, "targets", targets_to_json(s));
	if (r >= 0) {
		char *dump = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		text = dump ? xasprintf("%s\n", dump) : NULL;
		free(dump);
		r = text ? 0 : -ENOMEM;
	}
	json_decref(root);
	if (r >= 0)
		*ret = text;
	return r;
}


int metrics_publish(const struct metrics_snapshot *s, const char *state_path,
                    const char *metrics_path, const char **failed_path)
{
	_cleanup_free_ char *state = NULL, *prom = NULL;
	int r, ret = 0;

	*failed_path = NULL;
	/* The error texts quote servers; the files are world-readable. */
	r = metrics_format_state(s, &state);
	if (r >= 0) {
		redact(state);
		r = write_file_atomic(state_path, state, strlen(state), 0644);
	}
	if (r < 0) {
		ret = r;
		*failed_path = state_path;
	}
	if (!metrics_path)
		return ret;
	r = metrics_format_prometheus(s, &prom);
	if (r >= 0) {
		redact(prom);
		r = write_file_atomic(metrics_path, prom, strlen(prom), 0644);
	}
	if (r < 0 && ret >= 0) {
		ret = r;
		*failed_path = metrics_path;
	}
	return ret;
}
