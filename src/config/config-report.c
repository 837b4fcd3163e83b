/* config-report.c - where a configuration came from, what applies to
 * each target, and whether the service can read it.  See config-report.h. */
#include "config-report.h"

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util.h"

static void print_header(FILE *f, const char *kind, const char *name, const char *file, unsigned line)
{
	_cleanup_free_ char *n = escape_for_log(name), *path = escape_for_log(file);

	fprintf(f, "    [%s \"%s\"] at %s:%u\n", kind, n ? n : "?", path ? path : "?", line);
}

void config_print_sources(const struct config *c, FILE *f)
{
	fprintf(f, "  files:             %zu (the main file and %zu drop-in%s)\n", c->n_files,
	        c->n_files - 1, c->n_files == 2 ? "" : "s");
	for (size_t i = 0; i < c->n_files; i++) {
		_cleanup_free_ char *path = escape_for_log(c->files[i]);

		fprintf(f, "    %s\n", path ? path : "?");
	}
	if (c->n_sections + c->n_exemptions > 0)
		fputs("  sections from:\n", f);
	for (size_t i = 0; i < c->n_sections; i++) {
		const struct section *s = &c->sections[i];

		print_header(f, s->is_glob ? "secrets" : "secret", s->pattern, config_file_name(c, s->file),
		             s->line);
	}
	for (size_t i = 0; i < c->n_exemptions; i++) {
		const struct exemption *e = &c->exemptions[i];

		print_header(f, "exempt", e->name, config_file_name(c, e->file), e->line);
	}
}

static void print_optional(FILE *f, const char *label, const char *value)
{
	_cleanup_free_ char *v = value ? escape_for_log(value) : NULL;

	if (value)
		fprintf(f, ", %s %s", label, v ? v : "?");
}

void config_print_target(const struct config *c, const struct target *t, FILE *f)
{
	_cleanup_free_ char *name = escape_for_log(t->name);
	size_t n = 0;

	fprintf(f, "    %s: project %s in %s", name ? name : "?", t->project_id, t->region);
	print_optional(f, "project name", t->project_name);
	if (!t->account_id && !t->account_name)
		fputs(", the base identity's own account", f);
	print_optional(f, "account", t->account_id);
	print_optional(f, "account name", t->account_name);
	fputc('\n', f);
	if (!t->discovered) {
		_cleanup_free_ char *path = escape_for_log(config_file_name(c, t->file));

		fprintf(f, "      defined at %s:%u\n", path ? path : "?", t->line);
	}
	for (size_t i = 0; i < c->n_sections; i++) {
		const struct section *s = &c->sections[i];
		_cleanup_free_ char *pattern = NULL, *path = NULL;

		if (!scope_matches(&s->scope, t))
			continue;
		pattern = escape_for_log(s->pattern);
		path = escape_for_log(config_file_name(c, s->file));
		fprintf(f, "      %s [%s \"%s\"] at %s:%u\n", n++ == 0 ? "governed by" : "           ",
		        s->is_glob ? "secrets" : "secret", pattern ? pattern : "?", path ? path : "?", s->line);
	}
	if (n == 0)
		fputs("      not touched: no governance section applies\n", f);
	n = 0;
	for (size_t i = 0; i < c->n_exemptions; i++) {
		const struct exemption *e = &c->exemptions[i];
		_cleanup_free_ char *en = NULL, *path = NULL;

		if (!scope_matches(&e->scope, t))
			continue;
		en = escape_for_log(e->name);
		path = escape_for_log(config_file_name(c, e->file));
		fprintf(f, "      %s [exempt \"%s\"] at %s:%u\n", n++ == 0 ? "exemptions " : "           ",
		        en ? en : "?", path ? path : "?", e->line);
	}
}

static void print_list(FILE *f, const char *first, char *const *v, size_t n)
{
	bool any = false;

	if (first) {
		fputs(first, f);
		any = true;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *e = escape_for_log(v[i]);

		fprintf(f, "%s%s", any ? " | " : "", e ? e : "?");
		any = true;
	}
}

void config_print_targets(const struct config *c, FILE *f)
{
	const struct discover_settings *d = &c->discover;
	char interval[32];

	if (!c->organisation)
		return;
	fprintf(f, "  targets:           %zu listed ([target])%s\n", c->n_targets,
	        d->enabled ? ", more discovered" : "");
	for (size_t i = 0; i < c->n_targets; i++)
		config_print_target(c, &c->targets[i], f);
	if (!d->enabled)
		return;
	fputs("  discover regions:  ", f);
	print_list(f, NULL, d->regions, d->n_regions);
	fputs("\n  discover accounts: ", f);
	print_list(f, d->self ? "self" : NULL, d->accounts, d->n_accounts);
	fprintf(f, "\n  discover interval: %s\n", format_timespan(interval, sizeof(interval), d->interval_usec));
}

/* Whether PATH, if it exists, is readable (and, for a directory, listable)
 * by others; if not, a warning on F. */
static bool check_readable(const char *path, FILE *f)
{
	_cleanup_free_ char *p = escape_for_log(path);
	const struct passwd *pw;
	char owner[32];
	struct stat st;
	mode_t need;

	if (stat(path, &st) < 0)
		return true;    /* not there: the loader said what it had to */
	need = S_ISDIR(st.st_mode) ? S_IROTH | S_IXOTH : S_IROTH;
	if ((st.st_mode & need) == need)
		return true;
	pw = getpwuid(st.st_uid);
	if (pw)
		snprintf(owner, sizeof(owner), "%.31s", pw->pw_name);
	else
		snprintf(owner, sizeof(owner), "%u", (unsigned) st.st_uid);
	fprintf(f, "csms-tagd: warning: %s: mode %04o, owned by %s: the service's dynamic user "
	        "(DynamicUser=yes) is neither its owner nor in its group and cannot read it, so the "
	        "service would fail to start or reload; it holds no secret: chmod %s %s\n",
	        p ? p : "?", (unsigned) (st.st_mode & 07777), owner,
	        S_ISDIR(st.st_mode) ? "0755" : "0644", p ? p : "?");
	return false;
}

size_t config_print_access(const struct config *c, FILE *f)
{
	_cleanup_free_ char *dir = c->path ? config_dropin_dir(c->path) : NULL;
	size_t n = 0;

	n += !check_readable(c->files[0], f);
	if (dir)
		n += !check_readable(dir, f);
	for (size_t i = 1; i < c->n_files; i++)
		n += !check_readable(c->files[i], f);
	return n;
}
