"""Ground truth and one-to-one matching for scoring the call detector (bench/score_detector.py).

Two real ground truths (../shared/data/recordings):
- whombat: 433 hand-drawn boxes in example_annotation_project.json (soundevent AOEF), inside 33 annotated
  one-second clips of ten Costa Rican recordings. Only detections inside those clip windows are scored.
- labelled-europe: events.csv; the 723 bat calls (species != noise) are the calls to find, the noise events
  are counted when a detection lands on them. Times are true time; tadarida files are 10x time-expanded
  (labels.csv).

Matching rule (issue 3): a detection matches at most one box and a box at most one detection; a pair may
match when the two time intervals overlap by at least half of the shorter one. Frequencies are not used.
Among all valid pairings the one with the most matches is taken (maximum bipartite matching, ties broken
towards larger overlap), so the score does not depend on the order of the lists.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

Interval = tuple[float, float]  # (start_s, end_s)


@dataclass(frozen=True)
class Box:
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    label: str = ""


@dataclass(frozen=True)
class WhombatRecording:
    file_name: str
    clips: tuple[Interval, ...]  # annotated windows, seconds
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class EuropeRecording:
    path: str  # relative to labelled-europe/
    time_expansion: float
    species: str  # the file's label
    calls: tuple[Box, ...]  # bat calls
    noise: tuple[Box, ...]  # labelled noise events


def overlap_ok(a: Interval, b: Interval, min_fraction: float = 0.5) -> bool:
    """True when the intervals overlap by at least `min_fraction` of the shorter one."""
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    shorter = min(a[1] - a[0], b[1] - b[0])
    if shorter <= 0:
        # A zero-length interval (a point label) matches when it lies inside the other one.
        return overlap >= 0
    return overlap >= min_fraction * shorter


def match(detections: Sequence[Interval], truths: Sequence[Interval]) -> list[tuple[int, int]]:
    """Maximum one-to-one matching of detections to truths; returns (detection index, truth index) pairs."""
    if not detections or not truths:
        return []
    det = np.asarray(detections, dtype=np.float64).reshape(-1, 2)
    tru = np.asarray(truths, dtype=np.float64).reshape(-1, 2)
    overlap = np.minimum(det[:, None, 1], tru[None, :, 1]) - np.maximum(det[:, None, 0], tru[None, :, 0])
    shorter = np.minimum((det[:, 1] - det[:, 0])[:, None], (tru[:, 1] - tru[:, 0])[None, :])
    valid = np.where(shorter > 0, overlap >= 0.5 * shorter, overlap >= 0)
    if not valid.any():
        return []
    # Every valid pair is worth 1 plus a small bonus for overlap, so the assignment first maximises the number
    # of matches and only then prefers the better-fitting partner.
    fraction = np.clip(overlap / np.maximum(shorter, 1e-12), 0, 1)
    gain = np.where(valid, 1.0 + 1e-3 * fraction, 0.0)
    rows, cols = linear_sum_assignment(-gain)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if valid[r, c]]


# ------------------------------------------------------------------------------------------------ whombat


def read_whombat(project_json: Path) -> tuple[WhombatRecording, ...]:
    """Clips and boxes per recording from a soundevent AOEF annotation project."""
    data = json.loads(Path(project_json).read_text())["data"]
    recordings = {r["uuid"]: Path(r["path"]).name for r in data["recordings"]}
    clips = {c["uuid"]: c for c in data["clips"]}
    sound_events = {s["uuid"]: s for s in data["sound_events"]}
    annotations = {a["uuid"]: a for a in data["sound_event_annotations"]}
    tag_values = {t["id"]: f'{t["key"]}={t["value"]}' for t in data.get("tags", [])}
    per_file: dict[str, tuple[list[Interval], list[Box]]] = {}
    for clip_annotation in data["clip_annotations"]:
        clip = clips[clip_annotation["clip"]]
        name = recordings[clip["recording"]]
        windows, boxes = per_file.setdefault(name, ([], []))
        windows.append((float(clip["start_time"]), float(clip["end_time"])))
        for annotation_id in clip_annotation.get("sound_events") or []:
            annotation = annotations[annotation_id]
            event = sound_events[annotation["sound_event"]]
            geometry = event["geometry"]
            if geometry["type"] != "BoundingBox":
                continue
            start_s, low_hz, end_s, high_hz = (float(v) for v in geometry["coordinates"])
            label = ";".join(tag_values.get(t, "") for t in annotation.get("tags") or [])
            boxes.append(Box(start_s, end_s, low_hz, high_hz, label))
    return tuple(
        WhombatRecording(name, tuple(sorted(w)), tuple(sorted(b, key=lambda x: x.start_s)))
        for name, (w, b) in sorted(per_file.items())
    )


@dataclass(frozen=True)
class FileScore:
    name: str
    truths: int  # boxes / bat calls to find
    found: int  # truths matched by a detection
    detections: int  # detections scored (whombat: inside the clip windows)
    false_positives: int  # scored detections matching no truth
    noise_events: int = 0  # labelled-europe: labelled noise events in the file
    noise_detected: int = 0  # labelled-europe: noise events a left-over detection landed on

    @property
    def recall(self) -> float:
        return self.found / self.truths if self.truths else float("nan")

    @property
    def precision(self) -> float:
        return (self.detections - self.false_positives) / self.detections if self.detections else float("nan")


def score_whombat(recording: WhombatRecording, detections: Sequence[Interval]) -> FileScore:
    """Detections overlapping an annotated clip may match; unmatched ones count against precision when
    their midpoint lies inside a clip (a call cut by a clip edge belongs to the clip holding most of it)."""
    windows = recording.clips

    def overlaps_window(d: Interval) -> bool:
        return any(d[1] > w[0] and d[0] < w[1] for w in windows)

    def centred_in_window(d: Interval) -> bool:
        mid = 0.5 * (d[0] + d[1])
        return any(w[0] <= mid < w[1] for w in windows)

    candidates = [d for d in detections if overlaps_window(d)]
    pairs = match(candidates, [(b.start_s, b.end_s) for b in recording.boxes])
    matched = {i for i, _ in pairs}
    scored = [i for i, d in enumerate(candidates) if i in matched or centred_in_window(d)]
    false_positives = sum(1 for i in scored if i not in matched)
    return FileScore(recording.file_name, len(recording.boxes), len(pairs), len(scored), false_positives)


# ------------------------------------------------------------------------------------------------ europe


def read_labelled_europe(folder: Path) -> tuple[EuropeRecording, ...]:
    """Files of labelled-europe that have events.csv rows, with their bat calls and noise events."""
    folder = Path(folder)
    with open(folder / "labels.csv", newline="") as f:
        labels = {row["path"]: row for row in csv.DictReader(f)}
    calls: dict[str, list[Box]] = {}
    noise: dict[str, list[Box]] = {}
    with open(folder / "events.csv", newline="") as f:
        for row in csv.DictReader(f):
            box = Box(
                float(row["start_s"]), float(row["end_s"]), float(row["low_hz"]), float(row["high_hz"]),
                row["species"],
            )
            calls.setdefault(row["path"], [])
            noise.setdefault(row["path"], [])
            (noise if row["species"] == "noise" else calls)[row["path"]].append(box)
    out = []
    for path in sorted(calls):
        te_text = labels[path].get("time_expansion", "").strip()
        out.append(
            EuropeRecording(
                path, float(te_text) if te_text else 1.0, labels[path]["species"],
                tuple(calls[path]), tuple(noise[path]),
            )
        )
    return tuple(out)


def score_europe(recording: EuropeRecording, detections: Sequence[Interval]) -> FileScore:
    """Bat calls are matched first; detections left over are then matched to the labelled noise events.
    A detection matching neither may be an unlabelled call or noise: it is counted, not judged."""
    pairs = match(detections, [(b.start_s, b.end_s) for b in recording.calls])
    used = {i for i, _ in pairs}
    rest = [d for i, d in enumerate(detections) if i not in used]
    noise_pairs = match(rest, [(b.start_s, b.end_s) for b in recording.noise])
    return FileScore(
        recording.path,
        len(recording.calls),
        len(pairs),
        len(detections),
        len(detections) - len(pairs),
        len(recording.noise),
        len(noise_pairs),
    )


def totals(scores: Sequence[FileScore], name: str = "total") -> FileScore:
    return FileScore(
        name,
        sum(s.truths for s in scores),
        sum(s.found for s in scores),
        sum(s.detections for s in scores),
        sum(s.false_positives for s in scores),
        sum(s.noise_events for s in scores),
        sum(s.noise_detected for s in scores),
    )
