/* redact.c - keep the credentials the process holds out of the text it emits. */
#include "redact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The forms of one value: as is, JSON-escaped, percent-encoded in upper and
 * lower case, and the base64 core at three alignments. */
enum { FORM_RAW, FORM_JSON, FORM_PCT_UPPER, FORM_PCT_LOWER, FORM_B64_0, FORM_B64_1, FORM_B64_2,
       N_FORMS };

struct entry {
	char *forms[N_FORMS];   /* all non-NULL; may repeat one another */
};

static struct entry *entries;
static size_t n_entries;
/* Every form of every entry, longest first, so that a value that is part of
 * another (or a form that is part of another form) never leaves the rest of
 * the longer one behind.  Kept up to date by register and forget, so that
 * redact() itself never allocates. */
static const char **sorted;
static size_t n_sorted, sorted_cap;
/* The first four bytes of every form searched, sorted, with a bit set of
 * their hashes in front: a text in which none of them occurs holds no
 * form, and telling takes one scan of it.  An organisation's daemon holds
 * hundreds of accounts' keys, and searching every record for each of their
 * forms in turn was most of its CPU time.  (Every form is 4 bytes or more:
 * REDACT_MIN_LEN; a shorter one would make every text a candidate.) */
static uint32_t *heads;
static size_t n_heads;
static bool short_form;
static uint8_t head_bits[65536 / 8];

static uint32_t head_of(const char *p)
{
	return (uint32_t) (unsigned char) p[0] << 24 | (uint32_t) (unsigned char) p[1] << 16 |
	       (uint32_t) (unsigned char) p[2] << 8 | (unsigned char) p[3];
}

static size_t head_bit(uint32_t h)
{
	return (size_t) ((h * 2654435761u) >> 16);
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Rebuild the index; the capacity only grows, so after a forget this cannot
 * fail. */
static int heads_rebuild(void)
{
	n_heads = 0;
	if (n_sorted) {
		uint32_t *v = reallocarray(heads, n_sorted, sizeof(*v));

		if (!v)
			return -ENOMEM;
		heads = v;
	}
	short_form = false;
	memset(head_bits, 0, sizeof(head_bits));
	for (size_t i = 0; i < n_sorted; i++) {
		size_t len = strlen(sorted[i]);

		if (len < strlen(REDACT_MARK))
			continue;               /* never searched (redact_form()) */
		if (len < 4) {
			short_form = true;
			continue;
		}
		heads[n_heads] = head_of(sorted[i]);
		head_bits[head_bit(heads[n_heads]) / 8] |= (uint8_t) (1u << (head_bit(heads[n_heads]) % 8));
		n_heads++;
	}
	qsort(heads, n_heads, sizeof(*heads), by_value);
	return 0;
}

/* Whether S may hold a form: the first four bytes of one occur in it. */
static bool may_hold_a_form(const char *s)
{
	if (short_form)
		return true;
	for (size_t n = strnlen(s, 4); n == 4; s++, n = s[3] ? 4 : 0) {
		uint32_t h = head_of(s);

		if ((head_bits[head_bit(h) / 8] & (1u << (head_bit(h) % 8))) &&
		    bsearch(&h, heads, n_heads, sizeof(*heads), by_value))
			return true;
	}
	return false;
}

static int index_rebuild(void)
{
	size_t need = n_entries * N_FORMS;

	if (need > sorted_cap) {
		const char **grown = realloc(sorted, need * sizeof(*sorted));

		if (!grown)
			return -ENOMEM;
		sorted = grown;
		sorted_cap = need;
	}
	n_sorted = 0;
	for (size_t i = 0; i < n_entries; i++)
		for (size_t f = 0; f < N_FORMS; f++)
			sorted[n_sorted++] = entries[i].forms[f];
	qsort(sorted, n_sorted, sizeof(*sorted), by_length_desc);
	return heads_rebuild();
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void entry_wipe(struct entry *e)
{
	for (size_t i = 0; i < N_FORMS; i++)
		wipe_free(e->forms[i]);
	explicit_bzero(e, sizeof(*e));
}

/* JSON string escaping as encoders do it: the two mandatory escapes, the
 * short forms for control characters, \u00XX for the rest, and "/" left as
 * is (a "\/" form would be one more; jansson does not produce it). */
static char *json_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 6 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		const char *esc = NULL;

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		}
		if (esc) {
			p = stpcpy(p, esc);
		} else if (c < 0x20) {
			static const char hex[] = "0123456789abcdef";

			p = stpcpy(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else
			*p++ = (char) c;
	}
	*p = '\0';
	return out;
}

/* RFC 3986: everything but the unreserved characters as %XX. */
static char *percent_encode(const char *s, bool upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char) c;
		else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* The base64 characters that depend on the bytes of S alone when S starts
 * SHIFT (0..2) bytes into a 3-byte group of a longer text: they appear in
 * the base64 encoding of any text that contains S at that alignment. */
static char *base64_core(const char *s, unsigned shift)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), total = shift + n;
	size_t first = (8 * shift + 5) / 6, end = (8 * total) / 6;   /* chars [first, end) */
	char *out;
	size_t k = 0;

	if (end <= first)
		return strdup("");
	out = malloc(end - first + 1);
	if (!out)
		return NULL;
	for (size_t j = first; j < end; j++) {
		unsigned v = 0;

		/* Six bits starting at bit 6j of the shifted byte stream. */
		for (unsigned b = 0; b < 6; b++) {
			size_t bit = 6 * j + b, byte = bit / 8;
			unsigned char c = byte < shift ? 0 : (unsigned char) s[byte - shift];

			v = (v << 1) | ((c >> (7 - bit % 8)) & 1u);
		}
		out[k++] = alphabet[v];
	}
	out[k] = '\0';
	return out;
}

int redact_register(const char *value)
{
	struct entry e = {}, *grown;

	if (!value)
		return 0;
	if (strlen(value) < REDACT_MIN_LEN)
		return -EINVAL;
	e.forms[FORM_RAW] = strdup(value);
	e.forms[FORM_JSON] = json_escape(value);
	e.forms[FORM_PCT_UPPER] = percent_encode(value, true);
	e.forms[FORM_PCT_LOWER] = percent_encode(value, false);
	for (unsigned shift = 0; shift < 3; shift++)
		e.forms[FORM_B64_0 + shift] = base64_core(value, shift);
	for (size_t i = 0; i < N_FORMS; i++)
		if (!e.forms[i]) {
			entry_wipe(&e);
			return -ENOMEM;
		}
	grown = realloc(entries, (n_entries + 1) * sizeof(*entries));
	if (!grown) {
		entry_wipe(&e);
		return -ENOMEM;
	}
	entries = grown;
	entries[n_entries++] = e;
	if (index_rebuild() < 0) {
		entry_wipe(&entries[--n_entries]);
		return -ENOMEM;
	}
	return 0;
}

void redact_forget(const char *value)
{
	if (!value)
		return;
	for (size_t i = 0; i < n_entries; i++)
		if (strcmp(entries[i].forms[FORM_RAW], value) == 0) {
			entry_wipe(&entries[i]);
			entries[i] = entries[--n_entries];
			(void) index_rebuild();
			return;
		}
}

void redact_forget_all(void)
{
	while (n_entries > 0)
		entry_wipe(&entries[--n_entries]);
	free(entries);
	entries = NULL;
	free(sorted);
	sorted = NULL;
	free(heads);
	heads = NULL;
	n_heads = 0;
	n_sorted = sorted_cap = 0;
}

size_t redact_count(void)
{
	return n_entries;
}

/* Replace every occurrence of FORM in S by the mark; S shrinks or keeps its
 * length.  Forms shorter than the mark would grow S: they are not searched
 * (the raw form of a registered value never is that short). */
static size_t redact_form(char *s, const char *form)
{
	size_t flen = strlen(form), mlen = strlen(REDACT_MARK), n = 0;
	char *hit = s;

	if (flen < mlen || flen == 0)
		return 0;
	while ((hit = strstr(hit, form))) {
		memcpy(hit, REDACT_MARK, mlen);
		memmove(hit + mlen, hit + flen, strlen(hit + flen) + 1);
		hit += mlen;
		n++;
	}
	return n;
}

size_t redact(char *s)
{
	size_t n = 0;

	if (!s || !n_sorted || !may_hold_a_form(s))
		return 0;
	for (size_t i = 0; i < n_sorted; i++)
		n += redact_form(s, sorted[i]);
	return n;
}

char *redact_dup(const char *s)
{
	char *copy;

	if (!s)
		return NULL;
	copy = strdup(s);
	if (copy)
		redact(copy);
	return copy;
}
