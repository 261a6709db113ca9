"""Yici settings: one module, configured from the environment.

Nothing here exists only in production: the demo, the tests and a county install all read this
file; they differ only in environment variables (see README "Configuration").
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from yici.common.env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent
# var/ holds the embedded database, uploads and generated files; it is never committed.
VAR_DIR = Path(envstr("YICI_VAR_DIR", str(Path.cwd() / "var")))

DEBUG = envbool("DEBUG", False)

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    # An embedded install keeps a random key under var/, made on first start, so that nobody runs
    # with a key that is published in this repository.
    from yici.common.env import secret_key_from_file

    SECRET_KEY = secret_key_from_file(VAR_DIR / "secret_key")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks_db",
    "axes",
    "oauth2_provider",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "yici.web",
    "yici.accounts",
    "yici.catalog",
    "yici.audit",
    "yici.burden",
    "yici.registry",
    "yici.exchange",
    "yici.reports",
    "yici.inbox",
    "yici.api",
    "yici.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "yici.accounts.middleware.TwoFactorMiddleware",
    "yici.accounts.middleware.SessionTrackingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Axes must come last so that it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "yici.urls"
WSGI_APPLICATION = "yici.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "yici.web.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite (WAL) under var/ by default; PostgreSQL with DATABASE_URL=postgres://user@host:5432/db.
_default_sqlite = f"sqlite:///{VAR_DIR / 'yici.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(envstr("DATABASE_URL", _default_sqlite), conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server and the worker read while the other writes.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Tasks (background work) -----------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Authentication -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "yici.accounts.hashers.YiciArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # OAuth2 client secrets only (random, 128 characters): see yici.accounts.hashers.
    "yici.accounts.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions: a working day, renewed on activity, gone when the browser closes.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600)
# Idle sessions still expire (sliding): SessionTrackingMiddleware touches the session once a
# minute, which saves it and pushes its expiry forward; saving it on every request as well would
# add a database write to every page view for nothing.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Login throttling (django-axes): 5 failures per user name and address lock for 15 minutes.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# --- Security ----------------------------------------------------------------------------------
HTTPS = envbool("YICI_HTTPS", not DEBUG and envbool("YICI_PRODUCTION", False))
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("YICI_BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Django 6's built-in Content Security Policy: only our own static files, no inline script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and envbool("YICI_MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_ROOT = VAR_DIR / "media"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "WARNING")},
}

# --- Share once (exchange) ---------------------------------------------------------------------------
# Fernet keys for secrets at rest, newest first (``yici.common.crypto``); empty: derived from SECRET_KEY.
YICI_ENCRYPTION_KEYS = [k.strip() for k in (envstr("YICI_ENCRYPTION_KEYS") or "").split(",") if k.strip()]
# Where spreadsheet connectors drop their workbooks unless a system names its own folder.
YICI_DROP_DIR = Path(envstr("YICI_DROP_DIR", str(VAR_DIR / "drop")))
# DuckDB's memory limit for record linkage (Splink); beyond it DuckDB spills to disk. Together
# with the records reconcile holds in Python this sets the run's peak memory.
YICI_LINKAGE_MEMORY_LIMIT = envstr("YICI_LINKAGE_MEMORY_LIMIT", "3GB")
# Circuit breaker: transient failures in a row before a system is paused, and the first pause.
YICI_BREAKER_THRESHOLD = envint("YICI_BREAKER_THRESHOLD", 5)
YICI_BREAKER_COOLDOWN = float(envint("YICI_BREAKER_COOLDOWN", 30))
# Seconds a worker holds a claimed delivery before another worker may take it over.
YICI_DELIVERY_LEASE = float(envint("YICI_DELIVERY_LEASE", 300))
# Retry delays: base·2^(n-1) seconds, capped (±25 % jitter).
YICI_DELIVERY_BACKOFF_BASE = float(envstr("YICI_DELIVERY_BACKOFF_BASE", "30"))
YICI_DELIVERY_BACKOFF_CAP = float(envstr("YICI_DELIVERY_BACKOFF_CAP", str(6 * 3600)))

# --- One account (OIDC provider, provisioning, second factor) ------------------------------------------
# Signing keys live in the database (``accounts.SigningKey``, ``yici oidc-rotate-key``); the validator
# below signs with the active one and the JWKS publishes retired ones until their tokens have expired.
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "yici.accounts.oidc.YiciOAuth2Validator",
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": envstr("YICI_OIDC_ISSUER", ""),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name, area, role and department",
        "phone": "Your phone number",
        "exchange": "Exchange registry data as a line system",
    },
    "DEFAULT_SCOPES": ["openid"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": envint("YICI_ACCESS_TOKEN_SECONDS", 600),
    "ID_TOKEN_EXPIRE_SECONDS": envint("YICI_ID_TOKEN_SECONDS", 600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": envint("YICI_REFRESH_TOKEN_SECONDS", 8 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "CLIENT_SECRET_HASHER": "yici_client_secret",
    # RFC 9700: every compliant behaviour on; plain http redirect URIs only outside production.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if HTTPS else ["http", "https"],
    "ALLOW_URI_WILDCARDS": False,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# django-oauth-toolkit's own models (named so that accounts' relations to them resolve in migrations).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# County admins, department staff and auditors must sign in with a second factor (TOTP).
YICI_REQUIRE_2FA = envbool("YICI_REQUIRE_2FA", True)
OTP_TOTP_ISSUER = "Yici"
