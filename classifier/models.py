"""Model versions, analyses of recordings by a model version, call detections and predictions.

Job state (queued, running, done, failed) lives on `Analysis`, one row per recording x model version, so
that re-analysis with a new model never overwrites an older model's results.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.models import Project, Recording


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersion | None:
        return self.filter(is_active=True).first()

    def active_summary(self) -> ModelVersion | None:
        """The active model with only what pages show of it (id, name, dates): a real model's metrics and
        data manifest are JSON of hundreds of kilobytes, decoded on every read."""
        return self.filter(is_active=True).only("pk", "name", "is_active", "created_at").first()


class ModelVersion(models.Model):
    """A trained classifier: a self-describing checkpoint file plus this row."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    file = models.FileField(_("checkpoint file"), upload_to="models/", max_length=300)
    sha256 = models.CharField(max_length=64)
    label_set = models.JSONField(_("label set"), default=list)
    call_types = models.JSONField(_("call types"), default=list)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    manifest = models.JSONField(_("data manifest"), default=dict, blank=True)
    licences = models.JSONField(_("licence mix of the training data"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model")
        ]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")

    def __str__(self) -> str:
        return self.name


class AnalysisState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class AnalysisQuerySet(models.QuerySet["Analysis"]):
    def for_project(self, project: Project) -> AnalysisQuerySet:
        return self.filter(recording__project=project)


class Analysis(models.Model):
    """The analysis of one recording by one model version, and its job state."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="analyses")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="analyses")
    state = models.CharField(
        _("state"), max_length=10, choices=AnalysisState.choices, default=AnalysisState.QUEUED, db_index=True
    )
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AnalysisQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recording", "model_version"], name="one_analysis_per_model")
        ]
        verbose_name = _("analysis")
        verbose_name_plural = _("analyses")

    def __str__(self) -> str:
        return f"{self.recording} by {self.model_version} ({self.state})"


class Prediction(models.Model):
    """Recording-level result of an analysis: the species present (dominant first), call types, confidence."""

    analysis = models.OneToOneField(Analysis, on_delete=models.CASCADE, related_name="prediction")
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    species = models.CharField(_("species"), max_length=100)  # the answer after any fallback
    species_group = models.CharField(_("group"), max_length=100)
    species_present = models.JSONField(_("species present"), default=list)
    call_type = models.CharField(_("call type"), max_length=20)
    call_types = models.JSONField(_("call types"), default=list)
    confidence = models.FloatField(_("confidence"))
    margin = models.FloatField(_("margin to the runner-up"), default=0.0)
    top = models.JSONField(_("top probabilities"), default=list)
    n_calls = models.PositiveIntegerField(default=0)
    n_passes = models.PositiveIntegerField(default=0)
    feeding_buzzes = models.PositiveIntegerField(default=0)
    social_calls = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recording", "model_version"], name="one_prediction_per_model")
        ]
        indexes = [models.Index(fields=["species"]), models.Index(fields=["confidence"])]
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")

    def __str__(self) -> str:
        return f"{self.recording}: {self.species} ({self.confidence:.2f})"


class CallDetection(models.Model):
    """One detected call with its own species and call type, in true time and frequency."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="calls")
    start_s = models.FloatField()
    end_s = models.FloatField()
    low_hz = models.FloatField()
    high_hz = models.FloatField()
    peak_hz = models.FloatField()
    snr_db = models.FloatField()
    species = models.CharField(max_length=100)
    call_type = models.CharField(max_length=20)
    confidence = models.FloatField()
    pass_index = models.IntegerField(default=-1)
    # An echolocation call unlike every class the model was trained on (ml.novelty): answered Chiroptera sp.
    novel = models.BooleanField(default=False)

    class Meta:
        ordering = ["analysis", "start_s"]
        verbose_name = _("call detection")
        verbose_name_plural = _("call detections")

    def __str__(self) -> str:
        return f"{self.species} at {self.start_s:.3f} s"


class RenderedImage(models.Model):
    """A cached spectrogram or occlusion image, drawn on first view (never during analysis)."""

    class Kind(models.TextChoices):
        SPECTROGRAM = "spectrogram"
        OCCLUSION = "occlusion"

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="images")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    file = models.FileField(upload_to="images/", max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["analysis", "kind"], name="one_image_per_kind")]


# --- expert review (issue 6) -----------------------------------------------------------------------------
# Decisions are append-only: a recording's label history is every LabelDecision ever made on it, and the
# final label is derived from that history (classifier/final_labels.py), never stored over it.


class ReviewStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("confirmed")
    CORRECTED = "corrected", _("corrected")
    UNSURE = "unsure", _("unsure")
    NO_BAT = "no_bat", _("no bat")


class DecisionKind(models.TextChoices):
    SINGLE = "single", _("single review")
    BLIND = "blind", _("independent double review")
    SETTLEMENT = "settlement", _("settlement by a manager")


class DoubleReview(models.Model):
    """A manager's request for independent double review of a random sample of recordings."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="double_reviews")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    filters = models.JSONField(_("filters the sample was drawn from"), default=dict, blank=True)
    size = models.PositiveIntegerField(_("sample size asked for"))
    seed = models.BigIntegerField(_("random seed"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("double review")
        verbose_name_plural = _("double reviews")

    def __str__(self) -> str:
        return f"double review {self.pk} of {self.project}"


class DoubleReviewState(models.TextChoices):
    AWAITING = "awaiting", _("awaiting decisions")
    AGREED = "agreed", _("agreed")
    DISAGREEMENT = "disagreement", _("disagreement, waiting for a manager")
    SETTLED = "settled", _("settled by a manager")


OPEN_DOUBLE_REVIEW_STATES = (DoubleReviewState.AWAITING, DoubleReviewState.DISAGREEMENT)


class DoubleReviewItem(models.Model):
    """One recording of a double-review sample; its state follows from its decisions and changes with them."""

    double_review = models.ForeignKey(DoubleReview, on_delete=models.CASCADE, related_name="items")
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="double_review_items")
    state = models.CharField(
        max_length=20, choices=DoubleReviewState.choices, default=DoubleReviewState.AWAITING, db_index=True
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["double_review", "recording"], name="one_item_per_recording_and_sample"),
            # A recording is in at most one open round: its final label waits on exactly one pair.
            models.UniqueConstraint(
                fields=["recording"],
                condition=Q(state__in=["awaiting", "disagreement"]),
                name="one_open_double_review_per_recording",
            ),
        ]
        verbose_name = _("double-review item")
        verbose_name_plural = _("double-review items")

    def __str__(self) -> str:
        return f"{self.recording} in double review {self.double_review_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_DOUBLE_REVIEW_STATES

    def close(self, state: str) -> None:
        """Record the outcome once both decisions are in (agreed/disagreement) or a manager settled it."""
        self.state = state
        if state in (DoubleReviewState.AGREED, DoubleReviewState.SETTLED):
            self.closed_at = timezone.now()
        self.save(update_fields=["state", "closed_at"])


class LabelDecisionQuerySet(models.QuerySet["LabelDecision"]):
    def for_project(self, project: Project) -> LabelDecisionQuerySet:
        return self.filter(recording__project=project)

    def by(self, user) -> LabelDecisionQuerySet:
        return self.filter(reviewer=user)

    def newest_first(self) -> LabelDecisionQuerySet:
        return self.order_by("-decided_at", "-pk")


class LabelDecision(models.Model):
    """One expert decision on one recording. Append-only: rows are never changed or deleted by the app."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="label_decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="label_decisions",
        verbose_name=_("reviewer"),
    )  # fmt: skip
    prediction = models.ForeignKey(
        Prediction, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text=_("The prediction the reviewer saw."),
    )  # fmt: skip
    status = models.CharField(_("decision"), max_length=20, choices=ReviewStatus.choices)
    species_present = models.JSONField(_("species present"), default=list, blank=True)  # dominant first
    call_types = models.JSONField(_("call types"), default=list, blank=True)  # main first
    note = models.TextField(_("note"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)
    kind = models.CharField(max_length=20, choices=DecisionKind.choices, default=DecisionKind.SINGLE)
    double_review_item = models.ForeignKey(
        DoubleReviewItem, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    bulk = models.BooleanField(_("bulk confirmation"), default=False)
    bulk_batch = models.UUIDField(null=True, blank=True, db_index=True)
    # The label in force when this decision was written (read inside the same transaction).
    replaced_source = models.CharField(max_length=20, blank=True)
    replaced_status = models.CharField(max_length=30, blank=True)
    replaced_species = models.JSONField(default=list, blank=True)
    replaced_call_types = models.JSONField(default=list, blank=True)
    replaced_decision = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = LabelDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["decided_at", "pk"]
        indexes = [
            models.Index(fields=["recording", "decided_at"], name="decision_recording_time"),
            models.Index(fields=["reviewer", "decided_at"], name="decision_reviewer_time"),
        ]
        verbose_name = _("label decision")
        verbose_name_plural = _("label decisions")

    def __str__(self) -> str:
        return f"{self.recording_id}: {self.status} {', '.join(self.species_present)} by {self.reviewer_id}"

    @property
    def gives_label(self) -> bool:
        """Unsure is a decision, not a label (ARCHITECTURE.md, Labels)."""
        return self.status != ReviewStatus.UNSURE


class QueueState(models.TextChoices):
    TO_REVIEW = "to_review", _("to review")
    UNSURE = "unsure", _("marked unsure")
    REVIEWED = "reviewed", _("reviewed")
    DOUBLE_REVIEW = "double_review", _("in double review")
    DISAGREEMENT = "disagreement", _("disagreement")


class ReviewQueueEntryQuerySet(models.QuerySet["ReviewQueueEntry"]):
    def for_project(self, project: Project) -> ReviewQueueEntryQuerySet:
        return self.filter(project=project)

    def in_state(self, state: str) -> ReviewQueueEntryQuerySet:
        return self.filter(state=state)

    def to_review(self) -> ReviewQueueEntryQuerySet:
        return self.filter(state=QueueState.TO_REVIEW)

    def at_site(self, site_id: int | None) -> ReviewQueueEntryQuerySet:
        return self.filter(site_id=site_id) if site_id else self

    def in_visit(self, visit_id: int | None) -> ReviewQueueEntryQuerySet:
        return self.filter(visit_id=visit_id) if visit_id else self

    def with_species(self, species: str) -> ReviewQueueEntryQuerySet:
        # `|a|b|` keys: a LIKE on the whole token never matches a longer name that merely contains it.
        return self.filter(species_key__contains=f"|{species}|") if species else self

    def with_call_type(self, call_type: str) -> ReviewQueueEntryQuerySet:
        return self.filter(call_types_key__contains=f"|{call_type}|") if call_type else self

    def min_confidence(self, value: float | None) -> ReviewQueueEntryQuerySet:
        return self.filter(confidence__gte=value) if value is not None else self

    def by_priority(self) -> ReviewQueueEntryQuerySet:
        """The most useful checks first; the id breaks ties so that paging and "next" are stable."""
        return self.order_by("-priority", "pk")

    def after(self, entry: ReviewQueueEntry) -> ReviewQueueEntryQuerySet:
        """Entries behind `entry` in `by_priority` order (keyset paging: no OFFSET over 100,000 rows)."""
        # Written as a range plus an exclusion, not an OR: SQLite then walks the ordering index from `entry`
        # instead of scanning the whole queue.
        return self.filter(priority__lte=entry.priority).exclude(priority=entry.priority, pk__lte=entry.pk)


class ReviewQueueEntry(models.Model):
    """A recording's place in its project's review queue, computed when its prediction is stored.

    Denormalised on purpose (project, site, visit, species and call-type keys): the queue of a project with
    100,000 recordings is then one index range scan (project, state, -priority), with no joins and no
    computed ordering.
    """

    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="review_entry")
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey("surveys.Site", on_delete=models.CASCADE, related_name="+")
    visit = models.ForeignKey("surveys.Visit", on_delete=models.CASCADE, related_name="+")
    species = models.CharField(max_length=100)  # the prediction's answer
    species_key = models.CharField(max_length=1000)  # "|Pipistrellus pipistrellus|Nyctalus noctula|"
    call_types_key = models.CharField(max_length=200)  # "|echolocation|feeding_buzz|"
    confidence = models.FloatField()
    margin = models.FloatField()
    priority = models.FloatField()
    reasons = models.JSONField(default=list, blank=True)  # why it is in front: codes of review.PRIORITY_REASONS
    state = models.CharField(max_length=20, choices=QueueState.choices, default=QueueState.TO_REVIEW)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQueueEntryQuerySet.as_manager()

    class Meta:
        indexes = [
            # The filter columns ride along at the end, so that counting what is left and walking the queue
            # with a species or call-type filter read only the index (LIKE on the keys, no table lookups).
            models.Index(
                fields=["project", "state", "-priority", "id", "species_key", "call_types_key", "site", "visit"],
                name="review_queue_order",
            ),
            models.Index(fields=["site", "state", "-priority", "id"], name="review_queue_site"),
            models.Index(fields=["visit", "state", "-priority", "id"], name="review_queue_visit"),
            models.Index(fields=["project", "species"], name="review_queue_species"),
            models.Index(fields=["project", "prediction"], name="review_queue_prediction"),
            models.Index(fields=["project", "state"], name="review_queue_count"),  # narrow: "what is left"
        ]
        verbose_name = _("review queue entry")
        verbose_name_plural = _("review queue entries")

    def __str__(self) -> str:
        return f"{self.recording_id} ({self.state}, {self.priority:.2f})"

    def move_to(self, state: str) -> None:
        self.state = state
        self.save(update_fields=["state", "updated_at"])


class SensitiveSpecies(models.Model):
    """A species of a project whose locations are rounded in exports for members who are not managers."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sensitive_species")
    species = models.CharField(_("species"), max_length=100)  # a label id (scientific name, pair or group)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("marked at"), auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "species"], name="sensitive_species_once_per_project")
        ]
        ordering = ["species"]
        verbose_name = _("sensitive species")
        verbose_name_plural = _("sensitive species")

    def __str__(self) -> str:
        return f"{self.species} ({self.project})"


# --- quick analysis from the API (issue 9) ------------------------------------------------------------------


def _analysis_job_upload_to(instance: AnalysisJob, filename: str) -> str:
    # Named by the job, not the user's file name: nothing of the user's naming reaches the storage path.
    return f"tmp/analyse/{instance.pk}.wav"


class AnalysisJob(models.Model):
    """One file sent to `POST /api/v1/analyse`: analysed by a worker, never stored as a recording.

    Short-lived on purpose: the file waits in a temporary place in storage until the worker has read it
    (then it is deleted), and the row carries the result back to the waiting request or the polling client
    and is deleted once the result was delivered. `classifier.analyse_jobs.analyse_jobs_sweep` removes
    whatever nobody collected.
    """

    id = models.UUIDField(primary_key=True, editable=False)  # unguessable: the poll URL is the job's id
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.SET_NULL, null=True, related_name="+")
    file = models.FileField(upload_to=_analysis_job_upload_to, max_length=300, blank=True)
    original_name = models.CharField(max_length=300)
    size_bytes = models.BigIntegerField(default=0)
    time_expansion = models.FloatField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=AnalysisState.choices, default=AnalysisState.QUEUED)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Why it failed, stable for programs: invalid_audio, too_large, time_limit, no_active_model,
    # worker_lost, not_taken, server_error (classifier.analyse_jobs).
    error_code = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("quick analysis job")
        verbose_name_plural = _("quick analysis jobs")

    def __str__(self) -> str:
        return f"quick analysis {self.pk} of {self.original_name} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (AnalysisState.DONE, AnalysisState.FAILED)


# --- Xeno-Canto imports and retraining (issue 7) ---------------------------------------------------------
# Both are long jobs on the "training" queue. They are claimed in the database (a conditional UPDATE that
# writes a fresh `claim` token) and keep a heartbeat while they run; a periodic sweep re-queues those whose
# heartbeat went stale. Tasks are not acks_late: a long run must never be redelivered to a second worker.


class JobState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


FINISHED_JOB_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class BackgroundJob(models.Model):
    """What an import and a training run share: who asked, the state, the claim and heartbeat of the worker
    running it (classifier.training, classifier.xenocanto_import), cancelling, and the times."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(_("state"), max_length=10, choices=JobState.choices, default=JobState.QUEUED,
                             db_index=True)  # fmt: skip
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_JOB_STATES


class XenoCantoImport(BackgroundJob):
    """One import of Xeno-Canto recordings for a query, with its live progress and what it found."""

    query = models.CharField(_("query"), max_length=500)
    limit = models.PositiveIntegerField(_("at most this many recordings"), default=50)
    licences = models.JSONField(_("allowed licences"), default=list, blank=True)  # Xeno-Canto codes; [] = any
    found = models.PositiveIntegerField(_("recordings matching the query"), default=0)
    seen = models.PositiveIntegerField(_("recordings looked at"), default=0)
    imported = models.PositiveIntegerField(_("recordings imported"), default=0)
    downloaded = models.PositiveIntegerField(_("files downloaded"), default=0)
    skipped = models.PositiveIntegerField(_("recordings skipped"), default=0)
    message = models.CharField(_("what it is doing"), max_length=300, blank=True)
    # Unknown species and sound types, skip reasons and the licence mix (ml.xenocanto.ImportResult.summary).
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    class Meta(BackgroundJob.Meta):
        verbose_name = _("Xeno-Canto import")
        verbose_name_plural = _("Xeno-Canto imports")

    def __str__(self) -> str:
        return f"Xeno-Canto import {self.pk}: {self.query} ({self.state})"

    @property
    def percent(self) -> int:
        """Share of the target (the limit, or every match when fewer) looked at so far."""
        if self.state == JobState.DONE:
            return 100
        target = min(self.limit, self.found) if self.found else self.limit
        return min(99, round(100 * self.imported / target)) if target else 0


class XenoCantoRecording(models.Model):
    """A Xeno-Canto recording in the local library, with everything needed to credit and filter it."""

    xc_id = models.CharField(_("Xeno-Canto number"), max_length=20, unique=True)  # "XC928094"
    species = models.CharField(_("species"), max_length=100, db_index=True)  # vocabulary id (ml.labels)
    scientific_name = models.CharField(_("name at Xeno-Canto"), max_length=200, blank=True)
    english_name = models.CharField(max_length=200, blank=True)
    call_types = models.JSONField(_("call types"), default=list, blank=True)  # main first
    sound_type = models.CharField(_("sound type at Xeno-Canto"), max_length=300, blank=True)
    licence = models.CharField(_("licence"), max_length=60, db_index=True)  # SPDX-style: CC-BY-NC-SA-4.0
    licence_code = models.CharField(max_length=20, db_index=True)  # Xeno-Canto code: by-nc-sa
    licence_url = models.CharField(max_length=300, blank=True)
    recordist = models.CharField(_("recordist"), max_length=200, blank=True)
    url = models.CharField(_("page"), max_length=300)
    attribution = models.CharField(_("attribution"), max_length=500)
    country = models.CharField(_("country"), max_length=100, blank=True)
    quality = models.CharField(_("quality"), max_length=20, blank=True)
    sample_rate_hz = models.PositiveIntegerField(_("sample rate (Hz)"), null=True, blank=True)
    path = models.CharField(_("file in the library"), max_length=300)  # relative to the library folder
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    imported_by = models.ForeignKey(
        XenoCantoImport, on_delete=models.SET_NULL, null=True, blank=True, related_name="recordings"
    )
    retrieved_at = models.DateTimeField(_("retrieved"), default=timezone.now)
    raw = models.JSONField(_("the record as the API gave it"), default=dict, blank=True)

    class Meta:
        ordering = ["species", "xc_id"]
        verbose_name = _("Xeno-Canto recording")
        verbose_name_plural = _("Xeno-Canto recordings")

    def __str__(self) -> str:
        return f"{self.xc_id} {self.species} ({self.licence})"


class TrainingRun(BackgroundJob):
    """A retraining run started by staff: the data chosen, live progress, and the model version it made."""

    use_xeno_canto = models.BooleanField(_("Xeno-Canto imports"), default=True)
    use_reviewed = models.BooleanField(_("expert-confirmed recordings"), default=True)
    use_synthetic = models.BooleanField(_("synthetic calls"), default=False)
    synthetic_per_class = models.PositiveIntegerField(_("synthetic files per class"), default=0)
    licences = models.JSONField(_("allowed licences"), default=list, blank=True)  # Xeno-Canto codes; [] = any
    preset = models.CharField(_("preset"), max_length=20, default="quick")
    seed = models.IntegerField(_("seed"), default=0)
    label_set = models.JSONField(_("classes"), default=list, blank=True)
    stage = models.CharField(_("stage"), max_length=20, blank=True)  # data, prepare, train, calibrate, ...
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    validation_score = models.FloatField(null=True, blank=True)
    files_done = models.PositiveIntegerField(default=0)
    files_total = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True)  # one {"epoch", "train_loss", "validation_score"} each
    message = models.CharField(max_length=300, blank=True)
    data_summary = models.JSONField(_("training data"), default=dict, blank=True)  # per source: files, licences
    comparison = models.JSONField(_("comparison on the frozen test set"), default=dict, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    compared_with = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(BackgroundJob.Meta):
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")

    def __str__(self) -> str:
        return f"training run {self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        """Rough share of the work done: data 0-5, decoding 5-30, epochs 30-90, scoring 90-99, done 100."""
        if self.state == JobState.DONE:
            return 100
        if self.stage == "prepare" and self.files_total:
            return 5 + round(25 * self.files_done / self.files_total)
        if self.stage == "train" and self.epochs:
            return 30 + round(60 * self.epoch / self.epochs)
        return {"data": 2, "calibrate": 91, "evaluate": 93, "compare": 95, "register": 98}.get(self.stage, 0)
