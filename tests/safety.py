#!/usr/bin/env python3
"""Deletion safety and secrets hygiene, end to end against the emulator:
the per-pass deletion limit, dry-run computing the same plan as a real run,
two daemons on one project at once, hostile names from the API, bad
credential files, and no credential in output, argv or environment."""
import json, os, re, signal, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (SK, TAGD, check, converged, output, report, run_once,  # noqa: E402
                     scenario, write_config, write_creds, wrong_deletions)


def deletion_limit(work, emu, creds):
    conf = write_config(work, emu, extra="max_deletes_per_pass = 5")
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 3, f"limit: a plan over the limit ends partial (exit {rc})")
    check(emu.get("/_emulator/state")["deleted"] == [], "limit: nothing deleted over the limit")
    check("max_deletes_per_pass" in out, "limit: the output names the limit")
    conf = write_config(work, emu, extra="max_deletes_per_pass = 100")
    rc = run_once(work, conf, creds)
    check(rc == 2 and converged(emu, work, conf), "limit: resumes once the plan is under the limit")


def dry_run_same_plan(work, emu, creds):
    conf = write_config(work, emu)
    rc_dry = run_once(work, conf, creds, "--dry-run")
    dry = set(re.findall(r"Would delete tag (.*) from secret (\S+)", output(work)))
    check(rc_dry == 2 and emu.get("/_emulator/state")["deleted"] == [], "dry-run: deletes nothing")
    run_once(work, conf, creds)
    real = set(re.findall(r"Deleted tag (.*) from secret (\S+)", output(work)))
    check(dry and dry == real, f"dry-run and real run plan the same {len(dry)} deletions")


def ha_pair(work, emu, creds):
    emu.post("/_emulator/config", {"latency_ms": 30})
    conf = write_config(work, emu, extra="max_parallel_requests = 2")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    procs = [subprocess.Popen([TAGD, "-c", conf, "--once"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    codes = [p.returncode for p in procs]
    st = emu.get("/_emulator/state")
    seed = json.load(open(os.environ["top_srcdir"] + "/tests/data/faults-seed.json"))
    sys_tags = {s["name"]: s.get("sys_tags", {}) for s in seed["secrets"]}
    check(all(c in (0, 2) for c in codes), f"HA pair: both passes succeed (exit {codes})")
    check(not any("Failed to delete" in o for o in outs), "HA pair: 'already gone' is not an error")
    check(wrong_deletions(work, conf, st["deleted"], sys_tags) == [], "HA pair: no wrong deletions")
    check(converged(emu, work, conf), "HA pair: converged")


def ignored_delete_reported(work, emu, creds):
    """A delete answered 204 but silently dropped is reported, not believed."""
    emu.post("/_emulator/faults", {"rules": [{"api": "DeleteSecretTag", "kind": "ignore", "count": 1}]})
    conf = write_config(work, emu)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 3, f"ignored delete: the pass ends partial (exit {rc})")
    check("still present" in out, "ignored delete: the tag still present is reported")
    emu.post("/_emulator/faults", {"rules": []})
    check(run_once(work, conf, creds) == 2 and converged(emu, work, conf),
          "ignored delete: the next pass deletes it")


HOSTILE = [
    ("app-" + "x" * 240, "long name"),
    ("app-ctl\x1b[31mred\nnewline", "control characters"),
    ("app-../../etc", "dot-dot"),
    ("app-%2F%00", "percent"),
    ("app-\"quoted'", "quotes"),
]


def hostile_names(work, emu, creds):
    secrets = [{"id": "22222222-2222-4222-8222-%012d" % i, "name": name, "state": "ENABLED",
                "tags": {"temp-h": "1", "keep": "yes"}, "sys_tags": {}}
               for i, (name, _) in enumerate(HOSTILE)]
    emu.post("/_emulator/secrets", {"secrets": secrets})
    conf = write_config(work, emu)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc in (2, 3), f"hostile names: no crash (exit {rc})")
    check("\x1b" not in out, "hostile names: no raw control characters in the output")
    st = emu.get("/_emulator/state")
    left = {s["name"]: s["tags"] for s in st["secrets"]}
    for name, what in HOSTILE:
        check("keep" in left.get(name, {}), f"hostile names ({what}): allowed tag kept")
        check("temp-h" not in left.get(name, {}), f"hostile names ({what}): stray tag deleted")
    # An id that would change a URL's structure, or a name past any sane
    # size, makes the answer unreadable: the pass fails closed.
    for what, bad in (("id with ../ and ?#", {"id": "x/../../v1?y#z", "name": "app-evil"}),
                      ("oversized name", {"id": "33333333-3333-4333-8333-333333333333",
                                          "name": "app-" + "y" * 5000})):
        emu.post("/_emulator/tags", {"secret": "app-web", "set": {"temp-new": "1"}})
        emu.post("/_emulator/secrets", {"secrets": [dict(bad, state="ENABLED", tags={"temp-h": "1"})]})
        before = len(emu.get("/_emulator/state")["deleted"])
        rc = run_once(work, conf, creds)
        check(rc == 1, f"{what}: the pass fails closed (exit {rc})")
        check(len(emu.get("/_emulator/state")["deleted"]) == before, f"{what}: nothing deleted")
        emu.post("/_emulator/secrets", {"delete": [bad["name"]]})


def bad_credentials(work, emu, creds):
    conf = write_config(work, emu)
    sk = os.path.join(creds, "csms-sk")
    cases = [("missing", lambda: os.unlink(sk)),
             ("empty", lambda: open(sk, "w").close()),
             ("readable by others", lambda: os.chmod(sk, 0o644))]
    for what, spoil in cases:
        write_creds(work)
        spoil()
        p = subprocess.run([TAGD, "-c", conf, "--check-config"], capture_output=True, text=True,
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
        check(p.returncode == 1 and "csms-sk" in p.stderr, f"credential file {what}: clear error")
        check(SK not in p.stdout + p.stderr, f"credential file {what}: secret not shown")
    write_creds(work)       # with a trailing newline: must just work
    check(run_once(work, conf, creds) == 2, "credential files with a trailing newline work")


def no_secret_in_process(work, emu, creds):
    conf = write_config(work, emu, extra="interval = 1h")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.Popen([TAGD, "-c", conf], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not emu.get("/_emulator/state")["deleted"]:
            time.sleep(0.1)
        cmdline = open(f"/proc/{p.pid}/cmdline", "rb").read()
        environ = open(f"/proc/{p.pid}/environ", "rb").read()
        check(SK.encode() not in cmdline + environ, "no secret in argv or the environment")
    finally:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=20)[0]
    check(p.returncode == 0, f"daemon stops cleanly on SIGTERM (exit {p.returncode})")
    check(SK not in out, "no secret in the daemon's log output")


for s in (deletion_limit, dry_run_same_plan, ha_pair, ignored_delete_reported, hostile_names,
          bad_credentials, no_secret_in_process):
    scenario(s, prefix="csms-safety.")
sys.exit(report())
