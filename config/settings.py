"""Crucible settings, read from the environment (django-environ).

With no environment at all this runs a development instance: SQLite and files under
DATA_DIR, and a Celery broker on the local filesystem, so no service is needed.
Set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL and Redis. DJANGO_ENV=production
turns on the production checks (real SECRET_KEY, DEBUG off).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

DATA_DIR = Path(env.str("CRUCIBLE_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSECURE_DEV_KEY = "django-insecure-crucible-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_KEY)
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
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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

LANGUAGE_CODE = "en-us"
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
# The largest file accepted by the file spaces (files app), in bytes.
FILES_MAX_UPLOAD_BYTES = env.int("FILES_MAX_UPLOAD_BYTES", default=5 * 1024**3)

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
    "EXCEPTION_HANDLER": "core.envelopes.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("AUTH_THROTTLE_RATE", default="20/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Crucible API",
    "DESCRIPTION": "Crucible research platform: the clean API and the compatibility facades of shared/specs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# System key that guards POST /sgt/private/update_auth_token.
SGT_SYSTEM_KEY = env.str("SGT_SYSTEM_KEY", default="" if PRODUCTION else "crucible-dev-system-key")

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

# Image imports (images app): where configs and layers are kept, and the archive limits.
IMAGES_STORE_DIR = Path(env.str("IMAGES_STORE_DIR", default=str(DATA_DIR / "images"))).resolve()
IMAGES_MAX_TARBALL_BYTES = env.int("IMAGES_MAX_TARBALL_BYTES", default=20 * 1024**3)
IMAGES_MAX_MEMBERS = env.int("IMAGES_MAX_MEMBERS", default=10000)
IMAGES_MAX_MEMBER_BYTES = env.int("IMAGES_MAX_MEMBER_BYTES", default=10 * 1024**3)
IMAGES_MAX_TOTAL_BYTES = env.int("IMAGES_MAX_TOTAL_BYTES", default=40 * 1024**3)

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
