"""The log-batch hot path: a middleware that stores a bearer-token batch before the rest of
the middleware, URL resolution and DRF run.

A training loop's sender posts a batch every few milliseconds, and on this 2-core machine
the layers around the store (sessions, CSRF, messages, URL resolution over every app, DRF's
request, negotiation and renderer) cost about as much as storing 1,000 points. This path
does only what that request needs, with the same functions the API view calls:

- the token, by ``accounts.auth.bearer_authenticate`` (the DRF authentication class's own);
- its scopes, by ``accounts.permissions.token_refusal`` against ``LogBatchApi``'s settings;
- the body, decoded by orjson, and stored by ``runs.services.tracking.log_batch_body``.

It only ever answers success. Anything else (no or a bad token, a missing scope, a body
that is not strict JSON or not a JSON object, any refusal or error from the service) hands
the same request on down the chain, where the API view answers it in the one error shape,
with its status. Nothing was written by then: a batch is stored by one statement or one
transaction, or not at all. Requests that do not authenticate with a bearer token (a
browser session, which CSRF protects) never take this path.

It sits just after SecurityMiddleware and XFrameOptionsMiddleware, so HTTPS redirects and
security headers apply to it as to every response. ``FLOWDECK_FAST_INGEST=0`` turns it off.
"""
from __future__ import annotations

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.auth import bearer_authenticate, bearer_plaintext
from accounts.permissions import token_refusal
from core.errors import FlowdeckError

from .api import LogBatchApi
from .services.tracking import log_batch_body


class LogBatchFastPath:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        # The route's own path, from the URLconf: /api/v1/runs/<id>/log-batch.
        head, _, tail = reverse("api:log-batch", kwargs={"run_id": 0}).rpartition("/0/")
        self.head, self.tail = head + "/", "/" + tail

    def __call__(self, request: HttpRequest):
        if settings.FLOWDECK_FAST_INGEST and request.method == "POST" and "HTTP_AUTHORIZATION" in request.META:
            run_id = self._run_id(request.path_info)
            if run_id is not None:
                response = self._store(request, run_id)
                if response is not None:
                    return response
        return self.get_response(request)

    def _run_id(self, path: str) -> int | None:
        if not (path.startswith(self.head) and path.endswith(self.tail)):
            return None
        middle = path[len(self.head):len(path) - len(self.tail)]
        return int(middle) if middle.isascii() and middle.isdigit() else None

    def _store(self, request: HttpRequest, run_id: int) -> HttpResponse | None:
        """The stored batch's response, or None to let the API view answer."""
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it
            if request.content_type != "application/json":
                return None
            plaintext = bearer_plaintext(request.META["HTTP_AUTHORIZATION"])
            token = bearer_authenticate(plaintext) if plaintext else None
            if token is None or token_refusal(token, LogBatchApi, safe=False):
                return None
            body = orjson.loads(request.body)  # refuses NaN and Infinity, as the view's parser does
            stored = log_batch_body(user=token.user, token=token, run_id=run_id, body=body)
        except (FlowdeckError, DisallowedHost, RequestDataTooBig, orjson.JSONDecodeError):
            return None
        return HttpResponse(b'{"stored":true}' if stored else b'{"stored":false}', content_type="application/json")
