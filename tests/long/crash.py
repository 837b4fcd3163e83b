#!/usr/bin/env python3
"""Crash consistency of the deletion ledger (issue 14): SIGKILL the daemon at
random points of passes that delete, KILLS times (default 200, seeded),
restarting it each time; new unwanted tags keep arriving so that most
passes delete.  At the end one more run settles every intent the kills
left pending, and then:
  - the ledger's deletions equal the emulator's record of deletions
    exactly (secret id, key and value, no more, no fewer);
  - no intent is left pending;
  - --restore brings every deleted tag back with its value.
Usage: crash.py [KILLS] [SEED]"""
import os, random, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from emutest import (TAGD, Daemon, Emulator, emulator_deletions, ledger_rows,  # noqa: E402
                     run_once, write_config, write_creds)

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 14
SECRETS = 200


def main():
    rnd = random.Random(SEED)
    work = tempfile.mkdtemp(prefix="csms-crash.")
    emu = Emulator(work)
    try:
        secrets = [{"id": "33333333-3333-4333-8333-%012d" % i, "name": "app-c%02d" % i,
                    "tags": {"owner": "x"}} for i in range(SECRETS)]
        emu.post("/_emulator/secrets", {"secrets": secrets})
        emu.post("/_emulator/config", {"latency_ms": 25})
        creds = write_creds(work)
        conf = write_config(work, emu, extra="interval = 1s\njitter = 0s\nmax_parallel_requests = 2\n"
                                             "max_deletes_per_pass = 1000")
        t0 = time.monotonic()
        for k in range(KILLS):
            # A few new unwanted tags (unique keys: each deletion is its own).
            for j in range(rnd.randint(3, 10)):
                s = rnd.randrange(SECRETS)
                emu.post("/_emulator/tags", {"secret": "app-c%02d" % s,
                                             "set": {"temp-%d-%d" % (k, j): "v%d" % rnd.randrange(10**6)}})
            d = Daemon(work, conf, creds)
            time.sleep(rnd.uniform(0.02, 0.6))
            d.signal(signal.SIGKILL)
            d.proc.wait()
        killed = time.monotonic() - t0
        pending = len(ledger_rows(work, "pending"))
        rc = run_once(work, conf, creds)
        ledger = sorted(ledger_rows(work, "deleted"))
        emulated = sorted(emulator_deletions(emu))
        failures = []
        if ledger != emulated:
            missing = sorted(set(emulated) - set(ledger))[:5]
            extra = sorted(set(ledger) - set(emulated))[:5]
            failures.append(f"ledger {len(ledger)} deletions, emulator {len(emulated)}: "
                            f"missing {missing}, extra {extra}")
        if ledger_rows(work, "pending"):
            failures.append(f"{len(ledger_rows(work, 'pending'))} intents still pending")
        if rc not in (0, 2):
            failures.append(f"the settling run exited {rc}")
        p = subprocess.run([TAGD, "-c", conf, "--restore", "--since", "@0"], capture_output=True,
                           text=True, env=dict(os.environ, CREDENTIALS_DIRECTORY=creds), timeout=300)
        tags = {s["id"]: s["tags"] for s in emu.state()["secrets"]}
        lost = [d for d in emulated if tags.get(d[0], {}).get(d[1]) != d[2]]
        if p.returncode != 0 or lost:
            failures.append(f"--restore exited {p.returncode}, {len(lost)} tags not back: {lost[:5]}")
        print(f"{KILLS} kills (seed {SEED}) in {killed:.0f}s; {pending} intents pending after the last "
              f"kill; {len(emulated)} deletions; ledger == emulator: {ledger == emulated}")
        for f in failures:
            print("FAIL:", f)
        return 1 if failures else 0
    finally:
        emu.stop()
        if os.environ.get("CRASH_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
