/* metrics-state.c - the state file read back, and its human view (--status). */
#include "metrics.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonget.h"
#include "timefmt.h"
#include "util.h"

#define STATE_MAX_BYTES (4u * 1024 * 1024)

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

/* Errors follow jsonget.h: "FIELD: message". */

static int get_string(json_t *root, const char *key, bool nullable, const char **ret, char **error)
{
	return jget_string(root, NULL, key, nullable ? JGET_OPTIONAL : JGET_PRESENT, STATE_MAX_BYTES,
	                   ret, error);
}

static int get_uint(json_t *root, const char *key, uint64_t *ret, char **error)
{
	return jget_uint(root, NULL, key, JGET_REQUIRED, ret, error);
}

static int get_bool(json_t *root, const char *key, bool *ret, char **error)
{
	return jget_bool(root, NULL, key, JGET_REQUIRED, ret, error);
}

/* An RFC 3339 time, or null for "never" (0). */
static int get_time(json_t *root, const char *key, uint64_t *ret, char **error)
{
	struct jget_path w = JGET_MEMBER(NULL, key);
	const char *s;
	int r = get_string(root, key, true, &s, error);

	if (r < 0)
		return r;
	*ret = 0;
	if (s && parse_rfc3339_time(s, ret) < 0)
		return jget_bad(error, &w, "expected a time like 2026-01-31T12:00:00.000000Z");
	return 0;
}

static int get_counts(json_t *root, const char *key, bool two, struct metrics_count **storage,
                      struct metrics_counts *ret, char **error)
{
	struct jget_path w = JGET_MEMBER(NULL, key);
	json_t *a, *e;
	size_t i;
	int r = jget_array(root, NULL, key, JGET_REQUIRED, &a, error);

	if (r < 0)
		return r;
	*storage = calloc(json_array_size(a) + 1, sizeof(**storage));
	if (!*storage)
		return -ENOMEM;
	json_array_foreach(a, i, e) {
		struct jget_path ew = JGET_ELEMENT(&w, i);
		struct metrics_count *c = &(*storage)[i];

		if (!json_is_object(e))
			return jget_bad(error, &ew, "expected an object with key, key2 and a count");
		if ((r = jget_string(e, &ew, "key", JGET_PRESENT, STATE_MAX_BYTES, &c->key, error)) < 0 ||
		    (r = jget_string(e, &ew, "key2", two ? JGET_PRESENT : JGET_OPTIONAL, STATE_MAX_BYTES,
		                     &c->key2, error)) < 0 ||
		    (r = jget_uint(e, &ew, "value", JGET_REQUIRED, &c->value, error)) < 0)
			return r;
	}
	*ret = (struct metrics_counts) { *storage, json_array_size(a) };
	return 0;
}

/* The fields added with instances (csms-tagd-state/1 stays: they are
 * optional, so that --status of a new version reads the file of a daemon
 * that still runs the old one, as during an upgrade). */
static int parse_instance_fields(json_t *root, struct metrics_snapshot *s, char **error)
{
	int r = 0;

	s->up = true;
	if ((r = get_string(root, "instance", true, &s->instance, error)) < 0 ||
	    (r = get_string(root, "project_id", true, &s->project_id, error)) < 0 ||
	    (r = get_string(root, "region", true, &s->region, error)) < 0 ||
	    (r = jget_bool(root, NULL, "up", JGET_OPTIONAL, &s->up, error)) < 0 ||
	    (r = jget_uint(root, NULL, "pid", JGET_OPTIONAL, &s->pid, error)) < 0 ||
	    (r = get_time(root, "written", &s->written_usec, error)) < 0 ||
	    (r = jget_bool(root, NULL, "pass_dry_run", JGET_OPTIONAL, &s->pass_dry_run, error)) < 0)
		return r;
	return 0;
}

/* The figures of counts.h. */
static int parse_pass_counts(json_t *root, struct pass_counts *c, char **error)
{
	for (size_t i = 0; i < n_count_figures; i++) {
		const struct count_figure *f = &count_figures[i];
		int r;

		r = jget_uint(root, NULL, f->key, f->flags & COUNT_OPTIONAL ? JGET_OPTIONAL : JGET_REQUIRED,
		              count_ptr(c, f), error);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_snapshot(struct metrics_state *st, char **error)
{
	struct metrics_snapshot *s = &st->s;
	json_t *root = st->root, *passes;
	const char *format, *outcome;
	int r, o;

	if ((r = get_string(root, "format", false, &format, error)) < 0)
		return r;
	if (strcmp(format, METRICS_STATE_FORMAT) != 0)
		return jget_bad(error, &JGET_MEMBER(NULL, "format"), "expected " METRICS_STATE_FORMAT);
	if ((r = parse_instance_fields(root, s, error)) < 0 ||
	    (r = get_string(root, "version", true, &s->version, error)) < 0 ||
	    (r = get_string(root, "auth_method", true, &s->auth_method, error)) < 0 ||
	    (r = get_bool(root, "dry_run", &s->dry_run, error)) < 0 ||
	    (r = get_string(root, "pass_id", true, &s->pass_id, error)) < 0 ||
	    (r = get_string(root, "outcome", false, &outcome, error)) < 0 ||
	    (r = get_string(root, "error", true, &s->error, error)) < 0 ||
	    (r = get_time(root, "pass_started", &s->pass_started_usec, error)) < 0 ||
	    (r = get_time(root, "pass_finished", &s->pass_finished_usec, error)) < 0 ||
	    (r = get_uint(root, "pass_duration_usec", &s->pass_duration_usec, error)) < 0 ||
	    (r = parse_pass_counts(root, &s->counts, error)) < 0 ||
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
	r = jget_uint(root, NULL, "journal_write_failures", JGET_OPTIONAL, &s->journal_write_failures, error);
	if (r < 0)
		return r;
	/* Older daemons counted a dry run's would-be deletions as deleted. */
	if (!json_object_get(root, "pass_dry_run") && s->dry_run) {
		s->pass_dry_run = true;
		s->counts.would_delete = s->counts.deleted;
		s->counts.deleted = 0;
	}
	o = pass_outcome_from_string(outcome);
	if (o < 0)
		return jget_bad(error, &JGET_MEMBER(NULL, "outcome"), "not an outcome csms-tagd writes");
	s->outcome = (enum pass_outcome) o;
	if ((r = jget_object(root, NULL, "passes_total", JGET_REQUIRED, &passes, error)) < 0)
		return r;
	for (o = PASS_CONVERGED; o < _PASS_OUTCOME_MAX; o++)
		if ((r = jget_uint(passes, &JGET_MEMBER(NULL, "passes_total"), pass_outcome_to_string(o),
		                   JGET_REQUIRED, &s->passes_total[o], error)) < 0)
			return r;
	return 0;
}

int metrics_state_parse(const char *text, struct metrics_state **ret, char **error)
{
	struct metrics_state *st;
	int r;

	*error = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r = jget_load_object(text, strlen(text), true, &st->root, error);
	if (r >= 0)
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

bool metrics_daemon_running(const struct metrics_snapshot *s)
{
	if (!s->up)
		return false;
	if (s->pid == 0 || s->pid > INT_MAX)
		return true;
	return kill((pid_t) s->pid, 0) == 0 || errno == EPERM;
}

static bool figure_shown(const struct metrics_snapshot *s, const struct count_figure *f)
{
	return !(f->flags & (s->pass_dry_run ? COUNT_WET : COUNT_DRY));
}

/* The status line of figure I, the first of its line: "N text, N text". */
static void print_status_line(const struct metrics_snapshot *s, size_t first, FILE *f)
{
	const char *line = count_figures[first].status_line;
	bool any = false, sep = false;

	for (size_t i = first; i < n_count_figures; i++)
		any = any || (streq_ptr(count_figures[i].status_line, line) && count_value(&s->counts, &count_figures[i]));
	if ((count_figures[first].flags & COUNT_QUIET) && !any)
		return;
	fprintf(f, "%-17s:", line);
	for (size_t i = first; i < n_count_figures; i++) {
		const struct count_figure *c = &count_figures[i];

		if (!streq_ptr(c->status_line, line) || !figure_shown(s, c))
			continue;
		fprintf(f, "%s %" PRIu64 " %s", sep ? "," : "", count_value(&s->counts, c), c->status_text);
		sep = true;
	}
	fputc('\n', f);
}

/* The figures of counts.h, a line for each status_line, in the order of first mention. */
static void print_pass_counts(const struct metrics_snapshot *s, FILE *f)
{
	for (size_t i = 0; i < n_count_figures; i++) {
		bool first = true;

		for (size_t j = 0; first && j < i; j++)
			first = !streq_ptr(count_figures[j].status_line, count_figures[i].status_line);
		if (first)
			print_status_line(s, i, f);
	}
}

static void print_last_pass(const struct metrics_snapshot *s, uint64_t now, FILE *f)
{
	char a[128], span[64];

	fprintf(f, "%-17s: %s%s\n", "Outcome", pass_outcome_to_string(s->outcome),
	        s->pass_dry_run ? " (dry run)" : "");
	if (s->error)
		fprintf(f, "%-17s: %s\n", "Error", s->error);
	fprintf(f, "%-17s: %s\n", "Finished", when(a, sizeof(a), s->pass_finished_usec, now));
	fprintf(f, "%-17s: %s\n", "Duration", format_timespan(span, sizeof(span), s->pass_duration_usec));
	print_pass_counts(s, f);
}

void metrics_print(const struct metrics_snapshot *s, bool running, uint64_t now, FILE *f)
{
	char a[128];

	if (running && s->pid)
		fprintf(f, "%-17s: running (pid %" PRIu64 ")\n", "State", s->pid);
	else if (running)
		fprintf(f, "%-17s: running\n", "State");
	else
		fprintf(f, "%-17s: not running (state as written %s)\n", "State",
		        when(a, sizeof(a), s->written_usec ? s->written_usec : s->pass_finished_usec, now));
	if (s->instance)
		fprintf(f, "%-17s: %s, project %s (%s)\n", "Instance", s->instance,
		        s->project_id ? s->project_id : "?", s->region ? s->region : "?");
	fprintf(f, "%-17s: %s\n", "Version", s->version ? s->version : "?");
	fprintf(f, "%-17s: %s\n", "Last pass", s->pass_id ? s->pass_id : "none yet");
	if (s->outcome != PASS_NONE)
		print_last_pass(s, now, f);
	fprintf(f, "%-17s: %s\n", "Last success", when(a, sizeof(a), s->last_success_usec, now));
	fprintf(f, "%-17s: %s\n", "Next pass", !running ? "none: not running" :
	        s->next_pass_usec ? when(a, sizeof(a), s->next_pass_usec, now) : "not scheduled");
	fprintf(f, "%-17s:", "Passes");
	for (int o = PASS_CONVERGED; o < _PASS_OUTCOME_MAX; o++)
		fprintf(f, "%s %" PRIu64 " %s", o == PASS_CONVERGED ? "" : ",", s->passes_total[o],
		        pass_outcome_to_string(o));
	fputc('\n', f);
	print_counts(f, "Deleted by rule", &s->deleted_by_rule);
	print_counts(f, "Requests", &s->requests_by_api);
	print_counts(f, "Errors", &s->errors_by_api_code);
	fprintf(f, "%-17s: %s\n", "Config", s->config_path ? s->config_path : "?");
	fprintf(f, "%-17s: %s, %s\n", "Config loaded", s->config_ok ? "ok" :
	        "REJECTED (the daemon keeps the configuration it had)",
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
