"""Security basics: the deploy check under production settings, secure cookies, CSRF,
rate limits, Django's hashers, no secrets in logs, no tracebacks in responses."""
from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.factories import PASSWORD, assert_error

ROOT = Path(__file__).resolve().parents[2]
ALL = ["read", "write", "run", "admin"]


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FLOWDECK_"))}
    env.update(FLOWDECK_ENV="production", DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
               DJANGO_ALLOWED_HOSTS="flowdeck.example.com", DJANGO_SETTINGS_MODULE="config.settings")
    env.update(extra)
    return env


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_deploy_check_is_clean_under_production_settings():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=_production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_same_check_fails_on_the_embedded_defaults():
    env = _production_env()
    env.pop("FLOWDECK_ENV")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECURE_HSTS_SECONDS" in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_real_secret_key():
    env = _production_env()
    env.pop("DJANGO_SECRET_KEY")
    result = _python("import django; django.setup()", env)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_cookies_are_secure_and_passwords_use_djangos_pbkdf2():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "from django.contrib.auth.hashers import make_password;"
        "print(json.dumps({k: getattr(s, k) for k in ('SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
        " 'SESSION_COOKIE_HTTPONLY', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER',"
        " 'DEBUG')} | {'hash': make_password('x')}))"
    )
    result = _python(code, _production_env())
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"] and values["DEBUG"] is False
    assert values["hash"].startswith("pbkdf2_sha256$")


@pytest.mark.django_db
def test_behind_the_proxy_http_is_redirected_and_the_session_cookie_is_secure(user):
    with override_settings(SECURE_SSL_REDIRECT=True, SESSION_COOKIE_SECURE=True,
                           SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        client = Client()
        assert client.get("/login/").status_code == 301
        response = client.post("/login/", {"username": "alice", "password": PASSWORD},
                               HTTP_X_FORWARDED_PROTO="https")
        assert response.status_code == 302
        assert response.cookies["sessionid"]["secure"] and response.cookies["sessionid"]["httponly"]


@pytest.mark.django_db
@pytest.mark.parametrize("path, data", [
    ("/login/", {"username": "alice", "password": PASSWORD}),
    ("/signup/", {"username": "newbie", "password1": "a-Long-pass-123", "password2": "a-Long-pass-123"}),
    ("/teams/", {"slug": "acme"}),
    ("/me/tokens/", {"name": "t", "scopes": ["read"]}),
    ("/password/", {"old_password": PASSWORD, "new_password1": "x-New-pass-456", "new_password2": "x-New-pass-456"}),
])
def test_a_form_post_without_its_csrf_token_is_refused(user, path, data):
    client = Client(enforce_csrf_checks=True)
    if path != "/login/" and path != "/signup/":
        client.force_login(user)
    assert client.post(path, data).status_code == 403
    from accounts.models import ApiToken, Team

    assert not Team.objects.filter(slug__in=["acme", "newbie"]).exists() and not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_api_with_a_session_needs_the_csrf_token_too(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/teams", {"slug": "acme"}, content_type="application/json")
    assert_error(response, 403, "permission_denied")


@pytest.mark.django_db
def test_login_is_rate_limited_per_account_and_address(user, settings):
    settings.FLOWDECK_AUTH_FAILURES_MAX = 3
    client = Client()
    for _ in range(3):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    blocked = client.post("/login/", {"username": "alice", "password": PASSWORD})  # even the right one now
    assert blocked.status_code == 429 and "Too many attempts" in blocked.content.decode()
    assert int(blocked["Retry-After"]) > 0
    # Another address is not blocked for alice.
    assert Client(REMOTE_ADDR="192.0.2.9").post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_the_token_endpoint_answers_429_in_the_error_shape(api_client, user, settings):
    settings.FLOWDECK_AUTH_FAILURES_MAX = 2
    for _ in range(2):
        assert_error(api_client.post("/api/v1/auth/token", {"username": "alice", "password": "no"}, format="json"), 401)
    response = api_client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json")
    error = assert_error(response, 429, "rate_limited", None)
    assert "try again in" in error["message"] and int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_one_address_is_limited_across_accounts(api_client, user, settings):
    settings.FLOWDECK_AUTH_RATE_PER_IP = 3
    for name in ("a", "b", "c"):
        api_client.post("/api/v1/auth/token", {"username": name, "password": "x"}, format="json")
    assert_error(api_client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"),
                 429, "rate_limited")


@pytest.mark.django_db
def test_token_creation_is_rate_limited(user, auth_client, settings):
    settings.FLOWDECK_AUTH_RATE_PER_IP = 2
    client = auth_client(user, scopes=ALL)
    for n in range(2):
        assert client.post("/api/v1/tokens", {"name": f"t{n}"}, format="json").status_code == 201
    assert_error(client.post("/api/v1/tokens", {"name": "t3"}, format="json"), 429, "rate_limited")


@pytest.mark.django_db
def test_token_plaintexts_never_reach_the_logs(user, api_client, auth_client, caplog):
    caplog.set_level(logging.DEBUG)
    made = api_client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD, "name": "x"},
                           format="json").json()["token"]
    client = auth_client(user, token=made)
    minted = client.get("/api/v1/me")  # noqa: F841
    second = auth_client(user, scopes=ALL).post("/api/v1/tokens", {"name": "svc"}, format="json").json()["token"]
    from accounts.services import token_revoke
    from accounts.models import ApiToken

    token_revoke(token=ApiToken.objects.get(name="x"))
    assert client.get("/api/v1/me").status_code == 401  # a refused token is logged as a 401, not by value
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {second}x")
    api_client.get("/api/v1/teams")
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "Unauthorized" in logged  # the log did see these requests
    for secret in (made, second, made[4:], second[4:], PASSWORD):
        assert secret not in logged


@pytest.mark.django_db
def test_an_unexpected_error_shows_no_traceback_or_path(user, auth_client, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError(f"boom in {ROOT}/accounts/selectors.py")

    monkeypatch.setattr("accounts.api_teams.team_list", boom)
    monkeypatch.setattr("accounts.views_teams.team_list", boom)
    response = auth_client(user).get("/api/v1/teams")
    assert_error(response, 500, "server_error", None)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    page = client.get("/teams/")
    assert page.status_code == 500
    for body in (response.content.decode(), page.content.decode()):
        assert "Traceback" not in body and "boom" not in body and str(ROOT) not in body and ".py" not in body
