import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from core.models import ACTIVE_STATUSES
from core.parsers import parse_json

from . import selectors, services
from .forms import CloneForm, CreateModelForm, TrainingDataForm


def _visible_model(request, pk):
    try:
        return selectors.model_for_page(request.user, pk)
    except NotFound as exc:
        raise Http404("model not found") from exc



def _own_model(request, pk):
    """A model the user owns; 404 for anyone else's, public or not (they may only read and clone it)."""
    model = _visible_model(request, pk)
    if model.owner_id != request.user.pk:
        raise Http404("model not found")
    return model

@login_required
def my_models(request):
    form = CreateModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # Made on a page: the author id is the username (the API uses the key's secret id).
            model = services.create_model(request.user, request.user.username, name=data["name"],
                                          app_name=data["app_name"], model_type=data["model_type"],
                                          in_size=data["in_size"], out_size=data["out_size"],
                                          is_public=data["is_public"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Created %(name)s. Add training rows to train it.")
                             % {"name": f"{model.app_name}/{model.name}"})
            return redirect("sgt:model", pk=model.pk)
    return render(
        request,
        "sgt/my_models.html",
        {"models": selectors.models_of(request.user), "model_types": selectors.model_types_described(),
         "create_form": form},
    )


@login_required
def public_models(request):
    return render(request, "sgt/public_models.html", {"models": selectors.public_models().select_related("owner")})


@login_required
@require_POST
def clone(request, pk):
    """Copy a public model (or one's own) into one's models, under a new name."""
    source = _visible_model(request, pk)
    form = CloneForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give your copy a name."))
        return redirect("sgt:model", pk=source.pk)
    try:
        copy = services.clone_model(request.user, request.user.username, author_unique_id=source.user_unique_id,
                                    app_name=source.app_name, name=source.name,
                                    new_name=form.cleaned_data["new_name"])
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("sgt:model", pk=source.pk)
    messages.success(request, _("Cloned into %(name)s.") % {"name": f"{copy.app_name}/{copy.name}"})
    return redirect("sgt:model", pk=copy.pk)


@login_required
@require_POST
def add_training_data(request, pk):
    """Append rows (a CSV or JSON file, or pasted rows) and, by default, queue training."""
    model = _own_model(request, pk)
    form = TrainingDataForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            model, job = services.upload_train_data(request.user, model.app_name, model.name,
                                                    form.cleaned_data["train_data"], train=form.cleaned_data["train"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            added = len(form.cleaned_data["train_data"])
            if job:
                text = ngettext("Added %(count)d row; training is queued.", "Added %(count)d rows; training is queued.",
                                added)
            else:
                text = ngettext("Added %(count)d row.", "Added %(count)d rows.", added)
            messages.success(request, text % {"count": added})
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("sgt:model", pk=model.pk)


@login_required
def training_status(request, pk):
    """htmx: the state and jobs panel, polled while a job is queued or running."""
    model = _visible_model(request, pk)
    context = _status_context(model)
    response = render(request, "sgt/_training_status.html", context)
    if not context["active"] and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # training ended: reload for the new loss chart and run form
    return response


def _status_context(model):
    jobs = list(selectors.recent_jobs(model))
    return {"model": model, "jobs": jobs, "active": any(job.status in ACTIVE_STATUSES for job in jobs)}


@login_required
def model_detail(request, pk):
    model = _visible_model(request, pk)
    return render(
        request,
        "sgt/model_detail.html",
        {
            "model": model,
            "is_owner": model.owner_id == request.user.pk,
            **_status_context(model),
            "data_form": TrainingDataForm(),
            "clone_form": CloneForm(initial={"new_name": f"{model.name}-copy"}),
            "example": json.dumps([[0.0] * min(model.in_size, 8)] if model.in_size <= 8 else [[0.0] * model.in_size]),
        },
    )


@login_required
@require_POST
def run_model(request, pk):
    """htmx: run the model on the posted JSON rows and answer the result table."""
    model = _visible_model(request, pk)
    context = {"model": model}
    try:
        data = parse_json(request.POST.get("data", ""), what="data")
        context["rows"] = services.predict_rows(model, data).tolist()
    except DomainError as exc:
        context["error"] = exc.message
    return render(request, "sgt/_run_result.html", context, status=200)


@login_required
@require_POST
def set_visibility(request, pk):
    model = _own_model(request, pk)
    services.set_public(model, request.POST.get("is_public") == "true")
    if model.is_public:
        messages.success(request, _("%(name)s is now public.") % {"name": model.name})
    else:
        messages.success(request, _("%(name)s is now private.") % {"name": model.name})
    return redirect("sgt:model", pk=model.pk)


urlpatterns = [
    path("sgt/", my_models, name="my_models"),
    path("sgt/shared/", public_models, name="public_models"),
    path("sgt/models/<int:pk>/", model_detail, name="model"),
    path("sgt/models/<int:pk>/run", run_model, name="run"),
    path("sgt/models/<int:pk>/visibility", set_visibility, name="visibility"),
    path("sgt/models/<int:pk>/data", add_training_data, name="data"),
    path("sgt/models/<int:pk>/clone", clone, name="clone"),
    path("sgt/models/<int:pk>/status", training_status, name="status"),
]
