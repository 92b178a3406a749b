"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a local S3 server, for failure tests.

For a configured share of requests, drawn from a seeded RNG, it answers as a struggling S3 does: 503
SlowDown or 500 InternalError with S3's XML error body, or it holds the request past the client's read
timeout and only then forwards it (so the request does happen, late, racing the client's retry), or it
forwards it and resets the connection halfway through the answer's body (the headers announce the whole
length; the client sees a connection reset mid-read, as after a network fault or a dropped load balancer
connection). Every other request is forwarded unchanged. Faults can also be queued for requests whose path
contains a string.

Bounded by construction: it listens on loopback only, forwards to a loopback upstream only, and stops when
its `with` block ends or `lifetime` seconds after it started, whichever comes first.

    python scripts/faultproxy.py --upstream http://127.0.0.1:5000 --share 0.3 --seed 1 --lifetime 600
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

SLOW_DOWN = "slow-down"
INTERNAL_ERROR = "internal-error"
TIMEOUT = "timeout"
RESET_MID_BODY = "reset-mid-body"
KINDS = (SLOW_DOWN, INTERNAL_ERROR, TIMEOUT, RESET_MID_BODY)

ERRORS = {
    SLOW_DOWN: (503, "SlowDown", "Please reduce your request rate."),
    INTERNAL_ERROR: (500, "InternalError", "We encountered an internal error. Please try again."),
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "expect", "content-length"}


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error_body(code: str, message: str) -> bytes:
    """The XML body S3 sends with an error status; botocore reads the error code from it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16]}</RequestId></Error>"
    ).encode()


class FaultPlan:
    """Decides, request by request and in arrival order, whether to inject a fault, and counts what it did."""

    def __init__(self, share: float, seed: int, kinds: tuple[str, ...] = KINDS) -> None:
        self.share = share
        self.kinds = kinds
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._queued: list[list] = []  # [path substring, kind, times left]
        self._lock = threading.Lock()

    def fail_next(self, times: int, kind: str = INTERNAL_ERROR, path_contains: str = "") -> None:
        """Inject `kind` into the next `times` requests whose path contains `path_contains`."""
        with self._lock:
            self._queued.append([path_contains, kind, times])

    def draw(self, path: str) -> str | None:
        with self._lock:
            kind = self._queued_fault(path)
            if kind is None and self._rng.random() < self.share:
                kind = self._rng.choice(self.kinds)
            self.counts[kind or "forwarded"] += 1
            return kind

    def _queued_fault(self, path: str) -> str | None:
        for entry in self._queued:
            if entry[0] in path and entry[2] > 0:
                entry[2] -= 1
                return entry[1]
        return None


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0], 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and Expect: 100-continue, as botocore's PutObject uses
    server: _Server

    def _handle(self) -> None:
        body = _read_body(self)
        kind = self.server.plan.draw(self.path)
        if kind in ERRORS:
            self._answer_error(*ERRORS[kind])
            return
        if kind == TIMEOUT:
            self.close_connection = True
            time.sleep(self.server.delay)
        try:
            self._forward(body, reset=kind == RESET_MID_BODY)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up on a delayed request: the retry is its answer

    def _answer_error(self, status: int, code: str, message: str) -> None:
        payload = b"" if self.command == "HEAD" else error_body(code, message)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes, reset: bool = False) -> None:
        """Send the request upstream and its answer back; with `reset`, only the first half of the answer's
        body, then reset the connection."""
        upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        # A HEAD answer announces the object's length without sending it.
        self.send_header("Content-Length", response.getheader("Content-Length", "0") if self.command == "HEAD"
                         else str(len(payload)))
        self.end_headers()
        if reset:
            self._reset(payload[: len(payload) // 2])
        elif self.command != "HEAD":
            self.wfile.write(payload)

    def _reset(self, part: bytes) -> None:
        """Send `part`, then close with SO_LINGER 0, so the kernel sends an RST instead of a FIN: the client
        reading the rest gets ECONNRESET, as when a connection is cut mid-transfer."""
        self.wfile.write(part)
        self.wfile.flush()
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:  # `format`: the base class's parameter name
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a request held for a timeout fault does not keep the process alive

    def __init__(self, upstream: str, plan: FaultPlan, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.plan = plan
        self.delay = delay


class FaultProxy:
    """`with FaultProxy(upstream, share=0.3, seed=1) as proxy:` serves at proxy.url until the block ends."""

    def __init__(self, upstream: str, share: float, seed: int, delay: float = 2.0, lifetime: float = 600,
                 kinds: tuple[str, ...] = KINDS) -> None:
        if not is_loopback(upstream):
            raise ValueError(f"upstream {upstream!r} is not on loopback: this proxy only fronts local servers")
        self.plan = FaultPlan(share, seed, kinds)
        self._server = _Server(upstream, self.plan, delay)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lifetime = threading.Timer(lifetime, self._server.shutdown)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._lifetime.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lifetime.cancel()
        self._server.shutdown()
        self._server.server_close()

    def wait(self) -> None:
        """Block until the proxy stops by itself, at the end of its lifetime."""
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="URL of the local S3 server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--share", type=float, default=0.3, help="share of requests that get a fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds a timeout fault holds a request")
    parser.add_argument("--lifetime", type=float, default=600, help="seconds until the proxy stops by itself")
    args = parser.parse_args()
    with FaultProxy(args.upstream, args.share, args.seed, args.delay, args.lifetime) as proxy:
        print(f"fault proxy at {proxy.url} -> {args.upstream} for {args.lifetime:.0f} s", flush=True)
        proxy.wait()
    print(dict(proxy.plan.counts))


if __name__ == "__main__":
    main()
