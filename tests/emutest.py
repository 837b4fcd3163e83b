"""emutest.py - shared pieces of the Python end-to-end tests: the emulator
process, configs and credential files, and csms-tagd runs (--once, or as a
daemon driven by signals), the deletion oracle and sanitizer checks."""
import json, os, re, shutil, signal, sqlite3, subprocess, sys, tempfile, time, urllib.request

TOP = os.environ["top_srcdir"]
TAGD = os.environ["CSMS_TAGD"]
PY = os.environ.get("PYTHON3", sys.executable)
EMULATOR = os.path.join(TOP, "tests/emulator/csms-emulator.py")
SEED = os.path.join(TOP, "tests/data/faults-seed.json")
POLICY = open(os.path.join(TOP, "tests/data/policy-example.ini")).read()
SK = "exampleSecretKey0000000000000000000000"


class Emulator:
    def __init__(self, work, *args, seed=SEED):
        self.work = work
        port_file = os.path.join(work, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = os.path.join(work, "emulator.log")
        self.proc = subprocess.Popen([PY, EMULATOR, "--seed", seed, "--port", "0",
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

    def faults(self, *rules):
        return self.post("/_emulator/faults", {"rules": list(rules)})

    def state(self):
        return self.get("/_emulator/state")

    def requests(self):
        """The request log: dicts with api, secret, key, arrival, answer, ..."""
        return self.get("/_emulator/requests")["requests"]

    def wait_parked(self, n=1, timeout=20):
        """True once N requests are parked by "hold" faults."""
        return wait_until(lambda: self.get("/_emulator/holds")["parked"] >= n, timeout)

    def release(self):
        return self.post("/_emulator/release", {})["released"]

    def fail_region(self, region, fail=True):
        """Every request for REGION answers 503 (or, FAIL False, works again)."""
        return self.post("/_emulator/regions", {"region": region, "fail": fail})

    def accounts(self):
        """Per account: id, name, counts per API, statuses, deletions (emu_control)."""
        return self.get("/_emulator/accounts")["accounts"]

    def project_deletions(self):
        """The deletions of every project of every account: (project id,
        secret id, key, value)."""
        return [(d["project_id"], d["secret_id"], d["key"], d["value"])
                for a in self.accounts() for d in a["deleted"]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def wait_until(cond, timeout, step=0.05):
    """Poll COND until it is true (True) or TIMEOUT seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


DAEMON_DEFAULTS = {"request_timeout": "2s", "max_parallel_requests": "4",
                   "max_requests_per_second": "0", "max_deletes_per_pass": "100"}


def write_config(work, emu, method="aksk", extra="", policy=None, drop=(), name="csms-tagd.conf"):
    """The example policy (or POLICY) pointed at EMU.  EXTRA holds "key =
    value" lines for [daemon]; they replace the defaults above (a key given
    twice is a config error); keys in DROP are left to the daemon's own
    defaults."""
    auth = {"aksk": "access_key_file = csms-ak\nsecret_key_file = csms-sk",
            "password": "user = demo\ndomain = demo-domain\npassword_file = csms-password",
            "token": "token_file = csms-token", "ecs": ""}[method]
    daemon = dict(DAEMON_DEFAULTS)
    # Each test its own ledger (and grace clocks), never the system's.
    daemon["state_directory"] = work
    for line in extra.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            daemon[k.strip()] = v.strip()
    daemon_lines = "\n".join(f"{k} = {v}" for k, v in daemon.items() if k not in drop)
    path = os.path.join(work, name)
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

{POLICY if policy is None else policy}
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


def run_once(work, conf, creds, *args, timeout=120):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.run([TAGD, "-c", conf, "--once", "--log-level", "debug", *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    with open(os.path.join(work, "output.log"), "a") as f:
        f.write(p.stdout + p.stderr)
    return p.returncode


# What ASan, LSan and UBSan print (the suites also run in check-all's
# sanitizer build, where CSMS_TAGD is the instrumented binary).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_errors(text):
    return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKERS)]


class Daemon:
    """csms-tagd as a service (no mode option), its output in a file."""

    def __init__(self, work, conf, creds, *args, env=None):
        self.out = os.path.join(work, "daemon.log")
        base = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        base.pop("JOURNAL_STREAM", None)    # stderr, whoever runs the tests
        base.pop("NOTIFY_SOCKET", None)     # unless ENV gives the test's own
        env = dict(base, **(env or {}))
        with open(self.out, "ab") as f:
            self.proc = subprocess.Popen([TAGD, "-c", conf, "--log-level", "debug",
                                          "--log-target", "stderr", *args], env=env,
                                         stdout=f, stderr=subprocess.STDOUT)

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def rss_peak_kb(self):
        """VmHWM: the peak resident set so far."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=10):
        """SIGTERM; (exit status or None if it did not exit within TIMEOUT,
        seconds it took).  A daemon still running afterwards is killed."""
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.proc.kill()
            self.proc.wait()
        return rc, time.monotonic() - t0

    def output(self):
        with open(self.out, errors="replace") as f:
            return f.read()


class Notify:
    """tests/notify-listener.py on SOCK: what the daemon sends to systemd."""

    def __init__(self, work):
        self.sock = os.path.join(work, "notify.sock")
        self.log = os.path.join(work, "notify.log")
        self.proc = subprocess.Popen([PY, os.path.join(TOP, "tests/notify-listener.py"),
                                      self.sock, self.log])
        wait_until(lambda: os.path.exists(self.sock), 10)

    def values(self, key):
        """Every value of KEY sent so far, oldest first."""
        if not os.path.exists(self.log):
            return []
        out = []
        with open(self.log, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3 and parts[2].startswith(key + "="):
                    out.append(parts[2][len(key) + 1:])
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def json_records(text):
    """The records of --log-target json output in TEXT (other lines skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def prometheus(path):
    """The samples of a metrics file: [(name, {label: value}, value)]."""
    samples = []
    if not os.path.exists(path):
        return samples
    for line in open(path):
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def has_option(option):
    """Whether csms-tagd --help mentions OPTION (a feature not merged yet: SKIP)."""
    return option in subprocess.run([TAGD, "--help"], capture_output=True, text=True).stdout


def ledger_rows(state, outcome=None):
    """The deletion ledger in STATE (a test's state_directory): (secret id,
    key, value) of each row, with OUTCOME if given ("deleted", "pending",
    ...), in intent order."""
    db = sqlite3.connect(os.path.join(state, "ledger.db"), timeout=10)
    try:
        rows = db.execute("SELECT secret_id, key, value, outcome FROM deletions ORDER BY id").fetchall()
    finally:
        db.close()
    return [(i, k, v) for i, k, v, o in rows if outcome is None or o == outcome]


def emulator_deletions(emu):
    """The emulator's own record of deletions: (secret id, key, value)."""
    return [(d["secret_id"], d["key"], d["value"]) for d in emu.state()["deleted"]]


def same_deletions(state, emu):
    """Whether the ledger's deletions are exactly the emulator's."""
    return sorted(ledger_rows(state, "deleted")) == sorted(emulator_deletions(emu))


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
    return cond


def output(work):
    """What the runs since the last call printed (run_once appends it)."""
    path = os.path.join(work, "output.log")
    text = open(path).read() if os.path.exists(path) else ""
    open(path, "w").close()
    return text


def scenario(fn, *emu_args, prefix="csms-scenario.", seed=SEED):
    """FN(work, emu, creds) with a fresh emulator started with EMU_ARGS (and
    SEED); an exception fails the scenario, not the script."""
    work = tempfile.mkdtemp(prefix=prefix)
    emu = Emulator(work, *emu_args, seed=seed)
    t0 = time.monotonic()
    failed_before = len(failures)
    try:
        fn(work, emu, write_creds(work))
    except Exception as e:
        check(False, f"{fn.__name__}: {e!r}")
    finally:
        emu.stop()
        # A scenario may keep the daemon's output in work/output.log: show
        # its end when the scenario failed, before the directory goes.
        log = os.path.join(work, "output.log")
        if len(failures) > failed_before and os.path.exists(log):
            print(open(log, errors="replace").read()[-6000:])
        shutil.rmtree(work, ignore_errors=True)
        print(f"-- {fn.__name__}: {time.monotonic() - t0:.1f}s", flush=True)


def report():
    """The script's exit status after its scenarios."""
    print(f"{len(failures)} failures")
    return 1 if failures else 0
