"""The notifications page: newest first; POST marks them read."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .selectors import notification_list
from .services import notifications_mark_read

PAGE_SIZE = 50


@require_http_methods(["GET", "POST"])
@login_required
def notifications_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()] or None
        notifications_mark_read(user=request.user, ids=ids)
        return redirect("notifications")
    page = Paginator(notification_list(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/index.html", {"page": page})
