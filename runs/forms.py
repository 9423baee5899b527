"""The run form: one field per workflow parameter, built from the version's spec.

The form checks only what a widget can (a whole number, a choice); the spec's own rules
(bounds, JSON, list parsing, required values) are applied by ``run_start`` so the web,
the API and the CLI refuse the same values with the same message. Errors the service
raises are put back on the field they name with ``add_domain_error``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django import forms

from core.errors import FlowdeckError

PARAM_PREFIX = "param"
RUN_NAME = "run-name"


def _initial_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False)


def param_field(pdef: Mapping[str, Any]) -> forms.Field:
    """The form field for one parameter definition from a spec."""
    name, ptype, default = pdef["name"], pdef["type"], pdef.get("default")
    lo, hi = pdef.get("min"), pdef.get("max")
    common: dict[str, Any] = {
        "label": name,
        "help_text": pdef.get("description") or "",
        # A parameter with a default can be left blank: the default then applies.
        "required": bool(pdef.get("required")) and default is None,
    }
    if ptype == "int":
        return forms.IntegerField(
            initial=default, min_value=lo, max_value=hi,
            error_messages={"invalid": f"Parameter '{name}' expects a whole number."}, **common,
        )
    if ptype == "float":
        field = forms.FloatField(
            initial=default, min_value=lo, max_value=hi,
            error_messages={"invalid": f"Parameter '{name}' expects a number."}, **common,
        )
        field.widget.attrs["step"] = "any"
        return field
    if ptype == "bool":
        common["required"] = False  # an unticked box is a real False, never "missing"
        return forms.BooleanField(initial=bool(default), **common)
    if ptype == "enum":
        choices = [(str(c), str(c)) for c in pdef.get("choices") or []]
        if not common["required"] and default is None:
            choices = [("", "—")] + choices
        return forms.ChoiceField(choices=choices, initial=None if default is None else str(default), **common)
    if ptype == "str":
        return forms.CharField(initial=default, strip=False, **common)
    # json and list: typed as text and parsed by the spec rules in run_start.
    hint = "A JSON value." if ptype == "json" else "Comma-separated values, or a JSON list."
    common["help_text"] = f"{common['help_text']} {hint}".strip()
    return forms.CharField(
        initial=_initial_text(default), widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}), **common
    )


class RunStartForm(forms.Form):
    """Parameters for one run of a workflow version, plus an optional run name."""

    def __init__(self, param_defs: Sequence[Mapping[str, Any]], *args, **kwargs) -> None:
        kwargs.setdefault("prefix", PARAM_PREFIX)
        super().__init__(*args, **kwargs)
        self.param_defs = list(param_defs)
        for pdef in self.param_defs:
            self.fields[pdef["name"]] = param_field(pdef)
        # A key no parameter can have (they are identifiers), so the two never collide.
        self.fields[RUN_NAME] = forms.CharField(
            label="Run name", required=False, max_length=200, help_text="Optional; shown in run lists."
        )

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[p["name"]] for p in self.param_defs]

    @property
    def run_name_field(self) -> forms.BoundField:
        return self[RUN_NAME]

    def run_name(self) -> str:
        return self.cleaned_data.get(RUN_NAME) or ""

    def param_values(self) -> dict[str, Any]:
        """The values to hand to ``run_start``; blank fields are left out so defaults apply."""
        values: dict[str, Any] = {}
        for pdef in self.param_defs:
            value = self.cleaned_data.get(pdef["name"])
            if value is None or value == "":
                continue
            values[pdef["name"]] = value
        return values

    def add_domain_error(self, exc: FlowdeckError) -> None:
        """Show a service error on the parameter it names (``params.<name>``), else on the form."""
        field = exc.field or ""
        name = field.removeprefix("params.") if field.startswith("params.") else None
        self.add_error(name if name in self.fields else None, exc.message)
