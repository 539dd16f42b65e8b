"""ml.audio: decoding, time expansion, resampling, high-pass and the typed errors for bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml.audio import (
    Audio,
    AudioConfig,
    AudioError,
    EmptyAudioError,
    NotAudioError,
    SampleRateTooLowError,
    TooShortError,
    TruncatedAudioError,
    UnsupportedAudioError,
    load_audio,
    read_header,
    scan_riff_chunks,
)


def peak_frequency_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples * np.hanning(audio.samples.size)))
    freqs = np.fft.rfftfreq(audio.samples.size, 1 / audio.sample_rate_hz)
    return float(freqs[np.argmax(spectrum)])


def band_energy(audio: Audio, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples)) ** 2
    freqs = np.fft.rfftfreq(audio.samples.size, 1 / audio.sample_rate_hz)
    return float(spectrum[(freqs >= low_hz) & (freqs <= high_hz)].sum())


def test_full_spectrum_file_is_resampled_to_the_analysis_rate_in_true_time(wav_factory):
    path = wav_factory(duration_s=0.2, sample_rate_hz=384_000, frequency_hz=45_000)

    audio = load_audio(path)

    assert audio.sample_rate_hz == 256_000
    assert audio.true_sample_rate_hz == 384_000
    assert audio.header_sample_rate_hz == 384_000
    assert audio.time_expansion == 1.0
    assert audio.duration_s == pytest.approx(0.2)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.samples.size == pytest.approx(0.2 * 256_000, abs=2)
    assert peak_frequency_hz(audio) == pytest.approx(45_000, abs=100)


@pytest.mark.parametrize("rate_hz", [144_000, 250_000, 256_000, 312_500, 375_000, 500_000, 960_000])
def test_every_common_detector_rate_keeps_call_frequency_and_timing(wav_factory, rate_hz):
    # One 3 ms pulse every 50 ms: after resampling the second pulse must still start at 50 ms.
    path = wav_factory(kind="pulses", duration_s=0.1, sample_rate_hz=rate_hz, frequency_hz=35_000)

    audio = load_audio(path)

    assert audio.true_sample_rate_hz == rate_hz
    assert audio.samples.size == pytest.approx(0.1 * 256_000, abs=2)
    assert peak_frequency_hz(audio) == pytest.approx(35_000, abs=400)
    loud = np.flatnonzero(np.abs(audio.samples) > 0.25)
    second_pulse_start_s = loud[loud > 0.025 * 256_000][0] / 256_000
    assert second_pulse_start_s == pytest.approx(0.05, abs=0.0002)


def test_time_expansion_argument_gives_true_rate_duration_and_frequency(wav_factory):
    # Header 38.4 kHz, 1 s long, a 4.5 kHz tone: really 0.1 s at 384 kHz with a 45 kHz call.
    path = wav_factory(duration_s=1.0, sample_rate_hz=38_400, frequency_hz=4_500)

    audio = load_audio(path, time_expansion=10)

    assert audio.time_expansion == 10
    assert audio.true_sample_rate_hz == 384_000
    assert audio.duration_s == pytest.approx(0.1)
    assert peak_frequency_hz(audio) == pytest.approx(45_000, abs=150)


def test_guano_time_expansion_wins_over_the_argument(wav_factory):
    path = wav_factory(duration_s=1.0, sample_rate_hz=38_400, frequency_hz=4_500, guano={"TE": 10})

    audio = load_audio(path, time_expansion=20)

    assert audio.time_expansion == 10
    assert audio.true_sample_rate_hz == 384_000


def test_guano_te_of_one_keeps_a_full_spectrum_file_in_real_time(wav_factory):
    path = wav_factory(sample_rate_hz=384_000, guano={"TE": 1, "Make": "Pettersson"})

    assert load_audio(path, time_expansion=10).true_sample_rate_hz == 384_000


def test_unreadable_guano_te_falls_back_to_the_argument(wav_factory):
    path = wav_factory(duration_s=1.0, sample_rate_hz=38_400, guano={"TE": "unknown"})

    assert load_audio(path, time_expansion=10).time_expansion == 10


def test_time_expanded_file_without_a_factor_raises_sample_rate_too_low(wav_factory):
    path = wav_factory(duration_s=1.0, sample_rate_hz=38_400)

    with pytest.raises(SampleRateTooLowError) as excinfo:
        load_audio(path)

    assert excinfo.value.true_sample_rate_hz == 38_400
    assert "time-expansion factor" in str(excinfo.value)
    assert isinstance(excinfo.value, AudioError) and isinstance(excinfo.value, ValueError)


def test_audible_rate_recording_raises_sample_rate_too_low(wav_factory):
    path = wav_factory(sample_rate_hz=48_000, frequency_hz=5_000)

    with pytest.raises(SampleRateTooLowError):
        load_audio(path)


def test_non_positive_time_expansion_argument_is_refused(wav_factory):
    path = wav_factory()

    with pytest.raises(ValueError):
        load_audio(path, time_expansion=0)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("extensible", [False, True])
def test_every_pcm_and_float_encoding_loads(wav_factory, subtype, extensible):
    path = wav_factory(subtype=subtype, extensible=extensible, frequency_hz=40_000)

    audio = load_audio(path)

    assert audio.subtype == subtype
    assert peak_frequency_hz(audio) == pytest.approx(40_000, abs=100)
    assert 0.3 < np.abs(audio.samples).max() < 0.7  # amplitude kept on the -1..1 scale


def test_stereo_file_gives_the_chosen_channel(wav_factory):
    # The factory puts 60 kHz on channel 0 and 30 kHz on channel 1.
    path = wav_factory(channels=2, frequency_hz=60_000)

    left = load_audio(path)
    right = load_audio(path, channel=1)

    assert left.channels == right.channels == 2
    assert peak_frequency_hz(left) == pytest.approx(60_000, abs=100)
    assert peak_frequency_hz(right) == pytest.approx(30_000, abs=100)


def test_missing_channel_is_refused(wav_factory):
    with pytest.raises(ValueError, match="channel 2"):
        load_audio(wav_factory(channels=2), channel=2)


def test_highpass_removes_wind_but_keeps_the_bat_band(wav_factory):
    rate = 384_000
    t = np.arange(int(0.2 * rate)) / rate
    samples = 0.4 * np.sin(2 * np.pi * 1_000 * t) + 0.4 * np.sin(2 * np.pi * 40_000 * t)
    path = wav_factory(samples=samples, sample_rate_hz=rate)

    audio = load_audio(path)

    assert band_energy(audio, 500, 1_500) < 1e-4 * band_energy(audio, 39_000, 41_000)


def test_dc_offset_does_not_ring_like_a_click_at_the_start(wav_factory):
    path = wav_factory(samples=np.full(38_400, 0.5), sample_rate_hz=384_000)

    audio = load_audio(path)

    assert np.abs(audio.samples).max() < 0.01


def test_nan_and_infinite_samples_become_silence(wav_factory):
    samples = 0.3 * np.sin(2 * np.pi * 40_000 * np.arange(38_400) / 384_000)
    samples[100:200] = np.nan
    samples[300] = np.inf
    path = wav_factory(samples=samples, subtype="FLOAT")

    audio = load_audio(path)

    assert np.isfinite(audio.samples).all()
    assert peak_frequency_hz(audio) == pytest.approx(40_000, abs=100)


def test_highpass_and_analysis_rate_follow_the_config(wav_factory):
    config = AudioConfig(analysis_rate_hz=192_000, highpass_hz=0)

    audio = load_audio(wav_factory(duration_s=0.1), config=config)

    assert audio.sample_rate_hz == 192_000
    assert audio.samples.size == pytest.approx(19_200, abs=2)


def test_odd_header_rate_is_resampled_without_a_huge_filter(wav_factory):
    audio = load_audio(wav_factory(sample_rate_hz=384_007, duration_s=0.1, frequency_hz=40_000))

    assert audio.true_sample_rate_hz == 384_007
    assert audio.samples.size == pytest.approx(25_600, abs=3)
    assert peak_frequency_hz(audio) == pytest.approx(40_000, abs=100)


def test_read_header_reports_rate_channels_frames_and_subtype(wav_factory):
    path = wav_factory(sample_rate_hz=312_500, channels=2, duration_s=0.1, subtype="PCM_24", extensible=True)

    rate, channels, frames, subtype = read_header(path)

    assert (rate, channels, frames, subtype) == (312_500, 2, 31_250, "PCM_24")


# --------------------------------------------------------------------------------------------- bad files


def test_text_file_raises_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("Pipistrellus pipistrellus, 22:31, near the canal\n" * 20)

    with pytest.raises(NotAudioError, match="notes.wav"):
        load_audio(path)


def test_zero_byte_file_raises_empty_audio(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")

    with pytest.raises(EmptyAudioError):
        load_audio(path)


def test_wav_header_without_samples_raises_empty_audio(tmp_path):
    path = tmp_path / "header_only.wav"
    sf.write(str(path), np.zeros(0), 384_000, subtype="PCM_16")

    with pytest.raises(EmptyAudioError):
        load_audio(path)
    with pytest.raises(EmptyAudioError):
        read_header(path)


def test_cut_off_copy_raises_truncated_audio(wav_factory):
    path = wav_factory(duration_s=0.1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(TruncatedAudioError, match="truncated"):
        load_audio(path)
    with pytest.raises(TruncatedAudioError):
        read_header(path)


def test_cut_off_float_extensible_copy_raises_truncated_audio(wav_factory):
    path = wav_factory(duration_s=0.1, subtype="FLOAT", extensible=True)
    data = path.read_bytes()
    path.write_bytes(data[:-1001])

    with pytest.raises(TruncatedAudioError):
        load_audio(path)


def _wav_with_format_tag(path: Path, tag: int, payload: bytes) -> Path:
    fmt = struct.pack("<HHIIHH", tag, 1, 384_000, 384_000 * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_wav_with_an_undecodable_encoding_raises_unsupported_audio(tmp_path):
    # Format tag 0x0055 is MPEG layer 3 inside a WAV container, which libsndfile does not decode.
    path = _wav_with_format_tag(tmp_path / "mp3_in_wav.wav", 0x0055, bytes(4000))

    with pytest.raises(UnsupportedAudioError, match="0x0055"):
        load_audio(path)


def test_two_millisecond_clip_raises_too_short(wav_factory):
    path = wav_factory(duration_s=0.002)

    with pytest.raises(TooShortError, match="2.0 ms"):
        load_audio(path)


def test_clip_just_over_five_milliseconds_loads(wav_factory):
    audio = load_audio(wav_factory(duration_s=0.006))

    assert audio.duration_s == pytest.approx(0.006)


def test_time_expanded_clip_is_judged_by_its_true_duration(wav_factory):
    # 30 ms in the header is 3 ms of real time at x10: too short for a call.
    path = wav_factory(duration_s=0.03, sample_rate_hz=38_400, frequency_hz=4_000)

    with pytest.raises(TooShortError):
        load_audio(path, time_expansion=10)


# --------------------------------------------------------------------------------------------- RIFF scan


def test_riff_scan_lists_chunks_and_stops_at_a_truncated_one(wav_factory):
    path = wav_factory(guano={"Make": "Elekon"})
    chunks = scan_riff_chunks(path)
    assert [c.chunk_id for c in chunks] == [b"fmt ", b"data", b"guan"]
    assert not any(c.truncated for c in chunks)

    path.write_bytes(path.read_bytes()[:-5])
    assert scan_riff_chunks(path)[-1].truncated


def test_riff_scan_returns_none_for_non_wav(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(str(path), np.zeros(1000), 48_000, format="FLAC")

    assert scan_riff_chunks(path) is None
