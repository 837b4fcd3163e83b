#!/usr/bin/env python3
"""Governance end to end against the emulator: an exemption expiring between
two passes, a grace period across restarts and across lost or foreign
clocks in the ledger (never early), required-tag reports (never created),
and --plan/--explain/--check-config showing all of it.  Each --once run is
a fresh process: a restart as far as the clocks are concerned."""
import json, os, re, sqlite3, subprocess, sys, time
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


def ledger(state, sql, *args):
    """Run SQL on the ledger in STATE (the tests' stand-in for a lost,
    damaged or hand-edited store); the rows, for a query."""
    db = sqlite3.connect(os.path.join(state, "ledger.db"), timeout=10)
    try:
        rows = db.execute(sql, args).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


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
    t0 = time.time()
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc in (0, 2) and not deleted(emu), f"grace: the first pass deletes nothing (exit {rc})")
    check(re.search(r"Tag temp-debug=1 on secret app-web is not allowed \(forbidden\); its deletion is due "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(grace 3s\)", out) is not None,
          "grace: the journal says when each pending deletion becomes due")
    clocks = ledger(state, "SELECT digest, first_seen_usec FROM grace_clocks")
    check(len(clocks) > 0 and all(len(d) == 32 for d, _ in clocks),
          "grace: the clocks are stored in the ledger of the state directory, as digests")

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
    out = output(work)
    check(not deleted(emu), "grace: a restart within the grace period deletes nothing")
    check("Tag temp-debug=1 on secret app-web is not allowed" not in out,
          "grace: a tag already waiting is not journaled again")
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

    # Lost clocks restart: never early.  (Each part starts afresh: a reset
    # brings tags back that the old clocks still know.)
    emu.post("/_emulator/reset", {})
    ledger(state, "DELETE FROM grace_clocks")
    t0 = time.time()
    run_once(work, conf, creds)
    output(work)
    time.sleep(2)
    ledger(state, "DELETE FROM grace_clocks")
    time.sleep(max(0.0, t0 + 3.5 - time.time()))
    t_restart = time.time()
    run_once(work, conf, creds)
    output(work)
    check(not deleted(emu), f"grace: after the clocks were lost, a pass past the old due time deletes nothing "
          f"{sorted(deleted(emu))}")
    time.sleep(max(0.0, t_restart + 3.2 - time.time()))
    run_once(work, conf, creds)
    output(work)
    check(("app-web", "temp-debug") in deleted(emu), "grace: the restarted clock runs out and the tag goes")

    # Rows that are not ours restart; an entry from the future restarts.
    emu.post("/_emulator/reset", {})
    ledger(state, "DELETE FROM grace_clocks")
    run_once(work, conf, creds)
    output(work)
    n_clocks = ledger(state, "SELECT count(*) FROM grace_clocks")[0][0]
    ledger(state, "UPDATE grace_clocks SET digest = substr(digest, 1, 16)")
    time.sleep(3.2)
    run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu), "grace: clocks that are not well-formed restart")
    ledger(state, "UPDATE grace_clocks SET first_seen_usec = ?", int((time.time() + 3600) * 1e6))
    time.sleep(3.2)
    run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu) and "started in the future" in out,
          "grace: clocks from the future restart and are logged")

    # A compliant tag drops its clock.
    emu.post("/_emulator/tags", {"secret": "app-web", "remove": ["temp-debug"]})
    run_once(work, conf, creds)
    output(work)
    n = ledger(state, "SELECT count(*) FROM grace_clocks")[0][0]
    check(n == n_clocks - 1, f"grace: a tag that disappeared drops its clock ({n_clocks} -> {n})")


def grace_store_unwritable(work, emu, creds):
    """Item 9: clocks that cannot be stored make the pass partial, say why,
    and delete nothing early; --check-config refuses a missing directory."""
    state = os.path.join(work, "state")
    os.mkdir(state)
    conf = config(work, emu, daemon=f"grace = 2s\nstate_directory = {state}")
    run_once(work, conf, creds)
    output(work)
    ledger(state, "CREATE TRIGGER full BEFORE INSERT ON clock_stamp BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    time.sleep(2.2)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 3 and "Cannot store the grace clocks" in out and "disk full" in out,
          f"store: an unwritable clock store makes the pass partial and says why (exit {rc})")
    check(not deleted(emu), "store: with the clocks unstored, nothing graced is deleted")
    missing = config(work, emu, daemon=f"grace = 2s\nstate_directory = {state}-typo")
    p = subprocess.run([TAGD, "-c", missing, "--check-config", "--no-credentials"], capture_output=True, text=True)
    check(p.returncode == 1 and "state_directory" in p.stderr and "No such file" in p.stderr,
          f"store: --check-config refuses a missing state directory (exit {p.returncode})")
    rc = run_once(work, missing, creds)
    check(rc != 0 and not os.path.exists(state + "-typo") and not deleted(emu),
          f"store: a pass with a missing state directory deletes nothing and creates none (exit {rc})")


def grace_clock_rules(work, emu, creds):
    """Item 11: a failed listing, a long downtime and a wall-clock step
    forward restart (or move) the clocks: never an early deletion."""
    state = os.path.join(work, "state")
    os.mkdir(state)
    conf = config(work, emu, daemon=f"grace = 1h\nstate_directory = {state}")
    run_once(work, conf, creds)
    output(work)
    hour = 3600 * 10**6
    # The clock was 2 h behind at that pass and NTP corrected it since.
    ledger(state, "UPDATE grace_clocks SET first_seen_usec = first_seen_usec - ?", 2 * hour)
    ledger(state, "UPDATE clock_stamp SET realtime_usec = realtime_usec - ?", 2 * hour)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu) and "stepped forward" in out,
          f"clocks: a wall-clock step forward does not end a grace early (exit {rc})")
    # Stopped for a day: the clocks saw nothing in between.
    ledger(state, "UPDATE grace_clocks SET first_seen_usec = first_seen_usec - ?", 24 * hour)
    ledger(state, "UPDATE clock_stamp SET realtime_usec = realtime_usec - ?, boottime_usec = boottime_usec - ?",
           24 * hour, 24 * hour)
    rc = run_once(work, conf, creds)
    out = output(work)
    check(not deleted(emu) and "every grace period starts again" in out,
          f"clocks: a downtime longer than the grace restarts the clocks (exit {rc})")
    # A failed listing restarts them too.
    ledger(state, "UPDATE grace_clocks SET first_seen_usec = first_seen_usec - ?", 2 * hour)
    emu.faults({"api": "*", "kind": "status", "status": 403, "count": 4})
    rc = run_once(work, conf, creds)
    out = output(work)
    check(rc == 1 and "could not list the project" in out and
          ledger(state, "SELECT count(*) FROM grace_clocks")[0][0] == 0,
          f"clocks: a failed listing restarts every clock (exit {rc})")
    emu.faults()
    run_once(work, conf, creds)
    check(not deleted(emu), "clocks: after a failed listing nothing is deleted early")


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
    out = output(work)
    check("lacks required tags" not in out and "2 required tags missing" in out,
          "required: not journaled again while unchanged; the pass summary counts it")
    emu.post("/_emulator/tags", {"secret": "other-secret", "set": {"owner": "dora"}})
    run_once(work, conf, creds)
    check(re.search(r"Secret other-secret lacks required tags .*missing env;", output(work)) is not None,
          "required: journaled again when what is missing changes")
    emu.post("/_emulator/tags", {"secret": "other-secret", "set": {"owner": "dora", "env": "prod"}})
    run_once(work, conf, creds)
    check("lacks required tags" not in output(work), "required: silent once the tags exist")


for fn in (exemption_expires, grace_restarts, grace_store_unwritable, grace_clock_rules, required_tags):
    scenario(fn, prefix="csms-governance.")
sys.exit(report())
