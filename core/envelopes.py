"""Response envelopes of the spec facades, and the DRF exception handler that uses them.

A facade view sets `envelope = "hub"` (or plat, kernel, eval, server, sgt, chat, experiments); every
error it raises, DRF's own included (validation, authentication, throttling, parsing),
is then answered in that envelope. Error codes inside an envelope are the HTTP status
(400, 401, 403, 404, 409, 413, 429), so they never collide with the specs' success
codes (0 and 1).
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError


def body(kind, *, ok, message="", data=None, code=None):
    """The envelope dict of a spec. `code` is the spec's own code on success, the status on error."""
    if kind == "hub":
        return {"code": code, "msg": message, "data": data}
    if kind == "plat":
        return {"success": ok, "errorCode": code, "message": message, "result": data}
    if kind == "kernel":
        return {"success": ok, "returnCode": code, "message": message, "data": data}
    if kind in ("eval", "server"):
        return {"success": ok, "code": code, "message": message, "data": data}
    if kind == "chat":
        return {"code": code, "msg": message}
    raise ValueError(f"unknown envelope {kind!r}")


SUCCESS_CODES = {"hub": 1, "plat": 200, "kernel": 0, "eval": 0, "server": 0, "chat": 0}


def ok(kind, data=None, message="success", code=None, status_code=200, headers=None):
    if kind == "sgt":
        if data is None:
            # DRF renders None as an empty body; the SGT contract answers a JSON `null`.
            return HttpResponse(b"null", status=status_code, headers=headers, content_type="application/json")
        return Response(data, status=status_code, headers=headers)
    code = SUCCESS_CODES[kind] if code is None else code
    return Response(body(kind, ok=True, message=message, data=data, code=code), status=status_code, headers=headers)


def fail(kind, message, status_code=400, exception="ValidationException", headers=None, extra=None):
    """An error answer of `kind`. `extra`: what the experiments answers add beside their message (the
    view's `error_extra`, and `errors`, field -> problem, of an error that names several fields)."""
    if kind == "experiments":
        return Response({"message": message, **(extra or {})}, status=status_code, headers=headers)
    if kind == "sgt":
        # The SGT contract answers every error with status 400.
        return Response({"exception": exception, "message": message}, status=400, headers=headers)
    empty = "" if kind == "hub" else None
    return Response(
        body(kind, ok=False, message=message, data=empty, code=status_code), status=status_code, headers=headers
    )


def flatten_detail(detail, prefix=""):
    """DRF error detail (nested dicts and lists) as one readable line."""
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix
            parts.append(flatten_detail(value, name))
        return "; ".join(p for p in parts if p)
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            text = " ".join(str(item) for item in detail)
            return f"{prefix}: {text}" if prefix else text
        return "; ".join(flatten_detail(item, f"{prefix}[{i}]") for i, item in enumerate(detail) if item)
    return f"{prefix}: {detail}" if prefix else str(detail)


SGT_EXCEPTION_NAMES = {
    400: "ValidationException",
    401: "AuthException",
    403: "PermissionException",
    404: "NotFoundException",
    405: "MethodException",
    409: "ConflictException",
    413: "TooLargeException",
    415: "ValidationException",
    429: "ThrottledException",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "too_large"


def exception_handler(exc, context):
    view = context.get("view")
    kind = getattr(view, "envelope", None)
    # Django's request-size guards, met while DRF parses the body: answer them as JSON too.
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = exceptions.ParseError(str(exc))
    extra = dict(getattr(view, "error_extra", None) or {})
    if isinstance(exc, DomainError):
        if kind is None:
            return Response({"detail": exc.message, "type": exc.exception}, status=exc.status_code)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(getattr(exc, "errors", None), dict):
            extra["errors"] = exc.errors
        return fail(kind, exc.message, exc.status_code, exc.exception,
                    headers={"Retry-After": str(retry_after)} if retry_after else None, extra=extra)
    if kind is None:
        return drf_exception_handler(exc, context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    status_code = exc.status_code
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        status_code = status.HTTP_401_UNAUTHORIZED
    headers = {}
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    message = flatten_detail(exc.detail)
    if isinstance(exc.detail, dict) and "detail" in exc.detail:
        # simplejwt's InvalidToken: {"detail", "code", "messages": [{"message", ...}]}
        reasons = [str(m.get("message")) for m in exc.detail.get("messages", []) if isinstance(m, dict)]
        message = "; ".join([str(exc.detail["detail"])] + [r for r in reasons if r])
    return fail(kind, message, status_code, SGT_EXCEPTION_NAMES.get(status_code, "Exception"), headers=headers,
                extra=extra)
