"""Report pages, fragments and downloads: what members see and get, and what outsiders do not."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from classifier.models import SensitiveSpecies
from surveys.models import Role
from tests.classifier.reports_fixture import DAU, PIP, Survey, build_survey
from tests.factories import ProjectFactory, member

# the reports' URLs until the lead includes classifier.urls_reports in batsite/urls.py
pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(db) -> Survey:
    return build_survey()


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def fieldworker(survey):
    return member(survey.project, Role.FIELDWORKER)


@pytest.fixture
def manager(survey):
    return member(survey.project, Role.MANAGER)


@pytest.fixture
def outsider(db):
    return member(ProjectFactory(), Role.MANAGER)


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


# ------------------------------------------------------------------------------------------ site report


def test_site_report_page_shows_summary_plots_downloads_and_protocol(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_report", args=[survey.site.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="site-report"' in html
    assert f'data-species="{DAU}"' in html and 'data-night="2025-06-12"' in html
    for name in ("site_recordings_csv", "site_summary_csv", "site_plot_hourly", "site_plot_nightly"):
        assert reverse(name, args=[survey.site.pk]) in html
    assert f'data-visit="{survey.visit_b.pk}" data-status="fail"' in html
    assert html.count('src="data:image/png;base64,iVBORw0KGgo') == 2  # both plots inline (PNG signature)


def test_site_report_fragment_for_htmx_carries_the_filters_into_the_download_links(
    client, survey, fieldworker
) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_report", args=[survey.site.pk]),
                          {"date_from": "2025-06-20", "min_confidence": "40", "auto": "on"}, **HTMX)  # fmt: skip

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="site-report">')
    assert "recordings.csv?date_from=2025-06-20&amp;min_confidence=40&amp;auto=1" in html
    assert 'data-night="2025-06-12"' not in html and 'data-night="2025-06-25"' in html
    assert "Passes (model only)" in html


def test_site_report_shows_filter_errors_and_the_unfiltered_report(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_report", args=[survey.site.pk]),
                          {"date_from": "2025-07-01", "date_to": "2025-06-01"})  # fmt: skip

    assert response.status_code == 200
    assert "The first night must not be after the last night." in response.content.decode()
    assert 'data-night="2025-06-12"' in response.content.decode()


def test_outsider_gets_404_for_every_site_report_url(client, survey, outsider) -> None:
    client.force_login(outsider)
    names = ("site_report", "site_recordings_csv", "site_summary_csv", "site_plot_hourly", "site_plot_nightly",
             "site_protocol")  # fmt: skip

    assert {
        name: client.get(reverse(name, args=[survey.site.pk])).status_code for name in names
    } == dict.fromkeys(names, 404)


def test_anonymous_visitor_is_sent_to_log_in(client, survey) -> None:
    response = client.get(reverse("site_report", args=[survey.site.pk]))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name", ["site_report", "site_recordings_csv", "site_summary_csv", "site_plot_hourly", "site_protocol"]
)
def test_site_report_urls_refuse_post(client, survey, fieldworker, name) -> None:
    client.force_login(fieldworker)

    assert client.post(reverse(name, args=[survey.site.pk])).status_code == 405


# ------------------------------------------------------------------------------------------ downloads


def test_site_recordings_csv_streams_utf8_with_a_file_name(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_recordings_csv", args=[survey.site.pk]))

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="kr01-recordings.csv"'
    rows = _csv_rows(response)
    assert (
        rows[0][:3] == ["project", "site_code", "site_name"] and len(rows) == 1 + 11
    )  # 11 recording x species rows at KR01


def test_filters_in_the_query_string_apply_to_the_csv(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_recordings_csv", args=[survey.site.pk]), {"date_from": "2025-08-01"})

    assert [row[7] for row in _csv_rows(response)[1:]] == ["KR01_20250820_230000.wav"]


def test_invalid_filters_on_a_download_answer_400(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_summary_csv", args=[survey.site.pk]), {"min_confidence": "120"})

    assert response.status_code == 400
    assert "Invalid report filters" in response.content.decode()


def test_sensitive_species_blurs_the_site_for_a_fieldworker_but_not_for_a_manager(
    client, survey, fieldworker, manager
) -> None:
    SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    url = reverse("site_recordings_csv", args=[survey.site.pk])

    client.force_login(fieldworker)
    fieldworker_positions = {(row[3], row[4]) for row in _csv_rows(client.get(url))[1:]}
    client.force_login(manager)
    manager_positions = {(row[3], row[4]) for row in _csv_rows(client.get(url))[1:]}

    assert fieldworker_positions == {("52.1", "5.1")}
    assert manager_positions == {("52.0907", "5.1214")}


def test_summary_csv_of_a_site(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_summary_csv", args=[survey.site.pk]))

    rows = _csv_rows(response)
    assert response["Content-Disposition"] == 'attachment; filename="kr01-nightly-summary.csv"'
    assert [(r[5], r[6], r[10]) for r in rows[1:]] == [
        ("2025-06-12", PIP, "2"), ("2025-06-12", DAU, "1"), ("2025-06-12", "Nyctalus noctula", "1"),
        ("2025-06-12", "Pipistrellus pygmaeus", "1"), ("2025-06-25", PIP, "1"), ("2025-08-20", PIP, "1"),
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["site_plot_hourly", "site_plot_nightly"])
def test_plots_are_png_images_and_downloadable(client, survey, fieldworker, name) -> None:
    client.force_login(fieldworker)
    url = reverse(name, args=[survey.site.pk])

    shown = client.get(url)
    downloaded = client.get(url, {"download": "1"})

    assert shown["Content-Type"] == "image/png" and shown.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "Content-Disposition" not in shown
    assert downloaded["Content-Disposition"].startswith('attachment; filename="kr01-')


def test_plots_of_a_site_without_passes_still_draw(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("site_plot_hourly", args=[survey.site.pk]), {"date_from": "2030-01-01"})

    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")


def test_visit_recordings_csv_holds_only_that_night(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("visit_recordings_csv", args=[survey.visit_b.pk]))

    rows = _csv_rows(response)
    assert response["Content-Disposition"] == 'attachment; filename="kr01-2025-06-25-recordings.csv"'
    assert [row[7] for row in rows[1:]] == ["KR01_20250625_224000.wav"]


def test_project_csvs_cover_every_site(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    recordings = _csv_rows(client.get(reverse("project_recordings_csv", args=[survey.project.pk])))
    summary = _csv_rows(client.get(reverse("project_summary_csv", args=[survey.project.pk])))

    assert {row[1] for row in recordings[1:]} == {"KR01", "KR02"}
    assert [(r[1], r[5], r[6]) for r in summary[1:] if r[1] == "KR02"] == [("KR02", "2025-06-12", PIP)]


@pytest.mark.parametrize(
    ("name", "attr"),
    [
        ("project_recordings_csv", "project"),
        ("project_summary_csv", "project"),
        ("visit_recordings_csv", "visit_a"),
        ("visit_protocol", "visit_a"),
    ],
)
def test_outsider_gets_404_for_project_and_visit_reports(client, survey, outsider, name, attr) -> None:
    client.force_login(outsider)

    assert client.get(reverse(name, args=[getattr(survey, attr).pk])).status_code == 404


@pytest.mark.parametrize(
    ("name", "attr"),
    [
        ("project_recordings_csv", "project"),
        ("project_summary_csv", "project"),
        ("visit_recordings_csv", "visit_a"),
        ("visit_protocol", "visit_a"),
    ],
)
def test_project_and_visit_reports_refuse_post(client, survey, fieldworker, name, attr) -> None:
    client.force_login(fieldworker)

    assert client.post(reverse(name, args=[getattr(survey, attr).pk])).status_code == 405


# ------------------------------------------------------------------------------------------ protocol


def test_visit_protocol_page_lists_each_check(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("visit_protocol", args=[survey.visit_b.pk]))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    for check in ("season", "start", "duration", "temperature", "wind", "rain", "gap"):
        assert f'data-check="{check}"' in html
    assert 'data-check="season" data-status="ok"' in html
    assert 'data-check="wind" data-status="fail"' in html
    assert "13 days after 2025-06-12" in html
    assert (
        "Sunset 22:03, sunrise 05:20 (site time)." in html
    )  # astral, 25 June at the Dom: 22:03:52 / 05:20:55


def test_visit_protocol_fragment_for_htmx(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)

    response = client.get(reverse("visit_protocol", args=[survey.visit_c.pk]), **HTMX)

    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section id="visit-protocol"')
    assert 'data-check="temperature" data-status="unknown"' in html


def test_site_protocol_page_and_fragment(client, survey, fieldworker) -> None:
    client.force_login(fieldworker)
    url = reverse("site_protocol", args=[survey.site.pk])

    page = client.get(url).content.decode()
    fragment = client.get(url, **HTMX).content.decode()

    assert "<html" in page and fragment.lstrip().startswith('<section id="site-protocol"')
    for visit, state in ((survey.visit_a, "ok"), (survey.visit_b, "fail"), (survey.visit_c, "fail")):
        assert f'data-visit="{visit.pk}" data-status="{state}"' in fragment


# ------------------------------------------------------------------------------------------ sensitive species


def test_members_see_the_sensitive_species_but_only_managers_get_the_form(
    client, survey, fieldworker, manager
) -> None:
    SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    url = reverse("project_sensitive_species", args=[survey.project.pk])

    client.force_login(fieldworker)
    as_fieldworker = client.get(url).content.decode()
    client.force_login(manager)
    as_manager = client.get(url).content.decode()

    assert f'data-species="{DAU}"' in as_fieldworker and "Mark sensitive" not in as_fieldworker
    assert "Mark sensitive" in as_manager


def test_manager_marks_a_species_by_its_dutch_code(client, survey, manager) -> None:
    client.force_login(manager)

    response = client.post(reverse("project_sensitive_species", args=[survey.project.pk]), {"species": "MV"})

    assert response.status_code == 302
    assert list(SensitiveSpecies.objects.values_list("project", "species", "created_by")) == [
        (survey.project.pk, "Myotis dasycneme", manager.pk)
    ]


def test_marking_through_htmx_returns_the_fragment(client, survey, manager) -> None:
    client.force_login(manager)

    response = client.post(reverse("project_sensitive_species", args=[survey.project.pk]),
                           {"species": "Myotis daubentonii"}, **HTMX)  # fmt: skip

    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="sensitive-species"')
    assert f'data-species="{DAU}"' in html


@pytest.mark.parametrize(("species", "message"), [("Foo bar", "Not a bat species"), (DAU, "already marked")])
def test_unknown_or_repeated_species_is_refused(client, survey, manager, species, message) -> None:
    SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    client.force_login(manager)

    response = client.post(
        reverse("project_sensitive_species", args=[survey.project.pk]), {"species": species}
    )

    assert response.status_code == 400 and message in response.content.decode()
    assert SensitiveSpecies.objects.count() == 1


def test_fieldworker_may_not_mark_or_remove_species(client, survey, fieldworker) -> None:
    entry = SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    client.force_login(fieldworker)

    marked = client.post(reverse("project_sensitive_species", args=[survey.project.pk]), {"species": "MV"})
    removed = client.post(reverse("sensitive_species_delete", args=[survey.project.pk, entry.pk]))

    assert (marked.status_code, removed.status_code) == (403, 403)
    assert list(SensitiveSpecies.objects.values_list("species", flat=True)) == [DAU]


def test_manager_removes_a_species(client, survey, manager) -> None:
    entry = SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    client.force_login(manager)

    response = client.post(reverse("sensitive_species_delete", args=[survey.project.pk, entry.pk]), **HTMX)

    assert response.status_code == 200 and "No species marked sensitive." in response.content.decode()
    assert not SensitiveSpecies.objects.exists()


def test_sensitive_species_of_another_project_are_404(client, survey, outsider) -> None:
    entry = SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    client.force_login(outsider)
    own_project = outsider.memberships.get().project

    assert client.get(reverse("project_sensitive_species", args=[survey.project.pk])).status_code == 404
    assert (
        client.post(reverse("sensitive_species_delete", args=[own_project.pk, entry.pk])).status_code == 404
    )


def test_removing_needs_post(client, survey, manager) -> None:
    entry = SensitiveSpecies.objects.create(project=survey.project, species=DAU)
    client.force_login(manager)

    assert (
        client.get(reverse("sensitive_species_delete", args=[survey.project.pk, entry.pk])).status_code == 405
    )
    assert client.put(reverse("project_sensitive_species", args=[survey.project.pk])).status_code == 405
