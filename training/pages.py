"""Training pages: create form and task lists, a run page with live charts, a comparison of runs,
a job page."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.formtext import in_form_words
from files.selectors import folder_paths
from hub import selectors as hub_selectors
from registry.selectors import version_choices

from . import hyper, selectors, services
from .forms import CodeTaskForm, FineTuneForm
from .models import CodeTaskType, Strategy

def config_text(user, strategy):
    """The hyper-parameters of the user's Config/<strategy>/config.json as name=value lines."""
    try:
        path, _found, values = selectors.strategy_config(user, strategy)
    except DomainError:
        return "", ""
    return "\n".join(f"{name}={value}" for name, value in values.items()), path


# The form's names for the fields a service names.
FIELD_LABELS = {
    "base_version": _lazy("Model version"),
    "base_folder": _lazy("Model folder"),
    "base_model": _lazy("Hub model"),
    "data_folder": _lazy("Data folder"),
    "dataset": _lazy("Hub dataset"),
    "output_dir": _lazy("Copy result to"),
    "strategy": _lazy("Strategy"),
}
HYPER_ITEM = re.compile(r"hyper-parameter (\w+)")


def page_message(message, lines):
    """A service's message in the form's words: "hyper-parameter lr: ..." becomes "hyper-parameters
    line 4: lr: ..." (`lines`: the line of each name), a field's name becomes its label."""
    def line_of(match):
        if match.group(1) not in lines:
            return match.group(0)
        return str(_("hyper-parameters line %(number)s") % {"number": lines[match.group(1)]}) + f": {match.group(1)}"

    return in_form_words(HYPER_ITEM.sub(line_of, message), FIELD_LABELS)


def picker_choices(user):
    """What the form's searchable pickers offer: registry versions, hub models and datasets, folders."""
    return {"version_choices": version_choices(user), "hub_models": hub_selectors.repository_choices(user),
            "hub_datasets": hub_selectors.repository_choices(user, type="dataset"), "folders": folder_paths(user)}


def chosen_strategy(value):
    return value if value in hyper.STRATEGIES else Strategy.LORA


@login_required
def index(request):
    strategy = chosen_strategy(request.POST.get("strategy") or request.GET.get("strategy"))
    prefilled, config_path = config_text(request.user, strategy)
    choices = picker_choices(request.user)
    # Defaults that start a run as filled on the demo data: the version the registry page chose
    # (?version=), else the demo's tiny hub model; the /Data folder when there is one.
    version = request.GET.get("version", "")[:64]
    demo_model = "crucible/tiny-gpt2" if "crucible/tiny-gpt2" in choices["hub_models"] else ""
    form = {"strategy": strategy, "base_version": version, "base_model": "" if version else demo_model,
            "data_folder": "Data" if "Data" in choices["folders"] else "", "data_kind": "local", "hyper": prefilled}
    error = ""
    if request.method == "POST":
        bound = FineTuneForm(request.POST)
        form = bound.data
        lines = {}
        try:
            if not bound.is_valid():
                raise DomainError("; ".join(f"{name}: {' '.join(errors)}" for name, errors in bound.errors.items()))
            arguments, lines = bound.service_arguments()
            task = services.create_finetune(owner=request.user, **arguments)
        except DomainError as exc:
            error = page_message(exc.message, lines)
        else:
            messages.success(request, _("Task %(name)s queued.") % {"name": task.name})
            return redirect("training:llm-task", pk=task.pk)
    return render(request, "training/index.html", {
        "form": form, "error": error, "config_path": config_path, "strategies": Strategy.choices,
        "tasks": selectors.llm_tasks(request.user)[:50], "code_tasks": selectors.code_tasks(request.user)[:50],
        "code_types": CodeTaskType.values, **choices,
    })


@login_required
def hyper_defaults(request):
    """htmx: the hyper-parameters field for the chosen strategy (the rest of the form stays as typed)."""
    prefilled, config_path = config_text(request.user, chosen_strategy(request.GET.get("strategy")))
    return render(request, "training/_hyper_field.html", {"form": {"hyper": prefilled}, "config_path": config_path})


@login_required
def compare(request):
    """Several runs on one chart (training and evaluation loss by step), as MLflow and W&B compare runs."""
    ids = [value for value in request.GET.getlist("task")[:10] if value.isdigit()]
    tasks = list(selectors.llm_tasks(request.user).filter(pk__in=ids).order_by("pk"))
    runs = [{"name": f"{task.name} (#{task.pk})", "status": task.status,
             "points": [[row.step, row.loss, row.eval_loss] for row in selectors.metric_rows(task)]} for task in tasks]
    return render(request, "training/compare.html", {"tasks": tasks, "runs": runs})


@login_required
def llm_task(request, pk):
    try:
        task = selectors.get_llm_task(request.user, pk)
    except DomainError:
        raise Http404("No such task") from None
    return render(request, "training/task.html", {
        "task": task, "version": task.produced_version, "merged": task.merged_version,
        "lineage": selectors.lineage(task),
        "common": hyper.as_config_lists(task.hyper_parameters)[0] + hyper.as_config_lists(task.hyper_parameters)[1],
        "metrics_url": reverse("training:api-llm-task-metrics", args=[task.pk]),
        "schedule": schedule_rows(task.schedule),
        "eval_share_percent": round(100 * task.schedule["eval_share"], 1) if task.schedule.get("eval_share") is not None else None,
    })


SCHEDULE_FIELDS = (("logging_steps", "log_points"), ("eval_steps", "evaluations"),
                   ("eval_sample", None), ("save_steps", "checkpoints"))


def _cadence(name, value, count, total_steps):
    values = {"value": value, "count": count, "total": total_steps}
    if name == "logging_steps":
        return _("%(value)s (%(count)s points in %(total)s steps)") % values
    if name == "eval_steps":
        return _("%(value)s (%(count)s evaluations in %(total)s steps)") % values
    return _("%(value)s (%(count)s checkpoints in %(total)s steps)") % values


def schedule_rows(schedule):
    """The cadences a run chose, with the reason of each, for the run page."""
    reasons = (schedule or {}).get("reasons") or {}
    rows = []
    for name, count in SCHEDULE_FIELDS:
        if name not in schedule or (name == "eval_steps" and schedule.get("eval_strategy") != "steps"):
            continue
        value = schedule[name]
        if name == "eval_sample":
            blocks = schedule.get("eval_blocks")
            value = (_("%(value)s of %(blocks)s blocks") % {"value": value, "blocks": blocks} if value
                     else _("all %(blocks)s blocks") % {"blocks": blocks})
        elif count:
            value = _cadence(name, value, schedule.get(count), schedule.get("total_steps"))
        rows.append({"name": name, "value": value, "why": reasons.get(name, "")})
    if schedule.get("eval_strategy") and schedule["eval_strategy"] != "steps":
        rows.append({"name": "eval_strategy", "value": schedule["eval_strategy"], "why": reasons.get("eval_strategy", "")})
    return rows


@login_required
@require_POST
def llm_task_action(request, pk, action):
    try:
        task = selectors.get_llm_task(request.user, pk)
        if action == "cancel":
            services.cancel_task(task)
            messages.success(request, _("Cancel requested; the run stops within seconds."))
        else:
            services.request_merge(task)
            messages.success(request, _("Merging the adapter into a full model."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("training:llm-task", pk=pk)


@login_required
def code_task_create(request):
    if request.method != "POST":
        return redirect("training:index")
    form = CodeTaskForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
        task = services.create_code_task(owner=request.user, **form.service_arguments())
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("training:index")
    return redirect("training:code-task", pk=task.pk)


@login_required
def code_task(request, pk):
    try:
        task = selectors.get_code_task(request.user, pk)
    except DomainError:
        raise Http404("No such task") from None
    if request.method == "POST":
        try:
            services.cancel_task(task)
            messages.success(request, _("Cancel requested."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("training:code-task", pk=pk)
    template = "training/_code_status.html" if request.headers.get("HX-Request") else "training/code_task.html"
    return render(request, template, {"task": task, "log": selectors.log_tail(task, 8000)})


urlpatterns = [
    path("training/", index, name="index"),
    path("training/hyper-defaults", hyper_defaults, name="hyper-defaults"),
    path("training/compare", compare, name="compare"),
    path("training/tasks/<int:pk>/", llm_task, name="llm-task"),
    path("training/tasks/<int:pk>/cancel", llm_task_action, {"action": "cancel"}, name="llm-task-cancel"),
    path("training/tasks/<int:pk>/merge", llm_task_action, {"action": "merge"}, name="llm-task-merge"),
    path("training/jobs/new", code_task_create, name="code-task-create"),
    path("training/jobs/<int:pk>/", code_task, name="code-task"),
]
