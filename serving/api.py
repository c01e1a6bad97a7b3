"""The clean REST API under /api/v1/serving/ (JSON in the shapes of compat), plus the
OpenAI-compatible routes under /v1/ (serving.openai_api)."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput

from . import selectors, services
from .compat import CREATE_REQUEST, json_body, version_json
from .compat import service_json as spec_service_json
from .openai_api import urlpatterns as openai_urls

TAGS = ["serving"]


def owned(request, uid):
    return services.get_owned_service(request.user, uid)


def service_json(service):
    """The spec's shape plus who may call it: `sharing` (private, team, everyone) and `sharedTeam`."""
    return {**spec_service_json(service), "sharing": service.sharing,
            "sharedTeam": service.shared_team.name if service.shared_team_id and service.shared_team else None}


class ServiceListView(APIView):
    @extend_schema(tags=TAGS, summary="Your services", responses={200: dict}, operation_id="api_v1_serving_services_list")
    def get(self, request):
        qs = selectors.filtered_services(request.user, {"name": request.query_params.get("name", "")[:64]})
        return Response({"results": [service_json(s) for s in qs[:200]]})

    @extend_schema(tags=TAGS, summary="Create a service (deploy: true to start it; sharing: private, team or everyone)",
                   request=CREATE_REQUEST,
                   responses={201: dict})
    def post(self, request):
        body = json_body(request)
        deploy = body.get("deploy", True)
        if not isinstance(deploy, bool):
            raise InvalidInput("deploy: must be true or false")
        service, _ = services.create_service(actor=request.user, model_server=body.get("modelServer"),
                                             versions=body.get("modelServerVersions"), deploy=deploy,
                                             sharing=body.get("sharing"))
        return Response(service_json(selectors.get_service_for_user(request.user, service.uid)), status=201)


class ServiceDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One service with versions, replicas and counts", responses={200: dict})
    def get(self, request, uid):
        return Response(service_json(owned(request, uid)))

    @extend_schema(tags=TAGS, summary="Share the service: {\"sharing\": \"private\" | \"team\" | \"everyone\"}",
                   request=dict, responses={200: dict})
    def patch(self, request, uid):
        body = json_body(request)
        unknown = sorted(set(body) - {"sharing"})
        if unknown or "sharing" not in body:
            raise InvalidInput("send {\"sharing\": \"private\" | \"team\" | \"everyone\"}")
        service = services.set_sharing(actor=request.user, service=owned(request, uid), sharing=body["sharing"])
        return Response(service_json(selectors.get_service_for_user(request.user, service.uid)))

    @extend_schema(tags=TAGS, summary="Stop the replicas and delete the service", responses={202: dict})
    def delete(self, request, uid):
        job = services.delete_service(actor=request.user, service=owned(request, uid))
        return Response({"job": job.pk, "status": "deleting"}, status=202)


class ServiceStartView(APIView):
    @extend_schema(tags=TAGS, summary="Deploy every version that is not running", request=None, responses={202: dict})
    def post(self, request, uid):
        jobs = services.start_service(actor=request.user, service=owned(request, uid))
        return Response({"jobs": [j.pk for j in jobs], "status": "deploying"}, status=202)


class ServiceStopView(APIView):
    @extend_schema(tags=TAGS, summary="Stop every replica of the service", request=None, responses={202: dict})
    def post(self, request, uid):
        job = services.stop_service(actor=request.user, service=owned(request, uid))
        return Response({"job": job.pk, "status": "stopping"}, status=202)


class VersionDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One version", responses={200: dict})
    def get(self, request, uid):
        return Response(version_json(selectors.get_version_for_user(request.user, uid)))

    @extend_schema(tags=TAGS, summary="Change a version's traffic weight", request=dict, responses={200: dict})
    def patch(self, request, uid):
        version = selectors.get_version_for_user(request.user, uid)
        services.get_owned_service(request.user, version.service.uid)
        version = services.update_rate(actor=request.user, version=version, rate=json_body(request).get("rate"))
        return Response(version_json(selectors.get_version_for_user(request.user, version.uid)))


urlpatterns = [
    path("api/v1/serving/services", ServiceListView.as_view(), name="api-services"),
    path("api/v1/serving/services/<str:uid>", ServiceDetailView.as_view(), name="api-service"),
    path("api/v1/serving/services/<str:uid>/start", ServiceStartView.as_view(), name="api-start"),
    path("api/v1/serving/services/<str:uid>/stop", ServiceStopView.as_view(), name="api-stop"),
    path("api/v1/serving/versions/<str:uid>", VersionDetailView.as_view(), name="api-version"),
] + openai_urls
