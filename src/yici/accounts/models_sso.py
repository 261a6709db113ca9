"""One account: signing keys, line systems as OIDC clients, their accounts, what waits in them."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SigningKey(models.Model):
    """An RS256 key that signs ID tokens. One is active; retired keys stay published until ``publish_until``."""

    kid = models.CharField(_("key ID"), max_length=64, unique=True)
    private_pem_encrypted = models.TextField(_("private key (encrypted)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    # Retired keys are published in the JWKS until every token they signed has expired.
    publish_until = models.DateTimeField(_("published until"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")

    def __str__(self) -> str:
        return self.kid

    @property
    def private_pem(self) -> str:
        from yici.common.crypto import decrypt

        return decrypt(self.private_pem_encrypted)


class LineSystemClient(models.Model):
    """A line system that signs its users in through Yici (an OAuth2/OIDC client) and receives their accounts."""

    system = models.OneToOneField(
        "exchange.LineSystem", on_delete=models.CASCADE, related_name="sso_client", verbose_name=_("line system")
    )
    application = models.OneToOneField(
        "oauth2_provider.Application", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="line_system_client", verbose_name=_("OIDC client"),
    )
    # The machine client (client credentials) the system uses to call Yici's API.
    machine_application = models.OneToOneField(
        "oauth2_provider.Application", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="line_system_machine", verbose_name=_("machine client"),
    )
    portal_url = models.URLField(
        _("sign-in address"), max_length=500, blank=True,
        help_text=_("Where the portal tile sends a user: the system's 'sign in with Yici' page."),
    )
    first_party = models.BooleanField(
        _("first-party system (no consent screen)"), default=False,
        help_text=_("A county system whose users need not confirm what Yici shares with it."),
    )
    provisioning = models.BooleanField(
        _("provision accounts"), default=False,
        help_text=_("Push account changes to the system through its connector."),
    )
    account_roles = models.JSONField(
        _("roles with an account"), default=list, blank=True, help_text=_("empty: every role")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["system__code"]
        verbose_name = _("line system client")
        verbose_name_plural = _("line system clients")

    def __str__(self) -> str:
        return self.system.code

    def user_eligible(self, user) -> bool:
        """Whether ``user`` should have an account in this system (active, right role, right department)."""
        from yici.accounts.roles import Role

        if not user.is_active:
            return False
        if self.account_roles and user.role not in self.account_roles:
            return False
        if user.role == Role.DEPARTMENT_STAFF and self.system.department_id:
            return user.department_id == self.system.department_id
        return True


class ExternalAccount(models.Model):
    """A Yici user's account in a line system, as Yici last asked for it and heard back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_accounts",
                             verbose_name=_("user"))
    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="external_accounts",
                               verbose_name=_("line system"))
    external_id = models.CharField(_("their ID"), max_length=200, blank=True)
    # What Yici wants: True while the user should have a usable account there.
    active = models.BooleanField(_("active"), default=True)
    # The account version last confirmed by the system (0: never).
    confirmed_version = models.PositiveIntegerField(_("confirmed version"), default=0)
    last_synced = models.DateTimeField(_("last confirmed"), null=True, blank=True)

    class Meta:
        ordering = ["system__code", "user__username"]
        verbose_name = _("external account")
        verbose_name_plural = _("external accounts")
        constraints = [models.UniqueConstraint(fields=["user", "system"], name="accounts_external_once")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.system_id}"


class PortalWaiting(models.Model):
    """What a line system reports as waiting for a user (to-dos, forms to fill), shown on their portal tile."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_waiting")
    system = models.ForeignKey("exchange.LineSystem", on_delete=models.CASCADE, related_name="portal_waiting")
    count = models.PositiveIntegerField(_("waiting"), default=0)
    label = models.CharField(_("label"), max_length=100, blank=True)
    url = models.URLField(_("address"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("reported"), auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "system"], name="accounts_waiting_once")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.system_id}: {self.count}"
