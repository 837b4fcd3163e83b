"""emu_server.py - the request pipeline the API gateway runs, on top of the
emu_http transport:

  route (404 APIGW.0101) -> count -> latency -> host check (404) ->
  failed region (503 or reset) -> authenticate (401) -> project check
  (403) -> account throttle (429, CSMS APIs) -> caller throttle (429) ->
  faults (a "hold" parks here) -> serve -> fault "mutate" ops -> request
  record, per-account counts and log line -> send

The project in a CSMS path picks the store of secrets the request works on
(emu_org); the request's region is the Host's (kms.REGION.myhuaweicloud.com)
or else the project's.  A region made to fail (/_emulator/regions) answers
every request for it, before authentication, with the status chosen
(default 503 APIGW.0201) or a connection reset.

Every API request gets a record in the request log (GET /_emulator/requests):
API, secret, tag key, arrival and answer times, status and fault.

The latency sleep holds no lock, so parallel clients overlap like they
would against the real service.  /_emulator/ requests skip everything but
the log line.
"""
import collections
import re
import sys
import threading
import time
import traceback

import emu_api
import emu_control
import emu_http
from emu_auth import Denied
from emu_faults import Holds
from emu_common import (JSON_TYPE, Request, Response, api_not_found, csms_error, gateway_error,
                        iso8601)
from emu_sign import decode_component

DEFAULT_CODES = {429: "APIGW.0308", 401: "APIGW.0301", 502: "APIGW.0201", 503: "APIGW.0201",
                 504: "APIGW.0201", 400: "CSMS.0002", 404: "CSMS.0005"}
DEFAULT_MESSAGES = {429: "The throttling threshold has been reached: policy user over ratelimit, "
                         "limit:1, time:1 second",
                    401: "Incorrect IAM authentication information: decrypt token fail",
                    502: "Bad gateway", 503: "Service unavailable", 504: "Backend timeout"}
# APIs whose first path argument is a secret id (the second, a tag key).
SECRET_APIS = ("ListSecretTags", "CreateSecretTag", "BatchCreateOrDeleteTags", "DeleteSecretTag")
REQUEST_LOG_MAX = 200000    # records kept; the oldest go first
HOST_RE = re.compile(r"^(kms|iam|sts|organizations)\.(?:([a-z0-9-]+)\.)?myhuaweicloud\.com"
                     r"(?::\d+)?$")


class App:
    """Everything the pipeline shares."""

    def __init__(self, org, auth, faults, settings, log=None):
        self.org = org
        self.auth = auth
        self.faults = faults
        self.settings = settings
        self.log = log
        self.failed_regions = {}    # region -> {"kind", "status", "error_code"}
        self.account_counts = {}    # account id -> {"apis": {api: n}, "statuses": {status: n}}
        self.log_lock = threading.Lock()
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(emu_api.ALL_APIS + ("unknown",), 0)
        self.requests = 0
        self.holds = Holds()
        self.request_log = collections.deque(maxlen=REQUEST_LOG_MAX)

    @property
    def store(self):
        """The default project's secrets (emu_org)."""
        return self.org.default.store

    @property
    def project_id(self):
        return self.org.default.id

    def reset(self):
        """Control API: back to the state at startup (parked requests are
        released)."""
        self.org.reset()
        self.auth.reset()
        self.faults.reset()
        self.holds.reset()
        self.settings.reset()
        with self.lock:
            self.counts = dict.fromkeys(self.counts, 0)
            self.requests = 0
            self.request_log.clear()
            self.failed_regions.clear()
            self.account_counts.clear()

    def record(self, req, api, status, arrival):
        """One request log entry, and the account's counts, once the answer
        is computed."""
        store = req.store or self.store
        account = req.project.account if req.project is not None else req.account
        entry = {"api": api, "method": req.method, "secret_id": req.secret_id,
                 "secret": store.name_of(req.secret_id) if req.secret_id else None,
                 "key": req.key, "arrival": arrival, "answer": time.time(), "status": status,
                 "fault": req.fault.kind if req.fault is not None else None,
                 "account": account.id if account is not None else None,
                 "project": req.project.id if req.project is not None else None}
        with self.lock:
            self.request_log.append(entry)
            if account is not None:
                c = self.account_counts.setdefault(account.id, {"apis": {}, "statuses": {}})
                c["apis"][api] = c["apis"].get(api, 0) + 1
                c["statuses"][str(status)] = c["statuses"].get(str(status), 0) + 1

    def account_counts_snapshot(self, account_id):
        with self.lock:
            c = self.account_counts.get(account_id, {"apis": {}, "statuses": {}})
            return {"apis": dict(c["apis"]), "statuses": dict(c["statuses"])}

    def fail_region(self, region, how):
        """Control API: HOW is None (the region works again) or {"kind",
        "status", "error_code"}."""
        with self.lock:
            if how is None:
                self.failed_regions.pop(region, None)
            else:
                self.failed_regions[region] = how

    def region_failure(self, region):
        with self.lock:
            return self.failed_regions.get(region) if region is not None else None

    def requests_snapshot(self):
        with self.lock:
            return list(self.request_log)

    def count(self, api):
        with self.lock:
            self.counts[api] = self.counts.get(api, 0) + 1
            self.requests += 1

    def counts_snapshot(self):
        with self.lock:
            return dict(self.counts)

    def write_log(self, line):
        with self.log_lock:
            if self.log is not None:
                self.log.write(line)

    def close_log(self):
        """At exit; connection threads may still be finishing requests."""
        with self.log_lock:
            if self.log is not None:
                self.log.close()
                self.log = None


def _printable(s):
    """Log-safe text: no control characters or raw bytes can break a line."""
    if s.isascii() and s.isprintable():
        return s
    return "".join(c if c.isascii() and c.isprintable() else "\\x%02x" % ord(c) for c in s)


def _decode(text):
    return decode_component(text).decode("utf-8", "surrogateescape")


def _parse_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        if part:
            name, _, value = part.partition("=")
            pairs.append((_decode(name), _decode(value)))
    return pairs


def fault_status(req, rule):
    """The answer of a "status" fault: gateway codes in the flat shape,
    anything else in the CSMS nested shape."""
    status = rule.status
    code = rule.error_code or DEFAULT_CODES.get(status, "CSMS.0001")
    message = rule.error_msg or DEFAULT_MESSAGES.get(status, "Internal server error")
    if rule.kind == "echo":
        # The body, then the headers last first (authentication is added
        # last), then the request line: a client that cuts long messages
        # still shows the credentials.
        lines = ["%s: %s" % (n, v) for n, vs in req.headers._fields.items() for v in vs]
        message = "you sent: %s\n%s\n%s %s?%s" % (
            req.body.decode("utf-8", "replace"), "\n".join(reversed(lines)),
            req.method, req.raw_path, req.raw_query)
    headers = [("Retry-After", str(rule.retry_after))] if rule.retry_after is not None else []
    if code.startswith("APIG"):
        return gateway_error(req.request_id, status, code, message, headers)
    resp = csms_error(status, code, message)
    resp.headers.extend(headers)
    return resp


def apply_mutations(store, rules):
    for rule in rules:
        for op in rule.ops:
            if op["op"] == "delete_secret":
                store.remove_secret(op["secret"])
            elif op["op"] == "set_tag":
                store.edit_tags(op["secret"], {op["key"]: op["value"]}, [])
            else:
                store.edit_tags(op["secret"], {}, [op["key"]])


def _forbidden(req, why):
    return gateway_error(req.request_id, 403, "APIGW.0302",
                         "The IAM user is not authorized to access the API: " + why)


def check_project(app, req, r, host_region):
    """403 unless the path's project belongs to the caller's account (and,
    for an IAM token, is the one it is scoped to), X-Project-Id, when sent,
    names the same one (or, without a project in the path, one of the
    account's), and a region named by the Host is the project's."""
    projects = app.org.projects
    account = req.account

    def ours(pid):
        p = projects.get(pid)
        return p is not None and p.account is account
    header = req.headers.get("X-Project-Id")
    if (header is not None and (header != (r.project_id or header) or not ours(header))) or \
            (r.project_id is not None and not ours(r.project_id)) or \
            (req.scope is not None and r.project_id is not None and r.project_id != req.scope):
        return _forbidden(req, "the project does not match the credentials")
    if host_region is not None and req.project is not None and req.project.region != host_region:
        return _forbidden(req, "project %s is not in region %s" % (req.project.id, host_region))
    return None


def _host(req):
    """(service, region) named by a Host of the real form, else (None, None)."""
    m = HOST_RE.match((req.headers.get("Host") or "").lower())
    return (m.group(1), m.group(2)) if m else (None, None)


def failed_region_answer(req, how):
    if how["kind"] == "reset":
        req.broken = "reset"
    return gateway_error(req.request_id, how["status"], how["error_code"],
                         "Service unavailable: region %s is down" % how["region"])


def admit(app, req, r):
    """The answer that stops R before its handler (host, region,
    authentication, project, throttling), or None."""
    req.project = app.org.projects.get(r.project_id) if r.project_id is not None else None
    req.store = req.project.store if req.project is not None else app.store
    service, host_region = _host(req)
    if service is not None and emu_api.SERVICES.get(r.api, service) != service:
        return api_not_found(req)
    how = app.region_failure(host_region or (req.project.region if req.project else None))
    if how is not None:
        return failed_region_answer(req, how)
    if not r.gateway:
        return None
    try:
        req.identity = app.auth.authenticate(req)
    except Denied as d:
        return d.response
    denied = check_project(app, req, r, host_region)
    if denied is None and r.api in emu_api.CSMS_APIS:
        denied = app.auth.account_throttle(req, req.account)
    return denied or app.auth.throttle(req, req.identity)


def serve_api(app, req):
    """(answer, API name, mutate rules to apply)."""
    r = emu_api.route(req.method, req.segments)
    api = r.api if r else "unknown"
    app.count(api)
    latency = app.settings.latency_ms
    if latency > 0:
        time.sleep(latency / 1000.0)
    if r is None:
        return api_not_found(req), api, []
    if r.api in SECRET_APIS:
        req.secret_id = r.args[0]
        req.key = r.args[1] if len(r.args) > 1 else None
    denied = admit(app, req, r)
    if denied is not None:
        return denied, api, []
    rule, mutations = app.faults.pick(api)
    req.fault = rule
    if rule is not None and rule.kind == "hold":
        app.holds.park({"api": api, "secret": req.store.name_of(req.secret_id)
                        if req.secret_id else None, "key": req.key}, rule.hold_ms / 1000.0)
    if rule is not None and rule.kind == "slow":
        time.sleep(rule.delay_ms / 1000.0)
    if rule is not None and rule.kind in ("status", "echo"):
        return fault_status(req, rule), api, mutations
    if rule is not None and rule.kind == "ignore":
        return Response(204), api, mutations
    return r.handler(app, req, *r.args), api, mutations


def broken_answer(kind, req, resp):
    """(status, headers, body) for the faults that spoil an answer."""
    status, headers, body = resp.status, resp.headers, resp.body
    if kind in ("reset", "truncate") and not body:
        # Nothing to cut in half: send a small JSON body to cut instead.
        return (200 if status == 204 else status), [JSON_TYPE], (
            '{"request_id":"%s"}' % req.request_id).encode()
    if kind == "invalid_json":
        # Any proper prefix of a JSON object is invalid JSON.
        return 200, [JSON_TYPE] + [h for h in headers if h[0] != JSON_TYPE[0]], (
            body[:len(body) // 2] if len(body) > 1 else b'{"resources":[{')
    return status, headers, body


class Pipeline:
    """emu_http's dispatch callable."""

    def __init__(self, app):
        self.app = app

    def __call__(self, conn, msg):
        app = self.app
        start = time.monotonic()
        arrival = time.time()
        raw_path, _, raw_query = msg.target.partition("?")
        req = Request(msg.method, raw_path, raw_query, [_decode(s) for s in raw_path.split("/")[1:]],
                      _parse_query(raw_query), msg.headers, msg.body, msg.request_id)
        api, mutations = None, []
        try:
            if len(req.segments) == 2 and req.segments[0] == "_emulator":
                api = "_emulator"
                resp = emu_control.handle(app, req, req.segments[1])
            else:
                resp, api, mutations = serve_api(app, req)
        except Exception:  # a bug must show, and still get an answer
            traceback.print_exc(file=sys.stderr)
            resp = gateway_error(req.request_id, 500, "APIGW.0201", "emulator internal error")
        # The answer is computed; the state changes and the log line come
        # before it leaves, so a client that has the answer always sees both.
        if mutations:
            apply_mutations(req.store or app.store, mutations)
        if api not in (None, "_emulator"):
            app.faults.note_answered(api)
            app.record(req, api, resp.status, arrival)
        if app.log is not None:
            self.log(req, resp, api, conn.client_address[0], start)
        kind = req.broken or (req.fault.kind if req.fault is not None else None)
        status, headers, body = broken_answer(kind, req, resp)
        conn.send(req.request_id, status, headers, body, app.settings.now(),
                  head_only=req.method == "HEAD",
                  broken=kind if kind in ("reset", "truncate") else None)

    def log(self, req, resp, api, client, start):
        target = req.raw_path + ("?" + req.raw_query if req.raw_query else "")
        fault = req.fault.kind if req.fault is not None else "-"
        self.app.write_log("%s %s %s %s %d %s %s fault=%s %.1fms\n" % (
            iso8601(time.time()), client, _printable(req.method), _printable(target), resp.status,
            req.request_id, api or "-", fault, (time.monotonic() - start) * 1000))


def make_server(address, app, tls_context=None):
    return emu_http.Server(address, Pipeline(app), app.settings.now, tls_context)
