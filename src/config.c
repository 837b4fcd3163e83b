/* config.c - the desired state and the daemon's settings, from an INI file.
 *
 * inih does the INI syntax; this file does everything inih cannot be trusted
 * with.  Debian's libinih has a fixed 200-byte line buffer, no line numbers
 * in the handler and truncates section and key names at 49 bytes, so all
 * lines pass through read_line() first: it counts them, refuses lines that
 * would not fit (inih would silently split them), classifies each one the
 * way inih will (comment, section header, entry, continuation) and handles
 * section headers itself.  The handler then sees only entries and
 * continuation lines, and knows their line and section from the parser.
 *
 * Nothing is used until the whole file has been read and checked: the
 * parser fills a fresh struct config and frees it on the first error.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define MAX_CONFIG_BYTES        (1024u * 1024)
#define MAX_KEY_CHARS           128     /* CSMS tag key limit */
#define MAX_VALUE_CHARS         255     /* CSMS tag value limit */
#define MAX_SECRET_NAME_CHARS   255
#define USEC_PER_MIN            (60 * USEC_PER_SEC)
#define USEC_PER_HOUR           (60 * USEC_PER_MIN)
#define USEC_PER_DAY            (24 * USEC_PER_HOUR)

/* ---- small text helpers ---------------------------------------------------- */

static bool is_space(char c)
{
	/* What inih's lskip()/rstrip() skip, without depending on the locale. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Trim S in place: returns the first non-space byte, cuts trailing space. */
static char *trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Cut an inline comment: a ';' preceded by whitespace, as inih does it. */
static void cut_inline_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == ';' && p > s && is_space(p[-1])) {
			*p = '\0';
			return;
		}
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char) *s & 0xc0) != 0x80;
	return n;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode S into *RET (*RET_LEN bytes, NUL-terminated; it may hold
 * a decoded NUL).  On a bad escape, *bad points at its '%'; -EILSEQ when
 * the result is not valid UTF-8. */
static int unescape(const char *s, char **ret, size_t *ret_len, const char **bad)
{
	size_t n = 0;
	char *out = malloc(strlen(s) + 1);

	*bad = NULL;
	if (!out)
		return -ENOMEM;
	for (const char *p = s; *p; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		if (hexval(p[1]) < 0 || hexval(p[2]) < 0) {
			*bad = p;
			free(out);
			return -EINVAL;
		}
		out[n++] = (char) (hexval(p[1]) * 16 + hexval(p[2]));
		p += 2;
	}
	out[n] = '\0';
	if (!utf8_is_valid(out, n)) {
		free(out);
		return -EILSEQ;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

char *config_unescape(const char *s)
{
	const char *bad;
	char *out = NULL;
	size_t len;
	int r = unescape(s, &out, &len, &bad);

	if (r == 0 && strlen(out) != len) {
		free(out);
		r = -EINVAL;
	}
	if (r < 0) {
		errno = r == -ENOMEM ? ENOMEM : EINVAL;
		return NULL;
	}
	return out;
}

/* ---- globs ----------------------------------------------------------------- */

static bool valid_class(const char *name, size_t len)
{
	static const char *const classes[] = {
		"alnum", "alpha", "blank", "cntrl", "digit", "graph",
		"lower", "print", "punct", "space", "upper", "xdigit",
	};

	for (size_t i = 0; i < ELEMENTSOF(classes); i++)
		if (strlen(classes[i]) == len && strncmp(classes[i], name, len) == 0)
			return true;
	return false;
}

/* P points at '['.  Returns the closing ']' of the bracket expression, or
 * NULL when it does not close or holds an unknown [:class:]. */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']')          /* a ']' first in the set is literal */
		p++;
	while (*p && *p != ']') {
		if (*p == '\\') {
			if (!p[1])
				return NULL;
			p += 2;
		} else if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			char kind = p[1];
			const char *end = p + 2;

			while (*end && !(end[0] == kind && end[1] == ']'))
				end++;
			if (!*end)
				return NULL;
			if (kind == ':' && !valid_class(p + 2, (size_t) (end - p - 2)))
				return NULL;
			p = end + 2;
		} else
			p++;
	}
	return *p ? p : NULL;
}

int glob_validate(const char *glob)
{
	for (const char *p = glob; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return -EINVAL;
			p++;
		} else if (*p == '[') {
			p = bracket_end(p);
			if (!p)
				return -EINVAL;
		}
	}
	return 0;
}

static bool has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* ---- time spans and numbers ----------------------------------------------- */

/* *V = *V * MUL + ADD, or -ERANGE when that does not fit. */
static int mul_add(uint64_t *v, uint64_t mul, uint64_t add)
{
	if (mul != 0 && *v > UINT64_MAX / mul)
		return -ERANGE;
	if (*v * mul > UINT64_MAX - add)
		return -ERANGE;
	*v = *v * mul + add;
	return 0;
}

static const struct {
	const char *suffix;
	uint64_t usec;
} timespan_units[] = {
	{ "us", 1 }, { "usec", 1 },
	{ "ms", USEC_PER_MSEC }, { "msec", USEC_PER_MSEC },
	{ "s", USEC_PER_SEC }, { "sec", USEC_PER_SEC },
	{ "m", USEC_PER_MIN }, { "min", USEC_PER_MIN },
	{ "h", USEC_PER_HOUR }, { "hr", USEC_PER_HOUR },
	{ "d", USEC_PER_DAY },
};

static int timespan_unit(const char *s, size_t len, uint64_t *ret)
{
	if (len == 0) {
		*ret = USEC_PER_SEC;    /* a bare number means seconds */
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(timespan_units); i++)
		if (strlen(timespan_units[i].suffix) == len &&
		    strncmp(timespan_units[i].suffix, s, len) == 0) {
			*ret = timespan_units[i].usec;
			return 0;
		}
	return -EINVAL;
}

/* One component "12", "1.5h", "250 ms" at *S; advances *S. */
static int timespan_component(const char **s, uint64_t *ret)
{
	const char *p = *s, *unit;
	uint64_t whole = 0, frac = 0, scale = 1, mult, v;
	unsigned frac_digits = 0;

	if (!isdigit((unsigned char) *p))
		return -EINVAL;
	for (; isdigit((unsigned char) *p); p++)
		if (mul_add(&whole, 10, (uint64_t) (*p - '0')) < 0)
			return -ERANGE;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char) *p))
			return -EINVAL;
		/* Six decimals, so that frac * mult cannot overflow; more
		 * are refused rather than silently dropped. */
		for (; isdigit((unsigned char) *p); p++) {
			if (++frac_digits > 6)
				return -EINVAL;
			frac = frac * 10 + (uint64_t) (*p - '0');
			scale *= 10;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	unit = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	if (timespan_unit(unit, (size_t) (p - unit), &mult) < 0)
		return -EINVAL;
	v = whole;
	if (mul_add(&v, mult, frac * mult / scale) < 0)
		return -ERANGE;
	*ret = v;
	*s = p;
	return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec)
{
	uint64_t total = 0;
	bool any = false;

	for (;;) {
		uint64_t v;
		int r;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		r = timespan_component(&s, &v);
		if (r < 0)
			return r;
		if (total > UINT64_MAX - v)
			return -ERANGE;
		total += v;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret_usec = total;
	return 0;
}

/* Strict unsigned decimal: digits only, no sign, no spaces. */
static int parse_uint64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char) *s))
			return -EINVAL;
		if (mul_add(&v, 10, (uint64_t) (*s - '0')) < 0)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* "10", "0.5", "2.25": digits with an optional fraction.  Parsed by hand
 * because strtod() also takes "inf", "nan", hex and the locale's comma. */
static int parse_decimal(const char *s, double *ret)
{
	const char *dot = strchr(s, '.');
	uint64_t whole;
	double v, scale = 0.1;
	int r;

	if (dot) {
		_cleanup_free_ char *w = strndup(s, (size_t) (dot - s));

		if (!w)
			return -ENOMEM;
		r = parse_uint64(w, &whole);
		if (r < 0 || !dot[1])
			return -EINVAL;
	} else {
		r = parse_uint64(s, &whole);
		if (r < 0)
			return r;
	}
	v = (double) whole;
	if (dot)
		for (const char *p = dot + 1; *p; p++, scale /= 10) {
			if (!isdigit((unsigned char) *p))
				return -EINVAL;
			v += (*p - '0') * scale;
		}
	*ret = v;
	return 0;
}

static int parse_boolean(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

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

/* ---- credential paths -------------------------------------------------------- */

char *config_credential_path(const char *name)
{
	const char *dir;

	if (!name || !*name || streq_ptr(name, ".") || streq_ptr(name, "..")) {
		errno = EINVAL;
		return NULL;
	}
	if (strchr(name, '/')) {
		char *p = strdup(name);

		if (!p)
			errno = ENOMEM;
		return p;
	}
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (!dir || !*dir) {
		errno = ENOENT;
		return NULL;
	}
	return xasprintf("%s/%s", dir, name);
}

char *config_credential_path_at(const char *config_dir, const char *name)
{
	char *p = config_credential_path(name);

	if (!p && errno == ENOENT) {
		size_t n = strlen(config_dir);

		p = xasprintf("%s%s%s", config_dir, n > 0 && config_dir[n - 1] == '/' ? "" : "/", name);
	}
	return p;
}

/* ---- the parser ------------------------------------------------------------ */

enum line_kind {
	LINE_SKIP,              /* blank or comment */
	LINE_HEADER,
	LINE_ENTRY,
	LINE_CONTINUATION,
};

enum section_kind {
	SECTION_NONE,           /* before the first header */
	SECTION_CSMS,
	SECTION_AUTH,
	SECTION_DAEMON,
	SECTION_GOVERN,
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
};

struct parser {
	const char *name;               /* for messages */
	char *dir;                      /* the file's directory */
	unsigned flags;
	const char *pos, *end;          /* unread input */
	unsigned line;
	enum line_kind kind;            /* of the current line */
	bool after_entry;               /* inih's prev_name is set */

	enum section_kind section;
	size_t govern;                  /* index into c->sections */
	unsigned section_line[ELEMENTSOF(section_names)];
	unsigned *setting_line;         /* per settings[] entry, 0 when unset */

	/* The entry the next continuation line belongs to. */
	enum list_target list;
	const char *list_key;           /* setting or rule key, for messages */
	bool list_open;                 /* the last line ended with '|' */
	unsigned list_open_line;
	bool list_fixed;                /* "*" or "!": takes no continuation */
	unsigned catch_all_line;        /* line of a "* = ..." rule in this section */

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
	/* Quoted user text is bounded by the line length, so this fits. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->error = line > 0 ? xasprintf("%s:%u: %s", p->name, line, msg)
	                    : xasprintf("%s: %s", p->name, msg);
	if (!p->error)
		p->r = -ENOMEM;
	return p->r;
}

static int fail_oom(struct parser *p)
{
	if (p->r == 0)
		p->r = -ENOMEM;
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
	r = unescape(raw, &s, &len, &bad);
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

/* ---- lists: "a | b | c", continued on indented lines ----------------------- */

static int rule_add_value(struct parser *p, unsigned line, const char *raw);
static int protect_add(struct parser *p, unsigned line, const char *raw);

static int list_add_element(struct parser *p, unsigned line, const char *raw)
{
	if (p->list == LIST_PROTECT)
		return protect_add(p, line, raw);
	return rule_add_value(p, line, raw);
}

/* Add the elements of one line of a list.  A line break inside a list is a
 * separator whether a '|' is written at the end of the line, at the start
 * of the next, at both or at neither: it never makes an empty element.  So
 * the empty element after a trailing '|' is held back (list_open) until it
 * is known whether a continuation line follows. */
static int list_add_line(struct parser *p, char *text, bool continuation)
{
	char *s = text;

	if (continuation) {
		p->list_open = false;
		if (*s == '|')
			s = trim(s + 1);
		if (!*s)
			return 0;
	} else if (!*s) {
		/* "key =": the list may follow on the next lines. */
		p->list_open = true;
		p->list_open_line = p->line;
		return 0;
	}
	for (;;) {
		char *bar = strchr(s, '|');
		int r;

		if (bar)
			*bar = '\0';
		r = list_add_element(p, p->line, trim(s));
		if (r < 0 || !bar)
			return r;
		s = trim(bar + 1);
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
	FILE_CREDENTIAL,        /* a secret: private to its owner */
	FILE_PUBLIC,            /* ca_file: only needs to be readable */
};

struct setting {
	enum section_kind section;
	const char *key;
	int (*parse)(struct parser *p, const struct setting *s, unsigned line, char *value);
	size_t offset;          /* of the field in struct config */
	uint64_t min, max;      /* numbers and time spans */
	unsigned methods;       /* [auth]: the methods that use the key */
	unsigned required;      /* [auth]: the methods that need it */
	enum file_kind file;
};

#define FIELD(p, s, type) ((type *) (void *) ((char *) (p)->c + (s)->offset))

static int set_owned_string(struct parser *p, const struct setting *s, char *value)
{
	char **field = FIELD(p, s, char *);
	char *copy = strdup(value);

	if (!copy)
		return fail_oom(p);
	free(*field);
	*field = copy;
	return 0;
}

static int parse_text_value(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	if (!*value)
		return fail(p, line, "%s is empty", s->key);
	if (has_control(value))
		return fail(p, line, "%s: control characters are not allowed", s->key);
	return set_owned_string(p, s, value);
}

static int parse_region(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	QUOTED(q);

	/* It becomes part of host names. */
	if (!*value || strlen(value) > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(value))
		return fail(p, line, "region '%s' is not a region name (like cn-north-4: a-z, 0-9 and '-')",
		            quote(&q, value));
	return set_owned_string(p, s, value);
}

static int parse_project_id(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	QUOTED(q);

	/* It becomes a path segment of every request. */
	if (!*value || strlen(value) > 64 || strspn(value, allowed) != strlen(value))
		return fail(p, line, "project_id '%s' is not a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')",
		            quote(&q, value));
	return set_owned_string(p, s, value);
}

/* An http:// or https:// URL with a host, an optional port and no path
 * beyond "/": requests are made by appending paths to it. */
static bool url_is_valid(const char *s)
{
	const char *p, *q;
	unsigned long port = 0;

	if (startswith(s, "https://"))
		p = s + 8;
	else if (startswith(s, "http://"))
		p = s + 7;
	else
		return false;
	if (*p == '[') {
		for (q = p + 1; isxdigit((unsigned char) *q) || *q == ':' || *q == '.'; q++)
			;
		if (*q != ']' || q == p + 1)
			return false;
		p = q + 1;
	} else {
		for (q = p; isalnum((unsigned char) *q) || *q == '-' || *q == '.' || *q == '_'; q++)
			;
		if (q == p)
			return false;
		p = q;
	}
	if (*p == ':') {
		for (q = ++p; isdigit((unsigned char) *q) && q - p < 6; q++)
			port = port * 10 + (unsigned long) (*q - '0');
		if (q == p || port == 0 || port > 65535)
			return false;
		p = q;
	}
	if (*p == '/')
		p++;
	return *p == '\0';
}

static int parse_url(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	size_t n = strlen(value);
	QUOTED(q);

	if (!url_is_valid(value))
		return fail(p, line, "%s '%s' is not an http:// or https:// URL without a path "
		            "(like https://kms.cn-north-4.myhuaweicloud.com)", s->key, quote(&q, value));
	if (n > 0 && value[n - 1] == '/')
		value[n - 1] = '\0';
	return set_owned_string(p, s, value);
}

static int parse_absolute_path(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	QUOTED(q);

	if (value[0] != '/' || has_control(value))
		return fail(p, line, "%s '%s' is not an absolute path", s->key, quote(&q, value));
	return set_owned_string(p, s, value);
}

static int parse_credential_name(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	QUOTED(q);

	if (!*value)
		return fail(p, line, "%s is empty", s->key);
	if (has_control(value) || streq_ptr(value, ".") || streq_ptr(value, ".."))
		return fail(p, line, "%s '%s' is not a file name", s->key, quote(&q, value));
	return set_owned_string(p, s, value);
}

static int parse_method(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	int m = lookup_name(auth_method_names, ELEMENTSOF(auth_method_names), value);
	QUOTED(q);

	if (m < 0)
		return fail(p, line, "method '%s' is not one of aksk, password, token, ecs", quote(&q, value));
	*FIELD(p, s, enum auth_method) = (enum auth_method) m;
	return 0;
}

static int parse_observe(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	int m = lookup_name(observe_mode_names, ELEMENTSOF(observe_mode_names), value);
	QUOTED(q);

	if (m < 0)
		return fail(p, line, "observe '%s' is not one of auto, resource_instances, list_secrets",
		            quote(&q, value));
	*FIELD(p, s, enum observe_mode) = (enum observe_mode) m;
	return 0;
}

static int parse_timespan_value(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	char lo[32], hi[32];
	uint64_t v;
	QUOTED(q);

	if (parse_timespan(value, &v) < 0)
		return fail(p, line, "%s '%s' is not a time span (like 30s, 5min, 1h 30min, 250ms)",
		            s->key, quote(&q, value));
	if (v < s->min || v > s->max)
		return fail(p, line, "%s '%s' is out of range (%s to %s)", s->key, quote(&q, value),
		            s->min ? format_timespan(lo, sizeof(lo), s->min) : "0",
		            format_timespan(hi, sizeof(hi), s->max));
	*FIELD(p, s, uint64_t) = v;
	return 0;
}

static int parse_unsigned(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	uint64_t v;
	QUOTED(q);

	if (parse_uint64(value, &v) < 0 || v < s->min || v > s->max)
		return fail(p, line, "%s '%s' is not a whole number from %" PRIu64 " to %" PRIu64,
		            s->key, quote(&q, value), s->min, s->max);
	*FIELD(p, s, unsigned) = (unsigned) v;
	return 0;
}

static int parse_rate(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	double v;
	QUOTED(q);

	if (parse_decimal(value, &v) < 0 || v > (double) s->max)
		return fail(p, line, "%s '%s' is not a number from 0 to %" PRIu64 " (0: unlimited)",
		            s->key, quote(&q, value), s->max);
	*FIELD(p, s, double) = v;
	return 0;
}

static int parse_bool(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	int b = parse_boolean(value);
	QUOTED(q);

	if (b < 0)
		return fail(p, line, "%s '%s' is not a boolean (yes, no, true, false, 1, 0)",
		            s->key, quote(&q, value));
	*FIELD(p, s, bool) = b;
	return 0;
}

static int parse_protect(struct parser *p, const struct setting *s, unsigned line, char *value)
{
	p->list = LIST_PROTECT;
	p->list_key = s->key;
	return list_add_line(p, value, false);
}

static int protect_add(struct parser *p, unsigned line, const char *raw)
{
	struct daemon_settings *d = &p->c->daemon;
	char *glob;
	int r;

	if (!*raw)
		return fail(p, line, "protect: empty key glob (a stray '|'?)");
	r = decode_glob(p, line, "protect key glob", raw, 1, MAX_KEY_CHARS, &glob);
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
};

static int find_setting(enum section_kind section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (settings[i].section == section && strcmp(settings[i].key, key) == 0)
			return (int) i;
	return -ENOENT;
}

static int set_setting(struct parser *p, const char *key, char *value)
{
	const char *section = section_names[p->section];
	int i = find_setting(p->section, key);
	QUOTED(q);

	if (i < 0)
		return fail(p, p->line, "unknown key '%s' in [%s]", quote(&q, key), section);
	if (p->setting_line[i])
		return fail(p, p->line, "duplicate key '%s' in [%s] (first at line %u)",
		            key, section, p->setting_line[i]);
	p->setting_line[i] = p->line;
	p->list_key = settings[i].key;
	return settings[i].parse(p, &settings[i], p->line, value);
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

static int check_new_rule_key(struct parser *p, const char *key)
{
	const struct section *sec = current_section(p);
	QUOTED(q);

	if (p->catch_all_line)
		return fail(p, p->line, "the rule for '%s' can never match: the catch-all '*' rule at line %u "
		            "comes first and decides every tag", quote(&q, key), p->catch_all_line);
	for (size_t i = 0; i < sec->n_rules; i++)
		if (strcmp(sec->rules[i].key, key) == 0)
			return fail(p, p->line, "duplicate rule for key '%s' (first at line %u); only the first "
			            "could ever match", quote(&q, key), sec->rules[i].line);
	return 0;
}

/* "TAGKEY = VALUES" in a governance section. */
static int add_rule(struct parser *p, const char *raw_key, char *value)
{
	struct section *sec = current_section(p);
	struct rule *rules, *rule;
	char *key;
	int r;

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
	if (streq_ptr(key, "*"))
		p->catch_all_line = p->line;

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
	for (size_t i = 0; r == 0 && i < p->c->n_sections; i++)
		if (p->c->sections[i].is_glob == is_glob && strcmp(p->c->sections[i].pattern, pattern) == 0)
			r = fail(p, p->line, "duplicate section [%s \"%s\"] (first at line %u)",
			         kind, quote(&q, raw_name), p->c->sections[i].line);
	if (r == 0 && !(sections = realloc(p->c->sections, (p->c->n_sections + 1) * sizeof(*sections))))
		r = fail_oom(p);
	if (r < 0) {
		free(pattern);
		return r;
	}
	p->c->sections = sections;
	p->govern = p->c->n_sections++;
	sections[p->govern] = (struct section) { .is_glob = is_glob, .pattern = pattern, .line = p->line };
	p->section = SECTION_GOVERN;
	return 0;
}

static int enter_named_section(struct parser *p, const char *word)
{
	for (size_t i = 0; i < ELEMENTSOF(section_names); i++) {
		if (!section_names[i] || strcmp(section_names[i], word) != 0)
			continue;
		if (p->section_line[i])
			return fail(p, p->line, "duplicate section [%s] (first at line %u)",
			            word, p->section_line[i]);
		p->section_line[i] = p->line;
		p->section = (enum section_kind) i;
		return 0;
	}
	return -ENOENT;
}

/* A section header, S trimmed and starting with '['.  Parsed here rather
 * than by inih, which cuts names at 49 bytes and at the first ']' (a glob
 * like "app-[ab]*" has one inside its quotes). */
static int parse_header(struct parser *p, char *s)
{
	char *word, *name = NULL, *rest;
	size_t n;
	QUOTED(q);

	word = s + 1;
	while (is_space(*word))
		word++;
	n = strcspn(word, " \t\v\f\r\n\"]");
	rest = word + n;
	while (is_space(*rest))
		*rest++ = '\0';
	if (*rest == '"') {
		name = rest + 1;
		rest = strchr(name, '"');
		if (!rest)
			return fail(p, p->line, "section header: unterminated quote");
		*rest++ = '\0';
		while (is_space(*rest))
			rest++;
	}
	if (*rest != ']')
		return fail(p, p->line, "section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]");
	*rest++ = '\0';
	while (is_space(*rest))
		rest++;
	if (*rest && *rest != ';')
		return fail(p, p->line, "unexpected text after the section header");
	word[n] = '\0';

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

/* ---- reading lines ----------------------------------------------------------- */

/* Whether an entry line has the '=' inih will split it at.  inih splits at
 * the first '=' or ':', so "a:b = c" would silently become key "a" with
 * value "b = c"; only '=' is accepted as the separator. */
static int check_separator(struct parser *p, const char *s)
{
	bool was_space = false;

	for (; *s; s++) {
		if (*s == '=')
			return 0;
		if (*s == ':')
			return fail(p, p->line, "expected 'KEY = VALUE'; a ':' in a key is written %%3A");
		if (*s == ';' && was_space)
			break;
		was_space = is_space(*s);
	}
	return fail(p, p->line, "expected 'KEY = VALUE', a [section] header or a comment");
}

/* Classify the line in BUF the way inih will see it. */
static int classify(struct parser *p, const char *buf)
{
	_cleanup_free_ char *copy = NULL;
	const char *start = buf;
	int r;

	if (p->line == 1 && startswith(start, "\xef\xbb\xbf"))
		start += 3;
	while (is_space(*start))
		start++;
	if (!*start || *start == ';' || *start == '#') {
		p->kind = LINE_SKIP;
		return 0;
	}
	/* inih continues the previous entry with any indented line. */
	if (p->after_entry && start > buf) {
		p->kind = LINE_CONTINUATION;
		return 0;
	}
	r = list_finish(p);
	if (r < 0)
		return r;
	if (*start == '[') {
		p->kind = LINE_HEADER;
		p->after_entry = false;
		p->catch_all_line = 0;
		copy = strdup(start);
		if (!copy)
			return fail_oom(p);
		return parse_header(p, trim(copy));
	}
	p->kind = LINE_ENTRY;
	p->after_entry = true;
	return check_separator(p, start);
}

/* inih's reader: one line into BUF (SIZE bytes), fgets() style. */
static char *read_line(char *buf, int size, void *userdata)
{
	struct parser *p = userdata;
	const char *nl;
	size_t len, content;

	if (p->r < 0 || p->pos >= p->end)
		return NULL;
	nl = memchr(p->pos, '\n', (size_t) (p->end - p->pos));
	len = nl ? (size_t) (nl - p->pos) + 1 : (size_t) (p->end - p->pos);
	content = len - (nl != NULL);
	p->line++;
	/* fgets() semantics would hand inih the rest of a long line as a
	 * line of its own: refuse instead. */
	if (size < 3 || content > (size_t) size - 2) {
		fail(p, p->line, "line too long (max %d bytes); continue long value lists on indented lines",
		     size - 2);
		return NULL;
	}
	memcpy(buf, p->pos, len);
	buf[len] = '\0';
	p->pos += len;
	if (memchr(buf, '\0', len)) {
		fail(p, p->line, "NUL byte in line");
		return NULL;
	}
	if (!utf8_is_valid(buf, len)) {
		fail(p, p->line, "not valid UTF-8");
		return NULL;
	}
	if (classify(p, buf) < 0)
		return NULL;
	return buf;
}

/* ---- inih's handler: entries and continuation lines ------------------------- */

static int add_continuation(struct parser *p, char *text)
{
	QUOTED(q);
	size_t n = strlen(text);

	if (p->list == LIST_NONE && p->list_fixed)
		return fail(p, p->line, "'*' and '!' stand alone: the rule for '%s' takes no continuation lines",
		            quote(&q, p->list_key));
	if (p->list == LIST_NONE)
		return fail(p, p->line, "'%s' takes no continuation lines (is this line indented by mistake?)",
		            quote(&q, p->list_key ? p->list_key : ""));
	/* An indented "key = value" or "[section]" would otherwise quietly
	 * become part of the list above it. */
	if (strpbrk(text, "=:"))
		return fail(p, p->line, "continuation line of '%s' contains '%c': entries must not be indented, "
		            "and a continued list writes '=' and ':' as %%3D and %%3A",
		            quote(&q, p->list_key), *strpbrk(text, "=:"));
	if (text[0] == '[' && n > 1 && text[n - 1] == ']' && !strchr(text, '|'))
		return fail(p, p->line, "a section header must not be indented");
	return list_add_line(p, text, true);
}

static int on_entry(void *userdata, const char *section, const char *name, const char *value)
{
	struct parser *p = userdata;
	_cleanup_free_ char *copy = NULL;
	QUOTED(q);
	int r;

	if (p->r < 0)
		return 0;
	copy = strdup(value ? value : "");
	if (!copy)
		return fail_oom(p), 0;
	if (p->kind == LINE_CONTINUATION) {
		/* Debian's inih leaves inline comments on continuation lines. */
		cut_inline_comment(copy);
		r = add_continuation(p, trim(copy));
	} else if (p->kind != LINE_ENTRY)
		r = fail(p, p->line, "cannot parse this line");
	else if (p->section == SECTION_NONE)
		r = fail(p, p->line, "'%s' is outside of any section", quote(&q, name));
	else if (p->section == SECTION_GOVERN)
		r = add_rule(p, name, trim(copy));
	else
		r = set_setting(p, name, trim(copy));
	return r >= 0;
}

/* ---- checks of the whole file --------------------------------------------- */

/* The setting with the lowest line after AFTER, or -1: checks of the whole
 * file go in file order, so the first error reported is the first one. */
static int next_setting(const struct parser *p, unsigned after)
{
	int best = -1;

	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (p->setting_line[i] > after && (best < 0 || p->setting_line[i] < p->setting_line[best]))
			best = (int) i;
	return best;
}

static unsigned setting_line(const struct parser *p, enum section_kind section, const char *key)
{
	int i = find_setting(section, key);

	return i < 0 ? 0 : p->setting_line[i];
}

static int finish_csms(struct parser *p)
{
	struct csms_settings *cs = &p->c->csms;
	unsigned line = p->section_line[SECTION_CSMS];

	if (!cs->region)
		return fail(p, line, "[csms] region is required (like region = cn-north-4)");
	if (!cs->project_id)
		return fail(p, line, "[csms] project_id is required");
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
	unsigned method_line = setting_line(p, SECTION_AUTH, "method");

	if (!method_line)
		return fail(p, p->section_line[SECTION_AUTH],
		            "[auth] method is required (aksk, password, token or ecs)");
	/* A key the method ignores is a mistake that would otherwise go
	 * unnoticed until the credentials fail. */
	for (int i = next_setting(p, 0); i >= 0; i = next_setting(p, p->setting_line[i]))
		if (settings[i].methods && !(settings[i].methods & M(m)))
			return fail(p, p->setting_line[i], "%s is not used by method %s",
			            settings[i].key, auth_method_to_string(m));
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if ((settings[i].required & M(m)) && !p->setting_line[i])
			return fail(p, method_line, "method %s needs %s in [auth]",
			            auth_method_to_string(m), settings[i].key);
	return 0;
}

/* Replace credential names by the paths they stand for. */
static int resolve_credentials(struct parser *p)
{
	for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
		char **field, *path;

		if (settings[i].file != FILE_CREDENTIAL)
			continue;
		field = FIELD(p, &settings[i], char *);
		if (!*field)
			continue;
		path = config_credential_path_at(p->dir, *field);
		if (!path)
			return errno == ENOMEM ? fail_oom(p)
			                       : fail(p, p->setting_line[i], "%s: %m", settings[i].key);
		free(*field);
		*field = path;
	}
	return 0;
}

static int check_file(struct parser *p, const struct setting *s, unsigned line, const char *path)
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
	else if (s->file == FILE_CREDENTIAL && (st.st_mode & 0077))
		r = fail(p, line, "%s: %s is %s by group or others (mode %04o); chmod 600 it", s->key,
		         quote(&q, path), (st.st_mode & 0044) ? "readable" : "accessible",
		         (unsigned) (st.st_mode & 07777));
	else if (st.st_size == 0)
		r = fail(p, line, "%s: %s is empty", s->key, quote(&q, path));
	close(fd);
	return r;
}

static int check_files(struct parser *p)
{
	for (int i = next_setting(p, 0); i >= 0; i = next_setting(p, p->setting_line[i])) {
		int r;

		if (settings[i].file == FILE_NONE)
			continue;
		r = check_file(p, &settings[i], p->setting_line[i], *FIELD(p, &settings[i], char *));
		if (r < 0)
			return r;
	}
	return 0;
}

static int finish(struct parser *p)
{
	int r;

	r = list_finish(p);
	if (r >= 0)
		r = finish_csms(p);
	if (r >= 0)
		r = finish_auth(p);
	if (r >= 0)
		r = resolve_credentials(p);
	if (r >= 0 && (p->flags & CONFIG_CHECK_CREDENTIALS))
		r = check_files(p);
	return r;
}

/* ---- loading --------------------------------------------------------------- */

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t) (slash - path));
}

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

static int parse(struct parser *p)
{
	int r;

	/* The knobs classify() mirrors; these are inih's defaults, set so
	 * that nothing else in the process can have changed them. */
	ini_allow_multiline = true;
	ini_allow_inline_comments = true;
	ini_allow_bom = true;
	ini_allow_no_value = false;

	r = ini_parse_stream(read_line, p, on_entry, p);
	if (p->r < 0)
		return p->r;
	if (r == -2)
		return fail_oom(p);
	if (r != 0)
		/* inih saw an error classify() did not: never guess. */
		return fail(p, r > 0 ? (unsigned) r : 0, "cannot parse this line");
	return finish(p);
}

static int load(const char *name, const char *text, size_t len, unsigned flags,
                struct config **ret, char **error)
{
	struct parser p = {
		.name = name,
		.flags = flags,
		.pos = text,
		.end = text + len,
	};
	int r;

	p.c = calloc(1, sizeof(*p.c));
	p.setting_line = calloc(ELEMENTSOF(settings), sizeof(*p.setting_line));
	p.dir = dir_of(name);
	if (p.c)
		p.c->path = strdup(name);
	if (!p.c || !p.setting_line || !p.dir || !p.c->path)
		r = -ENOMEM;
	else {
		set_defaults(p.c);
		r = parse(&p);
	}
	free(p.setting_line);
	free(p.dir);
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
	return load(name, text, strlen(text), flags, ret, error);
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
		if (error && r == -EFBIG)
			*error = xasprintf("%s: larger than %u bytes", path, MAX_CONFIG_BYTES);
		else if (error && r != -ENOMEM)
			*error = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	return load(path, text, len, flags, ret, error);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
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
	for (size_t i = 0; i < c->n_sections; i++) {
		struct section *s = &c->sections[i];

		for (size_t j = 0; j < s->n_rules; j++) {
			free(s->rules[j].key);
			strv_free(s->rules[j].values, s->rules[j].n_values);
		}
		free(s->rules);
		free(s->pattern);
	}
	free(c->sections);
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
