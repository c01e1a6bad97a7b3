"""The one rule of who may see a row, for every app's selectors.

A model whose rows belong to users declares its queryset as a `ScopedQuerySet` (as its manager,
`objects = RepositoryQuerySet.as_manager()`), saying what it shares:
- `owner_field`: the foreign key to the owning user ("owner");
- `public`: a lookup of the rows everyone may see, signed in or not (`{"private": False}`), or None;
- `team_visible`: whether members of the owner's team see the owner's rows;
- `ownerless_visible`: whether rows without an owner (shared lab records) are visible to every user;
- `shared`: a function user -> Q of rows shared with that user explicitly (a sharing table).

`qs.visible_to(user)` applies it: anonymous callers see only public rows; platform admins see every
row; a user sees their own, the public ones, their team's (where shared with teams) and those shared
with them. Selectors start from it (`Repository.objects.visible_to(user)`), so a new list, page or API
cannot forget the rule, and a rule change is one edit here.
"""

from django.db import models
from django.db.models import Q


class ScopedQuerySet(models.QuerySet):
    owner_field = "owner"
    public = None
    team_visible = False
    ownerless_visible = False
    shared = None

    def visible_to(self, user):
        if user is None or not getattr(user, "is_authenticated", False):
            return self.filter(**self.public) if self.public else self.none()
        if getattr(user, "is_platform_admin", False):
            return self
        scope = Q(**{self.owner_field: user})
        if self.public:
            scope |= Q(**self.public)
        if self.team_visible and getattr(user, "team_id", None):
            scope |= Q(**{f"{self.owner_field}__team_id": user.team_id})
        if self.ownerless_visible:
            scope |= Q(**{f"{self.owner_field}__isnull": True})
        if self.shared is not None:
            scope |= type(self).shared(user)
        return self.filter(scope)

    def owned_by(self, user):
        """Rows the user owns (what they may change; platform admins act through visible_to)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(**{self.owner_field: user})
