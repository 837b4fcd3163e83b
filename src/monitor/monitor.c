/* monitor.c - the figures the daemon keeps for monitoring, and publishing them. */
#include "monitor.h"

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

void monitor_publish(struct monitor *m, const struct monitor_view *v)
{
	const struct config *cfg = v->cfg;
	struct metrics_count requests[_API_MAX];
	struct csms_stats st = {};
	const char *failed_path = NULL;
	int r;

	if (!m->state_path)
		return;
	if (v->client)
		csms_get_stats(v->client, &st);
	for (size_t i = 0; i < _API_MAX; i++)
		requests[i] = (struct metrics_count) { csms_api_name(i), NULL, m->calls_retired[i] + st.calls[i] };

	struct metrics_snapshot s = {
		.instance = m->instance,
		.project_id = cfg ? cfg->csms.project_id : NULL,
		.region = cfg ? cfg->csms.region : NULL,
		.up = v->up,
		.pid = (uint64_t) getpid(),
		.written_usec = now_realtime_usec(),
		.version = PACKAGE_VERSION,
		.auth_method = cfg ? auth_method_to_string(cfg->auth.method) : NULL,
		.dry_run = cfg && cfg->daemon.dry_run,
		.pass_id = v->pass_id,
		.outcome = m->outcome,
		.error = m->error[0] ? m->error : NULL,
		.pass_started_usec = m->pass_started,
		.pass_finished_usec = m->pass_finished,
		.pass_duration_usec = m->pass_duration,
		.counts = m->counts,
		.pass_dry_run = m->pass_dry_run,
		.last_success_usec = m->last_success,
		.next_pass_usec = v->scheduled ? m->next_pass : 0,
		.deleted_by_rule = metrics_tally_counts(&m->deleted_by_rule),
		.requests_by_api = { requests, _API_MAX },
		.errors_by_api_code = metrics_tally_counts(&m->errors),
		.config_path = v->config_path,
		.config_loaded_usec = m->config_loaded,
		.config_ok = m->config_ok,
		.config_error = m->config_error,
		.credentials_expiry_usec = v->client ? csms_credentials_expiry(v->client) : 0,
		.journal_write_failures = log_write_failures(),
	};
	memcpy(s.passes_total, m->passes_total, sizeof(s.passes_total));

	r = metrics_publish(&s, m->state_path, cfg ? cfg->daemon.metrics_file : NULL, &failed_path);
	if (r < 0 && !m->write_failed)
		log_warning("Cannot write %s: %s (csms-tagd --status and the metrics show older data "
		            "until it can be written; warned once)", failed_path, strerror(-r));
	else if (r >= 0 && m->write_failed)
		log_notice("Monitoring files are written again");
	m->write_failed = r < 0;
}

void monitor_clear(struct monitor *m)
{
	free(m->state_path);
	free(m->config_error);
	free(m->instance);
	metrics_tally_clear(&m->deleted_by_rule);
	metrics_tally_clear(&m->errors);
}
