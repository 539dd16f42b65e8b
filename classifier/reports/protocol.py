"""Protocol checks per visit and evidence hints, against the Dutch Vleermuisprotocol (bats.md 5.1).

Place in the flow: step 6 (reports). The protocol values are data (`protocol_rules.json`, loaded once and
validated here), so an update of the protocol is an edit of that file, not of this code.

A visit names its purpose (maternity roost, mating roost, ...) but not its target species, so a visit is
checked against the purpose's default row (the common pipistrelle's, the protocol's usual target; winter
roosts: the row for all species). The nightly summary has a species per row and uses that species' own row
where the protocol has one (e.g. noctule maternity roost: at least 12 °C), else the default.

Each check answers ok, fail, unknown (the visit does not record the value) or n/a (the protocol sets no
value, or the purpose is "other").
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from classifier.reports.sun import SunTimes, sun_times
from surveys.models import NIGHT_BOUNDARY, Purpose, Rain, Visit

RULES_PATH = Path(__file__).with_name("protocol_rules.json")

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"
NOT_APPLICABLE = "n/a"
_SEVERITY = {NOT_APPLICABLE: 0, OK: 1, UNKNOWN: 2, FAIL: 3}

CHECK_NAMES = ("season", "start", "duration", "temperature", "wind", "rain", "gap")
CHECK_LABELS = {
    "season": gettext_lazy("date in season"),
    "start": gettext_lazy("start vs. sunset"),
    "duration": gettext_lazy("duration"),
    "temperature": gettext_lazy("temperature"),
    "wind": gettext_lazy("wind"),
    "rain": gettext_lazy("rain"),
    "gap": gettext_lazy("gap to previous visit"),
}
# Visits of one purpose further apart than this belong to different seasons, so no gap rule links them.
SAME_SEASON_DAYS = 183
_RAIN_RANK = {Rain.NONE: 0, Rain.DRIZZLE: 1, Rain.RAIN: 2}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class SeasonWindow:
    """An inclusive window of the year, [start, end] as (month, day); start after end runs over new year."""

    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, day: dt.date) -> bool:
        key = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end

    def __str__(self) -> str:
        return f"{self.start[1]} {_MONTHS[self.start[0] - 1]}–{self.end[1]} {_MONTHS[self.end[0] - 1]}"


@dataclass(frozen=True)
class ProtocolRule:
    id: str
    function_nl: str
    purposes: tuple[str, ...]
    species: tuple[str, ...]
    default: bool
    season: tuple[SeasonWindow, ...]
    visits: int | None
    visit_hours: float | None
    min_gap_days: int | None
    start_min_after_sunset: int | None
    mornings_only: bool
    min_temperature_c: float | None
    max_wind_bft: int | None
    rain: str | None  # the worst precipitation allowed
    timing: str
    note: str

    @property
    def season_text(self) -> str:
        return " & ".join(str(window) for window in self.season)


@dataclass(frozen=True)
class HintRule:
    id: str
    species_prefix: str  # "" for any bat
    call_type: str | None  # the calls that count towards min_calls
    min_calls: int
    season: tuple[SeasonWindow, ...]
    first_pass_within_min_after_sunset: float | None
    message: str
    source: str

    def applies(self, *, species: str, night: dt.date, social_calls: int, feeding_buzzes: int,
                first_pass_min_after_sunset: float | None) -> bool:  # fmt: skip
        if not species.startswith(self.species_prefix) or not any(w.contains(night) for w in self.season):
            return False
        calls = {"social_call": social_calls, "feeding_buzz": feeding_buzzes}.get(self.call_type or "", 0)
        if self.call_type is not None and calls < self.min_calls:
            return False
        if self.first_pass_within_min_after_sunset is not None:
            return (
                first_pass_min_after_sunset is not None
                and 0 <= first_pass_min_after_sunset <= self.first_pass_within_min_after_sunset
            )
        return True


@dataclass(frozen=True)
class ProtocolRules:
    protocol: str
    source: str
    rules: tuple[ProtocolRule, ...]
    hints: tuple[HintRule, ...]

    def rule_for(self, purpose: str, species: str | None = None) -> ProtocolRule | None:
        """The species' own row for this purpose, else the purpose's default row; None for "other"."""
        candidates = [rule for rule in self.rules if purpose in rule.purposes]
        if species:
            own = next((rule for rule in candidates if species in rule.species), None)
            if own is not None:
                return own
        return next((rule for rule in candidates if rule.default), None)


def _window(pair: Sequence[str]) -> SeasonWindow:
    start, end = (tuple(int(part) for part in text.split("-")) for text in pair)
    for month, day in (start, end):
        dt.date(2024, month, day)  # raises ValueError on 02-30 and the like (2024: a leap year)
    return SeasonWindow(start=start, end=end)  # type: ignore[arg-type]


def parse_rules(data: dict) -> ProtocolRules:
    """Validate the JSON document; a bad entry raises ValueError naming its id."""
    purposes = set(Purpose.values)
    rains = {None, *_RAIN_RANK}
    rules = []
    for entry in data["rules"]:
        try:
            rule = ProtocolRule(
                id=entry["id"],
                function_nl=entry["function_nl"],
                purposes=tuple(entry["purposes"]),
                species=tuple(entry["species"]),
                default=bool(entry.get("default", False)),
                season=tuple(_window(pair) for pair in entry["season"]),
                visits=entry["visits"],
                visit_hours=entry["visit_hours"],
                min_gap_days=entry["min_gap_days"],
                start_min_after_sunset=entry["start_min_after_sunset"],
                mornings_only=bool(entry["mornings_only"]),
                min_temperature_c=entry["min_temperature_c"],
                max_wind_bft=entry["max_wind_bft"],
                rain=entry["rain"],
                timing=entry["timing"],
                note=entry["note"],
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"protocol rule {entry.get('id', '?')!r}: {error!r}") from error
        if not set(rule.purposes) <= purposes or rule.rain not in rains or not rule.season:
            raise ValueError(f"protocol rule {rule.id!r}: unknown purpose or rain value, or no season")
        rules.append(rule)
    for purpose in purposes - {Purpose.OTHER}:
        if sum(1 for rule in rules if rule.default and purpose in rule.purposes) != 1:
            raise ValueError(f"purpose {purpose!r} needs exactly one default protocol rule")
    hints = []
    for entry in data["hints"]:
        try:
            hints.append(
                HintRule(
                    id=entry["id"],
                    species_prefix=entry["species_prefix"],
                    call_type=entry["call_type"],
                    min_calls=int(entry["min_calls"]),
                    season=tuple(_window(pair) for pair in entry["season"]),
                    first_pass_within_min_after_sunset=entry["first_pass_within_min_after_sunset"],
                    message=entry["message"],
                    source=entry["source"],
                )
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"hint {entry.get('id', '?')!r}: {error!r}") from error
    return ProtocolRules(
        protocol=data["protocol"], source=data["source"], rules=tuple(rules), hints=tuple(hints)
    )


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> ProtocolRules:
    return parse_rules(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    name: str  # one of CHECK_NAMES
    status: str  # ok, fail, unknown, n/a
    measured: str  # what the visit did, in words
    required: str  # what the protocol asks, in words

    @property
    def label(self) -> str:
        return str(CHECK_LABELS[self.name])


@dataclass(frozen=True)
class VisitProtocol:
    """The protocol checks of one visit (for one species' rule, or the purpose's default)."""

    visit: Visit
    rule: ProtocolRule | None
    sun: SunTimes
    start_min_after_sunset: float | None
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        return worst(check.status for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.status == FAIL)


def worst(statuses: Iterable[str]) -> str:
    """fail over unknown over ok over n/a: one failed check fails the visit."""
    return max(statuses, key=_SEVERITY.__getitem__, default=NOT_APPLICABLE)


def visit_start_local(visit: Visit) -> dt.datetime | None:
    """The visit's start as a site-local datetime; a start before noon is the morning after the night."""
    if visit.start_time is None:
        return None
    day = visit.night if visit.start_time >= NIGHT_BOUNDARY else visit.night + dt.timedelta(days=1)
    return dt.datetime.combine(day, visit.start_time, tzinfo=visit.site.tz)


def visit_hours(visit: Visit) -> float | None:
    window = visit.survey_window_local()
    if window is None:
        return None
    return (window[1] - window[0]).total_seconds() / 3600


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def check_visit(
    visit: Visit,
    *,
    previous_night: dt.date | None,
    species: str | None = None,
    rules: ProtocolRules | None = None,
) -> VisitProtocol:
    """Every check of one visit; `previous_night`: the last earlier visit of the same purpose at the site."""
    rules = rules or load_rules()
    rule = rules.rule_for(visit.purpose, species)
    site = visit.site
    sun = sun_times(site.latitude, site.longitude, visit.night, site.time_zone)
    start = visit_start_local(visit)
    start_after_sunset = sun.minutes_after_sunset(start) if start is not None else None
    if rule is None:
        checks = tuple(
            Check(name, NOT_APPLICABLE, "", _("no protocol for this purpose")) for name in CHECK_NAMES
        )
    else:
        checks = (
            _season(visit, rule),
            _start(visit, rule, sun, start_after_sunset),
            _duration(visit, rule),
            _temperature(visit, rule),
            _wind(visit, rule),
            _rain(visit, rule),
            _gap(visit, rule, previous_night),
        )
    return VisitProtocol(
        visit=visit, rule=rule, sun=sun, start_min_after_sunset=start_after_sunset, checks=checks
    )


def _season(visit: Visit, rule: ProtocolRule) -> Check:
    inside = any(window.contains(visit.night) for window in rule.season)
    return Check("season", OK if inside else FAIL, visit.night.isoformat(), rule.season_text)


def _start(visit: Visit, rule: ProtocolRule, sun: SunTimes, after_sunset: float | None) -> Check:
    if rule.mornings_only:
        required = _("a morning visit (starting after midnight)")
        if visit.start_time is None:
            return Check("start", UNKNOWN, _("start time not recorded"), required)
        morning = visit.start_time < NIGHT_BOUNDARY
        measured = _("morning visit") if morning else _("evening visit")
        return Check("start", OK if morning else FAIL, measured, required)
    if rule.start_min_after_sunset is None:
        return Check("start", NOT_APPLICABLE, "", rule.timing)
    minimum = rule.start_min_after_sunset
    required = (
        _("start at sunset or later")
        if minimum == 0
        else _("start at least %(n)d min after sunset") % {"n": minimum}
    )
    if after_sunset is None:
        measured = (
            _("start time not recorded")
            if visit.start_time is None
            else _("no sunset at this place and date")
        )
        return Check("start", UNKNOWN, measured, required)
    minutes = round(after_sunset)  # visit times are whole minutes; a few seconds are no protocol breach
    sunset_text = sun.sunset.strftime("%H:%M") if sun.sunset else ""
    if minutes >= 0:
        measured = _("%(n)d min after sunset (%(sunset)s)") % {"n": minutes, "sunset": sunset_text}
    else:
        measured = _("%(n)d min before sunset (%(sunset)s)") % {"n": -minutes, "sunset": sunset_text}
    return Check("start", OK if minutes >= minimum else FAIL, measured, required)


def _duration(visit: Visit, rule: ProtocolRule) -> Check:
    if rule.visit_hours is None:
        return Check("duration", NOT_APPLICABLE, "", "")
    required = _("at least %(h)s h") % {"h": _fmt_number(rule.visit_hours)}
    hours = visit_hours(visit)
    if hours is None:
        return Check("duration", UNKNOWN, _("start or end time not recorded"), required)
    # a visit from 21:59 to 23:59 is 2 h; compare in whole minutes so float noise never fails it
    ok = round(hours * 60) >= round(rule.visit_hours * 60)
    return Check("duration", OK if ok else FAIL, f"{hours:.2f} h", required)


def _temperature(visit: Visit, rule: ProtocolRule) -> Check:
    if rule.min_temperature_c is None:
        return Check("temperature", NOT_APPLICABLE, "", "")
    required = _("at least %(t)s °C") % {"t": _fmt_number(rule.min_temperature_c)}
    if visit.temperature_c is None:
        return Check("temperature", UNKNOWN, _("not recorded"), required)
    ok = visit.temperature_c >= rule.min_temperature_c
    return Check("temperature", OK if ok else FAIL, f"{_fmt_number(visit.temperature_c)} °C", required)


def _wind(visit: Visit, rule: ProtocolRule) -> Check:
    if rule.max_wind_bft is None:
        return Check("wind", NOT_APPLICABLE, "", "")
    required = _("at most %(b)d Bft") % {"b": rule.max_wind_bft}
    if visit.wind_beaufort is None:
        return Check("wind", UNKNOWN, _("not recorded"), required)
    ok = visit.wind_beaufort <= rule.max_wind_bft
    return Check("wind", OK if ok else FAIL, f"{visit.wind_beaufort} Bft", required)


def _rain(visit: Visit, rule: ProtocolRule) -> Check:
    if rule.rain is None:
        return Check("rain", NOT_APPLICABLE, "", "")
    required = _("no rain") if rule.rain == Rain.NONE else _("at most drizzle")
    ok = _RAIN_RANK[Rain(visit.rain)] <= _RAIN_RANK[Rain(rule.rain)]
    return Check("rain", OK if ok else FAIL, str(Rain(visit.rain).label), required)


def _gap(visit: Visit, rule: ProtocolRule, previous_night: dt.date | None) -> Check:
    if rule.min_gap_days is None:
        return Check("gap", NOT_APPLICABLE, "", "")
    required = _("at least %(d)d days after the previous visit") % {"d": rule.min_gap_days}
    if previous_night is None:
        return Check("gap", NOT_APPLICABLE, _("first visit for this purpose"), required)
    days = (visit.night - previous_night).days
    measured = _("%(d)d days after %(night)s") % {"d": days, "night": previous_night.isoformat()}
    return Check("gap", OK if days >= rule.min_gap_days else FAIL, measured, required)


def previous_nights(visits: Iterable[Visit]) -> dict[int, dt.date | None]:
    """Per visit id: the night of the last earlier visit with the same site and purpose in the same season.

    Two visits of one night (two detectors) are one round, so the previous round is an earlier night.
    """
    by_key: dict[tuple[int, str], list[Visit]] = defaultdict(list)
    for visit in visits:
        by_key[(visit.site_id, visit.purpose)].append(visit)
    previous: dict[int, dt.date | None] = {}
    for group in by_key.values():
        nights = sorted({visit.night for visit in group})
        for visit in group:
            earlier = [night for night in nights if night < visit.night]
            last = earlier[-1] if earlier else None
            if last is not None and (visit.night - last).days > SAME_SEASON_DAYS:
                last = None
            previous[visit.pk] = last
    return previous


def check_visits(visits: Sequence[Visit], *, species: str | None = None,
                 context: Iterable[Visit] | None = None) -> dict[int, VisitProtocol]:  # fmt: skip
    """Checks of each visit; `context`: every visit of the sites concerned (for the gaps), default `visits`."""
    previous = previous_nights(context if context is not None else visits)
    rules = load_rules()
    return {
        visit.pk: check_visit(visit, previous_night=previous.get(visit.pk), species=species, rules=rules)
        for visit in visits
    }


def hints_for(*, species: str, night: dt.date, social_calls: int, feeding_buzzes: int,
              first_pass_min_after_sunset: float | None) -> tuple[str, ...]:  # fmt: skip
    """The evidence hints that one site x night x species row supports, as messages."""
    return tuple(
        hint.message
        for hint in load_rules().hints
        if hint.applies(
            species=species,
            night=night,
            social_calls=social_calls,
            feeding_buzzes=feeding_buzzes,
            first_pass_min_after_sunset=first_pass_min_after_sunset,
        )  # fmt: skip
    )
