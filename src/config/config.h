/* config.h - the desired state and the daemon's settings, from an INI file.
 *
 * config_load() parses a whole file with inih into a new struct config, or
 * rejects it as a whole with one "FILE:LINE: what is wrong" message.  A
 * rejected file never yields a partly filled config, so a reload can keep
 * the old one running.  The struct is immutable once loaded: a pass holds a
 * reference to the config it started with.
 *
 * Governance:
 *   [secret "NAME"]  governs exactly that secret name;
 *   [secrets "GLOB"] governs names matching GLOB (fnmatch(3));
 * a secret is governed by its exact section if any, else by the first
 * matching glob section in file order; unmatched secrets are never touched.
 * Each entry "TAGKEY = VALUES" is a rule, tried in file order; see policy.h.
 * Keys starting with '/' are section settings, not rules (CSMS tag keys
 * cannot hold a '/'; a rule for such a key writes it %2F):
 *   /grace = TIMESPAN        grace period of this section's deletions;
 *   /required = KEY | KEY    tags each secret of the section must carry,
 *                            with a value the section's rules allow.
 *
 * Exemptions: [exempt "NAME"] with secret = GLOB, key = GLOB, optional
 * value = GLOB, reason = TEXT and expires = DATE (UTC; at most 365 days
 * after the time of loading).  They keep tags the rules would delete
 * while they last (plan.h).
 * Keys and values are percent-decoded (%3D '=', %3A ':', %25 '%', ...) so
 * every key CSMS allows can be written although inih splits at '=' and ':'.
 * Value lists may continue on indented lines.  The format is documented in
 * csms-tagd.conf(5).
 *
 * Organisation mode (at least one [target "NAME"] or a [discover]
 * section): the file governs many targets, each a project in a region of
 * an account (struct target); [csms] then has no region and project_id,
 * and config_target_view() makes each target's config.  Governance
 * sections scoped by "/accounts", "/regions", "/projects" (and exemptions
 * by account, region, project) apply to the targets their scope admits
 * (struct scope); a target no section applies to is never touched.
 *
 * Refused because they would delete tags their author meant to keep: a
 * " #comment" in a value, a ',' in a value list, a rule or a glob section
 * that an earlier one makes unreachable (glob_covers(), values.h; for
 * scoped sections, in every target it would apply to), a scope without
 * targets (it would be ignored), and a
 * max_requests_per_second at which a pass cannot finish in pass_timeout.
 *
 * Modules: ini-reader.h (inih, line numbers, the header grammar), values.h
 * (value syntaxes), credentials.h (credential files); this file is the
 * model and its whole contract, config-parser.h names the modules that
 * read it (loader, syntax, settings, governance, exemptions, scopes,
 * targets, discovery, views), and
 * config-report.h is what --check-config prints about it.
 */
#ifndef CSMS_CONFIG_H
#define CSMS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_method {
	AUTH_AKSK,              /* SDK-HMAC-SHA256 signing with AK/SK (optionally temporary) */
	AUTH_PASSWORD,          /* IAM password -> project-scoped token */
	AUTH_TOKEN,             /* a token read from a file */
	AUTH_ECS,               /* ECS agency credentials from the metadata service */
	AUTH_AGENCY,            /* a base identity (aksk or ecs) assumes an agency */
};

/* How the agency method obtains the agency's temporary keys. */
enum agency_api {
	AGENCY_API_STS,         /* STS v5 POST /v5/agencies/assume */
	AGENCY_API_IAM,         /* IAM v3.0 POST /v3.0/OS-CREDENTIAL/securitytokens */
};

/* agency_duration bounds (microseconds): 15 min; 1 h (the default, and the
 * STS cap when the caller signs with temporary keys); 12 h (STS); 24 h
 * (IAM v3.0). */
#define AGENCY_DURATION_MIN             (UINT64_C(900) * 1000000)
#define AGENCY_DURATION_DEFAULT         (UINT64_C(3600) * 1000000)
#define AGENCY_DURATION_MAX_CHAINED     AGENCY_DURATION_DEFAULT
#define AGENCY_DURATION_MAX_STS         (UINT64_C(43200) * 1000000)
#define AGENCY_DURATION_MAX_IAM         (UINT64_C(86400) * 1000000)

enum observe_mode {
	OBSERVE_AUTO,           /* ListResourceInstances, falling back to ListSecrets */
	OBSERVE_RESOURCE_INSTANCES,
	OBSERVE_LIST_SECRETS,
};

enum rule_kind {
	RULE_ANY,               /* "*": any value allowed */
	RULE_VALUES,            /* "a|b|c*": one of these values or value globs */
	RULE_FORBID,            /* "!": this tag must not exist */
};

struct rule {
	char *key;              /* key glob, decoded */
	enum rule_kind kind;
	char **values;          /* RULE_VALUES: decoded value globs, each once;
	                         * "" allows the empty value */
	size_t n_values;
	unsigned line;
};

/* Which targets a governance section or an exemption applies to: in each
 * dimension a list of globs (fnmatch(3), no flags), one of which must
 * match; an empty list (n_* 0) matches every target.  ACCOUNTS match the
 * target's account id or its account name, REGIONS its region, PROJECTS
 * its project id, its project name or its target name.  A value the
 * target lacks (NULL) is matched as "", so only a glob like "*" matches
 * it.  Scopes exist in organisation mode only (config_load() refuses them
 * otherwise).  LINE: of the first scoping key, 0 when unscoped. */
struct scope {
	char **accounts, **regions, **projects;
	size_t n_accounts, n_regions, n_projects;
	unsigned line;
};

struct section {
	bool is_glob;           /* [secrets "GLOB"] rather than [secret "NAME"] */
	char *pattern;
	struct rule *rules;
	size_t n_rules;
	unsigned line;
	bool has_grace;         /* "/grace =" given: overrides [daemon] grace */
	uint64_t grace_usec;
	char **required;        /* "/required =": literal tag keys, decoded */
	size_t n_required;
	unsigned required_line;
	unsigned file;          /* index into config.files: the file it is in */
	struct scope scope;     /* "/accounts", "/regions", "/projects" */
};

/* [exempt "NAME"]: keep tags matching SECRET + KEY (+ VALUE) that the rules
 * would delete, until EXPIRES. */
struct exemption {
	char *name;
	char *secret;           /* secret name glob */
	char *key;              /* tag key glob */
	char *value;            /* tag value glob; NULL: any value */
	char *reason;
	uint64_t expires_usec;  /* CLOCK_REALTIME; active while now < expires */
	unsigned line;          /* of the section header */
	unsigned file;          /* index into config.files */
	struct scope scope;     /* account, region, project: one glob each at most */
};

/* In organisation mode REGION and PROJECT_ID are NULL, and ENDPOINT,
 * IAM_ENDPOINT and STS_ENDPOINT may hold "{region}" (the defaults do),
 * which config_target_view() replaces with each target's region.  With
 * one target "{region}" is replaced with REGION at load: the endpoints are
 * the effective ones.  ACCOUNT_ID, ACCOUNT_NAME and TARGET_NAME are set in
 * views only (each may still be NULL there: the base identity's own
 * account, an account without a known name). */
struct csms_settings {
	char *region;
	char *project_id;
	char *endpoint;         /* effective: https://kms.{region}.myhuaweicloud.com by default */
	char *iam_endpoint;     /* effective: https://iam.{region}.myhuaweicloud.com by default */
	char *metadata_endpoint;/* effective: http://169.254.169.254 by default */
	char *sts_endpoint;     /* effective: https://sts.{region}.myhuaweicloud.com by default */
	char *organizations_endpoint; /* effective: https://organizations.myhuaweicloud.com */
	char *ca_file;          /* NULL: system trust store */
	char *account_id;
	char *account_name;
	char *target_name;
};

/* [auth] of method agency: assume NAME of account ACCOUNT_ID (or, with
 * api iam, DOMAIN) for DURATION_USEC (default 1h) as session SESSION_NAME
 * (NULL: "csms-tagd"); EXTERNAL_ID_FILE (a credential file, api sts only)
 * holds the external id the agency's trust policy may demand. */
struct agency_settings {
	enum agency_api api;
	char *name;
	char *account_id;
	char *domain;
	char *session_name;
	uint64_t duration_usec;
	char *external_id_file;
};

struct auth_settings {
	enum auth_method method;
	/* Credential files, NULL if unset.  Written in the file as names;
	 * config_load() stores the paths credential_resolve() makes of them
	 * (credentials.h): a bare name is a file in $CREDENTIALS_DIRECTORY,
	 * or in /etc/csms-tagd/credentials when that is unset. */
	char *access_key_file;
	char *secret_key_file;
	char *security_token_file;  /* optional, temporary AK/SK */
	char *password_file;
	char *token_file;
	char *user;             /* IAM user name (password method) */
	char *domain;           /* account (domain) name (password method) */
	/* agency method: BASE (aksk or ecs, default aksk) assumes AGENCY. */
	enum auth_method base;
	struct agency_settings agency;
};

struct daemon_settings {
	uint64_t interval_usec;         /* default 5min */
	uint64_t jitter_usec;           /* default 30s */
	uint64_t request_timeout_usec;  /* default 30s */
	uint64_t pass_timeout_usec;     /* default 10min */
	bool dry_run;                   /* default false */
	unsigned max_deletes_per_pass;  /* default 50; 0 = no deletions allowed at all */
	unsigned max_parallel_requests; /* default 8, 1..64 */
	double max_requests_per_second; /* default 10; 0 = unlimited; per account */
	double total_requests_per_second; /* default 0 = no cap over all accounts together */
	unsigned max_parallel_targets;  /* default 8, 1..1024: passes running at once */
	enum observe_mode observe;      /* default auto */
	char **protect;                 /* key globs never deleted (decoded) */
	size_t n_protect;
	uint64_t grace_usec;            /* default 0: delete at the first pass */
	char *state_directory;          /* NULL: $STATE_DIRECTORY, else /var/lib/csms-tagd */
	char *metrics_file;             /* Prometheus text file (absolute, *.prom); NULL: none */
};

/* A target: the project PROJECT_ID (the key: unique in Huawei Cloud) in
 * REGION of an account.  Explicit ones come from [target "NAME"], with
 * LINE and FILE of its header; discovered ones from target_discovered(). */
struct target {
	char *name;
	char *account_id;       /* NULL: the base identity's own account */
	char *account_name;     /* may be NULL */
	char *region;
	char *project_id;
	char *project_name;     /* may be NULL (explicit targets) */
	bool discovered;
	unsigned line, file;    /* explicit ones: the [target] header */
};

/* [discover]: the projects the identity reaches in REGIONS (exact region
 * names), in its own account when SELF, and in the member accounts whose
 * id or name one of ACCOUNTS (globs) matches; again every INTERVAL_USEC
 * (default 6h, at least 5min). */
struct discover_settings {
	bool enabled;           /* a [discover] section exists */
	bool self;              /* "self" listed (the default) */
	char **regions;
	size_t n_regions;
	char **accounts;        /* the globs, "self" not among them */
	size_t n_accounts;
	uint64_t interval_usec;
	unsigned line, file;    /* of the [discover] header */
};

#define DISCOVER_INTERVAL_DEFAULT       (UINT64_C(6) * 3600 * 1000000)
#define DISCOVER_INTERVAL_MIN           (UINT64_C(5) * 60 * 1000000)

struct config {
	char *path;             /* the main file, as given */
	/* The files read, in order: files[0] is PATH, then its drop-ins.
	 * Sections, rules and exemptions name theirs by index, for FILE:LINE
	 * references. */
	char **files;
	size_t n_files;
	struct csms_settings csms;
	struct auth_settings auth;
	struct daemon_settings daemon;
	struct section *sections;       /* in file order */
	size_t n_sections;
	struct exemption *exemptions;   /* in file order */
	size_t n_exemptions;
	/* Organisation mode: at least one [target] or a [discover] section.
	 * Then [csms] has no region and project_id; each target gets its own
	 * config from config_target_view(). */
	bool organisation;
	struct target *targets;         /* explicit ones, in file order */
	size_t n_targets;
	struct discover_settings discover;
	/* Views only (config_target_view()): the config they borrow from. */
	const struct config *parent;
};

enum config_flags {
	/* Read the credential files named in [auth] with credential_read()
	 * (credentials.h), as start-up and every re-read do, so that the
	 * check passes exactly when they would; then wipe what was read.
	 * ca_file must be a readable, non-empty regular file.  Errors about a
	 * credential file are credential_read()'s own message, without a
	 * "FILE:LINE: " of the config, so that they read the same everywhere. */
	CONFIG_CHECK_CREDENTIALS = 1 << 0,
	/* --check-config: refuse the project_id the shipped file holds as a
	 * placeholder (CONFIG_PLACEHOLDER_PROJECT_ID) when requests would go
	 * to Huawei Cloud (no endpoint set): it is never a real project. */
	CONFIG_REFUSE_PLACEHOLDER = 1 << 1,
};

/* The project_id of etc/csms-tagd.conf as shipped. */
#define CONFIG_PLACEHOLDER_PROJECT_ID "0123456789abcdef0123456789abcdef"


/* Parse PATH, then its drop-ins: the files "*.conf" in the directory
 * "PATH.d" (csms-tagd.conf.d, or NAME.conf.d for an instance's NAME.conf),
 * in lexical (strcmp) order; names starting with '.' and names not ending
 * in ".conf" are ignored, a missing directory is no error, an unreadable
 * file or directory is.  Together they are one configuration:
 *   - a setting of [csms], [auth] or [daemon] may be set again by a later
 *     file, which wins (as systemd's drop-ins); within one file a key is
 *     set once;
 *   - a governance section or an exemption is defined in one file only: the
 *     same [secret]/[secrets]/[exempt] name in two files is refused, naming
 *     both FILE:LINE; so is a glob section that one in an earlier file
 *     makes unreachable (files read in order, like sections in one file).
 * A file ends its sections: a drop-in starts outside of any section.
 * On success returns 0 and a new config in *ret.  On failure
 * returns a negative errno, sets *ret to NULL and, in *error (malloc'd,
 * caller frees; may be NULL on -ENOMEM), one line "FILE:LINE: message" (or
 * "FILE: message" when no line applies).  The first error wins.  ERROR may
 * be NULL.  The file format is in csms-tagd.conf(5). */
int config_load(const char *path, unsigned flags, struct config **ret, char **error);

/* Same, from a string (no drop-ins); NAME is used in messages and rule
 * references. */
int config_load_string(const char *name, const char *text, unsigned flags,
                       struct config **ret, char **error);

/* The same, judging exemption expiries against NOW_USEC (CLOCK_REALTIME)
 * instead of the current time: for tests. */
int config_load_string_at(const char *name, const char *text, unsigned flags, uint64_t now_usec,
                          struct config **ret, char **error);

/* Frees C; a view (C->parent set) frees only what it owns. */
void config_free(struct config *c);

/* ---- organisation mode (config-target.c, config-scope.c, config-view.c) -- */

/* Whether scope S admits target T (struct scope says how). */
bool scope_matches(const struct scope *s, const struct target *t);

/* A config for target T of organisation-mode config C: [csms] region,
 * project_id, account_id, account_name and target_name are T's, and
 * endpoint, iam_endpoint and sts_endpoint have "{region}" replaced with
 * T's region.  auth: when T has an account_id and the method is agency,
 * method agency with agency.account_id = T's account_id (the base assumes
 * agency_name in that account); otherwise the base method (aksk or ecs)
 * itself, signing in its own account.  Sections and exemptions: only those
 * whose scope matches T, in order.  The view BORROWS everything else
 * (files, rules, patterns, credential paths, [daemon] lists) from C, which
 * must outlive it; config_free(view) frees only what the view owns.
 * n_targets is 0, organisation false, discover disabled, parent C.  T
 * need not outlive the view.  Returns 0 or -ENOMEM. */
int config_target_view(const struct config *c, const struct target *t, struct config **ret);

/* Fill *RET (deep copies, free with target_clear()) with a discovered
 * project: name "ACCOUNT/PROJECT", ACCOUNT the account name, else its id,
 * else "self"; PROJECT the project name, else the region.  ACCOUNT_ID,
 * ACCOUNT_NAME and PROJECT_NAME may be NULL, REGION and PROJECT_ID may
 * not.  Returns 0 or -ENOMEM (then *RET holds nothing). */
int target_discovered(const char *account_id, const char *account_name, const char *region,
                      const char *project_id, const char *project_name, struct target *ret);

/* Free what T holds and zero it. */
void target_clear(struct target *t);
/* A deep copy of SRC into *RET (free with target_clear()); 0 or -ENOMEM. */
int target_copy(const struct target *src, struct target *ret);

/* Whether target T is selected by --target GLOB: GLOB (fnmatch(3), no
 * flags) matches its name, its account id or name, or its project id. */
bool target_selected(const struct target *t, const char *glob);

/* The grace period of deletions in SECTION: its "/grace", else [daemon]. */
uint64_t config_grace_for(const struct config *c, const struct section *section);

/* Whether any grace period is set, i.e. the clock store is in use. */
bool config_uses_grace(const struct config *c);

/* --check-config warns about exemptions that expire within this time. */
#define CONFIG_EXEMPTION_WARN_USEC (7 * 24 * 3600 * UINT64_C(1000000))

/* The section that governs SECRET_NAME, or NULL (never touched). */
const struct section *config_section_for(const struct config *c, const char *secret_name);

/* The name of the file a section or an exemption is in (config.files). */
const char *config_file_name(const struct config *c, unsigned file);

/* The drop-in directory of the main file PATH ("PATH.d"), malloc'd. */
char *config_dropin_dir(const char *path);

/* The drop-ins of PATH, as config_load() reads them: in *RET (a malloc'd
 * array of malloc'd paths, *N of them; none when the directory is
 * missing).  Returns 0 or a negative errno (-ENOTDIR: PATH.d is not a
 * directory). */
int config_list_dropins(const char *path, char ***ret, size_t *n);

/* Names as written in the file ("aksk", "auto", ...); "unknown" for a
 * value without one.  _from_string: the value, or -EINVAL. */
const char *auth_method_to_string(enum auth_method m);
int auth_method_from_string(const char *s);
/* The methods that can be the base identity of the agency method. */
int agency_base_from_string(const char *s);
const char *agency_api_to_string(enum agency_api a);
int agency_api_from_string(const char *s);
/* A deep copy of SRC into *DST (0 or -ENOMEM, then nothing held), and
 * freeing what one holds. */
int agency_settings_copy(const struct agency_settings *src, struct agency_settings *dst);
void agency_settings_free(struct agency_settings *s);
const char *observe_mode_to_string(enum observe_mode m);
int observe_mode_from_string(const char *s);

#endif
