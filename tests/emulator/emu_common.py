"""emu_common.py - what every part of the CSMS emulator shares: the runtime
knobs (/_emulator/config changes them), the emulator's clock, the request
context, answers, and the error-body shapes of the real service
(csms-api.md 3.1): CSMS nested, API gateway flat, Keystone (IAM)."""
import json
import math
import threading
import time
from datetime import datetime, timezone


class Settings:
    """Knobs that tests change while the emulator runs.  Plain attribute reads
    are atomic in CPython, so request threads read them without a lock."""

    KNOBS = (
        "latency_ms",       # sleep before answering each API request
        "rate_limit",       # requests/second per AK or token, 0 = off
        "token_ttl",        # life of IAM tokens, seconds
        "clock_offset",     # emulator clock = real clock + offset, seconds
        "lockout_seconds",  # how long 5 bad signatures lock an AK
        "list_page_max",    # ListSecrets answers at most this many per page, 0 = the limit asked
        "list_order",       # ListSecrets order: "byte", "casefold" or "reverse"
    )
    ORDERS = ("byte", "casefold", "reverse")

    def __init__(self, latency_ms=0, rate_limit=0, token_ttl=86400, clock_offset=0,
                 lockout_seconds=300, list_page_max=0, list_order="byte"):
        self.latency_ms = float(latency_ms)
        self.rate_limit = float(rate_limit)
        self.token_ttl = float(token_ttl)
        self.clock_offset = float(clock_offset)
        self.lockout_seconds = float(lockout_seconds)
        self.list_page_max = float(list_page_max)
        self.list_order = list_order
        self.lock = threading.Lock()
        self.initial = self.as_dict()

    def now(self):
        """The emulator's wall clock: what X-Sdk-Date and token times are
        compared with (the clock-skew scenarios move it)."""
        return time.time() + self.clock_offset

    def update(self, changes):
        """Apply {knob: number}; all or nothing.  Raises ValueError."""
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object")
        parsed = {}
        for name, value in changes.items():
            if name not in self.KNOBS:
                raise ValueError("unknown setting %r" % name)
            if name == "list_order":
                if value not in self.ORDERS:
                    raise ValueError("list_order: one of %s" % ", ".join(self.ORDERS))
                parsed[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value):
                raise ValueError("%s: expected a number" % name)
            if name != "clock_offset" and value < 0:
                raise ValueError("%s: must not be negative" % name)
            parsed[name] = float(value)
        with self.lock:
            for name, value in parsed.items():
                setattr(self, name, value)

    def reset(self):
        self.update(self.initial)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.KNOBS}


def iso8601(t):
    """UTC time with microseconds, the way IAM and the metadata service
    write it: 2020-01-04T09:05:22.701000Z."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wire_text(s):
    """UTF-8 bytes of S.  Lone surrogates that JSON input can smuggle in
    (\\udcff) become the raw bytes they stand for, so a test can make the
    API answer with invalid UTF-8 on purpose."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass")


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Request:
    """One API request as the handlers see it.  raw_path is the path exactly
    as sent (still percent-encoded); segments are the decoded path segments;
    query holds decoded (name, value) pairs in wire order."""

    __slots__ = ("method", "raw_path", "raw_query", "segments", "query", "headers", "body",
                 "request_id", "identity", "fault", "secret_id", "key", "account", "scope",
                 "temporary", "project", "store", "broken")

    def __init__(self, method, raw_path, raw_query, segments, query, headers, body, request_id):
        self.method = method
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.segments = segments
        self.query = query
        self.headers = headers
        self.body = body
        self.request_id = request_id
        self.identity = None
        self.fault = None
        self.secret_id = None   # for the request log: the secret and tag key in the path
        self.key = None
        self.account = None     # the caller's account (emu_org.Account), once authenticated
        self.scope = None       # the project id an IAM token is scoped to
        self.temporary = False  # signed with temporary keys (X-Security-Token)
        self.project = None     # the emu_org.Project the path names
        self.store = None       # its secrets
        self.broken = None      # "reset": abort the connection instead of answering

    def query_value(self, name, default=None):
        for n, v in self.query:
            if n == name:
                return v
        return default

    def json_body(self):
        """The body as a JSON object, or None when it is not one."""
        try:
            obj = json.loads(self.body.decode("utf-8"))
        except (ValueError, RecursionError):   # not UTF-8, not JSON, or absurdly nested
            return None
        return obj if isinstance(obj, dict) else None


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status, body=b"", headers=None):
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []


JSON_TYPE = ("Content-Type", "application/json;charset=UTF-8")


def json_response(status, obj, headers=None):
    return Response(status, wire_text(dumps(obj)), [JSON_TYPE] + (headers or []))


def raw_json_response(status, text, headers=None):
    return Response(status, wire_text(text), [JSON_TYPE] + (headers or []))


def csms_error(status, code, message):
    """CSMS service error, nested shape (documented for the tag APIs)."""
    return json_response(status, {"error": {"error_code": code, "error_msg": message}})


def gateway_error(request_id, status, code, message, headers=None):
    """API gateway error, flat shape with the request id."""
    return json_response(status, {"error_code": code, "error_msg": message,
                                  "request_id": request_id}, headers)


def keystone_error(status, title, message):
    """IAM (Keystone) error shape."""
    return json_response(status, {"error": {"code": status, "title": title, "message": message}})


def api_not_found(req):
    return gateway_error(req.request_id, 404, "APIGW.0101",
                         "The API does not exist or has not been published in the environment")
