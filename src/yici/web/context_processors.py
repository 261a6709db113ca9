"""Navigation per role: each entry is shown only to the roles that may use it."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from yici.accounts.roles import ANALYTICS_ROLES, AUDIT_ROLES, PERSONAL_DATA_ROLES, REGISTRY_WRITE_ROLES, Role
from yici.exchange.selectors import IMPORT_ROLES, SYSTEM_VIEW_ROLES
from yici.inbox.selectors import ADMISSION_ROLES, INBOX_ROLES, SENDER_ROLES, WORKLOAD_ROLES
from yici.reports.selectors import ENTRY_ROLES, REPORT_ROLES

ALL_ROLES = frozenset(Role)

# (url name, label, roles that see it)
NAVIGATION = [
    ("web:home", _("Home"), ALL_ROLES),
    ("accounts:portal", _("My systems"), ALL_ROLES),
    ("inbox:inbox", _("My inbox"), INBOX_ROLES),
    ("inbox:workload", _("Workload"), WORKLOAD_ROLES),
    ("inbox:admission", _("Task admission"), ADMISSION_ROLES),
    ("inbox:task_list", _("Tasks to villages"), SENDER_ROLES),
    ("registry:person_list", _("Residents"), PERSONAL_DATA_ROLES),
    ("registry:house_list", _("Houses"), PERSONAL_DATA_ROLES),
    ("registry:review_list", _("Review queue"), REGISTRY_WRITE_ROLES),
    ("exchange:import_list", _("Import"), IMPORT_ROLES),
    ("exchange:system_list", _("Line systems"), SYSTEM_VIEW_ROLES),
    ("reports:report_list", _("Report catalog"), REPORT_ROLES),
    ("reports:my_instances", _("Reports to fill in"), ENTRY_ROLES),
    ("catalog:element_list", _("Data catalog"), ALL_ROLES),
    ("audit:event_list", _("Audit log"), AUDIT_ROLES),
    ("accounts:user_list", _("Users"), frozenset({Role.COUNTY_ADMIN})),
    ("accounts:sessions", _("My sessions"), ALL_ROLES),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    path = request.path
    items = []
    for url_name, label, roles in NAVIGATION:
        if user.role in roles:
            url = reverse(url_name)
            active = path == url if url == "/" else path.startswith(url)
            items.append({"url": url, "label": label, "active": active})
    return {"nav_items": items, "analytics_role": user.role in ANALYTICS_ROLES}
