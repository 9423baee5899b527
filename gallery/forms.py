"""The gallery's search and filter controls."""
from __future__ import annotations

from django import forms

from .selectors import SORTS

SORT_LABELS = {"updated": "Recently updated", "subscribers": "Most subscribers", "name": "Name"}


class GalleryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    tag = forms.CharField(required=False, max_length=100)
    sort = forms.ChoiceField(
        required=False, choices=[(key, SORT_LABELS.get(key, key)) for key in SORTS], initial="updated"
    )

    def criteria(self) -> dict[str, str]:
        """Keyword arguments for ``gallery_search``; a bad value falls back to no filter."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": (data.get("q") or "").strip(),
            "tag": (data.get("tag") or "").strip().lower(),
            "sort": data.get("sort") or "updated",
        }
