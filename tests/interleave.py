#!/usr/bin/env python3
"""Interleavings (issue 8): every asynchronous boundary of a pass x every
lifecycle event.  Each cell parks the boundary with the emulator's "hold"
fault, waits until csms-tagd is pending there, injects the event, releases
the request and asserts:
  - no sanitizer report in the daemon's output (make check also runs this
    in check-all's ASan+UBSan build);
  - no wrong deletion (oracle: the policy, through --plan; a deleted tag
    must be one the configuration does not allow);
  - the daemon goes on reconciling (a stray tag added later is deleted) or,
    after SIGTERM, exits 0 within its stop timeout.
Cells run concurrently, each with its own emulator.  Arguments, if any,
select cells by "boundary/event" prefix, e.g. "delete/" or "verify/hup".

The other modes run on the same manager: "modes/restore-sigint" checks that
--restore, interrupted with a create in flight, drains like the daemon (it
waits for the create, at most 5 s) instead of exiting at once.
"""
import concurrent.futures, json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (SEED, TAGD, Daemon, Emulator, converged, run_once, sanitizer_errors,  # noqa: E402
                     wait_until, write_config, write_creds, wrong_deletions)

JOBS = int(os.environ.get("INTERLEAVE_JOBS", "6"))
STOP_SECONDS = 10           # the daemon's 5 s drain plus slack
CONVERGE_SECONDS = 25
PASS_TIMEOUT = 2            # the "timeout" event's pass_timeout, seconds
HOLD = {"kind": "hold", "hold_ms": 30000}


def hold(api, **more):
    return dict(HOLD, api=api, **more)


# boundary: (auth method, observe, hold rules, how the boundary is reached).
# "start": in the first pass.  Later passes are reached by a first pass that
# converges, a new stray tag, and then either credentials that near their
# end ("expiring": short-lived tokens or temporary keys, renewed when a pass
# starts) or credentials the server stops accepting ("revoked":
# expire-tokens and SIGUSR1; the renewal follows a 401 inside the pass).
BOUNDARIES = {
    # start-up's own fetch, before READY=1 and the first pass
    "cred-startup": ("password", "resource_instances",
                     [hold("KeystoneCreateUserTokenByPassword", count=1)], "start"),
    "cred-password": ("password", "resource_instances",
                      [hold("KeystoneCreateUserTokenByPassword", count=1)], "expiring"),
    "cred-ecs": ("ecs", "resource_instances", [hold("MetadataSecurityKey", count=1)], "expiring"),
    "cred-401": ("password", "resource_instances",
                 [hold("KeystoneCreateUserTokenByPassword", count=1)], "revoked"),
    "ri-page": ("password", "resource_instances",
                [hold("ListResourceInstances", count=1)], "start"),
    # a later page, while others may be in flight (BULK secrets make several)
    "ri-page2": ("password", "resource_instances",
                 [hold("ListResourceInstances", after=1, count=1)], "start"),
    "ls-page": ("password", "list_secrets", [hold("ListSecrets", count=1)], "start"),
    "ls-page2": ("password", "list_secrets", [hold("ListSecrets", after=1, count=1)], "start"),
    "ls-tags": ("password", "list_secrets", [hold("ListSecretTags", count=1)], "start"),
    # with resource_instances observation, the first ListSecretTags is a re-check
    "recheck": ("password", "resource_instances", [hold("ListSecretTags", count=1)], "start"),
    "delete": ("password", "resource_instances", [hold("DeleteSecretTag", count=1)], "start"),
    # verification reads tags or lists again, whichever comes after a delete
    "verify": ("password", "resource_instances",
               [hold("ListSecretTags", after_api="DeleteSecretTag", count=1),
                hold("ListResourceInstances", after_api="DeleteSecretTag", count=1)], "start"),
}
BULK = {"ri-page2", "ls-page2"}
BULK_SECRETS = [{"name": "bulk-%04d" % i, "tags": {"any": "thing"}} for i in range(1200)]
TOKEN_TTL = 6               # "expiring" IAM tokens: renewed 1.5 s before their end
ECS_EXPIRES_IN = 2403       # csms-tagd renews temporary keys 40 min before their end
EVENTS = ("timeout", "sigterm", "hup-good", "hup-bad", "usr1", "refresh")


def add_stray(emu):
    emu.post("/_emulator/tags", {"secret": "app-web", "set": {"temp-late": "1"}})


def start_emulator(work, reach):
    if reach != "expiring":
        return Emulator(work)
    seed = json.load(open(SEED))
    seed["credentials"]["ecs"]["expires_in"] = ECS_EXPIRES_IN
    path = os.path.join(work, "seed.json")
    with open(path, "w") as f:
        json.dump(seed, f)
    return Emulator(work, "--token-ttl", str(TOKEN_TTL), seed=path)


def run_cell(boundary, event, sys_tags):
    """(cell name, list of failures, seconds)."""
    method, observe, rules, reach = BOUNDARIES[boundary]
    name = f"{boundary}/{event}"
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="csms-interleave.")
    problems = []
    emu = d = None
    try:
        emu = start_emulator(work, reach)
        creds = write_creds(work)
        extra = (f"interval = 1s\njitter = 0s\nrequest_timeout = 10s\nobserve = {observe}\n"
                 f"pass_timeout = {PASS_TIMEOUT if event == 'timeout' else 60}s")
        conf = write_config(work, emu, method, extra)
        oracle = write_config(work, emu, method, extra, name="oracle.conf")
        if boundary in BULK:    # ungoverned: the policy never touches them
            emu.post("/_emulator/secrets", {"secrets": BULK_SECRETS})
        if reach == "start":
            emu.faults(*rules)
        d = Daemon(work, conf, creds)
        if reach != "start":
            if not wait_until(lambda: converged(emu, work, oracle), CONVERGE_SECONDS):
                problems.append("the first pass did not converge")
            emu.faults(*rules)
            add_stray(emu)
        if reach == "revoked":
            emu.post("/_emulator/expire-tokens", {})
            d.signal(signal.SIGUSR1)
        if not emu.wait_parked(1, 20):
            problems.append("the boundary was never reached")
        if event == "timeout":
            # The pass times out, and the next one (interval 1s) is under
            # way when the parked answer comes.
            time.sleep(PASS_TIMEOUT + 1.5)
        elif event == "sigterm":
            d.signal(signal.SIGTERM)
        elif event in ("hup-good", "hup-bad"):
            if event == "hup-bad":
                with open(conf, "a") as f:
                    f.write("\n[daemon]\nno_such_setting = 1\n")
            d.signal(signal.SIGHUP)
        elif event == "usr1":
            d.signal(signal.SIGUSR1)
        else:
            emu.post("/_emulator/expire-tokens", {})
        time.sleep(0.3)
        emu.faults()
        emu.release()
        if event == "sigterm":
            try:
                rc = d.proc.wait(STOP_SECONDS)
            except Exception:
                rc = None
            if rc != 0:
                problems.append(f"SIGTERM: exit {rc} (want 0 within {STOP_SECONDS}s)")
        else:
            add_stray(emu)
            if not wait_until(lambda: converged(emu, work, oracle) or not d.alive(),
                              CONVERGE_SECONDS) or not d.alive():
                problems.append("did not go on reconciling" if d.alive() else
                                f"the daemon died (exit {d.proc.poll()})")
            rc, took = d.stop(STOP_SECONDS)
            if rc != 0:
                problems.append(f"SIGTERM afterwards: exit {rc} after {took:.1f}s")
        out = d.output()
        bad = sanitizer_errors(out)
        if bad:
            problems.append("sanitizer: " + bad[0])
        wrong = wrong_deletions(work, oracle, emu.state()["deleted"], sys_tags)
        if wrong:
            problems.append(f"{len(wrong)} wrong deletions: {wrong[:2]}")
        if problems and os.environ.get("INTERLEAVE_VERBOSE"):
            problems.append("output:\n" + out[-3000:])
    except Exception as e:     # a broken cell is a failure, not a crash of the matrix
        problems.append(repr(e))
    finally:
        if d is not None and d.alive():
            d.proc.kill()
            d.proc.wait()
        if emu is not None:
            emu.stop()
        shutil.rmtree(work, ignore_errors=True)
    return name, problems, time.monotonic() - t0


def interrupted_restore(work, emu, conf, creds, release_after):
    """--restore with its first create parked, SIGINT, and the create
    released after RELEASE_AFTER seconds (None: never).  (problems, exit
    status, seconds from the signal to the exit)."""
    problems = []
    emu.faults({"api": "CreateSecretTag", "kind": "hold", "count": 1})
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.Popen([TAGD, "-c", conf, "--restore", "--since", "@0", "--log-target", "stderr"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not emu.wait_parked(1, 20):
        problems.append("no create was ever in flight")
    p.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    if release_after is not None:
        time.sleep(release_after)
        if p.poll() is not None:
            problems.append(f"exited {time.monotonic() - t0:.1f}s after SIGINT, the create still in flight")
        emu.release()
    try:
        rc = p.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    took = time.monotonic() - t0
    err = p.stderr.read()
    emu.faults()
    emu.release()
    if "Stopping on signal 2" not in err or "Restore interrupted" not in err:
        problems.append("the output does not say it stopped on SIGINT: " + err[-500:])
    bad = sanitizer_errors(err)
    if bad:
        problems.append("sanitizer: " + bad[0])
    return problems, rc, took


def restore_sigint():
    """(cell name, list of failures, seconds): --restore drains on SIGINT."""
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="csms-interleave.")
    problems = []
    emu = None
    try:
        emu = Emulator(work)
        creds = write_creds(work)
        # A request that outlives the drain: only the 5 s limit ends it.
        conf = write_config(work, emu, extra="request_timeout = 30s")
        if run_once(work, conf, creds) != 2 or not emu.state()["deleted"]:
            problems.append("the pass deleted nothing to restore")
        # The create answered within the drain: waited for, then exit 3
        # (creates were sent, the restore was interrupted).
        more, rc, took = interrupted_restore(work, emu, conf, creds, 1.0)
        problems += more
        if rc != 3 or took > 1.0 + 3:
            problems.append(f"released create: exit {rc} after {took:.1f}s (want 3, soon after the release)")
        # A create that never answers: the drain's 5 s limit (the pass
        # deletes the restored tags again first).
        if run_once(work, conf, creds) != 2:
            problems.append("the second pass deleted nothing to restore")
        more, rc, took = interrupted_restore(work, emu, conf, creds, None)
        problems += more
        if rc != 3 or not 4.5 <= took <= STOP_SECONDS:
            problems.append(f"parked create: exit {rc} after {took:.1f}s (want 3 after the 5 s drain)")
    except Exception as e:
        problems.append(repr(e))
    finally:
        if emu is not None:
            emu.stop()
        shutil.rmtree(work, ignore_errors=True)
    return "modes/restore-sigint", problems, time.monotonic() - t0


def main(argv):
    seed = json.load(open(SEED))
    sys_tags = {s["name"]: s.get("sys_tags", {}) for s in seed["secrets"]}
    cells = [(b, e) for b in BOUNDARIES for e in EVENTS
             if not argv or any(f"{b}/{e}".startswith(a) for a in argv)]
    t0 = time.monotonic()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        for name, problems, took in pool.map(lambda c: run_cell(*c, sys_tags), cells):
            results[name] = problems
            print(("ok   " if not problems else "FAIL ") + f"{name} ({took:.1f}s)"
                  + "".join("\n     " + p for p in problems), flush=True)
    print(f"\n{'boundary':<14}" + "".join(f"{e:>9}" for e in EVENTS))
    for b in BOUNDARIES:
        row = [("ok" if not results[f"{b}/{e}"] else "FAIL") if f"{b}/{e}" in results else "-"
               for e in EVENTS]
        print(f"{b:<14}" + "".join(f"{r:>9}" for r in row))
    failed = sum(1 for p in results.values() if p)
    if not argv or any("modes/restore-sigint".startswith(a) or a.startswith("modes/") for a in argv):
        name, problems, took = restore_sigint()
        results[name] = problems
        print(("ok   " if not problems else "FAIL ") + f"{name} ({took:.1f}s)"
              + "".join("\n     " + p for p in problems), flush=True)
        failed = sum(1 for p in results.values() if p)
    print(f"{len(results)} cells, {failed} failed, {time.monotonic() - t0:.0f}s with {JOBS} jobs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
