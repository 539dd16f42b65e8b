"""`python -m ml info FILE... [--json] [--time-expansion N]`: header and metadata of recordings.

A thin command over `ml.metadata.read_metadata`; it decodes no samples, so it is quick on a whole card.
One JSON object per line per file (file, header_sample_rate_hz, time_expansion, sample_rate_hz (true),
duration_s (true), channels, subtype, metadata). A file that cannot be read gives a line with an "error"
field; the command then exits 1 after reporting every file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ml.audio import AudioError
from ml.metadata import read_metadata


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="WAV files")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file (JSON lines)")
    parser.add_argument(
        "--time-expansion",
        type=float,
        default=None,
        metavar="N",
        help="time-expansion factor for files whose GUANO has no TE (default 1)",
    )


def describe(path: Path, time_expansion: float | None = None) -> dict[str, Any]:
    """The JSON object for one file; raises AudioError / OSError when it cannot be read."""
    meta = read_metadata(path)
    factor = meta.time_expansion if meta.time_expansion is not None else (time_expansion or 1.0)
    true_rate_hz = meta.true_rate_hz(fallback_te=factor)
    return {
        "file": str(path),
        "header_sample_rate_hz": meta.header_sample_rate_hz,
        "time_expansion": factor,
        "sample_rate_hz": true_rate_hz,
        "duration_s": round(meta.frames / true_rate_hz, 6),
        "channels": meta.channels,
        "subtype": meta.subtype,
        "metadata": meta.to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    if args.time_expansion is not None and not args.time_expansion > 0:
        print("--time-expansion must be a positive number", file=sys.stderr)
        return 2
    failed = False
    for path in args.files:
        try:
            row = describe(path, args.time_expansion)
        except (AudioError, OSError) as exc:
            failed = True
            row = {"file": str(path), "error": str(exc) or type(exc).__name__}
        if args.json:
            print(json.dumps(row, ensure_ascii=False), flush=True)
        elif "error" in row:
            print(f"{row['file']}: ERROR {row['error']}", flush=True)
        else:
            stamp = row["metadata"]["timestamp"] or "no time stamp"
            print(
                f"{row['file']}: {row['sample_rate_hz']} Hz true ({row['header_sample_rate_hz']} Hz x "
                f"{row['time_expansion']:g}), {row['duration_s']:.3f} s, {row['channels']} ch, "
                f"{row['subtype']}, {stamp}",
                flush=True,
            )
    return 1 if failed else 0
