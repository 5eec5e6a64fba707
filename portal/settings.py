"""Settings for Taller, read entirely from the environment (12-factor).

With nothing set, the portal runs on the embedded default: SQLite, a filesystem
Celery broker and a local MLflow server, everything under ``var/``. Production
sets DATABASE_URL, CELERY_BROKER_URL, MLFLOW_TRACKING_URI, SECRET_KEY,
ALLOWED_HOSTS and DEBUG=false.
"""

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("TALLER_VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DEBUG", "true")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "embedded-default-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "mozilla_django_oidc",
    "portal.accounts",
    "portal.projects",
    "portal.quotas",
    "clusterjobs",
    "experiments",
    "pipelines",
    "monitoring",
    "deployments",
    "sweeps",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "deployments.fastpath.ServingMiddleware",  # /serve/ calls skip the rest (deployments/fastpath.py)
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy: see CONTENT_SECURITY_POLICY below
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.times.TimeZoneMiddleware",  # times in the reader's time zone (their profile's)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.errors.ServiceUnavailableMiddleware",  # an action's ServiceUnavailable on a page
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} for the rare inline <script>/<style>
            ],
            # |when and |duration on every page, without a {% load %}.
            "builtins": ["portal.times"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'taller.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "0"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, watcher) share the file. Every transaction takes the write lock
    # when it begins (IMMEDIATE), so a writer waits up to the timeout for another; a deferred one
    # that read first fails at once on its lock upgrade, whatever the timeout. WAL: readers never
    # wait for the writer, nor it for them.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=envint("TALLER_SQLITE_TIMEOUT_SECONDS", "20"),
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith("redis://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": CACHE_URL.removeprefix("file://") or str(VAR_DIR / "cache"),
        }
    }

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
# Failed sign-ins allowed per username, and per client address, before that one (never the site)
# waits for the window to pass.
LOGIN_RATE = os.environ.get("TALLER_LOGIN_RATE", "10/m")
LOGIN_ADDRESS_RATE = os.environ.get("TALLER_LOGIN_ADDRESS_RATE", "30/m")
# The reverse proxies in front of the portal (addresses or CIDR blocks, comma-separated): only a
# request from one of them has its client address read from X-Forwarded-For.
TALLER_TRUSTED_PROXIES = envlist("TALLER_TRUSTED_PROXIES")
for _proxy in TALLER_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TALLER_TRUSTED_PROXIES must list addresses or CIDR blocks, not {_proxy!r}"
        ) from None

# Who may read /metrics (Prometheus): the scrapers' addresses or CIDR blocks (the client address is
# read as for the sign-in limit, behind TALLER_TRUSTED_PROXIES), and/or a bearer token they send.
# Each one set must be met; with neither set, /metrics refuses everyone.
TALLER_METRICS_ALLOWED_ADDRESSES = envlist("TALLER_METRICS_ALLOWED_ADDRESSES")
for _network in TALLER_METRICS_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TALLER_METRICS_ALLOWED_ADDRESSES must list addresses or CIDR blocks, not {_network!r}"
        ) from None
TALLER_METRICS_TOKEN = os.environ.get("TALLER_METRICS_TOKEN", "")
# The recent window over which /metrics reports admission and dispatch latencies.
TALLER_METRICS_WINDOW_SECONDS = envint("TALLER_METRICS_WINDOW_SECONDS", "3600")
# A Prometheus that scrapes the cluster (cAdvisor, DCGM's exporter): with it, a job's page shows
# its CPU, memory and GPU use over its life, and a job that held GPUs at a low average use has its
# run flagged (taller.gpu_underused). Empty: no resource use is shown.
TALLER_PROMETHEUS_URL = os.environ.get("TALLER_PROMETHEUS_URL", "").strip().rstrip("/")
if TALLER_PROMETHEUS_URL and urlsplit(TALLER_PROMETHEUS_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(
        f"TALLER_PROMETHEUS_URL must be an http:// or https:// address, not {TALLER_PROMETHEUS_URL!r}"
    )
TALLER_PROMETHEUS_TIMEOUT_SECONDS = float(os.environ.get("TALLER_PROMETHEUS_TIMEOUT_SECONDS", "3"))
# The shortest window of rate() over the CPU counter: at least four of that Prometheus' scrape
# intervals (rate divides by the window, so a longer one understates a job's first minutes).
TALLER_PROMETHEUS_RATE_SECONDS = envint("TALLER_PROMETHEUS_RATE_SECONDS", "60")
# A job whose GPUs averaged less than this (percent) over its run is flagged as underusing them.
TALLER_GPU_UNDERUSED_PERCENT = envint("TALLER_GPU_UNDERUSED_PERCENT", "30")

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

# University single sign-on (OpenID Connect), on when a client id is configured.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "University single sign-on")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", "5")
OIDC_CREATE_USER = envbool("OIDC_CREATE_USER", "true")
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"
# The provider's issuer (the `iss` of its ID tokens, as in its discovery document): required.
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")
if OIDC_ENABLED and not OIDC_OP_ISSUER:
    raise ImproperlyConfigured("OIDC_OP_ISSUER must be set when OIDC_RP_CLIENT_ID is")
# Where logging out of the portal also ends the provider's session (its end_session_endpoint).
OIDC_OP_END_SESSION_ENDPOINT = os.environ.get("OIDC_OP_END_SESSION_ENDPOINT", "")
OIDC_OP_LOGOUT_URL_METHOD = "portal.accounts.oidc.provider_logout_url"
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the provider's logout
# Seconds of clock difference with the provider allowed on the ID token's exp and iat.
OIDC_ALLOWED_CLOCK_SKEW = envint("OIDC_ALLOWED_CLOCK_SKEW", "60")
# Users are bound to the provider's `sub`. On a first sign-in, link an existing account with the
# same email only if this is on and the provider says the email is verified (never a staff account).
OIDC_LINK_BY_EMAIL = envbool("OIDC_LINK_BY_EMAIL", "false")
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.append("portal.accounts.oidc.UniversityOIDCBackend")

# --- Content-Security-Policy (django-csp 4) ---------------------------------------------------
# Scripts come only from the portal's own files (or an inline block carrying this response's
# nonce): no inline event handlers, no eval (htmx runs with allowEval off, see base.html). Styles
# come from the portal's files too: Pico, taller.css, the admin's and Swagger UI's; the one inline
# <style> and <script> of the Swagger UI page carry the nonce (templates/drf_spectacular/). One kind
# of page relaxes styles only, never scripts: DRF's browsable API, whose templates use style=""
# attributes (portal.api.BrowsableAPIRenderer). Images: own files and data: URLs (the empty favicon).
# Forms post to the portal itself; the OIDC provider's origin is allowed too, because a sign-out
# form may be redirected to the provider's end-session endpoint and Chromium applies form-action to
# the redirect.
# (Lower case: django-csp takes any CSP_* setting for one of its 3.x settings and refuses to start.)
csp_form_action = ["'self'"]
if OIDC_OP_AUTHORIZATION_ENDPOINT:
    _provider = urlsplit(OIDC_OP_AUTHORIZATION_ENDPOINT)
    csp_form_action.append(f"{_provider.scheme}://{_provider.netloc}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": csp_form_action,
    },
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]


def snapshot_storage(environ: Mapping[str, str]) -> dict:
    """Where code snapshots of jobs are kept (clusterjobs/sources/snapshots.py, content-addressed).
    With TALLER_SNAPSHOT_S3_BUCKET: that bucket of an S3-compatible server through django-storages
    (TALLER_SNAPSHOT_S3_ENDPOINT_URL, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION and _PREFIX, a
    folder in the bucket); else a folder (TALLER_SNAPSHOT_LOCATION, under var/ by default)."""
    if bucket := environ.get("TALLER_SNAPSHOT_S3_BUCKET", ""):
        options = {
            "bucket_name": bucket,
            "endpoint_url": environ.get("TALLER_SNAPSHOT_S3_ENDPOINT_URL") or None,
            "access_key": environ.get("TALLER_SNAPSHOT_S3_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("TALLER_SNAPSHOT_S3_SECRET_ACCESS_KEY") or None,
            "region_name": environ.get("TALLER_SNAPSHOT_S3_REGION") or None,
            "location": environ.get("TALLER_SNAPSHOT_S3_PREFIX", "snapshots"),
            "default_acl": "private",
            "querystring_auth": True,
        }
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    location = environ.get("TALLER_SNAPSHOT_LOCATION", str(VAR_DIR / "snapshots"))
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}}


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "snapshots": snapshot_storage(os.environ),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security: strict unless DEBUG; the portal sits behind a TLS-terminating reverse proxy.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
# More paths served over plain http, comma-separated regular expressions (e.g. ^mlflow/ for jobs that
# reach the web processes straight from inside the cluster, docs/operations.md).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$", *envlist("SECURE_REDIRECT_EXEMPT")]
for _pattern in SECURE_REDIRECT_EXEMPT:
    try:
        re.compile(_pattern)
    except re.error as _error:
        raise ImproperlyConfigured(
            f"SECURE_REDIRECT_EXEMPT: {_pattern!r} is not a regular expression: {_error}"
        ) from None
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", str(not DEBUG))
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", str(not DEBUG))
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(not DEBUG))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", str(not DEBUG))
X_FRAME_OPTIONS = "DENY"

# Celery: Redis in production, a filesystem broker under var/ on the embedded default.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict = {
    # Repair jobs whose backend events were missed, and dispatch queued jobs whose admission was lost.
    "reconcile-jobs": {
        "task": "clusterjobs.tasks.reconcile_jobs",
        "schedule": envint("TALLER_RECONCILE_SECONDS", "60"),
    },
    "drain-queues": {
        "task": "clusterjobs.tasks.drain_queues",
        "schedule": envint("TALLER_DRAIN_SECONDS", "30"),
    },
    # Repair pipeline steps a lost message left claimed, retries due, step jobs whose end went unheard.
    "advance-pipelines": {
        "task": "pipelines.tasks.advance_pipelines",
        "schedule": envint("TALLER_PIPELINE_REPAIR_SECONDS", "30"),
    },
    # Start the pipelines whose schedule is due.
    "tick-schedules": {
        "task": "pipelines.tasks.tick_schedules",
        "schedule": envint("TALLER_SCHEDULE_TICK_SECONDS", "60"),
    },
    # Tell users whose jobs or pipeline runs wait longer than they chose (once each).
    "notify-waits": {
        "task": "pipelines.tasks.notify_waits",
        "schedule": envint("TALLER_NOTIFY_WAITS_SECONDS", "60"),
    },
}

# MLflow: the upstream tracking server the portal talks to.
# On the embedded default it is the Procfile's `mlflow server`, on TALLER_MLFLOW_PORT (5000).
MLFLOW_TRACKING_URI = os.environ.get(
    "MLFLOW_TRACKING_URI", f"http://127.0.0.1:{envint('TALLER_MLFLOW_PORT', '5000')}"
)
MLFLOW_TIMEOUT_SECONDS = envint("MLFLOW_TIMEOUT_SECONDS", "5")
# Artifact previews in the run page: larger text files (or images) are offered for download only.
TALLER_PREVIEW_MAX_BYTES = envint("TALLER_PREVIEW_MAX_BYTES", str(256 * 1024))
TALLER_IMAGE_PREVIEW_MAX_BYTES = envint("TALLER_IMAGE_PREVIEW_MAX_BYTES", str(5 * 1024 * 1024))


def envurl(name: str, default: str) -> str:
    """An http(s) address, without a trailing slash; anything else stops every process at start."""
    value = os.environ.get(name, default).strip()
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an http:// or https:// address such as https://taller.example.org, not {value!r}"
        )
    return value.rstrip("/")


# Where people reach the portal: in production, the https address of the TLS reverse proxy.
TALLER_PUBLIC_URL = envurl("TALLER_PUBLIC_URL", f"http://127.0.0.1:{envint('TALLER_PORT', '8000')}")
# Where jobs reach the portal's /mlflow/ proxy: on a cluster, a Service in front of the web processes
# (plain http, with SECURE_REDIRECT_EXEMPT=^mlflow/) or the public https address; see docs/operations.md.
# `manage.py check` refuses an address that the https redirect would send elsewhere (clusterjobs/checks.py).
TALLER_JOB_PORTAL_URL = envurl("TALLER_JOB_PORTAL_URL", TALLER_PUBLIC_URL)
TALLER_EXECUTOR = os.environ.get("TALLER_EXECUTOR", "local")
if TALLER_EXECUTOR not in {"local", "kubernetes"}:
    raise ImproperlyConfigured(f"TALLER_EXECUTOR must be local or kubernetes, not {TALLER_EXECUTOR!r}")
TALLER_EMBEDDED = not os.environ.get("DATABASE_URL")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "portal.filters.FilterBackend"
    ],  # skips the filterset when no filter is asked
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["portal.throttling.UserRateThrottle"],  # fixed windows: one round trip
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("TALLER_API_RATE", "10000/hour")},
    # The API speaks JSON only: form encodings cannot carry its nested objects and lists.
    "DEFAULT_PARSER_CLASSES": ["portal.api.JSONParser"],  # DRF's, refusing deep nesting (400)
    # DRF's two, the browsable one with its own style-src (portal/api.py).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "portal.api.BrowsableAPIRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Taller API",
    "DESCRIPTION": "Projects, quotas, cluster jobs and MLflow runs of the Taller research portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Document the 400/401/403/404/429 answers of every operation (portal/api.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.postprocess_error_responses",
    ],
    # Enums that share a field name across apps get their own names here.
    "ENUM_NAME_OVERRIDES": {
        "ProjectStatusEnum": "portal.projects.models.Project.Status",
        "RoleEnum": "portal.projects.models.Role",
        "JobStatusEnum": "clusterjobs.models.JobStatus",
        "QuotaRequestStatusEnum": "portal.quotas.models.QuotaRequest.Status",
        "SweepStatusEnum": "sweeps.models.SweepStatus",
        "DeploymentStatusEnum": "deployments.models.DeploymentStatus",
        "PipelineRunStatusEnum": "pipelines.models.RunStatus",
        "PipelineStepStatusEnum": "pipelines.models.StepStatus",
        "AuditKindEnum": "portal.projects.models.AuditKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# Quota of a new project, until a site admin changes it.
TALLER_DEFAULT_QUOTA = {
    "max_gpus": envint("TALLER_DEFAULT_MAX_GPUS", "1"),
    "max_cpu": envint("TALLER_DEFAULT_MAX_CPU", "8"),
    "max_memory_mib": envint("TALLER_DEFAULT_MAX_MEMORY_MIB", "32768"),
    "max_running_jobs": envint("TALLER_DEFAULT_MAX_RUNNING_JOBS", "4"),
    "max_time_limit_minutes": envint("TALLER_DEFAULT_MAX_TIME_LIMIT_MINUTES", "1440"),
    "gpu_hours_per_period": envint("TALLER_DEFAULT_GPU_HOURS", "100"),
    "cpu_hours_per_period": envint("TALLER_DEFAULT_CPU_HOURS", "2000"),
    "period": os.environ.get("TALLER_DEFAULT_QUOTA_PERIOD", "monthly"),
}


def envmapping(name: str) -> dict[str, tuple[str, ...]]:
    """``key:a|b,key2:c`` -> {"key": ("a", "b"), "key2": ("c",)}."""
    mapping: dict[str, tuple[str, ...]] = {}
    for item in envlist(name):
        key, sep, values = item.partition(":")
        names = tuple(value.strip() for value in values.split("|") if value.strip())
        if not sep or not key.strip() or not names:
            raise ImproperlyConfigured(
                f"{name} must look like 'project:pvc-a|pvc-b,other:pvc-c', not {item!r}"
            )
        mapping[key.strip()] = names
    return mapping


# Kubernetes execution backend (TALLER_EXECUTOR=kubernetes).
TALLER_KUBECONFIG = os.environ.get("TALLER_KUBECONFIG", "")  # empty: the in-cluster service account
TALLER_K8S_CONTEXT = os.environ.get("TALLER_K8S_CONTEXT", "")  # empty: the kubeconfig's current context
TALLER_K8S_TIMEOUT_SECONDS = envint("TALLER_K8S_TIMEOUT_SECONDS", "10")  # every API call
TALLER_K8S_WATCH_SECONDS = envint("TALLER_K8S_WATCH_SECONDS", "60")  # one watch request, then resume
TALLER_GPU_PRODUCT_LABEL = os.environ.get("TALLER_GPU_PRODUCT_LABEL", "nvidia.com/gpu.product")
TALLER_JOB_TTL_SECONDS = envint("TALLER_JOB_TTL_SECONDS", "3600")
TALLER_RUN_AS_USER = envint("TALLER_RUN_AS_USER", "1000")
# PersistentVolumeClaims mounted at /data/<name> in every job of a project: "proj1:pvc-a|pvc-b,proj2:pvc-c".
TALLER_PROJECT_VOLUMES = envmapping("TALLER_PROJECT_VOLUMES")
# Cluster jobs: per-job maxima (the project's quota may be lower), images, dispatch and logs.
TALLER_MAX_JOB_CPU = envint("TALLER_MAX_JOB_CPU", "32")
TALLER_MAX_JOB_MEMORY_MIB = envint("TALLER_MAX_JOB_MEMORY_MIB", "262144")
TALLER_MAX_JOB_GPUS = envint("TALLER_MAX_JOB_GPUS", "8")
# The most steps one pipeline may have.
TALLER_PIPELINE_MAX_STEPS = envint("TALLER_PIPELINE_MAX_STEPS", "500")
# Schedules: the shortest interval a cron expression may have, and how late a time may be taken
# before it counts as missed (the portal was down): then skipped, or run once, as the schedule says.
TALLER_SCHEDULE_MIN_INTERVAL_MINUTES = envint("TALLER_SCHEDULE_MIN_INTERVAL_MINUTES", "10")
TALLER_SCHEDULE_GRACE_SECONDS = envint("TALLER_SCHEDULE_GRACE_SECONDS", "300")
# Notifications: email through Django's backend (the console on the embedded default, SMTP when
# EMAIL_HOST is set); webhooks over https only, never to private, loopback, link-local or the
# cluster's ranges (TALLER_WEBHOOK_BLOCKED_NETWORKS adds ranges; TALLER_WEBHOOK_TRUSTED_HOSTS names
# hosts exempt from the address check, such as an on-premise chat server), retried with backoff.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", "25")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "taller@localhost")
TALLER_WEBHOOK_BLOCKED_NETWORKS = [
    n for n in os.environ.get("TALLER_WEBHOOK_BLOCKED_NETWORKS", "").split(",") if n
]
TALLER_WEBHOOK_TRUSTED_HOSTS = [h for h in os.environ.get("TALLER_WEBHOOK_TRUSTED_HOSTS", "").split(",") if h]
TALLER_WEBHOOK_HTTPS_ONLY = True
# Certificate authorities webhook servers' certificates are checked against (a PEM file); empty:
# certifi's bundle, as requests uses.
TALLER_WEBHOOK_CA_BUNDLE = os.environ.get("TALLER_WEBHOOK_CA_BUNDLE", "")
TALLER_NOTIFY_MAX_ATTEMPTS = envint("TALLER_NOTIFY_MAX_ATTEMPTS", "5")
TALLER_MAX_JOB_TIME_LIMIT_MINUTES = envint("TALLER_MAX_JOB_TIME_LIMIT_MINUTES", "10080")
# Registry prefixes a job image must start with, comma-separated; unset allows any image.
TALLER_ALLOWED_IMAGE_PREFIXES = envlist("TALLER_ALLOWED_IMAGE_PREFIXES")
TALLER_DEFAULT_JOB_IMAGE = os.environ.get("TALLER_DEFAULT_JOB_IMAGE", "python:3.11-slim")
# The GPU types (products) this cluster has, comma-separated, e.g. "nvidia-a100,nvidia-t4": the
# form offers them in a list and a job may ask only for one of them. Unset: no GPU type is asked.
TALLER_GPU_TYPES = envlist("TALLER_GPU_TYPES")
# One sentence on the submission form saying where a job's code and data come from on this
# deployment; unset, a default that fits the executor (clusterjobs.forms.code_source_note).
TALLER_CODE_SOURCE_NOTE = os.environ.get("TALLER_CODE_SOURCE_NOTE", "")
# Git sources of jobs (clusterjobs/sources): the one `git ls-remote` at submission is bounded by
# this; hosts (host or host:port) that may be reached over plain http:// and at private addresses
# (an internal forge); folders whose repositories may be named by path; the init container's image.
TALLER_GIT_TIMEOUT_SECONDS = envint("TALLER_GIT_TIMEOUT_SECONDS", "20")
TALLER_GIT_TRUSTED_HOSTS = envlist("TALLER_GIT_TRUSTED_HOSTS")
TALLER_GIT_LOCAL_ROOTS = envlist("TALLER_GIT_LOCAL_ROOTS")
TALLER_GIT_IMAGE = os.environ.get("TALLER_GIT_IMAGE", "alpine/git:v2.47.2")
TALLER_GIT_CLONE_TIMEOUT_SECONDS = envint("TALLER_GIT_CLONE_TIMEOUT_SECONDS", "600")
# A known_hosts file of the forges reached over ssh: with it, their keys are checked strictly
# against it (StrictHostKeyChecking=yes); unset, a forge's first key is accepted.
TALLER_GIT_SSH_KNOWN_HOSTS = os.environ.get("TALLER_GIT_SSH_KNOWN_HOSTS", "")
# DVC data of jobs (clusterjobs/sources: remotes, data, pull): endpoint hosts (host or host:port) of
# S3-compatible servers that may be reached over plain http:// and at private addresses; folders
# the site mounts on its machines under which a project's remote may be; the image of the
# Kubernetes init container that pulls (it needs dvc with its S3 plugin); the pull's time limit.
TALLER_DVC_TRUSTED_HOSTS = envlist("TALLER_DVC_TRUSTED_HOSTS")
TALLER_DVC_SHARED_ROOTS = envlist("TALLER_DVC_SHARED_ROOTS")
TALLER_DVC_IMAGE = os.environ.get("TALLER_DVC_IMAGE", "iterativeai/cml:0-dvc3-base1")
TALLER_DVC_PULL_TIMEOUT_SECONDS = envint("TALLER_DVC_PULL_TIMEOUT_SECONDS", "1800")
# The largest code snapshot (`taller submit --code DIR`, a .tar.gz) a project may upload.
TALLER_SNAPSHOT_MAX_BYTES = envint("TALLER_SNAPSHOT_MAX_BYTES", str(50 * 1024 * 1024))
# Where running jobs send their MLflow calls: the portal's authorizing proxy.
TALLER_JOB_TRACKING_URI = f"{TALLER_JOB_PORTAL_URL}/mlflow"
TALLER_DISPATCH_MAX_RETRIES = envint("TALLER_DISPATCH_MAX_RETRIES", "5")
# Deployments (the deployments app): replicas a deployment may ask for, how long a new model
# server may take to answer before its rollout fails (the previous version keeps serving), how
# long an old server keeps answering the requests on their way after the switch, the largest
# body the serving path forwards, and the image a deployment runs on Kubernetes.
TALLER_DEPLOY_MAX_REPLICAS = envint("TALLER_DEPLOY_MAX_REPLICAS", "8")
TALLER_DEPLOY_START_SECONDS = envint("TALLER_DEPLOY_START_SECONDS", "180")
TALLER_DEPLOY_DRAIN_SECONDS = envint("TALLER_DEPLOY_DRAIN_SECONDS", "10")
TALLER_SERVE_MAX_BYTES = envint("TALLER_SERVE_MAX_BYTES", str(10 * 1024 * 1024))
TALLER_SERVE_TIMEOUT_SECONDS = envint("TALLER_SERVE_TIMEOUT_SECONDS", "60")
# How often each web process writes the calls it counted (per deployment and minute).
TALLER_SERVE_FLUSH_SECONDS = float(os.environ.get("TALLER_SERVE_FLUSH_SECONDS", "2"))
# Days the per-minute traffic of deployments is kept (the serve_models process forgets older minutes).
TALLER_SERVE_TRAFFIC_DAYS = envint("TALLER_SERVE_TRAFFIC_DAYS", "30")
# Sampled calls (off unless a deployment asks): the most days a deployment may keep them, and
# the most bytes kept of each request and answer body (longer ones are cut and flagged).
TALLER_SERVE_SAMPLE_MAX_DAYS = envint("TALLER_SERVE_SAMPLE_MAX_DAYS", "30")
TALLER_SERVE_SAMPLE_MAX_BYTES = envint("TALLER_SERVE_SAMPLE_MAX_BYTES", "65536")
TALLER_SERVE_KEY_RATE = os.environ.get("TALLER_SERVE_KEY_RATE", "600/m")
TALLER_SERVING_IMAGE = os.environ.get("TALLER_SERVING_IMAGE", "ghcr.io/mlflow/mlflow:v3.17.2")
# How long a dispatch attempt's claim on a job holds without a sign of life: the attempt renews it
# every third of this while it works. A dead worker's claim lapses after it, and the queue drain
# (every TALLER_DRAIN_SECONDS) dispatches the job again; so does a job that no attempt claimed
# this long after its admission (its message was lost with a worker).
TALLER_DISPATCH_CLAIM_SECONDS = envint("TALLER_DISPATCH_CLAIM_SECONDS", "30")
# How long dispatch trusts that a project is prepared on the backend (namespace, quota) with its
# current limits before preparing it again; a change of the project's limits applies at once.
TALLER_PROJECT_READY_SECONDS = envint("TALLER_PROJECT_READY_SECONDS", "3600")
TALLER_FINAL_LOG_MAX_LINES = envint("TALLER_FINAL_LOG_MAX_LINES", "5000")
TALLER_FINAL_LOG_MAX_CHARS = envint("TALLER_FINAL_LOG_MAX_CHARS", "1000000")
# Local backend: seconds between SIGTERM and SIGKILL, and between two looks at the job folders.
TALLER_LOCAL_KILL_GRACE_SECONDS = envint("TALLER_LOCAL_KILL_GRACE_SECONDS", "10")
TALLER_LOCAL_POLL_SECONDS = float(os.environ.get("TALLER_LOCAL_POLL_SECONDS", "1"))
# Local backend isolation: the bubblewrap program that sandboxes each job (empty: none), folders
# jobs may also read (datasets), and the opt-in to run jobs unisolated with DEBUG off.
TALLER_LOCAL_BWRAP = os.environ.get("TALLER_LOCAL_BWRAP", "bwrap")
TALLER_LOCAL_READ_ONLY_PATHS = envlist("TALLER_LOCAL_READ_ONLY_PATHS")
TALLER_LOCAL_EXECUTOR_UNISOLATED = envbool("TALLER_LOCAL_EXECUTOR_UNISOLATED", "false")

# What the whole cluster can hold at once, shared fairly between projects (0 = unlimited).
TALLER_CLUSTER_GPUS = envint("TALLER_CLUSTER_GPUS", "0")
TALLER_CLUSTER_CPU = envint("TALLER_CLUSTER_CPU", "0")
TALLER_CLUSTER_MEMORY_MIB = envint("TALLER_CLUSTER_MEMORY_MIB", "0")
# Upper bounds a site admin may set in a quota; beyond these a value is taken for a typo.
TALLER_QUOTA_MAXIMA = {
    "max_gpus": envint("TALLER_QUOTA_MAX_GPUS", "1024"),
    "max_cpu": envint("TALLER_QUOTA_MAX_CPU", "99999"),
    "max_memory_mib": envint("TALLER_QUOTA_MAX_MEMORY_MIB", str(1024 * 1024 * 1024)),
    "max_running_jobs": envint("TALLER_QUOTA_MAX_RUNNING_JOBS", "10000"),
    "max_time_limit_minutes": envint("TALLER_QUOTA_MAX_TIME_LIMIT_MINUTES", str(60 * 24 * 366)),
    "gpu_hours_per_period": envint("TALLER_QUOTA_MAX_GPU_HOURS", "10000000"),
    "cpu_hours_per_period": envint("TALLER_QUOTA_MAX_CPU_HOURS", "1000000000"),
}
# Sweeps whose last message was lost (a restarted worker) count their trials and start the next;
# running trials of sweeps with early stopping are checked against the median this often.
CELERY_BEAT_SCHEDULE["sweeps-advance"] = {
    "task": "sweeps.tasks.advance_sweeps",
    "schedule": envint("TALLER_SWEEPS_ADVANCE_SECONDS", "30"),
}
# Deployments on Kubernetes: rollouts followed to their end (one read per live deployment), and
# what a lost message left undone.
CELERY_BEAT_SCHEDULE["deployments-sync"] = {
    "task": "deployments.tasks.sync_deployments",
    "schedule": envint("TALLER_DEPLOY_SYNC_SECONDS", "15"),
}
# Sampled calls older than their deployment's retention deleted, in bounded batches.
CELERY_BEAT_SCHEDULE["deployments-purge-samples"] = {
    "task": "deployments.tasks.purge_samples",
    "schedule": envint("TALLER_SERVE_SAMPLE_PURGE_SECONDS", "3600"),
}
CELERY_BEAT_SCHEDULE["quotas-mirror-all"] = {
    "task": "portal.quotas.tasks.mirror_all_quotas",
    "schedule": 3600.0,
}

# Reconcile, the watcher and periodic tasks (issue 9).
# Beat's tasks go to a queue of their own, consumed only by the Procfile's `periodic` worker (the
# `periodic` service of docker-compose.yml): a long reconcile never holds the worker slots dispatch
# needs. A periodic message not started within its interval is dropped: the next one is on its way.
TALLER_PERIODIC_QUEUE = "periodic"
for _entry in CELERY_BEAT_SCHEDULE.values():
    _entry.setdefault("options", {}).update(queue=TALLER_PERIODIC_QUEUE, expires=float(_entry["schedule"]))
# Longest a reconcile may run before another may start (a worker that died holding it).
TALLER_RECONCILE_LEASE_SECONDS = envint("TALLER_RECONCILE_LEASE_SECONDS", "600")
# A cancelled job's resources stay held for admission until its Pods are gone (the namespace's quota
# counts terminating Pods), or at most this long after it ended.
TALLER_LINGER_TIMEOUT_SECONDS = envint("TALLER_LINGER_TIMEOUT_SECONDS", "300")
# Items per page when reconcile lists the portal's Jobs, Pods and events on the cluster.
TALLER_K8S_LIST_PAGE_SIZE = envint("TALLER_K8S_LIST_PAGE_SIZE", "500")
