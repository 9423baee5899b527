"""The workers page: who serves which resource classes, and which classes nobody serves."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .routing import default_queue
from .selectors import worker_list


@require_GET
@login_required
def worker_list_page(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/workers.html", {
        "workers": worker_list(),
        "stale_after_s": settings.FLOWDECK_WORKER_STALE_S,
        "default_queue": default_queue(),
        "section": "runs",
    })
