"""`python -m ml analyse FILE... --model MODEL.pt [--json] [--time-expansion N]`: species and call types.

A thin command over `ml.infer.analyse`. The model is loaded once for all files. With --json, one object per
line per file (ml.infer.as_dict: file, species, species_group, species_present, call_type, call_types,
confidence, top, calls, ...); otherwise one readable line per file. Time expansion: GUANO `TE` in the file,
else --time-expansion, else 1. A file that cannot be analysed gives a line with an "error" field; the command
then exits 1 after reporting every file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.audio import AudioError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="WAV files")
    parser.add_argument(
        "--model", type=Path, required=True, metavar="MODEL.pt", help="checkpoint from ml train"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per file (JSON lines)")
    parser.add_argument(
        "--time-expansion",
        type=float,
        default=None,
        metavar="N",
        help="time-expansion factor for files whose GUANO has no TE (default 1)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="confidence threshold (default: the model's)"
    )
    parser.add_argument(
        "--pass-gap", type=float, default=1.0, metavar="SECONDS", help="max gap within a pass"
    )


def _line(row: dict) -> str:
    if "error" in row:
        return f"{row['file']}: ERROR {row['error']}"
    present = ", ".join(row["species_present"])
    return (
        f"{row['file']}: {row['species']} ({row['confidence']:.2f}), {row['call_type']}; present: {present}; "
        f"{len(row['calls'])} calls, {len(row['passes'])} passes"
    )


def run(args: argparse.Namespace) -> int:
    if args.time_expansion is not None and not args.time_expansion > 0:
        print("--time-expansion must be a positive number", file=sys.stderr)
        return 2
    # Imported here so `python -m ml analyse --help` answers without loading torch.
    from ml.infer import InferConfig, analyse, as_dict
    from ml.model import load_model

    try:
        config = InferConfig(pass_gap_s=args.pass_gap, confidence_threshold=args.threshold)
    except ValueError as exc:
        print(f"python -m ml analyse: {exc}", file=sys.stderr)
        return 2
    try:
        model = load_model(args.model)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"python -m ml analyse: cannot load model {args.model}: {exc}", file=sys.stderr)
        return 2
    failed = False
    for path in args.files:
        try:
            row = as_dict(analyse(path, model, time_expansion=args.time_expansion, config=config))
        except (AudioError, ValueError, OSError, RuntimeError) as exc:
            # AudioError for files a fieldworker can fix; the others for damage soundfile trips over.
            failed = True
            row = {"file": str(path), "error": str(exc) or type(exc).__name__}
        print(json.dumps(row, ensure_ascii=False) if args.json else _line(row), flush=True)
    return 1 if failed else 0
