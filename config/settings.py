"""Flowdeck settings. Every value comes from the environment (see README, "Configuration").

With no environment at all, Flowdeck runs embedded: SQLite in WAL mode, local file
storage and a file-system Celery broker, all under FLOWDECK_DATA_DIR.
"""
import importlib.util
from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FLOWDECK_DATA_DIR", str(BASE_DIR / ".flowdeck-data"))).resolve()

# FLOWDECK_ENV=production turns on the production defaults below (secure cookies, HSTS,
# HTTPS redirect, a proxy's X-Forwarded-Proto trusted) and refuses to start without a
# real DJANGO_SECRET_KEY. Each setting can still be overridden by its own variable.
FLOWDECK_ENV = env_str("FLOWDECK_ENV", "embedded").strip().lower()
PRODUCTION = FLOWDECK_ENV == "production"
DEBUG = env_bool("FLOWDECK_DEBUG", False)
_EMBEDDED_KEY = "insecure-embedded-only-key-set-DJANGO_SECRET_KEY-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _EMBEDDED_KEY)
if PRODUCTION and (SECRET_KEY == _EMBEDDED_KEY or len(SECRET_KEY) < 50):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("FLOWDECK_ENV=production needs DJANGO_SECRET_KEY: 50 or more random characters.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "core",
    "accounts",
    "registry",
    "gallery",
    "runs",
    "notifications",
    "django_celery_beat",
    "automation",
    "compare",
    "mlflow_compat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "runs.log_batch_fast.LogBatchFastPath",  # after the two above: redirects and headers apply to it too
    "accounts.request_context.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.unread",
                "accounts.context_processors.signup",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'flowdeck.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default needs its folder
# The metrics batch statement is prepared once per connection; turn it off (0) behind a
# pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
FLOWDECK_DB_PREPARE = env_bool("FLOWDECK_DB_PREPARE", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that asks the socket rather than the server.
    DATABASES["default"]["ENGINE"] = "core.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:index"
LOGOUT_REDIRECT_URL = "gallery:index"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("FLOWDECK_STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# plotly.js comes from the plotly wheel, served as static/plotly/plotly.min.js; found
# without importing plotly, which would slow every process start.
_plotly_spec = importlib.util.find_spec("plotly")
if _plotly_spec and _plotly_spec.origin:
    STATICFILES_DIRS.append(("plotly", Path(_plotly_spec.origin).parent / "package_data"))

# --- Storage: one alias, reached only through core/storage.py ---------------------------
FLOWDECK_STORAGE = env_str("FLOWDECK_STORAGE", "local")  # "local" or "s3"
FLOWDECK_S3_BUCKET = env_str("FLOWDECK_S3_BUCKET", "flowdeck")
FLOWDECK_S3_ENDPOINT_URL = env_str("FLOWDECK_S3_ENDPOINT_URL", "") or None
FLOWDECK_S3_REGION = env_str("FLOWDECK_S3_REGION", "us-east-1")


def _storage_config() -> dict:
    if FLOWDECK_STORAGE == "s3":
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": FLOWDECK_S3_BUCKET,
                "endpoint_url": FLOWDECK_S3_ENDPOINT_URL,
                "region_name": FLOWDECK_S3_REGION,
                # Keys come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the
                # instance role, as boto3 finds them; they are never logged.
                "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
                "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
                "addressing_style": env_str("FLOWDECK_S3_ADDRESSING_STYLE", "path"),
                "signature_version": "s3v4",
                "file_overwrite": True,
                "querystring_expire": 3600,
            },
        }
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(Path(env_str("FLOWDECK_MEDIA_ROOT", str(DATA_DIR / "storage")))),
            "allow_overwrite": True,
        },
    }


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "flowdeck": _storage_config(),
}
MEDIA_ROOT = str(DATA_DIR / "media")

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"  # whole messages only (see core/broker.py)
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.05,  # the default 1 s would add a second to every hop
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True  # the database is the source of truth
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless
# this is set: a new PostgreSQL connection (a backend process) per step cost more than the
# step. Connections are kept; core/tasks.py drops one that failed or passed DB_CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 10_000)
CELERY_TASK_DEFAULT_QUEUE = "flowdeck"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# Beat reads its entries from the database (automation's schedules), and copies the static
# CELERY_BEAT_SCHEDULE entries there on start, so both kinds run side by side.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Static periodic tasks; beat (DatabaseScheduler) runs them beside the schedules users make.
CELERY_BEAT_SCHEDULE = {
    "flowdeck-steps-reap": {
        "task": "flowdeck.steps_reap",
        "schedule": float(env_int("FLOWDECK_REAPER_INTERVAL_S", 15)),
    },
    "flowdeck-quotas-enforce": {
        "task": "flowdeck.quotas_enforce",
        "schedule": float(env_int("FLOWDECK_QUOTA_INTERVAL_S", 30)),
    },
    "flowdeck-bundles-cleanup": {
        "task": "flowdeck.bundles_cleanup",
        "schedule": 24 * 3600.0,
        "kwargs": {"older_than_s": 3600},
    },
    "flowdeck-webhooks-sweep": {
        "task": "flowdeck.notifications.webhooks_sweep",
        "schedule": 60.0,
        "kwargs": {"overdue_s": 300},
    },
    "flowdeck-compare-samples-prune": {
        "task": "flowdeck.compare_samples_prune",
        "schedule": 24 * 3600.0,
        "kwargs": {"older_than_s": env_int("FLOWDECK_COMPARE_SAMPLE_TTL_DAYS", 30) * 24 * 3600},
    },
}

# --- Flowdeck ------------------------------------------------------------------------------
# The URL that step subprocesses on workers use to reach the API with their run token.
FLOWDECK_INTERNAL_URL = env_str("FLOWDECK_INTERNAL_URL", "http://127.0.0.1:8000")
FLOWDECK_WORKER_CACHE = Path(env_str("FLOWDECK_WORKER_CACHE", str(DATA_DIR / "worker-cache")))
# Where steps' work folders go on a worker ("" = the system's temporary folder). A tmpfs here
# spares short steps the disk's cost of making and removing a few files each (see runs/workdirs.py).
FLOWDECK_WORKDIR_ROOT = env_str("FLOWDECK_WORKDIR_ROOT", "")
FLOWDECK_MAX_BUNDLE_BYTES = env_int("FLOWDECK_MAX_BUNDLE_BYTES", 50 * 1024 * 1024)
FLOWDECK_MAX_README_BYTES = env_int("FLOWDECK_MAX_README_BYTES", 256 * 1024)
FLOWDECK_STEP_TIMEOUT_S = env_int("FLOWDECK_STEP_TIMEOUT_S", 6 * 3600)
# How much of a running step's log the worker ships live to the run page (per attempt);
# past it the live view says so, and the whole log is in storage once the step ends.
FLOWDECK_LIVE_LOG_MAX_BYTES = env_int("FLOWDECK_LIVE_LOG_MAX_BYTES", 2 * 1024 * 1024)
# An ended step's log up to this size is kept in its database row, not as a storage object.
FLOWDECK_INLINE_LOG_MAX_BYTES = env_int("FLOWDECK_INLINE_LOG_MAX_BYTES", 64 * 1024)
# A step's output pickle up to this size is kept in its row (base64 in StepRun.outputs) and
# handed to downstream steps in their request: no storage PUT or GET. 0 = always storage.
FLOWDECK_INLINE_OUTPUT_MAX_BYTES = env_int("FLOWDECK_INLINE_OUTPUT_MAX_BYTES", 4 * 1024)
# Engine: how steps start, what they may use, and how lost work is found again.
FLOWDECK_STEP_LAUNCHER = env_str("FLOWDECK_STEP_LAUNCHER", "forkserver")  # or "spawn"
FLOWDECK_FORKSERVER_PRELOAD = env_str("FLOWDECK_FORKSERVER_PRELOAD", "")  # e.g. "numpy,pandas"
FLOWDECK_STEP_MEMORY_MB = env_int("FLOWDECK_STEP_MEMORY_MB", 0)  # RLIMIT_AS per step; 0 = none
FLOWDECK_STEP_CPU_S = env_int("FLOWDECK_STEP_CPU_S", 0)  # RLIMIT_CPU per step; 0 = none
# The account steps run as (name or uid) when the worker runs as root; empty = the worker's.
FLOWDECK_STEP_USER = env_str("FLOWDECK_STEP_USER", "")
# The interpreter steps run in (default: the worker's), and a PYTHONPATH for it.
FLOWDECK_STEP_PYTHON = env_str("FLOWDECK_STEP_PYTHON", "")
FLOWDECK_STEP_PYTHONPATH = env_str("FLOWDECK_STEP_PYTHONPATH", "")
FLOWDECK_HEARTBEAT_S = env_int("FLOWDECK_HEARTBEAT_S", 5)
FLOWDECK_HEARTBEAT_TIMEOUT_S = env_int("FLOWDECK_HEARTBEAT_TIMEOUT_S", 60)
FLOWDECK_REDISPATCH_S = env_int("FLOWDECK_REDISPATCH_S", 300)
# For this long after a worker process takes a message, it runs the steps its steps make
# ready itself (one each time), not through the queue; 0 = always through the queue.
FLOWDECK_PICKUP_S = env_int("FLOWDECK_PICKUP_S", 10)
FLOWDECK_SIGNUP_ENABLED = env_bool("FLOWDECK_SIGNUP_ENABLED", True)
# Bearer-token log-batch requests are stored before the rest of the middleware and DRF
# (runs/log_batch_fast.py); 0 sends them through the API view like every other request.
FLOWDECK_FAST_INGEST = env_bool("FLOWDECK_FAST_INGEST", True)
# Site-wide default quotas of every team (a team admin or site admin can set a team's own);
# 0 means no limit.
FLOWDECK_QUOTA_MAX_CONCURRENT_RUNS = env_int("FLOWDECK_QUOTA_MAX_CONCURRENT_RUNS", 0)
FLOWDECK_QUOTA_MAX_STORAGE_BYTES = env_int("FLOWDECK_QUOTA_MAX_STORAGE_BYTES", 0)
FLOWDECK_QUOTA_MAX_RUN_DURATION_S = env_int("FLOWDECK_QUOTA_MAX_RUN_DURATION_S", 0)
# Login and token endpoints: attempts per client address, and failed attempts per
# (address, username), in each window.
FLOWDECK_AUTH_RATE_WINDOW_S = env_int("FLOWDECK_AUTH_RATE_WINDOW_S", 60)
FLOWDECK_AUTH_RATE_PER_IP = env_int("FLOWDECK_AUTH_RATE_PER_IP", 60)
FLOWDECK_AUTH_FAILURES_MAX = env_int("FLOWDECK_AUTH_FAILURES_MAX", 5)
# How many reverse proxies of ours append to X-Forwarded-For (0: use REMOTE_ADDR), for
# the client address the audit log and the rate limiter see.
FLOWDECK_TRUSTED_PROXIES = env_int("FLOWDECK_TRUSTED_PROXIES", 0)
# The worker registry (runs/worker_registry.py): workers refresh their row every HEARTBEAT_S;
# one not seen for STALE_S no longer counts as serving its queues, and after FORGET_S its
# row is deleted. WORKER_QUEUES: the resource classes (or queue names) the worker that
# `make run` starts serves; cpu is the default queue, X is queue flowdeck.X (runs/routing.py).
FLOWDECK_WORKER_HEARTBEAT_S = env_int("FLOWDECK_WORKER_HEARTBEAT_S", 10)
FLOWDECK_WORKER_STALE_S = env_int("FLOWDECK_WORKER_STALE_S", 30)
FLOWDECK_WORKER_FORGET_S = env_int("FLOWDECK_WORKER_FORGET_S", 24 * 3600)
FLOWDECK_WORKER_QUEUES = env_list("FLOWDECK_WORKER_QUEUES", ["cpu", "gpu", "highmem"])

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopes",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flowdeck API",
    "DESCRIPTION": "Publish, share, run and compare ML workflows.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the drf-spectacular-sidecar wheel, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several components have a "status" (runs, steps, deliveries) or "visibility" field:
    # named enums keep the schema stable (and `check --deploy` free of warnings).
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs.models.RunStatus",
        "StepStatusEnum": "runs.models.StepStatus",
        "VisibilityEnum": "registry.models.Visibility",
    },
}

# --- Production hardening (defaults on with FLOWDECK_ENV=production) --------------------------
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", PRODUCTION)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_TLS_PROXY", PRODUCTION) else None
)
# The health check answers load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Django's own hashers (PBKDF2 first); listed so a deployment sees what is used.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# The rate limiter's counters: in-process by default, shared across web processes with
# FLOWDECK_CACHE_URL=redis://host:6379/N.
_CACHE_URL = env_str("FLOWDECK_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "flowdeck"}
    )
}
EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)

# --- Notifications --------------------------------------------------------------------------
FLOWDECK_EMAIL_FROM = env_str("FLOWDECK_EMAIL_FROM", "Flowdeck <flowdeck@localhost>")
DEFAULT_FROM_EMAIL = FLOWDECK_EMAIL_FROM
FLOWDECK_EMAIL_SUBJECT_PREFIX = env_str("FLOWDECK_EMAIL_SUBJECT_PREFIX", "[Flowdeck] ")
# Links in emails and webhook payloads start with this.
FLOWDECK_PUBLIC_URL = env_str("FLOWDECK_PUBLIC_URL", "http://127.0.0.1:8000")
FLOWDECK_WEBHOOK_TIMEOUT_S = float(env_int("FLOWDECK_WEBHOOK_TIMEOUT_S", 10))
FLOWDECK_WEBHOOK_MAX_ATTEMPTS = env_int("FLOWDECK_WEBHOOK_MAX_ATTEMPTS", 6)
# The wait after failed attempt n is BACKOFF_S * 2**(n-1), at most BACKOFF_MAX_S (in ms for tests).
FLOWDECK_WEBHOOK_BACKOFF_S = env_int("FLOWDECK_WEBHOOK_BACKOFF_MS", 10_000) / 1000
FLOWDECK_WEBHOOK_BACKOFF_MAX_S = env_int("FLOWDECK_WEBHOOK_BACKOFF_MAX_S", 15 * 60)
# Off in production: a webhook URL must not reach the server's own network (SSRF).
FLOWDECK_WEBHOOK_ALLOW_PRIVATE = env_bool("FLOWDECK_WEBHOOK_ALLOW_PRIVATE", False)
FLOWDECK_QUOTA_WARN_RATIO = env_int("FLOWDECK_QUOTA_WARN_PERCENT", 80) / 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FLOWDECK_LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
