"""Presentation helpers for the web UI: Markdown, durations, status badges, values."""
from __future__ import annotations

import json
from typing import Any

import markdown as md
import nh3
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]


@register.filter
def render_markdown(text: str | None) -> SafeString:
    """A README as HTML. READMEs are written by other users, so the HTML that Markdown
    produces (raw HTML passes through it) is cleaned with nh3 before it is trusted:
    scripts, event handlers and javascript: links are removed."""
    if not text:
        return mark_safe("")
    html = md.markdown(text, extensions=MARKDOWN_EXTENSIONS, output_format="html")
    return mark_safe(nh3.clean(html))


@register.filter
def duration(seconds: float | None) -> str:
    """Compact durations for tables: 850ms, 12.3s, 4m 05s, 2h 03m."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.simple_tag
def status_badge(status: str | None) -> SafeString:
    status = status or "unknown"
    label = "waiting for quota" if status == "waiting" else status
    return format_html('<span class="badge status-{}">{}</span>', status, label)


@register.filter
def as_value(value: Any) -> str:
    """Show a parameter value as it would be typed: JSON for structures, bare strings."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@register.filter
def metric_number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.6g}"
