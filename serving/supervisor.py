"""The replica supervisor: a sweep every few seconds in each worker that consumes `serving`.

Per sweep, for the replicas of this host:
- a replica whose version is no longer deploying/running is stopped;
- a replica whose process is gone (or that failed MAX_FAILED_CHECKS health checks in a
  row, or never became healthy within START_TIMEOUT) is restarted on a new port, and
  the event is logged on the service;
- a starting replica that answers /health "ok" becomes running.
Then each running version is scaled (see `scale`). Every write is a conditional update,
so two workers sweeping the same host do not both restart one replica.
"""

import logging
import math
import threading
import time
from collections import defaultdict, deque

from celery.signals import worker_ready, worker_shutdown
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from . import conf, kserve, processes, selectors
from .models import (
    ACTIVE_VERSION_STATUSES,
    LIVE_REPLICA_STATUSES,
    Metric,
    Replica,
    ReplicaStatus,
    ServiceVersion,
    VersionStatus,
)

logger = logging.getLogger(__name__)
CLUSTER_SYNC_SECONDS = 15
_stop = threading.Event()


class Supervisor:
    def __init__(self, host=None):
        self.host = host or processes.host_name()
        self.last_requests = {}  # replica pk -> requests counter at the last sweep
        self.samples = defaultdict(deque)  # version pk -> (time, cumulative requests, in flight)
        self.totals = defaultdict(int)
        self.below_since = {}  # version pk -> when its load first fell below its replica count
        self.synced_at = float("-inf")

    def sweep(self):
        from . import services

        now = time.monotonic()
        if services.on_cluster():
            self.sync_cluster(now)
            return
        for replica in selectors.live_replicas_on(self.host):
            version = replica.version
            if version.status not in ACTIVE_VERSION_STATUSES or version.service.deleting:
                services.stop_replica(replica)
                services.log_event(version.service, f"replica {replica.pk} stopped (version {version.status})", version)
                continue
            self.check(replica, now)
        for version in ServiceVersion.objects.filter(status=VersionStatus.RUNNING).select_related("service"):
            if version.replicas.filter(host=self.host).exists() or not version.replicas.filter(
                status__in=LIVE_REPLICA_STATUSES
            ).exists():
                self.scale(version, now)

    def sync_cluster(self, now):
        """SERVING_BACKEND=kserve: no replicas here; read each running version's InferenceService
        back (at most every CLUSTER_SYNC_SECONDS), so a revision the cluster lost shows as failed
        or deploying and one that recovered as running again. Deploy jobs watch their own."""
        if now - self.synced_at < CLUSTER_SYNC_SECONDS:
            return
        self.synced_at = now
        for version in ServiceVersion.objects.filter(status=VersionStatus.RUNNING).select_related("service"):
            try:
                kserve.sync_version_status(version)
            except kserve.ClusterError as exc:
                logger.warning("serving supervisor: %s", exc)
                return

    def check(self, replica, now):
        from . import services

        age = (timezone.now() - (replica.started_at or replica.created_at)).total_seconds()
        if replica.pid is None:
            if age > conf.START_TIMEOUT_S:  # the starter died before recording a pid
                self.restart(replica, "never started")
            return
        if not (processes.is_alive(replica.pid) and processes.is_replica_process(replica.pid, replica)):
            self.restart(replica, f"process {replica.pid} exited")
            return
        report = processes.health(replica)
        if report and report.get("status") == "ok":
            self.record(replica, report)
            if replica.status == ReplicaStatus.STARTING:
                services.mark_replica_running(replica, report)
                services.log_event(replica.version.service, f"replica {replica.pk} is running (port {replica.port})",
                                   replica.version)
            else:
                Replica.objects.filter(pk=replica.pk).update(
                    checked_at=timezone.now(), failed_checks=0, requests=report.get("requests", 0),
                    in_flight=report.get("in_flight", 0),
                )
            return
        if replica.status == ReplicaStatus.STARTING:
            if (report and report.get("status") == "failed") or age > conf.START_TIMEOUT_S:
                self.restart(replica, f"did not become healthy: {(report or {}).get('error') or processes.tail(replica)}")
            return
        Replica.objects.filter(pk=replica.pk).update(failed_checks=F("failed_checks") + 1)
        if replica.failed_checks + 1 >= conf.MAX_FAILED_CHECKS:
            self.restart(replica, f"failed {replica.failed_checks + 1} health checks")

    def restart(self, replica, reason):
        from . import services

        claimed = Replica.objects.filter(pk=replica.pk, pid=replica.pid, status=replica.status).update(
            status=ReplicaStatus.STARTING, pid=None, port=None, restarts=F("restarts") + 1, started_at=timezone.now(),
            error=reason[:2000],
        )
        if not claimed:
            return None
        processes.stop_pid(replica.pid, replica)
        version = replica.version
        services.log_event(version.service, f"replica {replica.pk} {reason}; restarting", version)
        logger.warning("replica %s of version %s: %s; restarting", replica.pk, version.pk, reason)
        replica.refresh_from_db()
        return services.spawn_replica(version, replica)

    def record(self, replica, report):
        requests = int(report.get("requests", 0))
        previous = self.last_requests.get(replica.pk, requests)
        self.totals[replica.version_id] += max(0, requests - previous) if requests >= previous else requests
        self.last_requests[replica.pk] = requests

    def load(self, version, now):
        """(requests per second, mean concurrency) over the last SCALE_WINDOW seconds."""
        live = list(version.replicas.filter(status=ReplicaStatus.RUNNING))
        in_flight = sum(r.in_flight for r in live)
        samples = self.samples[version.pk]
        samples.append((now, self.totals[version.pk], in_flight))
        while samples and now - samples[0][0] > conf.SCALE_WINDOW_S:
            samples.popleft()
        first = samples[0]
        elapsed = now - first[0]
        rps = (self.totals[version.pk] - first[1]) / elapsed if elapsed > 0 else 0.0
        concurrency = sum(s[2] for s in samples) / len(samples)
        return rps, concurrency

    def scale(self, version, now):
        """Replicas = ceil(load / monitorThreshold), between predictMinReplicas and predictMaxReplicas.

        metric 1 uses requests per second, 2 mean concurrency; 3 (GPU use) has no reading on a
        CPU host, so such versions stay at predictMinReplicas. Growth is immediate; a version
        shrinks one replica at a time after SCALE_DOWN_AFTER seconds below its size.
        """
        from . import services

        rps, concurrency = self.load(version, now)
        value = {Metric.RPS: rps, Metric.CONCURRENCY: concurrency}.get(version.metric)
        low, high = version.predict_min_replicas, max(version.predict_min_replicas, version.predict_max_replicas)
        wanted = low if value is None else math.ceil(value / version.monitor_threshold)
        wanted = min(high, max(low, wanted))
        live = list(version.replicas.filter(status__in=LIVE_REPLICA_STATUSES).order_by("id"))
        if len(live) < wanted:
            self.below_since.pop(version.pk, None)
            if ServiceVersion.objects.filter(pk=version.pk, status=VersionStatus.RUNNING).update(
                desired_replicas=wanted, scaled_at=timezone.now()
            ):
                why = "below the minimum" if value is None or len(live) < low else (
                    f"{'rps' if version.metric == Metric.RPS else 'concurrency'} {value:.2f} over "
                    f"{version.monitor_threshold:g} per replica")
                services.log_event(version.service, f"version {version.number}: scaling {len(live)} -> {wanted} "
                                   f"replicas ({why})", version)
                for _ in range(wanted - len(live)):
                    services.spawn_replica(version)
            return
        if len(live) > wanted:
            since = self.below_since.setdefault(version.pk, now)
            if now - since < conf.SCALE_DOWN_AFTER_S:
                return
            self.below_since.pop(version.pk, None)
            replica = live[-1]
            if replica.host == self.host:
                services.stop_replica(replica)
                ServiceVersion.objects.filter(pk=version.pk).update(desired_replicas=len(live) - 1,
                                                                    scaled_at=timezone.now())
                services.log_event(version.service, f"version {version.number}: scaled down to {len(live) - 1} "
                                   f"replica(s) (load {value:.2f} per {version.monitor_threshold:g})", version)
            return
        self.below_since.pop(version.pk, None)


def _loop(supervisor):
    try:
        while not _stop.is_set():
            try:
                close_old_connections()
                supervisor.sweep()
            except Exception:
                logger.exception("serving supervisor sweep failed")
            if _stop.wait(conf.SWEEP_SECONDS):
                break
    finally:
        connection.close()


@worker_ready.connect
def start_supervisor(sender=None, **kwargs):
    queues = {q.name for q in sender.app.amqp.queues.consume_from.values()} if sender else set()
    if "serving" not in queues:
        return
    threading.Thread(target=_loop, args=(Supervisor(),), daemon=True, name="serving-supervisor").start()


@worker_shutdown.connect
def stop_supervisor(**kwargs):
    _stop.set()
