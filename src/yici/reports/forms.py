"""Forms of the report pages: registering a template, and sending it to villages."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from yici.accounts.models import Department
from yici.accounts.roles import Role
from yici.reports.models import Frequency
from yici.reports.selectors import village_choices

MAX_TEMPLATE_BYTES = 10 * 1024 * 1024


def _within_size(upload):
    """The uploaded workbook, if it is no larger than ``MAX_TEMPLATE_BYTES``."""
    if upload.size > MAX_TEMPLATE_BYTES:
        raise forms.ValidationError(
            gettext("The file is larger than %(max)s.") % {"max": filesizeformat(MAX_TEMPLATE_BYTES)}
        )
    return upload


class ReportForm(forms.Form):
    file = forms.FileField(label=_("Template"), help_text=_("The department's own .xlsx or .xls form"))
    name = forms.CharField(label=pgettext_lazy("report", "Name"), max_length=200)
    legal_basis = forms.CharField(label=_("Legal basis"), widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text=_("The policy or document that requires this report"))
    frequency = forms.ChoiceField(label=_("Frequency"), choices=Frequency.choices)
    population_filter = forms.CharField(
        label=_("Who the rows are"), max_length=500, initial="all", required=False,
        help_text=_("all, or clauses such as age>=80 and person.low_income==是"),
    )
    deadline_days = forms.IntegerField(label=_("Days to fill in"), min_value=1, max_value=365, initial=7)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["file"].widget.attrs["accept"] = ".xlsx,.xls"
        if user.role != Role.COUNTY_ADMIN:
            del self.fields["department"]
        else:
            self.fields["department"].required = True

    def clean_file(self):
        return _within_size(self.cleaned_data["file"])

    def department_of(self) -> Department:
        return self.cleaned_data.get("department") or self.user.department


class SendForm(forms.Form):
    villages = forms.ModelMultipleChoiceField(label=_("Villages"), queryset=None,
                                              widget=forms.CheckboxSelectMultiple)
    due_date = forms.DateField(label=_("Due date"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                               help_text=_("Blank: the report's days to fill in from today"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["villages"].queryset = village_choices(user=user)
        self.fields["villages"].label_from_instance = lambda area: area.name


class UploadForm(forms.Form):
    """The workbook a cadre filled in Excel or WPS, uploaded back."""

    file = forms.FileField(label=_("Filled workbook (.xlsx)"),
                           help_text=_("The workbook downloaded here, filled in; rows and columns as they were"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs.update({"accept": ".xlsx", "data-testid": "upload-file"})

    def clean_file(self):
        return _within_size(self.cleaned_data["file"])
