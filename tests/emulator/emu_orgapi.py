"""emu_orgapi.py - the APIs an organisation-wide client needs besides CSMS:
discovery of projects and member accounts, and temporary credentials for
an agency in another account (csms-api.md 7).  All go through the
gateway's authentication; the caller's account is req.account.

  GET  /v3/auth/projects                  KeystoneListAuthProjects (IAM)
  GET  /v1/organizations/accounts         ListAccounts (Organizations)
  POST /v5/agencies/assume                AssumeAgency (STS v5)
  POST /v3.0/OS-CREDENTIAL/securitytokens CreateTemporaryAccessKeyByAgency
                                          (IAM v3.0, methods assume_role)

What comes from where (csms-api.md 7 and the pages and SDK models it
names), and what the emulator chose where they are silent:
  - KeystoneListAuthProjects: {"projects": [{"id", "name", "domain_id",
    "parent_id", "enabled", "is_domain", "description", "links"}],
    "links": {"self", "previous", "next"}}; every project of the caller's
    account, a region project's name being its region id and a
    subproject's "region_sub" [7.2, SDK iam_meta.go / Keystone].  No paging.
  - ListAccounts: query limit (1..500 [7.2]; default 200, chosen), marker,
    parent_id, with_register_contact_info (then limit <= 200 [SDK model
    comment]); {"accounts": [{"id", "urn", "join_method", "status",
    "joined_at", "name"}], "page_info": {"next_marker", "current_count"}}
    [SDK organizations model_account_dto, model_page_info_dto];
    next_marker is null on the last page ("repeat until next_marker is
    null", same model); a marker is the id of the last account of the
    previous page (opaque to clients; order by id, chosen).  Only the
    organisation's management account may call it: 401 Organizations.1001
    "This operation can be called only from the management account of an
    organization." [DOC api-organizations ErrorCode]; a bad limit or
    marker is 400 Organizations.1000 (code UNCONFIRMED).  Error bodies are
    flat {"error_code", "error_msg", "request_id"}.
  - AssumeAgency: body agency_urn "iam::<account_id>:agency:<name>" and
    agency_session_name required; duration_seconds 900..43200, default
    3600, at most the agency's max_session_seconds and at most 3600 when
    the caller itself signs with a security token; external_id 2..1224
    characters; policy, policy_ids, source_identity, tags,
    transitive_tag_keys, serial_number, token_code accepted and ignored
    [7.1; DOC api-iam5 AssumeAgency].  200 {"credentials":
    {"access_key_id", "secret_access_key", "security_token", "expiration"
    (UTC, milliseconds: 2022-09-07T03:27:51.158Z)}, "assumed_agency":
    {"urn": "sts::<account>::assumed-agency:<name>/<session>", "id":
    "<agency id>:<session>"}} [DOC api-iam5 iam_02_1111].  Errors, flat
    {"error_code", "error_msg", "request_id"} [DOC api-iam5 ErrorCode]:
    an unknown account or agency 404 STS5.1106 "the agency '<urn>' cannot
    be found" (code and message documented, status chosen); refused - the
    caller's account is not trusted, or the external id is missing or
    wrong - 403 STS5.0001 "access denied: ..." (the PAP5.0001 pattern of
    the same page; STS code UNCONFIRMED); a missing or invalid field 400
    STS5.0002 (UNCONFIRMED), the message naming the field.
  - CreateTemporaryAccessKeyByAgency: body auth.identity.methods
    ["assume_role"], auth.identity.assume_role.agency_name, domain_id
    and/or domain_name (at least one; both must name the same account),
    duration_seconds 900..86400 (default 900), session_user.name optional,
    auth.identity.policy ignored [7.1; DOC api-iam iam_04_0101].  201
    (UNCONFIRMED, as the sibling call) {"credential": {"access", "secret",
    "securitytoken", "expires_at" (microseconds)}}.  Errors in the IAM
    (Keystone) shape: 400 for a bad body or field, 404 for an unknown
    account or agency, 403 for a refused one; an agency that requires an
    external id cannot be assumed this way (v3.0 has no such field): 403.
The temporary keys belong to the agency's account: they sign CSMS, IAM and
STS requests there with X-Security-Token until the expiry, then get 401
(emu_auth).  /_emulator/expire-tokens ends them at once.
"""
import re

from emu_common import gateway_error, iso8601, json_response, keystone_error

ORG_LIMIT_MAX = 500
ORG_LIMIT_CONTACT_MAX = 200
ORG_LIMIT_DEFAULT = 200
V5_MIN, V5_MAX, V5_DEFAULT, V5_CHAINED_MAX = 900, 43200, 3600, 3600
V3_MIN, V3_MAX, V3_DEFAULT = 900, 86400, 900
URN_RE = re.compile(r"^iam::([^:]+):agency:([^:/]+)$")
SESSION_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
V5_IGNORED = {"policy", "policy_ids", "source_identity", "tags", "transitive_tag_keys",
              "serial_number", "token_code"}
NOT_MANAGEMENT = ("This operation can be called only from the management account of an "
                  "organization.")


def _iso_ms(t):
    """2022-09-07T03:27:51.158Z, the STS v5 form."""
    return iso8601(t)[:-4] + "Z"


def _int(value, lo, hi):
    """VALUE as an int within lo..hi, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError
    return value


# -- discovery ----------------------------------------------------------------------
def list_auth_projects(app, req):
    projects = [p.describe() for p in req.account.projects]
    return json_response(200, {"projects": projects, "links": {
        "self": "https://iam.myhuaweicloud.com/v3/auth/projects", "previous": None,
        "next": None}})


def _org_error(req, status, code, message):
    return gateway_error(req.request_id, status, code, message)


def list_org_accounts(app, req):
    org = app.org.organization
    if org is None or req.account.id != org["management_account"]:
        return _org_error(req, 401, "Organizations.1001", NOT_MANAGEMENT)
    contact = req.query_value("with_register_contact_info")
    if contact not in (None, "true", "false"):
        return _org_error(req, 400, "Organizations.1000", "with_register_contact_info: "
                          "true or false")
    top = ORG_LIMIT_CONTACT_MAX if contact == "true" else ORG_LIMIT_MAX
    text = req.query_value("limit")
    if text is not None and not (text.isascii() and text.isdigit() and 1 <= int(text) <= top):
        return _org_error(req, 400, "Organizations.1000", "limit must be 1 to %d" % top)
    limit = int(text) if text is not None else min(ORG_LIMIT_DEFAULT, top)
    members = app.org.members()
    parent = req.query_value("parent_id")
    if parent is not None and parent != org["root_id"]:
        members = []        # no organisational units: every account sits in the root
    start = 0
    marker = req.query_value("marker")
    if marker:
        ids = [a.id for a in members]
        if marker not in ids:
            return _org_error(req, 400, "Organizations.1000", "invalid marker")
        start = ids.index(marker) + 1
    page = members[start:start + limit]
    more = start + limit < len(members)
    return json_response(200, {"accounts": [a.org_entry() for a in page], "page_info": {
        "next_marker": page[-1].id if more and page else None, "current_count": len(page)}})


# -- agencies ---------------------------------------------------------------------------
class Refused(Exception):
    """A failed assumption: KIND picks the status and code (V5_CODES,
    V3_CODES), the text is the message."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind        # "invalid", "missing" or "denied"


def _agency(app, account_ref, name):
    account = app.org.account(account_ref)
    agency = account.agencies.get(name) if account is not None else None
    if agency is None:
        raise Refused("missing", "the agency 'iam::%s:agency:%s' cannot be found"
                      % (account_ref, name))
    return agency


def _assume(app, req, agency, seconds, external_id):
    """Temporary credentials for AGENCY, or raises Refused."""
    if req.account.id not in agency.trusted:
        raise Refused("denied", "access denied: account %s is not trusted by agency %s"
                      % (req.account.id, agency.urn))
    if agency.external_id is not None and external_id != agency.external_id:
        raise Refused("denied", "access denied: the external id does not match the trust "
                      "policy of agency %s" % agency.urn)
    return app.auth.issue_temporary(agency.account, seconds)


def _v5_fields(body, temporary):
    """(account id, agency name, session, seconds, external id); raises
    Refused("invalid")."""
    urn = body.get("agency_urn")
    m = URN_RE.match(urn) if isinstance(urn, str) else None
    if m is None:
        raise Refused("invalid", "agency_urn must be iam::<account_id>:agency:<agency_name>")
    session = body.get("agency_session_name")
    if not isinstance(session, str) or not SESSION_RE.match(session):
        raise Refused("invalid", "agency_session_name must be 2 to 64 of A-Za-z0-9_+=,.@-")
    top = V5_CHAINED_MAX if temporary else V5_MAX
    try:
        seconds = _int(body.get("duration_seconds", V5_DEFAULT), V5_MIN, top)
    except ValueError:
        raise Refused("invalid", "duration_seconds must be an integer from %d to %d%s" % (
            V5_MIN, top, " when signed with a security token" if temporary else ""))
    external = body.get("external_id")
    if external is not None and (not isinstance(external, str) or not 2 <= len(external) <= 1224):
        raise Refused("invalid", "external_id must be 2 to 1224 characters")
    unknown = set(body) - V5_IGNORED - {"agency_urn", "agency_session_name",
                                        "duration_seconds", "external_id"}
    if unknown:
        raise Refused("invalid", "unknown field(s): %s" % ", ".join(sorted(unknown)))
    return m.group(1), m.group(2), session, seconds, external


V5_CODES = {"invalid": (400, "STS5.0002"), "missing": (404, "STS5.1106"),
            "denied": (403, "STS5.0001")}
V3_CODES = {"invalid": (400, "Bad Request"), "missing": (404, "Not Found"),
            "denied": (403, "Forbidden")}


def assume_agency(app, req):
    """STS v5 AssumeAgency."""
    try:
        body = req.json_body()
        if body is None:
            raise Refused("invalid", "the request body must be a JSON object")
        account_id, name, session, seconds, external = _v5_fields(body, req.temporary)
        agency = _agency(app, account_id, name)
        if account_id != agency.account.id:     # a name is not an account id here
            raise Refused("missing", "the agency '%s' cannot be found" % body["agency_urn"])
        if seconds > agency.max_session:
            raise Refused("invalid", "duration_seconds exceeds the agency's maximum session "
                          "duration %d" % agency.max_session)
        ak, sk, token, expires = _assume(app, req, agency, seconds, external)
    except Refused as r:
        status, code = V5_CODES[r.kind]
        return gateway_error(req.request_id, status, code, str(r))
    return json_response(200, {
        "credentials": {"access_key_id": ak, "secret_access_key": sk, "security_token": token,
                        "expiration": _iso_ms(expires)},
        "assumed_agency": {"urn": "sts::%s::assumed-agency:%s/%s" % (agency.account.id, name,
                                                                    session),
                           "id": "%s:%s" % (agency.id, session)}})


def _v3_fields(body):
    """(account ref, agency name, seconds); raises Refused("invalid")."""
    identity = (body.get("auth") or {}).get("identity") if isinstance(body.get("auth"),
                                                                      dict) else None
    if not isinstance(identity, dict) or identity.get("methods") != ["assume_role"]:
        raise Refused("invalid", "auth.identity.methods must be [\"assume_role\"]")
    role = identity.get("assume_role")
    if not isinstance(role, dict) or not isinstance(role.get("agency_name"), str) or \
            not role["agency_name"]:
        raise Refused("invalid", "auth.identity.assume_role.agency_name is required")
    domain_id, domain_name = role.get("domain_id"), role.get("domain_name")
    if domain_id is None and domain_name is None:
        raise Refused("invalid", "assume_role needs domain_id or domain_name")
    for v in (domain_id, domain_name):
        if v is not None and (not isinstance(v, str) or not v):
            raise Refused("invalid", "domain_id and domain_name must be non-empty strings")
    try:
        seconds = _int(role.get("duration_seconds", V3_DEFAULT), V3_MIN, V3_MAX)
    except ValueError:
        raise Refused("invalid", "duration_seconds must be an integer from %d to %d"
                      % (V3_MIN, V3_MAX))
    user = role.get("session_user")
    if user is not None and not (isinstance(user, dict) and isinstance(user.get("name"), str)):
        raise Refused("invalid", "session_user.name must be a string")
    return domain_id, domain_name, role["agency_name"], seconds


def create_security_token(app, req):
    """IAM v3.0 securitytokens with methods assume_role."""
    try:
        body = req.json_body()
        if body is None:
            raise Refused("invalid", "The request body is not valid JSON.")
        domain_id, domain_name, name, seconds = _v3_fields(body)
        by_id = app.org.by_id.get(domain_id) if domain_id else None
        by_name = app.org.by_name.get(domain_name) if domain_name else None
        if (domain_id and by_id is None) or (domain_name and by_name is None) or \
                (by_id and by_name and by_id is not by_name):
            raise Refused("missing", "Could not find domain %s." % (domain_id or domain_name))
        agency = _agency(app, (by_id or by_name).id, name)
        if agency.external_id is not None:
            raise Refused("denied", "access denied: agency %s requires an external id; assume "
                          "it with STS AssumeAgency" % agency.urn)
        ak, sk, token, expires = _assume(app, req, agency, seconds, None)
    except Refused as r:
        status, title = V3_CODES[r.kind]
        return keystone_error(status, title, str(r))
    return json_response(201, {"credential": {"access": ak, "secret": sk,
                                              "securitytoken": token,
                                              "expires_at": iso8601(expires)}})
