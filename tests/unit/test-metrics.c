/* test-metrics.c - Prometheus text, the state file (write, read, print), the
 * atomic file replacement and pass identifiers; the same with targets (an
 * organisation), and monitor_publish_targets(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "monitor.h"
#include "pass-id.h"
#include "redact.h"
#include "util.h"

#define T0 (UINT64_C(1796000000) * USEC_PER_SEC)        /* 2026-11-30T00:53:20Z */

static const struct metrics_count rules[] = {
	{ "[secrets \"app-*\"] temp-*", NULL, 3 },
	{ "[secret \"we\\ird\"] (no rule)", NULL, 1 },
};
static const struct metrics_count apis[] = {
	{ "ListResourceInstances", NULL, 12 },
	{ "DeleteSecretTag", NULL, 4 },
};
static const struct metrics_count errors[] = {
	{ "DeleteSecretTag", "CSMS.0401", 1 },
	{ "ListResourceInstances", "transport", 2 },
};

static struct metrics_snapshot sample(void)
{
	struct metrics_snapshot s = {
		.instance = "csms-tagd@prod",
		.project_id = "0123456789abcdef0123456789abcdef",
		.region = "cn-north-4",
		.up = true,
		.pid = 4242,
		.written_usec = T0 + 2 * USEC_PER_SEC,
		.version = "0.1.0",
		.auth_method = "aksk",
		.dry_run = false,
		.pass_id = "0123456789abcdef0123456789abcdef-7",
		.outcome = PASS_PARTIAL,
		.error = "1 deletion failed: CSMS.0401",
		.pass_started_usec = T0,
		.pass_finished_usec = T0 + 1500 * USEC_PER_MSEC,
		.pass_duration_usec = 1500 * USEC_PER_MSEC,
		.counts = {
			.planned = 6, .deleted = 4, .kept = 1, .failed = 1, .held = 0,
			.governed_secrets = 9,
			.noncompliant_tags = 6,
			.waiting = 2, .exempted = 1, .exemptions_unused = 1,
			.required_missing = 3, .required_invalid = 0,
		},
		.last_success_usec = T0 - 300 * USEC_PER_SEC,
		.next_pass_usec = T0 + 301 * USEC_PER_SEC + 500000,
		.deleted_by_rule = { rules, ELEMENTSOF(rules) },
		.requests_by_api = { apis, ELEMENTSOF(apis) },
		.errors_by_api_code = { errors, ELEMENTSOF(errors) },
		.config_path = "/etc/csms-tagd/csms-tagd.conf",
		.config_loaded_usec = T0 - 3600 * USEC_PER_SEC,
		.config_ok = true,
		.credentials_expiry_usec = 0,
	};

	s.passes_total[PASS_CONVERGED] = 5;
	s.passes_total[PASS_CHANGED] = 1;
	s.passes_total[PASS_PARTIAL] = 1;
	return s;
}

static void test_outcome_names(void **state)
{
	for (int o = 0; o < _PASS_OUTCOME_MAX; o++)
		assert_int_equal(pass_outcome_from_string(pass_outcome_to_string(o)), o);
	assert_int_equal(pass_outcome_from_string("fine"), -EINVAL);
	assert_int_equal(pass_outcome_from_string(NULL), -EINVAL);
}

/* Every series carries the instance, project and region labels. */
#define ID "instance=\"csms-tagd@prod\",project=\"0123456789abcdef0123456789abcdef\",region=\"cn-north-4\""

static void test_prometheus(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_string_equal(text,
		"# HELP csms_tagd_up 1 while the daemon runs; 0 written as it stops.\n"
		"# TYPE csms_tagd_up gauge\n"
		"csms_tagd_up{" ID "} 1\n"
		"# HELP csms_tagd_last_write_timestamp_seconds When the daemon last wrote this file: alert when it is older than the interval.\n"
		"# TYPE csms_tagd_last_write_timestamp_seconds gauge\n"
		"csms_tagd_last_write_timestamp_seconds{" ID "} 1796000002.000000\n"
		"# HELP csms_tagd_info csms-tagd version, authentication method and dry-run mode.\n"
		"# TYPE csms_tagd_info gauge\n"
		"csms_tagd_info{" ID ",version=\"0.1.0\",auth_method=\"aksk\",dry_run=\"no\"} 1\n"
		"# HELP csms_tagd_last_pass_timestamp_seconds When the last reconcile pass ended.\n"
		"# TYPE csms_tagd_last_pass_timestamp_seconds gauge\n"
		"csms_tagd_last_pass_timestamp_seconds{" ID "} 1796000001.500000\n"
		"# HELP csms_tagd_last_pass_duration_seconds How long the last reconcile pass took.\n"
		"# TYPE csms_tagd_last_pass_duration_seconds gauge\n"
		"csms_tagd_last_pass_duration_seconds{" ID "} 1.500000\n"
		"# HELP csms_tagd_last_pass_success 1 when the last pass converged or did all it planned, else 0.\n"
		"# TYPE csms_tagd_last_pass_success gauge\n"
		"csms_tagd_last_pass_success{" ID "} 0\n"
		"# HELP csms_tagd_last_pass_tags Tags of the last pass planned for deletion, by what became of them (would_delete: a dry run's).\n"
		"# TYPE csms_tagd_last_pass_tags gauge\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"planned\"} 6\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"deleted\"} 4\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"would_delete\"} 0\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"kept\"} 1\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"failed\"} 1\n"
		"csms_tagd_last_pass_tags{" ID ",result=\"held\"} 0\n"
		"# HELP csms_tagd_governed_secrets Secrets governed by the configuration, last pass.\n"
		"# TYPE csms_tagd_governed_secrets gauge\n"
		"csms_tagd_governed_secrets{" ID "} 9\n"
		"# HELP csms_tagd_noncompliant_tags Tags the policy does not allow, last pass.\n"
		"# TYPE csms_tagd_noncompliant_tags gauge\n"
		"csms_tagd_noncompliant_tags{" ID "} 6\n"
		"# HELP csms_tagd_last_pass_governance_tags Unwanted tags of the last pass not deleted: grace period running, or kept by an exemption.\n"
		"# TYPE csms_tagd_last_pass_governance_tags gauge\n"
		"csms_tagd_last_pass_governance_tags{" ID ",kind=\"waiting\"} 2\n"
		"csms_tagd_last_pass_governance_tags{" ID ",kind=\"exempted\"} 1\n"
		"# HELP csms_tagd_last_pass_required_tags Required tags of the last pass missing, or present with a value not allowed (never created).\n"
		"# TYPE csms_tagd_last_pass_required_tags gauge\n"
		"csms_tagd_last_pass_required_tags{" ID ",state=\"missing\"} 3\n"
		"csms_tagd_last_pass_required_tags{" ID ",state=\"invalid\"} 0\n"
		"# HELP csms_tagd_last_pass_unused_exemptions Active exemptions that kept no tag, last pass.\n"
		"# TYPE csms_tagd_last_pass_unused_exemptions gauge\n"
		"csms_tagd_last_pass_unused_exemptions{" ID "} 1\n"
		"# HELP csms_tagd_last_pass_resolved_deletions Deletions an earlier pass left pending (killed, stopped, reply lost), settled by the last pass.\n"
		"# TYPE csms_tagd_last_pass_resolved_deletions gauge\n"
		"csms_tagd_last_pass_resolved_deletions{" ID "} 0\n"
		"# HELP csms_tagd_last_success_timestamp_seconds When the last successful pass ended.\n"
		"# TYPE csms_tagd_last_success_timestamp_seconds gauge\n"
		"csms_tagd_last_success_timestamp_seconds{" ID "} 1795999700.000000\n"
		"# HELP csms_tagd_next_pass_timestamp_seconds When the next pass is due.\n"
		"# TYPE csms_tagd_next_pass_timestamp_seconds gauge\n"
		"csms_tagd_next_pass_timestamp_seconds{" ID "} 1796000301.500000\n"
		"# HELP csms_tagd_passes_total Reconcile passes since the daemon started, by outcome.\n"
		"# TYPE csms_tagd_passes_total counter\n"
		"csms_tagd_passes_total{" ID ",outcome=\"converged\"} 5\n"
		"csms_tagd_passes_total{" ID ",outcome=\"changed\"} 1\n"
		"csms_tagd_passes_total{" ID ",outcome=\"partial\"} 1\n"
		"csms_tagd_passes_total{" ID ",outcome=\"failed\"} 0\n"
		"csms_tagd_passes_total{" ID ",outcome=\"aborted\"} 0\n"
		"# HELP csms_tagd_tags_deleted_total Tags deleted since the daemon started, by rule (section and key glob; never a dry run's).\n"
		"# TYPE csms_tagd_tags_deleted_total counter\n"
		"csms_tagd_tags_deleted_total{" ID ",rule=\"[secrets \\\"app-*\\\"] temp-*\"} 3\n"
		"csms_tagd_tags_deleted_total{" ID ",rule=\"[secret \\\"we\\\\ird\\\"] (no rule)\"} 1\n"
		"# HELP csms_tagd_requests_total API requests since the daemon started.\n"
		"# TYPE csms_tagd_requests_total counter\n"
		"csms_tagd_requests_total{" ID ",api=\"ListResourceInstances\"} 12\n"
		"csms_tagd_requests_total{" ID ",api=\"DeleteSecretTag\"} 4\n"
		"# HELP csms_tagd_request_errors_total Failed API requests since the daemon started.\n"
		"# TYPE csms_tagd_request_errors_total counter\n"
		"csms_tagd_request_errors_total{" ID ",api=\"DeleteSecretTag\",code=\"CSMS.0401\"} 1\n"
		"csms_tagd_request_errors_total{" ID ",api=\"ListResourceInstances\",code=\"transport\"} 2\n"
		"# HELP csms_tagd_config_load_timestamp_seconds When the configuration was last loaded or rejected.\n"
		"# TYPE csms_tagd_config_load_timestamp_seconds gauge\n"
		"csms_tagd_config_load_timestamp_seconds{" ID "} 1795996400.000000\n"
		"# HELP csms_tagd_config_load_success 1 when the last configuration load or reload succeeded; 0 after a rejected one.\n"
		"# TYPE csms_tagd_config_load_success gauge\n"
		"csms_tagd_config_load_success{" ID "} 1\n"
		"# HELP csms_tagd_journal_write_failures_total Log records that could not be written (journald refused them).\n"
		"# TYPE csms_tagd_journal_write_failures_total counter\n"
		"csms_tagd_journal_write_failures_total{" ID "} 0\n");
}

/* Before the first pass only what is known is exposed; still valid text. */
static void test_prometheus_first_start(void **state)
{
	struct metrics_snapshot s = { .version = "0.1.0", .auth_method = "ecs", .dry_run = true,
	                              .config_ok = true, .credentials_expiry_usec = T0 };
	_cleanup_free_ char *text = NULL;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "csms_tagd_info{instance=\"\",project=\"\",region=\"\",version=\"0.1.0\","
	                       "auth_method=\"ecs\",dry_run=\"yes\"} 1\n"));
	assert_null(strstr(text, "last_pass"));
	assert_null(strstr(text, "next_pass"));
	assert_non_null(strstr(text, "region=\"\",outcome=\"failed\"} 0\n"));
	assert_non_null(strstr(text, "csms_tagd_credentials_expiry_timestamp_seconds{instance=\"\",project=\"\","
	                       "region=\"\"} 1796000000.000000\n"));
	/* Metric families without samples still have their HELP and TYPE. */
	assert_non_null(strstr(text, "# TYPE csms_tagd_requests_total counter\n# HELP"));
}

/* promtool (Debian package prometheus) agrees that the text is valid. */
static void test_promtool(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL, *cmd = NULL;
	char path[] = "/tmp/test-metrics.XXXXXX";
	int fd, rc;

	if (access("/usr/bin/promtool", X_OK) < 0)
		skip();
	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
	close(fd);
	cmd = xasprintf("/usr/bin/promtool check metrics <%s", path);
	rc = system(cmd);
	unlink(path);
	assert_int_equal(rc, 0);
}

static void assert_counts_equal(const struct metrics_counts *a, const struct metrics_counts *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->items[i].key, b->items[i].key);
		assert_true(streq_ptr(a->items[i].key2, b->items[i].key2));
		assert_int_equal(a->items[i].value, b->items[i].value);
	}
}

static void test_state_round_trip(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL, *again = NULL, *error = NULL;
	struct metrics_state *st = NULL;
	const struct metrics_snapshot *r;

	assert_int_equal(metrics_format_state(&s, &text), 0);
	assert_non_null(strstr(text, "\"format\": \"" METRICS_STATE_FORMAT "\""));
	assert_non_null(strstr(text, "\"pass_finished\": \"2026-11-30T00:53:21.500000Z\""));
	assert_int_equal(metrics_state_parse(text, &st, &error), 0);
	r = metrics_state_snapshot(st);
	assert_string_equal(r->pass_id, s.pass_id);
	assert_int_equal(r->outcome, PASS_PARTIAL);
	assert_string_equal(r->error, s.error);
	assert_int_equal(r->pass_started_usec, s.pass_started_usec);
	assert_int_equal(r->pass_finished_usec, s.pass_finished_usec);
	assert_int_equal(r->next_pass_usec, s.next_pass_usec);
	assert_int_equal(r->credentials_expiry_usec, 0);
	assert_int_equal(r->counts.failed, 1);
	assert_int_equal(r->passes_total[PASS_CONVERGED], 5);
	assert_counts_equal(&r->deleted_by_rule, &s.deleted_by_rule);
	assert_counts_equal(&r->errors_by_api_code, &s.errors_by_api_code);
	assert_string_equal(r->instance, "csms-tagd@prod");
	assert_string_equal(r->project_id, s.project_id);
	assert_string_equal(r->region, "cn-north-4");
	assert_true(r->up);
	assert_int_equal(r->pid, 4242);
	assert_int_equal(r->written_usec, s.written_usec);
	assert_false(r->pass_dry_run);
	/* What was read writes back the same text. */
	assert_int_equal(metrics_format_state(r, &again), 0);
	assert_string_equal(text, again);
	metrics_state_free(st);
}

static void assert_parse_error(const char *text, const char *want)
{
	_cleanup_free_ char *error = NULL;
	struct metrics_state *st = NULL;

	assert_int_equal(metrics_state_parse(text, &st, &error), -EBADMSG);
	assert_null(st);
	assert_non_null(error);
	if (!strstr(error, want))
		fail_msg("error '%s' lacks '%s'", error, want);
}

static void test_state_errors(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL;
	char *p;

	assert_parse_error("", "line 1");
	assert_parse_error("[]", "expected a JSON object at the top level");
	assert_parse_error("{\"format\": \"other/1\"}", "format: expected csms-tagd-state/1");
	assert_int_equal(metrics_format_state(&s, &text), 0);
	p = strstr(text, "\"planned\": 6");
	assert_non_null(p);
	memcpy(p, "\"planned\":-6", 12);
	assert_parse_error(text, "planned: expected a non-negative integer");
	memcpy(p, "\"planned\": 6", 12);
	p = strstr(text, "2026-11-30T00:53:21.500000Z");
	assert_non_null(p);
	p[10] = ' ';
	assert_parse_error(text, "pass_finished: expected a time");
	p[10] = 'T';
	p = strstr(text, "\"partial\",");
	assert_non_null(p);
	memcpy(p, "\"partia1\"", 9);
	assert_parse_error(text, "outcome: not an outcome csms-tagd writes");
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0);
	closedir(d);
	return n;
}

static void test_write_atomic(void **state)
{
	char dir[] = "/tmp/test-metrics-dir.XXXXXX";
	_cleanup_free_ char *path = NULL, *text = NULL, *missing = NULL;
	struct metrics_state *st = NULL;
	char *error = NULL;
	struct stat sb;
	size_t len;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/csms-tagd.prom", dir);
	assert_int_equal(write_file_atomic(path, "old\n", 4, 0644), 0);
	assert_int_equal(write_file_atomic(path, "new text\n", 9, 0644), 0);
	assert_int_equal(read_file(path, 1024, &text, &len), 0);
	assert_string_equal(text, "new text\n");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(count_entries(dir), 1);        /* no temporary file left */
	missing = xasprintf("%s/no/such/dir/state.json", dir);
	assert_int_equal(write_file_atomic(missing, "x", 1, 0644), -ENOENT);
	assert_int_equal(metrics_state_read(missing, &st, &error), -ENOENT);
	assert_non_null(strstr(error, "No such file"));
	free(error);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* What --status prints for S, 61 s after T0.  Malloc'd. */
static char *printed(const struct metrics_snapshot *s, bool running)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_print(s, running, T0 + 61 * USEC_PER_SEC, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_print(void **state)
{
	struct metrics_snapshot s = sample();
	char *buf = printed(&s, true);

	assert_string_equal(buf,
		"State            : running (pid 4242)\n"
		"Instance         : csms-tagd@prod, project 0123456789abcdef0123456789abcdef (cn-north-4)\n"
		"Version          : 0.1.0\n"
		"Last pass        : 0123456789abcdef0123456789abcdef-7\n"
		"Outcome          : partial\n"
		"Error            : 1 deletion failed: CSMS.0401\n"
		"Finished         : 2026-11-30 00:53:21 UTC (59s 500ms ago)\n"
		"Duration         : 1s 500ms\n"
		"Tags             : 6 planned, 4 deleted, 1 kept, 1 failed, 0 held\n"
		"Governed         : 9 secrets, 6 non-compliant tags\n"
		"Not deleted      : 2 waiting for their grace period, 1 exempted, 1 exemptions unused\n"
		"Required tags    : 3 missing, 0 with a value not allowed\n"
		"Last success     : 2026-11-30 00:48:20 UTC (6min 1s ago)\n"
		"Next pass        : 2026-11-30 00:58:21 UTC (in 4min)\n"
		"Passes           : 5 converged, 1 changed, 1 partial, 0 failed, 0 aborted\n"
		"Deleted by rule  : [secrets \"app-*\"] temp-* 3\n"
		"                 : [secret \"we\\ird\"] (no rule) 1\n"
		"Requests         : ListResourceInstances 12\n"
		"                 : DeleteSecretTag 4\n"
		"Errors           : DeleteSecretTag CSMS.0401 1\n"
		"                 : ListResourceInstances transport 2\n"
		"Config           : /etc/csms-tagd/csms-tagd.conf\n"
		"Config loaded    : ok, 2026-11-29 23:53:20 UTC (1h 1min 1s ago)\n"
		"Credentials      : aksk, no expiry\n");
	free(buf);
}

/* A dry run's deletions are would_delete, never deleted: in the metrics,
 * and in --status even after dry_run was turned off (the snapshot says
 * what the pass was, not what the config is now). */
static void test_dry_run_pass(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL, *buf = NULL;

	s.dry_run = false;
	s.pass_dry_run = true;
	s.counts.deleted = 0;
	s.counts.would_delete = 4;
	s.deleted_by_rule = (struct metrics_counts) {};
	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "{" ID ",result=\"deleted\"} 0\n"));
	assert_non_null(strstr(text, "{" ID ",result=\"would_delete\"} 4\n"));
	assert_null(strstr(text, "csms_tagd_tags_deleted_total{"));
	buf = printed(&s, true);
	assert_non_null(strstr(buf, "Outcome          : partial (dry run)\n"));
	assert_non_null(strstr(buf, "Tags             : 6 planned, 4 would be deleted (dry run: none deleted), "
	                       "1 kept, 1 failed, 0 held\n"));
}

/* A state file of an older daemon: no instance fields; its dry run's
 * "deleted" is read as would_delete. */
static void test_state_older(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL, *error = NULL;
	struct metrics_state *st = NULL;
	const struct metrics_snapshot *r;
	const char *drop[] = { "instance", "project_id", "region", "up", "pid", "written",
	                       "would_delete", "pass_dry_run" };
	json_t *j;

	s.dry_run = true;
	assert_int_equal(metrics_format_state(&s, &text), 0);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	for (size_t i = 0; i < ELEMENTSOF(drop); i++)
		assert_int_equal(json_object_del(j, drop[i]), 0);
	free(text);
	text = json_dumps(j, 0);
	json_decref(j);
	assert_int_equal(metrics_state_parse(text, &st, &error), 0);
	r = metrics_state_snapshot(st);
	assert_null(r->instance);
	assert_true(r->up);
	assert_int_equal(r->pid, 0);
	assert_true(metrics_daemon_running(r));
	assert_true(r->pass_dry_run);
	assert_int_equal(r->counts.would_delete, 4);
	assert_int_equal(r->counts.deleted, 0);
	metrics_state_free(st);
}

/* Stopped: up 0 in the metrics; --status says "not running", no next pass. */
static void test_stopped(void **state)
{
	struct metrics_snapshot s = sample();
	_cleanup_free_ char *text = NULL, *buf = NULL;

	s.up = false;
	s.next_pass_usec = 0;
	assert_false(metrics_daemon_running(&s));
	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "\ncsms_tagd_up{" ID "} 0\n"));
	buf = printed(&s, false);
	assert_non_null(strstr(buf, "State            : not running (state as written 2026-11-30 00:53:22 UTC (59s ago))\n"));
	assert_non_null(strstr(buf, "Next pass        : none: not running\n"));
	/* Up, but its process is gone (killed): not running either. */
	s.up = true;
	s.pid = (uint64_t) getpid();
	assert_true(metrics_daemon_running(&s));
	s.pid = 0x3ffffff0;     /* above any pid_max */
	assert_false(metrics_daemon_running(&s));
}

/* --- an organisation: targets ------------------------------------------------- */

static const struct metrics_count org_apis[] = {
	{ "ListResourceInstances", NULL, 3 },
	{ "DeleteSecretTag", NULL, 2 },
};
static const struct metrics_count org_rules[] = {
	{ "[secrets \"app-*\"] temp-*", NULL, 2 },
};
static const struct metrics_count org_errors[] = {
	{ "ListResourceInstances", "http-503", 4 },
};

#define ACC_A "a0000000000000000000000000000001"
#define ACC_B "a0000000000000000000000000000002"
#define PRJ_1 "b1000000000000000000000000000001"
#define PRJ_2 "b2000000000000000000000000000002"
#define PRJ_3 "b3000000000000000000000000000003"

/* Three targets: one that changed things, a new one's dry run (of the base
 * identity's own account, with a name that needs escaping), one failing
 * that never succeeded. */
static struct metrics_snapshot org_targets[3];

static struct metrics_snapshot sample_org(void)
{
	struct metrics_snapshot s = sample();

	org_targets[0] = (struct metrics_snapshot) {
		.target_name = "acme-prod/cn-north-4", .account_id = ACC_A, .account_name = "acme-prod",
		.region = "cn-north-4", .project_id = PRJ_1, .target_state = "changed",
		.pass_id = "0123456789abcdef0123456789abcdef-3", .outcome = PASS_CHANGED,
		.pass_started_usec = T0, .pass_finished_usec = T0 + USEC_PER_SEC,
		.pass_duration_usec = USEC_PER_SEC,
		.counts = { .planned = 2, .deleted = 2, .governed_secrets = 5, .noncompliant_tags = 2 },
		.last_success_usec = T0 + USEC_PER_SEC, .next_pass_usec = T0 + 300 * USEC_PER_SEC,
		.deleted_by_rule = { org_rules, ELEMENTSOF(org_rules) },
		.requests_by_api = { org_apis, ELEMENTSOF(org_apis) },
		.credentials_expiry_usec = T0 + 3600 * USEC_PER_SEC,
	};
	org_targets[0].passes_total[PASS_CONVERGED] = 2;
	org_targets[0].passes_total[PASS_CHANGED] = 1;
	org_targets[1] = (struct metrics_snapshot) {
		.target_name = "new\"one\\", .account_id = NULL, .account_name = NULL,
		.region = "ap-southeast-1", .project_id = PRJ_2, .target_state = "converged",
		.pass_id = "0123456789abcdef0123456789abcdef-4", .outcome = PASS_CONVERGED,
		.pass_started_usec = T0, .pass_finished_usec = T0 + 500 * USEC_PER_MSEC,
		.pass_duration_usec = 500 * USEC_PER_MSEC, .pass_dry_run = true,
		.counts = { .planned = 1, .would_delete = 1, .governed_secrets = 1, .noncompliant_tags = 1 },
		.last_success_usec = T0 + 500 * USEC_PER_MSEC,
	};
	org_targets[1].passes_total[PASS_CONVERGED] = 1;
	org_targets[2] = (struct metrics_snapshot) {
		.target_name = "acme-dev/cn-north-4", .account_id = ACC_B, .account_name = "acme-dev",
		.region = "cn-north-4", .project_id = PRJ_3, .target_state = "failing",
		.pass_id = "0123456789abcdef0123456789abcdef-5", .outcome = PASS_FAILED,
		.error = "agency refused: IAM.0101 the agency csms-tagd does not exist in account "
		         ACC_B ", or does not trust the base identity",
		.pass_started_usec = T0, .pass_finished_usec = T0 + 2 * USEC_PER_SEC,
		.pass_duration_usec = 2 * USEC_PER_SEC,
		.errors_by_api_code = { org_errors, ELEMENTSOF(org_errors) },
		.next_pass_usec = T0 + 30 * USEC_PER_SEC,
	};
	org_targets[2].passes_total[PASS_FAILED] = 4;
	s.instance = "csms-tagd@org";
	s.project_id = s.region = NULL;
	s.pass_id = NULL;
	s.outcome = PASS_FAILED;
	s.error = "acme-dev/cn-north-4: agency refused";
	s.counts = (struct pass_counts) { .planned = 3, .deleted = 2, .would_delete = 1,
	                                  .governed_secrets = 6, .noncompliant_tags = 3 };
	s.last_success_usec = 0;
	s.next_pass_usec = T0 + 30 * USEC_PER_SEC;
	s.credentials_expiry_usec = T0 + 3600 * USEC_PER_SEC;
	memset(s.passes_total, 0, sizeof(s.passes_total));
	s.passes_total[PASS_CONVERGED] = 3;
	s.passes_total[PASS_CHANGED] = 1;
	s.passes_total[PASS_FAILED] = 4;
	s.deleted_by_rule = (struct metrics_counts) { org_rules, ELEMENTSOF(org_rules) };
	s.requests_by_api = (struct metrics_counts) { org_apis, ELEMENTSOF(org_apis) };
	s.errors_by_api_code = (struct metrics_counts) { org_errors, ELEMENTSOF(org_errors) };
	s.targets = org_targets;
	s.n_targets = ELEMENTSOF(org_targets);
	return s;
}

#define OID "instance=\"csms-tagd@org\""
#define T1 OID ",account=\"" ACC_A "\",region=\"cn-north-4\",project=\"" PRJ_1 "\",target=\"acme-prod/cn-north-4\""
#define T2 OID ",account=\"\",region=\"ap-southeast-1\",project=\"" PRJ_2 "\",target=\"new\\\"one\\\\\""
#define T3 OID ",account=\"" ACC_B "\",region=\"cn-north-4\",project=\"" PRJ_3 "\",target=\"acme-dev/cn-north-4\""

/* Each family once, its samples together; the process's with the instance
 * only, the others one (set) per target, labelled. */
static void test_prometheus_targets(void **state)
{
	struct metrics_snapshot s = sample_org();
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	char names[64][64];
	size_t n_names = 0;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "\ncsms_tagd_up{" OID "} 1\n"));
	assert_non_null(strstr(text, "csms_tagd_info{" OID ",version=\"0.1.0\",auth_method=\"aksk\",dry_run=\"no\"} 1\n"));
	assert_non_null(strstr(text,
		"# HELP csms_tagd_targets Targets governed, by state.\n"
		"# TYPE csms_tagd_targets gauge\n"
		"csms_tagd_targets{" OID ",state=\"converged\"} 1\n"
		"csms_tagd_targets{" OID ",state=\"changed\"} 1\n"
		"csms_tagd_targets{" OID ",state=\"partial\"} 0\n"
		"csms_tagd_targets{" OID ",state=\"failing\"} 1\n"
		"csms_tagd_targets{" OID ",state=\"held\"} 0\n"
		"csms_tagd_targets{" OID ",state=\"pending\"} 0\n"
		"# HELP csms_tagd_last_pass_timestamp_seconds"));
	assert_non_null(strstr(text,
		"# TYPE csms_tagd_last_pass_tags gauge\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"planned\"} 2\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"deleted\"} 2\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"would_delete\"} 0\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"kept\"} 0\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"failed\"} 0\n"
		"csms_tagd_last_pass_tags{" T1 ",result=\"held\"} 0\n"
		"csms_tagd_last_pass_tags{" T2 ",result=\"planned\"} 1\n"
		"csms_tagd_last_pass_tags{" T2 ",result=\"deleted\"} 0\n"
		"csms_tagd_last_pass_tags{" T2 ",result=\"would_delete\"} 1\n"));
	assert_non_null(strstr(text, "csms_tagd_last_pass_success{" T3 "} 0\n"));
	/* Only the targets that have one; the family once. */
	assert_non_null(strstr(text,
		"# TYPE csms_tagd_last_success_timestamp_seconds gauge\n"
		"csms_tagd_last_success_timestamp_seconds{" T1 "} 1796000001.000000\n"
		"csms_tagd_last_success_timestamp_seconds{" T2 "} 1796000000.500000\n"
		"# HELP csms_tagd_next_pass_timestamp_seconds When the next pass is due.\n"
		"# TYPE csms_tagd_next_pass_timestamp_seconds gauge\n"
		"csms_tagd_next_pass_timestamp_seconds{" T1 "} 1796000300.000000\n"
		"csms_tagd_next_pass_timestamp_seconds{" T3 "} 1796000030.000000\n"
		"# HELP csms_tagd_passes_total"));
	assert_non_null(strstr(text, "csms_tagd_passes_total{" T3 ",outcome=\"failed\"} 4\n"));
	assert_non_null(strstr(text,
		"# TYPE csms_tagd_tags_deleted_total counter\n"
		"csms_tagd_tags_deleted_total{" T1 ",rule=\"[secrets \\\"app-*\\\"] temp-*\"} 2\n"
		"# HELP csms_tagd_requests_total"));
	assert_non_null(strstr(text,
		"csms_tagd_request_errors_total{" T3 ",api=\"ListResourceInstances\",code=\"http-503\"} 4\n"));
	assert_non_null(strstr(text,
		"# TYPE csms_tagd_credentials_expiry_timestamp_seconds gauge\n"
		"csms_tagd_credentials_expiry_timestamp_seconds{" T1 "} 1796003600.000000\n"
		"# HELP csms_tagd_journal"));
	assert_non_null(strstr(text, "csms_tagd_config_load_success{" OID "} 1\n"));
	assert_non_null(strstr(text, "csms_tagd_journal_write_failures_total{" OID "} 0\n"));
	/* The whole's sums are not series of their own: sum() gives them. */
	assert_null(strstr(text, "{" OID ",result="));
	assert_null(strstr(text, "{" OID ",outcome="));
	/* Every HELP once: no family is split. */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];

		if (sscanf(line, "# HELP %63s", name) != 1)
			continue;
		for (size_t i = 0; i < n_names; i++)
			if (strcmp(names[i], name) == 0)
				fail_msg("%s twice", name);
		assert_true(n_names < ELEMENTSOF(names));
		strcpy(names[n_names++], name);
	}
	assert_int_equal(n_names, 24);
}

/* Label values: quotes, backslashes and newlines escaped, bytes that are
 * not UTF-8 replaced (U+FFFD), valid UTF-8 kept. */
static void test_prometheus_label_escapes(void **state)
{
	struct metrics_snapshot t = {
		.target_name = "a\"b\\c\nd \xe4\xb8\xad \xff\xc3 \xed\xa0\x80 \xc0\xaf \xf0\x9f\x94\x91",
		.project_id = PRJ_1, .region = "r",
	};
	struct metrics_snapshot s = { .instance = "i", .targets = &t, .n_targets = 1, .version = "v" };
	_cleanup_free_ char *text = NULL;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "csms_tagd_passes_total{instance=\"i\",account=\"\",region=\"r\",project=\"" PRJ_1
	                       "\",target=\"a\\\"b\\\\c\\nd \xe4\xb8\xad \xef\xbf\xbd\xef\xbf\xbd "
	                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
	                       "\xf0\x9f\x94\x91\",outcome=\"converged\"} 0\n"));
	/* No pass yet: no last_pass families at all, the counters' heads still. */
	assert_null(strstr(text, "last_pass"));
	assert_non_null(strstr(text, "# TYPE csms_tagd_requests_total counter\n# HELP"));
	assert_non_null(strstr(text, "csms_tagd_targets{instance=\"i\",state=\"unknown\"} 1\n"));
}

/* An organisation without targets yet: targets not NULL, n 0. */
static void test_prometheus_no_targets(void **state)
{
	struct metrics_snapshot none[1] = {};
	struct metrics_snapshot s = { .instance = "i", .targets = none, .n_targets = 0, .version = "v" };
	_cleanup_free_ char *text = NULL, *buf = NULL;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_non_null(strstr(text, "csms_tagd_targets{instance=\"i\",state=\"converged\"} 0\n"));
	assert_non_null(strstr(text, "# TYPE csms_tagd_passes_total counter\n# HELP"));
	assert_null(strstr(text, "project="));
	buf = printed(&s, true);
	assert_non_null(strstr(buf, "Targets          : none\n"));
	assert_null(strstr(buf, "TARGET"));
}

static int run_checker(const char *what, const char *text)
{
	_cleanup_free_ char *cmd = NULL;
	char path[] = "/tmp/test-metrics.XXXXXX";
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
	close(fd);
	cmd = xasprintf("%s %s >/dev/null", what, path);
	rc = system(cmd);
	unlink(path);
	return rc;
}

/* tests/promcheck.py (and promtool when installed) accept it. */
static void test_promcheck_targets(void **state)
{
	struct metrics_snapshot s = sample_org();
	const char *top = getenv("top_srcdir"), *py = getenv("PYTHON3");
	_cleanup_free_ char *text = NULL, *cmd = NULL;

	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	if (access("/usr/bin/promtool", X_OK) == 0)
		assert_int_equal(run_checker("/usr/bin/promtool check metrics <", text), 0);
	if (!top)
		skip();
	cmd = xasprintf("%s %s/tests/promcheck.py", py && *py ? py : "python3", top);
	assert_int_equal(run_checker(cmd, text), 0);
	free(text);
	text = NULL;
	s = sample();
	assert_int_equal(metrics_format_prometheus(&s, &text), 0);
	assert_int_equal(run_checker(cmd, text), 0);
}

static void assert_target_equal(const struct metrics_snapshot *a, const struct metrics_snapshot *b)
{
	assert_true(streq_ptr(a->target_name, b->target_name));
	assert_true(streq_ptr(a->account_id, b->account_id));
	assert_true(streq_ptr(a->account_name, b->account_name));
	assert_true(streq_ptr(a->region, b->region));
	assert_true(streq_ptr(a->project_id, b->project_id));
	assert_true(streq_ptr(a->target_state, b->target_state));
	assert_true(streq_ptr(a->pass_id, b->pass_id));
	assert_true(streq_ptr(a->error, b->error));
	assert_int_equal(a->outcome, b->outcome);
	assert_int_equal(a->pass_started_usec, b->pass_started_usec);
	assert_int_equal(a->pass_finished_usec, b->pass_finished_usec);
	assert_int_equal(a->pass_duration_usec, b->pass_duration_usec);
	assert_int_equal(a->last_success_usec, b->last_success_usec);
	assert_int_equal(a->next_pass_usec, b->next_pass_usec);
	assert_int_equal(a->credentials_expiry_usec, b->credentials_expiry_usec);
	assert_int_equal(a->pass_dry_run, b->pass_dry_run);
	assert_memory_equal(&a->counts, &b->counts, sizeof(a->counts));
	assert_memory_equal(a->passes_total, b->passes_total, sizeof(a->passes_total));
	assert_counts_equal(&a->deleted_by_rule, &b->deleted_by_rule);
	assert_counts_equal(&a->requests_by_api, &b->requests_by_api);
	assert_counts_equal(&a->errors_by_api_code, &b->errors_by_api_code);
}

static void test_state_targets_round_trip(void **state)
{
	struct metrics_snapshot s = sample_org();
	_cleanup_free_ char *text = NULL, *again = NULL, *error = NULL;
	struct metrics_state *st = NULL;
	const struct metrics_snapshot *r;

	assert_int_equal(metrics_format_state(&s, &text), 0);
	assert_non_null(strstr(text, "\"journal_write_failures\": 0,\n  \"targets\": [\n    {\n"
	                       "      \"target\": \"acme-prod/cn-north-4\",\n"
	                       "      \"account_id\": \"" ACC_A "\",\n      \"account_name\": \"acme-prod\",\n"
	                       "      \"region\": \"cn-north-4\",\n      \"project_id\": \"" PRJ_1 "\",\n"
	                       "      \"state\": \"changed\",\n      \"pass_id\": "));
	assert_non_null(strstr(text, "      \"account_id\": null,\n"));
	assert_int_equal(metrics_state_parse(text, &st, &error), 0);
	r = metrics_state_snapshot(st);
	assert_non_null(r->targets);
	assert_int_equal(r->n_targets, 3);
	for (size_t i = 0; i < 3; i++)
		assert_target_equal(&r->targets[i], &org_targets[i]);
	assert_string_equal(r->instance, "csms-tagd@org");
	assert_null(r->project_id);
	assert_null(r->target_name);
	assert_int_equal(r->passes_total[PASS_FAILED], 4);
	assert_int_equal(metrics_format_state(r, &again), 0);
	assert_string_equal(text, again);
	metrics_state_free(st);
	free(text);
	free(again);
	text = again = NULL;

	/* No targets yet: an empty array, read back as such. */
	s.n_targets = 0;
	assert_int_equal(metrics_format_state(&s, &text), 0);
	assert_non_null(strstr(text, "\"targets\": []\n}\n"));
	assert_int_equal(metrics_state_parse(text, &st, &error), 0);
	assert_non_null(metrics_state_snapshot(st)->targets);
	assert_int_equal(metrics_state_snapshot(st)->n_targets, 0);
	metrics_state_free(st);
	free(text);
	text = NULL;

	/* A target's labels on a snapshot of its own: written at the top. */
	s = sample();
	s.account_id = ACC_A;
	s.target_name = "acme-prod/cn-north-4";
	s.target_state = "changed";
	assert_int_equal(metrics_format_state(&s, &text), 0);
	assert_non_null(strstr(text, "\"region\": \"cn-north-4\",\n  \"account_id\": \"" ACC_A "\",\n"
	                       "  \"target_name\": \"acme-prod/cn-north-4\",\n  \"target_state\": \"changed\",\n"
	                       "  \"up\": true,"));
	assert_null(strstr(text, "\"targets\""));
	assert_int_equal(metrics_state_parse(text, &st, &error), 0);
	r = metrics_state_snapshot(st);
	assert_string_equal(r->account_id, ACC_A);
	assert_null(r->account_name);
	assert_string_equal(r->target_state, "changed");
	assert_null(r->targets);
	assert_int_equal(metrics_format_state(r, &again), 0);
	assert_string_equal(text, again);
	metrics_state_free(st);
}

/* A state file's targets are checked as the rest: the error names the
 * target's index and the field. */
static void test_state_targets_errors(void **state)
{
	struct metrics_snapshot s = sample_org();
	_cleanup_free_ char *text = NULL;
	json_t *j, *t;
	char *p;

	assert_int_equal(metrics_format_state(&s, &text), 0);
	p = strstr(text, "\"failed\",\n      \"error\": \"agency");
	assert_non_null(p);
	memcpy(p, "\"fa1led\"", 8);
	assert_parse_error(text, "targets[2].outcome: not an outcome csms-tagd writes");
	memcpy(p, "\"failed\"", 8);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	t = json_array_get(json_object_get(j, "targets"), 1);
	assert_int_equal(json_object_set_new(t, "planned", json_integer(-1)), 0);
	free(text);
	text = json_dumps(j, 0);
	assert_parse_error(text, "targets[1].planned: expected a non-negative integer");
	assert_int_equal(json_object_set_new(t, "planned", json_integer(1)), 0);
	assert_int_equal(json_object_set_new(t, "pass_finished", json_string("yesterday")), 0);
	free(text);
	text = json_dumps(j, 0);
	assert_parse_error(text, "targets[1].pass_finished: expected a time");
	assert_int_equal(json_array_set_new(json_object_get(j, "targets"), 1, json_integer(3)), 0);
	free(text);
	text = json_dumps(j, 0);
	assert_parse_error(text, "targets[1]: expected an object");
	assert_int_equal(json_object_set_new(j, "targets", json_object()), 0);
	free(text);
	text = json_dumps(j, 0);
	assert_parse_error(text, "targets: expected an array");
	json_decref(j);
}

static void test_target_states(void **state)
{
	struct metrics_snapshot t[5] = {
		{ .target_state = "failing" }, { .target_state = "backoff" }, {},
		{ .target_state = "backoff" }, { .target_state = "converged" },
	};
	struct metrics_snapshot s = { .targets = t, .n_targets = ELEMENTSOF(t) };
	_cleanup_free_ struct metrics_count *c = NULL;
	size_t n;

	assert_int_equal(metrics_target_states(&s, &c, &n), 0);
	assert_int_equal(n, 8);
	assert_string_equal(c[0].key, "converged");
	assert_int_equal(c[0].value, 1);
	assert_string_equal(c[3].key, "failing");
	assert_int_equal(c[3].value, 1);
	assert_int_equal(c[4].value, 0);
	assert_string_equal(c[6].key, "backoff");
	assert_int_equal(c[6].value, 2);
	assert_string_equal(c[7].key, "unknown");
	assert_int_equal(c[7].value, 1);
	/* --status judges the state; without one, the outcome. */
	assert_true(metrics_target_unhealthy(&t[0]));
	assert_false(metrics_target_unhealthy(&t[1]));
	t[2].outcome = PASS_ABORTED;
	assert_true(metrics_target_unhealthy(&t[2]));
	t[4].outcome = PASS_FAILED;         /* the state says otherwise: it wins */
	assert_false(metrics_target_unhealthy(&t[4]));
	t[0] = (struct metrics_snapshot) { .target_name = "prod-bj", .account_id = ACC_A,
	                                   .account_name = "acme-prod", .project_id = PRJ_1 };
	assert_true(metrics_target_selected(&t[0], "prod-*"));
	assert_true(metrics_target_selected(&t[0], "a0000*"));
	assert_true(metrics_target_selected(&t[0], "acme-*"));
	assert_true(metrics_target_selected(&t[0], PRJ_1));
	assert_false(metrics_target_selected(&t[0], "cn-north-4"));
	assert_false(metrics_target_selected(&t[4], "*"));  /* nothing to match */
}

static void test_print_targets(void **state)
{
	struct metrics_snapshot s = sample_org();
	_cleanup_free_ char *buf = printed(&s, true), *one = NULL;
	size_t len = 0;
	FILE *f;

	assert_string_equal(buf,
		"State            : running (pid 4242)\n"
		"Instance         : csms-tagd@org\n"
		"Version          : 0.1.0\n"
		"Targets          : 3: 1 converged, 1 changed, 1 failing\n"
		"Outcome          : failed (the worst of the targets' last passes)\n"
		"Error            : acme-dev/cn-north-4: agency refused\n"
		"Tags             : 3 planned, 2 deleted, 1 would be deleted (dry run: none deleted), 0 kept, 0 failed, 0 held\n"
		"Governed         : 6 secrets, 3 non-compliant tags\n"
		"Last success     : never\n"
		"Next pass        : 2026-11-30 00:53:50 UTC (31s ago)\n"
		"Passes           : 3 converged, 1 changed, 0 partial, 4 failed, 0 aborted\n"
		"Deleted by rule  : [secrets \"app-*\"] temp-* 2\n"
		"Requests         : ListResourceInstances 3\n"
		"                 : DeleteSecretTag 2\n"
		"Errors           : ListResourceInstances http-503 4\n"
		"Config           : /etc/csms-tagd/csms-tagd.conf\n"
		"Config loaded    : ok, 2026-11-29 23:53:20 UTC (1h 1min 1s ago)\n"
		"Credentials      : aksk, expire 2026-11-30 01:53:20 UTC (in 58min 59s)\n"
		"\n"
		"TARGET                ACCOUNT    REGION          STATE      ENDED (UTC)  DELETED  ERROR\n"
		"acme-prod/cn-north-4  acme-prod  cn-north-4      changed    00:53:21           2\n"
		"new\"one\\              (own)      ap-southeast-1  converged  00:53:20          ~1\n"
		"acme-dev/cn-north-4   acme-dev   cn-north-4      failing    00:53:22           0  "
		"agency refused: IAM.0101 the agency...\n");

	/* --status --target GLOB: the state line, then each one in full. */
	f = open_memstream(&one, &len);
	assert_non_null(f);
	assert_int_equal(metrics_print_targets(&s, true, T0 + 61 * USEC_PER_SEC, "acme-d*", f), 1);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(one,
		"State            : running (pid 4242)\n"
		"\n"
		"Target           : acme-dev/cn-north-4\n"
		"Account          : acme-dev (" ACC_B ")\n"
		"Project          : " PRJ_3 " (cn-north-4)\n"
		"Target state     : failing\n"
		"Last pass        : 0123456789abcdef0123456789abcdef-5\n"
		"Outcome          : failed\n"
		"Error            : agency refused: IAM.0101 the agency csms-tagd does not exist in account "
		ACC_B ", or does not trust the base identity\n"
		"Finished         : 2026-11-30 00:53:22 UTC (59s ago)\n"
		"Duration         : 2s\n"
		"Tags             : 0 planned, 0 deleted, 0 kept, 0 failed, 0 held\n"
		"Governed         : 0 secrets, 0 non-compliant tags\n"
		"Last success     : never\n"
		"Next pass        : 2026-11-30 00:53:50 UTC (31s ago)\n"
		"Passes           : 0 converged, 0 changed, 0 partial, 4 failed, 0 aborted\n"
		"Deleted by rule  : none\n"
		"Requests         : none\n"
		"Errors           : ListResourceInstances http-503 4\n"
		"Credentials      : aksk, no expiry\n");
	free(one);
	one = NULL;
	f = open_memstream(&one, &len);
	assert_non_null(f);
	assert_int_equal(metrics_print_targets(&s, false, T0 + 61 * USEC_PER_SEC, "a000*", f), 2);
	assert_int_equal(metrics_print_targets(&s, false, T0 + 61 * USEC_PER_SEC, "nothing", f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(one, "Account          : acme-prod (" ACC_A ")\n"));
	assert_non_null(strstr(one, "Next pass        : none: not running\n"));
}

/* The service's entry: per-target snapshots from their monitors, the
 * whole's sums, both files written. */
static void test_monitor_publish_targets(void **state)
{
	char dir[] = "/tmp/test-metrics-org.XXXXXX";
	_cleanup_free_ char *prom = NULL, *text = NULL, *error = NULL;
	struct monitor whole = {}, m[2] = {};
	struct config cfg = {}, view[2] = {};
	struct pass_result r0 = {}, r1 = {};
	struct metrics_state *st = NULL;
	const struct metrics_snapshot *s;
	size_t len;

	assert_non_null(mkdtemp(dir));
	whole.state_path = xasprintf("%s/state.json", dir);
	whole.instance = strdup("csms-tagd@org");
	prom = xasprintf("%s/csms-tagd.prom", dir);
	cfg.daemon.metrics_file = prom;
	monitor_note_config_load(&whole, NULL);
	view[0].csms = (struct csms_settings) { .target_name = (char *) "acme-prod/cn-north-4",
	                                        .account_id = (char *) ACC_A, .account_name = (char *) "acme-prod",
	                                        .region = (char *) "cn-north-4", .project_id = (char *) PRJ_1 };
	view[1].csms = (struct csms_settings) { .target_name = (char *) "self/cn-north-4",
	                                        .region = (char *) "cn-north-4", .project_id = (char *) PRJ_2 };
	r0.outcome = PASS_CHANGED;
	r0.counts.planned = r0.counts.deleted = 2;
	r0.counts.governed_secrets = 4;
	r0.duration_usec = 1000;
	assert_int_equal(metrics_tally_add(&r0.deleted_by_rule, "[secrets \"*\"] temp-*", NULL, 2), 0);
	monitor_note_pass(&m[0], &r0);
	m[0].next_pass = T0;
	r1.outcome = PASS_FAILED;
	r1.counts.governed_secrets = 3;
	snprintf(r1.failure, sizeof(r1.failure), "ListResourceInstances: HTTP 503");
	monitor_note_pass(&m[1], &r1);
	monitor_note_pass(&m[1], &r1);
	m[1].next_pass = T0 + 1;
	assert_int_equal(metrics_tally_add(&m[1].errors, "ListResourceInstances", "http-503", 3), 0);
	assert_int_equal(metrics_tally_add(&whole.errors, "ListProjects", "http-403", 1), 0);

	struct monitor_target t[2] = {
		{ .m = &m[0], .cfg = &view[0], .pass_id = "p-1", .scheduled = true, .state = "changed" },
		{ .m = &m[1], .cfg = &view[1], .pass_id = "p-2", .scheduled = false, .state = "failing" },
	};
	struct monitor_view v = { .cfg = &cfg, .config_path = "/etc/csms-tagd/org.conf", .pass_id = "p-2",
	                          .up = true };

	monitor_publish_targets(&whole, &v, t, 2);
	assert_false(whole.write_failed);
	assert_int_equal(metrics_state_read(whole.state_path, &st, &error), 0);
	s = metrics_state_snapshot(st);
	assert_string_equal(s->instance, "csms-tagd@org");
	assert_null(s->project_id);
	assert_int_equal(s->outcome, PASS_FAILED);
	assert_string_equal(s->error, "self/cn-north-4: ListResourceInstances: HTTP 503");
	assert_string_equal(s->pass_id, "p-2");
	assert_int_equal(s->counts.planned, 2);
	assert_int_equal(s->counts.governed_secrets, 7);
	assert_int_equal(s->passes_total[PASS_CHANGED], 1);
	assert_int_equal(s->passes_total[PASS_FAILED], 2);
	assert_int_equal(s->next_pass_usec, T0);        /* the second is not scheduled */
	assert_int_equal(s->last_success_usec, 0);      /* the second never succeeded */
	assert_int_equal(s->deleted_by_rule.n, 1);
	assert_int_equal(s->deleted_by_rule.items[0].value, 2);
	assert_int_equal(s->errors_by_api_code.n, 2);
	assert_string_equal(s->errors_by_api_code.items[0].key, "ListProjects");
	assert_int_equal(s->errors_by_api_code.items[1].value, 3);
	assert_true(s->config_ok);
	assert_int_equal(s->n_targets, 2);
	assert_string_equal(s->targets[0].target_name, "acme-prod/cn-north-4");
	assert_string_equal(s->targets[0].account_name, "acme-prod");
	assert_string_equal(s->targets[0].target_state, "changed");
	assert_string_equal(s->targets[0].pass_id, "p-1");
	assert_int_equal(s->targets[0].next_pass_usec, T0);
	assert_int_equal(s->targets[0].counts.deleted, 2);
	assert_null(s->targets[1].account_id);
	assert_int_equal(s->targets[1].next_pass_usec, 0);
	assert_int_equal(s->targets[1].errors_by_api_code.items[0].value, 3);
	metrics_state_free(st);
	assert_int_equal(read_file(prom, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "csms_tagd_last_pass_tags{instance=\"csms-tagd@org\",account=\"" ACC_A
	                       "\",region=\"cn-north-4\",project=\"" PRJ_1
	                       "\",target=\"acme-prod/cn-north-4\",result=\"deleted\"} 2\n"));
	assert_non_null(strstr(text, "csms_tagd_targets{instance=\"csms-tagd@org\",state=\"failing\"} 1\n"));

	/* No targets (discovery found none yet): still an organisation's file. */
	monitor_publish_targets(&whole, &v, NULL, 0);
	assert_int_equal(metrics_state_read(whole.state_path, &st, &error), 0);
	assert_non_null(metrics_state_snapshot(st)->targets);
	assert_int_equal(metrics_state_snapshot(st)->n_targets, 0);
	metrics_state_free(st);

	metrics_tally_clear(&r0.deleted_by_rule);
	unlink(whole.state_path);
	unlink(prom);
	assert_int_equal(rmdir(dir), 0);
	monitor_clear(&whole);
	monitor_clear(&m[0]);
	monitor_clear(&m[1]);
}

/* 500 targets: each file in one go, linear in the targets (the labels of
 * each built once), and read back. */
static void test_many_targets(void **state)
{
	enum { N = 500 };
	struct metrics_snapshot *t = calloc(N, sizeof(*t)), s = sample();
	char (*names)[40] = calloc(N, sizeof(*names));
	_cleanup_free_ char *prom = NULL, *json = NULL, *error = NULL, *buf = NULL;
	struct metrics_state *st = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(t);
	assert_non_null(names);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "org-m%04zu/cn-north-4", i);
		t[i] = org_targets[i % 3];
		t[i].target_name = names[i];
		t[i].target_state = i % 7 ? "converged" : "failing";
	}
	s.targets = t;
	s.n_targets = N;
	assert_int_equal(metrics_format_prometheus(&s, &prom), 0);
	assert_non_null(strstr(prom, "target=\"org-m0499/cn-north-4\",outcome=\"aborted\"} 0\n"));
	assert_non_null(strstr(prom, "csms_tagd_targets{instance=\"csms-tagd@prod\",state=\"failing\"} 72\n"));
	assert_int_equal(metrics_format_state(&s, &json), 0);
	assert_int_equal(metrics_state_parse(json, &st, &error), 0);
	assert_int_equal(metrics_state_snapshot(st)->n_targets, N);
	assert_string_equal(metrics_state_snapshot(st)->targets[N - 1].target_name, "org-m0499/cn-north-4");
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	metrics_print(metrics_state_snapshot(st), true, T0, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "Targets          : 500: 428 converged, 72 failing\n"));
	metrics_state_free(st);
	free(names);
	free(t);
}

static void test_tally(void **state)
{
	struct metrics_tally t = {};
	struct metrics_counts c;

	assert_int_equal(metrics_tally_add(&t, "DeleteSecretTag", "CSMS.0401", 1), 0);
	assert_int_equal(metrics_tally_add(&t, "ListSecrets", NULL, 2), 0);
	assert_int_equal(metrics_tally_add(&t, "DeleteSecretTag", "CSMS.0401", 3), 0);
	assert_int_equal(metrics_tally_add(&t, "DeleteSecretTag", NULL, 1), 0);
	c = metrics_tally_counts(&t);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.items[0].key2, "CSMS.0401");
	assert_int_equal(c.items[0].value, 4);
	assert_null(c.items[1].key2);
	assert_int_equal(c.items[2].value, 1);
	metrics_tally_clear(&t);
	assert_int_equal(t.n, 0);
	assert_null(t.items);
}

/* Both files, and the first failure named. */
static void test_publish(void **state)
{
	struct metrics_snapshot s = sample();
	char dir[] = "/tmp/test-metrics-pub.XXXXXX";
	_cleanup_free_ char *st = NULL, *prom = NULL, *text = NULL, *bad = NULL, *error = NULL;
	struct metrics_state *back = NULL;
	const char *failed;
	size_t len;

	assert_non_null(mkdtemp(dir));
	st = xasprintf("%s/state.json", dir);
	prom = xasprintf("%s/csms-tagd.prom", dir);
	bad = xasprintf("%s/missing/x.prom", dir);
	assert_int_equal(metrics_publish(&s, st, prom, &failed), 0);
	assert_null(failed);
	assert_int_equal(metrics_state_read(st, &back, &error), 0);
	assert_string_equal(metrics_state_snapshot(back)->pass_id, s.pass_id);
	metrics_state_free(back);
	assert_int_equal(read_file(prom, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "csms_tagd_last_pass_success{" ID "} 0\n"));
	/* A credential quoted in an error text does not reach the file. */
	s.error = "echo: X-Auth-Token: TopSecretToken42";
	assert_int_equal(redact_register("TopSecretToken42"), 0);
	assert_int_equal(metrics_publish(&s, st, NULL, &failed), 0);
	free(text);
	assert_int_equal(read_file(st, 1 << 20, &text, &len), 0);
	redact_forget_all();
	assert_null(strstr(text, "TopSecretToken42"));
	assert_non_null(strstr(text, "\"error\": \"echo: X-Auth-Token: ***\""));
	assert_int_equal(metrics_publish(&s, st, bad, &failed), -ENOENT);
	assert_ptr_equal(failed, bad);
	assert_int_equal(metrics_publish(&s, bad, NULL, &failed), -ENOENT);
	assert_ptr_equal(failed, bad);
	unlink(st);
	unlink(prom);
	assert_int_equal(rmdir(dir), 0);
}

static void test_state_path(void **state)
{
	char *p;

	assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
	p = state_file_path(NULL, METRICS_STATE_FILE);
	assert_string_equal(p, "/var/lib/csms-tagd/state.json");
	free(p);
	assert_int_equal(setenv("STATE_DIRECTORY", "", 1), 0);
	p = state_file_path(NULL, METRICS_STATE_FILE);
	assert_string_equal(p, "/var/lib/csms-tagd/state.json");
	free(p);
	assert_int_equal(setenv("STATE_DIRECTORY", "/var/lib/csms-tagd/prod:/var/lib/other", 1), 0);
	p = state_file_path(NULL, METRICS_STATE_FILE);
	assert_string_equal(p, "/var/lib/csms-tagd/prod/state.json");
	free(p);
	p = state_file_path("/srv/state", METRICS_STATE_FILE);
	assert_string_equal(p, "/srv/state/state.json");
	free(p);
	assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
}

static void test_pass_id(void **state)
{
	char base[PASS_ID_MAX], id[PASS_ID_MAX];

	assert_int_equal(pass_id_base("0f3c5b59ac7546d8b70b3423b9f88a23", 42, base), 0);
	assert_string_equal(base, "0f3c5b59ac7546d8b70b3423b9f88a23");
	assert_string_equal(pass_id_format(id, base, 12), "0f3c5b59ac7546d8b70b3423b9f88a23-12");
	/* A bad $INVOCATION_ID is not used; outside systemd: boot ID + PID. */
	assert_int_equal(pass_id_base("not-an-id", 42, base), 0);
	assert_string_not_equal(base, "not-an-id");
	if (!getenv("INVOCATION_ID")) {
		assert_int_equal(strlen(base), 32 + strlen("-p42"));
		assert_string_equal(base + 32, "-p42");
	}
	assert_int_equal(pass_id_base("00000000000000000000000000000000", 42, base), 0);
	assert_string_not_equal(base, "00000000000000000000000000000000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcome_names),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_prometheus_first_start),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_errors),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_dry_run_pass),
		cmocka_unit_test(test_state_older),
		cmocka_unit_test(test_stopped),
		cmocka_unit_test(test_tally),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_state_path),
		cmocka_unit_test(test_pass_id),
		cmocka_unit_test(test_prometheus_targets),
		cmocka_unit_test(test_prometheus_label_escapes),
		cmocka_unit_test(test_prometheus_no_targets),
		cmocka_unit_test(test_promcheck_targets),
		cmocka_unit_test(test_state_targets_round_trip),
		cmocka_unit_test(test_state_targets_errors),
		cmocka_unit_test(test_target_states),
		cmocka_unit_test(test_print_targets),
		cmocka_unit_test(test_monitor_publish_targets),
		cmocka_unit_test(test_many_targets),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
