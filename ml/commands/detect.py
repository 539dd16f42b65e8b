"""`python -m ml detect FILE... [--json] [--time-expansion N]`: bat calls in recordings.

A thin command over `ml.audio.load_audio` and `ml.detect.detect_calls`. With --json, one JSON object per
line per file: file, sample_rate_hz (true), time_expansion, duration_s (true) and calls, each with start_s,
end_s, low_hz, high_hz, peak_hz, snr_db and pass (index of its pass, -1 for none), in true time. A file that
cannot be read gives a line with an "error" field; the command then exits 1 after reporting every file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from ml.audio import AudioError, load_audio
from ml.detect import CallEvent, detect_calls


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


def _call_row(call: CallEvent) -> dict[str, Any]:
    return {
        "start_s": round(call.start_s, 5),
        "end_s": round(call.end_s, 5),
        "low_hz": round(call.low_hz, 1),
        "high_hz": round(call.high_hz, 1),
        "peak_hz": round(call.peak_hz, 1),
        "snr_db": round(call.snr_db, 1),
        "pass": call.pass_index,
    }


def describe(path: Path, time_expansion: float | None = None) -> dict[str, Any]:
    """The JSON object for one file; raises AudioError / OSError when it cannot be read."""
    audio = load_audio(path, time_expansion=time_expansion)
    calls = detect_calls(audio)
    return {
        "file": str(path),
        "sample_rate_hz": audio.true_sample_rate_hz,
        "time_expansion": audio.time_expansion,
        "duration_s": round(audio.duration_s, 6),
        "calls": [_call_row(c) for c in calls],
    }


def run(args: argparse.Namespace) -> int:
    if args.time_expansion is not None and not args.time_expansion > 0:
        print("--time-expansion must be a positive number", file=sys.stderr)
        return 2
    # One file at a time is small work; more threads only fight the other processes on a shared machine.
    torch.set_num_threads(1)
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
            passes = len({c["pass"] for c in row["calls"] if c["pass"] >= 0})
            print(
                f"{row['file']}: {len(row['calls'])} calls in {passes} passes, {row['duration_s']:.3f} s at "
                f"{row['sample_rate_hz']} Hz true (time expansion {row['time_expansion']:g})",
                flush=True,
            )
            for c in row["calls"]:
                print(
                    f"  {c['start_s']:9.4f}-{c['end_s']:.4f} s  "
                    f"{c['low_hz'] / 1000:6.1f}-{c['high_hz'] / 1000:.1f} kHz"
                    f"  peak {c['peak_hz'] / 1000:6.1f} kHz  {c['snr_db']:5.1f} dB  pass {c['pass']}",
                    flush=True,
                )
    return 1 if failed else 0
