"""A deterministic corpus of malformed and hostile uploads (issue 10, hostile input).

Every case is built from code (no randomness without a fixed seed, fixed ZIP timestamps), so the same
bytes come out on every machine and a failing case can be rebuilt by its id:

    corpus()                  -> the case list (ids, the name the file is uploaded under, what must happen)
    write_corpus(folder)      -> every case written to `folder/<id>.bin`, returned with its path
    python -m tests.security.hostile_corpus OUT   writes the corpus by hand (for fuzzing other tools)

What must happen (`Expect`):
- "refused":  no recording is stored; the answer names the file and says why.
- "unusable": real audio whose true sample rate cannot hold bat calls: stored, then marked unusable.
- "not_ingested": refused, or stored and then marked unusable or failed with a reason; never analysed.
- "handled":  refused or stored, either with a clear message; never a server error.

The ZIP size cases assume the limits the upload tests set (`CORPUS_LIMITS`): real 4 GB bombs would take
minutes to unpack, so the unpacked-size and entry-count limits are lowered instead, and the cases exceed
those lowered limits by a margin.
"""

from __future__ import annotations

import io
import math
import random
import stat
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Expect = Literal["refused", "unusable", "not_ingested", "handled"]

# Limits the upload tests run under; the size and count cases below are built to break these.
CORPUS_LIMITS = {"MAX_UPLOAD_MB": 4, "ZIP_MAX_TOTAL_MB": 2, "ZIP_MAX_ENTRIES": 200}
_MB = 1024 * 1024
_DATE = (2025, 6, 12, 23, 0, 0)  # fixed ZIP timestamps keep the bytes identical run to run
_RATE_HZ = 384_000


@dataclass(frozen=True)
class Hostile:
    case_id: str  # unique, file-system safe; the pytest id
    upload_name: str  # the name the file is sent under (may be hostile itself)
    expect: Expect
    build: Callable[[], bytes]


# --------------------------------------------------------------------------------------------- WAV pieces


def _samples_pcm16(n: int, *, channels: int = 1, seed: int = 0) -> bytes:
    """A 40 kHz tone with a little noise, 16-bit little endian, interleaved."""
    rng = random.Random(seed)
    out = bytearray()
    for i in range(n):
        value = int(9000 * math.sin(2 * math.pi * 40_000 * i / _RATE_HZ) + rng.randint(-500, 500))
        out += struct.pack("<h", value) * channels
    return bytes(out)


def _fmt(
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = _RATE_HZ,
    bits: int = 16,
    block_align: int | None = None,
    byte_rate: int | None = None,
    extra: bytes = b"",
) -> bytes:
    align = block_align if block_align is not None else (channels * bits // 8) & 0xFFFF
    brate = byte_rate if byte_rate is not None else (rate * align) & 0xFFFFFFFF
    return struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate & 0xFFFFFFFF, brate, align, bits) + extra


def _chunk(chunk_id: bytes, payload: bytes, *, size: int | None = None, pad: bool = True) -> bytes:
    declared = len(payload) if size is None else size
    body = chunk_id + struct.pack("<I", declared & 0xFFFFFFFF) + payload
    if pad and len(payload) % 2:
        body += b"\x00"
    return body


def _riff(*chunks: bytes, magic: bytes = b"RIFF", form: bytes = b"WAVE", size: int | None = None) -> bytes:
    body = form + b"".join(chunks)
    declared = len(body) if size is None else size
    return magic + struct.pack("<I", declared & 0xFFFFFFFF) + body


def _wav(
    *,
    n: int = 4000,
    channels: int = 1,
    rate: int = _RATE_HZ,
    seed: int = 0,
    before_data: tuple[bytes, ...] = (),
    after_data: tuple[bytes, ...] = (),
) -> bytes:
    """A correct 16-bit PCM WAV, with optional extra chunks around its data."""
    data = _samples_pcm16(n, channels=channels, seed=seed)
    return _riff(
        _chunk(b"fmt ", _fmt(channels=channels, rate=rate)),
        *before_data,
        _chunk(b"data", data),
        *after_data,
    )


def _float_wav(values: list[float], *, bits: int = 32) -> bytes:
    code = "<f" if bits == 32 else "<d"
    data = b"".join(struct.pack(code, v) for v in values)
    return _riff(_chunk(b"fmt ", _fmt(tag=3, bits=bits)), _chunk(b"data", data))


def _guano(text: str | bytes, *, size: int | None = None) -> bytes:
    payload = text.encode("utf-8") if isinstance(text, str) else text
    return _chunk(b"guan", payload, size=size)


def _guano_wav(fields: str | bytes, *, rate: int = _RATE_HZ, seed: int = 0, size: int | None = None) -> bytes:
    text = fields if isinstance(fields, bytes) else "GUANO|Version: 1.0\n" + fields
    return _wav(rate=rate, seed=seed, after_data=(_guano(text, size=size),))


# --------------------------------------------------------------------------------------------- ZIP pieces


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, payload in entries:
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = method
            archive.writestr(info, payload)
    return buffer.getvalue()


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3  # Unix, so the mode bits mean what they say
    return info


def _patch_sizes(raw: bytes, *, file_size: int | None = None, compress_size: int | None = None) -> bytes:
    """Rewrite the declared sizes of every entry (local headers and central directory) without re-packing:
    the archive then lies about what it unpacks to."""
    data = bytearray(raw)
    for signature, usize_at, csize_at in ((b"PK\x03\x04", 22, 18), (b"PK\x01\x02", 24, 20)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            if file_size is not None:
                data[at + usize_at : at + usize_at + 4] = struct.pack("<I", file_size & 0xFFFFFFFF)
            if compress_size is not None:
                data[at + csize_at : at + csize_at + 4] = struct.pack("<I", compress_size & 0xFFFFFFFF)
            start = at + 4
    return bytes(data)


def _patch_flag(raw: bytes, *, set_bits: int) -> bytes:
    data = bytearray(raw)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            (flags,) = struct.unpack("<H", data[at + flag_at : at + flag_at + 2])
            data[at + flag_at : at + flag_at + 2] = struct.pack("<H", flags | set_bits)
            start = at + 4
    return bytes(data)


def _patch_method(raw: bytes, method: int) -> bytes:
    data = bytearray(raw)
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            data[at + method_at : at + method_at + 2] = struct.pack("<H", method)
            start = at + 4
    return bytes(data)


def _raw_name_zip(raw_name: bytes, payload: bytes, *, utf8_flag: bool) -> bytes:
    """A ZIP whose entry name is exactly `raw_name` (zipfile would re-encode a str name)."""
    placeholder = b"N" * len(raw_name)
    raw = _zip([(placeholder.decode("ascii"), payload)], method=zipfile.ZIP_STORED)
    raw = raw.replace(placeholder, raw_name)
    return _patch_flag(raw, set_bits=0x800) if utf8_flag else raw


def _bomb_payload(mb: int) -> bytes:
    """`mb` MB of a valid WAV (header + zero samples): compresses about 1000:1."""
    n = mb * _MB // 2
    return _riff(_chunk(b"fmt ", _fmt()), _chunk(b"data", bytes(n * 2)))


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------------------------- the corpus


def corpus() -> list[Hostile]:
    cases: list[Hostile] = []

    def add(case_id: str, upload_name: str, expect: Expect, build: Callable[[], bytes]) -> None:
        cases.append(Hostile(case_id, upload_name, expect, build))

    good = _wav()

    # Empty and truncated headers: every cut through the 44-byte header, then cuts into the data.
    add("empty", "empty.wav", "refused", lambda: b"")
    for cut in (1, 2, 3, 4, 7, 8, 11, 12, 13, 16, 19, 20, 24, 28, 32, 35, 36, 40, 43, 44):
        add(f"truncated-header-{cut}", f"cut{cut}.wav", "refused", lambda cut=cut: good[:cut])
    for cut in (45, 46, 47, 101, 1001, len(good) // 2, len(good) - 1):
        add(f"truncated-data-{cut}", f"cutdata{cut}.wav", "refused", lambda cut=cut: good[:cut])

    # Wrong chunk sizes.
    data = _samples_pcm16(4000)
    fmt = _fmt()
    for label, riff_size in (("0", 0), ("4", 4), ("small", 100), ("max", 0xFFFFFFFF), ("odd", 12345)):
        add(f"riff-size-{label}", f"riffsize-{label}.wav", "handled",
            lambda s=riff_size, seed=len(label): _riff(_chunk(b"fmt ", fmt), _chunk(b"data", _samples_pcm16(4000, seed=seed)), size=s))  # fmt: skip
    for label, fmt_size in (("0", 0), ("1", 1), ("14", 14), ("15", 15), ("huge", 0xFFFFFFF0), ("max", 0xFFFFFFFF)):
        add(f"fmt-size-{label}", f"fmtsize-{label}.wav", "refused",
            lambda s=fmt_size: _riff(_chunk(b"fmt ", fmt, size=s, pad=False), _chunk(b"data", data)))  # fmt: skip
    for label, data_size in (("huge", 0x7FFFFFFF), ("past-end", len(data) + 2), ("1GB", 1 << 30)):
        add(f"data-size-{label}", f"datasize-{label}.wav", "refused",
            lambda s=data_size: _riff(_chunk(b"fmt ", fmt), _chunk(b"data", data, size=s)))  # fmt: skip
    for label, data_size in (("max", 0xFFFFFFFF), ("zero", 0), ("odd", len(data) - 1), ("short", 10)):
        add(f"data-size-{label}", f"datasize-{label}.wav", "handled",
            lambda s=data_size, seed=len(label) + 10: _riff(_chunk(b"fmt ", fmt), _chunk(b"data", _samples_pcm16(4000, seed=seed), size=s)))  # fmt: skip
    add("chunk-size-max-junk", "junkchunk.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"junk", b"x" * 10, size=0xFFFFFFFF, pad=False)))  # fmt: skip
    add("many-tiny-chunks", "manychunks.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", fmt), *(_chunk(b"LIST", b"") for _ in range(20_000)), _chunk(b"data", _samples_pcm16(4000, seed=77))))  # fmt: skip
    add("odd-chunk-without-pad", "nopad.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"note", b"abc", pad=False), _chunk(b"data", _samples_pcm16(4000, seed=78))))  # fmt: skip

    # The format chunk's fields.
    for label, kwargs in (
        ("tag-0", {"tag": 0}), ("tag-adpcm", {"tag": 2}), ("tag-mp3", {"tag": 0x55}), ("tag-ffff", {"tag": 0xFFFF}),
        ("tag-extensible-short", {"tag": 0xFFFE}), ("bits-0", {"bits": 0}), ("bits-1", {"bits": 1}),
        ("bits-7", {"bits": 7}), ("bits-12", {"bits": 12}), ("bits-64-pcm", {"bits": 64}),
        ("bits-65535", {"bits": 65535}), ("channels-0", {"channels": 0}), ("channels-65535", {"channels": 65535}),
        ("block-align-0", {"block_align": 0}), ("block-align-huge", {"block_align": 65535}),
        ("byte-rate-0", {"byte_rate": 0}), ("float-16bit", {"tag": 3, "bits": 16}),
        ("float-8bit", {"tag": 3, "bits": 8}),
    ):  # fmt: skip
        add(f"fmt-{label}", f"fmt-{label}.wav", "handled",
            lambda kw=kwargs, seed=len(cases): _riff(_chunk(b"fmt ", _fmt(**kw)), _chunk(b"data", _samples_pcm16(4000, seed=seed))))  # fmt: skip
    add("fmt-extensible-garbage-guid", "ext.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", _fmt(tag=0xFFFE, extra=struct.pack("<H", 22) + b"\xaa" * 22)), _chunk(b"data", _samples_pcm16(4000, seed=5))))  # fmt: skip

    # Absurd and too-low sample rates. Real audio at a low rate is kept and marked unusable.
    for rate in (0,):
        add(f"rate-{rate}", f"rate{rate}.wav", "refused", lambda rate=rate: _wav(rate=rate, seed=rate))
    for rate in (1, 2, 1000):
        add(f"rate-{rate}", f"rate{rate}.wav", "unusable", lambda rate=rate: _wav(rate=rate, seed=rate % 997))
    add("rate-2147483647", "ratemax31.wav", "not_ingested", lambda: _wav(rate=2**31 - 1, seed=31))
    for rate in (2**31, 2**32 - 1):  # past a signed 32-bit int: the decoder refuses the header
        add(f"rate-{rate}", f"rate{rate}.wav", "refused", lambda rate=rate: _wav(rate=rate, seed=rate % 997))
    for rate in (8_000, 22_050, 44_100, 48_000, 96_000, 99_999):
        add(f"rate-low-{rate}", f"low{rate}.wav", "unusable", lambda rate=rate: _wav(rate=rate, seed=rate % 991))

    # Sample counts and channels.
    add("samples-0", "zero.wav", "refused", lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"data", b"")))
    add("samples-1", "one.wav", "handled", lambda: _wav(n=1, seed=1))
    add("samples-2", "two.wav", "handled", lambda: _wav(n=2, seed=2))
    add("samples-half", "half.wav", "handled", lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"data", b"\x01")))
    add("channels-8", "eight.wav", "handled", lambda: _wav(channels=8, n=2000, seed=8))
    add("channels-2", "stereo.wav", "handled", lambda: _wav(channels=2, n=2000, seed=9))
    add("channels-8-one-frame", "eight1.wav", "handled", lambda: _wav(channels=8, n=1, seed=10))
    add("channels-8-low-rate", "eightlow.wav", "unusable", lambda: _wav(channels=8, n=2000, rate=44_100, seed=11))

    # NaN and infinity in float WAVs.
    nan, inf = float("nan"), float("inf")
    for label, values in (
        ("all-nan", [nan] * 4000), ("all-inf", [inf] * 4000), ("all-neg-inf", [-inf] * 4000),
        ("mixed", [nan, inf, -inf, 0.5, 1e38] * 800), ("huge", [3e38, -3e38] * 2000),
        ("one-nan", [0.1 * math.sin(i / 3) for i in range(3999)] + [nan]), ("denormal", [1e-45] * 4000),
    ):  # fmt: skip
        add(f"float32-{label}", f"f32-{label}.wav", "handled", lambda v=values: _float_wav(v))
    add("float64-nan", "f64-nan.wav", "handled", lambda: _float_wav([nan] * 4000, bits=64))
    add("float64-inf", "f64-inf.wav", "handled", lambda: _float_wav([inf, -inf] * 2000, bits=64))

    # GUANO: fake, damaged, oversized, hostile values.
    guano_cases: list[tuple[str, str | bytes, Expect]] = [
        ("not-guano", b"hello, I am not GUANO at all", "handled"),
        ("binary", _random_bytes(1, 4000), "handled"),
        ("latin1", "GUANO|Version: 1.0\nNote: caf\xe9\n".encode("latin-1"), "handled"),
        ("nul-bytes", b"GUANO|Version: 1.0\n\x00\x00\x00TE: 10\n", "handled"),
        ("empty", b"", "handled"),
        ("te-0", "TE: 0\n", "handled"),
        ("te-negative", "TE: -10\n", "handled"),
        ("te-nan", "TE: nan\n", "handled"),
        ("te-inf", "TE: inf\n", "handled"),
        ("te-huge", "TE: 1e308\n", "not_ingested"),
        ("te-10000", "TE: 10000\n", "not_ingested"),
        ("te-tiny", "TE: 1e-308\n", "not_ingested"),
        ("te-text", "TE: ten\n", "handled"),
        ("te-10", "TE: 10\n", "handled"),
        ("samplerate-nan", "Samplerate: nan\n", "handled"),
        ("samplerate-0", "Samplerate: 0\n", "handled"),
        ("timestamp-garbage", "Timestamp: 2025-13-45T99:99:99\n", "handled"),
        ("timestamp-huge-year", "Timestamp: 99999-01-01T00:00:00\n", "handled"),
        ("timestamp-offset-absurd", "Timestamp: 2025-06-12T23:00:00+99:00\n", "handled"),
        ("loc-garbage", "Loc Position: north east\n", "handled"),
        ("loc-out-of-range", "Loc Position: 999 -999\n", "handled"),
        ("loc-nan", "Loc Position: nan nan\n", "handled"),
        ("species-script", "Species Manual ID: <script>alert(1)</script>\n", "handled"),
        ("html-note", "Note: <img src=x onerror=alert(1)>\n", "handled"),
        ("no-separator-lines", "TE 10\nSamplerate\n:\n::::\n", "handled"),
        ("many-fields", "".join(f"Field{i}: {i}\n" for i in range(20_000)), "handled"),
        ("long-value", "Note: " + "x" * 1_000_000 + "\n", "handled"),
        ("json-bomb-value", "WA|Something: " + "[" * 100_000 + "\n", "handled"),
    ]
    for label, text, expect in guano_cases:
        add(f"guano-{label}", f"guano-{label}.wav", expect, lambda t=text, s=len(label): _guano_wav(t, seed=s))
    add("guano-declared-huge", "guano-huge.wav", "handled",
        lambda: _guano_wav("TE: 10\n", size=0xFFFFFFF0, seed=90))  # fmt: skip
    add("guano-before-data-declared-huge", "guano-huge2.wav", "refused",
        lambda: _wav(before_data=(_guano("GUANO|Version: 1.0\n", size=0x7FFFFFF0),), seed=91))  # fmt: skip
    add("guano-two-chunks", "guano-two.wav", "handled",
        lambda: _wav(seed=92, after_data=(_guano("GUANO|Version: 1.0\nTE: 10\n"), _guano("GUANO|Version: 1.0\nTE: 1\n"))))  # fmt: skip
    add("guano-te-low-rate", "guano-te-low.wav", "handled", lambda: _guano_wav("TE: 10\n", rate=38_400, seed=93))
    add("guano-te-1-low-rate", "guano-te1-low.wav", "unusable", lambda: _guano_wav("TE: 1\n", rate=44_100, seed=94))

    # Containers that are not WAVE inside, or RIFF with missing parts.
    add("riff-only-header", "riffonly.wav", "refused", lambda: b"RIFF\x04\x00\x00\x00WAVE")
    add("riff-no-fmt", "nofmt.wav", "refused", lambda: _riff(_chunk(b"data", data)))
    add("riff-no-data", "nodata.wav", "refused", lambda: _riff(_chunk(b"fmt ", fmt)))
    add("riff-no-fmt-no-data", "nothing.wav", "refused", lambda: _riff(_chunk(b"LIST", b"INFOabcd")))
    add("riff-data-before-fmt", "datafirst.wav", "handled",
        lambda: _riff(_chunk(b"data", _samples_pcm16(4000, seed=95)), _chunk(b"fmt ", fmt)))  # fmt: skip
    add("riff-two-fmt", "twofmt.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"fmt ", _fmt(rate=8000)), _chunk(b"data", _samples_pcm16(4000, seed=96))))  # fmt: skip
    add("riff-two-data", "twodata.wav", "handled",
        lambda: _riff(_chunk(b"fmt ", fmt), _chunk(b"data", _samples_pcm16(100, seed=97)), _chunk(b"data", _samples_pcm16(100, seed=98))))  # fmt: skip
    add("riff-avi", "avi.wav", "refused", lambda: _riff(_chunk(b"avih", b"\x00" * 56), form=b"AVI "))
    add("riff-webp", "webp.wav", "refused", lambda: _riff(_chunk(b"VP8 ", b"\x00" * 20), form=b"WEBP"))
    add("rifx-big-endian-garbage", "rifx.wav", "handled",
        lambda: b"RIFX" + struct.pack(">I", 1000) + b"WAVE" + _random_bytes(2, 996))  # fmt: skip
    add("rf64-without-ds64", "rf64.wav", "refused", lambda: _riff(_chunk(b"fmt ", fmt), magic=b"RF64", size=0xFFFFFFFF))
    add("rf64-garbage", "rf64g.wav", "handled", lambda: b"RF64\xff\xff\xff\xffWAVE" + _random_bytes(3, 500))
    add("wave-then-random", "wrand.wav", "handled", lambda: b"RIFF\x00\x10\x00\x00WAVE" + _random_bytes(4, 4084))

    # Random bytes and other formats under a .wav name (and under their own names).
    for seed, size in enumerate((1, 11, 12, 13, 44, 100, 1000, 4096, 65_537, 300_000)):
        add(f"random-{size}", f"random{size}.wav", "refused", lambda s=seed, n=size: _random_bytes(100 + s, n))
    foreign: list[tuple[str, bytes]] = [
        ("mp3-id3", b"ID3\x04\x00\x00\x00\x00\x00\x0f" + b"\x00" * 15 + b"\xff\xfb\x90\x00" + _random_bytes(5, 2000)),
        ("mp3-frame", b"\xff\xfb\x90\x64" + _random_bytes(6, 2000)),
        ("flac", b"fLaC\x00\x00\x00\x22" + _random_bytes(7, 2000)),
        ("wac", b"WAac" + bytes([5, 0, 0, 0]) + _random_bytes(8, 2000)),
        ("ogg", b"OggS\x00\x02" + _random_bytes(9, 2000)),
        ("aiff", b"FORM\x00\x00\x08\x00AIFFCOMM" + _random_bytes(10, 2000)),
        ("pdf", b"%PDF-1.7\n" + _random_bytes(11, 2000)),
        ("png", b"\x89PNG\r\n\x1a\n" + _random_bytes(12, 2000)),
        ("jpeg", b"\xff\xd8\xff\xe0" + _random_bytes(13, 2000)),
        ("html", b"<!doctype html><script>alert(1)</script>"),
        ("xml", b"<?xml version='1.0'?><BatRecord><x>1</x></BatRecord>"),
        ("zip", _zip([("a.wav", good)])),
        ("elf", b"\x7fELF\x02\x01\x01" + _random_bytes(14, 2000)),
        ("text", b"just a text file\n" * 20),
        ("utf16-bom", "\ufeffRIFF".encode("utf-16")),
    ]  # fmt: skip
    for label, payload in foreign:
        add(f"as-wav-{label}", f"{label}.wav", "refused", lambda p=payload: p)
    for label, ext in (("mp3-id3", "mp3"), ("flac", "flac"), ("wac", "wac"), ("ogg", "ogg"), ("pdf", "pdf"),
                       ("zip", "7z"), ("elf", "exe"), ("text", "txt")):  # fmt: skip
        payload = dict(foreign)[label]
        add(f"own-name-{label}", f"{label}.{ext}", "refused", lambda p=payload: p)
    add("wav-named-mp3", "real.mp3", "refused", lambda: _wav(seed=120))
    add("wav-named-noext", "recording", "refused", lambda: _wav(seed=121))
    add("wav-named-upper", "LOUD.WAV", "handled", lambda: _wav(seed=122))

    # Hostile names on loose files (multipart names are the browser's; Django strips folders).
    for label, name in (
        ("traversal", "../../../etc/passwd.wav"), ("absolute", "/etc/cron.d/evil.wav"),
        ("windows-traversal", "..\\..\\windows\\evil.wav"), ("drive", "C:\\evil.wav"),
        ("dots", "...wav"), ("only-ext", ".wav"), ("long", "a" * 900 + ".wav"),
        ("html", "<script>alert(1)</script>.wav"), ("quote", "a\"b'c.wav"), ("rtl", "evil\u202egnp.wav"),
        ("newline", "line\nbreak.wav"), ("emoji", "\U0001f987bat.wav"), ("device", "CON.wav"),
        ("percent", "%2e%2e%2fevil.wav"), ("spaces", "   .wav"),
    ):  # fmt: skip
        add(f"name-{label}", name, "handled", lambda s=len(label) + 200: _wav(seed=s))

    # Oversized loose files (the limit is CORPUS_LIMITS["MAX_UPLOAD_MB"]).
    add("oversized-wav", "big.wav", "refused", lambda: _bomb_payload(CORPUS_LIMITS["MAX_UPLOAD_MB"] + 1))
    add("oversized-random", "bigrandom.wav", "refused",
        lambda: _random_bytes(300, (CORPUS_LIMITS["MAX_UPLOAD_MB"] + 1) * _MB))  # fmt: skip

    # ZIPs: bombs, lies, traversal, links, nesting, odd names, damage.
    limit_mb, max_entries = CORPUS_LIMITS["ZIP_MAX_TOTAL_MB"], CORPUS_LIMITS["ZIP_MAX_ENTRIES"]
    add("zip-too-many-entries", "many.zip", "refused",
        lambda: _zip([(f"d/{i:05d}.wav", b"") for i in range(max_entries + 1)]))  # fmt: skip
    add("zip-too-many-entries-x50", "many50.zip", "refused",
        lambda: _zip([(f"{i:06d}.txt", b"") for i in range(max_entries * 50)], method=zipfile.ZIP_STORED))  # fmt: skip
    add("zip-bomb-honest", "bomb.zip", "refused", lambda: _zip([("bomb.wav", _bomb_payload(limit_mb + 1))]))
    add("zip-bomb-lying-small", "bomb-lie.zip", "refused",
        lambda: _patch_sizes(_zip([("bomb.wav", _bomb_payload(limit_mb + 1))]), file_size=1000))  # fmt: skip
    add("zip-bomb-many-small-lying", "bomb-lie2.zip", "refused",
        lambda: _patch_sizes(_zip([(f"b{i}.wav", _bomb_payload(1)[:-i - 1] + bytes(i + 1)) for i in range(limit_mb + 2)]), file_size=100))  # fmt: skip
    add("zip-declared-4gb", "declared.zip", "refused",
        lambda: _patch_sizes(_zip([("a.wav", good), ("b.wav", _wav(seed=130))]), file_size=0xFFFFFFFF))  # fmt: skip
    add("zip-declared-larger-than-actual", "declared2.zip", "handled",
        lambda: _patch_sizes(_zip([("a.wav", _wav(seed=131))]), file_size=len(good) + 5000))  # fmt: skip
    add("zip-compressed-size-lie", "csize.zip", "handled",
        lambda: _patch_sizes(_zip([("a.wav", _wav(seed=132))]), compress_size=0xFFFFFF))  # fmt: skip
    add("zip-quine-like-nested-bomb", "nested-bomb.zip", "refused",
        lambda: _zip([(f"inner{i}.zip", _zip([("bomb.wav", _bomb_payload(1))])) for i in range(3)]))  # fmt: skip
    for label, name in (
        ("dotdot", "../evil.wav"), ("dotdot-deep", "a/b/../../../evil.wav"), ("absolute", "/tmp/evil.wav"),
        ("windows-dotdot", "..\\evil.wav"), ("drive", "C:/evil.wav"), ("drive-backslash", "C:\\Windows\\evil.wav"),
        ("unc", "\\\\server\\share\\evil.wav"), ("dotdot-only", ".."),
    ):  # fmt: skip
        add(f"zip-path-{label}", f"path-{label}.zip", "refused",
            lambda n=name, s=len(label) + 140: _zip([("ok.wav", _wav(seed=s)), (n, _wav(seed=s + 1000))]))  # fmt: skip
    # zipfile cuts names at a NUL byte when it reads them, so this entry arrives as "evil": not a WAV.
    add("zip-path-nul", "path-nul.zip", "refused", lambda: _raw_name_zip(b"evil\x00.wav", _wav(seed=139), utf8_flag=False))
    add("zip-symlink-etc-passwd", "link.zip", "refused",
        lambda: _zip([(_symlink_info("passwd.wav"), b"/etc/passwd")]))  # fmt: skip
    add("zip-symlink-dir", "linkdir.zip", "refused",
        lambda: _zip([(_symlink_info("recs"), b"/"), ("recs/a.wav", _wav(seed=150))]))  # fmt: skip
    add("zip-symlink-beside-good", "link2.zip", "refused",
        lambda: _zip([("good.wav", _wav(seed=151)), (_symlink_info("evil.wav"), b"../../../../etc/shadow")]))  # fmt: skip
    add("zip-nested-zip", "nested.zip", "refused", lambda: _zip([("inner.zip", _zip([("a.wav", _wav(seed=152))]))]))
    add("zip-nested-3-deep", "nested3.zip", "refused",
        lambda: _zip([("l1.zip", _zip([("l2.zip", _zip([("a.wav", _wav(seed=153))]))]))]))  # fmt: skip
    add("zip-nested-tar", "tar.zip", "refused", lambda: _zip([("x.tar", b"ustar" + bytes(507))]))
    add("zip-nested-zip-named-wav", "disguised.zip", "refused", lambda: _zip([("inner.wav", _zip([("a.wav", good)]))]))
    for label, raw_name, flag in (
        ("cp437", "Fledermaus_\x84.wav".encode("latin-1"), False),
        ("invalid-utf8-flagged", b"bat_\xff\xfe.wav", True),
        ("overlong-utf8", b"bat_\xc0\xaf.wav", True),
        ("lone-surrogate", b"bat_\xed\xa0\x80.wav", True),
        ("control-chars", b"bat_\x01\x02\x1b[31m.wav", False),
        ("latin1-dotdot", b"..\xe9/evil.wav", False),
    ):  # fmt: skip
        add(f"zip-name-{label}", f"name-{label}.zip", "handled",
            lambda r=raw_name, f=flag, s=len(label) + 160: _raw_name_zip(r, _wav(seed=s), utf8_flag=f))  # fmt: skip
    add("zip-name-long", "longname.zip", "handled", lambda: _zip([("d" * 60 + "/" + "n" * 900 + ".wav", _wav(seed=170))]))
    add("zip-name-html", "htmlname.zip", "handled", lambda: _zip([("<img src=x onerror=alert(1)>.wav", _wav(seed=171))]))
    add("zip-empty", "empty.zip", "refused", lambda: _zip([]))
    add("zip-only-dirs", "dirs.zip", "refused", lambda: _zip([("a/", b""), ("a/b/", b"")]))
    add("zip-only-macos-junk", "junk.zip", "refused",
        lambda: _zip([("__MACOSX/._a.wav", b"\x00\x05\x16\x07"), (".DS_Store", b"\x00\x00\x00\x01Bud1")]))  # fmt: skip
    add("zip-only-text", "text.zip", "refused", lambda: _zip([("readme.txt", b"hello")]))
    add("zip-truncated-half", "cut.zip", "refused", lambda: _zip([("a.wav", _wav(seed=172))])[:1500])
    add("zip-truncated-eocd", "cuteocd.zip", "refused", lambda: _zip([("a.wav", _wav(seed=173))])[:-10])
    add("zip-only-eocd-garbage", "eocd.zip", "refused", lambda: b"PK\x05\x06" + bytes(18))
    add("zip-random-bytes", "random.zip", "refused", lambda: _random_bytes(174, 5000))
    add("zip-wav-bytes", "wav.zip", "refused", lambda: _wav(seed=175))
    add("zip-crc-corrupted", "crc.zip", "refused",
        lambda: (lambda raw: raw[:60] + bytes([raw[60] ^ 0xFF]) + raw[61:])(_zip([("a.wav", _wav(seed=176))], method=zipfile.ZIP_STORED)))  # fmt: skip
    add("zip-deflate-corrupted", "deflate.zip", "refused",
        lambda: (lambda raw: raw[:70] + _random_bytes(177, 50) + raw[120:])(_zip([("a.wav", _wav(seed=178))])))  # fmt: skip
    add("zip-encrypted-flag", "encrypted.zip", "refused",
        lambda: _patch_flag(_zip([("a.wav", _wav(seed=179))]), set_bits=0x1))  # fmt: skip
    add("zip-method-aes", "aes.zip", "refused", lambda: _patch_method(_zip([("a.wav", _wav(seed=180))]), 99))
    add("zip-method-unknown", "method.zip", "refused", lambda: _patch_method(_zip([("a.wav", _wav(seed=181))]), 77))
    add("zip-bzip2", "bzip2.zip", "handled", lambda: _zip([("a.wav", _wav(seed=182))], method=zipfile.ZIP_BZIP2))
    add("zip-lzma", "lzma.zip", "handled", lambda: _zip([("a.wav", _wav(seed=183))], method=zipfile.ZIP_LZMA))
    add("zip-duplicate-names", "dupnames.zip", "handled",
        lambda: _zip([("a.wav", _wav(seed=184)), ("a.wav", _wav(seed=185))]))  # fmt: skip
    add("zip-same-content-twice", "dupcontent.zip", "handled",
        lambda: _zip([("a.wav", _wav(seed=186)), ("b.wav", _wav(seed=186))]))  # fmt: skip
    add("zip-self-extracting-prefix", "sfx.zip", "handled",
        lambda: b"MZ" + bytes(1000) + _zip([("a.wav", _wav(seed=187))]))  # fmt: skip
    add("zip-low-rate-entry", "lowrate.zip", "unusable", lambda: _zip([("low.wav", _wav(rate=44_100, seed=188))]))
    add("zip-hostile-entries-mixed", "mixed.zip", "handled",
        lambda: _zip([("good.wav", _wav(seed=189)), ("random.wav", _random_bytes(190, 3000)),
                      ("cut.wav", _wav(seed=191)[:30]), ("flac.wav", b"fLaC" + bytes(100)), ("x.mp3", b"ID3")]))  # fmt: skip
    add("zip-oversized-xml-sidecar", "sidecar.zip", "handled",
        lambda: _zip([("a.wav", _wav(seed=192)), ("a.xml", b"<BatRecord>" + b"x" * 400_000 + b"</BatRecord>")]))  # fmt: skip
    add("zip-xml-billion-laughs", "laughs.zip", "handled",
        lambda: _zip([("b.wav", _wav(seed=193)), ("b.xml", _BILLION_LAUGHS)]))  # fmt: skip
    add("zip-xml-external-entity", "xxe.zip", "handled",
        lambda: _zip([("c.wav", _wav(seed=194)), ("c.xml", _XXE)]))  # fmt: skip
    add("xml-billion-laughs-loose", "d.xml", "refused", lambda: _BILLION_LAUGHS)
    add("zip-entry-zip64-extra-garbage", "zip64.zip", "refused",
        lambda: _patch_sizes(_zip([("a.wav", _wav(seed=195))]), file_size=0xFFFFFFFF, compress_size=0xFFFFFFFF))  # fmt: skip
    add("zip-named-wav", "archive.wav", "refused", lambda: _zip([("a.wav", _wav(seed=196))]))
    add("zip-extension-upper", "UPPER.ZIP", "handled", lambda: _zip([("a.wav", _wav(seed=197))]))

    ids = [c.case_id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


_BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><BatRecord><Comment>&lol9;</Comment></BatRecord>"
)
_XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<BatRecord><Comment>&x;</Comment><DateTime>12.06.2025 23:00:00</DateTime></BatRecord>"
)


def write_corpus(folder: Path) -> list[tuple[Hostile, Path]]:
    """Write every case to `folder/<case_id>.bin` and return the cases with their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in corpus():
        path = folder / f"{case.case_id}.bin"
        path.write_bytes(case.build())
        written.append((case, path))
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    files = write_corpus(target)
    print(f"{len(files)} hostile files written to {target}")
