"""One synthetic bat flying past a detector, as WAV bytes: the audio the worker-process tests upload."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def one_bat_wav(
    species: str,
    *,
    seed: int,
    duration_s: float,
    sample_rate_hz: int = 384_000,
    distance_m: float | None = None,
) -> bytes:
    """`duration_s` of one `species` bat passing closest at mid-file, 16-bit PCM (ml.synth, easy difficulty).

    `distance_m` is its closest distance; by default a fifth of the species' detection distance (loud calls).
    """
    from ml.synth import EASY, BatPass, RecordingSpec, synthesise_recording
    from ml.synth_species import parameters_for

    if distance_m is None:
        distance_m = parameters_for(species).detection_distance_m / 5
    bat = BatPass(
        species=species, individual=0, closest_time_s=duration_s / 2, closest_distance_m=distance_m,
        speed_m_s=6.0, window_s=(0.0, duration_s), feeding_buzz=False, social_calls=False,
    )  # fmt: skip
    spec = RecordingSpec(duration_s=duration_s, sample_rate_hz=sample_rate_hz, bats=(bat,), difficulty=EASY)
    samples, rate_hz, _events = synthesise_recording(spec, np.random.default_rng(seed))
    out = io.BytesIO()
    sf.write(out, samples, rate_hz, format="WAV", subtype="PCM_16")
    return out.getvalue()
