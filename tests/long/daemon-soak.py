#!/usr/bin/env python3
"""Long-running checks of the daemon against the emulator with faults on.

  daemon-soak.py valgrind [PASSES]   memcheck over PASSES passes (default 50):
                                     0 errors, 0 definitely/indirectly lost
  daemon-soak.py rss [PASSES]        RSS after 10 passes vs after PASSES
                                     (default 1000): must stay within 10%

The daemon runs with a long interval and is driven by SIGUSR1 ("run a pass
now", ignored while a pass runs), so passes follow each other back to back;
they are counted from its own "Pass N ..." lines.  Faults (random 500s and resets) stay on throughout, so
the error paths are exercised as much as the happy ones.
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from emutest import Emulator, TAGD, write_config, write_creds  # noqa: E402

FAULTS = [{"api": "*", "kind": "status", "status": 500, "rate": 0.05},
          {"api": "*", "kind": "reset", "rate": 0.03},
          {"api": "ListSecretTags", "kind": "invalid_json", "rate": 0.03}]
PASS_RE = re.compile(r"Pass (\d+) (converged|changed|partial|failed|aborted)")


def passes_done(log):
    found = PASS_RE.findall(open(log, errors="replace").read())
    return max((int(n) for n, _ in found), default=0)


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(mode, passes):
    work = tempfile.mkdtemp(prefix="csms-soak.")
    emu = Emulator(work)
    daemon = None
    try:
        creds = write_creds(work)
        conf = write_config(work, emu, extra="interval = 1h\njitter = 0s\nmax_parallel_requests = 4")
        emu.post("/_emulator/faults", {"rules": FAULTS})
        log = os.path.join(work, "daemon.log")
        cmd = [TAGD, "-c", conf, "--log-target", "stderr"]
        if mode == "valgrind":
            vlog = os.path.join(work, "valgrind.log")
            cmd = ["valgrind", "--tool=memcheck", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--show-leak-kinds=definite,indirect", f"--log-file={vlog}", *cmd]
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        with open(log, "w") as out:
            daemon = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + (1200 if mode == "valgrind" else 900)
        rss10 = None
        last_n = 0
        while time.time() < deadline and daemon.poll() is None:
            n = passes_done(log)
            if mode == "rss" and rss10 is None and n >= 10:
                rss10 = rss_kb(daemon.pid)
            if n >= passes:
                break
            if n >= 1:      # signals are handled once the first pass has run
                if n != last_n:
                    # Keep the delete path busy: a new stray tag every pass.
                    emu.post("/_emulator/tags", {"secret": "app-web", "set": {f"temp-soak-{n}": "1"}})
                    last_n = n
                daemon.send_signal(signal.SIGUSR1)
            time.sleep(0.01 if mode == "rss" else 0.1)
        n = passes_done(log)
        rss_end = rss_kb(daemon.pid) if daemon.poll() is None else 0
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=120)
        daemon = None
        ok = rc == 0 and n >= passes
        st = emu.get("/_emulator/state")
        print(f"{mode}: {n} passes, {st['requests']} requests, {st['faults_injected']} faults injected, "
              f"daemon exit {rc}")
        if st["faults_injected"] == 0:
            ok = False
        if mode == "valgrind":
            text = open(vlog).read()
            errors = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            definite = re.search(r"definitely lost: ([\d,]+) bytes", text)
            indirect = re.search(r"indirectly lost: ([\d,]+) bytes", text)
            e = int(errors.group(1)) if errors else -1
            d = int(definite.group(1).replace(",", "")) if definite else 0
            i = int(indirect.group(1).replace(",", "")) if indirect else 0
            print(f"valgrind: {e} errors, {d} bytes definitely lost, {i} bytes indirectly lost")
            if e != 0 or d or i:
                print(text[-4000:])
                ok = False
        else:
            print(f"RSS after 10 passes: {rss10} kB; after {n} passes: {rss_end} kB")
            if not rss10 or rss_end > rss10 * 1.10 + 512:
                ok = False
        if not ok:
            print(open(log, errors="replace").read()[-3000:])
        return 0 if ok else 1
    finally:
        if daemon:
            daemon.kill()
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else (50 if mode == "valgrind" else 1000)
    sys.exit(run(mode, passes))
