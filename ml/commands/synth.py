"""`python -m ml synth`: write a synthetic labelled dataset folder (ml.synth) for training and detection."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ml.synth import DIFFICULTIES, generate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, help="dataset folder to write (created if missing)"
    )
    parser.add_argument("--per-class", type=int, default=20, help="files per label of the default label set")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same files")
    parser.add_argument(
        "--difficulty",
        choices=sorted(DIFFICULTIES),
        default="easy",
        help="hard: lower SNR, more clutter, overlapping bats, more feeding buzzes and social calls",
    )


class _Progress:
    """One self-overwriting line on stderr: files done, the class being made, seconds so far."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int, label: str) -> None:
        elapsed = time.perf_counter() - self.start
        end = "\n" if done == total else ""
        print(
            f"\rsynth: {done}/{total} files, {label:<30} {elapsed:6.1f} s",
            end=end,
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    if args.per_class < 1 or args.seed < 0:
        print("python -m ml synth: --per-class must be at least 1 and --seed not negative", file=sys.stderr)
        return 2
    out = generate_dataset(args.out, args.per_class, args.seed, args.difficulty, progress=_Progress())
    print(f"synth: wrote {out / 'labels.csv'} and {out / 'events.csv'}", file=sys.stderr)
    return 0
