"""Reads of the hub: visibility, listing with filters, revisions and trees, model cards."""

import hashlib
import re
import shutil
from pathlib import Path

import yaml
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db.models import Count, Exists, OuterRef, Q, Sum

from core.errors import InvalidInput, NotFound
from core.markdown import render_markdown

from .models import Blob, Commit, ListGeneration, Ref, RefKind, Repository, RepoType, Tag, TagCategory, TreeEntry
from .storage import open_blob
from .vocabulary import canonical

PAGE_SIZE = 30
# Sort names of the repository lists (Hugging Face's: trending, likes, downloads, modified,
# created, alphabetical, plus short forms) -> ordering.
SORTS = {
    "trending": ("-downloads", "-last_modified", "-id"),
    "likes": ("-downloads", "-last_modified", "-id"),
    "downloads": ("-downloads", "-last_modified", "-id"),
    "recent": ("-last_modified", "-id"),
    "modified": ("-last_modified", "-id"),
    "updated": ("-last_modified", "-id"),
    "created": ("-created_at", "-id"),
    "name": ("full_name", "id"),
    "alphabetical": ("full_name", "id"),
}
DEFAULT_SORT = "trending"
NAME_SEARCH_MAX = 200
COMMIT_HEX_RE = re.compile(r"^[0-9a-f]{7,40}\Z")


class RepoNotFound(NotFound):
    hf_code = "RepoNotFound"


class RevisionNotFound(NotFound):
    hf_code = "RevisionNotFound"


class EntryNotFound(NotFound):
    hf_code = "EntryNotFound"


# --- visibility -----------------------------------------------------------------


def visible_repositories(user):
    """Public repositories, plus the caller's own private ones (all of them for platform admins)."""
    return Repository.objects.visible_to(user)


def repository_choices(user, type=RepoType.MODEL, limit=300):
    """Full names of the repositories a picker offers: the user's own first, then public ones."""
    qs = visible_repositories(user).filter(type=type)
    own = list(qs.filter(owner=user).order_by("full_name").values_list("full_name", flat=True)[:limit])
    others = qs.exclude(owner=user).order_by("-downloads", "full_name").values_list("full_name", flat=True)
    return own + list(others[: max(0, limit - len(own))])


def split_full_name(full_name):
    if not isinstance(full_name, str) or full_name.count("/") != 1:
        raise InvalidInput("name must be owner/name")
    owner, name = full_name.split("/")
    if not owner or not name:
        raise InvalidInput("name must be owner/name")
    return owner, name


def get_repository(user, type, owner, name):
    """The repository, or RepoNotFound when it does not exist or the caller may not see it."""
    repo = (
        visible_repositories(user)
        .select_related("owner", "head")
        .filter(type=type, owner__username=owner, name=name)
        .first()
    )
    if repo is None:
        raise RepoNotFound(f"{type} {owner}/{name} not found")
    return repo


def find_repository(user, full_name, type=None):
    """By "owner/name"; without a type a model is preferred over a dataset of the same name."""
    owner, name = split_full_name(full_name)
    if type:
        return get_repository(user, type, owner, name)
    for candidate in (RepoType.MODEL, RepoType.DATASET):
        try:
            return get_repository(user, candidate, owner, name)
        except RepoNotFound:
            continue
    raise RepoNotFound(f"{full_name} not found")


# --- listing ----------------------------------------------------------------------


def label_vocabulary(user):
    """{category: [display names]}: the tags no repository holds yet (the lab's vocabulary) and those
    of repositories the user can see; a private repository's tags are not shown to anyone else."""
    tagged = Repository.tags.through.objects.filter(tag_id=OuterRef("pk"))
    seen = tagged.filter(repository__in=visible_repositories(user))
    tags = Tag.objects.filter(~Exists(tagged) | Exists(seen)).order_by("id")
    vocabulary = {category: [] for category in TagCategory.values}
    for category, name in tags.values_list("category", "name"):
        vocabulary[category].append(name)
    return vocabulary


def parse_filter_values(value):
    """A filter parameter: one tag name, or several separated by commas (all must match)."""
    if value in (None, ""):
        return []
    if not isinstance(value, str) or len(value) > 1000:
        raise InvalidInput("filter values must be tag names")
    return [v.strip() for v in value.split(",") if v.strip()]


def filtered_repositories(user, *, filters=None, name="", type=None, exclude_category=None):
    """Visible repositories matching tag filters {category: [names]}, a name search and a type."""
    qs = visible_repositories(user)
    if type:
        qs = qs.filter(type=type)
    if name:
        if len(name) > NAME_SEARCH_MAX:
            raise InvalidInput(f"must be at most {NAME_SEARCH_MAX} characters", field="name")
        qs = qs.filter(full_name__icontains=name)
    return with_tags(qs, {c: names for c, names in (filters or {}).items() if c != exclude_category})


def with_tags(qs, tags):
    """The repositories of `qs` holding every tag of {category: [names]}, a tag by its display name
    or its id in any spelling (hub.vocabulary: "English" and "en")."""
    wanted = {(category, canonical(category, name)[0]) for category, names in tags.items() for name in names}
    if not wanted:
        return qs
    condition = Q()
    for category, slug in wanted:
        condition |= Q(category=category, slug=slug)
    tag_ids = list(Tag.objects.filter(condition).values_list("id", flat=True))
    if len(tag_ids) < len(wanted):
        return qs.none()  # a tag nobody uses yet matches nothing
    # One semi-join for all tags: the repositories holding every one of them, found on the
    # (tag_id, repository_id) index; no join per tag, no duplicates, no DISTINCT.
    tagged = Repository.tags.through.objects.filter(tag_id__in=tag_ids)
    if len(tag_ids) > 1:
        tagged = tagged.values("repository_id").annotate(n=Count("id")).filter(n=len(tag_ids))
    return qs.filter(pk__in=tagged.values("repository_id"))


def order_repositories(qs, sort):
    sort = sort or DEFAULT_SORT
    if sort not in SORTS:
        raise InvalidInput(f"must be one of: {', '.join(SORTS)}", field="sort")
    return qs.order_by(*SORTS[sort])


COUNT_CACHE_SECONDS = 300


def cached_count(qs):
    """qs.count(), cached per query (its SQL: filters, visibility, type) under the current
    ListGeneration, which every change of a list's membership moves on (hub.signals): a
    cached count is served only while it is still exact."""
    generation = ListGeneration.objects.filter(pk=1).values_list("value", flat=True).first()
    if generation is None:
        return qs.count()
    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:
        return 0
    key = "hub:count:%d:%s" % (generation, hashlib.sha1(repr((sql, params)).encode()).hexdigest())
    total = cache.get(key)
    if total is None:
        total = qs.count()
        cache.set(key, total, COUNT_CACHE_SECONDS)
    return total


def page_of(qs, page_index, page_size=PAGE_SIZE):
    """(rows, total) of a 1-based page."""
    total = cached_count(qs)
    start = (page_index - 1) * page_size
    if start == 0:
        return list(qs.select_related("owner")[:page_size]), total
    # A deferred join for later pages: the page's ids first (on PostgreSQL an index-only scan
    # of the sort's covering index, skipping `start` entries without touching the table),
    # then their rows, in the same order.
    ids = list(qs.values_list("pk", flat=True)[start : start + page_size])
    rows = qs.model.objects.filter(pk__in=ids).order_by(*qs.query.order_by).select_related("owner")
    if isinstance(qs.query.select_related, dict):
        rows = rows.select_related(*_select_related_paths(qs.query.select_related))
    return list(rows.prefetch_related(*qs._prefetch_related_lookups)), total


def _select_related_paths(tree, prefix=""):
    for name, children in tree.items():
        path = f"{prefix}{name}"
        yield path
        yield from _select_related_paths(children, prefix=f"{path}__")


def facet_counts(user, *, filters, name="", type=None):
    """{category: [(tag name, count, active)]} over the repositories the other filters select."""
    facets = {}
    for category in TagCategory.values:
        qs = filtered_repositories(user, filters=filters, name=name, type=type, exclude_category=category)
        rows = (
            Tag.objects.filter(category=category, repositories__in=qs)
            .values("name")
            .annotate(n=Count("repositories"))
            .order_by("-n", "name")[:30]
        )
        active = {canonical(category, name)[1] for name in filters.get(category, [])}
        facets[category] = [(row["name"], row["n"], row["name"] in active) for row in rows]
    return facets


def repo_tags_by_category(repo, *, ids=False):
    """{category: [display names]} of a repository's tags; with ids, their Hugging Face ids."""
    tags = {category: [] for category in TagCategory.values}
    for tag in repo.tags.all():
        tags[tag.category].append(tag.slug if ids else tag.name)
    return tags


# --- revisions and trees --------------------------------------------------------------


def resolve_revision(repo, revision):
    """The commit named by a branch (main, or another; also as refs/heads/<name>), a tag
    (also refs/tags/<name>), a full commit id or an unambiguous prefix (7+ hex)."""
    revision = revision or "main"
    kinds = (RefKind.BRANCH, RefKind.TAG)
    if revision.startswith("refs/heads/"):
        revision, kinds = revision[len("refs/heads/") :], (RefKind.BRANCH,)
    elif revision.startswith("refs/tags/"):
        revision, kinds = revision[len("refs/tags/") :], (RefKind.TAG,)
    if revision == "main" and RefKind.BRANCH in kinds:
        if repo.head is None:
            raise RevisionNotFound(f"{repo.full_name} has no commits yet")
        return repo.head
    for kind in kinds:
        ref = Ref.objects.select_related("commit").filter(repo=repo, kind=kind, name=revision).first()
        if ref is not None:
            return ref.commit
    if COMMIT_HEX_RE.match(revision):
        matches = list(Commit.objects.filter(repo=repo, oid__startswith=revision)[:2])
        if len(matches) == 1:
            return matches[0]
    raise RevisionNotFound(f"revision {revision!r} not found in {repo.full_name}")


def refs_of(repo):
    """{"branches": [(name, commit)], "tags": [(name, commit)]}; main first when it has a commit."""
    refs = {"branches": [], "tags": []}
    if repo.head is not None:
        refs["branches"].append(("main", repo.head))
    for ref in Ref.objects.filter(repo=repo).select_related("commit").order_by("name"):
        refs["branches" if ref.kind == RefKind.BRANCH else "tags"].append((ref.name, ref.commit))
    return refs


def history(repo, commit):
    """The commits reachable from `commit` through its parents, newest first."""
    commits = {c.pk: c for c in Commit.objects.filter(repo=repo).select_related("author")}
    chain = []
    current = commits.get(commit.pk)
    while current is not None:
        chain.append(current)
        current = commits.get(current.parent_id)
    return chain


def lfs_blob_available(repo, blob):
    """Whether a commit to `repo` may name `blob` by sha256: it was given to the repository
    through the LFS API, or one of the repository's commits already holds it."""
    return blob.lfs_objects.filter(repo=repo).exists() or TreeEntry.objects.filter(blob=blob, commit__repo=repo).exists()


def commits_of(repo, limit=100):
    return list(Commit.objects.filter(repo=repo).select_related("author")[:limit])


def entry_at(commit, path):
    entry = TreeEntry.objects.select_related("blob").filter(commit=commit, path=path).first()
    if entry is None:
        raise EntryNotFound(f"{path} not found at {commit.oid[:8]}")
    return entry


def tree_listing(commit, path="", recursive=False):
    """Files and folders under `path` at a commit: a list of dicts
    {"type": "file"|"directory", "path", "name", "entry" (files), "last_commit"}."""
    path = path.strip("/")
    prefix = f"{path}/" if path else ""
    entries = TreeEntry.objects.filter(commit=commit).select_related("blob", "last_commit")
    if prefix:
        entries = entries.filter(path__startswith=prefix)
    files = []
    folders = {}
    for entry in entries:
        rest = entry.path[len(prefix) :]
        parts = rest.split("/")
        if recursive:
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                _newest(folders, folder, entry.last_commit)
            files.append(_file_item(entry))
        elif len(parts) == 1:
            files.append(_file_item(entry))
        else:
            _newest(folders, prefix + parts[0], entry.last_commit)
    if path and not files and not folders:
        raise EntryNotFound(f"{path} not found at {commit.oid[:8]}")
    listing = [{"type": "directory", "path": p, "name": p.rsplit("/", 1)[-1], "last_commit": c}
               for p, c in sorted(folders.items())]
    return listing + sorted(files, key=lambda item: item["path"])


def _file_item(entry):
    return {"type": "file", "path": entry.path, "name": entry.path.rsplit("/", 1)[-1], "entry": entry,
            "last_commit": entry.last_commit}


def _newest(folders, folder, commit):
    current = folders.get(folder)
    if current is None or (commit.created_at, commit.pk) > (current.created_at, current.pk):
        folders[folder] = commit


def folder_oid(commit, path):
    """A stable id for a folder of a commit (Hugging Face lists folders with an oid)."""

    return hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()


# --- model cards ------------------------------------------------------------------


def readme_text(commit):
    if commit is None:
        return ""
    entry = TreeEntry.objects.select_related("blob").filter(commit=commit, path="README.md").first()
    if entry is None:
        return ""
    with open_blob(entry.blob) as handle:
        return handle.read(settings.HUB_CARD_MAX_BYTES).decode("utf-8", errors="replace")


def split_front_matter(text):
    """(metadata dict, body) of a README with an optional YAML header between '---' lines."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            header = "".join(lines[1:index])
            try:
                data = yaml.safe_load(header) or {}
            except yaml.YAMLError:
                return {}, text
            return (data if isinstance(data, dict) else {}), "".join(lines[index + 1 :])
    return {}, text


def render_card(text):
    """README body (front matter removed) as safe HTML: raw HTML escaped, then sanitised (core.markdown)."""
    metadata, body = split_front_matter(text)
    return metadata, render_markdown(body)


# --- storage use --------------------------------------------------------------------


def storage_usage(user):
    """(bytes, files) a user stores in the hub: distinct blobs of all commits of their repositories."""
    blobs = Blob.objects.filter(entries__commit__repo__owner=user).distinct()
    totals = Blob.objects.filter(pk__in=blobs.values("pk")).aggregate(total=Sum("size"), n=Count("id"))
    return totals["total"] or 0, totals["n"] or 0


def repository_size(commit):
    if commit is None:
        return 0, 0
    totals = TreeEntry.objects.filter(commit=commit).aggregate(total=Sum("blob__size"), n=Count("id"))
    return totals["total"] or 0, totals["n"] or 0


# --- copying a repository out -------------------------------------------------------------


def materialize(repo, dest, *, commit=None):
    """Write the files of `repo` at `commit` (default: its head) into the folder `dest` (created),
    as `from_pretrained` and `load_dataset` read them; entries without content are skipped. The one
    copy of a hub repository into a work folder, for training, evaluation, serving and the registry."""
    commit = commit or repo.head
    if commit is None:
        raise InvalidInput(f"{repo.full_name} has no commits")
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    for entry in commit.entries.select_related("blob"):
        if entry.blob_id is None:
            continue
        target = (root / entry.path).resolve()
        if root not in target.parents:  # paths are normalised on write; belt and braces
            raise InvalidInput(f"refusing to write outside the work folder: {entry.path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_blob(entry.blob) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    return root


def materialize_repository(user, full_name, dest, *, type=None):
    """materialize() of the repository `full_name` that `user` can read (404 for others)."""
    return materialize(find_repository(user, full_name, type=type), dest)
