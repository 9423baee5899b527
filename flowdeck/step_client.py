"""How a step process talks to the server: its log-batches over one kept-alive connection
of the standard library's ``http.client``. ``flowdeck.Client`` sends its log-batches
through one too (``send_log_batch``): httpx spends about a millisecond of CPU per request,
as much as the server's Python for a 1,000-point batch.

The fork server that starts steps holds everything its children import, and every page of
it is copied into a child's page tables at fork and torn down at exit: httpx (with what it
imports) would add about 10 MB to it and about 1.5 ms of CPU to every step, the no-op step
included. A step logs through this client instead, with the same retry rule, error shape
and JSON as ``flowdeck.client.Client`` (``flowdeck.wire``). What a step sends more rarely
(an artifact's upload) goes through a ``Client``, made on first use.
"""
from __future__ import annotations

import http.client
import os
import ssl
from typing import Any
from urllib.parse import urlsplit

from .wire import decode, log_batch_request, with_retries

_SSL_CONTEXT: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """The CA bundle httpx would use (certifi's, unless SSL_CERT_FILE or SSL_CERT_DIR name
    another), loaded once per process; the fork server loads it for every step it starts."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        cafile, capath = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
        if not (cafile or capath):
            try:
                import certifi

                cafile = certifi.where()
            except ImportError:  # pragma: no cover - httpx depends on it; else the system's store
                pass
        _SSL_CONTEXT = ssl.create_default_context(cafile=cafile, capath=capath)
    return _SSL_CONTEXT


def warm_up() -> None:
    ssl_context()


class StepClient:
    def __init__(self, url: str, token: str, *, timeout: float = 60.0, user_agent: str = "flowdeck-step") -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FLOWDECK_URL must be an http(s) URL, got {url!r}")
        self._https = parts.scheme == "https"
        self._host, self._port, self._prefix = parts.hostname, parts.port, parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None
        self._full = None  # a flowdeck.client.Client, for what this one does not do itself
        self._headers = {"User-Agent": user_agent, "Authorization": f"Bearer {token}",
                         "Content-Type": "application/json"}

    def log_batch(
        self, run_id: int, *, metrics=(), params=None, tags=None, batch_id: str | None = None, patience_s: float = 0.0
    ) -> dict:
        """As ``Client.log_batch``: retried when it has a batch id (the server stores a batch
        id once, so a replay of one it already stored is a no-op)."""
        return self.send_log_batch(run_id, log_batch_request(metrics, params, tags, batch_id), retry=bool(batch_id),
                                   patience_s=patience_s)

    def send_log_batch(self, run_id: int, body: bytes, *, retry: bool, patience_s: float = 0.0) -> dict:
        """POST a log-batch's JSON body (``wire.log_batch_request``) and return the answer's
        JSON, with ``Client``'s retry rule (``wire.with_retries``) and error shape."""
        status, content_type, content, reason = with_retries(
            lambda: self._post(f"/api/v1/runs/{int(run_id)}/log-batch", body), lambda r: r[0],
            retry=retry, patience_s=patience_s, unreachable=(OSError, http.client.HTTPException), url=self.url)
        return decode(status, content_type, content, reason)

    def __getattr__(self, name: str) -> Any:  # the rest of the API (an artifact's upload...), as a Client has it
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client(), name)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._full is not None:
            self._full.close()
            self._full = None

    def _client(self):
        if self._full is None:
            from .client import Client

            self._full = Client(self.url, self.token, timeout=self.timeout)
        return self._full

    def _post(self, path: str, body: bytes) -> tuple[int, str, bytes, str]:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                                         context=ssl_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            self._conn.request("POST", self._prefix + path, body=body, headers=self._headers)
            response = self._conn.getresponse()
            content = response.read()
        except BaseException:
            self._conn.close()  # a half-sent request or half-read answer: start afresh
            self._conn = None
            raise
        if response.will_close:  # the server keeps no connection open (gunicorn's sync workers)
            self._conn.close()
            self._conn = None
        return response.status, response.getheader("Content-Type", ""), content, response.reason
