/* restore.c - deletion records and restore decisions (restore.h).  Pure
 * logic apart from the two readers' I/O. */
#include "restore.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "jsonget.h"
#include "log.h"
#include "plan.h"
#include "records.h"
#include "strtable.h"
#include "util.h"

#define MAX_JSON_LINE (1024u * 1024)

/* --- the one filter ------------------------------------------------------- */

/* The fields of a journal entry that matter, whichever reader found it.
 * NULL: absent. */
struct raw_record {
	const char *message_id;
	const char *dry_run;
	const char *unit;
	const char *redacted;   /* LOG_FIELD_REDACTED */
	uint64_t realtime_usec;
	char *fields[6];        /* secret id, secret name, key, value; target key, name */
};

/* The fields a deletion record must have ... */
static const char *const record_fields[4] = {
	RECORD_SECRET_ID, RECORD_SECRET_NAME, RECORD_TAG_KEY, RECORD_TAG_VALUE,
};
/* ... and those it has in organisation mode (fields[4], [5]). */
static const char *const target_fields[2] = { RECORD_PROJECT, RECORD_TARGET };

/* Whether redaction withheld the value (LOG_FIELD_REDACTED, "A,B"). */
static bool value_withheld(const char *redacted)
{
	size_t n = strlen(RECORD_TAG_VALUE);

	for (const char *p = redacted; p && *p; p += strcspn(p, ","), p += *p == ',')
		if (strncmp(p, RECORD_TAG_VALUE, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static bool is_deletion(const struct raw_record *raw)
{
	return streq_ptr(raw->message_id, MID_TAG_DELETED) && streq_ptr(raw->dry_run, "0");
}

/* Add RAW to SET if it is a deletion that passes FLT, moving its strings
 * out.  WHERE prefixes messages. */
static int add_record(struct restore_set *set, const struct restore_filter *flt,
                      struct raw_record *raw, const char *where, char **error)
{
	struct deletion_record *d;

	if (!is_deletion(raw))
		return 0;
	if (flt->unit && !streq_ptr(raw->unit, flt->unit))
		return 0;
	if (raw->realtime_usec < flt->since_usec || raw->realtime_usec > flt->until_usec)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(record_fields); i++)
		if (!raw->fields[i] || (i < 3 && !raw->fields[i][0]))
			return fail_message(error, "%s: deletion record without a usable %s", where, record_fields[i]);
	if (value_withheld(raw->redacted))
		return fail_message(error, "%s: the journal withheld the value of tag %s on secret %s "
		                    "(it matched a credential); restore it from the ledger", where,
		                    raw->fields[2], raw->fields[1]);
	if (flt->secret_glob && fnmatch(flt->secret_glob, raw->fields[1], 0) != 0)
		return 0;
	for (size_t i = 4; i < 6; i++)
		if (!raw->fields[i] && !(raw->fields[i] = strdup("")))
			return -ENOMEM;
	if (flt->target_glob && fnmatch(flt->target_glob, raw->fields[4], 0) != 0 &&
	    !(raw->fields[5][0] && fnmatch(flt->target_glob, raw->fields[5], 0) == 0))
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		void *p = reallocarray(set->items, cap, sizeof(*set->items));

		if (!p)
			return -ENOMEM;
		set->items = p;
		set->cap = cap;
	}
	d = &set->items[set->n++];
	*d = (struct deletion_record) {
		.secret_id = raw->fields[0], .secret_name = raw->fields[1],
		.key = raw->fields[2], .value = raw->fields[3],
		.target = raw->fields[4], .target_name = raw->fields[5],
		.realtime_usec = raw->realtime_usec,
		.seq = set->n - 1,
	};
	memset(raw->fields, 0, sizeof(raw->fields));
	return 0;
}

static void raw_clear(struct raw_record *raw)
{
	for (size_t i = 0; i < ELEMENTSOF(raw->fields); i++)
		free(raw->fields[i]);
	memset(raw->fields, 0, sizeof(raw->fields));
}

/* --- journalctl -o json --------------------------------------------------- */

static int parse_json_line(const char *line, size_t len, const char *where,
                           const struct restore_filter *flt, struct restore_set *set, char **error)
{
	struct raw_record raw = {};
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *ts;
	const char *t;
	char *end;
	int r = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		return fail_message(error, "%s: not a JSON object%s%s", where, o ? "" : ": ", o ? "" : jerr.text);
	}
	raw.message_id = json_string_value(json_object_get(o, "MESSAGE_ID"));
	raw.dry_run = json_string_value(json_object_get(o, "DRY_RUN"));
	raw.unit = json_string_value(json_object_get(o, "_SYSTEMD_UNIT"));
	raw.redacted = json_string_value(json_object_get(o, LOG_FIELD_REDACTED));
	if (!is_deletion(&raw))
		goto out;
	ts = json_object_get(o, "__REALTIME_TIMESTAMP");
	t = json_string_value(ts);
	errno = 0;
	if (!t || *t < '0' || *t > '9' || (raw.realtime_usec = strtoull(t, &end, 10), errno || *end)) {
		r = fail_message(error, "%s: deletion record without a valid __REALTIME_TIMESTAMP", where);
		goto out;
	}
	/* A value that is not UTF-8 comes as an array of bytes (jget_bytes());
	 * an absent one is left NULL: add_record() names what is missing. */
	for (size_t i = 0; i < ELEMENTSOF(raw.fields); i++) {
		_cleanup_free_ char *why = NULL;

		r = jget_bytes(o, NULL, i < 4 ? record_fields[i] : target_fields[i - 4], JGET_OPTIONAL,
		               &raw.fields[i], &why);
		if (r < 0) {
			r = why ? fail_message(error, "%s: %s", where, why) : r;
			goto out;
		}
	}
	r = add_record(set, flt, &raw, where, error);
out:
	raw_clear(&raw);
	json_decref(o);
	return r;
}

/* Read one line of F into *BUF (without its newline), at most MAX bytes:
 * a longer one is not read further than MAX + 1 bytes (-E2BIG), so
 * endless input (/dev/zero) fails at once.  Returns the length, -1 at the
 * end, -ENOMEM. */
static ssize_t read_line_bounded(FILE *f, char **buf, size_t *size, size_t max)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (n == max)
			return -E2BIG;
		if (n + 1 >= *size) {
			size_t cap = *size ? *size * 2 : 4096;
			char *p = realloc(*buf, cap > max + 1 ? max + 1 : cap);

			if (!p)
				return -ENOMEM;
			*buf = p;
			*size = cap > max + 1 ? max + 1 : cap;
		}
		(*buf)[n++] = (char) c;
	}
	if (c == EOF && n == 0)
		return -1;
	if (*buf)
		(*buf)[n] = '\0';
	return (ssize_t) n;
}

int restore_read_json(FILE *f, const char *name, const struct restore_filter *flt,
                      struct restore_set *set, char **error)
{
	_cleanup_free_ char *line = NULL;
	size_t size = 0;
	unsigned lineno = 0;
	ssize_t len;

	if (error)
		*error = NULL;
	while ((len = read_line_bounded(f, &line, &size, MAX_JSON_LINE)) != -1) {
		char where[300];
		int r;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", name, lineno);
		if (len == -E2BIG)
			return fail_message(error, "%s: line longer than %u bytes", where, MAX_JSON_LINE);
		if (len < 0)
			return -ENOMEM;
		while (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		r = parse_json_line(line, (size_t) len, where, flt, set, error);
		if (r < 0)
			return r;
	}
	if (ferror(f))
		return fail_message(error, "%s: read error", name);
	return 0;
}

/* --- the ledger ------------------------------------------------------------- */

int restore_read_ledger(struct ledger *l, const struct restore_filter *flt, struct restore_set *set,
                        char **error)
{
	struct ledger_query q = {
		.since_usec = flt->since_usec,
		.until_usec = flt->until_usec == UINT64_MAX ? 0 : flt->until_usec,
		.secret_glob = flt->secret_glob, .deleted_only = true,
		/* The file's rows of every target, whichever handle L is. */
		.target_glob = flt->target_glob ? flt->target_glob : "*",
	};
	struct ledger_list list = {};
	int r;

	if (error)
		*error = NULL;
	r = ledger_query(l, &q, &list);
	if (r < 0) {
		ledger_list_clear(&list);
		return fail_message(error, "%s: %s", ledger_path(l),
		                    ledger_error(l)[0] ? ledger_error(l) : strerror(-r));
	}
	for (size_t i = 0; i < list.n; i++) {
		struct ledger_deletion *d = &list.v[i];
		struct raw_record raw = {
			.message_id = MID_TAG_DELETED, .dry_run = "0", .unit = flt->unit,
			.realtime_usec = d->intent_usec,
			.fields = { d->secret_id, d->secret_name, d->key, d->value, d->target, d->target_name },
		};

		/* Moved into the set (or freed with RAW). */
		d->secret_id = d->secret_name = d->key = d->value = d->target = d->target_name = NULL;
		r = add_record(set, flt, &raw, ledger_path(l), error);
		raw_clear(&raw);
		if (r < 0)
			break;
	}
	ledger_list_clear(&list);
	return r < 0 ? r : 0;
}

/* --- sd-journal ------------------------------------------------------------- */

/* Field NAME of the current entry, copied; NULL when absent or unusable. */
static char *journal_field(sd_journal *j, const char *name)
{
	size_t len, prefix = strlen(name) + 1;
	const void *data;
	char *s;

	if (sd_journal_get_data(j, name, &data, &len) < 0 || len < prefix)
		return NULL;
	if (memchr((const char *) data + prefix, '\0', len - prefix))
		return NULL;
	s = strndup((const char *) data + prefix, len - prefix);
	return s;
}

int restore_read_journal(const struct restore_filter *flt, struct restore_set *set, char **error)
{
	sd_journal *j = NULL;
	int r;

	if (error)
		*error = NULL;
	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		fail_message(error, "cannot open the journal: %s", strerror(-r));
		return r;
	}
	(void) sd_journal_set_data_threshold(j, 0);
	if ((r = sd_journal_add_match(j, "MESSAGE_ID=" MID_TAG_DELETED, 0)) < 0 ||
	    (r = sd_journal_add_match(j, "DRY_RUN=0", 0)) < 0)
		goto out;
	if (flt->unit) {
		_cleanup_free_ char *m = xasprintf("_SYSTEMD_UNIT=%s", flt->unit);

		if (!m || (r = sd_journal_add_match(j, m, 0)) < 0) {
			r = m ? r : -ENOMEM;
			goto out;
		}
	}
	r = sd_journal_seek_realtime_usec(j, flt->since_usec);
	if (r < 0)
		goto out;
	while ((r = sd_journal_next(j)) > 0) {
		_cleanup_free_ char *mid = journal_field(j, "MESSAGE_ID"),
		                    *dry = journal_field(j, "DRY_RUN"),
		                    *unit = journal_field(j, "_SYSTEMD_UNIT");
		struct raw_record raw = { .message_id = mid, .dry_run = dry, .unit = unit };
		char where[64];

		if (sd_journal_get_realtime_usec(j, &raw.realtime_usec) < 0)
			continue;
		if (raw.realtime_usec > flt->until_usec)
			break;
		for (size_t i = 0; i < ELEMENTSOF(raw.fields); i++)
			raw.fields[i] = journal_field(j, i < 4 ? record_fields[i] : target_fields[i - 4]);
		snprintf(where, sizeof(where), "journal entry at @%" PRIu64 ".%06" PRIu64,
		         raw.realtime_usec / USEC_PER_SEC, raw.realtime_usec % USEC_PER_SEC);
		r = add_record(set, flt, &raw, where, error);
		raw_clear(&raw);
		if (r < 0)
			break;
	}
out:
	if (r < 0 && error && !*error)
		fail_message(error, "cannot read the journal: %s", strerror(-r));
	sd_journal_close(j);
	return r < 0 ? r : 0;
}

/* --- selection and decisions ------------------------------------------------ */

static int record_cmp(const void *a, const void *b)
{
	const struct deletion_record *x = a, *y = b;
	int r = strcmp(x->target, y->target);

	if (r == 0)
		r = strcmp(x->secret_id, y->secret_id);
	if (r == 0)
		r = strcmp(x->key, y->key);
	if (r == 0)
		r = x->realtime_usec < y->realtime_usec ? -1 : x->realtime_usec > y->realtime_usec;
	/* Equal times: the one read later is the later deletion. */
	if (r == 0)
		r = x->seq < y->seq ? -1 : x->seq > y->seq;
	return r;
}

static void record_clear(struct deletion_record *d)
{
	free(d->secret_id);
	free(d->secret_name);
	free(d->key);
	free(d->value);
	free(d->target);
	free(d->target_name);
}

void restore_select(struct restore_set *set)
{
	size_t out = 0;

	if (set->n == 0)
		return;
	qsort(set->items, set->n, sizeof(*set->items), record_cmp);
	for (size_t i = 0; i < set->n; i++) {
		bool superseded = i + 1 < set->n &&
		                  strcmp(set->items[i].target, set->items[i + 1].target) == 0 &&
		                  strcmp(set->items[i].secret_id, set->items[i + 1].secret_id) == 0 &&
		                  strcmp(set->items[i].key, set->items[i + 1].key) == 0;

		if (superseded) {
			record_clear(&set->items[i]);
			continue;
		}
		set->items[out++] = set->items[i];
	}
	set->n = out;
}

enum restore_verdict restore_decide(const struct deletion_record *d, const struct tag_list *tags,
                                    size_t creating)
{
	const struct tag *t;

	if (!utf8_is_valid(d->key, strlen(d->key)) || !utf8_is_valid(d->value, strlen(d->value)))
		return RESTORE_INVALID;
	if (!tags)
		return RESTORE_SECRET_GONE;
	t = tag_list_find(tags, d->key);
	if (t)
		return strcmp(t->value, d->value) == 0 ? RESTORE_PRESENT : RESTORE_CONFLICT;
	if (tags->n + creating >= PLAN_MAX_TAGS_PER_SECRET)
		return RESTORE_NO_ROOM;
	return RESTORE_CREATE;
}

static const char *const restore_verdict_table[] = {
	[RESTORE_CREATE] = "restored",
	[RESTORE_PRESENT] = "already-present",
	[RESTORE_CONFLICT] = "conflict",
	[RESTORE_SECRET_GONE] = "secret-gone",
	[RESTORE_NO_ROOM] = "no-room",
	[RESTORE_INVALID] = "invalid",
};

STRING_TABLE_TO_STRING(restore_verdict, enum restore_verdict, "?")

void restore_set_clear(struct restore_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		record_clear(&set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

int restore_set_take_target(struct restore_set *set, const char *key, struct restore_set *ret)
{
	size_t n = 0, out = 0;

	*ret = (struct restore_set) {};
	for (size_t i = 0; i < set->n; i++)
		n += strcmp(set->items[i].target, key) == 0;
	if (n == 0)
		return 0;
	ret->items = calloc(n, sizeof(*ret->items));
	if (!ret->items)
		return -ENOMEM;
	ret->cap = n;
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i].target, key) == 0)
			ret->items[ret->n++] = set->items[i];
		else
			set->items[out++] = set->items[i];
	set->n = out;
	return 0;
}
