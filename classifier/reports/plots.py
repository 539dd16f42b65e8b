"""Pictures of the nightly summary as PNG bytes (matplotlib, object API: no pyplot state between requests).

Place in the flow: step 6. Both plots read the summary DataFrame of `activity.activity_summary`:
- passes per clock hour through the night, stacked by species (all nights of the report summed);
- passes per survey night over the season, stacked by species (nights without passes show as empty bars).
"""

from __future__ import annotations

import datetime as dt
import io

import matplotlib
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg  # drawn straight to PNG: no pyplot, no backend
from matplotlib.figure import Figure

from classifier.reports.activity import HOUR_COLUMNS, HOURS_OF_NIGHT

MAX_SPECIES = 8  # more colours than this are hard to tell apart; the rest is summed as "other"
OTHER = "other"
FIGURE_SIZE_IN = (8.0, 4.0)
DPI = 100


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _figure(title: str) -> tuple[Figure, object]:
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    return figure, axes


def _top_species(table: pd.DataFrame) -> pd.DataFrame:
    """Columns = species (most passes first), at most MAX_SPECIES with the rest summed as "other"."""
    order = table.sum().sort_values(ascending=False, kind="stable")
    order = order[order > 0]
    keep = list(order.index[:MAX_SPECIES])
    result = table[keep].copy()
    rest = [c for c in order.index if c not in keep]
    if rest:
        result[OTHER] = table[rest].sum(axis=1)
    return result


def _empty(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="0.4")
    axes.set_xticks([])
    axes.set_yticks([])


def _stack(axes, x, table: pd.DataFrame, **bar_options) -> None:
    bottom = None
    colours = matplotlib.colormaps["tab10"]
    for index, species in enumerate(table.columns):
        values = table[species].to_numpy()
        axes.bar(x, values, bottom=bottom, label=species, color=colours(index % 10), **bar_options)
        bottom = values if bottom is None else bottom + values
    axes.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.set_ylabel("passes")


def passes_by_hour_png(summary: pd.DataFrame, *, title: str) -> bytes:
    figure, axes = _figure(title)
    bats = summary[summary["species"] != ""]
    per_hour = bats.groupby("species")[list(HOUR_COLUMNS)].sum().T if not bats.empty else pd.DataFrame()
    if per_hour.empty or per_hour.to_numpy().sum() == 0:
        _empty(axes, "No passes")
        return _png(figure)
    per_hour.index = list(HOURS_OF_NIGHT)
    active = [i for i, total in enumerate(per_hour.sum(axis=1)) if total > 0]
    span = per_hour.iloc[max(active[0] - 1, 0) : min(active[-1] + 2, len(HOURS_OF_NIGHT))]
    table = _top_species(span)
    positions = list(range(len(table)))
    _stack(axes, positions, table, width=0.85)
    axes.set_xticks(positions, [f"{hour:02d}" for hour in table.index])
    axes.set_xlabel("hour of the night (site time)")
    return _png(figure)


def activity_by_night_png(summary: pd.DataFrame, *, title: str) -> bytes:
    figure, axes = _figure(title)
    if summary.empty:
        _empty(axes, "No survey nights")
        return _png(figure)
    table = summary.pivot_table(
        index="night", columns="species", values="passes", aggfunc="sum", fill_value=0
    )
    table = table.drop(columns=[""], errors="ignore")
    nights = [dt.datetime.combine(night, dt.time()) for night in table.index]
    if table.empty or table.to_numpy().sum() == 0:
        axes.bar(nights, [0] * len(nights))
        axes.set_ylim(0, 1)
        axes.set_ylabel("passes")
    else:
        _stack(axes, nights, _top_species(table), width=0.8)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    axes.set_xlabel("survey night")
    figure.autofmt_xdate()
    return _png(figure)
