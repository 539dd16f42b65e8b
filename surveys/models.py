"""Projects, members, sites, visits and recordings.

Access always starts from the user: `Project.objects.for_user(user)` and the `for_user` methods of the
other querysets are the one place that decides what a user may see (ARCHITECTURE.md, Access).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(models.TextChoices):
    FIELDWORKER = "fieldworker", _("fieldworker")
    EXPERT = "expert", _("expert")
    MANAGER = "manager", _("manager")


ROLE_RANK = {Role.FIELDWORKER: 1, Role.EXPERT: 2, Role.MANAGER: 3}


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(value)s is not a known time zone (e.g. Europe/Amsterdam)."), params={"value": value})


class ProjectQuerySet(models.QuerySet["Project"]):
    def active(self) -> ProjectQuerySet:
        return self.filter(deleted_at__isnull=True)

    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> ProjectQuerySet:
        """Projects the user may see: staff see every project, others those they are a member of."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        live = self.active()
        if user.is_staff:
            return live
        return live.filter(memberships__user=user).distinct()


class Project(models.Model):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Deleting is soft: the project leaves every list, page and API answer, but its rows and files stay,
    # so staff can restore it (Django admin, "Restore") when a manager deleted the wrong one.
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deleted by"),
    )

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def mark_deleted(self, *, by: AbstractBaseUser | None) -> None:
        """Soft delete; deleting a deleted project again keeps the first time and person."""
        if self.deleted_at is not None:
            return
        self.deleted_at = timezone.now()
        self.deleted_by = by
        self.save(update_fields=["deleted_at", "deleted_by"])

    def restore(self) -> None:
        self.deleted_at = None
        self.deleted_by = None
        self.save(update_fields=["deleted_at", "deleted_by"])

    def role_of(self, user: AbstractBaseUser | AnonymousUser) -> str | None:
        """The user's role here; staff act as managers of every project.

        Read once per project instance and user (a page asks several times; instances live for one
        request), as the bare role column: Membership's default ordering would join project and user."""
        if not user.is_authenticated:
            return None
        if user.is_staff:
            return Role.MANAGER
        roles = self.__dict__.setdefault("_roles_read", {})
        if user.pk not in roles:
            found = self.memberships.filter(user=user).order_by().values_list("role", flat=True)[:1]
            roles[user.pk] = next(iter(found), None)
        return roles[user.pk]

    def user_has_role(self, user: AbstractBaseUser | AnonymousUser, minimum: str) -> bool:
        role = self.role_of(user)
        return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.FIELDWORKER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_membership_per_user")]
        ordering = ["project", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class SiteQuerySet(models.QuerySet["Site"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> SiteQuerySet:
        return self.filter(project__in=Project.objects.for_user(user))


class Site(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sites")
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    latitude = models.FloatField(_("latitude"), validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(_("longitude"), validators=[MinValueValidator(-180), MaxValueValidator(180)])
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=settings.DEFAULT_SITE_TIME_ZONE, validators=[validate_time_zone]
    )
    habitat = models.CharField(_("habitat"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SiteQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "code"], name="site_code_unique_in_project")]
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Purpose(models.TextChoices):
    MATERNITY_ROOST = "maternity_roost", _("maternity roost")
    SUMMER_ROOST = "summer_roost", _("summer roost")
    MATING_ROOST = "mating_roost", _("mating roost")
    WINTER_ROOST = "winter_roost", _("winter roost")
    FLIGHT_ROUTE = "flight_route", _("flight route")
    FORAGING_AREA = "foraging_area", _("foraging area")
    OTHER = "other", _("other")


class Rain(models.TextChoices):
    NONE = "none", _("none")
    DRIZZLE = "drizzle", _("drizzle")
    RAIN = "rain", _("rain")


class VisitQuerySet(models.QuerySet["Visit"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> VisitQuerySet:
        return self.filter(site__project__in=Project.objects.for_user(user))


NIGHT_BOUNDARY = dt.time(12, 0)  # a survey night runs noon to noon, site-local


class Visit(models.Model):
    """One night at one site with one detector."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visits")
    night = models.DateField(_("survey night"), help_text=_("The date the night starts (noon to noon)."))
    start_time = models.TimeField(_("start time"), null=True, blank=True)
    end_time = models.TimeField(_("end time"), null=True, blank=True)
    detector_make = models.CharField(_("detector make"), max_length=100, blank=True)
    detector_model = models.CharField(_("detector model"), max_length=100, blank=True)
    detector_serial = models.CharField(_("detector serial"), max_length=100, blank=True)
    microphone = models.CharField(_("microphone"), max_length=100, blank=True)
    time_expansion = models.FloatField(
        _("time-expansion factor"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("1 for real-time full-spectrum detectors; 10 or 20 for time-expansion detectors."),
    )
    recording_settings = models.TextField(_("recording settings"), blank=True)
    temperature_c = models.FloatField(_("temperature (°C)"), null=True, blank=True)
    wind_beaufort = models.PositiveSmallIntegerField(
        _("wind (Beaufort)"), null=True, blank=True, validators=[MaxValueValidator(12)]
    )
    rain = models.CharField(_("rain"), max_length=10, choices=Rain.choices, default=Rain.NONE)
    observers = models.CharField(_("observers"), max_length=300, blank=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.OTHER)
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisitQuerySet.as_manager()

    class Meta:
        ordering = ["-night", "site__code"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")

    def __str__(self) -> str:
        return f"{self.site.code} {self.night.isoformat()}"

    @property
    def project(self) -> Project:
        return self.site.project

    def night_window_utc(self) -> tuple[dt.datetime, dt.datetime]:
        """Noon to noon in the site's zone, as aware datetimes."""
        tz = self.site.tz
        start = dt.datetime.combine(self.night, NIGHT_BOUNDARY, tzinfo=tz)
        end = dt.datetime.combine(self.night + dt.timedelta(days=1), NIGHT_BOUNDARY, tzinfo=tz)
        return start, end

    def survey_window_local(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Visit start and end as site-local datetimes (end after midnight rolls into the next day)."""
        if self.start_time is None or self.end_time is None:
            return None
        tz = self.site.tz
        start_day = self.night if self.start_time >= NIGHT_BOUNDARY else self.night + dt.timedelta(days=1)
        start = dt.datetime.combine(start_day, self.start_time, tzinfo=tz)
        end = dt.datetime.combine(start_day, self.end_time, tzinfo=tz)
        if end <= start:
            end += dt.timedelta(days=1)
        return start, end

    def contains(self, moment: dt.datetime) -> bool:
        start, end = self.night_window_utc()
        return start <= moment < end


class RecordingStatus(models.TextChoices):
    UPLOADED = "uploaded", _("uploaded")
    INGESTED = "ingested", _("ingested")
    UNUSABLE = "unusable", _("unusable")
    FAILED = "failed", _("failed")


class RecordingCounts(NamedTuple):
    """How many recordings there are per status, and how many are stamped outside their night."""

    by_status: dict[str, int]
    outside_night: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


class RecordingQuerySet(models.QuerySet["Recording"]):
    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> RecordingQuerySet:
        return self.filter(project__in=Project.objects.for_user(user))

    def waiting(self) -> RecordingQuerySet:
        return self.filter(status=RecordingStatus.UPLOADED)

    def counts(self) -> RecordingCounts:
        """Per status and outside the night, in one grouped query (a night's page and its progress poll)."""
        by_status: dict[str, int] = {}
        outside_night = 0
        for status, n, outside in (
            self.order_by()
            .values_list("status")
            .annotate(n=models.Count("pk"), outside=models.Count("pk", filter=models.Q(outside_night=True)))
            .values_list("status", "n", "outside")
        ):
            by_status[status] = n
            outside_night += outside
        return RecordingCounts(by_status, outside_night)


def recording_upload_to(instance: Recording, filename: str) -> str:
    # Stored under the content hash: names from detectors collide across nights, hashes do not.
    return f"recordings/{instance.project_id}/{instance.sha256[:2]}/{instance.sha256}.wav"


class Recording(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="recordings")
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="recordings")
    file = models.FileField(_("file"), upload_to=recording_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(_("original file name"), max_length=300)
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)
    duration_s = models.FloatField(_("duration (s)"), null=True, blank=True)
    sample_rate_hz = models.PositiveIntegerField(_("true sample rate (Hz)"), null=True, blank=True)
    header_sample_rate_hz = models.PositiveIntegerField(_("header sample rate (Hz)"), null=True, blank=True)
    time_expansion = models.FloatField(_("time-expansion factor"), null=True, blank=True)
    channels = models.PositiveSmallIntegerField(_("channels"), null=True, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    sidecar_xml = models.TextField(_("detector XML sidecar"), blank=True)
    outside_night = models.BooleanField(_("outside the visit's night"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=RecordingStatus.choices, default=RecordingStatus.UPLOADED, db_index=True
    )
    reason = models.TextField(_("reason"), blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    objects = RecordingQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="recording_unique_in_project")]
        indexes = [models.Index(fields=["visit", "recorded_at"])]
        ordering = ["recorded_at", "original_name"]
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")

    def __str__(self) -> str:
        return self.original_name

    def local_recorded_at(self) -> dt.datetime | None:
        if self.recorded_at is None:
            return None
        return timezone.localtime(self.recorded_at, self.visit.site.tz)

    def mark_ingested(self, **fields: object) -> None:
        self._set_state(RecordingStatus.INGESTED, "", **fields)

    def mark_unusable(self, reason: str, **fields: object) -> None:
        self._set_state(RecordingStatus.UNUSABLE, reason, **fields)

    def _set_state(self, status: str, reason: str, **fields: object) -> None:
        # update_fields: a recording deleted meanwhile must not be re-inserted without its file.
        for name, value in fields.items():
            setattr(self, name, value)
        self.status = status
        self.reason = reason
        self.ingested_at = timezone.now()
        self.save(update_fields=[*fields, "status", "reason", "ingested_at", "updated_at"])

    def mark_failed(self, error: str) -> None:
        self.status = RecordingStatus.FAILED
        self.reason = error
        self.save(update_fields=["status", "reason", "updated_at"])


# --- API tokens (issue 9) ---------------------------------------------------------------------------------
# A personal key for the JSON API, made and revoked by its owner on the profile page (surveys.tokens).


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """Only the key's SHA-256 is stored: the key itself is shown once, when it is made, and never again.

    A database leak then gives nobody API access; the prefix is kept in clear so the owner can tell their
    keys apart (and match one in a script to its row here).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=16)
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
