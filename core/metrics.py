"""Prometheus metrics: `/metrics` in the text exposition format (prometheus-client).

Two kinds of numbers, because gunicorn runs several processes:

- Counted in the process that handled the request (HTTP requests and latency per endpoint
  group, `/v1` completions: tokens, tokens per second, time to first token). prometheus-client's
  multiprocess mode keeps them in files under PROMETHEUS_MULTIPROC_DIR (one set per process,
  summed at scrape time), so a scrape answered by any gunicorn process sees all of them.
- Read from the database at scrape time (jobs by queue and status with their durations, queue
  depth, live workers per queue, replicas per service and status): the same from every process
  and every web machine, a handful of grouped COUNT/SUM queries per scrape.
"""

import fnmatch
import ipaddress
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .models import FINISHED_STATUSES, JobStatus
from .selectors import job_models, live_workers, queue_consumers

# Path prefixes that are their own group when no URL pattern names an app (static files,
# 404s); anything else unmatched is "other". Raw paths are never labels.
PLAIN_GROUPS = {"static", "media", "healthz", "metrics", "favicon.ico", "api", "v1"}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "crucible_http_requests", "HTTP requests answered, per endpoint group (the app or first path segment)",
    ["group", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "crucible_http_request_duration_seconds", "Time to answer a request (to its first byte for streams)",
    ["group"], buckets=LATENCY_BUCKETS,
)
V1_COMPLETIONS = Counter("crucible_v1_completions", "Completed /v1 generations", ["service", "stream"])
V1_COMPLETION_TOKENS = Counter("crucible_v1_completion_tokens", "Tokens generated through /v1", ["service"])
V1_TOKENS_PER_SECOND = Histogram(
    "crucible_v1_completion_tokens_per_second", "Generated tokens per second of one /v1 request",
    ["service"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
V1_TIME_TO_FIRST_TOKEN = Histogram(
    "crucible_v1_time_to_first_token_seconds",
    "From sending a /v1 request to the replica to its first token (the whole answer when not streamed)",
    ["service", "stream"], buckets=LATENCY_BUCKETS,
)


# --- counted where it happens -------------------------------------------------------


def endpoint_group(request):
    match = getattr(request, "resolver_match", None)
    if match is not None and match.namespaces:
        return match.namespaces[0]
    first = request.path_info.lstrip("/").split("/", 1)[0]
    if match is not None and not first:
        return "home"
    return first if first in PLAIN_GROUPS else "other"


class RequestMetricsMiddleware:
    """Counts every request by endpoint group, method and status, with its latency."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        group = endpoint_group(request)
        HTTP_LATENCY.labels(group).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(group, request.method, str(response.status_code)).inc()
        return response


def observe_generation(*, service, stream, completion_tokens, started, first_token_at, finished):
    """One finished /v1 generation (monotonic times): tokens, tokens per second, time to first token."""
    V1_COMPLETIONS.labels(service, "true" if stream else "false").inc()
    V1_COMPLETION_TOKENS.labels(service).inc(completion_tokens)
    V1_TIME_TO_FIRST_TOKEN.labels(service, "true" if stream else "false").observe(max(first_token_at - started, 0))
    elapsed = finished - started
    if completion_tokens and elapsed > 0:
        V1_TOKENS_PER_SECOND.labels(service).observe(completion_tokens / elapsed)


# --- read from the database at scrape time ------------------------------------------


def queue_of(model):
    """The queue a job model's task goes to (CELERY_TASK_ROUTES on its task name)."""
    for pattern, route in settings.CELERY_TASK_ROUTES.items():
        if fnmatch.fnmatchcase(model.task_name, pattern):
            return route["queue"]
    return settings.CELERY_TASK_DEFAULT_QUEUE


class DatabaseCollector:
    """Jobs, queue depth, live workers and replicas, counted in the database when scraped."""

    def collect(self):
        try:
            yield from self._collect()
        except DatabaseError:  # a scrape must not 500 while the database is away
            down = GaugeMetricFamily("crucible_database_up", "1 when the scrape could read the database")
            down.add_metric([], 0)
            yield down

    def _collect(self):
        jobs = GaugeMetricFamily("crucible_jobs", "Job records by queue, kind and status", labels=["queue", "kind", "status"])
        durations = SummaryMetricFamily(
            "crucible_job_duration_seconds", "Run time (start to finish) of finished jobs", labels=["queue", "kind", "status"]
        )
        depth = {name: 0 for name in settings.JOB_QUEUES}
        run_time = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        for model in job_models():
            kind = model._meta.label_lower
            has_queue_field = any(f.name == "queue" for f in model._meta.concrete_fields)
            group_by = ["queue", "status"] if has_queue_field else ["status"]
            for row in model.objects.order_by().values(*group_by).annotate(n=Count("pk")):
                queue = row.get("queue") or queue_of(model)
                jobs.add_metric([queue, kind, row["status"]], row["n"])
                if row["status"] == JobStatus.QUEUED:
                    depth[queue] = depth.get(queue, 0) + row["n"]
            finished = (
                model.objects.order_by()
                .filter(status__in=FINISHED_STATUSES, started_at__isnull=False, finished_at__isnull=False)
                .values(*group_by)
                .annotate(n=Count("pk"), total=Sum(run_time))
            )
            for row in finished:
                total = row["total"] or timedelta(0)
                durations.add_metric(
                    [row.get("queue") or queue_of(model), kind, row["status"]], row["n"], total.total_seconds()
                )
        yield jobs
        yield durations

        queued = GaugeMetricFamily("crucible_queue_depth", "Jobs waiting (queued) per queue", labels=["queue"])
        for queue, n in sorted(depth.items()):
            queued.add_metric([queue], n)
        yield queued

        workers = GaugeMetricFamily("crucible_queue_workers", "Live workers consuming each queue", labels=["queue"])
        for queue, consumers in queue_consumers(live_workers()).items():
            workers.add_metric([queue], len(consumers))
        yield workers

        yield self._replicas()

        up = GaugeMetricFamily("crucible_database_up", "1 when the scrape could read the database")
        up.add_metric([], 1)
        yield up

    def _replicas(self):
        from serving.models import Replica

        replicas = GaugeMetricFamily(
            "crucible_serving_replicas", "Replica processes per service and status", labels=["service", "status"]
        )
        rows = Replica.objects.order_by().values("version__service__name", "status").annotate(n=Count("pk"))
        for row in rows:
            replicas.add_metric([row["version__service__name"], row["status"]], row["n"])
        return replicas


# --- the endpoint ---------------------------------------------------------------------


def metrics_allowed(request):
    """A bearer METRICS_TOKEN, or a direct connection from METRICS_ALLOWED_NETWORKS.

    A request that came through a proxy (X-Forwarded-For) needs the token: behind nginx on the
    same machine every client would otherwise look like 127.0.0.1.
    """
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and secrets.compare_digest(header[7:].strip(), token):
        return True
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
def metrics_view(request):
    if not metrics_allowed(request):
        return HttpResponse(
            "metrics need Authorization: Bearer <METRICS_TOKEN> or a client in METRICS_ALLOWED_NETWORKS\n",
            status=403, content_type="text/plain; charset=utf-8",
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
