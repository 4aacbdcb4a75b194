"""Soniq's one settings module. Everything that differs between machines comes from the environment
(see `.env.example`); the helpers below are the only way settings read it."""
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, not {parsed.scheme!r}")
    return {
        # django-tenants wraps the PostgreSQL backend to set search_path per request.
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        # `?host=/path` is a Unix-socket directory (how the private development server listens).
        "HOST": parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0],
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
    }


# pytest imports this module itself; tests must not need a production secret.
RUNNING_TESTS = "pytest" in sys.modules

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or RUNNING_TESTS):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-soniq-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,.localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The hosts that serve the operator admin. Every other host that is not a tenant's domain (a typo, a
# guessed subdomain) gets the internal API and /healthz but no operator login page.
OPERATOR_HOSTS = [host.lower().rstrip(".") for host in env_list("OPERATOR_HOSTS", "localhost,127.0.0.1")]
# How many reverse proxies in front of gunicorn append to X-Forwarded-For (1 behind deploy/Caddyfile).
# 0 = trust no header and use REMOTE_ADDR; the login limits need the real client address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Tenancy -----------------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    # No models: the admin sites, every ModelAdmin, the dashboard, the admin template tags.
    "backoffice",
    # No models: the tenant spec, provisioning and the demo data, and their commands.
    "provisioning",
]
# Each tenant schema has its own users, sessions and admin log, so an owner's login exists only at
# their own domain.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "tenants.agent",
    "tenants.hours",
    "bookings",
    "orders",
    "calls",
    "messaging",
    "notifications",
    "webhooks",
    "calls.summaries",
    "scenarios",
    "calendars",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]
# soniq_site registers the deploy checks (soniq_site/checks.py); csp checks django-csp's settings.
INSTALLED_APPS += ["voiceworker", "trials", "soniq_site", "csp"]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# Any host that is not a tenant domain is the platform's public host (operator admin, internal API).
SHOW_PUBLIC_IF_NO_TENANT_FOUND = True
# Set search_path once per connection and schema change instead of before every query.
TENANT_LIMIT_SET_CALLS = True
# New tenants are copied from a migrated template schema instead of running every tenant migration
# (see docs/BENCHMARKS.md); migrate_schemas keeps the template current (tenants/schema_template.py).
# Not django-tenants' TENANT_BASE_SCHEMA: its clone is slower than the migrations here.
TENANT_TEMPLATE_SCHEMA = "_tenant_template"
GET_EXECUTOR_FUNCTION = "tenants.schema_template.get_executor"
# Ready-made copies of the template: a new tenant renames one (a few ms) instead of copying it.
TENANT_SPARE_SCHEMAS = env_int("TENANT_SPARE_SCHEMAS", 2)
PUBLIC_SCHEMA_URLCONF = "soniq_site.urls_public"
# django-tenants' admin templates paint tenant apps green; the admin has its own look.
TENANT_COLOR_ADMIN_APPS = False
ROOT_URLCONF = "soniq_site.urls_tenant"

MIDDLEWARE = [
    # django-tenants' middleware, minus a Domain query per request on the public host (the internal API).
    "soniq_site.tenant_middleware.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's CSS/JS from gunicorn in production (collected into STATIC_ROOT).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The operator admin only on OPERATOR_HOSTS; no-store on the internal API (call start returns a token).
    "soniq_site.middleware.OperatorHostMiddleware",
    "soniq_site.middleware.InternalAPINoStoreMiddleware",
    # The internal API's follow-ups run after its response is sent (core/after_response.py).
    "soniq_site.middleware.AfterResponseMiddleware",
    "csp.middleware.CSPMiddleware",
]

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
                "csp.context_processors.nonce",
            ]
        },
    }
]
WSGI_APPLICATION = "soniq_site.wsgi.application"

DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/soniq"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # django-tenants prefixes every key with the schema so tenants never share cache entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "TIMEOUT": 300,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if RUNNING_TESTS:
    # The admin tests log in many times; PBKDF2's deliberate ~0.5 s per check would dominate them.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
# Soniq's translation catalogs: every sentence a caller hears, per language (core/call_phrases.py).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / ".var" / "static"
# Browser libraries from npm (package.json; `scripts/dev.py` runs `npm ci`), served as our own static
# files: the admin's "Talk to your agent" loads livekit-client from here, never from a CDN.
LIVEKIT_CLIENT_DIST = BASE_DIR / "node_modules" / "livekit-client" / "dist"
STATICFILES_DIRS = [("vendor/livekit-client", LIVEKIT_CLIENT_DIST)] if LIVEKIT_CLIENT_DIST.is_dir() else []

# --- Security ----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Tests talk plain HTTP to local servers; everything else without DEBUG is treated as production.
if not DEBUG and not RUNNING_TESTS:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
# Content-Security-Policy (django-csp) on every page. Django 5.2's admin has no inline script (its
# constants travel in data- attributes), so scripts come only from our own static files. Inline
# <style> elements need the per-request nonce (templates/admin/soniq/styles.html) or their hash:
# Django's change_list.html and django-tenants' admin index.html/app_list.html (on every page, in the
# sidebar) each have one fixed <style>; soniq_site/tests/test_headers.py recomputes these hashes
# from the installed packages. Style *attributes* (the day view's computed positions) are allowed:
# they cannot run script, and autoescaping already keeps callers' text out of them.
ADMIN_INLINE_STYLE_HASHES = [
    "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='",  # django/.../admin/change_list.html
    "'sha256-VVLgkveYriYccl8IakSIMmivuo+40EbStbnlzNT84VA='",  # django_tenants/.../admin/app_list.html, index.html
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # Audio the admin plays (a voice's preview) comes from blobs; the "Talk to your agent" page adds
        # LiveKit's origin to connect-src itself (backoffice/talk.py).
        "media-src": ["'self'", "blob:"],
        "script-src": ["'self'"],
        "style-src": ["'self'", csp_constants.NONCE, *ADMIN_INLINE_STYLE_HASHES],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# The voice worker and load balancers talk plain HTTP to these inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^internal/", r"^healthz$"]

# --- Internal API ------------------------------------------------------------------------------
INTERNAL_API_TOKEN = env_str("INTERNAL_API_TOKEN")
# The edge proxy's proof when it asks /internal/tls/ask (its ask URL carries it as ?secret=). Unset,
# only loopback may ask. Each address may ask this many times a minute.
TLS_ASK_SECRET = env_str("TLS_ASK_SECRET")
TLS_ASK_RATE_PER_MINUTE = env_int("TLS_ASK_RATE_PER_MINUTE", 120)
# A call token outlives the call's maximum length by this much, so a slow end-of-call log still
# authenticates, but a leaked token soon becomes useless.
CALL_TOKEN_GRACE_SECONDS = env_int("CALL_TOKEN_GRACE_SECONDS", 900)
# The end-of-call log (only) is accepted with a genuine token this long after it expired, so logs a
# voice worker spooled through an API outage still arrive.
CALL_LOG_TOKEN_GRACE_SECONDS = env_int("CALL_LOG_TOKEN_GRACE_SECONDS", 7 * 24 * 3600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Soniq internal voice API",
    "DESCRIPTION": "The voice worker's only way to read tenant config and run tools.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The call-log body has nullable fields, which OpenAPI 3.0 cannot express as `type: null`.
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "voiceapi.serializers.strict_request_schemas"],
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request must not hang on a dead broker: fail fast so the caller can fall back. Measured: a
# refused connection fails in ~3 ms; a broker that accepts but never answers fails after
# socket_timeout (so ~1 s; it was 2.2 s with socket_timeout 2).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1, "max_retries": 0}
CELERY_TASK_PUBLISH_RETRY = False
# tenant-schemas-celery looks the task's tenant up before every task unless cached.
CELERY_TASK_TENANT_CACHE_SECONDS = 60
# Celery's Django fixup closes the database connection before and after every task unless this is
# set (it then closes every N tasks); core/celery_app.py applies Django's per-request rules instead.
CELERY_DB_REUSE_MAX = 1000
# Queues, so a caller's SMS never waits behind a backlog of call logs (docs/SCALING.md). A worker
# started without -Q consumes every queue listed here (Redis is polled round-robin across them);
# at scale, run a worker per queue (`celery worker -Q ingest`, `-Q messages`, ...).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("messages"), Queue("ingest"), Queue("maintenance"), Queue("webhooks")]
CELERY_TASK_ROUTES = {
    "calls.sms_send": {"queue": "messages"},
    "calls.call_log_store": {"queue": "ingest"},
    "calls.calls_close_abandoned": {"queue": "maintenance"},
    "calls.recordings_sweep": {"queue": "maintenance"},
    "trials.trial_calls_sweep": {"queue": "maintenance"},
    "trials.scenario_run": {"queue": "maintenance"},
    "bookings.booking_reminders_send": {"queue": "maintenance"},
    "tenants.tenant_spare_schemas_fill": {"queue": "maintenance"},
    "tenants.sip_trunk_sync": {"queue": "maintenance"},
    "tenants.sip_trunk_check": {"queue": "maintenance"},
    # Owner emails, staff texts and webhooks wait behind no call log; summaries (slow LLM calls) and
    # the digests and re-queue sweep behind no text.
    "notifications.notification_send": {"queue": "messages"},
    # The business's own receivers, whose speed nobody controls: their own queue (issue 29, item 1).
    "webhooks.webhook_deliver": {"queue": "webhooks"},
    "summaries.call_summarize": {"queue": "ingest"},
    "notifications.digests_send": {"queue": "maintenance"},
    "notifications.followups_requeue": {"queue": "maintenance"},
    # A booking's calendar event waits behind no call log; whole-calendar syncs are maintenance.
    "calendars.calendar_event_push": {"queue": "messages"},
    "calendars.calendar_sync": {"queue": "maintenance"},
    "calendars.calendars_sync": {"queue": "maintenance"},
}
CELERY_BEAT_SCHEDULE = {
    "calls-close-abandoned": {"task": "calls.calls_close_abandoned", "schedule": 180.0},
    # Recordings past each tenant's retention leave storage (calls/recordings.py).
    "calls-recordings-sweep": {"task": "calls.recordings_sweep", "schedule": 3600.0},
    # Queued callbacks the agent returns itself, where the business turned it on (calls/callback_dialing.py).
    "calls-callbacks-place-due": {"task": "calls.callbacks_place_due", "schedule": 60.0},
    # What a test call abandoned without its log left behind (voiceapi/trial_calls.py).
    "trial-calls-sweep": {"task": "trials.trial_calls_sweep", "schedule": 300.0},
    "bookings-reminders": {"task": "bookings.booking_reminders_send", "schedule": 600.0},
    # Compares LiveKit's SIP trunk with the registry and records drift for /healthz and the operator
    # admin; it changes nothing in LiveKit (that is `manage.py sip_sync`, or any number change).
    "tenants-sip-trunk-check": {"task": "tenants.sip_trunk_check", "schedule": 900.0},
    "tenants-spare-schemas": {"task": "tenants.tenant_spare_schemas_fill", "schedule": 600.0},
    # Each tenant's digest goes out once its local clock passes NOTIFICATION_DIGEST_HOUR.
    "notifications-digests": {"task": "notifications.digests_send", "schedule": 900.0},
    # Follow-ups whose task was lost (broker down at commit, worker killed) are queued again.
    "followups-requeue": {"task": "notifications.followups_requeue", "schedule": 60.0},
    # Every connected calendar: busy times, events still to write, conflicts, push channels.
    "calendars-sync": {"task": "calendars.calendars_sync", "schedule": float(env_int("CALENDAR_SYNC_SECONDS", 300))},
}
# A booking is reminded by SMS this long before it starts (if it was made at least as long before).
BOOKING_REMINDER_HOURS = env_int("BOOKING_REMINDER_HOURS", 24)

# --- Calendar sync (calendars/, docs/calendars.md) ----------------------------------------------------
# Fernet keys (comma-separated; the first encrypts, all decrypt) for calendar tokens and passwords at
# rest. Unset: one derived from SECRET_KEY (changing SECRET_KEY then disconnects every calendar).
CALENDAR_ENCRYPTION_KEYS = env_list("CALENDAR_ENCRYPTION_KEYS")
# The public host's https:// address Google sends owners back to (GOOGLE's redirect URI is this +
# /calendars/google/callback) and push notifications to. Unset: no Google connections.
CALENDAR_PUBLIC_URL = env_str("CALENDAR_PUBLIC_URL")
GOOGLE_OAUTH_CLIENT_ID = env_str("GOOGLE_OAUTH_CLIENT_ID")
GOOGLE_OAUTH_CLIENT_SECRET = env_str("GOOGLE_OAUTH_CLIENT_SECRET")
GOOGLE_OAUTH_AUTH_URI = env_str("GOOGLE_OAUTH_AUTH_URI", "https://accounts.google.com/o/oauth2/auth")
GOOGLE_OAUTH_TOKEN_URI = env_str("GOOGLE_OAUTH_TOKEN_URI", "https://oauth2.googleapis.com/token")
GOOGLE_OAUTH_REVOKE_URI = env_str("GOOGLE_OAUTH_REVOKE_URI", "https://oauth2.googleapis.com/revoke")
GOOGLE_CALENDAR_API_ROOT = env_str("GOOGLE_CALENDAR_API_ROOT", "https://www.googleapis.com/")
# How long an owner may take on Google's consent screen.
CALENDAR_OAUTH_MAX_AGE_SECONDS = env_int("CALENDAR_OAUTH_MAX_AGE_SECONDS", 1800)
# A voice tool reads a calendar whose mirror is older than this (seconds; with a live Google push
# channel, CALENDAR_PUSH_FRESH_SECONDS), waiting at most CALENDAR_CALL_WAIT_MS before it goes on with
# the last known busy times; a calendar that failed is not asked again for CALENDAR_RETRY_AFTER_FAILURE_SECONDS.
CALENDAR_FRESH_SECONDS = env_int("CALENDAR_FRESH_SECONDS", 60)
CALENDAR_PUSH_FRESH_SECONDS = env_int("CALENDAR_PUSH_FRESH_SECONDS", 900)
CALENDAR_CALL_WAIT_MS = env_int("CALENDAR_CALL_WAIT_MS", 1500)
CALENDAR_RETRY_AFTER_FAILURE_SECONDS = env_int("CALENDAR_RETRY_AFTER_FAILURE_SECONDS", 60)
CALENDAR_HTTP_TIMEOUT_SECONDS = env_int("CALENDAR_HTTP_TIMEOUT_SECONDS", 10)
# Days ahead mirrored (keep it at least the booking horizon).
CALENDAR_SYNC_DAYS = env_int("CALENDAR_SYNC_DAYS", 90)
CALENDAR_CHANNEL_TTL_SECONDS = env_int("CALENDAR_CHANNEL_TTL_SECONDS", 7 * 24 * 3600)
# A booking's event write is retried this often; backoff before retry n is CALENDAR_RETRY_BACKOFF_MS * 2**n.
CALENDAR_PUSH_MAX_RETRIES = env_int("CALENDAR_PUSH_MAX_RETRIES", 6)
CALENDAR_RETRY_BACKOFF_MS = env_int("CALENDAR_RETRY_BACKOFF_MS", 2000)

# --- Call-log ingestion (calls/ingestion.py) -------------------------------------------------------
CALL_LOG_MAX_BYTES = env_int("CALL_LOG_MAX_BYTES", 2 * 1024 * 1024)
CALL_LOG_STORE_MAX_RETRIES = env_int("CALL_LOG_STORE_MAX_RETRIES", 5)
# Backoff before retry n (0-based) is this * 2**n: 2, 4, 8, 16, 32 s by default.
CALL_LOG_RETRY_BACKOFF_MS = env_int("CALL_LOG_RETRY_BACKOFF_MS", 2000)
CALL_LOG_LOCK_TIMEOUT_MS = env_int("CALL_LOG_LOCK_TIMEOUT_MS", 5000)
# When even the dead letter cannot be written (the database is down), the task is retried every
# 5 minutes this many times (288: a day) before it logs the payload and gives up.
CALL_LOG_DEAD_LETTER_MAX_RETRIES = env_int("CALL_LOG_DEAD_LETTER_MAX_RETRIES", 288)
# A call still active this long after its maximum length lost its worker (calls_close_abandoned).
CALL_ABANDONED_MARGIN_SECONDS = env_int("CALL_ABANDONED_MARGIN_SECONDS", 300)

# --- Call recordings (calls/recordings.py) -------------------------------------------------------
# The filesystem (RECORDINGS_ROOT, never served directly: the admin streams a recording after checking
# the listener's permission) unless RECORDINGS_S3_BUCKET names an S3-compatible bucket; then the admin
# hands the browser a signed URL that lives RECORDINGS_SIGNED_URL_SECONDS.
RECORDINGS_ROOT = env_str("RECORDINGS_ROOT", str(BASE_DIR / ".var" / "recordings"))
RECORDINGS_S3_BUCKET = env_str("RECORDINGS_S3_BUCKET")
RECORDINGS_S3_ENDPOINT_URL = env_str("RECORDINGS_S3_ENDPOINT_URL")
RECORDINGS_S3_REGION = env_str("RECORDINGS_S3_REGION")
RECORDINGS_S3_ACCESS_KEY_ID = env_str("RECORDINGS_S3_ACCESS_KEY_ID")
RECORDINGS_S3_SECRET_ACCESS_KEY = env_str("RECORDINGS_S3_SECRET_ACCESS_KEY")
# Server-side encryption asked of the bucket: AES256 (S3-managed keys), aws:kms, or empty for none.
RECORDINGS_S3_SSE = env_str("RECORDINGS_S3_SSE", "AES256")
RECORDINGS_SIGNED_URL_SECONDS = env_int("RECORDINGS_SIGNED_URL_SECONDS", 300)
# Largest recording upload accepted (an hour of the worker's Ogg/Opus is ~30 MB).
RECORDING_MAX_BYTES = env_int("RECORDING_MAX_BYTES", 64 * 1024 * 1024)


def recordings_storage_config(*, root: str, bucket: str, endpoint_url: str = "", region: str = "",
                               access_key: str = "", secret_key: str = "", sse: str = "",
                               signed_url_seconds: int = 300) -> dict:
    """STORAGES["recordings"]: files under `root`, or the S3-compatible `bucket` (tests build theirs with it too)."""
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": root, "base_url": None,
                            "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700}}
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": signed_url_seconds,
        "signature_version": "s3v4",
        "file_overwrite": False,
        "object_parameters": {"ServerSideEncryption": sse} if sse else {},
        "addressing_style": "path" if endpoint_url else None,
    }}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings": recordings_storage_config(
        root=RECORDINGS_ROOT, bucket=RECORDINGS_S3_BUCKET, endpoint_url=RECORDINGS_S3_ENDPOINT_URL,
        region=RECORDINGS_S3_REGION, access_key=RECORDINGS_S3_ACCESS_KEY_ID,
        secret_key=RECORDINGS_S3_SECRET_ACCESS_KEY, sse=RECORDINGS_S3_SSE,
        signed_url_seconds=RECORDINGS_SIGNED_URL_SECONDS),
}
# The player loads a signed URL from the bucket's host when recordings live in a bucket.
if RECORDINGS_S3_BUCKET:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["media-src"] = [
        "'self'", urlparse(RECORDINGS_S3_ENDPOINT_URL)._replace(path="", params="", query="", fragment="").geturl()
        if RECORDINGS_S3_ENDPOINT_URL else "https://*.amazonaws.com"]

# --- Voice providers (read by the voice worker and by call-start config) -----------------------
SONIQ_API_URL = env_str("SONIQ_API_URL", "http://127.0.0.1:8000")
VOICE_AGENT_NAME = env_str("VOICE_AGENT_NAME", "soniq")
VOICE_HEALTH_PORT = env_int("VOICE_HEALTH_PORT", 8081)
VOICE_SPOOL_DIR = env_str("VOICE_SPOOL_DIR", str(BASE_DIR / ".var" / "spool"))
LIVEKIT_URL = env_str("LIVEKIT_URL")
LIVEKIT_API_KEY = env_str("LIVEKIT_API_KEY")
LIVEKIT_API_SECRET = env_str("LIVEKIT_API_SECRET")
# --- LiveKit SIP: the inbound trunk and dispatch rule Soniq keeps in step (tenants/sip_trunk.py) ---
# Empty = off: numbers are put on a trunk by hand. Set, Soniq owns the inbound trunk of this name
# (creating it if absent) and puts exactly the registry's numbers on it.
LIVEKIT_SIP_TRUNK_NAME = env_str("LIVEKIT_SIP_TRUNK_NAME")
# How SignalWire proves it is SignalWire: digest credentials, or its signalling addresses (CIDRs),
# or both. One of the two is required: a trunk with neither takes calls from anyone.
LIVEKIT_SIP_AUTH_USERNAME = env_str("LIVEKIT_SIP_AUTH_USERNAME")
LIVEKIT_SIP_AUTH_PASSWORD = env_str("LIVEKIT_SIP_AUTH_PASSWORD")
LIVEKIT_SIP_ALLOWED_ADDRESSES = env_list("LIVEKIT_SIP_ALLOWED_ADDRESSES")
LIVEKIT_SIP_DISPATCH_RULE_NAME = env_str("LIVEKIT_SIP_DISPATCH_RULE_NAME", "soniq-agent")
# Each call gets its own room, named this prefix + the caller's number + a random suffix.
LIVEKIT_SIP_ROOM_PREFIX = env_str("LIVEKIT_SIP_ROOM_PREFIX", "call-")
LIVEKIT_SIP_TIMEOUT_SECONDS = env_int("LIVEKIT_SIP_TIMEOUT_SECONDS", 10)
# A sync LiveKit could not be reached for is retried this often; backoff before retry n (0-based)
# is LIVEKIT_SIP_RETRY_BACKOFF_MS * 2**n: 5, 10, 20, 40, 80 s by default.
LIVEKIT_SIP_SYNC_MAX_RETRIES = env_int("LIVEKIT_SIP_SYNC_MAX_RETRIES", 5)
LIVEKIT_SIP_RETRY_BACKOFF_MS = env_int("LIVEKIT_SIP_RETRY_BACKOFF_MS", 5000)
# --- The outbound SIP trunk (tenants/sip_trunk.py): how the agent dials out (warm transfers, callbacks) ---
# The carrier's SIP address, host[:port] (SignalWire: your space's SIP domain). Empty = no outbound
# calling, and sip_sync deletes the outbound trunk it made.
SIP_OUTBOUND_ADDRESS = env_str("SIP_OUTBOUND_ADDRESS")
# The carrier's digest credentials for calls from LiveKit (SignalWire: the SIP endpoint's username/password).
SIP_OUTBOUND_USERNAME = env_str("SIP_OUTBOUND_USERNAME")
SIP_OUTBOUND_PASSWORD = env_str("SIP_OUTBOUND_PASSWORD")
# udp, tcp, tls or auto (LiveKit chooses).
SIP_OUTBOUND_TRANSPORT = env_str("SIP_OUTBOUND_TRANSPORT", "udp")
# The outbound trunk Soniq owns in LiveKit; the voice worker finds it by this name.
LIVEKIT_SIP_OUTBOUND_TRUNK_NAME = env_str("LIVEKIT_SIP_OUTBOUND_TRUNK_NAME", "soniq-outbound")
# How long a callback the agent places rings before it counts as unanswered (voiceworker/callback_call.py).
VOICE_CALLBACK_RINGING_SECONDS = env_int("VOICE_CALLBACK_RINGING_SECONDS", 30)
DEEPGRAM_API_KEY = env_str("DEEPGRAM_API_KEY")
# Where the worker reaches Deepgram and Cartesia: their public APIs unless set (a proxy, a regional
# endpoint, or the local stand-ins of the real-call tests, devstack/standins.py).
DEEPGRAM_BASE_URL = env_str("DEEPGRAM_BASE_URL", "https://api.deepgram.com/v1/listen")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
CARTESIA_API_KEY = env_str("CARTESIA_API_KEY")
# Cartesia's REST API: the admin's voice list, the id check and "Play" (backoffice/voices.py).
CARTESIA_API_URL = env_str("CARTESIA_API_URL", "https://api.cartesia.ai")
# --- Trying the agent: test calls from the browser, scenario tests (voiceapi/trial_calls.py, trials/) ---
# The LiveKit URL a browser connects to (wss://...), when it differs from the servers' LIVEKIT_URL.
LIVEKIT_BROWSER_URL = env_str("LIVEKIT_BROWSER_URL") or LIVEKIT_URL
# The models of a scenario run, at any OpenAI-compatible endpoint (default: the agent's OPENAI_*):
# one plays the caller, one judges the conversation against the owner's criteria.
SCENARIO_LLM_BASE_URL = env_str("SCENARIO_LLM_BASE_URL")
SCENARIO_LLM_API_KEY = env_str("SCENARIO_LLM_API_KEY")
SCENARIO_CALLER_MODEL = env_str("SCENARIO_CALLER_MODEL", "gpt-4.1-mini")
SCENARIO_JUDGE_MODEL = env_str("SCENARIO_JUDGE_MODEL", "gpt-4.1")
DEFAULT_VOICE_ID = env_str("DEFAULT_VOICE_ID", "f786b574-daa5-4673-aa0c-cbe3e8534c02")
# --- How the voice worker takes turns and waits for the model (voiceworker/providers.py) ---------
# "v1-mini": livekit's local end-of-turn model where it covers the tenant's language; "vad": silence only.
VOICE_TURN_DETECTOR = env_str("VOICE_TURN_DETECTOR", "v1-mini")
# With the model: the silence after a finished-sounding utterance, and the longest wait after an
# unfinished-sounding one (a pause inside a phone number), in seconds.
VOICE_ENDPOINTING_MIN_DELAY = env_float("VOICE_ENDPOINTING_MIN_DELAY", 0.5)
VOICE_ENDPOINTING_MAX_DELAY = env_float("VOICE_ENDPOINTING_MAX_DELAY", 3.0)
# The silence before a reply when the turn so far cannot be over ("my number is", "um", "five five
# five"): voiceworker/turn_patience.py.
VOICE_ENDPOINTING_PATIENT_DELAY = env_float("VOICE_ENDPOINTING_PATIENT_DELAY", 2.0)
# Silence that ends a stretch of speech for Silero (and asks the end-of-turn model): voiceworker/providers.py.
VOICE_VAD_MIN_SILENCE = env_float("VOICE_VAD_MIN_SILENCE", 0.3)
# Without it (languages it does not cover): the silence that ends a turn, longer than a pause inside a number.
VOICE_UNCOVERED_LANGUAGE_SILENCE = env_float("VOICE_UNCOVERED_LANGUAGE_SILENCE", 1.3)
# An interruption that brings no words for this long was noise: the agent resumes where it paused.
VOICE_FALSE_INTERRUPTION_TIMEOUT = env_float("VOICE_FALSE_INTERRUPTION_TIMEOUT", 1.5)
# livekit-agents' event-loop monitor in every job process (LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS): logs what
# blocked a call's event loop for longer than this many ms. Off (0) by default: its two wake-ups every
# 20 ms cost each job process CPU, idle or in a call (docs/BENCHMARKS.md, issue 28); 100 to look for a block.
VOICE_LOOP_BLOCK_WARN_MS = env_int("VOICE_LOOP_BLOCK_WARN_MS", 0)
# Each LLM attempt's time to its first byte; attempts per turn (or one each on the tenant's model and
# VOICE_LLM_FALLBACK_MODEL, when set); the filler ("One moment.") after this long without a word.
VOICE_LLM_ATTEMPT_TIMEOUT = env_float("VOICE_LLM_ATTEMPT_TIMEOUT", 4.5)
VOICE_LLM_ATTEMPTS = env_int("VOICE_LLM_ATTEMPTS", 2)
VOICE_LLM_FALLBACK_MODEL = env_str("VOICE_LLM_FALLBACK_MODEL")
VOICE_LLM_FILLER_SECONDS = env_float("VOICE_LLM_FILLER_SECONDS", 1.0)

# --- SMS (SignalWire LaML-compatible REST API) -------------------------------------------------
SIGNALWIRE_SPACE_URL = env_str("SIGNALWIRE_SPACE_URL")
SIGNALWIRE_PROJECT_ID = env_str("SIGNALWIRE_PROJECT_ID")
SIGNALWIRE_API_TOKEN = env_str("SIGNALWIRE_API_TOKEN")
# The project's signing key (SignalWire dashboard, API credentials): checks the inbound-SMS webhook.
SIGNALWIRE_SIGNING_KEY = env_str("SIGNALWIRE_SIGNING_KEY")
# Transient send failures (5xx, 429, network) are retried this often; backoff before retry n
# (0-based) is SMS_RETRY_BACKOFF_MS * 2**n: 2, 4, 8, 16, 32 s by default.
SMS_SEND_MAX_RETRIES = env_int("SMS_SEND_MAX_RETRIES", 5)
SMS_RETRY_BACKOFF_MS = env_int("SMS_RETRY_BACKOFF_MS", 2000)

# --- Follow-ups: owner notifications, webhooks, call summaries (notifications/, webhooks/, calls/summaries/)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Soniq <notifications@localhost>")
# Where links in emails and webhooks point: the tenant's domain is put in front of the path.
SITE_SCHEME = env_str("SITE_SCHEME", "https")
# Emails and staff SMS: retries of a transient failure, backoff before retry n = this * 2**n ms.
NOTIFICATION_MAX_RETRIES = env_int("NOTIFICATION_MAX_RETRIES", 5)
NOTIFICATION_RETRY_BACKOFF_MS = env_int("NOTIFICATION_RETRY_BACKOFF_MS", 5000)
# The daily digest is sent after this hour, tenant-local.
NOTIFICATION_DIGEST_HOUR = env_int("NOTIFICATION_DIGEST_HOUR", 7)
# Seconds between webhook attempts: the first retry within 30 s, about a day in all, then failed.
WEBHOOK_RETRY_SCHEDULE = [float(item) for item in env_list("WEBHOOK_RETRY_SCHEDULE", "15,60,300,1800,7200,14400,28800,36000")]
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# Development and tests only: allow http:// and loopback/private/link-local endpoint addresses.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# One tenant's attempts under way at once (a slow receiver fills only its own share of the workers),
# how long a task that found the share full waits before it asks again, and the endpoints a tenant may have.
WEBHOOK_TENANT_CONCURRENCY = env_int("WEBHOOK_TENANT_CONCURRENCY", 2)
WEBHOOK_TENANT_BUSY_RETRY_SECONDS = float(env_str("WEBHOOK_TENANT_BUSY_RETRY_SECONDS", "2"))
WEBHOOK_ENDPOINTS_MAX = env_int("WEBHOOK_ENDPOINTS_MAX", 10)
# Failed checks of a caller's identity (a phone and name that find nothing, a wrong name or code)
# before finding, moving and cancelling bookings is refused: per call, and per caller number per hour.
BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL = env_int("BOOKING_VERIFICATION_MAX_FAILURES_PER_CALL", 5)
BOOKING_VERIFICATION_MAX_FAILURES_PER_HOUR = env_int("BOOKING_VERIFICATION_MAX_FAILURES_PER_HOUR", 10)
# The call summary (same OPENAI_* settings as the agent); empty OPENAI_API_KEY = no summaries.
SUMMARY_LLM_MODEL = env_str("SUMMARY_LLM_MODEL", "gpt-4.1-mini")
SUMMARY_TIMEOUT_SECONDS = env_int("SUMMARY_TIMEOUT_SECONDS", 25)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
