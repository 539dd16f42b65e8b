"""Audio loading: the first step of the pipeline, from a WAV file to analysis-ready samples.

Every later stage (spectrogram, detector, model) works on the `Audio` this module returns: mono float32 at
one analysis rate (256 kHz), already corrected for time expansion and high-passed below the bat band, so
all times and frequencies downstream are *true* ones.

    load_audio(path)  ->  RIFF check  ->  soundfile decode  ->  time expansion  ->  resample  ->  high-pass

Bad files raise a subclass of `AudioError` (a `ValueError`) whose message a fieldworker can act on.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import soundfile as sf
from scipy import signal

__all__ = [
    "Audio",
    "AudioConfig",
    "AudioError",
    "EmptyAudioError",
    "NotAudioError",
    "RiffChunk",
    "SampleRateTooLowError",
    "TooShortError",
    "TruncatedAudioError",
    "UnsupportedAudioError",
    "WavHeader",
    "load_audio",
    "read_header",
    "scan_riff_chunks",
]


# --------------------------------------------------------------------------------------------- config/result


@dataclass(frozen=True)
class AudioConfig:
    analysis_rate_hz: int = 256_000  # every file is resampled to this rate
    highpass_hz: float = 8_000.0  # below the bat band: wind, handling, traffic
    min_true_rate_hz: int = 100_000  # under this a recording cannot hold most bat calls
    min_duration_s: float = 0.005
    highpass_order: int = 4  # Butterworth order: 24 dB/octave below 8 kHz


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, mono, (n,), at sample_rate_hz, high-passed
    sample_rate_hz: int  # the analysis rate
    true_sample_rate_hz: int  # header rate x time_expansion
    header_sample_rate_hz: int
    time_expansion: float
    duration_s: float  # true duration
    channels: int  # channels in the file
    subtype: str  # soundfile subtype, e.g. PCM_16, FLOAT


class WavHeader(NamedTuple):
    """What the header says, without decoding samples (a tuple, so it unpacks as four values)."""

    header_sample_rate_hz: int
    channels: int
    frames: int
    subtype: str


@dataclass(frozen=True)
class RiffChunk:
    """One sub-chunk of a RIFF file: its id, where its payload starts, its declared and present size."""

    chunk_id: bytes  # four bytes, e.g. b"fmt ", b"data", b"guan"
    data_offset: int  # byte offset of the payload in the file
    size: int  # payload size the chunk header declares
    available: int  # payload bytes actually present in the file (less than size when truncated)

    @property
    def truncated(self) -> bool:
        return self.available < self.size


# --------------------------------------------------------------------------------------------- errors


class AudioError(ValueError):
    """A file that cannot be analysed; the message says why in a fieldworker's words."""


class NotAudioError(AudioError):
    pass


class EmptyAudioError(AudioError):
    pass


class TruncatedAudioError(AudioError):
    pass


class UnsupportedAudioError(AudioError):
    pass


class TooShortError(AudioError):
    pass


class SampleRateTooLowError(AudioError):
    def __init__(self, message: str, *, true_sample_rate_hz: int) -> None:
        super().__init__(message)
        self.true_sample_rate_hz = true_sample_rate_hz


# --------------------------------------------------------------------------------------------- RIFF scan

# A RIFF file is a sequence of (id, size, payload) chunks; a damaged file can declare anything, so the scan
# never trusts a size to allocate memory and stops after this many chunks.
_MAX_CHUNKS = 10_000
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming writers that never finished the header leave one of these


def _plausible_chunk_id(raw: bytes) -> bool:
    return len(raw) == 4 and all(32 <= b < 127 for b in raw)


def scan_riff_chunks(path: str | os.PathLike[str]) -> tuple[RiffChunk, ...] | None:
    """List the sub-chunks of a RIFF/WAVE file without reading their payloads.

    Returns None when the file is not RIFF/WAVE (FLAC, random bytes, ...). Odd-sized chunks are padded to an
    even length as the RIFF spec says; a writer that forgot the pad byte is tolerated when the unpadded
    position is where the next plausible chunk id sits. A chunk that runs past the end of the file ends the
    scan, with `available` telling how much of it is there.
    """
    with open(path, "rb") as f:
        return _scan_riff(f)


def _scan_riff(f: BinaryIO) -> tuple[RiffChunk, ...] | None:
    f.seek(0, os.SEEK_END)
    file_size = f.tell()
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    size_format = ">I" if head[:4] == b"RIFX" else "<I"
    chunks: list[RiffChunk] = []
    offset = 12
    while offset + 8 <= file_size and len(chunks) < _MAX_CHUNKS:
        f.seek(offset)
        header = f.read(8)
        chunk_id = header[:4]
        (size,) = struct.unpack(size_format, header[4:8])
        data_offset = offset + 8
        available = max(0, min(size, file_size - data_offset))
        chunks.append(RiffChunk(chunk_id, data_offset, size, available))
        if available < size:
            break
        next_offset = data_offset + size
        if size % 2:
            f.seek(next_offset + 1)
            padded_id = f.read(4)
            f.seek(next_offset)
            unpadded_id = f.read(4)
            if _plausible_chunk_id(padded_id) or not _plausible_chunk_id(unpadded_id):
                next_offset += 1
        offset = next_offset
    return tuple(chunks)


def _format_tag(f: BinaryIO, chunks: tuple[RiffChunk, ...]) -> int | None:
    """The WAVE format tag (1 PCM, 3 float, ...), looking through WAVE_FORMAT_EXTENSIBLE to its subformat."""
    fmt = next((c for c in chunks if c.chunk_id == b"fmt "), None)
    if fmt is None or fmt.available < 2:
        return None
    f.seek(fmt.data_offset)
    payload = f.read(min(fmt.available, 64))
    (tag,) = struct.unpack("<H", payload[:2])
    if tag == 0xFFFE and len(payload) >= 26:
        (tag,) = struct.unpack("<H", payload[24:26])  # first two bytes of the SubFormat GUID
    return tag


# --------------------------------------------------------------------------------------------- header


def _soundfile_info(path: Path, chunks: tuple[RiffChunk, ...] | None):  # -> soundfile's info object
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        if chunks is not None and any(c.chunk_id == b"fmt " for c in chunks):
            with open(path, "rb") as f:
                tag = _format_tag(f, chunks)
            tag_text = f"format tag 0x{tag:04X}" if tag is not None else "an unreadable format chunk"
            raise UnsupportedAudioError(
                f"{path.name} is a WAV file with an encoding this program cannot decode ({tag_text}). "
                "Export it from the detector software as PCM or 32-bit float WAV."
            ) from exc
        raise NotAudioError(
            f"{path.name} is not an audio file this program can read. "
            "Upload the WAV files the detector wrote."
        ) from exc


def _check_riff(path: Path, chunks: tuple[RiffChunk, ...]) -> None:
    """Raise when the WAV container itself is damaged, before soundfile quietly reads what it can."""
    data = next((c for c in chunks if c.chunk_id == b"data"), None)
    if data is None:
        if any(c.chunk_id == b"fmt " for c in chunks):
            raise EmptyAudioError(f"{path.name} has a WAV header but no audio data: the recording is empty.")
        raise NotAudioError(f"{path.name} says it is a WAV file but holds no format or audio chunk.")
    if data.size in _UNKNOWN_SIZES:
        return  # header never finalised; soundfile reads to the end of the file, frames tell the truth
    if data.truncated:
        missing = data.size - data.available
        raise TruncatedAudioError(
            f"{path.name} is truncated: its header promises {data.size} bytes of audio but only "
            f"{data.available} are in the file ({missing} missing). The copy was probably interrupted; "
            "copy it again from the detector's card."
        )


def _inspect(path: Path) -> tuple[WavHeader, tuple[RiffChunk, ...] | None]:
    """Check the container and read the header; the typed errors for damaged files come from here."""
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path.name} is empty (0 bytes).")
    chunks = scan_riff_chunks(path)
    if chunks is not None:
        _check_riff(path, chunks)
    info = _soundfile_info(path, chunks)
    if info.frames <= 0 or info.samplerate <= 0:
        raise EmptyAudioError(f"{path.name} holds no audio samples.")
    return WavHeader(int(info.samplerate), int(info.channels), int(info.frames), str(info.subtype)), chunks


def read_header(path: str | os.PathLike[str]) -> WavHeader:
    """Header sample rate, channels, frames and soundfile subtype, without decoding any samples.

    Raises the same `AudioError` subclasses as `load_audio` for files that are not audio, empty or truncated.
    """
    return _inspect(Path(path))[0]


# --------------------------------------------------------------------------------------------- time expansion


def _guano_time_expansion(path: Path, chunks: tuple[RiffChunk, ...] | None) -> float | None:
    """GUANO `TE` when the file has a usable one, else None."""
    if not chunks or not any(c.chunk_id == b"guan" for c in chunks):
        return None
    from ml import metadata  # imported here: ml.metadata imports this module for its errors and header

    value = metadata.read_guano(path).get("TE", "").strip()
    try:
        factor = float(value)
    except ValueError:
        return None
    return factor if math.isfinite(factor) and factor > 0 else None


def _resolve_time_expansion(guano_te: float | None, argument: float | None) -> float:
    if guano_te is not None:
        return guano_te
    if argument is None:
        return 1.0
    factor = float(argument)
    if not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"time_expansion must be a positive number, not {argument!r}")
    return factor


# --------------------------------------------------------------------------------------------- DSP


# Rates whose exact ratio to the analysis rate needs huge polyphase filters (a 44,101 Hz header, an odd TE)
# are approximated; a denominator of at most 1000 keeps every real detector rate exact (312.5 kHz is 512/625)
# and any approximation far below a part per million.
_MAX_RESAMPLE_FACTOR = 1000


def _resample_factors(from_rate_hz: int, to_rate_hz: int) -> tuple[int, int]:
    ratio = Fraction(to_rate_hz, from_rate_hz).limit_denominator(_MAX_RESAMPLE_FACTOR)
    return ratio.numerator, ratio.denominator


@lru_cache(maxsize=32)
def _resample_filter(up: int, down: int) -> np.ndarray:
    # The same Kaiser-windowed low-pass scipy.signal.resample_poly designs, computed once per rate pair.
    max_rate = max(up, down)
    half_len = 10 * max_rate
    taps = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    return taps.astype(np.float32)  # resample_poly scales by `up` itself


@lru_cache(maxsize=8)
def _highpass_sos(cutoff_hz: float, rate_hz: int, order: int) -> np.ndarray:
    return signal.butter(order, cutoff_hz, btype="highpass", fs=rate_hz, output="sos")


def _resample(samples: np.ndarray, from_rate_hz: int, to_rate_hz: int) -> np.ndarray:
    if from_rate_hz == to_rate_hz:
        return samples
    up, down = _resample_factors(from_rate_hz, to_rate_hz)
    if up == down:
        return samples
    return signal.resample_poly(samples, up, down, window=_resample_filter(up, down))


# --------------------------------------------------------------------------------------------- load


def load_audio(
    path: str | os.PathLike[str],
    *,
    time_expansion: float | None = None,
    channel: int = 0,
    config: AudioConfig = AudioConfig(),
) -> Audio:
    """Load one recording as mono float32 at `config.analysis_rate_hz`, in true time.

    `time_expansion`: GUANO `TE` in the file wins, else this argument, else 1. The true sample rate is the
    header rate times that factor; a time-expanded file is therefore never treated as a 38.4 kHz recording.
    `channel` picks one channel of a multi-channel file. NaN or infinite samples (damaged float files) are
    replaced by silence rather than poisoning every later stage.
    """
    path = Path(path)
    (header_rate_hz, channels, frames, subtype), chunks = _inspect(path)
    if not 0 <= channel < channels:
        raise ValueError(f"{path.name} has {channels} channel(s); channel {channel} does not exist")

    factor = _resolve_time_expansion(_guano_time_expansion(path, chunks), time_expansion)
    true_rate_hz = int(round(header_rate_hz * factor))
    duration_s = frames / (header_rate_hz * factor)
    if duration_s < config.min_duration_s:
        raise TooShortError(
            f"{path.name} lasts {duration_s * 1000:.1f} ms; at least {config.min_duration_s * 1000:.0f} ms "
            "is needed to hold a bat call."
        )
    if true_rate_hz < config.min_true_rate_hz:
        te_text = f" x {factor:g} time expansion" if factor != 1 else ""
        raise SampleRateTooLowError(
            f"{path.name} was recorded at {true_rate_hz} Hz ({header_rate_hz} Hz in the file{te_text}), "
            f"below the {config.min_true_rate_hz} Hz needed for bat calls. If the detector time-expands "
            "(e.g. x10 on a Pettersson D240x), set the time-expansion factor for this visit and analyse it "
            "again.",
            true_sample_rate_hz=true_rate_hz,
        )

    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise TruncatedAudioError(f"{path.name} could not be decoded to the end ({exc}).") from exc
    if data.shape[0] < frames:
        raise TruncatedAudioError(
            f"{path.name} is truncated: {frames} samples declared, only {data.shape[0]} could be read."
        )
    samples = np.ascontiguousarray(data[:, channel])
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)

    # Remove the DC offset first: resample_poly pads with zeros, so an offset would become a step (a click)
    # at both ends; the high-pass would remove it anyway.
    samples -= samples.mean(dtype=np.float64)
    samples = _resample(samples, true_rate_hz, config.analysis_rate_hz)
    if config.highpass_hz > 0:
        sos = _highpass_sos(float(config.highpass_hz), config.analysis_rate_hz, config.highpass_order)
        # One causal pass: its group delay is under 10 us above 20 kHz (17 us at 15 kHz), far below any
        # call's timing, and it costs half of sosfiltfilt. Starting from the steady state of the first sample keeps a DC
        # offset from ringing like a click at t = 0.
        zi = signal.sosfilt_zi(sos) * samples[0]
        samples, _ = signal.sosfilt(sos, samples, zi=zi)
    return Audio(
        samples=np.ascontiguousarray(samples, dtype=np.float32),
        sample_rate_hz=config.analysis_rate_hz,
        true_sample_rate_hz=true_rate_hz,
        header_sample_rate_hz=header_rate_hz,
        time_expansion=factor,
        duration_s=duration_s,
        channels=channels,
        subtype=subtype,
    )
