/* monitor.c - the figures the daemon keeps for monitoring, and publishing them. */
#include "monitor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void monitor_count_failure(struct monitor *m, enum csms_api api, const struct csms_result *res)
{
	char buf[32];

	/* On ENOMEM the count is short; the journal has the failure. */
	(void) metrics_tally_add(&m->errors, csms_api_name(api),
	                         csms_result_error_class(res, buf, sizeof(buf)), 1);
}

void monitor_retire_client(struct monitor *m, struct csms *client)
{
	struct csms_stats st;

	if (!client)
		return;
	csms_get_stats(client, &st);
	for (size_t i = 0; i < _API_MAX; i++)
		m->calls_retired[i] += st.calls[i];
}

void monitor_note_config_load(struct monitor *m, const char *error)
{
	m->config_loaded = now_realtime_usec();
	m->config_ok = !error;
	free(m->config_error);
	m->config_error = error ? strdup(error) : NULL;
}

void monitor_note_pass(struct monitor *m, const struct pass_result *r)
{
	m->outcome = r->outcome;
	snprintf(m->error, sizeof(m->error), "%s", r->failure);
	m->pass_finished = now_realtime_usec();
	m->pass_duration = r->duration_usec;
	m->pass_dry_run = r->dry_run;
	m->counts = r->counts;
	m->passes_total[m->outcome]++;
	if (pass_outcome_is_success(m->outcome))
		m->last_success = m->pass_finished;
	for (size_t i = 0; !r->dry_run && i < r->deleted_by_rule.n; i++)
		(void) metrics_tally_add(&m->deleted_by_rule, r->deleted_by_rule.items[i].key, NULL,
		                         r->deleted_by_rule.items[i].value);
}

/* The per-pass part of S: M's figures, PASS_ID, whether SCHEDULED, and the
 * request counts of M's retired clients and CLIENT in REQUESTS
 * (_API_MAX entries, S points to them). */
static void fill_pass(struct metrics_snapshot *s, const struct monitor *m, struct csms *client,
                      const char *pass_id, bool scheduled, struct metrics_count *requests)
{
	struct csms_stats st = {};

	if (client)
		csms_get_stats(client, &st);
	for (size_t i = 0; i < _API_MAX; i++)
		requests[i] = (struct metrics_count) { csms_api_name(i), NULL, m->calls_retired[i] + st.calls[i] };
	s->pass_id = pass_id;
	s->outcome = m->outcome;
	s->error = m->error[0] ? m->error : NULL;
	s->pass_started_usec = m->pass_started;
	s->pass_finished_usec = m->pass_finished;
	s->pass_duration_usec = m->pass_duration;
	s->counts = m->counts;
	s->pass_dry_run = m->pass_dry_run;
	s->last_success_usec = m->last_success;
	s->next_pass_usec = scheduled ? m->next_pass : 0;
	memcpy(s->passes_total, m->passes_total, sizeof(s->passes_total));
	s->deleted_by_rule = metrics_tally_counts(&m->deleted_by_rule);
	s->requests_by_api = (struct metrics_counts) { requests, _API_MAX };
	s->errors_by_api_code = metrics_tally_counts(&m->errors);
	s->credentials_expiry_usec = client ? csms_credentials_expiry(client) : 0;
}

/* The process part of S: M's, V's. */
static void fill_process(struct metrics_snapshot *s, const struct monitor *m, const struct monitor_view *v)
{
	const struct config *cfg = v->cfg;

	s->instance = m->instance;
	s->up = v->up;
	s->pid = (uint64_t) getpid();
	s->written_usec = now_realtime_usec();
	s->version = PACKAGE_VERSION;
	s->auth_method = cfg ? auth_method_to_string(cfg->auth.method) : NULL;
	s->dry_run = cfg && cfg->daemon.dry_run;
	s->config_path = v->config_path;
	s->config_loaded_usec = m->config_loaded;
	s->config_ok = m->config_ok;
	s->config_error = m->config_error;
	s->journal_write_failures = log_write_failures();
}

static void write_files(struct monitor *m, const struct metrics_snapshot *s, const struct config *cfg,
                        int r)
{
	const char *failed_path = m->state_path;

	if (r >= 0)
		r = metrics_publish(s, m->state_path, cfg ? cfg->daemon.metrics_file : NULL, &failed_path);
	if (r < 0 && !m->write_failed)
		log_warning("Cannot write %s: %s (csms-tagd --status and the metrics show older data "
		            "until it can be written; warned once)", failed_path, strerror(-r));
	else if (r >= 0 && m->write_failed)
		log_notice("Monitoring files are written again");
	m->write_failed = r < 0;
}

void monitor_publish(struct monitor *m, const struct monitor_view *v)
{
	const struct config *cfg = v->cfg;
	struct metrics_count requests[_API_MAX];
	struct metrics_snapshot s = {
		.project_id = cfg ? cfg->csms.project_id : NULL,
		.region = cfg ? cfg->csms.region : NULL,
	};

	if (!m->state_path)
		return;
	fill_process(&s, m, v);
	fill_pass(&s, m, v->client, v->pass_id, v->scheduled, requests);
	write_files(m, &s, cfg, 0);
}

/* Which outcome is worse, for the whole of an organisation. */
static int outcome_rank(enum pass_outcome o)
{
	static const int rank[_PASS_OUTCOME_MAX] = {
		[PASS_NONE] = 0, [PASS_CONVERGED] = 1, [PASS_CHANGED] = 2,
		[PASS_PARTIAL] = 3, [PASS_ABORTED] = 4, [PASS_FAILED] = 5,
	};

	return o < _PASS_OUTCOME_MAX ? rank[o] : 0;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

static int add_counts(struct metrics_tally *t, const struct metrics_counts *c)
{
	for (size_t i = 0; i < c->n; i++) {
		int r = metrics_tally_add(t, c->items[i].key, c->items[i].key2, c->items[i].value);

		if (r < 0)
			return r;
	}
	return 0;
}

/* The whole's per-pass part from its targets T[0..N) (monitor.h). */
static int sum_targets(struct metrics_snapshot *w, const struct monitor *whole,
                       const struct metrics_snapshot *t, size_t n, struct metrics_tally *rules,
                       struct metrics_tally *errors, struct metrics_count *requests,
                       char *error, size_t error_size)
{
	const struct metrics_snapshot *worst = NULL, *latest = NULL;
	bool any_pass = false, all_dry = true;
	int r;

	if ((r = add_counts(rules, &w->deleted_by_rule)) < 0 ||
	    (r = add_counts(errors, &w->errors_by_api_code)) < 0)
		return r;
	/* Of the targets only (WHOLE notes no pass of its own), but for the
	 * counters: WHOLE's calls (discovery) are the process's too. */
	w->counts = (struct pass_counts) {};
	memset(w->passes_total, 0, sizeof(w->passes_total));
	w->next_pass_usec = 0;
	w->last_success_usec = n ? UINT64_MAX : 0;
	for (size_t i = 0; i < n; i++) {
		const struct metrics_snapshot *x = &t[i];

		for (size_t f = 0; f < n_count_figures; f++)
			*count_ptr(&w->counts, &count_figures[f]) += count_value(&x->counts, &count_figures[f]);
		for (int o = 0; o < _PASS_OUTCOME_MAX; o++)
			w->passes_total[o] += x->passes_total[o];
		for (size_t a = 0; a < _API_MAX; a++)
			requests[a].value += x->requests_by_api.items[a].value;
		if ((r = add_counts(rules, &x->deleted_by_rule)) < 0 ||
		    (r = add_counts(errors, &x->errors_by_api_code)) < 0)
			return r;
		if (!worst || outcome_rank(x->outcome) > outcome_rank(worst->outcome))
			worst = x;
		if (x->pass_finished_usec && (!latest || x->pass_finished_usec > latest->pass_finished_usec))
			latest = x;
		if (x->outcome != PASS_NONE) {
			any_pass = true;
			all_dry = all_dry && x->pass_dry_run;
		}
		w->last_success_usec = x->last_success_usec < w->last_success_usec ? x->last_success_usec :
		                       w->last_success_usec;
		w->next_pass_usec = earliest(w->next_pass_usec, x->next_pass_usec);
		w->credentials_expiry_usec = earliest(w->credentials_expiry_usec, x->credentials_expiry_usec);
	}
	w->outcome = worst ? worst->outcome : whole->outcome;
	if (worst && worst->error) {
		snprintf(error, error_size, "%s: %s", worst->target_name ? worst->target_name : "?", worst->error);
		w->error = error;
	}
	w->pass_dry_run = any_pass && all_dry;
	if (latest) {
		w->pass_started_usec = latest->pass_started_usec;
		w->pass_finished_usec = latest->pass_finished_usec;
		w->pass_duration_usec = latest->pass_duration_usec;
	}
	w->deleted_by_rule = metrics_tally_counts(rules);
	w->errors_by_api_code = metrics_tally_counts(errors);
	return 0;
}

void monitor_publish_targets(struct monitor *whole, const struct monitor_view *v,
                             const struct monitor_target *t, size_t n)
{
	struct metrics_count requests[_API_MAX];
	struct metrics_tally rules = {}, errors = {};
	struct metrics_snapshot *ts = NULL, s = {};
	struct metrics_count *treq = NULL;
	char error[512];
	int r = 0;

	if (!whole->state_path)
		return;
	/* n + 1: not NULL for an organisation without targets. */
	ts = calloc(n + 1, sizeof(*ts));
	treq = calloc((n + 1) * _API_MAX, sizeof(*treq));
	if (!ts || !treq)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct config *cfg = t[i].cfg;

		fill_pass(&ts[i], t[i].m, t[i].client, t[i].pass_id, t[i].scheduled, &treq[i * _API_MAX]);
		ts[i].instance = whole->instance;
		ts[i].up = v->up;
		ts[i].target_state = t[i].state;
		if (cfg) {
			ts[i].account_id = cfg->csms.account_id;
			ts[i].account_name = cfg->csms.account_name;
			ts[i].target_name = cfg->csms.target_name;
			ts[i].region = cfg->csms.region;
			ts[i].project_id = cfg->csms.project_id;
			ts[i].dry_run = cfg->daemon.dry_run;
			ts[i].auth_method = auth_method_to_string(cfg->auth.method);
		}
	}
	fill_process(&s, whole, v);
	if (r >= 0) {
		/* WHOLE's own figures (requests outside any target's pass: discovery)
		 * start the sums. */
		fill_pass(&s, whole, v->client, v->pass_id, v->scheduled, requests);
		s.targets = ts;
		s.n_targets = n;
		r = sum_targets(&s, whole, ts, n, &rules, &errors, requests, error, sizeof(error));
	}
	write_files(whole, &s, v->cfg, r);
	metrics_tally_clear(&rules);
	metrics_tally_clear(&errors);
	free(treq);
	free(ts);
}

void monitor_clear(struct monitor *m)
{
	free(m->state_path);
	free(m->config_error);
	free(m->instance);
	metrics_tally_clear(&m->deleted_by_rule);
	metrics_tally_clear(&m->errors);
}
