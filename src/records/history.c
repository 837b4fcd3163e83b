/* history.c - the --history command.  See history.h. */
#include "history.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ledger.h"
#include "log.h"
#include "util.h"
#include "values.h"

static int print_json(const struct ledger_list *l)
{
	json_t *rows = json_array();
	char *text;

	for (size_t i = 0; rows && i < l->n; i++) {
		const struct ledger_deletion *d = &l->v[i];
		char intent[32], outcome[32];
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:o}",
		                      "id", (json_int_t) d->id,
		                      "target", d->target, "target_name", d->target_name,
		                      "account_id", d->account_id, "region", d->region,
		                      "intent_time", format_utc_time(intent, sizeof(intent), d->intent_usec),
		                      "outcome", ledger_outcome_to_string(d->outcome),
		                      "secret_id", d->secret_id, "secret_name", d->secret_name,
		                      "key", log_json_value(d->key), "rule", d->rule, "reason", d->reason,
		                      "pass_id", d->pass_id,
		                      "outcome_time", d->outcome_usec ?
		                      format_utc_time(outcome, sizeof(outcome), d->outcome_usec) : "",
		                      "value", log_json_value(d->value));

		if (!o || json_array_append_new(rows, o) < 0) {
			json_decref(rows);
			return -ENOMEM;
		}
	}
	text = rows ? json_dumps(rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(rows);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

/* Whether the rows are of more than one target. */
static bool many_targets(const struct ledger_list *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (strcmp(l->v[i].target, l->v[0].target) != 0)
			return true;
	return false;
}

static const char *target_label(const struct ledger_deletion *d)
{
	return d->target_name[0] ? d->target_name : d->target[0] ? d->target : "-";
}

static void print_table(const struct ledger_list *l)
{
	bool targets = many_targets(l);
	int width = 6;

	for (size_t i = 0; targets && i < l->n; i++) {
		int w = (int) strlen(target_label(&l->v[i]));

		width = w > width ? w : width;
	}
	if (targets)
		printf("%-20s  %-12s  %-*s  %s\n", "INTENT (UTC)", "OUTCOME", width, "TARGET",
		       "SECRET  KEY=VALUE  RULE (REASON)  PASS");
	else
		printf("%-20s  %-12s  %s\n", "INTENT (UTC)", "OUTCOME", "SECRET  KEY=VALUE  RULE (REASON)  PASS");
	for (size_t i = 0; i < l->n; i++) {
		const struct ledger_deletion *d = &l->v[i];
		_cleanup_free_ char *name = escape_for_log(d->secret_name), *key = escape_for_log(d->key),
		                    *value = escape_for_log(d->value),
		                    *target = targets ? escape_for_log(target_label(d)) : NULL;
		char t[32];

		printf("%-20s  %-12s  ", format_utc_time(t, sizeof(t), d->intent_usec),
		       ledger_outcome_to_string(d->outcome));
		if (targets)
			printf("%-*s  ", width, target ? target : "?");
		printf("%s  %s=%s  %s (%s)  %s\n", name ? name : "?", key ? key : "?",
		       value ? value : "?", d->rule, d->reason, d->pass_id);
	}
	printf("%zu deletions\n", l->n);
}

int history_run(const char *config_path, const struct history_options *o)
{
	_cleanup_free_ char *error = NULL, *dir = NULL;
	/* One ledger holds every target's rows: all of them, unless --target. */
	struct ledger_query q = { .since_usec = o->since_usec, .secret_glob = o->secret_glob,
	                          .target_glob = o->target_glob ? o->target_glob : "*" };
	struct ledger_list list = {};
	struct config *cfg = NULL;
	struct ledger *l = NULL;
	int r;

	r = config_load(config_path, 0, &cfg, &error);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
		return 1;
	}
	r = ledger_directory(cfg->daemon.state_directory, cfg->path, &dir);
	if (r < 0)
		fprintf(stderr, "csms-tagd: no deletion ledger for %s: %s\n", cfg->path, ledger_directory_problem(r));
	config_free(cfg);
	if (r < 0)
		return 1;
	r = ledger_open(dir, &l);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: cannot open the deletion ledger in %s: %s\n", dir ? dir : "?",
		        strerror(-r));
		return 1;
	}
	fprintf(stderr, "csms-tagd: the deletion ledger %s\n", ledger_path(l));
	r = ledger_query(l, &q, &list);
	if (r < 0)
		fprintf(stderr, "csms-tagd: %s: %s\n", ledger_path(l),
		        ledger_error(l)[0] ? ledger_error(l) : strerror(-r));
	else if (o->json)
		r = print_json(&list);
	else
		print_table(&list);
	ledger_list_clear(&list);
	ledger_close(l);
	return r < 0 ? 1 : 0;
}
