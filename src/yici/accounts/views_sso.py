"""Pages for one account: the portal, the second factor, line systems as clients, a user's accounts."""

import json
import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from yici.accounts import provisioning, selectors, services, services_sso, twofactor
from yici.accounts.models import LineSystemClient, PortalWaiting, User
from yici.accounts.roles import ADMIN_ROLES, Role

log = logging.getLogger(__name__)


def _require_admin(request) -> None:
    if request.user.role not in ADMIN_ROLES:
        raise PermissionDenied


def _managed_user(request, username: str) -> User:
    """The user ``username`` among those the signed-in admin manages (404 otherwise)."""
    _require_admin(request)
    return get_object_or_404(selectors.user_list(fetched_by=request.user), username=username)


# --- Portal (工作台) -------------------------------------------------------------------------------
def portal_tiles(*, user: User) -> list[dict]:
    """Every connected system the user has an account in, with what waits for them there."""
    waiting = {w.system_id: w for w in PortalWaiting.objects.filter(user=user)}
    tiles = []
    for client in LineSystemClient.objects.filter(application__isnull=False).select_related("system", "system__department"):
        if not client.portal_url or not provisioning.account_usable(user=user, client=client):
            continue
        item = waiting.get(client.system_id)
        tiles.append({"system": client.system, "url": client.portal_url, "waiting": item.count if item else None,
                      "waiting_label": item.label if item else "", "waiting_url": item.url if item else ""})
    return tiles


@login_required
def portal(request):
    return render(request, "accounts/portal.html", {
        "tiles": portal_tiles(user=request.user),
        "pending": provisioning.pending_deliveries(user=request.user),
        "manages_users": request.user.role in ADMIN_ROLES,
    })


# --- Second factor ------------------------------------------------------------------------------
class TokenForm(forms.Form):
    token = forms.CharField(label=gettext_lazy("Code"), max_length=16,
                            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@login_required
def two_factor(request):
    """Verify the second factor, or set it up first (with recovery codes shown once)."""
    user = request.user
    if request.method == "POST" and request.POST.get("action") == "recovery-codes":
        if not (twofactor.enrolled(user) and user.is_verified()):
            raise PermissionDenied
        codes = twofactor.recovery_codes_reset(user=user)
        return render(request, "accounts/two_factor_codes.html", {"codes": codes, "next": reverse("accounts:portal")})
    form = TokenForm(request.POST or None)
    if twofactor.enrolled(user) and user.is_verified() and request.GET.get("setup"):
        return render(request, "accounts/two_factor_on.html")
    if twofactor.enrolled(user) and not request.GET.get("setup"):
        if request.method == "POST" and form.is_valid():
            if twofactor.verify(request=request, token=form.cleaned_data["token"]):
                return redirect(_next(request))
            form.add_error("token", _("That code is not right, or it was used already. Try the next one."))
        return render(request, "accounts/two_factor_verify.html", {"form": form, "next": _next(request)})
    if twofactor.enrolled(user) and not user.is_verified():
        raise PermissionDenied  # re-enrolling needs the current factor first
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if request.method == "POST" and device is not None and form.is_valid():
        codes = twofactor.totp_confirm(request=request, device=device, token=form.cleaned_data["token"])
        if codes is not None:
            request.session[twofactor.SESSION_NEEDED_KEY] = False
            return render(request, "accounts/two_factor_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("token", _("That code is not right. Check the time on your phone and try again."))
    if device is None or request.method == "GET":
        device = twofactor.totp_start(user=user)
    return render(request, "accounts/two_factor_setup.html", {
        "form": form, "qr": twofactor.qr_data_uri(device), "key": twofactor.base32_key(device),
        "required": twofactor.required_for(user), "next": _next(request),
    })


# --- Line systems as clients (county admins) ---------------------------------------------------------
class ClientForm(forms.Form):
    redirect_uris = forms.CharField(label=gettext_lazy("Redirect addresses"), widget=forms.Textarea(attrs={"rows": 2}),
                                    help_text=gettext_lazy("One per line, exactly as the system sends them."))
    post_logout_redirect_uris = forms.CharField(label=gettext_lazy("Addresses after sign-out"), required=False,
                                                widget=forms.Textarea(attrs={"rows": 2}))
    portal_url = forms.URLField(label=gettext_lazy("Sign-in address (portal tile)"), required=False)
    first_party = forms.BooleanField(label=gettext_lazy("First-party system: no consent screen"), required=False)
    provisioning = forms.BooleanField(label=gettext_lazy("Provision accounts through the connector"), required=False)
    account_roles = forms.MultipleChoiceField(label=gettext_lazy("Roles with an account (none ticked: all)"),
                                              choices=Role.choices, required=False,
                                              widget=forms.CheckboxSelectMultiple)


def _system_or_404(code: str):
    from yici.exchange.models import LineSystem

    system = LineSystem.objects.filter(code=code).first()
    if system is None:
        raise Http404
    return system


# The registration page lists a system's accounts up to this many; the user list finds the others.
SYSTEM_ACCOUNTS_SHOWN = 50


@login_required
def line_system_client(request, code: str):
    _require_admin(request)
    system = _system_or_404(code)
    client = LineSystemClient.objects.filter(system=system).select_related("application", "machine_application").first()
    initial = {}
    if client and client.application:
        initial = {
            "redirect_uris": "\n".join(client.application.redirect_uris.split()),
            "post_logout_redirect_uris": "\n".join(client.application.post_logout_redirect_uris.split()),
            "portal_url": client.portal_url, "first_party": client.first_party,
            "provisioning": client.provisioning, "account_roles": client.account_roles,
        }
    form = ClientForm(request.POST or None, initial=initial)
    secret = ""
    if request.method == "POST" and request.POST.get("action") == "reset-secret" and client and client.application:
        secret = services_sso.client_secret_reset(client=client, actor=request.user)
        form = ClientForm(initial=initial)
    elif request.method == "POST" and request.POST.get("action") == "machine" and client:
        _machine_id, secret = services_sso.machine_client_register(client=client, actor=request.user)
        form = ClientForm(initial=initial)
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            client, secret = services_sso.client_register(
                system=system, redirect_uris=data["redirect_uris"],
                post_logout_redirect_uris=data["post_logout_redirect_uris"], portal_url=data["portal_url"],
                first_party=data["first_party"], provisioning=data["provisioning"],
                account_roles=data["account_roles"], actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if not secret:
                messages.success(request, _("The registration has been saved."))
                return redirect("accounts:line_system_client", code=system.code)
    if client:
        client.refresh_from_db()
    accounts = selectors.system_account_list(system=system, fetched_by=request.user)
    return render(request, "accounts/line_system_client.html", {
        "system": system, "client": client, "form": form, "secret": secret,
        "secret_for": request.POST.get("action", "register") if secret else "",
        "accounts": accounts[:SYSTEM_ACCOUNTS_SHOWN], "account_count": accounts.count(),
    })


@login_required
def user_list(request):
    """The users a county admin manages, each with a link to their accounts in the line systems."""
    _require_admin(request)
    text = request.GET.get("q", "")[:100]
    page = Paginator(selectors.user_search(fetched_by=request.user, text=text), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/user_list.html", {"page": page, "q": text})


@login_required
def user_accounts(request, username: str):
    """A user's accounts in the line systems, with deprovisioning shown as pending until confirmed."""
    user = _managed_user(request, username)
    return render(request, "accounts/user_accounts.html", {
        "subject": user, "rows": provisioning.account_rows(user=user),
    })


@require_POST
@login_required
def user_active(request, username: str):
    user = _managed_user(request, username)
    active = request.POST.get("active") == "1"
    if user.pk == request.user.pk and not active:
        messages.error(request, _("You cannot disable your own account."))
    else:
        services.user_set_active(user=user, active=active, actor=request.user)
        messages.success(request, _("The account has been enabled.") if active else
                         _("The account has been disabled; every line system is being told."))
    return redirect("accounts:user_accounts", username=user.username)


# --- Machine endpoint: what waits for users in a line system -----------------------------------------
@csrf_exempt
@require_POST
def waiting_report(request):
    """``POST /accounts/api/waiting/`` from a line system (bearer token or signed request)."""
    from yici.exchange.machine_auth import MachineAuthError, line_system_from_request

    try:
        system = line_system_from_request(request)
    except MachineAuthError as exc:
        log.warning("waiting report refused: %s", exc)
        return JsonResponse({"error": "unauthorized", "detail": str(exc)}, status=401)
    try:
        body = json.loads(request.body or b"null")
        stored = services_sso.waiting_report(system=system, items=(body or {}).get("items") if isinstance(body, dict) else None)
    except (ValueError, ValidationError) as exc:
        detail = "; ".join(exc.messages) if isinstance(exc, ValidationError) else "body is not JSON"
        return JsonResponse({"error": "invalid_request", "detail": detail}, status=400)
    return JsonResponse({"stored": stored})
