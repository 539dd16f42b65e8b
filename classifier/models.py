"""Model versions, analyses of recordings by a model version, call detections and predictions.

Job state (queued, running, done, failed) lives on `Analysis`, one row per recording x model version, so
that re-analysis with a new model never overwrites an older model's results.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from surveys.models import Project, Recording


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersion | None:
        return self.filter(is_active=True).first()


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
