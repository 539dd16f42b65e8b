"""Ingest: metadata, time, true sample rate and status of stored recordings, from real and synthetic files."""

from __future__ import annotations

import csv
import datetime as dt
import sys
import types
from pathlib import Path

import pytest
import soundfile as sf
from django.core.management import call_command
from django.db import OperationalError

from surveys import services
from surveys.models import Recording, RecordingStatus
from surveys.services import recording_ingest, recordings_upload
from surveys.tasks import ingest_recording
from tests.factories import SiteFactory, VisitFactory
from tests.surveys.conftest import make_wav, upload_file, upload_path
from tests.surveys.test_uploads import BATLOGGER_XML

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "english")]

RECORDINGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recordings"
UTC = dt.UTC


def _real_recordings() -> list[tuple[str, float, float | None]]:
    """(path under recordings/, time-expansion factor, header duration from the manifest or None)."""
    rows: list[tuple[str, float, float | None]] = []
    with open(RECORDINGS / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            path = row["path"].removeprefix("recordings/")
            rows.append((path, float(row["time_expansion"] or 1), float(row["duration_s"])))
    with open(RECORDINGS / "labelled-europe" / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            rows.append((f"labelled-europe/{row['path']}", float(row["time_expansion"] or 1), None))
    return rows


REAL = _real_recordings() if RECORDINGS.exists() else []


def _ingest_upload(visit, user, upload) -> Recording:
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload])
    assert outcome.status == "accepted", outcome.message
    recording_ingest(recording_id=outcome.recording_id)
    return Recording.objects.get(pk=outcome.recording_id)


def _ingest_bytes(visit, user, name: str, content: bytes) -> Recording:
    return _ingest_upload(visit, user, upload_file(name, content))


# --------------------------------------------------------------------------------------------- real data


def test_every_real_recording_is_listed_with_a_time_expansion_factor():
    on_disk = {str(p.relative_to(RECORDINGS)) for p in RECORDINGS.rglob("*") if p.suffix.lower() == ".wav"}
    assert len(on_disk) >= 59
    assert on_disk == {path for path, _, _ in REAL}


@pytest.mark.parametrize(("path", "time_expansion", "header_duration_s"), REAL, ids=[p for p, _, _ in REAL])
def test_real_recording_is_accepted_and_ingested_with_its_true_rate_and_duration(
    user, path, time_expansion, header_duration_s
):
    file = RECORDINGS / path
    info = sf.info(str(file))
    visit = VisitFactory(time_expansion=time_expansion)

    recording = _ingest_upload(visit, user, upload_path(file))

    assert recording.status == RecordingStatus.INGESTED, recording.reason
    assert recording.header_sample_rate_hz == info.samplerate
    assert recording.time_expansion == time_expansion
    assert recording.sample_rate_hz == round(info.samplerate * time_expansion)
    assert recording.duration_s == pytest.approx(info.frames / info.samplerate / time_expansion, rel=1e-9)
    if header_duration_s is not None:  # the manifest rounds to milliseconds of file time
        assert recording.duration_s == pytest.approx(header_duration_s / time_expansion, abs=0.001)
    assert recording.channels == info.channels
    assert Path(recording.file.path).read_bytes() == file.read_bytes()


def test_time_expanded_file_gets_its_factor_from_the_visit(user):
    visit = VisitFactory(time_expansion=10)

    recording = _ingest_upload(visit, user, upload_path(RECORDINGS / "time-expanded" / "Mdau_TE384.wav"))

    assert recording.status == RecordingStatus.INGESTED
    assert recording.sample_rate_hz == 384_000
    assert recording.duration_s == pytest.approx(1.0365, abs=0.0001)
    assert recording.metadata["time_expansion_source"] == "visit"


def test_time_expanded_file_on_a_real_time_visit_is_unusable_and_kept(user):
    visit = VisitFactory(time_expansion=1)

    recording = _ingest_upload(visit, user, upload_path(RECORDINGS / "time-expanded" / "Mdau_TE384.wav"))

    assert recording.status == RecordingStatus.UNUSABLE
    assert "38,400 Hz" in recording.reason and "100,000 Hz" in recording.reason
    assert "time-expansion factor" in recording.reason
    assert recording.sample_rate_hz == 38_400
    assert Path(recording.file.path).is_file()


def test_guano_timestamp_with_an_offset_is_stored_in_utc(user):
    visit = VisitFactory(night=dt.date(2024, 9, 3), site=SiteFactory(time_zone="Europe/London"))

    recording = _ingest_upload(visit, user, upload_path(RECORDINGS / "formats" / "Audiomoth.WAV"))

    # GUANO says 2024-09-03T20:26:15+01:00
    assert recording.recorded_at == dt.datetime(2024, 9, 3, 19, 26, 15, tzinfo=UTC)
    assert recording.metadata["timestamp_source"] == "guano"
    assert recording.outside_night is False


def test_guano_metadata_of_a_real_detector_is_kept(user):
    visit = VisitFactory(night=dt.date(2022, 8, 15))

    recording = _ingest_upload(visit, user, upload_path(RECORDINGS / "formats" / "Echometer.wav"))

    assert recording.metadata["make"] == "Wildlife Acoustics"
    assert recording.metadata["model"].startswith("Echo Meter Touch 2")
    assert recording.metadata["latitude"] == pytest.approx(50.7179417)
    assert recording.metadata["longitude"] == pytest.approx(-1.7611083)
    assert recording.metadata["species_manual_id"] == "PIPPIP"
    assert recording.metadata["guano"]["Species Auto ID"] == "PIPPIP"


# --------------------------------------------------------------------------------------------- time


def test_naive_guano_timestamp_is_read_as_site_local(user):
    amsterdam = VisitFactory(site=SiteFactory(time_zone="Europe/Amsterdam"))
    new_york = VisitFactory(site=SiteFactory(time_zone="America/New_York"))
    guano = {"Timestamp": "2025-06-12T23:15:02"}

    in_amsterdam = _ingest_bytes(amsterdam, user, "a.wav", make_wav(guano=guano, seed=1))
    in_new_york = _ingest_bytes(new_york, user, "a.wav", make_wav(guano=guano, seed=1))

    assert in_amsterdam.recorded_at == dt.datetime(2025, 6, 12, 21, 15, 2, tzinfo=UTC)  # CEST = UTC+2
    assert in_new_york.recorded_at == dt.datetime(2025, 6, 13, 3, 15, 2, tzinfo=UTC)  # EDT = UTC-4


def test_file_name_stamp_is_used_when_the_file_has_no_time(user, visit):
    recording = _ingest_bytes(visit, user, "SITE_20250612_231502.wav", make_wav())

    assert recording.recorded_at == dt.datetime(2025, 6, 12, 21, 15, 2, tzinfo=UTC)
    assert recording.metadata["timestamp_source"] == "filename"
    assert recording.metadata["timestamp"] == "2025-06-12T23:15:02"


def test_file_name_stamp_inside_a_zip_folder_is_used(user, visit):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("card1/2025-06-12/PIP_20250613_014500.wav", make_wav())
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("card.zip", buffer.getvalue())])

    recording = recording_ingest(recording_id=outcome.recording_id)

    assert recording.recorded_at == dt.datetime(2025, 6, 12, 23, 45, tzinfo=UTC)


def test_guano_time_wins_over_the_file_name(user, visit):
    content = make_wav(guano={"Timestamp": "2025-06-12T22:00:00+02:00"})

    recording = _ingest_bytes(visit, user, "SITE_20250612_231502.wav", content)

    assert recording.recorded_at == dt.datetime(2025, 6, 12, 20, 0, tzinfo=UTC)


def test_batlogger_sidecar_gives_the_time_when_the_wav_has_none(user, visit):
    outcomes = recordings_upload(
        visit=visit,
        user=user,
        files=[upload_file("10160435.wav", make_wav()), upload_file("10160435.xml", BATLOGGER_XML)],
    )

    recording = recording_ingest(recording_id=outcomes[0].recording_id)

    assert recording.recorded_at == dt.datetime(2025, 6, 12, 21, 41, 7, tzinfo=UTC)  # 23:41:07 CEST
    assert recording.metadata["timestamp_source"] == "batlogger_xml"
    assert recording.metadata["batlogger"]["serial"] == "7023"


def test_recording_stamped_outside_the_visits_night_is_flagged(user, visit):
    # The visit's night is 12 June 2025 (noon to noon, Amsterdam).
    inside = _ingest_bytes(visit, user, "A_20250613_034500.wav", make_wav())
    after = _ingest_bytes(visit, user, "B_20250613_130000.wav", make_wav())
    before = _ingest_bytes(visit, user, "C_20250611_230000.wav", make_wav())

    assert (inside.outside_night, after.outside_night, before.outside_night) == (False, True, True)
    assert after.status == RecordingStatus.INGESTED


def test_recording_without_any_time_is_not_flagged(user, visit):
    recording = _ingest_bytes(visit, user, "no-time.wav", make_wav())

    assert recording.recorded_at is None
    assert recording.outside_night is False
    assert recording.metadata["timestamp_source"] == ""


# --------------------------------------------------------------------------------------------- time expansion


def test_guano_te_wins_over_the_visits_factor(user):
    visit = VisitFactory(time_expansion=20)
    content = make_wav(sample_rate_hz=38_400, duration_s=0.5, guano={"TE": 10})

    recording = _ingest_bytes(visit, user, "te.wav", content)

    assert recording.time_expansion == 10
    assert recording.sample_rate_hz == 384_000
    assert recording.header_sample_rate_hz == 38_400
    assert recording.duration_s == pytest.approx(0.05)
    assert recording.metadata["time_expansion_source"] == "guano"


def test_visits_factor_applies_when_the_file_says_nothing(user):
    visit = VisitFactory(time_expansion=10)

    recording = _ingest_bytes(visit, user, "te.wav", make_wav(sample_rate_hz=38_400, duration_s=0.5))

    assert recording.time_expansion == 10
    assert recording.sample_rate_hz == 384_000
    assert recording.duration_s == pytest.approx(0.05)


def test_real_time_file_with_a_low_rate_is_unusable(user, visit):
    recording = _ingest_bytes(visit, user, "low.wav", make_wav(sample_rate_hz=48_000, duration_s=0.2))

    assert recording.status == RecordingStatus.UNUSABLE
    assert "48,000 Hz" in recording.reason
    assert recording.duration_s == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------- failures


def test_stored_file_that_cannot_be_read_is_marked_failed_with_the_reason(user, visit):
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("REC_1.wav", make_wav())])
    recording = Recording.objects.get(pk=outcome.recording_id)
    Path(recording.file.path).write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")  # damaged on disk after upload

    recording = recording_ingest(recording_id=recording.pk)

    assert recording.status == RecordingStatus.FAILED
    assert "REC_1.wav" in recording.reason
    assert recording.sha256 not in recording.reason


def test_missing_stored_file_is_marked_failed(user, visit):
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("REC_1.wav", make_wav())])
    recording = Recording.objects.get(pk=outcome.recording_id)
    Path(recording.file.path).unlink()

    recording = recording_ingest(recording_id=recording.pk)

    assert recording.status == RecordingStatus.FAILED
    assert "missing" in recording.reason


def test_ingest_of_a_deleted_recording_does_nothing():
    assert recording_ingest(recording_id=987_654) is None


def test_ingest_twice_gives_the_same_result(user, visit):
    recording = _ingest_bytes(visit, user, "SITE_20250612_231502.wav", make_wav(guano={"TE": 1}))
    first = Recording.objects.values().get(pk=recording.pk)

    recording_ingest(recording_id=recording.pk)

    again = Recording.objects.values().get(pk=recording.pk)
    for changing in ("updated_at", "ingested_at"):
        first.pop(changing), again.pop(changing)
    assert again == first


# --------------------------------------------------------------------------------------------- hand-over


def test_species_manual_id_is_mapped_when_ml_labels_knows_the_code(user, monkeypatch):
    labels = types.ModuleType("ml.labels")
    labels.from_guano_code = lambda code: {"PIPPIP": "Pipistrellus pipistrellus"}.get(code)
    monkeypatch.setitem(sys.modules, "ml.labels", labels)
    visit = VisitFactory(night=dt.date(2022, 8, 15))

    recording = _ingest_upload(visit, user, upload_path(RECORDINGS / "formats" / "Echometer.wav"))

    assert recording.metadata["species_manual_label"] == "Pipistrellus pipistrellus"


def test_ingested_recordings_are_handed_to_analysis_when_the_classifier_offers_it(user, visit, monkeypatch):
    queued: list[int] = []
    classifier_services = types.ModuleType("classifier.services")
    classifier_services.analysis_queue = lambda *, recording_id: queued.append(recording_id)
    monkeypatch.setitem(sys.modules, "classifier.services", classifier_services)

    good = _ingest_bytes(visit, user, "good.wav", make_wav())
    _ingest_bytes(visit, user, "low.wav", make_wav(sample_rate_hz=48_000))

    assert queued == [good.pk]


def test_analysis_that_cannot_be_queued_leaves_the_recording_ingested(user, visit, monkeypatch):
    def broken(*, recording_id):
        raise ConnectionError("broker down")

    classifier_services = types.ModuleType("classifier.services")
    classifier_services.analysis_queue = broken
    monkeypatch.setitem(sys.modules, "classifier.services", classifier_services)

    recording = _ingest_bytes(visit, user, "good.wav", make_wav())

    assert recording.status == RecordingStatus.INGESTED


# --------------------------------------------------------------------------------------------- task, command


def test_task_ingests_the_recording_by_id(user, visit, eager_celery):
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("a.wav", make_wav())])

    ingest_recording.delay(outcome.recording_id)

    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.INGESTED


def test_task_retries_when_the_database_is_busy(user, visit, monkeypatch, eager_celery):
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("a.wav", make_wav())])
    real_ingest = services.recording_ingest
    calls: list[int] = []

    def busy_once(*, recording_id):
        calls.append(recording_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real_ingest(recording_id=recording_id)

    monkeypatch.setattr(services, "recording_ingest", busy_once)

    ingest_recording.apply(args=[outcome.recording_id])

    assert len(calls) == 2
    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.INGESTED


def test_ingest_pending_queues_old_waiting_uploads_only(user, visit, monkeypatch):
    outcomes = recordings_upload(
        visit=visit, user=user, files=[upload_file("old.wav", make_wav()), upload_file("new.wav", make_wav())]
    )
    old_id, new_id = (o.recording_id for o in outcomes)
    Recording.objects.filter(pk=old_id).update(created_at=dt.datetime(2025, 1, 1, tzinfo=UTC))
    queued: list[int] = []
    monkeypatch.setattr(services.ingest_recording, "delay", queued.append)

    call_command("ingest_pending", "--older-than-minutes", "10")

    assert queued == [old_id]


def test_ingest_pending_now_ingests_without_a_worker(user, visit):
    [outcome] = recordings_upload(visit=visit, user=user, files=[upload_file("a.wav", make_wav())])

    call_command("ingest_pending", "--older-than-minutes", "0", "--now")

    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.INGESTED
