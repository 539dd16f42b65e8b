"""Request and response shapes of the survey endpoints (pydantic, through ninja's Schema).

Field names follow the models; times are ISO 8601 (datetimes in UTC with offset, survey nights as dates,
visit start and end as site-local clock times, like on the visit form).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from ninja import Field, Schema
from pydantic import BeforeValidator, StrictFloat, StrictInt, StringConstraints

from surveys.models import Purpose, Rain, Recording, Role, Site, Visit

MAX_ID = 2**53 - 1  # ids beyond this are not ours, and JSON numbers above it lose precision
MAX_PAGE = 500
MAX_OFFSET = 10**9
MAX_SHA256_PER_LOOKUP = 1000

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
T = TypeVar("T")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    # pydantic would also read 0 or "2025-06-12T00:00" as a date; the schema promises YYYY-MM-DD.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]
# Visit start and end are site-local wall-clock times, without a date or offset (like on the visit form).
ClockTime = Annotated[
    str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"), Field(examples=["21:30"])
]


def clock_time(value: dt.time | None) -> str | None:
    return value.strftime("%H:%M:%S") if value is not None else None


class Page(Schema, Generic[T]):
    """One page of a list: `count` is the total, `items` the page (see `limit` and `offset`)."""

    count: int
    items: list[T]


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    role: Literal["fieldworker", "expert", "manager"] = Field(
        description="Your role in the project (staff act as managers of every project)."
    )
    created_at: dt.datetime


class SiteOut(Schema):
    id: int
    project_id: int
    code: str
    name: str
    latitude: float
    longitude: float
    time_zone: str
    habitat: str
    notes: str

    @staticmethod
    def resolve_project_id(site: Site) -> int:
        return site.project_id


class VisitIn(Schema):
    """A new visit: one night at one site with one detector (the same fields and rules as the web form).

    Numbers must be JSON numbers (not strings or booleans); times are HH:MM or HH:MM:SS, site-local."""

    night: IsoDate = Field(description="The date the survey night starts (nights run noon to noon).")
    start_time: ClockTime | None = Field(None, description="Site-local clock time the detector started.")
    end_time: ClockTime | None = Field(
        None, description="Site-local clock time it stopped (may be after midnight)."
    )
    purpose: Purpose = Purpose.OTHER
    detector_make: str = Field("", max_length=100)
    detector_model: str = Field("", max_length=100)
    detector_serial: str = Field("", max_length=100)
    microphone: str = Field("", max_length=100)
    time_expansion: StrictFloat = Field(
        1.0, ge=1, le=100, allow_inf_nan=False,
        description="1 for real-time full-spectrum detectors; 10 or 20 for time-expansion detectors.",
    )  # fmt: skip
    recording_settings: str = ""
    temperature_c: StrictFloat | None = Field(None, ge=-60, le=60, allow_inf_nan=False)
    wind_beaufort: StrictInt | None = Field(None, ge=0, le=12)
    rain: Rain = Rain.NONE
    observers: str = Field("", max_length=300)
    notes: str = ""


class VisitOut(Schema):
    id: int
    site_id: int
    project_id: int
    night: dt.date
    start_time: ClockTime | None
    end_time: ClockTime | None
    purpose: Purpose
    detector_make: str
    detector_model: str
    detector_serial: str
    microphone: str
    time_expansion: float
    recording_settings: str
    temperature_c: float | None
    wind_beaufort: int | None
    rain: Rain
    observers: str
    notes: str
    created_by: str | None = Field(description="Username of the member who created the visit.")
    created_at: dt.datetime

    @staticmethod
    def resolve_site_id(visit: Visit) -> int:
        return visit.site_id

    @staticmethod
    def resolve_project_id(visit: Visit) -> int:
        return visit.site.project_id

    @staticmethod
    def resolve_start_time(visit: Visit) -> str | None:
        return clock_time(visit.start_time)

    @staticmethod
    def resolve_end_time(visit: Visit) -> str | None:
        return clock_time(visit.end_time)

    @staticmethod
    def resolve_created_by(visit: Visit) -> str | None:
        return visit.created_by.get_username() if visit.created_by_id else None


class RecordingOut(Schema):
    """Storage and metadata state: `status` is uploaded, ingested, unusable or failed (`reason` says why)."""

    id: int
    project_id: int
    site_id: int
    visit_id: int
    original_name: str
    sha256: str
    size_bytes: int
    status: Literal["uploaded", "ingested", "unusable", "failed"]
    reason: str
    recorded_at: dt.datetime | None
    duration_s: float | None
    sample_rate_hz: int | None = Field(description="True sample rate: header rate x time expansion.")
    header_sample_rate_hz: int | None
    time_expansion: float | None
    channels: int | None
    outside_night: bool
    created_at: dt.datetime

    @staticmethod
    def resolve_site_id(recording: Recording) -> int:
        return recording.visit.site_id


class Sha256LookupIn(Schema):
    sha256: list[Sha256] = Field(min_length=1, max_length=MAX_SHA256_PER_LOOKUP)


class KnownRecordingOut(Schema):
    sha256: str
    recording_id: int
    visit_id: int


class Sha256LookupOut(Schema):
    """Which of the hashes sent the project already holds (in any visit), and which it does not."""

    known: list[KnownRecordingOut]
    missing: list[str]


class UploadFileOut(Schema):
    name: str
    status: Literal["accepted", "duplicate", "rejected"]
    message: str
    recording_id: int | None


class UploadOut(Schema):
    """One line per file (and per ZIP entry); `duplicate` files were already in the project."""

    accepted: int
    duplicate: int
    rejected: int
    files: list[UploadFileOut]


def role_label(role: str | None) -> str:
    return Role(role).value if role else Role.FIELDWORKER.value


def project_out(project: Any, role: str | None) -> dict[str, Any]:
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "role": role_label(role),
        "created_at": project.created_at,
    }
