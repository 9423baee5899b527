"""Reads for the registry, always scoped to what the user may see."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.access import asset_filter
from core.errors import InvalidInput, NotFound

from .models import Asset, AssetVersion


def assets_visible(*, user: AbstractBaseUser | AnonymousUser):
    return Asset.objects.filter(asset_filter(user)).select_related("namespace", "latest_version")


def asset_get(*, user: AbstractBaseUser | AnonymousUser, namespace: str, name: str) -> Asset:
    """The asset, or NotFound when it does not exist or the user may not see it (no leak)."""
    asset = assets_visible(user=user).filter(namespace__slug=namespace, name=name).first()
    if asset is None:
        raise NotFound(f"Workflow '{namespace}/{name}' was not found.", field="asset")
    return asset


def version_get(*, asset: Asset, version: str | None = None) -> AssetVersion:
    """A version by number, or the latest one that is not yanked."""
    versions = asset.versions.all()
    if version:
        found = versions.filter(version=version).first()
    else:
        found = versions.filter(yanked_at__isnull=True).first()
    if found is None:
        raise NotFound(f"Version '{version or 'latest'}' of {asset.full_name} was not found.", field="version")
    return found


def version_previous(*, version: AssetVersion) -> AssetVersion | None:
    """The version published just before ``version`` (yanked or not), or None."""
    earlier = version.asset.versions.filter(major__lte=version.major).exclude(pk=version.pk)
    for candidate in earlier:  # newest first (Meta.ordering); few rows per major
        if (candidate.major, candidate.minor, candidate.patch) < (version.major, version.minor, version.patch):
            return candidate
    return None


def parse_asset_ref(ref: str) -> tuple[str, str, str | None]:
    """``namespace/name[@version]`` into its parts."""
    base, _, version = (ref or "").partition("@")
    namespace, _, name = base.partition("/")
    if not namespace or not name or "/" in name:
        raise InvalidInput(f"'{ref}' is not a workflow reference of the form namespace/name[@version].", field="asset")
    return namespace, name, version or None
