"""The gateway side of a request: pick a version and replica, send it there, count it.

What a request needs from the database is kept per process for a few seconds (conf.KEY_CACHE_S
for API keys, conf.ROUTE_CACHE_S for a service and its running replicas; docs/serving.md, "The
gateway's caches"), and requests are counted in memory and added to the database by a thread
(conf.COUNT_FLUSH_S), so that a request costs no query and no write when the caches are warm.

Replicas answer JSON (or newline-delimited JSON when streaming) over plain HTTP on the
serving host; their 4xx errors already have the OpenAI shape and are raised here as
ModelError (a core.errors.InvalidInput) with the replica's message, param and code.
"""

import atexit
import collections
import copy
import http.client
import json
import logging
import threading
import time

from django.db import close_old_connections
from django.db.models import F

from core import metrics
from core.errors import DomainError, InvalidInput

from . import conf, processes, selectors
from .models import Replica, ReplicaStatus, ServiceVersion

logger = logging.getLogger(__name__)


class ModelError(InvalidInput):
    """A request the model refused (too long a prompt, bad input); carries OpenAI's param/code."""

    def __init__(self, message, status_code=400, param=None, code=None):
        super().__init__(message, status_code=status_code)
        self.param = param
        self.code = code


class Unavailable(DomainError):
    """503. `retry_after` (seconds) only while a replica really is being started: then a client
    should retry (the answer carries Retry-After); without it, waiting will not help."""

    status_code = 503
    exception = "UnavailableException"

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


RETRY_AFTER_SECONDS = 5


def starting(service):
    """Whether a replica of the service is being started or restarted right now."""
    return Replica.objects.filter(version__service=service, status=ReplicaStatus.STARTING).exists()


class _Recent:
    """A small per-process map whose entries are used for at most `max_age` seconds after being read."""

    def __init__(self, setting, limit=10_000):
        self.setting, self.limit = setting, limit  # max_age is read from that setting (serving.conf) at each use
        self.entries = {}
        self.lock = threading.Lock()

    @property
    def max_age(self):
        return getattr(conf, self.setting)

    def get(self, key):
        if self.max_age <= 0:
            return None
        with self.lock:
            entry = self.entries.get(key)
        if entry is None or time.monotonic() - entry[0] >= self.max_age:
            return None
        return entry[1]

    def put(self, key, value, read_at):
        if self.max_age <= 0:
            return
        with self.lock:
            if len(self.entries) >= self.limit:
                self.entries.clear()
            self.entries[key] = (read_at, value)

    def forget(self, match=None):
        with self.lock:
            if match is None:
                self.entries.clear()
            else:
                for key in [k for k, (_, v) in self.entries.items() if match(k, v)]:
                    del self.entries[key]


# (user pk, name) -> the service, for services found (scoping as selectors.callable_service_qs: the key
# holds the caller); service pk -> its routable versions with their running replicas, when it has any.
_services = _Recent("ROUTE_CACHE_S")
_routes = _Recent("ROUTE_CACHE_S")


def forget_routes():
    """Drop this process's cached services and routes (they are read again at the next request)."""
    _services.forget()
    _routes.forget()


def callable_service(user, name):
    """selectors.get_callable_service, with the answer kept for conf.ROUTE_CACHE_S in this process."""
    key = (getattr(user, "pk", None), name.strip() if isinstance(name, str) else name)
    if key[0] is not None and getattr(user, "is_authenticated", False):
        service = _services.get(key)
        if service is not None:
            return service
    read_at = time.monotonic()
    service = selectors.get_callable_service(user, name)
    if key[0] is not None and getattr(user, "is_authenticated", False):
        _services.put(key, service, read_at)
    return service


def _pick(versions, avoid=()):
    version = selectors.pick_version(versions)
    replicas = [r for r in version.live_replicas if r.pk not in avoid] or version.live_replicas
    chosen, *_ = selectors.pick_replicas(replicas)
    # Copies: the cached rows are shared by this process's request threads.
    replica = copy.copy(chosen)
    replica.fallbacks = [copy.copy(r) for r in version.live_replicas if r.pk != chosen.pk]
    return version, replica


def route(service):
    """(version, replica) for one request. The replica carries `fallbacks`: the version's other
    running replicas, tried in turn when it does not answer; `cached` says whether the route was
    read from this process's cache (then a replica that does not answer, or answers 401, sends the
    request along a route read again from the database)."""
    versions, cached = _routes.get(service.pk), True
    if versions is None:
        read_at, cached = time.monotonic(), False
        versions = selectors.routable_versions(service)
        if versions:
            _routes.put(service.pk, versions, read_at)
    if not versions:
        if starting(service):
            raise Unavailable(f"the model `{service.name}` is starting; retry shortly", retry_after=RETRY_AFTER_SECONDS)
        raise Unavailable(f"the model `{service.name}` has no running replica; start the service and retry")
    version, replica = _pick(versions)
    for candidate in (replica, *replica.fallbacks):
        candidate.cached = cached
    replica.service = service
    request_counts.add(version.pk)
    return version, replica


def _reroute(replica, tried):
    """The replicas to try after those of a cached route failed: read again from the database
    (the same version's when it still runs)."""
    service = replica.service
    _routes.forget(lambda key, _: key == service.pk)
    versions = selectors.routable_versions(service)
    if versions:
        _routes.put(service.pk, versions, time.monotonic())
    same = [v for v in versions if v.pk == replica.version_id]
    if not versions:
        return []
    _, fresh = _pick(same or versions, avoid=tried)
    candidates = [fresh, *fresh.fallbacks]
    for candidate in candidates:
        candidate.cached = False
    return candidates


class RequestCounts:
    """Requests routed per version, added to ServiceVersion.request_count by a thread of this
    process every conf.COUNT_FLUSH_S seconds, and at exit (0: one UPDATE per request, at once).
    Every gateway process adds to the same totals; a total lags by at most that many seconds
    (a process killed outright loses what it had not written)."""

    def __init__(self):
        self.pending = collections.Counter()
        self.lock = threading.Lock()
        self.thread = None

    def add(self, version_pk):
        if conf.COUNT_FLUSH_S <= 0:
            ServiceVersion.objects.filter(pk=version_pk).update(request_count=F("request_count") + 1)
            return
        with self.lock:
            self.pending[version_pk] += 1
            if self.thread is None or not self.thread.is_alive():  # also after a fork
                self.thread = threading.Thread(target=self._run, daemon=True, name="request-counts")
                self.thread.start()

    def flush(self):
        """Write what was counted so far (kept for the next flush if the database refuses)."""
        with self.lock:
            pending, self.pending = self.pending, collections.Counter()
        done = set()
        try:
            for pk, count in pending.items():
                ServiceVersion.objects.filter(pk=pk).update(request_count=F("request_count") + count)
                done.add(pk)
        finally:
            left = {pk: count for pk, count in pending.items() if pk not in done}
            if left:
                with self.lock:
                    self.pending.update(left)

    def _run(self):
        while True:
            time.sleep(max(conf.COUNT_FLUSH_S, 0.1))
            try:
                close_old_connections()
                self.flush()
            except Exception as exc:  # the database away for a moment: the counts wait for the next round
                logger.warning("gateway: request counts not written yet (%s)", exc)


request_counts = RequestCounts()


@atexit.register
def _flush_at_exit():
    if request_counts.pending:
        try:
            request_counts.flush()
        except Exception:  # the database may be gone already
            pass


def _raise_for(status, raw):
    try:
        error = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message") or f"the model server answered {status}"
    if status == 503:
        raise Unavailable(message)
    if 400 <= status < 500:
        raise ModelError(message, status_code=status, param=error.get("param"), code=error.get("code"))
    raise Unavailable(f"the model server failed: {message}")


def _connect(replica, path, payload):
    """Send the request to the replica, or, when it does not answer, to the next of its version's
    other running replicas (on any host). A replica that does not answer gets a failed check, so
    the supervisor of its host replaces it."""
    body = json.dumps(payload)
    problems = []
    candidates = [replica, *getattr(replica, "fallbacks", [])]
    tried, rerouted = set(), False
    while candidates:
        candidate = candidates.pop(0)
        tried.add(candidate.pk)
        connection = http.client.HTTPConnection(candidate.address, candidate.port, timeout=conf.REQUEST_TIMEOUT_S)
        try:
            headers = {"Content-Type": "application/json", **processes.auth_headers(candidate)}
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            if response.status == 401 and getattr(candidate, "cached", False):
                # Not the process the cached row names (restarted since, with a new token): read again.
                response.read()
                connection.close()
                problems.append(f"replica {candidate.pk} on {candidate.host}: restarted")
            else:
                return connection, response
        except OSError as exc:
            connection.close()
            # A failed check, unless the row names another process by now (a cached row may be stale).
            Replica.objects.filter(pk=candidate.pk, address=candidate.address, port=candidate.port,
                                   token_salt=candidate.token_salt).update(failed_checks=F("failed_checks") + 1)
            if getattr(candidate, "cached", False) and hasattr(replica, "service"):
                _routes.forget(lambda key, _: key == replica.service.pk)  # the next request reads it again
            problems.append(f"replica {candidate.pk} on {candidate.host}: {exc}")
            logger.warning("gateway: %s did not answer (%s); %d more to try", candidate, exc, len(candidates))
        if not candidates and not rerouted and getattr(replica, "cached", False) and hasattr(replica, "service"):
            rerouted = True
            candidates = _reroute(replica, tried)
    service = replica.version.service
    detail = "; ".join(problems)
    if starting(service):
        raise Unavailable(f"no replica answered ({detail}); one is being started, retry shortly",
                          retry_after=RETRY_AFTER_SECONDS)
    raise Unavailable(f"no replica answered ({detail}); the host's supervisor restarts failed replicas")


def _service_name(replica):
    try:
        return replica.version.service.name
    except Exception:  # metrics never fail a request
        return "unknown"


def call(replica, path, payload):
    started = time.monotonic()
    connection, response = _connect(replica, path, payload)
    try:
        raw = response.read()
    finally:
        connection.close()
    if response.status != 200:
        _raise_for(response.status, raw)
    result = json.loads(raw)
    if path == "/generate":
        done = time.monotonic()
        metrics.observe_generation(service=_service_name(replica), stream=False,
                                   completion_tokens=result.get("completion_tokens") or 0,
                                   started=started, first_token_at=done, finished=done)
    return result


def stream(replica, path, payload):
    """Opens the stream (raising its error before any event) and returns an iterator of events."""
    started = time.monotonic()
    connection, response = _connect(replica, path, payload)
    if response.status != 200:
        raw = response.read()
        connection.close()
        _raise_for(response.status, raw)

    def events():
        first_token_at = None
        try:
            while True:
                line = response.readline()
                if not line:
                    break
                if line.strip():
                    event = json.loads(line)
                    if first_token_at is None and (event.get("text") or event.get("done")):
                        first_token_at = time.monotonic()
                    if event.get("done") and path == "/generate":
                        metrics.observe_generation(service=_service_name(replica), stream=True,
                                                   completion_tokens=event.get("completion_tokens") or 0,
                                                   started=started, first_token_at=first_token_at,
                                                   finished=time.monotonic())
                    yield event
        finally:
            connection.close()

    return events()
