/* config-exempt.c - [exempt "NAME"]: exemptions, each a reviewed
 * exception with a reason and an expiry.  See config.h. */
#include "config-parser.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strtable.h"
#include "values.h"

static const char *const exempt_key_table[N_EXEMPT_KEYS] = {
	[EXEMPT_SECRET] = "secret",
	[EXEMPT_KEY] = "key",
	[EXEMPT_VALUE] = "value",
	[EXEMPT_REASON] = "reason",
	[EXEMPT_EXPIRES] = "expires",
	[EXEMPT_ACCOUNT] = "account",
	[EXEMPT_REGION] = "region",
	[EXEMPT_PROJECT] = "project",
};
static STRING_TABLE_FROM_STRING(exempt_key)

/* An exemption lasts at most this long after the file is loaded: it is a
 * reviewed exception, not a second policy. */
#define EXEMPTION_MAX_USEC (365 * 24 * 3600 * USEC_PER_SEC)

static struct exemption *current_exemption(struct parser *p)
{
	return &p->c->exemptions[p->c->n_exemptions - 1];
}

int cfg_add_exemption(struct parser *p, const char *raw_name)
{
	struct exemption *v;
	char *name;
	QUOTED(q);
	int r;

	r = cfg_decode_text(p, p->line, "exemption name", raw_name, 1, MAX_SECRET_NAME_CHARS, &name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->c->n_exemptions; i++)
		if (strcmp(p->c->exemptions[i].name, name) == 0) {
			const struct exemption *e = &p->c->exemptions[i];
			char at[PATH_MAX + 16];

			free(name);
			return cfg_fail(p, p->line, "duplicate section [exempt \"%s\"] (first at %s)%s",
			                cfg_quote(&q, raw_name), cfg_earlier_at(p, e->file, e->line, at, sizeof(at)),
			                e->file == p->file ? "" : AMBIGUOUS);
		}
	v = realloc(p->c->exemptions, (p->c->n_exemptions + 1) * sizeof(*v));
	if (!v) {
		free(name);
		return cfg_fail_oom(p);
	}
	p->c->exemptions = v;
	v[p->c->n_exemptions++] = (struct exemption) { .name = name, .line = p->line, .file = p->file };
	memset(p->exempt_line, 0, sizeof(p->exempt_line));
	p->section = SECTION_EXEMPT;
	return 0;
}

static int parse_expires(struct parser *p, struct exemption *e, const char *value)
{
	char limit[32];
	QUOTED(q);

	if (parse_time(value, ZONE_UTC, &e->expires_usec) < 0)
		return cfg_fail(p, p->line, "expires '%s' is not a date in UTC (like 2027-03-31 or "
		                "2027-03-31 18:00)", cfg_quote(&q, value));
	if (e->expires_usec > p->now_usec + EXEMPTION_MAX_USEC)
		return cfg_fail(p, p->line, "expires '%s' is more than 365 days ahead (at most %s): an exemption "
		                "is reviewed and renewed, not permanent; change the rules instead",
		                cfg_quote(&q, value), format_utc_time(limit, sizeof(limit), p->now_usec + EXEMPTION_MAX_USEC));
	return 0;
}

int cfg_add_exemption_entry(struct parser *p, const char *key, const char *value)
{
	struct exemption *e = current_exemption(p);
	int k = exempt_key_from_string(key);
	QUOTED(q);

	if (k < 0)
		return cfg_fail(p, p->line, "unknown key '%s' in [exempt \"%s\"] (secret, key, value, reason, "
		                "expires, account, region, project)", cfg_quote(&q, key), e->name);
	if (p->exempt_line[k])
		return cfg_fail(p, p->line, "duplicate key '%s' in [exempt] (first at line %u)", key, p->exempt_line[k]);
	p->exempt_line[k] = p->line;
	switch ((enum exempt_key) k) {
	case EXEMPT_SECRET:
		return cfg_decode_glob(p, p->line, "secret name glob", value, 1, MAX_SECRET_NAME_CHARS, &e->secret);
	case EXEMPT_KEY:
		return cfg_decode_glob(p, p->line, "key glob", value, 1, MAX_KEY_CHARS, &e->key);
	case EXEMPT_VALUE:
		return cfg_decode_glob(p, p->line, "value glob", value, 0, MAX_VALUE_CHARS, &e->value);
	case EXEMPT_REASON:
		if (!*value || has_control(value))
			return cfg_fail(p, p->line, "reason must be a non-empty line of text");
		e->reason = strdup(value);
		return e->reason ? 0 : cfg_fail_oom(p);
	case EXEMPT_EXPIRES:
		return parse_expires(p, e, value);
	case EXEMPT_ACCOUNT:
		return cfg_scope_set_one(p, &e->scope, SCOPE_ACCOUNTS, key, value);
	case EXEMPT_REGION:
		return cfg_scope_set_one(p, &e->scope, SCOPE_REGIONS, key, value);
	case EXEMPT_PROJECT:
		return cfg_scope_set_one(p, &e->scope, SCOPE_PROJECTS, key, value);
	case N_EXEMPT_KEYS:
		break;
	}
	return -EINVAL;         /* not reached: exempt_key_from_string() found the key */
}

/* The [exempt] section just ended: everything but value and the scope is
 * mandatory. */
int cfg_finish_exemption(struct parser *p)
{
	const struct exemption *e;

	if (p->section != SECTION_EXEMPT)
		return 0;
	e = current_exemption(p);
	for (size_t k = 0; k <= EXEMPT_EXPIRES; k++)
		if (k != EXEMPT_VALUE && !p->exempt_line[k])
			return cfg_fail(p, e->line, "[exempt] needs %s = ... (an exemption names secret, key, reason "
			                "and expires; value is optional)", exempt_key_table[k]);
	return 0;
}

int cfg_check_exemptions(struct parser *p)
{
	for (size_t i = 0; i < p->c->n_exemptions; i++) {
		const struct exemption *e = &p->c->exemptions[i];

		/* With one target the scope would be ignored, and the exemption
		 * would keep tags where its author did not mean it to. */
		if (!p->c->organisation && e->scope.line) {
			cfg_in_file(p, e->file);
			return cfg_fail(p, e->scope.line, "account, region and project scope an exemption to "
			                "targets: they need [target] or [discover] sections");
		}
	}
	return 0;
}
