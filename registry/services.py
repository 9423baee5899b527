"""Writes for the registry: publishing immutable workflow versions, yanking and deprecating
them, and removing stored bundles that no version refers to."""
from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import require_asset_write, require_write
from accounts.models import Team
from accounts.services import Action, audit_record, quota_storage_check
from core import storage
from gallery.search import search_documents_refresh
from core.errors import Conflict, InvalidInput, NotFound
from flowdeck.spec import SpecError, validate_spec

from .bundles import bundle_inspect
from .models import Asset, AssetVersion, Visibility
from .selectors import version_get

log = logging.getLogger(__name__)

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
    quota_storage_check(team=team, adding=info.size, what="this bundle")

    key = storage.bundle_key(info.digest)
    if not storage.exists(key):
        storage.put(key, bundle)

    return _version_record(
        user=user, team=team, spec=clean, digest=info.digest, size=info.size, version=version,
        readme=readme, changelog=changelog, visibility=visibility, tags=tags,
    )


def _version_record(
    *,
    user: AbstractBaseUser,
    team: Team,
    spec: dict,
    digest: str,
    size: int,
    version: str | None,
    readme: str,
    changelog: str,
    visibility: str | None,
    tags: list[str],
    forked_from: AssetVersion | None = None,
) -> AssetVersion:
    """The version row (and the asset on first publish), for a checked spec and a stored bundle.

    ``forked_from`` makes a new asset only: an existing one with that name is a conflict.
    """
    with transaction.atomic():
        if forked_from is not None:
            if Asset.objects.filter(namespace=team, name=spec["name"]).exists():
                raise Conflict(f"{team.slug}/{spec['name']} already exists; pick another name.", field="name")
            try:
                with transaction.atomic():
                    asset = Asset.objects.create(
                        namespace=team, name=spec["name"], created_by=user,
                        visibility=visibility or Visibility.PRIVATE, description=spec["description"], tags=tags,
                    )
            except IntegrityError:
                raise Conflict(f"{team.slug}/{spec['name']} already exists; pick another name.", field="name") from None
            created = True
        else:
            asset, created = Asset.objects.select_for_update().get_or_create(
                namespace=team,
                name=spec["name"],
                defaults={
                    "created_by": user,
                    "visibility": visibility or Visibility.PRIVATE,
                    "description": spec["description"],
                    "tags": tags,
                },
            )
        latest = asset.versions.first()
        if version is None:
            version = f"{latest.major}.{latest.minor}.{latest.patch + 1}" if latest else "1.0.0"
        numbers = parse_semver(version)
        # Equal counts as lower (issue 4's bad-input table): 400 naming the latest, also when
        # the number is taken; versions are immutable, so the fix is always a higher number.
        if latest and numbers <= (latest.major, latest.minor, latest.patch):
            taken = " already exists and" if asset.versions.filter(version=version).exists() else ""
            raise InvalidInput(
                f"Version {version}{taken} must be greater than the latest, {latest.version}; "
                "published versions are immutable.",
                field="version",
            )
        try:
            with transaction.atomic():
                published = AssetVersion.objects.create(
                    asset=asset,
                    version=version,
                    major=numbers[0],
                    minor=numbers[1],
                    patch=numbers[2],
                    spec=spec,
                    bundle_digest=digest,
                    bundle_size=size,
                    readme=readme,
                    changelog=changelog,
                    published_by=user,
                    forked_from=forked_from,
                )
        except IntegrityError:
            raise Conflict(f"{asset.full_name}@{version} already exists.", field="version") from None
        asset.latest_version = published
        asset.description = spec["description"]
        if not created:
            if visibility is not None:
                asset.visibility = visibility
            if tags:
                asset.tags = tags
        asset.save()
        search_documents_refresh(asset_ids=[asset.pk])
        audit_record(actor=user, action=Action.VERSION_PUBLISH, team=team, target_type="version",
                     target=f"{asset.full_name}@{version}",
                     data={"forked_from": str(forked_from)} if forked_from is not None else None)
        # A task dispatched on commit: subscribers never hear of a version that rolled back,
        # and publishing does not wait for one row per subscriber.
        from notifications.tasks import notify_new_version_task

        notify_new_version_task.delay_on_commit(published.pk)
    return published


def asset_fork(
    *,
    user: AbstractBaseUser,
    asset: Asset,
    version: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
) -> AssetVersion:
    """Copy ``asset@version`` (default: the latest) into ``namespace`` (default: the user's own)
    as a new asset ``name`` (default: the same name) at 1.0.0, recording where it came from.

    The bundle is content-addressed, so the fork points at the same digest and no bytes are
    copied. The caller has checked that ``user`` may see ``asset``. A taken name is a Conflict.
    """
    source = version_get(asset=asset, version=version)
    team = _namespace(user, namespace)
    require_write(user, team, what="fork into it")
    clean = spec_check({**source.spec, "name": name or asset.name})
    quota_storage_check(team=team, adding=source.bundle_size, what="this fork's bundle")
    return _version_record(
        user=user, team=team, spec=clean, digest=source.bundle_digest, size=source.bundle_size,
        version="1.0.0", readme=source.readme, changelog=f"Forked from {source}.",
        visibility=None, tags=list(asset.tags or []), forked_from=source,
    )


# --- yank and deprecate ------------------------------------------------------------------------
MAX_REASON = 2000
BUNDLE_PREFIX = "bundles/sha256/"


def _latest_refresh(asset: Asset) -> None:
    # Call with the asset row locked: the newest version that is not yanked, or None.
    asset.latest_version = asset.versions.filter(yanked_at__isnull=True).first()
    asset.save(update_fields=["latest_version", "updated_at"])
    search_documents_refresh(asset_ids=[asset.pk])


def _locked(version: AssetVersion) -> tuple[Asset, AssetVersion]:
    asset = Asset.objects.select_for_update().select_related("namespace").get(pk=version.asset_id)
    return asset, AssetVersion.objects.select_for_update().get(pk=version.pk)


def version_yank(*, user: AbstractBaseUser, version: AssetVersion, reason: str) -> AssetVersion:
    """Mark ``version`` yanked: it stays visible with ``reason``, new runs of it are refused,
    and the asset's latest version moves to the newest one that is not yanked (or none).

    Yanking a yanked version again only replaces the reason.
    """
    require_asset_write(user, version.asset, what="yank versions of")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the version is yanked: a reason is required.", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"The reason is over {MAX_REASON} characters.", field="reason")
    with transaction.atomic():
        asset, found = _locked(version)
        found.yanked_at = found.yanked_at or timezone.now()
        found.yank_reason = reason
        found.save(update_fields=["yanked_at", "yank_reason"])
        _latest_refresh(asset)
        audit_record(actor=user, action=Action.VERSION_YANK, team=asset.namespace, target_type="version",
                     target=f"{asset.full_name}@{found.version}", data={"reason": reason})
    return found


def version_unyank(*, user: AbstractBaseUser, version: AssetVersion) -> AssetVersion:
    """Undo a yank; the version can be run again and may be the latest once more."""
    require_asset_write(user, version.asset, what="unyank versions of")
    with transaction.atomic():
        asset, found = _locked(version)
        found.yanked_at = None
        found.yank_reason = ""
        found.save(update_fields=["yanked_at", "yank_reason"])
        _latest_refresh(asset)
        audit_record(actor=user, action=Action.VERSION_UNYANK, team=asset.namespace, target_type="version",
                     target=f"{asset.full_name}@{found.version}")
    return found


def _successor_get(user: AbstractBaseUser, version: AssetVersion, successor: str) -> AssetVersion:
    from .selectors import asset_get, parse_asset_ref, version_get

    if "/" in successor:  # another workflow, e.g. after a rename: ns/name[@version]
        namespace, name, number = parse_asset_ref(successor)
        try:
            asset = asset_get(user=user, namespace=namespace, name=name)
            found = version_get(asset=asset, version=number)
        except NotFound as exc:
            raise InvalidInput(exc.message, field="successor") from None
        # Whoever sees the deprecated version sees the successor's name: it must be visible
        # to all of them (public, or in the same namespace when this one is not public).
        visible_to_all = found.asset.visibility == Visibility.PUBLIC or (
            found.asset.namespace_id == version.asset.namespace_id and version.asset.visibility != Visibility.PUBLIC
        )
        if not visible_to_all:
            raise InvalidInput(
                f"Successor {found} is not visible to everyone who can see {version.asset.full_name}.",
                field="successor",
            )
    else:
        found = version.asset.versions.filter(version=successor).first()
        if found is None:
            raise InvalidInput(
                f"Successor {successor} is not a version of {version.asset.full_name}.", field="successor"
            )
    if found.pk == version.pk:
        raise InvalidInput("A version cannot be its own successor.", field="successor")
    if found.yanked_at:
        raise InvalidInput(f"Successor {found} is yanked; pick one that can be run.", field="successor")
    return found


def version_deprecate(
    *, user: AbstractBaseUser, version: AssetVersion, successor: str | None, message: str
) -> AssetVersion:
    """Mark ``version`` deprecated, with a message and optionally the version to use instead
    (``1.2.0`` in the same workflow, or ``ns/name[@version]``). It can still be run.

    Deprecating again replaces the message and successor.
    """
    require_asset_write(user, version.asset, what="deprecate versions of")
    message = (message or "").strip()
    if len(message) > MAX_REASON:
        raise InvalidInput(f"The message is over {MAX_REASON} characters.", field="message")
    found_successor = _successor_get(user, version, successor.strip()) if (successor or "").strip() else None
    with transaction.atomic():
        _asset, found = _locked(version)
        found.deprecated_at = found.deprecated_at or timezone.now()
        found.deprecation_message = message
        found.successor = found_successor
        found.save(update_fields=["deprecated_at", "deprecation_message", "successor"])
    return found


# --- stored bundles ------------------------------------------------------------------------------
def bundles_cleanup(*, older_than_s: int = 3600) -> int:
    """Delete stored bundles that no version refers to and that are older than ``older_than_s``.

    The age threshold matters: ``version_publish`` stores the bundle *before* its version row
    commits, so a young unreferenced bundle may belong to a publish in progress. Returns how
    many bundles were deleted.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted = 0
    for key, _size in list(storage.list_keys(BUNDLE_PREFIX)):
        name = key[len(BUNDLE_PREFIX):]
        digest = name.removesuffix(".tar.gz")
        # Look the reference up per key, as late as possible, to narrow the race with publish.
        if AssetVersion.objects.filter(bundle_digest=digest).exists():
            continue
        if storage.modified_at(key) > cutoff:
            continue
        storage.delete(key)
        deleted += 1
        log.info("deleted orphaned bundle %s", key)
    return deleted
