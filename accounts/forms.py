"""Web forms for accounts: they only shape input; the services hold the rules."""
from __future__ import annotations

from django import forms

from .models import Membership
from .services import ALL_SCOPES, DEFAULT_SCOPES


class SignupForm(forms.Form):
    username = forms.CharField(max_length=63, help_text="Lowercase letters, digits and '-'; also your namespace.")
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


class TeamForm(forms.Form):
    slug = forms.SlugField(label="Name", max_length=64, help_text="The namespace: lowercase letters, digits and '-'.")
    display_name = forms.CharField(max_length=128, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class TeamSettingsForm(forms.Form):
    display_name = forms.CharField(max_length=128, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class QuotaForm(forms.Form):
    """Empty: the site default; 0: no limit."""

    max_concurrent_runs = forms.IntegerField(min_value=0, required=False, label="Max concurrent runs")
    max_storage_bytes = forms.IntegerField(min_value=0, required=False, label="Max storage (bytes)")
    max_run_duration_s = forms.IntegerField(min_value=0, required=False, label="Max run duration (seconds)")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in ALL_SCOPES], initial=DEFAULT_SCOPES,
                                       widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False,
                                         help_text="Empty: never expires.")
