"""Sunset and sunrise at a site for a survey night (astral), for protocol checks and pass timing.

A survey night runs noon to noon (ARCHITECTURE.md, Time): its sunset is on the night's date and its
sunrise on the next morning. Times come back as aware datetimes in the site's time zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

from astral import Observer
from astral.sun import sunrise, sunset


@dataclass(frozen=True)
class SunTimes:
    sunset: dt.datetime | None  # None where the sun does not set (polar summer)
    sunrise: dt.datetime | None  # on the morning after the night's date

    def minutes_after_sunset(self, moment: dt.datetime) -> float | None:
        if self.sunset is None:
            return None
        return (moment - self.sunset).total_seconds() / 60

    def minutes_before_sunrise(self, moment: dt.datetime) -> float | None:
        if self.sunrise is None:
            return None
        return (self.sunrise - moment).total_seconds() / 60


@lru_cache(maxsize=4096)
def sun_times(latitude: float, longitude: float, night: dt.date, time_zone: str) -> SunTimes:
    """Sunset on `night` and sunrise on the next day at sea level; cached because every report row asks."""
    observer = Observer(latitude=latitude, longitude=longitude, elevation=0.0)
    tz = zoneinfo.ZoneInfo(time_zone)
    return SunTimes(
        sunset=_or_none(lambda: sunset(observer, date=night, tzinfo=tz)),
        sunrise=_or_none(lambda: sunrise(observer, date=night + dt.timedelta(days=1), tzinfo=tz)),
    )


def _or_none(compute) -> dt.datetime | None:
    try:
        return compute()
    except ValueError:  # astral raises when the sun stays above or below the horizon all day
        return None
