from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

# How the mapping engine reached a column's element (catalog.mapping's method codes), for people.
METHOD_LABELS = {
    "exact": _("exact name"),
    "synonym": _("synonym"),
    "fuzzy": _("similar wording"),
    "context": _("group header"),
    "pattern": _("the values"),
    "remembered": _("confirmed before"),
    "given": _("chosen by a person"),
    "duplicate": _("taken by another column"),
    "none": _("no match"),
}


@register.filter
def mapping_method(code: str) -> str:
    return str(METHOD_LABELS.get(code, code))
