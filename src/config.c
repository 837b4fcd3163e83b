/* config.c - the settings and the desired state, from an INI file.
 *
 * ini-reader.c (inih) splits the text into section headers, entries and
 * continuation lines; values.c parses the values.  This file is the model:
 * the table of settings, the governance sections and their rules, and the
 * checks that a file means what its author meant - most of all that no
 * mistake can make the daemon delete a tag the author wanted kept.
 *
 * Nothing is used until the whole file has been read and checked: the
 * parser fills a fresh struct config and frees it on the first error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advice.h"
#include "credentials.h"
#include "ini-reader.h"
#include "policy.h"
#include "util.h"
#include "values.h"

#define MAX_CONFIG_BYTES        (1024u * 1024)
#define MAX_KEY_CHARS           128     /* CSMS tag key limit */
#define MAX_VALUE_CHARS         255     /* CSMS tag value limit */
#define MAX_SECRET_NAME_CHARS   255
#define USEC_PER_MIN            (60 * USEC_PER_SEC)
#define USEC_PER_HOUR           (60 * USEC_PER_MIN)
#define USEC_PER_DAY            (24 * USEC_PER_HOUR)

/* ---- names of things ------------------------------------------------------- */

static const char *const auth_method_names[] = {
	[AUTH_AKSK] = "aksk",
	[AUTH_PASSWORD] = "password",
	[AUTH_TOKEN] = "token",
	[AUTH_ECS] = "ecs",
};

static const char *const observe_mode_names[] = {
	[OBSERVE_AUTO] = "auto",
	[OBSERVE_RESOURCE_INSTANCES] = "resource_instances",
	[OBSERVE_LIST_SECRETS] = "list_secrets",
};

const char *auth_method_to_string(enum auth_method m)
{
	if ((size_t) m < ELEMENTSOF(auth_method_names))
		return auth_method_names[m];
	return "unknown";
}

const char *observe_mode_to_string(enum observe_mode m)
{
	if ((size_t) m < ELEMENTSOF(observe_mode_names))
		return observe_mode_names[m];
	return "unknown";
}

static int lookup_name(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int) i;
	return -EINVAL;
}

/* ---- the parser ------------------------------------------------------------ */

enum section_kind {
	SECTION_NONE,           /* before the first header */
	SECTION_CSMS,
	SECTION_AUTH,
	SECTION_DAEMON,
	SECTION_GOVERN,
	SECTION_EXEMPT,
};

static const char *const section_names[] = {
	[SECTION_CSMS] = "csms",
	[SECTION_AUTH] = "auth",
	[SECTION_DAEMON] = "daemon",
};

/* What a continuation line would extend. */
enum list_target {
	LIST_NONE,
	LIST_RULE,
	LIST_PROTECT,
	LIST_REQUIRED,
};

/* The keys of an [exempt "NAME"] section. */
enum exempt_key {
	EXEMPT_SECRET,
	EXEMPT_KEY,
	EXEMPT_VALUE,
	EXEMPT_REASON,
	EXEMPT_EXPIRES,
	N_EXEMPT_KEYS,
};

static const char *const exempt_key_names[N_EXEMPT_KEYS] = {
	[EXEMPT_SECRET] = "secret",
	[EXEMPT_KEY] = "key",
	[EXEMPT_VALUE] = "value",
	[EXEMPT_REASON] = "reason",
	[EXEMPT_EXPIRES] = "expires",
};

/* A governance section or exemption named in two files: which one did the
 * author mean? */
#define AMBIGUOUS "; a section is defined in one file only (settings may be set again by a later file)"

/* An exemption lasts at most this long after the file is loaded: it is a
 * reviewed exception, not a second policy. */
#define EXEMPTION_MAX_USEC (365 * 24 * 3600 * USEC_PER_SEC)

struct parser {
	const char *name;               /* of the file being read, for messages */
	unsigned file;                  /* its index in c->files */
	unsigned flags;
	uint64_t now_usec;              /* exemption expiries are judged against it */
	unsigned line;                  /* of the line being looked at */

	enum section_kind section;
	size_t govern;                  /* index into c->sections */
	unsigned exempt_line[N_EXEMPT_KEYS];    /* of the current [exempt], 0: unset */
	unsigned grace_line;            /* "/grace" of the current section */
	unsigned section_line[ELEMENTSOF(section_names)];
	unsigned section_file[ELEMENTSOF(section_names)];
	unsigned *setting_line;         /* per settings[] entry, 0 when unset */
	unsigned *setting_file;         /* the file that set it last */

	/* The entry the next continuation line belongs to. */
	enum list_target list;
	const char *list_key;           /* setting or rule key, for messages */
	bool list_open;                 /* the last line ended with '|' */
	unsigned list_open_line;
	bool list_fixed;                /* "*" or "!": takes no continuation */

	struct config *c;
	int r;                          /* first error */
	char *error;
};

_printf_(3, 4)
static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (p->r < 0)
		return p->r;
	p->r = -EINVAL;
	/* Quoted user text is cut at 2 KiB; the line number says where. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->error = line > 0 ? xasprintf("%s:%u: %s", p->name, line, msg)
	                    : xasprintf("%s: %s", p->name, msg);
	if (!p->error)
		p->r = -ENOMEM;
	return p->r;
}

/* Messages about the file at index FILE from now on. */
static void in_file(struct parser *p, unsigned file)
{
	p->file = file;
	p->name = p->c->files[file];
}

/* Where an earlier definition is, for "(first at ...)": "line N" in the
 * file being read, else "FILE:N". */
static const char *earlier_at(const struct parser *p, unsigned file, unsigned line,
                              char *buf, size_t size)
{
	if (file == p->file)
		snprintf(buf, size, "line %u", line);
	else
		snprintf(buf, size, "%s:%u", p->c->files[file], line);
	return buf;
}

static int fail_oom(struct parser *p)
{
	if (p->r == 0)
		p->r = -ENOMEM;
	return p->r;
}

/* A message made elsewhere (credentials.c), as it is. */
static int fail_with(struct parser *p, int r, char *message)
{
	if (p->r < 0) {
		free(message);
		return p->r;
	}
	p->r = message ? r : -ENOMEM;
	p->error = message;
	return p->r;
}

/* User text quoted in a message: escaped so that it cannot break the line. */
struct quoted {
	char *s;
};

static const char *quote(struct quoted *q, const char *s)
{
	q->s = escape_for_log(s);
	return q->s ? q->s : "?";
}

static void quoted_free(struct quoted *q)
{
	free(q->s);
}

#define QUOTED(name) _cleanup_(quoted_free) struct quoted name = {}

static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Decode and check a tag key or value (WHAT names it in messages).  Keys
 * are 1..128 characters, values 0..255.  Only control characters are
 * refused: tags created under older, looser CSMS rules must stay nameable. */
static int decode_text(struct parser *p, unsigned line, const char *what, const char *raw,
                       size_t min_chars, size_t max_chars, char **ret)
{
	QUOTED(q);
	const char *bad;
	char *s = NULL;
	size_t len;
	int r;

	if (strchr(raw, '"'))
		return fail(p, line, "%s '%s': quotes are not part of the syntax (write '\"' as %%22)",
		            what, quote(&q, raw));
	r = percent_decode(raw, &s, &len, &bad);
	if (r == -ENOMEM)
		return fail_oom(p);
	if (r < 0 && bad) {
		char esc[4] = "";
		QUOTED(q2);

		strncat(esc, bad, 3);
		return fail(p, line, "%s '%s': bad escape '%s' (%%XX with two hex digits; write '%%' as %%25)",
		            what, quote(&q, raw), quote(&q2, esc));
	}
	if (r < 0)
		return fail(p, line, "%s '%s': not valid UTF-8 once decoded", what, quote(&q, raw));
	if (strlen(s) != len || has_control(s)) {
		free(s);
		return fail(p, line, "%s '%s': control characters are not allowed", what, quote(&q, raw));
	}
	if (utf8_chars(s) < min_chars || utf8_chars(s) > max_chars) {
		size_t n = utf8_chars(s);

		free(s);
		if (n < min_chars)
			return fail(p, line, "%s is empty", what);
		return fail(p, line, "%s '%s' is %zu characters long (at most %zu)",
		            what, quote(&q, raw), n, max_chars);
	}
	*ret = s;
	return 0;
}

static int decode_glob(struct parser *p, unsigned line, const char *what, const char *raw,
                       size_t min_chars, size_t max_chars, char **ret)
{
	QUOTED(q);
	char *s;
	int r;

	r = decode_text(p, line, what, raw, min_chars, max_chars, &s);
	if (r < 0)
		return r;
	if (glob_validate(s) < 0) {
		free(s);
		return fail(p, line, "%s '%s' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')",
		            what, quote(&q, raw));
	}
	*ret = s;
	return 0;
}

/* A '#' inih keeps in a value: "owner = alice # the DBA" would allow only
 * the value "alice # the DBA" and so delete owner=alice.  A '#' at the
 * start of a value or after whitespace is refused; one inside a word
 * ("C#") is not a comment by any reading and stays. */
static int check_hash_comment(struct parser *p, const char *key, const char *value)
{
	QUOTED(q);
	QUOTED(q2);

	for (const char *s = value; *s; s++)
		if (*s == '#' && (s == value || s[-1] == ' ' || s[-1] == '\t'))
			return fail(p, p->line, "'%s = %s': '#' starts a comment only at the start of a line, "
			            "so here it would be part of the value; put the comment on a line of its own "
			            "or after ' ;', and write a '#' that belongs to the value as %%23",
			            quote(&q, key), quote(&q2, value));
	return 0;
}

/* ---- lists: "a | b | c", continued on indented lines ----------------------- */

static int rule_add_value(struct parser *p, unsigned line, const char *raw);
static int protect_add(struct parser *p, unsigned line, const char *raw);
static int required_add(struct parser *p, unsigned line, const char *raw);

/* "prod, staging" is a comma list written by habit: it would allow only
 * the one value "prod, staging".  Any ',' is refused; %2C writes one. */
static int check_comma(struct parser *p, unsigned line, const char *what, const char *raw)
{
	_cleanup_free_ char *fixed = NULL;
	size_t n = 0;
	QUOTED(q);
	QUOTED(q2);
	QUOTED(q3);
	QUOTED(q4);

	if (!strchr(raw, ','))
		return 0;
	fixed = malloc(strlen(raw) * 3 + 1);
	if (!fixed)
		return fail_oom(p);
	for (const char *s = raw; *s; s++) {
		if (*s != ',') {
			fixed[n++] = *s;
			continue;
		}
		while (n > 0 && fixed[n - 1] == ' ')
			n--;
		memcpy(fixed + n, " | ", 3);
		n += 3;
		while (s[1] == ' ' || s[1] == '\t')
			s++;
	}
	fixed[n] = '\0';
	return fail(p, line, "%s '%s' of '%s' holds a ',': alternatives are separated by '|' (%s = %s); "
	            "write a ',' that belongs to the value as %%2C", what, quote(&q, raw),
	            quote(&q3, p->list_key), quote(&q4, p->list_key), quote(&q2, fixed));
}

static int list_add_element(struct parser *p, unsigned line, const char *raw)
{
	if (p->list == LIST_PROTECT)
		return protect_add(p, line, raw);
	if (p->list == LIST_REQUIRED)
		return required_add(p, line, raw);
	return rule_add_value(p, line, raw);
}

/* Add the elements of one line of a list.  A line break inside a list is a
 * separator whether a '|' is written at the end of the line, at the start
 * of the next, at both or at neither: it never makes an empty element.  So
 * the empty element after a trailing '|' is held back (list_open) until it
 * is known whether a continuation line follows. */
static int list_add_line(struct parser *p, const char *text, bool continuation)
{
	_cleanup_free_ char *copy = strdup(text);
	char *s = copy;

	if (!copy)
		return fail_oom(p);
	if (continuation) {
		p->list_open = false;
		if (*s == '|')
			s++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return 0;
	} else if (!*s) {
		/* "key =": the list may follow on the next lines. */
		p->list_open = true;
		p->list_open_line = p->line;
		return 0;
	}
	for (;;) {
		char *bar = strchr(s, '|'), *end;
		int r;

		if (bar)
			*bar = '\0';
		end = s + strlen(s);
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		r = list_add_element(p, p->line, s);
		if (r < 0 || !bar)
			return r;
		s = bar + 1;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s) {
			p->list_open = true;
			p->list_open_line = p->line;
			return 0;
		}
	}
}

/* The list is complete: a held-back empty element is real after all. */
static int list_finish(struct parser *p)
{
	int r = 0;

	if (p->list != LIST_NONE && p->list_open)
		r = list_add_element(p, p->list_open_line, "");
	p->list = LIST_NONE;
	p->list_open = false;
	p->list_fixed = false;
	p->list_key = NULL;
	return r;
}

/* ---- [csms], [auth] and [daemon] ------------------------------------------- */

#define M(method) (1u << (method))

enum file_kind {
	FILE_NONE,
	FILE_CREDENTIAL,        /* a secret: credentials.c finds and judges it */
	FILE_PUBLIC,            /* ca_file: only needs to be a readable file */
};

struct setting {
	enum section_kind section;
	const char *key;
	int (*parse)(struct parser *p, const struct setting *s, const char *value);
	size_t offset;          /* of the field in struct config */
	uint64_t min, max;      /* numbers and time spans */
	unsigned methods;       /* [auth]: the methods that use the key */
	unsigned required;      /* [auth]: the methods that need it */
	enum file_kind file;
};

#define FIELD(p, s, type) ((type *) (void *) ((char *) (p)->c + (s)->offset))

static int set_string(struct parser *p, const struct setting *s, char *value)
{
	char **field = FIELD(p, s, char *);

	if (!value)
		return fail_oom(p);
	free(*field);
	*field = value;
	return 0;
}

static int parse_text_value(struct parser *p, const struct setting *s, const char *value)
{
	if (!*value)
		return fail(p, p->line, "%s is empty", s->key);
	if (has_control(value))
		return fail(p, p->line, "%s: control characters are not allowed", s->key);
	return set_string(p, s, strdup(value));
}

static int parse_region(struct parser *p, const struct setting *s, const char *value)
{
	QUOTED(q);

	/* It becomes part of host names. */
	if (!*value || strlen(value) > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(value))
		return fail(p, p->line, "region '%s' is not a region name (like cn-north-4: a-z, 0-9 and '-')",
		            quote(&q, value));
	return set_string(p, s, strdup(value));
}

static int parse_project_id(struct parser *p, const struct setting *s, const char *value)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	QUOTED(q);

	/* It becomes a path segment of every request. */
	if (!*value || strlen(value) > 64 || strspn(value, allowed) != strlen(value))
		return fail(p, p->line, "project_id '%s' is not a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')",
		            quote(&q, value));
	return set_string(p, s, strdup(value));
}

static int parse_url(struct parser *p, const struct setting *s, const char *value)
{
	char *url = NULL;
	QUOTED(q);
	int r;

	r = endpoint_normalize(value, &url);
	if (r == -ENOMEM)
		return fail_oom(p);
	if (r < 0)
		return fail(p, p->line, "%s '%s' is not an http:// or https:// URL without a path "
		            "(like https://kms.cn-north-4.myhuaweicloud.com)", s->key, quote(&q, value));
	return set_string(p, s, url);
}

static int parse_absolute_path(struct parser *p, const struct setting *s, const char *value)
{
	QUOTED(q);

	if (value[0] != '/' || has_control(value))
		return fail(p, p->line, "%s '%s' is not an absolute path", s->key, quote(&q, value));
	return set_string(p, s, strdup(value));
}

/* node_exporter's textfile collector reads only "*.prom" files, and the
 * file is written (atomically) by the daemon, not read: no file check. */
static int parse_metrics_path(struct parser *p, const struct setting *s, const char *value)
{
	size_t len = strlen(value);
	QUOTED(q);

	if (len < 6 || strcmp(value + len - 5, ".prom") != 0 || value[len - 6] == '/')
		return fail(p, p->line, "%s '%s' must name a file ending in .prom (node_exporter's "
		            "textfile collector reads only those)", s->key, quote(&q, value));
	return parse_absolute_path(p, s, value);
}

/* Stored as the path it stands for, resolved once, by credentials.c. */
static int parse_credential_name(struct parser *p, const struct setting *s, const char *value)
{
	char *path = NULL, *error = NULL;
	int r;

	if (!*value)
		return fail(p, p->line, "%s is empty", s->key);
	r = credential_resolve(s->key, value, &path, &error);
	if (r == -ENOMEM)
		return fail_oom(p);
	if (r < 0) {
		r = fail(p, p->line, "%s", error);
		free(error);
		return r;
	}
	return set_string(p, s, path);
}

static int parse_method(struct parser *p, const struct setting *s, const char *value)
{
	int m = lookup_name(auth_method_names, ELEMENTSOF(auth_method_names), value);
	QUOTED(q);

	if (m < 0)
		return fail(p, p->line, "method '%s' is not one of aksk, password, token, ecs", quote(&q, value));
	*FIELD(p, s, enum auth_method) = (enum auth_method) m;
	return 0;
}

static int parse_observe(struct parser *p, const struct setting *s, const char *value)
{
	int m = lookup_name(observe_mode_names, ELEMENTSOF(observe_mode_names), value);
	QUOTED(q);

	if (m < 0)
		return fail(p, p->line, "observe '%s' is not one of auto, resource_instances, list_secrets",
		            quote(&q, value));
	*FIELD(p, s, enum observe_mode) = (enum observe_mode) m;
	return 0;
}

static int parse_timespan_value(struct parser *p, const struct setting *s, const char *value)
{
	char lo[32], hi[32];
	uint64_t v;
	QUOTED(q);

	if (parse_timespan(value, &v) < 0)
		return fail(p, p->line, "%s '%s' is not a time span (like 30s, 5min, 1h 30min, 250ms)",
		            s->key, quote(&q, value));
	if (v < s->min || v > s->max)
		return fail(p, p->line, "%s '%s' is out of range (%s to %s)", s->key, quote(&q, value),
		            s->min ? format_timespan(lo, sizeof(lo), s->min) : "0",
		            format_timespan(hi, sizeof(hi), s->max));
	*FIELD(p, s, uint64_t) = v;
	return 0;
}

static int parse_unsigned(struct parser *p, const struct setting *s, const char *value)
{
	uint64_t v;
	QUOTED(q);

	if (parse_uint64(value, &v) < 0 || v < s->min || v > s->max)
		return fail(p, p->line, "%s '%s' is not a whole number from %" PRIu64 " to %" PRIu64,
		            s->key, quote(&q, value), s->min, s->max);
	*FIELD(p, s, unsigned) = (unsigned) v;
	return 0;
}

static int parse_rate(struct parser *p, const struct setting *s, const char *value)
{
	double v;
	QUOTED(q);

	if (parse_decimal(value, &v) < 0 || v > (double) s->max)
		return fail(p, p->line, "%s '%s' is not a number from 0 to %" PRIu64 " (0: unlimited)",
		            s->key, quote(&q, value), s->max);
	*FIELD(p, s, double) = v;
	return 0;
}

static int parse_bool(struct parser *p, const struct setting *s, const char *value)
{
	int b = parse_boolean(value);
	QUOTED(q);

	if (b < 0)
		return fail(p, p->line, "%s '%s' is not a boolean (yes, no, true, false, 1, 0)",
		            s->key, quote(&q, value));
	*FIELD(p, s, bool) = b;
	return 0;
}

static int parse_protect(struct parser *p, const struct setting *s, const char *value)
{
	p->list = LIST_PROTECT;
	p->list_key = s->key;
	return list_add_line(p, value, false);
}

/* One element of a list of tag keys (protect, /required), WHAT in
 * messages: not empty, no ',', decoded, and checked as a glob when GLOB. */
static int decode_list_key(struct parser *p, unsigned line, const char *what, const char *raw,
                           bool glob, char **ret)
{
	int r;

	if (!*raw)
		return fail(p, line, "%s: empty %s (a stray '|'?)", p->list_key, glob ? "key glob" : "key");
	r = check_comma(p, line, what, raw);
	if (r < 0)
		return r;
	return (glob ? decode_glob : decode_text)(p, line, what, raw, 1, MAX_KEY_CHARS, ret);
}

static int protect_add(struct parser *p, unsigned line, const char *raw)
{
	struct daemon_settings *d = &p->c->daemon;
	char *glob;
	int r;

	r = decode_list_key(p, line, "protect key glob", raw, true, &glob);
	if (r < 0)
		return r;
	if (strv_push(&d->protect, &d->n_protect, glob) < 0) {
		free(glob);
		return fail_oom(p);
	}
	return 0;
}

#define CSMS(name, field) \
	.section = SECTION_CSMS, .key = name, .offset = offsetof(struct config, csms.field)
#define AUTH(name, field) \
	.section = SECTION_AUTH, .key = name, .offset = offsetof(struct config, auth.field)
#define DAEMON(name, field) \
	.section = SECTION_DAEMON, .key = name, .offset = offsetof(struct config, daemon.field)
#define DAYS_365 (365 * USEC_PER_DAY)

static const struct setting settings[] = {
	{ CSMS("region", region), .parse = parse_region },
	{ CSMS("project_id", project_id), .parse = parse_project_id },
	{ CSMS("endpoint", endpoint), .parse = parse_url },
	{ CSMS("iam_endpoint", iam_endpoint), .parse = parse_url },
	{ CSMS("metadata_endpoint", metadata_endpoint), .parse = parse_url },
	{ CSMS("ca_file", ca_file), .parse = parse_absolute_path, .file = FILE_PUBLIC },

	{ AUTH("method", method), .parse = parse_method },
	{ AUTH("access_key_file", access_key_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK), .required = M(AUTH_AKSK), .file = FILE_CREDENTIAL },
	{ AUTH("secret_key_file", secret_key_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK), .required = M(AUTH_AKSK), .file = FILE_CREDENTIAL },
	{ AUTH("security_token_file", security_token_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK), .file = FILE_CREDENTIAL },
	{ AUTH("user", user), .parse = parse_text_value,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD) },
	{ AUTH("domain", domain), .parse = parse_text_value,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD) },
	{ AUTH("password_file", password_file), .parse = parse_credential_name,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD), .file = FILE_CREDENTIAL },
	{ AUTH("token_file", token_file), .parse = parse_credential_name,
	  .methods = M(AUTH_TOKEN), .required = M(AUTH_TOKEN), .file = FILE_CREDENTIAL },

	{ DAEMON("interval", interval_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_SEC, .max = DAYS_365 },
	{ DAEMON("jitter", jitter_usec), .parse = parse_timespan_value, .max = DAYS_365 },
	{ DAEMON("request_timeout", request_timeout_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_MSEC, .max = 24 * USEC_PER_HOUR },
	{ DAEMON("pass_timeout", pass_timeout_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_SEC, .max = DAYS_365 },
	{ DAEMON("dry_run", dry_run), .parse = parse_bool },
	{ DAEMON("max_deletes_per_pass", max_deletes_per_pass), .parse = parse_unsigned, .max = 1000000 },
	{ DAEMON("max_parallel_requests", max_parallel_requests), .parse = parse_unsigned,
	  .min = 1, .max = 64 },
	{ DAEMON("max_requests_per_second", max_requests_per_second), .parse = parse_rate, .max = 100000 },
	{ DAEMON("observe", observe), .parse = parse_observe },
	{ DAEMON("protect", protect), .parse = parse_protect },
	{ DAEMON("grace", grace_usec), .parse = parse_timespan_value, .max = DAYS_365 },
	{ DAEMON("state_directory", state_directory), .parse = parse_absolute_path },
	{ DAEMON("metrics_file", metrics_file), .parse = parse_metrics_path },
};

static int find_setting(enum section_kind section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (settings[i].section == section && strcmp(settings[i].key, key) == 0)
			return (int) i;
	return -ENOENT;
}

static int set_setting(struct parser *p, const char *key, const char *value)
{
	const char *section = section_names[p->section];
	int i = find_setting(p->section, key);
	QUOTED(q);

	if (i < 0)
		return fail(p, p->line, "unknown key '%s' in [%s]", quote(&q, key), section);
	if (p->setting_line[i] && p->setting_file[i] == p->file)
		return fail(p, p->line, "duplicate key '%s' in [%s] (first at line %u)",
		            key, section, p->setting_line[i]);
	if (p->setting_line[i] && settings[i].parse == parse_protect) {
		/* Set again by a later file: its list replaces the earlier one. */
		strv_free(p->c->daemon.protect, p->c->daemon.n_protect);
		p->c->daemon.protect = NULL;
		p->c->daemon.n_protect = 0;
	}
	p->setting_line[i] = p->line;
	p->setting_file[i] = p->file;
	p->list_key = settings[i].key;
	return settings[i].parse(p, &settings[i], value);
}

/* ---- governance sections and rules ----------------------------------------- */

static struct section *current_section(struct parser *p)
{
	return &p->c->sections[p->govern];
}

static struct rule *current_rule(struct parser *p)
{
	struct section *sec = current_section(p);

	return &sec->rules[sec->n_rules - 1];
}

static int rule_add_value(struct parser *p, unsigned line, const char *raw)
{
	struct rule *rule = current_rule(p);
	char **values, *v;
	int r;

	/* Inside a list these would be a literal "!" and a redundant "*":
	 * surely not what was meant. */
	if (streq_ptr(raw, "!"))
		return fail(p, line, "'!' must stand alone: '%s = !' forbids the tag", p->list_key);
	if (streq_ptr(raw, "*"))
		return fail(p, line, "'*' must stand alone: '%s = *' allows any value", p->list_key);
	r = check_comma(p, line, "value", raw);
	if (r < 0)
		return r;
	r = decode_glob(p, line, "value", raw, 0, MAX_VALUE_CHARS, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rule->n_values; i++)
		if (strcmp(rule->values[i], v) == 0) {
			/* "a||" or "a|a": said twice, kept once. */
			free(v);
			return 0;
		}
	values = realloc(rule->values, (rule->n_values + 1) * sizeof(*values));
	if (!values) {
		free(v);
		return fail_oom(p);
	}
	values[rule->n_values++] = v;
	rule->values = values;
	return 0;
}

/* Rules are tried in file order and the first whose key glob matches
 * decides: a rule whose every key an earlier rule also matches can never
 * decide anything, which is surely not what its author meant. */
static int check_new_rule_key(struct parser *p, const char *key)
{
	const struct section *sec = current_section(p);
	QUOTED(q);
	QUOTED(q2);

	for (size_t i = 0; i < sec->n_rules; i++) {
		const struct rule *earlier = &sec->rules[i];

		if (strcmp(earlier->key, key) == 0)
			return fail(p, p->line, "duplicate rule for key '%s' (first at line %u); only the first "
			            "could ever match", quote(&q, key), earlier->line);
		if (glob_covers(earlier->key, "*"))
			return fail(p, p->line, "the rule for '%s' can never match: the catch-all '%s' rule at "
			            "line %u comes first and decides every tag", quote(&q, key),
			            quote(&q2, earlier->key), earlier->line);
		if (glob_covers(earlier->key, key))
			return fail(p, p->line, "the rule for '%s' can never match: the rule for '%s' at line %u "
			            "comes first and matches every key it would; put the more specific rule first",
			            quote(&q, key), quote(&q2, earlier->key), earlier->line);
	}
	return 0;
}

/* ---- section settings: "/grace" and "/required" --------------------------- */

static int required_add(struct parser *p, unsigned line, const char *raw)
{
	struct section *sec = current_section(p);
	QUOTED(q);
	char *key;
	int r;

	r = decode_list_key(p, line, "required key", raw, false, &key);
	if (r < 0)
		return r;
	/* A requirement names one tag: a glob could not say which to report. */
	if (has_glob_chars(key))
		r = fail(p, line, "/required key '%s' is a glob: name each required key exactly", quote(&q, raw));
	for (size_t i = 0; r == 0 && i < sec->n_required; i++)
		if (strcmp(sec->required[i], key) == 0)
			r = fail(p, line, "/required names '%s' twice", quote(&q, raw));
	if (r == 0 && strv_push(&sec->required, &sec->n_required, key) < 0)
		r = fail_oom(p);
	if (r < 0)
		free(key);
	return r;
}

/* A key starting with '/' in a governance section: a setting of the
 * section.  CSMS tag keys cannot hold '/', so no rule is lost to this. */
static int add_section_setting(struct parser *p, const char *key, const char *value)
{
	struct section *sec = current_section(p);
	char hi[32];
	QUOTED(q);

	if (streq_ptr(key, "/grace")) {
		if (p->grace_line)
			return fail(p, p->line, "duplicate /grace in this section (first at line %u)", p->grace_line);
		p->grace_line = p->line;
		if (parse_timespan(value, &sec->grace_usec) < 0)
			return fail(p, p->line, "/grace '%s' is not a time span (like 12h, 3d)", quote(&q, value));
		if (sec->grace_usec > DAYS_365)
			return fail(p, p->line, "/grace '%s' is out of range (0 to %s)", quote(&q, value),
			            format_timespan(hi, sizeof(hi), DAYS_365));
		sec->has_grace = true;
		return 0;
	}
	if (streq_ptr(key, "/required")) {
		if (sec->required_line)
			return fail(p, p->line, "duplicate /required in this section (first at line %u)",
			            sec->required_line);
		sec->required_line = p->line;
		p->list = LIST_REQUIRED;
		p->list_key = "/required";
		return list_add_line(p, value, false);
	}
	return fail(p, p->line, "unknown section setting '%s': keys starting with '/' are /grace and "
	            "/required (a rule for a key starting with '/' writes it %%2F)", quote(&q, key));
}

/* A required key must be kept when present: a rule of its section must
 * allow it, or the daemon would delete the tag it asks for. */
static int check_required(struct parser *p, const struct section *sec)
{
	QUOTED(q);

	for (size_t i = 0; i < sec->n_required; i++) {
		const struct rule *rule = section_rule_for(sec, sec->required[i]);
		const char *key = quote(&q, sec->required[i]);

		if (!rule)
			return fail(p, sec->required_line, "/required key '%s': no rule of this section matches it, "
			            "so the daemon would delete it; add a rule such as '%s = *'", key, key);
		if (rule->kind == RULE_FORBID)
			return fail(p, sec->required_line, "/required key '%s' is forbidden by the rule at line %u",
			            key, rule->line);
		quoted_free(&q);
		q.s = NULL;
	}
	return 0;
}

/* ---- exemptions ------------------------------------------------------------ */

static struct exemption *current_exemption(struct parser *p)
{
	return &p->c->exemptions[p->c->n_exemptions - 1];
}

static int add_exemption(struct parser *p, const char *raw_name)
{
	struct exemption *v;
	char *name;
	QUOTED(q);
	int r;

	r = decode_text(p, p->line, "exemption name", raw_name, 1, MAX_SECRET_NAME_CHARS, &name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->c->n_exemptions; i++)
		if (strcmp(p->c->exemptions[i].name, name) == 0) {
			const struct exemption *e = &p->c->exemptions[i];
			char at[PATH_MAX + 16];

			free(name);
			return fail(p, p->line, "duplicate section [exempt \"%s\"] (first at %s)%s",
			            quote(&q, raw_name), earlier_at(p, e->file, e->line, at, sizeof(at)),
			            e->file == p->file ? "" : AMBIGUOUS);
		}
	v = realloc(p->c->exemptions, (p->c->n_exemptions + 1) * sizeof(*v));
	if (!v) {
		free(name);
		return fail_oom(p);
	}
	p->c->exemptions = v;
	v[p->c->n_exemptions++] = (struct exemption) { .name = name, .line = p->line, .file = p->file };
	memset(p->exempt_line, 0, sizeof(p->exempt_line));
	p->section = SECTION_EXEMPT;
	return 0;
}

static int parse_expires(struct parser *p, struct exemption *e, const char *value)
{
	char limit[32];
	QUOTED(q);

	if (parse_time(value, ZONE_UTC, &e->expires_usec) < 0)
		return fail(p, p->line, "expires '%s' is not a date in UTC (like 2027-03-31 or "
		            "2027-03-31 18:00)", quote(&q, value));
	if (e->expires_usec > p->now_usec + EXEMPTION_MAX_USEC)
		return fail(p, p->line, "expires '%s' is more than 365 days ahead (at most %s): an exemption "
		            "is reviewed and renewed, not permanent; change the rules instead",
		            quote(&q, value), format_utc_time(limit, sizeof(limit), p->now_usec + EXEMPTION_MAX_USEC));
	return 0;
}

static int add_exemption_entry(struct parser *p, const char *key, const char *value)
{
	struct exemption *e = current_exemption(p);
	int k = lookup_name(exempt_key_names, N_EXEMPT_KEYS, key);
	QUOTED(q);

	if (k < 0)
		return fail(p, p->line, "unknown key '%s' in [exempt \"%s\"] (secret, key, value, reason, "
		            "expires)", quote(&q, key), e->name);
	if (p->exempt_line[k])
		return fail(p, p->line, "duplicate key '%s' in [exempt] (first at line %u)", key, p->exempt_line[k]);
	p->exempt_line[k] = p->line;
	switch ((enum exempt_key) k) {
	case EXEMPT_SECRET:
		return decode_glob(p, p->line, "secret name glob", value, 1, MAX_SECRET_NAME_CHARS, &e->secret);
	case EXEMPT_KEY:
		return decode_glob(p, p->line, "key glob", value, 1, MAX_KEY_CHARS, &e->key);
	case EXEMPT_VALUE:
		return decode_glob(p, p->line, "value glob", value, 0, MAX_VALUE_CHARS, &e->value);
	case EXEMPT_REASON:
		if (!*value || has_control(value))
			return fail(p, p->line, "reason must be a non-empty line of text");
		e->reason = strdup(value);
		return e->reason ? 0 : fail_oom(p);
	case EXEMPT_EXPIRES:
		return parse_expires(p, e, value);
	case N_EXEMPT_KEYS:
		break;
	}
	return -EINVAL;         /* not reached: lookup_name() found the key */
}

/* The [exempt] section just ended: everything but value is mandatory. */
static int finish_exemption(struct parser *p)
{
	const struct exemption *e;

	if (p->section != SECTION_EXEMPT)
		return 0;
	e = current_exemption(p);
	for (size_t k = 0; k < N_EXEMPT_KEYS; k++)
		if (k != EXEMPT_VALUE && !p->exempt_line[k])
			return fail(p, e->line, "[exempt] needs %s = ... (an exemption names secret, key, reason "
			            "and expires; value is optional)", exempt_key_names[k]);
	return 0;
}

/* "TAGKEY = VALUES" in a governance section. */
static int add_rule(struct parser *p, const char *raw_key, const char *value)
{
	struct section *sec = current_section(p);
	struct rule *rules, *rule;
	char *key;
	int r;

	if (raw_key[0] == '/')
		return add_section_setting(p, raw_key, value);
	r = decode_glob(p, p->line, "key", raw_key, 1, MAX_KEY_CHARS, &key);
	if (r < 0)
		return r;
	r = check_new_rule_key(p, key);
	if (r < 0) {
		free(key);
		return r;
	}
	rules = realloc(sec->rules, (sec->n_rules + 1) * sizeof(*rules));
	if (!rules) {
		free(key);
		return fail_oom(p);
	}
	sec->rules = rules;
	rule = &rules[sec->n_rules++];
	*rule = (struct rule) { .key = key, .line = p->line };

	p->list_key = rule->key;
	if (streq_ptr(value, "*") || streq_ptr(value, "!")) {
		rule->kind = value[0] == '*' ? RULE_ANY : RULE_FORBID;
		p->list_fixed = true;
		return 0;
	}
	rule->kind = RULE_VALUES;
	p->list = LIST_RULE;
	return list_add_line(p, value, false);
}

/* A glob section governs the secrets it matches that no exact section and
 * no earlier glob section governs: one whose every name an earlier glob
 * section matches too governs nothing. */
static int check_new_glob_section(struct parser *p, const char *pattern, const char *raw_name)
{
	QUOTED(q);
	QUOTED(q2);

	for (size_t i = 0; i < p->c->n_sections; i++) {
		const struct section *earlier = &p->c->sections[i];
		char at[PATH_MAX + 16];

		if (earlier->is_glob && glob_covers(earlier->pattern, pattern))
			return fail(p, p->line, "section [secrets \"%s\"] can never apply: [secrets \"%s\"] at %s "
			            "comes first and governs every secret it would match; put the more specific "
			            "section first", quote(&q, raw_name), quote(&q2, earlier->pattern),
			            earlier_at(p, earlier->file, earlier->line, at, sizeof(at)));
	}
	return 0;
}

static int add_section(struct parser *p, bool is_glob, const char *raw_name)
{
	const char *kind = is_glob ? "secrets" : "secret";
	struct section *sections = NULL;
	char *pattern;
	QUOTED(q);
	int r;

	if (strchr(raw_name, ';'))
		return fail(p, p->line, "[%s \"%s\"]: write ';' in a name as %%3B", kind, quote(&q, raw_name));
	r = decode_text(p, p->line, is_glob ? "secret name glob" : "secret name", raw_name,
	                1, MAX_SECRET_NAME_CHARS, &pattern);
	if (r < 0)
		return r;
	if (is_glob && glob_validate(pattern) < 0)
		r = fail(p, p->line, "secret name glob '%s' is not a valid glob (unclosed '[', unknown "
		         "[:class:] or trailing '\\')", quote(&q, raw_name));
	else if (!is_glob && has_glob_chars(pattern))
		r = fail(p, p->line, "[secret \"%s\"] governs one secret by its exact name; "
		         "for a glob write [secrets \"...\"]", quote(&q, raw_name));
	for (size_t i = 0; r == 0 && i < p->c->n_sections; i++) {
		const struct section *e = &p->c->sections[i];
		char at[PATH_MAX + 16];

		if (e->is_glob == is_glob && strcmp(e->pattern, pattern) == 0)
			r = fail(p, p->line, "duplicate section [%s \"%s\"] (first at %s)%s",
			         kind, quote(&q, raw_name), earlier_at(p, e->file, e->line, at, sizeof(at)),
			         e->file == p->file ? "" : AMBIGUOUS);
	}
	if (r == 0 && is_glob)
		r = check_new_glob_section(p, pattern, raw_name);
	if (r == 0 && !(sections = realloc(p->c->sections, (p->c->n_sections + 1) * sizeof(*sections))))
		r = fail_oom(p);
	if (r < 0) {
		free(pattern);
		return r;
	}
	p->c->sections = sections;
	p->govern = p->c->n_sections++;
	p->grace_line = 0;
	sections[p->govern] = (struct section) {
		.is_glob = is_glob, .pattern = pattern, .line = p->line, .file = p->file,
	};
	p->section = SECTION_GOVERN;
	return 0;
}

static int enter_named_section(struct parser *p, const char *word)
{
	for (size_t i = 0; i < ELEMENTSOF(section_names); i++) {
		if (!section_names[i] || strcmp(section_names[i], word) != 0)
			continue;
		if (p->section_line[i] && p->section_file[i] == p->file)
			return fail(p, p->line, "duplicate section [%s] (first at line %u)",
			            word, p->section_line[i]);
		p->section_line[i] = p->line;
		p->section_file[i] = p->file;
		p->section = (enum section_kind) i;
		return 0;
	}
	return -ENOENT;
}

/* ---- what inih hands over ---------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* A section header as written, HEADER trimmed and starting with '['.  Its
 * own grammar: a quoted name may hold ']' ("app-[ab]*"), which inih's
 * reading of the line would cut. */
static int parse_header(struct parser *p, const char *header)
{
	_cleanup_free_ char *copy = strdup(header);
	char *word, *name = NULL, *rest;
	size_t n;
	QUOTED(q);

	if (!copy)
		return fail_oom(p);
	word = copy + 1;
	while (is_blank(*word))
		word++;
	n = strcspn(word, " \t\v\f\r\"]");
	rest = word + n;
	while (is_blank(*rest))
		*rest++ = '\0';
	if (*rest == '"') {
		name = rest + 1;
		rest = strchr(name, '"');
		if (!rest)
			return fail(p, p->line, "section header: unterminated quote");
		*rest++ = '\0';
		while (is_blank(*rest))
			rest++;
	}
	if (*rest != ']')
		return fail(p, p->line, "section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]");
	*rest++ = '\0';
	while (is_blank(*rest))
		rest++;
	if (*rest == '#')
		return fail(p, p->line, "'#' starts a comment only at the start of a line; "
		            "after a section header write ' ; comment'");
	if (*rest && *rest != ';')
		return fail(p, p->line, "unexpected text after the section header");
	word[n] = '\0';

	if (name && streq_ptr(word, "exempt"))
		return add_exemption(p, name);
	if (streq_ptr(word, "exempt"))
		return fail(p, p->line, "[exempt] needs a quoted name: [exempt \"NAME\"]");
	if (name && (streq_ptr(word, "secret") || streq_ptr(word, "secrets")))
		return add_section(p, word[6] == 's', name);
	if (streq_ptr(word, "secret") || streq_ptr(word, "secrets"))
		return fail(p, p->line, "[%s] needs a quoted name: [%s \"%s\"]", word, word,
		            word[6] == 's' ? "GLOB" : "NAME");
	if (!name && enter_named_section(p, word) == 0)
		return 0;
	if (p->r < 0)
		return p->r;
	if (name) {
		QUOTED(q2);

		return fail(p, p->line, "unknown section [%s \"%s\"]", quote(&q, word), quote(&q2, name));
	}
	return fail(p, p->line, "unknown section [%s]", quote(&q, word));
}

static int on_section(void *userdata, unsigned line, const char *header)
{
	struct parser *p = userdata;
	int r;

	p->line = line;
	r = list_finish(p);
	if (r >= 0)
		r = finish_exemption(p);
	if (r < 0)
		return r;
	return parse_header(p, header);
}

static int on_entry(void *userdata, unsigned line, const char *key, const char *value, char separator)
{
	struct parser *p = userdata;
	QUOTED(q);
	int r;

	p->line = line;
	r = list_finish(p);
	if (r < 0)
		return r;
	/* inih splits at the first '=' or ':'; "a:b = c" would silently
	 * become key "a" with the value "b = c". */
	if (separator != '=')
		return fail(p, line, "expected 'KEY = VALUE'; a ':' in a key is written %%3A");
	r = check_hash_comment(p, key, value);
	if (r < 0)
		return r;
	if (p->section == SECTION_NONE)
		return fail(p, line, "'%s' is outside of any section", quote(&q, key));
	if (p->section == SECTION_GOVERN)
		return add_rule(p, key, value);
	if (p->section == SECTION_EXEMPT)
		return add_exemption_entry(p, key, value);
	return set_setting(p, key, value);
}

static int on_continuation(void *userdata, unsigned line, const char *text)
{
	struct parser *p = userdata;
	const char *key = p->list_key ? p->list_key : "";
	size_t n = strlen(text);
	QUOTED(q);
	int r;

	p->line = line;
	if (p->list == LIST_NONE && p->list_fixed)
		return fail(p, line, "'*' and '!' stand alone: the rule for '%s' takes no continuation lines",
		            quote(&q, key));
	if (p->list == LIST_NONE)
		return fail(p, line, "'%s' takes no continuation lines (is this line indented by mistake?)",
		            quote(&q, key));
	/* An indented "key = value" or "[section]" would otherwise quietly
	 * become part of the list above it. */
	if (strpbrk(text, "=:"))
		return fail(p, line, "continuation line of '%s' contains '%c': entries must not be indented, "
		            "and a continued list writes '=' and ':' as %%3D and %%3A",
		            quote(&q, key), *strpbrk(text, "=:"));
	if (text[0] == '[' && n > 1 && text[n - 1] == ']' && !strchr(text, '|'))
		return fail(p, line, "a section header must not be indented");
	r = check_hash_comment(p, key, text);
	if (r < 0)
		return r;
	return list_add_line(p, text, true);
}

static const struct ini_callbacks callbacks = {
	.section = on_section,
	.entry = on_entry,
	.continuation = on_continuation,
};

/* ---- checks of the whole file --------------------------------------------- */

/* The setting with the lowest line after AFTER, or -1: checks of the whole
 * file go in file order, so the first error reported is the first one. */
static uint64_t setting_position(const struct parser *p, size_t i)
{
	return (uint64_t) p->setting_file[i] << 32 | p->setting_line[i];
}

/* The set setting next in file order after the one at index AFTER (-1:
 * the first), or -1: checks of the whole configuration go in file order,
 * so the first error reported is the first one. */
static int next_setting(const struct parser *p, int after)
{
	uint64_t from = after < 0 ? 0 : setting_position(p, (size_t) after);
	int best = -1;

	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (p->setting_line[i] && setting_position(p, i) > from &&
		    (best < 0 || setting_position(p, i) < setting_position(p, (size_t) best)))
			best = (int) i;
	return best;
}

/* The line of a setting, 0 when unset; messages are about its file from
 * now on. */
static unsigned setting_line(struct parser *p, enum section_kind section, const char *key)
{
	int i = find_setting(section, key);

	if (i < 0 || !p->setting_line[i])
		return 0;
	in_file(p, p->setting_file[i]);
	return p->setting_line[i];
}

/* The line of a [csms], [auth] or [daemon] header, 0 when absent; messages
 * are about its file (the main file when absent) from now on. */
static unsigned section_header_line(struct parser *p, enum section_kind section)
{
	in_file(p, p->section_line[section] ? p->section_file[section] : 0);
	return p->section_line[section];
}

static int finish_csms(struct parser *p)
{
	struct csms_settings *cs = &p->c->csms;
	unsigned line = section_header_line(p, SECTION_CSMS);

	if (!cs->region)
		return fail(p, line, "[csms] region is required (like region = cn-north-4)");
	if (!cs->project_id)
		return fail(p, line, "[csms] project_id is required");
	if ((p->flags & CONFIG_REFUSE_PLACEHOLDER) && !cs->endpoint &&
	    streq_ptr(cs->project_id, CONFIG_PLACEHOLDER_PROJECT_ID))
		return fail(p, setting_line(p, SECTION_CSMS, "project_id"), "project_id %s is the placeholder "
		            "of the shipped file, not a project: set the id of the project whose secrets are "
		            "governed (IAM console, My Credentials, Projects)", cs->project_id);
	/* CSMS is served by the KMS host name. */
	if (!cs->endpoint)
		cs->endpoint = xasprintf("https://kms.%s.myhuaweicloud.com", cs->region);
	if (!cs->iam_endpoint)
		cs->iam_endpoint = xasprintf("https://iam.%s.myhuaweicloud.com", cs->region);
	if (!cs->metadata_endpoint)
		cs->metadata_endpoint = strdup("http://169.254.169.254");
	if (!cs->endpoint || !cs->iam_endpoint || !cs->metadata_endpoint)
		return fail_oom(p);
	return 0;
}

static int finish_auth(struct parser *p)
{
	enum auth_method m = p->c->auth.method;
	unsigned method_line;

	if (!setting_line(p, SECTION_AUTH, "method"))
		return fail(p, section_header_line(p, SECTION_AUTH),
		            "[auth] method is required (aksk, password, token or ecs)");
	/* A key the method ignores is a mistake that would otherwise go
	 * unnoticed until the credentials fail. */
	for (int i = next_setting(p, -1); i >= 0; i = next_setting(p, i))
		if (settings[i].methods && !(settings[i].methods & M(m))) {
			in_file(p, p->setting_file[i]);
			return fail(p, p->setting_line[i], "%s is not used by method %s",
			            settings[i].key, auth_method_to_string(m));
		}
	method_line = setting_line(p, SECTION_AUTH, "method");
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if ((settings[i].required & M(m)) && !p->setting_line[i])
			return fail(p, method_line, "method %s needs %s in [auth]",
			            auth_method_to_string(m), settings[i].key);
	return 0;
}

/* Shortest decimal of at least V with two significant digits, for a
 * minimum in a message: writing it must pass the check. */
static void format_minimum(char *buf, size_t size, double v)
{
	double scale = 1;

	for (int decimals = 0; decimals < 12; decimals++, scale *= 10) {
		double scaled = v * scale, up = (double) (uint64_t) scaled;

		if (up < scaled)
			up += 1;        /* round up: the minimum itself must pass */
		up /= scale;
		if (up <= v * 1.1 || decimals == 11) {
			snprintf(buf, size, "%.*f", decimals, up);
			return;
		}
	}
}

/* The rate paces every request of a pass, and pass_timeout ends a pass.  A
 * pass makes at least one listing request and, when it deletes, one
 * request per deletion, up to max_deletes_per_pass: a rate at which even
 * those cannot be made in pass_timeout means every pass that has work
 * times out - never what was meant (0.0000000001 is one request in 317
 * years).  The minimum is (1 + max_deletes_per_pass) / pass_timeout; 0.085
 * per second with the defaults. */
static int check_rate(struct parser *p)
{
	const struct daemon_settings *d = &p->c->daemon;
	double needed = 1.0 + d->max_deletes_per_pass;
	double seconds = (double) d->pass_timeout_usec / (double) USEC_PER_SEC;
	double minimum = needed / seconds;
	unsigned line;
	char min[32], timeout[32];

	in_file(p, 0);
	line = setting_line(p, SECTION_DAEMON, "max_requests_per_second");
	if (d->max_requests_per_second == 0 || d->max_requests_per_second >= minimum)
		return 0;
	if (!line)
		line = setting_line(p, SECTION_DAEMON, "max_deletes_per_pass");
	if (!line)
		line = setting_line(p, SECTION_DAEMON, "pass_timeout");
	format_minimum(min, sizeof(min), minimum);
	return fail(p, line, "max_requests_per_second is too low: a pass makes up to %.0f requests "
	            "(1 listing + max_deletes_per_pass), which must fit in pass_timeout %s; "
	            "write at least %s, or 0 for no limit", needed,
	            format_timespan(timeout, sizeof(timeout), d->pass_timeout_usec), min);
}

/* ca_file only needs to be a non-empty regular file: the TLS library reads
 * it.  Opened without blocking, like every file the config names. */
static int check_public_file(struct parser *p, const struct setting *s, unsigned line, const char *path)
{
	struct stat st;
	QUOTED(q);
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(p, line, "%s: %s: %m", s->key, quote(&q, path));
	if (fstat(fd, &st) < 0)
		r = fail(p, line, "%s: %s: %m", s->key, quote(&q, path));
	else if (!S_ISREG(st.st_mode))
		r = fail(p, line, "%s: %s is not a regular file", s->key, quote(&q, path));
	else if (st.st_size == 0)
		r = fail(p, line, "%s: %s is empty", s->key, quote(&q, path));
	close(fd);
	return r;
}

/* Every file the config names, in file order.  Credentials are read and
 * judged by credentials.c exactly as the daemon will read them, then
 * wiped: the check passes only if start-up would. */
static int check_files(struct parser *p)
{
	for (int i = next_setting(p, -1); i >= 0; i = next_setting(p, i)) {
		char *value = NULL, *error = NULL;
		const char *path;
		int r;

		if (settings[i].file == FILE_NONE)
			continue;
		path = *FIELD(p, &settings[i], char *);
		in_file(p, p->setting_file[i]);
		if (settings[i].file == FILE_PUBLIC)
			r = check_public_file(p, &settings[i], p->setting_line[i], path);
		else {
			r = credential_read(settings[i].key, path, &value, &error);
			credential_free(value);
			if (r < 0)
				r = fail_with(p, r, error);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int finish(struct parser *p)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < p->c->n_sections; i++) {
		in_file(p, p->c->sections[i].file);
		r = check_required(p, &p->c->sections[i]);
	}
	if (r >= 0)
		r = finish_csms(p);
	if (r >= 0)
		r = finish_auth(p);
	if (r >= 0)
		r = check_rate(p);
	if (r >= 0 && (p->flags & CONFIG_CHECK_CREDENTIALS))
		r = check_files(p);
	return r;
}

/* ---- loading --------------------------------------------------------------- */

static void set_defaults(struct config *c)
{
	c->daemon = (struct daemon_settings) {
		.interval_usec = 5 * USEC_PER_MIN,
		.jitter_usec = 30 * USEC_PER_SEC,
		.request_timeout_usec = 30 * USEC_PER_SEC,
		.pass_timeout_usec = 10 * USEC_PER_MIN,
		.dry_run = false,
		.max_deletes_per_pass = 50,
		.max_parallel_requests = 8,
		.max_requests_per_second = 10,
		.observe = OBSERVE_AUTO,
	};
}

/* inih refused a line, or it is not text: say what is expected. */
static int fail_line(struct parser *p, const struct ini_error *e)
{
	const char *s = e->text, *end = e->text + e->len;

	switch (e->problem) {
	case INI_NUL:
		return fail(p, e->line, "NUL byte in line");
	case INI_NOT_UTF8:
		return fail(p, e->line, "not valid UTF-8");
	case INI_SYNTAX:
		break;
	}
	while (s < end && (is_blank(*s) || *s == '\n'))
		s++;
	if (s < end && *s == '[') {
		for (const char *c = s + 1; c < end; c++)
			if (*c == ';' && is_blank(c[-1]))
				return fail(p, e->line, "section header: a ';' after a space starts a comment, "
				            "which cuts off the ']'; write ';' in a name as %%3B");
		return fail(p, e->line, "section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]");
	}
	return fail(p, e->line, "expected 'KEY = VALUE', a [section] header or a comment");
}

/* A file ends: what is open in it ends with it. */
static int finish_file(struct parser *p)
{
	int r = list_finish(p);

	if (r >= 0)
		r = finish_exemption(p);
	p->section = SECTION_NONE;
	return r;
}

/* Read one file's TEXT as the next of the configuration. */
static int read_text(struct parser *p, const char *name, const char *text, size_t len)
{
	struct ini_error e = {};
	char *copy = strdup(name);
	int r;

	if (!copy || strv_push(&p->c->files, &p->c->n_files, copy) < 0) {
		free(copy);
		return fail_oom(p);
	}
	in_file(p, (unsigned) p->c->n_files - 1);
	r = ini_read(text, len, &callbacks, p, &e);
	if (r == -EBADMSG)
		return fail_line(p, &e);
	if (r == -ENOMEM)
		return fail_oom(p);
	if (r < 0)
		return r;
	return finish_file(p);
}

/* A file of the configuration could not be read: say what is expected. */
static char *read_error(const char *path, int r, const char *what)
{
	const char *advice;

	if (r == -EFBIG)
		return xasprintf("%s: larger than %u bytes", path, MAX_CONFIG_BYTES);
	if (r == -EISDIR)
		return xasprintf("%s: is a directory; %s", path, what);
	if (r == -EINVAL)
		return xasprintf("%s: is a device, FIFO or socket, not a regular file; %s", path, what);
	advice = advice_config_error(r);
	return xasprintf("%s: %s%s%s", path, strerror(-r), advice ? "; " : "", advice ? advice : "");
}

/* The drop-ins of the main file, each read and parsed in order. */
static int read_dropins(struct parser *p, const char *path)
{
	char **files = NULL;
	size_t n = 0;
	int r;

	r = config_list_dropins(path, &files, &n);
	if (r < 0) {
		_cleanup_free_ char *dir = config_dropin_dir(path);

		if (r == -ENOMEM || !dir)
			return fail_oom(p);
		if (r == -ENOTDIR)
			return fail_with(p, r, xasprintf("%s: not a directory; it holds the drop-ins (*.conf) "
			                                 "read after %s", dir, path));
		return fail_with(p, r, read_error(dir, r, ""));
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		r = read_file(files[i], MAX_CONFIG_BYTES, &text, &len);
		if (r == -ENOMEM)
			r = fail_oom(p);
		else if (r < 0)
			r = fail_with(p, r, read_error(files[i], r, "the drop-in directory holds files"));
		else
			r = read_text(p, files[i], text, len);
	}
	strv_free(files, n);
	return r;
}

/* TEXT is the main file NAME; PATH (or NULL) is where to look for drop-ins. */
static int load(const char *name, const char *text, size_t len, const char *path, unsigned flags,
                uint64_t now_usec, struct config **ret, char **error)
{
	struct parser p = {
		.flags = flags,
		.now_usec = now_usec,
	};
	int r;

	p.c = calloc(1, sizeof(*p.c));
	p.setting_line = calloc(ELEMENTSOF(settings), sizeof(*p.setting_line));
	p.setting_file = calloc(ELEMENTSOF(settings), sizeof(*p.setting_file));
	if (p.c)
		p.c->path = strdup(name);
	if (!p.c || !p.setting_line || !p.setting_file || !p.c->path)
		r = -ENOMEM;
	else {
		set_defaults(p.c);
		r = read_text(&p, name, text, len);
		if (r >= 0 && path)
			r = read_dropins(&p, path);
		if (r >= 0)
			r = finish(&p);
		if (r < 0 && p.r < 0)
			r = p.r;
	}
	free(p.setting_line);
	free(p.setting_file);
	if (r < 0) {
		config_free(p.c);
		if (error)
			*error = p.error;
		else
			free(p.error);
		return r;
	}
	*ret = p.c;
	return 0;
}

int config_load_string(const char *name, const char *text, unsigned flags,
                       struct config **ret, char **error)
{
	*ret = NULL;
	if (error)
		*error = NULL;
	return load(name, text, strlen(text), NULL, flags, now_realtime_usec(), ret, error);
}

int config_load_string_at(const char *name, const char *text, unsigned flags, uint64_t now_usec,
                          struct config **ret, char **error)
{
	*ret = NULL;
	if (error)
		*error = NULL;
	return load(name, text, strlen(text), NULL, flags, now_usec, ret, error);
}

int config_load(const char *path, unsigned flags, struct config **ret, char **error)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	*ret = NULL;
	if (error)
		*error = NULL;
	r = read_file(path, MAX_CONFIG_BYTES, &text, &len);
	if (r < 0) {
		if (error && r != -ENOMEM)
			*error = read_error(path, r, "--config names the configuration file");
		return r;
	}
	return load(path, text, len, path, flags, now_realtime_usec(), ret, error);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	strv_free(c->files, c->n_files);
	free(c->csms.region);
	free(c->csms.project_id);
	free(c->csms.endpoint);
	free(c->csms.iam_endpoint);
	free(c->csms.metadata_endpoint);
	free(c->csms.ca_file);
	free(c->auth.access_key_file);
	free(c->auth.secret_key_file);
	free(c->auth.security_token_file);
	free(c->auth.password_file);
	free(c->auth.token_file);
	free(c->auth.user);
	free(c->auth.domain);
	strv_free(c->daemon.protect, c->daemon.n_protect);
	free(c->daemon.metrics_file);
	for (size_t i = 0; i < c->n_sections; i++) {
		struct section *s = &c->sections[i];

		for (size_t j = 0; j < s->n_rules; j++) {
			free(s->rules[j].key);
			strv_free(s->rules[j].values, s->rules[j].n_values);
		}
		free(s->rules);
		free(s->pattern);
		strv_free(s->required, s->n_required);
	}
	free(c->sections);
	for (size_t i = 0; i < c->n_exemptions; i++) {
		struct exemption *e = &c->exemptions[i];

		free(e->name);
		free(e->secret);
		free(e->key);
		free(e->value);
		free(e->reason);
	}
	free(c->exemptions);
	free(c->daemon.state_directory);
	free(c);
}

/* ---- lookups ------------------------------------------------------------- */

const struct section *config_section_for(const struct config *c, const char *secret_name)
{
	for (size_t i = 0; i < c->n_sections; i++)
		if (!c->sections[i].is_glob && strcmp(c->sections[i].pattern, secret_name) == 0)
			return &c->sections[i];
	/* Flags 0: a secret name is a flat string, '*' matches '/' and '.'. */
	for (size_t i = 0; i < c->n_sections; i++)
		if (c->sections[i].is_glob && fnmatch(c->sections[i].pattern, secret_name, 0) == 0)
			return &c->sections[i];
	return NULL;
}

uint64_t config_grace_for(const struct config *c, const struct section *section)
{
	return section && section->has_grace ? section->grace_usec : c->daemon.grace_usec;
}

bool config_uses_grace(const struct config *c)
{
	if (c->daemon.grace_usec > 0)
		return true;
	for (size_t i = 0; i < c->n_sections; i++)
		if (c->sections[i].has_grace && c->sections[i].grace_usec > 0)
			return true;
	return false;
}

const char *config_file_name(const struct config *c, unsigned file)
{
	return file < c->n_files ? c->files[file] : (c->path ? c->path : "");
}
