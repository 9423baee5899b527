"""The Fork button on the workflow page: a CSRF-protected POST into a namespace the user can write."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Membership, Team
from registry.models import Asset, AssetVersion
from tests.factories import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(other_user):
    """bob edits ``lab`` and only views ``museum``."""
    lab, museum = Team.objects.create(slug="lab"), Team.objects.create(slug="museum")
    Membership.objects.create(team=lab, user=other_user, role=Membership.Role.EDITOR)
    Membership.objects.create(team=museum, user=other_user, role=Membership.Role.VIEWER)
    return lab, museum


def _options(html: str) -> list[str]:
    form = html[html.index('class="form-stack fork-form"'):]
    form = form[: form.index("</form>")]
    return re.findall(r'<option value="([^"]+)"', form)


def test_it_offers_only_the_namespaces_i_can_write(user, other_user, client, teams):
    publish(user)
    client.force_login(other_user)
    html = client.get("/w/alice/demo/").content.decode()
    assert _options(html) == ["bob", "lab"]
    assert '<option value="bob" selected>' in html


def test_it_forks_the_version_shown_and_lands_on_the_fork(user, other_user, client, teams):
    publish(user, version="1.0.0", readme="# One")
    publish(user, version="1.1.0", readme="# Two")
    client.force_login(other_user)
    assert 'name="version" value="1.0.0"' in client.get("/w/alice/demo/", {"version": "1.0.0"}).content.decode()

    response = client.post("/w/alice/demo/fork", {"version": "1.0.0", "namespace": "lab", "name": "my-demo"}, follow=True)
    assert response.redirect_chain[-1] == ("/w/lab/my-demo/", 302)
    html = response.content.decode()
    assert "Forked alice/demo@1.0.0 to lab/my-demo@1.0.0." in html
    assert 'Forked from <a href="/w/alice/demo/?version=1.0.0">alice/demo@1.0.0</a>' in html
    fork = AssetVersion.objects.get(asset__namespace__slug="lab", asset__name="my-demo")
    assert (fork.version, fork.forked_from.version, fork.readme, fork.asset.visibility) == ("1.0.0", "1.0.0", "# One", "private")


def test_a_taken_name_or_a_read_only_namespace_is_a_message_on_the_page(user, other_user, client, teams):
    publish(user)
    publish(other_user)  # bob/demo exists
    client.force_login(other_user)
    response = client.post("/w/alice/demo/fork", {"namespace": "bob", "name": "demo"}, follow=True)
    assert response.redirect_chain[-1] == ("/w/alice/demo/", 302)
    assert "bob/demo already exists; pick another name." in response.content.decode()

    response = client.post("/w/alice/demo/fork", {"namespace": "museum", "name": "x"}, follow=True)
    assert "editor or admin role in &#x27;museum&#x27;" in response.content.decode()
    assert not Asset.objects.filter(namespace__slug="museum").exists()


def test_it_needs_csrf_a_login_and_a_visible_workflow(user, other_user, client):
    publish(user)
    publish(user, spec={**publish(user, version="2.0.0").spec, "name": "secret"}, visibility="private")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(other_user)
    assert strict.post("/w/alice/demo/fork", {"namespace": "bob"}).status_code == 403
    assert not Asset.objects.filter(namespace__slug="bob").exists()

    anonymous = client.post("/w/alice/demo/fork", {"namespace": "bob"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert "fork-form" not in client.get("/w/alice/demo/").content.decode()

    client.force_login(other_user)
    assert client.post("/w/alice/secret/fork", {"namespace": "bob"}).status_code == 404
    assert not Asset.objects.filter(namespace__slug="bob").exists()


def test_the_page_counts_runs_of_every_version(user, client):
    from runs.models import Run

    first = publish(user)
    second = publish(user, version="1.1.0")
    for version in (first, second, second):
        Run.objects.create(namespace=user.personal_team, created_by=user, asset_version=version)
    # Only the runs the visitor may see (alice's personal runs are hidden from anyone else).
    assert '<span class="muted run-count">0 runs</span>' in client.get("/w/alice/demo/").content.decode()
    client.force_login(user)
    assert '<span class="muted run-count">3 runs</span>' in client.get("/w/alice/demo/").content.decode()
