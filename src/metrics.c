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
#include "util.h"

#define STATE_MAX_BYTES (4u * 1024 * 1024)

static const char *const outcome_names[_METRICS_OUTCOME_MAX] = {
	[METRICS_NO_PASS] = "none",
	[METRICS_CONVERGED] = "converged",
	[METRICS_CHANGED] = "changed",
	[METRICS_PARTIAL] = "partial",
	[METRICS_FAILED] = "failed",
	[METRICS_ABORTED] = "aborted",
};

const char *metrics_outcome_to_string(enum metrics_outcome o)
{
	return (unsigned) o < _METRICS_OUTCOME_MAX ? outcome_names[o] : "unknown";
}

int metrics_outcome_from_string(const char *s)
{
	for (int i = 0; i < _METRICS_OUTCOME_MAX; i++)
		if (streq_ptr(s, outcome_names[i]))
			return i;
	return -EINVAL;
}

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

static bool outcome_is_success(enum metrics_outcome o)
{
	return o == METRICS_CONVERGED || o == METRICS_CHANGED;
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

static void put_seconds(FILE *f, uint64_t usec)
{
	fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

static void put_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP csms_tagd_%s %s\n# TYPE csms_tagd_%s %s\n", name, help, name, type);
}

static void put_gauge_seconds(FILE *f, const char *name, const char *help, uint64_t usec)
{
	put_head(f, name, "gauge", help);
	fprintf(f, "csms_tagd_%s ", name);
	put_seconds(f, usec);
}

static void put_gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	put_head(f, name, "gauge", help);
	fprintf(f, "csms_tagd_%s %" PRIu64 "\n", name, v);
}

static void put_counts(FILE *f, const char *name, const char *help, const char *label,
                       const char *label2, const struct metrics_counts *c)
{
	put_head(f, name, "counter", help);
	for (size_t i = 0; i < c->n; i++) {
		fprintf(f, "csms_tagd_%s{%s=\"", name, label);
		put_label(f, c->items[i].key);
		if (label2) {
			fprintf(f, "\",%s=\"", label2);
			put_label(f, c->items[i].key2);
		}
		fprintf(f, "\"} %" PRIu64 "\n", c->items[i].value);
	}
}

int metrics_format_prometheus(const struct metrics_snapshot *s, char **ret)
{
	static const char *const results[] = { "planned", "deleted", "kept", "failed", "held" };
	const uint64_t tags[] = { s->planned, s->deleted, s->kept, s->failed, s->held };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	put_head(f, "info", "gauge", "csms-tagd version, authentication method and dry-run mode.");
	fputs("csms_tagd_info{version=\"", f);
	put_label(f, s->version);
	fputs("\",auth_method=\"", f);
	put_label(f, s->auth_method);
	fprintf(f, "\",dry_run=\"%s\"} 1\n", s->dry_run ? "yes" : "no");

	if (s->outcome != METRICS_NO_PASS) {
		put_gauge_seconds(f, "last_pass_timestamp_seconds",
		                  "When the last reconcile pass ended.", s->pass_finished_usec);
		put_gauge_seconds(f, "last_pass_duration_seconds",
		                  "How long the last reconcile pass took.", s->pass_duration_usec);
		put_gauge(f, "last_pass_success",
		          "1 when the last pass converged or did all it planned, else 0.",
		          outcome_is_success(s->outcome));
		put_head(f, "last_pass_tags", "gauge",
		         "Tags of the last pass planned for deletion, by what became of them.");
		for (size_t i = 0; i < ELEMENTSOF(results); i++)
			fprintf(f, "csms_tagd_last_pass_tags{result=\"%s\"} %" PRIu64 "\n",
			        results[i], tags[i]);
		put_gauge(f, "governed_secrets", "Secrets governed by the configuration, last pass.",
		          s->governed_secrets);
		put_gauge(f, "noncompliant_tags", "Tags the policy does not allow, last pass.",
		          s->noncompliant_tags);
		put_head(f, "last_pass_governance_tags", "gauge",
		         "Unwanted tags of the last pass not deleted: grace period running, or kept by an exemption.");
		fprintf(f, "csms_tagd_last_pass_governance_tags{kind=\"waiting\"} %" PRIu64 "\n", s->waiting);
		fprintf(f, "csms_tagd_last_pass_governance_tags{kind=\"exempted\"} %" PRIu64 "\n", s->exempted);
		put_head(f, "last_pass_required_tags", "gauge",
		         "Required tags of the last pass missing, or present with a value not allowed (never created).");
		fprintf(f, "csms_tagd_last_pass_required_tags{state=\"missing\"} %" PRIu64 "\n", s->required_missing);
		fprintf(f, "csms_tagd_last_pass_required_tags{state=\"invalid\"} %" PRIu64 "\n", s->required_invalid);
		put_gauge(f, "last_pass_unused_exemptions", "Active exemptions that kept no tag, last pass.",
		          s->exemptions_unused);
	}
	if (s->last_success_usec)
		put_gauge_seconds(f, "last_success_timestamp_seconds",
		                  "When the last successful pass ended.", s->last_success_usec);
	if (s->next_pass_usec)
		put_gauge_seconds(f, "next_pass_timestamp_seconds", "When the next pass is due.",
		                  s->next_pass_usec);

	put_head(f, "passes_total", "counter", "Reconcile passes since the daemon started, by outcome.");
	for (int o = METRICS_CONVERGED; o < _METRICS_OUTCOME_MAX; o++)
		fprintf(f, "csms_tagd_passes_total{outcome=\"%s\"} %" PRIu64 "\n",
		        outcome_names[o], s->passes_total[o]);
	put_counts(f, "tags_deleted_total", "Tags deleted since the daemon started, by rule.",
	           "rule", NULL, &s->deleted_by_rule);
	put_counts(f, "requests_total", "API requests since the daemon started.",
	           "api", NULL, &s->requests_by_api);
	put_counts(f, "request_errors_total", "Failed API requests since the daemon started.",
	           "api", "code", &s->errors_by_api_code);

	if (s->config_loaded_usec)
		put_gauge_seconds(f, "config_load_timestamp_seconds",
		                  "When the configuration was last loaded or rejected.",
		                  s->config_loaded_usec);
	put_gauge(f, "config_load_success", "1 when the last configuration load succeeded.",
	          s->config_ok);
	if (s->credentials_expiry_usec)
		put_gauge_seconds(f, "credentials_expiry_timestamp_seconds",
		                  "When the token or temporary keys in use expire.",
		                  s->credentials_expiry_usec);
	put_head(f, "journal_write_failures_total", "counter",
	         "Log records that could not be written (journald refused them).");
	fprintf(f, "csms_tagd_journal_write_failures_total %" PRIu64 "\n", s->journal_write_failures);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

/* --- times ----------------------------------------------------------------------- */

/* "2026-11-29T21:31:05.123456Z" */
static char *format_rfc3339(uint64_t usec)
{
	time_t t = (time_t) (usec / USEC_PER_SEC);
	struct tm tm;
	char buf[32];

	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return NULL;
	return xasprintf("%s.%06" PRIu64 "Z", buf, usec % USEC_PER_SEC);
}

static int parse_rfc3339(const char *s, uint64_t *ret)
{
	struct tm tm = {};
	unsigned frac = 0;
	int n = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 || s[n] != '\0' ||
	    strlen(s) != 27)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret = (uint64_t) t * USEC_PER_SEC + frac;
	return 0;
}

/* --- the state file: write ----------------------------------------------------------- */

static int set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *time_or_null(uint64_t usec)
{
	_cleanup_free_ char *s = NULL;

	if (!usec)
		return json_null();
	s = format_rfc3339(usec);
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

	for (int o = METRICS_CONVERGED; r >= 0 && o < _METRICS_OUTCOME_MAX; o++)
		r = set_new(passes, outcome_names[o], json_integer((json_int_t) s->passes_total[o]));
	if (r >= 0)
		r = set_new(root, "format", json_string(METRICS_STATE_FORMAT));
	if (r >= 0) r = set_new(root, "version", string_or_null(s->version));
	if (r >= 0) r = set_new(root, "auth_method", string_or_null(s->auth_method));
	if (r >= 0) r = set_new(root, "dry_run", json_boolean(s->dry_run));
	if (r >= 0) r = set_new(root, "pass_id", string_or_null(s->pass_id));
	if (r >= 0) r = set_new(root, "outcome", json_string(metrics_outcome_to_string(s->outcome)));
	if (r >= 0) r = set_new(root, "error", string_or_null(s->error));
	if (r >= 0) r = set_new(root, "pass_started", time_or_null(s->pass_started_usec));
	if (r >= 0) r = set_new(root, "pass_finished", time_or_null(s->pass_finished_usec));
	if (r >= 0) r = set_new(root, "pass_duration_usec", json_integer((json_int_t) s->pass_duration_usec));
	if (r >= 0) r = set_new(root, "planned", json_integer((json_int_t) s->planned));
	if (r >= 0) r = set_new(root, "deleted", json_integer((json_int_t) s->deleted));
	if (r >= 0) r = set_new(root, "kept", json_integer((json_int_t) s->kept));
	if (r >= 0) r = set_new(root, "failed", json_integer((json_int_t) s->failed));
	if (r >= 0) r = set_new(root, "held", json_integer((json_int_t) s->held));
	if (r >= 0) r = set_new(root, "governed_secrets", json_integer((json_int_t) s->governed_secrets));
	if (r >= 0) r = set_new(root, "noncompliant_tags", json_integer((json_int_t) s->noncompliant_tags));
	if (r >= 0) r = set_new(root, "waiting", json_integer((json_int_t) s->waiting));
	if (r >= 0) r = set_new(root, "exempted", json_integer((json_int_t) s->exempted));
	if (r >= 0) r = set_new(root, "exemptions_unused", json_integer((json_int_t) s->exemptions_unused));
	if (r >= 0) r = set_new(root, "required_missing", json_integer((json_int_t) s->required_missing));
	if (r >= 0) r = set_new(root, "required_invalid", json_integer((json_int_t) s->required_invalid));
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

/* --- the state file: read ---------------------------------------------------------------- */

struct metrics_state {
	json_t *root;                   /* the strings below point into it */
	struct metrics_snapshot s;
	struct metrics_count *counts[3];
};

void metrics_state_free(struct metrics_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < ELEMENTSOF(st->counts); i++)
		free(st->counts[i]);
	json_decref(st->root);
	free(st);
}

const struct metrics_snapshot *metrics_state_snapshot(const struct metrics_state *st)
{
	return &st->s;
}

static int bad(char **error, const char *field, const char *what)
{
	*error = xasprintf("field \"%s\": %s", field, what);
	return -EBADMSG;
}

static int get_string(json_t *root, const char *key, bool nullable, const char **ret, char **error)
{
	json_t *v = json_object_get(root, key);

	if (nullable && json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return bad(error, key, nullable ? "not a string or null" : "not a string");
	*ret = json_string_value(v);
	return 0;
}

static int get_uint(json_t *root, const char *key, uint64_t *ret, char **error)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(error, key, "not a non-negative integer");
	*ret = (uint64_t) json_integer_value(v);
	return 0;
}

static int get_bool(json_t *root, const char *key, bool *ret, char **error)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_boolean(v))
		return bad(error, key, "not true or false");
	*ret = json_is_true(v);
	return 0;
}

static int get_time(json_t *root, const char *key, uint64_t *ret, char **error)
{
	const char *s;
	int r = get_string(root, key, true, &s, error);

	if (r < 0)
		return r;
	*ret = 0;
	if (s && parse_rfc3339(s, ret) < 0)
		return bad(error, key, "not a time like 2026-01-31T12:00:00.000000Z");
	return 0;
}

static int get_counts(json_t *root, const char *key, bool two, struct metrics_count **storage,
                      struct metrics_counts *ret, char **error)
{
	json_t *a = json_object_get(root, key), *e;
	size_t i;

	if (!json_is_array(a))
		return bad(error, key, "not an array");
	*storage = calloc(json_array_size(a) + 1, sizeof(**storage));
	if (!*storage)
		return -ENOMEM;
	json_array_foreach(a, i, e) {
		struct metrics_count *c = &(*storage)[i];
		int r;

		if (!json_is_object(e) ||
		    (r = get_string(e, "key", false, &c->key, error)) < 0 ||
		    (r = get_string(e, "key2", !two, &c->key2, error)) < 0 ||
		    (r = get_uint(e, "value", &c->value, error)) < 0) {
			free(*error);
			return bad(error, key, "entries need key, key2 and a count");
		}
	}
	*ret = (struct metrics_counts) { *storage, json_array_size(a) };
	return 0;
}

static int parse_snapshot(struct metrics_state *st, char **error)
{
	struct metrics_snapshot *s = &st->s;
	json_t *root = st->root, *passes;
	const char *format, *outcome;
	int r, o;

	if (!json_is_object(root))
		return bad(error, "(top)", "not a JSON object");
	if ((r = get_string(root, "format", false, &format, error)) < 0)
		return r;
	if (strcmp(format, METRICS_STATE_FORMAT) != 0)
		return bad(error, "format", "not " METRICS_STATE_FORMAT);
	if ((r = get_string(root, "version", true, &s->version, error)) < 0 ||
	    (r = get_string(root, "auth_method", true, &s->auth_method, error)) < 0 ||
	    (r = get_bool(root, "dry_run", &s->dry_run, error)) < 0 ||
	    (r = get_string(root, "pass_id", true, &s->pass_id, error)) < 0 ||
	    (r = get_string(root, "outcome", false, &outcome, error)) < 0 ||
	    (r = get_string(root, "error", true, &s->error, error)) < 0 ||
	    (r = get_time(root, "pass_started", &s->pass_started_usec, error)) < 0 ||
	    (r = get_time(root, "pass_finished", &s->pass_finished_usec, error)) < 0 ||
	    (r = get_uint(root, "pass_duration_usec", &s->pass_duration_usec, error)) < 0 ||
	    (r = get_uint(root, "planned", &s->planned, error)) < 0 ||
	    (r = get_uint(root, "deleted", &s->deleted, error)) < 0 ||
	    (r = get_uint(root, "kept", &s->kept, error)) < 0 ||
	    (r = get_uint(root, "failed", &s->failed, error)) < 0 ||
	    (r = get_uint(root, "held", &s->held, error)) < 0 ||
	    (r = get_uint(root, "governed_secrets", &s->governed_secrets, error)) < 0 ||
	    (r = get_uint(root, "noncompliant_tags", &s->noncompliant_tags, error)) < 0 ||
	    (r = get_uint(root, "waiting", &s->waiting, error)) < 0 ||
	    (r = get_uint(root, "exempted", &s->exempted, error)) < 0 ||
	    (r = get_uint(root, "exemptions_unused", &s->exemptions_unused, error)) < 0 ||
	    (r = get_uint(root, "required_missing", &s->required_missing, error)) < 0 ||
	    (r = get_uint(root, "required_invalid", &s->required_invalid, error)) < 0 ||
	    (r = get_time(root, "last_success", &s->last_success_usec, error)) < 0 ||
	    (r = get_time(root, "next_pass", &s->next_pass_usec, error)) < 0 ||
	    (r = get_counts(root, "deleted_by_rule", false, &st->counts[0], &s->deleted_by_rule, error)) < 0 ||
	    (r = get_counts(root, "requests_by_api", false, &st->counts[1], &s->requests_by_api, error)) < 0 ||
	    (r = get_counts(root, "errors_by_api_code", true, &st->counts[2], &s->errors_by_api_code, error)) < 0 ||
	    (r = get_string(root, "config_path", true, &s->config_path, error)) < 0 ||
	    (r = get_time(root, "config_loaded", &s->config_loaded_usec, error)) < 0 ||
	    (r = get_bool(root, "config_ok", &s->config_ok, error)) < 0 ||
	    (r = get_string(root, "config_error", true, &s->config_error, error)) < 0 ||
	    (r = get_time(root, "credentials_expiry", &s->credentials_expiry_usec, error)) < 0)
		return r;
	/* Absent from the state files of older versions. */
	if (json_object_get(root, "journal_write_failures") &&
	    (r = get_uint(root, "journal_write_failures", &s->journal_write_failures, error)) < 0)
		return r;
	o = metrics_outcome_from_string(outcome);
	if (o < 0)
		return bad(error, "outcome", "not an outcome csms-tagd writes");
	s->outcome = (enum metrics_outcome) o;
	passes = json_object_get(root, "passes_total");
	if (!json_is_object(passes))
		return bad(error, "passes_total", "not an object");
	for (o = METRICS_CONVERGED; o < _METRICS_OUTCOME_MAX; o++)
		if ((r = get_uint(passes, outcome_names[o], &s->passes_total[o], error)) < 0) {
			free(*error);
			return bad(error, "passes_total", "needs a count for every outcome");
		}
	return 0;
}

int metrics_state_parse(const char *text, struct metrics_state **ret, char **error)
{
	struct metrics_state *st;
	json_error_t jerr;
	int r;

	*error = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!st->root) {
		*error = xasprintf("line %d: %s", jerr.line, jerr.text);
		metrics_state_free(st);
		return -EBADMSG;
	}
	r = parse_snapshot(st, error);
	if (r < 0) {
		metrics_state_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

int metrics_state_read(const char *path, struct metrics_state **ret, char **error)
{
	_cleanup_free_ char *text = NULL, *why = NULL;
	size_t len;
	int r;

	*error = NULL;
	r = read_file(path, STATE_MAX_BYTES, &text, &len);
	if (r < 0) {
		*error = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	r = metrics_state_parse(text, ret, &why);
	if (r < 0)
		*error = xasprintf("%s: %s", path, why ? why : strerror(-r));
	return r;
}

/* --- the human view ---------------------------------------------------------------------- */

/* "2026-11-29 21:31:05 UTC (2min 3s ago)", or "never". */
static const char *when(char *buf, size_t size, uint64_t usec, uint64_t now)
{
	char date[FORMAT_UTC_MAX], span[64];

	if (!usec)
		return "never";
	format_utc(date, sizeof(date), usec);
	if (usec <= now)
		snprintf(buf, size, "%s (%s ago)", date, format_timespan(span, sizeof(span), now - usec));
	else
		snprintf(buf, size, "%s (in %s)", date, format_timespan(span, sizeof(span), usec - now));
	return buf;
}

static void print_counts(FILE *f, const char *title, const struct metrics_counts *c)
{
	if (c->n == 0) {
		fprintf(f, "%-17s: none\n", title);
		return;
	}
	for (size_t i = 0; i < c->n; i++)
		fprintf(f, "%-17s: %s%s%s %" PRIu64 "\n", i == 0 ? title : "", c->items[i].key,
		        c->items[i].key2 ? " " : "", c->items[i].key2 ? c->items[i].key2 : "",
		        c->items[i].value);
}

void metrics_print(const struct metrics_snapshot *s, uint64_t now, FILE *f)
{
	char a[128], span[64];

	fprintf(f, "%-17s: %s\n", "Version", s->version ? s->version : "?");
	fprintf(f, "%-17s: %s\n", "Last pass", s->pass_id ? s->pass_id : "none yet");
	if (s->outcome != METRICS_NO_PASS) {
		fprintf(f, "%-17s: %s%s\n", "Outcome", metrics_outcome_to_string(s->outcome),
		        s->dry_run ? " (dry run)" : "");
		if (s->error)
			fprintf(f, "%-17s: %s\n", "Error", s->error);
		fprintf(f, "%-17s: %s\n", "Finished", when(a, sizeof(a), s->pass_finished_usec, now));
		fprintf(f, "%-17s: %s\n", "Duration",
		        format_timespan(span, sizeof(span), s->pass_duration_usec));
		fprintf(f, "%-17s: %" PRIu64 " planned, %" PRIu64 " %s, %" PRIu64 " kept, %" PRIu64
		        " failed, %" PRIu64 " held\n", "Tags", s->planned, s->deleted,
		        s->dry_run ? "would be deleted" : "deleted", s->kept, s->failed, s->held);
		fprintf(f, "%-17s: %" PRIu64 " secrets, %" PRIu64 " non-compliant tags\n", "Governed",
		        s->governed_secrets, s->noncompliant_tags);
		if (s->waiting || s->exempted || s->exemptions_unused)
			fprintf(f, "%-17s: %" PRIu64 " waiting for their grace period, %" PRIu64
			        " exempted, %" PRIu64 " exemptions unused\n", "Not deleted",
			        s->waiting, s->exempted, s->exemptions_unused);
		if (s->required_missing || s->required_invalid)
			fprintf(f, "%-17s: %" PRIu64 " missing, %" PRIu64 " with a value not allowed\n",
			        "Required tags", s->required_missing, s->required_invalid);
	}
	fprintf(f, "%-17s: %s\n", "Last success", when(a, sizeof(a), s->last_success_usec, now));
	fprintf(f, "%-17s: %s\n", "Next pass",
	        s->next_pass_usec ? when(a, sizeof(a), s->next_pass_usec, now) : "not scheduled");
	fprintf(f, "%-17s:", "Passes");
	for (int o = METRICS_CONVERGED; o < _METRICS_OUTCOME_MAX; o++)
		fprintf(f, "%s %" PRIu64 " %s", o == METRICS_CONVERGED ? "" : ",", s->passes_total[o],
		        outcome_names[o]);
	fputc('\n', f);
	print_counts(f, "Deleted by rule", &s->deleted_by_rule);
	print_counts(f, "Requests", &s->requests_by_api);
	print_counts(f, "Errors", &s->errors_by_api_code);
	fprintf(f, "%-17s: %s\n", "Config", s->config_path ? s->config_path : "?");
	fprintf(f, "%-17s: %s, %s\n", "Config loaded", s->config_ok ? "ok" : "rejected",
	        when(a, sizeof(a), s->config_loaded_usec, now));
	if (s->config_error)
		fprintf(f, "%-17s: %s\n", "Config error", s->config_error);
	if (s->journal_write_failures)
		fprintf(f, "%-17s: %" PRIu64 " records could not be written\n", "Journal",
		        s->journal_write_failures);
	fprintf(f, "%-17s: %s, %s%s\n", "Credentials", s->auth_method ? s->auth_method : "?",
	        s->credentials_expiry_usec ? "expire " : "no expiry",
	        s->credentials_expiry_usec ? when(a, sizeof(a), s->credentials_expiry_usec, now) : "");
}
