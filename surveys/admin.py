"""Django admin for every survey model: the operator's (staff) view of all projects."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from surveys.models import ApiToken, Membership, Project, Recording, Site, Visit


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    fields = ["code", "name", "latitude", "longitude", "time_zone"]
    show_change_link = True


class DeletedFilter(admin.SimpleListFilter):
    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", _("Deleted")), ("no", _("Not deleted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> QuerySet[Project]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Managers delete projects softly on the site; staff see the deleted ones here and restore them.

    The admin's own hard delete is switched off: it would drop every recording row of the project but
    leave their files on disk, with nothing left that points at them.
    """

    list_display = ["name", "created_at", "created_by", "deleted_at", "deleted_by"]
    list_filter = [DeletedFilter]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "deleted_at", "deleted_by"]
    inlines = [MembershipInline, SiteInline]
    actions = ["restore"]

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return False

    @admin.action(description=_("Restore the selected deleted projects"))
    def restore(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        restored = 0
        for project in queryset.filter(deleted_at__isnull=False):
            project.restore()
            restored += 1
        self.message_user(
            request,
            ngettext("%(count)d project restored.", "%(count)d projects restored.", restored)
            % {"count": restored},
            messages.SUCCESS,
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "project", "time_zone", "latitude", "longitude"]
    list_filter = ["project"]
    search_fields = ["code", "name", "habitat"]


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ["site", "night", "purpose", "detector_model", "time_expansion", "created_by"]
    list_filter = ["purpose", "site__project"]
    search_fields = ["site__code", "site__name", "detector_serial", "observers"]
    date_hierarchy = "night"
    list_select_related = ["site"]


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "visit",
        "status",
        "recorded_at",
        "duration_s",
        "sample_rate_hz",
        "outside_night",
    ]
    list_filter = ["status", "outside_night", "project"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["sha256", "size_bytes", "created_at", "updated_at", "ingested_at"]
    list_select_related = ["visit__site"]
    raw_id_fields = ["visit"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created on the user's profile page (shown once); here staff can see and revoke them."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "key_sha256", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False
