"""The clean API's one paginator (`/api/v1/` lists): `?limit=&offset=`, answered as
{"count", "next", "previous", "results"}; `limit` defaults to REST_FRAMEWORK["PAGE_SIZE"] and is
capped at `max_limit`. The spec facades page by their own fields (core.facades.PageInput)."""

from rest_framework.pagination import LimitOffsetPagination


class Page(LimitOffsetPagination):
    max_limit = 500
