"""A site's species summary fragment and re-analysis of every night of a site."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from classifier.models import Analysis, AnalysisState, Prediction
from tests.classifier.conftest import NOC, PIP, ingested, make_model_version
from tests.classifier.test_selectors import add_result
from tests.factories import VisitFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def model(db):
    return make_model_version(name="bats-2025", activate=True)


def url(site) -> str:
    return reverse("site_species", args=[site.pk])


def test_species_summary_page_lists_species_with_recordings_passes_and_nights(
    client, visit, fieldworker, model
):
    later = VisitFactory(site=visit.site, night=dt.date(2025, 7, 3))
    add_result(ingested(visit), model, species=(PIP, NOC), calls=[(PIP, 0), (PIP, 0), (NOC, 1), (NOC, 1)])
    add_result(ingested(later), model, species=(PIP,), calls=[(PIP, 0), (PIP, 0)])
    client.force_login(fieldworker)

    response = client.get(url(visit.site))

    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    row = page[page.index(f'data-species="{PIP}"') :].split("</tr>")[0]
    assert "Common pipistrelle" in row and '<td class="num">2</td>' in row
    assert "June 12, 2025" in row and "July 3, 2025" in row
    assert page.index(f'data-species="{PIP}"') < page.index(f'data-species="{NOC}"')


def test_site_page_fragment_is_the_summary_only(client, visit, fieldworker, model):
    client.force_login(fieldworker)

    page = client.get(url(visit.site), **HTMX).content.decode()

    assert "<html" not in page and page.lstrip().startswith('<section id="site-species"')
    assert "No bats found here yet." in page


def test_outsider_gets_404(client, visit, outsider):
    client.force_login(outsider)
    assert client.get(url(visit.site)).status_code == 404


def test_summary_answers_only_get(client, visit, fieldworker):
    client.force_login(fieldworker)
    assert client.post(url(visit.site)).status_code == 405


def reanalyse_url(site) -> str:
    return reverse("site_reanalyse", args=[site.pk])


def test_manager_reanalyses_every_night_of_the_site(
    client, visit, manager, fake_ml, django_capture_on_commit_callbacks
):
    old = make_model_version(name="old", activate=True)
    first = ingested(visit)
    add_result(first, old)
    second = ingested(VisitFactory(site=visit.site, night=dt.date(2025, 7, 3)))
    elsewhere = ingested(VisitFactory())
    new = make_model_version(name="new", activate=True)
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reanalyse_url(visit.site))

    assert response.status_code == 302 and response["Location"] == url(visit.site)
    assert set(Prediction.objects.filter(model_version=new).values_list("recording", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert Prediction.objects.filter(recording=first, model_version=old).exists()
    assert not Analysis.objects.filter(recording=elsewhere).exists()


def test_reanalysis_through_htmx_answers_the_summary_fragment(client, visit, manager, model):
    ingested(visit)
    client.force_login(manager)

    response = client.post(reanalyse_url(visit.site), **HTMX)

    assert response.status_code == 200 and response["HX-Trigger"] == "analyses-queued"
    assert "1 recordings queued for analysis with bats-2025" in response.content.decode()
    assert Analysis.objects.get().state == AnalysisState.QUEUED


def test_fieldworker_may_not_reanalyse_a_site(client, visit, fieldworker, model):
    ingested(visit)
    client.force_login(fieldworker)

    assert client.post(reanalyse_url(visit.site)).status_code == 403
    assert "Re-analyse" not in client.get(url(visit.site)).content.decode()
    assert not Analysis.objects.exists()


def test_outsider_cannot_reanalyse_a_site(client, visit, outsider, model):
    client.force_login(outsider)
    assert client.post(reanalyse_url(visit.site)).status_code == 404


def test_site_reanalyse_answers_only_post(client, visit, manager):
    client.force_login(manager)
    assert client.get(reanalyse_url(visit.site)).status_code == 405
