"""Score ml.detect on the real ground truths (issue 3 targets): run by hand, not as a test.

    .venv/bin/python bench/score_detector.py [--markdown] [--set threshold_db=12 ...]

whombat: the 433 hand-drawn boxes inside the 33 annotated clips; target recall >= 0.85, precision >= 0.75.
labelled-europe: the 723 labelled bat calls (target recall >= 0.85) and how many of the labelled noise
events a detection lands on. Also printed: recall on "call clusters" (labels that touch or lie within 2 ms
of each other merged), because labelled-europe labels Tadarida sound events, which split one call into its
harmonics and echo pieces. Matching rules: bench/detection_scoring.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from detection_scoring import (  # noqa: E402
    FileScore,
    match,
    read_labelled_europe,
    read_whombat,
    score_europe,
    score_whombat,
    totals,
)

from ml.audio import load_audio  # noqa: E402
from ml.detect import DetectConfig, detect_calls  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "recordings"


def call_clusters(calls, gap_s: float = 0.002) -> list[tuple[float, float]]:
    """Labels that overlap or lie within gap_s of each other, merged: one interval per call."""
    clusters: list[list[float]] = []
    for start, end in sorted((c.start_s, c.end_s) for c in calls):
        if clusters and start <= clusters[-1][1] + gap_s:
            clusters[-1][1] = max(clusters[-1][1], end)
        else:
            clusters.append([start, end])
    return [(a, b) for a, b in clusters]


def parse_overrides(items: list[str]) -> DetectConfig:
    config = DetectConfig()
    fields = {f.name: f for f in dataclasses.fields(DetectConfig)}
    changes = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown DetectConfig field {key!r}")
        current = getattr(config, key)
        if isinstance(current, bool):
            changes[key] = value.lower() in ("1", "true", "yes")
        else:
            changes[key] = type(current)(value)
    return dataclasses.replace(config, **changes)


def fmt(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print per-file tables as markdown")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="DetectConfig overrides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = parse_overrides(args.set)
    started = time.perf_counter()

    whombat_scores: list[FileScore] = []
    for recording in read_whombat(DATA / "whombat" / "example_annotation_project.json"):
        calls = detect_calls(load_audio(DATA / "whombat" / recording.file_name), config)
        whombat_scores.append(score_whombat(recording, [(c.start_s, c.end_s) for c in calls]))
    whombat = totals(whombat_scores)

    europe_scores: list[FileScore] = []
    cluster_rows: list[tuple[int, int]] = []
    for recording in read_labelled_europe(DATA / "labelled-europe"):
        audio = load_audio(DATA / "labelled-europe" / recording.path, time_expansion=recording.time_expansion)
        intervals = [(c.start_s, c.end_s) for c in detect_calls(audio, config)]
        europe_scores.append(score_europe(recording, intervals))
        clusters = call_clusters(recording.calls)
        cluster_rows.append((len(clusters), len(match(intervals, clusters))))
    europe = totals(europe_scores)
    n_clusters = sum(n for n, _ in cluster_rows)
    found_clusters = sum(f for _, f in cluster_rows)
    elapsed = time.perf_counter() - started

    if args.markdown:
        print("### whombat (inside the 33 annotated clips)\n")
        print("| file | boxes | found | recall | detections | false positives | precision |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for s in [*whombat_scores, whombat]:
            print(
                f"| {s.name} | {s.truths} | {s.found} | {fmt(s.recall)} | {s.detections} | "
                f"{s.false_positives} | {fmt(s.precision)} |"
            )
        print("\n### labelled-europe (tadarida, 10x time-expanded)\n")
        print(
            "| file | label | bat calls | found | recall | call clusters | clusters found | detections "
            "| noise events | noise detected |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        recordings = read_labelled_europe(DATA / "labelled-europe")
        for s, r, (nc, fc) in zip(europe_scores, recordings, cluster_rows):
            print(
                f"| {Path(s.name).name} | {r.species} | {s.truths} | {s.found} | {fmt(s.recall)} | {nc} | "
                f"{fc} | "
                f"{s.detections} | {s.noise_events} | {s.noise_detected} |"
            )
        print(
            f"| total | | {europe.truths} | {europe.found} | {fmt(europe.recall)} | {n_clusters} | "
            f"{found_clusters} | {europe.detections} | {europe.noise_events} | {europe.noise_detected} |\n"
        )
    print(
        f"whombat: recall {whombat.recall:.3f} ({whombat.found}/{whombat.truths}), precision "
        f"{whombat.precision:.3f} ({whombat.detections - whombat.false_positives}/{whombat.detections})"
    )
    print(
        f"labelled-europe: recall {europe.recall:.3f} ({europe.found}/{europe.truths} bat calls), "
        f"call-cluster recall {found_clusters / n_clusters:.3f} ({found_clusters}/{n_clusters}), "
        f"noise events detected {europe.noise_detected}/{europe.noise_events}, detections {europe.detections}"
    )
    print(f"({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
