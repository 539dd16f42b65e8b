"""Training quality and time (issue 4): both presets on synthetic data, and real data with and without.

Run by hand (it trains several models; about 30 minutes on the quiet 2-core machine):

    .venv/bin/python bench/train_quality.py --work /tmp/train_quality [--skip-real] [--skip-quick]

Work folder (reused between runs: datasets are generated once; delete it to start over):
    synth_train_easy/, synth_train_hard/   `ml synth --per-class N --seed 1` (easy and hard): training data
    synth_test_hard/                       `ml synth --per-class M --seed 2 --difficulty hard`: the target set
    demo/                                  `ml synth --per-class 8 --seed 1`: what the quick preset trains on
    whombat/                               a dataset folder of symlinks to ../shared whombat files (labels.csv)
    default.pt, quick.pt, default_real.pt  checkpoints; results.json: every number below

Reported (markdown on stdout, JSON in results.json):
1. default preset on synthetic easy + hard (seed 1): training time; per call and per recording on the hard
   seed-2 set, CNN beside the call-parameter baseline (target macro-F1 >= 0.95, species and call type);
2. quick preset: generating its data + training time (target <= 3 min), and its scores on the same set;
3. real: the default model without labelled-europe and one trained with labelled-europe's training part,
   each scored per call and per recording on labelled-europe's frozen test split, and on the whombat files
   (Costa Rican species: how often they come out as confident European species).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.evaluate import EvaluationReport, evaluate  # noqa: E402
from ml.model import load_model  # noqa: E402
from ml.synth import generate_dataset  # noqa: E402
from ml.train import TrainProgress, train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "recordings"
LABELLED_EUROPE = SHARED / "labelled-europe"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def progress(p: TrainProgress) -> None:
    if p.stage == "train" or p.stage in ("calibrate", "done"):
        log(p.line())
    elif p.stage == "prepare" and p.files_done in (p.files_total, 0):
        log(p.line())


def synth(folder: Path, per_class: int, seed: int, difficulty: str) -> tuple[Path, float]:
    if (folder / "labels.csv").is_file():
        return folder, 0.0
    started = time.monotonic()
    generate_dataset(folder, per_class, seed, difficulty)
    return folder, time.monotonic() - started


def whombat_folder(work: Path) -> Path:
    """A dataset folder for the whombat recordings: symlinks (no copies) and a labels.csv from manifest.csv."""
    folder = work / "whombat"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with (SHARED / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if not row["path"].startswith("recordings/whombat/"):
                continue
            source = SHARED.parent / row["path"]
            link = folder / source.name
            if not link.exists():
                link.symlink_to(source)
            rows.append(
                [
                    source.name,
                    row["species"],
                    "echolocation",
                    row["time_expansion"] or "1",
                    row["source"],
                    "CC-BY-NC-SA-4.0",
                ]
            )
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "species", "call_type", "time_expansion", "source", "licence"])
        writer.writerows(rows)
    return folder


def scores(report: EvaluationReport) -> dict[str, Any]:
    out: dict[str, Any] = {"cnn": report.cnn.as_dict(), "n_files": report.n_files}
    out["baseline"] = report.baseline.as_dict() if report.baseline else None
    out["out_of_range"] = report.out_of_range.as_dict()
    out["out_of_range_baseline"] = (
        report.out_of_range_baseline.as_dict() if report.out_of_range_baseline else None
    )
    return out


def score_both(model_path: Path, data: list[Path], split: str = "all") -> dict[str, Any]:
    model = load_model(model_path)
    return {
        "call": scores(evaluate(model, data, split=split)),
        "recording": scores(evaluate(model, data, split=split, per_recording=True)),
    }


def row(name: str, level: dict[str, Any], key: str = "cnn") -> str:
    s = level[key]
    return (
        f"| {name} | {s['n']} | {s['macro_f1_species']:.3f} | {s['macro_f1_call_type']:.3f} | "
        f"{s['accuracy_species']:.3f} | {s['accuracy_group']:.3f} | {s['ece']:.3f} |"
    )


HEADER = "| model, level | n | macro-F1 species | macro-F1 call type | accuracy species | accuracy group | ECE |\n|---|---:|---:|---:|---:|---:|---:|"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/train_quality"))
    parser.add_argument(
        "--per-class", type=int, default=40, help="synthetic training files per class and difficulty"
    )
    parser.add_argument("--test-per-class", type=int, default=20, help="hard test files per class (seed 2)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.is_file() else {}

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=1) + "\n")

    log("generating synthetic data (once)")
    easy, t_easy = synth(work / "synth_train_easy", args.per_class, 1, "easy")
    hard, t_hard = synth(work / "synth_train_hard", args.per_class, 1, "hard")
    test, _ = synth(work / "synth_test_hard", args.test_per_class, 2, "hard")
    results.setdefault("data", {}).update(
        {"per_class": args.per_class, "test_per_class": args.test_per_class}
    )
    if t_easy or t_hard:
        results["data"]["generate_train_seconds"] = round(t_easy + t_hard, 1)

    default_model = work / "default.pt"
    if not default_model.is_file():
        log("training the default preset on synthetic data")
        started = time.monotonic()
        result = train([easy, hard], default_model, preset="default", seed=args.seed, progress=progress)
        results["default"] = {"train_seconds": round(time.monotonic() - started, 1), "epochs": result.epochs_run,
                              "best_epoch": result.best_epoch, "version": result.version}  # fmt: skip
        save()
    log("scoring the default model on the hard seed-2 set")
    results.setdefault("default", {})["synthetic_hard"] = score_both(default_model, [test])
    save()

    if not args.skip_quick:
        quick_model = work / "quick.pt"
        if not quick_model.is_file():
            log("quick preset: generating its data and training")
            started = time.monotonic()
            demo, _ = synth(work / "demo", 8, 1, "easy")
            generated = time.monotonic() - started
            train([demo], quick_model, preset="quick", seed=args.seed, progress=progress)
            results["quick"] = {
                "generate_seconds": round(generated, 1),
                "total_seconds": round(time.monotonic() - started, 1),
            }
            save()
        results.setdefault("quick", {})["synthetic_hard"] = score_both(quick_model, [test])
        save()

    if not args.skip_real and LABELLED_EUROPE.is_dir():
        whombat = whombat_folder(work)
        real_model = work / "default_real.pt"
        if not real_model.is_file():
            log("training the default preset on synthetic data + labelled-europe (its training part)")
            started = time.monotonic()
            result = train(
                [easy, hard, LABELLED_EUROPE], real_model, preset="default", seed=args.seed, progress=progress
            )
            results["default_real"] = {
                "train_seconds": round(time.monotonic() - started, 1),
                "epochs": result.epochs_run,
                "version": result.version,
            }
            save()
        for name, path in (("default", default_model), ("default_real", real_model)):
            log(f"scoring {name} on labelled-europe (test split) and whombat")
            results.setdefault(name, {})["labelled_europe_test"] = score_both(
                path, [LABELLED_EUROPE], split="test"
            )
            results[name]["whombat"] = score_both(path, [whombat])
            save()

    print("\n### Synthetic (hard, seed 2)\n")
    print(HEADER)
    for name in ("default", "quick"):
        if "synthetic_hard" not in results.get(name, {}):
            continue
        for level in ("call", "recording"):
            block = results[name]["synthetic_hard"][level]
            print(row(f"{name} CNN, per {level}", block))
            print(row(f"{name} baseline, per {level}", block, "baseline"))
    if "labelled_europe_test" in results.get("default", {}):
        print("\n### labelled-europe, frozen test split\n")
        print(HEADER)
        for name in ("default", "default_real"):
            for level in ("call", "recording"):
                block = results[name]["labelled_europe_test"][level]
                print(row(f"{name} CNN, per {level}", block))
                print(row(f"{name} baseline, per {level}", block, "baseline"))
        print("\n### whombat (out of range: Costa Rican species)\n")
        print(
            "| model, level | n | confident European species | group | Chiroptera sp. | noise |\n|---|---:|---:|---:|---:|---:|"
        )
        for name in ("default", "default_real"):
            for level in ("call", "recording"):
                for key in ("out_of_range", "out_of_range_baseline"):
                    o = results[name]["whombat"][level][key]
                    label = "CNN" if key == "out_of_range" else "baseline"
                    print(
                        f"| {name} {label}, per {level} | {o['n']} | {o['confident_species']:.3f} | {o['group']:.3f} | {o['order']:.3f} | {o['noise']:.3f} |"
                    )
    print("\n### Time\n")
    for name in ("default", "quick", "default_real"):
        block = results.get(name, {})
        if "train_seconds" in block or "total_seconds" in block:
            print(
                f"- {name}: {json.dumps({k: v for k, v in block.items() if k.endswith('seconds') or k in ('epochs', 'best_epoch')})}"
            )
    print(f"\nresults: {results_path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
