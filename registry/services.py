"""Writes for the registry: publishing immutable workflow versions."""
from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accounts.access import require_write
from accounts.models import Team
from core import storage
from core.errors import Conflict, InvalidInput, NotFound
from flowdeck.spec import SpecError, validate_spec

from .bundles import bundle_inspect
from .models import Asset, AssetVersion, Visibility

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
MAX_TAGS = 20


def parse_semver(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version or "")
    if not match:
        raise InvalidInput(f"'{version}' is not a version of the form MAJOR.MINOR.PATCH.", field="version")
    return int(match[1]), int(match[2]), int(match[3])


def spec_check(spec) -> dict:
    """Validate a spec with the SDK's own rules, as a domain error naming the culprit."""
    try:
        return validate_spec(spec)
    except SpecError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None


def _namespace(user: AbstractBaseUser, slug: str | None) -> Team:
    if not slug:
        return Team.objects.get(personal_of=user)
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound(f"Namespace '{slug}' does not exist.", field="namespace")
    return team


def version_publish(
    *,
    user: AbstractBaseUser,
    spec: dict,
    bundle: bytes,
    version: str | None = None,
    namespace: str | None = None,
    readme: str = "",
    changelog: str = "",
    visibility: str | None = None,
    tags: list[str] | None = None,
) -> AssetVersion:
    """Publish ``namespace/<spec name>@version``.

    The spec and bundle are checked first. The bundle is stored (content-addressed, so the
    same bytes are stored once) before the version row commits; a failed publish leaves no
    version behind. Without ``version`` the latest version's patch number is bumped.
    """
    team = _namespace(user, namespace)
    require_write(user, team, what="publish")
    clean = spec_check(spec)
    if visibility is not None and visibility not in Visibility.values:
        raise InvalidInput(f"Visibility must be one of {', '.join(Visibility.values)}.", field="visibility")
    if len(readme.encode()) > settings.FLOWDECK_MAX_README_BYTES:
        raise InvalidInput(f"The README is over {settings.FLOWDECK_MAX_README_BYTES} bytes.", field="readme")
    tags = [str(t).strip().lower() for t in (tags or []) if str(t).strip()][:MAX_TAGS]
    info = bundle_inspect(bundle, max_bytes=settings.FLOWDECK_MAX_BUNDLE_BYTES)

    key = storage.bundle_key(info.digest)
    if not storage.exists(key):
        storage.put(key, bundle)

    with transaction.atomic():
        asset, created = Asset.objects.select_for_update().get_or_create(
            namespace=team,
            name=clean["name"],
            defaults={
                "created_by": user,
                "visibility": visibility or Visibility.PRIVATE,
                "description": clean["description"],
                "tags": tags,
            },
        )
        latest = asset.versions.first()
        if version is None:
            version = f"{latest.major}.{latest.minor}.{latest.patch + 1}" if latest else "1.0.0"
        numbers = parse_semver(version)
        if asset.versions.filter(version=version).exists():
            raise Conflict(f"{asset.full_name}@{version} already exists; versions are immutable.", field="version")
        if latest and numbers <= (latest.major, latest.minor, latest.patch):
            raise InvalidInput(
                f"Version {version} must be greater than the latest, {latest.version}.", field="version"
            )
        try:
            with transaction.atomic():
                published = AssetVersion.objects.create(
                    asset=asset,
                    version=version,
                    major=numbers[0],
                    minor=numbers[1],
                    patch=numbers[2],
                    spec=clean,
                    bundle_digest=info.digest,
                    bundle_size=info.size,
                    readme=readme,
                    changelog=changelog,
                    published_by=user,
                )
        except IntegrityError:
            raise Conflict(f"{asset.full_name}@{version} already exists.", field="version") from None
        asset.latest_version = published
        asset.description = clean["description"]
        if not created:
            if visibility is not None:
                asset.visibility = visibility
            if tags:
                asset.tags = tags
        asset.save()
    return published
