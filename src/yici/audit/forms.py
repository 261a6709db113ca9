"""The audit log filter form (GET); its cleaned data are the keyword arguments of ``audit_event_list``."""

from django import forms
from django.utils.translation import gettext_lazy as _

from yici.audit.models import AuditAction

FILTER_FIELDS = ("actor", "action", "object_type", "object_id", "area_code", "field", "date_from", "date_to", "text")


class DateInput(forms.DateInput):
    input_type = "date"


class AuditEventFilterForm(forms.Form):
    text = forms.CharField(label=_("Search"), required=False, max_length=200)
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("Any action")), *AuditAction.choices]
    )
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=64)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    area_code = forms.CharField(label=_("Area code"), required=False, max_length=18)
    field = forms.CharField(label=_("Field"), required=False, max_length=100)
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["text"].widget.attrs["placeholder"] = _("Object, reason or actor")
        self.fields["object_type"].widget.attrs["placeholder"] = _("e.g. person or registry.person")
        self.fields["area_code"].widget.attrs["inputmode"] = "numeric"

    def filters(self) -> dict:
        """The valid filters; an invalid one (a malformed date) is ignored and shown as an error."""
        self.is_valid()
        return {name: self.cleaned_data.get(name) for name in FILTER_FIELDS if self.cleaned_data.get(name)}

    @property
    def is_filtered(self) -> bool:
        return bool(self.filters())
