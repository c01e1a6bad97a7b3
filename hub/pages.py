"""Hub pages: browse (facets, search, sort, pages; htmx partial updates), a repository
(card, tags, files, revisions, usage snippet), create a repository, upload with progress."""

from urllib.parse import quote, urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError, NotFound
from core.preview import preview

from . import selectors, services
from .hf import resolve_url
from .models import RepoType, TagCategory
from .storage import open_blob

SORT_CHOICES = [
    ("trending", gettext_lazy("Trending")),
    ("downloads", gettext_lazy("Most downloads")),
    ("recent", gettext_lazy("Recently updated")),
    ("created", gettext_lazy("Recently created")),
    ("name", gettext_lazy("Name")),
]


def page_filters(request):
    """{category: [names]} from repeated query parameters (?task=a&task=b)."""
    filters = {}
    for category in TagCategory.values:
        names = [n for value in request.GET.getlist(category) for n in selectors.parse_filter_values(value)]
        if names:
            filters[category] = list(dict.fromkeys(names))
    return filters


def query_string(params):
    pairs = [(key, value) for key, values in params.items() for value in values if value not in ("", None)]
    return "?" + urlencode(pairs) if pairs else "?"


class BrowseForm(forms.Form):
    """The browse page's query; a value out of range falls back to its default."""

    q = forms.CharField(required=False)
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in selectors.SORTS])
    type = forms.ChoiceField(required=False, choices=RepoType.choices)
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def value(self, name, default):
        return (self.cleaned_data.get(name) if name not in self.errors else None) or default


def browse(request):
    try:
        filters = page_filters(request)
    except DomainError:
        filters = {}
    form = BrowseForm(request.GET)
    form.is_valid()
    search = form.value("q", "").strip()[: selectors.NAME_SEARCH_MAX]
    sort = form.value("sort", selectors.DEFAULT_SORT)
    repo_type = form.value("type", None)
    page = form.value("page", 1)
    qs = selectors.filtered_repositories(request.user, filters=filters, name=search, type=repo_type)
    rows, total = selectors.page_of(
        selectors.order_repositories(qs, sort).prefetch_related("tags"), page
    )
    base = {"q": [search], "sort": [sort if sort != selectors.DEFAULT_SORT else ""], "type": [repo_type or ""]}
    base.update({category: list(names) for category, names in filters.items()})

    def with_changes(**changes):
        params = {key: list(values) for key, values in base.items()}
        params.update(changes)
        return query_string(params)

    facets = []
    for category, items in selectors.facet_counts(request.user, filters=filters, name=search, type=repo_type).items():
        entries = []
        for name, count, active in items:
            current = list(filters.get(category, []))
            toggled = [n for n in current if n != name] if active else current + [name]
            entries.append({"name": name, "count": count, "active": active, "url": with_changes(**{category: toggled})})
        facets.append({"category": category, "label": TagCategory(category).label, "items": entries})
    pages = max(1, (total + selectors.PAGE_SIZE - 1) // selectors.PAGE_SIZE)
    context = {
        "rows": rows,
        "total": total,
        "facets": facets,
        "filters": filters,
        "search": search,
        "sort": sort,
        "sort_choices": SORT_CHOICES,
        "repo_type": repo_type or "",
        "page": page,
        "pages": pages,
        "prev_url": with_changes(page=[page - 1]) if page > 1 else None,
        "next_url": with_changes(page=[page + 1]) if page < pages else None,
        "clear_url": query_string({"q": [search], "type": [repo_type or ""]}),
        "hidden_filters": [(c, n) for c, names in filters.items() for n in names],
    }
    template = "hub/_results.html" if request.headers.get("HX-Request") else "hub/browse.html"
    return render(request, template, context)


def _repository_or_404(request, type, owner, name):
    if type not in RepoType.values:
        raise Http404("unknown repository type")
    try:
        return selectors.get_repository(request.user, type, owner, name)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def repository(request, type, owner, name):
    repo = _repository_or_404(request, type, owner, name)
    revision = request.GET.get("rev", "main")[:64] or "main"
    folder = request.GET.get("path", "").strip("/")
    commit = listing = None
    error = ""
    if repo.head is not None:
        try:
            if folder:
                folder = services.normalize_path(folder)
            commit = selectors.resolve_revision(repo, revision)
            listing = selectors.tree_listing(commit, folder)
        except DomainError as exc:
            error = exc.message
    metadata, card_html = selectors.render_card(selectors.readme_text(commit or repo.head))
    crumbs = []
    if folder:
        parts = folder.split("/")
        crumbs = [{"name": part, "path": "/".join(parts[: i + 1])} for i, part in enumerate(parts)]
    size, files = selectors.repository_size(commit or repo.head)
    rows = []
    for item in listing or []:
        rows.append(
            {
                **item,
                "url": resolve_url(repo, revision, item["path"]) if item["type"] == "file" else None,
                "view_url": reverse("hub:blob", kwargs={"type": repo.type, "owner": repo.owner.username,
                                                        "name": repo.name, "path": item["path"]})
                + f"?rev={quote(revision, safe='')}" if item["type"] == "file" else None,
            }
        )
    context = {
        "repo": repo,
        "tags": selectors.repo_tags_by_category(repo),
        "card_html": card_html,
        "license": metadata.get("license") if isinstance(metadata.get("license"), str) else repo.license,
        "commit": commit,
        "revision": revision,
        "folder": folder,
        "crumbs": crumbs,
        "rows": rows,
        "error": error,
        "commits": selectors.commits_of(repo, limit=20),
        "size": size,
        "file_count": files,
        "can_write": request.user.is_authenticated
        and (repo.owner_id == request.user.pk or request.user.is_platform_admin),
        "endpoint": request.build_absolute_uri("/").rstrip("/"),
        "repo_type_arg": ', repo_type="dataset"' if repo.type == RepoType.DATASET else "",
    }
    return render(request, "hub/repository.html", context)


class CreateRepositoryForm(forms.Form):
    name = forms.CharField(
        max_length=96, label=gettext_lazy("Name"),
        help_text=gettext_lazy("Letters, digits, '-', '_' and '.'; the full id is you/name."),
    )
    type = forms.ChoiceField(choices=RepoType.choices, initial=RepoType.MODEL, label=gettext_lazy("Type"))
    private = forms.BooleanField(
        required=False, label=gettext_lazy("Private"), help_text=gettext_lazy("Only you can see and download it.")
    )
    task = forms.CharField(
        required=False, label=gettext_lazy("Task"), help_text=gettext_lazy("Comma separated, e.g. Text Generation")
    )
    library = forms.CharField(required=False, label=gettext_lazy("Library"))
    dataset = forms.CharField(required=False, label=gettext_lazy("Dataset"))
    language = forms.CharField(required=False, label=gettext_lazy("Language"))
    other = forms.CharField(required=False, label=gettext_lazy("Other"))
    license = forms.CharField(
        max_length=64, required=False, label=gettext_lazy("License"), help_text=gettext_lazy("e.g. mit, apache-2.0")
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=5000, label=gettext_lazy("Description")
    )

    def tags(self):
        data = self.cleaned_data
        return {c: [n.strip() for n in data[c].split(",") if n.strip()] for c in TagCategory.values if data.get(c)}


@login_required
def create(request):
    form = CreateRepositoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            repo = services.create_repository(
                owner=request.user,
                name=data["name"],
                type=data["type"],
                private=data["private"],
                tags=form.tags(),
                license_name=data["license"],
                description=data["description"],
            )
        except DomainError as exc:
            form.add_error("name" if "name" in exc.message or "exists" in exc.message else None, exc.message)
        else:
            text = _("Created %(name)s. Upload files to publish a first revision.")
            messages.success(request, text % {"name": repo.full_name})
            return redirect("hub:repository", type=repo.type, owner=request.user.username, name=repo.name)
    vocabulary = selectors.label_vocabulary(request.user)
    return render(request, "hub/create.html", {"form": form, "vocabulary": vocabulary})


@login_required
def upload(request, type, owner, name):
    repo = _repository_or_404(request, type, owner, name)
    if repo.owner_id != request.user.pk and not request.user.is_platform_admin:
        raise PermissionDenied("only the owner can upload")
    context = {
        "repo": repo,
        # The Hugging Face write API (hub/hf_write.py): LFS batch for large files, then one commit.
        "batch_url": f"/{'' if repo.type == RepoType.MODEL else 'datasets/'}{quote(owner)}/{quote(name)}.git/info/lfs/objects/batch",
        "commit_url": f"/api/{repo.type}s/{quote(owner)}/{quote(name)}/commit/main",
        "repo_url": reverse("hub:repository", kwargs={"type": repo.type, "owner": owner, "name": name}),
        "folder": request.GET.get("path", "").strip("/")[:500],
    }
    return render(request, "hub/upload.html", context)


def _can_write(user, repo):
    return user.is_authenticated and (repo.owner_id == user.pk or user.is_platform_admin)


def blob(request, type, owner, name, path):
    """One file of a repository at a revision: its first rows, text or image (core.preview)."""
    repo = _repository_or_404(request, type, owner, name)
    revision = request.GET.get("rev", "main")[:64] or "main"
    try:
        path = services.normalize_path(path)
        commit = selectors.resolve_revision(repo, revision)
        entry = selectors.entry_at(commit, path)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    parts = path.split("/")
    context = {
        "repo": repo,
        "path": path,
        "revision": revision,
        "commit": commit,
        "size": entry.blob.size,
        "crumbs": [{"name": part, "path": "/".join(parts[: i + 1])} for i, part in enumerate(parts[:-1])],
        "file_name": parts[-1],
        "download_url": resolve_url(repo, revision, path),
        "preview": preview(name=path, size=entry.blob.size, open_file=lambda: open_blob(entry.blob)),
        "can_edit_card": path == "README.md" and _can_write(request.user, repo),
    }
    return render(request, "hub/blob.html", context)


class CardForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "mono"}), required=False,
                           max_length=512 * 1024, strip=False, label=gettext_lazy("README.md"))
    message = forms.CharField(max_length=200, required=False, label=gettext_lazy("Commit message"))


@login_required
def edit_card(request, type, owner, name):
    """Edit README.md (the model card; its YAML header sets the tags) and commit it to main."""
    repo = _repository_or_404(request, type, owner, name)
    if not _can_write(request.user, repo):
        raise PermissionDenied("only the owner can edit the card")
    current = selectors.readme_text(repo.head) if repo.head else ""
    form = CardForm(request.POST or None, initial={"text": current, "message": "Update README.md"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = SimpleUploadedFile("README.md", data["text"].encode("utf-8"), content_type="text/markdown")
        try:
            services.upload_files(repo=repo, user=request.user, uploads=[("README.md", upload)],
                                  message=data["message"] or "Update README.md")
        except DomainError as exc:
            form.add_error("text", exc.message)
        else:
            messages.success(request, _("The model card was saved as a new revision."))
            return redirect("hub:repository", type=repo.type, owner=repo.owner.username, name=repo.name)
    preview_html = selectors.render_card(form["text"].value() or "")[1] if request.method == "POST" else None
    return render(request, "hub/edit_card.html", {"repo": repo, "form": form, "preview_html": preview_html})


REPO = "hub/<str:type>/<str:owner>/<str:name>/"
urlpatterns = [
    path("hub/", browse, name="browse"),
    path("hub/new/", create, name="create"),
    path(REPO, repository, name="repository"),
    path(f"{REPO}upload/", upload, name="upload"),
    path(f"{REPO}blob/<path:path>", blob, name="blob"),
    path(f"{REPO}edit/README.md", edit_card, name="edit-card"),
]
