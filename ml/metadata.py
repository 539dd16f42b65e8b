"""Recording metadata: what a file says about itself, beside its samples.

Sits next to `ml.audio` at the bottom of the pipeline. The web app's ingest calls `read_metadata` for every
upload (when and where it was recorded, which detector, the time-expansion factor, an expert's species code);
`ml.audio.load_audio` asks `read_guano` for `TE`. Nothing else in the project parses metadata.

Sources, in the order they are trusted:
    GUANO `guan` chunk (read with the `guano` package; our own RIFF scan where it cannot open the file:
        32-bit float and WAVE_FORMAT_EXTENSIBLE WAVs)
    Elekon Batlogger XML sidecar (`10160435.xml` beside `10160435.wav`)
    detector file-name time stamps (`PREFIX_20240531_223911.wav`, AudioMoth, Vigie-Chiro, ...)
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import struct
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from guano import GuanoFile

from ml.audio import (
    NotAudioError,
    RiffChunk,
    TruncatedAudioError,
    UnsupportedAudioError,
    read_header,
    scan_riff_chunks,
)

__all__ = [
    "BatloggerInfo",
    "MAX_GUANO_BYTES",
    "RecordingMetadata",
    "format_guano",
    "parse_guano",
    "parse_guano_timestamp",
    "read_batlogger_xml",
    "read_guano",
    "read_metadata",
    "timestamp_from_filename",
    "write_guano",
]

log = logging.getLogger(__name__)

# Real GUANO blocks are a few hundred bytes; a larger `guan` chunk is damage or abuse, and is ignored.
MAX_GUANO_BYTES = 64 * 1024
# A Batlogger sidecar is about 1 kB.
_MAX_XML_BYTES = 256 * 1024


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BatloggerInfo:
    """The fields of an Elekon Batlogger XML sidecar that matter for a survey."""

    timestamp: datetime | None  # naive, the detector's local clock
    sample_rate_hz: int | None
    time_expansion: float | None  # only when the XML states one
    latitude: float | None
    longitude: float | None
    altitude_m: float | None
    serial: str
    model: str
    firmware: str
    original_filename: str
    duration_s: float | None
    temperature_c: float | None

    def to_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        return row


@dataclass(frozen=True)
class RecordingMetadata:
    header_sample_rate_hz: int
    channels: int
    frames: int
    subtype: str
    time_expansion: float | None  # from GUANO TE only; None when the file does not say
    timestamp: datetime | None  # aware when GUANO gives an offset, naive otherwise
    latitude: float | None
    longitude: float | None
    make: str
    model: str
    serial: str
    species_manual_id: str  # raw GUANO value, "" if absent
    guano: dict[str, str] = field(default_factory=dict)  # every GUANO field, as text
    timestamp_source: str = ""  # "guano", "batlogger_xml", "filename" or "" when no time was found
    batlogger: BatloggerInfo | None = None

    @property
    def true_sample_rate_hz(self) -> int:
        """Header rate x GUANO TE (1 when the file has none); see `true_rate_hz` for a visit's factor."""
        return self.true_rate_hz()

    def true_rate_hz(self, fallback_te: float = 1.0) -> int:
        """Header rate x time expansion: GUANO TE when present, else `fallback_te` (the visit's setting)."""
        factor = self.time_expansion if self.time_expansion is not None else fallback_te
        return int(round(self.header_sample_rate_hz * factor))

    @property
    def duration_s(self) -> float:
        """True duration, by GUANO TE when present."""
        return self.frames / self.true_sample_rate_hz

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (times as ISO 8601 text), for the command line and the web app's JSON field."""
        return {
            "header_sample_rate_hz": self.header_sample_rate_hz,
            "channels": self.channels,
            "frames": self.frames,
            "subtype": self.subtype,
            "time_expansion": self.time_expansion,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "timestamp_source": self.timestamp_source,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "make": self.make,
            "model": self.model,
            "serial": self.serial,
            "species_manual_id": self.species_manual_id,
            "guano": dict(self.guano),
            "batlogger": self.batlogger.to_dict() if self.batlogger else None,
        }


# --------------------------------------------------------------------------------------------- GUANO read


class _TextGuanoFile(GuanoFile):
    """guano-py's reader without its value coercion: callers get every value as the file spells it."""

    _coersion_rules: dict = {}


def parse_guano(raw: bytes | str) -> dict[str, str]:
    """Parse GUANO text into {"Namespace|Key" or "Key": value}, leniently.

    Follows the spec (UTF-8, one `key: value` per line, namespace split at the first `|`) but skips lines it
    cannot read instead of failing, because a single bad vendor line must not hide the Timestamp.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # what guano-py falls back to as well
    else:
        text = raw
    fields: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.strip(" \t\r\x0b\x0c\x00")
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        namespace, name = key.split("|", 1) if "|" in key else ("", key)
        key = f"{namespace.strip()}|{name.strip()}" if namespace.strip() else name.strip()
        value = value.strip()
        if key and value and key not in fields:  # the spec forbids repeats; keep the first
            fields[key] = value
    return fields


def _guano_chunk(chunks: tuple[RiffChunk, ...] | None) -> RiffChunk | None:
    """The usable `guan` chunk, or None when absent or too big to be real."""
    if not chunks:
        return None
    chunk = next((c for c in chunks if c.chunk_id == b"guan"), None)
    if chunk is None:
        return None
    if chunk.size > MAX_GUANO_BYTES:
        log.warning("ignoring a %d-byte GUANO chunk (limit %d)", chunk.size, MAX_GUANO_BYTES)
        return None
    return chunk


def _read_guano_chunk(path: Path, chunk: RiffChunk) -> dict[str, str]:
    with open(path, "rb") as f:
        f.seek(chunk.data_offset)
        payload = f.read(chunk.available)
    if chunk.truncated:
        # Keep only complete lines: a value cut mid-way (a Timestamp missing its offset) would be wrong.
        payload = payload[: payload.rfind(b"\n") + 1]
    return parse_guano(payload)


def _read_guano_with_package(path: Path) -> dict[str, str] | None:
    """The reference reader (guano-py), with values kept as the text in the file. None when it fails."""
    try:
        g = _TextGuanoFile(str(path))
    except Exception:  # guano-py raises ValueError, wave.Error, EOFError, struct.error, ... on odd files
        return None
    return {f"{ns}|{key}" if ns else key: str(value) for ns, key, value in g.items_namespaced()}


def read_guano(path: str | os.PathLike[str]) -> dict[str, str]:
    """Every GUANO field of a WAV file as text, {} when it has none.

    Uses the `guano` package where it can open the file and our own RIFF chunk scan where it cannot
    (32-bit float, WAVE_FORMAT_EXTENSIBLE). A damaged or oversized (> 64 KiB) chunk yields {} rather
    than an exception: missing metadata must never stop a recording from being analysed.
    """
    path = Path(path)
    chunks = scan_riff_chunks(path)
    chunk = _guano_chunk(chunks)
    if chunk is None:
        return {}
    if not chunk.truncated:
        fields = _read_guano_with_package(path)
        if fields:
            return fields
    return _read_guano_chunk(path, chunk)


# --------------------------------------------------------------------------------------------- GUANO values


def parse_guano_timestamp(text: str) -> datetime | None:
    """GUANO Timestamp -> datetime: aware with `Z` or an offset, naive otherwise; None if unreadable."""
    text = text.strip()
    if not text:
        return None
    text = text.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Offsets written without a colon (+0200) or hours only (+02) are common in detector firmware.
    match = re.match(r"^(.*T[\d:.]+)([+-])(\d{2}):?(\d{2})?$", text)
    if match:
        stamp, sign, hours, minutes = match.groups()
        text = f"{stamp}{sign}{hours}:{minutes or '00'}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None


def _position(text: str) -> tuple[float | None, float | None]:
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if len(parts) < 2:
        return None, None
    lat, lon = _float_or_none(parts[0]), _float_or_none(parts[1])
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _time_expansion(fields: Mapping[str, str]) -> float | None:
    factor = _float_or_none(fields.get("TE"))
    return factor if factor is not None and factor > 0 else None


# --------------------------------------------------------------------------------------------- GUANO write


def _format_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    if isinstance(value, tuple):
        return " ".join(_format_value(v) for v in value)  # Loc Position: "lat lon"
    # The spec writes newlines inside a value as a literal backslash-n.
    return str(value).replace("\r\n", "\n").replace("\n", "\\n")


def format_guano(fields: Mapping[str, object]) -> bytes:
    """Serialise fields as a GUANO block: `GUANO|Version` first, UTF-8, padded to an even length."""
    lines = [f"GUANO|Version: {fields.get('GUANO|Version', '1.0')}"]
    for key, value in fields.items():
        if key == "GUANO|Version" or value is None:
            continue
        if not key or ":" in key or "\n" in key:
            raise ValueError(f"not a valid GUANO key: {key!r}")
        lines.append(f"{key}: {_format_value(value)}")
    payload = "\n".join(lines).encode("utf-8")
    return payload + b"\n" if len(payload) % 2 else payload


def write_guano(path: str | os.PathLike[str], fields: Mapping[str, str | float | int | datetime]) -> None:
    """Add or update GUANO fields in a WAV file, keeping its audio and other chunks byte for byte.

    Existing fields are kept unless `fields` names them; a value of None removes a field. The old `guan`
    chunk is dropped and a new one appended after the last chunk, with the RIFF size fixed. Works on PCM,
    float and WAVE_FORMAT_EXTENSIBLE files alike (our own chunk writer; guano-py's `write` re-encodes through
    the `wave` module, which cannot open the latter two). The file is replaced atomically.
    """
    path = Path(path)
    chunks = scan_riff_chunks(path)
    if chunks is None:
        raise NotAudioError(f"{path.name} is not a WAV file; GUANO can only be written into WAV files.")
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF":
            raise UnsupportedAudioError(
                f"{path.name} is an RF64/RIFX file; GUANO writing needs a plain RIFF WAV."
            )
    data = next((c for c in chunks if c.chunk_id == b"data"), None)
    if data is None or data.truncated:
        raise TruncatedAudioError(f"{path.name} has incomplete audio data; GUANO was not written.")

    merged: dict[str, object] = dict(read_guano(path))
    for key, value in fields.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    guano_bytes = format_guano(merged)

    # Keep every complete chunk except old GUANO; a trailing partial chunk is junk a crash left behind.
    kept = [c for c in chunks if c.chunk_id != b"guan" and not c.truncated]
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".wav.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            out.write(b"RIFF\x00\x00\x00\x00WAVE")
            for chunk in kept:
                out.write(chunk.chunk_id + struct.pack("<I", chunk.size))
                src.seek(chunk.data_offset)
                _copy_bytes(src, out, chunk.size)
                if chunk.size % 2:
                    out.write(b"\x00")
            out.write(b"guan" + struct.pack("<I", len(guano_bytes)) + guano_bytes)
            riff_size = out.tell() - 8
            out.seek(4)
            out.write(struct.pack("<I", riff_size))
        shutil.copymode(path, tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def _copy_bytes(src, dst, count: int, block: int = 1 << 20) -> None:
    while count > 0:
        buf = src.read(min(block, count))
        if not buf:
            raise TruncatedAudioError("the file ended while copying a chunk")
        dst.write(buf)
        count -= len(buf)


# --------------------------------------------------------------------------------------------- file names

# Date and time, compact (20240531_223911, 20240531$223911 when GPS-synced on Wildlife Acoustics) or dashed
# (2018-03-20_19-31-34), optionally followed by milliseconds (Vigie-Chiro, itsfm) or microseconds (WA SMART).
_COMPACT_STAMP = re.compile(
    r"(?<!\d)(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})[_$T-]?(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"(?:[_.](?P<frac>\d{3}|\d{6}))?(?!\d)"
)
_DASHED_STAMP = re.compile(
    r"(?<!\d)(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[_ T](?P<h>\d{2})[-:.](?P<mi>\d{2})[-:.](?P<s>\d{2})"
    r"(?:[_.](?P<frac>\d{3}|\d{6}))?(?!\d)"
)


def timestamp_from_filename(name: str) -> datetime | None:
    """Recording start from a detector's file name, as a naive detector-local datetime; None if none fits.

    Handles `PREFIX_YYYYMMDD_HHMMSS.wav` (Song Meter, Echo Meter), `PREFIX_0_YYYYMMDD_HHMMSS_mmm.wav`
    (SM2BAT / Vigie-Chiro), `$` between date and time, AudioMoth `YYYYMMDD_HHMMSS.WAV`, and
    `PREFIXYYYY-MM-DD_HH-MM-SS_mmm.wav`. A date without a time (`XC...-2013.01.08-...`) is not a time stamp.
    """
    stem = Path(name).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    candidates = [m for pattern in (_COMPACT_STAMP, _DASHED_STAMP) for m in pattern.finditer(stem)]
    # The time stamp is normally the last thing in the name; prefixes can contain digit runs of their own.
    for match in sorted(candidates, key=lambda m: m.start(), reverse=True):
        parts = {k: int(v) for k, v in match.groupdict().items() if k != "frac" and v is not None}
        if not 1990 <= parts["y"] <= 2100:
            continue
        try:
            stamp = datetime(parts["y"], parts["mo"], parts["d"], parts["h"], parts["mi"], parts["s"])
        except ValueError:
            continue
        frac = match.group("frac")
        if frac:
            stamp += timedelta(microseconds=int(frac) * (1000 if len(frac) == 3 else 1))
        return stamp
    return None


# --------------------------------------------------------------------------------------------- Batlogger XML


def _xml_text(root: ElementTree.Element, tag: str) -> str | None:
    node = root.find(tag)
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def read_batlogger_xml(path: str | os.PathLike[str]) -> BatloggerInfo | None:
    """Parse an Elekon Batlogger sidecar (`<BatRecord>`); None when it is missing, unreadable or not one.

    `path` may be the XML itself or the WAV beside it. DateTime is `%d.%m.%Y %H:%M:%S`, detector-local.
    """
    path = Path(path)
    if path.suffix.lower() != ".xml":
        candidates = [path.with_suffix(".xml"), path.with_suffix(".XML")]
        path = next((p for p in candidates if p.is_file()), candidates[0])
    if not path.is_file() or path.stat().st_size > _MAX_XML_BYTES:
        return None
    raw = path.read_bytes()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return None  # a sidecar never declares entities; refusing them avoids entity-expansion attacks
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        return None
    if root.tag != "BatRecord":
        return None

    timestamp = None
    stamp_text = _xml_text(root, "DateTime")
    if stamp_text:
        try:
            timestamp = datetime.strptime(stamp_text, "%d.%m.%Y %H:%M:%S")
        except ValueError:
            timestamp = None
    rate = _float_or_none(_xml_text(root, "Samplerate"))
    te = None
    for tag in ("TimeExpansion", "TE", "Time_Expansion"):
        te = _float_or_none(_xml_text(root, tag))
        if te is not None:
            break
    lat = lon = None
    position = _xml_text(root, "GPS/Position")
    valid = (_xml_text(root, "GPS/Valid") or "yes").lower()
    if position and valid not in ("no", "false", "0"):
        lat, lon = _position(position)
    return BatloggerInfo(
        timestamp=timestamp,
        sample_rate_hz=int(rate) if rate and rate > 0 else None,
        time_expansion=te if te and te > 0 else None,
        latitude=lat,
        longitude=lon,
        altitude_m=_float_or_none(_xml_text(root, "GPS/Altitude")),
        serial=_xml_text(root, "SN") or "",
        model=root.get("Model", "") or "",
        firmware=_xml_text(root, "Firmware") or "",
        original_filename=_xml_text(root, "Filename") or "",
        duration_s=_float_or_none(_xml_text(root, "Duration")),
        temperature_c=_float_or_none(_xml_text(root, "Temperature")),
    )


# --------------------------------------------------------------------------------------------- all together


def read_metadata(path: str | os.PathLike[str]) -> RecordingMetadata:
    """Header, GUANO, Batlogger sidecar and file-name time stamp of one recording, merged.

    Raises `ml.audio.AudioError` subclasses for files that are not audio, empty or truncated; a recording
    with no metadata at all still yields a result with empty fields.
    """
    path = Path(path)
    header = read_header(path)
    fields = read_guano(path)
    batlogger = read_batlogger_xml(path)

    timestamp, source = None, ""
    if "Timestamp" in fields:
        timestamp = parse_guano_timestamp(fields["Timestamp"])
        source = "guano" if timestamp else ""
    if timestamp is None and batlogger is not None and batlogger.timestamp is not None:
        timestamp, source = batlogger.timestamp, "batlogger_xml"
    if timestamp is None:
        timestamp = timestamp_from_filename(path.name)
        source = "filename" if timestamp else ""

    lat, lon = _position(fields.get("Loc Position", ""))
    if lat is None and batlogger is not None:
        lat, lon = batlogger.latitude, batlogger.longitude
    return RecordingMetadata(
        header_sample_rate_hz=header.header_sample_rate_hz,
        channels=header.channels,
        frames=header.frames,
        subtype=header.subtype,
        time_expansion=_time_expansion(fields),
        timestamp=timestamp,
        latitude=lat,
        longitude=lon,
        make=fields.get("Make", "") or ("Elekon" if batlogger else ""),
        model=fields.get("Model", "") or (f"Batlogger {batlogger.model}".strip() if batlogger else ""),
        serial=fields.get("Serial", "") or (batlogger.serial if batlogger else ""),
        species_manual_id=fields.get("Species Manual ID", ""),
        guano=fields,
        timestamp_source=source,
        batlogger=batlogger,
    )

