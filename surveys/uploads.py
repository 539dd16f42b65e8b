"""Upload mechanics: from the bytes a user sent to a staged, hashed, validated file (flow step 1).

`surveys.services.recordings_upload` drives this module and owns the database side (rows, dedupe,
transactions); this module owns the bytes: names, size and disk limits, streaming to a staging file
while hashing, the WAV sniff and header check, and ZIP inspection before anything is unpacked.

Every refusal is an `UploadRejected` whose message says what was wrong and what to upload instead.
Staged files live in one folder beside the media storage (same file system, so storing is a rename),
are fsynced just before that rename when they are to be kept (`surveys.services._recording_store`, with
batsite/storage.py), and are removed whether or not they were stored.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from ml.audio import AudioError, WavHeader, read_header

MB = 1024 * 1024
CHUNK_BYTES = 1 * MB  # streaming granularity: the most of one file held in memory at a time
MAX_SIDECAR_BYTES = 256 * 1024  # a Batlogger XML is about 1 kB; anything far bigger is not one
_MAX_NAMES_IN_MESSAGE = 3

FileKind = Literal["wav", "zip", "sidecar", "junk", "foreign", "archive", "other"]

# Formats other detectors write. Named so the message can say what the file is and what to do instead.
FOREIGN_FORMATS: dict[str, str] = {
    ".wac": "Wildlife Acoustics compressed audio (WAC)",
    ".w4v": "Wildlife Acoustics compressed audio (W4V)",
    ".zc": "Anabat zero-crossing",
    ".zca": "Anabat zero-crossing",
    ".mp3": "MP3",
    ".flac": "FLAC",
    ".ogg": "Ogg",
    ".oga": "Ogg",
    ".opus": "Opus",
    ".m4a": "AAC/M4A",
    ".aac": "AAC",
    ".wma": "Windows Media Audio",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".raw": "raw PCM without a header",
}
OTHER_ARCHIVES = {".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cab"}
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}

# What common non-WAV contents start with, so a mislabelled file is named for what it really is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"fLaC", "FLAC audio"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg audio"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"FORM", "AIFF audio"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"<?xml", "an XML document"),
)


class UploadRejected(Exception):
    """A file (or a whole ZIP) refused; the message is shown to the user as is."""


class ZipRefused(UploadRejected):
    """The whole archive is refused (structure, limits): no entry of it is unpacked (any more)."""


# --------------------------------------------------------------------------------------------- names


def file_kind(name: str) -> FileKind:
    """What a name says a file is; contents are checked later, names decide only the route."""
    path = PurePosixPath(name.replace("\\", "/"))
    base = path.name.lower()
    if is_macos_junk(name):
        return "junk"
    suffix = PurePosixPath(base).suffix
    if suffix == ".wav":
        return "wav"
    if suffix == ".zip":
        return "zip"
    if suffix == ".xml":
        return "sidecar"
    if suffix in FOREIGN_FORMATS:
        return "foreign"
    if suffix in OTHER_ARCHIVES:
        return "archive"
    return "other"


def is_macos_junk(name: str) -> bool:
    """Finder's resource forks (`__MACOSX/`, `._x.wav`) and folder litter: never recordings."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts:
        return False
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1].lower() in _JUNK_NAMES


def sidecar_key(name: str) -> str:
    """Key that pairs `10160435.xml` with `10160435.wav` (same folder, same stem, any case)."""
    path = PurePosixPath(name.replace("\\", "/"))
    return str(path.with_suffix("")).lower()


def base_name(name: str) -> str:
    """The file name without any folder (browsers and ZIPs may send either slash), safe to create."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "").strip()
    if base in ("", ".", ".."):
        return "upload.wav"
    return base[-200:]


def rejection_for_name(name: str) -> str | None:
    """The message for a file refused by its name alone, None when the name is acceptable."""
    kind = file_kind(name)
    shown = base_name(name)
    if kind == "foreign":
        suffix = PurePosixPath(shown.lower()).suffix
        return _(
            "%(name)s is a %(format)s file, which Batsite does not read. Upload WAV recordings (.wav) or a "
            "ZIP of WAV files; convert the file to WAV with the detector's software first."
        ) % {"name": shown, "format": FOREIGN_FORMATS[suffix]}
    if kind == "archive":
        return _(
            "%(name)s is an archive format Batsite does not unpack. Upload WAV recordings (.wav) or a ZIP of "
            "WAV files."
        ) % {"name": shown}
    if kind == "other":
        return _("%(name)s is not a WAV file. Upload WAV recordings (.wav) or a ZIP of WAV files.") % {
            "name": shown
        }
    return None


# --------------------------------------------------------------------------------------------- disk


def staging_root() -> Path:
    """Where uploads are staged: inside the media folder when it is local, so storing is a rename."""
    try:
        root = Path(default_storage.path(".staging"))
    except NotImplementedError:  # remote storage: stage in the system's temporary folder
        root = Path(tempfile.gettempdir()) / "batsite-staging"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class DiskSpace:
    """Free space where uploads land, and the reserve (DISK_FREE_MARGIN_MB) uploads may not eat into."""

    free_bytes: int
    margin_bytes: int

    @property
    def below_margin(self) -> bool:
        return self.free_bytes < self.margin_bytes


def disk_space() -> DiskSpace:
    return DiskSpace(
        free_bytes=shutil.disk_usage(staging_root()).free, margin_bytes=settings.DISK_FREE_MARGIN_MB * MB
    )


def check_disk_space(*, incoming_bytes: int) -> None:
    """Refuse when storing `incoming_bytes` would leave less than DISK_FREE_MARGIN_MB free."""
    space = disk_space()
    free_bytes, margin_bytes = space.free_bytes, space.margin_bytes
    if free_bytes - max(incoming_bytes, 0) < margin_bytes:
        raise UploadRejected(
            _(
                "The server's disk is almost full (%(free)d MB free, %(margin)d MB kept in reserve), so the "
                "upload was refused and nothing was stored. Ask the operator to free space, then upload "
                "again."
            )
            % {"free": free_bytes // MB, "margin": settings.DISK_FREE_MARGIN_MB}
        )


def max_upload_bytes() -> int:
    return settings.MAX_UPLOAD_MB * MB


def too_large_message(name: str) -> str:
    return _("%(name)s is larger than the upload limit of %(limit)d MB and was not stored.") % {
        "name": base_name(name),
        "limit": settings.MAX_UPLOAD_MB,
    }


# --------------------------------------------------------------------------------------------- staging


@dataclass(frozen=True)
class StagedFile:
    """Bytes on local disk, hashed while written; named like the upload so error messages name it."""

    path: Path
    sha256: str
    size_bytes: int

    def discard(self) -> None:
        """Remove the staging folder (the file is gone already when storage moved it)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


class StagedContent(File):
    """Hands a staged file to storage; FileSystemStorage moves a file that has `temporary_file_path`."""

    def __init__(self, staged: StagedFile) -> None:
        super().__init__(open(staged.path, "rb"), name=staged.path.name)
        self._staged_path = staged.path

    def temporary_file_path(self) -> str:
        return str(self._staged_path)


def describe_content(head: bytes) -> str | None:
    """What a non-WAV content looks like (FLAC, ZIP, ...), from its first bytes; None if unknown."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MP3 audio"
    return None


def check_wav_signature(head: bytes, name: str) -> None:
    """Refuse content that is not RIFF/WAVE (RF64 and RIFX are WAV variants soundfile reads)."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"RIFX") and head[8:12] == b"WAVE":
        return
    shown = base_name(name)
    what = describe_content(head)
    if what:
        raise UploadRejected(
            _("%(name)s is not a WAV file: its content is %(what)s. Upload the detector's WAV recordings.")
            % {"name": shown, "what": what}
        )
    raise UploadRejected(
        _(
            "%(name)s is not a WAV file: it does not start with a RIFF/WAVE header. It may be damaged or "
            "another kind of file renamed to .wav. Upload the detector's WAV recordings."
        )
        % {"name": shown}
    )


def stage_chunks(chunks: Iterable[bytes], *, name: str, max_bytes: int) -> StagedFile:
    """Write `chunks` to a fresh staging file, hashing as they pass; stop at `max_bytes`.

    The RIFF/WAVE signature is checked on the first bytes, so a mislabelled file is refused before the
    rest of it is written. Nothing is left behind when this raises.
    """
    folder = Path(tempfile.mkdtemp(prefix="up-", dir=staging_root()))
    path = folder / base_name(name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(path, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRejected(too_large_message(name))
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                    if len(head) == 12:
                        check_wav_signature(head, name)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadRejected(_("%(name)s is empty (0 bytes).") % {"name": base_name(name)})
        if len(head) < 12:
            check_wav_signature(head, name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StagedFile(path=path, sha256=digest.hexdigest(), size_bytes=size)


def validate_audio(staged: StagedFile) -> WavHeader:
    """Header read through `ml`: not-audio, empty, truncated and undecodable WAVs are refused here."""
    try:
        return read_header(staged.path)
    except AudioError as exc:
        raise UploadRejected(str(exc)) from exc


def read_small_file(chunks: Iterable[bytes], *, name: str, max_bytes: int = MAX_SIDECAR_BYTES) -> bytes:
    """A small text file (a sidecar) read into memory, refusing anything larger than `max_bytes`."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise UploadRejected(
                _("%(name)s is too large to be a Batlogger XML sidecar (over %(kb)d kB).")
                % {"name": base_name(name), "kb": max_bytes // 1024}
            )
        parts.append(chunk)
    return b"".join(parts)


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older Batlogger firmware writes ISO-8859-1


# --------------------------------------------------------------------------------------------- ZIP


@dataclass(frozen=True)
class ZipEntry:
    info: zipfile.ZipInfo
    path: str  # the entry's name inside the archive, with forward slashes

    @property
    def kind(self) -> FileKind:
        return file_kind(self.path)

    @property
    def encrypted(self) -> bool:
        return bool(self.info.flag_bits & 0x1)


def open_zip(fileobj: object, *, name: str) -> zipfile.ZipFile:
    """Open an uploaded ZIP (its central directory only), refusing what is not a readable archive."""
    try:
        return zipfile.ZipFile(fileobj)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ZipRefused(
            _(
                "%(name)s is not a readable ZIP archive (%(error)s). It may be damaged or the upload was cut "
                "off; create the ZIP again and upload it."
            )
            % {"name": base_name(name), "error": exc}
        ) from exc


def _is_unsafe_name(path: str) -> bool:
    """Absolute paths, drive letters and `..` steps: names that would land outside any target folder."""
    if "\x00" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return True
    return ".." in path.split("/")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _names_for_message(paths: list[str]) -> str:
    shown = ", ".join(paths[:_MAX_NAMES_IN_MESSAGE])
    if len(paths) > _MAX_NAMES_IN_MESSAGE:
        shown += _(" and %(count)d more") % {"count": len(paths) - _MAX_NAMES_IN_MESSAGE}
    return shown


def inspect_zip(archive: zipfile.ZipFile, *, name: str) -> list[ZipEntry]:
    """Check the central directory before anything is unpacked; the file entries, in archive order.

    Refuses the whole archive for too many entries, too large a declared total (an absolute limit: quiet
    nights compress extremely well, so a ratio rule would refuse honest uploads), and for names or
    symlinks that point outside the archive.
    """
    shown = base_name(name)
    infos = archive.infolist()
    if len(infos) > settings.ZIP_MAX_ENTRIES:
        raise ZipRefused(
            _(
                "%(name)s holds %(count)d entries, more than the limit of %(limit)d. Split it into smaller "
                "ZIPs."
            )
            % {"name": shown, "count": len(infos), "limit": settings.ZIP_MAX_ENTRIES}
        )
    declared_total = sum(info.file_size for info in infos)
    if declared_total > settings.ZIP_MAX_TOTAL_MB * MB:
        raise ZipRefused(
            _(
                "%(name)s would unpack to %(size)d MB, more than the limit of %(limit)d MB. Nothing was "
                "unpacked; split it into smaller ZIPs."
            )
            % {"name": shown, "size": declared_total // MB, "limit": settings.ZIP_MAX_TOTAL_MB}
        )
    entries = [ZipEntry(info=info, path=info.filename.replace("\\", "/")) for info in infos]
    unsafe = [e.info.filename for e in entries if _is_unsafe_name(e.path)]
    if unsafe:
        raise ZipRefused(
            _(
                "%(name)s contains entries with absolute paths or '..' steps (%(paths)s), which could write "
                "outside the upload folder. The archive was refused; create it again from the recordings "
                "folder."
            )
            % {"name": shown, "paths": _names_for_message(unsafe)}
        )
    links = [e.path for e in entries if _is_symlink(e.info)]
    if links:
        raise ZipRefused(
            _(
                "%(name)s contains symbolic links (%(paths)s). The archive was refused; zip the recordings "
                "themselves, not links to them."
            )
            % {"name": shown, "paths": _names_for_message(links)}
        )
    return [e for e in entries if not e.info.is_dir()]


class ZipBudget:
    """Counts bytes really unpacked from one archive; declared sizes can lie, this cannot."""

    def __init__(self, *, archive_name: str, limit_bytes: int) -> None:
        self.archive_name = archive_name
        self.limit_bytes = limit_bytes
        self.used_bytes = 0

    def take(self, count: int) -> None:
        self.used_bytes += count
        if self.used_bytes > self.limit_bytes:
            raise ZipRefused(
                _(
                    "%(name)s unpacks to more than %(limit)d MB, more than its directory declares. Unpacking "
                    "stopped here; files listed above as accepted are kept."
                )
                % {"name": base_name(self.archive_name), "limit": self.limit_bytes // MB}
            )


def entry_chunks(archive: zipfile.ZipFile, entry: ZipEntry, budget: ZipBudget) -> Iterator[bytes]:
    """Stream one entry out of the archive, charging every byte to the archive's budget.

    Damage inside the archive (bad CRC, a size that does not match, an unknown compression) becomes an
    `UploadRejected` for this entry only.
    """
    try:
        with archive.open(entry.info) as source:
            while chunk := source.read(CHUNK_BYTES):
                budget.take(len(chunk))
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        raise UploadRejected(
            _(
                "%(name)s could not be unpacked (%(error)s): the ZIP is damaged. Create it again and upload "
                "it."
            )
            % {"name": entry.path, "error": exc}
        ) from exc


def upload_chunks(upload: object) -> Iterator[bytes]:
    """Chunks of a Django UploadedFile, in our chunk size, from the start."""
    yield from upload.chunks(CHUNK_BYTES)  # type: ignore[attr-defined]
