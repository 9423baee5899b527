"""Defining workflows: typed parameters and steps with declared dependencies."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import WorkflowError
from .spec import (
    DEFAULT_RESOURCE_CLASS, PARAM_TYPES, SpecError, ancestors, validate_added_step, validate_param, validate_spec,
)

_PY_TYPES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "json"}


class Param:
    """A typed workflow parameter.

    ``type`` is one of int, float, str, bool, list, dict (json), or a name from
    ``flowdeck.spec.PARAM_TYPES``; giving ``choices`` makes it an enum.
    """

    def __init__(
        self,
        name: str,
        type: Any = str,
        default: Any = None,
        *,
        required: bool = False,
        choices: Sequence[Any] | None = None,
        min: float | None = None,
        max: float | None = None,
        description: str = "",
    ) -> None:
        ptype = _PY_TYPES.get(type, type)
        if choices is not None and ptype in ("str", "int", "float"):
            ptype = "enum"
        if ptype not in PARAM_TYPES:
            raise WorkflowError(f"Parameter '{name}' has unknown type {type!r}.", f"params.{name}.type")
        self.name = name
        try:
            self.spec = validate_param(
                {
                    "name": name, "type": ptype, "default": default, "required": required,
                    "choices": list(choices) if choices is not None else None,
                    "min": min, "max": max, "description": description,
                },
                0,
            )
        except SpecError as exc:
            raise WorkflowError(exc.message, exc.field) from None


class Step:
    """A step: a function plus its place in the DAG. Call it like the function."""

    def __init__(self, fn: Callable | None, *, name: str, depends_on: list[str], outputs: list[str],
                 inputs: dict[str, str], retries: int, timeout_s: float | None, cache: bool,
                 when: str | None = None, resources: str = DEFAULT_RESOURCE_CLASS,
                 memory_mb: int | None = None, cpu_s: int | None = None) -> None:
        self.fn = fn
        self.name = name
        self.depends_on = depends_on
        self.outputs = outputs
        self.inputs = inputs
        self.retries = retries
        self.timeout_s = timeout_s
        self.cache = cache
        self.when = when
        self.resources = resources
        self.limits = {k: v for k, v in (("memory_mb", memory_mb), ("cpu_s", cpu_s)) if v is not None}
        if fn is not None:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name}>"

    def spec_extra(self) -> dict[str, Any]:
        return {}


class SubWorkflow(Step):
    """A step that runs the published workflow ``uses`` as a child run (see ``wf.subworkflow``)."""

    def __init__(self, *, name: str, uses: str, depends_on: list[str], inputs: dict[str, str],
                 params: dict[str, Any], outputs_from: dict[str, str], when: str | None, description: str) -> None:
        # Retries, timeouts, caching, resources and limits belong to the child's own steps.
        super().__init__(None, name=name, depends_on=depends_on, outputs=list(outputs_from), inputs=inputs,
                         retries=0, timeout_s=None, cache=False, when=when)
        self.uses = uses
        self.params = params
        self.outputs_from = outputs_from
        self.description = description

    def __call__(self, *args, **kwargs):
        raise WorkflowError(f"Step '{self.name}' runs the published workflow {self.uses}; it is not a function.")

    def __repr__(self) -> str:
        return f"<SubWorkflow {self.name} uses {self.uses}>"

    def spec_extra(self) -> dict[str, Any]:
        return {"uses": self.uses, "params": self.params, "outputs_from": self.outputs_from,
                "description": self.description}


class Workflow:
    """A DAG of steps with typed parameters.

    >>> wf = Workflow("churn-train", params=[Param("lr", float, 0.1)])
    >>> @wf.step(outputs=["data"])
    ... def load(): ...
    """

    def __init__(self, name: str, *, description: str = "", params: Iterable[Param] = ()) -> None:
        self.name = name
        self.description = description
        self.params: dict[str, Param] = {}
        for p in params:
            if p.name in self.params:
                raise WorkflowError(f"Parameter '{p.name}' is declared twice.", f"params.{p.name}")
            self.params[p.name] = p
        self.steps: dict[str, Step] = {}
        self._checked: dict[str, dict] = {}  # each step's spec, as validated when it was added
        self._deps: dict[str, list[str]] = {}
        self._position: dict[str, int] = {}
        # The file that defines the workflow: its folder is what local step caching hashes.
        caller = inspect.currentframe().f_back  # type: ignore[union-attr]
        self.source_file: str | None = caller.f_globals.get("__file__") if caller else None
        validate_spec({"name": name, "steps": [{"name": "probe", "fn": "m:f"}]})  # checks the name early

    # --- definition ------------------------------------------------------------------------------
    def step(
        self,
        fn: Callable | None = None,
        *,
        name: str | None = None,
        depends_on: Iterable[str | Step] = (),
        outputs: Iterable[str] = (),
        inputs: Mapping[str, str] | None = None,
        retries: int = 0,
        timeout_s: float | None = None,
        cache: bool = False,
        when: str | None = None,
        resources: str = DEFAULT_RESOURCE_CLASS,
        memory_mb: int | None = None,
        cpu_s: int | None = None,
    ):
        """Decorator that adds a step. Function arguments are bound by name to parameters
        or to outputs of upstream steps; ``inputs`` binds them explicitly
        (``{"data": "load.data", "lr": "params.lr"}``).

        ``when`` is a quality gate, e.g. ``"evaluate.metrics.accuracy >= params.min_accuracy"``:
        the step runs only if it holds, else it and everything after it are skipped.
        ``cache=True`` reuses the outputs of an earlier run of this step with the same code
        and inputs. ``resources`` names the kind of worker the step needs on the server
        (``"cpu"``, the default, ``"gpu"``, ``"highmem"`` or a class of your own); it waits
        until a worker serving that class is free. Local runs ignore it. ``memory_mb`` and
        ``cpu_s`` cap the step's address space and CPU seconds on the server (a step over
        them fails with MemoryError, or is killed)."""

        def decorate(func: Callable) -> Step:
            step_name = name or func.__name__
            deps = [d.name if isinstance(d, Step) else str(d) for d in depends_on]
            for dep in deps:
                if dep not in self.steps:
                    raise WorkflowError(
                        f"Step '{step_name}' depends on unknown step '{dep}' (define it first).",
                        f"steps.{step_name}.depends_on",
                    )
            if step_name in self.steps:
                raise WorkflowError(f"Step '{step_name}' is declared twice.", f"steps.{step_name}")
            step = Step(func, name=step_name, depends_on=deps, outputs=list(outputs),
                        inputs=self._bind(step_name, func, deps, dict(inputs or {})),
                        retries=retries, timeout_s=timeout_s, cache=cache, when=when, resources=resources,
                        memory_mb=memory_mb, cpu_s=cpu_s)
            self.steps[step_name] = step
            self._check(step_name)
            return step

        return decorate(fn) if fn is not None else decorate

    def subworkflow(
        self,
        name: str,
        *,
        uses: str,
        inputs: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        outputs: Mapping[str, str] | None = None,
        depends_on: Iterable[str | Step] = (),
        when: str | None = None,
        description: str = "",
    ) -> SubWorkflow:
        """Add a step that runs the published workflow ``uses`` (``namespace/name@X.Y.Z``) as a
        child run on the server.

        The child's parameters come from ``inputs``, references read like a step's inputs
        (``{"lr": "params.lr", "rows": "load.rows"}``; an upstream output must be a number,
        string, bool or null), and from ``params``, literal values (``{"epochs": 5}``).
        ``outputs`` names this step's outputs and the child step output each one is
        (``{"model": "fit.model"}``); downstream steps read them as usual. Returns the step,
        which ``depends_on`` of later steps accepts. Local runs (``wf.run``) refuse a
        sub-workflow step that would run: run the workflow on the server."""
        deps = [d.name if isinstance(d, Step) else str(d) for d in depends_on]
        for dep in deps:
            if dep not in self.steps:
                raise WorkflowError(f"Step '{name}' depends on unknown step '{dep}' (define it first).",
                                    f"steps.{name}.depends_on")
        if name in self.steps:
            raise WorkflowError(f"Step '{name}' is declared twice.", f"steps.{name}")
        step = SubWorkflow(name=name, uses=uses, depends_on=deps, inputs=dict(inputs or {}), params=dict(params or {}),
                           outputs_from=dict(outputs or {}), when=when, description=description)
        self.steps[name] = step
        self._check(name)
        return step

    def _bind(self, step_name: str, func: Callable, deps: list[str], explicit: dict[str, str]) -> dict[str, str]:
        upstream: set[str] = set()
        for dep in deps:
            if dep not in upstream:
                upstream.add(dep)
                upstream |= ancestors(self._deps, dep)
        in_order = sorted(upstream, key=self._order)  # the order they were defined in
        bound: dict[str, str] = {}
        for arg, param in inspect.signature(func).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if arg in explicit:
                bound[arg] = explicit.pop(arg)
            elif arg == "params":
                bound[arg] = "params"
            elif arg in self.params:
                bound[arg] = f"params.{arg}"
            else:
                producers = [n for n in in_order if arg in self.steps[n].outputs]
                if len(producers) > 1:
                    raise WorkflowError(
                        f"Step '{step_name}' argument '{arg}' is produced by several upstream steps "
                        f"({', '.join(producers)}); bind it with inputs={{'{arg}': '<step>.{arg}'}}.",
                        f"steps.{step_name}.inputs.{arg}",
                    )
                if producers:
                    bound[arg] = f"{producers[0]}.{arg}"
                elif param.default is inspect.Parameter.empty:
                    raise WorkflowError(
                        f"Step '{step_name}' argument '{arg}' is neither a parameter nor an output "
                        f"of an upstream step.",
                        f"steps.{step_name}.inputs.{arg}",
                    )
        if explicit:
            arg = next(iter(explicit))
            raise WorkflowError(f"Step '{step_name}' binds input '{arg}', which its function does not take.",
                                f"steps.{step_name}.inputs.{arg}")
        return bound

    def _order(self, name: str) -> int:
        return self._position[name]

    def _check(self, step_name: str) -> None:
        """Check the step just added against those before it (their checks hold: what they
        read was defined before them), or drop it and raise."""
        step = self.steps[step_name]
        try:
            checked = validate_added_step(self._entry(step, lambda s: "module:function"), self._checked,
                                          set(self.params), self._deps)
        except SpecError as exc:
            del self.steps[step_name]
            raise WorkflowError(exc.message, exc.field) from None
        self._position[step_name] = len(self._checked)
        self._checked[step_name] = checked
        self._deps[step_name] = checked["depends_on"]

    # --- the spec ----------------------------------------------------------------------------------
    def spec(self, *, fn_ref: Callable[[Step], str] | None = None, root: str | Path | None = None) -> dict:
        """The JSON spec the server stores. ``fn`` is ``module:function`` relative to ``root``."""
        ref = fn_ref or (lambda s: function_ref(s.fn, root))
        return {
            "schema_version": 1,
            "name": self.name,
            "description": self.description,
            "params": [p.spec for p in self.params.values()],
            "steps": [self._entry(s, ref) for s in self.steps.values()],
        }

    @staticmethod
    def _entry(s: Step, ref: Callable[[Step], str]) -> dict:
        return {
            "name": s.name, "fn": ref(s) if s.fn else None, "depends_on": s.depends_on, "inputs": s.inputs,
            "outputs": s.outputs, "retries": s.retries, "timeout_s": s.timeout_s, "cache": s.cache,
            "resources": s.resources, "when": s.when, "description": (inspect.getdoc(s.fn) or "").strip().split("\n")[0],
        } | s.limits | s.spec_extra()

    # --- running and publishing ----------------------------------------------------------------------
    def run(
        self, params: Mapping[str, Any] | None = None, *, quiet: bool = False, track_dir: str | Path | None = None,
        track: bool | None = None, steps: list[str] | None = None, inputs_from: Any = None,
        from_step: str | None = None, until: str | None = None,
    ):
        """Run steps in this process, in dependency order, printing each step's status.

        By default every step runs. ``steps=[...]`` runs only those; ``from_step``/``until``
        run a range of the DAG. Steps that are not run but are needed upstream take their
        outputs from the local run ``inputs_from`` (an id or a LocalRun), whose params are
        also the base that ``params`` override.

        Returns a :class:`flowdeck.local.LocalRun`. Parameters and the selection are checked
        before anything runs. Tracking goes to ``track_dir`` and, when a server is configured
        and ``track`` is not False, also to a run on the server (experiment = the workflow's name).
        """
        from .local import run_local

        return run_local(self, params, quiet=quiet, track_dir=track_dir, track=track, steps=steps,
                         inputs_from=inputs_from, from_step=from_step, until=until)

    def resume(self, run: Any, *, quiet: bool = False, track_dir: str | Path | None = None, track: bool | None = None):
        """Re-run the steps of a local run that did not succeed, and everything downstream of
        them, reusing the outputs of the steps that succeeded. Returns a new LocalRun."""
        from .local import run_local
        from .selection import find_run, resume_selection

        source = find_run(Path(track_dir or ".flowdeck/runs"), run)
        todo = resume_selection(self.spec(fn_ref=lambda s: "m:f")["steps"], source)
        if not todo:
            raise WorkflowError(f"Run {source.id} has no failed, stopped or skipped step; nothing to resume.", "run")
        return run_local(self, None, quiet=quiet, track_dir=track_dir, track=track, inputs_from=source.id,
                         selected=todo)

    def plan(self, params: Mapping[str, Any] | None = None, *, track_dir: str | Path | None = None,
             steps: list[str] | None = None, inputs_from: Any = None, from_step: str | None = None,
             until: str | None = None, quiet: bool = False):
        """Print, before anything runs, which steps will run, be reused or come from the cache,
        and why. Returns the list of StepPlan(step, action, reason)."""
        import sys

        from .plan import plan_local

        return plan_local(self, params, track_dir=track_dir, out=None if quiet else sys.stdout, steps=steps,
                          inputs_from=inputs_from, from_step=from_step, until=until)

    def publish(self, *, version: str | None = None, root: str | Path | None = None, **kwargs) -> dict:
        """Bundle the workflow's source folder and publish it to the configured server."""
        from .publish import publish_workflow

        return publish_workflow(self, version=version, root=root, **kwargs)


def function_ref(fn: Callable, root: str | Path | None) -> str:
    """``module:function`` for ``fn``, with the module named by its file's path under ``root``."""
    source = Path(inspect.getsourcefile(fn) or "").resolve()
    base = Path(root).resolve() if root else source.parent
    try:
        rel = source.relative_to(base).with_suffix("")
    except ValueError:
        raise WorkflowError(f"Step function {fn.__name__} is defined outside the bundle folder {base}.") from None
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return f"{'.'.join(parts)}:{fn.__name__}"
