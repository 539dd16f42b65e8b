"""ml.infer: calls become passes and a recording-level answer; analyse runs end to end with a tiny model.

The aggregation tests feed chosen per-call probabilities to `ml.infer.aggregate`, so pass building and
fallback are checked exactly. The end-to-end tests train one tiny model per test session (a three-class
synthetic set: common pipistrelle, noctule, noise) and analyse generated files with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from ml.infer import Analysis, CallResult, InferConfig, aggregate, analyse, as_dict
from ml.labels import BAT, CALL_TYPES, NOISE

PIP = "Pipistrellus pipistrellus"
PYG = "Pipistrellus pygmaeus"
NOC = "Nyctalus noctula"
TINY_LABELS = (PIP, NOC, NOISE)
REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------ a tiny trained model

_TINY_MODEL: dict[str, Path] = {}


def tiny_model_file(base: Path) -> Path:
    """Train (once per test process) a tiny CNN on a small synthetic set of TINY_LABELS; its checkpoint path.

    Shared by test_infer, test_explain and test_real_recordings_analyse, so a session trains it once.
    """
    if "path" in _TINY_MODEL:
        return _TINY_MODEL["path"]
    import torch

    from ml.synth import generate_dataset
    from ml.train import TrainConfig, train
    from ml.training_data import DataConfig

    data = generate_dataset(base / "tiny-synth", per_class=10, seed=11, difficulty="easy", labels=TINY_LABELS)
    config = TrainConfig(
        name="tiny", max_epochs=20, patience=20, channels=(8, 16, 16), hidden_units=32, threads=1,
        max_calls_per_file=80,
    )  # fmt: skip
    threads = torch.get_num_threads()
    try:
        result = train(
            [data],
            base / "tiny.pt",
            seed=0,
            label_set=TINY_LABELS,
            config=config,
            data_config=DataConfig(max_calls_per_file=80),
        )
    finally:
        torch.set_num_threads(threads)
    _TINY_MODEL["path"] = result.path
    return result.path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from ml.model import load_model

    return load_model(tiny_model_file(tmp_path_factory.getbasetemp() / "ml-tiny-model"))


def write_synthetic_file(
    path: Path, species: tuple[str, ...], *, seed: int, duration_s: float = 3.0, sample_rate_hz: int = 384_000
) -> Path:
    """A file with one bat of each of `species` flying past (the first loudest); no noise sources."""
    from ml.synth import EASY, BatPass, RecordingSpec, synthesise_recording

    rng = np.random.default_rng(seed)
    bats = tuple(
        BatPass(
            species=label, individual=k, closest_time_s=duration_s * (0.3 + 0.4 * k),
            closest_distance_m=3.0 + 3.0 * k, speed_m_s=6.0, window_s=(0.0, duration_s),
            feeding_buzz=False, social_calls=False,
        )
        for k, label in enumerate(species)
    )  # fmt: skip
    spec = RecordingSpec(duration_s=duration_s, sample_rate_hz=sample_rate_hz, bats=bats, difficulty=EASY)
    samples, rate_hz, _ = synthesise_recording(spec, rng)
    sf.write(path, samples, rate_hz, subtype="PCM_16")
    return path


# ------------------------------------------------------------------------------------ aggregation, exactly


@dataclass(frozen=True)
class Event:
    start_s: float
    end_s: float
    low_hz: float = 40_000.0
    high_hz: float = 70_000.0
    peak_hz: float = 46_000.0
    snr_db: float = 20.0
    pass_index: int = -1


LABELS4 = (PIP, PYG, NOC, NOISE)
FAKE_MODEL = SimpleNamespace(
    label_set=LABELS4, call_types=CALL_TYPES, metrics={"threshold": 0.7}, version="fake"
)
FAKE_AUDIO = SimpleNamespace(true_sample_rate_hz=384_000, time_expansion=1.0, duration_s=5.0)


def probs(label: str, p: float = 0.95, second: str | None = None) -> list[float]:
    """A row of species probabilities: `p` on `label`, the rest on `second` (else spread evenly)."""
    row = np.full(len(LABELS4), 0.0)
    row[LABELS4.index(label)] = p
    if second is None:
        others = [i for i, c in enumerate(LABELS4) if c != label]
        row[others] = (1 - p) / len(others)
    else:
        row[LABELS4.index(second)] = 1 - p
    return list(row)


def call_type(kind: str) -> list[float]:
    row = np.full(len(CALL_TYPES), 0.02)
    row[CALL_TYPES.index(kind)] = 1 - 0.02 * (len(CALL_TYPES) - 1)
    return list(row)


# Where each class's echolocation calls peak (inside its range in ml.plausibility), so that the fake calls
# are plausible for the class the fake model gives them.
TYPICAL_PEAK_HZ = {PIP: 46_000.0, PYG: 55_000.0, NOC: 21_000.0, NOISE: 46_000.0}


def run(
    calls: list[tuple[float, list[float], str]],
    config: InferConfig = InferConfig(),
    peak_hz: float | None = None,
    novel: list[bool] | None = None,
) -> Analysis:
    """calls: (start_s, species probability row, call type); each call peaks where its most probable class
    calls (TYPICAL_PEAK_HZ), or at `peak_hz` when given."""
    events = [
        Event(start, start + 0.005, peak_hz=peak_hz or TYPICAL_PEAK_HZ[LABELS4[int(np.argmax(row))]])
        for start, row, _ in calls
    ]
    species = np.array([row for _, row, _ in calls], dtype=np.float32).reshape(len(calls), len(LABELS4))
    types = np.array([call_type(kind) for _, _, kind in calls], dtype=np.float32).reshape(
        len(calls), len(CALL_TYPES)
    )
    flags = None if novel is None else np.array(novel, dtype=bool)
    return aggregate("x.wav", FAKE_AUDIO, events, species, types, FAKE_MODEL, config, novel=flags)


def test_a_species_whose_calls_never_peak_there_is_not_the_answer_but_the_call_stays_a_bat():
    # A model sure of "noctule" for echolocation calls at 46 kHz (noctules call at 18-25 kHz): the answer
    # falls back to "some bat", never to another species and never to noise; the model's opinion stays shown.
    analysis = run([(0.1 * k, probs(NOC), "echolocation") for k in range(6)], peak_hz=46_000.0)

    assert analysis.species == BAT and analysis.species_present == (BAT,)
    assert {call.species for call in analysis.calls} == {BAT}
    assert [p.species for p in analysis.passes] == [BAT]
    assert analysis.top[0][0] == NOC and analysis.calls[0].species_probabilities[0][0] == NOC


def test_calls_unlike_the_training_data_are_some_bat_whatever_the_model_says():
    # ml.novelty flags calls whose hidden activations lie far from every trained class (a tropical bat):
    # a sure "pipistrelle" at a pipistrelle's frequency is then no pipistrelle and no Pipistrellus sp.
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(6)]

    flagged = run(calls, novel=[True] * 6)
    unflagged = run(calls, novel=[False] * 6)

    assert flagged.species == BAT and {call.species for call in flagged.calls} == {BAT}
    assert flagged.calls[0].confidence == pytest.approx(1 - 0.05 / 3, abs=1e-6)  # the model's bat mass
    assert flagged.calls[0].species_probabilities[0][0] == PIP  # its opinion stays shown
    assert all(call.novel for call in flagged.calls) and as_dict(flagged)["calls"][0]["novel"] is True
    assert unflagged.species == PIP and not any(call.novel for call in unflagged.calls)


def test_a_pass_keeps_its_species_when_only_a_few_of_its_calls_are_novel():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(6)]

    analysis = run(calls, novel=[True, False, False, True, False, False])

    assert [p.species for p in analysis.passes] == [PIP] and analysis.species == PIP
    assert [call.species for call in analysis.calls] == [BAT, PIP, PIP, BAT, PIP, PIP]


def test_novel_social_calls_keep_their_answer_as_out_of_range_ones_do():
    analysis = run([(0.1 * k, probs(NOC), "social_call") for k in range(3)], novel=[True] * 3)

    assert {call.species for call in analysis.calls} == {NOC}
    assert not any(call.novel for call in analysis.calls)  # only echolocation calls are checked


def test_social_calls_are_not_checked_against_the_echolocation_range():
    analysis = run([(0.1 * k, probs(NOC), "social_call") for k in range(3)], peak_hz=46_000.0)

    assert {call.species for call in analysis.calls} == {NOC}


def test_two_species_with_a_pass_each_are_both_listed_dominant_first():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(8)]
    calls += [(2.0 + 0.25 * k, probs(NOC), "echolocation") for k in range(3)]
    analysis = run(calls)
    assert analysis.species == PIP
    assert analysis.species_present == (PIP, NOC)
    assert [p.species for p in analysis.passes] == [PIP, NOC]
    assert [p.n_calls for p in analysis.passes] == [8, 3]


def test_a_lone_call_of_another_species_is_no_pass_and_not_listed():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(6)] + [(3.0, probs(NOC), "echolocation")]
    analysis = run(calls)
    assert analysis.species_present == (PIP,)
    assert analysis.calls[-1].species == NOC
    assert analysis.calls[-1].pass_index == -1


def test_calls_a_long_gap_apart_make_two_passes_unless_the_gap_setting_is_longer():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(3)]
    calls += [(1.8 + 0.1 * k, probs(PIP), "echolocation") for k in range(3)]
    assert len(run(calls).passes) == 2
    assert len(run(calls, InferConfig(pass_gap_s=2.0)).passes) == 1


def test_uncertain_pipistrelle_calls_fall_back_to_their_group():
    # 0.55 P. pipistrellus + 0.45 P. pygmaeus: no species reaches 0.7, the genus (1.0) does.
    calls = [(0.1 * k, probs(PIP, 0.55, second=PYG), "echolocation") for k in range(6)]
    analysis = run(calls)
    assert analysis.species == "Pipistrellus sp."
    assert analysis.species_group == "Pipistrellus sp."
    assert analysis.species_present == ("Pipistrellus sp.",)
    assert analysis.confidence == pytest.approx(1.0, abs=1e-5)
    assert all(c.species == "Pipistrellus sp." for c in analysis.calls)


def test_the_same_calls_are_a_species_when_the_threshold_is_lower():
    calls = [(0.1 * k, probs(PIP, 0.55, second=PYG), "echolocation") for k in range(6)]
    analysis = run(calls, InferConfig(confidence_threshold=0.5))
    assert analysis.species == PIP
    assert analysis.confidence == pytest.approx(0.55, abs=1e-5)


def test_calls_sure_of_no_group_fall_back_to_chiroptera():
    # Split between a pipistrelle and the noctule: neither species nor one group reaches 0.7.
    calls = [(0.1 * k, probs(PIP, 0.5, second=NOC), "echolocation") for k in range(5)]
    analysis = run(calls)
    assert analysis.species == BAT
    assert analysis.species_group == BAT


def test_group_answers_inside_a_species_pass_join_it():
    rows = [probs(PIP)] * 3 + [probs(PIP, 0.55, second=PYG)] + [probs(PIP)] * 3
    analysis = run([(0.1 * k, row, "echolocation") for k, row in enumerate(rows)])
    assert len(analysis.passes) == 1
    assert analysis.passes[0].n_calls == 7
    assert analysis.calls[3].species == "Pipistrellus sp."
    assert analysis.calls[3].pass_index == 0
    assert analysis.species_present == (PIP,)


def test_a_feeding_buzz_belongs_to_the_pass_it_sits_in_whatever_its_species():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(5)]
    calls += [(0.55 + 0.006 * k, probs(NOC), "feeding_buzz") for k in range(4)]
    analysis = run(calls)
    assert len(analysis.passes) == 1
    assert analysis.passes[0].n_calls == 9
    assert analysis.passes[0].call_types == ("echolocation", "feeding_buzz")
    assert analysis.species_present == (PIP,)
    assert analysis.call_types == ("echolocation", "feeding_buzz")


def test_a_long_buzz_does_not_outvote_the_search_flight_it_sits_in():
    # 12 search calls 100 ms apart, then a 40-call buzz at 6 ms: more buzz calls, but most of the time is
    # searching (labels.csv lists such a file as echolocation first, as labellers do).
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(12)]
    calls += [(1.15 + 0.006 * k, probs(PIP), "feeding_buzz") for k in range(40)]

    analysis = run(calls)

    assert analysis.call_type == "echolocation"
    assert analysis.call_types == ("echolocation", "feeding_buzz")
    assert analysis.passes[0].call_types == ("echolocation", "feeding_buzz")


def test_a_recording_of_mostly_social_calls_names_them_first():
    calls = [(0.02 + 0.1 * k, probs(PIP), "echolocation") for k in range(2)]
    calls += [(0.3 + 0.15 * k, probs(PIP), "social_call") for k in range(10)]

    assert run(calls).call_type == "social_call"


def test_noise_detections_are_no_bat_and_take_no_part_in_passes():
    calls = [(0.1 * k, probs(PIP), "echolocation") for k in range(4)]
    calls += [(0.05 + 0.1 * k, probs(NOISE), "none") for k in range(10)]
    analysis = run(calls)
    assert analysis.species_present == (PIP,)
    assert analysis.passes[0].n_calls == 4
    noise_calls = [c for c in analysis.calls if c.species == NOISE]
    assert len(noise_calls) == 10
    assert all(c.call_type == "none" and c.pass_index == -1 for c in noise_calls)


def test_a_file_of_only_noise_is_noise_with_call_type_none():
    analysis = run([(0.2 * k, probs(NOISE), "none") for k in range(5)])
    assert (analysis.species, analysis.species_group, analysis.call_type) == (NOISE, NOISE, "none")
    assert analysis.species_present == (NOISE,)
    assert analysis.passes == ()
    assert analysis.top[0][0] == NOISE


def test_a_file_without_calls_is_noise():
    analysis = run([])
    assert (analysis.species, analysis.call_type, analysis.confidence) == (NOISE, "none", 1.0)
    assert analysis.calls == ()


def test_a_single_bat_call_still_names_the_bat():
    analysis = run([(0.01, probs(NOC), "echolocation")])
    assert analysis.species == NOC
    assert analysis.passes == ()
    assert analysis.calls[0].pass_index == -1


def test_top_holds_every_class_best_first_and_sums_to_one():
    analysis = run([(0.1 * k, probs(PIP, 0.8), "echolocation") for k in range(4)])
    assert [label for label, _ in analysis.top][0] == PIP
    assert sorted(label for label, _ in analysis.top) == sorted(LABELS4)
    values = [p for _, p in analysis.top]
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------ analyse, end to end


@pytest.fixture(scope="module")
def pipistrelle_file(tmp_path_factory) -> Path:
    return write_synthetic_file(tmp_path_factory.mktemp("infer") / "pip.wav", (PIP,), seed=3)


def test_analyse_returns_calls_passes_and_an_answer_that_agree(tiny_model, pipistrelle_file):
    analysis = analyse(pipistrelle_file, tiny_model)
    assert analysis.file == str(pipistrelle_file)
    assert analysis.sample_rate_hz == 384_000
    assert analysis.duration_s == pytest.approx(3.0, abs=1e-3)
    assert len(analysis.calls) >= 5
    assert analysis.species == PIP
    assert analysis.species_present[0] == analysis.species
    assert analysis.call_type in analysis.call_types
    assert 0.0 <= analysis.confidence <= 1.0
    assert {label for label, _ in analysis.top} == set(TINY_LABELS)
    for call in analysis.calls:
        assert 0.0 <= call.start_s < call.end_s <= analysis.duration_s + 1e-6
        assert call.low_hz <= call.peak_hz <= call.high_hz
        assert -1 <= call.pass_index < len(analysis.passes)
        if call.pass_index >= 0:
            p = analysis.passes[call.pass_index]
            assert p.start_s <= call.start_s and call.end_s <= p.end_s + 1e-9
    assert sum(p.n_calls for p in analysis.passes) == sum(c.pass_index >= 0 for c in analysis.calls)
    assert {p.species for p in analysis.passes} <= set(analysis.species_present)


def test_analyse_answers_from_the_pass_smoothed_probabilities_that_evaluation_scores(
    tiny_model, pipistrelle_file
):
    # ml.evaluate scores (and ml.train calibrates) p(species) shared within passes; analyse must answer from
    # the same numbers, or the app would not be the model that was measured.
    # The expected numbers are built from the parts, as ml.evaluate does, not by the function analyse calls.
    from ml.audio import load_audio
    from ml.detect import detect_calls
    from ml.features import call_context, call_crops, smooth_species_over_passes
    from ml.model import predict_calls
    from ml.spectrogram import compute_spectrogram

    assert tiny_model.pass_smoothing
    analysis = analyse(pipistrelle_file, tiny_model)
    audio = load_audio(pipistrelle_file)
    spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz, tiny_model.spectrogram)
    events = detect_calls(audio, tiny_model.detect, spectrogram=spectrogram)
    crops = call_crops(spectrogram, events, tiny_model.crop)
    raw = predict_calls(tiny_model, crops, call_context(events)).species
    starts, peaks = np.array([e.start_s for e in events]), np.array([e.peak_hz for e in events])
    expected = smooth_species_over_passes(raw, starts, peaks, tiny_model.noise_index)

    assert len(expected) == len(analysis.calls)
    for call, row in zip(analysis.calls, expected, strict=True):
        shown = dict(call.species_probabilities)
        assert [shown[label] for label in tiny_model.label_set] == pytest.approx(row.tolist(), abs=1e-5)


def test_a_recording_with_two_species_lists_both(tiny_model, tmp_path):
    # The tiny model takes some of a noctule's 22 kHz calls for a pipistrelle (which the plausibility check
    # then turns into "a bat"), so a file may leave the second, fainter bat unnamed: two of these six do.
    listed_both = 0
    for seed in (2, 3, 5, 7, 8, 9):
        path = write_synthetic_file(tmp_path / f"two-{seed}.wav", (PIP, NOC), seed=seed, duration_s=4.0)
        analysis = analyse(path, tiny_model)
        assert PIP in analysis.species_present
        present, passes = set(analysis.species_present), {p.species for p in analysis.passes}
        listed_both += present >= {PIP, NOC} and passes >= {PIP, NOC}
    assert listed_both >= 4


def test_silence_is_noise(tiny_model, tmp_path):
    path = tmp_path / "quiet.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.normal(size=384_000) * 1e-4).astype(np.float32), 384_000, subtype="PCM_16")
    analysis = analyse(path, tiny_model)
    assert (analysis.species, analysis.call_type) == (NOISE, "none")


def test_time_expansion_argument_gives_true_times(tiny_model, tmp_path, pipistrelle_file):
    """The same calls written 10x time-expanded (header 38.4 kHz) give the same answer and true times."""
    samples, rate_hz = sf.read(pipistrelle_file, dtype="float32")
    slow = tmp_path / "pip_te10.wav"
    sf.write(slow, samples, rate_hz // 10, subtype="PCM_16")
    real = analyse(pipistrelle_file, tiny_model)
    expanded = analyse(slow, tiny_model, time_expansion=10)
    assert expanded.time_expansion == 10
    assert expanded.duration_s == pytest.approx(real.duration_s, rel=1e-6)
    assert expanded.species == real.species
    assert len(expanded.calls) == pytest.approx(len(real.calls), abs=2)


def test_analyse_does_not_reload_the_model(tiny_model, pipistrelle_file, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("analyse must not load a checkpoint")

    monkeypatch.setattr(torch, "load", refuse)
    analyse(pipistrelle_file, tiny_model)


def test_json_lines_of_the_command_carry_the_contract_fields(tiny_model, pipistrelle_file, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file at all")
    result = subprocess.run(
        [sys.executable, "-m", "ml", "analyse", str(pipistrelle_file), str(bad), "--model", tiny_model.path, "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    good, error = lines
    for key in (
        "file",
        "species",
        "species_group",
        "species_present",
        "call_type",
        "call_types",
        "confidence",
        "top",
        "calls",
    ):
        assert key in good
    assert good["species"] == PIP
    assert good["top"][0][1] >= good["top"][-1][1]
    assert set(good["calls"][0]) >= {
        "start_s",
        "end_s",
        "low_hz",
        "high_hz",
        "peak_hz",
        "snr_db",
        "pass",
        "species",
        "call_type",
        "confidence",
    }
    assert error["file"] == str(bad) and error["error"]


def test_as_dict_matches_the_analysis(tiny_model, pipistrelle_file):
    analysis = analyse(pipistrelle_file, tiny_model)
    row = as_dict(analysis)
    json.dumps(row)  # plain types only
    assert row["species_present"] == list(analysis.species_present)
    assert len(row["calls"]) == len(analysis.calls)
    assert [f.name for f in fields(CallResult)][:6] == [
        "start_s",
        "end_s",
        "low_hz",
        "high_hz",
        "peak_hz",
        "snr_db",
    ]
