"""batsite.widgets.PlainSelect gives the same HTML as Django's Select (it only skips the template engine)."""

from __future__ import annotations

import re

import pytest
from django import forms

from batsite.widgets import PlainSelect

CHOICES = [("", "any"), ("a<b", "A & B"), (1, "one"), ("group <1>", [("x", "X"), ("y", 'Y "quoted"')])]


def _normalised(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.mark.parametrize("value", ["", "a<b", "1", 1, "y", None, "not offered"])
def test_plain_select_renders_what_djangos_select_renders(value):
    attrs = {"id": "id_f", "required": True, "class": "small"}

    ours = PlainSelect(choices=CHOICES).render("f", value, attrs)
    django = forms.Select(choices=CHOICES).render("f", value, attrs)

    assert _normalised(ours) == _normalised(django)


def test_a_form_field_with_plain_select_keeps_the_bound_value_escaped():
    class Form(forms.Form):
        species = forms.ChoiceField(choices=CHOICES, required=False, widget=PlainSelect)

    html = str(Form({"species": "a<b"})["species"])

    assert '<option value="a&lt;b" selected>A &amp; B</option>' in html
    assert html.startswith('<select name="species" id="id_species">')
