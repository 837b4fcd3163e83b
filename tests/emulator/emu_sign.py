"""emu_sign.py - SDK-HMAC-SHA256 as the API gateway checks it, written from
csms-api.md 4.2 and section 6 (the Python SDK rule), independent of the
daemon's C signer.

The verifier rebuilds the canonical request from what arrived on the wire:
  - canonical URI: each path segment percent-decoded, re-encoded keeping only
    A-Z a-z 0-9 - _ . ~ (upper-case hex), joined with '/', plus a trailing '/';
  - canonical query: names and values decoded ('+' is a literal plus, not a
    space) and re-encoded the same way, 'name=value', sorted by name then
    value;
  - canonical headers: exactly the headers named in SignedHeaders, each
    'name:trimmed value' (a repeated header gives one line per value, sorted,
    as the Go SDK does), in the order listed;
  - payload hash: X-Sdk-Content-Sha256 when sent, else SHA-256 of the body.
"""
import calendar
import hashlib
import hmac
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def encode(data):
    """Percent-encode bytes or text (UTF-8): everything except RFC 3986
    unreserved characters, upper-case hex."""
    return quote(data, safe="")


def _raw_bytes(text):
    """The bytes of a wire string.  http.server decodes request lines and
    headers as ISO-8859-1, so that is how the original bytes come back;
    text outside that range can only come from a caller in this process,
    which means UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def decode_component(text):
    """Percent-decoded bytes of one wire path segment or query component."""
    return unquote_to_bytes(_raw_bytes(text))


def canonical_uri(raw_path):
    segments = [encode(decode_component(s)) for s in raw_path.split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query):
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((encode(decode_component(name)), encode(decode_component(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def canonical_headers(signed, get_all):
    """Header lines for the names in SIGNED; GET_ALL(name) returns the list
    of values received.  None when a signed header is missing."""
    lines = []
    for name in signed:
        values = get_all(name)
        if not values:
            return None
        for v in sorted(values) if len(values) > 1 else values:
            lines.append(name.encode("ascii") + b":" + _raw_bytes(v.strip()) + b"\n")
    return b"".join(lines)


def canonical_request(method, raw_path, raw_query, signed, get_all, payload_hash):
    """The canonical request as bytes, or None when a signed header is absent."""
    headers = canonical_headers(signed, get_all)
    if headers is None:
        return None
    return b"\n".join([method.upper().encode("ascii"),
                       canonical_uri(raw_path).encode("ascii"),
                       canonical_query(raw_query).encode("ascii"),
                       headers,
                       ";".join(signed).encode("ascii"),
                       payload_hash.encode("latin-1", "replace")])


def string_to_sign(sdk_date, canonical):
    return "%s\n%s\n%s" % (ALGORITHM, sdk_date, hashlib.sha256(canonical).hexdigest())


def signature(sk, sts):
    key = sk.encode("utf-8") if isinstance(sk, str) else sk
    return hmac.new(key, sts.encode("latin-1", "replace"), hashlib.sha256).hexdigest()


def payload_hash(body, get_all):
    explicit = get_all("x-sdk-content-sha256")
    return explicit[0].strip() if explicit else hashlib.sha256(body).hexdigest()


class Authorization:
    __slots__ = ("algorithm", "access", "signed_headers", "signature")

    def __init__(self, algorithm, access, signed_headers, sig):
        self.algorithm = algorithm
        self.access = access
        self.signed_headers = signed_headers
        self.signature = sig


def parse_authorization(value):
    """'SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex' ->
    Authorization, or None when it does not have that form."""
    if not value:
        return None
    algorithm, _, rest = value.strip().partition(" ")
    fields = {}
    for part in rest.split(","):
        name, eq, v = part.strip().partition("=")
        if not eq or name in fields:
            return None
        fields[name] = v.strip()
    access, signed, sig = fields.get("Access"), fields.get("SignedHeaders"), fields.get("Signature")
    if not access or not signed or not sig or set(fields) != {"Access", "SignedHeaders", "Signature"}:
        return None
    names = signed.split(";")
    if any(not n or n != n.lower() or not n.isascii() or any(c in n for c in " :\t")
           for n in names):
        return None
    return Authorization(algorithm, access, names, sig)


def parse_sdk_date(value):
    """Seconds since the epoch for 'YYYYMMDDTHHMMSSZ', or None.  (By hand:
    time.strptime costs more than the whole signature check.)"""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not digits.isascii() or not digits.isdigit():
        return None
    y, mo, d = int(value[:4]), int(value[4:6]), int(value[6:8])
    h, mi, s = int(value[9:11]), int(value[11:13]), int(value[13:15])
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60
            and s < 61):
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def expected_signature(auth, sk, method, raw_path, raw_query, get_all, body):
    """The signature the request should carry, or None when a header named
    in SignedHeaders was not sent."""
    canonical = canonical_request(method, raw_path, raw_query, auth.signed_headers, get_all,
                                  payload_hash(body, get_all))
    if canonical is None:
        return None
    return signature(sk, string_to_sign(get_all("x-sdk-date")[0].strip(), canonical))


def sign(ak, sk, method, raw_path, raw_query, headers, body):
    """Sign a request (test clients): HEADERS maps lower-case names to the
    values that will be sent, all of them signed.  Returns the
    Authorization header value."""
    names = sorted(headers)
    get_all = (lambda n: [headers[n]] if n in headers else [])
    canonical = canonical_request(method, raw_path, raw_query, names, get_all,
                                  payload_hash(body, get_all))
    sig = signature(sk, string_to_sign(headers["x-sdk-date"], canonical))
    return "%s Access=%s, SignedHeaders=%s, Signature=%s" % (ALGORITHM, ak, ";".join(names), sig)
