"""ml.plots: spectrogram and occlusion pictures are valid PNGs of the promised size and show the calls."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import pytest

from ml.plots import PlotConfig, plot_occlusion, plot_spectrogram, short_call_type, short_label
from ml.spectrogram import compute_spectrogram

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RATE_HZ = 256_000


@dataclass(frozen=True)
class Call:
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    species: str = "Pipistrellus pipistrellus"
    call_type: str = "echolocation"


@dataclass(frozen=True)
class FakeOcclusion:
    label: str
    score: float
    band_low_hz: np.ndarray
    band_high_hz: np.ndarray
    band_drop: np.ndarray
    window_start_s: np.ndarray
    window_end_s: np.ndarray
    window_drop: np.ndarray


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def sweeps(duration_s: float, call_starts_s: list[float]) -> np.ndarray:
    """Quiet noise with 3 ms 70 -> 45 kHz sweeps at the given times."""
    rng = np.random.default_rng(1)
    samples = (rng.normal(size=int(duration_s * RATE_HZ)) * 1e-3).astype(np.float32)
    t = np.arange(int(0.003 * RATE_HZ)) / RATE_HZ
    sweep = 0.5 * np.sin(2 * np.pi * (70_000 * t - (25_000 / 0.003) * t**2 / 2))
    for start in call_starts_s:
        i = int(start * RATE_HZ)
        samples[i : i + t.size] += sweep.astype(np.float32)
    return samples


@pytest.fixture(scope="module")
def five_second_spectrogram():
    return compute_spectrogram(sweeps(5.0, [0.5 + 0.1 * k for k in range(30)]), RATE_HZ)


def test_spectrogram_plot_is_a_png_of_the_configured_size(five_second_spectrogram):
    config = PlotConfig(width_px=900, height_px=300)
    data = plot_spectrogram(five_second_spectrogram, config=config)
    assert png_size(data) == (900, 300)


def test_spectrogram_plot_writes_the_same_png_to_out(tmp_path, five_second_spectrogram):
    out = tmp_path / "spec.png"
    data = plot_spectrogram(five_second_spectrogram, [Call(0.5, 0.503, 45_000, 70_000)], title="x", out=out)
    assert out.read_bytes() == data


def test_boxes_of_calls_change_the_picture(five_second_spectrogram):
    plain = plot_spectrogram(five_second_spectrogram)
    boxed = plot_spectrogram(
        five_second_spectrogram, [Call(0.5 + 0.1 * k, 0.503 + 0.1 * k, 45e3, 70e3) for k in range(30)]
    )
    assert png_size(plain) == png_size(boxed)
    assert plain != boxed


def test_call_is_visible_where_it_is_in_the_picture():
    """A loud sweep at 2.5 s of a 5 s file lands mid-picture, between 45 and 70 kHz, after 20,000 -> ~1,000
    column downsampling (max pooling keeps a 3 ms call)."""
    import matplotlib.image as mpimg

    spectrogram = compute_spectrogram(sweeps(5.0, [2.5]), RATE_HZ)
    config = PlotConfig(width_px=1000, height_px=400)
    image = mpimg.imread(io.BytesIO(plot_spectrogram(spectrogram, config=config)), format="png")
    brightness = image[..., :3].mean(axis=2)  # (rows, columns), row 0 at the top
    # The axes span 7 % .. 98 % of the width; 2.5 s of 5 s is at about 52.5 % of the picture width.
    column = int(1000 * (0.07 + 0.91 * 0.5))
    strip = brightness[:, column - 4 : column + 5].max(axis=1)
    elsewhere = brightness[:, int(1000 * 0.3) - 4 : int(1000 * 0.3) + 5].max(axis=1)
    rows = slice(int(400 * 0.3), int(400 * 0.7))  # the middle of the band, 45-70 kHz lies inside it
    assert strip[rows].max() > elsewhere[rows].max() + 0.3


def test_short_labels_use_dutch_codes_and_short_call_types():
    assert short_label("Pipistrellus pipistrellus") == "GD"
    assert short_label("Myotis mystacinus/brandtii") == "BaV/BrV"
    assert short_label("Barbastella barbastellus") == "B.barb"
    assert short_label("Nyctaloid") == "NEV"
    assert short_label("noise") == "noise"
    assert short_call_type("feeding_buzz") == "buzz"


def test_occlusion_plot_is_a_png_of_the_configured_size(five_second_spectrogram):
    occlusion = FakeOcclusion(
        label="Pipistrellus pipistrellus",
        score=0.9,
        band_low_hz=np.arange(10_000, 120_000, 5_000.0),
        band_high_hz=np.arange(20_000, 130_000, 5_000.0),
        band_drop=np.linspace(-0.1, 0.8, 22),
        window_start_s=np.arange(0, 5, 0.1),
        window_end_s=np.arange(0.1, 5.1, 0.1),
        window_drop=np.linspace(0, 0.5, 50),
    )
    config = PlotConfig(width_px=800, height_px=500)
    data = plot_occlusion(five_second_spectrogram, occlusion, [Call(0.5, 0.503, 45e3, 70e3)], config=config)
    assert png_size(data) == (800, 500)


def test_plots_leave_no_pyplot_figures_behind(five_second_spectrogram):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    plot_spectrogram(five_second_spectrogram)
    assert len(plt.get_fignums()) == before
