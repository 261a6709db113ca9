from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "yici.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from yici.accounts import signals  # noqa: F401
