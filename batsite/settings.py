"""Settings, read from environment variables with safe local defaults (see ARCHITECTURE.md, Runtime).

Every limit the app enforces has its default here, in one place.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from batsite.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BATSITE_VAR_DIR", str(BASE_DIR / "var")))

# --- core -------------------------------------------------------------------------------------------
DEVELOPMENT_SECRET_KEY = "django-insecure-batsite-development-only-never-use-in-production"
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DEBUG is off but SECRET_KEY is the built-in development secret. Set SECRET_KEY to a long random "
        "value (make run creates one in var/secret_key), or set DEBUG=true for local development."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "surveys",
    "classifier",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "batsite.urls"
WSGI_APPLICATION = "batsite.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------------
# SQLite by default, in WAL mode with a busy timeout because web and worker write at once;
# PostgreSQL (or anything dj-database-url reads) when DATABASE_URL says so.
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "batsite.sqlite3")),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Opening a SQLite connection and running the PRAGMAs costs ~6 ms of CPU per request.
            "CONN_MAX_AGE": env_int("CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"NAME": env_str("SQLITE_TEST_PATH", str(VAR_DIR / "test.sqlite3"))},
        }
    }

# --- auth, i18n, time ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("nl", _("Dutch"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_SITE_TIME_ZONE = "Europe/Amsterdam"

# --- static and media ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# No MEDIA_URL on purpose: recordings and images are served by views that check membership.
_static_backend = (
    "whitenoise.storage.CompressedManifestStaticFilesStorage"
    if env_bool("STATIC_MANIFEST", not DEBUG)
    else "django.contrib.staticfiles.storage.StaticFilesStorage"
)


def media_storage_backend(kind: str) -> dict[str, object]:
    """The `default` storage: the MEDIA_ROOT folder, or an S3-compatible bucket through django-storages.

    On many hosts media must be shared: MEDIA_ROOT on a mount every host sees (NFS, a shared volume), or
    MEDIA_STORAGE=s3. No code needs a local path to media (tasks copy what they read to a temporary file,
    classifier/storage_files.py), so any backend with open/save/exists/delete works.
    """
    if kind == "filesystem":
        # fsyncs each stored file and its folders: an upload acknowledged as stored survives a power cut.
        return {
            "BACKEND": "batsite.storage.DurableFileSystemStorage",
            "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": "/no-public-media/"},
        }
    bucket = env_str("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the media bucket).")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            # Empty: AWS itself. Set for MinIO, Ceph, Garage, a cloud's S3 API (https://host:port).
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            # Unset keys: boto3 looks further (instance role, ~/.aws); never in the code or the image.
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            # "path" for servers without per-bucket host names (MinIO on a plain host name).
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "") or None,
            # Like the filesystem: a name that exists gets a new one; never overwrite a recording.
            "file_overwrite": False,
            # Private objects; recordings and images are streamed by views that check membership.
            "default_acl": None,
            "querystring_auth": True,
            # Reads spool to a temporary file past this size instead of holding a 500 MB recording in memory.
            "max_memory_size": 16 * 1024 * 1024,
        },
    }


MEDIA_STORAGE = env_choice("MEDIA_STORAGE", "filesystem", ("filesystem", "s3"))
STORAGES = {
    "default": media_storage_backend(MEDIA_STORAGE),
    "staticfiles": {"BACKEND": _static_backend},
}

# --- uploads and limits (defaults in one place) -----------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 500, minimum=1)  # one file or one ZIP
ZIP_MAX_ENTRIES = env_int("ZIP_MAX_ENTRIES", 5000, minimum=1)
ZIP_MAX_TOTAL_MB = env_int("ZIP_MAX_TOTAL_MB", 4096, minimum=1)  # uncompressed; absolute, no ratio rule
DISK_FREE_MARGIN_MB = env_int("DISK_FREE_MARGIN_MB", 1024, minimum=0)
PASS_GAP_S = env_float("PASS_GAP_S", 1.0)
CONFIDENCE_THRESHOLD = env_float("CONFIDENCE_THRESHOLD", 0.6)
MIN_TRUE_SAMPLE_RATE_HZ = env_int("MIN_TRUE_SAMPLE_RATE_HZ", 100_000, minimum=1)
# Stream uploads to disk: nothing larger than this is held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 5000, minimum=1)
XENO_CANTO_API_KEY = env_str("XENO_CANTO_API_KEY", "")
# Map tiles for the project map (Leaflet itself is served from our static files).
MAP_TILE_URL = env_str("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")

# --- Celery ----------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # job state lives on our models
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = "analysis"
CELERY_TASK_ROUTES = {
    "surveys.tasks.*": {"queue": "analysis"},
    "classifier.tasks.analyse_*": {"queue": "analysis"},
    "classifier.tasks.train_*": {"queue": "training"},
    "classifier.tasks.import_*": {"queue": "training"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 270)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged message (acks_late analysis, ingest) of a worker that died goes back on the queue
    # this long after it was delivered. Keep it above STALE_ANALYSIS_AFTER_S: a redelivery that comes sooner
    # finds the claim still fresh and is dropped (the sweep then re-queues the analysis instead).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=1),
    # kombu looks for such messages every interval x throttle seconds (its defaults: 10 x 10).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL_S", 10, minimum=1),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10, minimum=1),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When the broker connection drops, a running task finishes (Celery 5's default, stated so Celery 6's change
# of default does not alter it): its results are stored under its database claim, and the message, put back
# on the queue, finds the analysis done. Cancelling it would waste the work and leave a claim to go stale.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

# Work lost with a worker or with a broker message (a Redis restart without persistence) is found from the
# database by the periodic sweeps below and queued again; claims in the database keep it from running twice.
# An analysis writes no heartbeat while it runs, so its claim counts as stale only once the task's hard time
# limit has passed: a worker still running it would have been stopped by then.
ANALYSIS_SOFT_TIME_LIMIT_S = env_int("ANALYSIS_SOFT_TIME_LIMIT_S", 240, minimum=1)  # then marked failed
ANALYSIS_TIME_LIMIT_S = env_int("ANALYSIS_TIME_LIMIT_S", 300, minimum=1)  # then the pool child is killed
STALE_ANALYSIS_AFTER_S = env_int("STALE_ANALYSIS_AFTER_S", ANALYSIS_TIME_LIMIT_S + 60, minimum=1)
if STALE_ANALYSIS_AFTER_S <= ANALYSIS_TIME_LIMIT_S:
    raise ImproperlyConfigured(
        f"STALE_ANALYSIS_AFTER_S ({STALE_ANALYSIS_AFTER_S}) must be more than ANALYSIS_TIME_LIMIT_S "
        f"({ANALYSIS_TIME_LIMIT_S}): a running analysis may not be taken from a worker that is still on it."
    )
# A queued analysis that no worker took for this long lost its message (a busy night queue is not lost:
# a second message for it is harmless, the claim lets only one run).
LOST_QUEUED_ANALYSIS_AFTER_S = env_int("LOST_QUEUED_ANALYSIS_AFTER_S", 5 * STALE_ANALYSIS_AFTER_S, minimum=1)
# A recording whose worker died this many times is marked failed instead of killing yet another worker.
MAX_ANALYSIS_ATTEMPTS = env_int("MAX_ANALYSIS_ATTEMPTS", 3, minimum=1)
# Training runs and imports write a heartbeat every few seconds; one older than this lost its worker.
STALE_JOB_AFTER_S = env_int("STALE_JOB_AFTER_S", 600, minimum=10)
LOST_QUEUED_JOB_AFTER_S = env_int("LOST_QUEUED_JOB_AFTER_S", 1800, minimum=1)
MAX_JOB_ATTEMPTS = env_int("MAX_JOB_ATTEMPTS", 3, minimum=1)  # worker lost this often: the job is failed
# An upload still waiting for ingest after this long lost its ingest message.
LOST_UPLOAD_AFTER_S = env_int("LOST_UPLOAD_AFTER_S", 600, minimum=1)
SWEEP_EVERY_S = env_float("SWEEP_EVERY_S", 60.0)  # analyses and uploads
TRAINING_SWEEP_EVERY_S = env_float("TRAINING_SWEEP_EVERY_S", 300.0)
CELERY_BEAT_SCHEDULE = {
    # Re-queue analyses whose worker died (stale claim) or whose broker message was lost.
    "sweep-stale-analyses": {"task": "classifier.tasks.sweep_stale_analyses", "schedule": SWEEP_EVERY_S},
    # Re-queue ingest of uploads whose message was lost.
    "sweep-waiting-uploads": {"task": "surveys.tasks.sweep_waiting_uploads", "schedule": SWEEP_EVERY_S},
    # Training runs and imports whose heartbeat went stale: re-queued (from the start), never run twice.
    "sweep-stale-training-jobs": {
        "task": "classifier.tasks.train_sweep_stale_jobs",
        "schedule": TRAINING_SWEEP_EVERY_S,
    },
    # Quick /api/v1/analyse jobs and their temporary files, deleted once stale.
    "sweep-analyse-jobs": {"task": "classifier.tasks.sweep_analyse_jobs", "schedule": 600.0},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- security (check --deploy clean with DEBUG off and HTTPS on) -----------------------------------
HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- login throttling and Content-Security-Policy (batsite/security_settings.py) ------------------------
from batsite.security_settings import apply_security_settings  # noqa: E402

apply_security_settings(globals())
