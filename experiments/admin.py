from django.contrib import admin, messages

from core.models import ACTIVE_STATUSES

from .models import AuditEntry, Experiment, ExperimentRun, Furnace, Precursor, TelemetryChunk
from .services import stop_experiment


@admin.register(Precursor)
class PrecursorAdmin(admin.ModelAdmin):
    list_display = ["name", "formula", "description", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "formula", "description"]


@admin.register(Furnace)
class FurnaceAdmin(admin.ModelAdmin):
    list_display = [
        "name", "is_default", "is_enabled", "driver_path", "time_acceleration", "max_temperature_c",
        "max_ramp_rate_c_per_min", "ar_max_sccm", "h2_max_sccm", "min_ar_for_h2_sccm", "state_updated_at",
    ]
    list_filter = ["is_enabled", "is_default"]
    search_fields = ["name", "description", "driver"]
    readonly_fields = ["last_state", "state_updated_at", "created_at"]
    autocomplete_fields = ["loaded_experiment"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_default", "is_enabled", "loaded_experiment"]}),
        ("Controller", {"fields": ["driver", "driver_options", "time_acceleration"]}),
        ("Temperature limits", {"fields": [
            "min_temperature_c", "max_temperature_c", "max_initial_temperature_c", "max_ramp_rate_c_per_min",
            "over_temperature_margin_c",
        ]}),
        ("Gas (mass-flow controllers)", {"fields": ["ar_max_sccm", "h2_max_sccm", "min_ar_for_h2_sccm"]}),
        ("Safe shutdown", {"fields": ["purge_ar_sccm", "safe_temperature_c", "max_purge_minutes"]}),
        ("Programs", {"fields": ["max_duration_minutes", "max_profile_points", "max_precursor_mass_mg"]}),
        ("State", {"fields": ["last_state", "state_updated_at", "created_at"]}),
    ]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["experiment_id", "owner", "furnace", "precursor_a", "precursor_b", "substrate", "duration_s", "updated_at"]
    list_filter = ["furnace", "precursor_a", "precursor_b"]
    search_fields = ["experiment_id", "substrate", "owner__username"]
    # The normalised program is derived from raw_parameters, which start_experiment validates again.
    readonly_fields = [
        "precursor_a", "precursor_b", "mass_a_mg", "mass_b_mg", "temperature_a", "temperature_b", "ar_flow", "h2_flow",
        "duration_s", "created_at", "updated_at",
    ]


@admin.register(ExperimentRun)
class ExperimentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "experiment", "furnace", "owner", "status", "phase", "progress", "safe_state_confirmed", "created_at", "finished_at"]
    list_filter = ["status", "phase", "furnace", "safe_state_confirmed"]
    search_fields = ["experiment__experiment_id", "owner__username", "log", "error"]
    readonly_fields = [f.name for f in ExperimentRun._meta.fields]
    actions = ["stop_runs"]

    def has_add_permission(self, request):
        return False  # runs start through start_experiment (validation, one per furnace, audit)

    @admin.action(description="Stop selected runs safely")
    def stop_runs(self, request, queryset):

        stopped = 0
        for run in queryset.filter(status__in=ACTIVE_STATUSES):
            try:
                stop_experiment(request.user, task_id=run.pk, via="admin", payload={"task_id": run.pk})
                stopped += 1
            except Exception as exc:
                self.message_user(request, f"task {run.pk}: {exc}", messages.ERROR)
        self.message_user(request, f"stop requested for {stopped} run(s)")


@admin.register(TelemetryChunk)
class TelemetryChunkAdmin(admin.ModelAdmin):
    list_display = ["run", "index", "t_start", "t_end"]
    list_filter = ["run__furnace"]
    search_fields = ["run__experiment__experiment_id"]
    readonly_fields = ["run", "index", "t_start", "t_end", "data"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "username", "action", "via", "furnace", "experiment_id", "run", "outcome", "status_code", "message"]
    list_filter = ["action", "outcome", "via", "furnace"]
    search_fields = ["username", "experiment_id", "message"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
