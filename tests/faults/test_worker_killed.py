"""A worker killed with SIGKILL in the middle of its work (issue 10, Faults).

Two workers start together; whichever takes the work first is held inside it (tests.faults.worker_hooks,
first attempts only) and killed there, process group and all; the other one must finish the work, once.

- An analysis: the killed worker claimed it and stored nothing. The broker redelivers the unacknowledged
  message (acks_late; the visibility timeout shortened for the test and, as in production, longer than the
  stale window) to the other worker, which takes over the stale claim and finishes: one analysis, one
  prediction, its calls stored once. No sweep runs in this test: the redelivery alone recovers it.
- A training run: while the first worker trains with a live heartbeat, the periodic sweep (every second)
  leaves the run alone for longer than the stale window, though the other worker is idle. Once the first
  worker is killed its heartbeat goes stale, the sweep queues the run again, and the other worker trains it
  to the end under a new claim: never two workers at once, one model version registered.
"""

from __future__ import annotations

import time

from tests.faults.checks import assert_each_recording_analysed_once
from tests.faults.conftest import FAULT_WINDOWS, FaultSite
from tests.faults.processes import CeleryProcess

STALE_ANALYSIS_S = int(FAULT_WINDOWS["STALE_ANALYSIS_AFTER_S"])
STALE_JOB_S = int(FAULT_WINDOWS["STALE_JOB_AFTER_S"])
# Longer than the stale window (with room for the time between delivery and claim on a busy machine): a
# message redelivered sooner would find the claim fresh and be dropped.
VISIBILITY_TIMEOUT_S = STALE_ANALYSIS_S + 10


def _holder(workers: list[CeleryProcess], line: str) -> tuple[CeleryProcess, CeleryProcess]:
    """(the worker whose log shows `line`, the other one)."""
    [holder] = [w for w in workers if line in w.log.read_text(errors="replace")]
    [other] = [w for w in workers if w is not holder]
    return holder, other


def test_an_analysis_whose_worker_is_killed_is_finished_once_by_another_worker(faults: FaultSite) -> None:
    env = {"CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S), "FAULTS_STORE_DELAY_S": "600"}
    night = faults.start_action("night", str(faults.model), "1")
    workers = [faults.worker("a", **env), faults.worker("b", **env)]
    [recording] = night.result()["recordings"]
    faults.wait_ready(*workers)

    held = "holds claim 1; storing in"
    faults.wait_until(lambda: any(held in w.log.read_text(errors="replace") for w in workers), timeout_s=180,
                      what="a worker to claim and analyse the recording, and wait to store")  # fmt: skip
    first, second = _holder(workers, held)
    first.kill()
    assert faults.rows(
        "SELECT state, attempts FROM classifier_analysis WHERE recording_id = %s", recording
    ) == [("running", 1)]
    assert faults.rows("SELECT count(*) FROM classifier_prediction WHERE recording_id = %s", recording) == [
        (0,)
    ]

    faults.wait_until(
        lambda: (
            faults.value("SELECT state FROM classifier_analysis WHERE recording_id = %s", recording) == "done"
        ),
        timeout_s=VISIBILITY_TIMEOUT_S + 120,
        what="the other worker to finish the analysis after the broker redelivered it",
    )

    [result] = assert_each_recording_analysed_once(faults, [recording]).values()
    assert result["attempts"] == 2  # the killed worker's claim, then the other's; nobody ran it a third time
    assert second.alive() and "analyse_recording" in second.log.read_text(errors="replace")


def _run(faults: FaultSite, run_id: int) -> dict[str, object]:
    [(state, attempts, claim, worker, model_version, error)] = faults.rows(
        "SELECT state, attempts, claim, worker, model_version_id, error FROM classifier_trainingrun WHERE id = %s",
        run_id,
    )
    return {"state": state, "attempts": attempts, "claim": claim, "worker": worker,
            "model_version": model_version, "error": error}  # fmt: skip


def _pid(worker_name: object) -> int:
    return int(str(worker_name).rsplit(":", 1)[1])  # classifier.training names a worker host:pid


def test_a_training_run_whose_worker_is_killed_is_trained_again_never_by_two_workers_at_once(
    faults: FaultSite,
) -> None:
    train = faults.start_action("train", str(faults.model), "4")
    workers = [
        faults.worker("a", FAULTS_TRAINING_HOLD_S="600"),
        faults.worker("b", FAULTS_TRAINING_HOLD_S="600"),
    ]
    faults.beat()  # the periodic sweeps, every second
    run_id = int(train.result()["run"])
    faults.wait_ready(*workers)
    held = f"faults: training run {run_id} held for"
    faults.wait_until(lambda: any(held in w.log.read_text(errors="replace") for w in workers), timeout_s=180,
                      what="a worker to claim the training run")  # fmt: skip
    first, second = _holder(workers, held)
    claimed = _run(faults, run_id)
    assert claimed["state"] == "running" and _pid(claimed["worker"]) in first.group_pids()

    # Longer than the stale window, with the sweep running every second and the other worker idle: the run
    # stays with the worker that keeps its heartbeat fresh.
    watched_until = time.monotonic() + STALE_JOB_S + 5
    while time.monotonic() < watched_until:
        now = _run(faults, run_id)
        assert (now["state"], now["attempts"], now["claim"], now["worker"]) == (
            "running",
            1,
            claimed["claim"],
            claimed["worker"],
        ), f"the run was taken from a worker that is alive: {now}"
        time.sleep(1)
    first_pids = first.group_pids()
    first.kill()

    faults.wait_until(
        lambda: _run(faults, run_id)["state"] not in ("running", "queued"),
        timeout_s=STALE_JOB_S + 240,
        what="the sweep to give the run to the other worker, and it to finish",
    )
    finished = _run(faults, run_id)
    assert finished["state"] == "done", finished
    assert finished["attempts"] == 2 and finished["claim"] not in ("", claimed["claim"])
    assert _pid(finished["worker"]) not in first_pids and _pid(finished["worker"]) in second.group_pids()
    versions = faults.rows("SELECT id FROM classifier_modelversion WHERE name LIKE %s", f"run{run_id}-%")
    assert versions == [(finished["model_version"],)]
