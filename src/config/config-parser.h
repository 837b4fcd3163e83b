/* config-parser.h - the parser state that the modules reading a
 * configuration share (internal to config-*.c; the public contract is
 * config.h).
 *
 *   config-load.c        reads the files and hands each line on (the loader)
 *   config-syntax.c      messages, decoding of keys and values, "a | b" lists
 *   config-settings.c    [csms], [auth], [daemon] and their checks
 *   config-governance.c  [secret]/[secrets] sections, rules, /grace, /required
 *   config-exempt.c      [exempt] sections
 *   config-scope.c       scoping of sections and exemptions to targets
 *   config-target.c      [target "NAME"] sections (and the target model)
 *   config-discover.c    the [discover] section
 *   config-view.c        a target's view of an organisation's config
 *
 * Every cfg_* function that fails records the first error in the parser
 * ("FILE:LINE: message", FILE the file being read: cfg_in_file()) and
 * returns it; later errors are ignored, so callers just pass r on.
 */
#ifndef CSMS_CONFIG_PARSER_H
#define CSMS_CONFIG_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

#define MAX_KEY_CHARS           128     /* CSMS tag key limit */
#define MAX_VALUE_CHARS         255     /* CSMS tag value limit */
#define MAX_SECRET_NAME_CHARS   255
#define USEC_PER_MIN            (60 * USEC_PER_SEC)
#define USEC_PER_HOUR           (60 * USEC_PER_MIN)
#define USEC_PER_DAY            (24 * USEC_PER_HOUR)
#define DAYS_365                (365 * USEC_PER_DAY)

enum section_kind {
	SECTION_NONE,           /* before the first header */
	SECTION_CSMS,
	SECTION_AUTH,
	SECTION_DAEMON,
	SECTION_GOVERN,
	SECTION_EXEMPT,
	SECTION_TARGET,
	SECTION_DISCOVER,
};
#define N_NAMED_SECTIONS (SECTION_DAEMON + 1)

/* What a continuation line would extend. */
enum list_target {
	LIST_NONE,
	LIST_RULE,
	LIST_PROTECT,
	LIST_REQUIRED,
	LIST_SCOPE,             /* "/accounts" etc.: p->scope_dimension */
	LIST_DISCOVER_REGIONS,
	LIST_DISCOVER_ACCOUNTS,
};

/* The dimensions of a scope (struct scope). */
enum scope_dimension {
	SCOPE_ACCOUNTS,
	SCOPE_REGIONS,
	SCOPE_PROJECTS,
	N_SCOPE_DIMENSIONS,
};

/* The keys of a [target "NAME"] section. */
enum target_key {
	TARGET_ACCOUNT_ID,
	TARGET_ACCOUNT_NAME,
	TARGET_REGION,
	TARGET_PROJECT_ID,
	N_TARGET_KEYS,
};

/* The keys of [discover]. */
enum discover_key {
	DISCOVER_REGIONS,
	DISCOVER_ACCOUNTS,
	DISCOVER_INTERVAL,
	N_DISCOVER_KEYS,
};

/* The keys of an [exempt "NAME"] section. */
enum exempt_key {
	EXEMPT_SECRET,
	EXEMPT_KEY,
	EXEMPT_VALUE,
	EXEMPT_REASON,
	EXEMPT_EXPIRES,
	EXEMPT_ACCOUNT,         /* the scope: optional */
	EXEMPT_REGION,
	EXEMPT_PROJECT,
	N_EXEMPT_KEYS,
};

/* A governance section or exemption named in two files: which one did the
 * author mean? */
#define AMBIGUOUS "; a section is defined in one file only (settings may be set again by a later file)"

struct parser {
	const char *name;               /* of the file being read, for messages */
	unsigned file;                  /* its index in c->files */
	unsigned flags;
	uint64_t now_usec;              /* exemption expiries are judged against it */
	unsigned line;                  /* of the line being looked at */

	enum section_kind section;
	size_t govern;                  /* index into c->sections */
	char *govern_name;              /* its name as written (malloc'd) */
	unsigned exempt_line[N_EXEMPT_KEYS];    /* of the current [exempt], 0: unset */
	unsigned grace_line;            /* "/grace" of the current section */
	unsigned scope_line[N_SCOPE_DIMENSIONS];        /* "/accounts" ... of the current section */
	enum scope_dimension scope_dimension;   /* LIST_SCOPE: the list being read */
	unsigned target_line[N_TARGET_KEYS];    /* of the current [target], 0: unset */
	unsigned discover_line[N_DISCOVER_KEYS];        /* of [discover], 0: unset */
	unsigned section_line[N_NAMED_SECTIONS];
	unsigned section_file[N_NAMED_SECTIONS];
	unsigned *setting_line;         /* per entry of the settings table (cfg_n_settings), 0 when unset */
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

/* ---- config-syntax.c: messages ------------------------------------------- */

/* Record "FILE:LINE: message" (LINE 0: "FILE: message"), if no error yet. */
_printf_(3, 4)
int cfg_fail(struct parser *p, unsigned line, const char *fmt, ...);
int cfg_fail_oom(struct parser *p);
/* A message made elsewhere (credentials.c), as it is; it is freed. */
int cfg_fail_with(struct parser *p, int r, char *message);
/* Messages are about the file at index FILE of c->files from now on. */
void cfg_in_file(struct parser *p, unsigned file);
/* "line N" in the file being read, else "FILE:N", into BUF. */
const char *cfg_earlier_at(const struct parser *p, unsigned file, unsigned line, char *buf, size_t size);

/* User text quoted in a message: escaped so that it cannot break the line. */
struct quoted {
	char *s;
};
const char *cfg_quote(struct quoted *q, const char *s);
void cfg_quoted_free(struct quoted *q);
#define QUOTED(name) _cleanup_(cfg_quoted_free) struct quoted name = {}

int cfg_strv_push(char ***v, size_t *n, char *s);
void cfg_strv_free(char **v, size_t n);

/* ---- config-syntax.c: keys, values and lists ------------------------------ */

/* Decode and check a tag key, value or name (WHAT in messages): MIN_CHARS
 * to MAX_CHARS characters, no control character; _glob also a valid glob. */
int cfg_decode_text(struct parser *p, unsigned line, const char *what, const char *raw,
                    size_t min_chars, size_t max_chars, char **ret);
int cfg_decode_glob(struct parser *p, unsigned line, const char *what, const char *raw,
                    size_t min_chars, size_t max_chars, char **ret);
/* One element of a list of tag keys (protect, /required). */
int cfg_decode_list_key(struct parser *p, unsigned line, const char *what, const char *raw,
                        bool glob, char **ret);
/* Refuse a " #comment" inih keeps in a value. */
int cfg_check_hash_comment(struct parser *p, const char *key, const char *value);
/* Refuse a ',' in a list element (a comma list written by habit). */
int cfg_check_comma(struct parser *p, unsigned line, const char *what, const char *raw);
/* One line of the list p->list (TEXT after "key =", or a continuation). */
int cfg_list_add_line(struct parser *p, const char *text, bool continuation);
/* The list is complete. */
int cfg_list_finish(struct parser *p);

/* ---- config-settings.c ------------------------------------------------------ */

/* Values shared with [target] and [discover], checked as in [csms] and
 * [auth] (KEY names the key in messages): *RET is malloc'd on success. */
int cfg_region(struct parser *p, unsigned line, const char *value, char **ret);
int cfg_project_id(struct parser *p, const char *value, char **ret);
int cfg_account_id(struct parser *p, const char *key, const char *value, char **ret);
int cfg_iam_name(struct parser *p, const char *key, const char *value, size_t min, char **ret);
int cfg_timespan(struct parser *p, const char *key, const char *value, uint64_t min, uint64_t max,
                 uint64_t *ret);

extern const size_t cfg_n_settings;
void cfg_set_defaults(struct config *c);
/* [csms], [auth] or [daemon] named WORD begins; -ENOENT if WORD is none. */
int cfg_enter_named_section(struct parser *p, const char *word);
int cfg_set_setting(struct parser *p, const char *key, const char *value);
int cfg_protect_add(struct parser *p, unsigned line, const char *raw);
/* The checks of the settings once every file is read, in file order. */
int cfg_check_settings(struct parser *p);

/* ---- config-governance.c ---------------------------------------------------- */

int cfg_add_section(struct parser *p, bool is_glob, const char *raw_name);
int cfg_add_rule(struct parser *p, const char *raw_key, const char *value);
int cfg_rule_add_value(struct parser *p, unsigned line, const char *raw);
int cfg_required_add(struct parser *p, unsigned line, const char *raw);
/* The governance section being read, if any, ends: the checks that need
 * all of it (duplicates and unreachable sections, which depend on the
 * scope). */
int cfg_finish_govern(struct parser *p);
/* The checks of the sections once every file is read. */
int cfg_check_governance(struct parser *p);

/* ---- config-exempt.c -------------------------------------------------------- */

int cfg_add_exemption(struct parser *p, const char *raw_name);
int cfg_add_exemption_entry(struct parser *p, const char *key, const char *value);
/* The [exempt] section being read, if any, ends. */
int cfg_finish_exemption(struct parser *p);
/* Once every file is read: scoping needs organisation mode. */
int cfg_check_exemptions(struct parser *p);

/* ---- config-scope.c --------------------------------------------------------- */

/* KEY of a governance section ("/accounts", "/regions", "/projects"):
 * -ENOENT (no error recorded) when it is none of them. */
int cfg_scope_setting(struct parser *p, struct scope *s, const char *key, const char *value);
/* One element of the LIST_SCOPE list being read, into S. */
int cfg_scope_add(struct parser *p, struct scope *s, unsigned line, const char *raw);
/* account, region or project of an exemption: one glob in DIMENSION. */
int cfg_scope_set_one(struct parser *p, struct scope *s, enum scope_dimension dimension,
                      const char *key, const char *value);
/* Whether every target B admits, A admits too.  Sound, not complete (as
 * glob_covers()): true only when that is certain. */
bool scope_covers(const struct scope *a, const struct scope *b);
bool scope_is_empty(const struct scope *s);
void scope_clear(struct scope *s);

/* ---- config-target.c -------------------------------------------------------- */

int cfg_add_target(struct parser *p, const char *raw_name);
int cfg_add_target_entry(struct parser *p, const char *key, const char *value);
/* The [target] section being read, if any, ends. */
int cfg_finish_target(struct parser *p);
/* Once every file is read and the settings are final. */
int cfg_check_targets(struct parser *p);

/* ---- config-discover.c ------------------------------------------------------ */

int cfg_enter_discover(struct parser *p);
int cfg_set_discover(struct parser *p, const char *key, const char *value);
int cfg_discover_add(struct parser *p, unsigned line, const char *raw);
/* The [discover] section being read, if any, ends. */
int cfg_finish_discover(struct parser *p);
/* Once every file is read and the settings are final. */
int cfg_check_discover(struct parser *p);

/* ---- config-view.c ---------------------------------------------------------- */

/* config_free() of a view. */
void cfg_view_free(struct config *v);

#endif
