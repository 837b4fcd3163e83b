/* config-discover.c - [discover]: the regions whose projects are
 * governed, the accounts ("self" and member account globs) and how often
 * to look again.  See struct discover_settings in config.h. */
#include "config-parser.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strtable.h"
#include "values.h"

#define MAX_ACCOUNT_GLOB_CHARS 64

static const char *const discover_key_table[N_DISCOVER_KEYS] = {
	[DISCOVER_REGIONS] = "regions",
	[DISCOVER_ACCOUNTS] = "accounts",
	[DISCOVER_INTERVAL] = "interval",
};
static STRING_TABLE_FROM_STRING(discover_key)

int cfg_enter_discover(struct parser *p)
{
	struct discover_settings *d = &p->c->discover;
	char at[PATH_MAX + 16];

	/* One discovery: two would leave unclear which regions are meant. */
	if (d->enabled)
		return cfg_fail(p, p->line, "duplicate section [discover] (first at %s); there is one [discover], "
		                "naming every region and account", cfg_earlier_at(p, d->file, d->line, at, sizeof(at)));
	d->enabled = true;
	d->line = p->line;
	d->file = p->file;
	d->interval_usec = DISCOVER_INTERVAL_DEFAULT;
	memset(p->discover_line, 0, sizeof(p->discover_line));
	p->section = SECTION_DISCOVER;
	return 0;
}

int cfg_set_discover(struct parser *p, const char *key, const char *value)
{
	struct discover_settings *d = &p->c->discover;
	int k = discover_key_from_string(key);
	QUOTED(q);

	if (k < 0)
		return cfg_fail(p, p->line, "unknown key '%s' in [discover] (regions, accounts, interval)",
		                cfg_quote(&q, key));
	if (p->discover_line[k])
		return cfg_fail(p, p->line, "duplicate key '%s' in [discover] (first at line %u)", key,
		                p->discover_line[k]);
	p->discover_line[k] = p->line;
	p->list_key = discover_key_table[k];
	switch ((enum discover_key) k) {
	case DISCOVER_REGIONS:
		p->list = LIST_DISCOVER_REGIONS;
		return cfg_list_add_line(p, value, false);
	case DISCOVER_ACCOUNTS:
		p->list = LIST_DISCOVER_ACCOUNTS;
		return cfg_list_add_line(p, value, false);
	case DISCOVER_INTERVAL:
		return cfg_timespan(p, key, value, DISCOVER_INTERVAL_MIN, DAYS_365, &d->interval_usec);
	case N_DISCOVER_KEYS:
		break;
	}
	return -EINVAL;         /* not reached: discover_key_from_string() found the key */
}

static int add_account(struct parser *p, unsigned line, const char *raw)
{
	struct discover_settings *d = &p->c->discover;
	QUOTED(q);
	char *glob;
	int r;

	if (streq_ptr(raw, "self")) {
		if (d->self)
			return cfg_fail(p, line, "accounts names 'self' twice");
		d->self = true;
		return 0;
	}
	r = cfg_decode_glob(p, line, "account glob", raw, 1, MAX_ACCOUNT_GLOB_CHARS, &glob);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < d->n_accounts; i++)
		if (strcmp(d->accounts[i], glob) == 0)
			r = cfg_fail(p, line, "accounts names '%s' twice", cfg_quote(&q, raw));
	if (r == 0 && cfg_strv_push(&d->accounts, &d->n_accounts, glob) < 0)
		r = cfg_fail_oom(p);
	if (r < 0)
		free(glob);
	return r;
}

static int add_region(struct parser *p, unsigned line, const char *raw)
{
	struct discover_settings *d = &p->c->discover;
	char *region;
	int r;

	/* Exact names: each is a region whose projects are listed. */
	r = cfg_region(p, line, raw, &region);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < d->n_regions; i++)
		if (strcmp(d->regions[i], region) == 0)
			r = cfg_fail(p, line, "regions names '%s' twice", region);
	if (r == 0 && cfg_strv_push(&d->regions, &d->n_regions, region) < 0)
		r = cfg_fail_oom(p);
	if (r < 0)
		free(region);
	return r;
}

int cfg_discover_add(struct parser *p, unsigned line, const char *raw)
{
	int r;

	if (!*raw)
		return cfg_fail(p, line, "%s: empty element (a stray '|'?)", p->list_key);
	r = cfg_check_comma(p, line, p->list == LIST_DISCOVER_REGIONS ? "region" : "account", raw);
	if (r < 0)
		return r;
	return p->list == LIST_DISCOVER_REGIONS ? add_region(p, line, raw) : add_account(p, line, raw);
}

int cfg_finish_discover(struct parser *p)
{
	struct discover_settings *d = &p->c->discover;

	if (p->section != SECTION_DISCOVER)
		return 0;
	if (!p->discover_line[DISCOVER_REGIONS])
		return cfg_fail(p, d->line, "[discover] needs regions = ... (the regions whose projects are "
		                "governed, like regions = cn-north-4 | ap-southeast-1)");
	/* The accounts' default: the base identity's own. */
	if (!p->discover_line[DISCOVER_ACCOUNTS])
		d->self = true;
	return 0;
}

int cfg_check_discover(struct parser *p)
{
	const struct discover_settings *d = &p->c->discover;

	/* Member accounts are reached through the agency each of them
	 * grants the base identity. */
	if (d->enabled && d->n_accounts > 0 && p->c->auth.method != AUTH_AGENCY) {
		cfg_in_file(p, d->file);
		return cfg_fail(p, p->discover_line[DISCOVER_ACCOUNTS], "[discover] accounts other than self need method "
		                "agency in [auth]: member accounts are reached through an agency (agency_name)");
	}
	return 0;
}
