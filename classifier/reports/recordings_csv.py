"""The recordings CSV: one row per recording x species, streamed (issue 8).

Place in the flow: step 6. Rows come from `results.recording_results` one chunk at a time and leave as
UTF-8 text in blocks of about 64 KiB, so a 100,000-row export never holds more than one chunk in memory.

Per species row: `auto_species` is the row's species when the model listed it, `reviewed_species` when the
deciding reviewer listed it, `final_species` when the final label holds it (so a species the expert removed
shows the model's name with an empty final column, and one the expert added the reverse). Call types, the
confidence and the review columns belong to the recording and repeat on each of its rows; lists are joined
with ";", main first (the dataset format's convention). A recording without any label yet (not analysed)
still gets one row, with the species columns empty. Times are site-local ISO 8601 with their UTC offset.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Iterator
from functools import lru_cache

from django.db.models import QuerySet

from classifier.reports.filters import ReportFilters
from classifier.reports.results import CHUNK_SIZE, RecordingResult, recording_results
from classifier.reports.sensitive import blur
from ml import labels
from surveys.models import Recording, Site

COLUMNS = (
    "project", "site_code", "site_name", "latitude", "longitude", "survey_night", "recorded_at", "file_name",
    "duration_s", "sample_rate_hz", "time_expansion", "auto_species", "auto_group", "auto_call_types",
    "confidence", "model_version", "passes", "feeding_buzzes", "social_calls", "review_status",
    "reviewed_species", "reviewed_call_type", "reviewer", "reviewed_at", "final_species", "final_call_type",
    "sha256",
)  # fmt: skip
FLUSH_BYTES = 64 * 1024  # size of the text blocks handed to the response


@lru_cache(maxsize=65536)  # durations, rates and confidences repeat across 100,000 rows
def number(value: float | int | None) -> str:
    """Plain decimal text: no exponent, no trailing zeros, at most six decimals; "" for unknown."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def local_iso(moment: dt.datetime | None, tz) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment is not None else ""


def site_columns(site: Site, *, blurred: bool) -> list[str]:
    """project ... longitude: the same for every row of a site, so built once per site and report."""
    latitude, longitude = site.latitude, site.longitude
    if blurred:
        latitude, longitude = blur(latitude), blur(longitude)
    return [site.project.name, site.code, site.name, number(latitude), number(longitude)]


def rows_of(result: RecordingResult, *, site_columns: list[str]) -> Iterator[list[str]]:
    """The CSV rows of one recording, columns in COLUMNS order (lists, not dicts: 100,000 rows add up)."""
    recording, prediction, label = result.recording, result.prediction, result.label
    file_columns = [  # project ... time_expansion
        *site_columns, result.night.isoformat(),
        result.local_time.isoformat(timespec="seconds") if result.local_time else "", recording.original_name,
        number(recording.duration_s), number(recording.sample_rate_hz), number(recording.time_expansion),
    ]  # fmt: skip
    model_columns = (  # auto_call_types, confidence, model_version
        [";".join(prediction.call_types), number(round(prediction.confidence, 4)), prediction.model_version]
        if prediction else ["", "", ""]
    )  # fmt: skip
    review_columns = [  # reviewed_call_type, reviewer, reviewed_at
        ";".join(label.reviewed_call_types),
        label.reviewer,
        local_iso(label.reviewed_at, recording.site.tz) if label.reviewed_at else "",
    ]
    final_call_type = ";".join(label.call_types)
    if not result.species:
        yield [*file_columns, "", "", *model_columns, "", "", "", label.review_status, "", *review_columns, "",
               final_call_type, recording.sha256]  # fmt: skip
        return
    for found in result.species:
        auto = found.species if found.auto else ""
        yield [
            *file_columns,
            auto, labels.group_of(auto) if auto else "",  # auto_species, auto_group
            *model_columns,
            str(found.passes), str(found.feeding_buzzes), str(found.social_calls),
            label.review_status, found.species if found.reviewed else "",  # reviewed_species
            *review_columns,
            found.species if found.final else "", final_call_type,  # final_species, final_call_type
            recording.sha256,
        ]  # fmt: skip


def recordings_csv(
    recordings: QuerySet[Recording],
    *,
    filters: ReportFilters | None = None,
    blurred_site_ids: Collection[int] = frozenset(),
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[str]:
    """The CSV text in blocks: the header first, then the rows of each chunk of recordings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    sites: dict[int, list[str]] = {}
    for result in recording_results(recordings, filters=filters, pass_times=False, chunk_size=chunk_size):
        site = result.recording.site
        if site.pk not in sites:
            sites[site.pk] = site_columns(site, blurred=site.pk in blurred_site_ids)
        writer.writerows(rows_of(result, site_columns=sites[site.pk]))
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
