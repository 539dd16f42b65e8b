"""Display queries of the classifier app: what the visit, recording, site and project pages show.

Every function takes objects the caller already fetched through the user (surveys.access), so access is
decided before anything here runs; nothing here writes.

Which result a page shows for a recording: the prediction of the active model when it has one, else the
most recent prediction of any model (older versions' results stay attached to them after re-analysis). The
analysis *state* shown (queued, running, done, failed) is always that of the active model's analysis.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from classifier.models import Analysis, AnalysisState, CallDetection, ModelVersion, Prediction
from ml import labels
from surveys.models import Project, Recording, RecordingStatus, Site, Visit

RECORDINGS_PER_PAGE = 50
# Above this the answer is shown as "high"; the low band ends at settings.CONFIDENCE_THRESHOLD, below which
# ml.infer already falls back to the group.
HIGH_CONFIDENCE = 0.9

# Filter values of the recordings table (the same four words as the progress bar).
STATUS_WAITING = "waiting"
STATUS_ANALYSED = "analysed"
STATUS_FAILED = "failed"
STATUS_UNUSABLE = "unusable"
STATUS_FILTERS = (STATUS_WAITING, STATUS_ANALYSED, STATUS_FAILED, STATUS_UNUSABLE)
CONFIDENCE_BANDS = ("high", "medium", "low")


# --------------------------------------------------------------------------------------- visit progress


@dataclass(frozen=True)
class VisitProgress:
    """Where the night's recordings stand: storage and metadata (Recording.status) and the active model."""

    total: int
    uploaded: int  # stored, metadata not read yet
    unusable: int  # kept, but cannot be analysed (e.g. true sample rate too low)
    ingest_failed: int  # the file could not be read
    queued: int  # analysis by the active model waits for a worker
    running: int
    analysed: int  # done by the active model
    analysis_failed: int
    not_queued: int  # ingested, but no analysis by the active model (none active, or queueing failed)
    model_version: ModelVersion | None
    outside_night: int = 0  # recordings stamped outside the night (noon to noon, site time)

    @property
    def failed(self) -> int:
        return self.ingest_failed + self.analysis_failed

    @property
    def waiting(self) -> int:
        return self.uploaded + self.queued + self.running

    @property
    def pending(self) -> bool:
        """Something will still change without anyone doing anything: keep polling."""
        return self.waiting > 0

    @property
    def finished(self) -> int:
        return self.analysed + self.failed + self.unusable

    @property
    def percent_finished(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 100

    @property
    def signature(self) -> str:
        """Changes whenever a count changes; the poll compares it, to refresh the table only then."""
        return "-".join(
            str(n)
            for n in (
                self.total,
                self.uploaded,
                self.unusable,
                self.ingest_failed,
                self.queued,
                self.running,
                self.analysed,
                self.analysis_failed,
                self.not_queued,
            )
        )


class _Lookup:
    """Sentinel default of `model_version=`: look the active model up here."""


ACTIVE_MODEL = _Lookup()


def _model_version(model_version: ModelVersion | None | _Lookup) -> ModelVersion | None:
    # A page that shows progress and table together passes the one it read, instead of three lookups.
    return ModelVersion.objects.active_summary() if isinstance(model_version, _Lookup) else model_version


def visit_progress(
    visit: Visit, *, model_version: ModelVersion | None | _Lookup = ACTIVE_MODEL
) -> VisitProgress:
    """Counts for the night's progress bar: two aggregate queries, cheap enough to poll every 2 s."""
    model_version = _model_version(model_version)
    counts = visit.recordings.counts()
    statuses = counts.by_status
    states: dict[str, int] = {}
    if model_version is not None:
        states = dict(
            Analysis.objects.filter(
                recording__visit=visit,
                recording__status=RecordingStatus.INGESTED,
                model_version=model_version,
            )
            .order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
    ingested = statuses.get(RecordingStatus.INGESTED, 0)
    return VisitProgress(
        total=sum(statuses.values()),
        uploaded=statuses.get(RecordingStatus.UPLOADED, 0),
        unusable=statuses.get(RecordingStatus.UNUSABLE, 0),
        ingest_failed=statuses.get(RecordingStatus.FAILED, 0),
        queued=states.get(AnalysisState.QUEUED, 0),
        running=states.get(AnalysisState.RUNNING, 0),
        analysed=states.get(AnalysisState.DONE, 0),
        analysis_failed=states.get(AnalysisState.FAILED, 0),
        not_queued=max(0, ingested - sum(states.values())),
        model_version=model_version,
        outside_night=counts.outside_night,
    )


# --------------------------------------------------------------------------------------- recording rows


def _shown_prediction(model_version: ModelVersion | None) -> Subquery:
    """Subquery: the prediction to show for OuterRef('pk') (active model first, then the newest)."""
    candidates = Prediction.objects.filter(recording=OuterRef("pk"))
    if model_version is not None:
        candidates = candidates.annotate(
            rank=Case(
                When(model_version=model_version, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("rank", "-created_at", "-pk")
    else:
        candidates = candidates.order_by("-created_at", "-pk")
    return Subquery(candidates.values("pk")[:1])


def _active_state(model_version: ModelVersion | None) -> Subquery | Value:
    if model_version is None:
        return Value(None, output_field=CharField())
    return Subquery(
        Analysis.objects.filter(recording=OuterRef("pk"), model_version=model_version).values("state")[:1]
    )


def with_results(recordings: QuerySet[Recording], model_version: ModelVersion | None) -> QuerySet[Recording]:
    """Annotate `shown_prediction_id` and `active_state` (the active model's analysis state, or None)."""
    return recordings.annotate(
        shown_prediction_id=_shown_prediction(model_version), active_state=_active_state(model_version)
    )


def _json_list_holds(field_name: str, value: str) -> Q:
    # JSON lists of label ids; JSONField `contains` is not available on SQLite, so match the encoded
    # element, quotes included, in the stored text (icontains on a JSONField compares its JSON text).
    return Q(**{f"{field_name}__icontains": json.dumps(value)})


@dataclass(frozen=True)
class RecordingFilters:
    """The recordings table's filters; empty strings mean "any"."""

    species: str = ""
    call_type: str = ""
    confidence: str = ""  # one of CONFIDENCE_BANDS
    status: str = ""  # one of STATUS_FILTERS

    @property
    def active(self) -> bool:
        return any((self.species, self.call_type, self.confidence, self.status))


def confidence_band(confidence: float) -> str:
    if confidence >= HIGH_CONFIDENCE:
        return "high"
    if confidence >= settings.CONFIDENCE_THRESHOLD:
        return "medium"
    return "low"


def _confidence_q(band: str) -> Q:
    threshold = settings.CONFIDENCE_THRESHOLD
    if band == "high":
        return Q(confidence__gte=HIGH_CONFIDENCE)
    if band == "medium":
        return Q(confidence__gte=threshold, confidence__lt=HIGH_CONFIDENCE)
    if band == "low":
        return Q(confidence__lt=threshold)
    return Q()


def _status_q(status: str, model_version: ModelVersion | None) -> Q:
    ingested = Q(status=RecordingStatus.INGESTED)
    if status == STATUS_UNUSABLE:
        return Q(status=RecordingStatus.UNUSABLE)
    if status == STATUS_FAILED:
        return Q(status=RecordingStatus.FAILED) | (ingested & Q(active_state=AnalysisState.FAILED))
    if status == STATUS_ANALYSED:
        if model_version is None:  # no active model: what an older one found still counts
            return ingested & Q(shown_prediction_id__isnull=False)
        return ingested & Q(active_state=AnalysisState.DONE)
    if status == STATUS_WAITING:
        return Q(status=RecordingStatus.UPLOADED) | (
            ingested
            & (Q(active_state__in=[AnalysisState.QUEUED, AnalysisState.RUNNING]) | Q(active_state=None))
        )
    return Q()


def filter_recordings(
    recordings: QuerySet[Recording], filters: RecordingFilters, model_version: ModelVersion | None
) -> QuerySet[Recording]:
    """Recordings (annotated by `with_results`) whose shown prediction and state match the filters."""
    qs = recordings
    prediction_q = Q()
    if filters.species:
        prediction_q &= _json_list_holds("species_present", filters.species)
    if filters.call_type:
        prediction_q &= _json_list_holds("call_types", filters.call_type)
    if filters.confidence:
        prediction_q &= _confidence_q(filters.confidence)
    if prediction_q:
        qs = qs.filter(Exists(Prediction.objects.filter(prediction_q, pk=OuterRef("shown_prediction_id"))))
    if filters.status:
        qs = qs.filter(_status_q(filters.status, model_version))
    return qs


@dataclass(frozen=True)
class RecordingRow:
    """One line of the recordings table."""

    recording: Recording
    prediction: Prediction | None  # the shown one (see module docstring)
    analysis: Analysis | None  # the active model's analysis when it failed (its error, the retry button)
    state: str  # uploaded, unusable, failed, not_queued, queued, running, done, analysis_failed
    active_model_id: int | None

    @property
    def prediction_is_older(self) -> bool:
        """The prediction shown comes from another model than the active one."""
        return (
            self.prediction is not None
            and self.active_model_id is not None
            and self.prediction.model_version_id != self.active_model_id
        )

    @property
    def confidence_band(self) -> str:
        return confidence_band(self.prediction.confidence) if self.prediction else ""

    @property
    def local_time(self) -> str:
        """When it was recorded, in the site's time zone, as `2025-06-12 23:04:51` (empty when unknown).

        Formatted here rather than with the template filters `timezone` and `date`, which cost a tenth of a
        millisecond or more per row."""
        local = self.recording.local_recorded_at()
        return local.strftime("%Y-%m-%d %H:%M:%S") if local else ""


def _row_state(
    recording: Recording, active_state: str | None, *, has_prediction: bool, model_active: bool
) -> str:
    """`active_state`: the state of the active model's analysis (None: not analysed by it, or none active)."""
    if recording.status == RecordingStatus.UPLOADED:
        return "uploaded"
    if recording.status == RecordingStatus.UNUSABLE:
        return "unusable"
    if recording.status == RecordingStatus.FAILED:
        return "failed"
    if active_state is None:
        return "done" if (not model_active and has_prediction) else "not_queued"
    if active_state == AnalysisState.FAILED:
        return "analysis_failed"
    return active_state


def recording_rows(recordings: Sequence[Recording], model_version: ModelVersion | None) -> list[RecordingRow]:
    """Rows for recordings annotated by `with_results` (one page of them): one more query in all, up to three
    when a prediction of another model is shown or an analysis failed."""
    prediction_ids = [r.shown_prediction_id for r in recordings if getattr(r, "shown_prediction_id", None)]
    # `top` is not shown in the table; the model versions (only their names are shown) are read once each
    # rather than joined to every row with their JSON metrics and manifest.
    predictions = Prediction.objects.defer("top").in_bulk(prediction_ids)
    versions = {model_version.pk: model_version} if model_version is not None else {}
    other_ids = {p.model_version_id for p in predictions.values()} - set(versions)
    if other_ids:
        versions |= ModelVersion.objects.only("pk", "name", "is_active", "created_at").in_bulk(other_ids)
    for prediction in predictions.values():
        prediction.model_version = versions[prediction.model_version_id]
    # The active model's analysis state comes with each row (`active_state`); the analysis itself only
    # where it failed, for its error and the retry button.
    failed: dict[int, Analysis] = {}
    failed_ids = [r.pk for r in recordings if getattr(r, "active_state", None) == AnalysisState.FAILED]
    if model_version is not None and failed_ids:
        analyses = Analysis.objects.filter(recording__in=failed_ids, model_version=model_version)
        failed = {analysis.recording_id: analysis for analysis in analyses}
    return [
        RecordingRow(
            recording=recording,
            prediction=predictions.get(getattr(recording, "shown_prediction_id", None)),
            analysis=failed.get(recording.pk),
            state=_row_state(
                recording,
                getattr(recording, "active_state", None),
                has_prediction=getattr(recording, "shown_prediction_id", None) is not None,
                model_active=model_version is not None,
            ),
            active_model_id=model_version.pk if model_version else None,
        )
        for recording in recordings
    ]


@dataclass(frozen=True)
class VisitRecordings:
    """One page of the visit's recordings table, with what the filter form offers."""

    page: Page
    rows: list[RecordingRow]
    outside_night: int  # recordings of the whole night (unfiltered) stamped outside it
    total: int  # recordings of the whole night (unfiltered)


def visit_recordings(
    visit: Visit,
    filters: RecordingFilters,
    *,
    page_number: object = 1,
    per_page: int | None = None,
    model_version: ModelVersion | None | _Lookup = ACTIVE_MODEL,
    progress: VisitProgress | None = None,
) -> VisitRecordings:
    """One page of the night's recordings; `progress` (read for the same page) saves counting them again."""
    model_version = _model_version(model_version)
    # Metadata and the detector's XML sidecar can be large and the table shows neither.
    base = visit.recordings.defer("metadata", "sidecar_xml")
    annotated = with_results(base, model_version)
    filtered = filter_recordings(annotated, filters, model_version).order_by(
        "recorded_at", "original_name", "pk"
    )
    if progress is not None:
        total, outside_night = progress.total, progress.outside_night
    else:
        counts = visit.recordings.counts()
        total, outside_night = counts.total, counts.outside_night
    paginator = Paginator(filtered, per_page or RECORDINGS_PER_PAGE)
    if not filters.active:
        paginator.count = total  # the same number: no second COUNT query
    page = paginator.get_page(page_number)
    recordings = list(page.object_list)
    for recording in recordings:
        recording.visit = visit  # the caller's visit, its site already joined: no join per row
    return VisitRecordings(
        page=page,
        rows=recording_rows(recordings, model_version),
        outside_night=outside_night,
        total=total,
    )


def visit_species(visit: Visit) -> list[str]:
    """Species any model found in this night, sorted by id with `noise` last (the filter's choices)."""
    found: set[str] = set()
    # Distinct lists only: a night of thousands of recordings holds a few dozen species combinations.
    for present in (
        Prediction.objects.filter(recording__visit=visit)
        .order_by()
        .values_list("species_present", flat=True)
        .distinct()
    ):
        found.update(present or ())
    return sorted(found, key=lambda label: (label == labels.NOISE, label))


# --------------------------------------------------------------------------------------- one recording


@dataclass(frozen=True)
class RecordingAnalysis:
    """The recording page's analysis panel."""

    recording: Recording
    analysis: Analysis | None  # the one shown
    prediction: Prediction | None
    calls: list[CallDetection]
    others: list[Analysis]  # every analysis of this recording, newest model first (to switch between)
    active_model: ModelVersion | None

    @property
    def pending(self) -> bool:
        return self.recording.status == RecordingStatus.UPLOADED or (
            self.analysis is not None and self.analysis.state in (AnalysisState.QUEUED, AnalysisState.RUNNING)
        )


def recording_analysis(recording: Recording, *, analysis_id: int | None = None) -> RecordingAnalysis:
    """The analysis to show: the one asked for (of this recording only), else the active model's, else the
    newest one with a prediction, else the newest one."""
    active = ModelVersion.objects.active_summary()
    analyses = list(
        recording.analyses.select_related("model_version").order_by("-model_version__created_at", "-pk")
    )
    # All of the recording's predictions at once (one per analysis at most): which analyses have one, and
    # the chosen one's, in one query.
    predictions = {p.analysis_id: p for p in Prediction.objects.filter(recording=recording)}
    with_prediction = set(predictions)
    chosen = None
    if analysis_id is not None:
        chosen = next((a for a in analyses if a.pk == analysis_id), None)
    if chosen is None and active is not None:
        chosen = next((a for a in analyses if a.model_version_id == active.pk), None)
    if chosen is None:
        chosen = next((a for a in analyses if a.pk in with_prediction), None) or (
            analyses[0] if analyses else None
        )
    prediction = None
    calls: list[CallDetection] = []
    if chosen is not None:
        prediction = predictions.get(chosen.pk)
        calls = list(chosen.calls.order_by("start_s"))
    return RecordingAnalysis(
        recording=recording,
        analysis=chosen,
        prediction=prediction,
        calls=calls,
        others=analyses,
        active_model=active,
    )


# --------------------------------------------------------------------------------------- site summary


@dataclass
class SpeciesSummary:
    """One species at one site: recordings where it is present, its passes, first and last survey night."""

    species: str
    recordings: int = 0
    passes: int = 0
    first_night: dt.date | None = None
    last_night: dt.date | None = None
    nights: set[dt.date] = field(default_factory=set)

    def add_night(self, night: dt.date) -> None:
        self.nights.add(night)
        self.first_night = min(self.first_night or night, night)
        self.last_night = max(self.last_night or night, night)


def _pass_species(species: str, present: Iterable[str]) -> str | None:
    """Attribute a pass (named by its calls' species) to a species of the recording's list, or its group.

    Calls keep their own per-call answer; when the recording-level answer fell back to a group (uncertain
    species), the pass counts for that group, as the list a user sees names it.
    """
    present = list(present)
    if species in present:
        return species
    group = labels.group_of(species)
    return group if group in present else None


def site_species_summary(
    site: Site, *, model_version: ModelVersion | None | _Lookup = ACTIVE_MODEL
) -> list[SpeciesSummary]:
    """Species found at a site (shown predictions of every visit), most recordings first; `noise` left out."""
    model_version = _model_version(model_version)
    recordings = with_results(Recording.objects.filter(visit__site=site), model_version)
    shown = {
        pk: night
        for pk, night in recordings.filter(shown_prediction_id__isnull=False).values_list(
            "shown_prediction_id", "visit__night"
        )
    }
    predictions = Prediction.objects.filter(pk__in=list(shown)).values_list(
        "pk", "analysis_id", "species_present"
    )
    summaries: dict[str, SpeciesSummary] = {}
    present_by_analysis: dict[int, list[str]] = {}
    night_by_analysis: dict[int, dt.date] = {}
    for pk, analysis_id, present in predictions:
        present = [s for s in (present or []) if s != labels.NOISE]
        present_by_analysis[analysis_id] = present
        night_by_analysis[analysis_id] = shown[pk]
        for species in present:
            summary = summaries.setdefault(species, SpeciesSummary(species=species))
            summary.recordings += 1
            summary.add_night(shown[pk])
    passes: dict[tuple[int, int], str] = {}
    calls = CallDetection.objects.filter(analysis_id__in=list(present_by_analysis), pass_index__gte=0)
    for analysis_id, pass_index, species in calls.values_list("analysis_id", "pass_index", "species"):
        # a pass is one species by definition (ml.detect.group_passes); its first call names it
        passes.setdefault((analysis_id, pass_index), species)
    for (analysis_id, _), species in passes.items():
        name = _pass_species(species, present_by_analysis[analysis_id])
        if name is not None:
            summaries[name].passes += 1
    return sorted(summaries.values(), key=lambda s: (-s.recordings, -s.passes, s.species))


# --------------------------------------------------------------------------------------- project map


@dataclass(frozen=True)
class SiteMarker:
    id: int
    code: str
    name: str
    latitude: float
    longitude: float
    visits: int

    def as_json(self, url: str) -> dict[str, object]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "lat": self.latitude,
            "lon": self.longitude,
            "visits": self.visits,
            "url": url,
        }


def project_site_markers(project: Project) -> list[SiteMarker]:
    sites = project.sites.annotate(visit_count=Count("visits")).order_by("code")
    return [
        SiteMarker(
            id=s.pk,
            code=s.code,
            name=s.name,
            latitude=s.latitude,
            longitude=s.longitude,
            visits=s.visit_count,
        )
        for s in sites
    ]
