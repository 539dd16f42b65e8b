"""The report filters: survey nights from / to, minimum confidence, automatic labels too.

The same filters drive the site report page, its CSV and PNG downloads, so a download holds what the page
shows. They travel as a GET query string (`date_from`, `date_to`, `min_confidence` in percent, `auto`),
read by `classifier.reports.forms.ReportFilterForm`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.db.models import Q, QuerySet

from surveys.models import NIGHT_BOUNDARY, Recording, Visit

if TYPE_CHECKING:
    from classifier.models import Prediction


@dataclass(frozen=True)
class ReportFilters:
    date_from: dt.date | None = None  # first survey night, inclusive
    date_to: dt.date | None = None  # last survey night, inclusive
    min_confidence: float | None = None  # 0..1; applies to labels that no expert decided
    auto_labels: bool = False  # also list species only the model found (the expert removed them)

    def recordings(self, recordings: QuerySet[Recording]) -> QuerySet[Recording]:
        """Recordings of the nights in range. A recording's night is its own noon-to-noon date in its site's
        zone (the visit's night when it has no timestamp), so the bounds are noon, per time zone."""
        if self.date_from is None and self.date_to is None:
            return recordings
        in_range = Q()
        zones = recordings.order_by().values_list("visit__site__time_zone", flat=True).distinct()
        for zone in zones:
            tz = zoneinfo.ZoneInfo(zone)
            bounds = Q(visit__site__time_zone=zone, recorded_at__isnull=False)
            if self.date_from is not None:
                bounds &= Q(recorded_at__gte=dt.datetime.combine(self.date_from, NIGHT_BOUNDARY, tzinfo=tz))
            if self.date_to is not None:
                next_noon = dt.datetime.combine(
                    self.date_to + dt.timedelta(days=1), NIGHT_BOUNDARY, tzinfo=tz
                )
                bounds &= Q(recorded_at__lt=next_noon)
            in_range |= bounds
        untimed = Q(recorded_at__isnull=True) & self._night_q("visit__night")
        return recordings.filter(in_range | untimed)

    def visits(self, visits: QuerySet[Visit]) -> QuerySet[Visit]:
        return visits.filter(self._night_q("night"))

    def _night_q(self, field: str) -> Q:
        q = Q()
        if self.date_from is not None:
            q &= Q(**{f"{field}__gte": self.date_from})
        if self.date_to is not None:
            q &= Q(**{f"{field}__lte": self.date_to})
        return q

    def keeps(self, *, source: str, prediction: Prediction | None) -> bool:
        """Whether a recording passes the minimum confidence: an expert's decision always does; an automatic
        label when its prediction is confident enough; a recording without any label only without a minimum."""
        if self.min_confidence is None or source == "review":
            return True
        return prediction is not None and prediction.confidence >= self.min_confidence

    def query_string(self) -> str:
        """The filters as a query string (without "?"), for download links that match the page."""
        params: dict[str, str] = {}
        if self.date_from:
            params["date_from"] = self.date_from.isoformat()
        if self.date_to:
            params["date_to"] = self.date_to.isoformat()
        if self.min_confidence is not None:
            params["min_confidence"] = f"{self.min_confidence * 100:g}"
        if self.auto_labels:
            params["auto"] = "1"
        return urlencode(params)
