"""Writes about users, areas and sessions. Each takes ``actor=`` and writes its audit row."""

import csv
import io
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel, Department, User, UserSession, area_code_validator
from yici.accounts.roles import Role
from yici.audit.services import audit_write

SESSION_SEEN_KEY = "_yici_seen"
SESSION_TRACKED_KEY = "_yici_tracked"

LEVEL_NAMES = {
    # NBS and common spellings of each level, Chinese and English, for import files.
    "province": AreaLevel.PROVINCE, "省": AreaLevel.PROVINCE, "1": AreaLevel.PROVINCE,
    "city": AreaLevel.CITY, "市": AreaLevel.CITY, "2": AreaLevel.CITY,
    "county": AreaLevel.COUNTY, "县": AreaLevel.COUNTY, "区县": AreaLevel.COUNTY, "3": AreaLevel.COUNTY,
    "township": AreaLevel.TOWNSHIP, "乡镇": AreaLevel.TOWNSHIP, "乡镇街道": AreaLevel.TOWNSHIP,
    "街道": AreaLevel.TOWNSHIP, "4": AreaLevel.TOWNSHIP,
    "village": AreaLevel.VILLAGE, "村": AreaLevel.VILLAGE, "村社区": AreaLevel.VILLAGE,
    "社区": AreaLevel.VILLAGE, "村居": AreaLevel.VILLAGE, "5": AreaLevel.VILLAGE,
    "group": AreaLevel.GROUP, "grid": AreaLevel.GROUP, "村民小组": AreaLevel.GROUP, "网格": AreaLevel.GROUP,
    "6": AreaLevel.GROUP,
}


class AreaImportError(Exception):
    """The file cannot be loaded; ``errors`` lists every bad row as (line number, message)."""

    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = errors
        first_line, first_msg = errors[0]
        more = _(" (and %(n)d more)") % {"n": len(errors) - 1} if len(errors) > 1 else ""
        super().__init__(_("line %(line)d: %(msg)s") % {"line": first_line, "msg": first_msg} + more)


@dataclass(frozen=True)
class AreaRow:
    line: int
    code: str
    name: str
    level: int
    parent_code: str


def _parse_area_rows(text: str) -> tuple[list[AreaRow], list[tuple[int, str]]]:
    reader = csv.reader(io.StringIO(text))
    rows: list[AreaRow] = []
    errors: list[tuple[int, str]] = []
    header_seen = False
    for line_no, raw in enumerate(reader, start=1):
        cells = [c.strip() for c in raw]
        if not any(cells):
            continue
        if not header_seen:
            header_seen = True
            if not cells[0].isdigit():
                continue  # a header line: code,name,level,parent_code
        if len(cells) < 3:
            errors.append((line_no, _("expected code, name, level and parent code; got %(n)d columns") % {"n": len(cells)}))
            continue
        code, name, level_raw = cells[0], cells[1], cells[2]
        parent_code = cells[3] if len(cells) > 3 else ""
        try:
            area_code_validator(code)
        except ValidationError:
            errors.append((line_no, _("%(code)r is not a 12-digit area code") % {"code": code}))
            continue
        level = LEVEL_NAMES.get(level_raw.lower())
        if level is None:
            errors.append((line_no, _("unknown level %(level)r") % {"level": level_raw}))
            continue
        if not name:
            errors.append((line_no, _("the name is empty")))
            continue
        if level == AreaLevel.GROUP and len(code) == 12:
            errors.append((line_no, _("a group or grid code is its village code plus a suffix")))
            continue
        if level != AreaLevel.GROUP and len(code) != 12:
            errors.append((line_no, _("only groups and grids have codes longer than 12 digits")))
            continue
        rows.append(AreaRow(line_no, code, name, level, parent_code))
    if not header_seen:
        errors.append((1, _("the file is empty")))
    return rows, errors


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AreaImportError([(1, _("the file is neither UTF-8 nor GBK/GB18030 text"))])


@transaction.atomic
def areas_import(*, data: bytes, actor: User | None = None) -> dict[str, int]:
    """Load NBS-layout rows (code, name, level, parent code) into the area tree.

    All or nothing: every row is checked first (codes, levels, parents present in the file or the
    database, a child one level below its parent, the child's code under the parent's prefix), and
    any error rejects the whole file. Existing areas are updated in place.
    """
    rows, errors = _parse_area_rows(_decode(data))
    by_code = {r.code: r for r in rows}
    seen: set[str] = set()
    existing = {a.code: a for a in Area.objects.filter(code__in=[r.parent_code for r in rows if r.parent_code] + list(by_code))}
    for row in rows:
        if row.code in seen:
            errors.append((row.line, _("area %(code)s appears twice") % {"code": row.code}))
            continue
        seen.add(row.code)
        if not row.parent_code:
            continue
        parent_level = by_code[row.parent_code].level if row.parent_code in by_code else (
            existing[row.parent_code].level if row.parent_code in existing else None
        )
        if parent_level is None:
            errors.append((row.line, _("parent %(code)s is neither in the file nor loaded") % {"code": row.parent_code}))
        elif parent_level >= row.level:
            errors.append((row.line, _("the parent must be a level above its child")))
        elif not row.code.startswith(Area.prefix_for(row.parent_code, parent_level)):
            errors.append((row.line, _("code %(code)s does not lie under its parent %(parent)s") % {"code": row.code, "parent": row.parent_code}))
    if errors:
        errors.sort()
        raise AreaImportError(errors)

    created = updated = 0
    # Parents before children: sort by level, then code.
    for row in sorted(rows, key=lambda r: (r.level, r.code)):
        parent = Area.objects.get(code=row.parent_code) if row.parent_code else None
        area = existing.get(row.code) or Area.objects.filter(code=row.code).first()
        if area is None:
            area = Area.objects.create(code=row.code, name=row.name, level=row.level, parent=parent)
            created += 1
            audit_write(actor=actor, action="create", obj=area, before=None, after=_area_state(area))
        else:
            before = _area_state(area)
            area.name, area.level, area.parent = row.name, row.level, parent
            area.save()
            if before != _area_state(area):
                updated += 1
                audit_write(actor=actor, action="update", obj=area, before=before, after=_area_state(area))
    return {"created": created, "updated": updated, "rows": len(rows)}


def _area_state(area: Area) -> dict:
    return {"code": area.code, "name": area.name, "level": area.level, "parent": area.parent.code if area.parent else None}


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    role: str,
    area: Area,
    display_name: str = "",
    department: Department | None = None,
    phone: str = "",
    actor: User | None = None,
    validate: bool = True,
) -> User:
    """Create a user in an area with one role. Department staff must name their department."""
    if role not in Role.values:
        raise ValidationError(_("unknown role %(role)r; choose one of %(roles)s") % {"role": role, "roles": ", ".join(Role.values)})
    if role == Role.DEPARTMENT_STAFF and department is None:
        raise ValidationError(_("department staff must belong to a department"))
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("user %(username)r already exists") % {"username": username})
    user = User(username=username, role=role, area=area, display_name=display_name, department=department, phone=phone)
    if password:
        if validate:
            validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    audit_write(actor=actor, action="create", obj=user, before=None, after=user_state(user))
    from yici.accounts.provisioning import account_changed

    account_changed(user=user)
    return user


# The fields whose change line systems hear about (provisioning).
ACCOUNT_FIELDS = ("display_name", "phone", "role", "area", "department")


@transaction.atomic
def user_update(*, user: User, actor: User | None, **changes) -> User:
    """Change a user's name, phone, role, area or department; every provisioning line system is told."""
    unknown = set(changes) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ValidationError(_("cannot change %(fields)s here") % {"fields": ", ".join(sorted(unknown))})
    user = User.objects.select_for_update(of=("self",)).get(pk=user.pk)
    before = user_state(user)
    for name, value in changes.items():
        setattr(user, name, value)
    if user.role not in Role.values:
        raise ValidationError(_("unknown role %(role)r; choose one of %(roles)s") % {"role": user.role, "roles": ", ".join(Role.values)})
    if user.role == Role.DEPARTMENT_STAFF and user.department_id is None:
        raise ValidationError(_("department staff must belong to a department"))
    user.full_clean(exclude=["password"])
    user.save()
    after = user_state(user)
    if before != after or "phone" in changes:
        audit_write(actor=actor, action="update", obj=user, before=before, after=after)
        from yici.accounts.provisioning import account_changed

        account_changed(user=user)
    return user


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor: User | None) -> User:
    """Disable (or enable again) a user: their sessions and tokens end, and every line system is told."""
    from django.contrib.sessions.models import Session

    from yici.accounts.oidc import logout_tokens_revoke
    from yici.accounts.provisioning import account_changed

    user = User.objects.select_for_update(of=("self",)).get(pk=user.pk)
    if user.is_active == active:
        return user
    before = user_state(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        UserSession.objects.filter(user=user).delete()
        logout_tokens_revoke(user=user)
    audit_write(actor=actor, action="update", obj=user, before=before, after=user_state(user))
    account_changed(user=user)
    return user


def user_state(user: User) -> dict:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "area": user.area.code if user.area_id else None,
        "department": user.department.code if user.department_id else None,
        "is_active": user.is_active,
        "phone_set": bool(user.phone),
    }


@transaction.atomic
def user_change_password(*, user: User, new_password: str, actor: User) -> None:
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_write(actor=actor, action="password_change", obj=user, before=None, after=None)


def session_track(*, request, user: User) -> None:
    """Record the browser that just signed in (called on ``user_logged_in``)."""
    if not request.session.session_key:
        request.session.save()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "ip_address": request.META.get("REMOTE_ADDR") or None,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "last_seen_at": timezone.now(),
        },
    )
    request.session[SESSION_TRACKED_KEY] = True
    request.session[SESSION_SEEN_KEY] = timezone.now().timestamp()


def session_touch(*, request, user: User) -> bool:
    """Mark the session as used now; False if it was ended from the sessions page."""
    key = request.session.session_key
    updated = UserSession.objects.filter(session_key=key, user=user).update(last_seen_at=timezone.now())
    if not updated:
        if request.session.get(SESSION_TRACKED_KEY):
            return False
        session_track(request=request, user=user)
    request.session[SESSION_SEEN_KEY] = timezone.now().timestamp()
    return True


@transaction.atomic
def session_end(*, user: User, session_id: int) -> bool:
    """End one of the user's own sessions: delete its Django session and its row."""
    from django.contrib.sessions.models import Session

    tracked = UserSession.objects.filter(user=user, pk=session_id).first()
    if tracked is None:
        return False
    Session.objects.filter(session_key=tracked.session_key).delete()
    tracked.delete()
    audit_write(actor=user, action="session_end", obj=user, before=None, after={"session": session_id})
    return True
