"""Survey workflows that touch files, call `ml` or enqueue tasks (flow steps 1 and 2, ARCHITECTURE.md).

    recordings_upload  files or ZIPs from the visit page -> stored files + `Recording` rows (status uploaded)
    recording_ingest   one stored recording -> header, GUANO, sidecar and file-name metadata, true rate
    recordings_ingest_requeue  uploads whose ingest never ran (broker down, worker lost) -> queued again
    recordings_ingest_pending  the same, ingested in this process (no worker needed)
    project_storage_use  what one project's recordings take on disk, and the disk's free space (managers)

Views, tasks and management commands call these; they never write recordings or files themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.db.models.fields.files import FieldFile
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from batsite.storage import fsync_path, fsync_stored
from ml.audio import AudioError
from ml.labels import from_guano_code
from ml.metadata import (
    BatloggerInfo,
    RecordingMetadata,
    read_batlogger_xml,
    read_metadata,
    timestamp_from_filename,
)
from surveys import uploads
from surveys.models import Project, Recording, RecordingStatus, Visit
from surveys.tasks import ingest_recording
from surveys.uploads import UploadRejected, ZipRefused

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.files.uploadedfile import UploadedFile

log = logging.getLogger(__name__)

OutcomeStatus = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True)
class UploadOutcome:
    """One line of the upload result, per file or ZIP entry (and per refused ZIP)."""

    name: str
    status: OutcomeStatus
    message: str
    recording_id: int | None = None


# --------------------------------------------------------------------------------------------- upload


@dataclass
class _Sidecar:
    """A Batlogger XML waiting for its WAV; `used_by` is the recording it was stored with."""

    name: str
    text: str
    used_by: Recording | None = None


@dataclass
class _Batch:
    """What one call of recordings_upload shares: the visit, the uploader and the sidecars seen so far."""

    visit: Visit
    user: AbstractBaseUser | None
    sidecars: dict[str, _Sidecar] = field(default_factory=dict)


def recordings_upload(
    *, visit: Visit, user: AbstractBaseUser | None, files: Iterable[UploadedFile]
) -> list[UploadOutcome]:
    """Store every WAV (loose or in a ZIP) of one visit, each with its row, and queue its ingest.

    Each file is streamed to a staging file while hashed, checked, deduplicated per project and then
    moved into storage and given its `Recording` row in one step: a failure removes what was written, so
    there is never a file without a row or a row without a file. Every file gets its own outcome; nothing
    a user sent is refused silently except macOS metadata litter (`__MACOSX/`, `._*`).

    Call it outside any transaction (the view does): each file commits on its own, so a late failure
    does not undo earlier files, and ingest is queued after each commit.
    """
    files = list(files)
    batch = _Batch(visit=visit, user=user)
    outcomes: list[UploadOutcome] = []
    refused_sidecars: list[UploadOutcome] = []
    # Sidecars first, so a WAV's row is created with its XML and ingest sees it on the first run.
    for upload in files:
        if uploads.file_kind(upload.name) == "sidecar":
            outcome = _sidecar_add(
                batch,
                key=uploads.sidecar_key(upload.name),
                name=upload.name,
                chunks=uploads.upload_chunks(upload),
            )
            if outcome:
                refused_sidecars.append(outcome)
    for upload in files:
        kind = uploads.file_kind(upload.name)
        if kind in ("sidecar", "junk"):
            if kind == "junk":
                log.info("skipped macOS metadata file %s", upload.name)
            continue
        if kind == "zip":
            outcomes.extend(_upload_zip(batch, upload))
            continue
        refusal = uploads.rejection_for_name(upload.name)
        if refusal:
            outcomes.append(UploadOutcome(upload.name, "rejected", refusal))
            continue
        outcomes.append(
            _upload_one(
                batch,
                name=upload.name,
                shown_name=upload.name,
                declared_bytes=upload.size,
                chunks=lambda upload=upload: uploads.upload_chunks(upload),
                sidecar=batch.sidecars.get(uploads.sidecar_key(upload.name)),
            )
        )
    return outcomes + refused_sidecars + _sidecar_outcomes(batch)


def _upload_zip(batch: _Batch, upload: UploadedFile) -> list[UploadOutcome]:
    """One outcome per entry, plus one for the archive itself when it is refused (whole or part way)."""
    zip_name = upload.name
    if upload.size is not None and upload.size > uploads.max_upload_bytes():
        return [UploadOutcome(zip_name, "rejected", uploads.too_large_message(zip_name))]
    outcomes: list[UploadOutcome] = []
    try:
        upload.seek(0)
        with uploads.open_zip(upload, name=zip_name) as archive:
            entries = uploads.inspect_zip(archive, name=zip_name)
            budget = uploads.ZipBudget(
                archive_name=zip_name, limit_bytes=settings.ZIP_MAX_TOTAL_MB * uploads.MB
            )
            wanted = [e for e in entries if e.kind != "junk"]
            skipped = len(entries) - len(wanted)
            if skipped:
                log.info("skipped %d macOS metadata entries in %s", skipped, zip_name)
            if not wanted:
                # Without this an empty archive got no line at all: a 400 page that said nothing.
                raise ZipRefused(
                    _(
                        "%(name)s holds no recordings: it is empty or holds only folders and macOS metadata. "
                        "Nothing was stored; zip the WAV files themselves."
                    )
                    % {"name": uploads.base_name(zip_name)}
                )
            sidecar_keys = _zip_sidecars(batch, archive, zip_name, wanted, budget, outcomes)
            for entry in wanted:
                if entry.kind == "sidecar":
                    continue
                try:
                    outcomes.append(_upload_zip_entry(batch, archive, zip_name, entry, budget, sidecar_keys))
                except ZipRefused:
                    outcomes.append(
                        UploadOutcome(
                            f"{zip_name}/{entry.path}",
                            "rejected",
                            _(
                                "Not stored: unpacking of the ZIP stopped at this file (see the ZIP's own "
                                "line)."
                            ),
                        )
                    )
                    raise
    except ZipRefused as exc:
        outcomes.append(UploadOutcome(zip_name, "rejected", str(exc)))
    return outcomes


def _zip_sidecars(
    batch: _Batch,
    archive: zipfile.ZipFile,
    zip_name: str,
    entries: list[uploads.ZipEntry],
    budget: uploads.ZipBudget,
    outcomes: list[UploadOutcome],
) -> dict[str, str]:
    """Read the archive's XML sidecars before its WAVs; returns their keys, prefixed with the zip name."""
    keys: dict[str, str] = {}
    for entry in entries:
        if entry.kind != "sidecar":
            continue
        shown = f"{zip_name}/{entry.path}"
        key = f"{zip_name}/{uploads.sidecar_key(entry.path)}"
        if entry.encrypted:
            outcomes.append(UploadOutcome(shown, "rejected", _encrypted_message(entry.path)))
            continue
        outcome = _sidecar_add(
            batch, key=key, name=shown, chunks=uploads.entry_chunks(archive, entry, budget)
        )
        if outcome:
            outcomes.append(outcome)
        else:
            keys[uploads.sidecar_key(entry.path)] = key
    return keys


def _upload_zip_entry(
    batch: _Batch,
    archive: zipfile.ZipFile,
    zip_name: str,
    entry: uploads.ZipEntry,
    budget: uploads.ZipBudget,
    sidecar_keys: dict[str, str],
) -> UploadOutcome:
    shown = f"{zip_name}/{entry.path}"
    if entry.kind in ("zip", "archive"):
        return UploadOutcome(
            shown,
            "rejected",
            _(
                "%(name)s is an archive inside the ZIP; nested archives are not unpacked. Upload it on its "
                "own."
            )
            % {"name": entry.path},
        )
    refusal = uploads.rejection_for_name(entry.path)
    if refusal:
        return UploadOutcome(shown, "rejected", refusal)
    if entry.encrypted:
        return UploadOutcome(shown, "rejected", _encrypted_message(entry.path))
    sidecar_key = sidecar_keys.get(uploads.sidecar_key(entry.path))
    return _upload_one(
        batch,
        name=entry.path,
        shown_name=shown,
        declared_bytes=entry.info.file_size,
        chunks=lambda: uploads.entry_chunks(archive, entry, budget),
        sidecar=batch.sidecars.get(sidecar_key) if sidecar_key else None,
    )


def _encrypted_message(path: str) -> str:
    return _(
        "%(name)s is password-protected; Batsite cannot unpack encrypted ZIP entries. Zip it without a "
        "password."
    ) % {"name": path}


def _upload_one(
    batch: _Batch,
    *,
    name: str,
    shown_name: str,
    declared_bytes: int | None,
    chunks: Callable[[], Iterator[bytes]],
    sidecar: _Sidecar | None,
) -> UploadOutcome:
    """Stage, check, dedupe and store one WAV; `name` is what its row keeps as the original name."""
    try:
        if declared_bytes is not None and declared_bytes > uploads.max_upload_bytes():
            raise UploadRejected(uploads.too_large_message(name))
        uploads.check_disk_space(incoming_bytes=declared_bytes or 0)
        staged = uploads.stage_chunks(chunks(), name=name, max_bytes=uploads.max_upload_bytes())
        try:
            existing = _existing_recording(project_id=batch.visit.site.project_id, sha256=staged.sha256)
            if existing is not None:
                return UploadOutcome(shown_name, "duplicate", _duplicate_message(name, existing), existing.pk)
            uploads.validate_audio(staged)
            recording = _recording_store(batch, staged=staged, original_name=name, sidecar=sidecar)
        finally:
            staged.discard()
    except ZipRefused:
        raise  # the archive's budget ran out: the caller stops unpacking this ZIP
    except UploadRejected as exc:
        return UploadOutcome(shown_name, "rejected", str(exc))
    except _DuplicateRace as race:
        return UploadOutcome(
            shown_name, "duplicate", _duplicate_message(name, race.existing), race.existing.pk
        )
    except Exception:
        # One file's unexpected failure must not cost the user the rest of the upload or show a 500.
        log.exception("upload of %s failed", shown_name)
        return UploadOutcome(
            shown_name,
            "rejected",
            _(
                "%(name)s could not be stored because of an error on the server; nothing of it was kept. Try "
                "again later or tell the operator."
            )
            % {"name": uploads.base_name(name)},
        )
    if sidecar is not None:
        sidecar.used_by = recording
    return UploadOutcome(shown_name, "accepted", _("Stored; reading its metadata."), recording.pk)


class _DuplicateRace(Exception):
    """Another upload stored the same content between our check and our insert."""

    def __init__(self, existing: Recording) -> None:
        super().__init__(existing.pk)
        self.existing = existing


def _existing_recording(*, project_id: int, sha256: str) -> Recording | None:
    return (
        Recording.objects.select_related("visit__site").filter(project_id=project_id, sha256=sha256).first()
    )


def _duplicate_message(name: str, existing: Recording) -> str:
    return _(
        "%(name)s has the same content as %(existing)s (recording %(id)d, visit %(visit)s), which is already "
        "in this project; it was not stored again."
    ) % {
        "name": uploads.base_name(name),
        "existing": existing.original_name,
        "id": existing.pk,
        "visit": existing.visit,
    }


def _recording_store(
    batch: _Batch, *, staged: uploads.StagedFile, original_name: str, sidecar: _Sidecar | None
) -> Recording:
    """Move the staged file into storage and create its row together; undo the file if the row fails."""
    visit = batch.visit
    recording = Recording(
        project_id=visit.site.project_id,
        visit=visit,
        sha256=staged.sha256,
        original_name=original_name[-300:],
        size_bytes=staged.size_bytes,
        uploaded_by=batch.user,
        sidecar_xml=sidecar.text.replace("\x00", "") if sidecar else "",
        status=RecordingStatus.UPLOADED,
    )
    # Data before name: were the rename into place durable ahead of the bytes, a crash could leave an
    # empty file under the recording's name. Synced here, not while staging, so duplicates cost no fsync.
    fsync_path(staged.path)
    content = uploads.StagedContent(staged)
    try:
        recording.file.save(uploads.base_name(original_name), content, save=False)
    finally:
        content.close()
    stored_name = recording.file.name
    try:
        # On disk (data and folder entry) before the row commits and the user reads "Stored".
        fsync_stored(recording.file.storage, stored_name)
        with transaction.atomic():
            recording.save()
            # robust: a broker that is down must not turn a stored upload into an error page;
            # `ingest_pending` queues what was missed.
            transaction.on_commit(lambda pk=recording.pk: ingest_recording.delay(pk), robust=True)
    except IntegrityError:
        recording.file.storage.delete(stored_name)
        existing = _existing_recording(project_id=visit.site.project_id, sha256=staged.sha256)
        if existing is None:
            raise
        raise _DuplicateRace(existing) from None
    except BaseException:
        recording.file.storage.delete(stored_name)
        raise
    return recording


# --------------------------------------------------------------------------------------------- sidecars


def _sidecar_add(batch: _Batch, *, key: str, name: str, chunks: Iterable[bytes]) -> UploadOutcome | None:
    """Keep an XML that is a Batlogger sidecar for its WAV; an outcome now only when it is refused."""
    try:
        raw = uploads.read_small_file(chunks, name=name)
    except ZipRefused:
        raise
    except UploadRejected as exc:
        return UploadOutcome(name, "rejected", str(exc))
    if _parse_batlogger(raw) is None:
        return UploadOutcome(
            name,
            "rejected",
            _(
                "%(name)s is not a Batlogger XML sidecar (no <BatRecord> inside). Only WAV recordings, ZIPs "
                "of them and Batlogger XML files beside their WAV are accepted."
            )
            % {"name": uploads.base_name(name)},
        )
    batch.sidecars[key] = _Sidecar(name=name, text=uploads.decode_text(raw))
    return None


def _sidecar_outcomes(batch: _Batch) -> list[UploadOutcome]:
    outcomes = []
    for sidecar in batch.sidecars.values():
        if sidecar.used_by is not None:
            outcomes.append(
                UploadOutcome(
                    sidecar.name,
                    "accepted",
                    _("Stored as the Batlogger sidecar of %(wav)s.") % {"wav": sidecar.used_by.original_name},
                    sidecar.used_by.pk,
                )
            )
        else:
            outcomes.append(
                UploadOutcome(
                    sidecar.name,
                    "rejected",
                    _(
                        "%(name)s was not stored: no new WAV with the same name was stored in this upload. "
                        "Upload the XML together with its WAV."
                    )
                    % {"name": uploads.base_name(sidecar.name)},
                )
            )
    return outcomes


def _parse_batlogger(raw: bytes) -> BatloggerInfo | None:
    """Parse sidecar bytes with `ml.metadata` (it reads paths, so the bytes go through a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="batsite-xml-") as folder:
        path = Path(folder) / "sidecar.xml"
        path.write_bytes(raw)
        return read_batlogger_xml(path)


# --------------------------------------------------------------------------------------------- ingest


# A true rate above this is a damaged header or GUANO TE, not a detector (the fastest record about 1 MHz);
# it also keeps the value inside the 32-bit column that stores it.
MAX_TRUE_SAMPLE_RATE_HZ = 100_000_000


class _ImplausibleRate(Exception):
    """Header rate x time expansion is no real rate; the message says so in the user's words."""


@dataclass(frozen=True)
class _Moment:
    recorded_at: dt.datetime | None  # UTC
    source: str  # "guano", "batlogger_xml", "filename" or ""
    as_read: str  # the stamp as the source gave it, ISO 8601


def recording_ingest(*, recording_id: int) -> Recording | None:
    """Read one stored recording's metadata and set its true rate, duration, time and status.

    Idempotent: the result depends only on the file, its sidecar and the visit, so running it again
    (a redelivered task, a corrected visit time-expansion factor) gives the same answer. Files that
    cannot be read are marked failed with the reason; a true sample rate under MIN_TRUE_SAMPLE_RATE_HZ
    marks the recording unusable (the file is kept). Ingested recordings are handed to analysis.
    """
    # Stored reasons are read by every member later: write them in the site's default language, the same
    # whether this runs in a worker (no request) or in-process during someone's Dutch request.
    with translation.override(settings.LANGUAGE_CODE):
        return _recording_ingest(recording_id=recording_id)


def _recording_ingest(*, recording_id: int) -> Recording | None:
    recording = Recording.objects.select_related("visit__site").filter(pk=recording_id).first()
    if recording is None:
        log.info("recording %s is gone; nothing to ingest", recording_id)
        return None
    shown = uploads.base_name(recording.original_name)
    try:
        with _local_copy(recording.file) as path:
            meta = read_metadata(path)
    except AudioError as exc:
        recording.mark_failed(str(exc).replace(Path(recording.file.name).name, shown))
        return recording
    except FileNotFoundError:
        recording.mark_failed(
            _("The stored file of %(name)s is missing; upload the recording again.") % {"name": shown}
        )
        return recording
    batlogger = _parse_batlogger(recording.sidecar_xml.encode("utf-8")) if recording.sidecar_xml else None
    try:
        fields, true_rate_hz = _ingest_fields(recording=recording, meta=meta, batlogger=batlogger)
    except _ImplausibleRate as exc:
        recording.mark_failed(str(exc))
        return recording
    if true_rate_hz < settings.MIN_TRUE_SAMPLE_RATE_HZ:
        recording.mark_unusable(
            _(
                "The true sample rate is %(rate)s Hz (header %(header)s Hz x time expansion %(te)s), under "
                "%(minimum)s Hz: too low to hold most bat calls. If the detector records time-expanded, set "
                "the visit's time-expansion factor and ingest again."
            )
            % {
                "rate": f"{true_rate_hz:,}",
                "header": f"{meta.header_sample_rate_hz:,}",
                "te": f"{fields['time_expansion']:g}",
                "minimum": f"{settings.MIN_TRUE_SAMPLE_RATE_HZ:,}",
            },
            **fields,
        )
        return recording
    # One transaction: a progress poll never sees the recording ingested but not yet queued for analysis
    # (it would think nothing is left to wait for and stop polling).
    with transaction.atomic():
        recording.mark_ingested(**fields)
        _analysis_queue(recording_id=recording.pk)
    return recording


def _ingest_fields(
    *, recording: Recording, meta: RecordingMetadata, batlogger: BatloggerInfo | None
) -> tuple[dict[str, object], int]:
    """The row's metadata fields from what the file, its sidecar and its visit say; and the true rate."""
    visit = recording.visit
    if meta.time_expansion is not None:
        time_expansion, te_source = meta.time_expansion, "guano"
    elif batlogger is not None and batlogger.time_expansion is not None:
        time_expansion, te_source = batlogger.time_expansion, "batlogger_xml"
    else:
        time_expansion, te_source = float(visit.time_expansion or 1), "visit"
    true_rate = meta.header_sample_rate_hz * time_expansion
    if not true_rate <= MAX_TRUE_SAMPLE_RATE_HZ:  # `not <=` also catches inf and nan
        raise _ImplausibleRate(
            _(
                "%(name)s cannot be used: its true sample rate would be %(rate).4g Hz (header %(header)s Hz x "
                "time expansion %(te)g), far more than any bat detector records. The header or the GUANO TE "
                "value is damaged; check the file with the detector's software."
            )
            % {
                "name": uploads.base_name(recording.original_name),
                "rate": true_rate,
                "header": f"{meta.header_sample_rate_hz:,}",
                "te": time_expansion,
            }
        )
    true_rate_hz = int(round(true_rate))
    moment = _recorded_at(meta=meta, batlogger=batlogger, original_name=recording.original_name, visit=visit)
    metadata = meta.to_dict()
    metadata.update(
        timestamp=moment.as_read or None,
        timestamp_source=moment.source,
        time_expansion_source=te_source,
        species_manual_label=_species_label(meta.species_manual_id),
        batlogger=_batlogger_dict(batlogger),
    )
    fields: dict[str, object] = {
        "header_sample_rate_hz": meta.header_sample_rate_hz,
        "sample_rate_hz": true_rate_hz,
        "time_expansion": time_expansion,
        "duration_s": meta.frames / (meta.header_sample_rate_hz * time_expansion),
        "channels": meta.channels,
        "recorded_at": moment.recorded_at,
        "outside_night": moment.recorded_at is not None and not visit.contains(moment.recorded_at),
        "metadata": _storable(metadata),
    }
    return fields, true_rate_hz


def _storable(value: object) -> object:
    """The metadata with NUL characters dropped: GUANO text may hold them, PostgreSQL text cannot."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _recorded_at(
    *, meta: RecordingMetadata, batlogger: BatloggerInfo | None, original_name: str, visit: Visit
) -> _Moment:
    """GUANO Timestamp, else the Batlogger sidecar, else a file-name stamp; naive times are site-local."""
    # read_metadata saw the stored file (named by its hash, with no sidecar beside it), so only its GUANO
    # time counts; the sidecar and the user's file name are read here instead.
    if meta.timestamp is not None and meta.timestamp_source == "guano":
        stamp, source = meta.timestamp, "guano"
    elif batlogger is not None and batlogger.timestamp is not None:
        stamp, source = batlogger.timestamp, "batlogger_xml"
    else:
        stamp = timestamp_from_filename(uploads.base_name(original_name))
        source = "filename" if stamp else ""
    if stamp is None:
        return _Moment(recorded_at=None, source="", as_read="")
    aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=visit.site.tz)
    return _Moment(recorded_at=aware.astimezone(dt.UTC), source=source, as_read=stamp.isoformat())


def _species_label(code: str) -> str:
    """GUANO `Species Manual ID` (PIPPIP, ...) as a label id, "" when the code is unknown."""
    if not code:
        return ""
    return from_guano_code(code) or ""


def _batlogger_dict(info: BatloggerInfo | None) -> dict[str, object] | None:
    if info is None:
        return None
    return {
        k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dataclasses.asdict(info).items()
    }


def _analysis_queue(*, recording_id: int) -> None:
    """Hand an ingested recording to analysis (queued only when a model is active)."""
    from classifier.services import analysis_queue  # services may call the other app's services

    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the ingest itself intact
            analysis_queue(recording_id=recording_id)
    except Exception:
        # The metadata is stored either way; analysis can be queued again from the visit page.
        log.exception("queueing analysis of recording %s failed", recording_id)



@contextmanager
def _local_copy(file: FieldFile) -> Iterator[Path]:
    """A local path to a stored file: the file itself on local storage, a temporary copy otherwise."""
    try:
        local = Path(file.path)
    except NotImplementedError:
        local = None
    if local is not None:
        if not local.is_file():
            raise FileNotFoundError(local)
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="batsite-ingest-") as folder:
        target = Path(folder) / PurePosixPath(file.name).name
        with file.storage.open(file.name, "rb") as source, open(target, "wb") as out:
            for chunk in iter(lambda: source.read(uploads.CHUNK_BYTES), b""):
                out.write(chunk)
        yield target


def _waiting_ids(*, older_than: dt.timedelta) -> list[int]:
    cutoff = timezone.now() - older_than
    waiting = Recording.objects.waiting().filter(created_at__lt=cutoff).order_by("pk")
    return list(waiting.values_list("pk", flat=True))


def recordings_ingest_requeue(*, older_than: dt.timedelta) -> list[int]:
    """Queue ingest again for uploads still waiting after `older_than` (a lost message, a down broker)."""
    ids = _waiting_ids(older_than=older_than)
    for recording_id in ids:
        ingest_recording.delay(recording_id)
    return ids


def recordings_ingest_pending(*, older_than: dt.timedelta) -> list[int]:
    """Ingest waiting uploads in this process, one by one (for a machine without a worker)."""
    ids = _waiting_ids(older_than=older_than)
    for recording_id in ids:
        recording_ingest(recording_id=recording_id)
    return ids


# --------------------------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class ProjectStorageUse:
    """One project's recordings on disk (from the rows' sizes) beside the media disk's free space.

    Only recordings are counted: they are nearly all of a project's bytes, and their sizes are on the
    rows. Cached spectrogram pictures are not (their sizes are not stored; a stat per picture would make
    the project page slow for big projects), nor are files of other projects sharing the disk.
    """

    recording_count: int
    recording_bytes: int
    disk: uploads.DiskSpace


def project_storage_use(*, project: Project) -> ProjectStorageUse:
    # Recordings of the project, also those still being ingested or unusable: their files take space too.
    totals = Recording.objects.filter(project=project).aggregate(count=Count("pk"), size=Sum("size_bytes"))
    return ProjectStorageUse(
        recording_count=totals["count"], recording_bytes=totals["size"] or 0, disk=uploads.disk_space()
    )
