"""Crucible settings, read from the environment (django-environ).

With no environment at all this runs a development instance: SQLite and files under
DATA_DIR, and a Celery broker on the local filesystem, so no service is needed.
Set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL and Redis. DJANGO_ENV=production
turns on the production checks (real SECRET_KEY, DEBUG off).
"""

import glob
import ipaddress
import os
import re
import socket
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent



class CrucibleEnv(environ.Env):
    """django-environ, plus the two readings that a hand-written `.env` gets wrong.

    `dir()` refuses a path holding " #": `.env` has no inline comments, so
    `CRUCIBLE_DATA_DIR=/srv/crucible  # shared` would silently become a new local folder.
    `secret()` reads the value as written: django-environ takes a value starting with `$`
    as a reference to another variable, and Django's own key generator makes such keys.
    """

    def dir(self, var, *, default):
        value = self.str(var, default=default)
        if re.search(r"\s#", value) or value != value.strip():
            raise ImproperlyConfigured(
                f"{var}={value!r}: a path with a space before '#' or around it is an inline comment read as "
                "part of the value (.env has no inline comments); put the comment on a line of its own."
            )
        return Path(value).resolve()

    def secret(self, var, *, default):
        return self.ENVIRON.get(var, default)


def refuse_inline_comments(env_file):
    """Refuse `.env` lines whose unquoted value holds " #": a comment read as part of the value."""
    if not env_file.is_file():
        return
    for number, line in enumerate(env_file.read_text().splitlines(), start=1):
        match = re.match(r"\A(?:export )?([A-Za-z_0-9]+)=(.*)\Z", line)
        if not match:
            continue
        name, value = match.groups()
        if re.match(r"""\A(['"]).*\1\s*\Z""", value):
            continue  # quoted: a '#' inside quotes is part of the value, as intended
        if re.search(r"\s#", value):
            raise ImproperlyConfigured(
                f"{env_file}, line {number}: {name} has an inline comment ({value.strip()!r}); "
                ".env reads everything after '=' as the value. Put the comment on a line of its own."
            )


env = CrucibleEnv()
# CRUCIBLE_ENV_FILE: another `.env` (the systemd units and deploy/bin/crucible-manage name
# /etc/crucible/crucible.env).
ENV_FILE = Path(os.environ.get("CRUCIBLE_ENV_FILE", BASE_DIR / ".env"))
refuse_inline_comments(ENV_FILE)
environ.Env.read_env(ENV_FILE, overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

DATA_DIR = env.dir("CRUCIBLE_DATA_DIR", default=str(BASE_DIR / "var"))
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new one: only the platform reads it

INSECURE_DEV_KEY = "django-insecure-crucible-development-key-do-not-use-in-production"
SECRET_KEY = env.secret("SECRET_KEY", default=INSECURE_DEV_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    if SECRET_KEY == INSECURE_DEV_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production needs a real SECRET_KEY (32+ characters).")
    if DEBUG:
        raise ImproperlyConfigured("Production refuses to start with DEBUG on.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if not PRODUCTION else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "core",
    "accounts",
    "hub",
    "registry",
    "files",
    "images",
    "training",
    "evaluation",
    "serving",
    "sgt",
    "chat",
    "experiments",
]

MIDDLEWARE = [
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.parsers.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Pages in the browser's language (Accept-Language) or the one chosen with the switcher
    # (cookie); API answers (spec facades, /api/v1/, /v1/) always in LANGUAGE_CODE (core.i18n).
    "core.i18n.PageLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Puts the site's 404 page in place of DEBUG's technical one (which lists every URL pattern).
    "core.errorpages.FriendlyNotFoundMiddleware",
]

# Content-Security-Policy on every response (django-csp). Scripts and <style> blocks come
# from our own origin or carry the request's nonce (`nonce="{{ request.csp_nonce }}"`);
# no eval, no plugins, no framing, forms post only here. Inline style attributes stay
# allowed (style-src-attr): they cannot run script, and pages and Chart.js use them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

ROOT_URLCONF = "config.urls"
# The specs' paths are exact ("/modelList", "/set_parameters"): never redirect them.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'crucible.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # Web, worker and replica processes share the file: WAL lets readers run beside a
    # writer, and IMMEDIATE transactions wait for the lock instead of failing "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://crucible")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:profile"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Pages in English (the default, also for a client that sends no Accept-Language) or
# Simplified Chinese; translations in locale/<lang>/LC_MESSAGES (docs/development.md).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice, remembered for a year.
LANGUAGE_COOKIE_NAME = "crucible_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads larger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

AVATAR_MAX_BYTES = env.int("AVATAR_MAX_BYTES", default=2 * 1024 * 1024)
AVATAR_SIZE = 256
# Downloads (hub resolve, file spaces) handed to a reverse proxy: none (Django streams them),
# nginx (X-Accel-Redirect: DOWNLOAD_ACCEL_PREFIX + storage name; an internal location aliased
# to MEDIA_ROOT) or apache (X-Sendfile with the file's path; mod_xsendfile). Local storage only.
DOWNLOAD_ACCEL = env.str("DOWNLOAD_ACCEL", default="none")
if DOWNLOAD_ACCEL not in ("none", "nginx", "apache"):
    raise ValueError("DOWNLOAD_ACCEL must be none, nginx or apache")
DOWNLOAD_ACCEL_PREFIX = env.str("DOWNLOAD_ACCEL_PREFIX", default="/protected-media/")
# The largest file accepted by the file spaces (files app), in bytes.
FILES_MAX_UPLOAD_BYTES = env.int("FILES_MAX_UPLOAD_BYTES", default=5 * 1024**3)

# --- login throttle (accounts.throttling) ----------------------------------
# Proxies in front of Crucible that append to X-Forwarded-For; 0: the header is ignored
# and the client address is REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# This many failed logins for one username within the window lock it for LOGIN_LOCKOUT_SECONDS.
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=10)
LOGIN_LOCKOUT_WINDOW_SECONDS = env.int("LOGIN_LOCKOUT_WINDOW_SECONDS", default=15 * 60)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)

# --- REST framework -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerJWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # The clean API's one paginator (?limit=&offset=): {"count", "next", "previous", "results"}.
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Page",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.envelopes.exception_handler",
    # JSON through core.parsers.parse_json: nesting limit, no NaN/Infinity, 400 on bad input.
    # Content negotiation that also refuses a NUL in the query string (in each API's envelope).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.parsers.RejectNulQuery",
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("AUTH_THROTTLE_RATE", default="20/min"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# The deepest nesting of arrays and objects a JSON body may have (core.parsers).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Its own key: a leaked SECRET_KEY (or one read by a job) must not let anyone mint tokens.
    "SIGNING_KEY": env.secret("JWT_SIGNING_KEY", default="" if PRODUCTION else SECRET_KEY + ":jwt"),
}
if PRODUCTION and (len(SIMPLE_JWT["SIGNING_KEY"]) < 32 or SIMPLE_JWT["SIGNING_KEY"] == SECRET_KEY):
    raise ImproperlyConfigured("Production needs its own JWT_SIGNING_KEY (32+ characters, not the SECRET_KEY).")

SPECTACULAR_SETTINGS = {
    "TITLE": "Crucible API",
    "DESCRIPTION": "Crucible research platform: the clean API and the compatibility facades of shared/specs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that several apps name alike (status, kind...): one component name each.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "core.models.JobStatus",
        "JobStatusFilterEnum": "core.selectors.STATUS_FILTER_CHOICES",
        "ServiceKindEnum": "serving.models.ServiceKind",
        "ServiceVersionStatusEnum": "serving.models.VersionStatus",
        "ReplicaStatusEnum": "serving.models.ReplicaStatus",
        "ScalingMetricEnum": "serving.models.Metric",
        "EvaluationKindEnum": "evaluation.models.Kind",
        "BaseModelSourceEnum": "training.models.ModelSource",
        "TrainingDataSourceEnum": "training.models.DataSource",
        "EvaluationSourceEnum": "evaluation.models.Source",
        "SaveTypeEnum": "registry.models.SaveType",
        "VersionSourceEnum": "registry.models.VersionSource",
        "RegistryVersionStatusEnum": "registry.models.VersionStatus",
    },
}

# Who may create an account: "open" (anyone), "approval" (anyone, inactive until an admin
# ticks "active" in the admin), "closed" (only admins, with manage.py create_admin or the admin).
REGISTRATION = env.str("REGISTRATION", default="approval" if PRODUCTION else "open")
if REGISTRATION not in ("open", "approval", "closed"):
    raise ImproperlyConfigured(f"REGISTRATION={REGISTRATION!r}: use open, approval or closed.")

# Serving on a cluster (serving/kserve.py): SERVING_BACKEND=kserve renders each service version as
# a KServe InferenceService (Hugging Face runtime, KSERVE_BACKEND vllm or huggingface) whose model
# is KSERVE_STORAGE_URI + the model folder's path inside the data folder (a PVC of the data folder).
SERVING_BACKEND = env.str("SERVING_BACKEND", default="local")
if SERVING_BACKEND not in ("local", "kserve"):
    raise ImproperlyConfigured(f"SERVING_BACKEND={SERVING_BACKEND!r}: use local or kserve.")
SERVING_NAMESPACE = env.str("SERVING_NAMESPACE", default="default")
SERVING_KUBECONFIG = env.str("SERVING_KUBECONFIG", default=env.str("KUBECONFIG", default=""))
KSERVE_RUNTIME = env.str("KSERVE_RUNTIME", default="kserve-huggingfaceserver")
KSERVE_BACKEND = env.str("KSERVE_BACKEND", default="vllm")
if KSERVE_BACKEND not in ("vllm", "huggingface"):
    raise ImproperlyConfigured(f"KSERVE_BACKEND={KSERVE_BACKEND!r}: use vllm or huggingface.")
KSERVE_STORAGE_URI = env.str("KSERVE_STORAGE_URI", default="pvc://crucible-data")
# Where the gateway sends /v1 requests for an InferenceService: its own URL (status.url, resolved
# by the cluster's DNS) or, when KSERVE_INGRESS is set (http://<ingress host>:<port>), that ingress
# with the InferenceService's host name in the Host header, as KServe's docs call it from outside.
KSERVE_INGRESS = env.str("KSERVE_INGRESS", default="")
# Seconds a deploy job waits for the InferenceService to become Ready before the version fails.
KSERVE_READY_TIMEOUT = env.float("KSERVE_READY_TIMEOUT", default=900.0)

# /metrics (Prometheus): a bearer token, or direct connections from these networks (CIDRs).
METRICS_TOKEN = env.secret("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from None
# Request and /v1 counters of every process on this host (prometheus-client multiprocess
# mode); it must be set before prometheus_client is imported, so it is exported here.
PROMETHEUS_MULTIPROC_DIR = env.dir(
    "PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "prometheus" / socket.gethostname())
)
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

# System key that guards POST /sgt/private/update_auth_token (32+ characters). Unset: a
# development instance generates one in DATA_DIR/sgt-system-key; production has none (off).
SGT_SYSTEM_KEY = env.secret("SGT_SYSTEM_KEY", default="")

# Quota defaults for users without a quota record (isInitConfig false).
DEFAULT_QUOTA = {
    "cpu": env.int("DEFAULT_QUOTA_CPU", default=8),
    "gpu": env.int("DEFAULT_QUOTA_GPU", default=0),
    "memory_gb": env.float("DEFAULT_QUOTA_MEMORY_GB", default=16.0),
    "job_slots": env.int("DEFAULT_QUOTA_JOB_SLOTS", default=4),
    "mig": env.int("DEFAULT_QUOTA_MIG", default=0),
    "vgpu": env.int("DEFAULT_QUOTA_VGPU", default=0),
}
# Functions "module.function(user) -> (bytes, inodes)" that report a user's storage use.
STORAGE_USAGE_PROVIDERS = env.list(
    "STORAGE_USAGE_PROVIDERS", default=["files.selectors.storage_usage", "hub.selectors.storage_usage"]
)

# Hub uploads: the largest file, the largest upload (all files together), files per upload.
HUB_MAX_FILE_BYTES = env.int("HUB_MAX_FILE_BYTES", default=20 * 1024**3)
HUB_MAX_UPLOAD_BYTES = env.int("HUB_MAX_UPLOAD_BYTES", default=50 * 1024**3)
HUB_MAX_UPLOAD_FILES = env.int("HUB_MAX_UPLOAD_FILES", default=1000)
# Model cards larger than this are shown (and parsed for tags) only up to here.
HUB_CARD_MAX_BYTES = env.int("HUB_CARD_MAX_BYTES", default=512 * 1024)
# LFS objects larger than this are uploaded in parts of this size (multipart transfer, resumable).
HUB_LFS_PART_BYTES = env.int("HUB_LFS_PART_BYTES", default=64 * 1024 * 1024)

# Image imports (images app): where configs and layers are kept, and the archive limits.
IMAGES_STORE_DIR = env.dir("IMAGES_STORE_DIR", default=str(DATA_DIR / "images"))
IMAGES_MAX_TARBALL_BYTES = env.int("IMAGES_MAX_TARBALL_BYTES", default=20 * 1024**3)
IMAGES_MAX_MEMBERS = env.int("IMAGES_MAX_MEMBERS", default=10000)
IMAGES_MAX_MEMBER_BYTES = env.int("IMAGES_MAX_MEMBER_BYTES", default=10 * 1024**3)
IMAGES_MAX_TOTAL_BYTES = env.int("IMAGES_MAX_TOTAL_BYTES", default=40 * 1024**3)
# A tarball may unpack to at most this many times its size (at least 1 MiB); checked as it streams.
IMAGES_MAX_EXPANSION_RATIO = env.float("IMAGES_MAX_EXPANSION_RATIO", default=20.0)

# Training: the most validation blocks evaluated at each intermediate evaluation (the sample is sized
# from the run's length, training.schedule; 0: no cap); the end of a run evaluates the whole split.
# A request's eval_sample_size wins.
TRAINING_EVAL_SAMPLE_BLOCKS = env.int("TRAINING_EVAL_SAMPLE_BLOCKS", default=256)

# --- Celery ---------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "control_folder": str(DATA_DIR / "broker-control"),
        # Seconds between two looks at the folder when it is empty: kombu's default of 1 s made
        # POST -> running take about 0.9 s; a look is one listdir, so 0.1 s costs little when idle.
        "polling_interval": env.float("CELERY_BROKER_POLLING_INTERVAL", default=0.1),
    }
else:
    # Redis: unacknowledged messages of a dead worker come back after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
JOB_QUEUES = ["default", "training", "evaluation", "serving", "experiments"]
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in JOB_QUEUES]
CELERY_TASK_ROUTES = {
    "training.*": {"queue": "training"},
    "evaluation.*": {"queue": "evaluation"},
    "serving.*": {"queue": "serving"},
    "experiments.*": {"queue": "experiments"},
}
CELERY_TASK_ALWAYS_EAGER = False

# A running job writes a heartbeat this often; without one for JOB_STALE_SECONDS it is
# taken as lost (worker killed) and failed or requeued by the sweep that every worker
# runs each WORKER_HEARTBEAT_SECONDS.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=5.0)
JOB_STALE_SECONDS = env.float("JOB_STALE_SECONDS", default=45.0)
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=10.0)

# Serving hosts: replicas listen on SERVING_BIND_ADDRESS (a port from SERVING_PORT_RANGE,
# "20000-20999", or any free one when empty) and are recorded under SERVING_ADVERTISE_ADDRESS,
# the address the web machines reach this host at (default: the bind address, or this host's
# name when binding every interface).
SERVING_BIND_ADDRESS = env.str("SERVING_BIND_ADDRESS", default="127.0.0.1")
SERVING_ADVERTISE_ADDRESS = env.str("SERVING_ADVERTISE_ADDRESS", default="")
SERVING_PORT_RANGE = env.str("SERVING_PORT_RANGE", default="")

# Replicas and the /v1 gateway (serving.conf reads these at use time; docs/serving.md).
# torch threads per replica: small, the host's cores are shared with the web and workers.
SERVING_REPLICA_THREADS = env.int("SERVING_REPLICA_THREADS", default=1)
SERVING_BATCH_WINDOW_MS = env.float("SERVING_BATCH_WINDOW_MS", default=5.0)
SERVING_MAX_BATCH = env.int("SERVING_MAX_BATCH", default=8)
# A streamed answer's deltas: the first at once, then at most one per this many ms, carrying every
# token made meanwhile (0: one per decoding step).
SERVING_STREAM_INTERVAL_MS = env.float("SERVING_STREAM_INTERVAL_MS", default=50.0)
# How long a new replica may take to load its model and answer /health.
SERVING_START_TIMEOUT = env.float("SERVING_START_TIMEOUT", default=180.0)
# The supervisor's sweep period, and failed health checks before a live process is replaced.
SERVING_SWEEP_SECONDS = env.float("SERVING_SWEEP_SECONDS", default=2.0)
SERVING_MAX_FAILED_CHECKS = env.int("SERVING_MAX_FAILED_CHECKS", default=3)
# Autoscaling: the metric window, and how long a version stays below target before it shrinks.
SERVING_SCALE_WINDOW = env.float("SERVING_SCALE_WINDOW", default=10.0)
SERVING_SCALE_DOWN_AFTER = env.float("SERVING_SCALE_DOWN_AFTER", default=30.0)
SERVING_MAX_REPLICAS = env.int("SERVING_MAX_REPLICAS", default=4)
# The gateway's per-process caches: how long an API key's row, and a service with its running
# versions and replicas, are reused before being read again.
SERVING_KEY_CACHE_SECONDS = env.float("SERVING_KEY_CACHE_SECONDS", default=5.0)
SERVING_ROUTE_CACHE_SECONDS = env.float("SERVING_ROUTE_CACHE_SECONDS", default=2.0)
# Requests are counted in memory and added to the database by a thread every this many seconds
# (0: one UPDATE per request, as it is routed).
SERVING_COUNT_FLUSH_SECONDS = env.float("SERVING_COUNT_FLUSH_SECONDS", default=1.0)
SERVING_REQUEST_TIMEOUT = env.float("SERVING_REQUEST_TIMEOUT", default=300.0)

# SGT (small models, docs/sgt.md): sizes and limits.
SGT_MAX_SIZE = env.int("SGT_MAX_SIZE", default=1024)  # in_size and out_size
SGT_MAX_CLIENT_DATA_BYTES = env.int("SGT_MAX_CLIENT_DATA_BYTES", default=64 * 1024)
SGT_MAX_UPLOAD_ROWS = env.int("SGT_MAX_UPLOAD_ROWS", default=20_000)
SGT_MAX_UPLOAD_VALUES = env.int("SGT_MAX_UPLOAD_VALUES", default=1_000_000)
SGT_MAX_MODEL_ROWS = env.int("SGT_MAX_MODEL_ROWS", default=200_000)
SGT_MAX_MODEL_VALUES = env.int("SGT_MAX_MODEL_VALUES", default=5_000_000)  # 20 MB of float32 per model
SGT_MAX_RUN_ROWS = env.int("SGT_MAX_RUN_ROWS", default=10_000)
SGT_MAX_RUN_VALUES = env.int("SGT_MAX_RUN_VALUES", default=1_000_000)
SGT_MAX_TRAIN_SECONDS = env.float("SGT_MAX_TRAIN_SECONDS", default=300.0)
SGT_MAX_BODY_BYTES = env.int("SGT_MAX_BODY_BYTES", default=16 * 1024 * 1024)
# Trained networks kept in memory per process for run_sgt_model.
SGT_NETWORK_CACHE_SIZE = env.int("SGT_NETWORK_CACHE_SIZE", default=64)

# Furnace runs (experiments): the driver of new runs ("simulator" or a lab driver) and the length
# of a run's video: this many seconds per furnace hour, within [MIN, MAX] seconds.
EXPERIMENTS_DEFAULT_DRIVER = env.str(
    "EXPERIMENTS_DEFAULT_DRIVER", default="experiments.drivers.simulator.SimulatedFurnace"
)
EXPERIMENTS_VIDEO_SECONDS_PER_HOUR = env.float("EXPERIMENTS_VIDEO_SECONDS_PER_HOUR", default=4.0)
EXPERIMENTS_VIDEO_MIN_SECONDS = env.float("EXPERIMENTS_VIDEO_MIN_SECONDS", default=3.0)
EXPERIMENTS_VIDEO_MAX_SECONDS = env.float("EXPERIMENTS_VIDEO_MAX_SECONDS", default=60.0)

# Training jobs run on this worker ("local", in the sandbox) or as Kubeflow training jobs
# ("kubeflow": TRAINING_NAMESPACE, the kubeconfig TRAINING_KUBECONFIG or KUBECONFIG, or in-cluster).
TRAINING_BACKEND = env.str("TRAINING_BACKEND", default="local")
TRAINING_NAMESPACE = env.str("TRAINING_NAMESPACE", default="default")
TRAINING_KUBECONFIG = env.str("TRAINING_KUBECONFIG", default=env.str("KUBECONFIG", default=""))

# The sandbox every child process of a job runs in (core.sandbox, docs/security.md):
# "bubblewrap" (Linux namespaces; Debian's bubblewrap package) or "none" (development only:
# a production worker refuses to start with it).
CODE_SANDBOX = env.str("CODE_SANDBOX", default="bubblewrap")
if CODE_SANDBOX not in ("bubblewrap", "none"):
    raise ImproperlyConfigured("CODE_SANDBOX must be 'bubblewrap' or 'none'.")
# A worker running as root runs each box as one of these unprivileged uids (no account needed);
# a worker running as its own user maps the box's uid CODE_SANDBOX_INNER_UID to itself.
CODE_SANDBOX_UID_BASE = env.int("CODE_SANDBOX_UID_BASE", default=1_000_000)
CODE_SANDBOX_UID_COUNT = env.int("CODE_SANDBOX_UID_COUNT", default=65_536)
CODE_SANDBOX_INNER_UID = env.int("CODE_SANDBOX_INNER_UID", default=1000)
# Network for jobs: off (no interface but an isolated loopback). An admin may turn it on for all jobs.
CODE_SANDBOX_NETWORK = env.bool("CODE_SANDBOX_NETWORK", default=False)
CODE_SANDBOX_MAX_PROCESSES = env.int("CODE_SANDBOX_MAX_PROCESSES", default=512)  # threads count too
CODE_SANDBOX_MAX_FILE_BYTES = env.int("CODE_SANDBOX_MAX_FILE_BYTES", default=50 * 1024**3)
CODE_SANDBOX_TMP_BYTES = env.int("CODE_SANDBOX_TMP_BYTES", default=1024**3)  # each of /tmp and /dev/shm
CODE_SANDBOX_EXTRA_READABLE = env.list("CODE_SANDBOX_EXTRA_READABLE", default=[])
CODE_SANDBOX_DEVICES = env.list("CODE_SANDBOX_DEVICES", default=sorted(glob.glob("/dev/nvidia*")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- HTTPS (production defaults on; `check --deploy` is clean with them) -----------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
# The language switcher's cookie goes where the session's goes; no script reads it.
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy: the request header (Django's META name) that the proxy
# sets to "https", e.g. HTTP_X_FORWARDED_PROTO. Only set it when the proxy always sets or
# overwrites that header; empty: the connection itself says whether it is HTTPS.
_PROXY_SSL_HEADER = env.str("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (_PROXY_SSL_HEADER, "https") if _PROXY_SSL_HEADER else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Health probes and a Prometheus on the web machine (METRICS_ALLOWED_NETWORKS, 127.0.0.1:8000)
# reach the web process over plain HTTP: never redirect them. /metrics still needs the token or
# a direct connection from an allowed network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
