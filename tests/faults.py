#!/usr/bin/env python3
"""Fault injection, end to end: csms-tagd --once passes against the emulator
with faults switched on, then off.  After every scenario, from the emulator's
own record of deletions: zero deletions of tags the desired state allows,
and convergence within a bounded number of passes once faults stop.

The oracle for "allowed" is csms-tagd's own planner (unit-tested apart):
every deleted (secret, key, value) is fed back to --plan as an observation;
a deletion the plan does not contain is a wrong deletion.
"""
import json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emutest import (Emulator, SEED, converged, run_once, write_config,  # noqa: E402
                     write_creds, wrong_deletions)

CONVERGE_WITHIN = 3          # passes once faults stop
SECRETS_IN_LOGS = ["exampleSecretKey0000000000000000000000", "demo-pass",
                   "ecsTempSecretKey00000000000000000000", "ecs-security-token-0000"]


SCENARIOS = [
    # name, emulator args, config method, config extra, fault rules, control steps, faulty passes
    ("random 500/502/504", [], "aksk", "", [
        {"api": "*", "kind": "status", "status": 500, "rate": 0.15},
        {"api": "*", "kind": "status", "status": 502, "rate": 0.1},
        {"api": "*", "kind": "status", "status": 504, "rate": 0.1}], None, 2),
    ("429 bursts + Retry-After", [], "aksk", "", [
        {"api": "*", "kind": "status", "status": 429, "error_code": "APIGW.0308",
         "retry_after": 1, "count": 6}], None, 1),
    ("reset mid-body", [], "aksk", "", [
        {"api": "*", "kind": "reset", "rate": 0.2}], None, 2),
    ("truncated body", [], "aksk", "", [
        {"api": "*", "kind": "truncate", "rate": 0.2}], None, 2),
    ("invalid JSON", [], "aksk", "", [
        {"api": "ListResourceInstances", "kind": "invalid_json", "count": 1},
        {"api": "ListSecretTags", "kind": "invalid_json", "rate": 0.3}], None, 2),
    ("slower than timeout", [], "aksk", "", [
        {"api": "*", "kind": "slow", "delay_ms": 2500, "rate": 0.15}], None, 1),
    ("token expires mid-pass", ["--token-ttl", "1", "--latency-ms", "150"], "password",
     "max_parallel_requests = 1", [], None, 1),
    ("clock skew 20 min", ["--clock-offset", "1200"], "aksk", "", [], "clock", 1),
    ("AK lockout (bad SK)", ["--lockout-seconds", "2"], "aksk", "", [], "badsk", 2),
    ("secret deleted before delete", [], "aksk", "", [
        {"api": "ListResourceInstances", "kind": "mutate", "count": 1,
         "ops": [{"op": "delete_secret", "secret": "app-web"}]}], None, 1),
    ("tag value corrected before delete", [], "aksk", "", [
        {"api": "ListResourceInstances", "kind": "mutate", "count": 1,
         "ops": [{"op": "set_tag", "secret": "payments-db", "key": "env", "value": "prod"}]}], None, 1),
    ("tag removed before delete", [], "aksk", "", [
        {"api": "ListResourceInstances", "kind": "mutate", "count": 1,
         "ops": [{"op": "remove_tag", "secret": "app-batch", "key": "temp-1"}]}], None, 1),
    ("total_count disagrees", [], "aksk", "", [
        {"api": "ListResourceInstances", "kind": "total_count_mismatch", "count": 1}], None, 1),
]


def main():
    seed = json.load(open(SEED))
    sys_tags = {s["name"]: s.get("sys_tags", {}) for s in seed["secrets"]}
    rows, failures = [], []
    for name, emu_args, method, extra, rules, control, faulty_passes in SCENARIOS:
        work = tempfile.mkdtemp(prefix="csms-faults.")
        emu = None
        try:
            emu = Emulator(work, *emu_args)
            creds = write_creds(work, sk="wrong" if control == "badsk" else
                                "exampleSecretKey0000000000000000000000")
            conf = write_config(work, emu, method, extra)
            emu.post("/_emulator/faults", {"rules": rules})
            codes = [run_once(work, conf, creds) for _ in range(faulty_passes)]
            if control == "badsk":
                # Repeated signature failures must not be retried in a loop.
                bad = emu.get("/_emulator/state")["requests"]
                if bad > 2 * faulty_passes:
                    failures.append(f"{name}: {bad} requests with a bad signature")
                write_creds(work)
                time.sleep(2.2)     # let the lockout expire
            if control == "clock":
                emu.post("/_emulator/config", {"clock_offset": 0})
            emu.post("/_emulator/faults", {"rules": []})
            passes = 0
            while passes < CONVERGE_WITHIN and not converged(emu, work, conf):
                codes.append(run_once(work, conf, creds))
                passes += 1
            st = emu.get("/_emulator/state")
            wrong = wrong_deletions(work, conf, st["deleted"], sys_tags)
            ok = converged(emu, work, conf)
            if wrong:
                failures.append(f"{name}: wrong deletions {wrong}")
            if not ok:
                failures.append(f"{name}: not converged within {CONVERGE_WITHIN} passes after faults stopped")
            if any(c not in (0, 1, 2, 3) for c in codes):
                failures.append(f"{name}: csms-tagd crashed (exit codes {codes})")
            out = open(os.path.join(work, "output.log")).read() + open(emu.log).read()
            for secret in SECRETS_IN_LOGS:
                if secret in out:
                    failures.append(f"{name}: a credential appears in the output")
            rows.append((name, st["requests"], st["faults_injected"], len(st["deleted"]), len(wrong),
                         passes if ok else "-"))
        except Exception as e:  # a broken scenario is a failure, not a crash of the table
            failures.append(f"{name}: {e!r}")
            rows.append((name, "?", "?", "?", "?", "-"))
        finally:
            if emu:
                emu.stop()
            shutil.rmtree(work, ignore_errors=True)

    print(f"{'scenario':<34} {'requests':>8} {'faults':>7} {'deleted':>8} {'wrong':>6} {'converge':>9}")
    for r in rows:
        print(f"{r[0]:<34} {r[1]!s:>8} {r[2]!s:>7} {r[3]!s:>8} {r[4]!s:>6} {r[5]!s:>9}")
    print(f"(converge = passes needed after faults stopped, at most {CONVERGE_WITHIN})")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
