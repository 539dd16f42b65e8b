"""What "nothing lost, nothing twice" means for a night's recordings, read straight from the tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.faults.conftest import FaultSite


def analyses_by_state(site: FaultSite, recording_ids: list[int]) -> dict[str, int]:
    rows = site.rows(
        "SELECT state, count(*) FROM classifier_analysis WHERE recording_id = ANY(%s) GROUP BY state",
        recording_ids,
    )
    return dict(rows)


def all_analysed(site: FaultSite, recording_ids: list[int]) -> bool:
    return analyses_by_state(site, recording_ids) == {"done": len(recording_ids)}


def assert_each_recording_analysed_once(
    site: FaultSite, recording_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Every recording ingested, with exactly one finished analysis, one prediction, and its calls once.

    Returns per recording its analysis's id and attempts, for further checks.
    """
    statuses = dict(site.rows("SELECT id, status FROM surveys_recording WHERE id = ANY(%s)", recording_ids))
    assert statuses == {rid: "ingested" for rid in recording_ids}, f"recording statuses: {statuses}"

    analyses = site.rows(
        "SELECT recording_id, id, state, attempts FROM classifier_analysis WHERE recording_id = ANY(%s)",
        recording_ids,
    )
    per_recording: dict[int, dict[str, Any]] = {}
    for recording_id, analysis_id, state, attempts in analyses:
        assert recording_id not in per_recording, f"recording {recording_id} has two analyses: {analyses}"
        per_recording[recording_id] = {"analysis": analysis_id, "state": state, "attempts": attempts}
    assert sorted(per_recording) == sorted(recording_ids), f"analyses: {analyses}"
    assert {r["state"] for r in per_recording.values()} == {"done"}, f"analyses: {analyses}"

    predictions = site.rows(
        "SELECT recording_id, analysis_id, n_calls FROM classifier_prediction WHERE recording_id = ANY(%s)",
        recording_ids,
    )
    assert sorted(p[0] for p in predictions) == sorted(recording_ids), f"predictions: {predictions}"
    for recording_id, analysis_id, n_calls in predictions:
        assert analysis_id == per_recording[recording_id]["analysis"]
        calls, distinct = site.rows(
            "SELECT count(*), count(DISTINCT (start_s, end_s, low_hz, high_hz)) FROM classifier_calldetection "
            "WHERE analysis_id = %s",
            analysis_id,
        )[0]
        assert calls == distinct == n_calls, (
            f"recording {recording_id}: {calls} stored calls ({distinct} distinct) for a prediction of {n_calls}"
        )
        per_recording[recording_id]["calls"] = calls
    return per_recording
