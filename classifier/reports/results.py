"""Per recording: the automatic answer, the final label and the passes of each species, in chunks.

Place in the flow: step 6. Both CSVs and the nightly summary read recordings through `recording_results`,
which walks a queryset with `iterator(chunk_size)` and asks for predictions, calls and final labels once per
chunk (a few queries per chunk, never per recording), so memory stays flat however many recordings there are.

Final labels come from `classifier.final_labels` (docs/final-labels.md); the automatic answer is the
prediction the final label names (`FinalLabel.prediction_id`: the active model's, else the newest one).

Passes per species (ARCHITECTURE.md, Labels): the calls of the prediction's analysis that share a
`pass_index` form one pass. Its species is the one most of its echolocation calls carry (the earliest call
breaks ties), and its feeding buzzes and social calls count for it whatever their own per-call answer. A pass
counts for a species of the final label when that species is the pass's species, its group, or, when the pass
is named by a group (or an acoustic pair, or `Chiroptera sp.`), the one final species inside it: an expert who
narrows "Pipistrellus sp." to "Pipistrellus pygmaeus" keeps the passes. Passes of a species the expert
removed are dropped; a species the expert added that no pass supports counts as one pass at the start of
the file. A buzz or social call outside any pass counts for its own species only. Where pass times are not
needed (the recordings CSV), an unreviewed answer with one species takes its prediction's totals instead of
reading its calls: every pass of such an analysis is that species' (a test checks the two ways agree).

Speed (docs/benchmarks.md): the shown prediction's numbers come from the final-label query itself
(`final_labels_with_predictions`), and the per-recording records are named tuples, which cost a quarter of
a frozen dataclass to build; a 100,000-row report builds half a million of them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from django.db.models import Q, QuerySet

from classifier.final_labels import FinalLabel, ShownPrediction, final_labels_with_predictions, id_in
from classifier.models import CallDetection, ModelVersion
from classifier.reports.filters import ReportFilters
from ml import labels
from surveys.models import NIGHT_BOUNDARY, Recording, Site

CHUNK_SIZE = 2000  # recordings per round of queries; SQLite allows far more `IN (...)` parameters
ECHOLOCATION = "echolocation"
FEEDING_BUZZ = "feeding_buzz"
SOCIAL_CALL = "social_call"


class Call(NamedTuple):
    """One detected call, as the report needs it (a tuple: hundreds of thousands are read per report)."""

    pass_index: int
    species: str
    call_type: str
    start_s: float


class RecordingRow(NamedTuple):
    """The columns of a recording the reports read (values, not a model instance: far cheaper per row)."""

    id: int
    site: Site  # shared by every row of the site, with its project loaded
    visit_id: int
    visit_night: dt.date
    recorded_at: dt.datetime | None  # UTC
    original_name: str
    duration_s: float | None
    sample_rate_hz: int | None
    time_expansion: float | None
    sha256: str


class PredictionRow(NamedTuple):
    """The automatic answer: the prediction the final label was compared against."""

    id: int
    analysis_id: int
    species_present: tuple[str, ...]  # dominant first
    call_types: tuple[str, ...]  # main first
    confidence: float
    model_version: str  # its name
    n_passes: int  # the analysis's passes, buzzes and social calls, of all its species together
    feeding_buzzes: int
    social_calls: int

    def species_results(self) -> tuple[SpeciesResult, ...]:
        """Species rows without reading calls, for an unreviewed answer naming one species (nearly every
        recording): then every pass, buzz and social call of the analysis is that species'. No pass times."""
        (species,) = self.species_present
        if species == labels.NOISE:
            return (SpeciesResult(species, True, False, True, 0, (), 0, 0, 0),)
        # species, auto, reviewed, final, passes, pass_starts_s, feeding_buzzes, social_calls, auto_passes
        return (SpeciesResult(species, True, False, True, self.n_passes, (), self.feeding_buzzes, self.social_calls,
                              self.n_passes),)  # fmt: skip


class SpeciesResult(NamedTuple):
    """One species of one recording: where it came from, and its passes under the final label."""

    species: str
    auto: bool  # in the automatic answer's species list
    reviewed: bool  # in the deciding reviewer's species list
    final: bool  # in the final label
    passes: int  # passes counted for it under the final label
    pass_starts_s: tuple[float, ...]  # start of each of them, seconds into the file (empty: times not read)
    feeding_buzzes: int
    social_calls: int
    auto_passes: int  # passes the automatic answer alone gives it


class RecordingResult(NamedTuple):
    recording: RecordingRow
    prediction: PredictionRow | None
    label: FinalLabel
    species: tuple[
        SpeciesResult, ...
    ]  # final species first (dominant first), then automatic-only, then reviewed-only
    local_time: dt.datetime | None  # recorded_at in the site's zone
    night: dt.date  # noon-to-noon survey night


def survey_night(local_time: dt.datetime | None, fallback: dt.date) -> dt.date:
    """The night a site-local moment belongs to: before noon it is the night that began the day before."""
    if local_time is None:
        return fallback
    if local_time.time() >= NIGHT_BOUNDARY:
        return local_time.date()
    return local_time.date() - dt.timedelta(days=1)


# --------------------------------------------------------------------------------------- pass attribution


def _pass_species(calls: Sequence[Call]) -> str:
    first = calls[0].species
    if all(c.species == first for c in calls):  # the usual case, and cheap: reports read every pass
        return first
    voting = [c for c in calls if c.call_type == ECHOLOCATION] or list(calls)
    counts = Counter(c.species for c in voting)
    best = max(counts.values())
    return next(c.species for c in sorted(voting, key=lambda c: c.start_s) if counts[c.species] == best)


def attribute(species: str, present: Sequence[str]) -> str | None:
    """The species of `present` that a pass named `species` counts for, or None (see module docstring)."""
    if species in present:
        return species
    group = labels.group_of(species)
    if group in present:
        return group
    inside = [
        s for s in present
        if s != labels.NOISE and (labels.group_of(s) == species or labels.pair_of(s) == species or species == labels.BAT)
    ]  # fmt: skip
    return inside[0] if len(inside) == 1 else None


def species_results(
    calls: Iterable[Call], *, auto: Sequence[str], label: FinalLabel
) -> tuple[SpeciesResult, ...]:
    """Species rows of one recording from its calls, the automatic species list and the final label."""
    final = tuple(label.species_present)
    auto = tuple(auto)
    by_pass: dict[int, list[Call]] = {}
    loose: list[Call] = []
    for call in calls:
        if call.pass_index >= 0:
            by_pass.setdefault(call.pass_index, []).append(call)
        elif call.call_type in (FEEDING_BUZZ, SOCIAL_CALL):
            loose.append(call)

    starts: dict[str, list[float]] = {}
    buzzes: dict[str, int] = {}
    social: dict[str, int] = {}
    auto_passes: dict[str, int] = {}
    for members in by_pass.values():
        name = _pass_species(members)
        final_name = attribute(name, final)
        auto_name = final_name if auto == final else attribute(name, auto)  # unreviewed: the same answer
        if auto_name is not None:
            auto_passes[auto_name] = auto_passes.get(auto_name, 0) + 1
        if final_name is None:
            continue
        starts.setdefault(final_name, []).append(min(c.start_s for c in members))
        for call in members:
            if call.call_type == FEEDING_BUZZ:
                buzzes[final_name] = buzzes.get(final_name, 0) + 1
            elif call.call_type == SOCIAL_CALL:
                social[final_name] = social.get(final_name, 0) + 1
    for call in loose:
        final_name = attribute(call.species, final)
        if final_name is not None:
            counter = buzzes if call.call_type == FEEDING_BUZZ else social
            counter[final_name] = counter.get(final_name, 0) + 1
    for added in label.added_species:
        if added != labels.NOISE and added in final and added not in starts:
            starts[added] = [0.0]

    reviewed = label.reviewed_species
    order = dict.fromkeys((*final, *auto, *reviewed))
    return tuple(
        SpeciesResult(
            species=name,
            auto=name in auto,
            reviewed=name in reviewed,
            final=name in final,
            passes=len(starts.get(name, ())),
            pass_starts_s=tuple(sorted(starts.get(name, ()))),
            feeding_buzzes=buzzes.get(name, 0),
            social_calls=social.get(name, 0),
            auto_passes=auto_passes.get(name, 0),
        )
        for name in order
    )


# --------------------------------------------------------------------------------------- chunked reading


_RECORDING_FIELDS = ("pk", "visit__site_id", "visit_id", "visit__night", "recorded_at", "original_name",
                     "duration_s", "sample_rate_hz", "time_expansion", "sha256")  # fmt: skip
# Read with the final labels, in ShownPrediction.values; call_type is the fallback of an empty call_types.
_PREDICTION_FIELDS = ("analysis_id", "confidence", "model_version_id", "n_passes", "feeding_buzzes",
                      "social_calls", "call_type")  # fmt: skip


def _prediction_row(label: FinalLabel, shown: ShownPrediction, model_names: dict[int, str]) -> PredictionRow:
    """The automatic answer from the shown prediction. Its lists are the label's own while no expert decided
    (final_labels took them from the prediction); otherwise the prediction's, an empty call_types falling
    back to its call_type."""
    analysis_id, confidence, model_version_id, n_passes, buzzes, social, call_type = shown.values
    if label.source == "prediction":
        species_present, call_types = label.species_present, label.call_types
    else:
        species_present = shown.species_present
        call_types = shown.call_types or ((call_type,) if call_type else ())
    return PredictionRow(shown.pk, analysis_id, species_present, call_types, confidence,
                         model_names.get(model_version_id, ""), n_passes, buzzes, social)  # fmt: skip


def _calls(analysis_ids: list[int]) -> dict[int, list[Call]]:
    calls: dict[int, list[Call]] = defaultdict(list)
    if not analysis_ids:
        return calls
    rows = (
        CallDetection.objects.filter(id_in(CallDetection, "analysis", analysis_ids))
        .filter(Q(pass_index__gte=0) | Q(call_type__in=(FEEDING_BUZZ, SOCIAL_CALL)))
        .order_by()
        .values_list("analysis_id", "pass_index", "species", "call_type", "start_s")
    )
    for analysis_id, *call in rows:
        calls[analysis_id].append(Call(*call))
    return calls


def _chunks(items: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _needs_calls(label: FinalLabel, prediction: PredictionRow | None, pass_times: bool) -> bool:
    if prediction is None:
        return False
    return pass_times or label.source != "prediction" or len(prediction.species_present) != 1


def recording_results(
    recordings: QuerySet[Recording],
    *,
    filters: ReportFilters | None = None,
    pass_times: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[RecordingResult]:
    """Every recording of the queryset (date range and minimum confidence applied), one chunk in memory.

    Order: site code, then time, then file name. Sites (with their project) and model names are read once.
    Without `pass_times` (the recordings CSV), an unreviewed one-species answer is counted from its
    prediction's totals instead of its calls (`PredictionRow.species_results`), which reads far fewer rows.
    """
    filters = filters or ReportFilters()
    selected = filters.recordings(recordings)
    site_ids = selected.order_by().values_list("visit__site_id", flat=True).distinct()
    sites = Site.objects.select_related("project").in_bulk(list(site_ids))
    zones = {pk: site.tz for pk, site in sites.items()}
    model_names = dict(ModelVersion.objects.values_list("pk", "name"))
    confidence_matters = filters.min_confidence is not None  # else every recording is kept
    rows = (
        selected.order_by("visit__site__code", "visit__site_id", "recorded_at", "original_name", "pk")
        .values_list(*_RECORDING_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for chunk in _chunks(rows, chunk_size):
        final, predicted = final_labels_with_predictions([row[0] for row in chunk],
                                                         prediction_fields=_PREDICTION_FIELDS)  # fmt: skip
        shown = {pk: _prediction_row(final[pk], p, model_names) for pk, p in predicted.items()}
        counted = {pk for pk, p in shown.items() if _needs_calls(final[pk], p, pass_times)}  # from their calls
        calls = _calls([shown[pk].analysis_id for pk in counted])
        for pk, site_id, visit_id, night, recorded_at, name, duration_s, rate_hz, expansion, sha256 in chunk:
            label = final[pk]
            prediction = shown.get(pk)
            if confidence_matters and not filters.keeps(source=label.source, prediction=prediction):
                continue
            if prediction is None:
                species = species_results((), auto=(), label=label)
            elif pk in counted:
                species = species_results(calls.get(prediction.analysis_id, ()), auto=prediction.species_present,
                                          label=label)  # fmt: skip
            else:
                species = prediction.species_results()
            local = recorded_at.astimezone(zones[site_id]) if recorded_at else None
            yield RecordingResult(
                RecordingRow(pk, sites[site_id], visit_id, night, recorded_at, name, duration_s, rate_hz, expansion,
                             sha256),
                prediction,
                label,
                species,
                local,
                survey_night(local, night),
            )  # fmt: skip
