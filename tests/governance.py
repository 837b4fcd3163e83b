#!/usr/bin/env python3
"""Governance end to end against the emulator: an exemption expiring between
two passes, a grace period across restarts and across a lost or corrupt
clock store (never early), required-tag reports (never created), and
--plan/--explain/--check-config showing all of it.  Each --once run is a
fresh process: a restart as far as the clocks are concerned."""
import json, os, re, subprocess, sys, time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (TAGD, check, observed_file, output, report, run_once,  # noqa: E402
                     scenario, write_config)


def utc(t):
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def tags_of(emu, name):
    for s in emu.get("/_emulator/state")["secrets"]:
        if s["name"] == name:
            return s["tags"]
    return None


def deleted(emu):
    return {(d["secret_name"], d["key"]) for d in emu.get("/_emulator/state")["deleted"]}


def config(work, emu, daemon="", extra=""):
    conf = write_config(work, emu, extra=daemon)
    with open(conf, "a") as f:
        f.write(extra)
    return conf

def exemption_expires(work, emu, creds):
    expires = time.time() + 4
    conf = config(work, emu, extra=f"""
[exempt "debug-hold"]
secret = app-web
key = temp-debug
reason = INC-7 debugging, remove after
expires = {utc(expires)}

[exempt "typo"]
secret = app-wbe
key = temp-*
reason = a glob that matches nothing
expires = {utc(expires + 86400)}
""")
    p = subprocess.run([TAGD, "-c", conf, "--check-config", "--no-credentials"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and re.search(r'exemption "debug-hold" expires on .* within 7 days', p.stderr),
          "exempt: --check-config warns about an exemption expiring within 7 days")

    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 2, f"exempt: the first pass deletes the other tags (exit {rc})")
    check("temp-debug" in tags_of(emu, "app-web") and ("app-web", "temp-x") in deleted(emu),
          "exempt: the exempted tag is kept while the rest of the secret goes by the rules")
    kept = re.search(r'Kept tag temp-debug=1 on secret app-web although the rules delete it \(forbidden\): '
                     r'exemption "debug-hold" at \S+csms-tagd.conf:(\d+) until .*INC-7 debugging', out)
    check(kept is not None, "exempt: the journal names the exemption, FILE:LINE and reason")
    check(re.search(r"MESSAGE_ID=a837df366f4747ea9f7d42070802dfc0|CSMS_EXEMPTION=\S+csms-tagd.conf:\d+", out)
          is not None, "exempt: the record carries CSMS_EXEMPTION")
    check('Exemption "typo"' in out and "kept no tag this pass" in out,
          "exempt: an exemption matching nothing is reported")

    time.sleep(max(0.0, expires - time.time()) + 0.5)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 2 and "temp-debug" not in tags_of(emu, "app-web"),
          f"exempt: after the expiry the tag is deleted by the rules (exit {rc})")
    check(re.search(r'Exemption "debug-hold" at \S+ expired on .*: tag temp-debug on secret app-web goes by '
                    r'the rules again', out) is not None, "exempt: the journal says the exemption expired")
    check("Deleted tag temp-debug=1 from secret app-web" in out, "exempt: the deletion is journaled")


def grace_restarts(work, emu, creds):
    state = os.path.join(work, "state")
    os.mkdir(state)
    conf = config(work, emu, daemon=f"grace = 3s\nstate_directory = {state}")
    store = os.path.join(state, "grace-clocks")
    t0 = time.time()
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc in (0, 2) and not deleted(emu), f"grace: the first pass deletes nothing (exit {rc})")
    check(re.search(r"Tag temp-debug=1 on secret app-web is not allowed \(forbidden\); its deletion is due "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(grace 3s\)", out) is not None,
          "grace: the journal says when each pending deletion becomes due")
    check(os.path.exists(store) and open(store).read().startswith("csms-tagd grace clocks 1\n"),
          "grace: the clocks are stored in the state directory")
    check("temp-debug" not in open(store).read(), "grace: the store holds no tag text")

    # --plan and --explain read the same clocks.
    obs = observed_file(emu, work)
    p = subprocess.run([TAGD, "-c", conf, "--plan", "--observed", obs], capture_output=True, text=True)
    check(p.returncode == 0 and "Waiting for the grace period" in p.stdout and
          re.search(r"app-web  temp-debug=1  forbidden .* due ", p.stdout) is not None,
          "grace: --plan lists pending deletions with their due time")
    p = subprocess.run([TAGD, "-c", conf, "--plan", "--json", "--observed", obs], capture_output=True,
                       text=True)
    j = json.loads(p.stdout)
    check(j["deletions"] == [] and len(j["waiting"]) == j["summary"]["waiting"] > 0 and
          all("due" in w for w in j["waiting"]), "grace: --plan --json has the waiting list with due times")
    p = subprocess.run([TAGD, "-c", conf, "--explain", "app-web", "--observed", obs],
                       capture_output=True, text=True)
    check(re.search(r"wait +temp-debug=1 +forbidden by .*; due .*\(grace 3s", p.stdout) is not None,
          "grace: --explain shows the due time")

    rc = run_once(work, conf, creds)
    output(work)
    check(not deleted(emu), "grace: a restart within the grace period deletes nothing")
    time.sleep(max(0.0, t0 + 3.2 - time.time()))
    t1 = time.time()
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 2 and ("app-web", "temp-debug") in deleted(emu) and t1 >= t0 + 3,
          f"grace: after the grace period, across restarts, the tag is deleted (exit {rc})")
    check(re.search(r"Deleted tag temp-debug=1 from secret app-web.*CSMS_GRACE=3s", out) is not None,
          "grace: the deletion record carries the grace fields")
    emu.post("/_emulator/tags", {"secret": "app-web", "set": {"temp-debug": "1"}})
    run_once(work, conf, creds)
    output(work)
    check(tags_of(emu, "app-web").get("temp-debug") == "1",
          "grace: a deleted tag re-created at once waits a grace period of its own")

    # A lost store restarts every clock: never early.  (Each part starts
    # afresh: a reset brings tags back that the old clocks still know.)
    emu.post("/_emulator/reset", {})
    os.unlink(store)
    t0 = time.time()
    run_once(work, conf, creds)
    output(work)
    time.sleep(2)
    os.unlink(store)
    time.sleep(max(0.0, t0 + 3.5 - time.time()))
    t_restart = time.time()
    run_once(work, conf, creds)
    output(work)
    check(not deleted(emu), f"grace: after the store was deleted, a pass past the old due time deletes nothing "
          f"{sorted(deleted(emu))}")
    time.sleep(max(0.0, t_restart + 3.2 - time.time()))
    run_once(work, conf, creds)
    output(work)
    check(("app-web", "temp-debug") in deleted(emu), "grace: the restarted clock runs out and the tag goes")

    # A corrupt store is refused whole and logged; an entry from the future restarts.
    emu.post("/_emulator/reset", {})
    os.unlink(store)
    run_once(work, conf, creds)
    output(work)
    with open(store, "w") as f:
        f.write("garbage\n")
    time.sleep(3.2)
    run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu) and "not a grace clock file" in out and "every grace period starts again" in out,
          "grace: a corrupt store restarts every clock and is logged")
    lines = open(store).read().splitlines()
    with open(store, "w") as f:
        f.write(lines[0] + "\n" + "".join(re.sub(r" \d+$", " %d" % int((time.time() + 3600) * 1e6), x) + "\n"
                                          for x in lines[1:]))
    time.sleep(3.2)
    run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu) and "started in the future" in out,
          "grace: clocks from the future restart and are logged")

    # A compliant tag drops its clock.
    emu.post("/_emulator/tags", {"secret": "app-web", "remove": ["temp-debug"]})
    run_once(work, conf, creds)
    output(work)
    n = len(open(store).read().splitlines())
    check(n == len(lines) - 1, f"grace: a tag that disappeared drops its clock ({len(lines) - 1} -> {n - 1})")


def required_tags(work, emu, creds):
    conf = config(work, emu, extra="""
[secrets "other-*"]
/required = owner | env
env = prod | staging
* = *
""")
    before = tags_of(emu, "other-secret")
    rc = run_once(work, conf, creds)
    out = output(work)
    check(re.search(r"Secret other-secret lacks required tags \(\S+csms-tagd.conf:\d+\): missing owner, env; "
                    r"they are reported, never created", out) is not None,
          "required: a record per secret names the missing keys")
    check("CSMS_REQUIRED_MISSING=owner, env" in out, "required: the record carries CSMS_REQUIRED_MISSING")
    check(tags_of(emu, "other-secret") == before, f"required: nothing is created (exit {rc})")
    run_once(work, conf, creds)
    check("lacks required tags" in output(work), "required: reported again on every pass")
    emu.post("/_emulator/tags", {"secret": "other-secret", "set": {"owner": "dora", "env": "prod"}})
    run_once(work, conf, creds)
    check("lacks required tags" not in output(work), "required: silent once the tags exist")


for fn in (exemption_expires, grace_restarts, required_tags):
    scenario(fn, prefix="csms-governance.")
sys.exit(report())
