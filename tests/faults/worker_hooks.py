"""Loaded only by the fault tests' workers (`--include tests.faults.worker_hooks`), never by the app.

It holds a worker inside its work long enough for a test to kill it there, without any test switch in the
app's own code. Both holds are off unless the worker's environment sets them:

- FAULTS_STORE_DELAY_S: an analysis on its first attempt sleeps this long after its claim and its analysis,
  just before its results are stored (the worker is killed "mid-analysis": claimed, nothing stored).
- FAULTS_TRAINING_HOLD_S: a training run on its first attempt keeps writing its heartbeat for this long
  before it collects its data, as a long run does (the sweep must leave a run with a live heartbeat
  alone). A later attempt, the one that takes over from a killed worker, is not held.

Each prints a line starting with "faults:" to the worker's log, so a test knows which worker holds what.

The worker imports this module before it forks its pool, so the children run the patched functions.
"""

from __future__ import annotations

import os
import time

from classifier import services, training

STORE_DELAY_S = float(os.environ.get("FAULTS_STORE_DELAY_S") or 0)
TRAINING_HOLD_S = float(os.environ.get("FAULTS_TRAINING_HOLD_S") or 0)

if STORE_DELAY_S > 0:
    _store_result = services._store_result

    def _slow_store_result(analysis, result, *, attempt):
        if attempt == 1:
            print(f"faults: analysis {analysis.pk} holds claim {attempt}; storing in {STORE_DELAY_S:g} s",
                  flush=True)  # fmt: skip
            time.sleep(STORE_DELAY_S)
        return _store_result(analysis, result, attempt=attempt)

    services._store_result = _slow_store_result

if TRAINING_HOLD_S > 0:
    _training_data_build = training.training_data_build

    def _held_training_data_build(*, run, folder, heartbeat=lambda: None):
        if run.attempts != 1:
            return _training_data_build(run=run, folder=folder, heartbeat=heartbeat)
        print(f"faults: training run {run.pk} held for {TRAINING_HOLD_S:g} s with its heartbeat", flush=True)
        deadline = time.monotonic() + TRAINING_HOLD_S
        while time.monotonic() < deadline:
            heartbeat()
            time.sleep(0.5)
        return _training_data_build(run=run, folder=folder, heartbeat=heartbeat)

    training.training_data_build = _held_training_data_build

# Import the analysis engine now, in the worker's main process, so the first task of a pool child does not
# spend its time limit importing torch on a busy machine.
import ml.infer  # noqa: F401
