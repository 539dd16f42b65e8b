"""Forms of the report pages: the report filters (a GET form) and marking a species as sensitive."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from classifier.models import SensitiveSpecies
from classifier.reports.filters import ReportFilters
from ml import labels
from surveys.models import Project


class ReportFilterForm(forms.Form):
    date_from = forms.DateField(
        label=_("Nights from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    min_confidence = forms.IntegerField(
        label=_("Minimum confidence (%)"),
        required=False,
        min_value=0,
        max_value=100,
        help_text=_("Automatic labels below this are left out; expert decisions always count."),
    )
    auto = forms.BooleanField(label=_("Automatic labels too"), required=False,
                              help_text=_("Also list species that only the model found."))  # fmt: skip

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The first night must not be after the last night."))
        return cleaned

    def filters(self) -> ReportFilters:
        """The filters of a valid form (call is_valid first); an unbound form means no filters."""
        if not self.is_bound:
            return ReportFilters()
        data = self.cleaned_data
        percent = data.get("min_confidence")
        return ReportFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            min_confidence=None if percent in (None, 0) else percent / 100,
            auto_labels=bool(data.get("auto")),
        )


class SensitiveSpeciesForm(forms.Form):
    species = forms.CharField(
        label=_("Species"),
        max_length=100,
        help_text=_("Scientific, Dutch or English name, or a Dutch code (e.g. MV, Myotis dasycneme)."),
    )

    def __init__(self, data=None, *, project: Project) -> None:
        super().__init__(data)
        self.project = project

    def clean_species(self) -> str:
        name = labels.canonical(self.cleaned_data["species"])
        if name is None or name == labels.NOISE or not labels.is_european(name):
            raise forms.ValidationError(
                _("Not a bat species we know. Use a scientific name, e.g. Myotis dasycneme.")
            )
        if SensitiveSpecies.objects.filter(project=self.project, species=name).exists():
            raise forms.ValidationError(_("%(species)s is already marked sensitive.") % {"species": name})
        return name
