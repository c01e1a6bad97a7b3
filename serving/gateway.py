"""The gateway side of a request: pick a version and replica, send it there, count it.

Replicas answer JSON (or newline-delimited JSON when streaming) over plain HTTP on the
serving host; their 4xx errors already have the OpenAI shape and are raised here as
ModelError (a core.errors.InvalidInput) with the replica's message, param and code.
"""

import http.client
import json
import logging
import time

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


def route(service):
    """(version, replica) for one request. The replica carries `fallbacks`: the version's other
    running replicas, tried in turn when it does not answer."""
    picked = selectors.pick_route(service)
    if picked is None:
        if starting(service):
            raise Unavailable(f"the model `{service.name}` is starting; retry shortly", retry_after=RETRY_AFTER_SECONDS)
        raise Unavailable(f"the model `{service.name}` has no running replica; start the service and retry")
    version, replica = picked
    replica.fallbacks = [r for r in version.live_replicas if r.pk != replica.pk]
    # Counted when routed, in the database, so every gateway process adds to the same totals
    # (one write per request; a service's count is the sum over its versions).
    ServiceVersion.objects.filter(pk=version.pk).update(request_count=F("request_count") + 1)
    return version, replica


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
    for candidate in [replica, *getattr(replica, "fallbacks", [])]:
        connection = http.client.HTTPConnection(candidate.address, candidate.port, timeout=conf.REQUEST_TIMEOUT_S)
        try:
            headers = {"Content-Type": "application/json", **processes.auth_headers(candidate)}
            connection.request("POST", path, body=body, headers=headers)
            return connection, connection.getresponse()
        except OSError as exc:
            connection.close()
            Replica.objects.filter(pk=candidate.pk).update(failed_checks=F("failed_checks") + 1)
            problems.append(f"replica {candidate.pk} on {candidate.host}: {exc}")
            logger.warning("gateway: %s did not answer (%s); %d more to try", candidate, exc,
                           len(getattr(replica, "fallbacks", [])) + 1 - len(problems))
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
