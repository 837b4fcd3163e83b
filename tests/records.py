#!/usr/bin/env python3
"""Every deletion leaves a durable record (issue 14, items 1-8; items 9-11
are in tests/governance.py), end to end against the emulator.  Each
scenario asserts the outcome from the emulator's own record of deletions:
the ledger's deletions must equal it exactly, and --restore (which reads
the ledger) must bring every tag back with its value.

  1 a lost reply, then a retry answered "not found"
  2 DELETEs in flight at SIGTERM, and at SIGKILL
  4 --log-level warning keeps every deletion record
  5 a hand run (--apply-plan) uses the config's ledger and says where
  6 a value equal to the daemon's AK id: withheld from the journal only
  7 a value changed between observation and DELETE, under an exemption
    with value= and under a grace period
  8 restore: each secret's creates right after its own read
  - --restore --from /dev/zero fails at once
  - a ledger shared with another target (issue 17): --history shows the
    target, --target narrows; --restore leaves that target's rows out and
    refuses a --target that selects them
"""
import json, os, signal, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (TAGD, Daemon, check, emulator_deletions, ledger_rows, output,  # noqa: E402
                     report, run_once, same_deletions, scenario, wait_until, write_config)

AK = "EXAMPLEAK0000000000"


def restore(work, conf, creds, *args):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    return subprocess.run([TAGD, "-c", conf, "--restore", "--since", "@0", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def restored_all(emu, deleted):
    """Every (secret id, key, value) of DELETED is on its secret again."""
    tags = {s["id"]: s["tags"] for s in emu.state()["secrets"]}
    return all(tags.get(i, {}).get(k) == v for i, k, v in deleted)


def lost_reply(work, emu, creds):
    emu.faults({"api": "DeleteSecretTag", "kind": "reset", "count": 3})
    conf = write_config(work, emu)
    rc = run_once(work, conf, creds)
    out = output(work)
    deleted = emulator_deletions(emu)
    check(rc == 2 and len(deleted) == 13, f"item 1: the pass says it changed things (exit {rc})")
    check(same_deletions(work, emu), "item 1: the ledger holds every deletion, the lost replies too")
    check(not ledger_rows(work, "already-gone"), "item 1: none of ours is recorded as already gone")
    check("the answer to an earlier attempt was lost" in out, "item 1: the journal says why")
    p = restore(work, conf, creds)
    check(p.returncode == 0 and restored_all(emu, deleted), f"item 1: --restore brings all 13 back ({p.returncode})")


def in_flight(sig):
    def fn(work, emu, creds):
        emu.faults({"api": "DeleteSecretTag", "kind": "hold", "count": 3})
        conf = write_config(work, emu, extra="interval = 1h\njitter = 0s")
        d = Daemon(work, conf, creds)
        check(emu.wait_parked(3), f"item 2 ({sig.name}): three DELETEs are in flight")
        d.signal(sig)
        wait_until(lambda: not d.alive(), 15)
        emu.release()       # the server completes them after all
        wait_until(lambda: len(emulator_deletions(emu)) >= 3, 10)
        check(len(ledger_rows(work, "pending")) >= 3,
              f"item 2 ({sig.name}): their intents are pending in the ledger")
        rc = run_once(work, conf, creds)
        out = output(work)
        check(not ledger_rows(work, "pending") and "resolved: deleted" in out,
              f"item 2 ({sig.name}): the next run resolves them by reading the secrets (exit {rc})")
        deleted = emulator_deletions(emu)
        check(same_deletions(work, emu), f"item 2 ({sig.name}): ledger deletions == the emulator's ({len(deleted)})")
        p = restore(work, conf, creds)
        check(p.returncode == 0 and restored_all(emu, deleted), f"item 2 ({sig.name}): --restore brings all back")
    fn.__name__ = f"in_flight_{sig.name}"
    return fn


def log_level_warning(work, emu, creds):
    conf = write_config(work, emu)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.run([TAGD, "-c", conf, "--once", "--log-level", "warning"], env=env,
                       capture_output=True, text=True, timeout=60)
    n = p.stderr.count("Deleted tag ")
    check(p.returncode == 2 and n == len(emulator_deletions(emu)) == 13,
          f"item 4: --log-level warning keeps all {n} deletion records (exit {p.returncode})")
    check("Pass 1 started" not in p.stderr, "item 4: chatter below the level is still filtered")


def hand_run(work, emu, creds):
    conf = write_config(work, emu)
    plan = os.path.join(work, "plan.json")
    run_once(work, conf, creds, "--dry-run", "--save-plan", plan)
    p = subprocess.run([TAGD, "-c", conf, "--apply-plan", plan], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
    rc, out = p.returncode, p.stderr
    check(rc == 2 and f"Deletions are recorded in {work}/ledger.db" in out,
          f"item 5: --apply-plan records in the config's ledger and says where (exit {rc})")
    deleted = emulator_deletions(emu)
    check(same_deletions(work, emu), "item 5: the ledger has every deletion of the hand run")
    p = restore(work, conf, creds, "--dry-run")
    check(p.returncode == 0 and p.stdout.count("would-restore") == len(deleted) == 13,
          f"item 5: --restore (default: the ledger) finds all {len(deleted)}")


def ak_as_value(work, emu, creds):
    emu.post("/_emulator/tags", {"secret": "app-web", "set": {"temp-ak": AK}})
    conf = write_config(work, emu)
    rc = run_once(work, conf, creds, "--log-target", "json")
    log = os.path.join(work, "output.log")
    records = [json.loads(x) for x in open(log) if x.startswith("{")]
    rec = [r for r in records if r.get("CSMS_TAG_KEY") == "temp-ak" and "Deleted" in r.get("MESSAGE", "")]
    check(rc == 2 and rec and rec[0].get("CSMS_TAG_VALUE") != AK and
          "CSMS_TAG_VALUE" in rec[0].get("CSMS_REDACTED", ""),
          "item 6: the journal record withholds the value and says so")
    check(("11111111-1111-4111-8111-111111111102", "temp-ak", AK) in ledger_rows(work, "deleted"),
          "item 6: the ledger keeps the value exactly")
    p = restore(work, conf, creds, "--from", log)
    check(p.returncode == 1 and "withheld" in p.stderr, "item 6: a journal import refuses the withheld value")
    p = restore(work, conf, creds, "--secret", "app-web")
    tags = {s["name"]: s["tags"] for s in emu.state()["secrets"]}["app-web"]
    check(p.returncode == 0 and tags.get("temp-ak") == AK, "item 6: --restore from the ledger restores it exactly")


def changed_value_exempt(work, emu, creds):
    emu.post("/_emulator/tags", {"secret": "app-web", "set": {"temp-x": "old"}})
    emu.faults({"api": "ListResourceInstances", "kind": "mutate", "count": 1,
                "ops": [{"op": "set_tag", "secret": "app-web", "key": "temp-x", "value": "keep-me"}]})
    conf = write_config(work, emu, policy=open(os.path.join(os.environ["top_srcdir"],
                                                            "tests/data/policy-example.ini")).read() + f"""
[exempt "hold"]
secret = app-web
key = temp-x
value = keep-me
reason = test
expires = {time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * 30))}
""")
    run_once(work, conf, creds)
    tags = {s["name"]: s["tags"] for s in emu.state()["secrets"]}["app-web"]
    check(tags.get("temp-x") == "keep-me", f"item 7: a value changed to an exempted one is kept ({tags})")
    check(same_deletions(work, emu), "item 7 (exempt): ledger deletions == the emulator's")


def changed_value_grace(work, emu, creds):
    conf = write_config(work, emu, extra="grace = 1s")
    run_once(work, conf, creds)
    check(not emulator_deletions(emu), "item 7 (grace): the first pass starts the clocks")
    time.sleep(1.2)
    emu.faults({"api": "ListResourceInstances", "kind": "mutate", "count": 1,
                "ops": [{"op": "set_tag", "secret": "app-web", "key": "temp-x", "value": "v2"}]})
    run_once(work, conf, creds)
    tags = {s["name"]: s["tags"] for s in emu.state()["secrets"]}["app-web"]
    check(tags.get("temp-x") == "v2", f"item 7 (grace): a new value waits a grace period of its own ({tags})")
    check(same_deletions(work, emu) and all(v != "v2" for _, _, v in ledger_rows(work)),
          "item 7 (grace): the records carry the values deleted")


def restore_right_after_read(work, emu, creds):
    secrets = [{"id": "22222222-2222-4222-8222-%012d" % i, "name": "app-r%02d" % i,
                "tags": {"temp-r": str(i), "owner": "x"}} for i in range(40)]
    emu.post("/_emulator/secrets", {"secrets": secrets})
    conf = write_config(work, emu)
    run_once(work, conf, creds)
    emu.post("/_emulator/config", {"latency_ms": 20})
    before = len(emu.requests())
    p = restore(work, conf, creds)
    log = emu.requests()[before:]
    worst = 0
    for i, r in enumerate(log):
        if r["api"] != "CreateSecretTag":
            continue
        read = max(j for j in range(i) if log[j]["api"] == "ListSecretTags" and
                   log[j]["secret_id"] == r["secret_id"])
        worst = max(worst, sum(1 for x in log[read + 1:i] if x["api"] == "ListSecretTags"))
    check(p.returncode == 0 and worst <= 4,
          f"item 8: each secret's creates follow its own read (at most {worst} other reads between)")


def from_dev_zero(work, emu, creds):
    conf = write_config(work, emu)
    t0 = time.monotonic()
    p = restore(work, conf, creds, "--from", "/dev/zero")
    check(p.returncode == 1 and "longer than" in p.stderr and time.monotonic() - t0 < 10,
          f"--from /dev/zero fails at once ({time.monotonic() - t0:.1f}s)")


def other_targets(work, emu, creds):
    conf = write_config(work, emu)
    run_once(work, conf, creds)
    deleted = emulator_deletions(emu)
    db = sqlite3.connect(os.path.join(work, "ledger.db"), timeout=10)
    with db:
        db.execute("INSERT INTO deletions (pass_id, secret_id, secret_name, key, value, rule, reason, intent_usec,"
                   " outcome, outcome_usec, target, target_name, account_id, region)"
                   " SELECT pass_id, secret_id, secret_name, key, 'prod-value', rule, reason, intent_usec + 1,"
                   " outcome, outcome_usec, 'b1000000000000000000000000000001', 'acme-prod/cn-north-4',"
                   " 'a0001', 'cn-north-4' FROM deletions ORDER BY id LIMIT 1")
    db.close()
    hist = subprocess.run([TAGD, "-c", conf, "--history"], capture_output=True, text=True, timeout=60)
    lines = hist.stdout.splitlines()
    check(hist.returncode == 0 and "TARGET" in lines[0] and lines[-1] == "14 deletions" and
          sum("acme-prod/cn-north-4" in x for x in lines) == 1 and
          sum(x.split()[4] == "-" for x in lines[1:-1]) == 13,
          f"--history: a TARGET column when the rows are of two targets ({hist.returncode}: {lines[:2]})")
    hist = subprocess.run([TAGD, "-c", conf, "--history", "--json", "--target", "acme-*"],
                          capture_output=True, text=True, timeout=60)
    rows = json.loads(hist.stdout) if hist.returncode == 0 else []
    check(len(rows) == 1 and rows[0]["target"] == "b1000000000000000000000000000001" and
          rows[0]["account_id"] == "a0001" and rows[0]["region"] == "cn-north-4" and rows[0]["value"] == "prod-value",
          f"--history --json --target: that target's row with its fields ({hist.returncode})")
    hist = subprocess.run([TAGD, "-c", conf, "--history", "--json"], capture_output=True, text=True, timeout=60)
    rows = json.loads(hist.stdout) if hist.returncode == 0 else []
    check(len(rows) == 14 and sum(r["target"] == "" and r["target_name"] == "" for r in rows) == 13,
          "--history --json: every row has its target fields")
    p = restore(work, conf, creds, "--dry-run")
    check(p.returncode == 0 and p.stdout.count("would-restore") == len(deleted) == 13 and
          "prod-value" not in p.stderr and "1 deletions made for other targets" in p.stderr,
          f"--restore: the other target's deletion is left out, with a notice ({p.returncode})")
    p = restore(work, conf, creds, "--target", "acme-*")
    check(p.returncode == 1 and "governs one project" in p.stderr and not p.stdout,
          f"--restore --target OTHER: refused, nothing done ({p.returncode}: {p.stderr.strip()[-200:]})")
    p = subprocess.run([TAGD, "-c", conf, "--check-config", "--target", "x"], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 1 and "--target goes with" in p.stderr,
          "--target goes with the modes that work on targets, not --check-config")


for fn in (lost_reply, in_flight(signal.SIGTERM), in_flight(signal.SIGKILL), log_level_warning,
           hand_run, ak_as_value, changed_value_exempt, changed_value_grace, restore_right_after_read,
           from_dev_zero, other_targets):
    scenario(fn, prefix="csms-records.")
sys.exit(report())
