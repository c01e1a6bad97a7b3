"""OpenAPI shapes of the hub's clean REST API (/api/v1/hub/), for drf-spectacular.
Documentation only: hub.api builds its answers with repo_json and commit_json."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from .models import TagCategory

TAGS = ["hub"]

REPO = inline_serializer(
    "HubRepository",
    fields={
        "id": serializers.CharField(help_text="24-hex public id"),
        "type": serializers.ChoiceField(choices=["model", "dataset"]),
        "owner": serializers.CharField(),
        "name": serializers.CharField(),
        "full_name": serializers.CharField(help_text="owner/name"),
        "private": serializers.BooleanField(),
        "license": serializers.CharField(),
        "tags": inline_serializer(
            "HubRepositoryTags",
            fields={category: serializers.ListField(child=serializers.CharField()) for category in TagCategory.values},
        ),
        "downloads": serializers.IntegerField(),
        "head": serializers.CharField(allow_null=True, help_text="Id of the latest commit; null before the first"),
        "last_modified": serializers.DateTimeField(),
        "last_message": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
    },
)
REPO_PAGE = inline_serializer(
    "HubRepositoryPage",
    fields={
        "count": serializers.IntegerField(help_text="Matching repositories in all pages"),
        "page_size": serializers.IntegerField(),
        "results": REPO.__class__(many=True),
    },
)


def _commit_fields():
    return {
        "id": serializers.CharField(help_text="Commit id"),
        "parent": serializers.CharField(allow_null=True),
        "message": serializers.CharField(),
        "author": serializers.CharField(allow_null=True),
        "created_at": serializers.DateTimeField(),
    }


COMMIT = inline_serializer("HubCommit", fields=_commit_fields())
COMMITS = COMMIT.__class__(many=True)
UPLOAD_RESULT = inline_serializer(
    "HubUploadResult",
    fields={
        **_commit_fields(),
        "files": serializers.ListField(child=serializers.CharField(), help_text="Paths committed, sorted"),
    },
)

ERROR = OpenApiResponse(
    inline_serializer(
        "HubApiError",
        fields={
            "detail": serializers.CharField(),
            "type": serializers.CharField(required=False, help_text="Domain errors: NotFoundException, ..."),
        },
    ),
    description="Error: {detail} (and type for domain errors)",
)
READ_ERRORS = {400: ERROR, 404: ERROR}
WRITE_ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR}
