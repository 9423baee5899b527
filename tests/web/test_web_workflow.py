"""The workflow page: README, parameters, DAG, versions and the run form."""
from __future__ import annotations

import re

from django.urls import reverse

from tests.factories import make_spec, publish


def page(client, *args, **query):
    return client.get(reverse("registry:workflow", args=args or ["alice", "demo"]), query)


def test_it_renders_the_readme_as_sanitised_markdown(client, workflow):
    response = page(client)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Demo workflow</h1>" in html
    assert "<strong>x</strong>" in html and "<code>n</code>" in html
    assert "<script>alert" not in html and 'alert("owned")' not in html
    assert "javascript:" not in html and "onclick" not in html


def test_it_shows_the_parameters_table(client, workflow):
    html = page(client).content.decode()
    table = html[html.index("<h2>Parameters</h2>"):]
    table = table[: table.index("</table>")]
    for name in ("n", "rate", "mode", "flag", "cfg", "label"):
        assert f'<td class="mono">{name}</td>' in table
    assert "Multiplier." in table and "Learning rate." in table
    assert "min 1" in table and "max 100" in table
    assert "fast, slow" in table
    assert '{"a": 1}' in table.replace("&quot;", '"')


def test_it_draws_the_dag_as_inline_svg(client, workflow):
    html = page(client).content.decode()
    svg = re.search(r"<svg class=\"dag\".*?</svg>", html, re.S)
    assert svg is not None
    assert svg.group(0).count('class="dag-node"') == 3
    assert 'data-from="a" data-to="b"' in svg.group(0)


def test_it_lists_versions_and_shows_an_older_one_on_request(alice_client, user, workflow):
    publish(user, spec=workflow.spec, version="1.1.0", changelog="Faster b.")
    html = page(alice_client).content.decode()
    assert "v1.1.0" in html and "v1.0.0" in html
    assert "First release." in html and "Faster b." in html
    assert 'name="version" value="1.1.0"' in html

    html = page(alice_client, version="1.0.0").content.decode()
    assert 'name="version" value="1.0.0"' in html
    assert "The latest is" in html


def test_it_marks_yanked_versions_and_offers_no_run_form_for_them(alice_client, user, workflow):
    from django.utils import timezone

    publish(user, spec=workflow.spec, version="1.1.0")
    type(workflow).objects.filter(pk=workflow.pk).update(yanked_at=timezone.now(), yank_reason="bad maths")
    html = page(alice_client, version="1.0.0").content.decode()
    assert "yanked" in html and "bad maths" in html
    assert "Start run" not in html


def test_the_run_form_has_one_field_per_parameter_with_defaults(alice_client, workflow):
    html = page(alice_client).content.decode()
    assert 'name="param-n" value="3"' in html and 'type="number"' in html
    assert 'name="param-rate" value="0.5"' in html
    assert '<option value="fast" selected>' in html
    assert re.search(r'name="param-flag"[^>]*checked', html)
    assert "{&quot;a&quot;: 1}</textarea>" in html
    assert 'name="param-label" value="hello"' in html
    assert "Start run" in html


def test_anonymous_users_get_a_login_link_instead_of_the_form(client, workflow):
    html = page(client).content.decode()
    assert "Log in to run" in html
    assert "Start run" not in html and 'name="param-n"' not in html


def test_a_private_workflow_is_404_to_others(client, other_user, user):
    publish(user, spec=make_spec(name="hidden"), visibility="private")
    assert page(client, "alice", "hidden").status_code == 404
    client.force_login(other_user)
    response = page(client, "alice", "hidden")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
    client.force_login(user)
    assert page(client, "alice", "hidden").status_code == 200


def test_an_unknown_version_is_404(client, workflow):
    assert page(client, version="9.9.9").status_code == 404
