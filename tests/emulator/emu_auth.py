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
    the credentials handed out by the metadata service are unexpired;
  - so do temporary keys issued by agency assumption (emu_orgapi): they
    belong to the account that owns the agency and stop working at their
    expiry (emulator clock) with the same 401.
Every identity belongs to one account (emu_org): AKs and static tokens to
the account of the seed that lists them, IAM tokens to the user's account
and the project they are scoped to; req.account and req.scope say which.
Throttling is a token bucket of rate_limit requests/second per AK or token,
and one of each account's rate_limit for its CSMS requests (account_throttle).
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
    def __init__(self, org, settings):
        self.org = org
        self.settings = settings
        ecs = org.ecs
        self.ecs = ecs[0] if ecs else None
        self.ecs_account = ecs[1] if ecs else None
        self.lock = threading.Lock()
        self.tokens = {}            # IAM token -> (expiry, account, project id)
        self.temporary = {}         # agency AK -> (SK, security token, expiry, account)
        self.metadata_tokens = {}   # metadata session token -> expiry (emulator clock)
        self.ecs_until = 0.0        # temporary keys valid until (emulator clock)
        self.bad = {}               # AK -> consecutive bad signatures
        self.locked = {}            # AK -> monotonic time the lock ends
        self.buckets = {}           # caller -> [tokens, monotonic time]
        self.account_buckets = {}   # account id -> [tokens, monotonic time]

    # -- gateway authentication ----------------------------------------------
    def authenticate(self, req):
        """The caller's identity ("ak:..." or "token:..."), or raises Denied.
        Sets req.account (and req.scope, the project of an IAM token)."""
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
        account = self.org.tokens.get(token)
        if account is not None:
            req.account = account
            return "token:" + token
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None or entry[0] <= self.settings.now():
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: decrypt token fail"))
        req.account, req.scope = entry[1], entry[2]
        return "token:" + token

    def _aksk(self, req, value):
        parsed = emu_sign.parse_authorization(value)
        if parsed is None or parsed.algorithm != emu_sign.ALGORITHM:
            raise Denied(self._signature_fail(req, None))
        ak = parsed.access
        sk, account = self.org.aksk.get(ak, (None, None))
        ecs = self.ecs is not None and ak == self.ecs.get("ak")
        with self.lock:
            agency = self.temporary.get(ak)
        if ecs:
            sk, account = self.ecs["sk"], self.ecs_account
        elif agency is not None:
            sk, account = agency[0], agency[3]
        if sk is None:
            raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                       "Incorrect IAM authentication information: "
                                       "Get secretKey failed, ak not exist"))
        with self.lock:
            if self.locked.get(ak, 0) > time.monotonic():
                raise Denied(gateway_error(req.request_id, 401, "APIGW.0301",
                                           "Incorrect IAM authentication information: "
                                           "AK access failed to reach the limit, forbidden"))
        if ecs:
            with self.lock:
                valid = self.ecs_until > self.settings.now()
            self._check_security_token(req, self.ecs["security_token"], valid)
        elif agency is not None:
            self._check_security_token(req, agency[1], agency[2] > self.settings.now())
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
        req.account = account
        req.temporary = ecs or agency is not None
        return "ak:" + ak

    @staticmethod
    def _check_security_token(req, want, valid):
        sent = req.headers.get("X-Security-Token")
        if sent is None or sent.strip() != want or not valid:
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
        return self._bucket(req, self.buckets, caller, self.settings.rate_limit)

    def account_throttle(self, req, account):
        """None, or the 429 answer when ACCOUNT is over its rate_limit
        (the documented TPS per account, csms-api.md 7.3)."""
        return self._bucket(req, self.account_buckets, account.id, account.rate_limit)

    def _bucket(self, req, buckets, caller, rate):
        if rate <= 0:
            return None
        now = time.monotonic()
        with self.lock:
            bucket = buckets.setdefault(caller, [rate, now])
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
        """The user's account when the password is right, else None."""
        want, account = self.org.users.get((user, domain), (None, None))
        if want is not None and secrets.compare_digest(
                want.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass")):
            return account
        return None

    def issue_token(self, account, project_id):
        """A new project-scoped token: (token, issued_at, expires_at)."""
        token = "MIIemu" + secrets.token_urlsafe(96)
        issued = self.settings.now()
        expires = issued + self.settings.token_ttl
        with self.lock:
            self._drop_expired(self.tokens, issued, lambda e: e[0])
            self.tokens[token] = (expires, account, project_id)
        return token, issued, expires

    def issue_temporary(self, account, seconds):
        """Temporary AK/SK/security token of ACCOUNT (an assumed agency),
        valid SECONDS on the emulator clock: (ak, sk, token, expires_at)."""
        ak = "HST" + secrets.token_hex(10).upper()[:17]
        sk = secrets.token_urlsafe(30)
        token = "gQpjbi1emu" + secrets.token_urlsafe(240)
        expires = self.settings.now() + seconds
        with self.lock:
            self._drop_expired(self.temporary, self.settings.now(), lambda e: e[2])
            self.temporary[ak] = (sk, token, expires, account)
        return ak, sk, token, expires

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
    def _drop_expired(table, now, expiry=lambda e: e):
        if len(table) > 1000:
            for k in [k for k, e in table.items() if expiry(e) <= now]:
                del table[k]

    def reset(self):
        """Forget every issued token, lockout and throttling state."""
        with self.lock:
            for table in (self.tokens, self.metadata_tokens, self.bad, self.locked, self.buckets,
                          self.account_buckets, self.temporary):
                table.clear()
            self.ecs_until = 0.0

    def expire_all(self):
        """Control API: every issued token, metadata token and temporary key
        (ECS and agency) expires now (static seed tokens are the site's own
        and stay)."""
        with self.lock:
            self.tokens.clear()
            self.metadata_tokens.clear()
            self.temporary.clear()
            self.ecs_until = 0.0

