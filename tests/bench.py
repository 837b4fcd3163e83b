#!/usr/bin/env python3
"""make bench: csms-tagd --once against the emulator, measured.

Cases: 500 and 10,000 secrets, 8 tags each, 2% of tags stray, 20 ms latency
per request; observation by ListResourceInstances and by ListSecrets +
ListSecretTags; and a serial one-request-at-a-time run of the same binary as
the baseline; first, the deletion ledger's cost per deletion (p50/p99 of
an fsync'd intent and its outcome, tests/bench-ledger.c; BENCH_LEDGER_ONLY=1
stops there).  Prints wall time, requests per API and peak RSS (from
/usr/bin/time -v).  Then the re-check -> DELETE window: for a 40-tag plan
at the default pacing, from the emulator's request log, the time from the
answer of a secret's last ListSecretTags (its re-check) to the arrival of
each of its DELETEs; median and max, for 40 secrets x 1 tag and for 10
secrets x 4 tags (there the n-th DELETE of a secret follows n - 1 pacing
slots later; the first DELETEs are shown apart).  A
benchmark, not a test: it prints figures and only fails when a run itself
fails.  BENCH_SIZES="" measures the window alone.  Last, the organisation
case (tests/bench_org.py: 500 targets in one process beside 500 processes,
about 2 minutes); BENCH_ORG=0 leaves it out, BENCH_ORG=1 runs it alone.
"""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_org  # noqa: E402

TOP = os.environ["top_srcdir"]
TAGD = os.environ["CSMS_TAGD"]
PY = os.environ.get("PYTHON3", sys.executable)
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "500 10000").split()]
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "20"))
SERIAL_LIST_MAX = 500        # a serial ListSecretTags run of 10,000 takes minutes


def start_emulator(work, n):
    port_file = os.path.join(work, "port")
    proc = subprocess.Popen([PY, os.path.join(TOP, "tests/emulator/csms-emulator.py"),
                             "--seed", os.path.join(TOP, "tests/emulator/seed-example.json"),
                             "--generate", str(n), "--tags-per-secret", "8", "--stray-fraction", "0.02",
                             "--random-seed", "1", "--latency-ms", str(LATENCY_MS),
                             "--port", "0", "--port-file", port_file])
    for _ in range(600):
        if os.path.exists(port_file) and open(port_file).read().strip():
            break
        time.sleep(0.05)
    return proc, "http://127.0.0.1:%s" % open(port_file).read().strip()


BENCH_POLICY = """[secrets "app-*"]
stray-* = !
* = *
"""


def write_config(work, url, observe, parallel, policy=BENCH_POLICY, pacing=True):
    """PACING False: the daemon's defaults for max_parallel_requests and
    max_requests_per_second instead of PARALLEL and no limit."""
    creds = os.path.join(work, "credentials")
    os.makedirs(creds, mode=0o700, exist_ok=True)
    for name, value in [("csms-ak", "EXAMPLEAK0000000000"),
                        ("csms-sk", "exampleSecretKey0000000000000000000000")]:
        with open(os.path.join(creds, name), "w") as f:
            f.write(value + "\n")
        os.chmod(os.path.join(creds, name), 0o600)
    path = os.path.join(work, "bench.conf")
    with open(path, "w") as f:
        f.write(f"""[csms]
region = cn-north-4
project_id = 0123456789abcdef0123456789abcdef
endpoint = {url}
[auth]
method = aksk
access_key_file = csms-ak
secret_key_file = csms-sk
[daemon]
observe = {observe}
state_directory = {work}
""" + (f"""max_parallel_requests = {parallel}
max_requests_per_second = 0
max_deletes_per_pass = 100000
""" if pacing else
    # At the default 10 requests/s a config may not plan more deletions than
    # fit in pass_timeout (csms-tagd.conf(5), max_requests_per_second).
    "max_deletes_per_pass = 1000\n") + f"""request_timeout = 30s
pass_timeout = 30min
{policy}""")
    return path, creds


def run_case(n, observe, parallel):
    work = tempfile.mkdtemp(prefix="csms-bench.")
    proc, url = start_emulator(work, n)
    try:
        conf, creds = write_config(work, url, observe, parallel)
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-v", TAGD, "-c", conf, "--once", "--log-level", "warning"],
                           env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        st = json.load(urllib.request.urlopen(url + "/_emulator/state"))
        counts = {k: v for k, v in st["counts"].items() if v}
        return {"secrets": n, "observe": observe, "parallel": parallel, "exit": p.returncode,
                "wall": wall, "rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"),
                "requests": st["requests"], "deleted": len(st["deleted"]), "counts": counts,
                "summary": p.stdout.strip()}
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


WINDOW_SHAPES = [(40, 1), (10, 4)]     # secrets x tags, 40 deletions each


def control(url, path, body=None):
    req = urllib.request.Request(url + "/_emulator/" + path, method="POST" if body else "GET",
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def recheck_window(n_secrets, n_tags):
    """(exit status, [window ms per DELETE], [window ms of each secret's
    first DELETE], deletions) for N_SECRETS x N_TAGS at default pacing."""
    work = tempfile.mkdtemp(prefix="csms-bench.")
    proc, url = start_emulator(work, 0)
    try:
        control(url, "secrets", {"replace": True, "secrets": [
            {"name": "w-%d" % i, "tags": {"k%d" % j: "bad" for j in range(n_tags)}}
            for i in range(n_secrets)]})
        conf, creds = write_config(work, url, "resource_instances", 0,
                                   policy='[secrets "w-*"]\nk* = good\n', pacing=False)
        p = subprocess.run([TAGD, "-c", conf, "--once", "--log-level", "warning"],
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=creds),
                           capture_output=True, text=True)
        last_recheck, windows, first = {}, [], {}
        for r in sorted(control(url, "requests")["requests"], key=lambda r: r["arrival"]):
            if r["api"] == "ListSecretTags" and r["status"] == 200:
                last_recheck[r["secret"]] = r["answer"]
            elif r["api"] == "DeleteSecretTag" and r["secret"] in last_recheck:
                windows.append((r["arrival"] - last_recheck[r["secret"]]) * 1000)
                first.setdefault(r["secret"], windows[-1])
        return p.returncode, windows, list(first.values()), len(control(url, "state")["deleted"])
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def ledger_cost():
    """The deletion ledger's cost per deletion (tests/bench-ledger.c), in
    the build tree's file system: an intent (fsync'd) and an outcome."""
    tool = os.environ.get("BENCH_LEDGER")
    if not tool or not os.path.exists(tool):
        print("ledger cost: tests/bench-ledger not built (make bench builds it)")
        return 0
    work = tempfile.mkdtemp(prefix="csms-bench.", dir=os.environ.get("top_builddir"))
    try:
        p = subprocess.run([tool, "2000", work], capture_output=True, text=True)
        print(p.stdout.rstrip() or p.stderr.rstrip())
        return p.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    bad = 1 if ledger_cost() else 0
    if os.environ.get("BENCH_LEDGER_ONLY"):
        return bad
    if os.environ.get("BENCH_ORG") == "1":
        return 1 if bad + bench_org.run() else 0
    cases = []
    for n in SIZES:
        for observe in ("resource_instances", "list_secrets"):
            cases.append((n, observe, 16))
            if observe == "resource_instances" or n <= SERIAL_LIST_MAX:
                cases.append((n, observe, 1))
    print(f"latency {LATENCY_MS} ms per request, 8 tags per secret, 2% stray, no rate limit")
    print(f"{'secrets':>7} {'observe':<19} {'par':>3} {'wall s':>7} {'requests':>8} {'deleted':>7} "
          f"{'RSS MB':>6}  requests per API")
    for n, observe, parallel in cases:
        r = run_case(n, observe, parallel)
        if r["exit"] not in (0, 2):
            bad += 1
        apis = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        print(f"{r['secrets']:>7} {r['observe']:<19} {r['parallel']:>3} {r['wall']:>7.2f} "
              f"{r['requests']:>8} {r['deleted']:>7} {r['rss_mb']:>6.1f}  {apis}"
              + ("" if r["exit"] in (0, 2) else f"  (exit {r['exit']}: {r['summary']})"), flush=True)
    print("serial = max_parallel_requests 1 (the baseline); "
          f"serial list_secrets runs above {SERIAL_LIST_MAX} secrets are skipped (minutes)")
    print(f"\nre-check -> DELETE window, 40-tag plans, default pacing, {LATENCY_MS} ms latency")
    print(f"{'secrets x tags':<15} {'median ms':>9} {'max ms':>7}  {'first DELETEs: median':>21} "
          f"{'max':>5}  deleted exit")
    for n_secrets, n_tags in WINDOW_SHAPES:
        rc, windows, first, deleted = recheck_window(n_secrets, n_tags)
        if rc != 2 or len(windows) != n_secrets * n_tags:
            bad += 1
        if not windows:
            print(f"{n_secrets:>6} x {n_tags:<6} no DELETE measured (exit {rc})")
            continue
        print(f"{n_secrets:>6} x {n_tags:<6} {statistics.median(windows):>9.0f} "
              f"{max(windows):>7.0f}  {statistics.median(first):>21.0f} {max(first):>5.0f}  "
              f"{deleted:>7} {rc:>4}")
    if os.environ.get("BENCH_ORG") != "0":
        bad += bench_org.run()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
