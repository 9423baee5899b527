"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies what it gets
the way the README tells receivers to."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_SKEW_S = 300


def verify(secret: str, headers, body: bytes, *, now: float | None = None) -> dict:
    """What a receiver does (the README's snippet): check the timestamp, then the HMAC."""
    timestamp = headers["X-Flowdeck-Timestamp"]
    if abs((now or time.time()) - int(timestamp)) > MAX_SKEW_S:
        raise ValueError("stale timestamp")
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers["X-Flowdeck-Signature"]):
        raise ValueError("bad signature")
    return json.loads(body)


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    verified: dict | None
    problem: str = ""


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and verifies its signature.

    ``statuses`` are answered in turn (the last one repeats)."""

    statuses: list[int]
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} of {count} requests arrived"
            time.sleep(0.05)
        return self.received


def receiver_start(statuses: list[int] | None = None) -> Receiver:
    """A running receiver answering ``statuses`` in turn; ``stop()`` it when done."""
    receiver = Receiver(statuses=list(statuses or [200]))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            try:
                verified, problem = verify(receiver.secret, headers, body), ""
            except (KeyError, ValueError) as exc:
                verified, problem = None, str(exc)
            receiver.received.append(Received(time.monotonic(), headers, body, verified, problem))
            status = receiver.statuses[min(len(receiver.received), len(receiver.statuses)) - 1]
            if problem:
                status = 401
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"try again")

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.server = server
    return receiver
