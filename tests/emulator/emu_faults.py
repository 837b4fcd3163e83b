"""emu_faults.py - switchable faults (POST /_emulator/faults).

A rule applies to requests of one API (or "*") that passed authentication.
Of those, it skips the first `after`, then fires with probability `rate`,
at most `count` times.  Per request the first firing rule of a response
kind decides the answer; every firing "mutate" rule changes the state right
after the answer is computed and before it is sent (so the answer shows the
old state, and any request the client sends next sees the new one).  Kinds:
  status                answer STATUS with an error body instead of serving;
  reset                 serve, then send headers and half the body and reset
                        the connection (RST);
  truncate              serve, then send headers and half the body and close
                        (curl: partial file);
  invalid_json          serve, then answer 200 with a cut JSON body;
  slow                  sleep delay_ms, then serve;
  total_count_mismatch  ListResourceInstances only: total_count + delta;
  mutate                apply ops after serving;
  ignore                answer 204 without doing anything (a service that
                        silently drops a delete);
  hold                  park the request until the control API releases it
                        (POST /_emulator/release) or hold_ms pass, then
                        serve it with the state of that moment: a test can
                        wait (GET /_emulator/holds) until the client is
                        pending at a boundary, act, and release;
  echo                  like status, with the whole request (method, target,
                        every header, body) as the error message: a gateway
                        that echoes what it got (the leak test).
Fields: api ("*"), kind, status (500), error_code and error_msg (defaults per
status: APIGW.0308 for 429, APIGW.0301 for 401, APIGW.0201 for 502-504,
CSMS.0002 for 400, CSMS.0005 for 404, CSMS.0001 otherwise; APIG* codes get
the gateway's flat shape, others the CSMS nested one),
retry_after (seconds, sent as Retry-After), delay_ms (1000), rate (1.0),
after (0), count (unlimited), delta (3, for total_count_mismatch, up to
10^12), hold_ms (60000), after_api (the rule only matches once a request of
that API has been answered, e.g. the verification read that follows a
DeleteSecretTag), ops
(mutate: [{"op": "delete_secret"|"set_tag"|"remove_tag", "secret", "key",
"value"}]).  Unknown fields are refused, so a typo cannot silently disable
a scenario.
"""
import math
import random
import threading

KINDS = ("status", "reset", "truncate", "invalid_json", "slow", "total_count_mismatch", "mutate",
         "ignore", "hold", "echo")
OPS = {"delete_secret": ("secret",), "set_tag": ("secret", "key", "value"),
       "remove_tag": ("secret", "key")}
FIELDS = {"api", "kind", "status", "error_code", "error_msg", "retry_after", "delay_ms", "rate",
          "after", "count", "ops", "delta", "hold_ms", "after_api"}
RI = "ListResourceInstances"


def _number(rule, name, default, lo, hi, integer=False):
    v = rule.get(name, default)
    if v is None and default is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            (integer and v != int(v)):
        raise ValueError("%s: expected a%s number" % (name, "n integer" if integer else ""))
    if not lo <= v <= hi:
        raise ValueError("%s: out of range %s..%s" % (name, lo, hi))
    return int(v) if integer else float(v)


def _ops(rule):
    ops = rule.get("ops")
    if not isinstance(ops, list) or not ops:
        raise ValueError("mutate: ops must be a non-empty list")
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in OPS:
            raise ValueError("ops: op must be one of %s" % ", ".join(OPS))
        for field in OPS[op["op"]]:
            if not isinstance(op.get(field), str):
                raise ValueError("ops: %s needs a string %r" % (op["op"], field))
    return [dict(op) for op in ops]


class Rule:
    def __init__(self, obj, apis):
        if not isinstance(obj, dict):
            raise ValueError("a rule must be an object")
        unknown = set(obj) - FIELDS
        if unknown:
            raise ValueError("unknown rule field(s): %s" % ", ".join(sorted(unknown)))
        self.api = obj.get("api", "*")
        self.kind = obj.get("kind")
        if self.api != "*" and self.api not in apis:
            raise ValueError("api must be \"*\" or one of %s" % ", ".join(apis))
        if self.kind not in KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(KINDS))
        self.status = _number(obj, "status", 500, 100, 599, integer=True)
        self.error_code = obj.get("error_code")
        self.error_msg = obj.get("error_msg")
        for name in ("error_code", "error_msg"):
            if obj.get(name) is not None and not isinstance(obj[name], str):
                raise ValueError("%s must be a string" % name)
        self.retry_after = _number(obj, "retry_after", None, 0, 86400, integer=True)
        self.delay_ms = _number(obj, "delay_ms", 1000, 0, 600000)
        self.rate = _number(obj, "rate", 1.0, 0.0, 1.0)
        self.after = _number(obj, "after", 0, 0, 1 << 31, integer=True)
        self.count = _number(obj, "count", None, 0, 1 << 31, integer=True)
        self.delta = _number(obj, "delta", 3, 1, 10 ** 12, integer=True)
        self.hold_ms = _number(obj, "hold_ms", 60000, 0, 600000)
        self.after_api = obj.get("after_api")
        if self.after_api is not None and self.after_api not in apis:
            raise ValueError("after_api must be one of %s" % ", ".join(apis))
        self.ops = _ops(obj) if self.kind == "mutate" else []
        self.source = dict(obj)
        self.matched = 0
        self.applied = 0

    def matches(self, api, answered):
        if self.kind == "total_count_mismatch" and api != RI:
            return False
        if self.after_api is not None and self.after_api not in answered:
            return False
        return self.api == "*" or self.api == api

    def as_dict(self):
        d = dict(self.source)
        d["matched"] = self.matched
        d["applied"] = self.applied
        return d


class Faults:
    def __init__(self, apis, seed=None):
        self.apis = tuple(apis)
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.rules = []
        self.injected = 0
        self.answered = set()      # APIs answered since the last reset (after_api)

    def replace(self, rules):
        """New rule list (all or nothing).  Raises ValueError."""
        if not isinstance(rules, list):
            raise ValueError("rules must be a list")
        parsed = [Rule(r, self.apis) for r in rules]
        with self.lock:
            self.rules = parsed

    def reset(self):
        with self.lock:
            self.rules = []
            self.injected = 0
            self.answered = set()

    def note_answered(self, api):
        if api not in self.answered:
            with self.lock:
                self.answered.add(api)

    def describe(self):
        with self.lock:
            return [r.as_dict() for r in self.rules]

    def pick(self, api):
        """(the rule deciding the answer or None, [firing mutate rules])."""
        if not self.rules:
            return None, []
        chosen, mutates = None, []
        with self.lock:
            for r in self.rules:
                if not r.matches(api, self.answered):
                    continue
                r.matched += 1
                if r.kind != "mutate" and chosen is not None:
                    continue
                if r.matched <= r.after or (r.count is not None and r.applied >= r.count):
                    continue
                if r.rate < 1.0 and self.rng.random() >= r.rate:
                    continue
                r.applied += 1
                self.injected += 1
                if r.kind == "mutate":
                    mutates.append(r)
                else:
                    chosen = r
        return chosen, mutates


class _Parked:
    __slots__ = ("request", "released")

    def __init__(self, request):
        self.request = request      # {"api", "secret", "key"}
        self.released = False


class Holds:
    """Requests parked by "hold" rules, released by the control API, by
    their rule's hold_ms, or all at once on reset."""

    def __init__(self):
        self.cond = threading.Condition()
        self.parked = []        # waiting requests, oldest first
        self.total = 0

    def park(self, request, seconds):
        entry = _Parked(request)
        with self.cond:
            self.parked.append(entry)
            self.total += 1
            self.cond.wait_for(lambda: entry.released, timeout=seconds)
            if not entry.released:      # timed out: still listed
                self.parked.remove(entry)

    def release(self, count=None):
        """Release the COUNT oldest parked requests (all when None)."""
        with self.cond:
            chosen = self.parked if count is None else self.parked[:count]
            for entry in chosen:
                entry.released = True
            self.parked = self.parked[len(chosen):]
            self.cond.notify_all()
            return len(chosen)

    def describe(self):
        with self.cond:
            return {"parked": len(self.parked), "requests": [e.request for e in self.parked],
                    "total": self.total}

    def reset(self):
        self.release()
        with self.cond:
            self.total = 0
