/* values.c - the value syntaxes of csms-tagd.conf(5).  See values.h. */
#include "values.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define USEC_PER_MIN            (60 * USEC_PER_SEC)
#define USEC_PER_HOUR           (60 * USEC_PER_MIN)
#define USEC_PER_DAY            (24 * USEC_PER_HOUR)

/* ---- text ------------------------------------------------------------------ */

size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char) *s & 0xc0) != 0x80;
	return n;
}

bool has_control(const char *s)
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

int percent_decode(const char *s, char **ret, size_t *ret_len, const char **bad)
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
	int r = percent_decode(s, &out, &len, &bad);

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

bool has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

enum token_kind { TOKEN_STAR, TOKEN_ANY, TOKEN_BRACKET, TOKEN_LITERAL };

struct token {
	enum token_kind kind;
	const char *s;          /* TOKEN_BRACKET: "[...]"; TOKEN_LITERAL: one character */
	size_t len;
};

/* Split valid GLOB into tokens (at most strlen(GLOB) of them). */
static size_t tokenize(const char *glob, struct token *t)
{
	size_t n = 0;

	for (const char *p = glob; *p; n++) {
		if (*p == '*' || *p == '?') {
			t[n] = (struct token) { *p == '*' ? TOKEN_STAR : TOKEN_ANY, p, 1 };
			p++;
		} else if (*p == '[') {
			const char *end = bracket_end(p);

			t[n] = (struct token) { TOKEN_BRACKET, p, (size_t) (end - p) + 1 };
			p = end + 1;
		} else {
			const char *c = *p == '\\' ? p + 1 : p;
			size_t len = 1;

			/* One UTF-8 character: its continuation bytes belong to it. */
			while (((unsigned char) c[len] & 0xc0) == 0x80)
				len++;
			t[n] = (struct token) { TOKEN_LITERAL, c, len };
			p = c + len;
		}
	}
	return n;
}

/* Whether token A matches everything token B (neither a '*') matches.  '?'
 * is one byte in the C locale and one character in a UTF-8 one, so it only
 * surely covers an ASCII literal. */
static bool token_covers(const struct token *a, const struct token *b)
{
	bool ascii = b->kind == TOKEN_LITERAL && b->len == 1 && !((unsigned char) b->s[0] & 0x80);

	switch (a->kind) {
	case TOKEN_ANY:
		return b->kind != TOKEN_LITERAL || ascii;
	case TOKEN_BRACKET:
		if (b->kind == TOKEN_BRACKET)
			return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
		if (ascii) {
			char pattern[a->len + 1], c[2] = { b->s[0], '\0' };

			memcpy(pattern, a->s, a->len);
			pattern[a->len] = '\0';
			return fnmatch(pattern, c, 0) == 0;
		}
		return false;
	case TOKEN_LITERAL:
		return b->kind == TOKEN_LITERAL && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case TOKEN_STAR:
		break;
	}
	return false;
}

bool glob_covers(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), na, nb;
	_cleanup_free_ struct token *ta = calloc(la + 1, sizeof(*ta)), *tb = calloc(lb + 1, sizeof(*tb));
	/* covers[i][j]: tokens i.. of A cover tokens j.. of B (dynamic
	 * programming from the end, so each pair is decided once). */
	_cleanup_free_ bool *covers = NULL;

	if (!ta || !tb)
		return false;
	na = tokenize(a, ta);
	nb = tokenize(b, tb);
	covers = calloc((na + 1) * (nb + 1), sizeof(*covers));
	if (!covers)
		return false;
#define C(i, j) covers[(i) * (nb + 1) + (j)]
	C(na, nb) = true;
	for (size_t i = na + 1; i-- > 0;)
		for (size_t j = nb + 1; j-- > 0;) {
			if (i == na)
				C(i, j) = j == nb;
			else if (ta[i].kind == TOKEN_STAR)
				/* A's '*' takes nothing, or B's next token (any). */
				C(i, j) = C(i + 1, j) || (j < nb && C(i, j + 1));
			else if (j == nb || tb[j].kind == TOKEN_STAR)
				C(i, j) = false;
			else
				C(i, j) = token_covers(&ta[i], &tb[j]) && C(i + 1, j + 1);
		}
	return C(0, 0);
#undef C
}

/* ---- time spans and numbers ----------------------------------------------- */

int parse_uint64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char) *s))
			return -EINVAL;
		if (u64_mul_add(&v, 10, (uint64_t) (*s - '0')) < 0)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

int parse_decimal(const char *s, double *ret)
{
	size_t whole_len = strspn(s, "0123456789");
	double v = 0, scale = 0.1;

	if (whole_len == 0)
		return -EINVAL;
	for (size_t i = 0; i < whole_len; i++)
		v = v * 10 + (s[i] - '0');
	s += whole_len;
	if (*s == '.') {
		if (!s[1])
			return -EINVAL;
		for (s++; *s; s++, scale /= 10) {
			if (!isdigit((unsigned char) *s))
				return -EINVAL;
			v += (*s - '0') * scale;
		}
	}
	if (*s)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_boolean(const char *s)
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

/* ---- endpoints -------------------------------------------------------------- */

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

/* A copy of S without a trailing '/', in *RET: 0 or -ENOMEM. */
static int dup_without_slash(const char *s, char **ret)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '/')
		n--;
	*ret = strndup(s, n);
	return *ret ? 0 : -ENOMEM;
}

int endpoint_normalize(const char *s, char **ret)
{
	if (!url_is_valid(s))
		return -EINVAL;
	/* url_is_valid() allows at most one '/', right after the authority. */
	return dup_without_slash(s, ret);
}

int endpoint_expand(const char *template, const char *region, char **ret)
{
	size_t marker = strlen(ENDPOINT_REGION), n = 0, len = strlen(region);
	const char *s;
	char *out, *o;

	for (s = template; (s = strstr(s, ENDPOINT_REGION)); s += marker)
		n++;
	out = malloc(strlen(template) + n * len + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (s = template; *s;)
		if (startswith(s, ENDPOINT_REGION)) {
			memcpy(o, region, len);
			o += len;
			s += marker;
		} else
			*o++ = *s++;
	*o = '\0';
	*ret = out;
	return 0;
}

int endpoint_template_normalize(const char *s, char **ret)
{
	_cleanup_free_ char *sample = NULL, *normal = NULL;
	int r;

	/* A region is a host name label (a-z, 0-9, '-'): any one shows
	 * whether every target's endpoint will be valid. */
	if (endpoint_expand(s, "cn-north-4", &sample) < 0)
		return -ENOMEM;
	r = endpoint_normalize(sample, &normal);
	if (r < 0)
		return r;
	return dup_without_slash(s, ret);
}
