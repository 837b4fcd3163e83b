/* log.h - structured logging to journald, or readable lines on stderr.
 *
 * The target is chosen once, up front, by log_open(): journald when stderr is
 * connected to it ($JOURNAL_STREAM matches stderr's device/inode) or when
 * forced; stderr otherwise.  sd_journal_send() succeeds silently without a
 * journald, so its return value cannot make that choice.
 *
 * Every event carries a MESSAGE_ID (see csms-tagd.catalog) and CSMS_* fields;
 * on stderr the message is printed with the fields appended as key=value.
 * Field values are escaped for stderr; MESSAGE is escaped for both targets so
 * hostile names never break a line.  Never pass a secret to these functions;
 * server text that may echo one is redacted of every registered credential
 * (redact.h) in MESSAGE and in every field.
 */
#ifndef CSMS_LOG_H
#define CSMS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <syslog.h>
#include "util.h"

/* LOG_TARGET_JSON: one object per line on stderr, shaped like a record of
 * `journalctl -o json` (__REALTIME_TIMESTAMP, MESSAGE, PRIORITY, MESSAGE_ID,
 * SYSLOG_IDENTIFIER and the fields, unescaped), so that what --restore reads
 * can be captured where no journald runs. */
enum log_target { LOG_TARGET_AUTO, LOG_TARGET_STDERR, LOG_TARGET_JOURNAL, LOG_TARGET_JSON };

/* Message ids (128-bit, as in the catalog). */
#define MID_PASS_STARTED       "f1c15b59ac7546d8b70b3423b9f88a23"
#define MID_PASS_FINISHED      "de4d60cc2063424fb02e867795c95a8f"
#define MID_PASS_FAILED        "c0e57ef4844d4a84991ae00c9ace8375"
#define MID_TAG_DELETED        "51fcce5dc3b540f0a089a1b99b0067a4"
#define MID_TAG_WOULD_DELETE   "c96af8b4e9c2415b9bb823867c5f04ec"
#define MID_DELETE_FAILED      "cfff097bbcd845b8beca9e108d1a5a77"
#define MID_TAG_ALREADY_GONE   "97c42e2607294ab182490b1e814de91b"
#define MID_TAG_KEPT_CHANGED   "61147e3cf11646e08660d704da4d966f"
#define MID_TAG_STILL_PRESENT  "77008e46c1374f7b9d7c31252223ece7"
#define MID_DELETE_LIMIT       "e6e4a9b5a4f74033a111f8bef5ca030e"
#define MID_THROTTLED          "241a96b7c7564da194c29259c8b762f1"
#define MID_AUTH_FAILED        "2b54b999cc10444d86ccc6cb16099484"
#define MID_REQUEST_FAILED     "be124ee716b6496593dd2de337d6a506"
#define MID_CONFIG_RELOADED    "1d965a202c734d279c80460f264fe83e"
#define MID_CONFIG_REJECTED    "f5c7099c1f8b4975af08ae2b065d75c6"
#define MID_DAEMON_STARTED     "87fdd23fd9a94996b09d919074e274fc"
#define MID_DAEMON_STOPPING    "7ae73aeee47d45a6936e87672169bbfe"
#define MID_PASS_TIMEOUT       "6ac90788fc384b1389fa8d3516480643"
#define MID_PLAN_SAVED         "57871844ef824e1db920ed986c0293f9"
#define MID_PLAN_ITEM_SKIPPED  "f6df9ef161ab4acb85454948e20f4f81"
#define MID_TAG_RESTORED       "9465793ce3d342c796659a71060b5377"
#define MID_RESTORE_NOT_DONE   "7c3df50e750b4500be3a205253e6311d"
#define MID_TAG_EXEMPTED       "a837df366f4747ea9f7d42070802dfc0"
#define MID_EXEMPTION_EXPIRED  "c54f58b0c68d4a75b6ceb8b36c3b0764"
#define MID_EXEMPTION_UNUSED   "2aa29139fb8d41d0bf72fcd040091dde"
#define MID_TAG_GRACE          "0dfd5c00b1d94c439f3076ccfc5df468"
#define MID_GRACE_STATE        "3fbbe184121f46968a384348d6b5fe35"
#define MID_REQUIRED_TAGS      "8835f5a9d7f24c0f803025545e70a69c"
/* Organisation mode (org.h, org-discover.h). */
#define MID_TARGET_ADDED      "349f64dfd1e248adbf8aecd7eeeea1a2"
#define MID_TARGET_DROPPED    "88c23ebe26bd4e90982f29becfe432a4"
#define MID_TARGET_FAILING    "e2e667b3c0c34618ac01caef837f9793"
#define MID_TARGET_RECOVERED  "a691d2b1a6e1497681b3f7e5e03adb5b"
#define MID_DISCOVERY_DONE    "6cd0e1ef5cf349d7904ed24bca7b7bae"

struct log_field {
	const char *name;       /* e.g. "CSMS_SECRET_ID" */
	const char *value;      /* NULL: field omitted */
};

#define LOG_FIELDS(...) \
	((const struct log_field[]){ __VA_ARGS__ }), \
	(sizeof((const struct log_field[]){ __VA_ARGS__ }) / sizeof(struct log_field))

void log_open(enum log_target target);
enum log_target log_get_target(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err"/"error", "crit", or 0..7. */
int log_parse_level(const char *s);

/* Whose work is being logged: every record, whoever logs it (pass,
 * observation, client, credentials, manager), carries the context in force
 * as fields -- CSMS_PASS_ID= (pass-id.h), so "journalctl CSMS_PASS_ID=..."
 * finds the whole pass of that run and no other, and in organisation mode
 * CSMS_TARGET=, CSMS_ACCOUNT=, CSMS_REGION=, CSMS_PROJECT= (NULL or "":
 * left out).  Callers never pass these fields themselves.
 *
 * One process may run many passes at once (one per target), so the
 * context is not a global setting but what the code running now works
 * for: whoever calls into a pass from the loop -- the CSMS client's
 * callbacks (csms_set_log_context()), the pass's own start, the manager's
 * time limit -- pushes that pass's context for the stretch and pops it. */
#define LOG_FIELD_PASS_ID "CSMS_PASS_ID"
#define LOG_FIELD_TARGET  "CSMS_TARGET"
#define LOG_FIELD_ACCOUNT "CSMS_ACCOUNT"
#define LOG_FIELD_REGION  "CSMS_REGION"
#define LOG_FIELD_PROJECT "CSMS_PROJECT"

struct log_context {
	const char *pass_id;
	const char *target;
	const char *account;
	const char *region;
	const char *project;
};

/* Make C (NULL: none) the context until the matching log_pop_context(),
 * which gets the returned previous one back.  C must outlive the stretch. */
const struct log_context *log_push_context(const struct log_context *c);
void log_pop_context(const struct log_context *previous);

/* The single-target form: the pass id of the one context the process has
 * between pushes; NULL or "" clears it. */
void log_set_pass_id(const char *id);

/* Log MESSAGE (printf FMT) at LEVEL with MESSAGE_ID (may be NULL) and FIELDS. */
void log_event(int level, const char *message_id, const struct log_field *fields,
               size_t n_fields, const char *fmt, ...) _printf_(5, 6);

/* The same, never filtered by log_set_max_level(): the journal record of
 * a ledger outcome (records.h), which the operator must always get. */
void log_record(int level, const char *message_id, const struct log_field *fields,
                size_t n_fields, const char *fmt, ...) _printf_(5, 6);

/* Records that could not be written (sd_journal_sendv() or stderr failed,
 * or out of memory), since the start; for STATUS= and metrics. */
uint64_t log_write_failures(void);

/* A field's value as `journalctl -o json` writes it: a string, or an
 * array of byte values when it is not UTF-8 (NULL on ENOMEM). */
json_t *log_json_value(const char *v);

/* Added to a record whose fields redaction altered: their names, "A,B". */
#define LOG_FIELD_REDACTED "CSMS_REDACTED"

#define log_full(level, ...) log_event(level, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#endif
