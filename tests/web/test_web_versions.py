"""The versions list: yanked and deprecated badges, the owner's yank form, compare links."""
from __future__ import annotations

from django.urls import reverse

from registry.models import Asset, AssetVersion
from registry.services import version_deprecate
from tests.factories import publish

YANK = "/w/alice/demo/versions/1.1.0/yank"


def _versions_panel(html: str) -> str:
    return html[html.index("<h2>Versions</h2>"):]


def test_the_owner_yanks_and_unyanks_from_the_page(alice_client, user, workflow):
    publish(user, spec=workflow.spec, version="1.1.0")
    html = alice_client.get(reverse("registry:workflow", args=["alice", "demo"])).content.decode()
    assert f'action="{YANK}"' in html and 'name="reason"' in html

    response = alice_client.post(YANK, {"reason": "broken <b>labels</b>"}, follow=True)
    assert response.status_code == 200
    assert AssetVersion.objects.get(version="1.1.0").yank_reason == "broken <b>labels</b>"
    assert Asset.objects.get().latest_version.version == "1.0.0"
    panel = _versions_panel(response.content.decode())
    assert "Yanked: broken &lt;b&gt;labels&lt;/b&gt;" in panel
    assert 'name="undo"' in panel

    alice_client.post(YANK, {"undo": "1"})
    assert AssetVersion.objects.get(version="1.1.0").yanked_at is None


def test_a_yank_without_a_reason_shows_the_message(alice_client, user, workflow):
    publish(user, spec=workflow.spec, version="1.1.0")
    response = alice_client.post(YANK, {"reason": ""}, follow=True)
    assert "a reason is required" in response.content.decode()
    assert AssetVersion.objects.get(version="1.1.0").yanked_at is None


def test_others_see_no_yank_form_and_may_not_post_it(bob_client, user, workflow):
    publish(user, spec=workflow.spec, version="1.1.0")
    html = bob_client.get(reverse("registry:workflow", args=["alice", "demo"])).content.decode()
    assert "/yank" not in html
    assert bob_client.post(YANK, {"reason": "x"}).status_code == 403
    assert AssetVersion.objects.get(version="1.1.0").yanked_at is None


def test_a_deprecated_version_links_to_its_successor(client, user, workflow):
    publish(user, spec=workflow.spec, version="1.1.0")
    version_deprecate(user=user, version=workflow, successor="1.1.0", message="Use the faster one.")
    panel = _versions_panel(client.get(reverse("registry:workflow", args=["alice", "demo"])).content.decode())
    assert "deprecated</span>" in panel and "Use the faster one." in panel
    assert 'href="/w/alice/demo/?version=1.1.0">v1.1.0</a>' in panel
    assert "/w/alice/demo/diff?from=1.0.0&amp;to=1.1.0" in panel
