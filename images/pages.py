"""Image pages: the caller's images (search, status, tags), one image with its tags and layers, and
importing a tarball uploaded from the page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from core.errors import DomainError
from files import services as files
from files.uploads import SizeCapHandler

from . import selectors, services
from .models import ImageStatus

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz")


class ImportForm(forms.Form):
    name = forms.CharField(max_length=128, label=_("Image name"), help_text=_("A new name creates the image."))
    tag = forms.CharField(max_length=128, initial="latest", label=_("Tag"))
    tarball = forms.FileField(label=_("Tarball"), help_text=_("docker save / podman save output (.tar, .tar.gz); "
                                                             "kept in your files under /images/."))


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
    form = getattr(request, "import_form", None) or ImportForm()
    error = getattr(request, "import_error", "")
    return render(request, "images/list.html",
                  {"page": page, "rows": rows, "search": search, "form": form, "import_error": error},
                  status=400 if form.errors or error else 200)


@csrf_exempt  # checked below, once the upload handlers are in place (Django reads the body for the token)
@login_required
@require_POST
def import_tarball(request):
    request.upload_handlers = [SizeCapHandler(request), TemporaryFileUploadHandler(request)]
    try:
        return _import_tarball(request)
    except DomainError as exc:  # the tarball passed the per-file limit while it was received
        return _list_with_errors(request, ImportForm(), exc.message)


def _list_with_errors(request, form, error=""):
    request.import_form, request.import_error = form, error
    request.method = "GET"
    return image_list(request)


@csrf_protect
def _import_tarball(request):
    """Store the uploaded tarball in the caller's private files (/images/<image>-<tag>.tar...) and
    import it as a tag of the image (created when new): the same services as the spec's import."""
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        name = data["tarball"].name.lower()
        suffix = next((s for s in TARBALL_SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            form.add_error("tarball", _("choose a .tar, .tar.gz or .tgz file"))
        else:
            try:
                image = services.image_for_upload(owner=request.user, name=data["name"])
                tag = services.clean_tag(data["tag"])
                target = files.target_path("images", f"{image.name}-{tag}{suffix}".replace("/", "_"), field="tarball")
                files.upload_files(actor=request.user, owner=request.user, space="private", folder="images", uploads=[files.Upload(path=target, content=data["tarball"])])
                services.start_import(owner=request.user, image=image, file_url="/" + target, tag=tag)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Importing %(image)s:%(tag)s; the tag turns ready when it is verified.")
                                 % {"image": image.name, "tag": tag})
                return redirect("images:detail", uid=image.uid)
    return _list_with_errors(request, form)


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
            "importing": any(row[0].status == ImageStatus.IMPORTING for row in tags),
        },
    )


urlpatterns = [
    path("images/", image_list, name="list"),
    path("images/import/", import_tarball, name="import"),
    path("images/<str:uid>/", image_detail, name="detail"),
]
