"""In headless Chromium: a new user signs up, creates a team, adds a colleague, and makes a
service token, which then works against the API."""
from __future__ import annotations

import httpx
import pytest

from accounts.models import Membership
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_create_a_team_add_a_member_and_make_a_token(page, live_server):
    from playwright.sync_api import expect

    make_user("bob")
    page.goto(f"{live_server.url}/")
    page.click("a:has-text('Sign up')")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password1]", "c-Strong-pass-789")
    page.fill("input[name=password2]", "c-Strong-pass-789")
    page.click("button:has-text('Create account')")
    page.wait_for_url(f"{live_server.url}/me/")
    expect(page.locator(".account")).to_contain_text("carol")

    page.click("nav a:has-text('Teams')")
    page.fill(".team-form input[name=slug]", "vision")
    page.fill(".team-form input[name=display_name]", "Vision lab")
    page.click("button:has-text('Create team')")
    page.wait_for_url(f"{live_server.url}/teams/vision/")
    expect(page.locator("h1")).to_contain_text("Vision lab")

    page.fill(".member-form input[name=username]", "bob")
    page.select_option(".member-form select[name=role]", "editor")
    page.click("button:has-text('Add member')")
    expect(page.locator(".messages")).to_contain_text("bob is now editor of 'vision'")
    expect(page.locator("tr[data-member=bob] select[name=role]")).to_have_value("editor")
    assert Membership.objects.get(team__slug="vision", user__username="bob").role == "editor"

    page.fill(".service-token-form input[name=svc-name]", "ci")
    page.click("button:has-text('Create service token')")
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("fdk_")
    expect(page.locator(".tokens-table")).to_contain_text("ci")

    # The token reaches the team through the API, and only it.
    headers = {"Authorization": f"Bearer {token}"}
    team = httpx.get(f"{live_server.url}/api/v1/teams/vision", headers=headers)
    assert team.status_code == 200 and [m["username"] for m in team.json()["members"]] == ["carol", "bob"]
    assert httpx.get(f"{live_server.url}/api/v1/teams/carol", headers=headers).status_code == 404

    # Revoked from the page, it stops working at once.
    page.click(".tokens-table button:has-text('Revoke')")
    expect(page.locator(".messages")).to_contain_text("is revoked")
    assert httpx.get(f"{live_server.url}/api/v1/teams/vision", headers=headers).status_code == 401
