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
 * format 0.0.4). */
static void put_label(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* The text being written, and the labels every series starts with:
 * instance, project and region, so that the files of several instances
 * (or hosts) collected together never make two series the same. */
struct prom {
	FILE *f;
	char *id;
};

static int prom_open(struct prom *p, char **buf, size_t *len, const struct metrics_snapshot *s)
{
	size_t n = 0;
	FILE *f = open_memstream(&p->id, &n);

	if (!f)
		return -ENOMEM;
	fputs("instance=\"", f);
	put_label(f, s->instance);
	fputs("\",project=\"", f);
	put_label(f, s->project_id);
	fputs("\",region=\"", f);
	put_label(f, s->region);
	fputc('"', f);
	if (fclose(f) != 0)
		return -ENOMEM;
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

static void put_gauge_seconds(struct prom *p, const char *name, const char *help, uint64_t usec)
{
	put_head(p, name, "gauge", help);
	fprintf(p->f, "csms_tagd_%s{%s} %" PRIu64 ".%06" PRIu64 "\n", name, p->id,
	        usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

static void put_gauge(struct prom *p, const char *name, const char *help, uint64_t v)
{
	put_head(p, name, "gauge", help);
	put_sample(p, name, NULL, NULL, v);
}

static void put_counts(struct prom *p, const char *name, const char *help, const char *label,
                       const char *label2, const struct metrics_counts *c)
{
	put_head(p, name, "counter", help);
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

/* The figures of counts.h, a family head before each new metric. */
static void put_pass_counts(struct prom *p, const struct pass_counts *c)
{
	for (size_t i = 0; i < n_count_figures; i++) {
		const struct count_figure *f = &count_figures[i];

		if (i == 0 || strcmp(f->metric, count_figures[i - 1].metric) != 0)
			put_head(p, f->metric, "gauge", f->help);
		put_sample(p, f->metric, f->label, f->label_value, count_value(c, f));
	}
}

static void put_last_pass(struct prom *p, const struct metrics_snapshot *s)
{
	put_gauge_seconds(p, "last_pass_timestamp_seconds", "When the last reconcile pass ended.",
	                  s->pass_finished_usec);
	put_gauge_seconds(p, "last_pass_duration_seconds", "How long the last reconcile pass took.",
	                  s->pass_duration_usec);
	put_gauge(p, "last_pass_success", "1 when the last pass converged or did all it planned, else 0.",
	          pass_outcome_is_success(s->outcome));
	put_pass_counts(p, &s->counts);
}

int metrics_format_prometheus(const struct metrics_snapshot *s, char **ret)
{
	struct prom p = {};
	char *buf = NULL;
	size_t len = 0;
	int r = prom_open(&p, &buf, &len, s);

	if (r < 0) {
		free(p.id);
		return r;
	}
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

	if (s->outcome != PASS_NONE)
		put_last_pass(&p, s);
	if (s->last_success_usec)
		put_gauge_seconds(&p, "last_success_timestamp_seconds",
		                  "When the last successful pass ended.", s->last_success_usec);
	if (s->next_pass_usec)
		put_gauge_seconds(&p, "next_pass_timestamp_seconds", "When the next pass is due.",
		                  s->next_pass_usec);

	put_head(&p, "passes_total", "counter", "Reconcile passes since the daemon started, by outcome.");
	for (int o = PASS_CONVERGED; o < _PASS_OUTCOME_MAX; o++)
		put_sample(&p, "passes_total", "outcome", pass_outcome_to_string(o), s->passes_total[o]);
	put_counts(&p, "tags_deleted_total",
	           "Tags deleted since the daemon started, by rule (section and key glob; never a dry run's).",
	           "rule", NULL, &s->deleted_by_rule);
	put_counts(&p, "requests_total", "API requests since the daemon started.",
	           "api", NULL, &s->requests_by_api);
	put_counts(&p, "request_errors_total", "Failed API requests since the daemon started.",
	           "api", "code", &s->errors_by_api_code);

	if (s->config_loaded_usec)
		put_gauge_seconds(&p, "config_load_timestamp_seconds",
		                  "When the configuration was last loaded or rejected.",
		                  s->config_loaded_usec);
	put_gauge(&p, "config_load_success",
	          "1 when the last configuration load or reload succeeded; 0 after a rejected one.",
	          s->config_ok);
	if (s->credentials_expiry_usec)
		put_gauge_seconds(&p, "credentials_expiry_timestamp_seconds",
		                  "When the token or temporary keys in use expire.",
		                  s->credentials_expiry_usec);
	put_head(&p, "journal_write_failures_total", "counter",
	         "Log records that could not be written (journald refused them).");
	put_sample(&p, "journal_write_failures_total", NULL, NULL, s->journal_write_failures);
	free(p.id);
	if (fclose(p.f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
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

int metrics_format_state(const struct metrics_snapshot *s, char **ret)
{
	json_t *root = json_object(), *passes = json_object();
	char *text = NULL;
	int r = root && passes ? 0 : -ENOMEM;

	for (int o = PASS_CONVERGED; r >= 0 && o < _PASS_OUTCOME_MAX; o++)
		r = set_new(passes, pass_outcome_to_string(o), json_integer((json_int_t) s->passes_total[o]));
	if (r >= 0)
		r = set_new(root, "format", json_string(METRICS_STATE_FORMAT));
	if (r >= 0) r = set_new(root, "instance", string_or_null(s->instance));
	if (r >= 0) r = set_new(root, "project_id", string_or_null(s->project_id));
	if (r >= 0) r = set_new(root, "region", string_or_null(s->region));
	if (r >= 0) r = set_new(root, "up", json_boolean(s->up));
	if (r >= 0) r = set_new(root, "pid", json_integer((json_int_t) s->pid));
	if (r >= 0) r = set_new(root, "written", time_or_null(s->written_usec));
	if (r >= 0) r = set_new(root, "version", string_or_null(s->version));
	if (r >= 0) r = set_new(root, "auth_method", string_or_null(s->auth_method));
	if (r >= 0) r = set_new(root, "dry_run", json_boolean(s->dry_run));
	if (r >= 0) r = set_new(root, "pass_id", string_or_null(s->pass_id));
	if (r >= 0) r = set_new(root, "outcome", json_string(pass_outcome_to_string(s->outcome)));
	if (r >= 0) r = set_new(root, "error", string_or_null(s->error));
	if (r >= 0) r = set_new(root, "pass_started", time_or_null(s->pass_started_usec));
	if (r >= 0) r = set_new(root, "pass_finished", time_or_null(s->pass_finished_usec));
	if (r >= 0) r = set_new(root, "pass_duration_usec", json_integer((json_int_t) s->pass_duration_usec));
	if (r >= 0) r = set_new(root, "pass_dry_run", json_boolean(s->pass_dry_run));
	for (size_t i = 0; r >= 0 && i < n_count_figures; i++)
		r = set_new(root, count_figures[i].key,
		            json_integer((json_int_t) count_value(&s->counts, &count_figures[i])));
	if (r >= 0) r = set_new(root, "last_success", time_or_null(s->last_success_usec));
	if (r >= 0) r = set_new(root, "next_pass", time_or_null(s->next_pass_usec));
	if (r >= 0) r = set_new(root, "passes_total", json_incref(passes));
	if (r >= 0) r = set_new(root, "deleted_by_rule", counts_to_json(&s->deleted_by_rule));
	if (r >= 0) r = set_new(root, "requests_by_api", counts_to_json(&s->requests_by_api));
	if (r >= 0) r = set_new(root, "errors_by_api_code", counts_to_json(&s->errors_by_api_code));
	if (r >= 0) r = set_new(root, "config_path", string_or_null(s->config_path));
	if (r >= 0) r = set_new(root, "config_loaded", time_or_null(s->config_loaded_usec));
	if (r >= 0) r = set_new(root, "config_ok", json_boolean(s->config_ok));
	if (r >= 0) r = set_new(root, "config_error", string_or_null(s->config_error));
	if (r >= 0) r = set_new(root, "credentials_expiry", time_or_null(s->credentials_expiry_usec));
	if (r >= 0) r = set_new(root, "journal_write_failures", json_integer((json_int_t) s->journal_write_failures));
	if (r >= 0) {
		char *dump = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		text = dump ? xasprintf("%s\n", dump) : NULL;
		free(dump);
		r = text ? 0 : -ENOMEM;
	}
	json_decref(passes);
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
