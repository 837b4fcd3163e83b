#!/usr/bin/env python3
"""csms-emulator.py - a Huawei Cloud CSMS emulator for csms-tagd's tests.

Serves the CSMS tag and secret APIs, IAM token issuing and the ECS metadata
securitykey endpoint on one port, over HTTP or HTTPS, with the API gateway's
authentication (SDK-HMAC-SHA256, tokens, temporary keys), error shapes,
AK lockout, throttling, latency and fault injection, and a control API under
/_emulator/ for tests.  A seed may instead describe several accounts, each
with projects in several regions (emu_org.py), for which it also serves
project and account discovery, agency assumption (STS v5 and IAM v3.0),
per-account rate limits and regions that fail on demand (emu_orgapi.py).
Python 3 standard library only.

  csms-emulator.py --seed SEED.json [--listen 127.0.0.1] [--port 0]
      [--port-file F] [--tls-cert CERT --tls-key KEY] [--latency-ms N]
      [--rate-limit N] [--generate N [--tags-per-secret 8]
      [--stray-fraction 0.02]] [--generate-accounts M [--regions R1,R2]]
      [--token-ttl SECONDS] [--lockout-seconds 300]
      [--clock-offset SECONDS] [--log-file F] [--random-seed N]

With --port 0 a free port is bound and, once listening, its number is
written to --port-file (atomically, so a reader never sees it half written).
SIGTERM and SIGINT stop it cleanly.  The modules next to this file hold the
parts; emu_api.py lists the APIs and the choices made where the sources are
silent.
"""
import argparse
import json
import os
import random
import signal
import ssl
import sys
import threading

sys.dont_write_bytecode = True      # never leave __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu_api import ALL_APIS  # noqa: E402
from emu_auth import Auth  # noqa: E402
from emu_common import Settings  # noqa: E402
from emu_faults import Faults  # noqa: E402
from emu_server import App, make_server  # noqa: E402
from emu_store import generate  # noqa: E402
import emu_org  # noqa: E402

EXAMPLE_CREDENTIALS = {
    "aksk": [{"ak": "EXAMPLEAK0000000000", "sk": "exampleSecretKey0000000000000000000000"}],
    "users": [{"name": "demo", "domain": "demo-domain", "password": "demo-pass"}],
    "tokens": [],
    "ecs": {"ak": "ECSTEMPAK000000000", "sk": "ecsTempSecretKey00000000000000000000",
            "security_token": "ecs-security-token-0000", "expires_in": 3600},
}
DEFAULT_PROJECT = "0123456789abcdef0123456789abcdef"


def parse_args(argv):
    p = argparse.ArgumentParser(description="Huawei Cloud CSMS emulator for tests")
    p.add_argument("--seed", help="seed JSON: project, credentials, secrets, or accounts "
                   "(emu_org.py describes both forms)")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--rate-limit", type=float, default=0,
                   help="requests/second per AK or token (0 = off)")
    p.add_argument("--generate", type=int, metavar="N",
                   help="replace the seed's secrets with N generated ones")
    p.add_argument("--generate-accounts", type=int, metavar="M",
                   help="instead of a seed: an organisation of M member accounts and its "
                   "management account, a project in each of --regions, each holding the "
                   "--generate N secrets (emu_org.generated_seed)")
    p.add_argument("--regions", default="cn-north-4",
                   help="comma-separated regions of --generate-accounts")
    p.add_argument("--tags-per-secret", type=int, default=8)
    p.add_argument("--stray-fraction", type=float, default=0.02)
    p.add_argument("--token-ttl", type=float, default=86400)
    p.add_argument("--lockout-seconds", type=float, default=300)
    p.add_argument("--clock-offset", type=float, default=0)
    p.add_argument("--log-file")
    p.add_argument("--random-seed", type=int, default=0)
    a = p.parse_args(argv)
    if not a.seed and a.generate is None and a.generate_accounts is None:
        p.error("--seed, --generate or --generate-accounts is required")
    if a.seed and a.generate_accounts is not None:
        p.error("--generate-accounts replaces --seed")
    if a.generate_accounts is not None and a.generate_accounts < 0:
        p.error("--generate-accounts must not be negative")
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if a.latency_ms < 0 or a.rate_limit < 0 or a.token_ttl < 0 or a.lockout_seconds < 0:
        p.error("latency, rate limit, token TTL and lockout must not be negative")
    if a.generate is not None and a.generate < 0:
        p.error("--generate must not be negative")
    return a


def load_seed(args, rng, clock):
    """The emu_org.Org from --seed/--generate (--generate replaces the
    default project's secrets)."""
    seed = {}
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            seed = json.load(f)
    secrets = None
    if args.generate_accounts is not None:
        regions = [r for r in args.regions.split(",") if r]
        seed = emu_org.generated_seed(args.generate_accounts, regions, lambda: generate(
            args.generate or 0, args.tags_per_secret, args.stray_fraction, rng))
    elif args.generate is not None:
        secrets = generate(args.generate, args.tags_per_secret, args.stray_fraction, rng)
    return emu_org.load(seed, clock, secrets, DEFAULT_PROJECT,
                        EXAMPLE_CREDENTIALS)


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    return ctx


def write_port_file(path, port):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv):
    args = parse_args(argv)
    # Handlers first: a SIGTERM while a large project is being generated
    # must end the process as cleanly as one that arrives later.
    stopping = threading.Event()
    servers = []

    def stop(signum, frame):
        stopping.set()
        for s in servers:
            # shutdown() waits for serve_forever() to return: not from its own thread.
            threading.Thread(target=s.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rng = random.Random(args.random_seed)
    settings = Settings(args.latency_ms, args.rate_limit, args.token_ttl, args.clock_offset,
                        args.lockout_seconds)
    try:
        org = load_seed(args, rng, settings.now)
        ctx = tls_context(args) if args.tls_cert else None
    except (OSError, ValueError, KeyError, ssl.SSLError) as e:
        print("csms-emulator: %s" % e, file=sys.stderr)
        return 2
    log = open(args.log_file, "a", buffering=1, encoding="utf-8") if args.log_file else None
    app = App(org, Auth(org, settings), Faults(ALL_APIS, args.random_seed), settings, log)
    try:
        server = make_server((args.listen, args.port), app, ctx)
    except OSError as e:
        print("csms-emulator: cannot listen on %s:%d: %s" % (args.listen, args.port, e),
              file=sys.stderr)
        return 2
    servers.append(server)
    try:
        if args.port_file and not stopping.is_set():
            write_port_file(args.port_file, server.server_address[1])
        if not stopping.is_set():
            server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.close_log()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
