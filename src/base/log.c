/* log.c - structured logging to journald, or readable lines on stderr. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "redact.h"
#include "strtable.h"

static enum log_target target = LOG_TARGET_STDERR;
static int max_level = LOG_INFO;
static char pass_id[128];       /* log_set_pass_id(); "" when unset */
static const struct log_context base_context = { .pass_id = pass_id };
static const struct log_context *context = &base_context;   /* log_push_context() */
static uint64_t write_failures; /* log_write_failures() */

/* systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected
 * to stdout/stderr.  Only when it matches our stderr is journald really the
 * reader; an inherited variable after a redirect must not count. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_open(enum log_target t)
{
	if (t == LOG_TARGET_AUTO)
		t = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	target = t;
}

enum log_target log_get_target(void) { return target; }
void log_set_max_level(int level) { max_level = level; }
int log_get_max_level(void) { return max_level; }

void log_set_pass_id(const char *id)
{
	snprintf(pass_id, sizeof(pass_id), "%s", id ? id : "");
}

const struct log_context *log_push_context(const struct log_context *c)
{
	const struct log_context *previous = context;

	context = c ? c : &base_context;
	return previous;
}

void log_pop_context(const struct log_context *previous)
{
	context = previous ? previous : &base_context;
}

/* syslog(3)'s names, indexed by level. */
static const char *const log_level_table[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static STRING_TABLE_FROM_STRING(log_level)

int log_parse_level(const char *s)
{
	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	if (strcmp(s, "error") == 0)
		return LOG_ERR;
	if (strcmp(s, "warn") == 0)
		return LOG_WARNING;
	return log_level_from_string(s);
}

static const char *level_prefix(int level)
{
	switch (level) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	default:
		return "";
	}
}

static void write_stderr(int level, const char *message, const struct log_field *fields, size_t n)
{
	FILE *f = stderr;

	flockfile(f);
	/* Many targets' passes interleave: a line without its target is no
	 * use to the reader. */
	if (context->target && context->target[0])
		fprintf(f, "csms-tagd: %s[%s] %s", level_prefix(level), context->target, message);
	else
		fprintf(f, "csms-tagd: %s%s", level_prefix(level), message);
	for (size_t i = 0; i < n; i++) {
		char *v;

		if (!fields[i].value || max_level < LOG_DEBUG)
			continue;
		v = escape_for_log(fields[i].value);
		fprintf(f, " %s=%s", fields[i].name, v ? v : "?");
		free(v);
	}
	if (fputc('\n', f) == EOF)
		write_failures++;
	funlockfile(f);
}

static void write_journal(int level, const char *message_id, const char *message,
                          const struct log_field *fields, size_t n)
{
	struct iovec iov[n + 4];
	char *strs[n + 4];
	size_t k = 0;

	strs[k] = xasprintf("MESSAGE=%s", message);
	strs[k + 1] = xasprintf("PRIORITY=%d", level);
	strs[k + 2] = message_id ? xasprintf("MESSAGE_ID=%s", message_id) : NULL;
	strs[k + 3] = xasprintf("SYSLOG_IDENTIFIER=%s", "csms-tagd");
	k = 4;
	for (size_t i = 0; i < n; i++)
		strs[k++] = fields[i].value ? xasprintf("%s=%s", fields[i].name, fields[i].value) : NULL;

	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (strs[i]) {
			iov[m].iov_base = strs[i];
			iov[m].iov_len = strlen(strs[i]);
			m++;
		}
	/* Values with newlines are sent in journald's binary-safe framing by
	 * sd_journal_sendv() itself. */
	if (sd_journal_sendv(iov, (int) m) < 0)
		write_failures++;
	for (size_t i = 0; i < k; i++)
		free(strs[i]);
}

json_t *log_json_value(const char *v)
{
	size_t len = strlen(v);
	json_t *a;

	if (utf8_is_valid(v, len))
		return json_string(v);
	a = json_array();
	for (size_t i = 0; a && i < len; i++)
		json_array_append_new(a, json_integer((unsigned char) v[i]));
	return a;
}

static void write_json(int level, const char *message_id, const char *message,
                       const struct log_field *fields, size_t n)
{
	char ts[24], prio[4];
	json_t *o = json_object();
	char *text;

	if (!o)
		return;
	snprintf(ts, sizeof(ts), "%" PRIu64, now_realtime_usec());
	snprintf(prio, sizeof(prio), "%d", level);
	json_object_set_new(o, "__REALTIME_TIMESTAMP", json_string(ts));
	json_object_set_new(o, "MESSAGE", log_json_value(message));
	json_object_set_new(o, "PRIORITY", json_string(prio));
	if (message_id)
		json_object_set_new(o, "MESSAGE_ID", json_string(message_id));
	json_object_set_new(o, "SYSLOG_IDENTIFIER", json_string("csms-tagd"));
	for (size_t i = 0; i < n; i++)
		if (fields[i].value)
			json_object_set_new(o, fields[i].name, log_json_value(fields[i].value));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text || fprintf(stderr, "%s\n", text) < 0)
		write_failures++;
	free(text);
}

uint64_t log_write_failures(void) { return write_failures; }

/* The names of the fields redaction altered, "A,B", into BUF ("" when
 * none). */
static void note_redacted(const struct log_field *fields, char **values, size_t n, char *buf,
                          size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (fields[i].value && (!values[i] || strcmp(values[i], fields[i].value) != 0))
			used += (size_t) snprintf(buf + used, used < size ? size - used : 0, "%s%s",
			                          used ? "," : "", fields[i].name);
}

/* Whether a record names field NAME itself (then the context does not). */
static bool has_field(const struct log_field *fields, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i].value && strcmp(fields[i].name, name) == 0)
			return true;
	return false;
}

static void vlog_event(int level, const char *message_id, const struct log_field *fields,
                       size_t n_fields, const char *fmt, va_list ap)
{
	char *raw, *message, redacted[256];

	if (vasprintf(&raw, fmt, ap) < 0) {
		write_failures++;
		return;
	}
	/* Messages and fields carry server text, which may echo a request and
	 * its credentials back: every credential the process holds is cut out
	 * here, in one place (redact.h).  A value that cannot be copied for
	 * that is left out.  Which fields were altered is said in the record
	 * (LOG_FIELD_REDACTED): the ledger keeps the true value. */
	redact(raw);
	/* MESSAGE is escaped on both targets: it embeds names from the API. */
	message = escape_for_log(raw);
	free(raw);
	if (!message) {
		write_failures++;
		return;
	}

	struct log_field clean[n_fields + 6];
	char *values[n_fields + 6];
	size_t n = 0;
	for (size_t i = 0; i < n_fields; i++) {
		values[n] = redact_dup(fields[i].value);
		clean[n] = (struct log_field) { fields[i].name, values[n] };
		n++;
	}
	note_redacted(fields, values, n_fields, redacted, sizeof(redacted));
	if (redacted[0]) {
		values[n] = NULL;
		clean[n++] = (struct log_field) { LOG_FIELD_REDACTED, redacted };
	}
	const struct log_field ctx[] = {
		{ LOG_FIELD_PASS_ID, context->pass_id }, { LOG_FIELD_TARGET, context->target },
		{ LOG_FIELD_ACCOUNT, context->account }, { LOG_FIELD_REGION, context->region },
		{ LOG_FIELD_PROJECT, context->project },
	};
	for (size_t i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++)
		if (ctx[i].value && ctx[i].value[0] && !has_field(fields, n_fields, ctx[i].name)) {
			values[n] = NULL;
			clean[n++] = ctx[i];
		}
	if (target == LOG_TARGET_JOURNAL)
		write_journal(level, message_id, message, clean, n);
	else if (target == LOG_TARGET_JSON)
		write_json(level, message_id, message, clean, n);
	else
		write_stderr(level, message, clean, n);
	for (size_t i = 0; i < n; i++)
		free(values[i]);
	free(message);
}

void log_event(int level, const char *message_id, const struct log_field *fields,
               size_t n_fields, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vlog_event(level, message_id, fields, n_fields, fmt, ap);
	va_end(ap);
}

void log_record(int level, const char *message_id, const struct log_field *fields,
                size_t n_fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_event(level, message_id, fields, n_fields, fmt, ap);
	va_end(ap);
}
