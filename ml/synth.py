"""Synthetic bat recordings with exact labels: training data for the classifier, truth for the detector.

Where it sits: beside the pipeline, not in it. It writes a dataset folder (ml.dataset) that `ml.detect` is
checked against and `ml.train` learns from. Call parameters are data in `ml.synth_species` (bats.md
section 4); this module turns them into sound:

    random_recording_spec(label, rng)    what one file holds: bat passes, noise sources, sample rate, length
    synthesise_recording(spec, rng)      -> samples, true sample rate, events (every call, in true time)
    generate_dataset(out_dir, ...)       N files per class of the label set: WAVs, labels.csv, events.csv

A bat pass is a straight flight past the microphone: distance sets the level (spherical spreading plus
frequency-dependent atmospheric absorption), radial speed the Doppler shift. Each individual draws its
preferred call values once; each call varies around them. Passes may hold a feeding buzz (approach, buzz I,
buzz II with intervals falling to ~5 ms) and social calls; files may hold a second bat, insects, rain, clicks
and wind, or nothing but noise. Files are written at 256, 384 or 500 kHz, some 10x time-expanded (header
rate = true rate / 10), half of those with GUANO `TE`, the others with the factor only in labels.csv.

All levels are relative to a background noise floor (its rms in a 10 kHz band). A call's `snr_db` (an
events.csv column) is what a spectrogram shows: the call's peak power in a 0.5 ms Hann-window cell over the
background's power in such a cell, so it means the same at every sample rate, and calls fainter than the
difficulty's `min_call_snr_db` are not generated.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from scipy import signal

from ml.dataset import DatasetFile, EventLabel, write_dataset
from ml.labels import DEFAULT_LABEL_SET, NOISE
from ml.metadata import write_guano
from ml.synth_species import (
    BUZZ,
    SPECIES_PARAMETERS,
    CallVariant,
    SocialCallParameters,
    SpeciesParameters,
    parameters_for,
)

__all__ = [
    "DIFFICULTIES",
    "EASY",
    "HARD",
    "NOISE_KINDS",
    "BatPass",
    "Difficulty",
    "NoiseSource",
    "RecordingSpec",
    "SynthConfig",
    "generate_dataset",
    "random_recording_spec",
    "synthesise_recording",
]

Range = tuple[float, float]
NoiseKind = Literal["insect", "rain", "click", "wind"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("insect", "rain", "click", "wind")

SPEED_OF_SOUND_M_S = 343.0
SNR_REFERENCE_BAND_HZ = 10_000.0  # call and noise-source levels are set against the background in this band
LICENCE = "CC0-1.0"
# Bump when the same seed starts giving different files (2: _dominance also counts clear calls).
GENERATOR_VERSION = 2
# A call at least this far above the background (events.csv snr_db) is clear in a spectrogram: ml.detect finds
# 80 % of hard-set calls at 18-21 dB and under half below 18 (docs/model.md, "Results").
CLEAR_CALL_SNR_DB = 18.0

# Absorption curve of bats.md 4.2 (see ml.synth_species.absorption_db_per_m), as arrays for np.interp.
_ABSORPTION_HZ = np.array([0.0, 20e3, 40e3, 90e3, 150e3, 250e3])
_ABSORPTION_DB_PER_M = np.array([0.0, 0.5, 1.3, 2.5, 3.5, 4.5])
# A call is "visible" (inside its event box) where its spectral level is within this of its maximum.
_VISIBLE_DB = -20.0


# ---------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Difficulty:
    """How hard the files are: level, clutter, overlap and how often the rarer behaviours occur."""

    name: str
    closest_approach_fraction: Range  # closest distance of the main bat, as a share of its detection distance
    noise_offset_db: Range  # background level re the reference floor: +6 dB makes every call 6 dB fainter
    second_bat_probability: float  # another bat in the file
    same_species_share: float  # ... and how often it is another individual of the same species
    noise_source_probability: float  # chance of each of insect, rain, click, wind in a bat file
    noise_source_snr_db: Range  # level of those sources over the background
    feeding_buzz_probability: float  # a pass holds a buzz (species with buzzes)
    social_call_probability: float  # a pass holds social calls (species with social calls in bats.md)
    clutter_probability: float  # a pass flies near vegetation: higher Fc, shorter calls (bats.md 4.2)
    echo_probability: float  # a call gets a clutter echo (ground, vegetation)
    echo_level_db: Range  # echo level re the call
    min_call_snr_db: float  # calls fainter than this are not generated, so never listed


EASY = Difficulty(
    name="easy",
    closest_approach_fraction=(0.1, 0.4),
    noise_offset_db=(-10.0, -3.0),
    second_bat_probability=0.15,
    same_species_share=0.3,
    noise_source_probability=0.15,
    noise_source_snr_db=(8.0, 20.0),
    feeding_buzz_probability=0.2,
    social_call_probability=0.2,
    clutter_probability=0.2,
    echo_probability=0.15,
    echo_level_db=(-25.0, -15.0),
    min_call_snr_db=6.0,
)
HARD = Difficulty(
    name="hard",
    closest_approach_fraction=(0.3, 0.8),
    noise_offset_db=(0.0, 8.0),
    second_bat_probability=0.5,
    same_species_share=0.3,
    noise_source_probability=0.5,
    noise_source_snr_db=(12.0, 35.0),
    feeding_buzz_probability=0.4,
    social_call_probability=0.4,
    clutter_probability=0.5,
    echo_probability=0.6,
    echo_level_db=(-18.0, -8.0),
    min_call_snr_db=3.0,
)
DIFFICULTIES: dict[str, Difficulty] = {"easy": EASY, "hard": HARD}


@dataclass(frozen=True)
class SynthConfig:
    sample_rates_hz: tuple[int, ...] = (256_000, 384_000, 500_000)  # true rates (bats.md 4.2, 5.4)
    sample_rate_weights: tuple[float, ...] = (0.3, 0.5, 0.2)
    duration_s: Range = (1.0, 3.0)  # true length of a file
    time_expanded_share: float = 0.15  # files written time-expanded (header rate = true rate / factor)
    guano_te_share: float = 0.5  # of those, the share whose GUANO says TE; the rest rely on labels.csv
    guano_share: float = 0.5  # real-time files that carry GUANO (without TE)
    time_expansion_factor: int = 10  # D240x default (bats.md 5.4)
    detection_snr_db: float = 6.0  # a call's SNR at its species' detection distance over the reference floor
    noise_floor_dbfs: float = -75.0  # reference background: rms in a 10 kHz band, in dB re full scale


@dataclass(frozen=True)
class BatPass:
    """One bat flying a straight line past the microphone."""

    species: str  # class of the label set with parameters in ml.synth_species
    individual: int  # number of the bat within the file (events.csv column `individual`)
    closest_time_s: float  # when it is nearest the microphone
    closest_distance_m: float
    speed_m_s: float  # 5-10 m/s (bats.md 4.2): sets the Doppler shift and how fast the level changes
    window_s: Range  # it calls only inside this window of the file
    feeding_buzz: bool
    social_calls: bool
    near_clutter: bool = False  # flies along vegetation: many calls with raised Fc, shorter (bats.md 4.2)


@dataclass(frozen=True)
class NoiseSource:
    kind: NoiseKind
    # Level over the background: peak over the 10 kHz-band rms for insects, rms over it for wind, peak over
    # the broadband rms for rain and clicks.
    snr_db: float


@dataclass(frozen=True)
class RecordingSpec:
    """Everything one synthetic file holds; `synthesise_recording` turns it into samples."""

    duration_s: float  # true length
    sample_rate_hz: int  # true rate
    bats: tuple[BatPass, ...]  # the first is the dominant one: no other species gets more calls
    noise: tuple[NoiseSource, ...] = ()
    noise_offset_db: float = 0.0
    difficulty: Difficulty = EASY
    detection_snr_db: float = 6.0
    noise_floor_dbfs: float = -75.0


# ----------------------------------------------------------------------------------------------- call plans


@dataclass(frozen=True)
class _Call:
    """One call to render, all values final (jittered, Doppler-shifted, in Hz and s)."""

    onset_s: float
    duration_s: float
    shape: str  # fm, fm_qcf, qcf, cf_fm, or social (syllables below)
    start_hz: float
    peak_hz: float
    end_hz: float
    glide_hz: float  # fm_qcf/qcf: fall of the QCF tail
    fm_fraction: float  # fm_qcf/qcf: share of the call in the steep FM start; cf_fm: upward-FM share
    tail_fraction: float  # cf_fm: share in the terminal FM
    harmonics: tuple[tuple[int, float], ...]
    reference_harmonic: int
    level_db: float  # peak amplitude over the background rms in the 10 kHz reference band
    distance_m: float
    species: str
    call_type: str
    individual: int
    variant: str
    echo: tuple[float, float] | None = None  # (delay s, level dB) of a clutter echo
    syllables: tuple[
        tuple[float, float, float, float], ...
    ] = ()  # social: (offset s, dur s, start Hz, end Hz)
    syllable_shape: str = "fm"


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def _integer(rng: np.random.Generator, r: tuple[int, int]) -> int:
    return int(rng.integers(r[0], r[1] + 1))


def _absorption(frequency_hz: np.ndarray | float) -> np.ndarray:
    return np.interp(frequency_hz, _ABSORPTION_HZ, _ABSORPTION_DB_PER_M)


def _source_snr_1m_db(params: SpeciesParameters, peak_hz: float, detection_snr_db: float) -> float:
    """SNR at 1 m such that the call falls to `detection_snr_db` at the species' detection distance."""
    d = params.detection_distance_m
    return detection_snr_db + 20 * math.log10(d) + float(_absorption(peak_hz)) * d


@dataclass
class _Individual:
    """Preferred values of one bat, drawn once (between-individual spread), then jittered per call."""

    params: SpeciesParameters
    number: int
    values: list[dict[str, float]]  # per variant: peak_hz, start_hz, end_hz, duration_s, glide_hz_per_s, ...
    ipi_s: float
    preferred_variant: int
    alternate_next: int = 0


def _draw_individual(params: SpeciesParameters, number: int, rng: np.random.Generator) -> _Individual:
    values = []
    for v in params.variants:
        peak = _uniform(rng, v.peak_khz) * 1e3
        entry = {"peak_hz": peak, "duration_s": _uniform(rng, v.duration_ms) * 1e-3}
        if v.shape == "fm":
            assert v.start_khz is not None and v.end_khz is not None
            entry["start_hz"] = _uniform(rng, v.start_khz) * 1e3
            entry["end_hz"] = _uniform(rng, v.end_khz) * 1e3
        elif v.shape == "fm_qcf":
            assert v.start_khz is not None
            entry["start_hz"] = _uniform(rng, v.start_khz) * 1e3
            # QCF slope 0.1-1 kHz/ms (LfU "domnt_slope", bats.md 4.2) over the QCF tail.
            entry["slope_hz_per_s"] = _uniform(rng, (0.1, 1.0)) * 1e6
            entry["fm_fraction"] = _uniform(rng, (0.3, 0.5))  # QCF for the last ~50-70 % (bats.md 4.2)
        elif v.shape == "qcf":
            entry["start_hz"] = peak + _uniform(rng, (2.0, 5.0)) * 1e3  # [ours]: a short FM start
            entry["slope_hz_per_s"] = _uniform(rng, (0.1, 0.3)) * 1e6  # near-flat: the low end of LfU's slope
            entry["fm_fraction"] = _uniform(rng, (0.1, 0.2))
        else:  # cf_fm
            assert v.end_khz is not None
            entry["start_hz"] = peak - _uniform(rng, (3.0, 8.0)) * 1e3  # [ours]: "short upward FM into CF"
            entry["end_hz"] = _uniform(rng, v.end_khz) * 1e3
            entry["up_s"] = _uniform(rng, (1.0, 2.0)) * 1e-3  # 1-2 ms upward FM (bats.md 4.2)
            entry["down_s"] = _uniform(rng, (1.0, 3.0)) * 1e-3  # 1-3 ms terminal FM
        values.append(entry)
    weights = np.array([v.weight for v in params.variants], dtype=float)
    preferred = int(rng.choice(len(weights), p=weights / weights.sum()))
    return _Individual(
        params,
        number,
        values,
        _uniform(rng, params.ipi_ms) * 1e-3,
        preferred,
        alternate_next=int(rng.integers(len(params.variants))),
    )


def _next_variant(ind: _Individual, rng: np.random.Generator) -> int:
    n = len(ind.params.variants)
    if n == 1:
        return 0
    if ind.params.alternation == "alternate":
        # Chip-chop / A-B alternation, with an occasional repeat so the pattern is not a metronome.
        chosen = ind.alternate_next
        ind.alternate_next = (chosen + 1) % n if rng.random() < 0.85 else chosen
        return chosen
    if ind.params.alternation == "individual":
        # The bat keeps the call type that suits where it flies; now and then it uses the other one.
        if rng.random() < 0.85:
            return ind.preferred_variant
        return int(rng.integers(n))
    weights = np.array([v.weight for v in ind.params.variants], dtype=float)
    return int(rng.choice(n, p=weights / weights.sum()))


@dataclass(frozen=True)
class _Geometry:
    """Where a passing bat is: distance and radial speed at a time."""

    bat: BatPass

    def distance_m(self, t_s: float) -> float:
        along = self.bat.speed_m_s * (t_s - self.bat.closest_time_s)
        return math.hypot(self.bat.closest_distance_m, along)

    def doppler(self, t_s: float) -> float:
        # Radial speed > 0 while the bat recedes: received frequency = emitted * c / (c + v_r).
        along = self.bat.speed_m_s * (t_s - self.bat.closest_time_s)
        radial = self.bat.speed_m_s * along / max(self.distance_m(t_s), 1e-6)
        return SPEED_OF_SOUND_M_S / (SPEED_OF_SOUND_M_S + radial)


def _call_from_variant(
    ind: _Individual,
    variant_index: int,
    onset_s: float,
    geometry: _Geometry,
    spec: RecordingSpec,
    rng: np.random.Generator,
    *,
    call_type: str = "echolocation",
    duration_scale: float = 1.0,
    frequency_scale: float = 1.0,
    shape: str | None = None,
    level_db: float = 0.0,
) -> _Call:
    variant: CallVariant = ind.params.variants[variant_index]
    v = ind.values[variant_index]
    # Per-call variation (bats.md 4.2): frequency +-3-5 % (here sd 1.5 %, capped at 4 %), duration +-10-15 %.
    jitter = 1.0 + float(np.clip(rng.normal(0.0, 0.015), -0.04, 0.04))
    doppler = geometry.doppler(onset_s)
    f_scale = jitter * doppler * frequency_scale
    duration = v["duration_s"] * _uniform(rng, (0.88, 1.12)) * duration_scale
    clutter_hz = 0.0
    in_clutter = geometry.bat.near_clutter and call_type == "echolocation" and variant.shape != "cf_fm"
    if in_clutter and rng.random() < 0.6:
        # Near vegetation: "raise Fc a few kHz, shorten duration" (bats.md 4.2); [ours]: 1-5 kHz, x0.6-0.85.
        # Not horseshoes: their CF is held for Doppler compensation.
        clutter_hz = _uniform(rng, (1e3, 5e3)) * f_scale
        duration *= _uniform(rng, (0.6, 0.85))
    peak = v["peak_hz"] * f_scale + clutter_hz
    start = v["start_hz"] * f_scale * (1.0 + float(rng.normal(0.0, 0.01)))
    end = v.get("end_hz", 0.0) * f_scale + clutter_hz
    glide = v.get("slope_hz_per_s", 0.0) * duration * (1.0 - v.get("fm_fraction", 0.0)) * f_scale
    call_shape = shape or variant.shape
    if call_shape == "fm" and variant.shape != "fm":
        # A QCF species' approach/buzz call: a steep FM sweep ending a little under its QCF.
        end = peak * 0.92
        start = max(start, peak * 1.3)
    if call_shape == "fm":
        span = start - end
        peak = float(np.clip(peak, end + 0.1 * span, start - 0.3 * span))
    distance = geometry.distance_m(onset_s)
    level = (
        _source_snr_1m_db(ind.params, v["peak_hz"], spec.detection_snr_db)
        - 20 * math.log10(max(distance, 0.1))
        - float(_absorption(peak)) * distance
        - spec.noise_offset_db
        + level_db
    )
    echo = None
    if call_type == "echolocation" and rng.random() < spec.difficulty.echo_probability:
        echo = (_uniform(rng, (1.0, 6.0)) * 1e-3, _uniform(rng, spec.difficulty.echo_level_db))
    return _Call(
        onset_s=onset_s,
        duration_s=duration,
        shape=call_shape,
        start_hz=start,
        peak_hz=peak,
        end_hz=end,
        glide_hz=glide,
        fm_fraction=v.get("fm_fraction", v.get("up_s", 0.0) / max(v["duration_s"], 1e-6)),
        tail_fraction=v.get("down_s", 0.0) / max(v["duration_s"], 1e-6),
        harmonics=ind.params.harmonics,
        reference_harmonic=ind.params.reference_harmonic,
        level_db=level,
        distance_m=distance,
        species=ind.params.label,
        call_type=call_type,
        individual=ind.number,
        variant=variant.name if shape is None else f"{variant.name}-{call_type}",
        echo=echo,
    )


def _social_call(
    ind: _Individual,
    social: SocialCallParameters,
    onset_s: float,
    geometry: _Geometry,
    spec: RecordingSpec,
    rng: np.random.Generator,
) -> _Call:
    n = _integer(rng, social.syllables)
    total = _uniform(rng, social.total_ms) * 1e-3
    doppler = geometry.doppler(onset_s)
    # Syllables fill ~75 % of the call, gaps the rest [ours]; each syllable varies a little around the song.
    syllable_s = total * (0.75 if n > 1 else 1.0) / n
    gap_s = (total - syllable_s * n) / (n - 1) if n > 1 else 0.0
    start_hz = _uniform(rng, social.start_khz) * 1e3
    end_hz = _uniform(rng, social.end_khz) * 1e3
    syllables = []
    for k in range(n):
        jitter = 1.0 + float(rng.normal(0.0, 0.02))
        syllables.append(
            (
                k * (syllable_s + gap_s),
                syllable_s,
                start_hz * jitter * doppler,
                end_hz * (1.0 + float(rng.normal(0.0, 0.01))) * doppler,
            )
        )
    distance = geometry.distance_m(onset_s)
    level = (
        _source_snr_1m_db(ind.params, ind.values[0]["peak_hz"], spec.detection_snr_db)
        - 20 * math.log10(max(distance, 0.1))
        - float(_absorption(start_hz)) * distance
        - spec.noise_offset_db
        - _uniform(rng, (0.0, 6.0))  # social calls are a little quieter than echolocation [ours]
    )
    return _Call(
        onset_s=onset_s,
        duration_s=total,
        shape="social",
        start_hz=start_hz * doppler,
        peak_hz=0.5 * (start_hz + end_hz) * doppler,
        end_hz=end_hz * doppler,
        glide_hz=0.0,
        fm_fraction=0.0,
        tail_fraction=0.0,
        harmonics=social.harmonics,
        reference_harmonic=1,
        level_db=level,
        distance_m=distance,
        species=ind.params.label,
        call_type="social_call",
        individual=ind.number,
        variant="social",
        syllables=tuple(syllables),
        syllable_shape=social.syllable_shape,
    )


def _buzz_calls(
    ind: _Individual, onset_s: float, geometry: _Geometry, spec: RecordingSpec, rng: np.random.Generator
) -> tuple[list[_Call], float]:
    """Approach, buzz I and buzz II (bats.md 4.3); returns the calls and the time search calls resume."""
    calls: list[_Call] = []
    variant = _next_variant(ind, rng)
    search_ipi = ind.ipi_s
    search_duration = ind.values[variant]["duration_s"]
    t = onset_s
    # Approach: IPI falls geometrically from the search IPI to ~15 ms, durations towards ~2 ms.
    n_approach = _integer(rng, BUZZ.approach_calls)
    ipis = np.geomspace(search_ipi, BUZZ.approach_end_ipi_ms * 1e-3, n_approach + 1)[1:]
    durations = np.geomspace(1.0, min(1.0, 2e-3 / search_duration), n_approach)
    for k in range(n_approach):
        calls.append(
            _call_from_variant(
                ind,
                variant,
                t,
                geometry,
                spec,
                rng,
                duration_scale=float(durations[k]),
                shape="fm" if k >= n_approach // 2 else None,
            )
        )
        t += float(ipis[k])
    drop_db = _uniform(rng, BUZZ.level_drop_db)
    n1, n2 = _integer(rng, BUZZ.buzz1_calls), _integer(rng, BUZZ.buzz2_calls)
    factor2 = _uniform(rng, BUZZ.buzz2_frequency_factor)
    for k in range(n1 + n2):
        in_buzz2 = k >= n1
        duration_range = BUZZ.buzz2_duration_ms if in_buzz2 else BUZZ.buzz1_duration_ms
        ipi_range = BUZZ.buzz2_ipi_ms if in_buzz2 else BUZZ.buzz1_ipi_ms
        duration_scale = _uniform(rng, duration_range) * 1e-3 / ind.values[variant]["duration_s"]
        calls.append(
            _call_from_variant(
                ind, variant, t, geometry, spec, rng,
                call_type="feeding_buzz",
                duration_scale=duration_scale,
                frequency_scale=factor2 if in_buzz2 else 0.9,  # buzz I halfway down [ours]
                shape="fm",
                level_db=-drop_db * k / max(n1 + n2 - 1, 1),
            )
        )  # fmt: skip
        t += _uniform(rng, ipi_range) * 1e-3
    return calls, t + _uniform(rng, BUZZ.pause_ms) * 1e-3


def _pass_calls(bat: BatPass, spec: RecordingSpec, rng: np.random.Generator) -> list[_Call]:
    params = parameters_for(bat.species)
    ind = _draw_individual(params, bat.individual, rng)
    geometry = _Geometry(bat)
    window_start, window_end = bat.window_s
    t = window_start + _uniform(rng, (0.0, ind.ipi_s))
    buzz_at = None
    if bat.feeding_buzz and params.feeding_buzz:
        # Near the microphone, where the bat is loud: start the approach shortly before closest approach.
        buzz_at = float(
            np.clip(bat.closest_time_s + _uniform(rng, (-0.4, 0.0)), window_start, window_end - 0.35)
        )
    social = params.social if bat.social_calls else None
    calls_to_social = next_social_s = None
    if social is not None:
        if social.echolocation_calls_between is not None:
            lo, hi = social.echolocation_calls_between
            calls_to_social = _integer(
                rng, (lo, min(hi, lo + 8))
            )  # the first one early enough to be in the file
        else:
            next_social_s = t + _uniform(rng, (0.05, 0.5))
    calls: list[_Call] = []
    while t < window_end:
        if buzz_at is not None and t >= buzz_at:
            buzz, t = _buzz_calls(ind, t, geometry, spec, rng)
            calls.extend(c for c in buzz if c.onset_s + c.duration_s < window_end)
            buzz_at = None
            continue
        call = _call_from_variant(ind, _next_variant(ind, rng), t, geometry, spec, rng)
        if call.onset_s + call.duration_s > window_end:
            break
        calls.append(call)
        # IPI jitter +-15-25 % (bats.md 4.2: here +-20 %); never under the call plus 10 ms (Rhinolophus).
        t_next = t + max(ind.ipi_s * _uniform(rng, (0.8, 1.2)), call.duration_s + 0.010)
        if calls_to_social is not None:
            calls_to_social -= 1
        due = (calls_to_social is not None and calls_to_social <= 0) or (
            next_social_s is not None and t >= next_social_s
        )
        if social is not None and due:
            onset = t + call.duration_s + _uniform(rng, (0.004, 0.012))
            sc = _social_call(ind, social, onset, geometry, spec, rng)
            if sc.onset_s + sc.duration_s < window_end:
                calls.append(sc)
                t_next = max(t_next, sc.onset_s + sc.duration_s + 0.008)  # the bat pauses to sing
            if social.echolocation_calls_between is not None:
                calls_to_social = _integer(rng, social.echolocation_calls_between)
            else:
                assert social.interval_s is not None
                next_social_s = t + _uniform(rng, social.interval_s)
        t = t_next
    # A call's spectrogram SNR is at most ~2 dB above its level (a pure tone): fainter ones need no rendering.
    return [c for c in calls if c.level_db >= spec.difficulty.min_call_snr_db - 3.0]


def _dominance(calls: list[tuple[_Call, _Rendered]], main_species: str) -> list[tuple[_Call, _Rendered]]:
    """Keep the first bat's species dominant: no other species gets as many calls, nor as many clear ones
    (CLEAR_CALL_SNR_DB); the latest calls that would break this are dropped.

    Counting all calls alone let a loud second bat outnumber a faint main one in what can be seen: a
    "long-eared bat" file with 3 clear long-eared calls and 31 clear pipistrelle calls, whose label no
    listener, and no classifier, would give it."""
    main = [r for c, r in calls if c.species == main_species]
    main_all, main_clear = len(main), sum(r.snr_db >= CLEAR_CALL_SNR_DB for r in main)
    kept = []
    counts: dict[str, tuple[int, int]] = {}  # species -> (calls kept, clear calls kept)
    for c, r in sorted(calls, key=lambda pair: pair[0].onset_s):
        if c.species != main_species:
            n_all, n_clear = counts.get(c.species, (0, 0))
            clear = r.snr_db >= CLEAR_CALL_SNR_DB
            if n_all + 1 >= main_all or (clear and n_clear + 1 >= main_clear):
                continue
            counts[c.species] = (n_all + 1, n_clear + int(clear))
        kept.append((c, r))
    return kept


# ------------------------------------------------------------------------------------------------ rendering


def _envelope(n: int, rise: float, fall: float) -> np.ndarray:
    """Raised-cosine attack over `rise` and decay over `fall` (shares of the call), flat between."""
    x = np.linspace(0.0, 1.0, n)
    env = np.ones(n)
    if rise > 0:
        head = x < rise
        env[head] = np.sin(0.5 * np.pi * x[head] / rise) ** 2
    if fall > 0:
        tail = x > 1.0 - fall
        env[tail] = np.minimum(env[tail], np.sin(0.5 * np.pi * (1.0 - x[tail]) / fall) ** 2)
    return env


def _log_bump(
    f_hz: np.ndarray, centre_hz: float, sigma: float, sigma_below: float | None = None
) -> np.ndarray:
    """Gaussian in log frequency around `centre_hz`; `sigma_below` makes it steeper under the centre."""
    x = np.log(np.maximum(f_hz, 1.0) / centre_hz)
    width = sigma if sigma_below is None else np.where(x < 0, sigma_below, sigma)
    return np.exp(-0.5 * (x / width) ** 2)


def _hyperbolic(t: np.ndarray, duration_s: float, start_hz: float, end_hz: float) -> np.ndarray:
    # Linear-period sweep: steep at the top, slower towards the end, as bat FM calls are.
    return 1.0 / (1.0 / start_hz + (1.0 / end_hz - 1.0 / start_hz) * t / duration_s)


def _contour_and_weight(call: _Call, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency of the reference harmonic, time-domain amplitude and spectral visibility of one call."""
    T = call.duration_s
    if call.shape == "fm":
        f = _hyperbolic(t, T, call.start_hz, call.end_hz)
        # Energy density of a sweep is amplitude^2 / sweep rate; weighting the amplitude by sqrt(rate) and a
        # log-frequency bump puts the spectral maximum at the call's peak (Myotis "fmk") whatever the sweep.
        # Wide above the peak (the steep top of the sweep stays visible, ~-20 dB), narrower below it so that
        # the spectral maximum holds against absorption, which favours the low end with distance.
        above = max(0.2, 0.45 * math.log(call.start_hz / call.peak_hz))
        below = max(0.12, 0.3 * math.log(call.peak_hz / call.end_hz))
        density = _log_bump(f, call.peak_hz, above, below) * _envelope(n, 0.15, 0.35)
        rate = np.abs(np.gradient(f))
        amplitude = density * np.sqrt(rate / max(rate.max(), 1e-12))
        return f, amplitude, density
    if call.shape in ("fm_qcf", "qcf"):
        # Hockey stick: exponential approach from the start to a shallow QCF line through the peak frequency.
        qcf_line = call.peak_hz + 0.5 * call.glide_hz - call.glide_hz * t / T
        tau = max(call.fm_fraction * T / 3.0, 1e-5)
        f = qcf_line + (call.start_hz - qcf_line[0]) * np.exp(-t / tau)
        envelope = _envelope(n, 0.05, 0.3)
        # The steep start is part of the call a labeller boxes, so visibility follows the time envelope; the
        # bump only keeps the spectral maximum on the QCF.
        amplitude = envelope * (_log_bump(f, call.peak_hz, 0.6) if call.shape == "fm_qcf" else 1.0)
        return f, amplitude, envelope
    if call.shape == "cf_fm":
        up = min(call.fm_fraction, 0.3) * T
        down = min(call.tail_fraction, 0.3) * T
        f = np.interp(t, [0.0, up, T - down, T], [call.start_hz, call.peak_hz, call.peak_hz, call.end_hz])
        amplitude = _envelope(n, min(0.5, 1e-3 / T), min(0.5, 1.5e-3 / T))
        return f, amplitude, amplitude
    raise ValueError(f"unknown call shape {call.shape!r}")


def _social_contour(call: _Call, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.full(n, call.end_hz)
    amplitude = np.zeros(n)
    for offset_s, dur_s, start_hz, end_hz in call.syllables:
        inside = (t >= offset_s) & (t < offset_s + dur_s)
        m = int(inside.sum())
        if m < 4:
            continue
        x = (t[inside] - offset_s) / dur_s
        if call.syllable_shape == "v":
            # Down to the lowest frequency at the middle, back up to ~90 % of the start.
            top = np.where(x < 0.5, start_hz, 0.9 * start_hz)
            f[inside] = end_hz + (top - end_hz) * np.abs(2 * x - 1) ** 1.5
        else:
            f[inside] = _hyperbolic(t[inside] - offset_s, dur_s, start_hz, end_hz)
        amplitude[inside] = _envelope(m, 0.2, 0.3)
    # Between syllables the phase keeps running at the last frequency; the amplitude there is zero.
    return f, amplitude, amplitude


@dataclass(frozen=True)
class _Rendered:
    samples: np.ndarray  # float64, at the call's own offset
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float
    snr_db: float


SNR_WINDOW_S = 0.0005  # spectrogram window of the snr_db column


def _spectrogram_snr_db(samples: np.ndarray, sample_rate_hz: int, white_rms: float) -> float:
    """Peak power of a clean call in a 0.5 ms Hann-window spectrogram cell over white background in that cell.

    What a spectrogram-based detector sees: a fast FM sweep spreads its energy over many cells and scores
    lower than a tone of the same amplitude. Independent of the sample rate (a cell is 2 kHz x 0.5 ms)."""
    m = max(int(round(SNR_WINDOW_S * sample_rate_hz)), 8)
    padded = np.pad(samples, (m // 2, m // 2 + m))
    frames = np.lib.stride_tricks.sliding_window_view(padded, m)[:: max(m // 4, 1)]
    window = np.hanning(m)
    power = float((np.abs(np.fft.rfft(frames * window, axis=1)) ** 2).max())
    noise = white_rms**2 * float((window**2).sum())
    return 10 * math.log10(max(power, 1e-30) / noise)


def _render_call(
    call: _Call, sample_rate_hz: int, noise_rms: float, rng: np.random.Generator
) -> _Rendered | None:
    n = max(int(round(call.duration_s * sample_rate_hz)), 8)
    t = np.arange(n) / sample_rate_hz
    if call.shape == "social":
        f_ref, amplitude, visibility = _social_contour(call, t, n)
    else:
        f_ref, amplitude, visibility = _contour_and_weight(call, t, n)
    nyquist = sample_rate_hz / 2
    f1 = f_ref / call.reference_harmonic
    phase = 2 * np.pi * np.cumsum(f1) / sample_rate_hz
    out = np.zeros(n)
    ref_mask = None
    peak_absorption = float(_absorption(call.peak_hz))
    for order, level_db in call.harmonics:
        fk = f1 * order
        # Nothing at or above Nyquist: a recorder's anti-alias filter removes it (Natterer's bat at 256 kHz).
        mask = np.clip((0.95 * nyquist - fk) / (0.05 * nyquist), 0.0, 1.0)
        if order == call.reference_harmonic:
            ref_mask = mask
        if not mask.any():
            continue
        # Absorption differs across the sweep and between harmonics: the top of a call fades first.
        tilt = 10 ** (-(_absorption(fk) - peak_absorption) * call.distance_m / 20)
        out += 10 ** (level_db / 20) * mask * tilt * np.sin(order * phase + rng.uniform(0, 2 * np.pi))
    if ref_mask is None:
        ref_mask = np.ones(n)
    scale = amplitude.max()
    if scale <= 0:
        return None
    out *= amplitude / scale * noise_rms * 10 ** (call.level_db / 20)
    visible = visibility * ref_mask >= visibility.max() * 10 ** (_VISIBLE_DB / 20)
    if not visible.any():
        return None
    first, last = int(np.argmax(visible)), n - 1 - int(np.argmax(visible[::-1]))
    low_hz, high_hz = float(f_ref[visible].min()), float(f_ref[visible].max())
    # Peak frequency of the rendered call inside its box: what a measurement on clean audio would give.
    size = max(8192, 1 << int(math.ceil(math.log2(n))))
    spectrum = np.abs(np.fft.rfft(out, size))  # no window: the call's own envelope already tapers it
    freqs = np.fft.rfftfreq(size, 1 / sample_rate_hz)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    peak_hz = float(freqs[band][np.argmax(spectrum[band])]) if band.any() else call.peak_hz
    white_rms = noise_rms * math.sqrt(nyquist / SNR_REFERENCE_BAND_HZ)
    return _Rendered(
        out,
        call.onset_s + first / sample_rate_hz,
        call.onset_s + (last + 1) / sample_rate_hz,
        low_hz,
        high_hz,
        peak_hz,
        _spectrogram_snr_db(out, sample_rate_hz, white_rms),
    )


def _add(target: np.ndarray, offset: int, samples: np.ndarray, gain: float = 1.0) -> None:
    lo, hi = max(offset, 0), min(offset + len(samples), len(target))
    if hi > lo:
        target[lo:hi] += gain * samples[lo - offset : hi - offset]


# --------------------------------------------------------------------------------------------------- noise


def _background(n: int, white_rms: float, rng: np.random.Generator) -> np.ndarray:
    """Microphone self-noise: white, float32. Low-frequency sound (wind) is a noise source of its own."""
    out = rng.standard_normal(n, dtype=np.float32)
    out *= np.float32(white_rms)
    return out


def _noise_event(start_s: float, end_s: float, low_hz: float, high_hz: float, kind: str) -> EventLabel:
    return EventLabel(start_s, end_s, low_hz, high_hz, NOISE, "none", extra={"noise_kind": kind})


def _insects(
    out: np.ndarray, sr: int, amplitude: float, duration_s: float, rng: np.random.Generator
) -> list[EventLabel]:
    """Bush-cricket stridulation (bats.md 4.2): a narrow carrier at 10-40 kHz, gated into 1-5 ms syllables
    repeated every 2-30 ms, in chirps or as a steady song. Two thirds of the carriers fall above 20 kHz,
    inside the bat band, as 185 of the 428 real noise events of labelled-europe do."""
    carrier_hz = _uniform(rng, (10e3, 40e3))
    spread = _uniform(rng, (0.01, 0.04))
    # Three close partials beat against each other: the rough, slightly broadened band real stridulation has.
    partials_hz = carrier_hz * (1 + spread * np.arange(-1, 2) + rng.normal(0, 0.003, 3))
    phases = rng.uniform(0, 2 * np.pi, 4)
    with_octave = 2 * carrier_hz < 0.45 * sr
    syllable_s = _uniform(rng, (1e-3, 5e-3))
    period_s = _uniform(rng, (max(1.3 * syllable_s, 2e-3), 30e-3))  # up to nearly continuous
    chirps: list[tuple[float, float]] = []
    if rng.random() < 0.5:
        chirps.append((0.0, duration_s))  # steady song through the whole file
    else:
        s = _uniform(rng, (0.0, 0.4))
        while s < duration_s:
            e = min(s + _uniform(rng, (0.05, 0.4)), duration_s)
            chirps.append((s, e))
            s = e + _uniform(rng, (0.1, 0.8))
    m = max(int(syllable_s * sr), 4)
    shape = np.sin(np.pi * np.arange(m) / m) ** 2
    # Syllable by syllable: work in proportion to the sound, not to the file (most of a song is silence).
    for s, e in chirps:
        for onset in np.arange(s, e - syllable_s, period_s):
            i = int(onset * sr)
            t = (i + np.arange(m)) / sr
            tone = np.sin(2 * np.pi * partials_hz[:, None] * t + phases[:3, None]).sum(axis=0)
            if with_octave:
                tone += 10 ** (-12 / 20) * np.sin(4 * np.pi * carrier_hz * t + phases[3])
            _add(out, i, tone * shape, amplitude / 2 * (1.0 + 0.2 * float(rng.normal())))
    half_band = carrier_hz * spread * 1.5 + 500.0
    return [_noise_event(s, e, carrier_hz - half_band, carrier_hz + half_band, "insect") for s, e in chirps]


def _impulses(
    out: np.ndarray,
    sr: int,
    amplitude: float,
    duration_s: float,
    rng: np.random.Generator,
    kind: Literal["rain", "click"],
) -> list[EventLabel]:
    """Rain: broadband decaying noise bursts at 5-40 per s; clicks: rarer, sharper, ringing impulses."""
    rate = _uniform(rng, (5.0, 40.0) if kind == "rain" else (0.3, 3.0))
    count = int(rng.poisson(rate * duration_s))
    events = []
    for onset in np.sort(rng.uniform(0, duration_s, count)):
        if kind == "rain":
            tau = _uniform(rng, (0.1e-3, 0.8e-3))
            m = max(int(5 * tau * sr), 4)
            burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (tau * sr))
        else:
            tau = _uniform(rng, (0.05e-3, 0.3e-3))
            m = max(int(5 * tau * sr), 4)
            ring_hz = _uniform(rng, (5e3, min(60e3, 0.4 * sr)))
            k = np.arange(m)
            burst = np.exp(-k / (tau * sr)) * np.sin(2 * np.pi * ring_hz * k / sr)
            burst[0] += 1.0
        level = amplitude * 10 ** (float(rng.normal(0, 4)) / 20)
        _add(out, int(onset * sr), burst / max(np.abs(burst).max(), 1e-12), level)
        events.append(_noise_event(float(onset), float(onset + 3 * tau), 1_000.0, 0.95 * sr / 2, kind))
    return events


def _wind(
    out: np.ndarray, sr: int, rms: float, duration_s: float, rng: np.random.Generator
) -> list[EventLabel]:
    """Low-frequency gusts: noise low-passed at 0.3-2 kHz under a slow random envelope.

    Made at ~16 kHz and brought to the file rate with a polyphase filter, whose anti-imaging keeps the
    upsampled wind out of the bat band (a plain interpolation would leak images of it to 16-32 kHz)."""
    n = len(out)
    factor = max(1, round(sr / 16_000))
    low_rate = sr / factor
    n_low = n // factor + 2
    cutoff_hz = _uniform(rng, (300.0, 2_000.0))
    spectrum = np.fft.rfft(rng.standard_normal(n_low))
    freqs = np.fft.rfftfreq(n_low, 1 / low_rate)
    spectrum /= 1.0 + (freqs / cutoff_hz) ** 4  # a steep roll-off, far below the bat band
    wind = np.fft.irfft(spectrum, n_low)
    knots = np.arange(0.0, duration_s + 0.2, 0.1)
    gusts = np.exp(np.cumsum(rng.normal(0, 0.35, len(knots))))  # a log random walk: gusts rise and die away
    wind *= np.interp(np.arange(n_low) / low_rate, knots, gusts / gusts.mean())
    wind *= rms / max(float(np.std(wind)), 1e-12)
    upsampled = signal.resample_poly(wind.astype(np.float32), factor, 1)
    out += upsampled[:n] if len(upsampled) >= n else np.pad(upsampled, (0, n - len(upsampled)))
    return [_noise_event(0.0, duration_s, 0.0, 3 * cutoff_hz, "wind")]


# ------------------------------------------------------------------------------------------------ recording


def synthesise_recording(
    spec: RecordingSpec, rng: np.random.Generator
) -> tuple[np.ndarray, int, tuple[EventLabel, ...]]:
    """Render one recording: float32 samples in [-1, 1] at the true rate, that rate, and every event.

    Events are in true time, sorted by start: one per generated call (species of its bat; call_type
    echolocation, feeding_buzz or social_call; extra columns peak_hz, snr_db, individual, variant) and one per
    noise event (species `noise`, call_type `none`, extra column noise_kind). Samples beyond full scale clip,
    as a close bat clips a real recorder.
    """
    sr = spec.sample_rate_hz
    n = int(round(spec.duration_s * sr))
    noise_rms = 10 ** ((spec.noise_floor_dbfs + spec.noise_offset_db) / 20)  # in the 10 kHz reference band
    white_rms = noise_rms * math.sqrt((sr / 2) / SNR_REFERENCE_BAND_HZ)
    out = _background(n, white_rms, rng)
    events: list[EventLabel] = []

    for source in spec.noise:
        # Narrowband sources are measured against the background in the 10 kHz band, broadband impulses
        # (rain, clicks) against the whole background, so their snr_db means what it says in the waveform.
        level = (white_rms if source.kind in ("rain", "click") else noise_rms) * 10 ** (source.snr_db / 20)
        if source.kind == "insect":
            events += _insects(out, sr, level, spec.duration_s, rng)
        elif source.kind in ("rain", "click"):
            events += _impulses(out, sr, level, spec.duration_s, rng, source.kind)
        elif source.kind == "wind":
            events += _wind(out, sr, level, spec.duration_s, rng)
        else:
            raise ValueError(f"unknown noise kind {source.kind!r}; expected one of {', '.join(NOISE_KINDS)}")

    rendered_calls = []
    for call in (c for bat in spec.bats for c in _pass_calls(bat, spec, rng)):
        rendered = _render_call(call, sr, noise_rms, rng)
        # Too faint to see is not generated at all, so every call in the audio is in events.csv.
        if rendered is not None and rendered.snr_db >= spec.difficulty.min_call_snr_db:
            rendered_calls.append((call, rendered))
    if spec.bats:
        rendered_calls = _dominance(rendered_calls, spec.bats[0].species)
    for call, rendered in rendered_calls:
        offset = int(round(call.onset_s * sr))
        _add(out, offset, rendered.samples)
        if call.echo is not None:
            delay_s, level_db = call.echo
            _add(out, offset + int(round(delay_s * sr)), rendered.samples, 10 ** (level_db / 20))
        events.append(
            EventLabel(
                start_s=rendered.start_s,
                end_s=rendered.end_s,
                low_hz=rendered.low_hz,
                high_hz=rendered.high_hz,
                species=call.species,
                call_type=call.call_type,
                extra={
                    "peak_hz": f"{rendered.peak_hz:.0f}",
                    "snr_db": f"{rendered.snr_db:.1f}",
                    "individual": str(call.individual),
                    "variant": call.variant,
                },
            )
        )
    np.clip(out, -1.0, 1.0, out=out)
    # A pulse or call that starts near the end is cut by the end of the file, and so is its box.
    length_s = n / sr
    inside = [
        e if e.end_s <= length_s else dataclasses.replace(e, end_s=length_s)
        for e in events
        if e.start_s < length_s and min(e.end_s, length_s) > e.start_s
    ]
    return out, sr, tuple(sorted(inside, key=lambda e: (e.start_s, e.end_s)))


def _bat_labels(labels: Sequence[str]) -> list[str]:
    return [label for label in labels if label in SPECIES_PARAMETERS]


def _random_pass(
    label: str,
    individual: int,
    rng: np.random.Generator,
    duration_s: float,
    difficulty: Difficulty,
    config: SynthConfig,
    noise_offset_db: float,
    *,
    main: bool,
) -> BatPass:
    params = parameters_for(label)
    if main:
        window = (0.0, duration_s)
        closest_time = duration_s * _uniform(rng, (0.25, 0.75))
        distance = params.detection_distance_m * _uniform(rng, difficulty.closest_approach_fraction)
        # The main bat must be heard: bring it closer until it is 12 dB over the floor at closest approach.
        peak_hz = 1e3 * float(np.mean([np.mean(v.peak_khz) for v in params.variants]))
        snr_1m = _source_snr_1m_db(params, peak_hz, config.detection_snr_db)
        while (
            snr_1m - 20 * math.log10(distance) - float(_absorption(peak_hz)) * distance - noise_offset_db
            < difficulty.min_call_snr_db + 12.0
        ) and distance > 0.5:
            distance *= 0.8
    else:
        # A second bat passes during part of the file, further away: present, but not the main one.
        length = duration_s * _uniform(rng, (0.3, 0.6))
        start = _uniform(rng, (0.0, duration_s - length))
        window = (start, start + length)
        closest_time = start + length * _uniform(rng, (0.3, 0.7))
        distance = params.detection_distance_m * _uniform(rng, (0.3, 0.9))
    return BatPass(
        species=label,
        individual=individual,
        closest_time_s=closest_time,
        closest_distance_m=distance,
        speed_m_s=_uniform(rng, (5.0, 10.0)),
        window_s=window,
        feeding_buzz=params.feeding_buzz and rng.random() < difficulty.feeding_buzz_probability,
        social_calls=params.social is not None and rng.random() < difficulty.social_call_probability,
        near_clutter=rng.random() < difficulty.clutter_probability,
    )


def random_recording_spec(
    label: str,
    rng: np.random.Generator,
    difficulty: Difficulty = EASY,
    config: SynthConfig = SynthConfig(),
    labels: Sequence[str] = DEFAULT_LABEL_SET,
) -> RecordingSpec:
    """Draw what one file of class `label` holds (`noise`: no bat, one to three noise sources or none)."""
    weights = np.asarray(config.sample_rate_weights, dtype=float)
    sample_rate = int(config.sample_rates_hz[int(rng.choice(len(weights), p=weights / weights.sum()))])
    duration = _uniform(rng, config.duration_s)
    offset = _uniform(rng, difficulty.noise_offset_db)
    bats: list[BatPass] = []
    noise: list[NoiseSource] = []
    if label == NOISE:
        # Noise-only files: mostly the sources that fool detectors; some hold nothing but background.
        if rng.random() < 0.85:
            kinds = rng.choice(len(NOISE_KINDS), size=_integer(rng, (1, 3)), replace=False)
            noise = [NoiseSource(NOISE_KINDS[k], _uniform(rng, (10.0, 35.0))) for k in sorted(kinds)]
    else:
        parameters_for(label)  # a clear KeyError for a label without parameters
        bats.append(_random_pass(label, 0, rng, duration, difficulty, config, offset, main=True))
        if rng.random() < difficulty.second_bat_probability:
            others = [b for b in _bat_labels(labels) if b != label]
            other = (
                label
                if (rng.random() < difficulty.same_species_share or not others)
                else str(rng.choice(others))
            )
            bats.append(_random_pass(other, 1, rng, duration, difficulty, config, offset, main=False))
        for kind in NOISE_KINDS:
            if rng.random() < difficulty.noise_source_probability:
                snr = _uniform(rng, difficulty.noise_source_snr_db) + (15.0 if kind == "wind" else 0.0)
                noise.append(NoiseSource(kind, snr))
    return RecordingSpec(
        duration_s=duration,
        sample_rate_hz=sample_rate,
        bats=tuple(bats),
        noise=tuple(noise),
        noise_offset_db=offset,
        difficulty=difficulty,
        detection_snr_db=config.detection_snr_db,
        noise_floor_dbfs=config.noise_floor_dbfs,
    )


# -------------------------------------------------------------------------------------------------- dataset


def _slug(label: str) -> str:
    return label.lower().replace("/", "_").replace(" ", "_").replace(".", "")


def _file_call_types(label: str, events: Sequence[EventLabel]) -> tuple[str, ...]:
    if label == NOISE:
        return ("none",)
    present = {e.call_type for e in events if e.species == label}
    return tuple(t for t in ("echolocation", "feeding_buzz", "social_call") if t in present) or (
        "echolocation",
    )


def _timestamp(rng: np.random.Generator) -> datetime:
    # A summer night in the Netherlands (CEST), so GUANO carries a plausible, offset-aware start time.
    start = datetime(2024, 5, 15, 21, 0, tzinfo=timezone(timedelta(hours=2)))
    return start + timedelta(days=int(rng.integers(0, 120)), seconds=int(rng.integers(0, 7 * 3600)))


ProgressCallback = Callable[[int, int, str], None]


def generate_dataset(
    out_dir: str | Path,
    per_class: int,
    seed: int,
    difficulty: str | Difficulty = "easy",
    config: SynthConfig = SynthConfig(),
    *,
    labels: Sequence[str] = DEFAULT_LABEL_SET,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write `per_class` files for each label into `out_dir` as a dataset folder; returns the folder.

    Deterministic: file i of a label depends only on (seed, difficulty, label position, i), so a larger
    `per_class` adds files without changing the first ones. Besides WAVs, labels.csv and events.csv the folder
    gets synth.json (seed, difficulty, config), so a dataset says how it was made.
    """
    level = DIFFICULTIES[difficulty] if isinstance(difficulty, str) else difficulty
    if seed < 0 or per_class < 0:
        raise ValueError(f"seed and per_class must not be negative (got {seed}, {per_class})")
    for label in labels:
        if label != NOISE:
            parameters_for(label)  # refuse an unknown label before writing anything
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    difficulty_index = list(DIFFICULTIES).index(level.name) if level.name in DIFFICULTIES else 99
    files: list[DatasetFile] = []
    total = per_class * len(labels)
    for class_index, label in enumerate(labels):
        for i in range(per_class):
            rng = np.random.default_rng([GENERATOR_VERSION, seed, difficulty_index, class_index, i])
            spec = random_recording_spec(label, rng, level, config, labels)
            samples, true_rate, events = synthesise_recording(spec, rng)
            time_expanded = rng.random() < config.time_expanded_share
            te = config.time_expansion_factor if time_expanded else 1
            with_guano = rng.random() < (config.guano_te_share if time_expanded else config.guano_share)
            path = out / f"{_slug(label)}_{i:04d}.wav"
            pcm = np.round(samples * 32767).astype(np.int16)
            sf.write(path, pcm, true_rate // te, subtype="PCM_16")
            if with_guano:
                fields: dict[str, str | float | int | datetime] = {
                    "Timestamp": _timestamp(rng),
                    "Samplerate": true_rate,
                    "Length": round(len(samples) / true_rate, 3),
                    "Make": "Batsite",
                    "Model": "ml.synth",
                    "Note": f"synthetic, seed {seed}, {level.name}",
                }
                if time_expanded:
                    fields["TE"] = te
                write_guano(path, fields)
            other_species = sorted({e.species for e in events if e.species not in (label, NOISE)})
            noise_kinds = sorted({e.extra.get("noise_kind", "") for e in events if e.species == NOISE} - {""})
            files.append(
                DatasetFile(
                    path=path,
                    species=label,
                    call_types=_file_call_types(label, events),
                    time_expansion=float(te),
                    source=f"synthetic: Batsite ml.synth v{GENERATOR_VERSION}, seed {seed}, {level.name}",
                    licence=LICENCE,
                    events=events,
                    extra={
                        "true_sample_rate_hz": str(true_rate),
                        "duration_s": f"{len(samples) / true_rate:.6f}",
                        "guano_te": "yes" if (with_guano and time_expanded) else "no",
                        "other_species": ";".join(other_species),
                        "noise_kinds": ";".join(noise_kinds),
                        "difficulty": level.name,
                    },
                )
            )
            if progress is not None:
                progress(len(files), total, label)
    write_dataset(out, files)
    manifest = {
        "generator": f"ml.synth v{GENERATOR_VERSION}",
        "seed": seed,
        "per_class": per_class,
        "difficulty": asdict(level),
        "labels": list(labels),
        "config": asdict(config),
    }
    (out / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out
