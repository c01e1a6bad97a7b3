import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from core.parsers import parse_json

from . import selectors, services


def _visible_model(request, pk):
    try:
        return selectors.model_for_page(request.user, pk)
    except NotFound as exc:
        raise Http404("model not found") from exc


@login_required
def my_models(request):
    return render(
        request,
        "sgt/my_models.html",
        {"models": selectors.models_of(request.user), "model_types": selectors.model_types_described()},
    )


@login_required
def public_models(request):
    return render(request, "sgt/public_models.html", {"models": selectors.public_models().select_related("owner")})


@login_required
def model_detail(request, pk):
    model = _visible_model(request, pk)
    return render(
        request,
        "sgt/model_detail.html",
        {
            "model": model,
            "is_owner": model.owner_id == request.user.pk,
            "jobs": selectors.recent_jobs(model),
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
    model = _visible_model(request, pk)
    if model.owner_id != request.user.pk:
        raise Http404("model not found")
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
]
