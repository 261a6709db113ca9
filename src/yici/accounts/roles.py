"""The roles a Yici user can hold, and what each may do.

A role says *what kind* of work a person does; the user's area says *where*. Every selector
combines both, so a village cadre and a county admin run the same code and see different rows.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COUNTY_ADMIN = "county_admin", _("County administrator")
    DEPARTMENT_STAFF = "department_staff", _("Department staff")
    TOWNSHIP_STAFF = "township_staff", _("Township staff")
    VILLAGE_CADRE = "village_cadre", _("Village cadre")
    BURDEN_OFFICE = "burden_office", _("Burden-reduction office")
    AUDITOR = "auditor", _("Auditor")


# Roles that may read registry records about people (masked in lists, audited when revealed).
PERSONAL_DATA_ROLES = frozenset(
    {Role.COUNTY_ADMIN, Role.DEPARTMENT_STAFF, Role.TOWNSHIP_STAFF, Role.VILLAGE_CADRE}
)
# Roles that may change registry records.
REGISTRY_WRITE_ROLES = frozenset({Role.COUNTY_ADMIN, Role.TOWNSHIP_STAFF, Role.VILLAGE_CADRE})
# Roles that may read the audit log.
AUDIT_ROLES = frozenset({Role.AUDITOR, Role.COUNTY_ADMIN})
# Roles that see burden analytics; the burden-reduction office sees nothing else.
ANALYTICS_ROLES = frozenset({Role.BURDEN_OFFICE, Role.COUNTY_ADMIN})
# Roles that manage users, areas and the catalog.
ADMIN_ROLES = frozenset({Role.COUNTY_ADMIN})
