"""Pictures of the analysis: the last, display-only step of the pipeline.

`plot_spectrogram` draws a recording's spectrogram (ml.spectrogram) with the detected calls boxed and
labelled (species code + call type, from ml.detect / ml.infer); `plot_occlusion` draws an occlusion map
(ml.explain) over it: which frequency bands and time windows the classifier's answer rests on.

The web app renders these on first view and caches them, never during analysis. Everything here uses
`matplotlib.figure.Figure` with the Agg canvas directly: no pyplot, so no global figure registry that
grows in a long-lived worker and no interference between threads. The spectrogram is max-pooled in time to
the pixel width of the axes before it is drawn, so a 5 s file (20,000 frames) costs about as much as a
0.2 s one, and short calls survive the downsampling.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import matplotlib

matplotlib.use("Agg", force=False)  # no display on servers; harmless when the caller already chose Agg

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ml import labels  # noqa: E402
from ml.spectrogram import Spectrogram  # noqa: E402

if TYPE_CHECKING:
    from ml.explain import Occlusion

__all__ = ["PlotConfig", "plot_occlusion", "plot_spectrogram", "short_call_type", "short_label"]


@dataclass(frozen=True)
class PlotConfig:
    """Size and look of the images. The PNG is exactly width_px x height_px."""

    width_px: int = 1200
    height_px: int = 420
    dpi: int = 100
    colormap: str = "magma"  # perceptually uniform, readable in greyscale print, calls bright on dark
    dynamic_range_db: float = 60.0  # shown below the loudest pixel; quieter pixels are black
    floor_percentile: float = 50.0  # the median pixel (background noise) is never brighter than black + 10 %
    max_labels_per_100_px: float = 1.5  # fewer labels than boxes when calls crowd together
    occlusion_colormap: str = "RdBu_r"  # red: masking lowered the score (the part mattered)


@runtime_checkable
class CallBox(Protocol):
    """What a call needs to be drawn: ml.detect.CallEvent or ml.infer.CallResult both fit."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float


# ------------------------------------------------------------------------------------------------ labels

_CALL_TYPE_SHORT = {"echolocation": "echo", "feeding_buzz": "buzz", "social_call": "social", "none": ""}
_GROUP_SHORT = {
    "Pipistrellus sp.": "Pip sp.",
    "Myotis sp.": "Myo sp.",
    "Plecotus sp.": "Plec sp.",
    "Nyctaloid": "NEV",
    "Rhinolophus sp.": "Rhin sp.",
    labels.BAT: "bat",
}


def _abbreviate(scientific: str) -> str:
    genus, _, epithet = scientific.partition(" ")
    return f"{genus[:1]}.{epithet[:4]}" if epithet else scientific[:8]


def short_label(label: str) -> str:
    """A few characters for a box label: the Dutch field code (GD, RD, ...), else an abbreviation."""
    if label == labels.NOISE:
        return "noise"
    if label in _GROUP_SHORT:
        return _GROUP_SHORT[label]
    if label in labels.SPECIES:
        species = labels.SPECIES[label]
        return species.code or _abbreviate(label)
    if label in labels.PAIRS:
        members = [labels.SPECIES[m] for m in labels.PAIRS[label].members if m in labels.SPECIES]
        if members and all(m.code for m in members):
            return "/".join(m.code for m in members)
        genus, _, epithets = label.partition(" ")
        return f"{genus[:1]}.{'/'.join(e[:3] for e in epithets.split('/'))}"
    return _abbreviate(label) if " " in label else label[:8]


def short_call_type(call_type: str) -> str:
    return _CALL_TYPE_SHORT.get(call_type, call_type[:6])


def _call_text(call: object) -> str:
    species = getattr(call, "species", None)
    call_type = getattr(call, "call_type", None)
    parts = [short_label(species) if species else "", short_call_type(call_type) if call_type else ""]
    return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------------------ drawing


def _new_figure(config: PlotConfig) -> Figure:
    figure = Figure(figsize=(config.width_px / config.dpi, config.height_px / config.dpi), dpi=config.dpi)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure, out: str | os.PathLike[str] | None) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": the caller (and the page layout) relies on the exact pixel size.
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    data = buffer.getvalue()
    if out is not None:
        Path(out).write_bytes(data)
    return data


def _pool_time(values: np.ndarray, max_columns: int) -> tuple[np.ndarray, int]:
    """Max-pool (freq, time) along time to at most `max_columns` columns; returns the array and the factor.

    Max rather than mean: a 2 ms call is 8 frames of 20,000 and would fade into the background if averaged.
    """
    n_freq, n_time = values.shape
    factor = max(1, math.ceil(n_time / max(1, max_columns)))
    if factor == 1:
        return values, 1
    n_full = (n_time // factor) * factor
    pooled = values[:, :n_full].reshape(n_freq, n_time // factor, factor).max(axis=2)
    if n_full < n_time:
        pooled = np.concatenate([pooled, values[:, n_full:].max(axis=1, keepdims=True)], axis=1)
    return pooled, factor


def _colour_limits(values: np.ndarray, config: PlotConfig) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -100.0, 0.0
    vmax = float(finite.max())
    floor = float(np.percentile(finite, config.floor_percentile))
    # The background sits just above black, and at most dynamic_range_db is shown, so faint calls stay visible
    # on a quiet recording and a loud click does not turn every call dark.
    vmin = max(vmax - config.dynamic_range_db, floor)
    if vmax - vmin < 1.0:
        vmin = vmax - 1.0
    return vmin, vmax


def _draw_spectrogram(ax, spectrogram: Spectrogram, config: PlotConfig, *, cmap: str, width_px: int) -> None:
    values = np.asarray(spectrogram.values_db)
    times_s = np.asarray(spectrogram.times_s)
    freqs_hz = np.asarray(spectrogram.frequencies_hz)
    pooled, _ = _pool_time(values, width_px)
    vmin, vmax = _colour_limits(pooled, config)
    hop_s = float(times_s[1] - times_s[0]) if times_s.size > 1 else spectrogram.hop_s
    bin_hz = float(freqs_hz[1] - freqs_hz[0]) if freqs_hz.size > 1 else spectrogram.bin_hz
    t0_ms = (float(times_s[0]) - hop_s / 2) * 1000.0 if times_s.size else 0.0
    t1_ms = (float(times_s[-1]) + hop_s / 2) * 1000.0 if times_s.size else 1.0
    f0_khz = (float(freqs_hz[0]) - bin_hz / 2) / 1000.0 if freqs_hz.size else 0.0
    f1_khz = (float(freqs_hz[-1]) + bin_hz / 2) / 1000.0 if freqs_hz.size else 1.0
    ax.imshow(
        pooled,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=(t0_ms, t1_ms, f0_khz, f1_khz),
    )
    ax.set_xlim(t0_ms, t1_ms)
    ax.set_ylim(f0_khz, f1_khz)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("frequency (kHz)")


def _species_colours(calls: Sequence[object]) -> dict[str, tuple[float, float, float, float]]:
    import matplotlib as mpl

    palette = mpl.colormaps["tab10"]
    names: list[str] = []
    for call in calls:
        name = str(getattr(call, "species", "") or "")
        if name not in names:
            names.append(name)
    # Cyan for unlabelled detections: it stands out on magma's black-purple-yellow.
    colours = {name: palette((i + 9) % 10) if name else (0.3, 0.9, 1.0, 1.0) for i, name in enumerate(names)}
    if labels.NOISE in colours:
        colours[labels.NOISE] = (0.75, 0.75, 0.75, 1.0)
    return colours


def _draw_calls(ax, calls: Sequence[CallBox], config: PlotConfig, width_px: int) -> None:
    if not calls:
        return
    colours = _species_colours(calls)
    x0, x1 = ax.get_xlim()
    ms_per_px = (x1 - x0) / max(1, width_px)
    min_gap_ms = ms_per_px * 100.0 / config.max_labels_per_100_px
    last_label_ms: dict[str, float] = {}
    y_top = ax.get_ylim()[1]
    for call in sorted(calls, key=lambda c: c.start_s):
        colour = colours[str(getattr(call, "species", "") or "")]
        start_ms, end_ms = call.start_s * 1000.0, call.end_s * 1000.0
        low_khz, high_khz = call.low_hz / 1000.0, call.high_hz / 1000.0
        # At least two pixels wide, so a 1 ms call in a 15 s file still shows as a box.
        width_ms = max(end_ms - start_ms, 2 * ms_per_px)
        ax.add_patch(
            Rectangle(
                (start_ms, low_khz), width_ms, high_khz - low_khz, fill=False, edgecolor=colour, linewidth=1.0
            )
        )
        text = _call_text(call)
        if not text:
            continue
        # Crowded calls of one species share a label: one every few tens of pixels is readable, forty are not.
        if start_ms - last_label_ms.get(text, -math.inf) < min_gap_ms:
            continue
        last_label_ms[text] = start_ms
        ax.text(
            start_ms,
            min(high_khz + 1.0, y_top),
            text,
            color=colour,
            fontsize=7,
            va="bottom",
            ha="left",
            clip_on=True,
            bbox={"facecolor": "black", "alpha": 0.45, "pad": 1.0, "edgecolor": "none"},
        )


def plot_spectrogram(
    spectrogram: Spectrogram,
    calls: Sequence[CallBox] = (),
    *,
    title: str = "",
    out: str | os.PathLike[str] | None = None,
    config: PlotConfig = PlotConfig(),
) -> bytes:
    """PNG of the spectrogram (time in ms, frequency in kHz) with `calls` boxed and labelled.

    A call with `species` and `call_type` attributes (ml.infer.CallResult) is labelled with the species
    code and the call type; a bare ml.detect.CallEvent gets a box only. Returns the PNG bytes and, when
    `out` is given, also writes them there.
    """
    figure = _new_figure(config)
    ax = figure.add_axes((0.07, 0.13, 0.91, 0.78 if title else 0.83))
    width_px = int(config.width_px * 0.91)
    _draw_spectrogram(ax, spectrogram, config, cmap=config.colormap, width_px=width_px)
    _draw_calls(ax, calls, config, width_px)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _png(figure, out)


def plot_occlusion(
    spectrogram: Spectrogram,
    occlusion: Occlusion,
    calls: Sequence[CallBox] = (),
    *,
    title: str = "",
    out: str | os.PathLike[str] | None = None,
    config: PlotConfig = PlotConfig(),
) -> bytes:
    """PNG of an occlusion map over the spectrogram.

    The spectrogram is drawn in grey; over it, each frequency band is tinted by how much masking it lowered
    the score of the explained class (red: it mattered; blue: masking it raised the score), and each time
    window likewise. Bar charts beside (bands, in kHz) and above (windows, in ms) give the drops in numbers.
    """
    figure = _new_figure(config)
    left, bottom, main_w, main_h = 0.07, 0.13, 0.78, 0.58
    ax = figure.add_axes((left, bottom, main_w, main_h))
    ax_time = figure.add_axes((left, bottom + main_h + 0.02, main_w, 0.15), sharex=ax)
    ax_band = figure.add_axes((left + main_w + 0.01, bottom, 0.12, main_h), sharey=ax)
    width_px = int(config.width_px * main_w)
    _draw_spectrogram(ax, spectrogram, config, cmap="gray", width_px=width_px)

    band_low = np.asarray(occlusion.band_low_hz, dtype=float) / 1000.0
    band_high = np.asarray(occlusion.band_high_hz, dtype=float) / 1000.0
    band_drop = np.asarray(occlusion.band_drop, dtype=float)
    win_start = np.asarray(occlusion.window_start_s, dtype=float) * 1000.0
    win_end = np.asarray(occlusion.window_end_s, dtype=float) * 1000.0
    window_drop = np.asarray(occlusion.window_drop, dtype=float)
    import matplotlib as mpl

    cmap = mpl.colormaps[config.occlusion_colormap]
    # Bands and windows get a colour scale each: hiding a whole band removes every call, a 0.1 s window only
    # a few, so on a shared scale the windows would all look pale.
    band_scale = max(float(np.max(np.abs(band_drop), initial=0.0)), 1e-9)
    window_scale = max(float(np.max(np.abs(window_drop), initial=0.0)), 1e-9)
    band_norm = mpl.colors.Normalize(vmin=-band_scale, vmax=band_scale)
    window_norm = mpl.colors.Normalize(vmin=-window_scale, vmax=window_scale)
    # Half-transparent tints keep the grey spectrogram readable; sliding bands overlap, so each is fainter.
    for lo, hi, drop in zip(band_low, band_high, band_drop):
        ax.axhspan(lo, hi, color=cmap(band_norm(drop)), alpha=0.25 * abs(drop) / band_scale, linewidth=0)
    for t0, t1, drop in zip(win_start, win_end, window_drop):
        ax.axvspan(t0, t1, color=cmap(window_norm(drop)), alpha=0.3 * abs(drop) / window_scale, linewidth=0)
    _draw_calls(ax, calls, config, width_px)

    band_centres = (band_low + band_high) / 2.0
    ax_band.barh(
        band_centres,
        band_drop,
        height=np.maximum(band_high - band_low, 1e-3) * 0.9,
        color=[cmap(band_norm(d)) for d in band_drop],
    )
    ax_band.axvline(0.0, color="black", linewidth=0.5)
    ax_band.set_xlabel("score drop", fontsize=8)
    ax_band.tick_params(labelleft=False, labelsize=7)
    win_centres = (win_start + win_end) / 2.0
    ax_time.bar(
        win_centres,
        window_drop,
        width=np.maximum(win_end - win_start, 1e-3) * 0.9,
        color=[cmap(window_norm(d)) for d in window_drop],
    )
    ax_time.axhline(0.0, color="black", linewidth=0.5)
    ax_time.set_ylabel("drop", fontsize=8)
    ax_time.tick_params(labelbottom=False, labelsize=7)
    label = getattr(occlusion, "label", "")
    score = getattr(occlusion, "score", float("nan"))
    heading = title or f"occlusion: {labels.display_name(label) if label else ''} (score {score:.2f})"
    ax_time.set_title(heading, fontsize=10, loc="left")
    return _png(figure, out)
