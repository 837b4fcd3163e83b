"""emu_auth.py - who may call: AK/SK signatures, IAM tokens, the ECS
agency's temporary keys, the AK lockout and per-caller throttling.

Gateway behaviour (csms-api.md 3.3, 3.4, 4, 6), all answered with 401 in
the flat APIGW shape:
  - X-Auth-Token: an IAM-issued token until it expires, or a static seed
    token; anything else "decrypt token fail";
  - Authorization: SDK-HMAC-SHA256 (emu_sign) with x-sdk-date signed; a date
    more than 15 minutes from the emulator clock is APIGW.0303 and does not
    count as a bad signature; 5 bad signatures in a row lock the AK for
    lockout_seconds, and while locked every request with it gets
    "AK access failed to reach the limit, forbidden";
  - the ECS temporary AK also needs X-Security-Token, and only works while
    the credentials handed out by the metadata service are unexpired.
Throttling is a token bucket of rate_limit requests/second per AK or token.
Lockouts and buckets run on the monotonic clock: moving the emulator clock
changes what "now" means for dates and tokens, not how long a lock lasts.
"""
import math
import secrets
import threading
import time

import emu_sign
from emu_common import gateway_error

SKEW_SECONDS = 15 * 60
MAX_BAD_SIGNATURES = 5


class Denied(Exception):
    """Authentication failed; .response is the answer to send."""

    def __init__(self, response):
        super().__init__()
        self.response = response


class Auth:
    def __init__(self, credentials, settings, project_id, region):
        c = credentials or {}
        self.settings = settings
        self.project_id = project_id
        self.region = region
        self.aksk = {e["ak"]: e["sk"] for e in c.get("aksk", [])}
        self.users = {(u["name"], u["domain"]): u["password"] for u in c.get("users", [])}
        self.static_tokens = set(c.get("tokens", []))
        self.ecs = c.get("ecs")
        self.lock = threading.Lock()
        self.tokens = {}            # IAM token -> expiry (emulator clock)
        self.metadata_tokens = {}   # metadata session token -> expiry (emulator clock)
        self.ecs_until = 0.0        # temporary keys valid until (emulator clock)
        self.bad = {}               # AK -> consecutive bad signatures
        self.locked = {}            # AK -> monotonic time the lock ends
        self.buckets = {}           # caller -> [tokens, monotonic time]

    # -- gateway authentication ----------------------------------------------
    def authenticate(self, req):
        """The caller's identity ("ak:..." or "token:..."), or raises Denied."""
        token = req.headers.get("X-Auth-Token")
        if token is not None:
            return self._token(req, token.strip())
        auth = req.headers.get("Authorization")
        if auth is None:
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: "
                                       "no X-Auth-Token or Authorization header"))
        return self._aksk(req, auth)

    def _token(self, req, token):
        if token in self.static_tokens:
            return "token:" + token
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None or expiry <= self.settings.now():
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: decrypt token fail"))
        return "token:" + token

    def _aksk(self, req, value):
        parsed = emu_sign.parse_authorization(value)
        if parsed is None or parsed.algorithm != emu_sign.ALGORITHM:
            raise Denied(self._signature_fail(req, None))
        ak = parsed.access
        sk = self.aksk.get(ak)
        temporary = self.ecs is not None and ak == self.ecs.get("ak")
        if temporary:
            sk = self.ecs["sk"]
        if sk is None:
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: "
                                       "Get secretKey failed, ak not exist"))
        with self.lock:
            if self.locked.get(ak, 0) > time.monotonic():
                raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                           "Incorrect IAM authentication information: "
                                           "AK access failed to reach the limit, forbidden"))
        if temporary:
            self._check_security_token(req)
        get_all = req.headers.get_all
        dates = get_all("x-sdk-date") or []
        if "x-sdk-date" not in parsed.signed_headers or len(dates) != 1:
            raise Denied(self._signature_fail(req, ak))
        when = emu_sign.parse_sdk_date(dates[0].strip())
        if when is None:
            raise Denied(self._signature_fail(req, ak))
        if abs(when - self.settings.now()) > SKEW_SECONDS:
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0303",
                                       "Incorrect app authentication information: the request time "
                                       "%s differs from the gateway time %s by more than 15 minutes"
                                       % (dates[0].strip(), time.strftime(
                                           "%Y%m%dT%H%M%SZ", time.gmtime(self.settings.now())))))
        want = emu_sign.expected_signature(parsed, sk, req.method, req.raw_path, req.raw_query,
                                           lambda n: get_all(n) or [], req.body)
        if want is None or not secrets.compare_digest(want, parsed.signature):
            raise Denied(self._signature_fail(req, ak))
        with self.lock:
            self.bad.pop(ak, None)
        return "ak:" + ak

    def _check_security_token(self, req):
        sent = req.headers.get("X-Security-Token")
        with self.lock:
            valid = self.ecs_until > self.settings.now()
        if sent is None or sent.strip() != self.ecs.get("security_token") or not valid:
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: "
                                       "the security token is missing, wrong or expired"))

    def _signature_fail(self, req, ak):
        if ak is not None:
            with self.lock:
                n = self.bad.get(ak, 0) + 1
                if n >= MAX_BAD_SIGNATURES:
                    self.locked[ak] = time.monotonic() + self.settings.lockout_seconds
                    n = 0
                self.bad[ak] = n
        return gateway_error(req.request_id, 401, "APIGW.0301",
                             "Incorrect IAM authentication information: verify aksk signature fail")

    # -- throttling -------------------------------------------------------------
    def throttle(self, req, caller):
        """None, or the 429 answer when CALLER is over rate_limit."""
        rate = self.settings.rate_limit
        if rate <= 0:
            return None
        now = time.monotonic()
        with self.lock:
            bucket = self.buckets.setdefault(caller, [rate, now])
            bucket[0] = min(rate, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                return None
            wait = max(1, math.ceil((1 - bucket[0]) / rate))
        return gateway_error(req.request_id, 429, "APIGW.0308",
                             "The throttling threshold has been reached: policy user over ratelimit, "
                             "limit:%g, time:1 second" % rate, [("Retry-After", str(wait))])

    # -- IAM and the metadata service -----------------------------------------
    def check_password(self, user, domain, password):
        want = self.users.get((user, domain))
        return want is not None and secrets.compare_digest(
            want.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass"))

    def issue_token(self):
        """A new project-scoped token: (token, issued_at, expires_at)."""
        token = "MIIemu" + secrets.token_urlsafe(96)
        issued = self.settings.now()
        expires = issued + self.settings.token_ttl
        with self.lock:
            self._drop_expired(self.tokens, issued)
            self.tokens[token] = expires
        return token, issued, expires

    def issue_metadata_token(self, ttl):
        token = secrets.token_urlsafe(32)
        now = self.settings.now()
        with self.lock:
            self._drop_expired(self.metadata_tokens, now)
            self.metadata_tokens[token] = now + ttl
        return token

    def metadata_token_valid(self, token):
        with self.lock:
            return self.metadata_tokens.get(token, 0) > self.settings.now()

    def issue_ecs_credentials(self):
        """(ak, sk, security_token, expires_at) handed out by securitykey."""
        e = self.ecs
        expires = self.settings.now() + float(e.get("expires_in", 3600))
        with self.lock:
            self.ecs_until = expires
        return e["ak"], e["sk"], e["security_token"], expires

    @staticmethod
    def _drop_expired(table, now):
        if len(table) > 1000:
            for k in [k for k, t in table.items() if t <= now]:
                del table[k]

    def reset(self):
        """Forget every issued token, lockout and throttling state."""
        with self.lock:
            for table in (self.tokens, self.metadata_tokens, self.bad, self.locked, self.buckets):
                table.clear()
            self.ecs_until = 0.0

    def expire_all(self):
        """Control API: every issued token, metadata token and temporary key
        expires now (static seed tokens are the site's own and stay)."""
        with self.lock:
            self.tokens.clear()
            self.metadata_tokens.clear()
            self.ecs_until = 0.0
