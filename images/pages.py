"""Image pages: the caller's images (search, status, tags) and one image with its tags and layers."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from . import selectors
from .models import ImageStatus


# The spec's status names are Chinese (未上传, 成功, ...) and stay so in API answers; pages show
# these, in the page's language.
STATUS_LABELS = {
    ImageStatus.EMPTY: _("Not uploaded"),
    ImageStatus.SUCCESS: _("Ready"),
    ImageStatus.IMPORTING: _("Importing"),
    ImageStatus.FAILED: _("Failed"),
}


def status_of(image):
    return ImageStatus(image.latest_status if image.latest_status is not None else ImageStatus.EMPTY)


def status_label(status):
    return STATUS_LABELS[ImageStatus(status)]


@login_required
def image_list(request):
    search = request.GET.get("q", "").strip()[:128]
    qs = selectors.search_images(request.user, [search] if search else [])
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    rows = [
        (image, status_of(image), selectors.human_size(image.latest_size or 0), status_label(status_of(image)))
        for image in page
    ]
    return render(request, "images/list.html", {"page": page, "rows": rows, "search": search})


@login_required
def image_detail(request, uid):
    try:
        image = selectors.get_image_for_user(request.user, uid)
    except DomainError:
        raise Http404("No such image") from None
    tags = [(tag, selectors.human_size(tag.size), status_label(tag.status)) for tag in selectors.tags_of(image)]
    versions = image.model_versions.select_related("application").order_by("-created_at")[:20]
    return render(
        request,
        "images/detail.html",
        {
            "image": image,
            "status": status_of(image),
            "status_label": status_label(status_of(image)),
            "tags": tags,
            "versions": versions,
        },
    )


urlpatterns = [
    path("images/", image_list, name="list"),
    path("images/<str:uid>/", image_detail, name="detail"),
]
