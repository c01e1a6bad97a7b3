"""Evaluation pages: create form and task list, a task page with results and log, a version's
evaluations, and a comparison table with a bar chart."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput
from core.templatetags.crucible_i18n import status_label
from files.selectors import folder_paths
from hub import selectors as hub_selectors
from registry.selectors import resolve_version, version_choices

from . import metrics as builtin
from . import selectors, services
from .forms import EvaluationForm

# The definitions of evaluation.metrics.METRICS, listed for the translation catalogue (metrics.py
# stays free of Django for the runner); templates translate them with {% translate row.definition %}.
METRIC_DEFINITIONS = (
    gettext_noop("mean negative log-likelihood (nats) per predicted token of the test texts"),
    gettext_noop("exp(loss): perplexity of the test texts under the model"),
    gettext_noop("share of records whose predicted label or answer is the reference "
                 "(choices ranked by likelihood when the record has candidates, else the generated answer)"),
    gettext_noop("share of records whose generated answer equals a reference after normalisation "
                 "(lower case, no punctuation, articles or extra spaces)"),
    gettext_noop("sacrebleu corpus BLEU (0-100) of the generated texts against the references"),
    gettext_noop("sacrebleu corpus chrF (0-100) of the generated texts against the references"),
    gettext_noop("rouge-score ROUGE-1 F-measure (0-1), mean over records, Porter stemming"),
    gettext_noop("rouge-score ROUGE-2 F-measure (0-1), mean over records, Porter stemming"),
    gettext_noop("rouge-score ROUGE-L F-measure (0-1), mean over records, Porter stemming"),
    gettext_noop("from metrics.json"),
)

@login_required
def index(request):
    choices = {"version_choices": version_choices(request.user), "folders": folder_paths(request.user),
               "hub_datasets": hub_selectors.repository_choices(request.user, type="dataset")}
    # Defaults that start an evaluation as filled on the demo data: the version the registry page
    # chose (?version=), else the newest imported version, else a folder of one's files.
    version = request.GET.get("version", "")[:64] or next(iter(uid for uid, _label in choices["version_choices"]), "")
    form = EvaluationForm(request.POST or None, initial={
        "model_from": "registry" if version else "files", "version": version, "data_from": "files",
        "data_dir": "Data" if "Data" in choices["folders"] else "", "output_dir": "Evaluations",
        "metrics": ["perplexity", "loss"]})
    error = ""
    if form.is_bound:
        try:
            if not form.is_valid():
                field, errors = next(iter(form.errors.items()))
                raise InvalidInput(" ".join(errors), field=field)
            task = services.create_evaluation(owner=request.user, **form.arguments())
        except DomainError as exc:
            label = form.fields[exc.field].label if exc.field in form.fields else exc.field
            error = f"{label}: {exc.reason}" if label else exc.message
        else:
            messages.success(request, _("Evaluation %(name)s queued") % {"name": task.name})
            return redirect("evaluation:task", task_id=task.pk)
    try:
        tasks = list(selectors.search_tasks(request.user, status=request.GET.get("status", ""),
                                            name=request.GET.get("name", ""))[:100])
    except DomainError as exc:
        messages.error(request, exc.message)
        tasks = list(selectors.visible_tasks(request.user).order_by("-created_at")[:100])
    return render(request, "evaluation/index.html", {
        "form": {name: form[name].value() for name in form.fields}, "catalogue": selectors.metric_catalogue(),
        "tasks": tasks, "status": request.GET.get("status", ""), "task_name": request.GET.get("name", ""),
        "status_filter": list(dict.fromkeys(selectors.STATUS_WORDS.values())), "error": error, **choices,
    })


def _task_or_404(user, task_id):
    try:
        return selectors.get_task(user, task_id)
    except DomainError:
        raise Http404("no such evaluation") from None


@login_required
def task_page(request, task_id):
    task = _task_or_404(request.user, task_id)
    results = [
        {"name": name, "value": value, "definition": builtin.METRICS.get(name, ("", "from metrics.json", None))[1]}
        for name, value in task.results.items()
    ]
    return render(request, "evaluation/task.html", {
        "task": task, "results": results, "status_word": selectors.STATUS_WORDS[task.status],
        "run_time": selectors.run_time(task), "model": selectors.model_label(task), "log": selectors.log_tail(task),
        "results_url": reverse("evaluation:api-task-results", args=[task.pk]),
        # The status words, in the page's language, for the script that polls the task.
        "status_words": {status: str(status_label(word)) for status, word in selectors.STATUS_WORDS.items()},
    })


@login_required
@require_POST
def cancel(request, task_id):
    task = _task_or_404(request.user, task_id)
    try:
        services.cancel_evaluation(task)
        messages.success(request, _("Cancel requested"))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("evaluation:task", task_id=task.pk)


@login_required
def version_page(request, version_id):
    try:
        version = resolve_version(request.user, version_id)
    except DomainError:
        raise Http404("no such version") from None
    tasks = list(selectors.evaluations_for_version(version, request.user))
    succeeded = [t for t in tasks if t.status == "succeeded"]
    return render(request, "evaluation/version.html", {
        "version": version, "tasks": tasks, "compare_ids": ",".join(str(t.pk) for t in succeeded),
    })


@login_required
def compare(request):
    table, error = None, ""
    tasks_param, versions_param = request.GET.get("tasks", ""), request.GET.get("versions", "")
    if tasks_param or versions_param:
        try:
            tasks = selectors.compared_tasks(request.user, selectors.id_list(tasks_param), selectors.id_list(versions_param))
            table = selectors.comparison(tasks)
        except DomainError as exc:
            error = exc.message
    finished = list(selectors.visible_tasks(request.user).filter(status="succeeded").order_by("-created_at")[:50])
    return render(request, "evaluation/compare.html", {
        "table": table, "error": error, "finished": finished, "tasks_param": tasks_param, "versions_param": versions_param,
        "rows": [dict(row, cells=list(zip(row["values"], [row["best"]] * len(row["values"])))) for row in (table or {}).get("rows", [])],
    })


urlpatterns = [
    path("evaluation/", index, name="index"),
    path("evaluation/tasks/<int:task_id>/", task_page, name="task"),
    path("evaluation/tasks/<int:task_id>/cancel", cancel, name="task-cancel"),
    path("evaluation/version/<str:version_id>/", version_page, name="version"),
    path("evaluation/compare/", compare, name="compare"),
]
