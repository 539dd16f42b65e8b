"""Calls after classification: do the calls `analyse` keeps as bats match the labelled-europe bat calls?
(issue 4 target: recall >= 0.80, precision >= 0.85; BatDetect2: 0.59 / 0.94 at threshold 0.3).

    .venv/bin/python bench/score_calls_after_classification.py --model MODEL.pt [--data ../shared/data/recordings/labelled-europe]

Every labelled-europe file with events.csv rows is analysed (time expansion from labels.csv, as a visit
setting would give it). The calls whose answer is not `noise` are matched one-to-one with the expert's bat
calls (events.csv, species != noise) when their time intervals overlap by at least half of the shorter one
(bench/detection_scoring.py, the matching of bench/score_detector.py). Recall = bat calls matched / bat calls;
precision = matched kept calls / kept calls. The detector alone (every detected call kept) is printed beside
it, so the classifier's share (noise it removes, calls it loses) shows. As a diagnostic, the same against "call
clusters" (labels that touch or lie within 2 ms merged): labelled-europe labels Tadarida sound events, which
split one call into harmonic and echo pieces, so one detection per call can match at most 486 of the 723.

Note: a model trained on labelled-europe has seen most of these files; report which model was used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.detection_scoring import match, read_labelled_europe, score_europe, totals  # noqa: E402
from bench.score_detector import call_clusters  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "recordings" / "labelled-europe"


def _line(name: str, score) -> str:
    return (
        f"{name:<62} bat calls {score.truths:4d}  found {score.found:4d}  kept {score.detections:4d}  "
        f"recall {score.recall:.3f}  precision {score.precision:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--threshold", type=float, default=None, help="confidence threshold (default: the model's)"
    )
    parser.add_argument("--per-file", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from ml.infer import InferConfig, analyse
    from ml.labels import NOISE
    from ml.model import load_model

    model = load_model(args.model)
    config = InferConfig(confidence_threshold=args.threshold)
    kept_scores, detector_scores = [], []
    clusters_total = clusters_found = 0
    for recording in read_labelled_europe(args.data):
        analysis = analyse(
            args.data / recording.path, model, time_expansion=recording.time_expansion, config=config
        )
        kept = [(c.start_s, c.end_s) for c in analysis.calls if c.species != NOISE]
        every = [(c.start_s, c.end_s) for c in analysis.calls]
        kept_scores.append(score_europe(recording, kept))
        detector_scores.append(score_europe(recording, every))
        clusters = call_clusters(recording.calls)
        clusters_total += len(clusters)
        clusters_found += len(match(kept, clusters))
        if args.per_file:
            print(_line(recording.path[-62:], kept_scores[-1]))
    kept_total = totals(kept_scores, "after classification (calls kept as bats)")
    detector_total = totals(detector_scores, "detector alone (every detected call)")
    print(_line(detector_total.name, detector_total))
    print(_line(kept_total.name, kept_total))
    print(
        f"noise events hit: detector {detector_total.noise_detected}/{detector_total.noise_events}, "
        f"after classification {kept_total.noise_detected}/{kept_total.noise_events}"
    )
    print(
        f"diagnostic, call clusters (labels <= 2 ms apart merged, as in bench/score_detector.py): recall "
        f"{clusters_found / max(clusters_total, 1):.3f} ({clusters_found}/{clusters_total}), precision "
        f"{clusters_found / max(kept_total.detections, 1):.3f}"
    )
    print(
        f"calls after classification: recall {kept_total.recall:.3f} (target >= 0.80), precision "
        f"{kept_total.precision:.3f} (target >= 0.85), {len(kept_scores)} files, model {model.version}, "
        f"threshold {config.confidence_threshold if config.confidence_threshold is not None else 'model default'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
