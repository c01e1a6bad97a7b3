"""Serving settings, read from the environment (defaults suit a small CPU host)."""

import os


def _int(name, default):
    return int(os.environ.get(name, default))


def _float(name, default):
    return float(os.environ.get(name, default))


# torch threads per replica: small, the host's cores are shared with the web and workers.
REPLICA_THREADS = _int("SERVING_REPLICA_THREADS", 1)
BATCH_WINDOW_MS = _float("SERVING_BATCH_WINDOW_MS", 5)
MAX_BATCH = _int("SERVING_MAX_BATCH", 8)
# A streamed answer's deltas: the first at once, then at most one per this many ms, carrying every
# token made meanwhile (0: one per decoding step).
STREAM_INTERVAL_MS = _float("SERVING_STREAM_INTERVAL_MS", 50)
# How long a new replica may take to load its model and answer /health.
START_TIMEOUT_S = _float("SERVING_START_TIMEOUT", 180)
# The supervisor's sweep period, and failed health checks before a live process is replaced.
SWEEP_SECONDS = _float("SERVING_SWEEP_SECONDS", 2)
MAX_FAILED_CHECKS = _int("SERVING_MAX_FAILED_CHECKS", 3)
# Autoscaling: the metric window, and how long a version stays below target before it shrinks.
SCALE_WINDOW_S = _float("SERVING_SCALE_WINDOW", 10)
SCALE_DOWN_AFTER_S = _float("SERVING_SCALE_DOWN_AFTER", 30)
MAX_REPLICAS = _int("SERVING_MAX_REPLICAS", 4)
# The gateway's per-process caches (docs/serving.md, "The gateway's caches"): how long an API key's
# row, and a service with its running versions and replicas, are reused before being read again.
KEY_CACHE_S = _float("SERVING_KEY_CACHE_SECONDS", 5)
ROUTE_CACHE_S = _float("SERVING_ROUTE_CACHE_SECONDS", 2)
# Requests are counted in memory and added to the database by a thread every this many seconds
# (0: one UPDATE per request, as it is routed).
COUNT_FLUSH_S = _float("SERVING_COUNT_FLUSH_SECONDS", 1)
# Gateway limits.
REQUEST_TIMEOUT_S = _float("SERVING_REQUEST_TIMEOUT", 300)
MAX_MESSAGES = 256
MAX_PROMPT_CHARS = 200_000
MAX_TOKENS_LIMIT = 4096
MAX_EMBED_INPUTS = 256
