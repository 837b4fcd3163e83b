#!/usr/bin/env python3
"""test_emulator.py - the CSMS emulator's self-test (unittest, stdlib).

The signature checker against the official SDK vectors (signing-vectors.md,
only the numbers needed are copied here), then the real emulator process
over HTTP and HTTPS: paging, error shapes, validation, lockout, clock skew,
throttling, token expiry, temporary keys, faults, the control API, logging
and a clean SIGTERM; then the multi-account seed (tests/data/org-seed.json):
routing by project and Host, per-project stores and per-account records,
project and account discovery with paging, agency assumption through STS
v5 and IAM v3.0 with refusal, validation and expiry, per-account rate
limits and failing regions, and the single-account seed seen through the
new endpoints.  Run: python3 tests/emulator/test_emulator.py
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from urllib.parse import quote

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import emu_org  # noqa: E402
import emu_sign  # noqa: E402
import emu_store  # noqa: E402

PY = os.environ.get("PYTHON3") or sys.executable
EMULATOR = os.path.join(HERE, "csms-emulator.py")
SEED = os.path.join(HERE, "seed-example.json")
PID = "0123456789abcdef0123456789abcdef"
AK = "EXAMPLEAK0000000000"
SK = "exampleSecretKey0000000000000000000000"
BASE = "/v1/%s" % PID
with open(SEED, encoding="utf-8") as _f:
    SEED_JSON = json.load(_f)
ECS = SEED_JSON["credentials"]["ecs"]
SEED_NAMES = sorted(s["name"] for s in SEED_JSON["secrets"])
SEED_IDS = {s["name"]: s["id"] for s in SEED_JSON["secrets"]}


def sdk_date(offset=0):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + offset))


# -- the signature checker against the official vectors ---------------------------
class Vectors(unittest.TestCase):
    """Each vector: the verifier, given the Authorization header the SDK
    produced, must accept it, and must refuse a one-bit change."""

    def verify(self, method, path, query, headers, body, authorization, sk="SecretKey"):
        auth = emu_sign.parse_authorization(authorization)
        self.assertIsNotNone(auth)
        lower = {k.lower(): v for k, v in headers.items()}
        get_all = (lambda n: [lower[n]] if n in lower else [])
        want = emu_sign.expected_signature(auth, sk, method, path, query, get_all, body)
        self.assertEqual(want, auth.signature)
        self.assertNotEqual(emu_sign.expected_signature(auth, sk + "x", method, path, query,
                                                        get_all, body), auth.signature)

    def test_python_sdk(self):
        h = {"Host": "service.endpoint.myhuaweicloud.com", "X-Sdk-Date": "20200608T023900Z",
             "TEST_UNDERSCORE": "TEST_VALUE"}
        self.verify("GET", "/resources", "size=1", h, b"",
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature="
                    "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842")
        body = b'{"name":"test","id":1}'
        self.assertEqual(hashlib.sha256(body).hexdigest(),
                         "8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c")
        self.verify("POST", "/resources", "size=1", h, body,
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature="
                    "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f")

    def test_python_sdk_canonical_query(self):
        wire = "limit=1&enable=true&test=%s&path=%s&multi=1&multi=2&multi=3" % (
            quote("一 (&=?!#%.*)", safe=""), quote("/tmp/123", safe=""))
        self.assertEqual(emu_sign.canonical_query(wire),
                         "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&"
                         "test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29")

    def test_go_sdk(self):
        h = {"X-Sdk-Date": "20060102T150405Z", "TEST_UNDERSCORE": "TEST_VALUE"}
        self.verify("GET", "/path", "limit=1", h, b"",
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature="
                    "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624")
        h["Content-Type"] = "application/json"
        sig = ("SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature="
               "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59")
        self.verify("POST", "/path", "key=value", h, b'{"Name":"test","Id":1}\n', sig)
        # The same request without the encoder's trailing newline must fail.
        auth = emu_sign.parse_authorization(sig)
        lower = {k.lower(): v for k, v in h.items()}
        self.assertNotEqual(emu_sign.expected_signature(
            auth, "SecretKey", "POST", "/path", "key=value", lambda n: [lower[n]] if n in lower
            else [], b'{"Name":"test","Id":1}'), auth.signature)

    def test_java_sdk(self):
        h = {"Host": "service.region.example.com", "X-Sdk-Date": "20191115T033655Z",
             "Content-Type": "application/json"}
        self.verify("GET", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
                    "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", h, b"",
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature="
                    "fd95e7da6f695cfb4cabbb9d6b0968aec155bc576b064835282473539ae9ea1d")
        self.verify("POST", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpc/123", "", h,
                    b'{"key":"value"}',
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature="
                    "b5649aa774f6cac7437631662f08815fc65c70e40e486df6db2436ce68902771")
        h["Host"] = "example.com"
        self.verify("GET", "", "", h, b"",
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature="
                    "919ad8b75d4ad49da0d377e63ee21c4a7a54b752f6bf2878b4adbe9c19927da6")

    def test_golangsdk_signs_every_header(self):
        h = {"X-Sdk-Date": "20060102T150405Z", "TEST_UNDERSCORE": "TEST_VALUE"}
        self.verify("GET", "/path", "limit=1", h, b"",
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=test_underscore;x-sdk-date, "
                    "Signature=daeadcf4a306599f7422401cc55d3718a23ef159fed370c62c551a2c45ae9655")
        h["Content-Type"] = "application/json"
        self.verify("POST", "/path", "key=value", h, b'{"Name":"test","Id":1}',
                    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=content-type;test_underscore;"
                    "x-sdk-date, Signature="
                    "0238c3bedddfe8bf113c7530f783322380dedf720d514861623cfe5f73aa8f64")

    def test_canonical_uri(self):
        c = emu_sign.canonical_uri
        self.assertEqual(c(""), "/")
        self.assertEqual(c("/path/_:test"), "/path/_%3Atest/")
        self.assertEqual(c("/a/"), "/a/")
        # decoded, then encoded once: lower-case hex and raw characters agree
        self.assertEqual(c("/t/temp%2dk%3a%3d%2b%40"), "/t/temp-k%3A%3D%2B%40/")
        self.assertEqual(c("/t/a b"), "/t/a%20b/")
        self.assertEqual(c("/t/%C3%BC"), "/t/%C3%BC/")
        # an encoded slash stays inside its segment
        self.assertEqual(c("/s/a%2F..%2Fb/tags"), "/s/a%2F..%2Fb/tags/")

    def test_parse_authorization(self):
        p = emu_sign.parse_authorization
        self.assertIsNone(p(""))
        self.assertIsNone(p("SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date"))
        self.assertIsNone(p("SDK-HMAC-SHA256 Access=a, SignedHeaders=X-Sdk-Date, Signature=00"))
        self.assertIsNone(p("SDK-HMAC-SHA256 Access=a, Access=b, SignedHeaders=x, Signature=0"))
        a = p("SDK-HMAC-SHA256 Access=a,SignedHeaders=host;x-sdk-date,  Signature=ff")
        self.assertEqual((a.access, a.signed_headers, a.signature),
                         ("a", ["host", "x-sdk-date"], "ff"))


class Store(unittest.TestCase):
    def test_key_and_value_rules(self):
        for key in ("owner", "负责人", "temp-a b", "k:=+@._-", "x" * 128, "ümlaut"):
            self.assertIsNone(emu_store.check_key(key), key)
        for key in ("", "x" * 129, " lead", "trail ", "_sys_x", "a/b", "a*b", "a\x01", 5):
            self.assertIsNotNone(emu_store.check_key(key), key)
        for value in ("", "a/b", "张三", "v" * 255, "x:=+@"):
            self.assertIsNone(emu_store.check_value(value), value)
        for value in ("v" * 256, "a*b", "a<b", None):
            self.assertIsNotNone(emu_store.check_value(value), value)

    def test_generate_is_deterministic(self):
        a = emu_store.generate(200, 8, 0.02, random.Random(5))
        b = emu_store.generate(200, 8, 0.02, random.Random(5))
        c = emu_store.generate(200, 8, 0.02, random.Random(6))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertEqual([s["name"] for s in a[:2]], ["app-00000", "app-00001"])
        self.assertTrue(all(len(s["tags"]) == 8 for s in a))
        stray = sum(k.startswith("stray-") for s in a for k in s["tags"])
        self.assertEqual(stray, 32)
        self.assertEqual(len({s["id"] for s in a}), 200)


# -- the emulator process --------------------------------------------------------------
class Emulator:
    def __init__(self, work, *args, name="emu"):
        self.port_file = os.path.join(work, name + ".port")
        self.log_file = os.path.join(work, name + ".log")
        self.err_file = os.path.join(work, name + ".stderr")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        with open(self.err_file, "w") as err:
            self.proc = subprocess.Popen([PY, EMULATOR, "--port", "0", "--port-file",
                                          self.port_file, "--log-file", self.log_file, *args],
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator did not start: " + open(self.err_file).read())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def stop(self):
        """SIGTERM; the exit status.  Anything on stderr (a traceback) fails."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=5)
        with open(self.err_file) as f:
            err = f.read()
        if err:
            raise AssertionError("emulator stderr:\n" + err)
        return rc


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Client:
    """A keep-alive client; signed() signs like the Python SDK (every header
    it sends, host included)."""

    def __init__(self, port, ctx=None):
        self.port, self.ctx = port, ctx
        self.host = "127.0.0.1:%d" % port
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None):
        if self.conn is None:
            if self.ctx:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                                        context=self.ctx)
            else:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if not any(k.lower() == "host" for k in h):
            h["Host"] = self.host
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        if r.will_close:
            self.close()
        return Answer(r.status, r.headers, data)

    def signed(self, method, path, body=b"", ak=AK, sk=SK, headers=None, date=None,
               project=PID, tamper=None, send_path=None):
        raw_path, _, raw_query = path.partition("?")
        h = {"host": self.host, "x-sdk-date": date or sdk_date()}
        if project:
            h["x-project-id"] = project
        if body:
            h["content-type"] = "application/json;charset=UTF-8"
        h.update({k.lower(): v for k, v in (headers or {}).items()})
        send = dict(h, authorization=emu_sign.sign(ak, sk, method, raw_path, raw_query, h, body))
        if tamper:
            tamper(send)
        return self.request(method, send_path or path, body or None, send)

    def control(self, path, body=None):
        a = self.request("POST" if body is not None else "GET", "/_emulator/" + path,
                         json.dumps(body).encode() if body is not None else None)
        if a.status != 200:
            raise AssertionError("control %s: %d %s" % (path, a.status, a.body))
        return a.json()


def iam_token(client, password="demo-pass", scope=None):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": password, "domain": {"name": "demo-domain"}}}},
        "scope": {"project": scope or {"name": "cn-north-4"}}}}
    return client.request("POST", "/v3/auth/tokens?nocatalog=true", json.dumps(body).encode(),
                          {"Content-Type": "application/json;charset=utf8"})


class EmulatorCase(unittest.TestCase):
    ARGS = ()
    SEED_FILE = SEED

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="emu-selftest.")
        cls.emu = Emulator(cls.work, "--seed", cls.SEED_FILE, "--random-seed", "3", *cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.emu.stop() == 0
        finally:
            shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        self.c = Client(self.emu.port)
        self.c.control("reset", {})

    def tearDown(self):
        self.c.close()

    def assert_csms_error(self, a, status, code):
        self.assertEqual(a.status, status, a.body)
        body = a.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(body["error"]["error_code"], code)
        self.assertIsInstance(body["error"]["error_msg"], str)
        self.assertTrue(a.headers["X-Request-Id"])

    def assert_gateway_error(self, a, status, code, message=""):
        self.assertEqual(a.status, status, a.body)
        body = a.json()
        self.assertEqual(body["error_code"], code)
        self.assertIn(message, body["error_msg"])
        self.assertEqual(body["request_id"], a.headers["X-Request-Id"])

    def names(self):
        return [s["name"] for s in self.c.control("state")["secrets"]]

    def tags(self, name):
        return {s["name"]: s for s in self.c.control("state")["secrets"]}[name]["tags"]


class Api(EmulatorCase):
    def test_unknown_path_and_method(self):
        for method, path in (("GET", "/"), ("GET", "/v2/x"), ("DELETE", BASE + "/secrets"),
                             ("PATCH", BASE + "/csms/x/tags"), ("GET", BASE + "/secrets/")):
            a = self.c.signed(method, path)
            self.assert_gateway_error(a, 404, "APIGW.0101", "The API does not exist")
        self.assertEqual(self.c.control("state")["counts"]["unknown"], 5)

    def test_list_secrets_paging(self):
        seen, marker, pages = [], None, 0
        while True:
            q = "limit=3" + ("&marker=" + quote(marker, safe="") if marker else "")
            a = self.c.signed("GET", BASE + "/secrets?" + q)
            self.assertEqual(a.status, 200)
            body = a.json()
            pages += 1
            self.assertEqual(body["page_info"]["current_count"], len(body["secrets"]))
            if not body["secrets"]:
                break
            self.assertEqual(body["page_info"]["previous_marker"], body["secrets"][0]["name"])
            seen += [s["name"] for s in body["secrets"]]
            marker = body["secrets"][-1]["name"]
        self.assertEqual(seen, SEED_NAMES)
        self.assertEqual(pages, 4)
        everything = self.c.signed("GET", BASE + "/secrets").json()
        self.assertEqual([s["name"] for s in everything["secrets"]], SEED_NAMES)
        self.assertNotIn("next_marker", everything["page_info"])
        s = everything["secrets"][0]
        self.assertGreater(s["create_time"], 10 ** 12)      # milliseconds
        self.assertEqual(s["id"], SEED_IDS[s["name"]])
        # a marker that is not a name starts after its place in name order
        after = self.c.signed("GET", BASE + "/secrets?marker=app-c").json()["secrets"]
        self.assertEqual(after[0]["name"], "app-cache")
        for bad in ("abc", "0", "1001", "-1", "%20"):
            self.assert_csms_error(self.c.signed("GET", BASE + "/secrets?limit=" + bad),
                                   400, "CSMS.0002")

    def test_show_secret_and_tags(self):
        a = self.c.signed("GET", BASE + "/secrets/payments-db")
        self.assertEqual(a.json()["secret"]["id"], SEED_IDS["payments-db"])
        self.assertNotIn("tags", a.json()["secret"])
        a = self.c.signed("GET", BASE + "/csms/%s/tags" % SEED_IDS["payments-db"])
        body = a.json()
        self.assertIn({"key": "负责人", "value": "张三"}, body["tags"])
        self.assertEqual(body["sys_tags"], [{"key": "_sys_enterprise_project_id", "value": "0"}])
        self.assert_csms_error(self.c.signed("GET", BASE + "/secrets/nope"), 400, "CSMS.0005")
        self.assert_csms_error(self.c.signed("GET", BASE + "/csms/nope/tags"), 400, "CSMS.0005")

    def test_delete_tag_with_encoded_keys(self):
        cases = [("app-web", "temp-build id"), ("app-api", "temp-k:=+@"),
                 ("payments-db", "负责人"), ("app-api", "temp-übergang")]
        for name, key in cases:
            a = self.c.signed("DELETE", BASE + "/csms/%s/tags/%s" % (SEED_IDS[name],
                                                                    quote(key, safe="")))
            self.assertEqual((a.status, a.body), (204, b""))
            self.assertTrue(a.headers["X-Request-Id"])
            self.assertIsNone(a.headers["Content-Length"])
            self.assertNotIn(key, self.tags(name))
            again = self.c.signed("DELETE", BASE + "/csms/%s/tags/%s" % (SEED_IDS[name],
                                                                        quote(key, safe="")))
            self.assert_csms_error(again, 400, "CSMS.0005")
        # lower-case hex decodes the same
        a = self.c.signed("DELETE", BASE + "/csms/%s/tags/temp-x" % SEED_IDS["legacy-reports"]
                          .replace("-", "%2d"))
        self.assertEqual(a.status, 204)
        deleted = self.c.control("state")["deleted"]
        self.assertEqual([(d["secret_name"], d["key"]) for d in deleted],
                         cases + [("legacy-reports", "temp-x")])
        self.assertEqual(deleted[2]["value"], "张三")
        self.assertEqual(deleted[2]["secret_id"], SEED_IDS["payments-db"])
        self.assertTrue(deleted[0]["time"].endswith("Z"))
        self.assert_csms_error(self.c.signed("DELETE", BASE + "/csms/nope/tags/owner"),
                               400, "CSMS.0005")

    def test_create_tag_validation(self):
        sid = SEED_IDS["app-clean"]
        path = BASE + "/csms/%s/tags" % sid

        def create(key, value="v"):
            return self.c.signed("POST", path, json.dumps({"tag": {"key": key, "value": value}})
                                 .encode())
        self.assertEqual(create("new key:=+@", "a/b").status, 204)
        self.assertEqual(self.tags("app-clean")["new key:=+@"], "a/b")
        for key, value in (("", "v"), ("k" * 129, "v"), ("_sys_x", "v"), ("a/b", "v"),
                           (" lead", "v"), ("ok", "v" * 256), ("ok", "a*b")):
            self.assert_csms_error(create(key, value), 400, "CSMS.0002")
        for body in (b"{", b"[]", b'{"tag": "x"}', b"\xff"):
            self.assert_csms_error(self.c.signed("POST", path, body), 400, "CSMS.0004")
        for i in range(17):                     # 3 tags now: fill up to 20
            self.assertEqual(create("k%d" % i).status, 204)
        self.assert_csms_error(create("one-too-many"), 400, "CSMS.0002")
        self.assertEqual(create("owner", "changed").status, 204)    # overwrite is fine
        self.assert_csms_error(self.c.signed("POST", BASE + "/csms/nope/tags",
                                             b'{"tag":{"key":"a","value":"b"}}'), 400, "CSMS.0005")

    def test_create_tag_semantics(self):
        sid = SEED_IDS["app-clean"]
        path = BASE + "/csms/%s/tags" % sid

        def create(tag):
            return self.c.signed("POST", path, json.dumps({"tag": tag}).encode())
        r = create({"key": "no-value"})
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.tags("app-clean")["no-value"], "")
        self.assertEqual(create({"key": "k" * 128, "value": "v" * 255}).status, 204)
        self.assertEqual(create({"key": "张三 ü", "value": "值 a/b:c=d+e-f@g_h.i"}).status, 204)
        self.assertEqual(self.tags("app-clean")["张三 ü"], "值 a/b:c=d+e-f@g_h.i")
        self.assertEqual(create({"key": "no-value", "value": "then set"}).status, 204)
        self.assertEqual(self.tags("app-clean")["no-value"], "then set")
        for tag in ({"key": 5, "value": "v"}, {"key": "k", "value": 5}, {"value": "v"},
                    {"key": "trail ", "value": "v"}, {"key": "k", "value": "v\n"}):
            self.assert_csms_error(create(tag), 400, "CSMS.0002")
        self.assertEqual(self.c.control("state")["counts"]["CreateSecretTag"], 9)

    def test_batch_create_and_delete(self):
        sid = SEED_IDS["app-batch"]
        path = BASE + "/csms/%s/tags/action" % sid

        def batch(action, tags):
            return self.c.signed("POST", path, json.dumps({"action": action, "tags": tags}).encode())
        self.assertEqual(batch("create", [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
                         .status, 204)
        a = batch("delete", [{"key": "a", "value": "1"}, {"key": "b", "value": "wrong"},
                             {"key": "temp-1"}, {"key": "absent", "value": "x"}])
        self.assertEqual(a.status, 204)
        self.assertEqual(self.tags("app-batch"), {"owner": "dave", "temp-2": "2", "b": "2"})
        self.assertEqual([d["key"] for d in self.c.control("state")["deleted"]], ["a", "temp-1"])
        self.assert_csms_error(batch("update", []), 400, "CSMS.0002")
        self.assert_csms_error(batch("create", [{"key": "_sys_a", "value": "1"}]), 400, "CSMS.0002")

    def test_resource_instances(self):
        path = BASE + "/csms/resource_instances/action"

        def ri(body):
            return self.c.signed("POST", path, json.dumps(body).encode())
        names = []
        for offset in range(0, 9, 3):
            body = ri({"action": "filter", "limit": "3", "offset": str(offset)}).json()
            self.assertEqual(body["total_count"], 8)
            names += [r["resource_name"] for r in body["resources"]]
        self.assertEqual(names, SEED_NAMES)
        body = ri({"action": "filter", "limit": 1000, "offset": 0}).json()
        self.assertEqual(len(body["resources"]), 8)
        pay = [r for r in body["resources"] if r["resource_name"] == "payments-db"][0]
        self.assertEqual(pay["resource_id"], SEED_IDS["payments-db"])
        self.assertEqual(pay["resource_detail"]["name"], "payments-db")
        self.assertGreater(pay["resource_detail"]["create_time"], 10 ** 12)
        self.assertIn({"key": "env", "value": "dev"}, pay["tags"])
        self.assertEqual(pay["sys_tags"], [{"key": "_sys_enterprise_project_id", "value": "0"}])
        old = [r for r in body["resources"] if r["resource_name"] == "app-old"][0]
        self.assertEqual(old["resource_detail"]["state"], "PENDING_DELETE")
        self.assertEqual(len(ri({"action": "filter"}).json()["resources"]), 8)   # default 10
        self.assertEqual(ri({"action": "count"}).json(), {"total_count": 8})
        f = ri({"action": "filter", "limit": "10", "tags": [{"key": "owner", "values": []}],
                "matches": [{"key": "resource_name", "value": "app"}]}).json()
        self.assertEqual([r["resource_name"] for r in f["resources"]],
                         ["app-batch", "app-clean", "app-old", "app-web"])
        self.assertEqual(f["total_count"], 4)
        f = ri({"action": "filter", "tags": [{"key": "owner", "values": ["alice", "gina"]}]})
        self.assertEqual(f.json()["total_count"], 2)
        for bad in ({"action": "list"}, {"action": "filter", "limit": "0"},
                    {"action": "filter", "limit": "1001"}, {"action": "filter", "limit": "x"},
                    {"action": "filter", "offset": -1}, {"action": "filter", "limit": True},
                    {"action": "filter", "matches": [{"key": "id", "value": "x"}]},
                    {"action": "filter", "tags": [{"key": "k"}] * 11}):
            self.assert_csms_error(ri(bad), 400, "CSMS.0002")
        self.assert_csms_error(self.c.signed("POST", path, b"{not json"), 400, "CSMS.0004")

    def test_hostile_ids_and_names(self):
        sid = "hostile/../1?x#y"
        self.c.control("secrets", {"secrets": [{"id": sid, "name": "app-\x1b[31mred\n",
                                                "tags": {"temp-h": "1"}}]})
        a = self.c.signed("GET", BASE + "/csms/%s/tags" % quote(sid, safe=""))
        self.assertEqual(a.json()["tags"], [{"key": "temp-h", "value": "1"}])
        a = self.c.signed("DELETE", BASE + "/csms/%s/tags/temp-h" % quote(sid, safe=""))
        self.assertEqual(a.status, 204)
        self.assertEqual(len(self.names()), 9)

    def exchange(self, data):
        """Raw bytes in, everything the emulator answers until it closes."""
        s = socket.create_connection(("127.0.0.1", self.emu.port), timeout=5)
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        return out

    def test_malformed_requests(self):
        for data, status in ((b"GARBAGE\r\n\r\n", 400), (b"GET / HTTP/2.0\r\n\r\n", 505),
                             (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
                             (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
                             (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
                             (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 431)):
            out = self.exchange(data)
            head, _, body = out.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 %d " % status), out[:100])
            self.assertIn(b"Connection: close", head)
            rid = re.search(rb"X-Request-Id: (\w+)", head).group(1).decode()
            self.assertEqual(json.loads(body), {"error_code": "APIGW.0201", "request_id": rid,
                                                "error_msg": json.loads(body)["error_msg"]})

    def test_http_details(self):
        # HEAD: headers of the answer, no body; HTTP/1.0 closes after one answer
        out = self.exchange(b"HEAD /nowhere HTTP/1.0\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 404 "))
        self.assertIn(b"Content-Length: ", head)
        self.assertEqual(body, b"")
        # a chunked request body, as some clients send it
        path = BASE + "/csms/%s/tags" % SEED_IDS["app-clean"]
        body = b'{"tag":{"key":"chunked","value":"yes"}}'
        h = {"host": "127.0.0.1:%d" % self.emu.port, "x-sdk-date": sdk_date(),
             "content-type": "application/json"}
        h["authorization"] = emu_sign.sign(AK, SK, "POST", path, "", h, body)
        data = ("POST %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items())
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        data += b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        self.assertTrue(self.exchange(data).startswith(b"HTTP/1.1 204 "))
        self.assertEqual(self.tags("app-clean")["chunked"], "yes")

    def test_keep_alive(self):
        self.c.signed("GET", BASE + "/secrets")
        sock = self.c.conn.sock
        for _ in range(3):
            self.assertEqual(self.c.signed("GET", BASE + "/secrets?limit=1").status, 200)
        self.assertIs(self.c.conn.sock, sock)


class Auth(EmulatorCase):
    PATH = BASE + "/secrets?limit=1"

    def test_signature_failures(self):
        c = self.c
        self.assert_gateway_error(c.request("GET", self.PATH), 401, "APIGW.0301")
        self.assert_gateway_error(c.signed("GET", self.PATH, sk="wrong"), 401, "APIGW.0301",
                                  "verify aksk signature fail")
        self.assert_gateway_error(c.signed("GET", self.PATH, ak="NOSUCHAK"), 401, "APIGW.0301",
                                  "ak not exist")

        def change(name, value):
            return lambda h: h.__setitem__(name, value)
        # a signed header sent with another value, or not sent at all
        self.assert_gateway_error(c.signed("GET", self.PATH, tamper=change("x-project-id",
                                                                           "f" * 32)),
                                  401, "APIGW.0301", "verify aksk signature fail")
        self.assert_gateway_error(c.signed("GET", self.PATH, tamper=lambda h: h.pop("x-extra"),
                                           headers={"X-Extra": "1"}),
                                  401, "APIGW.0301", "verify aksk signature fail")
        # (a good request clears the count of bad ones before the lockout)
        self.assertEqual(c.signed("GET", self.PATH).status, 200)
        # the path and the query are signed too
        for other in (BASE + "/secrets?limit=2", BASE + "/secrets/payments-db?limit=1"):
            self.assert_gateway_error(c.signed("GET", self.PATH, send_path=other), 401,
                                      "APIGW.0301", "verify aksk signature fail")
        self.assertEqual(c.signed("GET", self.PATH).status, 200)
        # x-sdk-date must be among the signed headers
        date = sdk_date()
        h = {"host": c.host, "x-project-id": PID}
        canonical = emu_sign.canonical_request("GET", BASE + "/secrets", "", ["host", "x-project-id"],
                                               lambda n: [h[n]], emu_sign.EMPTY_SHA256)
        sig = emu_sign.signature(SK, emu_sign.string_to_sign(date, canonical))
        auth = "SDK-HMAC-SHA256 Access=%s, SignedHeaders=host;x-project-id, Signature=%s" % (AK, sig)
        a = c.request("GET", BASE + "/secrets", headers=dict(h, authorization=auth,
                                                             **{"x-sdk-date": date}))
        self.assert_gateway_error(a, 401, "APIGW.0301", "verify aksk signature fail")
        # project checks: the header must match the path, the path the project
        self.assert_gateway_error(c.signed("GET", self.PATH, project="f" * 32), 403, "APIGW.0302")
        self.assert_gateway_error(c.signed("GET", "/v1/%s/secrets" % ("f" * 32)), 403,
                                  "APIGW.0302")
        self.assertEqual(c.signed("GET", self.PATH, project=None).status, 200)

    def test_lockout(self):
        c = self.c
        c.control("config", {"lockout_seconds": 1})
        for _ in range(4):      # 4 failures, then a success resets the count
            self.assertEqual(c.signed("GET", self.PATH, sk="wrong").status, 401)
        self.assertEqual(c.signed("GET", self.PATH).status, 200)
        for _ in range(5):
            self.assert_gateway_error(c.signed("GET", self.PATH, sk="wrong"), 401, "APIGW.0301",
                                      "verify aksk signature fail")
        locked = c.signed("GET", self.PATH)
        self.assert_gateway_error(locked, 401, "APIGW.0301",
                                  "AK access failed to reach the limit, forbidden")
        time.sleep(1.1)
        self.assertEqual(c.signed("GET", self.PATH).status, 200)

    def test_clock_skew(self):
        c = self.c
        self.assertEqual(c.signed("GET", self.PATH, date=sdk_date(-14 * 60)).status, 200)
        self.assertEqual(c.signed("GET", self.PATH, date=sdk_date(14 * 60)).status, 200)
        self.assert_gateway_error(c.signed("GET", self.PATH, date=sdk_date(-16 * 60)), 401,
                                  "APIGW.0303")
        self.assert_gateway_error(c.signed("GET", self.PATH, date="2020-01-01T00:00:00Z"), 401,
                                  "APIGW.0301", "verify aksk signature fail")
        c.control("config", {"clock_offset": 1200})
        a = c.signed("GET", self.PATH)
        self.assert_gateway_error(a, 401, "APIGW.0303")
        self.assertIn(time.strftime("%a, %d %b %Y", time.gmtime(time.time() + 1200)),
                      a.headers["Date"])
        self.assertEqual(c.signed("GET", self.PATH, date=sdk_date(1200)).status, 200)
        # skew is not a bad signature: it never locks the AK
        for _ in range(6):
            c.signed("GET", self.PATH)
        c.control("config", {"clock_offset": 0})
        self.assertEqual(c.signed("GET", self.PATH).status, 200)

    def iam_token(self, password="demo-pass", scope=None):
        return iam_token(self.c, password, scope)

    def test_tokens(self):
        c = self.c
        a = self.iam_token()
        self.assertEqual(a.status, 201)
        token = a.headers["X-Subject-Token"]
        t = a.json()["token"]
        iso = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
        self.assertRegex(t["expires_at"], iso)
        self.assertRegex(t["issued_at"], iso)
        self.assertEqual(t["project"]["id"], PID)
        self.assertNotIn("catalog", t)
        self.assertEqual(c.request("GET", self.PATH, headers={"X-Auth-Token": token}).status, 200)
        self.assertEqual(self.iam_token(scope={"id": PID}).status, 201)
        bad = self.iam_token(password="wrong")
        self.assertEqual(bad.status, 401)
        self.assertEqual(bad.json()["error"]["code"], 401)
        self.assertEqual(self.iam_token(scope={"name": "eu-west-0"}).status, 401)
        self.assertEqual(c.request("POST", "/v3/auth/tokens", b"{").status, 400)
        self.assert_gateway_error(c.request("GET", self.PATH, headers={"X-Auth-Token": "forged"}),
                                  401, "APIGW.0301", "decrypt token fail")
        self.assertEqual(c.request("GET", self.PATH,
                                   headers={"X-Auth-Token": "static-token-text"}).status, 200)
        # expiry after token_ttl, and on demand
        c.control("config", {"token_ttl": 0.5})
        short = self.iam_token().headers["X-Subject-Token"]
        self.assertEqual(c.request("GET", self.PATH, headers={"X-Auth-Token": short}).status, 200)
        time.sleep(0.6)
        self.assert_gateway_error(c.request("GET", self.PATH, headers={"X-Auth-Token": short}),
                                  401, "APIGW.0301", "decrypt token fail")
        c.control("expire-tokens", {})
        self.assertEqual(c.request("GET", self.PATH, headers={"X-Auth-Token": token}).status, 401)
        self.assertEqual(c.request("GET", self.PATH,
                                   headers={"X-Auth-Token": "static-token-text"}).status, 200)
        self.assert_gateway_error(c.request("GET", "/v1/%s/secrets" % ("f" * 32),
                                            headers={"X-Auth-Token": "static-token-text"}),
                                  403, "APIGW.0302")

    def test_ecs_temporary_keys(self):
        c = self.c
        self.assertEqual(c.request("PUT", "/meta-data/latest/api/token").status, 400)
        a = c.request("PUT", "/meta-data/latest/api/token",
                      headers={"X-Metadata-Token-Ttl-Seconds": "21600"})
        self.assertEqual(a.status, 200)
        mtoken = a.body.decode()
        # temporary keys are not usable before the metadata service hands them out
        self.assertEqual(c.signed("GET", self.PATH, ak=ECS["ak"], sk=ECS["sk"], headers={
            "X-Security-Token": ECS["security_token"]}).status, 401)
        a = c.request("GET", "/openstack/latest/securitykey", headers={"X-Metadata-Token": mtoken})
        cred = a.json()["credential"]
        self.assertEqual((cred["access"], cred["secret"], cred["securitytoken"]),
                         (ECS["ak"], ECS["sk"], ECS["security_token"]))
        self.assertRegex(cred["expires_at"], r"\.\d{6}Z$")
        ok = c.signed("GET", self.PATH, ak=cred["access"], sk=cred["secret"],
                      headers={"X-Security-Token": cred["securitytoken"]})
        self.assertEqual(ok.status, 200)
        self.assert_gateway_error(c.signed("GET", self.PATH, ak=cred["access"], sk=cred["secret"]),
                                  401, "APIGW.0301")
        self.assertEqual(c.request("GET", "/openstack/latest/securitykey",
                                   headers={"X-Metadata-Token": "bogus"}).status, 401)
        c.control("expire-tokens", {})
        self.assertEqual(c.signed("GET", self.PATH, ak=cred["access"], sk=cred["secret"],
                                  headers={"X-Security-Token": cred["securitytoken"]}).status, 401)

    def test_throttling(self):
        c = self.c
        c.control("config", {"rate_limit": 2})
        statuses = [c.signed("GET", self.PATH) for _ in range(3)]
        self.assertEqual([a.status for a in statuses[:2]], [200, 200])
        self.assert_gateway_error(statuses[2], 429, "APIGW.0308", "throttling threshold")
        self.assertGreaterEqual(int(statuses[2].headers["Retry-After"]), 1)
        # per caller: a token has its own budget
        self.assertEqual(c.request("GET", self.PATH,
                                   headers={"X-Auth-Token": "static-token-text"}).status, 200)
        self.assertEqual(c.control("state")["counts"]["ListSecrets"], 4)

    def test_latency_overlaps(self):
        self.c.control("config", {"latency_ms": 300})
        times = []

        def one():
            cl = Client(self.emu.port)
            t0 = time.monotonic()
            self.assertEqual(cl.signed("GET", self.PATH).status, 200)
            times.append(time.monotonic() - t0)
            cl.close()
        t0 = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(times), 6)
        self.assertGreaterEqual(min(times), 0.3)
        self.assertLess(time.monotonic() - t0, 0.9)   # not 6 x 300 ms in a row


class Faults(EmulatorCase):
    LIST = BASE + "/secrets?limit=1"
    RI = BASE + "/csms/resource_instances/action"

    def rules(self, *rules):
        self.c.control("faults", {"rules": list(rules)})

    def raw(self, path):
        """Send a signed GET on a fresh socket; (head, body bytes, reset?)."""
        h = {"host": self.c.host, "x-sdk-date": sdk_date(), "x-project-id": PID}
        h["authorization"] = emu_sign.sign(AK, SK, "GET", path, "", h, b"")
        s = socket.create_connection(("127.0.0.1", self.emu.port), timeout=5)
        s.sendall(("GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items())
                   + "Connection: close\r\n\r\n").encode())
        data, reset = b"", False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            reset = True
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return head.decode("latin-1"), body, reset

    def test_status_faults(self):
        self.rules({"api": "ListSecrets", "kind": "status", "status": 500, "count": 1},
                   {"api": "*", "kind": "status", "status": 429, "retry_after": 2, "after": 2,
                    "count": 1})
        self.assert_csms_error(self.c.signed("GET", self.LIST), 500, "CSMS.0001")
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)
        a = self.c.signed("GET", self.LIST)
        self.assert_gateway_error(a, 429, "APIGW.0308")
        self.assertEqual(a.headers["Retry-After"], "2")
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)
        got = self.c.control("faults")
        self.assertEqual([(r["matched"], r["applied"]) for r in got["rules"]], [(4, 1), (4, 1)])
        self.assertEqual(got["faults_injected"], 2)
        self.assertEqual(self.c.control("state")["faults_injected"], 2)
        self.rules({"kind": "status", "status": 502, "error_code": "APIGW.0201", "rate": 0.0})
        self.assertTrue(all(self.c.signed("GET", self.LIST).status == 200 for _ in range(5)))
        # faults come after authentication: a bad signature is still a 401
        self.rules({"kind": "status", "status": 503})
        self.assertEqual(self.c.signed("GET", self.LIST, sk="bad").status, 401)
        self.assertEqual(self.c.control("faults")["rules"][0]["applied"], 0)

    def test_rule_validation(self):
        for bad in ({"kind": "explode"}, {"kind": "status", "rate": 2}, {"kind": "mutate"},
                    {"api": "DeleteSecretTags", "kind": "status"},
                    {"kind": "status", "surprise": 1},
                    {"kind": "mutate", "ops": [{"op": "set_tag", "secret": "x"}]}):
            a = self.c.request("POST", "/_emulator/faults", json.dumps({"rules": [bad]}).encode())
            self.assertEqual(a.status, 400, bad)

    def test_reset_mid_body(self):
        self.rules({"api": "ListSecrets", "kind": "reset", "count": 1})
        head, body, reset = self.raw(BASE + "/secrets")
        self.assertTrue(reset)
        if head:        # what arrived before the RST: headers and part of the body
            length = int(re.search(r"Content-Length: (\d+)", head).group(1))
            self.assertLess(len(body), length)
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)

    def test_truncated_body(self):
        self.rules({"api": "DeleteSecretTag", "kind": "truncate"},
                   {"api": "ListSecrets", "kind": "truncate"})
        head, body, reset = self.raw(BASE + "/secrets")
        self.assertFalse(reset)
        length = int(re.search(r"Content-Length: (\d+)", head).group(1))
        self.assertEqual(len(body), length // 2)
        self.assertIn("Connection: close", head)
        # the operation itself happened; only the answer was lost
        with self.assertRaises(http.client.IncompleteRead):
            self.c.signed("DELETE", BASE + "/csms/%s/tags/temp-1" % SEED_IDS["app-batch"])
        self.assertNotIn("temp-1", self.tags("app-batch"))

    def test_invalid_json_and_slow(self):
        self.rules({"api": "ListSecretTags", "kind": "invalid_json", "count": 1},
                   {"api": "ListSecrets", "kind": "slow", "delay_ms": 300, "count": 1})
        a = self.c.signed("GET", BASE + "/csms/%s/tags" % SEED_IDS["app-web"])
        self.assertEqual(a.status, 200)
        self.assertTrue(a.body)
        with self.assertRaises(ValueError):
            a.json()
        t0 = time.monotonic()
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_total_count_mismatch_and_mutate(self):
        self.rules({"api": "*", "kind": "total_count_mismatch", "count": 1},
                   {"api": "ListResourceInstances", "kind": "mutate", "count": 1, "ops": [
                       {"op": "delete_secret", "secret": "app-web"},
                       {"op": "set_tag", "secret": "payments-db", "key": "env", "value": "prod"},
                       {"op": "remove_tag", "secret": "app-batch", "key": "temp-1"}]})
        body = json.dumps({"action": "filter", "limit": "1000", "offset": "0"}).encode()
        first = self.c.signed("POST", self.RI, body).json()
        self.assertEqual((first["total_count"], len(first["resources"])), (11, 8))
        # the answer was served before the change
        self.assertIn("app-web", [r["resource_name"] for r in first["resources"]])
        second = self.c.signed("POST", self.RI, body).json()
        self.assertEqual((second["total_count"], len(second["resources"])), (7, 7))
        self.assertEqual(self.tags("payments-db")["env"], "prod")
        self.assertNotIn("temp-1", self.tags("app-batch"))
        self.assertEqual(self.c.control("state")["deleted"], [])   # not the daemon's doing
        self.assertEqual(self.c.control("state")["faults_injected"], 2)


    def test_hold_release_and_timeout(self):
        self.rules({"api": "ListSecrets", "kind": "hold", "count": 1},
                   {"api": "KeystoneCreateUserTokenByPassword", "kind": "hold", "hold_ms": 300,
                    "count": 1})
        answers = []

        def parked_client():
            c = Client(self.emu.port)
            answers.append(c.signed("GET", self.LIST).status)
            c.close()
        worker = threading.Thread(target=parked_client)
        worker.start()
        deadline = time.monotonic() + 5
        while self.c.control("holds")["parked"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(self.c.control("holds"), {"parked": 1, "total": 1, "requests": [
            {"api": "ListSecrets", "secret": None, "key": None}]})
        # parked requests hold nothing else up; the parked one answers with
        # the state at its release
        self.c.control("tags", {"secret": "app-api", "set": {"late": "1"}})
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)
        self.assertEqual(answers, [])
        self.assertEqual(self.c.control("release", {}), {"released": 1})
        worker.join(5)
        self.assertEqual(answers, [200])
        self.assertEqual(self.c.control("holds")["parked"], 0)
        # the IAM endpoint parks too; hold_ms releases it without the control API
        t0 = time.monotonic()
        self.assertEqual(iam_token(self.c).status, 201)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(self.c.control("holds"), {"parked": 0, "requests": [], "total": 2})
        for bad in ({"count": -1}, {"count": "1"}, {"all": True}):
            a = self.c.request("POST", "/_emulator/release", json.dumps(bad).encode())
            self.assertEqual(a.status, 400, bad)

    def test_after_api_and_huge_total_count(self):
        self.rules({"api": "ListSecrets", "kind": "status", "status": 503,
                    "after_api": "ListSecretTags"},
                   {"api": "*", "kind": "total_count_mismatch", "delta": 10 ** 12})
        self.assertEqual(self.c.signed("GET", self.LIST).status, 200)
        self.assertEqual(self.c.signed("GET", BASE + "/csms/%s/tags" % SEED_IDS["app-web"]).status,
                         200)
        self.assertEqual(self.c.signed("GET", self.LIST).status, 503)
        body = json.dumps({"action": "count"}).encode()
        self.assertEqual(self.c.signed("POST", self.RI, body).json()["total_count"], 10 ** 12 + 8)
        for bad in ({"kind": "total_count_mismatch", "delta": 10 ** 12 + 1},
                    {"kind": "hold", "hold_ms": -1}, {"kind": "hold", "after_api": "Nope"}):
            a = self.c.request("POST", "/_emulator/faults", json.dumps({"rules": [bad]}).encode())
            self.assertEqual(a.status, 400, bad)

    def test_request_log(self):
        sid = SEED_IDS["app-batch"]
        t0 = time.time()
        self.c.signed("GET", BASE + "/csms/%s/tags" % sid)
        self.c.signed("DELETE", BASE + "/csms/%s/tags/temp-1" % sid)
        self.c.signed("DELETE", BASE + "/csms/%s/tags/nope" % sid)
        log = self.c.control("requests")["requests"]
        self.assertEqual([(r["api"], r["secret"], r["key"], r["status"]) for r in log],
                         [("ListSecretTags", "app-batch", None, 200),
                          ("DeleteSecretTag", "app-batch", "temp-1", 204),
                          ("DeleteSecretTag", "app-batch", "nope", 400)])
        for r in log:
            self.assertEqual(r["secret_id"], sid)
            self.assertLessEqual(t0, r["arrival"])
            self.assertLessEqual(r["arrival"], r["answer"])
        self.assertLessEqual(log[0]["answer"], log[1]["arrival"])
        self.c.control("reset", {})
        self.assertEqual(self.c.control("requests")["requests"], [])


class ListOrder(EmulatorCase):
    NAMES = ["b-2", "A-1", "d-4", "C-3", "f-6", "E-5", "h-8", "G-7"]

    def setUp(self):
        super().setUp()
        self.c.control("secrets", {"replace": True, "secrets": [{"name": n} for n in self.NAMES]})

    def walk(self, limit=3):
        """Every name by following page_info.next_marker; the pages."""
        seen, marker, pages = [], None, 0
        while True:
            q = "limit=%d" % limit + ("&marker=" + quote(marker, safe="") if marker else "")
            body = self.c.signed("GET", BASE + "/secrets?" + q).json()
            pages += 1
            seen += [s["name"] for s in body["secrets"]]
            marker = body["page_info"].get("next_marker")
            if marker is None:
                return seen, pages
            self.assertEqual(marker, seen[-1])

    def test_orders_and_short_pages(self):
        for order, want in (("byte", sorted(self.NAMES)),
                            ("casefold", sorted(self.NAMES, key=str.casefold)),
                            ("reverse", sorted(self.NAMES, reverse=True))):
            self.c.control("config", {"list_order": order})
            self.assertEqual(self.walk(), (want, 3), order)
        self.c.control("config", {"list_page_max": 2})
        seen, pages = self.walk(limit=50)
        self.assertEqual((sorted(seen), pages), (sorted(self.NAMES), 4))
        a = self.c.request("POST", "/_emulator/config", json.dumps({"list_order": "random"}).encode())
        self.assertEqual(a.status, 400)

    def test_marker_of_a_removed_name(self):
        self.c.control("config", {"list_order": "casefold"})
        body = self.c.signed("GET", BASE + "/secrets?limit=2&marker=c-0").json()
        self.assertEqual([s["name"] for s in body["secrets"]], ["C-3", "d-4"])


class Control(EmulatorCase):
    def test_state_and_counts(self):
        st = self.c.control("state")
        self.assertEqual(set(st), {"secrets", "counts", "requests", "deleted", "faults_injected"})
        self.assertEqual([s["name"] for s in st["secrets"]], SEED_NAMES)
        self.assertEqual(set(st["secrets"][0]), {"id", "name", "state", "tags", "sys_tags"})
        self.c.signed("GET", BASE + "/secrets")
        self.c.signed("GET", BASE + "/secrets", sk="wrong")
        self.c.request("GET", "/nowhere")
        st = self.c.control("state")
        self.assertEqual((st["requests"], st["counts"]["ListSecrets"], st["counts"]["unknown"]),
                         (3, 2, 1))

    def test_config(self):
        self.assertEqual(self.c.control("config", {"latency_ms": 5})["latency_ms"], 5)
        for bad in ({"latency_ms": -1}, {"nope": 1}, {"rate_limit": "x"}, []):
            a = self.c.request("POST", "/_emulator/config", json.dumps(bad).encode())
            self.assertEqual(a.status, 400)
        self.assertEqual(self.c.request("GET", "/_emulator/nothing").status, 404)

    def test_secrets_and_tags(self):
        self.c.control("secrets", {"secrets": [{"name": "new-one", "tags": {"a": "1"}},
                                               {"id": SEED_IDS["app-web"], "name": "app-web",
                                                "tags": {}}]})
        self.assertEqual(len(self.names()), 9)
        self.assertEqual(self.tags("app-web"), {})
        self.assertEqual(self.c.control("tags", {"secret": "new-one", "set": {"b": "2"},
                                                 "remove": ["a"]})["tags"], {"b": "2"})
        self.assertEqual(self.c.request("POST", "/_emulator/tags", b'{"secret": "none"}').status,
                         404)
        self.c.control("secrets", {"delete": ["new-one"]})
        self.assertEqual(len(self.names()), 8)
        self.c.control("secrets", {"replace": True, "secrets": [{"name": "only"}]})
        self.assertEqual(self.names(), ["only"])
        self.assertEqual(self.c.request("POST", "/_emulator/secrets",
                                        b'{"secrets": [{"name": ""}]}').status, 400)
        self.c.control("reset", {})
        self.assertEqual(self.names(), SEED_NAMES)

    def test_log_has_no_credentials(self):
        self.c.signed("GET", BASE + "/secrets")
        tok = iam_token(self.c).headers["X-Subject-Token"]
        self.c.request("GET", BASE + "/secrets", headers={"X-Auth-Token": tok})
        # raw bytes and control characters in a request line stay out of the log
        s = socket.create_connection(("127.0.0.1", self.emu.port), timeout=5)
        s.sendall(b"GET /caf\xc3\xa9\x1b[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"Connection: close", s.recv(65536))
        s.close()
        # the line is written after the answer: wait for it
        deadline = time.monotonic() + 3
        while True:
            with open(self.emu.log_file, encoding="utf-8") as f:
                log = f.read()
            if "/caf" in log or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertIn("GET /caf\\xc3\\xa9\\x1b[31m 404", log)
        self.assertNotIn("\x1b", log)
        self.assertRegex(log, r"GET %s/secrets 200 [0-9a-f]{32} ListSecrets" % BASE)
        self.assertIn("POST /v3/auth/tokens?nocatalog=true 201", log)
        for secret in (SK, "demo-pass", tok, "static-token-text"):
            self.assertNotIn(secret, log)


# -- several accounts: routing, discovery, agencies, limits, failing regions --------------
ORG_SEED = os.path.join(HERE, "..", "data", "org-seed.json")
with open(ORG_SEED, encoding="utf-8") as _f:
    ORG_JSON = json.load(_f)
ORG = {a["name"]: a for a in ORG_JSON["accounts"]}
MGMT, PROD, DEV, LOCKED = (ORG[n] for n in ("acme-mgmt", "acme-prod", "acme-dev", "acme-locked"))
MGMT_AK, MGMT_SK = MGMT["credentials"]["aksk"][0]["ak"], MGMT["credentials"]["aksk"][0]["sk"]
PROD_AK, PROD_SK = PROD["credentials"]["aksk"][0]["ak"], PROD["credentials"]["aksk"][0]["sk"]


def pid(account, region):
    return [p["id"] for p in account["projects"] if p["name"] == region][0]


class Org(EmulatorCase):
    SEED_FILE = ORG_SEED

    def csms(self, account, region, ak, sk, path="/secrets", method="GET", body=b"",
             token=None, host=None, date=None):
        p = pid(account, region)
        headers = {"X-Security-Token": token} if token else {}
        if host:
            headers["Host"] = host
        return self.c.signed(method, "/v1/%s%s" % (p, path), body, ak=ak, sk=sk, project=p,
                             headers=headers, date=date)

    def glob(self, method, path, body=None, ak=MGMT_AK, sk=MGMT_SK, token=None, date=None):
        """A signed IAM/STS/Organizations request (no project header)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        return self.c.signed(method, path, data, ak=ak, sk=sk, project=None,
                             headers={"X-Security-Token": token} if token else None, date=date)

    def assume(self, agency_account, name="tag-keeper", **fields):
        body = {"agency_urn": "iam::%s:agency:%s" % (agency_account["id"], name),
                "agency_session_name": "csms-tagd"}
        body.update(fields)
        return self.glob("POST", "/v5/agencies/assume", body)

    def temp(self, account, **fields):
        a = self.assume(account, **fields)
        self.assertEqual(a.status, 200, a.body)
        c = a.json()["credentials"]
        return c["access_key_id"], c["secret_access_key"], c["security_token"]

    def accounts_view(self, account):
        return self.c.control("accounts?account=" + account["id"])["accounts"][0]

    def test_routing_by_project_and_host(self):
        names = {}
        for region in ("cn-north-4", "cn-east-3"):
            a = self.csms(MGMT, region, MGMT_AK, MGMT_SK)
            self.assertEqual(a.status, 200, a.body)
            names[region] = [s["id"] for s in a.json()["secrets"]]
        self.assertEqual((len(names["cn-north-4"]), len(names["cn-east-3"])), (3, 2))
        self.assertFalse(set(names["cn-north-4"]) & set(names["cn-east-3"]))
        # another account's project, with or without the right header
        self.assert_gateway_error(self.csms(PROD, "cn-north-4", MGMT_AK, MGMT_SK), 403,
                                  "APIGW.0302")
        self.assertEqual(self.csms(PROD, "cn-north-4", PROD_AK, PROD_SK).status, 200)
        # the Host names service and region
        north = pid(MGMT, "cn-north-4")
        self.assertEqual(self.csms(MGMT, "cn-north-4", MGMT_AK, MGMT_SK,
                                   host="kms.cn-north-4.myhuaweicloud.com").status, 200)
        self.assert_gateway_error(self.csms(MGMT, "cn-north-4", MGMT_AK, MGMT_SK,
                                            host="kms.cn-east-3.myhuaweicloud.com:443"),
                                  403, "APIGW.0302", "not in region cn-east-3")
        self.assert_gateway_error(self.csms(MGMT, "cn-north-4", MGMT_AK, MGMT_SK,
                                            host="iam.cn-north-4.myhuaweicloud.com"),
                                  404, "APIGW.0101")
        # a deletion lands in its own project and account
        sid = PROD["projects"][1]["secrets"][0]["id"]
        a = self.csms(PROD, "cn-east-3", PROD_AK, PROD_SK, "/csms/%s/tags/stray-prod" % sid,
                      "DELETE")
        self.assertEqual(a.status, 204, a.body)
        self.assertEqual(self.c.control("state")["deleted"], [])    # the default project
        east = self.c.control("state?project=" + pid(PROD, "cn-east-3"))
        self.assertEqual([d["key"] for d in east["deleted"]], ["stray-prod"])
        view = self.accounts_view(PROD)
        self.assertEqual([(d["key"], d["project_id"], d["region"]) for d in view["deleted"]],
                         [("stray-prod", pid(PROD, "cn-east-3"), "cn-east-3")])
        self.assertEqual(self.accounts_view(MGMT)["deleted"], [])
        # counted: requests for the account's projects, whoever sends them
        self.assertEqual(view["counts"], {"ListSecrets": 2, "DeleteSecretTag": 1})
        self.assertEqual(view["statuses"], {"403": 1, "200": 1, "204": 1})
        self.assertEqual(self.accounts_view(MGMT)["requests"], 5)
        log = self.c.control("requests")["requests"]
        self.assertEqual((log[-1]["account"], log[-1]["project"]),
                         (PROD["id"], pid(PROD, "cn-east-3")))
        # control API per project; the default project is mgmt cn-north-4
        self.c.control("tags", {"project": pid(DEV, "cn-north-4"), "secret": "app-1",
                                "set": {"late": "1"}})
        dev = self.c.control("state?project=" + pid(DEV, "cn-north-4"))["secrets"]
        self.assertEqual(dev[1]["tags"]["late"], "1")
        self.assertEqual(self.c.control("state")["secrets"][0]["id"],
                         MGMT["projects"][0]["secrets"][0]["id"])
        self.assertEqual(self.c.request("GET", "/_emulator/state?project=nope").status, 400)
        self.assertEqual(north, pid(MGMT, "cn-north-4"))

    def test_auth_projects(self):
        a = self.glob("GET", "/v3/auth/projects")
        self.assertEqual(a.status, 200, a.body)
        projects = a.json()["projects"]
        self.assertEqual([(p["id"], p["name"]) for p in projects],
                         [(p["id"], p["name"]) for p in MGMT["projects"]])
        for p in projects:
            self.assertEqual((p["domain_id"], p["parent_id"], p["enabled"]),
                             (MGMT["id"], MGMT["id"], True))
        self.assertIn("self", a.json()["links"])
        prod = self.glob("GET", "/v3/auth/projects", ak=PROD_AK, sk=PROD_SK).json()["projects"]
        self.assertEqual({p["domain_id"] for p in prod}, {PROD["id"]})
        self.assert_gateway_error(self.c.request("GET", "/v3/auth/projects"), 401, "APIGW.0301")
        # the legacy listing is per account too
        a = self.glob("GET", "/v3/projects?name=cn-east-3")
        self.assertEqual([p["id"] for p in a.json()["projects"]], [pid(MGMT, "cn-east-3")])

    def test_organization_accounts_paging(self):
        ids = sorted(a["id"] for a in ORG_JSON["accounts"])
        seen, marker, pages = [], None, 0
        while True:
            q = "limit=3" + ("&marker=" + marker if marker else "")
            a = self.glob("GET", "/v1/organizations/accounts?" + q)
            self.assertEqual(a.status, 200, a.body)
            body = a.json()
            pages += 1
            self.assertEqual(body["page_info"]["current_count"], len(body["accounts"]))
            seen += body["accounts"]
            marker = body["page_info"]["next_marker"]
            if marker is None:
                break
        self.assertEqual(([s["id"] for s in seen], pages), (ids, 2))
        first = [s for s in seen if s["id"] == MGMT["id"]][0]
        self.assertEqual(first, {"id": MGMT["id"], "name": "acme-mgmt", "status": "active",
                                 "join_method": "created", "joined_at": MGMT["joined_at"],
                                 "urn": "organizations::%s:account:%s" % (MGMT["id"],
                                                                          MGMT["id"])})
        whole = self.glob("GET", "/v1/organizations/accounts").json()
        self.assertEqual((len(whole["accounts"]), whole["page_info"]["next_marker"]), (4, None))
        root = ORG_JSON["organization"]["root_id"]
        self.assertEqual(len(self.glob("GET", "/v1/organizations/accounts?parent_id=" + root)
                             .json()["accounts"]), 4)
        self.assertEqual(self.glob("GET", "/v1/organizations/accounts?parent_id=ou-x")
                         .json()["accounts"], [])
        self.assertEqual(self.glob("GET", "/v1/organizations/accounts?limit=500").status, 200)
        for bad in ("limit=0", "limit=501", "limit=x", "marker=nope",
                    "with_register_contact_info=true&limit=201",
                    "with_register_contact_info=yes"):
            self.assert_gateway_error(self.glob("GET", "/v1/organizations/accounts?" + bad), 400,
                                      "Organizations.1000")
        self.assert_gateway_error(self.glob("GET", "/v1/organizations/accounts", ak=PROD_AK,
                                            sk=PROD_SK), 401, "Organizations.1001",
                                  "management account")

    def test_assume_agency_v5(self):
        t0 = time.time()
        a = self.assume(PROD)
        self.assertEqual(a.status, 200, a.body)
        body = a.json()
        c = body["credentials"]
        self.assertEqual(set(c), {"access_key_id", "secret_access_key", "security_token",
                                  "expiration"})
        self.assertRegex(c["expiration"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        expires = time.mktime(time.strptime(c["expiration"][:19], "%Y-%m-%dT%H:%M:%S")) - \
            time.timezone
        self.assertAlmostEqual(expires - t0, 3600, delta=5)     # the default
        self.assertEqual(body["assumed_agency"]["urn"],
                         "sts::%s::assumed-agency:tag-keeper/csms-tagd" % PROD["id"])
        self.assertTrue(body["assumed_agency"]["id"].endswith(":csms-tagd"))
        ak, sk, tok = c["access_key_id"], c["secret_access_key"], c["security_token"]
        # the keys work in the member account, with their token, and only there
        self.assertEqual(self.csms(PROD, "cn-east-3", ak, sk, token=tok).status, 200)
        self.assert_gateway_error(self.csms(PROD, "cn-east-3", ak, sk), 401, "APIGW.0301",
                                  "security token")
        self.assert_gateway_error(self.csms(MGMT, "cn-east-3", ak, sk, token=tok), 403,
                                  "APIGW.0302")
        projects = self.glob("GET", "/v3/auth/projects", ak=ak, sk=sk, token=tok).json()
        self.assertEqual({p["domain_id"] for p in projects["projects"]}, {PROD["id"]})
        # chained: at most 3600 s; prod's agency trusts only mgmt
        chained = self.glob("POST", "/v5/agencies/assume", {
            "agency_urn": "iam::%s:agency:tag-keeper" % PROD["id"], "agency_session_name": "x2",
            "duration_seconds": 7200}, ak=ak, sk=sk, token=tok)
        self.assert_gateway_error(chained, 400, "STS5.0002", "security token")
        self.assertEqual(self.assume(PROD, duration_seconds=43200).status, 200)  # its maximum
        self.assertEqual(self.accounts_view(PROD)["counts"], {"ListSecrets": 2,
                                                              "KeystoneListAuthProjects": 1,
                                                              "AssumeAgency": 1})

    def test_assume_refused_and_invalid(self):
        self.assert_gateway_error(self.assume(LOCKED), 403, "STS5.0001", "access denied")
        self.assert_gateway_error(self.assume(DEV), 403, "STS5.0001", "external id")
        self.assert_gateway_error(self.assume(DEV, external_id="wrong-one"), 403, "STS5.0001")
        self.assertEqual(self.assume(DEV, external_id="acme-ext-0001").status, 200)
        a = self.assume(PROD, name="nobody")
        self.assert_gateway_error(a, 404, "STS5.1106", "cannot be found")
        self.assertIn("iam::%s:agency:nobody" % PROD["id"], a.json()["error_msg"])
        self.assert_gateway_error(self.assume({"id": "f" * 32}), 404, "STS5.1106")
        self.assert_gateway_error(self.assume({"id": "acme-prod"}), 404, "STS5.1106")
        urn = "iam::%s:agency:tag-keeper" % PROD["id"]
        for bad, field in (({}, "agency_urn"), ({"agency_urn": "tag-keeper"}, "agency_urn"),
                           ({"agency_urn": urn}, "agency_session_name"),
                           ({"agency_urn": urn, "agency_session_name": "x"}, "agency_session_name"),
                           ({"duration_seconds": 899}, "duration_seconds"),
                           ({"duration_seconds": 43201}, "duration_seconds"),
                           ({"duration_seconds": "3600"}, "duration_seconds"),
                           ({"external_id": "x"}, "external_id"),
                           ({"surprise": 1}, "surprise")):
            body = {"agency_urn": urn, "agency_session_name": "csms-tagd"} if field not in (
                "agency_urn", "agency_session_name") else {}
            body.update(bad)
            self.assert_gateway_error(self.glob("POST", "/v5/agencies/assume", body), 400,
                                      "STS5.0002", field)
        self.assert_gateway_error(self.assume(DEV, external_id="acme-ext-0001",
                                              duration_seconds=3601), 400, "STS5.0002",
                                  "maximum session")
        self.assert_gateway_error(self.glob("POST", "/v5/agencies/assume", b"{"), 400,
                                  "STS5.0002")
        self.assert_gateway_error(self.c.request("POST", "/v5/agencies/assume", b"{}"), 401,
                                  "APIGW.0301")

    def test_assumed_credentials_expire(self):
        ak, sk, tok = self.temp(PROD, duration_seconds=900)
        self.assertEqual(self.csms(PROD, "cn-north-4", ak, sk, token=tok).status, 200)
        self.c.control("config", {"clock_offset": 890})
        self.assertEqual(self.csms(PROD, "cn-north-4", ak, sk, token=tok,
                                   date=sdk_date(890)).status, 200)
        self.c.control("config", {"clock_offset": 901})
        self.assert_gateway_error(self.csms(PROD, "cn-north-4", ak, sk, token=tok,
                                            date=sdk_date(901)), 401, "APIGW.0301",
                                  "expired")
        self.c.control("config", {"clock_offset": 0})
        ak, sk, tok = self.temp(PROD)
        self.c.control("expire-tokens", {})
        self.assertEqual(self.csms(PROD, "cn-north-4", ak, sk, token=tok).status, 401)
        self.assertEqual(self.csms(PROD, "cn-north-4", PROD_AK, PROD_SK).status, 200)

    def v3(self, role, token=None, methods=("assume_role",)):
        body = {"auth": {"identity": {"methods": list(methods), "assume_role": role}}}
        if token is None:
            return self.glob("POST", "/v3.0/OS-CREDENTIAL/securitytokens", body)
        return self.c.request("POST", "/v3.0/OS-CREDENTIAL/securitytokens",
                              json.dumps(body).encode(), {"X-Auth-Token": token,
                                                          "Content-Type": "application/json"})

    def test_assume_agency_v3(self):
        login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "ops", "password": "ops-pass", "domain": {"name": "acme-mgmt"}}}},
            "scope": {"project": {"name": "cn-east-3"}}}}
        a = self.c.request("POST", "/v3/auth/tokens", json.dumps(login).encode())
        self.assertEqual(a.status, 201, a.body)
        self.assertEqual(a.json()["token"]["project"]["id"], pid(MGMT, "cn-east-3"))
        token = a.headers["X-Subject-Token"]
        # the token is scoped: its own project only
        self.assertEqual(self.c.request("GET", "/v1/%s/secrets" % pid(MGMT, "cn-east-3"),
                                        headers={"X-Auth-Token": token}).status, 200)
        self.assertEqual(self.c.request("GET", "/v1/%s/secrets" % pid(MGMT, "cn-north-4"),
                                        headers={"X-Auth-Token": token}).status, 403)
        t0 = time.time()
        a = self.v3({"agency_name": "tag-keeper", "domain_name": "acme-prod",
                     "session_user": {"name": "csms-tagd"}}, token)
        self.assertEqual(a.status, 201, a.body)
        cred = a.json()["credential"]
        self.assertEqual(set(cred), {"access", "secret", "securitytoken", "expires_at"})
        self.assertRegex(cred["expires_at"], r"\.\d{6}Z$")
        expires = time.mktime(time.strptime(cred["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - \
            time.timezone
        self.assertAlmostEqual(expires - t0, 900, delta=5)      # the default
        self.assertEqual(self.csms(PROD, "cn-north-4", cred["access"], cred["secret"],
                                   token=cred["securitytoken"]).status, 200)
        # AK/SK signing works too; domain_id, or both naming the same account
        self.assertEqual(self.v3({"agency_name": "tag-keeper", "domain_id": PROD["id"],
                                  "duration_seconds": 86400}).status, 201)
        self.assertEqual(self.v3({"agency_name": "tag-keeper", "domain_id": PROD["id"],
                                  "domain_name": "acme-prod"}).status, 201)
        for role, status in (({"agency_name": "tag-keeper", "domain_id": PROD["id"],
                               "domain_name": "acme-dev"}, 404),
                             ({"agency_name": "tag-keeper", "domain_name": "nobody"}, 404),
                             ({"agency_name": "nobody", "domain_name": "acme-prod"}, 404),
                             ({"agency_name": "tag-keeper", "domain_name": "acme-locked"}, 403),
                             ({"agency_name": "tag-keeper", "domain_name": "acme-dev"}, 403),
                             ({"agency_name": "tag-keeper"}, 400),
                             ({"domain_name": "acme-prod"}, 400),
                             ({"agency_name": "tag-keeper", "domain_name": "acme-prod",
                               "duration_seconds": 899}, 400),
                             ({"agency_name": "tag-keeper", "domain_name": "acme-prod",
                               "duration_seconds": 86401}, 400),
                             ({"agency_name": "tag-keeper", "domain_name": "acme-prod",
                               "session_user": "x"}, 400)):
            a = self.v3(role)
            self.assertEqual(a.status, status, (role, a.body))
            self.assertEqual(a.json()["error"]["code"], status)
        self.assertEqual(self.v3({"agency_name": "tag-keeper", "domain_name": "acme-prod"},
                                 methods=("password",)).status, 400)
        self.assertEqual(self.c.request("POST", "/v3.0/OS-CREDENTIAL/securitytokens",
                                        b"{}").status, 401)

    def test_account_rate_limit(self):
        ak, sk, tok = self.temp(DEV, external_id="acme-ext-0001")
        answers = [self.csms(DEV, "cn-north-4", ak, sk, token=tok) for _ in range(6)]
        self.assertEqual([a.status for a in answers[:5]], [200] * 5)
        self.assert_gateway_error(answers[5], 429, "APIGW.0308", "limit:5, time:1 second")
        self.assertGreaterEqual(int(answers[5].headers["Retry-After"]), 1)
        # the account's budget, whatever region or credentials
        self.assertEqual(self.csms(DEV, "cn-east-3", ak, sk, token=tok).status, 429)
        # other accounts are not held up; the default is 20 per second
        statuses = [self.csms(MGMT, "cn-north-4", MGMT_AK, MGMT_SK).status for _ in range(20)]
        self.assertEqual(statuses, [200] * 20)
        self.assertEqual(self.accounts_view(DEV)["statuses"]["429"], 2)
        self.assertEqual(self.accounts_view(DEV)["rate_limit"], 5)
        # changed through the control API, and back on reset
        self.c.control("accounts", {"account": "acme-prod", "rate_limit": 1})
        self.assertEqual([self.csms(PROD, "cn-north-4", PROD_AK, PROD_SK).status
                          for _ in range(2)], [200, 429])
        self.c.control("accounts", {"account": "*", "rate_limit": 0})
        self.assertEqual([a["rate_limit"] for a in self.c.control("accounts")["accounts"]],
                         [0] * 4)
        for bad in ({"account": "nobody", "rate_limit": 1}, {"account": "*", "rate_limit": -1},
                    {"account": "*", "rate_limit": True}, {"account": "*", "other": 1}):
            self.assertEqual(self.c.request("POST", "/_emulator/accounts",
                                            json.dumps(bad).encode()).status, 400, bad)
        self.assertEqual(self.c.request("GET", "/_emulator/accounts?account=nobody").status, 404)
        self.c.control("reset", {})
        self.assertEqual(self.accounts_view(PROD)["rate_limit"], 20)

    def test_failed_region(self):
        self.c.control("regions", {"region": "cn-east-3"})
        st = self.c.control("regions")
        self.assertEqual(st["regions"], ["cn-east-3", "cn-north-4"])
        self.assertEqual(st["failed"], {"cn-east-3": {"kind": "status", "status": 503,
                                                      "error_code": "APIGW.0201"}})
        self.assert_gateway_error(self.csms(MGMT, "cn-east-3", MGMT_AK, MGMT_SK), 503,
                                  "APIGW.0201", "cn-east-3")
        # before authentication; by Host too; other regions unaffected
        self.assertEqual(self.c.request("GET", "/v1/%s/secrets" % pid(PROD, "cn-east-3")).status,
                         503)
        self.assertEqual(self.glob("GET", "/v3/auth/projects").status, 200)
        a = self.c.signed("GET", "/v3/auth/projects", project=None,
                          headers={"Host": "iam.cn-east-3.myhuaweicloud.com"})
        self.assertEqual(a.status, 503)
        self.assertEqual(self.csms(MGMT, "cn-north-4", MGMT_AK, MGMT_SK).status, 200)
        self.c.control("regions", {"region": "cn-east-3", "kind": "reset"})
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.csms(MGMT, "cn-east-3", MGMT_AK, MGMT_SK)
        self.c.close()
        self.c.control("regions", {"region": "cn-east-3", "fail": False})
        self.assertEqual(self.csms(MGMT, "cn-east-3", MGMT_AK, MGMT_SK).status, 200)
        self.c.control("regions", {"region": "cn-north-4", "status": 502, "error_code": "X.1"})
        self.c.control("reset", {})
        self.assertEqual(self.c.control("regions")["failed"], {})
        for bad in ({"region": ""}, {"region": "x", "kind": "boom"}, {"region": "x", "status": 200},
                    {"region": "x", "fail": "yes"}, {"region": "x", "surprise": 1}):
            self.assertEqual(self.c.request("POST", "/_emulator/regions",
                                            json.dumps(bad).encode()).status, 400, bad)

    def test_ecs_identity_of_the_management_account(self):
        ecs = MGMT["credentials"]["ecs"]
        cred = self.c.request("GET", "/openstack/latest/securitykey").json()["credential"]
        self.assertEqual(cred["access"], ecs["ak"])
        a = self.glob("POST", "/v5/agencies/assume", {
            "agency_urn": "iam::%s:agency:tag-keeper" % PROD["id"],
            "agency_session_name": "custodian_agency_session"},
            ak=cred["access"], sk=cred["secret"], token=cred["securitytoken"])
        self.assertEqual(a.status, 200, a.body)


class LegacyAccount(EmulatorCase):
    """The single-account seed seen through the new endpoints."""

    def test_one_account(self):
        view = self.c.control("accounts")["accounts"]
        self.assertEqual([(a["id"], a["name"], a["rate_limit"], a["projects"]) for a in view],
                         [("d0" * 16, "demo-domain", 0,
                           [{"id": PID, "name": "cn-north-4", "region": "cn-north-4"}])])
        a = self.c.signed("GET", "/v3/auth/projects", project=None)
        self.assertEqual([p["id"] for p in a.json()["projects"]], [PID])
        self.assert_gateway_error(self.c.signed("GET", "/v1/organizations/accounts",
                                                project=None), 401, "Organizations.1001")
        self.assert_gateway_error(self.c.signed("POST", "/v5/agencies/assume", json.dumps({
            "agency_urn": "iam::%s:agency:x" % ("d0" * 16),
            "agency_session_name": "s1"}).encode(), project=None), 404, "STS5.1106")
        self.c.signed("DELETE", BASE + "/csms/%s/tags/temp-1" % SEED_IDS["app-batch"])
        self.assertEqual([d["key"] for d in self.c.control("accounts")["accounts"][0]["deleted"]],
                         ["temp-1"])
        # no account limit: 30 quick requests all pass
        self.assertTrue(all(self.c.signed("GET", BASE + "/secrets?limit=1").status == 200
                            for _ in range(30)))


class OrgSeeds(unittest.TestCase):
    def test_generated_organisation(self):
        work = tempfile.mkdtemp(prefix="emu-selftest-gen.")
        try:
            emu = Emulator(work, "--generate-accounts", "3", "--regions", "cn-north-4,cn-east-3",
                           "--generate", "5", "--random-seed", "2")
            c = Client(emu.port)
            view = c.control("accounts")["accounts"]
            self.assertEqual([a["name"] for a in view],
                             ["org-mgmt", "org-m0001", "org-m0002", "org-m0003"])
            self.assertTrue(all(len(a["projects"]) == 2 and a["rate_limit"] == 20 for a in view))
            self.assertEqual(view[2]["projects"][1]["id"], "pr%06x%024x" % (2, 1))
            member = view[3]
            st = c.control("state?project=" + member["projects"][1]["id"])
            self.assertEqual(len(st["secrets"]), 5)
            mgmt = emu_org.GENERATED_MGMT
            a = c.signed("POST", "/v5/agencies/assume", json.dumps({
                "agency_urn": "iam::%s:agency:tag-keeper" % member["id"],
                "agency_session_name": "bench"}).encode(), ak=mgmt["ak"], sk=mgmt["sk"],
                project=None)
            self.assertEqual(a.status, 200, a.body)
            a = c.signed("GET", "/v1/organizations/accounts?limit=2", ak=mgmt["ak"],
                         sk=mgmt["sk"], project=None)
            self.assertEqual(len(a.json()["accounts"]), 2)
            c.close()
            self.assertEqual(emu.stop(), 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_bad_seeds(self):
        work = tempfile.mkdtemp(prefix="emu-selftest-seed.")
        acct = {"id": "a" * 32, "name": "one", "projects": [{"id": "b" * 32, "name": "cn-north-4"}],
                "credentials": {"aksk": [{"ak": "AK1", "sk": "s"}]}}
        twin = dict(acct, id="c" * 32, name="two", projects=[{"id": "e" * 32, "name": "x"}])
        try:
            for seed, words in (({"accounts": [acct], "project_id": "x"}, "project_id"),
                                ({"accounts": []}, "accounts"),
                                ({"accounts": [acct, twin]}, "AK1"),
                                ({"accounts": [dict(acct, projects=[])]}, "projects"),
                                ({"accounts": [acct], "organization": {
                                    "management_account": "z" * 32}}, "organization"),
                                ({"accounts": [dict(acct, agencies=[{"name": "a",
                                                                     "max_session_seconds": 10}])]},
                                 "max_session_seconds"),
                                ({"accounts": [dict(acct, rate_limit=-1)]}, "rate_limit")):
                path = os.path.join(work, "seed.json")
                with open(path, "w") as f:
                    json.dump(seed, f)
                p = subprocess.run([PY, EMULATOR, "--seed", path], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(p.returncode, 2, (seed, p.stderr))
                self.assertIn(words, p.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


# -- HTTPS and the process ------------------------------------------------------------
class Https(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("no openssl command")
        cls.work = tempfile.mkdtemp(prefix="emu-selftest-tls.")
        cls.certs = os.path.join(cls.work, "certs")
        subprocess.run(["sh", os.path.join(HERE, "make-certs.sh"), cls.certs], check=True)
        cls.emus = {}
        for name in ("server", "self-signed", "wrong-host"):
            cls.emus[name] = Emulator(cls.work, "--seed", SEED, "--tls-cert",
                                      os.path.join(cls.certs, name + ".pem"), "--tls-key",
                                      os.path.join(cls.certs, name + "-key.pem"), name=name)

    @classmethod
    def tearDownClass(cls):
        for e in cls.emus.values():
            e.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def context(self):
        return ssl.create_default_context(cafile=os.path.join(self.certs, "ca.pem"))

    def test_trusted_server(self):
        c = Client(self.emus["server"].port, self.context())
        try:
            self.assertEqual(c.signed("GET", BASE + "/secrets").status, 200)
            a = c.signed("DELETE", BASE + "/csms/%s/tags/%s" % (SEED_IDS["app-web"],
                                                                quote("temp-build id", safe="")))
            self.assertEqual(a.status, 204)
            self.assertEqual(c.signed("GET", "/nope").status, 404)
            self.assertEqual(len(c.control("state")["deleted"]), 1)
        finally:
            c.close()

    def test_faults_over_tls(self):
        c = Client(self.emus["server"].port, self.context())
        try:
            c.control("faults", {"rules": [{"api": "ListSecrets", "kind": "reset", "count": 1}]})
            with self.assertRaises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
                c.signed("GET", BASE + "/secrets")
            self.assertEqual(c.signed("GET", BASE + "/secrets").status, 200)
        finally:
            c.close()

    def test_untrusted_and_wrong_host_fail(self):
        for name in ("self-signed", "wrong-host"):
            c = Client(self.emus[name].port, self.context())
            with self.assertRaises(ssl.SSLCertVerificationError):
                c.request("GET", "/_emulator/state")
            c.close()


class Process(unittest.TestCase):
    def test_generate_sigterm_and_bad_seed(self):
        work = tempfile.mkdtemp(prefix="emu-selftest-proc.")
        try:
            emu = Emulator(work, "--generate", "50", "--random-seed", "4")
            c = Client(emu.port)
            st = c.control("state")
            c.close()
            self.assertEqual([s["name"] for s in st["secrets"][:2]], ["app-00000", "app-00001"])
            self.assertEqual(len(st["secrets"]), 50)
            stray = sum(k.startswith("stray-") for s in st["secrets"] for k in s["tags"])
            self.assertEqual(stray, 8)
            t0 = time.monotonic()
            self.assertEqual(emu.stop(), 0)
            self.assertLess(time.monotonic() - t0, 3)
            bad = os.path.join(work, "bad.json")
            with open(bad, "w") as f:
                f.write('{"credentials": {"aksk": [{"ak": 1}]}}')
            p = subprocess.run([PY, EMULATOR, "--seed", bad], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(p.returncode, 2)
            self.assertIn("aksk", p.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=int(os.environ.get("VERBOSE", "1"))).result
    sys.exit(0 if result.wasSuccessful() else 1)
