from django.contrib import admin

from . import gateway
from .models import ModelService, Replica, ServiceEvent, ServiceVersion, ServingJob


class ServiceVersionInline(admin.TabularInline):
    model = ServiceVersion
    extra = 0
    fields = ("number", "application_version", "status", "rate", "predict_min_replicas", "predict_max_replicas",
              "metric", "monitor_threshold", "request_count")
    readonly_fields = ("request_count",)
    raw_id_fields = ("application_version",)
    show_change_link = True


@admin.register(ModelService)
class ModelServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "sharing", "shared_team", "deleting", "created_at")
    list_filter = ("kind", "sharing", "deleting", "created_at")
    list_editable = ("sharing",)
    search_fields = ("name", "uid", "owner__username", "description")
    readonly_fields = ("uid", "created_at", "modified_at")
    raw_id_fields = ("owner",)

    def save_model(self, request, obj, form, change):
        # "team" means the owner's team unless the admin names another one.
        if obj.sharing == "team" and obj.shared_team_id is None:
            obj.shared_team = obj.owner.team
        if obj.sharing != "team":
            obj.shared_team = None
        super().save_model(request, obj, form, change)
        gateway.forget_routes()
    inlines = [ServiceVersionInline]


class ReplicaInline(admin.TabularInline):
    model = Replica
    extra = 0
    fields = ("host", "pid", "port", "status", "restarts", "requests", "in_flight", "checked_at")
    readonly_fields = fields


@admin.register(ServiceVersion)
class ServiceVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "rate", "desired_replicas", "metric", "monitor_threshold", "request_count",
                    "created_at")
    list_filter = ("status", "metric", "created_at")
    search_fields = ("uid", "service__name", "service__owner__username")
    readonly_fields = ("uid", "model_dir", "base_dir", "request_count", "created_at", "modified_at")
    raw_id_fields = ("service", "application_version", "created_by")
    inlines = [ReplicaInline]


@admin.register(Replica)
class ReplicaAdmin(admin.ModelAdmin):
    list_display = ("__str__", "host", "pid", "port", "status", "restarts", "requests", "checked_at")
    list_filter = ("status", "host")
    search_fields = ("version__service__name", "host", "pid", "port")
    raw_id_fields = ("version",)


@admin.register(ServiceEvent)
class ServiceEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "service", "version", "message")
    list_filter = ("created_at",)
    search_fields = ("message", "service__name")
    raw_id_fields = ("service", "version")


@admin.register(ServingJob)
class ServingJobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "action", "owner", "status", "created_at", "finished_at")
    list_filter = ("action", "status", "created_at")
    search_fields = ("service_uid", "owner__username", "error")
    raw_id_fields = ("owner", "service", "version")
    readonly_fields = ("log", "error", "heartbeat_at", "worker")
