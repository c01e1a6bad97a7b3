"""Registry pages: the caller's model applications and one application with its versions."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import path

from core.errors import DomainError

from . import selectors


@login_required
def application_list(request):
    search = request.GET.get("q", "").strip()[:96]
    qs = selectors.filtered_applications(request.user, {"name": search})
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "registry/list.html", {"page": page, "search": search})


@login_required
def application_detail(request, uid):
    try:
        app = selectors.get_application_for_user(request.user, uid, field="id")
    except DomainError:
        raise Http404("No such application") from None
    versions = selectors.versions_of(app)
    return render(
        request,
        "registry/detail.html",
        {"app": app, "versions": versions, "hub_url": selectors.hub_page_url(app)},
    )


urlpatterns = [
    path("registry/", application_list, name="list"),
    path("registry/<str:uid>/", application_detail, name="detail"),
]
