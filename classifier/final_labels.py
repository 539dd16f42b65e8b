"""The final label of a recording: its latest review decision, else its prediction (flow step 5).

The contract with reports, the API and retraining is docs/final-labels.md. Rules, in order:

1. Decisions are read in the order they were made (`decided_at`, then id). Single decisions and a manager's
   settlements count. Independent double-review ("blind") decisions count only once their round is closed
   with agreement; a settled round counts through the manager's settlement alone.
2. While a recording is in an open double-review round, its label stays what it was before the round (the
   pair's decisions set the label only once both are in) and its status says why: awaiting the second
   review, or a disagreement waiting for a manager.
3. `unsure` is a decision, not a label: it keeps the label in force and only shows as the status.
4. Without any counting decision the label is the prediction shown for the recording: the active model's,
   else the most recent one of any model (the rule of classifier.selectors), else nothing.

`final_labels` reads every recording of a batch in three queries (predictions, decisions, open rounds),
whatever the batch size (it splits very long id lists to stay under database parameter limits).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classifier.models import (
    OPEN_DOUBLE_REVIEW_STATES,
    DecisionKind,
    DoubleReviewItem,
    DoubleReviewState,
    LabelDecision,
    ModelVersion,
    Prediction,
    ReviewStatus,
)
from ml import labels

__all__ = ["FinalLabel", "final_label", "final_labels", "NOT_REVIEWED", "AWAITING_SECOND_REVIEW", "DISAGREEMENT"]

NOT_REVIEWED = "not_reviewed"
AWAITING_SECOND_REVIEW = "awaiting_second_review"
DISAGREEMENT = "disagreement"
_BATCH = 5000  # ids per query: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class FinalLabel:
    species_present: tuple[str, ...]  # dominant first; ("noise",) when there is no bat
    call_types: tuple[str, ...]  # main first
    source: str  # "review" | "prediction" | "none"
    review_status: str  # "not_reviewed" | "confirmed" | "corrected" | "unsure" | "no_bat"
    #                    | "awaiting_second_review" | "disagreement"
    reviewer: str  # username of the deciding reviewer, "" if none
    reviewed_at: dt.datetime | None
    reviewed_species: tuple[str, ...]  # what the reviewer said (() if not reviewed)
    reviewed_call_types: tuple[str, ...]
    removed_species: tuple[str, ...]  # species the model found that the reviewer removed
    added_species: tuple[str, ...]  # species the reviewer added that the model did not find
    # Beyond the contract (additions only): the rows behind the label, for reports and the audit trail.
    prediction_id: int | None = None  # the prediction compared against (its analysis holds the calls)
    decision_id: int | None = None  # the decision whose label is in force, None when it is the prediction

    @property
    def species(self) -> str:
        """The dominant species ("" when there is no label at all)."""
        return self.species_present[0] if self.species_present else ""

    @property
    def call_type(self) -> str:
        return self.call_types[0] if self.call_types else ""

    @property
    def is_reviewed(self) -> bool:
        return self.source == "review"


@dataclass(frozen=True)
class _Decision:
    pk: int
    status: str
    kind: str
    species_present: tuple[str, ...]
    call_types: tuple[str, ...]
    reviewer: str
    decided_at: dt.datetime
    item_id: int | None


def _label_of(decision: _Decision) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if decision.status == ReviewStatus.NO_BAT:
        return (labels.NOISE,), ("none",)
    return decision.species_present, decision.call_types


def _bats(species: Iterable[str]) -> list[str]:
    return [s for s in species if s != labels.NOISE]


def _compose(
    prediction: tuple[int, tuple[str, ...], tuple[str, ...]] | None,
    counting: Sequence[_Decision],
    open_state: str | None,
) -> FinalLabel:
    predicted_species: tuple[str, ...] = prediction[1] if prediction else ()
    in_force = next((d for d in reversed(counting) if d.status != ReviewStatus.UNSURE), None)
    latest = counting[-1] if counting else None
    if in_force is not None:
        species, call_types = _label_of(in_force)
        source = "review"
        removed = tuple(s for s in _bats(predicted_species) if s not in species)
        added = tuple(s for s in _bats(species) if s not in predicted_species)
    elif prediction is not None:
        species, call_types, source, removed, added = prediction[1], prediction[2], "prediction", (), ()
    else:
        species, call_types, source, removed, added = (), (), "none", (), ()
    if latest is None:
        status, reviewer, reviewed_at, reviewed_species, reviewed_call_types = NOT_REVIEWED, "", None, (), ()
    else:
        status, reviewer, reviewed_at = latest.status, latest.reviewer, latest.decided_at
        reviewed_species, reviewed_call_types = _label_of(latest) if latest.status != ReviewStatus.UNSURE else ((), ())
    if open_state is not None:
        status = AWAITING_SECOND_REVIEW if open_state == DoubleReviewState.AWAITING else DISAGREEMENT
    return FinalLabel(
        species_present=tuple(species),
        call_types=tuple(call_types),
        source=source,
        review_status=status,
        reviewer=reviewer,
        reviewed_at=reviewed_at,
        reviewed_species=tuple(reviewed_species),
        reviewed_call_types=tuple(reviewed_call_types),
        removed_species=removed,
        added_species=added,
        prediction_id=prediction[0] if prediction else None,
        decision_id=in_force.pk if in_force else None,
    )


def _shown_predictions(ids: list[int], active_id: int | None) -> dict[int, tuple[int, tuple[str, ...], tuple[str, ...]]]:
    """Per recording: the active model's prediction, else the most recent one (classifier.selectors' rule)."""
    best: dict[int, tuple[tuple[int, object, int], tuple[int, tuple[str, ...], tuple[str, ...]]]] = {}
    rows = Prediction.objects.filter(recording_id__in=ids).values_list(
        "pk", "recording_id", "model_version_id", "created_at", "species", "species_present", "call_types"
    )
    for pk, recording_id, model_version_id, created_at, species, present, call_types in rows:
        # Larger key wins: the active model first, then the newest.
        key = (1 if model_version_id == active_id else 0, created_at, pk)
        if recording_id not in best or key > best[recording_id][0]:
            present_t = tuple(present or ()) or ((species,) if species else ())
            best[recording_id] = (key, (pk, present_t, tuple(call_types or ())))
    return {recording_id: value for recording_id, (_key, value) in best.items()}


def final_labels(recording_ids: Iterable[int]) -> dict[int, FinalLabel]:
    """Final labels of many recordings at once (three queries per batch of ids). Unknown ids map to a
    label with source "none"."""
    ids = list(dict.fromkeys(int(pk) for pk in recording_ids))
    if not ids:
        return {}
    active = ModelVersion.objects.active()
    active_id = active.pk if active else None
    result: dict[int, FinalLabel] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        predictions = _shown_predictions(chunk, active_id)
        open_rounds = dict(
            DoubleReviewItem.objects.filter(recording_id__in=chunk, state__in=OPEN_DOUBLE_REVIEW_STATES)
            .values_list("recording_id", "state")
        )
        decisions: dict[int, list[_Decision]] = defaultdict(list)
        rows = (
            LabelDecision.objects.filter(recording_id__in=chunk)
            .order_by("decided_at", "pk")
            .values_list(
                "pk", "recording_id", "status", "kind", "species_present", "call_types", "reviewer__username",
                "decided_at", "double_review_item_id", "double_review_item__state",
            )
        )  # fmt: skip
        for pk, recording_id, status, kind, present, call_types, reviewer, decided_at, item_id, item_state in rows:
            if kind == DecisionKind.BLIND and item_state != DoubleReviewState.AGREED:
                continue  # a pair counts only once both agreed; a settled pair counts through its settlement
            decisions[recording_id].append(
                _Decision(pk, status, kind, tuple(present or ()), tuple(call_types or ()), reviewer or "",
                          decided_at, item_id)  # fmt: skip
            )
        for recording_id in chunk:
            result[recording_id] = _compose(
                predictions.get(recording_id), decisions.get(recording_id, ()), open_rounds.get(recording_id)
            )
    return result


def final_label(recording) -> FinalLabel:
    """The final label of one recording (a Recording or its id)."""
    pk = getattr(recording, "pk", recording)
    return final_labels([pk])[pk]
