"""The gallery's search and filter controls."""
from __future__ import annotations

from django import forms

from .selectors import SORTS

SORT_LABELS = {"updated": "Recently updated", "subscribers": "Most subscribed", "stars": "Most starred", "name": "Name"}


class GalleryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    tag = forms.CharField(required=False, max_length=100)
    namespace = forms.CharField(required=False, max_length=64)
    subscribed = forms.BooleanField(required=False, label="Subscribed by me")
    sort = forms.ChoiceField(
        required=False, choices=[(key, SORT_LABELS.get(key, key)) for key in SORTS], initial="updated"
    )

    def criteria(self) -> dict[str, str | bool]:
        """Keyword arguments for ``gallery_search``; a bad value falls back to no filter."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": (data.get("q") or "").strip(),
            "tag": (data.get("tag") or "").strip().lower(),
            "namespace": (data.get("namespace") or "").strip(),
            "subscribed": bool(data.get("subscribed")),
            "sort": data.get("sort") or "updated",
        }
