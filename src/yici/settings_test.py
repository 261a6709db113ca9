"""Settings for the test suite: the real settings, with a fast password hasher and plain static files."""

from yici.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "yici.accounts.hashers.ClientSecretHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LANGUAGE_CODE = "zh-hans"
# Background tasks run inline, so a test sees their outcome when the request returns.
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
# The second factor is tested explicitly (accounts tests switch it on); other tests use force_login.
YICI_REQUIRE_2FA = False
# Each test has its own database: the signing key may not be remembered across tests.
YICI_SIGNING_KEY_CACHE_SECONDS = 0
