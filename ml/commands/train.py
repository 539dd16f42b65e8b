"""`python -m ml train --data DIR... --out MODEL.pt [--preset quick|default] [--seed S]`: train a classifier.

A thin command over `ml.train.train`. Progress lines go to stderr (files prepared, then one line per epoch);
the last stdout line is one JSON object: the checkpoint path, version, epochs, seconds and the test-split
scores of the CNN and the baseline (per call) where the data had a test split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.train import PRESETS, TrainingCancelled, TrainProgress, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR", help="dataset folders")
    parser.add_argument("--out", type=Path, required=True, metavar="MODEL.pt", help="checkpoint to write")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="default", help="training preset (default: default)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _printer() -> object:
    last_files = [-1]

    def show(p: TrainProgress) -> None:
        if p.stage == "prepare":
            # Every 10 % is enough on a terminal; the web app gets every file through its own callback.
            step = max(1, p.files_total // 10)
            if p.files_done not in (0, p.files_total) and p.files_done - last_files[0] < step:
                return
            last_files[0] = p.files_done
        print(p.line(), file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    for folder in args.data:
        if not (folder / "labels.csv").is_file():
            print(f"{folder}: not a dataset folder (no labels.csv)", file=sys.stderr)
            return 2
    try:
        result = train(args.data, args.out, preset=args.preset, seed=args.seed, progress=_printer())  # type: ignore[arg-type]
    except TrainingCancelled as exc:
        print(str(exc), file=sys.stderr)
        return 1
    summary: dict[str, object] = {
        "model": str(result.path),
        "version": result.version,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
        "n_calls": result.metrics.get("n_calls"),
        "n_files": result.metrics.get("n_files"),
    }
    test = result.metrics.get("test")
    if test:
        summary["test_call"] = {k: test[k]["call"]["macro_f1_species"] for k in ("cnn", "baseline")}
        summary["test_call_type"] = {k: test[k]["call"]["macro_f1_call_type"] for k in ("cnn", "baseline")}
    print(json.dumps(summary))
    return 0
