"""Reads: furnaces, visible experiments and runs, the task log, telemetry."""

from core.errors import InvalidInput, NotFound
from core.models import ACTIVE_STATUSES

from .models import TELEMETRY_CHANNELS, Experiment, ExperimentRun, Furnace, Precursor


def known_precursors():
    """Lower-case name (and formula) -> canonical name, for active precursors."""
    known = {}
    for name, formula in Precursor.objects.filter(is_active=True).values_list("name", "formula"):
        known[name.lower()] = name
        if formula:
            known.setdefault(formula.lower(), name)
    return known


def resolve_furnace(name=None):
    """The named furnace, else the default one, else the only enabled one."""
    if name not in (None, ""):
        if not isinstance(name, str):
            raise InvalidInput("furnace: must be a furnace name")
        furnace = Furnace.objects.filter(name=name, is_enabled=True).first()
        if furnace is None:
            names = ", ".join(Furnace.objects.filter(is_enabled=True).values_list("name", flat=True)) or "none"
            raise NotFound(f"furnace: no enabled furnace named {name!r} (available: {names})")
        return furnace
    enabled = Furnace.objects.filter(is_enabled=True)
    furnace = enabled.filter(is_default=True).first()
    if furnace:
        return furnace
    furnaces = list(enabled[:2])
    if len(furnaces) == 1:
        return furnaces[0]
    if not furnaces:
        raise NotFound("furnace: no furnace is configured (an administrator adds one in the admin)")
    raise InvalidInput("furnace: several furnaces are enabled and none is the default; name one")


def visible_experiments(user):
    return Experiment.objects.select_related("furnace", "owner").visible_to(user)


def visible_runs(user):
    return ExperimentRun.objects.select_related("furnace", "experiment", "owner").visible_to(user)


def get_visible_run(user, run_id):
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        raise InvalidInput("task_id: must be an integer") from None
    run = visible_runs(user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"task_id: no task {run_id}")
    return run


def active_run(furnace):
    return ExperimentRun.objects.filter(furnace=furnace, status__in=ACTIVE_STATUSES).first()


def task_log(user, experiment_id=None, task_id=None, limit=50):
    runs = visible_runs(user)
    if experiment_id:
        runs = runs.filter(experiment__experiment_id=experiment_id)
    if task_id not in (None, ""):
        try:
            runs = runs.filter(pk=int(task_id))
        except (TypeError, ValueError):
            raise InvalidInput("task_id: must be an integer") from None
    return list(runs.order_by("-created_at", "-id")[:limit])


def run_telemetry(run, since=None):
    """Telemetry of a run as columns (see TELEMETRY_CHANNELS), optionally only after `since` seconds."""
    columns = {name: [] for name in TELEMETRY_CHANNELS}
    chunks = run.telemetry.order_by("index")
    if since is not None:
        chunks = chunks.filter(t_end__gt=since)
    for chunk in chunks.only("data"):
        data = chunk.data
        start = 0
        if since is not None:
            start = next((i for i, t in enumerate(data["t"]) if t > since), len(data["t"]))
        for name in TELEMETRY_CHANNELS:
            columns[name].extend(data.get(name, [])[start:])
    return columns


def run_for_video(user, experiment_id=None, task_id=None):
    if task_id not in (None, ""):
        run = get_visible_run(user, task_id)
        if experiment_id and run.experiment_code != experiment_id:
            raise NotFound(f"task_id: task {run.pk} does not belong to experiment_id {experiment_id!r}")
    else:
        runs = visible_runs(user)
        if experiment_id:
            runs = runs.filter(experiment__experiment_id=experiment_id)
            if not runs.exists():
                raise NotFound(f"experiment_id: no runs of experiment {experiment_id!r}")
        run = runs.exclude(video="").order_by("-created_at", "-id").first() or runs.order_by("-created_at").first()
        if run is None:
            raise NotFound("no runs yet")
    if not run.video:
        if run.status in ACTIVE_STATUSES:
            raise NotFound(f"task_id: the video of task {run.pk} is made when the run ends (now {run.status})")
        raise NotFound(f"task_id: task {run.pk} has no video")
    return run
