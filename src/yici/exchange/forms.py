"""Forms of the import pages: the upload, and the column mapping a person corrects and confirms."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from yici.accounts.models import Area
from yici.catalog.models import Entity
from yici.exchange import uploads
from yici.exchange.imports import ENTITIES, PlannedColumn
from yici.exchange.selectors import element_choices, line_system_list

NOT_A_FIELD = ""


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_(".xlsx, .xls or .csv (UTF-8 or GBK)"))
    system = forms.ChoiceField(label=_("Line system"), required=False)
    new_system = forms.SlugField(
        label=_("…or a new system's code"), required=False, max_length=40,
        help_text=_("Letters, digits, - and _; e.g. minzheng_dibao"),
    )
    new_system_name = forms.CharField(label=_("New system's name"), required=False, max_length=200)
    entity = forms.ChoiceField(label=_("The rows describe"), required=False)
    sheet = forms.CharField(label=_("Sheet"), required=False, max_length=100,
                            help_text=_("Blank: the first sheet with a table"))
    area_code = forms.CharField(label=_("Area code"), required=False, max_length=18,
                                help_text=_("Blank: each row's village or address decides"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["system"].choices = [("", _("— a new system (type its code below) —"))] + [
            (s.code, f"{s.name} ({s.code})") for s in line_system_list()
        ]
        labels = dict(Entity.choices)
        self.fields["entity"].choices = [("", _("Guess from the columns"))] + [(e, labels.get(e, e)) for e in ENTITIES]
        self.fields["file"].widget.attrs["accept"] = ".xlsx,.xls,.csv,.txt"
        self.fields["area_code"].widget.attrs["inputmode"] = "numeric"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > uploads.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                gettext("The file is larger than %(max)s.") % {"max": filesizeformat(uploads.MAX_UPLOAD_BYTES)}
            )
        return upload

    def clean_area_code(self):
        code = self.cleaned_data["area_code"].strip()
        if code and (not Area.objects.filter(code=code).exists() or not self.user.can_see_area(code)):
            raise forms.ValidationError(gettext("No area with this code in your area."))
        return code

    def clean(self):
        data = super().clean()
        if not data.get("system") and not data.get("new_system") and "new_system" not in self.errors:
            raise forms.ValidationError(gettext("Choose the line system the file comes from, or type a new code."))
        return data

    @property
    def system_code(self) -> str:
        return self.cleaned_data.get("system") or self.cleaned_data.get("new_system", "")


class MappingForm(forms.Form):
    """One choice per column: a catalog element, or "not a registry field"."""

    def __init__(self, *args, columns: list[PlannedColumn], elements, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        labels = dict(Entity.choices)
        groups: dict[str, list[tuple[str, str]]] = {}
        for code, name, entity in elements:
            groups.setdefault(entity, []).append((code, f"{name} · {code}"))
        choices = [(NOT_A_FIELD, _("— not a registry field —"))] + [
            (str(labels.get(entity, entity)), options) for entity, options in groups.items()
        ]
        for column in columns:
            self.fields[self.field_name(column)] = forms.ChoiceField(
                label=column.letter, required=False, choices=choices, initial=column.element or NOT_A_FIELD,
            )

    @staticmethod
    def field_name(column: PlannedColumn) -> str:
        return f"col_{column.letter}"

    def rows(self):
        """(column, bound field) in file order, for the template."""
        return [(c, self[self.field_name(c)]) for c in self.columns]

    def clean(self):
        data = super().clean()
        seen: dict[str, str] = {}
        for column in self.columns:
            code = data.get(self.field_name(column))
            if not code:
                continue
            if code in seen:
                self.add_error(self.field_name(column), gettext("Column %(other)s is already mapped to this element.")
                               % {"other": seen[code]})
            seen[code] = column.letter
        return data

    def choices(self) -> dict[str, str | None]:
        """Column letter → chosen element code (None: not a registry field)."""
        return {c.letter: self.cleaned_data.get(self.field_name(c)) or None for c in self.columns}


# --- line systems --------------------------------------------------------------------------------------

class LineSystemForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=60, help_text=_("Letters, digits, - and _; e.g. zhujian-housing"))
    name = forms.CharField(label=_("Name"), max_length=200)
    department = forms.ChoiceField(label=_("Department"), required=False)
    contact_name = forms.CharField(label=_("Contact person"), max_length=100, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=40, required=False)
    contact_email = forms.EmailField(label=_("Contact email"), required=False)

    def __init__(self, *args, **kwargs):
        from yici.accounts.models import Department

        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "—")] + [(d.code, d.name) for d in Department.objects.all()]


class EndpointForm(forms.Form):
    kind = forms.ChoiceField(label=_("Connector"))
    url = forms.CharField(label=_("URL"), max_length=500, required=False,
                          help_text=_("Where changes are sent (not needed for spreadsheets)"))
    secret = forms.CharField(label=_("Signing secret"), required=False, max_length=200,
                             widget=forms.PasswordInput(render_value=False),
                             help_text=_("Stored encrypted and never shown again; leave blank to keep the current one"))
    timeout_seconds = forms.FloatField(label=_("Timeout (seconds)"), initial=10.0, min_value=0.5, max_value=120)
    max_attempts = forms.IntegerField(label=_("Attempts before giving up"), initial=8, min_value=1, max_value=100)
    batch_size = forms.IntegerField(label=_("Batch size"), initial=1, min_value=1, max_value=1000,
                                    help_text=_("More than 1: the system takes arrays"))
    period = forms.ChoiceField(label=_("Workbook period"), required=False,
                               choices=[("month", _("month")), ("week", _("week")), ("day", _("day"))])
    drop_dir = forms.CharField(label=_("Drop folder"), required=False, max_length=500,
                               help_text=_("Blank: var/drop/<code>"))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        from yici.exchange.connectors import CONNECTORS

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, k) for k in CONNECTORS]
        self.fields["url"].widget.attrs["inputmode"] = "url"


class FieldMappingForm(forms.Form):
    element_code = forms.ChoiceField(label=_("Element"))
    field_name = forms.CharField(label=_("Their field"), max_length=100)
    transform = forms.ChoiceField(label=_("Transform"), required=False)
    date_format = forms.CharField(label=_("Date format"), max_length=40, required=False,
                                  help_text=_("strftime, e.g. %Y%m%d"))
    part = forms.ChoiceField(label=_("Address part"), required=False)

    def __init__(self, *args, **kwargs):
        from yici.exchange.models_outbox import AddressPart, ValueTransform

        super().__init__(*args, **kwargs)
        self.fields["element_code"].choices = [(c, f"{n} ({c})") for c, n, _e in element_choices()]
        self.fields["transform"].choices = ValueTransform.choices
        self.fields["part"].choices = [("", "—"), *AddressPart.choices]


class SubscriptionForm(forms.Form):
    entity = forms.ChoiceField(label=_("Entity"))
    elements = forms.CharField(label=_("Elements"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text=_("Catalog codes separated by commas or spaces; blank: every mapped element"))
    area_prefix = forms.CharField(label=_("Area"), required=False, max_length=18,
                                  help_text=_("An area code: only records in that area; blank: everywhere"))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        from yici.exchange.models_outbox import ENTITY_CHOICES

        super().__init__(*args, **kwargs)
        self.fields["entity"].choices = ENTITY_CHOICES

    def element_list(self) -> list[str]:
        return [e for e in self.cleaned_data.get("elements", "").replace(",", " ").split() if e]


class TemplateUploadForm(forms.Form):
    file = forms.FileField(label=_("Import template (.xlsx)"))
