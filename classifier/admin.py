"""Django admin for the classifier (staff only): model versions, analyses and their results.

Activating a model and retrying analyses go through the same services as the app, so the one-active rule
and the idempotent queue hold here too.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from classifier import services
from classifier.models import Analysis, AnalysisState, CallDetection, ModelVersion, Prediction, RenderedImage


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "class_count", "created_at", "activated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "sha256", "notes"]
    readonly_fields = [
        "sha256",
        "file",
        "label_set",
        "call_types",
        "metrics",
        "manifest",
        "licences",
        "is_active",
        "created_at",
        "activated_at",
    ]
    actions = ["activate"]

    @admin.display(description=_("classes"))
    def class_count(self, obj: ModelVersion) -> int:
        return len(obj.label_set)

    @admin.action(description=_("Make the selected version the active model"))
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one model version to activate."), messages.ERROR)
            return
        version = services.model_version_activate(model_version=queryset.get())
        self.message_user(request, _("%(name)s is now the active model.") % {"name": version.name})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from training or `manage.py register_model`, which read the file


class CallDetectionInline(admin.TabularInline):
    model = CallDetection
    extra = 0
    can_delete = False
    fields = [
        "start_s",
        "end_s",
        "low_hz",
        "high_hz",
        "peak_hz",
        "snr_db",
        "species",
        "call_type",
        "confidence",
        "pass_index",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ["recording", "model_version", "state", "attempts", "queued_at", "finished_at"]
    list_filter = ["state", "model_version"]
    search_fields = ["recording__original_name", "error", "worker"]
    list_select_related = ["recording", "model_version"]
    raw_id_fields = ["recording"]
    readonly_fields = [
        "recording",
        "model_version",
        "state",
        "error",
        "attempts",
        "worker",
        "queued_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]
    inlines = [CallDetectionInline]
    actions = ["retry"]

    @admin.action(description=_("Queue the selected failed analyses again"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Analysis]) -> None:
        queued = sum(
            1
            for analysis in queryset.filter(state=AnalysisState.FAILED)
            if services.analysis_retry(analysis=analysis)
        )
        self.message_user(request, ngettext("%d analysis queued.", "%d analyses queued.", queued) % queued)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "recording",
        "model_version",
        "species",
        "species_group",
        "confidence",
        "n_calls",
        "n_passes",
    ]
    list_filter = ["model_version", "species_group", "call_type"]
    search_fields = ["recording__original_name", "species"]
    list_select_related = ["recording", "model_version"]
    raw_id_fields = ["recording", "analysis"]
    readonly_fields = [f.name for f in Prediction._meta.fields]


@admin.register(CallDetection)
class CallDetectionAdmin(admin.ModelAdmin):
    list_display = ["analysis", "start_s", "species", "call_type", "confidence", "pass_index"]
    list_filter = ["call_type"]
    search_fields = ["species", "analysis__recording__original_name"]
    raw_id_fields = ["analysis"]


@admin.register(RenderedImage)
class RenderedImageAdmin(admin.ModelAdmin):
    list_display = ["analysis", "kind", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["analysis"]


# --- review, reports, API jobs, Xeno-Canto and training: mostly for looking, not editing -------------------
from classifier.models import (  # noqa: E402
    AnalysisJob,
    DoubleReview,
    DoubleReviewItem,
    LabelDecision,
    ReviewQueueEntry,
    SensitiveSpecies,
    TrainingRun,
    XenoCantoImport,
    XenoCantoRecording,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the app writes through its services; the admin only shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(LabelDecision)
class LabelDecisionAdmin(ReadOnlyAdmin):
    # Append-only audit trail: nothing is ever edited or deleted, here either.
    list_display = ("recording", "reviewer", "status", "kind", "bulk", "decided_at")
    list_filter = ("status", "kind", "bulk")
    search_fields = ("recording__original_name", "reviewer__username")
    raw_id_fields = ("recording", "prediction", "double_review_item")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ReviewQueueEntry)
class ReviewQueueEntryAdmin(ReadOnlyAdmin):
    list_display = ("recording", "project", "species", "confidence", "priority", "state")
    list_filter = ("state",)
    raw_id_fields = ("recording", "prediction", "project", "site", "visit")


@admin.register(DoubleReview)
class DoubleReviewAdmin(ReadOnlyAdmin):
    list_display = ("project", "requested_by", "requested_at", "size")


@admin.register(DoubleReviewItem)
class DoubleReviewItemAdmin(ReadOnlyAdmin):
    list_display = ("double_review", "recording", "state", "closed_at")
    raw_id_fields = ("recording",)


@admin.register(SensitiveSpecies)
class SensitiveSpeciesAdmin(admin.ModelAdmin):
    list_display = ("project", "species", "created_by", "created_at")
    list_filter = ("project",)


@admin.register(AnalysisJob)
class AnalysisJobAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "user", "state", "error_code", "created_at", "finished_at")
    list_filter = ("state",)


@admin.register(XenoCantoImport)
class XenoCantoImportAdmin(ReadOnlyAdmin):
    list_display = ("query", "limit", "state", "found", "imported", "skipped", "requested_by")
    list_filter = ("state",)


@admin.register(XenoCantoRecording)
class XenoCantoRecordingAdmin(ReadOnlyAdmin):
    list_display = ("xc_id", "scientific_name", "species", "licence_code", "recordist", "country")
    list_filter = ("licence_code", "species")
    search_fields = ("xc_id", "scientific_name", "recordist")


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "requested_by", "state", "preset", "stage", "epoch", "epochs")
    list_filter = ("state", "preset")
