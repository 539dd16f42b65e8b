"""Visit pages: the page, its polling recordings fragment, creating and editing visits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from surveys.models import RecordingStatus, Role, Visit
from tests.factories import RecordingFactory, SiteFactory, UserFactory, VisitFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def visit():
    return VisitFactory(site=SiteFactory(code="RD01", name="Rietveld"))


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


def _visit_form(**overrides):
    data = {
        "night": "2025-06-14",
        "start_time": "21:45",
        "end_time": "05:00",
        "purpose": "foraging_area",
        "detector_make": "Elekon",
        "detector_model": "Batlogger M",
        "time_expansion": "1",
        "rain": "none",
    }
    data.update(overrides)
    return data


def test_visit_page_shows_details_upload_form_and_recordings(client, visit, fieldworker):
    RecordingFactory(
        visit=visit,
        original_name="RD01_20250612_231502.wav",
        status=RecordingStatus.INGESTED,
        recorded_at=dt.datetime(2025, 6, 12, 21, 15, 2, tzinfo=dt.UTC),
        duration_s=3.5,
        sample_rate_hz=384000,
    )
    client.force_login(fieldworker)
    response = client.get(reverse("visit_detail", args=[visit.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Rietveld" in page
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page and "multiple" in page
    assert "RD01_20250612_231502.wav" in page
    assert "2025-06-12 23:15:02" in page  # 21:15 UTC shown in Europe/Amsterdam summer time
    assert "384 kHz" in page and "3.50 s" in page
    assert 'hx-trigger="every 2s"' not in page  # nothing waits, so nothing polls


def test_recordings_table_polls_while_a_recording_waits(client, visit, fieldworker):
    RecordingFactory(visit=visit, status=RecordingStatus.UPLOADED)
    client.force_login(fieldworker)
    page = client.get(reverse("visit_detail", args=[visit.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page


def test_polling_fragment_answers_200_and_keeps_polling_while_recordings_wait(client, visit, fieldworker):
    RecordingFactory(visit=visit, status=RecordingStatus.UPLOADED, original_name="waiting.wav")
    client.force_login(fieldworker)
    response = client.get(reverse("visit_detail", args=[visit.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="recordings"')
    assert "<html" not in fragment
    assert "waiting.wav" in fragment and 'hx-trigger="every 2s"' in fragment


def test_polling_fragment_answers_286_to_stop_polling_when_all_are_done(client, visit, fieldworker):
    RecordingFactory(visit=visit, status=RecordingStatus.INGESTED)
    RecordingFactory(
        visit=visit, status=RecordingStatus.UNUSABLE, reason="True sample rate 44100 Hz is under 100 kHz."
    )
    client.force_login(fieldworker)
    response = client.get(reverse("visit_detail", args=[visit.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 286
    fragment = response.content.decode()
    assert "True sample rate 44100 Hz is under 100 kHz." in fragment
    assert "hx-trigger" not in fragment


def test_night_without_recordings_is_flagged(client, visit, fieldworker):
    client.force_login(fieldworker)
    page = client.get(reverse("visit_detail", args=[visit.pk])).content.decode()
    assert "This night has no recordings yet." in page


def test_recordings_outside_the_night_are_flagged(client, visit, fieldworker):
    RecordingFactory(visit=visit, status=RecordingStatus.INGESTED, outside_night=True)
    RecordingFactory(visit=visit, status=RecordingStatus.INGESTED, outside_night=False)
    client.force_login(fieldworker)
    page = client.get(reverse("visit_detail", args=[visit.pk])).content.decode()
    assert "1 recording is stamped outside this night." in page
    assert "outside night" in page


def test_outsider_gets_404_for_visit_page_and_fragment(client, visit):
    client.force_login(UserFactory())
    assert client.get(reverse("visit_detail", args=[visit.pk])).status_code == 404
    assert (
        client.get(reverse("visit_detail", args=[visit.pk]), headers={"HX-Request": "true"}).status_code
        == 404
    )


def test_anonymous_user_is_sent_to_login(client, visit):
    response = client.get(reverse("visit_detail", args=[visit.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_visit_page_refuses_post(client, visit, fieldworker):
    client.force_login(fieldworker)
    assert client.post(reverse("visit_detail", args=[visit.pk])).status_code == 405


# --- create -------------------------------------------------------------------------------------------


def test_every_member_may_create_a_visit(client, visit, fieldworker):
    client.force_login(fieldworker)
    url = reverse("visit_create", args=[visit.site.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _visit_form())
    created = Visit.objects.get(night=dt.date(2025, 6, 14))
    assert response.status_code == 302 and response["Location"] == reverse("visit_detail", args=[created.pk])
    assert created.site == visit.site and created.created_by == fieldworker
    assert created.start_time == dt.time(21, 45) and created.detector_model == "Batlogger M"


def test_visit_form_with_errors_answers_400_and_saves_nothing(client, visit, fieldworker):
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_create", args=[visit.site.pk]), _visit_form(night="", time_expansion="0.5")
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Visit.objects.count() == 1


def test_outsider_gets_404_when_creating_a_visit(client, visit):
    client.force_login(UserFactory())
    assert client.get(reverse("visit_create", args=[visit.site.pk])).status_code == 404
    assert client.post(reverse("visit_create", args=[visit.site.pk]), _visit_form()).status_code == 404
    assert Visit.objects.count() == 1


def test_visit_create_refuses_put(client, visit, fieldworker):
    client.force_login(fieldworker)
    assert client.put(reverse("visit_create", args=[visit.site.pk])).status_code == 405


# --- edit ---------------------------------------------------------------------------------------------


def test_fieldworker_edits_own_visit(client, visit, fieldworker):
    visit.created_by = fieldworker
    visit.save()
    client.force_login(fieldworker)
    url = reverse("visit_edit", args=[visit.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _visit_form(night="2025-06-12", observers="An, Bo"))
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.observers == "An, Bo"


def test_fieldworker_is_refused_editing_someone_elses_visit(client, visit, fieldworker):
    visit.created_by = member(visit.site.project, Role.FIELDWORKER)
    visit.save()
    client.force_login(fieldworker)
    assert client.get(reverse("visit_edit", args=[visit.pk])).status_code == 403
    assert client.post(reverse("visit_edit", args=[visit.pk]), _visit_form(observers="x")).status_code == 403
    visit.refresh_from_db()
    assert visit.observers == ""


def test_visit_page_offers_edit_only_to_those_who_may(client, visit, fieldworker):
    client.force_login(fieldworker)
    assert (
        reverse("visit_edit", args=[visit.pk])
        not in client.get(reverse("visit_detail", args=[visit.pk])).content.decode()
    )
    client.force_login(member(visit.site.project, Role.MANAGER))
    assert (
        reverse("visit_edit", args=[visit.pk])
        in client.get(reverse("visit_detail", args=[visit.pk])).content.decode()
    )


def test_manager_edits_any_visit(client, visit):
    client.force_login(member(visit.site.project, Role.MANAGER))
    response = client.post(
        reverse("visit_edit", args=[visit.pk]), _visit_form(night="2025-06-12", purpose="mating_roost")
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.purpose == "mating_roost"


def test_outsider_gets_404_when_editing_a_visit(client, visit):
    client.force_login(UserFactory())
    assert client.get(reverse("visit_edit", args=[visit.pk])).status_code == 404


def test_visit_edit_refuses_delete(client, visit):
    client.force_login(member(visit.site.project, Role.MANAGER))
    assert client.delete(reverse("visit_edit", args=[visit.pk])).status_code == 405


def test_a_long_night_pages_its_table_while_counts_and_flags_cover_every_recording(
    client, visit, fieldworker, monkeypatch
):
    monkeypatch.setattr("surveys.views.visits.RECORDINGS_PER_PAGE", 2)
    start = dt.datetime(2025, 6, 14, 22, 0, tzinfo=dt.UTC)
    for i in range(5):
        RecordingFactory(
            visit=visit, original_name=f"n{i}.wav", recorded_at=start + dt.timedelta(minutes=i),
            status=RecordingStatus.UPLOADED if i == 4 else RecordingStatus.INGESTED, outside_night=i == 0,
        )  # fmt: skip
    client.force_login(fieldworker)
    url = reverse("visit_detail", args=[visit.pk])

    first = client.get(url).content.decode()
    last = client.get(url, {"page": 3}, headers={"HX-Request": "true"})

    table = first[first.index('<section id="recordings"') :]
    assert "n0.wav" in table and "n1.wav" in table and "n2.wav" not in table
    assert "(5)" in table and "Page 1 of 3" in table and f'href="{url}?page=2"' in table
    assert "1 recording is stamped outside this night." in table  # on page 1 of 3, counted over all five
    fragment = last.content.decode()
    assert last.status_code == 200 and "n4.wav" in fragment and "n0.wav" not in fragment
    assert f'hx-get="{url}?page=3" hx-trigger="every 2s"' in fragment  # the poll stays on its page
