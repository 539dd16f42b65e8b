"""ml.synth: synthetic recordings whose labels are ground truth for the detector and the model."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ml.__main__ import main
from ml.audio import load_audio
from ml.dataset import DatasetFile, EventLabel, read_dataset
from ml.labels import DEFAULT_LABEL_SET, NOISE
from ml.metadata import read_metadata
from ml.synth import (
    CLEAR_CALL_SNR_DB,
    EASY,
    HARD,
    NOISE_KINDS,
    BatPass,
    NoiseSource,
    RecordingSpec,
    SynthConfig,
    generate_dataset,
    random_recording_spec,
    synthesise_recording,
)
from ml.synth_species import SPECIES_PARAMETERS, parameters_for

PIP = "Pipistrellus pipistrellus"


def _pass(
    species: str = PIP,
    *,
    duration_s: float = 2.0,
    distance_m: float = 3.0,
    individual: int = 0,
    window_s: tuple[float, float] | None = None,
    buzz: bool = False,
    social: bool = False,
) -> BatPass:
    window = window_s or (0.0, duration_s)
    return BatPass(
        species,
        individual,
        closest_time_s=0.5 * (window[0] + window[1]),
        closest_distance_m=distance_m,
        speed_m_s=7.0,
        window_s=window,
        feeding_buzz=buzz,
        social_calls=social,
    )


def _render(
    *bats: BatPass,
    duration_s: float = 2.0,
    rate: int = 384_000,
    noise: tuple[NoiseSource, ...] = (),
    seed: int = 0,
) -> tuple[np.ndarray, int, tuple[EventLabel, ...]]:
    spec = RecordingSpec(
        duration_s=duration_s, sample_rate_hz=rate, bats=bats, noise=noise, noise_offset_db=-6.0
    )
    return synthesise_recording(spec, np.random.default_rng(seed))


def _level_below_band_maximum_db(samples: np.ndarray, rate: int, e: EventLabel, frequency_hz: float) -> float:
    """How far the call's spectrum within 2 % of `frequency_hz` lies below its maximum inside the event box."""
    a, b = int(e.start_s * rate), int(math.ceil(e.end_s * rate))
    spectrum = np.abs(np.fft.rfft(samples[a:b], 1 << 15))
    freqs = np.fft.rfftfreq(1 << 15, 1 / rate)
    band = (freqs >= e.low_hz) & (freqs <= e.high_hz)
    near = band & (np.abs(freqs - frequency_hz) <= 0.02 * frequency_hz)
    return float(20 * np.log10(spectrum[band].max() / spectrum[near].max()))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, tuple[DatasetFile, ...]]:
    """One file per class of the default label set, made through the command line like a user would."""
    out = tmp_path_factory.mktemp("synth") / "ds"
    assert main(["synth", "--out", str(out), "--per-class", "1", "--seed", "7"]) == 0
    return out, read_dataset(out)


# --------------------------------------------------------------------------------------------- the dataset


def test_command_line_writes_one_file_per_class_with_labels_and_events(dataset):
    out, files = dataset
    assert [f.species for f in files] == list(DEFAULT_LABEL_SET)
    assert all(
        f.path.is_file() and f.licence == "CC0-1.0" and f.source.startswith("synthetic") for f in files
    )
    assert (out / "events.csv").is_file() and (out / "synth.json").is_file()
    for f in files:
        info = sf.info(f.path)
        assert (info.channels, info.subtype) == (1, "PCM_16")


def test_every_event_lies_inside_its_file_and_below_nyquist(dataset):
    _, files = dataset
    for f in files:
        info = sf.info(f.path)
        true_rate = info.samplerate * f.time_expansion
        duration_s = info.frames / true_rate
        assert f.events, f.path.name
        for e in f.events:
            assert 0.0 <= e.start_s < e.end_s <= duration_s + 1e-6, (f.path.name, e)
            assert 0.0 <= e.low_hz <= e.high_hz <= true_rate / 2, (f.path.name, e)


def test_file_labels_agree_with_their_events(dataset):
    _, files = dataset
    for f in files:
        if f.species == NOISE:
            assert f.call_types == ("none",)
            assert {(e.species, e.call_type) for e in f.events} == {(NOISE, "none")}
            continue
        own = [e for e in f.events if e.species == f.species]
        assert len(own) >= 2, f.path.name  # at least a pass
        assert f.call_types[0] == "echolocation"
        assert set(f.call_types) == {e.call_type for e in own}
        others = {e.species for e in f.events} - {f.species, NOISE}
        assert others == set(filter(None, f.extra["other_species"].split(";")))
        for species in others:  # the file's species is the dominant one
            assert sum(e.species == species for e in f.events) < len(own)


def test_labelled_calls_are_in_the_audio_at_their_peak_frequency(dataset):
    _, files = dataset
    checked = 0
    for f in files:
        samples, header_rate = sf.read(f.path, dtype="float32")
        rate = int(header_rate * f.time_expansion)
        for e in f.events:
            alone = not any(o is not e and o.start_s < e.end_s and e.start_s < o.end_s for o in f.events)
            if e.species == NOISE or float(e.extra["snr_db"]) < 20 or not alone:
                continue
            # The spectral maximum of a broadband FM call is flat over several kHz, where background noise and
            # the call's echo move its highest bin about; the labelled peak must be on that maximum (3 dB).
            peak_hz = float(e.extra["peak_hz"])
            assert _level_below_band_maximum_db(samples, rate, e, peak_hz) < 3.0, (f.path.name, e)
            checked += 1
    assert checked > 100


def test_same_seed_gives_identical_files_and_another_seed_different_ones(tmp_path):
    labels = (PIP, NOISE)
    a = generate_dataset(tmp_path / "a", 2, seed=3, labels=labels)
    b = generate_dataset(tmp_path / "b", 2, seed=3, labels=labels)
    c = generate_dataset(tmp_path / "c", 2, seed=4, labels=labels)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "events.csv").read_bytes() != (c / "events.csv").read_bytes()


def test_more_files_per_class_keep_the_first_ones(tmp_path):
    one = generate_dataset(tmp_path / "one", 1, seed=5, labels=(PIP,))
    three = generate_dataset(tmp_path / "three", 3, seed=5, labels=(PIP,))
    name = "pipistrellus_pipistrellus_0000.wav"
    assert (one / name).read_bytes() == (three / name).read_bytes()


def test_time_expanded_files_with_guano_te_load_at_the_true_rate(tmp_path):
    config = SynthConfig(
        sample_rates_hz=(384_000,), sample_rate_weights=(1.0,), time_expanded_share=1.0, guano_te_share=1.0
    )
    out = generate_dataset(tmp_path, 1, seed=1, labels=(PIP,), config=config)
    (f,) = read_dataset(out)
    assert f.time_expansion == 10.0 and f.extra["guano_te"] == "yes"
    meta = read_metadata(f.path)
    assert meta.header_sample_rate_hz == 38_400 and meta.time_expansion == 10
    assert meta.guano["Samplerate"] == "384000"
    audio = load_audio(f.path)  # no factor given: GUANO TE must be found
    assert audio.true_sample_rate_hz == 384_000
    assert audio.duration_s == pytest.approx(float(f.extra["duration_s"]), abs=1e-4)
    assert max(e.end_s for e in f.events) <= audio.duration_s


def test_time_expanded_files_without_guano_carry_the_factor_in_labels_csv(tmp_path):
    config = SynthConfig(
        sample_rates_hz=(500_000,), sample_rate_weights=(1.0,), time_expanded_share=1.0, guano_te_share=0.0
    )
    out = generate_dataset(tmp_path, 1, seed=2, labels=(PIP,), config=config)
    (f,) = read_dataset(out)
    assert f.time_expansion == 10.0 and f.extra["guano_te"] == "no"
    meta = read_metadata(f.path)
    assert meta.header_sample_rate_hz == 50_000 and meta.time_expansion is None
    audio = load_audio(f.path, time_expansion=f.time_expansion)
    assert audio.true_sample_rate_hz == 500_000
    assert audio.duration_s == pytest.approx(float(f.extra["duration_s"]), abs=1e-4)


def test_only_the_chosen_sample_rates_are_used(tmp_path):
    config = SynthConfig(sample_rates_hz=(256_000,), sample_rate_weights=(1.0,), time_expanded_share=0.0)
    out = generate_dataset(tmp_path, 2, seed=1, labels=("Myotis nattereri",), config=config)
    for f in read_dataset(out):
        assert sf.info(f.path).samplerate == 256_000
        assert all(e.high_hz <= 128_000 for e in f.events)  # Natterer's 150 kHz start is cut at Nyquist


# ---------------------------------------------------------------------------------------------- recordings


def test_same_rng_seed_gives_the_same_samples_and_events():
    spec = random_recording_spec("Nyctalus noctula", np.random.default_rng(11), HARD)
    a = synthesise_recording(spec, np.random.default_rng(12))
    b = synthesise_recording(spec, np.random.default_rng(12))
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]


def test_noise_only_file_holds_every_noise_kind_and_no_bat():
    noise = tuple(NoiseSource(kind, 25.0) for kind in NOISE_KINDS)
    samples, rate, events = _render(noise=noise, seed=4)
    assert {e.species for e in events} == {NOISE} and {e.call_type for e in events} == {"none"}
    assert {e.extra["noise_kind"] for e in events} == set(NOISE_KINDS)
    insects = [e for e in events if e.extra["noise_kind"] == "insect"]
    assert all(9_000 < e.low_hz and e.high_hz < 43_000 for e in insects)  # stridulation at 10-40 kHz
    wind = next(e for e in events if e.extra["noise_kind"] == "wind")
    assert wind.high_hz <= 6_000  # wind stays below the bat band


def test_rain_and_clicks_are_impulses_far_above_the_background():
    samples, _, events = _render(noise=(NoiseSource("rain", 25.0), NoiseSource("click", 30.0)), seed=6)
    assert {e.extra["noise_kind"] for e in events} == {"rain", "click"}
    assert all(e.duration_s < 0.005 and e.high_hz > 100_000 for e in events)  # short and broadband
    assert np.abs(samples).max() > 20 * np.median(np.abs(samples))


def test_insects_sometimes_sing_inside_the_bat_band():
    carriers = []
    for seed in range(12):
        _, _, events = _render(noise=(NoiseSource("insect", 20.0),), duration_s=0.5, seed=seed)
        carriers += [0.5 * (e.low_hz + e.high_hz) for e in events]
    assert any(c > 20_000 for c in carriers) and any(c < 20_000 for c in carriers)


def test_random_noise_class_files_have_no_bats():
    for seed in range(20):
        spec = random_recording_spec(NOISE, np.random.default_rng(seed), HARD)
        assert spec.bats == ()


def test_two_bats_in_one_file_are_both_labelled_and_the_first_dominates():
    main_bat = _pass(PIP, duration_s=2.5)
    second = _pass("Nyctalus noctula", duration_s=2.5, distance_m=15.0, individual=1, window_s=(0.5, 2.5))
    _, _, events = _render(main_bat, second, duration_s=2.5)
    pips = [e for e in events if e.species == PIP]
    noctules = [e for e in events if e.species == "Nyctalus noctula"]
    assert noctules and len(pips) > len(noctules)
    assert {e.extra["individual"] for e in pips} == {"0"} and {e.extra["individual"] for e in noctules} == {
        "1"
    }
    assert all(e.start_s >= 0.5 for e in noctules)


def test_a_loud_second_bat_never_shows_more_clear_calls_than_the_faint_main_one():
    # A long-eared bat far off (few calls clear of the noise) and a pipistrelle close by: the file is labelled
    # long-eared, so the pipistrelle must not be seen more often, however many faint long-eared calls there are.
    for seed in range(6):
        faint_main = _pass("Plecotus auritus/austriacus", duration_s=3.0, distance_m=6.0)
        loud_second = _pass(PIP, duration_s=3.0, distance_m=1.5, individual=1)
        _, _, events = _render(faint_main, loud_second, duration_s=3.0, seed=seed)
        clear = Counter(e.species for e in events if float(e.extra["snr_db"]) >= CLEAR_CALL_SNR_DB)
        assert clear[PIP] < max(clear["Plecotus auritus/austriacus"], 1), seed
        assert sum(e.species == PIP for e in events) < sum(e.species != PIP for e in events), seed


def test_two_pipistrelles_overlap_as_two_individuals():
    _, _, events = _render(_pass(PIP), _pass(PIP, individual=1, distance_m=5.0))
    assert {e.extra["individual"] for e in events if e.species == PIP} == {"0", "1"}


def test_feeding_buzz_interval_falls_to_about_5_ms_with_shorter_calls():
    _, _, events = _render(_pass(PIP, duration_s=2.5, distance_m=2.0, buzz=True), duration_s=2.5)
    buzz = [e for e in events if e.call_type == "feeding_buzz"]
    search = [e for e in events if e.call_type == "echolocation"]
    assert 15 <= len(buzz) <= 40  # bats.md 4.3: ~15-40 calls
    intervals_ms = np.diff([e.start_s for e in buzz]) * 1e3
    assert 4.5 <= intervals_ms.min() and np.median(intervals_ms[-8:]) <= 6.5  # buzz II: 5-6 ms
    assert max(e.duration_s for e in buzz[-8:]) < 1e-3 < np.median([e.duration_s for e in search])
    # Buzz II calls sit ~10 kHz lower than search calls (bats.md 4.3).
    assert np.median([float(e.extra["peak_hz"]) for e in buzz[-8:]]) < 0.85 * np.median(
        [float(e.extra["peak_hz"]) for e in search]
    )


def test_common_pipistrelle_song_has_terminal_frequency_near_16_khz():
    _, _, events = _render(_pass(PIP, duration_s=3.0, distance_m=2.0, social=True), duration_s=3.0, seed=2)
    social = [e for e in events if e.call_type == "social_call"]
    assert social
    for e in social:
        assert 14_500 <= e.low_hz <= 17_500  # 16.0 +- 0.8 kHz, plus Doppler
        assert 0.018 <= e.duration_s <= 0.030  # 25.0 +- 3.9 ms


def test_horseshoe_calls_carry_their_energy_in_the_second_harmonic():
    samples, rate, events = _render(_pass("Rhinolophus ferrumequinum", distance_m=2.0), seed=3)
    e = max((e for e in events if e.species != NOISE), key=lambda e: float(e.extra["snr_db"]))
    a, b = int(e.start_s * rate), int(e.end_s * rate)
    spectrum = np.abs(np.fft.rfft(samples[a:b], 1 << 16)) ** 2
    freqs = np.fft.rfftfreq(1 << 16, 1 / rate)
    cf = float(e.extra["peak_hz"])
    assert 77_000 <= cf <= 86_000
    h1 = spectrum[(freqs > 0.45 * cf) & (freqs < 0.55 * cf)].max()
    h2 = spectrum[(freqs > 0.95 * cf) & (freqs < 1.05 * cf)].max()
    assert 10 * np.log10(h2 / h1) > 12  # H1 ~20 dB under the CF


def test_long_eared_bat_calls_have_two_strong_harmonics():
    samples, rate, events = _render(_pass("Plecotus auritus/austriacus", distance_m=1.0), seed=5)
    e = max((e for e in events if e.species != NOISE), key=lambda e: float(e.extra["snr_db"]))
    a, b = int(e.start_s * rate), int(e.end_s * rate)
    spectrum = np.abs(np.fft.rfft(samples[a:b], 1 << 15)) ** 2
    freqs = np.fft.rfftfreq(1 << 15, 1 / rate)
    h1 = spectrum[(freqs >= e.low_hz) & (freqs <= e.high_hz)].max()  # the box holds the fundamental
    h2 = spectrum[(freqs > 1.05 * e.high_hz) & (freqs < 2.1 * e.high_hz)].max()
    assert abs(10 * np.log10(h2 / h1)) < 8


@pytest.mark.parametrize(
    ("species", "variants"),
    [("Nyctalus noctula", {"chip", "chop"}), ("Barbastella barbastellus", {"A", "B"})],
)
def test_alternating_species_switch_call_type_from_call_to_call(species, variants):
    _, _, events = _render(_pass(species, duration_s=3.0, distance_m=3.0), duration_s=3.0, seed=1)
    sequence = [e.extra["variant"] for e in events if e.species == species]
    assert set(sequence) == variants
    switches = sum(a != b for a, b in zip(sequence, sequence[1:], strict=False))
    assert switches >= 0.6 * (len(sequence) - 1)


def test_level_peaks_at_closest_approach_and_falls_with_distance():
    bat = _pass("Pipistrellus pygmaeus", duration_s=3.0, distance_m=3.0)
    _, _, events = _render(bat, duration_s=3.0)
    calls = [e for e in events if e.species != NOISE]
    snr = np.array([float(e.extra["snr_db"]) for e in calls])
    loudest = calls[int(np.argmax(snr))]
    assert abs(loudest.start_s - bat.closest_time_s) < 0.15
    assert snr[0] < snr.max() - 10 and snr[-1] < snr.max() - 10


def test_doppler_shift_lowers_the_constant_frequency_once_the_bat_has_passed():
    # A horseshoe's CF is steady from call to call, so the shift (~+-2 % at 7 m/s) stands out.
    bat = _pass("Rhinolophus hipposideros", duration_s=2.0, distance_m=1.0)
    _, _, events = _render(bat)
    calls = [e for e in events if e.species != NOISE]
    before = np.median([float(e.extra["peak_hz"]) for e in calls if e.end_s < bat.closest_time_s - 0.2])
    after = np.median([float(e.extra["peak_hz"]) for e in calls if e.start_s > bat.closest_time_s + 0.2])
    assert 1.02 < before / after < 1.05


def test_hard_files_are_fainter_busier_and_richer_in_buzzes_than_easy_ones():
    def draw(level):
        specs = [
            random_recording_spec(label, np.random.default_rng([i, n]), level)
            for i, label in enumerate(DEFAULT_LABEL_SET)
            if label != NOISE
            for n in range(15)
        ]
        return (
            np.mean([s.noise_offset_db for s in specs]),
            np.mean([len(s.bats) > 1 for s in specs]),
            np.mean([len(s.noise) for s in specs]),
            np.mean([s.bats[0].feeding_buzz for s in specs]),
        )

    easy, hard = draw(EASY), draw(HARD)
    assert all(h > e for h, e in zip(hard, easy, strict=False)), (easy, hard)


def test_command_line_refuses_zero_files_per_class(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "ds"), "--per-class", "0"]) == 2
    assert "--per-class must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_species_without_parameters_in_bats_md_are_not_invented(tmp_path):
    with pytest.raises(KeyError, match="Myotis myotis"):
        generate_dataset(tmp_path / "ds", 1, seed=0, labels=(PIP, "Myotis myotis"))
    assert not (tmp_path / "ds").exists()  # refused before a single file was written
    assert set(SPECIES_PARAMETERS) == set(DEFAULT_LABEL_SET) - {NOISE}
    for species in ("Myotis myotis", "Myotis bechsteinii", "Eptesicus nilssonii"):
        with pytest.raises(KeyError, match="bats.md"):
            parameters_for(species)
        with pytest.raises(KeyError):
            random_recording_spec(species, np.random.default_rng(0))


def test_every_class_gets_calls_within_its_literature_peak_range_at_close_range():
    for species in SPECIES_PARAMETERS:
        _, _, events = _render(_pass(species, duration_s=1.5, distance_m=2.0), duration_s=1.5)
        peaks_khz = [float(e.extra["peak_hz"]) / 1e3 for e in events if e.species == species]
        lo, hi = parameters_for(species).literature.peak_khz
        assert lo - 4 <= np.median(peaks_khz) <= hi + 4, (species, np.median(peaks_khz))


def test_difficulty_presets_are_plain_dataclasses_a_caller_can_adjust():
    louder = dataclasses.replace(HARD, noise_offset_db=(-20.0, -20.0))
    spec = random_recording_spec(PIP, np.random.default_rng(0), louder)
    assert spec.noise_offset_db == -20.0
