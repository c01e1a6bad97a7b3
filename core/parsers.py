"""The one JSON body parser: every API view (DRF's default JSON parser) and every view that
reads a body itself goes through `parse_json`.

Refused with a 400, in the endpoint's envelope: bytes that are not UTF-8 JSON, nesting
deeper than JSON_MAX_DEPTH (arrays and objects; Python's own parser would otherwise
raise RecursionError, a 500, on 50,000 "[" in a row), strings with a lone surrogate
escape ("\ud800": not text, and a UnicodeEncodeError wherever it is stored or hashed)
and the non-standard NaN, Infinity and -Infinity literals unless a caller allows them.
"""

import json

from django.conf import settings
from django.http import JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation

from core.errors import InvalidInput


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _is_text(string):
    if string.isascii():
        return True
    try:
        string.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tree(value, limit, what):
    """InvalidInput if arrays/objects in `value` nest deeper than `limit` or a string (key or
    value) is not encodable text. Iterative: no recursion however deep the value."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                raise InvalidInput(f"{what}: a string holds a lone surrogate (\\ud800-\\udfff), which is not text")
            if "\x00" in item:
                raise InvalidInput(f"{what}: a string holds a NUL character (\\u0000), which no text field stores")
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise InvalidInput(f"{what}: JSON nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, str)))


def parse_json(raw, *, max_depth=None, allow_nan=False, what="request body"):
    """The value of the JSON text `raw` (bytes or str); InvalidInput (400) when it is not
    UTF-8, not JSON, nested deeper than `max_depth` (default settings.JSON_MAX_DEPTH), has
    a lone surrogate or a NUL in a string or holds NaN/Infinity (unless `allow_nan`)."""
    limit = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what}: not UTF-8 text") from None
    if not isinstance(raw, str):
        raise InvalidInput(f"{what}: must be JSON text")
    try:
        value = json.loads(raw, parse_constant=None if allow_nan else _refuse_constant)
    except RecursionError:
        raise InvalidInput(f"{what}: JSON nested deeper than {limit} levels") from None
    except ValueError as exc:
        raise InvalidInput(f"{what}: invalid JSON ({exc})") from None
    _check_tree(value, limit, what)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on top of `parse_json` (settings: REST_FRAMEWORK DEFAULT_PARSER_CLASSES)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        try:
            if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
                try:
                    raw = raw.decode(encoding)
                except (LookupError, UnicodeDecodeError):
                    raise InvalidInput(f"request body: not {encoding} text") from None
            return parse_json(raw)
        except InvalidInput as exc:
            raise ParseError(f"JSON parse error - {exc.message}") from None


NUL_MESSAGE = "the query string holds a NUL character (%00)"


def query_has_nul(request):
    return "%00" in request.META.get("QUERY_STRING", "") or any("\x00" in v for v in request.GET.values())


class RejectNulQuery(DefaultContentNegotiation):
    """DRF's content negotiation (the first step of every API view, before authentication),
    which also refuses a query string with a NUL character as a ParseError, so that each view
    answers it in its own envelope (the spec facades', OpenAI's, the Hugging Face API's)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if query_has_nul(request):
            raise ParseError(NUL_MESSAGE)
        return super().select_renderer(request, renderers, format_suffix)


class RejectNulMiddleware:
    """400 for a query string that holds a NUL character (%00): no text field can store one
    (PostgreSQL refuses it), so it can only be an attack or a broken client, and it must never
    reach a query as a 500. API views (DRF) refuse it themselves, in their envelope
    (RejectNulQuery); this covers the rest (pages, file transfers). Bodies are checked by
    `parse_json` and the form validators."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "cls", None) is not None:  # a DRF view: RejectNulQuery answers
            return None
        if query_has_nul(request):
            return JsonResponse({"detail": NUL_MESSAGE, "code": 400}, status=400)
        return None
