"""emu_http.py - the emulator's HTTP/1.1 transport: persistent connections,
one thread per connection, TLS handshakes in that thread (never on the
accept loop), TCP_NODELAY, and a small request parser of its own (the
standard library's goes through the email package, which costs more than
everything else a request does).

Every answer carries Date, Server and X-Request-Id.  Malformed requests get
the gateway's flat error shape (APIGW.0201) and the connection is closed.
Fault support: an answer can be cut after half its body, either closed
normally ("truncate": the client sees fewer bytes than Content-Length) or
aborted with a TCP RST ("reset").
"""
import email.utils
import http
import itertools
import os
import socket
import socketserver
import ssl
import struct
import sys

from emu_common import gateway_error

MAX_BODY = 12 * 1024 * 1024     # the gateway's request size limit
MAX_LINE = 65536
MAX_HEADERS = 100
IDLE_SECONDS = 120              # keep-alive connections idle longer are closed
HANDSHAKE_SECONDS = 10
SERVER = "api-gateway"

_id_prefix = os.urandom(8).hex()
_id_counter = itertools.count(1)
_date_cache = (None, "")


def next_request_id():
    """32 hex digits like the gateway's, unique per process: a random prefix
    and a counter (os.urandom per request costs more than it is worth)."""
    return "%s%016x" % (_id_prefix, next(_id_counter))


def http_date(t):
    """The Date header value, formatted once per second."""
    global _date_cache
    sec = int(t)
    if _date_cache[0] != sec:
        _date_cache = (sec, email.utils.formatdate(sec, usegmt=True))
    return _date_cache[1]


def phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


class Headers:
    """Request headers: case-insensitive, repeated names kept in order.
    Values are ISO-8859-1 text with surrounding white space removed."""

    __slots__ = ("_fields",)

    def __init__(self):
        self._fields = {}

    def add(self, name, value):
        self._fields.setdefault(name.lower(), []).append(value)

    def get(self, name, default=None):
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def get_all(self, name, default=None):
        return self._fields.get(name.lower(), default)


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Message:
    """A parsed request."""

    __slots__ = ("method", "target", "version", "headers", "body", "request_id")

    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = b""
        self.request_id = next_request_id()


class Connection(socketserver.StreamRequestHandler):
    """Serves requests on one connection until it closes; server.dispatch
    (conn, message) answers each through conn.send()."""

    timeout = IDLE_SECONDS

    def setup(self):
        super().setup()
        self.close_connection = False

    def handle(self):
        try:
            while not self.close_connection:
                try:
                    msg = self.read_request()
                except HttpError as e:
                    rid = next_request_id()
                    self.close_connection = True
                    resp = gateway_error(rid, e.status, "APIGW.0201", str(e))
                    self.send(rid, resp.status, resp.headers, resp.body, self.server.clock())
                    return
                if msg is None:
                    return
                self.server.dispatch(self, msg)
        except OSError:     # the client went away, or the connection idled out
            self.close_connection = True

    # -- reading -----------------------------------------------------------
    def _line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HttpError(431, "Request line or header too long")
        return line

    def read_request(self):
        """The next request with its body, or None at end of stream."""
        line = self._line()
        while line in (b"\r\n", b"\n"):     # tolerated before a request (RFC 9112 2.2)
            line = self._line()
        if not line:
            return None
        words = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(words) != 3 or not words[0] or not words[1]:
            raise HttpError(400, "Bad request line")
        method, target, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise HttpError(505, "HTTP version not supported")
        msg = Message(method, target, version, self._headers())
        connection = (msg.headers.get("Connection") or "").lower()
        self.close_connection = "close" in connection or (
            version == "HTTP/1.0" and "keep-alive" not in connection)
        if (msg.headers.get("Expect") or "").lower() == "100-continue" and version == "HTTP/1.1":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        msg.body = self._body(msg.headers)
        return msg

    def _headers(self):
        headers = Headers()
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise ConnectionError("connection closed in the headers")
            text = line.decode("latin-1").rstrip("\r\n")
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip() or text[0] in " \t":
                raise HttpError(400, "Bad header line")
            headers.add(name, value.strip(" \t"))
        raise HttpError(431, "Too many headers")

    def _body(self, headers):
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            return self._chunked()
        length = headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isascii() or not length.isdigit():
            raise HttpError(400, "Invalid Content-Length")
        if int(length) > MAX_BODY:
            raise HttpError(413, "Request entity too large")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionError("body cut short")
        return body

    def _chunked(self):
        parts, size = [], 0
        while True:
            line = self._line().split(b";")[0].strip()
            try:
                n = int(line, 16)
            except ValueError:
                n = -1
            if n < 0:
                raise HttpError(400, "Invalid chunk size")
            if n == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass        # trailer fields are ignored
                return b"".join(parts)
            size += n
            if size > MAX_BODY:
                raise HttpError(413, "Request entity too large")
            parts.append(self.rfile.read(n))
            self._line()

    # -- writing -----------------------------------------------------------
    def send(self, request_id, status, headers, body, now, head_only=False, broken=None):
        """Write one answer.  BROKEN: None, "truncate" or "reset" (see the
        module comment); both end the connection."""
        lines = ["HTTP/1.1 %d %s" % (status, phrase(status)), "Date: " + http_date(now),
                 "Server: " + SERVER, "X-Request-Id: " + request_id]
        lines.extend("%s: %s" % h for h in headers)
        if status != 204 and status >= 200:
            lines.append("Content-Length: %d" % len(body))
        if broken:
            self.close_connection = True
        if self.close_connection:
            lines.append("Connection: close")
        if head_only or status == 204:
            body = b""
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if broken:
            self.wfile.write(data + body[:len(body) // 2])
            if broken == "reset":
                self._reset()
            return
        self.wfile.write(data + body)

    def _reset(self):
        """Abort with a TCP RST: SO_LINGER 0, then close the descriptor at
        once (the socket object is detached, so nothing sends a FIN first)."""
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.close(sock.detach())
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    """DISPATCH(conn, message) answers requests; CLOCK() gives the time for
    the Date header."""

    daemon_threads = True
    allow_reuse_address = True
    # Room for a fleet of clients connecting at once (bench_org: 500 processes);
    # the kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, address, dispatch, clock, tls_context=None):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.dispatch = dispatch
        self.clock = clock
        self.tls = tls_context
        super().__init__(address, Connection)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_SECONDS)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return      # a client that does not trust us, or went away
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return      # clients that go away are normal, not errors
        super().handle_error(request, client_address)
