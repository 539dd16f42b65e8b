"""Display filters for measured values in the page's language (3,5 s in Dutch, 3.5 s in English)."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def khz(hz: float | int | None) -> str:
    """384000 -> "384 kHz", 44100 -> "44.1 kHz"; empty for an unknown rate."""
    if hz in (None, ""):
        return ""
    value = float(hz) / 1000
    return f"{number_format(value, decimal_pos=0 if value.is_integer() else 1)} kHz"


@register.filter
def seconds(value: float | None) -> str:
    """3.14159 -> "3.14 s"; empty for an unknown duration."""
    if value in (None, ""):
        return ""
    return f"{number_format(float(value), decimal_pos=2)} s"
