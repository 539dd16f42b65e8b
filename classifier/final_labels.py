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
whatever the batch size (it splits very long id lists to stay under database parameter limits). Reports read
100,000 recordings through it, so the reading is lean: ids go into the SQL as they are (`id_in`), the JSON
label lists come as text and are decoded once per distinct list, and the newest prediction is found by the
database's ordering rather than by converting every `created_at`. `final_labels_with_predictions` also
returns the shown prediction of each recording, with any further columns a report asks for, from the same
query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from django.db import connection, models
from django.db.models import BooleanField, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

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

__all__ = [
    "FinalLabel", "ShownPrediction", "final_label", "final_labels", "final_labels_with_predictions", "id_in",
    "NOT_REVIEWED", "AWAITING_SECOND_REVIEW", "DISAGREEMENT",
]  # fmt: skip

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


class ShownPrediction(NamedTuple):
    """The prediction shown for a recording (the one its final label is compared against)."""

    pk: int
    species_present: tuple[str, ...]  # dominant first; (species,) when the list is empty
    call_types: tuple[str, ...]  # main first, as stored
    values: tuple  # the further columns asked of `final_labels_with_predictions`, in that order

    @classmethod
    def of(cls, prediction: Prediction) -> ShownPrediction:
        """From a Prediction a page has already read (as the shown one, by classifier.selectors' rule)."""
        species = tuple(prediction.species_present or ())
        if not species and prediction.species:
            species = (prediction.species,)
        return cls(prediction.pk, species, tuple(prediction.call_types or ()), ())


def id_in(model: type[models.Model], field: str, ids: Sequence[int]) -> RawSQL:
    """A filter `<field> IN (ids)` for a query on `model`, the ids bound as they are.

    Django's `field__in=ids` passes every id through the field's preparation (several microseconds each: a
    tenth of a 100,000-row report); ids read from the database need none. Only for the model's own table
    (not for a queryset used as a subquery, whose table Django renames).
    """
    if not ids:
        return RawSQL("1 = 0", (), output_field=BooleanField())
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(field).column)}"
    return RawSQL(f"{column} IN ({', '.join(['%s'] * len(ids))})", [int(pk) for pk in ids],
                  output_field=BooleanField())  # fmt: skip


@lru_cache(maxsize=4096)  # a few dozen distinct lists label 100,000 recordings
def _json_list(text: str | None) -> tuple[str, ...]:
    """A label list stored as JSON text (read with Cast, so Django does not decode it on every row)."""
    return tuple(json.loads(text) or ()) if text else ()


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


_FIELDS = tuple(FinalLabel.__dataclass_fields__)


def _label(*values: object) -> FinalLabel:
    """A FinalLabel from all its field values in order, without the frozen dataclass's __init__, which sets
    each field through object.__setattr__ (0.76 s against 0.14 s for 100,000 labels, measured on a busy
    machine). The result is an ordinary FinalLabel: FinalLabel has no defaults to apply and no
    __post_init__, and a test checks it equals one built the usual way."""
    label = object.__new__(FinalLabel)
    label.__dict__.update(zip(_FIELDS, values, strict=True))
    return label


_NO_LABEL = FinalLabel((), (), "none", NOT_REVIEWED, "", None, (), (), (), (), None, None)  # immutable: shared


def _compose(
    prediction: ShownPrediction | None,
    counting: Sequence[_Decision],
    open_state: str | None,
) -> FinalLabel:
    if not counting and open_state is None:  # nearly every recording of a report: the prediction, or nothing
        if prediction is None:
            return _NO_LABEL
        return _label(prediction.species_present, prediction.call_types, "prediction", NOT_REVIEWED, "", None,
                      (), (), (), (), prediction.pk, None)  # fmt: skip
    predicted_species: tuple[str, ...] = prediction.species_present if prediction else ()
    in_force = next((d for d in reversed(counting) if d.status != ReviewStatus.UNSURE), None)
    latest = counting[-1] if counting else None
    if in_force is not None:
        species, call_types = _label_of(in_force)
        source = "review"
        removed = tuple(s for s in _bats(predicted_species) if s not in species)
        added = tuple(s for s in _bats(species) if s not in predicted_species)
    elif prediction is not None:
        species, call_types, source, removed, added = (prediction.species_present, prediction.call_types,
                                                       "prediction", (), ())  # fmt: skip
    else:
        species, call_types, source, removed, added = (), (), "none", (), ()
    if latest is None:
        status, reviewer, reviewed_at, reviewed_species, reviewed_call_types = NOT_REVIEWED, "", None, (), ()
    else:
        status, reviewer, reviewed_at = latest.status, latest.reviewer, latest.decided_at
        reviewed_species, reviewed_call_types = (
            _label_of(latest) if latest.status != ReviewStatus.UNSURE else ((), ())
        )
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
        prediction_id=prediction.pk if prediction else None,
        decision_id=in_force.pk if in_force else None,
    )


def _shown_predictions(
    ids: list[int], active_id: int | None, fields: Sequence[str]
) -> dict[int, ShownPrediction]:
    """Per recording: the active model's prediction, else the most recent one (classifier.selectors' rule)."""
    best: dict[int, tuple[bool, ShownPrediction]] = {}
    rows = (
        Prediction.objects.filter(id_in(Prediction, "recording", ids))
        .annotate(present_json=Cast("species_present", TextField()),
                  call_types_json=Cast("call_types", TextField()))
        .order_by("created_at", "pk")  # oldest first: of two rows equally (in)active, the later one wins
        .values_list("pk", "recording_id", "model_version_id", "species", "present_json", "call_types_json",
                     *fields)
    )  # fmt: skip
    for row in rows:  # pk, recording_id, model_version_id, species, present_json, call_types_json, *fields
        recording_id = row[1]
        active = row[2] == active_id
        if active or recording_id not in best or not best[recording_id][0]:
            present = _json_list(row[4]) or ((row[3],) if row[3] else ())
            best[recording_id] = (active, ShownPrediction(row[0], present, _json_list(row[5]), row[6:]))
    return {recording_id: shown for recording_id, (_active, shown) in best.items()}


def final_labels(
    recording_ids: Iterable[int], *, shown_predictions: Mapping[int, ShownPrediction] | None = None
) -> dict[int, FinalLabel]:
    """Final labels of many recordings at once (three queries per batch of ids). Unknown ids map to a
    label with source "none". A page that has read the shown predictions passes them (by recording id; a
    recording missing there has none) and saves their query and the active model's."""
    return final_labels_with_predictions(recording_ids, shown_predictions=shown_predictions)[0]


def final_labels_with_predictions(
    recording_ids: Iterable[int],
    *,
    prediction_fields: Sequence[str] = (),
    shown_predictions: Mapping[int, ShownPrediction] | None = None,
) -> tuple[dict[int, FinalLabel], dict[int, ShownPrediction]]:
    """Final labels, and the shown prediction of each recording that has one (by recording id) with the
    values of `prediction_fields` (Prediction field names): reports read both in the same three queries."""
    ids = list(dict.fromkeys(int(pk) for pk in recording_ids))
    if not ids:
        return {}, {}
    active_id = None
    if shown_predictions is None:
        active_id = ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True).first()
    result: dict[int, FinalLabel] = {}
    shown: dict[int, ShownPrediction] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        if shown_predictions is not None:
            predictions = {pk: shown_predictions[pk] for pk in chunk if pk in shown_predictions}
        else:
            predictions = _shown_predictions(chunk, active_id, prediction_fields)
        shown.update(predictions)
        open_rounds = dict(
            DoubleReviewItem.objects.filter(id_in(DoubleReviewItem, "recording", chunk),
                                            state__in=OPEN_DOUBLE_REVIEW_STATES)
            .values_list("recording_id", "state")
        )  # fmt: skip
        decisions: dict[int, list[_Decision]] = defaultdict(list)
        rows = (
            LabelDecision.objects.filter(id_in(LabelDecision, "recording", chunk))
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
    return result, shown


def final_label(recording) -> FinalLabel:
    """The final label of one recording (a Recording or its id)."""
    pk = getattr(recording, "pk", recording)
    return final_labels([pk])[pk]
