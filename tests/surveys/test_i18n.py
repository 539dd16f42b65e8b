"""The interface speaks English and Dutch: the browser's language is the default; the switcher overrides."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from surveys.models import Role
from tests.factories import VisitFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def visit():
    return VisitFactory()


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


def test_dutch_browser_gets_dutch_pages(client, visit, fieldworker):
    client.force_login(fieldworker)
    page = client.get(
        reverse("visit_detail", args=[visit.pk]), headers={"Accept-Language": "nl"}
    ).content.decode()
    assert '<html lang="nl">' in page
    assert "Opnamen uploaden" in page and "Sleep WAV-bestanden of ZIP-archieven hierheen" in page
    assert "Deze nacht heeft nog geen opnamen." in page
    assert "Uitloggen" in page and "Upload recordings" not in page


def test_english_browser_gets_english_pages(client, visit, fieldworker):
    client.force_login(fieldworker)
    page = client.get(
        reverse("visit_detail", args=[visit.pk]), headers={"Accept-Language": "en-GB,en;q=0.9"}
    ).content.decode()
    assert '<html lang="en">' in page and "Upload recordings" in page


def test_form_labels_and_choices_are_translated(client, visit, fieldworker):
    client.force_login(fieldworker)
    page = client.get(
        reverse("visit_create", args=[visit.site.pk]), headers={"Accept-Language": "nl"}
    ).content.decode()
    assert "Inventarisatienacht" in page and "Tijdexpansiefactor" in page and "kraamverblijf" in page


def test_login_page_is_dutch_for_a_dutch_browser(client):
    page = client.get(reverse("login"), headers={"Accept-Language": "nl"}).content.decode()
    assert "Inloggen" in page and "Wachtwoord" in page


def test_language_switch_overrides_the_browser_language(client, visit, fieldworker):
    client.force_login(fieldworker)
    visit_url = reverse("visit_detail", args=[visit.pk])
    response = client.post(
        reverse("set_language"), {"language": "nl", "next": visit_url}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 302 and response["Location"] == visit_url
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    page = client.get(visit_url, headers={"Accept-Language": "en"}).content.decode()
    assert "Opnamen uploaden" in page

    client.post(reverse("set_language"), {"language": "en", "next": visit_url})
    assert "Upload recordings" in client.get(visit_url, headers={"Accept-Language": "nl"}).content.decode()


def test_every_page_offers_the_language_switcher(client, fieldworker):
    client.force_login(fieldworker)
    page = client.get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("set_language")}" method="post"' in page
    assert 'name="language" value="nl"' in page and 'name="language" value="en"' in page


def test_dates_and_numbers_follow_the_language(client, visit, fieldworker):
    client.force_login(fieldworker)
    page = client.get(
        reverse("visit_detail", args=[visit.pk]), headers={"Accept-Language": "nl"}
    ).content.decode()
    assert "12 juni 2025" in page


def _po_entries(path: Path) -> list[dict[str, str]]:
    """msgid/msgstr pairs of a .po file (singular entries only; enough to compare with the .mo)."""
    entries, current, key = [], {}, ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if current:
                entries.append(current)
            current, key = {}, ""
        elif line.startswith("#,"):
            current["flags"] = line
        elif line.startswith('"') and key:
            current[key] += ast.literal_eval(line)
        elif not line.startswith("#"):
            key, _, value = line.partition(" ")
            current[key] = ast.literal_eval(value)
    return [e for e in entries if e.get("msgid")]


def test_dutch_catalogue_is_complete_and_compiled():
    po = Path(settings.BASE_DIR) / "locale" / "nl" / "LC_MESSAGES" / "django.po"
    entries = _po_entries(po)
    assert entries
    untranslated = [e["msgid"] for e in entries if not e.get("msgstr", e.get("msgstr[0]"))]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", "")]
    assert untranslated == [] and fuzzy == []
    with translation.override("nl"):
        stale = [
            e["msgid"] for e in entries if "msgstr" in e and translation.gettext(e["msgid"]) != e["msgstr"]
        ]
    assert stale == [], (
        "django.mo is older than django.po: run manage.py compilemessages -l nl --ignore=.venv"
    )
