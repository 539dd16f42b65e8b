"""Display filters for analysis results: species and call-type names in the page's language, percentages."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ml import labels

register = template.Library()

CALL_TYPE_NAMES = {
    "echolocation": _("echolocation"),
    "feeding_buzz": _("feeding buzz"),
    "social_call": _("social call"),
    "none": _("none"),
}


@register.filter
def species_name(label: str | None) -> str:
    """`Pipistrellus pipistrellus` -> "Common pipistrelle" (English) or "gewone dwergvleermuis" (Dutch)."""
    if not label:
        return ""
    language = "nl" if (get_language() or "en").startswith("nl") else "en"
    return labels.display_name(label, language)


@register.filter
def call_type_name(call_type: str | None) -> str:
    if not call_type:
        return ""
    return str(CALL_TYPE_NAMES.get(call_type, call_type))


@register.filter
def percent(value: float | None) -> str:
    """0.934 -> "93 %"; empty when unknown."""
    if value in (None, ""):
        return ""
    return f"{number_format(100 * float(value), decimal_pos=0)} %"


@register.filter
def to_khz(hz: float | None) -> str:
    """45210.0 -> "45.2" (kHz, one decimal)."""
    if hz in (None, ""):
        return ""
    return number_format(float(hz) / 1000, decimal_pos=1)


@register.filter
def to_ms(seconds: float | None) -> str:
    """0.01234 -> "12.3" (milliseconds, one decimal)."""
    if seconds in (None, ""):
        return ""
    return number_format(float(seconds) * 1000, decimal_pos=1)
