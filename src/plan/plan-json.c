/* plan-json.c - a plan as JSON (--plan --json), and the one serialisation
 * of a plan item that saved plans use too.  See plan-view.h. */
#include "plan-view.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan-internal.h"
#include "util.h"
#include "values.h"

/* ---- JSON -------------------------------------------------------------- */

/* A JSON string for S.  Text from an observation is valid UTF-8 when it came
 * through jansson, but a plan must never fail to print because of one odd
 * byte, so anything else is escaped. */
static json_t *json_text(const char *s)
{
	_cleanup_free_ char *e = NULL;

	if (utf8_is_valid(s, strlen(s)))
		return json_string(s);
	e = escape_for_log(s);
	return e ? json_string(e) : NULL;
}

static int json_set(json_t *obj, const char *key, json_t *v)
{
	/* json_object_set_new() consumes V even when it fails. */
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *json_time(uint64_t usec)
{
	char buf[32];

	return json_string(format_utc_time(buf, sizeof(buf), usec));
}

/* The grace and exemption fields of IT, when they apply. */
static int item_extras_to_json(const struct plan *p, const struct plan_item *it, json_t *o)
{
	char ref[4096], span[32];

	if (it->grace_usec &&
	    (json_set(o, "grace", json_string(format_timespan(span, sizeof(span), it->grace_usec))) < 0 ||
	     json_set(o, "first_seen", json_time(it->first_seen_usec)) < 0 ||
	     json_set(o, "due", json_time(it->due_usec)) < 0))
		return -ENOMEM;
	if (!it->exemption_line)
		return 0;
	snprintf(ref, sizeof(ref), "%s:%u", plan_file(p, it->exemption_file), it->exemption_line);
	if (json_set(o, "exemption", json_text(ref)) < 0 ||
	    json_set(o, "exemption_name", json_text(it->exemption_name)) < 0 ||
	    json_set(o, "exemption_reason", json_text(it->exemption_reason)) < 0 ||
	    json_set(o, "exemption_expires", json_time(it->exemption_expires_usec)) < 0 ||
	    json_set(o, "exemption_expired", json_boolean(it->exemption_expired)) < 0)
		return -ENOMEM;
	return 0;
}

json_t *plan_item_to_json(const struct plan *p, const struct plan_item *it, bool extras)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	if (json_set(o, "secret_id", json_text(it->secret_id)) < 0 ||
	    json_set(o, "secret_name", json_text(it->secret_name)) < 0 ||
	    json_set(o, "key", json_text(it->key)) < 0 ||
	    json_set(o, "value", json_text(it->value)) < 0 ||
	    json_set(o, "reason", json_string(reason_to_string(it->reason))) < 0 ||
	    json_set(o, "rule", json_text(plan_item_rule_ref(p, it, ref, sizeof(ref)))) < 0 ||
	    (extras && item_extras_to_json(p, it, o) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *requirement_to_json(const struct plan *p, const struct plan_requirement *q)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	snprintf(ref, sizeof(ref), "%s:%u", plan_file(p, q->file), q->required_line);
	if (json_set(o, "secret_id", json_text(q->secret_id)) < 0 ||
	    json_set(o, "secret_name", json_text(q->secret_name)) < 0 ||
	    json_set(o, "missing", q->missing ? json_text(q->missing) : json_null()) < 0 ||
	    json_set(o, "invalid", q->invalid ? json_text(q->invalid) : json_null()) < 0 ||
	    json_set(o, "rule", json_text(ref)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *unused_to_json(const struct plan *p, const struct plan_unused_exemption *u)
{
	json_t *o = json_object();
	char ref[4096];

	if (!o)
		return NULL;
	snprintf(ref, sizeof(ref), "%s:%u", plan_file(p, u->file), u->line);
	if (json_set(o, "exemption", json_text(ref)) < 0 || json_set(o, "name", json_text(u->name)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *items_to_json(const struct plan *p, const struct plan_item *v, size_t n)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, plan_item_to_json(p, &v[i], true)) < 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *extras_list_to_json(const struct plan *p, bool required)
{
	json_t *list = json_array();
	size_t n = required ? p->n_required : p->n_unused;

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, required ? requirement_to_json(p, &p->required[i])
		                                         : unused_to_json(p, &p->unused[i])) < 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *plan_summary_to_json(const struct plan *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_set(o, "secrets", json_integer((json_int_t) p->n_secrets)) < 0 ||
	    json_set(o, "governed", json_integer((json_int_t) p->n_governed)) < 0 ||
	    json_set(o, "pending_delete_skipped", json_integer((json_int_t) p->n_pending_delete)) < 0 ||
	    json_set(o, "incomplete_skipped", json_integer((json_int_t) p->n_incomplete)) < 0 ||
	    json_set(o, "tags_examined", json_integer((json_int_t) p->n_tags)) < 0 ||
	    json_set(o, "deletions", json_integer((json_int_t) p->n)) < 0 ||
	    json_set(o, "waiting", json_integer((json_int_t) p->n_waiting)) < 0 ||
	    json_set(o, "exempted", json_integer((json_int_t) p->n_exempted)) < 0 ||
	    json_set(o, "required_missing", json_integer((json_int_t) p->n_required_missing)) < 0 ||
	    json_set(o, "required_invalid", json_integer((json_int_t) p->n_required_invalid)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *plan_to_json(const struct plan *p)
{
	json_t *root = json_object();

	/* json_set() consumes its value even when it fails. */
	if (!root ||
	    json_set(root, "summary", plan_summary_to_json(p)) < 0 ||
	    json_set(root, "deletions", items_to_json(p, p->items, p->n)) < 0 ||
	    json_set(root, "waiting", items_to_json(p, p->waiting, p->n_waiting)) < 0 ||
	    json_set(root, "exempted", items_to_json(p, p->exempted, p->n_exempted)) < 0 ||
	    json_set(root, "required", extras_list_to_json(p, true)) < 0 ||
	    json_set(root, "unused_exemptions", extras_list_to_json(p, false)) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}
