"""Bearer tokens at the API: who gets in, and with which error."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import token_create, token_revoke
from tests.factories import PASSWORD, assert_error, make_bundle

pytestmark = pytest.mark.django_db


def test_it_tells_a_token_holder_who_they_are(user, auth_client):
    response = auth_client(user).get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["namespaces"] == ["alice"]
    assert body["token"].startswith("fdk_")


def test_it_refuses_me_without_a_token(api_client):
    response = api_client.get("/api/v1/me")
    assert_error(response, 401, "not_authenticated", None)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_publish_without_a_token(api_client):
    response = api_client.post(
        "/api/v1/workflows/publish",
        {"spec": "{}", "bundle": make_bundle()},
        format="multipart",
    )
    assert_error(response, 401, "not_authenticated", None)


@pytest.mark.parametrize("header", ["Bearer fdk_not-a-real-token", "Bearer nonsense", "Token fdk_x"])
def test_it_refuses_a_bad_token(api_client, user, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(api_client.get("/api/v1/me"), 401, "not_authenticated", None)


def test_it_refuses_a_revoked_token(user, auth_client):
    token, plaintext = token_create(user=user, name="t")
    token_revoke(token=token)
    assert_error(auth_client(user, token=plaintext).get("/api/v1/me"), 401, "not_authenticated")


def test_it_refuses_an_expired_token(user, auth_client):
    _token, plaintext = token_create(user=user, name="t", expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(auth_client(user, token=plaintext).get("/api/v1/me"), 401, "not_authenticated")


def test_it_refuses_a_bad_token_even_on_public_endpoints(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer fdk_wrong")
    assert_error(api_client.get("/api/v1/workflows"), 401, "not_authenticated")


def test_it_refuses_writes_with_a_read_only_token(user, auth_client):
    client = auth_client(user, scopes=["read"])
    assert client.get("/api/v1/me").status_code == 200
    response = client.post(
        "/api/v1/workflows/publish",
        {"spec": "{}", "bundle": make_bundle()},
        format="multipart",
    )
    assert_error(response, 403)


def test_it_needs_the_run_scope_to_start_runs(user, auth_client):
    response = auth_client(user, scopes=["read", "write"]).post(
        "/api/v1/runs", {"workflow": "alice/demo"}, format="json"
    )
    assert_error(response, 403)


def test_it_exchanges_a_password_for_a_token(api_client, user):
    response = api_client.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD, "name": "laptop"}, format="json")
    assert response.status_code == 201
    token = response.json()["token"]
    assert ApiToken.objects.get(user=user, name="laptop").prefix == token[:12]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/v1/me").json()["username"] == "alice"


def test_it_refuses_a_wrong_password(api_client, user):
    response = api_client.post("/api/v1/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert not ApiToken.objects.exists()


def test_it_keeps_only_a_hash_of_the_token(user):
    token, plaintext = token_create(user=user, name="t")
    assert plaintext not in token.token_hash
    assert not ApiToken.objects.filter(token_hash=plaintext).exists()
    assert token.prefix == plaintext[:12]
