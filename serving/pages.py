"""Serving pages: the caller's services, one service (versions, replicas, traffic, events,
start/stop/delete), and a playground that streams completions and chat answers."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError

from . import selectors, services
from .forms import UID_RE, NewServiceForm, ScalingForm, VersionForm
from .models import Sharing, VersionStatus

# While any of these is shown, the live part of the service page reads itself again every few seconds.
BUSY = {VersionStatus.DEPLOYING, VersionStatus.STOPPING, "starting"}


def _service(request, uid):
    try:
        return selectors.get_service_for_user(request.user, uid)
    except DomainError:
        raise Http404("No such service") from None


def _version_choices(user):
    return [{"id": v.uid, "label": f"{v.application.name} {v.version} ({v.uid})", "name": v.application.name}
            for v in selectors.deployable_versions(user)]


def _list_context(request, form):
    search = request.GET.get("q", "").strip()[:64]
    rows = [(s, selectors.service_status(s)) for s in selectors.search_services(request.user, name=search)[:200]]
    return {"rows": rows, "search": search, "form": form, "version_choices": _version_choices(request.user)}


def _initial_from_query(request):
    """?version=<public id>: the new-service form opens with that version picked and its application's
    name as the service name (when the caller may deploy it)."""
    wanted = request.GET.get("version", "").strip().lower()
    if not UID_RE.fullmatch(wanted):
        return {}
    for choice in _version_choices(request.user):
        if choice["id"] == wanted:
            name = "".join(c if c.isalnum() or c in "-_." else "-" for c in choice["name"]).strip("-_.")[:64]
            return {"version": choice["label"], "name": name}
    return {}


@login_required
def service_list(request):
    if request.method == "POST":
        form = NewServiceForm(request.POST)
        if form.is_valid():
            try:
                service, _version = services.deploy_registry_version(
                    actor=request.user, name=form.cleaned_data["name"], version=form.spec(),
                    sharing=form.cleaned_data["sharing"])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Service %(name)s created: deploying.") % {"name": service.name})
                return redirect("serving:detail", uid=service.uid)
        return render(request, "serving/list.html", _list_context(request, form), status=400)
    form = NewServiceForm(initial=_initial_from_query(request))
    context = _list_context(request, form)
    context["open_form"] = bool(form.initial) or not context["rows"]
    return render(request, "serving/list.html", context)


def _busy(service, status):
    if status in BUSY:
        return True
    return any(v.status in BUSY or any(r.status in BUSY for r in v.replicas.all()) for v in service.versions.all())


def _live_context(service):
    versions = list(service.versions.all())
    status = selectors.service_status(service)
    return {
        "service": service,
        "status": status,
        "versions": versions,
        "requests": sum(v.request_count for v in versions),  # one source: the versions' counters
        "replica_count": sum(len(v.replicas.all()) for v in versions),
        "events": service.events.select_related("version")[:30],
        "busy": _busy(service, status),
    }


def _render_detail(request, service, *, canary_form=None, scaling_forms=None, status=200):
    context = _live_context(service)
    scaling_forms = scaling_forms or {}
    context["settings_rows"] = [
        (v, scaling_forms.get(v.pk) or ScalingForm(initial={
            "rate": v.rate, "min_replicas": v.predict_min_replicas, "max_replicas": v.predict_max_replicas,
            "metric": v.metric, "threshold": f"{v.monitor_threshold:g}",
        }, prefix=f"v{v.number}"))
        for v in context["versions"]
    ]
    context.update({
        "traffic": [{"label": f"v{v.number}", "rate": v.rate, "requests": v.request_count}
                    for v in context["versions"]],
        "sharing_choices": Sharing.choices,
        "canary_form": canary_form or VersionForm(initial={"rate": 10}, prefix="canary"),
        "version_choices": _version_choices(request.user),
    })
    return render(request, "serving/detail.html", context, status=status)


@login_required
def service_detail(request, uid):
    return _render_detail(request, _service(request, uid))


@login_required
def service_live(request, uid):
    """The service page's live part (statuses, replicas, request counters, events), for htmx polling."""
    service = _service(request, uid)
    return render(request, "serving/_live.html", _live_context(service))


@login_required
@require_POST
def add_version(request, uid):
    """A registry version added to the service as a canary (its own traffic weight), deployed at once."""
    service = _service(request, uid)
    form = VersionForm(request.POST, prefix="canary")
    if form.is_valid():
        try:
            _service_, version = services.deploy_registry_version(actor=request.user, service=service,
                                                                  version=form.spec())
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Version %(number)s added at weight %(rate)s: deploying.")
                             % {"number": version.number, "rate": version.rate})
            return redirect("serving:detail", uid=service.uid)
    return _render_detail(request, _service(request, uid), canary_form=form, status=400)


def _owned_version(request, uid):
    """(version, service) of a version of the user's own service; 404 for anyone else's."""
    try:
        version = selectors.get_version_for_user(request.user, uid)
        return version, selectors.get_service_for_user(request.user, version.service.uid)
    except DomainError:
        raise Http404("No such version") from None


@login_required
@require_POST
def version_settings(request, uid):
    """A version's traffic weight, replica bounds and autoscaling, from one form."""
    version, service = _owned_version(request, uid)
    form = ScalingForm(request.POST, prefix=f"v{version.number}")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.update_rate(actor=request.user, version=version, rate=data["rate"])
            services.update_scaling(actor=request.user, version=version, min_replicas=data["min_replicas"],
                                    max_replicas=data["max_replicas"], metric=data["metric"],
                                    threshold=data["threshold"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Version %(number)s saved.") % {"number": version.number})
            return redirect("serving:detail", uid=service.uid)
    return _render_detail(request, service, scaling_forms={version.pk: form}, status=400)


@login_required
@require_POST
def service_sharing(request, uid):
    service = _service(request, uid)
    try:
        services.set_sharing(actor=request.user, service=service, sharing=request.POST.get("sharing", ""))
        messages.success(request, _("%(name)s: %(sharing)s") % {"name": service.name,
                                                                 "sharing": service.get_sharing_display()})
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
            messages.success(request, _("%(name)s: deploying") % {"name": service.name})
        elif action == "stop":
            services.stop_service(actor=request.user, service=service)
            messages.success(request, _("%(name)s: stopping") % {"name": service.name})
        elif action == "delete":
            services.delete_service(actor=request.user, service=service)
            messages.success(request, _("%(name)s: deleting") % {"name": service.name})
            return redirect("serving:list")
        else:
            raise Http404("No such action")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("serving:detail", uid=service.uid)


@login_required
@require_POST
def version_rate(request, uid):
    """A version's traffic weight alone; a bad weight is shown on the service page's form (400)."""
    version, service = _owned_version(request, uid)
    prefix = f"v{version.number}"
    form = ScalingForm({
        f"{prefix}-rate": request.POST.get("rate", ""), f"{prefix}-min_replicas": version.predict_min_replicas,
        f"{prefix}-max_replicas": version.predict_max_replicas, f"{prefix}-metric": version.metric,
        f"{prefix}-threshold": version.monitor_threshold}, prefix=prefix)
    try:
        if form.is_valid():
            services.update_rate(actor=request.user, version=version, rate=form.cleaned_data["rate"])
    except DomainError as exc:
        form.add_error("rate", exc.message)
    if form.errors:
        return _render_detail(request, service, scaling_forms={version.pk: form}, status=400)
    messages.success(request, _("Version %(number)s: weight %(rate)s") % {"number": version.number,
                                                                           "rate": version.rate})
    return redirect("serving:detail", uid=service.uid)


@login_required
def playground(request):
    rows = selectors.callable_services(request.user)
    chosen = request.GET.get("model", "")
    chat_models = [row for row in rows if row["kind"] == "chat"]
    windows = selectors.context_windows([row["id"] for row in chat_models])
    # The page keeps a conversation inside each model's window (oldest turns left out, said so).
    model_windows = {row["name"]: windows.get(row["id"]) for row in chat_models}
    return render(request, "serving/playground.html",
                  {"chat_models": chat_models, "chosen": chosen, "model_windows": model_windows,
                   "words": _playground_words()})


def _playground_words():
    """The playground script's words in the page's language (json_script); %(name)s are filled in there."""
    return {
        "droppedOne": _("1 earlier message was left out"),
        "droppedMany": _("%(count)s earlier messages were left out"),
        "droppedOnly": _("%(dropped)s to fit the model's %(window)s-token window."),
        "droppedAndCut": _("%(dropped)s and your message was cut to its last %(kept)s of %(total)s characters "
                           "to fit the model's %(window)s-token window."),
        "cutOnly": _("Your message was cut to its last %(kept)s of %(total)s characters to fit the model's "
                     "%(window)s-token window."),
        "you": _("You: "), "model": _("Model: "),
        "noMessages": _("No messages yet. In chat mode each message is sent with the conversation so far."),
        "windowInfo": _("This model reads %(window)s tokens (prompt and answer); older turns are left out when the "
                        "conversation grows past that, and the page says so."),
        "error": _("Error %(status)s: %(message)s"),
        "streamError": _("[error] %(message)s"),
        "stats": _("%(tokens)s tokens in %(ms)s ms · %(chunks)s chunks · finish: %(finish)s · %(fingerprint)s"),
    }


urlpatterns = [
    path("serving/", service_list, name="list"),
    path("serving/playground/", playground, name="playground"),
    path("serving/versions/<str:uid>/rate", version_rate, name="version-rate"),
    path("serving/versions/<str:uid>/settings", version_settings, name="version-settings"),
    path("serving/<str:uid>/", service_detail, name="detail"),
    path("serving/<str:uid>/sharing", service_sharing, name="sharing"),
    path("serving/<str:uid>/live", service_live, name="live"),
    path("serving/<str:uid>/versions", add_version, name="add-version"),
    path("serving/<str:uid>/<str:action>", service_action, name="action"),
]
