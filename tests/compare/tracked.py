"""Writing runs to compare through the public API, as a client would: tracked runs with params,
tags, metric histories and artifacts."""
from __future__ import annotations


def track(client, name: str, *, params: dict, tags: dict | None = None, metrics: dict[str, list[float]] | None = None,
          artifacts: dict[str, bytes] | None = None, experiment: str = "sweep", status: str = "succeeded") -> int:
    """A tracked run: ``metrics`` maps a key to its values at steps 0, 1, 2, ..."""
    run_id = client.post("/api/v1/experiments/runs", {"experiment": experiment, "name": name, "tags": tags or {}},
                         format="json").json()["id"]
    compact = {key: {"step": list(range(len(values))), "value": values} for key, values in (metrics or {}).items()}
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", {"metrics": compact, "params": params}, format="json")
    assert response.status_code == 200, response.content
    for path, data in (artifacts or {}).items():
        put = client.put(f"/api/v1/runs/{run_id}/artifacts/content/{path}", data=data,
                         content_type="application/octet-stream")
        assert put.status_code in (200, 201), put.content
    assert client.post(f"/api/v1/runs/{run_id}/end", {"status": status}, format="json").status_code == 200
    return run_id
