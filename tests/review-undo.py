#!/usr/bin/env python3
"""Reviewed plans and undo, end to end against the emulator.

Reviewed plan: a dry run saves its plan; then one planned tag is corrected,
one removed and one unplanned tag added; --apply-plan deletes only the
unchanged items, leaves the added tag alone and records every skipped item
with its reason.  Plans for another project, too old, or of an unknown
format are refused with nothing deleted.  Changes made after the pass's
observation, right before its per-secret re-read, are caught by that
re-read (an emulator "mutate" fault changes the tags just then).

Undo: a wrong policy deletes 50 tags; one key is re-added meanwhile with
another value; --restore fed with the daemon's own deletion records brings
back the 49 others with identical values and reports the conflict without
overwriting it.  The records come from csms-tagd --log-target=json, which
writes each journal entry as `journalctl -o json` would print it: the same
reader then serves a journal exported from another host, and no journald is
needed here (restore_read_journal() is the sd-journal route of the same
filter)."""
import json, os, stat, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import TAGD, check, report, scenario, write_config  # noqa: E402

PROJECT = "0123456789abcdef0123456789abcdef"


def run(work, conf, creds, *args, stdin=None):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    p = subprocess.run([TAGD, "-c", conf, "--log-target", "json", *args], env=env,
                       input=stdin, capture_output=True, text=True, timeout=120)
    with open(os.path.join(work, "output.log"), "a") as f:
        f.write("$ %s\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    records = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    return p.returncode, p.stdout, p.stderr, records


def secret(i, name, tags):
    return {"id": "22222222-2222-4222-8222-%012d" % i, "name": name, "state": "ENABLED",
            "tags": tags}


def tags_of(emu):
    return {s["name"]: s["tags"] for s in emu.get("/_emulator/state")["secrets"]}


def by_mid(records, mid):
    return [r for r in records if r.get("MESSAGE_ID") == mid]


MID_DELETED = "51fcce5dc3b540f0a089a1b99b0067a4"
MID_SKIPPED = "f6df9ef161ab4acb85454948e20f4f81"
MID_RESTORED = "9465793ce3d342c796659a71060b5377"
MID_NOT_DONE = "7c3df50e750b4500be3a205253e6311d"


def reviewed_plan(work, emu, creds):
    conf = write_config(work, emu)
    emu.post("/_emulator/secrets", {"replace": True, "secrets": [
        secret(1, "payments-db", {"owner": "alice", "env": "dev", "cost-center": "cc-1",
                                  "team": "x", "color": "red", "size": "xl"}),
        secret(2, "app-one", {"temp-a": "1", "temp-b": "2", "keep": "k"})]})
    plan = os.path.join(work, "plan.json")
    rc, _, _, rec = run(work, conf, creds, "--once", "--dry-run", "--save-plan", plan)
    saved = json.load(open(plan))
    items = {(i["secret_name"], i["key"]): i["value"] for i in saved["items"]}
    check(rc == 2 and emu.get("/_emulator/state")["deleted"] == [],
          f"plan: the dry run deletes nothing and exits 2 (exit {rc})")
    check(stat.S_IMODE(os.stat(plan).st_mode) == 0o600, "plan: the file has mode 0600")
    check(set(items) == {("payments-db", "env"), ("payments-db", "team"), ("payments-db", "color"),
                         ("payments-db", "size"), ("app-one", "temp-a"), ("app-one", "temp-b")},
          f"plan: the six unwanted tags are saved ({sorted(items)})")
    check(saved["project_id"] == PROJECT and saved["format"] == "csms-tagd-plan" and
          saved["version"] == 1 and len(saved["config_sha256"]) == 64 and
          all(i["rule"].startswith(conf + ":") for i in saved["items"]),
          "plan: project, format, version, config digest and FILE:LINE rules are recorded")

    # Refusals first: nothing may be deleted by any of them.
    for what, change, args in [
            ("another project", {"project_id": "ffffffffffffffffffffffffffffffff"}, []),
            ("too old", {"created": "2020-01-01T00:00:00Z"}, []),
            ("older than --max-plan-age", {}, ["--max-plan-age", "1us"]),
            ("an unknown version", {"version": 2}, []),
            ("an unknown format", {"format": "terraform"}, [])]:
        bad = os.path.join(work, "bad.json")
        json.dump(dict(saved, **change), open(bad, "w"))
        rc, _, err, _ = run(work, conf, creds, "--apply-plan", bad, *args)
        check(rc == 1 and emu.get("/_emulator/state")["deleted"] == [] and "Refusing plan" in err,
              f"plan: a plan for {what} is refused, nothing deleted (exit {rc})")

    # The deletion limit still holds a pass over it: nothing deleted.
    write_config(work, emu, extra="max_deletes_per_pass = 5")
    rc, _, err, _ = run(work, conf, creds, "--apply-plan", plan)
    check(rc == 3 and emu.get("/_emulator/state")["deleted"] == [] and "max_deletes_per_pass=5" in err,
          f"plan: 6 items over max_deletes_per_pass=5 are held, nothing deleted (exit {rc})")
    write_config(work, emu)

    # Reviewed; meanwhile env is corrected, team removed, a tag added.
    emu.post("/_emulator/tags", {"secret": "payments-db", "set": {"env": "prod", "added": "new"},
                                 "remove": ["team"]})
    rc, _, _, rec = run(work, conf, creds, "--apply-plan", plan)
    left = tags_of(emu)
    deleted = {(r["CSMS_SECRET_NAME"], r["CSMS_TAG_KEY"]) for r in by_mid(rec, MID_DELETED)}
    skipped = {r["CSMS_TAG_KEY"]: r["CSMS_SKIP_REASON"] for r in by_mid(rec, MID_SKIPPED)}
    check(rc == 2, f"apply: exit 2, tags deleted (exit {rc})")
    check(deleted == {("payments-db", "color"), ("payments-db", "size"), ("app-one", "temp-a"),
                      ("app-one", "temp-b")}, f"apply: only the unchanged items are deleted ({sorted(deleted)})")
    check(left["payments-db"] == {"owner": "alice", "env": "prod", "cost-center": "cc-1",
                                  "added": "new"} and left["app-one"] == {"keep": "k"},
          f"apply: the corrected and the added tag stay ({left['payments-db']})")
    check(skipped == {"env": "value-changed", "team": "tag-gone"},
          f"apply: each skipped item has its journal record and reason ({skipped})")

    # The added tag is unwanted too, but not in the reviewed plan; a new
    # unplanned value of a planned key is not the reviewed one either.
    emu.post("/_emulator/tags", {"secret": "app-one", "set": {"temp-a": "other"}})
    before = len(emu.get("/_emulator/state")["deleted"])
    rc, _, _, rec = run(work, conf, creds, "--apply-plan", plan)
    check(len(emu.get("/_emulator/state")["deleted"]) == before and rc == 0,
          f"apply again: nothing outside the reviewed items and values is deleted (exit {rc})")
    check({r["CSMS_TAG_KEY"]: r["CSMS_SKIP_REASON"] for r in by_mid(rec, MID_SKIPPED)}.get("temp-a")
          == "value-changed", "apply again: a re-added key with a new value is skipped as value-changed")

    # A digest that does not match the configuration is reported, not fatal.
    json.dump(dict(saved, config_sha256="0" * 64), open(plan, "w"))
    rc, _, err, _ = run(work, conf, creds, "--apply-plan", plan, "--dry-run")
    check(rc == 0 and "made with another configuration" in err,
          f"apply: a config digest mismatch is reported (exit {rc})")


def changed_before_recheck(work, emu, creds):
    """The same when the tags change after the pass observed them, right
    before its per-secret re-read: that re-read decides."""
    conf = write_config(work, emu)
    emu.post("/_emulator/secrets", {"replace": True, "secrets": [
        secret(1, "payments-db", {"owner": "alice", "env": "dev", "color": "red", "size": "xl",
                                  "team": "x"}),
        secret(2, "app-one", {"temp-a": "1", "temp-b": "1"})]})
    plan = os.path.join(work, "plan.json")
    rc, _, _, _ = run(work, conf, creds, "--once", "--dry-run", "--save-plan", plan)
    check(rc == 2 and len(json.load(open(plan))["items"]) == 6, f"recheck: plan of 6 saved (exit {rc})")
    ops = [{"op": "set_tag", "secret": "payments-db", "key": "env", "value": "prod"},
           {"op": "set_tag", "secret": "payments-db", "key": "color", "value": "blue"},
           {"op": "remove_tag", "secret": "payments-db", "key": "size"},
           # A forbidden key needs no re-read in a normal pass; a reviewed
           # value does.
           {"op": "set_tag", "secret": "app-one", "key": "temp-b", "value": "2"}]
    emu.post("/_emulator/faults", {"rules": [{"api": "ListResourceInstances", "kind": "mutate",
                                              "count": 1, "ops": ops}]})
    rc, _, _, rec = run(work, conf, creds, "--apply-plan", plan)
    deleted = {(r["CSMS_SECRET_NAME"], r["CSMS_TAG_KEY"]) for r in by_mid(rec, MID_DELETED)}
    skipped = {r["CSMS_TAG_KEY"]: r["CSMS_SKIP_REASON"] for r in by_mid(rec, MID_SKIPPED)}
    check(rc == 2 and deleted == {("payments-db", "team"), ("app-one", "temp-a")},
          f"recheck: only the items unchanged at the re-read are deleted ({sorted(deleted)}, exit {rc})")
    check(skipped == {"env": "kept-by-config", "color": "value-changed", "size": "tag-gone",
                      "temp-b": "value-changed"},
          f"recheck: changes seen at the re-read are skipped with their reasons ({skipped})")
    check(tags_of(emu)["payments-db"] == {"owner": "alice", "env": "prod", "color": "blue"},
          "recheck: the corrected and the changed tag stay")


def undo(work, emu, creds):
    conf = write_config(work, emu)
    values = ["v%d-ü é:/=+-@" % i for i in range(50)]
    emu.post("/_emulator/secrets", {"replace": True, "secrets": [
        secret(10 + s, "app-%02d" % s, {"temp-%d" % t: values[s * 5 + t] for t in range(5)} |
               {"owner": "o%d" % s}) for s in range(10)]})
    before = tags_of(emu)
    # The wrong policy: app-* forbids temp-* (the example policy).
    rc, _, err, rec = run(work, conf, creds, "--once")
    records = os.path.join(work, "journal.json")
    with open(records, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rec)
    check(rc == 2 and len(by_mid(rec, MID_DELETED)) == 50, f"undo: the wrong policy deleted 50 tags (exit {rc})")
    emu.post("/_emulator/tags", {"secret": "app-03", "set": {"temp-1": "re-added"}})

    rc, out, _, rec = run(work, conf, creds, "--restore", "--since", "@0", "--from", records,
                          "--dry-run")
    check(rc == 3 and out.count("would-restore") == 49 and
          len(emu.get("/_emulator/state")["deleted"]) == 50 and tags_of(emu)["app-00"] == {"owner": "o0"},
          f"undo: --dry-run creates nothing and reports 49 + 1 conflict (exit {rc})")
    rc, out, _, rec = run(work, conf, creds, "--restore", "--since", "@0", "--from", records)
    after = tags_of(emu)
    expected = {n: dict(t) for n, t in before.items()}
    expected["app-03"]["temp-1"] = "re-added"
    check(rc == 3, f"undo: exit 3 with a conflict (exit {rc})")
    check(after == expected, "undo: every tag is back with its value; the re-added key keeps its new value")
    check(len(by_mid(rec, MID_RESTORED)) == 49 and
          [r["CSMS_RESTORE_RESULT"] for r in by_mid(rec, MID_NOT_DONE)] == ["conflict"] and
          by_mid(rec, MID_NOT_DONE)[0]["CSMS_CURRENT_VALUE"] == "re-added",
          "undo: 49 restore records and one conflict record with the current value")
    # Again, from stdin, for one secret: nothing left to do there.
    rc, out, _, _ = run(work, conf, creds, "--restore", "--since", "@0", "--from", "-",
                        "--secret", "app-0[12]", stdin=open(records).read())
    check(rc == 0 and out.count("already-present") == 10,
          f"undo: restoring again is idempotent ({out.count('already-present')} already present, exit {rc})")
    rc, out, _, _ = run(work, conf, creds, "--restore", "--since", "2001-01-01 00:00:00Z",
                        "--until", "2001-01-02T00:00:00Z", "--from", records)
    check(rc == 0 and out == "", f"undo: an empty window restores nothing (exit {rc})")
    rc, _, err, _ = run(work, conf, creds, "--restore", "--since", "-1h", "--from", records)
    check(rc == 1 and "relative times" in err, f"undo: relative times are refused clearly (exit {rc})")


scenario(reviewed_plan, prefix="csms-review-undo.")
scenario(changed_before_recheck, prefix="csms-review-undo.")
scenario(undo, prefix="csms-review-undo.")
sys.exit(report())
