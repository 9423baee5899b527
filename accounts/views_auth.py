"""Sign-up and a rate-limited login; Django's auth views do the rest (logout, password change)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import FlowdeckError, RateLimited

from .forms import SignupForm
from .ratelimit import auth_failed, auth_throttle
from .request_context import client_ip
from .services import user_create


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.FLOWDECK_SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off on this server.")
    if request.user.is_authenticated:
        return redirect("workspace")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            auth_throttle(ip=client_ip(request), username="", endpoint="signup")
            user = user_create(username=form.cleaned_data["username"], password=form.cleaned_data["password1"],
                               email=form.cleaned_data["email"])
        except RateLimited as exc:
            return render(request, "accounts/signup.html", {"form": form, "error": exc.message}, status=429)
        except FlowdeckError as exc:
            field = {"password": "password1"}.get(exc.field or "", exc.field)
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("workspace")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


class LoginView(auth_views.LoginView):
    """Django's login, with failed attempts per (address, username) and all attempts per
    address limited: past the limit the page answers 429 without checking the password."""

    def post(self, request, *args, **kwargs):
        username, ip = request.POST.get("username", ""), client_ip(request)
        try:
            auth_throttle(ip=ip, username=username, endpoint="login")
        except RateLimited as exc:
            response = self.get(request, *args, **kwargs)
            response.context_data["rate_limited"] = exc.message
            response.status_code = 429
            response["Retry-After"] = str(exc.retry_after)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: wrong username or password
            auth_failed(ip=ip, username=username, endpoint="login")
        return response

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signup_enabled": settings.FLOWDECK_SIGNUP_ENABLED}
