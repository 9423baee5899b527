"""The demo data `make run` seeds: a user, and sample workflows published through the SDK."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.services import token_create, token_revoke, user_create

DEMO_USER = "demo"
DEMO_PASSWORD = "flowdeck-demo"
SAMPLES = [("examples/train", "ml,training,example"), ("examples/validate", "data,validation,example")]


def demo_user_ensure():
    user = get_user_model().objects.filter(username=DEMO_USER).first()
    return user or user_create(username=DEMO_USER, password=DEMO_PASSWORD, validate=False)


def demo_workflows_publish(*, user, url: str) -> list[str]:
    """Publish each sample once (as version 1.0.0) through the SDK, over HTTP like any author."""
    from flowdeck.client import Client
    from flowdeck.errors import APIError
    from flowdeck.loader import load_workflow
    from flowdeck.publish import publish_workflow

    token, plaintext = token_create(user=user, name="demo seed", scopes=["read", "write"])
    published = []
    try:
        with Client(url, plaintext) as client:
            for folder, tags in SAMPLES:
                wf, root = load_workflow(Path(settings.BASE_DIR) / folder)
                try:
                    client.workflow(f"{DEMO_USER}/{wf.name}")
                    continue  # already seeded
                except APIError as exc:
                    if exc.status != 404:
                        raise
                version = publish_workflow(
                    wf, version="1.0.0", root=root, visibility="public", changelog="First release.",
                    tags=tags.split(","), client=client,
                )
                published.append(f"{version['asset']}@{version['version']}")
    finally:
        token_revoke(token=token)
    return published
