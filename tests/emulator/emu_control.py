"""emu_control.py - the test harness's API under /_emulator/ (no
authentication, not counted, no latency or faults):

  GET  /_emulator/state          secrets with tags, request counts per API,
                                 total requests, deletions, faults injected
                                 (?project=ID: that project's secrets and
                                 deletions; default: the default project)
  GET  /_emulator/config         the knobs;  POST {knob: number, ...} sets them
                                 (latency_ms, rate_limit, token_ttl,
                                 clock_offset, lockout_seconds,
                                 list_page_max; list_order is a string)
  POST /_emulator/secrets        {"secrets": [seed secrets], "replace": false,
                                 "delete": [names], "project": ID}: add or
                                 replace (by id, then name), optionally drop
                                 everything else first, and remove secrets
                                 by name (in the default project unless
                                 "project" names another)
  POST /_emulator/tags           {"secret": name, "set": {k: v}, "remove": [k],
                                 "project": ID}
  POST /_emulator/expire-tokens  issued tokens and temporary keys expire now
  GET  /_emulator/faults         the rules with matched/applied counters;
                                 POST {"rules": [...]} replaces them
  GET  /_emulator/holds          requests parked by "hold" faults:
                                 {"parked": n, "requests": [{"api", "secret",
                                 "key"}, ...], "total": ever parked}
  POST /_emulator/release        {"count": n} releases the n oldest parked
                                 requests, {} all of them
  GET  /_emulator/requests       the request log: per API request its api,
                                 method, secret_id, secret (name), key,
                                 arrival and answer (Unix time, seconds),
                                 status and fault
  GET  /_emulator/accounts       per account (?account=ID or name: only
                                 that one): {"id", "name", "rate_limit",
                                 "projects": [{"id", "name", "region"}],
                                 "agencies": [names], "counts": {api: n},
                                 "statuses": {"200": n, "429": n, ...},
                                 "requests": n, "deleted": [the deletion
                                 records of all its projects, each with
                                 "project_id" and "region" added]}; counted
                                 are requests for a project of the account
                                 or authenticated as it
  POST /_emulator/accounts       {"account": ID, name or "*", "rate_limit": N}
                                 sets the account's CSMS requests/second
                                 (0 = no limit) until reset
  GET  /_emulator/regions        {"regions": [regions of the projects],
                                 "failed": {region: {"kind", "status",
                                 "error_code"}}}
  POST /_emulator/regions        {"region": R, "fail": true, "kind": "status"
                                 | "reset", "status": 503, "error_code":
                                 "APIGW.0201"}: every request for R (by Host
                                 or by project) gets that answer, or a TCP
                                 reset; {"region": R, "fail": false} heals it
  POST /_emulator/reset          back to the start: the seed's secrets, no
                                 deletions, counts, faults, tokens, lockouts
                                 or throttling state, the startup knobs,
                                 account rate limits, no failed region
Errors are 400 {"error": "..."} (404 for an unknown control path).
"""
from emu_common import json_response


def _error(status, message):
    return json_response(status, {"error": message})


def _object(req):
    body = req.json_body()
    if body is None:
        raise ValueError("the body must be a JSON object")
    return body


def _project_store(app, ref):
    """The store of project REF (None: the default project)."""
    if ref is None:
        return app.store
    p = app.org.projects.get(ref) if isinstance(ref, str) else None
    if p is None:
        raise ValueError("no project %r" % (ref,))
    return p.store


def state(app, req):
    secrets, deleted = _project_store(app, req.query_value("project")).snapshot()
    return json_response(200, {"secrets": secrets, "counts": app.counts_snapshot(),
                               "requests": app.requests, "deleted": deleted,
                               "faults_injected": app.faults.injected})


def config(app, req):
    if req.method == "POST":
        app.settings.update(_object(req))
    return json_response(200, app.settings.as_dict())


def secrets(app, req):
    body = _object(req)
    delete = body.get("delete", [])
    if not isinstance(delete, list) or not all(isinstance(n, str) for n in delete):
        raise ValueError("delete must be a list of names")
    store = _project_store(app, body.get("project"))
    added = store.upsert(body.get("secrets", []), replace=bool(body.get("replace")))
    removed = sum(store.remove_secret(n) for n in delete)
    return json_response(200, {"added": added, "removed": removed})


def tags(app, req):
    body = _object(req)
    name, set_tags, remove = body.get("secret"), body.get("set", {}), body.get("remove", [])
    if not isinstance(name, str):
        raise ValueError("secret must be a secret name")
    if not isinstance(set_tags, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in set_tags.items()):
        raise ValueError("set must be an object of strings")
    if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
        raise ValueError("remove must be a list of keys")
    result = _project_store(app, body.get("project")).edit_tags(name, set_tags, remove)
    if result is None:
        return _error(404, "no secret named %r" % name)
    return json_response(200, result)


def expire_tokens(app, req):
    app.auth.expire_all()
    return json_response(200, {"expired": True})


def faults(app, req):
    if req.method == "POST":
        rules = _object(req).get("rules")
        app.faults.replace(rules)
    return json_response(200, {"rules": app.faults.describe(),
                               "faults_injected": app.faults.injected})


def holds(app, req):
    return json_response(200, app.holds.describe())


def release(app, req):
    body = _object(req)
    if set(body) - {"count"}:
        raise ValueError("unknown field(s): %s" % ", ".join(sorted(set(body) - {"count"})))
    count = body.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ValueError("count must be a non-negative integer")
    return json_response(200, {"released": app.holds.release(count)})


def requests(app, req):
    return json_response(200, {"requests": app.requests_snapshot()})


def _account_view(app, a):
    deleted = []
    for p in a.projects:
        deleted += [dict(d, project_id=p.id, region=p.region) for d in p.store.deletions()]
    counts = app.account_counts_snapshot(a.id)
    return {"id": a.id, "name": a.name, "rate_limit": a.rate_limit,
            "projects": [{"id": p.id, "name": p.name, "region": p.region} for p in a.projects],
            "agencies": sorted(a.agencies), "counts": counts["apis"],
            "statuses": counts["statuses"], "requests": sum(counts["apis"].values()),
            "deleted": deleted}


def accounts(app, req):
    if req.method == "POST":
        body = _object(req)
        if set(body) - {"account", "rate_limit"}:
            raise ValueError("fields: account, rate_limit")
        ref, rate = body.get("account"), body.get("rate_limit")
        if ref == "*":
            chosen = app.org.accounts
        else:
            chosen = [app.org.account(ref) if isinstance(ref, str) else None]
        if None in chosen:
            raise ValueError("no account %r" % (ref,))
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1e9:
            raise ValueError("rate_limit must be a non-negative number")
        for a in chosen:
            a.rate_limit = float(rate)
    ref = req.query_value("account")
    chosen = app.org.accounts if ref is None else [app.org.account(ref)]
    if None in chosen:
        return _error(404, "no account %r" % ref)
    return json_response(200, {"accounts": [_account_view(app, a) for a in chosen]})


def regions(app, req):
    if req.method == "POST":
        body = _object(req)
        if set(body) - {"region", "fail", "kind", "status", "error_code"}:
            raise ValueError("fields: region, fail, kind, status, error_code")
        region, fail = body.get("region"), body.get("fail", True)
        if not isinstance(region, str) or not region or not isinstance(fail, bool):
            raise ValueError("region must be a region name and fail true or false")
        kind, status = body.get("kind", "status"), body.get("status", 503)
        code = body.get("error_code", "APIGW.0201")
        if kind not in ("status", "reset"):
            raise ValueError("kind must be status or reset")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be 400 to 599")
        if not isinstance(code, str) or not code:
            raise ValueError("error_code must be a string")
        app.fail_region(region, {"region": region, "kind": kind, "status": status,
                                 "error_code": code} if fail else None)
    with app.lock:
        failed = {r: {k: v for k, v in how.items() if k != "region"}
                  for r, how in app.failed_regions.items()}
    return json_response(200, {"regions": app.org.regions(), "failed": failed})


def reset(app, req):
    app.reset()
    return json_response(200, {"reset": True})


ROUTES = {
    ("GET", "state"): state,
    ("GET", "config"): config,
    ("POST", "config"): config,
    ("POST", "secrets"): secrets,
    ("POST", "tags"): tags,
    ("POST", "expire-tokens"): expire_tokens,
    ("GET", "faults"): faults,
    ("POST", "faults"): faults,
    ("GET", "holds"): holds,
    ("POST", "release"): release,
    ("GET", "requests"): requests,
    ("POST", "reset"): reset,
    ("GET", "accounts"): accounts,
    ("POST", "accounts"): accounts,
    ("GET", "regions"): regions,
    ("POST", "regions"): regions,
}


def handle(app, req, name):
    fn = ROUTES.get((req.method, name))
    if fn is None:
        return _error(404, "no control API %s /_emulator/%s" % (req.method, name))
    try:
        return fn(app, req)
    except ValueError as e:
        return _error(400, str(e))
