"""Form widgets for pages served many times a minute.

`PlainSelect` is Django's Select with the markup built in Python. Django renders a select through its template
engine, one sub-template per <option> and another for its attributes (about 20 µs an option here): the filter
forms of the results table and the review queue spent 1 to 2 ms a page on their selects (docs/benchmarks.md,
web under load). The HTML is the same as Django's for flat and grouped choices.
"""

from __future__ import annotations

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


class PlainSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        selected = set(self.format_value(value))
        attrs = self.build_attrs(self.attrs, attrs)
        return format_html(
            '<select name="{}"{}>\n{}\n</select>', name, _attributes(attrs), self._options(selected)
        )

    def _options(self, selected: set[str]) -> SafeString:
        parts = []
        for option_value, option_label in self.choices:
            if isinstance(option_label, (list, tuple)):  # a group: (group name, [(value, label), ...])
                inner = format_html_join(
                    "\n", "{}", ((self._option(v, l, selected),) for v, l in option_label)
                )
                parts.append(format_html('<optgroup label="{}">\n{}\n</optgroup>', option_value, inner))
            else:
                parts.append(self._option(option_value, option_label, selected))
        return mark_safe("\n".join(parts))

    @staticmethod
    def _option(value: object, label: object, selected: set[str]) -> SafeString:
        value = "" if value is None else str(value)
        return format_html(
            '<option value="{}"{}>{}</option>', value, " selected" if value in selected else "", label
        )


def _attributes(attrs: dict) -> SafeString:
    """As Django's django/forms/widgets/attrs.html: in order, `True` as a bare name, `False` left out."""
    return mark_safe("".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs.items() if value is not False
    ))  # fmt: skip
