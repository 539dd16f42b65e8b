"""Expert review (flow step 5): the queue, decisions, double review with settlement, bulk confirmation.

Views, management commands and other apps call these functions; none of them trusts its caller with access
(each checks the reviewer's role in the project again), and none of them changes or deletes a decision:
every decision is a new `LabelDecision`, and the final label is derived from the history
(classifier.final_labels).

The queue is a table of `ReviewQueueEntry` rows, one per analysed recording, written when a prediction is
stored (`review_entry_store`, called from classifier.services._store_result) or, for predictions stored
before that, by `review_queue_sync`. Its priority puts first what an expert's check is most useful for:

- uncertainty: low confidence, a small margin between the top two classes, an answer that fell back to a
  group;
- species that matter for the protocol: the Dutch Red List 2020 species and other rarities of bats.md
  section 3 (`PROTOCOL_SPECIES`), and species rare in the project so far;
- behaviour that protocols count separately: feeding buzzes and social calls;
- reviewers' disagreements go to the managers before anything else, and double-review items go to the
  experts who have not decided on them yet before the ordinary queue.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from classifier.final_labels import (
    AWAITING_SECOND_REVIEW,
    DISAGREEMENT,
    FinalLabel,
    ShownPrediction,
    final_labels,
)
from classifier.models import (
    DecisionKind,
    DoubleReview,
    DoubleReviewItem,
    DoubleReviewState,
    LabelDecision,
    ModelVersion,
    Prediction,
    QueueState,
    ReviewQueueEntry,
    ReviewStatus,
)
from ml import labels
from surveys.models import Project, Recording, Role

# --------------------------------------------------------------------------------------------- priority

# bats.md section 3: Rode Lijst Zoogdieren 2020 (verdwenen, kwetsbaar, gevoelig), Habitats Directive Annex II
# with its own protocol (pond bat), and species that are vagrant or very rare in the Netherlands. A record of
# any of them changes a survey's conclusions, so an expert looks first.
PROTOCOL_SPECIES: Mapping[str, str] = {
    "Rhinolophus hipposideros": "Rode Lijst: verdwenen",
    "Myotis myotis": "Rode Lijst: verdwenen",
    "Eptesicus serotinus": "Rode Lijst: kwetsbaar",
    "Myotis bechsteinii": "Rode Lijst: gevoelig",
    "Nyctalus leisleri": "Rode Lijst: gevoelig",
    "Myotis emarginatus": "Rode Lijst: gevoelig",
    "Vespertilio murinus": "Rode Lijst: gevoelig",
    "Myotis dasycneme": "Habitatrichtlijn bijlage II, eigen protocol",
    "Barbastella barbastellus": "zeer zeldzaam",
    "Rhinolophus ferrumequinum": "zeer zeldzaam",
    "Eptesicus nilssonii": "dwaalgast",
    "Myotis alcathoe": "zeer zeldzaam",
}

# Weights of the priority score (higher is reviewed sooner). Uncertainty is continuous (0..1 each), the
# other reasons are flags; a flagged but confident answer still comes before a confident common one.
W_LOW_CONFIDENCE = 3.0
W_SMALL_MARGIN = 2.0
W_PROTOCOL_SPECIES = 2.5
W_RARE_IN_PROJECT = 1.5
W_GROUP_FALLBACK = 1.0
W_FEEDING_BUZZ = 1.0
W_SOCIAL_CALL = 1.0
# A species is rare in a project while it is the answer of fewer than this share of its recordings (and of
# fewer than RARE_MIN_RECORDINGS of them, so the first nights of a project do not flag everything).
RARE_SHARE = 0.02
RARE_MIN_RECORDINGS = 3
LOW_CONFIDENCE_REASON_BELOW = 0.7
SMALL_MARGIN_REASON_BELOW = 0.3

PRIORITY_REASONS: Mapping[str, str] = {
    "low_confidence": gettext_lazy("low confidence"),
    "small_margin": gettext_lazy("close runner-up"),
    "group_fallback": gettext_lazy("answer fell back to a group"),
    "protocol_species": gettext_lazy("protocol / Red List species"),
    "rare_in_project": gettext_lazy("rare in this project"),
    "feeding_buzz": gettext_lazy("feeding buzz"),
    "social_call": gettext_lazy("social call"),
    "double_review": gettext_lazy("double review"),
    "disagreement": gettext_lazy("reviewers disagree"),
}


@dataclass(frozen=True)
class Priority:
    score: float
    reasons: tuple[str, ...]


def review_priority(prediction: Prediction, *, rare_in_project: bool) -> Priority:
    """How useful an expert's check of this prediction is (pure: no database)."""
    present = list(prediction.species_present or ()) or [prediction.species]
    call_types = set(prediction.call_types or ())
    confidence = min(max(prediction.confidence, 0.0), 1.0)
    margin = min(max(prediction.margin, 0.0), 1.0)
    score = W_LOW_CONFIDENCE * (1.0 - confidence) + W_SMALL_MARGIN * (1.0 - margin)
    reasons = []
    if confidence < LOW_CONFIDENCE_REASON_BELOW:
        reasons.append("low_confidence")
    if margin < SMALL_MARGIN_REASON_BELOW:
        reasons.append("small_margin")
    if any(label in labels.GROUPS for label in present):
        score += W_GROUP_FALLBACK
        reasons.append("group_fallback")
    if any(label in PROTOCOL_SPECIES for label in present):
        score += W_PROTOCOL_SPECIES
        reasons.append("protocol_species")
    if rare_in_project and prediction.species != labels.NOISE:
        score += W_RARE_IN_PROJECT
        reasons.append("rare_in_project")
    if prediction.feeding_buzzes or "feeding_buzz" in call_types:
        score += W_FEEDING_BUZZ
        reasons.append("feeding_buzz")
    if prediction.social_calls or "social_call" in call_types:
        score += W_SOCIAL_CALL
        reasons.append("social_call")
    return Priority(round(score, 6), tuple(reasons))


def is_rare(count: int, total: int) -> bool:
    return count < max(RARE_MIN_RECORDINGS, RARE_SHARE * total)


def _key(values: Iterable[str]) -> str:
    return "|" + "|".join(values) + "|"


def _entry_fields(prediction: Prediction, *, rare_in_project: bool) -> dict[str, object]:
    priority = review_priority(prediction, rare_in_project=rare_in_project)
    present = list(prediction.species_present or ()) or [prediction.species]
    return {
        "prediction": prediction,
        "species": prediction.species,
        "species_key": _key(present)[:1000],
        "call_types_key": _key(prediction.call_types or ())[:200],
        "confidence": prediction.confidence,
        "margin": prediction.margin,
        "priority": priority.score,
        "reasons": list(priority.reasons),
    }


_RANKED_FIELDS = ["prediction", "species", "species_key", "call_types_key", "confidence", "margin", "priority",
                  "reasons"]  # fmt: skip


def _is_shown(prediction: Prediction, current: Prediction | None, active: ModelVersion | None) -> bool:
    """Should the queue use `prediction` rather than `current`? (the active model's first, then the newest)"""
    if current is None or current.pk == prediction.pk:
        return True
    if active is not None and current.model_version_id == active.pk and prediction.model_version_id != active.pk:
        return False
    return True


def review_entry_store(*, prediction: Prediction) -> ReviewQueueEntry | None:
    """Put a just-stored prediction's recording in (or re-rank it within) its project's review queue.

    Called by classifier.services._store_result inside its transaction. A recording that was already
    reviewed keeps its review state; only its rank and the prediction it shows change.
    """
    recording = Recording.objects.select_related("visit").get(pk=prediction.recording_id)
    entry = ReviewQueueEntry.objects.filter(recording=recording).select_related("prediction").first()
    if entry is not None and not _is_shown(prediction, entry.prediction, ModelVersion.objects.active()):
        return entry
    in_project = ReviewQueueEntry.objects.filter(project_id=recording.project_id).exclude(recording=recording)
    rare = is_rare(in_project.filter(species=prediction.species).count(), in_project.count() + 1)
    fields = _entry_fields(prediction, rare_in_project=rare)
    if entry is None:
        return ReviewQueueEntry.objects.create(
            recording=recording, project_id=recording.project_id, site_id=recording.visit.site_id,
            visit_id=recording.visit_id, **fields,
        )  # fmt: skip
    for name, value in fields.items():
        setattr(entry, name, value)
    entry.save()
    return entry


def _shown_prediction_ids(recording_ids: Sequence[int]) -> dict[int, int]:
    active = ModelVersion.objects.active()
    best: dict[int, tuple[tuple, int]] = {}
    rows = Prediction.objects.filter(recording_id__in=recording_ids).values_list(
        "pk", "recording_id", "model_version_id", "created_at"
    )
    for pk, recording_id, model_version_id, created_at in rows:
        key = (active is not None and model_version_id == active.pk, created_at, pk)
        if recording_id not in best or key > best[recording_id][0]:
            best[recording_id] = (key, pk)
    return {recording_id: pk for recording_id, (_key, pk) in best.items()}


def review_queue_sync(*, project: Project, full: bool = True, batch_size: int = 2000) -> int:
    """Add queue entries for analysed recordings that have none (predictions stored without the hook).

    `full=False` (what the queue page does on every visit) looks only at predictions newer than the newest
    one the queue knows, an index range that is empty when the hook is in place; `full=True` checks every
    recording of the project (management command, first visit). Returns how many entries were added.
    """
    if full:
        candidates = Recording.objects.filter(project=project, review_entry__isnull=True, predictions__isnull=False)
        missing = list(candidates.values_list("pk", flat=True).distinct())
    else:
        watermark = ReviewQueueEntry.objects.for_project(project).aggregate(m=Max("prediction_id"))["m"] or 0
        newer = Prediction.objects.filter(pk__gt=watermark, recording__project=project,
                                          recording__review_entry__isnull=True)  # fmt: skip
        missing = list(newer.values_list("recording_id", flat=True).distinct())
    if not missing:
        return 0
    counts = Counter(ReviewQueueEntry.objects.filter(project=project).values_list("species", flat=True))
    added = 0
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        shown = _shown_prediction_ids(chunk)
        predictions = Prediction.objects.in_bulk(list(shown.values()))
        places = {pk: (visit_id, site_id) for pk, visit_id, site_id in
                  Recording.objects.filter(pk__in=chunk).values_list("pk", "visit_id", "visit__site_id")}  # fmt: skip
        total = sum(counts.values()) + len(chunk)
        entries = []
        for recording_id, prediction_id in shown.items():
            prediction = predictions[prediction_id]
            visit_id, site_id = places[recording_id]
            rare = is_rare(counts[prediction.species], total)
            counts[prediction.species] += 1
            entries.append(
                ReviewQueueEntry(recording_id=recording_id, project=project, site_id=site_id, visit_id=visit_id,
                                 **_entry_fields(prediction, rare_in_project=rare))  # fmt: skip
            )
        added += len(ReviewQueueEntry.objects.bulk_create(entries, ignore_conflicts=True))
    return added


def review_queue_refresh(*, project: Project, batch_size: int = 5000) -> int:
    """Re-rank every entry of a project: point each at its shown prediction and recount rarity (which
    changes as nights come in). For a management command or a periodic task; returns the entries ranked.

    One executemany UPDATE per batch: bulk_update's CASE expressions are far slower on 100,000 rows."""
    import json

    from django.db import connection

    review_queue_sync(project=project)
    entries = ReviewQueueEntry.objects.filter(project=project)
    counts = Counter(entries.values_list("species", flat=True))
    total = sum(counts.values())
    ids = list(entries.order_by("pk").values_list("pk", "recording_id"))
    meta = ReviewQueueEntry._meta
    columns = [meta.get_field(name).column for name in _RANKED_FIELDS]
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        connection.ops.quote_name(meta.db_table),
        ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns),
        connection.ops.quote_name(meta.pk.column),
    )
    done = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        shown = _shown_prediction_ids([recording_id for _pk, recording_id in chunk])
        predictions = Prediction.objects.in_bulk(list(shown.values()))
        rows = []
        for pk, recording_id in chunk:
            prediction = predictions.get(shown.get(recording_id, -1))
            if prediction is None:
                continue
            fields = _entry_fields(prediction, rare_in_project=is_rare(counts[prediction.species], total))
            values = [prediction.pk if name == "prediction" else fields[name] for name in _RANKED_FIELDS]
            values[_RANKED_FIELDS.index("reasons")] = json.dumps(fields["reasons"])
            rows.append([*values, pk])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        done += len(rows)
    return done


# --------------------------------------------------------------------------------------------- the queue

_UNKNOWN = object()  # "not passed" for arguments whose None is meaningful
STATUS_FILTERS = ("to_review", "unsure", "reviewed", "double_review", "disagreement")


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters; empty values mean "any". `status` "to_review" is the working queue."""

    site_id: int | None = None
    visit_id: int | None = None
    species: str = ""
    call_type: str = ""
    status: str = "to_review"

    def apply(self, entries: QuerySet[ReviewQueueEntry]) -> QuerySet[ReviewQueueEntry]:
        return (
            entries.at_site(self.site_id).in_visit(self.visit_id).with_species(self.species)
            .with_call_type(self.call_type)
        )  # fmt: skip

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> QueueFilters:
        known = {k: data[k] for k in ("site_id", "visit_id", "species", "call_type", "status") if k in data}
        return cls(**known)  # type: ignore[arg-type]


def _require_reviewer(project: Project, user) -> None:
    if not project.user_has_role(user, Role.EXPERT):
        raise PermissionDenied(_("Only experts and managers of this project review labels."))


def _own_open_blind(user) -> QuerySet:
    """Recordings on which `user` already gave their blind decision in a round still waiting for the other."""
    # Driven from the open items (few, indexed by state), not from the user's decisions (many).
    return DoubleReviewItem.objects.filter(
        state=DoubleReviewState.AWAITING, decisions__reviewer=user, decisions__kind=DecisionKind.BLIND
    ).values("recording_id")


def _sections(
    project: Project, user, filters: QueueFilters, *, is_manager: bool | None = None
) -> list[tuple[str, QuerySet[ReviewQueueEntry]]]:
    base = filters.apply(ReviewQueueEntry.objects.for_project(project))
    if filters.status and filters.status != "to_review":
        section = base.in_state(filters.status)
        if filters.status == QueueState.DOUBLE_REVIEW:
            section = section.exclude(recording_id__in=_own_open_blind(user))
        return [(filters.status, section.by_priority())]
    sections = []
    if is_manager if is_manager is not None else project.user_has_role(user, Role.MANAGER):
        sections.append((QueueState.DISAGREEMENT, base.in_state(QueueState.DISAGREEMENT).by_priority()))
    sections.append((QueueState.DOUBLE_REVIEW, base.in_state(QueueState.DOUBLE_REVIEW)
                     .exclude(recording_id__in=_own_open_blind(user)).by_priority()))  # fmt: skip
    sections.append((QueueState.TO_REVIEW, base.to_review().by_priority()))
    return sections


def queue_sections(
    project: Project, user, filters: QueueFilters, *, is_manager: bool | None = None
) -> list[QuerySet[ReviewQueueEntry]]:
    """The queue as the user works it, in order: disagreements (managers only), double-review items the user
    has not decided yet, then the ordinary queue; each by priority. Other statuses are one plain section."""
    return [section for _state, section in _sections(project, user, filters, is_manager=is_manager)]


def review_next(
    project: Project, user, filters: QueueFilters = QueueFilters(), *, after: ReviewQueueEntry | None = None,
    limit: int = 1, is_manager: bool | None = None,
) -> list[ReviewQueueEntry]:  # fmt: skip
    """The next `limit` entries for the user, starting behind `after` (keyset, no OFFSET) or at the top.

    Passing the item just decided or skipped as `after` walks forward through the queue instead of
    returning to items skipped earlier; at the end it wraps around to the top. `after` is placed by its
    state as loaded: an item just decided (no longer in any section) continues in the ordinary queue.
    """
    sections = [(state, section.select_related("recording__visit__site", "prediction__analysis",
                                                "prediction__model_version"))
                for state, section in _sections(project, user, filters, is_manager=is_manager)]  # fmt: skip
    found: list[ReviewQueueEntry] = []
    start = 0
    if after is not None:
        states = [state for state, _section in sections]
        start = states.index(after.state) if after.state in states else len(sections) - 1
        found.extend(sections[start][1].after(after)[:limit])
        start += 1
    for _state, section in sections[start:]:
        if len(found) >= limit:
            break
        found.extend(section[: limit - len(found)])
    if after is not None and len(found) < limit:  # wrap around
        seen = {e.pk for e in found} | {after.pk}
        for _state, section in sections:
            if len(found) >= limit:
                break
            found.extend(section.exclude(pk__in=seen)[: limit - len(found)])
    return found[:limit]


def review_left(project: Project, user, filters: QueueFilters = QueueFilters(), *,
                is_manager: bool | None = None) -> int:  # fmt: skip
    """How many items the user still has in this (filtered) queue."""
    return sum(section.count() for section in queue_sections(project, user, filters, is_manager=is_manager))


def review_previous(project: Project, user, *, before_recording_id: int | None,
                    own: LabelDecision | None | object = _UNKNOWN) -> LabelDecision | None:  # fmt: skip
    """The user's decision before the one on `before_recording_id` (or their latest one): "previous".

    `own`: the user's latest decision on that recording when the caller already has it (None: has none)."""
    decisions = LabelDecision.objects.by(user).for_project(project).newest_first()
    if before_recording_id is not None:
        if own is _UNKNOWN:
            own = decisions.filter(recording_id=before_recording_id).first()
        decisions = decisions.exclude(recording_id=before_recording_id)
        if own is not None:
            decisions = decisions.filter(decided_at__lte=own.decided_at).exclude(
                decided_at=own.decided_at, pk__gt=own.pk
            )
    return decisions.only("pk", "recording_id", "decided_at").first()


# --------------------------------------------------------------------------------------------- decisions


class ReviewError(ValueError):
    """A decision that cannot be recorded as given; the message is for the reviewer."""


def clean_species(values: Iterable[str]) -> tuple[str, ...]:
    """Vocabulary ids for what a reviewer typed or picked (names, codes, pairs, groups), in order, once each."""
    cleaned: list[str] = []
    for value in values:
        for part in str(value).replace(";", ",").split(","):
            if not part.strip():
                continue
            label = labels.canonical(part)
            if label is None or not labels.is_european(label):
                raise ReviewError(_("“%(name)s” is not a species, pair or group we know.") % {"name": part.strip()})
            if label not in cleaned:
                cleaned.append(label)
    if labels.NOISE in cleaned and len(cleaned) > 1:
        raise ReviewError(_("“No bat” cannot be combined with bat species."))
    return tuple(cleaned)


def clean_call_types(values: Iterable[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        if value not in labels.CALL_TYPES:
            raise ReviewError(_("“%(name)s” is not a call type.") % {"name": value})
        if value not in cleaned:
            cleaned.append(value)
    return tuple(cleaned)


def _agree(a: LabelDecision, b: LabelDecision) -> bool:
    """Two blind decisions agree when both give a label and it is the same (species and call types as sets)."""
    if not (a.gives_label and b.gives_label):
        return False
    label_a = ({labels.NOISE}, {"none"}) if a.status == ReviewStatus.NO_BAT else (set(a.species_present), set(a.call_types))
    label_b = ({labels.NOISE}, {"none"}) if b.status == ReviewStatus.NO_BAT else (set(b.species_present), set(b.call_types))
    return label_a == label_b


def _decision_label(status: str, species: tuple[str, ...], call_types: tuple[str, ...],
                    current: FinalLabel) -> tuple[tuple[str, ...], tuple[str, ...]]:  # fmt: skip
    if status == ReviewStatus.NO_BAT:
        return (labels.NOISE,), ("none",)
    if status == ReviewStatus.CONFIRMED:
        # What the reviewer saw and confirmed; without it, the label in force when the decision is written.
        species = species or current.species_present
        call_types = call_types or current.call_types
        if not species:
            raise ReviewError(_("There is no label to confirm; correct it instead."))
        return species, call_types
    if status == ReviewStatus.CORRECTED:
        if not species:
            raise ReviewError(_("Name at least one species, pair or group (or choose “no bat”)."))
        if species == (labels.NOISE,):
            return species, ("none",)
        return species, call_types or ("echolocation",)
    return species, call_types  # unsure: a tentative note of what the reviewer heard, not a label


def decision_record(
    *, recording: Recording, reviewer, status: str, species_present: Iterable[str] = (),
    call_types: Iterable[str] = (), note: str = "", bulk: bool = False, bulk_batch: uuid.UUID | None = None,
) -> LabelDecision:  # fmt: skip
    """Append one decision and move the recording through the queue and any double-review round.

    Runs in one transaction that first locks the recording and its open double-review item (SQLite serialises
    writers anyway), so two reviewers deciding at once both keep their decisions and the round's state
    follows from all of them. The label it replaces is read inside the same transaction.
    """
    if status not in ReviewStatus.values:
        raise ReviewError(_("Unknown decision “%(status)s”.") % {"status": status})
    project = recording.project
    _require_reviewer(project, reviewer)
    species = clean_species(species_present)
    types = clean_call_types(call_types)
    with transaction.atomic():
        # Lock the recording first: on PostgreSQL two reviewers' transactions would otherwise both read the
        # same "current" label; with the lock the later one sees and records the earlier decision.
        Recording.objects.select_for_update().filter(pk=recording.pk).values_list("pk", flat=True).first()
        item = (
            DoubleReviewItem.objects.select_for_update()
            .filter(recording=recording, state__in=[DoubleReviewState.AWAITING, DoubleReviewState.DISAGREEMENT])
            .first()
        )
        kind = DecisionKind.SINGLE
        blinds: list[LabelDecision] = []
        if item is not None:
            blinds = list(item.decisions.filter(kind=DecisionKind.BLIND).order_by("decided_at", "pk"))
            if item.state == DoubleReviewState.AWAITING:
                if any(d.reviewer_id == reviewer.pk for d in blinds):
                    raise ReviewError(_("You already decided on this recording in its double review; the second "
                                        "reviewer decides independently."))  # fmt: skip
                kind = DecisionKind.BLIND
            else:
                if not project.user_has_role(reviewer, Role.MANAGER):
                    raise PermissionDenied(_("The reviewers disagree on this recording: a manager settles it."))
                if status == ReviewStatus.UNSURE:
                    raise ReviewError(_("A settlement gives the label: confirm, correct or choose “no bat”."))
                kind = DecisionKind.SETTLEMENT
            if bulk:
                raise ReviewError(_("Recordings in double review cannot be confirmed in bulk."))
        current = final_labels([recording.pk])[recording.pk]
        species, types = _decision_label(status, species, types, current)
        entry = ReviewQueueEntry.objects.filter(recording=recording).only("pk", "prediction_id").first()
        decision = LabelDecision.objects.create(
            recording=recording, reviewer=reviewer, prediction_id=entry.prediction_id if entry else current.prediction_id,
            status=status, species_present=list(species), call_types=list(types), note=note.strip(),
            kind=kind, double_review_item=item, bulk=bulk, bulk_batch=bulk_batch,
            replaced_source=current.source, replaced_status=current.review_status,
            replaced_species=list(current.species_present), replaced_call_types=list(current.call_types),
            replaced_decision_id=current.decision_id,
        )  # fmt: skip
        next_state = QueueState.UNSURE if status == ReviewStatus.UNSURE else QueueState.REVIEWED
        if kind == DecisionKind.BLIND:
            blinds.append(decision)
            if len(blinds) < 2:
                next_state = QueueState.DOUBLE_REVIEW
            elif _agree(blinds[0], blinds[1]):
                item.close(DoubleReviewState.AGREED)
                next_state = QueueState.REVIEWED
            else:
                item.close(DoubleReviewState.DISAGREEMENT)
                next_state = QueueState.DISAGREEMENT
        elif kind == DecisionKind.SETTLEMENT:
            item.close(DoubleReviewState.SETTLED)
        if entry is not None:
            entry.move_to(next_state)
    return decision


def disagreement_settle(
    *, item: DoubleReviewItem, manager, status: str, species_present: Iterable[str] = (),
    call_types: Iterable[str] = (), note: str = "",
) -> LabelDecision:  # fmt: skip
    """A manager's decision on a double-review item whose reviewers disagreed; it sets the final label."""
    if item.state != DoubleReviewState.DISAGREEMENT:
        raise ReviewError(_("This recording's reviewers do not disagree (any more)."))
    return decision_record(recording=item.recording, reviewer=manager, status=status,
                           species_present=species_present, call_types=call_types, note=note)  # fmt: skip


def decision_history(recording: Recording, user, *, is_manager: bool | None = None) -> list[LabelDecision]:
    """The decisions on a recording that `user` may see now: all of them, except other reviewers' decisions
    in a round that is still waiting for its second decision (independent review). Managers see a
    disagreement's decisions, since they settle it."""
    decisions = recording.label_decisions.select_related("reviewer", "double_review_item").order_by("decided_at", "pk")
    hidden_states = {DoubleReviewState.AWAITING}
    if not (is_manager if is_manager is not None else recording.project.user_has_role(user, Role.MANAGER)):
        hidden_states.add(DoubleReviewState.DISAGREEMENT)
    return [
        d for d in decisions
        if not (d.kind == DecisionKind.BLIND and d.reviewer_id != user.pk and d.double_review_item.state in hidden_states)
    ]


# --------------------------------------------------------------------------------------------- double review


def double_review_request(
    *, project: Project, requested_by, filters: QueueFilters, size: int, seed: int | None = None, note: str = "",
) -> DoubleReview:  # fmt: skip
    """A manager asks for independent double review of a random sample of `size` recordings matching
    `filters` (status "to_review" by default; "reviewed" re-checks labels already given). Recordings already
    in an open round are left out."""
    if not project.user_has_role(requested_by, Role.MANAGER):
        raise PermissionDenied(_("Only managers ask for double review."))
    if size < 1:
        raise ReviewError(_("The sample needs at least one recording."))
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    states = [filters.status] if filters.status in (QueueState.TO_REVIEW, QueueState.REVIEWED, QueueState.UNSURE) \
        else [QueueState.TO_REVIEW, QueueState.REVIEWED, QueueState.UNSURE]  # fmt: skip
    with transaction.atomic():
        candidates = list(
            filters.apply(ReviewQueueEntry.objects.for_project(project)).filter(state__in=states)
            .order_by("pk").values_list("pk", "recording_id")
        )  # fmt: skip
        if not candidates:
            raise ReviewError(_("No recording matches these filters."))
        chosen = random.Random(seed).sample(candidates, min(size, len(candidates)))
        request = DoubleReview.objects.create(
            project=project, requested_by=requested_by, filters=filters.as_dict(), size=size, seed=seed, note=note
        )
        DoubleReviewItem.objects.bulk_create(
            DoubleReviewItem(double_review=request, recording_id=recording_id) for _entry, recording_id in chosen
        )
        ReviewQueueEntry.objects.filter(pk__in=[pk for pk, _recording in chosen]).update(
            state=QueueState.DOUBLE_REVIEW, updated_at=timezone.now()
        )
    return request


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' categorical labels; None when it is undefined (no pairs, or both raters
    used one and the same category throughout, so chance agreement is 1)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _b in pairs)
    second = Counter(b for _a, b in pairs)
    expected = sum(first[k] * second[k] for k in first.keys() | second.keys()) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class SpeciesAgreement:
    species: str
    either: int  # pairs where at least one reviewer named the species
    both: int  # pairs where both did
    kappa: float | None  # presence/absence kappa over all pairs

    @property
    def agreement(self) -> float | None:
        return self.both / self.either if self.either else None


@dataclass(frozen=True)
class AgreementReport:
    pairs: int  # double-review items with both decisions in
    agreed: int  # of which the two decisions agreed
    kappa: float | None  # on the dominant label (no bat as "noise", unsure as "unsure")
    per_species: tuple[SpeciesAgreement, ...] = field(default_factory=tuple)
    awaiting: int = 0
    disagreements_open: int = 0

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.pairs if self.pairs else None


def _rating(decision: LabelDecision) -> tuple[str, frozenset[str]]:
    if decision.status == ReviewStatus.UNSURE:
        return "unsure", frozenset()
    if decision.status == ReviewStatus.NO_BAT:
        return labels.NOISE, frozenset({labels.NOISE})
    present = decision.species_present or [""]
    return present[0], frozenset(decision.species_present)


def double_review_agreement(*, project: Project) -> AgreementReport:
    """How often independent reviewers agree in this project: overall, Cohen's kappa on the dominant label,
    and per species (share of pairs naming it where both did, and a presence/absence kappa).

    Raters differ between items, so kappa treats "first" and "second" decision of each item as two raters,
    the usual approximation for rotating pairs."""
    items = DoubleReviewItem.objects.filter(double_review__project=project)
    states = Counter(items.values_list("state", flat=True))
    decided = items.exclude(state=DoubleReviewState.AWAITING)
    by_item: dict[int, list[LabelDecision]] = defaultdict(list)
    for d in LabelDecision.objects.filter(double_review_item__in=decided, kind=DecisionKind.BLIND).order_by("decided_at", "pk"):
        by_item[d.double_review_item_id].append(d)
    ratings = [(_rating(ds[0]), _rating(ds[1])) for ds in by_item.values() if len(ds) >= 2]
    agreed = sum(1 for ds in by_item.values() if len(ds) >= 2 and _agree(ds[0], ds[1]))
    kappa = cohen_kappa([(a[0], b[0]) for a, b in ratings])
    species = sorted({s for a, b in ratings for s in a[1] | b[1]}, key=lambda s: (s == labels.NOISE, s))
    per_species = []
    for s in species:
        presence = [("yes" if s in a[1] else "no", "yes" if s in b[1] else "no") for a, b in ratings]
        per_species.append(
            SpeciesAgreement(
                species=s,
                either=sum(1 for a, b in presence if "yes" in (a, b)),
                both=sum(1 for a, b in presence if a == b == "yes"),
                kappa=cohen_kappa(presence),
            )
        )
    return AgreementReport(
        pairs=len(ratings), agreed=agreed, kappa=kappa, per_species=tuple(per_species),
        awaiting=states.get(DoubleReviewState.AWAITING, 0), disagreements_open=states.get(DoubleReviewState.DISAGREEMENT, 0),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- bulk confirm

BULK_SAMPLE_SIZE = 12
BULK_TOKEN_MAX_AGE_S = 4 * 3600
_BULK_SALT = "classifier.review.bulk"


@dataclass(frozen=True)
class BulkSample:
    """A filtered set shown as a random sample before it can be confirmed; `token` carries the set."""

    count: int
    sample: tuple[ReviewQueueEntry, ...]
    token: str
    min_confidence: float


def _bulk_set(project: Project, filters: QueueFilters, min_confidence: float) -> QuerySet[ReviewQueueEntry]:
    return filters.apply(ReviewQueueEntry.objects.for_project(project)).to_review().min_confidence(min_confidence)


def bulk_confirm_sample(
    *, project: Project, reviewer, filters: QueueFilters, min_confidence: float, sample_size: int = BULK_SAMPLE_SIZE,
    seed: int | None = None,
) -> BulkSample:  # fmt: skip
    """Draw the random sample an expert checks before confirming the whole set (items still to review only)."""
    _require_reviewer(project, reviewer)
    rows = list(_bulk_set(project, filters, min_confidence).order_by("pk").values_list("pk", flat=True))
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    sample_ids = sorted(rng.sample(rows, min(sample_size, len(rows))))
    sample = tuple(ReviewQueueEntry.objects.filter(pk__in=sample_ids).select_related("recording", "prediction").order_by("pk"))
    token = signing.dumps(
        {"project": project.pk, "user": reviewer.pk, "filters": filters.as_dict(), "min_confidence": min_confidence,
         "max_entry": rows[-1] if rows else 0, "count": len(rows), "sample": sample_ids},
        salt=_BULK_SALT,
    )  # fmt: skip
    return BulkSample(count=len(rows), sample=sample, token=token, min_confidence=min_confidence)


@dataclass(frozen=True)
class BulkResult:
    batch: uuid.UUID
    confirmed: int
    filters: QueueFilters
    min_confidence: float


def bulk_confirm(*, project: Project, reviewer, token: str, note: str = "") -> BulkResult:
    """Confirm every recording of a set whose sample the reviewer was shown (the signed `token`).

    Only recordings that were in the set when the sample was drawn and are still waiting for review are
    confirmed: what arrived later was not represented by the sample, and what someone decided meanwhile
    keeps that decision. Each confirmation is a LabelDecision marked bulk, sharing one batch id.
    """
    _require_reviewer(project, reviewer)
    try:
        data = signing.loads(token, salt=_BULK_SALT, max_age=BULK_TOKEN_MAX_AGE_S)
    except signing.SignatureExpired:
        raise ReviewError(_("The sample is too old; look at a fresh sample first.")) from None
    except signing.BadSignature:
        raise ReviewError(_("Look at a sample of the set before confirming it.")) from None
    if data.get("project") != project.pk or data.get("user") != reviewer.pk:
        raise ReviewError(_("Look at a sample of the set before confirming it."))
    filters = QueueFilters.from_dict(data["filters"])
    min_confidence = float(data["min_confidence"])
    batch = uuid.uuid4()
    note = note.strip() or _("Bulk confirmation after checking a sample of %(n)d.") % {"n": len(data["sample"])}
    now = timezone.now()
    with transaction.atomic():
        entries = list(
            _bulk_set(project, filters, min_confidence).filter(pk__lte=data["max_entry"])
            .exclude(recording__double_review_items__state__in=[DoubleReviewState.AWAITING,
                                                                 DoubleReviewState.DISAGREEMENT])
            .values_list("pk", "recording_id", "prediction_id")
        )  # fmt: skip
        current = final_labels([recording_id for _entry, recording_id, _prediction in entries])
        decisions = []
        for _entry, recording_id, prediction_id in entries:
            label = current[recording_id]
            if not label.species_present:
                continue
            decisions.append(
                LabelDecision(
                    recording_id=recording_id, reviewer=reviewer, prediction_id=prediction_id,
                    status=ReviewStatus.CONFIRMED, species_present=list(label.species_present),
                    call_types=list(label.call_types), note=note, decided_at=now, bulk=True, bulk_batch=batch,
                    replaced_source=label.source, replaced_status=label.review_status,
                    replaced_species=list(label.species_present), replaced_call_types=list(label.call_types),
                    replaced_decision_id=label.decision_id,
                )
            )  # fmt: skip
        LabelDecision.objects.bulk_create(decisions, batch_size=1000)
        confirmed = {d.recording_id for d in decisions}
        ReviewQueueEntry.objects.filter(recording_id__in=confirmed).update(state=QueueState.REVIEWED, updated_at=now)
    return BulkResult(batch=batch, confirmed=len(decisions), filters=filters, min_confidence=min_confidence)


# --------------------------------------------------------------------------------------------- recording lists


@dataclass(frozen=True)
class ReviewCell:
    """What a recordings table shows in its review column: the user's own latest decision and the final label."""

    final: FinalLabel
    own: LabelDecision | None


def review_cells(
    recording_ids: Iterable[int], user, *, shown_predictions: Mapping[int, ShownPrediction] | None = None
) -> dict[int, ReviewCell]:
    """Review columns for a page of recordings: final labels (batched) plus one query for the user's own.
    `shown_predictions`: see `final_labels`."""
    ids = list(recording_ids)
    finals = final_labels(ids, shown_predictions=shown_predictions)
    own: dict[int, LabelDecision] = {}
    if getattr(user, "is_authenticated", False):
        for decision in LabelDecision.objects.filter(recording_id__in=ids, reviewer=user).order_by("decided_at", "pk"):
            own[decision.recording_id] = decision
    return {pk: ReviewCell(final=finals[pk], own=own.get(pk)) for pk in ids}


# --------------------------------------------------------------------------------------------- the review screen

SCREEN_CALLS_SHOWN = 60
SCREEN_ALTERNATIVES = 5
MODE_SINGLE = "single"  # an ordinary review
MODE_BLIND = "blind"  # the user's independent decision in a double review: other people's labels hidden
MODE_WAITING = "waiting"  # the user decided in a double review; the second reviewer has not yet
MODE_SETTLE = "settle"  # a manager settles the reviewers' disagreement
MODE_LOCKED = "locked"  # the reviewers disagree and the user is not a manager


@dataclass(frozen=True)
class ReviewScreen:
    """Everything the review screen shows for one recording (or for an empty queue: recording None)."""

    recording: Recording | None
    entry: ReviewQueueEntry | None
    prediction: Prediction | None
    calls: tuple = ()
    n_calls: int = 0
    alternatives: tuple[tuple[str, float], ...] = ()
    final: FinalLabel | None = None
    history: tuple[LabelDecision, ...] = ()
    own: LabelDecision | None = None
    mode: str = MODE_SINGLE
    left: int = 0
    following: ReviewQueueEntry | None = None
    previous: LabelDecision | None = None
    picked_species: tuple[str, ...] = ()  # the picker starts from the label in force (blind: the prediction)
    picked_call_types: tuple[str, ...] = ()
    is_manager: bool = False

    @property
    def can_decide(self) -> bool:
        return self.mode in (MODE_SINGLE, MODE_BLIND, MODE_SETTLE)

    @property
    def shows_other_labels(self) -> bool:
        return self.mode != MODE_BLIND

    @property
    def analysis(self):
        return self.prediction.analysis if self.prediction is not None else None

    @property
    def reasons(self) -> list[str]:
        return [str(PRIORITY_REASONS.get(code, code)) for code in (self.entry.reasons if self.entry else ())]


def review_screen(
    project: Project, user, recording: Recording | None, filters: QueueFilters, *, entry=_UNKNOWN,
    following=_UNKNOWN, is_manager: bool | None = None,
) -> ReviewScreen:  # fmt: skip
    """The review screen's content: under twenty indexed queries whatever the size of the project.

    A caller that just walked the queue passes what it read: `entry` (this recording's queue entry, from
    `review_next`, with its prediction) and `following` (the entry after it), which saves queries."""
    if is_manager is None:
        is_manager = project.user_has_role(user, Role.MANAGER)
    left = review_left(project, user, filters, is_manager=is_manager)
    if recording is None:
        return ReviewScreen(recording=None, entry=None, prediction=None, left=left, is_manager=is_manager,
                            previous=review_previous(project, user, before_recording_id=None))  # fmt: skip
    if entry is _UNKNOWN:
        entry = ReviewQueueEntry.objects.filter(recording=recording).first()
    final = final_labels([recording.pk])[recording.pk]
    prediction = None
    if entry is not None and final.prediction_id == entry.prediction_id and "prediction" in entry._state.fields_cache:
        prediction = entry.prediction  # read with the entry by review_next (analysis and model version too)
    elif final.prediction_id is not None:
        prediction = Prediction.objects.select_related("analysis", "model_version").get(pk=final.prediction_id)
    calls: tuple = ()
    n_calls = 0
    if prediction is not None:
        all_calls = prediction.analysis.calls.order_by("start_s")
        calls = tuple(all_calls[:SCREEN_CALLS_SHOWN])
        n_calls = prediction.n_calls
    item = None
    if final.review_status in (AWAITING_SECOND_REVIEW, DISAGREEMENT):  # only then is a round open
        item = DoubleReviewItem.objects.filter(
            recording=recording, state__in=[DoubleReviewState.AWAITING, DoubleReviewState.DISAGREEMENT]
        ).first()
    history = tuple(decision_history(recording, user, is_manager=is_manager))
    own = next((d for d in reversed(history) if d.reviewer_id == user.pk), None)
    mode = MODE_SINGLE
    if item is not None and item.state == DoubleReviewState.AWAITING:
        decided = any(d.reviewer_id == user.pk and d.double_review_item_id == item.pk for d in history)
        mode = MODE_WAITING if decided else MODE_BLIND
    elif item is not None:
        mode = MODE_SETTLE if is_manager else MODE_LOCKED
    if mode == MODE_BLIND:
        history = tuple(d for d in history if d.reviewer_id == user.pk)
        picked = (tuple(prediction.species_present or (prediction.species,)), tuple(prediction.call_types)) \
            if prediction else ((), ())  # fmt: skip
    else:
        picked = (final.species_present, final.call_types)
    if following is _UNKNOWN:
        candidates = review_next(project, user, filters, after=entry, limit=2, is_manager=is_manager) if entry \
            else review_next(project, user, filters, limit=2, is_manager=is_manager)  # fmt: skip
        following = next((e for e in candidates if e.recording_id != recording.pk), None)
    return ReviewScreen(
        recording=recording, entry=entry, prediction=prediction, calls=calls, n_calls=n_calls,
        alternatives=tuple((str(label), float(p)) for label, p in (prediction.top if prediction else [])[:SCREEN_ALTERNATIVES]),
        final=final, history=history, own=own, mode=mode, left=left, following=following,
        previous=review_previous(project, user, before_recording_id=recording.pk, own=own),
        picked_species=picked[0], picked_call_types=picked[1], is_manager=is_manager,
    )  # fmt: skip


@dataclass(frozen=True)
class VocabularyOption:
    id: str
    name: str  # in the page's language
    other_name: str
    code: str

    @property
    def label(self) -> str:
        return " · ".join(p for p in (self.name, self.other_name, self.code) if p)


def picker_vocabulary() -> tuple[VocabularyOption, ...]:
    """The species picker's choices: every Dutch species, the acoustic pairs, the groups and "no bat"."""
    from django.utils.translation import get_language

    return _picker_vocabulary("nl" if (get_language() or "en").startswith("nl") else "en")


@functools.lru_cache(maxsize=4)
def _picker_vocabulary(language: str) -> tuple[VocabularyOption, ...]:
    other = "en" if language == "nl" else "nl"
    ids = [*labels.SPECIES, *labels.PAIRS, *labels.GROUPS, labels.NOISE]
    return tuple(
        VocabularyOption(
            id=label, name=labels.display_name(label, language), other_name=labels.display_name(label, other),
            code=labels.SPECIES[label].code if label in labels.SPECIES else "",
        )
        for label in ids
    )  # fmt: skip


@dataclass(frozen=True)
class DoubleReviewProgress:
    request: DoubleReview
    items: int
    awaiting: int
    agreed: int
    disagreement: int
    settled: int


def double_review_progress(*, project: Project) -> list[DoubleReviewProgress]:
    from django.db.models import Count, Q

    requests = project.double_reviews.select_related("requested_by").annotate(
        n_items=Count("items"),
        **{f"n_{state}": Count("items", filter=Q(items__state=state)) for state in DoubleReviewState.values},
    )
    return [
        DoubleReviewProgress(request=r, items=r.n_items, awaiting=r.n_awaiting, agreed=r.n_agreed,
                             disagreement=r.n_disagreement, settled=r.n_settled)  # fmt: skip
        for r in requests
    ]
