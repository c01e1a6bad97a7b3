"""The clean REST API under /api/v1/serving/ (its own snake_case serializers over the services;
lists filtered by a FilterSet and paged by the REST framework's paginator), plus the
OpenAI-compatible routes under /v1/ (serving.openai_api)."""

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import Metric, ModelService, Replica, ServiceVersion, Sharing
from .openai_api import urlpatterns as openai_urls

TAGS = ["serving"]
JOBS = inline_serializer("ServingJobs", fields={"jobs": serializers.ListField(child=serializers.IntegerField()),
                                                "status": serializers.CharField()})


class ReplicaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Replica
        fields = ["id", "host", "pid", "port", "status", "restarts", "requests", "in_flight", "error", "started_at",
                  "checked_at"]


class VersionSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="uid")
    service = serializers.CharField(source="service.uid")
    registry_version = serializers.CharField(source="application_version.uid", allow_null=True)
    min_replicas = serializers.IntegerField(source="predict_min_replicas")
    max_replicas = serializers.IntegerField(source="predict_max_replicas")
    threshold = serializers.FloatField(source="monitor_threshold")
    replicas = ReplicaSerializer(many=True)

    class Meta:
        model = ServiceVersion
        fields = ["id", "service", "number", "status", "error", "registry_version", "rate", "min_replicas",
                  "max_replicas", "metric", "threshold", "desired_replicas", "cpu", "memory", "gpu", "gpu_share",
                  "req_method", "command", "image", "image_ports", "envs", "volumes", "hyper_parameters",
                  "resource_group_id", "resource_group_name", "resource_group_key", "extra", "max_context",
                  "request_count", "replicas", "created_at", "modified_at"]


class ServiceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="uid")
    owner = serializers.CharField(source="owner.username")
    status = serializers.SerializerMethodField()
    request_count = serializers.IntegerField()
    shared_team = serializers.CharField(source="shared_team.name", allow_null=True)
    versions = VersionSerializer(many=True)

    class Meta:
        model = ModelService
        fields = ["id", "name", "description", "path", "kind", "status", "owner", "sharing", "shared_team",
                  "request_count", "versions", "created_at", "modified_at"]

    def get_status(self, service) -> str:
        return selectors.service_status(service)


class VersionInput(serializers.Serializer):
    registry_version = serializers.CharField(max_length=64, help_text="the id of an imported registry version")
    rate = serializers.IntegerField(required=False)
    min_replicas = serializers.IntegerField(required=False)
    max_replicas = serializers.IntegerField(required=False)
    metric = serializers.ChoiceField(choices=Metric.choices, required=False, help_text="1 rps, 2 concurrency, 3 GPU use")
    threshold = serializers.FloatField(required=False)
    cpu = serializers.IntegerField(required=False)
    memory = serializers.IntegerField(required=False)
    gpu = serializers.IntegerField(required=False)


class ServiceInput(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="what OpenAI clients pass as model")
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    versions = VersionInput(many=True, allow_empty=False, max_length=10)
    deploy = serializers.BooleanField(default=True, help_text="start its replicas at once")
    sharing = serializers.ChoiceField(choices=Sharing.choices, required=False)


class SharingInput(serializers.Serializer):
    sharing = serializers.ChoiceField(choices=Sharing.choices)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: "unknown field"})
        return attrs


class RateInput(serializers.Serializer):
    rate = serializers.IntegerField(help_text="traffic weight, 0 to 100")


class ServiceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=64)

    class Meta:
        model = ModelService
        fields = ["name", "kind", "sharing"]


class ServiceListView(generics.ListAPIView):
    serializer_class = ServiceSerializer
    filterset_class = ServiceFilter

    def get_queryset(self):
        return selectors.search_services(self.request.user)

    @extend_schema(tags=TAGS, summary="Your services (filtered by name, kind, sharing; paged)",
                   operation_id="api_v1_serving_services_list")
    def get(self, request):
        return super().get(request)

    @extend_schema(tags=TAGS, summary="Create a service (deploy: start it; sharing: private, team or everyone)",
                   request=ServiceInput, responses={201: ServiceSerializer})
    def post(self, request):
        data = ServiceInput(data=request.data)
        data.is_valid(raise_exception=True)
        data = dict(data.validated_data)
        versions = [services.VersionSpec(**v) for v in data.pop("versions")]
        service, _ = services.create_service(owner=request.user, versions=versions, **data)
        return Response(ServiceSerializer(selectors.get_service_for_user(request.user, service.uid)).data, status=201)


class ServiceDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One service with versions, replicas and counts",
                   responses={200: ServiceSerializer})
    def get(self, request, uid):
        return Response(ServiceSerializer(selectors.get_service_for_user(request.user, uid)).data)

    @extend_schema(tags=TAGS, summary="Share the service: private, team or everyone", request=SharingInput,
                   responses={200: ServiceSerializer})
    def patch(self, request, uid):
        data = SharingInput(data=request.data)
        data.is_valid(raise_exception=True)
        service = selectors.get_service_for_user(request.user, uid)
        services.set_sharing(actor=request.user, service=service, sharing=data.validated_data["sharing"])
        return Response(ServiceSerializer(selectors.get_service_for_user(request.user, uid)).data)

    @extend_schema(tags=TAGS, summary="Stop the replicas and delete the service", responses={202: JOBS})
    def delete(self, request, uid):
        job = services.delete_service(actor=request.user, service=selectors.get_service_for_user(request.user, uid))
        return Response({"jobs": [job.pk], "status": "deleting"}, status=202)


class ServiceActionView(APIView):
    action = None

    @extend_schema(tags=TAGS, summary="Deploy every version that is not running (start), or stop every replica",
                   request=None, responses={202: JOBS})
    def post(self, request, uid):
        service = selectors.get_service_for_user(request.user, uid)
        if self.action == "start":
            jobs = services.start_service(actor=request.user, service=service)
        else:
            jobs = [services.stop_service(actor=request.user, service=service)]
        return Response({"jobs": [j.pk for j in jobs], "status": "deploying" if self.action == "start" else "stopping"},
                        status=202)


class VersionDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One version", responses={200: VersionSerializer})
    def get(self, request, uid):
        return Response(VersionSerializer(selectors.get_version_for_user(request.user, uid)).data)

    @extend_schema(tags=TAGS, summary="Change a version's traffic weight", request=RateInput,
                   responses={200: VersionSerializer})
    def patch(self, request, uid):
        data = RateInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.update_rate(actor=request.user, version=selectors.get_version_for_user(request.user, uid),
                                       **data.validated_data)
        return Response(VersionSerializer(selectors.get_version_for_user(request.user, version.uid)).data)


urlpatterns = [
    path("api/v1/serving/services", ServiceListView.as_view(), name="api-services"),
    path("api/v1/serving/services/<str:uid>", ServiceDetailView.as_view(), name="api-service"),
    path("api/v1/serving/services/<str:uid>/start", ServiceActionView.as_view(action="start"), name="api-start"),
    path("api/v1/serving/services/<str:uid>/stop", ServiceActionView.as_view(action="stop"), name="api-stop"),
    path("api/v1/serving/versions/<str:uid>", VersionDetailView.as_view(), name="api-version"),
] + openai_urls
