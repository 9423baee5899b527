"""The options of a comparison, from a query string or a saved view's JSON, checked in one
place: an unknown option, or a bad value, is an ``InvalidInput`` naming the field."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

from core.errors import InvalidInput
from core.params import parse_bool

MIN_RUNS = 2
MAX_RUNS = 100  # charted in full; more only with ``sample``
MAX_RUNS_SAMPLED = 1000  # tables and parallel coordinates cover them all, charts ``sample`` of them
MAX_KEYS = 50
X_AXES = ("step", "wall", "relative")
AT = ("last", "best", "step")
# Options that only the page reads (the API echoes them, and saved views keep them).
DISPLAY = ("x", "smoothing", "log", "all", "dims", "scatter_x", "scatter_y", "artifact")
OPTIONS = ("runs", "keys", "at", "step", "max_points", "sample", *DISPLAY)


@dataclass(frozen=True)
class CompareOptions:
    runs: tuple[int, ...]
    keys: tuple[str, ...] | None = None  # None: every key the runs logged
    at: str = "last"  # the values table: each run's last value, its best, or its value at ``step``
    step: int | None = None
    max_points: int | None = None  # per series; None picks by the number of runs
    sample: int | None = None  # with more than MAX_RUNS runs: chart this many of them
    x: str = "step"
    smoothing: float = 0.0
    log: bool = False
    all: bool = False  # the diff shows every row, not only those that differ
    dims: tuple[str, ...] = field(default_factory=tuple)  # parallel coordinates: params.x, metrics.y
    scatter_x: str = ""
    scatter_y: str = ""
    artifact: str = ""

    def saved(self) -> dict:
        """Everything but the runs, without the defaults: what a saved view keeps."""
        default = CompareOptions(runs=())
        out = {}
        for name, value in asdict(self).items():
            if name != "runs" and value != getattr(default, name):
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def query(self) -> str:
        """The options as the compare page's query string."""
        pairs = {"runs": ",".join(map(str, self.runs))}
        for name, value in self.saved().items():
            pairs[name] = ",".join(map(str, value)) if isinstance(value, list) else (
                "1" if value is True else str(value))
        return urlencode(pairs, safe=",")


def _list(raw, name: str) -> list[str]:
    if raw is None or raw == "":
        return []
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def _int(raw, name: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
        if isinstance(raw, float) and raw != value:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number, got {raw!r}.", field=name) from None
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be from {lo:,} to {hi:,}, got {value:,}.", field=name)
    return value


def _choice(raw, name: str, choices: tuple[str, ...]) -> str:
    value = str(raw).strip()
    if value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}, got {raw!r}.", field=name)
    return value


def _column(raw, name: str) -> str:
    value = str(raw).strip()
    if value and not value.startswith(("params.", "metrics.")) or len(value) > 260:
        raise InvalidInput(f"{name} names a params.<name> or metrics.<key>, got {raw!r}.", field=name)
    return value


def run_ids_parse(raw, *, allow_many: bool) -> tuple[int, ...]:
    ids: list[int] = []
    for item in _list(raw, "runs"):
        if not item.isdigit():
            raise InvalidInput(f"runs is a list of run ids, got {item!r}.", field="runs")
        if int(item) not in ids:
            ids.append(int(item))
    limit = MAX_RUNS_SAMPLED if allow_many else MAX_RUNS
    if len(ids) < MIN_RUNS:
        raise InvalidInput(f"Choose at least {MIN_RUNS} runs to compare.", field="runs")
    if len(ids) > limit:
        more = "" if allow_many else f"; pass sample=N to chart N of up to {MAX_RUNS_SAMPLED:,} runs"
        raise InvalidInput(f"At most {limit} runs can be compared at once, got {len(ids)}{more}.", field="runs")
    return tuple(ids)


def options_parse(raw: Mapping, *, runs=None) -> CompareOptions:
    """Options from a query string (``request.GET``, values are text) or a saved view's JSON
    (values may be lists, numbers and booleans). ``runs`` given apart overrides ``raw``'s."""
    unknown = sorted(k for k in raw if k not in OPTIONS and k != "format")
    if unknown:
        raise InvalidInput(f"Unknown option '{unknown[0]}'; the options are {', '.join(OPTIONS)}.", field=unknown[0])

    def get(name):
        value = raw.get(name)
        return value if value not in (None, "") else None

    sample = _int(get("sample"), "sample", MIN_RUNS, MAX_RUNS) if get("sample") is not None else None
    ids = run_ids_parse(runs if runs is not None else get("runs"), allow_many=sample is not None)
    keys = _list(get("keys"), "keys")
    if len(keys) > MAX_KEYS or any(len(k) > 250 for k in keys):
        raise InvalidInput(f"keys names at most {MAX_KEYS} metric keys of up to 250 characters.", field="keys")
    at = _choice(get("at") or "last", "at", AT)
    step = _int(get("step"), "step", 0, 2**62) if get("step") is not None else None
    if at == "step" and step is None:
        raise InvalidInput("at=step needs the step to read, e.g. step=1000.", field="step")
    smoothing = get("smoothing")
    try:
        smoothing = float(smoothing) if smoothing is not None else 0.0
    except (TypeError, ValueError):
        raise InvalidInput(f"smoothing must be a number from 0 to 0.99, got {smoothing!r}.", field="smoothing") from None
    if not 0 <= smoothing <= 0.99:
        raise InvalidInput(f"smoothing must be from 0 to 0.99, got {smoothing}.", field="smoothing")
    artifact = str(get("artifact") or "")
    if len(artifact) > 512:
        raise InvalidInput("artifact is a path of at most 512 characters.", field="artifact")
    return CompareOptions(
        runs=ids, keys=tuple(keys) or None, at=at, step=step,
        max_points=_int(get("max_points"), "max_points", 10, 2000) if get("max_points") is not None else None,
        sample=sample, x=_choice(get("x") or "step", "x", X_AXES), smoothing=smoothing,
        log=parse_bool(get("log") or False, "log"), all=parse_bool(get("all") or False, "all"),
        dims=tuple(_column(d, "dims") for d in _list(get("dims"), "dims"))[:30],
        scatter_x=_column(get("scatter_x") or "", "scatter_x"), scatter_y=_column(get("scatter_y") or "", "scatter_y"),
        artifact=artifact,
    )
