"""Memory of one process analysing 100 files of 5 s at 384 kHz (issue 4 target: peak RSS <= 800 MB, RSS growth
between file 10 and file 100 < 50 MB).

    .venv/bin/python bench/analyse_memory.py --model MODEL.pt [--files 100]

The files (ml.synth, as in bench/analyse_throughput.py, 100 distinct ones) are written first by a child
process, so generating them does not count. Then this process imports ml, loads the model once and analyses
the files one after another on one torch thread, as a worker would, reading VmRSS after each file and VmHWM
(peak RSS) at the end from /proc/self/status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB -> MB
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/batsite-bench-5s-384k"))
    args = parser.parse_args()

    # Files first, in a child: synthesis allocates far more than analysis and would own the peak.
    subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); from bench.analyse_throughput import make_files; "
         "make_files(__import__('pathlib').Path(sys.argv[2]), int(sys.argv[3]))",
         str(REPO), str(args.dir), str(args.files)],
        check=True,
    )  # fmt: skip
    from bench.analyse_throughput import make_files

    paths = make_files(args.dir, args.files)  # all exist now: only the list is built
    start_mb = _status_mb("VmRSS")
    import torch

    torch.set_num_threads(1)
    from ml.infer import InferConfig, analyse
    from ml.model import load_model

    model = load_model(args.model)
    loaded_mb = _status_mb("VmRSS")
    config = InferConfig(torch_threads=1)
    rss: list[float] = []
    n_calls = 0
    for path in paths:
        n_calls += len(analyse(path, model, config=config).calls)
        rss.append(_status_mb("VmRSS"))
    peak_mb = _status_mb("VmHWM")
    at_10 = rss[9] if len(rss) >= 10 else rss[0]
    growth = rss[-1] - at_10
    print(f"RSS before imports {start_mb:.0f} MB, after import + model load {loaded_mb:.0f} MB")
    print("RSS after file 1, 10, 25, 50, 75, 100: " + ", ".join(
        f"{rss[i - 1]:.0f}" for i in (1, 10, 25, 50, 75, 100) if i <= len(rss)) + " MB")  # fmt: skip
    print(
        f"peak RSS {peak_mb:.0f} MB (target <= 800), growth file 10 -> {len(rss)} {growth:+.1f} MB (target < 50), "
        f"{len(paths)} files, {n_calls} calls, model {model.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
