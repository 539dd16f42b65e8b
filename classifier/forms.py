"""Forms of the classifier pages: the filters of a night's recordings table (a GET form)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _

from batsite.widgets import PlainSelect
from classifier import selectors
from classifier.templatetags.classifier_format import CALL_TYPE_NAMES, species_name

CONFIDENCE_CHOICES = [
    ("", _("any confidence")),
    ("high", _("high (90 % and more)")),
    ("medium", _("medium")),
    ("low", _("low (group or bat only)")),
]
STATUS_CHOICES = [
    ("", _("any status")),
    (selectors.STATUS_WAITING, _("waiting")),
    (selectors.STATUS_ANALYSED, _("analysed")),
    (selectors.STATUS_FAILED, _("failed")),
    (selectors.STATUS_UNUSABLE, _("unusable")),
]


class RecordingFilterForm(forms.Form):
    species = forms.ChoiceField(label=_("Species"), required=False, widget=PlainSelect)
    call_type = forms.ChoiceField(
        label=_("Call type"),
        required=False,
        choices=[("", _("any call type")), *CALL_TYPE_NAMES.items()],
        widget=PlainSelect,
    )
    confidence = forms.ChoiceField(
        label=_("Confidence"), required=False, choices=CONFIDENCE_CHOICES, widget=PlainSelect
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_CHOICES, widget=PlainSelect)

    def __init__(self, data, *, species_choices: Sequence[str]) -> None:
        super().__init__(data)
        self.fields["species"].choices = [("", _("any species"))] + [
            (s, species_name(s)) for s in species_choices
        ]

    def filters(self) -> selectors.RecordingFilters:
        """The valid filters; a value not offered (stale link, species gone) is ignored, not an error."""
        cleaned = self.cleaned_data if self.is_bound and (self.is_valid() or True) else {}
        values = {name: cleaned.get(name) or "" for name in ("species", "call_type", "confidence", "status")}
        return selectors.RecordingFilters(**values)

    def query_without_page(self) -> str:
        """The filters as a query string, for paging links."""
        return urlencode({k: v for k, v in dataclasses.asdict(self.filters()).items() if v})
