import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .api import json_404, json_500
from .errors import FlowdeckError, Forbidden, NotAuthenticated, NotFound


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_404(request)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_500(request)
    return render(request, "errors/500.html", status=500)


# --- HTML views: one place that turns domain errors into pages ----------------------------
def domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Render the domain exceptions a view lets escape as pages, never as tracebacks.

    Selectors raise NotFound for what the user may not see, so a hidden object and a
    missing one both answer 404 and nothing leaks.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except NotAuthenticated:
            return redirect_to_login(request.get_full_path())
        except Forbidden as exc:
            return render(request, "errors/403.html", {"message": exc.message}, status=403)
        except FlowdeckError as exc:
            context = {"message": exc.message, "status": exc.status}
            return render(request, "errors/error.html", context, status=exc.status)

    return wrapper
