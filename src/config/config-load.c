/* config-load.c - reading a configuration: the main file and its
 * drop-ins, each line handed by ini-reader.c to the module it belongs to,
 * then the checks of the whole.  Nothing is used until everything has been
 * read and checked: the parser fills a fresh struct config and frees it on
 * the first error.  See config.h. */
#include "config-parser.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "ini-reader.h"

#define MAX_CONFIG_BYTES        (1024u * 1024)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* A header of WORD with NAME (NULL: none) begins a section. */
static int enter_section(struct parser *p, const char *word, const char *name)
{
	QUOTED(q);

	if (name && streq_ptr(word, "exempt"))
		return cfg_add_exemption(p, name);
	if (streq_ptr(word, "exempt"))
		return cfg_fail(p, p->line, "[exempt] needs a quoted name: [exempt \"NAME\"]");
	if (name && (streq_ptr(word, "secret") || streq_ptr(word, "secrets")))
		return cfg_add_section(p, word[6] == 's', name);
	if (streq_ptr(word, "secret") || streq_ptr(word, "secrets"))
		return cfg_fail(p, p->line, "[%s] needs a quoted name: [%s \"%s\"]", word, word,
		                word[6] == 's' ? "GLOB" : "NAME");
	if (name && streq_ptr(word, "target"))
		return cfg_add_target(p, name);
	if (streq_ptr(word, "target"))
		return cfg_fail(p, p->line, "[target] needs a quoted name: [target \"NAME\"]");
	if (!name && streq_ptr(word, "discover"))
		return cfg_enter_discover(p);
	if (streq_ptr(word, "discover"))
		return cfg_fail(p, p->line, "[discover] takes no name: write [discover]");
	if (!name && cfg_enter_named_section(p, word) == 0)
		return 0;
	if (p->r < 0)
		return p->r;
	if (name) {
		QUOTED(q2);

		return cfg_fail(p, p->line, "unknown section [%s \"%s\"]", cfg_quote(&q, word), cfg_quote(&q2, name));
	}
	return cfg_fail(p, p->line, "unknown section [%s]", cfg_quote(&q, word));
}

static int header_problem(struct parser *p, enum ini_header_problem problem)
{
	switch (problem) {
	case INI_HEADER_UNTERMINATED_QUOTE:
		return cfg_fail(p, p->line, "section header: unterminated quote");
	case INI_HEADER_HASH_COMMENT:
		return cfg_fail(p, p->line, "'#' starts a comment only at the start of a line; "
		                "after a section header write ' ; comment'");
	case INI_HEADER_TRAILING_TEXT:
		return cfg_fail(p, p->line, "unexpected text after the section header");
	case INI_HEADER_MALFORMED:
	case INI_HEADER_OK:
		break;
	}
	return cfg_fail(p, p->line, "section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]");
}

/* The section being read ends (at the next header or the end of its
 * file): the checks that need all of it. */
static int finish_section(struct parser *p)
{
	int r = cfg_list_finish(p);

	if (r >= 0)
		r = cfg_finish_exemption(p);
	if (r >= 0)
		r = cfg_finish_govern(p);
	if (r >= 0)
		r = cfg_finish_target(p);
	if (r >= 0)
		r = cfg_finish_discover(p);
	return r;
}

static int on_section(void *userdata, unsigned line, const struct ini_header *h)
{
	struct parser *p = userdata;
	int r;

	p->line = line;
	r = finish_section(p);
	if (r < 0)
		return r;
	if (h->problem != INI_HEADER_OK)
		return header_problem(p, h->problem);
	return enter_section(p, h->word, h->name);
}

static int on_entry(void *userdata, unsigned line, const char *key, const char *value, char separator)
{
	struct parser *p = userdata;
	QUOTED(q);
	int r;

	p->line = line;
	r = cfg_list_finish(p);
	if (r < 0)
		return r;
	/* inih splits at the first '=' or ':'; "a:b = c" would silently
	 * become key "a" with the value "b = c". */
	if (separator != '=')
		return cfg_fail(p, line, "expected 'KEY = VALUE'; a ':' in a key is written %%3A");
	r = cfg_check_hash_comment(p, key, value);
	if (r < 0)
		return r;
	if (p->section == SECTION_NONE)
		return cfg_fail(p, line, "'%s' is outside of any section", cfg_quote(&q, key));
	if (p->section == SECTION_GOVERN)
		return cfg_add_rule(p, key, value);
	if (p->section == SECTION_EXEMPT)
		return cfg_add_exemption_entry(p, key, value);
	if (p->section == SECTION_TARGET)
		return cfg_add_target_entry(p, key, value);
	if (p->section == SECTION_DISCOVER)
		return cfg_set_discover(p, key, value);
	return cfg_set_setting(p, key, value);
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
		return cfg_fail(p, line, "'*' and '!' stand alone: the rule for '%s' takes no continuation lines",
		                cfg_quote(&q, key));
	if (p->list == LIST_NONE)
		return cfg_fail(p, line, "'%s' takes no continuation lines (is this line indented by mistake?)",
		                cfg_quote(&q, key));
	/* An indented "key = value" or "[section]" would otherwise quietly
	 * become part of the list above it. */
	if (strpbrk(text, "=:"))
		return cfg_fail(p, line, "continuation line of '%s' contains '%c': entries must not be indented, "
		                "and a continued list writes '=' and ':' as %%3D and %%3A",
		                cfg_quote(&q, key), *strpbrk(text, "=:"));
	if (text[0] == '[' && n > 1 && text[n - 1] == ']' && !strchr(text, '|'))
		return cfg_fail(p, line, "a section header must not be indented");
	r = cfg_check_hash_comment(p, key, text);
	if (r < 0)
		return r;
	return cfg_list_add_line(p, text, true);
}

static const struct ini_callbacks callbacks = {
	.section = on_section,
	.entry = on_entry,
	.continuation = on_continuation,
};

/* ---- the whole configuration ------------------------------------------------ */

static int finish(struct parser *p)
{
	int r;

	p->c->organisation = p->c->n_targets > 0 || p->c->discover.enabled;
	r = cfg_check_governance(p);
	if (r >= 0)
		r = cfg_check_exemptions(p);
	if (r >= 0)
		r = cfg_check_settings(p);
	return r;
}

/* inih refused a line, or it is not text: say what is expected. */
static int fail_line(struct parser *p, const struct ini_error *e)
{
	const char *s = e->text, *end = e->text + e->len;

	switch (e->problem) {
	case INI_NUL:
		return cfg_fail(p, e->line, "NUL byte in line");
	case INI_NOT_UTF8:
		return cfg_fail(p, e->line, "not valid UTF-8");
	case INI_SYNTAX:
		break;
	}
	while (s < end && (is_blank(*s) || *s == '\n'))
		s++;
	if (s < end && *s == '[') {
		for (const char *c = s + 1; c < end; c++)
			if (*c == ';' && is_blank(c[-1]))
				return cfg_fail(p, e->line, "section header: a ';' after a space starts a comment, "
				                "which cuts off the ']'; write ';' in a name as %%3B");
		return cfg_fail(p, e->line, "section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]");
	}
	return cfg_fail(p, e->line, "expected 'KEY = VALUE', a [section] header or a comment");
}

/* A file ends: what is open in it ends with it. */
static int finish_file(struct parser *p)
{
	int r = finish_section(p);

	p->section = SECTION_NONE;
	return r;
}

/* Read one file's TEXT as the next of the configuration. */
static int read_text(struct parser *p, const char *name, const char *text, size_t len)
{
	struct ini_error e = {};
	char *copy = strdup(name);
	int r;

	if (!copy || cfg_strv_push(&p->c->files, &p->c->n_files, copy) < 0) {
		free(copy);
		return cfg_fail_oom(p);
	}
	cfg_in_file(p, (unsigned) p->c->n_files - 1);
	r = ini_read(text, len, &callbacks, p, &e);
	if (r == -EBADMSG)
		return fail_line(p, &e);
	if (r == -ENOMEM)
		return cfg_fail_oom(p);
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
			return cfg_fail_oom(p);
		if (r == -ENOTDIR)
			return cfg_fail_with(p, r, xasprintf("%s: not a directory; it holds the drop-ins (*.conf) "
			                                 "read after %s", dir, path));
		return cfg_fail_with(p, r, read_error(dir, r, ""));
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		r = read_file(files[i], MAX_CONFIG_BYTES, &text, &len);
		if (r == -ENOMEM)
			r = cfg_fail_oom(p);
		else if (r < 0)
			r = cfg_fail_with(p, r, read_error(files[i], r, "the drop-in directory holds files"));
		else
			r = read_text(p, files[i], text, len);
	}
	cfg_strv_free(files, n);
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
	p.setting_line = calloc(cfg_n_settings, sizeof(*p.setting_line));
	p.setting_file = calloc(cfg_n_settings, sizeof(*p.setting_file));
	if (p.c)
		p.c->path = strdup(name);
	if (!p.c || !p.setting_line || !p.setting_file || !p.c->path)
		r = -ENOMEM;
	else {
		cfg_set_defaults(p.c);
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
	free(p.govern_name);
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
