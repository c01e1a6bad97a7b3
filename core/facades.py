"""The kit every spec facade (`<app>/compat.py`) is built from.

A facade translates a spec's vocabulary (its paths, camelCase fields, envelopes and codes) to the
app's services, and their answers back; the services never see the spec. One operation is one
`FacadeView`:

    class FindImagesView(FacadeView):
        envelope = "plat"                       # every answer and error in this envelope
        tags = ["platform images (images)"]

        class Input(PageInput):                 # pageNum/pageSize by the one rule, plus the fields
            imageName = NameList(required=False)
            userId = UserIdCheck()              # a userId is a check, never a switch of user

        class Output(serializers.Serializer):   # the shape of `data` (documentation and answer)
            ...

        @facade(summary="List images", output=Output(many=False))
        def post(self, request):
            data = self.input(request)          # validated, in the app's terms
            ...
            return self.answer(result, message="success")

- `input(request)` reads the body through DRF's one JSON parser (core.parsers: depth, NaN and
  size limits), requires a JSON object, and validates it with the view's `Input` serializer (query
  parameters too when `query_params = True`); a serializer error is a 400 in the view's envelope
  (core.envelopes.exception_handler) naming the spec's field.
- `PageInput`: `pageNum` and `pageSize`, integers (a numeric string is accepted, a bool is not);
  missing or 0 means the first page and the default size; negative or past the maximum is a 400.
  `page(qs, data)` answers `(total, rows)` of that page through Django's Paginator.
- `UserIdCheck`: a `userId`/`username` field checked against the signed-in user (403 otherwise);
  `input()` leaves it out of the validated data (the user is `request.user`).
- Input fields carry the domain's name as their `source` (`fileUrl = Text(source="file_url")`),
  so the validated data are the service's keyword arguments; a service's error naming a field
  (`InvalidInput(..., field="file_url")`) is answered with the spec's name for it ("fileUrl: ...").
- `envelope_schema(kind, data)`: the OpenAPI schema of an envelope whose `data` is a serializer, so
  the document is generated from the serializers the view answers with.
"""

from django.core.paginator import EmptyPage, Paginator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.views import APIView

from .envelopes import SUCCESS_CODES, ok
from .errors import DomainError, Forbidden, InvalidInput

PAGE_SIZE_DEFAULT = 10
PAGE_SIZE_MAX = 100
PAGE_NUM_MAX = 1_000_000
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429)

# The field names of each envelope: (ok flag, code, message, data); None where it has none.
ENVELOPE_FIELDS = {
    "hub": (None, "code", "msg", "data"),
    "plat": ("success", "errorCode", "message", "result"),
    "kernel": ("success", "returnCode", "message", "data"),
    "eval": ("success", "code", "message", "data"),
    "server": ("success", "code", "message", "data"),
    "chat": (None, "code", "msg", None),
}

# sgt and experiments answer the data itself (sgt: the object, a list, or null; experiments:
# {"message", ...}) and errors in their own shapes: sgt {"exception", "message"} (status 400,
# core.envelopes.fail), experiments {"message"} plus `errors` (field -> problem) for invalid
# parameters and `data: []` on the task log (experiments.compat answers them).
BARE_ERRORS = {
    "sgt": lambda: {"exception": serializers.CharField(), "message": serializers.CharField()},
    "experiments": lambda: {
        "message": serializers.CharField(help_text="what went wrong, naming the field"),
        "errors": serializers.DictField(child=serializers.CharField(), required=False,
                                        help_text="invalid parameters only: field path -> problem"),
        "data": serializers.ListField(child=serializers.JSONField(), required=False, max_length=0,
                                      help_text="the task log's errors: an empty list"),
    },
}
NULL_ANSWER = {"type": "object", "nullable": True, "enum": [None], "description": "null"}


class StrictInteger(serializers.IntegerField):
    """An integer, or a string of digits; never a bool or a float with a fraction."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class Text(serializers.CharField):
    """A string, and only a string (DRF's CharField would turn 12 or true into text). Whitespace is
    kept: trimming and the rules for names belong to the services."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string")
        return super().to_internal_value(data)


class PageInput(serializers.Serializer):
    """pageNum and pageSize by one rule: missing or 0 is the first page and the default size."""

    pageNum = StrictInteger(required=False, allow_null=True, min_value=0, max_value=PAGE_NUM_MAX,
                            help_text="from 1; missing or 0: the first page")
    pageSize = StrictInteger(required=False, allow_null=True, min_value=0, max_value=PAGE_SIZE_MAX,
                             help_text=f"default {PAGE_SIZE_DEFAULT}, at most {PAGE_SIZE_MAX}")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs["pageNum"] = attrs.get("pageNum") or 1
        attrs["pageSize"] = attrs.get("pageSize") or PAGE_SIZE_DEFAULT
        return attrs


def page(qs, data):
    """(total, items) of the page `data` names (PageInput's validated data); past the end: no items."""
    paginator = Paginator(qs, data["pageSize"], allow_empty_first_page=True)
    try:
        items = list(paginator.page(data["pageNum"]).object_list)
    except EmptyPage:
        items = []
    return paginator.count, items


@extend_schema_field(OpenApiTypes.STR)
class UserIdCheck(serializers.Field):
    """A user id or username in a body: checked against the signed-in user, never a switch of user.
    Needs the request in the serializer's context (FacadeView.input passes it)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", "checked against the signed-in user")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data in (None, ""):
            return None
        if not isinstance(data, (str, int)) or isinstance(data, bool):
            raise serializers.ValidationError("must be a user id or username")
        user = self.context["request"].user
        if str(data) not in (str(user.pk), user.username):
            raise Forbidden(f"{self.field_name} does not match the signed-in user")
        return user

    def to_representation(self, value):
        return value


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 20}]})
class NameList(serializers.Field):
    """A name or a list of names (substring searches): a list of at most 20 stripped strings."""

    def __init__(self, *, max_length=128, **kwargs):
        self.max_length = max_length
        kwargs.setdefault("help_text", "a name or a list of names")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data in (None, ""):
            return []
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list) or len(data) > 20 or not all(
            isinstance(n, str) and len(n) <= self.max_length for n in data
        ):
            raise serializers.ValidationError(f"a name or a list of at most 20 names of {self.max_length} characters")
        return [n.strip() for n in data if n.strip()]

    def to_representation(self, value):
        return value


def spec_names(serializer, prefix="", spec_prefix=""):
    """{domain source path: spec field path} of a serializer's writable fields, nested too."""
    names = {}
    for name, field in serializer.fields.items():
        if field.read_only or field.source == "*":
            continue
        source, spec = f"{prefix}{field.source}", f"{spec_prefix}{name}"
        names[source] = spec
        child = getattr(field, "child", field)
        if isinstance(child, serializers.Serializer):
            names.update(spec_names(child, f"{source}.", f"{spec}."))
    return names


_ERROR_SCHEMAS = {}


def error_schema(kind):
    """The OpenAPI serializer of a `kind` envelope carrying an error (one component per envelope)."""
    if kind not in _ERROR_SCHEMAS:
        name = f"{kind.capitalize()}Error"
        _ERROR_SCHEMAS[kind] = (inline_serializer(name, fields=BARE_ERRORS[kind]()) if kind in BARE_ERRORS
                                else envelope_schema(kind, None, name=name))
    return _ERROR_SCHEMAS[kind]


def envelope_schema(kind, data=None, *, name):
    """The OpenAPI serializer of a `kind` envelope whose data is `data` (a serializer, or None);
    for the bare kinds (sgt, experiments) the answer is `data` itself (null when None)."""
    if kind in BARE_ERRORS:
        return NULL_ANSWER if data is None else data
    flag, code, message, payload = ENVELOPE_FIELDS[kind]
    fields = {}
    if flag:
        fields[flag] = serializers.BooleanField()
    fields[code] = serializers.IntegerField(help_text=f"{SUCCESS_CODES[kind]} on success, the HTTP status on error")
    fields[message] = serializers.CharField()
    if payload:
        fields[payload] = data if data is not None else serializers.JSONField(allow_null=True)
    return inline_serializer(name, fields=fields)


def facade(*, summary, input=None, output=None, name=None, **kwargs):
    """extend_schema for a FacadeView method: the request is `input` (default: the view's Input),
    the 200 answer is the view's envelope around `output`, and every error status is the envelope
    without data. Applied by FacadeView to the view's http method (see FacadeView.__init_subclass__)."""

    def decorate(method):
        method._facade_schema = {"summary": summary, "input": input, "output": output, "name": name, **kwargs}
        return method

    return decorate


class FacadeView(APIView):
    envelope = None  # "hub" | "plat" | "kernel" | "eval" | "server" | "chat"
    tags = None
    query_params = False  # also read the query string (where a spec puts fields there)
    Input = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for method_name in ("get", "post", "put", "patch", "delete"):
            method = cls.__dict__.get(method_name)
            schema = getattr(method, "_facade_schema", None)
            if schema is None:
                continue
            schema = dict(schema)
            base = schema.pop("name") or cls.__name__.removesuffix("View")
            request = schema.pop("input") or (cls.Input() if cls.Input else None)
            output = schema.pop("output")
            # A view's nested Input and Output classes are named after the view in the document.
            for serializer, suffix in ((request, ""), (output, "Result")):
                serializer_class = type(serializer)
                if serializer is not None and serializer_class.__qualname__.startswith(f"{cls.__name__}."):
                    extend_schema_serializer(component_name=f"{base}{suffix}")(serializer_class)
            envelope = envelope_schema(cls.envelope, output, name=f"{base}Answer")
            error = error_schema(cls.envelope)
            errors = {code: OpenApiResponse(error, description="the error, in the envelope") for code in ERROR_STATUSES}
            setattr(cls, method_name, extend_schema(
                tags=cls.tags, request=request if method_name != "get" else None,
                parameters=[request] if method_name == "get" and request is not None else None,
                responses={200: envelope, **errors}, **schema,
            )(method))

    def input(self, request, serializer_class=None):
        """The request's fields validated by `Input` (a serializer error is a 400 in the envelope)."""
        serializer_class = serializer_class or self.Input
        data = request.data
        if request.method == "GET":
            data = {}
        elif not isinstance(data, dict):
            raise InvalidInput("the body must be a JSON object")
        if self.query_params or request.method == "GET":
            data = {**request.query_params.dict(), **(data.dict() if hasattr(data, "dict") else data)}
        serializer = serializer_class(data=data, context={"request": request, "view": self})
        serializer.is_valid(raise_exception=True)
        checks = {f.source for f in serializer.fields.values() if isinstance(f, UserIdCheck)}
        return {key: value for key, value in serializer.validated_data.items() if key not in checks}

    # Domain field names a service may name that the Input serializer does not map (domain -> spec).
    spec_fields = {}

    def handle_exception(self, exc):
        if isinstance(exc, DomainError) and exc.field:
            exc.rename(self.spec_field(exc.field))
        return super().handle_exception(exc)

    def spec_field(self, field):
        """The spec's name for the domain's `field`: the view's `spec_fields`, else the Input field
        whose `source` it is (dotted for nested serializers), else the domain name itself."""
        if field in self.spec_fields:
            return self.spec_fields[field]
        return spec_names(self.Input()).get(field, field) if self.Input else field

    def answer(self, data=None, *, message="success", code=None, status_code=200):
        return ok(self.envelope, data, message=message, code=code, status_code=status_code)


# --- serving: a model's fields under a spec's names -------------------------------------------


class SpecModelSerializer(serializers.ModelSerializer):
    """An Output serializer of a model under a spec's names: Meta.fields are the spec's names,
    Meta.renamed maps those that differ to the model field they read ({"createTime": "created_at"}),
    and Meta.time_format, if set, is how its times are written. Types and nullability come from the model."""

    def get_extra_kwargs(self):
        renamed = {spec: {"source": field} for spec, field in getattr(self.Meta, "renamed", {}).items()}
        return {**renamed, **super().get_extra_kwargs()}

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if issubclass(field_class, serializers.DateTimeField) and getattr(self.Meta, "time_format", None):
            kwargs["format"] = self.Meta.time_format
        return field_class, kwargs


# --- added with evaluation and registry: optional text, strict booleans, checks in nested objects ---


def optional_text(**kwargs):
    """A Text field a body may leave out, or send as null or empty."""
    return Text(required=False, allow_blank=True, allow_null=True, **kwargs)


class StrictBoolean(serializers.BooleanField):
    """true or false, and only those (DRF's BooleanField also takes "yes", 1 or "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("must be true or false")
        return data


class CheckedObject(serializers.Serializer):
    """A nested object of an Input that has UserIdCheck fields (input() drops those of the top level
    only): its checks are dropped once passed, and so are its null fields."""

    def validate(self, attrs):
        return {k: v for k, v in attrs.items() if v is not None and not isinstance(self.fields.get(k), UserIdCheck)}
