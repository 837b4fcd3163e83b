#!/usr/bin/env python3
"""notify-listener.py - a stand-in for systemd's notification socket.

Usage: notify-listener.py SOCKET LOG

Binds an AF_UNIX datagram socket at SOCKET (the path a test puts in
$NOTIFY_SOCKET) with SO_PASSCRED, so that the kernel tells us which process
sent each datagram, and appends one line per assignment to LOG:

    SECONDS PID KEY=VALUE

SECONDS is CLOCK_MONOTONIC; PID is the sender's pid as the kernel reports it,
so a test can check that notifications come from the main process (systemd
refuses others under NotifyAccess=main).  A datagram "READY=1\\nSTATUS=x"
gives two lines with the same time and pid.  Lines are flushed at once.
Runs until SIGTERM or SIGINT; removes SOCKET on the way out.
"""
import os
import signal
import socket
import struct
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: notify-listener.py SOCKET LOG")
    path, log_path = sys.argv[1:]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    # Bind under a temporary name and rename, so that the path appearing
    # means the socket is ready.
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    sock.bind(tmp)
    os.rename(tmp, path)
    ucred = struct.calcsize("3i")
    try:
        with open(log_path, "a", encoding="utf-8", errors="backslashreplace") as log:
            while True:
                data, ancdata, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(ucred))
                now = time.monotonic()
                pid = 0
                for level, kind, payload in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        pid = struct.unpack("3i", payload[:ucred])[0]
                text = data.decode("utf-8", errors="backslashreplace")
                for line in text.split("\n"):
                    if line:
                        log.write("%.6f %d %s\n" % (now, pid, line))
                log.flush()
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
