"""Evaluation: how well a model names species and call types, per call and per recording, beside the baseline.

Place in the pipeline: a checkpoint (ml.model.load_model) + dataset folders (ml.dataset) -> detection and
classification of every file (ml.training_data.prepare_examples, ml.model.predict_calls) -> **scores**.
ml.train uses the same scoring on its frozen test split and stores the result in the checkpoint.

Per call: the detected calls of each file, with truth from events.csv (else the file label), ambiguous
detections left out. Per recording: the file's dominant species and main call type against the mean
probabilities of the calls the model calls bats (`recording_probabilities`). `noise` is a class like any
other. For every level: per-class precision / recall / F1 and confusion matrices for both heads,
macro-F1, accuracy, group-level accuracy after the fallback of ml.calibration, expected calibration error
(species head), and the same for the call-parameter baseline. Rows whose truth is out of range (a
non-European species, `Chiroptera sp.`) are counted separately: how often they come out as a confident
European species is what matters for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.calibration import DEFAULT_CONFIDENCE_THRESHOLD, FallbackAnswer, fallback_label
from ml.features import call_time_shares, smooth_species_by_file
from ml.labels import BAT, NOISE
from ml.metrics import HeadScores, expected_calibration_error, group_accuracy, score_head
from ml.model import CallPredictions, LoadedModel, predict_calls
from ml.plausibility import CallChecks, check_calls
from ml.training_data import CallExamples, DataConfig, assign_splits, load_files, prepare_examples

__all__ = [
    "EvaluationReport",
    "ModelScores",
    "OutOfRange",
    "evaluate",
    "plot_confusion",
    "predict_examples",
    "recording_probabilities",
    "score_examples",
]


@dataclass(frozen=True)
class ModelScores:
    """Scores of one classifier (CNN or baseline) at one level (call or recording)."""

    species: HeadScores
    call_type: HeadScores
    accuracy_group: float  # answers after fallback, right at group level
    ece: float  # species head
    ece_call_type: float
    species_answer_rate: float  # share of in-range rows answered at species level (no fallback)

    def summary(self) -> dict[str, float | int]:
        return {
            "macro_f1_species": round(self.species.macro_f1, 4),
            "macro_f1_call_type": round(self.call_type.macro_f1, 4),
            "accuracy_species": round(self.species.accuracy, 4),
            "accuracy_group": round(self.accuracy_group, 4),
            "ece": round(self.ece, 4),
            "n": self.species.n,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "accuracy_call_type": self.call_type.accuracy,
            "ece_call_type": self.ece_call_type,
            "species_answer_rate": self.species_answer_rate,
            "species": self.species.as_dict(),
            "call_type": self.call_type.as_dict(),
        }


@dataclass(frozen=True)
class OutOfRange:
    """Rows whose truth the model cannot name (non-European species, `Chiroptera sp.`), by answer level."""

    n: int
    confident_species: float  # answered as a bat class at species level: the failure to avoid
    group: float  # answered as a group
    order: float  # answered `Chiroptera sp.`
    noise: float  # answered `noise`

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class EvaluationReport:
    level: str  # "call" or "recording"
    n_files: int
    files_skipped: tuple[str, ...]  # "path: reason"
    threshold: float
    model_version: str
    cnn: ModelScores
    baseline: ModelScores | None
    out_of_range: OutOfRange
    out_of_range_baseline: OutOfRange | None

    def summary(self) -> dict[str, Any]:
        """The one-line JSON of `python -m ml evaluate` (CNN scores at the top level)."""
        out: dict[str, Any] = {**self.cnn.summary(), "level": self.level, "n_files": self.n_files}
        if self.baseline is not None:
            out["baseline"] = self.baseline.summary()
        if self.out_of_range.n:
            out["out_of_range"] = self.out_of_range.as_dict()
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "n_files": self.n_files,
            "files_skipped": list(self.files_skipped),
            "threshold": self.threshold,
            "model_version": self.model_version,
            "cnn": self.cnn.as_dict(),
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "out_of_range": self.out_of_range.as_dict(),
            "out_of_range_baseline": self.out_of_range_baseline.as_dict()
            if self.out_of_range_baseline
            else None,
        }


# ------------------------------------------------------------------------------------------------ scoring


def recording_probabilities(
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    label_set: Sequence[str],
    call_types: Sequence[str],
    starts_s: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One recording's probabilities from its calls: the mean over calls whose best class is a bat.

    Noise detections (insects, clicks) would otherwise dilute a short bat pass in a noisy file. With no
    bat call the recording is noise: the mean over all calls, or certain noise when nothing was detected.
    With the calls' start times the call-type mean is weighted by each call's time share
    (ml.features.call_time_shares), as ml.infer picks the main call type: a feeding buzz's dozens of calls
    do not outvote the pass they sit in.
    """
    if len(species_probs) == 0:
        species = np.zeros(len(label_set), dtype=np.float32)
        call_type = np.zeros(len(call_types), dtype=np.float32)
        if NOISE in label_set:
            species[list(label_set).index(NOISE)] = 1.0
        if "none" in call_types:
            call_type[list(call_types).index("none")] = 1.0
        return species, call_type
    rows = _recording_bat_rows(species_probs, label_set)
    weights = None if starts_s is None else call_time_shares(np.asarray(starts_s)[rows])
    return species_probs[rows].mean(axis=0), np.average(call_type_probs[rows], axis=0, weights=weights)


def _recording_bat_rows(species_probs: np.ndarray, label_set: Sequence[str]) -> np.ndarray:
    """The calls a recording's probabilities are the mean of: those whose best class is a bat, else all."""
    bat = np.ones(len(species_probs), dtype=bool)
    if NOISE in label_set:
        bat = species_probs.argmax(axis=1) != list(label_set).index(NOISE)
    return bat if bat.any() else np.ones(len(species_probs), dtype=bool)


def _score(
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    species_true: np.ndarray,
    call_type_true: np.ndarray,
    truth: Sequence[str],
    label_set: Sequence[str],
    call_types: Sequence[str],
    answers: Sequence[FallbackAnswer],
) -> tuple[ModelScores, OutOfRange]:
    """Scores of one level. Macro-F1 and accuracy take the model's best class; group accuracy, the
    out-of-range shares and the species answer rate take `answers`, after the plausibility check and the
    fallback, as ml.infer gives them."""
    in_range = species_true >= 0
    answered_species = np.array([a.level == "species" for a in answers], dtype=bool)
    out = np.array([t == BAT for t in truth], dtype=bool)
    n_out = int(out.sum())
    out_answers = [a for a, o in zip(answers, out) if o]

    def share(pred: Callable[[Any], bool]) -> float:
        return float(np.mean([pred(a) for a in out_answers])) if out_answers else 0.0

    scores = ModelScores(
        species=score_head(
            species_true, species_probs.argmax(axis=1) if len(species_probs) else species_true, label_set
        ),
        call_type=score_head(
            call_type_true,
            call_type_probs.argmax(axis=1) if len(call_type_probs) else call_type_true,
            call_types,
        ),
        accuracy_group=group_accuracy([a.label for a in answers], [t or None for t in truth]),
        ece=expected_calibration_error(species_probs, species_true),
        ece_call_type=expected_calibration_error(call_type_probs, call_type_true),
        species_answer_rate=float(answered_species[in_range].mean()) if in_range.any() else 0.0,
    )
    out_of_range = OutOfRange(
        n=n_out,
        confident_species=share(lambda a: a.level == "species" and a.label != NOISE),
        group=share(lambda a: a.level == "group"),
        order=share(lambda a: a.level == "order"),
        noise=share(lambda a: a.label == NOISE),
    )
    return scores, out_of_range


def _recording_rows(
    examples: CallExamples,
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    checks: CallChecks,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[FallbackAnswer]]:
    label_index = {label: i for i, label in enumerate(examples.label_set)}
    call_type_index = {c: i for i, c in enumerate(examples.call_types)}
    sp, ct, st, ctt, truth, answers = [], [], [], [], [], []
    for i, record in enumerate(examples.files):
        if record.skipped:
            continue
        rows = (examples.file_index == i) & examples.detected
        s, c = recording_probabilities(
            species_probs[rows], call_type_probs[rows], examples.label_set, examples.call_types,
            examples.start_s[rows],
        )  # fmt: skip
        sp.append(s)
        ct.append(c)
        if rows.any():  # the answer from the same calls as the probabilities
            indices = np.flatnonzero(rows)
            answers.append(checks.answer(indices[_recording_bat_rows(species_probs[rows], examples.label_set)],
                                         threshold))  # fmt: skip
        else:
            answers.append(fallback_label(s, examples.label_set, threshold))
        st.append(label_index.get(record.species_class, -1))
        ctt.append(call_type_index.get(record.call_type, -1))
        truth.append(record.species_class)
    n_s, n_c = len(examples.label_set), len(examples.call_types)
    return (
        np.array(sp, dtype=np.float32).reshape(-1, n_s),
        np.array(ct, dtype=np.float32).reshape(-1, n_c),
        np.array(st, dtype=np.int64),
        np.array(ctt, dtype=np.int64),
        truth,
        answers,
    )


def score_examples(
    examples: CallExamples,
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    *,
    level: str = "call",
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    novel: np.ndarray | None = None,
) -> tuple[ModelScores, OutOfRange]:
    """Scores of one classifier's probabilities for `examples` at call or recording level; `novel` (n,):
    the calls ml.novelty found unlike the training data (None: none)."""
    checks = check_calls(
        species_probs, call_type_probs, examples.peak_hz, examples.label_set, examples.call_types, novel
    )
    if level == "call":
        rows = examples.detected & np.array([t != "" for t in examples.truth], dtype=bool)
        return _score(
            species_probs[rows],
            call_type_probs[rows],
            examples.species[rows],
            examples.call_type[rows],
            [t for t, r in zip(examples.truth, rows) if r],
            examples.label_set,
            examples.call_types,
            [answer for answer, row in zip(checks.call_answers(threshold), rows, strict=True) if row],
        )
    if level == "recording":
        sp, ct, st, ctt, truth, answers = _recording_rows(
            examples, species_probs, call_type_probs, checks, threshold
        )
        return _score(sp, ct, st, ctt, truth, examples.label_set, examples.call_types, answers)
    raise ValueError(f"level must be 'call' or 'recording', not {level!r}")


# ------------------------------------------------------------------------------------------------ evaluate


def evaluate(
    model: LoadedModel,
    data_dirs: Sequence[str | os.PathLike[str]],
    *,
    per_recording: bool = False,
    split: str = "all",
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    data_config: DataConfig = DataConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Detect and classify every file of the dataset folders and score the model (and its baseline).

    `split="all"` scores every file (the caller keeps the folders apart from training); `"test"` only the
    frozen test split (by content hash, ml.training_data), which no training run used.
    """
    if split not in ("all", "test"):
        raise ValueError(f"split must be 'all' or 'test', not {split!r}")
    loaded = load_files([Path(d) for d in data_dirs], model.label_set)
    records = assign_splits([r for r, _ in loaded], data_config, seed=0)
    pairs = [(r, f) for r, (_, f) in zip(records, loaded) if split == "all" or r.split == "test"]
    examples = prepare_examples(
        pairs,
        label_set=model.label_set,
        call_types=model.call_types,
        spectrogram_config=model.spectrogram,
        crop_config=model.crop,
        detect_config=model.detect,
        data_config=data_config,
        progress=progress,
    )
    return evaluate_examples(model, examples, per_recording=per_recording, threshold=threshold)


def predict_examples(model: LoadedModel, examples: CallExamples) -> CallPredictions:
    """The model's output for prepared calls, exactly as ml.infer gives it file by file."""
    species, call_type, novel = predict_calls(model, examples.crops, examples.context)
    if model.pass_smoothing:
        species = smooth_species_by_file(
            species, examples.file_index, examples.start_s, examples.peak_hz, model.noise_index
        )
    return CallPredictions(species, call_type, novel)


def evaluate_examples(
    model: LoadedModel,
    examples: CallExamples,
    *,
    per_recording: bool = False,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
) -> EvaluationReport:
    """Score a model on examples already prepared with its configs."""
    level = "recording" if per_recording else "call"
    species_probs, call_type_probs, novel = predict_examples(model, examples)
    cnn, out_of_range = score_examples(
        examples, species_probs, call_type_probs, level=level, threshold=threshold, novel=novel
    )
    baseline = out_of_range_baseline = None
    if model.baseline is not None:
        b_species, b_call_type = model.baseline.predict_proba(examples.context)
        if model.pass_smoothing:
            # The baseline runs in the same pipeline: only the per-call classifier differs.
            b_species = smooth_species_by_file(
                b_species, examples.file_index, examples.start_s, examples.peak_hz, model.noise_index
            )
        baseline, out_of_range_baseline = score_examples(
            examples, b_species, b_call_type, level=level, threshold=threshold
        )
    return EvaluationReport(
        level=level,
        n_files=sum(1 for f in examples.files if not f.skipped),
        files_skipped=tuple(f"{f.relative_path}: {f.skipped}" for f in examples.files if f.skipped),
        threshold=threshold,
        model_version=model.version,
        cnn=cnn,
        baseline=baseline,
        out_of_range=out_of_range,
        out_of_range_baseline=out_of_range_baseline,
    )


def plot_confusion(scores: HeadScores, out: str | os.PathLike[str], *, title: str = "") -> Path:
    """Confusion matrix (rows: truth, columns: prediction; row-normalised colour, counts written) as PNG.

    Only classes present in the truth or the predictions are drawn, so a small test set stays readable.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = scores.confusion
    shown = [i for i in range(len(scores.labels)) if confusion[i].sum() or confusion[:, i].sum()]
    if not shown:
        shown = list(range(len(scores.labels)))
    matrix = confusion[np.ix_(shown, shown)]
    names = [scores.labels[i] for i in shown]
    fraction = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    ax.imshow(fraction, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for r in range(len(names)):
        for c in range(len(names)):
            if matrix[r, c]:
                ax.text(c, r, str(matrix[r, c]), ha="center", va="center", fontsize=7,
                        color="white" if fraction[r, c] > 0.6 else "black")  # fmt: skip
    ax.set_title(
        title or f"macro-F1 {scores.macro_f1:.3f}, accuracy {scores.accuracy:.3f}, n={scores.n}", fontsize=9
    )
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
