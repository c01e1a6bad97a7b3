"""The answer of an error of the experiments facade and clean API: `{"message"}` naming the field,
plus `errors` (field -> problem) for an invalid parameter table, and the view's `error_extra`
(the task log adds `"data": []`). Set as each view's exception handler."""

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.envelopes import flatten_detail
from core.errors import DomainError

from .profiles import ParameterErrors


def experiments_exception_handler(exc, context):
    extra = dict(getattr(context.get("view"), "error_extra", {}) or {})
    if isinstance(exc, ParameterErrors):
        exc = exc.under("Parameters")  # the spec (and the tools) send the table as `Parameters`
    if isinstance(exc, DomainError):
        body = {"message": exc.message, **extra}
        if isinstance(exc, ParameterErrors):
            body["errors"] = exc.errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if not isinstance(exc, exceptions.APIException):
        return None
    status_code = exc.status_code
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        status_code = status.HTTP_401_UNAUTHORIZED
    headers = {"Retry-After": str(int(exc.wait))} if getattr(exc, "wait", None) else {}
    return Response({"message": flatten_detail(exc.detail), **extra}, status=status_code, headers=headers)
