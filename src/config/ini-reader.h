/* ini-reader.h - an INI text read by inih, with what inih cannot give.
 *
 * inih (Debian's libinih, run-time options) decides what every line is:
 * comment, section header, "KEY = VALUE" entry, continuation line of the
 * entry above (an indented line, as in Python's configparser), or an error.
 * This layer never re-decides that; it adds only:
 *   - line numbers (Debian's inih has no INI_HANDLER_LINENO): the line of
 *     every callback and of the line inih refused;
 *   - lines of any length up to the whole text: inih's heap line buffer is
 *     grown with realloc() up to the size of the text;
 *   - section headers as written, in the one grammar of csms-tagd.conf(5):
 *     inih cuts section names at 49 bytes and at the first ']' (a glob like
 *     "app-[ab]*" has one) and reports no header without an entry; a line
 *     inih took as a header (it handled it without calling its handler or
 *     failing, and it starts with '[') is read here whole as
 *     [WORD] or [WORD "NAME"] (NAME may hold ']'), then " ; comment";
 *   - which handler calls are continuation lines: inih calls the handler
 *     alike for both, but for a continuation passes its own copy of the
 *     previous key instead of a name from the line;
 *   - the inline comment of a continuation line: Debian's inih cuts
 *     " ;comment" from entries only; it is cut here by inih's own rule
 *     (a ';' after whitespace) so that both kinds of line read the same.
 * The text must not hold a NUL byte and each line must be valid UTF-8:
 * inih would see a NUL as the end of the line and text further on would
 * silently vanish.
 */
#ifndef CSMS_INI_READER_H
#define CSMS_INI_READER_H

#include <stddef.h>

/* What is wrong with a section header, if anything. */
enum ini_header_problem {
	INI_HEADER_OK,
	INI_HEADER_UNTERMINATED_QUOTE,  /* [WORD "NAME */
	INI_HEADER_MALFORMED,           /* not [WORD] nor [WORD "NAME"] */
	INI_HEADER_HASH_COMMENT,        /* [WORD] # comment: '#' starts none there */
	INI_HEADER_TRAILING_TEXT,       /* [WORD] text */
};

struct ini_header {
	const char *word;               /* "csms", "secret", ...: up to a blank, '"' or ']' */
	const char *name;               /* the quoted NAME without its quotes; NULL: none */
	enum ini_header_problem problem;/* not OK: WORD and NAME are NULL */
};

struct ini_callbacks {
	/* A section header; a malformed one too (H->problem), so that the
	 * caller can finish what the lines above began before it fails. */
	int (*section)(void *userdata, unsigned line, const struct ini_header *h);
	/* "KEY = VALUE": trimmed, VALUE without an inline comment.  SEPARATOR
	 * is the character inih split at: '=' or ':'. */
	int (*entry)(void *userdata, unsigned line, const char *key, const char *value, char separator);
	/* An indented line after an entry or continuation line: TEXT is
	 * trimmed, without an inline comment. */
	int (*continuation)(void *userdata, unsigned line, const char *text);
};

enum ini_problem {
	INI_SYNTAX,             /* inih refused the line */
	INI_NUL,                /* a NUL byte */
	INI_NOT_UTF8,           /* not valid UTF-8 */
};

struct ini_error {
	unsigned line;
	enum ini_problem problem;
	const char *text;       /* the line as written (within the input) */
	size_t len;             /* its length, without the newline */
};

/* Parse the section header HEADER (a line trimmed, starting with '['),
 * modifying it: H's strings point into it.  Exposed for tests. */
void ini_parse_header(char *header, struct ini_header *h);

/* Read TEXT (LEN bytes) with inih, calling CB in file order.  A callback
 * returning a negative errno stops the reading and is returned.  Returns 0,
 * that errno, -ENOMEM, or -EBADMSG with *ERROR filled in for a line inih
 * refused or one that is not text. */
int ini_read(const char *text, size_t len, const struct ini_callbacks *cb, void *userdata,
             struct ini_error *error);

#endif
