"""From dataset folders to call-level examples: the bridge between ml.dataset and ml.train / ml.evaluate.

Place in the pipeline: ml.dataset (labels.csv, events.csv) + ml.audio + ml.spectrogram + ml.detect ->
**ml.training_data** -> ml.train, ml.evaluate.

Each recording is decoded, turned into a spectrogram and run through the call detector once; the
detected calls become examples, because detected calls are what the model sees in use (their boxes,
peaks and neighbours, not hand-drawn ones). Labels:
- A file with events.csv rows: each detection takes the label of the labelled event it overlaps by at
  least half of the shorter of the two (the rule the detector is scored with); a detection that overlaps
  no labelled event at all is `noise` (call type `none`); one that touches a bat event only a little is
  left unlabelled (ambiguous), not taught either way. Labelled events the detector missed are added as
  extra training examples from their box (`detected=False`), bat calls only; evaluation leaves them out.
- A file without events.csv rows: every detection carries the file's label (species, main call type).
Species are mapped onto the label set with `ml.labels.to_class`; a truth that is no class (a group,
`Chiroptera sp.`, a non-European species) is unknown to the species head (-1) but still counts for the
call-type head and, at group level, in evaluation.

Splits are by recording, never by call: the frozen test split is chosen from the file's content hash
alone (sha256 mod 100 < test_percent), so every model version, whatever else it trained on, is tested
on the same files; validation is drawn from the rest, per species, with the run's seed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ml.audio import AudioConfig, AudioError, load_audio
from ml.dataset import DatasetFile, EventLabel, read_dataset
from ml.detect import CallEvent, DetectConfig, detect_calls
from ml.features import CropConfig, call_context, call_crops
from ml.labels import BAT, CALL_TYPES, NOISE, normalise_call_type, to_class
from ml.spectrogram import Spectrogram, SpectrogramConfig, compute_spectrogram

__all__ = [
    "CallExamples",
    "DataConfig",
    "FileRecord",
    "LabelledCall",
    "assign_splits",
    "file_sha256",
    "is_test_file",
    "label_calls",
    "load_files",
    "manifest",
    "prepare_examples",
]

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DataConfig:
    """How recordings become labelled examples and splits."""

    # Share of recordings (by content hash) in the frozen test split: about 1 in 5.
    test_percent: int = 20
    # Share of the remaining recordings used for early stopping and temperature fitting.
    validation_fraction: float = 0.15
    # A detection takes an event's label when their time overlap is at least this share of the shorter one.
    min_overlap_fraction: float = 0.5
    # Keep at most this many detections per file in training (a 15 s file of an insect chorus would
    # otherwise swamp the rest); evaluation always uses every call.
    max_calls_per_file: int = 400


@dataclass(frozen=True)
class FileRecord:
    """One recording as used in a run: where it came from, its hash, its label and its split."""

    path: Path
    dataset: str  # the dataset folder as given
    relative_path: str  # path inside that folder (what the manifest stores)
    sha256: str
    species: str  # as written in labels.csv
    species_class: str  # to_class(species): a class, a group, `Chiroptera sp.` or `noise`
    call_type: str  # main call type ("" when unknown)
    time_expansion: float
    source: str
    licence: str
    split: str = "train"
    skipped: str = ""  # why the file gave no examples (unreadable audio ...), "" when used

    def manifest_row(self) -> dict[str, str]:
        return {
            "dataset": self.dataset,
            "path": self.relative_path,
            "sha256": self.sha256,
            "species": self.species,
            "class": self.species_class,
            "call_type": self.call_type,
            "licence": self.licence,
            "source": self.source,
            "split": self.split,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class LabelledCall:
    """A call with the truth it is taught or scored against."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float
    species: str  # vocabulary id (class, group, `Chiroptera sp.`, `noise`); "" = ambiguous, unlabelled
    call_type: str  # one of CALL_TYPES; "" = unknown
    detected: bool = True  # False: a labelled event the detector missed (training only)


@dataclass(frozen=True)
class CallExamples:
    """Arrays over the calls of many files (row i of each array is one call)."""

    crops: np.ndarray  # (n, 1, freq, time) float32
    context: np.ndarray  # (n, n_context) float32
    species: np.ndarray  # (n,) int64 index into label_set, -1 unknown
    call_type: np.ndarray  # (n,) int64 index into call_types, -1 unknown
    truth: tuple[str, ...]  # (n,) species truth as a vocabulary id ("" when ambiguous)
    file_index: np.ndarray  # (n,) int64 index into files
    detected: np.ndarray  # (n,) bool
    start_s: np.ndarray  # (n,) float64, call start in its file (true time)
    peak_hz: np.ndarray  # (n,) float64
    files: tuple[FileRecord, ...]
    label_set: tuple[str, ...]
    call_types: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.species)

    def subset(self, mask: np.ndarray) -> CallExamples:
        mask = np.asarray(mask)
        index = np.flatnonzero(mask) if mask.dtype == bool else mask
        return replace(
            self,
            crops=self.crops[index],
            context=self.context[index],
            species=self.species[index],
            call_type=self.call_type[index],
            truth=tuple(self.truth[i] for i in index),
            file_index=self.file_index[index],
            detected=self.detected[index],
            start_s=self.start_s[index],
            peak_hz=self.peak_hz[index],
        )

    def in_split(self, split: str) -> CallExamples:
        in_files = np.array([f.split == split for f in self.files], dtype=bool)
        return self.subset(in_files[self.file_index] if len(self.files) else np.zeros(0, dtype=bool))


# ------------------------------------------------------------------------------------------------ files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_test_file(sha256: str, test_percent: int) -> bool:
    """The frozen test split: decided by the file's content alone, the same for every run and version."""
    return int(sha256[:12], 16) % 100 < test_percent


def _main_call_type(file: DatasetFile, species_class: str) -> str:
    if species_class == NOISE:
        return "none"
    for text in file.call_types:
        found = normalise_call_type(text)
        if found:
            return found
    return ""


def load_files(
    data_dirs: Sequence[str | Path], label_set: Sequence[str]
) -> list[tuple[FileRecord, DatasetFile]]:
    """Every file of every dataset folder with its hash (splits not assigned yet)."""
    records = []
    for folder in data_dirs:
        folder = Path(folder)
        for file in read_dataset(folder):
            species_class = to_class(file.species, label_set) if file.species else BAT
            record = FileRecord(
                path=file.path,
                dataset=str(folder),
                relative_path=file.path.relative_to(folder).as_posix(),
                sha256=file_sha256(file.path),
                species=file.species,
                species_class=species_class,
                call_type=_main_call_type(file, species_class),
                time_expansion=file.time_expansion,
                source=file.source,
                licence=file.licence,
            )
            records.append((record, file))
    return records


def _seeded_key(seed: int, sha256: str) -> str:
    return hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()


def assign_splits(records: Sequence[FileRecord], config: DataConfig, seed: int) -> list[FileRecord]:
    """Test by content hash; validation per species class, interleaved so every class gets some first.

    The same content (a file copied into two folders) always lands in the same split.
    """
    out = [
        replace(r, split="test" if is_test_file(r.sha256, config.test_percent) else "train") for r in records
    ]
    by_class: dict[str, list[int]] = {}
    seen: set[str] = set()
    for i, r in enumerate(out):
        if r.split == "train" and r.sha256 not in seen:
            seen.add(r.sha256)
            by_class.setdefault(r.species_class, []).append(i)
    for members in by_class.values():
        members.sort(key=lambda i: _seeded_key(seed, out[i].sha256))
    # Round robin over classes (class order itself seeded): the first pick of each class, then the second...
    classes = sorted(by_class, key=lambda c: _seeded_key(seed, c))
    ordered = [
        by_class[c][k]
        for k in range(max((len(m) for m in by_class.values()), default=0))
        for c in classes
        if k < len(by_class[c])
    ]
    n_validation = int(math.ceil(config.validation_fraction * len(ordered))) if len(ordered) >= 2 else 0
    validation_hashes = {out[i].sha256 for i in ordered[:n_validation]}
    return [
        replace(r, split="validation") if r.split == "train" and r.sha256 in validation_hashes else r
        for r in out
    ]


def manifest(records: Sequence[FileRecord]) -> dict[str, object]:
    """The data manifest stored in a checkpoint: every file with hash, label, licence and split, and its hash."""
    rows = [r.manifest_row() for r in records]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    return {"files": rows, "sha256": digest, "n_files": len(rows)}


# ------------------------------------------------------------------------------------------------ labels


def _overlap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


# A detection's peak may sit a little outside a hand-drawn box (boxes are drawn on the visible part).
_BAND_MARGIN_HZ = 3_000.0
# Labelled events longer than any bat call are not turned into extra training examples.
_MAX_MISSED_EVENT_S = 0.15


def _event_truth(event: EventLabel, label_set: Sequence[str]) -> tuple[str, str]:
    species = to_class(event.species, label_set) if event.species else BAT
    if species == NOISE:
        return NOISE, "none"
    return species, normalise_call_type(event.call_type) or ""


def _peak_in_box(spectrogram: Spectrogram | None, event: EventLabel) -> float:
    """Peak frequency of a labelled box, read off the spectrogram (boxes carry no peak)."""
    low = event.low_hz if math.isfinite(event.low_hz) else 0.0
    high = event.high_hz if math.isfinite(event.high_hz) else math.inf
    if spectrogram is None or spectrogram.values_db.size == 0:
        return (low + min(high, 125_000.0)) / 2.0
    t = (spectrogram.times_s >= event.start_s) & (spectrogram.times_s <= event.end_s)
    f = (spectrogram.frequencies_hz >= low) & (spectrogram.frequencies_hz <= high)
    if not t.any() or not f.any():
        return (low + min(high, float(spectrogram.frequencies_hz[-1]))) / 2.0
    energy = spectrogram.values_db[np.ix_(f, t)].max(axis=1)
    return float(spectrogram.frequencies_hz[f][int(np.argmax(energy))])


def label_calls(
    detections: Sequence[CallEvent],
    file: DatasetFile,
    label_set: Sequence[str],
    *,
    config: DataConfig = DataConfig(),
    spectrogram: Spectrogram | None = None,
    include_missed: bool = False,
) -> list[LabelledCall]:
    """Detections with their truth (module docstring), plus missed labelled events when asked."""
    out: list[LabelledCall] = []
    if not file.events:
        species_class = to_class(file.species, label_set) if file.species else BAT
        call_type = _main_call_type(file, species_class)
        for d in detections:
            out.append(
                LabelledCall(d.start_s, d.end_s, d.low_hz, d.high_hz, d.peak_hz, species_class, call_type)
            )
        return out
    events = file.events
    truths = [_event_truth(e, label_set) for e in events]
    matched = [False] * len(events)
    for d in detections:
        best, best_key, touches_bat = -1, (False, 0.0), False
        for k, e in enumerate(events):
            if truths[k][0] == NOISE:
                continue  # noise events never outrank a bat call: an insect band may span the whole file
            overlap = _overlap_s(d.start_s, d.end_s, e.start_s, e.end_s)
            if overlap <= 0:
                continue
            # Two bats calling at once: the one whose band holds the detection's peak wins, then time overlap.
            # An insect chirp at 22 kHz during a 45 kHz buzz call only shares the time: it stays noise.
            in_band = not (math.isfinite(e.low_hz) and math.isfinite(e.high_hz)) or (
                e.low_hz - _BAND_MARGIN_HZ <= d.peak_hz <= e.high_hz + _BAND_MARGIN_HZ
            )
            touches_bat = touches_bat or in_band
            shorter = max(min(d.end_s - d.start_s, e.end_s - e.start_s), 1e-6)
            if overlap < config.min_overlap_fraction * shorter:
                continue
            key = (in_band, overlap)
            if key > best_key:
                best, best_key = k, key
        if best >= 0:
            matched[best] = True
            species, call_type = truths[best]
        elif touches_bat:
            species, call_type = "", ""
        else:
            # Overlapping a labelled noise event, or nothing labelled at all: in a file labelled call by
            # call, an unlabelled sound is not a bat.
            species, call_type = NOISE, "none"
        out.append(LabelledCall(d.start_s, d.end_s, d.low_hz, d.high_hz, d.peak_hz, species, call_type))
    if include_missed:
        for e, was_matched in zip(events, matched):
            if was_matched or not (math.isfinite(e.low_hz) and math.isfinite(e.high_hz)):
                continue
            species, call_type = _event_truth(e, label_set)
            if species == NOISE or e.end_s - e.start_s > _MAX_MISSED_EVENT_S:
                # Noise the detector already rejects (clicks, rain, an insect bed over the whole file)
                # never reaches the model in use: teaching it costs time and teaches nothing.
                continue
            peak = _peak_in_box(spectrogram, e)
            out.append(
                LabelledCall(
                    e.start_s, e.end_s, e.low_hz, e.high_hz, peak, species, call_type, detected=False
                )
            )
    return out


# ------------------------------------------------------------------------------------------------ examples


def _context_as_in_use(calls: Sequence[LabelledCall]) -> np.ndarray:
    """Context of detected calls among detected calls only (as at inference, where missed calls do not
    exist); missed labelled events are measured among all calls."""
    context = call_context(calls)
    detected = np.array([c.detected for c in calls], dtype=bool)
    if not detected.all() and detected.any():
        context[detected] = call_context([c for c in calls if c.detected])
    return context


@dataclass
class _Collected:
    crops: list[np.ndarray] = field(default_factory=list)
    context: list[np.ndarray] = field(default_factory=list)
    species: list[int] = field(default_factory=list)
    call_type: list[int] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)
    file_index: list[int] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)
    peak_hz: list[float] = field(default_factory=list)


def prepare_examples(
    files: Sequence[tuple[FileRecord, DatasetFile]],
    *,
    label_set: Sequence[str],
    call_types: Sequence[str] = CALL_TYPES,
    spectrogram_config: SpectrogramConfig = SpectrogramConfig(),
    crop_config: CropConfig = CropConfig(),
    detect_config: DetectConfig = DetectConfig(),
    data_config: DataConfig = DataConfig(),
    include_missed: bool = False,
    limit_calls: bool = False,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CallExamples:
    """Decode, detect and crop every file once; files whose audio cannot be used are marked `skipped`.

    `limit_calls` keeps at most `data_config.max_calls_per_file` calls per file (seeded sample) -- for
    training; evaluation keeps every call. `should_stop` is polled between files (raise in the caller).
    """
    label_index = {label: i for i, label in enumerate(label_set)}
    call_type_index = {c: i for i, c in enumerate(call_types)}
    collected = _Collected()
    records: list[FileRecord] = []
    rng = np.random.default_rng(seed)
    for n_done, (record, file) in enumerate(files):
        if should_stop is not None and should_stop():
            break
        try:
            audio = load_audio(file.path, time_expansion=file.time_expansion, config=AudioConfig())
        except (AudioError, OSError) as exc:
            records.append(replace(record, skipped=f"{type(exc).__name__}: {exc}"))
            if progress:
                progress(n_done + 1, len(files))
            continue
        spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz, spectrogram_config)
        # The same spectrogram for detector and crops, exactly as ml.infer does in use.
        detections = detect_calls(audio, detect_config, spectrogram=spectrogram)
        calls = label_calls(
            detections,
            file,
            label_set,
            config=data_config,
            spectrogram=spectrogram,
            include_missed=include_missed,
        )
        file_number = len(records)
        records.append(record)
        if calls:
            crops = call_crops(spectrogram, calls, crop_config)
            context = _context_as_in_use(calls)
            if limit_calls and len(calls) > data_config.max_calls_per_file:
                # Sampled after measuring, so intervals still refer to every neighbour of the call.
                keep = np.sort(rng.choice(len(calls), data_config.max_calls_per_file, replace=False))
                calls, crops, context = [calls[i] for i in keep], crops[keep], context[keep]
            collected.crops.append(crops)
            collected.context.append(context)
            for c in calls:
                collected.species.append(label_index.get(c.species, -1) if c.species else -1)
                collected.call_type.append(call_type_index.get(c.call_type, -1) if c.call_type else -1)
                collected.truth.append(c.species)
                collected.file_index.append(file_number)
                collected.detected.append(c.detected)
                collected.start_s.append(c.start_s)
                collected.peak_hz.append(c.peak_hz)
        if progress:
            progress(n_done + 1, len(files))
    n_context = call_context([]).shape[1]
    return CallExamples(
        crops=np.concatenate(collected.crops)
        if collected.crops
        else np.zeros((0, 1, crop_config.n_freq_bins, crop_config.n_frames), np.float32),
        context=np.concatenate(collected.context)
        if collected.context
        else np.zeros((0, n_context), np.float32),
        species=np.array(collected.species, dtype=np.int64),
        call_type=np.array(collected.call_type, dtype=np.int64),
        truth=tuple(collected.truth),
        file_index=np.array(collected.file_index, dtype=np.int64),
        detected=np.array(collected.detected, dtype=bool),
        start_s=np.array(collected.start_s, dtype=np.float64),
        peak_hz=np.array(collected.peak_hz, dtype=np.float64),
        files=tuple(records),
        label_set=tuple(label_set),
        call_types=tuple(call_types),
    )
