"""Serving pages: the caller's services, one service (versions, replicas, traffic, events,
start/stop/delete), and a playground that streams completions and chat answers."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from core.errors import DomainError

from . import selectors, services
from .models import Sharing


def _service(request, uid):
    try:
        return services.get_owned_service(request.user, uid)
    except DomainError:
        raise Http404("No such service") from None


@login_required
def service_list(request):
    search = request.GET.get("q", "").strip()[:64]
    rows = [(s, selectors.service_status(s)) for s in selectors.filtered_services(request.user, {"name": search})[:200]]
    return render(request, "serving/list.html", {"rows": rows, "search": search})


@login_required
def service_detail(request, uid):
    service = _service(request, uid)
    versions = list(service.versions.all())
    traffic = [{"label": f"v{v.number}", "rate": v.rate, "requests": v.request_count} for v in versions]
    return render(request, "serving/detail.html", {
        "service": service,
        "status": selectors.service_status(service),
        "versions": versions,
        "traffic": traffic,
        "events": service.events.select_related("version")[:30],
        "sharing_choices": Sharing.choices,
    })


@login_required
@require_POST
def service_sharing(request, uid):
    service = _service(request, uid)
    try:
        services.set_sharing(actor=request.user, service=service, sharing=request.POST.get("sharing", ""))
        messages.success(request, f"{service.name}: {service.get_sharing_display().lower()}")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("serving:detail", uid=service.uid)


@login_required
@require_POST
def service_action(request, uid, action):
    service = _service(request, uid)
    try:
        if action == "start":
            services.start_service(actor=request.user, service=service)
            messages.success(request, f"{service.name}: deploying")
        elif action == "stop":
            services.stop_service(actor=request.user, service=service)
            messages.success(request, f"{service.name}: stopping")
        elif action == "delete":
            services.delete_service(actor=request.user, service=service)
            messages.success(request, f"{service.name}: deleting")
            return redirect("serving:list")
        else:
            raise Http404("No such action")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("serving:detail", uid=service.uid)


@login_required
@require_POST
def version_rate(request, uid):
    try:
        version = selectors.get_version_for_user(request.user, uid)
        services.get_owned_service(request.user, version.service.uid)
        services.update_rate(actor=request.user, version=version, rate=request.POST.get("rate"))
        messages.success(request, f"version {version.number}: rate {request.POST.get('rate')}")
    except DomainError as exc:
        messages.error(request, exc.message)
        version = None
    if version is None:
        return redirect("serving:list")
    return redirect("serving:detail", uid=version.service.uid)


@login_required
def playground(request):
    rows = selectors.callable_services(request.user)
    chosen = request.GET.get("model", "")
    chat_models = [row for row in rows if row["kind"] == "chat"]
    windows = selectors.context_windows([row["id"] for row in chat_models])
    # The page keeps a conversation inside each model's window (oldest turns left out, said so).
    model_windows = {row["name"]: windows.get(row["id"]) for row in chat_models}
    return render(request, "serving/playground.html",
                  {"chat_models": chat_models, "chosen": chosen, "model_windows": model_windows})


urlpatterns = [
    path("serving/", service_list, name="list"),
    path("serving/playground/", playground, name="playground"),
    path("serving/versions/<str:uid>/rate", version_rate, name="version-rate"),
    path("serving/<str:uid>/", service_detail, name="detail"),
    path("serving/<str:uid>/sharing", service_sharing, name="sharing"),
    path("serving/<str:uid>/<str:action>", service_action, name="action"),
]
