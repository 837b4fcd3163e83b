/* ini-reader.c - inih plus line numbers, long lines and whole section
 * headers.  See ini-reader.h. */
#include "ini-reader.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

#define BOM "\xef\xbb\xbf"

struct reader {
	const struct ini_callbacks *cb;
	void *userdata;
	const char *pos, *end;          /* the text not yet handed to inih */

	/* The line inih is reading. */
	unsigned line;
	const char *line_start;
	size_t line_len;                /* without the newline */
	size_t delivered;               /* bytes of it handed over so far */
	bool want_more;                 /* inih will ask for the rest of it */
	char *buf;                      /* inih's buffer for it */
	bool handled;                   /* inih called its handler for it */

	int r;                          /* first error */
	struct ini_error *error;
};

static bool is_space(char c)
{
	/* What inih's isspace() skips, without depending on the locale. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static const char *skip_space(const char *s, const char *end)
{
	while (s < end && is_space(*s))
		s++;
	return s;
}

static int fail(struct reader *rd, enum ini_problem problem)
{
	*rd->error = (struct ini_error) {
		.line = rd->line,
		.problem = problem,
		.text = rd->line_start,
		.len = rd->line_len,
	};
	rd->r = -EBADMSG;
	return rd->r;
}

void ini_parse_header(char *header, struct ini_header *h)
{
	char *word = header + 1, *name = NULL, *rest;
	size_t n;

	*h = (struct ini_header) { .problem = INI_HEADER_MALFORMED };
	while (is_space(*word))
		word++;
	n = strcspn(word, " \t\v\f\r\"]");
	rest = word + n;
	while (is_space(*rest))
		*rest++ = '\0';
	if (*rest == '"') {
		name = rest + 1;
		rest = strchr(name, '"');
		if (!rest) {
			h->problem = INI_HEADER_UNTERMINATED_QUOTE;
			return;
		}
		*rest++ = '\0';
		while (is_space(*rest))
			rest++;
	}
	if (*rest != ']')
		return;
	*rest++ = '\0';
	while (is_space(*rest))
		rest++;
	if (*rest == '#' || (*rest && *rest != ';')) {
		h->problem = *rest == '#' ? INI_HEADER_HASH_COMMENT : INI_HEADER_TRAILING_TEXT;
		return;
	}
	word[n] = '\0';
	*h = (struct ini_header) { .word = word, .name = name, .problem = INI_HEADER_OK };
}

/* The line just read was neither handed to the handler nor refused: a
 * comment, a blank line, or a section header. */
static int finish_line(struct reader *rd)
{
	_cleanup_free_ char *header = NULL;
	struct ini_header h;
	const char *s, *end;

	if (rd->handled || rd->line == 0)
		return 0;
	s = rd->line_start;
	end = s + rd->line_len;
	rd->handled = true;     /* looked at once */
	if (rd->line == 1 && rd->line_len >= 3 && memcmp(s, BOM, 3) == 0)
		s += 3;
	s = skip_space(s, end);
	if (s == end || *s != '[')
		return 0;
	while (end > s && is_space(end[-1]))
		end--;
	header = strndup(s, (size_t) (end - s));
	if (!header)
		return -ENOMEM;
	ini_parse_header(header, &h);
	return rd->cb->section(rd->userdata, rd->line, &h);
}

static int start_line(struct reader *rd)
{
	const char *nl = memchr(rd->pos, '\n', (size_t) (rd->end - rd->pos));

	rd->line++;
	rd->line_start = rd->pos;
	rd->line_len = (nl ? nl : rd->end) - rd->pos;
	rd->delivered = 0;
	rd->want_more = false;
	rd->handled = false;
	if (memchr(rd->line_start, '\0', rd->line_len))
		return fail(rd, INI_NUL);
	if (!utf8_is_valid(rd->line_start, rd->line_len))
		return fail(rd, INI_NOT_UTF8);
	return 0;
}

/* inih's fgets(): the next part of the current line, or a new line. */
static char *read_chunk(char *buf, int size, void *userdata)
{
	struct reader *rd = userdata;
	size_t full, n;

	if (rd->r < 0 || size < 2)
		return NULL;
	if (rd->want_more)
		/* inih filled its buffer, grew it and asks for the rest of
		 * the line: BUF is the new buffer + what it already holds. */
		rd->buf = buf - rd->delivered;
	else {
		rd->r = finish_line(rd);
		if (rd->r < 0 || rd->pos >= rd->end || start_line(rd) < 0)
			return NULL;
		rd->buf = buf;
	}
	full = rd->line_len + (rd->line_start + rd->line_len < rd->end);  /* with its '\n' */
	n = full - rd->delivered;
	if (n == 0) {
		/* The last line, without a '\n', filled the buffer. */
		rd->want_more = false;
		return NULL;
	}
	if (n > (size_t) size - 1)
		n = (size_t) size - 1;
	memcpy(buf, rd->pos, n);
	buf[n] = '\0';
	rd->pos += n;
	rd->delivered += n;
	rd->want_more = n == (size_t) size - 1 && buf[n - 1] != '\n';
	return buf;
}

/* Cut a continuation line's inline comment the way inih cuts an entry's:
 * at a ';' that follows whitespace. */
static void cut_inline_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == ';' && p > s && is_space(p[-1])) {
			*p = '\0';
			break;
		}
}

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

static int on_handler(void *userdata, const char *section, const char *name, const char *value)
{
	struct reader *rd = userdata;
	uintptr_t b = (uintptr_t) rd->buf, nm = (uintptr_t) name;
	_cleanup_free_ char *copy = NULL;
	int r;

	(void) section;         /* cut short by inih: see section callback */
	rd->handled = true;
	if (rd->r < 0)
		return 0;
	/* A name inside the line buffer is an entry; for a continuation
	 * inih passes the previous name from its own buffer. */
	if (nm >= b && nm <= b + rd->line_len) {
		size_t key_at = (size_t) (nm - b);
		char sep = rd->line_start[key_at + strcspn(rd->line_start + key_at, "=:")];

		r = rd->cb->entry(rd->userdata, rd->line, name, value ? value : "", sep);
	} else {
		copy = strdup(value ? value : "");
		if (!copy)
			r = -ENOMEM;
		else {
			cut_inline_comment(copy);
			r = rd->cb->continuation(rd->userdata, rd->line, trim(copy));
		}
	}
	if (r < 0)
		rd->r = r;
	return r >= 0;
}

int ini_read(const char *text, size_t len, const struct ini_callbacks *cb, void *userdata,
             struct ini_error *error)
{
	struct reader rd = {
		.cb = cb,
		.userdata = userdata,
		.pos = text,
		.end = text + len,
		.error = error,
	};
	int r;

	if (len > INT_MAX - 3)
		return -EFBIG;
	/* Debian's inih reads its options from these globals; all are set on
	 * every call, so that nothing else in the process can have changed
	 * what this layer relies on. */
	ini_allow_multiline = true;
	ini_allow_inline_comments = true;
	ini_allow_bom = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = true;
	/* A heap buffer grown up to the whole text plus "\n\0": a line is
	 * never split, whatever its length. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_initial_alloc = 256;
	ini_max_line = (int) len + 3;

	r = ini_parse_stream(read_chunk, &rd, on_handler, &rd);
	if (rd.r < 0)
		return rd.r;
	if (r == -2)
		return -ENOMEM;
	if (r != 0)
		return fail(&rd, INI_SYNTAX);
	/* The last line was read but not yet looked at. */
	return finish_line(&rd);
}
