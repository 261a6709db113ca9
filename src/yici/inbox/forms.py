"""Forms of the inbox pages. Admission rules (basis, effort, deadline, reach) are decided by
``services.task_submit`` so that a refusal is recorded with its reason, not lost as a form error."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from yici.accounts.models import Area, AreaLevel, Department
from yici.accounts.roles import Role
from yici.accounts.selectors import area_subtree_q
from yici.inbox.models import Demand, TaskKind

ENTITY_CHOICES = [("", "—"), ("person", _("Persons")), ("household", _("Households")), ("house", _("Houses")),
                  ("place", _("Places"))]


class TaskForm(forms.Form):
    title = forms.CharField(label=_("What is asked (title)"), max_length=200)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)
    basis = forms.CharField(label=_("Policy basis (政策依据)"), widget=forms.Textarea(attrs={"rows": 2}),
                            required=False)
    responsible = forms.CharField(label=_("Responsible person"), max_length=100, required=False)
    effort_minutes = forms.IntegerField(label=_("Expected effort per village (minutes)"), required=False, min_value=0)
    due_date = forms.DateField(label=_("Deadline"), widget=forms.DateInput(attrs={"type": "date"}))
    areas = forms.ModelMultipleChoiceField(label=_("Areas"), queryset=Area.objects.none(),
                                           widget=forms.CheckboxSelectMultiple)
    kind = forms.ChoiceField(label=_("Kind"), choices=TaskKind.choices)
    instructions = forms.CharField(label=_("Instructions"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    entity = forms.ChoiceField(label=_("Records (for a form)"), choices=ENTITY_CHOICES, required=False)
    elements = forms.CharField(label=_("Data elements (catalog codes, comma-separated)"), required=False,
                               max_length=2000)
    population_filter = forms.CharField(label=_("Population filter"), required=False, initial="all", max_length=500)
    demands = forms.MultipleChoiceField(label=_("The task also asks for"), choices=Demand.choices, required=False,
                                        widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["areas"].queryset = Area.objects.filter(
            area_subtree_q("code", user.area_prefix or "\x00"),
            level__in=[AreaLevel.TOWNSHIP, AreaLevel.VILLAGE]).order_by("code")
        if user.role == Role.COUNTY_ADMIN:
            self.fields["department"].queryset = Department.objects.all()
            self.fields["department"].required = True
        else:
            del self.fields["department"]

    def clean_elements(self):
        raw = self.cleaned_data.get("elements") or ""
        return [c for c in re.split(r"[\s,，、;；]+", raw) if c]

    def department_of(self) -> Department:
        return self.cleaned_data.get("department") or self.user.department


class ExtensionForm(forms.Form):
    new_due_date = forms.DateField(label=_("New deadline"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Why"), max_length=300)


class CompleteForm(forms.Form):
    reported_minutes = forms.IntegerField(label=_("Time it took (minutes)"), required=False, min_value=0,
                                          max_value=10000)
