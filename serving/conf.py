"""Serving settings, by short names: each is declared once in config/settings.py (`SERVING_*`, from
the environment or `.env` through django-environ) and read from django.conf.settings at every use,
so an override (a test's `settings` fixture, `override_settings`) takes effect at once. The gateway
limits below are constants of the API, not settings."""

from django.conf import settings

_SETTINGS = {
    "REPLICA_THREADS": "SERVING_REPLICA_THREADS",
    "BATCH_WINDOW_MS": "SERVING_BATCH_WINDOW_MS",
    "MAX_BATCH": "SERVING_MAX_BATCH",
    "STREAM_INTERVAL_MS": "SERVING_STREAM_INTERVAL_MS",
    "START_TIMEOUT_S": "SERVING_START_TIMEOUT",
    "SWEEP_SECONDS": "SERVING_SWEEP_SECONDS",
    "MAX_FAILED_CHECKS": "SERVING_MAX_FAILED_CHECKS",
    "SCALE_WINDOW_S": "SERVING_SCALE_WINDOW",
    "SCALE_DOWN_AFTER_S": "SERVING_SCALE_DOWN_AFTER",
    "MAX_REPLICAS": "SERVING_MAX_REPLICAS",
    "KEY_CACHE_S": "SERVING_KEY_CACHE_SECONDS",
    "ROUTE_CACHE_S": "SERVING_ROUTE_CACHE_SECONDS",
    "COUNT_FLUSH_S": "SERVING_COUNT_FLUSH_SECONDS",
    "REQUEST_TIMEOUT_S": "SERVING_REQUEST_TIMEOUT",
}


def __getattr__(name):
    try:
        return getattr(settings, _SETTINGS[name])
    except KeyError:
        raise AttributeError(f"serving.conf has no setting {name}") from None


# Gateway limits.
MAX_MESSAGES = 256
MAX_PROMPT_CHARS = 200_000
MAX_TOKENS_LIMIT = 4096
MAX_EMBED_INPUTS = 256
