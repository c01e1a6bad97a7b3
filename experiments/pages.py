"""Web pages: the experiment designer, a live run page and the run history with videos."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.templatetags.crucible_i18n import spec_messages, status_labels

from . import selectors
from .seed import DEMO_PARAMETERS


def _default_parameters(furnace):
    if furnace and furnace.loaded_experiment_id:
        return furnace.loaded_experiment.raw_parameters
    return DEMO_PARAMETERS


def _designer_text():
    """The designer script's words in the page's language (json_script; no inline strings)."""
    return {
        "zoneA": _("Zone A (°C)"), "zoneB": _("Zone B (°C)"), "ar": _("Ar (sccm)"), "h2": _("H2 (sccm)"),
        "time": _("time (min)"), "addPoint": _("Add point"), "remove": _("Remove this point"),
        "seriesA": _("zone A"), "seriesB": _("zone B"),
        "valid": _("valid: %(minutes)s min program"), "messages": spec_messages(),
    }


def _run_text():
    return {
        "time": _("time (min)"), "setpointA": _("setpoint A"), "zoneA": _("zone A"),
        "setpointB": _("setpoint B"), "zoneB": _("zone B"), "powerA": _("power A (W)"), "powerB": _("power B (W)"),
        "confirmStop": _("Stop this run? H2 closes at once, heaters go off and argon purges until the furnace is cool."),
        "messages": spec_messages(), "statuses": status_labels(),
    }


@login_required
def designer(request):
    try:
        furnace = selectors.resolve_furnace(request.GET.get("furnace") or None)
    except DomainError as exc:
        return render(request, "experiments/designer.html", {"problem": exc.message})
    chosen = request.GET.get("experiment_id")
    experiment = selectors.visible_experiments(request.user).filter(experiment_id=chosen).first() if chosen else None
    parameters = experiment.raw_parameters if experiment else _default_parameters(furnace)
    context = {
        "furnace": furnace,
        "precursors": sorted(set(selectors.known_precursors().values())),
        "active_run": selectors.active_run(furnace),
        "initial_parameters": parameters,
        "experiments": selectors.visible_experiments(request.user).order_by("-updated_at")[:20],
        "can_operate": request.user.is_operator,
        "page_text": _designer_text(),
    }
    return render(request, "experiments/designer.html", context)


def _run_or_404(request, run_id):
    try:
        return selectors.get_visible_run(request.user, run_id)
    except DomainError:
        raise Http404("no such run") from None


@login_required
def run_page(request, run_id):
    run = _run_or_404(request, run_id)
    return render(request, "experiments/run.html", {
        "run": run, "can_operate": request.user.is_operator, "page_text": _run_text(),
    })


@login_required
def run_panel(request, run_id):
    """The htmx-polled part of the run page: status, progress, phase, log tail."""
    run = _run_or_404(request, run_id)
    return render(request, "experiments/_run_panel.html", {"run": run})


@login_required
def history(request):
    runs = selectors.visible_runs(request.user).order_by("-created_at", "-id")[:100]
    return render(request, "experiments/history.html", {"rows": [{"run": run} for run in runs]})


urlpatterns = [
    path("experiments/", designer, name="designer"),
    path("experiments/history/", history, name="history"),
    path("experiments/runs/<int:run_id>/", run_page, name="run"),
    path("experiments/runs/<int:run_id>/panel", run_panel, name="run-panel"),
]
