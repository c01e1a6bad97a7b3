"""The file-space page: /files/ (own private space), /files/public/<username>/... (public spaces)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path as url_path
from django.urls import reverse
from django.utils.http import urlencode

from core.errors import DomainError
from core.preview import preview

from . import selectors
from .models import Space
from .paths import normalize_path


def page_url(space, owner, path=""):
    if space == Space.PRIVATE:
        return reverse("files:private", args=[path]) if path else reverse("files:home")
    if path:
        return reverse("files:public-path", args=[owner.username, path])
    return reverse("files:public", args=[owner.username])


def download_url(space, owner, path):
    query = urlencode({"space": space, "owner": owner.username, "path": "/" + path})
    return f"{reverse('files:api-download')}?{query}"


def _file_page(request, space, owner, node):
    """A file of a space: its first rows, text or image (core.preview), with its download link."""
    context = {
        "space": space,
        "owner": owner,
        "node": node,
        "file_name": node.name,
        "download_url": download_url(space, owner, node.path),
        "crumbs": [{"name": name, "url": page_url(space, owner, p)}
                   for name, p in selectors.breadcrumbs(node.path.rpartition("/")[0])],
        "root_url": page_url(space, owner),
        "preview": preview(name=node.name, size=node.size,
                           open_file=lambda: selectors.open_file(owner, space, node.path)),
    }
    return render(request, "files/file.html", context)


def _space_page(request, space, owner, raw_path):
    try:
        selectors.check_read(request.user, owner, space)
        folder_path = normalize_path(raw_path)
        node = selectors.get_node(owner, space, folder_path)
        if node is not None and not node.is_dir:
            return _file_page(request, space, owner, node)
        entries = selectors.list_folder(owner, space, folder_path)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    rows = [
        {
            "node": node,
            "url": page_url(space, owner, node.path) if node.is_dir else download_url(space, owner, node.path),
            "view_url": None if node.is_dir else page_url(space, owner, node.path),
        }
        for node in entries
    ]
    crumbs = [{"name": name, "url": page_url(space, owner, p)} for name, p in selectors.breadcrumbs(folder_path)]
    context = {
        "space": space,
        "owner": owner,
        "path": folder_path,
        "display_path": "/" + folder_path,
        "rows": rows,
        "crumbs": crumbs,
        "root_url": page_url(space, owner),
        "here_url": page_url(space, owner, folder_path),
        "writable": selectors.can_write(request.user, owner, space),
        "is_own": owner.pk == request.user.pk,
    }
    if request.headers.get("HX-Request"):
        return render(request, "files/_listing.html", context)
    context["public_owners"] = (
        get_user_model().objects.filter(file_nodes__space=Space.PUBLIC).distinct().order_by("username")[:200]
        if space == Space.PUBLIC
        else []
    )
    return render(request, "files/space.html", context)


@login_required
def private_space(request, path=""):
    return _space_page(request, Space.PRIVATE, request.user, path)


@login_required
def public_space(request, username=None, path=""):
    owner = request.user
    if username and username != request.user.username:
        owner = get_user_model().objects.filter(username=username).first()
        if owner is None:
            raise Http404("No such user")
    return _space_page(request, Space.PUBLIC, owner, path)


urlpatterns = [
    url_path("files/", private_space, name="home"),
    url_path("files/private/<path:path>", private_space, name="private"),
    url_path("files/public/", public_space, name="public-home"),
    url_path("files/public/<str:username>/", public_space, name="public"),
    url_path("files/public/<str:username>/<path:path>", public_space, name="public-path"),
]

