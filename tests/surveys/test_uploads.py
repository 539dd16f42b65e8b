"""Uploading loose files: what is stored, what is refused and why, and that nothing is half-saved."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError

from surveys import services
from surveys.models import Recording, RecordingStatus
from surveys.services import recordings_upload
from tests.factories import SiteFactory, VisitFactory
from tests.surveys.conftest import make_wav, upload_file, upload_path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "english")]


def _upload(visit, user, *files):
    return recordings_upload(visit=visit, user=user, files=list(files))


def _wav_with_format_tag(tag: int, data: bytes = b"\x00\x01" * 200) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, 1, 384_000, 768_000, 2, 16)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --------------------------------------------------------------------------------------------- accepted


def test_valid_wav_is_stored_with_its_row_in_status_uploaded(visit, user, stored_files):
    content = make_wav()

    [outcome] = _upload(visit, user, upload_file("SITE_20250612_231502.wav", content))

    assert outcome.status == "accepted"
    assert outcome.name == "SITE_20250612_231502.wav"
    recording = Recording.objects.get(pk=outcome.recording_id)
    assert recording.status == RecordingStatus.UPLOADED
    assert recording.sha256 == hashlib.sha256(content).hexdigest()
    assert recording.size_bytes == len(content)
    assert recording.original_name == "SITE_20250612_231502.wav"
    assert recording.project == visit.site.project
    assert recording.uploaded_by == user
    assert stored_files() == {recording.file.name}
    with recording.file.open("rb") as f:
        assert f.read() == content


def test_ingest_is_queued_only_after_the_row_is_committed(
    visit, user, django_capture_on_commit_callbacks, eager_celery
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [outcome] = _upload(visit, user, upload_file("a.wav", make_wav()))
    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.UPLOADED
    assert len(callbacks) == 1

    callbacks[0]()  # the commit happens: the (eager) task ingests the recording

    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.INGESTED


def test_a_broker_that_is_down_leaves_the_upload_stored_and_waiting(
    visit, user, monkeypatch, django_capture_on_commit_callbacks, assert_nothing_half_saved
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is not running")

    monkeypatch.setattr(services.ingest_recording, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        [outcome] = _upload(visit, user, upload_file("a.wav", make_wav()))

    assert outcome.status == "accepted"
    assert Recording.objects.get(pk=outcome.recording_id).status == RecordingStatus.UPLOADED
    assert_nothing_half_saved()


def test_many_files_each_get_their_own_line_in_order(visit, user):
    outcomes = _upload(
        visit,
        user,
        upload_file("one.wav", make_wav()),
        upload_file("notes.txt", b"hello"),
        upload_file("two.wav", make_wav()),
    )
    assert [(o.name, o.status) for o in outcomes] == [
        ("one.wav", "accepted"),
        ("notes.txt", "rejected"),
        ("two.wav", "accepted"),
    ]


def test_real_recording_is_streamed_from_disk(visit, user, shared_recordings, stored_files):
    path = shared_recordings / "formats" / "Echometer.wav"

    [outcome] = _upload(visit, user, upload_path(path))

    assert outcome.status == "accepted"
    recording = Recording.objects.get(pk=outcome.recording_id)
    assert recording.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert recording.size_bytes == path.stat().st_size


def test_a_large_upload_is_never_held_whole_in_memory(visit, user, tmp_path):
    # 24 MB of audio; streaming in 1 MiB chunks keeps the peak far below the file size.
    big = tmp_path / "big.wav"
    big.write_bytes(make_wav(sample_rate_hz=250_000, duration_s=48.0, seed=3))
    assert big.stat().st_size > 20 * 1024 * 1024

    tracemalloc.start()
    try:
        [outcome] = _upload(visit, user, upload_path(big))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert outcome.status == "accepted"
    assert peak_bytes < 6 * 1024 * 1024


# --------------------------------------------------------------------------------------------- duplicates


def test_same_file_twice_is_a_duplicate_naming_the_existing_recording(visit, user, assert_nothing_half_saved):
    content = make_wav()
    [first] = _upload(visit, user, upload_file("REC_1.wav", content))

    [second] = _upload(visit, user, upload_file("copy of REC_1.wav", content))

    assert second.status == "duplicate"
    assert second.recording_id == first.recording_id
    assert "REC_1.wav" in second.message
    assert f"recording {first.recording_id}" in second.message
    assert Recording.objects.count() == 1
    assert_nothing_half_saved()


def test_duplicate_in_the_same_request_is_reported(visit, user):
    content = make_wav()
    outcomes = _upload(visit, user, upload_file("a.wav", content), upload_file("b.wav", content))
    assert [o.status for o in outcomes] == ["accepted", "duplicate"]


def test_duplicate_check_is_per_project(visit, user):
    content = make_wav()
    other_visit = VisitFactory(site=SiteFactory())

    [here] = _upload(visit, user, upload_file("a.wav", content))
    [there] = _upload(other_visit, user, upload_file("a.wav", content))

    assert (here.status, there.status) == ("accepted", "accepted")
    assert here.recording_id != there.recording_id


def test_duplicate_stored_by_a_parallel_upload_is_caught_by_the_constraint(
    visit, user, monkeypatch, assert_nothing_half_saved
):
    content = make_wav()
    [first] = _upload(visit, user, upload_file("a.wav", content))
    # The other upload commits between our check and our insert: the check sees nothing.
    real_lookup = services._existing_recording
    calls = []

    def lookup_misses_once(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr(services, "_existing_recording", lookup_misses_once)

    [second] = _upload(visit, user, upload_file("b.wav", content))

    assert second.status == "duplicate"
    assert second.recording_id == first.recording_id
    assert Recording.objects.count() == 1
    assert_nothing_half_saved()


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"This is a text file that someone renamed to .wav\n" * 20, "not a WAV file"),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 500, "FLAC"),
        (b"ID3\x04\x00" + b"\x00" * 500, "MP3"),
        (b"PK\x03\x04" + b"\x00" * 500, "ZIP"),
    ],
    ids=["text", "flac", "mp3", "zip"],
)
def test_not_audio_with_a_wav_name_is_rejected(visit, user, content, expected, assert_nothing_half_saved):
    [outcome] = _upload(visit, user, upload_file("night.wav", content))

    assert outcome.status == "rejected"
    assert "night.wav" in outcome.message
    assert expected in outcome.message
    assert outcome.recording_id is None
    assert_nothing_half_saved()
    assert Recording.objects.count() == 0


def test_empty_file_is_rejected(visit, user, assert_nothing_half_saved):
    [outcome] = _upload(visit, user, upload_file("empty.wav", b""))
    assert outcome.status == "rejected"
    assert "empty" in outcome.message
    assert_nothing_half_saved()


def test_wav_with_a_header_but_no_samples_is_rejected_as_empty(visit, user, assert_nothing_half_saved):
    header_only = make_wav(duration_s=0.0)

    [outcome] = _upload(visit, user, upload_file("header.wav", header_only))

    assert outcome.status == "rejected"
    assert "no audio" in outcome.message or "empty" in outcome.message
    assert_nothing_half_saved()


def test_truncated_wav_is_rejected(visit, user, assert_nothing_half_saved):
    whole = make_wav(duration_s=0.2)

    [outcome] = _upload(visit, user, upload_file("cut.wav", whole[: len(whole) // 2]))

    assert outcome.status == "rejected"
    assert "cut.wav is truncated" in outcome.message
    assert_nothing_half_saved()


@pytest.mark.parametrize("tag", [0x0055, 0x0011, 0x1234], ids=["mpeg-in-wav", "ima-adpcm", "unknown"])
def test_wav_with_an_unsupported_encoding_is_rejected(visit, user, tag, assert_nothing_half_saved):
    [outcome] = _upload(visit, user, upload_file("odd.wav", _wav_with_format_tag(tag)))

    assert outcome.status == "rejected"
    assert "encoding" in outcome.message
    assert f"0x{tag:04X}" in outcome.message
    assert_nothing_half_saved()


def test_file_over_max_upload_mb_is_rejected_before_reading(visit, user, settings, assert_nothing_half_saved):
    settings.MAX_UPLOAD_MB = 1
    content = make_wav(sample_rate_hz=250_000, duration_s=3.0)
    assert len(content) > 1024 * 1024

    [outcome] = _upload(visit, user, upload_file("long.wav", content))

    assert outcome.status == "rejected"
    assert "1 MB" in outcome.message
    assert_nothing_half_saved()


def test_file_that_lies_about_its_size_is_stopped_at_the_limit(
    visit, user, settings, assert_nothing_half_saved
):
    settings.MAX_UPLOAD_MB = 1
    content = make_wav(sample_rate_hz=250_000, duration_s=3.0)
    upload = SimpleUploadedFile("liar.wav", content)
    upload.size = 1000  # what a client claimed; the bytes keep coming

    [outcome] = _upload(visit, user, upload)

    assert outcome.status == "rejected"
    assert "1 MB" in outcome.message
    assert_nothing_half_saved()


@pytest.mark.parametrize(
    "name", ["night.wac", "night.w4v", "night.zc", "night.mp3", "night.flac", "NIGHT.WAC"]
)
def test_other_detectors_formats_are_refused_by_name(visit, user, name, assert_nothing_half_saved):
    [outcome] = _upload(visit, user, upload_file(name, make_wav()))

    assert outcome.status == "rejected"
    assert name in outcome.message
    assert "WAV" in outcome.message and "ZIP" in outcome.message
    assert_nothing_half_saved()


def test_unknown_file_type_is_refused(visit, user):
    [outcome] = _upload(visit, user, upload_file("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100))
    assert outcome.status == "rejected"
    assert "not a WAV file" in outcome.message


def test_macos_metadata_files_are_skipped_without_a_line(visit, user, assert_nothing_half_saved):
    outcomes = _upload(
        visit, user, upload_file("._a.wav", b"\x00\x05\x16\x07"), upload_file("a.wav", make_wav())
    )
    assert [o.name for o in outcomes] == ["a.wav"]
    assert_nothing_half_saved()


def test_low_free_disk_space_refuses_the_upload(visit, user, settings, assert_nothing_half_saved):
    settings.DISK_FREE_MARGIN_MB = 10**9  # a petabyte in reserve: no disk has that much free

    [outcome] = _upload(visit, user, upload_file("a.wav", make_wav()))

    assert outcome.status == "rejected"
    assert "disk is almost full" in outcome.message
    assert_nothing_half_saved()


def test_a_failing_insert_removes_the_stored_file(visit, user, monkeypatch, assert_nothing_half_saved):
    def broken_save(self, *args, **kwargs):
        raise IntegrityError("NOT NULL constraint failed: something else")

    monkeypatch.setattr(Recording, "save", broken_save)

    [outcome] = _upload(visit, user, upload_file("a.wav", make_wav()))

    assert outcome.status == "rejected"
    assert "error on the server" in outcome.message
    monkeypatch.undo()
    assert Recording.objects.count() == 0
    assert_nothing_half_saved()


def test_an_unexpected_error_in_one_file_does_not_stop_the_others(
    visit, user, monkeypatch, assert_nothing_half_saved
):
    real_validate = services.uploads.validate_audio

    def validate(staged):
        if staged.path.name == "bad.wav":
            raise OSError("disk read error")
        return real_validate(staged)

    monkeypatch.setattr(services.uploads, "validate_audio", validate)

    outcomes = _upload(visit, user, upload_file("bad.wav", make_wav()), upload_file("good.wav", make_wav()))

    assert [o.status for o in outcomes] == ["rejected", "accepted"]
    assert_nothing_half_saved()


# --------------------------------------------------------------------------------------------- sidecars

BATLOGGER_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<BatRecord Model="C">
  <Firmware>2.5.3</Firmware>
  <SN>7023</SN>
  <Filename>10160435.wav</Filename>
  <DateTime>12.06.2025 23:41:07</DateTime>
  <Samplerate>312500 Hz</Samplerate>
  <Duration>2.1 Sec</Duration>
  <GPS><Valid>yes</Valid><Position>52.0901 5.1201</Position><Altitude>4 m</Altitude></GPS>
</BatRecord>
"""


def test_batlogger_sidecar_beside_its_wav_is_stored_on_the_recording(visit, user):
    outcomes = _upload(
        visit, user, upload_file("10160435.wav", make_wav()), upload_file("10160435.xml", BATLOGGER_XML)
    )

    by_name = {o.name: o for o in outcomes}
    assert by_name["10160435.wav"].status == "accepted"
    assert by_name["10160435.xml"].status == "accepted"
    assert by_name["10160435.xml"].recording_id == by_name["10160435.wav"].recording_id
    recording = Recording.objects.get()
    assert "<BatRecord" in recording.sidecar_xml
    assert Recording.objects.count() == 1


def test_sidecar_without_its_wav_is_refused(visit, user):
    [outcome] = _upload(visit, user, upload_file("10160435.xml", BATLOGGER_XML))
    assert outcome.status == "rejected"
    assert "together with its WAV" in outcome.message


def test_xml_that_is_not_a_batlogger_sidecar_is_refused(visit, user):
    outcomes = _upload(visit, user, upload_file("a.wav", make_wav()), upload_file("a.xml", b"<kml></kml>"))
    by_name = {o.name: o for o in outcomes}
    assert by_name["a.xml"].status == "rejected"
    assert "Batlogger" in by_name["a.xml"].message
    assert Recording.objects.get().sidecar_xml == ""
