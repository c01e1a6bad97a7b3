from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from .selectors import health_report


@never_cache
def healthz(request):
    report = health_report()
    ok = report["database"]["ok"] and report["broker"]["ok"]
    return JsonResponse(report, status=200 if ok else 503)


def home(request):
    return render(request, "home.html", {"health": health_report()})
