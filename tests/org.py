#!/usr/bin/env python3
"""Organisation mode (issue 17) end to end: one csms-tagd governs 3 accounts
x 2 regions against the emulator.  The management account's AK/SK is the
base identity; it assumes agency tag-keeper in each member account.
acme-prod's agency trusts it, acme-dev's refuses; region ap-southeast-1
fails (503) until the test heals it.  One policy section is scoped to the
acme-prod account, one applies everywhere.  The oracle is the emulator's own
deletion record per project.

  explicit_once      six [target] sections, --once: exactly the right tags
                     go in each reachable target, none in acme-dev's nor in
                     the failing region; the failing targets are named and
                     the exit status says partial/failed; records (the JSON
                     log and --history --json --target '*') carry the
                     target; --plan --target selects one; after healing,
                     the region converges and a further pass does nothing
  daemon_passes      the same as a service: STATUS= "2 of 6 targets
                     converged, 4 failing: ...", --status, metrics with
                     account/region/project/target labels; healing the
                     region converges it in a later pass
  discover_targets   [discover] (regions, accounts = *) finds the reachable
                     targets; each new target's first pass is a dry run,
                     also a region added later

Exits 77 (SKIP) while csms-tagd --help does not mention --target: the C side
of issue 17 is not merged yet.
"""
import json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (TAGD, Daemon, Notify, check, has_option, json_records, output,  # noqa: E402
                     prometheus, report, run_once, wait_until)
import emutest  # noqa: E402

if not has_option("--target"):
    print("SKIP: csms-tagd has no organisation mode yet (--help does not mention --target)")
    sys.exit(77)

MGMT_AK, MGMT_SK = "MGMTAK00000000000000", "mgmtSecretKey000000000000000000000000000"
REGIONS = ("cn-north-4", "ap-southeast-1")
FAILING = "ap-southeast-1"
SHORT = {"cn-north-4": "bj4", "ap-southeast-1": "hk"}


class Account:
    def __init__(self, n, name, short, trusted):
        self.id = "a%031d" % n
        self.name, self.short, self.trusted = name, short, trusted


MGMT = Account(1, "acme-mgmt", "mgmt", True)
PROD = Account(2, "acme-prod", "prod", True)
DEV = Account(3, "acme-dev", "dev", False)      # its agency refuses the management account
ACCOUNTS = (MGMT, PROD, DEV)


class Target:
    def __init__(self, account, r, region):
        n = ACCOUNTS.index(account) + 1
        self.account, self.region = account, region
        self.name = "%s-%s" % (account.short, SHORT[region])
        self.discovered_name = "%s/%s" % (account.name, region)
        self.project_id = "b%d%030d" % (n, r + 1)
        self.secret_prefix = "%d%d" % (n, r + 1)    # secret ids unique over all projects

    def secret_id(self, i):
        return "%s000000-0000-4000-8000-%012d" % (self.secret_prefix, i)

    def secrets(self):
        """Values carry the project id: a deletion in the wrong project shows."""
        p = self.project_id
        return [{"id": self.secret_id(1), "name": "app-web",
                 "tags": {"owner": "team-a", "env": "prod", "temp-build": p}},
                {"id": self.secret_id(2), "name": "app-db", "tags": {"owner": "team-b", "env": "qa"}},
                {"id": self.secret_id(3), "name": "svc-cache",
                 "tags": {"owner": "team-c", "temp-run": p, "env": "qa"}}]

    def expected(self):
        """(project, secret id, key, value) the policy deletes here, reachable or not."""
        p = self.project_id
        gone = [(self.secret_id(1), "temp-build", p), (self.secret_id(3), "temp-run", p)]
        if self.account is PROD:    # the account-scoped section: env = prod | staging
            gone.append((self.secret_id(2), "env", "qa"))
        return {(p, s, k, v) for s, k, v in gone}


TARGETS = [Target(a, r, region) for a in ACCOUNTS for r, region in enumerate(REGIONS)]
BY_PROJECT = {t.project_id: t for t in TARGETS}

POLICY = """
# acme-prod keeps only prod and staging environments on its app-* secrets.
[secrets "app-*"]
/accounts = acme-prod
env = prod | staging
temp-* = !
* = *

# Every account: no temporary tags.
[secrets "*"]
temp-* = !
* = *
"""


def seed(path):
    accounts = []
    for a in ACCOUNTS:
        obj = {"id": a.id, "name": a.name,
               "projects": [{"id": t.project_id, "name": t.region, "secrets": t.secrets()}
                            for t in TARGETS if t.account is a],
               # The management account trusts itself too: a [discover] that
               # reaches it through ListAccounts may assume it there.
               "agencies": [{"name": "tag-keeper", "trusted": [MGMT.id] if a.trusted else []}]}
        if a is MGMT:
            obj["credentials"] = {"aksk": [{"ak": MGMT_AK, "sk": MGMT_SK}]}
        accounts.append(obj)
    with open(path, "w") as f:
        json.dump({"accounts": accounts, "organization": {"management_account": MGMT.id}}, f)
    return path


def write_config(work, emu, governed):
    """GOVERNED: the [target] sections, or a [discover] section, as text."""
    path = os.path.join(work, "org.conf")
    with open(path, "w") as f:
        f.write(f"""[csms]
endpoint = {emu.url}
iam_endpoint = {emu.url}
sts_endpoint = {emu.url}
organizations_endpoint = {emu.url}

[auth]
method = agency
base = aksk
access_key_file = org-ak
secret_key_file = org-sk
agency_name = tag-keeper

[daemon]
state_directory = {work}
metrics_file = {work}/metrics.prom
interval = 2s
jitter = 0s
request_timeout = 3s
max_parallel_requests = 8
max_parallel_targets = 4
max_requests_per_second = 20
max_deletes_per_pass = 100
{governed}
{POLICY}""")
    return path


def target_sections(targets=TARGETS):
    out = []
    for t in targets:
        account = "" if t.account is MGMT else f"account_id = {t.account.id}\n"
        out.append(f'[target "{t.name}"]\n{account}account_name = {t.account.name}\n'
                   f"region = {t.region}\nproject_id = {t.project_id}\n")
    return "\n".join(out)


def creds_with_org_keys(creds):
    for name, value in (("org-ak", MGMT_AK), ("org-sk", MGMT_SK)):
        p = os.path.join(creds, name)
        with open(p, "w") as f:
            f.write(value + "\n")
        os.chmod(p, 0o600)
    return creds


def expected(targets):
    return set().union(*(t.expected() for t in targets)) if targets else set()


def reachable(region_ok=True):
    return [t for t in TARGETS if t.account.trusted and (region_ok or t.region != FAILING)]


def deletions_match(emu, targets, what):
    """The emulator deleted exactly the expected tags of TARGETS, nothing elsewhere."""
    got = set(emu.project_deletions())
    want = expected(targets)

    def short(ds):
        return ", ".join(f"{BY_PROJECT[p].name}:{k}" if p in BY_PROJECT else f"{p}:{k}"
                         for p, _, k, _ in sorted(ds))
    return check(got == want and len(emu.project_deletions()) == len(want),
                 f"{what}: exactly {len(want)} deletions in {', '.join(t.name for t in targets)}"
                 + (f" (missing {short(want - got)})" if want - got else "")
                 + (f" (extra {short(got - want)})" if got - want else ""))


def no_csms_requests_in(emu, account, what):
    """ACCOUNT's projects got no CSMS request (its agency refused, nothing reached them)."""
    a = next(x for x in emu.accounts() if x["id"] == account.id)
    csms = {k: v for k, v in a["counts"].items() if k not in ("AssumeAgency",
                                                              "CreateTemporaryAccessKeyByAgency")}
    return check(not csms and not a["deleted"], f"{what}: no CSMS request reached {account.name} ({csms})")


def deletion_records(records):
    return [r for r in records if r.get("MESSAGE_ID") == "51fcce5dc3b540f0a089a1b99b0067a4"]


def records_carry_target(records, what, name=lambda t: t.name):
    """Every deletion record names its target, account, region and project:
    the secret id tells which target it belongs to."""
    recs = deletion_records(records)
    bad = []
    for r in recs:
        t = next((t for t in TARGETS if r.get("CSMS_SECRET_ID", "").startswith(t.secret_prefix)), None)
        if t is None or r.get("CSMS_TARGET") != name(t) or r.get("CSMS_PROJECT") != t.project_id or \
                r.get("CSMS_REGION") != t.region or r.get("CSMS_ACCOUNT") not in (t.account.id, t.account.name):
            bad.append({k: r.get(k) for k in ("CSMS_SECRET_ID", "CSMS_TARGET", "CSMS_ACCOUNT",
                                               "CSMS_REGION", "CSMS_PROJECT")})
    return check(recs and not bad, f"{what}: all {len(recs)} deletion records carry their target"
                 + (f" (wrong: {bad[:3]})" if bad else ""))


def failure_named(records, text, t):
    """A warning or worse names target T (by its field or in the message)."""
    return any(int(r.get("PRIORITY", "6")) <= 4 and
               (r.get("CSMS_TARGET") == t.name or t.name in r.get("MESSAGE", "")) for r in records) or \
        any(t.name in line and re.search(r"fail|refus|unavailable|error", line, re.I)
            for line in text.splitlines() if not line.startswith("{"))


def failures_named(records, text, failing, converged, what):
    named = [t.name for t in failing if failure_named(records, text, t)]
    wrong = [t.name for t in converged if any(
        int(r.get("PRIORITY", "6")) <= 3 and r.get("CSMS_TARGET") == t.name for r in records)]
    return check(len(named) == len(failing) and not wrong,
                 f"{what}: the failing targets are named ({named} of {[t.name for t in failing]})"
                 + (f"; errors for converged {wrong}" if wrong else ""))


def tagd(creds, *args, timeout=120):
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    return subprocess.run([TAGD, *args], env=env, capture_output=True, text=True, timeout=timeout)


def history(conf, creds, target="*"):
    p = tagd(creds, "-c", conf, "--history", "--json", "--target", target)
    try:
        return p.returncode, json.loads(p.stdout or "[]")
    except ValueError:
        return p.returncode, None


def history_matches(emu, conf, creds, what):
    """--history --json --target '*': each deletion once, with its target,
    exactly the emulator's."""
    rc, rows = history(conf, creds)
    if not check(rc == 0 and isinstance(rows, list), f"{what}: --history --json --target '*' (exit {rc})"):
        return
    got, bad = set(), []
    for r in rows:
        if r.get("outcome") != "deleted":
            continue
        t = BY_PROJECT.get(r.get("target")) or next((x for x in TARGETS if r.get("target_name") in
                                                     (x.name, x.discovered_name)), None)
        if t is None or r.get("region") != t.region or \
                r.get("account_id", t.account.id) not in (t.account.id, "", None):
            bad.append({k: r.get(k) for k in ("target", "target_name", "account_id", "region", "secret_id")})
            continue
        got.add((t.project_id, r["secret_id"], r["key"], r["value"]))
    check(not bad and got == set(emu.project_deletions()),
          f"{what}: the ledger's deletions, each with its target, are the emulator's ({len(got)})"
          + (f" (wrong target fields: {bad[:3]})" if bad else ""))


def once(work, conf, creds, *args):
    """--once with JSON records: (exit status, records, the text)."""
    rc = run_once(work, conf, creds, "--log-target", "json", *args)
    text = output(work)
    return rc, json_records(text), text


# -- scenarios ------------------------------------------------------------------------
def explicit_once(work, emu, creds):
    conf = write_config(work, emu, target_sections())
    p = tagd(creds, "-c", conf, "--check-config")
    check(p.returncode == 0 and all(t.name in p.stdout for t in TARGETS),
          f"--check-config lists the six targets (exit {p.returncode}) {p.stderr.strip()[:300]}")

    # --plan --target: one target only, read-only.
    p = tagd(creds, "-c", conf, "--plan", "--json", "--target", "prod-bj4")
    try:
        plans = json.loads(p.stdout)["targets"]
        planned = {(d["secret_id"], d["key"]) for d in plans[0]["plan"]["deletions"]} \
            if len(plans) == 1 and plans[0]["target"] == "prod-bj4" else None
    except (ValueError, KeyError, TypeError):
        planned = None
    want = {(s, k) for _, s, k, _ in TARGETS[2].expected()}
    check(planned == want and not emu.project_deletions(),
          f"--plan --target prod-bj4 plans prod-bj4's {len(want)} deletions only ({planned})")

    emu.fail_region(FAILING)
    rc, records, text = once(work, conf, creds)
    check(rc in (1, 3), f"phase 1: exit {rc}, partial or failed (1 or 3)")
    deletions_match(emu, reachable(region_ok=False), "phase 1 (ap-southeast-1 down)")
    no_csms_requests_in(emu, DEV, "phase 1")
    failing = [t for t in TARGETS if t not in reachable(region_ok=False)]
    failures_named(records, text, failing, reachable(region_ok=False), "phase 1")
    records_carry_target(records, "phase 1")
    history_matches(emu, conf, creds, "phase 1")
    rc, rows = history(conf, creds, "prod-bj4")
    check(rc == 0 and rows is not None and len([r for r in rows if r.get("outcome") == "deleted"]) == 3,
          f"--history --target prod-bj4: its 3 deletions only (exit {rc})")

    emu.fail_region(FAILING, False)
    rc, records, text = once(work, conf, creds)
    check(rc in (1, 3), f"healed: exit {rc}, still partial (acme-dev refuses)")
    deletions_match(emu, reachable(), "healed")
    failures_named(records, text, [t for t in TARGETS if t.account is DEV], reachable(), "healed")
    records_carry_target(records, "healed")
    history_matches(emu, conf, creds, "healed")
    no_csms_requests_in(emu, DEV, "healed")

    before = len(emu.project_deletions())
    rc, records, _ = once(work, conf, creds)
    check(rc in (1, 3) and len(emu.project_deletions()) == before and not deletion_records(records),
          f"a third pass deletes nothing more (exit {rc})")


def status_summary(notify):
    """(converged, total, failing text) of the last STATUS= summary, or None."""
    for v in reversed(notify.values("STATUS")):
        m = re.search(r"(\d+) of (\d+) targets converged(?:, (\d+) failing: (.*))?", v)
        if m:
            return int(m.group(1)), int(m.group(2)), m.group(4) or ""
    return None


def failing_in(summary_text):
    """The target names of a STATUS= failing list (before "; next at")."""
    return {t.name for t in TARGETS if re.search(r"(^|[ ,])%s( |,|;|$)" % re.escape(t.name),
                                                 summary_text.split("; next")[0])}


def last_pass_success(path):
    try:
        return {lb.get("target"): v for name, lb, v in prometheus(path) if name == "csms_tagd_last_pass_success"}
    except OSError:
        return {}


def metrics_per_target(path, what):
    samples = prometheus(path)
    missing = []
    for t in TARGETS:
        if not any(lb.get("project") == t.project_id and lb.get("region") == t.region and
                   lb.get("account") in (t.account.id, t.account.name) and lb.get("target") == t.name
                   for _, lb, _ in samples):
            missing.append(t.name)
    check(samples and not missing, f"{what}: metrics carry account/region/project/target labels for "
          f"every target ({len(samples)} samples; missing {missing})")
    success = {lb.get("target"): v for name, lb, v in samples if name == "csms_tagd_last_pass_success"}
    return success


def daemon_passes(work, emu, creds):
    conf = write_config(work, emu, target_sections())
    emu.fail_region(FAILING)
    notify = Notify(work)
    d = Daemon(work, conf, creds, "--log-target", "json",
               env={"NOTIFY_SOCKET": notify.sock, "STATE_DIRECTORY": work})
    try:
        phase1 = {t.name for t in TARGETS if t not in reachable(region_ok=False)}
        ok = wait_until(lambda: not d.alive() or (status_summary(notify) or (0, 0, ""))[:2] == (2, 6) and
                        failing_in(status_summary(notify)[2]) == phase1, 60, 0.2) and d.alive()
        check(ok, f"STATUS=: 2 of 6 targets converged, 4 failing, named: {status_summary(notify)}")
        deletions_match(emu, reachable(region_ok=False), "daemon, region down")
        # Monitoring files are written at most once a second: they may
        # trail STATUS= by that much.
        wait_until(lambda: len(last_pass_success(os.path.join(work, "metrics.prom"))) == len(TARGETS), 10, 0.2)
        success = metrics_per_target(os.path.join(work, "metrics.prom"), "daemon, region down")
        if success:
            check(all(success.get(t.name) == (0 if t.name in phase1 else 1) for t in TARGETS),
                  f"csms_tagd_last_pass_success per target: {success}")
        p = subprocess.run([TAGD, "--status"], env=dict(os.environ, STATE_DIRECTORY=work),
                           capture_output=True, text=True, timeout=30)
        check(all(t.name in p.stdout for t in TARGETS),
              f"--status shows every target (exit {p.returncode})")

        emu.fail_region(FAILING, False)
        dev = {t.name for t in TARGETS if t.account is DEV}
        # A failing target backs off (30 s, doubling, at most the interval).
        ok = wait_until(lambda: not d.alive() or (status_summary(notify) or (0, 0, ""))[:2] == (4, 6) and
                        failing_in(status_summary(notify)[2]) == dev, 90, 0.2) and d.alive()
        check(ok, f"healed: STATUS= 4 of 6 converged, acme-dev's 2 failing: {status_summary(notify)}")
        deletions_match(emu, reachable(), "daemon, healed")
        no_csms_requests_in(emu, DEV, "daemon")
        metrics_per_target(os.path.join(work, "metrics.prom"), "daemon, healed")
    finally:
        rc, _ = d.stop()
        notify.stop()
    check(rc == 0, f"the daemon stops cleanly on SIGTERM (exit {rc})")
    records_carry_target(json_records(d.output()), "daemon")
    with open(os.path.join(work, "output.log"), "a") as f:
        f.write(d.output())


def discover_targets(work, emu, creds):
    def run(regions):
        conf = write_config(work, emu, f"[discover]\nregions = {regions}\naccounts = *\n")
        return once(work, conf, creds)

    def names_in(records):
        return {r.get("CSMS_TARGET") for r in records} - {None}

    def new_targets_dry_run(records, new, what):
        dry = {r.get("CSMS_TARGET") for r in records if "Would delete" in r.get("MESSAGE", "")}
        check({t.discovered_name for t in new} <= dry,
              f"{what}: each new target's plan is journaled (would delete: {sorted(dry)})")

    bj4 = [t for t in reachable() if t.region == "cn-north-4"]
    rc, records, text = run("cn-north-4")
    check(rc in (0, 1, 2, 3) and not emu.project_deletions(),
          f"discover: the first pass of new targets is a dry run (exit {rc})")
    found = names_in(records)
    check({t.discovered_name for t in bj4} <= found and not any(t.account is DEV and t.discovered_name in found
                                                              for t in TARGETS),
          f"discover: finds {[t.discovered_name for t in bj4]} (records name {sorted(found)})")
    check(any((DEV.name in r.get("MESSAGE", "") or DEV.id in r.get("MESSAGE", "") or
               r.get("CSMS_ACCOUNT") in (DEV.name, DEV.id)) and int(r.get("PRIORITY", "6")) <= 4
              for r in records), "discover: acme-dev's refused agency is reported")
    new_targets_dry_run(records, bj4, "discover")

    rc, records, _ = run("cn-north-4")
    deletions_match(emu, bj4, f"discover, second pass (exit {rc})")
    records_carry_target(records, "discover", name=lambda t: t.discovered_name)

    hk = [t for t in reachable() if t.region == FAILING]
    rc, records, _ = run("cn-north-4 | ap-southeast-1")
    deletions_match(emu, bj4, f"discover, a region added: its targets' first pass is a dry run (exit {rc})")
    new_targets_dry_run(records, hk, "discover, region added")
    rc, records, _ = run("cn-north-4 | ap-southeast-1")
    deletions_match(emu, reachable(), f"discover, region added, next pass (exit {rc})")
    conf = os.path.join(work, "org.conf")
    history_matches(emu, conf, creds, "discover")


def with_org_keys(fn):
    """FN(work, emu, creds) with the management account's keys among CREDS."""
    def wrapped(work, emu, creds):
        fn(work, emu, creds_with_org_keys(creds))
    wrapped.__name__ = fn.__name__
    return wrapped


seed_dir = tempfile.mkdtemp(prefix="csms-org-seed.")
try:
    seed_file = seed(os.path.join(seed_dir, "org-seed.json"))
    for fn in (explicit_once, daemon_passes, discover_targets):
        emutest.scenario(with_org_keys(fn), seed=seed_file, prefix="csms-org.")
finally:
    shutil.rmtree(seed_dir, ignore_errors=True)
sys.exit(report())
