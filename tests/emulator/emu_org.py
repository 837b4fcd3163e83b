"""emu_org.py - the accounts the emulator serves: their projects (one store
of secrets each), credentials, agencies, per-account rate limits, and the
organisation they belong to (csms-api.md 7).

Seed format.  The single-account form is unchanged:
  {"project_id": 32 chars, "region": "cn-north-4", "credentials": CREDS,
   "secrets": [...]}
It stands for one account (domain id d0d0...d0, its name the users'
"domain") with one project whose name is the region; no per-account rate
limit, no agencies, no organisation.  The multi-account form:
  {"accounts": [ACCOUNT, ...], "organization": ORG,
   "account_rate_limit": 20}
  ACCOUNT = {"id": domain id, "name": domain name,
             "credentials": CREDS (users need no "domain": it is the name),
             "rate_limit": CSMS requests/second for the whole account
                           (default account_rate_limit, itself 20, the
                           documented KMS TPS, csms-api.md 7.3; 0 = off),
             "status": "active" | "suspended" | "pending_closure",
             "join_method": "invited" | "created", "joined_at": ISO time,
             "projects": [{"id": 32 chars, "name": "cn-north-4" or
                           "cn-north-4_sub", "region": (default: the name
                           up to "_"), "secrets": [...]}],
             "agencies": [AGENCY]}
  AGENCY  = {"name", "id" (default derived), "trusted": [domain ids that
             may assume it], "external_id": required when set,
             "max_session_seconds": 3600 (v5 cap; 900..43200)}
  ORG     = {"id", "root_id", "management_account": domain id,
             "members": [domain ids] (default: every account)}
  CREDS   = {"aksk": [{"ak", "sk"}], "users": [{"name", "password"}],
             "tokens": [static tokens], "ecs": {"ak", "sk",
             "security_token", "expires_in"}}
AKs are unique over all accounts and at most one account has "ecs" (the
metadata service of the machine the daemon runs on).

generated_seed() builds the multi-account form for benchmarks
(csms-emulator.py --generate-accounts): a management account "org-mgmt"
(id ac00...00, AK/SK GENERATED_MGMT, ECS keys GENERATED_ECS) and MEMBERS
accounts "org-m0001"... (id ac00...01...), each with one project per region
(id pr<account index, 6 hex><region index, 24 hex>) and an agency
"tag-keeper" that the management account may assume.  The "default
project" - what /_emulator/state, /secrets and /tags act on without a
"project" field - is the first project of the first account.
"""
import re
import uuid

from emu_store import Store

LEGACY_DOMAIN_ID = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
DEFAULT_ACCOUNT_RATE = 20.0
ACCOUNT_STATUSES = ("active", "suspended", "pending_closure")
AGENCY_SESSION_MAX = 43200
NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")


def _str(obj, field, what, default=None):
    v = obj.get(field, default)
    if not isinstance(v, str) or not v:
        raise ValueError("%s: %s must be a non-empty string" % (what, field))
    return v


def _rate(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise ValueError("%s: rate_limit must be a non-negative number" % what)
    return float(v)


class Project:
    __slots__ = ("id", "name", "region", "account", "store", "seed_secrets")

    def __init__(self, pid, name, region, account, secrets, clock):
        self.id, self.name, self.region, self.account = pid, name, region, account
        self.seed_secrets = secrets
        self.store = Store(secrets, clock)

    def describe(self):
        """The Keystone project object (csms-api.md 7.2): a region project's
        parent is the domain, a subproject's its region project."""
        parent = self.account.id
        if self.name != self.region:
            base = self.account.project_named(self.region)
            parent = base.id if base is not None else parent
        return {"id": self.id, "name": self.name, "domain_id": self.account.id,
                "parent_id": parent, "enabled": True, "is_domain": False, "description": "",
                "links": {"self": "https://iam.myhuaweicloud.com/v3/projects/" + self.id}}


class Agency:
    __slots__ = ("name", "id", "trusted", "external_id", "max_session", "account")

    def __init__(self, obj, account):
        what = "account %s agency" % account.name
        if not isinstance(obj, dict):
            raise ValueError(what + " must be an object")
        self.name = _str(obj, "name", what)
        self.account = account
        self.id = obj.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, "csms-emulator:agency:%s:%s"
                                                  % (account.id, self.name)))
        self.trusted = obj.get("trusted", [])
        if not isinstance(self.trusted, list) or not all(isinstance(t, str) for t in self.trusted):
            raise ValueError(what + ": trusted must be a list of domain ids")
        self.external_id = obj.get("external_id")
        if self.external_id is not None and not isinstance(self.external_id, str):
            raise ValueError(what + ": external_id must be a string")
        m = obj.get("max_session_seconds", 3600)
        if isinstance(m, bool) or not isinstance(m, int) or not 900 <= m <= AGENCY_SESSION_MAX:
            raise ValueError(what + ": max_session_seconds must be 900 to %d" % AGENCY_SESSION_MAX)
        self.max_session = m

    @property
    def urn(self):
        return "iam::%s:agency:%s" % (self.account.id, self.name)


class Account:
    def __init__(self, aid, name, credentials, rate_limit, extra=None):
        self.id, self.name = aid, name
        self.credentials = credentials
        self.seed_rate_limit = self.rate_limit = rate_limit
        extra = extra or {}
        self.status = extra.get("status", "active")
        if self.status not in ACCOUNT_STATUSES:
            raise ValueError("account %s: status must be one of %s"
                             % (name, ", ".join(ACCOUNT_STATUSES)))
        self.join_method = extra.get("join_method", "invited")
        self.joined_at = extra.get("joined_at", "2024-01-01T00:00:00.000Z")
        self.projects = []
        self.agencies = {}

    def project_named(self, name):
        for p in self.projects:
            if p.name == name:
                return p
        return None

    def org_entry(self):
        """An AccountDto of ListAccounts (SDK organizations model)."""
        return {"id": self.id, "urn": "organizations::%s:account:%s" % (self.id, self.id),
                "join_method": self.join_method, "status": self.status,
                "joined_at": self.joined_at, "name": self.name}


def check_credentials(c, legacy):
    """Raises ValueError unless C is a valid CREDS object."""
    if not isinstance(c, dict):
        raise ValueError("credentials must be an object")
    for e in c.get("aksk", []):
        _strings(e, ("ak", "sk"), "an aksk entry")
    for u in c.get("users", []):
        _strings(u, ("name", "domain", "password") if legacy else ("name", "password"), "a user")
    if not all(isinstance(t, str) and t for t in c.get("tokens", [])):
        raise ValueError("tokens must be non-empty strings")
    if c.get("ecs") is not None:
        _strings(c["ecs"], ("ak", "sk", "security_token"), "ecs")
        ttl = c["ecs"].get("expires_in", 3600)
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ValueError("ecs.expires_in must be a positive number of seconds")


def _strings(obj, fields, what):
    if not isinstance(obj, dict) or not all(isinstance(obj.get(f), str) and obj.get(f)
                                            for f in fields):
        raise ValueError("%s needs the strings %s" % (what, ", ".join(fields)))


class Org:
    """Every account, project and credential of the seed, looked up by the
    request pipeline.  The tables are built once; what changes at run time
    (rate limits, failed regions, issued credentials) lives elsewhere or is
    reset by reset()."""

    def __init__(self, clock):
        self.clock = clock
        self.accounts = []
        self.by_id = {}
        self.by_name = {}
        self.projects = {}
        self.aksk = {}          # AK -> (SK, account)
        self.users = {}         # (user name, domain name) -> (password, account)
        self.tokens = {}        # static token -> account
        self.ecs = None         # (ecs credentials, account)
        self.organization = None
        self.legacy = True

    # -- building -------------------------------------------------------------
    def add_account(self, account):
        if account.id in self.by_id or account.name in self.by_name:
            raise ValueError("account %s: duplicate id or name" % account.name)
        self.accounts.append(account)
        self.by_id[account.id] = account
        self.by_name[account.name] = account
        c = account.credentials
        for e in c.get("aksk", []):
            if e["ak"] in self.aksk:
                raise ValueError("AK %s is in two accounts" % e["ak"])
            self.aksk[e["ak"]] = (e["sk"], account)
        for u in c.get("users", []):
            self.users[(u["name"], u.get("domain", account.name))] = (u["password"], account)
        for t in c.get("tokens", []):
            self.tokens[t] = account
        if c.get("ecs") is not None:
            if self.ecs is not None:
                raise ValueError("only one account may have ecs credentials")
            self.ecs = (c["ecs"], account)

    def add_project(self, account, pid, name, region, secrets):
        if not isinstance(pid, str) or not isinstance(region, str) or not isinstance(name, str):
            raise ValueError("project_id and region must be strings")
        if pid in self.projects:
            raise ValueError("project %s: duplicate id" % pid)
        if not isinstance(secrets, list):
            raise ValueError("project %s: secrets must be a list" % pid)
        p = Project(pid, name, region, account, secrets, self.clock)
        account.projects.append(p)
        self.projects[pid] = p
        return p

    @property
    def default(self):
        return self.accounts[0].projects[0]

    def account(self, ref):
        """The account with id or name REF, or None."""
        return self.by_id.get(ref) or self.by_name.get(ref)

    def regions(self):
        return sorted({p.region for p in self.projects.values()})

    def members(self):
        """The organisation's accounts in id order (the ListAccounts order)."""
        if self.organization is None:
            return []
        ids = self.organization.get("members") or [a.id for a in self.accounts]
        return sorted((self.by_id[i] for i in ids), key=lambda a: a.id)

    def reset(self):
        for p in self.projects.values():
            p.store.reset(p.seed_secrets)
        for a in self.accounts:
            a.rate_limit = a.seed_rate_limit


GENERATED_MGMT = {"ak": "ORGMGMTAK00000000000", "sk": "orgMgmtSecretKey00000000000000000000"}
GENERATED_ECS = {"ak": "ORGECSAK000000000000", "sk": "orgEcsSecretKey000000000000000000000",
                 "security_token": "org-ecs-security-token-0000", "expires_in": 3600}


def generated_seed(members, regions, make_secrets):
    """The seed of an organisation of MEMBERS member accounts plus its
    management account, with a project in each of REGIONS holding
    make_secrets() secrets."""
    if members < 0 or not regions:
        raise ValueError("--generate-accounts needs a non-negative count and a region")
    mgmt = "ac%030x" % 0
    accounts = []
    for i in range(members + 1):
        account = {"id": "ac%030x" % i, "name": "org-m%04d" % i if i else "org-mgmt",
                   "projects": [{"id": "pr%06x%024x" % (i, r), "name": region,
                                 "secrets": make_secrets()} for r, region in enumerate(regions)]}
        if i:
            account["agencies"] = [{"name": "tag-keeper", "trusted": [mgmt]}]
        else:
            account["credentials"] = {"aksk": [dict(GENERATED_MGMT)], "ecs": dict(GENERATED_ECS)}
        accounts.append(account)
    return {"accounts": accounts, "organization": {"management_account": mgmt}}


def load(seed, clock, secrets_override=None, default_project="0" * 32,
         example_credentials=None):
    """The Org for SEED (a parsed seed object).  SECRETS_OVERRIDE replaces
    the default project's secrets (--generate).  Raises ValueError."""
    if not isinstance(seed, dict):
        raise ValueError("the seed must be a JSON object")
    org = Org(clock)
    if "accounts" not in seed:
        _load_legacy(org, seed, secrets_override, default_project, example_credentials)
        return org
    legacy_fields = {"project_id", "region", "credentials", "secrets"} & set(seed)
    if legacy_fields:
        raise ValueError("with accounts, %s belong inside an account"
                         % ", ".join(sorted(legacy_fields)))
    org.legacy = False
    default_rate = _rate(seed.get("account_rate_limit", DEFAULT_ACCOUNT_RATE), "seed")
    accounts = seed["accounts"]
    if not isinstance(accounts, list) or not accounts:
        raise ValueError("accounts must be a non-empty list")
    for obj in accounts:
        _load_account(org, obj, default_rate)
    if secrets_override is not None:
        p = org.default
        p.seed_secrets = secrets_override
        p.store.reset(secrets_override)
    _load_organization(org, seed.get("organization"))
    return org


def _load_legacy(org, seed, secrets_override, default_project, example_credentials):
    pid = seed.get("project_id", default_project)
    region = seed.get("region", "cn-north-4")
    credentials = seed.get("credentials", example_credentials or {})
    check_credentials(credentials, legacy=True)
    users = credentials.get("users", [])
    name = users[0]["domain"] if users else "default-domain"
    account = Account(LEGACY_DOMAIN_ID, name, credentials, 0.0)
    # users of other domains still sign in to this one account, as before
    org.add_account(account)
    secrets = seed.get("secrets", []) if secrets_override is None else secrets_override
    org.add_project(account, pid, region, region, secrets)


def _load_account(org, obj, default_rate):
    if not isinstance(obj, dict):
        raise ValueError("an account must be an object")
    name = _str(obj, "name", "an account")
    aid = _str(obj, "id", "account " + name)
    credentials = obj.get("credentials", {})
    check_credentials(credentials, legacy=False)
    account = Account(aid, name, credentials, _rate(obj.get("rate_limit", default_rate), name),
                      obj)
    org.add_account(account)
    projects = obj.get("projects", [])
    if not isinstance(projects, list) or not projects:
        raise ValueError("account %s: projects must be a non-empty list" % name)
    for p in projects:
        if not isinstance(p, dict):
            raise ValueError("account %s: a project must be an object" % name)
        pname = _str(p, "name", "a project of " + name)
        org.add_project(account, _str(p, "id", "project " + pname), pname,
                        p.get("region", pname.split("_")[0]), p.get("secrets", []))
    for a in obj.get("agencies", []):
        agency = Agency(a, account)
        if not NAME_RE.match(agency.name) or agency.name in account.agencies:
            raise ValueError("account %s: agency names must be unique and 1-64 of "
                             "A-Za-z0-9_+=,.@-" % name)
        account.agencies[agency.name] = agency


def _load_organization(org, obj):
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise ValueError("organization must be an object")
    mgmt = _str(obj, "management_account", "organization")
    members = obj.get("members")
    for ref in [mgmt] + (members if isinstance(members, list) else []):
        if ref not in org.by_id:
            raise ValueError("organization: no account with id %s" % ref)
    if members is not None and not isinstance(members, list):
        raise ValueError("organization: members must be a list of account ids")
    org.organization = {"id": obj.get("id", "o-emulator0000000000000000000000"),
                        "root_id": obj.get("root_id", "r-emulator00000000000000000000000"),
                        "management_account": mgmt, "members": members}
