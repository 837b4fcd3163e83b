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
	size_t lens[N_FORMS];   /* their strlen(), measured once */
};

/* A form as the index holds it: its length kept beside it, so that keeping
 * the order and searching never measure a form again (tokens are hundreds
 * of bytes, and an organisation registers hundreds of them). */
struct form {
	const char *s;
	size_t len;
};

static struct entry *entries;
static size_t n_entries, entries_cap;
/* Every form of every entry, longest first, so that a value that is part of
 * another (or a form that is part of another form) never leaves the rest of
 * the longer one behind.  Kept up to date by register and forget, each
 * inserting or removing its own forms in place: re-sorting the lot (and the
 * heads) on every change cost an organisation's daemon, which registers ~750
 * values, n^2 log n strlen() calls, some 7% of its CPU.  The forms point to
 * the entries' heap strings, not into entries[], so moving an entry leaves
 * them valid; and redact() itself never allocates. */
static struct form *sorted;
static size_t n_sorted, sorted_cap;
/* The first four bytes of every form searched, sorted, with a bit set of
 * their hashes in front: a text in which none of them occurs holds no
 * form, and telling takes one scan of it.  An organisation's daemon holds
 * hundreds of accounts' keys, and searching every record for each of their
 * forms in turn was most of its CPU time.  (Every form is 4 bytes or more:
 * REDACT_MIN_LEN; a shorter one would make every text a candidate, so it is
 * counted rather than indexed.) */
static uint32_t *heads;
static size_t n_heads, heads_cap;
static size_t n_short_forms;
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

/* Head H's bit in BITS (head_bits, or text_bits below). */
static void bit_set(uint8_t *bits, uint32_t h)
{
	bits[head_bit(h) / 8] |= (uint8_t) (1u << (head_bit(h) % 8));
}

static bool bit_test(const uint8_t *bits, uint32_t h)
{
	return bits[head_bit(h) / 8] & (1u << (head_bit(h) % 8));
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

/* Where a form LEN bytes long goes in sorted[]: after every one at least as
 * long, so equal lengths keep the order they came in. */
static size_t sorted_slot(size_t len)
{
	size_t lo = 0, hi = n_sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sorted[mid].len >= len)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first head not below H. */
static size_t heads_slot(uint32_t h)
{
	size_t lo = 0, hi = n_heads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (heads[mid] < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How a form of LEN bytes is indexed: not at all when it is shorter than
 * the mark (redact() never searches it), counted when it is too short to
 * have a head, by its head otherwise. */
static bool form_searched(size_t len)
{
	return len >= strlen(REDACT_MARK);
}

static bool form_has_head(size_t len)
{
	return len >= 4;
}

/* V grown to hold NEED items of SIZE bytes (doubling), or NULL with V left
 * as it was; capacities only grow, so what a register reserved a forget
 * never needs to allocate. */
static void *reserve(void *v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return v;
	while (n < need)
		n *= 2;
	v = reallocarray(v, n, size);
	if (v)
		*cap = n;
	return v;
}

/* Put E's forms and heads in the index; room for them is already there,
 * so this cannot fail. */
static void index_add(const struct entry *e)
{
	for (size_t f = 0; f < N_FORMS; f++) {
		size_t len = e->lens[f], at = sorted_slot(len);
		uint32_t h;

		memmove(&sorted[at + 1], &sorted[at], (n_sorted - at) * sizeof(*sorted));
		sorted[at] = (struct form) { e->forms[f], len };
		n_sorted++;
		if (!form_searched(len))
			continue;
		if (!form_has_head(len)) {
			n_short_forms++;
			continue;
		}
		h = head_of(e->forms[f]);
		at = heads_slot(h);
		memmove(&heads[at + 1], &heads[at], (n_heads - at) * sizeof(*heads));
		heads[at] = h;
		n_heads++;
		bit_set(head_bits, h);
	}
}

/* Take E's forms and heads out of the index (before E is wiped: the forms
 * are found by their address).  A head shared with another form stays once
 * for each; the bit set cannot lose one bit alone, so it is redone from the
 * heads left, in one pass. */
static void index_remove(const struct entry *e)
{
	for (size_t f = 0; f < N_FORMS; f++) {
		size_t len = e->lens[f], at;
		uint32_t h;

		/* Equal lengths sit together; the form is one of them. */
		for (size_t i = sorted_slot(len); i-- > 0 && sorted[i].len == len;)
			if (sorted[i].s == e->forms[f]) {
				memmove(&sorted[i], &sorted[i + 1], (n_sorted - i - 1) * sizeof(*sorted));
				n_sorted--;
				break;
			}
		if (!form_searched(len))
			continue;
		if (!form_has_head(len)) {
			n_short_forms--;
			continue;
		}
		h = head_of(e->forms[f]);
		at = heads_slot(h);
		if (at < n_heads && heads[at] == h) {
			memmove(&heads[at], &heads[at + 1], (n_heads - at - 1) * sizeof(*heads));
			n_heads--;
		}
	}
	memset(head_bits, 0, sizeof(head_bits));
	for (size_t i = 0; i < n_heads; i++)
		bit_set(head_bits, heads[i]);
}

/* Whether S may hold a form: the first four bytes of one occur in it. */
static bool may_hold_a_form(const char *s)
{
	if (n_short_forms)
		return true;
	for (size_t n = strnlen(s, 4); n == 4; s++, n = s[3] ? 4 : 0) {
		uint32_t h = head_of(s);

		if (bit_test(head_bits, h) && bsearch(&h, heads, n_heads, sizeof(*heads), by_value))
			return true;
	}
	return false;
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
	struct entry e = {};
	void *grown;

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
	for (size_t i = 0; i < N_FORMS; i++) {
		if (!e.forms[i]) {
			entry_wipe(&e);
			return -ENOMEM;
		}
		e.lens[i] = strlen(e.forms[i]);
	}
	/* All the room first: once the entry is in, nothing can fail, so a
	 * failure leaves the registry as it was (only with more capacity). */
	if (!(grown = reserve(entries, &entries_cap, n_entries + 1, sizeof(*entries))))
		goto nomem;
	entries = grown;
	if (!(grown = reserve(sorted, &sorted_cap, n_sorted + N_FORMS, sizeof(*sorted))))
		goto nomem;
	sorted = grown;
	if (!(grown = reserve(heads, &heads_cap, n_heads + N_FORMS, sizeof(*heads))))
		goto nomem;
	heads = grown;
	entries[n_entries++] = e;
	index_add(&entries[n_entries - 1]);
	return 0;

nomem:
	entry_wipe(&e);
	return -ENOMEM;
}

/* Nothing is allocated here (register reserved the room), so forgetting
 * cannot fail. */
void redact_forget(const char *value)
{
	size_t len;

	if (!value)
		return;
	len = strlen(value);
	for (size_t i = 0; i < n_entries; i++)
		if (entries[i].lens[FORM_RAW] == len && strcmp(entries[i].forms[FORM_RAW], value) == 0) {
			index_remove(&entries[i]);
			entry_wipe(&entries[i]);
			/* The index points to the forms' strings, which the move
			 * leaves where they are. */
			entries[i] = entries[--n_entries];
			return;
		}
}

void redact_forget_all(void)
{
	while (n_entries > 0)
		entry_wipe(&entries[--n_entries]);
	free(entries);
	entries = NULL;
	entries_cap = 0;
	free(sorted);
	sorted = NULL;
	n_sorted = sorted_cap = 0;
	free(heads);
	heads = NULL;
	n_heads = heads_cap = 0;
	n_short_forms = 0;
	memset(head_bits, 0, sizeof(head_bits));
}

size_t redact_count(void)
{
	return n_entries;
}

/* Replace every occurrence of FORM (FLEN bytes) in S by the mark; S shrinks
 * or keeps its length.  Forms shorter than the mark would grow S: they are
 * not searched (the raw form of a registered value never is that short). */
static size_t redact_form(char *s, const char *form, size_t flen)
{
	size_t mlen = strlen(REDACT_MARK), n = 0;
	char *hit = s;

	if (!form_searched(flen) || flen == 0)
		return 0;
	while ((hit = strstr(hit, form))) {
		memcpy(hit, REDACT_MARK, mlen);
		memmove(hit + mlen, hit + flen, strlen(hit + flen) + 1);
		hit += mlen;
		n++;
	}
	return n;
}

/* The hashes of the four-byte runs of the text being redacted (the same
 * hash as head_bits): a form whose first four bytes are not among them is
 * not in the text.  A text that passes the prescan would otherwise be
 * searched for each of an organisation's thousands of forms. */
static uint8_t text_bits[65536 / 8];

static void text_bits_build(const char *s)
{
	memset(text_bits, 0, sizeof(text_bits));
	for (size_t n = strnlen(s, 4); n == 4; s++, n = s[3] ? 4 : 0)
		bit_set(text_bits, head_of(s));
}

static bool text_may_hold(const struct form *f)
{
	return !form_has_head(f->len) || bit_test(text_bits, head_of(f->s));
}

size_t redact(char *s)
{
	size_t n = 0;

	if (!s || !n_sorted || !may_hold_a_form(s))
		return 0;
	text_bits_build(s);
	/* Longest first; past the first form too short to search, all are. */
	for (size_t i = 0; i < n_sorted && form_searched(sorted[i].len); i++) {
		size_t k;

		if (!text_may_hold(&sorted[i]))
			continue;
		k = redact_form(s, sorted[i].s, sorted[i].len);
		/* The text changed: runs across a mark are new. */
		if (k) {
			n += k;
			text_bits_build(s);
		}
	}
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
