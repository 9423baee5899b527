"""The base layout, logging in and out, static files and error pages."""
from __future__ import annotations

from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.factories import PASSWORD


def test_the_layout_loads_htmx_from_the_wheel_and_our_css(client, db):
    html = client.get(reverse("gallery:index")).content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in html
    assert "/static/flowdeck.css" in html
    assert "plotly" not in html  # only chart pages load plotly
    assert ">Gallery</a>" in html and ">Runs</a>" in html and ">My workspace</a>" in html
    assert "Log in</a>" in html


def test_library_files_are_served_from_their_wheels_not_the_repo():
    for path in ("django_htmx/htmx-2.min.js", "plotly/plotly.min.js", "flowdeck.css", "run_charts.js"):
        found = finders.find(path)
        assert found, path
    assert ".venv" in finders.find("plotly/plotly.min.js") or "site-packages" in finders.find("plotly/plotly.min.js")


def test_login_and_logout(client, user):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and 'name="password"' in response.content.decode()

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("gallery:index")
    html = client.get(reverse("gallery:index")).content.decode()
    assert "alice" in html and "Log out" in html
    assert 'action="/logout/"' in html and "csrfmiddlewaretoken" in html

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("runs:list")).status_code == 302


def test_a_wrong_password_is_refused(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_unknown_pages_use_the_404_template(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode() and "Flowdeck" in response.content.decode()
