"""HttpSink's batching against a live server behind a flaky proxy: retries without duplicates,
waiting out an outage, a bounded buffer, and errors that are reported rather than lost."""
from __future__ import annotations

import http.client
import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest

from flowdeck import Client, client as client_module, tracking
from flowdeck.errors import APIError
from flowdeck.tracking import HttpSink, TrackingError
from runs.models import IngestBatch, Metric, MetricSummary, RunParam
from runs.services.tracked import run_create_tracked
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the live server.

    - ``drop_after_forward={"metrics": N, "params": M}``: the first N POSTs to .../log-batch
      that carry metrics (M that carry params) reach the server, which stores them, and then
      the connection is dropped before the answer is sent back. The client sees a transport
      error for a batch that *was* stored: the case that makes naive retries store duplicates.
    - ``fail_503=N``: the first N POSTs to .../log-batch get a 503 without reaching the server.
    - ``down = True``: every request gets a 503 (the server is away) until set back to False.
    """

    def __init__(self, upstream: str, *, drop_after_forward: dict[str, int] | None = None, fail_503: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.drop_after_forward = dict(drop_after_forward or {})
        self.fail_503 = fail_503
        self.down = False
        self.log_batch_posts = 0
        self.dropped = 0
        self.refused = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple and unambiguous

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._relay()

            def do_POST(self) -> None:
                self._relay()

            def do_PUT(self) -> None:
                self._relay()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_batch = self.command == "POST" and self.path.endswith("/log-batch")
                with proxy._lock:
                    if is_batch:
                        proxy.log_batch_posts += 1
                    refuse = proxy.down or (is_batch and proxy.fail_503 > 0)
                    if is_batch and not proxy.down and proxy.fail_503 > 0:
                        proxy.fail_503 -= 1
                    carries = [k for k, v in (json.loads(body) if is_batch else {}).items() if v and k != "batch_id"]
                    drop = not refuse and any(proxy.drop_after_forward.get(k, 0) > 0 for k in carries)
                    if drop:
                        for k in carries:
                            proxy.drop_after_forward[k] = max(proxy.drop_after_forward.get(k, 0) - 1, 0)
                if refuse:
                    with proxy._lock:
                        proxy.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                if drop:
                    # The server has stored the batch; the client never hears so.
                    with proxy._lock:
                        proxy.dropped += 1
                    self.close_connection = True
                    return
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="flaky-proxy", daemon=True)

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(client_module, "MAX_BACKOFF_S", 0.2)


@pytest.fixture
def run(server):
    return run_create_tracked(user=server.user, experiment="batching")


def stored(run_id: int) -> tuple[int, dict]:
    summaries = {s.key: s.count for s in MetricSummary.objects.filter(run_id=run_id)}
    return Metric.objects.filter(run_id=run_id).count(), summaries


def test_a_batch_stored_but_unanswered_is_retried_without_duplicates(server, run, fast_backoff, monkeypatch):
    monkeypatch.setattr(tracking, "MAX_BATCH_POINTS", 1000)  # five metric batches, whatever the timing
    n = 4 * 1000 + 17
    with FlakyProxy(server.url, drop_after_forward={"metrics": 3, "params": 1}) as proxy:
        client = Client(proxy.url, server.token)
        sink = HttpSink(client, run.pk)
        sink.params({"lr": "0.1"})  # dropped after being stored, retried: stored once
        for i in range(n):
            sink.metrics([{"key": "loss", "value": float(i), "step": i, "timestamp": 1}])
        sink.close()
        client.close()

    assert proxy.dropped == 4
    assert proxy.log_batch_posts == 1 + 5 + 4  # the params batch, five metric batches, four replays
    count, summaries = stored(run.pk)
    assert count == n  # every point exactly once
    assert summaries == {"loss": n}
    assert set(Metric.objects.filter(run=run).values_list("step", flat=True)) == set(range(n))
    assert list(RunParam.objects.filter(run=run).values_list("key", "value")) == [("lr", "0.1")]
    # Every stored batch id is distinct, and none was stored twice.
    assert IngestBatch.objects.filter(run=run).count() == 1 + 5


def test_transient_503s_are_retried(server, run, fast_backoff):
    with FlakyProxy(server.url, fail_503=4) as proxy:
        client = Client(proxy.url, server.token)
        sink = HttpSink(client, run.pk)
        for i in range(1000):
            sink.metrics([{"key": "acc", "value": 0.5, "step": i, "timestamp": 1}])
        sink.close()
        client.close()
    assert proxy.refused == 4
    assert stored(run.pk) == (1000, {"acc": 1000})


def test_it_waits_out_an_outage_with_a_bounded_buffer(server, run, fast_backoff):
    """While the server is away the sender keeps retrying the same batch, and the logging
    thread blocks once the buffer is full instead of growing it without bound."""
    limit = tracking.BATCH_POINTS
    total = 4 * limit
    with FlakyProxy(server.url) as proxy:
        proxy.down = True
        client = Client(proxy.url, server.token)
        sink = HttpSink(client, run.pk, max_buffer=limit)
        logged = 0
        high_water = 0

        def log_everything() -> None:
            nonlocal logged, high_water
            for i in range(total):
                sink.metrics([{"key": "loss", "value": 1.0, "step": i, "timestamp": 1}])
                logged += 1
                high_water = max(high_water, len(sink._buffer))

        logger = threading.Thread(target=log_everything)
        logger.start()
        time.sleep(1.5)
        assert logger.is_alive(), "the logging thread should be blocked while the server is down"
        assert logged < total
        assert high_water <= limit + 1
        assert proxy.refused >= 2  # the sender kept trying
        assert Metric.objects.filter(run=run).count() == 0

        proxy.down = False  # the server is back
        logger.join(timeout=60)
        assert not logger.is_alive()
        sink.close()
        client.close()
    assert stored(run.pk) == (total, {"loss": total})


def test_a_refused_batch_is_reported_on_the_next_call_and_at_close(server, fast_backoff):
    bob = make_user("bob")
    bobs_run = run_create_tracked(user=bob, experiment="private")
    client = Client(server.url, server.token)  # alice may not log to bob's run
    sink = HttpSink(client, bobs_run.pk)
    sink.metrics([{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}])
    with pytest.raises(TrackingError, match="1 metric points were not stored"):
        sink.close()
    client.close()
    assert Metric.objects.filter(run=bobs_run).count() == 0

    client = Client(server.url, server.token)
    sink = HttpSink(client, bobs_run.pk)
    sink.metrics([{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}])
    sink._wake.set()
    deadline = time.monotonic() + 10
    with pytest.raises(TrackingError):
        while time.monotonic() < deadline:  # the background sender's failure surfaces here
            sink.metrics([{"key": "loss", "value": 1.0, "step": 1, "timestamp": 1}])
            time.sleep(0.05)
    sink.close()  # the error was reported once; nothing else is pending
    client.close()


def test_an_unreachable_server_gives_up_after_the_patience(server, run, monkeypatch, fast_backoff):
    monkeypatch.setattr(tracking, "RETRY_PATIENCE_S", 0.5)
    client = Client("http://127.0.0.1:9", server.token)  # nothing listens on the discard port
    sink = HttpSink(client, run.pk)
    sink.metrics([{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}])
    started = time.monotonic()
    with pytest.raises(TrackingError, match="Cannot reach"):
        sink.close()
    assert time.monotonic() - started < 30
    client.close()


@pytest.mark.parametrize("key", ["loss", "k" * 250, "ü" * 250])
def test_a_batch_stays_under_the_servers_body_limit(key):
    """Long (or non-ASCII) keys make smaller batches: Django refuses bodies over 2.5 MB."""
    import json as jsonlib

    from django.conf import global_settings

    class Offline:
        def log_batch(self, *args, **kwargs):
            raise AssertionError("not sent in this test")

    sink = HttpSink(Offline(), 1)
    sink.close()  # no sender thread: only how a batch is cut is under test
    point = {"key": key, "value": -1.2345678901234567e-300, "step": -(2**63), "timestamp": 2**63 - 1}
    sink._buffer.extend([dict(point) for _ in range(tracking.MAX_BATCH_POINTS + 10)])
    batch = sink._take_batch()
    body = jsonlib.dumps({"metrics": batch, "params": {}, "tags": {}, "batch_id": "f" * 32}).encode()
    assert 0 < len(batch) <= tracking.MAX_BATCH_POINTS
    assert len(body) < global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_a_batch_the_server_finds_too_large_is_split(server, run, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000  # about 600 points
    client = Client(server.url, server.token)
    sink = HttpSink(client, run.pk)
    for i in range(3000):
        sink.metrics([{"key": "loss", "value": 0.5, "step": i, "timestamp": 1}])
    sink.close()
    client.close()
    assert stored(run.pk) == (3000, {"loss": 3000})


@pytest.mark.parametrize("metrics, params", [
    ({"loss": {"value": [0.5, float("nan")], "step": [0, 1]}}, {}),
    ([{"key": "loss", "value": float("inf"), "step": 0}], {}),
    ({"loss": {"value": [0.5], "step": [0]}}, {"lr": float("nan")}),
])
def test_a_batch_holding_nan_or_infinity_is_refused_by_name_and_stores_nothing(server, run, metrics, params):
    """The client encodes batches with orjson, which would write NaN as null; such a batch
    goes through the standard library instead, so the server refuses it by name."""
    client = Client(server.url, server.token)
    with pytest.raises(APIError) as caught:
        client.log_batch(run.pk, metrics=metrics, params=params, batch_id="nan")
    assert caught.value.status == 400 and ("NaN" in str(caught.value) or "Infinity" in str(caught.value))
    assert stored(run.pk) == (0, {}) and not RunParam.objects.filter(run_id=run.pk).exists()
    client.close()
