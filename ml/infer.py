"""Inference: one recording in, its calls, passes and recording-level answer out.

Place in the pipeline: ml.audio -> ml.spectrogram -> ml.detect -> ml.features + ml.model (per call) ->
**ml.infer** (passes, recording) -> the web app's CallDetection / Prediction rows, `python -m ml analyse`.

`analyse(path, model)` decodes the file once, computes one spectrogram (the model's configuration, which
the detector reads too, exactly as in training), detects calls, classifies them in batches and then:

1. Each call gets an answer with `ml.calibration.fallback_label`: its class when the calibrated probability
   reaches the threshold, else its group, else `Chiroptera sp.`, or `noise`. Classes whose echolocation calls
   never peak at an echolocation call's frequency cannot be its answer (ml.plausibility); their mass still
   counts as bat. Passes and the recording drop the classes most of their echolocation calls cannot be.
2. Calls become passes (ARCHITECTURE.md, Labels): a run of at least `min_pass_calls` calls of one species or
   group with gaps under `pass_gap_s`. Echolocation calls with a species answer form the passes first; then
   feeding buzzes and social calls join the pass they sit in (whatever species the classifier gave them), and
   calls answered only at group level join a pass of a species of that group; what is left forms passes of
   its own per group. Each pass is then labelled from the mean probabilities of its evidence (its calls of
   that label or a compatible one) with the same fallback. A call in no pass has `pass_index` -1.
3. The recording lists every species (or group) with at least one pass, dominant first (most calls, then
   the highest summed probability); its confidence is the mean calibrated probability of the dominant
   answer over that answer's evidence calls. A file with bat calls but no pass (a single call) is answered
   from the mean probabilities of its bat calls. A file with no calls, or only noise, is `noise` with call
   type `none`. The main call type is the one taking the most time (ml.features.call_time_shares).

The model is loaded once per process by ml.model.load_model (cached per path and mtime); `analyse` takes
the loaded model and never reloads it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.audio import Audio, load_audio
from ml.calibration import DEFAULT_CONFIDENCE_THRESHOLD
from ml.detect import CallEvent, detect_calls
from ml.features import call_time_shares
from ml.labels import BAT, GROUPS, NOISE, group_of
from ml.model import LoadedModel, classify_calls
from ml.plausibility import check_calls
from ml.spectrogram import Spectrogram, compute_spectrogram

__all__ = [
    "Analysis",
    "CallResult",
    "InferConfig",
    "PassResult",
    "aggregate",
    "analyse",
    "analyse_audio",
    "as_dict",
    "label_mass",
]

ECHOLOCATION = "echolocation"
NONE_CALL_TYPE = "none"
# Call types in the order they are listed when equally frequent.
_CALL_TYPE_ORDER = ("echolocation", "feeding_buzz", "social_call", "none")


@dataclass(frozen=True)
class InferConfig:
    """Settings of the aggregation; the web app passes its own pass gap and confidence threshold."""

    pass_gap_s: float = 1.0  # calls further apart than this start a new pass
    min_pass_calls: int = 2
    # None: the threshold stored in the checkpoint (ml.train writes the one it scored with), else ml's default.
    confidence_threshold: float | None = None
    batch_size: int = 128  # calls per forward pass (and per batch of crops)
    # torch threads for the forward pass. One by default: a worker analyses one file per process, many
    # processes side by side, and a small CNN gains little from more threads. None leaves torch as it is.
    torch_threads: int | None = 1
    # Give freed heap memory back to the OS after each file (glibc malloc_trim). Files of different lengths
    # and call counts leave the heap fragmented; without this a worker's RSS creeps up by ~2 MB a file
    # for the first hundred files (bench/analyse_memory.py). Costs about a millisecond.
    release_memory: bool = True

    def __post_init__(self) -> None:
        if self.pass_gap_s <= 0:
            raise ValueError("pass_gap_s must be positive")
        if self.min_pass_calls < 1:
            raise ValueError("min_pass_calls must be at least 1")
        if self.confidence_threshold is not None and not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError("confidence_threshold must lie in [0, 1]")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


@dataclass(frozen=True)
class CallResult:
    """One detected call with the classifier's answer (times and frequencies true, after time expansion)."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float
    snr_db: float
    pass_index: int  # index into Analysis.passes, -1 when the call belongs to no pass
    species: str  # the answer after fallback: a class, a group id, `Chiroptera sp.` or `noise`
    call_type: str  # `none` for noise
    confidence: float  # calibrated probability behind `species` (summed over a group's classes)
    call_type_confidence: float
    species_probabilities: tuple[tuple[str, float], ...]  # every class, best first
    novel: bool = False  # an echolocation call unlike every class the model was trained on (ml.novelty)


@dataclass(frozen=True)
class PassResult:
    start_s: float  # start of the first call
    end_s: float  # end of the last call
    species: str  # a class or a group id
    n_calls: int
    call_types: tuple[str, ...]  # present in the pass, the one taking the most time first
    confidence: float  # mean calibrated probability of `species` over the pass's calls


@dataclass(frozen=True)
class Analysis:
    file: str
    sample_rate_hz: int  # true sample rate of the recording (header rate x time expansion)
    time_expansion: float
    duration_s: float  # true duration
    calls: tuple[CallResult, ...]
    passes: tuple[PassResult, ...]
    species: str  # the answer after fallback: a class, a group id or "noise"
    species_group: str  # its group; `noise` for noise
    species_present: tuple[str, ...]  # dominant first; ("noise",) when no bat
    call_type: str  # main call type; `none` for noise
    call_types: tuple[str, ...]  # present, main first
    confidence: float
    top: tuple[tuple[str, float], ...]  # the model's class probabilities for the recording, best first
    model_version: str = ""
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD

    @property
    def bat_calls(self) -> tuple[CallResult, ...]:
        return tuple(c for c in self.calls if c.species != NOISE)


# ------------------------------------------------------------------------------------------------ helpers


def label_mass(probabilities: np.ndarray, label: str, label_set: Sequence[str]) -> np.ndarray:
    """Probability of `label` per row: a class's own column, a group's summed columns, every bat column for
    `Chiroptera sp.`. probabilities: (n, n_classes) -> (n,)."""
    probabilities = np.atleast_2d(probabilities)
    if label in label_set:
        return probabilities[:, list(label_set).index(label)]
    if label == BAT:
        columns = [i for i, c in enumerate(label_set) if c != NOISE]
    elif label in GROUPS:
        columns = [i for i, c in enumerate(label_set) if c != NOISE and group_of(c) == label]
    else:
        columns = []
    if not columns:
        return np.zeros(len(probabilities), dtype=np.float64)
    return probabilities[:, columns].sum(axis=1)


def _ordered_types(types: Sequence[str], weights: Sequence[float] | None = None) -> tuple[str, ...]:
    """The call types present, the one with the most weight (calls, or their time shares) first."""
    totals: dict[str, float] = {}
    for k, t in enumerate(types):
        totals[t] = totals.get(t, 0.0) + (1.0 if weights is None else float(weights[k]))
    rank = {t: i for i, t in enumerate(_CALL_TYPE_ORDER)}
    return tuple(sorted(totals, key=lambda t: (-totals[t], rank.get(t, len(rank)), t)))


def _runs(indices: Sequence[int], starts_s: np.ndarray, ends_s: np.ndarray, gap_s: float) -> list[list[int]]:
    """Split call indices (in time order) into runs whose start-to-previous-end gaps are under gap_s."""
    runs: list[list[int]] = []
    last_end = -np.inf
    for i in indices:
        if runs and starts_s[i] - last_end < gap_s:
            runs[-1].append(i)
        else:
            runs.append([i])
        last_end = max(last_end, ends_s[i]) if len(runs[-1]) > 1 else ends_s[i]
    return runs


def _compatible(call_label: str, pass_label: str) -> bool:
    """Can a call answered `call_label` (a group, or a species without its own run) join a pass of `pass_label`?"""
    if call_label == pass_label:
        return True
    if call_label == BAT:
        return True  # a bat of unknown group joins any bat pass it sits in
    return group_of(pass_label) == call_label or group_of(call_label) == pass_label


@dataclass
class _Pass:
    label: str
    members: list[int]
    start_s: float
    end_s: float

    def add(self, i: int, start_s: float, end_s: float) -> None:
        self.members.append(i)
        self.start_s = min(self.start_s, start_s)
        self.end_s = max(self.end_s, end_s)

    def distance_s(self, start_s: float, end_s: float) -> float:
        """0 inside the pass, else the gap to its nearer end."""
        return max(0.0, self.start_s - end_s, start_s - self.end_s)


def _build_passes(
    labels: Sequence[str],
    call_types: Sequence[str],
    starts_s: np.ndarray,
    ends_s: np.ndarray,
    config: InferConfig,
) -> list[_Pass]:
    """Passes per module docstring, step 2. Only bat calls (label != noise) take part."""
    order = [int(i) for i in np.argsort(starts_s, kind="stable") if labels[int(i)] != NOISE]
    gap = config.pass_gap_s
    passes: list[_Pass] = []
    assigned: set[int] = set()

    # (a) Search-phase calls with a species-level answer: the backbone of each pass.
    anchors: dict[str, list[int]] = {}
    for i in order:
        if call_types[i] == ECHOLOCATION and labels[i] != BAT and labels[i] not in GROUPS:
            anchors.setdefault(labels[i], []).append(i)
    for label, members in anchors.items():
        for run in _runs(members, starts_s, ends_s, gap):
            if len(run) >= config.min_pass_calls:
                passes.append(_Pass(label, list(run), float(starts_s[run[0]]), float(max(ends_s[run]))))
                assigned.update(run)

    # (b) Buzzes and social calls join the pass they sit in, any species; group-level and lone species calls
    # join a pass of a species they are compatible with. Nearest pass first, same label preferred.
    for i in order:
        if i in assigned or not passes:
            continue
        behaviour = call_types[i] != ECHOLOCATION
        candidates = [
            p for p in passes
            if p.distance_s(starts_s[i], ends_s[i]) < gap and (behaviour or _compatible(labels[i], p.label))
        ]  # fmt: skip
        if not candidates:
            continue
        best = min(candidates, key=lambda p: (p.label != labels[i], p.distance_s(starts_s[i], ends_s[i])))
        best.add(i, float(starts_s[i]), float(ends_s[i]))
        assigned.add(i)

    # (c) What is left forms passes of its own, per group: two "Myotis sp." calls, or a Daubenton's call next
    # to a "Myotis sp." call, are a Myotis pass. A run whose calls all share one label keeps that label.
    leftovers: dict[str, list[int]] = {}
    for i in order:
        if i not in assigned:
            key = labels[i] if labels[i] in GROUPS else group_of(labels[i])
            leftovers.setdefault(key, []).append(i)
    for key, members in leftovers.items():
        for run in _runs(members, starts_s, ends_s, gap):
            if len(run) >= config.min_pass_calls:
                run_labels = {labels[i] for i in run}
                label = run_labels.pop() if len(run_labels) == 1 else key
                passes.append(_Pass(label, list(run), float(starts_s[run[0]]), float(max(ends_s[run]))))
    passes.sort(key=lambda p: (p.start_s, p.label))
    for p in passes:
        p.members.sort(key=lambda i: (starts_s[i], i))
    return passes


def _sorted_probabilities(
    probabilities: np.ndarray, label_set: Sequence[str]
) -> tuple[tuple[str, float], ...]:
    order = np.argsort(-probabilities, kind="stable")
    return tuple((label_set[int(k)], round(float(probabilities[int(k)]), 6)) for k in order)


# ------------------------------------------------------------------------------------------------ analysis


def _noise_analysis(
    path: Path,
    audio: Audio,
    calls: tuple[CallResult, ...],
    species_probs: np.ndarray,
    model: LoadedModel,
    threshold: float,
) -> Analysis:
    label_set = model.label_set
    if len(species_probs):
        mean = species_probs.mean(axis=0)
        confidence = float(label_mass(mean, NOISE, label_set)[0]) if NOISE in label_set else 0.0
    else:
        # Nothing the detector would call a call: certain noise as far as the classifier is concerned.
        mean = np.array([1.0 if c == NOISE else 0.0 for c in label_set])
        confidence = 1.0
    return Analysis(
        file=str(path),
        sample_rate_hz=audio.true_sample_rate_hz,
        time_expansion=audio.time_expansion,
        duration_s=audio.duration_s,
        calls=calls,
        passes=(),
        species=NOISE,
        species_group=NOISE,
        species_present=(NOISE,),
        call_type=NONE_CALL_TYPE,
        call_types=(NONE_CALL_TYPE,),
        confidence=round(confidence, 6),
        top=_sorted_probabilities(mean, label_set),
        model_version=model.version,
        threshold=threshold,
    )


def aggregate(
    path: str | os.PathLike[str],
    audio: Audio,
    events: Sequence[CallEvent],
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    model: LoadedModel,
    config: InferConfig = InferConfig(),
    *,
    novel: np.ndarray | None = None,
) -> Analysis:
    """Calls, passes and the recording's answer from per-call calibrated probabilities (module docstring).

    species_probs: (n_calls, len(model.label_set)); call_type_probs: (n_calls, len(model.call_types));
    novel: (n_calls,) calls unlike the training data (ml.novelty; None: none are).
    """
    path = Path(path)
    label_set = model.label_set
    threshold = (
        config.confidence_threshold
        if config.confidence_threshold is not None
        else float(model.metrics.get("threshold", DEFAULT_CONFIDENCE_THRESHOLD))
    )
    n = len(events)
    starts = np.array([e.start_s for e in events], dtype=np.float64)
    ends = np.array([e.end_s for e in events], dtype=np.float64)

    # Step 1: an answer per call, from the probabilities of the classes whose known echolocation calls can
    # peak at the call's frequency (ml.plausibility); the bat mass stays that of the model's output.
    bat_type_columns = [k for k, t in enumerate(model.call_types) if t != NONE_CALL_TYPE]
    checks = check_calls(
        species_probs, call_type_probs, np.array([e.peak_hz for e in events], dtype=np.float64), label_set,
        model.call_types, novel,
    )  # fmt: skip

    def confidence_of(label: str, rows) -> float:
        """Mean probability of an answer over calls: `Chiroptera sp.` from the model's own output."""
        if label == BAT:
            return float(checks.bat_mass[rows].mean())
        return float(label_mass(checks.pooled(rows, for_group=label in GROUPS), label, label_set)[0])

    answers = checks.call_answers(threshold)
    labels = [a.label for a in answers]
    call_types: list[str] = []
    call_type_conf: list[float] = []
    for i in range(n):
        if labels[i] == NOISE or not bat_type_columns:
            k = model.call_types.index(NONE_CALL_TYPE) if NONE_CALL_TYPE in model.call_types else 0
            call_types.append(NONE_CALL_TYPE)
        else:
            # A bat call has a bat call type even when the call-type head hesitates towards `none`.
            k = bat_type_columns[int(np.argmax(call_type_probs[i, bat_type_columns]))]
            call_types.append(model.call_types[k])
        call_type_conf.append(float(call_type_probs[i, k]) if call_type_probs.shape[1] else 0.0)

    # Step 2: passes.
    passes = _build_passes(labels, call_types, starts, ends, config)
    pass_of = np.full(n, -1, dtype=np.int64)
    for index, p in enumerate(passes):
        pass_of[p.members] = index

    calls = tuple(
        CallResult(
            start_s=float(e.start_s),
            end_s=float(e.end_s),
            low_hz=float(e.low_hz),
            high_hz=float(e.high_hz),
            peak_hz=float(e.peak_hz),
            snr_db=float(e.snr_db),
            pass_index=int(pass_of[i]),
            species=labels[i],
            call_type=call_types[i],
            confidence=round(float(answers[i].confidence), 6),
            call_type_confidence=round(call_type_conf[i], 6),
            species_probabilities=_sorted_probabilities(species_probs[i], label_set),
            novel=bool(checks.novel[i]),
        )
        for i, e in enumerate(events)
    )
    bat = np.array([label != NOISE for label in labels], dtype=bool)
    if not bat.any():
        return _noise_analysis(path, audio, calls, species_probs, model, threshold)
    time_share = np.zeros(n)
    time_share[bat] = call_time_shares(starts[bat])

    # A pass is labelled by its evidence: the calls answered with its label or one compatible with it (buzzes
    # and social calls that joined it by time, whatever the classifier made of them, count for the pass but are
    # no evidence for its species). The evidence's mean probabilities go through the same fallback as a call,
    # so a pass of two sure noctule calls and forty calls of "some bat" is a bat pass, not a noctule pass.
    evidence: list[list[int]] = []
    for p in passes:
        rows = [i for i in p.members if _compatible(labels[i], p.label)] or p.members
        answer = checks.answer(rows, threshold)
        p.label = answer.label if answer.label != NOISE else BAT  # it has bat calls in a run: a bat at least
        evidence.append(rows)
    pass_results = tuple(
        PassResult(
            start_s=p.start_s,
            end_s=p.end_s,
            species=p.label,
            n_calls=len(p.members),
            call_types=_ordered_types([call_types[i] for i in p.members], time_share[p.members]),
            confidence=round(confidence_of(p.label, rows), 6),
        )
        for p, rows in zip(passes, evidence)
    )

    # Step 3: the recording.
    if passes:
        members_of: dict[str, list[int]] = {}
        evidence_of: dict[str, list[int]] = {}
        for p, rows in zip(passes, evidence):
            members_of.setdefault(p.label, []).extend(p.members)
            evidence_of.setdefault(p.label, []).extend(rows)
        summed = {label: confidence_of(label, m) * len(m) for label, m in evidence_of.items()}
        present = sorted(members_of, key=lambda label: (-len(members_of[label]), -summed[label], label))
        species = present[0]
        # Each pass of this label reached the threshold on its own, so their pooled mean does too.
        confidence = confidence_of(species, evidence_of[species])
        type_rows = [i for p in passes for i in p.members]
    else:
        # Bat calls but no pass (a single call, or calls of different groups far apart): the answer rests on
        # the bat calls together.
        rows = np.flatnonzero(bat)
        answer = checks.answer(rows, threshold)
        species = answer.label if answer.label != NOISE else BAT
        confidence = confidence_of(species, rows)
        present = [species]
        type_rows = list(rows)
    # Main call type by time, not by calls: a feeding buzz's dozens of calls do not outvote its pass.
    types = _ordered_types([call_types[i] for i in type_rows], time_share[type_rows]) or (ECHOLOCATION,)
    # Every bat call type in the file counts as present, also outside passes (a lone social call).
    extra_types = [t for t in _ordered_types([call_types[i] for i in np.flatnonzero(bat)]) if t not in types]
    top = species_probs[bat].mean(axis=0)
    return Analysis(
        file=str(path),
        sample_rate_hz=audio.true_sample_rate_hz,
        time_expansion=audio.time_expansion,
        duration_s=audio.duration_s,
        calls=calls,
        passes=pass_results,
        species=species,
        species_group=group_of(species),
        species_present=tuple(present),
        call_type=types[0],
        call_types=tuple(types) + tuple(extra_types),
        confidence=round(confidence, 6),
        top=_sorted_probabilities(top, label_set),
        model_version=model.version,
        threshold=threshold,
    )


def analyse_audio(
    path: str | os.PathLike[str],
    audio: Audio,
    model: LoadedModel,
    *,
    config: InferConfig = InferConfig(),
    spectrogram: Spectrogram | None = None,
) -> tuple[Analysis, Spectrogram]:
    """`analyse` for audio already loaded; also returns the spectrogram (ml.explain and the plots reuse it)."""
    if spectrogram is None or spectrogram.config != model.spectrogram:
        spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz, model.spectrogram)
    events = detect_calls(audio, model.detect, spectrogram=spectrogram)
    if config.torch_threads is not None and torch.get_num_threads() != config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    species_probs, call_type_probs, novel = classify_calls(
        model, audio, events, spectrogram=spectrogram, batch_size=config.batch_size
    )
    analysis = aggregate(path, audio, events, species_probs, call_type_probs, model, config, novel=novel)
    return analysis, spectrogram


@functools.cache
def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or a no-op where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


def analyse(
    path: str | os.PathLike[str],
    model: LoadedModel,
    *,
    time_expansion: float | None = None,
    config: InferConfig = InferConfig(),
) -> Analysis:
    """Analyse one recording with a loaded model (ml.model.load_model).

    `time_expansion`: GUANO `TE` in the file wins, else this argument (the visit's setting), else 1.
    Raises ml.audio.AudioError subclasses for files that cannot be analysed.
    """
    audio = load_audio(path, time_expansion=time_expansion)
    analysis = analyse_audio(path, audio, model, config=config)[0]
    del audio  # the samples and spectrogram are garbage now; hand their pages back before returning
    if config.release_memory:
        _malloc_trim()()
    return analysis


def as_dict(analysis: Analysis) -> dict[str, object]:
    """The JSON object `python -m ml analyse --json` prints for one file (plain types, rounded)."""
    return {
        "file": analysis.file,
        "species": analysis.species,
        "species_group": analysis.species_group,
        "species_present": list(analysis.species_present),
        "call_type": analysis.call_type,
        "call_types": list(analysis.call_types),
        "confidence": round(analysis.confidence, 4),
        "top": [[label, round(p, 4)] for label, p in analysis.top],
        "sample_rate_hz": analysis.sample_rate_hz,
        "time_expansion": analysis.time_expansion,
        "duration_s": round(analysis.duration_s, 6),
        "model_version": analysis.model_version,
        "passes": [
            {
                "start_s": round(p.start_s, 6),
                "end_s": round(p.end_s, 6),
                "species": p.species,
                "n_calls": p.n_calls,
                "call_types": list(p.call_types),
                "confidence": round(p.confidence, 4),
            }
            for p in analysis.passes
        ],
        "calls": [
            {
                "start_s": round(c.start_s, 6),
                "end_s": round(c.end_s, 6),
                "low_hz": round(c.low_hz, 1),
                "high_hz": round(c.high_hz, 1),
                "peak_hz": round(c.peak_hz, 1),
                "snr_db": round(c.snr_db, 2),
                "pass": c.pass_index,
                "species": c.species,
                "call_type": c.call_type,
                "confidence": round(c.confidence, 4),
                "novel": c.novel,
            }
            for c in analysis.calls
        ],
    }
