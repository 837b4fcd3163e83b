"""emu_control.py - the test harness's API under /_emulator/ (no
authentication, not counted, no latency or faults):

  GET  /_emulator/state          secrets with tags, request counts per API,
                                 total requests, deletions, faults injected
  GET  /_emulator/config         the knobs;  POST {knob: number, ...} sets them
                                 (latency_ms, rate_limit, token_ttl,
                                 clock_offset, lockout_seconds,
                                 list_page_max; list_order is a string)
  POST /_emulator/secrets        {"secrets": [seed secrets], "replace": false,
                                 "delete": [names]}: add or replace (by id,
                                 then name), optionally drop everything else
                                 first, and remove secrets by name
  POST /_emulator/tags           {"secret": name, "set": {k: v}, "remove": [k]}
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
  POST /_emulator/reset          back to the start: the seed's secrets, no
                                 deletions, counts, faults, tokens, lockouts
                                 or throttling state, the startup knobs
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


def state(app, req):
    secrets, deleted = app.store.snapshot()
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
    added = app.store.upsert(body.get("secrets", []), replace=bool(body.get("replace")))
    removed = sum(app.store.remove_secret(n) for n in delete)
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
    result = app.store.edit_tags(name, set_tags, remove)
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
}


def handle(app, req, name):
    fn = ROUTES.get((req.method, name))
    if fn is None:
        return _error(404, "no control API %s /_emulator/%s" % (req.method, name))
    try:
        return fn(app, req)
    except ValueError as e:
        return _error(400, str(e))
