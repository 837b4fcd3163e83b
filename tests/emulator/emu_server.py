"""emu_server.py - the HTTP(S) front of the emulator: persistent HTTP/1.1
connections, one thread per connection, TLS handshakes off the accept loop,
and the request pipeline the API gateway would run:

  route (404 APIGW.0101) -> count -> latency -> authenticate (401) ->
  project check (403) -> throttle (429) -> faults -> serve -> fault
  "mutate" ops -> log line -> send

Every answer carries X-Request-Id (and a Date from the emulator clock).
The latency sleep holds no lock, so parallel clients overlap like they
would against the real service.
"""
import email.utils
import http
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import itertools
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import emu_api
import emu_control
from emu_auth import Denied
from emu_common import JSON_TYPE, Request, api_not_found, csms_error, gateway_error, iso8601
from emu_sign import decode_component

MAX_BODY = 12 * 1024 * 1024     # the gateway's request size limit
IDLE_SECONDS = 120              # keep-alive connections idle longer are closed
HANDSHAKE_SECONDS = 10
DEFAULT_CODES = {429: "APIGW.0308", 401: "APIGW.0301", 502: "APIGW.0201", 503: "APIGW.0201",
                 504: "APIGW.0201", 400: "CSMS.0002", 404: "CSMS.0005"}
DEFAULT_MESSAGES = {429: "The throttling threshold has been reached: policy user over ratelimit, "
                         "limit:1, time:1 second",
                    401: "Incorrect IAM authentication information: decrypt token fail",
                    502: "Bad gateway", 503: "Service unavailable", 504: "Backend timeout"}


class App:
    """Everything the handlers share."""

    def __init__(self, store, auth, faults, settings, project_id, region, seed_secrets, log=None):
        self.seed_secrets = seed_secrets
        self.store = store
        self.auth = auth
        self.faults = faults
        self.settings = settings
        self.project_id = project_id
        self.region = region
        self.log = log
        self.log_lock = threading.Lock()
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(emu_api.ALL_APIS + ("unknown",), 0)
        self.requests = 0

    def reset(self):
        """Control API: back to the state at startup."""
        self.store.reset(self.seed_secrets)
        self.auth.reset()
        self.faults.reset()
        self.settings.reset()
        with self.lock:
            self.counts = dict.fromkeys(self.counts, 0)
            self.requests = 0

    def count(self, api):
        with self.lock:
            self.counts[api] = self.counts.get(api, 0) + 1
            self.requests += 1

    def counts_snapshot(self):
        with self.lock:
            return dict(self.counts)

    def write_log(self, line):
        with self.log_lock:
            self.log.write(line)


_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def next_request_id():
    """32 hex digits like the gateway's, unique per process.  A random prefix
    and a counter: os.urandom per request costs more than it is worth."""
    return "%s%016x" % (_ID_PREFIX, next(_ID_COUNTER))


_date_cache = (None, "")


def http_date(t):
    """The Date header, formatted once per second."""
    global _date_cache
    sec = int(t)
    if _date_cache[0] != sec:
        _date_cache = (sec, email.utils.formatdate(sec, usegmt=True))
    return _date_cache[1]


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
    headers = [("Retry-After", str(rule.retry_after))] if rule.retry_after is not None else []
    if code.startswith("APIG"):
        return gateway_error(req, status, code, message, headers)
    resp = csms_error(status, code, message)
    resp.headers.extend(headers)
    return resp


def apply_mutations(app, rules):
    for rule in rules:
        for op in rule.ops:
            if op["op"] == "delete_secret":
                app.store.remove_secret(op["secret"])
            elif op["op"] == "set_tag":
                app.store.edit_tags(op["secret"], {op["key"]: op["value"]}, [])
            else:
                app.store.edit_tags(op["secret"], {}, [op["key"]])


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "api-gateway"
    timeout = IDLE_SECONDS

    def log_message(self, format, *args):
        pass    # our own log line is written per request in dispatch()

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except OSError:     # the client went away or timed out: drop it
            self.close_connection = True

    # -- request -------------------------------------------------------------
    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        length = length.strip()
        if not length.isascii() or not length.isdigit():
            raise BadRequest(400, "invalid Content-Length")
        if int(length) > MAX_BODY:
            raise BadRequest(413, "Request entity too large")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionError("body cut short")
        return body

    def _read_chunked(self):
        body = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                n = int(line, 16)
            except ValueError:
                raise BadRequest(400, "invalid chunk size") from None
            if n == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(body)
            size += n
            if size > MAX_BODY:
                raise BadRequest(413, "Request entity too large")
            body.append(self.rfile.read(n))
            self.rfile.readline(3)

    def dispatch(self):
        app = self.server.app
        start = time.monotonic()
        rid = next_request_id()
        raw_path, _, raw_query = self.path.partition("?")
        req = Request(self.command, raw_path, raw_query, None, None, self.headers, b"", rid)
        api, mutations = None, []
        try:
            req.body = self._read_body()
            req.segments = [_decode(s) for s in raw_path.split("/")[1:]]
            req.query = _parse_query(raw_query)
            if len(req.segments) == 2 and req.segments[0] == "_emulator":
                api = "_emulator"
                resp = emu_control.handle(app, req, req.segments[1])
            else:
                resp, api, mutations = self._serve_api(app, req)
        except BadRequest as e:
            self.close_connection = True
            resp = gateway_error(req, e.status, "APIGW.0201", str(e))
        except OSError:     # the client went away mid-request: nothing to answer
            self.close_connection = True
            return
        except Exception:  # a bug must not kill the connection thread silently
            traceback.print_exc(file=sys.stderr)
            resp = gateway_error(req, 500, "APIGW.0201", "emulator internal error")
        # The answer is computed; the state changes and the log line come
        # before it leaves, so a client that has the answer always sees both.
        if mutations:
            apply_mutations(app, mutations)
        if app.log is not None:
            self._log(app, req, resp, api, start)
        self._send(app, req, resp)

    def _serve_api(self, app, req):
        """(answer, API name, mutate rules to apply after sending)."""
        r = emu_api.route(req.method, req.segments)
        api = r.api if r else "unknown"
        app.count(api)
        latency = app.settings.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)
        if r is None:
            return api_not_found(req), api, []
        if r.gateway:
            try:
                req.identity = app.auth.authenticate(req)
            except Denied as d:
                return d.response, api, []
            denied = self._check_project(app, req, r)
            if denied is None:
                denied = app.auth.throttle(req, req.identity)
            if denied is not None:
                return denied, api, []
        rule, mutations = app.faults.pick(api)
        req.fault = rule
        if rule is not None and rule.kind == "slow":
            time.sleep(rule.delay_ms / 1000.0)
        if rule is not None and rule.kind == "status":
            return fault_status(req, rule), api, mutations
        return r.handler(app, req, *r.args), api, mutations

    @staticmethod
    def _check_project(app, req, r):
        header = req.headers.get("X-Project-Id")
        if r.project_id is None and header is None:
            return None
        if (header is not None and header.strip() != (r.project_id or app.project_id)) or \
                (r.project_id is not None and r.project_id != app.project_id):
            return gateway_error(req, 403, "APIGW.0302",
                                 "The IAM user is not authorized to access the API: "
                                 "the project does not match the credentials")
        return None

    # -- answer ----------------------------------------------------------------
    def _send(self, app, req, resp):
        fault = req.fault.kind if req.fault is not None else None
        status, body, headers = resp.status, resp.body, resp.headers
        if fault in ("reset", "truncate") and not body:
            status, body = (200 if status == 204 else status), (
                '{"request_id":"%s"}' % req.request_id).encode()
            headers = [JSON_TYPE]
        if fault == "invalid_json":
            # Any proper prefix of a JSON object is invalid JSON.
            status, body = 200, (body[:len(body) // 2] if len(body) > 1 else b'{"resources":[{')
            headers = [JSON_TYPE] + [h for h in headers if h[0] != JSON_TYPE[0]]
        lines = ["HTTP/1.1 %d %s" % (status, self._phrase(status)),
                 "Date: " + http_date(app.settings.now()),
                 "Server: api-gateway",
                 "X-Request-Id: " + req.request_id]
        lines.extend("%s: %s" % h for h in headers)
        if status != 204 and status >= 200:
            lines.append("Content-Length: %d" % len(body))
        broken = fault in ("reset", "truncate")
        if self.close_connection or broken:
            lines.append("Connection: close")
        if req.method == "HEAD" or status == 204:
            body = b""
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if broken:
            self.close_connection = True
            self.wfile.write(head + body[:len(body) // 2])
            if fault == "reset":
                self._reset()
            return
        self.wfile.write(head + body)

    @staticmethod
    def _phrase(status):
        try:
            return http.HTTPStatus(status).phrase
        except ValueError:
            return "Status"

    def _reset(self):
        """Abort the connection with a TCP RST: SO_LINGER 0, then close the
        descriptor right away (the socket object is detached so nothing
        later sends a FIN first)."""
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.close(sock.detach())
        except OSError:
            pass

    def _log(self, app, req, resp, api, start):
        target = req.raw_path + ("?" + req.raw_query if req.raw_query else "")
        fault = req.fault.kind if req.fault is not None else "-"
        app.write_log("%s %s %s %s %d %s %s fault=%s %.1fms\n" % (
            iso8601(time.time()), self.client_address[0], req.method, _printable(target),
            resp.status, req.request_id, api or "-", fault, (time.monotonic() - start) * 1000))


for _method in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"):
    setattr(Handler, "do_" + _method, Handler.dispatch)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app, tls_context=None):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.tls = tls_context
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the connection's thread, so a slow or
        # failing client never holds up the accept loop.
        request.settimeout(HANDSHAKE_SECONDS)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return  # clients that go away are normal, not errors
        super().handle_error(request, client_address)
