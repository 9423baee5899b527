"""Finding the Workflow object in a source folder or file, the way `flowdeck publish` does."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from .errors import FlowdeckError
from .workflow import Workflow

DEFAULT_FILES = ("workflow.py", "flow.py", "pipeline.py")


def load_workflow(target: str | Path) -> tuple[Workflow, Path]:
    """Load ``folder``, ``file.py`` or ``file.py:attr`` and return (workflow, bundle root).

    The bundle root is the folder; module names are relative to it, as on the worker.
    """
    text = str(target)
    attr = None
    if ":" in text and not Path(text).exists():
        text, attr = text.rsplit(":", 1)
    path = Path(text).resolve()
    if path.is_dir():
        root = path
        candidates = [path / name for name in DEFAULT_FILES if (path / name).is_file()]
        if not candidates:
            raise FlowdeckError(f"No {' or '.join(DEFAULT_FILES)} in {path}; name the file.")
        path = candidates[0]
    elif path.is_file():
        root = path.parent
    else:
        raise FlowdeckError(f"{target} does not exist.")
    module_name = ".".join(path.relative_to(root).with_suffix("").parts)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    sys.modules.pop(module_name, None)
    module = importlib.import_module(module_name)
    found = {name: obj for name, obj in vars(module).items() if isinstance(obj, Workflow)}
    if attr:
        if attr not in found:
            raise FlowdeckError(f"{path.name} has no Workflow named '{attr}'.")
        return found[attr], root
    if len(found) != 1:
        names = ", ".join(found) or "none"
        raise FlowdeckError(f"{path.name} must define exactly one Workflow (found: {names}); use FILE.py:NAME.")
    return next(iter(found.values())), root
