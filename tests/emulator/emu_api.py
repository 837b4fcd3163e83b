"""emu_api.py - the emulated APIs: routing and one handler per operation.

CSMS (csms-api.md 2), behind the gateway's authentication:
  GET    /v1/{project_id}/secrets                          ListSecrets
  GET    /v1/{project_id}/secrets/{secret_name}            ShowSecret
  GET    /v1/{project_id}/csms/tags                        ListProjectSecretsTags
  GET    /v1/{project_id}/csms/{secret_id}/tags            ListSecretTags
  POST   /v1/{project_id}/csms/{secret_id}/tags            CreateSecretTag
  POST   /v1/{project_id}/csms/{secret_id}/tags/action     BatchCreateOrDeleteTags
  DELETE /v1/{project_id}/csms/{secret_id}/tags/{key}      DeleteSecretTag
  POST   /v1/{project_id}/csms/resource_instances/action   ListResourceInstances
IAM (csms-api.md 4.1, 1.3):
  POST   /v3/auth/tokens                                   KeystoneCreateUserTokenByPassword
  GET    /v3/projects?name=REGION                          KeystoneListProjects (signed)
Organisations (csms-api.md 7; emu_orgapi.py has the details), signed:
  GET    /v3/auth/projects                                 KeystoneListAuthProjects
  GET    /v1/organizations/accounts?limit=&marker=         ListAccounts
  POST   /v5/agencies/assume                               AssumeAgency
  POST   /v3.0/OS-CREDENTIAL/securitytokens                CreateTemporaryAccessKeyByAgency
ECS metadata (csms-api.md 4.4), no authentication:
  PUT    /meta-data/latest/api/token                       MetadataApiToken
  GET    /openstack/latest/securitykey                     MetadataSecurityKey

Choices where the sources are silent (each one documented here):
  - not-found conditions are 400 CSMS.0005 (nested shape), for both a secret
    and a tag key;
  - a ListSecrets or ListResourceInstances limit outside 1..1000, a
    non-numeric limit or offset, or an unknown action: 400 CSMS.0002;
  - a malformed body: 400 CSMS.0004; a tag rule broken or a 21st tag:
    400 CSMS.0002;
  - ListSecrets page_info.next_marker is only present when more secrets
    follow; clients should still stop on an empty page; the order of names
    is not documented (csms-api.md 2), so the list_order knob chooses byte,
    case-insensitive or reverse order, markers always following that order,
    and list_page_max makes pages shorter than the limit asked;
  - tag operations work whatever the secret's state.
CreateSecretTag (csms-api.md 2.5; 2.9 for the limits), as the emulator
answers it:
  - body {"tag": {"key", "value"}}; "value" may be left out (the model makes
    it optional) and then is ""; anything else is a malformed body, 400
    CSMS.0004; a key or value breaking 2.9 (key 1..128 characters of the
    key set, not starting with _sys_, no leading/trailing white space; value
    0..255 of the value set): 400 CSMS.0002;
  - success is 204 with no body (UNCONFIRMED in 2.5 for this operation; the
    secret-tag group lists 204, and csms-tagd accepts any 2xx);
  - a 21st key: 400 CSMS.0002 (the tag-limit error code is UNCONFIRMED,
    3.2); an unknown secret: 400 CSMS.0005 (section 6: not found is 400);
  - a key that exists is overwritten with the new value, still 204.  The
    documentation says nothing about duplicates and section 6 decides
    nothing; overwriting is what the tag APIs of the platform do elsewhere
    and the stricter case for a client that must never overwrite, so
    csms-tagd --restore reads the tags first and reports a conflict.
"""
import json

from emu_common import (Response, csms_error, iso8601, json_response, keystone_error,
                        raw_json_response)
import emu_orgapi
from emu_store import check_key, check_value

MAX_LIMIT = 1000
MAX_FILTER_TAGS = 10
MAX_FILTER_VALUES = 10
METADATA_TOKEN_MAX_TTL = 21600
CSMS_APIS = ("ListSecrets", "ShowSecret", "ListProjectSecretsTags", "ListSecretTags",
             "CreateSecretTag", "BatchCreateOrDeleteTags", "DeleteSecretTag",
             "ListResourceInstances")
GATEWAY_APIS = CSMS_APIS + ("KeystoneListProjects", "KeystoneListAuthProjects", "ListAccounts",
                            "AssumeAgency", "CreateTemporaryAccessKeyByAgency")
SERVICES = dict([(a, "kms") for a in CSMS_APIS] + [
    ("KeystoneListProjects", "iam"), ("KeystoneListAuthProjects", "iam"),
    ("KeystoneCreateUserTokenByPassword", "iam"), ("CreateTemporaryAccessKeyByAgency", "iam"),
    ("AssumeAgency", "sts"), ("ListAccounts", "organizations")])
OTHER_APIS = ("KeystoneCreateUserTokenByPassword", "MetadataApiToken", "MetadataSecurityKey")
ALL_APIS = GATEWAY_APIS + OTHER_APIS
NO_SECRET = "The secret does not exist"
NO_TAG = "The tag does not exist"


class Route:
    __slots__ = ("api", "handler", "args", "project_id")

    def __init__(self, api, handler, args=(), project_id=None):
        self.api = api
        self.handler = handler
        self.args = args
        self.project_id = project_id

    @property
    def gateway(self):
        return self.api in GATEWAY_APIS


def route(method, segs):
    """The Route for METHOD on decoded path segments SEGS, or None (the
    gateway then answers APIGW.0101)."""
    if any(s == "" for s in segs):
        return None
    n = len(segs)
    if segs == ["v1", "organizations", "accounts"] and method == "GET":
        return Route("ListAccounts", emu_orgapi.list_org_accounts)
    if n >= 3 and segs[0] == "v1":
        return _route_v1(method, segs[1], segs[2:])
    if segs == ["v3", "auth", "projects"] and method == "GET":
        return Route("KeystoneListAuthProjects", emu_orgapi.list_auth_projects)
    if segs == ["v5", "agencies", "assume"] and method == "POST":
        return Route("AssumeAgency", emu_orgapi.assume_agency)
    if segs == ["v3.0", "OS-CREDENTIAL", "securitytokens"] and method == "POST":
        return Route("CreateTemporaryAccessKeyByAgency", emu_orgapi.create_security_token)
    if segs == ["v3", "auth", "tokens"] and method == "POST":
        return Route("KeystoneCreateUserTokenByPassword", create_token)
    if segs == ["v3", "projects"] and method == "GET":
        return Route("KeystoneListProjects", list_projects)
    if segs == ["meta-data", "latest", "api", "token"] and method == "PUT":
        return Route("MetadataApiToken", metadata_token)
    if segs == ["openstack", "latest", "securitykey"] and method == "GET":
        return Route("MetadataSecurityKey", security_key)
    return None


def _route_v1(method, pid, rest):
    n = len(rest)
    if rest[0] == "secrets":
        if n == 1 and method == "GET":
            return Route("ListSecrets", list_secrets, (), pid)
        if n == 2 and method == "GET":
            return Route("ShowSecret", show_secret, (rest[1],), pid)
        return None
    if rest[0] != "csms":
        return None
    if rest[1:] == ["resource_instances", "action"] and method == "POST":
        return Route("ListResourceInstances", list_resource_instances, (), pid)
    if rest[1:] == ["tags"] and method == "GET":
        return Route("ListProjectSecretsTags", list_project_tags, (), pid)
    if n == 3 and rest[2] == "tags":
        if method == "GET":
            return Route("ListSecretTags", list_secret_tags, (rest[1],), pid)
        if method == "POST":
            return Route("CreateSecretTag", create_secret_tag, (rest[1],), pid)
    if n == 4 and rest[2] == "tags":
        if method == "POST" and rest[3] == "action":
            return Route("BatchCreateOrDeleteTags", batch_tags, (rest[1],), pid)
        if method == "DELETE":
            return Route("DeleteSecretTag", delete_secret_tag, (rest[1], rest[3]), pid)
    return None


def _invalid(message):
    return csms_error(400, "CSMS.0002", message)


def _malformed(message="The request body is malformed"):
    return csms_error(400, "CSMS.0004", message)


def _count(value, default, lo, hi):
    """A count given as numeric text (the SDK model) or a JSON number
    (what terraform sends).  Returns the int, or raises ValueError."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 10:
            raise ValueError
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError
    return value


# -- CSMS ----------------------------------------------------------------------
def list_secrets(app, req):
    try:
        limit = _count(req.query_value("limit"), 50, 1, MAX_LIMIT)
    except ValueError:
        return _invalid("limit must be a number from 1 to %d" % MAX_LIMIT)
    if app.settings.list_page_max:
        limit = min(limit, int(app.settings.list_page_max))
    marker = req.query_value("marker") or None
    page, more = req.store.list_page(marker, limit, req.query_value("event_name"),
                                     app.settings.list_order)
    info = {"current_count": len(page)}
    if page:
        info["previous_marker"] = page[0][0]
        if more:
            info["next_marker"] = page[-1][0]
    text = '{"secrets":[%s],"page_info":%s}' % (",".join(j for _, j in page), json.dumps(info))
    return raw_json_response(200, text)


def show_secret(app, req, name):
    text = req.store.show(name)
    if text is None:
        return csms_error(400, "CSMS.0005", NO_SECRET)
    return raw_json_response(200, '{"secret":%s}' % text)


def list_project_tags(app, req):
    return json_response(200, {"tags": req.store.project_tags()})


def list_secret_tags(app, req, sid):
    found = req.store.tags_of(sid)
    if found is None:
        return csms_error(400, "CSMS.0005", NO_SECRET)
    return json_response(200, {"tags": found[0], "sys_tags": found[1]})


def delete_secret_tag(app, req, sid, key):
    if not 1 <= len(key) <= 255:
        return _invalid("tag key length must be 1 to 255 characters")
    result = req.store.delete_tag(sid, key)
    if result == "no-secret":
        return csms_error(400, "CSMS.0005", NO_SECRET)
    if result == "no-tag":
        return csms_error(400, "CSMS.0005", NO_TAG)
    return Response(204)


def _tag_item(obj, need_value):
    """(key, value) from a TagItem, or raises ValueError with the reason."""
    if not isinstance(obj, dict):
        raise ValueError("a tag must be an object")
    key, value = obj.get("key"), obj.get("value")
    if value is None and need_value:
        value = ""
    reason = check_key(key) or (check_value(value) if value is not None else None)
    if reason:
        raise ValueError(reason)
    return key, value


def _store_result(result):
    if result == "no-secret":
        return csms_error(400, "CSMS.0005", NO_SECRET)
    if result == "too-many":
        return _invalid("a secret can have at most 20 tags")
    return Response(204)


def create_secret_tag(app, req, sid):
    body = req.json_body()
    if body is None or not isinstance(body.get("tag"), dict):
        return _malformed()
    try:
        tag = _tag_item(body["tag"], True)
    except ValueError as e:
        return _invalid(str(e))
    return _store_result(req.store.create_tags(sid, [tag]))


def batch_tags(app, req, sid):
    body = req.json_body()
    if body is None or not isinstance(body.get("tags"), list):
        return _malformed()
    action = body.get("action")
    if action not in ("create", "delete"):
        return _invalid("action must be create or delete")
    try:
        tags = [_tag_item(t, action == "create") for t in body["tags"]]
    except ValueError as e:
        return _invalid(str(e))
    if action == "create":
        return _store_result(req.store.create_tags(sid, tags))
    return _store_result(req.store.delete_tags(sid, tags))


def _resource_filters(body):
    """(tag filter [(key, values)], name substring or None); raises
    ValueError with the reason."""
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_FILTER_TAGS:
        raise ValueError("tags must be a list of at most %d entries" % MAX_FILTER_TAGS)
    tag_filter = []
    for t in tags:
        if not isinstance(t, dict) or not isinstance(t.get("key"), str):
            raise ValueError("a tags entry needs a key")
        values = t.get("values") or []
        if (not isinstance(values, list) or len(values) > MAX_FILTER_VALUES
                or not all(isinstance(v, str) for v in values)):
            raise ValueError("values must be a list of at most %d strings" % MAX_FILTER_VALUES)
        tag_filter.append((t["key"], set(values)))
    matches = body.get("matches") or []
    if not isinstance(matches, list):
        raise ValueError("matches must be a list")
    name = None
    for m in matches:
        if not isinstance(m, dict) or m.get("key") != "resource_name":
            raise ValueError("the only match key is resource_name")
        if not isinstance(m.get("value"), str) or len(m["value"]) > 255:
            raise ValueError("a match value is a string of at most 255 characters")
        name = m["value"]
    return tag_filter, name


def list_resource_instances(app, req):
    body = req.json_body()
    if body is None:
        return _malformed()
    action = body.get("action")
    if action not in ("filter", "count"):
        return _invalid("action must be filter or count")
    try:
        limit = _count(body.get("limit"), 10, 1, MAX_LIMIT)
        offset = _count(body.get("offset"), 0, 0, 1 << 31)
    except ValueError:
        return _invalid("limit must be 1 to %d and offset a non-negative number" % MAX_LIMIT)
    try:
        tag_filter, name = _resource_filters(body)
    except ValueError as e:
        return _invalid(str(e))
    if action == "count":
        limit = 0
    page, total = req.store.resources(offset, limit, tag_filter, name)
    if req.fault is not None and req.fault.kind == "total_count_mismatch":
        total += req.fault.delta
    if action == "count":
        return raw_json_response(200, '{"total_count":%d}' % total)
    return raw_json_response(200, '{"resources":[%s],"total_count":%d}' % (",".join(page), total))


# -- IAM -------------------------------------------------------------------------
def _path(obj, *names):
    for n in names:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(n)
    return obj


def create_token(app, req):
    body = req.json_body()
    if body is None:
        return keystone_error(400, "Bad Request", "The request body is not valid JSON.")
    methods = _path(body, "auth", "identity", "methods")
    user = _path(body, "auth", "identity", "password", "user")
    if not isinstance(methods, list) or "password" not in methods or not isinstance(user, dict):
        return keystone_error(400, "Bad Request", "Only the password method is supported here.")
    name, password = user.get("name"), user.get("password")
    domain = _path(user, "domain", "name")
    if not all(isinstance(x, str) for x in (name, password, domain)):
        return keystone_error(400, "Bad Request", "user.name, user.password and "
                              "user.domain.name are required.")
    project = _path(body, "auth", "scope", "project")
    if not isinstance(project, dict) or not ("id" in project or "name" in project):
        return keystone_error(400, "Bad Request", "A project scope (id or name) is required.")
    account = app.auth.check_password(name, domain, password)
    if account is None:
        return keystone_error(401, "Unauthorized", "The username or password is wrong.")
    scoped = [p for p in account.projects if project.get("id", p.id) == p.id and
              project.get("name", p.name) == p.name]
    if not scoped:
        return keystone_error(401, "Unauthorized", "The project does not exist or is not "
                              "accessible.")
    p = scoped[0]
    token, issued, expires = app.auth.issue_token(account, p.id)
    domain_obj = {"id": account.id, "name": domain}
    result = {"token": {
        "expires_at": iso8601(expires), "issued_at": iso8601(issued), "methods": ["password"],
        "project": {"id": p.id, "name": p.name, "domain": domain_obj},
        "user": {"id": "u0u0u0u0u0u0u0u0u0u0u0u0u0u0u0u0", "name": name, "domain": domain_obj,
                 "password_expires_at": ""},
        "roles": [{"id": "0", "name": "op_service"}]}}
    if req.query_value("nocatalog") != "true":
        result["token"]["catalog"] = []
    return json_response(201, result, [("X-Subject-Token", token)])


def list_projects(app, req):
    name = req.query_value("name")
    projects = []
    for p in req.account.projects:
        entry = p.describe()
        del entry["links"]
        projects.append(entry)
    if name is not None:
        projects = [p for p in projects if p["name"] == name]
    return json_response(200, {"projects": projects, "links": {"self": None}})


# -- ECS metadata ------------------------------------------------------------------
def metadata_token(app, req):
    ttl = (req.headers.get("X-Metadata-Token-Ttl-Seconds") or "").strip()
    if not ttl.isascii() or not ttl.isdigit() or not 1 <= int(ttl) <= METADATA_TOKEN_MAX_TTL:
        return Response(400, b"X-Metadata-Token-Ttl-Seconds must be 1 to %d\n"
                        % METADATA_TOKEN_MAX_TTL,
                        [("Content-Type", "text/plain")])
    token = app.auth.issue_metadata_token(int(ttl))
    return Response(200, token.encode(), [("Content-Type", "text/plain")])


def security_key(app, req):
    token = req.headers.get("X-Metadata-Token")
    if token is not None and not app.auth.metadata_token_valid(token.strip()):
        return Response(401, b"Unauthorized: the metadata token is invalid or expired\n",
                        [("Content-Type", "text/plain")])
    if not app.auth.ecs:
        return Response(401, b"Please configure Cloud Service Agency first\n",
                        [("Content-Type", "text/plain")])
    ak, sk, security_token, expires = app.auth.issue_ecs_credentials()
    return json_response(200, {"credential": {"access": ak, "secret": sk,
                                              "securitytoken": security_token,
                                              "expires_at": iso8601(expires)}})
