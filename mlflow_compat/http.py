"""The plumbing every MLflow endpoint shares: authentication, reading the request (JSON body,
or the query string for GETs, as the mlflow client sends them), paging tokens, and answering
in MLflow's JSON with MLflow's error shape. No endpoint ever answers a traceback."""
from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from core.errors import FlowdeckError

from .auth import Caller, caller_get
from .errors import INTERNAL_ERROR, PERMISSION_DENIED, MlflowError, error_response, from_flowdeck, invalid

log = logging.getLogger(__name__)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Params:
    """A request's fields: the JSON body, or the query string of a GET (lists repeat keys)."""

    def __init__(self, request: HttpRequest, *, read_body: bool = True) -> None:
        self._query = request.GET if request.method == "GET" else None
        self._body: dict = {}
        if self._query is None and read_body and request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                raise invalid("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise invalid("The request body must be a JSON object.")
            self._body = body

    def raw(self, name: str, default=None):
        if self._query is not None:
            return self._query.get(name, default)
        return self._body.get(name, default)

    def list(self, name: str) -> list:
        if self._query is not None:
            return self._query.getlist(name)
        value = self._body.get(name) or []
        if not isinstance(value, list):
            raise invalid(f"'{name}' must be a list.")
        return value

    def str(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return default
        if not isinstance(value, str):
            raise invalid(f"Invalid value {value!r} for parameter '{name}': a string is expected.")
        return value

    def int(self, name: str, *, default: int | None = None, required: bool = False) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return default
        return as_int(value, name)

    def bool(self, name: str, *, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(f"Invalid value {value!r} for parameter '{name}': true or false is expected.")


def as_int(value, name: str) -> int:
    """An int64 sent as a JSON number or as its decimal text (proto's JSON form)."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value {value!r} for parameter '{name}': an integer is expected.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise invalid(f"Invalid value {value!r} for parameter '{name}': an integer is expected.") from None
    if not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise invalid(f"Invalid value {value!r} for parameter '{name}': an int64 is expected.")
    return value


# --- paging: an opaque token holding the offset of the next page ---------------------------------
def page_token_read(token: str) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid(f"Invalid page token {token!r}.") from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {token!r}.")
    return offset


def page_token_make(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def max_results(params: Params, *, default: int, limit: int) -> int:
    n = params.int("max_results", default=default)
    if n is None or n <= 0:
        n = default
    if n > limit:
        raise invalid(f"Invalid value {n} for parameter 'max_results' supplied. It must be at most {limit}.")
    return n


# --- answering --------------------------------------------------------------------------------------
def json_response(data: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data, separators=(",", ":")), status=status, content_type="application/json")


class Request:
    """What a handler gets: the caller, the parsed fields and the Django request."""

    def __init__(self, caller: Caller | None, params: Params, http: HttpRequest) -> None:
        self.caller = caller
        self.params = params
        self.http = http

    @property
    def user(self):
        return self.caller.user

    @property
    def token(self):
        return self.caller.token


def endpoint(*methods: str, public: bool = False, run_token: bool = False, read_body: bool = True) -> Callable:
    """Make ``fn(request: Request, **url_kwargs) -> dict | HttpResponse`` an MLflow endpoint.

    ``public`` skips authentication (health, version); ``run_token`` lets a run-scoped token
    (a workflow step's) call it, the selectors then holding it to its own run; ``read_body``
    False leaves the body unread (an artifact upload streams it)."""
    allowed = {m.upper() for m in methods}

    def wrap(fn: Callable) -> Callable:
        @csrf_exempt
        @wraps(fn)
        def view(request: HttpRequest, **kwargs) -> HttpResponseBase:
            if request.method not in allowed:
                response = error_response(MlflowError("ENDPOINT_NOT_FOUND", f"{request.method} is not allowed here."))
                response.status_code = 405
                return response
            try:
                caller = None
                if not public:
                    caller = caller_get(request, write=request.method not in ("GET", "HEAD"))
                    if caller.run_scoped and not run_token:
                        raise MlflowError(PERMISSION_DENIED, "A workflow step's token may only reach its own run.")
                params = Params(request, read_body=read_body)
                result = fn(Request(caller, params, request), **kwargs)
            except MlflowError as exc:
                return error_response(exc)
            except FlowdeckError as exc:
                return error_response(from_flowdeck(exc))
            except RequestDataTooBig:
                return error_response(invalid("The request body is too large; send smaller batches."))
            except Exception:
                log.exception("unhandled MLflow API error on %s", request.path)
                return error_response(MlflowError(INTERNAL_ERROR, "Internal server error."))
            if isinstance(result, HttpResponseBase):
                return result
            return json_response(result)

        return view

    return wrap
