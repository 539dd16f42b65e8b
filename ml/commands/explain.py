"""`python -m ml explain FILE --model MODEL.pt --out PNG [--time-expansion N]`: draw an occlusion map.

Analyses the file (ml.infer), computes the occlusion map of its answer by frequency bands and time windows
(ml.explain) and draws it over the spectrogram with the calls boxed (ml.plots). Prints one JSON line: file,
species explained, its score, the band that mattered most, and the PNG written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.audio import AudioError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="WAV file")
    parser.add_argument(
        "--model", type=Path, required=True, metavar="MODEL.pt", help="checkpoint from ml train"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="PNG", help="image to write")
    parser.add_argument(
        "--time-expansion",
        type=float,
        default=None,
        metavar="N",
        help="time-expansion factor when the file's GUANO has no TE (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    if args.time_expansion is not None and not args.time_expansion > 0:
        print("--time-expansion must be a positive number", file=sys.stderr)
        return 2
    from ml.audio import load_audio
    from ml.explain import occlude
    from ml.infer import analyse_audio
    from ml.model import load_model
    from ml.plots import plot_occlusion

    try:
        model = load_model(args.model)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        print(f"python -m ml explain: cannot load model {args.model}: {exc}", file=sys.stderr)
        return 2
    try:
        audio = load_audio(args.file, time_expansion=args.time_expansion)
    except (AudioError, OSError) as exc:
        print(json.dumps({"file": str(args.file), "error": str(exc) or type(exc).__name__}), flush=True)
        return 1
    analysis, spectrogram = analyse_audio(args.file, audio, model)
    occlusion = occlude(spectrogram, analysis, model)
    bat_calls = [c for c in analysis.calls if c.species != "noise"]
    plot_occlusion(spectrogram, occlusion, bat_calls, out=args.out)
    low_hz, high_hz = occlusion.most_important_band_hz
    print(
        json.dumps(
            {
                "file": str(args.file),
                "species": occlusion.label,
                "score": round(occlusion.score, 4),
                "most_important_band_hz": [low_hz, high_hz],
                "out": str(args.out),
            }
        ),
        flush=True,
    )
    return 0
