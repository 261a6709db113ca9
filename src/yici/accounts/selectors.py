"""Reads about users and areas, always limited to what the requesting user may see."""

from django.db.models import Q, QuerySet

from yici.accounts.models import Area, ExternalAccount, User, UserSession
from yici.accounts.roles import ADMIN_ROLES


def scope_by_area(queryset: QuerySet, *, user: User, field: str = "area_code") -> QuerySet:
    """Limit ``queryset`` to rows whose ``field`` lies in the user's area subtree.

    Every selector that returns area-bound rows goes through here, so no page or endpoint can
    forget the scoping. A user without an area sees nothing.
    """
    prefix = user.area_prefix if user.is_authenticated else None
    if prefix is None:
        return queryset.none()
    return queryset.filter(area_subtree_q(field, prefix))


def area_subtree_q(field: str, prefix: str) -> Q:
    """``field`` starts with the area code ``prefix``, written as a range so that an index serves it.

    Area codes are digits, so every code under the prefix lies in [prefix, prefix + ':') — ':' sorts
    right after '9'. SQLite cannot use an index for ``LIKE 'prefix%'``; a range it can, and so can
    PostgreSQL without a pattern-ops index.
    """
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + ":"})


def area_list(*, user: User) -> QuerySet[Area]:
    return scope_by_area(Area.objects.all(), user=user, field="code")


def area_get_by_code(*, code: str) -> Area | None:
    return Area.objects.filter(code=code).first()


def area_children(*, area: Area) -> QuerySet[Area]:
    return area.children.all()


def user_list(*, fetched_by: User) -> QuerySet[User]:
    """Users in the requester's subtree; only county admins manage users."""
    if fetched_by.role not in ADMIN_ROLES:
        return User.objects.none()
    return scope_by_area(User.objects.all(), user=fetched_by, field="area__code")


def user_search(*, fetched_by: User, text: str = "") -> QuerySet[User]:
    """The users a county admin manages, by user name or name, with their area and department."""
    users = user_list(fetched_by=fetched_by).select_related("area", "department")
    text = text.strip()
    if text:
        users = users.filter(Q(username__icontains=text) | Q(display_name__icontains=text))
    return users.order_by("username")


def system_account_list(*, system, fetched_by: User) -> QuerySet[ExternalAccount]:
    """The accounts in a line system of the users the requester manages, by user name."""
    return (ExternalAccount.objects.filter(system=system, user__in=user_list(fetched_by=fetched_by))
            .select_related("user").order_by("user__username"))


def session_list(*, user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user)
