"""emu_store.py - the project's secrets and their tags.

Secrets are indexed by id and by name, with a sorted name list for marker
paging and offset paging, so no request scans the whole project unless it
filters.  Each secret caches its JSON text (the Secret object, and the
ListResourceInstances entry with tags); a tag change drops the cache.
One lock guards everything; callers get copies or immutable JSON text.

Tag rules as CSMS checks them (csms-api.md 2.9): key 1-128 characters of
Unicode letters, separators and digits plus _ . : = + - @, no leading or
trailing white space, no _sys_ prefix; value 0-255 characters, the same
set plus '/'; at most 20 tags per secret.
"""
import bisect
import threading
import unicodedata
import uuid

from emu_common import dumps, iso8601

MAX_TAGS = 20
MAX_KEY = 128
MAX_VALUE = 255
KEY_EXTRA = set("_.:=+-@")
VALUE_EXTRA = KEY_EXTRA | {"/"}
STATES = ("ENABLED", "DISABLED", "PENDING_DELETE", "FROZEN")
BASE_TIME_MS = 1700000000000      # fixed, so generated projects are reproducible
DAY_MS = 86400 * 1000

# Secret object fields besides id, name and state, with their defaults.
DETAIL_DEFAULTS = {
    "kms_key_id": "00000000-0000-4000-8000-00000000c5c5",
    "description": "",
    "create_time": BASE_TIME_MS,
    "update_time": BASE_TIME_MS,
    "scheduled_delete_time": None,
    "secret_type": "COMMON",
    "auto_rotation": False,
    "rotation_period": "",
    "rotation_config": "",
    "rotation_time": BASE_TIME_MS,
    "next_rotation_time": None,
    "event_subscriptions": [],
    "enterprise_project_id": "0",
    "rotation_func_urn": "",
}


def _allowed(c, extra):
    return c in extra or unicodedata.category(c)[0] in "LZN"


def check_key(key):
    """None when KEY is a valid tag key, else the reason."""
    if not isinstance(key, str):
        return "tag key must be a string"
    if not 1 <= len(key) <= MAX_KEY:
        return "tag key length must be 1 to %d characters" % MAX_KEY
    if key != key.strip():
        return "tag key must not start or end with white space"
    if key.startswith("_sys_"):
        return "tag key must not start with _sys_"
    if not all(_allowed(c, KEY_EXTRA) for c in key):
        return "tag key contains an invalid character"
    return None


def check_value(value):
    if not isinstance(value, str):
        return "tag value must be a string"
    if len(value) > MAX_VALUE:
        return "tag value length must be 0 to %d characters" % MAX_VALUE
    if not all(_allowed(c, VALUE_EXTRA) for c in value):
        return "tag value contains an invalid character"
    return None


def tag_list(tags):
    return [{"key": k, "value": v} for k, v in tags.items()]


class Secret:
    __slots__ = ("id", "name", "state", "tags", "sys_tags", "detail", "_object_json",
                 "_resource_json")

    def __init__(self, sid, name, state, tags, sys_tags, detail):
        self.id = sid
        self.name = name
        self.state = state
        self.tags = tags
        self.sys_tags = sys_tags
        self.detail = detail
        self._object_json = None
        self._resource_json = None

    def secret_object(self):
        obj = {"id": self.id, "name": self.name, "state": self.state}
        obj.update(self.detail)
        return obj

    def object_json(self):
        if self._object_json is None:
            self._object_json = dumps(self.secret_object())
        return self._object_json

    def resource_json(self):
        """The ListResourceInstances entry; rebuilt after a tag change."""
        if self._resource_json is None:
            self._resource_json = dumps({"resource_id": self.id, "resource_name": self.name,
                                         "resource_detail": self.secret_object(),
                                         "tags": tag_list(self.tags),
                                         "sys_tags": tag_list(self.sys_tags)})
        return self._resource_json

    def tags_changed(self):
        self._resource_json = None

    def state_dict(self):
        return {"id": self.id, "name": self.name, "state": self.state,
                "tags": dict(self.tags), "sys_tags": dict(self.sys_tags)}


def _string_map(obj, what):
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in obj.items()):
        raise ValueError("%s must be an object of strings" % what)
    return dict(obj)


def secret_from_seed(obj):
    """A Secret from its seed / control-API JSON.  Tags are not checked
    against the CSMS rules: tests may plant what the API would refuse.
    Raises ValueError."""
    if not isinstance(obj, dict):
        raise ValueError("a secret must be an object")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a secret needs a non-empty name")
    sid = obj.get("id")
    if sid is None:     # derived from the name, so a reset gives the same id
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, "csms-emulator:" + name))
    if not isinstance(sid, str) or not sid:
        raise ValueError("secret %r: id must be a non-empty string" % name)
    state = obj.get("state", "ENABLED")
    if not isinstance(state, str):
        raise ValueError("secret %r: state must be a string" % name)
    detail = dict(DETAIL_DEFAULTS)
    if state == "PENDING_DELETE":
        detail["scheduled_delete_time"] = BASE_TIME_MS + 7 * DAY_MS
    for field in DETAIL_DEFAULTS:
        if field in obj:
            detail[field] = obj[field]
    return Secret(sid, name, state, _string_map(obj.get("tags"), "tags"),
                  _string_map(obj.get("sys_tags"), "sys_tags"), detail)


GENERATED_KEYS = ["owner", "env", "team", "cost-center", "app", "tier", "service", "backup",
                  "region", "data-class", "on-call", "release", "shard", "zone", "ticket",
                  "budget", "sla", "version", "contact", "purpose"]


def generate(n, tags_per_secret, stray_fraction, rng):
    """N secrets app-00000... with TAGS_PER_SECRET tags each; of all tags,
    round(fraction * total) chosen at random are named stray-<i> (the rest
    carry ordinary keys).  Deterministic for a given RNG state."""
    if not 0 <= tags_per_secret <= MAX_TAGS:
        raise ValueError("--tags-per-secret must be 0 to %d" % MAX_TAGS)
    if not 0 <= stray_fraction <= 1:
        raise ValueError("--stray-fraction must be 0 to 1")
    total = n * tags_per_secret
    stray = set(rng.sample(range(total), round(total * stray_fraction))) if total else set()
    secrets = []
    for i in range(n):
        tags = {}
        for j in range(tags_per_secret):
            key = ("stray-%d" % j) if i * tags_per_secret + j in stray else GENERATED_KEYS[j]
            tags[key] = "v%d-%d" % (i, rng.randrange(1000))
        secrets.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "name": "app-%05d" % i, "state": "ENABLED", "tags": tags,
                        "sys_tags": {"_sys_enterprise_project_id": "0"},
                        "create_time": BASE_TIME_MS + i * 1000,
                        "update_time": BASE_TIME_MS + i * 1000})
    return secrets


class Store:
    def __init__(self, secrets, clock):
        self.lock = threading.Lock()
        self.clock = clock
        self.by_id = {}
        self.by_name = {}
        self.names = []
        self.deleted = []
        self.upsert(secrets, replace=True)

    def reset(self, secrets):
        self.upsert(secrets, replace=True)
        with self.lock:
            self.deleted = []

    # -- changes from the control API and fault "mutate" ops ----------------
    def upsert(self, objs, replace=False):
        """Add or replace secrets (matched by id, then by name).  All or
        nothing: raises ValueError before changing anything."""
        if not isinstance(objs, list):
            raise ValueError("secrets must be a list")
        with self.lock:
            new = [secret_from_seed(o) for o in objs]
            ids = [s.id for s in new]
            names = [s.name for s in new]
            if len(set(ids)) != len(ids) or len(set(names)) != len(names):
                raise ValueError("duplicate secret id or name")
            if replace:
                self.by_id, self.by_name, self.names = {}, {}, []
            for s in new:
                s.resource_json()   # JSON texts made now, not during a timed pass
                s.object_json()
                for old in (self.by_id.get(s.id), self.by_name.get(s.name)):
                    if old is not None:
                        self._remove(old)
                self.by_id[s.id] = s
                self.by_name[s.name] = s
                bisect.insort(self.names, s.name)
        return len(new)

    def _remove(self, s):
        if self.by_id.get(s.id) is s:
            del self.by_id[s.id]
        if self.by_name.get(s.name) is s:
            del self.by_name[s.name]
            i = bisect.bisect_left(self.names, s.name)
            if i < len(self.names) and self.names[i] == s.name:
                del self.names[i]

    def remove_secret(self, name):
        with self.lock:
            s = self.by_name.get(name)
            if s is None:
                return False
            self._remove(s)
            return True

    def edit_tags(self, name, set_tags, remove):
        """Control API: set and remove tags without any CSMS rule.  Returns
        the secret's new state, or None when there is no such secret."""
        with self.lock:
            s = self.by_name.get(name)
            if s is None:
                return None
            for k in remove:
                s.tags.pop(k, None)
            s.tags.update(set_tags)
            s.tags_changed()
            return s.state_dict()

    # -- reads ---------------------------------------------------------------
    def list_page(self, marker, limit, event_name=None, order="byte"):
        """ListSecrets: up to LIMIT Secret JSON texts after name MARKER
        (exclusive) in ORDER ("byte", "casefold": case-insensitive with
        byte order between equal folds, "reverse": descending bytes), and
        whether more follow.  A marker that is no longer a secret's name
        still positions the page by where it would sort."""
        with self.lock:
            if order == "byte":
                names, start = self.names, (bisect.bisect_right(self.names, marker)
                                            if marker else 0)
            elif order == "reverse":
                names = self.names[::-1]
                start = len(names) - bisect.bisect_left(self.names, marker) if marker else 0
            else:
                def fold(n):
                    return (n.casefold(), n)
                names = sorted(self.names, key=fold)
                start = bisect.bisect_right([fold(n) for n in names], fold(marker)) \
                    if marker else 0
            out, i = [], start
            while i < len(names) and len(out) < limit:
                s = self.by_name[names[i]]
                i += 1
                if event_name is None or event_name in (s.detail.get("event_subscriptions") or []):
                    out.append((s.name, s.object_json()))
            more = i < len(names)
        return out, more

    def name_of(self, sid):
        with self.lock:
            s = self.by_id.get(sid)
            return s.name if s else None

    def show(self, name):
        with self.lock:
            s = self.by_name.get(name)
            return s.object_json() if s else None

    def tags_of(self, sid):
        with self.lock:
            s = self.by_id.get(sid)
            return (tag_list(s.tags), tag_list(s.sys_tags)) if s else None

    def project_tags(self):
        """ListProjectSecretsTags: every key with its distinct values."""
        with self.lock:
            keys = {}
            for s in self.by_id.values():
                for k, v in s.tags.items():
                    values = keys.setdefault(k, [])
                    if v not in values:
                        values.append(v)
        return [{"key": k, "values": v} for k, v in sorted(keys.items())]

    def resources(self, offset, limit, tag_filter, name_match):
        """ListResourceInstances: (JSON texts of the page, total_count).
        OFFSET counts records.  Without filters this touches only the page."""
        with self.lock:
            if not tag_filter and name_match is None:
                names = self.names[offset:offset + limit] if limit else []
                return [self.by_name[n].resource_json() for n in names], len(self.names)
            hits = [self.by_name[n] for n in self.names
                    if self._matches(self.by_name[n], tag_filter, name_match)]
            return [s.resource_json() for s in hits[offset:offset + limit]], len(hits)

    @staticmethod
    def _matches(s, tag_filter, name_match):
        if name_match is not None and name_match not in s.name:
            return False
        for key, values in tag_filter:
            if key not in s.tags or (values and s.tags[key] not in values):
                return False
        return True

    def deletions(self):
        """The records of tags deleted through the tag APIs, oldest first."""
        with self.lock:
            return list(self.deleted)

    def snapshot(self):
        with self.lock:
            return ([self.by_name[n].state_dict() for n in self.names], list(self.deleted))

    # -- tag APIs --------------------------------------------------------------
    def delete_tag(self, sid, key):
        """DeleteSecretTag: "ok", "no-secret" or "no-tag"."""
        with self.lock:
            s = self.by_id.get(sid)
            if s is None:
                return "no-secret"
            if key not in s.tags:
                return "no-tag"
            self._record_delete(s, key)
            s.tags_changed()
            return "ok"

    def _record_delete(self, s, key):
        value = s.tags.pop(key)
        self.deleted.append({"secret_id": s.id, "secret_name": s.name, "key": key,
                             "value": value, "time": iso8601(self.clock())})

    def create_tags(self, sid, tags):
        """Create or overwrite validated tags: None, "no-secret" or "too-many"."""
        with self.lock:
            s = self.by_id.get(sid)
            if s is None:
                return "no-secret"
            new = [k for k, _ in tags if k not in s.tags]
            if len(s.tags) + len(set(new)) > MAX_TAGS:
                return "too-many"
            for k, v in tags:
                s.tags[k] = v
            s.tags_changed()
            return None

    def delete_tags(self, sid, tags):
        """Batch delete: a tag goes when its key matches and, if a value was
        given, the value too; absent tags are ignored.  None or "no-secret"."""
        with self.lock:
            s = self.by_id.get(sid)
            if s is None:
                return "no-secret"
            for k, v in tags:
                if k in s.tags and (v is None or s.tags[k] == v):
                    self._record_delete(s, k)
            s.tags_changed()
            return None
