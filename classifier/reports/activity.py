"""The nightly activity summary: one row per site x survey night x species, built with pandas (issue 8).

Place in the flow: step 6. Counts follow the final labels (`results`); a pass is a run of calls of one
species (ARCHITECTURE.md, Labels), timed by its first call: recorded_at + the call's offset in the file.

Columns, per site x night x species:
- recordings: recordings whose final label holds the species; reviewed: those of them an expert decided;
- passes; auto_passes: the passes the model alone gives it (also filled for the rows of species only the
  model found, which are listed when the "automatic labels too" filter is on, with recordings = 0);
- recording_hours: the summed length of the night's visits at the site (start to end time, detector-hours);
  passes_per_hour = passes / recording_hours (empty without visit times);
- passes_12h ... passes_11h: passes per clock hour of the night (site-local; 22h = 22:00-22:59);
- first_pass / last_pass: site-local ISO times; sunset (of the night's date) and sunrise (the next morning)
  from astral at the site's position; first_pass_min_after_sunset, last_pass_min_before_sunrise;
- feeding_buzzes, social_calls: calls of those types in the species' passes;
- visits and the protocol columns: the night's visits checked against the species' own protocol row (else
  the purpose's default), each check the worst over the night's visits; protocol_issues names what failed;
- hints: evidence hints (protocol_rules.json), e.g. Pipistrellus social calls in late summer.
A night with a visit but no bat passes gets one row with an empty species, so protocol columns and the fact
that nothing flew are in the file. Passes of recordings without a timestamp count, but have no hour bin.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection

import pandas as pd
from django.db.models import QuerySet

from classifier.reports import protocol
from classifier.reports.filters import ReportFilters
from classifier.reports.results import recording_results
from classifier.reports.sensitive import blur
from classifier.reports.sun import sun_times
from ml import labels
from surveys.models import Recording, Site, Visit

HOURS_OF_NIGHT = (*range(12, 24), *range(0, 12))  # noon to noon
HOUR_COLUMNS = tuple(f"passes_{hour:02d}h" for hour in HOURS_OF_NIGHT)
PROTOCOL_COLUMNS = tuple(f"protocol_{name}" for name in protocol.CHECK_NAMES)
COLUMNS = (
    "project", "site_code", "site_name", "latitude", "longitude", "night", "species", "species_group",
    "recordings", "reviewed", "passes", "auto_passes", "recording_hours", "passes_per_hour", *HOUR_COLUMNS,
    "first_pass", "last_pass", "sunset", "sunrise", "first_pass_min_after_sunset", "last_pass_min_before_sunrise",
    "feeding_buzzes", "social_calls", "visits", "protocol", *PROTOCOL_COLUMNS, "protocol_issues", "hints",
)  # fmt: skip
_KEYS = ["site_id", "night", "species"]
_COUNTS = ["recordings", "reviewed", "passes", "auto_passes", "feeding_buzzes", "social_calls"]


def _iso(moment: dt.datetime | None, tz) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment is not None else ""


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _collect(recordings: QuerySet[Recording], filters: ReportFilters, sites: dict[int, Site]
             ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Two long tables: one row per recording x species, one row per timed pass."""
    species_rows: list[tuple] = []
    pass_rows: list[tuple] = []
    for result in recording_results(recordings, filters=filters):
        site = result.recording.site
        sites.setdefault(site.pk, site)
        reviewed = result.label.source == "review"
        for found in result.species:
            if found.species == labels.NOISE or not (found.final or (filters.auto_labels and found.auto)):
                continue
            species_rows.append((
                site.pk, result.night, found.species, int(found.final), int(found.final and reviewed),
                found.passes, found.auto_passes, found.feeding_buzzes, found.social_calls,
            ))  # fmt: skip
            if result.recording.recorded_at is None:
                continue
            for start_s in found.pass_starts_s:
                moment = result.recording.recorded_at + dt.timedelta(seconds=start_s)
                pass_rows.append(
                    (site.pk, result.night, found.species, moment, moment.astimezone(site.tz).hour)
                )
    return (
        pd.DataFrame(species_rows, columns=[*_KEYS, *_COUNTS]),
        pd.DataFrame(pass_rows, columns=[*_KEYS, "moment", "hour"]),
    )


def _counts(species: pd.DataFrame, passes: pd.DataFrame) -> pd.DataFrame:
    """Per site x night x species: summed counts, passes per hour bin, first and last pass (UTC)."""
    table = species.groupby(_KEYS, as_index=False)[_COUNTS].sum()
    if passes.empty:
        for column in HOUR_COLUMNS:
            table[column] = 0
        table["first"] = table["last"] = None
        return table
    bins = pd.crosstab([passes[k] for k in _KEYS], passes["hour"])
    bins = bins.reindex(columns=list(HOURS_OF_NIGHT), fill_value=0)
    bins.columns = list(HOUR_COLUMNS)
    times = passes.groupby(_KEYS)["moment"].agg(first="min", last="max")
    table = table.merge(bins.reset_index(), on=_KEYS, how="left").merge(
        times.reset_index(), on=_KEYS, how="left"
    )
    table[list(HOUR_COLUMNS)] = table[list(HOUR_COLUMNS)].fillna(0).astype(int)
    return table


def activity_summary(
    recordings: QuerySet[Recording],
    visits: QuerySet[Visit],
    *,
    filters: ReportFilters | None = None,
    blurred_site_ids: Collection[int] = frozenset(),
) -> pd.DataFrame:
    """The summary of the recordings and visits given (a site's or a project's), columns as COLUMNS."""
    filters = filters or ReportFilters()
    all_visits = list(visits.select_related("site__project").order_by("night", "pk"))
    previous = protocol.previous_nights(all_visits)  # gaps count visits outside the date range too
    in_range = {v.pk for v in filters.visits(visits)}
    visits_by_night: dict[tuple[int, dt.date], list[Visit]] = defaultdict(list)
    sites: dict[int, Site] = {}
    for visit in all_visits:
        if visit.pk in in_range:
            visits_by_night[(visit.site_id, visit.night)].append(visit)
            sites.setdefault(visit.site_id, visit.site)

    species, passes = _collect(recordings, filters, sites)
    table = _counts(species, passes)
    seen = set(zip(table["site_id"], table["night"], strict=True))
    quiet = [{"site_id": s, "night": n, "species": ""} for (s, n) in visits_by_night if (s, n) not in seen]
    if quiet:
        table = pd.concat([table, pd.DataFrame(quiet)], ignore_index=True)
        table[[*_COUNTS, *HOUR_COLUMNS]] = table[[*_COUNTS, *HOUR_COLUMNS]].fillna(0).astype(int)

    rows = [
        _row(
            record,
            sites[record["site_id"]],
            visits_by_night.get((record["site_id"], record["night"]), []),
            previous,
            blurred=record["site_id"] in blurred_site_ids,
        )  # fmt: skip
        for record in table.to_dict("records")
    ]
    summary = pd.DataFrame(rows, columns=list(COLUMNS))
    if not summary.empty:
        summary = summary.sort_values(
            ["site_code", "night", "passes", "species"], ascending=[True, True, False, True], kind="stable"
        ).reset_index(drop=True)
    return summary


def _row(record: dict, site: Site, visits: list[Visit], previous: dict[int, dt.date | None], *,
         blurred: bool) -> dict:  # fmt: skip
    night: dt.date = record["night"]
    name: str = record["species"]
    sun = sun_times(site.latitude, site.longitude, night, site.time_zone)
    first = _timestamp(record.get("first"))
    last = _timestamp(record.get("last"))
    hours = [h for h in (protocol.visit_hours(v) for v in visits) if h is not None]
    recording_hours = sum(hours) if hours else None
    first_after_sunset = sun.minutes_after_sunset(first) if first else None
    checks = [
        protocol.check_visit(v, previous_night=previous.get(v.pk), species=name or None) for v in visits
    ]
    row = {
        "project": site.project.name,
        "site_code": site.code,
        "site_name": site.name,
        "latitude": blur(site.latitude) if blurred else site.latitude,
        "longitude": blur(site.longitude) if blurred else site.longitude,
        "night": night,
        "species": name,
        "species_group": labels.group_of(name) if name else "",
        **{column: int(record[column]) for column in (*_COUNTS, *HOUR_COLUMNS)},
        "recording_hours": _round(recording_hours, 2),
        "passes_per_hour": _round(record["passes"] / recording_hours, 2) if recording_hours else None,
        "first_pass": _iso(first, site.tz),
        "last_pass": _iso(last, site.tz),
        "sunset": _iso(sun.sunset, site.tz),
        "sunrise": _iso(sun.sunrise, site.tz),
        "first_pass_min_after_sunset": _round(first_after_sunset, 1),
        "last_pass_min_before_sunrise": _round(sun.minutes_before_sunrise(last), 1) if last else None,
        "visits": len(visits),
        "protocol": protocol.worst(c.status for c in checks) if checks else "",
        **{
            f"protocol_{check}": protocol.worst(c.check(check).status for c in checks) if checks else ""
            for check in protocol.CHECK_NAMES
        },
        "protocol_issues": "; ".join(
            dict.fromkeys(f"{f.name}: {f.measured} ({f.required})" for c in checks for f in c.failures)
        ),
        "hints": " ".join(
            protocol.hints_for(species=name, night=night, social_calls=int(record["social_calls"]),
                               feeding_buzzes=int(record["feeding_buzzes"]),
                               first_pass_min_after_sunset=first_after_sunset)  # fmt: skip
        ) if name else "",
    }  # fmt: skip
    return row


def _timestamp(value: object) -> dt.datetime | None:
    if value is None or pd.isna(value):  # NaT is a datetime too
        return None
    return pd.Timestamp(value).to_pydatetime()


def summary_records(summary: pd.DataFrame) -> list[dict]:
    """The rows as dicts for a page, with None (not NaN) for unknown values."""
    return summary.astype(object).where(summary.notna(), None).to_dict("records")


def summary_csv(summary: pd.DataFrame) -> str:
    """The summary as CSV text (UTF-8 when encoded); empty cells for unknown values."""
    return summary.to_csv(index=False, columns=list(COLUMNS), na_rep="", lineterminator="\r\n")
