/* test-metrics.c - Prometheus text, the state file (write, read, print), the
 * atomic file replacement and pass identifiers. */
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
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
