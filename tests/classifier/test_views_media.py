"""Pictures and audio, for members only: the spectrogram drawn once, ranged audio, the 1/10-speed copy."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from django.urls import reverse
from django.utils import timezone

from classifier import images, playback
from classifier.models import Analysis, AnalysisState, RenderedImage
from tests.classifier.conftest import PIP, ingested, make_model_version, wav_bytes
from tests.classifier.test_selectors import add_result

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def model(db):
    return make_model_version(name="bats-2025", activate=True)


@pytest.fixture
def recording(visit):
    return ingested(visit, original_name="KR01_20250612_231502.wav", content=wav_bytes(duration_s=0.05))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


# ------------------------------------------------------------------------------------------ spectrogram


def test_spectrogram_is_drawn_on_first_view_and_then_served_from_the_cache(
    client, recording, fieldworker, model, monkeypatch
):
    analysis = add_result(recording, model, calls=[(PIP, 0), (PIP, 0)])
    client.force_login(fieldworker)
    image_url = reverse("analysis_spectrogram_png", args=[analysis.pk])

    first = client.get(image_url)
    monkeypatch.setattr(images, "_draw", lambda *a: pytest.fail("a cached picture was drawn again"))
    second = client.get(image_url)

    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == "image/png" and "private" in first["Cache-Control"]
    png = body(first)
    assert png.startswith(PNG_MAGIC) and body(second) == png
    assert struct.unpack(">II", png[16:24]) == (1200, 420)  # ml.plots' size, as the page's img says
    assert RenderedImage.objects.filter(analysis=analysis, kind="spectrogram").count() == 1


def test_a_rerun_analysis_gets_a_fresh_picture(client, recording, fieldworker, model, media_root):
    analysis = add_result(recording, model, calls=[(PIP, 0)])
    client.force_login(fieldworker)
    image_url = reverse("analysis_spectrogram_png", args=[analysis.pk])
    client.get(image_url)
    old = RenderedImage.objects.get(analysis=analysis)

    Analysis.objects.filter(pk=analysis.pk).update(finished_at=timezone.now())  # ran again, new calls
    client.get(image_url)

    new = RenderedImage.objects.get(analysis=analysis)
    assert new.pk != old.pk and new.created_at > old.created_at
    assert [p.name for p in (media_root / "images").rglob("*.png")] == [new.file.name.rsplit("/", 1)[1]]


def test_no_picture_for_an_analysis_that_is_not_done(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.QUEUED)
    client.force_login(fieldworker)
    assert client.get(reverse("analysis_spectrogram_png", args=[analysis.pk])).status_code == 404


def test_a_recording_missing_from_storage_gives_404_not_an_error(client, recording, fieldworker, model):
    analysis = add_result(recording, model)
    recording.file.storage.delete(recording.file.name)
    client.force_login(fieldworker)

    assert client.get(reverse("analysis_spectrogram_png", args=[analysis.pk])).status_code == 404
    assert client.get(reverse("recording_audio", args=[recording.pk])).status_code == 404
    assert client.get(reverse("recording_audio_slow", args=[recording.pk])).status_code == 404


def test_pictures_are_404_for_outsiders_and_answer_only_get(client, recording, fieldworker, outsider, model):
    analysis = add_result(recording, model)
    client.force_login(outsider)
    assert client.get(reverse("analysis_spectrogram_png", args=[analysis.pk])).status_code == 404
    assert client.get(reverse("analysis_occlusion_png", args=[analysis.pk])).status_code == 404
    assert not RenderedImage.objects.exists()
    client.force_login(fieldworker)
    assert client.post(reverse("analysis_spectrogram_png", args=[analysis.pk])).status_code == 405


# ------------------------------------------------------------------------------------------ original audio


def test_original_audio_streams_inline_for_the_player(client, recording, fieldworker):
    client.force_login(fieldworker)

    response = client.get(reverse("recording_audio", args=[recording.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes" and response["Content-Disposition"].startswith("inline")
    assert body(response) == recording.file.open("rb").read()


def test_original_audio_answers_a_range_with_206(client, recording, fieldworker):
    client.force_login(fieldworker)
    whole = recording.file.open("rb").read()
    audio_url = reverse("recording_audio", args=[recording.pk])

    middle = client.get(audio_url, HTTP_RANGE="bytes=100-199")
    tail = client.get(audio_url, HTTP_RANGE="bytes=-10")
    open_ended = client.get(audio_url, HTTP_RANGE=f"bytes={len(whole) - 5}-")
    beyond = client.get(audio_url, HTTP_RANGE=f"bytes={len(whole)}-")

    assert middle.status_code == 206 and body(middle) == whole[100:200]
    assert middle["Content-Range"] == f"bytes 100-199/{len(whole)}" and middle["Content-Length"] == "100"
    assert body(tail) == whole[-10:] and body(open_ended) == whole[-5:]
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(whole)}"


def test_download_saves_the_file_under_its_original_name(client, recording, fieldworker):
    client.force_login(fieldworker)

    response = client.get(reverse("recording_audio", args=[recording.pk]), {"download": "1"})

    assert response["Content-Disposition"] == 'attachment; filename="KR01_20250612_231502.wav"'


def test_audio_is_404_for_outsiders_and_answers_only_get(client, recording, fieldworker, outsider):
    client.force_login(outsider)
    assert client.get(reverse("recording_audio", args=[recording.pk])).status_code == 404
    assert client.get(reverse("recording_audio_slow", args=[recording.pk])).status_code == 404
    client.force_login(fieldworker)
    assert client.post(reverse("recording_audio", args=[recording.pk])).status_code == 405
    assert client.post(reverse("recording_audio_slow", args=[recording.pk])).status_code == 405


# ------------------------------------------------------------------------------------------ slowed audio


def test_slowed_audio_holds_the_same_samples_at_a_tenth_of_the_rate(client, recording, fieldworker):
    client.force_login(fieldworker)

    response = client.get(reverse("recording_audio_slow", args=[recording.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    assert "KR01_20250612_231502_slow10x.wav" in response["Content-Disposition"]
    slowed, slowed_rate = sf.read(io.BytesIO(body(response)), dtype="int16")
    original, original_rate = sf.read(recording.file.open("rb"), dtype="int16")
    assert (original_rate, slowed_rate) == (384_000, 38_400)
    assert np.array_equal(slowed, original)


def test_slowed_audio_is_made_once_and_then_served_from_the_cache(
    client, recording, fieldworker, monkeypatch
):
    client.force_login(fieldworker)
    slow_url = reverse("recording_audio_slow", args=[recording.pk])
    first = body(client.get(slow_url))
    monkeypatch.setattr(
        playback, "write_slowed", lambda *a, **k: pytest.fail("the slowed copy was made again")
    )

    second = client.get(slow_url, HTTP_RANGE="bytes=0-43")

    assert second.status_code == 206 and body(second) == first[:44]


def test_a_time_expanded_recording_keeps_its_already_slow_rate(visit, fieldworker, client):
    recording = ingested(
        visit,
        content=wav_bytes(sample_rate_hz=38_400, duration_s=0.2),
        time_expansion=10.0,
        header_sample_rate_hz=38_400,
        sample_rate_hz=384_000,
    )
    client.force_login(fieldworker)

    response = client.get(reverse("recording_audio_slow", args=[recording.pk]))

    assert sf.info(io.BytesIO(body(response))).samplerate == 38_400  # true 384 kHz / 10


def _riff(*chunks: tuple[bytes, bytes], riff_size: int | None = None) -> bytes:
    payload = b"WAVE" + b"".join(
        cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for cid, data in chunks
    )
    return b"RIFF" + struct.pack("<I", riff_size if riff_size is not None else len(payload)) + payload


def test_slowing_skips_other_chunks_and_keeps_only_whole_frames():
    fmt = struct.pack("<HHIIHH", 1, 2, 250_000, 250_000 * 4, 4, 16)  # PCM, stereo, 16 bit
    data = bytes(range(256)) * 4 + b"\x01\x02"  # 1024 bytes of frames + a torn half frame
    source = _riff((b"guan", b"GUANO|Version:1.0\nTE:1\n"), (b"fmt ", fmt), (b"data", data))
    out = io.BytesIO()

    rate = playback.write_slowed(io.BytesIO(source), len(source), out, time_expansion=None)

    assert rate == 25_000
    info = sf.info(io.BytesIO(out.getvalue()))
    assert (info.samplerate, info.channels, info.frames) == (25_000, 2, 256)
    assert out.getvalue().endswith(data[:1024])


def test_slowing_refuses_what_is_not_a_wav():
    with pytest.raises(playback.NotAWavError):
        playback.write_slowed(io.BytesIO(b"ID3 not a wav at all"), 20, io.BytesIO(), time_expansion=None)


# ------------------------------------------------------------------------------------------ the real model


@pytest.mark.slow
def test_real_analysis_is_drawn_with_its_calls_and_explained_by_an_occlusion_map(
    client, visit, fieldworker, tiny_model_path, synthetic_pipistrelle_wav, django_capture_on_commit_callbacks
):
    from classifier import services

    services.model_version_register(path=tiny_model_path, name="tiny", activate=True)
    recording = ingested(visit, content=synthetic_pipistrelle_wav, duration_s=3.0)
    with django_capture_on_commit_callbacks(execute=True):
        analysis = services.analysis_queue(recording_id=recording.pk)
    client.force_login(fieldworker)

    panel = client.get(reverse("recording_analysis", args=[recording.pk])).content.decode()
    spectrogram = client.get(reverse("analysis_spectrogram_png", args=[analysis.pk]))
    occlusion = client.get(reverse("analysis_occlusion_png", args=[analysis.pk]))

    assert "Common pipistrelle" in panel
    assert spectrogram.status_code == occlusion.status_code == 200
    spectrogram_png, occlusion_png = body(spectrogram), body(occlusion)
    assert spectrogram_png.startswith(PNG_MAGIC) and occlusion_png.startswith(PNG_MAGIC)
    assert spectrogram_png != occlusion_png
    assert set(RenderedImage.objects.filter(analysis=analysis).values_list("kind", flat=True)) == {
        "spectrogram",
        "occlusion",
    }
