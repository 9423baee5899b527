"""Test factories: users, tokens, bundles and published workflows, built through the services.

Plain functions so any test module can import them; ``tests/conftest.py`` also exposes the
common ones as fixtures.
"""
from __future__ import annotations

import copy
import gzip
import io
import tarfile
from typing import Any

from accounts.services import token_create, user_create

PASSWORD = "pw-Secret-123"

# A three-step workflow used by many tests: a -> b -> c.
# a makes x; b multiplies it by the parameter n; c prints the result.
WORKFLOW_SOURCE = '''\
def a():
    return {"x": 2}


def b(x, n):
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''

# The same workflow with step b failing.
FAILING_WORKFLOW_SOURCE = '''\
def a():
    return {"x": 2}


def b(x, n):
    raise ValueError("boom")


def c(y):
    print(f"y={y}")
'''

DEFAULT_SPEC: dict[str, Any] = {
    "schema_version": 1,
    "name": "demo",
    "description": "Three steps: a makes x, b multiplies it by n, c prints it.",
    "params": [
        {"name": "n", "type": "int", "default": 3, "min": 1, "max": 100, "description": "Multiplier."},
    ],
    "steps": [
        {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
        {
            "name": "b",
            "fn": "workflow:b",
            "depends_on": ["a"],
            "inputs": {"x": "a.x", "n": "params.n"},
            "outputs": ["y"],
        },
        {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
    ],
}

DEFAULT_FILES: dict[str, str] = {"workflow.py": WORKFLOW_SOURCE}


def make_spec(**changes: Any) -> dict[str, Any]:
    """A deep copy of the default spec with top-level keys replaced."""
    spec = copy.deepcopy(DEFAULT_SPEC)
    spec.update(copy.deepcopy(changes))
    return spec


def make_user(username: str, password: str = PASSWORD, email: str = ""):
    """A user with their personal namespace (named after them)."""
    return user_create(username=username, password=password, email=email, validate=False)


def browser_log_in(page, base_url: str, user) -> None:
    """Log ``user`` (made with the default password) in through the login form, in a
    Playwright page, and wait for the gallery, where a login lands."""
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base_url}/")


def make_token(user, scopes: list[str] | None = None, name: str = "test") -> str:
    """A personal API token for ``user``; returns the plaintext."""
    _token, plaintext = token_create(user=user, name=name, scopes=scopes)
    return plaintext


def make_bundle(files: dict[str, str | bytes] | None = None) -> bytes:
    """A deterministic tar.gz of ``files`` (path -> content): same files, same bytes."""
    files = DEFAULT_FILES if files is None else files
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            content = files[path]
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def make_raw_bundle(members: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar.gz with hand-made members, for bundles that must be refused (links, ``..``)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tuple):
                info, data = member
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(member)
    return out.getvalue()


def publish(
    user,
    spec: dict[str, Any] | None = None,
    files: dict[str, str | bytes] | None = None,
    version: str = "1.0.0",
    visibility: str = "public",
    namespace: str | None = None,
    **kwargs: Any,
):
    """Publish through ``registry.services.version_publish``; returns the AssetVersion."""
    from registry.services import version_publish

    return version_publish(
        user=user,
        spec=copy.deepcopy(spec) if spec is not None else make_spec(),
        bundle=make_bundle(files),
        version=version,
        namespace=namespace,
        visibility=visibility,
        **kwargs,
    )


def assert_error(response, status: int, code: str | None = None, field: Any = ...) -> dict:
    """Assert the API's error shape ``{"error": {"code", "message", "field"}}`` and status;
    check ``code`` and ``field`` when given. Returns the inner error object."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    if field is not ...:
        assert body["error"]["field"] == field, body
    return body["error"]
