"""Triggers: create (the secret once), the webhook's authentication, mapping and errors,
recorded deliveries, and who may manage them."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from automation.models import Trigger, TriggerDelivery
from registry.services import version_yank
from runs.models import Run
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db


def _spec():
    spec = make_spec(name="ingest")
    spec["params"].append({"name": "data_path", "type": "str", "required": True})
    return spec


@pytest.fixture
def version(user):
    return publish(user, spec=_spec())


@pytest.fixture
def trigger(user, auth_client, version) -> dict:
    response = auth_client(user).post("/api/v1/triggers", {
        "workflow": "alice/ingest", "name": "new data", "params": {"n": 4},
        "mapping": {"data_path": "$.object.key"},
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _post(client, url: str, payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.generic("POST", url, body, content_type="application/json",
                          **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


EVENT = {"object": {"key": "s3://raw/2026-11-22.csv"}, "event": "put"}


def test_the_secret_is_shown_once_and_stored_hashed(user, auth_client, trigger):
    secret = trigger["secret"]
    assert secret.startswith("fdh_") and trigger["headers"] == {"secret": "X-Flowdeck-Secret",
                                                                 "signature": "X-Flowdeck-Signature"}
    row = Trigger.objects.get(pk=trigger["id"])
    assert secret not in json.dumps([row.secret_hash, row.secret_salt, row.secret_prefix, row.key])
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    detail = auth_client(user).get(f"/api/v1/triggers/{trigger['id']}").json()
    assert "secret" not in detail and detail["url"].endswith(f"/api/v1/hooks/{row.key}")


def test_a_post_with_the_secret_starts_a_run_with_mapped_params(api_client, trigger, user):
    response = _post(api_client, trigger["url"], EVENT, x_flowdeck_secret=trigger["secret"])
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get(pk=body["run"])
    assert run.params == {"n": 4, "data_path": "s3://raw/2026-11-22.csv"} == body["params"]
    assert run.created_by == user and run.namespace.slug == "alice"
    delivery = TriggerDelivery.objects.get(pk=body["delivery"])
    assert (delivery.status, delivery.run_id, delivery.auth) == (201, run.pk, "secret")


def test_an_hmac_signature_of_the_body_works_too(api_client, trigger):
    body = json.dumps(EVENT).encode()
    response = _post(api_client, trigger["url"], body, x_flowdeck_signature=_sign(trigger["secret"], body))
    assert response.status_code == 201, response.content
    assert TriggerDelivery.objects.get(pk=response.json()["delivery"]).auth == "signature"
    # The same signature over another body is refused.
    assert_error(_post(api_client, trigger["url"], {**EVENT, "event": "x"},
                       x_flowdeck_signature=_sign(trigger["secret"], body)), 403, "forbidden")


def test_a_missing_secret_is_401_and_a_wrong_one_403(api_client, trigger):
    assert_error(_post(api_client, trigger["url"], EVENT), 401, "not_authenticated")
    assert_error(_post(api_client, trigger["url"], EVENT, x_flowdeck_secret="fdh_wrong"), 403, "forbidden",
                 "X-Flowdeck-Secret")
    assert_error(_post(api_client, trigger["url"], EVENT, x_flowdeck_signature="sha256=00"), 403, "forbidden")
    assert Run.objects.count() == 0
    assert sorted(TriggerDelivery.objects.values_list("status", flat=True)) == [401, 403, 403]
    assert_error(_post(api_client, "/api/v1/hooks/nope", EVENT, x_flowdeck_secret=trigger["secret"]), 404, "not_found")


def test_a_mapping_that_does_not_resolve_or_a_bad_value_is_400_naming_the_field(api_client, trigger):
    secret = trigger["secret"]
    error = assert_error(_post(api_client, trigger["url"], {"object": {}}, x_flowdeck_secret=secret),
                         400, "invalid", "mapping.data_path")
    assert "$.object has no key 'key'" in error["message"]
    assert_error(_post(api_client, trigger["url"], b"{not json", x_flowdeck_secret=secret), 400, "invalid", "body")
    assert_error(_post(api_client, trigger["url"], {"object": {"key": ["a", "list"]}}, x_flowdeck_secret=secret),
                 400, "invalid", "params.data_path")
    assert Run.objects.count() == 0
    assert TriggerDelivery.objects.filter(status=400).count() == 3


def test_a_yanked_version_is_400(user, auth_client, api_client, version):
    created = auth_client(user).post("/api/v1/triggers", {
        "workflow": "alice/ingest@1.0.0", "mapping": {"data_path": "object.key"}}, format="json").json()
    version_yank(user=user, version=version, reason="broken")
    assert_error(_post(api_client, created["url"], EVENT, x_flowdeck_secret=created["secret"]), 400, "invalid", "version")


def test_the_webhook_never_answers_a_traceback(api_client, trigger, monkeypatch):
    secret = trigger["secret"]
    for payload in (b"\xff\xfe", b"[1, 2", b"null", b'"text"', b"[]", b"{" * 5000, b"[" * 200_000):
        response = _post(api_client, trigger["url"], payload, x_flowdeck_secret=secret)
        assert response.status_code == 400, (payload[:10], response.content[:300])
        assert "Traceback" not in response.content.decode(errors="replace")
        assert_error(response, 400, "invalid")

    # An unexpected failure inside is a 500 in the error shape, and is recorded.
    def explode(**kwargs):
        raise RuntimeError("database on fire at /srv/secret/path")

    monkeypatch.setattr("automation.services.run_start", explode)
    response = _post(api_client, trigger["url"], EVENT, x_flowdeck_secret=secret)
    assert_error(response, 500, "server_error")
    text = response.content.decode()
    assert "Traceback" not in text and "on fire" not in text and "/srv/" not in text
    assert TriggerDelivery.objects.filter(status=500).exists()


def test_create_checks_the_mapping_and_params(user, auth_client, version):
    api = auth_client(user)
    for body, field in [
        ({"mapping": {"nope": "$.a"}}, "mapping.nope"),
        ({"mapping": {"data_path": "$.a..b"}}, "mapping.data_path"),
        ({"mapping": "$.a"}, "mapping"),
        ({"params": {"n": "many"}}, "params.n"),
    ]:
        assert_error(api.post("/api/v1/triggers", {"workflow": "alice/ingest", **body}, format="json"),
                     400, "invalid", field)


def test_the_run_starts_within_the_owners_permissions(user, other_user, auth_client, api_client, version):
    from accounts.services import membership_set, team_create

    team = team_create(slug="acme", owner=user)
    membership_set(team=team, user=other_user, role="editor")
    created = auth_client(other_user).post("/api/v1/triggers", {
        "workflow": "alice/ingest", "namespace": "acme", "mapping": {"data_path": "object.key"}}, format="json").json()
    membership_set(team=team, user=other_user, role="viewer")  # bob may no longer start runs there
    assert_error(_post(api_client, created["url"], EVENT, x_flowdeck_secret=created["secret"]), 403, "forbidden")
    assert Run.objects.count() == 0


def test_viewers_see_deliveries_outsiders_get_404(user, other_user, auth_client, api_client, trigger):
    _post(api_client, trigger["url"], EVENT, x_flowdeck_secret=trigger["secret"])
    detail = auth_client(user).get(f"/api/v1/triggers/{trigger['id']}").json()
    assert [(d["status"], bool(d["run"])) for d in detail["deliveries"]] == [(201, True)]
    assert_error(auth_client(other_user).get(f"/api/v1/triggers/{trigger['id']}"), 404, "not_found")
    assert_error(auth_client(other_user).delete(f"/api/v1/triggers/{trigger['id']}"), 404, "not_found")
    assert auth_client(user).delete(f"/api/v1/triggers/{trigger['id']}").status_code == 204
    assert_error(_post(api_client, trigger["url"], EVENT, x_flowdeck_secret=trigger["secret"]), 404, "not_found")
