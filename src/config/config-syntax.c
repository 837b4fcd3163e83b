/* config-syntax.c - what every part of a configuration is written with:
 * messages naming FILE:LINE, decoded keys and values, and "a | b | c"
 * lists continued on indented lines.  See config-parser.h. */
#include "config-parser.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

_printf_(3, 4)
int cfg_fail(struct parser *p, unsigned line, const char *fmt, ...)
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
void cfg_in_file(struct parser *p, unsigned file)
{
	p->file = file;
	p->name = p->c->files[file];
}

/* Where an earlier definition is, for "(first at ...)": "line N" in the
 * file being read, else "FILE:N". */
const char *cfg_earlier_at(const struct parser *p, unsigned file, unsigned line,
                           char *buf, size_t size)
{
	if (file == p->file)
		snprintf(buf, size, "line %u", line);
	else
		snprintf(buf, size, "%s:%u", p->c->files[file], line);
	return buf;
}

int cfg_fail_oom(struct parser *p)
{
	if (p->r == 0)
		p->r = -ENOMEM;
	return p->r;
}

/* A message made elsewhere (credentials.c), as it is. */
int cfg_fail_with(struct parser *p, int r, char *message)
{
	if (p->r < 0) {
		free(message);
		return p->r;
	}
	p->r = message ? r : -ENOMEM;
	p->error = message;
	return p->r;
}

const char *cfg_quote(struct quoted *q, const char *s)
{
	q->s = escape_for_log(s);
	return q->s ? q->s : "?";
}

void cfg_quoted_free(struct quoted *q)
{
	free(q->s);
}

int cfg_strv_push(char ***v, size_t *n, char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

void cfg_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Decode and check a tag key or value (WHAT names it in messages).  Keys
 * are 1..128 characters, values 0..255.  Only control characters are
 * refused: tags created under older, looser CSMS rules must stay nameable. */
int cfg_decode_text(struct parser *p, unsigned line, const char *what, const char *raw,
                    size_t min_chars, size_t max_chars, char **ret)
{
	QUOTED(q);
	const char *bad;
	char *s = NULL;
	size_t len;
	int r;

	if (strchr(raw, '"'))
		return cfg_fail(p, line, "%s '%s': quotes are not part of the syntax (write '\"' as %%22)",
		                what, cfg_quote(&q, raw));
	r = percent_decode(raw, &s, &len, &bad);
	if (r == -ENOMEM)
		return cfg_fail_oom(p);
	if (r < 0 && bad) {
		char esc[4] = "";
		QUOTED(q2);

		strncat(esc, bad, 3);
		return cfg_fail(p, line, "%s '%s': bad escape '%s' (%%XX with two hex digits; write '%%' as %%25)",
		                what, cfg_quote(&q, raw), cfg_quote(&q2, esc));
	}
	if (r < 0)
		return cfg_fail(p, line, "%s '%s': not valid UTF-8 once decoded", what, cfg_quote(&q, raw));
	if (strlen(s) != len || has_control(s)) {
		free(s);
		return cfg_fail(p, line, "%s '%s': control characters are not allowed", what, cfg_quote(&q, raw));
	}
	if (utf8_chars(s) < min_chars || utf8_chars(s) > max_chars) {
		size_t n = utf8_chars(s);

		free(s);
		if (n < min_chars)
			return cfg_fail(p, line, "%s is empty", what);
		return cfg_fail(p, line, "%s '%s' is %zu characters long (at most %zu)",
		                what, cfg_quote(&q, raw), n, max_chars);
	}
	*ret = s;
	return 0;
}

int cfg_decode_glob(struct parser *p, unsigned line, const char *what, const char *raw,
                    size_t min_chars, size_t max_chars, char **ret)
{
	QUOTED(q);
	char *s;
	int r;

	r = cfg_decode_text(p, line, what, raw, min_chars, max_chars, &s);
	if (r < 0)
		return r;
	if (glob_validate(s) < 0) {
		free(s);
		return cfg_fail(p, line, "%s '%s' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')",
		                what, cfg_quote(&q, raw));
	}
	*ret = s;
	return 0;
}

/* A '#' inih keeps in a value: "owner = alice # the DBA" would allow only
 * the value "alice # the DBA" and so delete owner=alice.  A '#' at the
 * start of a value or after whitespace is refused; one inside a word
 * ("C#") is not a comment by any reading and stays. */
int cfg_check_hash_comment(struct parser *p, const char *key, const char *value)
{
	QUOTED(q);
	QUOTED(q2);

	for (const char *s = value; *s; s++)
		if (*s == '#' && (s == value || s[-1] == ' ' || s[-1] == '\t'))
			return cfg_fail(p, p->line, "'%s = %s': '#' starts a comment only at the start of a line, "
			                "so here it would be part of the value; put the comment on a line of its own "
			                "or after ' ;', and write a '#' that belongs to the value as %%23",
			                cfg_quote(&q, key), cfg_quote(&q2, value));
	return 0;
}

/* ---- lists: "a | b | c", continued on indented lines ----------------------- */

/* "prod, staging" is a comma list written by habit: it would allow only
 * the one value "prod, staging".  Any ',' is refused; %2C writes one. */
int cfg_check_comma(struct parser *p, unsigned line, const char *what, const char *raw)
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
		return cfg_fail_oom(p);
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
	return cfg_fail(p, line, "%s '%s' of '%s' holds a ',': alternatives are separated by '|' (%s = %s); "
	                "write a ',' that belongs to the value as %%2C", what, cfg_quote(&q, raw),
	                cfg_quote(&q3, p->list_key), cfg_quote(&q4, p->list_key), cfg_quote(&q2, fixed));
}

static int list_add_element(struct parser *p, unsigned line, const char *raw)
{
	if (p->list == LIST_PROTECT)
		return cfg_protect_add(p, line, raw);
	if (p->list == LIST_REQUIRED)
		return cfg_required_add(p, line, raw);
	if (p->list == LIST_SCOPE)
		return cfg_scope_add(p, &p->c->sections[p->govern].scope, line, raw);
	if (p->list == LIST_DISCOVER_REGIONS || p->list == LIST_DISCOVER_ACCOUNTS)
		return cfg_discover_add(p, line, raw);
	return cfg_rule_add_value(p, line, raw);
}

/* Add the elements of one line of a list.  A line break inside a list is a
 * separator whether a '|' is written at the end of the line, at the start
 * of the next, at both or at neither: it never makes an empty element.  So
 * the empty element after a trailing '|' is held back (list_open) until it
 * is known whether a continuation line follows. */
int cfg_list_add_line(struct parser *p, const char *text, bool continuation)
{
	_cleanup_free_ char *copy = strdup(text);
	char *s = copy;

	if (!copy)
		return cfg_fail_oom(p);
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
int cfg_list_finish(struct parser *p)
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

/* One element of a list of tag keys (protect, /required), WHAT in
 * messages: not empty, no ',', decoded, and checked as a glob when GLOB. */
int cfg_decode_list_key(struct parser *p, unsigned line, const char *what, const char *raw,
                        bool glob, char **ret)
{
	int r;

	if (!*raw)
		return cfg_fail(p, line, "%s: empty %s (a stray '|'?)", p->list_key, glob ? "key glob" : "key");
	r = cfg_check_comma(p, line, what, raw);
	if (r < 0)
		return r;
	return (glob ? cfg_decode_glob : cfg_decode_text)(p, line, what, raw, 1, MAX_KEY_CHARS, ret);
}
