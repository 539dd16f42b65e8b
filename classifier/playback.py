"""Slowed playback: a time-expanded copy of a recording, so people can hear bat calls (flow step 4).

Bat calls lie at 20-120 kHz, above human hearing. Played ten times slower they fall to 2-12 kHz. The copy
holds the very same samples; only the sample rate in its header changes to the true rate divided by the
factor (so a recording from a x10 time-expansion detector, already slowed, keeps its rate). Rewriting the
header costs one file copy and no decoding, so it is made on the server on first request and cached in media
storage beside the recordings; the view streams the cached file.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from django.core.files import File
from django.core.files.storage import Storage

from surveys.models import Recording

SLOWDOWN = 10  # "1/10 speed": the usual time expansion of bat detectors
_COPY_BLOCK_BYTES = 1 << 20
_UNKNOWN_SIZE = 0xFFFFFFFF  # streaming recorders leave chunk sizes at this until they close the file


class NotAWavError(ValueError):
    """The stored file is not a RIFF/WAVE file this module can rewrite."""


@dataclass(frozen=True)
class WavLayout:
    """Where the parts of a WAV file are: the `fmt ` chunk body and the sample data."""

    fmt: bytes  # the fmt chunk body as stored (16, 18 or 40 bytes)
    sample_rate_hz: int
    block_align: int  # bytes per frame (all channels)
    data_offset: int  # file offset of the first sample byte
    data_size: int  # sample bytes actually present (never past the end of the file)


def read_layout(handle: BinaryIO, file_size: int) -> WavLayout:
    """Find `fmt ` and `data` in a RIFF/WAVE file (any other chunks, GUANO included, are skipped)."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise NotAWavError("not a RIFF/WAVE file")
    fmt: bytes | None = None
    data: tuple[int, int] | None = None
    position = 12
    while position + 8 <= file_size and (fmt is None or data is None):
        handle.seek(position)
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        body = position + 8
        if chunk_id == b"fmt ":
            fmt = handle.read(min(size, 64))
        elif chunk_id == b"data":
            available = file_size - body
            data = (body, available if size == _UNKNOWN_SIZE else min(size, available))
        if size == _UNKNOWN_SIZE:
            break
        position = body + size + (size & 1)  # chunks are padded to an even length
    if fmt is None or len(fmt) < 16 or data is None:
        raise NotAWavError("the WAV file has no fmt or data chunk")
    _format, _channels, sample_rate_hz, _byte_rate, block_align = struct.unpack("<HHIIH", fmt[:14])
    if sample_rate_hz <= 0 or block_align <= 0:
        raise NotAWavError("the WAV header gives no sample rate")
    data_size = data[1] - data[1] % block_align  # whole frames only
    return WavLayout(
        fmt=fmt,
        sample_rate_hz=sample_rate_hz,
        block_align=block_align,
        data_offset=data[0],
        data_size=data_size,
    )


def slowed_rate_hz(header_rate_hz: int, time_expansion: float | None, factor: int = SLOWDOWN) -> int:
    """The header rate of the slowed copy: the true rate (header x time expansion) divided by `factor`."""
    true_rate_hz = header_rate_hz * (time_expansion or 1.0)
    return max(1, int(round(true_rate_hz / factor)))


def write_slowed(
    source: BinaryIO, file_size: int, out: BinaryIO, *, time_expansion: float | None, factor: int = SLOWDOWN
) -> int:
    """Write the slowed WAV of `source` to `out`; returns its sample rate."""
    layout = read_layout(source, file_size)
    rate_hz = slowed_rate_hz(layout.sample_rate_hz, time_expansion, factor)
    fmt = bytearray(layout.fmt)
    struct.pack_into("<II", fmt, 4, rate_hz, rate_hz * layout.block_align)  # sample rate, byte rate
    riff_size = 4 + (8 + len(fmt) + (len(fmt) & 1)) + (8 + layout.data_size + (layout.data_size & 1))
    out.write(struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE"))
    out.write(struct.pack("<4sI", b"fmt ", len(fmt)) + bytes(fmt) + (b"\0" if len(fmt) & 1 else b""))
    out.write(struct.pack("<4sI", b"data", layout.data_size))
    source.seek(layout.data_offset)
    remaining = layout.data_size
    while remaining > 0:
        block = source.read(min(_COPY_BLOCK_BYTES, remaining))
        if not block:
            raise NotAWavError("the WAV file ended early")
        out.write(block)
        remaining -= len(block)
    if layout.data_size & 1:
        out.write(b"\0")
    return rate_hz


def slowed_name(recording: Recording, factor: int = SLOWDOWN) -> str:
    # By content hash and time expansion: a changed visit setting gives a new copy, never a stale one.
    te = f"{recording.time_expansion or 1:g}".replace(".", "_")
    return (
        f"playback/{recording.project_id}/{recording.sha256[:2]}/{recording.sha256}-te{te}-slow{factor}.wav"
    )


def slowed_copy(recording: Recording, *, factor: int = SLOWDOWN) -> tuple[Storage, str]:
    """The storage and name of the recording's slowed copy, made now when it does not exist yet."""
    storage = recording.file.storage
    name = slowed_name(recording, factor)
    if storage.exists(name):
        return storage, name
    with recording.file.open("rb") as source, tempfile.TemporaryFile() as tmp:
        write_slowed(source, recording.file.size, tmp, time_expansion=recording.time_expansion, factor=factor)
        tmp.seek(0)
        if storage.exists(name):  # made by a simultaneous request meanwhile
            return storage, name
        saved = storage.save(name, File(tmp, name=os.path.basename(name)))
    if saved != name:
        # Lost a race by a hair: the storage picked another name; keep the canonical copy only.
        storage.delete(saved)
    return storage, name
