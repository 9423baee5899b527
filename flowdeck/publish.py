"""Publishing: spec + deterministic bundle + README to the server."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import bundle as bundles
from .client import Client
from .spec import validate_spec


def publish_plan(wf, root: str | Path | None) -> dict[str, Any]:
    """Everything publish would send, without sending it (used by --dry-run)."""
    import inspect

    # The first function step's file (a sub-workflow step has no function of its own).
    first = next((s.fn for s in wf.steps.values() if s.fn is not None), None)
    base = Path(root).resolve() if root else Path(inspect.getsourcefile(first) if first else wf.source_file).resolve().parent
    spec = validate_spec(wf.spec(root=base))
    packed = bundles.build(base)
    readme_path = base / "README.md"
    return {
        "root": base,
        "spec": spec,
        "bundle": packed,
        "readme": readme_path.read_text() if readme_path.is_file() else (wf.description or ""),
    }


def publish_workflow(
    wf,
    *,
    version: str | None = None,
    root: str | Path | None = None,
    namespace: str | None = None,
    changelog: str = "",
    visibility: str | None = None,
    tags: list[str] | None = None,
    client: Client | None = None,
) -> dict:
    plan = publish_plan(wf, root)
    own = client is None
    client = client or Client()
    try:
        return client.publish(
            spec=plan["spec"],
            bundle=plan["bundle"].data,
            version=version,
            namespace=namespace,
            readme=plan["readme"],
            changelog=changelog,
            visibility=visibility,
            tags=tags,
        )
    finally:
        if own:
            client.close()
