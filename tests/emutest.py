"""emutest.py - shared pieces of the Python end-to-end tests: the emulator
process, configs and credential files, and csms-tagd runs."""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.request

TOP = os.environ["top_srcdir"]
TAGD = os.environ["CSMS_TAGD"]
PY = os.environ.get("PYTHON3", sys.executable)
EMULATOR = os.path.join(TOP, "tests/emulator/csms-emulator.py")
SEED = os.path.join(TOP, "tests/data/faults-seed.json")
POLICY = open(os.path.join(TOP, "tests/data/policy-example.ini")).read()
SK = "exampleSecretKey0000000000000000000000"


class Emulator:
    def __init__(self, work, *args):
        self.work = work
        port_file = os.path.join(work, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = os.path.join(work, "emulator.log")
        self.proc = subprocess.Popen([PY, EMULATOR, "--seed", SEED, "--port", "0",
                                      "--port-file", port_file, "--log-file", self.log,
                                      "--random-seed", "7", *args])
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s" % open(port_file).read().strip()

    def get(self, path):
        return json.load(urllib.request.urlopen(self.url + path))

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


DAEMON_DEFAULTS = {"request_timeout": "2s", "max_parallel_requests": "4",
                   "max_requests_per_second": "0", "max_deletes_per_pass": "100"}


def write_config(work, emu, method="aksk", extra=""):
    """The example policy pointed at EMU.  EXTRA holds "key = value" lines
    for [daemon]; they replace the defaults above (a key given twice is a
    config error)."""
    auth = {"aksk": "access_key_file = csms-ak\nsecret_key_file = csms-sk",
            "password": "user = demo\ndomain = demo-domain\npassword_file = csms-password",
            "token": "token_file = csms-token", "ecs": ""}[method]
    daemon = dict(DAEMON_DEFAULTS)
    if os.environ.get("CSMS_TEST_GOVERNANCE"):
        daemon["state_directory"] = work
    for line in extra.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            daemon[k.strip()] = v.strip()
    daemon_lines = "\n".join(f"{k} = {v}" for k, v in daemon.items())
    path = os.path.join(work, "csms-tagd.conf")
    with open(path, "w") as f:
        f.write(f"""[csms]
region = cn-north-4
project_id = 0123456789abcdef0123456789abcdef
endpoint = {emu.url}
iam_endpoint = {emu.url}
metadata_endpoint = {emu.url}

[auth]
method = {method}
{auth}

[daemon]
{daemon_lines}

{POLICY}
""")
        if os.environ.get("CSMS_TEST_GOVERNANCE"):
            f.write(GOVERNANCE_ON.format(expires=time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))))
    return path


# With CSMS_TEST_GOVERNANCE set (tests/governance-safety.sh), every config
# also has the governance features on without changing what the policy
# deletes: the grace clock store in use (a section no seed secret matches
# has a grace period), an active exemption and a required tag.  The safety
# and fault suites must pass the same with them.
GOVERNANCE_ON = """
[secrets "governance-probe-*"]
/grace = 1d
/required = owner
owner = *

[exempt "matches nothing"]
secret = no-such-secret
key = *
reason = exercise the exemption code on every pass
expires = {expires}
"""


def write_creds(work, sk=SK):
    d = os.path.join(work, "credentials")
    os.makedirs(d, mode=0o700, exist_ok=True)
    for name, value in [("csms-ak", "EXAMPLEAK0000000000"), ("csms-sk", sk),
                        ("csms-password", "demo-pass"), ("csms-token", "static-token-text")]:
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chmod(p, 0o600)
    return d


def run_once(work, conf, creds, *args):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.run([TAGD, "-c", conf, "--once", "--log-level", "debug", *args], env=env,
                       capture_output=True, text=True, timeout=120)
    with open(os.path.join(work, "output.log"), "a") as f:
        f.write(p.stdout + p.stderr)
    return p.returncode


def wrong_deletions(work, conf, deleted, sys_tags):
    """Deleted tags that the desired state allows (must be none)."""
    if not deleted:
        return []
    resources = []
    for i, d in enumerate(deleted):
        resources.append({"resource_id": "probe-%d" % i, "resource_name": d["secret_name"],
                          "resource_detail": {"state": "ENABLED"},
                          "tags": [{"key": d["key"], "value": d["value"]}],
                          "sys_tags": [{"key": k, "value": v}
                                       for k, v in sys_tags.get(d["secret_name"], {}).items()]})
    obs = os.path.join(work, "probe.json")
    with open(obs, "w") as f:
        json.dump({"resources": resources, "total_count": len(resources)}, f)
    p = subprocess.run([TAGD, "-c", conf, "--plan", "--json", "--observed", obs],
                       capture_output=True, text=True)
    if p.returncode not in (0, 2):
        raise RuntimeError("--plan failed: " + p.stderr)
    planned = {(x["secret_id"]) for x in json.loads(p.stdout)["deletions"]}
    return [d for i, d in enumerate(deleted) if "probe-%d" % i not in planned]


def observed_file(emu, work):
    """The emulator's state as a ListResourceInstances answer in a file,
    for --plan and --explain --observed."""
    st = emu.get("/_emulator/state")
    resources = [{"resource_id": s["id"], "resource_name": s["name"],
                  "resource_detail": {"state": s.get("state", "ENABLED")},
                  "tags": [{"key": k, "value": v} for k, v in s["tags"].items()],
                  "sys_tags": [{"key": k, "value": v} for k, v in s.get("sys_tags", {}).items()]}
                 for s in st["secrets"]]
    obs = os.path.join(work, "state.json")
    with open(obs, "w") as f:
        json.dump({"resources": resources, "total_count": len(resources)}, f)
    return obs


def converged(emu, work, conf):
    """Observed state equals desired state: --plan over the emulator's state
    finds nothing to delete."""
    return subprocess.run([TAGD, "-c", conf, "--plan", "--observed", observed_file(emu, work)],
                          capture_output=True).returncode == 0


# Checks of a scenario-based test (safety.py, governance.py): each prints
# one line; FAILURES collects the failed ones for the exit status.
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def output(work):
    """What the runs since the last call printed (run_once appends it)."""
    path = os.path.join(work, "output.log")
    text = open(path).read() if os.path.exists(path) else ""
    open(path, "w").close()
    return text


def scenario(fn, prefix):
    """Run FN(work, emu, creds) in a fresh directory with its own emulator."""
    work = tempfile.mkdtemp(prefix=prefix)
    emu = Emulator(work)
    try:
        fn(work, emu, write_creds(work))
    except Exception as e:
        check(False, f"{fn.__name__}: {e!r}")
    finally:
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)
