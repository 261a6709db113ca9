"""What each role's home page shows: the user's area and what they can do there."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from yici.accounts.models import User
from yici.accounts.roles import AUDIT_ROLES, PERSONAL_DATA_ROLES, Role
from yici.registry import selectors as registry_selectors

ROLE_INTRO = {
    Role.COUNTY_ADMIN: _("You manage the county: users, areas, the data catalog and everything below."),
    Role.DEPARTMENT_STAFF: _("You send requests and templates to townships and villages and receive their data."),
    Role.TOWNSHIP_STAFF: _("You coordinate the villages of your township and keep their workload sane."),
    Role.VILLAGE_CADRE: _("Everything the county already knows about your village, entered once."),
    Role.BURDEN_OFFICE: _("You watch the burden on cadres: requests, duplicates and time saved."),
    Role.AUDITOR: _("You review who changed what, and who read sensitive personal data."),
}


def home_for(*, user: User) -> dict:
    actions = []
    stats = {}
    if user.role in PERSONAL_DATA_ROLES:
        actions.append({"url": reverse("registry:person_list"), "label": _("Find a resident")})
        stats["persons"] = registry_selectors.person_list(user=user).count()
        stats["households"] = registry_selectors.household_list(user=user).count()
        stats["houses"] = registry_selectors.house_list(user=user).count()
        stats["places"] = registry_selectors.place_list(user=user).count()
    if user.role in AUDIT_ROLES:
        actions.append({"url": reverse("audit:event_list"), "label": _("Search the audit log")})
    actions.append({"url": reverse("catalog:element_list"), "label": _("Browse the data catalog")})
    return {
        "area": user.area,
        "area_path": _area_path(user),
        "intro": ROLE_INTRO.get(user.role, ""),
        "actions": actions,
        "stats": stats,
    }


def _area_path(user: User) -> list:
    path = []
    area = user.area
    while area is not None:
        path.append(area)
        area = area.parent
    return list(reversed(path))
