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

/* A file of 500 targets is about 1.5 MB; the bound keeps what jansson
 * builds from an outside file in tens of MB. */
#define STATE_MAX_BYTES (16u * 1024 * 1024)
#define STATE_MAX_TARGETS 20000

/* --- the state file: read ---------------------------------------------------------------- */

/* The counts a snapshot points to (deleted_by_rule, requests_by_api,
 * errors_by_api_code), owned. */
struct snapshot_storage {
	struct metrics_count *counts[3];
};

struct metrics_state {
	json_t *root;                   /* the strings below point into it */
	struct metrics_snapshot s;
	struct snapshot_storage storage;
	struct metrics_snapshot *targets;
	struct snapshot_storage *target_storage;
	size_t n_targets;               /* parsed so far: the storages to free */
};

static void storage_clear(struct snapshot_storage *st)
{
	for (size_t i = 0; i < ELEMENTSOF(st->counts); i++)
		free(st->counts[i]);
}

void metrics_state_free(struct metrics_state *st)
{
	if (!st)
		return;
	storage_clear(&st->storage);
	for (size_t i = 0; st->target_storage && i < st->n_targets; i++)
		storage_clear(&st->target_storage[i]);
	free(st->target_storage);
	free(st->targets);
	json_decref(st->root);
	free(st);
}

const struct metrics_snapshot *metrics_state_snapshot(const struct metrics_state *st)
{
	return &st->s;
}

/* Errors follow jsonget.h: "FIELD: message", "targets[3].FIELD: message".
 * W is the object's own path (NULL: the top level). */

static int get_string(json_t *o, const struct jget_path *w, const char *key, bool nullable,
                      const char **ret, char **error)
{
	return jget_string(o, w, key, nullable ? JGET_OPTIONAL : JGET_PRESENT, STATE_MAX_BYTES,
	                   ret, error);
}

static int get_uint(json_t *o, const struct jget_path *w, const char *key, uint64_t *ret, char **error)
{
	return jget_uint(o, w, key, JGET_REQUIRED, ret, error);
}

static int get_bool(json_t *o, const struct jget_path *w, const char *key, bool *ret, char **error)
{
	return jget_bool(o, w, key, JGET_REQUIRED, ret, error);
}

/* An RFC 3339 time, or null for "never" (0). */
static int get_time(json_t *o, const struct jget_path *w, const char *key, uint64_t *ret, char **error)
{
	struct jget_path m = JGET_MEMBER(w, key);
	const char *s;
	int r = get_string(o, w, key, true, &s, error);

	if (r < 0)
		return r;
	*ret = 0;
	if (s && parse_rfc3339_time(s, ret) < 0)
		return jget_bad(error, &m, "expected a time like 2026-01-31T12:00:00.000000Z");
	return 0;
}

static int get_counts(json_t *o, const struct jget_path *w, const char *key, bool two,
                      struct metrics_count **storage, struct metrics_counts *ret, char **error)
{
	struct jget_path m = JGET_MEMBER(w, key);
	json_t *a, *e;
	size_t i;
	int r = jget_array(o, w, key, JGET_REQUIRED, &a, error);

	if (r < 0)
		return r;
	*storage = calloc(json_array_size(a) + 1, sizeof(**storage));
	if (!*storage)
		return -ENOMEM;
	json_array_foreach(a, i, e) {
		struct jget_path ew = JGET_ELEMENT(&m, i);
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
 * that still runs the old one, as during an upgrade), and a target's
 * labels (written only when set). */
static int parse_instance_fields(json_t *root, struct metrics_snapshot *s, char **error)
{
	int r = 0;

	s->up = true;
	if ((r = get_string(root, NULL, "instance", true, &s->instance, error)) < 0 ||
	    (r = get_string(root, NULL, "project_id", true, &s->project_id, error)) < 0 ||
	    (r = get_string(root, NULL, "region", true, &s->region, error)) < 0 ||
	    (r = get_string(root, NULL, "account_id", true, &s->account_id, error)) < 0 ||
	    (r = get_string(root, NULL, "account_name", true, &s->account_name, error)) < 0 ||
	    (r = get_string(root, NULL, "target_name", true, &s->target_name, error)) < 0 ||
	    (r = get_string(root, NULL, "target_state", true, &s->target_state, error)) < 0 ||
	    (r = jget_bool(root, NULL, "up", JGET_OPTIONAL, &s->up, error)) < 0 ||
	    (r = jget_uint(root, NULL, "pid", JGET_OPTIONAL, &s->pid, error)) < 0 ||
	    (r = get_time(root, NULL, "written", &s->written_usec, error)) < 0)
		return r;
	return 0;
}

/* The figures of counts.h. */
static int parse_pass_counts(json_t *o, const struct jget_path *w, struct pass_counts *c, char **error)
{
	for (size_t i = 0; i < n_count_figures; i++) {
		const struct count_figure *f = &count_figures[i];
		int r;

		r = jget_uint(o, w, f->key, f->flags & COUNT_OPTIONAL ? JGET_OPTIONAL : JGET_REQUIRED,
		              count_ptr(c, f), error);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The per-pass part (metrics.c's pass_to_json()), of the top or a target. */
static int parse_pass(json_t *o, const struct jget_path *w, struct metrics_snapshot *s,
                      struct snapshot_storage *st, bool dry_run, char **error)
{
	struct jget_path om = JGET_MEMBER(w, "outcome"), pm = JGET_MEMBER(w, "passes_total");
	const char *outcome;
	json_t *passes;
	int r, i;

	if ((r = get_string(o, w, "pass_id", true, &s->pass_id, error)) < 0 ||
	    (r = get_string(o, w, "outcome", false, &outcome, error)) < 0 ||
	    (r = get_string(o, w, "error", true, &s->error, error)) < 0 ||
	    (r = get_time(o, w, "pass_started", &s->pass_started_usec, error)) < 0 ||
	    (r = get_time(o, w, "pass_finished", &s->pass_finished_usec, error)) < 0 ||
	    (r = get_uint(o, w, "pass_duration_usec", &s->pass_duration_usec, error)) < 0 ||
	    (r = jget_bool(o, w, "pass_dry_run", JGET_OPTIONAL, &s->pass_dry_run, error)) < 0 ||
	    (r = parse_pass_counts(o, w, &s->counts, error)) < 0 ||
	    (r = get_time(o, w, "last_success", &s->last_success_usec, error)) < 0 ||
	    (r = get_time(o, w, "next_pass", &s->next_pass_usec, error)) < 0 ||
	    (r = get_counts(o, w, "deleted_by_rule", false, &st->counts[0], &s->deleted_by_rule, error)) < 0 ||
	    (r = get_counts(o, w, "requests_by_api", false, &st->counts[1], &s->requests_by_api, error)) < 0 ||
	    (r = get_counts(o, w, "errors_by_api_code", true, &st->counts[2], &s->errors_by_api_code, error)) < 0)
		return r;
	/* Older daemons counted a dry run's would-be deletions as deleted. */
	if (!json_object_get(o, "pass_dry_run") && dry_run) {
		s->pass_dry_run = true;
		s->counts.would_delete = s->counts.deleted;
		s->counts.deleted = 0;
	}
	i = pass_outcome_from_string(outcome);
	if (i < 0)
		return jget_bad(error, &om, "not an outcome csms-tagd writes");
	s->outcome = (enum pass_outcome) i;
	if ((r = jget_object(o, w, "passes_total", JGET_REQUIRED, &passes, error)) < 0)
		return r;
	for (i = PASS_CONVERGED; i < _PASS_OUTCOME_MAX; i++)
		if ((r = jget_uint(passes, &pm, pass_outcome_to_string(i), JGET_REQUIRED,
		                   &s->passes_total[i], error)) < 0)
			return r;
	return 0;
}

static int parse_target(json_t *o, const struct jget_path *w, struct metrics_snapshot *t,
                        struct snapshot_storage *st, char **error)
{
	int r;

	if (!json_is_object(o))
		return jget_bad(error, w, "expected an object: a target's labels, state and last pass");
	if ((r = get_string(o, w, "target", true, &t->target_name, error)) < 0 ||
	    (r = get_string(o, w, "account_id", true, &t->account_id, error)) < 0 ||
	    (r = get_string(o, w, "account_name", true, &t->account_name, error)) < 0 ||
	    (r = get_string(o, w, "region", true, &t->region, error)) < 0 ||
	    (r = get_string(o, w, "project_id", true, &t->project_id, error)) < 0 ||
	    (r = get_string(o, w, "state", true, &t->target_state, error)) < 0 ||
	    (r = parse_pass(o, w, t, st, false, error)) < 0 ||
	    (r = get_time(o, w, "credentials_expiry", &t->credentials_expiry_usec, error)) < 0)
		return r;
	t->up = true;
	return 0;
}

/* "targets": absent in single-target files and older ones. */
static int parse_targets(struct metrics_state *st, char **error)
{
	struct jget_path w = JGET_MEMBER(NULL, "targets");
	json_t *a, *e;
	size_t i, n;
	int r = jget_array(st->root, NULL, "targets", JGET_OPTIONAL, &a, error);

	if (r < 0 || !a)
		return r;
	n = json_array_size(a);
	if (n > STATE_MAX_TARGETS)
		return jget_bad(error, &w, "more than %u targets", STATE_MAX_TARGETS);
	st->targets = calloc(n + 1, sizeof(*st->targets));
	st->target_storage = calloc(n + 1, sizeof(*st->target_storage));
	if (!st->targets || !st->target_storage)
		return -ENOMEM;
	json_array_foreach(a, i, e) {
		struct jget_path ew = JGET_ELEMENT(&w, i);

		st->n_targets = i + 1;
		if ((r = parse_target(e, &ew, &st->targets[i], &st->target_storage[i], error)) < 0)
			return r;
	}
	st->s.targets = st->targets;
	st->s.n_targets = n;
	return 0;
}

static int parse_snapshot(struct metrics_state *st, char **error)
{
	struct metrics_snapshot *s = &st->s;
	json_t *root = st->root;
	const char *format;
	int r;

	if ((r = get_string(root, NULL, "format", false, &format, error)) < 0)
		return r;
	if (strcmp(format, METRICS_STATE_FORMAT) != 0)
		return jget_bad(error, &JGET_MEMBER(NULL, "format"), "expected " METRICS_STATE_FORMAT);
	if ((r = parse_instance_fields(root, s, error)) < 0 ||
	    (r = get_string(root, NULL, "version", true, &s->version, error)) < 0 ||
	    (r = get_string(root, NULL, "auth_method", true, &s->auth_method, error)) < 0 ||
	    (r = get_bool(root, NULL, "dry_run", &s->dry_run, error)) < 0 ||
	    (r = parse_pass(root, NULL, s, &st->storage, s->dry_run, error)) < 0 ||
	    (r = get_string(root, NULL, "config_path", true, &s->config_path, error)) < 0 ||
	    (r = get_time(root, NULL, "config_loaded", &s->config_loaded_usec, error)) < 0 ||
	    (r = get_bool(root, NULL, "config_ok", &s->config_ok, error)) < 0 ||
	    (r = get_string(root, NULL, "config_error", true, &s->config_error, error)) < 0 ||
	    (r = get_time(root, NULL, "credentials_expiry", &s->credentials_expiry_usec, error)) < 0)
		return r;
	/* Absent from the state files of older versions. */
	r = jget_uint(root, NULL, "journal_write_failures", JGET_OPTIONAL, &s->journal_write_failures, error);
	if (r < 0)
		return r;
	return parse_targets(st, error);
}

int metrics_state_parse(const char *text, struct metrics_state **ret, char **error)
{
	struct metrics_state *st;
	int r;

	*error = NULL;
	*ret = NULL;
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

/* HIDE: the COUNT_WET / COUNT_DRY figures not shown. */
static unsigned hidden_figures(const struct metrics_snapshot *s)
{
	bool wet = false, dry = false;

	if (!s->targets)
		return s->pass_dry_run ? COUNT_WET : COUNT_DRY;
	/* The whole of an organisation: what any of its last passes counted. */
	for (size_t i = 0; i < s->n_targets; i++)
		if (s->targets[i].outcome != PASS_NONE) {
			dry = dry || s->targets[i].pass_dry_run;
			wet = wet || !s->targets[i].pass_dry_run;
		}
	return (wet ? 0 : COUNT_WET) | (dry ? 0 : COUNT_DRY);
}

/* The status line of figure I, the first of its line: "N text, N text". */
static void print_status_line(const struct metrics_snapshot *s, size_t first, unsigned hide, FILE *f)
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

		if (!streq_ptr(c->status_line, line) || (c->flags & hide))
			continue;
		fprintf(f, "%s %" PRIu64 " %s", sep ? "," : "", count_value(&s->counts, c), c->status_text);
		sep = true;
	}
	fputc('\n', f);
}

/* The figures of counts.h, a line for each status_line, in the order of first mention. */
static void print_pass_counts(const struct metrics_snapshot *s, FILE *f)
{
	unsigned hide = hidden_figures(s);

	for (size_t i = 0; i < n_count_figures; i++) {
		bool first = true;

		for (size_t j = 0; first && j < i; j++)
			first = !streq_ptr(count_figures[j].status_line, count_figures[i].status_line);
		if (first)
			print_status_line(s, i, hide, f);
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

static void print_state(const struct metrics_snapshot *s, bool running, uint64_t now, FILE *f)
{
	char a[128];

	if (running && s->pid)
		fprintf(f, "%-17s: running (pid %" PRIu64 ")\n", "State", s->pid);
	else if (running)
		fprintf(f, "%-17s: running\n", "State");
	else
		fprintf(f, "%-17s: not running (state as written %s)\n", "State",
		        when(a, sizeof(a), s->written_usec ? s->written_usec : s->pass_finished_usec, now));
}

/* Last success ... Errors: of a single-target daemon, a target, or the
 * whole of an organisation (its totals). */
static void print_since_start(const struct metrics_snapshot *s, bool running, uint64_t now, FILE *f)
{
	char a[128];

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
}

static void print_credentials(const char *method, uint64_t expiry, uint64_t now, FILE *f)
{
	char a[128];

	fprintf(f, "%-17s: %s, %s%s\n", "Credentials", method ? method : "?",
	        expiry ? "expire " : "no expiry", expiry ? when(a, sizeof(a), expiry, now) : "");
}

/* "Targets : 6: 4 converged, 2 failing" (the states with targets only). */
static void print_target_summary(const struct metrics_snapshot *s, FILE *f)
{
	_cleanup_free_ struct metrics_count *c = NULL;
	bool sep = false;
	size_t n = 0;

	fprintf(f, "%-17s: ", "Targets");
	if (s->n_targets == 0) {
		fputs("none\n", f);
		return;
	}
	fprintf(f, "%zu:", s->n_targets);
	if (metrics_target_states(s, &c, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (c[i].value) {
			fprintf(f, "%s %" PRIu64 " %s", sep ? "," : "", c[i].value, c[i].key);
			sep = true;
		}
	fputc('\n', f);
}

/* --- the table of targets ---------------------------------------------------------------- */

/* Columns as characters shown: UTF-8 continuation bytes take none. */
static size_t text_width(const char *t)
{
	size_t w = 0;

	for (; t && *t; t++)
		w += ((unsigned char) *t & 0xc0) != 0x80;
	return w;
}

/* T in a cell WIDTH wide (LAST: no padding), cut with "..." when longer, at
 * a character's start; control characters (a server's error text) shown as
 * spaces. */
static void put_cell(FILE *f, const char *t, size_t width, bool last)
{
	size_t w = text_width(t), shown = 0, keep = w <= width ? w : width > 3 ? width - 3 : width;

	for (const unsigned char *p = (const unsigned char *) (t ? t : ""); *p; p++) {
		bool start = (*p & 0xc0) != 0x80;

		if (start && shown == keep)
			break;
		shown += start;
		fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
	}
	if (w > width)
		for (size_t i = keep; i < width; i++)
			fputc('.', f);
	for (size_t i = w > width ? width : w; !last && i < width + 2; i++)
		fputc(' ', f);
}

static const char *target_account(const struct metrics_snapshot *t)
{
	return t->account_name ? t->account_name : t->account_id ? t->account_id : "(own)";
}

static size_t column_width(const struct metrics_snapshot *s, const char *head, size_t cap,
                           const char *(*get)(const struct metrics_snapshot *t))
{
	size_t w = strlen(head);

	for (size_t i = 0; i < s->n_targets && w < cap; i++) {
		size_t tw = text_width(get(&s->targets[i]));

		w = tw > w ? tw : w;
	}
	return w < cap ? w : cap;
}

static const char *target_name(const struct metrics_snapshot *t) { return t->target_name ? t->target_name : "?"; }
static const char *target_region(const struct metrics_snapshot *t) { return t->region ? t->region : "?"; }
static const char *target_state(const struct metrics_snapshot *t) { return t->target_state ? t->target_state : "unknown"; }

/* When a target's last pass ended: its time of day within a day before
 * NOW, else its date (UTC, as every time of --status). */
static const char *ended(char *buf, size_t size, uint64_t usec, uint64_t now)
{
	time_t t = (time_t) (usec / USEC_PER_SEC);
	struct tm tm;

	if (!usec)
		return "never";
	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, size, usec <= now && now - usec < 24 * 3600 * USEC_PER_SEC ? "%H:%M:%S" : "%Y-%m-%d",
	             &tm) == 0)
		return "?";
	return buf;
}

static void print_target_table(const struct metrics_snapshot *s, uint64_t now, FILE *f)
{
	size_t wn = column_width(s, "TARGET", 32, target_name),
	       wa = column_width(s, "ACCOUNT", 20, target_account),
	       wr = column_width(s, "REGION", 16, target_region),
	       ws = column_width(s, "STATE", 10, target_state),
	       wt = strlen("ENDED (UTC)"), wd = strlen("DELETED"),
	       used = wn + wa + wr + ws + wt + wd + 6 * 2,
	       we = used + 20 < METRICS_PRINT_COLUMNS ? METRICS_PRINT_COLUMNS - used : 20;

	fputc('\n', f);
	put_cell(f, "TARGET", wn, false);
	put_cell(f, "ACCOUNT", wa, false);
	put_cell(f, "REGION", wr, false);
	put_cell(f, "STATE", ws, false);
	put_cell(f, "ENDED (UTC)", wt, false);
	fputs("DELETED  ERROR\n", f);
	for (size_t i = 0; i < s->n_targets; i++) {
		const struct metrics_snapshot *t = &s->targets[i];
		char date[32], deleted[32];

		/* A dry run's: "~N", would have been deleted. */
		snprintf(deleted, sizeof(deleted), "%s%" PRIu64, t->pass_dry_run ? "~" : "",
		         t->pass_dry_run ? t->counts.would_delete : t->counts.deleted);
		put_cell(f, target_name(t), wn, false);
		put_cell(f, target_account(t), wa, false);
		put_cell(f, target_region(t), wr, false);
		put_cell(f, target_state(t), ws, false);
		put_cell(f, ended(date, sizeof(date), t->pass_finished_usec, now), wt, false);
		fprintf(f, "%*s", (int) wd, t->outcome == PASS_NONE ? "-" : deleted);
		if (t->error) {
			fputs("  ", f);
			put_cell(f, t->error, we, true);
		}
		fputc('\n', f);
	}
}

static void print_process_tail(const struct metrics_snapshot *s, uint64_t now, FILE *f)
{
	char a[128];

	fprintf(f, "%-17s: %s\n", "Config", s->config_path ? s->config_path : "?");
	fprintf(f, "%-17s: %s, %s\n", "Config loaded", s->config_ok ? "ok" :
	        "REJECTED (the daemon keeps the configuration it had)",
	        when(a, sizeof(a), s->config_loaded_usec, now));
	if (s->config_error)
		fprintf(f, "%-17s: %s\n", "Config error", s->config_error);
	if (s->journal_write_failures)
		fprintf(f, "%-17s: %" PRIu64 " records could not be written\n", "Journal",
		        s->journal_write_failures);
	print_credentials(s->auth_method, s->credentials_expiry_usec, now, f);
}

/* The whole of an organisation: the process, the targets' totals, a table. */
static void print_organisation(const struct metrics_snapshot *s, bool running, uint64_t now, FILE *f)
{
	print_state(s, running, now, f);
	fprintf(f, "%-17s: %s\n", "Instance", s->instance ? s->instance : "?");
	fprintf(f, "%-17s: %s\n", "Version", s->version ? s->version : "?");
	print_target_summary(s, f);
	if (s->outcome != PASS_NONE) {
		fprintf(f, "%-17s: %s (the worst of the targets' last passes)\n", "Outcome",
		        pass_outcome_to_string(s->outcome));
		if (s->error)
			fprintf(f, "%-17s: %s\n", "Error", s->error);
		print_pass_counts(s, f);
	}
	print_since_start(s, running, now, f);
	print_process_tail(s, now, f);
	if (s->n_targets)
		print_target_table(s, now, f);
}

void metrics_print(const struct metrics_snapshot *s, bool running, uint64_t now, FILE *f)
{
	if (s->targets) {
		print_organisation(s, running, now, f);
		return;
	}
	print_state(s, running, now, f);
	if (s->instance)
		fprintf(f, "%-17s: %s, project %s (%s)\n", "Instance", s->instance,
		        s->project_id ? s->project_id : "?", s->region ? s->region : "?");
	fprintf(f, "%-17s: %s\n", "Version", s->version ? s->version : "?");
	fprintf(f, "%-17s: %s\n", "Last pass", s->pass_id ? s->pass_id : "none yet");
	if (s->outcome != PASS_NONE)
		print_last_pass(s, now, f);
	print_since_start(s, running, now, f);
	print_process_tail(s, now, f);
}

/* One target in full: its labels and state, then its last pass and
 * counters as a single-target daemon's. */
static void print_target(const struct metrics_snapshot *s, const struct metrics_snapshot *t,
                         bool running, uint64_t now, FILE *f)
{
	fprintf(f, "\n%-17s: %s\n", "Target", target_name(t));
	if (t->account_name && t->account_id)
		fprintf(f, "%-17s: %s (%s)\n", "Account", t->account_name, t->account_id);
	else
		fprintf(f, "%-17s: %s\n", "Account", t->account_id ? t->account_id :
		        t->account_name ? t->account_name : "the base identity's own");
	fprintf(f, "%-17s: %s (%s)\n", "Project", t->project_id ? t->project_id : "?", target_region(t));
	fprintf(f, "%-17s: %s\n", "Target state", target_state(t));
	fprintf(f, "%-17s: %s\n", "Last pass", t->pass_id ? t->pass_id : "none yet");
	if (t->outcome != PASS_NONE)
		print_last_pass(t, now, f);
	print_since_start(t, running, now, f);
	print_credentials(s->auth_method, t->credentials_expiry_usec, now, f);
}

size_t metrics_print_targets(const struct metrics_snapshot *s, bool running, uint64_t now,
                             const char *glob, FILE *f)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_targets; i++)
		if (metrics_target_selected(&s->targets[i], glob)) {
			if (n == 0)
				print_state(s, running, now, f);
			print_target(s, &s->targets[i], running, now, f);
			n++;
		}
	return n;
}
