"""flowdeck.step_client: what a step process logs through (the standard library's http.client,
so that the fork server holds no httpx). Against the live server, and against a small real
HTTP server that answers 503 first, to see its retries and its kept-alive connection."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flowdeck.client import Client
from flowdeck.errors import APIError
from flowdeck.step_client import StepClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_stores_a_batch_that_reads_back_and_a_replay_stores_nothing(server):
    full = Client(server.url, server.token)
    run_id = full.tracked_run_create(experiment="step-client", name="a")["id"]
    client = StepClient(server.url, server.token)
    try:
        metrics = {"loss": {"value": [0.5, 0.25, 0.125], "step": [0, 1, 2], "timestamp": [1, 2, 3]}}
        first = client.log_batch(run_id, metrics=metrics, params={"lr": "0.1"}, tags={"team": "cv"}, batch_id="b-1")
        again = client.log_batch(run_id, metrics=metrics, batch_id="b-1")
        assert first["stored"] is True and again["stored"] is False
        assert full.metric_columns(run_id, "loss") == {"step": [0, 1, 2], "value": [0.5, 0.25, 0.125],
                                                      "timestamp": [1, 2, 3]}
        run = full.request("GET", f"/api/v1/runs/{run_id}")
        assert run["logged_params"] == {"lr": "0.1"} and run["tags"]["team"] == "cv"
        # What it does not do itself (here: reading a run) goes through a full Client.
        assert client.request("GET", f"/api/v1/runs/{run_id}")["id"] == run_id
    finally:
        client.close()
        full.close()


def test_refusals_come_in_the_apis_one_error_shape(server):
    full = Client(server.url, server.token)
    run_id = full.tracked_run_create(experiment="step-client", name="b")["id"]
    full.close()
    with pytest.raises(APIError) as caught:
        StepClient(server.url, "fdk_not-a-token").log_batch(run_id, metrics={"x": {"value": [1.0], "step": [0]}})
    assert caught.value.status == 401
    with pytest.raises(APIError) as caught:
        StepClient(server.url, server.token).log_batch(10 ** 9, metrics={"x": {"value": [1.0], "step": [0]}})
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(APIError) as caught:
        StepClient(server.url, server.token).log_batch(run_id, params={"k" * 1000: "v"})
    assert caught.value.status == 400 and caught.value.field


class _Flaky(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: 503 for the first ``fail`` requests, then the batch's answer."""

    protocol_version = "HTTP/1.1"
    seen: list = []
    fail = 2

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.client_address[1], self.path, self.headers["Authorization"], body))
        status, answer = (503, {"error": {"code": "unavailable", "message": "restarting"}}) \
            if len(type(self).seen) <= type(self).fail else (200, {"stored": True})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    _Flaky.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_batch_is_sent_again_through_503s_on_one_kept_alive_connection(flaky):
    client = StepClient(f"http://127.0.0.1:{flaky.server_port}/prefix/", "fds_1.1.sig")
    assert client.log_batch(7, metrics={"x": {"value": [1.0], "step": [0]}}, batch_id="b-7") == {"stored": True}
    assert len(_Flaky.seen) == 3
    ports, paths, auths, bodies = zip(*_Flaky.seen)
    assert len(set(ports)) == 1  # the same connection each time
    assert set(paths) == {"/prefix/api/v1/runs/7/log-batch"} and set(auths) == {"Bearer fds_1.1.sig"}
    assert len(set(bodies)) == 1 and json.loads(bodies[0])["batch_id"] == "b-7"
    client.close()


def test_without_a_batch_id_a_503_is_not_sent_again(flaky):
    client = StepClient(f"http://127.0.0.1:{flaky.server_port}", "t")
    with pytest.raises(APIError) as caught:
        client.log_batch(7, params={"a": "1"})
    assert (caught.value.status, caught.value.code, caught.value.message) == (503, "unavailable", "restarting")
    assert len(_Flaky.seen) == 1


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(APIError) as caught:
        StepClient(f"http://127.0.0.1:{port}", "t").log_batch(1, params={"a": "1"})
    assert caught.value.code == "unreachable" and f"127.0.0.1:{port}" in caught.value.message


@pytest.mark.parametrize("url", ["ftp://example.com", "127.0.0.1:8000", ""])
def test_a_url_that_is_not_http_is_refused(url):
    with pytest.raises(ValueError, match="http"):
        StepClient(url, "t")


# --- flowdeck.Client sends its log-batches the same way -------------------------------------------
def test_a_clients_batches_go_over_one_kept_alive_connection(flaky):
    _Flaky.fail = 0
    client = Client(f"http://127.0.0.1:{flaky.server_port}", "fdk_token")
    try:
        for i in range(3):
            assert client.log_batch(7, metrics={"x": {"value": [float(i)], "step": [i]}}, batch_id=f"b-{i}") == \
                {"stored": True}
    finally:
        client.close()
        _Flaky.fail = 2
    ports, paths, auths, bodies = zip(*_Flaky.seen)
    assert len(ports) == 3 and len(set(ports)) == 1
    assert set(paths) == {"/api/v1/runs/7/log-batch"} and set(auths) == {"Bearer fdk_token"}
    assert [json.loads(b)["metrics"]["x"]["value"] for b in bodies] == [[0.0], [1.0], [2.0]]


def test_a_clients_batches_go_through_a_proxy_set_for_the_server(flaky, monkeypatch):
    """With HTTP_PROXY naming a proxy (here the small server plays it), the batch goes there,
    through httpx, as every other request of the Client does; NO_PROXY for the host keeps the
    kept-alive connection."""
    _Flaky.fail = 0
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{flaky.server_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = Client("http://flowdeck.invalid:8000", "fdk_token")
    try:
        assert client.log_batch(7, metrics={"x": {"value": [1.0], "step": [0]}}, batch_id="b-p") == {"stored": True}
    finally:
        client.close()
        _Flaky.fail = 2
    [(_, path, auth, _)] = _Flaky.seen
    assert path == "http://flowdeck.invalid:8000/api/v1/runs/7/log-batch" and auth == "Bearer fdk_token"

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Client(f"http://127.0.0.1:{flaky.server_port}", "fdk_token") as direct:
        assert direct._batches is not None

