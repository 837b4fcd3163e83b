"""bench_org.py - make bench's organisation case (issue 17): 500 targets
(250 member accounts x 2 regions, csms-emulator.py --generate-accounts),
200 secrets each, 8 tags per secret, 2% stray, 20 ms latency, the
documented 20 CSMS requests/s per account.  Measured:

  (a) the emulator's own ceiling for the request mix of an organisation
      pass (per target ListResourceInstances, its DELETEs, the closing
      ListResourceInstances; one AssumeAgency per account), sent by a load
      generator of pre-signed requests over many keep-alive connections;
      the bound "wall time the emulator allows" is max(requests / ceiling,
      the per-account rate: an account's requests / 20 per second);
  (b) one csms-tagd --once in organisation mode over all 500 targets:
      wall time, requests, peak RSS (/usr/bin/time -v);
  (c) the same at 10 and 100 targets: how time and memory grow;
  (d) today's way: one single-project csms-tagd --once per target, all at
      once (each at half the account rate: two share an account), the sum
      of their PSS (/proc/PID/smaps_rollup, sampled; the peak sum) and the
      wall time until the last exits.

(b) and (c) need a csms-tagd with organisation mode (--help mentions
--target); without it they are reported as skipped.  Figures only, never
a timed test: a run fails only when a run itself fails.
BENCH_ORG_TARGETS="10 100 500" picks the sizes of (b)/(c).
"""
import asyncio, collections, hashlib, json, os, re, shutil, subprocess, sys, tempfile, time
import urllib.request

TOP = os.environ["top_srcdir"]
TAGD = os.environ["CSMS_TAGD"]
PY = os.environ.get("PYTHON3", sys.executable)
sys.path.insert(0, os.path.join(TOP, "tests/emulator"))
sys.dont_write_bytecode = True
import emu_sign  # noqa: E402

MEMBERS = 250
REGIONS = ["cn-north-4", "ap-southeast-1"]
SECRETS = 200
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "20"))
ACCOUNT_RATE = 20                   # the emulator's default per-account rate
MGMT_AK, MGMT_SK = "ORGMGMTAK00000000000", "orgMgmtSecretKey00000000000000000000"
MGMT_ID = "ac%030x" % 0
LOADGEN_CONNECTIONS = 128
POLICY = """[secrets "app-*"]
stray-* = !
* = *
"""


# -- the organisation ---------------------------------------------------------------
def targets(n):
    """The first N targets, account by account: dicts name, account_id,
    account_name, region, project_id (emu_org.generated_seed's ids)."""
    out = []
    for i in range(1, MEMBERS + 1):
        for r, region in enumerate(REGIONS):
            out.append({"name": "org-m%04d-%s" % (i, region), "account_id": "ac%030x" % i,
                        "account_name": "org-m%04d" % i, "region": region,
                        "project_id": "pr%06x%024x" % (i, r)})
    return out[:n]


class OrgEmulator:
    def __init__(self, work):
        port_file = os.path.join(work, "port")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([PY, os.path.join(TOP, "tests/emulator/csms-emulator.py"),
                                      "--generate-accounts", str(MEMBERS), "--regions", ",".join(REGIONS),
                                      "--generate", str(SECRETS), "--tags-per-secret", "8",
                                      "--stray-fraction", "0.02", "--random-seed", "1",
                                      "--latency-ms", str(LATENCY_MS), "--port", "0",
                                      "--port-file", port_file])
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.monotonic() - t0 > 300:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.1)
        self.startup = time.monotonic() - t0
        self.port = int(open(port_file).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def control(self, path, body=None):
        req = urllib.request.Request(self.url + "/_emulator/" + path,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=600))

    def reset(self):
        self.control("reset", {})

    def totals(self):
        st = self.control("state")
        return st["requests"], {k: v for k, v in st["counts"].items() if v}

    def deleted(self, tlist):
        return sum(len(self.control("state?project=" + t["project_id"])["deleted"]) for t in tlist)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# -- (a) the emulator's ceiling -----------------------------------------------------
def _raw(port, method, path, body, ak, sk, token, project):
    """The bytes of one request signed like the SDK (every header sent)."""
    raw_path, _, raw_query = path.partition("?")
    h = {"host": "127.0.0.1:%d" % port, "x-sdk-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}
    if project:
        h["x-project-id"] = project
    if token:
        h["x-security-token"] = token
    if body:
        h["content-type"] = "application/json;charset=UTF-8"
    h["authorization"] = emu_sign.sign(ak, sk, method, raw_path, raw_query, h, body)
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items())
    return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body


async def _exchange(reader, writer, raw):
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    body = await reader.readexactly(int(m.group(1))) if m else b""
    return int(head[9:12]), body, b"connection: close" in head.lower()


async def _send_all(port, requests, connections):
    """Send REQUESTS (raw bytes) in order over CONNECTIONS keep-alive
    connections; {status: count}, bodies of the first len(requests) (only
    kept when asked) are not needed."""
    queue = collections.deque(requests)
    statuses = collections.Counter()
    bodies = []

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            raw = queue.popleft()
            status, body, close = await _exchange(reader, writer, raw)
            statuses[status] += 1
            bodies.append(body)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(min(connections, len(requests)))))
    return statuses, bodies


def _strays(emu, t):
    """(secret id, key) of each stray tag of target T."""
    st = emu.control("state?project=" + t["project_id"])
    return [(s["id"], k) for s in st["secrets"] for k in s["tags"] if k.startswith("stray-")]


def emulator_ceiling(emu, tlist):
    """The emulator's throughput for an organisation pass's request mix:
    (CSMS requests sent, seconds, requests/s, statuses, emulator CPU share
    of one core, AssumeAgency requests, the busiest account's requests)."""
    creds = {}
    accounts = sorted({t["account_id"] for t in tlist})
    assume = [_raw(emu.port, "POST", "/v5/agencies/assume", json.dumps(
        {"agency_urn": "iam::%s:agency:tag-keeper" % a, "agency_session_name": "bench"}).encode(),
        MGMT_AK, MGMT_SK, None, None) for a in accounts]
    statuses, bodies = asyncio.run(_send_all(emu.port, assume, 1))
    for a, body in zip(accounts, bodies):
        c = json.loads(body)["credentials"]
        creds[a] = (c["access_key_id"], c["secret_access_key"], c["security_token"])
    lri = b'{"action":"filter","limit":"250","offset":"0"}'
    per_target = []
    for t in tlist:
        ak, sk, token = creds[t["account_id"]]
        pid = t["project_id"]
        list_req = _raw(emu.port, "POST", "/v1/%s/csms/resource_instances/action" % pid, lri,
                        ak, sk, token, pid)
        deletes = [_raw(emu.port, "DELETE", "/v1/%s/csms/%s/tags/%s" % (pid, sid, key), b"",
                        ak, sk, token, pid) for sid, key in _strays(emu, t)]
        per_target.append([list_req] + deletes + [list_req])
    # Round-robin over the targets, as an organisation pass spreads them:
    # no account goes over its rate while the total stays under 20 x accounts.
    ordered = [r for rnd in range(max(map(len, per_target)))
               for reqs in per_target if rnd < len(reqs) for r in [reqs[rnd]]]
    per_account = collections.Counter()
    for t, reqs in zip(tlist, per_target):
        per_account[t["account_id"]] += len(reqs)
    cpu0, t0 = emu.cpu_seconds(), time.monotonic()
    statuses, _ = asyncio.run(_send_all(emu.port, ordered, LOADGEN_CONNECTIONS))
    wall = time.monotonic() - t0
    cpu = (emu.cpu_seconds() - cpu0) / wall
    return {"requests": len(ordered), "seconds": wall, "rate": len(ordered) / wall,
            "statuses": dict(statuses), "emulator_cpu": cpu, "assume": len(assume),
            "busiest_account": max(per_account.values())}


# -- configs ------------------------------------------------------------------------
def write_creds(work):
    d = os.path.join(work, "credentials")
    os.makedirs(d, mode=0o700, exist_ok=True)
    for name, value in (("gen-ak", MGMT_AK), ("gen-sk", MGMT_SK)):
        with open(os.path.join(d, name), "w") as f:
            f.write(value + "\n")
        os.chmod(os.path.join(d, name), 0o600)
    return d


def _endpoints(url):
    return (f"endpoint = {url}\niam_endpoint = {url}\nsts_endpoint = {url}\n"
            f"organizations_endpoint = {url}\n")


AUTH = """[auth]
method = agency
access_key_file = gen-ak
secret_key_file = gen-sk
agency_name = tag-keeper
"""


def org_config(work, url, tlist):
    """Organisation mode (issue 17): one [target] per target, base AK/SK
    assuming tag-keeper in each account, the documented 20/s per account."""
    path = os.path.join(work, "org.conf")
    with open(path, "w") as f:
        f.write("[csms]\n" + _endpoints(url) + "\n" + AUTH + "base = aksk\n\n")
        f.write(f"""[daemon]
state_directory = {work}/state
max_requests_per_second = {ACCOUNT_RATE}
max_parallel_requests = 192
max_parallel_targets = 500
max_deletes_per_pass = 1000
request_timeout = 30s
pass_timeout = 30min

""")
        for t in tlist:
            f.write(f'[target "{t["name"]}"]\naccount_id = {t["account_id"]}\n'
                    f'account_name = {t["account_name"]}\nregion = {t["region"]}\n'
                    f'project_id = {t["project_id"]}\n\n')
        f.write(POLICY)
    os.makedirs(os.path.join(work, "state"), exist_ok=True)
    return path


def single_config(work, url, t, i):
    """Today's form: one project, its account's agency; half the account's
    rate, since the account's two regions run as two processes."""
    state = os.path.join(work, "s%03d" % i)
    os.makedirs(state, exist_ok=True)
    path = os.path.join(state, "csms-tagd.conf")
    with open(path, "w") as f:
        f.write(f"""[csms]
region = {t["region"]}
project_id = {t["project_id"]}
{_endpoints(url)}
{AUTH}agency_account_id = {t["account_id"]}

[daemon]
state_directory = {state}
max_requests_per_second = {ACCOUNT_RATE // len(REGIONS)}
max_parallel_requests = 8
max_deletes_per_pass = 1000
request_timeout = 30s
pass_timeout = 30min

{POLICY}""")
    return path


def has_org_mode():
    return "--target" in subprocess.run([TAGD, "--help"], capture_output=True, text=True).stdout


# -- (b), (c): one process ----------------------------------------------------------
def org_once(work, emu, tlist):
    emu.reset()
    conf = org_config(work, emu.url, tlist)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(work, "credentials"))
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", TAGD, "-c", conf, "--once", "--log-level", "warning"],
                       env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    requests, counts = emu.totals()
    return {"targets": len(tlist), "exit": p.returncode, "wall": wall,
            "rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"), "requests": requests,
            "counts": counts, "deleted": emu.deleted(tlist), "err": p.stderr[-400:]}


# -- (d): one process per target ----------------------------------------------------
def _pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes(work, emu, tlist):
    """All of TLIST as single-project --once processes started at once."""
    emu.reset()
    confs = [single_config(work, emu.url, t, i) for i, t in enumerate(tlist)]
    env = dict(os.environ, CREDENTIALS_DIRECTORY=os.path.join(work, "credentials"))
    t0 = time.monotonic()
    logs = [open(c + ".log", "w") for c in confs]
    procs = [subprocess.Popen([TAGD, "-c", c, "--once", "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=log) for c, log in zip(confs, logs)]
    started = time.monotonic() - t0
    peak_pss, peak_alive, samples = 0, 0, 0
    while True:
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            break
        total = sum(_pss_kb(p.pid) for p in alive)
        samples += 1
        if total > peak_pss:
            peak_pss, peak_alive = total, len(alive)
        time.sleep(0.1)
    wall = time.monotonic() - t0
    requests, counts = emu.totals()
    exits = collections.Counter(p.returncode for p in procs)
    errors = collections.Counter()
    for c, log, p in zip(confs, logs, procs):
        log.close()
        if p.returncode not in (0, 2):
            lines = open(c + ".log", errors="replace").read().splitlines()
            errors[re.sub(r"[0-9a-f]{32}|\d+", "N", lines[-1] if lines else "(no output)")] += 1
    return {"targets": len(tlist), "wall": wall, "start_all": started, "pss_mb": peak_pss / 1024,
            "alive_at_peak": peak_alive,
            "pss_each_mb": peak_pss / 1024 / max(peak_alive, 1), "samples": samples, "requests": requests,
            "counts": counts, "exits": dict(exits), "errors": errors, "deleted": emu.deleted(tlist)}


# -- the case -----------------------------------------------------------------------
def _apis(counts):
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def run():
    """Print the organisation case's figures; the number of failed runs."""
    sizes = [int(x) for x in os.environ.get("BENCH_ORG_TARGETS", "10 100 500").split()]
    n = max(sizes)
    tlist = targets(n)
    work = tempfile.mkdtemp(prefix="csms-bench-org.")
    bad = 0
    t_case = time.monotonic()
    try:
        write_creds(work)
        emu = OrgEmulator(work)
        try:
            print(f"\norganisation: {len(tlist)} targets ({len(tlist) // len(REGIONS)} accounts x "
                  f"{len(REGIONS)} regions), {SECRETS} secrets each, 8 tags, 2% stray, "
                  f"{LATENCY_MS} ms latency, {ACCOUNT_RATE} requests/s per account "
                  f"(emulator start {emu.startup:.1f}s)", flush=True)
            c = emulator_ceiling(emu, tlist)
            rate_bound = c["busiest_account"] / ACCOUNT_RATE
            bound = max(c["requests"] / c["rate"], rate_bound) + c["assume"] / c["rate"]
            print(f"(a) emulator ceiling: {c['requests']} CSMS requests in {c['seconds']:.2f}s over "
                  f"{LOADGEN_CONNECTIONS} connections = {c['rate']:.0f} requests/s "
                  f"(emulator CPU {c['emulator_cpu'] * 100:.0f}% of a core; statuses "
                  f"{c['statuses']}); bound for {len(tlist)} targets: "
                  f"{c['requests'] + c['assume']} requests -> {bound:.1f}s "
                  f"(per-account rate alone: {rate_bound:.1f}s)", flush=True)
            if not set(c["statuses"]) <= {200, 204}:
                bad += 1
            print(f"{'':4}{'targets':>7} {'wall s':>7} {'bound s':>7} {'requests':>8} {'deleted':>7} "
                  f"{'memory MB':>9}  requests per API")
            if has_org_mode():
                for size in sizes:
                    r = org_once(work, emu, tlist[:size])
                    b = bound * size / n
                    ok = r["exit"] in (0, 2)
                    bad += not ok
                    print(f"(b) {size:>7} {r['wall']:>7.2f} {b:>7.1f} {r['requests']:>8} "
                          f"{r['deleted']:>7} {r['rss_mb']:>9.1f}  {_apis(r['counts'])}  peak RSS, one "
                          f"process" + ("" if ok else f"  (exit {r['exit']}: {r['err']!r})"),
                          flush=True)
            else:
                print("(b)/(c) skipped: this csms-tagd has no organisation mode (--help has no --target)")
            d = processes(work, emu, tlist)
            ok = set(d["exits"]) <= {0, 2}
            bad += not ok
            print(f"(d) {d['targets']:>7} {d['wall']:>7.2f} {bound:>7.1f} {d['requests']:>8} "
                  f"{d['deleted']:>7} {d['pss_mb']:>9.1f}  {_apis(d['counts'])}  sum of PSS of "
                  f"{d['alive_at_peak']} processes at the peak, {d['pss_each_mb']:.1f} MB each ({d['samples']} samples; all started "
                  f"in {d['start_all']:.1f}s; exits {d['exits']})", flush=True)
            for line, count in d["errors"].most_common(3):
                print(f"    {count} failed: {line}")
        finally:
            emu.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"organisation case: {time.monotonic() - t_case:.0f}s")
    return bad


if __name__ == "__main__":
    sys.exit(1 if run() else 0)
