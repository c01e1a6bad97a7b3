"""Furnaces, their parameter sets (the spec's `Parameters`), runs, telemetry and the audit log."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import ACTIVE_STATUSES, Job, JobStatus
from core.scoping import ScopedQuerySet

SIMULATOR_DRIVER = "experiments.drivers.simulator.SimulatedFurnace"


class Precursor(models.Model):
    """A precursor the lab stocks: only these may be loaded into zone A or B."""

    name = models.CharField(max_length=64, unique=True, help_text="What callers send, e.g. MoO3")
    formula = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Furnace(models.Model):
    """A two-zone tube furnace, its controller driver and the limits every program is checked against."""

    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=255, blank=True, default="")
    is_default = models.BooleanField(default=False, help_text="Used when a command names no furnace")
    is_enabled = models.BooleanField(default=True)
    driver = models.CharField(
        max_length=255, blank=True, default="",
        help_text=f"Dotted path of a FurnaceDriver class; empty: settings.EXPERIMENTS_DEFAULT_DRIVER or {SIMULATOR_DRIVER}",
    )
    driver_options = models.JSONField(
        default=dict, blank=True, help_text="Passed to the driver (connection details; simulator physics and PID gains)"
    )
    time_acceleration = models.FloatField(
        default=1.0, help_text="Simulated seconds per wall-clock second (simulator only; real hardware runs at 1)"
    )
    # Temperature limits (both zones)
    min_temperature_c = models.FloatField(default=20.0)
    max_temperature_c = models.FloatField(default=1100.0)
    max_initial_temperature_c = models.FloatField(default=100.0, help_text="A profile must start at or below this")
    max_ramp_rate_c_per_min = models.FloatField(default=20.0)
    over_temperature_margin_c = models.FloatField(default=25.0, help_text="Trip to safe state above max + margin")
    # Mass-flow controllers (sccm)
    ar_max_sccm = models.FloatField(default=500.0)
    h2_max_sccm = models.FloatField(default=100.0)
    min_ar_for_h2_sccm = models.FloatField(default=50.0, help_text="Interlock: H2 may flow only while Ar is at least this")
    # Safe shutdown
    purge_ar_sccm = models.FloatField(default=200.0)
    safe_temperature_c = models.FloatField(default=150.0, help_text="Purge until both zones are below this")
    max_purge_minutes = models.FloatField(default=240.0)
    # Programs
    max_duration_minutes = models.FloatField(default=1440.0)
    max_profile_points = models.PositiveIntegerField(default=200)
    max_precursor_mass_mg = models.FloatField(default=5000.0)
    # The parameter set loaded last (set_parameters); start_experiment runs it.
    loaded_experiment = models.ForeignKey(
        "Experiment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Last state read from the controller (the simulator also resumes from it).
    last_state = models.JSONField(default=dict, blank=True)
    state_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def driver_path(self):
        return self.driver or settings.EXPERIMENTS_DEFAULT_DRIVER or SIMULATOR_DRIVER

    @property
    def limits(self):
        """What every program is checked against, as ranges and maxima."""
        return {
            "temperature_c": [self.min_temperature_c, self.max_temperature_c],
            "max_initial_temperature_c": self.max_initial_temperature_c,
            "max_ramp_rate_c_per_min": self.max_ramp_rate_c_per_min,
            "ar_sccm": [0, self.ar_max_sccm],
            "h2_sccm": [0, self.h2_max_sccm],
            "min_ar_for_h2_sccm": self.min_ar_for_h2_sccm,
            "max_duration_minutes": self.max_duration_minutes,
            "max_precursor_mass_mg": self.max_precursor_mass_mg,
            "safe_temperature_c": self.safe_temperature_c,
        }


class LabQuerySet(ScopedQuerySet):
    """Furnace work is the lab's: a user sees their own, their team's, and rows without an owner."""

    team_visible = True
    ownerless_visible = True


class Experiment(models.Model):
    """One parameter table (the spec's `Parameters`), as validated and normalised.

    Profiles are stored with times in seconds: {"time": [...], "temperature": [...]}.
    """

    objects = LabQuerySet.as_manager()

    experiment_id = models.CharField(max_length=64, unique=True, help_text="The spec's 实验id (its Order)")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments"
    )
    furnace = models.ForeignKey(Furnace, on_delete=models.PROTECT, related_name="experiments")
    order = models.CharField(max_length=64, blank=True, default="")
    precursor_a = models.CharField(max_length=64, blank=True, default="")
    precursor_b = models.CharField(max_length=64, blank=True, default="")
    mass_a_mg = models.FloatField(null=True, blank=True)
    mass_b_mg = models.FloatField(null=True, blank=True)
    substrate = models.CharField(max_length=100)
    temperature_a = models.JSONField()
    temperature_b = models.JSONField()
    ar_flow = models.JSONField()
    h2_flow = models.JSONField()
    duration_s = models.FloatField()
    raw_parameters = models.JSONField(default=dict, help_text="The Parameters object as sent")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.experiment_id

    def program(self):
        """The normalised program a run follows (a snapshot is stored on each run)."""
        return {
            "experiment_id": self.experiment_id,
            "precursor_a": self.precursor_a,
            "precursor_b": self.precursor_b,
            "mass_a_mg": self.mass_a_mg,
            "mass_b_mg": self.mass_b_mg,
            "substrate": self.substrate,
            "temperature_a": self.temperature_a,
            "temperature_b": self.temperature_b,
            "ar_flow": self.ar_flow,
            "h2_flow": self.h2_flow,
            "duration_s": self.duration_s,
        }


class ExperimentRun(Job):
    """One execution of a parameter set on a furnace (the spec's 任务)."""

    task_name = "experiments.run_experiment"
    queue = "experiments"
    objects = LabQuerySet.as_manager()

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    furnace = models.ForeignKey(Furnace, on_delete=models.PROTECT, related_name="runs")
    program = models.JSONField(help_text="Snapshot of the experiment's program at start")
    time_acceleration = models.FloatField(default=1.0)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phase = models.CharField(max_length=16, blank=True, default="", help_text="program, shutdown, done")
    simulated_seconds = models.FloatField(default=0.0)
    summary = models.JSONField(default=dict, blank=True)
    safe_state_confirmed = models.BooleanField(
        default=False, help_text="The furnace was put in its safe state after this run (or recovery did)"
    )
    video = models.FileField(upload_to="experiments/videos/", blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["furnace"], condition=Q(status__in=list(ACTIVE_STATUSES)), name="one_active_run_per_furnace"
            )
        ]

    def __str__(self):
        return f"run #{self.pk} of {self.experiment_code} ({self.status})"

    @property
    def experiment_code(self):
        """The 实验id (experiment_id is the foreign key column)."""
        return self.program.get("experiment_id", "")

    @property
    def percent(self):
        return f"{round(self.progress * 100)}%"

    @property
    def result_text(self):
        """None until the run ends, then a sentence (the summary's text, or what went wrong)."""
        if self.status in ACTIVE_STATUSES:
            return None
        if self.status == JobStatus.FAILED:
            return f"failed: {self.error}"
        text = (self.summary or {}).get("text")
        if self.status == JobStatus.CANCELLED:
            return text or f"cancelled: {self.error}"
        return text or "done"


class TelemetryChunk(models.Model):
    """Consecutive telemetry samples (one per simulated second) stored column-wise.

    `data` maps each channel in `TELEMETRY_CHANNELS` to a list of equal length.
    """

    run = models.ForeignKey(ExperimentRun, on_delete=models.CASCADE, related_name="telemetry")
    index = models.PositiveIntegerField()
    t_start = models.FloatField()
    t_end = models.FloatField()
    data = models.JSONField()

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="unique_telemetry_chunk")]

    def __str__(self):
        return f"run {self.run_id} chunk {self.index}"


TELEMETRY_CHANNELS = [
    "t",
    "setpoint_a", "temperature_a", "power_a",
    "setpoint_b", "temperature_b", "power_b",
    "ar_setpoint", "ar_flow", "h2_setpoint", "h2_flow",
    "heaters",
]


class AuditQuerySet(ScopedQuerySet):
    owner_field = "user"

    def visible_to(self, user):
        """Operators read the whole log; other users their own entries."""
        return self if getattr(user, "is_operator", False) else self.owned_by(user)


class AuditEntry(models.Model):
    """Every furnace command: who, what, when, payload and outcome."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        REFUSED = "refused", "Refused"
        ERROR = "error", "Error"

    objects = AuditQuerySet.as_manager()

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=32, db_index=True)
    via = models.CharField(max_length=16, blank=True, default="", help_text="compat, api, tool, page, admin")
    furnace = models.ForeignKey(Furnace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit")
    run = models.ForeignKey(ExperimentRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit")
    experiment_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    status_code = models.PositiveIntegerField(default=200)
    message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.outcome}"
