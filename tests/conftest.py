"""Test infrastructure shared by the whole suite.

Services come from the environment, as in production:
- ``DATABASE_URL`` set: that server, where pytest-django creates ``test_<name>_<pid>`` (the pid
  keeps concurrent sessions apart); else SQLite in a per-session temporary file.
- ``CELERY_BROKER_URL`` set: that broker; else the file-system broker in a per-session folder.
- ``FLOWDECK_S3_ENDPOINT_URL`` set: that S3-compatible store; else moto in server mode, over
  real HTTP on 127.0.0.1. Storage is S3 for the whole session; ``local_storage`` swaps in
  local files for one test.
- ``CI=true``: a missing or unreachable database or broker stops the session at once.

Fixtures (see each docstring): ``s3_store``, ``s3_settings``, ``s3_client``, ``local_storage``,
``celery_broker``, ``celery_worker``, ``celery_worker_factory``, ``api_client``, ``auth_client``, ``user``, ``other_user``.
Factories (users, tokens, bundles, publishing) are in ``tests/factories.py``.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so tests can `from tests.factories import ...`
    sys.path.insert(0, str(REPO_ROOT))

S3_BUCKET = "flowdeck-test"

from tests.worker_procs import CeleryWorker, WorkerFactory  # noqa: E402  (needs REPO_ROOT on sys.path)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


# --- session checks ---------------------------------------------------------------------------
def _check_services_for_ci(session: pytest.Session) -> None:
    """With CI=true, the real services must be configured and reachable: never a silent skip."""
    missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL") if not os.environ.get(name)]
    if missing:
        pytest.exit(f"CI=true but {', '.join(missing)} is not set; CI tests run against real services.", returncode=3)

    from django.db import connections

    try:
        from pytest_django.plugin import blocking_manager_key

        blocker = session.config.stash[blocking_manager_key]
    except ImportError:  # pytest-django before 4.9 kept one module-level blocker
        from pytest_django.plugin import _blocking_manager as blocker
    try:
        with blocker.unblock():
            conn = connections["default"]
            with conn._nodb_cursor() as cursor:
                cursor.execute("SELECT 1")
            conn.close()
    except Exception as exc:
        pytest.exit(f"CI=true but the database at DATABASE_URL is unreachable: {exc}", returncode=3)

    from kombu import Connection

    broker = os.environ["CELERY_BROKER_URL"]
    try:
        with Connection(broker, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.exit(f"CI=true but the Celery broker at CELERY_BROKER_URL is unreachable: {exc}", returncode=3)


def pytest_sessionstart(session: pytest.Session) -> None:
    if _in_ci():
        _check_services_for_ci(session)


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}" if "@" in rest.split("/", 1)[0] else url


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    return [
        f"flowdeck: database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"broker {_without_credentials(os.environ.get('CELERY_BROKER_URL') or 'filesystem://')}, "
        f"s3 {os.environ.get('FLOWDECK_S3_ENDPOINT_URL') or 'moto server'}, CI={_in_ci()}"
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Attach the Celery worker's log to the report of a failed test that used one."""
    report = yield
    worker = getattr(item, "_flowdeck_worker", None)
    if worker is not None and report.failed:
        report.sections.append((f"celery worker log ({report.when})", worker.log_tail()))
        for more in getattr(item, "_flowdeck_more_workers", []):
            report.sections.append((f"celery worker {more.name} log ({report.when})", more.log_tail()))
    return report


# --- database -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory) -> None:
    """A test database of this session's own, so two sessions on one machine never delete
    each other's: SQLite in a temporary file (settings put it in the shared data folder),
    PostgreSQL as ``test_<name>_<pid>``."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    test = db.setdefault("TEST", {})
    if db["ENGINE"] == "django.db.backends.sqlite3":
        test["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    elif not test.get("NAME"):
        # test_<name>_<pid>: pytest-django would otherwise drop and recreate test_<name>
        # under a concurrent session that is using it.
        test["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


def worker_database_url() -> str:
    """A DATABASE_URL for the test database, for processes started by a test (the worker).

    Call it once the test database exists: pytest-django has then switched
    ``settings.DATABASES['default']['NAME']`` to it.
    """
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"  # absolute: sqlite:////abs/path
    if engine in ("django.db.backends.postgresql", "core.postgresql"):
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = quote(str(db.get("HOST") or ""), safe="")  # a socket folder is percent-encoded
        port = f":{db['PORT']}" if db.get("PORT") else ""
        options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}{query}"
    raise RuntimeError(f"the worker fixture does not support the {engine} backend")


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    # PBKDF2 costs ~0.3 s per user; tests create hundreds. The hasher is not what they test.
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


# --- storage ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Info:
    endpoint_url: str
    bucket: str
    region: str
    access_key: str
    secret_key: str

    def storage_config(self) -> dict:
        # The same OPTIONS shape as config/settings.py::_storage_config.
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint_url,
                "region_name": self.region,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": True,
                "querystring_expire": 3600,
            },
        }


@pytest.fixture(scope="session", autouse=True)
def s3_store() -> Iterator[S3Info]:
    """Session-wide S3: moto's server on a free port (or FLOWDECK_S3_ENDPOINT_URL), with the
    ``flowdeck`` storage alias pointing at bucket ``flowdeck-test`` there."""
    from django.conf import settings
    from django.test import override_settings

    from core import storage

    server = None
    endpoint = os.environ.get("FLOWDECK_S3_ENDPOINT_URL")
    if not endpoint:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    info = S3Info(
        endpoint_url=endpoint,
        bucket=S3_BUCKET,
        region=os.environ.get("FLOWDECK_S3_REGION") or "us-east-1",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    override = override_settings(STORAGES={**settings.STORAGES, "flowdeck": info.storage_config()})
    override.enable()
    try:
        try:
            storage.ensure_bucket()
        except Exception as exc:
            message = f"The S3 store at {endpoint} is unreachable or refused bucket {S3_BUCKET}: {exc}"
            if _in_ci():
                pytest.exit(message, returncode=3)
            raise RuntimeError(message) from exc
        yield info
    finally:
        override.disable()
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def s3_settings(s3_store: S3Info) -> dict[str, str]:
    """The environment variables a separate process (a worker) needs to reach the test store."""
    return {
        "FLOWDECK_STORAGE": "s3",
        "FLOWDECK_S3_ENDPOINT_URL": s3_store.endpoint_url,
        "FLOWDECK_S3_BUCKET": s3_store.bucket,
        "FLOWDECK_S3_REGION": s3_store.region,
        "AWS_ACCESS_KEY_ID": s3_store.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_store.secret_key,
    }


@pytest.fixture(scope="session")
def s3_client(s3_store: S3Info):
    """A boto3 client on the test store, for tests that look behind ``core.storage``."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_store.endpoint_url,
        region_name=s3_store.region,
        aws_access_key_id=s3_store.access_key,
        aws_secret_access_key=s3_store.secret_key,
    )


@pytest.fixture(autouse=True)
def _fresh_version_graphs() -> Iterator[None]:
    """Forget the versions' graphs this process read (runs/services/graph.py): a graph is
    kept by version id, and ids repeat across tests on SQLite, whose flush and rolled-back
    transactions give the same ids again (in use, a published version never changes)."""
    from runs.services.graph import version_graph

    version_graph.cache_clear()
    yield


@pytest.fixture(autouse=True)
def _s3_runs_cleanup(s3_store: S3Info, s3_client) -> Iterator[None]:
    """Empty ``runs/`` after each test: run ids repeat across rolled-back tests, and a test
    must not see another one's artifacts. Bundles are content-addressed and may stay."""
    yield
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=s3_store.bucket, Prefix="runs/"):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=s3_store.bucket, Delete={"Objects": keys, "Quiet": True})


@pytest.fixture
def local_storage(tmp_path: Path) -> Iterator[Path]:
    """Local-file storage for one test; yields its root folder."""
    from django.conf import settings
    from django.test import override_settings

    root = tmp_path / "storage"
    root.mkdir()
    config = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(root), "allow_overwrite": True},
    }
    with override_settings(STORAGES={**settings.STORAGES, "flowdeck": config}):
        yield root


# --- Celery -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerInfo:
    url: str
    data_dir: Path  # FLOWDECK_DATA_DIR for a worker: its file-system broker lives under it

    @property
    def is_filesystem(self) -> bool:
        return self.url.startswith("filesystem://")


def _filesystem_transport_options(data_dir: Path) -> dict:
    """The settings' file-broker options, with every folder moved from the configured data
    folder to ``data_dir``: exactly what a worker started with FLOWDECK_DATA_DIR=data_dir has."""
    from django.conf import settings

    configured = Path(settings.DATA_DIR)
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {})
    for name, value in options.items():
        if isinstance(value, str) and Path(value).is_relative_to(configured):
            folder = data_dir / Path(value).relative_to(configured)
            folder.mkdir(parents=True, exist_ok=True)
            options[name] = str(folder)
    return options


@pytest.fixture(scope="session", autouse=True)
def celery_broker(tmp_path_factory) -> Iterator[BrokerInfo]:
    """Point this process's Celery app at the session's broker.

    CELERY_BROKER_URL if set; otherwise a file-system broker in a folder of this session,
    so no message is ever sent to (or left in) the embedded data folder.
    """
    from config.celery import app

    info = BrokerInfo(url=os.environ.get("CELERY_BROKER_URL") or "filesystem://", data_dir=tmp_path_factory.mktemp("flowdeck-data"))
    app.conf.broker_url = info.url
    if info.is_filesystem:
        app.conf.broker_transport_options = _filesystem_transport_options(info.data_dir)
    if app._pool is not None:  # drop connections made with the old settings
        app._pool.force_close_all()
        app._pool = None
    yield info


@pytest.fixture
def celery_worker_factory(
    request: pytest.FixtureRequest,
    transactional_db: None,
    live_server,
    s3_settings: dict[str, str],
    celery_broker: BrokerInfo,
    tmp_path_factory,
) -> Iterator[WorkerFactory]:
    """``start(queues=("flowdeck",), name_prefix="test", purge=True)`` starts a real worker
    like ``celery_worker``'s on the queues given (``["flowdeck.gpu"]`` serves gpu steps only);
    every worker it started is stopped at teardown, before the database is flushed."""
    env = {
        **os.environ,
        **s3_settings,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": celery_broker.url,
        "FLOWDECK_DATA_DIR": str(celery_broker.data_dir),
        "FLOWDECK_INTERNAL_URL": live_server.url,
        "PYTHONUNBUFFERED": "1",
    }
    factory = WorkerFactory(request, env, tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def celery_worker(celery_worker_factory: WorkerFactory) -> CeleryWorker:
    """A real ``celery worker`` process (prefork, 2 processes, queue ``flowdeck``).

    It uses the test database (so the test needs real commits: this fixture pulls in
    ``transactional_db``), the session's broker and S3 store, and ``live_server`` as the URL
    step subprocesses log to. Function-scoped: each test gets a fresh worker, stopped before
    the database is flushed. A failed test's report carries the worker's log.
    """
    return celery_worker_factory()


# --- the SDK ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_saved_flowdeck_login(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """The SDK in a test sees no server unless the test configures one: not the developer's
    `flowdeck login`, nor a FLOWDECK_URL in their shell (a local workflow run would mirror to it)."""
    monkeypatch.setenv("FLOWDECK_CONFIG", str(tmp_path_factory.getbasetemp() / "no-flowdeck-login.json"))
    for name in ("FLOWDECK_URL", "FLOWDECK_TOKEN", "FLOWDECK_MULTIPART_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)


# --- clients and users ------------------------------------------------------------------------
@pytest.fixture
def api_client():
    """An anonymous DRF APIClient."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_client(db) -> Callable[..., Any]:
    """``auth_client(user, scopes=None, token=None)``: an APIClient sending ``Bearer <token>``
    (a new personal token with ``scopes`` unless ``token`` is given)."""
    from rest_framework.test import APIClient

    from tests.factories import make_token

    def make(user, scopes: list[str] | None = None, token: str | None = None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or make_token(user, scopes)}")
        return client

    return make


@pytest.fixture
def user(db):
    """``alice``, with her personal namespace ``alice``."""
    from tests.factories import make_user

    return make_user("alice")


@pytest.fixture
def other_user(db):
    """``bob``, with his personal namespace ``bob``."""
    from tests.factories import make_user

    return make_user("bob")


# --- the browser ------------------------------------------------------------------------------
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian ``chromium`` (FLOWDECK_CHROMIUM, else ``chromium`` on PATH) driven by
    Playwright; Playwright's own browser download is not used. Missing: a skip, but an error
    with CI=true (``.ci/run`` installs it)."""
    import shutil

    executable = os.environ.get("FLOWDECK_CHROMIUM") or shutil.which("chromium")
    if not executable or not os.access(executable, os.X_OK):
        reason = "chromium not found (install Debian's chromium, or set FLOWDECK_CHROMIUM to its path)"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}; browser tests must run in CI.", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, so Django's ORM
    # would refuse every later call here (SynchronousOnlyOperation). Tests only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, tmp_path: Path) -> Iterator[Any]:
    """A fresh page in its own browser context (no shared cookies); a screenshot of where it
    ended is left in ``tmp_path / "page.png"``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        try:
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        except Exception:
            pass  # a crashed page must not hide the test's own failure
        context.close()
