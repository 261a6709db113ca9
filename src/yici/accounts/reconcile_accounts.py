"""Account reconciliation: compare each line system's accounts with what Yici says they should be.

For a system that speaks SCIM the accounts are listed (``GET /Users``) and matched by ``externalId``
(Yici's ``sub``) or user name. Reported: orphans (accounts there that no active Yici account stands
behind), drift (an account whose name, phone, area, role or active flag differs from Yici's), and
missing accounts (Yici expects one, the system has none). Dead account deliveries are always put
back in the queue: an account change, above all a removal, is retried until the system confirms it.
With ``disable_orphans`` orphans are disabled there (``PATCH active=false``); with ``fix_drift``
drifted and missing accounts are queued again.
"""

from dataclasses import dataclass, field

from django.db import transaction

from yici.accounts.models import ExternalAccount, LineSystemClient, User
from yici.accounts.oidc import subject_of, user_from_subject
from yici.accounts.provisioning import account_changed, account_payload, provisioning_clients, requeue_dead


@dataclass
class SystemReport:
    system: str
    listable: bool = True
    error: str = ""
    accounts: int = 0
    orphans: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    requeued: int = 0
    disabled: int = 0
    queued: int = 0


def _remote_view(remote: dict) -> dict:
    from yici.exchange.connectors.scim import YICI_SCHEMA

    phones = remote.get("phoneNumbers") or []
    extension = remote.get(YICI_SCHEMA) or {}
    return {
        "name": remote.get("displayName") or (remote.get("name") or {}).get("formatted", ""),
        "phone": phones[0].get("value", "") if phones and isinstance(phones[0], dict) else "",
        "area_code": extension.get("areaCode", ""),
        "role": extension.get("role", ""),
        "active": remote.get("active"),
    }


def reconcile_system(client: LineSystemClient, *, disable_orphans: bool = False, fix_drift: bool = False) -> SystemReport:
    from yici.exchange.connectors import ConnectorError
    from yici.exchange.connectors.scim import ScimClient

    system = client.system
    report = SystemReport(system=system.code)
    report.requeued = requeue_dead(system=system)
    endpoint = getattr(system, "endpoint", None)
    if endpoint is None or endpoint.kind != "scim":
        report.listable = False
        report.error = "the connector cannot list accounts (not SCIM)"
        return report
    scim = ScimClient(endpoint)
    try:
        remote_users = scim.list_users()
    except ConnectorError as exc:
        report.error = exc.message
        return report
    report.accounts = len(remote_users)
    wanted = {a.user_id: a for a in ExternalAccount.objects.filter(system=system).select_related("user", "user__area", "user__department")}
    seen: set[int] = set()
    for remote in remote_users:
        user = user_from_subject(str(remote.get("externalId", ""))) or \
            User.objects.filter(username=str(remote.get("userName", ""))).first()
        account = wanted.get(user.pk) if user else None
        view = _remote_view(remote)
        if user is None or account is None or not account.active or not user.is_active:
            if view["active"] is False:
                continue  # already disabled there: not an orphan any more
            report.orphans.append({"id": remote.get("id"), "userName": remote.get("userName", "")})
            if disable_orphans:
                scim.patch_user(str(remote["id"]), [{"op": "replace", "path": "active", "value": False}])
                report.disabled += 1
            continue
        seen.add(user.pk)
        expected = account_payload(user, active=True)
        differences = {
            key: (view[key], expected[key]) for key in ("name", "phone", "area_code", "role")
            if (view[key] or "") != (expected[key] or "")
        }
        if view["active"] is not True:
            differences["active"] = (view["active"], True)
        if differences:
            report.drift.append({"user": user.username, "differences": differences})
            if fix_drift:
                with transaction.atomic():
                    report.queued += len(account_changed(user=user, clients=[client]))
    for user_id, account in wanted.items():
        if account.active and account.user.is_active and user_id not in seen:
            report.missing.append(account.user.username)
            if fix_drift:
                with transaction.atomic():
                    report.queued += len(account_changed(user=account.user, clients=[client]))
    return report


def reconcile_all(*, system_code: str | None = None, disable_orphans: bool = False, fix_drift: bool = False,
                  progress=None) -> list[SystemReport]:
    clients = list(provisioning_clients())
    if system_code:
        clients = [c for c in clients if c.system.code == system_code]
    reports = []
    for index, client in enumerate(clients, start=1):
        reports.append(reconcile_system(client, disable_orphans=disable_orphans, fix_drift=fix_drift))
        if progress:
            progress(index, len(clients))
    return reports


__all__ = ["SystemReport", "reconcile_all", "reconcile_system", "subject_of"]
