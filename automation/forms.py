"""Forms for the workflow's automation page. They check only what a widget can; the
services apply the rules (cron, time zone, parameters, mapping, roles), and their errors
are put back on the field they name with ``add_domain_error``."""
from __future__ import annotations

import json
from typing import Any

from django import forms

from core.errors import FlowdeckError

LATEST = "latest"


class _JSONObjectField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"})

    def clean(self, value: Any) -> dict:
        text = (super().clean(value) or "").strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError("Write a JSON object, e.g. {\"n\": 5}.")
        return parsed


class _TargetForm(forms.Form):
    version = forms.ChoiceField(help_text="'latest' runs the newest version that is not yanked, at each run.")
    namespace = forms.ChoiceField(label="Runs go to", help_text="You need the editor or admin role there.")
    params = _JSONObjectField(required=False, label="Parameters", help_text='Fixed values, as JSON: {"n": 5}')
    name = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, versions: list[str], namespaces: list[str], default_namespace: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(LATEST, LATEST)] + [(v, v) for v in versions]
        self.fields["namespace"].choices = [(n, n) for n in namespaces]
        self.fields["namespace"].initial = default_namespace

    def add_domain_error(self, exc: FlowdeckError) -> None:
        """Show a service error on the field it names (``params.n`` on ``params``), else on the form."""
        name = (exc.field or "").split(".", 1)[0]
        self.add_error(name if name in self.fields else None, exc.message)


class ScheduleForm(_TargetForm):
    cron = forms.CharField(max_length=200, label="Cron", help_text="minute hour day-of-month month day-of-week, e.g. 0 3 * * *",
                           widget=forms.TextInput(attrs={"class": "mono", "placeholder": "0 3 * * *"}))
    timezone = forms.CharField(max_length=64, initial="UTC", label="Time zone", help_text="IANA name, e.g. Europe/Paris")
    skip_if_running = forms.BooleanField(required=False, initial=True, label="Skip a firing while the previous run is going")
    max_retries = forms.IntegerField(min_value=0, max_value=10, initial=0, label="Retries of a failed run")

    field_order = ["cron", "timezone", "version", "params", "skip_if_running", "max_retries", "namespace", "name"]


class TriggerForm(_TargetForm):
    mapping = _JSONObjectField(required=False, help_text='Parameter: path into the posted JSON, e.g. {"data_path": "$.object.key"}')

    field_order = ["version", "mapping", "params", "namespace", "name"]
