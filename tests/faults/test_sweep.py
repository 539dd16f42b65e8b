"""The periodic sweep queues again the work whose claim went stale or whose message was lost (issue 10).

The database holds what a dead worker and a lost broker leave behind, and the broker holds no message for
any of it: an analysis claimed an hour ago by a worker that is gone, an analysis queued an hour ago, and an
upload an hour old that was never ingested. A worker with beat's sweeps (every second) finishes all three.
"""

from __future__ import annotations

import redis

from tests.faults.checks import all_analysed, assert_each_recording_analysed_once
from tests.faults.conftest import FaultSite


def test_the_sweep_requeues_a_stale_claim_a_lost_analysis_and_a_lost_upload(faults: FaultSite) -> None:
    action = faults.start_action("lost-work", str(faults.model))
    worker = faults.worker("a")  # it starts meanwhile; nothing sends it a message until beat starts
    lost = action.result()
    recordings = [int(r) for r in lost["recordings"]]
    broker = redis.Redis.from_url(faults.redis.url)
    # No message anywhere, not even an unacknowledged one to redeliver: only the sweeps can find this work.
    assert (broker.llen("analysis"), broker.llen("training"), broker.hlen("unacked")) == (0, 0, 0)
    faults.beat()
    faults.wait_ready(worker)

    faults.wait_until(lambda: all_analysed(faults, recordings), timeout_s=180,
                      what="the sweeps to queue the lost work and the worker to finish it")  # fmt: skip

    results = assert_each_recording_analysed_once(faults, recordings)
    by_analysis = {r["analysis"]: r for r in results.values()}
    assert by_analysis[lost["claimed"]]["attempts"] == 2  # the dead worker's claim, then this worker's
    assert by_analysis[lost["queued"]]["attempts"] == 1
