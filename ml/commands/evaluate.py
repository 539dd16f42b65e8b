"""`python -m ml evaluate --model MODEL.pt --data DIR... [--per-recording] [--split all|test] [--plots DIR]`.

A thin command over `ml.evaluate.evaluate`: scores every file of the folders (the caller keeps them apart
from training), or with `--split test` only their frozen test split. A table for people first, then, as the
LAST line of stdout, one JSON object: macro_f1_species, macro_f1_call_type, accuracy_species,
accuracy_group, ece (species head), n, level, n_files, the baseline's same scores, and out-of-range
answers where the data hold species the model cannot name. `--plots DIR` writes the confusion matrices
(PNG) and the full report (report.json) there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.calibration import DEFAULT_CONFIDENCE_THRESHOLD
from ml.evaluate import EvaluationReport, evaluate, plot_confusion
from ml.model import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, metavar="MODEL.pt", help="checkpoint")
    parser.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR", help="dataset folders")
    parser.add_argument("--per-recording", action="store_true", help="score recordings instead of calls")
    parser.add_argument(
        "--split", choices=("all", "test"), default="all", help="all files, or the frozen test split only"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_CONFIDENCE_THRESHOLD,
        help="confidence threshold for group fallback",
    )
    parser.add_argument(
        "--plots",
        type=Path,
        default=None,
        metavar="DIR",
        help="write confusion matrices and report.json here",
    )


def _table(report: EvaluationReport) -> str:
    lines = [
        f"{report.level}-level scores of {report.model_version} on {report.n_files} files (threshold {report.threshold})"
    ]
    lines.append(
        f"{'':12} {'F1 species':>10} {'F1 type':>8} {'acc sp.':>8} {'acc group':>9} {'ECE':>6} {'n':>6}"
    )
    for name, scores in (("CNN", report.cnn), ("baseline", report.baseline)):
        if scores is None:
            continue
        s = scores.summary()
        lines.append(
            f"{name:12} {s['macro_f1_species']:>10.3f} {s['macro_f1_call_type']:>8.3f} {s['accuracy_species']:>8.3f} "
            f"{s['accuracy_group']:>9.3f} {s['ece']:>6.3f} {s['n']:>6}"
        )
    lines.append("per class (CNN, species): precision / recall / F1 (n)")
    for c in report.cnn.species.per_class:
        if c.support:
            lines.append(f"  {c.label:32} {c.precision:.3f} / {c.recall:.3f} / {c.f1:.3f} ({c.support})")
    if report.out_of_range.n:
        o = report.out_of_range
        lines.append(
            f"out of range ({o.n}): confident species {o.confident_species:.3f}, group {o.group:.3f}, "
            f"Chiroptera sp. {o.order:.3f}, noise {o.noise:.3f}"
        )
    for skipped in report.files_skipped:
        lines.append(f"skipped {skipped}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    for folder in args.data:
        if not (folder / "labels.csv").is_file():
            print(f"{folder}: not a dataset folder (no labels.csv)", file=sys.stderr)
            return 2
    model = load_model(args.model)
    report = evaluate(
        model, args.data, per_recording=args.per_recording, split=args.split, threshold=args.threshold
    )
    print(_table(report))
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
        for name, scores in (("cnn", report.cnn), ("baseline", report.baseline)):
            if scores is None:
                continue
            plot_confusion(
                scores.species,
                args.plots / f"confusion_{report.level}_{name}_species.png",
                title=f"{name} species ({report.level})",
            )
            plot_confusion(
                scores.call_type,
                args.plots / f"confusion_{report.level}_{name}_call_type.png",
                title=f"{name} call type ({report.level})",
            )
        (args.plots / f"report_{report.level}.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    print(json.dumps(report.summary()))
    return 0
