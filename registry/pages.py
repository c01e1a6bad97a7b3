"""Registry pages: the caller's model applications and one application with its versions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from core.errors import DomainError
from files.selectors import folder_paths
from hub import selectors as hub_selectors
from training import selectors as training_selectors

from . import selectors, services
from .forms import NewVersionForm


@login_required
def application_list(request):
    search = request.GET.get("q", "").strip()[:96]
    qs = selectors.search_applications(request.user, name=search)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "registry/list.html", {"page": page, "search": search})


@login_required
def application_detail(request, uid):
    try:
        app = selectors.get_application_for_user(request.user, uid, field="id")
    except DomainError:
        raise Http404("No such application") from None
    versions = list(selectors.versions_of(app))
    for version in versions:  # lineage by name: the run that produced it and that run's base model
        task_id = version.train_task_version_id or version.llm_fine_tune_task_id
        task = (training_selectors.llm_tasks(request.user).filter(pk=int(task_id)).first()
                if str(task_id).isdigit() else None)
        version.origin = {"task": task, "lineage": training_selectors.lineage(task)} if task else None
    return render(
        request,
        "registry/detail.html",
        {"app": app, "versions": versions, "hub_url": selectors.hub_page_url(app)},
    )


@login_required
def new_version(request):
    """A new version (and application) from a hub model or a folder of one's files."""
    form = NewVersionForm(request.POST or None, initial={"application": request.GET.get("application", "")[:96]})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["source"] == "hub":
                repo = hub_selectors.find_repository(request.user, data["hub_model"].strip(), type="model")
                version = services.register_hub_snapshot(owner=request.user, application_name=data["application"],
                                                         source_repo=repo, description=data["description"])
            else:
                version = services.register_files_folder(owner=request.user, application_name=data["application"],
                                                         folder=data["folder"], description=data["description"])
        except DomainError as exc:
            form.add_error("hub_model" if data["source"] == "hub" and "not found" in exc.message else None,
                           exc.message)
        else:
            if version.status == 2:
                text = _("Version %(version)s of %(application)s is registered.")
            else:
                text = _("Version %(version)s of %(application)s is registered; its files are being imported.")
            messages.success(request, text % {"version": version.version, "application": version.application.name})
            return redirect("registry:detail", uid=version.application.uid)
    context = {
        "form": form,
        "hub_models": hub_selectors.repository_choices(request.user),
        "folders": folder_paths(request.user),
    }
    return render(request, "registry/new.html", context, status=400 if form.errors else 200)


urlpatterns = [
    path("registry/", application_list, name="list"),
    path("registry/new/", new_version, name="new"),
    path("registry/<str:uid>/", application_detail, name="detail"),
]
