from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .selectors import health_report


def is_staff_caller(request):
    """True for a staff user by session, JWT or API key (the API's own authenticators); a bad
    credential is simply not staff. For plain Django views that show admins more (health, metrics)."""
    if request.user.is_authenticated:
        return request.user.is_staff
    drf_request = Request(request)
    for authenticator_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            result = authenticator_class().authenticate(drf_request)
        except APIException:
            continue
        if result is not None:
            return bool(result[0].is_staff and result[0].is_active)
    return False


@never_cache
def healthz(request):
    """200 while the database and broker answer (status "degraded" when a job queue has no live
    consumer: the site works, those jobs wait), 503 when either is down. Hosts only for staff."""
    report = health_report(include_hosts=is_staff_caller(request))
    ok = report["database"]["ok"] and report["broker"]["ok"]
    return JsonResponse(report, status=200 if ok else 503)


def home(request):
    return render(request, "home.html", {"health": health_report(include_hosts=request.user.is_staff)})
