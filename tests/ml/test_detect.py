"""ml.detect: calls found where they are, clicks and steady noise ignored, passes grouped.

Synthetic calls are made here (tones and sweeps shaped after bats.md section 4) and by ml.synth; real
recordings from ../shared/data only have to go through without error and give sane events.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml.__main__ import main as ml_main
from ml.audio import load_audio
from ml.detect import (
    CallEvent,
    DetectConfig,
    _box_mean,
    _frame_percentile,
    detect_calls,
    detect_calls_in_samples,
    group_passes,
)

RATE_HZ = 256_000


@dataclasses.dataclass(frozen=True)
class Call:
    start_s: float
    duration_s: float
    start_hz: float
    end_hz: float
    amplitude: float = 0.05
    shape: str = "fm"  # fm: exponential sweep start_hz -> end_hz; qcf: steep start, then flat at end_hz

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


# Shapes after bats.md 4.1: pipistrelle hockey stick, Daubenton's steep FM, noctule QCF, lesser horseshoe CF,
# Natterer's very broadband FM, serotine FM-QCF.
SPECIES_LIKE_CALLS = (
    Call(0.050, 0.006, 65_000, 46_000, shape="qcf"),
    Call(0.170, 0.004, 85_000, 30_000),
    Call(0.300, 0.018, 24_000, 19_500, shape="qcf"),
    Call(0.420, 0.040, 110_500, 110_000),
    Call(0.560, 0.003, 120_000, 22_000),
    Call(0.680, 0.008, 52_000, 26_000, amplitude=0.01, shape="qcf"),
)


def render(call: Call, rate_hz: int = RATE_HZ, harmonic_gain: float = 0.0) -> np.ndarray:
    n = int(round(call.duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    if call.shape == "qcf":
        frequency = call.end_hz + (call.start_hz - call.end_hz) * np.exp(-t / (0.2 * call.duration_s))
    else:
        frequency = call.start_hz * (call.end_hz / call.start_hz) ** (t / call.duration_s)
    phase = 2 * np.pi * np.cumsum(frequency) / rate_hz
    wave = np.sin(phase) + harmonic_gain * np.sin(2 * phase)
    # Raised-cosine attack and release of 1 ms (a quarter of the call when shorter), as calls have.
    ramp = min(n // 4, int(0.001 * rate_hz))
    envelope = np.ones(n)
    envelope[:ramp] = envelope[n - ramp :][::-1] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    return call.amplitude * envelope * wave


def recording(
    calls: tuple[Call, ...] | list[Call],
    duration_s: float = 0.8,
    noise_rms: float = 0.0005,
    seed: int = 0,
    harmonic_gain: float = 0.0,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, noise_rms, int(duration_s * RATE_HZ))
    for call in calls:
        wave = render(call, harmonic_gain=harmonic_gain)
        i = int(round(call.start_s * RATE_HZ))
        samples[i : i + len(wave)] += wave[: len(samples) - i]
    return samples.astype(np.float32)


def clicks(samples: np.ndarray, times_s: np.ndarray, amplitude: float = 0.3, seed: int = 1) -> np.ndarray:
    """Rain drops / twig clicks: 40 us decaying broadband bursts."""
    rng = np.random.default_rng(seed)
    out = samples.copy()
    n = int(40e-6 * RATE_HZ)
    for t in times_s:
        i = int(t * RATE_HZ)
        burst = amplitude * rng.uniform(0.3, 1.0) * rng.normal(0, 1, n) * np.exp(-np.arange(n) / (n / 4))
        out[i : i + n] += burst[: len(out) - i].astype(np.float32)
    return out


def matching(events: tuple[CallEvent, ...], call: Call) -> list[CallEvent]:
    return [e for e in events if e.start_s < call.end_s and e.end_s > call.start_s]


def assert_found(events: tuple[CallEvent, ...], call: Call) -> CallEvent:
    found = matching(events, call)
    assert len(found) == 1, f"{call} -> {found}"
    event = found[0]
    low_hz, high_hz = sorted((call.start_hz, call.end_hz))
    assert event.start_s == pytest.approx(call.start_s, abs=0.001)
    assert event.end_s == pytest.approx(call.end_s, abs=0.0015)
    assert low_hz - 3_000 <= event.peak_hz <= high_hz + 3_000
    assert event.low_hz <= max(low_hz + 3_000, event.peak_hz)
    assert event.high_hz >= min(high_hz - 15_000, event.peak_hz)  # a sweep's faint top may fall short
    assert event.snr_db >= DetectConfig().threshold_db
    return event


# ------------------------------------------------------------------------------------------------ steps


@pytest.mark.parametrize("size", [(3, 3), (1, 3), (5, 1), (7, 5)])
@pytest.mark.parametrize("shape", [(40, 300), (2, 9)])
def test_smoothing_is_a_centred_box_mean_with_repeated_edges(size, shape) -> None:
    from scipy import ndimage

    values = np.random.default_rng(3).normal(0.0, 10.0, shape).astype(np.float32)
    expected = ndimage.uniform_filter(values.astype(np.float64), size, mode="nearest")
    smoothed = _box_mean(values, size)
    assert smoothed.dtype == np.float32
    np.testing.assert_allclose(smoothed, expected, atol=1e-4)


def test_broadband_level_is_each_frames_median_across_blocks_of_frames() -> None:
    values = np.random.default_rng(4).normal(0.0, 10.0, (111, 1000)).astype(np.float32)  # 4 blocks, 1 partial
    k = round(0.5 * 110)
    np.testing.assert_array_equal(_frame_percentile(values, 50.0), np.sort(values, axis=0)[k])


# ------------------------------------------------------------------------------------------------ calls


def test_every_species_like_call_is_found_once_with_its_time_and_frequencies() -> None:
    events = detect_calls_in_samples(recording(SPECIES_LIKE_CALLS), RATE_HZ)

    for call in SPECIES_LIKE_CALLS:
        assert_found(events, call)
    assert len(events) == len(SPECIES_LIKE_CALLS)


def test_peak_frequency_of_a_constant_frequency_call_is_exact_to_a_fraction_of_a_bin() -> None:
    call = Call(0.1, 0.03, 82_400, 82_400)
    (event,) = detect_calls_in_samples(recording([call], 0.3), RATE_HZ)
    assert event.peak_hz == pytest.approx(82_400, abs=300)


def test_tone_pulses_are_each_one_call_in_one_pass() -> None:
    calls = [Call(0.05 + 0.08 * i, 0.005, 45_000, 45_000) for i in range(8)]
    events = detect_calls_in_samples(recording(calls), RATE_HZ)

    assert [round(e.start_s, 3) for e in events] == pytest.approx([c.start_s for c in calls], abs=0.001)
    assert {e.pass_index for e in events} == {0}


def test_harmonics_of_one_call_are_one_event_spanning_both() -> None:
    call = Call(0.1, 0.004, 35_000, 25_000)  # long-eared bat: H1 and H2 (50-70 kHz) both strong
    events = detect_calls_in_samples(recording([call], 0.3, harmonic_gain=1.0), RATE_HZ)

    assert len(events) == 1
    event = events[0]
    assert event.low_hz <= 28_000
    assert event.high_hz >= 65_000


def test_faint_echo_of_a_loud_call_is_not_a_second_call() -> None:
    call = Call(0.1, 0.005, 60_000, 45_000, amplitude=0.3, shape="qcf")
    echo = dataclasses.replace(call, start_s=0.1 + 0.005 + 0.004, amplitude=0.3 * 10 ** (-28 / 20))
    events = detect_calls_in_samples(recording([call, echo], 0.3), RATE_HZ)

    assert len(events) == 1
    assert_found(events, call)


def test_two_bats_calling_apart_in_time_are_two_calls() -> None:
    pipistrelle = Call(0.10, 0.006, 65_000, 46_000, shape="qcf")
    noctule = Call(0.13, 0.018, 24_000, 19_500, shape="qcf")
    events = detect_calls_in_samples(recording([pipistrelle, noctule], 0.3), RATE_HZ)

    assert len(events) == 2
    assert_found(events, pipistrelle)
    assert_found(events, noctule)


def test_silence_and_plain_background_give_no_calls() -> None:
    assert detect_calls_in_samples(np.zeros(RATE_HZ // 2, dtype=np.float32), RATE_HZ) == ()
    assert detect_calls_in_samples(recording([], 2.0, seed=3), RATE_HZ) == ()


def test_a_clip_too_short_for_two_frames_gives_no_calls_instead_of_failing() -> None:
    assert detect_calls_in_samples(np.zeros(100, dtype=np.float32), RATE_HZ) == ()


# ------------------------------------------------------------------------------------------------ noise


def test_broadband_clicks_alone_give_no_calls() -> None:
    rng = np.random.default_rng(5)
    rain = clicks(recording([], 2.0), np.sort(rng.uniform(0.01, 1.99, 60)))

    assert len(detect_calls_in_samples(rain, RATE_HZ)) <= 1


def test_calls_are_found_among_clicks_and_the_clicks_are_not() -> None:
    rng = np.random.default_rng(6)
    samples = clicks(recording(SPECIES_LIKE_CALLS), np.sort(rng.uniform(0.01, 0.79, 30)))
    events = detect_calls_in_samples(samples, RATE_HZ)

    for call in SPECIES_LIKE_CALLS:
        assert matching(events, call), f"{call} lost among clicks"
    assert len(events) <= len(SPECIES_LIKE_CALLS) + 1


def steady_insects(duration_s: float, seed: int = 7) -> np.ndarray:
    """Bush-cricket-like steady song: loud tones at 16.5 and 31 kHz with slow tremolo, plus a noise band."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    song = 0.05 * (1 + 0.2 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 16_500 * t)
    song += 0.03 * (1 + 0.2 * np.sin(2 * np.pi * 2 * t + 1)) * np.sin(2 * np.pi * 31_000 * t)
    frequencies_hz = np.fft.rfftfreq(len(t), 1 / RATE_HZ)
    in_band = (frequencies_hz > 20_000) & (frequencies_hz < 40_000)
    band = np.fft.irfft(np.fft.rfft(rng.normal(0, 1, len(t))) * in_band, len(t))
    return (song + 0.01 * band / band.std()).astype(np.float32)


def test_steady_insect_song_alone_gives_no_calls() -> None:
    samples = recording([], 2.0) + steady_insects(2.0)
    assert len(detect_calls_in_samples(samples, RATE_HZ)) <= 1


def test_calls_over_steady_insect_song_are_still_found() -> None:
    samples = recording(SPECIES_LIKE_CALLS) + steady_insects(0.8)
    events = detect_calls_in_samples(samples, RATE_HZ)

    for call in SPECIES_LIKE_CALLS:
        assert matching(events, call), f"{call} lost in insect song"
    assert len(events) <= len(SPECIES_LIKE_CALLS) + 1


def test_loud_low_frequency_wind_neither_hides_calls_nor_adds_any(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = int(0.8 * RATE_HZ)
    gusts = np.cumsum(rng.normal(0, 1, n))  # brown noise: its energy is at the lowest frequencies
    gusts = 0.4 * (gusts - np.convolve(gusts, np.ones(2001) / 2001, mode="same")) / np.abs(gusts).max()
    samples = np.clip(recording(SPECIES_LIKE_CALLS) + gusts, -1, 1)
    path = tmp_path / "windy.wav"
    sf.write(path, samples, RATE_HZ, subtype="PCM_16")

    events = detect_calls(load_audio(path))

    for call in SPECIES_LIKE_CALLS:
        assert_found(events, call)
    assert len(events) == len(SPECIES_LIKE_CALLS)


# ------------------------------------------------------------------------------------------------ time


def test_time_expanded_file_gives_calls_in_true_time_and_frequency(tmp_path: Path) -> None:
    calls = [Call(0.05 + 0.1 * i, 0.005, 60_000, 45_000, shape="qcf") for i in range(4)]
    true = recording(calls, 0.5)
    header_rate_hz = 38_400  # 10x time expansion of a 384 kHz recording; resample 256 -> 384 kHz first
    expanded = np.interp(np.arange(int(0.5 * 384_000)) / 384_000, np.arange(len(true)) / RATE_HZ, true)
    path = tmp_path / "te.wav"
    sf.write(path, expanded.astype(np.float32), header_rate_hz, subtype="PCM_16")

    events = detect_calls(load_audio(path, time_expansion=10))

    assert len(events) == len(calls)
    for call in calls:
        assert_found(events, call)


def test_a_given_spectrogram_is_used_instead_of_a_new_one() -> None:
    from ml.spectrogram import compute_spectrogram

    samples = recording(SPECIES_LIKE_CALLS)
    spectrogram = compute_spectrogram(samples, RATE_HZ)
    assert detect_calls_in_samples(samples, RATE_HZ, spectrogram=spectrogram) == detect_calls_in_samples(
        samples, RATE_HZ
    )
    silent = compute_spectrogram(np.zeros_like(samples), RATE_HZ)
    assert detect_calls_in_samples(samples, RATE_HZ, spectrogram=silent) == ()


# ------------------------------------------------------------------------------------------------ passes


def test_calls_under_a_second_apart_form_one_pass() -> None:
    assert group_passes([0.0, 0.1, 0.5, 1.4]) == [0, 0, 0, 0]


def test_a_gap_of_a_second_or_more_starts_a_new_pass_and_lone_calls_belong_to_none() -> None:
    assert group_passes([0.0, 0.2, 1.2, 3.0, 3.5, 3.9, 10.0]) == [0, 0, -1, 1, 1, 1, -1]


def test_pass_indices_follow_the_order_of_the_calls_given() -> None:
    assert group_passes([5.0, 0.0, 5.5, 0.3]) == [1, 0, 1, 0]


def test_pass_gap_and_minimum_calls_are_settings() -> None:
    starts = [0.0, 0.4, 0.8, 2.0, 2.5]
    assert group_passes(starts, max_gap_s=0.3) == [-1] * 5
    assert group_passes(starts, min_calls=3) == [0, 0, 0, -1, -1]
    assert group_passes([]) == []


def test_detected_calls_carry_their_pass() -> None:
    calls = [Call(0.05 + 0.09 * i, 0.005, 50_000, 45_000, shape="qcf") for i in range(5)]
    calls.append(Call(1.9, 0.005, 50_000, 45_000, shape="qcf"))
    events = detect_calls_in_samples(recording(calls, 2.0), RATE_HZ)

    assert [e.pass_index for e in events] == [0, 0, 0, 0, 0, -1]


# ------------------------------------------------------------------------------------------------ ml.synth


SYNTH_LABELS = (
    "Pipistrellus pygmaeus",
    "Nyctalus noctula",
    "Myotis daubentonii",
    "Eptesicus serotinus",
    "Rhinolophus hipposideros",
    "Plecotus auritus/austriacus",
)


@pytest.mark.parametrize("seed", [11, 12])
def test_every_clear_call_of_the_synthetic_generator_is_found(tmp_path: Path, seed: int) -> None:
    from ml.dataset import read_dataset
    from ml.synth import generate_dataset

    folder = generate_dataset(tmp_path / "synth", 1, seed, "easy", labels=SYNTH_LABELS)
    checked = 0
    for file in read_dataset(folder):
        events = detect_calls(load_audio(file.path, time_expansion=file.time_expansion))
        calls = [e for e in file.events if e.species != "noise"]
        for call in calls:
            # Clear: an echolocation call at least 25 dB over the generator's floor, no other call within
            # 20 ms (overlapping bats are the model's problem, not a detector invariant).
            if call.call_type != "echolocation" or float(call.extra.get("snr_db") or 0) < 25:
                continue
            neighbours = [o for o in calls if o.end_s > call.start_s - 0.02 and o.start_s < call.end_s + 0.02]
            if len(neighbours) > 1:
                continue
            checked += 1
            found = [e for e in events if e.start_s < call.end_s and e.end_s > call.start_s]
            assert len(found) == 1, f"{file.path.name}: {call} -> {found}"
            assert found[0].start_s == pytest.approx(call.start_s, abs=0.0025)
            # the generator adds clutter echoes, which may lengthen the detected call by a few ms
            assert call.end_s - 0.0015 <= found[0].end_s <= call.end_s + 0.010
    assert checked >= 30


# ------------------------------------------------------------------------------------------------ real data


def _real_files(shared_data: Path) -> list[tuple[Path, float]]:
    recordings = shared_data / "recordings"
    files = [
        (recordings / row["path"].removeprefix("recordings/"), float(row["time_expansion"] or 1))
        for row in csv.DictReader((recordings / "manifest.csv").open())
    ]
    files += [
        (recordings / "labelled-europe" / row["path"], float(row["time_expansion"] or 1))
        for row in csv.DictReader((recordings / "labelled-europe" / "labels.csv").open())
    ]
    return files


@pytest.mark.slow
def test_every_real_recording_is_detected_without_error_and_gives_sane_calls(shared_data: Path) -> None:
    files = _real_files(shared_data)
    assert len(files) == 60
    calls_per_folder: dict[str, int] = {}
    for path, time_expansion in files:
        audio = load_audio(path, time_expansion=time_expansion)
        events = detect_calls(audio)
        for e in events:
            assert 0 <= e.start_s < e.end_s <= audio.duration_s + 0.001, (path.name, e)
            assert 15_000 <= e.low_hz <= e.peak_hz <= e.high_hz <= min(125_000, audio.true_sample_rate_hz / 2)
        starts = [e.start_s for e in events]
        assert starts == sorted(starts)
        folder = path.relative_to(shared_data / "recordings").parts[0]
        calls_per_folder[folder] = calls_per_folder.get(folder, 0) + len(events)
        if path.name == "AudiomothNoBatCalls.WAV":
            assert len(events) <= 1
    # every folder but the tiny single-call clips holds bats the detector must see
    assert all(calls_per_folder[f] >= 20 for f in ("whombat", "guano", "time-expanded", "labelled-europe"))


# ------------------------------------------------------------------------------------------------ command


def test_detect_command_prints_one_json_line_per_file_in_true_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [Call(0.05 + 0.1 * i, 0.005, 60_000, 45_000, shape="qcf") for i in range(3)]
    true = recording(calls, 0.4)
    expanded = np.interp(np.arange(int(0.4 * 384_000)) / 384_000, np.arange(len(true)) / RATE_HZ, true)
    sf.write(tmp_path / "te.wav", expanded.astype(np.float32), 38_400, subtype="PCM_16")
    sf.write(tmp_path / "real.wav", true, RATE_HZ, subtype="PCM_16")

    files = [str(tmp_path / "te.wav"), str(tmp_path / "real.wav")]
    code = ml_main(["detect", *files, "--json", "--time-expansion", "10"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [Path(line["file"]).name for line in lines] == ["te.wav", "real.wav"]
    te, real = lines
    assert te["time_expansion"] == 10 and te["sample_rate_hz"] == 384_000
    assert real["time_expansion"] == 10 and real["sample_rate_hz"] == 2_560_000  # the option applies to all
    starts = [c["start_s"] for c in te["calls"]]
    assert starts == pytest.approx([c.start_s for c in calls], abs=0.001)
    assert set(te["calls"][0]) == {"start_s", "end_s", "low_hz", "high_hz", "peak_hz", "snr_db", "pass"}
    assert all(c["pass"] == 0 for c in te["calls"])
    assert 44_000 <= te["calls"][0]["peak_hz"] <= 61_000


def test_detect_command_reports_a_bad_file_and_exits_1_after_the_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, recording(SPECIES_LIKE_CALLS), RATE_HZ, subtype="PCM_16")
    bad = tmp_path / "notes.wav"
    bad.write_text("not a recording")

    code = ml_main(["detect", str(bad), str(good), "--json"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert lines[0]["file"].endswith("notes.wav") and "error" in lines[0]
    assert len(lines[1]["calls"]) == len(SPECIES_LIKE_CALLS)
